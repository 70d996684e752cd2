"""posekit.io: broken and huge images give one DataError line; header sizes; video frames and
fps; the overlay video codec probe."""

from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest

from posekit.errors import DataError
from posekit.io import (MAX_IMAGE_PIXELS, VIDEO_CODECS, VideoReader, frame_count, image_size_from_header,
                        list_inputs, open_video_writer, read_image, video_codec)


def _encoded(ext: str, h: int = 48, w: int = 64) -> bytes:
    img = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 255, (h, w, 3)).astype(np.uint8), (5, 5), 2)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def _png_claiming(width: int, height: int) -> bytes:
    """A small PNG file whose header says ``width x height`` (its data is far too short)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def test_zero_byte_file_is_one_data_error_not_an_opencv_error(tmp_path):
    p = tmp_path / "zero.jpg"
    p.write_bytes(b"")
    with pytest.raises(DataError, match=r"zero.jpg: empty file \(0 bytes\)"):
        read_image(p)


def test_text_file_named_png_and_truncated_files(tmp_path):
    (tmp_path / "text.png").write_text("this is not a picture\n")
    with pytest.raises(DataError, match="text.png: cannot decode image"):
        read_image(tmp_path / "text.png")
    jpg = _encoded(".jpg")
    (tmp_path / "half.jpg").write_bytes(jpg[: len(jpg) // 2])
    with pytest.raises(DataError, match="half.jpg: truncated JPEG"):
        read_image(tmp_path / "half.jpg")
    png = _encoded(".png")
    (tmp_path / "half.png").write_bytes(png[: len(png) // 2])
    with pytest.raises(DataError, match="half.png: cannot decode image"):
        read_image(tmp_path / "half.png")


def test_truncated_jpeg_with_a_thumbnail_is_caught_and_a_whole_one_reads(tmp_path):
    """The end-of-image marker of a thumbnail inside an APP1 segment must not hide that the main
    image was cut; a whole JPEG with the thumbnail reads, with the main image's size."""
    main, thumb = _encoded(".jpg", 48, 64), _encoded(".jpg", 12, 16)
    app1 = b"\xff\xe1" + struct.pack(">H", len(thumb) + 2) + thumb
    whole = main[:2] + app1 + main[2:]
    assert image_size_from_header(whole) == (64, 48)
    (tmp_path / "whole.jpg").write_bytes(whole)
    assert read_image(tmp_path / "whole.jpg").shape == (48, 64, 3)
    (tmp_path / "cut.jpg").write_bytes(whole[:-40])
    with pytest.raises(DataError, match="cut.jpg: truncated JPEG"):
        read_image(tmp_path / "cut.jpg")


def test_huge_png_header_is_refused_before_decoding(tmp_path):
    p = tmp_path / "huge.png"
    p.write_bytes(_png_claiming(40000, 40000))
    with pytest.raises(DataError, match=r"huge.png: image is 40000 x 40000 pixels \(1600 MP\), above the "
                                        r"limit of 250 MP"):
        read_image(p)
    assert 40000 * 40000 > MAX_IMAGE_PIXELS
    with pytest.raises(DataError, match=r"above the limit of 0.0001 MP"):   # the limit is a parameter
        read_image(p, max_pixels=100)


def test_opencv_errors_past_the_header_checks_are_one_data_error(tmp_path):
    """A TIFF (no header parse here) claiming 40000 x 40000: OpenCV's own pixel limit raises
    cv2.error, which read_image turns into a DataError naming the file."""
    entries = [(256, 40000), (257, 40000), (258, 8), (259, 1), (262, 1), (273, 8), (277, 1), (278, 40000)]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", tag, 4, 1, v) for tag, v in entries)
    p = tmp_path / "huge.tif"
    p.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0))
    with pytest.raises(DataError, match=r"huge.tif: cannot decode image \(OpenCV: .*CV_IO_MAX_IMAGE_PIXELS"):
        read_image(p)


def test_image_size_from_header_for_each_format():
    for ext in (".png", ".jpg", ".bmp", ".gif"):
        assert image_size_from_header(_encoded(ext, 30, 50)) == (50, 30), ext
    assert image_size_from_header(np.frombuffer(_encoded(".png", 30, 50), np.uint8)) == (50, 30)
    assert image_size_from_header(_png_claiming(40000, 123)) == (40000, 123)
    assert image_size_from_header(b"") is None
    assert image_size_from_header(b"hello, not an image") is None


def _write_gif(path, n: int) -> list[np.ndarray]:
    if not hasattr(cv2, "imwriteanimation"):
        pytest.skip(f"OpenCV {cv2.__version__} cannot write animated GIFs")
    frames = [np.full((40, 56, 3), 30 * i, np.uint8) for i in range(n)]
    anim = cv2.Animation()
    anim.frames, anim.durations = frames, [100] * n
    assert cv2.imwriteanimation(str(path), anim)
    return frames


def test_animated_gif_has_frames_and_fps(tmp_path):
    p = tmp_path / "anim.gif"
    _write_gif(p, 4)
    assert frame_count(p) == 4
    with VideoReader(p) as video:
        frames = list(video)
        assert video.fps == pytest.approx(10.0)             # 100 ms per frame
        assert video.timestamp_s(3) == pytest.approx(0.3)
    assert [i for i, _ in frames] == [0, 1, 2, 3]
    assert frames[2][1].shape == (40, 56, 3)
    assert frame_count(tmp_path / "missing.gif") == 0


def test_video_reader_gives_frames_and_fps_and_the_writer_names_its_codec(tmp_path):
    p = tmp_path / "clip.mp4"
    writer, codec = open_video_writer(p, 12.5, (64, 48))
    for i in range(3):
        writer.write(np.full((48, 64, 3), 60 * i, np.uint8))
    writer.release()
    assert codec in {f"{name} ({fourcc})" for fourcc, name in VIDEO_CODECS}
    assert video_codec() in VIDEO_CODECS
    with VideoReader(p) as video:
        assert video.fps == pytest.approx(12.5)
        assert [i for i, _ in video] == [0, 1, 2]
    with pytest.raises(DataError, match="nothing.mp4: video file not found"):
        VideoReader(tmp_path / "nothing.mp4")


def test_list_inputs_takes_gifs_and_videos_but_not_folders(tmp_path):
    for n in ("b.jpg", "a.png", "c.txt", "d.gif", "e.mp4"):
        (tmp_path / n).write_bytes(b"")
    (tmp_path / "sub.jpg").mkdir()
    assert [p.name for p in list_inputs([tmp_path])] == ["a.png", "b.jpg", "d.gif", "e.mp4"]

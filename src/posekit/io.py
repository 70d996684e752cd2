"""Reading images and video frames, with errors that name the file; checked output paths.

Images: :func:`read_image` checks the size in the file's header before decoding (PNG, JPEG,
GIF, BMP; :data:`MAX_IMAGE_PIXELS`), so a huge or broken file gives one :class:`DataError`
line, never an OpenCV traceback. Videos and animated GIFs: :class:`VideoReader` gives the
frames one at a time with their index, and the frame rate. Overlay videos:
:func:`open_video_writer` prefers H.264 (browsers play it): PyAV's libx264 when PyAV is
installed (``pip install posekit[video]``), else OpenCV's ``avc1`` when its build has an H.264
encoder (the PyPI wheels do not), and falls back to OpenCV's MPEG-4 Part 2.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import struct
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from posekit.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
#: Files that may hold several frames; read with :class:`VideoReader` when they do.
ANIMATION_SUFFIXES = (".gif",)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")

#: Largest image :func:`read_image` decodes: 250 megapixels (750 MB as an RGB array), above
#: any camera's photo (the largest phone sensors give 200 MP) and below OpenCV's own limit
#: (2^30 pixels), which raises an exception rather than a readable error.
MAX_IMAGE_PIXELS = 250_000_000

#: Overlay video codecs in order of preference: H.264 (``avc1``), which browsers play, then
#: MPEG-4 Part 2 (``mp4v``), which every OpenCV build with FFmpeg writes but browsers do not play.
#: H.264 is written by PyAV's libx264 when PyAV is installed, else tried with OpenCV.
VIDEO_CODECS = (("avc1", "H.264"), ("mp4v", "MPEG-4 Part 2"))

log = logging.getLogger(__name__)


def image_size_from_header(data: bytes | np.ndarray) -> tuple[int, int] | None:
    """``(width, height)`` read from the header of an encoded PNG, JPEG, GIF or BMP image
    (``data``: the file's bytes), without decoding it; None for other formats or a header
    that does not parse."""
    buf = memoryview(data).cast("B")
    head = bytes(buf[:32])
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR" and len(head) >= 24:
        return struct.unpack(">II", head[16:24])
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return struct.unpack("<HH", head[6:10])
    if head[:2] == b"BM" and len(head) >= 26:
        w, h = struct.unpack("<ii", head[18:26])
        return abs(w), abs(h)  # a negative height means rows stored top-down
    if head[:2] == b"\xff\xd8":
        frame = _jpeg_frame(buf)
        return None if frame is None else frame[0]
    return None


def _jpeg_frame(buf: memoryview) -> tuple[tuple[int, int], int] | None:
    """``((width, height), offset just past the start-of-frame segment)`` of a JPEG, found by
    walking its marker segments (so a thumbnail inside an APP segment is skipped); None when no
    start-of-frame segment comes before the first scan."""
    pos, n = 2, len(buf)
    while pos + 4 <= n:
        if buf[pos] != 0xFF:
            return None
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length field
            pos += 2
            continue
        length = struct.unpack(">H", buf[pos + 2:pos + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC) and pos + 9 <= n:
            h, w = struct.unpack(">HH", buf[pos + 5:pos + 9])
            return (w, h), pos + 2 + length
        if marker == 0xDA:
            return None
        pos += 2 + length
    return None


def read_image(path: str | Path, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB (the first frame of a GIF).

    Raises DataError naming the file, in one line, when it is missing, empty, larger than
    ``max_pixels`` (checked in the header before decoding), a JPEG without its end (truncated),
    or not decodable (a text file named ``.png``, a corrupt file)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "image file not found")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except OSError as e:
        raise DataError(p, f"cannot read ({e.strerror or e})") from None
    if data.size == 0:
        raise DataError(p, "empty file (0 bytes), not an image")
    jpeg = _jpeg_frame(memoryview(data)) if data[:2].tobytes() == b"\xff\xd8" else None
    size = jpeg[0] if jpeg is not None else image_size_from_header(data)
    if size is not None and size[0] * size[1] > max_pixels:
        w, h = size
        raise DataError(p, f"image is {w} x {h} pixels ({w * h / 1e6:g} MP), above the limit "
                           f"of {max_pixels / 1e6:g} MP")
    # Older OpenCV builds decode a truncated JPEG into a half-grey picture with a warning.
    if jpeg is not None and data[jpeg[1]:].tobytes().find(b"\xff\xd9") < 0:
        raise DataError(p, "truncated JPEG (no end-of-image marker)")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error as e:
        raise DataError(p, f"cannot decode image ({_cv_message(e)})") from None
    if img is None:
        raise DataError(p, "cannot decode image (unreadable or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _cv_message(e: cv2.error) -> str:
    """An OpenCV error in a few words, e.g. ``OpenCV: !buf.empty() in imdecode_``."""
    err, func = getattr(e, "err", ""), getattr(e, "func", "")
    if not err:
        err = (str(e).strip().splitlines() or [""])[-1]
    return f"OpenCV: {err[:200]}" + (f" in {func}" if func else "")


def write_image(path: str | Path, image_rgb: np.ndarray) -> None:
    """Write an ``(H, W, 3)`` uint8 RGB image; the format follows the suffix."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(p.suffix or ".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DataError(p, "cannot encode image")
    tmp = p.with_name(p.name + ".tmp")
    buf.tofile(str(tmp))
    tmp.replace(p)


def frame_count(path: str | Path) -> int:
    """Number of frames of an image file (more than one for an animated GIF); 0 when the file
    cannot be read."""
    try:
        return int(cv2.imcount(str(path)))
    except cv2.error:
        return 0


class VideoReader:
    """The frames of a video file or an animated GIF, decoded one at a time.

    ``VideoReader(path)`` opens the file (DataError naming it when it cannot); iterating yields
    ``(frame_index, (H, W, 3) uint8 RGB)`` from frame 0. Attributes: ``path``; ``fps``, the
    frame rate the container states (None when it states none); ``frame_count``, the count the
    container states (None when unknown; an estimate for some formats). Use it as a context
    manager or call :meth:`close`.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DataError(self.path, "video file not found")
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise DataError(self.path, "cannot open video")
        fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps: float | None = fps if np.isfinite(fps) and 0.0 < fps <= 1000.0 else None
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count: int | None = count if count > 0 else None

    def timestamp_s(self, frame_index: int) -> float | None:
        """Seconds from the start to frame ``frame_index`` (``index / fps``), None without fps."""
        return None if self.fps is None else frame_index / self.fps

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        i = 0
        while True:
            ok, frame = self._cap.read()
            if not ok:
                break
            yield i, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            i += 1
        if i == 0:
            raise DataError(self.path, "video has no decodable frames")

    def close(self) -> None:
        self._cap.release()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 (FFmpeg and OpenCV print there from C) for the block."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


class PyAVWriter:
    """An H.264 MP4 writer through PyAV's libx264, with the two methods of ``cv2.VideoWriter``
    that posekit uses: :meth:`write` (a ``(H, W, 3)`` uint8 BGR frame) and :meth:`release`.

    ``size_wh`` = ``(W, H)``. H.264 in 4:2:0 (``yuv420p``, what browsers play) needs an even
    width and height: an odd one is padded by repeating the last column or row, so the file is
    then one pixel wider or taller. The MP4 index is written at the start (``+faststart``) when
    the file is closed: as with OpenCV, a file whose writer was never released has no index.
    DataError naming the file when it cannot be opened or a frame has the wrong size.
    """

    def __init__(self, path: str | Path, fps: float, size_wh: tuple[int, int]) -> None:
        import av

        self.path = Path(path)
        self.size_wh = (int(size_wh[0]), int(size_wh[1]))
        w, h = self.size_wh
        try:
            self._container = av.open(str(self.path), "w", format="mp4",
                                      options={"movflags": "+faststart"})
        except (OSError, av.FFmpegError) as e:
            raise DataError(self.path, f"cannot write a video ({e})") from None
        try:
            self._stream = self._container.add_stream(
                "libx264", rate=Fraction(float(fps)).limit_denominator(1001),
                options={"preset": "veryfast", "crf": "20"})
            self._stream.width, self._stream.height = w + w % 2, h + h % 2
            self._stream.pix_fmt = "yuv420p"
            ctx = self._stream.codec_context   # tagged BT.601, limited range: what write() makes
            ctx.color_range, ctx.colorspace, ctx.color_primaries, ctx.color_trc = 1, 6, 6, 6
        except (ValueError, av.FFmpegError) as e:
            self._container.close()
            raise DataError(self.path, f"cannot write H.264 with PyAV ({e})") from None
        self._open = True

    def isOpened(self) -> bool:  # noqa: N802 - the name of cv2.VideoWriter's method
        return self._open

    def write(self, frame_bgr: np.ndarray) -> None:
        """Encode one ``(H, W, 3)`` uint8 BGR frame of the writer's size."""
        import av

        w, h = self.size_wh
        if frame_bgr.shape != (h, w, 3) or frame_bgr.dtype != np.uint8:
            raise DataError(self.path, f"frame of shape {frame_bgr.shape} {frame_bgr.dtype}, the video "
                                       f"takes ({h}, {w}, 3) uint8")
        if w % 2 or h % 2:
            frame_bgr = np.pad(frame_bgr, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        # OpenCV's BT.601 limited-range conversion: a grey level comes back exactly, where
        # FFmpeg's default (swscale) conversion darkens the picture by about 2 levels.
        yuv = cv2.cvtColor(np.ascontiguousarray(frame_bgr), cv2.COLOR_BGR2YUV_I420)
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def release(self) -> None:
        """Flush the encoder and close the file (the index is written); safe to call twice."""
        if not self._open:
            return
        self._open = False
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        finally:
            self._container.close()


@functools.lru_cache(maxsize=None)
def _pyav_h264() -> bool:
    """Whether PyAV is installed and its FFmpeg encodes H.264 with libx264, found once per
    process by writing two frames to a temporary file (and reading their codec back)."""
    try:
        import av
    except ImportError:
        return False
    if "libx264" not in av.codecs_available:
        log.info("PyAV %s has no libx264 encoder: overlay videos are written with OpenCV",
                 av.__version__)
        return False
    with tempfile.TemporaryDirectory(prefix="posekit-codec-") as tmp:
        probe = Path(tmp) / "probe.mp4"
        try:
            writer = PyAVWriter(probe, 25.0, (64, 64))
            for _ in range(2):
                writer.write(np.zeros((64, 64, 3), np.uint8))
            writer.release()
            with av.open(str(probe)) as back:
                return back.streams.video[0].codec_context.name == "h264"
        except (DataError, av.FFmpegError, OSError, IndexError) as e:
            log.info("PyAV cannot write H.264 here (%s): overlay videos are written with OpenCV", e)
            return False


@functools.lru_cache(maxsize=None)
def _opencv_codec() -> tuple[str, str]:
    """``(fourcc, name)`` of the first of :data:`VIDEO_CODECS` this OpenCV build can write to
    ``.mp4``, found once per process by writing two frames to a temporary file."""
    with tempfile.TemporaryDirectory(prefix="posekit-codec-") as tmp:
        for fourcc, name in VIDEO_CODECS:
            probe = Path(tmp) / f"probe_{fourcc}.mp4"
            with _quiet_stderr():
                writer = cv2.VideoWriter(str(probe), cv2.VideoWriter_fourcc(*fourcc), 25.0, (64, 64))
                ok = writer.isOpened()
                if ok:
                    for _ in range(2):
                        writer.write(np.zeros((64, 64, 3), np.uint8))
                writer.release()
            if ok and probe.is_file() and probe.stat().st_size > 0:
                return fourcc, name
    return VIDEO_CODECS[-1]


def video_writer_backend() -> str:
    """``"pyav"`` when :func:`open_video_writer` writes H.264 with PyAV's libx264, else
    ``"opencv"``."""
    return "pyav" if _pyav_h264() else "opencv"


def video_codec() -> tuple[str, str]:
    """``(fourcc, name)`` of the codec :func:`open_video_writer` writes: ``("avc1", "H.264")``
    with PyAV's libx264 when PyAV is installed and has it, else the first of
    :data:`VIDEO_CODECS` this OpenCV build can write (each found once per process)."""
    return VIDEO_CODECS[0] if _pyav_h264() else _opencv_codec()


def open_video_writer(path: str | Path, fps: float,
                      size_wh: tuple[int, int]) -> tuple[cv2.VideoWriter | PyAVWriter, str]:
    """A writer of ``(H, W, 3)`` uint8 BGR frames of ``size_wh`` = ``(W, H)`` at ``fps`` to
    ``path`` (``.mp4``) with :func:`video_codec`, and that codec's ``"name (fourcc)"``, e.g.
    ``"H.264 (avc1)"``. The writer has ``write(frame)`` and ``release()`` (a
    :class:`PyAVWriter` when PyAV writes H.264, else a ``cv2.VideoWriter``; see
    :func:`video_writer_backend`). DataError when the writer cannot be opened."""
    fourcc, name = video_codec()
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if _pyav_h264():
        return PyAVWriter(p, fps, size_wh), f"{name} ({fourcc})"
    writer = cv2.VideoWriter(str(p), cv2.VideoWriter_fourcc(*fourcc), float(fps), tuple(size_wh))
    if not writer.isOpened():
        raise DataError(p, f"cannot write a video with codec {fourcc}")
    return writer, f"{name} ({fourcc})"


def list_inputs(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders into a list of image/video files: a folder gives its files with
    an image, GIF or video suffix (one level, sorted by name); a file is kept whatever its
    suffix. Missing paths are kept so that the caller reports them."""
    out: list[Path] = []
    suffixes = IMAGE_SUFFIXES + ANIMATION_SUFFIXES + VIDEO_SUFFIXES
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out += sorted(q for q in p.iterdir() if q.suffix.lower() in suffixes and q.is_file())
        else:
            out.append(p)
    return out


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename, so
    that a reader never sees half a file and an interrupted write leaves the old file intact."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, p)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise DataError(p, f"cannot write ({e.strerror or e})") from None


def output_dir(path: str | Path) -> Path:
    """Make sure ``path`` is a folder we can write into (creating it and its parents) and return
    it. An existing *file* there, or a folder that cannot be created or written, raises
    DataError naming the path, never a traceback."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise DataError(p, "--out must be a folder, but a file of that name exists")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(p, f"cannot create the output folder ({e.strerror or e})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise DataError(p, "the output folder is not writable")
    return p


def output_file(path: str | Path) -> Path:
    """Check that a file can be written at ``path`` (its parent folder is created) and return
    it. A folder at that path, or a parent that cannot be created or written, raises DataError.
    Overwriting an existing *file* is allowed: the caller was asked to write exactly this path."""
    p = Path(path)
    if p.is_dir():
        raise DataError(p, "is a folder; give a file name")
    output_dir(p.parent if str(p.parent) else ".")
    return p

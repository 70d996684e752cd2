"""Overlay videos in H.264 through PyAV's libx264 when PyAV is installed (``posekit[video]``),
else OpenCV's MPEG-4 Part 2; the codec is reported. The H.264 tests skip, saying so, without
PyAV."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_predict_video import _video, stub  # noqa: F401 - the stub predictor fixture

from posekit import io
from posekit.cli import main
from posekit.errors import DataError


def _pyav():
    av = pytest.importorskip("av", reason="PyAV is not installed (pip install posekit[video])")
    if "libx264" not in av.codecs_available:
        pytest.skip(f"PyAV {av.__version__} has no libx264 encoder")
    return av


def _codec_of(av, path) -> str:
    with av.open(str(path)) as c:
        return c.streams.video[0].codec_context.name


def _moving(i: int, size_wh=(65, 47)) -> np.ndarray:
    """A BGR frame: dark grey with a bright square moving right by 4 px a frame."""
    w, h = size_wh
    img = np.full((h, w, 3), 50, np.uint8)
    img[10:30, 4 * i + 2:4 * i + 22] = (40, 180, 230)
    return img


def test_pyav_writes_h264_that_reads_back(tmp_path):
    av = _pyav()
    assert io.video_writer_backend() == "pyav" and io.video_codec() == ("avc1", "H.264")
    p = tmp_path / "clip.mp4"
    writer, codec = io.open_video_writer(p, 12.5, (65, 47))      # odd: padded to 66 x 48
    assert codec == "H.264 (avc1)" and isinstance(writer, io.PyAVWriter)
    frames = [_moving(i) for i in range(6)]
    for f in frames:
        writer.write(f)
    writer.release()
    writer.release()                                              # a second release is harmless
    assert _codec_of(av, p) == "h264"
    with io.VideoReader(p) as video:
        assert video.fps == pytest.approx(12.5) and video.frame_count == 6
        back = [f for _, f in video]
    assert len(back) == 6
    for want, got in zip(frames, back):
        got = cv2.cvtColor(got, cv2.COLOR_RGB2BGR)[:47, :65].astype(np.float32)
        assert got.shape == want.shape
        assert np.abs(got - want).mean() < 4.0                    # lossy, but the same picture
        assert abs(float((got - want).mean())) < 1.5              # and not darker or lighter
    with pytest.raises(DataError, match="clip2.mp4: frame of shape"):
        w2, _ = io.open_video_writer(tmp_path / "clip2.mp4", 10, (64, 48))
        try:
            w2.write(np.zeros((48, 63, 3), np.uint8))
        finally:
            w2.release()


def test_predict_writes_an_h264_overlay_with_pyav(stub, tmp_path, capsys):  # noqa: F811
    av = _pyav()
    src = _video(tmp_path / "clip.mp4")                            # mp4v input, 8 frames 64x48
    out = tmp_path / "out"
    assert main(["predict", str(src), "--out", str(out)]) == 0
    overlay = out / "clip_pose.mp4"
    assert _codec_of(av, overlay) == "h264"
    assert "H.264 (avc1)" in capsys.readouterr().out               # the codec is reported
    with io.VideoReader(overlay) as video:
        back = [f for _, f in video]
    assert len(back) == 8 and back[0].shape == (48, 64, 3)
    with io.VideoReader(src) as video:                             # the overlay is the input drawn on
        first = next(iter(video))[1]
    diff = np.abs(back[0].astype(np.float32) - first).mean(axis=-1)
    assert diff[:, 44:].mean() < 6                                 # background: the input's pixels
    assert diff[:, :24].mean() > 20                                # the person's box and skeleton


def test_without_pyav_opencv_writes_mpeg4(tmp_path, monkeypatch):
    monkeypatch.setattr(io, "_pyav_h264", lambda: False)
    assert io.video_writer_backend() == "opencv"
    p = tmp_path / "clip.mp4"
    writer, codec = io.open_video_writer(p, 10.0, (64, 48))
    assert codec in {f"{name} ({fourcc})" for fourcc, name in io.VIDEO_CODECS}
    assert isinstance(writer, cv2.VideoWriter)
    for i in range(3):
        writer.write(_moving(i, (64, 48)))
    writer.release()
    with io.VideoReader(p) as video:
        assert [i for i, _ in video] == [0, 1, 2]

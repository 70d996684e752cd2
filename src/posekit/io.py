"""Reading images and video frames, with errors that name the file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from posekit.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as ``(H, W, 3)`` uint8 RGB. Raises DataError naming the file when it
    is missing or cannot be decoded."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "image file not found")
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(p, "cannot decode image (unreadable or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


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


def iter_video(path: str | Path) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, (H, W, 3) uint8 RGB)`` for each frame of a video file."""
    p = Path(path)
    if not p.is_file():
        raise DataError(p, "video file not found")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise DataError(p, "cannot open video")
    try:
        i = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield i, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            i += 1
        if i == 0:
            raise DataError(p, "video has no decodable frames")
    finally:
        cap.release()


def list_inputs(paths: list[str | Path]) -> list[Path]:
    """Expand files and folders into a sorted list of image/video files (folders: one level,
    by suffix). Missing paths are kept so that the caller reports them."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out += sorted(q for q in p.iterdir()
                          if q.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES)
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

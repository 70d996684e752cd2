"""A tiny real sample, so that every example of the README runs on a fresh clone.

:func:`write_sample` (``posekit data sample --out DIR``) writes into ``DIR`` the files of
:data:`SAMPLE_FILES` (also listed by ``posekit data sample --help`` and in ``DIR/README.txt``):
the demo photo (scikit-image's astronaut, Eileen Collins, NASA, public domain; fetched once
with pip by :mod:`posekit.demo`), a short video made from it (``astronaut_pan.mp4``, a slow
camera move over the photo: :func:`astronaut_pan_frames`) and three scenes of synthetic figures
(:mod:`posekit.data.synthetic`, seed :data:`SYNTHETIC_SEED`); their ground truth as COCO
keypoints JSON (``coco.json``: the astronaut placed by hand, the figures exact) and the
astronaut in MPII's JSON form (``mpii.json``: 16 joints, 1-based, center, scale); and two
prediction files to evaluate, ``coco_results.json`` (astronaut: the default pipeline's output;
figures: ground truth plus seeded noise of 2, 5 or 10 % of the person's height) and
``mpii_results.json`` (astronaut: the ``efficientpose`` pipeline's MPII-16 output).

Without the photo (``photo=None``; ``posekit data sample --no-photo``: no download) only the
synthetic part is written: coco.json and coco_results.json then cover the three scenes.

**The video** is a virtual camera over the still photo: a square window that glides (eased in
and out) from the whole photo to her head and chest, 30 frames of 320x320 at 12 fps
(2.5 s), so that the person moves and grows in the frame; every third frame is also written
as a JPEG into ``astronaut_pan_frames/`` (a frame folder, 4 fps). The video is written with
:func:`posekit.io.open_video_writer` (H.264 with PyAV installed, else MPEG-4 Part 2) and has no
ground truth: it is there for ``posekit predict`` on a video (tracking, smoothing).

**The astronaut's annotation** was placed by hand on the photo, magnified 6-12x, with pixel
grids (pupil centres from the darkest pixels of each iris), and reviewed as an overlay. Only
the upper body is in the photo: hips, knees and ankles lie below its lower edge and are
unlabelled (v = 0). The subject's left ear is half hidden by hair and her left elbow by the
helmet she holds: both are labelled occluded (v = 1) at their estimated places; her left wrist,
behind the helmet, cannot be placed and is unlabelled. The person box is the tight box of the
visible person (hair top to the photo's lower edge, right-arm sleeve to left-arm sleeve); the
area is her silhouette measured once with OpenCV's GrabCut inside that box (the held helmet
excluded). MPII's extra joints: head_top on the top of the hair, upper_neck below the chin,
thorax between the shoulders at the neck's base; pelvis is below the photo. The MPII head box
spans the hair (left, right, top) and the chin; MPII ``center`` is the person box's centre and
``scale`` the visible height / 200 px.

**The stored predictions** are the output of ``posekit predict astronaut.png`` (and
``--model efficientpose``) of posekit 0.1.0 at commit 0e8cda8, on CPU, unedited: a model's
real output, mistakes included (MoveNet adds a second, low-score pose; EfficientPose, trained on
whole bodies, misplaces the shoulders and arms of this half-body portrait).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import textwrap
from pathlib import Path

import numpy as np

from posekit.data.formats import write_coco, write_mpii_json
from posekit.data.records import ImageRecord
from posekit.data.synthetic import render_scene
from posekit.errors import DataError
from posekit.io import open_video_writer, output_dir, read_image, write_image, write_text_atomic
from posekit.skeleton import COCO17, MPII16, KeypointSpec, remap_keypoints

__all__ = ["write_sample", "astronaut_records", "synthetic_scenes", "simulated_predictions",
           "check_astronaut_photo", "file_table", "astronaut_pan_windows", "astronaut_pan_frames",
           "pan_to_frame", "write_astronaut_pan",
           "SAMPLE_FILES", "SYNTHETIC_SEED", "ASTRONAUT_PIXELS_SHA256", "PAN_FRAMES", "PAN_FPS",
           "PAN_SIZE"]

log = logging.getLogger(__name__)

# (file name, what it holds), in the order written; the README.txt written beside them.
SAMPLE_FILES: tuple[tuple[str, str], ...] = (
    ("astronaut.png", "the demo photo: scikit-image's astronaut (Eileen Collins, NASA, public "
                      "domain), 512x512"),
    ("astronaut_pan.mp4", "a 2.5 s video made from the photo: a slow camera move from the whole "
                          "photo to her head and chest, 320x320, 12 fps (no ground truth)"),
    ("astronaut_pan_frames", "a folder of frames for predict --sequence: frames 0, 3, ..., 27 of "
                             "the video as 000000.jpg .. 000009.jpg (4 fps)"),
    ("synthetic_1.png", "320x240 synthetic figures drawn by posekit (posekit.data.synthetic)"),
    ("synthetic_2.png", "320x240 synthetic figures"),
    ("synthetic_3.png", "320x240 synthetic figures"),
    ("coco.json", "COCO keypoints ground truth of the images (astronaut: placed by hand; "
                  "figures: exact)"),
    ("coco_results.json", "COCO results to evaluate: astronaut = posekit's default pipeline "
                          "(MoveNet Thunder) output; figures = ground truth + seeded noise"),
    ("mpii.json", "the astronaut in MPII's JSON form (16 joints, center, scale)"),
    ("mpii_results.json", "MPII-16 predictions on the astronaut (posekit's efficientpose "
                          "pipeline), for eval --metric pckh"),
    ("README.txt", "this list"),
)
_ASTRONAUT_FILES = ("astronaut.png", "astronaut_pan.mp4", "astronaut_pan_frames", "mpii.json",
                    "mpii_results.json")

# sha256 of the photo's decoded RGB pixels ((512, 512, 3) uint8, row-major): the annotation
# below is only right for this picture.
ASTRONAUT_PIXELS_SHA256 = "a8c429c18afa7b0fd5673e598d73a21225d94c864a71bbb3885126fdecb41071"
ASTRONAUT_SIZE = (512, 512)   # (W, H)

# Hand-placed, image pixels (integer = pixel centre), v = COCO visibility. Subject's left is
# image right. Joints not listed are unlabelled.
ASTRONAUT_COCO17: dict[str, tuple[float, float, int]] = {
    "nose": (223, 126, 2),
    "left_eye": (247, 102, 2),
    "right_eye": (202, 100, 2),
    "left_ear": (271, 121, 1),          # behind the hair
    "right_ear": (176, 121, 2),
    "left_shoulder": (325, 272, 2),
    "right_shoulder": (90, 262, 2),
    "left_elbow": (338, 445, 1),        # behind the helmet
    "right_elbow": (55, 448, 2),
    "right_wrist": (152, 500, 2),       # at the glove's wrist ring
}
# MPII-16 has the twelve limb joints above and four of its own; pelvis is below the photo.
ASTRONAUT_MPII_ONLY: dict[str, tuple[float, float, int]] = {
    "thorax": (215, 258, 2),
    "upper_neck": (224, 165, 2),
    "head_top": (228, 17, 2),
}
ASTRONAUT_BOX_XYXY = (18.5, 15.5, 358.5, 511.5)   # pixel edges of the visible person
ASTRONAUT_HEAD_BOX_XYXY = (153, 16, 301, 160)     # MPII head box: hair and chin, pixel centres
ASTRONAUT_AREA = 81645.0                          # GrabCut silhouette, px

# posekit predict astronaut.png (movenet-thunder, the default), commit 0e8cda8: (score, K x 3).
THUNDER_POSES: tuple[tuple[float, tuple[float, ...]], ...] = (
    (0.4882, (223.314, 125.03, 0.815, 247.371, 101.469, 0.859, 201.668, 99.344, 0.868,
              273.521, 117.502, 0.794, 174.125, 112.954, 0.85, 321.866, 272.116, 0.711,
              93.505, 256.65, 0.644, 323.844, 432.712, 0.288, 65.43, 426.232, 0.575,
              304.684, 477.907, 0.115, 149.532, 500.773, 0.439, 268.336, 503.425, 0.626,
              129.499, 499.16, 0.5, 316.94, 512.555, 0.03, 142.237, 515.617, 0.075,
              223.057, 507.771, 0.024, 215.92, 508.904, 0.037)),
    (0.08362, (226.117, 216.829, 0.079, 229.777, 206.373, 0.046, 224.562, 210.702, 0.045,
               233.639, 202.102, 0.061, 171.29, 180.819, 0.023, 226.201, 278.097, 0.16,
               89.539, 262.169, 0.744, 224.013, 415.793, 0.237, 72.048, 431.778, 0.474,
               206.341, 457.432, 0.084, 141.657, 496.572, 0.23, 204.365, 483.699, 0.103,
               103.382, 491.577, 0.261, 192.341, 503.413, 0.026, 146.688, 512.639, 0.103,
               224.581, 511.438, 0.136, 186.487, 512.323, 0.08)),
)
# posekit predict astronaut.png --model efficientpose, commit 0e8cda8 (MPII-16 order).
EFFICIENTPOSE_POSES: tuple[tuple[float, tuple[float, ...]], ...] = (
    (0.34749, (90.322, 468.972, 0.037, 75.235, 457.238, 0.018, 132.23, 425.387, 0.057,
               192.578, 416.167, 0.063, 304.055, 284.575, 0.039, 262.985, 463.943, 0.028,
               182.52, 416.167, 0.07, 205.989, 204.949, 0.639, 216.047, 161.364, 0.527,
               221.914, 75.033, 0.483, 81.94, 281.222, 0.049, 97.027, 266.135, 0.221,
               138.936, 192.376, 0.424, 276.395, 214.169, 0.544, 300.702, 286.251, 0.143,
               231.972, 103.53, 0.083)),
    (0.04532, (52.347, 471.187, 0.016, 31.346, 418.131, 0.035, 68.375, 298.757, 0.078,
               82.744, 293.23, 0.074, 32.452, 416.473, 0.045, 33.004, 488.872, 0.027,
               76.112, 299.31, 0.086, 73.901, 302.625, 0.214, 74.454, 300.415, 0.208,
               65.611, 256.202, 0.051, 62.295, 363.971, 0.04, 109.271, 399.341, 0.06,
               108.719, 312.573, 0.118, 36.873, 312.573, 0.137, 14.767, 250.123, 0.113,
               41.294, 363.418, 0.03)),
)

SYNTHETIC_SEED = 9
SYNTHETIC_SIZE = (320, 240)   # (W, H)
SYNTHETIC_IMAGES = 3
# Simulated predictions: noise sigma as a fraction of the person's box height, cycling over
# the people, and the person score that goes with it (worse pose, lower score).
_NOISE = (0.02, 0.05, 0.10)
_NOISE_SCORE = (0.9, 0.75, 0.5)

# The video: frames, frame rate, frame side (px); the camera window (left, top, side) in photo
# pixel-edge coordinates at the start and at the end of the move.
PAN_FRAMES = 30
PAN_FPS = 12.0
PAN_SIZE = 320
PAN_FOLDER_STEP = 3                 # every 3rd frame goes into astronaut_pan_frames/ (4 fps)
_PAN_START = (0.0, 0.0, 512.0)      # the whole photo
_PAN_END = (16.0, 4.0, 352.0)       # head and chest (her box is x 18-358, y 15-511)


def file_table(names: list[str] | None = None, indent: str = "") -> str:
    """The :data:`SAMPLE_FILES` (or those of ``names``) as an aligned, wrapped text table."""
    rows = [(n, d) for n, d in SAMPLE_FILES if names is None or n in names]
    width = max(len(n) for n, _ in rows)
    return "\n".join(textwrap.fill(d, 88, initial_indent=f"{indent}{n:<{width}}  ",
                                   subsequent_indent=" " * (len(indent) + width + 2))
                     for n, d in rows)


def _keypoints(points: dict[str, tuple[float, float, int]], spec: KeypointSpec) -> np.ndarray:
    """``(1, K, 3)`` float32 from ``{joint name: (x, y, v)}``; unlisted joints unlabelled."""
    kp = np.zeros((1, spec.num_keypoints, 3), np.float32)
    for name, xyv in points.items():
        kp[0, spec.index(name)] = xyv
    return kp


def astronaut_records() -> tuple[ImageRecord, ImageRecord]:
    """The astronaut's hand annotation as ``(COCO17 record, MPII16 record)``, image id 1."""
    coco = ImageRecord.create(
        "astronaut.png", *ASTRONAUT_SIZE, _keypoints(ASTRONAUT_COCO17, COCO17), COCO17,
        boxes=[ASTRONAUT_BOX_XYXY], areas=[ASTRONAUT_AREA], image_id=1, ann_ids=[1],
        source="posekit.data.sample")
    x0, y0, x1, y1 = ASTRONAUT_BOX_XYXY
    kp_mpii = (remap_keypoints(coco.keypoints, COCO17, MPII16)
               + _keypoints(ASTRONAUT_MPII_ONLY, MPII16))
    mpii = ImageRecord.create(
        "astronaut.png", *ASTRONAUT_SIZE, kp_mpii, MPII16,
        boxes=[ASTRONAUT_BOX_XYXY], head_boxes=[ASTRONAUT_HEAD_BOX_XYXY], scales=[y1 - y0],
        centers=[((x0 + x1) / 2, (y0 + y1) / 2)], image_id=1, ann_ids=[1],
        source="posekit.data.sample")
    return coco, mpii


def astronaut_pan_windows(num_frames: int = PAN_FRAMES) -> np.ndarray:
    """The camera of the sample video: ``(num_frames, 3)`` float64 ``(left, top, side)`` of a
    square window in pixel-edge coordinates of the photo (0 = the left/top edge of pixel 0; a
    pixel centre ``x`` is edge ``x + 0.5``), gliding from ``_PAN_START`` to ``_PAN_END`` with a
    cosine ease (slow at both ends). Every window lies inside the 512x512 photo."""
    t = np.linspace(0.0, 1.0, num_frames)
    ease = 0.5 - 0.5 * np.cos(np.pi * t)
    a, b = np.asarray(_PAN_START), np.asarray(_PAN_END)
    return a + ease[:, None] * (b - a)


def pan_to_frame(xy: np.ndarray, window: np.ndarray, size: int = PAN_SIZE) -> np.ndarray:
    """Photo pixel coordinates ``(..., 2)`` (x, y; pixel centres at integers) -> coordinates in
    a frame of side ``size`` showing ``window`` = ``(left, top, side)`` (same convention)."""
    left, top, side = window
    k = side / size
    return (np.asarray(xy, np.float64) + 0.5 - np.array([left, top])) / k - 0.5


def astronaut_pan_frames(photo_rgb: np.ndarray, num_frames: int = PAN_FRAMES,
                         size: int = PAN_SIZE) -> np.ndarray:
    """The frames of ``astronaut_pan.mp4``: ``(num_frames, size, size, 3)`` uint8 RGB. Frame
    ``i`` shows the part of the photo (``(512, 512, 3)`` uint8 RGB) inside window ``i`` of
    :func:`astronaut_pan_windows`, resampled bilinearly (the photo is blurred first where the
    window shrinks it, so that it does not alias)."""
    import cv2

    frames = np.empty((num_frames, size, size, 3), np.uint8)
    for i, (left, top, side) in enumerate(astronaut_pan_windows(num_frames)):
        k = side / size                    # photo pixels per frame pixel
        src = photo_rgb
        if k > 1.2:
            src = cv2.GaussianBlur(photo_rgb, (0, 0), 0.5 * np.sqrt(k * k - 1.0))
        # frame pixel centre u -> photo pixel centre left + (u + 0.5) k - 0.5 (also for y)
        m = np.array([[k, 0.0, left + 0.5 * k - 0.5], [0.0, k, top + 0.5 * k - 0.5]])
        frames[i] = cv2.warpAffine(src, m, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                   borderMode=cv2.BORDER_REPLICATE)
    return frames


def write_astronaut_pan(photo_rgb: np.ndarray, path: str | Path,
                        frames_dir: str | Path | None = None) -> str:
    """Write :func:`astronaut_pan_frames` of ``photo_rgb`` to the video ``path`` at
    :data:`PAN_FPS`, and every :data:`PAN_FOLDER_STEP`-th frame as ``000000.jpg``, ... into
    ``frames_dir`` (when given); returns the video's codec, e.g. ``"H.264 (avc1)"``."""
    import cv2

    frames = astronaut_pan_frames(photo_rgb)
    writer, codec = open_video_writer(path, PAN_FPS, (frames.shape[2], frames.shape[1]))
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    if frames_dir is not None:
        for j, f in enumerate(frames[::PAN_FOLDER_STEP]):
            write_image(Path(frames_dir) / f"{j:06d}.jpg", f)
    return codec


def synthetic_scenes(seed: int = SYNTHETIC_SEED) -> list[tuple[np.ndarray, ImageRecord]]:
    """The sample's synthetic scenes: ``(image (240, 320, 3) uint8 RGB, COCO17 record)`` for
    ``synthetic_1.png`` .. ``synthetic_3.png`` (image ids 2-4), 2-3 figures each."""
    return [render_scene(np.random.default_rng([seed, i]), size=SYNTHETIC_SIZE,
                         num_people=(2, 3), file_name=f"synthetic_{i}.png", image_id=i + 1)
            for i in range(1, SYNTHETIC_IMAGES + 1)]


def simulated_predictions(records: list[ImageRecord], seed: int = SYNTHETIC_SEED) -> list[dict]:
    """COCO results entries for ``records``: each person's true keypoints plus Gaussian noise of
    sigma 2, 5 or 10 % of its box height (cycling over the people), joint scores 0.9 inside the
    image and 0.2 outside, person score 0.9, 0.75 or 0.5 to match. Coordinates in image pixels,
    rounded to 0.01; entries carry ``image_id`` and ``file_name``."""
    out = []
    person = 0
    for r in records:
        rng = np.random.default_rng([seed, 1000 + int(r.image_id or 0)])
        for kp, box in zip(r.keypoints, r.boxes):
            level = person % len(_NOISE)
            person += 1
            sigma = _NOISE[level] * float(box[3] - box[1])
            xy = kp[:, :2] + rng.normal(0.0, sigma, size=(len(kp), 2))
            score = np.where(kp[:, 2] > 0, 0.9, 0.2)
            flat = np.concatenate([np.round(xy, 2), score[:, None]], axis=1).reshape(-1)
            out.append({"image_id": r.image_id, "file_name": r.file_name, "category_id": 1,
                        "keypoints": [float(v) for v in flat], "score": _NOISE_SCORE[level]})
    return out


def _stored_results(poses: tuple[tuple[float, tuple[float, ...]], ...], image_id: int,
                    file_name: str) -> list[dict]:
    return [{"image_id": image_id, "file_name": file_name, "category_id": 1,
             "keypoints": list(kp), "score": score} for score, kp in poses]


def check_astronaut_photo(photo: str | Path) -> None:
    """Raise DataError unless ``photo`` has exactly the pixels the annotation was made on."""
    img = read_image(photo)
    digest = hashlib.sha256(np.ascontiguousarray(img).tobytes()).hexdigest()
    if img.shape != (ASTRONAUT_SIZE[1], ASTRONAUT_SIZE[0], 3) or digest != ASTRONAUT_PIXELS_SHA256:
        raise DataError(photo, f"not the astronaut photo the sample annotates ({img.shape[1]}x"
                               f"{img.shape[0]}, pixel sha256 {digest[:12]}..., expected 512x512, "
                               f"{ASTRONAUT_PIXELS_SHA256[:12]}...)")


def write_sample(out_dir: str | Path, photo: str | Path | None,
                 overwrite: bool = False) -> list[Path]:
    """Write the sample (see the module docstring) into ``out_dir`` and return the paths written.

    Args:
        out_dir: folder to write into (created).
        photo: the astronaut photo (:func:`posekit.demo.fetch_demo_image`), or None for the
            synthetic part only.
        overwrite: replace files of the sample's names that already exist in ``out_dir``;
            otherwise such files raise DataError before anything is written.
    """
    out = Path(out_dir)
    names = [n for n, _ in SAMPLE_FILES if photo is not None or n not in _ASTRONAUT_FILES]
    if photo is not None:
        check_astronaut_photo(photo)
    existing = [n for n in names if (out / n).exists()]
    if existing and not overwrite:
        raise DataError(out, f"already holds {', '.join(existing)}; choose another folder or "
                             "overwrite them with --force")
    output_dir(out)
    codec = None
    scenes = synthetic_scenes()
    coco_records = [rec for _, rec in scenes]
    results = simulated_predictions(coco_records)
    if photo is not None:
        astro_coco, astro_mpii = astronaut_records()
        coco_records.insert(0, astro_coco)
        results = _stored_results(THUNDER_POSES, 1, "astronaut.png") + results
        shutil.copyfile(photo, out / "astronaut.png")
        codec = write_astronaut_pan(read_image(photo), out / "astronaut_pan.mp4",
                                    out / "astronaut_pan_frames")
        write_mpii_json([astro_mpii], out / "mpii.json")
        write_text_atomic(out / "mpii_results.json",
                          json.dumps(_stored_results(EFFICIENTPOSE_POSES, 1, "astronaut.png")))
    for img, rec in scenes:
        write_image(out / rec.file_name, img)
    write_coco(coco_records, out / "coco.json")
    write_text_atomic(out / "coco_results.json", json.dumps(results))
    text = ("posekit sample data (posekit data sample); image file names are relative to this "
            "folder.\n\n" + file_table(names))
    if photo is None:
        text += "\n\nWritten with --no-photo: the astronaut photo and its files are left out."
    else:
        text += "\n\n" + textwrap.fill(
            f"astronaut_pan.mp4 is {codec}. Try: posekit predict {out / 'astronaut_pan.mp4'} "
            f"--out out/video --smooth one-euro, or posekit predict --sequence "
            f"{out / 'astronaut_pan_frames'} --fps {PAN_FPS / PAN_FOLDER_STEP:g} --out out/seq", 88)
    write_text_atomic(out / "README.txt", text + "\n")
    log.info("sample written to %s: %s", out, ", ".join(names))
    return [out / n for n in names]

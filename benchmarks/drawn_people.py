"""How many of the real samples' people a pipeline draws, and how many drawings are wrong.

    python benchmarks/drawn_people.py                          # the default pipeline, a table
    python benchmarks/drawn_people.py -v                       # plus every drawn pose
    python benchmarks/drawn_people.py --overlays out/drawn     # plus the overlays (long side 800)
    python benchmarks/drawn_people.py --pipeline multipose-320 --min-pose-score 0.2

What is drawn is what ``posekit predict`` draws: the poses scoring at least the drawing
threshold (``--min-pose-score``; default the pipeline's, see below) and, in them, the keypoints
above ``--min-score``. On the COCO, AIC, J-HMDB and MPII samples of ``../shared/data``, each
drawn pose is, in score order:

* **right** when it matches an annotated person one-to-one (greedy, best score first) with
  OKS >= 0.5. OKS runs over the joints the data set and COCO-17 have in common (the ground
  truth is carried to COCO-17 by ``posekit.skeleton.remap_keypoints``; joints COCO lacks, e.g.
  AIC's head top and neck, are dropped), with COCO's sigmas and the annotation's area as
  ``s^2`` (COCO: segment area; AIC, J-HMDB: the annotated box; MPII: the box of the labelled
  joints). Only people with at least one labelled joint count as annotated.
* **on an unannotated person** when it does not match but its box centre lies in a person the
  sample leaves without keypoints: a COCO annotation without keypoints (box IoU >= 0.5), or a
  visible person listed by eye in :data:`UNANNOTATED` (MPII and AIC annotate only some people).
  Neither right nor false.
* **false** otherwise: a duplicate of a matched person, a pose on no person, or a pose too
  wrong to match (OKS < 0.5).

The video (``video/demo.mp4``, 5 frames, no annotation) adds a count of drawn poses.
A line gives the spread of the scores over every pose (no threshold): the lowest score of a
right pose and the highest of a false one (a threshold between them draws every right pose and
no false one, when the first is the higher). ``--overlays DIR`` writes every sample image and
video frame drawn as ``posekit predict`` draws it, as JPEG (quality 85, long side at most
800 px). The COCO AP of the pipeline (every pose, no threshold, ``posekit.metrics.coco_eval``)
is printed too.

The script runs on older versions of posekit too (for before/after figures: run it with
``PYTHONPATH=<other tree>/src``): what a version lacks falls back to that version's behaviour.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from posekit.data.formats import read_annotations
from posekit.io import read_image
from posekit.metrics import coco_eval
from posekit.metrics.oks import oks_matrix
from posekit.nms import box_iou
from posekit.pipelines import DEFAULT_PIPELINE, PIPELINES, build_predictor
from posekit.skeleton import COCO17, remap_keypoints
from posekit.viz import draw_poses

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
SETS = (("COCO", "coco", "test_coco.json"), ("AIC", "aic", "test_aic.json"),
        ("J-HMDB", "jhmdb", "test_jhmdb_sub1.json"), ("MPII", "mpii", "test_mpii.json"))
#: Visible people the samples leave unannotated, xyxy, checked by eye on the images.
UNANNOTATED: dict[str, list[list[float]]] = {
    "005808361.jpg": [[285, 60, 720, 710]],        # MPII: the curler seen from the back
    "052475643.jpg": [[455, 105, 605, 445]],       # MPII: the seated man in blue
    "ff945ae2e729f24eea992814639d59b3bdec8bd8.jpg": [
        [410, 120, 500, 290],                      # AIC: steward in a yellow vest
        [705, 170, 835, 300],                      # AIC: seated man behind the blue player
        [150, 215, 255, 415]],                     # AIC: crouching photographer
    "fa436c914fe4a8ec1ec5474af4d3820b84d17561.jpg": [[0, 0, 115, 235]],   # AIC: man at top left
}
MATCH_OKS = 0.5


def drawing_thresholds(pipeline: str) -> tuple[float, float]:
    """(pose score, keypoint score) thresholds of the overlays: the library's constants when
    it has them, else the CLI defaults of posekit before issue 9 (0.2, 0.3)."""
    pose = getattr(PIPELINES[pipeline], "draw_min_pose_score", 0.2)
    try:
        from posekit.viz import DRAW_MIN_KEYPOINT_SCORE as kp
    except ImportError:
        kp = 0.3
    return pose, kp


def draw(image: np.ndarray, poses, min_pose: float, min_kp: float) -> np.ndarray:
    """The overlay ``posekit predict`` draws (with scores on the boxes when viz can)."""
    shown = poses.select(poses.scores >= min_pose)
    try:
        return draw_poses(image, shown.keypoints, shown.spec, boxes=shown.boxes, min_score=min_kp,
                          scores=shown.scores)
    except TypeError:           # a viz without score labels
        return draw_poses(image, shown.keypoints, shown.spec, boxes=shown.boxes, min_score=min_kp)


def video_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video as ``(H, W, 3)`` uint8 RGB (OpenCV directly: the posekit.io
    video API differs between versions)."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


def write_jpeg(path: Path, image_rgb: np.ndarray, long_side: int = 800, quality: int = 85) -> None:
    h, w = image_rgb.shape[:2]
    s = min(1.0, long_side / max(h, w))
    if s < 1.0:
        image_rgb = cv2.resize(image_rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])


def classify(poses, record) -> list[str]:
    """``"right"``, ``"unannotated"`` or ``"false"`` for each pose (in score order)."""
    gt = record.keypoints if record.spec is COCO17 else remap_keypoints(record.keypoints, record.spec, COCO17)
    dt = poses.keypoints if poses.spec is COCO17 else remap_keypoints(poses.keypoints, poses.spec, COCO17)
    labelled = (gt[..., 2] > 0).any(axis=1)
    oks = oks_matrix(dt, gt, record.areas, COCO17.sigmas_array())
    no_kp_boxes = record.boxes[~labelled]
    extra = np.asarray(UNANNOTATED.get(Path(record.file_name).name, []), np.float32).reshape(-1, 4)
    taken = np.zeros(len(gt), bool)
    out = []
    for i in range(len(dt)):
        cand = np.where(labelled & ~taken, oks[i], -1.0)
        j = int(np.argmax(cand)) if len(cand) else -1
        if j >= 0 and cand[j] >= MATCH_OKS:
            taken[j] = True
            out.append("right")
            continue
        b = poses.boxes[i]
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        on_extra = ((extra[:, 0] <= cx) & (cx <= extra[:, 2]) & (extra[:, 1] <= cy) & (cy <= extra[:, 3])).any()
        on_no_kp = len(no_kp_boxes) and box_iou(b[None], no_kp_boxes).max() >= 0.5
        out.append("unannotated" if on_extra or on_no_kp else "false")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", default=DEFAULT_PIPELINE, choices=sorted(PIPELINES))
    ap.add_argument("--min-pose-score", type=float, default=None, help="default: the pipeline's")
    ap.add_argument("--min-score", type=float, default=None, help="keypoints drawn (default: the library's)")
    ap.add_argument("--overlays", type=Path, default=None, metavar="DIR")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("-v", "--verbose", action="store_true", help="list every drawn pose")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not (DATA / "README.md").is_file():
        print(f"sample data not found at {DATA}", file=sys.stderr)
        return 2
    min_pose, min_kp = drawing_thresholds(args.pipeline)
    min_pose = min_pose if args.min_pose_score is None else args.min_pose_score
    min_kp = min_kp if args.min_score is None else args.min_score
    predictor = build_predictor(args.pipeline, "cpu")
    print(f"# {args.pipeline}: drawn = pose score >= {min_pose:g}, keypoints > {min_kp:g}; "
          f"right = OKS >= {MATCH_OKS} with an annotated person (common joints, COCO sigmas)")
    print("| sample | images | annotated people | drawn | drawn right | right / annotated "
          "| on unannotated people | false drawings |")
    print("|---|---|---|---|---|---|---|---|")
    totals = np.zeros(5, np.int64)
    spread: dict[str, list[float]] = {"right": [], "unannotated": [], "false": []}
    coco_results: list[dict] = []
    coco_gt = json.loads((DATA / "coco" / "test_coco.json").read_text())
    for label, folder, ann in SETS:
        records = read_annotations(DATA / folder / ann, image_dir=DATA / folder)
        counts = np.zeros(5, np.int64)        # images, annotated, drawn, right, unannotated
        for r in records:
            image = read_image(DATA / folder / r.file_name)
            poses = predictor.predict(image)
            if folder == "coco":
                kp = poses.keypoints if poses.spec is COCO17 else remap_keypoints(poses.keypoints, poses.spec, COCO17)
                coco_results += [{"image_id": r.image_id, "category_id": 1, "keypoints": k.reshape(-1).tolist(),
                                  "score": float(s)} for k, s in zip(kp, poses.scores)]
            for score, kind in zip(poses.scores, classify(poses, r)):    # every pose, for the spread
                spread[kind].append(float(score))
            drawn = poses.select(poses.scores >= min_pose)
            kinds = classify(drawn, r)
            counts += [1, int(((r.keypoints[..., 2] > 0).any(axis=1)).sum()), len(drawn),
                       kinds.count("right"), kinds.count("unannotated")]
            if args.verbose:
                for s, b, k in zip(drawn.scores, drawn.boxes, kinds):
                    print(f"  {folder}/{r.file_name}: score {s:.3f} box {np.round(b).astype(int).tolist()} {k}")
            if args.overlays is not None:
                stem = str(Path(r.file_name).with_suffix("")).replace("/", "_").replace("@", "")
                write_jpeg(args.overlays / f"{folder}_{stem}.jpg",
                           draw(image, poses, min_pose, min_kp))
        n_img, n_ann, n_drawn, n_right, n_un = (int(v) for v in counts)
        print(f"| {label} | {n_img} | {n_ann} | {n_drawn} | {n_right} | {n_right}/{n_ann} | {n_un} | "
              f"{n_drawn - n_right - n_un} |")
        totals += counts
    n_img, n_ann, n_drawn, n_right, n_un = (int(v) for v in totals)
    print(f"| **all four** | {n_img} | {n_ann} | {n_drawn} | {n_right} | {n_right}/{n_ann} | {n_un} | "
          f"{n_drawn - n_right - n_un} |")
    lo_right, hi_false = min(spread["right"], default=np.nan), max(spread["false"], default=np.nan)
    above = sum(f >= lo_right for f in spread["false"])
    print(f"\nEvery pose, before any threshold: {len(spread['right'])} right, lowest score {lo_right:.3f}; "
          f"{len(spread['false'])} false, highest score {hi_false:.3f}; "
          + (f"{above} false pose(s) score at least the lowest right one" if above else
             "a drawing threshold between the two separates them"))
    drawn_video = []
    for i, frame in enumerate(video_frames(DATA / "video" / "demo.mp4")):
        poses = predictor.predict(frame)
        drawn_video.append(int((poses.scores >= min_pose).sum()))
        if args.overlays is not None:
            write_jpeg(args.overlays / f"video_{i}.jpg", draw(frame, poses, min_pose, min_kp))
    print(f"\nvideo/demo.mp4 ({len(drawn_video)} frames, not annotated): drawn poses per frame {drawn_video}")
    print(f"COCO AP of the pipeline on the sample (every pose): {coco_eval(coco_gt, coco_results)['AP']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

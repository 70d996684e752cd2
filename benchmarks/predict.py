"""Accuracy and speed of every prediction pipeline on the real samples.

    python benchmarks/predict.py                       # all pipelines: AP table + latency table
    python benchmarks/predict.py --pipelines movenet-thunder multipose-512 --repeats 5
    python benchmarks/predict.py --no-speed            # accuracy only (seconds)
    python benchmarks/predict.py --eager               # imported graphs without TorchScript traces (A/B)

* Accuracy: COCO keypoint AP/AR on ``../shared/data/coco`` (4 images, 14 people) with
  ``posekit.metrics.coco_eval`` and, as a cross-check, pycocotools' COCOeval; an extra row runs
  MoveNet Thunder on the sample's precomputed detector boxes; PCKh@0.5 on the MPII sample for
  EfficientPose (crops from the annotated centre/scale, as the MPII single-person protocol).
* Speed: end-to-end latency per image (read image excluded; detector, crops, model, decode
  and NMS included), batch 1, ``torch.set_num_threads(2)``, after a warm-up pass;
  ``--repeats`` passes over the images, one pipeline at a time. Reported: the median over all
  passes, the lowest per-pass median (the figure least disturbed by other processes), the
  throughput of ``predict_batch`` over the folder with the pipeline's default crop batch (one
  crop per pass on the CPU, see ``posekit.device.default_crop_batch``) and, for top-down
  pipelines, with the folder's crops through the pose model 16 at a time, and the 1-min load
  average when the pipeline's timing started: the
  machine may be shared, so read the load column too.

Peer for the plane (from the issue): Ultralytics YOLO11n-pose, 57 ms, AP 0.698, AR 0.717.
Targets: default AP > 0.698 and < 57 ms; a fast mode <= 38 ms with AP >= 0.6.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from posekit.geometry import crop_affine, invert_affine, transform_points, warp_image, xywh_to_xyxy
from posekit.io import read_image
from posekit.metrics import coco_eval
from posekit.pipelines import PIPELINES, build_predictor
from posekit.skeleton import COCO17, remap_keypoints

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
COCO_PIPELINES = ["movenet-thunder", "movenet-lightning", "multipose-256", "multipose-320", "multipose-352",
                  "multipose-384", "multipose-512",
                  "posenet", "posenet-513", "blazepose-full"]
PEER = ("YOLO11n-pose (peer, from the issue)", 0.698, 0.717, 57.0)


def load_coco() -> tuple[dict, list[tuple[int, str, np.ndarray]]]:
    gt = json.loads((DATA / "coco" / "test_coco.json").read_text())
    imgs = [(im["id"], im["file_name"], read_image(DATA / "coco" / im["file_name"])) for im in gt["images"]]
    return gt, imgs


def to_results(poses, image_id: int) -> list[dict]:
    kp = poses.keypoints if poses.spec is COCO17 else remap_keypoints(poses.keypoints, poses.spec, COCO17)
    return [{"image_id": image_id, "category_id": 1, "keypoints": k.reshape(-1).tolist(), "score": float(s)}
            for k, s in zip(kp, poses.scores)]


def pycoco_ap(gt: dict, results: list[dict]) -> tuple[float, float]:
    """AP and AR by pycocotools (cross-check); (nan, nan) if it is not installed."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        return float("nan"), float("nan")
    if not results:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = json.loads(json.dumps(gt))
        c.createIndex()
        d = c.loadRes(json.loads(json.dumps(results)))
        e = COCOeval(c, d, "keypoints")
        e.evaluate()
        e.accumulate()
        e.summarize()
    return float(e.stats[0]), float(e.stats[5])


def accuracy(predictor, gt, imgs) -> dict:
    res = []
    for iid, _, im in imgs:
        res.extend(to_results(predictor.predict(im), iid))
    ours = coco_eval(gt, res)
    ap, ar = pycoco_ap(gt, res)
    return {"AP": ours["AP"], "AR": ours["AR"], "AP50": ours["AP50"], "pycoco_AP": ap, "pycoco_AR": ar, "n": len(res)}


def accuracy_given_boxes(predictor, gt, imgs) -> dict:
    """Thunder on the sample's precomputed detector boxes (score > 0.3)."""
    dets = json.loads((DATA / "coco" / "test_coco_det_AP_H_56.json").read_text())
    res = []
    for iid, _, im in imgs:
        d = [x for x in dets if x["image_id"] == iid and x["score"] > 0.3]
        boxes = xywh_to_xyxy(np.array([x["bbox"] for x in d], np.float32).reshape(-1, 4))
        res.extend(to_results(predictor.predict_boxes(im, boxes, np.array([x["score"] for x in d])), iid))
    ours = coco_eval(gt, res)
    ap, ar = pycoco_ap(gt, res)
    return {"AP": ours["AP"], "AR": ours["AR"], "AP50": ours["AP50"], "pycoco_AP": ap, "pycoco_AR": ar, "n": len(res)}


def mpii_pckh(device: str | None) -> tuple[float, int]:
    """EfficientPose PCKh@0.5 on the MPII sample: one crop per annotated person from its centre
    and scale (square, side 200 * scale * 1.25). The sample has no head boxes, so the head size
    is the head_top - upper_neck distance (MPII's official normaliser is 0.6 x the head-box
    diagonal, of similar size). Returns (PCKh, number of visible joints)."""
    from posekit.models.estimator import Estimator
    ann = json.loads((DATA / "mpii" / "test_mpii.json").read_text())
    est = Estimator.from_pretrained("efficientpose_ii_lite", device)
    hits, total = 0, 0
    for a in ann:
        im = read_image(DATA / "mpii" / a["image"])
        center = np.array(a["center"], np.float64)
        side = 200.0 * float(a["scale"]) * 1.25
        A = crop_affine(center, np.array([side, side]), est.input_size)
        kp = est.predict(warp_image(im, A, est.input_size)[None])[0, 0].numpy()
        kp = transform_points(invert_affine(A), kp)
        joints = np.array(a["joints"], np.float64)
        vis = np.array(a["joints_vis"]) > 0
        head = np.linalg.norm(joints[9] - joints[8])
        d = np.linalg.norm(kp[:, :2] - joints, axis=1)
        hits += int(((d <= 0.5 * head) & vis).sum())
        total += int(vis.sum())
    return hits / max(total, 1), total


def time_pass(predictor, imgs) -> list[float]:
    """Seconds per image for one pass, batch 1."""
    ts = []
    for _, _, im in imgs:
        t = time.perf_counter()
        predictor.predict(im)
        ts.append(time.perf_counter() - t)
    return ts


def throughput(predictor, imgs, repeats: int) -> float:
    ims = [im for _, _, im in imgs]
    predictor.predict_batch(ims)
    t = time.perf_counter()
    for _ in range(repeats):
        predictor.predict_batch(ims)
    return repeats * len(ims) / (time.perf_counter() - t)


def plane(ap: float, ms: float) -> str:
    if ap > 0.698 and ms < 57:
        return "beats peer"
    if ms <= 38 and ap >= 0.6:
        return "fast-mode target"
    return ("more accurate, slower" if ap > 0.698 else
            "faster, less accurate" if ms < 57 else "dominated by peer")


def set_tracing(obj, enabled: bool, depth: int = 3) -> None:
    """Switch ``trace`` on every PretrainedModel reachable from ``obj``'s attributes."""
    from posekit.pretrained import PretrainedModel
    if isinstance(obj, PretrainedModel):
        obj.trace = enabled
    elif depth and hasattr(obj, "__dict__") and not isinstance(obj, torch.nn.Module):
        for v in vars(obj).values():
            set_tracing(v, enabled, depth - 1)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipelines", nargs="*", default=COCO_PIPELINES)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--eager", action="store_true",
                    help="run the imported graphs eagerly (no per-shape TorchScript traces), for A/B")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    gt, imgs = load_coco()
    print(f"# load average before: {os.getloadavg()}; torch threads {torch.get_num_threads()}; "
          f"{len(imgs)} images, {len(gt['annotations'])} people "
          f"({sum(a['num_keypoints'] > 0 for a in gt['annotations'])} with keypoints)")
    print("| pipeline | AP | AR | AP50 | AP (pycocotools) | AR (pycocotools) | median ms | best-round median ms "
          "| img/s, folder | img/s, folder, crops by 16 | plane | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.pipelines:
        if name not in PIPELINES:
            print(f"unknown pipeline {name}", file=sys.stderr)
            return 2
        # one pipeline at a time, alone in the process: interleaving models of different input
        # sizes thrashes oneDNN's primitive cache and inflates every figure
        p = build_predictor(name, args.device)
        if args.eager:
            set_tracing(p, False)
        rows = {name: accuracy(p, gt, imgs)}
        if name == "movenet-thunder":
            rows["movenet-thunder on the sample's detector boxes (extra row)"] = accuracy_given_boxes(p, gt, imgs)
        cells = " | | | | | "
        if not args.no_speed:
            time_pass(p, imgs)                      # warm-up: every input size once
            load = os.getloadavg()[0]
            rounds = [time_pass(p, imgs) for _ in range(args.repeats)]
            allt = np.concatenate(rounds) * 1000
            med = float(np.median(allt))
            best = float(min(np.median(r) for r in rounds) * 1000)
            thr = throughput(p, imgs, 2)
            thr16 = "-"
            if hasattr(p, "max_batch"):             # top-down: the crops of the folder in 16s
                default_batch, p.max_batch = p.max_batch, 16
                thr16 = f"{throughput(p, imgs, 2):.1f}"
                p.max_batch = default_batch
            cells = f"{med:.1f} | {best:.1f} | {thr:.1f} | {thr16} | {plane(rows[name]['AP'], med)} | {load:.1f}"
        for row, acc in rows.items():
            c = cells if row == name else " | | | | | "
            print(f"| {row} | {acc['AP']:.3f} | {acc['AR']:.3f} | {acc['AP50']:.3f} | {acc['pycoco_AP']:.3f} | "
                  f"{acc['pycoco_AR']:.3f} | {c} |", flush=True)
        del p
        gc.collect()
    print(f"| {PEER[0]} | {PEER[1]:.3f} | {PEER[2]:.3f} | | {PEER[1]:.3f} | {PEER[2]:.3f} | {PEER[3]:.0f} | | | | peer | |")
    pck, n = mpii_pckh(args.device)
    print(f"\nEfficientPose II-Lite PCKh@0.5 on the MPII sample ({n} visible joints, crops from the "
          f"annotated centre/scale): {pck:.3f}")
    print(f"# load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

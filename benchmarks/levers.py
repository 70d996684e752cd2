"""Speed levers of the default pipeline, before and after, one row each, with AP on the COCO sample.

    .venv/bin/python benchmarks/levers.py [--threads 2] [--rounds 5] [--rows A B ...] [--no-peer]

Each row is one configuration (see ``ROWS``). AP/AR: posekit's COCO evaluation on the 4 COCO
sample images (deterministic). Latency: per image, batch 1, image decoding excluded; rounds
alternate over the rows (and the peer, Ultralytics YOLO11n-pose, run by ``benchmarks/peer.py``'s
worker in its own environment when present), one pass over the 4 images per row per round,
after one warm-up round; the median over all rounds. The "crops" column counts the pose-model
passes over the 4 images. Backends are E's ``posekit.runtime`` (ONNX Runtime, OpenVINO,
int8), per stage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _topdown(detector_backend: str = "torch", pose_backend: str = "torch", threads: int = 2, **det):
    from posekit.models.estimator import Estimator
    from posekit.pipelines import build_detector
    from posekit.pipelines.topdown import TopDownPredictor
    detector = build_detector("nanodet", "cpu", **det)
    est = Estimator.from_pretrained("movenet_thunder", "cpu")
    if detector_backend != "torch":
        from posekit.runtime import detector_with_backend
        detector = detector_with_backend(detector, detector_backend, threads)
    if pose_backend != "torch":
        from posekit.runtime import with_backend
        est = with_backend(est, pose_backend, threads)
    return TopDownPredictor(detector, est, max_batch=1)


def _cascade(threads: int = 2, refiner: str = "movenet_thunder", **kw):
    from posekit.pipelines.cascade import build_cascade
    return build_cascade("movenet_multipose", refiner, "cpu", threads=threads, **kw)


def _bottomup(long_side: int, backend: str = "torch", threads: int = 2):
    from posekit.models.estimator import Estimator
    from posekit.pipelines.bottomup import BottomUpPredictor
    est = Estimator.from_pretrained("movenet_multipose", "cpu")
    if backend != "torch":
        from posekit.runtime import with_backend
        est = with_backend(est, backend, threads)
    return BottomUpPredictor(est, long_side=long_side)


# key -> (lever, configuration, builder(threads))
ROWS = {
    "A": ("before", "movenet-thunder: NanoDet (score >= 0.2, box NMS IoU 0.6) -> Thunder per crop, torch",
          lambda t: _topdown(threads=t)),
    "B": ("merge duplicate boxes", "A with box NMS IoU 0.5", lambda t: _topdown(threads=t, iou_threshold=0.5)),
    "C": ("detector score floor", "A with score >= 0.3", lambda t: _topdown(threads=t, score_threshold=0.3)),
    "D": ("backend per stage", "A, NanoDet and Thunder on ONNX Runtime",
          lambda t: _topdown("onnxruntime", "onnxruntime", t)),
    "E": ("backend per stage", "A, NanoDet and Thunder on OpenVINO", lambda t: _topdown("openvino", "openvino", t)),
    "F": ("cascade: MultiPose boxes", "MultiPose-320 people -> Thunder on every person (score >= 0.1)",
          lambda t: _cascade(t, refine_below=1.01)),
    "G": ("cascade: refine the uncertain", "F, Thunder only for people scoring < 0.45",
          lambda t: _cascade(t, refine_below=0.45)),
    "H": ("cascade threshold", "F, Thunder only below 0.40 (multipose-thunder)", lambda t: _cascade(t, refine_below=0.40)),
    "I": ("batching crops", "H with the crops of an image in one batch", lambda t: _cascade(t, max_batch=16)),
    "J": ("backend per stage", "H, both stages on ONNX Runtime",
          lambda t: _cascade(t, first_backend="onnxruntime", refine_backend="onnxruntime")),
    "K": ("backend per stage", "H, both stages on OpenVINO",
          lambda t: _cascade(t, first_backend="openvino", refine_backend="openvino")),
    "L": ("backend per stage", "H, MultiPose on OpenVINO, Thunder on ONNX Runtime",
          lambda t: _cascade(t, first_backend="openvino", refine_backend="onnxruntime")),
    "M": ("int8", "H, Thunder on ONNX Runtime int8 (synthetic calibration)",
          lambda t: _cascade(t, refine_backend="onnxruntime-int8")),
    "Q": ("cheaper refiner", "H with MoveNet Lightning as the refiner (multipose-lightning)",
          lambda t: _cascade(t, refiner="movenet_lightning")),
    "N": ("fast mode", "multipose-320, torch", lambda t: _bottomup(320, threads=t)),
    "O": ("fast mode", "multipose-320 on OpenVINO", lambda t: _bottomup(320, "openvino", t)),
    "P": ("fast mode", "multipose-384 on OpenVINO", lambda t: _bottomup(384, "openvino", t)),
}


def crops_of(p, image) -> int:
    """Pose-model passes of the last ``p.predict(image)``: refined people (cascade), detector
    boxes (top-down), 0 (bottom-up)."""
    if hasattr(p, "refined"):
        return p.refined
    if getattr(p, "detector", None) is not None:
        return len(p.detector.detect(image)[0])
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rows", nargs="*", default=list(ROWS))
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from peer import Peer, sample_and_files
    from posekit.bench import results_of
    from posekit.metrics import coco_eval

    torch.set_num_threads(args.threads)
    found = sample_and_files()
    if found is None:
        return 0
    (gt, imgs), files = found
    preds, acc, crops = {}, {}, {}
    for key in args.rows:
        p = ROWS[key][2](args.threads)
        res, n = [], 0
        for iid, _, im in imgs:
            poses = p.predict(im)
            res.extend(results_of(poses, iid))
            n += crops_of(p, im)
        preds[key], acc[key], crops[key] = p, coco_eval(gt, res), n
        print(f"# {key}: AP {acc[key]['AP']:.3f}, {n} crops", file=sys.stderr, flush=True)
    py = os.environ.get("POSEKIT_PEER_PYTHON", "/work/peer-venv/bin/python")
    wt = os.environ.get("POSEKIT_PEER_WEIGHTS", "/work/peer-weights/yolo11n-pose.pt")
    peer = None
    if not args.no_peer and Path(py).is_file() and Path(wt).is_file():
        peer = Peer(py, wt, files, args.threads)
    ms: dict[str, list[float]] = {k: [] for k in (["peer"] if peer else []) + list(preds)}
    print(f"# load average before: {os.getloadavg()}; {args.threads} threads; {args.rounds} alternating rounds "
          f"after one warm-up round", flush=True)
    for rnd in range(args.rounds + 1):
        print(f"# round {rnd} ({'warm-up' if rnd == 0 else 'timed'}), load {os.getloadavg()[0]:.1f}", file=sys.stderr,
              flush=True)
        if peer:
            _, t = peer.run()
            if rnd:
                ms["peer"].extend(t)
        for k, p in preds.items():
            for _, _, im in imgs:
                t0 = time.perf_counter()
                p.predict(im)
                if rnd:
                    ms[k].append((time.perf_counter() - t0) * 1e3)
    if peer:
        peer.close()
    peer_med = float(np.median(ms["peer"])) if peer else None
    print("| row | lever | configuration | AP | AR | pose-model crops (4 images) | median ms | p10 | p90 | "
          "latency / peer's |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    if peer:
        t = ms["peer"]
        print(f"| peer | | YOLO11n-pose, imgsz 640, conf 0.25 (own venv) | | | | {np.median(t):.1f} | "
              f"{np.percentile(t, 10):.1f} | {np.percentile(t, 90):.1f} | 1.00 |")
    for k in preds:
        t = ms[k]
        ratio = f"{np.median(t) / peer_med:.2f}" if peer_med else "-"
        print(f"| {k} | {ROWS[k][0]} | {ROWS[k][1]} | {acc[k]['AP']:.3f} | {acc[k]['AR']:.3f} | {crops[k]} | "
              f"{np.median(t):.1f} | {np.percentile(t, 10):.1f} | {np.percentile(t, 90):.1f} | {ratio} |")
    print(f"# load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

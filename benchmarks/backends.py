"""Runtime backends of the default pipeline's two models, in one run: latency and COCO-sample AP.

    python benchmarks/backends.py                       # latency + AP, 2 threads
    python benchmarks/backends.py --repeats 40 --no-ap
    python benchmarks/backends.py --calibration real    # int8 calibrated on MPII + AIC person crops

Models: MoveNet Thunder (the pose model of ``movenet-thunder``, 256x256 crops) and NanoDet (its
person detector, 416x416). Backends (``posekit.runtime``): ``torch`` (the imported graph as the
pipelines run it: the checked TorchScript trace of ``posekit.pretrained.traced`` at batch 1),
ONNX Runtime float32, ONNX Runtime int8 (static quantisation, QDQ and QOperator formats) and
OpenVINO float32 when installed.

* Latency: batch 1, ``--threads`` threads for every runtime, after a warm-up; the backends are
  timed round-robin (one call each, in turn, ``--repeats`` rounds) so that a change in the
  machine's load hits all of them alike. Median, p10 and p90 in milliseconds, and the ratio to
  torch's median.
* Accuracy: COCO keypoint AP on ``../shared/data/coco`` (4 images, 14 people) of the default
  pipeline (NanoDet -> MoveNet Thunder) with both stages on the backend, and with int8 on one
  stage only; evaluated as ``benchmarks/predict.py`` does (``posekit.metrics.coco_eval``).
* int8 calibration: ``synthetic`` (procedural figures, :func:`posekit.runtime.synthetic_calibration`;
  default) or ``real``: person crops that the PyTorch NanoDet finds in ../shared/data/mpii and
  ../shared/data/aic (never the COCO images that the AP is measured on), whole images for NanoDet.

Prints markdown tables (for docs/export.md) and the 1-minute load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from predict import DATA, accuracy, load_coco  # noqa: E402

from posekit.models.estimator import Estimator  # noqa: E402
from posekit.pipelines.registry import build_detector, build_predictor  # noqa: E402
from posekit.runtime import (detector_with_backend, image_calibration, synthetic_calibration,  # noqa: E402
                             with_backend)


def variants(has_openvino: bool) -> list[tuple[str, str, str | None]]:
    """``(label, backend, int8 format)``."""
    out = [("torch", "torch", None), ("onnxruntime", "onnxruntime", None),
           ("onnxruntime-int8 QDQ", "onnxruntime-int8", "QDQ"),
           ("onnxruntime-int8 QOperator", "onnxruntime-int8", "QOperator")]
    if has_openvino:
        out.append(("openvino", "openvino", None))
    return out


def calibration_sets(kind: str, pose_size, det_size) -> tuple[np.ndarray | None, np.ndarray | None]:
    if kind == "synthetic":
        return None, None          # the backends' default synthetic calibration
    crops = np.concatenate([image_calibration(DATA / d, pose_size, "top-down", n=32) for d in ("mpii", "aic")])
    images = np.concatenate([image_calibration(DATA / d, det_size, "detector", n=16) for d in ("mpii", "aic")])
    return crops, images


def timed(fn, x) -> float:
    t0 = time.perf_counter()
    fn(x)
    return (time.perf_counter() - t0) * 1e3


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--calibration", choices=("synthetic", "real"), default="synthetic")
    ap.add_argument("--no-ap", action="store_true")
    ap.add_argument("--cache", default=None, help="export cache (default: a temporary folder, so every run exports)")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    try:
        import openvino  # noqa: F401
        has_ov = True
    except ImportError:
        has_ov = False
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="posekit-backends-"))

    pose = Estimator.from_pretrained("movenet_thunder", "cpu")
    det = build_detector("nanodet", "cpu")
    pose_cal, det_cal = calibration_sets(args.calibration, pose.input_size, det.input_size)
    t0 = time.perf_counter()
    pose_on, det_on = {}, {}
    for label, backend, fmt in variants(has_ov):
        extra = {} if fmt is None else {"quant_format": fmt}
        pose_on[label] = with_backend(pose, backend, args.threads, cache_dir=cache,
                                      **({"calibration": pose_cal} if fmt else {}), **extra)
        det_on[label] = detector_with_backend(det, backend, args.threads, cache_dir=cache,
                                              **({"calibration": det_cal} if fmt else {}), **extra)
    print(f"exports and quantisation: {time.perf_counter() - t0:.0f} s (cache {cache})", file=sys.stderr)

    # inputs: one real person crop and one real image, normalised as each model expects
    _, imgs = load_coco()
    image = imgs[0][2]
    boxes, _ = det.detect(image)
    from posekit.pipelines.preprocess import box_crop_affine, stretch_affine, warp_batch
    crop = warp_batch(image, [box_crop_affine(boxes[0], pose.input_size, 1.25)], pose.input_size)
    x_pose = pose.inputs(crop)
    from posekit.pretrained import normalise
    from posekit.pipelines.preprocess import to_tensor
    whole = warp_batch(image, [stretch_affine(image.shape[1], image.shape[0], det.input_size)], det.input_size)
    x_det = normalise(to_tensor(whole, torch.device("cpu")), det.card)

    load = os.getloadavg()[0]
    rows = []
    for model, on, x in (("MoveNet Thunder", pose_on, x_pose), ("NanoDet", det_on, x_det)):
        fns = {k: (v.module if model == "MoveNet Thunder" else v.model) for k, v in on.items()}
        with torch.no_grad():
            for _ in range(args.warmup):
                for f in fns.values():
                    f(x)
            times: dict[str, list[float]] = {k: [] for k in fns}
            for _ in range(args.repeats):
                for k, f in fns.items():
                    times[k].append(timed(f, x))
        base = float(np.median(times["torch"]))
        for k, t in times.items():
            med = float(np.median(t))
            rows.append((model, k, med, float(np.percentile(t, 10)), float(np.percentile(t, 90)), med / base))
    print(f"\nLatency, batch 1, {args.threads} threads, {args.repeats} round-robin rounds; "
          f"1-min load average at start {load:.1f}\n")
    print("| model | backend | median ms | p10 | p90 | vs torch |\n|---|---|---|---|---|---|")
    for model, k, med, p10, p90, ratio in rows:
        print(f"| {model} | {k} | {med:.1f} | {p10:.1f} | {p90:.1f} | {ratio:.2f}x |")

    if args.no_ap:
        return 0
    gt, imgs = load_coco()
    print(f"\nCOCO sample AP of the default pipeline (movenet-thunder), int8 calibration: {args.calibration}\n")
    print("| detector | pose model | AP | AR | poses |\n|---|---|---|---|---|")
    combos = [(k, k) for k in pose_on]
    combos += [("torch", k) for k in pose_on if "int8" in k] + [(k, "torch") for k in det_on if "int8" in k]
    for d, p in combos:
        predictor = build_predictor("movenet-thunder", "cpu")
        predictor.detector = det_on[d]
        predictor.estimator = pose_on[p]
        acc = accuracy(predictor, gt, imgs)
        print(f"| {d} | {p} | {acc['AP']:.3f} | {acc['AR']:.3f} | {acc['n']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

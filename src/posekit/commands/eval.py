"""``posekit eval GT PRED --metric coco|pck|pckh|pcp|pdj|mpii-map``: score predictions.

GT is a COCO keypoints JSON or an MPII-style list; PRED a JSON list of predictions naming their
images by ``image_id`` or ``file_name`` (see :mod:`posekit.metrics.inputs`). Prints a table, or
JSON with ``--format json``; ``--plot out.png`` draws the curves and per-joint bars.
"""

from __future__ import annotations

import argparse
import json
import logging
import math

import numpy as np

from posekit.errors import DataError, PosekitError

log = logging.getLogger(__name__)

METRICS = ("coco", "pck", "pckh", "pcp", "pdj", "mpii-map")


def register(subparsers) -> None:
    """Add the ``eval`` parser to the ``posekit`` command."""
    p = subparsers.add_parser(
        "eval", help="evaluate predictions against ground truth",
        description="Evaluate pose predictions: COCO OKS AP/AR, PCK, PCKh, PCP, PDJ or MPII "
                    "multi-person mAP.")
    p.add_argument("gt", help="ground truth: COCO keypoints JSON or MPII-style JSON list")
    p.add_argument("pred", help="predictions: JSON list of {image_id|file_name, keypoints, score}")
    p.add_argument("--metric", choices=METRICS, default="coco", help="metric (default: coco)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument("--plot", metavar="OUT.png", default=None,
                   help="draw the metric curve(s) and per-joint bars to this image")
    p.add_argument("--spec", default=None, help="keypoint spec name (default: inferred from GT)")
    p.add_argument("--alpha", type=float, default=None,
                   help="PCK threshold (default 0.2 for pck, 0.5 for pckh / mpii-map, 0.5 for pcp)")
    p.add_argument("--norm", choices=("bbox", "torso"), default="bbox",
                   help="PCK reference length (pck only; pckh uses the head)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; returns the exit code."""
    from posekit.metrics import inputs
    from posekit.skeleton import get_spec

    try:
        spec = get_spec(args.spec) if args.spec else None
    except KeyError as e:
        raise PosekitError(str(e.args[0])) from None
    gt = inputs.load_ground_truth(args.gt, spec)
    result = _METRIC_FUNCS[args.metric](args, gt)
    if args.format == "json":
        print(json.dumps(_jsonable(result["numbers"]), indent=2))
    else:
        print(_table(result["title"], result["numbers"]))
    if args.plot:
        from posekit.metrics.plots import save_eval_plot
        save_eval_plot(args.plot, title=result["title"], **result.get("plot", {}))
        log.info("plot written to %s", args.plot)
    return 0


# ---------------------------------------------------------------------------- metrics
def _coco(args, gt) -> dict:
    from posekit.metrics import evaluate_coco, inputs

    if gt.coco is None:
        raise DataError(gt.path, "the coco metric needs COCO ground truth JSON")
    from posekit.metrics.coco import load_coco_json
    raw, name = load_coco_json(args.pred, "predictions")
    if not isinstance(raw, list):
        raise DataError(name, "predictions must be a JSON list")
    res = evaluate_coco(gt.coco, inputs.coco_results(gt, raw, name), spec=gt.spec,
                        gt_name=gt.path, results_name=name)
    numbers = dict(res.stats)
    plot = None
    if args.plot:
        rec = np.linspace(0, 1, 101)
        curves = {}
        for t, label in ((0, "OKS 0.50"), (5, "OKS 0.75")):
            pr = res.precision[t, :, :, 0]
            pr = np.where(pr > -1, pr, np.nan)
            if np.isfinite(pr).any():
                curves[label] = (rec, np.nanmean(pr, axis=1))
        plot = {"curves": curves, "curve_labels": ("recall", "precision"),
                "bars": {k: max(v, 0.0) for k, v in numbers.items()}, "bar_label": "value"}
    return {"title": "COCO keypoints (OKS)", "numbers": numbers, "plot": plot or {}}


def _single(gt, args):
    from posekit.metrics import inputs
    per_image, kps, _, _ = inputs.load_predictions(args.pred, gt)
    return inputs.align_people(gt, per_image, kps)


def _pck_like(args, gt, head: bool) -> dict:
    from posekit.metrics.pck import (
        bbox_size, head_segment_size, head_size, mpii_summary, pck, pck_auc, pck_curve, torso_size,
    )

    pred, g, boxes, heads = _single(gt, args)
    spec = gt.spec
    if head:
        if heads is not None:
            ref = head_size(heads)
        else:
            try:
                ref = head_segment_size(g, spec)
            except ValueError:
                raise DataError(gt.path, "PCKh needs MPII head boxes ('head_box') or head_top and "
                                         f"neck joints, which spec {spec.name} lacks") from None
            log.info("no head boxes in %s: PCKh uses the head segment (head_top - neck)", gt.path)
        alpha = 0.5 if args.alpha is None else args.alpha
        norm = "head"
    else:
        alpha = 0.2 if args.alpha is None else args.alpha
        norm = args.norm
        if norm == "torso":
            try:
                ref = torso_size(g, spec)
            except ValueError as e:
                raise DataError(gt.path, str(e)) from None
        else:
            ref = bbox_size(boxes)
    res = pck(pred, g, ref, alpha, spec)
    name = "PCKh" if head else f"PCK ({norm})"
    auc_max = max(alpha, 0.5) if head else alpha       # PCKh: AUC over [0, 0.5] as usual
    numbers: dict = {"alpha": alpha, "per_joint": res.table(), "mean": res.mean,
                     "auc": pck_auc(pred, g, ref, alpha_max=auc_max), "auc_alpha_max": auc_max}
    if {"left_shoulder", "left_hip", "head_top"} <= set(spec.names) or spec.name == "mpii16":
        numbers["mpii"] = mpii_summary(res, spec)
    plot = {}
    if args.plot:
        alphas = np.linspace(0, max(alpha * 2, 0.5), 51)
        _, curve = pck_curve(pred, g, ref, alphas)
        plot = {"curves": {name: (alphas, curve)}, "curve_labels": ("alpha", name),
                "bars": {n: v for n, v in zip(spec.names, res.per_joint)},
                "bar_label": f"{name}@{alpha:g}"}
    return {"title": f"{name}@{alpha:g}", "numbers": numbers, "plot": plot}


def _pck(args, gt) -> dict:
    return _pck_like(args, gt, head=False)


def _pckh(args, gt) -> dict:
    return _pck_like(args, gt, head=True)


def _pcp(args, gt) -> dict:
    from posekit.metrics.pcp import pcp

    pred, g, _, _ = _single(gt, args)
    t = 0.5 if args.alpha is None else args.alpha
    res = pcp(pred, g, gt.spec, t)
    plot = {}
    if args.plot:
        plot = {"bars": {**{f"{k} (strict)": v for k, v in res.strict.items()},
                         **{f"{k} (loose)": v for k, v in res.loose.items()}},
                "bar_label": f"PCP@{t:g}"}
    return {"title": f"PCP@{t:g}", "numbers": {"threshold": t, **res.table(), "counts": res.counts},
            "plot": plot}


def _pdj(args, gt) -> dict:
    from posekit.metrics.pdj import pdj_curve

    pred, g, _, _ = _single(gt, args)
    try:
        res = pdj_curve(pred, g, gt.spec)
    except ValueError as e:
        raise DataError(gt.path, str(e)) from None
    at = res.at(0.2)
    numbers = {"at_0.2": at, "mean_at_0.2": at["mean"],
               "curve": {f"{f:.2f}": float(m) for f, m in zip(res.fractions, res.mean)}}
    plot = {}
    if args.plot:
        plot = {"curves": {"PDJ (mean)": (res.fractions, res.mean)},
                "curve_labels": ("fraction of torso diameter", "PDJ"),
                "bars": {n: at[n] for n in gt.spec.names}, "bar_label": "PDJ@0.2"}
    return {"title": "PDJ", "numbers": numbers, "plot": plot}


def _mpii_map(args, gt) -> dict:
    from posekit.metrics import inputs
    from posekit.metrics.mpii import MPIIImage, mpii_map, mpii_map_summary
    from posekit.metrics.pck import head_segment_size, head_size

    per_image, kps, _, _ = inputs.load_predictions(args.pred, gt)
    images = []
    for im, idx in zip(gt.images, per_image):
        keep = ~im.crowd
        g = im.keypoints[keep]
        if im.head_boxes is not None:
            hs = head_size(im.head_boxes[keep])
        else:
            try:
                hs = head_segment_size(g, gt.spec)
            except ValueError:
                raise DataError(gt.path, "mpii-map needs head boxes or head_top and neck joints") from None
        images.append(MPIIImage(g, hs, kps[idx] if idx else np.zeros((0, gt.spec.num_keypoints, 3))))
    t = 0.5 if args.alpha is None else args.alpha
    res = mpii_map(images, gt.spec, t)
    numbers = {"per_joint": res.table(), "mAP": res.mean, "mpii": mpii_map_summary(res, gt.spec)}
    plot = {}
    if args.plot:
        plot = {"bars": dict(zip(gt.spec.names, res.per_joint)), "bar_label": "AP"}
    return {"title": f"MPII multi-person mAP (PCKh@{t:g})", "numbers": numbers, "plot": plot}


_METRIC_FUNCS = {"coco": _coco, "pck": _pck, "pckh": _pckh, "pcp": _pcp, "pdj": _pdj,
                 "mpii-map": _mpii_map}


# ---------------------------------------------------------------------------- output
def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


def _table(title: str, numbers: dict) -> str:
    lines = [title]

    def emit(prefix: str, d: dict) -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                lines.append(f"{prefix}{k}:")
                emit(prefix + "  ", v)
            elif isinstance(v, (float, np.floating)):
                lines.append(f"{prefix}{k:<22} {v:8.4f}" if math.isfinite(v) else f"{prefix}{k:<22} {'n/a':>8}")
            else:
                lines.append(f"{prefix}{k:<22} {v!s:>8}")

    emit("  ", numbers)
    return "\n".join(lines)

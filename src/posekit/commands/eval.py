"""``posekit eval GT PRED --metric coco|pck|pckh|pcp|pdj|mpii-map``: score predictions.

GT is any annotation file posekit reads (COCO keypoints JSON, MPII JSON or ``.mat``, LSP, FLIC,
AI Challenger, J-HMDB), read by its reader, so in posekit's 0-based pixel frame; PRED a JSON
list of predictions in that frame naming their images by ``image_id`` or ``file_name`` (see
:mod:`posekit.metrics.inputs`). Prints a table, or JSON with ``--format json``; ``--plot
out.png`` draws the curves and per-joint bars.

Predictions of another keypoint spec (COCO-17 results on CrowdPose-14 or MPII-16 ground truth)
are carried over through the joints both specs have, found from the keypoint count or named
with ``--remap SPEC``; only those joints are scored, and a note says which. Predictions naming
images absent from the ground truth are an error (one line saying how many) unless
``--skip-unknown`` skips them (a note says how many).
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
                    "multi-person mAP. Ground truth and predictions are in posekit's frame "
                    "(0-based pixel centres); 1-based sources such as MPII are converted when read.")
    p.add_argument("gt", help="ground truth: COCO keypoints JSON, MPII JSON list or .mat, LSP/FLIC "
                              "/J-HMDB .mat, AI Challenger JSON")
    p.add_argument("pred", help="predictions: JSON list of {image_id|file_name, keypoints, score}")
    p.add_argument("--metric", choices=METRICS, default="coco", help="metric (default: coco)")
    p.add_argument("--format", choices=("table", "json"), default="table", help="output format")
    p.add_argument("--plot", metavar="OUT.png", default=None,
                   help="draw the metric curve(s) and per-joint bars to this image file")
    p.add_argument("--spec", default=None, help="the ground truth's keypoint spec (default: its reader's)")
    p.add_argument("--remap", metavar="SPEC", default=None,
                   help="the predictions' keypoint spec when it is not the ground truth's (default: "
                        "found from the keypoint count when one spec has it); the joints both "
                        "specs have are scored")
    p.add_argument("--skip-unknown", action="store_true",
                   help="skip predictions naming images that are not in the ground truth")
    p.add_argument("--alpha", type=float, default=None,
                   help="PCK threshold (default 0.2 for pck, 0.5 for pckh / mpii-map, 0.5 for pcp)")
    p.add_argument("--norm", choices=("bbox", "torso"), default="bbox",
                   help="PCK reference length (pck only; pckh uses the head)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the evaluation; returns the exit code."""
    from posekit.io import output_file
    from posekit.metrics import inputs
    from posekit.skeleton import get_spec

    try:
        spec = get_spec(args.spec) if args.spec else None
    except KeyError as e:
        raise PosekitError(str(e.args[0])) from None
    plot_path = output_file(args.plot) if args.plot else None      # checked before any work
    gt_all = inputs.load_ground_truth(args.gt, spec)
    preds = inputs.load_predictions(args.pred, gt_all, skip_unknown=args.skip_unknown,
                                    remap=args.remap, require_score=args.metric == "coco")
    gt = inputs.restrict(gt_all, preds.joints, preds.source_spec)
    result = _METRIC_FUNCS[args.metric](args, gt, preds)
    notes = _notes(gt_all, gt, preds) + result.get("notes", [])
    if args.format == "json":
        out = dict(result["numbers"])
        if notes:
            out["notes"] = notes
        print(json.dumps(_jsonable(out), indent=2))
    else:
        print(_table(result["title"], result["numbers"]))
        for note in notes:
            print(f"note: {note}")
    if plot_path is not None:
        from posekit.metrics.plots import save_eval_plot
        save_eval_plot(plot_path, title=result["title"], **result.get("plot", {}))
        log.info("plot written to %s", plot_path)
    return 0


def _notes(gt_all, gt, preds) -> list[str]:
    """What a reader of the numbers must know: skipped predictions, scored joints."""
    notes = []
    if preds.skipped:
        notes.append(f"skipped {preds.skipped} prediction(s) naming images that are not in {gt.path}")
    if preds.source_spec != gt_all.spec:
        left = [n for n in gt_all.spec.names if n not in gt.spec.names]
        notes.append(f"predictions are {preds.source_spec.name}, ground truth {gt_all.spec.name}: "
                     f"scored the {gt.spec.num_keypoints} keypoints both have ({', '.join(gt.spec.names)})"
                     + (f"; not scored: {', '.join(left)}" if left else ""))
    return notes


# ---------------------------------------------------------------------------- metrics
def _coco(args, gt, preds) -> dict:
    from posekit.metrics import evaluate_coco

    if gt.spec.sigmas is None:
        raise DataError(gt.path, f"the coco metric needs OKS sigmas, which spec {gt.spec.name} does "
                                 "not define; use pck, pckh, pcp, pdj or mpii-map")
    res = evaluate_coco(gt.coco, preds.coco, spec=gt.spec)
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


def _single(gt, preds):
    from posekit.metrics import inputs
    return inputs.align_people(gt, preds.per_image, preds.keypoints)


def _pck_like(args, gt, preds, head: bool) -> dict:
    from posekit.metrics.pck import (
        bbox_size, head_segment_size, head_size, mpii_summary, pck, pck_auc, pck_auc_mmpose,
        pck_curve, torso_size,
    )

    pred, g, boxes, heads = _single(gt, preds)
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
    numbers: dict = {"alpha": alpha, "per_joint": dict(zip(spec.names, res.per_joint)),
                     "mean": res.mean, "auc": float("nan"), "auc_mmpose": float("nan"),
                     "auc_alpha_max": auc_max}
    if auc_max > 0:
        numbers["auc"] = pck_auc(pred, g, ref, alpha_max=auc_max)
        numbers["auc_mmpose"] = pck_auc_mmpose(pred, g, ref, alpha_max=auc_max)
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


def _pck(args, gt, preds) -> dict:
    return _pck_like(args, gt, preds, head=False)


def _pckh(args, gt, preds) -> dict:
    return _pck_like(args, gt, preds, head=True)


def _pcp(args, gt, preds) -> dict:
    from posekit.metrics.pcp import pcp

    pred, g, _, _ = _single(gt, preds)
    t = 0.5 if args.alpha is None else args.alpha
    res = pcp(pred, g, gt.spec, t)
    plot = {}
    if args.plot:
        plot = {"bars": {**{f"{k} (strict)": v for k, v in res.strict.items()},
                         **{f"{k} (loose)": v for k, v in res.loose.items()}},
                "bar_label": f"PCP@{t:g}"}
    return {"title": f"PCP@{t:g}", "numbers": {"threshold": t, **res.table(), "counts": res.counts},
            "plot": plot}


def _pdj(args, gt, preds) -> dict:
    from posekit.metrics.pdj import pdj_curve

    pred, g, _, _ = _single(gt, preds)
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


def _mpii_map(args, gt, preds) -> dict:
    from posekit.metrics.mpii import MPIIImage, mpii_map, mpii_map_summary
    from posekit.metrics.pck import head_segment_size, head_size

    k = gt.spec.num_keypoints
    images = []
    for im, idx in zip(gt.images, preds.per_image):
        keep = ~im.crowd
        g = im.keypoints[keep]
        if im.head_boxes is not None:
            hs = head_size(im.head_boxes[keep])
        else:
            try:
                hs = head_segment_size(g, gt.spec)
            except ValueError:
                raise DataError(gt.path, "mpii-map needs head boxes or head_top and neck joints") from None
        images.append(MPIIImage(g, hs, preds.keypoints[idx] if idx else np.zeros((0, k, 3))))
    t = 0.5 if args.alpha is None else args.alpha
    res = mpii_map(images, gt.spec, t)
    numbers = {"per_joint": {n: float(v) for n, v, s in zip(res.names, res.per_joint, res.scored) if s},
               "mAP": res.mean, "mpii": mpii_map_summary(res, gt.spec)}
    notes = []
    no_pred = sum(1 for im in images if len(im.gt_keypoints) and not len(im.pred_keypoints))
    if no_pred:
        notes.append(f"{no_pred} image(s) with ground-truth people have no prediction: as in the "
                     "official MPII evaluation, their people are not counted (missing them does not "
                     "lower the AP)")
    no_gt = sum(1 for im in images if len(im.pred_keypoints) and not len(im.gt_keypoints))
    if no_gt:
        notes.append(f"{no_gt} image(s) without ground-truth people have predictions: as in the "
                     "official MPII evaluation, they are not counted as false positives")
    plot = {}
    if args.plot:
        plot = {"bars": numbers["per_joint"], "bar_label": "AP"}
    return {"title": f"MPII multi-person mAP (PCKh@{t:g})", "numbers": numbers, "plot": plot,
            "notes": notes}


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
    """``title`` then one line per number (nested dicts indented under their key)."""
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

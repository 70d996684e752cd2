"""Top-down evaluation with ground-truth boxes: crop, (flip test), decode, back-project, score.

    metrics = evaluate_checkpoint("run/checkpoint.safetensors", gt="person_keypoints_val.json",
                                  images="val2017/")

Every labelled, non-crowd person of the ground truth is cropped from its box (padding 1.25,
the model's input size), the model's heads are decoded by the checkpoint's codec, optionally
averaged with the prediction on the mirrored crop (heatmaps are flipped back and their
left/right channels swapped before averaging), mapped to image pixels through the inverse of
the crop's affine, and scored:

* ``"coco"``: OKS AP/AR via :func:`posekit.metrics.coco_eval` (result score = mean of the
  keypoint scores above 0.2, as in Simple Baselines' rescoring; GT boxes have score 1);
* ``"pck"``: PCK@0.2 normalised by the torso diameter and by the box size;
* ``"pckh"``: PCKh@0.5 with the MPII head boxes (or head segment).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from posekit.codecs.heatmap import flip_back_keypoints, flip_heatmaps, to_image
from posekit.codecs.regression import RegressionCodec
from posekit.data.records import ImageRecord
from posekit.errors import PosekitError
from posekit.skeleton import KeypointSpec

__all__ = ["predict_topdown", "score_predictions", "evaluate_model", "evaluate_checkpoint", "mean_pose_baseline",
           "METRICS"]

METRICS = ("coco", "pck", "pckh")


@torch.no_grad()
def predict_topdown(model: nn.Module, codec, dataset, spec: KeypointSpec, device: torch.device,
                    flip_test: bool = True, batch_size: int = 32) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Keypoints ``(N, K, 3)`` ``[x, y, score]`` in image pixels for the N samples of a
    TopDownDataset (built with ``train=False``), and each sample's ``(image_index, person_index)``."""
    was_training = model.training
    model.eval()
    out, where = [], []
    try:
        for start in range(0, len(dataset), batch_size):
            samples = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            images = torch.stack([s["image"] for s in samples]).to(device)
            affines = torch.stack([s["affine"] for s in samples])
            heads = model(images)
            if flip_test:
                heads_f = model(images.flip(-1))
            if isinstance(codec, RegressionCodec):
                kp = codec.decode(heads)
                if flip_test:
                    kp_f = flip_back_keypoints(codec.decode(heads_f), spec.flip_index, codec.input_size[0])
                    kp = 0.5 * (kp + kp_f)
            else:
                hm = heads[-1] if isinstance(heads, (list, tuple)) else heads
                if flip_test:
                    hm_f = heads_f[-1] if isinstance(heads_f, (list, tuple)) else heads_f
                    hm = 0.5 * (hm + flip_heatmaps(hm_f, spec.flip_index, shift=codec.flip_shift))
                kp = codec.decode(hm.float())
            out.append(to_image(kp.cpu(), affines).numpy())
            where += [(int(s["image_index"]), int(s["person_index"])) for s in samples]
    finally:
        model.train(was_training)
    K = spec.num_keypoints
    return (np.concatenate(out) if out else np.zeros((0, K, 3), np.float32)), where


def score_predictions(pred: np.ndarray, where: list[tuple[int, int]], records: list[ImageRecord],
                      spec: KeypointSpec, metric: str, gt_coco=None) -> dict[str, float]:
    """Metrics of predictions ``(N, K, 3)`` (image pixels) for the people ``where``."""
    if metric not in METRICS:
        raise PosekitError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    if metric == "coco":
        from posekit.metrics import coco_eval
        results = []
        for kp, (i, _) in zip(pred, where):
            s = kp[:, 2]
            good = s > 0.2
            score = float(s[good].mean()) if good.any() else 0.0
            results.append({"image_id": int(records[i].image_id), "category_id": 1,
                            "keypoints": [float(v) for v in kp.reshape(-1)], "score": score})
        if gt_coco is None:
            from posekit.data.formats.coco import records_to_coco
            gt_coco = records_to_coco(records, spec)
        if isinstance(gt_coco, (str, Path)):
            gt_coco = str(gt_coco)
        return {k: float(v) for k, v in coco_eval(gt_coco, results, spec=spec).items()}
    from posekit.metrics.pck import bbox_size, pck, pckh, torso_size
    gt = np.stack([records[i].keypoints[p] for i, p in where]) if where else np.zeros((0, spec.num_keypoints, 3))
    if metric == "pckh":
        heads = [records[i].head_boxes for i, _ in where]
        if all(h is not None for h in heads) and heads:
            hb = np.stack([records[i].head_boxes[p] for i, p in where])
            return {"pckh@0.5": pckh(pred, gt, hb, 0.5, spec).mean}
        return {"pckh@0.5": pckh(pred, gt, None, 0.5, spec).mean}
    boxes = np.stack([records[i].boxes[p] for i, p in where])
    return {"pck@0.2_torso": pck(pred, gt, torso_size(gt, spec), 0.2, spec).mean,
            "pck@0.2_bbox": pck(pred, gt, bbox_size(boxes), 0.2, spec).mean,
            "pck@0.05_bbox": pck(pred, gt, bbox_size(boxes), 0.05, spec).mean}


def evaluate_model(model: nn.Module, codec, eval_set, spec: KeypointSpec, device: torch.device,
                   flip_test: bool = True, batch_size: int = 32) -> dict[str, float]:
    """Predict and score an :class:`posekit.engine.data.EvalSet`."""
    pred, where = predict_topdown(model, codec, eval_set.dataset, spec, device, flip_test, batch_size)
    return score_predictions(pred, where, eval_set.records, spec, eval_set.metric, eval_set.gt_coco)


def evaluate_checkpoint(checkpoint: str | Path, gt: str | Path, images: str | Path, metric: str | None = None,
                        device: str | None = None, flip_test: bool = True, batch_size: int = 32) -> dict[str, float]:
    """Evaluate a training checkpoint on an annotation file (COCO JSON, MPII JSON/.mat, ...)
    with its images folder. ``metric`` defaults to ``"coco"`` for COCO files, ``"pckh"`` for
    MPII and ``"pck"`` otherwise."""
    from posekit.data.datasets import FolderImages, TopDownDataset
    from posekit.data.formats import detect_format, read_annotations
    from posekit.device import resolve_device
    from posekit.engine.checkpoint import load_checkpoint
    from posekit.engine.config import config_from_dict
    from posekit.engine.data import build_codec, create_model
    from posekit.skeleton import get_spec

    ckpt = load_checkpoint(checkpoint)
    cfg = config_from_dict(ckpt.config, source=ckpt.path)
    try:
        spec = get_spec(ckpt.spec.get("name", cfg.data.spec))
    except KeyError as e:
        raise PosekitError(f"{ckpt.path}: {e.args[0]}") from None
    dev = resolve_device(device)
    model = create_model(ckpt.arch, spec.num_keypoints, cfg.model.kwargs)
    ckpt.load_model(model, ckpt.arch, spec, kwargs=cfg.model.kwargs)
    model.to(dev)
    codec = build_codec(cfg)
    fmt = detect_format(Path(gt))
    records = read_annotations(gt, image_dir=images, spec=spec)
    if records and records[0].spec.num_keypoints != spec.num_keypoints:
        raise PosekitError(f"{gt}: {records[0].spec.num_keypoints} keypoints per person, but the checkpoint's "
                           f"model predicts {spec.num_keypoints} ({spec.name})")
    metric = metric or {"coco": "coco", "mpii": "pckh"}.get(fmt, "pck")
    if metric == "coco" and fmt != "coco":
        raise PosekitError(f"{gt}: metric 'coco' needs a COCO keypoints JSON (this file is {fmt})")
    ds = TopDownDataset(records, FolderImages(images), spec, input_size=tuple(cfg.data.input_size), train=False)
    pred, where = predict_topdown(model, codec, ds, spec, dev, flip_test, batch_size)
    return score_predictions(pred, where, records, spec, metric, str(gt) if metric == "coco" else None)


def mean_pose_baseline(train_dataset, eval_set, spec: KeypointSpec) -> dict[str, float]:
    """Chance level for a top-down evaluation: every evaluated person gets the mean crop-frame
    pose of the training crops (``train_dataset`` built with ``train=False``), mapped back
    through its crop's affine. A model has learned something only where it beats this."""
    kps = np.stack([train_dataset[i]["keypoints"].numpy() for i in range(len(train_dataset))])
    labelled = kps[..., 2:3] > 0
    mean_pose = (kps[..., :2] * labelled).sum(0) / np.maximum(labelled.sum(0), 1)
    samples = [eval_set.dataset[i] for i in range(len(eval_set.dataset))]
    crop = np.concatenate([np.broadcast_to(mean_pose, (len(samples), *mean_pose.shape)),
                           np.ones((len(samples), mean_pose.shape[0], 1))], axis=-1).astype(np.float32)
    pred = to_image(torch.from_numpy(crop), torch.stack([s["affine"] for s in samples])).numpy()
    where = [(int(s["image_index"]), int(s["person_index"])) for s in samples]
    return score_predictions(pred, where, eval_set.records, spec, eval_set.metric, eval_set.gt_coco)

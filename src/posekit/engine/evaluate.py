"""Top-down evaluation: prediction on ground-truth (or given) person boxes, then the metrics.

    metrics = evaluate_checkpoint("run/checkpoint.safetensors", gt="person_keypoints_val.json",
                                  images="val2017/")

:func:`evaluate_checkpoint` (``posekit eval-model``) is ``posekit predict`` on the boxes followed
by ``posekit eval``, through the same code: the checkpoint becomes an
:class:`~posekit.models.estimator.Estimator`, a
:class:`~posekit.pipelines.topdown.TopDownPredictor` crops every box (padding 1.25, the model's
input size and warp), runs the estimator (with the flip test: the mirrored crops' heads mapped
back by the codec's ``flip_back`` and averaged), decodes, maps back to the image and scores
each pose (``sqrt(box score) * confident-keypoint mass``, box score 1 for ground-truth boxes);
poses become COCO results entries exactly as ``predict`` writes them (``Poses.to_coco``) and
are scored in memory (no JSON file in between):

* ``"coco"``: OKS AP/AR via :func:`posekit.metrics.coco_eval` on the file's ground truth;
* ``"pck"``: PCK@0.2 normalised by the torso diameter and by the box size;
* ``"pckh"``: PCKh@0.5 with the MPII head boxes (or head segment).

Ground-truth boxes: every labelled, non-crowd person (the people a ``TopDownDataset`` holds,
with its box rule), no pose NMS. Given boxes (a COCO results file of person boxes, ``boxes``):
those scoring at least ``box_score`` in each image, OKS-NMS as ``predict`` applies (COCO AP only).

The engine's periodic evaluation (:func:`evaluate_model`) feeds dataset batches (the same crops)
through the same estimator methods (``heads`` with the flip test, ``decode``) and scores with
:func:`score_predictions`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from posekit.codecs.heatmap import to_image
from posekit.data.records import ImageRecord
from posekit.errors import PosekitError
from posekit.skeleton import KeypointSpec

__all__ = ["predict_topdown", "score_predictions", "evaluate_model", "evaluate_checkpoint", "mean_pose_baseline",
           "training_estimator", "METRICS"]

METRICS = ("coco", "pck", "pckh")


def training_estimator(model: nn.Module, codec, spec: KeypointSpec):
    """The :class:`~posekit.models.estimator.Estimator` of a model being trained: its codec,
    the datasets' normalisation, the codec's input size."""
    from posekit.models.estimator import Estimator, imagenet_inputs
    return Estimator(model, codec, input_size=codec.input_size, spec=spec, normalise=imagenet_inputs,
                     name=getattr(model, "zoo_name", type(model).__name__))


@torch.no_grad()
def predict_topdown(model: nn.Module, codec, dataset, spec: KeypointSpec, device: torch.device,
                    flip_test: bool = True, batch_size: int = 32) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Keypoints ``(N, K, 3)`` ``[x, y, score]`` in image pixels for the N samples of a
    TopDownDataset (built with ``train=False``), and each sample's ``(image_index, person_index)``.
    The samples' normalised crops go through :meth:`Estimator.heads` (flip test included) and
    :meth:`Estimator.decode`, then back through each crop's affine."""
    est = training_estimator(model, codec, spec)
    was_training = model.training
    model.eval()
    out, where = [], []
    try:
        for start in range(0, len(dataset), batch_size):
            samples = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            images = torch.stack([s["image"] for s in samples]).to(device)
            affines = torch.stack([s["affine"] for s in samples])
            kp = est.decode(est.heads(images, flip_test))[:, 0]
            out.append(to_image(kp.cpu(), affines).numpy())
            where += [(int(s["image_index"]), int(s["person_index"])) for s in samples]
    finally:
        model.train(was_training)
    K = spec.num_keypoints
    return (np.concatenate(out) if out else np.zeros((0, K, 3), np.float32)), where


def score_predictions(pred: np.ndarray, where: list[tuple[int, int]], records: list[ImageRecord],
                      spec: KeypointSpec, metric: str, gt_coco=None) -> dict[str, float]:
    """Metrics of predictions ``(N, K, 3)`` (image pixels) for the people ``where``. COCO AP
    scores each pose by the mean of its keypoint scores above 0.2 (Simple Baselines' rescoring)
    against the records' ground truth (``gt_coco`` is not used: no COCO JSON in between)."""
    if metric not in METRICS:
        raise PosekitError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    if metric == "coco":
        from posekit.data.formats import CocoGroundTruth, CocoResults
        from posekit.metrics import coco_eval
        truth = CocoGroundTruth.from_records(records, spec)        # no COCO JSON in between
        scores = [float(s[s > 0.2].mean()) if (s > 0.2).any() else 0.0 for s in pred[:, :, 2]]
        results = CocoResults.create(truth.image_ids[[i for i, _ in where]].reshape(-1), pred, scores)
        return {k: float(v) for k, v in coco_eval(truth, results, spec=spec).items()}
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
                        device: str | None = None, flip_test: bool = True, batch_size: int | None = None,
                        boxes: str | Path | None = None, box_score: float = 0.0) -> dict[str, float]:
    """Evaluate a training checkpoint on an annotation file (COCO JSON, MPII JSON/.mat, ...)
    with its images folder: ``posekit predict`` on the ground-truth boxes (or on ``boxes``, a
    COCO results file of person boxes, those scoring at least ``box_score``) followed by the
    metric (see the module doc). ``metric`` defaults to ``"coco"`` for COCO files, ``"pckh"``
    for MPII and ``"pck"`` otherwise.

    ``batch_size``: crops per forward pass, default ``predict``'s
    (:func:`posekit.device.default_crop_batch`: 1 on the CPU). Images run one at a time, as in
    ``predict``: a network's output can differ in its last bits with the batch it runs in (a
    SimpleBaseline on the COCO sample: up to 6e-5 px between 1 and 32 crops per pass), and
    equal batches keep the two equal to the last digit."""
    from posekit.data.datasets import FolderImages, TopDownDataset
    from posekit.data.formats import detect_format, read_annotations, read_coco_ground_truth
    from posekit.device import default_crop_batch
    from posekit.models.estimator import Estimator
    from posekit.pipelines.topdown import TopDownPredictor

    est = Estimator.from_checkpoint(checkpoint, device)
    spec = est.spec
    fmt = detect_format(Path(gt))
    truth = read_coco_ground_truth(gt, spec) if fmt == "coco" else None
    records = truth.to_records() if truth is not None else read_annotations(gt, image_dir=images, spec=spec)
    if records and records[0].spec.num_keypoints != spec.num_keypoints:
        raise PosekitError(f"{gt}: {records[0].spec.num_keypoints} keypoints per person, but the checkpoint's "
                           f"model predicts {spec.num_keypoints} ({spec.name})")
    metric = metric or {"coco": "coco", "mpii": "pckh"}.get(fmt, "pck")
    if metric not in METRICS:
        raise PosekitError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    if metric == "coco" and fmt != "coco":
        raise PosekitError(f"{gt}: metric 'coco' needs a COCO keypoints JSON (this file is {fmt})")
    if boxes is not None and metric != "coco":
        raise PosekitError(f"--boxes: metric {metric!r} scores one prediction per annotated person, from its "
                           "ground-truth box; given boxes are scored with metric 'coco'")
    source = FolderImages(images)
    predictor = TopDownPredictor(None, est, pose_nms="none" if boxes is None else "oks",
                                 max_batch=batch_size or default_crop_batch(est.device), flip_test=flip_test)
    # per image: (boxes (M, 4) xyxy, box scores (M,), the ground-truth people they are)
    if boxes is not None:
        from posekit.pipelines.detector import PersonBoxes
        given = PersonBoxes.read(boxes, box_score)
        people = [(*given.of_image(r.image_id), []) for r in records]
    else:      # the people a TopDownDataset evaluates: labelled, not crowd; its box rule
        ds = TopDownDataset(records, source, spec, input_size=est.input_size, train=False)
        who: list[list[int]] = [[] for _ in records]
        for i, p in ds.samples:
            who[i].append(p)
        people = [(np.array([ds.person_box(i, p) for p in ps], np.float32).reshape(-1, 4),
                   np.ones(len(ps), np.float32), ps) for i, ps in enumerate(who)]
    if metric == "coco":
        from posekit.data.formats import parse_coco_results
        from posekit.metrics import coco_eval
        entries: list[dict] = []
        for r, (b, sc, _) in zip(records, people):
            if len(b):
                entries += predictor.predict_boxes(source.get(r.file_name), b, sc).to_coco(image_id=r.image_id)
        results = parse_coco_results(entries, "<eval-model>", spec.num_keypoints)   # what predict writes
        return {k: float(v) for k, v in coco_eval(truth, results, spec=spec).items()}
    pred, where = [], []
    for i, (r, (b, _, ps)) in enumerate(zip(records, people)):
        if len(b):
            pred += predictor.keypoints_in_boxes([source.get(r.file_name)], [b])
            where += [(i, p) for p in ps]
    pred_arr = np.concatenate(pred) if pred else np.zeros((0, spec.num_keypoints, 3), np.float32)
    return score_predictions(pred_arr, where, records, spec, metric)


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

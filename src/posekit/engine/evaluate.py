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

import copy
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posekit.codecs.heatmap import to_image
from posekit.data.records import ImageRecord
from posekit.engine.config import EvalConfig
from posekit.errors import PosekitError
from posekit.skeleton import KeypointSpec

__all__ = ["predict_topdown", "score_predictions", "evaluate_model", "evaluate_checkpoint", "mean_pose_baseline",
           "training_estimator", "with_flip_shift", "protocol_predictor", "coco_on_boxes", "checkpoint_protocol", "METRICS",
           "evaluate_bottomup", "bottomup_predictor", "coco_whole_images"]

METRICS = ("coco", "pck", "pckh")


def training_estimator(model: nn.Module, codec, spec: KeypointSpec, flip_shift: str = "auto"):
    """The :class:`~posekit.models.estimator.Estimator` of a model being trained: its codec
    (with ``eval.flip_shift`` applied, :func:`with_flip_shift`), the datasets' normalisation,
    the codec's input size."""
    from posekit.models.estimator import Estimator, imagenet_inputs
    return Estimator(model, with_flip_shift(codec, flip_shift), input_size=codec.input_size, spec=spec,
                     normalise=imagenet_inputs, name=getattr(model, "zoo_name", type(model).__name__))


def with_flip_shift(codec, flip_shift: str):
    """``codec`` for ``eval.flip_shift``: itself for ``"auto"`` (its own ``flip_shift``), else a
    shallow copy whose flipped-back heatmaps are shifted one pixel right (``"on"``) or not
    (``"off"``). The training's codec is never modified."""
    if flip_shift not in ("auto", "on", "off"):
        raise PosekitError(f"eval.flip_shift={flip_shift!r}; valid: auto, on, off")
    if flip_shift == "auto" or bool(getattr(codec, "flip_shift", False)) == (flip_shift == "on"):
        return codec
    from posekit.codecs.regression import RegressionCodec
    if not hasattr(codec, "flip_shift") or isinstance(codec, RegressionCodec):
        raise PosekitError(f"eval.flip_shift={flip_shift!r}: the codec {type(codec).__name__} has no heatmap to shift")
    out = copy.copy(codec)
    out.flip_shift = flip_shift == "on"
    return out


def protocol_predictor(estimator, protocol: EvalConfig, flip_test: bool, given_boxes: bool, max_batch: int,
                       as_predict: bool = False):
    """The :class:`~posekit.pipelines.topdown.TopDownPredictor` (no detector) of an evaluation
    protocol: instance scores by :func:`~posekit.pipelines.topdown.recipe_instance_scores` at
    ``keypoint_score_threshold``; on given boxes, OKS-NMS at ``oks_nms_threshold`` (1 = none);
    on ground-truth boxes, no pose NMS. ``as_predict``: scores and OKS-NMS as ``posekit
    predict`` applies them instead (``instance_scores``, OKS-NMS 0.5 on given boxes)."""
    from posekit.pipelines.topdown import TopDownPredictor, recipe_instance_scores
    if as_predict:
        return TopDownPredictor(None, estimator, pose_nms="oks" if given_boxes else "none", max_batch=max_batch,
                                flip_test=flip_test)
    nms = "oks" if given_boxes and protocol.oks_nms_threshold < 1 else "none"
    return TopDownPredictor(None, estimator, pose_nms=nms, nms_threshold=protocol.oks_nms_threshold,
                            keypoint_threshold=protocol.keypoint_score_threshold, max_batch=max_batch,
                            flip_test=flip_test, instance_score=recipe_instance_scores)


def coco_on_boxes(predictor, records: list[ImageRecord], source, boxes: str | Path, box_score: float,
                  truth) -> dict[str, float]:
    """COCO OKS AP/AR of ``predictor`` on the person boxes of ``boxes`` (a COCO results file)
    scoring at least ``box_score``, image by image, against ``truth`` (``CocoGroundTruth``):
    the poses become COCO results entries as ``posekit predict`` writes them."""
    from posekit.pipelines.detector import PersonBoxes
    given = PersonBoxes.read(boxes, box_score)
    people = [(*given.of_image(r.image_id), []) for r in records]
    return _coco_of(predictor, records, source, people, truth)


def _coco_of(predictor, records, source, people, truth) -> dict[str, float]:
    from posekit.data.formats import parse_coco_results
    from posekit.metrics import coco_eval
    entries: list[dict] = []
    for r, (b, sc, _) in zip(records, people):
        if len(b):
            entries += predictor.predict_boxes(source.get(r.file_name), b, sc).to_coco(image_id=r.image_id)
    results = parse_coco_results(entries, "<eval-model>", predictor.spec.num_keypoints)   # what predict writes
    return {k: float(v) for k, v in coco_eval(truth, results, spec=predictor.spec).items()}


@torch.no_grad()
def predict_topdown(model: nn.Module, codec, dataset, spec: KeypointSpec, device: torch.device,
                    flip_test: bool = True, batch_size: int = 32,
                    flip_shift: str = "auto") -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Keypoints ``(N, K, 3)`` ``[x, y, score]`` in image pixels for the N samples of a
    TopDownDataset (built with ``train=False``), and each sample's ``(image_index, person_index)``.
    The samples' normalised crops go through :meth:`Estimator.heads` (flip test included) and
    :meth:`Estimator.decode`, then back through each crop's affine."""
    est = training_estimator(model, codec, spec, flip_shift)
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
                      spec: KeypointSpec, metric: str, gt_coco=None,
                      keypoint_threshold: float = 0.2) -> dict[str, float]:
    """Metrics of predictions ``(N, K, 3)`` (image pixels) for the people ``where`` (on their
    ground-truth boxes). COCO AP scores each pose by the mean of its keypoint scores above
    ``keypoint_threshold`` (:func:`~posekit.pipelines.topdown.recipe_instance_scores` with box
    score 1) against the records' ground truth (``gt_coco`` is not used: no COCO JSON in between)."""
    if metric not in METRICS:
        raise PosekitError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    if metric == "coco":
        from posekit.data.formats import CocoGroundTruth, CocoResults
        from posekit.metrics import coco_eval
        from posekit.pipelines.topdown import recipe_instance_scores
        truth = CocoGroundTruth.from_records(records, spec)        # no COCO JSON in between
        scores = recipe_instance_scores(np.ones(len(pred)), pred[:, :, 2], keypoint_threshold)
        results = CocoResults.create(truth.image_ids[[i for i, _ in where]].reshape(-1), pred,
                                     [float(x) for x in scores])
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
                   batch_size: int = 32) -> dict[str, float]:
    """Predict and score an :class:`posekit.engine.data.EvalSet` with its protocol
    (``eval_set.protocol``, the config's ``eval``): on ground-truth boxes, dataset batches
    through the estimator (:func:`predict_topdown`); on given boxes (``eval.boxes``), the same
    predictor path as ``posekit eval-model`` (:func:`protocol_predictor`, :func:`coco_on_boxes`).
    A bottom-up set (``eval_set.kind``): whole images, :func:`evaluate_bottomup`."""
    p = eval_set.protocol
    if eval_set.kind == "bottom-up":
        return evaluate_bottomup(model, codec, eval_set.records, eval_set.images, spec, device, p.flip_test)
    if not p.boxes:
        pred, where = predict_topdown(model, codec, eval_set.dataset, spec, device, p.flip_test, batch_size,
                                      p.flip_shift)
        return score_predictions(pred, where, eval_set.records, spec, eval_set.metric, eval_set.gt_coco,
                                 p.keypoint_score_threshold)
    from posekit.data.formats import CocoGroundTruth
    predictor = protocol_predictor(training_estimator(model, codec, spec, p.flip_shift), p, p.flip_test,
                                   given_boxes=True, max_batch=batch_size)
    was_training = model.training
    model.eval()
    try:
        return coco_on_boxes(predictor, eval_set.records, eval_set.images, p.boxes, p.box_score_threshold,
                             CocoGroundTruth.from_records(eval_set.records, spec))
    finally:
        model.train(was_training)


def bottomup_predictor(estimator, flip_test: bool = False):
    """The :class:`~posekit.pipelines.bottomup.BottomUpPredictor` evaluations use: the
    estimator's nominal long side, rounded up to a side its codec accepts (``codec.multiple``,
    e.g. OpenPose's 368 -> 384 for the PAF codec's multiples of 32), ``posekit predict``'s
    defaults otherwise; the flip test when asked for and the codec has one."""
    from posekit.pipelines.bottomup import BottomUpPredictor
    codec = estimator.codec
    m = max(int(getattr(codec, "multiple", 1)), int(getattr(codec, "stride", 1)))
    long_side = -(-max(estimator.input_size) // m) * m
    flip = bool(flip_test and getattr(codec, "supports_flip", False))
    return BottomUpPredictor(estimator, long_side=long_side, flip_test=flip)


def coco_whole_images(predictor, records: list[ImageRecord], source, truth) -> dict[str, float]:
    """COCO OKS AP/AR of a bottom-up ``predictor`` on whole images against ``truth``
    (``CocoGroundTruth``): every image's people become COCO results entries as ``posekit
    predict`` writes them (``Poses.to_coco``), scored in memory."""
    from posekit.data.formats import parse_coco_results
    from posekit.metrics import coco_eval
    entries: list[dict] = []
    for r in records:
        entries += predictor.predict(source.get(r.file_name)).to_coco(image_id=r.image_id)
    results = parse_coco_results(entries, "<eval-model>", predictor.spec.num_keypoints)
    return {k: float(v) for k, v in coco_eval(truth, results, spec=predictor.spec).items()}


def evaluate_bottomup(model: nn.Module, codec, records: list[ImageRecord], images, spec: KeypointSpec,
                      device: torch.device, flip_test: bool = False) -> dict[str, float]:
    """COCO AP of a bottom-up model being trained on whole held-out images: the model and its
    codec as a bottom-up :class:`~posekit.models.estimator.Estimator` through
    :func:`bottomup_predictor` (what ``posekit predict`` runs), against the records' ground
    truth (:func:`coco_whole_images`)."""
    from posekit.data.formats import CocoGroundTruth
    from posekit.models.estimator import Estimator, imagenet_inputs
    est = Estimator(model, codec, input_size=codec.input_size, spec=spec, normalise=imagenet_inputs,
                    kind="bottom-up", name=getattr(model, "zoo_name", type(model).__name__))
    was_training = model.training
    model.eval()
    try:
        return coco_whole_images(bottomup_predictor(est, flip_test), records, images,
                                 CocoGroundTruth.from_records(records, spec))
    finally:
        model.train(was_training)


def checkpoint_protocol(checkpoint: str | Path) -> tuple[EvalConfig, str]:
    """The evaluation protocol saved with a checkpoint (its config's ``eval``, ``eval.boxes``
    joined to ``data.root`` when relative) and its ``data.dataset``."""
    import dataclasses
    from posekit.engine.checkpoint import load_checkpoint
    from posekit.engine.config import config_from_dict
    ckpt = load_checkpoint(checkpoint)
    cfg = config_from_dict(ckpt.config, source=ckpt.path)
    p = cfg.eval
    if p.boxes and not Path(p.boxes).is_absolute() and cfg.data.root:
        p = dataclasses.replace(p, boxes=str(Path(cfg.data.root).expanduser() / p.boxes))
    return p, cfg.data.dataset


def evaluate_checkpoint(checkpoint: str | Path, gt: str | Path, images: str | Path, metric: str | None = None,
                        device: str | None = None, flip_test: bool | None = None, batch_size: int | None = None,
                        boxes: str | Path | None = None, box_score: float | None = None,
                        gt_boxes: bool = False, as_predict: bool = False, **protocol) -> dict[str, float]:
    """Evaluate a training checkpoint on an annotation file (COCO JSON, MPII JSON/.mat, ...)
    with its images folder, by the evaluation protocol saved with it (its config's ``eval``):
    ``posekit predict`` on the ground-truth boxes (or on the protocol's ``boxes``, a COCO results
    file of person boxes, those scoring at least ``box_score_threshold``) followed by the metric
    (see the module doc). Arguments that are not None override the protocol: ``metric``
    (default ``eval.metric``; ``"auto"`` = ``"coco"`` for COCO files, ``"pckh"`` for MPII and
    ``"pck"`` otherwise), ``flip_test``, ``boxes``, ``box_score`` and ``protocol`` (other
    ``EvalConfig`` fields: ``flip_shift``, ``keypoint_score_threshold``, ``oks_nms_threshold``);
    ``gt_boxes`` ignores the protocol's boxes. Instance scores: the protocol's
    (:func:`~posekit.pipelines.topdown.recipe_instance_scores`); ``as_predict`` scores and
    applies OKS-NMS as ``posekit predict`` does, so that the numbers equal ``predict`` then ``eval``.

    ``batch_size``: crops per forward pass, default ``predict``'s
    (:func:`posekit.device.default_crop_batch`: 1 on the CPU). Images run one at a time, as in
    ``predict``: a network's output can differ in its last bits with the batch it runs in (a
    SimpleBaseline on the COCO sample: up to 6e-5 px between 1 and 32 crops per pass), and
    equal batches keep the two equal to the last digit."""
    import dataclasses
    from posekit.data.datasets import FolderImages, TopDownDataset
    from posekit.data.formats import detect_format, read_annotations, read_coco_ground_truth
    from posekit.device import default_crop_batch
    from posekit.engine.data import eval_metric
    from posekit.models.estimator import Estimator

    p, _ = checkpoint_protocol(checkpoint)
    given = {k: v for k, v in dict(protocol, flip_test=flip_test, boxes=boxes, box_score_threshold=box_score,
                                   metric=metric).items() if v is not None}
    p = dataclasses.replace(p, **{k: str(v) if k == "boxes" else v for k, v in given.items()})
    if gt_boxes:
        p = dataclasses.replace(p, boxes="")
    est = Estimator.from_checkpoint(checkpoint, device)
    if est.kind != "bottom-up":
        est.codec = with_flip_shift(est.codec, p.flip_shift)
    spec = est.spec
    fmt = detect_format(Path(gt))
    if est.kind == "bottom-up":      # whole images, COCO AP (the boxes and crop settings do not apply)
        if fmt != "coco":
            raise PosekitError(f"{gt}: a bottom-up model is scored with COCO AP on a COCO keypoints JSON "
                               f"(this file is {fmt})")
        truth = read_coco_ground_truth(gt, spec)
        return coco_whole_images(bottomup_predictor(est, p.flip_test), truth.to_records(), FolderImages(images),
                                 truth)
    truth = read_coco_ground_truth(gt, spec) if fmt == "coco" else None
    records = truth.to_records() if truth is not None else read_annotations(gt, image_dir=images, spec=spec)
    if records and records[0].spec.num_keypoints != spec.num_keypoints:
        raise PosekitError(f"{gt}: {records[0].spec.num_keypoints} keypoints per person, but the checkpoint's "
                           f"model predicts {spec.num_keypoints} ({spec.name})")
    metric = eval_metric(p.metric, fmt)
    if metric not in METRICS:
        raise PosekitError(f"unknown metric {metric!r}; valid: {', '.join(METRICS)}")
    if metric == "coco" and fmt != "coco":
        raise PosekitError(f"{gt}: metric 'coco' needs a COCO keypoints JSON (this file is {fmt})")
    if p.boxes and metric != "coco":
        raise PosekitError(f"--boxes: metric {metric!r} scores one prediction per annotated person, from its "
                           "ground-truth box; given boxes are scored with metric 'coco'")
    source = FolderImages(images)
    predictor = protocol_predictor(est, p, p.flip_test, bool(p.boxes), batch_size or default_crop_batch(est.device),
                                   as_predict)
    if p.boxes:
        return coco_on_boxes(predictor, records, source, p.boxes, p.box_score_threshold, truth)
    # the people a TopDownDataset evaluates: labelled, not crowd; its box rule
    ds = TopDownDataset(records, source, spec, input_size=est.input_size, train=False)
    who: list[list[int]] = [[] for _ in records]
    for i, q in ds.samples:
        who[i].append(q)
    people = [(np.array([ds.person_box(i, q) for q in ps], np.float32).reshape(-1, 4),
               np.ones(len(ps), np.float32), ps) for i, ps in enumerate(who)]
    if metric == "coco":
        return _coco_of(predictor, records, source, people, truth)
    pred, where = [], []
    for i, (r, (b, _, ps)) in enumerate(zip(records, people)):
        if len(b):
            pred += predictor.keypoints_in_boxes([source.get(r.file_name)], [b])
            where += [(i, q) for q in ps]
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
    return score_predictions(pred, where, eval_set.records, spec, eval_set.metric, eval_set.gt_coco,
                             eval_set.protocol.keypoint_score_threshold)

"""From a config to datasets, codec and model; the step-indexed batch sampler.

The sampler is what makes resuming exact and DDP equal to one process: the global batch of
step ``s`` is a pure function of ``(seed, s)``. Epoch ``e`` visits the dataset in the order
``default_rng([seed, e]).permutation(N)``; the batches of consecutive steps are consecutive
slices of the concatenated epochs. A key is ``(epoch, index)``, and TopDownDataset draws the
augmentation of a sample from ``default_rng([seed, epoch, index])``, so a sample looks the
same whichever process, worker or run loads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, default_collate

from posekit.codecs.heatmap import MSRAHeatmap, UDPHeatmap
from posekit.codecs.regression import RegressionCodec
from posekit.data.records import ImageRecord
from posekit.engine.config import BOTTOMUP_CODECS, EvalConfig, ExperimentConfig
from posekit.errors import PosekitError
from posekit.skeleton import KeypointSpec

__all__ = ["build_codec", "is_bottomup", "create_model", "build_records", "build_train_set", "build_eval_set", "EvalSet", "eval_metric",
           "global_batch", "load_batch"]

# Synthetic scenes: square, this many times the crop height; 1-2 people each.
_SYNTH_SCENE_SCALE = 1.25


def build_codec(cfg: ExperimentConfig, spec: KeypointSpec | None = None):
    """The codec named by ``cfg.model.codec`` for ``cfg.data.input_size`` and stride, for the
    keypoints of ``spec`` (default: ``cfg.data.spec``; its left/right pairs give the flip test)."""
    m = cfg.model
    W, H = cfg.data.input_size
    if spec is None:
        spec = _spec_of(cfg)
    if m.codec == "regression":
        return RegressionCodec((W, H), spec=spec)
    hm = (W // m.stride, H // m.stride)
    sigma = m.sigma if m.sigma > 0 else None
    if m.codec == "msra":
        return MSRAHeatmap((W, H), hm, sigma=sigma, decoder=m.decoder, spec=spec)
    if m.codec == "udp":
        return UDPHeatmap((W, H), hm, sigma=sigma, decoder=m.decoder, spec=spec)
    if m.codec in BOTTOMUP_CODECS:
        return _bottomup_codec(m.codec, (W, H), m.stride, sigma, spec)
    raise PosekitError(f"unknown codec {m.codec!r}; valid: msra, udp, regression, {', '.join(BOTTOMUP_CODECS)}")


def _bottomup_codec(name: str, input_size: tuple[int, int], stride: int, sigma: float | None, spec: KeypointSpec):
    """The whole-image codec ``name`` (:data:`~posekit.engine.config.BOTTOMUP_CODECS`): ``"paf"``
    :class:`~posekit.codecs.paf.PAFCodec`; ``"ae"`` / ``"ae_hr"`` ``posekit.codecs.ae.AECodec``
    (``hr=True``: HigherHRNet's 1/2-resolution heatmaps too); ``"deepercut"``
    ``posekit.codecs.DeeperCutCodec``. ``sigma`` None = the codec's default."""
    kw = {} if sigma is None else {"sigma": sigma}
    if name == "paf":
        from posekit.codecs.paf import PAFCodec
        return PAFCodec(spec, input_size=input_size, stride=stride, **kw)
    try:
        if name in ("ae", "ae_hr"):
            from posekit.codecs.ae import AECodec
            return AECodec(spec, input_size=input_size, stride=stride, hr=name == "ae_hr", **kw)
        from posekit.codecs import DeeperCutCodec
        return DeeperCutCodec(spec, input_size=input_size, stride=stride)      # no sigma: binary discs
    except ImportError as e:
        raise PosekitError(f"model.codec={name!r}: its codec is not available in this posekit ({e})") from None


def is_bottomup(cfg: ExperimentConfig) -> bool:
    """Whether ``cfg`` trains a whole-image (bottom-up) model (``model.codec`` in
    :data:`~posekit.engine.config.BOTTOMUP_CODECS`)."""
    return cfg.model.codec in BOTTOMUP_CODECS


def _spec_of(cfg: ExperimentConfig) -> KeypointSpec:
    from posekit.skeleton import get_spec
    try:
        return get_spec(cfg.data.spec)
    except KeyError as e:
        raise PosekitError(f"data.spec: {e.args[0]}") from None


def create_model(arch: str, num_keypoints: int, kwargs: dict | None = None, codec=None) -> nn.Module:
    """``posekit.models.zoo.create(arch, num_keypoints=K, **kwargs)``, errors as PosekitError.
    With a codec that has ``limbs`` (part affinity fields), ``num_limbs=len(codec.limbs)`` is
    passed too when the builder takes it and ``kwargs`` does not set it."""
    kwargs = dict(kwargs or {})
    kwargs.setdefault("num_keypoints", num_keypoints)
    from posekit.models import zoo
    if getattr(codec, "limbs", None) is not None and "num_limbs" not in kwargs:
        try:
            if "num_limbs" in zoo.builder_kwargs(arch):
                kwargs["num_limbs"] = len(codec.limbs)
        except KeyError:
            pass                    # unknown arch: zoo.create below names it
    try:
        return zoo.create(arch, **kwargs)
    except KeyError as e:
        raise PosekitError(f"unknown architecture {arch!r}: {e.args[0] if e.args else e}") from None
    except TypeError as e:
        raise PosekitError(f"model.kwargs for {arch!r}: {e}") from None


def build_records(cfg: ExperimentConfig, split: str, spec: KeypointSpec):
    """``(records, image source)`` of the ``"train"`` or ``"val"`` split."""
    from posekit.data.datasets import FolderImages, MemoryImages
    d = cfg.data
    if d.dataset == "synthetic":
        W, H = d.input_size
        side = int(round(max(W, H) * _SYNTH_SCENE_SCALE))
        n = d.num_train if split == "train" else d.num_val
        seed = d.data_seed if split == "train" else d.data_seed + 1_000_003   # held out
        if is_bottomup(cfg):
            side = int(max(W, H))   # whole scenes at the input size
        images, records = MemoryImages.from_pairs(_synthetic_pairs(n, seed, side, tuple(d.num_people)))
        return records, images
    if d.dataset in ("coco", "mpii", "lsp", "flic"):
        ann = d.ann if split == "train" else (d.val_ann or d.ann)
        images = d.images if split == "train" else (d.val_images or d.images)
        if not ann:
            raise PosekitError(f"data.dataset={d.dataset!r} needs data.ann (annotation file) and data.images")
        from posekit.data.formats import read_annotations
        records = read_annotations(ann, format=d.dataset, image_dir=images or None, spec=spec)
        return _split_of(records, d.dataset, split, same_file=not d.val_ann), FolderImages(images or Path(ann).parent)
    raise PosekitError(f"unknown dataset {d.dataset!r}; valid: synthetic, coco, mpii, lsp, flic")


#: LSP's documented split of its 2000 images: the first 1000 train, the last 1000 test.
LSP_TRAIN_IMAGES = 1000


def _split_of(records: list[ImageRecord], dataset: str, split: str, same_file: bool) -> list[ImageRecord]:
    """The records of ``split`` in a file holding both splits: FLIC by its ``istrain`` /
    ``istest`` flags (records without them belong to both); LSP (the 2000-image release, when
    ``data.val_ann`` is empty) by its first 1000 / last 1000 images. Other files are one split."""
    if dataset == "flic":
        flag = "is_train" if split == "train" else "is_test"
        return [r for r in records if r.extra.get(flag, True)]
    if dataset == "lsp" and same_file and records and records[0].extra.get("release") == "lsp":
        return records[:LSP_TRAIN_IMAGES] if split == "train" else records[LSP_TRAIN_IMAGES:]
    return records


@lru_cache(maxsize=4)
def _synthetic_pairs(n: int, seed: int, side: int, num_people: tuple[int, int] = (1, 2)):
    from posekit.data.synthetic import make_dataset
    return tuple(make_dataset(n, seed, size=(side, side), num_people=num_people))


def build_train_set(cfg: ExperimentConfig, codec, spec: KeypointSpec) -> Dataset:
    """A :class:`~posekit.data.datasets.TopDownDataset` (one person per crop) or, for a
    bottom-up codec, a :class:`~posekit.data.datasets.BottomUpDataset` (whole images into the
    square ``data.input_size``, ``data.aug_kwargs`` overriding ``BottomUpAugConfig``)."""
    from posekit.data.datasets import BottomUpDataset, TopDownDataset
    records, images = build_records(cfg, "train", spec)
    if is_bottomup(cfg):
        from posekit.data.transforms import BottomUpAugConfig
        ds = BottomUpDataset(records, images, spec, output_size=int(cfg.data.input_size[0]), train=cfg.data.aug,
                             aug=_aug_config(cfg, BottomUpAugConfig) if cfg.data.aug else None, codec=codec,
                             seed=cfg.train.seed)
        if len(ds) == 0:
            raise PosekitError(f"{cfg.data.ann or cfg.data.dataset}: no trainable image (none with a labelled keypoint)")
        return ds
    ds = TopDownDataset(records, images, spec, input_size=tuple(cfg.data.input_size), train=cfg.data.aug,
                        aug=_aug_config(cfg) if cfg.data.aug else None, codec=codec, seed=cfg.train.seed)
    _rmpe_options(cfg, ds, "train")
    if len(ds) == 0:
        raise PosekitError(f"{cfg.data.ann or cfg.data.dataset}: no trainable person (none with a labelled keypoint)")
    return ds


def _rmpe_options(cfg: ExperimentConfig, ds, split: str) -> None:
    """RMPE's options on a top-down dataset (:mod:`posekit.data.pgpg`): with
    ``data.detector_jitter`` > 0 the crops come from a simulated detector's boxes; in training,
    ``data.pgpg_atoms`` > 0 draws them from PGPG learnt on that detector's training boxes, and an
    SSTN (``model.arch`` ``sstn*``) gets the centred targets of its parallel branch."""
    d = cfg.data
    if d.pgpg_atoms > 0 and d.detector_jitter <= 0:
        raise PosekitError("data.pgpg_atoms needs detector boxes to learn from: set data.detector_jitter > 0")
    if d.detector_jitter > 0:
        from posekit.data.pgpg import PGPGSampler, SimulatedDetector, detector_pairs, fit_pgpg
        ds.box_sampler = SimulatedDetector(d.detector_jitter, d.detector_pull, seed=d.data_seed)
        if split == "train" and d.pgpg_atoms > 0:
            kps, true, detected = detector_pairs(ds.records, ds.box_sampler, ds.person_box)
            ds.box_sampler = PGPGSampler(fit_pgpg(kps, true, detected, atoms=d.pgpg_atoms, seed=d.data_seed))
    if split == "train" and cfg.model.arch.startswith("sstn"):
        ds.centred_targets = True


def _aug_config(cfg: ExperimentConfig, cls=None):
    """``cls`` (default ``AugConfig``) defaults with ``cfg.data.aug_kwargs`` applied; unknown names are an error."""
    import dataclasses
    from posekit.data.transforms import AugConfig
    AugConfig = cls or AugConfig
    names = [f.name for f in dataclasses.fields(AugConfig)]
    unknown = sorted(set(cfg.data.aug_kwargs) - set(names))
    if unknown:
        raise PosekitError(f"data.aug_kwargs: unknown keys {unknown}; valid: {', '.join(names)}")
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.data.aug_kwargs.items()}
    return AugConfig(**kw)


@dataclass
class EvalSet:
    """People to evaluate: plain GT-box crops, the records they come from, their images, and
    the protocol: the metric (``"pck"``: PCK@0.2 by torso and by box; ``"pckh"``: PCKh@0.5;
    ``"coco"``: OKS AP) and ``cfg.eval`` (boxes, thresholds, flip test)."""

    dataset: Dataset
    records: list[ImageRecord]
    metric: str
    gt_coco: object = None     # COCO JSON path or dict, for metric "coco"
    images: object = None      # the ImageSource of the records
    protocol: EvalConfig = field(default_factory=EvalConfig)
    kind: str = "top-down"     # "bottom-up": whole images (``dataset`` None), COCO AP


def eval_metric(cfg_metric: str, dataset: str) -> str:
    """``eval.metric`` made explicit: ``"auto"`` is ``"coco"`` for COCO, ``"pckh"`` for MPII,
    ``"pck"`` otherwise (the format name of an annotation file, or ``data.dataset``)."""
    return {"coco": "coco", "mpii": "pckh"}.get(dataset, "pck") if cfg_metric == "auto" else cfg_metric


def build_eval_set(cfg: ExperimentConfig, spec: KeypointSpec) -> EvalSet:
    """The held-out people: GT-box crops (top-down) or, for a bottom-up codec, whole images
    (``dataset`` None; scored with COCO AP, see :func:`posekit.engine.evaluate.evaluate_bottomup`)."""
    from posekit.data.datasets import TopDownDataset
    records, images = build_records(cfg, "val", spec)
    if is_bottomup(cfg):
        return EvalSet(None, records, "coco", None, images, cfg.eval, kind="bottom-up")
    from posekit.data.transforms import AugConfig
    # evaluation crops pad the box as the training crops do (data.aug_kwargs' padding, 1.25 by default)
    padding = _aug_config(cfg).padding if cfg.data.aug else AugConfig().padding
    ds = TopDownDataset(records, images, spec, input_size=tuple(cfg.data.input_size), train=False,
                        aug=AugConfig.off(padding=padding))
    _rmpe_options(cfg, ds, "val")
    metric = eval_metric(cfg.eval.metric, cfg.data.dataset)
    if cfg.eval.boxes and metric != "coco":
        raise PosekitError(f"eval.boxes: metric {metric!r} scores one prediction per annotated person, from its "
                           "ground-truth box; given boxes are scored with metric 'coco'")
    return EvalSet(ds, records, metric, (cfg.data.val_ann or cfg.data.ann) if metric == "coco" else None,
                   images, cfg.eval)


def global_batch(n: int, batch_size: int, seed: int, step: int) -> list[tuple[int, int]]:
    """The ``(epoch, index)`` keys of step ``step``'s global batch over a dataset of ``n``."""
    start = step * batch_size
    keys = []
    for pos in range(start, start + batch_size):
        epoch, i = divmod(pos, n)
        keys.append((epoch, int(_permutation(n, seed, epoch)[i])))
    return keys


@lru_cache(maxsize=8)
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def load_batch(dataset: Dataset, keys: list[tuple[int, int]], device: torch.device) -> dict:
    """Load and collate the samples of ``keys`` (in order) and move tensors to ``device``."""
    samples = []
    for epoch, index in keys:
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        samples.append(dataset[index])
    batch = default_collate(samples)
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}

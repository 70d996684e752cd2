"""One estimator interface for every model, trained here or imported.

An :class:`Estimator` is what a predictor or an evaluation needs to know about a model, and
nothing about where it came from:

- ``module``: the network; ``forward(inputs)`` returns its raw heads;
- ``codec``: turns heads into keypoints (``decode``) and, where a flip test applies, maps the
  heads of a mirrored input back (``flip_back``); see :mod:`posekit.codecs`;
- ``normalise``: uint8 RGB batches to the module's float input (the exact function the
  training data went through, for a trained model);
- ``input_size = (W, H)``, ``spec`` (the keypoint spec of its output), ``kind``
  (``"top-down"``: one person per crop; ``"bottom-up"``: whole images), ``name`` and
  ``source``; the crop warp it needs is its codec's (``udp_warp``).

Built from a training checkpoint (:meth:`Estimator.from_checkpoint`: the safetensors weights
and the config saved with them) or from an imported model's card
(:meth:`Estimator.from_pretrained`); :func:`load_estimator` picks by the source's form.

>>> est = load_estimator("runs/sb/checkpoint.safetensors", "cpu")        # doctest: +SKIP
>>> keypoints_crop = est.predict(crops_uint8, flip_test=True)           # (B, 1, K, 3)

Flip test (:meth:`Estimator.heads`): the heads of the mirrored batch go through
``codec.flip_back``, are averaged with the heads of the batch, and the average is decoded.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from posekit.codecs.common import Heads, Instances
from posekit.errors import PosekitError
from posekit.skeleton import KeypointSpec

__all__ = ["Estimator", "load_estimator", "imagenet_inputs", "card_inputs", "PRETRAINED", "ESTIMATOR_KINDS"]

ESTIMATOR_KINDS = ("top-down", "bottom-up")


# ----------------------------------------------------------------------------- normalisation
def imagenet_inputs(batch: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 RGB -> ``(B, 3, H, W)`` float32 on ``device``, each image through
    :func:`posekit.data.datasets.normalize_image`: the function the training crops went
    through, so a trained model sees at prediction exactly what it saw in training."""
    from posekit.data.datasets import normalize_image
    return torch.stack([normalize_image(im) for im in batch]).to(device)


def card_inputs(batch: np.ndarray, device: torch.device, card) -> torch.Tensor:
    """``(B, H, W, 3)`` uint8 RGB -> the float ``(B, 3, H, W)`` input an imported model's card
    asks for (:func:`posekit.pretrained.normalise`), on ``device``."""
    from posekit.pipelines.preprocess import to_tensor
    from posekit.pretrained import normalise
    return normalise(to_tensor(batch, device), card)


# ----------------------------------------------------------------------------- the estimator
class Estimator:
    """A model with everything needed to run it on images.

    Args:
        module: the network (eval mode for prediction); ``forward(x)`` returns its heads.
        codec: its codec (:mod:`posekit.codecs`).
        input_size: the input ``(W, H)`` (bottom-up models: the nominal one; their input varies
            per image, see ``codec.input_size_for``).
        spec: the keypoint spec of the keypoints :meth:`decode` returns.
        normalise: ``normalise(batch (B, H, W, 3) uint8, device) -> (B, 3, H, W)`` float tensor.
        kind: ``"top-down"`` or ``"bottom-up"``.
        name, source: what to call it, and where it came from (a checkpoint path, a package).
        spec_order: when the module's keypoint channels are not in ``spec``'s order, for each
            keypoint of ``spec`` the index of its channel (the codec then works in the module's
            order, and :meth:`decode` reorders).
    """

    def __init__(self, module: nn.Module, codec: Any, *, input_size: tuple[int, int], spec: KeypointSpec,
                 normalise: Callable[[np.ndarray, torch.device], torch.Tensor], kind: str = "top-down",
                 name: str = "", source: str = "", spec_order: tuple[int, ...] | None = None) -> None:
        if kind not in ESTIMATOR_KINDS:
            raise ValueError(f"kind must be one of {ESTIMATOR_KINDS}, got {kind!r}")
        self.module = module
        self.codec = codec
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.spec = spec
        self.normalise = normalise
        self.kind = kind
        self.name = name or type(module).__name__
        self.source = source
        self.spec_order = None if spec_order is None else list(spec_order)

    def __repr__(self) -> str:
        return (f"Estimator({self.name!r}, {self.kind}, input {self.input_size[0]}x{self.input_size[1]}, "
                f"{self.spec.name}, {self.codec!r})")

    @property
    def device(self) -> torch.device:
        for t in (*self.module.parameters(), *self.module.buffers()):
            return t.device
        return torch.device("cpu")

    @property
    def udp_warp(self) -> bool:
        """Whether crops for this model are cut with UDP's warp (its codec's frame)."""
        return bool(self.codec.udp_warp)

    def require_flip(self) -> None:
        """A :class:`PosekitError` naming the model when its codec has no flip test."""
        if not self.codec.supports_flip:
            raise PosekitError(f"{self.name}: no flip test for this model (its codec "
                               f"{type(self.codec).__name__} does not support one)")

    # -- running ------------------------------------------------------------------------
    def inputs(self, batch: np.ndarray) -> torch.Tensor:
        """``(B, H, W, 3)`` uint8 RGB (B >= 1) -> the module's normalised input on its device."""
        return self.normalise(batch, self.device)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> Heads:
        """The module's raw heads for a normalised ``(B, 3, H, W)`` batch."""
        heads = self.module(x)
        if isinstance(heads, dict) and len(x) > 1 and next(iter(heads.values())).shape[0] != len(x):
            # an imported graph whose in-graph pre-processing keeps only batch element 0
            # (MoveNet single-pose unstacks its input): run the inputs one at a time
            parts = [self.module(x[i:i + 1]) for i in range(len(x))]
            heads = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        return heads

    def heads(self, x: torch.Tensor, flip_test: bool = False) -> Heads:
        """:meth:`forward`; with ``flip_test``, averaged with the heads of the mirrored batch
        mapped back by ``codec.flip_back`` (in the form ``flip_back`` returns: every stage of a
        list, the decoded entry of a dict). :class:`PosekitError` when the codec has no flip test."""
        if flip_test:
            self.require_flip()
        heads = self.forward(x)
        if not flip_test:
            return heads
        return _average(heads, self.codec.flip_back(self.forward(x.flip(-1))))

    def decode(self, heads: Heads, input_size: tuple[int, int] | None = None) -> torch.Tensor:
        """Heads -> ``(B, N, K, 3)`` ``[x, y, score]`` in input pixels, keypoints in ``spec``'s
        order. ``input_size``: the input the heads were computed from (bottom-up models)."""
        kp = self.codec.decode(heads) if input_size is None else self.codec.decode(heads, input_size)
        return kp if self.spec_order is None else kp[:, :, self.spec_order]

    def decode_instances(self, heads: Heads, input_size: tuple[int, int]) -> Instances:
        """Bottom-up models: :class:`~posekit.codecs.Instances` (keypoints in ``spec``'s order)."""
        inst = self.codec.decode_instances(heads, input_size)
        if self.spec_order is None:
            return inst
        return Instances(inst.keypoints[:, :, self.spec_order], inst.scores, inst.boxes)

    def predict(self, batch: np.ndarray, flip_test: bool = False) -> torch.Tensor:
        """``(B, H, W, 3)`` uint8 RGB inputs (crops at ``input_size`` for top-down models) ->
        ``(B, N, K, 3)`` ``[x, y, score]`` in input pixels."""
        return self.decode(self.heads(self.inputs(batch), flip_test))

    def with_backend(self, backend: str, threads: int | None = None, **options) -> "Estimator":
        """A copy running its module on ``backend``: ``"torch"`` (this estimator),
        ``"onnxruntime"``, ``"onnxruntime-int8"`` or ``"openvino"`` with ``threads`` CPU threads
        (exported once to ``~/.cache/posekit/onnx``; see :func:`posekit.runtime.with_backend`,
        which takes the ``options``)."""
        from posekit.runtime import with_backend
        return with_backend(self, backend, threads, **options)

    # -- building ------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None) -> "Estimator":
        """A model trained by ``posekit train``: the architecture, its builder arguments, the
        codec (kind, sigma, decoder, stride), the input size and the keypoint spec come from the
        config saved in the checkpoint; the weights are loaded after every shape is checked.
        Nothing is unpickled. Inputs are normalised like the training crops
        (:func:`imagenet_inputs`). A checkpoint of a bottom-up codec (``model.codec`` in
        :data:`posekit.engine.config.BOTTOMUP_CODECS`) gives a ``"bottom-up"`` estimator, whose
        ``input_size`` is the nominal (training) one."""
        from posekit.device import resolve_device
        from posekit.engine.checkpoint import load_checkpoint
        from posekit.engine.config import config_from_dict
        from posekit.engine.data import build_codec, create_model, is_bottomup
        from posekit.skeleton import get_spec

        ckpt = load_checkpoint(path)
        cfg = config_from_dict(ckpt.config, source=ckpt.path)
        try:
            spec = get_spec(ckpt.spec.get("name", cfg.data.spec))
        except KeyError as e:
            raise PosekitError(f"{ckpt.path}: {e.args[0]}") from None
        codec = build_codec(cfg, spec)
        module = create_model(ckpt.arch, spec.num_keypoints, cfg.model.kwargs, codec)
        ckpt.load_model(module, ckpt.arch, spec, kwargs=cfg.model.kwargs)
        module.to(resolve_device(device)).eval()
        kind = "bottom-up" if is_bottomup(cfg) else "top-down"
        return cls(module, codec, input_size=tuple(cfg.data.input_size), spec=spec,
                   normalise=imagenet_inputs, kind=kind, name=f"{ckpt.arch} ({cfg.name})",
                   source=ckpt.path)

    @classmethod
    def from_pretrained(cls, name: str, device: str | torch.device | None = None, **codec_options) -> "Estimator":
        """An imported pose model (``posekit.pretrained``), decoded by the codec
        :data:`PRETRAINED` names for it, its inputs normalised as its card says.
        ``codec_options`` go to that codec (e.g. ``max_people=10`` for MultiPose)."""
        from posekit.pretrained import load_pretrained
        from posekit.skeleton import get_spec

        if name not in PRETRAINED:
            raise PosekitError(f"{name!r} is not an imported pose model; known: {', '.join(sorted(PRETRAINED))}")
        kind, make_codec = PRETRAINED[name]
        module, card = load_pretrained(name, device)
        spec = get_spec(card.spec)
        model_spec, order = spec, None
        if card.keypoint_order and tuple(card.keypoint_order) != spec.names:
            # the codec works in the module's channel order (its flip pairs too)
            model_spec = KeypointSpec(f"{spec.name} in {name}'s order", tuple(card.keypoint_order), (), None,
                                      f"{name}'s channel order")
            order = tuple(card.keypoint_order.index(n) for n in spec.names)
        try:
            codec = make_codec(card, model_spec, **codec_options)
        except TypeError as e:
            raise PosekitError(f"{name}: codec options {sorted(codec_options)} not accepted ({e})") from None
        return cls(module, codec, input_size=tuple(card.input_size),
                   spec=spec, normalise=functools.partial(card_inputs, card=card), kind=kind, name=name,
                   source=f"{card.source_package}@{card.source_version} {card.source_file}", spec_order=order)


def _average(heads: Heads, flipped: Heads) -> Heads:
    """The flip test's mean of ``heads`` and the mapped-back ``flipped`` heads, in the form of
    ``flipped`` (a tensor, a list of stages, or a dict holding the entries it has)."""
    if isinstance(flipped, (list, tuple)):
        return [0.5 * (h + f) for h, f in zip(heads, flipped)]
    if isinstance(flipped, dict):
        return {k: 0.5 * (heads[k] + f) for k, f in flipped.items()}
    return 0.5 * (heads + flipped)


# ----------------------------------------------------------------------------- imported models
def _movenet_single(card, spec: KeypointSpec):
    from posekit.codecs import MoveNetSingleCodec
    return MoveNetSingleCodec(card.input_size)


def _multipose(card, spec: KeypointSpec, **options):
    from posekit.codecs import MultiPoseCodec
    return MultiPoseCodec(**options)


def _posenet(card, spec: KeypointSpec, **options):
    from posekit.codecs import PoseNetCodec
    return PoseNetCodec(**options)


def _efficientpose(card, spec: KeypointSpec):
    # confidence maps at input resolution, argmax with the quarter-pixel refinement
    from posekit.codecs import MSRAHeatmap
    return MSRAHeatmap(card.input_size, heatmap_size=card.input_size, decoder="argmax", spec=spec)


def _blazepose(card, spec: KeypointSpec):
    from posekit.codecs import BlazePoseLandmarkCodec
    return BlazePoseLandmarkCodec(card.input_size)


#: The imported pose models (card names, ``posekit.pretrained.cards``): their kind and the
#: function building their codec from the card and the spec in the module's channel order.
PRETRAINED: dict[str, tuple[str, Callable]] = {
    "movenet_lightning": ("top-down", _movenet_single),
    "movenet_thunder": ("top-down", _movenet_single),
    "efficientpose_ii_lite": ("top-down", _efficientpose),
    "blazepose_lite": ("top-down", _blazepose),
    "blazepose_full": ("top-down", _blazepose),
    "blazepose_heavy": ("top-down", _blazepose),
    "movenet_multipose": ("bottom-up", _multipose),
    "posenet": ("bottom-up", _posenet),
}


def load_estimator(source: str | Path, device: str | torch.device | None = None) -> Estimator:
    """A ``.safetensors`` path: :meth:`Estimator.from_checkpoint`; an imported model's card
    name: :meth:`Estimator.from_pretrained`; an ``.onnx`` file written by ``posekit export``:
    :func:`posekit.runtime.load_onnx_estimator` (ONNX Runtime, CPU)."""
    if Path(source).suffix == ".safetensors":
        return Estimator.from_checkpoint(source, device)
    if Path(source).suffix == ".onnx":
        from posekit.runtime import load_onnx_estimator
        return load_onnx_estimator(source)
    if str(source) in PRETRAINED:
        return Estimator.from_pretrained(str(source), device)
    raise PosekitError(f"{source}: neither a checkpoint (.safetensors or .onnx) nor an imported pose model "
                       f"({', '.join(sorted(PRETRAINED))})")

"""ONNX export of every posekit model, checked against PyTorch when it is written.

``posekit export MODEL|CHECKPOINT --format onnx`` and :func:`export_model` write one ``.onnx``
file for a zoo architecture (random weights, with a warning), an imported model (MoveNet,
MultiPose, PoseNet, EfficientPose II-Lite, BlazePose, and the NanoDet person detector) or a
checkpoint written by ``posekit train``.

The file:

* input ``"input"``: ``(B, 3, H, W)`` float32, already normalised as the model expects (the
  metadata says how); the batch axis ``B`` is dynamic, and so are ``H`` and ``W`` for a
  bottom-up model whose graph allows it (PoseNet; MoveNet MultiPose bakes its upsampling sizes
  in, so its file is for one input size and :class:`posekit.runtime.OnnxModule` exports one
  file per size it meets);
* outputs named after the heads: a dict-valued model (the imported ones) gives one output per
  key, a list-valued one (intermediate supervision, e.g. ``hourglass_2``) ``stage0 ..
  stageN-1`` (the final prediction last), a single tensor ``heads``;
* ``metadata_props["posekit"]``: JSON of :class:`ExportInfo`, all that is needed to run the
  file as an :class:`~posekit.models.estimator.Estimator` without the PyTorch module
  (:func:`posekit.runtime.load_onnx_estimator`): kind, input ``(W, H)``, keypoint spec and
  channel order, the outputs' form, the normalisation, and how to rebuild the codec (the
  training config of a checkpoint or a zoo model; the card name of an imported model).

Exporter. PyTorch 2.13's TorchScript-based exporter (``torch.onnx.export(..., dynamo=False)``)
exports every model here and needs only the ``onnx`` package; the dynamo exporter also needs
``onnxscript``. The default opset is :data:`DEFAULT_OPSET`; when an operator needs a newer one
(DeepPose's ``affine_grid``: opset 20) the export is retried at that opset, with a log line.
PRM's fractional max-pooling has no ONNX operator: in eval mode its regions are fixed, and
:func:`_fractional_max_pool_symbolic` writes it as two gathers and a max.

Parity. Every export is run in ONNX Runtime (when installed) on a probe batch of two inputs and
compared with PyTorch; the largest difference per output, relative to the output's largest
magnitude, is stored in the metadata (``parity``) and a difference above :data:`PARITY_RTOL`
is an error. When a dynamic axis does not survive (an output of the wrong size at batch 2, or
a wrong value at a second input size) the export is redone with that axis fixed.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import hashlib
import io
import json
import logging
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from posekit.errors import PosekitError

__all__ = ["ExportInfo", "export_model", "export_estimator", "export_detector", "load_source", "read_info",
           "module_digest", "DEFAULT_OPSET", "PARITY_RTOL", "METADATA_KEY", "EXPORT_FORMAT", "FORMATS",
           "require_onnx"]

log = logging.getLogger(__name__)

#: Version of the metadata layout.
EXPORT_FORMAT = 1
#: ONNX opset used unless the model needs a newer one (or ``--opset`` says otherwise).
DEFAULT_OPSET = 17
#: The metadata key holding :class:`ExportInfo` as JSON.
METADATA_KEY = "posekit"
#: Largest accepted difference between ONNX Runtime's and PyTorch's heads at export, relative to
#: the largest magnitude of each output (``|ort - torch| <= PARITY_RTOL * max(1, max|torch|)``).
PARITY_RTOL = 1e-4
#: Export formats of ``posekit export``.
FORMATS = ("onnx",)


def require_onnx(package: str = "onnx") -> Any:
    """Import ``package`` (``onnx``, ``onnxruntime``, ``openvino``, ``onnxruntime.quantization``),
    or a one-line :class:`PosekitError` saying how to install it."""
    import importlib
    try:
        return importlib.import_module(package)
    except ImportError:
        extra = "openvino" if package.startswith("openvino") else "onnx"
        raise PosekitError(f"{package} is not installed: pip install 'posekit[{extra}]' "
                           f"(or pip install {package.split('.')[0]})") from None


# ----------------------------------------------------------------------------- metadata
@dataclass(frozen=True)
class ExportInfo:
    """What an exported file holds besides the graph (stored as JSON in its metadata).

    Attributes:
        name: the model's name; kind: ``"top-down"``, ``"bottom-up"`` or ``"detector"``.
        input_size: the input ``(W, H)`` the file was exported at.
        spec: keypoint spec name (``""`` for a detector); spec_order: as
            :class:`~posekit.models.estimator.Estimator` (None: the module's order is ``spec``'s).
        outputs: output names in order (:func:`flatten_heads`); form: ``"dict"``, ``"list"`` or
            ``"tensor"``, the top level of what the PyTorch module returns; structure: its full
            nesting (:func:`heads_structure`), rebuilt by :class:`posekit.runtime.OnnxModule`.
        dynamic_batch, dynamic_hw: which axes of the input are dynamic.
        normalisation: ``{"kind": "imagenet"}`` (trained models) or ``{"kind": "card", "mean",
            "std", "channel_order"}`` (imported models, from their card).
        source: how to rebuild the codec: ``{"type": "config", "config": experiment config dict}``
            (checkpoints and zoo models) or ``{"type": "card", "card": name, "codec_options": {}}``.
        codec: the codec's repr (for people).
        opset, torch_version: how it was exported; parity: ``{output: max relative difference}``
            measured at export (empty when ONNX Runtime was not installed).
        int8: ``""`` for float32, else how it was quantised (e.g. ``"QDQ, synthetic 64"``).
    """

    name: str
    kind: str
    input_size: tuple[int, int]
    spec: str
    outputs: tuple[str, ...]
    form: str
    dynamic_batch: bool = True
    dynamic_hw: bool = False
    spec_order: tuple[int, ...] | None = None
    normalisation: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)
    codec: str = ""
    opset: int = DEFAULT_OPSET
    torch_version: str = ""
    parity: dict = field(default_factory=dict)
    int8: str = ""
    structure: Any = None
    format: int = EXPORT_FORMAT

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, path: str = "") -> "ExportInfo":
        try:
            d = json.loads(text)
            if int(d.get("format", 0)) > EXPORT_FORMAT:
                raise PosekitError(f"{path}: exported by a newer posekit (metadata format {d['format']})")
            d["input_size"] = tuple(d["input_size"])
            d["outputs"] = tuple(d["outputs"])
            if d.get("spec_order") is not None:
                d["spec_order"] = tuple(d["spec_order"])
            names = {f.name for f in dataclasses.fields(cls)}
            return cls(**{k: v for k, v in d.items() if k in names})
        except (ValueError, KeyError, TypeError) as e:
            raise PosekitError(f"{path}: bad posekit metadata ({type(e).__name__}: {e})") from None


def read_info(path: str | Path) -> ExportInfo:
    """The :class:`ExportInfo` of an exported file (read with ``onnx``, or ONNX Runtime when
    ``onnx`` is missing). :class:`PosekitError` when the file has none."""
    path = Path(path)
    if not path.is_file():
        raise PosekitError(f"{path}: no such file")
    try:
        import onnx
        model = onnx.load(str(path), load_external_data=False)
        meta = {p.key: p.value for p in model.metadata_props}
    except ImportError:
        ort = require_onnx("onnxruntime")
        meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    except Exception as e:  # noqa: BLE001 - a damaged file: one line
        raise PosekitError(f"{path}: not an ONNX file ({type(e).__name__}: {str(e)[:200]})") from None
    if METADATA_KEY not in meta:
        raise PosekitError(f"{path}: no posekit metadata (not written by posekit export)")
    return ExportInfo.from_json(meta[METADATA_KEY], str(path))


# ----------------------------------------------------------------------------- sources
def load_source(source: str, input_hw: tuple[int, int] | None = None, device: str = "cpu"):
    """``(estimator, source dict)`` for ``posekit export``'s MODEL argument: a ``.safetensors``
    checkpoint, an imported pose model's card name, or a zoo architecture (random weights; a
    warning says so). ``input_hw``: ``(H, W)`` for a zoo model (default: its entry's)."""
    from posekit.models.estimator import PRETRAINED, Estimator
    from posekit.models.zoo import ZOO

    if Path(source).suffix == ".safetensors":
        if input_hw is not None:
            raise PosekitError(f"{source}: --input is fixed by the checkpoint's config")
        from posekit.engine.checkpoint import load_checkpoint
        est = Estimator.from_checkpoint(source, device)
        return est, {"type": "config", "config": load_checkpoint(source).config}
    if source in PRETRAINED:
        if input_hw is not None and PRETRAINED[source][0] == "top-down":
            raise PosekitError(f"{source}: --input is fixed by the imported model ({source} is top-down)")
        est = Estimator.from_pretrained(source, device)
        if input_hw is not None:
            est.input_size = (int(input_hw[1]), int(input_hw[0]))
        return est, {"type": "card", "card": source, "codec_options": {}}
    if source in ZOO:
        return _zoo_estimator(source, input_hw, device)
    raise PosekitError(f"{source}: not a checkpoint (.safetensors), an imported model or a zoo architecture "
                       "(posekit models lists them)")


def _zoo_estimator(arch: str, input_hw: tuple[int, int] | None, device: str):
    """A zoo architecture with random weights, and a training config that rebuilds its codec:
    heatmap heads (4-D) get an MSRA heatmap codec at the heads' stride, others regression."""
    from posekit.engine.config import DataConfig, ExperimentConfig, ModelConfig, config_to_dict
    from posekit.engine.data import build_codec, create_model
    from posekit.models.estimator import Estimator, imagenet_inputs
    from posekit.models.zoo import ZOO, builder_kwargs
    from posekit.skeleton import get_spec

    entry = ZOO[arch]
    W, H = entry.input_wh if input_hw is None else (int(input_hw[1]), int(input_hw[0]))
    spec = get_spec(entry.spec)
    kwargs: dict[str, Any] = {}
    if input_hw is not None and "input_size" in builder_kwargs(arch):
        kwargs["input_size"] = [H, W]
    log.warning("%s: exporting random weights (a zoo architecture, no checkpoint given)", arch)
    torch.manual_seed(0)
    module = create_model(arch, spec.num_keypoints, kwargs).eval()
    with torch.no_grad():
        heads = module(torch.zeros(1, 3, H, W))
    last = heads[-1] if isinstance(heads, (list, tuple)) else heads
    kind = getattr(entry, "kind", "top-down")
    if kind == "bottom-up":
        # a whole-image model: the codec (PAF, associative embedding) of a preset that trains it
        m = _preset_model_config(arch)
        model_cfg = ModelConfig(arch=arch, kwargs=kwargs, codec=m.codec, stride=m.stride, sigma=m.sigma,
                                decoder=m.decoder)
    elif last.dim() == 4:
        stride = H // last.shape[-2]
        if last.shape[-1] * stride != W or last.shape[-2] * stride != H:
            raise PosekitError(f"{arch}: heatmaps {tuple(last.shape[-2:])} are no integer stride of the input {H}x{W}")
        model_cfg = ModelConfig(arch=arch, kwargs=kwargs, codec="msra", stride=stride)
    else:
        model_cfg = ModelConfig(arch=arch, kwargs=kwargs, codec="regression")
    cfg = ExperimentConfig(name=f"{arch} (random weights)", data=DataConfig(spec=spec.name, input_size=(W, H)),
                           model=model_cfg)
    est = Estimator(module.to(device), build_codec(cfg, spec), input_size=(W, H), spec=spec,
                    normalise=imagenet_inputs, kind=kind, name=f"{arch} (random weights)", source="zoo")
    return est, {"type": "config", "config": config_to_dict(cfg)}


def _preset_model_config(arch: str):
    """The model config of the first preset (:data:`posekit.engine.presets.PRESETS`) training
    ``arch``; :class:`PosekitError` when none does."""
    from posekit.engine.presets import PRESETS
    for make in PRESETS.values():
        cfg = make()
        if cfg.model.arch == arch:
            return cfg.model
    raise PosekitError(f"{arch}: no preset trains it, so its codec is unknown; export a checkpoint instead")


def _normalisation_of(source: dict) -> dict:
    if source.get("type") == "card":
        from posekit.pretrained.cards import get_card
        n = get_card(source["card"]).normalisation
        return {"kind": "card", "mean": list(n.mean), "std": list(n.std), "channel_order": n.channel_order}
    return {"kind": "imagenet"}


# ----------------------------------------------------------------------------- the exporter
class _Flat(nn.Module):
    """The module with its heads as a flat tuple of tensors, in :func:`flatten_heads` order."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(t for _, t in flatten_heads(self.module(x)))


def flatten_heads(heads, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """``[(name, tensor)]`` of (possibly nested) heads: a tensor is ``"heads"``; a top-level
    list's items ``"stage0"``, ``"stage1"``...; a dict's entries their keys; deeper levels
    joined with dots (``"stages.0.pafs"``)."""
    if isinstance(heads, torch.Tensor):
        return [(prefix or "heads", heads)]
    if isinstance(heads, dict):
        items = [(f"{prefix}.{k}" if prefix else str(k), v) for k, v in heads.items()]
    elif isinstance(heads, (list, tuple)):
        items = [(f"{prefix}.{i}" if prefix else f"stage{i}", v) for i, v in enumerate(heads)]
    else:
        raise PosekitError(f"cannot export heads of type {type(heads).__name__}")
    return [leaf for name, v in items for leaf in flatten_heads(v, name)]


def heads_structure(heads, prefix: str = ""):
    """The nesting of ``heads`` as JSON, leaves replaced by their :func:`flatten_heads` names:
    ``"name"``, ``{"dict": [[key, ...], ...]}`` (pairs: the keys' order survives JSON) or
    ``{"list": [...]}``."""
    if isinstance(heads, torch.Tensor):
        return prefix or "heads"
    if isinstance(heads, dict):
        return {"dict": [[str(k), heads_structure(v, f"{prefix}.{k}" if prefix else str(k))] for k, v in heads.items()]}
    return {"list": [heads_structure(v, f"{prefix}.{i}" if prefix else f"stage{i}") for i, v in enumerate(heads)]}


def unflatten_heads(structure, values: dict[str, torch.Tensor]):
    """Rebuild the heads of :func:`heads_structure` from ``{name: tensor}``."""
    if isinstance(structure, str):
        return values[structure]
    if "dict" in structure:
        return {k: unflatten_heads(v, values) for k, v in structure["dict"]}
    return [unflatten_heads(v, values) for v in structure["list"]]


def output_form(heads) -> tuple[str, tuple[str, ...]]:
    """``(form, names)`` of a module's heads: form ``"dict"``, ``"list"`` or ``"tensor"`` (the
    top level), names as :func:`flatten_heads`."""
    form = "dict" if isinstance(heads, dict) else "list" if isinstance(heads, (list, tuple)) else "tensor"
    return form, tuple(n for n, _ in flatten_heads(heads))


@contextlib.contextmanager
def _quiet_fds():
    """Silence file descriptors 1 and 2 for the block: the TorchScript exporter prints its whole
    IR graph from C++ when an operator fails (the error itself says what failed)."""
    saved = []
    try:
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
            except OSError:
                pass
        with open(os.devnull, "wb") as null:
            for fd, _ in saved:
                os.dup2(null.fileno(), fd)
            yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)


def _needed_opset(error: Exception) -> int | None:
    m = re.search(r"added in (?:opset )?version (\d+)", str(error))
    return int(m.group(1)) if m else None


def _onnx_bytes(module: nn.Module, example: torch.Tensor, names: tuple[str, ...], *, dynamic_batch: bool,
                dynamic_hw: bool, opset: int) -> tuple[bytes, int]:
    """Export with the TorchScript exporter to bytes; ``(bytes, opset used)``."""
    axes_in: dict[int, str] = {}
    if dynamic_batch:
        axes_in[0] = "batch"
    if dynamic_hw:
        axes_in.update({2: "height", 3: "width"})
    dynamic_axes = None
    if axes_in:
        dynamic_axes = {"input": axes_in}
        for n in names:   # every output's batch (and, with dynamic_hw, its spatial axes if 4-D: set by ONNX)
            dynamic_axes[n] = {0: "batch"} if dynamic_batch else {}
    for attempt in range(2):
        buf = io.BytesIO()
        try:
            with warnings.catch_warnings(), torch.no_grad(), _quiet_fds(), _export_friendly(module):
                warnings.simplefilter("ignore")
                torch.onnx.export(module, (example,), buf, input_names=["input"], output_names=list(names),
                                  dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False,
                                  do_constant_folding=True)
            return buf.getvalue(), opset
        except Exception as e:  # noqa: BLE001 - retry once at the opset the error names
            need = _needed_opset(e)
            if attempt == 0 and need is not None and need > opset:
                log.info("an operator needs opset %d: exporting at opset %d", need, need)
                opset = need
                continue
            raise PosekitError(f"ONNX export failed: {type(e).__name__}: {str(e).strip().splitlines()[0][:300]}") from None
    raise AssertionError("unreachable")


def fractional_pool_starts(size_in: int, size_out: int, sample: float, kernel: int = 2) -> list[int]:
    """Start indices of fractional max-pooling's windows along one axis (Graham 2014), as ATen
    computes them in float32: ``alpha = (in - k) / (out - 1)``, ``start_i = int((i + u) alpha)
    - int(u alpha)`` for ``i < out - 1``, and ``in - k`` for the last."""
    if size_out == 1:
        return [size_in - kernel]
    f = np.float32
    alpha = f(size_in - kernel) / f(size_out - 1)
    u = f(sample)
    starts = [int(f(f(i) + u) * alpha) - int(u * alpha) for i in range(size_out - 1)]
    return starts + [size_in - kernel]


def fractional_max_pool_fixed(x: torch.Tensor, output_size: tuple[int, int], sample: float = 0.5,
                              kernel: int = 2) -> torch.Tensor:
    """``F.fractional_max_pool2d(x, kernel, output_size, _random_samples=sample)`` for one fixed
    sample, written with ``index_select`` and ``maximum`` (which ONNX has): per spatial axis,
    the max over the ``kernel`` rows (columns) of each window, windows from
    :func:`fractional_pool_starts`. ``(B, C, H, W) -> (B, C, *output_size)``; the spatial sizes
    are read as Python ints, so an export holds them fixed."""
    y = x
    for axis, out in ((2, output_size[0]), (3, output_size[1])):
        starts = torch.tensor(fractional_pool_starts(int(y.shape[axis]), out, sample, kernel), device=x.device)
        parts = [y.index_select(axis, starts + d) for d in range(kernel)]
        y = functools.reduce(torch.maximum, parts)
    return y


@contextlib.contextmanager
def _export_friendly(module: nn.Module):
    """Swap, for the export only, the operators ONNX lacks for equivalents it has: PRM's
    fractional max-pooling in eval mode (fixed sample 0.5, :func:`fractional_max_pool_fixed`).
    The export's parity check compares with the untouched module."""
    patched = []
    try:
        from posekit.models.prm import FractionalMaxPool
    except ImportError:  # pragma: no cover - the zoo always has it
        FractionalMaxPool = ()
    for m in module.modules():
        if FractionalMaxPool and isinstance(m, FractionalMaxPool) and not m.training:
            def forward(x, m=m):
                h, w = int(x.shape[2]), int(x.shape[3])
                return fractional_max_pool_fixed(x, (max(1, int(h * m.ratio)), max(1, int(w * m.ratio))), 0.5, 2)
            m.forward = forward
            patched.append(m)
    try:
        yield module
    finally:
        for m in patched:
            del m.forward


def module_digest(module: nn.Module, *extra: object) -> str:
    """sha256 (hex, 16 characters) of a module's class, tensors (names, shapes, dtypes, bytes)
    and ``extra`` values: the key of :mod:`posekit.runtime`'s export cache."""
    h = hashlib.sha256()
    h.update(type(module).__qualname__.encode())
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    for e in extra:
        h.update(repr(e).encode())
    return h.hexdigest()[:16]


def _probe(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """A seeded probe batch ``(B, H, W, 3)`` uint8 RGB ``shape = (B, H, W)``: smooth random
    images (low-frequency content, as in photos, rather than pixel noise)."""
    g = torch.Generator().manual_seed(seed)
    b, h, w = shape
    low = torch.rand(b, 3, max(2, h // 8), max(2, w // 8), generator=g)
    x = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    return (x * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _parity(session_bytes: bytes, module: "_Flat", x: torch.Tensor, names: tuple[str, ...]) -> dict[str, float] | str:
    """Max relative difference per output between ONNX Runtime and ``module`` on ``x``; a
    string saying what failed when the run or the shapes fail."""
    ort = require_onnx("onnxruntime")
    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, torch.get_num_threads())
    so.log_severity_level = 4
    try:
        sess = ort.InferenceSession(session_bytes, so, providers=["CPUExecutionProvider"])
        outs = sess.run(None, {"input": x.numpy()})
    except Exception as e:  # noqa: BLE001
        return f"ONNX Runtime failed on input {tuple(x.shape)}: {str(e).splitlines()[0][:200]}"
    with torch.no_grad():
        ref = module(x)
    res = {}
    for n, o, r in zip(names, outs, ref):
        r = r.detach().cpu().float().numpy()
        if o.shape != r.shape:
            return f"output {n} is {o.shape} in ONNX Runtime, {r.shape} in PyTorch at input {tuple(x.shape)}"
        scale = max(1.0, float(np.abs(r).max())) if r.size else 1.0
        res[n] = float(np.abs(o - r).max() / scale) if r.size else 0.0
    return res


def export_module(module: nn.Module, path: str | Path | None, input_hw: tuple[int, int], *, kind: str,
                  prepare: Callable[[np.ndarray], torch.Tensor], second_hw: tuple[int, int] | None = None,
                  opset: int = DEFAULT_OPSET,
                  info_fields: dict | None = None, check: bool = True) -> tuple[bytes, ExportInfo]:
    """Export ``module`` (eval mode, CPU) at input ``(H, W)`` = ``input_hw``; returns the file's
    bytes (also written to ``path`` unless None) and its :class:`ExportInfo`.

    The batch axis is made dynamic; with ``second_hw`` (bottom-up models), the spatial axes too,
    checked at ``second_hw``. An axis that does not survive the check is fixed again (a log
    line says so). ``check``: compare with PyTorch in ONNX Runtime (when installed); a
    difference above :data:`PARITY_RTOL` is a :class:`PosekitError`. ``prepare``: the model's
    normalisation, ``(B, H, W, 3)`` uint8 RGB -> its input, applied to the probe images."""
    import onnx

    module = module.eval()
    H, W = input_hw
    example = prepare(_probe((1, H, W)))
    with torch.no_grad():
        heads = module(example)
    form, names = output_form(heads)
    structure = heads_structure(heads)
    flat = _Flat(module).eval()
    try:
        require_onnx("onnxruntime")
        can_check = check
    except PosekitError:
        can_check = False
        log.warning("onnxruntime is not installed: the export is not checked against PyTorch")

    dyn_b, dyn_hw = True, second_hw is not None
    parity: dict[str, float] = {}
    while True:
        data, used_opset = _onnx_bytes(flat, example, names, dynamic_batch=dyn_b, dynamic_hw=dyn_hw, opset=opset)
        if not can_check:
            break
        probes = [(prepare(_probe((2 if dyn_b else 1, H, W), 1)), "batch")]
        if dyn_hw:
            h2, w2 = second_hw
            probes.append((prepare(_probe((1, h2, w2), 2)), "hw"))
        failed = None
        parity = {}
        for x, axis in probes:
            res = _parity(data, flat, x, names)
            if isinstance(res, str) or max(res.values(), default=0.0) > PARITY_RTOL:
                failed = (axis, res)
                break
            for n, v in res.items():
                parity[n] = max(parity.get(n, 0.0), v)
        if failed is None:
            break
        axis, res = failed
        if axis == "hw" and dyn_hw:
            log.info("the graph fixes its spatial sizes (%s): exported for %dx%d only", res, H, W)
            dyn_hw = False
            continue
        if axis == "batch" and dyn_b:
            log.info("the graph fixes its batch (%s): exported for batch 1", res)
            dyn_b = False
            continue
        raise PosekitError(f"the ONNX export differs from PyTorch: {res}")
    info = ExportInfo(name="", kind=kind, input_size=(W, H), spec="", outputs=names, form=form, structure=structure,
                      dynamic_batch=dyn_b, dynamic_hw=dyn_hw, opset=used_opset, torch_version=torch.__version__,
                      parity={k: float(f"{v:.3g}") for k, v in parity.items()})
    if info_fields:
        info = dataclasses.replace(info, **info_fields)
    model = onnx.load_from_string(data)
    del model.metadata_props[:]
    model.metadata_props.add(key=METADATA_KEY, value=info.to_json())
    data = model.SerializeToString()
    if path is not None:
        _write(Path(path), data)
    return data, info


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` through ``.<name>.tmp-<pid>`` and a rename (never half a file)."""
    from posekit.engine.checkpoint import temp_path
    from posekit.io import output_file
    output_file(path)
    tmp = temp_path(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as e:
        raise PosekitError(f"{path}: cannot write ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)


def _bottom_up_second_size(est) -> tuple[int, int] | None:
    """A second valid input ``(H, W)`` for a bottom-up model (its codec's rounding), or None."""
    W, H = est.input_size
    try:
        w2, h2 = est.codec.input_size_for(W + W // 2, H, max(W + W // 2, H))
    except Exception:  # noqa: BLE001 - no rule for other sizes: keep the sizes fixed
        return None
    return (int(h2), int(w2)) if (w2, h2) != (W, H) else None


def export_estimator(est, path: str | Path | None, source: dict, *, opset: int = DEFAULT_OPSET,
                     check: bool = True) -> tuple[bytes, ExportInfo]:
    """Export an :class:`~posekit.models.estimator.Estimator`'s module with the metadata that
    rebuilds the estimator (:func:`posekit.runtime.load_onnx_estimator`). ``source``: as
    :attr:`ExportInfo.source`. Returns ``(file bytes, info)``; writes ``path`` unless None."""
    W, H = est.input_size
    norm = _normalisation_of(source)
    second = _bottom_up_second_size(est) if est.kind == "bottom-up" else None
    module = est.module if est.device.type == "cpu" else copy.deepcopy(est.module).cpu()
    fields = {"name": est.name, "spec": est.spec.name, "spec_order": None if est.spec_order is None else tuple(est.spec_order),
              "normalisation": norm, "source": source, "codec": repr(est.codec)}
    return export_module(module, path, (H, W), kind=est.kind, second_hw=second, opset=opset,
                         prepare=lambda b: est.normalise(b, torch.device("cpu")), info_fields=fields, check=check)


def export_detector(name: str, path: str | Path | None, *, opset: int = DEFAULT_OPSET,
                    check: bool = True) -> tuple[bytes, ExportInfo]:
    """Export the person detector ``name`` (an imported card, e.g. ``"nanodet"``)."""
    from posekit.pretrained import load_pretrained
    module, card = load_pretrained(name, "cpu")
    W, H = card.input_size
    source = {"type": "card", "card": name, "codec_options": {}}
    norm = _normalisation_of(source)
    from posekit.models.estimator import card_inputs
    return export_module(module, path, (H, W), kind="detector", opset=opset, check=check,
                         prepare=lambda b: card_inputs(b, torch.device("cpu"), card),
                         info_fields={"name": name, "normalisation": norm, "source": source})


def export_model(source: str, out: str | Path, *, input_hw: tuple[int, int] | None = None,
                 opset: int = DEFAULT_OPSET, overwrite: bool = False) -> ExportInfo:
    """``posekit export``'s work: export ``source`` (checkpoint, imported model or detector,
    zoo architecture) to ``out``. An existing ``out`` is an error unless ``overwrite``."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise PosekitError(f"{out}: exists (give --overwrite to replace it)")
    require_onnx("onnx")
    from posekit.pipelines.registry import DETECTORS
    if source in DETECTORS:
        if input_hw is not None:
            raise PosekitError(f"{source}: --input is fixed by the detector")
        return export_detector(source, out, opset=opset)[1]
    est, src = load_source(source, input_hw)
    return export_estimator(est, out, src, opset=opset)[1]

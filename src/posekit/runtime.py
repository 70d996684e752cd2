"""Inference backends: ONNX Runtime (float32 and int8) and OpenVINO behind the PyTorch module's
interface.

:class:`OnnxModule` wraps an exported file (:mod:`posekit.export`) so that it looks like the
PyTorch module it came from: ``module(x)`` takes the normalised ``(B, 3, H, W)`` float tensor and
returns the heads in the same form and keys (a dict, a list of stages, or a tensor), as CPU
tensors; ``.eval()`` works, ``.parameters()`` is empty and one empty CPU buffer tells code that
looks for the module's device (``Estimator.device``, ``PersonDetector.device``) that it is the CPU. A file with a
fixed batch runs batches one input at a time; a bottom-up model whose graph fixes its input
size (MoveNet MultiPose) gets one file per input size it meets, exported on first use.

:func:`with_backend` (``Estimator.with_backend``) exports an estimator's module to the cache
``~/.cache/posekit/onnx/<digest>.onnx`` (``$POSEKIT_CACHE/onnx``; the digest covers the
weights, input size, opset and torch version, so a changed model is exported again) and returns
an estimator running that file; :func:`detector_with_backend` does the same for the person
detector. Backends (:data:`BACKENDS`):

* ``"torch"``: the PyTorch module itself;
* ``"onnxruntime"``: ONNX Runtime's CPU provider, ``intra_op_num_threads = threads`` (default:
  torch's thread count, which ``posekit predict --threads`` sets);
* ``"onnxruntime-int8"``: the same file statically quantised to int8
  (:func:`quantize_onnx`; calibrated on :func:`synthetic_calibration` crops unless given
  batches), cached beside it;
* ``"openvino"``: OpenVINO's CPU plugin compiling the ONNX file (``INFERENCE_NUM_THREADS``).

ONNX Runtime and OpenVINO are optional (``pip install 'posekit[onnx]'`` / ``'posekit[openvino]'``);
without them the backend is a one-line :class:`PosekitError`.

>>> est = load_estimator("movenet_thunder").with_backend("onnxruntime", threads=2)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posekit.errors import PosekitError
from posekit.export import DEFAULT_OPSET, EXPORT_FORMAT, ExportInfo, read_info, require_onnx

__all__ = ["BACKENDS", "OnnxModule", "with_backend", "detector_with_backend", "load_onnx_estimator",
           "onnx_cache_dir", "quantize_onnx", "synthetic_calibration", "image_calibration", "QUANT_FORMATS",
           "DEFAULT_QUANT_FORMAT"]

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8", "openvino")
#: ``quantize_static``'s formats: quantise/dequantise pairs around float operators, or
#: integer operators (QLinearConv...).
QUANT_FORMATS = ("QDQ", "QOperator")
#: The format used by ``onnxruntime-int8`` (QOperator: faster and more accurate than QDQ on
#: NanoDet and MoveNet Thunder here, docs/export.md).
DEFAULT_QUANT_FORMAT = "QOperator"
#: Version of the quantisation recipe, in the int8 cache file names (v2: Conv/MatMul/Gemm only,
#: heads float; v1 quantised every operator and broke the imported graphs).
INT8_RECIPE = "v2"
#: Synthetic calibration crops used by ``onnxruntime-int8`` unless calibration batches are given.
CALIBRATION_SIZE = 32


def onnx_cache_dir() -> Path:
    """``$POSEKIT_CACHE/onnx`` or ``~/.cache/posekit/onnx``: where :func:`with_backend` keeps exports."""
    from posekit.pretrained.fetch import cache_root
    return cache_root() / "onnx"


# ----------------------------------------------------------------------------- runners
def _default_threads(threads: int | None) -> int:
    return int(threads) if threads else max(1, torch.get_num_threads())


class _OrtRunner:
    """An ONNX Runtime session: ``run(x (B, 3, H, W) float32) -> list of arrays``."""

    def __init__(self, path: Path, threads: int) -> None:
        ort = require_onnx("onnxruntime")
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - a damaged or unsupported file: one line
            raise PosekitError(f"{path}: ONNX Runtime cannot load it ({str(e).splitlines()[0][:200]})") from None
        self.input = self.session.get_inputs()[0].name

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(None, {self.input: x})


class _OpenVinoRunner:
    """An OpenVINO compiled model (CPU): ``run(x) -> list of arrays`` in the file's output order."""

    def __init__(self, path: Path, threads: int) -> None:
        ov = require_onnx("openvino")
        core = ov.Core()
        try:
            model = core.read_model(str(path))
            # f32: the CPU plugin's default precision on CPUs with bf16 support is bf16, which
            # moved MoveNet Thunder's heatmaps by up to 6 (measured here)
            self.compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                              "PERFORMANCE_HINT": "LATENCY",
                                                              "INFERENCE_PRECISION_HINT": "f32"})
        except Exception as e:  # noqa: BLE001
            raise PosekitError(f"{path}: OpenVINO cannot compile it ({str(e).splitlines()[0][:200]})") from None
        self.request = self.compiled.create_infer_request()
        self.outputs = list(self.compiled.outputs)

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        res = self.request.infer({0: x})
        return [np.asarray(res[o]) for o in self.outputs]


_RUNNERS = {"onnxruntime": _OrtRunner, "onnxruntime-int8": _OrtRunner, "openvino": _OpenVinoRunner}


# ----------------------------------------------------------------------------- the module
class OnnxModule(nn.Module):
    """An exported file run by ONNX Runtime or OpenVINO, called like the PyTorch module.

    Args:
        path: the ``.onnx`` file (written by :mod:`posekit.export`; its metadata gives the
            outputs' form and which axes are dynamic).
        backend: ``"onnxruntime"`` (also for an int8 file), ``"onnxruntime-int8"`` or ``"openvino"``.
        threads: CPU threads of the runtime (default: ``torch.get_num_threads()``).
        export_for_size: for a file with fixed spatial sizes, ``(H, W) -> path`` of a file for
            another input size (:func:`with_backend` passes one); None: other sizes are an error.

    ``forward(x (B, 3, H, W))`` -> heads as the PyTorch module returns them (float32 CPU tensors).
    """

    def __init__(self, path: str | Path, backend: str = "onnxruntime", threads: int | None = None,
                 export_for_size: Callable[[tuple[int, int]], Path] | None = None) -> None:
        super().__init__()
        if backend not in _RUNNERS:
            raise PosekitError(f"unknown ONNX backend {backend!r}; choose from {', '.join(_RUNNERS)}")
        self.path = Path(path)
        self.info: ExportInfo = read_info(self.path)
        self.backend = backend
        self.threads = _default_threads(threads)
        self._export_for_size = export_for_size
        # an empty CPU buffer: code that finds a module's device from its tensors (Estimator.device,
        # PersonDetector.device) sees the CPU, where the runtime takes its inputs
        self.register_buffer("_device_anchor", torch.zeros(0), persistent=False)
        W, H = self.info.input_size
        self._runners = {(H, W): _RUNNERS[backend](self.path, self.threads)}

    def __repr__(self) -> str:
        return f"OnnxModule({str(self.path)!r}, {self.backend}, threads={self.threads})"

    def _runner(self, hw: tuple[int, int]):
        if self.info.dynamic_hw:
            return next(iter(self._runners.values()))
        r = self._runners.get(hw)
        if r is None:
            if self._export_for_size is None:
                W, H = self.info.input_size
                raise PosekitError(f"{self.path}: exported for input {H}x{W} (H x W), got {hw[0]}x{hw[1]}")
            r = self._runners[hw] = _RUNNERS[self.backend](self._export_for_size(hw), self.threads)
        return r

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor] | dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise PosekitError(f"{self.path}: expected input (B, 3, H, W), got {tuple(x.shape)}")
        arr = np.ascontiguousarray(x.detach().cpu().float().numpy())
        runner = self._runner((arr.shape[2], arr.shape[3]))
        if self.info.dynamic_batch or len(arr) == 1:
            outs = runner.run(arr)
        else:
            parts = [runner.run(arr[i:i + 1]) for i in range(len(arr))]
            outs = [np.concatenate(p) for p in zip(*parts)]
        from posekit.export import unflatten_heads
        tensors = {n: torch.from_numpy(np.asarray(o, np.float32)) for n, o in zip(self.info.outputs, outs)}
        if self.info.structure is not None:
            return unflatten_heads(self.info.structure, tensors)
        values = list(tensors.values())
        return tensors if self.info.form == "dict" else values if self.info.form == "list" else values[0]

    def _apply(self, fn, *args, **kwargs):
        # nothing to move: the runtime holds the weights, on the CPU
        return self


# ----------------------------------------------------------------------------- int8
def synthetic_calibration(input_size: tuple[int, int], n: int = CALIBRATION_SIZE, seed: int = 0,
                          scenes: bool = False) -> np.ndarray:
    """``(n, H, W, 3)`` uint8 RGB calibration inputs at ``input_size = (W, H)``: procedural
    figures, one filling each crop (:func:`posekit.data.synthetic.render_person_crop`), or with
    ``scenes`` whole scenes of one to four people (``render_scene``, for detectors and
    bottom-up models)."""
    from posekit.data.synthetic import render_person_crop, render_scene
    size = (int(input_size[0]), int(input_size[1]))
    if scenes:
        ims = [render_scene(np.random.default_rng([seed, i]), size=size, num_people=(1, 4))[0] for i in range(n)]
    else:
        ims = [render_person_crop(np.random.default_rng([seed, i]), size)[0] for i in range(n)]
    return np.stack(ims).astype(np.uint8)


def image_calibration(folder: str | Path, input_size: tuple[int, int], kind: str, n: int = CALIBRATION_SIZE,
                      padding: float = 1.25) -> np.ndarray:
    """``(M, H, W, 3)`` uint8 RGB calibration inputs at ``input_size = (W, H)`` from the images
    of ``folder``: for a top-down model, person crops (boxes of the PyTorch NanoDet detector,
    widened and padded as the pipeline does); for a detector or a bottom-up model, the whole
    images stretched to the input. At most ``n``."""
    from posekit.io import list_inputs, read_image
    from posekit.pipelines.preprocess import box_crop_affine, stretch_affine, warp_batch

    paths = [p for p in list_inputs([folder]) if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp")]
    if not paths:
        raise PosekitError(f"{folder}: no images for calibration")
    detector = None
    if kind == "top-down":
        from posekit.pipelines.registry import build_detector
        detector = build_detector(device="cpu")
    out: list[np.ndarray] = []
    for p in paths:
        im = read_image(p)
        if detector is None:
            out.append(warp_batch(im, [stretch_affine(im.shape[1], im.shape[0], input_size)], input_size)[0])
        else:
            boxes, _ = detector.detect(im)
            out.extend(warp_batch(im, [box_crop_affine(b, input_size, padding) for b in boxes], input_size))
        if len(out) >= n:
            break
    if not out:
        raise PosekitError(f"{folder}: the detector found no person to calibrate on")
    return np.stack(out[:n])


def _head_convs(path: str) -> list[str]:
    """Names of the Conv/MatMul/Gemm nodes nearest to each graph output (walking back through
    other operators): the heads, kept float by :func:`quantize_onnx`."""
    import onnx
    g = onnx.load(path, load_external_data=False).graph
    producer = {o: n for n in g.node for o in n.output}
    heads, seen = set(), set()
    stack = [o.name for o in g.output]
    while stack:
        t = stack.pop()
        n = producer.get(t)
        if n is None or id(n) in seen:
            continue
        seen.add(id(n))
        if n.op_type in ("Conv", "MatMul", "Gemm"):
            heads.add(n.name)
        else:
            stack.extend(n.input)
    return sorted(heads)


@contextlib.contextmanager
def _root_log_level(level: int):
    root = logging.getLogger()
    before = root.level
    root.setLevel(max(level, before))
    try:
        yield
    finally:
        root.setLevel(before)


def quantize_onnx(src: str | Path, dst: str | Path, inputs: Iterable[np.ndarray],
                  quant_format: str = DEFAULT_QUANT_FORMAT, note: str = "") -> Path:
    """Static int8 quantisation of ``src`` into ``dst`` with ONNX Runtime
    (``onnxruntime.quantization.quantize_static``: per-channel int8 weights, uint8 activations
    calibrated by min-max over ``inputs``, each a normalised ``(B, 3, H, W)`` float32 batch).
    ``quant_format``: ``"QDQ"`` or ``"QOperator"``. The posekit metadata is kept, with ``int8``
    set to the format and ``note``."""
    import dataclasses

    import onnx
    q = require_onnx("onnxruntime.quantization")
    if quant_format not in QUANT_FORMATS:
        raise PosekitError(f"unknown quantisation format {quant_format!r}; choose from {', '.join(QUANT_FORMATS)}")
    src, dst = Path(src), Path(dst)
    info = read_info(src)
    batches = [np.ascontiguousarray(b, np.float32) for b in inputs]
    if not batches:
        raise PosekitError(f"{src}: no calibration inputs")
    if not info.dynamic_batch:
        batches = [b[i:i + 1] for b in batches for i in range(len(b))]

    class _Reader(q.CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self):
            b = next(self.it, None)
            return None if b is None else {"input": b}

    pre = dst.with_name(dst.name + ".pre.onnx")
    tmp = dst.with_name(dst.name + ".tmp.onnx")
    try:
        try:   # shape inference and graph optimisation first, as ONNX Runtime recommends
            from onnxruntime.quantization.shape_inference import quant_pre_process
            with _root_log_level(logging.ERROR):
                quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
            model_in = pre
        except Exception as e:  # noqa: BLE001 - optional step
            log.info("quantisation pre-processing skipped (%s)", e)
            model_in = src
        fmt = q.QuantFormat.QDQ if quant_format == "QDQ" else q.QuantFormat.QOperator
        with _root_log_level(logging.ERROR):   # the quantiser warns on the root logger per integer tensor
            # only convolutions and matrix products, and never the last convolution before an
            # output: the in-graph pre- and post-processing of imported graphs (casts, scaling,
            # offsets in pixels) stays float
            q.quantize_static(str(model_in), str(tmp), _Reader(), quant_format=fmt, per_channel=True,
                              activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                              calibrate_method=q.CalibrationMethod.MinMax,
                              op_types_to_quantize=["Conv", "MatMul", "Gemm"],
                              nodes_to_exclude=_head_convs(str(model_in)))
        model = onnx.load(str(tmp))
        del model.metadata_props[:]
        info8 = dataclasses.replace(info, int8=f"{quant_format}{', ' + note if note else ''}", parity={})
        model.metadata_props.add(key="posekit", value=info8.to_json())
        dst.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(model, str(tmp))
        tmp.replace(dst)
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return dst


# ----------------------------------------------------------------------------- estimators
def _cached_export(est, cache: Path, opset: int, hw: tuple[int, int] | None = None) -> Path:
    """The cached export of ``est``'s module at its input (or at ``hw = (H, W)``)."""
    from posekit.export import export_estimator, module_digest
    W, H = est.input_size if hw is None else (hw[1], hw[0])
    digest = module_digest(est.module, (W, H), opset, torch.__version__, EXPORT_FORMAT, est.kind)
    path = cache / f"{digest}.onnx"
    if not path.is_file():
        e = est if hw is None else _resized(est, (W, H))
        log.info("exporting %s to %s", est.name, path)
        export_estimator(e, path, {"type": "module"}, opset=opset)
    return path


def _resized(est, size_wh: tuple[int, int]):
    e = copy.copy(est)
    e.input_size = size_wh
    return e


def with_backend(est, backend: str, threads: int | None = None, *, cache_dir: str | Path | None = None,
                 opset: int = DEFAULT_OPSET, calibration: np.ndarray | None = None,
                 quant_format: str = DEFAULT_QUANT_FORMAT):
    """A copy of the estimator ``est`` whose module runs on ``backend`` (one of :data:`BACKENDS`;
    ``"torch"`` returns ``est`` itself). The module is exported to ``cache_dir`` (default
    :func:`onnx_cache_dir`) once; ``"onnxruntime-int8"`` quantises that export, calibrated on
    ``calibration`` (``(N, H, W, 3)`` uint8 RGB inputs; default :func:`synthetic_calibration`
    crops) in ``quant_format``. Codec, spec, normalisation and name are shared."""
    if not _needs_runtime(backend):
        return est
    cache = Path(cache_dir) if cache_dir is not None else onnx_cache_dir()
    cpu_est = est
    if est.device.type != "cpu":
        cpu_est = copy.copy(est)
        cpu_est.module = copy.deepcopy(est.module).cpu()
    path = _cached_export(cpu_est, cache, opset)
    if backend == "onnxruntime-int8":
        path = _cached_int8(cpu_est, path, calibration, quant_format)

    def export_for_size(hw: tuple[int, int]) -> Path:
        p = _cached_export(cpu_est, cache, opset, hw)
        return _cached_int8(_resized(cpu_est, (hw[1], hw[0])), p, calibration, quant_format) \
            if backend == "onnxruntime-int8" else p

    out = copy.copy(est)
    out.module = OnnxModule(path, backend, threads, export_for_size=export_for_size)
    out.backend = backend
    return out


def _needs_runtime(backend: str) -> bool:
    """False for ``"torch"``; for another of :data:`BACKENDS` True once its runtime and ``onnx``
    are importable (else the one-line error of :func:`require_onnx`); an unknown name is a
    :class:`PosekitError` listing them."""
    if backend not in BACKENDS:
        raise PosekitError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "torch":
        return False
    require_onnx("openvino" if backend == "openvino" else "onnxruntime")
    require_onnx("onnx")
    return True


def _cached_int8(est, path: Path, calibration: np.ndarray | None, quant_format: str) -> Path:
    import hashlib
    if calibration is None:
        calibration = synthetic_calibration(est.input_size, scenes=est.kind == "bottom-up")
        tag = f"synthetic{len(calibration)}"
    else:
        tag = "calib" + hashlib.sha256(np.ascontiguousarray(calibration).tobytes()).hexdigest()[:8]
    dst = path.with_name(f"{path.stem}.int8{INT8_RECIPE}-{quant_format}-{tag}.onnx")
    if not dst.is_file():
        log.info("quantising %s to int8 (%s, %s)", path.name, quant_format, tag)
        batches = [est.inputs(calibration[i:i + 8]).cpu().numpy() for i in range(0, len(calibration), 8)]
        quantize_onnx(path, dst, batches, quant_format, note=tag)
    return dst


def detector_with_backend(detector, backend: str, threads: int | None = None, *,
                          cache_dir: str | Path | None = None, opset: int = DEFAULT_OPSET,
                          calibration: np.ndarray | None = None, quant_format: str = DEFAULT_QUANT_FORMAT):
    """A copy of a :class:`~posekit.pipelines.detector.PersonDetector` whose model runs on
    ``backend`` (see :func:`with_backend`; int8 calibration: synthetic whole images unless
    ``calibration`` ``(N, H, W, 3)`` uint8 at the detector's input is given)."""
    if not _needs_runtime(backend):
        return detector
    from posekit.export import export_detector, module_digest
    from posekit.models.estimator import card_inputs

    cache = Path(cache_dir) if cache_dir is not None else onnx_cache_dir()
    name = detector.card.name
    module = detector.model
    digest = module_digest(module, tuple(detector.card.input_size), opset, torch.__version__, EXPORT_FORMAT, "detector")
    path = cache / f"{digest}.onnx"
    if not path.is_file():
        log.info("exporting %s to %s", name, path)
        export_detector(name, path, opset=opset)
    if backend == "onnxruntime-int8":
        W, H = detector.card.input_size
        if calibration is None:
            calibration = synthetic_calibration((W, H), 16, scenes=True)
            tag = f"synthetic{len(calibration)}"
        else:
            import hashlib
            tag = "calib" + hashlib.sha256(np.ascontiguousarray(calibration).tobytes()).hexdigest()[:8]
        dst = path.with_name(f"{path.stem}.int8{INT8_RECIPE}-{quant_format}-{tag}.onnx")
        if not dst.is_file():
            batches = [card_inputs(calibration[i:i + 4], torch.device("cpu"), detector.card).numpy()
                       for i in range(0, len(calibration), 4)]
            quantize_onnx(path, dst, batches, quant_format, note=tag)
        path = dst
    out = copy.copy(detector)
    out.model = OnnxModule(path, backend, threads)
    out.backend = backend
    return out


def load_onnx_estimator(path: str | Path, backend: str = "onnxruntime", threads: int | None = None):
    """An :class:`~posekit.models.estimator.Estimator` running an exported file: the codec,
    spec, input size and normalisation are rebuilt from the file's metadata (the training
    config of a checkpoint or zoo model; the card of an imported model)."""
    import functools

    from posekit.models.estimator import PRETRAINED, Estimator, card_inputs, imagenet_inputs
    from posekit.skeleton import KeypointSpec, get_spec

    path = Path(path)
    info = read_info(path)
    if info.kind == "detector":
        raise PosekitError(f"{path}: a person detector, not a pose model")
    module = OnnxModule(path, "onnxruntime" if backend == "onnxruntime-int8" else backend, threads)
    src = info.source
    if src.get("type") == "config":
        from posekit.engine.config import config_from_dict
        from posekit.engine.data import build_codec
        cfg = config_from_dict(src["config"], source=str(path))
        spec = get_spec(cfg.data.spec if not info.spec else info.spec)
        est = Estimator(module, build_codec(cfg, spec), input_size=info.input_size, spec=spec,
                        normalise=imagenet_inputs, kind=info.kind, name=info.name, source=str(path))
    elif src.get("type") == "card":
        from posekit.pretrained.cards import get_card
        card = get_card(src["card"])
        kind, make_codec = PRETRAINED[src["card"]]
        spec = get_spec(card.spec)
        model_spec = spec
        if info.spec_order is not None:
            model_spec = KeypointSpec(f"{spec.name} in {card.name}'s order", tuple(card.keypoint_order), (), None,
                                      f"{card.name}'s channel order")
        est = Estimator(module, make_codec(card, model_spec, **src.get("codec_options", {})),
                        input_size=tuple(card.input_size), spec=spec,
                        normalise=functools.partial(card_inputs, card=card), kind=kind, name=info.name,
                        source=str(path), spec_order=info.spec_order)
    else:
        raise PosekitError(f"{path}: its metadata does not say how to decode it (source {src.get('type')!r})")
    est.backend = backend
    return est

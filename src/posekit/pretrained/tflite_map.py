"""Put the weights of a TFLite file into the TF.js graph of the same network.

MediaPipe ships BlazePose as TFLite (``@mediapipe/pose``) and the TF.js package ships the same
networks converted separately: both store float16 weights, but the two converters folded batch
norm and rounded on their own, so 16-29 % of the tensors differ by one float16 step. Taking the
weights from the TFLite file makes posekit compute what MediaPipe computes.

Tensor names differ between the two files, so the mapping is structural: every convolution node
of the TF.js graph (``Conv2D``/``_FusedConv2D``: filter HWIO, depthwise: filter ``(kh, kw, C,
M)``, optional bias) is paired with the one TFLite ``CONV_2D``/``DEPTHWISE_CONV_2D`` operator whose
filter (OHWI, resp. ``(1, kh, kw, C*M)``) and bias have the same shapes *and* lie within one
float16 step of the TF.js values, element by element. The pairing must be one-to-one and cover
every float weight of the TF.js graph, else :class:`PosekitError` is raised: this is a strong
check that the mapping is right (a wrong pairing differs by far more than one step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.errors import PosekitError
from posekit.pretrained.tflite import TFLiteModel
from posekit.pretrained.tfjs import GraphNode

__all__ = ["MappingReport", "float16_steps", "tflite_weights_for_graph"]

CONV_2D, DEPTHWISE_CONV_2D = 3, 4
_TFJS_CONV = {"Conv2D": False, "_FusedConv2D": False,
              "DepthwiseConv2dNative": True, "FusedDepthwiseConv2dNative": True}


@dataclass(frozen=True)
class MappingReport:
    """How the TFLite weights compare with the TF.js weights they replace."""

    tensors: int           # float weights replaced
    differing: int         # of which differ from the TF.js value at all
    max_steps: float       # largest difference, in float16 steps (<= 1 by construction)


def float16_steps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| in units of the float16 spacing at the larger of |a|, |b| (elementwise)."""
    big = np.maximum(np.abs(a), np.abs(b)).astype(np.float16)
    step = np.spacing(big).astype(np.float32)
    return np.abs(a.astype(np.float32) - b.astype(np.float32)) / step


def _tfjs_to_tflite_layout(w: np.ndarray, depthwise: bool) -> np.ndarray:
    if depthwise:  # (kh, kw, C, M) -> (1, kh, kw, C*M), channel c*M + m
        kh, kw, c, m = w.shape
        return w.reshape(1, kh, kw, c * m)
    return w.transpose(3, 0, 1, 2)  # HWIO -> OHWI


def _tflite_to_tfjs_layout(w: np.ndarray, tfjs_shape: tuple[int, ...], depthwise: bool) -> np.ndarray:
    if depthwise:
        return w.reshape(tfjs_shape)
    return w.transpose(1, 2, 3, 0)


def _close(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool((float16_steps(a, b) <= 1.0).all())


def tflite_weights_for_graph(nodes: list[GraphNode], weights: dict[str, np.ndarray],
                             model: TFLiteModel, source: str = "<tflite>"
                             ) -> tuple[dict[str, np.ndarray], MappingReport]:
    """TF.js weight name -> the TFLite tensor it corresponds to (float32, in the TF.js layout).

    ``weights`` are the TF.js graph's decoded weights. Only float weights are returned (integer
    constants such as shapes stay as they are). Raises PosekitError naming the node when a
    convolution has no unique TFLite counterpart, or when a float weight is not a conv weight.
    """
    consts = model.constants()
    tfl_convs: list[tuple[int, bool, np.ndarray, np.ndarray | None]] = []
    for k, op in enumerate(model.operators):
        if op.builtin_code not in (CONV_2D, DEPTHWISE_CONV_2D) or len(op.inputs) < 2:
            continue
        filt = consts.get(op.inputs[1])
        bias = consts.get(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        if filt is None:
            raise PosekitError(f"{source}[operator {k}]: convolution filter is not a constant")
        tfl_convs.append((k, op.builtin_code == DEPTHWISE_CONV_2D, filt, bias))

    by_shape: dict[tuple[bool, tuple[int, ...]], list[int]] = {}
    for j, (_, dw, filt, _) in enumerate(tfl_convs):
        by_shape.setdefault((dw, filt.shape), []).append(j)

    out: dict[str, np.ndarray] = {}
    taken: dict[int, str] = {}
    max_steps, differing = 0.0, 0
    for n in nodes:
        if n.op not in _TFJS_CONV:
            continue
        dw = _TFJS_CONV[n.op]
        fname = n.inputs[1][0]
        bname = n.inputs[2][0] if len(n.inputs) > 2 and "BiasAdd" in n.attr.get("fused_ops", []) else None
        if fname not in weights:
            raise PosekitError(f"{source}[{n.name}]: filter {fname} is not a weight of the TF.js graph")
        filt = _tfjs_to_tflite_layout(weights[fname], dw)
        bias = weights[bname] if bname else None
        hits = [j for j in by_shape.get((dw, filt.shape), []) if _close(filt, tfl_convs[j][2])
                and _close(bias, tfl_convs[j][3])]
        if len(hits) != 1:
            raise PosekitError(f"{source}[{n.name}]: {len(hits)} TFLite convolutions match this node's "
                               f"weights within one float16 step (need exactly 1)")
        j = hits[0]
        if j in taken:
            raise PosekitError(f"{source}[{n.name}]: TFLite operator {tfl_convs[j][0]} already matched "
                               f"node {taken[j]}")
        taken[j] = n.name
        pairs = [(fname, tfl_convs[j][2], filt)]
        if bname:
            pairs.append((bname, tfl_convs[j][3], bias))
        for name, new, old in pairs:
            steps = float(float16_steps(new, old).max()) if new.size else 0.0
            max_steps = max(max_steps, steps)
            differing += int(steps > 0)
            arr = (_tflite_to_tfjs_layout(new, weights[name].shape, dw) if name == fname
                   else new.reshape(weights[name].shape))
            out[name] = np.ascontiguousarray(arr, dtype=np.float32)
    unmapped = [k for k, v in weights.items() if v.dtype.kind == "f" and k not in out]
    if unmapped:
        raise PosekitError(f"{source}: {len(unmapped)} float weights of the TF.js graph have no TFLite "
                           f"counterpart (first: {unmapped[0]})")
    if len(taken) != len(tfl_convs):
        raise PosekitError(f"{source}: {len(tfl_convs) - len(taken)} TFLite convolutions were not matched")
    return out, MappingReport(len(out), differing, max_steps)

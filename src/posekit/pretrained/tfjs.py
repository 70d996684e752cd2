"""Import a TensorFlow.js graph model (``model.json`` + weight shards) as a native PyTorch module.

No TensorFlow is needed: the JSON topology is parsed, the weight shards are decoded with numpy
(float32, float16 and the affine ``uint8``/``uint16`` quantisation of the TF.js converter), and
the graph is executed node by node in topological order by :class:`TFJSGraph`.

Layout. Tensors flow through the module exactly as in TensorFlow, i.e. NHWC for image tensors.
Convolutions and pools view an NHWC tensor as an NCHW tensor in ``channels_last`` memory
(``x.permute(0, 3, 1, 2)``, no copy), call the PyTorch kernel and view the result back, so the
graph keeps TF semantics without copying activations. ``forward`` therefore takes its inputs in
the graph's own layout (the placeholder's layout: NHWC for all the Google models, NCHW for
NanoDet, which was converted from ONNX) and returns the selected nodes' tensors unchanged.
:class:`posekit.pretrained.PretrainedModel` wraps it to take ``(B, 3, H, W)`` images.

TF conventions implemented explicitly (each has a unit test on a tiny synthetic graph):

- ``padding="SAME"``: total padding ``max((ceil(n/s)-1)*s + (k-1)*d + 1 - n, 0)`` with the extra
  pixel at the bottom/right (``before = total // 2``). Symmetric padding silently shifts every
  feature map by half a pixel and wrecks MoveNet.
- ``ResizeBilinear``: the three TF modes (legacy ``align_corners=False, half_pixel_centers=False``:
  ``src = dst * in/out``; ``half_pixel_centers``: ``src = (dst + 0.5) * in/out - 0.5``;
  ``align_corners``: ``src = dst * (in-1)/(out-1)``), with TF's clamping of the two taps.
- ``Conv2DBackpropInput`` (transposed conv) as the gradient of a SAME/VALID conv: full transposed
  convolution then a crop of ``pad_before`` pixels.
- ``_FusedConv2D`` / ``FusedDepthwiseConv2dNative``: ``fused_ops`` (base64 strings in the JSON)
  among ``BiasAdd``, ``Relu``, ``Relu6``, ``Elu``, ``Sigmoid``, ``Tanh``, ``Prelu``, ``LeakyRelu``.

Unsupported op types raise :class:`posekit.errors.PosekitError` naming the node and the file.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from posekit.errors import PosekitError

__all__ = [
    "GraphNode", "TFJSGraph", "import_graph", "load_graph_json", "read_weights",
    "op_types", "same_padding", "resize_bilinear_tf", "SUPPORTED_OPS",
]

log = logging.getLogger(__name__)

_TF_DTYPES = {
    "DT_FLOAT": torch.float32, "DT_HALF": torch.float16, "DT_DOUBLE": torch.float64,
    "DT_INT32": torch.int32, "DT_INT64": torch.int64, "DT_BOOL": torch.bool,
    "DT_UINT8": torch.uint8, "DT_INT8": torch.int8, "DT_INT16": torch.int16,
}
_NP_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_, "float16": np.float16,
              "uint8": np.uint8, "uint16": np.uint16, "int8": np.int8, "int16": np.int16}


# ----------------------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class GraphNode:
    """One node of the graph: ``inputs`` are ``(node_name, output_index)`` pairs."""

    name: str
    op: str
    inputs: tuple[tuple[str, int], ...]
    attr: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


def _parse_ref(ref: str) -> tuple[str, int] | None:
    """``"a/b:1"`` -> ``("a/b", 1)``; control inputs (``"^x"``) -> None."""
    if ref.startswith("^"):
        return None
    m = re.fullmatch(r"(.*?)(?::(\d+))?", ref)
    assert m is not None
    return m.group(1), int(m.group(2) or 0)


def _attr_value(v: dict[str, Any]) -> Any:
    """Decode one TF AttrValue (JSON form): strings are base64, ints are decimal strings."""
    if "s" in v:
        return base64.b64decode(v["s"]).decode("utf-8", "replace")
    if "i" in v:
        return int(v["i"])
    if "f" in v:
        return float(v["f"])
    if "b" in v:
        return bool(v["b"])
    if "type" in v:
        return v["type"]
    if "shape" in v:
        return [int(d.get("size", -1)) for d in v["shape"].get("dim", [])]
    if "list" in v:
        lst = v["list"]
        if "s" in lst:
            return [base64.b64decode(s).decode("utf-8", "replace") for s in lst["s"]]
        if "i" in lst:
            return [int(i) for i in lst["i"]]
        if "f" in lst:
            return [float(f) for f in lst["f"]]
        if "b" in lst:
            return [bool(b) for b in lst["b"]]
        return []
    if "tensor" in v:
        return v["tensor"]
    return None


def load_graph_json(model_json: Path) -> tuple[list[GraphNode], list[dict[str, Any]], dict[str, Any]]:
    """Parse ``model.json`` -> (nodes, weights manifest, whole JSON document)."""
    model_json = Path(model_json)
    try:
        doc = json.loads(model_json.read_text())
    except (OSError, ValueError) as exc:
        raise PosekitError(f"{model_json}: cannot read TF.js model JSON ({exc})") from exc
    topo = doc.get("modelTopology")
    if not isinstance(topo, dict) or "node" not in topo:
        raise PosekitError(f"{model_json}: not a TF.js graph model (no modelTopology.node)")
    if topo.get("library", {}).get("function"):
        log.debug("%s: graph library functions are ignored", model_json)
    nodes = []
    for raw in topo["node"]:
        ins = tuple(r for r in (_parse_ref(i) for i in raw.get("input", [])) if r is not None)
        attr = {k: _attr_value(v) for k, v in raw.get("attr", {}).items()}
        nodes.append(GraphNode(raw["name"], raw["op"], ins, attr))
    return nodes, doc.get("weightsManifest", []), doc


def op_types(model_json: Path) -> dict[str, int]:
    """Count of each op type in a graph (handy to check coverage before importing)."""
    nodes, _, _ = load_graph_json(model_json)
    counts: dict[str, int] = {}
    for n in nodes:
        counts[n.op] = counts.get(n.op, 0) + 1
    return dict(sorted(counts.items()))


def read_weights(model_json: Path, manifest: list[dict[str, Any]] | None = None) -> dict[str, np.ndarray]:
    """Decode every weight of the manifest into numpy arrays (float32 for float weights).

    The shards of each group are concatenated and the weights read in manifest order. Weight
    ``dtype`` is the logical dtype; an optional ``quantization`` entry gives the stored dtype:
    ``float16`` (read as half, widened exactly), or ``uint8``/``uint16`` with ``scale`` and
    ``min`` (affine: ``value = q * scale + min``). Other encodings raise PosekitError.
    """
    model_json = Path(model_json)
    if manifest is None:
        _, manifest, _ = load_graph_json(model_json)
    out: dict[str, np.ndarray] = {}
    for gi, group in enumerate(manifest):
        buf = bytearray()
        for p in group["paths"]:
            shard = model_json.parent / p
            try:
                buf += shard.read_bytes()
            except OSError as exc:
                raise PosekitError(f"{shard}: cannot read weight shard ({exc})") from exc
        data = bytes(buf)
        off = 0
        for w in group["weights"]:
            name, shape, dtype = w["name"], [int(s) for s in w["shape"]], w["dtype"]
            count = int(np.prod(shape)) if shape else 1
            q = w.get("quantization")
            if dtype == "string":
                raise PosekitError(f"{model_json}[{name}]: string weights are not supported")
            if q:
                qd = q["dtype"]
                if qd not in _NP_DTYPES:
                    raise PosekitError(f"{model_json}[{name}]: unknown quantization dtype {qd!r}")
                nbytes = count * np.dtype(_NP_DTYPES[qd]).itemsize
                raw = np.frombuffer(data, dtype=_NP_DTYPES[qd], count=count, offset=off)
                if qd == "float16":
                    arr = raw.astype(np.float32)
                elif "scale" in q:
                    arr = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q.get("min", 0.0))
                else:
                    raise PosekitError(f"{model_json}[{name}]: quantization {q} has no scale/min")
                if dtype == "int32":
                    arr = np.round(arr).astype(np.int32)
            else:
                if dtype not in _NP_DTYPES:
                    raise PosekitError(f"{model_json}[{name}]: unsupported weight dtype {dtype!r}")
                nbytes = count * np.dtype(_NP_DTYPES[dtype]).itemsize
                arr = np.frombuffer(data, dtype=_NP_DTYPES[dtype], count=count, offset=off).copy()
            if off + nbytes > len(data):
                raise PosekitError(f"{model_json}[{name}]: weight shards of group {gi} are too short")
            off += nbytes
            out[name] = arr.reshape(shape)
        if off != len(data):
            log.warning("%s: group %d has %d unread bytes", model_json, gi, len(data) - off)
    return out


# ------------------------------------------------------------------------------- free math helpers
def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'SAME' padding of one spatial axis -> (before, after); the extra pixel goes after."""
    out = -(-size // stride)
    eff_k = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + eff_k - size, 0)
    return total // 2, total - total // 2


def _resize_taps(in_size: int, out_size: int, align_corners: bool, half_pixel: bool,
                 device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lower index, upper index and lerp weight of each output pixel, as in TF's resize kernel."""
    i = torch.arange(out_size, dtype=torch.float64, device=device)
    if align_corners and out_size > 1:
        scale = (in_size - 1) / (out_size - 1)
    else:
        scale = in_size / out_size
    src = (i + 0.5) * scale - 0.5 if half_pixel else i * scale
    src = src.to(torch.float32).to(torch.float64)  # TF computes the source coordinate in float32
    fl = torch.floor(src)
    lower = fl.clamp(min=0).long()
    upper = torch.minimum(torch.ceil(src).long(), torch.tensor(in_size - 1, device=device))
    lower = lower.clamp(max=in_size - 1)
    lerp = (src - fl).to(torch.float32)
    return lower, upper, lerp


def resize_bilinear_tf(x: torch.Tensor, size: tuple[int, int], align_corners: bool = False,
                       half_pixel_centers: bool = False) -> torch.Tensor:
    """TF ``ResizeBilinear`` on an NHWC tensor ``(B, H, W, C)`` -> ``(B, h, w, C)``.

    The default (both flags False) is TF's legacy mode, ``src = dst * in / out``, which is *not*
    PyTorch's ``align_corners=False`` (that one is TF's ``half_pixel_centers=True``).
    """
    h, w = int(size[0]), int(size[1])
    if x.dtype != torch.float32:
        x = x.float()
    y0, y1, ly = _resize_taps(x.shape[1], h, align_corners, half_pixel_centers, x.device)
    x0, x1, lx = _resize_taps(x.shape[2], w, align_corners, half_pixel_centers, x.device)
    top = x[:, y0]
    bot = x[:, y1]
    ly = ly.view(1, h, 1, 1)
    lx = lx.view(1, 1, w, 1)
    tl, tr = top[:, :, x0], top[:, :, x1]
    bl, br = bot[:, :, x0], bot[:, :, x1]
    t = tl + (tr - tl) * lx
    b = bl + (br - bl) * lx
    return t + (b - t) * ly


def _nhwc_to_view(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 3, 1, 2)


def _view_to_nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1)


def _tf_dtype(name: str | None) -> torch.dtype:
    if name is None:
        return torch.float32
    if name not in _TF_DTYPES:
        raise PosekitError(f"unsupported TF dtype {name}")
    return _TF_DTYPES[name]


def _const_from_attr(node: GraphNode) -> np.ndarray | None:
    """Small constants are inlined in the node's ``value`` attr (tensor proto in JSON form)."""
    t = node.attr.get("value")
    if not isinstance(t, dict):
        return None
    shape = [int(d.get("size", 0)) for d in t.get("tensorShape", {}).get("dim", [])]
    dt = t.get("dtype", "DT_FLOAT")
    np_dt = {"DT_FLOAT": np.float32, "DT_INT32": np.int32, "DT_BOOL": np.bool_, "DT_INT64": np.int64}.get(dt)
    if np_dt is None:
        return None
    for key in ("floatVal", "intVal", "boolVal", "int64Val"):
        if key in t:
            vals = np.asarray(t[key], dtype=np_dt)
            n = int(np.prod(shape)) if shape else 1
            if vals.size == 1 and n != 1:
                vals = np.full(n, vals[0], dtype=np_dt)
            return vals.reshape(shape)
    if "tensorContent" in t:
        return np.frombuffer(base64.b64decode(t["tensorContent"]), dtype=np_dt).reshape(shape).copy()
    return None


# ----------------------------------------------------------------------------------------- module
_Step = tuple[str, Callable[..., list[torch.Tensor]], tuple[tuple[str, int], ...], int]


class TFJSGraph(nn.Module):
    """Executes a TF.js graph in PyTorch.

    ``forward(*inputs)`` takes one tensor per placeholder, in :attr:`input_names` order and in the
    graph's own layout/dtype (float inputs are accepted where the graph casts an int input), and
    returns a dict ``{output_name: tensor}`` in :attr:`output_names` order. Constants are buffers
    (``state_dict`` holds them); convolution kernels are stored pre-transposed in PyTorch layout.
    """

    def __init__(self, nodes: list[GraphNode], weights: dict[str, np.ndarray],
                 outputs: list[str] | None = None, source: str = "<graph>",
                 inputs: list[str] | None = None) -> None:
        super().__init__()
        self.source = source
        if inputs is not None:  # feed these nodes directly: they become placeholders
            known = {n.name for n in nodes}
            for name in inputs:
                if name not in known:
                    raise PosekitError(f"{source}: input node {name!r} is not in the graph")
            cut = set(inputs)
            nodes = [GraphNode(n.name, "Placeholder", ()) if n.name in cut else n for n in nodes]
        by_name = {n.name: n for n in nodes}
        self.__dict__["_nodes_map"] = by_name  # import-time only, dropped at the end
        if outputs is None:
            outputs = self._default_outputs(nodes)
        self.output_names = list(outputs)
        out_refs = []
        for o in self.output_names:
            ref = _parse_ref(o)
            if ref is None or ref[0] not in by_name:
                raise PosekitError(f"{source}: output node {o!r} is not in the graph")
            out_refs.append(ref)
        self._out_refs = tuple(out_refs)
        order = self._toposort(nodes, by_name, [r[0] for r in out_refs])
        placeholders = [n.name for n in order if n.op == "Placeholder"]
        self.input_names = [i for i in inputs if i in placeholders] if inputs is not None else placeholders
        self._buf_names: dict[str, str] = {}
        self._steps: list[_Step] = []
        self._weights = weights
        runtime_refs: set[str] = {r[0] for r in out_refs}
        for n in order:
            if n.op in ("Const", "Placeholder"):
                continue
            builder = getattr(self, f"_op_{n.op}", None)
            if builder is None:
                raise PosekitError(f"{source}[{n.name}]: unsupported op type {n.op!r} "
                                   f"(supported: {', '.join(SUPPORTED_OPS)})")
            built = builder(n)
            fn, used = built if isinstance(built, tuple) else (built, range(len(n.inputs)))
            refs = tuple(n.inputs[i] for i in used)
            runtime_refs.update(r[0] for r in refs)
            self._steps.append((n.name, fn, refs, len(self._steps)))
        for n in order:  # constants still read at run time (kernels were folded into buffers)
            if n.op == "Const" and n.name in runtime_refs:
                self._register_const(n)
        del self._weights
        del self.__dict__["_nodes_map"]

    # -------------------------------------------------------------------- graph bookkeeping
    @staticmethod
    def _default_outputs(nodes: list[GraphNode]) -> list[str]:
        used = {src for n in nodes for src, _ in n.inputs}
        return [n.name for n in nodes if n.name not in used and n.op not in ("Const", "Placeholder")]

    def _toposort(self, nodes: list[GraphNode], by_name: dict[str, GraphNode],
                  targets: list[str]) -> list[GraphNode]:
        needed: set[str] = set()
        stack = list(targets)
        while stack:
            name = stack.pop()
            if name in needed:
                continue
            if name not in by_name:
                raise PosekitError(f"{self.source}: node {name!r} is referenced but not defined")
            needed.add(name)
            stack.extend(src for src, _ in by_name[name].inputs)
        order: list[GraphNode] = []
        state: dict[str, int] = {}
        for root in [n.name for n in nodes if n.name in needed]:
            if root in state:
                continue
            work = [(root, 0)]
            while work:
                name, i = work.pop()
                node = by_name[name]
                if i == 0:
                    if state.get(name) == 2:
                        continue
                    state[name] = 1
                if i < len(node.inputs):
                    work.append((name, i + 1))
                    child = node.inputs[i][0]
                    if state.get(child) is None:
                        work.append((child, 0))
                    elif state.get(child) == 1:
                        raise PosekitError(f"{self.source}[{name}]: graph has a cycle")
                else:
                    state[name] = 2
                    order.append(node)
        return order

    def _const_array(self, node: GraphNode) -> np.ndarray:
        if node.name in self._weights:
            return self._weights[node.name]
        arr = _const_from_attr(node)
        if arr is None:
            raise PosekitError(f"{self.source}[{node.name}]: constant has no value in the weights")
        return arr

    def _register_const(self, node: GraphNode) -> None:
        arr = self._const_array(node)
        key = f"c{len(self._buf_names)}_" + re.sub(r"[^0-9A-Za-z_]", "_", node.name)[-40:]
        self.register_buffer(key, torch.from_numpy(np.array(arr, copy=True)))
        self._buf_names[node.name] = key

    def _new_buffer(self, node: GraphNode, tag: str, t: torch.Tensor) -> str:
        key = f"k{len(self._steps)}_{tag}_" + re.sub(r"[^0-9A-Za-z_]", "_", node.name)[-40:]
        self.register_buffer(key, t.contiguous())
        return key

    def _static(self, node: GraphNode, i: int) -> np.ndarray:
        """Value of a constant input, needed at import time (kernels, axes, sizes)."""
        src = node.inputs[i][0]
        cnode = self._node_by_name(src)
        if cnode is None or cnode.op != "Const":
            raise PosekitError(f"{self.source}[{node.name}]: input {i} ({src}) must be a constant")
        return self._const_array(cnode)

    def _node_by_name(self, name: str) -> GraphNode | None:
        return self.__dict__["_nodes_map"].get(name)

    # ------------------------------------------------------------------------------ forward
    def forward(self, *inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        if len(inputs) != len(self.input_names):
            raise PosekitError(f"{self.source}: expected {len(self.input_names)} inputs "
                               f"({', '.join(self.input_names)}), got {len(inputs)}")
        env: dict[str, list[torch.Tensor]] = {}
        for name, x in zip(self.input_names, inputs):
            env[name] = [x]
        for name, key in self._buf_names.items():
            env[name] = [getattr(self, key)]
        for name, fn, refs, _ in self._steps:
            args = [env[src][idx] for src, idx in refs]
            env[name] = fn(*args)
        return {o: env[src][idx] for o, (src, idx) in zip(self.output_names, self._out_refs)}

    # --------------------------------------------------------------------------- conv family
    def _activation(self, node: GraphNode, ops: list[str]) -> Callable[..., torch.Tensor]:
        alpha = float(node.attr.get("leakyrelu_alpha", 0.2))
        acts = [o for o in ops if o != "BiasAdd"]
        if len(acts) > 1:
            raise PosekitError(f"{self.source}[{node.name}]: fused_ops {ops} not supported")
        act = acts[0] if acts else None
        if act is None:
            return lambda y, extra: y
        if act == "Relu":
            return lambda y, extra: torch.relu(y)
        if act == "Relu6":
            return lambda y, extra: torch.clamp(y, 0.0, 6.0)
        if act == "Elu":
            return lambda y, extra: F.elu(y)
        if act == "Sigmoid":
            return lambda y, extra: torch.sigmoid(y)
        if act == "Tanh":
            return lambda y, extra: torch.tanh(y)
        if act == "LeakyRelu":
            return lambda y, extra: F.leaky_relu(y, alpha)
        if act == "Prelu":
            return lambda y, extra: torch.where(y >= 0, y, y * extra)
        raise PosekitError(f"{self.source}[{node.name}]: fused op {act!r} not supported")

    def _conv_common(self, node: GraphNode, depthwise: bool, fused: bool) -> Callable[..., list[torch.Tensor]]:
        fmt = node.attr.get("data_format", "NHWC")
        if fmt != "NHWC":
            raise PosekitError(f"{self.source}[{node.name}]: data_format {fmt} not supported")
        w = torch.from_numpy(np.ascontiguousarray(self._static(node, 1))).float()
        kh, kw, cin, cm = w.shape
        if depthwise:
            wt = w.permute(2, 3, 0, 1).reshape(cin * cm, 1, kh, kw)
            groups = cin
        else:
            wt = w.permute(3, 2, 0, 1)
            groups = 1
        wkey = self._new_buffer(node, "w", wt.contiguous(memory_format=torch.channels_last))
        ops = list(node.attr.get("fused_ops", [])) if fused else []
        bkey = None
        if "BiasAdd" in ops:
            bkey = self._new_buffer(node, "b", torch.from_numpy(np.ascontiguousarray(self._static(node, 2))).float())
        if fused and ("FusedBatchNorm" in ops or "FusedBatchNormV3" in ops):
            raise PosekitError(f"{self.source}[{node.name}]: fused batch norm is not supported")
        act = self._activation(node, ops)
        extra_idx = 3 if "Prelu" in ops else None
        strides = node.attr.get("strides", [1, 1, 1, 1])
        dil = node.attr.get("dilations", [1, 1, 1, 1])
        sh, sw, dh, dw = strides[1], strides[2], dil[1], dil[2]
        padding = node.attr.get("padding", "VALID")
        explicit = node.attr.get("explicit_paddings", [])

        def run(x: torch.Tensor, *rest: torch.Tensor) -> list[torch.Tensor]:
            xv = _nhwc_to_view(x.float() if not x.is_floating_point() else x)
            H, W = xv.shape[2], xv.shape[3]
            if padding == "SAME":
                pt, pb = same_padding(H, kh, sh, dh)
                pl, pr = same_padding(W, kw, sw, dw)
            elif padding == "EXPLICIT":
                pt, pb, pl, pr = explicit[2], explicit[3], explicit[4], explicit[5]
            else:
                pt = pb = pl = pr = 0
            if pt == pb and pl == pr:
                pad = (pt, pl)
            else:
                xv = F.pad(xv, (pl, pr, pt, pb))
                pad = (0, 0)
            b = getattr(self, bkey) if bkey else None
            y = F.conv2d(xv, getattr(self, wkey), b, (sh, sw), pad, (dh, dw), groups)
            y = _view_to_nhwc(y)
            extra = rest[0] if rest else None
            return [act(y, extra)]

        return run, ((0, extra_idx) if extra_idx is not None else (0,))

    def _op_Conv2D(self, n: GraphNode):
        return self._conv_common(n, depthwise=False, fused=False)

    def _op__FusedConv2D(self, n: GraphNode):
        return self._conv_common(n, depthwise=False, fused=True)

    def _op_DepthwiseConv2dNative(self, n: GraphNode):
        return self._conv_common(n, depthwise=True, fused=False)

    def _op_FusedDepthwiseConv2dNative(self, n: GraphNode):
        return self._conv_common(n, depthwise=True, fused=True)

    def _op_Conv2DBackpropInput(self, n: GraphNode):
        """Inputs: (output_shape, filter (kh, kw, out_c, in_c), x). Gradient of a conv."""
        w = torch.from_numpy(np.ascontiguousarray(self._static(n, 1))).float()
        kh, kw, _, _ = w.shape
        wkey = self._new_buffer(n, "w", w.permute(3, 2, 0, 1))
        s = n.attr.get("strides", [1, 1, 1, 1])
        sh, sw = s[1], s[2]
        padding = n.attr.get("padding", "VALID")
        if n.attr.get("data_format", "NHWC") != "NHWC":
            raise PosekitError(f"{self.source}[{n.name}]: only NHWC transposed conv is supported")

        def run(out_shape: torch.Tensor, x: torch.Tensor) -> list[torch.Tensor]:
            oh, ow = int(out_shape[1]), int(out_shape[2])
            y = F.conv_transpose2d(_nhwc_to_view(x), getattr(self, wkey), None, (sh, sw))
            pt = pl = 0
            if padding == "SAME":  # padding of the forward conv mapping (oh, ow) -> x's size
                pt = max((x.shape[1] - 1) * sh + kh - oh, 0) // 2
                pl = max((x.shape[2] - 1) * sw + kw - ow, 0) // 2
            return [_view_to_nhwc(y[:, :, pt:pt + oh, pl:pl + ow])]

        return run, (0, 2)

    # ------------------------------------------------------------------------------ pooling
    def _pool(self, n: GraphNode, kind: str):
        k, s = n.attr.get("ksize"), n.attr.get("strides")
        if n.attr.get("data_format", "NHWC") != "NHWC":
            raise PosekitError(f"{self.source}[{n.name}]: only NHWC pooling is supported")
        kh, kw, sh, sw = k[1], k[2], s[1], s[2]
        padding = n.attr.get("padding", "VALID")

        def run(x: torch.Tensor) -> list[torch.Tensor]:
            xv = _nhwc_to_view(x)
            if padding == "SAME":
                pt, pb = same_padding(xv.shape[2], kh, sh)
                pl, pr = same_padding(xv.shape[3], kw, sw)
            else:
                pt = pb = pl = pr = 0
            if kind == "max":
                if pt or pb or pl or pr:
                    xv = F.pad(xv, (pl, pr, pt, pb), value=float("-inf"))
                y = F.max_pool2d(xv, (kh, kw), (sh, sw))
            else:  # TF's SAME average excludes the padded cells from the count
                if pt or pb or pl or pr:
                    ones = torch.ones_like(xv[:, :1])
                    num = F.avg_pool2d(F.pad(xv, (pl, pr, pt, pb)), (kh, kw), (sh, sw))
                    den = F.avg_pool2d(F.pad(ones, (pl, pr, pt, pb)), (kh, kw), (sh, sw))
                    y = num / den
                else:
                    y = F.avg_pool2d(xv, (kh, kw), (sh, sw))
            return [_view_to_nhwc(y)]

        return run

    def _op_MaxPool(self, n):
        return self._pool(n, "max")

    def _op_AvgPool(self, n):
        return self._pool(n, "avg")

    # ---------------------------------------------------------------------------- resizing
    def _op_ResizeBilinear(self, n: GraphNode):
        ac = bool(n.attr.get("align_corners", False))
        hp = bool(n.attr.get("half_pixel_centers", False))

        def run(x: torch.Tensor, size: torch.Tensor) -> list[torch.Tensor]:
            h, w = int(size[0]), int(size[1])
            if hp and not ac:  # identical to PyTorch's align_corners=False, and faster
                y = F.interpolate(_nhwc_to_view(x.float()), size=(h, w), mode="bilinear", align_corners=False)
                return [_view_to_nhwc(y)]
            return [resize_bilinear_tf(x, (h, w), ac, hp)]

        return run

    def _op_ResizeNearestNeighbor(self, n: GraphNode):
        ac = bool(n.attr.get("align_corners", False))
        hp = bool(n.attr.get("half_pixel_centers", False))

        def idx(in_size: int, out_size: int, device) -> torch.Tensor:
            i = torch.arange(out_size, dtype=torch.float32, device=device)
            scale = (in_size - 1) / (out_size - 1) if ac and out_size > 1 else in_size / out_size
            if hp:
                src = torch.floor((i + 0.5) * scale)
            elif ac:
                src = torch.round(i * scale)
            else:
                src = torch.floor(i * scale)
            return src.long().clamp(0, in_size - 1)

        def run(x, size):
            h, w = int(size[0]), int(size[1])
            return [x[:, idx(x.shape[1], h, x.device)][:, :, idx(x.shape[2], w, x.device)]]

        return run

    def _op_DepthToSpace(self, n: GraphNode):
        bs = int(n.attr["block_size"])

        def run(x):
            B, H, W, C = x.shape
            c = C // (bs * bs)
            y = x.reshape(B, H, W, bs, bs, c).permute(0, 1, 3, 2, 4, 5)
            return [y.reshape(B, H * bs, W * bs, c)]

        return run

    # --------------------------------------------------------------------------- elementwise
    def _op_Add(self, n):
        return lambda a, b: [a + b]

    _op_AddV2 = _op_Add
    _op_BiasAdd = _op_Add

    def _op_Sub(self, n):
        return lambda a, b: [a - b]

    def _op_Mul(self, n):
        return lambda a, b: [a * b]

    def _op_RealDiv(self, n):
        return lambda a, b: [a / b]

    _op_Div = _op_RealDiv

    def _op_FloorDiv(self, n):
        return lambda a, b: [torch.div(a, b, rounding_mode="floor")]

    def _op_FloorMod(self, n):
        return lambda a, b: [torch.remainder(a, b)]

    def _op_Maximum(self, n):
        return lambda a, b: [torch.maximum(a, b.to(a.dtype))]

    def _op_Minimum(self, n):
        return lambda a, b: [torch.minimum(a, b.to(a.dtype))]

    def _op_Pow(self, n):
        return lambda a, b: [torch.pow(a, b)]

    def _op_SquaredDifference(self, n):
        return lambda a, b: [(a - b) * (a - b)]

    def _op_AddN(self, n):
        def run(*xs):
            y = xs[0]
            for x in xs[1:]:
                y = y + x
            return [y]
        return run

    def _op_Less(self, n):
        return lambda a, b: [a < b]

    def _op_LessEqual(self, n):
        return lambda a, b: [a <= b]

    def _op_Greater(self, n):
        return lambda a, b: [a > b]

    def _op_GreaterEqual(self, n):
        return lambda a, b: [a >= b]

    def _op_Equal(self, n):
        return lambda a, b: [a == b]

    def _op_LogicalAnd(self, n):
        return lambda a, b: [torch.logical_and(a, b)]

    def _op_LogicalOr(self, n):
        return lambda a, b: [torch.logical_or(a, b)]

    def _op_Select(self, n):
        def run(c, a, b):
            while c.dim() < a.dim():  # TF Select with a vector condition selects rows
                c = c.unsqueeze(-1)
            return [torch.where(c, a, b)]
        return run

    _op_SelectV2 = _op_Select

    def _op_Relu(self, n):
        return lambda a: [torch.relu(a)]

    def _op_Relu6(self, n):
        return lambda a: [torch.clamp(a, 0.0, 6.0)]

    def _op_Sigmoid(self, n):
        return lambda a: [torch.sigmoid(a)]

    def _op_Tanh(self, n):
        return lambda a: [torch.tanh(a)]

    def _op_Elu(self, n):
        return lambda a: [F.elu(a)]

    def _op_LeakyRelu(self, n):
        alpha = float(n.attr.get("alpha", 0.2))
        return lambda a: [F.leaky_relu(a, alpha)]

    def _op_Prelu(self, n):
        return lambda a, al: [torch.where(a >= 0, a, a * al)]

    def _op_Abs(self, n):
        return lambda a: [torch.abs(a)]

    def _op_Exp(self, n):
        return lambda a: [torch.exp(a)]

    def _op_Log(self, n):
        return lambda a: [torch.log(a)]

    def _op_Sqrt(self, n):
        return lambda a: [torch.sqrt(a)]

    def _op_Rsqrt(self, n):
        return lambda a: [torch.rsqrt(a)]

    def _op_Square(self, n):
        return lambda a: [a * a]

    def _op_Neg(self, n):
        return lambda a: [-a]

    def _op_Reciprocal(self, n):
        return lambda a: [1.0 / a]

    def _op_Floor(self, n):
        return lambda a: [torch.floor(a)]

    def _op_Round(self, n):
        return lambda a: [torch.round(a)]

    def _op_Identity(self, n):
        return lambda a, *rest: [a]

    _op_StopGradient = _op_Identity
    _op_Snapshot = _op_Identity

    def _op_Cast(self, n):
        dst = _tf_dtype(n.attr.get("DstT"))

        def run(a):
            if a.is_floating_point() and not dst.is_floating_point and dst != torch.bool:
                a = torch.trunc(a)  # TF casts float -> int toward zero
            return [a.to(dst)]
        return run

    # ---------------------------------------------------------------------------- reductions
    def _reduce(self, n, f):
        keep = bool(n.attr.get("keep_dims", False))

        def run(x, axes):
            dims = [int(a) % x.dim() for a in axes.reshape(-1).tolist()]
            if not dims:
                return [x]
            return [f(x, dims, keep)]
        return run

    def _op_Sum(self, n):
        return self._reduce(n, lambda x, d, k: torch.sum(x, dim=d, keepdim=k))

    def _op_Mean(self, n):
        return self._reduce(n, lambda x, d, k: torch.mean(x.float(), dim=d, keepdim=k))

    def _op_Max(self, n):
        return self._reduce(n, lambda x, d, k: torch.amax(x, dim=d, keepdim=k))

    def _op_Min(self, n):
        return self._reduce(n, lambda x, d, k: torch.amin(x, dim=d, keepdim=k))

    def _op_Prod(self, n):
        def f(x, d, k):
            for ax in sorted(d, reverse=True):
                x = torch.prod(x, dim=ax, keepdim=k)
            return x
        return self._reduce(n, f)

    def _op_ArgMax(self, n):
        dt = _tf_dtype(n.attr.get("output_type", "DT_INT64"))
        return lambda x, axis: [torch.argmax(x, dim=int(axis)).to(dt)]

    def _op_ArgMin(self, n):
        dt = _tf_dtype(n.attr.get("output_type", "DT_INT64"))
        return lambda x, axis: [torch.argmin(x, dim=int(axis)).to(dt)]

    def _op_TopKV2(self, n):
        def run(x, k):
            v, i = torch.topk(x, int(k), dim=-1, largest=True, sorted=True)
            return [v, i.to(torch.int32)]
        return run

    # ------------------------------------------------------------------------------- shapes
    def _op_Shape(self, n):
        dt = _tf_dtype(n.attr.get("out_type", "DT_INT32"))
        return lambda x: [torch.tensor(list(x.shape), dtype=dt)]

    def _op_Size(self, n):
        dt = _tf_dtype(n.attr.get("out_type", "DT_INT32"))
        return lambda x: [torch.tensor(x.numel(), dtype=dt)]

    def _op_Reshape(self, n):
        return lambda x, shape: [x.reshape([int(s) for s in shape.reshape(-1).tolist()])]

    def _op_Squeeze(self, n):
        dims = n.attr.get("squeeze_dims", [])

        def run(x):
            if not dims:
                return [x.squeeze()]
            ds = sorted((d % x.dim() for d in dims), reverse=True)
            for d in ds:
                x = x.squeeze(d)
            return [x]
        return run

    def _op_ExpandDims(self, n):
        def run(x, dim):
            d = int(dim)
            return [x.unsqueeze(d if d >= 0 else x.dim() + 1 + d)]
        return run

    def _op_Pack(self, n):
        axis = int(n.attr.get("axis", 0))

        def run(*xs):
            xs = [x if torch.is_tensor(x) else torch.tensor(x) for x in xs]
            dt = xs[0].dtype
            return [torch.stack([x.to(dt) for x in xs], dim=axis)]
        return run

    def _op_Unpack(self, n):
        axis = int(n.attr.get("axis", 0))
        return lambda x: list(torch.unbind(x, dim=axis))

    def _op_ConcatV2(self, n):
        def run(*xs):
            axis = int(xs[-1])
            parts = xs[:-1]
            dt = parts[0].dtype
            return [torch.cat([p.to(dt) for p in parts], dim=axis)]
        return run

    def _op_Transpose(self, n):
        return lambda x, perm: [x.permute([int(p) for p in perm.tolist()])]

    def _op_Tile(self, n):
        return lambda x, reps: [x.repeat([int(r) for r in reps.tolist()])]

    def _op_Fill(self, n):
        return lambda dims, v: [torch.full([int(d) for d in dims.reshape(-1).tolist()], v.item(), dtype=v.dtype)]

    def _op_Range(self, n):
        def run(start, limit, delta):
            dt = start.dtype
            return [torch.arange(start.item(), limit.item(), delta.item(), dtype=dt)]
        return run

    def _op_Pad(self, n):
        def run(x, pads, value=None):
            p = pads.reshape(-1, 2).tolist()
            flat: list[int] = []
            for before, after in reversed(p):
                flat += [int(before), int(after)]
            v = 0.0 if value is None else value.item()
            return [F.pad(x, flat, value=v)]
        return run

    _op_PadV2 = _op_Pad

    def _op_Split(self, n):
        num = int(n.attr["num_split"])
        return lambda axis, x: list(torch.chunk(x, num, dim=int(axis)))

    def _op_SplitV(self, n):
        def run(x, sizes, axis):
            ax = int(axis)
            s = [int(v) for v in sizes.tolist()]
            if -1 in s:
                s[s.index(-1)] = x.shape[ax] - (sum(s) + 1)
            return list(torch.split(x, s, dim=ax))
        return run

    def _op_GatherV2(self, n):
        batch_dims = int(n.attr.get("batch_dims", 0))
        if batch_dims:
            raise PosekitError(f"{self.source}[{n.name}]: GatherV2 with batch_dims is not supported")

        def run(x, idx, axis):
            ax = int(axis) % x.dim()
            flat = torch.index_select(x, ax, idx.reshape(-1).long())
            shape = list(x.shape[:ax]) + list(idx.shape) + list(x.shape[ax + 1:])
            return [flat.reshape(shape)]
        return run

    def _op_GatherNd(self, n):
        def run(params, indices):
            idx = indices.long()
            m = idx.shape[-1]
            return [params[tuple(idx[..., i] for i in range(m))]]
        return run

    def _op_SparseToDense(self, n):
        """(sparse_indices, output_shape, sparse_values, default_value) -> dense tensor."""
        def run(idx, shape, values, default):
            dims = [int(s) for s in shape.reshape(-1).tolist()]
            out = torch.full(dims, default.item(), dtype=values.dtype, device=values.device)
            if idx.numel():
                ii = idx.long().reshape(-1, len(dims)) if idx.dim() > 1 else idx.long().reshape(-1, 1)
                vals = values.reshape(-1).expand(ii.shape[0]) if values.numel() == 1 else values.reshape(-1)
                out[tuple(ii[:, d] for d in range(ii.shape[1]))] = vals
            return [out]
        return run

    def _op_StridedSlice(self, n):
        a = n.attr
        bm, em = int(a.get("begin_mask", 0)), int(a.get("end_mask", 0))
        elm, nam, sam = int(a.get("ellipsis_mask", 0)), int(a.get("new_axis_mask", 0)), int(a.get("shrink_axis_mask", 0))

        def run(x, begin, end, strides):
            b, e, s = begin.tolist(), end.tolist(), strides.tolist()
            index: list[Any] = []
            shrink: list[bool] = []
            for i in range(len(b)):
                if elm & (1 << i):
                    index.append(Ellipsis)
                    continue
                if nam & (1 << i):
                    index.append(None)
                    continue
                if sam & (1 << i):
                    index.append(int(b[i]))
                    continue
                start = None if bm & (1 << i) else int(b[i])
                stop = None if em & (1 << i) else int(e[i])
                step = int(s[i])
                if step < 0:
                    raise PosekitError(f"{self.source}[{n.name}]: negative StridedSlice strides are not supported")
                index.append(slice(start, stop, step))
            del shrink
            if x.dim() == 1 and not index:
                return [x]
            return [x[tuple(index)]]
        return run

    def _op_Slice(self, n):
        def run(x, begin, size):
            idx = []
            for d, (b, s) in enumerate(zip(begin.tolist(), size.tolist())):
                idx.append(slice(int(b), None if int(s) == -1 else int(b) + int(s)))
            return [x[tuple(idx)]]
        return run


SUPPORTED_OPS: tuple[str, ...] = tuple(sorted(
    [k[4:] for k in vars(TFJSGraph) if k.startswith("_op_")] + ["Const", "Placeholder"]))


def import_graph(model_json: Path, outputs: list[str] | None = None,
                 weights: dict[str, np.ndarray] | None = None, inputs: list[str] | None = None) -> TFJSGraph:
    """Import a TF.js graph model as a :class:`TFJSGraph` (an ``nn.Module``, eval mode).

    Args:
        model_json: path of ``model.json``; its weight shards are read from the same folder
            unless ``weights`` (name -> array, e.g. from a safetensors cache) is given.
        outputs: node names (``"name"`` or ``"name:k"``) to return; the graph is cut there and
            every node the outputs do not depend on is dropped. ``None`` means the graph's
            terminal nodes (those no other node consumes).
        inputs: optional node names to feed directly instead of the placeholders (the graph is
            cut before them, e.g. to skip an in-graph pre-processing that assumes batch 1).

    Returns:
        The module. ``forward(*inputs)`` takes one tensor per placeholder in the graph's own
        layout (NHWC for TF-native graphs) and returns ``{output name: tensor}``.
    """
    model_json = Path(model_json)
    nodes, manifest, _ = load_graph_json(model_json)
    if weights is None:
        weights = read_weights(model_json, manifest)
    return TFJSGraph(nodes, weights, outputs, source=str(model_json), inputs=inputs).eval()

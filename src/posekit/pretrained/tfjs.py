"""Import a TensorFlow.js graph model (``model.json`` + weight shards) as a native PyTorch module.

No TensorFlow is needed: the JSON topology is parsed, the weight shards are decoded with numpy
(float32, float16 and the affine ``uint8``/``uint16`` quantisation of the TF.js converter), and
the graph is executed node by node in topological order by :class:`TFJSGraph`. The op
implementations (TF's SAME padding, resize modes, fused convs, ...) are in
:mod:`posekit.pretrained.tfjs_ops`.

Layout. Tensors flow through the module exactly as in TensorFlow, i.e. NHWC for image tensors.
``forward`` therefore takes its inputs in the graph's own layout (the placeholder's layout: NHWC
for all the Google models, NCHW for NanoDet, which was converted from ONNX) and returns the
selected nodes' tensors unchanged. :class:`posekit.pretrained.PretrainedModel` wraps it to take
``(B, 3, H, W)`` images.

Unsupported op types raise :class:`posekit.errors.PosekitError` naming the node and the file.
"""

import base64
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from posekit.errors import PosekitError
from posekit.pretrained.tfjs_ops import SUPPORTED_OPS, TFJSOps, resize_bilinear_tf, same_padding

__all__ = [
    "GraphNode", "TFJSGraph", "fold_pads", "import_graph", "load_graph_json", "read_weights",
    "op_types", "same_padding", "resize_bilinear_tf", "SUPPORTED_OPS",
]

log = logging.getLogger(__name__)

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


def _const_value(node: GraphNode, weights: dict[str, np.ndarray]) -> np.ndarray | None:
    """Value of a ``Const`` node: from the weight shards, else inlined in its attr (or None)."""
    return weights[node.name] if node.name in weights else _const_from_attr(node)


_CONV_OPS = ("Conv2D", "_FusedConv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative")


def fold_pads(nodes: list[GraphNode], weights: dict[str, np.ndarray]) -> list[GraphNode]:
    """Fold each zero ``Pad``/``PadV2`` of H and W that feeds a ``VALID`` convolution into the
    convolution's explicit padding. The pad then happens inside the convolution kernel instead
    of as a copy of the whole tensor; a pad nothing else reads drops out of the graph. Results
    are identical. Two patterns occur: ``Pad(NHWC) -> conv`` and, in graphs converted from ONNX
    (NanoDet), ``Pad(NCHW) -> Transpose(0, 2, 3, 1) -> conv``, where the transpose is moved
    before the pad (a new node ``<transpose>/unpadded``).
    """
    by_name = {n.name: n for n in nodes}

    def const(ref: tuple[str, int]) -> np.ndarray | None:
        c = by_name.get(ref[0])
        return _const_value(c, weights) if c is not None and c.op == "Const" else None

    def zero_pad(node: GraphNode | None, spatial: tuple[int, int]) -> tuple[int, ...] | None:
        """(pt, pb, pl, pr) of a zero pad of only the axes ``spatial``, else None."""
        if node is None or node.op not in ("Pad", "PadV2"):
            return None
        pads = const(node.inputs[1])
        value = const(node.inputs[2]) if node.op == "PadV2" and len(node.inputs) > 2 else np.zeros(())
        if pads is None or value is None or pads.shape != (4, 2) or value.any() or (pads < 0).any():
            return None
        if any(pads[i].any() for i in range(4) if i not in spatial):
            return None
        return (*pads[spatial[0]].tolist(), *pads[spatial[1]].tolist())

    out: list[GraphNode] = []
    for n in nodes:
        if n.op in _CONV_OPS and n.inputs and n.inputs[0][1] == 0 and n.attr.get("padding") == "VALID":
            src = by_name.get(n.inputs[0][0])
            new_input, pads = None, zero_pad(src, (1, 2))
            if pads is not None:  # Pad(NHWC) -> conv
                new_input = src.inputs[0]
            elif src is not None and src.op == "Transpose" and len(src.inputs) == 2:  # ONNX style
                perm = const(src.inputs[1])
                pad_node = by_name.get(src.inputs[0][0])
                if perm is not None and perm.tolist() == [0, 2, 3, 1] and src.inputs[0][1] == 0:
                    pads = zero_pad(pad_node, (2, 3))
                    if pads is not None:
                        moved = GraphNode(f"{src.name}/unpadded", "Transpose", (pad_node.inputs[0], src.inputs[1]))
                        if moved.name not in by_name:
                            by_name[moved.name] = moved
                            out.append(moved)
                        new_input = (moved.name, 0)
            if new_input is not None:
                pt, pb, pl, pr = pads
                attr = dict(n.attr, padding="EXPLICIT", explicit_paddings=[0, 0, pt, pb, pl, pr, 0, 0])
                n = GraphNode(n.name, n.op, (new_input,) + n.inputs[1:], attr)
        out.append(n)
    return out


# ----------------------------------------------------------------------------------------- module
_Step = tuple[str, Callable[..., list[torch.Tensor]], tuple[tuple[str, int], ...], int]


class TFJSGraph(TFJSOps, nn.Module):
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
        if outputs is None:  # before folding, which leaves folded pads unconsumed
            outputs = self._default_outputs(nodes)
        nodes = fold_pads(nodes, weights)
        by_name = {n.name: n for n in nodes}
        self.__dict__["_nodes_map"] = by_name  # import-time only, dropped at the end
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
        arr = _const_value(node, self._weights)
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

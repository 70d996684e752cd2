"""Write tiny TF.js graph models (model.json + one .bin shard) for the importer's tests."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class GraphBuilder:
    """Collects nodes and weights; :meth:`write` emits a TF.js ``graph-model``."""

    def __init__(self) -> None:
        self.nodes: list[dict] = []
        self.weights: list[tuple[str, np.ndarray, str | None]] = []

    def placeholder(self, name: str, shape: list[int], dtype: str = "DT_FLOAT") -> str:
        self.nodes.append({"name": name, "op": "Placeholder", "attr": {
            "dtype": {"type": dtype}, "shape": {"shape": {"dim": [{"size": str(s)} for s in shape]}}}})
        return name

    def const(self, name: str, value: np.ndarray, quant: str | None = None) -> str:
        """A constant stored in the shard (``quant``: None, "float16" or "uint8")."""
        value = np.asarray(value)
        dt = "DT_INT32" if value.dtype.kind in "iu" else "DT_FLOAT"
        self.nodes.append({"name": name, "op": "Const", "attr": {
            "dtype": {"type": dt}, "value": {"tensor": {"dtype": dt, "tensorShape": {
                "dim": [{"size": str(s)} for s in value.shape]}}}}})
        self.weights.append((name, value, quant))
        return name

    def inline_const(self, name: str, value: list[int]) -> str:
        """A small int32 constant inlined in the node attr, as TF.js does for some scalars."""
        self.nodes.append({"name": name, "op": "Const", "attr": {"dtype": {"type": "DT_INT32"}, "value": {
            "tensor": {"dtype": "DT_INT32", "tensorShape": {"dim": [{"size": str(len(value))}]},
                       "intVal": [int(v) for v in value]}}}})
        return name

    def op(self, name: str, op: str, inputs: list[str], **attr) -> str:
        enc: dict = {}
        for k, v in attr.items():
            if isinstance(v, bool):
                enc[k] = {"b": v}
            elif isinstance(v, int):
                enc[k] = {"i": str(v)}
            elif isinstance(v, float):
                enc[k] = {"f": v}
            elif isinstance(v, str) and k in ("T", "DstT", "SrcT", "output_type", "out_type"):
                enc[k] = {"type": v}
            elif isinstance(v, str):
                enc[k] = {"s": b64(v)}
            elif isinstance(v, list) and v and isinstance(v[0], str):
                enc[k] = {"list": {"s": [b64(s) for s in v]}}
            elif isinstance(v, list):
                enc[k] = {"list": {"i": [str(i) for i in v]}}
            else:
                raise TypeError(k)
        self.nodes.append({"name": name, "op": op, "input": list(inputs), "attr": enc})
        return name

    def write(self, folder: Path, name: str = "model") -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        blob = bytearray()
        manifest = []
        for wname, value, quant in self.weights:
            entry: dict = {"name": wname, "shape": list(value.shape),
                           "dtype": "int32" if value.dtype.kind in "iu" else "float32"}
            if quant == "float16":
                blob += value.astype(np.float16).tobytes()
                entry["quantization"] = {"dtype": "float16", "original_dtype": "float32"}
            elif quant == "uint8":
                lo, hi = float(value.min()), float(value.max())
                scale = (hi - lo) / 255.0 or 1.0
                q = np.round((value - lo) / scale).astype(np.uint8)
                blob += q.tobytes()
                entry["quantization"] = {"dtype": "uint8", "scale": scale, "min": lo,
                                         "original_dtype": "float32"}
            else:
                blob += value.astype(np.int32 if value.dtype.kind in "iu" else np.float32).tobytes()
            manifest.append(entry)
        (folder / f"{name}.bin").write_bytes(bytes(blob))
        doc = {"format": "graph-model", "generatedBy": "posekit-tests", "convertedBy": "hand",
               "modelTopology": {"node": self.nodes, "library": {}, "versions": {}},
               "weightsManifest": [{"paths": [f"{name}.bin"], "weights": manifest}]}
        path = folder / f"{name}.json"
        path.write_text(json.dumps(doc))
        return path

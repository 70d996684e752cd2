"""A minimal, dependency-free reader of TFLite model files (FlatBuffers), for their weights.

Only what posekit needs is read: the tensors of each subgraph (name, shape, type, buffer,
quantisation), the raw constant buffers, and the operators (opcode, inputs, outputs) so that
``DEQUANTIZE`` ops (float16 -> float32 weights) can be followed. Nothing is executed.

FlatBuffers layout (little-endian): the file starts with a ``uint32`` offset to the root table
(then the 4-byte identifier ``TFL3``). A table starts with an ``int32`` ``soffset``; its vtable
is at ``table - soffset`` and holds ``uint16`` vtable size, ``uint16`` table size and one
``uint16`` offset per field (0 = field absent, use the default). Reference fields (tables,
vectors, strings) hold a ``uint32`` offset relative to the field's own position; a vector or
string starts with a ``uint32`` element count.

Field order used (from TFLite's ``schema.fbs``): ``Model`` = (version, operator_codes, subgraphs,
description, buffers, ...); ``SubGraph`` = (tensors, inputs, outputs, operators, name);
``Tensor`` = (shape, type, buffer, name, quantization, ...); ``QuantizationParameters`` = (min,
max, scale, zero_point, ...); ``Buffer`` = (data, offset, size); ``Operator`` =
(opcode_index, inputs, outputs, ...); ``OperatorCode`` = (deprecated_builtin_code: int8,
custom_code, version, builtin_code: int32).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posekit.errors import PosekitError

__all__ = ["TFLiteTensor", "TFLiteOperator", "TFLiteModel", "read_tflite", "TENSOR_TYPES",
           "DEQUANTIZE"]

# TensorType enum -> numpy dtype (None: not readable as a plain array here)
TENSOR_TYPES: dict[int, type | None] = {
    0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 5: None, 6: np.bool_,
    7: np.int16, 8: None, 9: np.int8, 10: np.float64,
}
DEQUANTIZE = 6  # BuiltinOperator.DEQUANTIZE


@dataclass(frozen=True)
class TFLiteTensor:
    """One tensor of subgraph 0: ``data`` is the constant buffer as an array, or None."""

    index: int
    name: str
    shape: tuple[int, ...]
    type: int
    buffer: int
    scale: tuple[float, ...] = ()
    zero_point: tuple[int, ...] = ()
    data: np.ndarray | None = None


@dataclass(frozen=True)
class TFLiteOperator:
    """One operator: builtin code (e.g. :data:`DEQUANTIZE`), input and output tensor indices."""

    builtin_code: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


@dataclass(frozen=True)
class TFLiteModel:
    path: str
    tensors: tuple[TFLiteTensor, ...]
    operators: tuple[TFLiteOperator, ...]

    def constants(self) -> dict[int, np.ndarray]:
        """Float constants of the graph by tensor index, as float32.

        Float16 and float32 buffers are read as they are; a ``DEQUANTIZE`` output whose input is
        a float16 constant gets that constant (widened exactly); an int8/uint8 constant with a
        scale is dequantised affinely (``(q - zero_point) * scale``, per tensor only).
        """
        out: dict[int, np.ndarray] = {}
        for t in self.tensors:
            if t.data is None:
                continue
            if t.data.dtype in (np.float16, np.float32):
                out[t.index] = t.data.astype(np.float32)
        for op in self.operators:
            if op.builtin_code != DEQUANTIZE or len(op.inputs) != 1 or len(op.outputs) != 1:
                continue
            src = self.tensors[op.inputs[0]]
            if src.data is None:
                continue
            if src.data.dtype == np.float16:
                out[op.outputs[0]] = src.data.astype(np.float32)
            elif src.data.dtype in (np.int8, np.uint8) and len(src.scale) == 1:
                zp = src.zero_point[0] if src.zero_point else 0
                out[op.outputs[0]] = ((src.data.astype(np.float32) - zp) * np.float32(src.scale[0]))
        return out


class _Reader:
    """Bounds-checked access to FlatBuffers tables, vectors and strings in ``buf``."""

    def __init__(self, buf: bytes, path: str) -> None:
        self.buf = buf
        self.path = path

    def _unpack(self, fmt: str, pos: int):
        if pos < 0 or pos + struct.calcsize(fmt) > len(self.buf):
            raise PosekitError(f"{self.path}: truncated flatbuffer (read at byte {pos})")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None if absent."""
        vtable = table - self._unpack("<i", table)
        vsize = self._unpack("<H", vtable)
        slot = 4 + 2 * index
        if slot >= vsize:
            return None
        off = self._unpack("<H", vtable + slot)
        return table + off if off else None

    def scalar(self, table: int, index: int, fmt: str, default):
        pos = self.field(table, index)
        return default if pos is None else self._unpack(fmt, pos)

    def ref(self, table: int, index: int) -> int | None:
        """Target of a reference field (table / vector / string), or None."""
        pos = self.field(table, index)
        return None if pos is None else pos + self._unpack("<I", pos)

    def vector(self, table: int, index: int) -> tuple[int, int] | None:
        """(position of the first element, element count) of a vector field."""
        pos = self.ref(table, index)
        if pos is None:
            return None
        return pos + 4, self._unpack("<I", pos)

    def tables(self, table: int, index: int) -> list[int]:
        vec = self.vector(table, index)
        if vec is None:
            return []
        start, n = vec
        return [start + 4 * i + self._unpack("<I", start + 4 * i) for i in range(n)]

    def scalars(self, table: int, index: int, dtype: str) -> np.ndarray:
        vec = self.vector(table, index)
        if vec is None:
            return np.zeros(0, dtype=dtype)
        start, n = vec
        size = np.dtype(dtype).itemsize * n
        if start + size > len(self.buf):
            raise PosekitError(f"{self.path}: truncated flatbuffer vector at byte {start}")
        return np.frombuffer(self.buf, dtype=np.dtype(dtype).newbyteorder("<"), count=n, offset=start)

    def string(self, table: int, index: int) -> str:
        vec = self.vector(table, index)
        if vec is None:
            return ""
        start, n = vec
        return self.buf[start:start + n].decode("utf-8", "replace")


def read_tflite(path: Path, subgraph: int = 0) -> TFLiteModel:
    """Parse a ``.tflite`` file: tensors (with constant data) and operators of one subgraph."""
    path = Path(path)
    try:
        buf = path.read_bytes()
    except OSError as exc:
        raise PosekitError(f"{path}: cannot read TFLite file ({exc})") from exc
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise PosekitError(f"{path}: not a TFLite model (no 'TFL3' identifier)")
    r = _Reader(buf, str(path))
    model = r._unpack("<I", 0)
    buffers = r.tables(model, 4)
    codes = []
    for oc in r.tables(model, 1):
        dep = r.scalar(oc, 0, "<b", 0)
        code = r.scalar(oc, 3, "<i", 0)
        codes.append(max(dep, code))  # builtin_code supersedes the int8 field when it is larger
    subgraphs = r.tables(model, 2)
    if subgraph >= len(subgraphs):
        raise PosekitError(f"{path}: no subgraph {subgraph} (file has {len(subgraphs)})")
    sg = subgraphs[subgraph]
    tensors = []
    for i, t in enumerate(r.tables(sg, 0)):
        shape = tuple(int(s) for s in r.scalars(t, 0, "i4"))
        ttype = r.scalar(t, 1, "<b", 0)
        bidx = r.scalar(t, 2, "<I", 0)
        name = r.string(t, 3)
        q = r.ref(t, 4)
        scale = tuple(float(s) for s in r.scalars(q, 2, "f4")) if q is not None else ()
        zp = tuple(int(z) for z in r.scalars(q, 3, "i8")) if q is not None else ()
        data = None
        if 0 < bidx < len(buffers):
            b = buffers[bidx]
            raw = r.scalars(b, 0, "u1")
            if raw.size == 0 and r.scalar(b, 1, "<Q", 0) > 1:  # large model: data after the flatbuffer
                off, size = r.scalar(b, 1, "<Q", 0), r.scalar(b, 2, "<Q", 0)
                if off + size > len(buf):
                    raise PosekitError(f"{path}[buffer {bidx}]: data runs past the end of the file")
                raw = np.frombuffer(buf, dtype=np.uint8, count=size, offset=off)
            dt = TENSOR_TYPES.get(ttype)
            if raw.size and dt is not None:
                count = int(np.prod(shape)) if shape else 1
                if raw.size != count * np.dtype(dt).itemsize:
                    raise PosekitError(f"{path}[tensor {i}]: {name!r} has {raw.size} bytes for shape {shape}")
                data = np.frombuffer(raw.tobytes(), dtype=np.dtype(dt).newbyteorder("<")).astype(dt).reshape(shape)
        elif bidx >= len(buffers) and bidx:
            raise PosekitError(f"{path}[tensor {i}]: {name!r} names buffer {bidx} of {len(buffers)}")
        tensors.append(TFLiteTensor(i, name, shape, ttype, bidx, scale, zp, data))
    ops = []
    for op in r.tables(sg, 3):
        ci = r.scalar(op, 0, "<I", 0)
        if ci >= len(codes):
            raise PosekitError(f"{path}[operator {len(ops)}]: opcode index {ci} of {len(codes)}")
        ops.append(TFLiteOperator(codes[ci], tuple(int(v) for v in r.scalars(op, 1, "i4")),
                                  tuple(int(v) for v in r.scalars(op, 2, "i4"))))
    return TFLiteModel(str(path), tuple(tensors), tuple(ops))

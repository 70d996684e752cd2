"""Op implementations of the TF.js graph importer (:mod:`posekit.pretrained.tfjs`).

:class:`TFJSOps` is a mixin of :class:`posekit.pretrained.tfjs.TFJSGraph`: one builder
``_op_<TF op type>(node)`` per supported op, returning ``run(*inputs) -> [outputs]`` (or
``(run, used input indices)`` when some inputs are constants folded at import time, e.g. conv
kernels, which are stored pre-transposed as buffers). Builders use three members of the graph:
``_static(node, i)`` (a constant input's value), ``_new_buffer(node, tag, tensor)`` and
``source`` (for error messages).

Tensors are NHWC as in TensorFlow. Convolutions and pools view an NHWC tensor as an NCHW tensor
in ``channels_last`` memory (``x.permute(0, 3, 1, 2)``, no copy), call the PyTorch kernel and
view the result back.

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
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from posekit.errors import PosekitError

if TYPE_CHECKING:
    from posekit.pretrained.tfjs import GraphNode

__all__ = ["TFJSOps", "SUPPORTED_OPS", "same_padding", "resize_bilinear_tf"]

_TF_DTYPES = {
    "DT_FLOAT": torch.float32, "DT_HALF": torch.float16, "DT_DOUBLE": torch.float64,
    "DT_INT32": torch.int32, "DT_INT64": torch.int64, "DT_BOOL": torch.bool,
    "DT_UINT8": torch.uint8, "DT_INT8": torch.int8, "DT_INT16": torch.int16,
}


# ------------------------------------------------------------------------------- free math helpers
def same_padding(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TF 'SAME' padding of one spatial axis -> (before, after); the extra pixel goes after."""
    out = -(-size // stride)
    eff_k = (kernel - 1) * dilation + 1
    total = max((out - 1) * stride + eff_k - size, 0)
    return total // 2, total - total // 2


def spatial_pads(x: torch.Tensor, padding: str, kernel: tuple[int, int], stride: tuple[int, int],
                 dilation: tuple[int, int] = (1, 1), explicit: list[int] | None = None) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` padding of an NHWC tensor for a TF conv/pool ``padding``
    (``"SAME"``, ``"VALID"`` or ``"EXPLICIT"`` with TF's 8-value ``explicit_paddings``)."""
    if padding == "SAME":
        return (*same_padding(x.shape[1], kernel[0], stride[0], dilation[0]),
                *same_padding(x.shape[2], kernel[1], stride[1], dilation[1]))
    if padding == "EXPLICIT":
        return tuple(explicit[2:6])
    return 0, 0, 0, 0


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


def pad_nhwc(x: torch.Tensor, pt: int, pb: int, pl: int, pr: int, value: float = 0.0) -> torch.Tensor:
    """``F.pad(x, (0, 0, pl, pr, pt, pb), value=value)`` of an NHWC tensor ``(B, H, W, C)``,
    writing each output element once: the border strips are filled and the interior copied,
    where ``F.pad`` fills the whole padded map first (on MultiPose at 320x224 its five
    asymmetric SAME pads took ~6.6 ms of a ~55 ms prediction under cProfile)."""
    B, H, W, C = x.shape
    out = x.new_empty((B, H + pt + pb, W + pl + pr, C))
    if pt:
        out[:, :pt].fill_(value)
    if pb:
        out[:, pt + H:].fill_(value)
    if pl:
        out[:, pt:pt + H, :pl].fill_(value)
    if pr:
        out[:, pt:pt + H, pl + W:].fill_(value)
    out[:, pt:pt + H, pl:pl + W] = x
    return out


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



class TFJSOps:
    """The op builders of :class:`posekit.pretrained.tfjs.TFJSGraph` (a mixin: see the module doc)."""

    source: str

    # --------------------------------------------------------------------------- conv family
    def _activation(self, node: GraphNode, ops: list[str]) -> Callable[..., torch.Tensor]:
        alpha = float(node.attr.get("leakyrelu_alpha", 0.2))
        acts = [o for o in ops if o != "BiasAdd"]
        if len(acts) > 1:
            raise PosekitError(f"{self.source}[{node.name}]: fused_ops {ops} not supported")
        act = acts[0] if acts else None
        if act is None:
            return lambda y, extra: y
        # in place: y is the convolution's fresh output, which nothing else holds (and which
        # the convolution's backward does not need); saves a full pass over memory per layer
        if act == "Relu":
            return lambda y, extra: torch.relu_(y)
        if act == "Relu6":
            return lambda y, extra: torch.clamp_(y, 0.0, 6.0)
        if act == "Elu":
            return lambda y, extra: F.elu(y)
        if act == "Sigmoid":
            return lambda y, extra: torch.sigmoid(y)
        if act == "Tanh":
            return lambda y, extra: torch.tanh(y)
        if act == "LeakyRelu":
            return lambda y, extra: F.leaky_relu(y, alpha, inplace=True)
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
        strides = node.attr.get("strides", [1, 1, 1, 1])
        dil = node.attr.get("dilations", [1, 1, 1, 1])
        sh, sw, dh, dw = strides[1], strides[2], dil[1], dil[2]
        padding = node.attr.get("padding", "VALID")
        explicit = node.attr.get("explicit_paddings", [])
        # a 1x1 convolution of an NHWC tensor is a matrix product over C: one GEMM with a
        # (Cout, Cin) weight, no layout juggling and no slow non-oneDNN path on small maps
        # (measured 5-10% faster end to end on MoveNet/MultiPose than the convolution kernel)
        pointwise = (kh, kw, sh, sw, groups) == (1, 1, 1, 1, 1) and padding != "EXPLICIT"
        wt = wt.reshape(wt.shape[0], wt.shape[1]) if pointwise else wt.contiguous(memory_format=torch.channels_last)
        wkey = self._new_buffer(node, "w", wt)
        ops = list(node.attr.get("fused_ops", [])) if fused else []
        bkey = None
        if "BiasAdd" in ops:
            bkey = self._new_buffer(node, "b", torch.from_numpy(np.ascontiguousarray(self._static(node, 2))).float())
        if fused and ("FusedBatchNorm" in ops or "FusedBatchNormV3" in ops):
            raise PosekitError(f"{self.source}[{node.name}]: fused batch norm is not supported")
        act = self._activation(node, ops)
        extra_idx = 3 if "Prelu" in ops else None

        def run(x: torch.Tensor, *rest: torch.Tensor) -> list[torch.Tensor]:
            x = x.float() if not x.is_floating_point() else x
            extra = rest[0] if rest else None
            b = getattr(self, bkey) if bkey else None
            if pointwise:
                return [act(F.linear(x, getattr(self, wkey), b), extra)]
            pt, pb, pl, pr = spatial_pads(x, padding, (kh, kw), (sh, sw), (dh, dw), explicit)
            if pt == pb and pl == pr:
                pad = (pt, pl)
            else:  # TF puts the odd pixel bottom/right: pad explicitly, in NHWC so the padded
                # tensor stays channels_last for the convolution kernel
                x = pad_nhwc(x, pt, pb, pl, pr)
                pad = (0, 0)
            xv = _nhwc_to_view(x.contiguous())  # channels_last for the oneDNN kernels
            y = F.conv2d(xv, getattr(self, wkey), b, (sh, sw), pad, (dh, dw), groups)
            y = _view_to_nhwc(y)
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
            pt, pb, pl, pr = spatial_pads(x, padding, (kh, kw), (sh, sw))
            if kind == "max":
                # pad in NHWC so the pooled view is channels_last: CPU max-pooling of a
                # channels-first copy was 8x slower (NanoDet's stem pool)
                if pt or pb or pl or pr:
                    x = pad_nhwc(x, pt, pb, pl, pr, float("-inf"))
                y = F.max_pool2d(_nhwc_to_view(x.contiguous()), (kh, kw), (sh, sw))
            else:  # TF's SAME average excludes the padded cells from the count
                xv = _nhwc_to_view(x)
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
    [k[4:] for k in vars(TFJSOps) if k.startswith("_op_")] + ["Const", "Placeholder"]))

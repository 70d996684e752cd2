"""Run an imported graph through one TorchScript trace per input shape, for inference.

An imported :class:`~posekit.pretrained.tfjs.TFJSGraph` executes its nodes from a Python loop:
on MoveNet MultiPose that is ~80 steps, each with a few dictionary lookups and closures, about
5 ms of a ~35 ms forward pass on a 2-core CPU. ``torch.jit.trace`` records the same kernels once
for a given input shape and replays them without the Python loop (measured end to end, A/B in
one process: multipose-320 48/62/58/62/56/64 ms eager against 34/42/50/42/46/46 ms traced; see
docs/predict.md).

Safety. A trace bakes in every value that Python read while tracing: shapes (so there is one
trace per input shape, dtype and device) and, if an op read tensor *values*, those values too.
Only batches of one are traced, from the second time a shape is seen. Each new trace is checked against the eager graph on the tracing input and on a
second, different input of the same shape; on a mismatch (or any tracing error) the graph runs
eagerly for that shape, with a warning. Traces are only used without autograd, and are dropped
when the module moves (``.to()``), since they hold the buffers of the device they were made on.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import nn

__all__ = ["ShapeTraceCache"]

_MAX_SHAPES = 16


def _outputs_close(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        x, y = a[k].float(), b[k].float()
        if x.shape != y.shape or not torch.allclose(x, y, rtol=1e-4, atol=1e-4 * (1 + float(y.abs().max()))):
            return False
    return True


def _second_input(x: torch.Tensor) -> torch.Tensor:
    """A different input of the same shape, dtype and value range: the negative (``min + max -
    x``, so 0..255 images stay 0..255 and [-1, 1] stays [-1, 1]), mirrored and rolled."""
    neg = (x.max() + x.min()) - x
    return torch.roll(neg.flip(-2), shifts=max(1, x.shape[1] // 3), dims=1).to(x.dtype)


class ShapeTraceCache:
    """``cache(graph, x)`` -> ``graph(x)``, through a checked per-shape trace when possible.

    Only batches of one are traced: the Python loop costs the same per call whatever the batch,
    so it matters for single images and crops (the latency path) and is amortised over a
    batch, where tracing and checking (a few forward passes of the whole batch) would cost
    more than they save. A shape is traced the second time it is seen, so that a one-off image
    size does not pay for it either.
    """

    def __init__(self) -> None:
        self._fns: dict[tuple, Callable[[torch.Tensor], dict[str, torch.Tensor]]] = {}
        self._seen: dict[tuple, int] = {}

    def clear(self) -> None:
        self._fns.clear()
        self._seen.clear()

    def __call__(self, graph: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if (torch.is_grad_enabled() and x.requires_grad) or torch.jit.is_tracing() or x.shape[0] != 1:
            return graph(x)
        key = (tuple(x.shape), x.dtype, x.device, torch.is_inference_mode_enabled())
        fn = self._fns.get(key)
        if fn is None:
            if self._seen.get(key, 0) < 1:
                if len(self._seen) >= 4 * _MAX_SHAPES:
                    self._seen.clear()
                self._seen[key] = 1
                return graph(x)
            if len(self._fns) >= _MAX_SHAPES:
                self._fns.clear()
            fn = self._fns[key] = self._make(graph, x)
        return fn(x)

    @staticmethod
    def _make(graph: nn.Module, x: torch.Tensor) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
        source = getattr(graph, "source", type(graph).__name__)
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(graph, (x,), strict=False, check_trace=False)
                x2 = _second_input(x)
                ok = (_outputs_close(traced(x), graph(x)) and _outputs_close(traced(x2), graph(x2)))
        except Exception as e:  # noqa: BLE001 - any tracing failure means: run eagerly
            warnings.warn(f"{source}: not traced for input {tuple(x.shape)} ({type(e).__name__}: {e}); "
                          "running the graph eagerly", stacklevel=3)
            return graph
        if not ok:
            warnings.warn(f"{source}: the trace for input {tuple(x.shape)} differs from the graph "
                          "(an op reads tensor values); running the graph eagerly", stacklevel=3)
            return graph
        return traced

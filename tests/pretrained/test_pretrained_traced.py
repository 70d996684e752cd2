"""The per-shape trace cache behind PretrainedModel: same outputs as the eager graph, a fallback
when an op reads tensor values, eager under autograd, traces dropped when the module moves."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from posekit.pretrained import PretrainedModel, get_card
from posekit.pretrained.traced import ShapeTraceCache


class _Convs(nn.Module):
    """A stand-in graph: NHWC in, dict out, shape-dependent padding like TF's SAME."""

    source = "convs"

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        v = x.permute(0, 3, 1, 2)
        pb = 1 if v.shape[-1] % 2 == 0 else 0          # Python reads a shape: fine per shape
        v = nn.functional.pad(v, (0, pb, 0, pb))
        return {"out": self.conv(v).relu()}


class _ReadsValues(_Convs):
    source = "reads-values"

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        i = int(x.flatten().argmax())                    # Python reads a value: not traceable
        return {"out": super().forward(x)["out"] * x.flatten()[i]}


def test_trace_matches_eager_and_is_reused_per_shape() -> None:
    torch.manual_seed(0)
    g, cache = _Convs().eval(), ShapeTraceCache()
    shapes = [(1, 8, 10, 3), (1, 9, 7, 3), (1, 8, 10, 3), (1, 9, 7, 3), (1, 8, 10, 3), (1, 5, 5, 3),
              (2, 8, 10, 3), (2, 8, 10, 3)]
    for shape in shapes:
        x = torch.randn(shape)
        with torch.no_grad():
            torch.testing.assert_close(cache(g, x)["out"], g(x)["out"], rtol=1e-5, atol=1e-6)
    # one trace per batch-of-one shape seen twice; the one-off shape and the batch ran eagerly
    assert sorted(k[0] for k in cache._fns) == [(1, 8, 10, 3), (1, 9, 7, 3)]
    assert all(isinstance(f, torch.jit.ScriptModule) for f in cache._fns.values())


def test_value_dependent_graph_falls_back_to_eager_with_a_warning() -> None:
    torch.manual_seed(0)
    g, cache = _ReadsValues().eval(), ShapeTraceCache()
    x = torch.randn(1, 8, 8, 3)
    with torch.no_grad(), pytest.warns(UserWarning, match="differs from the graph"):
        cache(g, x)
        cache(g, x)                                               # traced at the second sight
    with torch.no_grad():
        other = torch.randn(1, 8, 8, 3)                           # its maximum is elsewhere
        torch.testing.assert_close(cache(g, other)["out"], g(other)["out"])
    assert next(iter(cache._fns.values())) is g


def test_autograd_runs_eagerly_and_gradients_flow() -> None:
    g, cache = _Convs(), ShapeTraceCache()
    x = torch.randn(1, 8, 8, 3, requires_grad=True)
    cache(g, x)["out"].sum().backward()
    assert x.grad is not None and not cache._fns


def test_pretrained_model_drops_its_traces_when_moved() -> None:
    card = get_card("movenet_lightning")

    class Heads(nn.Module):
        source = "heads"

        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("w", torch.ones(1))

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {n: x[..., :1] * self.w for n in card.head_nodes}

    model = PretrainedModel(Heads(), card).eval()
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        eager = PretrainedModel(Heads(), card, trace=False).eval()(x)
        model(x)
        out = model(x)
    assert out.keys() == eager.keys() and all(torch.equal(out[k], eager[k]) for k in out)
    assert model._traces._fns
    model.to(torch.float64).to(torch.float32)
    assert not model._traces._fns

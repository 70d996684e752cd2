"""Parameter and multiply-add counts.

Convention: papers in pose estimation say "GFLOPs" but report multiply-accumulates (one
multiply plus one add counts once). ``torch.utils.flop_counter`` counts a multiply-add as two
FLOPs, so :func:`count_macs` halves its total. Only matmul/conv-like ops are counted, as in the
papers' counters (BatchNorm, activations, pooling and element-wise adds are not).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded). A model with no parameters
    that holds its weights as floating-point buffers (the imported TF.js / TFLite graphs of
    ``posekit.pretrained``) counts those buffers instead."""
    n = sum(p.numel() for p in model.parameters())
    if n == 0:
        n = sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return n


def count_macs(model: nn.Module, input_size: tuple[int, int], batch: int = 1) -> int:
    """Multiply-adds for one forward pass on a ``(batch, 3, H, W)`` input; ``input_size`` is
    ``(H, W)``. The model is put in eval mode for the count and restored afterwards."""
    was_training = model.training
    model.eval()
    first = next(model.parameters(), None)
    if first is None:
        first = next(model.buffers(), None)
    device = first.device if first is not None else torch.device("cpu")
    x = torch.zeros(batch, 3, input_size[0], input_size[1], device=device)
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() // 2

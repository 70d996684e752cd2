"""Run the pretrained-model tests on one torch thread.

On this shared 2-core machine, two OpenMP threads that spin at every barrier make each forward
pass up to ~25x slower whenever other processes are busy (measured: MoveNet Thunder 1.5 s with 2
threads vs 56 ms with 1 under a load average of 4). Tests need determinism, not speed.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

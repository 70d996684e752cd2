"""Fixtures of the model tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Model tests run many small convolutions: one thread is as fast on a quiet machine and far
    faster on a shared, oversubscribed one. The previous setting is restored after each module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

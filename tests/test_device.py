"""Device and thread choice (posekit.device): the one place that decides them."""

from __future__ import annotations

import os

import pytest
import torch

from posekit.device import MAX_DEFAULT_THREADS, default_threads, resolve_device, set_threads
from posekit.errors import PosekitError


@pytest.fixture(autouse=True)
def _keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cpus, load, want", [(2, 0.1, 2), (2, 1.4, 1), (2, 3.0, 1), (8, 0.0, 4), (8, 5.2, 3),
                                              (1, 0.0, 1)])
def test_default_threads_leave_the_busy_cores_alone(monkeypatch, cpus, load, want):
    """Default threads = usable CPUs minus the whole part of the 1-minute load average, within
    [1, MAX_DEFAULT_THREADS]: on the loaded 2-core machine one thread was 4.5x faster than two."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert default_threads() == want <= MAX_DEFAULT_THREADS
    assert set_threads() == want == torch.get_num_threads()


def test_explicit_threads_and_bad_values():
    assert set_threads(1) == 1 == torch.get_num_threads()
    with pytest.raises(PosekitError, match="at least 1"):
        set_threads(0)


def test_unknown_or_missing_devices_are_one_line():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(PosekitError, match="unknown device"):
        resolve_device("tpu:7")
    if not torch.cuda.is_available():
        with pytest.raises(PosekitError, match="CUDA is not available"):
            resolve_device("cuda")

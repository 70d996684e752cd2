from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from posekit.engine.data import global_batch
from posekit.engine.distributed import DistInfo, GlobalBatchNorm2d, convert_global_batchnorm, shard_batch
from posekit.errors import PosekitError

WORKER = Path(__file__).with_name("ddp_worker.py")


def test_shard_batch_splits_the_global_batch():
    keys = list(range(8))
    assert shard_batch(keys, DistInfo(0, 2, 0)) == [0, 1, 2, 3]
    assert shard_batch(keys, DistInfo(1, 2, 0)) == [4, 5, 6, 7]
    assert shard_batch(keys, DistInfo()) == keys
    with pytest.raises(PosekitError, match="not divisible"):
        shard_batch(list(range(7)), DistInfo(0, 2, 0))


def test_global_batch_is_a_function_of_seed_and_step():
    n = 10
    seen = [k for s in range(5) for k in global_batch(n, 4, seed=3, step=s)]
    assert seen == [k for s in range(5) for k in global_batch(n, 4, seed=3, step=s)]
    # consecutive steps walk through whole epochs: every index once per epoch
    epoch0 = sorted(i for e, i in seen if e == 0)
    assert epoch0 == list(range(n))
    assert [e for e, _ in seen[:10]] == [0] * 10 and seen[10][0] == 1
    assert global_batch(n, 4, seed=4, step=0) != global_batch(n, 4, seed=3, step=0)


def test_global_batchnorm_is_plain_batchnorm_without_process_group():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    x = torch.randn(4, 3, 8, 8)
    ref = m(x)
    g = convert_global_batchnorm(m)
    assert isinstance(g[1], GlobalBatchNorm2d)
    assert torch.allclose(g(x), ref, atol=1e-6)
    assert set(g.state_dict()) == {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                   "1.running_var", "1.num_batches_tracked"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_processes_equal_one_process(tmp_path):
    """2 CPU processes (gloo), global batch 8 split 4 + 4, global-batch BatchNorm, against 1
    process with batch 8.

    Measured (this test's settings): steps 0-1 agree to 1e-7 relative; later steps drift to
    ~2e-4 relative, because Adam turns last-bit differences of tiny gradient components into
    full-size steps (1 process with 1 vs 2 threads drifts 4e-5). Per-rank BatchNorm instead of
    the global one is off by 2e-3 at step 0 and 1e-2 at step 2, so the tolerances below
    (1e-6 for the first two steps, 1e-3 after) do catch a wrong split or wrong statistics."""
    overrides = ["train.steps=4", "train.batch_size=8", "train.eval_every=-1", "train.checkpoint_every=0",
                 "data.num_train=32", "data.num_val=4", "data.aug=true", "train.threads=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    one = tmp_path / "one" / "losses.json"
    two = tmp_path / "two" / "losses.json"
    one.parent.mkdir()
    two.parent.mkdir()
    subprocess.run([sys.executable, str(WORKER), str(one), *overrides], check=True, env=env, timeout=600)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
                    "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
                    str(WORKER), str(two), *overrides], check=True, env=env, timeout=600)
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a["world"] == 1 and b["world"] == 2
    la = [v for _, v in a["losses"]]
    lb = [v for _, v in b["losses"]]
    assert len(la) == len(lb) == 4
    print("\n1 process: ", la, "\n2 processes:", lb)
    for s, (x, y) in enumerate(zip(la, lb)):
        tol = 1e-6 if s < 2 else 1e-3
        assert y == pytest.approx(x, rel=tol), f"step {s}: 1 process {x}, 2 processes {y}"
    # and the run is not trivially constant: the loss moved
    assert max(la) - min(la) > 1e-3 * max(la)

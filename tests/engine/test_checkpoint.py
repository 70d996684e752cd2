from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from torch import nn

from posekit.engine import checkpoint as C
from posekit.errors import PosekitError
from posekit.skeleton import COCO17, MPII16


def small_model(k: int = 17) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, k, 1))


def trained(model: nn.Module) -> torch.optim.Optimizer:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(2, 3, 8, 8)).pow(2).mean().backward()
        opt.step()
    return opt


def test_round_trip_model_optimizer_rng(tmp_path):
    m = small_model()
    opt = trained(m)
    torch.manual_seed(123)
    np.random.seed(7)
    random.seed(9)
    path = C.save_checkpoint(tmp_path / "c.safetensors", m, arch="tiny", spec=COCO17, config={"a": 1},
                             optimizer=opt, step=42, extra={"AP": 0.5})
    expect = (torch.rand(3), np.random.rand(3), random.random())

    ck = C.load_checkpoint(path)
    assert ck.step == 42 and ck.arch == "tiny" and ck.config == {"a": 1} and ck.state["extra"] == {"AP": 0.5}
    m2 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 17, 1))
    ck.load_model(m2, "tiny", COCO17)
    for (k, a), b in zip(m.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    opt2 = torch.optim.AdamW(m2.parameters(), lr=1e-2)
    ck.load_optimizer(opt2)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"][0]["lr"] == s2["param_groups"][0]["lr"]
    for i in s1["state"]:
        for key, v in s1["state"][i].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(s2["state"][i][key])), key
    # one more identical step from both
    x = torch.randn(2, 3, 8, 8)
    for mm, oo in ((m, opt), (m2, opt2)):
        oo.zero_grad()
        mm(x).pow(2).mean().backward()
        oo.step()
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), m2.parameters()))
    # RNG states come back
    C.restore_rng(ck.tensors, ck.state["rng"])
    assert torch.equal(torch.rand(3), expect[0])
    assert np.array_equal(np.random.rand(3), expect[1])
    assert random.random() == expect[2]


def test_no_pickle_in_file(tmp_path):
    path = C.save_checkpoint(tmp_path / "c.safetensors", small_model(), arch="tiny", spec=COCO17)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    assert raw[8:9] == b"{" and b"posekit_format" in raw[8:8 + n]


def test_refuses_other_arch_and_spec(tmp_path):
    path = C.save_checkpoint(tmp_path / "c.safetensors", small_model(), arch="simple_baseline_r18", spec=COCO17)
    ck = C.load_checkpoint(path)
    with pytest.raises(PosekitError, match="architecture 'simple_baseline_r18', not 'hrnet_w32'"):
        ck.load_model(small_model(), "hrnet_w32", COCO17)
    with pytest.raises(PosekitError, match="keypoint spec 'coco17' \\(17 keypoints\\), not 'mpii16' \\(16"):
        ck.load_model(small_model(16), "simple_baseline_r18", MPII16)
    with pytest.raises(PosekitError, match="no optimizer state"):
        ck.load_optimizer(torch.optim.Adam(small_model().parameters()))


def test_bad_files(tmp_path):
    with pytest.raises(PosekitError, match="not found"):
        C.load_checkpoint(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00hello")
    with pytest.raises(PosekitError, match="not a safetensors checkpoint"):
        C.load_checkpoint(tmp_path / "junk.safetensors")
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(PosekitError, match="not a posekit checkpoint"):
        C.load_checkpoint(tmp_path / "plain.safetensors")


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "c.safetensors"
    C.save_checkpoint(path, small_model(), arch="tiny", spec=COCO17, step=1)
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(C.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        C.save_checkpoint(path, small_model(), arch="tiny", spec=COCO17, step=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert C.load_checkpoint(path).step == 1
    assert os.listdir(tmp_path) == ["c.safetensors"]       # no temporary file left behind

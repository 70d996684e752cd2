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


class _Payload:
    """Unpickling this creates ``marker``: proof that a loader ran pickle."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickle_files_are_refused_and_never_run(tmp_path):
    """A loader that fell back to torch.load/pickle would accept these files (and run the
    payload, creating the marker); posekit's refuses them."""
    import pickle
    marker = tmp_path / "payload_ran"
    torch.save(small_model().state_dict(), tmp_path / "torch_save.safetensors")
    torch.save({"model": small_model().state_dict(), "x": _Payload(marker)}, tmp_path / "torch_payload.safetensors")
    (tmp_path / "raw_pickle.safetensors").write_bytes(pickle.dumps(_Payload(marker)))
    for name in ("torch_save", "torch_payload", "raw_pickle"):
        with pytest.raises(PosekitError, match=f"{name}.safetensors: not a safetensors checkpoint"):
            C.load_checkpoint(tmp_path / f"{name}.safetensors")
    assert not marker.exists()
    import io    # the payload does run when unpickled
    torch.load(io.BytesIO((tmp_path / "torch_payload.safetensors").read_bytes()), weights_only=False)
    assert marker.exists()


def test_loading_never_calls_pickle_or_torch_load(tmp_path, monkeypatch):
    import pickle
    m = small_model()
    opt = trained(m)
    path = C.save_checkpoint(tmp_path / "c.safetensors", m, arch="tiny", spec=COCO17, optimizer=opt, step=3)

    def forbidden(*args, **kwargs):
        raise AssertionError("the checkpoint loader unpickled")
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, forbidden)
    monkeypatch.setattr(torch, "load", forbidden)
    ck = C.load_checkpoint(path)
    m2 = small_model()
    ck.load_model(m2, "tiny", COCO17)
    ck.load_optimizer(torch.optim.AdamW(m2.parameters(), lr=1e-2))
    ck.restore_rng()
    assert ck.step == 3 and all(torch.equal(a, b) for a, b in zip(m.state_dict().values(), m2.state_dict().values()))


def _rewrite_metadata(path, **changes):
    """Re-save a checkpoint with some metadata fields replaced (None deletes one)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
    for k, v in changes.items():
        if v is None:
            meta.pop(k)
        else:
            meta[k] = v
    save_file(load_file(str(path)), str(path), metadata=meta)


@pytest.mark.parametrize("changes, problem", [
    ({"posekit_format": "abc"}, "unknown checkpoint format version 'abc'; this posekit reads version 1"),
    ({"posekit_format": "0"}, "unknown checkpoint format version '0'"),
    ({"posekit_format": "7"}, "unknown checkpoint format version '7' \\(written by a newer posekit\\?\\)"),
    ({"config": "{not json"}, "checkpoint metadata 'config' is not valid JSON"),
    ({"spec": "[1, 2]"}, "checkpoint metadata 'spec' is not a JSON object"),
    ({"state": "{\"step\": -3}"}, "checkpoint metadata 'state' has a bad step -3"),
    ({"state": "{\"step\": 2"}, "checkpoint metadata 'state' is not valid JSON"),
    ({"arch": None}, "checkpoint metadata names no architecture"),
])
def test_damaged_metadata_is_one_line_naming_file_and_problem(tmp_path, changes, problem):
    path = C.save_checkpoint(tmp_path / "c.safetensors", small_model(), arch="tiny", spec=COCO17, step=2)
    _rewrite_metadata(path, **changes)
    with pytest.raises(PosekitError, match=f"^{tmp_path / 'c.safetensors'}: {problem}") as e:
        C.load_checkpoint(path)
    assert "\n" not in str(e.value)


def wide_model(channels: int = 8) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
                         nn.Conv2d(channels, 17, 1))


def test_other_shapes_name_both_kwargs_and_the_first_tensor(tmp_path):
    """Same tensor names, other shapes (another variant of the architecture): one line naming
    what the checkpoint was made with, what was asked for, and the first tensor that differs."""
    path = C.save_checkpoint(tmp_path / "c.safetensors", wide_model(16), arch="tiny", spec=COCO17,
                             config={"model": {"kwargs": {"channels": 16}}})
    ck = C.load_checkpoint(path)
    model = wide_model(8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(PosekitError) as e:
        ck.load_model(model, "tiny", COCO17, kwargs={"channels": 8})
    assert str(e.value) == (f"{path}: checkpoint made with tiny with model.kwargs={{\"channels\": 16}}, but the model "
                            f"asked for is tiny with model.kwargs={{\"channels\": 8}}: tensor '0.weight' is "
                            f"(16, 3, 3, 3) in the checkpoint, (8, 3, 3, 3) in the model")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())     # nothing copied
    # kwargs that do not describe the weights (an edited config): said so
    with pytest.raises(PosekitError, match="its weights do not fit the tiny with model.kwargs=.*16.* its config "
                                           "names .*tensor '0.weight' is \\(16, 3, 3, 3\\) in the checkpoint"):
        ck.load_model(model, "tiny", COCO17, kwargs={"channels": 16})


def test_non_finite_weights_are_never_saved(tmp_path):
    m = small_model()
    with torch.no_grad():
        m[3].bias[5] = float("inf")
    with pytest.raises(C.NonFiniteTensor, match="tensor 'model/3.bias' holds NaN or infinity"):
        C.save_checkpoint(tmp_path / "c.safetensors", m, arch="tiny", spec=COCO17)
    m = small_model()
    opt = trained(m)
    next(iter(opt.state.values()))["exp_avg"][0] = float("nan")
    with pytest.raises(C.NonFiniteTensor, match="tensor 'optim/0/exp_avg'"):
        C.save_checkpoint(tmp_path / "c.safetensors", m, arch="tiny", spec=COCO17, optimizer=opt)
    assert os.listdir(tmp_path) == []


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    import subprocess
    import sys
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".checkpoint.safetensors.tmp-{dead.pid}"
    live = tmp_path / f".checkpoint.safetensors.tmp-{os.getpid()}"
    other = tmp_path / ".notes.tmp-abc"
    for p in (stale, live, other):
        p.write_bytes(b"x" * 100)
    assert C.remove_stale_temp_files(tmp_path) == [stale]
    assert sorted(os.listdir(tmp_path)) == sorted([live.name, other.name])


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

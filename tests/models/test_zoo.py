"""The zoo is the one list of trainable architectures: every test here is parametrised over
``posekit.models.zoo.ZOO`` itself, so a new entry gets the contract test (forward, backward,
output shapes, state-dict round trip at its ``test_input_wh``) without touching a test file.

Architecture-specific checks (paper parameter counts, layouts) live in test_models_a.py and
test_models_b.py."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from posekit.models import ZOO, ZooEntry, create, list_models
from posekit.models import zoo
from posekit.skeleton import get_spec

ISSUE_NAMES = [
    "jain2013", "deeppose", "cpm", "hourglass_1", "hourglass_2", "hourglass_4", "hourglass_8",
    "prm", "simple_baseline_r18", "simple_baseline_r50", "simple_baseline_r101",
    "simple_baseline_r152", "cpn_r50", "hrnet_w32", "hrnet_w48", "mspn", "efficientpose_rt",
    "efficientpose_i", "efficientpose_ii", "efficientpose_iii", "efficientpose_iv",
    "efficientpose_rt_lite", "efficientpose_i_lite", "efficientpose_ii_lite", "evopose2d_s",
    "evopose2d_m", "evopose2d_l",
]


def _as_list(out: torch.Tensor | list[torch.Tensor] | dict) -> list[torch.Tensor]:
    """Every head tensor: the tensor, the list, or a bottom-up dict's stage tensors in order."""
    if isinstance(out, dict):
        return [t for stage in out["stages"] for t in stage.values()]
    return out if isinstance(out, list) else [out]


#: Channels of each bottom-up head for ``k`` keypoints (``pafs``: 2 per limb of the model;
#: DeeperCut's ``locref``: x, y per part, ``pairwise``: x, y per ordered pair of parts).
_BOTTOM_UP_CHANNELS = {"heatmaps": lambda m, k: k, "tags": lambda m, k: k, "heatmaps_hr": lambda m, k: k,
                       "pafs": lambda m, k: 2 * m.num_limbs, "scoremaps": lambda m, k: k,
                       "locref": lambda m, k: 2 * k, "pairwise": lambda m, k: 2 * k * (k - 1)}


def check_bottom_up_heads(entry: ZooEntry, model: nn.Module, out: dict, k: int, h: int, w: int) -> None:
    """The bottom-up heads contract: a dict whose ``"stages"`` lists ``entry.outputs`` dicts of
    head tensors, every stage of the documented shape (``heatmaps_hr`` at twice the resolution),
    and whose top-level heads are the last stage holding each key."""
    assert isinstance(out, dict) and "stages" in out, f"{entry.name}: a bottom-up model returns a dict with 'stages'"
    stages = out["stages"]
    assert len(stages) == entry.outputs, f"{entry.name}: {len(stages)} stages, the entry says {entry.outputs}"
    for i, stage in enumerate(stages):
        assert stage and set(stage) <= set(_BOTTOM_UP_CHANNELS), (entry.name, i, sorted(stage))
        for key, t in stage.items():
            up = 2 if key.endswith("_hr") else 1
            want = (2, _BOTTOM_UP_CHANNELS[key](model, k), up * h // model.stride, up * w // model.stride)
            assert t.shape == want, (entry.name, i, key, tuple(t.shape), want)
    final = {key: t for stage in stages for key, t in stage.items()}  # the last stage with each key
    assert {key for key in out if key != "stages"} == set(final), (entry.name, sorted(out))
    assert all(out[key] is t for key, t in final.items()), f"{entry.name}: top-level heads are not the final stages'"


def check_contract(entry: ZooEntry, k: int = 5) -> None:
    """The contract every zoo model keeps, on a batch of 2 at ``entry.test_input_wh`` with ``k``
    keypoints: ``entry.outputs`` finite heads of the documented shape; in training mode a
    gradient reaches every parameter and is finite; the state dict, through safetensors, makes a
    fresh instance the same function (built on the meta device, so that a value the state dict
    misses cannot come from initialisation; with a second seed where the model has
    non-persistent buffers)."""
    w, h = entry.test_input_wh
    kwargs = dict(entry.test_kwargs)
    torch.manual_seed(0)
    model = create(entry.name, num_keypoints=k, **kwargs)
    assert model.zoo_name == entry.name
    # the entry's default input (W, H) is the model's (H, W) unless the test arguments set it
    assert tuple(model.default_input_size) == kwargs.get("input_size", entry.input_wh[::-1])
    assert model.output_kind in ("heatmap", "regression")
    assert isinstance(model.stride, int) and model.stride >= 1
    x = torch.randn(2, 3, h, w)

    model.train()
    raw = model(x)
    outs = _as_list(raw)
    if entry.kind == "bottom-up":
        check_bottom_up_heads(entry, model, raw, k, h, w)
    else:
        assert entry.kind == "top-down", entry.kind
        assert len(outs) == entry.outputs, f"{entry.name}: {len(outs)} outputs, the entry says {entry.outputs}"
        want = (2, k, h // model.stride, w // model.stride) if model.output_kind == "heatmap" else (2, k, 2)
        for o in outs:
            assert o.shape == want, (entry.name, tuple(o.shape), want)
    for o in outs:
        assert torch.isfinite(o).all()
    sum(o.square().mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"{entry.name}: parameters without gradient: {missing[:5]}"
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p.grad).all()]
    assert not bad, f"{entry.name}: non-finite gradient: {bad[:5]}"

    model.eval()
    with torch.no_grad():
        ref = _as_list(model(x))
    blob = st_save({name: v.contiguous() for name, v in model.state_dict().items()})
    with torch.device("meta"):  # a fresh instance without values: every value must come from the file
        fresh = create(entry.name, num_keypoints=k, **kwargs)
    fresh.load_state_dict(st_load(blob), assign=True)
    if any(b.is_meta for b in fresh.buffers()):  # non-persistent buffers are made by __init__ itself
        torch.manual_seed(1)
        fresh = create(entry.name, num_keypoints=k, **kwargs)
        fresh.load_state_dict(st_load(blob))
    fresh.eval()
    with torch.no_grad():
        got = _as_list(fresh(x))
    for a, b in zip(ref, got, strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_contract(name: str) -> None:
    check_contract(ZOO[name])


@pytest.mark.parametrize("name", sorted(ZOO))
def test_entry_describes_its_builder(name: str) -> None:
    """The entry names its builder, whose defaults are what the entry says (the model's own
    ``default_input_size`` is checked in the contract test), and which rejects unknown
    arguments."""
    entry = ZOO[name]
    builder = entry.builder()
    assert builder.__module__ == entry.module and builder.__name__ == name
    params = inspect.signature(builder).parameters
    assert params["num_keypoints"].default == get_spec(entry.spec).num_keypoints
    if "input_size" in params:
        assert params["input_size"].default == entry.input_wh[::-1]  # builder (H, W), entry (W, H)
    with pytest.raises(TypeError):
        builder(not_an_option=1)


def test_every_issue_name_is_in_the_zoo():
    assert not [n for n in ISSUE_NAMES if n not in ZOO]
    assert len(ZOO) == len(zoo.ENTRIES)  # no name twice


def test_list_models_pattern():
    assert list_models("hrnet*") == ["hrnet_w32", "hrnet_w48"]
    assert list_models() == sorted(ZOO)


def test_create_rejects_unknown_arguments_and_names():
    with pytest.raises(TypeError, match="unknown argument.*bogus.*valid: .*num_keypoints"):
        create("simple_baseline_r18", bogus=1)
    with pytest.raises(KeyError, match="did you mean"):
        create("hrnet_w33")


def test_entries_lists_both_kinds_in_one_sorted_list():
    from posekit.pretrained.cards import CARDS
    found = zoo.entries("efficientpose_ii_lite")  # an architecture, and a pretrained model of it
    assert [type(e).__name__ for e in found] == ["ZooEntry", "ModelCard"]
    everything = zoo.entries()
    assert len(everything) == len(ZOO) + len(CARDS)
    names = [e.name for e in everything if isinstance(e, ZooEntry)]
    assert names.index("simple_baseline_r50") < names.index("simple_baseline_r101")  # numbers by value


# A model added by one entry, with its builder in this module: the builder ...
class _Toy(nn.Module):
    output_kind = "heatmap"
    stride = 2

    def __init__(self, num_keypoints: int, input_size: tuple[int, int], unused: bool = False) -> None:
        super().__init__()
        self.default_input_size = tuple(input_size)
        self.head = nn.Conv2d(3, num_keypoints, 3, stride=2, padding=1)
        self.unused = nn.Linear(2, 2) if unused else None  # a layer forward never reaches

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(images)


def toy_pose(*, num_keypoints: int = 17, input_size: tuple[int, int] = (32, 24)) -> nn.Module:
    return _Toy(num_keypoints, input_size)


def toy_pose_unused_layer(*, num_keypoints: int = 17, input_size: tuple[int, int] = (32, 24)) -> nn.Module:
    return _Toy(num_keypoints, input_size, unused=True)


# ... and its entry
TOY = ZooEntry("toy_pose", __name__, "Nobody et al., 2025", (24, 32), "coco17", test_input_wh=(16, 12))


def test_one_entry_is_all_a_new_model_needs(monkeypatch, capsys):
    """With only its entry added, a model is created, listed (API and ``posekit models``) and
    passes the same contract test as every zoo model."""
    from posekit.cli import main
    monkeypatch.setitem(ZOO, TOY.name, TOY)
    assert list_models("toy*") == ["toy_pose"]
    assert create("toy_pose", num_keypoints=3).zoo_name == "toy_pose"
    with pytest.raises(TypeError, match="unknown argument"):
        create("toy_pose", num_stacks=2)
    check_contract(TOY)
    assert main(["models", "toy*"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["toy_pose", "none", "coco17", "24x32", "Nobody", "et", "al.,", "2025"] in rows


def test_the_contract_fails_a_broken_model(monkeypatch):
    """The contract test can fail: a layer without gradient, and a wrong output count."""
    broken = ZooEntry("toy_pose_unused_layer", __name__, "-", (24, 32), "coco17", test_input_wh=(16, 12))
    monkeypatch.setitem(ZOO, broken.name, broken)
    with pytest.raises(AssertionError, match="parameters without gradient: .*unused"):
        check_contract(broken)
    two = ZooEntry("toy_pose", __name__, "-", (24, 32), "coco17", outputs=2, test_input_wh=(16, 12))
    monkeypatch.setitem(ZOO, two.name, two)
    with pytest.raises(AssertionError, match="1 outputs, the entry says 2"):
        check_contract(two)


class _ToyBottomUp(nn.Module):
    """Two stages of K heatmaps + K tags; ``stale=True`` returns the first stage at the top level."""

    output_kind = "heatmap"
    stride = 2

    def __init__(self, num_keypoints: int, input_size: tuple[int, int], stale: bool = False) -> None:
        super().__init__()
        self.default_input_size = tuple(input_size)
        self.k, self.stale = num_keypoints, stale
        self.first = nn.Conv2d(3, 2 * num_keypoints, 3, stride=2, padding=1)
        self.second = nn.Conv2d(2 * num_keypoints, 2 * num_keypoints, 1)

    def forward(self, images: torch.Tensor) -> dict:
        a = self.first(images)
        b = self.second(a)
        stages = [{"heatmaps": a[:, :self.k], "tags": a[:, self.k:]}, {"heatmaps": b[:, :self.k], "tags": b[:, self.k:]}]
        return {**stages[0 if self.stale else -1], "stages": stages}


def toy_bottom_up(*, num_keypoints: int = 17, input_size: tuple[int, int] = (32, 24)) -> nn.Module:
    return _ToyBottomUp(num_keypoints, input_size)


def toy_bottom_up_stale(*, num_keypoints: int = 17, input_size: tuple[int, int] = (32, 24)) -> nn.Module:
    return _ToyBottomUp(num_keypoints, input_size, stale=True)


def test_the_contract_checks_bottom_up_heads(monkeypatch):
    """A bottom-up entry's dict of heads passes; a wrong stage count, or top-level heads that
    are not the final stage's, fail."""
    good = ZooEntry("toy_bottom_up", __name__, "-", (24, 32), "coco17", outputs=2, test_input_wh=(16, 12),
                    kind="bottom-up")
    monkeypatch.setitem(ZOO, good.name, good)
    check_contract(good)
    three = ZooEntry(good.name, __name__, "-", (24, 32), "coco17", outputs=3, test_input_wh=(16, 12),
                     kind="bottom-up")
    monkeypatch.setitem(ZOO, three.name, three)
    with pytest.raises(AssertionError, match="2 stages, the entry says 3"):
        check_contract(three)
    stale = ZooEntry("toy_bottom_up_stale", __name__, "-", (24, 32), "coco17", outputs=2,
                     test_input_wh=(16, 12), kind="bottom-up")
    monkeypatch.setitem(ZOO, stale.name, stale)
    with pytest.raises(AssertionError, match="top-level heads are not the final"):
        check_contract(stale)


def test_the_index_needs_no_torch():
    """Listing and describing the architectures imports no torch (torch is made unimportable in
    a fresh interpreter); building one does."""
    code = ("import sys; sys.modules['torch'] = None\n"
            "from posekit.models import ZOO, list_models\n"
            "assert len(list_models('hrnet*')) == 2 and ZOO['hrnet_w32'].input_wh == (192, 256)\n"
            "try:\n    ZOO['hrnet_w32'].builder()\nexcept ImportError:\n    print('builder needs torch')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "builder needs torch"

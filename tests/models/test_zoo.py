"""The zoo index: names, the create() contract, and attributes every entry must carry.

Forward/backward/state-dict contracts per architecture live in test_models_a.py and
test_models_b.py; here every entry is built on the meta device (shapes only) so that the
whole zoo is checked cheaply."""

import pytest
import torch

from posekit.models import MODELS, create, list_models

ISSUE_NAMES = [
    "jain2013", "deeppose", "cpm", "hourglass_1", "hourglass_2", "hourglass_4", "hourglass_8",
    "prm", "simple_baseline_r18", "simple_baseline_r50", "simple_baseline_r101",
    "simple_baseline_r152", "cpn_r50", "hrnet_w32", "hrnet_w48", "mspn", "efficientpose_rt",
    "efficientpose_i", "efficientpose_ii", "efficientpose_iii", "efficientpose_iv",
    "efficientpose_rt_lite", "efficientpose_i_lite", "efficientpose_ii_lite", "evopose2d_s",
    "evopose2d_m", "evopose2d_l",
]


def test_every_issue_name_is_in_the_zoo():
    missing = [n for n in ISSUE_NAMES if n not in MODELS]
    assert not missing


def test_list_models_pattern():
    assert list_models("hrnet*") == ["hrnet_w32", "hrnet_w48"]
    assert list_models() == sorted(MODELS)


def test_create_rejects_unknown_arguments_and_names():
    with pytest.raises(TypeError, match="unknown argument.*bogus.*valid: .*num_keypoints"):
        create("simple_baseline_r18", bogus=1)
    with pytest.raises(KeyError, match="did you mean"):
        create("hrnet_w33")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_entry_carries_its_contract_attributes(name):
    with torch.device("meta"):
        model = create(name)
    assert model.output_kind in ("heatmap", "regression")
    h, w = model.default_input_size
    assert h > 0 and w > 0 and isinstance(model.stride, int) and model.stride >= 1
    assert model.zoo_name == name
    assert sum(p.numel() for p in model.parameters()) > 0

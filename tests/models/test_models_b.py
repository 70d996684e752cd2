"""Complexity, layout and weight-transfer tests for HRNet, EfficientPose and EvoPose2D (their
contract test, like every zoo entry's, is in test_zoo.py).

Complexity is counted on the ``meta`` device (shapes only, no arithmetic), so the paper-size
checks are fast. Paper conventions (see docs/models_b.md):
- HRNet: multiply-adds / 2**30 (the official ``get_model_summary`` divides by 1024**3).
- EfficientPose: FLOPs = 2 x multiply-adds; parameters counted the Keras way (BatchNorm moving
  mean and variance included).
- EvoPose2D: multiply-adds (official code halves the TF profiler count); Keras parameters.
"""

from __future__ import annotations

import functools
import math

import pytest
import torch
from torch import nn

import torch.nn.functional as F

from posekit.models import create, list_models
from posekit.models.backbones.efficientnet import (
    Conv2dSame,
    EfficientNet,
    MBConv,
    round_filters,
    round_repeats,
)
from posekit.models.complexity import count_macs, count_params
from posekit.models.evopose2d import (
    EVOPOSE2D_GENOTYPE,
    EvoPose2D,
    EvoPose2DSpec,
    Genotype,
    scaling_coefficients,
    transfer_weights,
)

FAMILY_B = list_models("hrnet*") + list_models("efficientpose*") + list_models("evopose2d*")


def _keras_params(model: nn.Module) -> int:
    """Parameters plus BatchNorm moving statistics, as Keras' ``count_params`` reports."""
    stats = sum(b.numel() for k, b in model.named_buffers() if "running" in k)
    return count_params(model) + stats


@functools.cache
def _meta(name: str) -> nn.Module:
    """The model on the meta device (shapes only), built once per name for this module."""
    with torch.device("meta"):
        return create(name)


@pytest.mark.parametrize("name", FAMILY_B)
def test_default_input_is_a_multiple_of_the_network_stride(name: str) -> None:
    """The default input divides by the total downsampling (8 x the output stride): one heads
    pixel per ``stride`` input pixels, with no cropped border."""
    model = _meta(name)
    assert model.output_kind == "heatmap"
    h0, w0 = model.default_input_size
    assert h0 % (8 * model.stride) == 0 and w0 % (8 * model.stride) == 0


# (params in millions, paper's compute figure in G, how the paper counts compute, rel. tol.)
PAPER = {
    "hrnet_w32": (28.5, 7.1, "macs_gib"),
    "hrnet_w48": (63.6, 32.9, "macs_gib"),
    "efficientpose_rt": (0.46, 0.87, "flops"),
    "efficientpose_i": (0.72, 1.67, "flops"),
    "efficientpose_ii": (1.73, 7.70, "flops"),
    "efficientpose_iii": (3.23, 23.35, "flops"),
    "efficientpose_iv": (6.56, 72.89, "flops"),
    "efficientpose_rt_lite": (0.40, 0.86, "flops"),
    "efficientpose_i_lite": (0.59, 1.54, "flops"),
    "efficientpose_ii_lite": (1.46, 7.25, "flops"),
    "evopose2d_s": (2.53, 1.07, "macs"),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_complexity_matches_paper(name: str) -> None:
    params_m, compute_g, convention = PAPER[name]
    model = _meta(name)
    params = _keras_params(model) if not name.startswith("hrnet") else count_params(model)
    # The paper rounds to two decimals (three significant digits for HRNet).
    assert params / 1e6 == pytest.approx(params_m, rel=0.01, abs=0.005)
    macs = count_macs(model, model.default_input_size)
    ours = {"macs_gib": macs / 2**30, "flops": 2 * macs / 1e9, "macs": macs / 1e9}[convention]
    assert ours == pytest.approx(compute_g, rel=0.03)


def test_hrnet_exact_parameter_count() -> None:
    # Sum of the official W32 layer shapes: a regression pin on the structure.
    assert count_params(_meta("hrnet_w32")) == 28_536_113


def test_efficientnet_b0_matches_reference() -> None:
    """EfficientNet-B0 with its classifier: 5,288,548 trainable parameters (Keras reference),
    0.39 G multiply-adds at 224 (Tan & Le 2019, Table 2)."""
    with torch.device("meta"):
        b0 = EfficientNet("b0", include_top=True)
    assert count_params(b0) == 5_288_548
    assert count_macs(b0, (224, 224)) / 1e9 == pytest.approx(0.39, rel=0.02)


def test_efficientnet_scaling_rules() -> None:
    assert [round_filters(c, 1.1) for c in (32, 16, 24, 40)] == [32, 16, 24, 48]
    assert [round_filters(c, 2.0) for c in (32, 40, 320)] == [64, 80, 640]
    assert round_repeats(3, 1.8) == 6 and round_repeats(1, 3.1) == 4
    trunk = EfficientNet("b7", num_stages=3)
    assert trunk.out_channels == 80 and trunk.stride == 8
    assert len(trunk.stages[2]) == round_repeats(2, 3.1) == 7
    lite = EfficientNet("lite4", num_stages=3)
    assert lite.stem[0].out_channels == 32 and len(lite.stages[0]) == 1
    assert not any(isinstance(m, nn.SiLU) for m in lite.modules())


def test_mbconv_residual_only_when_shapes_match() -> None:
    torch.manual_seed(0)
    block = MBConv(16, 16, expand=6, kernel=3, stride=1).eval()
    x = torch.randn(1, 16, 8, 8)
    # Zero the projection BN scale: the block then reduces to its identity shortcut.
    with torch.no_grad():
        block.project[1].weight.zero_()
        block.project[1].bias.zero_()
        assert torch.equal(block(x), x)
    assert not MBConv(16, 24, stride=1).use_residual
    assert not MBConv(16, 16, stride=2).use_residual


def test_tf_same_padding() -> None:
    """TF 'same' puts the odd padding pixel after the image: (0, 1) for 3x3/2 and (1, 2) for
    5x5/2 on even sizes, symmetric on odd sizes."""
    torch.manual_seed(0)
    for k, size, pads in [(3, 8, (0, 1)), (5, 8, (1, 2)), (3, 7, (1, 1))]:
        same = Conv2dSame(2, 3, k, 2, 0, bias=False)
        plain = nn.Conv2d(2, 3, k, 2, 0, bias=False)
        plain.weight = same.weight
        x = torch.randn(1, 2, size, size)
        expected = plain(F.pad(x, (pads[0], pads[1], pads[0], pads[1])))
        assert torch.equal(same(x), expected)
        assert expected.shape[-1] == -(-size // 2)
    a = create("efficientpose_ii_lite")
    b = create("efficientpose_ii_lite", tf_padding=True)
    assert {k: v.shape for k, v in a.state_dict().items()} == \
        {k: v.shape for k, v in b.state_dict().items()}


def test_efficientpose_ii_lite_layout_matches_released_graph() -> None:
    """Shapes read from the released EfficientPose II Lite TF.js graph (EfficientNet-Lite4
    trunk at 368, two Mobile DenseNet blocks per pass, width 56)."""
    m = create("efficientpose_ii_lite")
    assert m.low is None and m.default_input_size == (368, 368)
    assert m.high.stem[0].weight.shape == (32, 3, 3, 3)
    assert m.high.stages[0][0].project[0].weight.shape == (24, 32, 1, 1)
    assert [len(s) for s in m.high.stages] == [1, 4, 4]
    assert m.high.stages[2][0].project[0].weight.shape == (56, 192, 1, 1)
    assert len(m.pass3) == 2
    assert m.pass3[0].m3.dw[0].weight.shape == (336, 1, 5, 5)
    assert m.pass3[0].m3.project[0].weight.shape == (56, 336, 1, 1)
    assert m.pass2[0].m1.expand[0].weight.shape == (336, 168 + 56, 1, 1)
    assert m.confs.weight.shape == (16, 168, 1, 1)
    assert [u.weight.shape for u in m.upscale] == [(16, 16, 4, 4)] * 3
    assert [u.bias is not None for u in m.upscale] == [False, False, True]
    assert not any(isinstance(x, nn.SiLU) for x in m.modules())


def test_efficientpose_upscaling_is_bilinear_at_init() -> None:
    """The transposed convs start as per-channel bilinear x2 upsamplers: a constant map stays
    constant away from the border."""
    model = create("efficientpose_rt", num_keypoints=3)
    x = torch.full((1, 3, 6, 6), 2.0)
    with torch.no_grad():
        y = model.upscale(x)
    assert y.shape == (1, 3, 48, 48)
    assert torch.allclose(y[..., 8:-8, 8:-8], torch.full_like(y[..., 8:-8, 8:-8], 2.0))


def test_evopose2d_genotype_and_scaling() -> None:
    assert EVOPOSE2D_GENOTYPE.blocks[3].filters8 == 10
    assert sum(g.stride == 2 for g in EVOPOSE2D_GENOTYPE.blocks) == 3
    with pytest.raises(AttributeError):
        EVOPOSE2D_GENOTYPE.blocks[0].kernel = 5  # type: ignore[misc]
    d, w = scaling_coefficients((256, 192))
    assert d == pytest.approx(1.0) and w == pytest.approx(1.0)
    d, w = scaling_coefficients((512, 384))   # (H + W) / 2 = 448 = 2 x 224
    phi = math.log(2) / math.log(1.15)
    assert d == pytest.approx(1.2 ** phi) and w == pytest.approx(1.1 ** phi)
    assert EvoPose2D(EvoPose2DSpec(EVOPOSE2D_GENOTYPE, (256, 192))).stride == 2


# ---------------------------------------------------------------------------- weight transfer

def _evopose(genotype: Genotype, seed: int) -> EvoPose2D:
    torch.manual_seed(seed)
    model = EvoPose2D(EvoPose2DSpec(genotype, (256, 192)), num_keypoints=4)
    # Give the BatchNorm statistics non-default values so that they matter.
    model.train()
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 48))
    return model.eval()


def _stage_param(model: EvoPose2D, stage: int, block: int, path: str) -> torch.Tensor:
    return model.get_submodule(f"stages.{stage}.{block}.{path}").weight.detach()


def test_transfer_identical_architecture_gives_identical_outputs() -> None:
    parent = _evopose(EVOPOSE2D_GENOTYPE, seed=0)
    child = _evopose(EVOPOSE2D_GENOTYPE, seed=1)
    x = torch.randn(1, 3, 64, 48)
    with torch.no_grad():
        assert not torch.allclose(child(x), parent(x))
        transfer_weights(parent, child)
        assert torch.equal(child(x), parent(x))


def test_transfer_mutated_child_inherits_overlap() -> None:
    parent = _evopose(EVOPOSE2D_GENOTYPE, seed=0)
    mutant = (EVOPOSE2D_GENOTYPE
              .mutate_stage(2, kernel=3)              # 5x5 -> 3x3: centre crop
              .mutate_stage(3, kernel=5, repeats=5)   # 3x3 -> 5x5: centre pad; one more block
              .mutate_stage(4, filters8=12)           # 112 -> 96 channels: truncate
              .mutate_stage(5, filters8=18))          # 128 -> 144 channels: extend
    child = _evopose(mutant, seed=1)
    fresh = {k: v.clone() for k, v in child.state_dict().items()}
    transfer_weights(parent, child)

    # Unchanged layers are copied exactly (stem, stage 0, head).
    assert torch.equal(child.stem[0].weight, parent.stem[0].weight)
    assert torch.equal(child.stages[0][0].dw[0].weight, parent.stages[0][0].dw[0].weight)
    assert torch.equal(child.final.weight, parent.final.weight)
    # 5x5 parent kernel -> 3x3 child kernel: the centre.
    pk, ck = _stage_param(parent, 2, 1, "dw.0"), _stage_param(child, 2, 1, "dw.0")
    assert ck.shape[-1] == 3 and torch.equal(ck, pk[..., 1:4, 1:4])
    # 3x3 parent kernel -> 5x5 child kernel: parent in the centre, child init around it.
    pk, ck = _stage_param(parent, 3, 0, "dw.0"), _stage_param(child, 3, 0, "dw.0")
    assert ck.shape[-1] == 5 and torch.equal(ck[..., 1:4, 1:4], pk)
    assert torch.equal(ck[..., 0, :], fresh["stages.3.0.dw.0.weight"][..., 0, :])
    # Extra block 4 of stage 3 inherits the parent's last block (3) of that stage.
    pk, ck = _stage_param(parent, 3, 3, "expand.0"), _stage_param(child, 3, 4, "expand.0")
    assert torch.equal(ck, pk)
    # Narrower stage 4: output channels truncated; stage 5 input channels truncated.
    pk, ck = _stage_param(parent, 4, 0, "project.0"), _stage_param(child, 4, 0, "project.0")
    assert ck.shape[0] == 96 and torch.equal(ck, pk[:96])
    pk, ck = _stage_param(parent, 5, 0, "expand.0"), _stage_param(child, 5, 0, "expand.0")
    assert ck.shape[:2] == (576, 96) and torch.equal(ck, pk[:576, :96])
    # Wider stage 5: parent channels copied, extras keep the child's init; BN extras get the
    # parent's mean.
    pk, ck = _stage_param(parent, 5, 1, "project.0"), _stage_param(child, 5, 1, "project.0")
    init = fresh["stages.5.1.project.0.weight"]
    assert ck.shape[:2] == (144, 864) and pk.shape[:2] == (128, 768)
    assert torch.equal(ck[:128, :768], pk)
    assert torch.equal(ck[128:], init[128:]) and torch.equal(ck[:, 768:], init[:, 768:])
    pb = parent.stages[5][1].project[1].running_var
    cb = child.stages[5][1].project[1].running_var
    assert torch.equal(cb[:128], pb) and torch.allclose(cb[128:], pb.mean().expand(16))
    # The child still runs.
    with torch.no_grad():
        assert child(torch.randn(1, 3, 64, 48)).shape == (1, 4, 32, 24)


def test_transfer_from_efficientnet_b0_trunk() -> None:
    """The search starts from an ImageNet EfficientNet-B0: its trunk shares our layer names, so
    transfer_weights seeds an EvoPose2D from it (kernels/channels adapted, head untouched)."""
    torch.manual_seed(0)
    b0 = EfficientNet("b0").eval()
    child = _evopose(EVOPOSE2D_GENOTYPE, seed=1)
    head_before = child.final.weight.clone()
    transfer_weights(b0, child)
    assert torch.equal(child.stem[0].weight, b0.stem[0].weight)
    # Stage 0: B0 has 16 output channels, the genotype 2 x 8 = 16: copied whole.
    assert torch.equal(child.stages[0][0].project[0].weight, b0.stages[0][0].project[0].weight)
    # Stage 3: B0 has 80 channels and 3 repeats; the genotype 80 channels and 4 repeats.
    assert torch.equal(child.stages[3][3].dw[0].weight, b0.stages[3][2].dw[0].weight)
    assert torch.equal(child.final.weight, head_before)

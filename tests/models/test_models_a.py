"""The classic top-down architectures (jain2013, deeppose, cpm, hourglass, prm, simple_baseline,
cpn, mspn): parameter counts against the papers and architecture-specific checks. The contract
test (forward, backward, output shapes, state-dict round trip) of every zoo entry is in
test_zoo.py."""

from __future__ import annotations

import pytest
import torch

from posekit.models import cpm, create, deeppose, jain2013, prm, simple_baseline
from posekit.models.complexity import count_macs, count_params


# Paper figures (millions of parameters) at the paper's keypoint count.
PAPER_PARAMS = {
    ("simple_baseline_r50", 17): 34.0,   # Xiao et al. 2018, Table / HRNet paper Table 1
    ("simple_baseline_r152", 17): 68.6,
    ("cpn_r50", 17): 27.0,               # as quoted by the HRNet paper
    ("hourglass_8", 16): 25.1,           # survey figure for Newell et al. 2016
    ("prm", 16): 28.1,                   # PRM-B, 8 stacks (Yang et al. 2017)
}


@pytest.mark.parametrize("name,k", sorted(PAPER_PARAMS))
def test_params_match_paper(name: str, k: int) -> None:
    with torch.device("meta"):  # no weights allocated: counting is instant
        model = create(name, num_keypoints=k)
    ours = count_params(model) / 1e6
    paper = PAPER_PARAMS[(name, k)]
    assert abs(ours - paper) / paper < 0.03, (name, ours, paper)


# Our multiply-add counts (G) as tabulated in docs/models_a.md; pinned so that the table and
# the code cannot drift apart. (The papers' figures and the reasons for the gaps are there.)
OUR_GMACS = {
    ("simple_baseline_r50", (256, 192), 17): 5.426,
    ("cpn_r50", (256, 192), 17): 7.231,
    ("hourglass_8", (256, 256), 16): 27.440,
    ("hourglass_1", (256, 256), 16): 5.150,
}


@pytest.mark.parametrize("name,size,k", sorted(OUR_GMACS))
def test_macs_match_documented_table(name: str, size: tuple[int, int], k: int) -> None:
    with torch.device("meta"):
        model = create(name, num_keypoints=k, input_size=size)
    ours = count_macs(model, size) / 1e9
    assert ours == pytest.approx(OUR_GMACS[(name, size, k)], rel=1e-3)


def test_jain2013_dense_equals_sliding_window() -> None:
    torch.manual_seed(0)
    model = jain2013.jain2013(num_keypoints=3).eval()
    x = torch.randn(1, 3, 24, 28)
    with torch.no_grad():
        dense = model(x)
        padded = torch.nn.functional.pad(model.lcn(x), (jain2013.PAD,) * 4)
        for i, j in [(0, 0), (2, 3), (5, 6)]:
            patch = padded[..., 4 * i:4 * i + 64, 4 * j:4 * j + 64]
            assert patch.shape[-2:] == (64, 64)
            torch.testing.assert_close(model.detectors(patch).flatten(), dense[0, :, i, j],
                                       rtol=1e-4, atol=1e-5)


def test_jain2013_parts_are_independent() -> None:
    """Zeroing part 0's detector weights must not change the other parts' maps."""
    torch.manual_seed(0)
    model = jain2013.jain2013(num_keypoints=3).eval()
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        before = model(x)
        model.detectors[0].weight[:32].zero_()
        after = model(x)
    assert not torch.allclose(before[:, 0], after[:, 0])
    torch.testing.assert_close(before[:, 1:], after[:, 1:])


def test_lcn_is_contrast_invariant() -> None:
    lcn = jain2013.LocalContrastNorm()
    torch.manual_seed(0)
    x = torch.rand(1, 3, 20, 20)
    torch.testing.assert_close(lcn(3.0 * x + 5.0), lcn(x), rtol=1e-4, atol=1e-4)


def test_deeppose_crop_samples_the_right_pixels() -> None:
    img = torch.arange(64.0).view(1, 1, 8, 8).expand(1, 3, 8, 8)
    # joint at pixel (x=3, y=2): u = (3 + 0.5)/8 - 0.5, v = (2 + 0.5)/8 - 0.5; box 2 px
    center = torch.tensor([[[3.5 / 8 - 0.5, 2.5 / 8 - 0.5]]])
    crop = deeppose.crop_around(img, center, torch.tensor([2.0]), (2, 2))
    # crop pixel centres at x in {2.5, 3.5}, y in {1.5, 2.5}: bilinear of img = 8y + x
    expected = torch.tensor([[8 * 1.5 + 2.5, 8 * 1.5 + 3.5], [8 * 2.5 + 2.5, 8 * 2.5 + 3.5]])
    torch.testing.assert_close(crop[0, 0], expected)
    # the whole image as box gives the image back
    full = deeppose.crop_around(img, torch.zeros(1, 1, 2), torch.tensor([8.0]), (8, 8))
    torch.testing.assert_close(full, img)


def test_deeppose_stage_losses_train_their_own_stage() -> None:
    torch.manual_seed(0)
    model = deeppose.deeppose(num_keypoints=4, input_size=(72, 72), num_stages=2)
    outs = model(torch.randn(1, 3, 72, 72))
    outs[1].sum().backward()
    assert all(p.grad is None for p in model.stages[0].parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.stages[1].parameters())
    assert model.torso_pair is None  # 4 keypoints: no known layout -> bounding-box diagonal
    assert deeppose.default_torso_pair(17) == (5, 12)
    assert deeppose.default_torso_pair(14) == (9, 2)


def test_cpm_center_map_peaks_at_crop_centre() -> None:
    cmap = cpm.center_gaussian((64, 48), 8, 21.0, torch.device("cpu"), torch.float32)
    assert cmap.shape == (1, 1, 8, 6)
    # the two middle cells are equidistant from the centre and hold the maximum
    flat = cmap[0, 0]
    assert torch.isclose(flat.max(), flat[3, 2]) and torch.isclose(flat[3, 2], flat[4, 3])
    model = cpm.cpm(num_keypoints=4, num_stages=2, center_map=False, background=True)
    assert model.stages[0][0].in_channels == 32 + 5
    outs = model(torch.randn(1, 3, 32, 32))
    assert outs[-1].shape == (1, 5, 4, 4)


def test_prm_is_deterministic_in_eval_and_stochastic_in_train() -> None:
    torch.manual_seed(0)
    model = prm.prm(num_keypoints=2, num_stacks=1)
    x = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], model(x)[0], rtol=0, atol=0)
    pool = prm.FractionalMaxPool(2 ** -0.25).train()
    y = torch.randn(1, 1, 16, 16)
    assert pool(y).shape == (1, 1, 13, 13)
    outs = {tuple(pool(y).flatten().tolist()) for _ in range(8)}
    assert len(outs) > 1


def test_simple_baseline_skips_feed_the_trunk_features_to_the_head() -> None:
    """``skips=True`` (not in the paper): C4/C3/C2 reach the output through 1x1 laterals, so
    the gradient reaches C2 directly; without skips, the paper's layout has no such path."""
    torch.manual_seed(0)
    plain = simple_baseline.simple_baseline_r18(num_keypoints=3, deconv_channels=16)
    skip = simple_baseline.simple_baseline_r18(num_keypoints=3, deconv_channels=16, skips=True)
    assert not any(k.startswith("skips.") for k in plain.state_dict())
    assert [m[0].in_channels for m in skip.skips] == [256, 128, 64]
    # same trunk and head, so the only difference is the laterals
    assert count_params(skip) - count_params(plain) == sum(c * 16 + 2 * 16 for c in (256, 128, 64))
    x = torch.randn(2, 3, 64, 64)
    out = skip(x)
    assert out.shape == (2, 3, 16, 16)
    # zeroing the laterals' BN scale and shift gives back the plain path exactly
    skip.load_state_dict(plain.state_dict(), strict=False)
    for lat in skip.skips:
        torch.nn.init.zeros_(lat[1].weight)
        torch.nn.init.zeros_(lat[1].bias)
    skip.eval(), plain.eval()
    torch.testing.assert_close(skip(x), plain(x))

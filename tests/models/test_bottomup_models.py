"""The bottom-up architectures (OpenPose, Associative Embedding's hourglass, HigherHRNet): the
layout of their heads and their size against the papers, each in the paper's own convention
(docs/models_bottomup.md). Their zoo contract (forward, backward, round trip, heads dict) is in
test_zoo.py.

Counts run on the ``meta`` device (shapes only), so the full-size models are cheap here.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from posekit.codecs.paf import PAFCodec
from posekit.models import create
from posekit.models.ae_hourglass import AEHourglass, WideHourglass
from posekit.models.conventions import count_hrnet_summary
from posekit.models.complexity import count_macs, count_params
from posekit.models.higherhrnet import HigherHRNet
from posekit.models.openpose import COCO17_NUM_LIMBS, ConvBlock, OpenPose
from posekit.skeleton import get_spec


@functools.cache
def _meta(name: str, **kwargs) -> nn.Module:
    with torch.device("meta"):
        return create(name, **kwargs)


# ---------------------------------------------------------------------------------------------
# OpenPose


def test_openpose_heads_and_stage_inputs():
    """4 PAF stages then 2 confidence-map stages; the PAF channels follow the codec's limbs; the
    first stage sees the 128 stem features, later PAF stages also the previous fields, the
    confidence-map stages the last fields (and the previous maps)."""
    codec = PAFCodec(get_spec("coco17"))
    assert COCO17_NUM_LIMBS == len(codec.limbs) == 19
    torch.manual_seed(0)
    model = create("openpose", num_keypoints=17).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 48, 40))
    assert [sorted(s) for s in out["stages"]] == [["pafs"]] * 4 + [["heatmaps"]] * 2
    assert out["pafs"].shape == (1, 38, 6, 5) and out["heatmaps"].shape == (1, 17, 6, 5)
    cin = [s.blocks[0].convs[0][0].in_channels for s in (*model.paf_stages, *model.cm_stages)]
    assert cin == [128, 128 + 38, 128 + 38, 128 + 38, 128 + 38, 128 + 38 + 17]
    widths = [(s.blocks[0].convs[0][0].out_channels, s.mid[0].out_channels)
              for s in (*model.paf_stages, *model.cm_stages)]
    assert widths == [(96, 256), (128, 512), (128, 512), (128, 512), (96, 256), (128, 512)]


def test_openpose_stem_is_vgg19_first_ten_plus_two():
    model = _meta("openpose")
    convs = [m for m in model.stem.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 256, 128]
    assert all(c.kernel_size == (3, 3) for c in convs)
    assert sum(isinstance(m, nn.MaxPool2d) for m in model.stem) == 3  # stride 8
    assert sum(isinstance(m, nn.PReLU) for m in model.stem) == 3  # conv4_2 and the two CPM layers


def test_conv_block_concatenates_its_three_convolutions():
    """The 2019 conv block: output = [c1, c2(c1), c3(c2(c1))] on channels."""
    torch.manual_seed(0)
    block = ConvBlock(5, 4, prelu=False)
    x = torch.randn(1, 5, 6, 6)
    y = block(x)
    c1 = block.convs[0](x)
    c2 = block.convs[1](c1)
    assert y.shape == (1, 12, 6, 6)
    assert torch.allclose(y[:, :4], c1) and torch.allclose(y[:, 4:8], c2)
    assert torch.allclose(y[:, 8:], block.convs[2](c2))


def test_openpose_complexity_matches_efficientpose_comparison():
    """25.94 M parameters and 160.36 GFLOPs (= 2 x multiply-adds) at 368x368 (EfficientPose
    paper and repository, OpenPose trained on MPII): ours with COCO-17 heads is +0.4% and +0.2%."""
    model = _meta("openpose")
    assert count_params(model) == 26_047_034  # a pin on the structure
    assert count_params(model) / 1e6 == pytest.approx(25.94, rel=0.006)
    assert 2 * count_macs(model, (368, 368)) / 1e9 == pytest.approx(160.36, rel=0.004)


# ---------------------------------------------------------------------------------------------
# Associative Embedding hourglass


def test_ae_hourglass_heads_and_widths():
    torch.manual_seed(0)
    model = AEHourglass(num_keypoints=3, num_stacks=2, features=16, increase=8).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 128, 64))
    assert [sorted(s) for s in out["stages"]] == [["heatmaps", "tags"]] * 2
    assert out["heatmaps"].shape == out["tags"].shape == (1, 3, 32, 16)  # output stride 4
    with torch.no_grad():  # heatmaps then tags: the two halves of each stack's 2K prediction
        last = model.stack(model.stem(torch.zeros(1, 3, 64, 64)))[-1]
        again = model(torch.zeros(1, 3, 64, 64))
    assert torch.equal(again["heatmaps"], last[:, :3]) and torch.equal(again["tags"], last[:, 3:])
    # the full-size hourglass: 256 -> 384 -> 512 -> 640 -> 768 at its bottom
    hg = _meta("ae_hourglass").stack.hourglasses[0]
    widths = []
    while isinstance(hg, WideHourglass):
        widths.append(hg.low1[0].out_channels)
        hg = hg.low2
    assert widths == [384, 512, 640, 768] and hg[0].out_channels == 768


def test_ae_hourglass_complexity_matches_the_paper_count():
    """HRNet/HigherHRNet tables: 277.8 M and 206.9 G at 512 for AE's hourglass. The released
    network has 68 output channels (2 x 34); ``get_model_summary`` counts its parameters twice
    (the code's ``Conv`` wrapper and the ``nn.Conv2d`` in it) and its multiply-adds / 2^30."""
    released = _meta("ae_hourglass", num_keypoints=34)
    assert 2 * count_params(released) / 1e6 == pytest.approx(277.8, abs=0.05)
    assert count_macs(released, (512, 512)) / 2**30 == pytest.approx(206.9, abs=0.05)
    assert count_hrnet_summary(released, (512, 512)) == count_macs(released, (512, 512))  # no deconvolution
    ours = _meta("ae_hourglass")  # K = 17: 34 output channels
    assert count_params(ours) == 138_832_776
    assert count_macs(ours, (512, 512)) / 2**30 == pytest.approx(206.02, abs=0.01)


# ---------------------------------------------------------------------------------------------
# HigherHRNet


def test_higherhrnet_heads_and_deconvolution_input():
    torch.manual_seed(0)
    model = create("higherhrnet_w32", num_keypoints=4).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 96))
    assert out["heatmaps"].shape == out["tags"].shape == (1, 4, 16, 24)
    assert out["heatmaps_hr"].shape == (1, 4, 32, 48)
    assert [sorted(s) for s in out["stages"]] == [["heatmaps", "tags"], ["heatmaps_hr"]]
    deconv = model.deconv[0]
    assert isinstance(deconv, nn.ConvTranspose2d) and deconv.in_channels == 32 + 2 * 4
    assert deconv.kernel_size == (4, 4) and deconv.stride == (2, 2)
    assert sum(type(m).__name__ == "BasicBlock" for m in model.deconv) == 4


@pytest.mark.parametrize("width,size,params_m,gflops", [(32, 512, 28.6, 47.9), (48, 640, 63.8, 154.3)])
def test_higherhrnet_complexity_matches_paper(width, size, params_m, gflops):
    """HigherHRNet-W32 at 512 and W48 at 640: the paper's GFLOPs are the repository's
    ``get_model_summary`` count (deconvolution per output pixel) / 1e9."""
    with torch.device("meta"):
        model = HigherHRNet(width=width, deconv_channels=width, input_size=(size, size))
    assert count_params(model) / 1e6 == pytest.approx(params_m, abs=0.05)
    summary = count_hrnet_summary(model, (size, size))
    assert summary / 1e9 == pytest.approx(gflops, abs=0.05)
    # true multiply-adds are lower: the 4x4/2 deconvolution costs a quarter of that count
    deconv = model.deconv[0]
    per_pixel = deconv.weight.numel()
    assert count_macs(model, (size, size)) == summary - 3 * per_pixel * (size // 4) ** 2
    if width == 32:
        assert count_params(model) == count_params(_meta("higherhrnet_w32")) == 28_645_331

"""DeeperCut's part detector: its zoo entry, head shapes at stride 8,
conv5 dilated at stride 16, parameters and multiply-adds against the HRNet paper's table
(42.6 M / 41.2 GFLOPs) with the gap pinned, and the heads decode through DeeperCutCodec."""

from __future__ import annotations

import pytest
import torch

from posekit.codecs import DeeperCutCodec
from posekit.models import ZOO, create
from posekit.models.backbones.resnet import ResNet
from posekit.models.complexity import count_macs, count_params
from posekit.models.deepercut import deepercut
from posekit.skeleton import COCO17

PAPER_PARAMS, PAPER_GMACS = 42.6e6, 41.2e9


def test_zoo_entry():
    """The ``deepercut`` entry is bottom-up with two stages; the zoo's contract test
    (tests/models/test_zoo.py, every entry) runs it with DeeperCut's head channels."""
    entry = ZOO["deepercut"]
    assert entry.kind == "bottom-up" and entry.outputs == 2 and entry.input_wh == (512, 512)
    with pytest.raises(ValueError, match="bottleneck"):
        deepercut(depth=18)


def test_heads_shapes_stride_and_stages():
    torch.manual_seed(0)
    m = create("deepercut", num_keypoints=5, depth=50)
    m.eval()
    with torch.no_grad():
        out = m(torch.randn(1, 3, 96, 64))
    assert out["scoremaps"].shape == (1, 5, 12, 8)
    assert out["locref"].shape == (1, 10, 12, 8)
    assert out["pairwise"].shape == (1, 40, 12, 8)
    assert [sorted(s) for s in out["stages"]] == [["scoremaps"], ["locref", "pairwise", "scoremaps"]]
    assert out["stages"][1]["scoremaps"] is out["scoremaps"]
    assert out["stages"][0]["scoremaps"].shape == (1, 5, 12, 8)
    assert m.stride == 8 and m.default_input_size == (512, 512)
    # conv5 at stride 16, dilated (the hole algorithm): the receptive field of stride 32
    for block in m.backbone.layer4:
        assert block.conv2.stride == (1, 1) and block.conv2.dilation == (2, 2)
    assert m.backbone.layer4[0].downsample[0].stride == (1, 1)
    no_pw = deepercut(num_keypoints=5, depth=50, pairwise=False)
    assert "pairwise" not in no_pw(torch.randn(1, 3, 32, 32))


def test_params_and_macs_against_the_paper():
    """The HRNet paper's table: 42.6 M parameters, 41.2 GFLOPs (multiply-adds) at 512. The
    ResNet-101 trunk alone is 42.50 M (0.2 % below the table) and, undilated, 40.75 G at 512
    (1.1 % below): the table's figures are those of the plain trunk plus small heads. Ours,
    faithful to the paper, are larger: 53.62 M (the pairwise head alone is 10.03 M for COCO-17)
    and 63.21 G at 512 (conv5 at stride 16 costs 4x)."""
    m, trunk = deepercut().to("meta"), ResNet(101).to("meta")   # counted on meta tensors: no arithmetic
    assert count_params(trunk) == 42_500_160
    assert abs(count_params(trunk) - PAPER_PARAMS) / PAPER_PARAMS < 0.005
    assert count_params(m) == 53_624_484
    assert count_params(m.pairwise) == 10_027_552
    # multiply-adds scale with the area for sides that are multiples of 32: 512 = 4 x 256
    trunk_macs, macs = 4 * count_macs(trunk, (256, 256)), 4 * count_macs(m, (256, 256))
    assert trunk_macs == pytest.approx(40.748e9, rel=1e-3)
    assert abs(trunk_macs - PAPER_GMACS) / PAPER_GMACS < 0.015
    assert macs == pytest.approx(63.211e9, rel=1e-3)


def test_model_heads_decode_through_the_codec():
    """The model's output dict is what the codec decodes (keys, channel counts, grid)."""
    torch.manual_seed(0)
    m = deepercut(num_keypoints=17, depth=50)
    m.eval()
    codec = DeeperCutCodec(COCO17, input_size=(64, 48), max_candidates=3)
    with torch.no_grad():
        out = m(torch.randn(1, 3, 48, 64))
    inst = codec.decode_instances(out, input_size=(64, 48))
    assert inst.keypoints.shape == (1, codec.max_people, 17, 3)

"""The estimator interface: built from a checkpoint (config, codec, spec, weights, the datasets'
normalisation), the flip test through the codec, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from posekit.codecs import MoveNetSingleCodec, RegressionCodec
from posekit.errors import PosekitError
from posekit.models.estimator import Estimator, imagenet_inputs, load_estimator
from posekit.skeleton import COCO17


def _checkpoint(tmp_path, *overrides: str):
    """A checkpoint of the synthetic_tiny model (untrained, random weights) with its config."""
    from posekit.engine.checkpoint import save_checkpoint
    from posekit.engine.config import apply_overrides, config_to_dict
    from posekit.engine.data import create_model
    from posekit.engine.presets import get_preset

    cfg = apply_overrides(get_preset("synthetic_tiny"), list(overrides))
    torch.manual_seed(0)
    model = create_model(cfg.model.arch, 17, cfg.model.kwargs)
    path = save_checkpoint(tmp_path / "checkpoint.safetensors", model, arch=cfg.model.arch, spec=COCO17,
                           config=config_to_dict(cfg))
    return path, model, cfg


def test_from_checkpoint_takes_everything_from_the_saved_config(tmp_path):
    path, model, cfg = _checkpoint(tmp_path, "model.codec=udp", "model.sigma=1.5", "model.decoder=argmax",
                                   "data.input_size=[64,96]")
    est = load_estimator(path, "cpu")
    assert est.kind == "top-down" and est.spec is COCO17 and est.input_size == (64, 96)
    assert type(est.codec).__name__ == "UDPHeatmap" and est.udp_warp
    assert (est.codec.sigma, est.codec.decoder, est.codec.heatmap_size) == (1.5, "argmax", (16, 24))
    assert est.codec.spec is COCO17 and est.codec.supports_flip
    assert not est.module.training and est.source == str(path)
    for name, t in model.state_dict().items():
        assert torch.equal(est.module.state_dict()[name], t), name
    crops = np.random.default_rng(0).integers(0, 256, (3, 96, 64, 3), dtype=np.uint8)
    kp = est.predict(crops, flip_test=True)
    assert kp.shape == (3, 1, 17, 3) and torch.isfinite(kp).all()


def test_trained_models_see_the_training_normalisation(tmp_path):
    """The crop a dataset sample was cut from, through the estimator's input normalisation, is
    the sample's image tensor bit for bit (no train/predict skew)."""
    from posekit.data.datasets import MemoryImages, TopDownDataset
    from posekit.data.synthetic import make_dataset
    from posekit.data.transforms import topdown_transform

    images, records = MemoryImages.from_pairs(make_dataset(2, 0, size=(96, 96)))
    ds = TopDownDataset(records, images, COCO17, input_size=(64, 96), train=False)
    est = load_estimator(_checkpoint(tmp_path, "data.input_size=[64,96]")[0], "cpu")
    assert est.normalise is imagenet_inputs
    s = ds[0]
    i, p = s["image_index"], s["person_index"]
    crop = topdown_transform(images.get(records[i].file_name), records[i].keypoints[p], ds.person_box(i, p),
                             COCO17, (64, 96)).image
    assert torch.equal(est.inputs(crop[None])[0], s["image"])


class _BrightPixel(nn.Module):
    """Regresses every keypoint to the brightest pixel of the crop, ``bias`` crop pixels to the
    right: ``(B, 3, H, W) -> (B, K, 2)`` coordinates normalised as RegressionCodec's."""

    def __init__(self, bias: float) -> None:
        super().__init__()
        self.bias = bias
        self.register_buffer("anchor", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        idx = x[:, 0].reshape(B, -1).argmax(-1)
        u = ((idx % W).float() + self.bias + 0.5) / W
        v = (torch.div(idx, W, rounding_mode="floor").float() + 0.5) / H
        return torch.stack([u, v], -1)[:, None].expand(B, 17, 2)


def test_flip_test_averages_the_mirrored_heads_through_the_codec():
    """A model biased 3 px to the right: the mirrored crop's prediction, flipped back, is biased
    3 px to the left, so the flip test (heads averaged, then decoded) lands on the pixel."""
    W, H = 32, 48
    est = Estimator(_BrightPixel(3.0), RegressionCodec((W, H), spec=COCO17), input_size=(W, H), spec=COCO17,
                    normalise=lambda b, d: torch.from_numpy(b).permute(0, 3, 1, 2).float().to(d))
    crops = np.zeros((2, H, W, 3), np.uint8)
    crops[0, 10, 5], crops[1, 40, 30] = 255, 255
    plain, flipped = est.predict(crops), est.predict(crops, flip_test=True)
    np.testing.assert_allclose(plain[:, 0, 0, :2].numpy(), [[8, 10], [33, 40]], atol=1e-4)
    np.testing.assert_allclose(flipped[:, 0, :, :2].numpy(), np.broadcast_to([[[5, 10]], [[30, 40]]], (2, 17, 2)),
                               atol=1e-4)


def test_flip_test_is_refused_where_the_codec_has_none():
    est = Estimator(_BrightPixel(0.0), MoveNetSingleCodec((256, 256)), input_size=(256, 256), spec=COCO17,
                    normalise=imagenet_inputs, name="movenet-like")
    with pytest.raises(PosekitError, match="movenet-like: no flip test .*MoveNetSingleCodec"):
        est.heads(torch.zeros(1, 3, 256, 256), flip_test=True)


def test_keypoints_in_another_channel_order_come_out_in_the_spec_order():
    """``spec_order`` (an imported model whose channels are not in its spec's order): decode
    returns the spec's order."""
    W, H = 32, 48
    order = tuple(range(16, -1, -1))
    est = Estimator(_BrightPixel(0.0), RegressionCodec((W, H)), input_size=(W, H), spec=COCO17,
                    normalise=imagenet_inputs, spec_order=order)
    heads = torch.rand(2, 17, 2)
    torch.testing.assert_close(est.decode(heads), RegressionCodec((W, H)).decode(heads)[:, :, list(order)])


def test_load_estimator_errors_are_one_line(tmp_path):
    with pytest.raises(PosekitError, match="neither a checkpoint .* nor an imported pose model"):
        load_estimator("hrnet_w32")
    with pytest.raises(PosekitError, match="checkpoint not found"):
        load_estimator(tmp_path / "missing.safetensors")
    with pytest.raises(PosekitError, match="not an imported pose model"):
        Estimator.from_pretrained("nanodet")


def test_every_imported_pose_model_has_a_codec():
    """Each pose card (what ``posekit predict --model`` accepts by name) is decoded by an entry
    of PRETRAINED, and nothing else is."""
    from posekit.models.estimator import ESTIMATOR_KINDS, PRETRAINED
    from posekit.pretrained.cards import CARDS
    assert set(PRETRAINED) == {n for n, c in CARDS.items() if c.task == "pose"}
    assert all(kind in ESTIMATOR_KINDS for kind, _ in PRETRAINED.values())

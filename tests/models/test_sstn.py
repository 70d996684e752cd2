"""RMPE's SSTN (posekit.models.sstn): the warp's pixel convention, the identity start, the
de-transformer, the parallel branch's gradient (only into the STN), and that training the STN
with centred targets moves it away from the identity (an STN left at identity would not)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from posekit.losses import KeypointMSELoss, sstn_loss
from posekit.models import create
from posekit.models.sstn import SSTN, invert_theta, warp


def _dot(h: int, w: int, x: int, y: int) -> torch.Tensor:
    img = torch.zeros(1, 1, h, w)
    img[0, 0, y, x] = 1.0
    return img


def _centroid(img: torch.Tensor) -> tuple[float, float]:
    m = img[0, 0]
    ys, xs = torch.meshgrid(torch.arange(m.shape[0], dtype=torch.float32),
                            torch.arange(m.shape[1], dtype=torch.float32), indexing="ij")
    return float((m * xs).sum() / m.sum()), float((m * ys).sum() / m.sum())


def test_warp_follows_the_pixel_centre_convention():
    """``out(u) = in(theta u)`` with ``u = (2 x + 1) / W - 1``: a shift of 2/W is one pixel, and a
    zoom by 2 about the centre sends pixel centre x to ``2 x - (W - 1) / 2``."""
    H, W = 16, 24
    shift = torch.tensor([[[1.0, 0.0, 2.0 / W], [0.0, 1.0, 0.0]]])
    out = warp(_dot(H, W, 10, 7), shift)
    assert out[0, 0, 7, 9] == pytest.approx(1.0, abs=1e-5) and out.sum() == pytest.approx(1.0, abs=1e-5)
    zoom = torch.tensor([[[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]]])
    cx, cy = _centroid(warp(_dot(H, W, 10, 7), zoom))
    assert (cx, cy) == pytest.approx((2 * 10 - (W - 1) / 2, 2 * 7 - (H - 1) / 2), abs=1e-4)


def test_de_transformer_undoes_the_transformer():
    """A smooth spot (a heatmap-like Gaussian) comes back where it was after the STN's transform and
    the SDTN's inverse."""
    theta = torch.tensor([[[0.7, 0.1, 0.15], [-0.05, 0.8, -0.1]]])
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    spot = torch.exp(-((xx - 15) ** 2 + (yy - 14) ** 2) / (2 * 2.0 ** 2))[None, None]
    moved = warp(spot, theta)
    assert abs(_centroid(moved)[0] - 15.0) > 1.0
    back = warp(moved, invert_theta(theta))
    assert _centroid(back) == pytest.approx((15.0, 14.0), abs=0.05)
    assert torch.allclose(invert_theta(invert_theta(theta)), theta, atol=1e-6)


@pytest.mark.parametrize("mode", ["affine", "scale_shift"])
def test_untrained_sstn_is_exactly_its_sppe(mode):
    torch.manual_seed(0)
    model = create("sstn_sb_r18", num_keypoints=5, input_size=(64, 32), deconv_channels=16, stn_mode=mode).eval()
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        assert torch.allclose(model.theta(x), torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(2, 2, 3))
        assert torch.allclose(model(x), model.sppe(x), atol=1e-5)
        heads = model(x, parallel=True)
    assert set(heads) == {"heatmaps", "parallel"} and heads["parallel"].shape == (2, 5, 16, 8)
    if mode == "scale_shift":     # no rotation or shear, whatever the weights
        nn.init.normal_(model.localisation.theta.weight)
        with torch.no_grad():
            theta = model.theta(x)
        assert (theta[:, 0, 1] == 0).all() and (theta[:, 1, 0] == 0).all() and not torch.allclose(theta[:, 0, 0], theta[:, 1, 1])


def test_parallel_branch_trains_only_the_stn():
    torch.manual_seed(0)
    model = create("sstn_sb_r18", num_keypoints=3, input_size=(64, 32), deconv_channels=16).train()
    heads = model(torch.randn(2, 3, 64, 32), parallel=True)
    heads["parallel"].square().mean().backward()
    assert all(p.grad is None for p in model.sppe.parameters())
    assert model.localisation.theta.weight.grad.abs().sum() > 0
    buffers = {n: b.clone() for n, b in model.sppe.named_buffers()}
    model(torch.randn(2, 3, 64, 32), parallel=True)              # the main pass updates BN statistics once
    model.sppe.eval()
    after_main = {n: b.clone() for n, b in model.sppe.named_buffers()}
    assert any(not torch.equal(buffers[n], after_main[n]) for n in buffers if "running" in n)


class _Blob(nn.Module):
    """A fixed 'SPPE' with one keypoint: its heatmap is the image's first channel (stride 1)."""

    output_kind = "heatmap"
    stride = 1

    def __init__(self) -> None:
        super().__init__()
        self.default_input_size = (24, 24)
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1] * self.scale


def test_training_with_centred_targets_moves_the_stn_to_centre_the_person():
    """Crops whose 'person' (a blob) is off-centre, parallel targets with it at the centre: the
    STN learns a transform that centres it, and the parallel loss falls well below that of the
    identity STN (which is what an SSTN with the STN switched off would keep)."""
    torch.manual_seed(0)
    H = W = 24
    yy, xx = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")

    def blob(cx: float, cy: float) -> torch.Tensor:
        return torch.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 2.0 ** 2))

    images = torch.stack([blob(16.0, 9.0)] * 3)[None].repeat(2, 1, 1, 1)          # (2, 3, H, W)
    batch = {"heatmaps": images[:, :1], "weights": torch.ones(2, 1),
             "parallel_heatmaps": blob(11.5, 11.5)[None, None].repeat(2, 1, 1, 1), "parallel_weights": torch.ones(2, 1)}
    model = SSTN(_Blob(), stn_channels=4).train()
    model.sppe.scale.requires_grad_(False)
    loss_fn = KeypointMSELoss()
    with torch.no_grad():
        identity_loss = float(loss_fn(model(images, parallel=True)["parallel"], batch["parallel_heatmaps"]))
    opt = torch.optim.Adam(model.localisation.parameters(), lr=1e-2)
    for _ in range(40):
        loss = sstn_loss(model(images, parallel=True), batch, loss_fn)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        par = model(images, parallel=True)["parallel"]
        theta = model.theta(images)[0]
    trained_loss = float(loss_fn(par, batch["parallel_heatmaps"]))
    assert trained_loss < 0.2 * identity_loss, (trained_loss, identity_loss)
    assert not torch.allclose(theta, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]), atol=0.05)
    cx, cy = _centroid(par)
    assert (cx, cy) == pytest.approx((11.5, 11.5), abs=1.0)


def test_sstn_loss_needs_the_parallel_branch_and_its_targets():
    heads = {"heatmaps": torch.zeros(1, 2, 4, 4)}
    batch = {"heatmaps": torch.zeros(1, 2, 4, 4), "weights": torch.ones(1, 2)}
    with pytest.raises(ValueError, match="parallel"):
        sstn_loss(heads, batch, KeypointMSELoss())
    with pytest.raises(ValueError, match="parallel_heatmaps"):
        sstn_loss({**heads, "parallel": torch.zeros(1, 2, 4, 4)}, batch, KeypointMSELoss())


@pytest.mark.parametrize("warmup", [0, 2])
def test_stn_warmup_holds_the_stn_at_identity_then_starts_it(warmup):
    """``stn_warmup=N``: for the first N training steps the SSTN is exactly its SPPE (the STN gets
    no gradient, the parallel branch is a detached copy of the output), then the STN and the
    parallel branch start; the step count is in the state dict (resuming continues it). With
    ``stn_warmup=0`` the STN trains from the first step."""
    torch.manual_seed(0)
    model = create("sstn_sb_r18", num_keypoints=3, input_size=(64, 32), deconv_channels=16,
                   stn_warmup=warmup).train()
    x = torch.randn(2, 3, 64, 32)
    started = []
    for _ in range(4):
        model.zero_grad(set_to_none=True)
        heads = model(x, parallel=True)
        (heads["heatmaps"].square().mean() + heads["parallel"].square().mean()).backward()
        grad = model.localisation.theta.weight.grad
        started.append(grad is not None and bool(grad.abs().sum() > 0))
        if not started[-1]:
            assert not heads["parallel"].requires_grad
            with torch.no_grad():      # a check pass without gradients is not a training step
                assert torch.allclose(model(x, parallel=True)["heatmaps"], model.sppe(x), atol=1e-6)
    assert started == [False] * warmup + [True] * (4 - warmup)
    if warmup:
        assert int(model.state_dict()["steps_done"]) == 4
        fresh = create("sstn_sb_r18", num_keypoints=3, input_size=(64, 32), deconv_channels=16, stn_warmup=warmup)
        assert not fresh.stn_active
        fresh.load_state_dict(model.state_dict())
        assert fresh.stn_active
    else:
        assert "steps_done" not in model.state_dict()      # checkpoints without a warm-up are unchanged
    with pytest.raises(ValueError, match="stn_warmup"):
        create("sstn_sb_r18", num_keypoints=3, input_size=(64, 32), deconv_channels=16, stn_warmup=-1)


def test_centring_loss_pulls_theta_to_the_transform_of_the_centred_targets():
    """``theta_loss=True``: the parallel output holds theta, and sstn_loss adds its L1 distance to
    the transform from the crop to the centred crop, recovered from the crop's keypoints and the
    centred heatmaps (:func:`centring_theta`, to 0.02); that term is lowest at that transform and
    its gradient reaches theta. Without it (the paper's loss) no theta term is added."""
    from posekit.codecs.heatmap import MSRAHeatmap
    from posekit.models.sstn import centring_theta
    W, H = 48, 64
    codec = MSRAHeatmap((W, H), (12, 16), sigma=1.5)
    g = torch.Generator().manual_seed(0)
    centred = torch.cat([torch.rand(2, 6, 1, generator=g) * 24 + 12, torch.rand(2, 6, 1, generator=g) * 32 + 16,
                         torch.full((2, 6, 1), 2.0)], 2)                          # (B, K, 3) centred crop pixels
    scale, shift = torch.tensor([0.8, 1.15]), torch.tensor([0.1, -0.05])
    size = torch.tensor([W, H], dtype=torch.float32)
    u = (2 * centred[..., :2] + 1) / size - 1
    crop = torch.cat([((scale * u + shift + 1) * size - 1) / 2, centred[..., 2:]], 2)   # theta* u, in crop pixels
    targets = [codec.encode(c.numpy()) for c in centred]
    batch = {"keypoints": crop, "image": torch.zeros(2, 3, H, W),
             "heatmaps": torch.zeros(2, 6, 16, 12), "weights": torch.ones(2, 6),
             "parallel_heatmaps": torch.stack([torch.from_numpy(t.heatmaps) for t in targets]),
             "parallel_weights": torch.stack([torch.from_numpy(t.weights).reshape(6) for t in targets])}
    theta, valid = centring_theta(batch["keypoints"], batch["parallel_heatmaps"], batch["parallel_weights"], (H, W))
    want = torch.tensor([[scale[0], 0, shift[0]], [0, scale[1], shift[1]]])
    assert valid.all() and torch.allclose(theta, want.expand(2, 2, 3), atol=0.02)

    heads = {"heatmaps": torch.zeros(2, 6, 16, 12), "parallel": torch.zeros(2, 6, 16, 12)}
    paper = sstn_loss(heads, batch, KeypointMSELoss())
    ident = torch.eye(2, 3).expand(2, 2, 3).clone().requires_grad_(True)
    at_identity = sstn_loss({**heads, "theta": ident}, batch, KeypointMSELoss())
    at_target = sstn_loss({**heads, "theta": want.expand(2, 2, 3)}, batch, KeypointMSELoss())
    assert float((at_identity - paper).detach()) > 0.05 and float(at_target - paper) < 0.01
    at_identity.backward()
    assert (ident.grad[:, 0, 0] > 0).all() and (ident.grad[:, 1, 1] < 0).all()     # toward 0.8 and 1.15

    torch.manual_seed(0)
    on = create("sstn_sb_r18", num_keypoints=3, input_size=(64, 32), deconv_channels=16, theta_loss=True).train()
    off = create("sstn_sb_r18", num_keypoints=3, input_size=(64, 32), deconv_channels=16).train()
    x = torch.randn(2, 3, 64, 32)
    assert on(x, parallel=True)["theta"].shape == (2, 2, 3) and "theta" not in off(x, parallel=True)


def test_with_the_centring_loss_the_stn_learns_during_the_warm_up_without_being_applied():
    """``theta_loss=True`` with a warm-up: the SPPE sees the plain crop (output = the SPPE's), but
    the parallel output already holds the localisation net's theta, so the centring loss trains
    the STN before it is put in front of the SPPE."""
    torch.manual_seed(0)
    model = create("sstn_sb_r18", num_keypoints=3, input_size=(64, 32), deconv_channels=16, stn_warmup=5,
                   theta_loss=True).train()
    x = torch.randn(2, 3, 64, 32)
    heads = model(x, parallel=True)
    assert not model.stn_active and heads["theta"].requires_grad
    assert torch.allclose(heads["heatmaps"], model.sppe(x), atol=1e-6)
    heads["theta"].sum().backward()
    assert model.localisation.theta.weight.grad.abs().sum() > 0
    with torch.no_grad():
        assert "theta" not in model(x, parallel=True)      # not a training step: nothing to learn

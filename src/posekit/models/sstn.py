"""SSTN: the symmetric spatial transformer network of RMPE around a single-person pose model.

Reference: Fang, Xie, Tai, Lu, "RMPE: Regional Multi-person Pose Estimation", ICCV 2017, Sec. 3.2
(after Jaderberg et al., "Spatial Transformer Networks", NIPS 2015).

A detector's box is often off: shifted, too large or too small. RMPE puts a spatial transformer
(STN) in front of the single-person pose estimator (SPPE): a small localisation network looks at
the crop and predicts an affine ``theta`` (2x3) that re-centres and re-scales the person; the
SPPE sees the transformed crop; the spatial de-transformer (SDTN) maps its heatmaps back with
``theta^-1``, so that the output is in the frame of the input crop and the model is a drop-in
top-down estimator (same codec, same decoding, same flip test).

Training adds the *parallel SPPE* branch: the STN's output also goes through the SPPE with its
weights frozen (here: the same SPPE weights, detached, so the branch is "an SPPE that does not
learn" and tracks the main one), supervised with the pose translated and scaled to the centre of
the crop, as a ground-truth box crop would show it (the dataset's ``parallel_heatmaps``). Its
error can only be reduced by the STN, so it teaches the STN to centre the person. Only the STN
receives this gradient.

Frames. ``theta`` is in the normalised coordinates of :func:`torch.nn.functional.affine_grid`
with ``align_corners=False``: ``-1`` and ``+1`` are the outer *edges* of the first and last
pixels, so a pixel centre ``x`` (posekit's convention: integer = pixel centre, the crop's edges at
``-0.5`` and ``W - 0.5``) is ``u = (2 x + 1) / W - 1``. The MSRA heatmap grid covers the same box
edge to edge (:mod:`posekit.codecs.heatmap`), so the same ``theta`` maps the crop and its
heatmaps; that is why this module uses ``align_corners=False`` throughout and expects an
edge-to-edge codec (``msra``; UDP's corner-centred grid would need ``align_corners=True``).
The transformed crop is ``warped(u) = crop(theta u)`` (zero padding outside, i.e. the mean
colour after ImageNet normalisation); heatmaps come back as ``out(v) = heat(theta^-1 v)``.

``forward(images (B, 3, H, W)) -> heatmaps (B, K, H/s, W/s)`` in the input crop's frame;
``forward(images, parallel=True) -> {"heatmaps": ..., "parallel": (B, K, H/s, W/s)}`` (the
parallel branch, in the STN's frame) for training with :func:`posekit.losses.sstn_loss`.

Training order (``stn_warmup``). RMPE trains its STN around an SPPE that already knows where
joints are (the paper starts from a trained SPPE). Trained jointly from scratch, the parallel
branch's gradient reaches the STN through an SPPE whose heatmaps are still noise, so theta
moves before it can centre anything, and the SPPE keeps chasing a moving input. With
``stn_warmup = N`` the STN is held at the identity for the first N training steps (the SSTN is
then exactly its SPPE on the plain crops: no warp, the parallel branch is the main output,
detached, so it adds no gradient), and the localisation net and the parallel branch start at
step N, inside the same total number of steps. A training step is a ``forward(parallel=True)``
in training mode with gradients on; their count is the buffer ``steps_done`` (saved in the
checkpoint, so resuming continues the schedule; present only when ``stn_warmup > 0``, so
checkpoints without a warm-up keep their tensors).

Centring loss (``theta_loss``, not in the paper; with a warm-up, the localisation net learns
with it from the first step, while the SPPE still sees the plain crops, and theta is applied
from step ``stn_warmup`` on). The parallel branch's gradient reaches theta
only through a frozen SPPE looking at the warped crop: where the predicted and the centred
joints do not overlap (a box off by 20-30%, several heatmap sigmas) it carries little signal,
and in a short run the STN hardly moves. With ``theta_loss=True`` the parallel output also holds
``theta``, and :func:`posekit.losses.sstn_loss` adds an L1 loss between it and the transform that
would turn the crop into the centred crop (:func:`centring_theta`, recovered from the same
centred targets and the crop's keypoints): the same target as the parallel branch, given to the
STN directly. It reaches only the localisation net.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["LocalisationNet", "SSTN", "invert_theta", "warp", "centring_theta", "sstn_sb_r18", "sstn"]


class LocalisationNet(nn.Module):
    """Four stride-2 3x3 conv + BN + ReLU layers (``channels``, 2x, 4x, 4x), average pooled to a
    4x3 grid (keeps where the person is), then FC 128 -> ReLU -> FC. ``mode="affine"`` (RMPE's
    STN): the FC gives the 6 entries of theta; ``"scale_shift"``: 4 numbers ``(sx, sy, tx, ty)``,
    ``theta = [[sx, 0, tx], [0, sy, ty]]`` (what a box error is: a shift and a scale per axis).
    The last layer starts at zero weight and the identity's bias, so an untrained SSTN is exactly
    its SPPE.

    ``forward(images (B, 3, H, W)) -> theta (B, 2, 3)``."""

    def __init__(self, channels: int = 16, mode: str = "affine") -> None:
        super().__init__()
        if mode not in ("affine", "scale_shift"):
            raise ValueError(f"LocalisationNet: mode must be 'affine' or 'scale_shift', got {mode!r}")
        self.mode = mode
        c = channels
        layers: list[nn.Module] = []
        for cin, cout in ((3, c), (c, 2 * c), (2 * c, 4 * c), (4 * c, 4 * c)):
            layers += [nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d((4, 3))
        self.fc = nn.Sequential(nn.Linear(4 * c * 12, 128), nn.ReLU(inplace=True))
        identity = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0] if mode == "affine" else [1.0, 1.0, 0.0, 0.0]
        self.theta = nn.Linear(128, len(identity))
        nn.init.zeros_(self.theta.weight)
        with torch.no_grad():
            self.theta.bias.copy_(torch.tensor(identity))

    def forward(self, images: Tensor) -> Tensor:
        x = self.pool(self.features(images)).flatten(1)
        t = self.theta(self.fc(x))
        if self.mode == "affine":
            return t.view(-1, 2, 3)
        zero = torch.zeros_like(t[:, 0])
        return torch.stack([torch.stack([t[:, 0], zero, t[:, 2]], 1), torch.stack([zero, t[:, 1], t[:, 3]], 1)], 1)


def _identity(batch: int, device, dtype) -> Tensor:
    """``(batch, 2, 3)`` identity transforms."""
    return torch.eye(2, 3, device=device, dtype=dtype).expand(batch, 2, 3).clone()


def invert_theta(theta: Tensor) -> Tensor:
    """Inverse of a batch of 2x3 affine matrices ``(B, 2, 3)`` (as 3x3 with a last row 0 0 1)."""
    lin = theta[:, :, :2]
    inv = torch.linalg.inv(lin)
    return torch.cat([inv, -(inv @ theta[:, :, 2:])], dim=2)


def warp(x: Tensor, theta: Tensor) -> Tensor:
    """``out(u) = x(theta u)`` in normalised coordinates (``align_corners=False``, see the module
    docstring), bilinear, zero outside. ``x (B, C, H, W)`` -> ``(B, C, H, W)``."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def centring_theta(keypoints_crop: Tensor, centred_heatmaps: Tensor, centred_weights: Tensor,
                   input_hw: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """The scale-and-shift ``theta*`` with ``warp(crop, theta*)`` = the centred crop: per axis the
    least-squares ``u_crop = s u_centred + t`` over the joints seen in both, in the normalised
    coordinates of :func:`warp` (``u = (2 x + 1) / W - 1`` in both frames).

    ``keypoints_crop (B, K, 3)`` crop pixels (v > 0: inside the crop); ``centred_heatmaps
    (B, K, h, w)``, ``centred_weights (B, K)`` the centred targets (an edge-to-edge heatmap codec);
    a centred joint is the centroid of its target's 5x5 window around the peak, used when its
    weight is > 0, its peak > 0.5 and two cells from the border. ``input_hw = (H, W)``.
    Returns ``theta* (B, 2, 3)`` and ``valid (B,)``: at least 3 joints, spread > 0.05 per axis.
    The crop -> centred map is a scale and shift per axis even with the rotation and flip of the
    augmentation, since both crops share them (:func:`posekit.data.pgpg.centred_keypoints`)."""
    hm = centred_heatmaps.detach().float()
    B, K, h, w = hm.shape
    H, W = input_hw
    flat = hm.flatten(2)
    peak, idx = flat.max(dim=2)                                   # (B, K)
    iy, ix = (idx // w).float(), (idx % w).float()
    xs = torch.arange(w, device=hm.device, dtype=hm.dtype)
    ys = torch.arange(h, device=hm.device, dtype=hm.dtype)
    win = (((xs[None, None, None, :] - ix[..., None, None]).abs() <= 2)
           & ((ys[None, None, :, None] - iy[..., None, None]).abs() <= 2))
    m = hm.clamp(min=0) * win
    mass = m.sum((2, 3)).clamp(min=1e-9)
    cx = (m * xs[None, None, None, :]).sum((2, 3)) / mass
    cy = (m * ys[None, None, :, None]).sum((2, 3)) / mass
    kp = keypoints_crop.float()
    ok = ((centred_weights.reshape(B, K) > 0) & (kp[..., 2] > 0) & (peak > 0.5)
          & (ix >= 2) & (ix <= w - 3) & (iy >= 2) & (iy <= h - 3)).float()
    src = torch.stack([(2 * cx + 1) / w - 1, (2 * cy + 1) / h - 1], -1)           # centred, (B, K, 2)
    dst = torch.stack([(2 * kp[..., 0] + 1) / W - 1, (2 * kp[..., 1] + 1) / H - 1], -1)   # crop
    n = ok.sum(1, keepdim=True).clamp(min=1)                      # (B, 1)
    wgt = ok[..., None]
    ms, md = (wgt * src).sum(1) / n, (wgt * dst).sum(1) / n       # (B, 2)
    ds, dd = src - ms[:, None], dst - md[:, None]
    var = (wgt * ds * ds).sum(1) / n
    cov = (wgt * ds * dd).sum(1) / n
    scale = cov / var.clamp(min=1e-6)
    shift = md - scale * ms
    zero = torch.zeros_like(scale[:, 0])
    theta = torch.stack([torch.stack([scale[:, 0], zero, shift[:, 0]], 1),
                         torch.stack([zero, scale[:, 1], shift[:, 1]], 1)], 1)
    valid = (ok.sum(1) >= 3) & (var.min(1).values > 0.05 ** 2)
    return theta, valid


class SSTN(nn.Module):
    """STN -> SPPE -> SDTN (Fang et al. 2017). ``sppe`` is any top-down heatmap model of the zoo
    (its final heatmaps are used when it returns a list of stages)."""

    output_kind = "heatmap"

    def __init__(self, sppe: nn.Module, stn_channels: int = 16, stn_mode: str = "affine", stn_warmup: int = 0,
                 theta_loss: bool = False) -> None:
        super().__init__()
        if getattr(sppe, "output_kind", "heatmap") != "heatmap":
            raise ValueError(f"SSTN needs a heatmap model, got {type(sppe).__name__} ({sppe.output_kind})")
        if stn_warmup < 0:
            raise ValueError(f"SSTN: stn_warmup must be >= 0 training steps, got {stn_warmup}")
        self.localisation = LocalisationNet(stn_channels, stn_mode)
        self.sppe = sppe
        self.stride = sppe.stride
        self.default_input_size = tuple(sppe.default_input_size)
        self.num_keypoints = getattr(sppe, "num_keypoints", None)
        self.stn_warmup = int(stn_warmup)
        self.theta_loss = bool(theta_loss)
        if self.stn_warmup > 0:     # training steps seen; the STN starts when it reaches stn_warmup
            self.register_buffer("steps_done", torch.zeros((), dtype=torch.long))

    @property
    def stn_active(self) -> bool:
        """False while the STN is held at the identity (the first ``stn_warmup`` training steps)."""
        return self.stn_warmup == 0 or int(self.steps_done) >= self.stn_warmup

    def theta(self, images: Tensor) -> Tensor:
        """The STN's ``(B, 2, 3)`` transform of each crop (the identity during the warm-up)."""
        if not self.stn_active:
            return _identity(images.shape[0], images.device, images.dtype)
        return self.localisation(images)

    @staticmethod
    def _final(heads) -> Tensor:
        return heads[-1] if isinstance(heads, (list, tuple)) else heads

    def forward(self, images: Tensor, parallel: bool = False):
        held = not self.stn_active
        step = self.stn_warmup > 0 and parallel and self.training and torch.is_grad_enabled()
        if step:
            self.steps_done += 1    # a training step: the STN starts after stn_warmup of them
        if held:
            # warm-up: exactly the SPPE on the plain crop; the parallel branch (the frozen SPPE on
            # the identity warp) gives the same heatmaps, detached: a constant loss, no gradient
            heat = self._final(self.sppe(images))
            if not step:
                return {"heatmaps": heat, "parallel": heat.detach()} if parallel else heat
            if self.theta_loss:     # the STN already learns its centring transform, not yet applied
                return {"heatmaps": heat, "parallel": heat.detach(), "theta": self.localisation(images)}
            # the STN in the graph with weight 0 (zero gradients): DDP needs every parameter used
            heat = heat + 0.0 * self.localisation(images).sum()
            return {"heatmaps": heat, "parallel": heat.detach()}
        theta = self.localisation(images)
        warped = warp(images, theta)
        heat = self._final(self.sppe(warped))                   # in the STN's frame
        out = warp(heat, invert_theta(theta.float()))          # SDTN: back to the input crop
        if not parallel:
            return out
        # the parallel SPPE: same weights, frozen (detached); BatchNorm statistics untouched
        frozen = {n: p.detach() for n, p in self.sppe.named_parameters()}
        frozen.update({n: b.clone() for n, b in self.sppe.named_buffers()})
        par = self._final(functional_call(self.sppe, frozen, (warped,)))
        if self.theta_loss:         # for the centring loss of sstn_loss
            return {"heatmaps": out, "parallel": par, "theta": theta}
        return {"heatmaps": out, "parallel": par}


def sstn(*, base: str = "simple_baseline_r18", num_keypoints: int = 17, input_size: tuple[int, int] = (256, 192),
         stn_channels: int = 16, stn_mode: str = "affine", stn_warmup: int = 0, theta_loss: bool = False,
         base_kwargs: dict | None = None) -> SSTN:
    """SSTN around the zoo model ``base`` (built with ``num_keypoints``, ``input_size`` and
    ``base_kwargs``); ``stn_mode``: see :class:`LocalisationNet`; ``stn_warmup``: training steps
    with the STN held at the identity; ``theta_loss``: the centring loss on theta (see the module
    docstring)."""
    from posekit.models.zoo import create
    kw = dict(base_kwargs or {})
    return SSTN(create(base, num_keypoints=num_keypoints, input_size=tuple(input_size), **kw), stn_channels,
                stn_mode, stn_warmup, theta_loss)


def sstn_sb_r18(*, num_keypoints: int = 17, input_size: tuple[int, int] = (256, 192), stn_channels: int = 16,
                stn_mode: str = "affine", stn_warmup: int = 0, theta_loss: bool = False,
                deconv_channels: int = 256, skips: bool = False,
                base: str = "simple_baseline_r18", base_kwargs: dict | None = None) -> SSTN:
    """RMPE's SSTN (Fang et al., ICCV 2017) around SimpleBaseline R18 by default; ``base`` names
    any other top-down heatmap model of the zoo (``deconv_channels``/``skips`` then go only to a
    SimpleBaseline, ``base_kwargs`` to any)."""
    kw = dict(base_kwargs or {})
    if base.startswith("simple_baseline"):
        kw.setdefault("deconv_channels", deconv_channels)
        kw.setdefault("skips", skips)
    return sstn(base=base, num_keypoints=num_keypoints, input_size=input_size, stn_channels=stn_channels,
                stn_mode=stn_mode, stn_warmup=stn_warmup, theta_loss=theta_loss, base_kwargs=kw)

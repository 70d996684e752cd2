"""Gaussian heatmap codecs for top-down models: encode targets, decode predictions.

Frames. A top-down model sees an *input crop* of size ``(W, H)`` and outputs heatmaps of size
``(w, h) = (W // s, H // s)``. Keypoints given to :meth:`encode` and returned by
:meth:`decode` are in input-crop pixels (integer = pixel centre). The heatmap grid covers the
same box as the crop, edge to edge (see :func:`posekit.geometry.crop_affine`), so

    ``x_hm = (x_crop + 0.5) * w / W - 0.5``            (:class:`MSRAHeatmap`)

which is an affine map, never ``x_crop / s``. :class:`UDPHeatmap` uses the unit-interval
convention of Huang et al. instead: ``x_hm = x_crop * (w - 1) / (W - 1)``, on crops cut with
UDP's warp (``crop_affine(..., udp=True)``; each codec names its warp in ``udp_warp``).
``MSRAHeatmap(mmpose_frame=True)`` is the frame ``x_hm = x_crop / s`` of weights trained in
MMPose (see its docstring).

The codecs' ``decode`` runs batched in torch on ``(B, K, h, w)`` heatmaps and returns
``(B, 1, K, 3)`` = ``[x, y, score]`` in input-crop pixels (the contract of :mod:`posekit.codecs`:
one person per crop); :func:`to_image` maps ``(B, K, 3)`` crop keypoints to image pixels through
the inverse of the image-to-crop affine. ``flip_back`` maps the heatmaps of a mirrored crop back
(:func:`flip_heatmaps` with the codec's ``spec.flip_index``), for the flip test.

References:
    * Xiao, Wu, Wei. *Simple Baselines for Human Pose Estimation and Tracking*, ECCV 2018
      (MSRA Gaussian targets; argmax with a quarter-pixel shift toward the higher neighbour;
      flip test with a one-pixel heatmap shift).
    * Zhang, Zhu, Dai, Ye, Zhu. *Distribution-Aware Coordinate Representation for Human Pose
      Estimation* (DARK), CVPR 2020 (unbiased sub-pixel targets; Gaussian modulation and a
      second-order Taylor expansion of the log-heatmap at its maximum; :func:`dark_decode`
      adds what makes it safe on noisy maps and near the border).
    * Huang, Zhu, Du, Huang. *The Devil Is in the Details: Delving into Unbiased Data Processing
      for Human Pose Estimation* (UDP), CVPR 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from posekit.codecs.common import Heads, final_head, map_final
from posekit.errors import PosekitError
from posekit.skeleton import KeypointSpec

__all__ = [
    "HeatmapTarget", "MSRAHeatmap", "UDPHeatmap", "default_sigma", "gaussian_heatmaps",
    "argmax_quarter", "blur_sigma", "default_blur_kernel", "gaussian_blur", "dark_decode",
    "flip_heatmaps", "to_image",
]


@dataclass(frozen=True)
class HeatmapTarget:
    """Training target of one person.

    Attributes:
        heatmaps: ``(K, h, w)`` float32 Gaussians in ``[0, 1]`` (all zero where weight is 0).
        weights: ``(K,)`` float32, 1 for a labelled keypoint inside the heatmap, else 0.
    """

    heatmaps: np.ndarray
    weights: np.ndarray


def default_sigma(heatmap_size: tuple[int, int]) -> float:
    """σ in heatmap pixels scaled with the output width: 2 at 48x64 (the Simple Baselines /
    HRNet setting for 192x256 input), 3 at 72x96, 1 at 24x32."""
    return 2.0 * heatmap_size[0] / 48.0


def gaussian_heatmaps(centers_hm: np.ndarray, valid: np.ndarray, heatmap_size: tuple[int, int],
                      sigma: float) -> np.ndarray:
    """Unnormalised Gaussians ``exp(-((x - μx)² + (y - μy)²) / (2σ²))``.

    Args:
        centers_hm: ``(K, 2)`` centres ``(μx, μy)`` in heatmap pixels (may be fractional).
        valid: ``(K,)`` bool; invalid rows give all-zero maps.
        heatmap_size: ``(w, h)``.
        sigma: standard deviation in heatmap pixels.

    Returns ``(K, h, w)`` float32. The map is not truncated at 3σ, so that its logarithm is
    exactly quadratic (what DARK's Taylor expansion assumes).
    """
    w, h = heatmap_size
    xs = np.arange(w, dtype=np.float64)
    ys = np.arange(h, dtype=np.float64)
    c = np.asarray(centers_hm, np.float64)
    gx = np.exp(-((xs[None, :] - c[:, 0:1]) ** 2) / (2 * sigma ** 2))  # (K, w)
    gy = np.exp(-((ys[None, :] - c[:, 1:2]) ** 2) / (2 * sigma ** 2))  # (K, h)
    maps = gy[:, :, None] * gx[:, None, :]
    maps[~np.asarray(valid, bool)] = 0.0
    return maps.astype(np.float32)


# ----------------------------------------------------------------------------- decoding maths

def argmax_quarter(heatmaps: torch.Tensor, quarter: bool = True) -> torch.Tensor:
    """Per-map maximum, optionally shifted 0.25 px toward the higher neighbour (Simple Baselines).

    Args:
        heatmaps: ``(B, K, h, w)``.
        quarter: apply the quarter-offset shift (only where both neighbours exist).

    Returns ``(B, K, 3)`` = ``[x, y, maxval]`` in heatmap pixels. If the true maximum of a
    smooth peak lies at ``m + d`` with ``|d| ≤ 0.5``, the shifted estimate errs by at most
    ``0.25`` px per axis (``0.5`` without the shift).
    """
    B, K, h, w = heatmaps.shape
    flat = heatmaps.reshape(B, K, h * w)
    maxval, idx = flat.max(dim=-1)
    px = (idx % w).long()
    py = torch.div(idx, w, rounding_mode="floor").long()
    x = px.to(heatmaps.dtype)
    y = py.to(heatmaps.dtype)
    if quarter:
        def at(yy: torch.Tensor, xx: torch.Tensor) -> torch.Tensor:
            return flat.gather(-1, (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).unsqueeze(-1)).squeeze(-1)
        dx = at(py, px + 1) - at(py, px - 1)
        dy = at(py + 1, px) - at(py - 1, px)
        inx = (px > 0) & (px < w - 1)
        iny = (py > 0) & (py < h - 1)
        x = x + torch.where(inx, 0.25 * torch.sign(dx), torch.zeros_like(x))
        y = y + torch.where(iny, 0.25 * torch.sign(dy), torch.zeros_like(y))
    return torch.stack([x, y, maxval], dim=-1)


def blur_sigma(kernel_size: int) -> float:
    """σ of a ``kernel_size``-tap Gaussian by OpenCV's rule ``0.3 ((k - 1) / 2 - 1) + 0.8``
    (11 taps -> 2.0, 17 -> 2.9, 7 -> 1.4). This is what MMPose's ``blur_kernel_size`` means, so
    a kernel size taken from an MMPose config gives the same modulation here."""
    return 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8


def default_blur_kernel(sigma: float) -> int:
    """DARK's modulation kernel for targets of std ``sigma``: ``min(11, 2 ceil(2.5 σ) + 1)`` taps
    (7 at σ = 1, 9 at 1.5, 11 from σ = 2 on; σ_blur by :func:`blur_sigma`: 1.4, 1.7, 2.0).

    Why 11 taps at σ = 3 and not a kernel of the targets' own σ (17 taps, the old default): on
    noisy σ = 3 maps (``benchmarks/codec_dark.py``) 11 and 17 taps decode equally well, inside
    and along the border, while 7 taps are noisier inside; the shorter kernel pulls the
    zero-padded starting maximum of :func:`dark_decode` less far in from the border (at most
    1 px for keypoints 1 px or more from it, against 1.4 px) and costs less; and 11 taps
    (σ_blur = 2.0) is the reference configuration's (MMPose's default, which its σ = 2 and
    σ = 3 DARK configs both use), so the figure means the same in both. At σ = 1 (24x32 maps)
    the kernel stays as wide as the targets (7 taps)."""
    return min(11, 2 * math.ceil(2.5 * sigma) + 1)


def gaussian_blur(heatmaps: torch.Tensor, kernel_size: int, sigma: float | None = None) -> torch.Tensor:
    """Blur each ``(B, K, h, w)`` map with a ``kernel_size``-tap Gaussian (std ``sigma``, default
    :func:`blur_sigma`), zero padding. Shape preserved.

    Zero padding pulls a peak near the border inward (the missing mass beyond the edge), so
    :func:`dark_decode` uses this map only to pick its starting pixel, and computes the
    derivatives with a kernel shortened so that it never reaches past the edge."""
    r = kernel_size // 2
    B, K, h, w = heatmaps.shape
    t = torch.arange(-r, r + 1, dtype=heatmaps.dtype, device=heatmaps.device)
    g = torch.exp(-t ** 2 / (2 * (blur_sigma(kernel_size) if sigma is None else sigma) ** 2))
    g = g / g.sum()
    x = heatmaps.reshape(B * K, 1, h, w)
    x = F.pad(x, (r, r, r, r), mode="constant", value=0.0)
    x = F.conv2d(x, g.view(1, 1, 1, -1))
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    return x.reshape(B, K, h, w)


def _taylor_step(hm: torch.Tensor, px: torch.Tensor, py: torch.Tensor, R: int,
                 eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Newton step of :func:`dark_decode` from the integer points ``(px, py)`` (``(B, K)``
    long) on ``(B, K, h, w)`` maps, in float64, with the modulation kernel of radius ``R`` cut,
    per axis, so that it never reaches past the border. Returns the offsets ``(ox, oy)``,
    clamped to 1 px, and ``ok`` where the step is valid."""
    B, K, h, w = hm.shape
    dist_x = torch.minimum(px, w - 1 - px)
    dist_y = torch.minimum(py, h - 1 - py)
    # raw values on the (2R + 3)^2 patch around each point; with the radii below, the clamped
    # (out-of-map) indices get zero weight
    t = torch.arange(-(R + 1), R + 2, device=hm.device)
    yy = (py[..., None] + t).clamp(0, h - 1)
    xx = (px[..., None] + t).clamp(0, w - 1)
    S = 2 * R + 3
    patch = hm.reshape(B, K, h * w).gather(-1, (yy[..., :, None] * w + xx[..., None, :]).reshape(B, K, S * S))
    patch = patch.reshape(B, K, S, S).double()
    taps = torch.arange(-R, R + 1, device=hm.device, dtype=torch.float64)
    g = torch.exp(-taps ** 2 / (2 * blur_sigma(2 * R + 1) ** 2)) if R else torch.ones_like(taps)

    def kernel(dist: torch.Tensor) -> torch.Tensor:        # (B, K, 2R + 1), radius min(R, dist - 1)
        k = torch.where(taps.abs() <= (dist - 1).clamp(0, R)[..., None], g, torch.zeros_like(g))
        return k / k.sum(dim=-1, keepdim=True)

    # separable blur evaluated at the 3x3 stencil only: rows (B, K, S, 3), then (B, K, 3, 3) [y, x]
    rows = torch.einsum("bksjt,bkt->bksj", patch.unfold(-1, 2 * R + 1, 1), kernel(dist_x))
    L = torch.einsum("bkjit,bkt->bkij", rows.transpose(-1, -2).unfold(-1, 2 * R + 1, 1), kernel(dist_y))
    L = torch.log(L.clamp_min(eps))

    c = L[..., 1, 1]
    dx = 0.5 * (L[..., 1, 2] - L[..., 1, 0])
    dy = 0.5 * (L[..., 2, 1] - L[..., 0, 1])
    dxx = L[..., 1, 2] - 2 * c + L[..., 1, 0]
    dyy = L[..., 2, 1] - 2 * c + L[..., 0, 1]
    dxy = 0.25 * (L[..., 2, 2] - L[..., 2, 0] - L[..., 0, 2] + L[..., 0, 0])
    det = dxx * dyy - dxy ** 2
    ok = (dist_x >= 1) & (dist_y >= 1) & (dxx < 0) & (det > 0)    # stencil inside, H negative definite
    safe = torch.where(ok, det, torch.ones_like(det))
    # offset = -H^{-1} D with H^{-1} = [[dyy, -dxy], [-dxy, dxx]] / det
    ox = (-(dyy * dx - dxy * dy) / safe).clamp(-1.0, 1.0)
    oy = (-(dxx * dy - dxy * dx) / safe).clamp(-1.0, 1.0)
    return ox, oy, ok


def dark_decode(heatmaps: torch.Tensor, blur_kernel: int, steps: int = 3, eps: float = 1e-10) -> torch.Tensor:
    """DARK's sub-pixel maximum (Zhang et al. 2020), with its failure cases handled.

    1. Start at the integer maximum ``m`` of the heatmap blurred with ``blur_kernel`` taps (a
       noisy flat peak has its raw maximum a pixel or two off; the blurred one is stable).
    2. Modulate: blur again with the same kernel, but only at the 3x3 pixels around ``m`` and
       with the kernel cut, per axis, to radius ``min(R, d - 1)``, ``d`` the distance of ``m``
       to the border on that axis, so that no window reaches past the border: zero (or any)
       padding there would bias the peak (by up to 1 heatmap px at 1-3 px from the border).
    3. A Newton step on ``L = log(max(modulated, eps))`` from ``m``: the maximum of the
       quadratic ``L(m) + D'(x - m) + ½ (x - m)' H (x - m)`` is ``m - H⁻¹ D``, with ``D`` and
       ``H`` central differences (exact when ``L`` is quadratic, i.e. for a Gaussian). A step
       is clamped to 1 px per axis (a longer one extrapolates noise beyond the stencil). Where
       it ends more than 0.5 px from ``m``, ``m`` moves to the nearest pixel (never onto the
       border row or column) and the step is taken again, up to ``steps`` steps in all. In
       the interior the first step stays within 0.5 px; the moves matter near the border,
       where the zero-padded blur of step 1 pulls the maximum inward (by up to 2 px for
       σ = 3 targets on the border pixel).
    4. Where no step is valid (``m`` on the border, or ``H`` not negative definite) the result
       is the raw argmax with the quarter-pixel shift (:func:`argmax_quarter`); a later
       invalid step keeps the last valid estimate.

    Args:
        heatmaps: ``(B, K, h, w)`` raw heatmaps.
        blur_kernel: modulation kernel size (odd, σ by :func:`blur_sigma`); 0 or 1 = none
            (plain Taylor step on the log-heatmap, exact for Gaussians everywhere off the
            border pixels).
        steps: Newton steps at most (1 = DARK's single step).

    Returns ``(B, K, 2)`` float64 ``[x, y]`` in heatmap pixels.
    """
    B, K, h, w = heatmaps.shape
    hm = heatmaps if heatmaps.is_floating_point() else heatmaps.float()
    R = blur_kernel // 2 if blur_kernel > 1 else 0
    start = gaussian_blur(hm, 2 * R + 1) if R else hm
    idx = start.reshape(B, K, h * w).argmax(dim=-1)
    px = idx % w
    py = torch.div(idx, w, rounding_mode="floor")
    xy = argmax_quarter(hm, quarter=True)[..., :2].double()      # fallback
    for i in range(steps):
        ox, oy, ok = _taylor_step(hm, px, py, R, eps)
        xy = torch.where(ok[..., None], torch.stack([px + ox, py + oy], dim=-1), xy)
        move_x = ok & (ox.abs() > 0.5)
        move_y = ok & (oy.abs() > 0.5)
        if i == steps - 1 or not bool((move_x | move_y).any()):
            break
        px = torch.where(move_x, (px + ox).round().long().clamp(1, max(w - 2, 1)), px)
        py = torch.where(move_y, (py + oy).round().long().clamp(1, max(h - 2, 1)), py)
    return xy


def flip_heatmaps(heatmaps: torch.Tensor, flip_index: tuple[int, ...] | list[int], shift: bool = False) -> torch.Tensor:
    """Map the heatmaps predicted for a horizontally flipped crop back to the original crop.

    Mirrors the ``w`` axis and swaps left/right channels (``out[:, k] = flipped[:, flip_index[k]]``).
    ``(B, K, h, w) -> (B, K, h, w)``.

    ``shift=True`` then moves the maps one heatmap pixel to the right (the Simple Baselines /
    HRNet / MMPose flip test). That shift compensates the misalignment of codecs whose
    heatmap-to-crop map is ``x_crop = x_hm * s`` (a flip about ``W - 1`` is a flip about
    ``w - 1`` plus a move of ``1 - 1/s`` px there). posekit's codecs map the box edge to edge
    (or, for UDP, corner pixel to corner pixel), so a flip of the crop *is* a flip of the
    heatmap and they need no shift; ``MSRAHeatmap(mmpose_frame=True)`` does. Use
    ``codec.flip_shift``.
    """
    out = heatmaps.flip(-1)[:, list(flip_index)]
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out


def to_image(keypoints_crop: torch.Tensor | np.ndarray, affines: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Crop pixels -> image pixels through the inverse of each image-to-crop affine.

    Args:
        keypoints_crop: ``(B, K, 2+)`` ``[x, y, ...]`` in input-crop pixels.
        affines: ``(B, 2, 3)`` image-to-crop matrices (as built by ``crop_affine``).

    Returns ``(B, K, 2+)`` float32 tensor in image pixels; extra columns (scores) are copied.
    """
    kp = torch.as_tensor(keypoints_crop)
    A = torch.as_tensor(affines, dtype=torch.float64, device=kp.device)
    lin_inv = torch.linalg.inv(A[:, :, :2])                          # (B, 2, 2)
    off = -(lin_inv @ A[:, :, 2:]).squeeze(-1)                        # (B, 2)
    xy = torch.einsum("bij,bkj->bki", lin_inv, kp[..., :2].double()) + off[:, None, :]
    out = kp.clone().float()
    out[..., :2] = xy.float()
    return out


# ----------------------------------------------------------------------------- codecs

class MSRAHeatmap:
    """Gaussian heatmaps (Xiao et al. 2018), with sub-pixel centres and DARK decoding by default.

    Encode: keypoint k at crop ``(x, y)`` becomes
    ``H_k(u, v) = exp(-((u - μx)² + (v - μy)²) / (2σ²))`` on the ``(h, w)`` grid, with
    ``μ = (p + 0.5) * (w / W, h / H) - 0.5`` (``unbiased=True``, as DARK recommends) or that
    value rounded to the nearest pixel (``unbiased=False``, the original MSRA target). Weight
    is 0 for unlabelled keypoints (``v == 0``) and for centres outside the heatmap
    ``[-0.5, w - 0.5] x [-0.5, h - 0.5]``, whose maps are all zero; else 1.

    Decode: ``decoder="dark"`` (:func:`dark_decode`: Gaussian modulation, then a Taylor step)
    or ``"argmax"`` (maximum plus the quarter-pixel shift), then back to crop pixels. The score
    is the map's maximum, clamped to ``[0, 1]``.

    Weights trained in MMPose (or with the HRNet / Simple Baselines reference code) use the
    frame ``x_hm = x_crop / s`` (``s = W / w``): decoded in posekit's frame their keypoints land
    ``(s - 1) / 2`` crop px right of and below the truth (1.5 px per axis, 2.1 px in all, at
    s = 4). ``mmpose_frame=True`` encodes and decodes in their frame, and flips back with their
    one-pixel heatmap shift (``flip_shift``); the crops stay posekit's (docs/training.md, "Frames").

    Args:
        input_size: crop ``(W, H)``.
        heatmap_size: output ``(w, h)``; defaults to ``input_size // 4``.
        sigma: Gaussian std in heatmap pixels; default :func:`default_sigma`.
        unbiased: sub-pixel Gaussian centres (else rounded).
        decoder: ``"dark"`` or ``"argmax"``.
        blur_kernel: DARK modulation kernel size (odd, σ by :func:`blur_sigma`, as MMPose's
            ``blur_kernel_size``); default :func:`default_blur_kernel`; ``0`` disables it.
        mmpose_frame: heatmap frame ``x_hm = x_crop * w / W`` of weights trained in MMPose.
        spec: the keypoint spec of the channels (their left/right pairs are what
            :meth:`flip_back` swaps); without one there is no flip test (``supports_flip``).

    ``decode(heads)`` takes what the model returns: ``(B, K, h, w)`` heatmaps, a list of stages
    (the last is decoded) or a dict whose ``"heatmap"`` entry holds them (an imported graph).
    """

    #: The key of the heatmaps in a dict of heads.
    head_key = "heatmap"

    #: The crop warp this codec's targets are defined for: False = posekit's edge-to-edge
    #: ``crop_affine``; True = UDP's (``crop_affine(..., udp=True)``). Whoever cuts the crops
    #: passes it on (``topdown_transform(..., udp=codec.udp_warp)``).
    udp_warp = False

    def __init__(self, input_size: tuple[int, int] = (192, 256), heatmap_size: tuple[int, int] | None = None,
                 sigma: float | None = None, unbiased: bool = True, decoder: str = "dark",
                 blur_kernel: int | None = None, mmpose_frame: bool = False,
                 spec: KeypointSpec | None = None) -> None:
        self.spec = spec
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = tuple(int(v) for v in heatmap_size) if heatmap_size else (
            self.input_size[0] // 4, self.input_size[1] // 4)
        self.sigma = float(sigma) if sigma is not None else default_sigma(self.heatmap_size)
        if decoder not in ("dark", "argmax"):
            raise ValueError(f"decoder must be 'dark' or 'argmax', got {decoder!r}")
        if blur_kernel is not None and (blur_kernel < 0 or (blur_kernel > 1 and blur_kernel % 2 == 0)):
            raise ValueError(f"blur_kernel must be 0 or an odd number of taps, got {blur_kernel}")
        self.unbiased = bool(unbiased)
        self.decoder = decoder
        self.blur_kernel = int(blur_kernel) if blur_kernel is not None else default_blur_kernel(self.sigma)
        self.mmpose_frame = bool(mmpose_frame)
        # Flip test: in posekit's frames a mirrored crop is a mirrored heatmap (no shift); in
        # MMPose's it is one mirrored and moved (1 - 1/s) px, which MMPose rounds to 1 px.
        self.flip_shift = self.mmpose_frame

    def __repr__(self) -> str:
        extra = (", mmpose_frame=True" if self.mmpose_frame else "") + (f", spec={self.spec.name}" if self.spec else "")
        return (f"{type(self).__name__}(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"sigma={self.sigma:g}, unbiased={self.unbiased}, decoder={self.decoder!r}, "
                f"blur_kernel={self.blur_kernel}{extra})")

    @property
    def stride(self) -> float:
        return self.input_size[0] / self.heatmap_size[0]

    # Frame changes: each is an affine map, applied per axis. Work on numpy arrays and tensors.
    def crop_to_heatmap(self, xy):
        """``(..., 2)`` crop pixels -> heatmap pixels."""
        (W, H), (w, h) = self.input_size, self.heatmap_size
        scale = xy.new_tensor([w / W, h / H]) if torch.is_tensor(xy) else np.array([w / W, h / H])
        return xy * scale if self.mmpose_frame else (xy + 0.5) * scale - 0.5

    def heatmap_to_crop(self, xy):
        """``(..., 2)`` heatmap pixels -> crop pixels."""
        (W, H), (w, h) = self.input_size, self.heatmap_size
        scale = xy.new_tensor([W / w, H / h]) if torch.is_tensor(xy) else np.array([W / w, H / h])
        return xy * scale if self.mmpose_frame else (xy + 0.5) * scale - 0.5

    def encode(self, keypoints_crop: np.ndarray) -> HeatmapTarget:
        """``(K, 3)`` crop-frame ``[x, y, v]`` -> :class:`HeatmapTarget` with ``(K, h, w)`` maps."""
        kp = np.asarray(keypoints_crop, np.float64)
        if kp.ndim != 2 or kp.shape[1] < 3:
            raise ValueError(f"encode expects (K, 3) keypoints, got shape {kp.shape}")
        mu = self.crop_to_heatmap(kp[:, :2])
        if not self.unbiased:
            mu = np.floor(mu + 0.5)
        w, h = self.heatmap_size
        inside = (mu[:, 0] >= -0.5) & (mu[:, 0] <= w - 0.5) & (mu[:, 1] >= -0.5) & (mu[:, 1] <= h - 0.5)
        valid = (kp[:, 2] > 0) & inside & np.isfinite(mu).all(axis=1)
        maps = gaussian_heatmaps(np.where(np.isfinite(mu), mu, 0.0), valid, self.heatmap_size, self.sigma)
        return HeatmapTarget(heatmaps=maps, weights=valid.astype(np.float32))

    def decode_heatmap_coords(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """``(B, K, h, w)`` -> ``(B, K, 3)`` ``[x, y, maxval]`` in heatmap pixels."""
        hm = heatmaps.detach().float()
        if self.decoder == "argmax":
            return argmax_quarter(hm, quarter=True)
        maxval = hm.amax(dim=(-2, -1)).unsqueeze(-1)
        return torch.cat([dark_decode(hm, self.blur_kernel).to(hm.dtype), maxval], dim=-1)

    def _heatmaps(self, heads: Heads) -> torch.Tensor:
        """The ``(B, K, h, w)`` heatmaps in ``heads``, shape checked."""
        heatmaps = final_head(heads, self.head_key, type(self).__name__)
        if heatmaps.ndim != 4 or tuple(heatmaps.shape[-2:]) != (self.heatmap_size[1], self.heatmap_size[0]):
            raise ValueError(f"{type(self).__name__}.decode expects (B, K, {self.heatmap_size[1]}, "
                             f"{self.heatmap_size[0]}) heatmaps, got {tuple(heatmaps.shape)}")
        return heatmaps

    def decode(self, heads: Heads) -> torch.Tensor:
        """Heatmaps ``(B, K, h, w)`` (or a list of stages, final last, or a dict) ->
        ``(B, 1, K, 3)`` ``[x, y, score]`` in input-crop pixels."""
        c = self.decode_heatmap_coords(self._heatmaps(heads))
        xy = self.heatmap_to_crop(c[..., :2])
        return torch.cat([xy, c[..., 2:].clamp(0.0, 1.0)], dim=-1)[:, None]

    @property
    def supports_flip(self) -> bool:
        """Whether :meth:`flip_back` can run: it needs the spec's left/right pairs."""
        return self.spec is not None

    def flip_back(self, heads: Heads) -> Heads:
        """Heads predicted for horizontally mirrored crops -> heads of the original crops:
        each map mirrored, left/right channels swapped (:func:`flip_heatmaps`, with the
        one-pixel shift in MMPose's frame, ``flip_shift``). Same form as ``heads`` (every stage
        of a list; of a dict, the ``"heatmap"`` entry only)."""
        if self.spec is None:
            raise PosekitError(f"{type(self).__name__} was built without a keypoint spec: no flip test "
                               "(it needs the left/right pairs)")
        return map_final(heads, self.head_key,
                         lambda hm: flip_heatmaps(hm, self.spec.flip_index, shift=self.flip_shift))


class UDPHeatmap(MSRAHeatmap):
    """Gaussian heatmaps in the unit-interval convention of UDP (Huang et al. 2020).

    UDP measures image size in pixel *intervals*: the crop spans ``W - 1`` units and the
    heatmap ``w - 1``, so ``x_hm = x_crop * (w - 1) / (W - 1)`` and corner pixel centres map to
    corner pixel centres. The crop must be cut with UDP's warp too (the box's edges on the
    corner pixel centres, ``crop_affine(..., udp=True)``; ``udp_warp = True`` tells the dataset
    so): then the target is exactly UDP's, ``x_hm = crop_affine(c, size, (w, h), udp=True) · p``
    for an image point p. (With posekit's edge-to-edge crop the targets would still decode
    consistently, but sit up to ``(w - 1) / (2 (W - 1))`` heatmap px, 0.12 at 192x256, away from
    UDP's at the box edges.) MMPose's UDP warp and ``UDPHeatmap`` targets give the same
    image-to-heatmap map, so weights trained there need no conversion. Targets are centred at the exact sub-pixel
    position and decoded with DARK (UDP's "gaussian" mode), and a flip of the crop is exactly a
    flip of the heatmap (no flip-test shift). Arguments as :class:`MSRAHeatmap` (``unbiased``
    is always True; there is no ``mmpose_frame``, MMPose's UDP heatmap frame being this one).
    """

    udp_warp = True

    def __init__(self, input_size: tuple[int, int] = (192, 256), heatmap_size: tuple[int, int] | None = None,
                 sigma: float | None = None, decoder: str = "dark", blur_kernel: int | None = None,
                 spec: KeypointSpec | None = None) -> None:
        super().__init__(input_size, heatmap_size, sigma, unbiased=True, decoder=decoder, blur_kernel=blur_kernel,
                         spec=spec)

    def crop_to_heatmap(self, xy):
        (W, H), (w, h) = self.input_size, self.heatmap_size
        s = [(w - 1) / (W - 1), (h - 1) / (H - 1)]
        return xy * (xy.new_tensor(s) if torch.is_tensor(xy) else np.array(s))

    def heatmap_to_crop(self, xy):
        (W, H), (w, h) = self.input_size, self.heatmap_size
        s = [(W - 1) / (w - 1), (H - 1) / (h - 1)]
        return xy * (xy.new_tensor(s) if torch.is_tensor(xy) else np.array(s))

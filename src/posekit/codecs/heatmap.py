"""Gaussian heatmap codecs for top-down models: encode targets, decode predictions.

Frames. A top-down model sees an *input crop* of size ``(W, H)`` and outputs heatmaps of size
``(w, h) = (W // s, H // s)``. Keypoints given to :meth:`encode` and returned by
:meth:`decode` are in input-crop pixels (integer = pixel centre). The heatmap grid covers the
same box as the crop, edge to edge (see :func:`posekit.geometry.crop_affine`), so

    ``x_hm = (x_crop + 0.5) * w / W - 0.5``            (:class:`MSRAHeatmap`)

which is an affine map, never ``x_crop / s``. :class:`UDPHeatmap` uses the unit-interval
convention of Huang et al. instead: ``x_hm = x_crop * (w - 1) / (W - 1)``.

Decoders run batched in torch on ``(B, K, h, w)`` tensors and return ``(B, K, 3)`` =
``[x, y, score]`` in input-crop pixels; :func:`to_image` maps them to image pixels through the
inverse of the image-to-crop affine.

References:
    * Xiao, Wu, Wei. *Simple Baselines for Human Pose Estimation and Tracking*, ECCV 2018
      (MSRA Gaussian targets; argmax with a quarter-pixel shift toward the higher neighbour;
      flip test with a one-pixel heatmap shift).
    * Zhang, Zhu, Dai, Ye, Zhu. *Distribution-Aware Coordinate Representation for Human Pose
      Estimation* (DARK), CVPR 2020 (unbiased sub-pixel targets; Gaussian modulation and a
      second-order Taylor expansion of the log-heatmap at its maximum).
    * Huang, Zhu, Du, Huang. *The Devil Is in the Details: Delving into Unbiased Data Processing
      for Human Pose Estimation* (UDP), CVPR 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "HeatmapTarget", "MSRAHeatmap", "UDPHeatmap", "default_sigma", "gaussian_heatmaps",
    "argmax_quarter", "dark_refine", "gaussian_blur", "flip_heatmaps", "flip_back_keypoints",
    "to_image",
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


def gaussian_blur(heatmaps: torch.Tensor, sigma: float, kernel_size: int | None = None) -> torch.Tensor:
    """DARK's distribution modulation: blur each map with a Gaussian of std ``sigma`` (kernel
    ``2 * ceil(2.5 σ) + 1`` by default), then rescale each map so that its maximum is unchanged.
    Shape preserved: ``(B, K, h, w)``.

    Padding is zero: a Gaussian blurred by a Gaussian is again a Gaussian, so DARK stays exact
    away from the border; within about 2σ of the border any padding biases the peak (zero
    padding least: measured 0.03 px at 4 px, 0.2 px at 3 px from the border, σ = 2, vs 0.3 and
    1.8 px for the reflect padding of the DARK reference code)."""
    if kernel_size is None:
        kernel_size = 2 * math.ceil(2.5 * sigma) + 1
    r = kernel_size // 2
    B, K, h, w = heatmaps.shape
    t = torch.arange(-r, r + 1, dtype=heatmaps.dtype, device=heatmaps.device)
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    x = heatmaps.reshape(B * K, 1, h, w)
    x = F.pad(x, (r, r, r, r), mode="constant", value=0.0)
    x = F.conv2d(x, g.view(1, 1, 1, -1))
    x = F.conv2d(x, g.view(1, 1, -1, 1))
    x = x.reshape(B, K, h, w)
    old_max = heatmaps.amax(dim=(-2, -1), keepdim=True)
    new_max = x.amax(dim=(-2, -1), keepdim=True)
    return x * old_max / new_max.clamp_min(1e-12)


def dark_refine(heatmaps: torch.Tensor, coords: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Second-order Taylor refinement of integer maxima (DARK, Zhang et al. 2020).

    With ``L = log(max(heatmap, eps))`` and ``m`` the integer argmax, the maximum of the
    quadratic ``L(m) + D'(x - m) + ½ (x - m)' H (x - m)`` is ``m - H⁻¹ D``, where ``D`` and
    ``H`` are central finite differences at ``m`` (exact when ``L`` is quadratic, i.e. for a
    Gaussian). Points at the border, or where ``H`` is not negative definite, are left at ``m``.

    Args:
        heatmaps: ``(B, K, h, w)`` (already modulated, if wanted).
        coords: ``(B, K, 2+)`` integer argmax ``[x, y, ...]`` in heatmap pixels.

    Returns ``(B, K, 2)`` refined ``[x, y]`` in heatmap pixels.
    """
    B, K, h, w = heatmaps.shape
    L = torch.log(heatmaps.double().clamp_min(eps)).reshape(B, K, h * w)
    px = coords[..., 0].round().long()
    py = coords[..., 1].round().long()

    def at(dy: int, dx: int) -> torch.Tensor:
        yy = (py + dy).clamp(0, h - 1)
        xx = (px + dx).clamp(0, w - 1)
        return L.gather(-1, (yy * w + xx).unsqueeze(-1)).squeeze(-1)

    c = at(0, 0)
    dx = 0.5 * (at(0, 1) - at(0, -1))
    dy = 0.5 * (at(1, 0) - at(-1, 0))
    dxx = at(0, 1) - 2 * c + at(0, -1)
    dyy = at(1, 0) - 2 * c + at(-1, 0)
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy ** 2
    ok = (px > 0) & (px < w - 1) & (py > 0) & (py < h - 1) & (det > 1e-12) & (dxx < 0)
    safe = torch.where(ok, det, torch.ones_like(det))
    # offset = -H^{-1} D with H^{-1} = [[dyy, -dxy], [-dxy, dxx]] / det
    ox = -(dyy * dx - dxy * dy) / safe
    oy = -(-dxy * dx + dxx * dy) / safe
    ok = ok & (ox.abs() <= 1.0) & (oy.abs() <= 1.0)
    x = px.double() + torch.where(ok, ox, torch.zeros_like(ox))
    y = py.double() + torch.where(ok, oy, torch.zeros_like(oy))
    return torch.stack([x, y], dim=-1).to(coords.dtype)


def flip_heatmaps(heatmaps: torch.Tensor, flip_index: tuple[int, ...] | list[int], shift: bool = False) -> torch.Tensor:
    """Map the heatmaps predicted for a horizontally flipped crop back to the original crop.

    Mirrors the ``w`` axis and swaps left/right channels (``out[:, k] = flipped[:, flip_index[k]]``).
    ``(B, K, h, w) -> (B, K, h, w)``.

    ``shift=True`` then moves the maps one heatmap pixel to the right (the Simple Baselines /
    HRNet flip test). That shift compensates the misalignment of codecs whose heatmap-to-crop
    map is ``x_crop = x_hm * s`` (a flip about ``W - 1`` is not a flip about ``w - 1`` there). The
    codecs here map the box edge to edge (or, for UDP, corner pixel to corner pixel), so a flip
    of the crop *is* a flip of the heatmap and they need no shift: use ``codec.flip_shift``.
    """
    out = heatmaps.flip(-1)[:, list(flip_index)]
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out


def flip_back_keypoints(keypoints_crop: torch.Tensor, flip_index: tuple[int, ...] | list[int],
                        crop_width: int) -> torch.Tensor:
    """Keypoints ``(B, K, 3)`` decoded from a flipped crop, back in the original crop frame:
    ``x -> W - 1 - x`` and left/right swapped (the regression counterpart of :func:`flip_heatmaps`)."""
    out = keypoints_crop[:, list(flip_index)].clone()
    out[..., 0] = crop_width - 1 - out[..., 0]
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

    Decode: ``decoder="dark"`` (Gaussian modulation, then Taylor refinement) or ``"argmax"``
    (maximum plus the quarter-pixel shift), then back to crop pixels. The score is the map's
    maximum, clamped to ``[0, 1]``.

    Args:
        input_size: crop ``(W, H)``.
        heatmap_size: output ``(w, h)``; defaults to ``input_size // 4``.
        sigma: Gaussian std in heatmap pixels; default :func:`default_sigma`.
        unbiased: sub-pixel Gaussian centres (else rounded).
        decoder: ``"dark"`` or ``"argmax"``.
        blur_kernel: DARK modulation kernel size (odd); ``0`` disables the modulation.
    """

    flip_shift = False  # this codec's heatmaps flip exactly with the crop (see flip_heatmaps)

    def __init__(self, input_size: tuple[int, int] = (192, 256), heatmap_size: tuple[int, int] | None = None,
                 sigma: float | None = None, unbiased: bool = True, decoder: str = "dark",
                 blur_kernel: int | None = None) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = tuple(int(v) for v in heatmap_size) if heatmap_size else (
            self.input_size[0] // 4, self.input_size[1] // 4)
        self.sigma = float(sigma) if sigma is not None else default_sigma(self.heatmap_size)
        if decoder not in ("dark", "argmax"):
            raise ValueError(f"decoder must be 'dark' or 'argmax', got {decoder!r}")
        self.unbiased = bool(unbiased)
        self.decoder = decoder
        self.blur_kernel = blur_kernel

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(input_size={self.input_size}, heatmap_size={self.heatmap_size}, "
                f"sigma={self.sigma:g}, unbiased={self.unbiased}, decoder={self.decoder!r})")

    @property
    def stride(self) -> float:
        return self.input_size[0] / self.heatmap_size[0]

    # Frame changes: each is an affine map, applied per axis. Work on numpy arrays and tensors.
    def crop_to_heatmap(self, xy):
        """``(..., 2)`` crop pixels -> heatmap pixels."""
        (W, H), (w, h) = self.input_size, self.heatmap_size
        scale = xy.new_tensor([w / W, h / H]) if torch.is_tensor(xy) else np.array([w / W, h / H])
        return (xy + 0.5) * scale - 0.5

    def heatmap_to_crop(self, xy):
        """``(..., 2)`` heatmap pixels -> crop pixels."""
        (W, H), (w, h) = self.input_size, self.heatmap_size
        scale = xy.new_tensor([W / w, H / h]) if torch.is_tensor(xy) else np.array([W / w, H / h])
        return (xy + 0.5) * scale - 0.5

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
        coords = argmax_quarter(hm, quarter=False)
        if self.blur_kernel != 0:
            hm = gaussian_blur(hm, self.sigma, self.blur_kernel)
        xy = dark_refine(hm, coords)
        return torch.cat([xy, coords[..., 2:]], dim=-1)

    def decode(self, heatmaps: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """Heatmaps ``(B, K, h, w)`` (or a list of stages, final last) -> ``(B, K, 3)``
        ``[x, y, score]`` in input-crop pixels."""
        if isinstance(heatmaps, (list, tuple)):
            heatmaps = heatmaps[-1]
        if heatmaps.ndim != 4 or tuple(heatmaps.shape[-2:]) != (self.heatmap_size[1], self.heatmap_size[0]):
            raise ValueError(f"{type(self).__name__}.decode expects (B, K, {self.heatmap_size[1]}, "
                             f"{self.heatmap_size[0]}) heatmaps, got {tuple(heatmaps.shape)}")
        c = self.decode_heatmap_coords(heatmaps)
        xy = self.heatmap_to_crop(c[..., :2])
        return torch.cat([xy, c[..., 2:].clamp(0.0, 1.0)], dim=-1)


class UDPHeatmap(MSRAHeatmap):
    """Gaussian heatmaps in the unit-interval convention of UDP (Huang et al. 2020).

    UDP measures image size in pixel *intervals*: the crop spans ``W - 1`` units and the
    heatmap ``w - 1``, so ``x_hm = x_crop * (w - 1) / (W - 1)`` and corner pixel centres map to
    corner pixel centres. Targets are centred at the exact sub-pixel position and decoded with
    DARK refinement (UDP's "gaussian" mode), and a flip of the crop is exactly a flip of the
    heatmap (no flip-test shift). posekit's crops already follow a consistent pixel-centre
    convention, which is UDP's main point; this codec is here for models trained with UDP's
    scale factor. Arguments as :class:`MSRAHeatmap` (``unbiased`` is always True).
    """

    def __init__(self, input_size: tuple[int, int] = (192, 256), heatmap_size: tuple[int, int] | None = None,
                 sigma: float | None = None, decoder: str = "dark", blur_kernel: int | None = None) -> None:
        super().__init__(input_size, heatmap_size, sigma, unbiased=True, decoder=decoder, blur_kernel=blur_kernel)

    def crop_to_heatmap(self, xy):
        (W, H), (w, h) = self.input_size, self.heatmap_size
        s = [(w - 1) / (W - 1), (h - 1) / (H - 1)]
        return xy * (xy.new_tensor(s) if torch.is_tensor(xy) else np.array(s))

    def heatmap_to_crop(self, xy):
        (W, H), (w, h) = self.input_size, self.heatmap_size
        s = [(W - 1) / (w - 1), (H - 1) / (h - 1)]
        return xy * (xy.new_tensor(s) if torch.is_tensor(xy) else np.array(s))

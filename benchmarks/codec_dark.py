"""DARK decoding on noisy σ = 3 heatmaps: the old decoder, the new one, and the plain ones.

Seeded, CPU, a few seconds. Keypoints on 72x96 heatmaps (the 288x384 input at stride 4,
σ = 3 = ``default_sigma``): 150 at least 3σ from the border ("interior"), 150 whose x or y is
1-3 heatmap px from the centre of the border pixel ("1-3 px"); these 300 are the figure. A
further 100 lie 0-1 px from it ("0-1 px", a separate column). Each map is a Gaussian of peak
U(0.6, 1) at the sub-pixel keypoint, plus noise:

* ``clean``: none;
* ``white``: i.i.d. Gaussian, std 0.02;
* ``smooth``: Gaussian noise blurred with σ = 1.5 px and rescaled to std 0.02 (the smooth kind
  of error a network makes).

Decoders (errors are Euclidean, in heatmap px; x4 for input px):

* ``argmax``, ``argmax+quarter``: :func:`posekit.codecs.heatmap.argmax_quarter`;
* ``old DARK``: posekit's decoder before issue 10, copied below (17-tap blur of the targets' σ,
  Taylor step at the raw maximum, steps longer than 1 px rejected);
* ``MMPose-style DARK``: the decoder of MMPose's ``MSRAHeatmap`` re-implemented from its
  description (11 taps, σ by OpenCV's rule, zero padding, raw maximum, second differences over
  two pixels, no step limit, no refinement within 2 px of the border), for reference;
* ``new DARK``: :func:`posekit.codecs.heatmap.dark_decode` as ``MSRAHeatmap`` runs it
  (11 taps), and variants that show why: 7 and 17 taps, and a single Newton step.

Run: ``.venv/bin/python benchmarks/codec_dark.py``
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from posekit.codecs.heatmap import (
    argmax_quarter, blur_sigma, dark_decode, default_blur_kernel, gaussian_heatmaps,
)

W_HM, H_HM, SIGMA, STRIDE = 72, 96, 3.0, 4
N_INTERIOR, N_BORDER, N_EDGE = 150, 150, 100
NOISE_STD = 0.02


# --------------------------------------------------------------------------- the old decoder
def old_gaussian_blur(heatmaps: torch.Tensor, sigma: float) -> torch.Tensor:
    """posekit's modulation before issue 10: 2 ceil(2.5 σ) + 1 taps of the targets' σ."""
    kernel_size = 2 * math.ceil(2.5 * sigma) + 1
    r = kernel_size // 2
    B, K, h, w = heatmaps.shape
    t = torch.arange(-r, r + 1, dtype=heatmaps.dtype)
    g = torch.exp(-t ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    x = F.pad(heatmaps.reshape(B * K, 1, h, w), (r, r, r, r), mode="constant", value=0.0)
    x = F.conv2d(F.conv2d(x, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1)).reshape(B, K, h, w)
    return x * heatmaps.amax(dim=(-2, -1), keepdim=True) / x.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


def old_dark_refine(heatmaps: torch.Tensor, coords: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """posekit's Taylor step before issue 10: at the raw integer maximum; steps > 1 px dropped."""
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
    ox = -(dyy * dx - dxy * dy) / safe
    oy = -(-dxy * dx + dxx * dy) / safe
    ok = ok & (ox.abs() <= 1.0) & (oy.abs() <= 1.0)
    x = px.double() + torch.where(ok, ox, torch.zeros_like(ox))
    y = py.double() + torch.where(ok, oy, torch.zeros_like(oy))
    return torch.stack([x, y], dim=-1)


def old_dark(hm: torch.Tensor) -> torch.Tensor:
    return old_dark_refine(old_gaussian_blur(hm, SIGMA), argmax_quarter(hm, quarter=False))


# ------------------------------------------------------------- MMPose-style DARK (reference)
def mmpose_style_dark(hm: torch.Tensor, kernel: int = 11) -> torch.Tensor:
    maps = hm[0].double().numpy()
    K, h, w = maps.shape
    xy = argmax_quarter(hm, quarter=False)[0, :, :2].double().numpy().copy()
    r = kernel // 2
    for k in range(K):
        padded = np.pad(maps[k], r)
        L = np.log(np.maximum(cv2.GaussianBlur(padded, (kernel, kernel), 0)[r:-r, r:-r], 1e-10))
        x, y = int(xy[k, 0]), int(xy[k, 1])
        if not (1 < x < w - 2 and 1 < y < h - 2):
            continue
        grad = np.array([L[y, x + 1] - L[y, x - 1], L[y + 1, x] - L[y - 1, x]]) / 2
        hxx = (L[y, x + 2] - 2 * L[y, x] + L[y, x - 2]) / 4
        hyy = (L[y + 2, x] - 2 * L[y, x] + L[y - 2, x]) / 4
        hxy = (L[y + 1, x + 1] - L[y - 1, x + 1] - L[y + 1, x - 1] + L[y - 1, x - 1]) / 4
        hess = np.array([[hxx, hxy], [hxy, hyy]])
        if abs(np.linalg.det(hess)) > 0:
            xy[k] -= np.linalg.solve(hess, grad)
    return torch.from_numpy(xy)[None]


# ------------------------------------------------------------------------------- the data
def near_border(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """``(n, 2)`` heatmap points whose x or y is ``lo``-``hi`` px from the border pixel centre."""
    pts = rng.uniform([1, 1], [W_HM - 2, H_HM - 2], (n, 2))
    axis = rng.integers(0, 2, n)
    d = rng.uniform(lo, hi, n)
    size = np.array([W_HM, H_HM])[axis]
    pts[np.arange(n), axis] = np.where(rng.random(n) < 0.5, size - 1 - d, d)
    return pts


def keypoints(rng: np.random.Generator) -> np.ndarray:
    """``(400, 2)`` heatmap keypoints: interior, then 1-3 px, then 0-1 px from the border."""
    m = 3 * SIGMA
    interior = rng.uniform([m, m], [W_HM - 1 - m, H_HM - 1 - m], (N_INTERIOR, 2))
    return np.concatenate([interior, near_border(rng, N_BORDER, 1, 3), near_border(rng, N_EDGE, 0, 1)])


def heatmaps(rng: np.random.Generator, pts: np.ndarray, noise: str) -> torch.Tensor:
    amp = rng.uniform(0.6, 1.0, len(pts))
    maps = gaussian_heatmaps(pts, np.ones(len(pts), bool), (W_HM, H_HM), SIGMA).astype(np.float64)
    maps *= amp[:, None, None]
    if noise == "white":
        maps += rng.normal(0, NOISE_STD, maps.shape)
    elif noise == "smooth":
        n = np.stack([cv2.GaussianBlur(z, (0, 0), 1.5) for z in rng.normal(0, 1, maps.shape)])
        maps += n / n.std() * NOISE_STD
    return torch.from_numpy(maps.astype(np.float32))[None]


DECODERS = {
    "argmax": lambda hm: argmax_quarter(hm, quarter=False)[..., :2],
    "argmax+quarter": lambda hm: argmax_quarter(hm, quarter=True)[..., :2],
    "old DARK (17 taps, σ=3)": old_dark,
    "MMPose-style DARK (11 taps)": mmpose_style_dark,
    f"new DARK ({default_blur_kernel(SIGMA)} taps, default)": lambda hm: dark_decode(hm, default_blur_kernel(SIGMA)),
    "new DARK, 7 taps": lambda hm: dark_decode(hm, 7),
    "new DARK, 17 taps": lambda hm: dark_decode(hm, 17),
    "new DARK, 11 taps, one step": lambda hm: dark_decode(hm, 11, steps=1),
}


def main() -> None:
    print(f"keypoints on {W_HM}x{H_HM} heatmaps, sigma {SIGMA:g} (new DARK default: "
          f"{default_blur_kernel(SIGMA)} taps, blur sigma {blur_sigma(default_blur_kernel(SIGMA)):.2f}); "
          f"error = Euclidean, heatmap px (x{STRIDE} = input px); '>0.5' = points off by more than 0.5")
    groups = {f"{N_INTERIOR + N_BORDER} (interior + 1-3 px)": slice(0, N_INTERIOR + N_BORDER),
              f"{N_INTERIOR} interior": slice(0, N_INTERIOR),
              f"{N_BORDER} at 1-3 px": slice(N_INTERIOR, N_INTERIOR + N_BORDER),
              f"{N_EDGE} at 0-1 px": slice(N_INTERIOR + N_BORDER, None)}
    for seed, noise in enumerate(("clean", "white", "smooth")):
        rng = np.random.default_rng(seed)
        pts = keypoints(rng)
        hm = heatmaps(rng, pts, noise)
        print(f"\n{'no noise' if noise == 'clean' else f'{noise} noise, std {NOISE_STD}'}")
        print(f"{'':30s}" + "".join(f"{g:>26s}" for g in groups))
        print(f"{'decoder':30s}" + f"{'>0.5  worst   mean':>26s}" * len(groups))
        for name, decode in DECODERS.items():
            err = np.hypot(*(decode(hm)[0].double().numpy() - pts).T)
            print(f"{name:30s}" + "".join(
                f"{int((err[g] > 0.5).sum()):12d} {err[g].max():6.2f} {err[g].mean():6.3f}" for g in groups.values()))


if __name__ == "__main__":
    main()

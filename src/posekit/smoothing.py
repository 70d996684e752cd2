"""Temporal smoothing of tracked keypoints: an online One-Euro filter and a Savitzky-Golay
(local polynomial) smoother with a fixed lag.

Both work per track and per keypoint, in image pixels and seconds, and both leave a keypoint
whose score is at most ``min_score`` as it is (not smoothed), and restart from the next
confident sample: a keypoint the model lost is not dragged towards where it was.

* :class:`OneEuroFilter` -- Casiez, Roussel, Vogel, "1 Euro Filter: A Simple Speed-based
  Low-pass Filter for Noisy Input in Interactive Systems", CHI 2012. An exponential low-pass
  filter whose cutoff rises with the speed: ``fc = min_cutoff + beta * |dx/dt|`` (Hz, with the
  speed in pixels per second, itself low-passed at ``d_cutoff`` Hz); the smoothing factor of a
  step of ``dt`` seconds is ``alpha = 1 / (1 + tau / dt)``, ``tau = 1 / (2 pi fc)``. Slow
  keypoints are smoothed strongly (jitter goes), fast ones lightly (little lag). The speed is
  the 2D speed of the keypoint, so x and y share one cutoff.
* :func:`savgol_fit` / :class:`SavgolSmoother` -- Savitzky & Golay, "Smoothing and
  Differentiation of Data by Simplified Least Squares Procedures", Anal. Chem. 1964: each
  sample is replaced by the value at its time of the polynomial of degree ``order`` fitted by
  least squares to the confident samples of the window of ``window`` frames centred on it.
  With a full window of consecutive samples this is exactly ``scipy.signal.savgol_filter``;
  with gaps (missed frames, low scores) or at the ends, the fit uses the samples there are
  (at least ``order + 2``, else the sample is left as it is). :class:`SavgolSmoother` runs it
  on a stream with a lag of ``window // 2`` frames.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["OneEuroConfig", "OneEuroFilter", "TrackSmoother", "savgol_fit", "savgol_track", "SavgolSmoother",
           "SMOOTHERS"]

#: ``--smooth`` choices.
SMOOTHERS = ("none", "one-euro", "savgol")


@dataclass(frozen=True)
class OneEuroConfig:
    """One-Euro parameters in Hz, pixels and seconds.

    Attributes:
        min_cutoff: cutoff frequency (Hz) of a keypoint at rest: lower = smoother, more lag.
        beta: cutoff increase per pixel/second of speed (Hz s / px): higher = less lag when moving.
        d_cutoff: cutoff (Hz) of the speed estimate.
        min_score: keypoints scoring at most this are passed through unsmoothed (and reset).

    The defaults were set on the synthetic video at 30 fps (``benchmarks/video.py``): noise of
    2 px on keypoints moving at up to ~150 px/s.
    """

    min_cutoff: float = 1.0
    beta: float = 0.02
    d_cutoff: float = 1.0
    min_score: float = 0.2


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff, np.float64))
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """One-Euro filter of one person's K keypoints (see the module docstring).

    ``filter(keypoints (K, 3), t_s)`` returns the smoothed ``(K, 3)`` float32 (scores unchanged).
    Times are in seconds and must increase; a keypoint at most ``min_score`` is returned as it is
    and its state is reset.
    """

    def __init__(self, config: OneEuroConfig = OneEuroConfig()) -> None:
        self.config = config
        self.x: np.ndarray | None = None       # (K, 2) last output
        self.dx: np.ndarray | None = None      # (K, 2) last speed estimate, px/s
        self.valid: np.ndarray | None = None   # (K,) state is set
        self.t: float | None = None

    def filter(self, keypoints: np.ndarray, t_s: float) -> np.ndarray:
        cfg = self.config
        kp = np.asarray(keypoints, np.float64)
        k = kp.shape[0]
        ok = (kp[:, 2] > cfg.min_score) & np.isfinite(kp[:, :2]).all(axis=1)
        if self.x is None or self.x.shape[0] != k:
            self.x, self.dx, self.valid = np.zeros((k, 2)), np.zeros((k, 2)), np.zeros(k, bool)
        out = kp.copy()
        dt = None if self.t is None else t_s - self.t
        if dt is not None and dt <= 0:
            dt = None          # a repeated or earlier time: restart rather than divide by zero
        go = ok & self.valid if dt is not None else np.zeros(k, bool)
        if go.any():
            raw_dx = (kp[go, :2] - self.x[go]) / dt
            dx = self.dx[go] + _alpha(cfg.d_cutoff, dt) * (raw_dx - self.dx[go])
            fc = cfg.min_cutoff + cfg.beta * np.linalg.norm(dx, axis=1)
            a = _alpha(fc, dt)[:, None]
            x = self.x[go] + a * (kp[go, :2] - self.x[go])
            out[go, :2] = x
            self.x[go], self.dx[go] = x, dx
        start = ok & ~go                        # first confident sample: taken as it is
        self.x[start], self.dx[start] = kp[start, :2], 0.0
        self.valid = ok
        self.t = t_s
        return out.astype(np.float32)


class TrackSmoother:
    """One :class:`OneEuroFilter` per track id; filters of tracks unseen for ``forget_s``
    seconds are dropped."""

    def __init__(self, config: OneEuroConfig = OneEuroConfig(), forget_s: float = 2.0) -> None:
        self.config = config
        self.forget_s = forget_s
        self.filters: dict[int, tuple[OneEuroFilter, float]] = {}

    def __call__(self, keypoints: np.ndarray, track_ids: np.ndarray, t_s: float) -> np.ndarray:
        """Smooth one frame: ``keypoints (N, K, 3)``, ``track_ids (N,)`` (-1: not smoothed)."""
        out = np.array(keypoints, np.float32, copy=True)
        for i, tid in enumerate(np.asarray(track_ids).reshape(-1)):
            if tid < 0:
                continue
            f = self.filters.get(int(tid), (None, 0.0))[0] or OneEuroFilter(self.config)
            out[i] = f.filter(out[i], t_s)
            self.filters[int(tid)] = (f, t_s)
        self.filters = {k: v for k, v in self.filters.items() if t_s - v[1] <= self.forget_s}
        return out


def savgol_fit(times: np.ndarray, values: np.ndarray, at: float, order: int) -> np.ndarray | None:
    """Value at ``at`` of the degree-``order`` least-squares polynomial through ``(times (M,),
    values (M, D))``; None when there are fewer than ``order + 2`` samples (a fit through that
    few points would not smooth)."""
    t = np.asarray(times, np.float64) - at
    if len(t) < order + 2:
        return None
    scale = max(float(np.abs(t).max()), 1.0)
    V = np.vander(t / scale, order + 1, increasing=True)         # (M, order + 1)
    coef, *_ = np.linalg.lstsq(V, np.asarray(values, np.float64), rcond=None)
    return coef[0]                                               # the polynomial at t = at


def savgol_track(keypoints: np.ndarray, window: int = 9, order: int = 2, min_score: float = 0.2) -> np.ndarray:
    """Offline Savitzky-Golay smoothing of one track.

    Args:
        keypoints: ``(T, K, 3)`` the track's keypoints in T consecutive frames, NaN rows (or
            scores at most ``min_score``) where it was not seen or not confident.
        window: odd number of frames of each fit; order: polynomial degree.

    Returns:
        ``(T, K, 3)`` float32; non-confident samples unchanged.
    """
    kp = np.asarray(keypoints, np.float64)
    out = kp.copy()
    h = window // 2
    ok = (kp[..., 2] > min_score) & np.isfinite(kp[..., :2]).all(axis=-1)        # (T, K)
    frames = np.arange(kp.shape[0])
    for t in range(kp.shape[0]):
        lo, hi = max(0, t - h), min(kp.shape[0], t + h + 1)
        for k in np.flatnonzero(ok[t]):
            sel = lo + np.flatnonzero(ok[lo:hi, k])
            v = savgol_fit(frames[sel], kp[sel, k, :2], t, order)
            if v is not None:
                out[t, k, :2] = v
    return out.astype(np.float32)


class SavgolSmoother:
    """Savitzky-Golay smoothing of a stream of tracked frames, ``window // 2`` frames late.

    :meth:`push` takes one frame ``(payload, keypoints (N, K, 3), track_ids (N,))`` and returns
    the frames now final, each as ``(payload, smoothed keypoints)``: the one ``window // 2``
    frames back, smoothed with the frames on both sides. :meth:`flush` returns the frames still
    held (smoothed with the frames there are), at the end of the stream or on an interrupt.
    """

    def __init__(self, window: int = 9, order: int = 2, min_score: float = 0.2) -> None:
        if window < order + 2 or window % 2 == 0:
            raise ValueError(f"savgol window must be odd and at least order + 2, got {window}, order {order}")
        self.window, self.order, self.min_score = window, order, min_score
        self.h = window // 2
        self.history: deque = deque(maxlen=window)   # (index, payload, keypoints, ids)
        self.next_out = 0                           # stream index of the next frame to emit
        self.count = 0

    def push(self, payload, keypoints: np.ndarray, track_ids: np.ndarray) -> list[tuple[object, np.ndarray]]:
        self.history.append((self.count, payload, np.asarray(keypoints, np.float64), np.asarray(track_ids)))
        self.count += 1
        out = []
        while self.next_out <= self.count - 1 - self.h:
            out.append(self._emit(self.next_out))
            self.next_out += 1
        return out

    def flush(self) -> list[tuple[object, np.ndarray]]:
        out = []
        while self.next_out < self.count:
            out.append(self._emit(self.next_out))
            self.next_out += 1
        return out

    def _emit(self, index: int) -> tuple[object, np.ndarray]:
        entries = [e for e in self.history if abs(e[0] - index) <= self.h]
        centre = next(e for e in entries if e[0] == index)
        kp, ids = centre[2], centre[3]
        out = kp.copy()
        for i, tid in enumerate(ids):
            if tid < 0:
                continue
            times, samples = [], []
            for idx, _, kps, tids in entries:
                hit = np.flatnonzero(tids == tid)
                if len(hit):
                    times.append(idx)
                    samples.append(kps[hit[0]])
            samples = np.stack(samples)                                      # (M, K, 3)
            times = np.asarray(times)
            ok = (samples[..., 2] > self.min_score) & np.isfinite(samples[..., :2]).all(axis=-1)
            for k in range(kp.shape[1]):
                if not (kp[i, k, 2] > self.min_score):
                    continue
                v = savgol_fit(times[ok[:, k]], samples[ok[:, k], k, :2], index, self.order)
                if v is not None:
                    out[i, k, :2] = v
        return centre[1], out.astype(np.float32)

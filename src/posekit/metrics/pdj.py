"""PDJ: the Percent of Detected Joints (Toshev & Szegedy, "DeepPose", CVPR 2014).

A joint is detected when its distance to the true joint is at most a fraction of the torso
diameter, the distance between the left shoulder and the right hip of the ground truth. PDJ is
reported as a curve over the fraction and, usually, at 0.2. People whose torso is not labelled
are left out; only labelled (``v > 0``) ground-truth joints count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posekit.metrics.pck import pck_curve, torso_size
from posekit.skeleton import KeypointSpec

__all__ = ["PDJResult", "pdj", "pdj_curve", "DEFAULT_FRACTIONS"]

DEFAULT_FRACTIONS = np.round(np.linspace(0.0, 0.5, 51), 10)


@dataclass(frozen=True)
class PDJResult:
    """PDJ curve.

    Attributes:
        fractions: ``(F,)`` fractions of the torso diameter.
        per_joint: ``(F, K)`` detection rate per joint (NaN where no joint was counted).
        mean: ``(F,)`` detected / counted over all joints.
        names: the K joint names.
    """

    fractions: np.ndarray
    per_joint: np.ndarray
    mean: np.ndarray
    names: tuple[str, ...]

    def at(self, fraction: float = 0.2) -> dict[str, float]:
        """``{joint: PDJ, ..., "mean": PDJ}`` at one of the curve's fractions."""
        i = int(np.argmin(np.abs(self.fractions - fraction)))
        if not np.isclose(self.fractions[i], fraction):
            raise ValueError(f"fraction {fraction} is not on the curve")
        out = {n: float(v) for n, v in zip(self.names, self.per_joint[i])}
        out["mean"] = float(self.mean[i])
        return out


def pdj_curve(pred: np.ndarray, gt: np.ndarray, spec: KeypointSpec,
              fractions=DEFAULT_FRACTIONS) -> PDJResult:
    """PDJ of ``(N, K, 2|3)`` predictions against ``(N, K, 3)`` ground truth over ``fractions``
    (default 0, 0.01, ..., 0.5)."""
    f = np.asarray(fractions, dtype=np.float64).reshape(-1)
    per, mean = pck_curve(pred, gt, torso_size(gt, spec), f)
    return PDJResult(f, per, mean, spec.names)


def pdj(pred: np.ndarray, gt: np.ndarray, spec: KeypointSpec, fraction: float = 0.2) -> dict[str, float]:
    """PDJ at one fraction (0.2 by default): ``{joint: PDJ, ..., "mean": PDJ}``."""
    return pdj_curve(pred, gt, spec, [fraction]).at(fraction)

"""Evaluation plots: metric curves (PCK / PDJ over the threshold, COCO precision-recall) beside
per-joint (or per-limb) bars. matplotlib is imported only when a plot is drawn, with the
non-interactive Agg backend."""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

__all__ = ["save_eval_plot"]


def save_eval_plot(path: str | PathLike, *, title: str,
                   curves: Mapping[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                   curve_labels: tuple[str, str] = ("threshold", "rate"),
                   bars: Mapping[str, float] | None = None, bar_label: str = "") -> None:
    """Write a PNG with up to two panels.

    Args:
        path: output image file; its suffix gives the format (PNG when it has none, written
            to exactly that path).
        title: figure title.
        curves: ``{legend: (x, y)}`` drawn as lines in the left panel.
        curve_labels: the x and y axis labels of the curves.
        bars: ``{name: value}`` drawn as horizontal bars (NaN values are skipped).
        bar_label: the bars' axis label.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    panels = [p for p in (curves, bars) if p]
    if not panels:
        raise ValueError("nothing to plot")
    n_bars = len(bars or {})
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), max(4.0, 0.28 * n_bars + 1.5)),
                             squeeze=False)
    ax_iter = iter(axes[0])
    if curves:
        ax = next(ax_iter)
        for label, (x, y) in curves.items():
            ax.plot(np.asarray(x, float), np.asarray(y, float), label=label)
        ax.set_xlabel(curve_labels[0])
        ax.set_ylabel(curve_labels[1])
        ax.set_ylim(0, 1.02)
        ax.grid(True, alpha=0.3)
        if len(curves) > 1:
            ax.legend(fontsize="small")
    if bars:
        ax = next(ax_iter)
        names = [n for n, v in bars.items() if np.isfinite(v)]
        vals = [bars[n] for n in names]
        ax.barh(range(len(names)), vals, color="tab:blue")
        ax.set_yticks(range(len(names)), names, fontsize="small")
        ax.invert_yaxis()
        ax.set_xlim(0, 1.0)
        ax.set_xlabel(bar_label)
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100, format=None if Path(path).suffix else "png")
    plt.close(fig)

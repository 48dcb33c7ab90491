"""One look for every figure (lesson 01 onward): a colour per transport, labelled axes with
units, and a title that states the finding rather than the variables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

TRANSPORT_COLORS = {
    "short polling": "#4C72B0",
    "long polling": "#DD8452",
    "SSE": "#55A868",
    "WebSocket": "#C44E52",
}
SEQUENCE = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]
"""Colours for series that are not transports (intervals, client counts), in order."""


def figure(title: str, *, ncols: int = 1, width: float = 7.5, height: float = 4.0):
    """A figure with ``ncols`` axes side by side and the finding as its title."""
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), squeeze=False)
    fig.suptitle(title, fontsize=12, fontweight="bold")
    for ax in axes[0]:
        ax.grid(True, alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    return fig, (axes[0][0] if ncols == 1 else list(axes[0]))


def label(ax, xlabel: str, ylabel: str, title: str | None = None) -> None:
    """Axis labels (with units, please) and an optional panel title."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)


def ecdf(ax, values, *, scale: float = 1.0, **style) -> None:
    """The empirical CDF of ``values`` (times ``scale``) as a step line."""
    ordered = np.sort(np.asarray(values, dtype=float)) * scale
    fractions = np.arange(1, len(ordered) + 1) / len(ordered)
    ax.step(ordered, fractions, where="post", **style)
    ax.set_ylim(0, 1.02)


def finish(fig) -> None:
    """Lay the figure out; the notebook shows it when the cell ends."""
    fig.tight_layout()

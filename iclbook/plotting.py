"""One figure style for the whole book (sizes, fonts, colours), and small drawing helpers.

Plot functions take data (and optionally an ``ax``) and only draw; they never compute the paper's
quantities (those live in the rest of the package).
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["use_book_style", "COLORS", "new_axes", "plot_gap_with_bound"]

#: Named colours used consistently across chapters.
COLORS = {
    "model": "#1f77b4",      # the trained transformer
    "theory": "#d62728",     # a theoretical bound or limit
    "ridge": "#2ca02c",      # ridge with penalty mτ (the transformer's limit)
    "best": "#9467bd",       # ridge with penalty Nτ (the best predictor)
    "data": "#ff7f0e",       # observed labels
    "ood": "#8c564b",        # out-of-domain tasks
    "grey": "#7f7f7f",
}


def use_book_style() -> None:
    """Apply the book's matplotlib style: figure size, fonts, grid, SVG-friendly text. Call once per chapter."""
    mpl.rcParams.update({
        "figure.figsize": (6.4, 3.6),
        "figure.dpi": 100,
        "savefig.dpi": 150,
        "font.size": 10,
        "axes.titlesize": 10,
        "axes.labelsize": 10,
        "legend.fontsize": 8.5,
        "legend.frameon": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "lines.linewidth": 1.6,
        "svg.fonttype": "none",
        "figure.constrained_layout.use": True,
    })


def new_axes(ncols: int = 1, nrows: int = 1, *, width: float = 6.4, height: float = 3.6, **kw):
    """A figure with the book's style and ``nrows × ncols`` axes; returns (fig, axes)."""
    use_book_style()
    return plt.subplots(nrows, ncols, figsize=(width, height), **kw)


def plot_gap_with_bound(ax, step, gap, bound=None, *, label="gradient descent", color=None):
    """Draw the optimality gap L − L⋆ on a log scale, with Theorem 1's bound beside it when given."""
    ax.semilogy(step, np.maximum(gap, 1e-300), color=color or COLORS["model"], label=label)
    if bound is not None:
        ax.semilogy(step, bound, "--", color=COLORS["theory"], label="Theorem 1 bound")
    ax.set_xlabel("step t")
    ax.set_ylabel(r"$L(\theta_t) - L^\star$")
    ax.legend()
    return ax

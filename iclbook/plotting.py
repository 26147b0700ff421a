"""One figure style for the whole book (sizes, fonts, colours), and small drawing helpers.

Plot functions take data (and optionally an ``ax``) and only draw; they never compute the paper's
quantities (those live in the rest of the package).
"""
from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

__all__ = ["use_book_style", "scale_to_width", "COLORS", "new_axes", "legend_outside", "plot_gap_with_bound"]

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


#: Figures are drawn for the book's text column (about 700 CSS px at 1280 px, 7.3 inches at 96 px/inch).
#: A figure ``width`` inches wide is shrunk to the column, so its fonts are scaled by ``width / BASE_WIDTH``
#: to stay at least 9 pt on screen (10 pt at the base width), and its pixels are ``DPI`` per inch, so a PNG
#: has at least twice the pixels it is shown with (sharp on high-density screens and when zoomed).
BASE_WIDTH = 6.4
DPI = 240
FONT_PT = 10.0
SMALL_PT = 9.0


def _font_sizes(width: float) -> dict:
    k = max(1.0, width / BASE_WIDTH)
    return {
        "font.size": FONT_PT * k, "axes.titlesize": FONT_PT * k, "axes.labelsize": FONT_PT * k,
        "figure.titlesize": FONT_PT * k, "xtick.labelsize": SMALL_PT * k, "ytick.labelsize": SMALL_PT * k,
        "legend.fontsize": SMALL_PT * k, "legend.title_fontsize": SMALL_PT * k,
        "lines.linewidth": 1.6 * k, "lines.markersize": 6.0 * k,
    }


def scale_to_width(fig) -> None:
    """Figure hook (``rcParams["figure.hooks"]``): when pyplot creates a figure, set the font sizes for its
    width, so a wide figure shrunk to the column keeps 9-10 pt text. Texts given an explicit ``fontsize``
    are not scaled: use the defaults, or ``"small"``/``"medium"``."""
    mpl.rcParams.update(_font_sizes(fig.get_figwidth()))


def use_book_style(width: float = BASE_WIDTH) -> None:
    """Apply the book's matplotlib style: figure size, resolution (``DPI``), fonts of at least 9 pt at the
    displayed size (scaled to each figure's width by :func:`scale_to_width`), grid. Call once per chapter, or
    use :func:`new_axes`."""
    mpl.rcParams.update({
        "figure.figsize": (BASE_WIDTH, 3.6),
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "figure.hooks": ["iclbook.plotting:scale_to_width"],
        "legend.frameon": True,
        "legend.framealpha": 0.85,
        "legend.edgecolor": "none",
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.fonttype": "none",
        "figure.constrained_layout.use": True,
        **_font_sizes(width),
    })


def new_axes(ncols: int = 1, nrows: int = 1, *, width: float = BASE_WIDTH, height: float = 3.6, **kw):
    """A figure with the book's style and ``nrows × ncols`` axes; returns (fig, axes)."""
    use_book_style(width)
    return plt.subplots(nrows, ncols, figsize=(width, height), **kw)


def legend_outside(ax, *, loc: str = "upper left", ncol: int = 1, **kw):
    """A legend beside (``loc="upper left"``: right of) or below (``loc="lower"``) the axes, where it hides no data."""
    if loc == "lower":
        return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=ncol, **kw)
    return ax.legend(loc=loc, bbox_to_anchor=(1.02, 1.0), ncol=ncol, borderaxespad=0.0, **kw)


def plot_gap_with_bound(ax, step, gap, bound=None, *, label="gradient descent", color=None):
    """Draw the optimality gap L − L⋆ on a log scale, with Theorem 1's bound beside it when given."""
    ax.semilogy(step, np.maximum(gap, 1e-300), color=color or COLORS["model"], label=label)
    if bound is not None:
        ax.semilogy(step, bound, "--", color=COLORS["theory"], label="Theorem 1 bound")
    ax.set_xlabel("step t")
    ax.set_ylabel(r"$L(\theta_t) - L^\star$")
    ax.legend()
    return ax

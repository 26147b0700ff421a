"""Drawings of Part I (chapters 1–3): the running example on the unit circle, and chapter 2's one-head bound.

Only draws; the data come from :mod:`iclbook.circle` and the callers. :func:`angle_axis`, :func:`draw_tokens`,
:func:`draw_templates`, :func:`draw_explore` (chapter 1's two-panel picture, drawn by its live widget and by
its static companions alike), :func:`small_multiples`, :func:`prompt_growth_animation` and
:func:`animation_html` (a slider over precomputed frames that works in static HTML, with no kernel and no
network); :func:`draw_one_head` (chapter 2: what one head can fit, against the bound of §3.3).
matplotlib is imported when a drawing is made, not when this module is imported.
"""
from __future__ import annotations

import hashlib
import re

import numpy as np

from .circle import CircleExample, circle_example

__all__ = [
    "angle_axis", "draw_tokens", "draw_templates", "draw_explore", "small_multiples",
    "prompt_growth_animation", "animation_html", "draw_one_head",
]


def _pyplot():
    import matplotlib.pyplot as plt

    from .plotting import use_book_style
    use_book_style()
    return plt


def angle_axis(ax):
    """Format the x axis as the token angle θ ∈ [0, 2π] with ticks at multiples of π/2 (``book/ch01_setting``)."""
    ax.set_xlim(0, 2 * np.pi)
    ax.set_xticks([0, np.pi / 2, np.pi, 3 * np.pi / 2, 2 * np.pi], ["0", r"$\pi/2$", r"$\pi$", r"$3\pi/2$", r"$2\pi$"])
    ax.set_xlabel(r"angle $\theta$ of the token")
    return ax


_LABELS = {"m_tau": r"ridge, penalty $m\tau$ (transformer's limit)",
           "N_tau": r"ridge, penalty $N\tau$ (best predictor)",
           "zero": "least squares (penalty 0)"}
_CURVE_COLORS = {"m_tau": "ridge", "N_tau": "best", "zero": "grey"}


def draw_tokens(ax, ex: CircleExample, *, legend: bool = True):
    """The dictionary of §2 on the unit circle: prompt tokens filled, unseen tokens hollow (``book/ch01_setting``)."""
    from .plotting import COLORS
    c = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(c), np.sin(c), color=COLORS["grey"], lw=0.8)
    V, N = ex.problem.V, ex.N
    ax.plot(V[0, N:], V[1, N:], "o", mfc="white", mec=COLORS["grey"], ms=5, label=f"unseen tokens ({ex.problem.K - N})")
    ax.plot(V[0, :N], V[1, :N], "o", color=COLORS["data"], ms=6, label=f"prompt tokens (N = {N})")
    ax.set_aspect("equal")
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.6 if legend else 1.25)
    ax.set_xlabel(r"$v_1 = \cos\theta$")
    ax.set_ylabel(r"$v_2 = \sin\theta$")
    if legend:
        ax.legend(loc="upper center", ncol=1)
    return ax


def draw_templates(ax, ex: CircleExample, *, legend: bool = True, unseen: bool = True, title: str | None = None):
    """Template λᵀf over the angle, the N prompt labels, the unseen tokens' labels (hollow) and the ridge
    curves of eqs. (20) and (25) (``book/ch01_setting``, ``book/ch03_ridge``)."""
    from .plotting import COLORS
    N = ex.N
    ax.plot(ex.grid, ex.template, color="black", lw=1.2, label=r"template $\lambda^\top f(\theta)$")
    for name, (reg, curve) in ex.curves.items():
        label = _LABELS[name] if name in _LABELS else f"ridge, penalty {reg:.3g}"
        ax.plot(ex.grid, curve, color=COLORS[_CURVE_COLORS.get(name, "model")], lw=1.6,
                ls="--" if name == "N_tau" else "-", label=label)
    if unseen:
        ax.plot(ex.theta[N:], ex.y[N:], "o", mfc="white", mec=COLORS["grey"], ms=4, label="unseen labels (hidden)")
    ax.plot(ex.theta[:N], ex.y[:N], "o", color=COLORS["data"], ms=5, label=f"prompt labels (N = {N})")
    angle_axis(ax)
    if title is not None:
        ax.set_title(title)
    if legend:
        ax.legend(loc="best")
    return ax


def draw_explore(ex: CircleExample, axes=None, *, ylim=None, title: str | None = None, width: float = 9.5,
                 height: float = 4.4, stacked: bool = False):
    """Chapter 1's picture of one circle example: the dictionary on the circle (left, or top when ``stacked``,
    :func:`draw_tokens`) and the template, the labels and the ridge curve over the angle (right, or bottom,
    :func:`draw_templates`): the
    paper's setting (§2, eq. 1) with the ridge template of eq. (20).

    One legend for both panels goes below them, where it hides no data. The one drawing of chapter 1's
    explorer. The live widget (sliders for N, m and τ) calls it at every
    slider position, and its static companions in the HTML book call it at fixed values: the chapter's
    first figure (the sliders' defaults) and every frame of :func:`prompt_growth_animation`. So the
    live and the static pictures cannot drift apart.

    ``axes``: a pair (tokens, templates) of axes to draw into (cleared first); by default a new figure of
    ``width`` × ``height`` inches. ``ylim``: fixed y-limits of the right panel (frames of an animation
    share them); ``title`` goes above the right panel. ``stacked``: the tokens above the templates and the
    legend in one column, for a figure drawn :data:`iclbook.plotting.PHONE_WIDTH` wide (read on a phone).
    Returns the figure.
    """
    if axes is None:
        plt = _pyplot()
        if stacked:
            fig, axes = plt.subplots(2, 1, figsize=(width, height), gridspec_kw={"height_ratios": [1.15, 1]})
        else:
            fig, axes = plt.subplots(1, 2, figsize=(width, height), gridspec_kw={"width_ratios": [1, 2.1]})
    ax_tok, ax_tpl = axes
    ax_tok.clear()
    ax_tpl.clear()
    draw_tokens(ax_tok, ex, legend=False)
    draw_templates(ax_tpl, ex, title=title, legend=False)
    ax_tpl.set_ylabel("label")
    if ylim is not None:
        ax_tpl.set_ylim(*ylim)
    fig = ax_tpl.figure
    for old in list(fig.legends):                # a frame of an animation replaces the previous legend
        old.remove()
    handles, labels = ax_tpl.get_legend_handles_labels()
    both = {"unseen labels (hidden)": f"unseen tokens and their labels ({ex.problem.K - ex.N})",
            f"prompt labels (N = {ex.N})": f"prompt tokens and their labels (N = {ex.N})"}
    fig.legend(handles, [both.get(lb, lb) for lb in labels], loc="outside lower center",
               ncol=1 if stacked else 2)
    return fig


def small_multiples(examples, *, row_labels=None, col_labels=None, width: float = 9.0, height: float = 6.5,
                    legend_ncol: int | None = None, compact: bool = False):
    """A grid of :func:`draw_templates` panels (``book/ch01_setting``, ``book/ch03_ridge``); ``examples`` is a
    list of rows of :class:`iclbook.circle.CircleExample`.

    Each panel is titled with its (N, m, τ); one shared legend goes below the grid, in ``legend_ncol`` columns
    (default: up to 4; pass 1 for a single column of panels drawn :data:`iclbook.plotting.PHONE_WIDTH` wide).
    ``compact``: a grid whose rows differ only in N and columns only in m (one τ), drawn small enough for a
    phone: shared axes, m above each column, N beside each row, ticks at 0, π, 2π, τ in the title.
    Returns the figure.
    """
    plt = _pyplot()
    nr, nc = len(examples), len(examples[0])
    fig, axes = plt.subplots(nr, nc, figsize=(width, height), sharex=True, sharey=compact, squeeze=False)
    for i, row in enumerate(examples):
        for j, ex in enumerate(row):
            ax = axes[i, j]
            if compact:
                draw_templates(ax, ex, legend=False, title=f"m = {ex.m}" if i == 0 else None)
                ax.set_xticks([0, np.pi, 2 * np.pi], ["0", r"$\pi$", r"$2\pi$"])
                ax.set_xlabel("")
                if j == 0:
                    ax.set_ylabel(f"N = {ex.N}")
                continue
            draw_templates(ax, ex, legend=False, title=f"N = {ex.N}, m = {ex.m}, τ = {ex.tau:g}")
            if j:
                ax.tick_params(labelleft=True)
            if i < nr - 1:
                ax.set_xlabel("")
    if compact:
        axes[-1, nc // 2].set_xlabel(r"angle $\theta$ of the token")
        fig.suptitle(f"τ = {examples[0][0].tau:g}", fontsize="medium")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, [lb.split(" (N =")[0] for lb in labels], loc="outside lower center",
               ncol=legend_ncol or min(len(labels), 4))
    return fig


def prompt_growth_animation(Ns, m: int, tau: float, *, width: float | None = None, height: float = 6.6,
                            stacked: bool = True, interval: int = 700, **kw):
    """Frames of :func:`draw_explore` (the picture of chapter 1's live widget) for the prompt lengths ``Ns``
    (one :func:`circle_example` each, same tokens, task and noise; ``kw`` goes to :func:`circle_example`).
    The y-limits of the templates' panel are shared by all frames. By default each frame is drawn as the
    chapter's Figure 1.1 and the live widget are: stacked, ``width`` inches wide (default
    :data:`iclbook.plotting.PHONE_WIDTH`).

    The figure is closed after the animation is built, so a notebook shows only the animation. Turn it into
    a slider with :func:`animation_html`.
    """
    if width is None:
        from .plotting import PHONE_WIDTH as width
    exs = [circle_example(int(N), m, tau, **kw) for N in Ns]
    lo = min(min(e.y.min(), e.template.min(), *(c.min() for _, c in e.curves.values())) for e in exs)
    hi = max(max(e.y.max(), e.template.max(), *(c.max() for _, c in e.curves.values())) for e in exs)
    pad = 0.08 * (hi - lo)
    ylim = (lo - pad, hi + pad)

    def title(e):
        return f"prompt length N = {e.N}   (m = {e.m}, τ = {e.tau:g})"

    fig = draw_explore(exs[0], width=width, height=height, ylim=ylim, title=title(exs[0]), stacked=stacked)

    def frame(i):
        draw_explore(exs[i], fig.axes, ylim=ylim, title=title(exs[i]), stacked=stacked)
        return ()

    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation
    anim = FuncAnimation(fig, frame, frames=len(exs), interval=interval, blit=False)
    plt.close(fig)
    return anim


def animation_html(anim, *, name: str, dpi: int = 80, default_mode: str = "once") -> str:
    """``anim.to_jshtml()`` at ``dpi``, with matplotlib's random element id replaced by one derived from
    ``name`` (unique per page), so the stored HTML is the same on every run (strict nbval compares it;
    ``book/ch01_setting``). The frames are shown at most as wide as the figure is drawn (96 CSS px per inch)
    and never wider than the page: a 4-inch figure keeps its 9-10 pt text on a phone, whatever ``dpi``
    (the pixels' density) is.
    """
    import matplotlib as mpl
    with mpl.rc_context({"savefig.dpi": dpi}):
        html = anim.to_jshtml(default_mode=default_mode)
    found = re.search(r'id="_anim_img([0-9a-f]{32})"', html)
    if found is None:
        raise RuntimeError("unexpected to_jshtml output: no _anim_img id found")
    css_width = round(96 * anim._fig.get_figwidth())
    html = html.replace(found.group(0), found.group(0) + f' style="width: 100%; max-width: {css_width}px"', 1)
    return html.replace(found.group(1), hashlib.md5(name.encode()).hexdigest())


def draw_one_head(axes, target, single, multi, *, k: int, unseen, bound, best, H: int, draws: int):
    """Chapter 2's picture of the one-head limit (the paper's §3.3, ``book/ch02_transformer``).

    First panel (``axes[0]``): for token ``k`` (0-based), the target weights a_k (``target``, shape (N,)), the best
    single-head fit (``single``) and the fit of H heads (``multi``), as bars over the N prompt labels.
    Second panel (``axes[1]``): for the tokens ``unseen`` (0-based indices), the lower bound on the single-head
    residual ‖Z̄(â_k − a_k)‖ (``bound``), the best residual found in ``draws`` random heads (``best``) and the zero residual of H
    heads. Legends go below the panels. Only draws; returns ``axes``.
    """
    from .plotting import COLORS, legend_outside
    ax, bx = axes
    x = np.arange(len(target))
    for shift, vals, color, label in [(-0.25, target, "theory", r"target $a_k$ (column of $A$)"),
                                      (0.0, single, "grey", "best single head"),
                                      (0.25, multi, "model", f"H = N = {H} heads")]:
        ax.bar(x + shift, vals, 0.25, color=COLORS[color], label=label)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, [f"$y_{j + 1}$" for j in x])
    ax.set_title(f"weights on the prompt labels, token k = {k + 1}")
    legend_outside(ax, loc="lower")
    t = np.asarray(unseen) + 1
    bx.plot(t, bound, "s", color=COLORS["theory"], label="distance to one-sign vectors (bound)")
    bx.plot(t, best, "o", mfc="none", color=COLORS["grey"], label=f"best single head, {draws} draws")
    bx.plot(t, np.zeros(t.size), "x", color=COLORS["model"], label=f"H = N = {H} heads")
    bx.set_xlabel("unseen token k")
    bx.set_ylabel(r"$\|\bar Z(\hat a_k - a_k)\|$")
    legend_outside(bx, loc="lower")
    return axes

"""One figure style for the whole book (sizes, fonts, colours), and small drawing helpers.

Plot functions take data (and optionally an ``ax``) and only draw; they never compute the paper's
quantities (those live in the rest of the package). ``matplotlib.pyplot`` is imported only by the
functions that create a figure through it, and nothing here chooses a matplotlib backend.
"""
from __future__ import annotations

import matplotlib as mpl
import numpy as np

__all__ = ["use_book_style", "scale_to_width", "COLORS", "PHONE_WIDTH", "new_axes", "new_figure", "figure_or_new",
           "legend_outside", "label_log_axis",
           "plot_gap_with_bound", "plot_prompt_predictions"]

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
#: A figure meant to be read on a phone as well: at most this many inches wide, panels stacked one per row. The
#: HTML shows a figure at most as wide as drawn (96 CSS px per inch) and, on a phone, across the whole screen
#: (about 392 CSS px at 400 px), so its 10 pt and 9 pt text stays at 10 pt and 9 pt there too.
PHONE_WIDTH = 4.0


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
    import matplotlib.pyplot as plt
    use_book_style(width)
    return plt.subplots(nrows, ncols, figsize=(width, height), **kw)


def new_figure(figsize, *, pyplot: bool = True):
    """An empty figure of ``figsize`` (width, height) inches in the book's style.

    ``pyplot=True``: created by ``matplotlib.pyplot`` (shown by a notebook). ``pyplot=False``: a
    standalone :class:`matplotlib.figure.Figure`, for writing to files (``fig.savefig``) with no
    backend involved and nothing left open in pyplot (:func:`iclbook.experiments.reproduce`)."""
    use_book_style()
    if pyplot:
        import matplotlib.pyplot as plt
        return plt.figure(figsize=figsize)
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize)
    scale_to_width(fig)                     # what pyplot's figure hook (use_book_style) does
    return fig


def figure_or_new(fig, figsize):
    """The book's style applied, and ``fig`` if given, else :func:`new_figure` (``figsize``): how the
    experiments' ``plot`` functions start."""
    use_book_style()
    return fig if fig is not None else new_figure(figsize)


def legend_outside(ax, *, loc: str = "upper left", ncol: int = 1, **kw):
    """A legend beside (``loc="upper left"``: right of) or below (``loc="lower"``) the axes, where it hides no data."""
    if loc == "lower":
        return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=ncol, **kw)
    return ax.legend(loc=loc, bbox_to_anchor=(1.02, 1.0), ncol=ncol, borderaxespad=0.0, **kw)


def label_log_axis(axis, subs=(1.0, 2.0, 5.0), *, cover_data: bool = False):
    """Label a log ``axis`` (``ax.xaxis`` or ``ax.yaxis``) at 1, 2 and 5 times the powers of ten, in plain
    numbers (0.02, 0.5, 200, 2000; for values from 1e-4 to 1e5): for data spanning two decades or less,
    where matplotlib labels only the powers of ten and a reader sees one label, or none, over the data.
    The other multiples stay unlabelled minor ticks. ``cover_data=True``: widen the axis, where needed, to
    the nearest labelled tick below the data and above it, so that no curve lies beyond the last label.
    Call it after drawing the data."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
    axis.set_major_locator(LogLocator(subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())
    if cover_data:
        dlo, dhi = axis.get_data_interval()
        decades = range(int(np.floor(np.log10(dlo))) - 1, int(np.ceil(np.log10(dhi))) + 2)
        ticks = np.array([s * 10.0 ** k for k in decades for s in subs])
        vlo, vhi = axis.get_view_interval()
        set_lim = getattr(axis.axes, f"set_{axis.axis_name}lim")
        set_lim(min(vlo, ticks[ticks <= dlo].max()), max(vhi, ticks[ticks >= dhi].min()))
    return axis


def plot_gap_with_bound(ax, step, gap, bound=None, *, label="gradient descent", color=None):
    """Draw the optimality gap L − L⋆ on a log scale, with Theorem 1's bound beside it when given."""
    ax.semilogy(step, np.maximum(gap, 1e-300), color=color or COLORS["model"], label=label)
    if bound is not None:
        ax.semilogy(step, bound, "--", color=COLORS["theory"], label="Theorem 1 bound")
    ax.set_xlabel("step t")
    ax.set_ylabel(r"$L(\theta_t) - L^\star$")
    ax.legend()
    return ax


def plot_prompt_predictions(ax, y, N: int, ridge, models: dict):
    """One prompt against the token index k = 1..K (``book/ch10_inference``): its labels ``y`` (K,), the
    N prompt tokens shaded, the ridge prediction ``ridge`` (K,, eq. 20) and each model's prediction
    (``models``: legend label → (K,) array; markers ``x`` in grey, then ``+`` in the model colour). The legend
    goes below the axes in two columns, so the figure can be drawn :data:`PHONE_WIDTH` wide."""
    k = np.arange(1, len(y) + 1)
    ax.axvspan(0.5, N + 0.5, color=COLORS["grey"], alpha=0.15, label="prompt tokens")
    ax.plot(k, y, "o", ms=4, color=COLORS["data"], label="labels (noisy)")
    ax.plot(k, ridge, "s", ms=7, mfc="none", color=COLORS["ridge"], label=r"ridge, $m\tau$")
    for (label, yhat), (mk, col) in zip(models.items(), (("x", "grey"), ("+", "model"))):
        ax.plot(k, yhat, mk, ms=6, color=COLORS[col], label=label)
    ax.set_xlabel("token k")
    ax.set_ylabel("label / prediction")
    legend_outside(ax, loc="lower", ncol=2)
    return ax


def _box(ax, x, y, text, *, w, h, color, fc=None, fontsize=None, ha="center", lw=1.2,
         style="round,pad=0,rounding_size=0.015"):
    from matplotlib.patches import FancyBboxPatch
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle=style, lw=lw, ec=color,
                                fc=fc if fc is not None else "white", zorder=2))
    tx = x if ha == "center" else x - w / 2 + 0.02
    ax.text(tx, y, text, ha=ha, va="center", fontsize=fontsize, zorder=3)


def _arrow(ax, a, b, *, color="#444444", text=None, rad=0.0, fontsize=None, lw=1.1):
    from matplotlib.patches import FancyArrowPatch
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle="-|>", mutation_scale=12, lw=lw, color=color,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=1, shrinkB=1, zorder=4))
    if text:
        ax.text((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 0.025, text, ha="center", va="bottom",
                fontsize=fontsize, color=color)


# the model diagram's texts, shared by its wide and its phone layout
_HEAD_TEXT = r"$s^h_k = \mathrm{softmax}(V_N^\top Q_h v_k)$"
_TRAINED_TEXT = r"trained: $Q_h \in \mathbb{R}^{d\times d}$, $w_h \in \mathbb{R}^K$, $h = 1, \dots, H$"
_TRAINED_COLOR = "#4d4d4d"       # darker than COLORS["grey"]: small text, read on a phone
_OUTPUT_TEXT = r"$\hat y_k = \sum_h w_{h,k}\, y^\top s^h_k$"


def _prompt_tokens(ax, x, top, step, *, w, h):
    """The prompt's column of the model diagram: boxes (v_1, y_1), (v_2, y_2), a vertical ellipsis, (v_N, y_N)."""
    fs = mpl.rcParams["font.size"]
    for i, lab in enumerate([r"$(v_1, y_1)$", r"$(v_2, y_2)$", r"$\vdots$", r"$(v_N, y_N)$"]):
        y = top - step * i
        if lab == r"$\vdots$":
            ax.text(x, y, lab, ha="center", va="center", fontsize=fs)
        else:
            _box(ax, x, y, lab, w=w, h=h, color=COLORS["data"], fc="#fff3e6", fontsize=fs)


def draw_model_diagram(ax=None, *, result: bool = False, phone: bool = False):
    """The one-layer multi-head softmax transformer on a prompt (chapter 2, eq. 8): the N labelled prompt tokens,
    a query token v_k, H heads attending over the prompt positions, and the prediction of every label.
    With ``result=True`` the trained model's behaviour (Theorem 2) is written beside the output.

    ``phone=True``: the same diagram laid out for a phone, :data:`PHONE_WIDTH` wide, the output under the heads
    instead of right of them (the HTML book shows this rendering below 576 px, ``_ext/iclbook_html.py``)."""
    if phone:
        return _model_diagram_phone(ax, result=result)
    if ax is None:
        fig, ax = new_axes(width=BASE_WIDTH, height=3.9 if result else 3.5)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    fs, small = mpl.rcParams["font.size"], SMALL_PT * mpl.rcParams["font.size"] / FONT_PT
    # the prompt: N labelled tokens, and the K - N tokens to predict
    ax.text(0.13, 0.97, "prompt (N labelled tokens)", ha="center", va="top", fontsize=small)
    _prompt_tokens(ax, 0.13, 0.85, 0.105, w=0.2, h=0.085)
    ax.text(0.13, 0.38, "query: any of the\nK tokens $v_k$", ha="center", va="center", fontsize=small)
    _box(ax, 0.13, 0.25, r"$v_k$", w=0.1, h=0.085, color=COLORS["grey"], fontsize=fs)
    # H heads
    heads = [(0.8, "head 1"), (0.58, "head 2"), (0.28, "head H")]
    for y, name in heads:
        _box(ax, 0.5, y, name + "\n" + _HEAD_TEXT, w=0.36, h=0.14,
             color=COLORS["model"], fc="#eaf2fb", fontsize=small)
        _arrow(ax, (0.235, 0.7), (0.32, y + 0.02), color=COLORS["data"])
        _arrow(ax, (0.18, 0.25), (0.32, y - 0.03), color=COLORS["grey"])
        _arrow(ax, (0.68, y), (0.78, 0.55), color=COLORS["model"])
    ax.text(0.5, 0.43, r"$\vdots$", ha="center", va="center", fontsize=fs)
    ax.text(0.5, 0.1, _TRAINED_TEXT,
            ha="center", va="center", fontsize=small, color=_TRAINED_COLOR)
    # the output
    _box(ax, 0.885, 0.55, _OUTPUT_TEXT, w=0.21, h=0.16,
         color=COLORS["theory"], fc="#fdeaea", fontsize=small)
    ax.text(0.885, 0.72, "all K labels", ha="center", va="bottom", fontsize=small)
    if result:
        ax.text(0.885, 0.36, "after training\n(Theorem 2):\nthe N labels\ncopied, the K$-$N\nothers by ridge\n"
                r"regression, $m\tau$", ha="center", va="top", fontsize=small, color=COLORS["theory"])
    return ax


def _model_diagram_phone(ax=None, *, result: bool = False):
    """:func:`draw_model_diagram` for a phone: tokens left of the heads, the output under them."""
    bottom = 0.14 if result else 0.27
    if ax is None:
        fig, ax = new_axes(width=PHONE_WIDTH, height=6.0 * (1 - bottom))
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom, 1)
    ax.axis("off")
    fs, small = mpl.rcParams["font.size"], SMALL_PT * mpl.rcParams["font.size"] / FONT_PT
    ax.text(0.19, 0.985, "prompt\n(N labelled tokens)", ha="center", va="top", fontsize=small)
    _prompt_tokens(ax, 0.19, 0.87, 0.065, w=0.34, h=0.052)
    _box(ax, 0.19, 0.6, r"$v_k$", w=0.16, h=0.052, color=COLORS["grey"], fontsize=fs)
    ax.text(0.19, 0.565, "query: any of\nthe K tokens $v_k$", ha="center", va="top", fontsize=small)
    heads = [(0.9, "head 1"), (0.77, "head 2"), (0.56, "head H")]
    for y, name in heads:
        _box(ax, 0.69, y, name + "\n" + _HEAD_TEXT, w=0.52, h=0.09,
             color=COLORS["model"], fc="#eaf2fb", fontsize=small)
        _arrow(ax, (0.36, 0.81), (0.43, y + 0.012), color=COLORS["data"])
        _arrow(ax, (0.27, 0.6), (0.43, y - 0.02), color=COLORS["grey"])
        ax.plot([0.95, 0.975], [y, y], color=COLORS["model"], lw=1.1)
    ax.text(0.69, 0.665, r"$\vdots$", ha="center", va="center", fontsize=fs)
    # every head's output summed: a bracket down the right of the heads, into the output box
    ax.plot([0.975, 0.975], [0.9, 0.38], color=COLORS["model"], lw=1.1)
    _arrow(ax, (0.975, 0.38), (0.75, 0.38), color=COLORS["model"])
    ax.text(0.45, 0.47, _TRAINED_TEXT,
            ha="center", va="center", fontsize=small, color=_TRAINED_COLOR)
    _box(ax, 0.5, 0.38, _OUTPUT_TEXT, w=0.5, h=0.08,
         color=COLORS["theory"], fc="#fdeaea", fontsize=small)
    ax.text(0.5, 0.33, "all K labels", ha="center", va="top", fontsize=small)
    if result:
        ax.text(0.5, 0.26, "after training (Theorem 2):\nthe N labels copied, the K$-$N others\n"
                r"by ridge regression, $m\tau$", ha="center", va="top", fontsize=small, color=COLORS["theory"])
    return ax


#: The boxes of the proof roadmap, one per line: key, x, y, kind (asm: assumption or proposition, lem: lemma,
#: thm: theorem) and the text, with "/" for a line break.
_ROADMAP = r"""
A13   0.15 0.92 asm Assumptions 1, 3/(data; ch. 1)
L5    0.50 0.92 lem Lemma 5: loss in/closed form (ch. 4)
L1    0.85 0.92 lem Lemma 1, gradients/(ch. 5)
L6    0.50 0.71 lem Lemma 6: one step/size; PL (ch. 6)
L237  0.85 0.71 lem Lemmas 2, 3, 7/(bounds; ch. 8)
P1    0.15 0.62 asm Proposition 1/$H \geq N$ (ch. 7)
L10   0.85 0.41 lem Lemma 10/smoothness (ch. 8)
A2    0.15 0.41 asm Assumption 2/$\zeta_0 > 0$ (ch. 7)
T1    0.50 0.41 thm Theorem 1/linear convergence/(ch. 8)
L4    0.15 0.10 lem Lemma 4, Woodbury/(ridge; ch. 3)
A4    0.85 0.10 asm Assumption 4,/chi-square bound/(ch. 1, 10)
T2    0.50 0.10 thm Theorem 2: inference/= ridge regression,/penalty $m\tau$ (ch. 10)
"""


#: The roadmap's texts for a phone (:func:`draw_proof_roadmap` with ``phone=True``): shorter lines.
_ROADMAP_PHONE = {
    "A13": "Assumptions/1, 3 (data;/ch. 1)", "L5": "Lemma 5: loss/in closed form/(ch. 4)",
    "L1": "Lemma 1,/gradients/(ch. 5)", "L6": "Lemma 6: one/step size; PL/(ch. 6)",
    "L237": "Lemmas 2, 3, 7/(bounds; ch. 8)", "P1": r"Proposition 1/$H \geq N$ (ch. 7)",
    "L10": "Lemma 10/smoothness/(ch. 8)", "A2": r"Assumption 2/$\zeta_0 > 0$ (ch. 7)",
    "T1": "Theorem 1/linear/convergence/(ch. 8)", "L4": "Lemma 4,/Woodbury/(ridge; ch. 3)",
    "A4": "Assumption 4,/chi-square/bound/(ch. 1, 10)",
    "T2": "Theorem 2:/inference =/ridge/regression,/penalty $m\\tau$/(ch. 10)",
}


def _roadmap_nodes(phone: bool = False) -> dict:
    out = {}
    for line in _ROADMAP.strip().splitlines():
        key, x, y, kind, text = line.split(maxsplit=4)
        if phone:                      # shorter lines, and the columns closer together
            text, x = _ROADMAP_PHONE[key], {"0.15": "0.165", "0.85": "0.835"}.get(x, x)
        out[key] = (float(x), float(y), text.replace("/", "\n"), kind)
    return out


def draw_proof_roadmap(ax=None, *, phone: bool = False):
    """How the paper's results lead to Theorems 1 and 2 (chapter 8): each box names a result and the chapter
    that proves and checks it; an arrow means "is used in the proof of".

    ``phone=True``: the same map :data:`PHONE_WIDTH` wide, its texts on shorter lines (the HTML book shows this
    rendering below 576 px, ``_ext/iclbook_html.py``)."""
    if ax is None:
        fig, ax = new_axes(width=PHONE_WIDTH if phone else BASE_WIDTH, height=6.6 if phone else 5.6)
    ax.set_xlim(0, 1.08)
    ax.set_ylim(0, 1)
    ax.axis("off")
    small = SMALL_PT * mpl.rcParams["font.size"] / FONT_PT
    C = {"asm": COLORS["grey"], "lem": COLORS["model"], "thm": COLORS["theory"]}
    F = {"asm": "#f2f2f2", "lem": "#eaf2fb", "thm": "#fdeaea"}
    nodes = _roadmap_nodes(phone)
    W = 0.3 if phone else 0.27
    if phone:                          # each box as tall as its lines
        Hk = {k: 0.022 + 0.024 * (t.count("\n") + 1) for k, (_, _, t, _) in nodes.items()}
    else:
        Hk = {k: {"asm": 0.12, "lem": 0.12, "thm": 0.15}[kind] for k, (_, _, _, kind) in nodes.items()}
    for key, (x, y, text, kind) in nodes.items():
        _box(ax, x, y, text, w=W, h=Hk[key], color=C[kind], fc=F[kind], fontsize=small,
             lw=1.6 if kind == "thm" else 1.1)
    edges = [("A13", "L5"), ("L5", "L1"), ("L5", "L6"), ("L1", "L237"), ("L1", "L10"), ("L6", "T1"),
             ("L237", "T1"), ("L10", "T1"), ("P1", "A2"), ("A2", "T1"), ("T1", "T2"), ("L4", "T2"), ("A4", "T2")]
    for a, b in edges:
        xa, ya, _, ka = nodes[a]
        xb, yb, _, kb = nodes[b]
        rad = 0.0
        if (a, b) == ("L1", "L10"):                 # around the right of Lemmas 2, 3, 7
            sa, sb, rad = (xa + W / 2, ya), (xb + W / 2, yb), -0.16 if phone else -0.3
        elif (a, b) == ("L237", "T1"):
            sa, sb = (xa - W / 4, ya - Hk[a] / 2), (xb + W / 2, yb + 0.045)
        elif abs(ya - yb) < 0.05:                   # same row: side to side
            sa = (xa + np.sign(xb - xa) * W / 2, ya)
            sb = (xb - np.sign(xb - xa) * W / 2, yb)
        elif abs(xa - xb) < 0.05:                   # same column: top to bottom
            sa, sb = (xa, ya - Hk[a] / 2), (xb, yb + Hk[b] / 2)
        else:                                       # diagonal: from the side facing the target
            sa = (xa + np.sign(xb - xa) * W / 2, ya) if abs(ya - yb) < 0.25 else (xa, ya - Hk[a] / 2)
            sb = (xb - np.sign(xb - xa) * W / 2, yb)
        _arrow(ax, sa, sb, color=C["thm"] if kb == "thm" else "#555555", rad=rad)
    return ax

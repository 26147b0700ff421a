"""Data and drawings for the pictures of Part I (chapters 1 and 3): tokens on the unit circle.

The running example of the book's first part is the paper's setting (§2) at d = 2: K tokens on the unit
circle, the Fourier representation f = :func:`iclbook.fourier_features` (m), so that a template
x ↦ λᵀ f(x) is a curve over the angle θ. A prompt holds the first N tokens with their noisy labels
(eq. 1); the other K − N tokens are the unseen examples.

Computing (returns data):

- :func:`feature_space_labels` — eq. (1) literally: y_k = λᵀ(f(v_k) + ε_k) with the m×K noise matrix ε;
- :func:`nested_task` — a task λ ∈ R^m whose first coordinates do not depend on m (so the templates for
  increasing m add harmonics to one fixed curve);
- :func:`circle_example` — everything one picture needs: the problem, λ, the K labels, the template and
  the ridge predictions (eqs. 20, 25) as curves over the angle;
- :func:`posterior_mean_quadrature` — E[λ | y] for m = 2 by quadrature on a grid (chapter 3's Bayesian
  reading: the exact posterior mean under eq. (1)'s λ-dependent noise is not a ridge estimator);
- :func:`sign_cone_distance2` — how far a column of A is from every single-head output (chapter 2).

Drawing (only draws): :func:`angle_axis`, :func:`draw_tokens`, :func:`draw_templates`, :func:`draw_explore`
(chapter 1's two-panel picture, drawn by its live widget and by its static companions alike),
:func:`small_multiples`, :func:`prompt_growth_animation` and :func:`animation_html` (a slider over
precomputed frames that works in static HTML, with no kernel and no network).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation

from .plotting import COLORS, use_book_style
from .problem import Problem, fourier_basis, make_problem
from .ridge import ridge_coefficients

__all__ = [
    "M_MAX", "feature_space_labels", "nested_task", "CircleExample", "circle_example",
    "posterior_mean_quadrature", "sign_cone_distance2", "angle_axis", "draw_tokens", "draw_templates", "draw_explore",
    "small_multiples", "prompt_growth_animation", "animation_html",
]

#: The largest m the nested tasks support.
M_MAX = 41


def feature_space_labels(problem: Problem, lam, rng, n: int | None = None):
    """Labels of eq. (1), drawn literally: y_k = λᵀ(z_k + ε_k), ε_k ~ N(0, τ I_m) i.i.d., k = 1..K.

    ``lam`` has shape (m,). Returns ``(y, eps)`` with y of shape (K,) and the noise matrix eps of shape
    (m, K); with ``n`` given, n independent draws: y of shape (n, K) and eps of shape (n, m, K).
    (:func:`iclbook.sample_prompts` draws the same law in the reduced form λᵀε_k ~ N(0, τ‖λ‖²); chapter 1
    checks that the two agree.) ``rng`` is a ``numpy.random.Generator``.
    """
    lam = np.asarray(lam, dtype=np.float64)
    if lam.shape != (problem.m,):
        raise ValueError(f"lam must have shape (m,) = ({problem.m},), got {lam.shape}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator")
    shape = (problem.m, problem.K) if n is None else (n, problem.m, problem.K)
    eps = np.sqrt(problem.tau) * rng.standard_normal(shape)
    y = lam @ (problem.Zt + eps)
    return y, eps


def nested_task(m: int, *, seed: int = 0, decay: float = 0.0) -> np.ndarray:
    """A task λ ∈ R^m: the first m entries of one fixed draw λ_i = g_i / j(i)^decay, g ~ N(0, I_{M_MAX}).

    j(i) is the harmonic of the i-th Fourier feature (0 for the constant, then 1, 1, 2, 2, …). With
    ``decay = 0`` the entries are standard normal (Assumption 1's moments); ``decay > 0`` damps the higher
    harmonics so the curves stay readable. The same seed gives the same leading entries for every m.
    """
    if not (isinstance(m, (int, np.integer)) and 1 <= m <= M_MAX):
        raise ValueError(f"m must be an integer in [1, {M_MAX}], got {m!r}")
    g = np.random.default_rng(seed).standard_normal(M_MAX)
    harmonic = np.maximum((np.arange(M_MAX) + 1) // 2, 1)
    return (g / harmonic**decay)[:m]


@dataclass(frozen=True)
class CircleExample:
    """One circle picture's data (chapter 1).

    ``problem`` (d = 2, Fourier features), the task ``lam`` (m,), the labels ``y`` (K,) of all tokens
    (eq. 1; the prompt is ``y[:N]``), the token angles ``theta`` (K,), a dense angle ``grid`` (G,), the
    ``template`` λᵀf over the grid, and ``curves``: {name: (reg, λ̂ᵀf over the grid)} for each requested
    ridge penalty.
    """

    problem: Problem
    lam: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    grid: np.ndarray
    template: np.ndarray
    curves: dict

    @property
    def N(self) -> int:
        return self.problem.N

    @property
    def m(self) -> int:
        return self.problem.m

    @property
    def tau(self) -> float:
        return self.problem.tau


def circle_example(N: int, m: int, tau: float, *, K: int = 40, seed: int = 0, task_seed: int = 1,
                   noise_seed: int = 2, decay: float = 0.5, penalties=("m_tau",), grid_size: int = 400,
                   noiseless: bool = False) -> CircleExample:
    """The data of one circle picture: K tokens on the unit circle, the first N in the prompt (paper §2).

    Tokens and features come from ``make_problem(K, N, 2, m, tau, seed=seed, features="fourier")`` (the
    angles depend only on K and ``seed``, so pictures for different N, m, τ share their tokens). The task
    is :func:`nested_task` (m, seed=task_seed, decay=decay). The labels follow eq. (1) with the noise
    ε = √τ G for one fixed standard normal G (from ``noise_seed``), so pictures for different τ share
    their noise draw; ``noiseless=True`` gives y_k = λᵀz_k.

    ``penalties``: names among "m_tau" (reg = mτ, the transformer's limit, eq. 20, Theorem 2), "N_tau"
    (reg = Nτ, the best predictor, eq. 25, Lemma 4) and "zero" (reg = 0, needs N ≥ m), or numbers (a reg).
    """
    p = make_problem(K, N, 2, m, tau, seed=seed, features="fourier")
    theta = np.mod(np.arctan2(p.V[1], p.V[0]), 2 * np.pi)
    lam = nested_task(m, seed=task_seed, decay=decay)
    G = np.random.default_rng(noise_seed).standard_normal((M_MAX, K))[:m]
    y = lam @ p.Zt if noiseless else lam @ (p.Zt + np.sqrt(tau) * G)
    grid = np.linspace(0.0, 2 * np.pi, grid_size)
    F = fourier_basis(grid, m)
    curves = {}
    for name in penalties:
        reg = {"m_tau": m * tau, "N_tau": N * tau, "zero": 0.0}.get(name, name) if isinstance(name, str) else name
        if isinstance(reg, str):
            raise ValueError(f"unknown penalty {name!r}: use 'm_tau', 'N_tau', 'zero' or a number")
        curves[name] = (float(reg), ridge_coefficients(p, y, reg) @ F)
    return CircleExample(p, lam, y, theta, grid, lam @ F, curves)


def posterior_mean_quadrature(z, y: float, tau: float, *, sigma2=None, half_width: float = 10.0,
                              n: int = 240) -> np.ndarray:
    """E[λ | y] for m = 2 and one labelled token (N = 1), by the midpoint rule on an n×n grid over [−w, w]².

    Prior λ ~ N(0, I_2). Likelihood of eq. (1): y | λ ~ N(λᵀz, τ‖λ‖²) (the label noise λᵀε has a
    variance that depends on λ); with ``sigma2`` given, the homoscedastic likelihood N(λᵀz, σ²) instead,
    whose posterior mean is exactly ridge with penalty σ² (chapter 3). ``y`` may be an array of labels;
    returns shape (2,) or (len(y), 2). The grid truncates the prior at ±``half_width`` standard deviations.
    """
    z = np.asarray(z, dtype=np.float64).reshape(2)
    ys = np.atleast_1d(np.asarray(y, dtype=np.float64))
    t = -half_width + (np.arange(n) + 0.5) * (2 * half_width / n)       # midpoints: λ = 0 is never a node
    L1, L2 = np.meshgrid(t, t, indexing="ij")
    lam = np.stack([L1.ravel(), L2.ravel()], axis=1)                      # (n², 2)
    mean = lam @ z
    var = np.full(mean.shape, float(sigma2)) if sigma2 is not None else tau * np.sum(lam**2, axis=1)
    var = np.maximum(var, 1e-300)
    logp = (-0.5 * np.sum(lam**2, axis=1))[None, :] - 0.5 * np.log(var)[None, :] \
        - 0.5 * (ys[:, None] - mean[None, :]) ** 2 / var[None, :]
    logp -= logp.max(axis=1, keepdims=True)
    W = np.exp(logp)
    W /= W.sum(axis=1, keepdims=True)
    out = W @ lam
    return out[0] if np.ndim(y) == 0 else out


def sign_cone_distance2(a, M=None) -> float:
    """min over x in R^N_{≥0} ∪ R^N_{≤0} of (x − a)ᵀ M (x − a): the squared M-distance from ``a`` to the
    vectors whose entries all share one sign (chapter 2, the paper's §3.3 on one head).

    With one head, â_k = w_{1,k} softmax(·) always lies in that set, so by the paper's Lemma 5 (M = Z̄²)
    L(θ) − L⋆ ≥ ½ Σ_k sign_cone_distance2(a_k, Z̄²) for every single-head θ. Exact: the minimiser of a
    convex quadratic over an orthant solves the unconstrained problem on its support, so the minimum over
    all 2·2^N supports of their feasible solutions is the answer. M defaults to the identity; small N only.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    n = a.size
    M = np.eye(n) if M is None else np.asarray(M, dtype=np.float64)
    if M.shape != (n, n):
        raise ValueError(f"M must have shape ({n}, {n}), got {M.shape}")
    if n > 16:
        raise ValueError(f"support enumeration is for small N (≤ 16), got N = {n}")
    Ma = M @ a
    best = float(a @ Ma)                                                  # x = 0
    for mask in range(1, 2**n):
        S = [i for i in range(n) if mask >> i & 1]
        xS = np.linalg.solve(M[np.ix_(S, S)], Ma[S])
        for sign in (1.0, -1.0):
            if np.all(sign * xS >= 0):
                x = np.zeros(n)
                x[S] = xS
                best = min(best, float((x - a) @ M @ (x - a)))
    return best


# ---- drawing ---------------------------------------------------------------------------------------

def angle_axis(ax):
    """Format the x axis as the token angle θ ∈ [0, 2π] with ticks at multiples of π/2."""
    ax.set_xlim(0, 2 * np.pi)
    ax.set_xticks([0, np.pi / 2, np.pi, 3 * np.pi / 2, 2 * np.pi], ["0", r"$\pi/2$", r"$\pi$", r"$3\pi/2$", r"$2\pi$"])
    ax.set_xlabel(r"angle $\theta$ of the token")
    return ax


_LABELS = {"m_tau": r"ridge, penalty $m\tau$ (transformer's limit)",
           "N_tau": r"ridge, penalty $N\tau$ (best predictor)",
           "zero": "least squares (penalty 0)"}
_COLORS = {"m_tau": COLORS["ridge"], "N_tau": COLORS["best"], "zero": COLORS["grey"]}


def draw_tokens(ax, ex: CircleExample):
    """The dictionary on the unit circle: prompt tokens filled, unseen tokens hollow."""
    c = np.linspace(0, 2 * np.pi, 200)
    ax.plot(np.cos(c), np.sin(c), color=COLORS["grey"], lw=0.8)
    V, N = ex.problem.V, ex.N
    ax.plot(V[0, N:], V[1, N:], "o", mfc="white", mec=COLORS["grey"], ms=5, label=f"unseen tokens ({ex.problem.K - N})")
    ax.plot(V[0, :N], V[1, :N], "o", color=COLORS["data"], ms=6, label=f"prompt tokens (N = {N})")
    ax.set_aspect("equal")
    ax.set_xlim(-1.25, 1.25)
    ax.set_ylim(-1.25, 1.6)
    ax.set_xlabel(r"$v_1 = \cos\theta$")
    ax.set_ylabel(r"$v_2 = \sin\theta$")
    ax.legend(loc="upper center", ncol=1)
    return ax


def draw_templates(ax, ex: CircleExample, *, legend: bool = True, unseen: bool = True, title: str | None = None):
    """Template λᵀf over the angle, the N prompt labels, the unseen tokens' labels (hollow) and the ridge curves."""
    N = ex.N
    ax.plot(ex.grid, ex.template, color="black", lw=1.2, label=r"template $\lambda^\top f(\theta)$")
    for name, (reg, curve) in ex.curves.items():
        label = _LABELS[name] if name in _LABELS else f"ridge, penalty {reg:.3g}"
        ax.plot(ex.grid, curve, color=_COLORS.get(name, COLORS["model"]), lw=1.6,
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
                 height: float = 3.9):
    """Chapter 1's picture of one circle example: the dictionary on the circle (left, :func:`draw_tokens`)
    and the template, the labels and the ridge curve over the angle (right, :func:`draw_templates`): the
    paper's setting (§2, eq. 1) with the ridge template of eq. (20).

    The one drawing of chapter 1's explorer. The live widget (sliders for N, m and τ) calls it at every
    slider position, and its static companions in the HTML book call it at fixed values: the chapter's
    first figure (the sliders' defaults) and every frame of :func:`prompt_growth_animation`. So the
    live and the static pictures cannot drift apart.

    ``axes``: a pair (tokens, templates) of axes to draw into (cleared first); by default a new figure of
    ``width`` × ``height`` inches. ``ylim``: fixed y-limits of the right panel (frames of an animation
    share them); ``title`` goes above the right panel. Returns the figure.
    """
    if axes is None:
        use_book_style()
        fig, axes = plt.subplots(1, 2, figsize=(width, height), gridspec_kw={"width_ratios": [1, 2.1]})
    ax_tok, ax_tpl = axes
    ax_tok.clear()
    ax_tpl.clear()
    draw_tokens(ax_tok, ex)
    draw_templates(ax_tpl, ex, title=title)
    ax_tpl.set_ylabel("label")
    if ylim is not None:
        ax_tpl.set_ylim(*ylim)
    return ax_tpl.figure


def small_multiples(examples, *, row_labels=None, col_labels=None, width: float = 9.0, height: float = 6.5):
    """A grid of :func:`draw_templates` panels; ``examples`` is a list of rows of :class:`CircleExample`.

    Each panel is titled with its (N, m, τ); one shared legend goes below the grid. Returns the figure.
    """
    use_book_style()
    nr, nc = len(examples), len(examples[0])
    fig, axes = plt.subplots(nr, nc, figsize=(width, height), sharex=True, squeeze=False)
    for i, row in enumerate(examples):
        for j, ex in enumerate(row):
            ax = axes[i, j]
            draw_templates(ax, ex, legend=False, title=f"N = {ex.N}, m = {ex.m}, τ = {ex.tau:g}")
            if j:
                ax.tick_params(labelleft=True)
            if i < nr - 1:
                ax.set_xlabel("")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, [lb.split(" (N =")[0] for lb in labels], loc="outside lower center", ncol=min(len(labels), 4))
    return fig


def prompt_growth_animation(Ns, m: int, tau: float, *, width: float = 9.5, height: float = 3.9, interval: int = 700,
                            **kw) -> FuncAnimation:
    """Frames of :func:`draw_explore` (the picture of chapter 1's live widget) for the prompt lengths ``Ns``
    (one :func:`circle_example` each, same tokens, task and noise; ``kw`` goes to :func:`circle_example`).
    The y-limits of the right panel are shared by all frames.

    The figure is closed after the animation is built, so a notebook shows only the animation. Turn it into
    a slider with :func:`animation_html`.
    """
    exs = [circle_example(int(N), m, tau, **kw) for N in Ns]
    lo = min(min(e.y.min(), e.template.min(), *(c.min() for _, c in e.curves.values())) for e in exs)
    hi = max(max(e.y.max(), e.template.max(), *(c.max() for _, c in e.curves.values())) for e in exs)
    pad = 0.08 * (hi - lo)
    ylim = (lo - pad, hi + pad)

    def title(e):
        return f"prompt length N = {e.N}   (m = {e.m}, τ = {e.tau:g})"

    fig = draw_explore(exs[0], width=width, height=height, ylim=ylim, title=title(exs[0]))

    def frame(i):
        draw_explore(exs[i], fig.axes, ylim=ylim, title=title(exs[i]))
        return ()

    anim = FuncAnimation(fig, frame, frames=len(exs), interval=interval, blit=False)
    plt.close(fig)
    return anim


def animation_html(anim: FuncAnimation, *, name: str, dpi: int = 80, default_mode: str = "once") -> str:
    """``anim.to_jshtml()`` at ``dpi``, with matplotlib's random element id replaced by one derived from
    ``name`` (unique per page), so the stored HTML is the same on every run (strict nbval compares it).
    """
    with plt.rc_context({"savefig.dpi": dpi}):
        html = anim.to_jshtml(default_mode=default_mode)
    found = re.search(r'id="_anim_img([0-9a-f]{32})"', html)
    if found is None:
        raise RuntimeError("unexpected to_jshtml output: no _anim_img id found")
    return html.replace(found.group(1), hashlib.md5(name.encode()).hexdigest())

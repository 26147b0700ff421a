"""Figure 4 of the paper: training loss of the one-layer model for several numbers of heads H (§4, §3.3).

The paper trains the one-layer multi-head model of eq. (8) with Adam (learning rate 1e-4, batches of 256
prompts from 10 000 training prompts) at N = 30, K = 200, d = 100, m = 20, and reports (§4, "Impact of the
number of attention heads"): for H < N = 30 the loss stops descending far from its minimum, at H = 30 it
keeps descending slowly, and H = 400 is unstable and diverges. The paper does not state τ, the number of
iterations or the H grid; here τ = 0.1 (as for Figure 2(a)) and the grid is
:data:`H_GRID`. The curves are the exact population loss (Lemma 5) minus L⋆, recorded every
``record_every`` Adam steps. Chapter ``book/ch09_heads`` plots the cached result ``book/data/fig4.json``.

Presets (:func:`iclbook.experiments.config`): ``"paper"`` (:data:`PAPER`, tens of minutes on two
cores: a step at H = 400 costs about 0.1 s) and ``"quick"`` (a small problem, a few seconds).
Each H is an independent run (:func:`run_one`).
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from ..convergence import delta0, w_smoothness
from ..problem import make_problem
from ..training import train_adam
from .configuration import Config, config as _config
from .results import json_array, json_list

__all__ = ["H_GRID", "PAPER", "PRESETS", "TOKENS", "FIGSIZE", "run", "run_one", "units", "assemble", "plot"]

#: The numbers of heads of the full figure: below N = 30, at N, and up to the paper's H = 400.
H_GRID = (10, 20, 30, 64, 128, 400)

#: The full figure: the paper's sizes and Adam protocol (§4); τ = 0.1 is the book's choice (the paper's
#: τ is unknown).
PAPER = dict(K=200, N=30, d=100, m=20, tau=0.1, H_grid=list(H_GRID), steps=6000, record_every=50,
             lr=1e-4, batch=256, n_train=10_000)

#: The named configurations: the paper's, and a smoke test (a small problem, a larger learning rate, a
#: few hundred steps).
PRESETS = {"paper": PAPER,
           "quick": dict(K=40, N=6, d=8, m=4, tau=0.1, H_grid=[3, 6, 24], steps=300, record_every=25,
                         lr=1e-2, batch=32, n_train=500)}

#: Token protocols implemented: unit-norm tokens (the theory's setting).
TOKENS = ("unit",)

#: The size (inches) of the figure :func:`plot` draws when given none.
FIGSIZE = (6.4, 3.8)


def run_one(config: Config, H: int, *, progress: bool = False) -> dict:
    """Train one H with the configuration ``config`` (a :class:`~iclbook.experiments.Config` of this
    figure; its ``H_grid`` is not read); returns its curves.

    A run with fewer ``steps`` and the same seed follows the same trajectory (the same initialization,
    training set and batches), so its records are the first records of the long run. Warnings raised by
    :func:`iclbook.training.train_adam` (H < N; :class:`iclbook.TrainingDiverged`) are caught and
    returned under ``"warnings"``.
    """
    cfg, seed = config, config.seed
    prob = make_problem(cfg["K"], cfg["N"], cfg["d"], cfg["m"], cfg["tau"], seed=seed)
    n_steps = int(cfg["steps"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = train_adam(prob, int(H), steps=n_steps, seed=seed, lr=cfg["lr"], batch=cfg["batch"],
                  n_train=cfg["n_train"], record_every=cfg["record_every"], progress=progress)
    return {
        "H": int(H),
        "step": [int(s) for s in h.step],
        "loss": json_list(h.loss),
        "gap": json_list(h.gap),
        "train_loss": json_list(h.train_loss),
        "zeta": json_list(h.zeta),
        "q_move": json_list(h.q_move),
        "alpha_max": json_list(h.alpha_max),
        "zeta0": float(h.zeta0),
        "smoothness0": float(w_smoothness(prob, h.Q0)),
        "diverged": bool(h.diverged),
        "message": h.message,
        "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        "steps_done": int(h.steps_done),
        "seconds": float(h.seconds),
    }


def run(config: Config | None = None, *, progress: bool = False) -> dict:
    """Figure 4 (§4; chapter ``book/ch09_heads``): train the one-layer model (eq. 8) with Adam for every
    H of the grid; returns the curves (JSON-serialisable).

    ``config``: a :class:`~iclbook.experiments.Config` of this figure (default: the paper preset).
    Keys: ``config`` (sizes, protocol, H grid), ``seed``, ``quick``, ``L_star``, ``delta0`` (the gap at
    w = 0), ``runs`` (one dict per H, see :func:`run_one`).
    """
    c = config if config is not None else _config("fig4")
    t0 = time.perf_counter()
    runs = [run_one(c, H, progress=progress) for H in c["H_grid"]]
    return assemble(c, runs, seconds=time.perf_counter() - t0)


def units(config: Config) -> list[dict]:
    """The independent runs of one seed of the figure, as keyword arguments of :func:`run_one`: one per H."""
    return [{"H": int(H)} for H in config["H_grid"]]


def assemble(config: Config, runs: list, *, seconds: float) -> dict:
    """The figure's data for one seed from its runs (:func:`run_one` for every H of the grid, in order)."""
    c = config
    cfg, seed = c.as_dict(), c.seed
    prob = make_problem(cfg["K"], cfg["N"], cfg["d"], cfg["m"], cfg["tau"], seed=seed)
    return {
        "figure": "fig4",
        "config": cfg,
        "seed": int(seed),
        "quick": c.preset == "quick",
        "L_star": float(prob.L_star),
        "delta0": float(delta0(prob)),
        "runs": runs,
        "seconds": float(seconds),
    }


def plot(data: dict, fig=None):
    """Draw the population gap L(θ_t) − L⋆ against the Adam step for every H (the paper's Figure 4)."""
    import matplotlib

    from ..plotting import COLORS, figure_or_new

    fig = figure_or_new(fig, FIGSIZE)
    ax = fig.axes[0] if fig.axes else fig.add_subplot(111)
    cfg = data["config"]
    N = cfg["N"]
    runs = sorted(data["runs"], key=lambda r: r["H"])
    cmap = matplotlib.colormaps["viridis"]
    for i, r in enumerate(runs):
        col = cmap(i / max(1, len(runs) - 1) * 0.9)
        gap = json_array(r["gap"])
        rel = "<" if r["H"] < N else ("=" if r["H"] == N else ">")
        lab = f"H = {r['H']} ({rel} N)"
        if r["diverged"]:
            lab += ", diverged"
        ax.semilogy(r["step"], np.maximum(gap, 1e-300), color=col, label=lab)
        if r["diverged"]:
            ax.plot(r["step"][-1], gap[-1], "x", color=COLORS["theory"], ms=8)
    ax.set_xlabel("Adam step")
    ax.set_ylabel(r"$L(\theta_t) - L^\star$")
    ax.set_title(f"N = {N}, K = {cfg['K']}, d = {cfg['d']}, m = {cfg['m']}, τ = {cfg['tau']:g}; "
                 f"Adam lr {cfg['lr']:g}, batch {cfg['batch']}")
    ax.legend(ncol=2)
    return fig

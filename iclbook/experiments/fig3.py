"""Figure 3: the gap (1/K)‖ŷ⋆ − ŷ_best‖² between the trained transformer's limit and the "best" predictor, vs N (§4).

ŷ⋆ is ridge regression over the basis with penalty mτ (Theorem 2, eq. 20), ŷ_best the same with penalty Nτ
(eq. 25, Lemma 4). The paper's setting (§4): N from 50 to 150, m = 100, τ = 0.01; K = 200 and Gaussian tokens
and features as in Figure 2 (presumably). The figure involves ridge regression only: no training.

Computation: one eigendecomposition of ZZᵀ per (dictionary, N) gives both ridge predictors and the exact
expectations in closed form (see ``_one_length``); the unit tests check it against :func:`iclbook.ridge_predict`
and the Lemma 5 form :func:`iclbook.ridge.expected_unseen_error`.

Besides the paper's gap, the run records what a user of the predictor cares about: the mean squared error
of both predictors on the K − N unseen tokens against their (noisy) labels, in-domain (λ ~ N(0, I)) and
out-of-domain (λ ~ N(1, 4I)), and the exact in-domain expectations of the gap and of both errors (Lemma 5).
Chapter 11 (``book/ch11_prompt_length``) runs it live. Presets (:func:`iclbook.experiments.config`):
``"paper"`` (:data:`PAPER`) and ``"quick"`` (a coarse grid and 3 dictionaries, a smoke test).
"""
from __future__ import annotations

import numpy as np

from ..problem import make_problem, sample_prompts
from .configuration import Config, config as _config

__all__ = ["PAPER", "PRESETS", "TOKENS", "FIGSIZE", "run", "plot", "summary"]

#: The paper's setting (N grid, m, τ) plus the book's: 20 random dictionaries × 100 prompts of each kind.
PAPER = dict(K=200, m=100, d=100, tau=0.01, N_min=50, N_max=150, N_step=5, n_dicts=20, n_prompts=100,
             ood_mean=1.0, ood_std=2.0)

#: The named configurations: the paper's, and a smoke test (coarse grid, 3 dictionaries).
PRESETS = {"paper": PAPER, "quick": dict(PAPER, N_step=25, n_dicts=3, n_prompts=50)}

#: Token protocols implemented: unit-norm tokens (the theory's setting).
TOKENS = ("unit",)

#: The size (inches) of the figure :func:`plot` draws when given none.
FIGSIZE = (9.0, 3.6)


def run(config: Config | None = None, *, progress: bool = False) -> dict:
    """Figure 3 (§4; chapter ``book/ch11_prompt_length``): for each dictionary i (tokens and features
    from ``make_problem(..., seed=10_000*seed + i)``) and each N, the mean over prompts of the gap
    (1/K)‖ŷ⋆ − ŷ_best‖² (eqs. 20, 25) and of both predictors' errors on the unseen tokens, plus exact
    in-domain expectations (Lemma 5). Arrays are lists of shape (n_dicts, len(N)).

    ``config``: a :class:`~iclbook.experiments.Config` of this figure (default: the paper preset)."""
    cfg = config if config is not None else _config("fig3")
    c, seed = cfg.as_dict(), cfg.seed
    Ns = list(range(c["N_min"], c["N_max"] + 1, c["N_step"]))
    K, m, tau = c["K"], c["m"], c["tau"]
    keys = ("gap", "gap_exact", "err_star", "err_best", "err_star_exact", "err_best_exact",
            "err_star_ood", "err_best_ood")
    out = {k: np.zeros((c["n_dicts"], len(Ns))) for k in keys}
    it = range(c["n_dicts"])
    if progress:
        from tqdm.auto import tqdm
        it = tqdm(it, desc="fig3 dictionaries", leave=False)
    for i in it:
        base = make_problem(K, Ns[0], c["d"], m, tau, seed=10_000 * seed + i)
        rng = np.random.default_rng([seed, i, 1])
        _, y = sample_prompts(base, c["n_prompts"], rng=rng)            # all K labels; independent of N
        _, yo = sample_prompts(base, c["n_prompts"], rng=rng, lam_mean=c["ood_mean"],
                               lam_std=c["ood_std"])
        Zt = base.Zt
        for j, N in enumerate(Ns):
            row = _one_length(Zt, N, m * tau, N * tau, tau * m, y, yo)
            for k in keys:
                out[k][i, j] = row[k]
    return {"figure": "fig3",
            "config": {**c, "seed": int(seed), "quick": cfg.preset == "quick"}, "N": Ns,
            **{k: v.tolist() for k, v in out.items()}}


def _one_length(Zt, N, r_star, r_best, mtau, y, yo) -> dict:
    """All quantities of one (dictionary, N) from one eigendecomposition ZZᵀ = U diag(s) Uᵀ.

    With R = Uᵀ Z_Q and P = Uᵀ Z, ridge with penalty r predicts the unseen tokens as (y Pᵀ) diag(1/(s + r)) R
    (eq. 20/25), and Lemma 5 gives its exact in-domain expected error on token k > N as
    Σ_j R_jk² (r² + mτ s_j)/(s_j + r)² + mτ; the exact expected gap is (1/K) Σ_{k>N} Σ_j (s_j² + mτ s_j) δ_j² R_jk²
    with δ_j = 1/(s_j + r_best) − 1/(s_j + r_star). ``tests/test_part4.py`` checks all of them against
    :func:`iclbook.ridge_predict` and :func:`iclbook.ridge.expected_unseen_error`.
    """
    K = Zt.shape[1]
    Z, ZQ = Zt[:, :N], Zt[:, N:]
    s, U = np.linalg.eigh(Z @ Z.T)
    s = np.maximum(s, 0.0)
    R = U.T @ ZQ                                                         # (m, K − N)
    R2 = R**2
    W, Wo = y[:, :N] @ (Z.T @ U), yo[:, :N] @ (Z.T @ U)                # y Pᵀ, (n, m)
    ds, db = 1.0 / (s + r_star), 1.0 / (s + r_best)
    ys, yb = (W * ds) @ R, (W * db) @ R                                 # predictions of the unseen tokens
    yos, yob = (Wo * ds) @ R, (Wo * db) @ R
    t_in, t_ood = y[:, N:], yo[:, N:]
    risk = lambda r: float(np.mean(((r**2 + mtau * s) / (s + r) ** 2) @ R2) + mtau)
    return {
        "gap": float(np.mean(np.sum((ys - yb) ** 2, axis=1)) / K),
        "gap_exact": float(np.sum(((s**2 + mtau * s) * (db - ds) ** 2) @ R2) / K),
        "err_star": float(np.mean((ys - t_in) ** 2)),
        "err_best": float(np.mean((yb - t_in) ** 2)),
        "err_star_exact": risk(r_star),
        "err_best_exact": risk(r_best),
        "err_star_ood": float(np.mean((yos - t_ood) ** 2)),
        "err_best_ood": float(np.mean((yob - t_ood) ** 2)),
    }


def summary(data: dict) -> dict:
    """Mean and standard deviation over dictionaries of every recorded quantity, as numpy arrays over N."""
    res = {"N": np.asarray(data["N"])}
    for k in ("gap", "gap_exact", "err_star", "err_best", "err_star_exact", "err_best_exact",
              "err_star_ood", "err_best_ood"):
        a = np.asarray(data[k])
        res[k] = a.mean(axis=0)
        res[k + "_sd"] = a.std(axis=0)
    return res


def plot(data: dict, fig=None):
    """Left: the gap of Figure 3 vs N (mean over dictionaries, band ± one standard deviation, and its exact
    expectation). Right: the in-domain error on the unseen tokens of both predictors, relative to ŷ⋆."""
    from ..plotting import COLORS, figure_or_new

    fig = figure_or_new(fig, FIGSIZE)
    ax1, ax2 = fig.subplots(1, 2)
    s = summary(data)
    N, m = s["N"], data["config"]["m"]
    ax1.fill_between(N, s["gap"] - s["gap_sd"], s["gap"] + s["gap_sd"], color=COLORS["model"], alpha=0.2,
                     lw=0, label="± 1 sd over dictionaries")
    ax1.plot(N, s["gap"], "o-", ms=3, color=COLORS["model"], label="measured (mean over prompts)")
    ax1.plot(N, s["gap_exact"], "--", color=COLORS["theory"],
             label=r"exact expectation $\frac{1}{K}\|\bar Z(A_{N\tau}-A)\|_F^2$")
    ax1.axvline(m, color=COLORS["grey"], lw=0.8, ls=":")
    ax1.set_xlabel("prompt length N")
    ax1.set_ylabel(r"$\frac{1}{K}\|\hat y^\star - \hat y_{\rm best}\|^2$")
    ax1.set_title(f"Figure 3: m = {m}, τ = {data['config']['tau']:g}, K = {data['config']['K']}")
    ax1.legend()
    rel = np.asarray(data["err_best"]) / np.asarray(data["err_star"]) - 1.0
    rel_ood = np.asarray(data["err_best_ood"]) / np.asarray(data["err_star_ood"]) - 1.0
    ax2.axhline(0.0, color=COLORS["ridge"], label=r"$\hat y^\star$ (penalty $m\tau$), reference")
    ax2.fill_between(N, 100 * (rel.mean(0) - rel.std(0)), 100 * (rel.mean(0) + rel.std(0)), color=COLORS["best"],
                     alpha=0.2, lw=0)
    ax2.plot(N, 100 * rel.mean(0), "o-", ms=3, color=COLORS["best"],
             label=r"$\hat y_{\rm best}$ (penalty $N\tau$), in-domain")
    ex = 100 * (s["err_best_exact"] / s["err_star_exact"] - 1.0)
    ax2.plot(N, ex, "--", color=COLORS["theory"], label="exact in-domain expectation")
    ax2.plot(N, 100 * rel_ood.mean(0), "s-", ms=3, color=COLORS["ood"], label=r"$\hat y_{\rm best}$, out-of-domain")
    ax2.axvline(m, color=COLORS["grey"], lw=0.8, ls=":")
    ax2.set_xlabel("prompt length N")
    ax2.set_ylabel("error on unseen tokens vs $\\hat y^\\star$ (%)")
    ax2.legend()
    return fig

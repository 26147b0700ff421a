"""Figure 3: the gap (1/K)‖ŷ⋆ − ŷ_best‖² between the trained transformer's limit and the "best" predictor, vs N (§4).

ŷ⋆ is ridge regression over the basis with penalty mτ (Theorem 2, eq. 20), ŷ_best the same with penalty Nτ
(eq. 25, Lemma 4). The paper's setting (§4): N from 50 to 150, m = 100, τ = 0.01; K = 200 and Gaussian
features as in Figure 2 (presumably). The figure involves ridge regression only: no training.

Tokens do not enter Figure 3: both predictors depend only on the features Z = f(v_1..v_N), the unseen
features f(v_k) and the labels, and ``make_problem`` draws the Gaussian features independently of the
tokens (normalised or not, the same features come out). So the token protocol is irrelevant here and
:data:`TOKENS` lists only the default.

Two views of the gap (chapter 11). Both predictors copy the N prompt labels, so only the K − N unseen
tokens differ and the paper's plotted quantity (1/K)Σ_k carries a factor (K − N)/K that shrinks with N
for a reason unrelated to m versus N. The run records, per dictionary and N:

- the paper's quantity (1/K)‖ŷ⋆ − ŷ_best‖² at the paper's K (``gap``, ``gap_exact``) and at the book's
  larger K (``K_book``, default 1,000: ``gap_book``, ``gap_book_exact``), the book's choice, labelled so;
- the same per unseen token, (1/(K − N))Σ_{k>N} (``gap_token``, ``gap_token_exact``, ``gap_book_token``,
  ``gap_book_token_exact``), and its expectation over a fresh Gaussian unseen feature (``gap_fresh``,
  the K → ∞ view, :func:`iclbook.ridge.expected_gap_per_token` with ``fresh=True``), whose limit as
  N → ∞ is mτ²/(1 + τ)² (:func:`iclbook.ridge.best_gap_limit`).

The book's K = 1,000 dictionary is the paper's K = 200 one with 800 more unseen features appended, so at
each N both share the prompt and its labels and differ only in how many unseen tokens are averaged.
"_exact" entries are exact expectations over in-domain tasks λ ~ N(0, I) and the noise (Lemma 5); the
others are means over ``n_prompts`` sampled prompts.

Computation: one eigendecomposition of ZZᵀ per (dictionary, N) gives both ridge predictors and the exact
expectations in closed form (see ``_one_length``); the unit tests check it against :func:`iclbook.ridge_predict`
and the Lemma 5 form :func:`iclbook.ridge.expected_unseen_error`.

Besides the paper's gap, the run records what a user of the predictor cares about: the mean squared error
of both predictors on the K − N unseen tokens against their (noisy) labels, in-domain (λ ~ N(0, I)) and
out-of-domain (λ ~ N(1, 4I)), and the exact in-domain expectations of the gap and of both errors (Lemma 5).
Chapter 11 (``book/ch11_prompt_length``) runs it live. Presets (:func:`iclbook.experiments.config`):
``"paper"`` (:data:`PAPER`) and ``"quick"`` (a coarse grid and 5 dictionaries, a smoke test).
"""
from __future__ import annotations

import numpy as np

from ..problem import make_problem, sample_prompts
from ..ridge import best_gap_limit, gap_weights
from .configuration import Config, config as _config

__all__ = ["PAPER", "PRESETS", "TOKENS", "FIGSIZE", "KEYS", "run", "plot", "summary"]

#: The paper's setting (N grid, m, τ, K = 200) plus the book's: K_book = 1,000 (a second view),
#: 20 random dictionaries × 100 prompts of each kind.
PAPER = dict(K=200, K_book=1000, m=100, d=100, tau=0.01, N_min=50, N_max=150, N_step=5, n_dicts=20,
             n_prompts=100, ood_mean=1.0, ood_std=2.0)

#: The named configurations: the paper's, and a smoke test (coarse grid, 5 dictionaries).
PRESETS = {"paper": PAPER, "quick": dict(PAPER, N_step=25, n_dicts=5, n_prompts=50)}

#: Token protocols implemented: unit-norm tokens (the theory's setting). Tokens do not enter Figure 3.
TOKENS = ("unit",)

#: The size (inches) of the figure :func:`plot` draws when given none.
FIGSIZE = (4.0, 13.0)    # plotting.PHONE_WIDTH: four panels, one per row

#: The quantities :func:`run` records, each of shape (n_dicts, len(N)).
KEYS = ("gap", "gap_exact", "gap_token", "gap_token_exact", "gap_book", "gap_book_exact",
        "gap_book_token", "gap_book_token_exact", "gap_fresh", "err_star", "err_best",
        "err_star_exact", "err_best_exact", "err_star_ood", "err_best_ood")


def run(config: Config | None = None, *, progress: bool = False) -> dict:
    """Figure 3 (§4; chapter ``book/ch11_prompt_length``): for each dictionary i (tokens and features
    from ``make_problem(..., seed=10_000*seed + i)``, and for the book's K_book the K_book − K further
    unseen features from ``default_rng([seed, i, 2])``) and each N, the mean over prompts of the gap
    (1/K)‖ŷ⋆ − ŷ_best‖² (eqs. 20, 25), per unseen token and at both K, of both predictors' errors on the
    unseen tokens, plus exact in-domain expectations (Lemma 5). Arrays (:data:`KEYS`) are lists of
    shape (n_dicts, len(N)).

    ``config``: a :class:`~iclbook.experiments.Config` of this figure (default: the paper preset)."""
    cfg = config if config is not None else _config("fig3")
    c, seed = cfg.as_dict(), cfg.seed
    Ns = list(range(c["N_min"], c["N_max"] + 1, c["N_step"]))
    K, Kb, m, tau = c["K"], c["K_book"], c["m"], c["tau"]
    if not Ns[-1] < K <= Kb:
        raise ValueError(f"need N_max < K ≤ K_book, got N_max = {Ns[-1]}, K = {K}, K_book = {Kb}")
    out = {k: np.zeros((c["n_dicts"], len(Ns))) for k in KEYS}
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
        extra = np.random.default_rng([seed, i, 2]).standard_normal((m, Kb - K))
        for j, N in enumerate(Ns):
            row = _one_length(base.Zt, N, m * tau, N * tau, tau * m, y, yo, extra=extra)
            for k in KEYS:
                out[k][i, j] = row[k]
    return {"figure": "fig3",
            "config": {**c, "seed": int(seed), "quick": cfg.preset == "quick"}, "N": Ns,
            **{k: v.tolist() for k, v in out.items()}}


def _one_length(Zt, N, r_star, r_best, mtau, y, yo, *, extra=None) -> dict:
    """All quantities of one (dictionary, N) from one eigendecomposition ZZᵀ = U diag(s) Uᵀ.

    With R = Uᵀ Z_Q and P = Uᵀ Z, ridge with penalty r predicts the unseen tokens as (y Pᵀ) diag(1/(s + r)) R
    (eq. 20/25), and Lemma 5 gives its exact in-domain expected error on token k > N as
    Σ_j R_jk² (r² + mτ s_j)/(s_j + r)² + mτ; the exact expected gap is (1/K) Σ_{k>N} Σ_j w_j R_jk²
    with w = :func:`iclbook.ridge.gap_weights` (derived in :func:`iclbook.ridge.expected_gap_per_token`).
    ``extra`` (m, K_book − K): further unseen features for the book's K_book (the ``gap_book*`` entries;
    without it they equal the K ones). ``tests/test_part4.py`` checks all of them against
    :func:`iclbook.ridge_predict`, :func:`iclbook.ridge.expected_unseen_error` and a transcription.
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
    w = gap_weights(s, r_star, r_best, mtau)
    sq, sq_exact = np.mean(np.sum((ys - yb) ** 2, axis=1)), np.sum(w @ R2)   # sums over k > N
    if extra is not None and np.shape(extra)[1] > 0:
        Rx = U.T @ extra
        sq_b = sq + np.mean(np.sum(((W * (ds - db)) @ Rx) ** 2, axis=1))
        sq_b_exact, Kb = sq_exact + np.sum(w @ Rx**2), K + Rx.shape[1]
    else:
        sq_b, sq_b_exact, Kb = sq, sq_exact, K
    return {
        "gap": float(sq / K),
        "gap_exact": float(sq_exact / K),
        "gap_token": float(sq / (K - N)),
        "gap_token_exact": float(sq_exact / (K - N)),
        "gap_book": float(sq_b / Kb),
        "gap_book_exact": float(sq_b_exact / Kb),
        "gap_book_token": float(sq_b / (Kb - N)),
        "gap_book_token_exact": float(sq_b_exact / (Kb - N)),
        "gap_fresh": float(np.sum(w)),
        "err_star": float(np.mean((ys - t_in) ** 2)),
        "err_best": float(np.mean((yb - t_in) ** 2)),
        "err_star_exact": risk(r_star),
        "err_best_exact": risk(r_best),
        "err_star_ood": float(np.mean((yos - t_ood) ** 2)),
        "err_best_ood": float(np.mean((yob - t_ood) ** 2)),
    }


def summary(data: dict) -> dict:
    """Over dictionaries, for every recorded quantity (:data:`KEYS`) as numpy arrays over N: the mean
    (under its own name), the standard deviation (``_sd``), the median (``_med``), the minimum (``_min``)
    and the maximum (``_max``); and ``"limit"``, mτ²/(1 + τ)² (:func:`iclbook.ridge.best_gap_limit`)."""
    res = {"N": np.asarray(data["N"]),
           "limit": best_gap_limit(data["config"]["m"], data["config"]["tau"])}
    for k in KEYS:
        a = np.asarray(data[k])
        res[k], res[k + "_sd"], res[k + "_med"] = a.mean(axis=0), a.std(axis=0), np.median(a, axis=0)
        res[k + "_min"], res[k + "_max"] = a.min(axis=0), a.max(axis=0)
    return res


def _band(ax, s, N, key, color, label, marker=None):
    """Median over dictionaries of the exact expectation ``key`` with its min–max band, and (``marker``)
    the median of the Monte Carlo mean over prompts."""
    ax.fill_between(N, s[key + "_exact_min"], s[key + "_exact_max"], color=color, alpha=0.18, lw=0)
    ax.plot(N, s[key + "_exact_med"], "-", color=color, label=label)
    if marker:
        ax.plot(N, s[key + "_med"], marker, ms=3, color=color, mfc="none", ls="none")


def plot(data: dict, fig=None):
    """Four panels over N, one per row. First, the paper's protocol: (1/K)‖ŷ⋆ − ŷ_best‖² at K = 200. Second,
    the book's K_book: the same quantity. Third, the book's view: per unseen token at both K, the
    K → ∞ expectation and the limit mτ²/(1 + τ)². Lines: medians over dictionaries of the exact in-domain
    expectation; bands: min–max over dictionaries; circles: median of the Monte Carlo means over prompts.
    Fourth: the in-domain and out-of-domain error on the unseen tokens of ŷ_best relative to ŷ⋆."""
    from ..plotting import COLORS, figure_or_new

    fig = figure_or_new(fig, FIGSIZE)
    ax1, ax2, ax3, ax4 = fig.subplots(4, 1, sharex=True)
    s = summary(data)
    cfg = data["config"]
    N, m, K, Kb = s["N"], cfg["m"], cfg["K"], cfg["K_book"]
    nd = np.asarray(data["gap"]).shape[0]
    for ax, key, col, title in ((ax1, "gap", COLORS["model"], f"the paper's protocol: K = {K}"),
                                (ax2, "gap_book", COLORS["data"], f"the book's choice: K = {Kb}")):
        _band(ax, s, N, key, col, f"median and range, {nd} dictionaries", "o")
        ax.plot([], [], "o", ms=3, mfc="none", color=col, label="Monte Carlo (median)")
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel(r"$\|\hat y^\star - \hat y_{\rm best}\|^2/K$")
    _band(ax3, s, N, "gap_token", COLORS["model"], f"K = {K}")
    _band(ax3, s, N, "gap_book_token", COLORS["data"], f"K = {Kb}")
    ax3.plot(N, s["gap_fresh_med"], ":", color=COLORS["theory"], label=r"$K\to\infty$")
    ax3.axhline(s["limit"], ls="--", color=COLORS["grey"], label=r"$N\to\infty$: $m\tau^2/(1+\tau)^2$")
    ax3.set_title("the book's view: per unseen token", fontsize="medium")
    ax3.set_ylabel(r"$\|\hat y^\star - \hat y_{\rm best}\|^2/(K-N)$")
    top = 1.45 * max(s[k + "_exact_max"].max() for k in ("gap", "gap_book", "gap_token", "gap_book_token"))
    for ax in (ax1, ax2, ax3):                  # one vertical scale: the factor (K − N)/K shows
        ax.axvline(m, color=COLORS["grey"], lw=0.8, ls=":")
        ax.set_ylim(0, top)
        ax.legend(loc="upper center", ncol=2 if ax is ax3 else 1)
    rel = 100 * (np.asarray(data["err_best"]) / np.asarray(data["err_star"]) - 1.0)
    rel_ood = 100 * (np.asarray(data["err_best_ood"]) / np.asarray(data["err_star_ood"]) - 1.0)
    rel_ex = 100 * (np.asarray(data["err_best_exact"]) / np.asarray(data["err_star_exact"]) - 1.0)
    ax4.axhline(0.0, color=COLORS["ridge"], label=r"$\hat y^\star$ (penalty $m\tau$)")
    ax4.fill_between(N, rel_ex.min(0), rel_ex.max(0), color=COLORS["best"], alpha=0.18, lw=0)
    ax4.plot(N, np.median(rel_ex, 0), "-", color=COLORS["best"],
             label=r"$\hat y_{\rm best}$ ($N\tau$), in-domain, exact")
    ax4.plot(N, np.median(rel, 0), "o", ms=3, mfc="none", color=COLORS["best"], label="in-domain, Monte Carlo")
    ax4.plot(N, np.median(rel_ood, 0), "s-", ms=3, color=COLORS["ood"],
             label=r"$\hat y_{\rm best}$, out-of-domain")
    ax4.axvline(m, color=COLORS["grey"], lw=0.8, ls=":")
    ax4.set_title(f"error on the unseen tokens, K = {K}", fontsize="medium")
    ax4.set_ylabel("relative to $\\hat y^\\star$ (%)")
    ax4.set_ylim(top=1.4 * ax4.get_ylim()[1])
    ax4.legend(loc="upper left")
    ax4.set_xlabel("prompt length N")
    return fig

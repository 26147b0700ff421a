"""Figure 2(a): training loss and in-domain / out-of-domain inference losses of the one-layer model (§4).

The paper's protocol (§4): N = 30, K = 200, d = 100, m = 20, H = 64; Q(0) standard Gaussian, w(0) = 0; Adam
(lr 1e-4), batches of 256 from 10 000 training prompts with λ ~ N(0, I_m); 200 in-domain test prompts
(λ ~ N(0, I_m)) and 200 out-of-domain ones (λ ~ N(1_m, 4 I_m)); inference loss (1/K)‖ŷ − ŷ⋆‖², averaged over
the test prompts, with ŷ⋆ the ridge prediction of penalty mτ (Theorem 2, eq. 20).

Not stated by the paper: τ (we use τ = 0.1), the number of iterations (we use 10 000, enough for the
picture to settle), whether tokens were normalised (we use unit-norm tokens,
the theory's setting), seeds. Chapter 10 (``book/ch10_inference``) plots the cached full run.

``run(quick=True)`` (or ``steps=...``) runs the first steps of exactly the same run (same seed, same records),
so a short run is an honest prefix of the full one and can be compared with a cached full run.
"""
from __future__ import annotations

import math

import numpy as np

from ..generalization import inference_callback, theorem2_factor
from ..problem import sample_prompts
from ..problem import make_problem
from ..training import train_adam

__all__ = ["CONFIG", "QUICK_STEPS", "run", "plot", "problem_and_prompts"]

#: The paper's protocol (τ, the step count and token normalisation are our choices, see the module docstring).
CONFIG = dict(K=200, N=30, d=100, m=20, tau=0.1, H=64, lr=1e-4, batch=256, n_train=10_000, n_test=200,
              ood_mean=1.0, ood_std=2.0, steps=10_000, record_every=50)

#: Steps of ``run(quick=True)``: the first records of the full run.
QUICK_STEPS = 300


def problem_and_prompts(seed: int = 0):
    """The problem (unit-norm Gaussian tokens, Gaussian features) and the two test sets of the run with ``seed``.

    Returns ``(problem, y_in, y_ood)``. The test prompts come from their own stream, ``default_rng([seed, 1])``,
    so they do not depend on the training run.
    """
    c = CONFIG
    problem = make_problem(c["K"], c["N"], c["d"], c["m"], c["tau"], seed=seed)
    rng = np.random.default_rng([seed, 1])
    _, y_in = sample_prompts(problem, c["n_test"], rng=rng)
    _, y_ood = sample_prompts(problem, c["n_test"], rng=rng, lam_mean=c["ood_mean"], lam_std=c["ood_std"])
    return problem, y_in, y_ood


def _clean(x):
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(x, dtype=float)]


def run(*, seed: int = 0, quick: bool = False, progress: bool = False, steps: int | None = None) -> dict:
    """Train with the paper's Adam protocol and record, every ``record_every`` steps, the population loss
    L(θ) (exact, Lemma 5), the mini-batch training loss and both inference losses.

    ``steps`` overrides the number of steps (default :data:`CONFIG` ``["steps"]``, or :data:`QUICK_STEPS` when
    ``quick``). Records fall at the same steps whatever ``steps`` is, so a short run is a prefix of a long one.
    """
    c = CONFIG
    if steps is None:
        steps = QUICK_STEPS if quick else c["steps"]
    problem, y_in, y_ood = problem_and_prompts(seed)
    cb = inference_callback(problem, {"in_domain": y_in, "ood": y_ood})
    h = train_adam(problem, c["H"], steps=int(steps), seed=seed, lr=c["lr"], batch=c["batch"],
              n_train=c["n_train"], record_every=c["record_every"], progress=progress, callback=cb)
    factor = {name: float(np.mean(theorem2_factor(problem, y))) for name, y in (("in", y_in), ("ood", y_ood))}
    return {
        "figure": "fig2a",
        "config": {**c, "steps": int(steps), "seed": int(seed)},
        "L_star": float(problem.L_star),
        # Theorem 2's deterministic steps (b)–(c): mean inference loss ≤ factor × (L − L⋆), for any parameters
        "bound_factor_in": factor["in"],
        "bound_factor_ood": factor["ood"],
        "delta0": float(h.delta0),
        "diverged": bool(h.diverged),
        "step": [int(s) for s in h.step],
        "loss": _clean(h.loss),
        "gap": _clean(h.gap),
        "train_loss": _clean(h.train_loss),
        "inference_in": _clean(h.extras["in_domain"]),
        "inference_ood": _clean(h.extras["ood"]),
    }


def plot(data: dict, fig=None):
    """Left: the population loss L(θ) and the mini-batch training loss, with L⋆. Right (log scale): the gap
    L(θ) − L⋆ and the two inference losses (1/K)‖ŷ − ŷ⋆‖² against Adam iterations, with the bound
    2(L − L⋆)·mean‖y‖²/(K λ_min(Z̄²)) that Theorem 2's deterministic steps give for any parameters."""
    import matplotlib.pyplot as plt

    from ..plotting import COLORS, legend_outside, use_book_style

    use_book_style()
    if fig is None:
        fig = plt.figure(figsize=(9.0, 5.6))
    ax1, ax2 = fig.subplots(1, 2)
    step = np.asarray(data["step"])
    tl = np.array([np.nan if v is None else v for v in data["train_loss"]])
    ax1.plot(step, data["loss"], color=COLORS["model"], label=r"population loss $L(\theta)$")
    ax1.plot(step, tl, color=COLORS["data"], lw=0.8, alpha=0.8, label="mini-batch loss (256 prompts)")
    ax1.axhline(data["L_star"], ls="--", color=COLORS["theory"], label=r"$L^\star$ (Lemma 5)")
    ax1.set_xlabel("Adam iteration")
    ax1.set_ylabel("training loss")
    ax1.legend(loc="upper right")
    ax2.semilogy(step, np.maximum(data["gap"], 1e-300), color=COLORS["model"], label=r"$L(\theta) - L^\star$")
    ax2.semilogy(step, data["inference_in"], color=COLORS["ridge"], label="inference, in-domain")
    ax2.semilogy(step, data["inference_ood"], color=COLORS["ood"], label="inference, out-of-domain")
    if "bound_factor_ood" in data:
        gap = np.asarray(data["gap"], dtype=float)
        ax2.semilogy(step, data["bound_factor_ood"] * gap, ":", color=COLORS["ood"],
                     label="bound (Thm 2, b–c), out-of-domain")
        ax2.semilogy(step, data["bound_factor_in"] * gap, ":", color=COLORS["ridge"],
                     label="bound, in-domain")
    ax2.set_xlabel("Adam iteration")
    ax2.set_ylabel(r"gap; $\frac{1}{K}\|\hat y - \hat y^\star\|^2$")
    legend_outside(ax2, loc="lower", ncol=2)
    c = data["config"]
    fig.suptitle(f"Figure 2(a): N={c['N']}, K={c['K']}, d={c['d']}, m={c['m']}, H={c['H']},\n"
                 f"τ={c['tau']:g} (τ ours), Adam lr={c['lr']:g}")
    return fig

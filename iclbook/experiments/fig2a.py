"""Figure 2(a): training loss and in-domain / out-of-domain inference losses of the one-layer model (§4).

The paper's protocol (§4): N = 30, K = 200, d = 100, m = 20, H = 64; Q(0) standard Gaussian, w(0) = 0; Adam
(lr 1e-4), batches of 256 from 10 000 training prompts with λ ~ N(0, I_m); 200 in-domain test prompts
(λ ~ N(0, I_m)) and 200 out-of-domain ones (λ ~ N(1_m, 4 I_m)); inference loss (1/K)‖ŷ − ŷ⋆‖², averaged over
the test prompts, with ŷ⋆ the ridge prediction of penalty mτ (Theorem 2, eq. 20).

Not stated by the paper: τ (we use τ = 0.1), the number of iterations (we use 10 000, enough for the
picture to settle), seeds, whether tokens were normalised and whether Adam descended the population loss
or mini-batches. Two protocols, as :class:`~iclbook.experiments.Config` fields (as for Figure 4): the paper's
stated one (default: ``tokens="gaussian"``, raw standard Gaussian tokens as its §4 draws them, and
``objective="population"``, Adam on the exact population loss (9)) and the book's (``tokens="unit"``,
``objective="minibatch"``). Chapter 10 (``book/ch10_inference``) plots the cached full runs
(``book/data/fig2a.json``, ``book/data/fig2a_unit_minibatch.json``).

Presets (:func:`iclbook.experiments.config`): ``"paper"`` (:data:`PAPER`) and ``"quick"``, its first
300 steps. A run with fewer ``steps`` is the first steps of exactly the same run (same seed, same records),
so a short run is an honest prefix of the full one and can be compared with the cached full run.
"""
from __future__ import annotations

import warnings

import numpy as np

from ..generalization import inference_callback, theorem2_factor
from ..problem import sample_prompts
from ..problem import make_problem
from ..training import train_adam
from .configuration import Config, config as _config
from .results import json_array, json_list

__all__ = ["PAPER", "PRESETS", "TOKENS", "OBJECTIVES", "FIGSIZE", "run", "plot", "problem_and_prompts"]

#: The paper's protocol (τ, the step count and token normalisation are the book's choices, see above).
PAPER = dict(K=200, N=30, d=100, m=20, tau=0.1, H=64, lr=1e-4, batch=256, n_train=10_000, n_test=200,
             ood_mean=1.0, ood_std=2.0, steps=10_000, record_every=50)

#: The named configurations: the paper's run, and its first 300 steps (a smoke test).
PRESETS = {"paper": PAPER, "quick": dict(PAPER, steps=300)}

#: Token protocols: raw standard Gaussian tokens (the paper's §4, default) and unit-norm tokens (the theory's).
TOKENS = ("gaussian", "unit")

#: Training objectives: Adam on the exact population loss (default) and on mini-batches (as for Figure 4).
OBJECTIVES = ("population", "minibatch")

#: :func:`plot` draws the data of several seeds (:func:`iclbook.experiments.run_seeds`) as medians and ranges.
PLOTS_SEEDS = True

#: The size (inches) of the figure :func:`plot` draws when given none.
FIGSIZE = (4.0, 8.4)     # plotting.PHONE_WIDTH: two panels, one above the other


def problem_and_prompts(config: Config | None = None):
    """The problem (the tokens of ``config.tokens``, Gaussian features) and the two test sets of the run
    ``config`` (default: the paper preset).

    Returns ``(problem, y_in, y_ood)``. The test prompts come from their own stream,
    ``default_rng([seed, 1])``, so they do not depend on the training run.
    """
    c = config if config is not None else _config("fig2a")
    seed = c.seed
    problem = make_problem(c["K"], c["N"], c["d"], c["m"], c["tau"], seed=seed, unit_tokens=c.tokens == "unit")
    rng = np.random.default_rng([seed, 1])
    _, y_in = sample_prompts(problem, c["n_test"], rng=rng)
    _, y_ood = sample_prompts(problem, c["n_test"], rng=rng, lam_mean=c["ood_mean"], lam_std=c["ood_std"])
    return problem, y_in, y_ood



def run(config: Config | None = None, *, progress: bool = False) -> dict:
    """Train with the paper's Adam protocol (§4) and record, every ``record_every`` steps, the population
    loss L(θ) (exact, Lemma 5), the mini-batch training loss and both inference losses (Theorem 2,
    eq. 20); chapter ``book/ch10_inference``.

    ``config``: a :class:`~iclbook.experiments.Config` of this figure (default: the paper preset).
    Records fall at the same steps whatever ``steps`` is, so a short run is a prefix of a long one.
    """
    c = config if config is not None else _config("fig2a")
    seed, steps = c.seed, int(c["steps"])
    problem, y_in, y_ood = problem_and_prompts(c)
    cb = inference_callback(problem, {"in_domain": y_in, "ood": y_ood})
    h = train_adam(problem, c["H"], steps=steps, seed=seed, lr=c["lr"], batch=c["batch"],
                   n_train=c["n_train"], record_every=c["record_every"], progress=progress, callback=cb,
                   objective=c.objective)
    factor = {name: float(np.mean(theorem2_factor(problem, y)))
              for name, y in (("in", y_in), ("ood", y_ood))}
    return {
        "figure": "fig2a",
        "config": {**c.as_dict(), "seed": int(seed)},
        "tokens": c.tokens,
        "objective": c.objective,
        "L_star": float(problem.L_star),
        # Theorem 2's deterministic steps (b)–(c): mean inference loss ≤ factor × (L − L⋆), for any parameters
        "bound_factor_in": factor["in"],
        "bound_factor_ood": factor["ood"],
        "delta0": float(h.delta0),
        "diverged": bool(h.diverged),
        "step": [int(s) for s in h.step],
        "loss": json_list(h.loss),
        "gap": json_list(h.gap),
        "train_loss": json_list(h.train_loss),
        "inference_in": json_list(h.extras["in_domain"]),
        "inference_ood": json_list(h.extras["ood"]),
    }


def _curves(data: dict) -> dict:
    """The curves of one seed's data, or for several seeds (:func:`iclbook.experiments.run_seeds`) their
    minimum, median and maximum over seeds (arrays of shape (3, records))."""
    seeds = data["per_seed"] if "per_seed" in data else [data]
    keys = ("loss", "gap", "train_loss", "inference_in", "inference_ood")
    with warnings.catch_warnings():      # the training loss of step 0 is NaN in every seed
        warnings.simplefilter("ignore", RuntimeWarning)
        out = {k: np.nanquantile([json_array(d[k]) for d in seeds], [0.0, 0.5, 1.0], axis=0) for k in keys}
    out.update(step=np.asarray(seeds[0]["step"]), n=len(seeds),
               **{k: np.median([d[k] for d in seeds]) for k in ("L_star", "bound_factor_in", "bound_factor_ood")})
    return out


def plot(data: dict, fig=None):
    """Top: the population loss L(θ) and the training loss (the mini-batch loss, or the population loss
    itself under ``objective="population"``), with L⋆. Below (log scale): the gap L(θ) − L⋆ and the two
    inference losses (1/K)‖ŷ − ŷ⋆‖² against Adam iterations, with the bound 2(L − L⋆)·mean‖y‖²/(K λ_min(Z̄²))
    that Theorem 2's deterministic steps give for any parameters. For several seeds: medians over seeds,
    with the range (minimum to maximum) as a band in the lower panel."""
    from ..plotting import COLORS, legend_outside, figure_or_new

    fig = figure_or_new(fig, FIGSIZE)
    ax1, ax2 = fig.subplots(2, 1)
    first = data["per_seed"][0] if "per_seed" in data else data
    cur = _curves(data)
    step, med = cur["step"], {k: v[1] for k, v in cur.items() if k in
                               ("loss", "gap", "train_loss", "inference_in", "inference_ood")}
    minibatch = first.get("objective", "minibatch") == "minibatch"
    ax1.plot(step, med["loss"], color=COLORS["model"], label=r"population loss $L(\theta)$")
    if minibatch:
        ax1.plot(step, med["train_loss"], color=COLORS["data"], lw=0.8, alpha=0.8,
                 label="mini-batch loss (256 prompts)")
    ax1.axhline(cur["L_star"], ls="--", color=COLORS["theory"], label=r"$L^\star$ (Lemma 5)")
    ax1.set_xlabel("Adam iteration")
    ax1.set_ylabel("training loss")
    ax1.legend(loc="upper right")
    for key, col, lab in (("gap", COLORS["model"], r"$L(\theta) - L^\star$"),
                          ("inference_in", COLORS["ridge"], "inference, in-domain"),
                          ("inference_ood", COLORS["ood"], "inference, out-of-domain")):
        ax2.semilogy(step, np.maximum(med[key], 1e-300), color=col, label=lab)
        if cur["n"] > 1:
            ax2.fill_between(step, cur[key][0], cur[key][2], color=col, alpha=0.25, lw=0)
    ax2.semilogy(step, cur["bound_factor_ood"] * med["gap"], ":", color=COLORS["ood"],
                 label="bound (Thm 2, b–c), out-of-domain")
    ax2.semilogy(step, cur["bound_factor_in"] * med["gap"], ":", color=COLORS["ridge"],
                 label="bound, in-domain")
    ax2.set_xlabel("Adam iteration")
    ax2.set_ylabel(r"gap; $\|\hat y - \hat y^\star\|^2/K$")
    legend_outside(ax2, loc="lower", ncol=1)
    c = first["config"]
    who = (f"median of {cur['n']} seeds" if cur["n"] > 1 else f"seed {c['seed']}")
    tokens = "Gaussian" if first.get("tokens", "unit") == "gaussian" else "unit"
    obj = "mini-batches" if minibatch else "population loss"
    fig.suptitle(f"Figure 2(a): N={c['N']}, K={c['K']}, d={c['d']}, m={c['m']},\n"
                 f"H={c['H']}, τ={c['tau']:g} (τ ours), Adam lr={c['lr']:g};\n{tokens} tokens, {obj}; {who}")
    return fig

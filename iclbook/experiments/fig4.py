"""Figure 4 of the paper: training loss of the one-layer model for several numbers of heads H (§4, §3.3).

The paper trains the one-layer multi-head model of eq. (8) with Adam (learning rate 1e-4) at N = 30, K = 200,
d = 100, m = 20, and reports (§4, "Impact of the number of attention heads"): for H < N = 30 the loss stops
descending far from its minimum, at H = 30 it keeps descending slowly, and H = 400 is unstable and diverges.
Its §4 draws tokens i.i.d. standard Gaussian and never mentions normalising them; its Figure 4 text says the
runs descend the population loss (9), while its set-up also describes 10 000 training prompts and batches of
256. Two protocols, as data (:class:`~iclbook.experiments.Config` fields):

- the paper's stated protocol (the default): ``tokens="gaussian"`` (raw standard Gaussian tokens) and
  ``objective="population"`` (Adam on the exact population loss of Lemma 5);
- the book's earlier reading: ``tokens="unit"`` (unit-norm tokens, the theory's setting) and
  ``objective="minibatch"`` (batches of 256 from 10 000 fixed prompts).

The paper does not state τ, the number of iterations, the H grid or seeds; here τ = 0.1 (as for Figure 2(a)),
6 000 steps and the grid :data:`H_GRID`. The curves are the exact population loss (Lemma 5) minus L⋆, recorded
every ``record_every`` Adam steps. Chapter ``book/ch09_heads`` plots the cached results ``book/data/fig4*.json``
(five seeds per protocol).

Each (seed, H) is one independent training run, described entirely by a plain dict
(:func:`training_configs`) and computed by :func:`iclbook.sweeps.training_run`, so a sweep stores each run under
the key of its dict. Presets (:func:`iclbook.experiments.config`): ``"paper"`` (:data:`PAPER`; tens of minutes
per seed on two cores) and ``"quick"`` (a small problem, a few seconds).
"""
from __future__ import annotations

import time

import numpy as np

from ..convergence import delta0, w_smoothness
from ..problem import make_problem
from ..sweeps import training_run
from ..training import initial_params
from .configuration import Config, config as _config
from .results import json_array, json_list

__all__ = ["H_GRID", "PAPER", "PRESETS", "TOKENS", "OBJECTIVES", "FIGSIZE", "run", "run_one",
           "training_configs", "problem", "assemble", "plot", "protocol_label", "gap_quantiles", "summary", "summary_table",
           "training_set_floor"]

#: The numbers of heads of the full figure: below N = 30, at N, and up to the paper's H = 400.
H_GRID = (10, 20, 30, 64, 128, 400)

#: The full figure: the paper's sizes and Adam protocol (§4); τ = 0.1 and the step count are the book's
#: choices (the paper states neither). ``batch`` and ``n_train`` are read by ``objective="minibatch"`` only.
PAPER = dict(K=200, N=30, d=100, m=20, tau=0.1, H_grid=list(H_GRID), steps=6000, record_every=50,
             lr=1e-4, batch=256, n_train=10_000)

#: The named configurations: the paper's, and a smoke test (a small problem, a larger learning rate, a
#: few hundred steps).
PRESETS = {"paper": PAPER,
           "quick": dict(K=40, N=6, d=8, m=4, tau=0.1, H_grid=[3, 6, 24], steps=300, record_every=25,
                         lr=1e-2, batch=32, n_train=500)}

#: Token protocols: raw standard Gaussian tokens (the paper's §4, default) and unit-norm tokens (the theory's).
TOKENS = ("gaussian", "unit")

#: Training objectives: Adam on the exact population loss (the paper's Figure 4 text, default) and on
#: mini-batches from a fixed training set (the paper's §4 set-up).
OBJECTIVES = ("population", "minibatch")

#: The recorded curves of a run (lists; NaN, e.g. the mini-batch loss of step 0, is stored as None).
_CURVES = ("loss", "gap", "zeta", "q_move", "alpha_max", "train_loss")

#: :func:`plot` draws the data of several seeds (:func:`iclbook.experiments.run_seeds`) as medians and ranges.
PLOTS_SEEDS = True

#: The size (inches) of the figure :func:`plot` draws when given none.
FIGSIZE = (6.4, 3.8)


def training_configs(config: Config) -> list[dict]:
    """The independent runs of one seed of the figure, one per H of ``config["H_grid"]``: plain dicts for
    :func:`iclbook.sweeps.training_run` (the problem's sizes, ``problem_seed`` = ``seed`` = the
    configuration's seed, the tokens, the objective and Adam's settings). They are the keys under which a
    sweep stores the runs."""
    c = config
    base = {k: c[k] for k in ("K", "N", "d", "m", "tau", "steps", "record_every", "lr")}
    base.update(method="adam", tokens=c.tokens, objective=c.objective, problem_seed=c.seed, seed=c.seed)
    if c.objective == "minibatch":
        base.update(batch=c["batch"], n_train=c["n_train"])
    return [dict(base, H=int(H)) for H in c["H_grid"]]


def problem(config: Config):
    """The problem (tokens, features, τ) of the seed and token protocol of ``config``."""
    return make_problem(config["K"], config["N"], config["d"], config["m"], config["tau"], seed=config.seed,
                        unit_tokens=config.tokens == "unit")


def run_one(config: Config, H: int, *, progress: bool = False) -> dict:
    """Train one H with the configuration ``config`` (its ``H_grid`` is not read); returns its curves (the
    dict of :func:`iclbook.sweeps.training_run`). A run with fewer ``steps`` and the same seed follows the same
    trajectory, so its records are the first records of the long run."""
    (tc,) = training_configs(config.replace(H_grid=[int(H)]))
    return training_run(dict(tc, progress=progress) if progress else tc)


def run(config: Config | None = None, *, progress: bool = False) -> dict:
    """Figure 4 (§4; chapter ``book/ch09_heads``): train the one-layer model (eq. 8) with Adam for every
    H of the grid, one seed; returns the curves (JSON-serialisable, :func:`assemble`)."""
    c = config if config is not None else _config("fig4")
    t0 = time.perf_counter()
    runs = [run_one(c, H, progress=progress) for H in c["H_grid"]]
    return assemble(c, runs, seconds=time.perf_counter() - t0)


def assemble(config: Config, runs: list, *, seconds: float) -> dict:
    """The figure's data for one seed from its runs (one per H of the grid, in order): ``config`` (the
    parameters), ``tokens``, ``objective``, ``seed``, ``quick``, ``L_star``, ``delta0`` (the gap at w = 0),
    ``runs`` (each run's curves plus ``H`` and ``smoothness0``, the smoothness of the w-block at the
    initialization, recomputed from the seed) and ``seconds``."""
    c = config
    prob = problem(c)
    out = []
    for H, r in zip(c["H_grid"], runs):
        Q0, _ = initial_params(prob, int(H), seed=c.seed)
        r = {k: json_list(v) if k in _CURVES else v for k, v in r.items()}
        r = dict(r, H=int(H), smoothness0=float(w_smoothness(prob, Q0)))
        if c.objective == "minibatch":
            r["training_set_floor"] = training_set_floor(c, H)
        out.append(r)
    return {"figure": "fig4", "config": c.as_dict(), "tokens": c.tokens, "objective": c.objective,
            "seed": int(c.seed), "quick": c.preset == "quick", "L_star": float(prob.L_star),
            "delta0": float(delta0(prob)), "runs": out, "seconds": float(seconds)}


def training_set_floor(config: Config, H: int) -> float:
    """The population gap of the best linear smoother fitted to the training prompts of the mini-batch run
    with ``H`` heads (:func:`iclbook.training.training_prompts`, :func:`iclbook.model.fitted_linear_smoother`):
    a floor that no one-layer model trained on those ``n_train`` prompts alone can be expected to beat, since
    every such model is a linear smoother and this one fits the prompts best (``book/ch09_heads``)."""
    from ..model import excess_loss, fitted_linear_smoother
    from ..training import training_prompts
    prob = problem(config)
    y = training_prompts(prob, int(H), seed=config.seed, n_train=config["n_train"])
    return excess_loss(prob, fitted_linear_smoother(prob, y))


def summary(data: dict, *, last: int = 1000) -> dict:
    """Per H, one entry per seed (arrays, in the order of the seeds) of what ``book/ch09_heads`` reads off
    Figure 4: ``gap_end`` (the final gap), ``drop_last`` (the fraction of the gap removed over the last
    ``last`` steps: 1 − gap(T)/gap(T − last)), ``zeta0``, ``zeta_min`` (the minimum of ζ(t)/ζ₀ over the records,
    NaN when ζ₀ = 0) and ``zeta_min_step`` (its step), ``zeta_end`` (ζ(T)/ζ₀), ``q_move`` (the largest
    max_h ‖Q_h(t) − Q_h(0)‖_F over the records), ``rises`` (record-to-record increases of the gap),
    ``rebound`` (the largest factor by which the gap rose above its running minimum), ``diverged``, and for
    mini-batch runs ``floor`` (:func:`training_set_floor`, stored in the data)."""
    seeds = data["per_seed"] if "per_seed" in data else [data]
    out = {}
    for H in sorted(r["H"] for r in seeds[0]["runs"]):
        rows = []
        for d in seeds:
            r = next(x for x in d["runs"] if x["H"] == H)
            s, g = np.asarray(r["step"]), json_array(r["gap"])
            z = json_array(r["zeta"]) / r["zeta0"] if r["zeta0"] > 0 else np.full(len(s), np.nan)
            i = int(np.nanargmin(z)) if r["zeta0"] > 0 else 0
            rows.append(dict(
                gap_end=g[-1], drop_last=1 - g[-1] / g[np.searchsorted(s, s[-1] - last)],
                zeta0=r["zeta0"], zeta_min=np.nanmin(z) if r["zeta0"] > 0 else np.nan,
                zeta_min_step=int(s[i]), zeta_end=z[-1], q_move=np.nanmax(json_array(r["q_move"])),
                rises=int(np.sum(np.diff(g) > 0)), rebound=float(np.max(g / np.minimum.accumulate(g))),
                diverged=bool(r["diverged"]), floor=r.get("training_set_floor", np.nan)))
        out[H] = {k: np.array([row[k] for row in rows]) for k in rows[0]}
    return out


def summary_table(data: dict) -> str:
    """The ranges over seeds (minimum to maximum) of :func:`summary`'s final gap, drop over the last 1000
    steps, largest Q movement and ζ₀, one line per H, at most 77 characters wide (``book/ch09_heads``)."""
    def span(a, fmt):
        lo, hi = np.min(a), np.max(a)
        return fmt(lo) if fmt(lo) == fmt(hi) else f"{fmt(lo)} to {fmt(hi)}"
    g3 = lambda x: f"{x:.3g}" if x >= 1e-3 else f"{x:.2e}"
    g2 = lambda x: f"{x:.2g}"
    pc = lambda x: f"{100 * x:.2g} %" if abs(x) < 1 else f"{100 * x:.0f} %"
    n = len(data.get("per_seed", [data]))
    lines = [f"{protocol_label(data)}; range over {n} seed(s)",
             f"{'H':>4}  {'gap at T':>20}  {'drop, last 1000':>15}  {'max |dQ_h|':>12}  {'zeta_0':>14}"]
    for H, v in summary(data).items():
        lines.append(f"{H:4d}  {span(v['gap_end'], g3):>20}  {span(v['drop_last'], pc):>15}  "
                     f"{span(v['q_move'], g2):>12}  {span(v['zeta0'], g2):>14}")
    return "\n".join(lines)


def gap_quantiles(data: dict, H: int, q=(0.0, 0.5, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """The record steps and the quantiles ``q`` over seeds (default: minimum, median, maximum) of the gap
    L(θ_t) − L⋆ of the runs with ``H`` heads in ``data`` (one seed's data, or the several-seed data of
    :func:`iclbook.experiments.run_seeds`). Runs that stopped early (divergence) count up to their last record."""
    seeds = data["per_seed"] if "per_seed" in data else [data]
    runs = [next(r for r in d["runs"] if r["H"] == H) for d in seeds]
    steps = max((r["step"] for r in runs), key=len)
    G = np.full((len(runs), len(steps)), np.nan)
    for i, r in enumerate(runs):
        G[i, :len(r["gap"])] = json_array(r["gap"])
    return np.asarray(steps), np.nanquantile(G, q, axis=0)


def protocol_label(data: dict, sep: str = ": ") -> str:
    """'the paper's protocol: Gaussian tokens, population loss' or the book's, for titles and legends
    (``sep`` between the two parts, e.g. a line break)."""
    tokens, objective = data.get("tokens", "unit"), data.get("objective", "minibatch")
    who = ("the paper's protocol" if (tokens, objective) == (TOKENS[0], OBJECTIVES[0]) else
           "the book's protocol" if (tokens, objective) == ("unit", "minibatch") else "a mixed protocol")
    what = "Gaussian tokens" if tokens == "gaussian" else "unit tokens"
    loss = "population loss" if objective == "population" else "mini-batches"
    return f"{who}{sep}{what}, {loss}"


def plot(data: dict, fig=None, ax=None, legend: bool = True):
    """Draw the population gap L(θ_t) − L⋆ against the Adam step for every H (the paper's Figure 4):
    for several seeds (the data of :func:`iclbook.experiments.run_seeds`) the median over seeds as a line
    and the range (minimum to maximum) as a band; for one seed its curves. ``ax``: draw into these axes;
    ``legend=False``: no legend (e.g. one legend for several panels, drawn by the caller)."""
    import matplotlib

    from ..plotting import figure_or_new

    if ax is None:
        fig = figure_or_new(fig, FIGSIZE)
        ax = fig.axes[0] if fig.axes else fig.add_subplot(111)
    first = data["per_seed"][0] if "per_seed" in data else data
    cfg, n_seeds = first["config"], len(data.get("per_seed", [data]))
    N = cfg["N"]
    grid = [r["H"] for r in first["runs"]]
    cmap = matplotlib.colormaps["viridis"]
    for i, H in enumerate(sorted(grid)):
        col = cmap(i / max(1, len(grid) - 1) * 0.9)
        steps, (lo, med, hi) = gap_quantiles(data, H)
        rel = "<" if H < N else ("=" if H == N else ">")
        ax.semilogy(steps, med, color=col, label=f"H = {H} ({rel} N)")
        if n_seeds > 1:
            ax.fill_between(steps, lo, hi, color=col, alpha=0.25, lw=0)
    ax.set_xlabel("Adam step")
    ax.set_ylabel(r"$L(\theta_t) - L^\star$")
    if legend:
        ax.legend(ncol=2)
    seeds = f"median and range of {n_seeds} seeds" if n_seeds > 1 else f"seed {first['seed']}"
    ax.set_title(f"{protocol_label(first, sep=chr(10))}\n{seeds}", fontsize="medium")
    return ax.figure

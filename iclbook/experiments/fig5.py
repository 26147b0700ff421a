"""Figure 5: the four-layer transformer for several numbers of heads H under a wall-clock budget (§4).

The paper (§4): the four-layer model of Figure 2(b) trained for 100 s of wall-clock time for each H;
(a) the final training and inference losses against H, smallest at H = 4; (b) the curves within the
budget: a larger H completes fewer iterations, and H = 32 and 64 descend more slowly. The H grid, the
hardware and τ are not stated.

A wall-clock budget makes the curves depend on the machine. Here the figure is built from two parts:

1. :func:`run` trains each H for the same fixed number of steps (deterministic on the CPU: seeded, cached
   in ``book/data/fig5.json`` and tested like the other figures);
2. :func:`measure_speed` measures the Adam steps per second of each H on the machine at hand, a separate
   step, stored with the machine's name.

:func:`at_budget` combines them: under a budget of B seconds, H completes B × (steps per second of H)
steps, and its loss is read from the curve of part 1. The chapter ``book/ch13_four_layer`` draws it.

Presets (:func:`iclbook.experiments.config`): ``"paper"`` (the paper's scale, :data:`H_GRID_PAPER`),
``"reduced"`` (the book's scale for two CPU cores, :data:`H_GRID_REDUCED`, cached in
``book/data/fig5.json``) and ``"quick"`` (two H of the reduced grid for a few steps).
"""
from __future__ import annotations

import math
import textwrap
import time

import numpy as np

from .. import fourlayer as fl
from .configuration import Config, config as _config
from .results import git_commit, json_list, machine, provenance

__all__ = ["H_GRID_PAPER", "H_GRID_REDUCED", "PRESETS", "TOKENS", "FIGSIZE", "run", "run_one",
           "measure_speed", "at_budget", "plot"]

#: The H grid at the paper's scale (d_model = 256): H must divide d_model; 64 heads of width 4 at most.
H_GRID_PAPER = (1, 2, 4, 8, 16, 32, 64)
#: The H grid at the reduced scale (d_model = 32): 16 heads of width 2 at most.
H_GRID_REDUCED = (1, 2, 4, 8, 16)

#: The named configurations: the four-layer protocol at each scale with its H grid and step count per H
#: (records twice as often as Figure 2(b)); ``"quick"``: two H of the reduced grid, a few steps each.
PRESETS = {
    "paper": dict(fl.PAPER, H_grid=list(H_GRID_PAPER), steps=2_000,
                  record_every=fl.PAPER["record_every"] // 2),
    "reduced": dict(fl.REDUCED, H_grid=list(H_GRID_REDUCED), steps=200,
                    record_every=fl.REDUCED["record_every"] // 2),
    "quick": dict(fl.REDUCED, H_grid=[1, 16], steps=fl.QUICK_STEPS),
}

#: Token protocols: raw standard Gaussian tokens (the paper's §4, the default) and unit-norm tokens.
TOKENS = ("gaussian", "unit")

#: The size (inches) of the figure :func:`plot` draws when given none.
FIGSIZE = (4.0, 9.4)     # plotting.PHONE_WIDTH: two panels, one above the other


def run_one(config: Config, H: int, *, device: str = "cpu", threads: int | None = 2,
            progress: bool = False) -> dict:
    """Train one H of ``config`` (same problem, prompts and seed for every H); returns its curves."""
    h = fl.train_fourlayer(config.as_dict(), seed=config.seed, tokens=config.tokens, H=H, device=device,
                           threads=threads, progress=progress)
    return {"H": int(H), "step": [int(s) for s in h.step], "train_loss": json_list(h.train_loss),
            "train_loss_se": json_list(h.train_loss_se), "inference_in": json_list(h.inference_in),
            "inference_ood": json_list(h.inference_ood), "diverged": bool(h.diverged), "message": h.message,
            "steps_done": int(h.steps_done)}


def measure_speed(cfg: dict, *, seed: int = 0, tokens: str = "gaussian", device: str = "cpu",
                  threads: int | None = 2, steps: int = 10, repeats: int = 3) -> dict:
    """Adam steps per second of each H of ``cfg["H_grid"]`` on this machine (median of ``repeats`` rounds,
    the H interleaved within each round so that a drift of the machine's speed hits every H alike)."""
    rounds = []
    for _ in range(repeats):
        rounds.append([fl.steps_per_second(cfg, H, steps=steps, seed=seed, tokens=tokens, device=device,
                                           threads=threads) for H in cfg["H_grid"]])
    return {"H": [int(H) for H in cfg["H_grid"]], "steps_per_second": np.median(rounds, axis=0).tolist(),
            "machine": machine(), "device": device, "threads": threads, "steps": steps, "repeats": repeats}


def run(config: Config | None = None, *, progress: bool = False, device: str = "cpu",
        threads: int | None = 2, speed: bool = True, command: str | None = None) -> dict:
    """Figure 5 (§4; chapter ``book/ch13_four_layer``): part 1 (fixed steps per H) and, unless
    ``speed=False``, part 2 (steps per second per H, on this machine).

    ``config``: a :class:`~iclbook.experiments.Config` of this figure (default: the paper preset);
    ``device``, ``threads``: where PyTorch runs; ``command``: recorded in the provenance."""
    c = config if config is not None else _config("fig5")
    cfg, seed, tokens, quick = c.as_dict(), c.seed, c.tokens, c.preset == "quick"
    t0, commit = time.perf_counter(), git_commit()
    problem = fl.problem_for(cfg, seed=seed, tokens=tokens)
    runs = [run_one(c, H, device=device, threads=threads, progress=progress) for H in cfg["H_grid"]]
    out = {"figure": "fig5", "scale": c.preset, "config": cfg, "seed": int(seed),
           "tokens": tokens, "L_star": float(problem.L_star), "runs": runs}
    if speed:
        out["speed"] = measure_speed(cfg, seed=seed, tokens=tokens, device=device, threads=threads,
                                     steps=2 if quick else 10, repeats=1 if quick else 3)
    out["provenance"] = provenance(seconds=time.perf_counter() - t0, device=device, threads=threads,
                                   command=command, commit=commit)
    return out


def at_budget(data: dict, speed: dict, budget: float | None = None) -> dict:
    """Combine the fixed-step curves with the measured speeds: for each H, the steps done within ``budget``
    seconds (default: the largest budget every cached curve covers, min_H steps_H / speed_H) and the last
    recorded losses at or before that step. Returns ``{"budget", "H", "steps", "train_loss",
    "inference_in", "inference_ood", "seconds"}`` (``seconds``: one array per H, the time of each record)."""
    sps = dict(zip(speed["H"], speed["steps_per_second"]))
    runs = [r for r in sorted(data["runs"], key=lambda r: r["H"]) if r["H"] in sps]
    if budget is None:
        budget = min(r["steps_done"] / sps[r["H"]] for r in runs)
    res = {"budget": float(budget), "H": [], "steps": [], "train_loss": [], "inference_in": [],
           "inference_ood": [], "seconds": []}
    for r in runs:
        n = int(math.floor(budget * sps[r["H"]] + 1e-9))
        step = np.asarray(r["step"])
        i = int(np.searchsorted(step, n, side="right") - 1)
        res["H"].append(r["H"])
        res["steps"].append(n)
        for key in ("train_loss", "inference_in", "inference_ood"):
            v = r[key][i]
            res[key].append(float("nan") if v is None else v)
        res["seconds"].append((step / sps[r["H"]]).tolist())
    return res


def plot(data: dict, fig=None, speed: dict | None = None):
    """(a) The training loss at the budget against H; (b) the training curves against seconds, cut at the
    budget, with the machine named. ``speed`` defaults to ``data["speed"]``. Without speeds, (b) is drawn
    against steps."""
    import matplotlib

    from ..plotting import figure_or_new, label_log_axis, legend_outside

    speed = speed if speed is not None else data.get("speed")
    fig = figure_or_new(fig, FIGSIZE)
    ax1, ax2 = fig.subplots(2, 1)
    runs = sorted(data["runs"], key=lambda r: r["H"])
    cmap = matplotlib.colormaps["viridis"]
    cols = {r["H"]: cmap(i / max(1, len(runs) - 1) * 0.9) for i, r in enumerate(runs)}
    if speed is not None:
        b = at_budget(data, speed)
        ax1.semilogy(b["H"], b["train_loss"], "o-", color="k", label="training loss")
        ax1.semilogy(b["H"], b["inference_in"], "s--", color="#2ca02c", label="inference loss, in-domain")
        ax1.semilogy(b["H"], b["inference_ood"], "^:", color="#8c564b", label="inference loss, out-of-domain")
        ax1.set_title(f"(a) after {b['budget']:.0f} s of training")
        for r, sec in zip(runs, b["seconds"]):
            sec = np.asarray(sec)
            keep = sec <= b["budget"] * (1 + 1e-9)
            ax2.semilogy(sec[keep], np.asarray(r["train_loss"], dtype=float)[keep], color=cols[r["H"]],
                         label=f"H = {r['H']}")
        # wrapped to the figure's 4 inches: a wider label widens the figure a notebook shows and shrinks its text
        ax2.set_xlabel(textwrap.fill(f"seconds on {speed['machine']} ({speed['device']}, "
                                     f"{speed['threads']} thread(s))", 40))
        ax2.set_title("(b) training loss within the budget")
    else:
        last = [r["train_loss"][-1] for r in runs]
        ax1.semilogy([r["H"] for r in runs], last, "o-", color="k", label="training loss")
        ax1.set_title("(a) after a fixed number of steps")
        for r in runs:
            ax2.semilogy(r["step"], r["train_loss"], color=cols[r["H"]], label=f"H = {r['H']}")
        ax2.set_xlabel("Adam iteration")
    ax1.set_xscale("log", base=2)
    label_log_axis(ax1.yaxis, cover_data=True)   # 1, 2, 5 x 10^k labelled, one under the lowest curve
    ax1.set_xlabel("number of heads H")
    ax1.legend()
    ax2.set_ylabel(r"training loss $\sum_k(\hat y_k - y_k)^2/2$")
    legend_outside(ax2, loc="lower", ncol=3)
    c = data["config"]
    fig.suptitle(f"Figure 5, {data['scale']} scale: 4 layers,\nd_model={c['d_model']}, d_ff={c['d_ff']}; "
                 f"{data['tokens']} tokens;\nAdam lr={c['lr']:g}, batch {c['batch']}")
    return fig

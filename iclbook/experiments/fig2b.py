"""Figure 2(b): training loss and in-domain / out-of-domain inference losses of the four-layer transformer (§4).

The paper's protocol (§4): a standard 4-layer transformer, d_model = 256, d_ff = 512, H = 8 heads; N = 30,
K = 200, d = 100, m = 20; Adam (lr 1e-4), batches of 256 from 10 000 training prompts (λ ~ N(0, I_m));
200 in-domain and 200 out-of-domain (λ ~ N(1_m, 4 I_m)) test prompts; inference loss (1/K)‖ŷ − ŷ⋆‖².
Not stated by the paper: how the model reads the prompt (the book's wiring: :mod:`iclbook.fourlayer`), τ (0.1, as for
Figure 2(a)), the number of steps, seeds. Tokens: ``"gaussian"`` (raw standard Gaussian, the paper's §4,
the default) or ``"unit"`` (unit norm, the theory's §2).

Presets (:func:`iclbook.experiments.config`): ``"paper"`` (:data:`iclbook.fourlayer.PAPER`; about 12 s per
Adam step on 2 CPU cores, a GPU run in practice), ``"reduced"`` (:data:`iclbook.fourlayer.REDUCED`, minutes
on 2 cores; chapter ``book/ch13_four_layer`` plots its cached run ``book/data/fig2b.json``) and ``"quick"``,
the first :data:`iclbook.fourlayer.QUICK_STEPS` steps of the reduced run, an exact prefix of it.

The run also trains (unless ``one_layer=False``) the one-layer model of eq. (8) on the same problem with its
own paper protocol (H = 64, Adam lr 1e-4, batch 256, :func:`iclbook.training.train_adam`) for the same number of steps,
and records its inference losses on the same test prompts, for the chapter's comparison.
"""
from __future__ import annotations

import time

import numpy as np

from .. import fourlayer as fl
from ..generalization import inference_callback
from ..model import predict as predict_one_layer
from ..training import train_adam
from .configuration import Config, config as _config
from .results import git_commit, json_array, json_list, provenance

__all__ = ["PRESETS", "TOKENS", "FIGSIZE", "ONE_LAYER", "N_SHOWN", "run", "plot", "model_arrays"]

#: The named configurations: the four-layer protocol at the paper's and the reduced scale, and a smoke
#: test (the first steps of the reduced run).
PRESETS = {"paper": fl.PAPER, "reduced": fl.REDUCED, "quick": dict(fl.REDUCED, steps=fl.QUICK_STEPS)}

#: Token protocols: raw standard Gaussian tokens (the paper's §4, the default) and unit-norm tokens.
TOKENS = ("gaussian", "unit")

#: The size (inches) of the figure :func:`plot` draws when given none.
FIGSIZE = (4.0, 8.8)     # plotting.PHONE_WIDTH: two panels, one above the other

#: The one-layer comparison: the paper's Figure 2(a) protocol.
ONE_LAYER = dict(H=64, lr=1e-4, batch=256, n_train=10_000)

#: Test prompts (in- and out-of-domain) whose predictions are stored for the chapter's comparison.
N_SHOWN = 2


def model_arrays(model) -> dict:
    """The model's parameters as float32 numpy arrays (name → array), for ``np.savez``."""
    return {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}


def run(config: Config | None = None, *, progress: bool = False, device: str = "cpu",
        threads: int | None = 2, one_layer: bool = True, command: str | None = None) -> dict:
    """Train the four-layer model (§4, Figure 2(b); chapter ``book/ch13_four_layer``) and return its
    curves (JSON-serialisable) with provenance.

    ``config``: a :class:`~iclbook.experiments.Config` of this figure (default: the paper preset).
    ``device`` and ``threads``: where PyTorch runs; ``command``: recorded in the provenance.
    The final parameters are returned under ``"_arrays"`` (name → float32 array;
    :func:`~iclbook.experiments.reproduce` writes them to ``fig2b_model.npz``, not into the JSON).
    """
    c = config if config is not None else _config("fig2b")
    cfg, seed, tokens = c.as_dict(), c.seed, c.tokens
    t0, commit = time.perf_counter(), git_commit()
    problem = fl.problem_for(cfg, seed=seed, tokens=tokens)
    data = fl.data_for(problem, cfg, seed=seed)
    h = fl.train_fourlayer(cfg, seed=seed, tokens=tokens, device=device, threads=threads, problem=problem,
                           data=data, progress=progress)
    shown = {"in": data["test_in"][:N_SHOWN], "ood": data["test_ood"][:N_SHOWN]}
    out = {
        "figure": "fig2b",
        "scale": c.preset,
        "config": {k: v for k, v in h.config.items() if k not in ("device", "threads")},
        "seed": int(seed),
        "tokens": tokens,
        "seeds": {"problem": seed, "torch_init": seed, "test_prompts": [seed, 1], "train_prompts": [seed, 2],
                  "eval_prompts": [seed, 3], "batch_order": [seed, 4]},
        "L_star": h.L_star,
        "diverged": bool(h.diverged),
        "message": h.message,
        "steps_done": int(h.steps_done),
        "step": [int(s) for s in h.step],
        "train_loss": json_list(h.train_loss),
        "train_loss_se": json_list(h.train_loss_se),
        "batch_loss": json_list(h.batch_loss),
        "inference_in": json_list(h.inference_in),
        "inference_ood": json_list(h.inference_ood),
        "shown_predictions": {k: fl.predict(h.model, problem, y, device=device).tolist()
                              for k, y in shown.items()},
    }
    if one_layer:
        cb = inference_callback(problem, {"in": data["test_in"], "ood": data["test_ood"]})
        o = ONE_LAYER
        h1 = train_adam(problem, o["H"], steps=cfg["steps"], seed=seed, lr=o["lr"], batch=o["batch"],
                   n_train=o["n_train"], record_every=cfg["record_every"], callback=cb, progress=progress)
        out["one_layer"] = {
            **o, "steps": int(h1.steps_done), "seed": int(seed), "step": [int(s) for s in h1.step],
            "loss": json_list(h1.loss), "inference_in": json_list(h1.extras["in"]),
            "inference_ood": json_list(h1.extras["ood"]), "diverged": bool(h1.diverged),
            "shown_predictions": {k: predict_one_layer(problem, h1.Q, h1.w, y).tolist() for k, y in shown.items()},
        }
    out["provenance"] = provenance(seconds=time.perf_counter() - t0, device=device, threads=threads,
                                   command=command, commit=commit)
    out["_arrays"] = model_arrays(h.model)
    return out


def plot(data: dict, fig=None):
    """Top: the training loss (mean over fresh prompts, ± 2 standard errors) with L⋆. Bottom (log scale): the
    in-domain and out-of-domain inference losses (1/K)‖ŷ − ŷ⋆‖² against Adam iterations (dashed: the
    one-layer model's, when the run has them)."""
    from ..plotting import COLORS, figure_or_new, legend_outside

    fig = figure_or_new(fig, FIGSIZE)
    ax1, ax2 = fig.subplots(2, 1)
    step = np.asarray(data["step"])
    tl = json_array(data["train_loss"])
    se = json_array(data["train_loss_se"])
    ax1.semilogy(step, tl, color=COLORS["model"], label="training loss (fresh prompts)")
    ax1.fill_between(step, tl - 2 * se, tl + 2 * se, color=COLORS["model"], alpha=0.25, lw=0)
    ax1.axhline(data["L_star"], ls="--", color=COLORS["theory"], label=r"$L^\star$ (Lemma 5)")
    ax1.set_xlabel("Adam iteration")
    ax1.set_ylabel(r"$\sum_k(\hat y_k - y_k)^2/2$")
    ax1.legend()
    ax2.semilogy(step, data["inference_in"], color=COLORS["ridge"], label="inference loss, in-domain")
    ax2.semilogy(step, data["inference_ood"], color=COLORS["ood"], label="inference loss, out-of-domain")
    if "one_layer" in data:
        one = data["one_layer"]
        ax2.semilogy(one["step"], one["inference_in"], "--", lw=0.9, color=COLORS["ridge"],
                     label=f"one layer (eq. 8, H={one['H']}), in-domain")
        ax2.semilogy(one["step"], one["inference_ood"], "--", lw=0.9, color=COLORS["ood"],
                     label="one layer, out-of-domain")
    ax2.set_xlabel("Adam iteration")
    ax2.set_ylabel(r"$\|\hat y - \hat y^\star\|^2/K$")
    lows = [v for key in ("inference_in", "inference_ood") for v in data[key] if v is not None]
    if "one_layer" in data:
        lows += [v for v in data["one_layer"]["inference_in"] if v is not None]
    if lows and min(lows) > 0:
        ax2.set_ylim(bottom=min(lows) / 6)                     # room for the legend below the curves
    legend_outside(ax2, loc="lower")
    c = data["config"]
    fig.suptitle(f"Figure 2(b), {data['scale']} scale: 4 layers,\nd_model={c['d_model']}, d_ff={c['d_ff']}, "
                 f"H={c['H']}; N={c['N']}, K={c['K']},\nd={c['d']}, m={c['m']}, τ={c['tau']:g}; "
                 f"{data['tokens']} tokens;\nAdam lr={c['lr']:g}, batch {c['batch']}")
    return fig

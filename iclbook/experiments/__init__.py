"""The paper's experiments (Figures 2(a), 2(b), 3, 4, 5), shared by the book's chapters and
``python -m iclbook reproduce``.

Three parts, each in one place:

- **what** to compute: a :class:`Config` (:mod:`.configuration`), made from a figure's named preset by
  :func:`config`: ``config("fig4", "paper")``, ``config("fig3", "quick")``,
  ``config("fig2b", "reduced", seed=1)``, ``config("fig2a", "paper", steps=100)``;
- **running and drawing**: each figure lives in its module ``iclbook.experiments.<figure>`` with
  ``run(config=None, *, progress=False, ...) -> dict``, the numbers behind the figure (JSON types,
  computed by the package; a run never draws), and ``plot(data, fig=None) -> Figure``, which draws
  ``data`` and nothing else (pyplot is imported only when ``plot`` creates the figure itself);
- **reading and writing** results: :mod:`.results` (JSON files, atomic sets of files, provenance, the
  book's cached results: :func:`load_cached`).

A chapter and the command line call the same functions, so they cannot disagree. The four-layer
figures (PyTorch, :mod:`iclbook.fourlayer`) take ``device`` and ``threads`` in ``run``; their ``run``
may return arrays under ``"_arrays"`` (the trained model's parameters), which :func:`reproduce`
writes to ``<figure>_model.npz``.
"""
from __future__ import annotations

import io
import sys
import time
from pathlib import Path

from .configuration import FIGURES, TORCH_FIGURES, Config, config, figure_module
from .results import load_cached, load_json, save_json

__all__ = ["FIGURES", "TORCH_FIGURES", "SWEEP_FIGURES", "Config", "config", "figure_module", "run",
           "run_seeds", "reproduce", "load_cached", "load_json", "save_json"]

#: The figures whose runs :func:`run_seeds` sends to worker processes or a Dask cluster (numpy only; the
#: four-layer figures run their seeds in this process, with PyTorch's own threads).
SWEEP_FIGURES = ("fig2a", "fig3", "fig4")


def run(config: Config, **options) -> dict:
    """Run the experiment ``config`` (its figure module's ``run``); ``options`` (``progress``, and for
    the four-layer figures ``device``, ``threads``, ``command``) say how, not what."""
    return figure_module(config.figure).run(config, **options)


def run_unit(unit: dict) -> dict:
    """One independent run of a sweep that runs a whole figure for one seed: ``unit["config"]`` is a
    :meth:`Config.spec`. Module level, so that worker processes can receive it."""
    return run(Config.from_spec(unit["config"]))


def run_seeds(config: Config, seeds, *, jobs: int = 1, dask=None, store=None, progress: bool = False) -> dict:
    """The figure for every seed in ``seeds`` (``config`` with its seed replaced), its independent runs
    (one per seed, or per seed and H for Figure 4) computed by :func:`iclbook.sweeps.sweep`: serially, on
    ``jobs`` worker processes or on the Dask scheduler ``dask``, each with one BLAS thread, so the
    results are the same whatever the backend; with ``store`` (a folder), each run is stored as it
    finishes and a repeated call computes only the missing runs. One progress bar over the runs.

    Returns the figure's usual data when ``seeds`` holds one seed; otherwise ``{"figure", "config", "tokens",
    "objective", "seeds", "per_seed": [data of each seed]}``; both with ``runs_computed_loaded``: how many
    runs were computed now and how many were read back from ``store``."""
    from .. import sweeps
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    if config.figure not in SWEEP_FIGURES:
        raise ValueError(f"several seeds or parallel runs: {', '.join(SWEEP_FIGURES)} only, not {config.figure}")
    mod = figure_module(config.figure)
    per = [config.replace(seed=s) for s in seeds]
    split = hasattr(mod, "training_configs")     # Figure 4: one training run per (seed, H)
    units = [mod.training_configs(c) if split else [{"config": c.spec()}] for c in per]
    flat = [u for us in units for u in us]
    swept = sweeps.sweep(sweeps.training_run if split else run_unit, flat, store=store, jobs=jobs, dask=dask,
                         progress=progress, desc=f"{config.figure} runs",
                         cost=(lambda c: c["H"] * c["steps"]) if split else None)   # H = 400 first
    done = swept.results
    out, i = [], 0
    for c, us in zip(per, units):
        res = done[i:i + len(us)]
        i += len(us)
        out.append(mod.assemble(c, res, seconds=sum(r.get("seconds", 0.0) for r in res)) if split else res[0])
    counts = {"computed": swept.computed, "loaded": swept.loaded}
    if len(out) == 1:
        return dict(out[0], runs_computed_loaded=counts)
    return {"figure": config.figure, "config": config.as_dict(), "tokens": config.tokens,
            "objective": config.objective, "seeds": seeds, "per_seed": out, "runs_computed_loaded": counts}


def reproduce(config: Config, out, **options) -> list[Path]:
    """Run ``config``, then write ``<figure>.json``, ``<figure>.png`` and ``<figure>.svg`` (and
    ``<figure>_model.npz`` for a run that returns ``"_arrays"``) into the folder ``out`` as one set
    (:func:`.results.write_set`): an interruption leaves the previous set or the complete new one.

    The folder is checked first (:class:`.results.OutputFolderError` before any work). The figure is
    drawn on a standalone matplotlib figure: no backend is chosen and pyplot is not used.
    ``options`` go to :func:`run`; ``command`` (how the run was started) is recorded in the JSON's
    ``provenance`` with the package version, the git commit, the machine and the seconds."""
    from ..plotting import new_figure
    from . import results

    mod = figure_module(config.figure)
    out = results.prepare_output_folder(out)
    print(f"iclbook: computing {config.figure} ({config.preset})", file=sys.stderr, flush=True)
    results.pause_for_tests("compute")
    sweep = {k: options.pop(k) for k in ("seeds", "jobs", "dask") if k in options}
    torch = config.figure in TORCH_FIGURES
    command = options.get("command") if torch else options.pop("command", None)
    t0, commit = time.perf_counter(), results.git_commit()
    if sweep:
        data = run_seeds(config, sweep.get("seeds", [config.seed]), jobs=sweep.get("jobs", 1),
                         dask=sweep.get("dask"), store=out / "runs", progress=options.get("progress", False))
    else:
        data = mod.run(config, **options)
    if not torch:   # the four-layer figures record their own (device, threads)
        data["provenance"] = dict(results.provenance(seconds=time.perf_counter() - t0, command=command,
                                                     commit=commit), jobs=sweep.get("jobs", 1))
        if "runs_computed_loaded" in data:   # a sweep: how many runs were read back from <out>/runs
            data["provenance"]["runs_computed_loaded"] = data.pop("runs_computed_loaded")
    arrays = data.pop("_arrays", None)
    # several seeds: the median and range over seeds where the figure draws them, else the first seed's figure
    # (every seed's data is in the JSON)
    several = "per_seed" in data and not getattr(mod, "PLOTS_SEEDS", False)
    fig = mod.plot(data["per_seed"][0] if several else data, fig=new_figure(mod.FIGSIZE, pyplot=False))
    name = config.figure
    files = {out / f"{name}.json": results.json_bytes(data)}
    if arrays is not None:
        import numpy as np
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        files[out / f"{name}_model.npz"] = buf.getvalue()
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150 if ext == "png" else None, bbox_inches="tight")
        files[out / f"{name}.{ext}"] = buf.getvalue()
    return results.write_set(files)

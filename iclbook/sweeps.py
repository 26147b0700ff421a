"""The independent runs of a sweep (seeds × heads × protocols …) in parallel, stored as they finish, resumable.

A figure of the paper is a set of independent runs, each fully described by a small JSON-able configuration
(its sizes, H, seed, protocol, steps). :func:`sweep` runs a function on each configuration

- serially, or on ``jobs`` local worker processes (joblib's loky backend), or on a running ``dask.distributed``
  scheduler (``dask=ADDRESS``, through joblib's Dask backend), with one BLAS thread per run in every case, so the
  results are the same bit for bit whatever the backend (:func:`run_isolated`);
- storing each run's result as soon as it finishes, in a :class:`RunStore` keyed by its configuration
  (:func:`run_key`), so an interrupted sweep resumes where it stopped instead of starting again;
- with one progress bar over the runs.

Used by ``python -m iclbook reproduce FIG --seeds S --jobs J [--dask ADDRESS]``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["run_key", "RunStore", "run_isolated", "sweep", "SweepResult", "training_run"]


def _canonical(config: dict) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"), allow_nan=False)


def run_key(config: dict) -> str:
    """A short stable key of a run's configuration: the first 16 hex digits of the SHA-256 of its canonical
    JSON (sorted keys, no spaces). Equal configurations, in any key order, give the same key."""
    return hashlib.sha256(_canonical(config).encode()).hexdigest()[:16]


class RunStore:
    """A folder of finished runs, one JSON file per run, ``<key>.json`` = {"config": …, "result": …}.

    A file is written to a temporary name and renamed, so a run is either stored whole or not at all (an
    interruption in the middle of a write leaves no partial file behind).
    """

    def __init__(self, folder):
        self.folder = Path(folder)

    def path(self, config: dict) -> Path:
        return self.folder / f"{run_key(config)}.json"

    def has(self, config: dict) -> bool:
        return self.path(config).is_file()

    def load(self, config: dict):
        data = json.loads(self.path(config).read_text())
        if data["config"] != json.loads(_canonical(config)):
            raise ValueError(f"{self.path(config)} holds another configuration (a key collision)")
        return data["result"]

    def save(self, config: dict, result) -> Path:
        from .experiments.results import write_atomic
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"config": json.loads(_canonical(config)), "result": result}, allow_nan=True)
        return write_atomic(self.path(config), text.encode())


def run_isolated(fn: Callable[[dict], object], config: dict, threads: int = 1):
    """``fn(config)`` with the BLAS and OpenMP thread pools limited to ``threads`` for the call.

    Every backend of :func:`sweep` runs its runs through this function, so a serial sweep and a parallel one
    do the same arithmetic in the same order: their results agree bit for bit. (Two multi-threaded runs on
    two cores also fight over the cores: one thread per run is the fast choice when runs are parallel.)
    """
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=threads):
        return fn(config)


@dataclass
class SweepResult:
    """The results of a sweep in the order of its configurations, and how many runs were computed now
    (``computed``) or read back from the store (``loaded``)."""

    results: list
    computed: int
    loaded: int


def sweep(fn: Callable[[dict], object], configs, *, store=None, jobs: int = 1, dask: str | None = None,
          threads: int = 1, progress: bool = False, desc: str = "runs", cost=None) -> SweepResult:
    """Run ``fn(config)`` for every configuration; returns a :class:`SweepResult`.

    ``fn`` must be a module-level function (it is sent to worker processes) that returns JSON-able data and
    depends on nothing but its configuration (seeds included). ``store`` (a folder or a :class:`RunStore`):
    runs already stored are read back, not recomputed, and each new run is stored as soon as it finishes.
    ``jobs``: local worker processes (1: in this process). ``dask``: the address of a running
    ``dask.distributed`` scheduler (``tcp://host:8786``) or a ``distributed.Client``; the runs then go there
    through joblib's Dask backend, and ``jobs`` is ignored. ``threads``: BLAS threads per run.
    ``cost(config)`` (optional, e.g. heads × steps): the runs start in decreasing cost, so that on parallel
    workers the longest run does not start last (the results keep the order of ``configs``).
    """
    configs = [dict(c) for c in configs]
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    if store is not None and not isinstance(store, RunStore):
        store = RunStore(store)
    results = [None] * len(configs)
    todo = []
    for i, c in enumerate(configs):
        if store is not None and store.has(c):
            results[i] = store.load(c)
        else:
            todo.append(i)
    if cost is not None:
        todo.sort(key=lambda i: -cost(configs[i]))
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(configs), initial=len(configs) - len(todo), desc=desc)

    def finished(i, result):
        if store is not None:
            store.save(configs[i], result)
            result = store.load(configs[i])          # what a resumed sweep would read: the same JSON values
        results[i] = result
        if bar is not None:
            bar.update(1)

    try:
        if todo and dask is None and jobs == 1:
            for i in todo:
                finished(i, run_isolated(fn, configs[i], threads))
        elif todo:
            _parallel(fn, configs, todo, jobs, dask, threads, finished)
    finally:
        if bar is not None:
            bar.close()
    return SweepResult(results, computed=len(todo), loaded=len(configs) - len(todo))


def _indexed(fn, config, threads, i):
    return i, run_isolated(fn, config, threads)


def _parallel(fn, configs, todo, jobs, dask, threads, finished):
    import joblib
    calls = (joblib.delayed(_indexed)(fn, configs[i], threads, i) for i in todo)
    if dask is None:
        par = joblib.Parallel(n_jobs=min(jobs, len(todo)), return_as="generator_unordered")
        for i, result in par(calls):
            finished(i, result)
        return
    from distributed import Client
    client = dask if isinstance(dask, Client) else Client(dask)
    try:
        with joblib.parallel_config(backend="dask"):
            par = joblib.Parallel(n_jobs=-1, return_as="generator_unordered")
            for i, result in par(calls):
                finished(i, result)
    finally:
        if client is not dask:
            client.close()


def training_run(config: dict) -> dict:
    """One training run described entirely by ``config``: the problem's sizes ``K, N, d, m, tau``, its
    ``problem_seed`` (default 0) and ``tokens`` ("unit": unit-norm tokens, the theory's setting, default;
    "gaussian": raw standard Gaussian tokens, the paper's §4), then ``H``, ``method`` ("gd" or "adam"),
    ``steps``, ``seed`` and any other keyword of :func:`iclbook.training.train_gd` /
    :func:`iclbook.training.train_adam` (``lr``, ``batch``, ``n_train``, ``objective``, ``record_every``, …).
    Returns the recorded curves as lists (JSON-able): the unit of work of :func:`sweep`.
    """
    import warnings

    from .problem import make_problem
    from .training import train
    c = dict(config)
    sizes = {k: c.pop(k) for k in ("K", "N", "d", "m", "tau")}
    tokens = c.pop("tokens", "unit")
    if tokens not in ("unit", "gaussian"):
        raise ValueError(f"tokens must be 'unit' or 'gaussian', got {tokens!r}")
    problem = make_problem(**sizes, seed=c.pop("problem_seed", 0), unit_tokens=tokens == "unit")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = train(problem, c.pop("H"), steps=c.pop("steps"), method=c.pop("method", "gd"), **c)
    return {"step": h.step.tolist(), "loss": h.loss.tolist(), "gap": h.gap.tolist(), "zeta": h.zeta.tolist(),
            "q_move": h.q_move.tolist(), "alpha_max": h.alpha_max.tolist(), "train_loss": h.train_loss.tolist(),
            "zeta0": h.zeta0, "L_star": h.L_star, "diverged": h.diverged, "message": h.message,
            "steps_done": h.steps_done, "seconds": float(h.seconds),
            "warnings": [str(w.message) for w in caught]}

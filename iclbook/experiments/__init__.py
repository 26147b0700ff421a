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
from pathlib import Path

from .configuration import FIGURES, TORCH_FIGURES, Config, config, figure_module
from .results import load_cached, load_json, save_json

__all__ = ["FIGURES", "TORCH_FIGURES", "Config", "config", "figure_module", "run", "reproduce",
           "load_cached", "load_json", "save_json"]


def run(config: Config, **options) -> dict:
    """Run the experiment ``config`` (its figure module's ``run``); ``options`` (``progress``, and for
    the four-layer figures ``device``, ``threads``, ``command``) say how, not what."""
    return figure_module(config.figure).run(config, **options)


def reproduce(config: Config, out, **options) -> list[Path]:
    """Run ``config``, then write ``<figure>.json``, ``<figure>.png`` and ``<figure>.svg`` (and
    ``<figure>_model.npz`` for a run that returns ``"_arrays"``) into the folder ``out`` as one set
    (:func:`.results.write_set`): an interruption leaves the previous set or the complete new one.

    The folder is checked first (:class:`.results.OutputFolderError` before any work). The figure is
    drawn on a standalone matplotlib figure: no backend is chosen and pyplot is not used.
    ``options`` go to :func:`run`."""
    from ..plotting import new_figure
    from . import results

    mod = figure_module(config.figure)
    out = results.prepare_output_folder(out)
    print(f"iclbook: computing {config.figure} ({config.preset})", file=sys.stderr, flush=True)
    results.pause_for_tests("compute")
    data = mod.run(config, **options)
    arrays = data.pop("_arrays", None)
    fig = mod.plot(data, fig=new_figure(mod.FIGSIZE, pyplot=False))
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

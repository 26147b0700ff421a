"""The paper's experiments (Figures 2(a), 2(b), 3, 4, 5), shared by the book's chapters and ``python -m iclbook reproduce``.

Each figure lives in its own module ``iclbook.experiments.<name>`` with

- ``run(*, seed=0, quick=False, progress=False) -> dict``: the numbers behind the figure (JSON-serialisable:
  lists, floats, ints, strings), computed by the package; runs return data and never draw;
- ``plot(data, fig=None) -> matplotlib.figure.Figure``: draws ``data`` and nothing else.

A chapter and the command line call the same two functions, so they cannot disagree.

Figures 2(b) and 5 (the four-layer transformer, :mod:`iclbook.fourlayer`) need PyTorch and take the extra
options ``scale``, ``tokens``, ``device`` and ``threads``; their ``run`` may return arrays under ``"_arrays"``
(the trained model's parameters), which :func:`reproduce` writes to ``<name>_model.npz``.
"""
from __future__ import annotations

import importlib
import json
import os
import tempfile
from pathlib import Path

FIGURES = ("fig2a", "fig2b", "fig3", "fig4", "fig5")

#: The figures of the four-layer transformer (PyTorch).
TORCH_FIGURES = ("fig2b", "fig5")

__all__ = ["FIGURES", "TORCH_FIGURES", "load", "prepare_out_dir", "reproduce", "write_atomic", "write_set",
           "save_json", "load_json"]


def load(name: str):
    """The module of figure ``name`` (one of :data:`FIGURES`)."""
    if name not in FIGURES:
        raise ValueError(f"figure must be one of {', '.join(FIGURES)}, got {name!r}")
    return importlib.import_module(f"{__name__}.{name}")


def prepare_out_dir(out) -> Path:
    """Create ``out`` if needed and check that it is writable, before any work is done (ValueError if not)."""
    p = Path(out)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out {str(out)!r} cannot be created: {e.strerror}") from None
    if not p.is_dir():
        raise ValueError(f"--out {str(out)!r} is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=p, prefix=".write-test-"):
            pass
    except OSError as e:
        raise ValueError(f"--out {str(out)!r} is not writable: {e.strerror}") from None
    return p


def write_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so an interrupted
    run never leaves a half-written file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)          # mkstemp makes 0600; results are ordinary readable files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _json_bytes(data: dict) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


def save_json(path, data: dict) -> Path:
    """Save ``data`` as JSON, atomically."""
    return write_atomic(path, _json_bytes(data))


def load_json(path) -> dict:
    """Load a JSON file written by :func:`save_json`; a truncated or corrupted file gives a clear ValueError."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a valid JSON results file (truncated or corrupted?): {e}") from None


def _pause_for_tests(point: str) -> None:
    """Test hook: if the environment variable ``ICLBOOK_TEST_PAUSE_AT`` equals ``point``, say so on stderr and
    wait (up to 60 s) for a signal, so a test can interrupt ``reproduce`` at a known moment instead of after a
    guessed sleep (``tests/test_reliability.py``). Points: ``compute`` (before the run) and ``write`` (all
    temporary files written, none renamed into place). Without the variable this does nothing."""
    if os.environ.get("ICLBOOK_TEST_PAUSE_AT") != point:
        return
    import sys
    import time
    print(f"iclbook: paused at {point}", file=sys.stderr, flush=True)
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        time.sleep(0.01)


def write_set(files: dict) -> list[Path]:
    """Write several files as one set: ``files`` maps each target path to its bytes.

    Every file is first written completely to a temporary file beside its target; then all are renamed into
    place with SIGINT and SIGTERM held back (a signal that arrives meanwhile is delivered right after the
    last rename). The JSON results are renamed last. An interruption at any moment therefore leaves either
    the previous set or the complete new one, never a mix, and no temporary file.
    """
    import signal
    tmps = {}
    try:
        for path, data in files.items():
            path = Path(path)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            tmps[path] = tmp
            os.fchmod(fd, 0o644)          # mkstemp makes 0600; results are ordinary readable files
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        _pause_for_tests("write")
        held = {signal.SIGINT, signal.SIGTERM}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            for path in sorted(tmps, key=lambda p: p.suffix == ".json"):    # pictures first, the JSON last
                os.replace(tmps.pop(path), path)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    finally:
        for tmp in tmps.values():         # an interrupted write: remove what was not renamed into place
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
    return [Path(p) for p in files]


def reproduce(name: str, out, *, seed: int = 0, quick: bool = False, progress: bool = False,
              **options) -> list[Path]:
    """Run figure ``name``, then write ``<name>.json``, ``<name>.png`` and ``<name>.svg`` (and
    ``<name>_model.npz`` for a run that returns ``"_arrays"``) into ``out`` as one set (:func:`write_set`): an
    interruption leaves the previous set or the complete new one. ``options`` go to the figure's ``run``."""
    import io
    import sys

    import matplotlib
    matplotlib.use("Agg")
    mod = load(name)
    out = prepare_out_dir(out)
    print(f"iclbook: computing {name}{' (quick)' if quick else ''}", file=sys.stderr, flush=True)
    _pause_for_tests("compute")
    data = mod.run(seed=seed, quick=quick, progress=progress, **options)
    arrays = data.pop("_arrays", None)
    fig = mod.plot(data)
    files = {out / f"{name}.json": _json_bytes(data)}
    if arrays is not None:
        import numpy as np
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        files[out / f"{name}_model.npz"] = buf.getvalue()
    for ext in ("png", "svg"):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, dpi=150 if ext == "png" else None, bbox_inches="tight")
        files[out / f"{name}.{ext}"] = buf.getvalue()
    return write_set(files)

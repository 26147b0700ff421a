"""Reading and writing the results of the experiments, in one place.

- JSON results: :func:`save_json` (atomic) and :func:`load_json` (a clear error for a truncated file);
- several files as one set (:func:`write_set`: an interruption leaves the previous set or the new one);
- the output folder of a run, checked before any work (:func:`prepare_output_folder`);
- where a result came from (:func:`provenance`: command, versions, git commit, machine, seconds);
- the book's cached results (:func:`cached_results_dir`, :func:`cached_path`, :func:`load_cached`),
  found from the package's location or the environment variable ``ICLBOOK_DATA``, never from the
  working directory.

Used by :func:`iclbook.experiments.reproduce`, by the chapters that plot a cached paper-scale run
(``book/ch09_heads``, ``book/ch10_inference``, ``book/ch13_four_layer``) and by the tests.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["OutputFolderError", "prepare_output_folder", "write_atomic", "write_set", "json_bytes",
           "json_list", "json_array", "save_json", "load_json", "cached_results_dir", "cached_path", "load_cached", "machine",
           "git_commit", "provenance", "DATA_ENV"]

#: The environment variable that names the folder of cached results (default: ``book/data`` beside the
#: package, as in a clone of the book's repository).
DATA_ENV = "ICLBOOK_DATA"


# ---- the book's cached results ---------------------------------------------------------------------

def cached_results_dir() -> Path:
    """The folder of the book's cached results: ``$ICLBOOK_DATA`` if set, else ``book/data`` next to the
    package (a clone of the book's repository). FileNotFoundError if it does not exist."""
    env = os.environ.get(DATA_ENV)
    folder = Path(env) if env else Path(__file__).resolve().parents[2] / "book" / "data"
    if not folder.is_dir():
        hint = (f"{DATA_ENV}={env!r}" if env else
                f"no {DATA_ENV} set and no book/data beside the package ({folder})")
        raise FileNotFoundError(f"the book's cached results are not available: {hint}; set {DATA_ENV} "
                                "to the book's data folder")
    return folder


def cached_path(name: str) -> Path:
    """The path of the cached file ``name`` (e.g. ``"fig4.json"``, ``"fig2b_model.npz"``); a
    FileNotFoundError naming the folder if it is missing."""
    path = cached_results_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} is not among the cached results in {path.parent}")
    return path


def load_cached(figure: str) -> dict:
    """The cached results of ``figure`` (``"fig2a"``, ``"fig4"``, …): ``<figure>.json`` of
    :func:`cached_results_dir`, read by :func:`load_json` (JSON only: nothing loaded can run code)."""
    return load_json(cached_path(f"{figure}.json"))


# ---- files ----------------------------------------------------------------------------------------

class OutputFolderError(ValueError):
    """The output folder ``path`` cannot be used; ``reason`` says why (e.g. "is not writable: ...")."""

    def __init__(self, path, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"output folder {self.path!r} {reason}")


def prepare_output_folder(out) -> Path:
    """Create the folder ``out`` if needed and check that it is writable, before any work is done
    (:class:`OutputFolderError`, a ValueError, if not)."""
    p = Path(out)
    if p.exists() and not p.is_dir():
        raise OutputFolderError(out, "is not a folder")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputFolderError(out, f"cannot be created: {e.strerror}") from None
    try:
        with tempfile.NamedTemporaryFile(dir=p, prefix=".write-test-"):
            pass
    except OSError as e:
        raise OutputFolderError(out, f"is not writable: {e.strerror}") from None
    return p


def _write_temporary(path: Path, data: bytes) -> str:
    """``data`` written completely (and synced) to a new temporary file beside ``path``; its name."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)          # mkstemp makes 0600; results are ordinary readable files
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _remove(tmp) -> None:
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass


def write_atomic(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename, so an
    interrupted run never leaves a half-written file."""
    path = Path(path)
    tmp = _write_temporary(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    return path


def json_bytes(data: dict) -> bytes:
    """The bytes of a results file: indented, sorted keys, a final newline (the format of ``book/data``)."""
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


def json_list(x) -> list:
    """A float array as a JSON list, a non-finite entry (NaN: nothing recorded, e.g. the mini-batch loss
    of step 0; inf: a diverged run) as None, so results files stay strict JSON."""
    import math

    import numpy as np
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(x, dtype=float)]


def json_array(values):
    """The inverse of :func:`json_list`: a JSON list of floats as a float array, None as NaN."""
    import numpy as np
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def save_json(path, data: dict) -> Path:
    """Save ``data`` as JSON (:func:`json_bytes`), atomically."""
    return write_atomic(path, json_bytes(data))


def load_json(path) -> dict:
    """Load a JSON results file; a truncated or corrupted file gives a clear ValueError."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not a valid JSON results file (truncated or corrupted?): {e}") from None


def pause_for_tests(point: str) -> None:
    """Test hook: if the environment variable ``ICLBOOK_TEST_PAUSE_AT`` equals ``point``, say so on stderr
    and wait (up to 60 s) for a signal, so a test can interrupt ``reproduce`` at a known moment instead of
    after a guessed sleep (``tests/test_reliability.py``). Points: ``compute`` (before the run) and
    ``write`` (all temporary files written, none renamed into place). Without the variable: nothing."""
    if os.environ.get("ICLBOOK_TEST_PAUSE_AT") != point:
        return
    import time
    print(f"iclbook: paused at {point}", file=sys.stderr, flush=True)
    deadline = time.monotonic() + 60.0
    while time.monotonic() < deadline:
        time.sleep(0.01)


def write_set(files: dict) -> list[Path]:
    """Write several files as one set: ``files`` maps each target path to its bytes.

    Every file is first written completely to a temporary file beside its target; then all are renamed
    into place with SIGINT and SIGTERM held back (a signal that arrives meanwhile is delivered right after
    the last rename). The JSON results are renamed last. An interruption at any moment therefore leaves
    either the previous set or the complete new one, never a mix, and no temporary file.
    """
    import signal
    tmps = {}
    try:
        for path, data in files.items():
            path = Path(path)
            tmps[path] = _write_temporary(path, data)
        pause_for_tests("write")
        held = {signal.SIGINT, signal.SIGTERM}
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            for path in sorted(tmps, key=lambda p: p.suffix == ".json"):    # pictures first, JSON last
                os.replace(tmps.pop(path), path)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    finally:
        for tmp in tmps.values():         # an interrupted write: remove what was not renamed into place
            _remove(tmp)
    return [Path(p) for p in files]


# ---- provenance -----------------------------------------------------------------------------------

def machine() -> str:
    """The CPU model and core count (and the GPU's name when CUDA is used), e.g. 'AMD EPYC 7B13, 2 cores'."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def git_commit() -> str:
    """The commit of the package's working copy ('+dirty' if it has uncommitted changes), or 'unknown'."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def provenance(*, seconds: float, device: str = "cpu", threads=None, command: str | None = None,
               commit: str | None = None) -> dict:
    """A provenance record for a results file; ``commit``: the one taken when the run started (default:
    now); ``command``: how the run was started (default: this process's command line)."""
    from .. import __version__
    out = {
        "command": command if command is not None else " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "iclbook_version": __version__,
        "git_commit": commit if commit is not None else git_commit(),
        "python": platform.python_version(),
        "machine": machine(),
        "device": device,
        "threads": threads,
        "seconds": float(seconds),
    }
    try:
        import torch
        out["torch_version"] = torch.__version__
        if device == "cuda" and torch.cuda.is_available():
            out["machine"] += f"; GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return out

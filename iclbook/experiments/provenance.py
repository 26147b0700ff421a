"""Where a cached result came from: command, package and PyTorch versions, git commit, machine, seconds."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

__all__ = ["machine", "git_commit", "provenance"]


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
        head = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def provenance(*, seconds: float, device: str = "cpu", threads=None, command: str | None = None,
               commit: str | None = None) -> dict:
    """A provenance record for a results file; ``commit``: the one taken when the run started (default: now)."""
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

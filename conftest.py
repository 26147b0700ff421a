"""Record how long each chapter notebook takes under nbval, and hold every chapter to the book's budget.

The times are written to .cache/exec_times.json; the book's "Execution statistics" page shows them when
the book is built after the tests (``make test``). A chapter over 60 s, or the whole book over 5 minutes,
fails the run.
"""
import json
import os
import platform
import time
from collections import defaultdict
from pathlib import Path

CHAPTER_BUDGET_S = 60.0
BOOK_BUDGET_S = 300.0
_times = defaultdict(float)
_cells = defaultdict(int)
# the second strict run under another BLAS kernel (make test) writes its times elsewhere, so the book's page
# shows the run under the machine's own kernel
_OUT = Path(os.environ.get("ICLBOOK_EXEC_TIMES", Path(__file__).parent / ".cache" / "exec_times.json"))


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _times[path] += report.duration
        if report.when == "call":
            _cells[path] += 1


def pytest_sessionfinish(session, exitstatus):
    if not _times:
        return
    total = sum(_times.values())
    _OUT.parent.mkdir(exist_ok=True)
    # a run over some chapters updates their rows and keeps the others' (each row says when it was measured), so
    # the book's page still lists every chapter after, e.g., one chapter was re-run alone
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    try:
        rows = json.loads(_OUT.read_text()).get("notebooks", {})
    except (OSError, ValueError):
        rows = {}
    rows.update({k: {"seconds": round(v, 2), "cells": _cells[k], "measured": now, "machine": machine}
                 for k, v in _times.items()})
    _OUT.write_text(json.dumps({
        "measured": now,
        "machine": machine,
        "notebooks": dict(sorted(rows.items())),
        "total_seconds": round(sum(r["seconds"] for r in rows.values()), 1),
    }, indent=1) + "\n")
    over = [f"{k} ({v:.0f} s)" for k, v in _times.items() if v > CHAPTER_BUDGET_S]
    tr = session.config.pluginmanager.get_plugin("terminalreporter")
    if tr:
        tr.write_line(f"chapters under nbval: {total:.0f} s in all; slowest: "
                      + ", ".join(f"{Path(k).stem} {v:.1f} s" for k, v in sorted(_times.items(), key=lambda x: -x[1])[:3]))
    if over or total > BOOK_BUDGET_S:
        if tr:
            tr.write_line(f"TIME BUDGET EXCEEDED: chapters over {CHAPTER_BUDGET_S:.0f} s: {over or 'none'}; "
                          f"whole book {total:.0f} s (budget {BOOK_BUDGET_S:.0f} s)", red=True)
        session.exitstatus = 1

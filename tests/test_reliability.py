"""Failure behaviour of the command line and of files: atomic outputs, interruption, bad --out, corrupted
files, determinism (issue: failure behaviour)."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import iclbook as ic
from iclbook import experiments


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "iclbook", *args], capture_output=True, text=True, timeout=300, **kw)


def test_reproduce_writes_figure_and_numbers(tmp_path):
    r = _run("reproduce", "fig3", "--quick", "--no-progress", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["fig3.json", "fig3.png", "fig3.svg"]
    data = experiments.load_json(tmp_path / "fig3.json")
    assert data and (tmp_path / "fig3.png").stat().st_size > 1000
    assert (tmp_path / "fig3.svg").read_text().lstrip().startswith("<?xml")


def test_unwritable_out_fails_before_any_work(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    t0 = time.perf_counter()
    r = _run("reproduce", "fig2a", "--out", str(blocker / "sub"))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and "--out" in r.stderr and "Traceback" not in r.stderr
    assert time.perf_counter() - t0 < 30          # fails at once instead of after the paper-scale run


def _interrupt_at(point, sig, out, *extra):
    """Run ``reproduce fig3 --quick`` paused at ``point`` (the package's test hook), send ``sig`` once the
    process says it is paused, and return (exit code, stderr). Deterministic: no sleep, no race with the
    machine's speed."""
    env = {**os.environ, "ICLBOOK_TEST_PAUSE_AT": point}
    p = subprocess.Popen([sys.executable, "-m", "iclbook", "reproduce", "fig3", "--quick", "--no-progress",
                          "--out", str(out), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env)
    lines = []
    for line in p.stderr:                          # wait until the process is at the point
        lines.append(line)
        if f"paused at {point}" in line:
            break
    else:
        p.wait(timeout=120)
        raise AssertionError(f"never paused at {point}: {''.join(lines)}")
    p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    return p.returncode, "".join(lines) + err


def _snapshot(folder):
    return {q.name: q.read_bytes() for q in sorted(folder.iterdir())}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("point", ["compute", "write"])
def test_interrupted_reproduce_leaves_the_previous_set(tmp_path, sig, point):
    # an interruption before any output and one after every temporary file is written but none renamed:
    # both must leave no file at all in an empty folder, and the previous complete set in a full one
    code, err = _interrupt_at(point, sig, tmp_path)
    assert code == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []          # no half-written output, no temporary file left
    r = _run("reproduce", "fig3", "--quick", "--no-progress", "--out", str(tmp_path), "--seed", "1")
    assert r.returncode == 0, r.stderr
    before = _snapshot(tmp_path)
    assert sorted(before) == ["fig3.json", "fig3.png", "fig3.svg"]
    code, err = _interrupt_at(point, sig, tmp_path, "--seed", "2")   # a different set would be written
    assert code == 130, err
    assert _snapshot(tmp_path) == before           # the previous set, byte for byte, and nothing else


def test_a_completed_run_replaces_the_whole_set(tmp_path):
    for seed in ("1", "2"):
        r = _run("reproduce", "fig3", "--quick", "--no-progress", "--out", str(tmp_path), "--seed", seed)
        assert r.returncode == 0, r.stderr
        snap = _snapshot(tmp_path)
        assert sorted(snap) == ["fig3.json", "fig3.png", "fig3.svg"]
        assert json.loads(snap["fig3.json"])["config"]["seed"] == int(seed)


def test_truncated_or_corrupted_results_file(tmp_path):
    good = experiments.save_json(tmp_path / "r.json", {"a": [1, 2, 3]})
    assert experiments.load_json(good) == {"a": [1, 2, 3]}
    bad = tmp_path / "bad.json"
    bad.write_text(good.read_text()[:7])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        experiments.load_json(bad)
    bad.write_bytes(b"\x80\x81\x82")
    with pytest.raises(ValueError):
        experiments.load_json(bad)


def test_write_atomic_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
    target = experiments.save_json(tmp_path / "r.json", {"old": 1})

    def boom(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiments.os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        experiments.save_json(target, {"new": 2})
    assert json.loads(target.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize("method", ["gd", "adam"])
def test_same_seed_gives_bit_identical_history(method):
    p = ic.make_problem(30, 5, 6, 4, 0.1, seed=2)
    kw = dict(steps=200, method=method, seed=7, record_every=10)
    if method == "adam":
        kw.update(n_train=300, batch=32, lr=1e-2)
    h1, h2 = ic.train(p, 6, **kw), ic.train(p, 6, **kw)
    for name in ("step", "loss", "gap", "zeta", "q_move", "alpha_max", "Q", "w"):
        np.testing.assert_array_equal(getattr(h1, name), getattr(h2, name))
    h3 = ic.train(p, 6, **{**kw, "seed": 8})
    assert not np.array_equal(h1.loss, h3.loss)

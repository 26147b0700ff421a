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
from iclbook.experiments import results


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "iclbook", *args], capture_output=True, text=True, timeout=300, **kw)


def test_reproduce_writes_figure_and_numbers(tmp_path):
    r = _run("reproduce", "fig3", "--quick", "--no-progress", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["fig3.json", "fig3.png", "fig3.svg"]
    data = results.load_json(tmp_path / "fig3.json")
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
    good = results.save_json(tmp_path / "r.json", {"a": [1, 2, 3]})
    assert results.load_json(good) == {"a": [1, 2, 3]}
    bad = tmp_path / "bad.json"
    bad.write_text(good.read_text()[:7])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        results.load_json(bad)
    bad.write_bytes(b"\x80\x81\x82")
    with pytest.raises(ValueError):
        results.load_json(bad)


def test_write_atomic_keeps_old_file_when_interrupted(tmp_path, monkeypatch):
    target = results.save_json(tmp_path / "r.json", {"old": 1})

    def boom(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(results.os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        results.save_json(target, {"new": 2})
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


# ---- the experiments' configuration and results modules ------------------------------------------------

def test_config_presets_replace_and_key():
    c = experiments.config("fig4", "paper")
    assert c["steps"] == 6000 and c["H_grid"] == [10, 20, 30, 64, 128, 400] and c.seed == 0
    short = c.replace(steps=50, seed=3)
    assert short["steps"] == 50 and short.seed == 3 and c["steps"] == 6000      # c is unchanged
    assert experiments.config("fig4", "paper", steps=50, seed=3) == short
    assert short.key() == experiments.config("fig4", steps=50, seed=3).key()   # stable, equal configs
    assert len({c.key(), short.key(), c.replace(seed=3).key(), c.replace(steps=50).key()}) == 4
    assert hash(short) == hash(experiments.config("fig4", steps=50, seed=3))
    with pytest.raises(ValueError, match="no parameter"):
        c.replace(stpes=50)                        # a typo is an error, not a silently ignored option
    with pytest.raises(ValueError, match="presets"):
        experiments.config("fig4", "reduced")
    with pytest.raises(ValueError, match="tokens"):
        experiments.config("fig4", tokens="spherical")       # a protocol the figure does not implement
    with pytest.raises(ValueError, match="objective"):
        experiments.config("fig4", objective="sgd")
    with pytest.raises(ValueError, match="objective"):
        experiments.config("fig3", objective="population")   # Figure 3 trains nothing
    assert experiments.config("fig3").objective is None
    paper = experiments.config("fig4")                        # the paper's stated protocol is the default
    assert (paper.tokens, paper.objective) == ("gaussian", "population")
    assert paper.key() != paper.replace(objective="minibatch").key()
    assert experiments.Config.from_spec(paper.replace(tokens="unit").spec()) == paper.replace(tokens="unit")
    with pytest.raises(ValueError, match="seed"):
        experiments.config("fig3", seed=-1)
    with pytest.raises(TypeError):
        c.params["steps"] = 1                      # read-only: a configuration cannot drift
    assert experiments.config("fig2b", "reduced").tokens == "gaussian"          # the paper's §4


def test_every_figure_has_paper_and_quick_presets():
    for name in experiments.FIGURES:
        mod = experiments.figure_module(name)
        assert {"paper", "quick"} <= set(mod.PRESETS)
        assert ("reduced" in mod.PRESETS) == (name in experiments.TORCH_FIGURES)
        assert experiments.config(name, "quick").as_dict() != experiments.config(name).as_dict()


def test_reproduce_uses_no_pyplot_and_keeps_the_backend(tmp_path):
    """A library function writes its figure without pyplot and without choosing a backend."""
    code = ("import sys, matplotlib; matplotlib.use('svg'); "
            "from iclbook import experiments as ex; "
            f"ex.reproduce(ex.config('fig3', 'quick'), {str(tmp_path)!r}); "
            "print('matplotlib.pyplot' in sys.modules, matplotlib.get_backend())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "svg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig3.json", "fig3.png", "fig3.svg"]


def test_library_errors_are_not_worded_for_the_command_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(results.OutputFolderError) as e:
        results.prepare_output_folder(blocker / "sub")
    assert "--out" not in str(e.value) and "output folder" in str(e.value)
    with pytest.raises(ValueError) as e:
        results.prepare_output_folder(blocker)
    assert "not a folder" in str(e.value)


def test_cached_results_found_from_the_package_or_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)                    # not from the working directory
    monkeypatch.delenv(results.DATA_ENV, raising=False)
    assert results.cached_results_dir().name == "data"
    assert results.load_cached("fig4")["figure"] == "fig4"
    results.save_json(tmp_path / "fig4.json", {"figure": "mine"})
    monkeypatch.setenv(results.DATA_ENV, str(tmp_path))
    assert results.load_cached("fig4") == {"figure": "mine"}
    with pytest.raises(FileNotFoundError, match="fig2a.json"):
        results.load_cached("fig2a")
    monkeypatch.setenv(results.DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=results.DATA_ENV):
        results.cached_results_dir()

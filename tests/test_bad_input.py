"""Every bad input named in the package issue raises a ValueError naming the argument."""
import subprocess
import sys

import numpy as np
import pytest

import iclbook as ic


def _unit(d, K, seed=0):
    V = np.random.default_rng(seed).standard_normal((d, K))
    return V / np.linalg.norm(V, axis=0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(tau=0.0), "tau"), (dict(tau=-1.0), "tau"), (dict(tau=np.nan), "tau"),
    (dict(N=12), "N"), (dict(N=13), "N"), (dict(N=0), "N"), (dict(N=2.5), "N"),
])
def test_problem_rejects_bad_scalars(kwargs, match):
    args = dict(V=_unit(6, 12), Zt=np.ones((3, 12)), N=4, tau=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ic.Problem(**args)


def test_problem_rejects_bad_arrays():
    V, Zt = _unit(6, 12), np.ones((3, 12))
    with pytest.raises(ValueError, match="V"):
        ic.Problem(V[:, :, None], Zt, 4, 0.1)
    with pytest.raises(ValueError, match="columns"):
        ic.Problem(V, Zt[:, :10], 4, 0.1)
    bad = V.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ic.Problem(bad, Zt, 4, 0.1)
    Zb = Zt.copy()
    Zb[1, 1] = np.inf
    with pytest.raises(ValueError, match="Zt"):
        ic.Problem(V, Zb, 4, 0.1)
    with pytest.raises(ValueError, match="unit norm"):
        ic.Problem(2 * V, Zt, 4, 0.1)
    ic.Problem(2 * V, Zt, 4, 0.1, unit_tokens=False)   # allowed when asked
    dup = V.copy()
    dup[:, 1] = dup[:, 0]
    with pytest.raises(ValueError, match="Assumption 3"):
        ic.Problem(dup, Zt, 4, 0.1)


def test_problem_is_frozen(small):
    import dataclasses
    with pytest.raises(dataclasses.FrozenInstanceError):
        small.N = 3
    with pytest.raises(ValueError):
        small.V[0, 0] = 1.0      # read-only array


def test_functions_reject_bad_parameters(small):
    rng = np.random.default_rng(0)
    Q, w = ic.init_params(small, 3, rng=rng)
    with pytest.raises(ValueError, match="Q must have shape"):
        ic.population_loss(small, Q[:, :2], w)
    with pytest.raises(ValueError, match="w must have shape"):
        ic.population_grad(small, Q, w[:, :3])
    Qn = Q.copy()
    Qn[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="Q contains NaN"):
        ic.attention_weights(small, Qn, w)
    with pytest.raises(ValueError, match="y must have shape"):
        ic.predict(small, Q, w, np.ones(5))
    with pytest.raises(ValueError, match="y must have shape"):
        ic.empirical_loss_and_grad(small, Q, w, np.ones((3, 5)))
    with pytest.raises(ValueError, match="reg"):
        ic.ridge_predict(small, np.ones(4), -1.0)
    with pytest.raises(ValueError, match="H"):
        ic.init_params(small, 0, rng=rng)
    with pytest.raises(ValueError, match="rng"):
        ic.sample_prompts(small, 3, rng=0)
    with pytest.raises(ValueError, match="method"):
        ic.train(small, 4, steps=1, method="sgd")
    with pytest.raises(ValueError, match="features"):
        ic.make_problem(12, 4, 6, 3, 0.1, features="fourier")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "iclbook", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [
    ["train", "--H", "x"], ["train", "--tau", "-1"], ["train", "--N", "20"], ["train", "--method", "sgd"],
    ["train", "--steps", "-3"], ["nonsense"], [], ["reproduce", "fig9"],
])
def test_cli_bad_arguments_one_line_exit_2(args):
    r = _cli(*args)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_cli_train_summary():
    r = _cli("train", "--steps", "300", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "final gap" in r.stdout and "zeta0" in r.stdout and "Theorem 1 bound rate" in r.stdout
    assert "under Theorem 1's bound at every record: yes" in r.stdout


def test_cli_train_zero_steps_says_no_step_was_taken():
    r = _cli("train", "--steps", "0", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "no step was taken" in r.stdout and "nan" not in r.stdout


@pytest.mark.parametrize("method", ["gd", "adam"])
def test_cli_refuses_sizes_that_cannot_fit_in_memory(method):
    import time
    t0 = time.perf_counter()
    r = _cli("train", "--K", "100000000", "--N", "2", "--method", method)
    assert r.returncode == 2
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "K=100000000" in err and "GiB" in err     # names the size and the memory it needs
    assert time.perf_counter() - t0 < 30             # refused at once, before any allocation


@pytest.mark.parametrize("method", ["gd", "adam"])
def test_memory_estimate_is_a_lower_bound_of_what_train_allocates(method):
    # the refusal must never reject a size that would fit: the estimate stays below the measured peak
    import tracemalloc

    import iclbook as ic
    from iclbook.cli import train_memory_bytes
    K, N, d, m, H = 3000, 10, 8, 5, 16
    tracemalloc.start()
    data = dict(n_train=500, batch=64) if method == "adam" else {}
    ic.train(ic.make_problem(K, N, d, m, 0.1, seed=0), H, steps=2, method=method, **data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    est = train_memory_bytes(K, N, d, m, H, method, n_train=500, batch=64)
    assert 0.25 * peak < est <= peak, (est, peak)

"""Property-based tests (hypothesis) of the public API: every call either returns a correct finite result
(checked against a slow direct computation) or raises a ValueError — never NaN, never another exception."""
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import iclbook as ic

CASES = settings(settings.default, max_examples=max(300, settings.default.max_examples // 4), deadline=None,
                 suppress_health_check=[HealthCheck.too_slow])

wild = st.floats(allow_nan=True, allow_infinity=True, width=64)
tame = st.floats(-5, 5, allow_nan=False, width=64)


@st.composite
def problems(draw, wild_values=False):
    """Wild: any sizes and values (NaN, ±inf, τ ≤ 0, N ≥ K, …). Otherwise: mostly valid problems, tiny τ included."""
    d = draw(st.integers(1, 4))
    K = draw(st.integers(2, 9))
    m = draw(st.integers(1, 4))
    if not wild_values:
        V = draw(arrays(np.float64, (d, K), elements=st.floats(-5, 5).filter(lambda x: abs(x) > 1e-3)))
        V = V / np.linalg.norm(V, axis=0)
        Zt = draw(arrays(np.float64, (m, K), elements=tame))
        tau = draw(st.one_of(st.sampled_from([1e-300, 1e-12]), st.floats(1e-3, 10)))
        return V, Zt, draw(st.integers(1, K - 1)), tau
    N = draw(st.integers(-1, K + 1))
    elems = st.one_of(tame, wild)
    V = draw(arrays(np.float64, (d, K), elements=elems))
    normalise = draw(st.booleans())
    if normalise:
        with np.errstate(all="ignore"):
            V = V / np.linalg.norm(V, axis=0)
    Zt = draw(arrays(np.float64, (m, K), elements=elems))
    tau = draw(st.one_of(st.sampled_from([0.0, -1.0, np.nan, np.inf, 1e-300, 1e-12]), st.floats(1e-3, 10)))
    return V, Zt, N, tau


def _direct_loss(p, Q, w):
    """Slow direct computation of Lemma 5's closed form: loops over heads and tokens, solve instead of A."""
    total = 0.0
    for k in range(p.K):
        a = np.zeros(p.N)
        for h in range(Q.shape[0]):
            z = p.VN.T @ Q[h] @ p.V[:, k]
            e = np.exp(z - z.max())
            a += w[h, k] * e / e.sum()
        zk = p.Zt[:, k]
        if k < p.N:
            total += np.sum((p.Z @ a - zk) ** 2) + p.m * p.tau * np.sum((a - np.eye(p.N)[k]) ** 2)
        else:
            total += np.sum((p.Z @ a - zk) ** 2) + p.m * p.tau * np.sum(a**2) + p.m * p.tau
    return 0.5 * total


@CASES
@given(problems(wild_values=True))
def test_problem_constructs_correctly_or_raises_valueerror(args):
    V, Zt, N, tau = args
    try:
        p = ic.Problem(V, Zt, N, tau)
    except ValueError:
        return
    assert 1 <= p.N < p.K and p.tau > 0
    for x in (p.A, p.Zbar, p.Zbar2, p.L_star):
        assert np.all(np.isfinite(x))
    np.testing.assert_array_equal(p.A[:, :p.N], np.eye(p.N))
    assert p.L_star >= 0.5 * (p.K - p.N) * p.m * p.tau * (1 - 1e-9)


@CASES
@given(problems(), st.integers(1, 4), st.sampled_from([0.1, 1.0, 30.0, 1e3, 1e200]), st.integers(0, 2**32 - 1))
def test_loss_and_grad_are_correct_or_raise(args, H, scale, seed):
    V, Zt, N, tau = args
    try:
        p = ic.Problem(V, Zt, N, tau)
    except ValueError:
        assume(False)
    rng = np.random.default_rng(seed)
    Q = scale * rng.standard_normal((H, p.d, p.d))
    w = rng.standard_normal((H, p.K))
    try:
        L, gQ, gw = ic.population_loss_and_grad(p, Q, w)
    except ValueError as e:
        assert "overflow" in str(e)
        return
    assert np.isfinite(L) and np.all(np.isfinite(gQ)) and np.all(np.isfinite(gw))
    with np.errstate(all="ignore"):
        direct = _direct_loss(p, Q, w)
    assert L == pytest.approx(direct, rel=1e-8, abs=1e-8 * (1 + abs(direct)))
    assert L == pytest.approx(ic.population_loss(p, Q, w), rel=1e-12)
    assert L >= p.L_star * (1 - 1e-9)


@CASES
@given(problems(), arrays(np.float64, st.sampled_from([(3,), (2, 3), (4,), (5, 5)]), elements=st.one_of(tame, wild)),
       st.floats(allow_nan=True, allow_infinity=True))
def test_predict_and_ridge_are_finite_or_raise(args, y, reg):
    V, Zt, N, tau = args
    try:
        p = ic.Problem(V, Zt, N, tau)
    except ValueError:
        assume(False)
    rng = np.random.default_rng(0)
    Q, w = ic.init_params(p, 2, rng=rng)
    for call in (lambda: ic.predict(p, Q, w, y), lambda: ic.ridge_predict(p, y, reg)):
        try:
            out = call()
        except ValueError:
            continue
        assert np.all(np.isfinite(out))
        assert out.shape[-1] == p.K


@settings(settings.default, max_examples=100, deadline=None)
@given(st.integers(1, 3), st.integers(0, 2**32 - 1), st.sampled_from(["gd", "adam"]),
       st.floats(1e-8, 1e8, allow_nan=False))
def test_train_never_returns_nan(H, seed, method, step):
    p = ic.make_problem(8, 3, 3, 2, 0.1, seed=seed % 100)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if method == "gd":
            h = ic.train(p, H, steps=30, seed=seed, eta_Q=step, gamma=1.0)
        else:
            h = ic.train(p, H, steps=30, method="adam", seed=seed, lr=step, batch=8, n_train=32)
    assert np.all(np.isfinite(h.loss)) and np.all(np.isfinite(h.Q)) and np.all(np.isfinite(h.w))
    assert h.diverged == bool(h.message)

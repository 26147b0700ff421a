"""What the core functions promise beyond their formulas: exact error messages that name the argument, no
numpy warning on the way to a clean ``ValueError``, the scores computed once per call on the training hot
path, float64 results for any input precision, and seeded draws that follow the documented order.

The messages are matched in full (``^…$``): a reader who sees one must be able to find the argument it
names. The numerical formulas themselves are checked in tests/test_numerics.py and tests/test_model.py.
"""
import cmath
import math
import re
import warnings

import numpy as np
import pytest

import iclbook as ic
from iclbook import model as icm


def _exact(msg: str) -> str:
    return "^" + re.escape(msg) + "$"


@pytest.fixture
def setup(small):
    rng = np.random.default_rng(0)
    Q, _ = ic.init_params(small, 3, rng=rng)
    return small, Q, rng.standard_normal((3, small.K)), rng.standard_normal((4, small.K))


def _raises_cleanly(msg, fn):
    """fn raises ValueError(msg) and numpy emits no RuntimeWarning on the way (warnings are errors here)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=_exact(msg)):
            fn()


# ---- the empirical loss and gradient -----------------------------------------------------------------

def test_empirical_rejects_bad_labels(setup):
    p, Q, w, y = setup
    f = lambda yy: ic.empirical_loss_and_grad(p, Q, w, yy)
    for bad in ([["a"] * p.K], [[{}] * p.K]):
        with pytest.raises(ValueError, match=_exact("y must be a real array of shape (n, K)")):
            f(bad)
    for bad in (np.zeros((0, p.K)), y[:, :5], y[0]):
        shape = np.shape(bad)
        with pytest.raises(ValueError, match=_exact(
                f"y must have shape (n, K) with K = 12 (all labels of n prompts), got {shape}")):
            f(bad)
    bad = y.copy()
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match=_exact("y contains NaN or infinite entries")):
        f(bad)


def test_empirical_accepts_one_prompt_and_integer_labels(setup):
    """n = 1 is a valid batch; integer labels are read as floats."""
    p, Q, w, _ = setup
    y = np.arange(p.K).reshape(1, -1)
    loss, gQ, gw = ic.empirical_loss_and_grad(p, Q, w, y)
    r = ic.predict(p, Q, w, y.astype(float)) - y
    assert loss == pytest.approx(0.5 * float(np.sum(r * r)), rel=1e-12)
    loss2, gQ2, gw2 = ic.empirical_loss_and_grad(p, Q, w, np.vstack([y, y]).astype(float))
    assert loss2 == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(gQ2, gQ, rtol=1e-12)
    np.testing.assert_allclose(gw2, gw, rtol=1e-12)


def test_overflow_is_a_clean_error(setup, small):
    p, Q, w, y = setup
    # attention scores that overflow
    _raises_cleanly("Q: entries are so large that the attention scores V_Nᵀ Q_h v_k overflow float64",
                    lambda: ic.empirical_loss_and_grad(p, np.full_like(Q, 1.7e308), w, y))
    # entries of both signs: V_Nᵀ Q_h has +inf and −inf, and their sums in the scores are NaN
    _raises_cleanly("Q: entries are so large that the attention scores V_Nᵀ Q_h v_k overflow float64",
                    lambda: ic.population_loss_and_grad(p, 1.7e308 * np.sign(Q), w))
    _raises_cleanly("Q: entries are so large that the attention scores V_Nᵀ Q_h v_k overflow float64",
                    lambda: ic.population_loss_and_grad(p, np.full_like(Q, 1.7e308), w))
    # a loss that overflows (the residuals overflow when squared, and inf − inf appears in the gradient)
    _raises_cleanly("the loss overflows float64: the entries of w (or y) are too large",
                    lambda: ic.empirical_loss_and_grad(p, Q, w, np.full((2, p.K), 1e200)))
    _raises_cleanly("the loss overflows float64: the entries of w (or y) are too large",
                    lambda: ic.population_loss_and_grad(p, Q, 1e160 * w))
    _raises_cleanly("the loss overflows float64: the entries of w (or y) are too large",
                    lambda: ic.population_loss(p, Q, 1e160 * w))
    # a finite loss with an overflowing gradient: two identical heads with opposite huge weights give
    # Â = 0 (so a finite loss) while each head's ∂L/∂Q_h is w_h times a finite matrix
    Q2 = np.concatenate([Q[:1], Q[:1]])
    w2 = np.concatenate([w[:1], -w[:1]]) / np.abs(w[0]).max()
    _raises_cleanly("the gradient overflows float64: the entries of w (or y) are too large",
                    lambda: ic.empirical_loss_and_grad(p, Q2, 1e300 * w2, 1e10 * y))
    big = ic.Problem(p.V, 1e4 * p.Zt, p.N, p.tau)
    _raises_cleanly("the gradient overflows float64: the entries of w (or y) are too large",
                    lambda: ic.population_loss_and_grad(big, Q2, 1e305 * w2))
    # predictions that overflow
    _raises_cleanly("the prediction ŷ overflows float64: the entries of w (or y) are too large",
                    lambda: ic.predict(p, Q, np.full_like(w, 3.0), np.full(p.N, 1.7e308)))
    # uniform attention (Q = 0) and labels of alternating sign: +inf − inf in ŷ = Âᵀy
    _raises_cleanly("the prediction ŷ overflows float64: the entries of w (or y) are too large",
                    lambda: ic.predict(p, np.zeros_like(Q), np.full_like(w, 3.0), [1.7e308, -1.7e308] * 2))
    _raises_cleanly("Â(θ) overflows float64: the entries of w (or y) are too large",
                    lambda: ic.attention_weights(p, Q, np.full_like(w, 1.7e308)))


def test_losses_compute_the_scores_once(setup, monkeypatch):
    """The training hot path: one evaluation of V_Nᵀ Q_h V per call (the scores are reused, not recomputed)."""
    p, Q, w, y = setup
    calls = []
    orig = icm.head_scores
    monkeypatch.setattr(icm, "head_scores", lambda *a: calls.append(1) or orig(*a))
    ic.empirical_loss_and_grad(p, Q, w, y)
    assert len(calls) == 1
    ic.population_loss_and_grad(p, Q, w)
    assert len(calls) == 2


def test_the_cores_use_the_scores_they_are_given(setup):
    """_population and _empirical with precomputed scores D use D (Q is then not read)."""
    p, Q, w, y = setup
    ref_p = icm._population(p, Q, w)
    ref_e = icm._empirical(p, Q, w, y)
    for got, ref in ((icm._population(p, np.zeros_like(Q), w, icm.head_scores(p, Q)), ref_p),
                     (icm._empirical(p, np.zeros_like(Q), w, y, icm.head_scores(p, Q)), ref_e)):
        assert got[0] == pytest.approx(ref[0], rel=1e-14)
        np.testing.assert_allclose(got[1], ref[1], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(got[2], ref[2], rtol=1e-13, atol=1e-15)


# ---- the prompts (eq. 1) -------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, -2, True, 2.0, "3", None])
def test_sample_prompts_rejects_bad_n(small, n):
    with pytest.raises(ValueError, match=_exact(f"n (number of prompts) must be a positive integer, got {n!r}")):
        ic.sample_prompts(small, n, rng=np.random.default_rng(0))


def test_sample_prompts_rejects_bad_law(small):
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=_exact(
            "rng must be a numpy.random.Generator (e.g. np.random.default_rng(0))")):
        ic.sample_prompts(small, 3, rng=np.random.RandomState(0))
    for kw, shown in ((dict(lam_mean=np.nan), "lam_mean must be finite, got nan"),
                      (dict(lam_mean=None), "lam_mean must be finite, got None"),
                      (dict(lam_std=np.inf), "lam_std must be finite, got inf"),
                      (dict(lam_std=None), "lam_std must be finite, got None"),
                      (dict(lam_std=-0.5), "lam_std must be ≥ 0, got -0.5"),
                      (dict(lam_std=np.array([1.0, -1.0, 1.0])), "lam_std must be ≥ 0, got array([ 1., -1.,  1.])")):
        with pytest.raises(ValueError, match=_exact(shown)):
            ic.sample_prompts(small, 3, rng=rng, **kw)


@pytest.mark.parametrize("n,mean,std", [(1, 0.0, 1.0), (5, 1.0, 2.0), (3, -0.5, 0.5), (2, 0.3, 0.0),
                                        (np.int64(4), np.array([1.0, 0.0, -1.0]), np.array([0.5, 1.0, 2.0]))])
def test_sample_prompts_follow_the_documented_draws(small, n, mean, std):
    """Seeded runs are reproducible because the draws come in a fixed order from ``rng``: first the (n, m)
    standard normals of the tasks, λ = mean + std·z; then the (n, K) standard normals of the label noise
    λᵀε_k ~ N(0, τ‖λ‖²) (eq. 1). Recomputed here prompt by prompt, label by label."""
    lam, y = ic.sample_prompts(small, n, rng=np.random.default_rng(11), lam_mean=mean, lam_std=std)
    g = np.random.default_rng(11)
    z_task = g.standard_normal((int(n), small.m))
    z_noise = g.standard_normal((int(n), small.K))
    mean_, std_ = np.broadcast_to(mean, small.m), np.broadcast_to(std, small.m)
    for i in range(int(n)):
        li = [mean_[j] + std_[j] * z_task[i, j] for j in range(small.m)]
        np.testing.assert_allclose(lam[i], li, rtol=1e-15)
        norm = math.sqrt(math.fsum(x * x for x in li))
        for k in range(small.K):
            yk = math.fsum(li[j] * small.Zt[j, k] for j in range(small.m)) + math.sqrt(small.tau) * norm * z_noise[i, k]
            assert y[i, k] == pytest.approx(yk, rel=1e-12, abs=1e-12)


# ---- the Fourier features of the circle example --------------------------------------------------------

def _fourier_by_complex_exponentials(theta: float, m: int):
    """(1, √2 Re e^{iθ}, √2 Im e^{iθ}, √2 Re e^{2iθ}, √2 Im e^{2iθ}, …)[:m]."""
    out = [1.0]
    j = 1
    while len(out) < m + 1:
        e = cmath.exp(1j * j * theta)
        out += [math.sqrt(2) * e.real, math.sqrt(2) * e.imag]
        j += 1
    return out[:m]


@pytest.mark.parametrize("m", [1, 2, 3, 4, 5, 8])
def test_fourier_features_are_the_documented_basis(m):
    thetas = np.random.default_rng(12).uniform(-np.pi, np.pi, 7)
    want = np.array([_fourier_by_complex_exponentials(t, m) for t in thetas]).T
    F = ic.fourier_basis(thetas, m)
    assert F.shape == (m, 7)
    np.testing.assert_allclose(F, want, rtol=1e-12, atol=1e-14)
    f = ic.fourier_features(m)
    for t in thetas[:3]:
        v = [3.0 * math.cos(t), 3.0 * math.sin(t)]                      # f depends on the angle only
        np.testing.assert_allclose(f(v), _fourier_by_complex_exponentials(t, m), rtol=1e-12, atol=1e-14)
    # float64 even from single-precision tokens and angles
    v32 = np.array([0.3, -0.7], dtype=np.float32)
    np.testing.assert_allclose(f(v32), _fourier_by_complex_exponentials(math.atan2(float(v32[1]), float(v32[0])), m),
                               rtol=1e-12, atol=1e-14)
    t32 = thetas.astype(np.float32)
    F32 = ic.fourier_basis(t32, m)
    assert F32.dtype == np.float64
    want32 = np.array([_fourier_by_complex_exponentials(float(t), m) for t in t32]).T
    np.testing.assert_allclose(F32, want32, rtol=1e-12, atol=1e-14)
    # orthonormal for θ uniform on [0, 2π): the mean over an equispaced grid is exact for these frequencies
    grid = np.arange(64) * 2 * np.pi / 64
    G = ic.fourier_basis(grid, m)
    np.testing.assert_allclose(G @ G.T / 64, np.eye(m), atol=1e-12)


@pytest.mark.parametrize("m", [0, -1, 2.5, True, "3"])
def test_fourier_features_reject_bad_m(m):
    with pytest.raises(ValueError, match=_exact(f"m (number of Fourier features) must be a positive integer, got {m!r}")):
        ic.fourier_features(m)


# ---- Theorem 1's bound and the ridge predictor: precision and messages -------------------------------

def test_theorem1_bound_is_float64_for_any_t():
    t32 = np.arange(0, 50, 7, dtype=np.float32)
    b = ic.theorem1_bound(t32, 0.3, 0.5, 2.0)
    assert b.dtype == np.float64
    np.testing.assert_allclose(b, [2.0 * 0.925 ** int(k) for k in t32], rtol=1e-14)
    np.testing.assert_allclose(ic.theorem1_bound([0, 1, 2], 0.3, 0.5, 2.0), [2.0, 1.85, 1.71125], rtol=1e-14)


def test_ridge_overflow_is_a_clean_error():
    p = ic.make_problem(12, 4, 6, 3, 0.1, seed=0)
    _raises_cleanly("y: the labels are so large that the ridge coefficients overflow float64",
                    lambda: ic.ridge_coefficients(p, np.full(4, 1e308), 1e-300))
    Zt = p.Zt.copy()
    Zt[:, 4:] *= 1e90
    big = ic.Problem(p.V, Zt, 4, 0.1)
    _raises_cleanly("y: the labels are so large that the ridge predictions overflow float64",
                    lambda: ic.ridge_predict(big, np.full(4, 1e250), 0.3))
    with pytest.raises(ValueError, match=_exact(
            "reg = 0 needs Z Zᵀ invertible (N ≥ m, Z of full row rank); use reg > 0")):
        ic.ridge_predict(ic.make_problem(12, 4, 6, 5, 0.1), np.ones(4), 0)


# ---- parameters, labels and initialization -------------------------------------------------------------

def test_check_params_messages(setup):
    p, Q, w, _ = setup
    f = ic.population_loss
    for bad in ([[["a"] * 6] * 6], [[[{}] * 6] * 6]):
        with pytest.raises(ValueError, match=_exact("Q must be a real array of shape (H, d, d)")):
            f(p, bad, w)
    for bad in (Q[:0], Q[:, :5], Q[0]):
        with pytest.raises(ValueError, match=_exact(f"Q must have shape (H, d, d) = (H, 6, 6), got {bad.shape}")):
            f(p, bad, w)
    Qn = Q.copy()
    Qn[1, 2, 3] = -np.inf
    with pytest.raises(ValueError, match=_exact("Q contains NaN or infinite entries")):
        f(p, Qn, w)
    for bad in ([["a"] * p.K] * 3, [[{}] * p.K] * 3):
        with pytest.raises(ValueError, match=_exact("w must be a real array of shape (H, K)")):
            f(p, Q, bad)
    with pytest.raises(ValueError, match=_exact("w must have shape (H, K) = (3, 12), got (2, 12)")):
        f(p, Q, w[:2])
    wn = w.copy()
    wn[0, 0] = np.nan
    with pytest.raises(ValueError, match=_exact("w contains NaN or infinite entries")):
        f(p, Q, wn)
    # one head, and integer parameters, are fine
    assert f(p, np.ones((1, 6, 6), dtype=int), np.ones((1, p.K), dtype=int)) == pytest.approx(
        f(p, np.ones((1, 6, 6)), np.ones((1, p.K))), rel=1e-15)


def test_prompt_label_messages(setup):
    p, Q, w, _ = setup
    for bad in (["a"] * p.N, [{}] * p.N):
        with pytest.raises(ValueError, match=_exact("y must be a real array of labels")):
            ic.predict(p, Q, w, bad)
    with pytest.raises(ValueError, match=_exact("y contains NaN or infinite entries")):
        ic.predict(p, Q, w, [1.0, np.nan, 0.0, 0.0])
    with pytest.raises(ValueError, match=_exact("y must have shape (N,), (K,), (n, N) or (n, K) with N = 4, K = 12; got (5,)")):
        ic.predict(p, Q, w, np.ones(5))
    np.testing.assert_allclose(ic.predict(p, Q, w, [1, 2, 3, 4]), ic.predict(p, Q, w, [1.0, 2.0, 3.0, 4.0]), rtol=1e-15)


def test_init_params_messages_and_law(small):
    rng = np.random.default_rng(0)
    for H in (0, 2.5, True, "3"):
        with pytest.raises(ValueError, match=_exact(f"H (number of heads) must be a positive integer, got {H!r}")):
            ic.init_params(small, H, rng=rng)
    with pytest.raises(ValueError, match=_exact("rng must be a numpy.random.Generator (e.g. np.random.default_rng(0))")):
        ic.init_params(small, 2, rng=0)
    for beta in (0.0, -1.0, np.inf, np.nan):
        with pytest.raises(ValueError, match=_exact(
                f"beta (initialization scale, Prop. 1) must be finite and > 0, got {beta!r}")):
            ic.init_params(small, 2, rng=rng, beta=beta)
    # Q(0) = β·(standard normals of rng, in order), w(0) = 0
    Q, w = ic.init_params(small, np.int64(3), rng=np.random.default_rng(4), beta=0.25)
    np.testing.assert_array_equal(Q, 0.25 * np.random.default_rng(4).standard_normal((3, 6, 6)))
    np.testing.assert_array_equal(w, np.zeros((3, small.K)))
    Q1, _ = ic.init_params(small, 1, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(Q1, np.random.default_rng(4).standard_normal((1, 6, 6)))


# ---- the problem ----------------------------------------------------------------------------------------

def test_derived_matrices_are_read_only(small):
    for name in ("VN", "VNT", "VT", "Z", "Zbar2", "Zbar", "A", "c"):
        arr = getattr(small, name)
        with pytest.raises(ValueError, match="read-only"):
            arr.flat[0] = 1.0


def test_make_problem_messages_and_defaults():
    for kw, shown in ((dict(K=0), "K must be a positive integer, got 0"),
                      (dict(N=2.5), "N must be a positive integer, got 2.5"),
                      (dict(d=True), "d must be a positive integer, got True"),
                      (dict(m=-1), "m must be a positive integer, got -1"),
                      (dict(features="fourier"), "features='fourier' needs tokens on the unit circle, d = 2; got d = 6"),
                      (dict(features="sobol"), "features must be 'gaussian', 'fourier' or a callable, got 'sobol'"),
                      (dict(features=3), "features must be 'gaussian', 'fourier' or a callable, got 3"),
                      (dict(features=lambda v: v[:2]), "features returned vectors of length 2, but m = 3")):
        args = dict(K=12, N=4, d=6, m=3, tau=0.1) | kw
        with pytest.raises(ValueError, match=_exact(shown)):
            ic.make_problem(**args)
    a, b = ic.make_problem(12, 4, 6, 3, 0.1), ic.make_problem(12, 4, 6, 3, 0.1, seed=0)
    np.testing.assert_array_equal(a.V, b.V)
    np.testing.assert_array_equal(a.Zt, b.Zt)
    assert a.unit_tokens is True
    raw = ic.make_problem(12, 4, 6, 3, 0.1, unit_tokens=False)
    assert raw.unit_tokens is False
    assert not np.allclose(np.linalg.norm(raw.V, axis=0), 1.0)
    np.testing.assert_allclose(a.V, raw.V / np.linalg.norm(raw.V, axis=0), rtol=1e-15)


def test_make_problem_with_callable_features():
    """features = f: R^d → R^m applied to each token (any array shape holding m numbers)."""
    f = lambda v: np.array([[v[0]], [v[0] * v[1]], [1.0 + v[2] ** 2]])            # shape (3, 1)
    p = ic.make_problem(9, 3, 4, 3, 0.2, seed=5, features=f)
    assert p.Zt.shape == (3, 9)
    for k in range(9):
        v = p.V[:, k]
        np.testing.assert_allclose(p.Zt[:, k], [v[0], v[0] * v[1], 1.0 + v[2] ** 2], rtol=1e-15)
    np.testing.assert_array_equal(p.V, ic.make_problem(9, 3, 4, 3, 0.2, seed=5).V)   # the same tokens


def test_fourier_problem_tokens_are_uniform_on_the_circle():
    """features="fourier": angles uniform on [0, 2π) (four quarter-circles, each 1/4 ± 5 standard errors),
    unit tokens, and f = the Fourier basis of each token's angle."""
    K = 20_000
    p = ic.make_problem(K, 3, 2, 5, 0.1, seed=2, features="fourier")
    theta = np.mod(np.arctan2(p.V[1], p.V[0]), 2 * np.pi)
    counts = np.histogram(theta, bins=4, range=(0, 2 * np.pi))[0] / K
    assert np.all(np.abs(counts - 0.25) < 5 * math.sqrt(0.25 * 0.75 / K))
    assert np.all(theta < 2 * np.pi) and np.mean(theta < 0.5) > 0.05
    np.testing.assert_allclose(np.linalg.norm(p.V, axis=0), 1.0, rtol=1e-14)
    np.testing.assert_allclose(p.Zt[:, :50], ic.fourier_basis(theta[:50], 5), rtol=1e-12, atol=1e-12)


def _tokens(d=6, K=12, seed=0):
    V = np.random.default_rng(seed).standard_normal((d, K))
    return V / np.linalg.norm(V, axis=0)


def test_problem_messages():
    V, Zt = _tokens(), np.random.default_rng(1).standard_normal((3, 12))
    for kw, shown in (
        (dict(V=[["a"]]), "V (the dictionary, d×K) must be a real 2-D array (could not convert string to float: 'a')"),
        (dict(V=V[:, :, None]), "V (the dictionary, d×K) must be a 2-D array, got shape (6, 12, 1)"),
        (dict(V=np.zeros((6, 0))), "V (the dictionary, d×K) must not be empty, got shape (6, 0)"),
        (dict(Zt=np.where(np.eye(3, 12) > 0, np.nan, Zt)), "Zt (the representations f(v_k), m×K) contains NaN or infinite entries"),
        (dict(Zt=np.full((3, 12), -2e100)), "Zt (the representations f(v_k), m×K) has entries above 1e+100 in absolute value: "
                                            "Z̄² and the scores would overflow"),
        (dict(Zt=Zt[:, :10]), "V has 12 tokens (columns) but Zt has 10: both must be K columns"),
        (dict(N=4.0), "N (prompt length) must be an integer, got 4.0"),
        (dict(N=0), "N (prompt length) must be at least 1, got 0"),
        (dict(N=12), "N (prompt length) must be smaller than K = 12 (the paper's N < K: some tokens are unseen), got N = 12"),
        (dict(tau="x"), "tau (noise level) must be a number, got 'x'"),
        (dict(tau=None), "tau (noise level) must be a number, got None"),
        (dict(tau=0.0), "tau (noise level) must be finite and > 0 (eq. 1; Z̄ = (ZᵀZ + mτI)^(1/2) must be invertible), got 0.0"),
        (dict(tau=np.inf), "tau (noise level) must be finite and > 0 (eq. 1; Z̄ = (ZᵀZ + mτI)^(1/2) must be invertible), got inf"),
        (dict(V=V * np.where(np.arange(12) == 3, 1.5, 1.0)),
         "V: tokens must have unit norm (paper §2, ‖v_k‖ = 1); token 3 has norm 1.5. Normalise the columns or pass unit_tokens=False"),
        (dict(V=V[:, [0, 1, 0] + list(range(3, 12))]),
         "V: the prompt tokens v_1..v_N violate Assumption 3: no coordinate takes pairwise-distinct values on them "
         "(are two prompt tokens equal?)"),
        (dict(tau=1e-300), "tau = 1e-300 is too small for these features: Z̄² = ZᵀZ + mτI is numerically singular "
                           "(condition number > 1e+12; eq. 12 needs it invertible). Increase tau or rescale Zt"),
    ):
        args = dict(V=V, Zt=Zt, N=4, tau=0.1) | kw
        with pytest.raises(ValueError, match=_exact(shown)):
            ic.Problem(**args)


def test_problem_accepts_the_boundaries():
    """Values at the edge of each check are accepted, and the stored fields are the converted ones."""
    V, Zt = _tokens(), np.random.default_rng(1).standard_normal((3, 12))
    p = ic.Problem(V.tolist(), Zt.astype(np.float32), np.int64(4), 1)
    assert p.V.dtype == p.Zt.dtype == np.float64 and type(p.N) is int and type(p.tau) is float
    assert (p.K, p.d, p.m, p.N, p.tau) == (12, 6, 3, 4, 1.0)
    assert not p.V.flags.writeable and not p.Zt.flags.writeable
    ic.Problem(V * (1 + 5e-9), Zt, 4, 0.1)                               # within the unit-norm tolerance 1e-8
    with pytest.raises(ValueError, match="unit norm"):
        ic.Problem(V * (1 + 2e-8), Zt, 4, 0.1)
    Zb = Zt / np.abs(Zt).max() * 1e100
    Zb.flat[np.argmax(np.abs(Zt))] = -1e100
    ic.Problem(V, Zb, 4, 1e190)                                          # exactly at the 1e100 limit
    ic.Problem(V, Zt, 1, 0.1)                                            # N = 1: Assumption 3 is void
    with pytest.raises(ValueError, match="Assumption 3"):                # N = 2 is checked
        ic.Problem(V[:, [0, 0] + list(range(2, 12))], Zt, 2, 0.1)
    ic.Problem(V, Zt, 11, 0.1)                                           # N = K − 1
    # two prompt tokens equal in all but one coordinate still satisfy Assumption 3
    W = V.copy()
    W[:, 1] = W[:, 0]
    W[0, 1] = -W[0, 0]
    ic.Problem(W, Zt, 4, 0.1)
    # tokens that are not unit vectors, when asked
    q = ic.Problem(3 * V, Zt, 4, 0.1, unit_tokens=False)
    assert q.unit_tokens is False
    # the smallest τ whose Z̄² passes the condition-number test, and one just below it
    Zr = np.random.default_rng(2).standard_normal((2, 12))              # m = 2 < N = 4: ZᵀZ has rank 2
    ev_max = np.linalg.eigvalsh(Zr[:, :4].T @ Zr[:, :4])[-1]
    ic.Problem(V, Zr, 4, 2e-12 * ev_max)
    with pytest.raises(ValueError, match="numerically singular"):
        ic.Problem(V, Zr, 4, 0.2e-12 * ev_max)

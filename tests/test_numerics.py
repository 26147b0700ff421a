"""The package's numerical kernels against independent computations.

Each quantity is recomputed here by another route than the package's own formula: the softmax with
``math.exp`` in plain loops; the limit matrix A (eq. 34) and the ridge predictor (eqs. 20, 25) by least
squares on the augmented system [Zᵀ; √r I] λ ≈ [y; 0] (no normal equations, no N×N solve); ζ and the
w-smoothness from the eigenvalues of the non-symmetric product C_k C_kᵀ Z̄² (similar to B_k B_kᵀ, no
square root Z̄); Theorem 1's rate from the descent lemma and the PL inequality in sympy; Adam from a
plain transcription of Kingma & Ba (2015), Algorithm 1. Tolerances are set a few orders above round-off
and far below the 1 % errors these tests exist to catch (tests/test_mutations.py checks that they do).
"""
import math

import numpy as np
import pytest
import sympy as sp

import iclbook as ic
from iclbook import model as icm
from iclbook import training as ict

# (K, N, d, m, tau): m > N, m = N and m < N (so that reg = 0 is allowed), with distinct noise levels
SHAPES = [(12, 4, 6, 3, 0.1), (9, 3, 4, 5, 0.5), (10, 4, 3, 4, 0.05)]


def _problem(K, N, d, m, tau, seed=0):
    return ic.make_problem(K, N, d, m, tau, seed=seed)


def _plain_softmax_cols(p, Q):
    """C[k] = (s^1_k, …, s^H_k), shape (K, N, H), with math.exp on Python floats, one score at a time."""
    H = Q.shape[0]
    C = np.zeros((p.K, p.N, H))
    for h in range(H):
        for k in range(p.K):
            scores = [float(p.V[:, i] @ Q[h] @ p.V[:, k]) for i in range(p.N)]
            top = max(scores)
            e = [math.exp(s - top) for s in scores]
            tot = math.fsum(e)
            C[k, :, h] = [x / tot for x in e]
    return C


def _plain_zbar2(p):
    Z = p.Zt[:, : p.N]
    return Z.T @ Z + p.m * p.tau * np.eye(p.N)


def _lstsq_ridge(p, yP, reg):
    """λ̂ = argmin ‖y_P − Zᵀλ‖² + reg‖λ‖², by least squares on the augmented system (one prompt)."""
    Z = p.Zt[:, : p.N]
    M = np.vstack([Z.T, math.sqrt(reg) * np.eye(p.m)])
    rhs = np.concatenate([yP, np.zeros(p.m)])
    return np.linalg.lstsq(M, rhs, rcond=None)[0]


# ---- the softmax (eq. 13) ---------------------------------------------------------------------------

@pytest.mark.parametrize("K,N,d,m,tau", SHAPES)
@pytest.mark.parametrize("beta", [0.3, 3.0])
def test_softmax_weights_match_a_plain_loop(K, N, d, m, tau, beta):
    p = _problem(K, N, d, m, tau)
    Q, _ = ic.init_params(p, 3, rng=np.random.default_rng(1), beta=beta)
    S = ic.softmax_weights(p, Q)                                          # (H, N, K)
    C = _plain_softmax_cols(p, Q)                                         # (K, N, H)
    np.testing.assert_allclose(S, C.transpose(2, 1, 0), rtol=1e-12, atol=1e-15)


def test_softmax_of_any_axis_matches_math_exp():
    """The model's softmax helper on a (2, 3, 4) array, over each axis, and the vector softmax of Lemma 2."""
    x = np.random.default_rng(2).standard_normal((2, 3, 4)) * 5
    for axis in range(3):
        want = np.zeros_like(x)
        for idx in np.ndindex(*[n for a, n in enumerate(x.shape) if a != axis]):
            sl = list(idx)
            sl.insert(axis, slice(None))
            col = [math.exp(v) for v in x[tuple(sl)]]
            want[tuple(sl)] = [c / math.fsum(col) for c in col]
        np.testing.assert_allclose(icm._softmax(x.copy(), axis=axis), want, rtol=1e-12)
    v = [0.5, -1.0, 2.0]
    e = [math.exp(t) for t in v]
    np.testing.assert_allclose(icm.softmax(v), [t / math.fsum(e) for t in e], rtol=1e-13)


def test_attention_weights_and_predictions_match_a_plain_loop(small):
    rng = np.random.default_rng(3)
    Q, _ = ic.init_params(small, 4, rng=rng)
    w = rng.standard_normal((4, small.K))
    C = _plain_softmax_cols(small, Q)
    Ahat = np.array([[sum(w[h, k] * C[k, i, h] for h in range(4)) for k in range(small.K)]
                     for i in range(small.N)])
    np.testing.assert_allclose(ic.attention_weights(small, Q, w), Ahat, rtol=1e-12, atol=1e-14)
    y = rng.standard_normal((3, small.K))
    want = np.array([[sum(y[j, i] * Ahat[i, k] for i in range(small.N)) for k in range(small.K)]
                     for j in range(3)])
    np.testing.assert_allclose(ic.predict(small, Q, w, y), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ic.predict(small, Q, w, y[1]), want[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ic.predict(small, Q, w, y[:, : small.N]), want, rtol=1e-12, atol=1e-14)


# ---- the limit matrix A (eq. 34) and the ridge predictor (eqs. 20, 25) ------------------------------

@pytest.mark.parametrize("K,N,d,m,tau", SHAPES)
def test_limit_matrix_unseen_columns_are_ridge_with_penalty_m_tau(K, N, d, m, tau):
    """Theorem 2: ŷ⋆ = Aᵀ y_P is ridge with penalty mτ, so row i of A[:, N:] is the ridge prediction of
    the unseen tokens from the prompt labels e_i (least squares on the augmented system)."""
    p = _problem(K, N, d, m, tau)
    want = np.stack([p.Zt[:, N:].T @ _lstsq_ridge(p, np.eye(N)[i], m * tau) for i in range(N)])
    np.testing.assert_allclose(p.A[:, N:], want, rtol=1e-10, atol=1e-12)
    # the seen columns of eq. (34), (ZᵀZ + mτI)⁻¹(ZᵀZ + mτI) = I, by least squares as well
    Zb2 = _plain_zbar2(p)
    seen = np.linalg.lstsq(Zb2, p.Z.T @ p.Zt[:, :N] + m * tau * np.eye(N), rcond=None)[0]
    np.testing.assert_allclose(p.A[:, :N], seen, atol=1e-10)


@pytest.mark.parametrize("K,N,d,m,tau", SHAPES)
@pytest.mark.parametrize("which", ["m_tau", "N_tau", "other"])
def test_ridge_matches_least_squares_on_the_augmented_system(K, N, d, m, tau, which):
    p = _problem(K, N, d, m, tau)
    reg = {"m_tau": m * tau, "N_tau": N * tau, "other": 0.37}[which]
    rng = np.random.default_rng(4)
    y = rng.standard_normal((5, K))
    lam = np.stack([_lstsq_ridge(p, yi[:N], reg) for yi in y])
    np.testing.assert_allclose(ic.ridge_coefficients(p, y, reg), lam, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ic.ridge_coefficients(p, y[2, :N], reg), lam[2], rtol=1e-10, atol=1e-12)
    pred = np.concatenate([y[:, :N], lam @ p.Zt[:, N:]], axis=1)
    np.testing.assert_allclose(ic.ridge_predict(p, y, reg), pred, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ic.ridge_predict(p, y[:, :N], reg), pred, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ic.ridge_predict(p, y[3], reg), pred[3], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ic.ridge_predict(p, y[3, :N], reg), pred[3], rtol=1e-10, atol=1e-12)


def test_ridge_without_penalty_is_least_squares_when_allowed():
    p = _problem(10, 4, 3, 3, 0.1)                                        # N = 4 ≥ m = 3
    y = np.random.default_rng(5).standard_normal(4)
    lam = np.linalg.lstsq(p.Z.T, y, rcond=None)[0]
    np.testing.assert_allclose(ic.ridge_coefficients(p, y, 0.0), lam, rtol=1e-10)
    np.testing.assert_allclose(ic.ridge_coefficients(p, y, 0), lam, rtol=1e-10)
    with pytest.raises(ValueError, match=r"reg = 0 needs Z Zᵀ invertible"):
        ic.ridge_coefficients(_problem(12, 4, 6, 5, 0.1), y, 0.0)         # N = 4 < m = 5


@pytest.mark.parametrize("reg,match", [
    ("abc", r"reg \(ridge penalty\) must be a number, got 'abc'"),
    (None, r"reg \(ridge penalty\) must be a number, got None"),
    (-0.1, r"reg \(ridge penalty\) must be finite and ≥ 0, got -0.1"),
    (np.nan, r"must be finite and ≥ 0, got nan"),
    (np.inf, r"must be finite and ≥ 0, got inf"),
])
def test_ridge_rejects_bad_penalties(small, reg, match):
    with pytest.raises(ValueError, match=match):
        ic.ridge_predict(small, np.ones(small.N), reg)
    with pytest.raises(ValueError, match=match):
        ic.ridge_coefficients(small, np.ones(small.N), reg)


def test_ridge_reports_overflow():
    p = _problem(12, 4, 6, 3, 0.1)
    with pytest.raises(ValueError, match=r"^y: the labels are so large that the ridge coefficients overflow"):
        ic.ridge_coefficients(p, np.full(4, 1e308), 1e-300)
    # finite coefficients, unseen features so large that their predictions overflow
    Zt = p.Zt.copy()
    Zt[:, 4:] *= 1e90
    big = ic.Problem(p.V, Zt, 4, 0.1)
    lam = ic.ridge_coefficients(big, np.full(4, 1e250), 0.3)
    assert np.all(np.isfinite(lam))
    with pytest.raises(ValueError, match=r"^y: the labels are so large that the ridge predictions overflow"):
        ic.ridge_predict(big, np.full(4, 1e250), 0.3)


# ---- ζ (Assumption 2), the w-smoothness and the default step sizes ---------------------------------

def _product_eigs(p, Q):
    """Eigenvalues of C_k C_kᵀ Z̄² (similar to B_k B_kᵀ = Z̄ C_k C_kᵀ Z̄), ascending, shape (K, N)."""
    C = _plain_softmax_cols(p, Q)
    Zb2 = _plain_zbar2(p)
    return np.stack([np.sort(np.linalg.eigvals(C[k] @ C[k].T @ Zb2).real) for k in range(p.K)])


@pytest.mark.parametrize("K,N,d,m,tau", SHAPES)
@pytest.mark.parametrize("extra", [0, 3])
def test_zeta_and_smoothness_match_eigenvalues_of_a_similar_matrix(K, N, d, m, tau, extra):
    """H = N (the smallest H with ζ > 0) and H = N + 3."""
    p = _problem(K, N, d, m, tau)
    Q, _ = ic.init_params(p, N + extra, rng=np.random.default_rng(6))
    ev = _product_eigs(p, Q)
    assert np.all(ev[:, 0] > 1e-6 * ev[:, -1])                           # well away from round-off
    np.testing.assert_allclose(ic.zeta_all(p, Q), ev[:, 0], rtol=1e-8)
    assert ic.zeta(p, Q) == pytest.approx(ev[:, 0].min(), rel=1e-8)
    assert ic.w_smoothness(p, Q) == pytest.approx(ev[:, -1].max(), rel=1e-10)
    # B_kᵀ B_k = C_kᵀ Z̄² C_k (the Gram matrix of B_k = Z̄ C_k, without the square root)
    B = ic.B_matrices(p, Q)
    C = _plain_softmax_cols(p, Q)
    gram = np.stack([C[k].T @ _plain_zbar2(p) @ C[k] for k in range(K)])
    np.testing.assert_allclose(B.transpose(0, 2, 1) @ B, gram, rtol=1e-10, atol=1e-12)


def test_zeta_is_zero_below_N_heads(small):
    """H = N − 1: B_k has rank ≤ H < N, λ_min(B_kB_kᵀ) = 0 (round-off level in the similar matrix)."""
    Q, _ = ic.init_params(small, small.N - 1, rng=np.random.default_rng(7))
    ev = _product_eigs(small, Q)
    assert np.all(np.abs(ev[:, 0]) < 1e-12 * ev[:, -1])
    assert np.all(ev[:, 1] > 1e-6 * ev[:, -1])                            # only one eigenvalue vanishes
    np.testing.assert_array_equal(ic.zeta_all(small, Q), np.zeros(small.K))


def test_delta0_is_half_the_mean_square_label_minus_L_star(small):
    """With w = 0 the prediction is 0, so Δ(0) = ½ E Σ_k y_k² − L⋆ = ½ Σ_k (‖f(v_k)‖² + mτ) − L⋆ (eq. 1)."""
    want = 0.5 * sum(float(small.Zt[:, k] @ small.Zt[:, k]) + small.m * small.tau for k in range(small.K))
    assert ic.delta0(small) == pytest.approx(want - small.L_star, rel=1e-12)


def test_default_step_sizes(small):
    Q, _ = ic.init_params(small, 6, rng=np.random.default_rng(8))
    L = _product_eigs(small, Q)[:, -1].max()
    eQ, ew, g = ic.default_step_sizes(small, Q)
    assert g == 100.0 and ew == pytest.approx(0.9 / L, rel=1e-10) and eQ == pytest.approx(ew / 1e4, rel=1e-12)
    eQ, ew, g = ic.default_step_sizes(small, Q, eta_Q=2e-3, gamma=7)
    assert (eQ, g) == (2e-3, 7.0) and ew == pytest.approx(49 * 2e-3, rel=1e-14)
    eQ, ew, g = ic.default_step_sizes(small, Q, gamma=5)
    assert ew == pytest.approx(0.9 / L, rel=1e-10) and eQ == pytest.approx(ew / 25, rel=1e-12)
    for bad, match in (({"gamma": 0}, r"gamma \(√\(η_w/η_Q\), eq. 16\) must be finite and > 0, got 0"),
                       ({"gamma": np.inf}, r"gamma .* must be finite and > 0, got inf"),
                       ({"eta_Q": -1.0}, r"eta_Q \(step size of Q, eq. 16\) must be finite and > 0, got -1.0"),
                       ({"eta_Q": 0.0}, r"eta_Q .* must be finite and > 0, got 0.0"),
                       ({"eta_Q": np.nan}, r"eta_Q .* must be finite and > 0, got nan")):
        with pytest.raises(ValueError, match=match):
            ic.default_step_sizes(small, Q, **bad)


# ---- Theorem 1's bound (eq. 18) ------------------------------------------------------------------------

def test_theorem1_rate_follows_from_descent_and_pl():
    """One step of the w-block: the descent lemma with η_w ≤ 1/L gives Δ⁺ ≤ Δ − (η_w/2)‖∇_w L‖², the PL
    inequality (49) gives ‖∇_w L‖² ≥ 2ζΔ, and (43b) keeps ζ ≥ ζ₀/2; t steps multiply the factors."""
    eta, z0, D, g2 = sp.symbols("eta_w zeta_0 Delta g2", positive=True)
    after = (D - eta / 2 * g2).subs(g2, 2 * (z0 / 2) * D)                  # worst case of PL with ζ = ζ₀/2
    rate = sp.simplify(after / D)
    t = np.arange(0, 40, 3)
    for eta_w, zeta0, d0 in ((0.5, 0.3, 2.0), (1.2, 1.5, 0.07), (1e-3, 4.0, 10.0)):
        r = float(rate.subs({eta: eta_w, z0: zeta0}))
        want = np.array([d0 * r ** int(k) for k in t])
        np.testing.assert_allclose(ic.theorem1_bound(t, eta_w, zeta0, d0), want, rtol=1e-12)
        assert ic.theorem1_bound(7, eta_w, zeta0, d0) == pytest.approx(d0 * r ** 7, rel=1e-12)
    # rate exactly 0 and 1 are allowed, outside [0, 1] is refused
    assert ic.theorem1_bound(3, 1.0, 2.0, 5.0) == 0.0
    assert ic.theorem1_bound(3, 1.0, 0.0, 5.0) == 5.0
    for eta_w, zeta0, shown in ((1.0, 2.5, "-0.25"), (1.0, -0.5, "1.25")):
        with pytest.raises(ValueError, match=rf"the rate 1 − η_w ζ₀/2 = {shown} is outside \[0, 1\]"):
            ic.theorem1_bound(3, eta_w, zeta0, 5.0)


def test_theorem1_bound_starts_at_the_initial_gap(small):
    """At t = 0 the bound is the gap of the initialization, L(Q(0), 0) − L⋆, computed by the loss."""
    h = ic.train(small, 6, steps=0, seed=3)
    gap0 = ic.population_loss(small, h.Q0, np.zeros((6, small.K))) - small.L_star
    assert float(ic.theorem1_bound(0, h.eta_w, h.zeta0, h.delta0)) == pytest.approx(gap0, rel=1e-10)
    assert h.bound_rate == pytest.approx(1 - h.eta_w * ic.zeta(small, h.Q0) / 2, rel=1e-12)


# ---- Adam (Kingma & Ba 2015, Algorithm 1) --------------------------------------------------------------

def _kingma_ba(theta, grads, alpha, beta1, beta2, eps):
    """Algorithm 1 of Kingma & Ba (2015), line by line, for a list of gradients g_1, g_2, …"""
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        theta = theta - alpha * m_hat / (np.sqrt(v_hat) + eps)
    return theta, m, v


@pytest.mark.parametrize("betas,eps", [((0.9, 0.999), 1e-8), ((0.5, 0.8), 1e-2)])
def test_adam_update_is_kingma_ba_algorithm_1(betas, eps):
    rng = np.random.default_rng(9)
    theta0 = rng.standard_normal((3, 4))
    # gradients of very different sizes, so that ε matters for some entries
    grads = [rng.standard_normal((3, 4)) * np.logspace(-4, 1, 4) for _ in range(6)]
    p, m1, m2 = theta0.copy(), np.zeros((3, 4)), np.zeros((3, 4))
    for n_steps in range(1, 7):
        ict.adam_update(p, grads[n_steps - 1], m1, m2, n_steps, 0.05, *betas, eps)
        want, m, v = _kingma_ba(theta0, grads[:n_steps], 0.05, *betas, eps)
        np.testing.assert_allclose(p, want, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(m1, m, rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(m2, v, rtol=1e-13, atol=1e-300)


def test_train_adam_is_the_paper_protocol_with_kingma_ba():
    """train(method="adam") against a plain transcription of the protocol of §4: a training set of n_train
    prompts, reshuffled every epoch, mini-batches of `batch` (the last one of an epoch shorter), Adam on
    Q and on w from the paper's initialization."""
    p = _problem(10, 3, 4, 3, 0.2)
    H, steps, lr, batch, n_train, seed, betas, eps = 4, 13, 0.02, 4, 10, 5, (0.8, 0.95), 1e-6
    h = ic.train(p, H, steps=steps, method="adam", seed=seed, lr=lr, batch=batch, n_train=n_train,
                 record_every=4, betas=betas, adam_eps=eps)
    rng = np.random.default_rng(seed)
    Q0, w0 = ic.init_params(p, H, rng=rng)
    _, y = ic.sample_prompts(p, n_train, rng=rng)
    batches = []
    while len(batches) < steps:                                           # epochs of shuffled batches
        order = rng.permutation(n_train)
        batches += [order[i:i + batch] for i in range(0, n_train, batch)]
    gQs, gws, tls = [], [], []
    Q, w = Q0, w0
    for t in range(steps):
        tl, gQ, gw = ic.empirical_loss_and_grad(p, Q, w, y[batches[t]])
        gQs.append(gQ)
        gws.append(gw)
        tls.append(tl)
        Q = _kingma_ba(Q0, gQs, lr, *betas, eps)[0]
        w = _kingma_ba(w0, gws, lr, *betas, eps)[0]
    np.testing.assert_array_equal(h.Q0, Q0)
    np.testing.assert_allclose(h.Q, Q, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(h.w, w, rtol=1e-10, atol=1e-12)
    assert h.steps_done == steps and not h.diverged
    np.testing.assert_array_equal(h.step, [0, 4, 8, 12, 13])
    np.testing.assert_allclose(h.train_loss[1:], [tls[3], tls[7], tls[11], tls[12]], rtol=1e-10)
    assert np.isnan(h.train_loss[0])
    assert h.loss[-1] == pytest.approx(ic.population_loss(p, Q, w), rel=1e-10)


def _numpy_adam(p, g, m1, m2, t, lr, b1, b2, eps):
    """Adam's update as numpy expressions over whole arrays (the implementation before the fused loop)."""
    m1[...] = m1 * b1 + g * (1 - b1)
    m2[...] = m2 * b2 + (g * g) * (1 - b2)
    p[...] = p - (m1 / (np.sqrt(m2) * (1 / np.sqrt(1 - b2**t)) + eps)) * (lr / (1 - b1**t))


def test_fused_adam_update_equals_the_numpy_expressions_bit_for_bit():
    """adam_update is one compiled loop (iclbook._fused.adam_step) with the arithmetic of the numpy expressions
    in the same order: over several steps, on entries of very different sizes, the result is the numpy one bit
    for bit in float64 (a change of order, a fused multiply-add or a constant in another precision would differ
    in the last bits of some entries). Bad inputs are refused."""
    rng = np.random.default_rng(4)
    p = rng.standard_normal((101, 77)) * np.logspace(-6, 3, 77)
    m1, m2 = np.zeros_like(p), np.zeros_like(p)
    want = [x.copy() for x in (p, m1, m2)]
    for t in range(1, 6):
        g = rng.standard_normal(p.shape) * np.logspace(-8, 2, 77)
        _numpy_adam(*want[:1], g, *want[1:], t, 0.01, 0.9, 0.999, 1e-8)
        ict.adam_update(p, g, m1, m2, t, 0.01, 0.9, 0.999, 1e-8)
    for got, w in zip((p, m1, m2), want):
        np.testing.assert_array_equal(got, w)
    p32, a32, b32 = (x.astype(np.float32) for x in (p, m1, m2))
    ict.adam_update(p32, g, a32, b32, 6, 0.01, 0.9, 0.999, 1e-8)           # float32 runs in float32
    assert p32.dtype == np.float32
    want64 = [x.copy() for x in (p, m1, m2)]
    _numpy_adam(*want64[:1], g, *want64[1:], 6, 0.01, 0.9, 0.999, 1e-8)
    np.testing.assert_allclose(p32, want64[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="C-contiguous"):
        q = np.zeros((8, 8)).T
        ict.adam_update(q, np.ones((8, 8)), np.zeros((8, 8)), np.zeros((8, 8)), 1, 0.1, 0.9, 0.99, 1e-8)
    with pytest.raises(ValueError, match="C-contiguous"):
        ict.adam_update(np.zeros(4), np.ones(4), np.zeros(4, np.float32), np.zeros(4), 1, 0.1, 0.9, 0.99, 1e-8)
    with pytest.raises(ValueError, match="shape"):
        ict.adam_update(np.zeros(4), np.ones(5), np.zeros(4), np.zeros(4), 1, 0.1, 0.9, 0.99, 1e-8)

"""iclbook.convergence: the functions chapters 5-8 call instead of computing a formula inline.

Each is compared with an independent computation: the package's loss and gradient (not B_k), a
pseudo-inverse instead of a least-squares solve, a closed form, or a literal transcription.
"""
import numpy as np
import pytest

import iclbook as ic
from iclbook import convergence as cv


def _point(problem, H, seed):
    rng = np.random.default_rng(seed)
    Q, _ = ic.init_params(problem, H, rng=rng)
    return Q, rng.standard_normal((H, problem.K))


@pytest.mark.parametrize("H,seed", [(3, 0), (8, 1)])
def test_pl_quantities_against_loss_and_gradient(small, H, seed):
    Q, w = _point(small, H, seed)
    q = cv.pl_quantities(small, Q, w)
    _, gw = ic.population_grad(small, Q, w)
    gap = ic.population_loss(small, Q, w) - small.L_star     # with cancellation
    assert q["gap"] == pytest.approx(gap, rel=1e-12)
    assert q["grad_w_sq"] == pytest.approx(np.sum(gw**2), rel=1e-12)
    # the PL ratio, not the ratio without the 2 (a factor 2 off)
    assert q["ratio"] == pytest.approx(np.sum(gw**2) / (2 * gap), rel=1e-12)
    assert q["ratio"] >= q["zeta"] * (1 - 1e-12)


def test_pl_quantities_at_the_minimum(small):
    Q, _ = _point(small, 8, 2)
    q = cv.pl_quantities(small, Q, ic.weights_for_target(small, Q))
    assert q["gap"] < 1e-20 and q["grad_w_sq"] < 1e-20     # A attained: gap and gradient vanish
    assert np.isnan(q["ratio"]) or q["ratio"] >= q["zeta"] * (1 - 1e-6)


def test_pl_equality_weights_attain_the_constant(small):
    Q, _ = ic.init_params(small, 8, rng=np.random.default_rng(0))
    w = cv.pl_equality_weights(small, Q)
    # independent construction: pseudo-inverse of B_k on Zbar a_k + [k = k*] u
    B = ic.B_matrices(small, Q)
    lam, U = np.linalg.eigh(B @ B.transpose(0, 2, 1))
    k_star = int(np.argmin(lam[:, 0]))
    T = small.Zbar @ small.A
    T[:, k_star] += U[k_star][:, 0]
    w_pinv = np.stack([np.linalg.pinv(B[k]) @ T[:, k] for k in range(small.K)], axis=1)
    np.testing.assert_allclose(w, w_pinv, rtol=1e-8, atol=1e-8)
    _, gw = ic.population_grad(small, Q, w)
    gap = ic.population_loss(small, Q, w) - small.L_star
    assert gap == pytest.approx(0.5, rel=1e-9)
    assert np.sum(gw**2) / (2 * gap) == pytest.approx(ic.zeta(small, Q), rel=1e-8)
    with pytest.raises(ValueError, match="H = 3 < N = 4"):
        cv.pl_equality_weights(small, ic.init_params(small, 3, rng=np.random.default_rng(0))[0])


def test_profile_loss_one_head_closed_form(small):
    """H = 1: min_w L = L* + 1/2 sum_k (a_k^T M a_k - (s_k^T M a_k)^2 / s_k^T M s_k), M = Zbar^2."""
    Q, _ = ic.init_params(small, 1, rng=np.random.default_rng(3))
    S = ic.softmax_weights(small, Q)[0]
    M, A = small.Zbar2, small.A
    sMs, sMa = np.sum(S * (M @ S), 0), np.sum(S * (M @ A), 0)
    closed = small.L_star + 0.5 * (np.sum(A * (M @ A)) - np.sum(sMa**2 / sMs))
    assert cv.profile_loss(small, Q) == pytest.approx(closed, rel=1e-12)
    w_star = (sMa / sMs)[None]
    assert cv.profile_loss(small, Q) == pytest.approx(ic.population_loss(small, Q, w_star), rel=1e-12)
    # any other w does worse
    for s in range(5):
        w = w_star + 0.1 * np.random.default_rng(s).standard_normal(w_star.shape)
        assert ic.population_loss(small, Q, w) > cv.profile_loss(small, Q)


def test_profile_loss_is_L_star_when_H_at_least_N(small):
    Q, _ = ic.init_params(small, 8, rng=np.random.default_rng(1))
    assert cv.profile_loss(small, Q) == pytest.approx(small.L_star, rel=1e-12)
    Q3, _ = ic.init_params(small, 3, rng=np.random.default_rng(1))
    assert cv.profile_loss(small, Q3) > small.L_star * (1 + 1e-6)


def test_xi_secant(small):
    """In theta-coordinates: grad_alpha = gamma grad_w and alpha = w / gamma; along alpha_{:,k} alone the
    alpha-block changes by exactly gamma^2 B_k^T B_k e, a lower bound of the secant."""
    Q, w = _point(small, 8, 4)
    gamma, k = 30.0, 5
    e = np.random.default_rng(5).standard_normal(8)
    w2 = w.copy()
    w2[:, k] += gamma * 0.01 * e
    Q2 = Q + 0.1 * np.random.default_rng(6).standard_normal(Q.shape)
    for Qb in (Q, Q2):
        (gQ, gw), (gQb, gwb) = ic.population_grad(small, Q, w), ic.population_grad(small, Qb, w2)
        num = np.sqrt(np.sum((gQb - gQ) ** 2) + gamma**2 * np.sum((gwb - gw) ** 2))
        den = np.sqrt(np.sum((Qb - Q) ** 2) + np.sum((w2 - w) ** 2) / gamma**2)
        assert cv.xi_secant(small, Q, w, Qb, w2, gamma) == pytest.approx(num / den, rel=1e-10)
    B = ic.B_matrices(small, Q)
    alpha_block = gamma**2 * np.linalg.norm(B[k].T @ B[k] @ e) / np.linalg.norm(e)
    assert cv.xi_secant(small, Q, w, Q, w2, gamma) >= alpha_block * (1 - 1e-9)
    assert cv.xi_secant(small, Q, w, Q2, w2, gamma) == pytest.approx(
        cv.xi_secant(small, Q2, w2, Q, w, gamma), rel=1e-14)


def test_xi_hessian_norm_below_lemma10(small):
    Q, _ = ic.init_params(small, 5, rng=np.random.default_rng(7))
    rng = np.random.default_rng(8)
    alpha = rng.uniform(-1, 1, (5, small.K))
    hn = cv.xi_hessian_norm(small, Q, 3.0 * alpha, 3.0, rng=rng, iters=20, eps=1e-6)
    assert 0 < hn <= cv.lemma10_L(small, 5, 3.0, 1.0)
    # at least the alpha-block's largest curvature, gamma^2 max_k ||B_k||^2 (within power-iteration error)
    assert hn >= 0.9 * 9.0 * ic.w_smoothness(small, Q)


def test_exp_sum_terms_match_the_exponentials(small):
    r, rng = 1, np.random.default_rng(0)
    q_tilde = rng.standard_normal(small.d - 1)
    qs = np.array([-3.0, 0.0, 0.7, 40.0])
    T = cv.exp_sum_terms(small, r, q_tilde, qs)
    for row, q in zip(T, qs):
        q1 = np.insert(q_tilde, r, q)                  # the query vector (q, q~)
        x = np.exp(small.VN.T @ q1)                    # exp(V_N^T q_1), literally
        np.testing.assert_allclose(row, x / x.max(), rtol=1e-12)
    assert np.all(T.max(axis=1) == 1.0)


def _gd_step_counted(problem, Q, w, eta_Q, eta_w):
    """One GD step written with plain loops, counting multiplications, divisions and exponentials
    (the scalar ½ of the loss is not counted); returns (loss, gQ, gw, Q⁺, w⁺, count)."""
    N, K, d, H = problem.N, problem.K, problem.d, Q.shape[0]
    V, VN, Z2, A = problem.V, problem.VN, problem.Zbar2, problem.A
    ops = 0
    S = np.zeros((H, N, K))
    for h in range(H):
        P = np.zeros((N, d))                          # V_Nᵀ Q_h
        for n in range(N):
            for e in range(d):
                for c in range(d):
                    P[n, e] += VN[c, n] * Q[h, c, e]; ops += 1
        for k in range(K):
            x = [sum(P[n, e] * V[e, k] for e in range(d)) for n in range(N)]; ops += N * d
            top = max(x)
            ex = [np.exp(xi - top) for xi in x]; ops += N
            tot = sum(ex)
            for n in range(N):
                S[h, n, k] = ex[n] / tot; ops += 1
    Ahat = np.zeros((N, K))
    for h in range(H):
        for n in range(N):
            for k in range(K):
                Ahat[n, k] += w[h, k] * S[h, n, k]; ops += 1
    delta = Ahat - A
    G = np.zeros((N, K))
    for n in range(N):
        for k in range(K):
            for j in range(N):
                G[n, k] += Z2[n, j] * delta[j, k]; ops += 1
    loss = problem.L_star + 0.5 * sum(delta[n, k] * G[n, k] for n in range(N) for k in range(K))
    ops += N * K
    gw, gQ = np.zeros((H, K)), np.zeros((H, d, d))
    for h in range(H):
        for k in range(K):
            for n in range(N):
                gw[h, k] += S[h, n, k] * G[n, k]; ops += 1
        R = np.zeros((N, K))
        for n in range(N):
            for k in range(K):
                R[n, k] = (G[n, k] - gw[h, k]) * S[h, n, k] * w[h, k]; ops += 2
        M = np.zeros((N, d))                          # R_h Vᵀ
        for n in range(N):
            for e in range(d):
                for k in range(K):
                    M[n, e] += R[n, k] * V[e, k]; ops += 1
        for c in range(d):
            for e in range(d):
                for n in range(N):
                    gQ[h, c, e] += VN[c, n] * M[n, e]; ops += 1
    Qn = Q - eta_Q * gQ; ops += H * d * d
    wn = w - eta_w * gw; ops += H * K
    return loss, gQ, gw, Qn, wn, ops


@pytest.mark.parametrize("shape,H", [((5, 3, 4, 2), 3), ((7, 2, 3, 2), 3), ((6, 4, 2, 3), 5)])
def test_gd_step_work_counts_a_plain_step(shape, H):
    """A step written with loops computes the package's loss and gradient and performs exactly
    H * per_head + shared counted operations; sizes with N, d, K all different so that a swapped
    dimension (d²K for N d², say) changes the count."""
    problem = ic.make_problem(*shape, 0.1, seed=1)
    rng = np.random.default_rng(2)
    Q, _ = ic.init_params(problem, H, rng=rng)
    w = rng.standard_normal((H, problem.K))
    loss, gQ, gw, Qn, wn, ops = _gd_step_counted(problem, Q, w, 0.01, 0.1)
    ref_loss, ref_gQ, ref_gw = ic.population_loss_and_grad(problem, Q, w)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(gQ, ref_gQ, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(gw, ref_gw, rtol=1e-10, atol=1e-13)
    per_head, shared = cv.gd_step_work(problem)
    assert ops == H * per_head + shared
    # and the step is the package's: one GD step from (Q, w) lands on (Qn, wn)
    h = ic.train(problem, H, steps=1, seed=None, init=(Q, w), eta_Q=0.01, gamma=np.sqrt(10.0))
    np.testing.assert_allclose(h.Q, Qn, rtol=1e-12)
    np.testing.assert_allclose(h.w, wn, rtol=1e-12)

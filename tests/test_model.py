"""The model (eq. 8), the exact loss (Lemma 5), its gradients (§6.3) and the general architecture (eqs. 5–7)."""
import numpy as np
import pytest

import iclbook as ic
from iclbook.crosscheck import finite_difference_gradient

SHAPES = [(12, 4, 6, 3, 0.1, 8), (9, 3, 4, 5, 0.5, 2), (15, 6, 3, 2, 0.05, 7)]


def _rel(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("K,N,d,m,tau,H", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_population_gradient_matches_finite_differences(K, N, d, m, tau, H, seed):
    p = ic.make_problem(K, N, d, m, tau, seed=seed)
    rng = np.random.default_rng(seed + 10)
    Q, _ = ic.init_params(p, H, rng=rng)
    w = rng.standard_normal((H, K))
    gQ, gw = ic.population_grad(p, Q, w)
    assert _rel(gQ, finite_difference_gradient(lambda X: ic.population_loss(p, X, w), Q)) < 1e-6
    assert _rel(gw, finite_difference_gradient(lambda X: ic.population_loss(p, Q, X), w)) < 1e-6


@pytest.mark.parametrize("K,N,d,m,tau,H", SHAPES)
def test_empirical_gradient_matches_finite_differences(K, N, d, m, tau, H):
    p = ic.make_problem(K, N, d, m, tau, seed=3)
    rng = np.random.default_rng(4)
    Q, _ = ic.init_params(p, H, rng=rng)
    w = rng.standard_normal((H, K))
    _, y = ic.sample_prompts(p, 7, rng=rng)
    loss, gQ, gw = ic.empirical_loss_and_grad(p, Q, w, y)
    yh = ic.predict(p, Q, w, y)
    assert loss == pytest.approx(0.5 * np.mean(np.sum((yh - y) ** 2, axis=1)), rel=1e-12)
    f_Q = lambda X: ic.empirical_loss_and_grad(p, X, w, y)[0]
    f_w = lambda X: ic.empirical_loss_and_grad(p, Q, X, y)[0]
    assert _rel(gQ, finite_difference_gradient(f_Q, Q)) < 1e-6
    assert _rel(gw, finite_difference_gradient(f_w, w)) < 1e-6


def test_closed_form_loss_matches_monte_carlo(small):
    """Lemma 5: the closed form equals ½ E Σ_k (ŷ_k − y_k)² (10⁵ prompts, within 4 standard errors)."""
    rng = np.random.default_rng(5)
    Q, _ = ic.init_params(small, 8, rng=rng)
    w = rng.standard_normal((8, small.K))
    _, y = ic.sample_prompts(small, 200_000, rng=rng)
    per = 0.5 * np.sum((ic.predict(small, Q, w, y) - y) ** 2, axis=1)
    se = per.std(ddof=1) / np.sqrt(per.size)
    assert abs(per.mean() - ic.population_loss(small, Q, w)) < 4 * se
    # at w = 0 the prediction is 0, so the loss is ½ E Σ_k y_k² = ½ Σ_k (‖z_k‖² + mτ) (λ ~ N(0, I), ε ~ N(0, τI)),
    # computed here from eq. 1's moments, not from Lemma 5's quadratic form; it is Δ(0) + L⋆
    half_Ey2 = 0.5 * (np.sum(small.Zt ** 2) + small.K * small.m * small.tau)
    assert ic.population_loss(small, Q, np.zeros_like(w)) == pytest.approx(half_Ey2, rel=1e-12)
    assert ic.delta0(small) + small.L_star == pytest.approx(half_Ey2, rel=1e-12)


def test_L_star_is_the_loss_at_the_limit_and_a_lower_bound(small):
    """L(θ) − L⋆ = ½‖Z̄(Â − A)‖² ≥ 0, and Â = A attains it (H ≥ N: solve C_k w_k = a_k)."""
    rng = np.random.default_rng(6)
    H = 8
    Q, _ = ic.init_params(small, H, rng=rng)
    w = ic.weights_for_target(small, Q)
    np.testing.assert_allclose(ic.attention_weights(small, Q, w), small.A, atol=1e-9)
    assert ic.population_loss(small, Q, w) == pytest.approx(small.L_star, rel=1e-9)
    for _ in range(5):
        assert ic.population_loss(small, Q, rng.standard_normal(w.shape)) > small.L_star


def test_limit_matrix_and_ridge(small):
    A = small.A
    np.testing.assert_array_equal(A[:, :small.N], np.eye(small.N))
    # eq. 34 computed directly, without the identity shortcut
    N, m, tau = small.N, small.m, small.tau
    direct = np.linalg.solve(small.Zbar2, small.Z.T @ small.Zt + m * tau * np.eye(N, small.K))
    np.testing.assert_allclose(A, direct, atol=1e-12)
    rng = np.random.default_rng(7)
    _, y = ic.sample_prompts(small, 20, rng=rng)
    np.testing.assert_allclose(y[:, :N] @ A, ic.ridge_predict(small, y, m * tau), atol=1e-10)
    np.testing.assert_allclose(ic.ridge_predict(small, y[0, :N], m * tau), ic.ridge_predict(small, y, m * tau)[0])
    # the two penalties differ unless N = m
    assert not np.allclose(ic.ridge_predict(small, y, m * tau), ic.ridge_predict(small, y, N * tau))
    # ridge with penalty Nτ against an independent solve: least squares on the stacked system [Zᵀ; √r I] λ ≈ [y; 0]
    r = N * tau
    M = np.vstack([small.Z.T, np.sqrt(r) * np.eye(m)])
    lam = np.linalg.lstsq(M, np.concatenate([y[0, :N], np.zeros(m)]), rcond=None)[0]
    np.testing.assert_allclose(ic.ridge_coefficients(small, y[0], r), lam, rtol=1e-10)
    np.testing.assert_allclose(ic.ridge_predict(small, y[0], r)[N:], lam @ small.Zt[:, N:], rtol=1e-10)


def test_Zbar_is_the_square_root(small):
    np.testing.assert_allclose(small.Zbar @ small.Zbar, small.Zbar2, atol=1e-12)
    np.testing.assert_allclose(small.Zbar, small.Zbar.T)


def test_sample_prompts_law(small):
    """y_k = λᵀ(f(v_k) + ε_k): mean λᵀz_k, residual variance τ‖λ‖² (eq. 1); OOD tasks have mean 1, std 2."""
    rng = np.random.default_rng(8)
    lam, y = ic.sample_prompts(small, 100_000, rng=rng)
    r = (y - lam @ small.Zt) / (np.sqrt(small.tau) * np.linalg.norm(lam, axis=1, keepdims=True))
    assert abs(r.mean()) < 4 / np.sqrt(r.size)
    assert abs(r.var() - 1) < 0.01
    lam2, _ = ic.sample_prompts(small, 100_000, rng=rng, lam_mean=1.0, lam_std=2.0)
    assert abs(lam2.mean() - 1) < 0.02 and abs(lam2.std() - 2) < 0.02


@pytest.mark.parametrize("H", [1, 3, 8])
def test_general_architecture_equals_eq8(small, H):
    rng = np.random.default_rng(9)
    Q, _ = ic.init_params(small, H, rng=rng)
    w = rng.standard_normal((H, small.K))
    _, y = ic.sample_prompts(small, 3, rng=rng)
    for yi in y:
        np.testing.assert_allclose(ic.transformer_predict(small, Q, w, yi), ic.predict(small, Q, w, yi),
                                   rtol=1e-12, atol=1e-12)
    # the restricted weights have the block form of eq. 7
    WQ, WK, WV, WO = ic.restricted_weights(small, Q, w)
    KQ = np.transpose(WK, (0, 2, 1)) @ WQ
    np.testing.assert_array_equal(KQ[:, :small.d, :small.d], Q)
    assert np.all(KQ[:, small.d, :] == 0) and np.all(KQ[:, :, small.d] == 0)


def test_softmax_is_stable_for_huge_scores(small):
    Q = np.full((2, small.d, small.d), 1e4)
    Q[1] *= -1
    S = ic.softmax_weights(small, Q)
    assert np.all(np.isfinite(S))
    np.testing.assert_allclose(S.sum(axis=1), 1.0)


def test_batched_order_matches_per_head_loop(small):
    """The batched product order equals a plain loop over heads and tokens."""
    rng = np.random.default_rng(10)
    Q, _ = ic.init_params(small, 5, rng=rng)
    w = rng.standard_normal((5, small.K))
    loop = np.zeros((small.N, small.K))
    for h in range(5):
        for k in range(small.K):
            z = small.VN.T @ Q[h] @ small.V[:, k]
            s = np.exp(z - z.max())
            loop[:, k] += w[h, k] * s / s.sum()
    np.testing.assert_allclose(ic.attention_weights(small, Q, w), loop, atol=1e-13)


def test_best_output_weights_minimise_the_loss_for_fixed_heads(small):
    """best_output_weights(Q): no other w gives a lower loss (random perturbations and the gradient in w is 0 up
    to round-off); with H ≥ N it reaches L⋆ (Â = A); with H < N it leaves a positive gap."""
    rng = np.random.default_rng(11)
    for H in (2, 8):
        Q, _ = ic.init_params(small, H, rng=rng)
        w = ic.model.best_output_weights(small, Q)
        L = ic.population_loss(small, Q, w)
        gw = ic.population_grad(small, Q, w)[1]
        assert np.max(np.abs(gw)) < 1e-9 * max(1.0, np.max(np.abs(w)))
        for _ in range(20):
            assert ic.population_loss(small, Q, w + 1e-3 * rng.standard_normal(w.shape)) > L
        if H >= small.N:
            assert L == pytest.approx(small.L_star, rel=1e-10)
        else:
            assert L - small.L_star > 1e-3


def test_attended_tokens_counts_distinct_argmax_positions(small):
    """attended_tokens against a plain loop over heads and tokens of the scores v_iᵀ Q_h v_k; at a large scale of
    Q (saturated, one-hot heads) a token whose heads see fewer than N positions makes ζ = 0 (Assumption 2 fails in
    float64), and ζ > 0 when every token sees all N."""
    from iclbook.model import attended_tokens
    rng = np.random.default_rng(3)
    outcomes = set()
    for H, scale in ((3, 1.0), (6, 200.0), (40, 200.0)):
        Q = scale * rng.standard_normal((H, small.d, small.d))
        V, VN = small.V, small.V[:, :small.N]
        loop = [len({int(np.argmax([VN[:, i] @ Q[h] @ V[:, k] for i in range(small.N)])) for h in range(H)})
                for k in range(small.K)]
        got = attended_tokens(small, Q)
        assert got.tolist() == loop
        if scale > 1:
            assert (ic.zeta(small, Q) == 0) == (got.min() < small.N)
            outcomes.add(bool(got.min() < small.N))
    assert outcomes == {True, False}           # both sides of the equivalence were exercised

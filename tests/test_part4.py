"""Part IV: Theorem 2 (inference = ridge regression), the m-versus-N discussion, Figures 2(a) and 3."""

import numpy as np
import pytest

import iclbook as ic
from iclbook import generalization as gen
from iclbook import ridge as rg
from iclbook.experiments import config, fig2a, fig3, load_cached



def _exact_params(p, H, seed=0):
    """(Q, w) with Â(θ) = A exactly: Q random, each column w_{:,k} solves C_k w = a_k (needs H ≥ N)."""
    Q, _ = ic.init_params(p, H, rng=np.random.default_rng(seed))
    return Q, ic.weights_for_target(p, Q)


def test_ridge_matrix_is_A_and_matches_ridge_predict(small):
    _, y = ic.sample_prompts(small, 5, rng=np.random.default_rng(0))
    for reg in (small.m * small.tau, small.N * small.tau, 2.7):
        np.testing.assert_allclose(rg.ridge_matrix(small, reg).T @ y[:, :small.N].T,
                                   ic.ridge_predict(small, y, reg).T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rg.ridge_matrix(small, small.m * small.tau), small.A, rtol=1e-10, atol=1e-12)


def test_model_at_the_limit_is_ridge(small):
    """Theorem 2's limit: Â = A gives ŷ = ŷ⋆ (copy of the N labels, ridge with penalty mτ on the rest)."""
    Q, w = _exact_params(small, 8)
    np.testing.assert_allclose(ic.attention_weights(small, Q, w), small.A, atol=1e-10)
    assert ic.population_loss(small, Q, w) - small.L_star < 1e-18 * small.L_star + 1e-12
    _, y = ic.sample_prompts(small, 50, rng=np.random.default_rng(1), lam_mean=1.0, lam_std=2.0)
    assert gen.inference_loss(small, Q, w, y) < 1e-18
    cb = gen.inference_callback(small, {"a": y})
    assert cb(0, Q, w)["a"] < 1e-18


def test_inference_loss_matches_definition(small):
    rng = np.random.default_rng(2)
    Q, _ = ic.init_params(small, 6, rng=rng)
    w = rng.standard_normal((6, small.K))
    _, y = ic.sample_prompts(small, 9, rng=rng)
    ref = np.mean(np.sum((ic.predict(small, Q, w, y) - ic.ridge_predict(small, y, small.m * small.tau)) ** 2,
                         axis=1)) / small.K
    assert gen.inference_loss(small, Q, w, y) == pytest.approx(ref, rel=1e-12)
    assert gen.inference_callback(small, {"t": y})(0, Q, w)["t"] == pytest.approx(ref, rel=1e-12)


def test_theorem2_deterministic_part(small):
    """(1/2K)‖ŷ − ŷ⋆‖² ≤ (1/2K) · 2Δ/λ_min(Z̄²) · ‖y‖² for arbitrary parameters (steps (c)–(d) of the proof)."""
    rng = np.random.default_rng(3)
    lmin = np.linalg.eigvalsh(small.Zbar2)[0]
    for _ in range(20):
        Q, _ = ic.init_params(small, 6, rng=rng)
        w = rng.standard_normal((6, small.K))
        gap = ic.population_loss(small, Q, w) - small.L_star
        _, y = ic.sample_prompts(small, 30, rng=rng, lam_mean=1.0, lam_std=2.0)
        lhs = gen.inference_distances(small, Q, w, y) / 2
        rhs = gap / (small.K * lmin) * np.sum(y[:, :small.N] ** 2, axis=1)
        assert np.all(lhs <= rhs * (1 + 1e-12))


def test_chi2_upper_holds_with_probability(small):
    rng = np.random.default_rng(4)
    for n, delta in ((1, 0.1), (5, 0.05), (30, 0.01)):
        x = np.sum(rng.standard_normal((200_000, n)) ** 2, axis=1)
        assert np.mean(x <= gen.chi2_upper(n, delta)) >= 1 - delta
    with pytest.raises(ValueError):
        gen.chi2_upper(3, 1.5)


def test_theorem2_steps_reach_eps(small):
    """With T from (21), Theorem 1's bound on Δ(T) gives theorem2_eps ≤ ε (and T is the smallest such, up to
    the step log(1 − x) ≤ −x)."""
    Q0, _ = ic.init_params(small, 8, rng=np.random.default_rng(0))
    _, eta_w, _ = ic.default_step_sizes(small, Q0)
    z0, d0 = ic.zeta(small, Q0), ic.delta0(small)
    for eps in (1e-2, 1e-4):
        T = gen.theorem2_steps(small, eps, 0.05, 3.0, eta_w, z0, d0)
        bound = ic.theorem1_bound(np.ceil(T), eta_w, z0, d0)
        assert gen.theorem2_eps(small, bound, 3.0, 0.05) <= eps * (1 + 1e-9)
        assert gen.theorem2_eps(small, d0 * np.exp(-eta_w * z0 / 2 * T), 3.0, 0.05) == pytest.approx(eps, rel=1e-9)


def test_fit_ridge_penalty_recovers_known_penalty(small):
    _, y = ic.sample_prompts(small, 40, rng=np.random.default_rng(5))
    for r in (0.037, 0.3, 4.0):
        assert rg.fit_ridge_penalty(small, ic.ridge_predict(small, y, r), y) == pytest.approx(r, rel=1e-5)


def test_expected_unseen_error_is_exact_and_minimal_at_m_tau():
    p = ic.make_problem(40, 6, 8, 4, 0.1, seed=3)
    lam, y = ic.sample_prompts(p, 200_000, rng=np.random.default_rng(6))
    for reg in (p.m * p.tau, p.N * p.tau):
        mc = np.mean(rg.unseen_errors(p, y, reg))
        assert mc == pytest.approx(rg.expected_unseen_error(p, reg), rel=0.01)
    best = rg.expected_unseen_error(p, p.m * p.tau)
    assert all(rg.expected_unseen_error(p, r) >= best for r in np.geomspace(1e-3, 1e2, 41))
    # against the noiseless template, not the labels: the target-noise term τ‖λ‖² (mean mτ) drops out
    clean = np.mean(rg.unseen_errors(p, y, p.m * p.tau, lam=lam))
    assert clean == pytest.approx(best - p.m * p.tau, rel=0.01)


def test_fig3_quick_identities():
    d = fig3.run(config("fig3", "quick"))
    N = np.asarray(d["N"])
    j = int(np.flatnonzero(N == d["config"]["m"])[0])
    assert np.all(np.asarray(d["gap"])[:, np.arange(N.size) != j] > 0)   # (at N = m the penalties coincide)
    K, Kb = d["config"]["K"], d["config"]["K_book"]
    assert np.asarray(d["gap"]).shape[0] >= 5                              # at least 5 dictionaries
    ge, es, eb = (np.asarray(d[k]) for k in ("gap_exact", "err_star_exact", "err_best_exact"))
    # K · E[gap] = (K − N) (E err_best − E err_star): Figure 3's gap is the best predictor's excess error
    np.testing.assert_allclose(K * ge, (K - N) * (eb - es), rtol=1e-6, atol=1e-12)
    assert np.all(eb >= es)
    # per unseen token: the same sums over k > N divided by K − N instead of K (a division by K, or by
    # K − N in both, fails); and the book's K_book view of the same prompts
    for a, b, k in (("gap", "gap_token", K), ("gap_exact", "gap_token_exact", K),
                    ("gap_book", "gap_book_token", Kb), ("gap_book_exact", "gap_book_token_exact", Kb)):
        np.testing.assert_allclose(k * np.asarray(d[a]), (k - N) * np.asarray(d[b]), rtol=1e-12)
    # per token, the K = 200 and K = 1000 views estimate the same K → ∞ expectation: within 40 % for
    # every dictionary and N ≠ m (the factor (K − N)/K alone would put K = 200 at 0.25–0.75 of it)
    fresh = np.asarray(d["gap_fresh"])[:, np.arange(N.size) != j]
    for key in ("gap_token_exact", "gap_book_token_exact"):
        ratio = np.asarray(d[key])[:, np.arange(N.size) != j] / fresh
        assert np.all(np.abs(ratio - 1) < 0.4), key
    fig = fig3.plot(d)
    assert len(fig.axes) == 4


@pytest.mark.parametrize("N", [6, 10, 14])
def test_fig3_closed_forms_match_ridge_predict_and_lemma5(N):
    """fig3's spectral closed forms against the package's ridge_predict and Lemma 5's expected error."""
    p = ic.make_problem(24, N, 5, 10, 0.05, seed=N)
    rng = np.random.default_rng(7)
    _, y = ic.sample_prompts(p, 30, rng=rng)
    _, yo = ic.sample_prompts(p, 30, rng=rng, lam_mean=1.0, lam_std=2.0)
    rs, rb = p.m * p.tau, p.N * p.tau
    extra = rng.standard_normal((p.m, 17))
    row = fig3._one_length(p.Zt, N, rs, rb, p.m * p.tau, y, yo, extra=extra)
    ys, yb = ic.ridge_predict(p, y, rs), ic.ridge_predict(p, y, rb)
    assert row["gap"] == pytest.approx(np.mean(rg.gap_to_best(p, y)), rel=1e-9)
    assert row["err_star"] == pytest.approx(np.mean(rg.unseen_errors(p, y, rs)), rel=1e-9)
    assert row["err_best"] == pytest.approx(np.mean((yb[:, N:] - y[:, N:]) ** 2), rel=1e-9)
    assert row["err_star_ood"] == pytest.approx(np.mean(rg.unseen_errors(p, yo, rs)), rel=1e-9)
    assert row["err_best_ood"] == pytest.approx(np.mean(rg.unseen_errors(p, yo, rb)), rel=1e-9)
    assert row["err_star_exact"] == pytest.approx(rg.expected_unseen_error(p, rs), rel=1e-9)
    assert row["err_best_exact"] == pytest.approx(rg.expected_unseen_error(p, rb), rel=1e-9)
    D = rg.ridge_matrix(p, rb) - p.A
    assert row["gap_exact"] == pytest.approx(np.sum(D * (p.Zbar2 @ D)) / p.K, rel=1e-7)
    assert np.mean(np.sum((ys - yb) ** 2, axis=1)) / p.K == pytest.approx(row["gap"], rel=1e-9)
    # the book's K_book: the same prompts, the dictionary extended by the extra unseen features
    pb = ic.Problem(np.hstack([p.V, p.V[:, :17]]), np.hstack([p.Zt, extra]), N, p.tau)
    assert row["gap_book"] == pytest.approx(np.mean(rg.gap_to_best(pb, y[:, :N])), rel=1e-9)
    Db = rg.ridge_matrix(pb, rb) - pb.A
    assert row["gap_book_exact"] == pytest.approx(np.sum(Db * (pb.Zbar2 @ Db)) / pb.K, rel=1e-7)
    assert row["gap_fresh"] == pytest.approx(rg.expected_gap_per_token(p, fresh=True), rel=1e-12)


def _whitened(N, m, K, tau, seed=0):
    """A Problem with ZZᵀ = N I_m and Σ_{k>N} z_k z_kᵀ = (K − N) I_m (orthonormal rows, rescaled)."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((N, m)))[0]
    W = np.linalg.qr(rng.standard_normal((K - N, m)))[0]
    Zt = np.hstack([np.sqrt(N) * U.T, np.sqrt(K - N) * W.T])
    return ic.Problem(ic.make_problem(K, N, 3, m, tau, seed=seed).V, Zt, N, tau)


def test_expected_gap_per_token_against_lemma5_monte_carlo_and_whitened_design():
    """rg.expected_gap_per_token against (a) the Lemma 5 form ‖Z̄(A_{Nτ} − A)‖²/(K − N) built here from
    ridge_matrix and Z̄², (b) a Monte Carlo mean of ridge_predict's gap over 100,000 prompts, (c) with
    fresh=True, a problem whose unseen features are 100,000 fresh Gaussians, and (d) in a whitened
    design, the closed form mτ²(N − m)²/((1 + τ)² N (N + mτ)) derived by hand (chapter 11, exercise 1).
    A weight without the mτ·s term, a gap over K instead of K − N, or a missing square fails (a)–(d)."""
    for N, m in ((6, 8), (12, 4)):                         # N < m and N > m
        p = ic.make_problem(40, N, 5, m, 0.3, seed=N)
        D = rg.ridge_matrix(p, N * p.tau) - p.A
        lemma5 = np.sum(D * (p.Zbar2 @ D)) / (p.K - N)
        assert rg.expected_gap_per_token(p) == pytest.approx(lemma5, rel=1e-9)
        _, y = ic.sample_prompts(p, 100_000, rng=np.random.default_rng(N))
        mc = np.mean(rg.gap_to_best(p, y)) * p.K / (p.K - N)
        assert mc == pytest.approx(lemma5, rel=0.02)        # MC sd about 0.5 %
        big = ic.Problem(np.ones((1, N + 100_000)) * np.arange(N + 100_000) / 1e6,
                         np.hstack([p.Z, np.random.default_rng(1).standard_normal((m, 100_000))]), N,
                         p.tau, unit_tokens=False)
        assert rg.expected_gap_per_token(big) == pytest.approx(rg.expected_gap_per_token(p, fresh=True),
                                                                rel=0.01)
    for N, m, tau in ((8, 4, 0.5), (30, 5, 0.1), (5, 5, 0.2)):
        p = _whitened(N, m, N + 20, tau)
        want = m * tau**2 * (N - m) ** 2 / ((1 + tau) ** 2 * N * (N + m * tau))
        assert rg.expected_gap_per_token(p) == pytest.approx(want, rel=1e-9, abs=1e-15)
        assert rg.expected_gap_per_token(p, fresh=True) == pytest.approx(want, rel=1e-9, abs=1e-15)


def test_best_gap_limit_against_large_N_monte_carlo():
    """mτ²/(1 + τ)² against (a) a Monte Carlo of eq. (1) and the two ridge estimates (penalties mτ and
    Nτ), all transcribed here, at N = 5,000 with 2,000 fresh unseen features and 600 tasks (sd about
    3 %), and (b) the exact fresh-token expectation Σ_j w_j (rg.gap_weights on the spectrum of ZZᵀ) at
    N = 200,000 (finite-N bias about 0.01 %). The nearby wrong limits mτ/(1 + τ)² (×2 here),
    mτ²/(1 + τ) (×1.5), mτ² (×2.25) and τ²/(1 + τ)² (÷4) fail both; so does a limit of 0."""
    m, tau = 4, 0.5
    lim = rg.best_gap_limit(m, tau)
    rng = np.random.default_rng(0)
    N, n = 5000, 600
    Z, Zq = rng.standard_normal((m, N)), rng.standard_normal((m, 2000))
    lam = rng.standard_normal((n, m))
    eps = np.sqrt(tau) * rng.standard_normal((n, m, N))
    y = np.einsum("na,nai->ni", lam, Z[None] + eps)                   # y_i = λᵀ(z_i + ε_i), eq. (1)
    lh = lambda r: np.linalg.solve(Z @ Z.T + r * np.eye(m), Z @ y.T)  # (m, n)
    mc = np.mean(((lh(m * tau) - lh(N * tau)).T @ Zq) ** 2)
    assert mc == pytest.approx(lim, rel=0.12)
    N = 200_000
    Z = rng.standard_normal((m, N))
    exact = np.sum(rg.gap_weights(np.linalg.eigvalsh(Z @ Z.T), m * tau, N * tau, m * tau))
    assert exact == pytest.approx(lim, rel=2e-3)
    assert rg.best_gap_limit(100, 0.01) == pytest.approx(100 * 1e-4 / 1.01**2, rel=1e-12)


@pytest.mark.parametrize("name", ["fig2a", "fig2a_unit_minibatch"])
def test_fig2a_cache_is_an_honest_prefix(name):
    """The cached paper-scale runs of Figure 2(a) under the paper's protocol (book/data/fig2a.json) and the
    book's (fig2a_unit_minibatch.json) record how they were made and start exactly as fresh runs with the same
    seeds (the first seed for 300 steps, the last for 100)."""
    data = load_cached(name)
    prov = data["provenance"]
    assert prov["command"].startswith("python -m iclbook reproduce fig2a") and prov["seconds"] > 0
    assert prov["git_commit"] != "unknown" and prov["machine"] and prov["iclbook_version"]
    per = data["per_seed"]
    assert len(per) >= 3 and data["seeds"] == [d["config"]["seed"] for d in per]
    paper = config("fig2a", "paper", tokens=data["tokens"], objective=data["objective"])
    for d, steps in ((per[0], 300), (per[-1], 100)):
        seed = d["config"]["seed"]
        assert d["config"] == {**paper.as_dict(), "seed": seed} and not d["diverged"]
        assert (d["tokens"], d["objective"]) == (data["tokens"], data["objective"])
        fresh = fig2a.run(paper.replace(seed=seed, steps=steps))
        n = len(fresh["step"])
        assert fresh["step"] == d["step"][:n] and fresh["step"][-1] == steps
        assert fresh["L_star"] == pytest.approx(d["L_star"], rel=1e-12)
        for key in ("loss", "gap", "inference_in", "inference_ood", "train_loss"):
            a = np.array(fresh[key], dtype=float)
            b = np.array(d[key][:n], dtype=float)
            np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=key)
    fig = fig2a.plot(data)
    assert len(fig.axes) == 2


def test_theorem2_factor_is_steps_b_c():
    """gen.theorem2_factor against a transcription (λ_min of ZᵀZ + mτI built here from Z) and against the
    inequality it states, which must be tight for D = v cᵀ, y ∥ v (v: bottom eigenvector of Z̄²); a factor
    off by 2, or λ_max in place of λ_min, fails one of the two."""
    p = ic.make_problem(20, 6, 5, 4, 0.3, seed=1)
    _, y = ic.sample_prompts(p, 7, rng=np.random.default_rng(0))
    G = p.Z.T @ p.Z + p.m * p.tau * np.eye(p.N)
    lmin = min(np.linalg.eigvals(G).real)
    want = 2 * np.sum(y[:, :p.N] ** 2, axis=1) / (p.K * lmin)
    np.testing.assert_allclose(gen.theorem2_factor(p, y), want, rtol=1e-12)
    assert gen.lmin_zbar2(p) == pytest.approx(lmin, rel=1e-12)
    rng = np.random.default_rng(3)
    for _ in range(20):                                   # (1/K)‖Dᵀy‖² ≤ factor · ½‖Z̄D‖²
        Q, _ = ic.init_params(p, 5, rng=rng)
        w = rng.standard_normal((5, p.K))
        d = gen.inference_distances(p, Q, w, y)
        gap = gen.optimality_gap(p, Q, w)
        assert np.all(d <= gen.theorem2_factor(p, y) * gap * (1 + 1e-12))
    ev, U = np.linalg.eigh(G)
    D = np.outer(U[:, 0], rng.standard_normal(p.K))
    yv = 3 * U[:, 0]
    lhs = np.sum((D.T @ yv) ** 2) / p.K
    rhs = gen.theorem2_factor(p, yv)[0] * 0.5 * np.sum((G @ D) * D)
    assert lhs == pytest.approx(rhs, rel=1e-10)


def test_noise_within_chi2_bound_is_step_d_event():
    """The event of step (d), ‖y_P − Zᵀλ‖² ≤ τ‖λ‖²(N + 2√(Nx) + 2x), x = log 1/δ, transcribed here: labels
    just inside and just outside it; and its frequency over prompts that share λ is at least 1 − δ."""
    p = ic.make_problem(20, 6, 5, 4, 0.3, seed=1)
    lam, delta = np.array([1.0, -2.0, 0.5, 0.0]), 0.1
    x = np.log(1 / delta)
    thr = p.tau * (lam @ lam) * (p.N + 2 * np.sqrt(p.N * x) + 2 * x)
    e = np.random.default_rng(0).standard_normal(p.N)
    e /= np.linalg.norm(e)
    y = lam @ p.Z + np.sqrt(thr * np.array([[1 - 1e-6], [1 + 1e-6]])) * e
    assert gen.noise_within_chi2_bound(p, y, lam, delta).tolist() == [True, False]
    _, yy = ic.sample_prompts(p, 20_000, lam_mean=lam, lam_std=0.0, rng=np.random.default_rng(1))
    freq = gen.noise_within_chi2_bound(p, yy, lam, delta).mean()
    assert 1 - delta <= freq < 1
    with pytest.raises(ValueError, match="lam"):
        gen.noise_within_chi2_bound(p, yy, lam[:3], delta)

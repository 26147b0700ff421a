"""Part I modules: the symbolic model (iclbook.symbolic.model), the circle example (iclbook.circle) and its
drawings (iclbook.illustrate), the one-head bound (iclbook.model.sign_cone_distance2)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import sympy as sp  # noqa: E402

import iclbook as ic  # noqa: E402
from iclbook import circle as ci  # noqa: E402
from iclbook import illustrate as il  # noqa: E402
from iclbook import ridge as rg  # noqa: E402
from iclbook import symbolic as sy  # noqa: E402


# ---- symbolic_model ---------------------------------------------------------------------------------

def test_restricted_attention_is_eq8():
    """diag(T(E)) under eq. (7) equals eq. (8) exactly (d = 2, N = 2, K = 3, H = 1)."""
    s = sy.model_symbols(2, 2, 3, 1)
    EP, E = sy.embedding(s["V"], s["y"], 2)
    T = sy.attention_output(EP, E, *sy.restricted_weights(s["Q"], s["w"], 2, 3))
    y_hat = sy.eq8_predictions(s["V"], s["y"], s["Q"], s["w"], 2)
    assert sy.expand_exp(sp.Matrix([T[k, k] for k in range(3)]) - y_hat) == sp.zeros(3, 1)


def test_symbolic_model_matches_numeric_model():
    """Substituting numbers into the symbolic eq. (8) gives iclbook.predict."""
    d, N, K, H = 2, 2, 3, 2
    s = sy.model_symbols(d, N, K, H)
    y_hat = sy.eq8_predictions(s["V"], s["y"], s["Q"], s["w"], N)
    p = ic.make_problem(K, N, d, 2, 0.1, seed=4)
    rng = np.random.default_rng(0)
    Q, _ = ic.init_params(p, H, rng=rng)
    w = rng.standard_normal((H, K))
    y = rng.standard_normal(N)
    subs = {s["V"][i, k]: p.V[i, k] for i in range(d) for k in range(K)}
    subs |= {s["y"][i]: y[i] for i in range(N)}
    subs |= {s["Q"][h][i, j]: Q[h, i, j] for h in range(H) for i in range(d) for j in range(d)}
    subs |= {s["w"][h, k]: w[h, k] for h in range(H) for k in range(K)}
    num = np.array([float(e.subs(subs)) for e in y_hat])
    np.testing.assert_allclose(num, ic.predict(p, Q, w, y), rtol=1e-12)


def test_embedding_and_weights_shapes():
    s = sy.model_symbols(3, 2, 5, 2)
    EP, E = sy.embedding(s["V"], s["y"], 2)
    assert EP.shape == (4, 2) and E.shape == (4, 5)
    assert list(E[3, 2:]) == [0, 0, 0]
    WQ, WK, WV, WO = sy.restricted_weights(s["Q"], s["w"], 3, 5)
    assert WO.shape == (5, 10) and WV[0].shape == (5, 4)
    assert WV[0] * EP == sp.ones(5, 1) * s["y"].T
    with pytest.raises(ValueError):
        sy.model_symbols(2, 3, 3, 1)


def test_softmax_columns_sum_to_one():
    X = sy.symbol_matrix("x", 3, 2)
    S = sy.softmax(X)
    for j in range(2):
        assert sp.simplify(sum(S[:, j]) - 1) == 0


def test_expectation_moments():
    tau = sp.Symbol("tau", positive=True)
    e, f = sp.symbols("e f", real=True)
    g = sy.gaussian_moment(tau)
    assert sy.expectation(e**4, {e: g}) == 3 * tau**2
    assert sy.expectation(e**3 + e, {e: g}) == 0
    assert sy.expectation((e + f) ** 2, {e: g, f: g}) == 2 * tau
    a = sp.Symbol("a")
    assert sy.expectation(a * e**2 + 5, {e: g}) == a * tau + 5
    lam = sp.Symbol("l", real=True)
    assert sy.expectation(lam**2 + lam, {lam: sy.unit_moment}) == 1
    with pytest.raises(ValueError):
        sy.expectation(lam**4, {lam: sy.unit_moment})


def test_lemma4_identity_m2():
    tau = sp.Symbol("tau", positive=True)
    lam, z, eps = sy.symbol_vector("l", 2), sy.symbol_vector("z", 2), sy.symbol_vector("e", 2)
    yi = sp.Symbol("y", real=True)
    lhs = sy.expectation((yi - (lam.T * (z + eps))[0, 0]) ** 2, {x: sy.gaussian_moment(tau) for x in eps})
    assert sp.simplify(lhs - (yi - (lam.T * z)[0, 0]) ** 2 - tau * (lam.T * lam)[0, 0]) == 0


def test_ridge_solution_is_stationary_and_matches_numeric():
    Z, y, lam = sy.symbol_matrix("z", 2, 2), sy.symbol_vector("y", 2), sy.symbol_vector("l", 2)
    r = sp.Symbol("r", positive=True)
    sol = sy.ridge_solution(Z, y, r)
    J = sy.ridge_objective(Z, y, lam, r)
    grad = sp.Matrix([sp.diff(J, li) for li in lam]).subs(dict(zip(lam, sol)))
    assert grad.applyfunc(sp.cancel) == sp.zeros(2, 1)
    # numeric: against iclbook.ridge_coefficients
    p = ic.make_problem(6, 2, 3, 2, 0.2, seed=1)
    yv = np.array([0.3, -1.1])
    subs = {Z[i, j]: p.Z[i, j] for i in range(2) for j in range(2)} | {y[0]: yv[0], y[1]: yv[1], r: 0.4}
    num = np.array([float(v.subs(subs)) for v in sol])
    np.testing.assert_allclose(num, ic.ridge_coefficients(p, yv, 0.4), rtol=1e-12)


def test_woodbury_and_posterior():
    Z, y, lam = sy.symbol_matrix("z", 2, 2), sy.symbol_vector("y", 2), sy.symbol_vector("l", 2)
    r = sp.Symbol("r", positive=True)
    d = (Z.T * Z + r * sp.eye(2)).inv() * Z.T - Z.T * (Z * Z.T + r * sp.eye(2)).inv()
    assert d.applyfunc(sp.cancel) == sp.zeros(2, 2)
    lp = sy.gaussian_log_posterior(Z, y, lam, r)
    grad = sp.Matrix([sp.diff(lp, li) for li in lam]).subs(dict(zip(lam, sy.ridge_solution(Z, y, r))))
    assert grad.applyfunc(sp.cancel) == sp.zeros(2, 1)


# ---- illustrate -------------------------------------------------------------------------------------

def test_feature_space_labels_law():
    p = ic.make_problem(10, 3, 2, 4, 0.3, seed=0, features="fourier")
    lam = np.array([1.0, -2.0, 0.5, 0.0])
    y, eps = ci.feature_space_labels(p, lam, np.random.default_rng(0))
    assert y.shape == (10,) and eps.shape == (4, 10)
    np.testing.assert_allclose(y, lam @ (p.Zt + eps))
    yn, _ = ci.feature_space_labels(p, lam, np.random.default_rng(1), n=20000)
    r = yn - lam @ p.Zt
    target = p.tau * lam @ lam
    assert abs(r.var() - target) < 5 * target * np.sqrt(2 / r.size)
    with pytest.raises(ValueError):
        ci.feature_space_labels(p, lam[:3], np.random.default_rng(0))
    with pytest.raises(ValueError):
        ci.feature_space_labels(p, lam, 0)


def test_nested_task():
    a, b = ci.nested_task(5, seed=3), ci.nested_task(11, seed=3)
    np.testing.assert_array_equal(a, b[:5])
    with pytest.raises(ValueError):
        ci.nested_task(0)
    with pytest.raises(ValueError):
        ci.nested_task(ci.M_MAX + 1)


def test_circle_example_curves_match_package():
    ex = ci.circle_example(N=5, m=7, tau=0.1, K=20, penalties=("m_tau", "N_tau", 0.3), grid_size=50)
    p = ex.problem
    # the template and ridge curves are λᵀf and λ̂ᵀf: evaluate them at the token angles instead of the grid
    F = ic.fourier_basis(ex.theta, p.m)
    np.testing.assert_allclose(ex.lam @ F, ex.lam @ p.Zt, atol=1e-12)
    for name, reg in [("m_tau", p.m * p.tau), ("N_tau", p.N * p.tau), (0.3, 0.3)]:
        assert ex.curves[name][0] == pytest.approx(reg)
        lam_hat = ic.ridge_coefficients(p, ex.y, reg)
        np.testing.assert_allclose((lam_hat @ F)[p.N:], ic.ridge_predict(p, ex.y, reg)[p.N:], atol=1e-12)
        np.testing.assert_allclose(ex.curves[name][1], lam_hat @ ic.fourier_basis(ex.grid, p.m))
    # same tokens for every N, m, tau
    ex2 = ci.circle_example(N=9, m=3, tau=0.5, K=20)
    np.testing.assert_array_equal(ex2.theta, ex.theta)
    with pytest.raises(ValueError):
        ci.circle_example(N=5, m=7, tau=0.1, penalties=("bogus",))


def test_circle_example_noiseless_recovery():
    ex = ci.circle_example(N=12, m=7, tau=0.1, noiseless=True, penalties=("zero",))
    np.testing.assert_allclose(ex.curves["zero"][1], ex.template, atol=1e-9)


def test_posterior_mean_quadrature_homoscedastic_is_ridge():
    p = ic.make_problem(4, 1, 2, 2, 0.5, seed=3)
    ys = np.linspace(-3, 3, 7)
    q = rg.posterior_mean_quadrature(p.Z[:, 0], ys, p.tau, sigma2=0.7)
    np.testing.assert_allclose(q, ic.ridge_coefficients(p, ys[:, None], 0.7), atol=1e-8)
    assert rg.posterior_mean_quadrature(p.Z[:, 0], 1.0, p.tau).shape == (2,)
    # the paper's noise: odd in y, not linear
    q2 = rg.posterior_mean_quadrature(p.Z[:, 0], np.array([-2.0, 1.0, 2.0]), p.tau)
    np.testing.assert_allclose(q2[0], -q2[2], atol=1e-6)
    assert np.linalg.norm(q2[2] - 2 * q2[1]) > 1e-3


def test_sign_cone_distance2():
    assert ic.model.sign_cone_distance2(np.array([1.0, 0.0, 2.0])) == 0.0
    assert ic.model.sign_cone_distance2(np.array([-1.0, -3.0])) == 0.0
    a = np.array([1.0, -2.0, 0.5])
    pos, neg = np.sum(np.maximum(a, 0) ** 2), np.sum(np.minimum(a, 0) ** 2)
    assert ic.model.sign_cone_distance2(a) == pytest.approx(min(pos, neg))
    # a general metric: no one-sign point does better (random search), and the optimum is attained
    rng = np.random.default_rng(0)
    B = rng.standard_normal((3, 3))
    M = B @ B.T + 0.5 * np.eye(3)
    d2 = ic.model.sign_cone_distance2(a, M)
    X = np.abs(rng.standard_normal((20000, 3))) * 3 * rng.choice([-1.0, 1.0], size=(20000, 1))
    vals = np.einsum("ni,ij,nj->n", X - a, M, X - a)
    assert d2 <= vals.min() + 1e-12
    assert d2 > 0
    with pytest.raises(ValueError):
        ic.model.sign_cone_distance2(a, np.eye(2))


def _orthant_distance2_by_supports(a, M):
    """The same minimum by enumerating supports: the minimiser of a convex quadratic over an orthant solves the
    unconstrained problem on its support, so the best feasible support solution is the answer (2·2^N solves)."""
    n = a.size
    Ma = M @ a
    best = float(a @ Ma)
    for mask in range(1, 2**n):
        S = [i for i in range(n) if mask >> i & 1]
        xS = np.linalg.solve(M[np.ix_(S, S)], Ma[S])
        for sign in (1.0, -1.0):
            if np.all(sign * xS >= 0):
                x = np.zeros(n)
                x[S] = xS
                best = min(best, float((x - a) @ M @ (x - a)))
    return best


def test_sign_cone_distance2_is_the_enumerated_minimum():
    """The non-negative least-squares solve agrees with support enumeration to round-off (a wrong active set
    would be off by a whole support's contribution, of the order of the distance itself)."""
    rng = np.random.default_rng(5)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        a = rng.standard_normal(n) * rng.choice([1e-3, 1.0, 1e3])
        B = rng.standard_normal((n, n))
        M = B @ B.T + 0.01 * np.eye(n)
        assert ic.model.sign_cone_distance2(a, M) == pytest.approx(_orthant_distance2_by_supports(a, M),
                                                                   rel=1e-9, abs=1e-12 * float(a @ M @ a))


def test_drawings_only_draw():
    rows = [[ci.circle_example(N=N, m=m, tau=0.05, K=12, grid_size=30) for m in (3, 5)] for N in (2, 4)]
    fig = il.small_multiples(rows)
    panels = [a for a in fig.axes if a.get_lines()]
    assert len(panels) == 4
    for ax, ex in zip(panels, [ex for row in rows for ex in row]):
        # each panel draws its own example's data: the template, the N prompt labels, the hidden ones
        data = [(np.asarray(ln.get_xdata()), np.asarray(ln.get_ydata())) for ln in ax.get_lines()]
        def drawn(x, y):
            return any(xd.shape == np.shape(x) and np.allclose(xd, x) and np.allclose(yd, y) for xd, yd in data)
        assert drawn(ex.grid, ex.template)
        assert drawn(ex.theta[:ex.N], ex.y[:ex.N]) and drawn(ex.theta[ex.N:], ex.y[ex.N:])
        assert all(drawn(ex.grid, curve) for _, curve in ex.curves.values())
        assert f"N = {ex.N}" in ax.get_title() and f"m = {ex.m}" in ax.get_title()
    plt.close(fig)
    fig, ax = plt.subplots()
    il.draw_tokens(ax, rows[0][0])
    il.angle_axis(ax)
    plt.close(fig)

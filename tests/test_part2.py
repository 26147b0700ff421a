"""iclbook.symbolic (core, loss) and iclbook.crosscheck: the exact constructions behind Part II (Lemma 5, §6.3, Lemma 6)."""
import numpy as np
import pytest
import sympy as sp

import iclbook as ic
from iclbook import symbolic as sy
from iclbook import crosscheck as xc


def test_expectation_uses_the_moments():
    x, y = sp.symbols("x y", real=True)
    tau = sp.Symbol("tau", positive=True)
    g = sy.gaussian_moment(tau)
    assert sy.expectation(x**4 + 3 * x * y + x**2 * y**2, {x: g, y: g}) == 3 * tau**2 + tau**2
    assert sy.expectation((2 + x) ** 2, {x: sy.unit_moment}) == 5
    c = sp.Symbol("c")
    assert sy.expectation(c * x**2 + c, {x: sy.unit_moment}) == 2 * c          # c is a constant
    with pytest.raises(ValueError, match="Assumption 1"):
        sy.expectation(x**3, {x: sy.unit_moment})


@pytest.mark.parametrize("prompt", [True, False])
def test_lemma5_per_token_identity(prompt):
    t = sy.lemma5_token(2, 2, prompt=prompt)
    assert sp.expand(t["r"] - (t["lam"].T * t["u"])[0]) == 0
    assert sp.expand(t["E_lam"] - (t["u"].T * t["u"])[0]) == 0
    assert sp.expand(t["E_full"] - t["moment_form"]) == 0
    assert t["residual"] == 0
    if prompt:
        assert t["c_num"] == 0
        assert sp.cancel(t["a"] - t["e"]) == sp.zeros(2, 1)
    else:
        # the paper's extracted c'_k (no +m tau) is off by exactly m tau
        gap = t["E_full"] - ((t["ahat"] - t["a"]).T * t["Zbar2"] * (t["ahat"] - t["a"]))[0] - (t["c"] - 2 * t["tau"])
        assert sp.cancel(sp.together(gap)) == 2 * t["tau"]


def test_lemma5_residual_detects_a_wrong_moment_form():
    t = sy.lemma5_token(2, 2, prompt=False)
    assert sp.expand(t["E_full"] - (t["moment_form"] - 2 * t["tau"])) != 0


def test_softmax_jacobian():
    x = sy.symbol_vector("x", 3)
    s = sy.softmax(x)
    assert (s.jacobian(x) - sy.softmax_jacobian(s)).applyfunc(sp.simplify) == sp.zeros(3, 3)


def test_rational_problem_and_numeric_twin():
    ep = sy.rational_problem()
    assert ep.A[:, : ep.N] == sp.eye(ep.N)
    assert ep.c[0] == 0 and ep.c[1] == 0 and ep.L_star > 0
    p = ep.numeric()
    np.testing.assert_allclose(p.A, sy.to_numpy(ep.A), atol=1e-15)
    assert p.L_star == pytest.approx(float(ep.L_star), rel=1e-14)


def test_exact_problem_matches_package():
    p = ic.make_problem(9, 3, 4, 5, 0.5, seed=1)
    ex = sy.exact_problem(p)
    assert ex.A[:, : p.N] == sp.eye(p.N)
    np.testing.assert_allclose(p.A, sy.to_numpy(ex.A), atol=1e-12)
    np.testing.assert_allclose(p.c, [float(c) for c in ex.c], rtol=1e-12, atol=1e-15)
    assert p.L_star == pytest.approx(float(ex.L_star), rel=1e-12)
    assert sy.to_exact(0.1) == sp.Rational(0.1) and float(sy.to_exact(0.1)) == 0.1


def test_loss_expression_and_closed_forms_are_exact():
    ep = sy.rational_problem()
    Q, w = sy.theta_symbols(ep.d, ep.K, H=1)
    L = sy.loss_expression(ep, Q, w)
    gQ, gw = sy.closed_form_gradients(ep, Q, w)
    sub, E = sy.exponentials_to_monomials(ep, Q)
    assert not L.subs(sub).has(sp.exp)                                      # every exp became a monomial
    for k in range(ep.K):
        assert sy.is_zero_rational(L.diff(w[0, k]) - gw[0, k], sub)
    assert sy.is_zero_rational(L.diff(Q[0][0, 1]) - gQ[0][0, 1], sub)
    assert not sy.is_zero_rational(L.diff(Q[0][0, 1]) + gQ[0][0, 1], sub)   # a sign flip is caught


def test_empirical_closed_forms_are_exact():
    ep = sy.rational_problem()
    Q, w = sy.theta_symbols(ep.d, ep.K, H=1)
    y = sy.symbol_vector("y", ep.K)
    ell = sy.empirical_loss_expression(ep, Q, w, y)
    eQ, ew = sy.empirical_closed_form_gradients(ep, Q, w, y)
    sub, _ = sy.exponentials_to_monomials(ep, Q)
    assert sy.is_zero_rational(ell.diff(w[0, 2]) - ew[0, 2], sub)
    assert sy.is_zero_rational(ell.diff(Q[0][1, 0]) - eQ[0][1, 0], sub)


def test_symbolic_values_match_package():
    ep = sy.rational_problem()
    Q, w = sy.theta_symbols(ep.d, ep.K, H=2)
    L = sy.loss_expression(ep, Q, w)
    gQ, gw = sy.closed_form_gradients(ep, Q, w)
    p = ep.numeric()
    rng = np.random.default_rng(0)
    Qn, wn = rng.standard_normal((2, 2, 2)), rng.standard_normal((2, 3))
    assert float(sp.N(sy.substitute_theta(L, Q, w, Qn, wn), 30)) == pytest.approx(ic.population_loss(p, Qn, wn), rel=1e-13)
    gQp, gwp = ic.population_grad(p, Qn, wn)
    np.testing.assert_allclose(sy.to_numpy(sy.substitute_theta(gQ, Q, w, Qn, wn)), gQp, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(sy.to_numpy(sy.substitute_theta(gw, Q, w, Qn, wn)), gwp, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("K,N,d,m,tau,H", [(12, 4, 6, 3, 0.1, 8), (9, 3, 4, 5, 0.5, 2)])
def test_gradients_by_formula_matches_package_and_fd(K, N, d, m, tau, H):
    p = ic.make_problem(K, N, d, m, tau, seed=2)
    rng = np.random.default_rng(3)
    Q, _ = ic.init_params(p, H, rng=rng)
    w = rng.standard_normal((H, K))
    gQ, gw = ic.population_grad(p, Q, w)
    fQ, fw = xc.gradients_by_formula(p, Q, w)
    np.testing.assert_allclose(fQ, gQ, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(fw, gw, rtol=1e-11, atol=1e-12)
    dw = xc.finite_difference_gradient(lambda X: ic.population_loss(p, Q, X), w)
    assert np.linalg.norm(dw - fw) < 1e-6 * np.linalg.norm(fw)


def test_finite_difference_gradient_is_exact_on_quadratics():
    M = np.array([[2.0, 1.0], [1.0, 3.0]])
    x = np.array([0.3, -1.2])
    g = xc.finite_difference_gradient(lambda v: 0.5 * v @ M @ v, x, h=1e-3)
    np.testing.assert_allclose(g, M @ x, rtol=1e-10)
    assert np.array_equal(x, [0.3, -1.2])                                   # input not modified

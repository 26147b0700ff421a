"""Exact (sympy) constructions behind Part II of the book: Lemma 5, the gradients of §6.3, Lemma 6.

The chapters ``book/ch04_loss``, ``book/ch05_gradients`` and ``book/ch06_reparam`` derive the paper's
formulas at small symbolic sizes and check every step with sympy; this module holds the building
blocks they share, so that the notebooks show the steps and not the plumbing:

- the per-token second moment of Lemma 5 (eq. 36) and its constants c_k, c'_k (:func:`lemma5_token`),
  with the expectation over λ and ε done monomial by monomial (:func:`iclbook.symbolic.core.expectation`);
- exact versions of numeric :class:`iclbook.problem.Problem` instances (:func:`exact_problem`) and a small
  problem with rational unit-norm tokens (:func:`rational_problem`);
- the Lemma 5 loss as an expression in symbolic parameters θ = {Q_h, w_h} (:func:`loss_expression`), the
  closed-form gradients of §6.3 (:func:`closed_form_gradients`), and the per-prompt loss and gradient
  (:func:`empirical_loss_expression`, :func:`empirical_closed_form_gradients`);
- :func:`exponentials_to_monomials`, which turns every exp(score) into a monomial in positive symbols so
  that identities between softmax expressions reduce to identities between rational functions, which
  :func:`iclbook.symbolic.core.is_zero_rational` decides exactly.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, reduce
import sympy as sp

from ..problem import Problem, ProblemSizes
from .core import (expectation, gaussian_moment, softmax_jacobian, symbol_matrix, symbol_vector, to_exact, to_numpy,
                   unit_moment)
from .model import attention_column

__all__ = [
    "lemma5_token", "ExactProblem", "exact_problem", "rational_problem", "attention_columns", "loss_expression",
    "closed_form_gradients", "empirical_loss_expression", "empirical_closed_form_gradients",
    "exponentials_to_monomials", "substitute_theta",
]


# ---- Lemma 5, one token ------------------------------------------------------------------------
def lemma5_token(N: int, m: int, *, prompt: bool) -> dict:
    """Lemma 5 (eq. 36) for one token, fully symbolic, at sizes N and m; returns every intermediate.

    ``prompt=True`` takes the token k = 1 ≤ N (its noise ε_1 is also in the prompt); ``prompt=False`` a
    query token k > N with features z and its own noise ε_q. Keys:

    - the symbols ``Z`` (m×N), ``ahat`` (â_k, N), ``z`` (z_k), ``tau``, ``lam`` (λ), ``epsP`` (ε_P, m×N),
      ``epsq`` (the noise of token k), ``e`` (e_k for a prompt token, 0 for a query token);
    - ``y`` = (Z + ε_P)ᵀλ (eq. 73), ``yk``, the residual ``r`` = ŷ_k − y_k and ``u`` with r = λᵀu;
    - ``E_lam`` = E_λ r² and ``E_full`` = E_{λ,ε} r², both computed by :func:`expectation`;
    - ``moment_form`` = ‖Zâ − z‖² + mτ‖â − e‖² (+ mτ for a query token), the intermediate form;
    - ``Zbar2`` = Z̄² = ZᵀZ + mτI, ``b`` = Zᵀz + mτe, ``a`` = Z̄⁻²b and ``c`` = −bᵀZ̄⁻²b + ‖z‖² + mτ (c_k for
      a prompt token, c'_k with the +mτ target-noise term for a query token), with ``det`` = det Z̄² and
      ``c_num`` = det·c;
    - ``residual``: det²·(E_full − ‖Z̄(â − a)‖² − c), a polynomial. Since det > 0, Lemma 5 holds for this
      token iff ``residual`` is the zero polynomial. It is computed with sympy's polynomial matrices
      (``DomainMatrix`` over ℚ[symbols]): the adjugate replaces the inverse, and no rational function
      is ever simplified, which keeps N, m ≤ 3 fast.

    The chapter ``book/ch04_loss`` walks through the same steps.
    """
    Z = symbol_matrix("Z", m, N)
    ahat = symbol_vector(r"\hat{a}", N)
    tau = sp.Symbol("tau", positive=True)
    lam = symbol_vector(r"\lambda", m)
    epsP = symbol_matrix(r"\varepsilon", m, N)
    y = (Z + epsP).T * lam                                            # prompt labels, eq. (73)
    if prompt:
        z, epsq, e = Z[:, 0], epsP[:, 0], sp.eye(N)[:, 0]
        noise = list(epsP)
    else:
        z, epsq, e = symbol_vector("z", m), symbol_vector(r"\varepsilon^{q}", m), sp.zeros(N, 1)
        noise = list(epsP) + list(epsq)
    yk = (lam.T * (z + epsq))[0]
    r = (ahat.T * y)[0] - yk
    u = (Z + epsP) * ahat - z - epsq
    E_lam = expectation(r**2, {x: unit_moment for x in lam})
    E_full = expectation(E_lam, {x: gaussian_moment(tau) for x in noise})
    res_q = Z * ahat - z
    moment_form = (res_q.T * res_q)[0] + m * tau * ((ahat - e).T * (ahat - e))[0] + (0 if prompt else m * tau)
    Zbar2 = Z.T * Z + m * tau * sp.eye(N)
    b = Z.T * z + m * tau * e
    # polynomial matrices over Q[symbols]: Z̄⁻² = adj(Z̄²)/det(Z̄²)
    gens = tuple(sorted(set(Z) | set(ahat) | set(z) | {tau}, key=str))
    dom = sp.QQ[gens]
    DM = lambda M: sp.Matrix(M).to_DM(dom)                            # noqa: E731
    Zb2, bD, aD = DM(Zbar2), DM(b), DM(ahat)
    det = Zb2.det()
    adj = Zb2.adjugate()
    one = DM(sp.eye(1)) * det                                         # det as a 1×1 matrix
    c_num = -(bD.transpose() * adj * bD) + one * DM(sp.Matrix([(z.T * z)[0] + m * tau]))
    d_num = aD * det - adj * bD                                       # det · (â − a)
    residual = one * one * DM(sp.Matrix([E_full])) - d_num.transpose() * Zb2 * d_num - one * c_num
    det_e = dom.to_sympy(det)
    a = adj.to_Matrix() * b / det_e
    c_num_e = c_num.to_Matrix()[0]
    return dict(Z=Z, ahat=ahat, z=z, tau=tau, lam=lam, epsP=epsP, epsq=epsq, e=e, y=y, yk=yk, r=r, u=u,
                E_lam=E_lam, E_full=E_full, moment_form=moment_form, Zbar2=Zbar2, b=b, det=det_e, a=a,
                c=c_num_e / det_e, c_num=c_num_e, residual=residual.to_Matrix()[0])


# ---- exact problems -------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExactProblem(ProblemSizes):
    """A problem (paper §2) with exact sympy entries: tokens V (d×K), features Zt (m×K), N, τ.

    Derived matrices follow eqs. (12), (34), (36) in exact arithmetic: ``Z``, ``Zbar2`` = ZᵀZ + mτI,
    ``A`` = Z̄⁻²(ZᵀZ̃ + mτ[I, 0]) (computed, not set), ``c`` (c_k = 0 for k ≤ N is computed too) and
    ``L_star`` = ½ Σ_k c_k. Lemma 5's constants in exact arithmetic (``book/ch04_loss``).
    """

    V: sp.Matrix
    Zt: sp.Matrix
    N: int
    tau: sp.Expr

    @property
    def VN(self) -> sp.Matrix:
        return self.V[:, : self.N]

    @property
    def Z(self) -> sp.Matrix:
        return self.Zt[:, : self.N]

    @cached_property
    def Zbar2(self) -> sp.Matrix:
        return self.Z.T * self.Z + self.m * self.tau * sp.eye(self.N)

    @cached_property
    def A(self) -> sp.Matrix:
        rhs = self.Z.T * self.Zt + self.m * self.tau * sp.eye(self.N, self.K)
        return self.Zbar2.LUsolve(rhs).applyfunc(sp.cancel)

    @cached_property
    def c(self) -> list:
        """The constants of Lemma 5: c_k = −b_kᵀ Z̄⁻² b_k + ‖z_k‖² + mτ with b_k = Zᵀz_k + mτ e_k (e_k = 0 for k > N)."""
        out = []
        for k in range(self.K):
            z = self.Zt[:, k]
            e = sp.eye(self.N)[:, k] if k < self.N else sp.zeros(self.N, 1)
            b = self.Z.T * z + self.m * self.tau * e
            out.append(sp.cancel(-(b.T * self.A[:, k])[0] + (z.T * z)[0] + self.m * self.tau))
        return out

    @cached_property
    def L_star(self) -> sp.Expr:
        return sp.cancel(sum(self.c) / 2)

    def numeric(self) -> Problem:
        """The same problem as a float :class:`iclbook.Problem`."""
        return Problem(to_numpy(self.V), to_numpy(self.Zt), self.N, float(self.tau))


def exact_problem(problem: Problem) -> ExactProblem:
    """The exact rational version of a numeric problem (§2): every float entry becomes the Rational it stores
    (``book/ch04_loss``)."""
    return ExactProblem(to_exact(problem.V), to_exact(problem.Zt), problem.N, to_exact(problem.tau))


def rational_problem() -> ExactProblem:
    """A small problem with exact rational data: d = 2, K = 3, N = 2, m = 2, τ = 1/2.

    Tokens v_1 = (1, 0), v_2 = (0, 1), v_3 = (3/5, 4/5) have unit norm exactly (3² + 4² = 5²); the
    prompt tokens satisfy Assumption 3 (first coordinates 1 ≠ 0). Features are small integers. Used by
    ``book/ch05_gradients`` and ``book/ch06_reparam`` to differentiate the loss in exact arithmetic.
    """
    R = sp.Rational
    V = sp.Matrix([[1, 0, R(3, 5)], [0, 1, R(4, 5)]])
    Zt = sp.Matrix([[1, -1, 2], [2, 1, -1]])
    return ExactProblem(V, Zt, 2, R(1, 2))


# ---- the loss in θ (Lemma 5) and its gradients (§6.3) ---------------------------------------------
def attention_columns(ep: ExactProblem, Q, w):
    """S[h][k] = s^h_k = softmax(V_Nᵀ Q_h v_k) and ahat[k] = â_k = Σ_h w_{h,k} s^h_k (eqs. 8, 13, 35;
    ``book/ch05_gradients``)."""
    H = len(Q)
    S = [[attention_column(ep.VN, Q[h], ep.V[:, k]) for k in range(ep.K)] for h in range(H)]
    ahat = [reduce(lambda x, y: x + y, [w[h, k] * S[h][k] for h in range(H)]) for k in range(ep.K)]
    return S, ahat


def loss_expression(ep: ExactProblem, Q, w) -> sp.Expr:
    """The Lemma 5 loss L(θ) = ½ Σ_k (â_k − a_k)ᵀ Z̄² (â_k − a_k) + L⋆ as a sympy expression in θ (eq. 36;
    ``book/ch05_gradients``, ``book/ch06_reparam``)."""
    _, ahat = attention_columns(ep, Q, w)
    out = ep.L_star
    for k in range(ep.K):
        delta = ahat[k] - ep.A[:, k]
        out += (delta.T * ep.Zbar2 * delta)[0] / 2
    return out


def closed_form_gradients(ep: ExactProblem, Q, w):
    """The closed forms of §6.3: ∂L/∂w_{h,k} = (s^h_k)ᵀ Z̄² δ_k and ∇_{Q_h} L = Σ_k w_{h,k} V_N J(s^h_k) Z̄² δ_k v_kᵀ.

    Returns (list of H d×d matrices, H×K matrix); δ_k = â_k − a_k. Derived in ``book/ch05_gradients``.
    """
    S, ahat = attention_columns(ep, Q, w)
    H = len(Q)
    G = [ep.Zbar2 * (ahat[k] - ep.A[:, k]) for k in range(ep.K)]         # Z̄² δ_k
    gw = sp.Matrix(H, ep.K, lambda h, k: (S[h][k].T * G[k])[0])
    gQ = [reduce(lambda x, y: x + y, [w[h, k] * ep.VN * softmax_jacobian(S[h][k]) * G[k] * ep.V[:, k].T
                                      for k in range(ep.K)]) for h in range(H)]
    return gQ, gw


def empirical_loss_expression(ep: ExactProblem, Q, w, y: sp.Matrix) -> sp.Expr:
    """The per-prompt loss ℓ = ½ Σ_{k=1}^K (ŷ_k − y_k)² with ŷ_k = â_kᵀ y_{1:N}; y is a K×1 column (eq. 8;
    ``book/ch05_gradients``)."""
    _, ahat = attention_columns(ep, Q, w)
    yP = y[: ep.N, 0]
    return sum((((ahat[k].T * yP)[0] - y[k]) ** 2 for k in range(ep.K)), sp.Integer(0)) / 2


def empirical_closed_form_gradients(ep: ExactProblem, Q, w, y: sp.Matrix):
    """Per-prompt gradients (``book/ch05_gradients``): ∂ℓ/∂w_{h,k} = r_k y_Pᵀ s^h_k, ∇_{Q_h} ℓ = Σ_k r_k w_{h,k} V_N J(s^h_k) y_P v_kᵀ."""
    S, ahat = attention_columns(ep, Q, w)
    H = len(Q)
    yP = y[: ep.N, 0]
    r = [(ahat[k].T * yP)[0] - y[k] for k in range(ep.K)]
    gw = sp.Matrix(H, ep.K, lambda h, k: r[k] * (yP.T * S[h][k])[0])
    gQ = [reduce(lambda x, y_: x + y_, [r[k] * w[h, k] * ep.VN * softmax_jacobian(S[h][k]) * yP * ep.V[:, k].T
                                        for k in range(ep.K)]) for h in range(H)]
    return gQ, gw


# ---- deciding identities exactly ------------------------------------------------------------------
def exponentials_to_monomials(ep: ExactProblem, Q):
    """The substitution q = D·log E that turns every exp(v_jᵀ Q_h v_k) into a monomial in positive symbols E.

    The score v_jᵀ Q_h v_k is linear in the entries of Q_h with rational coefficients v_{ja} v_{kb}; D is
    the least common denominator of all of them, so each exp(score) becomes Π E^{integer}. The map
    Q ↦ E = exp(Q/D) is a bijection onto the positive orthant, so an expression in Q is identically zero
    iff its image, a rational function of E, is zero, which ``sympy.cancel`` decides exactly.
    Returns (substitution dict, list of the E symbols). Used to decide §6.3 and Lemma 6 exactly
    (``book/ch05_gradients``, ``book/ch06_reparam``).
    """
    dens = [sp.Rational(ep.V[a, j] * ep.V[b, k]).q for j in range(ep.N) for k in range(ep.K)
            for a in range(ep.d) for b in range(ep.d)]
    D = reduce(sp.ilcm, dens, 1)
    sub, Es = {}, []
    for h, Qh in enumerate(Q):
        for a in range(ep.d):
            for b in range(ep.d):
                E = sp.Symbol(f"E^{h + 1}_{{{a + 1}{b + 1}}}", positive=True)
                sub[Qh[a, b]] = D * sp.log(E)
                Es.append(E)
    return sub, Es


def substitute_theta(expr, Q, w, Qval, wval):
    """Substitute exact values for the symbols of θ = {Q_h, w_h} (§2; Qval of shape (H, d, d), wval of shape
    (H, K)): the §6.3 gradients at a point, against the package (``book/ch05_gradients``)."""
    sub = {}
    for h, Qh in enumerate(Q):
        for a in range(Qh.shape[0]):
            for b in range(Qh.shape[1]):
                sub[Qh[a, b]] = sp.Rational(float(Qval[h][a][b]))
    for h in range(w.shape[0]):
        for k in range(w.shape[1]):
            sub[w[h, k]] = sp.Rational(float(wval[h][k]))
    if isinstance(expr, (list, tuple)):
        return [e.xreplace(sub) for e in expr]
    return expr.xreplace(sub)

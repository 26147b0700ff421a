"""Exact (sympy) building blocks shared by every symbolic derivation of the book.

Symbols (:func:`symbol_matrix`, :func:`symbol_vector`); the softmax and its Jacobian (eq. 8, Lemma 1);
expectations of polynomials in independent random symbols from their moments (eq. 1's Gaussian noise,
Assumption 1's task moments); exact conversions between floats and rationals; and two exact zero tests
(:func:`expand_exp` for softmax expressions, :func:`is_zero_rational` for rational functions).
sympy is imported here; ``import iclbook`` does not need it.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

__all__ = [
    "symbol_matrix", "symbol_vector", "softmax", "softmax_jacobian", "expand_exp", "gaussian_moment",
    "unit_moment", "expectation", "to_exact", "to_numpy", "is_zero_rational",
]


def symbol_matrix(name: str, rows: int, cols: int, **assumptions) -> sp.Matrix:
    """A rows×cols matrix of distinct real symbols ``name_{ij}`` (1-based indices): the tokens, features and
    parameters of §2 in the symbolic derivations (``book/ch03_ridge`` to ``book/ch06_reparam``)."""
    assumptions.setdefault("real", True)
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{{{i + 1}{j + 1}}}", **assumptions))


def symbol_vector(name: str, n: int, **assumptions) -> sp.Matrix:
    """A column vector of n distinct real symbols ``name_i`` (1-based): labels, λ, noise and scores of §2 in
    the symbolic derivations (``book/ch01_setting`` to ``book/ch06_reparam``)."""
    assumptions.setdefault("real", True)
    return sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"{name}_{i + 1}", **assumptions))


def softmax(X: sp.Matrix) -> sp.Matrix:
    """Column-wise softmax: entry (i, j) is exp(X_ij) / Σ_l exp(X_lj) (eqs. 5 and 8); a column vector is one
    column. The one symbolic softmax of the book (``book/ch02_transformer``, ``book/ch05_gradients``,
    ``book/ch07_initialization``, ``book/ch08_convergence``)."""
    out = sp.zeros(*X.shape)
    for j in range(X.shape[1]):
        col = [sp.exp(X[i, j]) for i in range(X.shape[0])]
        tot = sp.Add(*col)
        for i in range(X.shape[0]):
            out[i, j] = col[i] / tot
    return out


def softmax_jacobian(s: sp.Matrix) -> sp.Matrix:
    """J(s) = diag(s) − s sᵀ, the Jacobian of the softmax written in terms of its output s (§6.3, Lemma 1;
    ``book/ch05_gradients``, and Lemma 7 in ``book/ch08_convergence``)."""
    return sp.diag(*s) - s * s.T


def expand_exp(expr):
    """Expand every exponent, then the whole expression (a matrix is done entry by entry); used for the
    identities between forms of eq. (8) in ``book/ch02_transformer``.

    Two softmax expressions built from equal score polynomials in different forms become identical. A
    result of 0 proves the expression is 0 (the transformation preserves value); a non-zero result
    proves nothing, and then ``sp.simplify`` is the next step.
    """
    if isinstance(expr, sp.MatrixBase):
        return expr.applyfunc(expand_exp)
    return sp.expand(sp.sympify(expr).replace(sp.exp, lambda a: sp.exp(sp.expand(a))))


def gaussian_moment(variance):
    """The moments of N(0, variance): E X^p = variance^{p/2} (p − 1)!! for even p, 0 for odd p: eq. (1)'s
    noise ε ~ N(0, τI) (``book/ch01_setting``, ``book/ch03_ridge``, ``book/ch04_loss``)."""
    def moment(p: int):
        if p % 2:
            return sp.Integer(0)
        return variance ** (p // 2) * sp.factorial2(p - 1)
    return moment


def unit_moment(p: int):
    """The moments Assumption 1 fixes for λ_i: E λ_i⁰ = 1, E λ_i = 0, E λ_i² = 1; higher ones are not fixed
    (``book/ch03_ridge``, ``book/ch04_loss``)."""
    if p > 2:
        raise ValueError(f"Assumption 1 fixes only E λ_i and E λ_i²; E λ_i^{p} is not determined")
    return (sp.Integer(1), sp.Integer(0), sp.Integer(1))[p]


def expectation(expr, moments: dict):
    """E[expr] for a polynomial ``expr`` in independent random symbols.

    ``moments`` maps each random symbol to a function p ↦ E X^p (e.g. :func:`gaussian_moment` (τ) for a
    coordinate of ε ~ N(0, τ I), :func:`unit_moment` for Assumption 1's λ_i). Other symbols are constants.
    The expansion is exact: E Π_j X_j^{p_j} = Π_j E X_j^{p_j} by independence. The expectations behind
    eq. (1) and Lemma 5 (``book/ch01_setting``, ``book/ch03_ridge``, ``book/ch04_loss``).
    """
    xs = list(moments)
    poly = sp.Poly(sp.expand(expr), *xs)
    total = sp.Integer(0)
    for powers, coeff in poly.terms():
        term = coeff
        for x, p in zip(xs, powers):
            term *= moments[x](p)
        total += term
    return sp.expand(total)


def to_exact(x) -> sp.Matrix | sp.Rational:
    """The exact rational value of a float or float array (its binary expansion; no rounding): how a numeric
    problem of §2 becomes an exact one (:func:`iclbook.symbolic.loss.exact_problem`, ``book/ch04_loss``)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0:
        return sp.Rational(float(a))
    if a.ndim == 1:
        a = a[:, None]
    return sp.Matrix(a.shape[0], a.shape[1], lambda i, j: sp.Rational(float(a[i, j])))


def to_numpy(M, digits: int = 30) -> np.ndarray:
    """A sympy matrix (or list of them) evaluated to float64 through ``digits``-digit arithmetic: exact values
    of Lemma 5's A and of the §6.3 gradients against the package (``book/ch04_loss``, ``book/ch05_gradients``)."""
    if isinstance(M, (list, tuple)):
        return np.stack([to_numpy(x, digits) for x in M])
    return np.array(sp.N(sp.Matrix(M), digits).tolist(), dtype=np.float64)


def is_zero_rational(expr, sub=None) -> bool:
    """True iff ``expr`` (after the substitution ``sub``) is the zero rational function; exact.

    The expression is brought over one common denominator, n/d with d ≠ 0, and the numerator n is
    expanded into a polynomial: the expression is identically zero iff every coefficient of n is zero.
    (Equivalent to ``sympy.cancel(expr) == 0``, but much faster on the large softmax expressions.) Decides the
    §6.3 gradients and Lemma 6 exactly (``book/ch05_gradients``, ``book/ch06_reparam``).
    """
    if sub:
        expr = expr.subs(sub)
    num, den = sp.fraction(sp.together(expr))
    if den == 0:
        raise ZeroDivisionError("the common denominator is zero")
    gens = sorted(num.free_symbols, key=str)
    return sp.Poly(num, *gens).is_zero if gens else sp.simplify(num) == 0

"""Independent computations the book checks the package against (numeric, deliberately plain).

- :func:`finite_difference_gradient` — central differences of any scalar function of an array: the
  reference for every analytic gradient (``book/ch05_gradients``, the tests);
- :func:`gradients_by_formula` — the closed forms of §6.3 transcribed literally, one (h, k) at a time,
  against the vectorised :func:`iclbook.model.population_grad`.

Neither shares code with :mod:`iclbook.model`: a check that reused the code it checks could not fail.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .problem import Problem

__all__ = ["finite_difference_gradient", "gradients_by_formula"]


def gradients_by_formula(problem: Problem, Q, w):
    """∂L/∂Q and ∂L/∂w evaluated literally from the closed forms of §6.3, one (h, k) at a time.

    A deliberately naive transcription (explicit loops, explicit diag(s) − ssᵀ, no shared buffers), kept
    independent of the vectorised :func:`iclbook.model.grad_from_dA` so that each checks the other
    (``book/ch05_gradients``).
    """
    Q = np.asarray(Q, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    H = Q.shape[0]
    VN, V, Zbar2, A = problem.VN, problem.V, problem.Zbar2, problem.A
    S = np.empty((H, problem.N, problem.K))
    for h in range(H):
        for k in range(problem.K):
            x = VN.T @ Q[h] @ V[:, k]
            e = np.exp(x - x.max())
            S[h, :, k] = e / e.sum()
    gQ = np.zeros_like(Q)
    gw = np.zeros_like(w)
    for k in range(problem.K):
        a_hat = sum(w[h, k] * S[h, :, k] for h in range(H))
        g = Zbar2 @ (a_hat - A[:, k])                                    # Z̄² δ_k
        for h in range(H):
            s = S[h, :, k]
            J = np.diag(s) - np.outer(s, s)
            gw[h, k] = s @ g
            gQ[h] += w[h, k] * np.outer(VN @ (J @ g), V[:, k])
    return gQ, gw


def finite_difference_gradient(f: Callable[[np.ndarray], float], X, h: float = 1e-6) -> np.ndarray:
    """Central differences (f(X + h e_i) − f(X − h e_i)) / 2h for every entry i of the array X.

    The reference against which the book checks every analytic gradient (error O(h²) + O(ε_mach/h)).
    """
    X = np.array(X, dtype=np.float64)
    G = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        old = X[i]
        X[i] = old + h
        fp = f(X)
        X[i] = old - h
        fm = f(X)
        X[i] = old
        G[i] = (fp - fm) / (2 * h)
    return G

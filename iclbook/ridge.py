"""Ridge regression over the representation: the trained transformer's limit (eq. 20, Theorem 2), the best
predictor (eq. 25, Lemma 4), and the comparison of the two penalties mτ and Nτ (eqs. 23–25, Figure 3).

Derived in ``book/ch03_ridge`` (the two ridge problems, their closed forms, the Bayesian reading) and used in
``book/ch11_prompt_length`` (Figure 3, errors on unseen tokens, the effective penalty of a predictor).
"""
from __future__ import annotations

import numpy as np

from ._validate import check_reg, prompt_labels
from .problem import Problem

__all__ = [
    "ridge_coefficients", "ridge_predict", "ridge_matrix", "gap_to_best", "expected_unseen_error",
    "unseen_errors", "fit_ridge_penalty", "posterior_mean_quadrature",
]


def ridge_coefficients(problem: Problem, y, reg) -> np.ndarray:
    """λ̂ = (Z Zᵀ + reg·I_m)⁻¹ Z y for each prompt; y as in :func:`ridge_predict`; returns (m,) or (n, m).

    reg = mτ gives eq. (20) (the transformer's limit, Theorem 2); reg = Nτ gives eq. (25) (Lemma 4).
    reg = 0 is allowed only when Z Zᵀ is invertible (N ≥ m and Z of full row rank).
    Defined in ``book/ch03_ridge``.
    """
    r = check_reg(reg)
    yP, one = prompt_labels(problem, y)
    Z = problem.Z
    M = Z @ Z.T + r * np.eye(problem.m)
    if r == 0 and np.linalg.matrix_rank(M) < problem.m:
        raise ValueError("reg = 0 needs Z Zᵀ invertible (N ≥ m, Z of full row rank); use reg > 0")
    with np.errstate(over="ignore", invalid="ignore"):
        lam = np.linalg.solve(M, Z @ yP.T).T                              # (n, m)
    if not np.all(np.isfinite(lam)):
        raise ValueError("y: the labels are so large that the ridge coefficients overflow float64")
    return lam[0] if one else lam


def ridge_predict(problem: Problem, y, reg) -> np.ndarray:
    """Ridge predictions for all K tokens (eqs. 20–25): the first N copy the prompt labels; token k > N
    gets λ̂ᵀ f(v_k) with λ̂ = (Z Zᵀ + reg·I)⁻¹ Z y.

    y of shape (N,) or (K,) gives (K,); (n, N) or (n, K) gives (n, K) (only the first N labels are read).
    ``reg = m·tau`` is the trained transformer's limit ŷ⋆ = Aᵀy (Theorem 2); ``reg = N·tau`` is the best
    predictor ŷ_best (Lemma 4).
    Defined in ``book/ch03_ridge``.
    """
    yP, one = prompt_labels(problem, y)
    lam = np.atleast_2d(ridge_coefficients(problem, yP, reg))
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.concatenate([yP, lam @ problem.Zt[:, problem.N:]], axis=1)
    if not np.all(np.isfinite(out)):
        raise ValueError("y: the labels are so large that the ridge predictions overflow float64")
    return out[0] if one else out


def gap_to_best(problem: Problem, y) -> np.ndarray:
    """Per prompt, (1/K)‖ŷ⋆ − ŷ_best‖² between ridge with penalty mτ (eq. 20) and with Nτ (eq. 25): the
    quantity of Figure 3. Shape (n,).
    Defined in ``book/ch11_prompt_length``."""
    yP = prompt_labels(problem, y)[0]
    d = ridge_predict(problem, yP, problem.m * problem.tau) - ridge_predict(problem, yP, problem.N * problem.tau)
    return np.sum(d * d, axis=1) / problem.K


def ridge_matrix(problem: Problem, reg) -> np.ndarray:
    """The N×K matrix A_r of the ridge predictor with penalty r: ``ridge_predict(problem, y, r) = A_rᵀ y``.

    A_r = [I_N, Zᵀ(ZZᵀ + r I_m)⁻¹ Z_Q]; with r = mτ it is the limit matrix A of eq. (34) (by Woodbury), with
    r = Nτ it is the best predictor's matrix (eq. 25).
    Defined in ``book/ch11_prompt_length``.
    """
    r = check_reg(reg, positive=True)
    N, Z = problem.N, problem.Z
    out = np.empty((N, problem.K))
    out[:, :N] = np.eye(N)
    out[:, N:] = Z.T @ np.linalg.solve(Z @ Z.T + r * np.eye(problem.m), problem.Zt[:, N:])
    return out


def expected_unseen_error(problem: Problem, reg=None, *, matrix=None) -> float:
    """Exact in-domain expected error of ridge (penalty r) on the unseen tokens, λ ~ N(0, I_m):

    E (1/(K−N)) Σ_{k>N} (ŷ_k − y_k)² = (1/(K−N)) Σ_{k>N} (‖Z̄(a^r_k − a_k)‖² + c′_k)   (Lemma 5 applied
    to the linear smoother A_r; the minimum over all linear smoothers is at A_r = A, i.e. r = mτ).
    ``matrix`` may pass A_r = :func:`ridge_matrix` (problem, r) when it is already computed (then ``reg`` is
    not used); it may be any N×K linear smoother.
    Defined in ``book/ch11_prompt_length``.
    """
    N = problem.N
    M = ridge_matrix(problem, reg) if matrix is None else np.asarray(matrix, dtype=np.float64)
    D = (M - problem.A)[:, N:]
    return float((np.sum(D * (problem.Zbar2 @ D)) + np.sum(problem.c[N:])) / (problem.K - N))


def unseen_errors(problem: Problem, y, reg, lam=None) -> np.ndarray:
    """Per prompt, the mean squared error of ridge (penalty ``reg``) on the K − N unseen tokens,
    (1/(K−N)) Σ_{k>N} (ŷ_k − t_k)², against the noisy labels t_k = y_k (``lam=None``; ``y`` must then hold
    all K labels) or against the noiseless template t_k = λᵀf(v_k) (``lam`` of shape (n, m)). Shape (n,).
    Defined in ``book/ch11_prompt_length`` (eq. 1, eqs. 20 and 25)."""
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    N = problem.N
    pred = ridge_predict(problem, y, reg)[:, N:]
    if lam is None:
        if y.shape[1] != problem.K:
            raise ValueError("without lam, y must hold all K labels, shape (n, K)")
        target = y[:, N:]
    else:
        target = np.atleast_2d(lam) @ problem.Zt[:, N:]
    return np.mean((pred - target) ** 2, axis=1)


def fit_ridge_penalty(problem: Problem, yhat, y, *, lo: float = 1e-6, hi: float = 1e6, iters: int = 80) -> float:
    """The effective ridge penalty of a predictor: the r ≥ 0 that minimises Σ_prompts ‖ŷ − ridge_predict(y, r)‖²
    over the unseen tokens, with ŷ (n, K) the predictor's outputs and y the prompts' labels.

    A log-spaced grid on [lo, hi] locates the best r; a golden-section search on log r refines it between
    the grid neighbours. Returns r.
    Defined in ``book/ch11_prompt_length`` (Theorem 2, eq. 20).
    """
    yhat = np.atleast_2d(np.asarray(yhat, dtype=np.float64))
    yP = prompt_labels(problem, y)[0]
    N = problem.N

    def obj(logr):
        d = ridge_predict(problem, yP, np.exp(logr))[:, N:] - yhat[:, N:]
        return float(np.sum(d * d))

    grid = np.linspace(np.log(lo), np.log(hi), 121)
    vals = [obj(g) for g in grid]
    i = int(np.argmin(vals))
    a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    g = (np.sqrt(5.0) - 1.0) / 2.0
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = obj(c), obj(d)
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = obj(c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = obj(d)
    return float(np.exp((a + b) / 2.0))


def posterior_mean_quadrature(z, y: float, tau: float, *, sigma2=None, half_width: float = 10.0,
                              n: int = 240) -> np.ndarray:
    """E[λ | y] for m = 2 and one labelled token (N = 1), by the midpoint rule on an n×n grid over [−w, w]².

    Prior λ ~ N(0, I_2). Likelihood of eq. (1): y | λ ~ N(λᵀz, τ‖λ‖²) (the label noise λᵀε has a
    variance that depends on λ); with ``sigma2`` given, the homoscedastic likelihood N(λᵀz, σ²) instead,
    whose posterior mean is exactly ridge with penalty σ² (chapter 3). ``y`` may be an array of labels;
    returns shape (2,) or (len(y), 2). The grid truncates the prior at ±``half_width`` standard deviations.
    Defined in ``book/ch03_ridge``.
    """
    z = np.asarray(z, dtype=np.float64).reshape(2)
    ys = np.atleast_1d(np.asarray(y, dtype=np.float64))
    t = -half_width + (np.arange(n) + 0.5) * (2 * half_width / n)       # midpoints: λ = 0 is never a node
    L1, L2 = np.meshgrid(t, t, indexing="ij")
    lam = np.stack([L1.ravel(), L2.ravel()], axis=1)                      # (n², 2)
    mean = lam @ z
    var = np.full(mean.shape, float(sigma2)) if sigma2 is not None else tau * np.sum(lam**2, axis=1)
    var = np.maximum(var, 1e-300)
    logp = (-0.5 * np.sum(lam**2, axis=1))[None, :] - 0.5 * np.log(var)[None, :] \
        - 0.5 * (ys[:, None] - mean[None, :]) ** 2 / var[None, :]
    logp -= logp.max(axis=1, keepdims=True)
    W = np.exp(logp)
    W /= W.sum(axis=1, keepdims=True)
    out = W @ lam
    return out[0] if np.ndim(y) == 0 else out

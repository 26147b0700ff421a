"""Ridge regression over the basis: the trained transformer's limit (eq. 20, Theorem 2) and the best predictor (eq. 25, Lemma 4)."""
from __future__ import annotations

import numpy as np

from .model import prompt_labels
from .problem import Problem

__all__ = ["ridge_coefficients", "ridge_predict"]


def _check_reg(reg) -> float:
    try:
        r = float(reg)
    except (TypeError, ValueError):
        raise ValueError(f"reg (ridge penalty) must be a number, got {reg!r}") from None
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"reg (ridge penalty) must be finite and ≥ 0, got {reg!r}")
    return r


def ridge_coefficients(problem: Problem, y, reg) -> np.ndarray:
    """λ̂ = (Z Zᵀ + reg·I_m)⁻¹ Z y for each prompt; y as in :func:`ridge_predict`; returns (m,) or (n, m).

    reg = mτ gives eq. (20) (the transformer's limit, Theorem 2); reg = Nτ gives eq. (25) (Lemma 4).
    reg = 0 is allowed only when Z Zᵀ is invertible (N ≥ m and Z of full row rank).
    """
    r = _check_reg(reg)
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
    """
    yP, one = prompt_labels(problem, y)
    lam = np.atleast_2d(ridge_coefficients(problem, yP, reg))
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.concatenate([yP, lam @ problem.Zt[:, problem.N:]], axis=1)
    if not np.all(np.isfinite(out)):
        raise ValueError("y: the labels are so large that the ridge predictions overflow float64")
    return out[0] if one else out

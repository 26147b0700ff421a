"""Theory helpers: ζ₀ (Assumption 2), Theorem 1's bound, the w-block smoothness and the default step sizes.

The constants here are the book's re-derivation (``book/ch08_convergence``): the rate (1 − η_w ζ₀/2)^t
with η_w = γ² η_Q, and Δ(0) = ½‖Z̄A‖_F² when w(0) = 0. The book checks numerically that every trajectory it draws stays under this bound.
"""
from __future__ import annotations

import numpy as np

from .model import B_matrices, check_params
from .problem import Problem

__all__ = ["zeta", "zeta_all", "w_smoothness", "delta0", "theorem1_bound", "default_step_sizes", "DEFAULT_GAMMA"]

#: Default γ = √(η_w/η_Q): the w-block moves 10⁴ times faster than Q (the fast-w / slow-Q regime of §6.5).
DEFAULT_GAMMA = 100.0


def zeta_all(problem: Problem, Q) -> np.ndarray:
    """λ_min(B_k B_kᵀ) for every k, shape (K,) (Assumption 2). Zero (exactly) when H < N: B_k has rank ≤ H."""
    B = B_matrices(problem, Q)                                           # (K, N, H)
    K, N, H = B.shape
    if H < N:
        return np.zeros(K)
    ev = np.linalg.eigvalsh(B @ B.transpose(0, 2, 1))                    # (K, N), ascending
    return np.maximum(ev[:, 0], 0.0)


def zeta(problem: Problem, Q) -> float:
    """ζ = min_k λ_min(B_k B_kᵀ), with B_k = Z̄ softmax(D_k) (Assumption 2; ζ₀ when Q = Q(0))."""
    return float(np.min(zeta_all(problem, Q)))


def w_smoothness(problem: Problem, Q) -> float:
    """max_k ‖B_k‖₂²: the Lipschitz constant of ∇_w L at fixed Q (the w-Hessian is block-diagonal with blocks B_kᵀB_k)."""
    B = B_matrices(problem, Q)
    return float(np.max(np.linalg.norm(B, ord=2, axis=(1, 2)) ** 2))


def delta0(problem: Problem) -> float:
    """Δ(0) = L(θ(0)) − L⋆ = ½ ‖Z̄ A‖_F² when w(0) = 0 (so Â(0) = 0) (re-derived in ``book/ch08_convergence``)."""
    return 0.5 * float(np.sum(problem.A * (problem.Zbar2 @ problem.A)))


def theorem1_bound(t, eta_w: float, zeta0: float, delta_0: float) -> np.ndarray:
    """Theorem 1's bound (1 − η_w ζ₀/2)^t Δ(0) on the gap L(θ(t)) − L⋆ (eq. 18).

    The rate constant is the book's re-derivation from the PL argument (``book/ch08_convergence``).
    """
    t = np.asarray(t, dtype=float)
    rho = 1.0 - eta_w * zeta0 / 2.0
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"the rate 1 − η_w ζ₀/2 = {rho:.6g} is outside [0, 1]: η_w is too large for this ζ₀")
    return delta_0 * rho ** t


def default_step_sizes(problem: Problem, Q0, eta_Q=None, gamma=None):
    """The theory's step sizes (eq. 16): η_w = γ² η_Q.

    Defaults: γ = :data:`DEFAULT_GAMMA` and η_w = 0.9 / max_k ‖B_k(0)‖² (just inside 1/smoothness of
    the w-block at initialization), so η_Q = η_w/γ². If ``eta_Q`` is given, η_w = γ² η_Q.
    Returns ``(eta_Q, eta_w, gamma)``.
    """
    Q0 = check_params(problem, Q0)
    g = DEFAULT_GAMMA if gamma is None else float(gamma)
    if not np.isfinite(g) or g <= 0:
        raise ValueError(f"gamma (√(η_w/η_Q), eq. 16) must be finite and > 0, got {gamma!r}")
    if eta_Q is None:
        eta_w = 0.9 / w_smoothness(problem, Q0)
        eta_Q = eta_w / g**2
    else:
        eta_Q = float(eta_Q)
        if not np.isfinite(eta_Q) or eta_Q <= 0:
            raise ValueError(f"eta_Q (step size of Q, eq. 16) must be finite and > 0, got {eta_Q!r}")
        eta_w = g**2 * eta_Q
    return eta_Q, eta_w, g

"""Inference-time quantities of Part IV: Theorem 2 (eqs. 20–22) and the m-versus-N discussion (eqs. 23–25).

Chapter 10 (``book/ch10_inference``) uses the inference loss, its training callback and the re-derived
Theorem 2 bound; chapter 11 (``book/ch11_prompt_length``) uses the gap to the best predictor, the prediction
errors and the fitted effective ridge penalty. Everything is computed from :func:`iclbook.predict` and
:func:`iclbook.ridge_predict`; nothing here redefines the model.

The constants of the Theorem 2 bound are the book's re-derivation, written out and checked in chapter 10.
"""
from __future__ import annotations

import numpy as np

from .model import attention_weights, prompt_labels
from .problem import Problem
from .ridge import ridge_predict

__all__ = [
    "optimality_gap", "inference_distances", "inference_loss", "inference_callback", "chi2_upper",
    "label_norm_bound", "theorem2_eps", "theorem2_steps", "gap_to_best", "unseen_errors", "fit_ridge_penalty",
    "ridge_matrix", "expected_unseen_error",
]


def _labels(problem: Problem, y) -> np.ndarray:
    """(n, N) prompt labels from y of shape (N,), (K,), (n, N) or (n, K)."""
    return prompt_labels(problem, y)[0]


def optimality_gap(problem: Problem, Q, w) -> float:
    """Δ(θ) = L(θ) − L⋆ = ½‖Z̄(Â(θ) − A)‖_F² computed from Lemma 5 directly (eq. 36), without the cancellation
    of ``population_loss − L_star`` (which cannot resolve gaps below about 1e-15 · L⋆)."""
    D = attention_weights(problem, Q, w) - problem.A
    return 0.5 * float(np.sum(D * (problem.Zbar2 @ D)))


def inference_distances(problem: Problem, Q, w, y, reg=None) -> np.ndarray:
    """Per prompt, (1/K) ‖ŷ − ŷ⋆‖² with ŷ = Â(θ)ᵀy the model's prediction (eq. 8) and ŷ⋆ the ridge
    prediction with penalty ``reg`` (default mτ: the limit of Theorem 2, eq. 20). Shape (n,)."""
    yP = _labels(problem, y)
    reg = problem.m * problem.tau if reg is None else reg
    diff = yP @ attention_weights(problem, Q, w) - ridge_predict(problem, yP, reg)
    return np.sum(diff * diff, axis=1) / problem.K


def inference_loss(problem: Problem, Q, w, y, reg=None) -> float:
    """The paper's inference loss (§4, Figure 2): the mean over prompts of (1/K) ‖ŷ − ŷ⋆‖²."""
    return float(np.mean(inference_distances(problem, Q, w, y, reg)))


def inference_callback(problem: Problem, prompts: dict, *, with_gap: bool = False):
    """A ``callback`` for :func:`iclbook.train` that returns ``{name: inference_loss(...)}`` for each set of
    test prompts in ``prompts`` (a dict name → labels of shape (n, K) or (n, N)) at every record.

    ŷ⋆ depends on the prompts only, so it is computed once here, not at every record. With ``with_gap``, the
    callback also returns ``"gap"``: Δ(θ) from :func:`optimality_gap` (accurate down to rounding of Â − A).
    """
    sets = {}
    for name, y in prompts.items():
        yP = _labels(problem, y)
        sets[name] = (yP, ridge_predict(problem, yP, problem.m * problem.tau))

    def callback(step, Q, w):
        Ahat = attention_weights(problem, Q, w)
        D = Ahat - problem.A
        out = {"gap": 0.5 * float(np.sum(D * (problem.Zbar2 @ D)))} if with_gap else {}
        for name, (yP, ystar) in sets.items():
            d = yP @ Ahat - ystar
            out[name] = float(np.mean(np.sum(d * d, axis=1)) / problem.K)
        return out

    return callback


def chi2_upper(n: int, delta: float) -> float:
    """Laurent–Massart (2000, Lemma 1): a χ²_n variable X satisfies X ≤ n + 2√(n x) + 2x with
    probability at least 1 − δ, where x = log(1/δ). Returns that upper value."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    x = np.log(1.0 / delta)
    return float(n + 2.0 * np.sqrt(n * x) + 2.0 * x)


def label_norm_bound(problem: Problem, B: float, delta: float) -> float:
    """A bound on ‖y‖² (the N prompt labels) that holds with probability ≥ 1 − δ over the label noise
    for any task with ‖λ‖ ≤ B (re-derived in ``book/ch10_inference``, step (d)):

    ‖y‖² ≤ 2‖Zᵀλ‖² + 2‖y − Zᵀλ‖² ≤ 2B² (‖Z‖₂² + τ (N + 2√(N log(1/δ)) + 2 log(1/δ))).
    """
    Z2 = float(np.linalg.norm(problem.Z, 2) ** 2)
    return 2.0 * B**2 * (Z2 + problem.tau * chi2_upper(problem.N, delta))


def theorem2_eps(problem: Problem, gap: float, B: float, delta: float) -> float:
    """The ε that Theorem 2 guarantees from the optimality gap Δ(t) = L(θ_t) − L⋆ (eq. 22, re-derived):

    with probability ≥ 1 − δ, (1/(2K))‖ŷ − ŷ⋆‖² ≤ (1/(2K)) · 2Δ(t)/λ_min(Z̄²) · ‖y‖²-bound
    = 2B²Δ(t)[‖Z‖₂² + τ(N + 2√(N log 1/δ) + 2 log 1/δ)] / (K λ_min(Z̄²)).
    """
    lmin = float(np.linalg.eigvalsh(problem.Zbar2)[0])
    return float(gap) / (problem.K * lmin) * label_norm_bound(problem, B, delta)


def theorem2_steps(problem: Problem, eps: float, delta: float, B: float, eta_w: float, zeta0: float,
                   delta_0: float) -> float:
    """The number of GD steps of eq. (21) (re-derived in ``book/ch10_inference``):

    T = (2/(η_w ζ₀)) log(2B²Δ(0)[‖Z‖₂² + τ(N + 2√(N log 1/δ) + 2 log 1/δ)] / (K ε λ_min(Z̄²))),

    (η_w = η_Q γ²), so that Theorem 1's bound Δ(T) ≤ (1 − η_wζ₀/2)^T Δ(0) makes :func:`theorem2_eps` ≤ ε.
    Returns 0 if the logarithm is negative (ε already holds at t = 0).
    """
    if not (eps > 0 and eta_w > 0 and zeta0 > 0):
        raise ValueError("eps, eta_w and zeta0 must be > 0 (Assumption 2 needs ζ₀ > 0)")
    arg = theorem2_eps(problem, delta_0, B, delta) / eps
    return float(max(0.0, 2.0 / (eta_w * zeta0) * np.log(arg)))


def gap_to_best(problem: Problem, y) -> np.ndarray:
    """Per prompt, (1/K)‖ŷ⋆ − ŷ_best‖² between ridge with penalty mτ (eq. 20) and with Nτ (eq. 25): the
    quantity of Figure 3. Shape (n,)."""
    yP = _labels(problem, y)
    d = ridge_predict(problem, yP, problem.m * problem.tau) - ridge_predict(problem, yP, problem.N * problem.tau)
    return np.sum(d * d, axis=1) / problem.K


def ridge_matrix(problem: Problem, reg) -> np.ndarray:
    """The N×K matrix A_r of the ridge predictor with penalty r: ``ridge_predict(problem, y, r) = A_rᵀ y``.

    A_r = [I_N, Zᵀ(ZZᵀ + r I_m)⁻¹ Z_Q]; with r = mτ it is the limit matrix A of eq. (34) (by Woodbury), with
    r = Nτ it is the best predictor's matrix (eq. 25).
    """
    r = float(reg)
    if not (np.isfinite(r) and r > 0):
        raise ValueError(f"reg (ridge penalty) must be finite and > 0, got {reg!r}")
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
    """
    N = problem.N
    M = ridge_matrix(problem, reg) if matrix is None else np.asarray(matrix, dtype=np.float64)
    D = (M - problem.A)[:, N:]
    return float((np.sum(D * (problem.Zbar2 @ D)) + np.sum(problem.c[N:])) / (problem.K - N))


def unseen_errors(problem: Problem, y, reg, lam=None) -> np.ndarray:
    """Per prompt, the mean squared error of ridge (penalty ``reg``) on the K − N unseen tokens,
    (1/(K−N)) Σ_{k>N} (ŷ_k − t_k)², against the noisy labels t_k = y_k (``lam=None``; ``y`` must then hold
    all K labels) or against the noiseless template t_k = λᵀf(v_k) (``lam`` of shape (n, m)). Shape (n,)."""
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
    """
    yhat = np.atleast_2d(np.asarray(yhat, dtype=np.float64))
    yP = _labels(problem, y)
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

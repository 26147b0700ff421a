"""Theorem 2 (eqs. 20–22): how close the trained model's predictions come to ridge with penalty mτ.

Chapter 10 (``book/ch10_inference``) derives and checks everything here: the optimality gap Δ(θ), the
paper's inference loss and its training callback, the deterministic factor of steps (b)–(c) that turns a
gap into an inference-loss bound, the χ² tail of step (d), and the re-derived ε and T of eqs. (21)–(22).
Everything is computed from :func:`iclbook.model.attention_weights` and :func:`iclbook.ridge.ridge_predict`;
nothing here redefines the model or the ridge predictors (the m-versus-N comparison of eqs. 23–25 is in
:mod:`iclbook.ridge`).

The constants of the Theorem 2 bound are the book's re-derivation, written out and checked in chapter 10.
"""
from __future__ import annotations

import numpy as np

from ._validate import prompt_labels
from .model import attention_weights, excess_loss
from .problem import Problem
from .ridge import ridge_predict

__all__ = [
    "optimality_gap", "inference_distances", "inference_loss", "inference_callback", "lmin_zbar2",
    "theorem2_factor", "chi2_upper", "noise_within_chi2_bound", "label_norm_bound", "theorem2_eps",
    "theorem2_steps",
]


def _labels(problem: Problem, y) -> np.ndarray:
    """(n, N) prompt labels from y of shape (N,), (K,), (n, N) or (n, K)."""
    return prompt_labels(problem, y)[0]


def optimality_gap(problem: Problem, Q, w) -> float:
    """Δ(θ) = L(θ) − L⋆ = ½‖Z̄(Â(θ) − A)‖_F² computed from Lemma 5 directly (eq. 36), without the cancellation
    of ``population_loss − L_star`` (which cannot resolve gaps below about 1e-15 · L⋆).
    Defined in ``book/ch10_inference``."""
    return excess_loss(problem, attention_weights(problem, Q, w))


def inference_distances(problem: Problem, Q, w, y, reg=None) -> np.ndarray:
    """Per prompt, (1/K) ‖ŷ − ŷ⋆‖² with ŷ = Â(θ)ᵀy the model's prediction (eq. 8) and ŷ⋆ the ridge
    prediction with penalty ``reg`` (default mτ: the limit of Theorem 2, eq. 20). Shape (n,).
    Defined in ``book/ch10_inference``."""
    yP = _labels(problem, y)
    reg = problem.m * problem.tau if reg is None else reg
    diff = yP @ attention_weights(problem, Q, w) - ridge_predict(problem, yP, reg)
    return np.sum(diff * diff, axis=1) / problem.K


def inference_loss(problem: Problem, Q, w, y, reg=None) -> float:
    """The paper's inference loss (§4, Figure 2): the mean over prompts of (1/K) ‖ŷ − ŷ⋆‖².
    Defined in ``book/ch10_inference``."""
    return float(np.mean(inference_distances(problem, Q, w, y, reg)))


def inference_callback(problem: Problem, prompts: dict, *, with_gap: bool = False):
    """A ``callback`` for :func:`iclbook.training.train_gd` or :func:`iclbook.training.train_adam` that returns ``{name: inference_loss(...)}`` for each set of
    test prompts in ``prompts`` (a dict name → labels of shape (n, K) or (n, N)) at every record.

    ŷ⋆ depends on the prompts only, so it is computed once here, not at every record. With ``with_gap``, the
    callback also returns ``"gap"``: Δ(θ) from :func:`optimality_gap` (accurate down to rounding of Â − A).
    Defined in ``book/ch10_inference`` (§4, Figure 2(a)).
    """
    sets = {}
    for name, y in prompts.items():
        yP = _labels(problem, y)
        sets[name] = (yP, ridge_predict(problem, yP, problem.m * problem.tau))

    def callback(step, Q, w):
        Ahat = attention_weights(problem, Q, w)
        out = {"gap": excess_loss(problem, Ahat)} if with_gap else {}
        for name, (yP, ystar) in sets.items():
            d = yP @ Ahat - ystar
            out[name] = float(np.mean(np.sum(d * d, axis=1)) / problem.K)
        return out

    return callback


def lmin_zbar2(problem: Problem) -> float:
    """λ_min(Z̄²), the smallest eigenvalue of the N×N matrix Z̄² = ZᵀZ + mτ I_N (eq. 12); it is ≥ mτ.
    Defined in ``book/ch10_inference``."""
    return float(np.linalg.eigvalsh(problem.Zbar2)[0])


def theorem2_factor(problem: Problem, y) -> np.ndarray:
    """Per prompt, 2‖y_P‖²/(K λ_min(Z̄²)): Theorem 2's deterministic steps (b)–(c) (``book/ch10_inference``).

    For any parameters θ, (1/K)‖ŷ − ŷ⋆‖² ≤ this factor × Δ(θ), with Δ(θ) = L(θ) − L⋆; averaged over prompts,
    the mean inference loss is at most the mean factor times Δ(θ). ``y`` as in :func:`inference_distances`;
    shape (n,).
    """
    yP = _labels(problem, y)
    return 2.0 * np.sum(yP * yP, axis=1) / (problem.K * lmin_zbar2(problem))


def chi2_upper(n: int, delta: float) -> float:
    """Laurent–Massart (2000, Lemma 1): a χ²_n variable X satisfies X ≤ n + 2√(n x) + 2x with
    probability at least 1 − δ, where x = log(1/δ). Returns that upper value.
    Defined in ``book/ch10_inference``."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta!r}")
    x = np.log(1.0 / delta)
    return float(n + 2.0 * np.sqrt(n * x) + 2.0 * x)


def noise_within_chi2_bound(problem: Problem, y, lam, delta: float) -> np.ndarray:
    """Per prompt, whether the event of Theorem 2's step (d) holds (``book/ch10_inference``):

    ‖y_P − Zᵀλ‖² ≤ τ‖λ‖² (N + 2√(N log 1/δ) + 2 log 1/δ).

    Given the task λ (shape (m,), shared by the prompts), y_i − λᵀz_i = λᵀε_i are N independent
    N(0, τ‖λ‖²) variables (eq. 1), so the left side is τ‖λ‖² times a χ²_N variable and the event has
    probability at least 1 − δ (:func:`chi2_upper`). ``y`` as in :func:`inference_distances`; shape (n,).
    """
    yP = _labels(problem, y)
    lam = np.asarray(lam, dtype=np.float64)
    if lam.shape != (problem.m,):
        raise ValueError(f"lam must have shape (m,) = ({problem.m},), got {lam.shape}")
    res2 = np.sum((yP - lam @ problem.Z) ** 2, axis=1)
    return res2 <= problem.tau * float(lam @ lam) * chi2_upper(problem.N, delta)


def label_norm_bound(problem: Problem, B: float, delta: float) -> float:
    """A bound on ‖y‖² (the N prompt labels) that holds with probability ≥ 1 − δ over the label noise
    for any task with ‖λ‖ ≤ B (re-derived in ``book/ch10_inference``, step (d)):

    ‖y‖² ≤ 2‖Zᵀλ‖² + 2‖y − Zᵀλ‖² ≤ 2B² (‖Z‖₂² + τ (N + 2√(N log(1/δ)) + 2 log(1/δ))).
    See Theorem 2, step (d).
    """
    Z2 = float(np.linalg.norm(problem.Z, 2) ** 2)
    return 2.0 * B**2 * (Z2 + problem.tau * chi2_upper(problem.N, delta))


def theorem2_eps(problem: Problem, gap: float, B: float, delta: float) -> float:
    """The ε that Theorem 2 guarantees from the optimality gap Δ(t) = L(θ_t) − L⋆ (eq. 22, re-derived):

    with probability ≥ 1 − δ, (1/(2K))‖ŷ − ŷ⋆‖² ≤ (1/(2K)) · 2Δ(t)/λ_min(Z̄²) · ‖y‖²-bound
    = 2B²Δ(t)[‖Z‖₂² + τ(N + 2√(N log 1/δ) + 2 log 1/δ)] / (K λ_min(Z̄²)).
    Defined in ``book/ch10_inference``.
    """
    return float(gap) / (problem.K * lmin_zbar2(problem)) * label_norm_bound(problem, B, delta)


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

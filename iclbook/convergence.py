"""Theorem 1 and the lemmas behind it: Assumption 2 (ζ), Proposition 1, Lemmas 2, 6, 7, 10, the PL
inequality (49), the bounds (43a–c) along a trajectory, and Theorem 1's rate (eq. 18).

Derived and checked in ``book/ch06_reparam`` (Lemma 6, the PL inequality), ``book/ch07_initialization``
(ζ₀ at initialization, Proposition 1), ``book/ch08_convergence`` (the lemmas and Theorem 1) and
``book/ch09_heads`` (the number of heads); ``book/ch05_gradients`` uses the profile loss min_w L.
The constants are the book's re-derivation, proved step by step in ``book/ch08_convergence``:

- the rate (1 − η_w ζ₀/2)^t with η_w = γ² η_Q, and Δ(0) = ½‖Z̄A‖_F² when w(0) = 0;
- Lemma 7: ‖∇_{α_h} ℓ‖ ≤ γ‖Z̄‖₂ √(2Δ) and ‖∇_{Q_h} ℓ‖_F ≤ 2γ max_k|α_{h,k}| f̄_max √(2KΔ), Δ = ℓ − L⋆;
- the PL inequality (49): ‖∇_α ℓ‖² ≥ 2γ² min_k λ_min(B_kB_kᵀ) Δ ≥ γ² ζ₀ Δ while λ_min ≥ ζ₀/2;
- (43a) ᾱ = 4√(2Δ(0))‖Z̄‖₂/(γζ₀); the Q movement 64√K Δ(0)‖Z̄‖₂ f̄_max/(γ²ζ₀²); the B_k movement
  128√(HK) Δ(0)‖Z̄‖₂² f̄_max/(γ²ζ₀²), and the sufficient γ of eq. (15) that keeps it ≤ (1 − 1/√2)√ζ₀.

Here ξ = (Q, α) with α = w/γ (Lemma 6), so ∇_α ℓ = γ ∇_w L and GD on θ with (η_Q, η_w = γ²η_Q) is GD on
ξ with the single step η_Q.
"""
from __future__ import annotations

import numpy as np

from ._validate import check_params
from .model import (B_matrices, attention_weights, best_output_weights, excess_loss, init_params,
                    population_loss_and_grad, softmax, weights_for_target)
from .problem import Problem

__all__ = [
    "DEFAULT_GAMMA", "ZETA_NUMERICAL_ZERO", "zeta", "zeta_all", "zeta_samples", "w_smoothness", "delta0",
    "theorem1_bound", "default_step_sizes", "lemma2_ratio", "zbar_norm", "fbar_max", "xi_gradients",
    "xi_hessian_norm", "xi_secant", "pl_quantities", "pl_equality_weights", "profile_loss", "exp_sum_terms",
    "lemma7_bounds", "alpha_bar", "q_move_bound", "B_move_bound",
    "gamma_sufficient", "lemma10_L", "secant_smoothness", "diagnostics_callback", "gd_step_work",
]

#: Default γ = √(η_w/η_Q): the w-block moves 10⁴ times faster than Q (the fast-w / slow-Q regime of §6.5).
DEFAULT_GAMMA = 100.0


def zeta_all(problem: Problem, Q) -> np.ndarray:
    """λ_min(B_k B_kᵀ) for every k, shape (K,) (Assumption 2, display (14); ``book/ch07_initialization``).

    Zero (exactly) when H < N: B_k has rank ≤ H."""
    B = B_matrices(problem, Q)                                           # (K, N, H)
    K, N, H = B.shape
    if H < N:
        return np.zeros(K)
    ev = np.linalg.eigvalsh(B @ B.transpose(0, 2, 1))                    # (K, N), ascending
    return np.maximum(ev[:, 0], 0.0)


def zeta(problem: Problem, Q) -> float:
    """ζ = min_k λ_min(B_k B_kᵀ), with B_k = Z̄ softmax(D_k) (Assumption 2, display (14); ζ₀ when Q = Q(0);
    ``book/ch07_initialization``)."""
    return float(np.min(zeta_all(problem, Q)))


def w_smoothness(problem: Problem, Q) -> float:
    """max_k ‖B_k‖₂²: the Lipschitz constant of ∇_w L at fixed Q (the w-Hessian is block-diagonal with blocks
    B_kᵀB_k): the lower bound of Lemma 10 that caps η_w (eq. 16; ``book/ch08_convergence``)."""
    B = B_matrices(problem, Q)
    return float(np.max(np.linalg.norm(B, ord=2, axis=(1, 2)) ** 2))


def delta0(problem: Problem) -> float:
    """Δ(0) = L(θ(0)) − L⋆ = ½ ‖Z̄ A‖_F² when w(0) = 0 (so Â(0) = 0): the constant of Theorem 1's bound
    (eq. 18; Lemma 5, eq. 36; re-derived in ``book/ch08_convergence``)."""
    return excess_loss(problem, np.zeros((problem.N, problem.K)))


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
    """The theory's step sizes (eq. 16): η_w = γ² η_Q (``book/ch06_reparam``, ``book/ch08_convergence``).

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


#: ζ₀ / max_k ‖B_k‖₂² below this is "numerically zero": σ_min(B_k)/σ_max(B_k) < 1e-6, where float64's
#: eigenvalues of B_kB_kᵀ carry an absolute error of about 1e-16·‖B_k‖₂² (``book/ch07_initialization``).
ZETA_NUMERICAL_ZERO = 1e-12


def lemma2_ratio(X, Xp) -> np.ndarray:
    """‖softmax(x) − softmax(x′)‖₁ / ‖x − x′‖_∞ for each row pair of ``X``, ``Xp`` (shape (n, N)): the
    quantity Lemma 2 bounds by 2; its sharp bound is 1 (``book/ch08_convergence``, Lemma 2)."""
    X, Xp = np.asarray(X, dtype=np.float64), np.asarray(Xp, dtype=np.float64)
    return np.abs(softmax(X) - softmax(Xp)).sum(axis=-1) / np.abs(X - Xp).max(axis=-1)


def zbar_norm(problem: Problem) -> float:
    """‖Z̄‖₂ = √λ_max(ZᵀZ + mτI) (eq. 12), the constant of Lemma 7 and (43a) (``book/ch08_convergence``)."""
    return float(np.sqrt(np.linalg.eigvalsh(problem.Zbar2)[-1]))


def fbar_max(problem: Problem) -> float:
    """f̄_max = max_i ‖z̄_i‖₂, the largest column norm of Z̄ (eq. 12, read as columns of Z̄; re-derived), the
    constant of Lemmas 7 and 10 (``book/ch08_convergence``)."""
    return float(np.max(np.linalg.norm(problem.Zbar, axis=0)))


def xi_gradients(problem: Problem, Q, w, gamma: float):
    """(ℓ, ∇_Q ℓ, ∇_α ℓ) in the reparameterised coordinates ξ = (Q, α = w/γ) of Lemma 6 (eqs. 39–41):
    ∇_Q ℓ = ∇_Q L and ∇_α ℓ = γ∇_w L (``book/ch06_reparam``)."""
    loss, gQ, gw = population_loss_and_grad(problem, Q, w)
    return loss, gQ, gamma * gw


def xi_hessian_norm(problem: Problem, Q, w, gamma: float, *, rng, iters: int = 25, eps: float = 1e-5) -> float:
    """‖∇²ξ ℓ‖₂ at ξ = (Q, w/γ), estimated by power iteration with Hessian-vector products from central
    differences of the exact ξ-gradient (:func:`xi_gradients`): a lower estimate of the operator norm, up to
    the O(ε²) error of the differences. Lemma 10's L must dominate it (``book/ch08_convergence``).
    """
    Q, w = check_params(problem, Q, w)
    uQ, uA = rng.standard_normal(Q.shape), rng.standard_normal(w.shape)
    nrm = 0.0
    for _ in range(iters):
        n = np.sqrt(np.sum(uQ**2) + np.sum(uA**2))
        uQ, uA = uQ / n, uA / n
        _, gQp, gAp = xi_gradients(problem, Q + eps * uQ, w + gamma * eps * uA, gamma)
        _, gQm, gAm = xi_gradients(problem, Q - eps * uQ, w - gamma * eps * uA, gamma)
        uQ, uA = (gQp - gQm) / (2 * eps), (gAp - gAm) / (2 * eps)
        nrm = float(np.sqrt(np.sum(uQ**2) + np.sum(uA**2)))
    return nrm


def xi_secant(problem: Problem, Q, w, Q2, w2, gamma: float) -> float:
    """‖∇ξ ℓ(ξ₂) − ∇ξ ℓ(ξ)‖ / ‖ξ₂ − ξ‖ between ξ = (Q, w/γ) and ξ₂ = (Q2, w2/γ), in the norm of Lemma 10
    (Frobenius on Q, Euclidean on α): a lower bound of any Lipschitz constant L of ∇ξ ℓ on a convex set that
    holds both points (``book/ch08_convergence``, Lemma 10). :func:`secant_smoothness` is the same ratio along
    one GD step, with the step's length computed exactly.
    """
    _, gQ, gA = xi_gradients(problem, Q, w, gamma)
    _, gQ2, gA2 = xi_gradients(problem, Q2, w2, gamma)
    num = np.sqrt(np.sum((gQ2 - gQ) ** 2) + np.sum((gA2 - gA) ** 2))
    dQ = np.asarray(Q2, dtype=np.float64) - np.asarray(Q, dtype=np.float64)
    dA = (np.asarray(w2, dtype=np.float64) - np.asarray(w, dtype=np.float64)) / gamma
    return float(num / np.sqrt(np.sum(dQ**2) + np.sum(dA**2)))


def pl_quantities(problem: Problem, Q, w) -> dict:
    """The two sides of the PL inequality (49) at θ = (Q, w), in θ-coordinates (divide ξ's by γ²).

    Returns ``grad_w_sq`` = ‖∇_w L‖², ``gap`` = L − L⋆ = ½‖Z̄(Â − A)‖² (Lemma 5, eq. 36, computed without the
    cancellation of L − L⋆), ``zeta`` = min_k λ_min(B_kB_kᵀ) at this Q, ``lower`` = 2·zeta·gap, the lower bound
    ‖∇_w L‖² ≥ 2 min_k λ_min(B_kB_kᵀ)(L − L⋆) that holds at every θ (∇_{w_{:,k}} L = B_kᵀ Z̄ δ_k, §6.3), and
    ``ratio`` = ‖∇_w L‖²/(2(L − L⋆)) = ‖∇_α ℓ‖²/(2γ²(ℓ − L⋆)), the PL ratio, which is ≥ ``zeta`` (NaN at gap 0).
    Derived in ``book/ch06_reparam``; checked along trajectories in ``book/ch08_convergence``.
    """
    _, _, gw = population_loss_and_grad(problem, Q, w)
    gap = excess_loss(problem, attention_weights(problem, Q, w))
    z = zeta(problem, Q)
    gw2 = float(np.sum(gw * gw))
    ratio = gw2 / (2.0 * gap) if gap > 0 else float("nan")
    return {"grad_w_sq": gw2, "gap": gap, "zeta": z, "lower": 2.0 * z * gap, "ratio": ratio}


def pl_equality_weights(problem: Problem, Q) -> np.ndarray:
    """Output weights w (H×K) at which the PL inequality is an equality: ‖∇_w L‖² = 2ζ(Q)(L − L⋆), with L − L⋆ = ½.

    Let k⋆ attain ζ(Q) = min_k λ_min(B_kB_kᵀ) and u be a unit eigenvector of B_{k⋆}B_{k⋆}ᵀ for that eigenvalue.
    w makes δ_k = 0 for k ≠ k⋆ and Z̄δ_{k⋆} = u (target Â = A + Z̄⁻¹u e_{k⋆}ᵀ, :func:`iclbook.model.weights_for_target`),
    so every inequality of the PL chain is an equality: the constant 2ζ(Q) cannot be improved at this Q
    (``book/ch06_reparam`` and ``book/ch08_convergence``, exercises). Needs every B_k of full row rank (H ≥ N).
    """
    B = B_matrices(problem, Q)                                           # (K, N, H)
    if B.shape[2] < B.shape[1]:
        raise ValueError(f"H = {B.shape[2]} < N = {B.shape[1]}: ζ(Q) = 0 and no w attains the PL equality")
    lam, U = np.linalg.eigh(B @ B.transpose(0, 2, 1))                   # ascending
    k = int(np.argmin(lam[:, 0]))
    target = problem.A.copy()
    target[:, k] += np.linalg.solve(problem.Zbar, U[k][:, 0])
    return weights_for_target(problem, Q, target)


def profile_loss(problem: Problem, Q) -> float:
    """min_w L(Q, w): the population loss (Lemma 5) at the best output weights for fixed Q.

    For fixed Q, L is a least-squares problem in each column w_{:,k} (Hessian B_kᵀB_k, ``book/ch05_gradients``):
    L(Q, w) = L⋆ + ½ Σ_k ‖B_k w_{:,k} − Z̄a_k‖², so the minimum is L⋆ + ½ Σ_k ‖(I − P_k) Z̄a_k‖² with P_k the
    projection onto the range of B_k; it equals L⋆ when every B_k has full row rank (Assumption 2). Its gradient
    in Q is ∇_Q L at the best w (the envelope theorem, ``book/ch05_gradients``, exercise).
    """
    B = B_matrices(problem, Q)
    r = np.einsum("knh,hk->nk", B, best_output_weights(problem, Q)) - problem.Zbar @ problem.A
    return problem.L_star + 0.5 * float(np.sum(r * r))


def exp_sum_terms(problem: Problem, r: int, q_tilde, q) -> np.ndarray:
    """The N terms of the exponential sum in step (c) of the proof of Proposition 1 (Appendix D.1).

    With the query vector q_1 = (q, q̃) split into its coordinate ``r`` and the other d − 1 (``q_tilde``),
    ⟨y, exp(V_Nᵀ q_1)⟩ = Σ_i y_i e^{⟨ṽ_i, q̃⟩} e^{v_{r,i} q} =: g(q | q̃). Returns, for each q in ``q``, the terms
    e^{v_{r,i} q + ⟨ṽ_i, q̃⟩}, i = 1..N, divided by the largest of them (shape (len(q), N)): g(q | q̃) is
    ``terms @ y`` up to a positive factor, with the same signs and zeros, and no overflow
    (``book/ch07_initialization``).
    """
    VN = problem.VN
    E = np.outer(np.asarray(q, dtype=np.float64), VN[r]) + np.delete(VN, r, axis=0).T @ np.asarray(q_tilde)
    return np.exp(E - E.max(axis=1, keepdims=True))


def lemma7_bounds(problem: Problem, Q, w, gamma: float) -> dict:
    """Lemma 7 (re-derived; ``book/ch08_convergence``): the gradient norms and their bounds by √(ℓ − L⋆)
    at ξ = (Q, w/γ).

    ``gA`` = max_h ‖∇_{α_h} ℓ‖ ≤ ``gA_bound`` = γ‖Z̄‖₂√(2Δ);
    ``gQ`` = max_h ‖∇_{Q_h} ℓ‖_F ≤ ``gQ_bound`` = 2γ max_{h,k}|α_{h,k}| f̄_max √(2KΔ).
    """
    loss, gQ, gA = xi_gradients(problem, Q, w, gamma)
    gap = max(loss - problem.L_star, 0.0)
    H = gQ.shape[0]
    amax = float(np.max(np.abs(np.asarray(w)))) / gamma
    return {
        "gA": float(np.max(np.linalg.norm(gA, axis=1))),
        "gA_bound": gamma * zbar_norm(problem) * np.sqrt(2 * gap),
        "gQ": float(np.max(np.linalg.norm(gQ.reshape(H, -1), axis=1))),
        "gQ_bound": 2 * gamma * amax * fbar_max(problem) * np.sqrt(2 * problem.K * gap),
    }


def alpha_bar(problem: Problem, gamma: float, zeta0: float) -> float:
    """ᾱ = 4√(2Δ(0))‖Z̄‖₂/(γζ₀): the bound (43a) on |α_{h,k}(t)| (re-derived; w(0) = 0;
    ``book/ch08_convergence``, step 3 of Theorem 1's proof)."""
    return 4.0 * np.sqrt(2.0 * delta0(problem)) * zbar_norm(problem) / (gamma * zeta0)


def q_move_bound(problem: Problem, gamma: float, zeta0: float) -> float:
    """max_h ‖Q_h(t) − Q_h(0)‖_F ≤ 64√K Δ(0)‖Z̄‖₂ f̄_max/(γ²ζ₀²) under (43a–c) (re-derived;
    ``book/ch08_convergence``, step 4 of Theorem 1's proof)."""
    return 64.0 * np.sqrt(problem.K) * delta0(problem) * zbar_norm(problem) * fbar_max(problem) / (gamma**2 * zeta0**2)


def B_move_bound(problem: Problem, H: int, gamma: float, zeta0: float) -> float:
    """max_k ‖B_k(t) − B_k(0)‖₂ ≤ 128√(HK) Δ(0)‖Z̄‖₂² f̄_max/(γ²ζ₀²) under (43a–c) (re-derived;
    ``book/ch08_convergence``, step 5 of Theorem 1's proof, towards (43b))."""
    return 2.0 * np.sqrt(H) * zbar_norm(problem) * q_move_bound(problem, gamma, zeta0)


def gamma_sufficient(problem: Problem, H: int, zeta0: float) -> float:
    """The smallest γ with B_move_bound ≤ (1 − 1/√2)√ζ₀: a sufficient version of eq. (15) (re-derived;
    ``book/ch08_convergence``, Theorem 1).

    γ² ≥ 128√(HK) Δ(0)‖Z̄‖₂² f̄_max / ((1 − 1/√2) ζ₀^{5/2}).
    """
    num = 128.0 * np.sqrt(H * problem.K) * delta0(problem) * zbar_norm(problem) ** 2 * fbar_max(problem)
    return float(np.sqrt(num / ((1.0 - 1.0 / np.sqrt(2.0)) * zeta0**2.5)))


def lemma10_L(problem: Problem, H: int, gamma: float, abar: float) -> float:
    """An explicit smoothness constant L of Lemma 10 on the region max_{h,k}|α_{h,k}| ≤ ᾱ (any Q).

    This is the book's own re-derivation (``book/ch08_convergence``, Lemma 10), not the paper's constant
    of eq. (61). With unit-norm tokens, f̄ = f̄_max (largest column norm of Z̄) and
    R_k = γ f̄ H ᾱ + ‖Z̄ a_k‖ (a bound on ‖Z̄δ_k‖ on the region), the Hessian of ℓ in ξ = (Q, α) has
    operator norm at most

        L = γ² f̄² H (1 + K ᾱ²) + γ f̄ (2ᾱ Σ_k R_k + (Σ_k R_k²)^{1/2}),

    so ‖∇ξ ℓ(ξ) − ∇ξ ℓ(ξ')‖ ≤ L‖ξ − ξ'‖ (Frobenius norm on Q, Euclidean on α) on the (convex) region.
    The first term bounds Σ_k ‖dr_k‖², the second Σ_k r_kᵀ d²r_k, for r_k = Z̄δ_k along a unit direction.
    """
    fb = fbar_max(problem)
    R = gamma * fb * H * abar + np.linalg.norm(problem.Zbar @ problem.A, axis=0)
    return float(gamma**2 * fb**2 * H * (1.0 + problem.K * abar**2)
                 + gamma * fb * (2.0 * abar * np.sum(R) + np.sqrt(np.sum(R**2))))


def secant_smoothness(problem: Problem, Q, w, eta_Q: float, gamma: float) -> float:
    """‖∇ξ ℓ(ξ⁺) − ∇ξ ℓ(ξ)‖/‖ξ⁺ − ξ‖ for the GD step ξ⁺ = ξ − η_Q∇ξ ℓ(ξ): the smoothness seen by one step.

    The descent lemma behind Theorem 1 (step 7 of its proof, ``book/ch08_convergence``) needs η_Q·L ≤ 1
    for the smoothness constant L of Lemma 10; this
    secant value is a lower bound of that L along the actual step, and η_Q times it must stay ≤ 1 (< 2
    already guarantees descent on the segment).
    """
    _, gQ, gA = xi_gradients(problem, Q, w, gamma)
    Qn = np.asarray(Q) - eta_Q * gQ
    An = np.asarray(w) / gamma - eta_Q * gA
    _, gQn, gAn = xi_gradients(problem, Qn, gamma * An, gamma)
    num = np.sqrt(np.sum((gQn - gQ) ** 2) + np.sum((gAn - gA) ** 2))
    den = eta_Q * np.sqrt(np.sum(gQ**2) + np.sum(gA**2))
    return float(num / den) if den > 0 else 0.0


def diagnostics_callback(problem: Problem, eta_Q: float, gamma: float):
    """A ``callback`` for :func:`iclbook.training.train_gd` recording, at each record, the PL sides (49), the
    Lemma 7 norms and bounds, the smallest per-token λ_min(B_kB_kᵀ) (43b) and the secant smoothness
    (Lemma 10): the hypotheses of Theorem 1's induction along a run (``book/ch08_convergence``)."""

    def cb(t, Q, w):
        out = pl_quantities(problem, Q, w)
        out.update(lemma7_bounds(problem, Q, w, gamma))
        out["secant_L"] = secant_smoothness(problem, Q, w, eta_Q, gamma)
        return out

    return cb


def gd_step_work(problem: Problem) -> tuple[int, int]:
    """The arithmetic of one step of the theory's gradient descent (eq. 10, ``ic.train(method="gd")``),
    split as ``(per_head, shared)``: a step with H heads costs ``H * per_head + shared`` operations.

    Counted: multiplications (a multiply-add counts once), divisions and exponentials, as the exact loss
    and gradient (Lemma 5, §6.3; :func:`iclbook.model.population_loss_and_grad`) and the update compute
    them. Per head: the scores V_Nᵀ Q_h V (N d² + N d K), the softmax (N K exponentials and divisions),
    Σ_h w_{h,k} s^h_k (N K), ∂L/∂w (N K), J(s) G scaled by w (2 N K), the Q-gradient V_N R_h Vᵀ
    (N K d + N d²) and the update (d² + K). Shared by all heads: Z̄²(Â − A) (N² K) and the loss (N K).
    Additions, subtractions and maxima are not counted. This is the "work" of the H remark after
    Theorem 1 (``book/ch08_convergence``): per unit of computation rather than per step.
    """
    N, K, d = problem.N, problem.K, problem.d
    per_head = 2 * N * d * d + 2 * N * d * K + 6 * N * K + d * d + K
    shared = N * N * K + N * K
    return int(per_head), int(shared)


def zeta_samples(problem: Problem, H: int, seeds, *, beta: float = 1.0, relative: bool = False) -> np.ndarray:
    """ζ₀ = min_k λ_min(B_k(0)B_k(0)ᵀ) for Q(0) ~ N(0, β²) drawn with each seed in ``seeds`` (Prop. 1).

    ``relative=True`` returns ζ₀ / max_k ‖B_k(0)‖₂² instead: the ratio that sets Theorem 1's rate, and the
    scale-free way to say "numerically zero" (``book/ch07_initialization`` calls ζ₀ numerically zero when this
    ratio is below :data:`ZETA_NUMERICAL_ZERO`, far above float64's round-off of about 1e-16 and far below the
    smallest genuine values it measures).
    """
    out = []
    for s in seeds:
        Q0, _ = init_params(problem, H, rng=np.random.default_rng(s), beta=beta)
        z = float(np.min(zeta_all(problem, Q0)))
        out.append(z / w_smoothness(problem, Q0) if relative else z)
    return np.asarray(out)

"""The one-layer multi-head softmax model (eq. 8), its exact population loss (Lemma 5) and gradients (§6.3).

Shapes: ``Q`` is (H, d, d), ``w`` is (H, K). The attention scores of head h for all tokens are
``V_Nᵀ Q_h V`` (N×K); ``S[h, :, k] = softmax(V_Nᵀ Q_h v_k) = s^h_k`` (eq. 13).

Every product is batched over heads in one BLAS call, in the cheapest order: V_Nᵀ Q_h first
(N·d² per head) and then times V (N·d·K per head), never Q_h V (d²·K per head). The backward pass
reuses the forward order in reverse. No Python loop runs over heads, tokens or prompts.
"""
from __future__ import annotations

import numpy as np

from .problem import Problem

__all__ = [
    "check_params", "head_scores", "softmax_weights", "attention_weights", "predict",
    "population_loss", "population_grad", "population_loss_and_grad", "empirical_loss_and_grad",
    "grad_from_dA", "sample_prompts", "init_params", "prompt_labels", "B_matrices",
]


def check_params(problem: Problem, Q, w=None):
    """Validate (Q, w) against the problem; returns float64 arrays. Raises ``ValueError`` naming the argument."""
    try:
        Q = np.asarray(Q, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("Q must be a real array of shape (H, d, d)") from None
    d = problem.d
    if Q.ndim != 3 or Q.shape[1:] != (d, d) or Q.shape[0] < 1:
        raise ValueError(f"Q must have shape (H, d, d) = (H, {d}, {d}), got {Q.shape}")
    if not np.all(np.isfinite(Q)):
        raise ValueError("Q contains NaN or infinite entries")
    if w is None:
        return Q
    try:
        w = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("w must be a real array of shape (H, K)") from None
    if w.shape != (Q.shape[0], problem.K):
        raise ValueError(f"w must have shape (H, K) = ({Q.shape[0]}, {problem.K}), got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("w contains NaN or infinite entries")
    return Q, w


def head_scores(problem: Problem, Q: np.ndarray) -> np.ndarray:
    """Attention scores D[h] = V_Nᵀ Q_h V of every head for every token, shape (H, N, K) (eq. 8).

    V_Nᵀ Q_h for every head (batched), then one GEMM with V for all heads at once.
    """
    H, d, _ = Q.shape
    N, K = problem.N, problem.K
    P = np.matmul(problem.VNT, Q)                                        # (H, N, d): V_Nᵀ Q_h, no copy of Q
    return (P.reshape(H * N, d) @ problem.V).reshape(H, N, K)            # one GEMM for all heads


def _checked_scores(problem: Problem, Q: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        D = head_scores(problem, Q)
    if not np.all(np.isfinite(D)):
        raise ValueError("Q: entries are so large that the attention scores V_Nᵀ Q_h v_k overflow float64")
    return D


def _finite(x, what: str):
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} overflows float64: the entries of w (or y) are too large")
    return x


def softmax_weights(problem: Problem, Q) -> np.ndarray:
    """S[h, :, k] = s^h_k = softmax(V_Nᵀ Q_h v_k) ∈ R^N, shape (H, N, K) (eq. 13).

    The softmax runs over the N prompt positions and is shifted by its maximum, so large scores
    cannot overflow.
    """
    Q = check_params(problem, Q)
    return _softmax(_checked_scores(problem, Q))


def _softmax(D: np.ndarray, axis: int = 1) -> np.ndarray:
    """Softmax over ``axis`` (the N prompt positions of (H, N, K) scores by default), shifted by the maximum,
    computed in place in ``D`` (a fresh float64 array) and returned."""
    D -= D.max(axis=axis, keepdims=True)
    np.exp(D, out=D)
    D /= D.sum(axis=axis, keepdims=True)
    return D


def _ahat(S: np.ndarray, w: np.ndarray) -> np.ndarray:
    # Â[:, k] = Σ_h w_{h,k} s^h_k
    return np.einsum("hk,hnk->nk", w, S, optimize=False)  # pragma: no mutate (equivalent: optimize= only orders a 2-operand contraction; upper-case subscripts are the same labels)


def attention_weights(problem: Problem, Q, w) -> np.ndarray:
    """Â(θ) of shape (N, K): column k is â_k = Σ_h w_{h,k} softmax(V_Nᵀ Q_h v_k) (eqs. 8, 35)."""
    Q, w = check_params(problem, Q, w)
    with np.errstate(over="ignore", invalid="ignore"):  # pragma: no mutate (equivalent: einsum reports no floating-point errors and the scores are checked before; a guard only)
        return _finite(_ahat(_softmax(_checked_scores(problem, Q)), w), "Â(θ)")


def prompt_labels(problem: Problem, y, name: str = "y") -> tuple[np.ndarray, bool]:
    """The prompt labels (first N) from y of shape (N,), (K,), (n, N) or (n, K); returns ((n, N), was_1d)."""
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real array of labels") from None
    if y.ndim not in (1, 2) or y.shape[-1] not in (problem.N, problem.K):
        raise ValueError(
            f"{name} must have shape (N,), (K,), (n, N) or (n, K) with N = {problem.N}, K = {problem.K}; got {y.shape}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    one = y.ndim == 1
    y2 = y[None, :] if one else y
    return y2[:, : problem.N], one


def predict(problem: Problem, Q, w, y) -> np.ndarray:
    """Predictions ŷ = Â(θ)ᵀ y of all K labels from the N prompt labels (eq. 8).

    y of shape (N,) gives (K,); (n, N) gives (n, K). Arrays that hold all K labels ((K,) or (n, K))
    are accepted too: only the first N, the prompt, are read.
    """
    yP, one = prompt_labels(problem, y)
    with np.errstate(over="ignore", invalid="ignore"):
        out = _finite(yP @ attention_weights(problem, Q, w), "the prediction ŷ")
    return out[0] if one else out


def B_matrices(problem: Problem, Q) -> np.ndarray:
    """B_k = Z̄ C_k with C_k = (s^1_k, …, s^H_k), stacked as shape (K, N, H) (§6.4)."""
    S = softmax_weights(problem, Q)
    H, N, K = S.shape
    ZS = problem.Zbar @ S.transpose(1, 0, 2).reshape(N, H * K)            # one GEMM: Z̄ s^h_k for all h, k
    return np.ascontiguousarray(ZS.reshape(N, H, K).transpose(2, 0, 1))


def grad_from_dA(problem: Problem, S: np.ndarray, w: np.ndarray, G: np.ndarray):
    """Chain rule from G = ∂L/∂Â (N×K) to (∂L/∂Q, ∂L/∂w) (§6.3, Lemma 1).

    ∂L/∂w_{h,k} = s^h_kᵀ G_k and ∇_{Q_h} L = Σ_k w_{h,k} V_N J(s^h_k) G_k v_kᵀ, with the softmax
    Jacobian J(s) = diag(s) − s sᵀ; note J(s^h_k) G_k = s^h_k ⊙ G_k − s^h_k (∂L/∂w_{h,k}).
    """
    H, N, K = S.shape
    d = problem.d
    gw = np.einsum("hnk,nk->hk", S, G, optimize=False)                  # (H, K)  # pragma: no mutate (equivalent: as in _ahat)
    R = G[None, :, :] - gw[:, None, :]
    R *= S                                                                # J(s^h_k) G_k
    R *= w[:, None, :]
    M = (R.reshape(H * N, K) @ problem.VT).reshape(H, N, d)               # R_h Vᵀ, one GEMM
    gQ = np.matmul(problem.VN, M)                                         # V_N R_h Vᵀ, (H, d, d)
    return gQ, gw


def _population(problem: Problem, Q: np.ndarray, w: np.ndarray, D: np.ndarray | None = None):
    """Unvalidated core of :func:`population_loss_and_grad` (the training loop's hot path); ``D`` are the
    scores :func:`head_scores` if already computed (they are overwritten)."""
    S = _softmax(head_scores(problem, Q) if D is None else D)
    delta = _ahat(S, w) - problem.A
    G = problem.Zbar2 @ delta
    loss = 0.5 * float(np.sum(delta * G)) + problem.L_star
    gQ, gw = grad_from_dA(problem, S, w, G)
    return loss, gQ, gw


def _empirical(problem: Problem, Q: np.ndarray, w: np.ndarray, y: np.ndarray, D: np.ndarray | None = None):
    """Unvalidated core of :func:`empirical_loss_and_grad` (the training loop's hot path)."""
    n = y.shape[0]
    S = _softmax(head_scores(problem, Q) if D is None else D)
    yP = y[:, : problem.N]
    r = yP @ _ahat(S, w) - y                                              # residuals (n, K)
    G = (yP.T @ r) / n                                                    # ∂loss/∂Â
    gQ, gw = grad_from_dA(problem, S, w, G)
    return 0.5 * float(np.sum(r * r)) / n, gQ, gw


def population_loss_and_grad(problem: Problem, Q, w):
    """(L(θ), ∂L/∂Q, ∂L/∂w) exactly, from Lemma 5 (eq. 36) and §6.3 in one pass.

    L(θ) = ½ ‖Z̄(Â(θ) − A)‖_F² + L⋆ and ∂L/∂Â = Z̄²(Â − A).
    """
    Q, w = check_params(problem, Q, w)
    D = _checked_scores(problem, Q)
    with np.errstate(over="ignore", invalid="ignore"):
        loss, gQ, gw = _population(problem, Q, w, D)
    _finite(loss, "the loss")
    return loss, _finite(gQ, "the gradient"), _finite(gw, "the gradient")


def population_loss(problem: Problem, Q, w) -> float:
    """The exact population loss L(θ) = ½ E Σ_k (ŷ_k − y_k)² in closed form (Lemma 5, eq. 36):

    L(θ) = ½ Σ_k ‖Z̄(â_k(θ) − a_k)‖² + L⋆, with A from eq. (34) and L⋆ = ½ Σ_{k>N} c'_k.
    """
    Q, w = check_params(problem, Q, w)
    with np.errstate(over="ignore", invalid="ignore"):
        delta = _ahat(_softmax(_checked_scores(problem, Q)), w) - problem.A
        return _finite(0.5 * float(np.sum(delta * (problem.Zbar2 @ delta))) + problem.L_star, "the loss")


def population_grad(problem: Problem, Q, w):
    """Exact gradients (∂L/∂Q of shape (H, d, d), ∂L/∂w of shape (H, K)) of the population loss (§6.3)."""
    _, gQ, gw = population_loss_and_grad(problem, Q, w)
    return gQ, gw


def empirical_loss_and_grad(problem: Problem, Q, w, y):
    """Mean over prompts of ½ Σ_{k=1}^K (ŷ_k − y_k)², and its exact gradient (gQ, gw).

    ``y`` has shape (n, K): all K labels of n prompts (the first N form each prompt). The per-prompt
    gradient is that of §6.3 with ∂ℓ/∂Â = y_P (ŷ − y)ᵀ; it is averaged over the n prompts.
    Returns ``(loss, gQ, gw)``.
    """
    Q, w = check_params(problem, Q, w)
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("y must be a real array of shape (n, K)") from None
    if y.ndim != 2 or y.shape[1] != problem.K or y.shape[0] < 1:
        raise ValueError(f"y must have shape (n, K) with K = {problem.K} (all labels of n prompts), got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite entries")
    D = _checked_scores(problem, Q)
    with np.errstate(over="ignore", invalid="ignore"):
        loss, gQ, gw = _empirical(problem, Q, w, y, D)
    _finite(loss, "the loss")
    return loss, _finite(gQ, "the gradient"), _finite(gw, "the gradient")


def sample_prompts(problem: Problem, n: int, *, rng, lam_mean=0.0, lam_std=1.0):
    """Draw n tasks and their noisy labels (eq. 1): returns ``(lam, y)`` of shapes (n, m) and (n, K).

    λ ~ N(lam_mean·1, lam_std² I_m) (training: N(0, I); the paper's out-of-domain tasks: mean 1,
    std 2) and y_k = λᵀ(f(v_k) + ε_k) with ε_k ~ N(0, τ I_m) i.i.d. Given λ, the noise λᵀε_k is
    N(0, τ‖λ‖²) and independent across k, so it is drawn in that form (exactly the same law, without
    materialising the m×K noise matrix of every prompt). ``rng`` is a ``numpy.random.Generator``.
    """
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
        raise ValueError(f"n (number of prompts) must be a positive integer, got {n!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (e.g. np.random.default_rng(0))")
    for name, val in (("lam_mean", lam_mean), ("lam_std", lam_std)):
        if not np.all(np.isfinite(np.asarray(val, dtype=float))):
            raise ValueError(f"{name} must be finite, got {val!r}")
    if np.any(np.asarray(lam_std) < 0):
        raise ValueError(f"lam_std must be ≥ 0, got {lam_std!r}")
    lam = lam_mean + lam_std * rng.standard_normal((n, problem.m))
    noise_sd = np.sqrt(problem.tau) * np.linalg.norm(lam, axis=1, keepdims=True)
    y = lam @ problem.Zt + noise_sd * rng.standard_normal((n, problem.K))
    return lam, y


def init_params(problem: Problem, H: int, *, rng, beta: float = 1.0):
    """The paper's initialization: Q_h(0) with i.i.d. N(0, β²) entries and w(0) = 0 (Prop. 1, §3).

    Returns ``(Q0, w0)`` of shapes (H, d, d) and (H, K).
    """
    if not isinstance(H, (int, np.integer)) or isinstance(H, bool) or H < 1:
        raise ValueError(f"H (number of heads) must be a positive integer, got {H!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (e.g. np.random.default_rng(0))")
    if not np.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta (initialization scale, Prop. 1) must be finite and > 0, got {beta!r}")
    Q0 = beta * rng.standard_normal((H, problem.d, problem.d))
    return Q0, np.zeros((H, problem.K))

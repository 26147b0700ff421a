"""The one-layer multi-head softmax model (eq. 8), its exact population loss (Lemma 5) and gradients (§6.3).

Shapes: ``Q`` is (H, d, d), ``w`` is (H, K). The attention scores of head h for all tokens are
``V_Nᵀ Q_h V`` (N×K); ``S[h, :, k] = softmax(V_Nᵀ Q_h v_k) = s^h_k`` (eq. 13).

Every product is batched over heads in one BLAS call, in the cheapest order: V_Nᵀ Q_h first
(N·d² per head) and then times V (N·d·K per head), never Q_h V (d²·K per head). The backward pass
reuses the forward order in reverse. No Python loop runs over heads, tokens or prompts.
"""
from __future__ import annotations

import numpy as np

from . import _fused
from ._validate import check_int, check_params, check_rng, prompt_labels
from .problem import Problem

__all__ = [
    "head_scores", "ProblemArrays", "softmax", "softmax_weights", "attention_weights", "predict",
    "population_loss", "population_grad", "population_loss_and_grad", "empirical_loss_and_grad",
    "grad_from_dA", "init_params", "B_matrices", "weights_for_target", "excess_loss",
    "sign_cone_distance2", "one_head_gap_floor", "best_output_weights", "fitted_linear_smoother",
    "attended_tokens",
]


class ProblemArrays:
    """The arrays of a problem that the loss and gradient read (V, V_N and their transposes, Z̄², A), in another
    floating-point type: the fast path of training in float32 (``dtype=np.float32`` of
    :func:`iclbook.training.train_adam`). Sizes and L⋆ are copied; nothing is validated again.

    Derived and checked in ``book/ch09_heads``.
    """

    def __init__(self, problem: Problem, dtype):
        for name in ("V", "VT", "VN", "VNT", "Zbar2", "A"):
            setattr(self, name, np.ascontiguousarray(getattr(problem, name), dtype=dtype))
        self.N, self.K, self.d, self.L_star = problem.N, problem.K, problem.d, problem.L_star
        self.dtype = np.dtype(dtype)


def head_scores(problem: Problem, Q: np.ndarray) -> np.ndarray:
    """Attention scores D[h] = V_Nᵀ Q_h V of every head for every token, shape (H, N, K) (eq. 8).

    V_Nᵀ Q_h for every head (batched), then one GEMM with V for all heads at once.

    Derived and checked in ``book/ch02_transformer``.
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

    Derived and checked in ``book/ch02_transformer``.
    """
    Q = check_params(problem, Q)
    return _softmax(_checked_scores(problem, Q))


def softmax(x, axis: int = -1) -> np.ndarray:
    """softmax over ``axis``, shifted by the maximum (the map of eq. 8 and Lemma 2); returns a new float64 array.

    Derived and checked in ``book/ch02_transformer``.
    """
    return _softmax(np.array(x, dtype=np.float64), axis=axis)


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
    """Â(θ) of shape (N, K): column k is â_k = Σ_h w_{h,k} softmax(V_Nᵀ Q_h v_k) (eqs. 8, 35).

    Derived and checked in ``book/ch02_transformer``.
    """
    Q, w = check_params(problem, Q, w)
    with np.errstate(over="ignore", invalid="ignore"):  # pragma: no mutate (equivalent: einsum reports no floating-point errors and the scores are checked before; a guard only)
        return _finite(_ahat(_softmax(_checked_scores(problem, Q)), w), "Â(θ)")


def predict(problem: Problem, Q, w, y) -> np.ndarray:
    """Predictions ŷ = Â(θ)ᵀ y of all K labels from the N prompt labels (eq. 8).

    y of shape (N,) gives (K,); (n, N) gives (n, K). Arrays that hold all K labels ((K,) or (n, K))
    are accepted too: only the first N, the prompt, are read.

    Derived and checked in ``book/ch02_transformer``.
    """
    yP, one = prompt_labels(problem, y)
    with np.errstate(over="ignore", invalid="ignore"):
        out = _finite(yP @ attention_weights(problem, Q, w), "the prediction ŷ")
    return out[0] if one else out


def B_matrices(problem: Problem, Q) -> np.ndarray:
    """B_k = Z̄ C_k with C_k = (s^1_k, …, s^H_k), stacked as shape (K, N, H) (§6.4).

    Derived and checked in ``book/ch07_initialization``.
    """
    S = softmax_weights(problem, Q)
    H, N, K = S.shape
    ZS = problem.Zbar @ S.transpose(1, 0, 2).reshape(N, H * K)            # one GEMM: Z̄ s^h_k for all h, k
    return np.ascontiguousarray(ZS.reshape(N, H, K).transpose(2, 0, 1))


def grad_from_dA(problem: Problem, S: np.ndarray, w: np.ndarray, G: np.ndarray):
    """Chain rule from G = ∂L/∂Â (N×K) to (∂L/∂Q, ∂L/∂w) (§6.3, Lemma 1).

    ∂L/∂w_{h,k} = s^h_kᵀ G_k and ∇_{Q_h} L = Σ_k w_{h,k} V_N J(s^h_k) G_k v_kᵀ, with the softmax
    Jacobian J(s) = diag(s) − s sᵀ; note J(s^h_k) G_k = s^h_k ⊙ G_k − s^h_k (∂L/∂w_{h,k}).

    Derived and checked in ``book/ch05_gradients``.
    """
    return _grad_from_dA(problem, np.array(S), w, G)


def _grad_from_dA(problem, S: np.ndarray, w: np.ndarray, G: np.ndarray):
    """:func:`grad_from_dA` that overwrites ``S`` (the training loops' hot path): one fused pass
    (:func:`iclbook._fused.jacobian_product`) gives ∂L/∂w and R_h = w_{h,k} J(s^h_k) G_k in place of S,
    then two GEMMs give V_N R_h Vᵀ."""
    H, N, K = S.shape
    d = problem.d
    w = np.ascontiguousarray(w, dtype=S.dtype)
    G = np.ascontiguousarray(G, dtype=S.dtype)
    gw = np.empty((H, K), dtype=S.dtype)
    _fused.jacobian_product(S, w, G, gw)                                  # S ← R, gw ← s^h_kᵀ G_k
    M = (S.reshape(H * N, K) @ problem.VT).reshape(H, N, d)               # R_h Vᵀ, one GEMM
    gQ = np.matmul(problem.VN, M)                                         # V_N R_h Vᵀ, (H, d, d)
    return gQ, gw


def _population(problem: Problem, Q: np.ndarray, w: np.ndarray, D: np.ndarray | None = None):
    """The arithmetic of :func:`population_loss_and_grad`; ``D`` are the scores :func:`head_scores` if
    already computed (they are overwritten)."""
    S = _softmax(head_scores(problem, Q) if D is None else D)
    delta = _ahat(S, w) - problem.A
    G = problem.Zbar2 @ delta
    loss = 0.5 * float(np.sum(delta * G)) + problem.L_star
    gQ, gw = _grad_from_dA(problem, S, w, G)
    return loss, gQ, gw


def _empirical(problem: Problem, Q: np.ndarray, w: np.ndarray, y: np.ndarray, D: np.ndarray | None = None):
    """The arithmetic of :func:`empirical_loss_and_grad`."""
    n = y.shape[0]
    S = _softmax(head_scores(problem, Q) if D is None else D)
    yP = y[:, : problem.N]
    r = yP @ _ahat(S, w) - y                                              # residuals (n, K)
    G = (yP.T @ r) / n                                                    # ∂loss/∂Â
    gQ, gw = _grad_from_dA(problem, S, w, G)
    return 0.5 * float(np.sum(r * r)) / n, gQ, gw


def population_loss_and_grad(problem: Problem, Q, w, *, checked: bool = True):
    """(L(θ), ∂L/∂Q, ∂L/∂w) exactly, from Lemma 5 (eq. 36) and §6.3 in one pass (derived in ``book/ch05_gradients``).

    L(θ) = ½ ‖Z̄(Â(θ) − A)‖_F² + L⋆ and ∂L/∂Â = Z̄²(Â − A).
    ``checked=False`` skips the input checks and lets non-finite values through (the training loops' hot
    path: they test the loss themselves and stop on divergence); Q and w must then be float64 arrays.
    """
    if not checked:
        return _population(problem, Q, w)
    Q, w = check_params(problem, Q, w)
    D = _checked_scores(problem, Q)
    with np.errstate(over="ignore", invalid="ignore"):
        loss, gQ, gw = _population(problem, Q, w, D)
    _finite(loss, "the loss")
    return loss, _finite(gQ, "the gradient"), _finite(gw, "the gradient")


def excess_loss(problem: Problem, Ahat) -> float:
    """½ Σ_k ‖Z̄(â_k − a_k)‖² = ½ tr((Â − A)ᵀ Z̄² (Â − A)): the loss above L⋆ of any linear smoother Â (N×K)
    (Lemma 5, eq. 36; ``book/ch04_loss``). With Â = Â(θ) it is the optimality gap L(θ) − L⋆ computed without
    the cancellation of ``population_loss − L_star``; with Â = 0 it is Δ(0) (w(0) = 0)."""
    D = np.asarray(Ahat, dtype=np.float64) - problem.A
    if D.shape != (problem.N, problem.K):
        raise ValueError(f"Ahat must have shape (N, K) = ({problem.N}, {problem.K}), got {np.shape(Ahat)}")
    return 0.5 * float(np.sum(D * (problem.Zbar2 @ D)))


def fitted_linear_smoother(problem: Problem, y) -> np.ndarray:
    """The linear smoother Â (N×K, predictions ŷ = Âᵀ y_N as in eq. 8) that fits the prompts ``y``
    (shape (n, K), all K labels) best in squared error: the least-squares solution of y_N Â ≈ y. Every
    one-layer model (eq. 8) is a linear smoother, so no model trained on these n prompts alone can have a
    smaller training loss; its population gap is :func:`excess_loss` of the result. Chapter
    ``book/ch09_heads`` compares it with Adam on a training set of n = 10 000 prompts."""
    yP, one = prompt_labels(problem, y)
    y = np.asarray(y, dtype=np.float64)
    if one or y.ndim != 2 or y.shape[1] != problem.K:
        raise ValueError(f"y must hold n prompts of all K = {problem.K} labels, shape (n, K); got {np.shape(y)}")
    if y.shape[0] < problem.N:
        raise ValueError(f"the fit needs at least N = {problem.N} prompts, got {y.shape[0]}")
    return np.linalg.lstsq(yP, y, rcond=None)[0]


def attended_tokens(problem: Problem, Q) -> np.ndarray:
    """For every token k, the number of distinct prompt positions that the H heads attend to most
    (argmax_i of s^h_k over i), shape (K,). When the softmax saturates (raw Gaussian tokens: scores of
    order ‖v‖² ≈ d) every s^h_k is one-hot to float64 precision, C_k = (s^1_k, …, s^H_k) has this many
    distinct columns, and ζ (Assumption 2) is 0 to float64 precision as soon as one token sees fewer
    than N positions (``book/ch09_heads``)."""
    S = softmax_weights(problem, Q)                                       # (H, N, K)
    top = np.argmax(S, axis=1)                                            # (H, K)
    return np.array([np.unique(top[:, k]).size for k in range(problem.K)])


def population_loss(problem: Problem, Q, w) -> float:
    """The exact population loss L(θ) = ½ E Σ_k (ŷ_k − y_k)² in closed form (Lemma 5, eq. 36):

    L(θ) = ½ Σ_k ‖Z̄(â_k(θ) − a_k)‖² + L⋆, with A from eq. (34) and L⋆ = ½ Σ_{k>N} c'_k.

    Derived and checked in ``book/ch04_loss``.
    """
    Q, w = check_params(problem, Q, w)
    with np.errstate(over="ignore", invalid="ignore"):
        Ahat = _ahat(_softmax(_checked_scores(problem, Q)), w)
        return _finite(excess_loss(problem, Ahat) + problem.L_star, "the loss")


def population_grad(problem: Problem, Q, w):
    """Exact gradients (∂L/∂Q of shape (H, d, d), ∂L/∂w of shape (H, K)) of the population loss (§6.3).

    Derived and checked in ``book/ch05_gradients``.
    """
    _, gQ, gw = population_loss_and_grad(problem, Q, w)
    return gQ, gw


def empirical_loss_and_grad(problem: Problem, Q, w, y, *, checked: bool = True):
    """Mean over prompts of ½ Σ_{k=1}^K (ŷ_k − y_k)², and its exact gradient (gQ, gw).

    ``y`` has shape (n, K): all K labels of n prompts (the first N form each prompt). The per-prompt
    gradient is that of §6.3 with ∂ℓ/∂Â = y_P (ŷ − y)ᵀ; it is averaged over the n prompts.
    Returns ``(loss, gQ, gw)``. ``checked=False`` as in :func:`population_loss_and_grad`.

    Derived and checked in ``book/ch05_gradients``.
    """
    if not checked:
        return _empirical(problem, Q, w, y)
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


def init_params(problem: Problem, H: int, *, rng, beta: float = 1.0):
    """The paper's initialization: Q_h(0) with i.i.d. N(0, β²) entries and w(0) = 0 (Prop. 1, §3).

    Returns ``(Q0, w0)`` of shapes (H, d, d) and (H, K).

    Derived and checked in ``book/ch07_initialization``.
    """
    check_int(H, "H (number of heads)")
    check_rng(rng)
    if not np.isfinite(beta) or beta <= 0:
        raise ValueError(f"beta (initialization scale, Prop. 1) must be finite and > 0, got {beta!r}")
    Q0 = beta * rng.standard_normal((H, problem.d, problem.d))
    return Q0, np.zeros((H, problem.K))


def weights_for_target(problem: Problem, Q, target=None) -> np.ndarray:
    """Output weights w with Â(Q, w) = ``target`` (default: the limit A of eq. 34), given the heads' Q.

    Column k of Â is C_k w_{:,k} with C_k = (s^1_k, …, s^H_k) (N×H, eq. 35), so w_{:,k} is the minimum-norm
    solution of C_k w_{:,k} = a_k. It reaches the target exactly when C_k has rank N, which needs H ≥ N
    (``book/ch02_transformer``: with H ≥ N heads the model can express A; Assumption 2's ζ > 0 is the same
    rank condition). Returns (H, K).
    """
    S = softmax_weights(problem, Q)                                       # (H, N, K)
    T = problem.A if target is None else np.asarray(target, dtype=np.float64)
    if T.shape != (problem.N, problem.K):
        raise ValueError(f"target must have shape (N, K) = ({problem.N}, {problem.K}), got {T.shape}")
    C = S.transpose(2, 1, 0)                                              # (K, N, H): C_k
    return np.stack([np.linalg.lstsq(C[k], T[:, k], rcond=None)[0] for k in range(problem.K)], axis=1)


def best_output_weights(problem: Problem, Q) -> np.ndarray:
    """For fixed heads Q, the output weights that minimise the loss, shape (H, K).

    By Lemma 5, L(Q, w) − L⋆ = ½ Σ_k ‖B_k w_{:,k} − Z̄ a_k‖² with B_k = Z̄ C_k (§6.4), a least-squares problem
    in each column; this returns each column's minimum-norm solution. When every B_k has full row rank (H ≥ N,
    Assumption 2) it reaches Â = A and equals :func:`weights_for_target`; otherwise the gap left is
    ½ Σ_k ‖(I − P_k) Z̄ a_k‖², P_k the projection onto the range of B_k (``book/ch04_loss``, ``book/ch09_heads``).
    """
    B = B_matrices(problem, Q)                                            # (K, N, H)
    T = problem.Zbar @ problem.A                                          # column k: Z̄ a_k
    return np.stack([np.linalg.lstsq(B[k], T[:, k], rcond=None)[0] for k in range(problem.K)], axis=1)


def _nnls(R: np.ndarray, b: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """min ‖Rx − b‖ over x ≥ 0 (Lawson & Hanson 1974, ch. 23's active-set algorithm), exact at termination."""
    n = R.shape[1]
    x, passive = np.zeros(n), np.zeros(n, dtype=bool)
    grad = R.T @ (b - R @ x)
    while (~passive).any() and grad[~passive].max() > tol * max(1.0, np.abs(grad).max()):
        j = np.flatnonzero(~passive)[np.argmax(grad[~passive])]
        passive[j] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(R[:, passive], b, rcond=None)[0]
            if z[passive].min() > 0:
                break
            neg = passive & (z <= 0)
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = x + alpha * (z - x)
            passive &= x > tol
        x = z
        grad = R.T @ (b - R @ x)
    return x


def sign_cone_distance2(a, M=None) -> float:
    """min over x in R^N_{≥0} ∪ R^N_{≤0} of (x − a)ᵀ M (x − a): the squared M-distance from ``a`` to the
    vectors whose entries all share one sign (``book/ch02_transformer``, the paper's §3.3 on one head).

    Two non-negative least-squares problems, exactly: with M = RᵀR (Cholesky), the distance to the
    non-negative orthant is min_{x ≥ 0} ‖Rx − Ra‖², and to the non-positive one min_{x ≥ 0} ‖Rx + Ra‖².
    M (symmetric positive definite) defaults to the identity.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    n = a.size
    M = np.eye(n) if M is None else np.asarray(M, dtype=np.float64)
    if M.shape != (n, n):
        raise ValueError(f"M must have shape ({n}, {n}), got {M.shape}")
    R = np.linalg.cholesky(M).T
    best = np.inf
    for sign in (1.0, -1.0):
        x = _nnls(R, sign * (R @ a))
        r = R @ (sign * x - a)
        best = min(best, float(r @ r))
    return best


def one_head_gap_floor(problem: Problem) -> float:
    """A lower bound on L(θ) − L⋆ for every θ with one head (H = 1): ½ Σ_k sign_cone_distance2(a_k, Z̄²).

    With one head, â_k = w_{1,k} softmax(V_Nᵀ Q_1 v_k) has entries of one sign, so by Lemma 5 (eq. 36) the gap
    ½ Σ_k ‖Z̄(â_k − a_k)‖² is at least the distance of each a_k to those vectors (``book/ch02_transformer``).
    """
    return 0.5 * sum(sign_cone_distance2(problem.A[:, k], problem.Zbar2) for k in range(problem.K))


"""The model and the ridge problems at small *symbolic* sizes (book Part I, ``book/ch02_transformer`` and
``book/ch03_ridge``).

Every object here is an exact sympy expression, so that a chapter can show a derivation step by step and
check it with ``sp.simplify(lhs - rhs) == 0``.

- :func:`model_symbols`, :func:`theta_symbols` — symbols for tokens v_k, prompt labels y, key–query
  matrices Q_h and output weights w_{h,k} (§2);
- :func:`embedding` — E_P = [V_N; yᵀ] (eq. 2) and E = [V; (y, 0)ᵀ] (eq. 4, the literal reading);
- :func:`attention_output`, :func:`attention_predictions` — the general multi-head attention T(E) and its
  diagonal, the predictions (eqs. 5–6);
- :func:`restricted_weights` — the restricted W^Q_h, W^K_h, W^V_h, W^O (eq. 7);
- :func:`attention_column`, :func:`eq8_predictions` — s^h_k and ŷ_k = Σ_h w_{h,k} yᵀ s^h_k (eq. 8);
- :func:`ridge_objective`, :func:`ridge_solution` — eqs. (20) and (25) with a penalty ``reg`` (mτ or Nτ);
- :func:`gaussian_log_posterior` — the log posterior of λ ~ N(0, I) under homoscedastic Gaussian label
  noise, whose maximiser (= mean) is ridge (chapter 3's Bayesian reading).
"""
from __future__ import annotations

import sympy as sp

from .core import softmax, symbol_matrix, symbol_vector

__all__ = [
    "model_symbols", "theta_symbols", "attention_column", "embedding", "restricted_weights", "attention_output",
    "attention_predictions", "eq8_predictions", "ridge_objective", "ridge_solution", "gaussian_log_posterior",
]


def model_symbols(d: int, N: int, K: int, H: int) -> dict:
    """Symbols of the model at sizes (d, N, K, H) (paper §2; ``book/ch02_transformer``).

    Returns a dict with ``V`` (d×K, column k the token v_k), ``y`` (N×1, the prompt labels), ``Q`` (a list
    of H d×d matrices Q_h) and ``w`` (H×K, entry (h, k) the output weight w_{h,k}), from :func:`theta_symbols`.
    """
    if not (1 <= N < K):
        raise ValueError(f"need 1 ≤ N < K, got N = {N}, K = {K}")
    V = symbol_matrix("v", d, K)
    y = symbol_vector("y", N)
    Q, w = theta_symbols(d, K, H)
    return {"V": V, "y": y, "Q": Q, "w": w, "d": d, "N": N, "K": K, "H": H}


def theta_symbols(d: int, K: int, H: int):
    """Symbolic parameters θ (eq. 8; ``book/ch02_transformer``): a list of H matrices Q_h (d×d, symbols
    q^{(h)}_{ab}) and w (H×K, symbols w_{h,k})."""
    Q = [symbol_matrix(f"q^{{({h + 1})}}", d, d) for h in range(H)]
    w = sp.Matrix(H, K, lambda h, k: sp.Symbol(f"w_{{{h + 1},{k + 1}}}", real=True))
    return Q, w


def attention_column(VN: sp.Matrix, Qh: sp.Matrix, vk: sp.Matrix) -> sp.Matrix:
    """s^h_k = softmax(V_Nᵀ Q_h v_k) ∈ R^N: head h's attention of token k over the N prompt positions
    (eqs. 8, 13; ``book/ch02_transformer``)."""
    return softmax(VN.T * Qh * vk)


def embedding(V: sp.Matrix, y: sp.Matrix, N: int):
    """E_P = [V_N; yᵀ] ∈ R^{(d+1)×N} (eq. 2) and E = [V; (y₁, …, y_N, 0, …, 0)] ∈ R^{(d+1)×K} (eq. 4).

    E is the book's reading of eq. (4) (``book/ch02_transformer``): the whole dictionary, with a zero in the
    label slot of the K − N unlabelled tokens.
    """
    K = V.shape[1]
    EP = V[:, :N].col_join(y.T)
    labels = sp.Matrix(1, K, lambda _, k: y[k] if k < N else sp.Integer(0))
    return EP, V.col_join(labels)


def restricted_weights(Q: list, w: sp.Matrix, d: int, K: int):
    """The restricted weights of eq. (7), with d_e = d + 1:

    W^K_h = I_{d+1}, W^Q_h = [[Q_h, 0], [0, 0]] (so (W^K_h)ᵀ W^Q_h = [[Q_h, 0], [0, 0]]),
    W^V_h = (0_{K×d}, 1_K) and W^O = (diag(w_1), …, diag(w_H)). Returns (WQ, WK, WV, WO) with lists for
    the per-head matrices. (The exact matrices are the book's reconstruction, ``book/ch02_transformer``; only Q_h and
    w_h are trained, which the paper states.)
    """
    H = len(Q)
    WQ = [sp.diag(Qh, sp.Integer(0)) for Qh in Q]
    WK = [sp.eye(d + 1) for _ in range(H)]
    WV = [sp.zeros(K, d).row_join(sp.ones(K, 1)) for _ in range(H)]
    WO = sp.Matrix.hstack(*[sp.diag(*[w[h, k] for k in range(K)]) for h in range(H)])
    return WQ, WK, WV, WO


def attention_output(EP, E, WQ, WK, WV, WO) -> sp.Matrix:
    """T(E) = W^O [head_1(E); …; head_H(E)], head_h(E) = W^V_h E_P softmax((W^K_h E_P)ᵀ (W^Q_h E))
    (eqs. 5–6; ``book/ch02_transformer``)."""
    heads = [Wv * EP * softmax((Wk * EP).T * (Wq * E)) for Wq, Wk, Wv in zip(WQ, WK, WV)]
    return WO * sp.Matrix.vstack(*heads)


def attention_predictions(EP, E, WQ, WK, WV, WO) -> sp.Matrix:
    """The predictions ŷ_k = T(E)_{kk} of the attention layer with any weights, as a K×1 matrix (§2, eqs. 5–6;
    ``book/ch02_transformer``). With the weights of eq. (7) they are eq. (8) (:func:`eq8_predictions`)."""
    T = attention_output(EP, E, WQ, WK, WV, WO)
    return sp.Matrix([T[k, k] for k in range(T.shape[0])])


def eq8_predictions(V: sp.Matrix, y: sp.Matrix, Q: list, w: sp.Matrix, N: int) -> sp.Matrix:
    """ŷ_k = Σ_h w_{h,k} yᵀ softmax(V_Nᵀ Q_h v_k), k = 1..K (eq. 8; ``book/ch02_transformer``), as a K×1 matrix."""
    K = V.shape[1]
    VN = V[:, :N]
    out = []
    for k in range(K):
        tot = sp.Integer(0)
        for h, Qh in enumerate(Q):
            tot += w[h, k] * (y.T * attention_column(VN, Qh, V[:, k]))[0, 0]
        out.append(tot)
    return sp.Matrix(out)


def ridge_objective(Z: sp.Matrix, y: sp.Matrix, lam: sp.Matrix, reg):
    """J(λ) = (1/2N) Σ_i (y_i − λᵀ z_i)² + (reg/2N) ‖λ‖² (eqs. 20 and 25; reg = mτ gives (20), reg = Nτ gives
    (25); ``book/ch03_ridge``)."""
    N = Z.shape[1]
    r = y - Z.T * lam
    return (r.T * r)[0, 0] / (2 * N) + reg * (lam.T * lam)[0, 0] / (2 * N)


def ridge_solution(Z: sp.Matrix, y: sp.Matrix, reg) -> sp.Matrix:
    """The closed form λ̂ = (Z Zᵀ + reg·I_m)⁻¹ Z y (eqs. 20, 25; ``book/ch03_ridge``)."""
    m = Z.shape[0]
    return (Z * Z.T + reg * sp.eye(m)).inv() * Z * y


def gaussian_log_posterior(Z: sp.Matrix, y: sp.Matrix, lam: sp.Matrix, sigma2):
    """log p(λ | y) up to a constant for λ ~ N(0, I_m) and y_i = λᵀ z_i + ξ_i, ξ_i ~ N(0, σ²) i.i.d.

    = −‖y − Zᵀλ‖²/(2σ²) − ‖λ‖²/2. (Homoscedastic: σ² does not depend on λ. The paper's label noise λᵀε_i
    has variance τ‖λ‖², which does; chapter 3 says exactly when this model applies.)
    """
    r = y - Z.T * lam
    return -(r.T * r)[0, 0] / (2 * sigma2) - (lam.T * lam)[0, 0] / 2

"""The general one-layer multi-head softmax attention on the embedding
matrix (eqs. 2–7).

This is the architecture as the paper describes it before the parameter
restriction: a direct, unoptimised implementation kept for
``book/ch02_transformer`` and for the test that diag(T(E)) under the
restricted weights (eq. 7) equals the fast prediction formula (eq. 8) of
:func:`iclbook.model.predict`.
"""
from __future__ import annotations

import numpy as np

from ._validate import check_params, prompt_labels
from .model import softmax
from .problem import Problem

__all__ = ["embed", "multihead_attention", "attention_predictions",
           "restricted_weights", "transformer_predict"]


def embed(problem: Problem, y) -> tuple[np.ndarray, np.ndarray]:
    """The prompt embedding E_P = [V_N; yᵀ] ∈ R^{(d+1)×N} (eq. 2) and
    E = [V; (y, 0)ᵀ] ∈ R^{(d+1)×K} (eq. 4).

    ``y`` holds the N prompt labels (shape (N,) or (K,), only the first
    N are read). E lists the whole dictionary with a zero label slot for
    the K − N unlabelled tokens (the book's reading of eq. 4,
    ``book/ch02_transformer``; the other reading gives the same
    prediction).
    """
    yP, one = prompt_labels(problem, y)
    if not one:
        raise ValueError("embed takes the labels of one prompt, "
                         "shape (N,) or (K,)")
    yP = yP[0]
    slot = np.concatenate([yP, np.zeros(problem.K - problem.N)])
    EP = np.vstack([problem.VN, yP[None, :]])
    E = np.vstack([problem.V, slot[None, :]])
    return EP, E


def multihead_attention(EP, E, WQ, WK, WV, WO) -> np.ndarray:
    """T(E) = W^O [head_1(E); …; head_H(E)] with
    head_h(E) = W^V_h E_P softmax((W^K_h E_P)ᵀ (W^Q_h E)) (eqs. 5–6;
    ``book/ch02_transformer``).

    Shapes: E_P (d+1, N), E (d+1, K), W^Q_h and W^K_h (H, d_e, d+1),
    W^V_h (H, K, d+1), W^O (K, H·K). The softmax is column-wise, over the
    N prompt positions. Returns T(E) of shape (K, K); the model's
    predictions are its diagonal (§2). A plain loop over heads: this is
    the reference, not the fast path.
    """
    heads = []
    for Wq, Wk, Wv in zip(WQ, WK, WV):
        scores = (Wk @ EP).T @ (Wq @ E)                         # (N, K)
        heads.append(Wv @ EP @ softmax(scores, axis=0))         # (K, K)
    return WO @ np.vstack(heads)


def attention_predictions(EP, E, WQ, WK, WV, WO) -> np.ndarray:
    """The predictions ŷ_k = T(E)_{kk}, k = 1..K, of the attention layer
    with any weights (§2, eqs. 5–6; ``book/ch02_transformer``).

    Arguments as in :func:`multihead_attention`; returns shape (K,). With
    the restricted weights of eq. (7) this is eq. (8); chapter 2's second
    exercise feeds it weights outside eq. (7).
    """
    return np.diag(multihead_attention(EP, E, WQ, WK, WV, WO)).copy()


def restricted_weights(problem: Problem, Q, w):
    """The paper's restricted weights (eq. 7) built from (Q, w), with
    d_e = d + 1 (``book/ch02_transformer``).

    W^K_h = I_{d+1} and W^Q_h = [[Q_h, 0], [0, 0]], so
    (W^K_h)ᵀ W^Q_h = [[Q_h, 0], [0, 0]] (labels do not enter the scores);
    W^V_h = (0_{K×d}, 1_K) (every row reads the label slot);
    W^O = (diag(w_1), …, diag(w_H)). Returns (WQ, WK, WV, WO).
    """
    Q, w = check_params(problem, Q, w)
    H, d, _ = Q.shape
    K = problem.K
    WQ = np.zeros((H, d + 1, d + 1))
    WQ[:, :d, :d] = Q
    WK = np.broadcast_to(np.eye(d + 1), (H, d + 1, d + 1)).copy()
    WV = np.zeros((H, K, d + 1))
    WV[:, :, d] = 1.0
    WO = np.hstack([np.diag(w[h]) for h in range(H)])
    return WQ, WK, WV, WO


def transformer_predict(problem: Problem, Q, w, y) -> np.ndarray:
    """ŷ = diag(T(E)) computed through the general architecture with the
    restricted weights (eqs. 5–7; ``book/ch02_transformer``).

    Must equal :func:`iclbook.predict` (eq. 8); y is one prompt's labels,
    shape (N,) or (K,).
    """
    EP, E = embed(problem, y)
    return attention_predictions(EP, E,
                                 *restricted_weights(problem, Q, w))

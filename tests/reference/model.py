"""The prompt embedding (eq. 4), the general one-layer multi-head attention (eqs. 5–7) and the model of eq. (8).

Two independent routes to the same predictions, both applied to one prompt at a time:

* :func:`architecture_predict_one_prompt` builds the embedding E and the restricted weight matrices of eq. (7)
  and reads the predictions off the diagonal of T(E) (eqs. 5–6);
* :func:`eq8_predict_one_prompt` evaluates ŷ_k = Σ_h w_{h,k} Σ_i softmax_i(v_iᵀ Q_h v_k) y_i term by term.

:func:`predict_prompts` is the many-prompt form used by the loss and by Monte Carlo: the attention weights
do not depend on the labels, so they are computed once and applied to every prompt.
"""
import numpy as np


def softmax(x):
    """softmax(x)_i = exp(x_i) / Σ_j exp(x_j) for a vector x (shifted by max x, which does not change it)."""
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def embedding(V, N, y_prompt):
    """E = [v_1 … v_K ; y_1 … y_N 0 … 0] ∈ R^{(d+1)×K} (eq. 4): every token of the dictionary as a column,
    with its label below it for the N prompt tokens and 0 for the K − N unlabelled ones.
    E_P (eq. 2) is its first N columns."""
    d, K = V.shape
    E = np.zeros((d + 1, K))
    for k in range(K):
        E[:d, k] = V[:, k]
        if k < N:
            E[d, k] = y_prompt[k]
    return E


def restricted_weights(Q, w):
    """The weights of eq. (7) for parameters (Q, w), with d_e = d + 1:

    W^K_h = I_{d+1}, W^Q_h = [[Q_h, 0], [0, 0]] (so (W^K_h)ᵀ W^Q_h = [[Q_h, 0], [0, 0]]: labels do not enter
    the scores); W^V_h = (0_{K×d}, 1_K) (each row reads the label slot); W^O = (diag(w_1), …, diag(w_H)).
    Returns lists WQ, WK, WV (one matrix per head) and the K × HK matrix WO.
    """
    H, d, _ = Q.shape
    K = w.shape[1]
    WQ, WK, WV = [], [], []
    for h in range(H):
        wq = np.zeros((d + 1, d + 1))
        wq[:d, :d] = Q[h]
        WQ.append(wq)
        WK.append(np.eye(d + 1))
        wv = np.zeros((K, d + 1))
        wv[:, d] = 1.0
        WV.append(wv)
    WO = np.zeros((K, H * K))
    for h in range(H):
        for k in range(K):
            WO[k, h * K + k] = w[h, k]
    return WQ, WK, WV, WO


def architecture_predict_one_prompt(V, N, Q, w, y_prompt):
    """ŷ = diag(T(E)) with T(E) = W^O [head_1(E); …; head_H(E)] and
    head_h(E) = W^V_h E_P softmax((W^K_h E_P)ᵀ (W^Q_h E)), the softmax taken column by column (eqs. 5–7)."""
    E = embedding(V, N, y_prompt)
    EP = E[:, :N]
    K = V.shape[1]
    WQ, WK, WV, WO = restricted_weights(Q, w)
    heads = []
    for h in range(len(WQ)):
        scores = (WK[h] @ EP).T @ (WQ[h] @ E)                 # N × K
        attn = np.zeros_like(scores)
        for k in range(K):
            attn[:, k] = softmax(scores[:, k])
        heads.append(WV[h] @ EP @ attn)                       # K × K
    T = WO @ np.vstack(heads)                                 # K × K
    return np.array([T[k, k] for k in range(K)])


def eq8_predict_one_prompt(V, N, Q, w, y_prompt):
    """ŷ_k = Σ_h w_{h,k} Σ_{i ≤ N} s^h_{ik} y_i with s^h_{·k} = softmax over i of v_iᵀ Q_h v_k (eq. 8)."""
    H = Q.shape[0]
    K = V.shape[1]
    y_hat = np.zeros(K)
    for k in range(K):
        for h in range(H):
            scores = np.array([V[:, i] @ Q[h] @ V[:, k] for i in range(N)])
            s = softmax(scores)
            y_hat[k] += w[h, k] * sum(s[i] * y_prompt[i] for i in range(N))
    return y_hat


def head_softmax(V, N, Qh):
    """S of shape (N, K) for one head: column k is s_k = softmax over the N prompt positions of the scores
    (v_iᵀ Q_h v_k)_{i ≤ N}."""
    scores = V[:, :N].T @ Qh @ V                              # scores[i, k] = v_iᵀ Q_h v_k
    e = np.exp(scores - scores.max(axis=0))                   # the softmax of every column at once
    return e / e.sum(axis=0)


def attention_softmaxes(V, N, Q):
    """[S_1, …, S_H]: the (N, K) softmax matrices of every head (:func:`head_softmax`)."""
    return [head_softmax(V, N, Q[h]) for h in range(Q.shape[0])]


def label_weights(S, w):
    """The N × K matrix whose column k holds the weight each prompt label gets in ŷ_k:
    Σ_h w_{h,k} s^h_k (eq. 8 read as ŷ_k = Σ_i (Σ_h w_{h,k} s^h_{ik}) y_i)."""
    out = np.zeros_like(S[0])
    for h in range(len(S)):
        out += S[h] * w[h][None, :]
    return out


def predict_prompts(V, N, Q, w, Y):
    """Predictions of eq. (8) for many prompts: Y has shape (n, N) or (n, K) (only the first N labels, the
    prompt, are read); returns (n, K). The softmaxes depend on Q only, so they are computed once."""
    W = label_weights(attention_softmaxes(V, N, Q), w)
    return np.asarray(Y)[:, :N] @ W

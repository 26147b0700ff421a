"""The empirical loss ½ Σ_k (ŷ_k − y_k)², averaged over prompts, and its gradient in (Q, w) by hand.

The chain rule, for one prompt with labels y (y_P its first N) and residuals r_k = ŷ_k − y_k:

* ŷ_k = Σ_h w_{h,k} s^h_kᵀ y_P, so ∂ℓ/∂w_{h,k} = r_k s^h_kᵀ y_P;
* s^h_k = softmax(u^h_k) with u^h_{ik} = v_iᵀ Q_h v_k; the softmax Jacobian is J(s) = diag(s) − s sᵀ and
  ∂u^h_{ik}/∂Q_h = v_i v_kᵀ, so ∂ℓ/∂Q_h = Σ_k r_k w_{h,k} Σ_i (J(s^h_k) y_P)_i v_i v_kᵀ
  = Σ_k r_k w_{h,k} V_N J(s^h_k) y_P v_kᵀ.

Averaging over prompts, both gradients only need g_k := mean over prompts of r_k y_P ∈ R^N, accumulated
prompt by prompt below: ∂L/∂w_{h,k} = s^h_kᵀ g_k and ∂L/∂Q_h = Σ_k w_{h,k} V_N J(s^h_k) g_k v_kᵀ.
"""
import numpy as np

from .model import attention_softmaxes, label_weights


def empirical_loss(V, N, Q, w, Y):
    """Mean over the prompts (rows of Y, all K labels each) of ½ Σ_k (ŷ_k − y_k)²."""
    W = label_weights(attention_softmaxes(V, N, Q), w)
    total = 0.0
    for y in Y:
        r = W.T @ y[:N] - y
        total += 0.5 * float(r @ r)
    return total / len(Y)


def empirical_loss_and_grad(V, N, Q, w, Y):
    """(loss, ∂loss/∂Q of shape (H, d, d), ∂loss/∂w of shape (H, K)) for the prompts Y of shape (n, K)."""
    H = Q.shape[0]
    K = V.shape[1]
    n = len(Y)
    VN = V[:, :N]
    S = attention_softmaxes(V, N, Q)
    W = label_weights(S, w)

    loss = 0.0
    g = np.zeros((N, K))                                      # column k: mean over prompts of r_k y_P
    for y in Y:
        yP = y[:N]
        r = W.T @ yP - y
        loss += 0.5 * float(r @ r)
        g += np.outer(yP, r)                                  # column k: r_k y_P
    loss /= n
    g /= n

    gQ = np.zeros_like(Q)
    gw = np.zeros_like(w)
    for h in range(H):
        s_dot_g = np.sum(S[h] * g, axis=0)                   # s^h_kᵀ g_k for every k
        gw[h] = s_dot_g
        J_g = S[h] * g - S[h] * s_dot_g[None, :]              # column k: J(s^h_k) g_k = s ⊙ g_k − s (sᵀ g_k)
        U = J_g * w[h][None, :]                               # column k: w_{h,k} J(s^h_k) g_k
        gQ[h] = VN @ U @ V.T                                  # Σ_k V_N U[:, k] v_kᵀ
    return loss, gQ, gw

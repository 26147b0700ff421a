"""The paper's experimental protocol (§4): data (eq. 1), Adam on mini-batches, population and inference losses.

* :func:`draw_prompts`: λ ~ N(μ1, σ²I_m) and y_k = λᵀ(z_k + ε_k) with ε_k ~ N(0, τ I_m) drawn explicitly,
  one m-vector per token and prompt.
* :func:`train_adam`: w(0) = 0, Adam (Kingma & Ba) on the mean mini-batch loss, given the training labels and
  the batch order. Training sees the labels only; Z̃ and τ enter through the data.
* :func:`population_loss_monte_carlo`: L(θ) = ½ E Σ_k (ŷ_k − y_k)² (eq. 9) by averaging over fresh prompts.
* :func:`ridge_limit_prediction` and :func:`inference_loss`: ŷ⋆ of Theorem 2 (the first N labels copied,
  ridge with penalty mτ for the rest, eq. 20) and the paper's inference loss (1/K)‖ŷ − ŷ⋆‖².
"""
import numpy as np

from .adam import Adam
from .loss import empirical_loss_and_grad
from .model import attention_softmaxes, label_weights, predict_prompts


def draw_prompts(Zt, tau, n, rng, lam_mean=0.0, lam_std=1.0):
    """n prompts of eq. (1): returns (lam of shape (n, m), Y of shape (n, K)). All K labels are noisy."""
    m, K = Zt.shape
    lam = lam_mean + lam_std * rng.standard_normal((n, m))
    eps = np.sqrt(tau) * rng.standard_normal((n, m, K))      # ε_k ~ N(0, τ I_m), per prompt and token
    Y = np.einsum("pm,pmk->pk", lam, Zt[None, :, :] + eps)   # y_k = λᵀ(z_k + ε_k)
    return lam, Y


def train_adam(V, N, H, Q0, Y_train, batches, lr, steps, betas=(0.9, 0.999), eps=1e-8, keep=None):
    """Adam from (Q0, w = 0) for ``steps`` steps; step t (1-based) uses the prompts ``Y_train[batches[t-1]]``.

    Returns a dict: ``loss`` (the mini-batch loss of each step, at the parameters before the step, shape
    (steps,)), and ``Q``, ``w``: dicts step → parameters after that many steps, for every step in ``keep``
    (default: all, 0 … steps).
    """
    K = V.shape[1]
    Q = np.array(Q0, dtype=float)
    assert Q.shape == (H, V.shape[0], V.shape[0])
    w = np.zeros((H, K))
    keep = set(range(steps + 1)) if keep is None else set(keep)
    opt = Adam(lr=lr, beta1=betas[0], beta2=betas[1], eps=eps)
    out = {"loss": np.zeros(steps), "Q": {}, "w": {}}
    if 0 in keep:
        out["Q"][0], out["w"][0] = Q.copy(), w.copy()
    for t in range(1, steps + 1):
        loss, gQ, gw = empirical_loss_and_grad(V, N, Q, w, Y_train[batches[t - 1]])
        out["loss"][t - 1] = loss
        Q, w = opt.step([Q, w], [gQ, gw])
        if t in keep:
            out["Q"][t], out["w"][t] = Q.copy(), w.copy()
    return out


def population_loss_monte_carlo(V, Zt, N, tau, Q, w, n, rng, chunk=20_000, control_variate=True):
    """Monte Carlo estimate of L(θ) = ½ E Σ_k (ŷ_k − y_k)² over n fresh prompts (λ ~ N(0, I_m), eq. 1).

    Returns (estimate, its standard error). Prompts are drawn ``chunk`` at a time.

    With ``control_variate`` (default), each prompt's loss is paired with the loss of the same prompt without
    noise, ℓ⁰ = ½ Σ_k (ŷ_k(y⁰) − y⁰_k)² with y⁰_k = λᵀz_k, whose mean is known exactly: ℓ⁰ = ½‖Mᵀλ‖² with
    M = Z W − Z̃ (W the label weights of eq. 8, Z the first N columns of Z̃), so E ℓ⁰ = ½‖M‖_F² by
    E[λλᵀ] = I_m alone. The estimate is mean(ℓ − ℓ⁰) + ½‖M‖_F²: unbiased, and with a much smaller variance
    when the noise is small, because ℓ and ℓ⁰ share the fluctuations of λ. Everything that involves the
    noise (where Lemma 5's work lies) is still averaged by Monte Carlo. Without it: the plain mean of ℓ.
    """
    W = label_weights(attention_softmaxes(V, N, Q), w)
    M = Zt[:, :N] @ W - Zt                                    # noiseless residuals: ŷ⁰ − y⁰ = Mᵀλ
    per_prompt = []
    left = n
    while left > 0:
        b = min(chunk, left)
        lam, Y = draw_prompts(Zt, tau, b, rng)
        R = Y[:, :N] @ W - Y                                  # ŷ − y, eq. (8) for every prompt
        loss = 0.5 * np.sum(R * R, axis=1)
        if control_variate:
            R0 = lam @ M
            loss = loss - 0.5 * np.sum(R0 * R0, axis=1)
        per_prompt.append(loss)
        left -= b
    x = np.concatenate(per_prompt)
    known = 0.5 * float(np.sum(M * M)) if control_variate else 0.0
    return float(np.mean(x)) + known, float(np.std(x, ddof=1) / np.sqrt(n))


def ridge_limit_prediction(Zt, N, tau, y_prompt):
    """ŷ⋆ = (y_1, …, y_N, λ̂ᵀ z_{N+1}, …, λ̂ᵀ z_K) with the ridge estimate
    λ̂ = argmin (1/2N) Σ_{i ≤ N} (y_i − λᵀ z_i)² + (mτ/2N)‖λ‖² = (Z Zᵀ + mτ I_m)⁻¹ Z y_P (Theorem 2, eq. 20)."""
    m, K = Zt.shape
    Z = Zt[:, :N]
    lam_hat = np.linalg.solve(Z @ Z.T + m * tau * np.eye(m), Z @ y_prompt[:N])
    out = np.zeros(K)
    out[:N] = y_prompt[:N]
    for k in range(N, K):
        out[k] = lam_hat @ Zt[:, k]
    return out


def inference_loss(V, Zt, N, tau, Q, w, Y):
    """The paper's inference loss (§4): mean over the prompts Y of (1/K)‖ŷ − ŷ⋆‖²."""
    K = V.shape[1]
    Y_hat = predict_prompts(V, N, Q, w, Y)
    total = 0.0
    for y, y_hat in zip(Y, Y_hat):
        diff = y_hat - ridge_limit_prediction(Zt, N, tau, y)
        total += float(diff @ diff) / K
    return total / len(Y)

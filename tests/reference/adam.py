"""Adam, exactly as Algorithm 1 of Kingma & Ba (2015), "Adam: A method for stochastic optimization"."""
import numpy as np


class Adam:
    """Algorithm 1 for a list of parameter arrays. Defaults are the paper's: α = 1e-3, β1 = 0.9, β2 = 0.999,
    ε = 1e-8. ``step(params, grads)`` returns the new parameters (the inputs are not modified)."""

    def __init__(self, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0                                            # timestep
        self.m = None                                         # 1st moment vectors
        self.v = None                                         # 2nd moment vectors

    def step(self, params, grads):
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]       # m_0 ← 0
            self.v = [np.zeros_like(p) for p in params]       # v_0 ← 0
        self.t += 1                                           # t ← t + 1
        b1, b2, t = self.beta1, self.beta2, self.t
        new = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.m[i] = b1 * self.m[i] + (1 - b1) * g          # m_t ← β1 m_{t−1} + (1 − β1) g_t
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g      # v_t ← β2 v_{t−1} + (1 − β2) g_t²
            m_hat = self.m[i] / (1 - b1**t)                   # m̂_t ← m_t / (1 − β1^t)
            v_hat = self.v[i] / (1 - b2**t)                   # v̂_t ← v_t / (1 − β2^t)
            new.append(p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps))   # θ_t ← θ_{t−1} − α m̂_t/(√v̂_t + ε)
        return new

"""Fused loops of the training step, compiled by numba: Adam's update and the softmax-Jacobian product of the
backward pass, each one pass over its arrays instead of numpy's four to thirteen (README, "Performance").

The arithmetic is that of the numpy expressions they replace, operation by operation and in the same order, so
Adam's update is bit for bit the numpy one in float64 (``tests/test_numerics.py`` compares them; the gradient
tests of ``tests/test_model.py`` check the other loop against finite differences). The loops are serial: results do
not depend on a thread count, and parallel sweeps run one process per core (:mod:`iclbook.sweeps`). ``cache=True``
keeps the compiled code next to the module: only the first call on a machine with new array types compiles (about
a second).

Used by :func:`iclbook.model.grad_from_dA` (§6.3, ``book/ch05_gradients``) and
:func:`iclbook.training.adam_update` (Kingma & Ba 2015, Algorithm 1; ``book/ch06_reparam``).
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def adam_step(p, g, m1, m2, b1, c_b1, b2, c_b2, c2, eps, c1):  # pragma: no cover (compiled)
    """In place on flat arrays: m1 ← m1·b1 + g·c_b1;  m2 ← m2·b2 + (g·g)·c_b2;  p ← p − (m1 / (√m2·c2 + ε))·c1,
    with c_b1 = 1 − b1, c_b2 = 1 − b2, c2 = 1/√(1 − b2ᵗ), c1 = lr/(1 − b1ᵗ) given in p's type."""
    for i in range(p.size):
        gi = g[i]
        a = m1[i] * b1 + gi * c_b1
        m1[i] = a
        b = m2[i] * b2 + (gi * gi) * c_b2
        m2[i] = b
        p[i] = p[i] - (a / (np.sqrt(b) * c2 + eps)) * c1


@numba.njit(cache=True, nogil=True)
def jacobian_product(S, w, G, gw):  # pragma: no cover (compiled)
    """For S of shape (H, N, K) (the softmax columns s^h_k), w (H, K) and G (N, K): writes
    gw[h, k] = Σ_n S[h, n, k] G[n, k] (= s^h_kᵀ G_k) and overwrites S with
    R[h, n, k] = S[h, n, k] (G[n, k] − gw[h, k]) w[h, k] (= w_{h,k} J(s^h_k) G_k)."""
    H, N, K = S.shape
    for h in range(H):
        g = gw[h]
        g[:] = 0
        for n in range(N):
            s = S[h, n]
            Gn = G[n]
            for k in range(K):
                g[k] += s[k] * Gn[k]
        wh = w[h]
        for n in range(N):
            s = S[h, n]
            Gn = G[n]
            for k in range(K):
                s[k] = s[k] * (Gn[k] - g[k]) * wh[k]

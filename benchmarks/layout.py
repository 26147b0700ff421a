"""The memory layout the issue proposed for the training step, measured against the one the package uses.

The package keeps Q as (H, d, d) and the scores as (H, N, K): the softmax runs over axis 1 (stride K). The
alternative keeps Q as (d, d, H) and the scores as (K, H, N), so that each of the four products is one large
GEMM without copies and the softmax axis is contiguous:

    W = Q.reshape(d, d·H)ᵀ V_N            (d·H × N)        scores D = Vᵀ W.reshape(d, H·N)   (K × H·N)
    M = V R.reshape(K, H·N)               (d × H·N)        ∇Q = V_N M.reshape(d·H, N)ᵀ        (d × d·H)

This script checks that both give the same gradient (to rounding) and times, interleaved in one process, the
four GEMMs and the softmax's reductions of each layout at the paper's scale. Run from the repository root:

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/layout.py

(one thread: the comparison is of the layouts, not of the machine's second core). Prints a table.
"""
from __future__ import annotations


import numpy as np

import iclbook as ic
from iclbook.model import _population

from bench import interleaved                  # benchmarks/bench.py (this script's folder is on sys.path)

N, K, d = 30, 200, 100


def headlast_grad(p, Qhl, wT):
    """Lemma 5's loss and §6.3's gradient in the (d, d, H) / (K, H, N) layout (for the comparison only)."""
    H = Qhl.shape[2]
    VT, VN = np.ascontiguousarray(p.V.T), np.ascontiguousarray(p.VN)
    D = (VT @ (Qhl.reshape(d, d * H).T @ VN).reshape(d, H * N)).reshape(K, H, N)
    D -= D.max(axis=2, keepdims=True)
    np.exp(D, out=D)
    D /= D.sum(axis=2, keepdims=True)
    dT = np.matmul(wT[:, None, :], D)[:, 0, :] - p.A.T
    GT = dT @ p.Zbar2
    gw = np.matmul(D, GT[:, :, None])[:, :, 0]
    R = (GT[:, None, :] - gw[:, :, None]) * D * wT[:, :, None]
    gQ = VN @ (p.V @ R.reshape(K, H * N)).reshape(d * H, N).T
    return 0.5 * float(np.sum(dT * GT)) + p.L_star, gQ.reshape(d, d, H), gw


def main():
    p = ic.make_problem(K=K, N=N, d=d, m=20, tau=0.1, seed=0)
    VT, VN = np.ascontiguousarray(p.V.T), np.ascontiguousarray(p.VN)
    print("| H | four GEMMs, (H, d, d) | four GEMMs, (d, d, H) | softmax max+sum over axis 1 of (H, N, K) "
          "| over the last axis of (K, H, N) |")
    print("|---|---|---|---|---|")
    for H in (10, 64, 400):
        rng = np.random.default_rng(H)
        Q, w = rng.standard_normal((H, d, d)) * 0.1, rng.standard_normal((H, K))
        Qhl, wT = np.ascontiguousarray(Q.transpose(1, 2, 0)), np.ascontiguousarray(w.T)
        l0, g0, gw0 = _population(p, Q, w)
        l1, g1, gw1 = headlast_grad(p, Qhl, wT)
        assert abs(l1 - l0) <= 1e-12 * abs(l0)
        np.testing.assert_allclose(g1.transpose(2, 0, 1), g0, rtol=1e-9, atol=1e-12 * np.abs(g0).max())
        np.testing.assert_allclose(gw1.T, gw0, rtol=1e-9, atol=1e-12 * np.abs(gw0).max())
        P = np.matmul(p.VNT, Q)
        D = (P.reshape(H * N, d) @ p.V).reshape(H, N, K)
        W = Qhl.reshape(d, d * H).T @ VN
        Dhl = (VT @ W.reshape(d, H * N)).reshape(K, H, N)
        M = (D.reshape(H * N, K) @ p.VT).reshape(H, N, d)
        Mhl = p.V @ Dhl.reshape(K, H * N)
        t = interleaved({
            "gemm": lambda: (np.matmul(p.VNT, Q), P.reshape(H * N, d) @ p.V, D.reshape(H * N, K) @ p.VT,
                             np.matmul(p.VN, M)),
            "gemm_hl": lambda: (Qhl.reshape(d, d * H).T @ VN, VT @ W.reshape(d, H * N),
                                p.V @ Dhl.reshape(K, H * N), VN @ Mhl.reshape(d * H, N).T),
            "red": lambda: (D.max(axis=1), D.sum(axis=1)),
            "red_hl": lambda: (Dhl.max(axis=2), Dhl.sum(axis=2)),
        }, repeat=30)
        print(f"| {H} | {t['gemm'] * 1e3:.2f} ms | {t['gemm_hl'] * 1e3:.2f} ms | {t['red'] * 1e3:.2f} ms "
              f"| {t['red_hl'] * 1e3:.2f} ms |", flush=True)


if __name__ == "__main__":
    main()

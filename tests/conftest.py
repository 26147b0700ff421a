import numpy as np
import pytest

import iclbook as ic


@pytest.fixture
def small():
    """The notes' reference problem: K=12, N=4, d=6, m=3, τ=0.1 (paper-notes §10)."""
    return ic.make_problem(12, 4, 6, 3, 0.1, seed=0)


def central_diff(f, X, h=1e-6):
    G = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        Xp = X.copy()
        Xp[i] += h
        Xm = X.copy()
        Xm[i] -= h
        G[i] = (f(Xp) - f(Xm)) / (2 * h)
    return G

"""Input checks shared by every module that takes a problem's parameters or labels.

They live apart from the model so that the ridge predictors (Lemma 4) and the layer-by-layer transformer
do not depend on the model's module: each module imports its checks from here, once.
"""
from __future__ import annotations

import numpy as np

__all__ = ["is_int", "check_int", "check_rng", "check_params", "prompt_labels", "check_reg"]


def is_int(x) -> bool:
    """True for Python and numpy integers (not for booleans)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def check_int(x, name: str, *, low: int = 1) -> int:
    """``x`` as an int if it is an integer ≥ ``low`` (1 or 0); otherwise ``ValueError`` naming ``name``."""
    if not is_int(x) or x < low:
        kind = "a positive integer" if low == 1 else "a non-negative integer"
        raise ValueError(f"{name} must be {kind}, got {x!r}")
    return int(x)


def check_rng(rng) -> np.random.Generator:
    """``rng`` if it is a ``numpy.random.Generator``; otherwise ``ValueError``."""
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (e.g. np.random.default_rng(0))")
    return rng


def check_params(problem, Q, w=None):
    """Validate (Q, w) against the problem; returns float64 arrays. Raises ``ValueError`` naming the argument."""
    try:
        Q = np.asarray(Q, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("Q must be a real array of shape (H, d, d)") from None
    d = problem.d
    if Q.ndim != 3 or Q.shape[1:] != (d, d) or Q.shape[0] < 1:
        raise ValueError(f"Q must have shape (H, d, d) = (H, {d}, {d}), got {Q.shape}")
    if not np.all(np.isfinite(Q)):
        raise ValueError("Q contains NaN or infinite entries")
    if w is None:
        return Q
    try:
        w = np.asarray(w, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError("w must be a real array of shape (H, K)") from None
    if w.shape != (Q.shape[0], problem.K):
        raise ValueError(f"w must have shape (H, K) = ({Q.shape[0]}, {problem.K}), got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("w contains NaN or infinite entries")
    return Q, w


def prompt_labels(problem, y, name: str = "y") -> tuple[np.ndarray, bool]:
    """The prompt labels (first N) from y of shape (N,), (K,), (n, N) or (n, K); returns ((n, N), was_1d)."""
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real array of labels") from None
    if y.ndim not in (1, 2) or y.shape[-1] not in (problem.N, problem.K):
        raise ValueError(
            f"{name} must have shape (N,), (K,), (n, N) or (n, K) with N = {problem.N}, K = {problem.K}; got {y.shape}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    one = y.ndim == 1
    y2 = y[None, :] if one else y
    return y2[:, : problem.N], one


def check_reg(reg, *, positive: bool = False) -> float:
    """A ridge penalty as a float: finite and ≥ 0 (> 0 with ``positive``); otherwise ``ValueError``."""
    try:
        r = float(reg)
    except (TypeError, ValueError):
        raise ValueError(f"reg (ridge penalty) must be a number, got {reg!r}") from None
    if not np.isfinite(r) or r < 0 or (positive and r == 0):
        raise ValueError(f"reg (ridge penalty) must be finite and {'>' if positive else '≥'} 0, got {reg!r}")
    return r

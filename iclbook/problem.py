"""The problem instance: dictionary, representation, prompt length and noise (paper §2).

Notation follows the paper and ``book/notation``: tokens are the columns of ``V`` (d×K), the
representations f(v_k) are the columns of ``Zt`` (m×K, the paper's Z̃), and every prompt holds the
first ``N`` tokens with their labels. ``tau`` is the per-coordinate variance of the feature-space noise
ε_k ~ N(0, τ I_m) of eq. (1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ._validate import check_int, check_rng, is_int

__all__ = ["Problem", "make_problem", "fourier_features", "fourier_basis", "sample_prompts",
           "assumption3_gaps", "satisfies_assumption3"]

_UNIT_TOL = 1e-8
_MAX_ENTRY = 1e100      # larger entries overflow when squared and summed
_COND_MAX_INV = 1e-12   # Z̄² with a larger condition number is treated as singular


def _as_matrix(x, name: str) -> np.ndarray:
    try:
        a = np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be a real 2-D array ({e})") from None
    if a.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or infinite entries")
    if np.max(np.abs(a)) > _MAX_ENTRY:
        raise ValueError(f"{name} has entries above {_MAX_ENTRY:.0e} in absolute value: Z̄² and the scores would overflow")
    a.setflags(write=False)
    return a


def assumption3_gaps(VN) -> np.ndarray:
    """For each row (coordinate) of V_N (d×N), the smallest gap between
    two of its N values (Assumption 3, paper §2; ``book/ch01_setting``).

    Assumption 3 asks for one row whose values are pairwise distinct,
    i.e. one positive gap. Returns shape (d,); with N = 1 every gap is
    +inf (a single value is distinct).
    """
    VN = np.asarray(VN, dtype=np.float64)
    if VN.ndim != 2:
        raise ValueError(f"VN must be a d×N matrix, got {VN.shape}")
    if VN.shape[1] < 2:
        return np.full(VN.shape[0], np.inf)
    return np.min(np.diff(np.sort(VN, axis=1), axis=1), axis=1)


def satisfies_assumption3(VN, tol: float = 0.0) -> bool:
    """Assumption 3 (paper §2; ``book/ch01_setting``): some row of
    V_N = (v_1, …, v_N) has pairwise distinct entries, i.e.
    :func:`assumption3_gaps` has an entry above ``tol``.

    ``tol = 0`` is the exact statement (:class:`Problem` uses it); a
    small positive ``tol`` treats values that agree up to rounding as
    equal (for tokens computed in floating point, e.g. rotated angles).
    """
    return bool(np.any(assumption3_gaps(VN) > tol))


class ProblemSizes:
    """The sizes of a problem, read off its tokens ``V`` (d×K) and representations ``Zt`` (m×K), whatever
    the type of their entries: shared by :class:`Problem` (floats) and
    :class:`iclbook.symbolic.loss.ExactProblem` (exact rationals)."""

    @property
    def K(self) -> int:
        """Number of dictionary tokens K."""
        return self.V.shape[1]

    @property
    def d(self) -> int:
        """Token dimension d."""
        return self.V.shape[0]

    @property
    def m(self) -> int:
        """Number of basis functions (basic tasks) m."""
        return self.Zt.shape[0]


@dataclass(frozen=True)
class Problem(ProblemSizes):
    """A fixed dictionary, its representations, the prompt length and the noise level (paper §2;
    ``book/ch01_setting``).

    Parameters
    ----------
    V : array (d, K)
        The dictionary; column k is the token v_k. The theory needs unit-norm tokens (§2); pass
        ``unit_tokens=False`` to allow others (the paper's experiments draw Gaussian tokens).
    Zt : array (m, K)
        The representations; column k is f(v_k) (the paper's Z̃ = (Z, Z_Q), eq. 12).
    N : int
        The prompt holds the first N tokens, 1 ≤ N < K.
    tau : float
        Noise variance per feature coordinate, τ > 0 (eq. 1; needed for Z̄ to be invertible).
    unit_tokens : bool
        Check that every token has unit norm (default True).

    Raises ``ValueError`` on wrong shapes, non-finite entries, τ ≤ 0, N outside [1, K), non-unit
    tokens, or prompt tokens that violate Assumption 3 (no coordinate with pairwise-distinct values).
    """

    V: np.ndarray
    Zt: np.ndarray
    N: int
    tau: float
    unit_tokens: bool = field(default=True)

    def __post_init__(self):
        V = _as_matrix(self.V, "V (the dictionary, d×K)")
        Zt = _as_matrix(self.Zt, "Zt (the representations f(v_k), m×K)")
        if V.shape[1] != Zt.shape[1]:
            raise ValueError(
                f"V has {V.shape[1]} tokens (columns) but Zt has {Zt.shape[1]}: both must be K columns"
            )
        K = V.shape[1]
        if not is_int(self.N):
            raise ValueError(f"N (prompt length) must be an integer, got {self.N!r}")
        N = int(self.N)
        if N < 1:
            raise ValueError(f"N (prompt length) must be at least 1, got {N}")
        if N >= K:
            raise ValueError(
                f"N (prompt length) must be smaller than K = {K} (the paper's N < K: some tokens are unseen), got N = {N}"
            )
        try:
            tau = float(self.tau)
        except (TypeError, ValueError):
            raise ValueError(f"tau (noise level) must be a number, got {self.tau!r}") from None
        if not np.isfinite(tau) or tau <= 0:
            raise ValueError(
                f"tau (noise level) must be finite and > 0 (eq. 1; Z̄ = (ZᵀZ + mτI)^(1/2) must be invertible), got {self.tau!r}"
            )
        if self.unit_tokens:
            norms = np.linalg.norm(V, axis=0)
            bad = np.flatnonzero(np.abs(norms - 1.0) > _UNIT_TOL)
            if bad.size:
                raise ValueError(
                    f"V: tokens must have unit norm (paper §2, ‖v_k‖ = 1); token {bad[0]} has norm {norms[bad[0]]:.6g}. "
                    "Normalise the columns or pass unit_tokens=False"
                )
        if not satisfies_assumption3(V[:, :N]):
            raise ValueError(
                "V: the prompt tokens v_1..v_N violate Assumption 3: no coordinate takes pairwise-distinct "
                "values on them (are two prompt tokens equal?)"
            )
        Z = Zt[:, :N]
        ev = np.linalg.eigvalsh(Z.T @ Z + Zt.shape[0] * tau * np.eye(N))
        if not (np.all(np.isfinite(ev)) and ev[0] > _COND_MAX_INV * ev[-1]):
            raise ValueError(
                f"tau = {tau:.3g} is too small for these features: Z̄² = ZᵀZ + mτI is numerically singular "
                f"(condition number > {1 / _COND_MAX_INV:.0e}; eq. 12 needs it invertible). Increase tau or rescale Zt"
            )
        object.__setattr__(self, "V", V)
        object.__setattr__(self, "Zt", Zt)
        object.__setattr__(self, "N", N)
        object.__setattr__(self, "tau", tau)

    # ---- derived matrices (eqs. 12, 34, 36) ----------------------------------------------------
    @cached_property
    def VN(self) -> np.ndarray:
        """The prompt tokens V_N = (v_1, …, v_N), shape (d, N) (eq. 3; ``book/ch02_transformer``)."""
        return _ro(self.V[:, : self.N])

    @cached_property
    def VNT(self) -> np.ndarray:
        """V_Nᵀ as a contiguous (N, d) array (for the batched products of the model)."""
        return _ro(np.ascontiguousarray(self.V[:, : self.N].T))

    @cached_property
    def VT(self) -> np.ndarray:
        """Vᵀ as a contiguous (K, d) array."""
        return _ro(np.ascontiguousarray(self.V.T))

    @cached_property
    def Z(self) -> np.ndarray:
        """Prompt features Z = (f(v_1), …, f(v_N)), shape (m, N) (eq. 12; ``book/ch03_ridge``)."""
        return _ro(self.Zt[:, : self.N])

    @cached_property
    def Zbar2(self) -> np.ndarray:
        """Z̄² = ZᵀZ + mτ I_N, shape (N, N)
        (eq. 12; ``book/ch04_loss``)."""
        Z = self.Z
        return _ro(Z.T @ Z + self.m * self.tau * np.eye(self.N))

    @cached_property
    def Zbar(self) -> np.ndarray:
        """Z̄ = (ZᵀZ + mτ I_N)^(1/2), the symmetric positive-definite square root
        (eq. 12; ``book/ch04_loss``)."""
        ev, U = np.linalg.eigh(self.Zbar2)
        return _ro((U * np.sqrt(ev)) @ U.T)

    @cached_property
    def A(self) -> np.ndarray:
        """The limit matrix A = (ZᵀZ + mτI)⁻¹ (ZᵀZ̃ + mτ [I_N, 0]),
        shape (N, K) (eq. 34; ``book/ch03_ridge``, ``book/ch04_loss``).

        A[:, :N] = I_N exactly (set, not computed, since it is an
        identity of exact arithmetic).
        """
        N = self.N
        A = np.empty((N, self.K))
        A[:, :N] = np.eye(N)
        A[:, N:] = np.linalg.solve(self.Zbar2, self.Z.T @ self.Zt[:, N:])
        return _ro(A)

    @cached_property
    def c(self) -> np.ndarray:
        """Per-token constants of Lemma 5 (eq. 36; ``book/ch04_loss``):
        c_k = 0 for k ≤ N and, for k > N,

        c'_k = ‖z_k‖² + mτ − a_kᵀ Z̄² a_k = mτ + z_kᵀ (I − Z Z̄⁻² Zᵀ) z_k.

        Computed without cancellation from the thin SVD Z = U diag(s) Wᵀ:
        z_kᵀ(I − Z Z̄⁻² Zᵀ)z_k
          = ‖z_k − UUᵀz_k‖² + Σ_i mτ/(s_i² + mτ) (u_iᵀ z_k)²,
        so c'_k ≥ mτ > 0 holds in floating point too.
        """
        N, mt = self.N, self.m * self.tau
        out = np.zeros(self.K)
        ZQ = self.Zt[:, N:]
        U, sv, _ = np.linalg.svd(self.Z, full_matrices=False)
        P = U.T @ ZQ                     # (r, K−N) coordinates u_iᵀ z_k
        perp = ZQ - U @ P
        shrink = (mt / (sv**2 + mt))[:, None]
        out[N:] = (mt + np.sum(perp * perp, axis=0)
                   + np.sum(shrink * P * P, axis=0))
        return _ro(out)

    @cached_property
    def L_star(self) -> float:
        """L⋆ = ½ Σ_{k>N} c'_k, the global minimum of the population loss
        (Lemma 5, eq. 36; ``book/ch04_loss``)."""
        return float(0.5 * np.sum(self.c))


def _ro(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def fourier_features(m: int):
    """The Fourier basis on the unit circle, the book's representation f of §2 (``book/ch01_setting``):
    f(v) = (1, √2 cos θ, √2 sin θ, √2 cos 2θ, …)[:m], θ = atan2(v₂, v₁).

    Orthonormal for θ uniform on [0, 2π). Returns a callable f: R² → R^m, for tokens with d = 2, so
    that a template λᵀf can be drawn as a curve over the angle.
    """
    check_int(m, "m (number of Fourier features)")

    def f(v):
        v = np.asarray(v, dtype=np.float64)
        theta = np.arctan2(v[1], v[0])
        return fourier_basis(theta, m)

    return f


def fourier_basis(theta, m: int) -> np.ndarray:
    """The m Fourier features evaluated at angles ``theta`` (any shape); returns shape (m, *theta.shape)
    (``book/ch01_setting``)."""
    theta = np.asarray(theta, dtype=np.float64)
    rows = [np.ones_like(theta)]
    j = 1
    while len(rows) < m:  # pragma: no mutate (equivalent: < m or <= m, rows[:m] keeps the same m rows)
        rows.append(np.sqrt(2.0) * np.cos(j * theta))
        if len(rows) < m:  # pragma: no mutate (equivalent: < m or <= m, rows[:m] keeps the same m rows)
            rows.append(np.sqrt(2.0) * np.sin(j * theta))
        j += 1
    return np.stack(rows[:m])


def make_problem(K: int, N: int, d: int, m: int, tau: float, *, seed: int = 0, features="gaussian",
                 unit_tokens: bool = True) -> Problem:
    """A random problem as in the paper's experiments (§4; ``book/ch02_transformer`` onwards).

    Tokens: i.i.d. standard Gaussian in R^d, normalised to unit norm (the theory's §2 setting; pass
    ``unit_tokens=False`` for the raw Gaussian tokens of the experiments, whose normalisation the paper
    does not state). ``features``:

    - ``"gaussian"``: f(v_k) i.i.d. standard Gaussian in R^m (a random lookup table, as in §4);
    - ``"fourier"``: d must be 2; tokens are uniform random points on the unit circle and
      f = :func:`fourier_features` (m);
    - a callable f: R^d → R^m, applied to each token.

    All randomness comes from ``numpy.random.default_rng(seed)``.
    """
    for name, val in (("K", K), ("N", N), ("d", d), ("m", m)):
        check_int(val, name)
    rng = np.random.default_rng(seed)
    if isinstance(features, str) and features == "fourier":
        if d != 2:
            raise ValueError(f"features='fourier' needs tokens on the unit circle, d = 2; got d = {d}")
        theta = rng.uniform(0.0, 2 * np.pi, size=K)
        V = np.stack([np.cos(theta), np.sin(theta)])
        Zt = fourier_basis(theta, m)
        return Problem(V, Zt, N, tau)
    V = rng.standard_normal((d, K))
    if unit_tokens:
        V /= np.linalg.norm(V, axis=0, keepdims=True)  # pragma: no mutate (equivalent: without keepdims the (K,) norms broadcast over the columns just the same)
    if isinstance(features, str):
        if features != "gaussian":
            raise ValueError(f"features must be 'gaussian', 'fourier' or a callable, got {features!r}")
        Zt = rng.standard_normal((m, K))
    elif callable(features):
        cols = [np.asarray(features(V[:, k]), dtype=np.float64).reshape(-1) for k in range(K)]
        Zt = np.stack(cols, axis=1)
        if Zt.shape[0] != m:
            raise ValueError(f"features returned vectors of length {Zt.shape[0]}, but m = {m}")
    else:
        raise ValueError(f"features must be 'gaussian', 'fourier' or a callable, got {features!r}")
    return Problem(V, Zt, N, tau, unit_tokens=unit_tokens)


def sample_prompts(problem: Problem, n: int, *, rng, lam_mean=0.0,
                   lam_std=1.0):
    """Draw n tasks and their noisy labels (eq. 1;
    ``book/ch01_setting``): returns ``(lam, y)`` of shapes (n, m) and
    (n, K).

    λ ~ N(lam_mean·1, lam_std² I_m) (training: N(0, I); the paper's
    out-of-domain tasks: mean 1, std 2) and y_k = λᵀ(f(v_k) + ε_k) with
    ε_k ~ N(0, τ I_m) i.i.d. Given λ, the noise λᵀε_k is N(0, τ‖λ‖²) and
    independent across k, so it is drawn in that form (exactly the same
    law, without materialising the m×K noise matrix of every prompt).
    ``rng`` is a ``numpy.random.Generator``.
    """
    check_int(n, "n (number of prompts)")
    check_rng(rng)
    for name, val in (("lam_mean", lam_mean), ("lam_std", lam_std)):
        if not np.all(np.isfinite(np.asarray(val, dtype=float))):
            raise ValueError(f"{name} must be finite, got {val!r}")
    if np.any(np.asarray(lam_std) < 0):
        raise ValueError(f"lam_std must be ≥ 0, got {lam_std!r}")
    lam = lam_mean + lam_std * rng.standard_normal((n, problem.m))
    lam_norm = np.linalg.norm(lam, axis=1, keepdims=True)
    noise_sd = np.sqrt(problem.tau) * lam_norm          # sd of λᵀε_k
    y = lam @ problem.Zt + noise_sd * rng.standard_normal(
        (n, problem.K))
    return lam, y

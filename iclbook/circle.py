"""Part I's running example (chapters 1–3): the paper's setting (§2) at d = 2, tokens on the unit circle.

K tokens on the unit circle, the Fourier representation f = :func:`iclbook.problem.fourier_features` (m), so
that a template x ↦ λᵀ f(x) is a curve over the angle θ. A prompt holds the first N tokens with their noisy
labels (eq. 1); the other K − N tokens are the unseen examples. This module computes the data; the drawings
are in :mod:`iclbook.illustrate`.

- :func:`feature_space_labels` — eq. (1) literally: y_k = λᵀ(f(v_k) + ε_k) with the m×K noise matrix ε;
- :func:`nested_task` — a task λ ∈ R^m whose first coordinates do not depend on m (so the templates for
  increasing m add harmonics to one fixed curve);
- :func:`circle_example` — everything one picture needs: the problem, λ, the K labels, the template and
  the ridge predictions (eqs. 20, 25) as curves over the angle.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import check_rng, is_int
from .problem import Problem, fourier_basis, make_problem
from .ridge import ridge_coefficients

__all__ = ["M_MAX", "feature_space_labels", "nested_task", "CircleExample", "circle_example"]

#: The largest m the nested tasks support.
M_MAX = 41


def feature_space_labels(problem: Problem, lam, rng,
                         n: int | None = None):
    """Labels of eq. (1), drawn literally (``book/ch01_setting``):
    y_k = λᵀ(z_k + ε_k), ε_k ~ N(0, τ I_m) i.i.d., k = 1..K.

    ``lam`` has shape (m,). Returns ``(y, eps)`` with y of shape (K,) and
    the noise matrix eps of shape (m, K); with ``n`` given, n independent
    draws: y of shape (n, K) and eps of shape (n, m, K).
    (:func:`iclbook.sample_prompts` draws the same law in the reduced
    form λᵀε_k ~ N(0, τ‖λ‖²); chapter 1 checks that the two agree.)
    ``rng`` is a ``numpy.random.Generator``.
    """
    lam = np.asarray(lam, dtype=np.float64)
    if lam.shape != (problem.m,):
        raise ValueError(f"lam must have shape (m,) = ({problem.m},), "
                         f"got {lam.shape}")
    check_rng(rng)
    m, K = problem.m, problem.K
    shape = (m, K) if n is None else (n, m, K)
    eps = np.sqrt(problem.tau) * rng.standard_normal(shape)
    y = lam @ (problem.Zt + eps)
    return y, eps


def nested_task(m: int, *, seed: int = 0, decay: float = 0.0) -> np.ndarray:
    """A task λ ∈ R^m (paper §2; ``book/ch01_setting``): the first m entries of one fixed draw
    λ_i = g_i / j(i)^decay, g ~ N(0, I_{M_MAX}).

    j(i) is the harmonic of the i-th Fourier feature (0 for the constant, then 1, 1, 2, 2, …). With
    ``decay = 0`` the entries are standard normal (Assumption 1's moments); ``decay > 0`` damps the higher
    harmonics so the curves stay readable. The same seed gives the same leading entries for every m.
    """
    if not (is_int(m) and 1 <= m <= M_MAX):
        raise ValueError(f"m must be an integer in [1, {M_MAX}], got {m!r}")
    g = np.random.default_rng(seed).standard_normal(M_MAX)
    harmonic = np.maximum((np.arange(M_MAX) + 1) // 2, 1)
    return (g / harmonic**decay)[:m]


@dataclass(frozen=True)
class CircleExample:
    """One circle picture's data (chapter 1).

    ``problem`` (d = 2, Fourier features), the task ``lam`` (m,), the labels ``y`` (K,) of all tokens
    (eq. 1; the prompt is ``y[:N]``), the token angles ``theta`` (K,), a dense angle ``grid`` (G,), the
    ``template`` λᵀf over the grid, and ``curves``: {name: (reg, λ̂ᵀf over the grid)} for each requested
    ridge penalty.
    """

    problem: Problem
    lam: np.ndarray
    y: np.ndarray
    theta: np.ndarray
    grid: np.ndarray
    template: np.ndarray
    curves: dict

    @property
    def N(self) -> int:
        return self.problem.N

    @property
    def m(self) -> int:
        return self.problem.m

    @property
    def tau(self) -> float:
        return self.problem.tau


def circle_example(N: int, m: int, tau: float, *, K: int = 40, seed: int = 0, task_seed: int = 1,
                   noise_seed: int = 2, decay: float = 0.5, penalties=("m_tau",), grid_size: int = 400,
                   noiseless: bool = False) -> CircleExample:
    """The data of one circle picture: K tokens on the unit circle, the first N in the prompt (paper §2,
    eq. 1; ``book/ch01_setting``, ``book/ch03_ridge``).

    Tokens and features come from ``make_problem(K, N, 2, m, tau, seed=seed, features="fourier")`` (the
    angles depend only on K and ``seed``, so pictures for different N, m, τ share their tokens). The task
    is :func:`nested_task` (m, seed=task_seed, decay=decay). The labels follow eq. (1) with the noise
    ε = √τ G for one fixed standard normal G (from ``noise_seed``), so pictures for different τ share
    their noise draw; ``noiseless=True`` gives y_k = λᵀz_k.

    ``penalties``: names among "m_tau" (reg = mτ, the transformer's limit, eq. 20, Theorem 2), "N_tau"
    (reg = Nτ, the best predictor, eq. 25, Lemma 4) and "zero" (reg = 0, needs N ≥ m), or numbers (a reg).
    """
    p = make_problem(K, N, 2, m, tau, seed=seed, features="fourier")
    theta = np.mod(np.arctan2(p.V[1], p.V[0]), 2 * np.pi)
    lam = nested_task(m, seed=task_seed, decay=decay)
    G = np.random.default_rng(noise_seed).standard_normal((M_MAX, K))[:m]
    y = lam @ p.Zt if noiseless else lam @ (p.Zt + np.sqrt(tau) * G)
    grid = np.linspace(0.0, 2 * np.pi, grid_size)
    F = fourier_basis(grid, m)
    curves = {}
    for name in penalties:
        reg = {"m_tau": m * tau, "N_tau": N * tau, "zero": 0.0}.get(name, name) if isinstance(name, str) else name
        if isinstance(reg, str):
            raise ValueError(f"unknown penalty {name!r}: use 'm_tau', 'N_tau', 'zero' or a number")
        curves[name] = (float(reg), ridge_coefficients(p, y, reg) @ F)
    return CircleExample(p, lam, y, theta, grid, lam @ F, curves)

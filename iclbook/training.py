"""Training the one-layer model of eq. (8): the theory's two-step-size gradient descent (eqs. 10, 16;
``book/ch08_convergence``) and the paper's Adam protocol (§4; ``book/ch09_heads``, ``book/ch10_inference``).

:func:`train_gd` and :func:`train_adam` return the same :class:`History` of arrays; :func:`train` chooses one
by name (the command line's ``--method``). Plotting lives in :mod:`iclbook.plotting`.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _fused
from ._validate import check_int, check_params
from .convergence import default_step_sizes, delta0, theorem1_bound, w_smoothness, zeta
from .model import ProblemArrays, empirical_loss_and_grad, init_params, population_loss_and_grad
from .problem import Problem, sample_prompts

__all__ = ["History", "train", "train_gd", "train_adam", "initial_params", "training_prompts", "adam_update", "TrainingDiverged", "EXPLODE_FACTOR"]

#: A loss larger than this factor times the initial loss counts as exploding.
EXPLODE_FACTOR = 1e3


class TrainingDiverged(RuntimeWarning):
    """Warned when training stops on a non-finite or exploding loss.

    Derived and checked in ``book/ch08_convergence``.
    """


@dataclass
class History:
    """What a training run recorded, one entry per record (step 0, every ``record_every`` steps, the last step).

    Arrays: ``step``; ``loss`` (population loss, exact, Lemma 5); ``gap`` = loss − L⋆;
    ``zeta`` = min_k λ_min(B_k B_kᵀ) (Assumption 2, (43b)); ``q_move`` = max_h ‖Q_h(t) − Q_h(0)‖_F;
    ``alpha_max`` = max |w|/γ (the reparameterised α of Lemma 6, (43a)); ``train_loss`` (Adam only: the
    mini-batch loss of the step); ``extras`` (whatever a callback returned, one array per key).
    Scalars: the step sizes, ζ₀, Δ(0), L⋆, ``diverged`` and ``message``; final ``Q``, ``w`` and the
    initial ``Q0``, ``w0``.

    Derived and checked in ``book/ch08_convergence``.
    """

    method: str
    H: int
    seed: int | None
    eta_Q: float
    eta_w: float
    gamma: float
    lr: float | None
    zeta0: float
    delta0: float
    L_star: float
    Q0: np.ndarray
    w0: np.ndarray
    step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    gap: np.ndarray = field(default_factory=lambda: np.zeros(0))
    zeta: np.ndarray = field(default_factory=lambda: np.zeros(0))
    q_move: np.ndarray = field(default_factory=lambda: np.zeros(0))
    alpha_max: np.ndarray = field(default_factory=lambda: np.zeros(0))
    train_loss: np.ndarray = field(default_factory=lambda: np.zeros(0))
    extras: dict = field(default_factory=dict)
    Q: np.ndarray | None = None
    w: np.ndarray | None = None
    diverged: bool = False
    message: str = ""
    steps_done: int = 0
    seconds: float = 0.0

    def observed_rate(self, start: int = 0) -> float:
        """Per-step factor exp(slope) of a least-squares fit of log(gap) against step, over records from ``start``."""
        s, g = self.step[start:], self.gap[start:]
        ok = g > 0
        if ok.sum() < 2:
            return float("nan")
        slope = np.polyfit(s[ok], np.log(g[ok]), 1)[0]
        return float(np.exp(slope))

    @property
    def bound_rate(self) -> float:
        """Theorem 1's per-step factor 1 − η_w ζ₀/2 (eq. 18, re-derived constants)."""
        return 1.0 - self.eta_w * self.zeta0 / 2.0

    def theorem1_bound(self) -> np.ndarray:
        """Theorem 1's bound (1 − η_w ζ₀/2)^t Δ(0) at every recorded step (:func:`iclbook.convergence.theorem1_bound`)."""
        return theorem1_bound(self.step, self.eta_w, self.zeta0, self.delta0)

    def within_theorem1_bound(self, rtol: float = 1e-9) -> bool:
        """True if the recorded gap is at most Theorem 1's bound at every record, up to a relative ``rtol``
        (the loss is evaluated in float64: 1e-9 is far above its round-off and far below any real excess)."""
        return bool(np.all(self.gap <= self.theorem1_bound() * (1 + rtol)))


def _pop(problem, Q, w):
    return population_loss_and_grad(problem, Q, w, checked=False)


def _likely_cause(method, problem, H, eta_w, smooth, lr):
    if method == "gd":
        cause = (f"the step size is too large for the loss's smoothness: η_w = {eta_w:.3g} while "
                 f"1/max_k‖B_k(0)‖² = {1 / smooth:.3g} (eq. 16 asks η_Q ≤ 1/L)")
    else:
        cause = f"Adam's learning rate lr = {lr:.3g} is too large for this problem"
    if H > 4 * problem.N:
        cause += f"; with H = {H} heads the smoothness grows with H (Theorem 1's remark, Figure 4's H = 400)"
    return cause


class _Run:
    """What both loops share: the checks, the initialization, the History and its records, the progress bar."""

    def __init__(self, method, problem, H, steps, seed, eta_Q, gamma, lr, record_every, progress, beta,
                 init, callback, dtype=np.float64):
        check_int(steps, "steps", low=0)
        check_int(H, "H (number of heads)")
        if record_every is None:
            record_every = max(1, steps // 100)
        check_int(record_every, "record_every")
        self.problem, self.H, self.steps, self.record_every = problem, H, steps, record_every
        self.method, self.lr, self.callback = method, lr, callback
        if init is None:
            Q, w, self.rng = _replayed_init(problem, H, seed, beta)
        else:
            self.rng = np.random.default_rng(seed)
            Q, w = check_params(problem, *init)
            if Q.shape[0] != H:
                raise ValueError(f"init: Q has {Q.shape[0]} heads but H = {H}")
            Q, w = Q.copy(), w.copy()
        if H < problem.N:
            warnings.warn(
                f"H = {H} < N = {problem.N}: Assumption 2 cannot hold (B_k has rank ≤ H < N), so Proposition 1 "
                "and Theorem 1 do not apply; the loss may stall above L⋆", UserWarning, stacklevel=3)
        self.eta_Q, self.eta_w, g = default_step_sizes(problem, Q, eta_Q=eta_Q, gamma=gamma)
        self.smooth = w_smoothness(problem, Q)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float64), np.dtype(np.float32)):
            raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
        # the arrays the steps compute with: the problem's own in float64, a float32 copy otherwise
        self.fast = problem if self.dtype == np.float64 else ProblemArrays(problem, self.dtype)
        self.Q, self.w = Q.astype(self.dtype), w.astype(self.dtype)
        self.hist = History(method=method, H=int(H), seed=seed, eta_Q=self.eta_Q, eta_w=self.eta_w, gamma=g,
                            lr=lr if method == "adam" else None, zeta0=zeta(problem, Q),
                            delta0=delta0(problem) if init is None else _pop(problem, Q, w)[0] - problem.L_star,
                            L_star=problem.L_star, Q0=Q.copy(), w0=w.copy())
        self.rec = {k: [] for k in ("step", "loss", "zeta", "q_move", "alpha_max", "train_loss")}
        self.bar = None
        if progress:
            from tqdm.auto import tqdm
            self.bar = tqdm(total=steps, desc=f"{method} H={H}", leave=False)
        self.t0 = time.perf_counter()

    def due(self, t) -> bool:
        return t % self.record_every == 0 or t == self.steps

    def exact_loss(self, Q, w) -> float:
        """The population loss (Lemma 5) at (Q, w), always evaluated in float64."""
        return _pop(self.problem, np.asarray(Q, np.float64), np.asarray(w, np.float64))[0]

    def record(self, t, Q, w, loss, tl=np.nan):
        rec, h = self.rec, self.hist
        rec["step"].append(t)
        rec["loss"].append(loss)
        rec["zeta"].append(zeta(self.problem, Q))
        rec["q_move"].append(float(np.max(np.linalg.norm((Q - h.Q0).reshape(self.H, -1), axis=1))))
        rec["alpha_max"].append(float(np.max(np.abs(w))) / h.gamma)
        rec["train_loss"].append(tl)
        if self.callback is not None:
            for key, val in self.callback(t, Q, w).items():
                h.extras.setdefault(key, []).append(val)

    def tick(self):
        if self.bar is not None:
            self.bar.update(1)

    def cause(self):
        return _likely_cause(self.method, self.problem, self.H, self.eta_w, self.smooth, self.lr)

    def finish(self, t, Q, w) -> History:
        if self.bar is not None:
            self.bar.close()
        h, rec = self.hist, self.rec
        h.seconds = time.perf_counter() - self.t0
        h.steps_done = t
        if rec["step"][-1] != t and not h.diverged:
            self.record(t, Q, w, self.exact_loss(Q, w))
        h.step = np.asarray(rec["step"], dtype=int)
        h.loss = np.asarray(rec["loss"])
        h.gap = h.loss - self.problem.L_star
        h.zeta = np.asarray(rec["zeta"])
        h.q_move = np.asarray(rec["q_move"])
        h.alpha_max = np.asarray(rec["alpha_max"])
        h.train_loss = np.asarray(rec["train_loss"])
        h.extras = {k: np.asarray(v) for k, v in h.extras.items()}
        h.Q, h.w = np.asarray(Q, np.float64), np.asarray(w, np.float64)
        return h


def train_gd(problem: Problem, H: int, *, steps: int, seed: int | None = 0, eta_Q=None, gamma=None,
             record_every: int | None = None, progress: bool = False, beta: float = 1.0, init=None,
             callback=None, dtype=np.float64) -> History:
    """The theory's algorithm (eq. 10): gradient descent on the exact population loss (Lemma 5) with two step
    sizes η_Q and η_w = γ² η_Q (eq. 16), from the paper's initialization; returns a :class:`History`.

    Defaults (:func:`iclbook.convergence.default_step_sizes`): γ = 100 and η_w = 0.9 / max_k‖B_k(0)‖², the
    inverse smoothness of the w-block at initialization. ``init=(Q0, w0)`` overrides the random
    initialization (Q0 ~ N(0, β²), w0 = 0; ``seed`` seeds it). ``callback(step, Q, w) -> dict`` is called at
    each record; its values are stored in ``History.extras``. A non-finite loss, or one above
    ``EXPLODE_FACTOR`` times the initial loss, stops training with a :class:`TrainingDiverged` warning naming
    the likely cause; ``History.diverged`` is then True and the final ``Q``, ``w`` are the last finite ones.

    ``objective="population"``: Adam on the exact population loss of Lemma 5 (its exact gradient, §6.3)
    instead of mini-batches (no training set is drawn; ``batch`` and ``n_train`` are not used): the reading
    of the paper's Figure 4 text, which trains on the population loss (9). ``History.train_loss`` then holds
    the population loss of the step.

    ``dtype=np.float32`` takes the steps in float32 (the recorded losses are still evaluated in float64).

    Derived and checked in ``book/ch08_convergence``.
    """
    run = _Run("gd", problem, H, steps, seed, eta_Q, gamma, None, record_every, progress, beta, init, callback,
               dtype)
    Q, w, eta_Q, eta_w, fast = run.Q, run.w, run.eta_Q, run.eta_w, run.fast
    exact = run.dtype == np.float64
    t = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        loss, gQ, gw = _pop(fast, Q, w)
        loss_init = loss
        run.record(0, Q, w, loss if exact else run.exact_loss(Q, w))
        while t < steps:
            Qn = Q - eta_Q * gQ
            wn = w - eta_w * gw
            t += 1
            ln, gQn, gwn = _pop(fast, Qn, wn)
            if not np.isfinite(ln) or ln > EXPLODE_FACTOR * loss_init:
                _diverge(run.hist, t, ln, run.cause())
                t -= 1
                break
            Q, w, loss, gQ, gw = Qn, wn, ln, gQn, gwn
            if run.due(t):
                run.record(t, Q, w, loss if exact else run.exact_loss(Q, w))
            run.tick()
    return run.finish(t, Q, w)


def train_adam(problem: Problem, H: int, *, steps: int, seed: int | None = 0, lr: float = 1e-4,
               batch: int = 256, n_train: int = 10_000, betas=(0.9, 0.999), adam_eps: float = 1e-8,
               gamma=None, record_every: int | None = None, progress: bool = False, beta: float = 1.0,
               init=None, callback=None, dtype=np.float64, objective: str = "minibatch") -> History:
    """The paper's experimental protocol (§4): Adam (``lr``, ``betas``, ``adam_eps``; :func:`adam_update`) on
    mini-batches of ``batch`` prompts, reshuffled each epoch, from a fixed training set of ``n_train`` prompts
    with λ ~ N(0, I_m); returns a :class:`History` whose ``loss`` is the exact population loss at each record
    and ``train_loss`` the mini-batch loss of that step.

    ``seed`` seeds, in this order, the initialization, the training set and the batches. γ is only the scale
    used to report α = w/γ. ``init``, ``callback``, ``record_every`` and divergence as in :func:`train_gd`; on
    divergence the returned ``Q``, ``w`` are those of the last recorded finite step.

    ``objective="population"``: Adam on the exact population loss of Lemma 5 (its exact gradient, §6.3)
    instead of mini-batches (no training set is drawn; ``batch`` and ``n_train`` are not used): the reading
    of the paper's Figure 4 text, which trains on the population loss (9). ``History.train_loss`` then holds
    the population loss of the step.

    ``dtype=np.float32`` takes the steps in float32 (parameters, moments, training prompts, gradients); the
    recorded population loss, ζ and everything else recorded are still evaluated in float64. The random draws
    are those of the float64 run.

    Derived and checked in ``book/ch09_heads``.
    """
    if objective not in ("minibatch", "population"):
        raise ValueError(f"objective must be 'minibatch' or 'population', got {objective!r}")
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr (Adam's learning rate) must be finite and > 0, got {lr!r}")
    check_int(batch, "batch")
    check_int(n_train, "n_train")
    run = _Run("adam", problem, H, steps, seed, None, gamma, lr, record_every, progress, beta, init, callback,
               dtype)
    Q, w, rng, fast = run.Q, run.w, run.rng, run.fast
    t = 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        minibatch = objective == "minibatch"
        if minibatch:
            _, y_train = sample_prompts(problem, n_train, rng=rng)
            y_train = y_train.astype(run.dtype, copy=False)
        b1, b2 = betas
        mQ, vQ = np.zeros_like(Q), np.zeros_like(Q)
        mw, vw = np.zeros_like(w), np.zeros_like(w)
        run.record(0, Q, w, run.exact_loss(Q, w))
        last_good = (0, Q.copy(), w.copy())
        order = rng.permutation(n_train) if minibatch else None
        pos = 0
        tl_init = None
        while t < steps:
            if minibatch:
                if pos >= n_train:
                    order, pos = rng.permutation(n_train), 0
                idx = order[pos:pos + batch]
                pos += batch
                tl, gQ, gw = empirical_loss_and_grad(fast, Q, w, y_train[idx], checked=False)
            else:
                tl, gQ, gw = _pop(fast, Q, w)
            if tl_init is None:
                tl_init = tl
            if not np.isfinite(tl) or tl > EXPLODE_FACTOR * tl_init:
                t, Q, w = _restore(run.hist, t + 1, tl, last_good, run.cause())
                break
            t += 1
            adam_update(Q, gQ, mQ, vQ, t, lr, b1, b2, adam_eps)
            adam_update(w, gw, mw, vw, t, lr, b1, b2, adam_eps)
            if run.due(t):
                pl = run.exact_loss(Q, w)
                if not np.isfinite(pl):
                    t, Q, w = _restore(run.hist, t, pl, last_good, run.cause())
                    break
                run.record(t, Q, w, pl, tl)
                last_good = (t, Q.copy(), w.copy())
            run.tick()
    return run.finish(t, Q, w)


def _replayed_init(problem: Problem, H: int, seed: int, beta: float):
    """The random stream of :func:`train_gd` / :func:`train_adam` with this ``seed``, after its first draw (the
    initialization (Q0, w0), :func:`iclbook.model.init_params`); returns ``(Q0, w0, rng)``."""
    rng = np.random.default_rng(seed)
    Q0, w0 = init_params(problem, H, rng=rng, beta=beta)
    return Q0, w0, rng


def initial_params(problem: Problem, H: int, *, seed: int, beta: float = 1.0):
    """The initialization (Q0, w0) that :func:`train_gd` / :func:`train_adam` draw with this ``seed`` (without
    training): e.g. for quantities of a cached run's start (``iclbook.experiments.fig4``)."""
    return _replayed_init(problem, H, seed, beta)[:2]


def training_prompts(problem: Problem, H: int, *, seed: int, n_train: int = 10_000, beta: float = 1.0) -> np.ndarray:
    """The ``n_train`` training prompts (labels, shape (n_train, K)) that :func:`train_adam` with
    ``objective="minibatch"`` and these ``H``, ``seed``, ``beta`` trains on: its random stream draws the
    initialization first (:func:`iclbook.model.init_params`), then the training set. For the fit of the
    best linear smoother to the same prompts (:func:`iclbook.model.fitted_linear_smoother`,
    ``book/ch09_heads``)."""
    check_int(n_train, "n_train")
    rng = _replayed_init(problem, H, seed, beta)[2]
    return sample_prompts(problem, n_train, rng=rng)[1]


def train(problem: Problem, H: int, *, steps: int, method: str = "gd", **options) -> History:
    """Train with ``method="gd"`` (:func:`train_gd`, the theory's algorithm) or ``"adam"`` (:func:`train_adam`,
    the paper's experiments); ``options`` are that function's keyword arguments.

    Derived and checked in ``book/ch08_convergence``.
    """
    if method not in ("gd", "adam"):
        raise ValueError(f"method must be 'gd' or 'adam', got {method!r}")
    return (train_gd if method == "gd" else train_adam)(problem, H, steps=steps, **options)


def adam_update(p, g, m1, m2, t, lr, b1, b2, eps):
    """One Adam step (Kingma & Ba 2015, Algorithm 1) at step t ≥ 1, in place on the parameter p and the moment
    estimates m1, m2 (C-contiguous arrays of one floating type, g of p's shape):

    m1 ← b1·m1 + (1 − b1)g;  m2 ← b2·m2 + (1 − b2)g²;  p ← p − lr·(m1/(1 − b1ᵗ)) / (√(m2/(1 − b2ᵗ)) + eps).

    One fused pass over the arrays (:func:`iclbook._fused.adam_step`), with the arithmetic of the numpy
    expressions m1·b1 + g·(1 − b1), m2·b2 + (g·g)·(1 − b2), p − (m1 / (√m2·(1/√(1 − b2ᵗ)) + eps))·(lr/(1 − b1ᵗ))
    in this order, the constants rounded to p's type: in float64 bit for bit what numpy computes.

    Derived and checked in ``book/ch06_reparam``.
    """
    arrays = (p, m1, m2)
    if any(not (isinstance(x, np.ndarray) and x.flags.c_contiguous and x.dtype == p.dtype) for x in arrays) \
            or p.dtype.kind != "f" or m1.shape != p.shape or m2.shape != p.shape:
        raise ValueError("adam_update needs C-contiguous p, m1, m2 of one floating type and shape (it updates "
                         "them in place)")
    g = np.ascontiguousarray(g, dtype=p.dtype)
    if g.shape != p.shape:
        raise ValueError(f"adam_update: g has shape {g.shape}, p has {p.shape}")
    f = p.dtype.type
    _fused.adam_step(p.reshape(-1), g.reshape(-1), m1.reshape(-1), m2.reshape(-1), f(b1), f(1 - b1), f(b2),
                     f(1 - b2), f(1 / np.sqrt(1 - b2**t)), f(eps), f(lr / (1 - b1**t)))


def _restore(hist, t, loss, last_good, cause):
    s, Q, w = last_good
    _diverge(hist, t, loss, cause + f" The returned Q, w are those of step {s}, the last recorded finite step",
             stacklevel=4)
    return s, Q, w


def _diverge(hist, t, loss, cause, stacklevel=3):
    hist.diverged = True
    hist.message = f"training diverged at step {t} (loss = {loss:.3g}); stopped. Likely cause: {cause}."
    warnings.warn(hist.message, TrainingDiverged, stacklevel=stacklevel)

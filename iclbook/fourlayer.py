"""Beyond one layer: the paper's four-layer transformer (§4, Figures 2(b) and 5), in PyTorch.

The paper trains "a standard transformer" (Vaswani et al. 2017) with 4 layers, d_model = 256, d_ff = 512
on the same prompts as the one-layer model, but does not say how it reads the prompt or emits ŷ.
The wiring here is the book's choice (chapter ``book/ch13_four_layer``):

- the prompt embedding E of eq. (4), read as K tokens of width d + 1: token k is (v_k, y_k) for k ≤ N and
  (v_k, 0) for k > N (:func:`prompt_tokens`; the same matrix as :func:`iclbook.embed`, transposed);
- a linear read-in R^{d+1} → R^{d_model};
- ``n_layers`` = 4 ``torch.nn.TransformerEncoderLayer`` (post-norm, ReLU, as in Vaswani et al.), dropout 0,
  no mask (every token attends to every token) and no positional encoding (a token is identified by v_k);
- a linear read-out R^{d_model} → R giving ŷ_k for every token k;
- the loss ½ Σ_k (ŷ_k − y_k)² averaged over prompts, as for the one-layer model (eq. 9).

Data come from the package (:func:`iclbook.make_problem`, :func:`iclbook.sample_prompts`), the reference
ŷ⋆ from :func:`iclbook.ridge_predict` with penalty mτ (Theorem 2, eq. 20), L⋆ from Lemma 5.

PyTorch is optional: ``import iclbook`` does not import it; this module imports it when a function that
needs it is called (``pip install -r requirements-torch.txt``, torch 2.13.0).
"""
from __future__ import annotations

import contextlib
import functools
import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._validate import check_int, prompt_labels
from .problem import sample_prompts
from .problem import Problem, make_problem
from .ridge import ridge_predict
from .training import EXPLODE_FACTOR, TrainingDiverged

__all__ = ["PAPER", "REDUCED", "QUICK_STEPS", "TOKENS", "FourLayerHistory", "require_torch", "prompt_tokens",
           "build_model", "predict", "problem_for", "data_for", "train_fourlayer", "steps_per_second",
           "check_device"]

#: The paper's four-layer protocol (§4), except the step count, τ and the evaluation sizes (not stated; ours).
#: Records fall at step 0, at the ``early_records`` steps and every ``record_every`` steps (and the last).
PAPER = dict(K=200, N=30, d=100, m=20, tau=0.1, n_layers=4, d_model=256, d_ff=512, H=8, lr=1e-4, batch=256,
             n_train=10_000, n_test=200, n_eval=2_000, ood_mean=1.0, ood_std=2.0, steps=5_000, record_every=50,
             early_records=[5, 10])

#: The book's reduced scale for 2 shared CPU cores (chosen by measurement, see chapter 13): the paper's
#: problem and depth, a model 8 times narrower (d_model 32, d_ff 64, H = 8 heads of width 4), batches of
#: 32 and a larger learning rate.
REDUCED = dict(PAPER, d_model=32, d_ff=64, H=8, lr=1e-3, batch=32, n_eval=250, steps=1_000, record_every=50)

#: Steps of the ``quick`` presets of Figures 2(b) and 5: the first records of the reduced run (same seed, same records).
QUICK_STEPS = 10

#: Token protocols: the paper's raw standard Gaussian tokens (§4) and the theory's unit-norm tokens (§2).
TOKENS = ("gaussian", "unit")


def require_torch():
    """Import and return ``torch``; a clear ImportError if PyTorch is not installed.
    Defined in ``book/ch13_four_layer`` (§4)."""
    try:
        import torch
    except ImportError:
        raise ImportError("the four-layer model needs PyTorch: pip install -r requirements-torch.txt "
                          "(torch==2.13.0)") from None
    return torch


def check_device(device: str) -> str:
    """``device`` if PyTorch can use it, else ValueError (``"cuda"`` without CUDA, unknown names).
    Defined in ``book/ch13_four_layer`` (§4)."""
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
    torch = require_torch()
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda': CUDA is not available on this machine (use device='cpu')")
    return device


def prompt_tokens(problem: Problem, y) -> np.ndarray:
    """The K tokens the four-layer model reads: eq. (4)'s E = [V; (y_1..y_N, 0, …, 0)] transposed.

    ``y`` of shape (n, N) or (n, K) (only the first N labels are read). Returns (n, K, d + 1) float64:
    token k of prompt i is (v_k, y_ik) for k ≤ N and (v_k, 0) for k > N.
    Defined in ``book/ch13_four_layer`` (§4).
    """
    yP, _ = prompt_labels(problem, y)
    n = yP.shape[0]
    out = np.zeros((n, problem.K, problem.d + 1))
    out[:, :, :problem.d] = problem.VT
    out[:, :problem.N, problem.d] = yP
    return out


@functools.cache
def _model_class():
    torch = require_torch()
    nn = torch.nn

    class FourLayerTransformer(nn.Module):
        """Linear read-in, ``n_layers`` standard encoder layers (no mask, no positions), linear read-out."""

        def __init__(self, d, d_model, d_ff, H, n_layers):
            super().__init__()
            self.read_in = nn.Linear(d + 1, d_model)
            layer = nn.TransformerEncoderLayer(d_model, H, dim_feedforward=d_ff, dropout=0.0,
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
            self.read_out = nn.Linear(d_model, 1)

        def forward(self, tokens):                      # (n, K, d + 1) -> (n, K)
            return self.read_out(self.encoder(self.read_in(tokens))).squeeze(-1)

    return FourLayerTransformer


def build_model(d: int, *, d_model: int, d_ff: int, H: int, n_layers: int = 4, seed: int = 0):
    """The four-layer model for tokens of width d + 1, initialised by PyTorch's defaults from ``seed``
    (the global torch RNG is left as it was).

    Dropout is 0, so training and evaluation modes compute the same function; the module stays in training
    mode, so that predictions use the same code path as training (PyTorch's inference fast path rounds
    differently).
    Defined in ``book/ch13_four_layer`` (§4)."""
    torch = require_torch()
    if d_model % H:
        raise ValueError(f"H = {H} heads must divide d_model = {d_model}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _model_class()(d, d_model, d_ff, H, n_layers)


def predict(model, problem: Problem, y, *, chunk: int = 256, device: str = "cpu") -> np.ndarray:
    """The model's predictions ŷ (n, K) for the prompts with labels ``y`` ((n, N) or (n, K)), float64.
    Defined in ``book/ch13_four_layer`` (§4)."""
    torch = require_torch()
    VT = torch.tensor(problem.VT, dtype=torch.float32, device=device)
    yP = torch.tensor(prompt_labels(problem, y)[0], dtype=torch.float32, device=device)
    out = []
    with torch.no_grad():
        for i in range(0, yP.shape[0], chunk):
            out.append(model(_tokens(VT, yP[i:i + chunk], problem.K)).double().cpu().numpy())
    return np.concatenate(out)


def _tokens(VT, yP, K):
    """Torch version of :func:`prompt_tokens` for a batch of prompt labels yP (b, N)."""
    torch = require_torch()
    b, N = yP.shape
    lab = torch.zeros((b, K, 1), dtype=VT.dtype, device=VT.device)
    lab[:, :N, 0] = yP
    return torch.cat([VT.expand(b, K, VT.shape[1]), lab], dim=2)


def problem_for(cfg: dict, *, seed: int = 0, tokens: str = "gaussian") -> Problem:
    """The problem of a run: :func:`iclbook.make_problem` with Gaussian features and the token protocol
    ``tokens`` ("gaussian": raw standard Gaussian tokens, the paper's §4; "unit": unit-norm, the theory's).
    Defined in ``book/ch13_four_layer``."""
    if tokens not in TOKENS:
        raise ValueError(f"tokens must be one of {', '.join(TOKENS)}, got {tokens!r}")
    return make_problem(cfg["K"], cfg["N"], cfg["d"], cfg["m"], cfg["tau"], seed=seed,
                        unit_tokens=(tokens == "unit"))


def data_for(problem: Problem, cfg: dict, *, seed: int = 0) -> dict:
    """The prompts of a run (labels of all K tokens), each set from its own stream so none depends on another:

    ``train`` (n_train, λ ~ N(0, I), stream [seed, 2]); ``test_in`` and ``test_ood`` (n_test each, λ ~ N(0, I)
    and N(1, 4I), stream [seed, 1], as in Figure 2(a)); ``eval`` (n_eval fresh prompts for the training
    loss, stream [seed, 3]).
    Defined in ``book/ch13_four_layer`` (§4).
    """
    rng = np.random.default_rng([seed, 1])
    _, y_in = sample_prompts(problem, cfg["n_test"], rng=rng)
    _, y_ood = sample_prompts(problem, cfg["n_test"], rng=rng, lam_mean=cfg["ood_mean"], lam_std=cfg["ood_std"])
    _, y_train = sample_prompts(problem, cfg["n_train"], rng=np.random.default_rng([seed, 2]))
    _, y_eval = sample_prompts(problem, cfg["n_eval"], rng=np.random.default_rng([seed, 3]))
    return {"train": y_train, "test_in": y_in, "test_ood": y_ood, "eval": y_eval}


def _no_records() -> np.ndarray:
    return np.zeros(0)


@dataclass
class FourLayerHistory:
    """What a four-layer run recorded, one entry per record (step 0, every ``record_every`` steps, the last).

    ``train_loss`` and ``train_loss_se``: mean and standard error over the fixed fresh prompts of
    ``½ Σ_k (ŷ_k − y_k)²`` (the population loss has no closed form here); ``batch_loss``: the mini-batch loss
    of the step (NaN at step 0); ``inference_in`` / ``inference_ood``: mean (1/K)‖ŷ − ŷ⋆‖² over the test
    prompts. ``L_star``: the one-layer model's minimum (Lemma 5), the minimum over all predictors linear in
    the prompt labels. ``diverged``/``message`` as for :class:`iclbook.History`; ``model`` the final module.
    """

    config: dict
    L_star: float
    step: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))
    train_loss: np.ndarray = field(default_factory=_no_records)
    train_loss_se: np.ndarray = field(default_factory=_no_records)
    batch_loss: np.ndarray = field(default_factory=_no_records)
    inference_in: np.ndarray = field(default_factory=_no_records)
    inference_ood: np.ndarray = field(default_factory=_no_records)
    diverged: bool = False
    message: str = ""
    steps_done: int = 0
    seconds: float = 0.0
    model: object = None


@contextlib.contextmanager
def _torch_settings(threads, device="cpu"):
    """Deterministic algorithms and a fixed thread count for the duration of a run; restored afterwards.

    On a GPU, some kernels have no deterministic version (and cuBLAS needs CUBLAS_WORKSPACE_CONFIG): there
    PyTorch only warns, and runs are reproducible only approximately."""
    torch = require_torch()
    det, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    nth = torch.get_num_threads()
    torch.use_deterministic_algorithms(True, warn_only=(device != "cpu"))
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield torch
    finally:
        torch.use_deterministic_algorithms(det, warn_only=warn_only)
        torch.set_num_threads(nth)


def train_fourlayer(cfg: dict, *, seed: int = 0, tokens: str = "gaussian", steps: int | None = None,
                    H: int | None = None, device: str = "cpu", threads: int | None = 2, problem=None,
                    data=None, progress: bool = False) -> FourLayerHistory:
    """Train the four-layer model with Adam on mini-batches from a fixed training set (the paper's §4).

    ``cfg`` is a dict like :data:`PAPER` or :data:`REDUCED`; ``steps`` and ``H`` override its entries.
    Everything is seeded by ``seed``: the problem (:func:`problem_for`), the prompts (:func:`data_for`), the
    model's initialization (``torch.manual_seed(seed)``) and the batch order (stream [seed, 4]); on the CPU
    the run uses deterministic algorithms and ``threads`` threads, so the same call gives the same numbers,
    and a shorter run is a prefix of a longer one (records fall at the same steps).

    A non-finite mini-batch or training loss, or one above ``EXPLODE_FACTOR`` times the first one, stops
    the run with a :class:`iclbook.TrainingDiverged` warning; ``diverged`` is then True.
    Defined in ``book/ch13_four_layer``.
    """
    cfg = dict(cfg)
    if steps is not None:
        cfg["steps"] = int(steps)
    if H is not None:
        cfg["H"] = int(H)
    for key in ("steps", "record_every", "batch", "H", "d_model", "d_ff", "n_layers"):
        check_int(cfg[key], key, low=0 if key == "steps" else 1)
    if not (math.isfinite(cfg["lr"]) and cfg["lr"] > 0):
        raise ValueError(f"lr (Adam's learning rate) must be finite and > 0, got {cfg['lr']!r}")
    check_device(device)
    cfg.update(seed=int(seed), tokens=tokens, device=device, threads=threads)
    if problem is None:
        problem = problem_for(cfg, seed=seed, tokens=tokens)
    if data is None:
        data = data_for(problem, cfg, seed=seed)
    K, N, reg = problem.K, problem.N, problem.m * problem.tau
    star = {name: ridge_predict(problem, data[name], reg) for name in ("test_in", "test_ood")}
    hist = FourLayerHistory(config=cfg, L_star=float(problem.L_star))
    rec = {k: [] for k in ("step", "train_loss", "train_loss_se", "batch_loss", "inference_in", "inference_ood")}
    with _torch_settings(threads if device == "cpu" else None, device) as torch:
        model = build_model(problem.d, d_model=cfg["d_model"], d_ff=cfg["d_ff"], H=cfg["H"],
                            n_layers=cfg["n_layers"], seed=seed).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        VT = torch.tensor(problem.VT, dtype=torch.float32, device=device)
        y_train = torch.tensor(data["train"], dtype=torch.float32, device=device)

        def record(t, bl):
            ev = predict(model, problem, data["eval"], device=device)
            per = 0.5 * np.sum((ev - data["eval"]) ** 2, axis=1)
            rec["step"].append(t)
            rec["train_loss"].append(float(np.mean(per)))
            rec["train_loss_se"].append(float(np.std(per, ddof=1) / np.sqrt(per.size)) if per.size > 1 else 0.0)
            rec["batch_loss"].append(bl)
            for name, key in (("test_in", "inference_in"), ("test_ood", "inference_ood")):
                yh = predict(model, problem, data[name], device=device)
                rec[key].append(float(np.mean(np.sum((yh - star[name]) ** 2, axis=1)) / K))
            return rec["train_loss"][-1]

        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=cfg["steps"], desc=f"4-layer H={cfg['H']}", leave=False)
        t0 = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):
            first = record(0, float("nan"))
        order_rng = np.random.default_rng([seed, 4])
        n_train = y_train.shape[0]
        order, pos, t = order_rng.permutation(n_train), 0, 0
        first_batch = None
        early = set(cfg.get("early_records", ()))
        while t < cfg["steps"]:
            if pos >= n_train:
                order, pos = order_rng.permutation(n_train), 0
            idx = torch.as_tensor(order[pos:pos + cfg["batch"]], device=device)
            pos += cfg["batch"]
            yb = y_train[idx]
            out = model(_tokens(VT, yb[:, :N], K))
            loss = 0.5 * ((out - yb) ** 2).sum(dim=1).mean()
            bl = float(loss.detach().cpu())
            if first_batch is None:
                first_batch = bl
            if not math.isfinite(bl) or bl > EXPLODE_FACTOR * first_batch:
                _diverge(hist, t + 1, bl, cfg)
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            t += 1
            if t % cfg["record_every"] == 0 or t == cfg["steps"] or t in early:
                with np.errstate(over="ignore", invalid="ignore"):
                    tl = record(t, bl)
                if not math.isfinite(tl) or tl > EXPLODE_FACTOR * first:
                    _diverge(hist, t, tl, cfg)
                    break
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        hist.seconds = time.perf_counter() - t0
    hist.steps_done = t
    for k, v in rec.items():
        setattr(hist, k, np.asarray(v, dtype=int if k == "step" else float))
    hist.model = model
    return hist


def _diverge(hist, t, loss, cfg):
    hist.diverged = True
    hist.message = (f"training diverged at step {t} (loss = {loss:.3g}); stopped. Likely cause: Adam's learning "
                    f"rate lr = {cfg['lr']:.3g} is too large for this model")
    warnings.warn(hist.message, TrainingDiverged, stacklevel=3)


def steps_per_second(cfg: dict, H: int, *, steps: int = 10, warmup: int = 2, seed: int = 0,
                     tokens: str = "gaussian", device: str = "cpu", threads: int | None = 2) -> float:
    """Measured Adam steps per second of the four-layer model with ``H`` heads (training steps only, no
    evaluation), after ``warmup`` steps. Machine-dependent: the book stores it with the machine's name.
    Defined in ``book/ch13_four_layer`` (§4)."""
    problem = problem_for(cfg, seed=seed, tokens=tokens)
    rng = np.random.default_rng([seed, 5])
    _, y = sample_prompts(problem, cfg["batch"], rng=rng)
    with _torch_settings(threads if device == "cpu" else None, device) as torch:
        model = build_model(problem.d, d_model=cfg["d_model"], d_ff=cfg["d_ff"], H=int(H),
                            n_layers=cfg["n_layers"], seed=seed).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
        VT = torch.tensor(problem.VT, dtype=torch.float32, device=device)
        yb = torch.tensor(y, dtype=torch.float32, device=device)
        x = _tokens(VT, yb[:, :problem.N], problem.K)

        def one():
            loss = 0.5 * ((model(x) - yb) ** 2).sum(dim=1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        for _ in range(warmup):
            one()
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            one()
        if device == "cuda":
            torch.cuda.synchronize()
        return steps / (time.perf_counter() - t0)

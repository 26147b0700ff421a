"""Command line: ``python -m iclbook train …`` and ``python -m iclbook reproduce fig2a|fig2b|fig3|fig4|fig5 …``.

Every bad argument gives a one-line error on stderr and exit code 2, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit code 2 (argparse's default prints the whole usage)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _int_at_least(low: int, what: str):
    """An argparse type: an integer ≥ ``low``, with a one-line error naming ``what`` it must be."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            v = None
        if v is None or v < low:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {s!r}")
        return v
    return parse


_pos_int = _int_at_least(1, "positive")
_nonneg_int = _int_at_least(0, "non-negative")


def _pos_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {s!r}") from None
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite positive number, got {s!r}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m iclbook",
                description="Companion of the iclbook textbook (Yang, Huang, Liang, Chi, NeurIPS 2024).")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train the one-layer model on a random problem and summarise",
                       description="Train the one-layer multi-head model (eq. 8) on a random problem "
                                   "(unit-norm Gaussian tokens, Gaussian features) and print the final gap, "
                                   "ζ₀ and the observed rate against Theorem 1's bound.")
    t.add_argument("--K", type=_pos_int, default=12, help="dictionary size K (default 12)")
    t.add_argument("--N", type=_pos_int, default=4, help="prompt length N < K (default 4)")
    t.add_argument("--d", type=_pos_int, default=6, help="token dimension d (default 6)")
    t.add_argument("--m", type=_pos_int, default=3, help="number of basis functions m (default 3)")
    t.add_argument("--tau", type=_pos_float, default=0.1, help="noise level τ > 0 (default 0.1)")
    t.add_argument("--H", type=_pos_int, default=8, help="number of heads H (default 8)")
    t.add_argument("--method", choices=["gd", "adam"], default="gd",
                   help="gd: the theory's GD on the exact loss; adam: the paper's protocol (default gd)")
    t.add_argument("--steps", type=_nonneg_int, default=2000, help="training steps (default 2000)")
    t.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default 0)")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    r = sub.add_parser("reproduce", help="reproduce one of the paper's figures (PNG, SVG and JSON)",
                       description="Reproduce Figure 2(a), 2(b), 3, 4 or 5 of the paper: writes the figure "
                                   "(PNG, SVG) and the numbers behind it (JSON) into --out. Figures 2(b) and 5 "
                                   "(the four-layer transformer) need PyTorch (requirements-torch.txt).")
    r.add_argument("figure", choices=["fig2a", "fig2b", "fig3", "fig4", "fig5"])
    r.add_argument("--out", default="figures", help="output folder (default ./figures)")
    r.add_argument("--seed", type=_nonneg_int, default=0, help="random seed (default 0)")
    r.add_argument("--quick", action="store_true", help="a small, fast version for smoke tests")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    r.add_argument("--seeds", type=_pos_int, default=None,
                   help="fig2a/fig3/fig4: run the seeds SEED, …, SEED+S−1 (default 1); every seed's data goes in the JSON")
    r.add_argument("--jobs", type=_pos_int, default=None,
                   help="fig2a/fig3/fig4: worker processes for the independent runs (default 1; one BLAS thread each)")
    r.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="fig2a/fig3/fig4: send the runs to this dask.distributed scheduler (e.g. tcp://host:8786)")
    r.add_argument("--scale", choices=["paper", "reduced"], default=None,
                   help="fig2b/fig5: the paper's sizes (default; a GPU in practice) or the book's reduced sizes "
                        "for 2 CPU cores")
    r.add_argument("--device", choices=["cpu", "cuda"], default=None, help="fig2b/fig5: PyTorch device (default cpu)")
    r.add_argument("--tokens", choices=["gaussian", "unit"], default=None,
                   help="raw standard Gaussian tokens (the paper's §4; the default where a figure implements "
                        "both) or unit-norm tokens (the theory's setting)")
    r.add_argument("--heads", type=_pos_int, nargs="+", default=None, metavar="H",
                   help="fig4: only these numbers of heads (default: the grid 10 20 30 64 128 400)")
    r.add_argument("--objective", choices=["population", "minibatch"], default=None,
                   help="fig2a/fig4: Adam on the exact population loss (the paper's Figure 4 text, default) or "
                        "on batches of 256 from 10,000 training prompts (the paper's §4 set-up)")
    r.add_argument("--threads", type=_pos_int, default=None, help="fig2b/fig5: CPU threads for PyTorch (default 2)")
    return p


def _available_memory() -> int:
    """Bytes of memory available to a new allocation (Linux MemAvailable; else the physical memory)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def train_memory_bytes(K: int, N: int, d: int, m: int, H: int, method: str,
                       n_train: int = 10_000, batch: int = 256) -> int:
    """A lower estimate of the float64 memory ``train`` needs: the problem's arrays (V, Zt, A and Z̄², ...),
    the attention weights and their gradient buffers (about three arrays of H×N×K), and for Adam the
    training set (n_train×K labels) and a batch's buffers (about three arrays of batch×H×N)."""
    words = (d + m + 3 * N) * K + 3 * H * N * K + 4 * H * d * d + 2 * N * N
    if method == "adam":
        words += n_train * K + 3 * batch * (H * N + K)
    return 8 * words


def _cmd_train(a) -> int:
    from . import make_problem, train
    need, have = train_memory_bytes(a.K, a.N, a.d, a.m, a.H, a.method), _available_memory()
    if need > have:
        print(f"python -m iclbook: error: K={a.K}, N={a.N}, d={a.d}, m={a.m}, H={a.H} ({a.method}) need at "
              f"least {need / 2**30:.3g} GiB of memory; {have / 2**30:.3g} GiB are available", file=sys.stderr)
        return 2
    prob = make_problem(a.K, a.N, a.d, a.m, a.tau, seed=a.seed)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = train(prob, a.H, steps=a.steps, method=a.method, seed=a.seed, progress=not a.no_progress)
    for wmsg in caught:
        print(f"warning: {wmsg.message}", file=sys.stderr)
    print(f"problem: K={a.K} N={a.N} d={a.d} m={a.m} tau={a.tau:g}; H={a.H}, method={a.method}, "
          f"steps={h.steps_done}, seed={a.seed}")
    print(f"L* = {prob.L_star:.6g}; initial gap = {h.gap[0]:.4g}; final gap = {h.gap[-1]:.4g}")
    print(f"zeta0 = {h.zeta0:.4g} (Assumption 2 {'holds' if h.zeta0 > 0 else 'fails'}); "
          f"eta_w = {h.eta_w:.4g}, eta_Q = {h.eta_Q:.4g}, gamma = {h.gamma:g}")
    bound_rate = h.bound_rate
    if h.steps_done == 0:
        print("no step was taken (--steps 0): no observed rate; Theorem 1 bound rate 1 - eta_w*zeta0/2 = "
              f"{bound_rate:.6f}")
    else:
        print(f"observed rate per step = {h.observed_rate():.6f}; Theorem 1 bound rate 1 - eta_w*zeta0/2 = "
              f"{bound_rate:.6f}")
    if a.method == "gd" and 0 <= bound_rate <= 1:
        ok = h.within_theorem1_bound()
        print(f"gap under Theorem 1's bound at every record: {'yes' if ok else 'NO'}")
    if h.diverged:
        print(h.message)
        return 1
    return 0


def _config_and_options(a):
    """The experiment the command line asks for (a :class:`iclbook.experiments.Config`) and the options
    of its run; ValueError, worded for the command line, for a missing PyTorch, a missing CUDA, or the
    four-layer options given to another figure."""
    from . import experiments
    given = {k: getattr(a, k) for k in ("scale", "device", "threads") if getattr(a, k) is not None}
    protocol = {k: getattr(a, k) for k in ("tokens", "objective") if getattr(a, k) is not None}
    if a.heads is not None:
        if a.figure != "fig4":
            raise ValueError("--heads applies to fig4 only")
        protocol["H_grid"] = list(a.heads)
    options = {"progress": not a.no_progress, "command": " ".join(["python -m iclbook", *a.argv])}
    sweep = {k: getattr(a, k) for k in ("seeds", "jobs", "dask") if getattr(a, k) is not None}
    if sweep and a.figure not in experiments.SWEEP_FIGURES:
        raise ValueError(f"--{next(iter(sweep))} applies to {', '.join(experiments.SWEEP_FIGURES)} only")
    if a.figure not in experiments.TORCH_FIGURES:
        if given:
            raise ValueError(f"--{next(iter(given))} applies to {' and '.join(experiments.TORCH_FIGURES)} only")
        if sweep:
            if "dask" in sweep:
                try:
                    import distributed  # noqa: F401
                except ImportError:
                    raise ValueError("--dask needs dask.distributed: pip install 'dask[distributed]'") from None
            options.update(seeds=list(range(a.seed, a.seed + sweep.pop("seeds", 1))), **sweep)
        return experiments.config(a.figure, "quick" if a.quick else "paper", seed=a.seed, **protocol), options
    from .fourlayer import check_device
    device = given.get("device", "cpu")
    try:
        check_device(device)
    except ImportError as e:
        raise ValueError(str(e)) from None
    except ValueError:
        raise ValueError(f"--device {device}: CUDA is not available on this machine (use --device cpu)") from None
    preset = "quick" if a.quick else given.get("scale", "paper")
    cfg = experiments.config(a.figure, preset, seed=a.seed, **protocol)
    options.update(device=device, threads=given.get("threads", 2))
    return cfg, options


def _cmd_reproduce(a) -> int:
    from . import experiments
    from .experiments.results import OutputFolderError, prepare_output_folder
    try:
        cfg, options = _config_and_options(a)
        prepare_output_folder(a.out)
    except OutputFolderError as e:
        print(f"python -m iclbook: error: --out {e.path!r} {e.reason}", file=sys.stderr)
        return 2
    except ValueError as e:
        print(f"python -m iclbook: error: {e}", file=sys.stderr)
        return 2
    for pth in experiments.reproduce(cfg, a.out, **options):
        print(pth)
    return 0


def _terminate(signum, frame):
    # SIGTERM unwinds like Ctrl-C, so temporary files are removed and no half-written output is left
    raise KeyboardInterrupt


def main(argv=None) -> int:
    a = build_parser().parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        if a.command == "train":
            return _cmd_train(a)
        return _cmd_reproduce(a)
    except ValueError as e:  # bad combination of sizes (e.g. N >= K): the package names it
        print(f"python -m iclbook: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("python -m iclbook: interrupted", file=sys.stderr)
        return 130

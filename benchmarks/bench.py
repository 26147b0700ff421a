"""Side-by-side benchmark of iclbook against PyTorch and the machine's FLOP limit (issue: Performance).

Run (one process, float64, the same thread count for numpy's BLAS and PyTorch):

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -r benchmarks/requirements.txt -e .
    OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 .venv-bench/bin/python benchmarks/bench.py --threads 2

At the paper's scale N=30, K=200, d=100, m=20, H=64 it times, as the median of repeated runs:
  (a) iclbook.population_grad — one step of the theory's GD;
  (b) iclbook.empirical_loss_and_grad on 256 prompts — one step of the paper's Adam protocol;
  (c) the same population loss in PyTorch, written as a PyTorch user would (einsum, softmax, backward());
  (d) the paper's architecture (eqs. 5–7) run on each prompt's embedding matrix E in PyTorch, 256 prompts;
and the FLOP count of the minimal computation for (a) against the measured dense matrix-multiply rate.
Then a sweep over H and K with the fitted growth exponent of the step time. Prints a markdown table and
writes benchmarks/results.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import iclbook as ic


def median_time(f, *, repeat: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        f()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def minimal_flops(N, K, d, H) -> float:
    """Multiply-adds ×2 of the dense products of one exact gradient (eq. 8 forward, §6.3 backward).

    Forward: V_Nᵀ Q_h (N·d² per head) and (V_Nᵀ Q_h) V (N·d·K per head). Backward: R_h Vᵀ (N·K·d) and
    V_N (R_h Vᵀ) (d·N·d). The softmax, Â and Z̄²δ terms are O(HNK + N²K) and counted too.
    """
    gemm = 2 * H * (N * d * d + N * d * K) * 2
    elementwise = 12 * H * N * K + 2 * N * N * K
    return float(gemm + elementwise)


def interleaved(fs: dict, *, repeat: int, warmup: int = 2) -> dict:
    """Median time of each function, timed in turn within every round, so that a slow spell of the
    machine (a shared VM) hits all of them alike; also the per-round ratios to the first one."""
    for f in fs.values():
        for _ in range(warmup):
            f()
    times = {k: [] for k in fs}
    for _ in range(repeat):
        for k, f in fs.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    first = next(iter(fs))
    out = {k: statistics.median(v) for k, v in times.items()}
    out["ratios"] = {k: statistics.median(np.array(times[k]) / np.array(times[first])) for k in fs}
    return out


def gemm_rate(threads_note: str, n: int = 1000) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n)), rng.standard_normal((n, n))
    t = median_time(lambda: a @ b, repeat=10)
    return 2 * n**3 / t


def torch_setup(problem, Q, w, threads):
    import torch
    torch.set_num_threads(threads)
    T = lambda x: torch.tensor(np.asarray(x), dtype=torch.float64)
    data = dict(VN=T(problem.VN), V=T(problem.V), Zbar2=T(problem.Zbar2), A=T(problem.A),
                Lstar=float(problem.L_star))
    Qt = T(Q).requires_grad_(True)
    wt = T(w).requires_grad_(True)
    return torch, data, Qt, wt


def torch_population_step(torch, data, Qt, wt):
    """(c) Lemma 5's loss written as a PyTorch user would, gradients by autograd."""
    Qt.grad = None
    wt.grad = None
    D = torch.einsum("dn,hde,ek->hnk", data["VN"], Qt, data["V"])
    S = torch.softmax(D, dim=1)
    Ahat = torch.einsum("hk,hnk->nk", wt, S)
    delta = Ahat - data["A"]
    loss = 0.5 * (delta * (data["Zbar2"] @ delta)).sum() + data["Lstar"]
    loss.backward()
    return loss


def torch_architecture_step(torch, problem, Qt, wt, y, chunk=8):
    """(d) The paper's architecture on each prompt's embedding E (eqs. 2–7), as a reader of the paper would
    write it: full W^Q, W^K, W^V, W^O built from (Q, w), T(E) = W^O [head_1; …; head_H] per prompt, ŷ = diag T(E),
    mean squared loss over the batch, autograd. Prompts in chunks so the (H·K × K) head stack fits in memory."""
    Qt.grad = None
    wt.grad = None
    H, d, _ = Qt.shape
    K, N = problem.K, problem.N
    WQ = torch.nn.functional.pad(Qt, (0, 1, 0, 1))                          # [[Q_h, 0], [0, 0]]
    WK = torch.eye(d + 1, dtype=torch.float64).expand(H, d + 1, d + 1)
    WV = torch.zeros(H, K, d + 1, dtype=torch.float64)
    WV[:, :, d] = 1.0                                                       # (0_{K×d}, 1_K)
    WO = torch.cat([torch.diag(wt[h]) for h in range(H)], dim=1)            # (K, H·K)
    V = torch.tensor(problem.V, dtype=torch.float64)
    VN = V[:, :N]
    yt = torch.tensor(y, dtype=torch.float64)
    n = yt.shape[0]
    total = 0.0
    for i in range(0, n, chunk):
        yb = yt[i:i + chunk]
        b = yb.shape[0]
        EP = torch.cat([VN.expand(b, d, N), yb[:, None, :N]], dim=1)        # (b, d+1, N), eq. 2
        lab = torch.cat([yb[:, :N], torch.zeros(b, K - N, dtype=torch.float64)], dim=1)
        E = torch.cat([V.expand(b, d, K), lab[:, None, :]], dim=1)          # (b, d+1, K), eq. 4
        keys = torch.einsum("hij,bjn->bhin", WK, EP)
        queries = torch.einsum("hij,bjk->bhik", WQ, E)
        attn = torch.softmax(keys.transpose(2, 3) @ queries, dim=2)         # (b, H, N, K)
        values = torch.einsum("hij,bjn->bhin", WV, EP)                      # (b, H, K, N)
        heads = (values @ attn).reshape(b, H * K, K)                        # stacked heads
        T = WO @ heads                                                      # (b, K, K), eq. 6
        yhat = torch.diagonal(T, dim1=1, dim2=2)
        loss = 0.5 * ((yhat - yb) ** 2).sum() / n
        loss.backward()
        total += loss.item()
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="fewer repeats and a smaller sweep")
    ap.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    a = ap.parse_args()
    rep = 5 if a.quick else a.repeat
    N, K, d, m, H = 30, 200, 100, 20, 64
    p = ic.make_problem(K, N, d, m, 0.1, seed=0)
    rng = np.random.default_rng(0)
    Q, _ = ic.init_params(p, H, rng=rng)
    w = 0.01 * rng.standard_normal((H, K))
    _, y = ic.sample_prompts(p, 256, rng=rng)

    torch, data, Qt, wt = torch_setup(p, Q, w, a.threads)
    # correctness of (c) and (d) against iclbook, so the race is between equal computations
    torch_population_step(torch, data, Qt, wt)
    gQ, gw = ic.population_grad(p, Q, w)
    assert np.allclose(Qt.grad.numpy(), gQ, rtol=1e-8, atol=1e-10)
    assert np.allclose(wt.grad.numpy(), gw, rtol=1e-8, atol=1e-10)
    torch_architecture_step(torch, p, Qt, wt, y[:16])
    _, gQe, gwe = ic.empirical_loss_and_grad(p, Q, w, y[:16])
    assert np.allclose(Qt.grad.numpy(), gQe, rtol=1e-7, atol=1e-9)
    assert np.allclose(wt.grad.numpy(), gwe, rtol=1e-7, atol=1e-9)

    rng_g = np.random.default_rng(1)
    ga, gb = rng_g.standard_normal((1000, 1000)), rng_g.standard_normal((1000, 1000))
    gemm = lambda: ga @ gb                                                  # 2·10⁹ FLOP
    r1 = interleaved({"a": lambda: ic.population_grad(p, Q, w),
                      "b": lambda: ic.empirical_loss_and_grad(p, Q, w, y),
                      "c": lambda: torch_population_step(torch, data, Qt, wt),
                      "gemm": gemm}, repeat=rep)
    r2 = interleaved({"b": lambda: ic.empirical_loss_and_grad(p, Q, w, y),
                      "d": lambda: torch_architecture_step(torch, p, Qt, wt, y)},
                     repeat=max(3, rep // 10), warmup=1)
    t_a, t_b, t_c, t_d = r1["a"], r1["b"], r1["c"], r2["d"]
    rate = 2e9 / r1["gemm"]
    flops = minimal_flops(N, K, d, H)
    t_limit = flops / rate

    sweep = {"H": {}, "K": {}}
    Hs = [8, 16, 32, 64, 128, 256]
    Ks = [50, 100, 200, 400, 800]
    for h in Hs:
        Qh = rng.standard_normal((h, d, d))
        wh = 0.01 * rng.standard_normal((h, K))
        sweep["H"][h] = median_time(lambda: ic.population_grad(p, Qh, wh), repeat=rep)
    for k in Ks:
        pk = ic.make_problem(k, N, d, m, 0.1, seed=0)
        wk = 0.01 * rng.standard_normal((H, k))
        sweep["K"][k] = median_time(lambda: ic.population_grad(pk, Q, wk), repeat=rep)
    expo = {key: float(np.polyfit(np.log(list(v.keys())), np.log(list(v.values())), 1)[0])
            for key, v in sweep.items()}
    # the exponent the minimal FLOP count itself has over the same grid: the N·d² term of V_Nᵀ Q_h does not
    # grow with K, so the cost is affine in K (a + bK) and its log-log slope over K = 50…800 is below 1
    flop_expo = {"H": float(np.polyfit(np.log(Hs), np.log([minimal_flops(N, K, d, h) for h in Hs]), 1)[0]),
                 "K": float(np.polyfit(np.log(Ks), np.log([minimal_flops(N, k, d, H) for k in Ks]), 1)[0])}
    # time per unit of minimal FLOPs along each sweep: flat means the step costs what the arithmetic costs
    per_flop = {"H": {h: sweep["H"][h] / minimal_flops(N, K, d, h) * 1e9 for h in Hs},
                "K": {k: sweep["K"][k] / minimal_flops(N, k, d, H) * 1e9 for k in Ks}}

    res = dict(
        machine=dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(), threads=a.threads,
                     python=platform.python_version(), numpy=np.__version__, torch=torch.__version__),
        scale=dict(N=N, K=K, d=d, m=m, H=H, batch=256),
        seconds=dict(a=t_a, b=t_b, c=t_c, d=t_d, flop_limit_a=t_limit),
        gemm_gflops=rate / 1e9, flops_a=flops,
        ratios=dict(c_over_a=r1["ratios"]["c"], d_over_b=r2["ratios"]["d"],
                    a_over_flop_limit=(2e9 / flops) / r1["ratios"]["gemm"], b_over_a=r1["ratios"]["b"]),
        sweep={k: {str(x): t for x, t in v.items()} for k, v in sweep.items()}, exponents=expo,
        flop_count_exponents=flop_expo,
        ns_per_flop={k: {str(x): t for x, t in v.items()} for k, v in per_flop.items()},
        targets=dict(c_over_a=">= 1.5", a_over_flop_limit="<= 2", d_over_b=">= 50", exponents="within 0.15 of 1"),
    )
    Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"machine: {res['machine']}")
    print(f"dense matmul rate: {rate / 1e9:.1f} GFLOP/s; minimal FLOPs of (a): {flops / 1e6:.0f} MFLOP\n")
    print("| quantity | measured | target |")
    print("|---|---|---|")
    R = res["ratios"]
    print(f"| (c) PyTorch autograd / (a) iclbook population_grad | {R['c_over_a']:.2f}× | ≥ 1.5× |")
    print(f"| (a) / FLOP limit of (a) | {R['a_over_flop_limit']:.2f}× | ≤ 2× |")
    print(f"| (d) PyTorch architecture on E / (b) iclbook empirical, 256 prompts | {R['d_over_b']:.0f}× | ≥ 50× |")
    print(f"| (b) / (a) | {R['b_over_a']:.2f}× | — |")
    print(f"| growth exponent of step time in H (8–256) | {expo['H']:.2f} (FLOP count: {flop_expo['H']:.2f}) | 1 ± 0.15 |")
    print(f"| growth exponent of step time in K (50–800) | {expo['K']:.2f} (FLOP count: {flop_expo['K']:.2f}) | 1 ± 0.15 |")
    for key in ("H", "K"):
        row = ", ".join(f"{x}: {v:.2f}" for x, v in per_flop[key].items())
        print(f"ns per minimal FLOP along the {key} sweep: {row}")


if __name__ == "__main__":
    main()

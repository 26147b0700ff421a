"""Recompute the cached paper-scale runs of book/data/ with the reference, for as many Adam steps as wanted: seed 0
of the book's protocol (unit tokens, mini-batches; ``<figure>_unit_minibatch.json``), the protocol the reference
transcribes.

    python -m tests.reference.paper_runs --steps 1000            # Figure 2(a), H = 64
    python -m tests.reference.paper_runs --figure fig4 --H 10 --steps 500

At every cached record up to ``--steps`` it prints the cached mini-batch loss and the reference's (they
should agree to round-off), the cached population loss and the reference's Monte Carlo estimate ± 1 SE, and
for Figure 2(a) both cached inference losses and the reference's. A step costs about 0.1 s at H = 64.
The test suite runs the first record (step 50) of each (``tests/test_reference.py``).
"""
import argparse
import json
from pathlib import Path

import numpy as np

from .protocol import inference_loss, population_loss_monte_carlo, train_adam
from .streams import figure2a_test_prompts, paper_problem, training_stream

DATA = Path(__file__).resolve().parents[2] / "book" / "data"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--figure", choices=["fig2a", "fig4"], default="fig2a")
    ap.add_argument("--H", type=int, default=64, help="number of heads (fig4: one of its H grid)")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--prompts", type=int, default=3000, help="Monte Carlo prompts per record")
    a = ap.parse_args(argv)
    data = json.loads((DATA / f"{a.figure}_unit_minibatch.json").read_text())     # the protocol transcribed here
    data = data["per_seed"][0] if "per_seed" in data else data
    c = data["config"]
    seed = data.get("seed", c.get("seed"))
    run = data if a.figure == "fig2a" else next(r for r in data["runs"] if r["H"] == a.H)
    H = c["H"] if a.figure == "fig2a" else a.H
    V, Zt = paper_problem(c["K"], c["N"], c["d"], c["m"], seed)
    N, tau = c["N"], c["tau"]
    records = [i for i, s in enumerate(run["step"]) if 0 < s <= a.steps]
    steps = max(run["step"][i] for i in records)
    Q0, Y, batches = training_stream(Zt, tau, V.shape[0], H, seed, c["n_train"], c["batch"], steps)
    r = train_adam(V, N, H, Q0, Y, batches, c["lr"], steps, keep=[run["step"][i] for i in records])
    if a.figure == "fig2a":
        Y_in, Y_ood = figure2a_test_prompts(Zt, tau, seed, c["n_test"], c["ood_mean"], c["ood_std"])
    rng = np.random.default_rng(16)
    print(f"{a.figure}, H = {H}: step | mini-batch loss cached, reference, rel. diff | population loss cached, "
          "reference MC ± SE" + (" | inference in/ood cached, reference" if a.figure == "fig2a" else ""))
    for i in records:
        s = run["step"][i]
        Q, w = r["Q"][s], r["w"][s]
        tl = r["loss"][s - 1]
        mc, se = population_loss_monte_carlo(V, Zt, N, tau, Q, w, a.prompts, rng, chunk=1000)
        line = (f"{s:6d} | {run['train_loss'][i]:.10g} {tl:.10g} {abs(run['train_loss'][i] - tl) / tl:.1e} | "
                f"{run['loss'][i]:.6g} {mc:.6g} ± {se:.2g}")
        if a.figure == "fig2a":
            line += (f" | {run['inference_in'][i]:.6g} {inference_loss(V, Zt, N, tau, Q, w, Y_in):.6g}"
                     f" {run['inference_ood'][i]:.6g} {inference_loss(V, Zt, N, tau, Q, w, Y_ood):.6g}")
        print(line, flush=True)


if __name__ == "__main__":
    main()

"""The four-layer transformer (iclbook.fourlayer, chapter 13, Figures 2(b) and 5).

Every test that needs PyTorch is skipped, with a message saying how to install it, when it is missing.
"""
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest

import iclbook as ic


try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False

needs_torch = pytest.mark.skipif(
    not HAVE_TORCH, reason="PyTorch is not installed: pip install -r requirements-torch.txt (torch==2.13.0)")


def test_import_iclbook_does_not_import_torch():
    code = ("import sys, iclbook, iclbook.fourlayer, iclbook.experiments.fig2b, iclbook.experiments.fig5; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _small_problem(seed=0, unit=False):
    return ic.make_problem(K=12, N=4, d=5, m=3, tau=0.1, seed=seed, unit_tokens=unit)


def test_prompt_tokens_are_eq4_embedding():
    from iclbook import fourlayer as fl
    prob = _small_problem()
    _, y = ic.sample_prompts(prob, 3, rng=np.random.default_rng(0))
    tok = fl.prompt_tokens(prob, y)
    assert tok.shape == (3, prob.K, prob.d + 1)
    for i in range(3):
        np.testing.assert_array_equal(tok[i], ic.embed(prob, y[i])[1].T)      # eq. (4), transposed
    assert np.all(tok[:, prob.N:, prob.d] == 0)                             # unseen labels are 0


def _tiny_model(prob, seed=0):
    from iclbook import fourlayer as fl
    return fl.build_model(prob.d, d_model=8, d_ff=16, H=2, seed=seed)


@needs_torch
def test_permuting_unlabelled_tokens_permutes_outputs():
    """No positional encoding and no mask: the model is equivariant under permutations of the tokens. A
    positional encoding or a causal mask would break this."""
    import torch

    from iclbook import fourlayer as fl
    prob = _small_problem()
    _, y = ic.sample_prompts(prob, 2, rng=np.random.default_rng(1))
    model = _tiny_model(prob)
    x = torch.tensor(fl.prompt_tokens(prob, y), dtype=torch.float32)
    perm = np.r_[np.arange(prob.N), prob.N + np.random.default_rng(2).permutation(prob.K - prob.N)]
    with torch.no_grad():
        out, out_p = model(x).numpy(), model(x[:, perm]).numpy()
    assert out.shape == (2, prob.K)
    assert np.max(np.abs(out[:, perm] - out)) > 1e-3            # the permutation moves something
    np.testing.assert_allclose(out_p, out[:, perm], rtol=1e-5, atol=1e-5)


@needs_torch
def test_labels_of_unseen_tokens_do_not_leak_and_prompt_labels_are_read():
    from iclbook import fourlayer as fl
    prob = _small_problem()
    _, y = ic.sample_prompts(prob, 2, rng=np.random.default_rng(3))
    model = _tiny_model(prob)
    base = fl.predict(model, prob, y)
    y2 = y.copy()
    y2[:, prob.N:] += 100.0                                       # change every unseen label
    np.testing.assert_array_equal(fl.predict(model, prob, y2), base)
    y3 = y.copy()
    y3[:, 0] += 1.0                                               # change one prompt label
    assert np.max(np.abs(fl.predict(model, prob, y3) - base)) > 1e-4


@needs_torch
def test_same_seed_same_model_other_seed_other_model():
    prob = _small_problem()
    a = [p.detach().numpy() for p in _tiny_model(prob, 0).parameters()]
    b = [p.detach().numpy() for p in _tiny_model(prob, 0).parameters()]
    c = [p.detach().numpy() for p in _tiny_model(prob, 1).parameters()]
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not all(np.array_equal(u, v) for u, v in zip(a, c))


def _small_cfg(**kw):
    from iclbook import fourlayer as fl
    base = dict(K=12, N=4, d=5, m=3, d_model=8, d_ff=16, H=2, batch=8, n_train=40, n_test=6, n_eval=10,
                steps=6, record_every=3, early_records=[1])
    return {**fl.REDUCED, **base, **kw}


@needs_torch
def test_training_records_and_loss_definitions():
    """The recorded losses are the stated formulas, recomputed here from the final model with numpy."""
    from iclbook import fourlayer as fl
    cfg = _small_cfg()
    h = fl.train_fourlayer(cfg, seed=0, threads=1)
    assert list(h.step) == [0, 1, 3, 6] and not h.diverged and h.steps_done == 6
    prob = fl.problem_for(cfg, seed=0)
    data = fl.data_for(prob, cfg, seed=0)
    yh = fl.predict(h.model, prob, data["eval"])
    per = 0.5 * ((yh - data["eval"]) ** 2).sum(axis=1)
    np.testing.assert_allclose(h.train_loss[-1], per.mean(), rtol=1e-9)
    np.testing.assert_allclose(h.train_loss_se[-1], per.std(ddof=1) / math.sqrt(per.size), rtol=1e-9)
    ystar = ic.ridge_predict(prob, data["test_ood"], prob.m * prob.tau)
    yo = fl.predict(h.model, prob, data["test_ood"])
    np.testing.assert_allclose(h.inference_ood[-1], np.mean(np.sum((yo - ystar) ** 2, axis=1)) / prob.K,
                               rtol=1e-9)
    assert h.L_star == pytest.approx(prob.L_star)


@needs_torch
def test_divergence_is_flagged_and_stops():
    from iclbook import fourlayer as fl
    cfg = _small_cfg(lr=1e12, steps=30)
    with pytest.warns(ic.TrainingDiverged):
        h = fl.train_fourlayer(cfg, seed=0, threads=1)
    assert h.diverged and "diverged" in h.message and h.steps_done < 30


@needs_torch
def test_bad_arguments():
    from iclbook import fourlayer as fl
    with pytest.raises(ValueError, match="divide"):
        fl.build_model(5, d_model=8, d_ff=16, H=3)
    with pytest.raises(ValueError, match="tokens"):
        fl.problem_for(fl.REDUCED, tokens="sphere")
    with pytest.raises(ValueError, match="lr"):
        fl.train_fourlayer(_small_cfg(lr=-1.0))


def test_cli_cuda_without_cuda_exits_2(tmp_path, capsys):
    from iclbook.cli import main
    if HAVE_TORCH:
        import torch
        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
    out = tmp_path / "figs"
    assert main(["reproduce", "fig2b", "--device", "cuda", "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ("CUDA" in err or "PyTorch" in err)
    assert not out.exists()                                       # nothing computed, nothing written


def test_cli_torch_options_rejected_for_one_layer_figures(tmp_path, capsys):
    from iclbook.cli import main
    assert main(["reproduce", "fig3", "--threads", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--threads" in err
    # --tokens applies to every figure, but Figure 3 (ridge only) implements unit tokens only
    assert main(["reproduce", "fig3", "--tokens", "gaussian", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tokens" in err
    assert not any(tmp_path.iterdir())                            # nothing computed, nothing written


def test_at_budget_combines_steps_and_speeds():
    """A hand-made case: H = 1 runs 10 steps/s, H = 2 runs 4 steps/s, both cached for 100 steps. The
    largest covered budget is 100/10 = 10 s, in which H = 2 completes 40 steps (its record at step 40)."""
    from iclbook.experiments.fig5 import at_budget
    step = list(range(0, 101, 10))
    runs = [{"H": H, "step": step, "steps_done": 100, "train_loss": [1000.0 / (H + s) for s in step],
             "inference_in": [0.0] * 11, "inference_ood": [0.0] * 11} for H in (1, 2)]
    b = at_budget({"runs": runs}, {"H": [1, 2], "steps_per_second": [10.0, 4.0]})
    assert b["budget"] == pytest.approx(10.0)
    assert b["steps"] == [100, 40]
    assert b["train_loss"] == [1000.0 / 101, 1000.0 / 42]
    b5 = at_budget({"runs": runs}, {"H": [1, 2], "steps_per_second": [10.0, 4.0]}, budget=5.0)
    assert b5["steps"] == [50, 20] and b5["train_loss"] == [1000.0 / 51, 1000.0 / 22]


# ---- the cached runs of the book, recomputed for a prefix ---------------------------------------------

def _cached(name):
    from iclbook.experiments import load_cached
    return load_cached(name)


def _compare_prefix(cached: dict, fresh, keys=("train_loss", "inference_in", "inference_ood")):
    """Records of the fresh prefix run must match the cached ones at the same steps. rtol 1e-3: a different
    seed, initialization, wiring or loss changes these numbers by percents; float32 round-off across CPUs
    changes them by far less than that in a few steps."""
    step = list(cached["step"])
    for i, s in enumerate(fresh.step):
        j = step.index(int(s))
        for key in keys:
            np.testing.assert_allclose(getattr(fresh, key)[i], cached[key][j], rtol=1e-3, err_msg=f"{key}, step {s}")


@needs_torch
def test_fig2b_cached_prefix_recomputed():
    from iclbook import fourlayer as fl
    data = _cached("fig2b")
    assert data["scale"] == "reduced" and data["tokens"] == "gaussian"
    cfg = {k: v for k, v in data["config"].items() if k not in ("seed", "tokens")}
    assert {k: cfg[k] for k in fl.REDUCED} == fl.REDUCED                  # the cache is of today's REDUCED
    h = fl.train_fourlayer(cfg, seed=data["seed"], tokens=data["tokens"], steps=10,
                           threads=data["provenance"]["threads"])
    assert list(h.step) == [0, 5, 10]
    _compare_prefix(data, h)
    assert not data["diverged"] and data["steps_done"] == cfg["steps"]


@needs_torch
def test_fig5_cached_prefix_recomputed():
    from iclbook import fourlayer as fl
    from iclbook.experiments import config
    data = _cached("fig5")
    assert data["config"] == config("fig5", "reduced").as_dict()
    run = next(r for r in data["runs"] if r["H"] == 16)
    h = fl.train_fourlayer(data["config"], seed=data["seed"], tokens=data["tokens"], H=16, steps=5,
                           threads=data["provenance"]["threads"])
    _compare_prefix(run, h)


def test_fig5_h8_is_fig2b_prefix():
    """fig5's H = 8 run has the settings of fig2b (only the record schedule differs), so at the steps both
    recorded the two cached runs, made by separate processes, agree (determinism)."""
    a, b = _cached("fig2b"), _cached("fig5")
    r8 = next(r for r in b["runs"] if r["H"] == 8)
    common = sorted(set(a["step"]) & set(r8["step"]))
    assert len(common) >= 4
    for s in common:
        i, j = a["step"].index(s), r8["step"].index(s)
        for key in ("train_loss", "inference_in", "inference_ood"):
            assert a[key][i] == pytest.approx(r8[key][j], rel=1e-6), (key, s)


@pytest.mark.parametrize("with_speed", [True, False])
def test_fig5_plot_labels_a_tick_under_every_curve_of_panel_a(with_speed):
    """Figure 5(a) of the cached run: the in-domain loss (about 15) lay under the lowest labelled tick (100), the
    training loss over the only other one (1000)."""
    from iclbook.experiments import fig5
    data = _cached("fig5")
    if not with_speed:
        data = {k: v for k, v in data.items() if k != "speed"}
    from iclbook.plotting import new_figure
    fig = fig5.plot(data, fig=new_figure(fig5.FIGSIZE, pyplot=False))
    fig.draw_without_rendering()
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    labelled = [t.get_position()[1] for t in ax.get_yticklabels() if t.get_text() and lo <= t.get_position()[1] <= hi]
    ys = np.concatenate([line.get_ydata() for line in ax.get_lines()])
    assert min(labelled) <= ys.min() and max(labelled) >= ys.max(), (labelled, ys.min(), ys.max())

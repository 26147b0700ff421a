"""iclbook.sweeps: parallel runs give the serial results bit for bit, on joblib and on a Dask cluster, and an
interrupted sweep resumes from its stored runs."""
import json
import warnings

import pytest

from iclbook import sweeps

SMALL = dict(K=12, N=4, d=6, m=3, tau=0.1, method="adam", steps=60, record_every=20, lr=1e-2, batch=8,
             n_train=40)


def _configs(seeds=(0, 1, 2, 3), Hs=(3, 6)):
    # H = 3 < N = 4 warns (Assumption 2 cannot hold): the runs are still valid sweep units
    return [dict(SMALL, H=H, seed=s) for s in seeds for H in Hs]


def _same(a, b) -> bool:
    """Equal bit for bit, NaN included (the records hold NaN where a quantity is not defined), timings
    aside: as JSON text, floats are written with every digit of their shortest round-trip form."""
    return json.dumps(_without_timings(a), sort_keys=True) == json.dumps(_without_timings(b), sort_keys=True)


def _serial():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return sweeps.sweep(sweeps.training_run, _configs()).results


def test_run_key_is_stable_and_order_free():
    a = dict(SMALL, H=3, seed=0)
    b = dict(reversed(list(a.items())))
    assert sweeps.run_key(a) == sweeps.run_key(b)
    assert sweeps.run_key(a) != sweeps.run_key(dict(a, seed=1))
    assert sweeps.run_key(a) != sweeps.run_key(dict(a, lr=1.0001e-2))


def test_jobs_2_gives_the_serial_results_bit_for_bit():
    serial = _serial()
    par = sweeps.sweep(sweeps.training_run, _configs(), jobs=2)
    assert par.computed == len(serial) and par.loaded == 0
    assert _same(par.results, serial)                 # exact equality of every float of every curve
    # the runs differ from each other (a sweep that returned one run eight times would pass the line above)
    assert len({json.dumps(r) for r in serial}) == len(serial)


def test_dask_local_cluster_gives_the_serial_results():
    distributed = pytest.importorskip("distributed")
    serial = _serial()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        got = sweeps.sweep(sweeps.training_run, _configs(), dask=client)
        assert _same(got.results, serial)
        got2 = sweeps.sweep(sweeps.training_run, _configs(seeds=(0,)), dask=cluster.scheduler_address)
        assert _same(got2.results, serial[:2])


def _fail_on_seed_2(config):
    if config["seed"] == 2:
        raise KeyboardInterrupt("simulated interruption")
    return sweeps.training_run(config)


def test_interrupted_sweep_resumes_from_its_stored_runs(tmp_path):
    serial = _serial()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(KeyboardInterrupt):
            sweeps.sweep(_fail_on_seed_2, _configs(), store=tmp_path)
        stored = sorted(tmp_path.glob("*.json"))
        assert len(stored) == 4                       # seeds 0 and 1, both H: stored as they finished
        before = {p.name: p.read_bytes() for p in stored}
        again = sweeps.sweep(sweeps.training_run, _configs(), store=tmp_path)
    assert (again.loaded, again.computed) == (4, 4)
    assert _same(again.results, serial)
    assert all(p.read_bytes() == before[p.name] for p in stored)   # the stored runs were not rewritten
    assert not list(tmp_path.glob(".*.tmp"))
    third = sweeps.sweep(sweeps.training_run, _configs(), store=tmp_path)
    assert (third.loaded, third.computed) == (8, 0) and _same(third.results, serial)


_CALLS = []


def _record_call(config):
    _CALLS.append((config["H"], config["seed"]))
    return {"H": config["H"], "seed": config["seed"]}


def test_runs_start_in_decreasing_cost_and_results_keep_their_order():
    """With cost = H, the largest run starts first (on parallel workers the longest run must not start
    last); the results still follow the configurations' order. Without cost, the configurations' order."""
    configs = [dict(H=H, seed=s) for s in (0, 1) for H in (3, 12, 6)]
    _CALLS.clear()
    res = sweeps.sweep(_record_call, configs, cost=lambda c: c["H"]).results
    assert [c[0] for c in _CALLS] == [12, 12, 6, 6, 3, 3]
    assert res == configs
    _CALLS.clear()
    sweeps.sweep(_record_call, configs)
    assert _CALLS == [(c["H"], c["seed"]) for c in configs]


def test_store_refuses_a_file_of_another_configuration(tmp_path):
    store = sweeps.RunStore(tmp_path)
    a, b = dict(SMALL, H=3, seed=0), dict(SMALL, H=3, seed=1)
    store.save(a, {"x": 1})
    store.path(a).rename(store.path(b))
    with pytest.raises(ValueError, match="another configuration"):
        store.load(b)


# ---- the paper's figures through the sweep: iclbook.experiments.run_seeds and reproduce --seeds/--jobs/--dask

def _without_timings(x):
    """The data with wall-clock times removed: everything else must agree bit for bit."""
    if isinstance(x, dict):
        return {k: _without_timings(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [_without_timings(v) for v in x]
    return x


def test_figure4_seeds_in_parallel_equal_the_serial_figure(tmp_path):
    from iclbook import experiments as ex
    cfg = ex.config("fig4", "quick", steps=50)
    serial = [ex.run(cfg.replace(seed=s)) for s in (0, 1)]
    got = ex.run_seeds(cfg, [0, 1], jobs=2, store=tmp_path)
    assert got["seeds"] == [0, 1]
    assert _without_timings(got["per_seed"]) == _without_timings(json.loads(json.dumps(serial)))
    assert serial[0]["runs"][0]["gap"] != serial[1]["runs"][0]["gap"]     # the seeds differ
    assert len(list(tmp_path.glob("*.json"))) == 2 * len(cfg["H_grid"])    # one stored run per (seed, H)
    one = ex.run_seeds(cfg, [1], store=tmp_path)                            # read back, not recomputed
    assert one.pop("runs_computed_loaded") == {"computed": 0, "loaded": len(cfg["H_grid"])}
    assert _without_timings(one) == _without_timings(got["per_seed"][1])


def test_reproduce_refuses_seeds_for_the_four_layer_figures(capsys):
    from iclbook.cli import main
    assert main(["reproduce", "fig5", "--quick", "--seeds", "2", "--out", "unused"]) == 2
    assert "--seeds applies to fig2a, fig3, fig4 only" in capsys.readouterr().err


def test_reproduce_records_protocol_heads_and_provenance(tmp_path, capsys):
    """reproduce fig4 --tokens/--objective/--heads: the JSON records the protocol, the grid and a provenance record
    with the command; the stored runs are the ones run_seeds computes for the same configuration (read back, not
    recomputed); --heads on another figure is a one-line error."""
    from iclbook import experiments as ex
    from iclbook.cli import main
    argv = ["reproduce", "fig4", "--quick", "--heads", "3", "--seeds", "2", "--tokens", "unit", "--objective",
            "minibatch", "--out", str(tmp_path), "--no-progress"]
    assert main(argv) == 0
    data = json.loads((tmp_path / "fig4.json").read_text())
    assert (data["tokens"], data["objective"], data["config"]["H_grid"]) == ("unit", "minibatch", [3])
    assert data["provenance"]["command"] == "python -m iclbook " + " ".join(argv)
    cfg = ex.config("fig4", "quick", tokens="unit", objective="minibatch", H_grid=[3])
    again = ex.run_seeds(cfg, [0, 1], store=tmp_path / "runs")
    assert _without_timings(again["per_seed"]) == _without_timings(data["per_seed"])
    assert main(["reproduce", "fig3", "--quick", "--heads", "3", "--out", str(tmp_path / "x")]) == 2
    assert "--heads applies to fig4 only" in capsys.readouterr().err

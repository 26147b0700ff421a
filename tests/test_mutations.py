"""The book's promise that its checks can fail: a deliberate error in iclbook makes the test command fail.

Two kinds of mutation. (1) A broken loss or gradient formula: a chapter runs with a first cell that patches
the package, and must stop on a failed assertion. (2) A 1 % error in the limit matrix A, ζ, Theorem 1's bound,
the softmax, the ridge predictor or Adam's bias correction: one line of the package's source is edited, the
module is executed again from the edited text (in this process, undone after the test), and the unit test
of tests/test_numerics.py that compares this quantity with an independent computation must fail with an
AssertionError. For each kind, a control run with a harmless patch must pass.
"""
import importlib
import inspect
import sys
import types
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import test_numerics as tn

BOOK = Path(__file__).resolve().parents[1] / "book"

_WRAP = """
import iclbook.model as _m
_orig = _m._grad_from_dA
def _mutant(problem, S, w, G):
{body}
_m._grad_from_dA = _mutant
"""

MUTATIONS = {
    # the loss: Z̄ in place of Z̄² in the closed form (eq. 36)
    "loss_Zbar_for_Zbar2": ("ch04_loss", """
import numpy as np, iclbook, iclbook.model as _m
def _bad_loss(problem, Q, w):
    Q, w = _m.check_params(problem, Q, w)
    delta = _m._ahat(_m._softmax(_m.head_scores(problem, Q)), w) - problem.A
    return 0.5 * float(np.sum(delta * (problem.Zbar @ delta))) + problem.L_star
_m.population_loss = iclbook.population_loss = _bad_loss
"""),
    # the loss: L⋆ without the target-noise term mτ of c'_k (the paper's extracted fragment)
    "loss_Lstar_without_m_tau": ("ch04_loss", """
import numpy as _np, iclbook.problem as _p
_c = _p.Problem.c.func
def _c_bad(self):
    out = _np.array(_c(self)); out[self.N:] -= self.m * self.tau; return out
_p.Problem.c = property(_c_bad)
_p.Problem.L_star = property(lambda self: float(0.5 * _np.sum(self.c)))
"""),
    # the Q-gradient: the softmax Jacobian without its −s sᵀ term
    "grad_jacobian_sign": ("ch05_gradients", _WRAP.format(body="""
    import numpy as np
    gw = np.einsum("hnk,nk->hk", S, G)
    R = S * G[None] * w[:, None, :]
    H, N, K = S.shape
    M = (R.reshape(H * N, K) @ problem.VT).reshape(H, N, problem.d)
    return np.matmul(problem.VN, M), gw""")),
    # the w-gradient off by 0.1 %
    "grad_w_scaled": ("ch05_gradients", _WRAP.format(body="""
    gQ, gw = _orig(problem, S, w, G)
    return gQ, 1.001 * gw""")),
}


def _run(chapter: str, patch: str):
    nb = nbformat.read(BOOK / f"{chapter}.ipynb", as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(patch))
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}).execute()


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_a_broken_formula_makes_its_chapter_fail(name):
    chapter, patch = MUTATIONS[name]
    with pytest.raises(CellExecutionError) as err:
        _run(chapter, patch)
    assert err.value.ename == "AssertionError", f"failed for another reason: {err.value.ename}: {err.value.evalue}"


def test_control_patch_passes():
    _run("ch04_loss", "import iclbook.model as _m\n_m._grad_from_dA = _m._grad_from_dA\n")


# ---- 1 % errors in the numerical kernels, caught by the unit tests -----------------------------------

_SMALL = (12, 4, 6, 3, 0.1)

#: name -> (module, exact text of the package, the text with a 1 % error, the check that must catch it)
SOURCE_MUTATIONS = {
    # A's unseen columns (eq. 34) 1 % too large
    "A_unseen_scaled": ("iclbook.problem",
                        "A[:, N:] = np.linalg.solve(self.Zbar2,",
                        "A[:, N:] = 1.01 * np.linalg.solve(self.Zbar2,",
                        lambda: tn.test_limit_matrix_unseen_columns_are_ridge_with_penalty_m_tau(*_SMALL)),
    # A's unseen columns from a penalty 1 % above mτ
    "A_unseen_penalty": ("iclbook.problem",
                         "A[:, N:] = np.linalg.solve(self.Zbar2,",
                         "A[:, N:] = np.linalg.solve(self.Zbar2 + 0.01 * self.m * self.tau * np.eye(N),",
                         lambda: tn.test_limit_matrix_unseen_columns_are_ridge_with_penalty_m_tau(*_SMALL)),
    # ζ (Assumption 2) 1 % too large
    "zeta_scaled": ("iclbook.convergence",
                    "return np.maximum(ev[:, 0], 0.0)",
                    "return np.maximum(1.01 * ev[:, 0], 0.0)",
                    lambda: tn.test_zeta_and_smoothness_match_eigenvalues_of_a_similar_matrix(*_SMALL, 0)),
    # Theorem 1: the rate 1 − 1.01 η_w ζ₀/2, the bound 1.01 (…)^t Δ(0), and the rate 1 − 2 η_w ζ₀
    "theorem1_rate_1pc": ("iclbook.convergence",
                          "rho = 1.0 - eta_w * zeta0 / 2.0",
                          "rho = 1.0 - 1.01 * eta_w * zeta0 / 2.0",
                          tn.test_theorem1_rate_follows_from_descent_and_pl),
    "theorem1_rate_2": ("iclbook.convergence",
                        "rho = 1.0 - eta_w * zeta0 / 2.0",
                        "rho = 1.0 - 2.0 * eta_w * zeta0",
                        tn.test_theorem1_rate_follows_from_descent_and_pl),
    "theorem1_scale": ("iclbook.convergence",
                       "return delta_0 * rho ** t",
                       "return 1.01 * delta_0 * rho ** t",
                       tn.test_theorem1_rate_follows_from_descent_and_pl),
    # the softmax (eq. 13) at temperature 1/1.01, and normalised to 1/1.01
    "softmax_temperature": ("iclbook.model",
                            "np.exp(D, out=D)",
                            "np.exp(1.01 * D, out=D)",
                            lambda: tn.test_softmax_weights_match_a_plain_loop(*_SMALL, 3.0)),
    "softmax_normalisation": ("iclbook.model",
                              "D /= D.sum(axis=axis, keepdims=True)",
                              "D /= 1.01 * D.sum(axis=axis, keepdims=True)",
                              lambda: tn.test_softmax_weights_match_a_plain_loop(*_SMALL, 3.0)),
    # the ridge predictor: a penalty 1 % too large, and unseen predictions 1 % too large
    "ridge_penalty": ("iclbook.ridge",
                      "M = Z @ Z.T + r * np.eye(problem.m)",
                      "M = Z @ Z.T + 1.01 * r * np.eye(problem.m)",
                      lambda: tn.test_ridge_matches_least_squares_on_the_augmented_system(*_SMALL, "m_tau")),
    "ridge_prediction": ("iclbook.ridge",
                         "lam @ problem.Zt[:, problem.N:]",
                         "1.01 * lam @ problem.Zt[:, problem.N:]",
                         lambda: tn.test_ridge_matches_least_squares_on_the_augmented_system(*_SMALL, "m_tau")),
    # Adam's bias corrections 1 − β₁ᵗ and 1 − β₂ᵗ off by 1 %, in the update and in the training loop
    "adam_bias_b1": ("iclbook.training",
                     "lr / (1 - b1**t)",
                     "lr / (1.01 * (1 - b1**t))",
                     lambda: tn.test_adam_update_is_kingma_ba_algorithm_1((0.9, 0.999), 1e-8)),
    "adam_bias_b2": ("iclbook.training",
                     "1 / np.sqrt(1 - b2**t)",
                     "1 / np.sqrt(1.01 * (1 - b2**t))",
                     lambda: tn.test_adam_update_is_kingma_ba_algorithm_1((0.9, 0.999), 1e-8)),
    "adam_bias_b1_in_train": ("iclbook.training",
                              "lr / (1 - b1**t)",
                              "lr / (1.01 * (1 - b1**t))",
                              tn.test_train_adam_is_the_paper_protocol_with_kingma_ba),
}


def _mutate(monkeypatch, module: str, old: str, new: str):
    """Execute ``module`` again from its source with ``old`` replaced by ``new`` (exactly one occurrence), and
    point every name in the iclbook modules that held one of its functions or classes at the new one."""
    mod = importlib.import_module(module)
    src = Path(mod.__file__).read_text()
    assert src.count(old) == 1, f"{module}: the text to mutate must occur exactly once: {old!r}"
    fresh = types.ModuleType(module)
    fresh.__dict__.update(__file__=mod.__file__, __package__=mod.__package__, __spec__=mod.__spec__)
    exec(compile(src.replace(old, new), mod.__file__, "exec"), fresh.__dict__)
    swap = {id(obj): fresh.__dict__[name] for name, obj in vars(mod).items()
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(obj, "__module__", None) == module}
    for name, m in list(sys.modules.items()):
        if m is not None and (name == "iclbook" or name.startswith("iclbook.")):
            for attr, val in list(vars(m).items()):
                if id(val) in swap:
                    monkeypatch.setattr(m, attr, swap[id(val)])


@pytest.mark.parametrize("name", sorted(SOURCE_MUTATIONS))
def test_a_one_percent_error_fails_a_unit_test(name, monkeypatch):
    module, old, new, check = SOURCE_MUTATIONS[name]
    _mutate(monkeypatch, module, old, new)
    with pytest.raises(AssertionError):
        check()


@pytest.mark.parametrize("module", sorted({v[0] for v in SOURCE_MUTATIONS.values()}))
def test_control_source_patch_passes(module, monkeypatch):
    """The same machinery with a harmless edit (the text replaced by itself): the module's functions are
    replaced by freshly executed ones, and every check of that module passes."""
    old = next(v[1] for v in SOURCE_MUTATIONS.values() if v[0] == module)
    before = dict(vars(importlib.import_module(module)))
    _mutate(monkeypatch, module, old, old)
    after = vars(importlib.import_module(module))
    assert any(inspect.isfunction(v) and after[k] is not v for k, v in before.items())
    for mod_, _, _, check in SOURCE_MUTATIONS.values():
        if mod_ == module:
            check()

"""The book's promise that its checks can fail: breaking a loss or gradient formula in iclbook makes a chapter
fail. Each test runs a chapter with one deliberate mutation of the package (a first cell that patches it) and
expects an error; a control run with a harmless patch must pass."""
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

BOOK = Path(__file__).resolve().parents[1] / "book"

_WRAP = """
import iclbook.model as _m
_orig = _m.grad_from_dA
def _mutant(problem, S, w, G):
{body}
_m.grad_from_dA = _mutant
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
    _run("ch04_loss", "import iclbook.model as _m\n_m.grad_from_dA = _m.grad_from_dA\n")

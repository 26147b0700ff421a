"""booktools.audit reads statements and checks from notebooks (chapter 12's table)."""
import json

import nbformat as nbf

from booktools import audit


def _write(tmp_path, name, cells):
    nb = nbf.v4.new_notebook()
    nb.cells = cells
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code":
            c.execution_count = i
    p = tmp_path / f"{name}.ipynb"
    p.write_text(json.dumps(nb))
    return p


def test_attribution_by_heading_and_reference(tmp_path):
    md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
    _write(tmp_path, "ch01_a", [
        md("# One\n\n```{prf:lemma} A loss (paper's Lemma 5)\n:label: lem-5\n\nText.\n```\n"),
        md("## Lemma 5 checked"), code("assert sp.simplify(x - x) == 0\nassert 1 < 2"),
        md("## Something else\n\nAs {prf:ref}`lem-5` says:"), code("np.testing.assert_allclose(1, 1)"),
        md("## Unrelated"), code("assert True"),
    ])
    _write(tmp_path, "ch02_b", [
        md("# Two\n\n```{prf:theorem} Conv (paper's Theorem 1)\n:label: thm-1\n```\n"),
        md("## Figure 4 at scale"), code("assert 2 > 1"),
        md("See {prf:ref}`lem-5`."), code("assert 3 > 2"),
    ])
    chs = audit.read_book(tmp_path)
    rows = {r["result"]: r for r in audit.claims_table(chs)}
    assert rows["Lemma 5"]["symbolic"] == 1 and rows["Lemma 5"]["numeric"] == 3
    assert rows["Lemma 5"]["checked_in"] == ["ch01_a", "ch02_b"]
    assert rows["Theorem 1"]["status"] == "stated only"
    assert rows["Figure 4"]["numeric"] == 1
    assert rows["Theorem 1"]["chapter_checks"] == [0, 2]          # ch02_b's checks, none attributed to it
    assert rows["Lemma 6"]["status"] == "not stated"
    assert chs[0].symbolic == 1 and chs[0].numeric == 3 and chs[0].executed


def test_unexecuted_or_failed_chapter_is_flagged(tmp_path):
    p = _write(tmp_path, "ch01_a", [nbf.v4.new_markdown_cell("# T"), nbf.v4.new_code_cell("assert False")])
    nb = json.loads(p.read_text())
    nb["cells"][1]["outputs"] = [{"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []}]
    p.write_text(json.dumps(nb))
    assert not audit.read_chapter(p).executed

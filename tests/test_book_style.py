"""The book-wide figure style (iclbook.plotting) and the audit's reading of statement titles (chapter 12)."""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat as nbf  # noqa: E402

from booktools import audit  # noqa: E402
from iclbook import plotting  # noqa: E402

COLUMN_PX = 700          # the text column at 1280 px; figures are shrunk to it


def _displayed_pt(fig, size_pt):
    """Font size on screen, in CSS points, of text of ``size_pt`` in ``fig`` shown COLUMN_PX wide."""
    return size_pt * COLUMN_PX / (fig.get_figwidth() * 96)


def test_text_is_at_least_9pt_on_screen_at_any_width():
    # a wrong style (fonts fixed at 10 pt whatever the width) makes a 9.5-inch figure's ticks about 6.5 pt
    plotting.use_book_style()
    for width in (6.4, 9.0, 9.5, 12.0):
        fig = plt.figure(figsize=(width, 3.6))          # plain pyplot, as chapters and experiments call it
        try:
            for key in ("font.size", "xtick.labelsize", "legend.fontsize", "axes.labelsize"):
                assert _displayed_pt(fig, plt.rcParams[key]) >= 9.0 - 1e-9, (width, key)
        finally:
            plt.close(fig)


def test_png_has_twice_the_pixels_it_is_shown_with():
    plotting.use_book_style()
    fig, _ = plotting.new_axes()
    try:
        assert fig.get_figwidth() * plt.rcParams["savefig.dpi"] >= 2 * COLUMN_PX
    finally:
        plt.close(fig)


def test_a_short_log_axis_gets_a_label_at_1_2_and_5_times_each_power_of_ten():
    # matplotlib's default labels only 0.1 on data from 0.02 to 0.5 (chapter 5's figure, before the fix)
    fig, ax = plotting.new_axes(width=plotting.PHONE_WIDTH)
    try:
        ax.loglog([10, 1e4], [0.5, 0.02])
        plotting.label_log_axis(ax.yaxis)
        fig.canvas.draw()
        lo, hi = ax.get_ylim()
        shown = [t.get_text() for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi]
        assert shown == ["0.02", "0.05", "0.1", "0.2", "0.5"], shown
        assert not any(t.get_text() for t in ax.yaxis.get_minorticklabels())
    finally:
        plt.close(fig)


def test_cover_data_puts_a_labelled_tick_under_the_lowest_curve():
    # chapter 13's Figure 5(a): losses from 14.5 to 1991; matplotlib's margins leave 20 as the lowest label
    fig, ax = plotting.new_axes(width=plotting.PHONE_WIDTH)
    try:
        ax.semilogy([1, 16], [14.5, 1991])
        top = ax.get_ylim()[1]
        plotting.label_log_axis(ax.yaxis, cover_data=True)
        assert ax.get_ylim() == (10.0, top)          # widened down to the label 10; 2000 already covers the top
    finally:
        plt.close(fig)


def test_a_title_that_starts_with_the_papers_number_names_that_result(tmp_path):
    md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
    nb = nbf.v4.new_notebook()
    nb.cells = [md("# T\n\n```{prf:lemma} Lemma 5 (deterministic form of the loss)\n:label: lem-5\n:nonumber:\n"
                   ":class: badge-confirmed\n\nText.\n```\n\n```{prf:lemma} Push-through identity (used in the "
                   "paper's Appendix C)\n:label: lem-w\n:nonumber:\n\nText.\n```\n"),
                code("assert 1 < 2")]
    nb.cells[1].execution_count = 1
    p = tmp_path / "ch01_a.ipynb"
    p.write_text(json.dumps(nb))
    ch = audit.read_chapter(p)
    assert [s.paper for s in ch.statements] == [["Lemma 5"], []]
    rows = {r["result"]: r for r in audit.claims_table([ch])}
    assert rows["Lemma 5"]["status"] == "checked" and rows["Lemma 4"]["status"] == "not stated"


def _make_diagrams():
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "book" / "img" / "make_diagrams.py"
    spec = importlib.util.spec_from_file_location("make_diagrams", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, path.parent


def test_the_diagrams_in_the_book_are_what_make_diagrams_draws(tmp_path):
    # fails when iclbook/plotting.py's drawing changed and book/img was not redrawn (or was edited by hand)
    mod, img = _make_diagrams()
    for new in mod.draw_all(tmp_path):
        assert new.read_bytes() == (img / new.name).read_bytes(), f"book/img/{new.name} is stale: run {mod.__file__}"


def test_every_diagram_has_a_phone_rendering_drawn_phone_width_with_text_as_outlines():
    # a wide diagram alone shows its 9 pt text at ~5 pt on a 400 px phone (the HTML shows the _phone twin there);
    # text left as <text> elements would be drawn in whatever font the reader's browser has
    import re
    mod, img = _make_diagrams()
    wide = [p for p in img.glob("*.svg") if not p.stem.endswith("_phone")]
    assert wide
    for p in wide:
        twin = p.with_name(p.stem + "_phone.svg")
        assert twin.is_file(), f"{p.name} has no phone rendering {twin.name}"
        width_pt = float(re.search(r'<svg[^>]*\bwidth="([0-9.]+)pt"', twin.read_text()).group(1))
        assert abs(width_pt - 72 * plotting.PHONE_WIDTH) < 0.5, (twin.name, width_pt)
        for f in (p, twin):
            assert "<text" not in f.read_text(), f"{f.name} keeps text as <text> elements"

"""Redraw the book's diagrams as SVG (run from the repository root after changing iclbook/plotting.py):

    .venv/bin/python book/img/make_diagrams.py

model.svg      the one-layer multi-head transformer on a prompt (chapter 2; with the trained model's behaviour,
               Theorem 2, in the preface's version model_result.svg)
roadmap.svg    how the paper's results lead to Theorems 1 and 2 (chapter 8)

Each has a ``_phone`` twin (model_phone.svg, ...): the same diagram laid out PHONE_WIDTH (4 inches) wide, which
the HTML book shows instead below 576 px (_ext/iclbook_html.py, item 10).
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from iclbook import plotting  # noqa: E402

HERE = Path(__file__).parent


def _save(ax, path):
    # stable ids (the files change only when the drawing does); text as outlines: the same look in every browser,
    # whatever fonts it has (set at saving: the book's style, applied by each drawing, writes text as <text>)
    with plt.rc_context({"svg.hashsalt": "iclbook", "svg.fonttype": "path"}):
        ax.figure.savefig(path, format="svg", metadata={"Date": None})
    plt.close(ax.figure)


DIAGRAMS = {
    "model.svg": lambda: plotting.draw_model_diagram(),
    "model_result.svg": lambda: plotting.draw_model_diagram(result=True),
    "roadmap.svg": lambda: plotting.draw_proof_roadmap(),
    "model_phone.svg": lambda: plotting.draw_model_diagram(phone=True),
    "model_result_phone.svg": lambda: plotting.draw_model_diagram(result=True, phone=True),
    "roadmap_phone.svg": lambda: plotting.draw_proof_roadmap(phone=True),
}


def draw_all(outdir=HERE):
    """Write every diagram into ``outdir`` (the book's img folder by default); returns their paths."""
    plotting.use_book_style()
    for name, draw in DIAGRAMS.items():
        _save(draw(), Path(outdir) / name)
    return [Path(outdir) / name for name in DIAGRAMS]


if __name__ == "__main__":
    print("wrote", ", ".join(p.name for p in draw_all()))

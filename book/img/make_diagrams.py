"""Redraw the book's two diagrams as SVG (run from the repository root after changing iclbook/plotting.py):

    .venv/bin/python book/img/make_diagrams.py

model.svg      the one-layer multi-head transformer on a prompt (chapter 2; with the trained model's behaviour,
               Theorem 2, in the preface's version model_result.svg)
roadmap.svg    how the paper's results lead to Theorems 1 and 2 (chapter 8)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from iclbook import plotting  # noqa: E402

HERE = Path(__file__).parent


def _save(ax, name):
    plt.rcParams["svg.hashsalt"] = "iclbook"          # stable ids: the files change only when the drawing does
    ax.figure.savefig(HERE / name, format="svg", metadata={"Date": None})
    plt.close(ax.figure)


if __name__ == "__main__":
    plotting.use_book_style()
    plt.rcParams["svg.fonttype"] = "path"             # text as outlines: the same look in every browser
    _save(plotting.draw_model_diagram(), "model.svg")
    _save(plotting.draw_model_diagram(result=True), "model_result.svg")
    _save(plotting.draw_proof_roadmap(), "roadmap.svg")
    print("wrote", ", ".join(str(p.name) for p in sorted(HERE.glob("*.svg"))))

"""The PDF of the book, read back as text with pdftotext (poppler-utils).

Run after ``make pdf`` (``make test`` does both); point ICLBOOK_PDF at another PDF to check that one (its
LaTeX log is looked for next to it, same name, ``.log``). Checks: every page of _toc.yml is in the table of
contents; no undefined reference ("??") and no LaTeX warning about one; no math macro of _config.yml left as
text (a macro LaTeX never saw as math, or one missing from the preamble); no MyST role or directive left as
text; no character missing from the fonts; and at least as many images as the chapters show figures.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PDF = Path(os.environ.get("ICLBOOK_PDF", ROOT / "_build" / "latex" / "iclbook.pdf"))
LOG = PDF.with_suffix(".log")

# Roles and directives of the book's MyST that must never reach a reader as text.
ROLE = re.compile(r"\{(?:doc|ref|numref|eq|math|term|download|any|abbr|sub|sup|cite(?::[a-z]+)?|prf:[a-z]+"
                  r"|[a-z]+:[a-z]+)\}(?=[A-Za-z0-9`<])")
DIRECTIVE = re.compile(r"(?:```|:::)\s*\{[a-z:-]+\}")
HIDDEN = {"remove-output", "remove-cell", "hide-output", "remove_output", "remove_cell"}


def _pdftotext(*args: str) -> str:
    tool = shutil.which("pdftotext")
    if tool is None:
        pytest.fail("pdftotext is missing: apt-get install poppler-utils (.ci/run installs it)")
    if not PDF.is_file():
        pytest.fail(f"{PDF} does not exist: build it with `make pdf`")
    return subprocess.run([tool, *args, str(PDF), "-"], check=True, capture_output=True, text=True).stdout


@lru_cache
def text(layout: bool = False) -> str:
    return _pdftotext("-enc", "UTF-8", *(["-layout"] if layout else []))


def flat(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part.get("chapters", [])]
    files += [c["file"] for c in toc.get("chapters", [])]
    return files


def title_of(file: str) -> str:
    """The first H1 of a page of _toc.yml (markdown file or notebook)."""
    for suffix in (".md", ".ipynb"):
        path = ROOT / (file + suffix)
        if path.is_file():
            break
    else:
        raise FileNotFoundError(file)
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text())["cells"]
        source = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    else:
        source = path.read_text()
    for line in source.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    raise ValueError(f"{path} has no H1 title")


def macros() -> list[str]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    return list(config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"])


def test_every_page_of_the_toc_is_in_the_table_of_contents():
    body = flat(text(layout=True)).casefold()
    missing = []
    for file in toc_files():
        title = title_of(file)
        # a contents line: the title, dot leaders, a page number (a title merely quoted in the text has no number)
        words = [re.escape(w) for w in title.casefold().split()]
        if not re.search(r"\s".join(words) + r"[ .]*\d+", body):
            missing.append(f"{file}: {title!r}")
    assert not missing, "pages of _toc.yml missing from the PDF's table of contents:\n" + "\n".join(missing)


def test_no_undefined_reference():
    pages = [i + 1 for i, page in enumerate(text().split("\f")) if "??" in page]
    assert not pages, f"'??' (an undefined LaTeX reference) on PDF pages {pages}"


def test_no_math_macro_left_as_text():
    names = macros()
    assert names, "no macros found in _config.yml"
    # A list of macro names, as on the Notation page ("\R, \E, \Zbar, ..."), documents them: skip such lists.
    listing = re.compile(r"\\[A-Za-z]+(?:\s*,\s*\\[A-Za-z]+){2,}")
    body = listing.sub(" ", text())
    found = []
    for name in names:
        for m in re.finditer(re.escape("\\" + name) + r"(?![A-Za-z])", body):
            found.append(flat(body[max(0, m.start() - 60): m.end() + 40]))
    assert not found, f"{len(found)} macro(s) of _config.yml left as raw text, e.g.:\n" + "\n".join(found[:8])


def test_no_myst_role_or_directive_left_as_text():
    body = text()
    found = [flat(body[max(0, m.start() - 50): m.end() + 30]) for m in ROLE.finditer(body)]
    found += [flat(body[max(0, m.start() - 50): m.end() + 30]) for m in DIRECTIVE.finditer(body)]
    assert not found, f"{len(found)} MyST role(s)/directive(s) left as raw text, e.g.:\n" + "\n".join(found[:8])


def _log() -> str:
    if not LOG.is_file():
        pytest.fail(f"{LOG} (the LaTeX log of {PDF.name}) does not exist")
    return LOG.read_text(errors="replace")


def test_latex_log_has_no_undefined_reference_or_control_sequence():
    # (TeX wraps its log at 79 characters, even inside a word: match the start of each message only)
    bad = re.compile(r"^(! Undefined control sequence|! .*Error|LaTeX Warning: (Reference|Citation|Hyper reference) "
                     r"|LaTeX Warning: There were undefined references)[^\n]*(?:\n[^\n]*)?", re.M)
    found = sorted({flat(m.group(0)) for m in bad.finditer(_log())})
    assert not found, f"the LaTeX log of {PDF.name} reports:\n" + "\n".join(found[:10])


def test_no_character_missing_from_the_fonts():
    # a glyph the font lacks is silently left out of the PDF; the log is the only place that says so
    found = sorted(set(re.findall(r"Missing character: There is no (.*?) in font (\S+?)[/!]", _log())))
    assert not found, "characters missing from the PDF's fonts: " + ", ".join(f"{c} ({f})" for c, f in found)


def test_figures_are_in_the_pdf():
    """Every figure a chapter shows as a PNG/JPEG output is an image in the PDF (an SVG output becomes vector
    graphics, which pdfimages does not list, so only raster outputs are counted)."""
    shown = 0
    for file in toc_files():
        path = ROOT / (file + ".ipynb")
        if not path.is_file():
            continue
        for cell in json.loads(path.read_text())["cells"]:
            if HIDDEN & set(cell.get("metadata", {}).get("tags", [])):
                continue
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                shown += "image/svg+xml" not in data and any(k in data for k in ("image/png", "image/jpeg"))
    tool = shutil.which("pdfimages")
    assert tool, "pdfimages is missing: apt-get install poppler-utils"
    listing = subprocess.run([tool, "-list", str(PDF)], check=True, capture_output=True, text=True).stdout
    images = sum(1 for line in listing.splitlines()[2:] if line.split()[2:3] == ["image"])
    assert shown > 0
    assert images >= shown, f"the chapters show {shown} raster figures, the PDF holds only {images} images"

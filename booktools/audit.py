"""What the book verified: a table of the paper's claims and the checks that verify them, read from the
executed chapter notebooks (chapter 12). Nothing here is typed by hand except the list of the paper's
results itself; which chapter states a result and how many checks follow it are read from the notebooks.

A *statement* is a sphinx-proof directive (``prf:lemma``, ``prf:theorem``, …) whose title names a paper
result: either it starts with the paper's name for it, e.g. "Lemma 5 (deterministic form of the loss)", or it
names it in a "(paper's …)" part, e.g. "Deterministic form of the loss (paper's Lemma 5)". A *check* is an ``assert`` line in a code
cell; it counts as *symbolic* when the line uses sympy (``sp.``, ``simplify``, a ``symbolic_*`` helper) and
as *numeric* otherwise. A check is attributed to the paper results named by the text just before it: the
markdown cell right before its code cell, through the headings, statements and ``{prf:ref}`` citations in it;
if that cell names none, the current ``###`` heading (e.g. "Lemma 2: the softmax is 2-Lipschitz"), else the
current ``##`` heading. A check whose text names no result counts only towards its chapter's total.
A chapter counts as *executed* when every code cell has run and no stored output is an error; CI's strict
nbval run guarantees that the stored outputs are the current ones.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PAPER_RESULTS", "Statement", "Chapter", "read_chapter", "read_book", "claims_table", "MarkdownTable"]

#: The paper's numbered results, assumptions, remarks and figures, in the paper's order.
PAPER_RESULTS = [
    "Assumption 1", "Assumption 2", "Assumption 3", "Assumption 4", "Proposition 1", "Theorem 1",
    "Theorem 2", "Lemma 1", "Lemma 2", "Lemma 3", "Lemma 4", "Lemma 5", "Lemma 6", "Lemma 7", "Lemma 8",
    "Lemma 9", "Lemma 10", "Figure 2(a)", "Figure 3", "Figure 4",
]

_DIRECTIVE = re.compile(r"```\{prf:(\w+)\}[ \t]*([^\n]*)\n((?:[ \t]*:[\w-]+:[^\n]*\n)*)")
_LABEL = re.compile(r":label:\s*(\S+)")
_PRF_REF = re.compile(r"\{prf:ref\}`(?:[^`<]*<)?([^`>]+)>?`")
_PAPER_REF = re.compile(r"(Assumption|Proposition|Theorem|Lemma|Remark|Definition|Corollary)s?\s+(\d+)"
                        r"((?:\s*(?:,|and|–|-|to)\s*\d+)*)")
_SYMBOLIC = re.compile(r"\bsp\.|sympy|simplify|\bsy\.|symbolic|is_zero_rational|exact_", re.I)
_ASSERT = re.compile(r"^\s*(assert\b|np\.testing\.assert_|testing\.assert_|assert_allclose\()", re.M)


_HEADING = re.compile(r"^(#{2,3})\s+(.+)$", re.M)
_FIG_NAME = re.compile(r"Figure\s+(2\(a\)|3|4)")


@dataclass
class Statement:
    kind: str
    title: str
    label: str
    paper: list = field(default_factory=list)


@dataclass
class Chapter:
    file: str
    title: str
    executed: bool
    statements: list
    checks: dict            # paper result -> [symbolic, numeric]
    symbolic: int = 0
    numeric: int = 0


_LEADING = re.compile(r"^\s*(Assumption|Proposition|Theorem|Lemma|Remark|Definition|Corollary)\s+(\d+)\b")


def _paper_results(title: str) -> list:
    """Paper results named in a directive title: the name it starts with ("Lemma 5 (…)"), and those inside
    its "(paper's …)" part."""
    lead = _LEADING.match(title)
    out = [f"{lead.group(1)} {lead.group(2)}"] if lead else []
    m = re.search(r"paper's\s+([^)]*)", title)
    out += _names(m.group(1)) if m else []
    return list(dict.fromkeys(out))


def _names(text: str) -> list:
    """Paper results named anywhere in ``text``: "Lemma 5", "Lemmas 2 and 3", "Figure 2(a)", …"""
    out = []
    for kind, first, rest in _PAPER_REF.findall(text):
        nums = [first] + re.findall(r"\d+", rest)
        if re.search(r"–|-|to", rest) and len(nums) == 2:
            nums = [str(i) for i in range(int(nums[0]), int(nums[1]) + 1)]
        out += [f"{kind} {n}" for n in nums]
    return out + [f"Figure {f}" for f in _FIG_NAME.findall(text)]


def _cells(path):
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    return nb.get("cells", [])


def _statements(cells) -> list:
    out = []
    for c in cells:
        if c.get("cell_type") == "markdown":
            for kind, ttl, opts in _DIRECTIVE.findall("".join(c.get("source", ""))):
                if kind != "proof":
                    lab = _LABEL.search(opts)
                    out.append(Statement(kind, ttl.strip(), lab.group(1) if lab else "", _paper_results(ttl)))
    return out


def read_chapter(path, labels=None) -> Chapter:
    """Statements, attributed checks and execution status of one chapter notebook. ``labels`` maps
    statement labels of the whole book to the paper results they state (for {prf:ref} to other chapters)."""
    path = Path(path)
    cells = _cells(path)
    statements = _statements(cells)
    labels = dict(labels or {}) | {s.label: s.paper for s in statements if s.label}
    title, h2, h3, refs = "", [], [], []
    checks, executed, sym, num = {}, True, 0, 0
    for c in cells:
        src = "".join(c.get("source", ""))
        if c.get("cell_type") == "markdown":
            if not title:
                h = re.search(r"^#\s+(.+)$", src, re.M)
                title = h.group(1).strip() if h else path.stem
            for level, text in _HEADING.findall(src):
                if len(level) == 2:
                    h2, h3 = _names(text), []
                else:
                    h3 = _names(text)
            named = _LABEL.findall(src) + _PRF_REF.findall(src)
            refs = [r for x in dict.fromkeys(named) for r in labels.get(x, [])]
            refs += [r for _, text in _HEADING.findall(src) for r in _names(text)]
        elif c.get("cell_type") == "code" and src.strip():
            if c.get("execution_count") is None or any(o.get("output_type") == "error" for o in c.get("outputs", [])):
                executed = False
            context = list(dict.fromkeys(refs or h3 or h2))
            for line in src.splitlines():
                if _ASSERT.match(line):
                    symbolic = bool(_SYMBOLIC.search(line))
                    for r in context:
                        checks.setdefault(r, [0, 0])[0 if symbolic else 1] += 1
                    sym += symbolic
                    num += not symbolic
    return Chapter(path.stem, title or path.stem, executed, statements, checks, sym, num)


def read_book(book_dir="book", exclude=("ch12_verified",)) -> list:
    """Every chapter notebook ``ch*.ipynb`` under ``book_dir``, in file order, except ``exclude``."""
    paths = [p for p in sorted(Path(book_dir).glob("ch*.ipynb")) if p.stem not in exclude]
    labels = {s.label: s.paper for p in paths for s in _statements(_cells(p)) if s.label}
    return [read_chapter(p, labels) for p in paths]


def claims_table(chapters) -> list:
    """One row per paper result of :data:`PAPER_RESULTS`: the chapters and labels that state it, the symbolic and
    numeric checks attributed to it, the chapters those checks are in, all checks of the chapters that state or
    check it (``chapter_checks``: the attribution rule is local, so a chapter's other checks often concern the
    same result), and a status: "checked" (at least one check attributed), "stated only" or "not stated"."""
    rows = []
    for res in PAPER_RESULTS:
        stated = [(ch.file, st.label) for ch in chapters for st in ch.statements if res in st.paper]
        sym = sum(ch.checks.get(res, [0, 0])[0] for ch in chapters)
        num = sum(ch.checks.get(res, [0, 0])[1] for ch in chapters)
        where = [ch.file for ch in chapters if res in ch.checks]
        status = "checked" if sym + num else ("stated only" if stated else "not stated")
        homes = {f for f, _ in stated} | set(where)
        in_chapters = [sum(c.symbolic for c in chapters if c.file in homes),
                       sum(c.numeric for c in chapters if c.file in homes)]
        rows.append(dict(result=res, stated=stated, checked_in=where, symbolic=sym, numeric=num, status=status,
                         chapter_checks=in_chapters))
    return rows


def chapters_markdown(chapters) -> str:
    """A markdown table of the chapters: title, executed, symbolic and numeric checks, statements."""
    lines = ["| chapter | executed | symbolic checks | numeric checks | statements |", "|---|---|---|---|---|"]
    for ch in chapters:
        labels = ", ".join(f"{{prf:ref}}`{s.label}`" for s in ch.statements if s.label) or "—"
        lines.append(f"| {{doc}}`{ch.title} <{ch.file}>` | {'yes' if ch.executed else '**no**'} | "
                     f"{ch.symbolic} | {ch.numeric} | {labels} |")
    return "\n".join(lines)


def claims_markdown(rows) -> str:
    """A markdown table of :func:`claims_table`'s rows, with links to the statements and chapters."""
    lines = ["| paper | stated in | checks attributed (symbolic + numeric) | in chapters | all checks of those chapters | status |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        stated = ", ".join(f"{{prf:ref}}`{lab}`" if lab else f"{{doc}}`{f}`" for f, lab in r["stated"]) or "—"
        where = ", ".join(f"{{doc}}`{f}`" for f in r["checked_in"]) or "—"
        status = r["status"] if r["status"] == "checked" else f"**{r['status']}**"
        cs, cn = r["chapter_checks"]
        lines.append(f"| {r['result']} | {stated} | {r['symbolic']} + {r['numeric']} | {where} | {cs} + {cn} | {status} |")
    return "\n".join(lines)


class MarkdownTable:
    """A Markdown table as a notebook shows it: rendered (``text/markdown``, what the book prints) and stored as
    its source (``text/plain``), so strict nbval compares every cell of it. (IPython's ``Markdown`` object stores
    only "<IPython.core.display.Markdown object>" as text, which nbval compares, so a table shown that way needs
    a second, printed copy to be checked: the book would show the numbers twice.)"""

    def __init__(self, source: str):
        self.source = source

    def _repr_markdown_(self):
        return self.source

    def __repr__(self):
        return self.source

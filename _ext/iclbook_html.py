"""Small fixes to the HTML site, made in one local Sphinx extension.

1. Serve MathJax from a local copy when ICLBOOK_MATHJAX_DIR is set (the offline build of the browser test).

The published book loads MathJax 3 from its CDN (Sphinx's default). For a browser with no network, build
with ICLBOOK_MATHJAX_DIR pointing at the ``es5`` folder of the npm package ``mathjax@3`` (``make test`` installs
it under .cache/npm): the folder is copied into the site as ``_static/mathjax/`` and every page loads
``_static/mathjax/tex-chtml.js``. It is a separate static folder, not ``_static/``, because Jupyter Book
injects every script found in the source ``_static/`` folder into every page.

2. Proofs (sphinx-proof 0.4). It renders every ``prf:proof`` as an admonition with the same id ``proof``, with
   no title, and with "Proof." pasted in front of its first paragraph; every statement's body gets the id
   ``proof-content``. sphinx-togglebutton, which makes ``.admonition.dropdown`` collapsible, looks its
   button up by the id, so with repeated ids only the first proof of a page collapses and the other buttons
   act on it. Here each proof gets a unique id (``proof-1``, ``proof-2``, … in page order), a title
   "Proof" (the control togglebutton makes) and loses the pasted "Proof."; each statement body gets
   ``<label>-content``. Every proof is a dropdown, collapsed at load, whether or not its source says
   ``:class: dropdown``.

3. One numbering. The paper's results are stated with ``:nonumber:`` and a title that starts with the
   paper's own name for them, e.g. ``{prf:lemma} Lemma 5 (deterministic form of the loss)``: the box then
   reads "Lemma 5 (deterministic form of the loss)" and ``{prf:ref}`lem-5``` reads "Lemma 5". The book's
   own results are stated with ``:nonumber:`` and a plain name, e.g. ``{prf:lemma} Push-through identity``:
   the box reads "Lemma (Push-through identity)" and a reference reads the same. Nothing is numbered into
   the paper's sequence. (sphinx-proof would also give an unnumbered statement's title the statement's id,
   a second element with the same id: removed.)

4. Badges: ``:class: badge-confirmed`` or ``:class: badge-re-derived`` on a statement adds a small label
   after its title saying whether its formula is confirmed in the paper's text or re-derived by this book
   (in text: ``{badge}`confirmed```); it links to the definition of the two badges in the preface (label
   ``formula-badges``). (A role cannot go in the title: a backtick ends a code fence's info string.)

5. Bibliography: author-year labels ("Yang et al., 2024"), as the text cites, instead of pybtex's alpha
   labels ("[YHLC24]"); entries sorted by author and year, with their arXiv, DOI and URL links
   (``bibtex_default_style: iclbook``).

6. Figures at the size they are drawn. A notebook's PNG figure (matplotlib records its resolution in the
   file, 240 dpi for the book's style) is shown at most as wide as drawn (pixels x 96 / dpi CSS px), never
   stretched to the column: a figure drawn 4 inches wide for phones (``iclbook.plotting.PHONE_WIDTH``) keeps its
   10 pt text at 10 pt on a desktop, and on a phone shrinks only as far as the screen makes it.

7. Tables that stack on phones: a table of three or more columns, or any table with ``:class: stack-on-phone``
   (e.g. a ``list-table``), gets in each body cell its column's header as a small label, hidden on wide screens; below 576 px the CSS (_static/iclbook.css)
   shows each row as a block, one cell under the other, each with its label, instead of a table that scrolls.

8. Jupyter Book 1.0.4 registers sphinx-thebe's inline configuration script twice, so every page logs
"Identifier 'THEBE_JS_URL' has already been declared": identical scripts are kept once.

9. Inline code in a table cell may break after ``.``, ``_``, ``(``, ``,``, ``=`` or ``[`` (a ``<wbr>`` there), so the
   notation page's long call signatures fit their column without breaking inside a word.

10. Diagrams drawn twice, for wide screens and for phones. A figure's image ``img/X.svg`` that has a sibling
    ``img/X_phone.svg`` (drawn :data:`iclbook.plotting.PHONE_WIDTH` wide, ``book/img/make_diagrams.py``) is
    followed by that second image in the HTML; the CSS shows one of the two: the wide one from 576 px up, the
    phone one below, so the diagram's text keeps its 9-10 pt on a phone instead of shrinking to ~5 pt. The PDF
    has the wide one only.
"""
import json
import os
import re
import shutil
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList


def _copy(app, exc):
    src = os.environ.get("ICLBOOK_MATHJAX_DIR")
    if exc is None and src and app.builder.format == "html":
        dst = Path(app.outdir) / "_static" / "mathjax"
        if not dst.exists():
            shutil.copytree(src, dst)


def _configure(app, config):
    src = os.environ.get("ICLBOOK_MATHJAX_DIR")
    if not src:
        return
    if not (Path(src) / "tex-chtml.js").is_file():
        raise RuntimeError(f"ICLBOOK_MATHJAX_DIR={src!r} has no tex-chtml.js (expected mathjax@3's es5 folder)")
    config.mathjax_path = "mathjax/tex-chtml.js"


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for js in context.get("script_files", []):
        # the same inline script is registered once with filename None and once with ""
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted(getattr(js, "attributes", {}).items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    # in place: Sphinx's MathJax handler appends to this same list later in the event
    context["script_files"][:] = kept


_PAPER_NAME = re.compile(r"^\s*\(?\s*((Assumption|Lemma|Theorem|Proposition|Corollary|Definition|Remark)\s+\d+)\b")


def _statement_nodes(doctree):
    from sphinx_proof.nodes import unenumerable_node, NODE_TYPES
    types = (unenumerable_node, *set(NODE_TYPES.values()))
    return [n for n in doctree.findall(lambda n: isinstance(n, types))]


def _title_text(node):
    title = node.next_node(nodes.title)
    if title is None:
        return ""
    return "".join(t.astext() for t in title.findall(nodes.Text) if not _in_badge(t))


def _in_badge(n):
    while n is not None:
        if isinstance(n, nodes.inline) and "iclbook-badge" in n.get("classes", []):
            return True
        n = n.parent
    return False


def _read_statements(app, doctree):
    """Paper-numbered titles: strip sphinx-proof's " (…)" around the title; remember each statement's name.
    A numbered statement is refused (a warning, an error under -W): its number would not be the paper's."""
    from sphinx.util import logging
    from sphinx_proof.nodes import unenumerable_node
    env = app.env
    names = env.__dict__.setdefault("iclbook_prf_names", {})
    for node in _statement_nodes(doctree):
        realtyp = node.get("realtype", "")
        if not isinstance(node, unenumerable_node):
            logging.getLogger(__name__).warning(
                f"prf:{realtyp} {node.get('label', '')!r} is numbered: give it :nonumber: and a title that starts "
                f"with the paper's name for it (\"Lemma 5 (…)\") or, for the book's own results, a plain name",
                location=node)
        title = node.next_node(nodes.title)
        text = _title_text(node).strip()
        m = _PAPER_NAME.match(text)
        label = node.get("label", "")
        if m and m.group(2).lower() == realtyp and "nonumber" in (env.proof_list.get(label) or {}) \
                and env.proof_list[label]["nonumber"]:
            node["iclbook_paper_name"] = m.group(1)
            # the title nodes read " (Lemma 5 (…))": drop the outer parentheses
            texts = list(title.findall(nodes.Text))
            first, last = texts[0], texts[-1]
            first.parent.replace(first, nodes.Text(re.sub(r"^\s*\(", "", str(first), count=1)))
            texts = list(title.findall(nodes.Text))
            last = texts[-1]
            last.parent.replace(last, nodes.Text(re.sub(r"\)\s*$", "", str(last), count=1)))
            names[label] = (env.docname, m.group(1))
        elif label:
            plain = re.sub(r"^\s*\((.*)\)\s*$", r"\1", text).strip()
            # a reference names the result without the "(the paper's …)" or "(this book's …)" note
            plain = re.sub(r"\s*\((?:the paper[’']s|used in the paper[’']s|this book[’']s)[^()]*\)\s*$", "", plain)
            names[label] = (env.docname, f"{realtyp.title()} ({plain})" if plain else realtyp.title())
        if title is not None:
            title["ids"] = []      # sphinx-proof repeats the statement's id on an unnumbered title
            for key in BADGES:
                if f"badge-{key}" in node["classes"]:
                    title += nodes.Text(" ")
                    title += _badge_node(key)


def _merge_names(app, env, docnames, other):
    env.__dict__.setdefault("iclbook_prf_names", {}).update(getattr(other, "iclbook_prf_names", {}))


def _purge_names(app, env, docname):
    names = getattr(env, "iclbook_prf_names", {})
    for k in [k for k, (d, _) in names.items() if d == docname]:
        del names[k]


def _fix_doctree(app, doctree, docname):
    """Unique proof ids and titles; unique statement-body and exercise/solution-body ids (sphinx-proof and
    sphinx-exercise give every body the same id, so a toggle acts on the first one of the page); solution ids
    without "/" (sphinx-exercise puts the document's path in them, which breaks the toggle's CSS selector);
    references to unnumbered statements by name."""
    for node in doctree.findall(nodes.Element):        # sphinx-exercise's own node class, not an admonition
        if "solution" in node.get("classes", []):
            node["ids"] = [i.replace("/", "-") for i in node["ids"]]
            # its title links to the exercise, so a click on "Solution to Exercise 7.1" jumped away instead of
            # opening the solution: keep the words, drop the link (the exercise is right above)
            title = node.next_node(nodes.title)
            if title is not None:
                for ref in list(title.findall(nodes.reference)):
                    ref.replace_self(ref.children)
    for node in doctree.findall(nodes.section):
        if node["ids"] in (["proof-content"], ["exercise-content"], ["solution-content"]):
            owner = node.parent
            base = (owner["ids"] or ["statement"])[0] if owner is not None else "statement"
            node["ids"] = [f"{base}-content"]
    count = 0
    for node in doctree.findall(nodes.admonition):
        if "proof" in node["classes"] and node["ids"] == ["proof"]:
            count += 1
            node["ids"] = [f"proof-{count}"]
            if "dropdown" not in node["classes"]:       # every proof collapsed at load, one click away
                node["classes"].append("dropdown")
            para = node.next_node(nodes.paragraph)
            if para is not None and para.children and isinstance(para[0], nodes.Text) \
                    and str(para[0]).startswith("Proof. "):
                para.replace(para[0], nodes.Text(str(para[0])[len("Proof. "):]))
            if not isinstance(node.children[0] if node.children else None, nodes.title):
                node.insert(0, nodes.title("", "Proof"))
    if app.builder.format == "latex":
        # a badge inside a theorem title reaches LaTeX as a local reference that LaTeX cannot resolve (the
        # definition is in the preface): in the PDF the badge is its words, without the link
        for badge in list(doctree.findall(nodes.inline)):
            if "iclbook-badge" in badge["classes"]:
                for ref in list(badge.findall(nodes.reference)):
                    ref.replace_self(ref.children)
    names = getattr(app.env, "iclbook_prf_names", {})
    for ref in doctree.findall(nodes.reference):
        target = ref.get("refid") or (ref.get("refuri", "").split("#")[-1] if "#" in ref.get("refuri", "") else "")
        if target in names and ref.astext().strip() in {t.title() for t in _TYPES} and \
                app.env.proof_list.get(target, {}).get("nonumber"):
            del ref[:]
            ref += nodes.Text(names[target][1])


def _png_css_width(path):
    """The CSS width (px) a PNG is drawn for: its pixel width x 96 / its recorded resolution (pHYs, in dots
    per metre); None when the file records no resolution."""
    import struct
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    width = struct.unpack(">I", data[16:20])[0]
    i = 8
    while i + 8 <= len(data):
        n, kind = struct.unpack(">I", data[i:i + 4])[0], data[i + 4:i + 8]
        if kind == b"pHYs":
            ppm_x, _, unit = struct.unpack(">IIB", data[i + 8:i + 17])
            return round(width * 96 / (ppm_x * 0.0254)) if unit == 1 and ppm_x else None
        if kind in (b"IDAT", b"IEND"):
            return None
        i += 12 + n
    return None


def _stack_labels(app, doctree, docname):
    """HTML only: in a table of three or more columns or with class ``stack-on-phone`` (which it gets), each body
    cell starts with its column's header."""
    if app.builder.format != "html":
        return
    for table in doctree.findall(nodes.table):
        thead = table.next_node(nodes.thead)
        tgroup = table.next_node(nodes.tgroup)
        if "stack-on-phone" not in table["classes"]:
            if tgroup is None or tgroup.get("cols", 0) < 3:
                continue
            table["classes"].append("stack-on-phone")
        tbody = table.next_node(nodes.tbody)
        if thead is None or tbody is None:
            continue
        heads = [e.astext().strip() for e in thead.next_node(nodes.row).children]
        for row in tbody.children:
            for head, entry in zip(heads, row.children):
                label = nodes.inline("", head, classes=["stack-label"])
                para = entry.next_node(nodes.paragraph)
                if para is not None and para.parent is entry:
                    para.insert(0, label)
                else:
                    entry.insert(0, nodes.paragraph("", "", label))


_CODE_BREAK = re.compile(r"(?<=[._(,=\[])(?=\w)")


def _code_breaks(app, doctree, docname):
    """HTML only: inline code in a table cell (the notation page's call signatures) may break after a ``.``, ``_``,
    ``(``, ``,``, ``=`` or ``[`` that is followed by a word character (a ``<wbr>``), so a column of long signatures
    shrinks to the table's share of the column without breaking an identifier in the middle of a word."""
    if app.builder.format != "html":
        return
    for table in doctree.findall(nodes.table):
        for lit in list(table.findall(nodes.literal)):
            for text in list(lit.findall(nodes.Text)):
                parts = _CODE_BREAK.split(str(text))
                if len(parts) < 2:
                    continue
                new = []
                for i, part in enumerate(parts):
                    if i:
                        new.append(nodes.raw("", "<wbr>", format="html"))
                    new.append(nodes.Text(part))
                text.parent.replace(text, new)


def _phone_renderings(app, doctree):
    """Item 10: after an image with a ``_phone`` sibling file, the sibling (HTML only), and a class on each.
    Runs at doctree-read before Sphinx's image collector (priority 500), so the sibling is copied into the site."""
    from sphinx import addnodes
    docdir = Path(app.env.doc2path(app.env.docname)).parent
    for img in list(doctree.findall(nodes.image)):
        uri = img.get("uri", "")
        if "://" in uri or "only-phone" in img["classes"]:
            continue
        phone = Path(uri).with_name(Path(uri).stem + "_phone" + Path(uri).suffix)
        if not (docdir / phone).is_file():
            continue
        twin = img.deepcopy()
        twin["uri"] = phone.as_posix()
        twin["classes"] = [c for c in twin["classes"] if c != "only-wide"] + ["only-phone"]
        img["classes"].append("only-wide")
        only = addnodes.only(expr="html")
        only += twin
        img.parent.insert(img.parent.index(img) + 1, only)


def _figures_at_drawn_size(app, doctree, docname):
    """HTML only: every PNG with a recorded resolution and no width of its own gets the width it is drawn for
    (the theme's ``max-width: 100%`` still shrinks it to a narrower column)."""
    if app.builder.format != "html":
        return
    for img in doctree.findall(nodes.image):
        uri = img.get("uri", "")
        if "width" in img or not uri.lower().endswith(".png") or "://" in uri:
            continue
        path = Path(uri) if Path(uri).is_absolute() else Path(app.srcdir) / uri
        css = _png_css_width(path)
        if css:
            img["width"] = f"{css}px"


_TYPES = ("assumption", "lemma", "theorem", "proposition", "corollary", "definition", "remark", "axiom",
          "conjecture", "criterion", "example", "property", "observation", "notation", "algorithm")


def _visit_unnumbered(self, node):
    self.body.append(self.starttag(node, "div", CLASS="admonition"))
    node["iclbook_start"] = len(self.body)


def _depart_unnumbered(self, node):
    if not node.get("iclbook_paper_name"):
        start = node.get("iclbook_start", 0)
        for i in range(start, len(self.body)):
            if self.body[i].startswith('<p class="admonition-title"'):
                realtyp = node.get("realtype", "")
                self.body.insert(i + 1, f'<span class="caption-number">{realtyp.title()} </span>')
                break
    self.body.append("</div>")


BADGES = {
    "confirmed": "confirmed in the paper's text",
    "re-derived": "re-derived in this book (the formula is the book's own derivation, proved and checked here)",
}


def badge_role(name, rawtext, text, lineno, inliner, options=None, content=None):
    """``{badge}`confirmed``` or ``{badge}`re-derived```: a small link to the badges' definition."""
    key = text.strip()
    if key not in BADGES:
        msg = inliner.reporter.error(f"badge must be one of {sorted(BADGES)}, not {key!r}", line=lineno)
        return [inliner.problematic(rawtext, rawtext, msg)], [msg]
    return [_badge_node(key)], []


def _badge_node(key):
    from sphinx.addnodes import pending_xref
    ref = pending_xref("", refdomain="std", reftype="ref", reftarget="formula-badges", refexplicit=True,
                       refwarn=True)
    ref += nodes.inline(key, key)
    return nodes.inline("", "", ref, classes=["iclbook-badge", f"iclbook-badge-{key}"])


def _register_bib_style():
    """A pybtex style: unsrt's entries (with url/eprint/doi links), author-year labels, author-year sorting."""
    from pybtex.plugin import register_plugin
    from pybtex.richtext import Text
    from pybtex.style.formatting.unsrt import Style as Unsrt
    from pybtex.style.labels import BaseLabelStyle

    def last(person):
        return Text.from_latex(" ".join(person.prelast_names + person.last_names)).render_as("text")

    class AuthorYearLabels(BaseLabelStyle):
        def format_labels(self, sorted_entries):
            seen = {}
            for e in sorted_entries:
                people = e.persons.get("author") or e.persons.get("editor") or []
                if len(people) == 1:
                    who = last(people[0])
                elif len(people) == 2:
                    who = f"{last(people[0])} and {last(people[1])}"
                else:
                    who = f"{last(people[0])} et al." if people else e.key
                label = f"{who}, {e.fields.get('year', 'n.d.')}"
                n = seen.get(label, 0)
                seen[label] = n + 1
                yield label if n == 0 else f"{label}{'abcdefgh'[n]}"

    class IclbookStyle(Unsrt):
        default_label_style = AuthorYearLabels
        default_sorting_style = "author_year_title"

        def format_title(self, e, which_field, as_sentence=True):
            # keep the titles' own capitalisation ("In-Context", "A Case Study"): unsrt lowercases them
            from pybtex.style.template import field, sentence
            return sentence[field(which_field)] if as_sentence else field(which_field)

    register_plugin("pybtex.style.labels", "iclbook_author_year", AuthorYearLabels)
    register_plugin("pybtex.style.formatting", "iclbook", IclbookStyle)


class ExecTimes(Directive):
    """``{exec-times}``: a table of the chapters' execution times under nbval, read from .cache/exec_times.json
    (written by the root conftest.py during ``make test``). Without that file (``make book`` alone) it says so."""

    has_content = False

    def run(self):
        env = self.state.document.settings.env
        path = Path(env.app.confdir) / ".cache" / "exec_times.json"
        env.note_dependency(str(path))
        if not path.is_file():
            para = nodes.paragraph(text="This build was made without running the tests, so no execution times "
                                        "were measured: build with make test to see them here.")
            return [para]
        data = json.loads(path.read_text())
        measured = data["notebooks"]
        chapters = sorted(p.relative_to(env.app.confdir).as_posix()
                          for p in (Path(env.app.confdir) / "book").glob("ch*.ipynb"))
        rows = ["| chapter | cells | seconds |", "|---|---|---|"]
        for nb in chapters:
            doc = Path(nb).with_suffix("").as_posix()
            v = measured.get(nb)
            rows.append(f"| {{doc}}`/{doc}` | {v['cells']} | {v['seconds']:.1f} |" if v else
                        f"| {{doc}}`/{doc}` | — | not measured |")
        done = [nb for nb in chapters if nb in measured]
        total = sum(measured[nb]["seconds"] for nb in done)
        rows.append(f"| **all chapters** | | **{total:.1f}** |" if len(done) == len(chapters) else
                    f"| **{len(done)} of {len(chapters)} chapters** | | **{total:.1f}** |")
        dates = sorted({measured[nb].get("measured", data["measured"]) for nb in done})
        machines = sorted({measured[nb].get("machine", data["machine"]) for nb in done})
        when = dates[0] if len(dates) == 1 else f"between {dates[0]} and {dates[-1]}"
        text = [f"Measured {when} on {', '.join(machines)}, while the tests ran the chapters under strict nbval "
                "(kernel start included).", ""] + rows
        container = nodes.container()
        self.state.nested_parse(StringList(text), self.content_offset, container)
        return container.children


def setup(app):
    _register_bib_style()
    app.add_directive("exec-times", ExecTimes)
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _dedupe_scripts, priority=100)  # early: a later handler may end the event
    app.add_role("badge", badge_role)
    from sphinx_proof.nodes import unenumerable_node
    app.add_node(unenumerable_node, override=True, html=(_visit_unnumbered, _depart_unnumbered))
    app.connect("doctree-read", _read_statements)
    app.connect("doctree-read", _phone_renderings, priority=400)   # before the image collector (500)
    app.connect("env-merge-info", _merge_names)
    app.connect("env-purge-doc", _purge_names)
    app.connect("doctree-resolved", _fix_doctree)
    app.connect("doctree-resolved", _figures_at_drawn_size)
    app.connect("doctree-resolved", _stack_labels)
    app.connect("doctree-resolved", _code_breaks)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


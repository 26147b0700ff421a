"""Small fixes to the HTML site, made in one local Sphinx extension.

1. Serve MathJax from a local copy when ICLBOOK_MATHJAX_DIR is set (the offline build of the browser test).

The published book loads MathJax 3 from its CDN (Sphinx's default). For a browser with no network, build
with ICLBOOK_MATHJAX_DIR pointing at the ``es5`` folder of the npm package ``mathjax@3`` (``make test`` installs
it under .cache/npm): the folder is copied into the site as ``_static/mathjax/`` and every page loads
``_static/mathjax/tex-chtml.js``. It is a separate static folder, not ``_static/``, because Jupyter Book
injects every script found in the source ``_static/`` folder into every page.

2. sphinx-proof 0.4 renders a ``prf:proof`` with ``:class: dropdown`` as an admonition without a title, and
   sphinx-togglebutton, which makes ``.admonition.dropdown`` collapsible, then fails on it ("Cannot read
   properties of null (reading 'insertAdjacentHTML')") and stops, so no proof collapses. A title "Proof" is
   added to each such proof, which togglebutton turns into the control that opens and closes it.

3. Jupyter Book 1.0.4 registers sphinx-thebe's inline configuration script twice, so every page logs
"Identifier 'THEBE_JS_URL' has already been declared": identical scripts are kept once.
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


_DROPDOWN_PROOF = re.compile(r'(<div class="proof(?: [\w-]+)* dropdown(?: [\w-]+)*"[^>]*>)')


def _proof_titles(app, pagename, templatename, context, doctree):
    body = context.get("body")
    if body and "dropdown" in body:
        context["body"] = _DROPDOWN_PROOF.sub(r'\1\n<p class="admonition-title">Proof</p>', body)


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
                                        "were measured: build with `make test` to see them here.")
            return [para]
        data = json.loads(path.read_text())
        rows = ["| chapter | cells | seconds |", "|---|---|---|"]
        for nb, v in data["notebooks"].items():
            doc = Path(nb).with_suffix("").as_posix()
            rows.append(f"| {{doc}}`/{doc}` | {v['cells']} | {v['seconds']:.1f} |")
        rows.append(f"| **all chapters** | | **{data['total_seconds']:.1f}** |")
        text = [f"Measured {data['measured']} on {data['machine']}, while `make test` ran every chapter under "
                "strict nbval (kernel start included).", ""] + rows
        container = nodes.container()
        self.state.nested_parse(StringList(text), self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("exec-times", ExecTimes)
    app.connect("config-inited", _configure)
    app.connect("html-page-context", _dedupe_scripts, priority=100)  # early: a later handler may end the event
    app.connect("html-page-context", _proof_titles, priority=100)
    app.connect("build-finished", _copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


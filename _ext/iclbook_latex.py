"""The PDF of the book (``make pdf``: Jupyter Book's LaTeX builder, engine xelatex), in one local Sphinx extension.

1. The math macros reach LaTeX from the one list the HTML uses. ``_config.yml`` defines them once, as MathJax
   macros (``sphinx.config.mathjax3_config.tex.macros``); this extension writes the same list as LaTeX
   definitions at the end of ``latex_elements["preamble"]``, so the HTML and the PDF cannot drift apart.
   A macro is ``name: body`` or ``name: [body, nargs]`` as in MathJax. Each definition replaces any
   command of the same name (as MathJax does) and is made at ``\\begin{document}``, after unicode-math
   has set up its own symbols.

2. SVG images (a notebook output stored as ``image/svg+xml``) are converted to PDF with ``rsvg-convert``
   (Debian's ``librsvg2-bin``) for LaTeX, which cannot include SVG. ``_config.yml`` lets myst-nb pick an
   SVG output for LaTeX (vector, before PNG) and turns off ``sphinx.ext.imgconverter`` (ImageMagick).

3. An animation stored as matplotlib's ``to_jshtml`` HTML (a slider over precomputed frames) has no PDF
   form; in the PDF it becomes a row of three of its frames (first, middle, last), decoded from the
   stored PNGs. Any other HTML output has no PDF form either: it gives a warning (so a ``-W`` build fails)
   instead of silently vanishing.

4. A display equation with its own ``\\tag{...}`` (allowed by MathJax): Sphinx wraps display math in
   ``split``, where amsmath forbids ``\\tag``; such an equation is written as ``equation*`` (one line) or
   ``gather*`` (several lines) instead, which keep the tag.

5. The book's structure as in the HTML: the preface (the root page, whose title Jupyter Book drops in LaTeX)
   gets an unnumbered chapter heading; the chapters the HTML leaves unnumbered (front and back matter) are
   unnumbered in the PDF, so chapter, figure, equation and theorem numbers match the HTML's; parts are not
   numbered (their captions already say "Part I", ...); the bibliography does not open a second chapter
   "Bibliography" inside the book's own; theorem numbers use one level of sectioning, like the HTML.

6. The HTML links to the PDF. When the PDF has been built before the HTML (``make test`` does so; the PDF is
   ``_build/latex/iclbook.pdf``, next to the HTML's output folder), it is copied into the site as ``iclbook.pdf``
   and every page's download menu gets a "Whole book (PDF)" entry. With no PDF (``make book`` alone), no
   link is made, so the site never links to a missing file.

7. The LaTeX theme of sphinx-jupyterbook-latex loads ``bbm.sty`` (for ``\\mathbbm``, which the book does not
   use); Debian has it only in ``texlive-fonts-extra`` (about 500 MB). A two-line stand-in, ``_ext/latex/bbm.sty``,
   defines ``\\mathbbm`` as ``\\mathbb`` and is copied next to the ``.tex`` file.
"""
import base64
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.transforms.post_transforms.images import ImageConverter
from sphinx.util import logging

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent
_NAME = re.compile(r"^[A-Za-z]+$")


def macros(config):
    """The MathJax macros of the configuration, as {name: (body, nargs)}."""
    found = ((config.mathjax3_config or {}).get("tex") or {}).get("macros") or {}
    out = {}
    for name, value in found.items():
        if not _NAME.match(name):
            raise ValueError(f"mathjax3_config macro {name!r}: a LaTeX command name has letters only")
        if isinstance(value, str):
            out[name] = (value, 0)
        elif isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], str):
            out[name] = (value[0], int(value[1]))
        else:
            raise ValueError(f"mathjax3_config macro {name!r}: expected a string or [body, nargs], got {value!r}")
    return out


def macro_preamble(config):
    r"""LaTeX definitions of the MathJax macros, each replacing any earlier command of the same name."""
    lines = []
    for name, (body, nargs) in macros(config).items():
        args = f"[{nargs}]" if nargs else ""
        lines.append(f"\\providecommand{{\\{name}}}{{}}\\renewcommand{{\\{name}}}{args}{{{body}}}")
    if not lines:
        return ""
    inner = "\n  ".join(lines)
    return ("\n% The math macros of _config.yml (mathjax3_config), written by _ext/iclbook_latex.py\n"
            f"\\AtBeginDocument{{%\n  {inner}\n}}\n")


STRUCTURE = r"""
% Book structure as in the HTML (_ext/iclbook_latex.py)
\renewcommand{\thepart}{}\AtBeginDocument{\renewcommand{\partname}{}}
\makeatletter
\edef\iclbook@secnumdepth{\the\c@secnumdepth}
\newcommand{\iclbookunnumbered}{\setcounter{secnumdepth}{-1}}
\newcommand{\iclbooknumbered}{\setcounter{secnumdepth}{\iclbook@secnumdepth}}
\newcommand{\iclbookpreface}[1]{\chapter*{#1}\addcontentsline{toc}{chapter}{#1}\markboth{#1}{#1}}
\renewenvironment{sphinxthebibliography}[1]
  {\begingroup\renewcommand{\chapter}[2]{}\begin{thebibliography}{#1}}
  {\end{thebibliography}\endgroup}
\makeatother
"""


def _configure(app, config):
    elements = config.latex_elements
    elements["preamble"] = elements.get("preamble", "") + STRUCTURE + macro_preamble(config)
    extra = list(config.latex_additional_files or [])
    extra.append(str(HERE / "latex" / "bbm.sty"))
    config.latex_additional_files = extra


class SvgToPdf(ImageConverter):
    """SVG to PDF with rsvg-convert, for the LaTeX builder."""

    default_priority = 190  # before sphinx.ext.imgconverter (200), if someone turns it back on
    conversion_rules = [("image/svg+xml", "application/pdf")]

    def is_available(self):
        if shutil.which("rsvg-convert") is None:
            logger.warning("rsvg-convert not found (Debian package librsvg2-bin): SVG images cannot go into the PDF")
            return False
        return True

    def convert(self, _from, _to):
        import subprocess

        subprocess.run(["rsvg-convert", "-f", "pdf", "-o", str(_to), str(_from)], check=True)
        return True


_FRAME = re.compile(r'frames\[(\d+)\] = "data:image/png;base64,([A-Za-z0-9+/=\\\n]+)"')


class HtmlOutputs(SphinxPostTransform):
    """Raw HTML outputs in the LaTeX build: a to_jshtml animation becomes three of its frames, else a warning."""

    default_priority = 400
    formats = ("latex",)

    def run(self, **kwargs):
        for raw in list(self.document.findall(nodes.raw)):
            if "html" not in raw.get("format", "").split():
                continue
            if "latex" in raw.get("format", "").split():
                continue
            frames = {int(i): data for i, data in _FRAME.findall(raw.astext())}
            if frames:
                raw.replace_self(self._frames(frames, raw))
            else:
                logger.warning("an HTML output has no PDF rendering and is left out of the PDF", location=raw)

    def _frames(self, frames, raw):
        n = len(frames)
        if sorted(frames) != list(range(n)):
            logger.warning("animation frames are not numbered 0..n-1", location=raw)
        picks = sorted({0, (n - 1) // 2, n - 1})
        out = Path(self.app.builder.outdir)
        docname = self.env.docname
        stem = re.sub(r"[^A-Za-z0-9]+", "-", docname)
        serial = self.document.get("iclbook_anim", 0)
        self.document["iclbook_anim"] = serial + 1
        names = []
        for k in picks:
            name = f"anim-{stem}-{serial}-{k}.png"
            (out / name).write_bytes(base64.b64decode(frames[k].replace("\\n", "").replace("\n", "")))
            names.append(name)
        width = 0.98 / len(picks)
        graphics = "\\hfill".join(f"\\sphinxincludegraphics[width={width:.2f}\\linewidth]{{{name}}}"
                                  for name in names)
        caption = ("Frames " + ", ".join(str(k + 1) for k in picks) + f" of {n} of an animation"
                   " (the HTML book has a slider over all frames).")
        latex = ("\n\\begin{center}\n" + graphics + "\n\n{\\small\\itshape " + caption + "}\n\\end{center}\n")
        return nodes.raw("", latex, format="latex")


_TAG = re.compile(r"\\tag\*?\{")


class TaggedMath(SphinxPostTransform):
    """Display math holding a \\tag: no split environment around it (amsmath forbids \\tag inside split)."""

    default_priority = 400
    formats = ("latex",)

    def run(self, **kwargs):
        for node in self.document.findall(nodes.math_block):
            if node.get("nowrap") or not _TAG.search(node.astext()):
                continue
            body = node.astext().strip()
            env = "gather*" if "\\\\" in body else "equation*"
            node.children = [nodes.Text(f"\\begin{{{env}}}\n{body}\n\\end{{{env}}}")]
            node["nowrap"] = True


def _builder(app):
    if app.builder.format == "latex":
        # numfig_secnum_depth serves twice. While the sources are read, Sphinx numbers theorems with it:
        # 1 gives "Lemma 4.1" as in the HTML (sphinx-jupyterbook-latex sets 2, which gives "Lemma 4.2.1").
        app.config.numfig_secnum_depth = 1


def _writer(app, builder):
    if builder.format == "latex":
        # When the .tex is written, it sets where LaTeX resets its figure and equation counters: with parts
        # as the top level, 2 means per chapter ("Fig. 1.4", "(1.3)"), as in the HTML.
        app.config.numfig_secnum_depth = 2


class Structure(SphinxPostTransform):
    """Preface heading, and unnumbered chapters where the HTML has no chapter number (see 5. above)."""

    default_priority = 400
    formats = ("latex",)

    def run(self, **kwargs):
        env = self.env
        root = env.config.root_doc
        if self.document.get("iclbook_structure"):
            return
        self.document["iclbook_structure"] = True
        title = env.titles.get(root)
        if title is not None:
            self.document.insert(0, nodes.raw("", f"\\iclbookpreface{{{_latex_text(title.astext())}}}\n",
                                             format="latex"))
        for start in self.document.findall(addnodes.start_of_file):
            numbered = bool(env.toc_secnumbers.get(start["docname"]))
            command = "\\iclbooknumbered" if numbered else "\\iclbookunnumbered"
            start.insert(0, nodes.raw("", command + "\n", format="latex"))


def _latex_text(text):
    special = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "#": r"\#", "$": r"\$", "%": r"\%",
               "&": r"\&", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}
    return "".join(special.get(c, c) for c in text)


PDF_NAME = "iclbook.pdf"


def _built_pdf(app):
    pdf = Path(app.outdir).parent / "latex" / PDF_NAME
    return pdf if pdf.is_file() else None


def _pdf_button(app, pagename, templatename, context, doctree):
    if app.builder.format != "html" or _built_pdf(app) is None:
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].append({
                "type": "link",
                "url": context["pathto"](PDF_NAME, 1),
                "text": "Whole book (PDF)",
                "tooltip": "Download the whole book as one PDF",
                "icon": "fas fa-book",
                "label": "download-book-pdf-button",
            })


def _copy_pdf(app, exc):
    pdf = _built_pdf(app) if exc is None and app.builder.format == "html" else None
    if pdf is not None:
        shutil.copyfile(pdf, Path(app.outdir) / PDF_NAME)


def setup(app):
    # after sphinx-jupyterbook-latex (priority 500), which appends its own block to the preamble
    app.connect("config-inited", _configure, priority=900)
    app.add_post_transform(SvgToPdf)
    app.add_post_transform(HtmlOutputs)
    app.add_post_transform(TaggedMath)
    app.add_post_transform(Structure)
    app.connect("builder-inited", _builder, priority=600)
    app.connect("write-started", _writer)
    # after sphinx-book-theme (500), which builds the header buttons in the same event
    app.connect("html-page-context", _pdf_button, priority=600)
    app.connect("build-finished", _copy_pdf)
    return {"parallel_read_safe": True, "parallel_write_safe": True}

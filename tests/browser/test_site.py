"""The built HTML book in a real browser (headless Chromium driven by Playwright), with no network.

Run after the offline build (``make test`` does both): every page loads; MathJax has typeset the math
(no raw TeX left, no MathJax error box); every image has loaded; every cross-reference resolved; the console is
clean except for the allow-list below; no placeholder text.

What a reader meets, page by page (one test per defect class, each naming the page and the element):
no raw Markdown or MyST markup in the rendered text (table pipes, ``{doc}``/``{prf:ref}`` roles); no duplicate
element ids; every dropdown (proof or check) closed at load, and its own toggle opens and closes it and no
other; at 1280 px no display equation, code or output block wider than its box, no inline formula wider than its
line; at 400 px (a phone) none
inside an opened dropdown or exercise solution, no code or printed line of an opened hidden check cell, and no
table wider than its box; at both widths no math cut off where scrolling cannot reach it, and at
400 px nothing else off the screen and no formula or code block scrolling sideways without a shadow at its
hidden edge; every raster figure at least 1.5x its displayed width in pixels (sharp on
a 2x screen, readable when zoomed); at both widths no figure shown so much narrower than drawn that its 9 pt text
reads under 8 pt (a diagram needs its phone rendering). The width and figure
checks run with every dropdown and hidden cell opened, so nothing escapes by being collapsed.

Full-page screenshots go to _build/screenshots/: ``<page>.png`` (1280 px), ``<page>__400.png`` (400 px, a
phone) and ``<page>__dark.png`` (1280 px, dark theme).
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path

import pytest
from chromium import launched_browser, skip_without_chromium

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("ICLBOOK_HTML", ROOT / "_build" / "html"))
SHOTS = HTML.parent / "screenshots"

# Console messages that are harmless, each with the reason.
ALLOWED_CONSOLE = [
    # The pydata theme asks for its version-switcher JSON only when configured; a 404 on favicon is cosmetic.
    (re.compile(r"favicon\.ico"), "the site has no favicon; the browser asks for one anyway"),
    (re.compile(r"^Got invalid theme mode: \. Resetting to auto\. "),
     "pydata-sphinx-theme 0.17 logs this on a first visit, when no light/dark choice is stored; it then follows "
     "the system setting, which is what a new reader gets"),
    # Failed loads of third-party scripts from CDNs (e.g. the widget manager) are expected with no network:
    # the book's widgets are hidden in HTML and have static companions.
    (re.compile(r"net::ERR_(NAME_NOT_RESOLVED|INTERNET_DISCONNECTED|CONNECTION_REFUSED|NETWORK_ACCESS_DENIED)"),
     "no network in the test: CDN assets (widget manager, thebe) cannot load, and the book does not need them"),
]

PLACEHOLDERS = [re.compile(p, re.I) for p in (r"your name", r"\bplaceholder\b", r"\bTODO\b", r"©\s*Copyright\s*2023")]

pytestmark = skip_without_chromium("the browser test of the HTML book")


def _pages():
    if not HTML.is_dir():
        return []
    skip = {"genindex.html", "search.html"}
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts
                  and 'http-equiv="Refresh"' not in p.read_text(errors="ignore")[:2000])   # index.html redirects


def test_index_redirects_to_the_preface(server, browser):
    ctx, page, _ = _open(browser, f"{server}/index.html")
    try:
        page.wait_for_url(re.compile(r".*/book/preface\.html$"), timeout=10000)
    finally:
        ctx.close()


@pytest.fixture(scope="session")
def server():
    if not HTML.is_dir():
        pytest.fail("_build/html is missing: build the book first (make test does)")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser():
    yield from launched_browser()


def _open(browser, url):
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    # no network beyond the local server: anything else is refused, as on a reader's offline machine
    ctx.route(re.compile(r"^(?!http://127\.0\.0\.1).*"), lambda route: route.abort("internetdisconnected"))
    page = ctx.new_page()
    console = []
    page.on("console", lambda m: console.append(m) if m.type == "error" else None)
    page.on("pageerror", lambda e: console.append(e))
    page.goto(url, wait_until="load")
    return ctx, page, console


VISIBLE_TEXT_JS = """() => {
  const c = document.querySelector('main') || document.body;
  const clone = c.cloneNode(true);
  clone.querySelectorAll('pre, code, .highlight, script, style, mjx-container, .MathJax, mjx-assistive-mml')
       .forEach(e => e.remove());
  return clone.innerText;
}"""


RAW_MARKUP = [
    (re.compile(r"^[ \t]*\|.*\|[ \t]*$", re.M), "a Markdown table row"),
    (re.compile(r"\|[ \t]*:?-{3,}:?[ \t]*\|"), "a Markdown table rule"),
    (re.compile(r"\{(?:doc|ref|numref|eq|term|download|math|cite(?::\w+)?|prf:\w+)\}"), "a MyST role"),
    (re.compile(r"^[ \t]*(?:```|:::)\{?\w", re.M), "a MyST directive fence"),
]

DUPLICATE_IDS_JS = """() => {
  const seen = {};
  document.querySelectorAll('[id]').forEach(e => { if (e.id) seen[e.id] = (seen[e.id] || 0) + 1; });
  return Object.entries(seen).filter(([k, n]) => n > 1).map(([k, n]) => `${k} (x${n})`);
}"""

# A dropdown (sphinx-togglebutton): an admonition with class "dropdown"; its body is everything but the title.
DROPDOWN_STATE_JS = """() => [...document.querySelectorAll('.admonition.dropdown')].map(el => {
  const body = [...el.children].filter(c => !c.classList.contains('admonition-title'));
  return body.some(c => c.getClientRects().length > 0 && getComputedStyle(c).visibility !== 'hidden');
})"""

DROPDOWN_NAMES_JS = """() => [...document.querySelectorAll('.admonition.dropdown')].map((el, i) => {
  let prev = el.previousElementSibling;
  while (prev && prev.classList.contains('dropdown')) prev = prev.previousElementSibling;
  const after = prev ? (prev.querySelector('.admonition-title') || prev).innerText.trim().slice(0, 60) : '';
  return `dropdown #${i + 1} ("${(el.querySelector('.admonition-title') || el).innerText.trim().slice(0, 30)}"`
         + ` after "${after.replace(/\\s+/g, ' ')}" in section "${window.__sectionOf(el)}")`;
})"""

# The title of the section holding an element, with its inline math written as TeX (installed as
# window.__sectionOf, to name where a problem is).
SECTION_OF_JS = """e => {
  const sec = e.closest('section:has(> h1, > h2, > h3, > h4)');
  const h = sec && sec.querySelector(':scope > h1, :scope > h2, :scope > h3, :scope > h4');
  if (!h) return '';
  const box = e.closest('div.proof');
  const boxTitle = box && box.querySelector(':scope > .admonition-title');
  const c = h.cloneNode(true);
  c.querySelectorAll('a.headerlink').forEach(a => a.remove());
  const orig = [...h.querySelectorAll('mjx-container')];
  c.querySelectorAll('mjx-container').forEach((m, i) => m.replaceWith('$' + ((window.__tex && window.__tex.get(orig[i])) || '…') + '$'));
  return c.textContent.replace(/\\s+/g, ' ').trim();
};
"""

OPEN_EVERYTHING_JS = """() => {
  document.querySelectorAll('.toggle-hidden').forEach(e => e.classList.remove('toggle-hidden'));
  document.querySelectorAll('details').forEach(d => d.open = true);
}"""

# Elements wider than their box at the current width. A display equation: its typeset math (mjx-math) is wider
# than the mjx-container (the column) or sticks out of the article. A code or output block: the <pre> scrolls.
# ``inside``: a CSS selector; only elements inside a match are checked (null: every element). A table: it is wider
# than its box, or the theme's scrolling container around it scrolls.
TOO_WIDE_JS = """(inside) => {
  const art = document.querySelector('main article, article.bd-article, main') || document.body;
  const right = art.getBoundingClientRect().right;
  const where = window.__sectionOf;
  const keep = e => !inside || e.closest(inside);
  const out = [];
  document.querySelectorAll('mjx-container[display="true"]').forEach(c => {
    const m = c.querySelector('mjx-math');
    if (!m || c.getClientRects().length === 0 || !keep(c)) return;
    const cw = c.getBoundingClientRect().width, mr = m.getBoundingClientRect();
    if (mr.width > cw + 1 || mr.right > right + 1 || c.scrollWidth > c.clientWidth + 1) {
      const tex = (c.closest('.math') || c).getAttribute('data-tex') || '';
      out.push(`display equation ${Math.round(mr.width)} px in a ${Math.round(cw)} px column, section "${where(c)}": `
               + (window.__tex && window.__tex.get(c) || '').slice(0, 90));
    }
  });
  document.querySelectorAll('pre').forEach(p => {
    if (p.getClientRects().length === 0 || !keep(p)) return;
    if (p.scrollWidth > p.clientWidth + 1) {
      const longest = p.innerText.split('\\n').reduce((a, b) => b.length > a.length ? b : a, '');
      const kind = p.closest('.cell_output, .output') ? 'output' : 'code';
      out.push(`${kind} block ${p.scrollWidth} px in a ${p.clientWidth} px box, section "${where(p)}": `
               + JSON.stringify(longest.slice(0, 100)));
    }
  });
  document.querySelectorAll('main table').forEach(t => {
    if (t.getClientRects().length === 0 || !keep(t)) return;
    const box = t.closest('.pst-scrollable-table-container, .table-wrapper') || t.parentElement;
    const tr = t.getBoundingClientRect();
    if (box.scrollWidth > box.clientWidth + 1 || tr.right > right + 1) {
      const cap = t.querySelector('caption');
      out.push(`table ${Math.round(tr.width)} px in a ${box.clientWidth} px box, section "${where(t)}": `
               + JSON.stringify(((cap && cap.innerText) || t.innerText).replace(/\\s+/g, ' ').slice(0, 60)));
    }
  });
  return out;
}"""

# Math cut off where no scrolling reaches it, anywhere on the page: the typeset math starts left of the box that
# clips it (or of the page: nothing scrolls to the left of the start), or ends right of a box that clips without
# scrolling. (A labelled equation's MathJax container takes the width of the equation and its label, so it can be
# wider than a narrow box and centred over both its edges, while the container's own size looks right; the theme's
# box around inline math clips what is wider than the line unless it scrolls, _static/iclbook.css.)
CUT_JS = """() => {
  const out = [];
  document.querySelectorAll('mjx-container').forEach(c => {
    const m = c.querySelector('mjx-math');
    if (!m || c.getClientRects().length === 0) return;
    const mr = m.getBoundingClientRect();
    let a = c;
    while (a && a !== document.body && getComputedStyle(a).overflowX === 'visible') a = a.parentElement;
    const clip = a && a !== document.body ? a : null;
    const ov = clip ? getComputedStyle(clip).overflowX : 'visible';
    const box = clip ? clip.getBoundingClientRect() : {left: 0, right: window.innerWidth};
    const left = Math.max(box.left, 0), right = ov === 'auto' || ov === 'scroll' ? Infinity : box.right;
    if (mr.left < left - 1 || mr.right > right + 1) {
      const kind = c.getAttribute('display') === 'true' ? 'display equation' : 'inline math';
      out.push(`${kind} cut off: typeset from ${Math.round(mr.left)} to ${Math.round(mr.right)} px, `
               + `visible from ${Math.round(left)} to ${Math.round(Math.min(right, window.innerWidth))} px, `
               + `section "${window.__sectionOf(c)}": ` + (window.__tex && window.__tex.get(c) || '').slice(0, 90));
    }
  });
  return out;
}"""

# At 1280 px: an inline formula wider than its line (it scrolls inside the text, part of it hidden): write it as a
# display equation. (On a phone such a formula scrolls, with a shadow at its hidden edge.)
INLINE_TOO_WIDE_JS = """() => [...document.querySelectorAll('main span.math')].filter(c => c.getClientRects().length
    && c.querySelector('mjx-math')
    && c.querySelector('mjx-math').getBoundingClientRect().right > c.getBoundingClientRect().right + 3)
  .map(c => `inline formula wider than its line (${Math.round(c.querySelector('mjx-math').getBoundingClientRect().width)}`
            + ` px), section "${window.__sectionOf(c)}": `
            + ((window.__tex && window.__tex.get(c.querySelector('mjx-container'))) || '').slice(0, 90))"""

# At phone width: an element of the article that sticks out of the screen (its parent does not), outside the boxes
# that scroll on purpose (code, output, math, tables, figures): e.g. a dropdown's chevron pushed off the screen by a
# long identifier in its title. Nothing scrolls the page sideways to show it.
OFF_SCREEN_JS = """() => {
  const W = document.documentElement.clientWidth;
  const art = document.querySelector('main article, article.bd-article') || document.body;
  const scrolls = 'pre, .highlight, mjx-container, div.math, table, .pst-scrollable-table-container, script, style';
  const out = [];
  art.querySelectorAll('*').forEach(e => {
    if (e.closest(scrolls)) return;
    const r = e.getBoundingClientRect();
    if (r.width === 0 || r.right <= W + 1) return;
    const pr = e.parentElement.getBoundingClientRect();
    if (pr.right > W + 1) return;                         // report the outermost element only
    out.push(`${e.tagName.toLowerCase()}.${[...e.classList].join('.')} reaches ${Math.round(r.right)} px on a `
             + `${W} px screen, section "${window.__sectionOf(e)}": `
             + JSON.stringify((e.closest('summary, p, li, div') || e).innerText.replace(/\\s+/g, ' ').slice(0, 70)));
  });
  return out;
}"""

# A display equation, inline formula or code block that scrolls sideways (on a phone) must show that it does: a shadow at the
# edge where more is hidden (classes set by _static/iclbook.js, drawn by _static/iclbook.css): where the typeset
# formula reaches more than 3 px past its box's visible edge, or the code block can scroll further right; and a
# box so marked whose shadow another stylesheet removed (myst-nb's code cells set box-shadow: none).
SCROLL_CUE_JS = """() => [...document.querySelectorAll('mjx-container[display="true"], main span.math')]
  .filter(c => c.getClientRects().length && c.querySelector('mjx-math')).filter(c => {
    const r = c.getBoundingClientRect(), m = c.querySelector('mjx-math').getBoundingClientRect();
    return (m.right > r.right + 3 && !c.classList.contains('iclbook-more-right'))
           || (m.left < r.left - 3 && !c.classList.contains('iclbook-more-left')); })
  .concat([...document.querySelectorAll('main pre')].filter(p => p.getClientRects().length
           && p.scrollLeft + p.clientWidth < p.scrollWidth - 1 && !p.classList.contains('iclbook-more-right')))
  .concat([...document.querySelectorAll('.iclbook-more-left, .iclbook-more-right')]
          .filter(c => c.getClientRects().length && getComputedStyle(c).boxShadow === 'none'))
  .map(c => `${{SPAN: 'inline math', PRE: 'code block'}[c.tagName] || 'display equation'} scrolls sideways with no `
            + `shadow at its hidden edge, section "${window.__sectionOf(c)}": ` + (c.tagName === 'PRE'
              ? JSON.stringify(c.innerText.split('\\n')[0].slice(0, 60))
              : ((window.__tex && window.__tex.get(c.tagName === 'SPAN' ? c.querySelector('mjx-container') : c)) || '')
                .slice(0, 90)))"""

# The previous/next links under a page hide what overflows them (the theme's overflow-x: hidden): a title too wide
# for its link is cut, or pushes the link's chevron out of sight.
NAV_CUT_JS = """() => [...document.querySelectorAll('.prev-next-area a')].filter(a => a.scrollWidth > a.clientWidth + 1)
  .map(a => `navigation link cut (${a.scrollWidth} px of content in ${a.clientWidth} px): `
            + JSON.stringify(a.innerText.replace(/\\s+/g, ' ').slice(0, 60)))"""

# What a phone reader opens to read it: proofs and other dropdown admonitions, exercise solutions; and the code and
# printed lines of a hidden check cell (they wrap there on phones, _static/iclbook.css; a check cell's typeset sympy
# output scrolls in its output box, as the outputs of visible cells do).
OPENED_BOXES = ".admonition.dropdown, .solution"
HIDDEN_CELLS = ".cell.tag_hide-input"

BLURRY_JS = """() => [...document.querySelectorAll('main img')].filter(i => {
  const r = i.getBoundingClientRect();
  return r.width > 0 && !/\\.svg($|\\?)|^data:image\\/svg/i.test(i.currentSrc || i.src)
         && i.naturalWidth < 1.5 * r.width;
}).map(i => {
  const r = i.getBoundingClientRect();
  return `image ${i.naturalWidth} px wide shown at ${Math.round(r.width)} px (needs >= ${Math.ceil(1.5 * r.width)}),`
         + ` section "${window.__sectionOf(i)}": ${(i.currentSrc || i.src).split('/').pop().slice(0, 60)}`;
})"""

# Every figure shown in the article: where it comes from, its displayed width and its natural width in pixels.
SHOWN_IMAGES_JS = """() => [...document.querySelectorAll('main img')].filter(i => i.getBoundingClientRect().width > 0)
  .map(i => ({src: i.currentSrc || i.src, shown: i.getBoundingClientRect().width, natural: i.naturalWidth,
              section: window.__sectionOf(i)}))"""

# A figure drawn twice (a diagram and its phone rendering, _ext/iclbook_html.py item 10): the class of each image
# it shows; exactly one, "only-wide" from 576 px up and "only-phone" below.
TWIN_SHOWN_JS = """() => [...document.querySelectorAll('main figure')].filter(f => f.querySelector('img.only-phone'))
  .map(f => [...f.querySelectorAll('img')].filter(i => i.getBoundingClientRect().width > 0)
            .map(i => i.classList.contains('only-phone') ? 'only-phone' : 'only-wide'))"""

# The book draws its smallest figure text at 9 pt (iclbook.plotting.SMALL_PT) at the figure's drawn size; a figure
# shown narrower than drawn shrinks it. Under 8 pt on screen (a figure shown at less than 8/9 of its drawn width)
# it is too small to read: e.g. a 6.4-inch diagram on a 400 px phone shows its 9 pt text at about 5 pt.
SMALLEST_DRAWN_PT, MIN_SHOWN_PT = 9.0, 8.0


def _drawn_css_width(server, src, natural):
    """The width a figure is drawn for, in CSS px (96 per inch): an SVG's own width; a PNG's pixels at the
    resolution recorded in the file (matplotlib records it; 96 dpi when none is recorded)."""
    import base64
    import io
    from urllib.parse import unquote, urlparse

    from PIL import Image
    if src.startswith("data:"):
        head, _, body = src.partition(",")
        if "svg" in head:
            return natural
        data = base64.b64decode(body) if ";base64" in head else unquote(body).encode()
    else:
        path = HTML / unquote(urlparse(src).path).lstrip("/")
        if path.suffix.lower() == ".svg":
            return natural
        data = path.read_bytes()
    dpi = Image.open(io.BytesIO(data)).info.get("dpi", (96, 96))[0] or 96
    return natural * 96 / dpi


def _small_text(server, shown_images):
    out = []
    for im in shown_images:
        drawn = _drawn_css_width(server, im["src"], im["natural"])
        pt = SMALLEST_DRAWN_PT * im["shown"] / drawn
        if pt < MIN_SHOWN_PT - 0.05:
            name = "an animation frame" if im["src"].startswith("data:") else im["src"].split("/")[-1][:60]
            out.append(f"figure drawn {drawn:.0f} px wide shown at {im['shown']:.0f} px: its {SMALLEST_DRAWN_PT:g} pt "
                       f"text reads {pt:.1f} pt, section \"{im['section']}\": {name}")
    return out


# TeX source of each display equation, recorded before MathJax replaces it (to name the equation in a message).
TEX_MAP_JS = """() => {
  window.__tex = new Map();
  for (const item of MathJax.startup.document.math) {
    if (item.typesetRoot) window.__tex.set(item.typesetRoot, item.math.replace(/\\s+/g, ' ').trim());
  }
}"""


def _shot_name(rel, suffix=""):
    return rel.replace("/", "__").removesuffix(".html") + suffix + ".png"


_MEASURED = {}


def _measure(server, browser, rel):
    """Load one page once and record everything the page tests check (cached for the session)."""
    if rel in _MEASURED:
        return _MEASURED[rel]
    if rel == "<no pages built>":
        pytest.fail("_build/html holds no pages: build the book first (make test does)")
    r = _MEASURED[rel] = {"errors": []}
    ctx, page, console = _open(browser, f"{server}/{rel}")
    try:
        has_math = page.evaluate("() => document.querySelectorAll('.math, span.math, div.math').length") > 0
        r["has_math"] = has_math
        if has_math:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
            page.evaluate("() => MathJax.startup.promise")
            r["typeset"] = page.evaluate("() => document.querySelectorAll('mjx-container').length")
            r["mathjax_src"] = page.evaluate("() => [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s))")
            page.evaluate(TEX_MAP_JS)
        page.evaluate("() => document.fonts.ready")
        page.evaluate("() => { window.__sectionOf = " + SECTION_OF_JS + "; }")
        r["text"] = page.evaluate(VISIBLE_TEXT_JS)
        # MathJax shows TeX it cannot typeset as a red error box (e.g. "\\tag not allowed in split environment",
        # which Sphinx's wrapping of a multi-line display in {split} causes)
        r["math_errors"] = page.evaluate(
            "() => [...document.querySelectorAll('mjx-merror')].map(e => (e.getAttribute('data-mjx-error') || "
            "e.textContent) + ' in section \"' + window.__sectionOf(e) + '\"')")
        r["broken_images"] = page.evaluate(
            "() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        r["problems"] = page.evaluate("() => [...document.querySelectorAll('.problematic, .xref.std-ref:not(a *)')].length")
        r["unresolved"] = page.evaluate(
            "() => [...document.querySelectorAll('span.xref, code.xref')].filter(e => !e.closest('a')).map(e => e.textContent)")
        r["footer"] = page.evaluate(
            "() => [...document.querySelectorAll('footer, .bd-footer, .footer')].map(e => e.innerText).join('\\n')")
        r["title"] = page.title()
        r["duplicate_ids"] = page.evaluate(DUPLICATE_IDS_JS)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / _shot_name(rel)), full_page=True)
        page.evaluate("() => { document.documentElement.dataset.theme = 'dark'; document.documentElement.dataset.mode = 'dark'; }")
        page.wait_for_timeout(100)
        page.screenshot(path=str(SHOTS / _shot_name(rel, "__dark")), full_page=True)
        page.evaluate("() => { document.documentElement.dataset.theme = 'light'; document.documentElement.dataset.mode = 'light'; }")
        page.set_viewport_size({"width": 400, "height": 800})
        page.wait_for_timeout(200)
        page.screenshot(path=str(SHOTS / _shot_name(rel, "__400")), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})
        page.wait_for_timeout(200)

        # dropdowns: closed at load; each one's own title opens it and closes it again, and touches no other
        names = page.evaluate(DROPDOWN_NAMES_JS)
        state0 = page.evaluate(DROPDOWN_STATE_JS)
        r["dropdowns"] = len(names)
        r["dropdown_problems"] = [f"{names[i]} is open at load" for i, o in enumerate(state0) if o]
        titles = page.locator(".admonition.dropdown")
        for i in range(len(names)):
            before = page.evaluate(DROPDOWN_STATE_JS)
            title = titles.nth(i).locator(":scope > .admonition-title")
            if title.count() == 0:
                r["dropdown_problems"].append(f"{names[i]} has no title to click")
                continue
            title.first.click()
            page.wait_for_timeout(50)
            after = page.evaluate(DROPDOWN_STATE_JS)
            if after[i] == before[i]:
                r["dropdown_problems"].append(f"{names[i]}: clicking its toggle does not {'close' if before[i] else 'open'} it")
            others = [names[j] for j in range(len(names)) if j != i and after[j] != before[j]]
            if others:
                r["dropdown_problems"].append(f"{names[i]}: clicking its toggle also toggles {others}")
            title.first.click()
            page.wait_for_timeout(50)
            again = page.evaluate(DROPDOWN_STATE_JS)
            if again[i] != before[i]:
                r["dropdown_problems"].append(f"{names[i]}: a second click does not restore it")

        page.evaluate(OPEN_EVERYTHING_JS)
        page.wait_for_timeout(100)
        r["too_wide"] = page.evaluate(TOO_WIDE_JS, None) + page.evaluate(CUT_JS) + page.evaluate(INLINE_TOO_WIDE_JS)
        r["blurry"] = page.evaluate(BLURRY_JS)
        r["small_text"] = _small_text(server, page.evaluate(SHOWN_IMAGES_JS))
        r["twins"] = page.evaluate(TWIN_SHOWN_JS)
        # at phone width: what a reader opens (solutions, proofs, hidden cells), and every table
        page.set_viewport_size({"width": 400, "height": 800})
        page.wait_for_timeout(200)
        r["too_wide_400"] = page.evaluate(TOO_WIDE_JS, OPENED_BOXES) + [
            w for w in page.evaluate(TOO_WIDE_JS, HIDDEN_CELLS) if w.startswith(("code block", "output block"))] + [
            w for w in page.evaluate(TOO_WIDE_JS, "table") if w.startswith("table ")] + page.evaluate(CUT_JS) \
            + page.evaluate(OFF_SCREEN_JS) + page.evaluate(SCROLL_CUE_JS) + page.evaluate(NAV_CUT_JS)
        r["small_text_400"] = _small_text(server, page.evaluate(SHOWN_IMAGES_JS))
        r["twins_400"] = page.evaluate(TWIN_SHOWN_JS)
        page.set_viewport_size({"width": 1280, "height": 900})
        r["console"] = [f"{m.text} [{m.location.get('url', '')}]" if hasattr(m, "location") else str(m)
                        for m in console]
    finally:
        ctx.close()
    return r


PAGES = _pages() or ["<no pages built>"]


@pytest.mark.parametrize("rel", PAGES)
def test_page(server, browser, rel):
    """The page loads, its math is typeset by the local MathJax, its images load, its references resolve,
    its console is clean and it holds no placeholder text."""
    r = _measure(server, browser, rel)
    if r["has_math"]:
        assert r["typeset"] > 0, "math on this page but MathJax typeset nothing"
        src = r["mathjax_src"]
        assert src and all(s.startswith(server) for s in src), f"MathJax not served locally: {src}"
    assert not r["math_errors"], f"TeX that MathJax could not typeset: {r['math_errors']}"
    for raw in ("\\(", "\\[", "$$"):
        assert raw not in r["text"], f"raw TeX {raw!r} left in the visible text"
    assert not r["broken_images"], f"images that did not load: {r['broken_images']}"
    assert r["problems"] == 0, "unresolved cross-references"
    assert not r["unresolved"], f"references that did not resolve to a link: {r['unresolved']}"
    for pat in PLACEHOLDERS:
        m = pat.search("\n".join([r["text"], r["footer"], r["title"]]))
        assert m is None, f"placeholder or stale text on the page: {m.group(0)!r}"
    bad = [e for e in r["console"] if not any(p.search(e) for p, _ in ALLOWED_CONSOLE)]
    assert not bad, f"console errors: {bad}"


@pytest.mark.parametrize("rel", PAGES)
def test_no_raw_markup(server, browser, rel):
    """No Markdown table or MyST role reaches the reader as text (e.g. a Markdown table printed by a cell)."""
    text = _measure(server, browser, rel)["text"]
    found = []
    for pat, what in RAW_MARKUP:
        for m in pat.finditer(text):
            line = text[text.rfind("\n", 0, m.start()) + 1:text.find("\n", m.end()) if text.find("\n", m.end()) >= 0 else None]
            found.append(f"{what}: {line.strip()[:100]!r}")
    assert not found, f"{rel}: {len(found)} pieces of raw markup in the rendered text:\n" + "\n".join(found[:20])


@pytest.mark.parametrize("rel", PAGES)
def test_unique_ids(server, browser, rel):
    """Every element id is unique (a repeated id makes anchors and toggles act on the wrong element)."""
    dup = _measure(server, browser, rel)["duplicate_ids"]
    assert not dup, f"{rel}: duplicate element ids: {dup}"


@pytest.mark.parametrize("rel", PAGES)
def test_dropdowns_closed_and_each_toggle_works(server, browser, rel):
    """Every dropdown (proofs, collapsed checks) is closed at load; clicking its own title opens it, a second
    click closes it, and no other dropdown moves."""
    probs = _measure(server, browser, rel)["dropdown_problems"]
    assert not probs, f"{rel}: " + "\n".join(probs)


@pytest.mark.parametrize("rel", PAGES)
def test_nothing_wider_than_its_box_at_1280(server, browser, rel):
    """At 1280 px no display equation, code block or printed output is wider than its box (no sideways
    scrolling, nothing cut at the column's edge, no math cut off inside a box), and no inline formula is wider
    than its line."""
    wide = _measure(server, browser, rel)["too_wide"]
    assert not wide, f"{rel}: {len(wide)} elements wider than their box at 1280 px:\n" + "\n".join(wide)


@pytest.mark.parametrize("rel", PAGES)
def test_nothing_wider_than_its_box_at_400(server, browser, rel):
    """At 400 px (a phone), with every dropdown, exercise solution and hidden check cell opened, no display
    equation or code or output block inside a dropdown or a solution and no code or printed output of a hidden
    check cell is wider than its box, no table anywhere is wider than
    its box (a table that scrolls sideways on a phone: give it ``:class: stack-on-phone``), no math anywhere
    is cut off where scrolling cannot reach it (split a display over lines), nothing else sticks out of the
    screen (nor cut inside the previous/next links), and a display equation, inline formula or code block that
    scrolls sideways shows a shadow at its hidden edge."""
    wide = _measure(server, browser, rel)["too_wide_400"]
    assert not wide, f"{rel}: {len(wide)} elements wider than their box at 400 px:\n" + "\n".join(wide)


@pytest.mark.parametrize("rel", PAGES)
def test_figures_sharp(server, browser, rel):
    """A raster figure carries at least 1.5x as many pixels as it is displayed with (SVG always passes)."""
    blurry = _measure(server, browser, rel)["blurry"]
    assert not blurry, f"{rel}: {len(blurry)} raster figures too small for their display size:\n" + "\n".join(blurry)


@pytest.mark.parametrize("rel", PAGES)
def test_figure_text_readable(server, browser, rel):
    """At 1280 px and at 400 px (a phone) no figure, diagram or animation frame is shown so much narrower than it
    is drawn that its smallest text (9 pt as drawn) reads under 8 pt: a wide figure needs a phone rendering
    (``_phone`` twin of a diagram, or a figure drawn ``PHONE_WIDTH`` wide); a diagram drawn twice shows exactly
    one of its two renderings, the wide one from 576 px up and the phone one below."""
    r = _measure(server, browser, rel)
    small = [f"1280 px: {m}" for m in r["small_text"]] + [f"400 px: {m}" for m in r["small_text_400"]]
    small += [f"1280 px: a diagram with a phone rendering shows {shown} (expected ['only-wide'])"
              for shown in r["twins"] if shown != ["only-wide"]]
    small += [f"400 px: a diagram with a phone rendering shows {shown} (expected ['only-phone'])"
              for shown in r["twins_400"] if shown != ["only-phone"]]
    assert not small, f"{rel}: {len(small)} figures with text too small to read:\n" + "\n".join(small)


def test_static_slider_changes_the_picture(server, browser):
    """The static companion of a widget: moving a jshtml slider changes the frame shown, with no kernel."""
    pages = [p for p in _pages() if "Animation" in (HTML / p).read_text(errors="ignore") and "input" in (HTML / p).read_text(errors="ignore")]
    pages = [p for p in pages if 'type="range"' in (HTML / p).read_text(errors="ignore")]
    assert pages, "no page holds a precomputed-frames slider (matplotlib to_jshtml)"
    ctx, page, _ = _open(browser, f"{server}/{pages[0]}")
    try:
        slider = page.locator("input[type=range]").first
        img = page.locator(".animation img, img[id^='_anim_img']").first
        before = img.get_attribute("src")
        maxv = int(slider.get_attribute("max") or "1")
        slider.evaluate("(el, v) => { el.value = v; el.dispatchEvent(new Event('input')); el.dispatchEvent(new Event('change')); }", maxv)
        page.wait_for_timeout(300)
        after = img.get_attribute("src")
        assert before and after and before != after, "moving the slider did not change the picture"
    finally:
        ctx.close()

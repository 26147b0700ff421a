"""The built HTML book in a real browser (headless Chromium driven by Playwright), with no network.

Run after the offline build (``make test`` does both): every page loads; MathJax has typeset the math
(no raw TeX left); every image has loaded; every cross-reference resolved; the console is clean except for
the allow-list below; no placeholder text. One full-page screenshot per page goes to _build/screenshots/.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("ICLBOOK_HTML", ROOT / "_build" / "html"))
SHOTS = HTML.parent / "screenshots"
CHROMIUM = os.environ.get("ICLBOOK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

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

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found: install it (Debian: `apt-get install -y chromium`) or set ICLBOOK_CHROMIUM; "
           "the browser test of the HTML book was NOT run",
)


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
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        yield b
        b.close()


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


@pytest.mark.parametrize("rel", _pages() or ["<no pages built>"])
def test_page(server, browser, rel):
    if rel == "<no pages built>":
        pytest.fail("_build/html holds no pages: build the book first (make test does)")
    ctx, page, console = _open(browser, f"{server}/{rel}")
    try:
        has_math = page.evaluate("() => document.querySelectorAll('.math, span.math, div.math').length") > 0
        if has_math:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20000)
            page.evaluate("() => MathJax.startup.promise")
            assert page.evaluate("() => document.querySelectorAll('mjx-container').length") > 0, \
                "math on this page but MathJax typeset nothing"
            src = page.evaluate("() => [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s))")
            assert src and all(s.startswith(server) for s in src), f"MathJax not served locally: {src}"
        text = page.evaluate(VISIBLE_TEXT_JS)
        for raw in ("\\(", "\\[", "$$"):
            assert raw not in text, f"raw TeX {raw!r} left in the visible text"
        broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)")
        assert not broken, f"images that did not load: {broken}"
        problems = page.evaluate("() => [...document.querySelectorAll('.problematic, .xref.std-ref:not(a *)')].length")
        assert problems == 0, "unresolved cross-references"
        unresolved = page.evaluate(
            "() => [...document.querySelectorAll('span.xref, code.xref')].filter(e => !e.closest('a')).map(e => e.textContent)")
        assert not unresolved, f"references that did not resolve to a link: {unresolved}"
        footer = page.evaluate("() => [...document.querySelectorAll('footer, .bd-footer, .footer')].map(e => e.innerText).join('\\n')")
        title = page.title()
        for pat in PLACEHOLDERS:
            m = pat.search("\n".join([text, footer, title]))
            assert m is None, f"placeholder or stale text on the page: {m.group(0)!r}"
        errors = [f"{m.text} [{m.location.get('url', '')}]" if hasattr(m, "location") else str(m) for m in console]
        bad = [e for e in errors if not any(p.search(e) for p, _ in ALLOWED_CONSOLE)]
        assert not bad, f"console errors: {bad}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / (rel.replace("/", "__").removesuffix(".html") + ".png")), full_page=True)
    finally:
        ctx.close()


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

"""Debian's Chromium for the tests that drive a browser (tests/browser: the HTML book; tests/lab: JupyterLab).

One place for where the browser is found and how it is launched, so both tests run the same browser the same way.
"""
import os
import shutil

import pytest

#: The Chromium executable: $ICLBOOK_CHROMIUM, else `chromium` or `chromium-browser` on the PATH; None if absent.
CHROMIUM = os.environ.get("ICLBOOK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")

_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def skip_without_chromium(what: str):
    """A module-level ``pytestmark`` that skips, saying what was NOT run, when Chromium is absent."""
    return pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium not found: install it (Debian: `apt-get install -y chromium`) or set ICLBOOK_CHROMIUM; "
               f"{what} was NOT run")


def launched_browser():
    """Yield a headless Chromium (Playwright) and close it after: the body of a ``browser`` fixture."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=_ARGS)
        yield b
        b.close()

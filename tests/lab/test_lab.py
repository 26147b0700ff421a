"""The chapters with live widgets, run in a real JupyterLab client (headless Chromium driven by Playwright).

For each chapter whose code imports ipywidgets, the test starts ``jupyter lab`` on 127.0.0.1 with a free port
and a random token (no browser opened by the server, the book's folder as its root), opens the chapter in
Chromium, clears the stored outputs and runs all cells, then checks:

- every code cell has run, and no output (nor any widget's output area) holds an error;
- no widget failed to render ("Error displaying widget");
- the chapter ran within the book's budget of 60 s per chapter;
- the widget's picture at its starting values is one of the chapter's static figures (byte for byte), so
  the live and the static pictures have not drifted apart;
- moving a slider of the chapter's widget (a key press on its handle, as a reader would) redraws the widget's
  figure: the image after differs from the image before.

Nothing is saved: autosave is off and the test never saves, so the notebooks and the book's folder are left
exactly as they were (checked). JupyterLab's settings, workspaces, runtime files and the checkpoint it makes of
a notebook it opens go to a temporary folder, and it fetches nothing from the network (news, update check and
the extension manager's index are off; the browser may reach 127.0.0.1 only). The server is shut down through
its API, also when a check fails, and the teardown fails if the server or a kernel is still running afterwards.
One screenshot per chapter goes to _build/screenshots/lab/. Without Chromium the test is skipped with a
message, as the browser test is.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from chromium import launched_browser, skip_without_chromium

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
SHOTS = ROOT / "_build" / "screenshots" / "lab"
JUPYTER = Path(sys.executable).with_name("jupyter")
CHAPTER_BUDGET_S = 60.0        # the book's budget per chapter (conftest.py holds nbval to the same)
STARTUP_TIMEOUT_S = 120.0      # server start on a busy 2-core machine
REDRAW_TIMEOUT_S = 30.0

pytestmark = skip_without_chromium("the JupyterLab test of the live widgets")

_IMPORTS_WIDGETS = re.compile(r"^\s*(from|import)\s+ipywidgets\b", re.M)


def _widget_chapters():
    out = []
    for nb in sorted(BOOK.glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        if any(c["cell_type"] == "code" and _IMPORTS_WIDGETS.search("".join(c["source"])) for c in cells):
            out.append(nb.name)
    return out


CHAPTERS = _widget_chapters()

# JupyterLab user settings for the test: no autosave (the test must not write the notebook), every cell
# rendered (no windowing, so the checks see every output), no news, no update check, no extension manager.
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(url, token, path, method="GET", timeout=5.0):
    req = urllib.request.Request(f"{url}{path}", method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def _book_state():
    """Every file under book/ (ignored ones too, e.g. .ipynb_checkpoints) with its size and mtime, and git's
    view of the whole working copy."""
    files = {p.relative_to(ROOT).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
             for p in BOOK.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    git = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT,
                         capture_output=True, text=True).stdout
    return files, git


def _processes_mentioning(text: str):
    """Pids of running processes whose command line contains ``text`` (the test's own temporary folder:
    the server's options and every kernel's connection file live there)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if text in (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore"):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("jupyterlab")
    dirs = {name: tmp / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython",
                                          "checkpoints")}
    for d in dirs.values():
        d.mkdir()
    for plugin, values in SETTINGS.items():
        f = dirs["settings"] / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(dirs["config"]), JUPYTER_DATA_DIR=str(dirs["data"]),
               JUPYTER_RUNTIME_DIR=str(dirs["runtime"]), JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
               JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]), IPYTHONDIR=str(dirs["ipython"]))
    port, token = _free_port(), secrets.token_hex(24)
    url = f"http://127.0.0.1:{port}"
    before = _book_state()
    log = open(tmp / "server.log", "w")
    proc = subprocess.Popen(
        [str(JUPYTER), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={BOOK}",
         # JupyterLab makes a checkpoint of a notebook when it opens it: keep it out of book/
         f"--FileCheckpoints.checkpoint_dir={dirs['checkpoints']}",
         "--ServerApp.terminals_enabled=False", "--expose-app-in-browser", "--allow-root",
         "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         "--LabApp.extension_manager=readonly"],
        cwd=tmp, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with code {proc.returncode} at start:\n{(tmp / 'server.log').read_text()}")
            try:
                if _api(url, token, "/api/status")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer within {STARTUP_TIMEOUT_S:.0f} s")
            time.sleep(0.5)
        yield {"url": url, "token": token, "tmp": tmp}
    finally:
        problems = []
        try:
            _api(url, token, "/api/shutdown", method="POST", timeout=60)
        except urllib.error.HTTPError as e:
            problems.append(f"POST /api/shutdown was refused: {e}")
        except OSError:
            pass        # the server stops its loop while answering: a closed connection is the normal answer
        try:
            code = proc.wait(timeout=60)
            if code != 0:
                problems.append(f"jupyter lab exited with code {code}")
        except subprocess.TimeoutExpired:
            problems.append("jupyter lab did not stop within 60 s of /api/shutdown: killed")
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        time.sleep(0.5)
        left = _processes_mentioning(str(tmp))
        if left:
            problems.append(f"processes left running after the server stopped (killed): {left}")
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        after = _book_state()
        if after != before:
            changed = sorted(set(before[0].items()) ^ set(after[0].items()))
            problems.append(f"the book's folder or the working copy changed: {changed} {before[1]!r} -> {after[1]!r}")
        if problems:
            raise AssertionError("; ".join(problems) + f"\nserver log:\n{(tmp / 'server.log').read_text()[-3000:]}")


@pytest.fixture(scope="module")
def browser():
    yield from launched_browser()


# JavaScript run in the page: the notebook panel of ``path`` once JupyterLab, the panel and its kernel are ready.
PANEL_JS = """async (path) => {
  const app = window.jupyterapp;
  await app.started; await app.restored;
  const panel = [...app.shell.widgets('main')].find(w => w.context && w.context.path === path);
  if (!panel) return false;
  await panel.context.ready; await panel.sessionContext.ready;
  window.__panel = panel;
  const k = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""

# The state of every code cell: run or not, running or queued, error outputs; and the widgets' outputs.
STATE_JS = """() => {
  const panel = window.__panel;
  const cells = panel.content.widgets.filter(c => c.model.type === 'code');
  const node = panel.content.node;
  return {
    total: cells.length,
    done: cells.filter(c => c.model.executionCount !== null).length,
    pending: cells.filter(c => /\\*/.test((c.node.querySelector('.jp-InputPrompt') || {}).textContent || '')).length,
    outputs: cells.reduce((n, c) => n + c.model.outputs.length, 0),
    errors: cells.flatMap((c, i) => [...Array(c.model.outputs.length).keys()]
        .map(j => c.model.outputs.get(j).toJSON())
        .filter(o => o.output_type === 'error')
        .map(o => `cell ${i + 1}: ${o.ename}: ${o.evalue}`)),
    rendered_errors: [...node.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]')]
        .map(e => e.textContent.slice(0, 300)),
    widget_errors: (node.innerText.match(/Error displaying widget[^\\n]*/g) || []),
    loading: (node.innerText.match(/Loading widget\\.\\.\\./g) || []).length,
    kernel: panel.sessionContext.session.kernel.status,
  };
}"""


def _wait(page, js, arg=None, timeout_s=30.0, what=""):
    deadline = time.monotonic() + timeout_s
    while True:
        value = page.evaluate(js, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        page.wait_for_timeout(200)


@pytest.mark.parametrize("chapter", CHAPTERS or ["<no widget chapter>"])
def test_chapter_runs_live_with_working_widgets(lab, browser, chapter):
    if chapter == "<no widget chapter>":
        pytest.fail("no chapter imports ipywidgets: the scan of book/*.ipynb found nothing to test")
    url, token = lab["url"], lab["token"]
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    # no network beyond the local server, as on an offline machine
    ctx.route(re.compile(r"^(?!http://127\.0\.0\.1[:/]).*"), lambda route: route.abort("internetdisconnected"))
    page = ctx.new_page()
    page_errors = []
    page.on("pageerror", lambda e: page_errors.append(str(e)))
    try:
        page.goto(f"{url}/lab/tree/{chapter}?reset&token={token}", wait_until="load")
        page.wait_for_function("() => window.jupyterapp", timeout=60000)
        _wait(page, PANEL_JS, chapter, 90, "the notebook to open and its kernel to be idle")

        page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
        state = page.evaluate(STATE_JS)
        assert state["outputs"] == 0, f"outputs left after clearing: {state}"

        t0 = time.monotonic()
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        finished = f"""() => {{
          const s = ({STATE_JS})();
          return s.kernel === 'idle' && s.pending === 0 && (s.done === s.total || s.errors.length > 0) ? s : null;
        }}"""
        state = _wait(page, finished, None, CHAPTER_BUDGET_S + 60, "all cells to run")
        elapsed = time.monotonic() - t0
        print(f"{chapter}: {state['done']} code cells ran in {elapsed:.1f} s in JupyterLab")
        assert not state["errors"], f"error outputs: {state['errors']}"
        assert state["done"] == state["total"], f"only {state['done']} of {state['total']} code cells ran"
        assert elapsed <= CHAPTER_BUDGET_S, f"{chapter} took {elapsed:.0f} s, over the {CHAPTER_BUDGET_S:.0f} s budget"

        # the widgets render (the view messages may trail the end of execution a little)
        _wait(page, f"() => {{ const s = ({STATE_JS})(); return s.loading === 0; }}", None, 30, "widgets to render")
        state = page.evaluate(STATE_JS)
        assert not state["widget_errors"], f"widgets failed to render: {state['widget_errors']}"
        assert not state["rendered_errors"], f"errors shown in outputs: {state['rendered_errors']}"

        # move a slider of an interact widget by one step, as a reader would, and watch its figure change
        box = page.locator(".widget-interact").first
        assert box.count() == 1, "no interact widget rendered"
        box.scroll_into_view_if_needed()
        img = box.locator(".widget-output img").first
        img.wait_for(timeout=30000)
        before = img.get_attribute("src")
        # the widget's picture at its starting values is one of the chapter's static figures (the same
        # drawing function on the same data gives the same PNG): the live and static pictures agree
        static = page.evaluate("""() => [...window.__panel.content.node.querySelectorAll('.jp-OutputArea-output img')]
            .filter(im => !im.closest('.jupyter-widgets')).map(im => im.src)""")
        assert before in static, (f"the widget's starting picture matches none of the chapter's {len(static)} "
                                  "static figures: the live and the static pictures differ")
        readout = box.locator(".widget-slider .widget-readout").first
        value = readout.inner_text()
        handle = box.locator(".widget-slider .noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")
        _wait(page, "([v]) => document.querySelector('.widget-interact .widget-slider .widget-readout').textContent !== v",
              [value], 10, "the slider's value to change")
        changed = """(before) => {
          const im = document.querySelector('.widget-interact .widget-output img');
          const out = document.querySelector('.widget-interact .widget-output');
          if (out && out.querySelector('[data-mime-type="application/vnd.jupyter.stderr"]'))
            return 'error: ' + out.innerText.slice(-600);
          return !!im && im.complete && im.naturalWidth > 0 && im.src !== before;
        }"""
        try:
            redrawn = _wait(page, changed, before, REDRAW_TIMEOUT_S,
                            f"the figure to redraw after moving the slider from {value}")
        except AssertionError as e:
            raise AssertionError(f"{e}; the widget shows: {box.inner_text()[-600:]!r}") from None
        assert redrawn is True, f"the widget's callback failed after moving the slider from {value}: {redrawn}"
        _wait(page, f"() => {{ const s = ({STATE_JS})(); return s.kernel === 'idle'; }}", None, 30, "the kernel")
        state = page.evaluate(STATE_JS)
        assert not state["widget_errors"] and not state["rendered_errors"], f"after moving the slider: {state}"
        after = box.locator(".widget-output img").first.get_attribute("src")
        assert after and after != before, "moving the slider did not change the picture"
        assert not page_errors, f"uncaught errors in the page: {page_errors}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        box.screenshot(path=str(SHOTS / (Path(chapter).stem + ".png")))
    finally:
        ctx.close()

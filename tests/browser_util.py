"""Helpers for driving the dashboard in headless Chromium: shared by tests/test_browser.py and scripts/bench_app.py."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEWPORT = {"width": 1600, "height": 3600}
MIN_CHARTS = 7  # overview, window, level masks, reconstruction, PCA 2-D and 3-D, explained variance

CHART = '[data-testid="stPlotlyChart"]'
STATUS = '[data-testid="stStatusWidget"]'
EXCEPTION = '[data-testid="stException"]'
ALERT = '[data-testid="stAlert"]'
CAPTION = '[data-testid="stCaptionContainer"]'
DROPZONE = '[data-testid="stFileUploaderDropzone"]'


def chromium_available() -> bool:
    """Is the system Chromium there (the tests never download a browser)?"""
    return os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2) as r:
            return r.read().decode().strip() == "ok"
    except OSError:
        return False


def start_server(port: int, env: Optional[dict] = None, timeout: float = 120.0,
                 log: Optional[Path] = None) -> subprocess.Popen:
    """Start `streamlit run app/main.py` on `port` from the repo root; return once /_stcore/health says ok.

    `env` entries are added to (not substituted for) the current environment. Output goes to `log`
    (or is discarded), so a chatty server never blocks on a full pipe.
    """
    full_env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(env or {})}
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port),
         "--server.headless", "true"],
        cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode} before answering"
                               + (f"; see {log}" if log else ""))
        if _healthy(port):
            return proc
        time.sleep(0.2)
    stop_server(proc)
    raise TimeoutError(f"streamlit did not answer on port {port} within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server started by start_server (only that process)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def launch_browser(playwright):
    """Headless system Chromium."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)


# Installed before any page script runs: the wall-clock time of the page's last DOM change. A wait
# can then report when drawing actually finished, not when a poll happened to notice it.
MUTATION_CLOCK = """(() => {
  window.__lastMutation = Date.now();
  const watch = () => new MutationObserver(() => { window.__lastMutation = Date.now(); })
      .observe(document.documentElement, {subtree: true, childList: true, attributes: true, characterData: true});
  if (document.documentElement) watch(); else document.addEventListener('DOMContentLoaded', watch);
})();"""

# One cheap look at the page per poll: plain DOM queries, no layout, so polling barely disturbs
# the page it measures (Playwright locators in a 50 ms loop cost the page ~0.2 s per redraw).
_STATE = """([chart, status]) => {
  const charts = [...document.querySelectorAll(chart)];
  return {charts: charts.length, drawn: charts.filter(c => c.querySelector('.main-svg') !== null).length,
          running: document.querySelector(status) !== null, lastMutation: (window.__lastMutation || 0) / 1000};
}"""
_TEXTS = "(sel) => [...document.querySelectorAll(sel)].map(e => e.innerText)"


def new_page(browser, viewport: Optional[dict] = None):
    """A page with the tall default viewport (a screenshot holds the whole dashboard) and the mutation clock."""
    page = browser.new_page(viewport=viewport or VIEWPORT)
    page.add_init_script(MUTATION_CLOCK)
    return page


def page_state(page) -> dict:
    """charts (containers), drawn (charts plotly has drawn), running (a script run in progress) and
    lastMutation (wall-clock seconds of the last DOM change; 0 without the mutation clock)."""
    return page.evaluate(_STATE, [CHART, STATUS])


def running(page) -> bool:
    """Is Streamlit's 'Running…' status widget showing?"""
    return page_state(page)["running"]


def chart_count(page) -> int:
    """Plotly charts on the page."""
    return page_state(page)["charts"]


def exceptions(page) -> list[str]:
    """Texts of uncaught exceptions shown on the page."""
    return page.evaluate(_TEXTS, EXCEPTION)


def alerts(page) -> list[str]:
    """Texts of st.error / st.warning / st.info boxes."""
    return page.evaluate(_TEXTS, ALERT)


def captions(page) -> list[str]:
    """Texts of all st.caption elements."""
    return page.evaluate(_TEXTS, CAPTION)


def caption_with(page, needle: str) -> Optional[str]:
    """The first caption containing `needle`, or None."""
    for t in captions(page):
        if needle in t:
            return t
    return None


def header_caption(page) -> Optional[str]:
    """The one-line summary under the title (it names the piece and the model)."""
    return caption_with(page, "— model:")


def hidden_caption(page) -> Optional[str]:
    """The reconstruction caption 'N of M finest patches hidden (p%): mask ratio r of the non-empty patches…'."""
    return caption_with(page, "finest patches hidden")


def wait_settled(page, cond: Callable[[dict], bool], timeout: float = 120.0, settle: float = 1.0,
                 t0: Optional[float] = None, poll: float = 0.1) -> float:
    """Wait until `cond(page_state)` holds, no script runs and the DOM has not changed for `settle` seconds.

    Returns the wall-clock seconds (time.time()) from `t0` (default: now) to the page's last DOM change
    before that quiet period, i.e. when drawing finished; raises TimeoutError after `timeout` seconds.
    Without the mutation clock it falls back to when the poll first saw the settled state.
    """
    t0 = time.time() if t0 is None else t0
    since = None
    while True:
        now = time.time()
        st = page_state(page)
        ok = not st["running"] and cond(st)
        if not ok:
            since = None
        else:
            since = since or now
            last = st["lastMutation"]
            if last > 0 and now - last >= settle and now - since >= poll:
                return max(last - t0, 0.0)
            if last <= 0 and now - since >= settle:
                return since - t0
        if now - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for the page to settle")
        time.sleep(poll)


def wait_ready(page, timeout: float = 120.0, min_charts: int = MIN_CHARTS,
               extra: Optional[Callable[[], bool]] = None, t0: Optional[float] = None) -> float:
    """Wait until ≥ min_charts charts are drawn, `extra()` holds and the page is quiet (no DOM change for 1 s).

    Returns the wall-clock seconds from `t0` (a time.time() value; default now) until drawing finished.
    """
    return wait_settled(page, lambda st: st["drawn"] >= min_charts and (extra is None or extra()), timeout, t0=t0)


def drop_file(page, name: str, data: bytes, mime: str = "audio/midi") -> None:
    """A real drag-and-drop of a file onto the sidebar's MIDI uploader (dragenter, dragover, drop)."""
    zone = page.locator(DROPZONE).first
    zone.wait_for(state="attached", timeout=60_000)
    handle = page.evaluate_handle(
        """([name, bytes, mime]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([new Uint8Array(bytes)], name, {type: mime}));
            return dt;
        }""",
        [name, list(data), mime])
    try:
        for ev in ("dragenter", "dragover", "drop"):
            zone.dispatch_event(ev, {"dataTransfer": handle})
    finally:
        handle.dispose()


def slider(page, label: str):
    """The focusable part of the Streamlit slider labelled `label`.

    Streamlit 1.67 draws sliders with react-aria: a visually hidden `input[type=range]` carrying the
    label; older releases used a baseweb `div[role=slider]`. Either is accepted.
    """
    return page.locator(f'input[type="range"][aria-label="{label}"], '
                        f'div[role="slider"][aria-label="{label}"]').first


def slider_value(page, label: str) -> Optional[str]:
    """The slider's current value as the page states it."""
    el = slider(page, label)
    return el.evaluate("e => e.value !== undefined && e.tagName === 'INPUT' ? e.value "
                       ": e.getAttribute('aria-valuenow')")


def move_slider(page, label: str, steps: int) -> None:
    """Move a slider by `steps` increments with the keyboard (ArrowRight for positive, ArrowLeft for negative)."""
    handle = slider(page, label)
    handle.wait_for(state="attached", timeout=60_000)
    handle.focus()
    key = "ArrowRight" if steps > 0 else "ArrowLeft"
    for _ in range(abs(steps)):
        handle.press(key)


def screenshot(page, folder: Optional[Path], name: str) -> Optional[Path]:
    """A full-page screenshot `name`.png in `folder` (nothing when folder is None)."""
    if folder is None:
        return None
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

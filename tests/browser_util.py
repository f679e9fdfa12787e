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


def new_page(browser, viewport: Optional[dict] = None):
    """A page with the tall default viewport, so a screenshot holds the whole dashboard."""
    return browser.new_page(viewport=viewport or VIEWPORT)


def running(page) -> bool:
    """Is Streamlit's 'Running…' status widget showing?"""
    return page.locator(STATUS).count() > 0


def wait_until(cond: Callable[[], bool], timeout: float, what: str, poll: float = 0.1) -> float:
    """Poll `cond` until true; return the seconds taken, or raise TimeoutError naming `what`."""
    t0 = time.perf_counter()
    while True:
        if cond():
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll)


def wait_quiet(page, timeout: float = 120.0, settle: float = 1.0) -> float:
    """Wait until the 'Running…' status has been gone for `settle` seconds; return the seconds waited."""
    t0 = time.perf_counter()
    quiet_since = None
    while time.perf_counter() - t0 < timeout:
        if running(page):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.perf_counter()
        elif time.perf_counter() - quiet_since >= settle:
            return time.perf_counter() - t0
        time.sleep(0.1)
    raise TimeoutError(f"page never went quiet within {timeout:.0f} s")


def chart_count(page) -> int:
    """Plotly charts on the page."""
    return page.locator(CHART).count()


def exceptions(page) -> list[str]:
    """Texts of uncaught exceptions shown on the page."""
    return page.locator(EXCEPTION).all_inner_texts()


def alerts(page) -> list[str]:
    """Texts of st.error / st.warning / st.info boxes."""
    return page.locator(ALERT).all_inner_texts()


def captions(page) -> list[str]:
    """Texts of all st.caption elements."""
    return page.locator(CAPTION).all_inner_texts()


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
    """The reconstruction caption 'N of M finest patches hidden (mask ratio r)…'."""
    return caption_with(page, "finest patches hidden")


def page_ready(page, min_charts: int = MIN_CHARTS) -> bool:
    """Every view drawn and no script run in progress (a single look; combine with wait_quiet)."""
    return chart_count(page) >= min_charts and not running(page)


def wait_settled(page, cond: Callable[[], bool], timeout: float = 120.0, settle: float = 1.0,
                 t0: Optional[float] = None) -> float:
    """Wait until `cond()` holds and no script runs, and both stay so for `settle` seconds.

    Returns the seconds from `t0` (default: now) to the *start* of that settled period, so the
    settle time itself is not counted; raises TimeoutError after `timeout` seconds.
    """
    t0 = time.perf_counter() if t0 is None else t0
    since = None
    while True:
        now = time.perf_counter()
        ok = cond() and not running(page)
        if not ok:
            since = None
        elif since is None:
            since = now
        elif now - since >= settle:
            return since - t0
        if now - t0 > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for the page to settle")
        time.sleep(0.05)


def wait_ready(page, timeout: float = 120.0, min_charts: int = MIN_CHARTS,
               extra: Optional[Callable[[], bool]] = None, t0: Optional[float] = None) -> float:
    """Wait until ≥ min_charts charts are drawn, `extra()` holds and the page is quiet (settled for 1 s).

    Returns the seconds from `t0` (default: now) until that state began.
    """
    return wait_settled(page, lambda: chart_count(page) >= min_charts and (extra is None or extra()),
                        timeout, t0=t0)


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

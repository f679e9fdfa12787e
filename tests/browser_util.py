"""Helpers for driving the dashboard in headless Chromium: shared by tests/test_browser.py and scripts/bench_app.py."""
from __future__ import annotations

import base64
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
MIN_CHARTS = 3  # always on the piece page: the two rolls (a custom component) and the 2-D PCA (the rest: images)

CHART = '[data-testid="stPlotlyChart"], .live-plotly'  # Streamlit's plotly charts and ours (live_chart: the PCA)
VEGA = '[data-testid="stVegaLiteChart"]'  # Streamlit's Vega-Lite charts (the Corpus page's map): SVG, or a canvas
# when a map holds thousands of points
STRIP = '[data-testid="stBidiComponentIsolated"]'  # the two piano rolls (midi_rae.dashboard.roll_strip)
STATUS = '[data-testid="stStatusWidget"]'
EXCEPTION = '[data-testid="stException"]'
ALERT = '[data-testid="stAlert"]'
CAPTION = '[data-testid="stCaptionContainer"]'
DROPZONE = '[data-testid="stFileUploaderDropzone"]'
# what Streamlit draws while an element's code is still loading (a grey box in its place)
SKELETON = '[data-testid="stSkeleton"], [data-testid="stSkeletonElement"], [data-testid="stAppSkeleton"]'


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
_STATE = """([chart, status, skeleton, strip, vega]) => {
  // a Vega canvas exists before anything is painted on it: drawn once a 32x32 copy of it holds a visible pixel
  const painted = canvas => {
    if (!canvas || !canvas.width || !canvas.height) return false;
    const small = document.createElement('canvas');
    small.width = small.height = 32;
    const ctx = small.getContext('2d');
    ctx.drawImage(canvas, 0, 0, 32, 32);
    return ctx.getImageData(0, 0, 32, 32).data.some((v, i) => i % 4 === 3 && v > 0);
  };
  const charts = [...document.querySelectorAll(chart)];
  const vegas = [...document.querySelectorAll(vega)];
  // the piano rolls are a custom component in a shadow root: drawn once their image has loaded
  const strips = [...document.querySelectorAll(strip)].map(h => h.shadowRoot && h.shadowRoot.querySelector('img.roll'))
                                                      .filter(img => img);
  return {charts: charts.length + strips.length + vegas.length,
          drawn: charts.filter(c => c.querySelector('.main-svg') !== null).length
                 + strips.filter(img => img.complete && img.naturalWidth > 0).length
                 + vegas.filter(c => c.querySelector('svg.marks .role-mark') !== null || painted(c.querySelector('canvas.marks'))).length,
          running: document.querySelector(status) !== null, loading: document.querySelector(skeleton) !== null,
          lastMutation: (window.__lastMutation || 0) / 1000};
}"""
_TEXTS = "(sel) => [...document.querySelectorAll(sel)].map(e => e.innerText)"


def new_page(browser, viewport: Optional[dict] = None, color_scheme: str = "light"):
    """A page with the tall default viewport (a screenshot holds the whole dashboard) and the mutation clock;
    `color_scheme` "dark" is a reader whose system asks for dark pages (Streamlit's theme then follows)."""
    page = browser.new_page(viewport=viewport or VIEWPORT, color_scheme=color_scheme)
    page.add_init_script(MUTATION_CLOCK)
    return page


def page_state(page) -> dict:
    """charts (plotly containers and piano rolls), drawn (of those, the ones drawn), running (a script run in progress), loading
    (an element still drawn as a placeholder while its code loads) and lastMutation (wall-clock seconds of the
    last DOM change; 0 without the mutation clock)."""
    return page.evaluate(_STATE, [CHART, STATUS, SKELETON, STRIP, VEGA])


def running(page) -> bool:
    """Is Streamlit's 'Running…' status widget showing?"""
    return page_state(page)["running"]


def chart_count(page) -> int:
    """Charts on the page (plotly charts and the piano rolls)."""
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
    """Wait until `cond(page_state)` holds, no script runs, no element is still loading and the DOM has not
    changed for `settle` seconds.

    Returns the wall-clock seconds (time.time()) from `t0` (default: now) to the page's last DOM change
    before that quiet period, i.e. when drawing finished; raises TimeoutError after `timeout` seconds.
    Without the mutation clock it falls back to when the poll first saw the settled state.
    """
    t0 = time.time() if t0 is None else t0
    since = None
    while True:
        now = time.time()
        st = page_state(page)
        ok = not st["running"] and not st["loading"] and cond(st)
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


def drop_file(page, name: str, data: bytes, mime: str = "audio/midi", index: int = 0) -> None:
    """A real drag-and-drop of a file onto the page's `index`-th uploader (the first: the sidebar's MIDI uploader,
    or with Upload chosen for the checkpoint, its encoder's; dragenter, dragover, drop)."""
    zone = page.locator(DROPZONE).nth(index)
    zone.wait_for(state="attached", timeout=60_000)
    # as base64: a list of numbers is sent as JSON, and a 7 MB checkpoint took the driver a minute to pass
    handle = page.evaluate_handle(
        """([name, b64, mime]) => {
            const bin = atob(b64);
            const bytes = new Uint8Array(bin.length);
            for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, {type: mime}));
            return dt;
        }""",
        [name, base64.b64encode(data).decode("ascii"), mime])
    try:
        for ev in ("dragenter", "dragover", "drop"):
            zone.dispatch_event(ev, {"dataTransfer": handle})
    finally:
        handle.dispose()


def remove_dropped_file(page) -> None:
    """Click the × beside the file in the sidebar's MIDI uploader (its one button other than "Upload")."""
    uploader = page.locator('[data-testid="stSidebar"] [data-testid="stFileUploader"]').first
    uploader.locator("button").filter(has_not_text="Upload").first.click()


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


# ---------------------------------------------------------------------------------------------------------------
# Finding and driving widgets by what a person sees (aria-label, visible text, data-testid): used by
# scripts/bench_app.py, robust to the page's layout changing around them.

# A hash of what the server drew (chart texts, point counts and raster images, st.image sources, the piano
# rolls' data, captions, headings, markdown, metrics, tables, alerts, the data grids' accessible text), leaving
# out what the browser changes by itself (hover labels, the plotly mode bar, widgets' own labels and values):
# when it differs, a script run changed the page.
_SIGNATURE = """() => {
  const parts = [];
  for (const c of document.querySelectorAll('[data-testid="stPlotlyChart"], .live-plotly')) {
    for (const t of c.querySelectorAll('svg text')) {
      if (!t.closest('.hoverlayer, .modebar')) parts.push(t.textContent);
    }
    parts.push('#points ' + c.querySelectorAll('.scatterlayer path.point').length);
    for (const im of c.querySelectorAll('image')) parts.push(im.getAttribute('href') || im.getAttribute('xlink:href') || '');
  }
  for (const im of document.querySelectorAll('[data-testid="stMain"] img, [data-testid="stSidebar"] img'))
    parts.push(im.getAttribute('src') || '');
  // the piano rolls (roll_strip, in shadow roots): what they were given to draw, the click grid included
  for (const h of document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')) {
    const r = h.shadowRoot && h.shadowRoot.querySelector('.strip');
    if (r && r.__data) parts.push(JSON.stringify([r.__data.title, r.__data.image, r.__data.boxes, r.__data.grid]));
  }
  const sel = ['stCaptionContainer', 'stHeading', 'stMarkdown', 'stMetricValue', 'stTable', 'stHtml', 'stAlert', 'stException']
      .map(t => `[data-testid="${t}"]`).join(', ') + ', [data-testid="stDataFrame"] table, .row-picker';
  for (const e of document.querySelectorAll(sel)) parts.push(e.textContent);
  const s = parts.join('\\u0001');
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
  return s.length + ':' + (h >>> 0).toString(16);
}"""


def content_signature(page) -> str:
    """A short hash of everything the server drew on the page (not hover labels, not widgets' own state)."""
    return page.evaluate(_SIGNATURE)


def chart_titles(page) -> list[str]:
    """The title of every plotly chart on the page, in page order ('' for a chart without one)."""
    return page.evaluate("""(chart) => [...document.querySelectorAll(chart)].map(c =>
        [...c.querySelectorAll('.gtitle')].map(t => t.textContent).join(' | '))""", CHART)


def chart_index(page, title_contains: Optional[str] = None, after: Optional[str] = None) -> Optional[int]:
    """Index (among all plotly charts) of the first chart whose title contains `title_contains`, or of the first
    chart that follows the first element matching the CSS selector `after`; None if there is none."""
    return page.evaluate("""([chart, needle, after]) => {
        const charts = [...document.querySelectorAll(chart)];
        if (needle !== null) {
            const i = charts.findIndex(c => [...c.querySelectorAll('.gtitle')].some(t => t.textContent.includes(needle)));
            return i < 0 ? null : i;
        }
        const anchor = document.querySelector(after);
        if (!anchor) return null;
        const i = charts.findIndex(c => anchor.compareDocumentPosition(c) & Node.DOCUMENT_POSITION_FOLLOWING);
        return i < 0 ? null : i;
    }""", [CHART, title_contains, after])


def chart_points(page, index: int) -> list[int]:
    """Indices of the marker points (`.scatterlayer path.point`) of chart `index` whose centre lies inside the
    plot area (points scrolled out of a zoomed axis range are left out: a click there would miss)."""
    return page.evaluate("""([chart, index]) => {
        const c = document.querySelectorAll(chart)[index];
        if (!c) return [];
        const areas = [...c.querySelectorAll('.nsewdrag')].map(d => d.getBoundingClientRect());
        const inside = (x, y) => areas.some(a => x > a.left + 2 && x < a.right - 2 && y > a.top + 2 && y < a.bottom - 2);
        return [...c.querySelectorAll('.scatterlayer path.point')].map((p, i) => {
            const r = p.getBoundingClientRect();
            return [i, r.width > 0 && inside(r.left + r.width / 2, r.top + r.height / 2)];
        }).filter(([i, ok]) => ok).map(([i]) => i);
    }""", [CHART, index])



def isolated_point(page, index: int, points: list[int]) -> int:
    """Of `points` (marker indices of chart `index`), the one whose centre lies farthest from every other marker's:
    a click there hits that point and no other (plotly picks the marker nearest the mouse)."""
    return page.evaluate("""([chart, index, points]) => {
        const c = document.querySelectorAll(chart)[index];
        const centre = p => { const r = p.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; };
        const all = [...c.querySelectorAll('.scatterlayer path.point')].map(centre);
        let best = points[0], far = -1;
        for (const i of points) {
            const d = Math.min(...all.map((q, j) => j === i ? Infinity : Math.hypot(q[0] - all[i][0], q[1] - all[i][1])));
            if (d > far) { far = d; best = i; }
        }
        return best;
    }""", [CHART, index, points])

def map_points(page):
    """The Corpus map's points (Vega-Lite's SVG marks; the legend's symbols are not marks)."""
    return page.locator(f"{VEGA} svg .mark-symbol.role-mark path")


def drag(page, x0: float, y0: float, x1: float, y1: float, moves: int = 10) -> None:
    """A plain mouse drag from (x0, y0) to (x1, y1) in page pixels, in `moves` steps (on the Corpus map: a
    region)."""
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, moves + 1):
        page.mouse.move(x0 + (x1 - x0) * i / moves, y0 + (y1 - y0) * i / moves)
    page.mouse.up()


def map_hover(page, point: int) -> Optional[str]:
    """Hover point `point` of the Corpus map; the text of Vega's tooltip for it (its "passage" line)."""
    page.mouse.move(0, 0)  # off the chart first: the last point's tooltip goes, and may have covered this one
    page.wait_for_function("() => document.querySelector('#vg-tooltip-element.visible') === null", timeout=10_000)
    map_points(page).nth(point).hover(force=True)
    page.wait_for_function("() => document.querySelector('#vg-tooltip-element.visible') !== null", timeout=10_000)
    text = page.evaluate("() => document.getElementById('vg-tooltip-element').innerText")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[lines.index("passage") + 1] if "passage" in lines else None


def click_chart_point(page, index: int, point: int) -> None:
    """Click marker `point` of chart `index` as a person would (the mouse at its centre; plotly picks the point)."""
    page.locator(CHART).nth(index).locator(".scatterlayer path.point").nth(point).click(force=True)


def radio_options(page, label: str) -> list[tuple[str, bool]]:
    """(text, checked) of each option of the st.radio labelled `label`."""
    return page.evaluate("""(label) => {
        const g = [...document.querySelectorAll('[role="radiogroup"]')].find(e => e.getAttribute('aria-label') === label);
        if (!g) return [];
        return [...g.querySelectorAll('label')].map(l => [l.innerText.trim(), !!(l.querySelector('input') || {}).checked]);
    }""", label)


def click_radio(page, label: str, option: str) -> None:
    """Click the label of option `option` of the st.radio labelled `label`."""
    group = page.locator(f'[role="radiogroup"][aria-label="{label}"]').first
    group.locator("label").filter(has_text=option).first.click()


def selectbox(page, label: str):
    """The combobox input of the st.selectbox labelled `label`."""
    return page.locator(f'input[role="combobox"][aria-label="{label}"]').first


def selectbox_label(page, contains: str) -> Optional[str]:
    """The full label of the first st.selectbox whose label contains `contains` (None when there is none)."""
    return page.evaluate("""(needle) => { const e = [...document.querySelectorAll('input[role="combobox"]')]
        .find(e => (e.getAttribute('aria-label') || '').includes(needle)); return e ? e.getAttribute('aria-label') : null; }""",
                         contains)


def selectbox_value(page, label: str) -> Optional[str]:
    """The option shown by the st.selectbox labelled `label` (None when there is no such selectbox)."""
    box = selectbox(page, label)
    return box.input_value() if box.count() else None


def selectbox_options(page, label: str) -> list[str]:
    """The options of the st.selectbox labelled `label` (opens its list, reads it and closes it again)."""
    selectbox(page, label).click()
    listbox = page.locator(f'[role="listbox"][aria-label="{label}"]').first
    listbox.wait_for(state="visible", timeout=30_000)
    names = [t.strip() for t in listbox.get_by_role("option").all_inner_texts()]
    page.keyboard.press("Escape")
    return names


def open_selectbox(page, label: str):
    """Open the list of the st.selectbox labelled `label`; returns the list once it shows."""
    selectbox(page, label).click()
    listbox = page.locator(f'[role="listbox"][aria-label="{label}"]').first
    listbox.wait_for(state="visible", timeout=30_000)
    return listbox


def pick_option(listbox, option: str) -> None:
    """Click the option `option` (exact text) of a list opened by open_selectbox."""
    listbox.get_by_role("option", name=option, exact=True).first.click()


def select_option(page, label: str, option: str) -> None:
    """Open the st.selectbox labelled `label` and click its option `option` (exact text)."""
    pick_option(open_selectbox(page, label), option)


def tab(page, name: str):
    """The [role=tab] element named `name`."""
    return page.get_by_role("tab", name=name, exact=True).first


def selected_tab(page) -> Optional[str]:
    """The text of the selected tab (None without tabs)."""
    return page.evaluate("""() => { const t = document.querySelector('[role="tab"][aria-selected="true"]');
                                    return t ? t.innerText.trim() : null; }""")


def button(page, name: str):
    """The button whose visible text is `name`."""
    return page.get_by_role("button", name=name, exact=True).first


def has_button(page, name: str) -> bool:
    """Is there a button whose visible text is `name`?"""
    return page.evaluate("""(name) => [...document.querySelectorAll('button')].some(b => b.innerText.trim() === name)""",
                         name)


def dataframe_after(page, heading: str) -> Optional[int]:
    """Index (among st.dataframe grids) of the first one after the heading whose text starts with `heading`."""
    return page.evaluate("""(heading) => {
        const h = [...document.querySelectorAll('h1, h2, h3, h4, h5, h6')].find(e => e.textContent.trim().startsWith(heading));
        if (!h) return null;
        const grids = [...document.querySelectorAll('[data-testid="stDataFrame"]')];
        const i = grids.findIndex(g => h.compareDocumentPosition(g) & Node.DOCUMENT_POSITION_FOLLOWING);
        return i < 0 ? null : i;
    }""", heading)


def dataframe_rows(page, index: int) -> list[str]:
    """The text of each data row of st.dataframe `index`, read from the grid's accessible table."""
    return page.evaluate("""(index) => {
        const g = document.querySelectorAll('[data-testid="stDataFrame"]')[index];
        if (!g) return [];
        return [...g.querySelectorAll('tbody tr')].map(r => [...r.querySelectorAll('td')].map(td => td.textContent).join(' · '));
    }""", index)


PICKER_ROWS = ".row-picker tbody tr"  # the rows of a row_picker table (the neighbours of a selection)


def picker_rows(page) -> list[str]:
    """The text of each row of the row_picker table (cells joined by ' · ')."""
    return page.evaluate("""(sel) => [...document.querySelectorAll(sel)].map(r =>
        [...r.querySelectorAll('td')].map(td => td.textContent).join(' · '))""", PICKER_ROWS)


def click_picker_row(page, row: int) -> None:
    """Click row `row` (0 = first) of the row_picker table, as a person would."""
    page.locator(PICKER_ROWS).nth(row).click()


def click_dataframe_row(page, index: int, row: int) -> None:
    """Click the row-marker cell (the selection checkbox) of data row `row` (0 = first) of st.dataframe `index`.

    The grid is a canvas (glide-data-grid): the click goes to computed coordinates, one header row and
    `row` data rows down, all of the same height, in the narrow marker column at the left.
    """
    grid = page.locator('[data-testid="stDataFrame"]').nth(index)
    grid.scroll_into_view_if_needed()
    n = len(dataframe_rows(page, index))
    box = grid.bounding_box()
    if box is None or n == 0:
        raise RuntimeError("the table has no rows to click")
    row_h = (box["height"] - 2) / (n + 1)  # header + n rows (a short table is not scrolled)
    page.mouse.click(box["x"] + min(16, box["width"] / 4), box["y"] + row_h * (row + 1.5))


_ROLL = """([index, tag]) => {
  const hosts = [...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')]
      .filter(h => h.shadowRoot && h.shadowRoot.querySelector('.strip'));
  const strip = hosts[index] && hosts[index].shadowRoot.querySelector('.strip');
  if (!strip) return null;
  if (tag) strip.__tag = tag;
  const r = strip.querySelector('.plot').getBoundingClientRect();
  const boxes = [...strip.querySelectorAll('.boxes div')].map(b => [b.className, parseFloat(b.style.left),
                                                                   parseFloat(b.style.width)]);
  const edges = [...strip.querySelectorAll('.boxes div')].map(b => {
    const cs = getComputedStyle(b);
    return [b.className, parseFloat(cs.borderTopWidth), parseFloat(cs.borderLeftWidth)];
  });
  return {tag: strip.__tag || null, box: [r.left, r.top, r.width, r.height], boxes: boxes, edges: edges,
          title: strip.querySelector('.title').textContent};
}"""
OVERVIEW, WINDOW = 0, 1  # the piece view's two rolls (midi_rae.dashboard.roll_strip), in page order


def roll(page, index: int, tag: Optional[str] = None) -> Optional[dict]:
    """Roll `index` (OVERVIEW or WINDOW) as drawn: its plot's box (left, top, width, height in px), its outlines
    (class, left and width in % of the plot) and their edges (class, top and left border widths in px), its title,
    and `tag` (set on its DOM node when given: a tag that
    survives a rerun shows the browser kept the node)."""
    return page.evaluate(_ROLL, [index, tag])


def click_roll_at(page, index: int, fx: float, fy: float = 0.5) -> None:
    """Click roll `index` at fractions (fx, fy) of its plot's width and height, from the top left."""
    left, top, width, height = roll(page, index)["box"]
    page.mouse.click(left + width * fx, top + height * fy)

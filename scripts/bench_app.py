"""Speed of the dashboard as a person sees it, in headless Chromium (numbers for the README; not a test).

    python scripts/bench_app.py --json bench.json --markdown bench.md             # quiet, 5 repeats
    python scripts/bench_app.py --conditions quiet,busy --json bench.json --markdown bench.md
    python scripts/bench_app.py --busy --repeat 1                                 # one core kept busy

One run measures every interaction below, in this order, on one server and one page, each repeated N times
(--repeat, default 5); it reports the median and the maximum, and writes every sample to the JSON:

(a) first render: seconds from starting `streamlit run app/main.py` until a fresh page shows every view
    (at least browser_util.MIN_CHARTS plotly charts drawn and the reconstruction caption shown) with no
    script running; each repeat starts a fresh server (the last one serves the rest of the run);
(b) mask-ratio step: one ArrowRight / ArrowLeft press on "Mask ratio", timed until the "finest patches
    hidden" caption changes and the page is quiet; N presses alternating direction (after the first two,
    those values are in the app's window cache), then N presses in one direction (every value new to the
    server, so the window is encoded and decoded again);
    window start ±1 bar ("Window start (bar)": +1, turning back at the piece's last start bar);
    transpose ±1 semitone ("Transpose (semitones)", alternating +1/−1);
    PCA level ("Level" radio: another option's label clicked, alternating);
    colour by ("Colour by" selectbox: another option picked, alternating; as for every selectbox, the clock
    starts at the option's click, and the time its list took to open is recorded beside, as open_list_seconds);
    patch-selection level ("Click selects a patch at level" select_slider, arrow keys, alternating);
    binarization threshold ("Binarization threshold" slider, alternating);
    New mask (the "New mask" button: a new seed each time);
    analysis tab ("Song structure" opened, then "Spectrum of every level" again: each timed);
    click a patch (a patch dot of the window chart, a different one each time; then "Clear selection",
    also timed);
    click a PCA point (a point of the 2-D PCA chart, the chart after the "Level" radio; the selection is
    cleared between repeats);
    click a neighbour (after a patch is selected: the row-marker cell of the first row of the table under
    "Selected patch and its nearest neighbours");
    A/B on and off ("Second checkpoint (B)": "Shipped default", then "Off": each timed);
    switch example piece ("…or pick an example": alternating between two examples);
    drop a new piece (a generated 16-bar MIDI file, a new one each time, dropped on the uploader);
(c) a 10-minute piece (300 bars of 4/4 at 120 BPM, four voices; --bars) dropped on the uploader, timed from the
    drop until the header names it, every chart is drawn and the page is quiet (the first repeat is the
    same file as before; later repeats are new pieces of the same length).

Every step waits for the change to reach the page (the caption or header that states it, the selected tab,
or, where no text states it, a hash of everything the server drew: chart texts, points and rasters, images,
captions, tables); controls are put back to where they were after each step, untimed. A step that cannot be
performed (an element missing, a timeout) is recorded as skipped with the reason, and the run goes on.

A page counts as ready when its condition holds, no script runs and its DOM has not changed for 1 s;
the time reported is that of the last DOM change (a MutationObserver installed before the page's own
scripts records it), i.e. when the browser finished drawing. The benchmark polls with one plain DOM
query every 0.1 s (and, until the step's change shows, one more for its condition), so the measuring
barely slows the page it measures.

--busy keeps one core busy (`python -c 'while True: pass'`, one process) for the whole run;
--conditions quiet,busy runs the whole sequence twice on fresh servers, quiet then busy, and the table
gets a busy / quiet column (ratio of the medians). The JSON records the load average at the start and end
of each condition. Condition busy-later is a shared machine whose other job starts after the server: it waits
(up to 3 min) for the load average to fall below 0.5, starts the servers on the quiet machine, then keeps one
core busy from before the first interaction (5 s before it) to the end.

Needs /usr/bin/chromium and the playwright package (never downloads a browser).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import browser_util  # noqa: E402
from browser_util import (  # noqa: E402
                          alerts, button, chart_count, chart_index, chart_points, chart_titles,
                          chromium_available, click_chart_point, click_dataframe_row, click_picker_row, click_radio, click_roll_at,
                          content_signature, dataframe_after, dataframe_rows, drop_file, exceptions, picker_rows,
                          free_port, has_button, header_caption, hidden_caption, launch_browser, move_slider,
                          new_page, open_selectbox, pick_option, radio_options, screenshot, select_option, selectbox,
                          selectbox_label,
                          selectbox_options, selectbox_value, selected_tab, slider, slider_value,
                          start_server, stop_server, tab, wait_ready, WINDOW)

TIMEOUT = 300.0

# Labels and texts on the page (what a person reads); change them here when the page changes.
MASK_RATIO = "Mask ratio"
WINDOW_START = "Window start (bar)"
TRANSPOSE = "Transpose (semitones)"
PCA_LEVEL = "Level"
COLOUR_BY = "Colour by"
SELECT_LEVEL = "Click selects a patch at level"
THRESHOLD = "Binarization threshold"
NEW_MASK = "New mask"
TAB_OPEN, TAB_BACK = "Song structure", "Spectrum of every level"
CLEAR_SELECTION = "Clear selection"
NEIGHBOURS_HEADING = "Selected patch and its nearest neighbours"
B_CHECKPOINT, B_ON, B_OFF = "Second checkpoint (B)", "Shipped default", "Off"
EXAMPLE_PICKER = "pick an example"  # part of the label "…or pick an example"

# (key in the JSON, row of the table), in the order they run
STEPS = [
    ("first_render", "first render after `streamlit run` (a)"),
    ("mask_ratio_alternating", "mask-ratio step, alternating (b)"),
    ("mask_ratio_new_values", "mask-ratio step, new values (b)"),
    ("window_start", "window start ±1 bar"),
    ("transpose", "transpose ±1 semitone"),
    ("pca_level", "PCA level change"),
    ("colour_by", "colour-by change"),
    ("select_level", "patch-selection level"),
    ("threshold", "binarization threshold"),
    ("new_mask", "New mask"),
    ("tab_open", f"open an analysis tab ({TAB_OPEN})"),
    ("tab_back", f"back to {TAB_BACK}"),
    ("click_patch", "click a patch"),
    ("clear_selection", "Clear selection"),
    ("click_pca_point", "click a PCA point"),
    ("click_neighbour", "click a neighbour row"),
    ("ab_on", "A/B on"),
    ("ab_off", "A/B off"),
    ("switch_example", "switch example piece"),
    ("drop_piece", "drop a new piece (16 bars)"),
    ("long_piece", "drop a 10-minute piece (c)"),
]
LABELS = dict(STEPS)


def long_piece(bars: int = 300, tempo: float = 120.0, seed: int = 0) -> bytes:
    """A `bars`-bar 4/4 piece with melody, chords, bass and drums (300 bars at 120 BPM = 600 s)."""
    import pretty_midi

    rng = random.Random(seed)
    beat = 60.0 / tempo
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    melody, chords = pretty_midi.Instrument(0, name="melody"), pretty_midi.Instrument(0, name="chords")
    bass, drums = pretty_midi.Instrument(33, name="bass"), pretty_midi.Instrument(0, is_drum=True, name="drums")
    scale = [0, 2, 4, 5, 7, 9, 11, 12, 14]
    for b in range(bars):
        root = [0, 5, 7, 9, 2, 7, 0, 0][b % 8]
        t0 = b * 4 * beat
        for p in (48 + root, 52 + root, 55 + root):
            chords.notes.append(pretty_midi.Note(70, p, t0, t0 + 2 * beat))
            chords.notes.append(pretty_midi.Note(70, p, t0 + 2 * beat, t0 + 4 * beat))
        t = 0.0
        while t < 4:
            d = rng.choice([0.25, 0.5, 0.5, 1.0])
            melody.notes.append(pretty_midi.Note(90, 67 + scale[rng.randrange(len(scale))] + (root % 5),
                                                 t0 + t * beat, t0 + min(t + d, 4) * beat))
            t += d
        for k in range(4):
            bass.notes.append(pretty_midi.Note(90, 36 + root + (7 if k == 2 else 0), t0 + k * beat,
                                               t0 + (k + 0.9) * beat))
        for k in range(8):
            drums.notes.append(pretty_midi.Note(100, 42, t0 + k * beat / 2, t0 + k * beat / 2 + 0.05))
            if k % 4 == 0:
                drums.notes.append(pretty_midi.Note(100, 36 if k == 0 else 38, t0 + k * beat / 2,
                                                    t0 + k * beat / 2 + 0.1))
    pm.instruments += [melody, chords, bass, drums]
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


class Skip(Exception):
    """A step that cannot be performed on this page (the reason is the message)."""


@dataclass
class Run:
    """One condition's browser, server, page and settings; samples go to `out[key]`."""

    browser: object
    args: argparse.Namespace
    log_dir: Path
    condition: str
    page: object = None
    proc: Optional[subprocess.Popen] = None
    out: dict = field(default_factory=lambda: defaultdict(list))
    clicked: set = field(default_factory=set)  # (chart title, point) already clicked in this run

    @property
    def timeout(self) -> float:
        return self.args.timeout


def changed(probe: Callable, before) -> Callable[[], bool]:
    """A wait_ready condition: true once `probe()` differs from `before` (every component, for a tuple; a
    plain value must also not be None), and true from then on (the probe is not evaluated again)."""
    seen = [False]

    def cond() -> bool:
        if not seen[0]:
            now = probe()
            if isinstance(before, tuple):
                seen[0] = all(a != b for a, b in zip(now, before))
            else:
                seen[0] = now is not None and now != before
        return seen[0]

    return cond


def timed(run: Run, action: Callable[[], None], probe: Callable, timeout: Optional[float] = None) -> float:
    """Seconds from `action()` until `probe()` has changed and the page is drawn and quiet."""
    page = run.page
    before = probe()
    t0 = time.time()
    action()
    return round(wait_ready(page, timeout or run.timeout, extra=changed(probe, before), t0=t0), 3)


def settle(run: Run, timeout: float = 120.0) -> None:
    """Wait, untimed, until the page is drawn and quiet (after a failure, or after putting a control back)."""
    wait_ready(run.page, timeout)


def signature(run: Run) -> Callable[[], str]:
    return lambda: content_signature(run.page)


def need_slider(run: Run, label: str):
    el = slider(run.page, label)
    if el.count() == 0:
        raise Skip(f'no slider labelled "{label}"')
    return el


def slider_bounds(run: Run, label: str) -> tuple[float, float]:
    el = need_slider(run, label)
    lo = el.evaluate("e => e.min !== undefined && e.tagName === 'INPUT' ? e.min : e.getAttribute('aria-valuemin')")
    hi = el.evaluate("e => e.max !== undefined && e.tagName === 'INPUT' ? e.max : e.getAttribute('aria-valuemax')")
    return float(lo), float(hi)


def set_slider(run: Run, label: str, value: str, step: float) -> None:
    """Put a slider back to `value` with the keyboard (untimed) and wait for the page."""
    now = slider_value(run.page, label)
    if now is None or abs(float(now) - float(value)) < step / 2:
        return
    move_slider(run.page, label, round((float(value) - float(now)) / step))
    wait_ready(run.page, run.timeout, extra=lambda: abs(float(slider_value(run.page, label)) - float(value)) < step / 2)


def press_series(run: Run, key: str, label: str, directions: list[int], probe: Optional[Callable] = None) -> None:
    """One arrow press per entry (+1 right, −1 left) on slider `label`, each timed until `probe` changes."""
    need_slider(run, label)
    probe = probe or signature(run)
    for d in directions:
        v0 = slider_value(run.page, label)
        dt = timed(run, lambda: move_slider(run.page, label, d), probe)
        run.out[key].append({"direction": "R" if d > 0 else "L", "from": float(v0),
                             "to": float(slider_value(run.page, label)), "seconds": dt})


def alternating(n: int, first: int = 1) -> list[int]:
    return [first if i % 2 == 0 else -first for i in range(n)]


# ----------------------------------------------------------------------------------------------- the steps


def step_first_render(run: Run, n: int) -> None:
    """(a) n fresh servers, each timed from process start to a full first render; the last one stays."""
    for i in range(n):
        if run.proc is not None:
            run.page.close()
            stop_server(run.proc)
            run.proc = run.page = None
        port = run.args.port or free_port()
        t0 = time.time()
        env = {"PYTHONPATH": str(run.args.checkout)} if run.args.checkout else None
        run.proc = start_server(port, env=env, log=run.log_dir / f"server_{run.condition}_{i + 1}.log",
                                timeout=TIMEOUT)
        t_health = time.time() - t0
        run.page = new_page(run.browser)
        run.page.goto(f"http://localhost:{port}")
        t_first = wait_ready(run.page, TIMEOUT, t0=t0,
                             extra=lambda: header_caption(run.page) is not None
                             and hidden_caption(run.page) is not None)
        run.out["first_render"].append({"seconds": round(t_first, 3), "server_health_s": round(t_health, 3),
                                        "charts": chart_count(run.page), "piece": header_caption(run.page)})


def step_mask_ratio(run: Run, n: int) -> None:
    """(b) alternating presses, then presses in one direction (new values), on Mask ratio."""
    v0 = slider_value(run.page, MASK_RATIO)
    caption = lambda: hidden_caption(run.page)  # noqa: E731
    press_series(run, "mask_ratio_alternating", MASK_RATIO, alternating(n), caption)
    # onwards from where the alternation ended, away from the values it visited: each value new to the server
    lo, hi = slider_bounds(run, MASK_RATIO)
    cur = float(slider_value(run.page, MASK_RATIO))
    d = 1 if cur > float(v0) else -1
    if not lo - 1e-9 <= cur + d * 0.05 * n <= hi + 1e-9:
        d = -d
    press_series(run, "mask_ratio_new_values", MASK_RATIO, [d] * n, caption)
    set_slider(run, MASK_RATIO, v0, 0.05)


def step_window_start(run: Run, n: int) -> None:
    """Window start +1 bar, turning back (−1) at the last start bar and again at the first."""
    el = need_slider(run, WINDOW_START)
    if el.is_disabled():
        raise Skip("the window start slider is disabled (a one-window piece)")
    v0 = slider_value(run.page, WINDOW_START)
    lo, hi = slider_bounds(run, WINDOW_START)
    d = 1
    for _ in range(n):
        v = float(slider_value(run.page, WINDOW_START))
        if v + d > hi or v + d < lo:
            d = -d
        press_series(run, "window_start", WINDOW_START, [d])
    set_slider(run, WINDOW_START, v0, 1)


def step_transpose(run: Run, n: int) -> None:
    v0 = slider_value(run.page, TRANSPOSE)
    press_series(run, "transpose", TRANSPOSE, alternating(n))
    set_slider(run, TRANSPOSE, v0, 1)


def step_pca_level(run: Run, n: int) -> None:
    """Click another option of the "Level" radio (the one before the current, or after the first), alternating."""
    opts = radio_options(run.page, PCA_LEVEL)
    if len(opts) < 2:
        raise Skip(f'no radio "{PCA_LEVEL}" with two options')
    cur = next(i for i, (_, on) in enumerate(opts) if on)
    a, b = opts[cur][0], opts[cur - 1 if cur > 0 else 1][0]
    for i in range(n):
        target = b if i % 2 == 0 else a
        dt = timed(run, lambda: click_radio(run.page, PCA_LEVEL, target), signature(run))
        run.out["pca_level"].append({"to": target, "seconds": dt})
    if n % 2:
        click_radio(run.page, PCA_LEVEL, a)
        wait_ready(run.page, run.timeout, extra=lambda: dict(radio_options(run.page, PCA_LEVEL)).get(a))


def pick_alternating(run: Run, key: str, label: str, n: int, other: Optional[str] = None,
                     probe: Optional[Callable] = None) -> None:
    """Open selectbox `label` and pick another option, alternating between the current one and `other`."""
    if selectbox(run.page, label).count() == 0:
        raise Skip(f'no selectbox labelled "{label}"')
    if selectbox(run.page, label).is_disabled():
        raise Skip(f'the selectbox "{label}" is disabled')
    a = selectbox_value(run.page, label)
    if other is None:
        opts = [o for o in selectbox_options(run.page, label) if o != a]
        if not opts:
            raise Skip(f'the selectbox "{label}" has one option')
        other = opts[0]
    probe = probe or signature(run)
    for i in range(n):
        frm, to = (a, other) if i % 2 == 0 else (other, a)
        # the clock starts at the option's click: opening the list is its own action, timed on its own
        t_open = time.time()
        listbox = open_selectbox(run.page, label)
        opened = round(time.time() - t_open, 3)
        dt = timed(run, lambda: pick_option(listbox, to), probe)
        run.out[key].append({"from": frm, "to": to, "seconds": dt, "open_list_seconds": opened})
    if n % 2:
        select_option(run.page, label, a)
        wait_ready(run.page, run.timeout, extra=lambda: selectbox_value(run.page, label) == a)


def step_colour_by(run: Run, n: int) -> None:
    pick_alternating(run, "colour_by", COLOUR_BY, n)


def step_select_level(run: Run, n: int) -> None:
    v0 = slider_value(run.page, SELECT_LEVEL)
    lo, hi = slider_bounds(run, SELECT_LEVEL)
    press_series(run, "select_level", SELECT_LEVEL, alternating(n, 1 if float(v0) < hi else -1))
    set_slider(run, SELECT_LEVEL, v0, 1)


def step_threshold(run: Run, n: int) -> None:
    v0 = slider_value(run.page, THRESHOLD)
    lo, hi = slider_bounds(run, THRESHOLD)
    press_series(run, "threshold", THRESHOLD, alternating(n, 1 if float(v0) + 0.05 <= hi + 1e-9 else -1))
    set_slider(run, THRESHOLD, v0, 0.05)


def step_new_mask(run: Run, n: int) -> None:
    if button(run.page, NEW_MASK).count() == 0:
        raise Skip(f'no button "{NEW_MASK}"')
    for _ in range(n):
        dt = timed(run, lambda: button(run.page, NEW_MASK).click(), signature(run))
        run.out["new_mask"].append({"seconds": dt})


def step_tabs(run: Run, n: int) -> None:
    """Open TAB_OPEN, then TAB_BACK, each timed until the tab is selected and its content drawn."""
    for name in (TAB_OPEN, TAB_BACK):
        if tab(run.page, name).count() == 0:
            raise Skip(f'no tab "{name}"')
    probe = lambda: (selected_tab(run.page), content_signature(run.page))  # noqa: E731
    for _ in range(n):
        for key, name in (("tab_open", TAB_OPEN), ("tab_back", TAB_BACK)):
            dt = timed(run, lambda: tab(run.page, name).click(), probe)
            run.out[key].append({"tab": name, "seconds": dt})


def click_window(run: Run, i: int) -> Callable:
    """A click on the window roll at the i-th of eight patch columns, halfway up its pitch range."""
    return lambda: click_roll_at(run.page, WINDOW, (i % 8 + 0.5) / 8, 0.5)


def selection_probe(run: Run) -> Callable:
    return lambda: (has_button(run.page, CLEAR_SELECTION), content_signature(run.page))


def clear_selection(run: Run, key: Optional[str] = None) -> None:
    """Press "Clear selection" when there is a selection (timed into `key` when given)."""
    if not has_button(run.page, CLEAR_SELECTION):
        return
    dt = timed(run, lambda: button(run.page, CLEAR_SELECTION).click(), selection_probe(run))
    if key:
        run.out[key].append({"seconds": dt})


def fresh_point(run: Run, chart: int, points: list[int]) -> int:
    """A point of `chart` not clicked before in this run, from the middle of the candidates out (a chart keeps
    its last selection, so a second click on the same point would not be news to the page)."""
    title = chart_titles(run.page)[chart][:8]
    order = sorted(points, key=lambda p: abs(p - points[len(points) // 2]))
    p = next((p for p in order if (title, p) not in run.clicked), order[0])
    run.clicked.add((title, p))
    return p


def away(run: Run) -> None:
    """Park the mouse over the sidebar (no hover labels left over a chart)."""
    run.page.mouse.move(5, 5)


def click_new_point(run: Run, chart: int, key: str, none_there: str) -> None:
    """Click a point of `chart` not clicked before, timed until the selection shows, into `key`."""
    pts = chart_points(run.page, chart)
    if not pts:
        raise Skip(f"{none_there} inside its plot area")
    p = fresh_point(run, chart, pts)
    dt = timed(run, lambda: click_chart_point(run.page, chart, p), selection_probe(run))
    away(run)
    run.out[key].append({"chart": chart, "point": p, "seconds": dt})


def step_click_patch(run: Run, n: int) -> None:
    """Click a patch of the window, then Clear selection (both timed), n times."""
    clear_selection(run)
    for i in range(n):
        dt = timed(run, click_window(run, i), selection_probe(run))
        away(run)
        run.out["click_patch"].append({"column": i % 8, "seconds": dt})
        clear_selection(run, "clear_selection")


def step_click_pca_point(run: Run, n: int) -> None:
    """Click a point of the 2-D PCA chart (the first chart after the "Level" radio); clear between repeats."""
    v0 = slider_value(run.page, WINDOW_START)
    clear_selection(run)
    for i in range(n):
        ci = chart_index(run.page, after=f'[role="radiogroup"][aria-label="{PCA_LEVEL}"]')
        if ci is None:
            raise Skip(f'no chart after the "{PCA_LEVEL}" radio')
        click_new_point(run, ci, "click_pca_point", "the PCA chart has no points")
        clear_selection(run)
    if v0 is not None:
        set_slider(run, WINDOW_START, v0, 1)


def neighbour_rows(run: Run) -> list[str]:
    """The rows of the selection's neighbours: a row_picker table (or, in older checkouts, an st.dataframe)."""
    rows = picker_rows(run.page)
    if rows:
        return rows
    i = dataframe_after(run.page, NEIGHBOURS_HEADING)
    return dataframe_rows(run.page, i) if i is not None else []


def click_neighbour_row(run: Run, row: int) -> None:
    """Click a row of the neighbours' table, whichever kind it is."""
    if picker_rows(run.page):
        click_picker_row(run.page, row)
    else:
        click_dataframe_row(run.page, dataframe_after(run.page, NEIGHBOURS_HEADING), row)


def step_click_neighbour(run: Run, n: int) -> None:
    """Select a patch (untimed), then click the first row of its neighbours table, n times."""
    v0 = slider_value(run.page, WINDOW_START)
    clear_selection(run)
    for i in range(8):  # a patch with neighbours listed
        timed(run, click_window(run, i), selection_probe(run))
        away(run)
        if neighbour_rows(run):
            break
        clear_selection(run)
    else:
        raise Skip(f'no table of neighbours under "{NEIGHBOURS_HEADING}" after selecting a patch')
    for _ in range(n):
        rows = neighbour_rows(run)
        if not rows:
            raise Skip("the selected patch lists no neighbours")
        row = rows[0]
        dt = timed(run, lambda: click_neighbour_row(run, 0), signature(run))
        away(run)
        run.out["click_neighbour"].append({"row": row, "seconds": dt})
    clear_selection(run)
    if v0 is not None:
        set_slider(run, WINDOW_START, v0, 1)


def step_ab(run: Run, n: int) -> None:
    """B on (the shipped default), then off, each timed."""
    if selectbox(run.page, B_CHECKPOINT).count() == 0:
        raise Skip(f'no selectbox labelled "{B_CHECKPOINT}"')
    if selectbox_value(run.page, B_CHECKPOINT) != B_OFF:
        select_option(run.page, B_CHECKPOINT, B_OFF)
        settle(run)
    for _ in range(n):
        for key, to in (("ab_on", B_ON), ("ab_off", B_OFF)):
            t_open = time.time()
            listbox = open_selectbox(run.page, B_CHECKPOINT)
            opened = round(time.time() - t_open, 3)
            dt = timed(run, lambda: pick_option(listbox, to), signature(run))
            run.out[key].append({"to": to, "seconds": dt, "open_list_seconds": opened})


def step_switch_example(run: Run, n: int) -> None:
    label = selectbox_label(run.page, EXAMPLE_PICKER)
    if label is None:
        raise Skip(f'no selectbox whose label contains "{EXAMPLE_PICKER}"')
    pick_alternating(run, "switch_example", label, n, probe=lambda: header_caption(run.page))


def drop_series(run: Run, key: str, n: int, bars: int, names: list[str], seeds: list[int], timeout: float) -> None:
    for name, seed in zip(names, seeds):
        data = long_piece(bars, seed=seed)
        t0 = time.time()
        drop_file(run.page, name, data)
        dt = wait_ready(run.page, timeout, extra=lambda: name in (header_caption(run.page) or ""), t0=t0)
        run.out[key].append({"name": name, "bars": bars, "duration_s": bars * 2.0, "bytes": len(data),
                             "seconds": round(dt, 3), "charts": chart_count(run.page),
                             "header": header_caption(run.page)})


def step_drop_piece(run: Run, n: int) -> None:
    drop_series(run, "drop_piece", n, 16, [f"bench_16_bars_{i + 1}.mid" for i in range(n)],
                [1000 + i for i in range(n)], run.timeout)


def step_long_piece(run: Run, n: int) -> None:
    """(c) the 10-minute piece: the first repeat is the same file as earlier versions of this script."""
    bars = run.args.bars
    names = [f"long_{bars}_bars.mid"] + [f"long_{bars}_bars_{i + 1}.mid" for i in range(1, n)]
    drop_series(run, "long_piece", n, bars, names, list(range(n)), max(TIMEOUT, 2 * run.timeout))


# (function, the keys it fills), in the order they run
SEQUENCE = [
    (step_first_render, ["first_render"]),
    (step_mask_ratio, ["mask_ratio_alternating", "mask_ratio_new_values"]),
    (step_window_start, ["window_start"]),
    (step_transpose, ["transpose"]),
    (step_pca_level, ["pca_level"]),
    (step_colour_by, ["colour_by"]),
    (step_select_level, ["select_level"]),
    (step_threshold, ["threshold"]),
    (step_new_mask, ["new_mask"]),
    (step_tabs, ["tab_open", "tab_back"]),
    (step_click_patch, ["click_patch", "clear_selection"]),
    (step_click_pca_point, ["click_pca_point"]),
    (step_click_neighbour, ["click_neighbour"]),
    (step_ab, ["ab_on", "ab_off"]),
    (step_switch_example, ["switch_example"]),
    (step_drop_piece, ["drop_piece"]),
    (step_long_piece, ["long_piece"]),
]
assert [k for _, keys in SEQUENCE for k in keys] == [k for k, _ in STEPS]


def summary(samples: list[dict]) -> dict:
    s = [m["seconds"] for m in samples]
    out = {"n": len(s), "median_s": round(statistics.median(s), 3), "max_s": round(max(s), 3),
           "min_s": round(min(s), 3), "samples": samples}
    opened = [m["open_list_seconds"] for m in samples if "open_list_seconds" in m]
    if opened:  # a selectbox's list opening, before the timed pick (Playwright's round trips included)
        out["open_list_median_s"] = round(statistics.median(opened), 3)
    return out


def recover(run: Run) -> None:
    """After a failed step: close any open list, move the mouse away, wait for a quiet page (best effort)."""
    try:
        run.page.keyboard.press("Escape")
        away(run)
        settle(run, 60.0)
    except Exception:  # noqa: BLE001 (best effort: the next step reports its own failure)
        pass


def wait_for_quiet(load: float, timeout: float) -> None:
    """Wait until the 1-minute load average is below `load` (or `timeout` seconds have passed)."""
    t0 = time.time()
    while os.getloadavg()[0] >= load and time.time() - t0 < timeout:
        time.sleep(2.0)


def run_condition(pw, args, condition: str, log_dir: Path) -> dict:
    """The whole sequence on fresh servers and a fresh browser; with condition 'busy', one core kept busy."""
    if condition == "busy-later":
        wait_for_quiet(0.5, 180.0)
    res: dict = {"busy": condition != "quiet", "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if condition == "busy" else None
    browser = launch_browser(pw)  # started before the clock: the browser's own start is not the app's
    run = Run(browser, args, log_dir, condition)
    steps: dict = {}
    only = set(args.only.split(",")) if args.only else None
    try:
        for fn, keys in SEQUENCE:
            if only is not None and fn is not step_first_render and not only & set(keys):
                continue
            n = 1 if (only is not None and fn is step_first_render and "first_render" not in only) else args.repeat
            if run.page is None and fn is not step_first_render:
                for k in keys:
                    steps[k] = {"skipped": "no page (the first render failed)"}
                continue
            t_step = time.time()
            err = None
            try:
                fn(run, n)
            except Skip as e:
                err = str(e)
            except Exception as e:  # noqa: BLE001 (a step's failure is recorded; the run goes on)
                err = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            if err is not None and run.page is not None:
                recover(run)
            for k in keys:
                if run.out[k]:
                    steps[k] = summary(run.out[k])
                    if err is not None:
                        steps[k]["error"] = err
                else:
                    steps[k] = {"skipped": err or "not performed"}
                print(f"[{condition}] {k}: " + (f"skipped ({steps[k]['skipped']})" if "skipped" in steps[k] else
                      f"median {steps[k]['median_s']:.2f} s, max {steps[k]['max_s']:.2f} s, samples "
                      f"{[m['seconds'] for m in steps[k]['samples']]}" + (f" (then: {err})" if err else "")),
                      file=sys.stderr, flush=True)
            if run.page is not None:
                exc = exceptions(run.page)
                if exc:
                    for k in keys:
                        steps[k]["exceptions_on_page"] = exc
                screenshot(run.page, args.screenshots, f"{condition}_{keys[0]}")
            steps[keys[0]]["step_wall_s"] = round(time.time() - t_step, 1)
            if fn is step_first_render and condition == "busy-later":
                res["load_avg_at_busy_start"] = round(os.getloadavg()[0], 2)
                busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
                time.sleep(5.0)
        if run.page is not None:
            res["exceptions_on_page"] = exceptions(run.page)
            res["alerts_on_page"] = alerts(run.page)
    finally:
        browser.close()
        if run.proc is not None:
            stop_server(run.proc)
        if busy is not None:
            busy.kill()
            busy.wait(timeout=15)
    res["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    res["steps"] = steps
    return res


def cell(step: dict) -> str:
    if "skipped" in step:
        return "not run" if step["skipped"] == "not run" else "skipped"
    return f"{step['median_s']:.2f} s (max {step['max_s']:.2f})"


def table(res: dict) -> list[list[str]]:
    """Rows of the results table: interaction, one column per condition, and busy/quiet when both ran."""
    conds = list(res["conditions"])
    ratio = "quiet" in conds and "busy" in conds
    head = ["interaction"] + [f"{c}: median (max)" for c in conds] + (["busy / quiet"] if ratio else [])
    rows = [head]
    for key, label in STEPS:
        if all(res["conditions"][c]["steps"].get(key, {"skipped": "not run"}).get("skipped") == "not run"
               for c in conds):
            continue  # left out with --only
        r = [label] + [cell(res["conditions"][c]["steps"].get(key, {"skipped": "not run"})) for c in conds]
        if ratio:
            q, b = (res["conditions"][c]["steps"].get(key, {}) for c in ("quiet", "busy"))
            r.append(f"{b['median_s'] / q['median_s']:.2f}×" if "median_s" in q and "median_s" in b
                     and q["median_s"] > 0 else "—")
        rows.append(r)
    return rows


def markdown(res: dict) -> str:
    rows = table(res)
    m = res["machine"]
    n = res["repeat"]
    lines = [f"Dashboard interaction times (`{res['command']}`; {n} repeat{'s' if n > 1 else ''} each, median and max; "
             f"from the action to the page's last DOM change, headless Chromium).", "",
             "| " + " | ".join(rows[0]) + " |", "|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    lines += ["", f"{m['cpus']} CPUs; streamlit {m.get('streamlit')}, torch {m.get('torch')}, "
                  f"Python {m['python']}. Load average (1 min) at the start of each condition: "
              + ", ".join(f"{c} {v['load_avg_at_start'][0]}" for c, v in res["conditions"].items()) + "."]
    opened = [f"{LABELS[k]} ({c}) {s['open_list_median_s']:.2f} s" for c, v in res["conditions"].items()
              for k, s in v["steps"].items() if "open_list_median_s" in s]
    if opened:
        lines += ["", "A selectbox's pick is timed from the option's click; its list opened before that, untimed in the "
                      "table (median, Playwright's own round trips included): " + "; ".join(opened) + "."]
    skipped = [(c, LABELS[k], s["skipped"]) for c, v in res["conditions"].items() for k, s in v["steps"].items()
               if "skipped" in s]
    if skipped:
        lines += ["", "Skipped: " + "; ".join(f"{label} ({c}): {why}" for c, label, why in skipped) + "."]
    lines += ["", "<details><summary>Every sample (s)</summary>", "",
              "| interaction | " + " | ".join(res["conditions"]) + " |",
              "|---|" + "---|" * len(res["conditions"])]
    for key, label in STEPS:
        if not any(v["steps"].get(key, {}).get("samples") for v in res["conditions"].values()):
            continue
        cells = []
        for c, v in res["conditions"].items():
            s = v["steps"].get(key, {})
            cells.append(", ".join(f"{m['seconds']:.2f}" for m in s.get("samples", [])) or "—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, help="write the results here as JSON")
    ap.add_argument("--markdown", type=Path, help="write the results table here as Markdown")
    ap.add_argument("--repeat", type=int, default=5, help="repeats of each interaction (default 5)")
    ap.add_argument("--busy", action="store_true", help="keep one core busy (one `while True: pass` process)")
    ap.add_argument("--conditions", help="comma-separated conditions to run in turn on fresh servers: quiet, busy, "
                                         "busy-later (default: busy with --busy, else quiet)")
    ap.add_argument("--port", type=int, default=0, help="port for the servers (default: a free one each time)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one interaction (default 120)")
    ap.add_argument("--screenshots", type=Path, help="save a full-page screenshot after each step here")
    ap.add_argument("--bars", type=int, default=300, help="length of the long piece in bars (default 300 = 10 min)")
    ap.add_argument("--only", help="comma-separated step keys to run (for checking a step; first render runs once)")
    ap.add_argument("--checkout", type=Path, help="serve another checkout of the project (e.g. a worktree of an "
                                                    "older commit, for a before/after comparison)")
    args = ap.parse_args()
    if args.checkout:
        args.checkout = args.checkout.resolve()
        browser_util.ROOT = args.checkout  # the server runs that checkout's app/main.py and imports its midi_rae
    conditions = [c.strip() for c in (args.conditions or ("busy" if args.busy else "quiet")).split(",") if c.strip()]
    bad = [c for c in conditions if c not in ("quiet", "busy", "busy-later")]
    if bad or args.repeat < 1:
        ap.error(f"conditions are quiet, busy and busy-later (got {bad})" if bad else "--repeat must be at least 1")
    if args.busy and args.conditions and conditions != ["busy"]:
        ap.error("--busy and --conditions together: name busy in --conditions instead")
    if not chromium_available():
        print("no Chromium at /usr/bin/chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    log_dir = Path(tempfile.mkdtemp(prefix="bench_app_"))
    res: dict = {"command": "python " + " ".join(shlex.quote(a) for a in ["scripts/bench_app.py"] + sys.argv[1:]),
                 "repeat": args.repeat,
                 "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                             "platform": platform.platform()},
                 "server_logs": str(log_dir), "conditions": {}}
    try:
        import streamlit
        import torch
        res["machine"].update(streamlit=streamlit.__version__, torch=torch.__version__)
    except ImportError:
        pass

    with sync_playwright() as pw:
        for c in conditions:
            print(f"[{c}] load average {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
            res["conditions"][c] = run_condition(pw, args, c, log_dir)

    rows = table(res)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))
    for c, v in res["conditions"].items():
        print(f"{c}: load average {v['load_avg_at_start'][0]} at start, {v['load_avg_at_end'][0]} at end")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))
        print(f"wrote {args.json}")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(markdown(res))
        print(f"wrote {args.markdown}")
    exc = {c: v.get("exceptions_on_page") for c, v in res["conditions"].items() if v.get("exceptions_on_page")}
    if exc:
        print("exceptions on the page:", exc, file=sys.stderr)
    skipped = any("skipped" in s for v in res["conditions"].values() for s in v["steps"].values())
    return 1 if exc or skipped else 0


if __name__ == "__main__":
    sys.exit(main())

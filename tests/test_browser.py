"""The dashboard in a real browser: headless Chromium against `streamlit run app/main.py`.

Skipped when /usr/bin/chromium is missing, unless MIDI_RAE_REQUIRE_BROWSER=1 (then that is a failure).
Screenshots of every step go to MIDI_RAE_SCREENSHOTS (default: the test's tmp_path).
Run with: pytest -m browser tests/test_browser.py
"""
from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

import browser_util
from browser_util import (MIN_CHARTS, alerts, button, caption_with, chart_count, chart_points, chromium_available,
                          click_chart_point, click_radio, click_roll_at, drop_file, exceptions, free_port, has_button,
                          header_caption, hidden_caption, isolated_point, launch_browser, move_slider, new_page,
                          roll, running, screenshot, select_option, selectbox_label, selectbox_options,
                          selectbox_value, slider_value, start_server,
                          stop_server, tab, wait_ready, OVERVIEW, WINDOW)
from conftest import FIXTURES, make_song, to_bytes
from midi_rae.checkpoint import DEFAULT_CHECKPOINT

STEP_TIMEOUT = 120.0  # seconds per step: the machine may be busy

pytestmark = [pytest.mark.browser]


def _require_browser() -> None:
    """Skip (or, with MIDI_RAE_REQUIRE_BROWSER=1, fail) when the browser or Playwright is missing."""
    required = os.environ.get("MIDI_RAE_REQUIRE_BROWSER") == "1"
    problem = None
    if not chromium_available():
        problem = f"no Chromium at {browser_util.CHROMIUM}"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright Python package is not installed"
    if problem is None and not DEFAULT_CHECKPOINT.is_file():
        problem = f"no shipped checkpoint at {DEFAULT_CHECKPOINT}"
    if problem:
        if required:
            pytest.fail(f"browser test required (MIDI_RAE_REQUIRE_BROWSER=1) but {problem}")
        pytest.skip(f"browser test skipped: {problem} (set MIDI_RAE_REQUIRE_BROWSER=1 to make this a failure)")


# A stranger's corpus: a collection folder and file names that hold HTML (the Corpus page's "Server folder")
HOSTILE_COLLECTION = '<img src=x onerror="window.__pwned=1">'
HOSTILE_NAMES = ["<i onmouseover=window.__pwned=1>one", "two <b>bold"]  # no "/": that would make a folder


def _hostile_indexes(home: Path) -> Path:
    """A folder holding one index of two generated pieces with hostile names."""
    from test_index import _notes, _write, quiet_build

    for i, name in enumerate(HOSTILE_NAMES):
        _write(home / "src" / HOSTILE_COLLECTION / f"{name}.mid", [(_notes(10, seed=i, low=50 + 3 * i), 0, 0)])
    quiet_build([home / "src"], home / "indexes" / "stranger")
    return home / "indexes"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One Streamlit server for the module, on a free port, with a server folder of indexes; its log is kept for
    failure reports."""
    _require_browser()
    port = free_port()
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    indexes = _hostile_indexes(tmp_path_factory.mktemp("stranger"))
    proc = start_server(port, log=log, timeout=STEP_TIMEOUT, env={"MIDI_RAE_INDEXES": str(indexes)})
    yield f"http://localhost:{port}", log
    stop_server(proc)


@pytest.fixture(scope="module")
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_browser(pw)
        pg = new_page(browser)
        pg.set_default_timeout(STEP_TIMEOUT * 1000)
        try:
            yield pg
        finally:
            browser.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("MIDI_RAE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _step(page, shots: Path, log: Path, name: str, what: str, ready) -> None:
    """Wait until `ready()` holds on a quiet page and take a screenshot; on a timeout, screenshot and fail."""
    try:
        wait_ready(page, STEP_TIMEOUT, extra=ready)
    except TimeoutError as e:
        screenshot(page, shots, f"{name}_timeout")
        pytest.fail(f"{what}: {e}; {_state(page, log)}")
    screenshot(page, shots, name)


def _state(page, log: Path) -> str:
    """What the page shows, for assertion messages."""
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    return (f"charts={chart_count(page)} running={running(page)} exceptions={exceptions(page)} "
            f"alerts={alerts(page)} header={header_caption(page)!r} hidden={hidden_caption(page)!r}\n"
            f"server log tail:\n{tail}")


SONG_NAME = "browser_song.mid"


def _song() -> bytes:
    """The 24-bar piece the tests after the first one read (a window per bar)."""
    return to_bytes(make_song(bars=24, seed=7, tempo=100))


def _show_song(page, url: str) -> None:
    """The page shows the 24-bar piece, whatever test ran before (so that one test can run alone)."""
    if SONG_NAME in (header_caption(page) or ""):
        return
    if not page.url.startswith(url) or header_caption(page) is None:
        page.goto(url)
        wait_ready(page, STEP_TIMEOUT, extra=lambda: header_caption(page) is not None)
    drop_file(page, SONG_NAME, _song())
    wait_ready(page, STEP_TIMEOUT, extra=lambda: SONG_NAME in (header_caption(page) or ""))


@pytest.mark.timeout(900)
def test_dashboard_in_a_real_browser(server, page, shots):
    url, log = server

    # 1. first full render of the default example
    page.goto(url)
    _step(page, shots, log, "1_first_render", "first render", lambda: header_caption(page) is not None)
    example = header_caption(page).split(" · ")[0]
    assert not exceptions(page), _state(page, log)
    assert chart_count(page) >= MIN_CHARTS, _state(page, log)
    assert hidden_caption(page), _state(page, log)

    # 2. a real drag-and-drop of a real MIDI file
    name, song = SONG_NAME, _song()
    drop_file(page, name, song)
    _step(page, shots, log, "2_dropped", f"after dropping {name}", lambda: name in (header_caption(page) or ""))
    assert not exceptions(page), _state(page, log)
    assert chart_count(page) >= MIN_CHARTS, _state(page, log)
    assert "24.0 bars" in header_caption(page), _state(page, log)
    assert not [a for a in alerts(page) if "could not be opened" in a], _state(page, log)

    # 3. the mask-ratio slider moves and the reconstruction follows
    before_value, before_caption = slider_value(page, "Mask ratio"), hidden_caption(page)
    move_slider(page, "Mask ratio", 3)
    _step(page, shots, log, "3_mask_ratio", "after moving Mask ratio",
          lambda: hidden_caption(page) not in (None, before_caption))
    after_value = slider_value(page, "Mask ratio")
    assert float(after_value) == pytest.approx(float(before_value) + 3 * 0.05), (before_value, after_value)
    assert f"hidden with probability {float(after_value):.2f} (the mask ratio)" in hidden_caption(page), \
        _state(page, log)
    assert not exceptions(page), _state(page, log)
    assert chart_count(page) >= MIN_CHARTS, _state(page, log)

    # 4. a broken file: an error, no exception, and the page keeps showing a good piece
    drop_file(page, "broken.mid", to_bytes(make_song(bars=8, seed=3))[:200])
    _step(page, shots, log, "4_broken", "after dropping broken.mid",
          lambda: any("could not be opened" in a for a in alerts(page)))
    errs = [a for a in alerts(page) if "could not be opened" in a]
    assert errs and errs[0].startswith("broken.mid could not be opened."), _state(page, log)
    assert not exceptions(page), _state(page, log)
    assert chart_count(page) >= MIN_CHARTS, _state(page, log)
    assert caption_with(page, f"Still showing {name}"), _state(page, log)  # the piece on screen, not an example
    assert name in (header_caption(page) or ""), _state(page, log)

    # 5. the example shown before the drops, picked again, is shown again and the error goes
    picker = selectbox_label(page, "pick an example")
    select_option(page, picker, example)
    _step(page, shots, log, "5_example_again", f"after picking {example} again",
          lambda: (header_caption(page) or "").startswith(example))
    assert not [a for a in alerts(page) if "could not be opened" in a], _state(page, log)
    assert not exceptions(page), _state(page, log)

    # 6. the dropped song again, which the tests after this one expect on the page
    drop_file(page, name, song)
    _step(page, shots, log, "6_dropped_again", f"after dropping {name} again",
          lambda: name in (header_caption(page) or ""))


@pytest.mark.timeout(600)
def test_the_rolls_stay_on_the_page_across_window_steps_and_a_click_on_the_overview_moves_the_window(
        server, page, shots):
    """On the 24-bar piece dropped above: a window step moves the overview's outline and swaps the window's image
    in the same DOM nodes; a click on the overview's bar 14 moves the window there."""
    _, log = server
    window = lambda: [b for b in roll(page, OVERVIEW)["boxes"] if b[0] == "window"][0]  # noqa: E731
    bar = int(slider_value(page, "Window start (bar)"))
    assert window()[1] == pytest.approx(100 * (bar - 1) / 24), _state(page, log)
    roll(page, OVERVIEW, tag="kept"), roll(page, WINDOW, tag="kept")
    move_slider(page, "Window start (bar)", 1)
    _step(page, shots, log, "ov_1_window_step", "after a window step",
          lambda: slider_value(page, "Window start (bar)") == str(bar + 1))
    assert roll(page, OVERVIEW)["tag"] == roll(page, WINDOW)["tag"] == "kept", _state(page, log)
    assert window()[1] == pytest.approx(100 * bar / 24), _state(page, log)
    assert roll(page, WINDOW)["title"].startswith(f"Window: 128 steps from bar {bar + 1}"), _state(page, log)
    click_roll_at(page, OVERVIEW, 13.5 / 24)  # the middle of bar 14
    _step(page, shots, log, "ov_2_clicked", "after a click on bar 14",
          lambda: slider_value(page, "Window start (bar)") == "14")
    assert window()[1] == pytest.approx(100 * 13 / 24), _state(page, log)
    # the window's outline spans every pitch: edged at its sides only, so it covers no note of the top or bottom row
    assert [e[1:] for e in roll(page, OVERVIEW)["edges"] if e[0] == "window"] == [[0, 2]], _state(page, log)
    assert not exceptions(page), _state(page, log)


def test_the_page_requests_nothing_from_another_host(page, server):
    """Offline machines and privacy: fonts, icons and scripts all come from the Streamlit server itself."""
    url, log = server
    other = new_page(page.context.browser)
    hosts = set()
    other.on("request", lambda r: hosts.add(urlparse(r.url).hostname) if r.url.startswith(("http", "ws")) else None)
    try:
        other.goto(url)
        wait_ready(other, STEP_TIMEOUT, extra=lambda: header_caption(other) is not None)
    finally:
        other.close()
    assert hosts == {"localhost"}, f"requests to {sorted(map(str, hosts))}"


_TAG_ELEMENTS = "() => { for (const e of document.querySelectorAll('[data-testid=stElementContainer]')) e.__kept = true; }"
_NEW_ELEMENTS = """() => [...document.querySelectorAll('[data-testid=stElementContainer]')].filter(e => !e.__kept)
                          .map(e => e.innerText.slice(0, 40))"""


def test_the_first_interaction_after_the_page_loads_keeps_every_element(page, server):
    """A new session's first run holds a warm-up chart, which the next run takes away; that run must not shift the
    elements after its slot (the browser then mounts every one of them anew: the first mask step took ~1 s
    longer)."""
    url, log = server
    other = new_page(page.context.browser)
    try:
        other.goto(url)
        wait_ready(other, STEP_TIMEOUT, extra=lambda: hidden_caption(other) is not None)
        other.evaluate(_TAG_ELEMENTS)
        before = hidden_caption(other)
        move_slider(other, "Mask ratio", 1)
        wait_ready(other, STEP_TIMEOUT, extra=lambda: hidden_caption(other) not in (None, before))
        # the one change: the warm-up chart's slot, emptied (an empty container where the chart was)
        assert other.evaluate(_NEW_ELEMENTS) in ([], [""]), f"{other.evaluate(_NEW_ELEMENTS)} " + _state(other, log)
    finally:
        other.close()


def test_a_file_over_the_uploaders_limit_gets_its_reason_in_words_beside_it(page, server, tmp_path):
    """Streamlit refuses it in the browser (the page never sees it) and keeps the reason for screen readers: the
    page's style shows that sentence under the file's name."""
    url, log = server
    big = tmp_path / "big.mid"
    big.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0" + b"\x00" * (9 * 2 ** 20))
    other = new_page(page.context.browser)
    try:
        other.goto(url)
        wait_ready(other, STEP_TIMEOUT, extra=lambda: header_caption(other) is not None)
        other.locator("[data-testid=stSidebar] input[type=file]").first.set_input_files(str(big))
        reason = other.locator("[data-testid=stFileChip][aria-invalid=true] [role=alert]")
        reason.wait_for(state="attached", timeout=30_000)
        assert reason.inner_text() == "Error: File must be 8.0MB or smaller."
        box = reason.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 8, box  # not the 1-pixel reader's text
    finally:
        other.close()


def test_clicking_a_patch_lights_it_up_and_lists_its_neighbours(page, server, shots):
    """A click on the window selects the patch under it: outlined in the window and the masks, neighbours listed
    and outlined on the overview."""
    _, log = server
    assert not roll(page, WINDOW)["boxes"], _state(page, log)
    click_roll_at(page, WINDOW, 0.40, 0.5)  # column 3 of the 8x8 grid of level 3, the default selection level
    wait_ready(page, STEP_TIMEOUT, extra=lambda: any(t.startswith("Level 3 (8×8): bar") for t in
                                                     page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()))
    screenshot(page, shots, "5_selected_patch")
    assert not exceptions(page), _state(page, log)
    # the patch and its parent, outlined in red; the patch spans the clicked column (3 of 8: 37.5 %–50 %)
    outlines = roll(page, WINDOW)["boxes"]
    assert len(outlines) >= 2 and all(cls == "highlight" for cls, _, _ in outlines), _state(page, log)
    assert any(left == 37.5 and width == 12.5 for _, left, width in outlines), outlines
    assert [cls for cls, _, _ in roll(page, OVERVIEW)["boxes"]].count("mark") == 8, _state(page, log)
    # the level masks (images) outline the family too, and their legend says so
    assert page.get_by_text("selected patch and its family").count() == 1, _state(page, log)
    assert page.get_by_text("Where else in this piece").count() == 1


_PCA = '.live-plotly'  # the 2-D PCA (midi_rae.dashboard.live_chart), the first live chart on the page
_TAG_PCA = f"() => {{ document.querySelector('{_PCA} .main-svg').__kept = true; }}"
_PCA_KEPT = f"() => !!document.querySelector('{_PCA} .main-svg').__kept"
_PCA_HOVER = f"(i) => document.querySelector('{_PCA} .js-plotly-plot').data[0].hovertext[i]"


def test_a_pca_click_selects_the_point_clicked_and_the_chart_is_updated_in_place(page, server, shots):
    """A click on a point of the 2-D PCA selects its patch and moves the window to that point's window; the chart
    is the same plotly graph afterwards (Plotly.react), not a new one mounted in its place."""
    _, log = server
    ci = browser_util.chart_index(page, after='[role="radiogroup"][aria-label="Level"]')
    points = chart_points(page, ci)
    assert points, _state(page, log)
    page.evaluate(_TAG_PCA)
    # coloured by time, the chart has one trace: the DOM's points are its points, in order; the point clicked is one
    # that no other marker overlaps, so that the click can only mean it
    p = isolated_point(page, ci, points)
    window = int(page.evaluate(_PCA_HOVER, p).split(" · ")[0].split()[1])  # "window 7 · bar 7, beats 3–4 · …"
    click_chart_point(page, ci, p)
    _step(page, shots, log, "6_pca_click", "after a click on a PCA point",
          lambda: slider_value(page, "Window start (bar)") == str(window))  # the 24-bar piece: a window per bar
    assert page.evaluate(_PCA_KEPT), "the PCA was mounted anew; " + _state(page, log)
    assert any(t.startswith("Level 3 (8×8): bar") for t in
               page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()), _state(page, log)
    # the legend names what the red ring now marks
    assert page.locator(f"{_PCA} .legendtext").filter(has_text="selected patch").count() == 1, _state(page, log)
    assert not exceptions(page), _state(page, log)


def test_a_click_on_a_neighbours_row_goes_there_and_the_table_stays_on_the_page(page, server, shots):
    """The PCA click above selected a note patch: its neighbours are listed; a click on the first row selects that
    patch (its bars in the selection's line) in the same table element, whose rows are then the new patch's."""
    _, log = server
    rows = browser_util.picker_rows(page)
    assert len(rows) == 8 and rows[0].startswith("1 · "), _state(page, log)
    bars = rows[0].split(" · ")[1]
    page.evaluate("() => { document.querySelector('.row-picker').__kept = true; }")
    browser_util.click_picker_row(page, 0)
    _step(page, shots, log, "7_neighbour_click", "after a click on a neighbour's row",
          lambda: any(t.startswith("Level 3 (8×8): " + bars) for t in
                      page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()))
    assert page.evaluate("() => !!document.querySelector('.row-picker').__kept"), _state(page, log)
    assert browser_util.picker_rows(page) != rows and not exceptions(page), _state(page, log)


def test_a_click_on_a_similarity_cell_goes_to_the_window_of_its_column(page, server, shots):
    """In the Song structure tab, a click on a cell of the self-similarity matrix moves the window to the window
    of the cell's column (the 24-bar piece has a window per bar: column i starts at bar i + 1)."""
    url, log = server
    _show_song(page, url)
    tab(page, "Song structure").click()
    _step(page, shots, log, "8_structure", "the Song structure tab",
          lambda: browser_util.chart_index(page, "Self-similarity") is not None)
    n = int(caption_with(page, "windows, one every").split()[0])
    column = 2 if slider_value(page, "Window start (bar)") != "3" else 4
    ci = browser_util.chart_index(page, "Self-similarity")
    cell_area = page.locator(browser_util.CHART).nth(ci).locator(".nsewdrag").first
    cell_area.scroll_into_view_if_needed()  # the mouse reaches only what is in the viewport
    area = cell_area.bounding_box()
    x, y = area["x"] + area["width"] * (column + 0.5) / n, area["y"] + area["height"] / 2
    page.mouse.move(x, y)  # as a person would: plotly picks the cell under a mouse that has hovered it
    page.wait_for_timeout(300)
    page.mouse.click(x, y)
    _step(page, shots, log, "9_similarity_click", "after a click on a similarity cell",
          lambda: slider_value(page, "Window start (bar)") == str(column + 1))
    assert not exceptions(page), _state(page, log)


def test_midi_downloads_are_on_the_page_and_players_come_on_request(page, server):
    url, log = server
    _show_song(page, url)
    labels = page.locator('[data-testid="stDownloadButton"]').all_inner_texts()
    assert any("Window as MIDI" in t for t in labels) and any("Reconstruction as MIDI" in t for t in labels)
    # the whole piece's MIDI is made when pressed (a deferred download), and arrives as a MIDI file
    with page.expect_download(timeout=60_000) as dl:
        page.locator('[data-testid="stDownloadButton"] button').filter(has_text="Piece as MIDI").click()
    assert dl.value.suggested_filename == "browser_song_quantised.mid"
    assert Path(dl.value.path()).read_bytes()[:4] == b"MThd", _state(page, log)
    # so is the window's while the players are off
    with page.expect_download(timeout=60_000) as dl:
        page.locator('[data-testid="stDownloadButton"] button').filter(has_text="Window as MIDI").click()
    assert dl.value.suggested_filename.endswith("_window.mid")
    assert Path(dl.value.path()).read_bytes()[:4] == b"MThd", _state(page, log)
    page.get_by_text("Play here", exact=True).click()
    page.locator("audio").nth(1).wait_for(timeout=60_000)
    assert page.locator("audio").count() == 2, _state(page, log)


@pytest.mark.timeout(600)
def test_a_visit_to_the_corpus_page_and_back_keeps_the_piece_pages_controls(page, server, shots):
    """Streamlit forgets the value of a widget that a run does not draw: going to the Corpus page and back (the
    sidebar link, then the browser's Back) reset the window, the transposition (now persist_state="session") and
    the open analysis tab (session.restore_tab),
    and showed the example instead of the dropped file (the uploader is emptied; the page keeps the file). Nor
    does leaving the page raise errors in the browser."""
    url, log = server
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    wait_ready(page, STEP_TIMEOUT, extra=lambda: hidden_caption(page) is not None)
    drop_file(page, "kept.mid", to_bytes(make_song(bars=16, seed=21)))
    wait_ready(page, STEP_TIMEOUT, extra=lambda: (header_caption(page) or "").startswith("kept.mid"))
    move_slider(page, "Window start (bar)", 2)
    wait_ready(page, STEP_TIMEOUT, extra=lambda: slider_value(page, "Window start (bar)") == "3")
    move_slider(page, "Transpose (semitones)", 2)
    wait_ready(page, STEP_TIMEOUT, extra=lambda: slider_value(page, "Transpose (semitones)") == "2")
    tab(page, "Song structure").click()
    wait_ready(page, STEP_TIMEOUT, extra=lambda: browser_util.selected_tab(page) == "Song structure")
    page.locator('[data-testid="stSidebarNav"] a').filter(has_text="Corpus").click()
    wait_ready(page, STEP_TIMEOUT, min_charts=1, extra=lambda: caption_with(page, "windows · model") is not None)
    page.go_back()
    _step(page, shots, log, "5b_back_from_corpus", "after going back from the Corpus page",
          lambda: slider_value(page, "Window start (bar)") is not None)
    assert (header_caption(page) or "").startswith("kept.mid"), _state(page, log)  # the uploader itself is empty
    assert caption_with(page, "dropped earlier"), _state(page, log)
    assert slider_value(page, "Window start (bar)") == "3", _state(page, log)
    assert slider_value(page, "Transpose (semitones)") == "2", _state(page, log)
    assert browser_util.selected_tab(page) == "Song structure", _state(page, log)
    assert not exceptions(page), _state(page, log)
    # the live charts' resize on leaving the page: "Resize must be passed a displayed plot div element."
    assert errors == []


@pytest.mark.timeout(600)
def test_the_browsers_back_and_forward_buttons_go_through_the_windows_and_pieces_shown(page, server, shots):
    """Each window step and pick adds a history entry; Back returned to none of them (the page put the bar it
    showed back into the address), and Forward goes the other way."""
    url, log = server
    page.goto(url)
    wait_ready(page, STEP_TIMEOUT, extra=lambda: hidden_caption(page) is not None)
    example = selectbox_value(page, "…or pick an example")
    for bar in ("2", "3"):
        move_slider(page, "Window start (bar)", 1)
        wait_ready(page, STEP_TIMEOUT, extra=lambda: slider_value(page, "Window start (bar)") == bar)
    page.go_back()
    _step(page, shots, log, "6a_back_one_bar", "after Back from bar 3",
          lambda: slider_value(page, "Window start (bar)") == "2" and "bar=2" in page.url)
    page.go_forward()
    _step(page, shots, log, "6b_forward_one_bar", "after Forward to bar 3",
          lambda: slider_value(page, "Window start (bar)") == "3" and "bar=3" in page.url)
    other = next(o for o in selectbox_options(page, "…or pick an example") if o != example)
    select_option(page, "…or pick an example", other)
    wait_ready(page, STEP_TIMEOUT, extra=lambda: (header_caption(page) or "").startswith(other))
    page.go_back()
    _step(page, shots, log, "6c_back_to_the_example", "after Back from the other example",
          lambda: (header_caption(page) or "").startswith(example)
          and slider_value(page, "Window start (bar)") == "3")
    assert selectbox_value(page, "…or pick an example") == example, _state(page, log)
    assert not exceptions(page), _state(page, log)


@pytest.mark.timeout(600)
def test_a_checkpoint_that_fails_to_load_leaves_the_time_resolution_the_page_is_drawn_at(page, server, shots):
    """A seven-level encoder dropped over a six-level one beside its decoder cannot load; the run that found it
    stopped before the slider was drawn, and the slider came back at 1 step per beat, which the next action sent."""
    url, log = server
    page.goto(url)
    wait_ready(page, STEP_TIMEOUT, extra=lambda: header_caption(page) is not None)
    click_radio(page, "Checkpoint source", "Upload")

    def drop(level: str, name: str, uploader: int) -> None:  # the encoder's uploader, then the decoder's
        drop_file(page, name, (FIXTURES / level / name).read_bytes(), "application/octet-stream", index=uploader)

    drop("six-level", "SwinEncoder__best.pt", 0)
    wait_ready(page, STEP_TIMEOUT, extra=lambda: "SwinEncoder__best.pt" in (header_caption(page) or ""))
    drop("six-level", "SwinDecoder__best.pt", 1)
    wait_ready(page, STEP_TIMEOUT, extra=lambda: "+ SwinDecoder__best.pt" in (header_caption(page) or ""))
    drawn_at = slider_value(page, "Time resolution (steps per beat)")  # 4 steps per beat (its place on the slider)
    drop("seven-level", "SwinEncoder__best.pt", 0)
    _step(page, shots, log, "7a_failed_checkpoint", "after the seven-level encoder",
          lambda: caption_with(page, "Still using SwinEncoder__best.pt + SwinDecoder__best.pt") is not None)
    assert slider_value(page, "Time resolution (steps per beat)") == drawn_at, _state(page, log)
    move_slider(page, "Window start (bar)", 1)
    _step(page, shots, log, "7b_window_step", "after a window step",
          lambda: slider_value(page, "Window start (bar)") == "2")
    assert "4 steps per beat" in (header_caption(page) or ""), _state(page, log)
    assert slider_value(page, "Time resolution (steps per beat)") == drawn_at, _state(page, log)


@pytest.mark.timeout(600)
def test_removing_a_file_puts_the_piece_shown_in_the_address_and_removing_a_bad_one_keeps_the_good_one(
        page, server, shots):
    """× of a dropped file: the address names the example shown again without another action (a reload opened the
    removed file's note). × of a bad file dropped over a good one: the good one stays, as its note promised."""
    url, log = server
    other = "monteverdi_madrigal_3_1.mid"  # not the first example, which an address need not name
    page.goto(f"{url}?example={other}")
    wait_ready(page, STEP_TIMEOUT, extra=lambda: (header_caption(page) or "").startswith(other))
    drop_file(page, SONG_NAME, _song())
    wait_ready(page, STEP_TIMEOUT, extra=lambda: "dropped=" in page.url)
    browser_util.remove_dropped_file(page)
    _step(page, shots, log, "9a_removed", "after removing the dropped file",
          lambda: (header_caption(page) or "").startswith(other) and f"example={other}" in page.url)
    drop_file(page, SONG_NAME, _song())
    wait_ready(page, STEP_TIMEOUT, extra=lambda: SONG_NAME in (header_caption(page) or ""))
    drop_file(page, "broken.mid", b"not a midi file")
    _step(page, shots, log, "9b_broken_over_dropped", "after dropping broken.mid over the song",
          lambda: caption_with(page, f"Still showing {SONG_NAME}") is not None)
    browser_util.remove_dropped_file(page)
    _step(page, shots, log, "9c_broken_removed", "after removing broken.mid",
          lambda: caption_with(page, "dropped before the file you removed") is not None)
    assert SONG_NAME in (header_caption(page) or ""), _state(page, log)
    assert f"dropped={SONG_NAME}" in page.url, _state(page, log)
    assert not exceptions(page), _state(page, log)


@pytest.mark.timeout(600)
def test_a_similar_passage_opened_is_one_step_of_history_and_back_returns_with_the_results_listed(
        page, server, shots):
    """Opening a Find similar card added two identical history entries (a switch to the page shown), so the first
    Back did nothing; a typed address was rewritten into a second entry too."""
    url, log = server
    page.goto(f"{url}/?example=bach_chorale_bwv253.mid")
    wait_ready(page, STEP_TIMEOUT, extra=lambda: hidden_caption(page) is not None)
    assert urlparse(page.url).query == "example=bach_chorale_bwv253.mid"  # the place it names, left as typed
    tab(page, "Find similar in the corpus").click()
    wait_ready(page, STEP_TIMEOUT, extra=lambda: has_button(page, "Find similar"))
    button(page, "Find similar").click()
    wait_ready(page, STEP_TIMEOUT, extra=lambda: _corpus_open_buttons(page).count() > 0)
    entries = page.evaluate("history.length")
    _corpus_open_buttons(page).first.click()
    wait_ready(page, STEP_TIMEOUT, extra=lambda: caption_with(page, "opened from the corpus") is not None)
    assert page.evaluate("history.length") == entries + 1, _state(page, log)
    page.go_back()
    _step(page, shots, log, "8_back_from_a_similar_passage", "after Back from a passage opened from Find similar",
          lambda: (header_caption(page) or "").startswith("bach_chorale_bwv253.mid")
          and caption_with(page, "Nearest to the window bars 1–8 of bach_chorale_bwv253.mid") is not None)
    assert not exceptions(page), _state(page, log)


CUT_LABELS = """() => [...document.querySelectorAll('[data-testid^="stBaseButton"], [data-testid="stPopoverButton"], '
    + '[data-testid="stMetricLabel"] .stMarkdownEllipsis, [data-testid="stWidgetLabel"] .stMarkdownEllipsis, figcaption')]
  .filter(e => e.offsetParent !== null && e.innerText.trim() && e.scrollWidth > e.clientWidth + 1)
  .map(e => e.innerText.trim())"""  # what overflows its box: cut off, or cut to "…"


def test_in_a_narrow_window_no_button_metric_or_label_is_cut_short(page, server, shots):
    """At 900 px with the sidebar open, labels were cut to "Render the whol…", "F1, masked pa…" or to nothing."""
    url, log = server
    page.set_viewport_size({"width": 900, "height": 1600})
    try:
        page.goto(url)
        wait_ready(page, STEP_TIMEOUT, extra=lambda: hidden_caption(page) is not None)
        screenshot(page, shots, "7_narrow")
        assert page.evaluate(CUT_LABELS) == [], (page.evaluate(CUT_LABELS), _state(page, log))
    finally:
        page.set_viewport_size(browser_util.VIEWPORT)


def test_names_in_a_strangers_corpus_are_shown_as_text_on_the_map(page, server, shots):
    """A collection folder and files named with HTML appear in the map's tooltips exactly as named, and none of
    the HTML in them runs."""
    url, log = server
    page.goto(f"{url}/corpus")
    wait_ready(page, STEP_TIMEOUT, min_charts=1, extra=lambda: caption_with(page, "windows · model") is not None)
    browser_util.click_radio(page, "Index source", "Server folder")
    wait_ready(page, STEP_TIMEOUT, min_charts=1, extra=lambda: caption_with(page, "2 pieces in 1 collection") is not None)
    points = browser_util.map_points(page)
    passages = [browser_util.map_hover(page, i) for i in range(points.count())]
    screenshot(page, shots, "6_corpus_hostile_names")
    assert points.count() == 6, _state(page, log)  # two 10-bar pieces, three windows each
    assert sorted({p.split(" · ")[0] for p in passages}) == sorted(f"{HOSTILE_COLLECTION}/{n}" for n in HOSTILE_NAMES)
    assert page.evaluate("() => window.__pwned === undefined") and not exceptions(page), _state(page, log)


def _corpus_open_buttons(page):
    """The cards' Open buttons (a selectbox's toggle is also a button named "Open")."""
    import re

    return page.locator('[data-testid="stButton"] button:visible').filter(has_text=re.compile("^Open$"))


@pytest.mark.timeout(900)
def test_corpus_map_click_opens_the_passage_and_searches_list_thumbnails(page, server, shots):
    """The Corpus page: its map is drawn, a click on a point opens that passage in the piece view, "Find similar"
    there lists the corpus's nearest passages as thumbnail cards (not the passage itself), and so does the
    Corpus page's own search."""
    url, log = server
    page.goto(f"{url}/corpus")
    wait_ready(page, STEP_TIMEOUT, min_charts=1, extra=lambda: caption_with(page, "windows · model") is not None)
    screenshot(page, shots, "6_corpus_map")
    assert not exceptions(page), _state(page, log)
    points = browser_util.map_points(page)
    assert points.count() >= 100, _state(page, log)
    point = points.count() // 2
    passage = browser_util.map_hover(page, point)  # Vega's tooltip for the point under the mouse
    assert passage, _state(page, log)
    collection_name, bars = passage.split(" · ")[:2]
    # "bars 3–10", or "bar 3 beat 1 – bar 13 beat 2" where the window ends within a bar (pianoroll.bar_span)
    name, first_bar = collection_name.split("/", 1)[1], int(re.match(r"(?:bars? )?(\d+)", bars).group(1))
    # a drag that starts on the point and ends on it is no click: it neither pans (that takes shift) nor opens it
    box = points.nth(point).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    browser_util.drag(page, x, y, x + 80, y + 40)
    wait_ready(page, STEP_TIMEOUT, min_charts=1)
    assert urlparse(page.url).path.endswith("/corpus") and points.nth(point).bounding_box() == box, page.url
    points.nth(point).click(force=True)
    _step(page, shots, log, "7_opened_from_map", "after a click on the corpus map",
          lambda: (header_caption(page) or "").startswith(name))
    assert not exceptions(page), _state(page, log)
    assert caption_with(page, "opened from the corpus"), _state(page, log)
    assert int(slider_value(page, "Window start (bar)")) == first_bar, _state(page, log)

    tab(page, "Find similar in the corpus").click()
    wait_ready(page, STEP_TIMEOUT, extra=lambda: has_button(page, "Find similar"))
    button(page, "Find similar").click()
    _step(page, shots, log, "8_find_similar", "after Find similar",
          lambda: caption_with(page, "Nearest to") is not None)
    assert not exceptions(page), _state(page, log)
    cards = _corpus_open_buttons(page).count()
    thumbnails = page.locator('[data-testid="stImage"]').count()
    assert cards >= 4 and thumbnails >= cards, (cards, thumbnails, _state(page, log))
    # the shown window itself is left out (a literal repeat elsewhere in the piece may still score 1.000)
    cards_text = [t for t in page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts() if name in t]
    # a card's name breaks at <wbr>s: drawn as break points, and copied as the name alone
    assert cards_text and not [t for t in cards_text if "\u200b" in t or "<wbr>" in t], cards_text
    assert not [t for t in cards_text if f"bars {first_bar}–" in t or f"{first_bar}:1–" in t], cards_text

    page.goto(f"{url}/corpus")
    wait_ready(page, STEP_TIMEOUT, min_charts=1, extra=lambda: caption_with(page, "windows · model") is not None)
    tab(page, "Search the corpus").click()
    wait_ready(page, STEP_TIMEOUT, min_charts=0, extra=lambda: has_button(page, "Find similar passages"))
    button(page, "Find similar passages").click()
    wait_ready(page, STEP_TIMEOUT, min_charts=0, extra=lambda: _corpus_open_buttons(page).count() >= 4)
    screenshot(page, shots, "9_corpus_search")
    assert not exceptions(page), _state(page, log)
    assert page.locator('[data-testid="stImage"]').count() >= _corpus_open_buttons(page).count()
    assert not page.get_by_text("1.000 ·").count(), "the query passage found itself"


@pytest.mark.timeout(600)
def test_a_region_drawn_on_the_corpus_map_lists_what_it_holds_and_its_points_stay_clickable(page, server, shots):
    """A plain drag over the map keeps a region: the windows inside it are counted and their passages shown, the
    points outside are faded, and a point inside it still opens its passage when clicked."""
    url, log = server
    page.goto(f"{url}/corpus")
    wait_ready(page, STEP_TIMEOUT, min_charts=1, extra=lambda: caption_with(page, "windows · model") is not None)
    points = browser_util.map_points(page)
    boxes = [points.nth(i).bounding_box() for i in range(points.count())]
    xs, ys = sorted(b["x"] for b in boxes), sorted(b["y"] for b in boxes)
    # a rectangle over the middle of the points: from the 25th to the 75th percentile of each axis
    x0, x1 = xs[len(xs) // 4], xs[3 * len(xs) // 4]
    y0, y1 = ys[len(ys) // 4], ys[3 * len(ys) // 4]
    browser_util.drag(page, x0, y0, x1, y1)
    wait_ready(page, STEP_TIMEOUT, min_charts=1,
               extra=lambda: page.get_by_text(re.compile(r"^The region: \d+ of the \d+ windows")).count() > 0)
    screenshot(page, shots, "10_corpus_region")
    assert not exceptions(page), _state(page, log)
    heading = page.get_by_text(re.compile(r"^The region: \d+ of the \d+ windows")).first.inner_text()
    centres = [(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2) for b in boxes]
    inside = sum(x0 <= x <= x1 and y0 <= y <= y1 for x, y in centres)
    counted_here = int(re.search(r"region: (\d+)", heading).group(1))  # every window is drawn in this index
    assert inside > 0 and abs(counted_here - inside) <= 2, (heading, inside)  # a mouse pixel at the edges
    assert _corpus_open_buttons(page).count() >= 2, _state(page, log)
    faded = points.evaluate_all("ps => ps.filter(p => Number(p.getAttribute('opacity')) < 0.5).length")
    assert 0 < faded < points.count(), faded
    middle = min(range(len(boxes)),
                 key=lambda i: abs(boxes[i]["x"] - (x0 + x1) / 2) + abs(boxes[i]["y"] - (y0 + y1) / 2))
    passage = browser_util.map_hover(page, middle)
    points.nth(middle).click(force=True)
    name = passage.split(" · ")[0].split("/", 1)[1]
    _step(page, shots, log, "11_opened_from_region", "after a click on a point inside the region",
          lambda: (header_caption(page) or "").startswith(name))


@pytest.mark.timeout(600)
def test_the_piece_views_piece_is_shown_on_the_corpus_map(page, server, shots):
    """"Show this piece on the corpus map" in the piece view's Find similar tab opens the Corpus page with that
    piece traced over the map."""
    url, log = server
    page.goto(url)
    wait_ready(page, STEP_TIMEOUT, extra=lambda: header_caption(page) is not None)
    name = header_caption(page).split(" · ")[0]
    tab(page, "Find similar in the corpus").click()
    wait_ready(page, STEP_TIMEOUT, extra=lambda: has_button(page, "Show this piece on the corpus map"))
    button(page, "Show this piece on the corpus map").click()
    wait_ready(page, STEP_TIMEOUT, min_charts=1, extra=lambda: caption_with(page, "Traced:") is not None)
    screenshot(page, shots, "12_piece_on_the_corpus_map")
    assert urlparse(page.url).path.endswith("/corpus") and not exceptions(page), _state(page, log)
    assert caption_with(page, "Traced:").startswith(f"Traced: {name}, 4 steps per beat (placed from the piece "
                                                    "view), its "), caption_with(page, "Traced:")
    assert page.locator(f"{browser_util.VEGA} svg .mark-line path").count() == 1


_THEME_COLOURS = """() => {
  const lum = (c) => {
    const h = /^#([0-9a-f]{6})$/i.exec(c);
    const m = h ? [0, 2, 4].map((i) => parseInt(h[1].slice(i, i + 2), 16)) : c.match(/[0-9.]+/g).map(Number);
    return (0.299 * m[0] + 0.587 * m[1] + 0.114 * m[2]) / 255;
  };
  const strip = [...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')]
      .map((h) => h.shadowRoot && h.shadowRoot.querySelector('.strip')).find(Boolean);
  const chart = [...document.querySelectorAll('.live-plotly .gd')].find((g) => g._fullLayout);
  return { title: lum(getComputedStyle(strip.querySelector('.title')).color),
           ticks: lum(getComputedStyle(strip.querySelector('.pitches span')).color),
           paper: chart ? chart._fullLayout.paper_bgcolor : null,
           font: chart ? lum(chart._fullLayout.font.color) : null };
}"""


@contextlib.contextmanager
def _own_page(page, server, shots: Path, name: str, what: str, **kwargs):
    """A browser page of its own (the shared one keeps its place) at the URL's first view (`kwargs`: new_page's)."""
    url, log = server
    own = new_page(page.context.browser, **kwargs)
    own.set_default_timeout(STEP_TIMEOUT * 1000)
    try:
        own.goto(url)
        _step(own, shots, log, name, what, lambda: True)
        yield own
    finally:
        own.close()


def test_under_a_dark_theme_the_rolls_text_and_the_charts_take_the_pages_light_text_and_dark_ground(server, page,
                                                                                                     shots):
    # Streamlit's theme follows the reader's system
    with _own_page(page, server, shots, "dark_theme", "the page under a dark theme", color_scheme="dark") as dark:
        colours = dark.evaluate(_THEME_COLOURS)
    assert colours["title"] > 0.6 and colours["ticks"] > 0.6  # light text: dark grey before, on the dark page
    assert colours["paper"] == "rgba(0, 0, 0, 0)" and colours["font"] > 0.6  # no white box of grey text


def test_every_live_chart_is_a_figure_named_by_its_title(server, page, shots):
    with _own_page(page, server, shots, "chart_names", "the page") as own:
        labels = own.evaluate("""() => [...document.querySelectorAll('.live-plotly')].map(
            (e) => [e.getAttribute('role'), e.getAttribute('aria-label')])""")
    assert labels and all(role == "figure" for role, _ in labels), labels
    assert any(label.startswith("Level ") and "<" not in label for _, label in labels), labels


_FOCUS_WINDOW_ROLL = """() => {
  const hosts = [...document.querySelectorAll('[data-testid="stBidiComponentIsolated"]')]
      .filter((h) => h.shadowRoot && h.shadowRoot.querySelector('.strip'));
  const plot = hosts[1].shadowRoot.querySelector('.plot');
  plot.focus();
  return plot.getAttribute('aria-label');
}"""


def test_a_patch_is_selected_with_the_keyboard_alone(server, page, shots):
    _, log = server
    with _own_page(page, server, shots, "keyboard_ready", "the page") as kb:
        label = kb.evaluate(_FOCUS_WINDOW_ROLL)  # as Tab reaches it: the roll's plot takes the focus
        for key in ("ArrowRight", "ArrowRight", "ArrowRight", "Enter"):  # the first shows the cursor at column 0
            kb.keyboard.press(key)
        _step(kb, shots, log, "keyboard_selected", "a patch selected by Enter", lambda: any(
            t.startswith("Level 3 (8×8): bar") for t in
            kb.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()))
        outlines = roll(kb, WINDOW)["boxes"]
    assert label.endswith("Arrow keys move a cursor over the patches; Enter selects the patch under it.")
    assert any(cls == "highlight" and left == 25.0 and width == 12.5 for cls, left, width in outlines), outlines

"""Clicks in charts, acted on before the widgets are drawn (no torch needed here).

Each clickable chart carries what a click means in the points themselves (customdata or axis values), so a
click is read from what the chart reports (Streamlit's selection result, or a component's trigger value) and
needs nothing from the run that drew the chart:
the window's patch dots carry their patch index, PCA points (window, patch, level), the overview's bars
their bar, and the similarity matrix's columns the windows' start bars.

The PCA and the similarity matrix live in fragments: a click reruns its fragment alone, which holds the click
and reruns the whole page (`hold_song_clicks`), whose first act is `apply_song_clicks`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import streamlit as st

from midi_rae.pianoroll import time_positions

from . import live_chart, roll_strip, session
from .session import K


@dataclass(frozen=True)
class Selected:
    """A patch: its level, the start step of its window, and its index in that level's row-major grid."""

    level: int
    start: int
    patch: int


def current() -> Optional[Selected]:
    """The selection, if any."""
    return session.selected()


def default_select_level(n_levels: int) -> int:
    """The level clicks select at until the person picks one: 8×8 (level 3), or the finest of fewer."""
    return min(3, n_levels - 1)


def select_level(n_levels: int) -> int:
    """The level a click on the window's patch dots selects at."""
    return min(session.selection_level(default_select_level(n_levels)), n_levels - 1)


def apply_window_click(start: int, n_levels: int) -> None:
    """A click on the window selects the patch under it at the chosen level."""
    click = roll_strip.clicked(roll_strip.WINDOW)
    if click and click.get("patch") is not None:
        session.select(Selected(select_level(n_levels), start, int(click["patch"])))


def drop_unfit(cfg, steps_per_beat: int = 0) -> None:
    """Forget a selection that this model's grids do not have (made under a model of more levels or finer grids: a
    level-6 patch of a seven-level model, once a six-level one is picked), or that was made at another time
    resolution (it names its window by a start step, which at another resolution is other music: bar 7 instead
    of bar 13)."""
    sel = current()
    made_at = st.session_state.get(_SELECTION_SPB)
    st.session_state[_SELECTION_SPB] = steps_per_beat
    if sel is not None and (not (0 <= sel.level < cfg.num_levels and
                                 0 <= sel.patch < cfg.level_grids[sel.level][0] * cfg.level_grids[sel.level][1])
                            or (made_at and steps_per_beat and made_at != steps_per_beat)):
        session.clear_selection()


_SELECTION_SPB = "_selection_spb"  # session state: the time resolution the last run drew (and a selection was made at)


def follow_window(start: int, cfg) -> None:
    """A selected patch that lies on the shown window's patch grid (the window moved by whole patches, and the
    patch is still inside it) is selected there: outlined, and its neighbours found, in the window on screen. Any
    other stays selected in its own window."""
    sel = current()
    if sel is None or sel.start == start:
        return
    _, cols = cfg.level_grids[sel.level]
    steps, _ = cfg.patch_extent(sel.level)
    r, c = divmod(sel.patch, cols)
    shift, rest = divmod(sel.start - start, steps)
    if rest == 0 and 0 <= c + shift < cols:
        session.select(Selected(sel.level, start, r * cols + c + shift))


def apply_overview_click(max_bar: int) -> None:
    """Move the window to a bar clicked (or dragged from) in the overview."""
    click = roll_strip.clicked(roll_strip.OVERVIEW)
    if click and click.get("bar") is not None:
        session.move_window(int(click["bar"]), max_bar)


# the song's clickable charts and how each reads a click: a PCA point's customdata, a similarity cell's column
_SONG_CLICKS = {K.PCA_CHART: live_chart.clicked, K.SIM_CHART: live_chart.clicked_x, K.ALONG_CHART: live_chart.clicked_x}


def song_clicks_waiting() -> bool:
    """Is there a click in the PCA or the similarity matrix (new, or held for this run) not yet acted on?"""
    return any(session.click_held(chart) or read(chart) is not None for chart, read in _SONG_CLICKS.items())


def hold_song_clicks() -> bool:
    """In a fragment's own rerun, hold a click in the PCA or the similarity matrix for the page's next run,
    which acts on it (True if one was held). In a run of the whole page the top has acted on it already."""
    if not session.fragment_rerun():
        return False
    held = False
    for chart, read in _SONG_CLICKS.items():
        click = read(chart)
        if click is not None:
            session.hold_click(chart, click)
            held = True
    return held


def _song_click(chart: str):
    """The click in `chart` to act on in this run: the one held for it, else this run's own (and forget it)."""
    held = session.take_held_click(chart)
    return held if held is not None else _SONG_CLICKS[chart](chart)


def apply_song_clicks(starts: Sequence[int], roll, max_bar: int) -> None:
    """A PCA point selects its patch and moves the window there; a similarity-matrix cell moves the window to
    the window of its column.

    `starts` are the start steps of the piece's windows (the indices PCA points carry refer to them); the matrix
    places them as `pianoroll.time_positions` does (start bars, or a PNG roll's start steps).
    """
    spbar = max(roll.steps_per_bar, 1)
    cd = _song_click(K.PCA_CHART)
    if cd is not None and len(cd) >= 3 and 0 <= int(cd[0]) < len(starts):  # (window, patch, level)
        w, patch, level = (int(v) for v in cd[:3])
        session.select(Selected(level, int(starts[w]), patch))
        session.move_window(int(starts[w]) // spbar + 1, max_bar)
    for chart in (K.SIM_CHART, K.ALONG_CHART):
        x = _song_click(chart)
        if x is not None:  # the start bar (or step) of the cell's column, or of the window's point
            w = int(np.argmin(np.abs(time_positions(roll, starts) - x)))
            session.move_window(int(starts[w]) // spbar + 1, max_bar)

"""Piano-roll panel: the whole piece with the window marked (click a bar to move it), and the window."""
from __future__ import annotations

import streamlit as st

from midi_rae.figures import roll_overview, window_roll
from midi_rae.pianoroll import restruck_at, start_place, window_at

from . import export, roll_strip
from .session import K


def pitch_view(roll, patch: int = 8) -> tuple[int, int]:
    """The piece's pitch range widened to patch boundaries (at least two octaves), for zoomed views."""
    lo, hi = roll.pitch_range()
    lo, hi = max(0, (lo - 2) // patch * patch), min(127, ((hi + 2) // patch + 1) * patch - 1)
    while hi - lo < 24:
        lo, hi = max(0, lo - patch), min(127, hi + patch)
    return int(lo), int(hi)


def render_overview(slot, roll_key: tuple, roll, start: int, width: int, marks: list) -> None:
    """The whole piece with the window marked, into `slot` (an st.empty, so it can be drawn later with marks)."""
    title = (f"{roll.name}: whole piece ({roll.steps:,} steps) — click to move the window" if roll.steps_only else
             f"{roll.name}: whole piece ({roll.bars:.1f} bars) — click a bar to move the window")
    roll_strip.draw(slot, roll_strip.OVERVIEW, roll_strip.overview_data(roll_key, roll, start, width, marks, title))
    export.figure(K.OVERVIEW_CHART, lambda: roll_overview(roll.array, roll.steps_per_bar, (start, width),
                                                          marks=list(marks), title=title))


def render_window(slot, roll_key: tuple, roll, start: int, width: int, rects: list, click_grid: tuple) -> None:
    """The current window on a bar:beat grid with the selected patches outlined, into `slot`; a click selects the
    patch under it on `click_grid`."""
    title = f"Window: {width} steps from {start_place(roll, start)} — click to select a patch"
    data = _window_data(roll_key, start, width, tuple(rects), click_grid, roll, title)
    roll_strip.draw(slot, roll_strip.WINDOW, data)
    export.figure(K.WINDOW_CHART, lambda: window_roll(window_at(roll, start, width), start, roll.steps_per_beat,
                                                      roll.beats_per_bar,
                                                      highlight=list(rects) or None, pitch_range=pitch_view(roll),
                                                      click_grid=click_grid, title=title))


@st.cache_data(max_entries=32, show_spinner=False)
def _window_data(roll_key: tuple, start: int, width: int, rects: tuple, click_grid: tuple, _roll, title: str) -> dict:
    """The window's drawing (cached: a mask change does not make it again)."""
    restruck = restruck_at(_roll, start, width)
    if restruck.any():
        title += f" · {RESTRUCK_NOTE}"
    return roll_strip.window_data(window_at(_roll, start, width), start, _roll.steps_per_beat, _roll.beats_per_bar,
                                  pitch_view(_roll), list(rects), click_grid, title, steps_only=_roll.steps_only,
                                  restruck=restruck)


RESTRUCK_NOTE = "lighter: a repeated note, joined to the one before in the model's input"  # fits a 900-px page

"""Clicks in charts, read from session state before the widgets are drawn (no torch needed here)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import streamlit as st

OVERVIEW_KEY = "overview_chart"
WINDOW_KEY = "window_chart"
PCA_KEY = "pca2d"
SIM_KEY = "similarity_chart"


@dataclass(frozen=True)
class Selected:
    """A patch: its level, the start step of its window, and its index in that level's row-major grid."""

    level: int
    start: int
    patch: int


def current() -> Optional[Selected]:
    """The selection, if any."""
    return st.session_state.get("selected")


def points(key: str) -> list[dict]:
    """The points selected in chart `key` (empty when none)."""
    state = st.session_state.get(key)
    sel = state.get("selection") if state is not None else None
    return list(sel.get("points") or []) if sel else []


def boxes(key: str) -> list[dict]:
    """The boxes dragged in chart `key` (empty when none)."""
    state = st.session_state.get(key)
    return list((state.get("selection") or {}).get("box") or []) if state is not None else []


def is_new(key: str, items: list) -> bool:
    """Is this click not yet handled? (selections persist across reruns)"""
    return bool(items) and st.session_state.get(f"_seen_{key}") != repr(items[:1])


def take(key: str, items: list) -> bool:
    """True the first time a given click is seen, and remember it as handled."""
    if not is_new(key, items):
        return False
    st.session_state[f"_seen_{key}"] = repr(items[:1])
    return True


def song_clicks_waiting() -> bool:
    """Is there a click in the PCA or the similarity matrix, which needs the song's embeddings to act on?"""
    return is_new(PCA_KEY, points(PCA_KEY)) or (is_new(SIM_KEY, boxes(SIM_KEY)) and bool(boxes(SIM_KEY)[0].get("x")))


def default_select_level(n_levels: int) -> int:
    """The level clicks select at until the person picks one: 8×8 (level 3), or the finest of fewer."""
    return min(3, n_levels - 1)


def select_level(n_levels: int) -> int:
    """The level a click on the window's patch dots selects at."""
    return int(st.session_state.get("select_level", default_select_level(n_levels)))


def apply_window_click(start: int, n_levels: int) -> None:
    """A click on one of the patch dots over the window selects that patch at the chosen level."""
    pts = points(WINDOW_KEY)
    if take(WINDOW_KEY, pts):
        cd = pts[0].get("customdata")
        if cd is not None:
            st.session_state["selected"] = Selected(select_level(n_levels), start,
                                                    int(cd[0] if isinstance(cd, (list, tuple)) else cd))

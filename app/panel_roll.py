"""Piano-roll panel: the whole piece with the window marked (click a bar to move it), and the window."""
from __future__ import annotations

import streamlit as st

from midi_rae.figures import roll_overview, window_roll

OVERVIEW_KEY = "overview_chart"


def apply_overview_click(max_bar: int) -> None:
    """Move the window to a bar clicked or box-selected in the overview (before the slider is drawn)."""
    state = st.session_state.get(OVERVIEW_KEY)
    sel = getattr(state, "selection", None) or (state or {}).get("selection") if state is not None else None
    if not sel:
        return
    bar = None
    points = sel.get("points") or []
    boxes = sel.get("box") or []
    if points:
        p = points[0]
        cd = p.get("customdata")
        bar = int(cd[0] if isinstance(cd, (list, tuple)) else cd) + 1 if cd is not None else int(float(p.get("x", 1)))
    elif boxes and boxes[0].get("x"):
        bar = int(float(min(boxes[0]["x"])))
    signature = repr((points[:1], boxes[:1]))
    if bar is None or st.session_state.get("_overview_applied") == signature:
        return
    st.session_state["_overview_applied"] = signature
    st.session_state["window_bar"] = min(max(bar, 1), max_bar)


def render(song, res, spb: int, beats_per_bar: int) -> None:
    """Overview of the piece and the current window."""
    roll = song.roll
    width = res.image.shape[1]
    st.subheader("Piano roll")
    st.plotly_chart(roll_overview(roll.array, roll.steps_per_bar, (res.start, width),
                                  title=f"{roll.name}: whole piece ({roll.bars:.0f} bars) — click a bar to move the window"),
                    key=OVERVIEW_KEY, on_select="rerun", selection_mode=("points", "box"), width="stretch")
    st.plotly_chart(window_roll(res.image, res.start, spb, beats_per_bar,
                                title=f"Window: {width} steps from bar {res.start // max(roll.steps_per_bar, 1) + 1}"),
                    width="stretch", key="window_chart")

"""Linked selection: one selected patch (level, window start, patch) shared by every view, and its neighbours."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import streamlit as st

from midi_rae.config import ModelConfig
from midi_rae.pianoroll import note_name, place, start_place
from midi_rae.structure import family, nearest_patches
from midi_rae.wording import level_name

from . import row_picker, session
from .clicks import Selected, current, default_select_level  # noqa: F401 (the selection's names, re-exported)
from .session import K

NEIGHBOURS = 8


def song_window(song, start: int) -> int:
    """Index of the song window nearest to a start step."""
    return int(np.argmin(np.abs(song.starts - start)))


def patch_box(cfg: ModelConfig, level: int, patch: int) -> tuple[int, int, int, int]:
    """(pitch_lo, step_lo, pitch_hi, step_hi), exclusive hi, of a patch within its window."""
    _, cols = cfg.level_grids[level]
    steps, semis = cfg.patch_extent(level)
    r, c = divmod(patch, cols)
    return r * semis, c * steps, (r + 1) * semis, (c + 1) * steps


def highlights(sel: Optional[Selected], start: int, cfg: ModelConfig) -> tuple[list, dict[int, list[int]]]:
    """Rectangles for the window roll (the patch and its parent) and per-level patch lists (its family)."""
    if sel is None or sel.start != start:
        return [], {}
    fam = family(sel.level, sel.patch, cfg.level_grids)
    rects = [patch_box(cfg, sel.level, sel.patch)]
    if sel.level > 0:
        rects.append(patch_box(cfg, sel.level - 1, fam[sel.level - 1][0]))
    return rects, fam


def neighbours(song, sel: Selected, k: int = NEIGHBOURS) -> pd.DataFrame:
    """The k most similar patches of the piece at the selected level (cosine), with where they are.

    Empty patches all look alike, so a note patch's neighbours are only other note patches.
    """
    cfg = song.config
    w = song_window(song, sel.start)
    emb = song.level_emb[sel.level]
    ne = song.level_non_empty[sel.level]
    _, cols = cfg.level_grids[sel.level]
    steps, semis = cfg.patch_extent(sel.level)
    r0, c0 = divmod(sel.patch, cols)
    here = (int(song.starts[w]) + c0 * steps, r0)
    allowed = ne if ne[w, sel.patch] else None
    # overlapping windows hold the same music at other grid positions: those are not "elsewhere", and can take most
    # of the nearest candidates (a jig at level 4 kept 3 of 8 from 48): more are read until k places are found
    for wanted in (k * 6, k * 48, emb.shape[0] * emb.shape[1]):
        found = nearest_patches(emb, w, sel.patch, k=wanted, allowed=allowed)
        rows = []
        for ww, n, s in found:
            r, c = divmod(n, cols)
            step = int(song.starts[ww]) + c * steps
            if (step, r) == here or any(row["_start"] == step and row["_row"] == r for row in rows):
                continue
            rows.append({"Where": place(song.roll, step, steps),
                         "Pitches": f"{note_name(r * semis)}–{note_name(min(r * semis + semis - 1, 127))}",
                         "Cosine": round(float(s), 4), "_start": step, "_size": steps, "_row": r,
                         "_window_start": int(song.starts[ww]), "_patch": n})
            if len(rows) == k:
                return pd.DataFrame(rows)
        if len(found) < wanted:  # every candidate read
            break
    return pd.DataFrame(rows)


TABLE_KEY = "neighbours"  # the table of neighbours (row_picker): one, kept across selections


def neighbour_click_waiting() -> bool:
    """Has a neighbour's row been clicked (on this run: a click lasts the run it starts)?"""
    return current() is not None and row_picker.clicked(TABLE_KEY) is not None


def apply_neighbour_click(song, steps_per_bar: int, max_bar: int) -> None:
    """A click on a neighbour's row selects that patch and moves the window to it (before widgets draw)."""
    sel = current()
    i = row_picker.clicked(TABLE_KEY)
    if sel is None or i is None:
        return
    table = neighbours(song, sel)  # the rows the person saw: the selection has not changed since
    if 0 <= i < len(table):
        row = table.iloc[i]
        start = int(row["_window_start"])
        session.select(Selected(sel.level, start, int(row["_patch"])))
        session.move_window(start // max(steps_per_bar, 1) + 1, max_bar)


def render(song, res, table: Optional[pd.DataFrame]) -> None:
    """Selection controls, a description of the selected patch and its nearest neighbours."""
    st.subheader("Selected patch and its nearest neighbours")
    cfg = song.config
    grids = cfg.level_grids
    c1, c2 = st.columns([2, 3])
    c1.select_slider("Click selects a patch at level", options=list(range(len(grids))),
                     value=default_select_level(len(grids)), persist_state="session", key=K.SELECT_LEVEL,
                     format_func=lambda k: level_name(k, grids))
    sel = current()
    if sel is None or table is None:
        c2.info("Click a note area in the window above, or a point in the PCA plot, to select a patch; it lights "
                "up in the window, the level masks and the PCA, with its parent and children.")
        return
    rows, cols = grids[sel.level]
    steps, semis = cfg.patch_extent(sel.level)
    r, c = divmod(sel.patch, cols)
    step = sel.start + c * steps
    elsewhere = ("" if sel.start == res.start else
                 f" (in the window from {start_place(song.roll, sel.start)}, not the one shown)")
    c2.markdown(f"**Level {sel.level}** ({rows}×{cols}): {place(song.roll, step, steps)}, "
                f"pitches {note_name(r * semis)}–"
                f"{note_name(min(r * semis + semis - 1, 127))}{elsewhere}")
    # a callback, not st.rerun() after the click: the page then runs once instead of twice
    c2.button("Clear selection", key="clear_sel", on_click=session.clear_selection)
    if table.empty:
        st.caption("No other patch of this piece at this level holds notes.")
        return
    st.caption("Where else in this piece does the model see the same thing? Cosine similarity of embeddings at "
               "the same level (note patches only), marked on the overview. Click a row to go there.")
    row_picker.draw(TABLE_KEY, ["#", "Where", "Pitches", "Cosine"],
                    [[k + 1, r["Where"], r["Pitches"], f"{r['Cosine']:.4f}"]
                     for k, (_, r) in enumerate(table.iterrows())],
                    numeric=[True, False, False, True], hint="Go there: select this patch and move the window to it")

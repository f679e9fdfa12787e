"""Linked selection: one selected patch (level, window start, patch) shared by every view, and its neighbours."""
from __future__ import annotations

from typing import Optional

import numpy as np
import pandas as pd
import streamlit as st

import tables

from midi_rae.analysis import patch_boxes
from midi_rae.pianoroll import note_name
from midi_rae.structure import family, nearest_patches

from clicks import (PCA_KEY, SIM_KEY, Selected, boxes, current, default_select_level, points,  # noqa: F401
                    take)


def apply_clicks(song, steps_per_bar: int, pca_index: Optional[np.ndarray]) -> None:
    """Turn a click in a PCA plot or the similarity matrix into the selection and window (before widgets draw)."""
    pts = points(PCA_KEY)
    if take(PCA_KEY, pts) and pca_index is not None:
        cd = pts[0].get("customdata")
        ci = int(cd[0] if isinstance(cd, (list, tuple)) else cd) if cd is not None else None
        if ci is not None and ci < len(pca_index):
            lvl = int(st.session_state.get("pca_level", 0))
            w, n = divmod(int(pca_index[ci]), song.level_emb[lvl].shape[1])
            st.session_state["selected"] = Selected(lvl, int(song.starts[w]), n)
            st.session_state["window_bar"] = int(song.starts[w]) // max(steps_per_bar, 1) + 1
    bxs = boxes(SIM_KEY)
    if take(SIM_KEY, bxs) and bxs[0].get("x"):
        # heatmap cells report no click events: a box dragged over a cell jumps to its column's window
        labels = st.session_state.get("_sim_labels", [])
        xs = bxs[0]["x"]
        w = None
        if isinstance(xs[0], str) and xs[0] in labels:
            w = labels.index(xs[0])
        elif not isinstance(xs[0], str):
            w = int(round((float(xs[0]) + float(xs[-1])) / 2))
        if w is not None and 0 <= w < len(song.starts):
            st.session_state["window_bar"] = int(song.starts[w]) // max(steps_per_bar, 1) + 1


def song_window(song, start: int) -> int:
    """Index of the song window nearest to a start step."""
    return int(np.argmin(np.abs(song.starts - start)))


def highlights(sel: Optional[Selected], start: int, grids: list[int]) -> tuple[list, dict[int, list[int]]]:
    """Rectangles for the window roll (the patch and its parent) and per-level patch lists (its family)."""
    if sel is None or sel.start != start:
        return [], {}
    fam = family(sel.level, sel.patch, grids)
    rects = [tuple(int(v) for v in patch_boxes(grids[sel.level])[sel.patch])]
    if sel.level > 0:
        parent = fam[sel.level - 1][0]
        rects.append(tuple(int(v) for v in patch_boxes(grids[sel.level - 1])[parent]))
    return rects, fam


def neighbours(song, sel: Selected, k: int = 8) -> pd.DataFrame:
    """The k most similar patches of the piece at the selected level (cosine), with where they are."""
    w = song_window(song, sel.start)
    emb = song.level_emb[sel.level]
    g = int(round(np.sqrt(emb.shape[1])))
    size = 128 // g
    spbar = max(song.roll.steps_per_bar, 1)
    rows = []
    r0, c0 = divmod(sel.patch, g)
    here = (int(song.starts[w]) + c0 * size, r0)
    # overlapping windows hold the same music at other grid positions: those are not "elsewhere"
    for ww, n, s in nearest_patches(emb, w, sel.patch, k=k * 6):
        r, c = divmod(n, g)
        step = int(song.starts[ww]) + c * size
        if (step, r) == here or any(row["_start"] == step and row["_row"] == r for row in rows):
            continue
        if len(rows) == k:
            break
        rows.append({"Bars": f"{step / spbar + 1:.4g}–{(step + size) / spbar + 1:.4g}",
                     "Pitches": f"{note_name(r * size)}–{note_name(min(r * size + size - 1, 127))}",
                     "Cosine": round(float(s), 4), "Window": ww + 1, "Patch": n, "_start": step, "_size": size,
                     "_row": r})
    return pd.DataFrame(rows)


def render(song, res, grids: list[int], table: Optional[pd.DataFrame]) -> None:
    """Selection controls, a description of the selected patch and its nearest neighbours."""
    st.subheader("Selected patch and its nearest neighbours")
    c1, c2 = st.columns([2, 3])
    c1.select_slider("Click selects a patch at level", options=list(range(len(grids))),
                     value=default_select_level(len(grids)), key="select_level",
                     format_func=lambda k: f"{k} ({grids[k]}×{grids[k]})")
    sel = current()
    if sel is None or table is None:
        c2.info("Click a note area in the window above, or a point in the PCA plot, to select a patch; it lights "
                "up in the window, the level masks and the PCA, with its parent and children.")
        return
    g = grids[sel.level]
    size = 128 // g
    r, c = divmod(sel.patch, g)
    spbar = max(song.roll.steps_per_bar, 1)
    step = sel.start + c * size
    c2.markdown(f"**Level {sel.level}** ({g}×{g}) patch {sel.patch}: bars {step / spbar + 1:.4g}–"
                f"{(step + size) / spbar + 1:.4g}, pitches {note_name(r * size)}–{note_name(min(r * size + size - 1, 127))}")
    if c2.button("Clear selection", key="clear_sel"):
        st.session_state.pop("selected", None)
        st.rerun()
    st.caption("Where else in this piece does the model see the same thing? (cosine similarity of embeddings at "
               "the same level; marked on the overview)")
    tables.show(st, table.drop(columns=["_start", "_size", "_row"]), index=False)

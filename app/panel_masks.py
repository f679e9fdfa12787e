"""Non-empty masks per level over the window, and the spec's statistics table for window and piece."""
from __future__ import annotations

import pandas as pd
import streamlit as st

import export
import tables

from midi_rae.figures import level_masks


def stats_table(song, res, patch_px: tuple[int, int]) -> pd.DataFrame:
    """Per level: grid, patch size, dim, non-empty % in this window and over the piece's windows."""
    rows = []
    for k, (ne, st_, emb) in enumerate(zip(res.level_non_empty, song.stats, song.level_emb)):
        g = ne.shape[0]
        rows.append({"Level": k, "Grid": f"{g}×{g}", "Patch (steps × semitones)": f"{128 // g}×{128 // g}",
                     "Dim": emb.shape[-1], "This window %": round(100 * float(ne.mean()), 1),
                     "Piece mean %": round(st_["mean"], 1), "Std %": round(st_["std"], 1),
                     "Min %": round(st_["min"], 1), "Max %": round(st_["max"], 1)})
    return pd.DataFrame(rows).set_index("Level")


@st.cache_resource(max_entries=32, show_spinner=False)
def _masks_fig(song_key: tuple, start: int, family_key: tuple, _res):
    return level_masks(_res.level_non_empty, _res.image, highlight=dict(family_key) or None)


def render(song, res, patch_px: tuple[int, int], family: dict) -> None:
    """The masks figure and the table."""
    st.subheader("Non-empty patches per level")
    st.caption("A patch is non-empty when any of its pixels holds a note. Coarser levels are the 2×2 max-pool "
               f"of finer ones; statistics over the piece use its {song.n_windows} windows.")
    export.chart(st, _masks_fig(song.key, res.start, tuple((k, tuple(v)) for k, v in family.items()), res), width="stretch", key="masks_chart")
    tables.show(st, stats_table(song, res, patch_px).reset_index(), index=False)

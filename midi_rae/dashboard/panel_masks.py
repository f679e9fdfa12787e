"""Non-empty masks per level over the window, and the spec's statistics table for window and piece."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from midi_rae.figures import level_masks
from midi_rae.inference import WINDOW_RULE, level_rows

from . import export, tables


def stats_table(song, res) -> pd.DataFrame:
    """Per level: grid, patch extent, dim, non-empty % in this window and over the piece's windows."""
    return pd.DataFrame(level_rows(song.config, song.encoding, res)).set_index("Level")


@st.cache_resource(max_entries=32, show_spinner=False)
def _masks_fig(song_key: tuple, start: int, family_key: tuple, _res):
    return level_masks(_res.level_non_empty, _res.image, highlight=dict(family_key) or None)


def render(song, res, family: dict) -> None:
    """The masks figure and the table."""
    st.subheader("Non-empty patches per level")
    st.caption("A patch is non-empty when any of its pixels holds a note. Coarser levels are the 2×2 max-pool "
               f"of finer ones. Statistics over the piece use its {song.n_windows} {WINDOW_RULE} (here "
               f"{song.hop} steps apart); `midi-rae inspect` and the report use the same windows.")
    export.chart(st, _masks_fig(song.key, res.start, tuple((k, tuple(v)) for k, v in family.items()), res), width="stretch", key="masks_chart")
    tables.show(st, stats_table(song, res).reset_index(), index=False)

"""Non-empty masks per level over the window, and the spec's statistics table for window and piece."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from midi_rae.figures import EMPTY, HIGHLIGHT, NON_EMPTY, NOTE, level_masks
from midi_rae.inference import level_rows, windows_text
from midi_rae.rasters import level_mask_images, png

from . import export, image_row, tables
from .swatches import legend


def stats_table(song, res) -> pd.DataFrame:
    """Per level: grid, patch extent, dim, non-empty % in this window and over the piece's windows."""
    return pd.DataFrame(level_rows(song.config, song.encoding, res)).set_index("Level")


@st.cache_resource(max_entries=32, show_spinner=False)
def _mask_images(song_key: tuple, start: int, family_key: tuple, _res) -> list[str]:
    # PNG data URIs, made once per window and selection, not on every rerun
    return [image_row.data_uri(png(img)) for img in level_mask_images(_res.level_non_empty, _res.image,
                                                                      highlight=dict(family_key) or None)]


def render(song, res, family: dict) -> None:
    """The masks figure and the table."""
    st.subheader("Non-empty patches per level")
    st.caption("A patch is non-empty when any of its pixels holds a note. Coarser levels are the 2×2 max-pool "
               f"of finer ones. Statistics over the piece use "
               f"{windows_text(song.n_windows, song.hop, song.roll.steps_per_bar, song.roll.steps_only)}; "
               "`midi-rae inspect` and the report use the same windows.")
    family_key = tuple((k, tuple(v)) for k, v in family.items())
    images = _mask_images(song.key, res.start, family_key, res)
    grids = song.config.level_grids
    # images, not a chart: redrawn on every window move, and the browser draws an image in half the time
    image_row.show(st, [(f"Level {k} · {grids[k][0]}×{grids[k][1]}", uri) for k, uri in enumerate(images)])
    legend([("non-empty", NON_EMPTY), ("empty", EMPTY), ("notes", NOTE)]
           + ([("selected patch and its family", HIGHLIGHT)] if family else []))
    export.figure("masks_chart", lambda: level_masks(res.level_non_empty, res.image, highlight=family or None))
    tables.show(st, stats_table(song, res).reset_index(), index=False)

"""Reconstruction along the piece: every window's F1, unmasked and under the page's mask, so that the passages the
model reconstructs worst are found without scrubbing window by window (and, with B on, which model does better over
the whole piece, not only in the window shown). A click on the chart moves the window there."""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import pandas as pd
import streamlit as st

from midi_rae.figures import f1_along_piece
from midi_rae.pianoroll import time_positions, time_unit
from midi_rae.piece_scores import PieceScores, along_title, pooled_sentence, score_piece, worst_windows
from midi_rae.wording import signed

from . import live_chart, tables
from .panel_ablation import piece_codes_cached
from .session import K

WORST = 5  # windows listed under the chart


@st.cache_resource(max_entries=16, show_spinner="Decoding every window of the piece…")
def _scores(song_key: tuple, ckpt_key: str, settings, _song, _bundle) -> PieceScores:
    """The piece's windows scored under the page's settings (their encodings shared with Level ablation)."""
    return score_piece(_bundle, _song.roll, settings, codes=piece_codes_cached(song_key, ckpt_key, settings, _song, _bundle))


def render(song, res, model, need_b: Optional[Callable] = None) -> None:
    """The chart, the piece's pooled figures and its worst windows, for A (and B where it is compared)."""
    if model.bundle.decoder is None:
        st.info("This checkpoint has no decoder, so there is no reconstruction to score along the piece.")
        return
    settings = res.settings
    scores = _scores(song.key, model.key, settings, song, model.bundle)
    b = need_b() if need_b is not None else None  # (model B, B's settings), or why B is not scored
    scores_b = _scores(song.key, b[0].key, b[1], song, b[0].bundle) if isinstance(b, tuple) else None
    roll, width = song.roll, song.config.window_steps
    fig = f1_along_piece(time_positions(roll, scores.starts), scores.f1("plain"), scores.f1("masked"),
                         float(time_positions(roll, [res.start])[0]), f"window's first {time_unit(roll)}",
                         along_title(scores), None if scores_b is None else scores_b.f1("masked"))
    live_chart.draw(st, fig, K.ALONG_CHART, clickable="x")
    pooled = pooled_sentence(scores)
    if scores_b is not None:
        diff = scores_b.pooled("masked") - scores.pooled("masked")
        pooled += (f"; B {scores_b.pooled('masked'):.3f} on masked patches"
                   + (f" (B − A {signed(diff)})" if np.isfinite(diff) else "")
                   + f", {scores_b.pooled('plain'):.3f} unmasked (B at its own threshold, {b[1].threshold:g})")
    elif isinstance(b, str):
        pooled += f"; {b}"
    st.caption(pooled + ". Each window is scored under its own mask, the one the page draws when the window is "
               "shown; click a point to show that window.")
    worst = pd.DataFrame(worst_windows(scores, roll, width, scores_b, WORST))
    if len(worst):
        st.markdown("**The windows reconstructed worst** (on masked patches)")
        tables.show(st, worst, index=False)
    else:
        st.caption("No window has a masked patch to score at this mask ratio, so none is listed as worst.")

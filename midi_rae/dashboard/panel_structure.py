"""Song structure: per-level self-similarity of the piece's windows, and their path through that level's PCA."""
from __future__ import annotations

from typing import Optional

import numpy as np
import streamlit as st

from midi_rae.pca import pca_fit
from midi_rae.figures import similarity_matrix, trajectory
from midi_rae.pianoroll import place, time_positions, time_unit
from midi_rae.structure import pooled_windows, self_similarity
from midi_rae.wording import counted

from . import export, live_chart
from .session import K


ONE_WINDOW = ("This piece fits in one window, so there is no other window to compare it with: song structure "
              "needs a piece longer than the model's window.")


def window_labels(song) -> list[str]:
    """Where each song window lies ("bars 1–8")."""
    width = song.config.window_steps
    return [place(song.roll, s, width) for s in song.starts]


@st.cache_resource(max_entries=32, show_spinner=False)
def _structure_figs(song_key: tuple, level: int, _song):
    song = _song
    pooled = np.asarray(pooled_windows(song.level_emb[level], song.level_non_empty[level]))
    sim = self_similarity(pooled)
    labels = window_labels(song)
    rows, cols = song.config.level_grids[level]
    positions, unit = time_positions(song.roll, song.starts), time_unit(song.roll)
    fsim = similarity_matrix(sim, positions, label=unit,
                             title=f"Self-similarity of windows at level {level} ({rows}×{cols}), cosine")
    top = pooled.reshape(len(song.starts), -1)  # the vectors the matrix compares: the path follows the slider
    coords = pca_fit(top, k=2).transform(top) if len(top) > 1 else np.zeros((1, 2))
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    ftraj = trajectory(coords, positions, time_label=unit,
                       title=f"Level {level} ({rows}×{cols}) through the piece, PCA of the same embeddings", hover=labels)
    return fsim, ftraj, sim, still_path(coords, top, level)


def still_path(coords: np.ndarray, emb: np.ndarray, level: int = 0, share: float = 1e-3) -> Optional[str]:
    """A sentence where the windows' PCA path spreads over less than `share` of their embeddings' length (the
    windows are all but the same at that level, and the path drawn is rounding noise); else None."""
    length = float(np.linalg.norm(emb, axis=1).mean()) if len(emb) else 0.0
    spread = float(np.ptp(coords[:, :2], axis=0).max()) if len(coords) else 0.0
    if length <= 0 or spread >= share * length:
        return None
    return (f"Level {level}'s windows are all but the same here: their path spreads over {spread:.1e}, against embeddings "
            f"of length {length:.2g}, so its shape is rounding noise.")


def render(song) -> None:
    """Level picker, the similarity matrix and the trajectory."""
    if len(song.starts) < 2:
        st.info(ONE_WINDOW)
        return
    L = len(song.level_emb)
    level = st.select_slider("Similarity level", options=list(range(L)), value=min(2, L - 1),
                             persist_state="session", key=K.SIM_LEVEL,
                             help="Each window's embedding at this level is averaged over its non-empty patches.")
    fsim, ftraj, sim, still = _structure_figs(song.key, level, song)
    a, b = st.columns([1, 1])
    live_chart.draw(a, fsim, K.SIM_CHART, clickable="x")  # a cell's column: a window's start bar
    export.chart(b, ftraj, key="trajectory_chart")
    if still:
        b.caption(still)
    if len(sim) > 2:
        off = sim[~np.eye(len(sim), dtype=bool)]
        st.caption(f"{counted(len(sim), 'window')}, one every {song.hop} steps. "
                   f"Off-diagonal similarity: mean {off.mean():.3f}, "
                   f"min {off.min():.3f}. Bright off-diagonal stripes are repeats; click a cell to go to the window "
                   "of its column.")

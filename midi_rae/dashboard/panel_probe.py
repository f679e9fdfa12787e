"""Shift and transpose probe: at which levels is the model invariant, at which equivariant?"""
from __future__ import annotations

import streamlit as st

from midi_rae.figures import probe_lines
from midi_rae.probes import probe

from . import export
from .session import K

SHIFTS = list(range(-16, 17))
SEMITONES = list(range(-12, 13))


@st.cache_resource(max_entries=16, show_spinner="Probing shifts and transpositions…")
def _probe(song_key: tuple, ckpt_key: str, start: int, _roll, _bundle):
    enc = _bundle.encoder
    return (probe(enc, _roll.array, start, SHIFTS, axis="time", batch_size=34),
            probe(enc, _roll.array, start, SEMITONES, axis="pitch", batch_size=34))


@st.cache_resource(max_entries=32, show_spinner=False)
def _probe_figs(song_key: tuple, ckpt_key: str, start: int, reading: str, _t, _p, grids: tuple):
    """The time and pitch probe charts (cached: a mask change redraws neither)."""
    return (probe_lines(_t["shifts"], _t[reading], title="Time shift", xlabel="shift (steps)", grids=list(grids)),
            probe_lines(_p["shifts"], _p[reading], title="Transposition", xlabel="transposition (semitones)",
                        grids=list(grids)))


def render(song, res, model) -> None:
    """Similarity to the unmoved window, per level, against time shift and transposition."""
    t, p = _probe(song.key, model.key, res.start, song.roll, model.bundle)
    grids = song.grids
    reading = st.radio("Compare", ["aligned (content follows the shift)", "same position (invariance)"],
                       horizontal=True, persist_state="session", key=K.PROBE_READING)
    key = "aligned" if reading.startswith("aligned") else "same_position"
    ft, fp = _probe_figs(song.key, model.key, res.start, key, t, p, tuple(grids))
    a, b = st.columns(2)
    export.chart(a, ft, key="probe_time")
    export.chart(b, fp, key="probe_pitch")
    st.caption("Mean cosine similarity between the window's embeddings and those of the moved window, over the "
               "original's non-empty patches. 'Aligned' compares a patch with the patch that now holds the same "
               "content, which exists only when the shift is a multiple of the level's patch size: each level's "
               "aligned line has points only at those shifts (a 4-step patch at every 4th shift, the 1×1 "
               "level only at 0).")

"""Shift and transpose probe: at which levels is the model invariant, at which equivariant?"""
from __future__ import annotations

import numpy as np
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
    """The time and pitch probe charts (cached: a mask change redraws neither), on one y-range."""
    both = np.concatenate([np.ravel(_t[reading]), np.ravel(_p[reading])]).astype(float)
    floor = float(np.nanmin(both)) if np.isfinite(both).any() else None
    return (probe_lines(_t["shifts"], _t[reading], title="Time shift", xlabel="shift (steps)", grids=list(grids),
                        floor=floor),
            probe_lines(_p["shifts"], _p[reading], title="Transposition", xlabel="transposition (semitones)",
                        grids=list(grids), floor=floor))


def single_point_levels(grids, window_steps: int, max_shift: int, axis: str = "time") -> list[int]:
    """The levels whose patches are longer along `axis` than the largest shift (time: wider in steps than
    `max_shift`; pitch: taller in semitones, of 128): their aligned line is one point, at shift 0."""
    return [k for k, (rows, cols) in enumerate(grids)
            if (window_steps // cols if axis == "time" else 128 // rows) > max_shift]


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
               "level only at 0)." + _one_point_note(grids, song.config.window_steps, key))


def _one_point_note(grids, window_steps: int, reading: str) -> str:
    """In the aligned reading, which levels show a single point in each chart (their patches are wider than any
    shift, or taller than any transposition, tried)."""
    if reading != "aligned":
        return ""
    said = []
    for axis, most, size, move, chart in (("time", max(SHIFTS), "wider", "steps", "time shift"),
                                          ("pitch", max(SEMITONES), "taller", "semitones", "transposition")):
        single = single_point_levels(grids, window_steps, most, axis)
        if single:
            one = len(single) == 1
            names = f"level {single[0]}" if one else f"levels {single[0]}–{single[-1]}"
            said.append(f"{names} (patches {size} than {most} {move}) {'has' if one else 'have'} no aligned {chart} "
                        f"but 0, so {'it shows' if one else 'they show'} as one point at 1 in the "
                        f"{chart.split()[0]} chart")
    return f" Here {'; '.join(said)}." if said else ""

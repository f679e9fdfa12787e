"""Models once per server process and song encodings once per (file, checkpoint, settings): the torch half."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from midi_rae.analysis import encode_levels, level_stats
from midi_rae.checkpoint import DEFAULT_CHECKPOINT, CheckpointError, ModelBundle, load_model
from midi_rae.pianoroll import PianoRoll, song_hop, windows
from sidebar import BAD


@st.cache_resource(max_entries=6, show_spinner="Loading the checkpoint…")
def load_bundle(key: str, _encoder: str | bytes | None, _decoder: str | bytes | None) -> ModelBundle:
    """One model per checkpoint per server process (key identifies the files' contents)."""
    return load_model(_encoder, decoder=_decoder)


def default_bundle() -> ModelBundle:
    """The shipped checkpoint."""
    return load_bundle(f"default:{DEFAULT_CHECKPOINT.stat().st_mtime if DEFAULT_CHECKPOINT.exists() else 0}",
                       None, None)


def load_choice(choice) -> ModelBundle:
    """The choice's model; a checkpoint that fails to load is remembered with its message and the page reruns
    (the sidebar then says why and uses the shipped default)."""
    try:
        if choice.key == "default":
            return default_bundle()
        return load_bundle(choice.key, choice.encoder, choice.decoder)
    except CheckpointError as e:
        if choice.key == "default":
            raise
        st.session_state.setdefault(BAD, {})[choice.key] = str(e)
        st.rerun()


@dataclass
class Song:
    """A piece as the model sees it: its roll, windows, and every level's embeddings over all windows."""

    roll: PianoRoll
    starts: np.ndarray            # start step of each song window
    hop: int
    level_emb: list[np.ndarray]   # per level (W, N, D) float32, coarsest first
    level_non_empty: list[np.ndarray]  # per level (W, N) bool
    stats: list[dict]             # per level non-empty % over windows (mean, std, min, max)
    key: tuple = ()               # (midi, checkpoint, steps per beat, transposition): keys figure caches

    @property
    def n_windows(self) -> int:
        return len(self.starts)

    @property
    def grids(self) -> list[int]:
        """Patch-grid side of every level, coarsest (1×1) first."""
        return [int(round(e.shape[1] ** 0.5)) for e in self.level_emb]


@st.cache_resource(max_entries=12, show_spinner=False)
def encode_song(midi_key: str, ckpt_key: str, steps_per_beat: int, semitones: int, _roll: PianoRoll,
                _bundle: ModelBundle) -> Song:
    """All windows of the piece (one bar apart, fewer for long pieces) through the encoder."""
    width = _bundle.encoder.grid_size[1] * _bundle.encoder.patch_w
    hop = song_hop(_roll.steps, _roll.steps_per_bar, width)
    x, starts = windows(_roll, width=width, hop=hop)
    bar_ui = st.progress(0.0, text=f"Encoding {len(x)} windows…") if len(x) > 64 else None

    def progress(f: float) -> None:
        if bar_ui is not None:
            bar_ui.progress(f, text=f"Encoding {len(x)} windows… {f:.0%}")

    embs, nes = encode_levels(_bundle.encoder, x, batch_size=32, progress=progress)
    if bar_ui is not None:
        bar_ui.empty()
    return Song(roll=_roll, starts=np.asarray(starts), hop=hop, level_emb=embs, level_non_empty=nes,
                stats=level_stats(nes), key=(midi_key, ckpt_key, steps_per_beat, semitones))



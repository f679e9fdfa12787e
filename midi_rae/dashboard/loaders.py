"""The torch half's cached computations: models once per server process, a piece's encoding and a window's
analysis once per (content, checkpoint, settings). They only compute: no widgets, no reruns, no session state.
"""
from __future__ import annotations

import streamlit as st

from midi_rae.checkpoint import DEFAULT_CHECKPOINT, ModelBundle, load_model
from midi_rae.inference import WindowAnalysis, analyse_window, encode_piece, MaskSettings
from midi_rae.pianoroll import PianoRoll

from .song import Song


@st.cache_resource(max_entries=6, show_spinner="Loading the checkpoint…")
def load_bundle(key: str, _encoder: str | bytes | None, _decoder: str | bytes | None,
                _names: tuple = (None, None)) -> ModelBundle:
    """One model per checkpoint per server process (key identifies the files' contents)."""
    return load_model(_encoder, decoder=_decoder, names=_names)


def default_key() -> str:
    """The shipped checkpoint's cache key (its time stamp, so replacing the file on a running server is seen)."""
    return f"default:{DEFAULT_CHECKPOINT.stat().st_mtime if DEFAULT_CHECKPOINT.exists() else 0}"


def load_choice(choice) -> ModelBundle:
    """The chosen checkpoint's model (raises CheckpointError for one that cannot be used)."""
    if choice.key == "default":
        return load_bundle(default_key(), None, None)
    return load_bundle(choice.key, choice.encoder, choice.decoder, choice.file_names)


@st.cache_resource(max_entries=12, show_spinner="Encoding every window of the piece…")
def encode_song(midi_key: str, ckpt_key: str, steps_per_beat: int, semitones: int, _roll: PianoRoll,
                _bundle: ModelBundle) -> Song:
    """All windows of the piece through the encoder (the one windowing rule of midi_rae.inference)."""
    return Song(roll=_roll, encoding=encode_piece(_bundle.encoder, _roll), config=_bundle.model_config,
                key=(midi_key, ckpt_key, steps_per_beat, semitones))


@st.cache_resource(max_entries=64, show_spinner=False)
def analyse(midi_key: str, ckpt_key: str, spb: int, semis: int, start: int, settings: MaskSettings,
            _roll: PianoRoll, _bundle: ModelBundle) -> WindowAnalysis:
    """The window at `start` under the mask and threshold of `settings` (cached per settings)."""
    res = analyse_window(_bundle, _roll, start, settings)
    res.key = (midi_key, ckpt_key, spb, semis, start, settings)
    return res

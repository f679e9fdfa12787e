"""Cached loaders: models once per process, song encodings once per (file, checkpoint, settings).

Caches are keyed by content hashes, so a cached value is only ever returned to someone who supplied
the same bytes: one person's upload never appears in another person's session.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import streamlit as st

from midi_rae.analysis import encode_levels, level_stats
from midi_rae.checkpoint import DEFAULT_CHECKPOINT, ModelBundle, load_model
from midi_rae.pianoroll import PianoRoll, midi_to_roll, song_hop, transpose, windows

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "assets" / "examples"


def digest(data: bytes) -> str:
    """Short content hash used as a cache key."""
    return hashlib.sha1(data).hexdigest()[:20]


def checkpoint_folder() -> Optional[Path]:
    """The checkpoints folder named by whoever started the server (env var or `-- --checkpoints DIR`)."""
    import sys

    val = os.environ.get("MIDI_RAE_CHECKPOINTS")
    argv = sys.argv[1:]
    if "--checkpoints" in argv and argv.index("--checkpoints") + 1 < len(argv):
        val = argv[argv.index("--checkpoints") + 1]
    if not val:
        return None
    p = Path(val).expanduser()
    return p if p.is_dir() else None


def folder_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files in the server's folder (encoders and combined files; not decoder-only ones)."""
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".safetensors", ".pt", ".pth", ".ckpt") and p.is_file())
    return [p for p in files if "decoder" not in p.name.lower() or "encoder" in p.name.lower()]


def decoder_beside(path: Path) -> Optional[Path]:
    """The original code saves SwinDecoder__best.pt next to SwinEncoder__best.pt: find that partner."""
    if "Encoder" not in path.name:
        return None
    partner = path.with_name(path.name.replace("SwinEncoder", "SwinDecoder").replace("Encoder", "Decoder"))
    return partner if partner.is_file() and partner != path else None


@st.cache_resource(max_entries=6, show_spinner="Loading the checkpoint…")
def load_bundle(key: str, _encoder: str | bytes | None, _decoder: str | bytes | None) -> ModelBundle:
    """One model per checkpoint per server process (key identifies the files' contents)."""
    return load_model(_encoder, decoder=_decoder)


def default_bundle() -> ModelBundle:
    """The shipped checkpoint."""
    return load_bundle(f"default:{DEFAULT_CHECKPOINT.stat().st_mtime if DEFAULT_CHECKPOINT.exists() else 0}",
                       None, None)


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


@st.cache_resource(max_entries=12, show_spinner=False)
def load_roll(midi_key: str, _data: bytes, steps_per_beat: int, semitones: int, name: str) -> PianoRoll:
    """The piece's piano roll (raises MidiError for bad input)."""
    roll = midi_to_roll(_data, steps_per_beat=steps_per_beat, name=name)
    return transpose(roll, semitones) if semitones else roll


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


def example_files() -> list[Path]:
    """The bundled example pieces (or those of the folder in MIDI_RAE_EXAMPLES)."""
    folder = Path(os.environ.get("MIDI_RAE_EXAMPLES") or EXAMPLES)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mid", ".midi")) if folder.is_dir() else []

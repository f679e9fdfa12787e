"""Where the page's inputs come from, before torch loads: content keys, the checkpoint folder, examples, rolls.

Caches are keyed by content hashes, so a cached value is only ever returned to someone who supplied
the same bytes: one person's upload never appears in another person's session.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Optional

import streamlit as st

from midi_rae.checkpoint_meta import ASSETS, peek_config
from midi_rae.pianoroll import PianoRoll, transpose

EXAMPLES = Path(ASSETS) / "examples"


def digest(data: bytes) -> str:
    """Short content hash used as a cache key."""
    return hashlib.sha1(data).hexdigest()[:20]


def server_folder(env: str, flag: str) -> Optional[Path]:
    """A folder named by whoever started the server: the env var, or `-- FLAG DIR` after streamlit's options."""
    import sys

    val = os.environ.get(env)
    argv = sys.argv[1:]
    if flag in argv and argv.index(flag) + 1 < len(argv):
        val = argv[argv.index(flag) + 1]
    if not val:
        return None
    p = Path(val).expanduser()
    return p if p.is_dir() else None


def checkpoint_folder() -> Optional[Path]:
    """The checkpoints folder named by whoever started the server (env var or `-- --checkpoints DIR`)."""
    return server_folder("MIDI_RAE_CHECKPOINTS", "--checkpoints")


def folder_checkpoints(folder: Path) -> list[Path]:
    """Checkpoint files in the server's folder (encoders and combined files; not decoder-only ones)."""
    files = sorted(p for p in folder.rglob("*") if p.suffix in (".safetensors", ".pt", ".pth", ".ckpt") and p.is_file())
    # train_state.pt (a training run's optimizer state, beside its checkpoints) holds no model to show
    return [p for p in files if ("decoder" not in p.name.lower() or "encoder" in p.name.lower())
            and not p.name.startswith("train_state")]


MAE_SUFFIX = "_mae_decoder"  # `midi-rae train --mae-decoder` saves best_mae_decoder.safetensors beside best.safetensors


def decoders_beside(path: Path) -> list[Optional[Path]]:
    """The decoders saved beside an encoder: its name with "encoder" (in any case) changed to "decoder", then to
    "MAEdecoder", in the same case (SwinEncoder__best.pt -> SwinDecoder__best.pt and SwinMAEDecoder__best.pt, as the
    original code saves them; run_encoder -> run_decoder). A file of this project's training holds its own decoder:
    where a MAE decoder was saved beside it, the list is [None (the file's own), that file]."""
    m = re.search("encoder", path.name, re.IGNORECASE)
    if m is None:
        mae = path.with_name(path.stem + MAE_SUFFIX + path.suffix)
        return [None, mae] if mae.is_file() and not path.stem.endswith(MAE_SUFFIX) else []
    dec = "".join(d.upper() if e.isupper() else d for e, d in zip(m.group(0), "decoder"))
    mae = "MAE" if m.group(0)[0].isupper() else "mae"
    partners = [path.with_name(path.name[:m.start()] + d + path.name[m.end():]) for d in (dec, mae + dec)]
    return [p for p in partners if p.is_file() and p != path]


def decoder_beside(path: Path) -> Optional[Path]:
    """The first of `decoders_beside` (the plain decoder before the MAE one), or None."""
    return next(iter(decoders_beside(path)), None)


@st.cache_resource(max_entries=12, show_spinner=False)
def load_roll(midi_key: str, _data: bytes, steps_per_beat: int, semitones: int, name: str,
              sustain_pedal: bool = False) -> PianoRoll:
    """The piece's piano roll from MIDI bytes or a PNG piano roll (raises MidiError for bad input), with the
    sustain pedal applied when asked."""
    from midi_rae.png_rolls import read_roll

    roll = read_roll(_data, steps_per_beat=steps_per_beat, name=name, sustain_pedal=sustain_pedal)
    return transpose(roll, semitones) if semitones else roll


PEDAL_KEY = "+pedal"  # after a piece's key in `roll_key`: its sustain pedal lengthened the roll's notes


def roll_key(piece_key: str, roll: PianoRoll) -> str:
    """What the caches of a roll's views are keyed by: the file's content, and whether the sustain pedal lengthened
    its notes (a file without pedal reads the same either way, and shares its entries)."""
    return piece_key + PEDAL_KEY if roll.sustain_pedal else piece_key


@st.cache_data(max_entries=32, show_spinner=False)
def checkpoint_config(key: str, _src: str | bytes | None, name: str | None = None) -> tuple[dict, dict]:
    """(config, meta) a checkpoint declares in its header, without loading it ({} when not readable so).

    `name` is how a refusal names an uploaded file (bytes carry no name of their own).
    """
    return peek_config(_src, name)


def shipped_checkpoints() -> list[Path]:
    """Checkpoints shipped beside the default (e.g. assets/augmented.safetensors), each with its model card."""
    return sorted(p for p in Path(ASSETS).glob("*.safetensors") if p.name != "default.safetensors")


def model_card(checkpoint: Optional[str | bytes]) -> Optional[Path]:
    """The model card shipped with a shipped checkpoint (None: the default), or None for any other file (an upload's
    bytes, a server folder's file)."""
    assets = Path(ASSETS)
    if isinstance(checkpoint, (bytes, bytearray)):
        return None
    if checkpoint is None:
        card = assets / "MODEL_CARD.md"
    else:
        path = Path(checkpoint)
        if path.parent.resolve() != assets.resolve() or path.suffix != ".safetensors":
            return None
        card = assets / ("MODEL_CARD.md" if path.name == "default.safetensors" else f"MODEL_CARD_{path.stem}.md")
    return card if card.is_file() else None


def example_files() -> list[Path]:
    """The bundled example pieces (or those of the folder in MIDI_RAE_EXAMPLES)."""
    folder = Path(os.environ.get("MIDI_RAE_EXAMPLES") or EXAMPLES)
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mid", ".midi")) if folder.is_dir() else []

"""midi_rae: hierarchical Swin V2 autoencoders for piano-roll images of MIDI, and tools to look inside them."""
from __future__ import annotations

__version__ = "0.1.0"

from os import PathLike
from typing import TYPE_CHECKING, Optional, Union

if TYPE_CHECKING:  # torch loads with the model, not with the package
    from .checkpoint import ModelBundle


def load_model(path: Union[str, PathLike, bytes, None] = None, decoder: Union[str, PathLike, bytes, None] = None,
               device: Optional[str] = None) -> "ModelBundle":
    """Load a checkpoint (the shipped default when path is None), in eval mode, safely (no pickle runs code).

    `path` and `decoder` are files or their bytes, in this project's format or the original midi-rae's (an encoder
    and a decoder saved apart: `decoder` names the decoder). Returns a ModelBundle: `.encoder`, `.decoder` (None for
    an encoder-only checkpoint), `.config` (dict), `.meta` (training facts) and `.device`. A file that cannot be
    used raises midi_rae.checkpoint.CheckpointError (a ValueError) with one sentence saying why. Details:
    midi_rae.checkpoint.load_model."""
    from .checkpoint import load_model as _load_model
    return _load_model(path, decoder=decoder, device=device)

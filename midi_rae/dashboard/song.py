"""A piece as the model sees it (no torch: the page draws a kept view before torch has loaded)."""
from __future__ import annotations

from dataclasses import dataclass

from midi_rae.config import ModelConfig
from midi_rae.inference import PieceEncoding
from midi_rae.pianoroll import PianoRoll


@dataclass
class Song:
    """A piece as the model sees it: its roll, and every window through the encoder."""

    roll: PianoRoll
    encoding: PieceEncoding
    config: ModelConfig
    key: tuple = ()               # (midi, checkpoint, steps per beat, transposition): keys figure caches

    @property
    def starts(self):
        """Start step of each window."""
        return self.encoding.starts

    @property
    def hop(self) -> int:
        """Steps between window starts."""
        return self.encoding.hop

    @property
    def level_emb(self):
        """Per level (W, N, D) embeddings, coarsest first."""
        return self.encoding.level_emb

    @property
    def level_non_empty(self):
        """Per level (W, N) non-empty masks."""
        return self.encoding.level_non_empty

    @property
    def stats(self) -> list[dict]:
        """Per level non-empty % over the windows."""
        return self.encoding.stats

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return self.encoding.n_windows

    @property
    def grids(self) -> list[tuple[int, int]]:
        """(rows, cols) of every level's patch grid, coarsest first."""
        return self.config.level_grids

"""Containers for what the encoder returns: per-level patch states, coarsest first."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterator

import torch


@dataclass
class PatchState:
    """One level of the hierarchy: embeddings of a grid of patches.

    emb: (B, N, D) embeddings; pos: (N, 2) grid positions (row, col), row-major;
    non_empty: (B, N) bool, patch has content; mae_mask: (N,) or (B, N) bool, True = visible.
    """

    emb: torch.Tensor
    pos: torch.Tensor
    non_empty: torch.Tensor
    mae_mask: torch.Tensor

    @property
    def grid(self) -> tuple[int, int]:
        """(rows, cols) of this level's grid."""
        if self.pos.numel() == 0:
            return (0, 0)
        return int(self.pos[:, 0].max()) + 1, int(self.pos[:, 1].max()) + 1

    @property
    def dim(self) -> int:
        """Embedding dimension D."""
        return int(self.emb.shape[-1])

    def _mask_bn(self) -> torch.Tensor:
        m = self.mae_mask.bool()
        return m.expand(self.emb.shape[0], -1) if m.dim() == 1 else m

    @property
    def visible(self) -> list[torch.Tensor]:
        """Per batch item, the (n_visible, D) embeddings of visible patches."""
        m = self._mask_bn()
        return [self.emb[b][m[b]] for b in range(self.emb.shape[0])]

    @property
    def masked(self) -> list[torch.Tensor]:
        """Per batch item, the (n_masked, D) embeddings of masked patches."""
        m = self._mask_bn()
        return [self.emb[b][~m[b]] for b in range(self.emb.shape[0])]

    def to(self, device: torch.device | str) -> "PatchState":
        """A copy with every tensor on `device`."""
        return PatchState(*(t.to(device) for t in (self.emb, self.pos, self.non_empty, self.mae_mask)))

    def detach(self) -> "PatchState":
        """A copy cut from the autograd graph."""
        return replace(self, emb=self.emb.detach())


@dataclass
class HierarchicalPatchState:
    """All levels of the hierarchy, coarsest (1x1) first."""

    levels: list[PatchState] = field(default_factory=list)

    @property
    def num_levels(self) -> int:
        """How many levels."""
        return len(self.levels)

    def __getitem__(self, i: int) -> PatchState:
        return self.levels[i]

    def __len__(self) -> int:
        return len(self.levels)

    def __iter__(self) -> Iterator[PatchState]:
        return iter(self.levels)

    def to(self, device: torch.device | str) -> "HierarchicalPatchState":
        """A copy with every level on `device`."""
        return HierarchicalPatchState([lv.to(device) for lv in self.levels])


@dataclass
class EncoderOutput:
    """What SwinEncoder.forward returns.

    patches: the levels; full_pos: (N, 2) finest grid positions; full_non_empty: (B, N) bool
    at the finest grid; mae_mask: (B, N) bool at the finest grid, True = visible.
    """

    patches: HierarchicalPatchState
    full_pos: torch.Tensor
    full_non_empty: torch.Tensor
    mae_mask: torch.Tensor

    def to(self, device: torch.device | str) -> "EncoderOutput":
        """A copy with every tensor on `device`."""
        return EncoderOutput(self.patches.to(device), self.full_pos.to(device),
                             self.full_non_empty.to(device), self.mae_mask.to(device))

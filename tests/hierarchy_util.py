"""Test models with known answers for the hierarchy views (ablation, phrase probe).

IdentityEncoder: level k's embedding of a patch is the patch's pixels (so nothing is learned and every level holds
the whole input at its own grain); it ignores the mask. LevelDecoder: reads level `level` only and paints its
pixels back, so its reconstruction is perfect and depends on that level alone.
"""
from __future__ import annotations

import torch
from torch import nn

from midi_rae.checkpoint import ModelBundle
from midi_rae.config import ModelConfig
from midi_rae.core import EncoderOutput, HierarchicalPatchState, PatchState

LEVELS = 6
SIDE = 128


def _grid_pos(g: int) -> torch.Tensor:
    r, c = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")
    return torch.stack([r.reshape(-1), c.reshape(-1)], dim=1)


def patchify(x: torch.Tensor, g: int) -> torch.Tensor:
    """(B, 1, 128, 128) -> (B, g*g, p*p), patches row-major (rows = pitch blocks, columns = time blocks)."""
    B, p = x.shape[0], SIDE // g
    return x.view(B, 1, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(B, g * g, p * p)


def unpatchify(emb: torch.Tensor, g: int) -> torch.Tensor:
    B, p = emb.shape[0], SIDE // g
    return emb.view(B, g, g, 1, p, p).permute(0, 3, 1, 4, 2, 5).reshape(B, 1, SIDE, SIDE)


class IdentityEncoder(nn.Module):
    """Every level's patch embeddings are the patch's pixels; finest patches 4×4 (a 32×32 grid)."""

    grid_size = (32, 32)
    patch_h = patch_w = 4
    num_stages = LEVELS

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))  # a device to report

    def _compute_non_empty(self, x: torch.Tensor) -> torch.Tensor:
        return patchify(x, 32).amax(-1) > 0.2

    def forward(self, x: torch.Tensor, mask_ratio: float = 0.0, mae_mask=None) -> EncoderOutput:
        B = x.shape[0]
        mask = torch.ones(B, 32 * 32, dtype=torch.bool) if mae_mask is None else mae_mask.bool()
        levels = []
        for k in range(LEVELS):
            g = 2 ** k
            emb = patchify(x, g).float()
            levels.append(PatchState(emb=emb, pos=_grid_pos(g), non_empty=emb.amax(-1) > 0.2,
                                     mae_mask=torch.ones(B, g * g, dtype=torch.bool)))
        return EncoderOutput(HierarchicalPatchState(levels), _grid_pos(32), self._compute_non_empty(x), mask)


class LevelDecoder(nn.Module):
    """Logits ±8 from the pixels held by one level's embeddings (None: the mean of all levels' pictures)."""

    def __init__(self, level: int | None):
        super().__init__()
        self.level = level

    def forward(self, enc_out: EncoderOutput) -> torch.Tensor:
        levels = enc_out.patches.levels
        chosen = range(len(levels)) if self.level is None else [self.level]
        img = torch.stack([unpatchify(levels[k].emb, 2 ** k) for k in chosen]).mean(0)
        return (img * 2 - 1) * 8


def bundle(level: int | None = None) -> ModelBundle:
    """An identity encoder with a LevelDecoder, as load_model would return them."""
    return ModelBundle(IdentityEncoder(), LevelDecoder(level), config={"empty_mask_ratio": 0.05}, meta={},
                       source="test", model_config=ModelConfig())

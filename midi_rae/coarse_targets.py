"""Multi-scale reconstruction targets for training (issue 13, the spec's future-work list).

Each of the coarsest levels must predict, from each of its tokens alone, a coarse sketch of the piano roll under
that token: the roll max-pooled to `cells x cells` per token. With the finest levels carrying every pixel, nothing
else asks a coarse token to describe its region; this does, so the coarse levels can no longer collapse to one
vector. The encoder sees the masked window and the sketch is of the whole window, so a coarse token must also
infer what the mask hid: the context a masked reconstruction needs.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def roll_sketch(x: torch.Tensor, grid: tuple[int, int], cells: int) -> torch.Tensor:
    """(B, 1, H, W) rolls -> (B, rows * cols, cells * cells): for each token of a rows x cols grid (row-major, as
    `PatchState.pos`), the max-pooled cells x cells sketch of the pixels under it (1 = a note anywhere in a cell)."""
    rows, cols = grid
    B = x.shape[0]
    pooled = F.adaptive_max_pool2d(x.float(), (rows * cells, cols * cells))
    return (pooled.reshape(B, rows, cells, cols, cells).permute(0, 1, 3, 2, 4)
            .reshape(B, rows * cols, cells * cells))


VARIANCE_WEIGHT = 25.0  # VICReg's weights: variance 25, covariance 1 (with less, a level shrinks instead of spreading)


def spread_loss(emb: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """VICReg's variance and covariance terms over a level's tokens (B, N, D) taken as B * N samples: each
    dimension's standard deviation hinged at 1 (x VARIANCE_WEIGHT), plus the squared off-diagonal covariances / D.
    A collapsed level (one direction carrying all its variance) pays for it; one whose dimensions vary
    independently does not."""
    z = emb.reshape(-1, emb.shape[-1]).float()
    if z.shape[0] < 2:
        return z.new_zeros(())
    z = z - z.mean(dim=0)
    std = torch.sqrt(z.var(dim=0) + eps)
    cov = z.T @ z / (z.shape[0] - 1)
    off = cov - torch.diag(torch.diagonal(cov))
    return VARIANCE_WEIGHT * F.relu(1 - std).mean() + off.pow(2).sum() / z.shape[1]


class CoarseTargetHeads(nn.Module):
    """One linear head per coarse level: token embedding -> logits of the sketch of the roll under it."""

    def __init__(self, dims: Sequence[int], levels: int, cells: int = 8, spread: float = 0.0):
        super().__init__()
        self.cells, self.spread = cells, spread
        self.heads = nn.ModuleList(nn.Linear(d, cells * cells) for d in list(dims)[:levels])

    def forward(self, levels: Sequence, x: torch.Tensor) -> torch.Tensor:
        """Mean over the coarse levels of the sketch BCE (+ spread x `spread_loss` of each level's tokens);
        `levels` are PatchStates from coarsest to finest and x the unmasked (B, 1, H, W) windows the sketches are
        taken from."""
        losses = []
        for head, level in zip(self.heads, levels):
            rows, cols = level.grid
            if rows * self.cells > x.shape[-2] or cols * self.cells > x.shape[-1]:
                break  # finer than the roll itself: nothing coarse left to predict
            target = roll_sketch(x, (rows, cols), self.cells)
            loss = F.binary_cross_entropy_with_logits(head(level.emb).float(), target)
            if self.spread > 0:
                loss = loss + self.spread * spread_loss(level.emb)
            losses.append(loss)
        return torch.stack(losses).mean() if losses else x.new_zeros(())

"""Per-level masks, reconstruction metrics and similarity: pure torch/numpy, no plotting (PCA: midi_rae.pca)."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn.functional as F


def patch_mask_to_pixels(mask: torch.Tensor, grid: tuple[int, int], patch: tuple[int, int]) -> torch.Tensor:
    """(B, N) per-patch bool on a row-major grid -> (B, 1, gh*ph, gw*pw) per-pixel bool."""
    B = mask.shape[0]
    m = mask.view(B, 1, grid[0], grid[1]).float()
    return F.interpolate(m, scale_factor=patch, mode="nearest").bool()


def confusion(pred: torch.Tensor, target: torch.Tensor, region: Optional[torch.Tensor] = None) -> dict[str, int]:
    """Pixel counts tp, fp, fn, tn of boolean pred vs target, inside region (all pixels when None)."""
    pred, target = pred.bool(), target.bool()
    if region is None:
        region = torch.ones_like(pred)
    region = region.bool().expand_as(pred)
    return {"tp": int((pred & target & region).sum()), "fp": int((pred & ~target & region).sum()),
            "fn": int((~pred & target & region).sum()), "tn": int((~pred & ~target & region).sum())}


def window_counts(pred: torch.Tensor, target: torch.Tensor, region: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-window tp, fp, fn (B, 3) of boolean (B, 1, H, W) images, inside region when given."""
    if region is not None:
        pred, target = pred & region, target & region
    tp = (pred & target).sum((1, 2, 3))
    return torch.stack([tp, (pred & ~target).sum((1, 2, 3)), (~pred & target).sum((1, 2, 3))], 1)


def add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Sum of two confusion-count dicts."""
    return {k: a.get(k, 0) + b.get(k, 0) for k in ("tp", "fp", "fn", "tn")}


def scores(c: dict[str, int]) -> dict[str, float]:
    """Precision, recall, F1 and specificity from confusion counts (nan where undefined)."""
    tp, fp, fn, tn = c["tp"], c["fp"], c["fn"], c["tn"]
    nan = float("nan")
    p = tp / (tp + fp) if tp + fp else nan
    r = tp / (tp + fn) if tp + fn else nan
    f1 = 2 * tp / (2 * tp + fp + fn) if 2 * tp + fp + fn else nan
    spec = tn / (tn + fp) if tn + fp else nan
    return {"precision": p, "recall": r, "f1": f1, "specificity": spec, **c}


def bridge_baseline(x: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Trivial in-filling: a hidden cell is on when the nearest visible cells left and right in its row are on.

    x: (B, 1, P, T) binary roll; visible: same shape bool. Visible cells keep their values.
    """
    xb = x.bool() & visible
    B, C, P, T = x.shape
    idx = torch.arange(T, device=x.device).expand(B, C, P, T)
    neg = torch.full_like(idx, -1)
    # index of nearest visible cell at or left of each t, and at or right of it
    left = torch.where(visible, idx, neg).cummax(dim=-1).values
    right_src = torch.where(visible, T - 1 - idx, neg).flip(-1).cummax(dim=-1).values.flip(-1)
    right = torch.where(right_src >= 0, T - 1 - right_src, neg)
    on_left = torch.gather(xb.long(), -1, left.clamp(min=0)).bool() & (left >= 0)
    on_right = torch.gather(xb.long(), -1, right.clamp(min=0)).bool() & (right >= 0)
    return torch.where(visible, xb, on_left & on_right)


def mask_generator(seed: int) -> torch.Generator:
    """A CPU generator for reproducible masks."""
    return torch.Generator().manual_seed(int(seed))


@torch.no_grad()
def encode_levels(encoder, x: torch.Tensor, batch_size: int = 64,
                  progress=None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Unmasked embeddings and non-empty masks of every level for (W, 1, H, W) windows, coarsest first.

    Returns per level a float32 (W, N, D) array and a bool (W, N) array.
    """
    device = next(encoder.parameters()).device
    embs: list[list[np.ndarray]] = []
    nes: list[list[np.ndarray]] = []
    for i in range(0, len(x), batch_size):
        out = encoder(x[i:i + batch_size].to(device))
        if not embs:
            embs = [[] for _ in out.patches.levels]
            nes = [[] for _ in out.patches.levels]
        for k, lv in enumerate(out.patches.levels):
            embs[k].append(lv.emb.float().cpu().numpy())
            nes[k].append(lv.non_empty.cpu().numpy())
        if progress is not None:
            progress(min(i + batch_size, len(x)) / len(x))
    return [np.concatenate(e) for e in embs], [np.concatenate(n) for n in nes]


def reconstruction_metrics(x: torch.Tensor, probs: torch.Tensor, mae_mask: torch.Tensor, threshold: float,
                           grid: tuple[int, int], patch: tuple[int, int]) -> dict[str, dict[str, float]]:
    """Scores on the masked patches' pixels and on all pixels (visible ones pasted back from the input)."""
    hidden = ~patch_mask_to_pixels(mae_mask, grid, patch)
    target = x > 0.5
    pred = probs > threshold
    pasted = torch.where(hidden, pred, target)
    return {"masked": scores(confusion(pred, target, hidden)) if hidden.any() else scores(confusion(pred, target, hidden)),
            "all": scores(confusion(pasted, target)),
            "all_raw": scores(confusion(pred, target))}


def level_stats(non_empty: list[np.ndarray]) -> list[dict[str, float]]:
    """Per level, percent non-empty over windows: mean, std, min, max (the spec's statistics table)."""
    rows = []
    for ne in non_empty:
        frac = ne.reshape(ne.shape[0], -1).mean(axis=1) * 100 if len(ne) else np.zeros(1)
        rows.append({"mean": float(frac.mean()), "std": float(frac.std()), "min": float(frac.min()),
                     "max": float(frac.max())})
    return rows




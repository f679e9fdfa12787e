"""Shift and transpose probes: how an encoder's embeddings change when a window moves in time or pitch."""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np
import torch

__all__ = ["probe", "shift_probe", "transpose_probe", "shifted_window"]

Axis = Literal["time", "pitch"]


def shifted_window(roll_array: np.ndarray, start: int, width: int, shift: int, axis: Axis) -> np.ndarray:
    """The (128, width) window at `start` moved by `shift` steps (time) or semitones (pitch), zero padded.

    time: columns start+shift .. start+shift+width-1 of the roll, zeros where that runs off either end.
    pitch: the window at `start` with every row moved up by `shift` (down when negative); notes pushed
    outside pitches 0..127 are dropped.
    """
    roll = np.asarray(roll_array)
    if roll.ndim != 2 or roll.shape[0] != 128:
        raise ValueError(f"expected a (128, T) roll, got shape {roll.shape}")
    out = np.zeros((128, width), dtype=np.float32)
    lo = start + (shift if axis == "time" else 0)
    a, b = max(lo, 0), min(lo + width, roll.shape[1])
    if b > a:
        out[:, a - lo:b - lo] = roll[:, a:b]
    if axis == "time":
        return out
    if axis != "pitch":
        raise ValueError(f"axis must be 'time' or 'pitch', got {axis!r}")
    moved = np.zeros_like(out)
    if 0 <= shift < 128:
        moved[shift:] = out[:128 - shift]
    elif -128 < shift < 0:
        moved[:shift] = out[-shift:]
    return moved


def _cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise cosine similarity, 0 where either row is zero."""
    num = (a * b).sum(-1)
    den = a.norm(dim=-1) * b.norm(dim=-1)
    return torch.where(den > 1e-12, num / den.clamp_min(1e-12), torch.zeros_like(num))


def _level_scores(orig: torch.Tensor, moved: torch.Tensor, non_empty: torch.Tensor, g: int, size: int,
                  shifts: Sequence[int], axis: Axis) -> tuple[np.ndarray, np.ndarray]:
    """(aligned, same_position) mean similarities per shift for one level of grid g x g and patch size `size`."""
    same = _cosine(orig[None], moved)  # (S, N)
    keep = non_empty.bool()
    aligned_out, same_out = np.full(len(shifts), np.nan), np.full(len(shifts), np.nan)
    if not keep.any():
        return aligned_out, same_out
    rows, cols = torch.div(torch.arange(g * g), g, rounding_mode="floor"), torch.arange(g * g) % g
    for i, k in enumerate(shifts):
        same_out[i] = float(same[i][keep].mean())
        if k % size:  # no patch holds the same content: the aligned measure is undefined here
            continue
        # time: content at column c of the original sits at column c - k/s of the window shifted by k;
        # pitch: content at row r sits at row r + k/s of the window transposed by k.
        r2, c2 = (rows, cols - k // size) if axis == "time" else (rows + k // size, cols)
        inside = (r2 >= 0) & (r2 < g) & (c2 >= 0) & (c2 < g) & keep
        if inside.any():
            target = moved[i][(r2 * g + c2)[inside]]
            aligned_out[i] = float(_cosine(orig[inside], target).mean())
    return aligned_out, same_out


@torch.inference_mode()
def probe(encoder, roll_array: np.ndarray, start: int, shifts: Sequence[int], axis: Axis = "time",
          batch_size: int = 64) -> dict:
    """Mean cosine similarity, per shift and level, between a window's embeddings and its shifted copy's.

    For each k in `shifts` the window at `start` is moved by k steps (axis="time": the window
    roll[:, start+k : start+k+128], zero padded) or k semitones (axis="pitch": rows moved up by k,
    notes off the range dropped). The original and every moved window are encoded unmasked in eval
    mode in one pass. At a level with a g x g grid a patch covers s = 128/g steps (or semitones), and
    only the original's non-empty patches count. Returns:

    - "same_position" (S, L): patch (r, c) of the original against patch (r, c) of the moved window
      (invariance: does the embedding at a place ignore the move?).
    - "aligned" (S, L): when k is a multiple of s, patch (r, c) against the patch now holding the same
      content, (r, c - k/s) for time or (r + k/s, c) for pitch, skipping patches whose partner falls off
      the grid (equivariance: does the content's embedding move with it?). When k is not a multiple of
      s no patch holds the same content, so the entry is NaN: the measure is undefined there.
    - "shifts": the shifts as a list of ints.

    Entries are also NaN where no patch counts (an empty window, or every partner off the grid).
    Levels are coarsest first; the encoder's train/eval mode is restored afterwards.
    """
    shifts = [int(k) for k in shifts]
    height, width = encoder.grid_size[0] * encoder.patch_h, encoder.grid_size[1] * encoder.patch_w
    if height != 128:
        raise ValueError(f"the probe needs an encoder over 128 pitch rows, not {height}")
    x = np.stack([shifted_window(roll_array, start, width, 0, axis)]
                 + [shifted_window(roll_array, start, width, k, axis) for k in shifts])
    device = next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    try:
        levels: list[list[torch.Tensor]] = []
        non_empty: list[torch.Tensor] = []
        for i in range(0, len(x), batch_size):
            out = encoder(torch.from_numpy(x[i:i + batch_size])[:, None].to(device))
            if not levels:
                levels = [[] for _ in out.patches.levels]
                non_empty = [lv.non_empty[0].cpu() for lv in out.patches.levels]
            for k, lv in enumerate(out.patches.levels):
                levels[k].append(lv.emb.float().cpu())
    finally:
        encoder.train(was_training)

    L = len(levels)
    aligned, same = np.zeros((len(shifts), L)), np.zeros((len(shifts), L))
    for k in range(L):
        emb = torch.cat(levels[k])  # (1 + S, N, D)
        g = encoder.grid_size[1] >> (L - 1 - k)  # level k's grid side (square here: 128 rows, checked above)
        size = (height if axis == "pitch" else width) // g
        aligned[:, k], same[:, k] = _level_scores(emb[0], emb[1:], non_empty[k], g, size, shifts, axis)
    return {"aligned": aligned, "same_position": same, "shifts": shifts}


def shift_probe(encoder, roll_array: np.ndarray, start: int, shifts: Sequence[int]) -> dict:
    """probe() along time: shifts in steps."""
    return probe(encoder, roll_array, start, shifts, axis="time")


def transpose_probe(encoder, roll_array: np.ndarray, start: int, shifts: Sequence[int]) -> dict:
    """probe() along pitch: shifts in semitones."""
    return probe(encoder, roll_array, start, shifts, axis="pitch")

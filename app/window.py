"""The current window under the current mask: what the encoder sees and what the decoder makes of it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import streamlit as st
import torch

from midi_rae.analysis import masks_for, patch_mask_to_pixels, reconstruction_metrics
from midi_rae.checkpoint import ModelBundle
from midi_rae.pianoroll import PianoRoll, window_at


@dataclass
class WindowResult:
    """One window's masked encoding and reconstruction."""

    start: int                       # first step of the window in the piece
    image: np.ndarray                # (128, W) uint8, the model's input
    mask: np.ndarray                 # (N_finest,) bool, True = visible
    hidden_px: np.ndarray            # (128, W) bool, pixels of masked patches
    level_non_empty: list[np.ndarray]  # per level (g, g) bool
    masked_emb: list[np.ndarray]     # per level (N, D), encoded under the mask
    probs: Optional[np.ndarray]      # (128, W) reconstruction probabilities, None without a decoder
    metrics: Optional[dict]          # scores on masked patches and on all patches
    key: tuple = ()                  # everything this result depends on: keys figure caches


@st.cache_resource(max_entries=64, show_spinner=False)
def compute_window(midi_key: str, ckpt_key: str, spb: int, semis: int, start: int, mask_ratio: float,
                   empty_mask_ratio: float, seed: int, threshold: float, _roll: PianoRoll,
                   _bundle: ModelBundle) -> WindowResult:
    """Encode the window under a reproducible mask and reconstruct it (cached per settings)."""
    enc = _bundle.encoder
    gh, gw = enc.grid_size
    ph, pw = enc.patch_h, enc.patch_w
    image = window_at(_roll, start, gw * pw)
    x = torch.from_numpy(image.astype(np.float32))[None, None]
    mask = masks_for(enc, x, mask_ratio, empty_mask_ratio, seed)
    with torch.no_grad():
        out = enc(x.to(_bundle.device), mae_mask=mask.to(_bundle.device))
    ne = [lv.non_empty[0].cpu().numpy().reshape(lv.grid) for lv in out.patches.levels]
    emb = [lv.emb[0].float().cpu().numpy() for lv in out.patches.levels]
    hidden = ~patch_mask_to_pixels(mask, (gh, gw), (ph, pw))
    probs = metrics = None
    if _bundle.decoder is not None:
        p = torch.sigmoid(_bundle.reconstruct(out).float()).cpu()
        metrics = reconstruction_metrics(x, p, mask, threshold, (gh, gw), (ph, pw))
        probs = p[0, 0].numpy()
    return WindowResult(start=start, image=image, mask=mask[0].numpy(), hidden_px=hidden[0, 0].numpy(),
                        level_non_empty=ne, masked_emb=emb, probs=probs, metrics=metrics,
                        key=(midi_key, ckpt_key, spb, semis, start, mask_ratio, empty_mask_ratio, seed, threshold))

"""Reconstruction along a piece: each window's F1, unmasked and on the patches its own mask hides (the page's mask
for that window), so that a researcher sees where in a piece the model fails, not only in the window shown."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from .inference import MaskSettings


def f1_per_row(c: np.ndarray) -> np.ndarray:
    """F1 per row of (n, 3) tp, fp, fn counts (nan where there is nothing to score)."""
    c = np.asarray(c, dtype=np.float64).reshape(-1, 3)
    den = 2 * c[:, 0] + c[:, 1] + c[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * c[:, 0] / den, np.nan)


@dataclass
class PieceScores:
    """Every window of a piece scored under `settings`: tp, fp, fn counts per window."""

    starts: np.ndarray      # each window's first step (the piece's windows: inference.piece_windows)
    plain: np.ndarray       # (n, 3) the unmasked reconstruction, all pixels
    masked: np.ndarray      # (n, 3) the reconstruction under the window's mask, on the pixels of its hidden patches
    settings: MaskSettings

    def f1(self, kind: str) -> np.ndarray:
        """Each window's F1 of kind "plain" or "masked" (nan where a window has nothing to score)."""
        return f1_per_row(getattr(self, kind))

    def pooled(self, kind: str) -> float:
        """One F1 of all windows' pixels counted together: `inspect`'s figure for the same settings."""
        return float(f1_per_row(getattr(self, kind).sum(0, keepdims=True))[0])


def score_piece(bundle, roll, settings: MaskSettings = MaskSettings(), codes: Optional[tuple] = None,
                batch_size: int = 64) -> PieceScores:
    """Decode every window of `roll` unmasked and under its own mask, and count each window's errors. `codes`: the
    piece's encodings as `ablation.piece_codes` gives them (computed here when not given)."""
    import torch

    from .ablation import take_windows, piece_codes
    from .analysis import patch_mask_to_pixels, window_counts
    from .inference import piece_windows

    if bundle.decoder is None:
        from .checkpoint_meta import CheckpointError

        raise CheckpointError("This checkpoint has no decoder, so there is no reconstruction to score.")
    enc = bundle.encoder
    with torch.no_grad():
        x, masks, plain, masked = codes or piece_codes(bundle, roll, settings)
        hidden = ~patch_mask_to_pixels(masks, enc.grid_size, (enc.patch_h, enc.patch_w))
        target = x > 0.5
        cp, cm = [], []
        for i in range(0, len(x), batch_size):
            s = torch.arange(i, min(i + batch_size, len(x)), device=x.device)
            pp = torch.sigmoid(bundle.reconstruct(take_windows(plain, s)).float()) > settings.threshold
            pm = torch.sigmoid(bundle.reconstruct(take_windows(masked, s)).float()) > settings.threshold
            cp.append(window_counts(pp, target[s]).cpu().numpy())
            cm.append(window_counts(pm, target[s], hidden[s]).cpu().numpy())
    _, starts, _ = piece_windows(roll, bundle.model_config.window_steps)
    return PieceScores(np.asarray(starts), np.concatenate(cp), np.concatenate(cm), settings)


def worst_windows(scores: PieceScores, roll, width: int, scores_b: Optional[PieceScores] = None,
                  n: int = 5) -> list[dict]:
    """The n windows of lowest masked F1 (those with nothing to score left out), worst first, as table rows."""
    from .pianoroll import place

    masked, plain = scores.f1("masked"), scores.f1("plain")
    order = [int(i) for i in np.argsort(masked, kind="stable") if np.isfinite(masked[i])][:n]
    rows = []
    for i in order:
        row = {"Window": place(roll, int(scores.starts[i]), width), "F1, masked patches": float(masked[i]),
               "F1, unmasked": float(plain[i])}
        if scores_b is not None:
            row["B: F1, masked patches"] = float(scores_b.f1("masked")[i])
        rows.append(row)
    return rows


def pooled_sentence(scores: PieceScores, code: Callable[[str], str] = lambda s: f"`{s}`") -> str:
    """The piece's pooled figures in words, as the page and the report give them (`code` marks up a command)."""
    return (f"Over the whole piece (every window's pixels counted together, as {code('midi-rae inspect')} counts them): "
            f"{_f1_text(scores.pooled('masked'), 'F1 ')} on masked patches, {_f1_text(scores.pooled('plain'))} "
            "unmasked")


def _f1_text(v: float, prefix: str = "") -> str:
    """"0.564" after `prefix`, or where nothing was scored (mask ratio 0 hides no patch) "no F1"."""
    return f"{prefix}{v:.3f}" if np.isfinite(v) else "no F1"


def along_title(scores: PieceScores) -> str:
    """The chart's title: how many windows, under which settings."""
    from .wording import counted

    st = scores.settings
    which = "the piece's one window" if len(scores.starts) == 1 else \
        f"each of the piece's {counted(len(scores.starts), 'window')}"
    return f"F1 of {which} (mask ratio {st.mask_ratio:g}, seed {st.seed}, threshold {st.threshold:g})"

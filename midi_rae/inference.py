"""The one path from (model, piece, settings) to what every view shows.

A piece is cut into windows by one rule (`piece_windows`), encoded level by level (`encode_piece`), and a
window is analysed under a reproducible mask (`analyse_window`). Sets of windows are scored at several
thresholds at once (`score_windows`). The dashboard, `inspect`, `report`, `bench`, `evaluate` and training's
validation all call these; none keeps a copy. Metric labels live here too (`METRIC_LABELS`), so every table
names the same numbers the same way.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Sequence

import numpy as np

from .pianoroll import PianoRoll, binary_roll, song_hop, window_at, windows
from .train_config import EVALUATION_SEED

if TYPE_CHECKING:
    import torch

# torch is imported inside the functions that run a model: the dashboard builds its controls from
# MaskSettings and the table helpers here before torch has loaded (see midi_rae.dashboard.page).

__all__ = ["MaskSettings", "stored_threshold", "settings_for", "piece_windows", "PieceEncoding", "encode_piece", "WindowAnalysis",
           "analyse_window", "window_masks", "WindowScores", "score_windows", "METRIC_LABELS", "SCORE_NAMES",
           "metric_rows", "WINDOW_RULE", "windows_text"]

# How a piece becomes windows, in words, for pages and reports that state it.
WINDOW_RULE = ("windows of the model's width, one bar apart (a whole number of bars apart for long pieces, so "
               "that there are at most 240), the last one reaching the final step")



def windows_text(n_windows: int, hop: int, steps_per_bar: int, steps_only: bool = False) -> str:
    """"its 3 windows: windows of the model's width, one bar apart (…) (here 16 steps apart)", as the page and the
    report state how a piece was cut (a PNG roll's bars are blocks of a nominal bar's steps: said so)."""
    from .wording import counted

    rule = WINDOW_RULE if not steps_only else WINDOW_RULE.replace("one bar apart", f"one block of {steps_per_bar} "
                                                                  "steps apart").replace("bars apart", "blocks apart")
    return f"its {counted(n_windows, 'window')}: {rule}" + (f" (here {hop} steps apart)" if n_windows > 1 else "")


# The three places a reconstruction is scored, in the order tables list them.
METRIC_LABELS = {"masked": "Masked patches", "all": "All patches (visible pasted back)",
                 "all_raw": "All patches (raw decoder output)"}
SCORE_NAMES = ("precision", "recall", "f1", "specificity")
# A decoder whose probabilities over a whole window span less than this is taken to ignore its input.
CONSTANT_OUTPUT_SPREAD = 0.05
FEW_VISIBLE_NOTE_PIXELS = 32  # below this (two bars of one note at 4 steps per beat), a flat output is no verdict


@dataclass(frozen=True)
class MaskSettings:
    """How a window is masked and binarized."""

    mask_ratio: float = 0.5         # a non-empty finest patch is hidden with this probability
    empty_mask_ratio: float = 0.05  # an empty finest patch is hidden with probability mask_ratio × this
    seed: int = 0                   # the mask's random seed
    threshold: float = 0.5          # probability above which a reconstructed pixel is a note

    def __post_init__(self) -> None:
        for name, lo, hi in (("mask_ratio", 0.0, 1.0), ("empty_mask_ratio", 0.0, 1.0), ("threshold", 0.0, 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real) or not lo <= v <= hi:  # nan fails too
                raise ValueError(f"{name} must be a number in [{lo:g}, {hi:g}], got {v!r}")


def stored_threshold(bundle) -> float:
    """The binarization threshold a checkpoint stores (chosen on its validation set), 0.5 where it stores none."""
    return float(bundle.meta.get("threshold", 0.5))


def settings_for(bundle, mask_ratio: float = 0.5, empty_mask_ratio: Optional[float] = None, seed: int = 0,
                 threshold: Optional[float] = None) -> MaskSettings:
    """Settings with the checkpoint's own defaults (its empty-mask ratio and validation threshold) filled in."""
    emr = float(bundle.config.get("empty_mask_ratio", 0.05)) if empty_mask_ratio is None else float(empty_mask_ratio)
    thr = stored_threshold(bundle) if threshold is None else float(threshold)
    return MaskSettings(float(mask_ratio), emr, int(seed), thr)


def _window_width(encoder) -> int:
    return encoder.grid_size[1] * encoder.patch_w


def piece_windows(roll: PianoRoll, width: int = 128) -> tuple["torch.Tensor", np.ndarray, int]:
    """(windows (W, 1, 128, width), start steps, hop): the one rule by which a piece becomes windows."""
    hop = song_hop(roll.steps, roll.steps_per_bar, width)
    x, starts = windows(roll, width=width, hop=hop)
    return x, np.asarray(starts), hop


@dataclass
class PieceEncoding:
    """Every window of a piece through the encoder, unmasked."""

    starts: np.ndarray                  # start step of each window
    hop: int                            # steps between window starts
    level_emb: list[np.ndarray]         # per level (W, N, D) float32, coarsest first
    level_non_empty: list[np.ndarray]   # per level (W, N) bool
    stats: list[dict] = field(default_factory=list)  # per level non-empty % over windows (mean, std, min, max)

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return len(self.starts)


def encode_piece(encoder, roll: PianoRoll, batch_size: int = 32,
                 progress: Optional[Callable[[float], None]] = None) -> PieceEncoding:
    """Cut the piece by `piece_windows` and encode every window (progress gets the fraction done)."""
    from .analysis import encode_levels, level_stats

    if not isinstance(roll, PianoRoll):
        raise TypeError(f"encode_piece takes a PianoRoll (midi_to_roll(path)), not {type(roll).__name__}")
    x, starts, hop = piece_windows(roll, _window_width(encoder))
    embs, nes = encode_levels(encoder, x, batch_size=batch_size, progress=progress)
    return PieceEncoding(starts=starts, hop=hop, level_emb=embs, level_non_empty=nes, stats=level_stats(nes))


def window_masks(encoder, x: "torch.Tensor", settings: MaskSettings) -> "torch.Tensor":
    """Reproducible two-rate MAE masks (W, N_finest), True = visible, for windows x."""
    from .analysis import mask_generator
    from .swin import make_mae_mask

    ne = encoder._compute_non_empty(x.cpu())
    return make_mae_mask(ne, settings.mask_ratio, settings.empty_mask_ratio, mask_generator(settings.seed))


def each_window_masks(encoder, x: "torch.Tensor", settings: MaskSettings) -> "torch.Tensor":
    """window_masks of every window on its own (the piece page's mask for each), for many windows in one go.

    On its own every window draws the same noise (a fresh generator, one row), so its mask depends only on
    which of its patches are non-empty: the two-rate rule applied once to an all-non-empty and an all-empty
    row gives every window's mask.
    """
    import torch

    from .analysis import mask_generator
    from .swin import make_mae_mask

    ne = encoder._compute_non_empty(x.cpu())
    row = torch.ones_like(ne[:1])
    visible_if_note, visible_if_empty = (
        make_mae_mask(r, settings.mask_ratio, settings.empty_mask_ratio, mask_generator(settings.seed))
        for r in (row, torch.zeros_like(row)))
    return torch.where(ne.bool(), visible_if_note, visible_if_empty)


@dataclass
class WindowAnalysis:
    """One window's masked encoding and reconstruction."""

    start: int                         # first step of the window in the piece
    image: np.ndarray                  # (128, W) uint8, the model's input
    mask: np.ndarray                   # (N_finest,) bool, True = visible
    hidden_px: np.ndarray              # (128, W) bool, pixels of masked patches
    level_non_empty: list[np.ndarray]  # per level (rows, cols) bool
    masked_emb: list[np.ndarray]       # per level (N, D), encoded under the mask
    probs: Optional[np.ndarray]        # (128, W) reconstruction probabilities, None without a decoder
    metrics: Optional[dict]            # scores under METRIC_LABELS' keys, None without a decoder
    settings: MaskSettings = MaskSettings()
    key: tuple = ()                    # what the result depends on, set by callers that cache figures by it

    @property
    def n_hidden(self) -> int:
        """Finest patches hidden by the mask."""
        return int((~self.mask).sum())

    def output_warning(self, movable: bool = True) -> Optional[str]:
        """One sentence when the reconstruction is (nearly) the same everywhere: an untrained or broken decoder,
        unless the window itself shows the model too few notes to tell (`movable`: another window of the piece
        could show it more)."""
        if self.probs is None:
            return None
        lo, hi = float(np.min(self.probs)), float(np.max(self.probs))
        if hi - lo >= CONSTANT_OUTPUT_SPREAD:
            return None
        visible = int(((np.asarray(self.image) > 0) & ~np.asarray(self.hidden_px, dtype=bool)).sum())
        if not np.asarray(self.image).any():
            return (f"This window holds no notes, so there is nothing to judge the reconstruction by (probabilities "
                    f"{lo:.2f}–{hi:.2f} everywhere); move the window to where the piece plays.")
        if visible < FEW_VISIBLE_NOTE_PIXELS:
            return (f"The model sees only {visible} note pixel{'' if visible == 1 else 's'} in this window, too few "
                    f"to judge its reconstruction (probabilities {lo:.2f}–{hi:.2f} everywhere); "
                    f"{'move the window or lower' if movable else 'lower'} the mask ratio.")
        return (f"This checkpoint's reconstruction is almost the same everywhere (probabilities {lo:.2f}–{hi:.2f}): "
                f"its decoder does not respond to the input, so the reconstruction views show nothing about it.")

    def binary(self, threshold: Optional[float] = None) -> np.ndarray:
        """The binarized reconstruction with the visible patches pasted back from the input."""
        t = self.settings.threshold if threshold is None else threshold
        return np.where(self.hidden_px, self.probs > t, self.image > 0)


def analyse_window(bundle, roll: PianoRoll | np.ndarray, start: int, settings: MaskSettings) -> WindowAnalysis:
    """Encode the window at `start` under a reproducible mask and, with a decoder, reconstruct and score it."""
    import torch

    with torch.no_grad():
        return _analyse_window(bundle, roll, start, settings)


def _analyse_window(bundle, roll: PianoRoll | np.ndarray, start: int, settings: MaskSettings) -> WindowAnalysis:
    import torch

    from .analysis import patch_mask_to_pixels, reconstruction_metrics

    enc = bundle.encoder
    grid, patch = enc.grid_size, (enc.patch_h, enc.patch_w)
    width = _window_width(enc)
    if isinstance(roll, PianoRoll):
        image = window_at(roll, start, width)
    else:  # one window, as the model reads it (start only names it)
        image = binary_roll(roll, "the window")
        if image.shape != (128, width):
            raise ValueError(f"an array is one window of shape (128, {width}), got {image.shape}; for a whole piece "
                             "pass its PianoRoll (midi_to_roll) and the window's start step")
    x = torch.from_numpy(image.astype(np.float32))[None, None]
    mask = window_masks(enc, x, settings)
    out = enc(x.to(bundle.device), mae_mask=mask.to(bundle.device))
    levels = out.patches.levels
    ne = [lv.non_empty[0].cpu().numpy().reshape(lv.grid) for lv in levels]
    emb = [lv.emb[0].float().cpu().numpy() for lv in levels]
    hidden = ~patch_mask_to_pixels(mask, grid, patch)
    probs = metrics = None
    if bundle.decoder is not None:
        p = torch.sigmoid(bundle.reconstruct(out).float()).cpu()
        metrics = reconstruction_metrics(x, p, mask, settings.threshold, grid, patch)
        probs = p[0, 0].numpy()
    return WindowAnalysis(start=int(start), image=image, mask=mask[0].numpy(), hidden_px=hidden[0, 0].numpy(),
                          level_non_empty=ne, masked_emb=emb, probs=probs, metrics=metrics, settings=settings)


@dataclass
class WindowScores:
    """Confusion counts of a set of windows at several thresholds: unmasked, on masked pixels, and pasted back."""

    thresholds: tuple[float, ...]
    counts: dict[float, dict[str, dict[str, int]]]  # threshold -> {"plain"|"masked"|"masked_all": counts}
    baseline: dict[str, int]                        # the bridge baseline on the masked pixels
    windows: int
    mask_ratio: float
    hidden_patches: int = 0                          # finest patches the masks hid, over all windows
    patches: int = 0                                 # finest patches in all windows

    def at(self, threshold: float) -> dict[str, dict[str, float]]:
        """Precision, recall, F1 and specificity of each kind at one of the scored thresholds."""
        from .analysis import scores

        c = self.counts[threshold]
        return {k: {m: v for m, v in scores(c[k]).items() if m in SCORE_NAMES} for k in c}

    def best_threshold(self) -> float:
        """The threshold maximising unmasked F1 + masked F1: choose it on validation windows only."""
        def total(t: float) -> float:
            s = self.at(t)
            return np.nan_to_num(s["plain"]["f1"]) + np.nan_to_num(s["masked"]["f1"])
        return max(self.thresholds, key=total)

    def baseline_f1(self) -> float:
        """F1 of the bridge baseline on the same masked pixels."""
        from .analysis import scores

        return scores(self.baseline)["f1"]


def score_windows(encoder, decode: Callable, x: "torch.Tensor", mask_ratio: float, empty_mask_ratio: float,
                  thresholds: Sequence[float] = (0.5,), seed: int = EVALUATION_SEED, batch_size: int = 64,
                  each_window: bool = False) -> WindowScores:
    """Score windows x (W, 1, H, W) unmasked and under two-rate masks at every threshold in one pass.

    `decode` maps an EncoderOutput to logits (a decoder module, or a bundle's `reconstruct`). The masks are drawn
    in one stream over all the windows (`evaluate`'s protocol, and validation's), or with `each_window` each
    window's own, as the piece page, the report, `ablate` and the index draw it (`each_window_masks`).
    """
    import torch

    with torch.no_grad():
        return _score_windows(encoder, decode, x, mask_ratio, empty_mask_ratio, thresholds, seed, batch_size,
                              each_window)


def _score_windows(encoder, decode, x, mask_ratio, empty_mask_ratio, thresholds, seed, batch_size,
                   each_window=False) -> WindowScores:
    import torch

    from .analysis import add_counts, bridge_baseline, confusion, mask_generator, patch_mask_to_pixels
    from .swin import make_mae_mask

    thresholds = tuple(float(t) for t in thresholds)
    device = next(encoder.parameters()).device
    gen = mask_generator(seed)
    counts = {t: {"plain": {}, "masked": {}, "masked_all": {}} for t in thresholds}
    base: dict[str, int] = {}
    hidden_patches = patches = 0
    grid, patch = encoder.grid_size, (encoder.patch_h, encoder.patch_w)
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device)
        target = xb > 0.5
        probs = torch.sigmoid(decode(encoder(xb)).float())
        if each_window:
            mask = each_window_masks(encoder, xb, MaskSettings(mask_ratio, empty_mask_ratio, seed)).to(device)
        else:
            mask = make_mae_mask(encoder._compute_non_empty(xb).cpu(), mask_ratio, empty_mask_ratio, gen).to(device)
        hidden_patches += int((~mask).sum())
        patches += mask.numel()
        mprobs = torch.sigmoid(decode(encoder(xb, mae_mask=mask)).float())
        hidden = ~patch_mask_to_pixels(mask, grid, patch)
        for t in thresholds:
            c = counts[t]
            c["plain"] = add_counts(c["plain"], confusion(probs > t, target))
            c["masked"] = add_counts(c["masked"], confusion(mprobs > t, target, hidden))
            c["masked_all"] = add_counts(c["masked_all"], confusion(torch.where(hidden, mprobs > t, target), target))
        base = add_counts(base, confusion(bridge_baseline(xb, ~hidden), target, hidden))
    return WindowScores(thresholds, counts, base, int(len(x)), float(mask_ratio), hidden_patches, patches)


def metric_rows(metrics: dict, fmt: Callable[[float], object] = lambda v: v) -> list[dict]:
    """One row per METRIC_LABELS entry: label, precision, recall, F1, specificity and note pixels."""
    rows = []
    for key, label in METRIC_LABELS.items():
        m = metrics[key]
        rows.append({"": label, "Precision": fmt(m["precision"]), "Recall": fmt(m["recall"]), "F1": fmt(m["f1"]),
                     "Specificity": fmt(m["specificity"]), "Note pixels": m["tp"] + m["fn"]})
    return rows


def patch_places(cfg, level: int, starts: np.ndarray) -> dict[str, np.ndarray]:
    """Where every patch of every window sits in the piece, flattened window-major (index = w * N + n).

    Keys: window, patch, step (first step), steps (extent), pitch_lo, semitones (extent), non-empty not included.
    """
    rows, cols = cfg.level_grids[level]
    steps, semis = cfg.patch_extent(level)
    n = rows * cols
    w, p = np.divmod(np.arange(len(starts) * n), n)
    r, c = np.divmod(p, cols)
    return {"window": w, "patch": p, "step": np.asarray(starts)[w] + c * steps, "steps": np.full(len(w), steps),
            "pitch_lo": r * semis, "semitones": np.full(len(w), semis)}


def level_rows(cfg, piece: PieceEncoding, window: Optional[WindowAnalysis] = None) -> list[dict]:
    """The spec's statistics table: per level its grid, patch extent, dim, and non-empty % in the window and piece."""
    out = []
    for k, (rows, cols) in enumerate(cfg.level_grids):
        steps, semis = cfg.patch_extent(k)
        row = {"Level": k, "Grid": f"{rows}×{cols}", "Patch (semitones × steps)": f"{semis}×{steps}",
               "Dim": cfg.level_dims[k]}
        if window is not None:
            row["This window %"] = round(100 * float(window.level_non_empty[k].mean()), 1)
        s = piece.stats[k]
        row.update({"Piece mean %": round(s["mean"], 1), "Std %": round(s["std"], 1), "Min %": round(s["min"], 1),
                    "Max %": round(s["max"], 1)})
        out.append(row)
    return out


def spectrum_rows(cfg, level_emb: list[np.ndarray], specs: list[dict]) -> list[dict]:
    """Per level: grid, dim, points, PC1–3 % of the variance, components for 90%, effective rank and the most
    either can be ("Rank cap": points − 1 or the dimension, whichever is smaller; a short piece's coarse levels
    hit it). With fewer than two points a level has no variance to describe: those columns are None."""
    out = []
    for k, (emb, spec) in enumerate(zip(level_emb, specs)):
        r = spec["explained_ratio"]
        rows, cols = cfg.level_grids[k]
        points, dim = emb.shape[0] * emb.shape[1], emb.shape[-1]
        some = points >= 2
        out.append({"Level": k, "Grid": f"{rows}×{cols}", "Dim": dim, "Points": points,
                    **{f"PC{i + 1} %": round(100 * float(r[i]), 1) if some and len(r) > i else None
                       for i in range(3)},
                    "Components for 90%": spec["n90"] if some else None,
                    "Effective rank": round(float(spec["effective_rank"]), 2) if some else None,
                    "Rank cap": min(points - 1, dim)})
    return out

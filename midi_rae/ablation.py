"""Level ablation: which levels does the decoder actually use?

One level's embeddings are replaced and the windows decoded again; what the reconstruction loses is what the
decoder took from that level. Two replacements (`MODES`):

- "mean": each patch's embedding becomes its mean over the piece's windows (patch by patch, so the level keeps
  what is typical of the piece at each position and loses what is particular to the window);
- "other": each window gets the level of the window least like it, by cosine similarity of the windows'
  unmasked level embeddings pooled over non-empty patches (`structure.pooled_windows`) at that same level.

Both are taken from the encodings under the same condition as the one being decoded: the unmasked scores swap
in unmasked embeddings, the masked scores embeddings of the masked windows (each window under its own mask), so
no unmasked content leaks into a masked reconstruction.

The windows are the piece's (`inference.piece_windows`), the masks each window's own
(`inference.each_window_masks`: the piece page's reconstruction row, the report, `inspect` and the index draw the
same), and the scores `analysis.confusion`/`scores`: F1 on all
pixels of the unmasked reconstruction, and on the masked patches' pixels at the mask ratio. The level that is not
ablated ("none") is the reference every drop is measured from.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .inference import MaskSettings, PieceEncoding, each_window_masks, piece_windows, window_masks
from .pianoroll import PianoRoll, window_at
from .structure import pooled_windows, self_similarity
from .wording import fixed

if TYPE_CHECKING:
    import torch

    from .core import EncoderOutput

__all__ = ["MODES", "MODE_LABELS", "replace_level", "ablated", "farthest_windows", "PieceAblation",
           "ablate_piece", "even_sample", "WindowAblation", "ablate_window", "ablation_rows", "to_json", "cli"]

MODES = ("mean", "other")
MODE_LABELS = {"mean": "its mean over the piece's windows",
               "other": "the least similar window's (pooled cosine at that level)"}
_BATCH = 64


def replace_level(out: "EncoderOutput", level: int, emb: "torch.Tensor") -> "EncoderOutput":
    """A copy of `out` whose level `level` has embeddings `emb` (same shape); the other levels are shared."""
    from .core import EncoderOutput, HierarchicalPatchState

    levels = list(out.patches.levels)
    if emb.shape != levels[level].emb.shape:
        raise ValueError(f"level {level} has embeddings of shape {tuple(levels[level].emb.shape)}, "
                         f"not {tuple(emb.shape)}")
    levels[level] = dataclasses.replace(levels[level], emb=emb)
    return EncoderOutput(HierarchicalPatchState(levels), out.full_pos, out.full_non_empty, out.mae_mask)


def ablated(out: "EncoderOutput", level: int, mode: str, partner: Optional[np.ndarray] = None,
            mean: Optional["torch.Tensor"] = None) -> "EncoderOutput":
    """`out` with level `level` replaced: by `mean` (N, D) (default: the mean over `out`'s own batch) in mode
    "mean", by the embeddings of window `partner[b]` of `out`'s batch for each window b in mode "other"."""
    emb = out.patches.levels[level].emb
    if mode == "mean":
        m = emb.mean(dim=0) if mean is None else mean.to(emb)
        new = m.unsqueeze(0).expand_as(emb)
    elif mode == "other":
        if partner is None:
            raise ValueError("mode 'other' needs each window's partner")
        import torch

        new = emb[torch.as_tensor(np.asarray(partner), device=emb.device, dtype=torch.long)]
    else:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    return replace_level(out, level, new)


ONE_WINDOW = ("the piece fits in one window, so no level can be replaced: its mean over the piece's windows is the "
              "window itself, and there is no other window to swap in; ablate a longer piece.")
ONE_WINDOW_NOTE = ONE_WINDOW[0].upper() + ONE_WINDOW[1:]  # the same, as a page's sentence


def farthest_windows(level_emb: np.ndarray, non_empty: np.ndarray) -> np.ndarray:
    """(W,) for each window the index of the least cosine-similar other window (pooled over non-empty patches;
    ties go to the earliest). A piece of one window has no other: ValueError."""
    sim = self_similarity(pooled_windows(level_emb, non_empty))
    if len(sim) < 2:
        raise ValueError("the piece has one window, so there is no other window to swap in; use mode 'mean'.")
    np.fill_diagonal(sim, np.inf)
    return np.argmin(sim, axis=1)


def take_windows(out: "EncoderOutput", idx) -> "EncoderOutput":
    """The windows `idx` (a slice or an index tensor) of a batch's EncoderOutput."""
    from .core import EncoderOutput, HierarchicalPatchState

    def cut(m):
        return m[idx] if m.dim() == 2 else m
    levels = [dataclasses.replace(lv, emb=lv.emb[idx], non_empty=lv.non_empty[idx], mae_mask=cut(lv.mae_mask))
              for lv in out.patches.levels]
    return EncoderOutput(HierarchicalPatchState(levels), out.full_pos, out.full_non_empty[idx], cut(out.mae_mask))


def _encode(encoder, x: "torch.Tensor", mask: Optional["torch.Tensor"]) -> "EncoderOutput":
    """Every window through the encoder in batches, joined back into one EncoderOutput."""
    import torch

    from .core import EncoderOutput, HierarchicalPatchState

    parts = [encoder(x[i:i + _BATCH], mae_mask=None if mask is None else mask[i:i + _BATCH])
             for i in range(0, len(x), _BATCH)]
    if len(parts) == 1:
        return parts[0]

    def join(ts):
        return torch.cat(ts) if ts[0].dim() == 2 else ts[0]
    first = parts[0]
    levels = [dataclasses.replace(lv, emb=torch.cat([p.patches.levels[k].emb for p in parts]),
                                  non_empty=torch.cat([p.patches.levels[k].non_empty for p in parts]),
                                  mae_mask=join([p.patches.levels[k].mae_mask for p in parts]))
              for k, lv in enumerate(first.patches.levels)]
    return EncoderOutput(HierarchicalPatchState(levels), first.full_pos,
                         torch.cat([p.full_non_empty for p in parts]), join([p.mae_mask for p in parts]))


@dataclass
class PieceAblation:
    """Scores of the piece's windows with each level ablated in turn ("none" = nothing ablated)."""

    mode: str
    settings: MaskSettings
    windows: int              # windows scored
    plain: dict[str, dict]    # "none" | "level k" -> scores of the unmasked reconstruction, all pixels
    masked: dict[str, dict]   # same keys -> scores on the masked patches' pixels at settings.mask_ratio
    partners: list[np.ndarray] = field(default_factory=list)  # mode "other": per level, each window's partner
    grids: list[tuple[int, int]] = field(default_factory=list)
    of_windows: int = 0       # the piece's windows (more than `windows` when a sample of them was scored)

    @property
    def levels(self) -> list[int]:
        """The levels ablated, coarsest first."""
        return [int(k.split()[1]) for k in self.plain if k != "none"]

    def f1(self, kind: str, level: Optional[int] = None) -> float:
        """F1 of kind "plain" or "masked", with `level` ablated (None: nothing ablated)."""
        return getattr(self, kind)["none" if level is None else f"level {level}"]["f1"]

    def drop(self, kind: str, level: int) -> float:
        """F1 lost by ablating `level` (positive = worse)."""
        return self.f1(kind) - self.f1(kind, level)


def _piece_codes(bundle, x: "torch.Tensor", settings: MaskSettings):
    enc = bundle.encoder
    x = x.to(bundle.device)
    masks = each_window_masks(enc, x, settings).to(bundle.device)  # each window's own: the page's, the index's
    return x, masks, _encode(enc, x, None), _encode(enc, x, masks)


def piece_codes(bundle, roll: PianoRoll, settings: MaskSettings = MaskSettings()) -> tuple:
    """(windows, masks, unmasked encoding, masked encoding) of the piece's windows under `settings`: what both
    ablations read. A caller that ablates window after window computes it once and passes it as `codes` (without
    it, each window re-encoded the whole piece twice: 1.3-1.5 s a step on a 100-bar piece)."""
    import torch

    with torch.no_grad():
        x, _, _ = piece_windows(roll, bundle.model_config.window_steps)
        return _piece_codes(bundle, x, settings)


def even_sample(n: int, limit: Optional[int]) -> np.ndarray:
    """Indices of `limit` of `n` items, evenly spaced from the first to the last (all of them when n <= limit)."""
    if limit is None or n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max(int(limit), 1)).round().astype(np.int64))


def ablate_piece(bundle, roll: PianoRoll, mode: str = "mean", settings: MaskSettings = MaskSettings(),
                 levels: Optional[Sequence[int]] = None, piece: Optional[PieceEncoding] = None,
                 codes: Optional[tuple] = None, max_windows: Optional[int] = None) -> PieceAblation:
    """Decode the piece's windows with each level in `levels` (default: all) ablated in turn, and score.

    Every window is scored, or with `max_windows` that many of them, evenly spaced (each costs 2 decodes per
    level); the mean and the partners still come from all of them. In mode "other" the partners are chosen on
    `piece` (the piece's unmasked encoding, as the dashboard's structure views pool it) when given, else on the
    same unmasked encoding computed here.
    """
    import torch

    with torch.no_grad():
        return _ablate_piece(bundle, roll, mode, settings, levels, piece, codes, max_windows)


def _ablate_piece(bundle, roll, mode, settings, levels, piece, codes, max_windows) -> PieceAblation:
    import torch

    from .analysis import add_counts, confusion, patch_mask_to_pixels, scores

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if bundle.decoder is None:
        from .checkpoint_meta import CheckpointError

        raise CheckpointError("This checkpoint has no decoder, so there is nothing to ablate.")
    enc = bundle.encoder
    cfg = bundle.model_config
    x, masks, plain, masked = codes or piece_codes(bundle, roll, settings)
    if len(x) < 2:  # either replacement would put the window's own embeddings back
        raise ValueError(ONE_WINDOW)
    L = len(plain.patches.levels)
    levels = list(range(L)) if levels is None else [int(k) for k in levels]
    partners: list[np.ndarray] = []
    if mode == "other":
        embs = piece.level_emb if piece is not None else [lv.emb.float().cpu().numpy() for lv in plain.patches]
        nes = piece.level_non_empty if piece is not None else [lv.non_empty.cpu().numpy() for lv in plain.patches]
        partners = [farthest_windows(e, n) for e, n in zip(embs, nes)]
    grid, patch = enc.grid_size, (enc.patch_h, enc.patch_w)
    hidden = ~patch_mask_to_pixels(masks, grid, patch)
    target = x > 0.5
    thr = settings.threshold
    scored = torch.as_tensor(even_sample(len(x), max_windows), device=x.device)

    def counts(out_plain, out_masked) -> tuple[dict, dict]:
        cp: dict = {}
        cm: dict = {}
        for i in range(0, len(scored), _BATCH):
            s = scored[i:i + _BATCH]
            pp = torch.sigmoid(bundle.reconstruct(take_windows(out_plain, s)).float()) > thr
            pm = torch.sigmoid(bundle.reconstruct(take_windows(out_masked, s)).float()) > thr
            cp = add_counts(cp, confusion(pp, target[s]))
            cm = add_counts(cm, confusion(pm, target[s], hidden[s]))
        return scores(cp), scores(cm)

    res_plain, res_masked = {}, {}
    res_plain["none"], res_masked["none"] = counts(plain, masked)
    for k in levels:
        partner = partners[k] if mode == "other" else None
        res_plain[f"level {k}"], res_masked[f"level {k}"] = counts(ablated(plain, k, mode, partner),
                                                                   ablated(masked, k, mode, partner))
    return PieceAblation(mode, settings, int(len(scored)), res_plain, res_masked, partners, list(cfg.level_grids),
                         of_windows=int(len(x)))


@dataclass
class WindowAblation:
    """One window decoded with each level ablated in turn, under the window's own mask (as analyse_window)."""

    start: int
    mode: str
    settings: MaskSettings
    image: np.ndarray                # (128, W) uint8
    hidden_px: np.ndarray            # (128, W) bool, pixels of masked patches
    probs: dict[str, np.ndarray]     # "none" | "level k" -> (128, W) probabilities
    metrics: dict[str, dict]         # same keys -> reconstruction_metrics (masked / all / all_raw)
    partner_starts: dict[str, int] = field(default_factory=dict)  # mode "other": the window swapped in, per level

    def binary(self, key: str) -> np.ndarray:
        """The raw binarized reconstruction (nothing pasted back) of `key`."""
        return self.probs[key] > self.settings.threshold


def ablate_window(bundle, roll: PianoRoll, start: int, mode: str = "mean", settings: MaskSettings = MaskSettings(),
                  levels: Optional[Sequence[int]] = None, piece: Optional[PieceEncoding] = None,
                  codes: Optional[tuple] = None) -> WindowAblation:
    """The window at `start`, encoded under its own mask (the reconstruction view's), decoded with each level
    ablated: replaced by the mean of that level over the piece's windows under the same settings, or by the
    level of the piece window least like this one (pooled cosine of unmasked embeddings at that level)."""
    import torch

    with torch.no_grad():
        return _ablate_window(bundle, roll, start, mode, settings, levels, piece, codes)


def _ablate_window(bundle, roll, start, mode, settings, levels, piece, codes) -> WindowAblation:
    import torch

    from .analysis import patch_mask_to_pixels, reconstruction_metrics

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    enc = bundle.encoder
    cfg = bundle.model_config
    width = cfg.window_steps
    grid, patch = enc.grid_size, (enc.patch_h, enc.patch_w)
    image = window_at(roll, start, width)
    x1 = torch.from_numpy(image.astype(np.float32))[None, None].to(bundle.device)
    mask = window_masks(enc, x1, settings).to(bundle.device)
    out = enc(x1, mae_mask=mask)
    _, _, plain, source = codes or piece_codes(bundle, roll, settings)  # the piece under the same settings
    L = len(out.patches.levels)
    levels = list(range(L)) if levels is None else [int(k) for k in levels]
    if mode == "other":
        starts = piece.starts if piece is not None else piece_windows(roll, width)[1]  # (not every step: the cut)
        own = enc(x1)  # the window's unmasked embeddings choose its partner
        piece_emb = piece.level_emb if piece is not None else [lv.emb.float().cpu().numpy() for lv in plain.patches]
        piece_ne = piece.level_non_empty if piece is not None else [lv.non_empty.cpu().numpy() for lv in plain.patches]
    probs, metrics, partner_starts = {}, {}, {}
    for key in ["none"] + [f"level {k}" for k in levels]:
        o = out
        if key != "none":
            k = int(key.split()[1])
            emb = source.patches.levels[k].emb
            if mode == "mean":
                o = ablated(out, k, "mean", mean=emb.mean(dim=0))
            else:
                lv = own.patches.levels[k]
                v = pooled_windows(lv.emb.float().cpu().numpy(), lv.non_empty.cpu().numpy())
                sims = self_similarity(np.concatenate([v, pooled_windows(piece_emb[k], piece_ne[k])]))[0, 1:]
                j = int(np.argmin(sims))
                partner_starts[key] = int(starts[j])
                o = replace_level(out, k, emb[j:j + 1])
        p = torch.sigmoid(bundle.reconstruct(o).float()).cpu()
        metrics[key] = reconstruction_metrics(x1.cpu(), p, mask.cpu(), settings.threshold, grid, patch)
        probs[key] = p[0, 0].numpy()
    hidden = ~patch_mask_to_pixels(mask.cpu(), grid, patch)
    return WindowAblation(int(start), mode, settings, image, hidden[0, 0].numpy(), probs, metrics, partner_starts)


def _f(v: float) -> Optional[float]:
    """A JSON value: 4 places, None for none, and 0.0 for a change that rounds to nothing (no -0.0)."""
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 4) + 0.0


def _r(v: Optional[float]) -> float:
    """A table's value, nan (not None) where there is none, so every column stays numeric. Not rounded: each view
    rounds once, as the drop chart's labels do (0.39645 rounded to 4 places, then 3, printed 0.397 beside the
    chart's 0.396)."""
    return float("nan") if v is None or math.isnan(v) else float(v)


def ablation_rows(res: PieceAblation) -> list[dict]:
    """One row per level (and one for nothing ablated): F1 unmasked and masked, and the drops (nan: none)."""
    rows = []
    for key in res.plain:
        k = None if key == "none" else int(key.split()[1])
        grid = "" if k is None else "{}×{}".format(*res.grids[k]) if res.grids else ""
        rows.append({"Ablated": "nothing" if k is None else f"level {k}", "Grid": grid,
                     "F1 unmasked": _r(res.plain[key]["f1"]),
                     "Drop unmasked": _r(None if k is None else res.drop("plain", k)),
                     f"F1 masked ({res.settings.mask_ratio:g})": _r(res.masked[key]["f1"]),
                     "Drop masked": _r(None if k is None else res.drop("masked", k))})
    return rows


def to_json(res: PieceAblation) -> dict:
    """A PieceAblation as plain JSON-ready values."""
    def sc(d):
        return {m: _f(d[m]) for m in ("precision", "recall", "f1")}
    return {"mode": res.mode, "replacement": MODE_LABELS[res.mode], "windows": res.windows,
            "of_windows": res.of_windows,
            "mask_ratio": res.settings.mask_ratio, "empty_mask_ratio": res.settings.empty_mask_ratio,
            "seed": res.settings.seed, "threshold": res.settings.threshold,
            "none": {"unmasked": sc(res.plain["none"]), "masked": sc(res.masked["none"])},
            "levels": [{"level": k, "unmasked": sc(res.plain[f"level {k}"]), "masked": sc(res.masked[f"level {k}"]),
                        "drop_unmasked": _f(res.drop("plain", k)), "drop_masked": _f(res.drop("masked", k))}
                       for k in res.levels]}


def cli(a, early=None) -> int:
    """`midi-rae ablate`: the piece's ablation table, or one JSON object with --json (`early`: the piece as the
    command line read it before loading the model)."""
    import json
    from pathlib import Path

    from .checkpoint import load_model
    from .inference import settings_for
    from .png_rolls import read_roll_once

    bundle = load_model(a.checkpoint, decoder=a.decoder)
    if bundle.decoder is None:
        from .checkpoint_meta import CheckpointError

        name = Path(a.checkpoint).name if a.checkpoint else "The checkpoint"
        raise CheckpointError(f"{name} has no decoder, so there is nothing to ablate (pass --decoder FILE).")
    spb = a.steps_per_beat or bundle.model_config.steps_per_beat or 4
    roll = read_roll_once(early, a.file, spb, sustain_pedal=a.sustain_pedal)  # MIDI or a PNG piano roll
    settings = settings_for(bundle, a.mask_ratio, a.empty_mask_ratio, a.seed, a.threshold)
    import sys

    if sys.stderr.isatty():  # a long piece under a large model takes minutes: say what is going on
        print(f"Ablating each of {bundle.num_levels} levels over every window of {roll.name} (encoded once per mask "
              f"setting, decoded once per level)…", file=sys.stderr, flush=True)
    try:
        res = ablate_piece(bundle, roll, a.mode, settings)
    except ValueError as e:  # a piece of one window
        print(f"error: {e}", file=sys.stderr)
        return 1
    if a.json:
        print(json.dumps({"file": str(a.file), "checkpoint": bundle.source, **to_json(res)}))
        return 0
    print(f"{a.file}: {res.windows} windows; each level in turn replaced by {MODE_LABELS[res.mode]}")
    print(f"mask ratio {settings.mask_ratio:g} (empty {settings.empty_mask_ratio:g}), seed {settings.seed}, "
          f"threshold {settings.threshold:g}; checkpoint {bundle.source}"
          + (f" + decoder {a.decoder}" if a.decoder else ""))
    rows = ablation_rows(res)
    cols = list(rows[0])
    width = {c: max(len(c), 8) for c in cols}
    print("  ".join(f"{c:>{width[c]}}" for c in cols))
    def cell(v) -> str:
        return v if isinstance(v, str) else "—" if math.isnan(v) else fixed(v, 4)
    for r in rows:
        print("  ".join(f"{cell(r[c]):>{width[c]}}" for c in cols))
    return 0

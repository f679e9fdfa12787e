"""Scoring a model on sets of pieces: training's validation and the `evaluate` command, written once.

The threshold is chosen on validation windows only (`validation_metrics`, during training; it is stored in the
checkpoint as meta["threshold"]). `evaluate_files` never chooses one: it scores at the checkpoint's stored
threshold (or one given explicitly), so its figures on a test split are untouched by any tuning.
All scoring goes through `inference.score_windows`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Optional, Sequence

import torch

from .cli_types import MAX_SEED
from .file_limits import discover, unmatched
from .inference import SCORE_NAMES, WindowScores, score_windows
from .train_config import EVALUATION_SEED
from .train_data import evaluation_windows

VALIDATION_THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)  # the candidates validation chooses among
DEFAULT_THRESHOLD = 0.5                              # for checkpoints that store none
SPLITS = ("all", "test", "validation")


def _r(v: float) -> Optional[float]:
    return None if v is None or math.isnan(v) else round(float(v), 4)


def summarize(ws: WindowScores, threshold: float) -> dict:
    """The scores of a set of windows at one of its thresholds (and F1 at 0.5 when that was scored too):
    unmasked ("plain"), on the masked pixels ("masked"), masked with the visible pixels pasted back
    ("masked_all"), and the bridge baseline's F1 on the same masked pixels. Undefined values are None."""
    s = ws.at(threshold)
    res = {"threshold": threshold, "windows": ws.windows, "mask_ratio": ws.mask_ratio}
    for kind in ("plain", "masked", "masked_all"):
        res[kind] = {m: _r(s[kind][m]) for m in SCORE_NAMES}
    if DEFAULT_THRESHOLD in ws.thresholds:
        at = ws.at(DEFAULT_THRESHOLD)
        res["at_0.5"] = {k: _r(at[k]["f1"]) for k in ("plain", "masked")}
    res["bridge_baseline_masked_f1"] = _r(ws.baseline_f1())
    return res


def validation_metrics(encoder, decode: Callable, windows: torch.Tensor, mask_ratio: float,
                       empty_mask_ratio: float) -> dict:
    """Scores of validation windows at the threshold that is best on them (unmasked F1 + masked F1)."""
    ws = score_windows(encoder, decode, windows, mask_ratio, empty_mask_ratio, VALIDATION_THRESHOLDS)
    return summarize(ws, ws.best_threshold())


def select_files(paths: Sequence[str | Path], split: str = "all", meta: Optional[dict] = None,
                 only: Optional[str | Path] = None, checkpoint: str = "this checkpoint") -> list[Path]:
    """MIDI files and PNG piano rolls under paths (folders searched recursively), kept to a run's recorded split
    and/or to the names listed in the text file `only`. Raises ValueError with one sentence when the split is not
    recorded."""
    for p in map(Path, paths):
        if p.exists() and not p.is_dir() and not p.is_file():  # a pipe, a device, a socket named outright
            raise ValueError(f"{p} is not a regular file (a pipe, a device or a socket), so it was not read; give "
                             f"MIDI or PNG files, or folders.")
    # as `index` finds them: each file once (named twice, or through a folder and a link, it was scored twice), and
    # an entry named like a MIDI file that is none (a folder x.mid, a pipe, a link loop) listed with its reason
    files, missing = discover(paths)
    gone = [m for m in missing if not Path(m).expanduser().is_dir()]  # an empty folder is said by the caller
    if gone:
        raise ValueError(f"{unmatched(gone[0])}.")
    if split != "all":
        key = {"test": "test_names", "validation": "val_names"}[split]
        names = (meta or {}).get("data", {}).get(key)
        if names is None:
            raise ValueError(f"{checkpoint} records no {split} split (only `midi-rae train` records one, since its "
                             f"three-way split); pass --only with a list of untouched files instead.")
        files = [f for f in files if f.name in set(names)]
    if only is not None:
        keep = {line.strip() for line in _name_list(Path(only)).splitlines() if line.strip()}  # names may hold spaces
        files = [f for f in files if f.name in keep or str(f) in keep]
    return files


def _name_list(path: Path, limit: int = 8 * 2 ** 20) -> str:
    """The text of a list of file names (--only), read no further than `limit`; ValueError in one sentence."""
    from .file_limits import read_within

    try:
        raw = read_within(path, limit)
    except OSError as e:
        raise ValueError(f"{path.name} could not be read ({e.strerror or type(e).__name__}).") from None
    if raw is None:
        raise ValueError(f"{path.name} is over {limit // 2 ** 20} MB; a list of file names is far smaller.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path.name} is not a text file of file names (UTF-8).") from None


def evaluate_files(bundle, files: Sequence[Path], threshold: Optional[float] = None, mask_ratio: float = 0.5,
                   max_windows: int = 2000, workers: int = 1, seed: int = EVALUATION_SEED) -> dict:
    """Scores of a checkpoint on MIDI files at the checkpoint's stored validation threshold (meta["threshold"],
    else 0.5) or at `threshold` when given; nothing is chosen on the windows scored."""
    if threshold is not None:
        thr, source = float(threshold), "argument"
    elif "threshold" in bundle.meta:
        thr, source = float(bundle.meta["threshold"]), "checkpoint"
    else:
        thr, source = DEFAULT_THRESHOLD, "default"
    if not 0 <= seed <= MAX_SEED:  # torch would take a negative seed, and numpy refuses one: neither is asked for
        raise ValueError(f"--seed {seed} is not a seed: a seed is a whole number from 0 to {MAX_SEED:,}.")
    from .threads import configure

    configure()
    enc = bundle.encoder
    width = enc.grid_size[1] * enc.patch_w
    skipped: dict[str, str] = {}
    x, readable = evaluation_windows(files, bundle.config.get("steps_per_beat") or 4, width, max_windows, workers,
                                     skipped)
    if not len(x):
        if len(files) == 1 and skipped:  # the one file's own reason
            raise ValueError(f"{Path(files[0]).name}: {next(iter(skipped.values()))}")
        why = ""
        if skipped:
            path, reason = next(iter(skipped.items()))
            why = f" ({len(skipped)} could not be read, the first {Path(path).name}: {reason.rstrip('.')})"
        raise ValueError(f"none of the {len(files)} files has a readable, non-empty window to score{why}.")
    ws = score_windows(enc, bundle.reconstruct, x, mask_ratio, bundle.config.get("empty_mask_ratio", 0.05),
                       sorted({thr, DEFAULT_THRESHOLD}), seed=seed)
    return {**summarize(ws, thr), "seed": int(seed), "threshold_source": source, "files": len(files),
            "readable": len(readable), "skipped": skipped}

"""The training run's configuration and the train command's flags, importable without torch.

`python -m midi_rae train --help` builds its parser from `TrainConfig`; keeping both here means the CLI's
help never imports torch. midi_rae.train imports all three names from this module.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

# the masks' seed wherever windows are scored in one stream (`score_windows`: training's validation, `evaluate`,
# the model cards); inspect, ablate, the report, the index and the dashboard draw each window's own mask with
# MaskSettings' own seed, 0 (`inference.each_window_masks`)
EVALUATION_SEED = 1234


class ConfigError(ValueError):
    """A train config that cannot run, in one sentence; `usage` is True when the flags themselves are wrong
    (a value out of range) and False when a file they name is missing."""

    def __init__(self, message: str, usage: bool = True):
        super().__init__(message)
        self.usage = usage


@dataclass
class TrainConfig:
    """Everything a run depends on; saved into every checkpoint."""

    midi_dir: str = ""
    out: str = "runs/latest"
    seven_level: bool = False
    steps_per_beat: int = 4
    batch_size: int = 32
    max_steps: int = 20000
    minutes: float = 0.0              # stop after this wall time, decaying the LR over it (0 = by steps)
    lr: float = 2e-3
    min_lr: float = 5e-5
    warmup_steps: int = 200
    weight_decay: float = 0.05
    drop_path: float = 0.0            # the model is small and underfits: no stochastic depth by default
    mask_ratio: float = 0.5           # masked batches draw a ratio in [mask_ratio/2, mask_ratio*1.5]
    empty_mask_ratio: float = 0.05
    masked_fraction: float = 0.5      # share of windows in a batch that are masked
    pos_weight: float = 2.0
    masked_weight: float = 2.0        # extra BCE weight on pixels of masked patches
    dice_weight: float = 0.5          # soft-F1 term on masked pixels (BCE alone under-fills masked notes)
    max_transpose: int = 6
    val_fraction: float = 0.1
    val_windows: int = 256
    val_every: int = 500
    ckpt_every: int = 250
    seed: int = 0
    mae_decoder: bool = False         # also train the spec's SwinMAEDecoder head
    mep: bool = False                 # also train the SwinMaskedEmbeddingPredictor head
    workers: int = 2
    resume: str = ""
    device: str = ""

    threads: int = 0                  # torch CPU threads (0 = torch's default)
    files_from: str = ""              # a text file of paths relative to --midi-dir: train on exactly these
    init: str = ""                    # start from this checkpoint's weights (a fresh optimizer, step 0)

    # augmentations (midi_rae.augment), each the share of training windows it changes; all off by default
    time_compress: float = 0.0        # a 2x-long crop rendered at half the time resolution
    superpose: float = 0.0            # OR-ed with a window of another piece
    superpose_transpose: int = 12     # that window's own random transposition, up to this either way
    octave_double: float = 0.0        # doubled an octave up or down
    articulate: float = 0.0           # long notes split into repeated short ones, or shortened

    # using the hierarchy
    skip_drop: float = 0.0            # share of windows whose finest levels reach the decoder as zeros
    skip_drop_levels: int = 3         # such a window loses its finest k levels, k drawn from 1..this
    lateral_drop: float = 0.0         # share of windows in which each level of --lateral-drop-levels is zeroed
    lateral_drop_levels: str = "3"    # comma-separated levels that --lateral-drop zeroes, each on its own draw
    coarse_targets: float = 0.0       # weight of the multi-scale targets: coarse tokens predict a sketch of the roll
    coarse_target_levels: int = 3     # how many of the coarsest levels get such a target
    coarse_spread: float = 0.0        # with --coarse-targets: VICReg variance-covariance terms on those levels

    def lateral_levels(self) -> tuple[int, ...]:
        """The levels --lateral-drop zeroes; ValueError for anything but comma-separated non-negative integers."""
        levels = tuple(int(t) for t in self.lateral_drop_levels.split(",") if t.strip())
        if any(k < 0 for k in levels):
            raise ValueError(self.lateral_drop_levels)
        return levels

    def model_config(self) -> dict:
        """The architecture config that goes into the checkpoint."""
        from .checkpoint_meta import DEFAULT_CONFIG, SEVEN_LEVEL_CONFIG

        base = SEVEN_LEVEL_CONFIG if self.seven_level else DEFAULT_CONFIG
        return {**base, "steps_per_beat": self.steps_per_beat, "empty_mask_ratio": self.empty_mask_ratio,
                "drop_path_rate": self.drop_path}


# the help of each flag, by TrainConfig field (every field has one: tests/test_cli.py checks every flag's help)
FIELD_HELP = {
    "midi_dir": "folder of .mid/.midi files (searched recursively)",
    "out": "folder for checkpoints (last.safetensors, best.safetensors)",
    "seven_level": "the 7-level variant (patch 2, embed_dim 4)",
    "steps_per_beat": "time resolution of the piano roll",
    "batch_size": "windows per optimizer step",
    "max_steps": "stop after this many optimizer steps",
    "minutes": "stop after this wall time, decaying the learning rate over it (0 = stop by --max-steps)",
    "lr": "peak learning rate (AdamW)",
    "min_lr": "learning rate at the end of the cosine decay",
    "warmup_steps": "steps of linear learning-rate warm-up",
    "weight_decay": "AdamW weight decay",
    "drop_path": "stochastic-depth rate of the encoder",
    "mask_ratio": "masked batches draw a mask ratio in [R/2, 1.5R]; at most 0.66",
    "empty_mask_ratio": "empty patches are masked too, at this times the window's mask ratio",
    "masked_fraction": "share of the windows in a batch that are masked",
    "pos_weight": "BCE weight of note pixels (notes are rare)",
    "masked_weight": "extra BCE weight on the pixels of masked patches",
    "dice_weight": "weight of the soft-F1 term on masked pixels",
    "max_transpose": "random transposition of training windows, up to this many semitones either way",
    "val_fraction": "share of the files held out for validation, in (0, 1)",
    "val_windows": "validation windows scored at each evaluation",
    "val_every": "evaluate every this many steps",
    "ckpt_every": "write last.safetensors every this many steps",
    "seed": "random seed (file split, masks, batches)",
    "mae_decoder": "also train a SwinMAEDecoder head",
    "mep": "also train a SwinMaskedEmbeddingPredictor head",
    "workers": "processes that read MIDI files",
    "resume": "continue from this run folder or checkpoint",
    "device": "cpu, cuda or cuda:N (default: cuda when available)",
    "threads": "torch CPU threads (0 = torch's default)",
    "files_from": "a text file of paths relative to --midi-dir: train on exactly these",
    "init": "start from this checkpoint's weights, with a fresh optimizer and schedule at step 0 "
            "(ignored with --resume, which restores the run's own weights)",
    "time_compress": "share of training windows cut twice as long and rendered at half the time resolution "
                     "(shorter notes)",
    "superpose": "share of training windows OR-ed with a window of another piece (denser, multi-voice textures)",
    "superpose_transpose": "the superposed window's own random transposition, up to this many semitones either way",
    "octave_double": "share of training windows doubled an octave up or down (wider range)",
    "articulate": "share of training windows whose notes are split into repeated short notes or shortened",
    "skip_drop": "share of training windows whose finest levels reach the decoder as zeros, so it must "
                 "reconstruct from the coarse levels",
    "skip_drop_levels": "a window chosen by --skip-drop loses its finest k levels, k drawn from 1 to this",
    "lateral_drop": "share of training windows in which each level named by --lateral-drop-levels reaches the "
                    "decoder as zeros (drawn per level), so the decoder must carry that level's view through the "
                    "coarser ones",
    "lateral_drop_levels": "comma-separated levels (0 = coarsest) that --lateral-drop zeroes",
    "coarse_targets": "weight of the multi-scale reconstruction targets: each token of the coarsest levels "
                      "predicts an 8x8 max-pooled sketch of the whole (unmasked) roll under it (0 = off)",
    "coarse_target_levels": "how many of the coarsest levels get a multi-scale target",
    "coarse_spread": "with --coarse-targets, weight (relative to the targets) of VICReg's variance and covariance "
                     "terms on those levels' tokens, against a level collapsing to a few directions",
}


MAX_BATCH = 4096      # windows in one training batch
MAX_COUNT = 256       # data-loading workers and torch threads
MAX_TRANSPOSE = 48    # semitones either way (four octaves)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The train command's flags, one per TrainConfig field."""
    d = TrainConfig()
    p.add_argument("--midi-dir", required=True, help=FIELD_HELP["midi_dir"])
    p.add_argument("--out", default=None, help=FIELD_HELP["out"] + f" (default: the --resume run's folder, else {d.out})")
    p.add_argument("--seven-level", action="store_true", help=FIELD_HELP["seven_level"])
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("midi_dir", "out", "seven_level", "mae_decoder", "mep"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f" (default: {f.default})" if f.default != "" else ""
        p.add_argument(flag, type=type(f.default), default=f.default, help=FIELD_HELP[f.name] + default)
    p.add_argument("--mae-decoder", action="store_true", help=FIELD_HELP["mae_decoder"])
    p.add_argument("--mep", action="store_true", help=FIELD_HELP["mep"])


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    """TrainConfig from parsed flags, with the checks that give clear messages.

    Raises ConfigError: usage=True for values out of range, usage=False for a named file that is missing."""
    values = {f.name: getattr(a, f.name) for f in dataclasses.fields(TrainConfig)}
    if values["out"] is None:  # a resumed run goes on writing where it was: not half in runs/latest
        resumed = Path(values["resume"]) if values["resume"] else None
        values["out"] = (str(resumed if resumed.is_dir() else resumed.parent) if resumed is not None
                         else TrainConfig().out)
    cfg = TrainConfig(**values)
    problems = [f"--{f.name.replace('_', '-')} must be a finite number" for f in dataclasses.fields(TrainConfig)
                if isinstance(getattr(cfg, f.name), float) and not math.isfinite(getattr(cfg, f.name))]
    if problems:  # every check below compares numbers: nan passes them all
        raise ConfigError("; ".join(problems) + ".")
    if not 1 <= cfg.batch_size <= MAX_BATCH:
        problems.append(f"--batch-size must lie in 1..{MAX_BATCH:,} (a batch of 100,000 took all 23 GB of memory)")
    if cfg.max_steps < 1:
        problems.append("--max-steps must be at least 1")
    for name in ("minutes", "min_lr", "weight_decay", "pos_weight", "masked_weight", "dice_weight", "warmup_steps"):
        if getattr(cfg, name) < 0:
            problems.append(f"--{name.replace('_', '-')} must not be negative")
    for name in ("workers", "threads"):
        if not 0 <= getattr(cfg, name) <= MAX_COUNT:
            problems.append(f"--{name.replace('_', '-')} must lie in 0..{MAX_COUNT}")
    for name in ("val_windows", "val_every", "ckpt_every"):
        if getattr(cfg, name) < 1:
            problems.append(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("max_transpose", "superpose_transpose"):
        if not 0 <= getattr(cfg, name) <= MAX_TRANSPOSE:
            problems.append(f"--{name.replace('_', '-')} must lie in 0..{MAX_TRANSPOSE} semitones")
    if not 0 <= cfg.drop_path < 1 or not 0 <= cfg.masked_fraction <= 1:
        problems.append("--drop-path must lie in [0, 1) and --masked-fraction in [0, 1]")
    if cfg.device and not re.fullmatch(r"cpu|mps|(cuda|xpu)(:\d+)?", cfg.device):
        problems.append(f"--device must be cpu, cuda, cuda:N, mps or xpu, not {cfg.device!r}")
    if not 0 <= cfg.mask_ratio <= 0.66:
        problems.append("--mask-ratio must lie in [0, 0.66] (masked batches use up to 1.5x it)")
    if not 0 <= cfg.empty_mask_ratio <= 1:
        problems.append("--empty-mask-ratio must lie in [0, 1]")
    if cfg.lr <= 0:
        problems.append("--lr must be positive")
    if cfg.steps_per_beat < 1 or cfg.steps_per_beat > 48:
        problems.append("--steps-per-beat must lie in 1..48")
    if not 0 < cfg.val_fraction < 1:
        problems.append("--val-fraction must lie in (0, 1)")
    for name in ("time_compress", "superpose", "octave_double", "articulate", "skip_drop", "lateral_drop"):
        if not 0 <= getattr(cfg, name) <= 1:
            problems.append(f"--{name.replace('_', '-')} must lie in [0, 1]")
    if cfg.skip_drop_levels < 1:
        problems.append("--skip-drop-levels must be at least 1")
    try:
        cfg.lateral_levels()
    except ValueError:
        problems.append("--lateral-drop-levels must be comma-separated level numbers (0 = coarsest)")
    if cfg.coarse_targets < 0 or cfg.coarse_spread < 0:
        problems.append("--coarse-targets and --coarse-spread must not be negative")
    if cfg.coarse_target_levels < 1:
        problems.append("--coarse-target-levels must be at least 1")
    if cfg.coarse_spread > 0 and cfg.coarse_targets <= 0:
        problems.append("--coarse-spread works on the heads of --coarse-targets: give --coarse-targets too")
    if problems:
        raise ConfigError("; ".join(problems) + ".")
    if cfg.files_from and not Path(cfg.files_from).is_file():
        problems.append(f"--files-from {cfg.files_from} does not exist")
    if cfg.resume and not Path(cfg.resume).exists():
        problems.append(f"--resume {cfg.resume} does not exist")
    if cfg.init and not Path(cfg.init).is_file():
        problems.append(f"--init {cfg.init} does not exist")
    if problems:
        raise ConfigError("; ".join(problems) + ".", usage=False)
    return cfg

"""The training run's configuration and the train command's flags, importable without torch.

`python -m midi_rae train --help` builds its parser from `TrainConfig`; keeping both here means the CLI's
help never imports torch. midi_rae.train imports all three names from this module.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

from .cli_types import MAX_SEED, seed as seed_type

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
    overwrite: bool = False           # start over in an --out that holds a run (its checkpoints are deleted)

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

    def levels(self) -> list[tuple[int, int]]:
        """The model's level grids (rows, columns), coarsest first: 6 levels, or 7 with --seven-level."""
        from .config import ModelConfig

        return list(ModelConfig.from_dict(self.model_config(), "this run's model").level_grids)

    def model_config(self) -> dict:
        """The architecture config that goes into the checkpoint."""
        from .checkpoint_meta import DEFAULT_CONFIG, SEVEN_LEVEL_CONFIG

        base = SEVEN_LEVEL_CONFIG if self.seven_level else DEFAULT_CONFIG
        return {**base, "steps_per_beat": self.steps_per_beat, "empty_mask_ratio": self.empty_mask_ratio,
                "drop_path_rate": self.drop_path}


# the help of each flag, by TrainConfig field (every field has one: tests/test_cli.py checks every flag's help)
FIELD_HELP = {
    "midi_dir": "folder of .mid/.midi files or PNG piano rolls (128 rows, row 0 the lowest pitch; searched "
                "recursively)",
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
    "val_fraction": "share of the files held out for validation, as many again for the test split, in (0, 0.5)",
    "val_windows": "validation windows scored at each evaluation",
    "val_every": "evaluate every this many steps",
    "ckpt_every": "write last.safetensors every this many steps",
    "seed": f"random seed (file split, masks, batches), 0 to {MAX_SEED:,}",
    "mae_decoder": "also train a SwinMAEDecoder head",
    "mep": "also train a SwinMaskedEmbeddingPredictor head",
    "workers": "processes that read MIDI files",
    "resume": "continue from this run folder (or its last.safetensors) with the run's own options; options given "
              "again may raise --max-steps or --minutes (the cosine decay then stretches over the new length, so "
              "the learning rate rises again), not change its model, objective, data or schedule",
    "device": "cpu, cuda, cuda:N, mps or xpu (default: cuda when available)",
    "threads": "torch CPU threads (0 = torch's default)",
    "files_from": "a text file of paths relative to --midi-dir: train on exactly these",
    "init": "start from this checkpoint's weights, with a fresh optimizer and schedule at step 0 "
            "(ignored with --resume, which restores the run's own weights)",
    "overwrite": "start a new run in an --out that already holds one, deleting its checkpoints (without it such "
                 "an --out is refused: --resume continues the run there)",
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


# what a resumed run keeps from its own options unless they are given again, and what it never keeps (where and how
# this process runs); and the options that fix its data split, batches and learning-rate schedule, which a resume
# refuses to change
RUNTIME_FIELDS = ("out", "resume", "init", "device", "threads", "overwrite")
# (every option but where and how it runs, how long, and how often it validates and saves: a changed objective,
# augmentation or validation set would leave "best" comparing scores measured under other rules)
CONTINUITY_FIELDS = tuple(f.name for f in dataclasses.fields(TrainConfig)
                          if f.name not in RUNTIME_FIELDS + ("max_steps", "minutes", "val_every", "ckpt_every",
                                                             "workers"))
SWITCHES = ("seven_level", "mae_decoder", "mep", "overwrite")  # flags without a value
RUN_FILES = ("last.safetensors", "best.safetensors", "train_state.pt")  # a folder holding one of these holds a run
RUN_LOCK = ".train.lock"  # held by the run training in a folder (train.run_lock)
CHECKPOINT_FILES = RUN_FILES + ("last_mae_decoder.safetensors", "best_mae_decoder.safetensors", "metrics.json")
COARSE_CELLS = 8  # a multi-scale target is an 8x8 sketch of the roll under a token (coarse_targets.roll_sketch)


def flag(name: str) -> str:
    """The command-line flag of a TrainConfig field."""
    return "--" + name.replace("_", "-")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The train command's flags, one per TrainConfig field. Every default is None (a switch's too), so
    `config_from_args` knows which options were given: a resumed run takes the others from its own."""
    d = TrainConfig()
    p.add_argument("--midi-dir", default=None,
                   help=FIELD_HELP["midi_dir"] + " (needed unless --resume, whose run's folder is the default)")
    p.add_argument("--out", default=None, help=FIELD_HELP["out"] + f" (default: the --resume run's folder, else {d.out})")
    p.add_argument("--seven-level", action="store_true", default=None, help=FIELD_HELP["seven_level"])
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("midi_dir", "out") or f.name in SWITCHES:
            continue
        default = f" (default: {f.default})" if f.default != "" else ""
        kind = seed_type if f.name == "seed" else type(f.default)
        p.add_argument(flag(f.name), type=kind, default=None, help=FIELD_HELP[f.name] + default)
    for name in SWITCHES[1:]:
        p.add_argument(flag(name), action="store_true", default=None, help=FIELD_HELP[name])


def given_options(a: argparse.Namespace) -> set[str]:
    """The TrainConfig fields the command line gave (a parser from `add_arguments` leaves the others None)."""
    return {f.name for f in dataclasses.fields(TrainConfig) if getattr(a, f.name, None) is not None}


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    """TrainConfig from parsed flags, with the checks that give clear messages.

    Options not given take the defaults, or with --resume the resumed run's own (`RUNTIME_FIELDS` aside); a
    given option that would change the resumed run's split or schedule (`CONTINUITY_FIELDS`) is refused.
    Raises ConfigError: usage=True for values out of range, usage=False for a named file that cannot be used."""
    given = given_options(a)
    values = {name: getattr(a, name) for name in given}
    for name in ("midi_dir", "files_from"):  # stored whole: a resume from another folder finds them again
        if values.get(name):
            values[name] = os.path.abspath(values[name])
    stored, meta, ck = {}, {}, None
    if values.get("resume"):
        ck, meta = resumed_checkpoint(values["resume"])
        stored = stored_options(meta, ck.name)
    defaults = dataclasses.asdict(TrainConfig())
    for name, default in defaults.items():
        if name not in values:
            values[name] = stored[name] if name in stored and name not in RUNTIME_FIELDS else default
    if "out" not in given:  # a resumed run goes on writing where it was: not half in runs/latest
        values["out"] = str(ck.parent) if ck is not None else defaults["out"]
    if not values["midi_dir"]:
        raise ConfigError("--midi-dir is needed: the folder of .mid/.midi files (or PNG piano rolls) to train on.")
    cfg = TrainConfig(**values)
    problems = config_problems(cfg)
    if problems:
        raise ConfigError("; ".join(problems) + ".")
    if ck is not None:
        why = resume_problem(cfg, stored, meta, ck, given)
        if why:
            raise ConfigError(why, usage=False)
    problems = [p for p in (path_problem("--files-from", cfg.files_from, "a text file of file names, one a line"),
                            path_problem("--init", cfg.init, "a checkpoint file (a .safetensors or .pt file)"))
                if p]
    if problems:
        raise ConfigError("; ".join(problems) + ".", usage=False)
    return cfg


def config_problems(cfg: TrainConfig) -> list[str]:
    """What is wrong with a config's values, one clause each (empty when nothing is)."""
    problems = [f"{flag(f.name)} must be a finite number" for f in dataclasses.fields(TrainConfig)
                if isinstance(getattr(cfg, f.name), float) and not math.isfinite(getattr(cfg, f.name))]
    if problems:  # every check below compares numbers: nan passes them all
        return problems
    if not 1 <= cfg.batch_size <= MAX_BATCH:
        problems.append(f"--batch-size must lie in 1..{MAX_BATCH:,} (a batch of 100,000 took all 23 GB of memory)")
    if cfg.max_steps < 1:
        problems.append("--max-steps must be at least 1")
    if not 0 <= cfg.seed <= MAX_SEED:
        problems.append(f"--seed must lie in 0..{MAX_SEED:,}")
    for name in ("minutes", "min_lr", "weight_decay", "pos_weight", "masked_weight", "dice_weight", "warmup_steps"):
        if getattr(cfg, name) < 0:
            problems.append(f"{flag(name)} must not be negative")
    for name in ("workers", "threads"):
        if not 0 <= getattr(cfg, name) <= MAX_COUNT:
            problems.append(f"{flag(name)} must lie in 0..{MAX_COUNT}")
    for name in ("val_windows", "val_every", "ckpt_every"):
        if getattr(cfg, name) < 1:
            problems.append(f"{flag(name)} must be at least 1")
    for name in ("max_transpose", "superpose_transpose"):
        if not 0 <= getattr(cfg, name) <= MAX_TRANSPOSE:
            problems.append(f"{flag(name)} must lie in 0..{MAX_TRANSPOSE} semitones")
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
    elif cfg.min_lr > cfg.lr:
        problems.append(f"--min-lr {cfg.min_lr:g} must not exceed --lr {cfg.lr:g}: the schedule decays from one to "
                        "the other")
    elif cfg.lr * cfg.weight_decay >= 1:
        problems.append(f"--lr × --weight-decay must be below 1 (it is {cfg.lr * cfg.weight_decay:g}): AdamW shrinks "
                        "every weight by that share at each step")
    if cfg.steps_per_beat < 1 or cfg.steps_per_beat > 48:
        problems.append("--steps-per-beat must lie in 1..48")
    if not 0 < cfg.val_fraction < 0.5:
        problems.append("--val-fraction must lie in (0, 0.5): the test split takes as many files again, and the "
                        "rest trains")
    for name in ("time_compress", "superpose", "octave_double", "articulate", "skip_drop", "lateral_drop"):
        if not 0 <= getattr(cfg, name) <= 1:
            problems.append(f"{flag(name)} must lie in [0, 1]")
    if cfg.coarse_targets < 0 or cfg.coarse_spread < 0:
        problems.append("--coarse-targets and --coarse-spread must not be negative")
    if cfg.coarse_spread > 0 and cfg.coarse_targets <= 0:
        problems.append("--coarse-spread works on the heads of --coarse-targets: give --coarse-targets too")
    return problems + level_problems(cfg)


def level_problems(cfg: TrainConfig) -> list[str]:
    """Level options that name levels the run's model lacks (levels are 0 = coarsest .. L - 1)."""
    grids = TrainConfig(seven_level=cfg.seven_level).levels()  # the levels depend on the architecture alone
    n, model = len(grids), f"the {len(grids)}-level model"
    problems = []
    try:
        lateral = cfg.lateral_levels()
    except ValueError:
        problems.append("--lateral-drop-levels must be comma-separated level numbers (0 = coarsest)")
    else:
        outside = [k for k in lateral if k >= n]
        if outside:
            problems.append(f"--lateral-drop-levels names level{'s' if len(outside) > 1 else ''} "
                            f"{', '.join(map(str, outside))}, which {model} lacks (its levels are 0..{n - 1})")
    if not 1 <= cfg.skip_drop_levels <= n - 1:
        problems.append(f"--skip-drop-levels must lie in 1..{n - 1} for {model} (it drops up to that many of the "
                        f"finest levels, and level 0 always stays)")
    coarse = sum(1 for rows, cols in grids if rows * COARSE_CELLS <= 128 and cols * COARSE_CELLS <= 128)
    if not 1 <= cfg.coarse_target_levels <= coarse:
        problems.append(f"--coarse-target-levels must lie in 1..{coarse} for {model} (a finer level's tokens cover "
                        f"less of the roll than the {COARSE_CELLS}x{COARSE_CELLS} sketch a target predicts)")
    return problems


def path_problem(option: str, path: str, takes: str) -> Optional[str]:
    """Why `path`, given to `option`, is not a file to read (None when it is, or when none was given)."""
    if not path:
        return None
    p = Path(path)
    if p.is_file():
        return None
    if p.is_dir():
        return f"{option} {path} is a folder; it takes {takes}"
    if os.path.lexists(p):
        kind = "a link to nothing" if p.is_symlink() and not p.exists() else "a pipe, a device or a socket"
        return f"{option} {path} is not a regular file ({kind}); it takes {takes}"
    return f"{option} {path} does not exist"


def resumed_checkpoint(resume: str) -> tuple[Path, dict]:
    """(the checkpoint --resume names, its metadata, read from the header alone and without torch), or
    ConfigError in one sentence: a folder without last.safetensors, a MIDI file, a file that is no checkpoint."""
    from .checkpoint_meta import CheckpointError, is_safetensors, peek_model_config

    p = Path(resume)
    takes = "a run folder or one of its .safetensors checkpoints"
    if p.is_dir():
        ck = p / "last.safetensors"
        if not ck.is_file():
            raise ConfigError(f"--resume {resume} holds no last.safetensors, so there is no run to continue there "
                              f"(a run writes one at its first --ckpt-every step).", usage=False)
    elif p.is_file():
        ck = p
    else:
        raise ConfigError(path_problem("--resume", resume, takes) + ".", usage=False)
    try:
        with open(ck, "rb") as fh:
            head = fh.read(10)
    except OSError as e:
        raise ConfigError(f"--resume {ck} could not be read ({e.strerror or e}).", usage=False) from None
    if head[:4] == b"MThd":
        raise ConfigError(f"--resume {resume} is a MIDI file; it takes {takes}.", usage=False)
    if not is_safetensors(head) and head[:2] != b"PK" and head[:1] != b"\x80":
        raise ConfigError(f"--resume {resume} is not a checkpoint (neither safetensors nor a PyTorch file); it takes "
                          f"{takes}.", usage=False)
    try:
        _, meta = peek_model_config(ck)
    except CheckpointError as e:
        raise ConfigError(f"--resume: {e}", usage=False) from None
    return ck, meta


def stored_options(meta: dict, name: str) -> dict:
    """The options a checkpoint's run was made with ({} for a checkpoint that records none), checked against
    TrainConfig's types; ConfigError for damaged ones."""
    stored = meta.get("train_config")
    if not isinstance(stored, dict):
        return {}
    kinds = {f.name: type(f.default) for f in dataclasses.fields(TrainConfig)}
    out = {}
    for key, v in stored.items():
        kind = kinds.get(key)
        if kind is None:  # an option of another version: nothing to restore
            continue
        ok = (isinstance(v, bool) if kind is bool else
              isinstance(v, (int, float)) and not isinstance(v, bool) if kind is float else
              isinstance(v, int) and not isinstance(v, bool) if kind is int else isinstance(v, kind))
        if not ok:
            raise ConfigError(f"--resume: {name} has damaged metadata: its option {key} is {v!r:.40}.", usage=False)
        out[key] = kind(v)
    return out


def same_path(a: str, b: str) -> Optional[bool]:
    """Do two paths name the same file or folder? None when it cannot be told (one of them is not here)."""
    if a == b:
        return True
    if not a or not b:
        return False
    try:
        return os.path.samefile(a, b)
    except OSError:
        return None


def _shown(name: str, value: Any) -> str:
    if name == "seven_level":
        return "the 7-level model" if value else "the 6-level model"
    return f"{value}" if value != "" else "none"


def resume_conflicts(cfg: TrainConfig, stored: dict, given: Optional[Iterable[str]] = None,
                     ck: Optional[Path] = None) -> Optional[str]:
    """One sentence naming the options of `cfg` that differ from a resumed run's `stored` ones where they would
    change its data split, batches or learning-rate schedule (None when none does). `given`: the options to
    compare (default: all; the command line compares only those it gave, the others are the run's own)."""
    names = [n for n in CONTINUITY_FIELDS if n in stored and (given is None or n in given)]
    clashes = []
    for name in names:
        mine, theirs = getattr(cfg, name), stored[name]
        if name in ("midi_dir", "files_from"):
            if same_path(mine, theirs) is not False:  # the same, or the run's own is not on this machine
                continue
        elif mine == theirs:
            continue
        clashes.append(f"--seven-level (the run trains {_shown(name, theirs)})" if name == "seven_level" else
                       f"{flag(name)} (the run trains without it)" if isinstance(theirs, bool) else
                       f"{flag(name)} {_shown(name, mine)} (the run's: {_shown(name, theirs)})")
    if not clashes:
        return None
    both = len(clashes) > 1
    init = f" {ck}" if ck is not None else ""
    return (f"{' and '.join(clashes)} differ{'' if both else 's'} from the option{'s' if both else ''} the resumed run "
            f"was made with, which a resume keeps (they fix its model, objective, data split, batches, validation "
            f"and learning-rate schedule); leave {'them' if both else 'it'} out to go on as the run was, or start a new run from its "
            f"weights with --init{init} and another --out.")


def resume_problem(cfg: TrainConfig, stored: dict, meta: dict, ck: Path, given: set[str]) -> Optional[str]:
    """Why the resume `cfg` asks for cannot go on (None when it can): nothing left to train, an option that
    conflicts with the run's own, or the run's data that is not on this machine."""
    step, wall = meta.get("step", 0), meta.get("wall_time_s", 0.0)
    if isinstance(step, int) and step >= cfg.max_steps:
        return (f"the resumed run {ck} is already at step {step:,}, which reaches --max-steps {cfg.max_steps:,}; "
                f"give a larger --max-steps to train it on.")
    if cfg.minutes > 0 and isinstance(wall, (int, float)) and wall >= cfg.minutes * 60:
        return (f"the resumed run {ck} has already trained {wall / 60:.1f} minutes, which reaches --minutes "
                f"{cfg.minutes:g}; give a larger --minutes to train it on.")
    clash = resume_conflicts(cfg, stored, given, ck)
    if clash:
        return clash
    for name, what in (("midi_dir", "read its MIDI files from"), ("files_from", "trained on the files listed in")):
        path = getattr(cfg, name)
        if name not in given and path and not (Path(path).is_dir() if name == "midi_dir" else Path(path).exists()):
            where = ("not found from this folder (the run stored it relative to the folder it was started in)"
                     if not Path(path).is_absolute() else "not on this machine")
            return (f"the resumed run {what} {path}, which is {where}; give {flag(name)} with the same "
                    f"{'files' if name == 'midi_dir' else 'list'}.")
    return None


def _continues_out(cfg: TrainConfig) -> bool:
    """Does --resume name the run in --out itself (its folder or a checkpoint in it)?"""
    if not cfg.resume:
        return False
    resumed = Path(cfg.resume)
    return bool(same_path(str(cfg.out), str(resumed if resumed.is_dir() else resumed.parent)))


def overwrite_clash(cfg: TrainConfig) -> Optional[str]:
    """--overwrite beside a --resume of the run in --out: the two contradict each other (checked first of all)."""
    if cfg.overwrite and _continues_out(cfg):
        return f"--overwrite would start over the run that --resume {cfg.resume} continues in {cfg.out}; give one of them."
    return None


def check_out(cfg: TrainConfig) -> None:
    """Refuse, before any file is read, an --out that cannot be written or that holds another run, unless
    --overwrite (or --resume of that very run) says to write there; ConfigError in one sentence. Makes the folder."""
    import errno
    import tempfile

    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; it takes a folder to write checkpoints to.", usage=False)
    held = [name for name in RUN_FILES if (out / name).exists()]
    continues = _continues_out(cfg)
    if held and not cfg.overwrite and not continues:
        raise ConfigError(f"--out {out} already holds a run ({', '.join(held)}); continue it with --resume {out}, "
                          f"start it over with --overwrite (which deletes its checkpoints), or give another --out.",
                          usage=False)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        base = next((d for d in [out, *out.parents] if d.exists()), Path("."))
        why = (f"{base} does not take new folders" if e.errno == errno.ENOENT else
               f"{base} is a file, not a folder" if e.errno == errno.ENOTDIR else e.strerror or str(e))
        raise ConfigError(f"--out {out} cannot be written ({why}); give a folder you can write to.",
                          usage=False) from None

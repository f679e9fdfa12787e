"""Training: SwinEncoder + SwinDecoder on piano-roll windows with the spec's two-rate masked objective.

One config (`TrainConfig`, in the torch-free `train_config`), one loop, and one small part for each concern:

- `setup_runtime`: device, distributed process group, threads;
- `prepare_data`: the three-way split by piece (`train_data.split_pieces`), this rank's share of the training
  files, and the validation windows (rank 0 only; the test split is never read);
- `build_model`, `make_optimizer` (timm's weight-decay groups), `lr_at`;
- `resume` -> `TrainState`; `Checkpointer` writes checkpoints; `validate` scores validation windows (through
  `evaluation.validation_metrics`, which chooses the threshold there and only there);
- `train_step`, `train`: the loop.

Runs on CPU or CUDA, alone or under torchrun (DDP; gloo on CPU). Randomness comes from generators seeded by
(seed, rank, step): numpy for each step's batch (whichever DataLoader worker draws it), torch for its masks and
decoder keeps, and the global generator only inside `step_random`, which restores it afterwards. So a run that is
interrupted and resumed from its last checkpoint trains exactly as the run that was not (same weights, bit for
bit, on CPU; CUDA kernels are not all deterministic).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from .wording import counted
from .analysis import patch_mask_to_pixels
from .checkpoint import as_model_config, build_models, read_checkpoint, read_train_state, save_checkpoint
from .coarse_targets import CoarseTargetHeads
from .config import ModelConfig
from .evaluation import validation_metrics
from .swin import SwinMAEDecoder, SwinMaskedEmbeddingPredictor
from .threads import configure as configure_threads
from .train_config import (CHECKPOINT_FILES, RUN_LOCK, ConfigError, TrainConfig, add_arguments, check_out,  # noqa: F401
                           config_from_args, config_problems, overwrite_clash, path_problem, resume_problem,
                           resumed_checkpoint, stored_options)
from .train_data import (Augment, WindowDataset, any_readable, batch_loader, evaluation_windows, find_roll_files,
                         read_pieces, shard, split_pieces)

Log = Callable[[str], None]


def stderr_warning(message: str) -> None:
    """A warning a person should read, one line on stderr."""
    print(f"warning: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- setup


@dataclass
class Runtime:
    """Where this process runs: its rank among `world` processes and its device."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0 validates, logs and writes checkpoints."""
        return self.rank == 0


def setup_runtime(cfg: TrainConfig) -> Runtime:
    """Join the process group under torchrun, pick the device and set torch's CPU threads (the one place)."""
    rank, world, local_rank = 0, 1, 0
    if "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        rank, world, local_rank = dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    if cfg.device:
        device = torch.device(cfg.device)
        missing = not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()
        if device.type == "cuda" and missing:
            raise SystemExit(f"error: --device {cfg.device}: this machine has "
                             f"{torch.cuda.device_count() or 'no'} CUDA device(s); use --device cpu, or leave it out.")
    elif torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    configure_threads(cfg.threads or None)  # 0: MIDI_RAE_THREADS, else the cores other processes leave free
    return Runtime(rank, world, device)


def derived_seed(*parts: int) -> int:
    """A 63-bit seed from several integers (run seed, rank, step, ...), for generators of separate streams."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


# ---------------------------------------------------------------- data


@dataclass
class RunData:
    """What one rank trains and validates on, and the split the checkpoint records."""

    train_rolls: list[np.ndarray]   # this rank's share of the training pieces, bit-packed (16, T)
    val_windows: torch.Tensor       # validation windows (rank 0; empty elsewhere)
    summary: dict                   # file counts and the validation and test names, for the checkpoint


def _files_for(cfg: TrainConfig) -> list[Path]:
    files = find_roll_files(cfg.midi_dir)
    if not files:
        raise SystemExit(f"error: no .mid/.midi files or .png piano rolls found under {cfg.midi_dir}.")
    if cfg.files_from:
        why = path_problem("--files-from", cfg.files_from, "a text file of file names, one a line")
        if why:
            raise SystemExit(f"error: {why}.")
        try:
            text = Path(cfg.files_from).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            raise SystemExit(f"error: --files-from {cfg.files_from} is not a readable text file of file names.") \
                from None
        wanted = {line.strip() for line in text.splitlines() if line.strip()}
        if not wanted:
            raise SystemExit(f"error: --files-from {cfg.files_from} names no file; it takes the paths of the files to "
                             f"train on, relative to --midi-dir, one a line.")
        listed = [f for f in files if str(f.relative_to(cfg.midi_dir)) in wanted]
        if not listed:
            names = f"none of the {len(wanted)} names" if len(wanted) != 1 else "the one name"
            raise SystemExit(f"error: {names} in --files-from {cfg.files_from} is one of the {len(files)} MIDI or "
                             f"PNG files under {cfg.midi_dir}; the list names them by their path relative to "
                             f"--midi-dir, one a line (e.g. {files[0].relative_to(cfg.midi_dir)}).")
        files = listed
    return files


def _split_sentence(cfg: TrainConfig, files: list[Path], split) -> str:
    """Why a split leaves nothing to train or validate on, with its counts and what would help."""
    lower = " give a lower --val-fraction," if not split.train else ""
    return (f"error: {'the ' * (len(files) > 1)}{counted(len(files), 'MIDI file')} split into {len(split.train)} for "
            f"training, {len(split.validation)} "
            f"for validation and {len(split.test)} for the test split (by a hash of each file's name with --seed "
            f"{cfg.seed}; --val-fraction {cfg.val_fraction} for validation and as much again for the test split); "
            f"a run needs at least one piece to train on and one to validate on: add files,{lower} or try another "
            f"--seed.")


def _first_few(skipped: dict[str, str], root: str, few: int = 3, more: int = 0) -> str:
    """'a.mid (why); b.mid (why); and 4 more' of unreadable files and their sentences (`more`: unnamed others)."""
    def name(path: str) -> str:
        try:
            return str(Path(path).relative_to(root))
        except ValueError:
            return path

    shown = [f"{name(p)} ({why.rstrip('.')})" for p, why in list(skipped.items())[:few]]
    rest = len(skipped) - len(shown) + more
    return "; ".join(shown) + (f"; and {rest} more" if rest else "")


def _no_validation(cfg: TrainConfig, val_files: list[Path], skipped: dict[str, str],
                   others: Sequence[Path] = ()) -> str:
    """Why a run cannot validate: its validation files are unreadable or hold no note. Where every one is
    unreadable and so is every file of `others` (the training files), no split helps, and none is suggested."""
    named = {str(f) for f in val_files}
    bad = {p: why for p, why in skipped.items() if p in named}
    n = len(val_files)
    if not bad:
        why = f"its {n} files hold no note" if n > 1 else "its one file holds no note"
    elif len(bad) < n:
        why = (f"{len(bad)} of its {n} files could not be read ({_first_few(bad, cfg.midi_dir)}) and the rest hold "
               f"no note")
    else:
        why = (f"none of its {n} files could be read" if n > 1 else "its one file could not be read") + \
            f": {_first_few(bad, cfg.midi_dir)}"
    fix = (f"fix or remove {'that file' if len(bad) == 1 else 'those files'}, or split the files another way with "
           f"another --seed" if bad else "split the files another way with another --seed, or add pieces")
    if len(bad) == n and others and not any_readable(others, cfg.steps_per_beat):
        return (f"error: none of the {n + len(others)} training and validation files could be read "
                f"({_first_few(bad, cfg.midi_dir, more=len(others))}); "
                f"a run needs readable pieces to train and validate on.")
    return (f"error: the validation split has no window with a note to score ({why}), so the run could choose no "
            f"best checkpoint and no threshold; {fix}.")


def prepare_data(cfg: TrainConfig, rt: Runtime, width: int, warn: Optional[Log] = None) -> RunData:
    """Split the files by piece, read (rank 0) the validation windows and this rank's share of the training files.

    The test split is only named, never read: nothing during training touches it. A run without a validation
    window is refused (it could choose no best checkpoint and no threshold); unreadable files are left out and
    named through `warn` (rank 0)."""
    files = _files_for(cfg)
    split = split_pieces(files, cfg.val_fraction, cfg.val_fraction, cfg.seed)
    if not split.train or not split.validation:
        raise SystemExit(_split_sentence(cfg, files, split))
    skipped: dict[str, str] = {}
    val_files = [files[i] for i in split.validation]
    val_windows, val_readable = torch.zeros(0, 1, 128, width), []
    if rt.is_main:
        val_windows, val_readable = evaluation_windows(val_files, cfg.steps_per_beat, width, cfg.val_windows,
                                                       cfg.workers, skipped)
        if rt.world == 1 and not len(val_windows):  # said before the training files are read
            raise SystemExit(_no_validation(cfg, val_files, skipped, [files[i] for i in split.train]))
    mine = shard([files[i] for i in split.train], rt.rank, rt.world)
    cache = Path(cfg.out) / ("rolls_cache.npz" if rt.world == 1 else f"rolls_cache_{rt.rank}of{rt.world}.npz")
    mine_skipped: dict[str, str] = {}
    rolls, _ = read_pieces(mine, cfg.steps_per_beat, cfg.workers, cache=cache, show=rt.is_main,
                           skipped=mine_skipped)
    counts = torch.tensor([len(rolls), len(val_windows), 0 if rolls else 1], device=rt.device)
    if rt.world > 1:  # every rank learns the others' counts, so all stop together or none
        dist.all_reduce(counts)
        shares: list = [None] * rt.world
        dist.all_gather_object(shares, mine_skipped)
        for share in shares:
            skipped.update(share)
    else:
        skipped.update(mine_skipped)
    if not rolls:
        whose = f" of rank {rt.rank}" if rt.world > 1 else ""
        raise SystemExit(f"error: none of the {len(mine)} training files{whose} could be read: "
                         f"{_first_few(mine_skipped, cfg.midi_dir)}.")
    if int(counts[2]):
        raise SystemExit(f"error: {int(counts[2])} of the {rt.world} ranks could read none of their training files.")
    if not int(counts[1]):
        raise SystemExit(_no_validation(cfg, val_files, skipped))
    if skipped and warn is not None:
        warn(f"{len(skipped)} of the {len(split.train) + len(split.validation)} training and validation files could "
             f"not be read and are left out: {_first_few(skipped, cfg.midi_dir)}.")
    train_pieces = counts[0]
    summary = {"midi_dir": cfg.midi_dir, "files": len(files), "train_files": len(split.train),
               "val_files": len(split.validation), "test_files": len(split.test),
               "train_pieces": int(train_pieces), "val_pieces": len(val_readable),
               "split": {"rule": "sha1(f'{seed}:{file name}') / 0xFFFFFFFF: < val_fraction validation, "
                                 "< 2 x val_fraction test, else train", "seed": cfg.seed,
                         "val_fraction": cfg.val_fraction, "test_fraction": cfg.val_fraction},
               "train_names": [files[i].name for i in split.train],
               "val_names": [files[i].name for i in split.validation],
               "test_names": [files[i].name for i in split.test]}
    return RunData(rolls, val_windows, summary)


# ---------------------------------------------------------------- model, masks, loss, schedule

HEADS = ("mae_decoder", "mep", "coarse")  # the optional training heads, saved in train_state.pt for --resume


class Autoencoder(nn.Module):
    """Encoder + decoder (+ optional heads) as one module, so DDP wraps one thing."""

    def __init__(self, cfg: dict | ModelConfig, mae_decoder: bool, mep: bool, coarse_target_levels: int = 0,
                 coarse_weight: float = 1.0, coarse_spread: float = 0.0):
        super().__init__()
        mc = as_model_config(cfg)
        self.encoder, self.decoder = build_models(mc, "swin")
        self.mae_decoder = SwinMAEDecoder(**mc.mae_decoder_kwargs()) if mae_decoder else None
        self.mep = SwinMaskedEmbeddingPredictor(dims=tuple(mc.level_dims)) if mep else None
        self.coarse = CoarseTargetHeads(mc.level_dims, coarse_target_levels, spread=coarse_spread) if coarse_target_levels > 0 else None
        self.coarse_weight = coarse_weight

    def no_weight_decay(self) -> set[str]:
        """Parameter names weight decay skips (timm reads this): the encoder's and decoder's own lists."""
        return {f"{prefix}.{n}" for prefix in ("encoder", "decoder") for n in getattr(self, prefix).no_weight_decay()}

    def forward(self, x: torch.Tensor, mae_mask: torch.Tensor, pos_weight: float = 2.0,
                level_keep: Optional[torch.Tensor] = None):
        """(encoder output, decoder logits, loss of the optional heads).

        level_keep (B, levels), if given, scales each window's level embeddings before the decoder reads them
        (0 = that level reaches the decoder as zeros; see `skip_drop_keep`); the heads see the encoder's output."""
        out = self.encoder(x, mae_mask=mae_mask)
        dec_in = out if level_keep is None else scale_levels(out, level_keep)
        extra = x.new_zeros(())
        if self.mae_decoder is not None:
            ph, pw = self.encoder.patch_h, self.encoder.patch_w
            patches = x.unfold(2, ph, ph).unfold(3, pw, pw).reshape(x.shape[0], -1, ph * pw)
            extra = extra + F.binary_cross_entropy_with_logits(
                self.mae_decoder(out).float(), patches, pos_weight=torch.tensor(pos_weight, device=x.device))
        if self.mep is not None:
            with torch.no_grad():
                target = self.encoder(x)
            preds, masks = self.mep(out)
            per_level = [((p.float() - t.emb.float()) ** 2)[~m].mean() for p, m, t in
                         zip(preds, masks, target.patches.levels) if (~m).any()]
            if per_level:
                extra = extra + sum(per_level) / len(preds)
        if self.coarse is not None:
            extra = extra + self.coarse_weight * self.coarse(out.patches.levels, x)
        return out, self.decoder(dec_in), extra


def scale_levels(out, keep: torch.Tensor):
    """A copy of EncoderOutput `out` whose level k embeddings of window b are multiplied by keep[b, k]."""
    from .core import EncoderOutput, HierarchicalPatchState

    levels = [dataclasses.replace(lv, emb=lv.emb * keep[:, k, None, None].to(lv.emb.dtype))
              for k, lv in enumerate(out.patches.levels)]
    return EncoderOutput(HierarchicalPatchState(levels), out.full_pos, out.full_non_empty, out.mae_mask)


def skip_drop_keep(batch: int, levels: int, cfg: TrainConfig, gen: torch.Generator) -> Optional[torch.Tensor]:
    """(batch, levels) float of 1s and 0s, or None when --skip-drop is off: a share cfg.skip_drop of the windows
    lose their finest k levels (k drawn from 1..min(skip_drop_levels, levels - 1); level 0 is always kept), so
    the decoder has to reconstruct those windows from their coarse levels alone."""
    if cfg.skip_drop <= 0:
        return None
    chosen = torch.rand(batch, generator=gen) < cfg.skip_drop
    k = torch.randint(1, max(1, min(cfg.skip_drop_levels, levels - 1)) + 1, (batch,), generator=gen) * chosen
    return (torch.arange(levels)[None, :] < (levels - k)[:, None]).float()


def lateral_drop_keep(batch: int, levels: int, cfg: TrainConfig, gen: torch.Generator) -> Optional[torch.Tensor]:
    """(batch, levels) float of 1s and 0s, or None when --lateral-drop is off: each level of
    cfg.lateral_levels() (those the model has) is zeroed in a share cfg.lateral_drop of the windows, on its own
    draw, while the levels around it stay, so the decoder learns to rebuild that level's view from the coarser
    levels instead of reading it laterally."""
    chosen = [k for k in cfg.lateral_levels() if k < levels]
    if cfg.lateral_drop <= 0 or not chosen:
        return None
    keep = torch.ones(batch, levels)
    for k in chosen:
        keep[:, k] = (torch.rand(batch, generator=gen) >= cfg.lateral_drop).float()
    return keep


def decoder_keep(batch: int, levels: int, cfg: TrainConfig, gen: torch.Generator) -> Optional[torch.Tensor]:
    """The product of the --skip-drop and --lateral-drop keeps (None when both are off)."""
    keeps = [k for k in (skip_drop_keep(batch, levels, cfg, gen), lateral_drop_keep(batch, levels, cfg, gen))
             if k is not None]
    return None if not keeps else keeps[0] if len(keeps) == 1 else keeps[0] * keeps[1]


def load_weights(model: "Autoencoder", parts: dict, name: str, config: Optional[dict] = None) -> None:
    """The encoder's and Swin decoder's weights from a checkpoint's parts into `model`, or CheckpointError in one
    sentence (a checkpoint without them, or of another architecture; `config`, the checkpoint's, names the
    level count when that is what differs)."""
    from .config import CheckpointError

    lacking = [what for key, what in (("encoder", "encoder"), ("swin", "Swin decoder")) if key not in parts]
    if lacking:
        raise CheckpointError(f"{name} has no {' or '.join(lacking)} weights; --init and --resume need both.")
    theirs, mine = len((config or {}).get("depths") or ()), len(model.encoder.stages)
    if theirs and theirs != mine and {theirs, mine} == {6, 7}:
        raise CheckpointError(f"{name} holds a {theirs}-level model and this run builds the {mine}-level one; "
                              f"{'add' if theirs == 7 else 'leave out'} --seven-level to train it.")
    try:
        model.encoder.load_state_dict(parts["encoder"])
        model.decoder.load_state_dict(parts["swin"])
    except RuntimeError as e:  # torch lists every mismatched tensor: the first line says what kind
        raise CheckpointError(f"{name} does not fit this run's model ({str(e).splitlines()[0].rstrip(': ')}); "
                              "train with the configuration it was made with.") from None


def _meta_number(meta: dict, key: str, default: float, name: str) -> float:
    v = meta.get(key, default)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        from .config import CheckpointError

        raise CheckpointError(f"{name} has damaged metadata: its {key} must be a number, not {v!r:.40}.")
    return float(v)


def init_weights(path: str | Path, model: "Autoencoder", log: Optional[Log] = None) -> None:
    """Load an encoder and decoder's weights from a checkpoint (--init): no optimizer state, no step."""
    parts, config, meta = read_checkpoint(Path(path))
    load_weights(model, parts, Path(path).name, config)
    if log:
        log(f"initialised the weights from {path} (its step {int(meta.get('step', 0))}); optimizer and step afresh")


def build_model(cfg: TrainConfig) -> Autoencoder:
    """The models of a run, initialised from cfg.seed alone (the same weights on every rank), without touching
    the global random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return Autoencoder(cfg.model_config(), cfg.mae_decoder, cfg.mep,
                           cfg.coarse_target_levels if cfg.coarse_targets > 0 else 0, cfg.coarse_targets,
                           cfg.coarse_spread)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with timm's weight-decay groups: none on 1-d parameters, biases and the models' no_weight_decay names."""
    from timm.optim import create_optimizer_v2

    return create_optimizer_v2(model, "adamw", lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.95))


def batch_masks(non_empty: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Per-window two-rate masks (B, N), True = visible: a share (1 - masked_fraction) of windows unmasked, the
    rest at a ratio drawn from [mask_ratio/2, 1.5 mask_ratio), empty patches at that ratio x empty_mask_ratio."""
    B = non_empty.shape[0]
    masked = torch.rand(B, generator=gen) < cfg.masked_fraction
    ratio = (torch.rand(B, generator=gen) + 0.5) * cfg.mask_ratio * masked
    rand = torch.rand(non_empty.shape, generator=gen)
    p = torch.where(non_empty, ratio[:, None], ratio[:, None] * cfg.empty_mask_ratio)
    return rand >= p


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, hidden_px: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """Weighted BCE over all pixels (notes x pos_weight, hidden pixels x (1 + masked_weight)) plus dice_weight x
    a soft-F1 (dice) term on the hidden pixels."""
    weight = 1.0 + cfg.masked_weight * hidden_px.float()
    bce = F.binary_cross_entropy_with_logits(logits, x, weight=weight,
                                             pos_weight=torch.tensor(cfg.pos_weight, device=x.device))
    if cfg.dice_weight <= 0 or not hidden_px.any():
        return bce
    p = torch.sigmoid(logits.float())[hidden_px]
    t = x[hidden_px]
    dice = 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    return bce + cfg.dice_weight * dice


def run_progress(step: int, elapsed_s: float, cfg: TrainConfig) -> float:
    """How far through the run we are, by steps or, with --minutes, by wall time (whichever is further)."""
    p = step / max(cfg.max_steps, 1)
    if cfg.minutes > 0:
        p = max(p, elapsed_s / (cfg.minutes * 60))
    return min(p, 1.0)


def lr_at(step: int, progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up over warmup_steps, then cosine decay from lr to min_lr over the run's progress."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


# ---------------------------------------------------------------- state, resume, checkpoints


@dataclass
class TrainState:
    """What a run has done so far; restored by `resume`."""

    step: int = 0
    history: list[dict] = field(default_factory=list)  # one entry per validation
    best_score: float = -1.0                           # best unmasked F1 + masked F1 on validation
    elapsed_before: float = 0.0                        # wall time of the run before this process
    loss_ema: Optional[float] = None                   # the running loss average the log shows
    started: float = field(default_factory=time.time)

    def elapsed(self) -> float:
        """Wall time of the whole run so far, in seconds."""
        return self.elapsed_before + time.time() - self.started

    @property
    def last_metrics(self) -> dict:
        """The latest validation's metrics ({} before the first)."""
        return self.history[-1] if self.history else {}


def resume(path: str | Path, model: Autoencoder, opt: torch.optim.Optimizer, log: Optional[Log] = None,
           warn: Optional[Log] = None) -> TrainState:
    """Load weights, optimizer and head states from a run folder (its last.safetensors) or a checkpoint; returns
    the run's state. The train_state.pt beside the checkpoint must be of the same step (CheckpointError in one
    sentence otherwise); without one the optimizer and heads start afresh, said through `warn`."""
    path = Path(path)
    ck = path / "last.safetensors" if path.is_dir() else path
    parts, config, meta = read_checkpoint(ck)
    load_weights(model, parts, ck.name, config)
    history = meta.get("history", [])
    state = TrainState(step=int(_meta_number(meta, "step", 0, ck.name)),
                       history=list(history) if isinstance(history, list) else [],
                       best_score=_meta_number(meta, "best_f1", -1.0, ck.name),
                       elapsed_before=_meta_number(meta, "wall_time_s", 0.0, ck.name))
    state_file = ck.parent / "train_state.pt"
    if state_file.is_file():
        state.loss_ema = _load_train_state(state_file, model, opt, log, ck, state.step)
    elif warn:
        heads = [k for k in HEADS if getattr(model, k) is not None]
        also = f" and the {', '.join(heads)} head{'s' if len(heads) > 1 else ''}" if heads else ""
        warn(f"{ck.parent} holds no train_state.pt, so the optimizer (AdamW's moments){also} start"
             f"{'' if heads else 's'} afresh at step {state.step}.")
    if log:
        log(f"resumed from {ck} at step {state.step}")
    return state


def _load_train_state(state_file: Path, model: Autoencoder, opt: torch.optim.Optimizer, log: Optional[Log],
                      ck: Path, step: int) -> Optional[float]:
    """The optimizer and head states of train_state.pt (and the running loss average it returns), or
    CheckpointError in one sentence that says what to do, for a damaged file or one of another step than `ck`."""
    from .config import CheckpointError

    fresh = f"delete {state_file} to resume with a fresh optimizer."
    try:
        saved = read_train_state(state_file)
    except CheckpointError as e:
        raise CheckpointError(f"{str(e).rstrip('.')}; {fresh}") from None
    saved_step = saved.get("step")
    if saved_step != step and (saved_step is not None or ck.name != "last.safetensors"):
        of = f"the optimizer of step {saved_step}" if saved_step is not None else "an optimizer of no recorded step"
        if ck.name == "last.safetensors":  # the run stopped between its two writes
            raise CheckpointError(f"{ck.name} is the run at step {step} but {state_file.name} beside it holds {of}; "
                                  f"{fresh}")
        raise CheckpointError(f"{ck} is the run at step {step} but the {state_file.name} beside it holds {of}, so "
                              f"they cannot resume together; resume from {ck.parent} (its last.safetensors) to go on, "
                              f"or start a new run from these weights with --init {ck} and another --out.")
    try:
        optimizer = saved["optimizer"]
        try:
            opt.load_state_dict(optimizer)
        except ValueError:  # a run from before timm's parameter groups: the groups differ, start AdamW afresh
            if log:
                log("the saved optimizer state does not match this optimizer's groups; starting it afresh")
        for key in HEADS:
            if getattr(model, key) is not None and key in saved:
                getattr(model, key).load_state_dict(saved[key])
    except (KeyError, TypeError, AttributeError, RuntimeError, IndexError) as e:
        raise CheckpointError(f"{state_file.name} is not the training state this run wrote ({type(e).__name__}); "
                              f"{fresh}") from None
    ema = saved.get("loss_ema")
    return float(ema) if isinstance(ema, (int, float)) and not isinstance(ema, bool) and math.isfinite(ema) else None


class Checkpointer:
    """Writes `{tag}.safetensors` (weights, model config, the run's metadata), the optional MAE head beside it,
    and for "last" the optimizer and head states (train_state.pt) that `resume` reads."""

    def __init__(self, out: Path, model: Autoencoder, opt: torch.optim.Optimizer, model_config: dict, run_meta: dict):
        self.out, self.model, self.opt, self.model_config, self.run_meta = Path(out), model, opt, model_config, run_meta

    def meta(self, state: TrainState, metrics: dict) -> dict:
        """The checkpoint's metadata: the run's, its progress, and the metrics (and threshold) it was saved with."""
        meta = {**self.run_meta, "step": state.step, "history": state.history[-200:], "best_f1": state.best_score,
                "wall_time_s": round(state.elapsed(), 1), "metrics": metrics}
        if "threshold" in metrics:
            meta["threshold"] = metrics["threshold"]  # chosen on validation windows
        return meta

    def save(self, tag: str, state: TrainState, metrics: Optional[dict] = None) -> Path:
        """Write the checkpoint `tag` ("last" or "best") with `metrics` (default: the latest validation); weights
        that are no longer finite numbers stop the run instead (SystemExit), leaving the checkpoints before them."""
        if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
            raise SystemExit(f"error: the weights stopped being finite numbers by step {state.step}, so no "
                             f"checkpoint was written of them; try a lower --lr or --weight-decay.")
        meta = self.meta(state, state.last_metrics if metrics is None else metrics)
        path = save_checkpoint(self.out / f"{tag}.safetensors", self.model.encoder, self.model.decoder,
                               self.model_config, meta)
        if self.model.mae_decoder is not None:  # loadable beside the encoder: load_model(enc, decoder=this file)
            save_checkpoint(self.out / f"{tag}_mae_decoder.safetensors", None, self.model.mae_decoder,
                            self.model_config, meta)
        if tag == "last":
            extra = {"optimizer": self.opt.state_dict(), "step": state.step, "loss_ema": state.loss_ema}
            for key in HEADS:
                if getattr(self.model, key) is not None:
                    extra[key] = getattr(self.model, key).state_dict()
            tmp = self.out / "train_state.tmp"
            torch.save(extra, tmp)
            tmp.replace(self.out / "train_state.pt")
        return path


def run_meta(cfg: TrainConfig, rt: Runtime, data: RunData) -> dict:
    """What every checkpoint of the run records besides its progress."""
    return {"train_config": dataclasses.asdict(cfg), "data": data.summary, "world_size": rt.world,
            "hardware": f"{rt.device.type} x{rt.world} ({platform.processor() or platform.machine()}, "
                        f"{torch.get_num_threads()} threads)", "torch": torch.__version__}


# ---------------------------------------------------------------- validation


def validate(model: Autoencoder, windows: torch.Tensor, cfg: TrainConfig) -> dict:
    """Scores of the validation windows at cfg.mask_ratio, at the threshold best on them."""
    model.eval()
    try:
        return validation_metrics(model.encoder, model.decoder, windows, cfg.mask_ratio, cfg.empty_mask_ratio)
    finally:
        model.train()


def record_validation(model: Autoencoder, windows: torch.Tensor, cfg: TrainConfig, state: TrainState,
                      ckpt: Checkpointer, loss: float, log: Log) -> dict:
    """Validate, append to the history, log, and save "best" when unmasked F1 + masked F1 improved."""
    m = validate(model, windows, cfg)
    m.update(step=state.step, loss=round(loss, 5), wall_time_s=round(state.elapsed(), 1))
    state.history.append(m)
    log(f"step {state.step}: loss {loss:.4f}  val F1 unmasked {m['plain']['f1']}  masked({cfg.mask_ratio}) "
        f"{m['masked']['f1']}  (bridge baseline {m['bridge_baseline_masked_f1']}, threshold {m['threshold']})")
    score = (m["plain"]["f1"] or 0.0) + (m["masked"]["f1"] or 0.0)
    if score > state.best_score:
        state.best_score = score
        ckpt.save("best", state, m)
    return m


# ---------------------------------------------------------------- the loop


def train_step(model: Autoencoder, wrapped: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
               cfg: TrainConfig, gen: torch.Generator, autocast) -> float:
    """One optimizer step on batch x under fresh two-rate masks; returns the loss."""
    enc = model.encoder
    mask = batch_masks(enc._compute_non_empty(x).cpu(), cfg, gen).to(x.device)
    hidden = ~patch_mask_to_pixels(mask, enc.grid_size, (enc.patch_h, enc.patch_w))
    keep = decoder_keep(x.shape[0], len(enc.stages), cfg, gen)
    with autocast:
        _, logits, extra = wrapped(x, mask, cfg.pos_weight, None if keep is None else keep.to(x.device))
        loss = reconstruction_loss(logits.float(), x, hidden, cfg) + extra
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return float(loss.detach())


def _progress_bar(cfg: TrainConfig, state: TrainState, show: bool):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    # a run stopped by the clock ends long before its step limit: a bar to that limit (and its ETA) would mislead
    total = None if cfg.minutes > 0 else cfg.max_steps
    return tqdm(total=total, initial=state.step, unit="step", disable=not show, dynamic_ncols=True, mininterval=2)


def train(cfg: TrainConfig, log: Log = print, warn: Optional[Log] = stderr_warning) -> dict:
    """Train, validate, checkpoint; returns the final metrics and this process's losses. Resumable.

    `log` takes the run's progress (stdout by default), `warn` what a person should know that does not stop the
    run (stderr). What can be refused before any file is read is refused then, as SystemExit('error: ...')."""
    with torch.enable_grad():  # whatever the caller's grad mode (a notebook or app may have turned it off)
        return _train(cfg, log, warn or (lambda _: None))


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_before_reading(cfg: TrainConfig, warn: Log, is_main: bool = True) -> TrainConfig:
    """The config's values, the resumed run (an option that would change its split or schedule, nothing left to
    train) and --out (writable, holding no other run), all checked before any data file is read; returns the
    config with --workers capped to the cores. SystemExit('error: ...') in one sentence."""
    try:
        problems = config_problems(cfg)
        clash = overwrite_clash(cfg)
        if clash:
            raise ConfigError(clash)
        if problems:
            raise ConfigError("; ".join(problems) + ".")
        if cfg.resume:
            ck, meta = resumed_checkpoint(cfg.resume)
            why = resume_problem(cfg, stored_options(meta, ck.name), meta, ck,
                                 {f.name for f in dataclasses.fields(TrainConfig)})
            if why:
                raise ConfigError(why, usage=False)
        check_out(cfg)
    except ConfigError as e:
        raise SystemExit(f"error: {e}") from None
    cores = usable_cores()
    if cfg.workers > cores:
        if is_main:
            warn(f"--workers {cfg.workers} is more than the {cores} cores this process may use; using {cores}.")
        cfg = dataclasses.replace(cfg, workers=cores)
    return cfg


@contextmanager
def step_random(seed: int, rank: int, step: int, device: torch.device):
    """torch's global generators (CPU, and the CUDA device's) seeded by (seed, rank, step) for one step's random
    draws inside the model (the MEP head's masks, drop-path), and restored afterwards."""
    devices = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        s = derived_seed(seed, rank, step, 1)
        torch.random.default_generator.manual_seed(s)
        if devices:
            torch.cuda.manual_seed(s)
        yield


def _start_over(out: Path, log: Log) -> None:
    """--overwrite: delete the checkpoints an earlier run left in `out`."""
    gone = [name for name in CHECKPOINT_FILES if (out / name).is_file()]
    for name in gone:
        (out / name).unlink()
    if gone:
        log(f"started over in {out}: deleted the earlier run's {', '.join(gone)}")


@contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold the folder `out` for this run (an advisory lock on out/.train.lock): a second run started into the same
    folder while this one trains is refused, rather than both writing checkpoints there."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: unguarded, as before
        yield
        return
    with open(out / RUN_LOCK, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise SystemExit(f"error: another training run is writing to {out}; wait for it to end, or give another "
                             "--out.") from None
        yield  # the lock goes with the file's closing, or with the process


def _train(cfg: TrainConfig, log: Log, warn: Log) -> dict:
    rt = setup_runtime(cfg)
    cfg = check_before_reading(cfg, warn, rt.is_main)
    with run_lock(Path(cfg.out)) if rt.is_main else nullcontext():
        return _train_held(cfg, rt, log, warn)


def _train_held(cfg: TrainConfig, rt: Runtime, log: Log, warn: Log) -> dict:
    """The run itself, once its --out is checked and held."""
    model = build_model(cfg).to(rt.device)
    width = as_model_config(cfg.model_config()).window_steps
    opt = make_optimizer(model, cfg)
    if cfg.init and not cfg.resume:
        init_weights(cfg.init, model, log if rt.is_main else None)
    state = (resume(cfg.resume, model, opt, log if rt.is_main else None, warn if rt.is_main else None)
             if cfg.resume else TrainState())
    data = prepare_data(cfg, rt, width, warn if rt.is_main else None)
    out = Path(cfg.out)
    if rt.is_main and cfg.overwrite:
        _start_over(out, log)
    ckpt = Checkpointer(out, model, opt, cfg.model_config(), run_meta(cfg, rt, data))
    wrapped: nn.Module = model
    if rt.world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[rt.device.index] if rt.device.type == "cuda" else None,
            find_unused_parameters=True)  # the 1x1 stage's attention blocks are never run
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16)
                if rt.device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.autocast("cpu", enabled=False))
    dataset = WindowDataset(data.train_rolls, cfg.batch_size, width, cfg.max_transpose, cfg.seed, rt.rank, state.step,
                            Augment.from_config(cfg))
    batches = iter(batch_loader(dataset, cfg.workers, pin_memory=rt.device.type == "cuda"))
    if rt.is_main:
        out.mkdir(parents=True, exist_ok=True)
        d = data.summary
        log(f"{counted(d['files'], 'file')}: {counted(d['train_pieces'], 'training piece')}, "
            f"{counted(d['val_pieces'], 'validation piece')} ({counted(len(data.val_windows), 'window')}), "
            f"{counted(d['test_files'], 'test file')} left untouched; "
            f"{sum(p.numel() for p in model.parameters()):,} parameters, device {rt.device}, world {rt.world}")
    bar = _progress_bar(cfg, state, rt.is_main)
    losses: list[float] = []
    model.train()
    try:
        while state.step < cfg.max_steps:
            progress = run_progress(state.step, state.elapsed(), cfg)
            if rt.world > 1:  # every rank must stop at the same step
                t = torch.tensor([progress], device=rt.device)
                dist.broadcast(t, 0)
                progress = float(t)
            if progress >= 1.0:
                break
            for g in opt.param_groups:
                g["lr"] = lr_at(state.step, progress, cfg)
            x = next(batches).to(rt.device, non_blocking=True)
            mask_gen = torch.Generator().manual_seed(derived_seed(cfg.seed, rt.rank, state.step))
            with step_random(cfg.seed, rt.rank, state.step, rt.device):
                lv = train_step(model, wrapped, opt, x, cfg, mask_gen, autocast)
            state.step += 1
            if not math.isfinite(lv):
                raise SystemExit(f"error: the loss became {lv} at step {state.step}; try a lower --lr.")
            losses.append(lv)
            state.loss_ema = lv if state.loss_ema is None else 0.98 * state.loss_ema + 0.02 * lv
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{state.loss_ema:.4f}", lr=f"{opt.param_groups[0]['lr']:.2e}", refresh=False)
            if rt.is_main and state.step % cfg.val_every == 0:
                record_validation(model, data.val_windows, cfg, state, ckpt, state.loss_ema, log)
            if rt.is_main and state.step % cfg.ckpt_every == 0:
                ckpt.save("last", state)
            if rt.world > 1 and state.step % cfg.ckpt_every == 0:
                dist.barrier()
    finally:
        if bar is not None:  # also when interrupted: what is said next starts on a line of its own
            bar.close()
    if rt.is_main:
        if state.last_metrics.get("step") != state.step:
            record_validation(model, data.val_windows, cfg, state, ckpt, state.loss_ema or 0.0, log)
        ckpt.save("last", state)
        (out / "metrics.json").write_text(json.dumps(state.history, indent=1))
        log(f"saved {out / 'last.safetensors'} after {counted(state.step, 'step')}")
        if (out / "best.safetensors").is_file():  # the one to use: say so, and from which step
            best = [h["step"] for h in state.history
                    if abs((h["plain"]["f1"] or 0.0) + (h["masked"]["f1"] or 0.0) - state.best_score) < 1e-9]
            log(f"{out / 'best.safetensors'} is the best on validation (unmasked F1 + masked F1 "
                f"{state.best_score:.4f}" + (f", step {best[0]:,}" if best else "") + "): the checkpoint to use")
    del batches  # stops the DataLoader's workers
    if rt.world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return {**state.last_metrics, "losses": losses, "step": state.step}

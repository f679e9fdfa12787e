"""Training: SwinEncoder + SwinDecoder on piano-roll windows with the spec's two-rate masked objective.

One config (TrainConfig), one loop. Runs on CPU or CUDA, alone or under torchrun (DDP; gloo on CPU).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import platform
import random
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from .analysis import add_counts, bridge_baseline, confusion, patch_mask_to_pixels, scores
from .checkpoint import DEFAULT_CONFIG, SEVEN_LEVEL_CONFIG, build_models, read_checkpoint, save_checkpoint
from .pianoroll import MidiError, midi_to_roll
from .swin import SwinMAEDecoder, SwinMaskedEmbeddingPredictor, make_mae_mask

MIDI_SUFFIXES = (".mid", ".midi", ".MID", ".MIDI")
WINDOW = 128


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

    def model_config(self) -> dict:
        """The architecture config that goes into the checkpoint."""
        base = SEVEN_LEVEL_CONFIG if self.seven_level else DEFAULT_CONFIG
        return {**base, "steps_per_beat": self.steps_per_beat, "empty_mask_ratio": self.empty_mask_ratio,
                "drop_path_rate": self.drop_path}


# ---------------------------------------------------------------- data


def find_midi_files(root: str | Path) -> list[Path]:
    """All MIDI files under root, recursively, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise SystemExit(f"error: --midi-dir {root} is not a folder.")
    return sorted(p for p in root.rglob("*") if p.suffix in MIDI_SUFFIXES and p.is_file())


def _load_roll(args: tuple[str, int]) -> Optional[np.ndarray]:
    path, spb = args
    try:
        return np.packbits(midi_to_roll(path, steps_per_beat=spb).array, axis=0)
    except MidiError:
        return None


def load_rolls(files: list[Path], steps_per_beat: int, workers: int, cache: Optional[Path] = None,
               show: bool = True) -> tuple[list[np.ndarray], list[str]]:
    """Piano rolls (bit-packed (16, T)) of the readable files, cached in a .npz keyed by file list."""
    key = hashlib.sha1(("|".join(f"{f}:{f.stat().st_size}" for f in files) + f"|{steps_per_beat}").encode()).hexdigest()[:16]
    if cache is not None and cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if str(z["key"]) == key:
            names = [str(n) for n in z["names"]]
            return [z[f"r{i}"] for i in range(len(names))], names
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        def tqdm(x, **_):
            return x
    tasks = [(str(f), steps_per_beat) for f in files]
    if workers > 1 and len(files) > 8:
        with ProcessPoolExecutor(workers) as ex:
            results = list(tqdm(ex.map(_load_roll, tasks, chunksize=8), total=len(tasks), desc="reading MIDI",
                                disable=not show))
    else:
        results = [_load_roll(t) for t in tqdm(tasks, desc="reading MIDI", disable=not show)]
    rolls, names = [], []
    for f, r in zip(files, results):
        if r is not None:
            rolls.append(r)
            names.append(str(f))
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, key=key, names=np.array(names), **{f"r{i}": r for i, r in enumerate(rolls)})
    return rolls, names


def split_by_file(names: list[str], val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Hold out whole pieces: a stable hash of each file name decides train or validation."""
    val, train = [], []
    for i, n in enumerate(names):
        h = int(hashlib.sha1(f"{seed}:{Path(n).name}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        (val if h < val_fraction else train).append(i)
    if not val and len(train) > 1:
        val.append(train.pop())
    return train, val


class WindowSampler:
    """Random 128-step crops with random transposition, from bit-packed rolls."""

    def __init__(self, rolls: list[np.ndarray], max_transpose: int, rng: np.random.Generator):
        self.rolls = [np.unpackbits(r, axis=0)[:128] for r in rolls]
        self.max_transpose, self.rng = max_transpose, rng
        lengths = np.array([max(r.shape[1] - WINDOW + 1, 1) for r in self.rolls], dtype=np.float64)
        self.p = lengths / lengths.sum()

    def sample(self, n: int) -> torch.Tensor:
        """(n, 1, 128, 128) float windows, none of them empty."""
        out = np.zeros((n, 1, 128, WINDOW), dtype=np.float32)
        k = 0
        while k < n:
            r = self.rolls[self.rng.choice(len(self.rolls), p=self.p)]
            s = int(self.rng.integers(0, max(r.shape[1] - WINDOW, 0) + 1))
            w = r[:, s:s + WINDOW]
            rows = np.flatnonzero(w.any(axis=1))
            if rows.size == 0:
                continue
            lo, hi = -min(self.max_transpose, rows[0]), min(self.max_transpose, 127 - rows[-1])
            t = int(self.rng.integers(lo, hi + 1)) if hi >= lo else 0
            out[k, 0, rows[0] + t:rows[-1] + t + 1, :w.shape[1]] = w[rows[0]:rows[-1] + 1]
            k += 1
        return torch.from_numpy(out)


def fixed_windows(rolls: list[np.ndarray], limit: int) -> torch.Tensor:
    """Non-overlapping, non-empty windows of the given pieces, evenly thinned to at most `limit`."""
    ws = []
    for r in rolls:
        a = np.unpackbits(r, axis=0)[:128]
        for s in range(0, max(a.shape[1], 1), WINDOW):
            w = np.zeros((128, WINDOW), dtype=np.float32)
            seg = a[:, s:s + WINDOW]
            w[:, :seg.shape[1]] = seg
            if w.any():
                ws.append(w)
    if len(ws) > limit:
        ws = [ws[i] for i in np.linspace(0, len(ws) - 1, limit).round().astype(int)]
    return torch.from_numpy(np.stack(ws))[:, None] if ws else torch.zeros(0, 1, 128, WINDOW)


# ---------------------------------------------------------------- model and loss


class Autoencoder(nn.Module):
    """Encoder + decoder (+ optional heads) as one module, so DDP wraps one thing."""

    def __init__(self, cfg: dict, mae_decoder: bool, mep: bool):
        super().__init__()
        self.encoder, self.decoder = build_models(cfg, "swin")
        n = len(cfg["depths"])
        dims = tuple(cfg["embed_dim"] * 2 ** (n - 1 - i) for i in range(n))
        self.mae_decoder = SwinMAEDecoder(patch_size=cfg["patch_h"], dims=dims) if mae_decoder else None
        self.mep = SwinMaskedEmbeddingPredictor(dims=dims) if mep else None

    def forward(self, x: torch.Tensor, mae_mask: torch.Tensor, pos_weight: float = 2.0):
        """(encoder output, decoder logits, loss of the optional heads)."""
        out = self.encoder(x, mae_mask=mae_mask)
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
        return out, self.decoder(out), extra


def batch_masks(non_empty: torch.Tensor, cfg: TrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Per-window two-rate masks: a share of windows unmasked, the rest at a random ratio around mask_ratio."""
    B = non_empty.shape[0]
    masked = torch.rand(B, generator=gen) < cfg.masked_fraction
    ratio = (torch.rand(B, generator=gen) + 0.5) * cfg.mask_ratio * masked
    rand = torch.rand(non_empty.shape, generator=gen)
    p = torch.where(non_empty, ratio[:, None], ratio[:, None] * cfg.empty_mask_ratio)
    return rand >= p


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, hidden_px: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """Weighted BCE over all pixels plus a soft-F1 (dice) term on the hidden pixels."""
    weight = 1.0 + cfg.masked_weight * hidden_px.float()
    bce = F.binary_cross_entropy_with_logits(logits, x, weight=weight,
                                             pos_weight=torch.tensor(cfg.pos_weight, device=x.device))
    if cfg.dice_weight <= 0 or not hidden_px.any():
        return bce
    p = torch.sigmoid(logits.float())[hidden_px]
    t = x[hidden_px]
    dice = 1 - (2 * (p * t).sum() + 1) / (p.sum() + t.sum() + 1)
    return bce + cfg.dice_weight * dice


# ---------------------------------------------------------------- validation


@torch.no_grad()
def evaluate(encoder, decoder, windows: torch.Tensor, mask_ratio: float, empty_mask_ratio: float,
             device: torch.device, batch_size: int = 64, seed: int = 1234,
             thresholds: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)) -> dict:
    """Reconstruction F1 etc. unmasked, and at mask_ratio on the masked pixels; plus the bridging baseline."""
    encoder.eval()
    decoder.eval()
    gen = torch.Generator().manual_seed(seed)
    counts = {t: {"plain": {}, "masked": {}, "masked_all": {}} for t in thresholds}
    base = {}
    for i in range(0, len(windows), batch_size):
        x = windows[i:i + batch_size].to(device)
        probs = torch.sigmoid(decoder(encoder(x)).float())
        ne = encoder._compute_non_empty(x)
        mask = make_mae_mask(ne.cpu(), mask_ratio, empty_mask_ratio, gen).to(device)
        mprobs = torch.sigmoid(decoder(encoder(x, mae_mask=mask)).float())
        hidden = ~patch_mask_to_pixels(mask, encoder.grid_size, (encoder.patch_h, encoder.patch_w))
        for t in thresholds:
            c = counts[t]
            c["plain"] = add_counts(c["plain"], confusion(probs > t, x > 0.5))
            c["masked"] = add_counts(c["masked"], confusion(mprobs > t, x > 0.5, hidden))
            c["masked_all"] = add_counts(c["masked_all"], confusion(torch.where(hidden, mprobs > t, x > 0.5), x > 0.5))
        base = add_counts(base, confusion(bridge_baseline(x, ~hidden), x > 0.5, hidden))
    best_t = max(thresholds, key=lambda t: scores(counts[t]["plain"])["f1"] + scores(counts[t]["masked"])["f1"])
    res = {"threshold": best_t, "windows": int(len(windows)), "mask_ratio": mask_ratio}
    for k in ("plain", "masked", "masked_all"):
        res[k] = {m: round(v, 4) for m, v in scores(counts[best_t][k]).items() if m in ("precision", "recall", "f1", "specificity")}
    res["at_0.5"] = {k: round(scores(counts[0.5][k])["f1"], 4) for k in ("plain", "masked")} if 0.5 in counts else {}
    res["bridge_baseline_masked_f1"] = round(scores(base)["f1"], 4)
    return res


# ---------------------------------------------------------------- the loop


def _progress(step: int, elapsed_s: float, cfg: TrainConfig) -> float:
    """How far through the run we are, by steps or, with --minutes, by wall time (whichever is further)."""
    p = step / max(cfg.max_steps, 1)
    if cfg.minutes > 0:
        p = max(p, elapsed_s / (cfg.minutes * 60))
    return min(p, 1.0)


def _lr_at(step: int, progress: float, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to min_lr over the run's progress."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = progress
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * frac))


def _param_groups(model: nn.Module, wd: float) -> list[dict]:
    no_decay = set()
    for prefix, sub in (("encoder.", model.encoder), ("decoder.", model.decoder)):
        no_decay |= {prefix + n for n in sub.no_weight_decay()}
    decay, other = [], []
    for n, p in model.named_parameters():
        (other if n in no_decay or p.ndim <= 1 else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": other, "weight_decay": 0.0}]


def _setup_distributed() -> tuple[int, int, int]:
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1, 0
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))


def train(cfg: TrainConfig, log=print) -> dict:
    """Train, validate, checkpoint; returns the final metrics. Resumable from the last checkpoint."""
    with torch.enable_grad():  # whatever the caller's grad mode (a notebook or app may have turned it off)
        return _train(cfg, log)


def _train(cfg: TrainConfig, log) -> dict:
    rank, world, local_rank = _setup_distributed()
    is_main = rank == 0
    if cfg.device:
        device = torch.device(cfg.device)
    elif torch.cuda.is_available():
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed + rank)
    np.random.seed(cfg.seed + rank)
    torch.manual_seed(cfg.seed)  # same initial weights on every rank

    out = Path(cfg.out)
    files = find_midi_files(cfg.midi_dir)
    if cfg.files_from:
        wanted = set(Path(cfg.files_from).read_text().split())
        files = [f for f in files if str(f.relative_to(cfg.midi_dir)) in wanted]
    if not files:
        raise SystemExit(f"error: no .mid/.midi files found under {cfg.midi_dir}.")
    rolls, names = load_rolls(files, cfg.steps_per_beat, cfg.workers if is_main else 1,
                              cache=out / "rolls_cache.npz" if world == 1 else None, show=is_main)
    if len(rolls) < 2:
        raise SystemExit(f"error: found {len(files)} MIDI file(s) under {cfg.midi_dir} but only {len(rolls)} "
                         f"could be read; training needs at least two pieces (one to hold out).")
    train_idx, val_idx = split_by_file(names, cfg.val_fraction, cfg.seed)
    sampler = WindowSampler([rolls[i] for i in train_idx], cfg.max_transpose, np.random.default_rng(cfg.seed + rank))
    val_windows = fixed_windows([rolls[i] for i in val_idx], cfg.val_windows)

    mcfg = cfg.model_config()
    model = Autoencoder(mcfg, cfg.mae_decoder, cfg.mep).to(device)
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
    step, history, best_f1, elapsed_before = 0, [], -1.0, 0.0
    state_path = out / "train_state.pt"
    resume_from = Path(cfg.resume) if cfg.resume else None
    if resume_from is not None:
        ck = resume_from if resume_from.suffix == ".safetensors" else resume_from / "last.safetensors"
        parts, _, meta = read_checkpoint(ck)
        model.encoder.load_state_dict(parts["encoder"])
        model.decoder.load_state_dict(parts["swin"])
        st_path = ck.parent / "train_state.pt"
        if st_path.is_file():
            st = torch.load(st_path, map_location="cpu", weights_only=True)
            opt.load_state_dict(st["optimizer"])
            for key, mod in (("mae_decoder", model.mae_decoder), ("mep", model.mep)):
                if mod is not None and key in st:
                    mod.load_state_dict(st[key])
        step = int(meta.get("step", 0))
        history = meta.get("history", [])
        best_f1 = float(meta.get("best_f1", -1.0))
        elapsed_before = float(meta.get("wall_time_s", 0.0))
        if is_main:
            log(f"resumed from {ck} at step {step}")

    ddp = model
    if world > 1:
        ddp = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=True)  # the 1x1 stage's attention blocks are never run
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" and torch.cuda.is_bf16_supported()
                else torch.autocast("cpu", enabled=False))
    gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank + step)

    def save(tag: str, metrics: Optional[dict] = None) -> None:
        meta = {"step": step, "history": history[-200:], "best_f1": best_f1, "train_config": dataclasses.asdict(cfg),
                "data": {"midi_dir": cfg.midi_dir, "files": len(files), "readable": len(rolls),
                         "train_pieces": len(train_idx), "val_pieces": len(val_idx),
                         "val_names": [Path(names[i]).name for i in val_idx][:2000]},
                "wall_time_s": round(elapsed_before + time.time() - t0, 1), "world_size": world,
                "hardware": f"{device.type} x{world} ({platform.processor() or platform.machine()}, "
                            f"{torch.get_num_threads()} threads)", "torch": torch.__version__,
                "metrics": metrics or (history[-1] if history else {})}
        if metrics and "threshold" in metrics:
            meta["threshold"] = metrics["threshold"]
        save_checkpoint(out / f"{tag}.safetensors", model.encoder, model.decoder, mcfg, meta)
        if model.mae_decoder is not None:  # loadable beside the encoder: load_model(enc, decoder=this file)
            save_checkpoint(out / f"{tag}_mae_decoder.safetensors", None, model.mae_decoder, mcfg, meta)
        if tag == "last":
            extra = {"optimizer": opt.state_dict()}
            for key, mod in (("mae_decoder", model.mae_decoder), ("mep", model.mep)):
                if mod is not None:
                    extra[key] = mod.state_dict()
            tmp = state_path.with_suffix(".tmp")
            torch.save(extra, tmp)
            tmp.replace(state_path)

    try:
        from tqdm import tqdm
        bar = tqdm(total=cfg.max_steps, initial=step, disable=not is_main, dynamic_ncols=True, mininterval=2)
    except ImportError:  # pragma: no cover
        bar = None
    t0 = time.time()
    last_metrics: dict = history[-1] if history else {}
    ema = None
    losses: list[float] = []
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        log(f"{len(rolls)} pieces ({len(train_idx)} train, {len(val_idx)} held out; {len(val_windows)} validation "
            f"windows), {sum(p.numel() for p in model.parameters()):,} parameters, device {device}, world {world}")
    while step < cfg.max_steps:
        progress = _progress(step, elapsed_before + time.time() - t0, cfg)
        if world > 1:  # every rank must stop at the same step
            t = torch.tensor([progress], device=device)
            dist.broadcast(t, 0)
            progress = float(t)
        if progress >= 1.0:
            break
        model.train()
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, progress, cfg)
        x = sampler.sample(cfg.batch_size).to(device)
        ne = model.encoder._compute_non_empty(x)
        mask = batch_masks(ne.cpu(), cfg, gen).to(device)
        hidden = ~patch_mask_to_pixels(mask, model.encoder.grid_size, (model.encoder.patch_h, model.encoder.patch_w))
        with autocast:
            _, logits, extra = ddp(x, mask, cfg.pos_weight)
            loss = reconstruction_loss(logits.float(), x, hidden, cfg) + extra
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        lv = float(loss.detach())
        losses.append(lv)
        if not math.isfinite(lv):
            raise SystemExit(f"error: the loss became {lv} at step {step}; try a lower --lr.")
        ema = lv if ema is None else 0.98 * ema + 0.02 * lv
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{ema:.4f}", lr=f"{opt.param_groups[0]['lr']:.2e}", refresh=False)
        if is_main and (step % cfg.val_every == 0 or step == cfg.max_steps) and len(val_windows):
            m = evaluate(model.encoder, model.decoder, val_windows, 0.5, cfg.empty_mask_ratio, device)
            m.update(step=step, loss=round(ema, 5), wall_time_s=round(elapsed_before + time.time() - t0, 1))
            history.append(m)
            last_metrics = m
            log(f"step {step}: loss {ema:.4f}  val F1 unmasked {m['plain']['f1']:.4f}  masked(0.5) {m['masked']['f1']:.4f}"
                f"  (bridge baseline {m['bridge_baseline_masked_f1']:.4f}, threshold {m['threshold']})")
            score = m["plain"]["f1"] + m["masked"]["f1"]
            if score > best_f1:
                best_f1 = score
                save("best", m)
        if is_main and step % cfg.ckpt_every == 0:
            save("last", last_metrics)
        if world > 1 and step % cfg.ckpt_every == 0:
            dist.barrier()
    if bar is not None:
        bar.close()
    if is_main:
        if len(val_windows) and (not history or history[-1].get("step") != step):
            m = evaluate(model.encoder, model.decoder, val_windows, 0.5, cfg.empty_mask_ratio, device)
            m.update(step=step, loss=round(ema or 0.0, 5), wall_time_s=round(elapsed_before + time.time() - t0, 1))
            history.append(m)
            last_metrics = m
            if m["plain"]["f1"] + m["masked"]["f1"] > best_f1:
                best_f1 = m["plain"]["f1"] + m["masked"]["f1"]
                save("best", m)
        save("last", last_metrics)
        (out / "metrics.json").write_text(json.dumps(history, indent=1))
        log(f"saved {out / 'last.safetensors'} after {step} steps")
    if world > 1:
        dist.barrier()
        dist.destroy_process_group()
    return {**last_metrics, "losses": losses, "step": step}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The train command's flags, one per TrainConfig field."""
    d = TrainConfig()
    p.add_argument("--midi-dir", required=True, help="folder of .mid/.midi files (searched recursively)")
    p.add_argument("--out", default=d.out, help="folder for checkpoints (last.safetensors, best.safetensors)")
    p.add_argument("--seven-level", action="store_true", help="the 7-level variant (patch 2, embed_dim 4)")
    for f in dataclasses.fields(TrainConfig):
        if f.name in ("midi_dir", "out", "seven_level", "mae_decoder", "mep"):
            continue
        flag = "--" + f.name.replace("_", "-")
        p.add_argument(flag, type=type(f.default), default=f.default)
    p.add_argument("--mae-decoder", action="store_true", help="also train a SwinMAEDecoder head")
    p.add_argument("--mep", action="store_true", help="also train a SwinMaskedEmbeddingPredictor head")


def config_from_args(a: argparse.Namespace) -> TrainConfig:
    """TrainConfig from parsed flags, with the checks that give clear messages."""
    cfg = TrainConfig(**{f.name: getattr(a, f.name) for f in dataclasses.fields(TrainConfig)})
    problems = []
    if cfg.batch_size < 1:
        problems.append("--batch-size must be at least 1")
    if cfg.max_steps < 1:
        problems.append("--max-steps must be at least 1")
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
    if cfg.files_from and not Path(cfg.files_from).is_file():
        problems.append(f"--files-from {cfg.files_from} does not exist")
    if cfg.resume and not Path(cfg.resume).exists():
        problems.append(f"--resume {cfg.resume} does not exist")
    if problems:
        raise SystemExit("error: " + "; ".join(problems) + ".")
    return cfg

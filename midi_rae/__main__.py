"""The command line: python -m midi_rae {inspect, train, corpus, bench, report}."""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Optional


def _die(msg: str, code: int = 2) -> None:
    print(f"error: {msg}", file=sys.stderr)
    raise SystemExit(code)


def _round(v):
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 4)
    if isinstance(v, dict):
        return {k: _round(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_round(x) for x in v]
    return v


def inspect_file(midi: str, checkpoint: Optional[str] = None, decoder: Optional[str] = None,
                 mask_ratio: float = 0.5, empty_mask_ratio: Optional[float] = None, seed: int = 0,
                 steps_per_beat: Optional[int] = None, threshold: Optional[float] = None) -> dict:
    """Per-level statistics and reconstruction scores of one MIDI file under one checkpoint."""
    from .analysis import encode_levels, level_stats, masks_for, reconstruct_probs, reconstruction_metrics
    from .checkpoint import load_model
    from .pianoroll import midi_to_roll, windows

    t0 = time.perf_counter()
    bundle = load_model(checkpoint, decoder=decoder)
    spb = steps_per_beat or bundle.config.get("steps_per_beat") or 4
    roll = midi_to_roll(midi, steps_per_beat=spb)
    x, starts = windows(roll, width=bundle.encoder.grid_size[1] * bundle.encoder.patch_w)
    embs, nes = encode_levels(bundle.encoder, x)
    stats = level_stats(nes)
    levels = []
    for k, (e, st) in enumerate(zip(embs, stats)):
        g = int(round(math.sqrt(e.shape[1])))
        levels.append({"level": k, "grid": [g, g], "dim": int(e.shape[2]),
                       "patch": [bundle.encoder.grid_size[0] * bundle.encoder.patch_h // g,
                                 bundle.encoder.grid_size[1] * bundle.encoder.patch_w // g],
                       "non_empty_mean": st["mean"] / 100, "non_empty_std": st["std"] / 100,
                       "non_empty_min": st["min"] / 100, "non_empty_max": st["max"] / 100})
    emr = bundle.config.get("empty_mask_ratio", 0.05) if empty_mask_ratio is None else empty_mask_ratio
    recon = None
    if bundle.decoder is not None:
        thr = threshold if threshold is not None else float(bundle.meta.get("threshold", 0.5))
        mask = masks_for(bundle.encoder, x, mask_ratio, emr, seed)
        probs = reconstruct_probs(bundle, x, mask)
        m = reconstruction_metrics(x, probs, mask, thr, bundle.encoder.grid_size,
                                   (bundle.encoder.patch_h, bundle.encoder.patch_w))
        plain = reconstruction_metrics(x, reconstruct_probs(bundle, x, None), mask, thr, bundle.encoder.grid_size,
                                       (bundle.encoder.patch_h, bundle.encoder.patch_w))["all_raw"]
        keep = ("precision", "recall", "f1", "specificity")
        recon = {"mask_ratio": mask_ratio, "empty_mask_ratio": emr, "seed": seed, "threshold": thr,
                 "masked_patches": int((~mask).sum()), "patches": int(mask.numel()),
                 "masked": {k: m["masked"][k] for k in keep}, "all": {k: m["all"][k] for k in keep},
                 "unmasked": {k: plain[k] for k in keep}}
    return _round({"file": str(midi), "checkpoint": bundle.source, "steps_per_beat": spb,
                   "roll": {"steps": roll.steps, "bars": roll.bars, "notes": roll.n_notes,
                            "duration_s": roll.duration_s, "tempo_bpm": roll.tempo_bpm},
                   "windows": int(len(x)), "levels": levels, "reconstruction": recon,
                   "seconds": time.perf_counter() - t0})


def _print_inspect(r: dict) -> None:
    ro = r["roll"]
    print(f"{r['file']}: {ro['notes']} notes, {ro['bars']:.1f} bars, {ro['duration_s']:.1f} s, "
          f"{r['windows']} windows of 128 steps ({r['steps_per_beat']} steps/beat)")
    print(f"checkpoint: {r['checkpoint']}")
    print(f"{'level':>5} {'grid':>7} {'patch':>9} {'dim':>5} {'non-empty mean':>15} {'std':>6} {'min':>6} {'max':>6}")
    for lv in r["levels"]:
        g, p = lv["grid"], lv["patch"]
        print(f"{lv['level']:>5} {f'{g[0]}x{g[1]}':>7} {f'{p[0]}x{p[1]}':>9} {lv['dim']:>5} "
              f"{lv['non_empty_mean'] * 100:>14.1f}% {lv['non_empty_std'] * 100:>5.1f}% "
              f"{lv['non_empty_min'] * 100:>5.1f}% {lv['non_empty_max'] * 100:>5.1f}%")
    rec = r["reconstruction"]
    if rec is None:
        print("no decoder in this checkpoint: reconstruction skipped (pass --decoder FILE)")
    else:
        print(f"reconstruction at mask ratio {rec['mask_ratio']} (empty {rec['empty_mask_ratio']}), seed {rec['seed']}, "
              f"threshold {rec['threshold']}: {rec['masked_patches']} of {rec['patches']} patches masked")
        for name in ("masked", "all", "unmasked"):
            s = rec[name]
            fmt = lambda v: "  n/a " if v is None else f"{v:6.3f}"  # noqa: E731
            label = {"masked": "masked patches", "all": "all patches", "unmasked": "no masking"}[name]
            print(f"  {label:<15} precision {fmt(s['precision'])}  recall {fmt(s['recall'])}  "
                  f"F1 {fmt(s['f1'])}  specificity {fmt(s['specificity'])}")
    print(f"({r['seconds']:.2f} s)")


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the midi-rae command."""
    p = argparse.ArgumentParser(prog="midi-rae", description="Look inside hierarchical Swin V2 piano-roll autoencoders.")
    sub = p.add_subparsers(dest="cmd", required=True)

    pi = sub.add_parser("inspect", help="per-level statistics and reconstruction scores of a MIDI file")
    pi.add_argument("file")
    pi.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped one)")
    pi.add_argument("--decoder", default=None, help="a separate decoder checkpoint")
    pi.add_argument("--mask-ratio", type=float, default=0.5)
    pi.add_argument("--empty-mask-ratio", type=float, default=None)
    pi.add_argument("--seed", type=int, default=0)
    pi.add_argument("--steps-per-beat", type=int, default=None,
                    help="time resolution (default: the checkpoint's, or 4 for original-format checkpoints)")
    pi.add_argument("--threshold", type=float, default=None, help="binarization threshold (default: the checkpoint's)")
    pi.add_argument("--json", action="store_true", help="print one JSON object")

    pt = sub.add_parser("train", help="train an encoder + decoder on a folder of MIDI files")
    from .train import add_arguments
    add_arguments(pt)

    pc = sub.add_parser("corpus", help="write the music21 corpus as MIDI files (needs the 'train' extra)")
    pc.add_argument("--out", required=True)
    pc.add_argument("--collections", nargs="*", default=None, help="e.g. bach palestrina (default: all)")
    pc.add_argument("--limit", type=int, default=None, help="at most this many corpus files, spread over collections")
    pc.add_argument("--jobs", type=int, default=1)
    pc.add_argument("--max-per-file", type=int, default=40, help="scores taken from a multi-tune file")

    pe = sub.add_parser("evaluate", help="reconstruction F1 (unmasked and masked) over MIDI files or folders")
    pe.add_argument("paths", nargs="+", help="MIDI files or folders (searched recursively)")
    pe.add_argument("--checkpoint", default=None)
    pe.add_argument("--decoder", default=None)
    pe.add_argument("--mask-ratio", type=float, default=0.5)
    pe.add_argument("--max-windows", type=int, default=2000)
    pe.add_argument("--only", default=None, help="a text file of file names to keep (e.g. a run's held-out list)")
    pe.add_argument("--json", action="store_true")

    pb = sub.add_parser("bench", help="time the core on a long synthetic piece (speed and memory)")
    pb.add_argument("--checkpoint", default=None)
    pb.add_argument("--minutes", type=float, default=10.0, help="length of the synthetic piece")
    pb.add_argument("--json", action="store_true")

    pr = sub.add_parser("report", help="one self-contained HTML report of a MIDI file under a checkpoint")
    pr.add_argument("file")
    pr.add_argument("-o", "--out", required=True, help="the HTML file to write")
    pr.add_argument("--checkpoint", default=None, help="checkpoint (default: the shipped one)")
    pr.add_argument("--decoder", default=None, help="a separate decoder checkpoint")
    pr.add_argument("--mask-ratio", type=float, default=0.5)
    pr.add_argument("--empty-mask-ratio", type=float, default=None)
    pr.add_argument("--seed", type=int, default=0)
    pr.add_argument("--start-bar", type=int, default=1, help="first bar of the window studied in detail")
    pr.add_argument("--steps-per-beat", type=int, default=None)
    pr.add_argument("--threshold", type=float, default=None)

    a = p.parse_args(argv)
    if a.cmd == "inspect":
        return _cmd_inspect(a)
    if a.cmd == "train":
        from .train import config_from_args, train
        train(config_from_args(a))
        return 0
    if a.cmd == "corpus":
        from .corpus import export_corpus
        print(json.dumps(export_corpus(a.out, a.collections, a.limit, a.jobs, a.max_per_file)))
        return 0
    if a.cmd == "evaluate":
        return _cmd_evaluate(a)
    if a.cmd == "bench":
        from .bench import main as bench_main
        bench_main(a.checkpoint, a.minutes, a.json)
        return 0
    if a.cmd == "report":
        return _cmd_report(a)
    return 2


def _cmd_evaluate(a: argparse.Namespace) -> int:
    import torch

    from .checkpoint import CheckpointError, load_model
    from .train import evaluate, find_midi_files, fixed_windows, load_rolls

    files: list[Path] = []
    for p in map(Path, a.paths):
        files += find_midi_files(p) if p.is_dir() else [p]
    if a.only:
        keep = set(Path(a.only).read_text().split())
        files = [f for f in files if f.name in keep]
    if not files:
        _die("no MIDI files to evaluate.", 1)
    try:
        bundle = load_model(a.checkpoint, decoder=a.decoder)
    except CheckpointError as e:
        _die(str(e), 1)
    if bundle.decoder is None:
        _die("this checkpoint has no decoder, so there is nothing to evaluate.", 1)
    rolls, names = load_rolls(files, bundle.config.get("steps_per_beat") or 4, 1, show=False)
    x = fixed_windows(rolls, a.max_windows)
    class _Dec(torch.nn.Module):  # reconstruct() handles both decoder kinds
        def forward(self, out):
            return bundle.reconstruct(out)

    r = evaluate(bundle.encoder, _Dec(), x, a.mask_ratio, bundle.config.get("empty_mask_ratio", 0.05), bundle.device)
    r.update(files=len(files), readable=len(rolls))
    if a.json:
        print(json.dumps(r))
    else:
        print(f"{len(rolls)} pieces, {r['windows']} windows; threshold {r['threshold']}")
        print(f"  unmasked      F1 {r['plain']['f1']:.4f}  precision {r['plain']['precision']:.4f}  recall {r['plain']['recall']:.4f}")
        print(f"  masked ({a.mask_ratio})  F1 {r['masked']['f1']:.4f}  precision {r['masked']['precision']:.4f}  recall {r['masked']['recall']:.4f}")
        print(f"  bridge baseline on the same masked pixels: F1 {r['bridge_baseline_masked_f1']:.4f}")
    return 0


def _check_ratios(a: argparse.Namespace) -> None:
    if not 0 <= a.mask_ratio <= 1:
        _die("--mask-ratio must lie between 0 and 1.")
    if a.empty_mask_ratio is not None and not 0 <= a.empty_mask_ratio <= 1:
        _die("--empty-mask-ratio must lie between 0 and 1.")


def _cmd_inspect(a: argparse.Namespace) -> int:
    from .checkpoint import CheckpointError
    from .pianoroll import MidiError

    _check_ratios(a)
    try:
        r = inspect_file(a.file, a.checkpoint, a.decoder, a.mask_ratio, a.empty_mask_ratio, a.seed,
                         a.steps_per_beat, a.threshold)
    except (MidiError, CheckpointError) as e:
        _die(str(e), 1)
    except FileNotFoundError as e:
        _die(f"{e.filename} does not exist.", 1)
    if a.json:
        print(json.dumps(r))
    else:
        _print_inspect(r)
    return 0


def _cmd_report(a: argparse.Namespace) -> int:
    from .checkpoint import CheckpointError
    from .pianoroll import MidiError

    _check_ratios(a)
    from .report import write_report
    try:
        out = write_report(a.out, a.file, checkpoint=a.checkpoint, decoder=a.decoder, mask_ratio=a.mask_ratio,
                           empty_mask_ratio=a.empty_mask_ratio, seed=a.seed, start_bar=a.start_bar,
                           steps_per_beat=a.steps_per_beat, threshold=a.threshold)
    except (MidiError, CheckpointError) as e:
        _die(str(e), 1)
    except FileNotFoundError as e:
        _die(f"{e.filename} does not exist.", 1)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

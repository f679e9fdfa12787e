"""inspect: per-level statistics and reconstruction scores of one MIDI file (or PNG piano roll) under one checkpoint.

Importing this module is cheap (torch is imported inside inspect_file), so the CLI can import it to build its parser.
"""
from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Optional

from .wording import counted, timing_text

if TYPE_CHECKING:
    from .pianoroll import PianoRoll


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
                 steps_per_beat: Optional[int] = None, threshold: Optional[float] = None,
                 flip_png: bool = False, sustain_pedal: bool = False, roll: Optional[PianoRoll] = None) -> dict:
    """Per-level statistics and reconstruction scores of one MIDI file (or PNG piano roll) under one checkpoint.

    The piece is cut into windows by the one rule the dashboard and report use (midi_rae.inference). A PNG is
    recognised by its content, as the piece page does (`flip_png`: its row 0 is the highest pitch); `sustain_pedal`
    applies a MIDI file's pedal; `roll`: the piece already read (used where read at the resolution wanted).
    """
    from .checkpoint import load_model
    from .inference import encode_piece, piece_windows, score_windows, settings_for
    from .png_rolls import holds_png, read_roll_once

    from .threads import configure

    configure()
    t0 = time.perf_counter()
    bundle = load_model(checkpoint, decoder=decoder)
    cfg = bundle.model_config
    spb = steps_per_beat or cfg.steps_per_beat or 4
    roll = read_roll_once(roll, midi, spb, flip=flip_png, sustain_pedal=sustain_pedal)
    piece = encode_piece(bundle.encoder, roll)
    levels = []
    for k, ((rows, cols), st) in enumerate(zip(cfg.level_grids, piece.stats)):
        steps, semis = cfg.patch_extent(k)
        # the page's and the report's percentages (to 0.1), as fractions: rounded once, so all three agree
        levels.append({"level": k, "grid": [rows, cols], "dim": cfg.level_dims[k], "patch": [semis, steps],
                       **{f"non_empty_{s}": round(st[s], 1) / 100 for s in ("mean", "std", "min", "max")}})
    settings = settings_for(bundle, mask_ratio, empty_mask_ratio, seed, threshold)
    recon = None
    if bundle.decoder is not None:
        x, _, _ = piece_windows(roll, cfg.window_steps)
        sc = score_windows(bundle.encoder, bundle.reconstruct, x, settings.mask_ratio, settings.empty_mask_ratio,
                           (settings.threshold,), seed=settings.seed, each_window=True)
        s = sc.at(settings.threshold)
        recon = {"mask_ratio": settings.mask_ratio, "empty_mask_ratio": settings.empty_mask_ratio,
                 "seed": settings.seed, "threshold": settings.threshold, "masked_patches": sc.hidden_patches,
                 "patches": sc.patches, "masked": s["masked"], "all": s["masked_all"], "unmasked": s["plain"]}
    return _round({"file": str(midi), "kind": "png" if holds_png(midi) else "midi", "checkpoint": bundle.source,
                   "decoder": str(decoder) if decoder else None, "steps_per_beat": spb,
                   "roll": {"steps": roll.steps, "bars": roll.bars, "notes": roll.n_notes, "drum_notes": roll.drum_notes,
                            "duration_s": roll.duration_s, "tempo_bpm": roll.tempo_bpm,
                            **_metre(roll, holds_png(midi))},
                   "grid_note": roll.grid_note, "reading_notes": list(roll.reading_notes),
                   "pedal_presses": roll.pedal_presses, "sustain_pedal": roll.sustain_pedal,
                   "windows": piece.n_windows, "window_hop_steps": piece.hop, "levels": levels,
                   "reconstruction": recon, "seconds": time.perf_counter() - t0})


def _metre(roll, png: bool) -> dict:
    """The roll's metre and the page header's own sentence (bars, metre, length, tempo, grid); a PNG roll has none."""
    if png:
        return dict.fromkeys(("time_signature", "metre_changes", "opening_time_signature", "pickup_steps",
                              "tempo_changes", "timing"))
    return {"time_signature": list(roll.time_signature), "metre_changes": roll.metre_changes,
            "opening_time_signature": list(roll.opening_time_signature) if roll.opening_time_signature else None,
            "pickup_steps": roll.pickup_steps, "tempo_changes": roll.tempo_changes, "timing": timing_text(roll)}


def _print_inspect(r: dict) -> None:
    ro = r["roll"]
    extent = (f"{counted(ro['steps'], 'step')} (a PNG piano roll: no tempo or bars)" if r.get("kind") == "png"
              else f"{ro['bars']:.1f} bars, {ro['duration_s']:.1f} s")
    drums = f" (and {ro['drum_notes']:,} of drums, left out)" if ro.get("drum_notes") else ""
    print(f"{r['file']}: {counted(ro['notes'], 'note')}{drums}, {extent}, "
          + (f"{counted(r['windows'], 'window')} {r['window_hop_steps']} steps apart" if r["windows"] > 1 else "1 window")
          + f" ({r['steps_per_beat']} steps/beat)")
    if ro.get("timing"):
        print(f"timing: {ro['timing']}")
    print(f"checkpoint: {r['checkpoint']}" + (f" + decoder {r['decoder']}" if r.get("decoder") else ""))
    for note in [r.get("grid_note")] + list(r.get("reading_notes") or []):
        if note:
            print(f"note: {note}")
    if r.get("pedal_presses") and not r.get("sustain_pedal"):
        print("note: --sustain-pedal applies it.")
    # a patch's extent as the page's table names it: semitones × steps
    print(f"{'level':>5} {'grid':>7} {'patch (semis x steps)':>21} {'dim':>5} {'non-empty mean':>15} {'std':>6} "
          f"{'min':>6} {'max':>6}")
    for lv in r["levels"]:
        g, p = lv["grid"], lv["patch"]
        print(f"{lv['level']:>5} {f'{g[0]}x{g[1]}':>7} {f'{p[0]}x{p[1]}':>21} {lv['dim']:>5} "
              f"{lv['non_empty_mean'] * 100:>14.1f}% {lv['non_empty_std'] * 100:>5.1f}% "
              f"{lv['non_empty_min'] * 100:>5.1f}% {lv['non_empty_max'] * 100:>5.1f}%")
    rec = r["reconstruction"]
    if rec is None:
        print("no decoder in this checkpoint: reconstruction skipped (pass --decoder FILE)")
    else:
        which = "its window" if r["windows"] == 1 else f"all {r['windows']} windows pooled, each"
        print(f"reconstruction of {which} under its own mask as the page draws it, at mask ratio {rec['mask_ratio']} (empty {rec['empty_mask_ratio']} × that), seed {rec['seed']}, "
              f"threshold {rec['threshold']}: {rec['masked_patches']} of {rec['patches']} patches masked")
        for name in ("masked", "all", "unmasked"):
            s = rec[name]
            fmt = lambda v: "  n/a " if v is None else f"{v:6.3f}"  # noqa: E731
            label = {"masked": "masked patches", "all": "all patches", "unmasked": "no masking"}[name]
            print(f"  {label:<15} precision {fmt(s['precision'])}  recall {fmt(s['recall'])}  "
                  f"F1 {fmt(s['f1'])}  specificity {fmt(s['specificity'])}")
    print(f"({r['seconds']:.2f} s)")

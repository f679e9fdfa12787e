"""Speed and memory benchmark of the core: MIDI parsing, encoding, reconstruction, inspect on a long piece."""
from __future__ import annotations

import json
import platform
import resource
import time
from typing import Callable, Optional

import numpy as np
import pretty_midi
import torch


def long_piece(minutes: float = 10.0, tempo: float = 120.0, seed: int = 0) -> bytes:
    """A synthetic piece of the given length: chords, a running melody and a bass line, 4/4."""
    from .pianoroll import midi_bytes

    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    beat = 60.0 / tempo
    bars = max(1, int(minutes * 60 / (4 * beat)))  # at least one bar: --minutes 0.001 had no notes at all
    piano, bass = pretty_midi.Instrument(0), pretty_midi.Instrument(33)
    for b in range(bars):
        t0 = b * 4 * beat
        root = int(rng.choice([0, 5, 7, 9]))
        for p in (60 + root, 64 + root, 67 + root):
            piano.notes.append(pretty_midi.Note(70, p, t0, t0 + 4 * beat))
        for k in range(8):
            p = 72 + int(rng.choice([0, 2, 4, 5, 7, 9, 11, 12]))
            piano.notes.append(pretty_midi.Note(90, p, t0 + k * beat / 2, t0 + (k + 1) * beat / 2))
        for k in range(4):
            bass.notes.append(pretty_midi.Note(90, 36 + root, t0 + k * beat, t0 + (k + 0.9) * beat))
    pm.instruments += [piano, bass]
    return midi_bytes(pm)


def _time(fn: Callable, repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


@torch.no_grad()
def run(checkpoint: Optional[str] = None, minutes: float = 10.0, decoder: Optional[str] = None) -> dict:
    """Time the core operations on a long synthetic piece; returns the figures (the reconstruction's as None
    without a decoder)."""
    import os
    import tempfile

    from .analysis import encode_levels
    from .checkpoint import load_model
    from .inference import analyse_window, encode_piece, score_windows, settings_for
    from .inspect import inspect_file
    from .pianoroll import midi_to_roll, windows

    from .threads import configure

    configure()
    data = long_piece(minutes)
    t_load, bundle = _time(lambda: load_model(checkpoint, decoder=decoder), 1)
    t_parse, roll = _time(lambda: midi_to_roll(data))
    x, _ = windows(roll, width=bundle.model_config.window_steps)
    t_enc, _ = _time(lambda: encode_levels(bundle.encoder, x, batch_size=32))
    t_piece, piece = _time(lambda: encode_piece(bundle.encoder, roll), 1)
    settings = settings_for(bundle)
    t_one, _ = _time(lambda: bundle.encoder(x[:1]), 5)
    t_rec = t_rec_all = None
    if bundle.decoder is not None:
        t_rec, _ = _time(lambda: analyse_window(bundle, roll, 0, settings), 5)
        t_rec_all, _ = _time(lambda: score_windows(bundle.encoder, bundle.reconstruct, x, settings.mask_ratio,
                                                   settings.empty_mask_ratio, (settings.threshold,), batch_size=32), 1)
    with tempfile.NamedTemporaryFile(suffix=".mid", delete=False) as f:
        f.write(data)
    try:
        t_inspect, _ = _time(lambda: inspect_file(f.name, checkpoint, decoder=decoder), 1)
    finally:
        os.unlink(f.name)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"piece_minutes": minutes, "steps": roll.steps, "windows": int(len(x)), "piece_windows": piece.n_windows,
            "load_model_s": round(t_load, 3), "parse_midi_s": round(t_parse, 3),
            "encode_all_windows_s": round(t_enc, 3), "encode_windows_per_s": round(len(x) / t_enc, 1),
            "encode_piece_windows_s": round(t_piece, 3),
            "encode_one_window_ms": round(1000 * t_one, 1),
            "analyse_one_window_ms": None if t_rec is None else round(1000 * t_rec, 1),
            "score_all_windows_s": None if t_rec_all is None else round(t_rec_all, 3),
            "inspect_cli_s": round(t_inspect, 3),
            "peak_rss_mb": round(rss_mb, 1), "threads": torch.get_num_threads(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "torch": torch.__version__}


def main(checkpoint: Optional[str] = None, minutes: float = 10.0, as_json: bool = False,
         decoder: Optional[str] = None) -> None:
    """Print the benchmark."""
    r = run(checkpoint, minutes, decoder)
    if as_json:
        print(json.dumps(r))
        return
    for k, v in r.items():
        print(f"{k:>28}  {'n/a (no decoder)' if v is None else v}")

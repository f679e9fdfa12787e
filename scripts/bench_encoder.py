"""Eager against compiled (AOTInductor) throughput on real windows, side by side in one process: the encoder alone
and the whole index step (numbers for the README; not a test).

    MIDI_RAE_THREADS=2 python scripts/bench_encoder.py /work/data/m21 --files 40 --runs 3

Windows come from every `stride`-th MIDI file under the folder, cut with the index's rule. Each run builds the
encoder's package afresh (~30 s) and prints one JSON line; the last line is the median speed-ups over the runs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from midi_rae import threads  # noqa: E402


def real_windows(folder: str, files: int, width: int):
    """Windows (n, 1, 128, width) of `files` MIDI files spread over the folder's sorted list."""
    import torch

    from midi_rae.index import _parse_job, discover, prepare_piece

    paths = [str(p) for p in discover([folder])[0]]
    stride = max(1, len(paths) // max(files, 1))
    xs = []
    for path in paths[::stride][:files]:
        parsed = _parse_job((path, 4, False, None, False))
        if "error" not in parsed:
            xs.append(prepare_piece(parsed, "bench", width, folder).x)
    return torch.cat(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder")
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--checkpoint", default=None)
    args = ap.parse_args()
    threads.configure()
    from midi_rae.checkpoint import load_model
    from midi_rae.index import encoder_benchmark

    bundle = load_model(args.checkpoint)
    x = real_windows(args.folder, args.files, bundle.model_config.window_steps)
    runs = []
    for _ in range(args.runs):
        runs.append(encoder_benchmark(bundle, args.batch, windows=x))
        print(json.dumps(runs[-1]), flush=True)
    print(json.dumps({"windows": len(x), "runs": len(runs),
                      **{k: statistics.median(r[k] for r in runs) for k in ("encoder_speedup", "step_speedup")}}))


if __name__ == "__main__":
    main()

"""Time the training batches of one DataLoader worker (WindowDataset.draw) with the shipped recipe's augmentations.

    python scripts/bench_batches.py FOLDER [--files 60] [--batch 256] [--repeat 10]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from midi_rae.train_data import Augment, WindowDataset, find_roll_files, read_pieces


def main() -> None:
    """Print the median seconds per batch and windows a second."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--files", type=int, default=60)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeat", type=int, default=10)
    a = p.parse_args()
    rolls, _ = read_pieces(find_roll_files(a.folder)[:a.files], 4, 1, show=False)
    aug = Augment(time_compress=0.25, superpose=0.3, octave_double=0.2, articulate=0.5)
    ds = WindowDataset(rolls, a.batch, 128, 12, aug=aug)
    rng = np.random.default_rng(0)
    ds.draw(rng)
    times = []
    for _ in range(a.repeat):
        t = time.perf_counter()
        ds.draw(rng)
        times.append(time.perf_counter() - t)
    med = float(np.median(times))
    print(f"batch {a.batch}: {med * 1000:.0f} ms median of {a.repeat} -> {a.batch / med:,.0f} windows/s per worker")


if __name__ == "__main__":
    main()

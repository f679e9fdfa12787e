#!/usr/bin/env python3
"""Transposition-invariant search, before and after, interleaved in one process on one index.

Before (to the twenty-sixth session): the 12 intervals -6..+5, one store query each. After: the 25 intervals
-12..+12 in one store query (`CorpusIndex.nearest_each`). Both encode the query's transposed windows first.

    MIDI_RAE_THREADS=2 .venv/bin/python scripts/bench_transposed_search.py INDEX [--rounds 7]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from midi_rae import index as I
from midi_rae.checkpoint import load_model

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


def main() -> None:
    """Time both ways, alternating, and print each one's median and range."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("index")
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    idx, bundle = I.CorpusIndex(a.index), load_model()
    roll = I.read_as_indexed(idx.meta, sorted(EXAMPLES.glob("*.mid"))[0])
    level, k = I.default_level(idx.levels), 10 * I.CANDIDATES

    def one_by_one() -> None:
        for _, v in I.query_vectors(bundle, roll, 1, level, None, tuple(range(-6, 6))):
            idx.nearest(v, level, k, where="pitch_lo >= 0")

    def all_at_once() -> None:
        vecs = I.query_vectors(bundle, roll, 1, level, None, tuple(range(-12, 13)))
        idx.nearest_each([v for _, v in vecs], level, k, where="pitch_lo >= 0")

    ways = {"12 intervals, one query each": one_by_one, "25 intervals, one query": all_at_once}
    times: dict[str, list[float]] = {name: [] for name in ways}
    for f in ways.values():  # warm: the model, the store's files
        f()
    for _ in range(a.rounds):
        for name, f in ways.items():
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    for name, v in times.items():
        print(f"{name}: median {1000 * statistics.median(v):.0f} ms ({1000 * min(v):.0f}-{1000 * max(v):.0f})")


if __name__ == "__main__":
    main()

"""Argument types for the command line, checked at parse time (a bad value is a usage error, exit 2).

Torch-free, shared by every parser (midi_rae.__main__ and midi_rae.index_cli).
"""
from __future__ import annotations

import argparse
import math
from typing import Callable, Optional


MAX_JOBS = 64  # worker processes one command starts at most: each parsing process takes ~40 MB, 1,000 ~37 GB
MAX_BENCH_MINUTES = 40.0  # `bench`'s synthetic piece at 120 BPM: 4,800 beats, within a roll's 5,000
MAX_SEED = 2 ** 32 - 1  # numpy's legacy seeding and every generator the commands use take 0..2**32-1


def ratio(s: str) -> float:
    """A number in [0, 1]."""
    v = finite(s)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError(f"{s} is not between 0 and 1")
    return v


def finite(s: str) -> float:
    """A finite number."""
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a number") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{s} is not a finite number")
    return v


def positive(s: str) -> float:
    """A number above 0."""
    v = finite(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{s} is not a positive number")
    return v


def positive_at_most(hi: float) -> Callable[[str], float]:
    """A number above 0 and at most hi."""
    def parse(s: str) -> float:
        v = positive(s)
        if v > hi:
            raise argparse.ArgumentTypeError(f"{s} is more than {hi:g}")
        return v
    parse.__name__ = "float"
    return parse


def int_at_least(lo: int, hi: Optional[int] = None) -> Callable[[str], int]:
    """A whole number in lo..hi (no upper bound when hi is None)."""
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{s!r} is not a whole number") from None
        if v < lo or (hi is not None and v > hi):
            bound = f"is not in {lo}..{hi}" if hi is not None else f"is less than {lo}"
            raise argparse.ArgumentTypeError(f"{s} {bound}")
        return v
    parse.__name__ = "int"
    return parse


def seed(s: str) -> int:
    """A random seed: a whole number in 0..MAX_SEED (numpy refuses negative seeds, torch ones past 2**64)."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a whole number") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{s} is not a seed: a seed is a whole number from 0 to {MAX_SEED:,}")
    return v


ratio.__name__ = positive.__name__ = "float"
seed.__name__ = "int"

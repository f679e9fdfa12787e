"""torch's CPU thread count, decided in one place, once per process, never at import time.

torch starts as many intra-op threads as the machine has cores. When another process keeps a core busy,
those threads wait on each other at every parallel region: a 0.06 s encode measured 3 s on this project's
2-core machine with one core busy, and 0.057 s with one thread. So the count follows the cores that are
free when the process starts its first model work, and whoever starts the server or command can fix it
with MIDI_RAE_THREADS=N.
"""
from __future__ import annotations

import math
import os
from typing import Optional

ENV = "MIDI_RAE_THREADS"
_chosen: Optional[int] = None


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def free_cores(load: Optional[float] = None, cores: Optional[int] = None) -> int:
    """Cores not kept busy by other processes, from the 1-minute load average (at least one)."""
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    return max(1, min(cores, cores - math.floor(load + 0.25)))


def requested() -> Optional[int]:
    """The thread count set by MIDI_RAE_THREADS, if a positive integer."""
    value = os.environ.get(ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def configure(threads: Optional[int] = None) -> int:
    """Set torch's intra-op threads once (explicit argument, else MIDI_RAE_THREADS, else the free cores)."""
    global _chosen
    if _chosen is not None and threads is None:
        return _chosen
    import torch

    n = threads or requested() or free_cores()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    _chosen = n
    return n

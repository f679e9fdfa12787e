"""torch's CPU thread count, decided in one place, once per process, never at import time.

torch starts as many intra-op threads as the machine has cores. When another process keeps a core busy,
those threads wait on each other at every parallel region: a 0.06 s encode measured 3 s on this project's
2-core machine with one core busy, and 0.057 s with one thread. So the count follows the cores that are
free when the process starts its first model work, and whoever starts the server or command can fix it
with MIDI_RAE_THREADS=N. numpy's BLAS (OpenBLAS) keeps a pool of its own that waits the same way, so it gets
the same count.
"""
from __future__ import annotations

import math
import os
import time
from typing import Optional

ENV = "MIDI_RAE_THREADS"
_chosen: Optional[int] = None


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def busy_now(sample_s: float = 0.15) -> Optional[float]:
    """Cores busy right now (from /proc/stat over `sample_s` seconds), or None where that cannot be read."""
    def snapshot() -> tuple[int, int]:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + (v[4] if len(v) > 4 else 0)  # all jiffies; idle + iowait

    try:
        total0, idle0 = snapshot()
        time.sleep(sample_s)
        total1, idle1 = snapshot()
    except (OSError, ValueError, IndexError):
        return None
    dt = total1 - total0
    return None if dt <= 0 else (1 - (idle1 - idle0) / dt) * (os.cpu_count() or 1)


def free_cores(load: Optional[float] = None, cores: Optional[int] = None, busy: Optional[float] = None) -> int:
    """Cores not kept busy by other processes (at least one).

    From the 1-minute load average, or from `busy` (cores busy right now) where that is lower: the load
    average trails a job that just ended by a minute or more.
    """
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    if busy is not None:
        load = min(load, busy)
    return max(1, min(cores, cores - math.floor(load + 0.25)))


def requested() -> Optional[int]:
    """The thread count set by MIDI_RAE_THREADS, if a positive integer."""
    value = os.environ.get(ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def configure(threads: Optional[int] = None, sample: bool = False) -> int:
    """Set torch's intra-op threads once (explicit argument, else MIDI_RAE_THREADS, else the free cores).

    `sample`: also look at what is busy right now (0.15 s), for batch commands started right after other work;
    the dashboard goes by the load average alone (a browser drawing the page is busy for a moment, not for long).
    """
    global _chosen
    if _chosen is not None and threads is None:
        return _chosen
    import torch

    n = threads or requested() or free_cores(busy=busy_now() if sample else None)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    limit_blas(n)
    _chosen = n
    return n


def limit_blas(n: int) -> None:
    """numpy's BLAS threads set to n: with two threads and one core busy, the SVD of a level's 3,072×8 patch
    embeddings took 13 ms here, and 0.7 ms with one (threadpoolctl, the maintained tool for this)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=n, user_api="blas")

"""torch's CPU thread count, decided in one place, once per process, never at import time.

torch starts as many intra-op threads as the machine has cores. When another process keeps a core busy,
those threads wait on each other at every parallel region: a 0.06 s encode measured 3 s on this project's
2-core machine with one core busy, and 0.057 s with one thread. So the count follows the cores that are
free when the process starts its first model work, and whoever starts the server or command can fix it
with MIDI_RAE_THREADS=N. numpy's BLAS (OpenBLAS) keeps a pool of its own that waits the same way, so it gets
the same count.

A batch command decides once (`configure`). The dashboard lives for hours on a machine whose other work comes and
goes, so it decides again before each page's model work (`follow`), from what other processes kept busy over the
last few seconds: a server that started on a quiet machine and kept two threads after another job took a core
answered a mask-ratio step in 1.8 s instead of 0.4 s here.
"""
from __future__ import annotations

import math
import os
import threading
import time
from collections import deque
from typing import Callable, Optional

ENV = "MIDI_RAE_THREADS"
SAMPLE_S = 0.5   # how often the dashboard's watch reads the CPUs' counters
SPAN_S = 3.0     # what other processes kept busy is averaged over this many seconds
_chosen: Optional[int] = None


def available_cores() -> int:
    """Cores this process may run on."""
    cpus = _affinity()
    return len(cpus) if cpus else os.cpu_count() or 1


def _affinity() -> Optional[set[int]]:
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def busy_now(sample_s: float = 0.15) -> Optional[float]:
    """Cores busy right now (from /proc/stat over `sample_s` seconds), or None where that cannot be read."""
    every = set(range(os.cpu_count() or 1))
    a = cpu_counters(every)
    time.sleep(sample_s)
    b = cpu_counters(every)
    if a is None or b is None or b[1] <= a[1]:
        return None
    return (b[0] - a[0]) / (b[1] - a[1]) * len(every)


def free_cores(load: Optional[float] = None, cores: Optional[int] = None, busy: Optional[float] = None,
               margin: float = 0.25) -> int:
    """Cores not kept busy by other processes (at least one).

    From the 1-minute load average, or from `busy` (cores busy right now) where that is lower: the load
    average trails a job that just ended by a minute or more. A core counts as taken from 1 - `margin` of one.
    """
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = 0.0
    if busy is not None:
        load = min(load, busy)
    return max(1, min(cores, cores - math.floor(load + margin)))


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


# ---------------------------------------------------------------- the dashboard's policy: follow the machine

Snapshot = tuple[float, float, float, float]  # (wall s, busy jiffies, all jiffies, this process's CPU s)


def cpu_counters(cpus: Optional[set[int]] = None) -> Optional[tuple[float, float]]:
    """(busy, all) jiffies so far of the CPUs this process may run on, from /proc/stat; None where unreadable.

    Only those CPUs: in a container /proc/stat lists the host's, whose other tenants do not take ours."""
    cpus = _affinity() if cpus is None else cpus
    busy = total = 0.0
    try:
        with open("/proc/stat") as f:
            for line in f:
                if not line.startswith("cpu") or line.startswith("cpu "):
                    continue
                name, *fields = line.split()
                if cpus is not None and int(name[3:]) not in cpus:
                    continue
                v = [int(x) for x in fields]
                total += sum(v[:8])  # guest time is counted in user already
                busy += sum(v[:8]) - v[3] - v[4]  # all but idle and iowait
    except (OSError, ValueError, IndexError):
        return None
    return (busy, total) if total > 0 else None


def snapshot(read: Callable[[], Optional[tuple[float, float]]] = cpu_counters) -> Optional[Snapshot]:
    """The counters now, with this process's own CPU time (all its threads)."""
    c = read()
    if c is None:
        return None
    t = os.times()
    return time.monotonic(), c[0], c[1], t.user + t.system


def others_busy(a: Snapshot, b: Snapshot, cores: int) -> Optional[float]:
    """Cores that other processes kept busy between snapshots a and b (this process's own work left out)."""
    wall, d_all = b[0] - a[0], b[2] - a[2]
    if wall <= 0 or d_all <= 0:
        return None
    busy_cores = (b[1] - a[1]) / d_all * cores
    return max(0.0, busy_cores - (b[3] - a[3]) / wall)


class LoadWatch:
    """Samples the CPUs every SAMPLE_S seconds on a daemon thread; `others()` is what other processes kept busy
    over the last SPAN_S seconds (a browser drawing a page for half a second weighs a sixth of a core)."""

    def __init__(self, read: Callable[[], Optional[Snapshot]] = snapshot, cores: Optional[int] = None,
                 span_s: float = SPAN_S):
        self.read, self.span_s = read, span_s
        self.cores = cores or available_cores()
        self.samples: deque[Snapshot] = deque(maxlen=int(span_s / SAMPLE_S) + 2)
        self._thread: Optional[threading.Thread] = None

    def sample(self) -> None:
        s = self.read()
        if s is not None:
            self.samples.append(s)

    def others(self) -> Optional[float]:
        """Cores other processes kept busy from the oldest sample within the span until now; None before a
        sample half a second old exists."""
        now = self.read()
        if now is None:
            return None
        older = [s for s in list(self.samples) if SAMPLE_S <= now[0] - s[0] <= self.span_s + SAMPLE_S]
        return others_busy(older[0], now, self.cores) if older else None

    def start(self) -> "LoadWatch":
        if self._thread is None:
            def loop() -> None:
                while True:
                    self.sample()
                    time.sleep(SAMPLE_S)

            self._thread = threading.Thread(target=loop, name="midi-rae-load-watch", daemon=True)
            self._thread.start()
        return self


_watch: Optional[LoadWatch] = None
_watch_lock = threading.Lock()


def watch() -> LoadWatch:
    """The process's load watch, started on the first call (the dashboard's server starts it as it starts)."""
    global _watch
    with _watch_lock:
        if _watch is None:
            _watch = LoadWatch().start()
        return _watch


def follow(interactive: bool = True) -> int:
    """The dashboard's thread count, decided again before each piece of model work: MIDI_RAE_THREADS where set,
    else the cores other processes left free over the last few seconds (the load average until the watch has seen
    half a second), less one for an `interactive` step. Sets torch's count from this thread (its OpenMP runtime
    keeps it per thread in some cases and for the whole process in others, so every thread that uses torch calls
    this first) and, on a change, BLAS's.

    The core left over is for the browser drawing the page and the server's own threads, which send it while torch
    works: on this project's 2-core machine, quiet, two threads made a new mask ratio take 0.31-0.34 s and one
    0.20-0.22 s (a page step's model work is a few milliseconds of small operations, which a second thread barely
    shortens). A build of an index in the page (`interactive=False`) takes every free core (a page step run
    meanwhile may set one fewer for the process).
    """
    n = requested()
    if n is None:
        cores = available_cores()
        others = watch().others()
        # a core counts as taken only when others kept it busy nearly all of the span (0.9): a browser drawing the
        # page after each click keeps others at 0.3-0.8 of a core
        free = free_cores(load=others, cores=cores, margin=0.1) if others is not None else free_cores(cores=cores)
        n = max(1, free - 1) if interactive else free
    _apply(n)
    return n


def _apply(n: int) -> None:
    global _chosen
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    if _chosen != n:
        limit_blas(n)
        _chosen = n

"""When a page last ran, in any session: background work waits for a quiet moment instead of landing on a click.

app.main notes the start of every page's run, the piece page the end of its own and its fragments their reruns.
"""
from __future__ import annotations

import functools
import importlib.abc
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

T = TypeVar("T")
STEP_ASIDE_S = 0.3  # a background import resumes once no page has run for this long

_last = [0.0]  # time.monotonic() of the latest page run's start or end
_in_flight = [0]  # page runs and fragment reruns now running, in any session
_count_lock = threading.Lock()


def note() -> None:
    """A page run starts or ends now."""
    _last[0] = time.monotonic()


@contextmanager
def running() -> Iterator[None]:
    """A page run or a fragment's rerun in progress: background work waits for its end, however long it takes
    (a checkpoint's loading, a long piece's encoding, building an index, a whole piece's audio)."""
    with _count_lock:
        _in_flight[0] += 1
    note()
    try:
        yield
    finally:
        with _count_lock:
            _in_flight[0] -= 1
        note()


def fragment_body(fn: Callable[..., T]) -> Callable[..., T]:
    """A fragment's function whose reruns count as runs (decorate under @st.fragment)."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with running():
            return fn(*args, **kwargs)
    return wrapped


def quiet_for() -> float:
    """Seconds since the latest page run started or ended."""
    return time.monotonic() - _last[0]


def idle_for() -> float:
    """Seconds since the latest page run ended, 0 while one is running."""
    return 0.0 if _in_flight[0] else quiet_for()


def _wait(clock: Callable[[], float], seconds: float, poll: float) -> None:
    while clock() < seconds:
        time.sleep(max(seconds - clock(), poll))


def wait_until_quiet(seconds: float, poll: float = 0.05) -> None:
    """Block until no page has run for `seconds`."""
    _wait(quiet_for, seconds, poll)


def wait_until_idle(seconds: float, poll: float = 0.05) -> None:
    """Block until no page has run for `seconds` and none is running (background work that holds no import lock:
    a paused import must not wait for a run that may need the module it holds, so it uses wait_until_quiet)."""
    _wait(idle_for, seconds, poll)


class _StepAside(importlib.abc.MetaPathFinder):
    """On one thread, before each module not yet imported is looked up: wait until no page has run for
    `quiet_s`. Finds nothing itself (the usual finders do)."""

    def __init__(self, quiet_s: float):
        self.thread, self.quiet_s = threading.get_ident(), quiet_s

    def find_spec(self, fullname, path, target=None):
        if threading.get_ident() == self.thread:
            wait_until_quiet(self.quiet_s)
        return None


def stepping_aside(work: Callable[[], T], quiet_s: float = STEP_ASIDE_S) -> T:
    """Run `work` (a background import) so that it pauses between modules while a page runs.

    An import holds the GIL for most of its second or so, and a click that lands on it waited for all of it;
    paused between modules, the click waits at most for the module being executed (~0.1 s). A page thread that
    needs a module the paused import holds locked waits at most `quiet_s` after its run's start, when the import
    resumes."""
    finder = _StepAside(quiet_s)
    sys.meta_path.insert(0, finder)
    try:
        return work()
    finally:
        sys.meta_path.remove(finder)

"""The bundled examples read and encoded in the background while no page runs, so that picking one shows it
without waiting for the MIDI parser and the encoder (0.3-0.45 s of a switch on this project's 2-core machine).

Each step (read one example, or encode it) runs only once no page has run, and none is running, for IDLE_S seconds
(activity.wait_until_idle), so the work never lands on a click that comes soon after the last; the results go into
the page's own caches (sources.load_roll, loaders.encode_song), keyed exactly as the page keys them.
"""
from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Callable, Iterator, Optional

from . import activity

IDLE_S = 4.0  # seconds without a page run before each step (at 2 s the first step met a first click: +0.1-0.3 s)
MAX_EXAMPLES = 6  # the page's caches keep 12 pieces: a large MIDI_RAE_EXAMPLES folder must not evict the user's own
THREAD = "midi-rae-prefetch"
ENV = "MIDI_RAE_PREFETCH"

_lock = threading.Lock()
_wanted: list = [None]  # the latest request: (model, steps per beat); untransposed
_done: set = set()  # (piece key, model key, spb) already prepared
_wake = threading.Event()
_thread: list[Optional[threading.Thread]] = [None]


class _NoContextWarning(logging.Filter):
    """Streamlit warns once per cached call made outside a page's run ("missing ScriptRunContext"); on this
    thread that is the point, so the warning is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (threading.current_thread().name.startswith(THREAD) and "ScriptRunContext" in record.getMessage())


@functools.cache  # once per process
def _quiet_context_warnings() -> None:
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NoContextWarning())


def background(target: Callable[[], None], name: str) -> threading.Thread:
    """A started daemon thread that may call the page's cached functions (named THREAD-name)."""
    _quiet_context_warnings()
    thread = threading.Thread(target=target, name=f"{THREAD}-{name}", daemon=True)
    thread.start()
    return thread


def enabled() -> bool:
    """Off with MIDI_RAE_PREFETCH=0: on a server whose idle CPU belongs to others (and in the test process, whose
    idle spells are other tests' work)."""
    return os.environ.get(ENV, "1").strip() != "0"


def request(model, spb: int, semis: int, pedal: bool = False) -> None:
    """After a page run: prepare the bundled examples for this model and grid (and sustain pedal setting), when
    idle. Untransposed only, and
    not the window analyses (each transposition or mask would add six entries to caches the user's own pieces
    share; an analysis is ~0.03 s of a switch, the read and the encoding 0.1-0.45 s)."""
    if semis or not enabled():
        return
    with _lock:
        _wanted[0] = (model, int(spb), bool(pedal))
        if _thread[0] is None:
            _quiet_context_warnings()
            _thread[0] = threading.Thread(target=_run, name=THREAD, daemon=True)
            _thread[0].start()
    _wake.set()


def _run() -> None:
    while True:
        _wake.wait()
        _wake.clear()
        try:
            _prepare(_wanted[0])
        except Exception:  # noqa: BLE001 - the thread must outlive anything one request meets (a folder gone)
            pass


def _prepare(wanted: tuple) -> None:
    """Every step of one request, each after an idle spell; a newer request ends it (and is begun next).

    Every page run makes a request: the examples are listed and hashed only once idle, not on a run's heels."""
    activity.wait_until_idle(IDLE_S)
    for job, step in _steps(*wanted):
        if job.done_key() in _done:  # an earlier step of it failed
            continue
        activity.wait_until_idle(IDLE_S)
        if _wanted[0] is not wanted:  # a newer request (another model or view): begin that one instead
            _wake.set()
            return
        try:
            step()
        except Exception:  # noqa: BLE001 - a file the page cannot open says so when picked; not tried again
            _done.add(job.done_key())


def _steps(model, spb: int, pedal: bool = False) -> Iterator[tuple["_Example", Callable[[], None]]]:
    """One callable per unit of work: read and encode each example not yet prepared for this model, grid and
    pedal setting."""
    from .sources import example_files

    for path in example_files()[:MAX_EXAMPLES]:
        job = _Example(path, model, spb, pedal)
        try:
            if job.done_key() in _done:
                continue
        except OSError:  # the file went away since the folder was listed
            continue
        for step in (job.read, job.encode):
            yield job, step


class _Example:
    """One bundled example through the page's cached functions, a step at a time."""

    def __init__(self, path, model, spb: int, pedal: bool = False):
        self.path, self.model, self.spb, self.pedal = path, model, spb, pedal
        self.data = self.key = self.roll = None

    def done_key(self) -> tuple:
        from .sources import digest

        if self.key is None:
            self.data = self.path.read_bytes()
            self.key = digest(self.data)
        return (self.key, self.model.key, self.spb, self.pedal)

    def read(self) -> None:
        from .sources import load_roll

        self.roll = load_roll(self.key, self.data, self.spb, 0, self.path.name, self.pedal)

    def encode(self) -> None:
        import torch

        from midi_rae import threads

        from .loaders import encode_song
        from .sources import roll_key

        threads.follow()  # this thread lives on, and torch may keep its count per thread
        with torch.no_grad():
            encode_song(roll_key(self.key, self.roll), self.model.key, self.spb, 0, self.roll, self.model.bundle)
        _done.add(self.done_key())

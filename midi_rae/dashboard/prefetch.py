"""The bundled examples read and encoded in the background while no page runs, so that picking one shows it
without waiting for the MIDI parser and the encoder (0.3-0.45 s of a switch on this project's 2-core machine).

Each step (read one example, encode it, analyse its first window) runs only once no page has run for IDLE_S
seconds, so the work never lands on a click that comes soon after the last; the results go into the page's own
caches (sources.load_roll, loaders.encode_song, loaders.analyse), keyed exactly as the page keys them.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Iterator, Optional

from . import activity

IDLE_S = 4.0  # seconds without a page run before each step (at 2 s the first step met a first click: +0.1-0.3 s)
MAX_EXAMPLES = 6  # the page's caches keep 12 pieces: a large MIDI_RAE_EXAMPLES folder must not evict the user's
THREAD = "midi-rae-prefetch"

_lock = threading.Lock()
_wanted: list = [None]  # the latest request: (model, steps per beat, semitones, mask settings)
_done: set = set()  # (piece key, model key, spb, semis, settings) already prepared
_wake = threading.Event()
_thread: list[Optional[threading.Thread]] = [None]


class _NoContextWarning(logging.Filter):
    """Streamlit warns once per cached call made outside a page's run ("missing ScriptRunContext"); on this
    thread that is the point, so the warning is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (threading.current_thread().name == THREAD and "ScriptRunContext" in record.getMessage())


def request(model, spb: int, semis: int, settings) -> None:
    """After a page run: prepare the bundled examples for this model, grid, transposition and mask, when idle."""
    with _lock:
        _wanted[0] = (model, int(spb), int(semis), settings)
        if _thread[0] is None:
            logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
                _NoContextWarning())
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
    """Every step of one request, each after an idle spell; a newer request ends it (and is begun next)."""
    for job, step in _steps(*wanted):
        if job.done_key() in _done:  # an earlier step of it failed
            continue
        activity.wait_until_quiet(IDLE_S)
        if _wanted[0] is not wanted:  # a newer request (another model or view): begin that one instead
            _wake.set()
            return
        try:
            step()
        except Exception:  # noqa: BLE001 - a file the page cannot open says so when picked; not tried again
            _done.add(job.done_key())


def _steps(model, spb: int, semis: int, settings) -> Iterator[tuple["_Example", Callable[[], None]]]:
    """One callable per unit of work: read, encode and analyse each example not yet prepared for this view."""
    from .sources import example_files

    for path in example_files()[:MAX_EXAMPLES]:
        job = _Example(path, model, spb, semis, settings)
        try:
            if job.done_key() in _done:
                continue
        except OSError:  # the file went away since the folder was listed
            continue
        for step in (job.read, job.encode, job.analyse):
            yield job, step


class _Example:
    """One bundled example through the page's cached functions, a step at a time."""

    def __init__(self, path, model, spb: int, semis: int, settings):
        self.path, self.model, self.spb, self.semis, self.settings = path, model, spb, semis, settings
        self.data = self.key = self.roll = None

    def done_key(self) -> tuple:
        from .sources import digest

        if self.key is None:
            self.data = self.path.read_bytes()
            self.key = digest(self.data)
        return (self.key, self.model.key, self.spb, self.semis, self.settings)

    def read(self) -> None:
        from .sources import load_roll

        self.roll = load_roll(self.key, self.data, self.spb, self.semis, self.path.name)

    def encode(self) -> None:
        import torch

        from .loaders import encode_song

        with torch.no_grad():
            encode_song(self.key, self.model.key, self.spb, self.semis, self.roll, self.model.bundle)

    def analyse(self) -> None:
        import torch

        from .loaders import analyse

        with torch.no_grad():  # the window a newly picked piece opens at: bar 1
            analyse(self.key, self.model.key, self.spb, self.semis, 0, self.settings, self.roll, self.model.bundle)
        _done.add(self.done_key())

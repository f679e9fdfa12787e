"""The dashboard's heavy imports, done once in the background when the server starts.

A page imports a stage's modules only after `wait(stage)`: two threads importing the same package at once can
deadlock on Python's module locks, so the page's thread never imports what this thread is importing.
"""
from __future__ import annotations

import importlib
import threading
from contextlib import asynccontextmanager
from pathlib import Path

SCRIPT = str(Path(__file__).resolve().parent / "script.py")  # what every browser session runs

# What a first page imports before it can draw anything: the piece page's overview and the Corpus page. torch and
# timm are left to the piece page's model half: imported here they would hold the GIL for seconds while a Corpus
# page, opened first, draws (measured: its first render 4.2 -> 6.2 s).
STAGES: dict[str, tuple[str, ...]] = {
    "overview": ("midi_rae.dashboard.app", "midi_rae.dashboard.page"),
    "corpus": ("midi_rae.dashboard.corpus_page",),
}
WAIT_S = 120.0  # an import that takes longer has gone wrong; the page then imports (and reports) it itself

_done = {stage: threading.Event() for stage in STAGES}
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _import_all() -> None:
    for stage, modules in STAGES.items():
        try:
            for name in modules:
                importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the page's own import raises it again, where it can be shown
            pass
        finally:
            _done[stage].set()


def start() -> None:
    """Begin the imports on a daemon thread (once per process)."""
    global _thread
    with _lock:
        if _thread is None:
            _thread = threading.Thread(target=_import_all, name="midi-rae-warmup", daemon=True)
            _thread.start()


@asynccontextmanager
async def lifespan(_app):
    """st.App's lifespan: start the imports as the server starts (they never delay its start)."""
    start()
    yield


def wait(stage: str) -> None:
    """Block until `stage`'s modules are imported, if the warm-up was started (else return at once)."""
    if _thread is not None:
        _done[stage].wait(WAIT_S)

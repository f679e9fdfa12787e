"""The dashboard's heavy imports, done once in the background when the server starts.

A page imports a stage's modules only after `wait(stage)`: two threads importing the same package at once can
deadlock on Python's module locks, so the page's thread never imports what this thread is importing. The model
stage (torch and timm) begins only once it is wanted: when the browser asks for the piece page (`PageRequests`,
the server's middleware, sees the request ~2 s before the page's script runs) or when a page is about to use
torch (`model()`).
"""
from __future__ import annotations

import importlib
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from . import preload

SCRIPT = str(Path(__file__).resolve().parent / "script.py")  # what every browser session runs

# What a first page imports before it can draw anything: the piece page's overview and the Corpus page; then the
# piece page's model half (torch, timm: ~3 s), only once wanted: imported from the server's start it held the GIL
# for seconds while a Corpus page, opened first, drew (measured: its first render 4.2 -> 6.2 s).
# PIL: `st.set_page_config` reads the favicon with it on a first page (~0.1 s of imports there, measured).
STAGES: dict[str, tuple[str, ...]] = {
    "overview": ("midi_rae.dashboard.app", "midi_rae.dashboard.page", "PIL.Image"),
    "corpus": ("midi_rae.dashboard.corpus_page",),
    "model": ("midi_rae.dashboard.model_views",),
}
ON_DEMAND = ("model",)  # stages that wait for `want`
PIECE_PAGES = ("", "piece")  # the last segment of the piece page's URL paths
WAIT_S = 120.0  # an import that takes longer has gone wrong; the page then imports (and reports) it itself

_done = {stage: threading.Event() for stage in STAGES}
_wanted = {stage: threading.Event() for stage in ON_DEMAND}
_lock = threading.Lock()
_thread: threading.Thread | None = None


def _streamlit_once() -> None:
    """Streamlit's once-per-process check before a first element (is this a REPL? by `inspect.stack()`, which
    resolves the path of every loaded module: 0.05-0.1 s of the first page's run here), done on this thread."""
    from streamlit import delta_generator

    check = getattr(delta_generator, "_maybe_print_use_warning", None)  # private: absent in some release, skip
    if check is not None:
        check()


def _next_stage(pending: list[str]) -> str:
    """The first pending stage, except that a wanted on-demand stage goes before the stages after the first: once
    the piece page is asked for, its model half comes before the Corpus page's modules (0.1 s of its first render
    here)."""
    if pending[0] != next(iter(STAGES)):
        for stage in pending:
            if stage in _wanted and _wanted[stage].is_set():
                return stage
    return pending[0]


def _import_all() -> None:
    pending = list(STAGES)
    while pending:
        stage = _next_stage(pending)
        pending.remove(stage)
        if stage in _wanted:
            _wanted[stage].wait()
        try:
            for name in STAGES[stage]:
                importlib.import_module(name)
            if stage == "overview":
                _streamlit_once()
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
    """st.App's lifespan: start the imports, and the watch on what other processes keep busy, as the server
    starts (neither delays its start)."""
    from midi_rae import threads

    threads.watch()
    start()
    yield


def wait(stage: str) -> None:
    """Block until `stage`'s modules are imported, if the warm-up was started (else return at once)."""
    if _thread is not None:
        _done[stage].wait(WAIT_S)


def want(stage: str) -> None:
    """Let an on-demand stage begin (after the stages before it)."""
    _wanted[stage].set()


def model() -> None:
    """Before a page's first use of torch: the warm-up imports it (once, on its thread) and this waits for that."""
    want("model")
    wait("model")


class PageRequests:
    """ASGI middleware: a browser asking for the piece page lets the model stage begin while it loads the page."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "GET" and \
                preload.page_name(scope.get("path", "/")) in PIECE_PAGES:
            want("model")
        await self.app(scope, receive, send)


def _middleware() -> list:
    from starlette.middleware import Middleware

    return [Middleware(PageRequests), Middleware(preload.ChartPreload)]


# For the servers' st.App(SCRIPT, lifespan=lifespan, middleware=MIDDLEWARE): Streamlit finds an st.App by reading the
# server file's source, so each entry point spells the call out
MIDDLEWARE = _middleware()

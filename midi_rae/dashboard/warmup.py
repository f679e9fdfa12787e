"""The dashboard's heavy imports, done once in the background when the server starts.

A page imports a stage's modules only after `wait(stage)`: two threads importing the same package at once can
deadlock on Python's module locks, so the page's thread never imports what this thread is importing. The model
stage (torch and timm) begins only once it is wanted: when the browser asks for the piece page (`PageRequests`,
the server's middleware, sees the request ~2 s before the page's script runs) or when a page is about to use
torch (`model()`).
"""
from __future__ import annotations

import importlib
import sys
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path

from midi_rae.cache_folder import views_kept

from . import activity, preload

SCRIPT = str(Path(__file__).resolve().parent / "script.py")  # what every browser session runs

# What a first page imports before it can draw anything: the piece page's overview and the Corpus page; then the
# piece page's model half (torch, timm: ~3 s), only once wanted: imported from the server's start it held the GIL
# for seconds while a Corpus page, opened first, drew (measured: its first render 4.2 -> 6.2 s).
# PIL: `st.set_page_config` reads the favicon with it on a first page (~0.1 s of imports there, measured).
STAGES: dict[str, tuple[str, ...]] = {
    "overview": ("midi_rae.dashboard.app", "midi_rae.dashboard.page", "PIL.Image", "midi_rae.dashboard.piece_views",
                 "midi_rae.dashboard.view_store"),
    "corpus": ("midi_rae.dashboard.corpus_page",),
    "model": ("torch", "timm", "midi_rae.dashboard.model_views"),
}
ON_DEMAND = ("model",)  # stages that wait for `want`
PIECE_PAGES = ("", "piece")  # the last segment of the piece page's URL paths
WAIT_S = 120.0  # an import that takes longer has gone wrong; the page then imports (and reports) it itself

# A page drawn from the view store needs no torch, but the server must still send it: the model stage's import holds
# the GIL for most of 3 s, and the server's event loop, starved, sent that page's elements and images only after it
# (measured: a page done on the server at 3.2 s reached the browser at 6.5 s, when the import ended). Such a page
# holds the import until the server has been free of it and of page runs for HOLD_IDLE_S, at most HOLD_MAX_S, or
# until a page needs torch (`model()`). It is held between the stage's packages only: held within one, it kept the
# import locks of the modules it was importing, and a page that needed one of them waited for the whole HOLD_MAX_S.
# The hold's length trades the first render against an action taken at once, which must still wait for the import.
# First render (scripts/bench_app.py, views kept) and a mask step taken 0.5 s after the page was drawn (from the
# page's request to the step drawn, an audit's script), two to four samples each: held 1.5 s, 3.9-4.0 s and
# 6.3-6.5 s; held 0.5 s, 4.3-4.8 s and 5.6-6.0 s; not held, 5.0-5.5 s and 5.4-5.7 s; store off, 5.0-5.2 s for the step.
HOLD_IDLE_S = 0.5
# While the model stage imports, the interpreter switches threads every 0.5 ms instead of 5 ms, so that the server's
# event loop, which sends the page, is not starved (first render 4.66-4.76 -> 4.41-4.59 s, two samples each).
IMPORT_SWITCH_S = 0.0005
HOLD_MAX_S = 6.0
DEFER_S = 3.0  # the longest a requested piece page's model stage waits for the page's run to ask for it

_done = {stage: threading.Event() for stage in STAGES}
_held_until = [0.0]          # time.monotonic() until which a page drawn from the view store holds the model stage
_needed = threading.Event()  # a page waits for torch: nothing holds the model stage any more
_deferred = [False]          # a piece page's request left the model stage to the page's run (page_requested)
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


def _wait_while_held() -> None:
    """While a page drawn from the view store holds the model stage: until neither a page nor this import has run
    for HOLD_IDLE_S, a page needs torch, or HOLD_MAX_S have passed since the hold."""
    paused = time.monotonic()
    while time.monotonic() < _held_until[0] and not _needed.is_set() and \
            min(activity.idle_for(), time.monotonic() - paused) < HOLD_IDLE_S:
        time.sleep(0.02)


def _import_all() -> None:
    pending = list(STAGES)
    while pending:
        stage = _next_stage(pending)
        pending.remove(stage)
        if stage in _wanted:
            _wanted[stage].wait()
        switch = sys.getswitchinterval()
        try:
            for name in STAGES[stage]:
                if stage in _wanted:
                    _wait_while_held()  # between whole packages: this thread then holds no module's import lock
                    sys.setswitchinterval(IMPORT_SWITCH_S)
                importlib.import_module(name)
            if stage == "overview":
                _streamlit_once()
        except Exception:  # noqa: BLE001 - the page's own import raises it again, where it can be shown
            pass
        finally:
            sys.setswitchinterval(switch)
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


def pending(stage: str) -> bool:
    """Is the warm-up under way and `stage` not yet imported (False where no warm-up was started)?"""
    return _thread is not None and not _done[stage].is_set()


def wanted(stage: str) -> bool:
    """Has an on-demand stage been let begin?"""
    return _wanted[stage].is_set()


def want(stage: str) -> None:
    """Let an on-demand stage begin (after the stages before it)."""
    _wanted[stage].set()


def model() -> None:
    """Before a page's first use of torch: the warm-up imports it (once, on its thread) and this waits for that."""
    _needed.set()
    want("model")
    wait("model")


def page_requested() -> None:
    """The browser asks for the piece page: its model stage begins now, or, where the view store holds views
    (the page may draw one without torch), once the page's run asks for it (`model()`, `hold_model()`), at most
    DEFER_S from the first such request. Called on the server's event loop: no imports here."""
    with _lock:
        if _wanted["model"].is_set() or _deferred[0]:
            return
        if not views_kept():
            want("model")
            return
        _deferred[0] = True
    later = threading.Timer(DEFER_S, want, ("model",))
    later.daemon = True
    later.start()


def hold_model() -> None:
    """A page drawn without torch is on its way to the browser: the model stage waits until pages are idle (at
    most HOLD_MAX_S from now), so that the server sends it first."""
    if pending("model") and not _needed.is_set():
        _held_until[0] = time.monotonic() + HOLD_MAX_S


class PageRequests:
    """ASGI middleware: a browser asking for the piece page lets the model stage begin while it loads the page."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "GET" and \
                preload.page_name(scope.get("path", "/")) in PIECE_PAGES:
            page_requested()
        await self.app(scope, receive, send)


def _middleware() -> list:
    from starlette.middleware import Middleware

    return [Middleware(PageRequests), Middleware(preload.ChartPreload)]


# For the servers' st.App(SCRIPT, lifespan=lifespan, middleware=MIDDLEWARE): Streamlit finds an st.App by reading the
# server file's source, so each entry point spells the call out
MIDDLEWARE = _middleware()

"""Where midi-rae keeps what it builds for later runs: `MIDI_RAE_CACHE`, default ~/.cache/midi-rae.

os and pathlib only: the dashboard's request handler asks whether views are kept (`views_kept`) on the server's
event loop, where importing anything heavier would stall every other request.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV = "MIDI_RAE_CACHE"
VIEWS = "views"                    # the piece page's kept views (midi_rae.dashboard.view_store)
VIEW_STORE_ENV = "MIDI_RAE_VIEW_STORE"


def cache_dir() -> Path:
    """The cache's root folder."""
    return Path(os.environ.get(ENV) or Path.home() / ".cache" / "midi-rae")


def view_store_on() -> bool:
    """Is the piece page's view store on (MIDI_RAE_VIEW_STORE is not 0)?"""
    return os.environ.get(VIEW_STORE_ENV, "1").strip() != "0"


def views_kept() -> bool:
    """Does the view store hold any view (and is it on)?"""
    if not view_store_on():
        return False
    try:
        with os.scandir(cache_dir() / VIEWS) as entries:
            return any(e.name.endswith(".npz") for e in entries)
    except OSError:
        return False

"""When a page last ran, in any session: background work waits for a quiet moment instead of landing on a click.

app.main notes the start of every page's run, the piece page the end of its own and its fragments their reruns.
"""
from __future__ import annotations

import time

_last = [0.0]  # time.monotonic() of the latest page run's start or end


def note() -> None:
    """A page run starts or ends now."""
    _last[0] = time.monotonic()


def quiet_for() -> float:
    """Seconds since the latest page run started or ended."""
    return time.monotonic() - _last[0]


def wait_until_quiet(seconds: float, poll: float = 0.05) -> None:
    """Block until no page has run for `seconds`."""
    while quiet_for() < seconds:
        time.sleep(max(seconds - quiet_for(), poll))

"""Worker processes that end with the process that started them."""
from __future__ import annotations

import os
import signal
import threading
import time


def watch_parent(pid: int, every_s: float = 1.0) -> None:
    """Worker initializer: end this worker once the process `pid` that started it is gone. A killed parent
    (SIGKILL, or SIGTERM, which runs no Python) cannot stop its workers, and one blocked writing a result nobody
    reads, or parsing a score for a minute, would otherwise live on, holding the caller's output pipe open. Ctrl-C
    is the parent's to handle: a terminal sends it to every process of the run, and a worker would print its own
    traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.name == "nt":  # Windows' os.kill(pid, 0) would terminate the parent; its pools end their workers
        return

    def watch() -> None:
        while True:
            time.sleep(every_s)
            if not _alive(pid):
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="watch-parent").start()


def _alive(pid: int) -> bool:
    """Is process `pid` running? A process that has exited but that its own parent has not yet waited for (a
    zombie, which still answers signals) is not: a caller that reads our output before it waits would wait on us."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone (or its pid now another user's process)
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]  # after the name, which may hold spaces and ")"
    except (OSError, IndexError):  # no /proc (macOS): signals alone tell
        return True
    return state not in (b"Z", b"X")


def stop_on_sigterm() -> None:
    """`kill` (SIGTERM) stops a long command as Ctrl-C does (KeyboardInterrupt): an index commits the pieces
    encoded so far, a training run says where it goes on from, and workers end, instead of the process dying
    mid-write with no word."""
    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)

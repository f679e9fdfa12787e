"""Files read within a size: a stated size can lie, and a file can grow after it was read."""
from __future__ import annotations

from pathlib import Path
from typing import Optional


BROKEN_LINK = "a broken link, or a link to itself"  # a path that is there (lexists) with nothing behind it


def unmatched(source: str | Path) -> str:
    """Why a source named no file, in a few words (no capital, no full stop): a folder holding none, a pattern
    matching none, a path that is there but no regular file (a broken link, a link loop), or one that is not."""
    import os

    source = str(source)
    p = Path(source).expanduser()
    if p.is_dir():
        return f"{source} holds no MIDI or PNG file"
    if any(c in source for c in "*?[") and not p.exists():
        return f"{source} matched no MIDI or PNG file"
    if p.exists():  # a pipe, a device or a socket: reading it could wait forever
        return f"{source} is not a regular file (a pipe or a device)"
    if os.path.lexists(p):
        return f"{source} is not a regular file ({BROKEN_LINK})"
    return f"{source} does not exist"


def read_within(path: str | Path, limit: int) -> Optional[bytes]:
    """The bytes of the file at `path`, or None when it holds more than `limit` (read no further than limit + 1;
    the stated size is checked first, so a huge file is not opened). Raises OSError as open() does."""
    path = Path(path)
    if path.stat().st_size > limit:
        return None
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    return data if len(data) <= limit else None

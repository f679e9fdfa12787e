"""Files read within a size: a stated size can lie, and a file can grow after it was read."""
from __future__ import annotations

from pathlib import Path
from typing import Optional


def read_within(path: str | Path, limit: int) -> Optional[bytes]:
    """The bytes of the file at `path`, or None when it holds more than `limit` (read no further than limit + 1;
    the stated size is checked first, so a huge file is not opened). Raises OSError as open() does."""
    path = Path(path)
    if path.stat().st_size > limit:
        return None
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    return data if len(data) <= limit else None

"""Files read within a size: a stated size can lie, and a file can grow after it was read."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence


BROKEN_LINK = "a broken link, or a link to itself"  # a path that is there (lexists) with nothing behind it


def unmatched(source: str | Path) -> str:
    """Why a source named no file, in a few words (no capital, no full stop): a folder holding none, a pattern
    matching none, a path that is there but no regular file (a broken link, a link loop), or one that is not."""
    import os

    source = str(source)
    p = Path(source).expanduser()
    if p.is_dir():
        if not os.access(p, os.R_OK | os.X_OK):
            return f"{source} is a folder this user may not list (its permissions)"
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


def unlisted(folder: str) -> str:
    """What a run says of a folder it could not list (no capital, no full stop)."""
    from .wording import printable

    return (f"the folder {printable(folder)} could not be listed (its permissions?): its files were not read, and an "
            f"index keeps the pieces it holds from it")


def unlisted_folders(sources: Sequence[str | Path]) -> list[str]:
    """The folders under the sources that could not be listed (their permissions, a disk error), as Python names
    them: their files were not found, which is not the same as gone (an index keeps their pieces)."""
    import os

    found: list[str] = []
    for src in sources:
        p = Path(str(src)).expanduser()
        if p.is_dir():
            for _ in os.walk(p, onerror=lambda e: found.append(str(e.filename))):
                pass
    return found


def discover(sources: Sequence[str | Path], suffixes: Optional[Sequence[str]] = None
             ) -> tuple[list[Path], list[str]]:
    """(files, sources that matched nothing): folders are searched recursively, globs expanded, files kept; each
    file once, by its absolute path as found (a symbolic link keeps its own name)."""
    import glob
    import os

    from .png_rolls import SOURCE_SUFFIXES  # a MIDI reader's import, not paid by whoever only reads files' sizes

    suffixes = SOURCE_SUFFIXES if suffixes is None else suffixes
    files: dict[str, Path] = {}
    missing = []
    for src in sources:
        s = str(src)
        p = Path(s).expanduser()
        found: list[Path] = []
        if p.is_dir():
            # an entry named as a MIDI or PNG file that is none (a broken link, a link loop, a folder "x.mid", a
            # pipe) is kept, so that the run lists it with its reason instead of passing over it without a word
            found = [f for f in p.rglob("*") if f.suffix.lower() in suffixes]  # a pipe named x.mid, too
        elif p.is_file():
            found = [p]
        elif any(c in s for c in "*?["):
            found = [Path(f) for f in glob.glob(s, recursive=True)
                     if Path(f).is_file() and Path(f).suffix.lower() in suffixes]
        if not found:
            missing.append(s)
        # one entry per file, named as found (a link by its own name, not its target's), the file before its links
        for f in sorted(found, key=lambda f: (f.is_symlink(), str(f))):
            files.setdefault(os.path.realpath(f), Path(os.path.abspath(f)))  # (a link loop: resolve() raises)
    return sorted(files.values()), missing

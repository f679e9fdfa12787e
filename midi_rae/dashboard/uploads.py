"""Files dropped on the Corpus page (MIDI, PNG piano rolls, zips of them), unpacked within fixed bounds.

A zip is a stranger's file: its headers may lie about sizes, its data may be damaged, encrypted or
compressed in a way Python cannot read, and it may hold more entries than any real collection. Each of
these leaves the member (or the zip) out with one sentence; nothing is read past the bounds below.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from pathlib import Path
from typing import Iterator, MutableMapping, Optional, Protocol, Sequence

from midi_rae.index_view import keep_newest
from midi_rae.pianoroll import MAX_MIDI_BYTES, MB
from midi_rae.png_rolls import SOURCE_SUFFIXES
from midi_rae.wording import counted
from midi_rae.zip_end import zip_end

from .names import display_name

MAX_UPLOAD_FILES = 300           # files (MIDI or PNG) one upload may index
MAX_UPLOAD_BYTES = 50 * 2 ** 20  # all of them together, unpacked
MAX_MEMBER_BYTES = MAX_MIDI_BYTES  # one file inside a zip, unpacked (the piece page's own limit)
MAX_ZIP_ENTRIES = 10_000         # zipfile reads every entry's header into memory before anything else
MAX_UPLOAD_ENTRIES = 2 * MAX_ZIP_ENTRIES  # entries of all the zips of one upload (200 zips of 9,999 took 45 s)
MAX_READ_BYTES = 2 * MAX_UPLOAD_BYTES  # uploaded bytes read at all: the files past it are not copied out
MAX_DIRECTORY_BYTES = 4 * 2 ** 20  # a central directory of 10,000 entries with long names is about 3 MB
MAX_UPLOAD_DIRECTORY = 2 * MAX_DIRECTORY_BYTES  # directory bytes zipfile may parse over one upload's zips (what a
# directory of tiny entries that the count refuses only once parsed costs: 23 zips of 89,000 took 7 s)
KEPT_BUILDS = 4                  # indexes built from uploads kept on the server's disk, the newest first
MAX_NOTES = 8                    # sentences about files left out; the rest are counted in one more
MAX_INFLATED_BYTES = 2 * MAX_UPLOAD_BYTES  # inflated per upload, damaged members too: a bound on the CPU time
READ_CHUNK = 2 ** 20
# zipfile bounds a deflated member's output by the size asked for; for bzip2 and LZMA it inflates each chunk whole
# (4 GB from 3 KB), so only stored and deflated members are read
_READ_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# what reading a damaged, encrypted or unusually compressed member raises
_UNREADABLE = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError, OSError, ValueError,
               MemoryError)


def zip_entries(data: bytes) -> Optional[tuple[int, int]]:
    """(entries, central directory bytes) as a zip's end records state them, read as zipfile reads them (zip64
    too), or None where zipfile finds no end record. The count can lie; the directory's size bounds what zipfile
    will read."""
    end = zip_end(data)
    return None if end is None else (end.entries, end.directory_bytes)


class _Spent(Exception):
    """The upload's budget of inflated bytes ran out within a member."""


class _Budget:
    """Bytes inflated so far in one upload, damaged members' too, and zip entries and directory bytes opened."""

    def __init__(self, limit: int = MAX_INFLATED_BYTES, entries: int = MAX_UPLOAD_ENTRIES,
                 directory: int = MAX_UPLOAD_DIRECTORY):
        self.left = limit
        self.entries_left = entries
        self.directory_left = directory

    def admit(self, entries: int = 0, directory: int = 0) -> bool:
        """Count a zip's `entries` and `directory` bytes against the upload's; False (nothing counted) where they
        do not fit."""
        if entries > self.entries_left or directory > self.directory_left:
            return False
        self.entries_left -= entries
        self.directory_left -= directory
        return True

    def read(self, f, limit: int) -> bytes:
        """At most `limit` bytes of member `f`, in chunks, each counted (also when a later one fails); _Spent
        where the budget ends before the member does."""
        out = bytearray()
        while len(out) < limit:
            if self.left <= 0:
                raise _Spent
            chunk = f.read(min(READ_CHUNK, limit - len(out), self.left))
            if not chunk:
                break
            self.left -= len(chunk)
            out += chunk
        return bytes(out)


def _members(name: str, data: bytes, notes: list[str], budget: Optional[_Budget] = None,
             whole: Optional[list[str]] = None) -> Iterator[tuple[str, bytes]]:
    """(relative path, bytes) of the MIDI/PNG members of one zip, each read at most MAX_MEMBER_BYTES + 1 bytes
    (a stated size can lie), stored or deflated only, and no more than the upload's budget in all; unreadable ones
    are noted and skipped. Names in the notes are display names: the notes are shown as markdown."""
    budget = budget or _Budget()
    whole = notes if whole is None else whole  # sentences about the zip as a whole, shown before any member's
    zip_name = display_name(name)
    too_many = (f"{zip_name} holds more than {MAX_ZIP_ENTRIES:,} entries, so it is not opened (a zip of at most "
                f"{MAX_ZIP_ENTRIES:,} is).")
    all_too_many = (f"The zips of this upload hold more than {MAX_UPLOAD_ENTRIES:,} entries in all; those past it "
                    f"are not opened.")
    stated = zip_entries(data)
    if stated is not None and (stated[0] > MAX_ZIP_ENTRIES or stated[1] > MAX_DIRECTORY_BYTES):
        whole.append(too_many)
        return
    if stated is not None and (stated[0] > budget.entries_left or not budget.admit(directory=stated[1])):
        whole.append(all_too_many)
        return
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except _UNREADABLE:
        whole.append(f"{zip_name} is not a readable zip file.")
        return
    with z:
        if len(z.infolist()) > MAX_ZIP_ENTRIES:  # a directory of small entries under a count that lies
            whole.append(too_many)
            return
        if not budget.admit(entries=len(z.infolist())):
            whole.append(all_too_many)
            return
        if any(info.flag_bits & 0x1 for info in z.infolist()):  # one sentence, not one per member
            whole.append(f"{zip_name} is encrypted (protected by a password), so its files are left out.")
            return
        others = 0  # files neither MIDI nor PNG (a readme, a cover image): left out, counted in one sentence
        for info in z.infolist():
            member = display_name(info.filename)
            if info.filename.lower().endswith(".zip") and not info.is_dir():
                notes.append(f"{member} inside {zip_name} is not opened: a zip within a zip is left out.")
                continue
            if info.is_dir() or "__MACOSX" in info.filename:
                continue
            if not info.filename.lower().endswith(SOURCE_SUFFIXES):
                others += 1
                if others == 1:
                    notes.append("")  # its place among the notes, filled in below once they are counted
                    at = len(notes) - 1
                notes[at] = (f"{counted(others, 'other file')} in {zip_name} ({'it is' if others == 1 else 'they are'}"
                             f" neither MIDI nor PNG) {'is' if others == 1 else 'are'} left out.")
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                notes.append(f"{member} in {zip_name} is over {MAX_MEMBER_BYTES // MB} MB unpacked; left out.")
                continue
            if info.compress_type not in _READ_METHODS:
                notes.append(f"{member} in {zip_name} is compressed with a method other than deflate; left out "
                             "(zip it again with the usual settings).")
                continue
            try:
                with z.open(info) as f:
                    blob = budget.read(f, MAX_MEMBER_BYTES + 1)
            except _Spent:
                whole.append(f"{zip_name} holds more data than one upload may unpack "
                             f"({MAX_INFLATED_BYTES // 2 ** 20} MB); the rest is left out.")
                return
            except _UNREADABLE:
                notes.append(f"{member} in {zip_name} is damaged, encrypted or compressed in a way that cannot "
                             "be read; left out.")
                continue
            if len(blob) > MAX_MEMBER_BYTES:
                notes.append(f"{member} in {zip_name} is over {MAX_MEMBER_BYTES // MB} MB unpacked; left out.")
                continue
            parts = [p for p in Path(info.filename.replace("\\", "/")).parts if p not in ("..", "/", "", ".")]
            if parts:
                folder = parts[-2] if len(parts) > 1 else Path(name).stem
                yield f"{display_name(folder)}/{display_name(parts[-1])}", blob


def unpack_uploads(files: list[tuple[str, bytes]]) -> tuple[dict[str, bytes], list[str]]:
    """{relative path: bytes} of the MIDI/PNG files in uploads (zips opened), and the sentences of what was
    refused; at most MAX_UPLOAD_FILES files and MAX_UPLOAD_BYTES in all."""
    out: dict[str, bytes] = {}
    notes: list[str] = []
    total = 0
    budget = _Budget()
    whole: list[str] = []  # about a zip as a whole: always shown, first

    def take(name: str, data: bytes) -> bool:
        nonlocal total
        if name in out:  # x/a/same.mid and y/a/same.mid: both are kept
            stem, suffix = name.rsplit(".", 1)
            name = next(f"{stem} ({k}).{suffix}" for k in range(2, MAX_UPLOAD_FILES + 2)
                        if f"{stem} ({k}).{suffix}" not in out)
        if len(out) >= MAX_UPLOAD_FILES:  # the first file left out named: where the rest begins
            notes.append(f"Only the first {MAX_UPLOAD_FILES} files are indexed: {name} and the files after it "
                         "were left out.")
            return False
        if total + len(data) > MAX_UPLOAD_BYTES:
            notes.append(f"The files pass {MAX_UPLOAD_BYTES // 2 ** 20} MB in all; the rest are left out.")
            return False
        total += len(data)
        out[name] = data
        return True

    for name, data in files:
        if name.lower().endswith(".zip"):
            if not all(take(rel, blob) for rel, blob in _members(name, data, notes, budget, whole)):
                break
        elif name.lower().endswith(SOURCE_SUFFIXES):
            if not take(f"uploaded/{display_name(name)}", data):
                break
    whole, notes = list(dict.fromkeys(whole)), list(dict.fromkeys(notes))
    room = max(MAX_NOTES - len(whole), 2)
    if len(notes) > room:  # one sentence per file would bury the page under a zip of thousands
        notes = notes[:room - 1] + [f"{len(notes) - room + 1:,} more files were left out (not listed here)."]
    return out, whole + notes



class Upload(Protocol):
    """What unpack_once reads of a Streamlit UploadedFile."""

    file_id: str
    name: str
    size: int

    def getvalue(self) -> bytes: ...


def unpack_once(ups: Sequence[Upload], state: MutableMapping, key: str) -> tuple[dict[str, bytes], list[str], str]:
    """unpack_uploads of the uploader's files, their sentences and a digest of their content, kept in `state[key]`
    while the same uploads stay in the uploader: a rerun (any click on the page) does not inflate a zip again."""
    ident = tuple((u.file_id, u.name, u.size) for u in ups)
    kept = state.get(key)
    if kept is None or kept[0] != ident:
        read, total = [], 0
        for u in ups:  # copied out only while they fit: each copy doubles what the server holds
            if total + u.size > MAX_READ_BYTES:
                break
            total += u.size
            read.append(u)
        files, notes = unpack_uploads([(u.name, u.getvalue()) for u in read])
        if len(read) < len(ups):
            first, after = display_name(ups[len(read)].name), len(ups) - len(read) - 1
            which = f"{first} and the {counted(after, 'file')} after it were" if after else f"{first} was"
            notes = [f"The uploaded files pass {MAX_READ_BYTES // 2 ** 20} MB: {which} not read.", *notes]
        digest = hashlib.sha1(b"".join(sorted(hashlib.sha1(d).digest() + k.encode() for k, d in files.items())))
        kept = (ident, files, notes, digest.hexdigest()[:16])
        state[key] = kept
    return kept[1], kept[2], kept[3]

def write_uploads(files: dict[str, bytes], folder: Path) -> list[Path]:
    """Write unpacked uploads under folder (collection/name), returning the paths."""
    paths = []
    root = folder.resolve()
    for rel, data in files.items():
        p = folder / rel
        if not p.resolve().is_relative_to(root):  # unpack_uploads never gives such a path: a second guard
            continue
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.is_file() or p.read_bytes() != data:
            p.write_bytes(data)
        paths.append(p)
    return paths


def prune_builds(folder: Path, keep: int = KEPT_BUILDS) -> list[Path]:
    """Delete all but the `keep` most recently used upload builds under folder (one subfolder each, its files
    and its index), so uploads cannot fill the server's disk; returns what was deleted."""
    return keep_newest((p for p in folder.iterdir() if p.is_dir()), keep) if folder.is_dir() else []

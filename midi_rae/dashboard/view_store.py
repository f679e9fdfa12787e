"""Views drawn before, kept on disk, so that a server's first page need not wait for torch.

A fresh server spends ~3 s importing torch and timm before it can encode anything, and the piece page's model half
waited for it. What that half draws depends only on a piece's encoding and a window's analysis (numpy arrays), so
every view the page computes is written here once the server is idle (`keep`), and a page that opens while the
import is still running draws a view found here (`find`) and leaves the import to finish behind it.

An entry is found only under the exact key the page would compute it for: the piece's content, the checkpoint's
key, the time resolution, transposition, window start and mask settings, and a digest of the code that computes
it. Entries are plain arrays and JSON read without pickle; an unreadable one is a miss and is removed. The store
holds at most MAX_ENTRIES files and MAX_STORE_BYTES (the least recently used go first). MIDI_RAE_VIEW_STORE=0
turns it off; it lives under MIDI_RAE_CACHE (default ~/.cache/midi-rae).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from midi_rae.cache_folder import VIEWS, cache_dir, view_store_on
from midi_rae.checkpoint_meta import DEFAULT_CHECKPOINT
from midi_rae.config import ModelConfig
from midi_rae.inference import MaskSettings, PieceEncoding, WindowAnalysis

from . import activity

FORMAT = 1                       # bumped when what an entry holds changes
MAX_ENTRIES = 64
MAX_STORE_BYTES = 256 << 20
MAX_ENTRY_BYTES = 32 << 20       # a longer piece's encoding (~90 minutes of music here) is not kept
IDLE_S = 1.0                     # a view is written once no page has run for this long
PENDING = 4                      # views waiting to be written; older ones give way (a scrub keeps its last)
STALE_TMP_S = 600                # a half-written entry this old was left by a write that failed
# the modules whose code decides what an entry holds, and the libraries under them (the mask's random numbers are
# torch's, the roll is pretty_midi's reading): a change to any of them makes every entry a miss
CODE = ("inference.py", "analysis.py", "swin.py", "core.py", "pianoroll.py", "png_rolls.py", "checkpoint.py",
        "checkpoint_meta.py", "config.py", "pca.py", "dashboard/sources.py", "dashboard/sidebar.py")
LIBRARIES = ("torch", "timm", "numpy", "pretty_midi", "mido")

log = logging.getLogger(__name__)


@dataclass
class StoredView:
    """A view's model half as kept: the checkpoint's caption, the piece's encoding, the window's analysis."""

    caption: str
    encoding: PieceEncoding
    analysis: WindowAnalysis

    def fits(self, config: ModelConfig) -> bool:
        """Are its arrays shaped as `config`'s model makes them? Entries are written whole by this module alone,
        but a disk's fault must not take down a page, nor again on the next server's first page."""
        enc, res = self.encoding, self.analysis
        grids = [r * c for r, c in config.level_grids]
        n, w = len(grids), len(enc.starts)
        image = (config.img_height, config.img_width)
        return (w > 0 and len(enc.level_emb) == len(enc.level_non_empty) == len(enc.stats) == n
                and len(res.masked_emb) == len(res.level_non_empty) == n
                and all(e.ndim == 3 and e.shape[:2] == (w, g) and ne.shape == (w, g) and ne.dtype == bool
                        for e, ne, g in zip(enc.level_emb, enc.level_non_empty, grids))
                and all(m.shape == (g, e.shape[2]) and ne.shape == rc for m, ne, g, e, rc in
                        zip(res.masked_emb, res.level_non_empty, grids, enc.level_emb, config.level_grids))
                and res.image.shape == res.hidden_px.shape == image and res.mask.shape == (grids[-1],)
                and (res.probs is None or res.probs.shape == image)
                and (res.metrics is None or isinstance(res.metrics, dict)))


enabled = view_store_on


def folder() -> Path:
    """Where entries live."""
    return cache_dir() / VIEWS


@functools.cache
def _code_digest() -> str:
    from importlib import metadata

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha1(str(FORMAT).encode())
    for name in CODE:
        h.update((root / name).read_bytes())
    for lib in LIBRARIES:
        try:
            h.update(f"{lib}=={metadata.version(lib)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{lib} absent".encode())
    return h.hexdigest()[:16]


def _name(kind: str, key: tuple) -> str:
    return f"{kind}-{hashlib.sha1(repr((_code_digest(), kind, key)).encode()).hexdigest()[:24]}.npz"


def _checkpoint_identity(ckpt_key: str) -> str:
    """The page's key for a checkpoint, with the shipped default's file stamp added (its key is "default" alone)."""
    if ckpt_key == "default":
        stamp = DEFAULT_CHECKPOINT.stat()
        return f"default:{stamp.st_mtime_ns}:{stamp.st_size}"
    return ckpt_key


def _piece_key(ckpt_key: str, label: str, midi_key: str, spb: int, semis: int) -> tuple:
    # the label too: the caption names the checkpoint by it (a folder's file by its place in the folder)
    return (_checkpoint_identity(str(ckpt_key)), str(label), str(midi_key), int(spb), int(semis))


def _window_key(piece: tuple, start: int, settings: MaskSettings) -> tuple:
    return piece + (int(start), tuple(float(v) for v in dataclasses.astuple(settings)))


# ---------------------------------------------------------------- entries as arrays


def _piece_arrays(caption: str, enc: PieceEncoding) -> dict[str, np.ndarray]:
    arrays = {"caption": np.array(caption), "starts": np.asarray(enc.starts), "hop": np.array(enc.hop),
              "stats": np.array(json.dumps(enc.stats)), "levels": np.array(len(enc.level_emb))}
    for i, (emb, ne) in enumerate(zip(enc.level_emb, enc.level_non_empty)):
        arrays[f"emb{i}"], arrays[f"ne{i}"] = emb, ne
    return arrays


def _read_piece(z) -> tuple[str, PieceEncoding]:
    n = int(z["levels"])
    enc = PieceEncoding(starts=z["starts"], hop=int(z["hop"]), level_emb=[z[f"emb{i}"] for i in range(n)],
                        level_non_empty=[z[f"ne{i}"] for i in range(n)], stats=json.loads(str(z["stats"])))
    return str(z["caption"]), enc


def _window_arrays(res: WindowAnalysis) -> dict[str, np.ndarray]:
    arrays = {"start": np.array(res.start), "image": res.image, "mask": res.mask, "hidden_px": res.hidden_px,
              "metrics": np.array(json.dumps(res.metrics)), "levels": np.array(len(res.masked_emb)),
              "settings": np.array(json.dumps(dataclasses.asdict(res.settings)))}
    if res.probs is not None:
        arrays["probs"] = res.probs
    for i, (ne, emb) in enumerate(zip(res.level_non_empty, res.masked_emb)):
        arrays[f"ne{i}"], arrays[f"emb{i}"] = ne, emb
    return arrays


def _read_window(z) -> WindowAnalysis:
    n = int(z["levels"])
    return WindowAnalysis(start=int(z["start"]), image=z["image"], mask=z["mask"], hidden_px=z["hidden_px"],
                          level_non_empty=[z[f"ne{i}"] for i in range(n)], masked_emb=[z[f"emb{i}"] for i in range(n)],
                          probs=z["probs"] if "probs" in z.files else None, metrics=json.loads(str(z["metrics"])),
                          settings=MaskSettings(**json.loads(str(z["settings"]))))


def _within_bounds(path: Path) -> bool:
    """Does the entry unpack to at most MAX_ENTRY_BYTES (with room for its headers), each array no larger than its
    member and none of objects? np.load inflates a compressed member whole and allocates the shape a header
    declares before it reads a byte; this process only ever writes uncompressed arrays of numbers and text."""
    limit = MAX_ENTRY_BYTES + (1 << 20)
    if path.stat().st_size > limit:
        return False
    with zipfile.ZipFile(path) as zf:
        members = zf.infolist()
        if sum(i.file_size for i in members) > limit:
            return False
        for info in members:
            with zf.open(info) as f:
                read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                               (2, 0): np.lib.format.read_array_header_2_0}.get(np.lib.format.read_magic(f))
                if read_header is None:  # format 3.0 (utf-8 field names) is not what savez writes here
                    return False
                shape, _, dtype = read_header(f)
            if dtype.hasobject or math.prod(int(d) for d in shape) * dtype.itemsize > info.file_size:  # no wrap
                return False
    return True


def _load(path: Path, read):
    """An entry's contents, or None (a miss; a damaged entry is removed)."""
    try:
        if not _within_bounds(path):
            raise ValueError("larger than an entry can be")
        with np.load(path, allow_pickle=False) as z:
            got = read(z)
        os.utime(path)  # recently used: evicted last
        return got
    except (FileNotFoundError, NotADirectoryError):  # not kept, or no folder to keep it in
        return None
    except (OSError, ValueError, KeyError, TypeError, MemoryError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        log.warning("view store: %s unreadable (%s); removed", path.name, e)
        try:
            path.unlink(missing_ok=True)
        except OSError:
            pass
        return None


def piece_kept(ckpt_key: str, label: str, midi_keys: tuple[str, ...], spb: int, semis: int) -> bool:
    """Is a view of this piece (under any of `midi_keys`) with this checkpoint and reading kept? Cheap: a page asks
    before it has read the piece."""
    if not enabled():
        return False
    try:
        return any((folder() / _name("piece", _piece_key(ckpt_key, label, k, spb, semis))).exists() for k in midi_keys)
    except OSError:
        return False


def forget(ckpt_key: str, label: str, midi_key: str, spb: int, semis: int, start: int,
           settings: MaskSettings) -> None:
    """Remove the entries `find` reads for this key (a view that did not fit its model)."""
    try:
        piece = _piece_key(ckpt_key, label, midi_key, spb, semis)
        for path in (folder() / _name("piece", piece), folder() / _name("window", _window_key(piece, start, settings))):
            path.unlink(missing_ok=True)
    except OSError:
        pass
    log.warning("view store: a kept view of %s did not fit its model; removed", midi_key)


def find(ckpt_key: str, label: str, midi_key: str, spb: int, semis: int, start: int,
         settings: MaskSettings) -> Optional[StoredView]:
    """The kept view for exactly this piece, checkpoint (key and label), reading, window and mask; None when there is
    none."""
    if not enabled():
        return None
    try:
        piece = _piece_key(ckpt_key, label, midi_key, spb, semis)
    except OSError:  # the shipped checkpoint is gone: the page says so when it loads it
        return None
    where = folder()
    res = _load(where / _name("window", _window_key(piece, start, settings)), _read_window)
    if res is None:
        return None
    got = _load(where / _name("piece", piece), _read_piece)
    if got is None:
        return None
    caption, enc = got
    return StoredView(caption, enc, res)


# ---------------------------------------------------------------- writing, when idle

_pending: dict[Path, dict] = {}  # an entry's path -> its arrays, oldest first
_lock = threading.Lock()
_writing = threading.Lock()  # one write at a time: flush() returns only once the writer's entry is whole
_writer: list[Optional[threading.Thread]] = [None]
_warned = [False]  # a write failed and said so


def keep(caption: str, label: str, song, res: WindowAnalysis) -> None:
    """Write this view (the song's encoding and the window's analysis) once the server is idle, unless kept; a kept
    one counts as used now. Not for a dropped checkpoint or piece (`page` never looks one up: a server's first page
    cannot show one)."""
    if not enabled():
        return
    midi_key, ckpt_key, spb, semis = song.key
    try:
        piece = _piece_key(ckpt_key, label, midi_key, spb, semis)
        where = folder()
        entries = [(where / _name("piece", piece), lambda: _piece_arrays(caption, song.encoding)),
                   (where / _name("window", _window_key(piece, res.start, res.settings)),
                    lambda: _window_arrays(res))]
        with _lock:
            for path, arrays in entries:
                if path in _pending:
                    continue
                if path.exists():
                    os.utime(path)  # used again: evicted after the entries not used since
                    continue
                _pending[path] = arrays()
                while len(_pending) > 2 * PENDING:
                    _pending.pop(next(iter(_pending)))
            if _pending and _writer[0] is None:
                _writer[0] = threading.Thread(target=_write_when_idle, name="midi-rae-view-store", daemon=True)
                _writer[0].start()
    except OSError as e:  # an unreadable cache folder: the page works as before, only without kept views
        log.warning("view store: %s", e)


def _write_when_idle() -> None:
    while True:
        activity.wait_until_idle(IDLE_S)
        if not _write_next():
            return


def _write_next() -> bool:
    """Write the oldest waiting view; False when none waits (once any write begun elsewhere has ended), and then the
    writer's thread is done: the next `keep` starts another."""
    with _writing:
        with _lock:
            if not _pending:
                if _writer[0] is threading.current_thread():
                    _writer[0] = None
                return False
            path = next(iter(_pending))
            arrays = _pending.pop(path)
        try:
            _write(path, arrays)
        except OSError as e:  # a full or read-only disk: the page works as before, only without a stored view
            if not _warned[0]:  # once: every view would say the same
                log.warning("view store: could not write in %s (%s); views are not kept", path.parent, e)
                _warned[0] = True
        return True


def flush() -> None:
    """Write every waiting view now (a server writes them once idle)."""
    while _write_next():
        pass


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    if sum(a.nbytes for a in arrays.values()) > MAX_ENTRY_BYTES:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)  # whole or not at all: a reader never sees half an entry
    finally:
        tmp.unlink(missing_ok=True)
    _evict(path.parent)


def _evict(where: Path) -> None:
    """Keep the MAX_ENTRIES most recently used entries and at most MAX_STORE_BYTES; remove what failed writes
    left."""
    entries = []
    for p in where.iterdir():
        try:
            st = p.stat()
        except FileNotFoundError:
            continue
        if p.name.endswith(".tmp") and time.time() - st.st_mtime > STALE_TMP_S:
            p.unlink(missing_ok=True)
        elif p.suffix == ".npz":
            entries.append((st.st_mtime, st.st_size, p))
    entries.sort(reverse=True)
    total = 0
    for i, (_, size, p) in enumerate(entries):
        total += size
        if i >= MAX_ENTRIES or total > MAX_STORE_BYTES:
            p.unlink(missing_ok=True)

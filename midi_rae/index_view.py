"""What the Corpus page draws from an index (metadata, pieces, windows, pooled vectors), read without lancedb.

Importing lancedb takes 1.2-2.5 s on a 2-core machine (half of it its REST client), and the Corpus page's first
render paid that before it could draw the map. So an index folder also holds a read-only snapshot of what the map
needs: `view/<key>/` with `meta.json`, the pieces and windows tables as Arrow IPC files and one `.npy` per level,
where the key names the Lance tables' current manifests, so any commit to the index makes the snapshot stale.
`midi-rae index` writes it after each update; `open_view` reads it, or makes it once through lancedb where it is
missing or stale (in the cache folder where the index folder cannot be written). Lance stays the one store: the
snapshot is derived from it and never written to on its own.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Optional

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

VIEW_DIR = "view"
MAX_META_BYTES = 1 << 20  # an index's meta.json is ~1 KB: a bigger one is not ours, and is not read into memory
KEPT = 2            # snapshots kept per index: a page still showing the previous version can finish reading it
TABLES = ("meta", "pieces", "windows")
WINDOW_COLUMNS = ["piece_id", "window", "start_step", "start_bar", "notes", "density", "pitch_lo", "pitch_hi",
                  "position", "f1", "f1_masked"]
PIECE_COLUMNS = ["piece_id", "path", "rel", "collection", "name", "error", "steps_per_bar", "steps_per_beat", "metre",
                 "tempo_bpm", "bars", "steps"]


class BadMeta(ValueError):
    """An index's metadata lacks something every reader needs; the message says what, as a clause."""


class UnreadableIndex(ValueError):
    """An index (or its snapshot) that cannot be read; the message is one sentence naming it and what is wrong."""


def _whole(v, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def check_meta(meta) -> dict:
    """`meta` if it holds what the readers of an index use, with the types they expect; else BadMeta."""
    if not isinstance(meta, dict):
        raise BadMeta("its metadata is not a table of settings")
    levels = meta.get("levels")
    if not _whole(levels, 1, 16):
        raise BadMeta("its metadata gives no valid number of levels")
    dims, grids = meta.get("dims"), meta.get("grids")
    if not (isinstance(dims, list) and len(dims) == levels and all(_whole(d, 1, 1 << 16) for d in dims)):
        raise BadMeta("its metadata gives no valid embedding size per level")
    if not (isinstance(grids, list) and len(grids) == levels and all(
            isinstance(g, list) and len(g) == 2 and all(_whole(v, 1, 1 << 12) for v in g) for g in grids)):
        raise BadMeta("its metadata gives no valid patch grid per level")
    plevels = meta.get("patch_levels", [])
    if not (isinstance(plevels, list) and all(_whole(k, 0, levels - 1) for k in plevels)):
        raise BadMeta("its metadata names patch levels the model does not have")
    for key, top in (("window_steps", 4096), ("steps_per_beat", 48)):  # 48: what a checkpoint may record
        if meta.get(key) is not None and not _whole(meta[key], 1, top):
            raise BadMeta(f"its metadata's {key} is not a whole number from 1 to {top}")
    for key in ("threshold", "f1_mask_ratio"):
        v = meta.get(key)
        if v is not None and not (isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1):
            raise BadMeta(f"its metadata's {key} is not a number from 0 to 1")
    if not isinstance(meta.get("has_decoder", False), bool) or not isinstance(meta.get("checkpoint", ""),
                                                                              (str, type(None))):
        raise BadMeta("its metadata does not say which model built it")
    return meta


def damaged_store(e: BaseException) -> bool:
    """Is `e` lance's report of a damaged or missing data file (a RuntimeError naming lance) or table ("Table
    'pieces' was not found"), or the file system's? Other errors (a RecursionError among them) are the code's."""
    text = str(e)
    return (isinstance(e, OSError)
            or (isinstance(e, RuntimeError) and not isinstance(e, RecursionError) and "lance" in text.lower())
            or (isinstance(e, ValueError) and "was not found" in text and text.count("'") >= 2)
            or (isinstance(e, ValueError) and "not appear to be a lance file" in text.lower()))  # random bytes


@contextmanager
def reading(name: str) -> Iterator[None]:
    """Work on the index called `name` whose damaged or missing files (`damaged_store`) end it in the index's one
    sentence, UnreadableIndex, rather than in lance's error."""
    try:
        yield
    except (RuntimeError, OSError, ValueError) as e:
        if isinstance(e, UnreadableIndex) or not damaged_store(e):
            raise
        raise unreadable(name, e) from None


def unreadable(name: str, e: BaseException) -> UnreadableIndex:
    """`e`, raised while reading the index called `name`, as the one sentence a person is shown."""
    if isinstance(e, UnreadableIndex):
        return e
    text = str(e)
    if isinstance(e, BadMeta):
        reason = text
    elif isinstance(e, ValueError) and "was not found" in text and text.count("'") >= 2:
        reason = (f"it has no {text.split(chr(39))[1]!r} table (rebuild it with "  # lancedb: "Table 'meta' was not found"
                  f"'midi-rae index --rebuild')")
    elif isinstance(e, (UnicodeDecodeError, json.JSONDecodeError)):
        reason = "its metadata is not valid JSON text"
    elif "lance" in text.lower() or isinstance(e, OSError):
        reason = "its Lance tables are damaged or incomplete (rebuild it with 'midi-rae index --rebuild')"
    else:
        reason = "its files are damaged or were not written by 'midi-rae index'"
    return UnreadableIndex(f"{name} is not a readable index: {reason}.")


def version_key(uri: str | Path) -> str:
    """Changes whenever the index is written to: a digest of its tables' manifest listings ("remote" for a URI)."""
    s = str(uri)
    if "://" in s:
        return "remote"
    h = hashlib.sha1()
    for t in TABLES:
        v = Path(s) / f"{t}.lance" / "_versions"
        entries = sorted((f.name, f.stat().st_size) for f in v.iterdir()) if v.is_dir() else []
        h.update(json.dumps([t, entries]).encode())
    return h.hexdigest()[:16]


def snapshot_meta(uri: str | Path) -> Optional[dict]:
    """The metadata of the index's current snapshot, read without lancedb; None where there is no current one."""
    try:
        mf = Path(uri) / VIEW_DIR / version_key(uri) / "meta.json"
        if "://" in str(uri) or not mf.is_file() or mf.stat().st_size > MAX_META_BYTES:
            return None
        return check_meta(json.loads(mf.read_text()))
    except (OSError, ValueError):
        return None


def resolve_piece(uri: str, path: str, rel: Optional[str] = None) -> Optional[Path]:
    """A piece's file: its stored path, else its path relative to the index's parent folder (a shipped or moved
    index), else None."""
    if path and Path(path).is_file():
        return Path(path)
    if rel and "://" not in uri:
        p = Path(uri).parent / rel
        if p.is_file():
            return p
    return None


class IndexFacts:
    """What both an opened index (index.CorpusIndex) and its snapshot (IndexView) say alike, from `uri`, `meta`
    and `_all_pieces()` (every piece row, failed files included)."""

    uri: str
    meta: dict

    @property
    def levels(self) -> int:
        """Levels of the model the index was built with."""
        return int(self.meta["levels"])

    @property
    def patch_levels(self) -> list[int]:
        """Levels whose patch embeddings are stored."""
        return list(self.meta["patch_levels"])

    def pieces(self, include_failed: bool = False):
        """The pieces as a DataFrame (failed files only with include_failed)."""
        df = self._all_pieces()
        return df if include_failed else df[df["error"].isna()].reset_index(drop=True)

    def failures(self) -> list[tuple[str, str]]:
        """(path, sentence) of every file that could not be indexed."""
        df = self.pieces(include_failed=True)
        df = df[df["error"].notna()]
        return list(zip(df["path"], df["error"]))

    def resolve(self, path: str, rel: Optional[str] = None) -> Optional[Path]:
        """A piece's file (see resolve_piece)."""
        return resolve_piece(self.uri, path, rel)


class IndexView(IndexFacts):
    """An index as the page draws it, from its pieces and windows as Arrow tables; the DataFrames of both and the
    vectors of a level are made on first use (pandas alone takes ~0.7 s to import here, and the map needs none)."""

    def __init__(self, uri: str, meta: dict, pieces: "pa.Table", windows: "pa.Table", folder: Optional[Path],
                 vectors: Optional[dict] = None):
        self.uri, self.meta, self.folder = uri, meta, folder
        self.arrow = {"pieces": pieces, "windows": windows}
        self._frames: dict = {}
        self._vectors: dict[int, np.ndarray] = dict(vectors or {})

    def _frame(self, name: str):
        if name not in self._frames:
            self._frames[name] = self.arrow[name].to_pandas()
        return self._frames[name]

    def _all_pieces(self):
        return self._frame("pieces")

    @property
    def windows(self):
        """The windows as a DataFrame, in the snapshot's row order."""
        return self._frame("windows")

    def failures(self) -> list[tuple[str, str]]:
        """(path, sentence) of every file that could not be indexed (read from the Arrow table, without pandas)."""
        t = self.arrow["pieces"]
        return [(p, e) for p, e in zip(t.column("path").to_pylist(), t.column("error").to_pylist()) if e is not None]

    def vectors(self, level: int) -> np.ndarray:
        """(windows, D) float32 pooled embeddings of a level, rows in the order of `windows`."""
        if level not in self._vectors:
            self._vectors[level] = np.load(self.folder / f"emb_{level}.npy", allow_pickle=False)
        return self._vectors[level]


def _read(folder: Path, uri: str) -> IndexView:
    """The snapshot in `folder`, checked whole before it is used (its metadata, both tables' columns, every level's
    vector file's header and size), so that a damaged snapshot fails here, where it is made again from the tables,
    and not in the middle of drawing the page. Raises BadMeta, OSError, or what pyarrow or numpy raise."""
    import pyarrow.feather as feather

    mf = folder / "meta.json"
    if mf.stat().st_size > MAX_META_BYTES:
        raise BadMeta("its metadata file is far too big")
    meta = check_meta(json.loads(mf.read_text()))
    pieces = feather.read_table(folder / "pieces.arrow", memory_map=True)
    windows = feather.read_table(folder / "windows.arrow", memory_map=True)
    if not set(PIECE_COLUMNS) <= set(pieces.column_names) or not set(WINDOW_COLUMNS) <= set(windows.column_names):
        raise BadMeta("its snapshot's tables lack columns")
    for k, d in enumerate(meta["dims"]):
        v = np.load(folder / f"emb_{k}.npy", mmap_mode="r", allow_pickle=False)  # reads the header; checks the size
        if v.shape != (windows.num_rows, d) or v.dtype != np.float32:
            raise BadMeta(f"its snapshot's level {k} vectors do not match its windows")
    return IndexView(uri, meta, pieces, windows, folder)


def _snapshot(index) -> tuple[dict, "pa.Table", "pa.Table", dict[int, np.ndarray]]:
    """(meta, pieces, windows, vectors by level) read from a CorpusIndex; vectors in the windows' row order."""
    meta = index.meta
    pieces = index.table("pieces").search().limit(None).to_arrow()
    levels = int(meta["levels"])
    t = index.table("windows").search().select(WINDOW_COLUMNS + [f"emb_{k}" for k in range(levels)]) \
        .limit(None).to_arrow()
    vectors = {}
    for k in range(levels):
        col = t.column(f"emb_{k}").combine_chunks()
        vectors[k] = col.values.to_numpy(zero_copy_only=False).reshape(len(col), col.type.list_size) \
            .astype(np.float32, copy=False)
    return meta, pieces, t.select(WINDOW_COLUMNS), vectors


def keep_newest(folders: Iterable[Path], keep: int) -> list[Path]:
    """Delete all but the `keep` most recently modified of these folders; returns the deleted ones."""
    old = sorted(folders, key=lambda p: p.stat().st_mtime, reverse=True)[keep:]
    for p in old:
        shutil.rmtree(p, ignore_errors=True)
    return old


def write_view(index, home: Optional[Path] = None, replace: bool = False) -> IndexView:
    """Write the snapshot of a CorpusIndex under home (default: the index folder) and drop older ones; with
    `replace`, a snapshot of the same version already there (a damaged one) is replaced."""
    import pyarrow.feather as feather

    key = version_key(index.uri)
    home = Path(home if home is not None else Path(index.uri) / VIEW_DIR)
    meta, pieces, windows, vectors = _snapshot(index)
    home.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=home))
    try:
        (tmp / "meta.json").write_text(json.dumps(meta))
        feather.write_feather(pieces, tmp / "pieces.arrow", compression="uncompressed")
        feather.write_feather(windows, tmp / "windows.arrow", compression="uncompressed")
        for k, v in vectors.items():
            np.save(tmp / f"emb_{k}.npy", v, allow_pickle=False)
        final = home / key
        if replace and (final.is_dir() or final.is_symlink()):
            if final.is_symlink():
                final.unlink()
            else:
                shutil.rmtree(final)
        if final.is_dir():  # another process wrote the same snapshot meanwhile
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    keep_newest((p for p in home.iterdir() if p.is_dir() and p.name != key and not p.name.startswith(".")), KEPT - 1)
    return IndexView(str(index.uri), meta, pieces, windows, final, vectors)


def open_view(uri: str | Path, cache: Path) -> IndexView:
    """The snapshot of the index at uri: read where it is current, else made once through lancedb (in the index
    folder, or under cache when that folder cannot be written); a remote index is read through lancedb each time."""
    uri = str(uri)
    name = Path(uri).name or uri
    try:
        key = version_key(uri)
    except OSError as e:
        raise unreadable(name, e) from None
    damaged = []
    if key != "remote":
        spare = cache / "views" / hashlib.sha1(str(Path(uri).resolve()).encode()).hexdigest()[:16]
        for home in (Path(uri) / VIEW_DIR, spare):
            if (home / key / "meta.json").is_file():
                try:
                    return _read(home / key, uri)  # the common case: no need to import the index module at all
                except Exception:  # noqa: BLE001 - a damaged snapshot is made again from the tables below
                    damaged.append(home)
    from .index import CorpusIndex

    try:
        if key == "remote":
            meta, pieces, windows, vectors = _snapshot(CorpusIndex(uri))
            return IndexView(uri, meta, pieces, windows, None, vectors)
        index = CorpusIndex(uri)
        # the index folder unless its snapshot is the damaged one (the folder may be someone else's: left as it is),
        # else or failing that the cache folder, whose own damaged snapshot is replaced
        if Path(uri) / VIEW_DIR not in damaged:
            try:
                return write_view(index)
            except OSError:
                pass
        return write_view(index, spare, replace=spare in damaged)
    except UnreadableIndex:
        raise
    except Exception as e:  # noqa: BLE001 - whatever lancedb or pyarrow raise on a damaged index: one sentence
        raise unreadable(name, e) from None


def png_path(path: Optional[str]) -> bool:
    """Is an indexed piece's file a PNG piano roll (its bars, metre and tempo assumed by the index, not read)?"""
    return bool(png_paths([path])[0])


def png_paths(paths) -> np.ndarray:
    """`png_path` of a column of paths at once (a corpus view names tens of thousands of windows on a rerun)."""
    from .png_rolls import PNG_SUFFIXES

    names = np.char.lower(np.asarray(["" if p is None else str(p) for p in paths], dtype=str))
    return np.logical_or.reduce([np.char.endswith(names, s) for s in PNG_SUFFIXES]) if len(names) else \
        np.zeros(0, dtype=bool)


def passage_place(start: int, end: int, steps_per_bar: int, steps_per_beat: int, png: bool = False) -> str:
    """Where steps start..end-1 of an indexed piece lie, as every corpus view names them: "bars 4–11" (`bar_span`),
    or a PNG roll's "steps 48–175"."""
    from .pianoroll import bar_span  # pretty_midi and mido load with it: only once a bar is named

    if png:
        return f"steps {int(start)}–{int(end) - 1}"
    return bar_span(int(start), int(end) - int(start), int(steps_per_bar), int(steps_per_beat))


def passage_end(start, width: int, piece_steps):
    """The step after a window's music: its end, or its piece's where the window runs past it."""
    start, steps = np.asarray(start, dtype=np.int64), np.asarray(piece_steps, dtype=np.int64)
    return np.where(steps > start, np.minimum(start + width, steps), start + width)


def own_ranges(meta: dict, piece_ids, start: int) -> list[tuple[int, int, int]]:
    """(piece_id, start, end) of the window at step `start` of each piece: a query's own passage, for a search's
    `avoid`."""
    width = int(meta.get("window_steps", 128))
    return [(int(p), int(start), int(start) + width) for p in piece_ids]

"""Where the Corpus page's index comes from: the shipped corpus, the server's index folder, or uploads; and the
cached reads of an index. Loaders only compute: no widgets, no reruns.

The shipped corpus (assets/corpus/) holds MIDI files of music21 corpus pieces that the shipped model did not
train on (see assets/corpus/README.md) and an index of them built with the shipped checkpoint. Where that index
cannot serve (another checkpoint, or lancedb cannot open it) the page builds one from the MIDI files into the
cache folder on first open, with progress.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
import streamlit as st

from midi_rae.cache_folder import cache_dir
from midi_rae.checkpoint_meta import ASSETS
from midi_rae.index_view import UnreadableIndex, passage_end, reading

from .names import display_name

SHIPPED = Path(ASSETS) / "corpus"
SHIPPED_INDEX = SHIPPED / "index"
SHIPPED_MIDI = SHIPPED / "midi"
ENV = "MIDI_RAE_INDEXES"
# windows one build in the page encodes (a window per bar: ~20,000 bars, hours of music; ~1–2 minutes here with
# the reconstruction scores): a small zip of long, repetitive pieces must not hold the server for many minutes
MAX_BUILD_WINDOWS = 20_000
# two sessions that drop the same files build into the same folder: the second waits for the first (and then has
# nothing left to add) rather than failing; a build here ends within a few minutes (MAX_BUILD_WINDOWS)
BUILD_WAIT_S = 900.0


def index_folder() -> Optional[Path]:
    """The server's folder of indexes (MIDI_RAE_INDEXES, or `-- --indexes DIR` after streamlit's options)."""
    from .sources import server_folder

    return server_folder(ENV, "--indexes")


def is_index(path: Path) -> bool:
    """Is this folder a midi-rae index?"""
    return (path / "meta.lance").is_dir()


def folder_indexes(folder: Path) -> list[Path]:
    """The folder itself if it is an index, else the indexes at most two levels under it."""
    if is_index(folder):
        return [folder]
    found = [p for p in folder.glob("*") if p.is_dir() and is_index(p)]
    found += [p for p in folder.glob("*/*") if p.is_dir() and is_index(p)]
    return sorted(found)


def stamp(uri: str) -> str:
    """Changes whenever the index is written to (the caches below are keyed by it)."""
    from midi_rae.index_view import version_key

    return version_key(uri)


@st.cache_resource(max_entries=8, show_spinner=False)
def open_index(uri: str, version: str):
    """An index opened with lancedb, once per (folder, state): for searches, thumbnails and error profiles."""
    from midi_rae.index import CorpusIndex

    return CorpusIndex(uri)


@st.cache_resource(max_entries=8, show_spinner=False)
def view(uri: str, version: str):
    """What the page draws of an index (midi_rae.index_view: no lancedb import where its snapshot is current)."""
    from midi_rae.index_view import open_view

    return open_view(uri, cache_dir())


MAP_COLUMNS = ["name", "collection", "path", "rel", "steps_per_bar", "steps_per_beat", "steps"]  # as the map needs it


def _np(table, name: str) -> np.ndarray:
    """One column of an Arrow table as numpy, without pandas: pyarrow's own `to_numpy` imports pandas (~0.7 s here)
    whenever it is installed. Fixed-width numbers come straight from the data buffer; nulls become NaN (numbers)
    or None, and other types (strings) go through Python objects."""
    import pyarrow as pa

    arr = table.column(name).combine_chunks()
    t = arr.type
    if (pa.types.is_integer(t) or pa.types.is_floating(t)) and arr.null_count == 0:
        dtype = np.dtype(t.to_pandas_dtype())
        return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)
    if pa.types.is_floating(t):
        return np.array([np.nan if v is None else v for v in arr.to_pylist()], dtype=np.dtype(t.to_pandas_dtype()))
    out = np.empty(len(arr), dtype=object)
    out[:] = arr.to_pylist()
    return out


def _read_ok(pieces) -> np.ndarray:
    """Which rows of the pieces table were read (no error)."""
    return np.array([e is None for e in pieces.column("error").to_pylist()], dtype=bool)


def _kept_windows(v) -> np.ndarray:
    """Rows of the snapshot's windows whose piece was read (those `tables` keeps, in the same order)."""
    p = v.arrow["pieces"]
    good = np.sort(_np(p, "piece_id")[_read_ok(p)])
    wp = _np(v.arrow["windows"], "piece_id")
    pos = np.minimum(np.searchsorted(good, wp), max(len(good) - 1, 0))
    return np.flatnonzero(good[pos] == wp) if len(good) else np.zeros(0, dtype=np.int64)


def _window_columns(v, piece_columns: list[str]) -> dict[str, np.ndarray]:
    """The snapshot's windows of pieces that were read, as numpy columns: theirs, their piece's `piece_columns`
    and end_step (where the window's music ends: the window's end or the piece's), joined without pandas."""
    w, p = v.arrow["windows"], v.arrow["pieces"]
    rows = _kept_windows(v)
    cols = {name: _np(w, name)[rows] for name in w.column_names}
    pid = _np(p, "piece_id")
    order = np.argsort(pid, kind="stable")
    at = order[np.searchsorted(pid[order], cols["piece_id"])]
    for name in piece_columns:
        cols[name] = _np(p, name)[at]
    width = int(v.meta.get("window_steps", 128))
    cols["end_step"] = passage_end(cols["start_step"], width, cols["steps"])
    return cols


def window_span(start: int, width: int, piece_steps: int, steps_per_bar: int, steps_per_beat: int,
                path: Optional[str] = None) -> str:
    """The bars of the window at step `start`, up to its piece's end, as every corpus view names them."""
    end = int(passage_end(start, width, piece_steps))
    return spans([start], [end], [max(int(steps_per_bar), 1)], [steps_per_beat], [path])[0]


def spans(start, end, steps_per_bar, steps_per_beat, paths) -> list[str]:
    """Each passage's place, as every corpus view names it (`index_view.passage_place`: "bars 3–4", "7:3–8:2", or
    a PNG roll's "steps 48–175", whose bars the index only assumed)."""
    from midi_rae.index_view import passage_place, png_paths

    return [passage_place(a, b, bar, beat, png)
            for a, b, bar, beat, png in zip(start, end, steps_per_bar, steps_per_beat, png_paths(list(paths)))]


@st.cache_data(max_entries=8, show_spinner=False)
def map_columns(uri: str, version: str) -> dict[str, np.ndarray]:
    """The windows of `tables` with their piece's MAP_COLUMNS, so that the map draws before pandas is imported."""
    return _window_columns(view(uri, version), MAP_COLUMNS)


@st.cache_data(max_entries=8, show_spinner=False)
def summary(uri: str, version: str) -> tuple[int, int]:
    """(pieces read, collections) of an index, without pandas."""
    p = view(uri, version).arrow["pieces"]
    ok = _read_ok(p)
    return int(ok.sum()), len(set(_np(p, "collection")[ok]))


@st.cache_data(max_entries=8, show_spinner=False)
def tables(uri: str, version: str):
    """(pieces, windows) DataFrames: windows carry their piece's name, collection, path and metre."""
    import pandas as pd

    v = view(uri, version)
    cols = MAP_COLUMNS + ["metre", "tempo_bpm"]
    return v.pieces(), pd.DataFrame(_window_columns(v, cols))


def _rows(piece_ids: np.ndarray, windows: np.ndarray, w) -> np.ndarray:
    """Positions in (piece_ids, windows) of the windows of DataFrame w (matched on piece_id and window)."""
    import pandas as pd

    have = pd.MultiIndex.from_arrays([piece_ids, windows])
    return have.get_indexer(pd.MultiIndex.from_arrays([w["piece_id"].to_numpy(), w["window"].to_numpy()]))


def _matrix(t, name: str) -> np.ndarray:
    col = t.column(name).combine_chunks()
    return col.values.to_numpy(zero_copy_only=False).reshape(len(col), col.type.list_size)


@st.cache_data(max_entries=16, show_spinner=False)
def level_vectors(uri: str, version: str, level: int) -> np.ndarray:
    """(windows, D) pooled embeddings of a level, rows in the order of `tables`' windows."""
    v = view(uri, version)
    return v.vectors(level)[_kept_windows(v)]


@st.cache_data(max_entries=16, show_spinner=False)
def error_profiles(uri: str, version: str) -> Optional[dict[str, np.ndarray]]:
    """Per window, masked reconstruction errors and note pixels by pitch and by step (None without a decoder)."""
    idx = open_index(uri, version)
    if not idx.meta.get("has_decoder"):
        return None
    cols = ["err_pitch", "on_pitch", "err_step", "on_step"]
    t = idx.table("windows").search().select(["piece_id", "window", *cols]).limit(None).to_arrow()
    _, w = tables(uri, version)
    rows = _rows(t.column("piece_id").to_numpy(), t.column("window").to_numpy(), w)
    return {c: _matrix(t, c)[rows].astype(np.int32) for c in cols}


@contextmanager
def damage_shown(uri: str) -> Iterator[None]:
    """Draw a view of the index at `uri`; a data file of it damaged since its snapshot was written is the index's
    one sentence on the page in the view's place, not Streamlit's error box."""
    try:
        with reading(display_name(Path(uri).name)):
            yield
    except UnreadableIndex as e:
        st.error(str(e))


@st.cache_data(max_entries=32, show_spinner=False)
def damage(uri: str, stamp: str) -> Optional[str]:
    """The index's one sentence when a data file of its tables is gone or cut short since its snapshot was written,
    else None: one small column of each table read whole opens every data file (a few milliseconds)."""
    try:
        with reading(display_name(Path(uri).name)):
            idx = open_index(uri, stamp)
            for table in ("pieces", "windows"):
                idx.table(table).search().select(["piece_id"]).limit(None).to_arrow()
    except UnreadableIndex as e:
        return str(e)
    return None


@st.cache_data(max_entries=32, show_spinner=False)
def window_images(uri: str, version: str, keys: tuple[tuple[int, int], ...]) -> dict[tuple[int, int], bytes]:
    """The stored (bit-packed) images of some windows, by (piece_id, window)."""
    if not keys:
        return {}
    idx = open_index(uri, version)
    cond = " OR ".join(f"(piece_id = {int(p)} AND window = {int(w)})" for p, w in keys)
    t = idx.table("windows").search().where(cond).select(["piece_id", "window", "image"]).limit(None).to_arrow()
    return {(p, w): im for p, w, im in zip(t.column("piece_id").to_pylist(), t.column("window").to_pylist(),
                                          t.column("image").to_pylist())}


# ---------------------------------------------------------------- building


def shipped_usable(ckpt_key: str) -> bool:
    """Was the shipped index built with this checkpoint (and can it be opened)?"""
    if not is_index(SHIPPED_INDEX):
        return False
    try:
        return view(str(SHIPPED_INDEX), stamp(str(SHIPPED_INDEX))).meta.get("checkpoint_key") == ckpt_key
    except Exception:  # noqa: BLE001 - an unreadable shipped index is rebuilt from the MIDI files
        return False


def build(sources: list[Path], out: Path, bundle, progress: Callable[[int, int, str], None], ckpt=None):
    """Build (or update) an index in the page; returns the BuildReport."""
    from midi_rae import threads
    from midi_rae.index import build_index

    threads.follow(interactive=False)  # a batch job: every free core
    return build_index(sources, out, checkpoint=ckpt, bundle=bundle, jobs=0, compile=False, progress=progress,
                       log=lambda s: None, max_windows=MAX_BUILD_WINDOWS, wait_s=BUILD_WAIT_S)

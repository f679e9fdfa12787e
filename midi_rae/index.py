"""The corpus index: every window of every piece under some sources, encoded level by level, searchable.

    midi-rae index SOURCE... --checkpoint P --out DIR     build or update (incremental by content hash)
    midi-rae search DIR --query FILE.mid --bar B          the most similar passages (cosine)

The store is LanceDB (an embedded, versioned columnar store on Arrow with vector search built in):
- one folder (or an object-storage URI such as s3://bucket/index: LanceDB opens both the same way) holds
  four kinds of table: `pieces` (one row per source file, failures included with their sentence),
  `windows` (one row per window: place, note statistics, reconstruction F1, and every level's pooled
  embedding as a vector column `emb_<level>`), `patches_<level>` (the non-empty patch embeddings of the
  coarse levels, float16) and `meta` (the checkpoint and settings the index was built with);
- every write is an atomic commit, so a run that is interrupted leaves the last commit intact, and the
  next run skips the pieces already committed (their content hash is stored): resumable by construction;
- search is exact (a flat scan) below ANN_MIN_ROWS vectors and uses an IVF index above it; the same call
  serves both (`CorpusIndex.nearest`).

Windows follow the one rule of `midi_rae.inference.piece_windows`; masked F1 is the piece page's own mask for
that window (`inference.window_masks` at ratio 0.5, seed 0), so a number in the index is the number the piece
page shows for that window. The parallel parse (processes) and batched, compiled encode live here; Ray is in
`midi_rae.index_ray`.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import sys
import time
import warnings
import zlib
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional, Sequence

import numpy as np

from .cache_folder import cache_dir
from .file_limits import BROKEN_LINK, discover, unlisted, unlisted_folders, unmatched  # noqa: F401 (index_cli reads them)
from .pianoroll import MAX_MIDI_BYTES, MIDI_SUFFIXES, size_error
from .piece_scores import f1_per_row
from .png_rolls import from_png
from .wording import printable
from .workers import watch_parent
from .index_view import (WINDOW_COLUMNS, IndexFacts, check_meta, own_ranges, passage_end, passage_place, png_path,
                         reading, snapshot_meta, unreadable, write_view)

if TYPE_CHECKING:  # torch and lancedb load inside the functions that need them (the CLI's parser stays light)
    import pyarrow as pa
    import torch

__all__ = ["CorpusIndex", "BuildReport", "Hit", "build_index", "discover", "parse_source", "search_passage",
           "query_vectors", "pool_levels", "recall_at_k",
           "INDEX_FORMAT", "ANN_MIN_ROWS", "PATCH_MAX", "MIDI_SUFFIXES"]

INDEX_FORMAT = "midi-rae-index/1"
ANN_MIN_ROWS = 100_000   # a vector column with more rows than this gets an IVF index; below it search is exact
# k-means for the IVF partitions: Lance's defaults (50 iterations over 256 vectors per partition) took 17 s of a
# 172 s index of the music21 corpus; 10 over 64 took 8 s, with recall@10 1.000 either way (32 probes, re-ranked)
IVF_ITERATIONS, IVF_SAMPLE_RATE = 10, 64
# IVF_PARTITIONS_NOTE: half of sqrt(n) partitions build in half the time of sqrt(n) (the 648,013 level-2 patch
# vectors of 3,200 music21 files: 9.7 s against 18.9 s), with recall@10 0.993-1.000 against 0.988-0.993 and a
# search's median 7-8 ms either way (32 probes, re-ranked)
PATCH_MAX = 16           # by default the patch embeddings of levels of at most this many patches are stored
F1_MASK_RATIO = 0.5      # masked F1 is measured at this ratio ...
F1_SEED = 0              # ... under the mask the piece page draws for this seed
BATCH = 32               # windows per encoder call (the compiled step is built for this batch)
FLUSH_WINDOWS = 8_000    # windows buffered before a commit
# the intervals a transposition-invariant search tries: every key, an octave either way (the model is not octave-
# invariant: a passage an octave away, tried only as its pitch class, was found at another interval)
TRANSPOSITIONS = tuple(range(-12, 13))
CANDIDATES = 10          # nearest rows fetched per hit wanted, so that k distinct passages remain (windows a bar apart)
# the share of a hit (or of a better one, if shorter) in a better hit of its piece that makes it the same passage: at
# a half, hits two and three bars apart of one 8-bar passage filled a page of results (a newcomer's audit)
OVERLAP = 0.25


# ---------------------------------------------------------------- sources


def nothing_matched(files: Sequence[Path], missing: Sequence[str]) -> None:
    """Raise ValueError (one sentence) when sources were named and none of them matched a file: a mistyped folder
    must not create or change an index."""
    if not files and missing:
        which = unmatched(missing[0]) if len(missing) == 1 else \
            f"none of the {len(missing)} sources holds a MIDI or PNG file"
        raise ValueError(f"Nothing was indexed or changed: {which}.")


def piece_id(path: str) -> int:
    """A stable 60-bit id for a file's path (the key that ties its windows to its piece row)."""
    return int(hashlib.sha1(path.encode()).hexdigest()[:15], 16)


def content_hash(data: bytes) -> str:
    """A file's content hash (what decides whether a re-run re-encodes it)."""
    return hashlib.sha1(data).hexdigest()[:20]


def parse_source(path: str | Path, data: Optional[bytes] = None, steps_per_beat: int = 4, flip_png: bool = False,
                 name: Optional[str] = None, sustain_pedal: bool = False):
    """A PianoRoll from a MIDI file (its sustain pedal applied with `sustain_pedal`) or a PNG piano-roll image, told
    apart by their bytes as the piece page and `inspect` tell them (raises MidiError with one sentence)."""
    from .png_rolls import read_roll

    p = Path(path)
    data = p.read_bytes() if data is None else data
    return read_roll(data, steps_per_beat=steps_per_beat, name=name or p.stem, flip=flip_png,
                     sustain_pedal=sustain_pedal)


def read_as_indexed(meta: dict, path: str | Path, data: Optional[bytes] = None):
    """A query piece read as the index read its files: at its steps per beat, a PNG the same way up, MIDI with or
    without the sustain pedal (`parse_source`; raises MidiError with one sentence)."""
    return parse_source(path, data, int(meta.get("steps_per_beat") or 4), bool(meta.get("flip_png")),
                        sustain_pedal=bool(meta.get("sustain_pedal")))


def _parse_job(job: tuple) -> dict:
    """Worker: read and parse one file; a failure becomes its one sentence (never an exception)."""
    path, steps_per_beat, flip_png, data, sustain_pedal = job
    p = Path(path)
    out: dict[str, Any] = {"path": path}
    try:
        if data is None:
            if p.is_dir():
                raise ValueError("It is a folder, not a MIDI file.")
            if not p.exists():  # there (a folder listed it) but nothing behind it
                raise ValueError(f"It is {BROKEN_LINK}.")
            if not p.is_file():  # a pipe or a device: reading it could wait forever
                raise ValueError("It is not a regular file (a pipe or a device), so it is not read.")
            if p.stat().st_size > MAX_MIDI_BYTES:
                raise size_error(p.stat().st_size)
            data = p.read_bytes()
        out["hash"] = content_hash(data)
        out["roll"] = parse_source(p, data, steps_per_beat, flip_png, sustain_pedal=sustain_pedal)
    except ValueError as e:  # MidiError is a ValueError; so are the image's sentences
        out["error"] = " ".join(str(e).split()) or "The file could not be read."
    except OSError as e:
        out["error"] = f"The file could not be read ({e.strerror or type(e).__name__})."
    except Exception as e:  # noqa: BLE001 - one bad file must not stop the run
        out["error"] = f"The file could not be read ({type(e).__name__})."
    return out


# ---------------------------------------------------------------- the store


def _schemas(levels: int, dims: Sequence[int], patch_levels: Sequence[int], width: int = 128
             ) -> dict[str, "pa.Schema"]:
    """The tables of an index of windows `width` steps wide (the model's window: 64, 128, 256 ...)."""
    import pyarrow as pa

    pieces = pa.schema([
        ("piece_id", pa.int64()), ("path", pa.string()), ("rel", pa.string()), ("collection", pa.string()),
        ("name", pa.string()),
        ("hash", pa.string()), ("kind", pa.string()), ("error", pa.string()),
        ("duration_s", pa.float32()), ("tempo_bpm", pa.float32()), ("metre", pa.string()),
        ("steps_per_beat", pa.int16()), ("steps_per_bar", pa.int16()), ("steps", pa.int32()),
        ("bars", pa.float32()), ("notes", pa.int32()), ("windows", pa.int32()), ("hop", pa.int32()),
        ("pitch_lo", pa.int16()), ("pitch_hi", pa.int16()), ("f1", pa.float32()), ("f1_masked", pa.float32()),
        ("added", pa.float64()), ("pedal_presses", pa.int32())])
    win = [("piece_id", pa.int64()), ("window", pa.int32()), ("start_step", pa.int32()), ("start_bar", pa.float32()),
           ("notes", pa.int32()), ("density", pa.float32()), ("pitch_lo", pa.int16()), ("pitch_hi", pa.int16()),
           ("position", pa.float32()), ("f1", pa.float32()), ("f1_masked", pa.float32()),
           ("err_pitch", pa.list_(pa.uint8(), 128)), ("on_pitch", pa.list_(pa.uint8(), 128)),
           ("err_step", pa.list_(pa.uint8(), int(width))), ("on_step", pa.list_(pa.uint8(), int(width))),
           ("image", pa.binary())]  # the window itself for thumbnails: zlib of np.packbits of (128, width)
    win += [(f"emb_{k}", pa.list_(pa.float32(), int(dims[k]))) for k in range(levels)]
    out = {"pieces": pieces, "windows": pa.schema(win),
           "meta": pa.schema([("key", pa.string()), ("value", pa.string())])}
    for k in patch_levels:
        out[f"patches_{k}"] = pa.schema([("piece_id", pa.int64()), ("window", pa.int32()), ("patch", pa.int16()),
                                         ("vector", pa.list_(pa.float16(), int(dims[k])))])
    return out


def _fixed(a: np.ndarray, typ) -> "pa.Array":
    import pyarrow as pa

    a = np.ascontiguousarray(a)
    return pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1), type=typ), a.shape[1])


def unpack_window(data: bytes, width: int = 128) -> np.ndarray:
    """A stored window image (bit-packed, zlib) back to a (128, width) uint8 {0, 1} array, row = pitch; ValueError
    for an image that is damaged or of another size (inflated no further than the size expected)."""
    need = (128 * width + 7) // 8
    try:
        raw = zlib.decompressobj().decompress(data, need + 1)
    except zlib.error:
        raise ValueError("a stored window image is damaged") from None
    if len(raw) != need:
        raise ValueError("a stored window image is not of the index's window size")
    return np.unpackbits(np.frombuffer(raw, np.uint8))[:128 * width].reshape(128, width)


def copies(index: "CorpusIndex", piece_id: int) -> list[int]:
    """The ids of the pieces whose files hold the same bytes as this one's (itself first): a search from it leaves
    their passages out with its own, which would match at 1.000."""
    t = index.table("pieces").search().where(f"piece_id = {int(piece_id)}").select(["hash"]).limit(1).to_arrow()
    h = t.column("hash").to_pylist()[0] if t.num_rows else None
    if not h or not re.fullmatch(r"[0-9a-f]+", str(h)):
        return [int(piece_id)]
    same = index.table("pieces").search().where(f"hash = '{h}'").select(["piece_id"]).limit(None).to_arrow()
    return [int(piece_id)] + sorted(int(p) for p in same.column("piece_id").to_pylist() if int(p) != int(piece_id))


def stored_window(index: "CorpusIndex", piece_id: int, step: int):
    """(a PianoRoll of the piece's stored window that starts nearest before `step`, or its first; that window's
    start step), from the index alone: a query for a piece whose file is not on this machine. The roll is the
    window's width, at the piece's steps per beat and metre, so its bar 1 is the window."""
    from .png_rolls import roll_from_array

    t = sorted(index.windows(["start_step", "image"], where=f"piece_id = {int(piece_id)}").to_dict("records"),
               key=lambda w: w["start_step"])
    p = index.table("pieces").search().where(f"piece_id = {int(piece_id)}").select(
        ["name", "steps_per_beat", "metre"]).limit(1).to_arrow().to_pylist()
    if not t or not p:
        raise ValueError("The index holds no window of this piece.")
    before = [w for w in t if w["start_step"] <= step]
    w = before[-1] if before else t[0]
    num, _, den = str(p[0]["metre"] or "4/4").partition("/")
    metre = (int(num), int(den)) if num.isdigit() and den.isdigit() else (4, 4)
    image = unpack_window(w["image"], int(index.meta.get("window_steps", 128)))
    return roll_from_array(image, int(p[0]["steps_per_beat"] or 4), str(p[0]["name"]), metre), int(w["start_step"])


def _in_list(column: str, ids: Iterable[int]) -> str:
    return f"{column} IN ({', '.join(str(int(i)) for i in ids)})"


def _chunks(seq: Sequence, n: int) -> Iterator[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def import_store():
    """The lancedb module, imported quietly (without "No existing dataset ... will be created" per new table)."""
    os.environ.setdefault("LANCEDB_LOG", "error")
    import lancedb

    return lancedb


def ivf_index(table, column: str, parts: int) -> Optional[str]:
    """Build (or replace) a cosine IVF index of `parts` partitions on `column`; None, or why it could not be.

    Lance's k-means refuses a column whose vectors fall into fewer clusters than partitions (a collection of
    near-copies: its message says how many it found); the column then keeps no index, and exact search needs none.
    """
    from lancedb.index import IvfFlat

    try:
        table.create_index(column, replace=True, config=IvfFlat(distance_type="cosine", num_partitions=parts,
                                                                 max_iterations=IVF_ITERATIONS,
                                                                 sample_rate=IVF_SAMPLE_RATE))
    except Exception as e:  # noqa: BLE001 - lance raises RuntimeError or ValueError with its own message
        found = re.search(r"could only form (\d+) non-empty clusters", str(e))
        return (f"its vectors form only {found.group(1)} distinct clusters, too few for {parts} partitions."
                if found else f"lance could not build it ({str(e).splitlines()[0][:200]}).")
    return None


class CorpusIndex(IndexFacts):
    """An index folder (or object-storage URI) opened for reading and writing."""

    def __init__(self, uri: str | Path):
        lancedb = import_store()
        self.uri = str(uri)
        self.db = lancedb.connect(self.uri)
        self._tables: dict[str, Any] = {}
        self._meta: Optional[dict] = None

    # ------------------------------------------------------------ opening

    @classmethod
    def exists(cls, uri: str | Path) -> bool:
        """Is there an index at uri (a local folder checked without importing lancedb)?"""
        s = str(uri)
        if "://" not in s:
            return (Path(s) / "meta.lance").is_dir()
        try:
            return "meta" in cls(uri).table_names()
        except Exception:  # noqa: BLE001
            return False

    def table_names(self) -> list[str]:
        """Tables in the index."""
        r = self.db.list_tables()
        return list(getattr(r, "tables", r))

    def table(self, name: str):
        """A table, opened once."""
        if name not in self._tables:
            self._tables[name] = self.db.open_table(name)
        return self._tables[name]

    @property
    def meta(self) -> dict:
        """What the index was built with: format, checkpoint, config, levels, dims, patch levels, settings."""
        if self._meta is None:
            t = self.table("meta").search().limit(None).to_arrow().to_pylist()
            self._meta = check_meta({r["key"]: json.loads(r["value"]) for r in t})
        return self._meta

    def check(self) -> "CorpusIndex":
        """This index, once its metadata and tables have been opened; else UnreadableIndex, one sentence."""
        try:
            _ = self.meta
            for name in ("pieces", "windows"):
                self.count(name)
        except Exception as e:  # noqa: BLE001 - lancedb's and pyarrow's errors on a damaged folder vary
            raise unreadable(self.uri, e) from None
        return self

    def create(self, meta: dict) -> None:
        """Make the empty tables for a new index."""
        import pyarrow as pa

        schemas = _schemas(meta["levels"], meta["dims"], meta["patch_levels"], meta["window_steps"])
        for name, schema in schemas.items():
            if name != "meta":
                self._tables[name] = self.db.create_table(name, schema=schema, mode="overwrite")
        rows = [{"key": k, "value": json.dumps(v)} for k, v in meta.items()]
        self._tables["meta"] = self.db.create_table("meta", data=pa.Table.from_pylist(rows, schemas["meta"]),
                                                    mode="overwrite")
        self._meta = dict(meta)

    def set_meta(self, **values: Any) -> None:
        """Update some meta entries."""
        t = self.table("meta")
        for k, v in values.items():
            t.delete(f"key = '{k}'")
        import pyarrow as pa

        t.add(pa.Table.from_pylist([{"key": k, "value": json.dumps(v)} for k, v in values.items()],
                                   t.schema))
        self._meta = None

    # ------------------------------------------------------------ reading

    def _all_pieces(self):
        return self.table("pieces").search().limit(None).to_pandas()

    def windows(self, columns: Optional[Sequence[str]] = None, where: Optional[str] = None):
        """Window rows (default: every column but the embeddings and error profiles) as a DataFrame."""
        q = self.table("windows").search().select(list(columns or WINDOW_COLUMNS))
        if where:
            q = q.where(where)
        return q.limit(None).to_pandas()

    def column(self, name: str, table: str = "windows", where: Optional[str] = None) -> np.ndarray:
        """One column as numpy; a vector column as a 2-D array (rows in the table's scan order)."""
        q = self.table(table).search().select([name])
        if where:
            q = q.where(where)
        col = q.limit(None).to_arrow().column(name).combine_chunks()
        import pyarrow as pa

        if pa.types.is_fixed_size_list(col.type):
            return col.values.to_numpy(zero_copy_only=False).reshape(len(col), col.type.list_size)
        return col.to_numpy(zero_copy_only=False)

    def count(self, table: str = "windows") -> int:
        """Rows in a table."""
        return int(self.table(table).count_rows())

    # ------------------------------------------------------------ writing

    def add(self, name: str, data: "pa.Table") -> None:
        """Append rows (one atomic commit)."""
        if data.num_rows:
            self.table(name).add(data)

    def remove(self, ids: Sequence[int]) -> None:
        """Delete pieces and everything under them (windows first, the piece row last)."""
        for chunk in _chunks(list(ids), 500):
            cond = _in_list("piece_id", chunk)
            for name in ["windows", *[f"patches_{k}" for k in self.patch_levels], "pieces"]:
                self.table(name).delete(cond)

    def drop_orphans(self) -> int:
        """Delete windows and patches whose piece row never got committed (an interrupted run); how many pieces
        they were of."""
        done = set(self.column("piece_id", "pieces").tolist())
        pieces: set[int] = set()
        for name in ["windows", *[f"patches_{k}" for k in self.patch_levels]]:
            have = set(np.unique(self.column("piece_id", name)).tolist())
            orphans = sorted(have - done)
            for chunk in _chunks(orphans, 500):
                self.table(name).delete(_in_list("piece_id", chunk))
            pieces.update(orphans)
        return len(pieces)

    def vector_columns(self) -> list[tuple[str, str]]:
        """(table, column) of every searchable vector column."""
        return ([("windows", f"emb_{k}") for k in range(self.levels)]
                + [(f"patches_{k}", "vector") for k in self.patch_levels])

    def ann_ready(self, table: str, column: str) -> bool:
        """Has this column an IVF index?"""
        try:
            return any(column in ix.columns for ix in self.table(table).list_indices())
        except Exception:  # noqa: BLE001
            return False

    def build_ann(self, min_rows: int = ANN_MIN_ROWS, columns: Optional[Sequence[tuple[str, str]]] = None,
                  log: Callable[[str], None] = lambda s: None) -> list[str]:
        """An IVF index on every vector column with more than min_rows rows (replacing an older one)."""
        built = []
        for table, column in columns or self.vector_columns():
            n = self.count(table)
            if n <= min_rows:
                continue
            dim = self.table(table).schema.field(column).type.list_size
            parts = int(max(16, min(4096, round(np.sqrt(n) / 2))))  # see IVF_PARTITIONS_NOTE
            t0 = time.time()
            failed = ivf_index(self.table(table), column, parts)
            if failed:
                log(f"No IVF index on {table}.{column} ({n:,} vectors of {dim}): {failed} Its searches scan "
                    "every row.")
                continue
            built.append(f"{table}.{column}")
            log(f"IVF index on {table}.{column} ({n:,} vectors of {dim}, {parts} partitions): "
                f"{time.time() - t0:.1f} s")
        return built

    def compact(self) -> None:
        """Merge small fragments, bring indices up to date and drop old versions (the folder stays small)."""
        import datetime

        for name in self.table_names():
            try:
                with warnings.catch_warnings():  # "removes every version but the latest": meant, at the end of a run
                    warnings.simplefilter("ignore")
                    self.table(name).optimize(cleanup_older_than=datetime.timedelta(seconds=0),
                                              delete_unverified=True)
            except Exception:  # noqa: BLE001 - compaction is housekeeping; the data is already committed
                pass

    # ------------------------------------------------------------ searching

    def require_patches(self, level: int) -> None:
        """Raise ValueError (one sentence) unless the index stores level `level`'s patch embeddings."""
        if level not in self.patch_levels:
            have = f"levels {', '.join(map(str, self.patch_levels))}" if self.patch_levels else "no level's"
            raise ValueError(f"Level {level}'s patch embeddings are not in this index (it stores {have}); rebuild "
                             f"with --patch-levels.")

    def nearest(self, vector: np.ndarray, level: int, k: int = 10, patch: bool = False, exact: Optional[bool] = None,
                nprobes: int = 32, where: Optional[str] = None) -> list[dict]:
        """The k rows nearest to `vector` by cosine at `level` (pooled windows, or patches with patch=True).

        Exact (a flat scan) when the column has no IVF index or exact=True; else the index with `nprobes`
        partitions and the candidates re-ranked on full vectors. Rows: piece_id, window, [patch], similarity.
        """
        return self.nearest_each([vector], level, k, patch, exact, nprobes, where)[0]

    def nearest_each(self, vectors: Sequence[np.ndarray], level: int, k: int = 10, patch: bool = False,
                     exact: Optional[bool] = None, nprobes: int = 32, where: Optional[str] = None
                     ) -> list[list[dict]]:
        """`nearest` for each of `vectors`, in one query of the store (one scan for all: the 25 transpositions of
        a transposition-invariant search took 9 times as long one by one)."""
        table, column = (f"patches_{level}", "vector") if patch else ("windows", f"emb_{level}")
        if patch:
            self.require_patches(level)
        vectors = [np.asarray(v, np.float32) for v in vectors]
        cols = ["piece_id", "window"] + (["patch"] if patch else [])
        q = self.table(table).search(vectors if len(vectors) > 1 else vectors[0], vector_column_name=column)
        q = q.distance_type("cosine").select(cols).limit(k)
        if where:
            q = q.where(where, prefilter=True)
        if exact is True or (exact is None and not self.ann_ready(table, column)):
            q = q.bypass_vector_index()
        else:
            q = q.nprobes(nprobes).refine_factor(4)
        out: list[list[dict]] = [[] for _ in vectors]
        for r in q.to_arrow().to_pylist():
            r["similarity"] = 1.0 - float(r.pop("_distance"))
            out[int(r.pop("query_index", 0))].append(r)
        return out


# ---------------------------------------------------------------- encoding


def pool_levels(levels) -> list["torch.Tensor"]:
    """Each level's embedding averaged over its non-empty patches (over all patches for an empty window)."""
    import torch

    out = []
    for lv in levels:
        ne = lv.non_empty.to(lv.emb.dtype).unsqueeze(-1)
        n = ne.sum(1)
        out.append(torch.where(n > 0, (lv.emb * ne).sum(1) / n.clamp(min=1), lv.emb.mean(1)))
    return out


_LEVEL_TYPE: list = []


def _static_level_type():
    """A PatchState whose grid is a constant set on it (one class for the process: a compiled graph guards on it)."""
    if not _LEVEL_TYPE:
        from .core import PatchState

        class StaticGridLevel(PatchState):
            @property
            def grid(self) -> tuple[int, int]:
                return self._grid

        _LEVEL_TYPE.append(StaticGridLevel)
    return _LEVEL_TYPE[0]


def _static_grids(out, grids: Sequence[tuple[int, int]]):
    """The encoder's output with each level's grid given as constants: `PatchState.grid` reads it from a tensor
    (`int(pos.max())`), which would cut a compiled graph at every decoder level."""
    from .core import EncoderOutput, HierarchicalPatchState

    level_type = _static_level_type()
    levels = []
    for lv, g in zip(out.patches.levels, grids):
        s = level_type(lv.emb, lv.pos, lv.non_empty, lv.mae_mask)
        s._grid = (int(g[0]), int(g[1]))
        levels.append(s)
    return EncoderOutput(HierarchicalPatchState(levels), out.full_pos, out.full_non_empty, out.mae_mask)


class WindowEncoder:
    """Batches of windows -> every per-window number the index stores, eager or compiled ahead of time.

    One function does the whole step (encode, pool, and with a decoder: reconstruct unmasked and under the
    given masks, count errors) so that the compiler fuses all of it. Compiled, it is exported (`torch.export`)
    and built by AOTInductor into a package for one batch size (short batches are padded), saved per checkpoint
    under the cache folder (`MIDI_RAE_CACHE`, default ~/.cache/midi-rae): a later run loads it in milliseconds.
    """

    def __init__(self, bundle, patch_levels: Sequence[int], threshold: float, batch_size: int = BATCH,
                 compile: bool = False, cache_key: str = ""):
        import torch

        from .analysis import patch_mask_to_pixels, window_counts

        self.bundle, self.batch = bundle, int(batch_size)
        self.patch_levels = list(patch_levels)
        self.threshold = float(threshold)
        enc = bundle.encoder.eval()
        if bundle.decoder is not None:
            bundle.decoder.eval()
        self.device = next(enc.parameters()).device
        grid, patch = enc.grid_size, (enc.patch_h, enc.patch_w)
        has_dec = bundle.decoder is not None
        thr = self.threshold
        plevels = self.patch_levels
        grids = bundle.model_config.level_grids

        def encode(x, mask):  # one graph for both passes: an all-visible mask leaves the embeddings as unmasked
            return enc(x, mae_mask=mask)

        def decode(out):
            return bundle.reconstruct(_static_grids(out, grids))

        def step(x, mask):
            out = encode(x, torch.ones_like(mask))
            levels = out.patches.levels
            res = {"pooled": pool_levels(levels), "patch": [levels[k].emb for k in plevels],
                   "ne": [levels[k].non_empty for k in plevels]}
            if has_dec:
                target = x > 0.5
                pred = torch.sigmoid(decode(out).float()) > thr
                res["plain"] = window_counts(pred, target)
                pm = torch.sigmoid(decode(encode(x, mask)).float()) > thr
                hidden = ~patch_mask_to_pixels(mask, grid, patch)
                res["masked"] = window_counts(pm, target, hidden)
                err = (pm ^ target) & hidden
                on = target & hidden
                res["err_pitch"], res["err_step"] = err.sum(3)[:, 0], err.sum(2)[:, 0]
                res["on_pitch"], res["on_step"] = on.sum(3)[:, 0], on.sum(2)[:, 0]
            return res

        self._step = step
        self._runner = None  # the compiled step, once built or loaded
        self.compiled = False
        self.compile_seconds = 0.0
        # the package holds this step only: with or without the decoder, these patch levels, this threshold
        self.package = package_path(step_key(cache_key, has_dec, plevels, thr), self.batch) if cache_key else None
        if compile:
            self.compile()

    @property
    def cached(self) -> bool:
        """Is this step's package already built (a later compile() only loads it)?"""
        return self.package is not None and self.package.is_file()

    def compile(self) -> None:
        """The whole step for this batch size as an AOTInductor package: built once per checkpoint (~100 s here),
        then loaded from the cache folder.

        Measured against `torch.compile` of the encoder and decoder, whose cached graphs still took ~10 s to load
        each run (Dynamo traces the model again): the package loads in 0.01-0.02 s and runs as fast (488-529
        against 455-500 windows/s, real windows, batch 32, two threads).
        """
        import tempfile

        import torch

        t0 = time.time()
        pkg = self.package
        if pkg is not None and pkg.is_file():
            try:
                self._runner, self.compiled = load_compiled(str(pkg)), True
                self.compile_seconds = time.time() - t0
                return
            except Exception:  # noqa: BLE001 - a damaged package: built anew below
                pkg.unlink(missing_ok=True)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                built = self._build_package(Path(tmp) / "step.pt2")
                if pkg is not None:  # written whole, then moved: a run stopped mid-write leaves no package
                    pkg.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(built, pkg)
                    built = pkg
                self._runner = load_compiled(str(built))
            self.compiled = True
        except Exception as e:  # noqa: BLE001 - no compiler toolchain etc.: eager still works
            print(f"note: ahead-of-time compilation unavailable ({type(e).__name__}: {str(e)[:120]}); "
                  "encoding eagerly.", file=sys.stderr)
            self._runner, self.compiled = None, False
        self.compile_seconds = time.time() - t0

    def _build_package(self, out: Path) -> Path:
        """Export the step (the models' weights as its parameters) and compile it into the package `out`."""
        import torch

        x = torch.zeros(self.batch, 1, *self._shape(), device=self.device)
        mask = torch.ones(self.batch, self._n_finest(), dtype=torch.bool, device=self.device)
        return aoti_package(self._step, {"encoder": self.bundle.encoder, "decoder": self.bundle.decoder}, (x, mask),
                            out)

    def _shape(self) -> tuple[int, int]:
        enc = self.bundle.encoder
        return enc.grid_size[0] * enc.patch_h, enc.grid_size[1] * enc.patch_w

    def _n_finest(self) -> int:
        g = self.bundle.encoder.grid_size
        return g[0] * g[1]

    def masks(self, x: "torch.Tensor") -> "torch.Tensor":
        """Each window's own reproducible mask: the one the piece page draws for it at ratio 0.5, seed 0."""
        from .inference import MaskSettings, each_window_masks

        s = MaskSettings(F1_MASK_RATIO, float(self.bundle.config.get("empty_mask_ratio", 0.05)), F1_SEED)
        return each_window_masks(self.bundle.encoder, x, s)

    def __call__(self, x: "torch.Tensor", use_compiled: bool = True) -> dict[str, Any]:
        """Encode windows x (n, 1, H, W) float; returns numpy arrays (n first) per key."""
        import torch

        n = len(x)
        mask = self.masks(x) if self.bundle.decoder is not None else torch.ones(n, self._n_finest(), dtype=torch.bool)
        compiled = self._runner if use_compiled else None
        if compiled is not None and n < self.batch:  # the compiled step has one batch size
            pad = self.batch - n
            x = torch.cat([x, x.new_zeros(pad, *x.shape[1:])])
            mask = torch.cat([mask, mask.new_ones(pad, mask.shape[1])])
        with torch.inference_mode():
            x, mask = x.to(self.device), mask.to(self.device)
            r = (compiled if compiled is not None else self._step)(x, mask)
        out: dict[str, Any] = {}
        for key, v in r.items():
            if isinstance(v, list):
                out[key] = [t[:n].float().cpu().numpy() if t.is_floating_point() else t[:n].cpu().numpy() for t in v]
            else:
                out[key] = v[:n].cpu().numpy()
        return out


def _forkserver():
    import multiprocessing as mp

    return mp.get_context("forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn")


def _pack_windows(x: "torch.Tensor") -> tuple:
    """Windows for another process: 0/1 rolls as bits (64 KB a batch instead of 2 MB), anything else as floats."""
    a = x.numpy()
    if ((a == 0) | (a == 1)).all():
        return "bits", a.shape, np.packbits(a.astype(bool))
    return "f32", a.shape, a


def _unpack_windows(packed: tuple) -> "torch.Tensor":
    import torch

    kind, shape, data = packed
    if kind == "bits":
        data = np.unpackbits(data, count=int(np.prod(shape))).reshape(shape)
    return torch.from_numpy(np.ascontiguousarray(data, dtype=np.float32))


_worker_encoder: Optional["WindowEncoder"] = None


def _encoder_worker_init(parent: int, bundle: bytes, patch_levels: list[int], threshold: float, batch: int,
                         key: str, compiled: bool) -> None:
    """Encoder worker: one torch thread, the same step as the indexing process (its compiled package loaded from
    the cache, where that process built or found it). `bundle` is the model pickled by that process."""
    global _worker_encoder
    import pickle

    from . import threads

    watch_parent(parent)
    threads.configure(1)
    _worker_encoder = WindowEncoder(pickle.loads(bundle), patch_levels, threshold, batch, cache_key=key)
    if compiled:
        _worker_encoder.compile()


def _encode_job(packed: tuple) -> tuple[float, dict[str, Any]]:
    """(seconds the step took in this worker, its results)."""
    t0 = time.perf_counter()
    out = _worker_encoder(_unpack_windows(packed))
    return time.perf_counter() - t0, out


class EncoderPool:
    """The index step in `n` worker processes of one torch thread each, batches in flight at once.

    On this project's 2-core machine one process of two threads lost a third of its speed whenever the parsing
    process took a core (its threads wait for each other at every parallel region); processes of one thread
    never wait for each other."""

    def __init__(self, encoder: WindowEncoder, n: int, cache_key: str):
        import pickle

        self.n = n
        # pickled here, whole: the process pool's own pickler would send each weight as a shared-memory handle,
        # more than a fork server passes at once
        model = pickle.dumps(encoder.bundle)
        self._ex = ProcessPoolExecutor(
            n, mp_context=_forkserver(), initializer=_encoder_worker_init,
            initargs=(os.getpid(), model, encoder.patch_levels, encoder.threshold, encoder.batch, cache_key,
                      encoder.compiled))

    def submit(self, x: "torch.Tensor"):
        """A future of the step's numpy results for windows x."""
        return _submit(self._ex, _encode_job, _pack_windows(x))

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)


def load_compiled(package: str | Path):
    """An AOTInductor package, loaded. The loader unpacks the package's native code into a folder under TMPDIR that
    it removes only when the process ends normally (each encoder process left ~15 MB in /tmp); here it unpacks
    into a folder of its own, removed once loaded (the code stays mapped). torch's note that this machine has no
    CUDA, printed by every process that loads one, is left out."""
    import shutil
    import tempfile

    import torch

    _no_cuda_note()
    folder = tempfile.mkdtemp(prefix="midi-rae-aoti-")
    before = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = folder
    try:
        return torch._inductor.aoti_load_package(str(package))
    finally:
        if before is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = before
        shutil.rmtree(folder, ignore_errors=True)


def aoti_package(fn, models: dict[str, Any], args: tuple, out: Path) -> Path:
    """fn(*args) exported (`torch.export`, the models' weights as the program's parameters) and compiled by
    AOTInductor into the package file `out`."""
    import torch

    class Program(torch.nn.Module):
        def __init__(self):
            super().__init__()
            for name, model in models.items():
                setattr(self, name, model)

        def forward(self, *a):
            return fn(*a)

    _no_cuda_note()
    program = torch.export.export(Program().eval(), args, strict=False)
    return Path(torch._inductor.aoti_compile_and_package(program, package_path=str(out)))


def _no_cuda_note() -> None:
    """Leave out torch's note that this machine has no CUDA, which building or loading a package prints."""
    import logging

    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)


def step_key(cache_key: str, reconstruction: bool, patch_levels: Sequence[int], threshold: float) -> str:
    """Which compiled step a package holds: the checkpoint's key, whether the decoder runs (F1 stored), the levels
    whose patch embeddings are stored and the binarization threshold, all of which are built into the graph."""
    levels = ".".join(str(int(k)) for k in patch_levels) or "none"
    return f"{cache_key}-{'f1' if reconstruction else 'enc'}-p{levels}-t{float(threshold):g}"


def package_path(cache_key: str, batch: int) -> Path:
    """Where the compiled step of a checkpoint (by its key) for one batch size is kept; a package holds native code
    built for one torch release, so the release is in its name."""
    import torch

    return cache_dir() / "compiled" / f"{cache_key}-b{batch}-torch{torch.__version__.replace('+', '_')}.pt2"


# ---------------------------------------------------------------- building


@dataclass
class BuildReport:
    """What an index run did."""

    out: str
    files: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    windows: int = 0
    encoded: int = 0  # windows put through the model: a window identical to an earlier one of its piece reuses its
    seconds: float = 0.0
    encode_seconds: float = 0.0
    compile_seconds: float = 0.0
    compiled: bool = False
    encoders: int = 1  # processes that ran the step
    ann: list[str] = field(default_factory=list)
    interrupted: bool = False
    kept: int = 0  # pieces of an interrupted run that were stored (a rerun skips them)
    unrecorded: bool = False  # interrupted after its last commit, before the update was recorded (a rerun records it)

    def as_dict(self) -> dict:
        """JSON-ready."""
        d = dict(self.__dict__)
        d["failed"] = [{"path": p, "error": e} for p, e in self.failed]
        d["windows_per_s"] = round(self.windows / self.encode_seconds, 1) if self.encode_seconds else None
        return d


@dataclass
class _Pending:
    """A parsed piece whose windows are being encoded."""

    row: dict
    x: "torch.Tensor"             # the windows to encode: each distinct window of the piece once
    starts: np.ndarray
    stats: dict
    results: list = field(default_factory=list)  # (offset of the first window, that batch's slice of results)
    done: int = 0
    inverse: Optional[np.ndarray] = None  # window i's results are row inverse[i] of x's (None: x is every window)


def distinct_windows(images: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(first, inverse): the first window of each distinct image, and each window's row in `first`.

    A piece's repeats (written-out sections, empty bars) give identical windows, and a window's every stored
    number depends on its image alone (its F1 mask too), so each is encoded once: 15 % of the music21 corpus's
    windows repeat an earlier one of their piece."""
    row_of: dict[bytes, int] = {}
    first: list[int] = []
    inverse = np.empty(len(images), np.int64)
    for i, key in enumerate(images):
        j = row_of.setdefault(key, len(first))
        if j == len(first):
            first.append(i)
        inverse[i] = j
    return np.asarray(first, np.int64), inverse


def checkpoint_key(bundle, checkpoint: Optional[str | bytes], decoder: Optional[str | bytes]) -> str:
    """A short content hash of the checkpoint (and decoder) files: which model built an index."""
    from .checkpoint_meta import DEFAULT_CHECKPOINT

    h = hashlib.sha1()
    for src in (checkpoint if checkpoint is not None else DEFAULT_CHECKPOINT, decoder):
        if src is None:
            continue
        h.update(src if isinstance(src, (bytes, bytearray)) else Path(src).read_bytes())
    return h.hexdigest()[:16]


def checkpoint_label(src: str | Path | bytes | None, default: Optional[str] = "shipped default") -> Optional[str]:
    """How an index names a checkpoint file: its absolute path, so that a search run from elsewhere finds it."""
    if src is None:
        return default
    if isinstance(src, (bytes, bytearray)):
        return "an uploaded checkpoint"
    return str(Path(src).resolve())


def own_checkpoint(meta: dict) -> tuple[Optional[str], Optional[str]]:
    """(checkpoint, decoder) files the index names, where they are still there; else a shipped checkpoint of the same
    content (an index built with a copy of one, since deleted); (None, None): the shipped default."""
    from .checkpoint_meta import ASSETS

    ckpt, dec = (str(meta.get(k) or "") for k in ("checkpoint", "decoder"))
    if Path(ckpt).is_file():
        return ckpt, dec if Path(dec).is_file() else None
    want = meta.get("checkpoint_key")
    for shipped in sorted(Path(ASSETS).glob("*.safetensors")):
        if want and checkpoint_key(None, str(shipped), None) == want:
            return str(shipped), None
    return None, None


def _meta_for(bundle, ckpt_key: str, label: str, patch_levels: Sequence[int], spb: int,
              decoder: Optional[str] = None, f1_skipped: bool = False, flip_png: bool = False,
              sustain_pedal: bool = False) -> dict:
    cfg = bundle.model_config
    from .inference import stored_threshold

    return {"format": INDEX_FORMAT, "checkpoint_key": ckpt_key, "checkpoint": label, "decoder": decoder,
            "config": bundle.config,
            "levels": cfg.num_levels, "dims": list(cfg.level_dims), "grids": [list(g) for g in cfg.level_grids],
            "patch_levels": list(patch_levels), "steps_per_beat": spb, "window_steps": cfg.window_steps,
            "has_decoder": bundle.decoder is not None, "threshold": stored_threshold(bundle),
            "f1_mask_ratio": F1_MASK_RATIO, "f1_seed": F1_SEED, "f1_skipped": f1_skipped, "flip_png": flip_png,
            "sustain_pedal": sustain_pedal, "created": time.time()}


def _check_patch_levels(levels: Sequence[int], cfg) -> None:
    """ValueError in one sentence for --patch-levels outside the model's levels."""
    bad = [k for k in levels if not 0 <= k < cfg.num_levels]
    if bad:
        raise ValueError(f"--patch-levels {' '.join(map(str, bad))} is outside this model's levels "
                         f"0..{cfg.num_levels - 1}.")


def default_patch_levels(cfg, patch_max: int = PATCH_MAX) -> list[int]:
    """Levels (other than the 1x1 one, whose patch is its pooled embedding) of at most patch_max patches."""
    return [k for k, (r, c) in enumerate(cfg.level_grids) if 1 < r * c <= patch_max]


def _window_stats(x: "torch.Tensor", onsets: np.ndarray, starts: np.ndarray, width: int, steps_per_beat: int,
                  steps: int) -> dict:
    img = x[:, 0].numpy() > 0.5  # (W, 128, width)
    rows_on = img.any(2)
    lo = np.where(rows_on.any(1), rows_on.argmax(1), -1)
    hi = np.where(rows_on.any(1), 127 - rows_on[:, ::-1].argmax(1), -1)
    cum = np.concatenate([[0], np.cumsum(onsets.sum(0))])
    ends = np.minimum(starts + width, len(cum) - 1)
    notes = cum[ends] - cum[np.minimum(starts, len(cum) - 1)]
    beats = width / steps_per_beat
    return {"notes": notes.astype(np.int32), "density": (notes / beats).astype(np.float32),
            "pitch_lo": lo.astype(np.int16), "pitch_hi": hi.astype(np.int16),
            "position": (starts / max(steps, 1)).astype(np.float32),
            "image": [zlib.compress(np.packbits(im).tobytes(), 6) for im in img]}


def _relative(path: str, out: str) -> Optional[str]:
    """path relative to the index folder's parent, when the index is a local folder."""
    if "://" in str(out):
        return None
    try:
        return os.path.relpath(path, Path(out).resolve().parent)
    except ValueError:
        return None


def _piece_row(pid: int, path: str, collection: str, h: str, roll=None, error: Optional[str] = None,
               out: str = "") -> dict:
    row = {"piece_id": pid, "path": path, "rel": _relative(path, out), "collection": collection,
           "name": Path(path).stem, "hash": h,
           "kind": "png" if (from_png(roll) if roll is not None else png_path(path)) else "midi", "error": error,
           "duration_s": None, "tempo_bpm": None, "metre": None, "steps_per_beat": None, "steps_per_bar": None,
           "steps": None, "bars": None, "notes": None, "windows": 0, "hop": None, "pitch_lo": None, "pitch_hi": None,
           "f1": None, "f1_masked": None, "added": time.time(), "pedal_presses": None}
    if roll is not None:
        lo, hi = roll.pitch_range()
        row.update(name=roll.name, duration_s=roll.duration_s, tempo_bpm=roll.tempo_bpm,
                   metre=f"{roll.time_signature[0]}/{roll.time_signature[1]}", steps_per_beat=roll.steps_per_beat,
                   steps_per_bar=roll.steps_per_bar, steps=roll.steps, bars=roll.bars, notes=roll.n_notes,
                   pitch_lo=lo, pitch_hi=hi, pedal_presses=int(roll.pedal_presses))
    return row


def prepare_piece(parsed: dict, collection: str, width: int, out: str) -> _Pending:
    """A parsed file (from _parse_job) cut into windows by the one rule, with its piece row and window stats."""
    from .inference import piece_windows

    roll = parsed["roll"]
    x, starts, hop = piece_windows(roll, width)
    row = _piece_row(piece_id(parsed["path"]), parsed["path"], collection, parsed["hash"], roll, out=out)
    row["hop"] = int(hop)
    stats = _window_stats(x, roll.onsets, starts, width, roll.steps_per_beat, roll.steps)
    first, inverse = distinct_windows(stats["image"])  # the packed images: equal bytes, equal windows
    if len(first) == len(x):
        return _Pending(row, x, starts, stats)
    import torch

    return _Pending(row, x[torch.as_tensor(first)], starts, stats, inverse=inverse)


def failed_row(parsed: dict, collection: str, out: str) -> dict:
    """The piece row of a file that could not be read (it keeps its sentence, and is skipped while unchanged)."""
    path = parsed["path"]
    return _piece_row(piece_id(path), path, collection, parsed.get("hash", ""), error=parsed["error"], out=out)


class _Writer:
    """Buffers finished pieces and commits them: windows and patches first, the piece rows last."""

    def __init__(self, index: CorpusIndex, levels: int, patch_levels: Sequence[int], has_decoder: bool):
        self.index, self.levels, self.patch_levels, self.has_decoder = index, levels, list(patch_levels), has_decoder
        self.pieces: list[dict] = []
        self.win: list[dict] = []
        self.n_windows = 0
        self.committed = 0  # piece rows committed by this writer
        self.flushing = False

    def piece(self, row: dict, p: Optional[_Pending] = None) -> None:
        if p is not None:
            parts = [res for _, res in sorted(p.results, key=lambda t: t[0])]  # batches may finish out of order
            r = {k: np.concatenate([res[k] for res in parts]) if not isinstance(parts[0][k], list)
                 else [np.concatenate([res[k][i] for res in parts]) for i in range(len(parts[0][k]))]
                 for k in parts[0]}
            if p.inverse is not None:  # a repeated window takes the results of its first copy
                r = {k: [a[p.inverse] for a in v] if isinstance(v, list) else v[p.inverse] for k, v in r.items()}
            n = len(p.starts)
            spbar = max(int(row["steps_per_bar"]), 1)
            w = {"piece_id": np.full(n, row["piece_id"], np.int64), "window": np.arange(n, dtype=np.int32),
                 "start_step": p.starts.astype(np.int32),
                 "start_bar": (p.starts / spbar + 1).astype(np.float32), **p.stats, "r": r}
            if self.has_decoder:
                f1, f1m = f1_per_row(r["plain"]), f1_per_row(r["masked"])
                w["f1"], w["f1_masked"] = f1.astype(np.float32), f1m.astype(np.float32)
                row["f1"] = float(np.nanmean(f1)) if np.isfinite(f1).any() else None
                row["f1_masked"] = float(np.nanmean(f1m)) if np.isfinite(f1m).any() else None
            row["windows"] = n
            self.win.append(w)
            self.n_windows += n
        self.pieces.append(row)

    def flush(self) -> None:
        import pyarrow as pa

        self.flushing = True
        idx = self.index
        if self.win:
            schema = idx.table("windows").schema
            cat = lambda k: np.concatenate([w[k] for w in self.win])  # noqa: E731
            n = sum(len(w["window"]) for w in self.win)
            cols: dict[str, Any] = {k: cat(k) for k in ("piece_id", "window", "start_step", "start_bar", "notes",
                                                           "density", "pitch_lo", "pitch_hi", "position")}
            nan = np.full(n, np.nan, np.float32)
            cols["f1"] = cat("f1") if self.has_decoder else nan
            cols["f1_masked"] = cat("f1_masked") if self.has_decoder else nan
            arrays = [pa.array(cols[f.name], type=f.type) for f in schema if f.name in cols]
            names = [f.name for f in schema if f.name in cols]
            for key in ("err_pitch", "on_pitch", "err_step", "on_step"):
                names.append(key)
                if self.has_decoder:
                    v = np.concatenate([w["r"][key] for w in self.win]).clip(0, 255).astype(np.uint8)
                    arrays.append(_fixed(v, pa.uint8()))
                else:
                    arrays.append(pa.nulls(n, schema.field(key).type))
            names.append("image")
            arrays.append(pa.array([bytes(b) for w in self.win for b in w["image"]], pa.binary()))
            for k in range(self.levels):
                names.append(f"emb_{k}")
                arrays.append(_fixed(np.concatenate([w["r"]["pooled"][k] for w in self.win]).astype(np.float32),
                                     pa.float32()))
            idx.add("windows", pa.Table.from_arrays(arrays, names=names).select(schema.names).cast(schema))
            for i, k in enumerate(self.patch_levels):
                emb = np.concatenate([w["r"]["patch"][i] for w in self.win])   # (n, N, D)
                ne = np.concatenate([w["r"]["ne"][i] for w in self.win])       # (n, N)
                wi, pi = np.nonzero(ne)
                pid = cols["piece_id"][wi]
                t = pa.table({"piece_id": pa.array(pid, pa.int64()),
                              "window": pa.array(cols["window"][wi], pa.int32()),
                              "patch": pa.array(pi.astype(np.int16), pa.int16()),
                              "vector": _fixed(emb[wi, pi].astype(np.float16), pa.float16())})
                idx.add(f"patches_{k}", t)
        if self.pieces:
            schema = idx.table("pieces").schema
            idx.add("pieces", pa.Table.from_pylist(self.pieces, schema))
        self.committed += len(self.pieces)
        self.pieces, self.win, self.n_windows = [], [], 0
        self.flushing = False


def _submit(ex: ProcessPoolExecutor, fn, *args):
    """ex.submit, where a pool whose processes were killed (the fork server among them) is a BrokenProcessPool
    whichever way it shows: the pool may not have noticed yet, and starting a replacement worker through the dead
    fork server fails with ConnectionRefusedError."""
    try:
        return ex.submit(fn, *args)
    except OSError as e:
        raise BrokenProcessPool(f"a worker could not be started ({e})") from e


def _parsed(jobs: list[tuple], workers: int) -> Iterator[dict]:
    """Parse files in `workers` processes (at most a few files ahead of the encoder, which runs meanwhile in this
    process), yielding each as it finishes; workers=0 parses here, in turn with the encoding."""
    if workers <= 0 or len(jobs) <= 1:
        for j in jobs:
            yield _parse_job(j)
        return
    with ProcessPoolExecutor(workers, mp_context=_forkserver(), initializer=watch_parent,
                             initargs=(os.getpid(),)) as ex:
        it = iter(jobs)
        running = set()
        for j in it:
            running.add(_submit(ex, _parse_job, j))
            if len(running) >= workers * 4:
                break
        while running:
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for f in done:
                nxt = next(it, None)
                if nxt is not None:
                    running.add(_submit(ex, _parse_job, nxt))
                yield f.result()


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc="index", unit="piece", file=sys.stderr, dynamic_ncols=True)


@dataclass
class Plan:
    """What an update will do: files to encode, piece ids to remove, and how many are unchanged."""

    todo: list[tuple[Path, str]]      # (path, collection)
    remove: list[int]
    unchanged: int
    replacing: set[str] = field(default_factory=set)  # paths of todo that replace a piece of the index
    still_failing: list[tuple[str, str]] = field(default_factory=list)  # unchanged files that could not be read

    @property
    def updated(self) -> int:
        """Files of todo that replace a piece of the index."""
        return len(self.replacing)


def _file_hash(path: Path, limit: int = MAX_MIDI_BYTES) -> Optional[str]:
    """The content hash of a file no larger than `limit` (read no further), else None: its parse job says why."""
    from .file_limits import read_within

    if not path.is_file():  # a pipe named x.mid: opening it would wait for a writer
        return None
    try:
        raw = read_within(path, limit)
    except OSError:
        return None
    return content_hash(raw) if raw is not None else None


class IndexBusy(ValueError):
    """Another run is writing to the index folder."""


@contextmanager
def index_lock(out: str | Path, wait_s: float = 0.0, callback: Optional[Callable[[int, int, str], None]] = None):
    """Hold the index folder's lock while a run writes to it: two runs at once would each add every piece (the store
    then holds them twice). Waits up to wait_s for another run to finish (telling `callback`), else IndexBusy."""
    from filelock import FileLock, Timeout

    if "://" in str(out):  # a remote store: no local lock to take
        yield
        return
    if os.path.lexists(out) and not Path(out).is_dir():
        raise ValueError(f"{out} is a file, not an index folder; choose another --out.")
    lock = FileLock(str(Path(out) / ".index.lock"))
    try:
        Path(out).mkdir(parents=True, exist_ok=True)
        lock.acquire(timeout=0)
    except Timeout:
        if wait_s <= 0:
            raise IndexBusy(f"Another run is writing to the index at {out}; wait for it to end (a second run then "
                            "only adds what changed), or choose another --out.") from None
        if callback is not None:
            callback(0, 0, "waiting for another build of these files to end")
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            raise IndexBusy(f"Another run has been writing to the index at {out} for over {wait_s:.0f} s; try again "
                            "once it has ended.") from None
    except OSError as e:  # (after Timeout, which is one) a folder that can be searched but not written
        if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        raise ValueError(f"{out} cannot be written to ({'read-only' if e.errno == errno.EROFS else 'no permission'}): "
                         "an index there can be searched but not updated; choose another --out.") from None
    try:
        yield
    finally:
        lock.release()


def plan_update(index: CorpusIndex, files: Sequence[Path], data: Optional[dict[str, bytes]] = None) -> Plan:
    """Compare the files' content hashes with the index: unchanged files are skipped, changed ones replaced,
    new ones added, and pieces whose files are gone removed. A piece this run does not name whose file is still
    there stays (`index new.mid --out IDX` adds a piece; a mistyped folder removes none); with `data` (files sent
    to a server) the index holds what was sent."""
    have = index.table("pieces").search().select(["piece_id", "path", "hash", "error"]).limit(None).to_arrow()
    by_path = {r["path"]: r for r in have.to_pylist()}
    todo, remove, unchanged, replacing, still_failing = [], [], 0, set(), []
    seen = set()
    for f in files:
        key = str(f)
        if not _storable(key):  # listed with the failures under a printable name, and not stored
            still_failing.append((printable(key), UNSTORABLE_NAME))
            continue
        seen.add(key)
        digest = content_hash(data[key]) if data and key in data else _file_hash(f)
        old = by_path.get(key)
        if old is not None and digest is not None and old["hash"] == digest:
            if old["error"] is not None:  # unchanged and still unreadable: listed again, not passed over
                still_failing.append((key, old["error"]))
            else:
                unchanged += 1
            continue
        if old is not None:
            remove.append(old["piece_id"])
            replacing.add(key)
        todo.append((f, f.parent.name))
    remove += [r["piece_id"] for p, r in by_path.items() if p not in seen and (data is not None or _gone(p))]
    return Plan(todo, remove, unchanged, replacing, still_failing)


UNSTORABLE_NAME = "The file's name is not UTF-8 text, which the index cannot store; rename the file to index it."


def _storable(path: str) -> bool:
    """Can the path be stored as text (a name of bytes that are not UTF-8 reaches Python as lone surrogates)?"""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def settle_counts(report: "BuildReport", plan: Plan) -> None:
    """A finished run's counts: of the files encoded, those that replaced a piece are updated and the rest added
    (a file that failed is neither); the unchanged files that still cannot be read are listed as failed again."""
    failed_now = {p for p, _ in report.failed}
    done = [str(f) for f, _ in plan.todo if str(f) not in failed_now]
    report.updated = sum(p in plan.replacing for p in done)
    report.added = len(done) - report.updated
    report.failed += plan.still_failing


def _keep_finished(writer: "_Writer") -> None:
    """Commit the pieces encoded whole since the last commit, for a run stopped by an error or by its caller (a rerun
    resumes after them); never from inside a commit, and never in place of the error that stopped the run."""
    if writer.flushing:
        return
    try:
        writer.flush()
    except Exception:  # noqa: BLE001 - the run's own error is the one to report
        pass


def _gone(path: str) -> bool:
    """Is the file an index lists no longer there (a readable file or not: a file that cannot be read now stays
    listed until a run names it)? Where its folder cannot be entered, it is not known to be gone, and stays."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:  # a folder this user may not enter (os.path.lexists says False there)
        return False
    return False


def check_update(meta: dict, out: str | Path, ckey: str, has_decoder: Optional[bool], flip_png: bool,
                 patch_levels: Optional[Sequence[int]] = None, sustain_pedal: bool = False,
                 has_png: Optional[bool] = None, has_pedal: Optional[bool] = True, label: Optional[str] = None) -> None:
    """ValueError in one sentence where a run would add windows unlike the index's own: another checkpoint (`label`:
    how this run names its checkpoint, to tell a file changed since from another file), F1
    stored or not (`has_decoder` None: not known yet), PNG rolls read the other way up (where the index holds any:
    `has_png`; None: not known yet, so not checked), the sustain pedal applied or not (where a piece of the index
    has pedal presses: `has_pedal`; None: not known, taken as yes), other patch levels asked for (`patch_levels`,
    as given; None: the index's own)."""
    if meta.get("checkpoint_key") != ckey:
        if label is not None and _same_file(label, meta.get("checkpoint")):
            raise ValueError(f"The index at {out} was built with an earlier version of {label}: the file has changed "
                             "since (a training run, for one, rewrites its best.safetensors as it improves); --rebuild "
                             "the index with this version, or choose another --out.")
        raise ValueError(f"The index at {out} was built with another checkpoint "
                         f"({meta.get('checkpoint')}); choose another --out, or --rebuild it with this one.")
    if has_decoder is not None and bool(meta.get("has_decoder")) != has_decoder:
        raise ValueError(f"The index at {out} stores reconstruction F1 and this run would add pieces without it; "
                         f"run without --no-reconstruction, or --rebuild it." if meta.get("has_decoder")
                         else f"The index at {out} was built without reconstruction F1; add --no-reconstruction "
                         f"to update it, or --rebuild it to score every piece.")
    if bool(meta.get("flip_png")) != flip_png and has_png:  # unchanged files are not read again: half would differ
        raise ValueError(f"The index at {out} read its PNG rolls {'with' if meta.get('flip_png') else 'without'}"
                         f" --flip-png; update it the same way, or --rebuild it.")
    if bool(meta.get("sustain_pedal")) != sustain_pedal and has_pedal is not False:  # pedal-free pieces read alike
        raise ValueError(f"The index at {out} read its MIDI files {'with' if meta.get('sustain_pedal') else 'without'}"
                         f" --sustain-pedal; update it the same way, or --rebuild it.")
    stored = sorted(int(k) for k in meta.get("patch_levels", []))
    if patch_levels is not None and sorted(set(int(k) for k in patch_levels)) != stored:
        have = f"levels {', '.join(map(str, stored))}" if stored else "no level"
        raise ValueError(f"The index at {out} stores the patch embeddings of {have}; an update cannot change "
                         f"them (its unchanged pieces are not encoded again): leave out --patch-levels, or --rebuild "
                         f"it with them.")


def _same_file(a, b) -> bool:
    """Do two checkpoint names (checkpoint_label's) name the same file? Only paths can: "shipped default" and "an
    uploaded checkpoint" name whatever file was used."""
    if not a or not b or not Path(str(a)).is_absolute() or not Path(str(b)).is_absolute():
        return False
    try:
        return Path(str(a)).resolve() == Path(str(b)).resolve()
    except OSError:
        return False


def checkpoint_of(out: str | Path) -> tuple[Optional[str], Optional[str]]:
    """The (checkpoint, decoder) an existing local index was built with, where its files are still there (as
    `search` defaults to them); (None, None) for a new index, or one built with the shipped default."""
    if "://" in str(out) or not CorpusIndex.exists(out):
        return None, None
    from .checkpoint_meta import DEFAULT_CHECKPOINT

    try:
        ckpt, dec = own_checkpoint(snapshot_meta(out) or CorpusIndex(out).meta)
    except Exception:  # noqa: BLE001 - an unreadable index: the update says why, in its own words
        return None, None
    same = ckpt is not None and os.path.realpath(ckpt) == os.path.realpath(DEFAULT_CHECKPOINT) and dec is None
    return (None, None) if same else (ckpt, dec)


def check_before_load(out: str | Path, checkpoint: Optional[str], decoder: Optional[str], rebuild: bool,
                      reconstruction: bool, flip_png: bool, patch_levels: Optional[Sequence[int]] = None,
                      sustain_pedal: bool = False) -> None:
    """The refusals an existing index makes that need no model (its checkpoint is known by the files' hash), made
    before torch and lancedb load (~5 s): the index's metadata from its snapshot where current. Files over the
    model limit are left to the loader's own sentence."""
    from .checkpoint_meta import DEFAULT_CHECKPOINT, max_model_bytes

    if rebuild or "://" in str(out) or not CorpusIndex.exists(out):
        return
    paths = [Path(p) for p in (checkpoint if checkpoint is not None else DEFAULT_CHECKPOINT, decoder) if p is not None]
    try:
        if any(not p.is_file() or p.stat().st_size > max_model_bytes() for p in paths):
            return
        ckey = checkpoint_key(None, checkpoint, decoder)
        meta = snapshot_meta(out) or CorpusIndex(out).meta
    except Exception:  # noqa: BLE001 - unreadable file or index: the full path below says why, in its own words
        return
    check_update(meta, out, ckey, None if reconstruction else False, flip_png, patch_levels, sustain_pedal,
                 has_pedal=pedalled(meta), label=checkpoint_label(checkpoint))


def open_for_update(out: str | Path, bundle, ckey: str, label: str, patch_levels: Sequence[int], spb: int,
                    rebuild: bool, files: Sequence[Path], data: Optional[dict[str, bytes]] = None,
                    log: Callable[[str], None] = print, decoder: Optional[str] = None,
                    f1_skipped: bool = False, flip_png: bool = False,
                    asked_levels: Optional[Sequence[int]] = None, sustain_pedal: bool = False
                    ) -> tuple[CorpusIndex, Plan]:
    """Open (or create) the index for an update: check it was built with this checkpoint and scores its windows as
    this run would, drop what an interrupted run left half-written, plan the update and remove the pieces it
    replaces or drops."""
    index = CorpusIndex(out)
    with reading(str(out)):  # lance on a damaged data file or a missing table: the index's one sentence
        if rebuild or not CorpusIndex.exists(out):
            index.create(_meta_for(bundle, ckey, label, patch_levels, spb, decoder, f1_skipped, flip_png,
                                   sustain_pedal))
        else:
            has_png = bool((index.column("kind", table="pieces") == "png").any())
            check_update(index.meta, out, ckey, bundle.decoder is not None, flip_png, asked_levels, sustain_pedal,
                         has_png, pedal_pieces(index) != 0, label=label)
            if bool(index.meta.get("flip_png")) != flip_png:  # no PNG read yet: the index reads them as asked now
                index.set_meta(flip_png=flip_png)
            if bool(index.meta.get("sustain_pedal")) != sustain_pedal:  # no pedal read yet: from now as asked
                index.set_meta(sustain_pedal=sustain_pedal)
        dropped = index.drop_orphans()
        if dropped:
            log(f"resuming: removed the partial windows of {dropped} interrupted piece(s).")
        plan = plan_update(index, files, data)
        index.remove(plan.remove)
    return index, plan


def pedal_pieces(index: CorpusIndex) -> Optional[int]:
    """How many of the index's pieces press the sustain pedal; None for an index that did not count them."""
    if "pedal_presses" not in index.table("pieces").schema.names:
        return None
    presses = index.column("pedal_presses", table="pieces")
    return int(sum(1 for v in presses if v is not None and v == v and v > 0))


def pedalled(meta: dict) -> Optional[bool]:
    """Whether an index holds a piece that presses the sustain pedal, from its metadata (None: not recorded)."""
    n = meta.get("pedal_pieces")
    return None if n is None else bool(n)


def recorded(index: CorpusIndex) -> bool:
    """Do the index's recorded counts match its tables? Not where a run was stopped after its last commit and
    before finish_update recorded it (compaction, the ANN indices and the page's snapshot not done either)."""
    return index.meta.get("pieces") == index.count("pieces") and index.meta.get("windows") == index.count("windows")


def finish_update(index: CorpusIndex, report: "BuildReport", ann_min_rows: int = ANN_MIN_ROWS,
                  log: Callable[[str], None] = print) -> None:
    """After the last commit: compact, build the ANN indices a large index needs, and record the update. Stopped
    before it is recorded (Ctrl-C), the report says so: every piece is committed, and the next run finishes it."""
    try:
        index.compact()
        report.ann = index.build_ann(ann_min_rows, log=log)
        index.set_meta(updated=time.time(), windows=index.count("windows"), pieces=index.count("pieces"),
                       pedal_pieces=pedal_pieces(index))
        if "://" not in index.uri:
            try:  # the page's lancedb-free snapshot; without it the page makes one on first open
                write_view(index)
            except OSError as e:
                log(f"note: the page's snapshot of the index could not be written ({e.strerror or e}).")
    except KeyboardInterrupt:  # each step commits atomically: what was done stays (see recorded)
        report.interrupted = report.unrecorded = True
        report.kept = report.added + report.updated


def build_index(sources: Sequence[str | Path], out: str | Path, checkpoint: Optional[str] = None,
                decoder: Optional[str] = None, *, bundle=None, jobs: Optional[int] = None, batch_size: int = BATCH,
                patch_levels: Optional[Sequence[int]] = None, patch_max: int = PATCH_MAX, flip_png: bool = False,
                compile: Optional[bool] = None, rebuild: bool = False, ann_min_rows: int = ANN_MIN_ROWS,
                progress: bool | Callable[[int, int, str], None] = True, log: Callable[[str], None] = print,
                data: Optional[dict[str, bytes]] = None, files: Optional[Sequence[Path]] = None,
                reconstruction: bool = True, max_windows: Optional[int] = None,
                encoders: Optional[int] = None, wait_s: float = 0.0, sustain_pedal: bool = False) -> BuildReport:
    """Index (or update the index of) every MIDI / PNG file under `sources` into the LanceDB folder `out`
    (`sustain_pedal`: MIDI files are read with their sustain pedal applied, and searches read queries so).

    Incremental: unchanged files (same content hash) are skipped, changed ones re-encoded, new ones added, and
    pieces whose files are no longer under the sources removed. Commits happen every FLUSH_WINDOWS windows, so an
    interrupted run resumes where it stopped. Files that cannot be read are listed (and stored) with their
    sentence. `compile`: None = compile when at least 20,000 windows wait or this checkpoint's package is cached.
    `progress` is True for a bar on stderr, or a callback (done, total, name). `reconstruction=False` stores no F1
    (the decoder is left out: about four times faster). `max_windows`: a piece that would take the windows
    encoded in this run past it is left out and listed with the failures (not stored: a later run adds it).
    `encoders`: processes that run the step, one torch thread each (None: torch's thread count when the step is
    compiled, else 1; 1 encodes in this process with torch's threads). `wait_s`: how long to wait for another run
    that is writing to `out` (IndexBusy after that; 0: at once).
    """
    from .checkpoint import load_model

    t_start = time.time()
    report = BuildReport(out=str(out))
    if files is None:
        files, missing = discover(sources)
        nothing_matched(files, missing)
        for m in missing:
            log(f"note: {unmatched(m)}.")
        for folder in unlisted_folders(sources):
            log(f"note: {unlisted(folder)}.")
    files = [Path(f) for f in files]
    report.files = len(files)
    if bundle is None:
        if not isinstance(checkpoint, bytes):
            check_before_load(out, checkpoint, decoder, rebuild, reconstruction, flip_png, patch_levels,
                              sustain_pedal)
            if patch_levels is not None:
                from .checkpoint_meta import peek_model_config

                declared, _ = peek_model_config(checkpoint)  # its header alone: a mistyped level is answered at once
                if declared is not None:
                    _check_patch_levels(patch_levels, declared)
        bundle = load_model(checkpoint, decoder=decoder)
    f1_skipped = not reconstruction and bundle.decoder is not None
    if f1_skipped:
        import dataclasses

        bundle = dataclasses.replace(bundle, decoder=None)
    cfg = bundle.model_config
    spb = int(bundle.config.get("steps_per_beat") or 4)
    ckey = checkpoint_key(bundle, checkpoint, decoder) if not isinstance(checkpoint, bytes) else \
        content_hash(checkpoint)
    plevels = list(patch_levels) if patch_levels is not None else default_patch_levels(cfg, patch_max)
    _check_patch_levels(plevels, cfg)

    callback = progress if callable(progress) else None
    with index_lock(out, wait_s, callback):
        index, plan = open_for_update(out, bundle, ckey, checkpoint_label(checkpoint), plevels, spb, rebuild, files,
                                      data, log, decoder=checkpoint_label(decoder, None), f1_skipped=f1_skipped,
                                      flip_png=flip_png, asked_levels=patch_levels, sustain_pedal=sustain_pedal)
        plevels = index.patch_levels
        report.removed = len(plan.remove) - plan.updated
        report.unchanged = plan.unchanged

        width = cfg.window_steps
        n_todo = len(plan.todo)
        encoder = WindowEncoder(bundle, plevels, index.meta["threshold"], batch_size, cache_key=ckey)
        if compile is None:
            compile = 40 * n_todo >= 20_000 or encoder.cached  # 40: windows per piece, roughly, before parsing
        if compile and n_todo:
            encoder.compile()
        report.compiled, report.compile_seconds = encoder.compiled, round(encoder.compile_seconds, 1)
        if encoders is None:  # a process each costs ~3 s to start: worth it for the jobs worth compiling
            from . import threads

            encoders = threads.configure() if compile else 1
        pool = EncoderPool(encoder, encoders, ckey) if encoders > 1 and n_todo else None
        report.encoders = encoders if pool is not None else 1
        writer = _Writer(index, cfg.num_levels, plevels, bundle.decoder is not None)
        bar = _progress_bar(n_todo, progress is True and n_todo > 0)
        workers = jobs if jobs is not None else max(1, min(4, (os.cpu_count() or 2) - 1))  # the encoder has the rest
        job_list = [(str(p), spb, flip_png, data.get(str(p)) if data else None, sustain_pedal)
                    for p, _ in plan.todo]
        collections = {str(p): c for p, c in plan.todo}
        queue: list[_Pending] = []   # pieces with windows not yet encoded, in order
        staged: list[tuple["torch.Tensor", _Pending, int]] = []
        n_staged = 0
        done = 0
        planned = 0  # windows of the pieces taken so far
        t_enc = 0.0
        in_flight: list[tuple[Any, list[tuple[_Pending, int, int]]]] = []  # the pool's batches: (future, their parts)

        def attach(r: dict, take: list[tuple[_Pending, int, int]]) -> None:
            i = 0
            for p, off, m in take:
                p.results.append((off, {k: ([a[i:i + m] for a in v] if isinstance(v, list) else v[i:i + m])
                                        for k, v in r.items()}))
                p.done += m
                i += m
            report.encoded += i

        def collect(most: int) -> None:
            """Attach the pool's finished batches, waiting until at most `most` are in flight."""
            nonlocal t_enc
            while in_flight:
                finished = [b for b in in_flight if b[0].done()]
                if not finished:
                    if len(in_flight) <= most:
                        return
                    wait([f for f, _ in in_flight], return_when=FIRST_COMPLETED)
                    continue
                for b in finished:
                    in_flight.remove(b)
                    seconds, r = b[0].result()
                    t_enc += seconds / pool.n  # the workers' encoding time, as the wall time of all of them at once
                    attach(r, b[1])

        def run_batch(final: bool = False) -> None:
            nonlocal n_staged, t_enc
            import torch

            while n_staged >= batch_size or (final and n_staged):
                take, parts, n = [], [], 0
                while staged and n < batch_size:
                    x, p, off = staged[0]
                    room = batch_size - n
                    if len(x) <= room:
                        staged.pop(0)
                        take.append((p, off, len(x)))
                        parts.append(x)
                        n += len(x)
                    else:
                        staged[0] = (x[room:], p, off + room)
                        take.append((p, off, room))
                        parts.append(x[:room])
                        n += room
                n_staged -= n
                if pool is None:
                    t0 = time.perf_counter()
                    r = encoder(torch.cat(parts))
                    t_enc += time.perf_counter() - t0
                    attach(r, take)
                    continue
                in_flight.append((pool.submit(torch.cat(parts)), take))
                collect(2 * pool.n)  # two batches a worker: one running, one waiting in its pipe
            if pool is not None:
                collect(0 if final else 2 * pool.n)

        def finish_ready() -> None:
            nonlocal done
            while queue and queue[0].done == len(queue[0].x):
                p = queue.pop(0)
                writer.piece(p.row, p)
                done += 1
                tick(p.row["name"])

        def tick(name: str) -> None:
            if bar is not None:
                bar.update(1)
                if t_enc:
                    bar.set_postfix_str(f"{report.windows + writer.n_windows:,} windows", refresh=False)
            if callback is not None:
                callback(done, n_todo, name)

        try:
            for res in _parsed(job_list, workers):
                path = res["path"]
                if "error" in res:
                    report.failed.append((path, res["error"]))
                    writer.piece(failed_row(res, collections[path], str(out)))
                    done += 1
                    tick(Path(path).stem)
                    continue
                p = prepare_piece(res, collections[path], width, str(out))
                if max_windows is not None and planned + len(p.x) > max_windows:
                    report.failed.append((path, f"Left out: one build here encodes at most {max_windows:,} windows "
                                                "(index larger collections with `midi-rae index`)."))
                    done += 1
                    tick(Path(path).stem)
                    continue
                planned += len(p.x)
                queue.append(p)
                staged.append((p.x, p, 0))
                n_staged += len(p.x)
                run_batch()
                finish_ready()
                if writer.n_windows >= FLUSH_WINDOWS:
                    report.windows += writer.n_windows
                    writer.flush()
            run_batch(final=True)
            finish_ready()
            report.windows += writer.n_windows
            writer.flush()
        except KeyboardInterrupt:
            report.interrupted = True
            try:  # the pieces encoded whole since the last commit are kept too (a second Ctrl-C gives them up)
                if not writer.flushing:  # (stopped inside a commit: its windows without pieces are dropped on resuming)
                    report.windows += writer.n_windows
                    writer.flush()
            except KeyboardInterrupt:
                pass
            report.kept = writer.committed  # the caller says so (the CLI, on its summary line)
        except BrokenProcessPool:  # a worker killed (out of memory, say): what was committed stays, and a rerun resumes
            _keep_finished(writer)
            raise ValueError(f"A parsing or encoding process ended unexpectedly (out of memory?); the "
                             f"{writer.committed} piece(s) committed so far are kept: run the same command again to "
                             "resume (with --encoders 1 to encode in this process).") from None
        except BaseException:  # stopped another way (the Corpus page left or rerun: Streamlit stops its script)
            _keep_finished(writer)
            raise
        finally:
            if pool is not None:
                pool.close()
            if bar is not None:
                bar.close()
        if not report.interrupted:
            settle_counts(report, plan)
            if n_todo or plan.remove or index.meta.get("updated") is None or not recorded(index):
                finish_update(index, report, ann_min_rows, log)
    report.encode_seconds = round(t_enc, 2)
    report.seconds = round(time.time() - t_start, 2)
    return report


# ---------------------------------------------------------------- searching


@dataclass
class Hit:
    """One search result: where the passage is and how similar it is."""

    piece: str
    path: str
    collection: str
    window: int
    start_step: int
    start_bar: float
    end_bar: float                     # the last bar the passage reaches into
    pitch_lo: int
    pitch_hi: int
    similarity: float                  # cosine, at most 1 (float32 rounding can put an identical vector above it)
    interval: int = 0                  # semitones the query was transposed by to match (0 unless invariant)
    patch: Optional[tuple[int, int]] = None  # (row, col) of the matching patch, for patch searches
    piece_id: int = 0
    steps_per_bar: int = 16
    window_start: int = 0              # first step of the window the passage is in
    end_step: int = 0                  # the step after the passage
    steps_per_beat: int = 4
    tempo_bpm: float = 120.0
    metre: str = "4/4"                 # the piece's main metre, as the index stores it ("6/8")
    rel: Optional[str] = None          # path relative to the index's parent folder
    image: Optional[bytes] = field(default=None, repr=False)  # the window, bit-packed (unpack_window)

    @property
    def is_png(self) -> bool:
        """Is the passage's piece a PNG piano roll (steps only: no bars, metre or tempo of its own)?"""
        return png_path(self.path)

    def place(self) -> str:
        """Where the passage lies, in words: "bars 4–11" ("bar 4 beat 3 – …" off the bar lines), or a PNG roll's
        "steps 48–175"."""
        return passage_place(self.start_step, self.end_step, self.steps_per_bar, self.steps_per_beat, self.is_png)

    def as_dict(self) -> dict:
        """JSON-ready; a PNG roll's bars, metre and tempo are null (its grid is assumed, not read)."""
        d = dict(self.__dict__)
        d.pop("image")
        d["patch"] = list(self.patch) if self.patch else None
        if self.is_png:
            d.update(start_bar=None, end_bar=None, metre=None, tempo_bpm=None)
        return d


def check_query_bar(roll, bar: int) -> None:
    """ValueError in one sentence where `bar` (1-based) does not start inside the query piece."""
    if bar < 1 or (int(bar) - 1) * max(roll.steps_per_bar, 1) >= roll.steps:
        raise ValueError(f"Bar {bar} is outside the query piece ({f'{roll.bars:.1f}'.removesuffix('.0')} bars).")


def query_vectors(bundle, roll, bar: int, level: int, patch: Optional[tuple[int, int]] = None,
                  intervals: Sequence[int] = (0,)) -> list[tuple[int, np.ndarray]]:
    """(interval, query vector) for the window starting at `bar` (1-based) of `roll`, transposed by each interval.

    The vector is the level's pooled embedding, or the embedding of patch (row, col) (row 0 = lowest pitches) at
    that level; under a transposition the patch row moves with the music by whole patches where it can.
    """
    import torch

    from .pianoroll import transpose, window_at

    cfg = bundle.model_config
    if not 0 <= level < cfg.num_levels:
        raise ValueError(f"--level {level} is outside this model's levels 0..{cfg.num_levels - 1}.")
    start = (int(bar) - 1) * max(roll.steps_per_bar, 1)
    check_query_bar(roll, bar)
    rows, cols = cfg.level_grids[level]
    if patch is not None and not (0 <= patch[0] < rows and 0 <= patch[1] < cols):
        raise ValueError(f"--patch {patch[0]},{patch[1]} is outside level {level}'s {rows}x{cols} grid.")
    steps, semis = cfg.patch_extent(level)
    plain = window_at(roll, start, cfg.window_steps)
    # an empty window or patch has no embedding the index keeps: its "nearest" would be noise
    if not plain.any():
        raise ValueError(f"The window at bar {bar} of the query holds no notes; choose a bar with notes.")
    if patch is not None and not plain[patch[0] * semis:(patch[0] + 1) * semis,
                                       patch[1] * steps:(patch[1] + 1) * steps].any():
        raise ValueError(f"Patch {patch[0]},{patch[1]} of level {level} holds no notes in the window at bar {bar}; "
                         "choose a patch with notes.")
    imgs = [window_at(transpose(roll, t), start, cfg.window_steps) if t else plain for t in intervals]
    x = torch.from_numpy(np.stack(imgs).astype(np.float32))[:, None]
    with torch.inference_mode():
        out = bundle.encoder.eval()(x.to(bundle.device))
        lv = out.patches.levels[level]
        pooled = pool_levels([lv])[0].float().cpu().numpy()
        emb = lv.emb.float().cpu().numpy()
    res = []
    for i, t in enumerate(intervals):
        if patch is None:
            res.append((t, pooled[i]))
        else:
            r = min(max(patch[0] + int(round(t / semis)), 0), rows - 1)
            res.append((t, emb[i, r * cols + patch[1]]))
    return res


def search_passage(index: CorpusIndex | str | Path, query, bar: int = 1, level: Optional[int] = None,
                   patch: Optional[tuple[int, int]] = None, transposition_invariant: bool = False, k: int = 10,
                   bundle=None, exact: Optional[bool] = None, exclude: Sequence[int] = (), distinct: bool = True,
                   avoid: Sequence[tuple[int, int, int]] = ()) -> list[Hit]:
    """The k passages of the corpus most similar to the window at `bar` of `query` (a PianoRoll, path or bytes).

    Transposition-invariant: the query is transposed by each interval of -12..+12 semitones, each is searched,
    and every passage keeps its best interval (the one reported; the smallest where two match alike). `exclude`:
    piece ids left out of the results.
    `distinct`: one hit per passage (see distinct_passages) rather than every overlapping window of it; `avoid`:
    (piece_id, start_step, end_step) ranges whose passages are left out (the query's own, when it is in the corpus).
    """
    from .checkpoint import load_model

    idx = index if isinstance(index, CorpusIndex) else CorpusIndex(index)
    if bundle is None:
        bundle = load_model(*own_checkpoint(idx.meta))
    if hasattr(query, "array"):
        roll = query
    else:
        roll = read_as_indexed(idx.meta, query if not isinstance(query, bytes) else "query.mid",
                               query if isinstance(query, bytes) else None)
    level = search_level(idx.levels, idx.patch_levels, level, patch)
    if not 0 <= int(level) < idx.levels:
        raise ValueError(f"The index has levels 0 to {idx.levels - 1}; there is no level {level} to search.")
    dims = list(bundle.model_config.level_dims)
    if level >= len(dims):
        raise ValueError(f"This model has levels 0 to {len(dims) - 1}; the index's level {level} cannot be searched "
                         "with it.")
    mine, theirs = dims[level], int(idx.meta["dims"][level])
    if mine != theirs:  # another model: its vectors cannot be compared with the index's at all
        raise ValueError(f"This model's level-{level} embeddings have {mine} dimensions and the index's have {theirs}; "
                         f"search with the model the index was built with.")
    intervals = TRANSPOSITIONS if transposition_invariant else (0,)
    use_patch = patch is not None and level > 0
    if use_patch:  # before the query's patch is read: the index cannot answer for it at all
        idx.require_patches(level)
    vecs = query_vectors(bundle, roll, bar, level, patch, intervals)
    conditions = [f"piece_id NOT IN ({', '.join(str(int(i)) for i in exclude)})"] if exclude else []
    if not use_patch:  # a silent window's pooled embedding is no passage's (a silent query is refused likewise)
        conditions.append("pitch_lo >= 0")
    where = " AND ".join(conditions) or None
    n = k * CANDIDATES if distinct or avoid else k
    best: dict[tuple, tuple[float, int]] = {}
    found = idx.nearest_each([v for _, v in vecs], level, n, patch=use_patch, exact=exact, where=where)
    for (t, _), rows in zip(vecs, found):
        for r in rows:
            key = (r["piece_id"], r["window"], r.get("patch"))
            if key not in best or r["similarity"] > best[key][0] + 1e-6 or \
                    (abs(r["similarity"] - best[key][0]) <= 1e-6 and abs(t) < abs(best[key][1])):
                best[key] = (r["similarity"], t)
    top = sorted(best.items(), key=lambda kv: -kv[1][0])[:n]
    hits = _hits(idx, top, level, use_patch)
    return distinct_passages(hits, k, avoid, overlapping=not distinct)


def own_passages(index: CorpusIndex, digest: str, start: int) -> list[tuple[int, int, int]]:
    """The query's own passage in the index (the window at step `start` of each piece whose file's content_hash is
    `digest`), for a search's `avoid`: searched for, it would top the list at similarity 1."""
    if not re.fullmatch(r"[0-9a-f]{20}", digest):
        return []
    t = index.table("pieces").search().where(f"hash = '{digest}'").select(["piece_id"]).limit(None).to_arrow()
    return own_ranges(index.meta, t.column("piece_id").to_pylist(), start)


def distinct_passages(hits: Sequence[Hit], k: int, avoid: Sequence[tuple[int, int, int]] = (),
                      overlapping: bool = False) -> list[Hit]:
    """The best k of `hits` (best first), one per passage: a hit is dropped when a quarter or more of its steps (or
    of the other's, if shorter) lie in a better hit of the same piece (for patches: of the same pitch row), or in
    a range of `avoid` ((piece_id, start_step, end_step), any row). Windows are cut a bar apart, so without this
    the top hits are one passage seen through its neighbouring windows. `overlapping` keeps them all (only
    `avoid` applies)."""
    taken = [(p, None, s, e) for p, s, e in avoid]
    out: list[Hit] = []
    for h in hits:
        row = h.patch[0] if h.patch is not None else None
        if any(p == h.piece_id and (r is None or row is None or r == row)
               and min(e, h.end_step) - max(s, h.start_step) >= OVERLAP * min(e - s, h.end_step - h.start_step)
               for p, r, s, e in taken):
            continue
        out.append(h)
        if len(out) == k:
            break
        if not overlapping:
            taken.append((h.piece_id, row, h.start_step, h.end_step))
    return out


def default_level(levels: int) -> int:
    """The level searched when none is named: the middle of the hierarchy (level 3 of 6: one bar x 16 semitones)."""
    return levels // 2


def search_level(levels: int, patch_levels: Sequence[int], level: Optional[int], patch) -> int:
    """The level a search compares at: the one named; else, for a patch, the finest level whose patch embeddings
    the index stores (by default levels 1 and 2 only, so the middle level had no patches to search); else the
    middle one (default_level)."""
    if level is not None:
        return int(level)
    if patch is not None and len(patch_levels):
        return max(int(k) for k in patch_levels)
    return default_level(levels)


# windows fetched per query of the store: Lance's filter parser recurses once per OR, and -k 6000 in one filter
# overflowed its thread's stack (the process died with SIGSEGV and no word); 3,000 terms had worked
HIT_QUERY_TERMS = 500


def _hits(idx: CorpusIndex, top: list, level: int, patch: bool) -> list[Hit]:
    if not top:
        return []
    ids = sorted({key[0] for key, _ in top})
    pieces = idx.table("pieces").search().where(_in_list("piece_id", ids)).select(
        ["piece_id", "name", "path", "rel", "collection", "steps_per_bar", "steps_per_beat", "tempo_bpm", "metre",
         "steps"]
    ).limit(None).to_arrow().to_pylist()
    pieces = {p["piece_id"]: p for p in pieces}
    wins = {}
    for part in _chunks(top, HIT_QUERY_TERMS):
        cond = " OR ".join(f"(piece_id = {int(key[0])} AND window = {int(key[1])})" for key, _ in part)
        wins.update(((w["piece_id"], w["window"]), w) for w in idx.table("windows").search().where(cond).select(
            ["piece_id", "window", "start_step", "pitch_lo", "pitch_hi", "image"]).limit(None).to_arrow().to_pylist())
    rows, cols = idx.meta["grids"][level]
    width = int(idx.meta["window_steps"])
    out = []
    for (pid, win, pt), (sim, t) in top:
        p, w = pieces.get(pid), wins.get((pid, win))
        if p is None or w is None:
            continue
        spbar = max(int(p["steps_per_bar"] or 16), 1)
        start, end, lo, hi = w["start_step"], w["start_step"] + width, w["pitch_lo"], w["pitch_hi"]
        rc = None
        if patch and pt is not None:
            r, c = divmod(int(pt), cols)
            rc = (r, c)
            steps, semis = width // cols, 128 // rows
            start, end = start + c * steps, start + (c + 1) * steps
            lo, hi = r * semis, (r + 1) * semis - 1
        end = int(passage_end(start, end - start, p["steps"] or 0))
        lo, hi = max(-1, min(127, int(lo))), max(0, min(127, int(hi)))  # a hostile index's values stay pitches
        out.append(Hit(piece=p["name"], path=p["path"], collection=p["collection"], window=int(win),
                       start_step=int(start), start_bar=start / spbar + 1, end_bar=float((end - 1) // spbar + 1),
                       pitch_lo=int(lo), pitch_hi=int(hi), similarity=min(float(sim), 1.0), interval=int(t), patch=rc,
                       piece_id=int(pid), steps_per_bar=spbar, window_start=int(w["start_step"]), end_step=int(end),
                       steps_per_beat=int(p["steps_per_beat"] or 4), tempo_bpm=float(p["tempo_bpm"] or 120),
                       metre=str(p["metre"] or "4/4"), rel=p["rel"], image=w["image"]))
    return out


def recall_at_k(index: CorpusIndex, level: int = 0, k: int = 10, queries: int = 50, seed: int = 0,
                nprobes: int = 32, patch: bool = False) -> dict:
    """Recall@k of the IVF search against exact search, over `queries` stored vectors used as queries, and both
    searches' median latency in ms."""
    table, column = (f"patches_{level}", "vector") if patch else ("windows", f"emb_{level}")
    n = index.count(table)
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(queries, n), replace=False))
    vec = index.column(column, table)[rows].astype(np.float32)
    rec, t_ann, t_exact = [], [], []
    for v in vec:
        t0 = time.perf_counter()
        a = index.nearest(v, level, k, patch=patch, exact=False, nprobes=nprobes)
        t1 = time.perf_counter()
        e = index.nearest(v, level, k, patch=patch, exact=True)
        t2 = time.perf_counter()
        key = lambda r: (r["piece_id"], r["window"], r.get("patch"))  # noqa: E731
        rec.append(len({key(r) for r in a} & {key(r) for r in e}) / max(len(e), 1))
        t_ann.append(t1 - t0)
        t_exact.append(t2 - t1)
    return {"vectors": n, "queries": len(vec), "k": k, "recall": float(np.mean(rec)),
            "ann_ms_median": 1e3 * float(np.median(t_ann)), "exact_ms_median": 1e3 * float(np.median(t_exact)),
            "ann_index": index.ann_ready(table, column), "nprobes": nprobes}


def encoder_benchmark(bundle=None, batch_size: int = BATCH, repeats: int = 7, windows: Optional["torch.Tensor"] = None
                      ) -> dict:
    """Windows per second of the eager and the compiled model on the same weights, side by side in one process:
    the encoder alone, and the whole index step (encode, pool, and with a decoder reconstruct unmasked and masked).

    Both compiled forms are AOTInductor packages, as the index runs them (the encoder's is built here, ~30 s).
    Medians of 3 x `repeats` calls on one batch (real windows when given, else sparse random ones), alternating
    the two so that a change in the machine's load hits both alike.
    """
    import tempfile

    import torch

    from .checkpoint import load_model
    from .inference import stored_threshold

    bundle = bundle or load_model()
    enc = bundle.encoder.eval()
    h, w = enc.grid_size[0] * enc.patch_h, enc.grid_size[1] * enc.patch_w
    x = windows[:batch_size] if windows is not None else (torch.rand(batch_size, 1, h, w) > 0.96).float()
    out: dict[str, Any] = {"batch": len(x), "threads": torch.get_num_threads()}

    def timed(fn, *args) -> list[float]:
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(*args)
            ts.append(time.perf_counter() - t0)
        return ts

    def embeddings(x, mask):  # the encoder alone: every level's patch embeddings
        return [lv.emb for lv in enc(x, mae_mask=mask).patches.levels]

    we = WindowEncoder(bundle, default_patch_levels(bundle.model_config), stored_threshold(bundle), len(x),
                       compile=True, cache_key=checkpoint_key(bundle, None, None))
    out["compiled"], out["compile_s"] = we.compiled, round(we.compile_seconds, 1)
    ones = torch.ones(len(x), we._n_finest(), dtype=torch.bool)
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        encode = load_compiled(str(aoti_package(embeddings, {"encoder": enc}, (x, ones),
                                                                    Path(tmp) / "encoder.pt2")))
        e, c = [], []
        for _ in range(3):
            e += timed(embeddings, x, ones)
            c += timed(encode, x, ones)
        out["encoder_eager_wps"] = round(len(x) / float(np.median(e)), 1)
        out["encoder_compiled_wps"] = round(len(x) / float(np.median(c)), 1)
        out["encoder_speedup"] = round(float(np.median(e)) / float(np.median(c)), 2)
    e, c = [], []
    for _ in range(3):
        e += timed(lambda: we(x, use_compiled=False))
        c += timed(lambda: we(x, use_compiled=True))
    out["step_eager_wps"] = round(len(x) / float(np.median(e)), 1)
    out["step_compiled_wps"] = round(len(x) / float(np.median(c)), 1)
    out["step_speedup"] = round(float(np.median(e)) / float(np.median(c)), 2)
    return out

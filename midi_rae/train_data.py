"""Training data: MIDI files -> pieces -> a three-way split by piece -> batches of random crops.

- `find_roll_files`, `read_pieces`: the MIDI files and PNG piano rolls of a folder and their bit-packed piano
  rolls (cached).
- `split_pieces`: train / validation / test by a stable hash of each file name (whole pieces, never windows).
- `shard`: the share of a list that one DDP rank reads (rank r takes items[r::world]).
- `WindowDataset`: an endless `IterableDataset` of batches; each optimizer step's batch is drawn with a generator
  of its own (seed, rank, step), whichever DataLoader worker draws it, and each batch is one vectorised draw
  (pieces, crops and transpositions chosen together, crops only from start positions known to be non-empty).
- `evaluation_windows`: the windows a set of pieces is scored on (the one windowing rule,
  `inference.piece_windows`; empty windows dropped; evenly thinned to a limit).
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator, NamedTuple, Optional, Sequence, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from . import augment
from .pianoroll import MidiError
from .png_rolls import SOURCE_SUFFIXES, read_roll

PITCHES = 128
T = TypeVar("T")


def _tqdm(iterable, **kw):
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    return tqdm(iterable, **kw)


# ---------------------------------------------------------------- files and pieces


def find_roll_files(root: str | Path) -> list[Path]:
    """All MIDI files and PNG piano rolls under root, recursively, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise SystemExit(f"error: --midi-dir {root} is not a folder.")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in SOURCE_SUFFIXES and p.is_file())


def _read_packed(args: tuple[str, int]) -> np.ndarray | str:
    """A file's bit-packed roll, or the sentence that says why it cannot be read."""
    path, spb = args
    try:
        return np.packbits(read_roll(path, steps_per_beat=spb).array, axis=0)
    except MidiError as e:
        return str(e)


def any_readable(files: Sequence[Path], steps_per_beat: int) -> bool:
    """Can any of `files` be read (tried one by one, stopping at the first that can)?"""
    return any(not isinstance(_read_packed((str(f), steps_per_beat)), str) for f in files)


def read_pieces(files: Sequence[Path], steps_per_beat: int, workers: int = 1, cache: Optional[Path] = None,
                show: bool = True, skipped: Optional[dict] = None) -> tuple[list[np.ndarray], list[str]]:
    """Bit-packed piano rolls ((16, T) uint8) of the readable files and their paths, cached in a .npz keyed by
    the file list, each file's size and time of change (unreadable files are skipped; `skipped`, when given, is
    filled with each one's path and its one sentence). A cache that cannot be read (cut short by an interrupted
    write, another program's, or one from before the skipped files were kept) is made again."""
    files = [Path(f) for f in files]
    key = hashlib.sha1(("|".join(f"{f}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
                        + f"|{steps_per_beat}").encode()).hexdigest()[:16]
    if cache is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as z:
                if str(z["key"]) == key:
                    names = [str(n) for n in z["names"]]
                    why = dict(zip((str(n) for n in z["skipped"]), (str(r) for r in z["reasons"])))
                    rolls = [z[f"r{i}"] for i in range(len(names))]
                    if skipped is not None:
                        skipped.update(why)
                    return rolls, names
        except Exception:  # noqa: BLE001 - whatever numpy or zipfile raise on a damaged cache: read the files again
            pass
    tasks = [(str(f), steps_per_beat) for f in files]
    if workers > 1 and len(files) > 8:
        with ProcessPoolExecutor(workers) as ex:
            results = list(_tqdm(ex.map(_read_packed, tasks, chunksize=8), total=len(tasks), desc="reading files",
                                 disable=not show))
    else:
        results = [_read_packed(t) for t in _tqdm(tasks, desc="reading files", disable=not show)]
    kept = [(str(f), r) for f, r in zip(files, results) if not isinstance(r, str)]
    why = {str(f): r for f, r in zip(files, results) if isinstance(r, str)}
    rolls, names = [r for _, r in kept], [n for n, _ in kept]
    if skipped is not None:
        skipped.update(why)
    if cache is not None:
        _write_cache(cache, key, names, rolls, why)
    return rolls, names


def _write_cache(cache: Path, key: str, names: list[str], rolls: list[np.ndarray], skipped: dict[str, str]) -> None:
    """Save the rolls cache aside and move it into place (an interrupted write, or two runs writing one folder,
    leave a whole cache); a cache that cannot be written is only a slower next run, said in one line."""
    import sys
    import tempfile

    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(prefix=cache.name + ".", suffix=".part", dir=cache.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, key=key, names=np.array(names, dtype=str), skipped=np.array(list(skipped), dtype=str),
                         reasons=np.array(list(skipped.values()), dtype=str),
                         **{f"r{i}": r for i, r in enumerate(rolls)})
            os.replace(part, cache)
        finally:
            if os.path.exists(part):
                os.unlink(part)
    except OSError as e:
        print(f"warning: the rolls cache {cache} could not be written ({e.strerror or e}); the next run reads the "
              f"files again.", file=sys.stderr)


# ---------------------------------------------------------------- the split and the shards


class Split(NamedTuple):
    """Indices into a list of pieces: whole pieces, disjoint, together all of them."""

    train: list[int]
    validation: list[int]
    test: list[int]


def piece_hash(name: str | Path, seed: int) -> float:
    """A stable number in [0, 1] from a file's name (not its folder) and the seed."""
    return int(hashlib.sha1(f"{seed}:{Path(name).name}".encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def split_pieces(names: Sequence[str | Path], val_fraction: float, test_fraction: float, seed: int) -> Split:
    """Train / validation / test by piece: hash < val_fraction -> validation, < val + test -> test, else train.

    With few pieces a split the hash leaves empty takes the last training piece, so validation (and the test
    split when test_fraction > 0) is never empty while at least one training piece remains."""
    train, val, test = [], [], []
    for i, n in enumerate(names):
        h = piece_hash(n, seed)
        (val if h < val_fraction else test if h < val_fraction + test_fraction else train).append(i)
    if not val and len(train) > 1:
        val.append(train.pop())
    if test_fraction > 0 and not test and len(train) > 1:
        test.append(train.pop())
    return Split(train, val, test)


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """The share of items one DDP rank reads: items[rank::world]."""
    return list(items[rank::world])


# ---------------------------------------------------------------- training batches


def transpose_rows(x: np.ndarray, rng: np.random.Generator, max_transpose: int) -> np.ndarray:
    """Shift each window (n, 128, W) by its own random number of semitones in [-max, max], never moving a note
    outside pitches 0..127."""
    if max_transpose <= 0 or len(x) == 0:
        return x
    rows = x.any(axis=2)                                      # (n, 128) pitches in use
    lo = rows.argmax(axis=1)
    hi = PITCHES - 1 - rows[:, ::-1].argmax(axis=1)
    down, up = np.minimum(max_transpose, lo), np.minimum(max_transpose, PITCHES - 1 - hi)
    t = rng.integers(-down, up + 1)                           # one draw per window, within the room it has
    src = np.arange(PITCHES)[None, :] - t[:, None]            # output row p reads input row p - t
    inside = (src >= 0) & (src < PITCHES)
    return np.take_along_axis(x, np.clip(src, 0, PITCHES - 1)[:, :, None], axis=1) * inside[:, :, None]


@dataclasses.dataclass(frozen=True)
class Augment:
    """The batch augmentations of `midi_rae.augment`, each the share of windows it changes (0 = off)."""

    time_compress: float = 0.0     # rendered at half the time resolution (a 2W crop, `augment.compress_time`)
    superpose: float = 0.0         # OR-ed with a window of another piece (`augment.superpose`)
    superpose_transpose: int = 12  # the partner window's own random transposition, up to this either way
    octave_double: float = 0.0     # doubled an octave up or down (`augment.octave_double`)
    articulate: float = 0.0        # re-articulated or shortened (`augment.articulate`)

    @classmethod
    def from_config(cls, cfg) -> "Augment":
        """The augmentations a TrainConfig turns on."""
        return cls(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cls)})


class WindowDataset(IterableDataset):
    """Endless batches (batch_size, 1, 128, width) float32 of random non-empty crops, randomly transposed and
    (optionally) augmented.

    All pieces sit in one bit-packed array; the start positions whose window holds a note are listed once, so a
    batch is one draw of `batch_size` of them (pieces weighted by length, as uniform crops are) and one gather.
    The batch of optimizer step s is drawn from its own generator, seeded by (seed, rank, s): with W DataLoader
    workers, worker w draws the steps start_step + w, + W, ... (the DataLoader takes them in turn), so the batches
    of a run are the same whatever the number of workers, and a resumed run draws exactly the batches the
    uninterrupted run would have.

    Augmentations (`Augment`), in this order, each on its own random share of the windows: time compression
    (the crop is 2 x width steps of the piece, halved), transposition (always, as before), superposition with
    another piece's window (drawn, compressed and transposed the same way, by up to superpose_transpose),
    octave doubling, re-articulation. With all of them off the random draws are exactly those of a plain batch.
    """

    def __init__(self, rolls: Sequence[np.ndarray], batch_size: int, width: int = 128, max_transpose: int = 6,
                 seed: int = 0, rank: int = 0, start_step: int = 0, aug: Optional[Augment] = None):
        super().__init__()
        if not rolls:
            raise ValueError("WindowDataset needs at least one piece.")
        self.batch_size, self.width, self.max_transpose = int(batch_size), int(width), int(max_transpose)
        self.seed, self.rank, self.start_step = int(seed), int(rank), int(start_step)
        self.aug = aug or Augment()
        spans = [max(r.shape[1], width) for r in rolls]        # short pieces are padded to one window
        offsets = np.concatenate([[0], np.cumsum(spans)])
        # time-major (T, 16): a crop gathers whole 16-byte rows, 15x faster than gathering along the time axis
        self.packed = np.zeros((int(offsets[-1]), PITCHES // 8), dtype=np.uint8)
        for r, off in zip(rolls, offsets):
            self.packed[off:off + r.shape[1]] = r[:PITCHES // 8].T
        notes_before = np.concatenate([[0], np.cumsum(self.packed.any(axis=1))])
        starts, ends, piece = [], [], []
        for i, (r, off) in enumerate(zip(rolls, offsets)):
            s = np.arange(off, off + max(r.shape[1] - width, 0) + 1)
            s = s[notes_before[s + width] > notes_before[s]]
            starts.append(s)
            ends.append(np.full(len(s), off + r.shape[1]))
            piece.append(np.full(len(s), i))
        self.starts = np.concatenate(starts)
        self.ends = np.concatenate(ends)     # where each start's piece ends (a 2W crop stops there)
        self.piece = np.concatenate(piece)   # which piece each start belongs to
        if not len(self.starts):
            raise ValueError("None of the training pieces has a note.")

    def _crops(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(n windows (n, 128, W) uint8, their pieces): n random starts, a share time-compressed."""
        k = rng.integers(0, len(self.starts), n)
        s = self.starts[k]
        if self.aug.time_compress <= 0:
            packed = self.packed[s[:, None] + np.arange(self.width)]         # (n, W, 16)
            return np.unpackbits(packed, axis=-1).transpose(0, 2, 1), self.piece[k]
        cols = s[:, None] + np.arange(2 * self.width)
        inside = cols < self.ends[k][:, None]                              # never read into the next piece
        packed = self.packed[np.minimum(cols, self.packed.shape[0] - 1)] * inside[..., None]
        x2 = np.unpackbits(packed, axis=-1).transpose(0, 2, 1)             # (n, 128, 2W)
        chosen = rng.random(n) < self.aug.time_compress
        x = np.where(chosen[:, None, None], augment.compress_time(x2), x2[:, :, :self.width])
        return x, self.piece[k]

    def draw(self, rng: np.random.Generator, n: Optional[int] = None) -> torch.Tensor:
        """One batch of n (default batch_size) windows, drawn at once."""
        n = self.batch_size if n is None else n
        a = self.aug
        x, piece = self._crops(rng, n)
        x = transpose_rows(x, rng, self.max_transpose)
        if a.superpose > 0:
            y, other = self._crops(rng, n)
            y = transpose_rows(y, rng, max(a.superpose_transpose, self.max_transpose))
            x = augment.superpose(x, y, (rng.random(n) < a.superpose) & (other != piece))
        x = augment.octave_double(x, rng, a.octave_double)
        x = augment.articulate(x, rng, a.articulate)
        return torch.from_numpy(np.ascontiguousarray(x[:, None], dtype=np.float32))

    def generator(self, step: int) -> np.random.Generator:
        """The generator of one optimizer step's batch."""
        return np.random.default_rng([self.seed, self.rank, step])

    def batches(self, worker: int = 0, workers: int = 1) -> Iterator[torch.Tensor]:
        """The endless stream of worker `worker` of `workers`: the batches of every workers-th step from
        start_step + worker."""
        step = self.start_step + worker
        while True:
            yield self.draw(self.generator(step))
            step += max(workers, 1)

    def __iter__(self) -> Iterator[torch.Tensor]:
        info = get_worker_info()
        return self.batches(info.id, info.num_workers) if info is not None else self.batches()


def batch_loader(dataset: WindowDataset, workers: int, pin_memory: bool = False) -> DataLoader:
    """A DataLoader over the dataset's ready-made batches, with `workers` processes (0 = in this process)."""
    return DataLoader(dataset, batch_size=None, num_workers=workers, pin_memory=pin_memory,
                      persistent_workers=workers > 0, prefetch_factor=4 if workers > 0 else None)


# ---------------------------------------------------------------- evaluation windows


def _kept_windows(args: tuple[str, int, int]) -> np.ndarray | str:
    """A piece's non-empty windows by the one windowing rule, bit-packed along time; why not, if unreadable."""
    from .inference import piece_windows

    path, spb, width = args
    try:
        roll = read_roll(path, steps_per_beat=spb)
    except MidiError as e:
        return str(e)
    x, _, _ = piece_windows(roll, width)
    x = x[:, 0].numpy() > 0.5
    return np.packbits(x[x.any(axis=(1, 2))], axis=-1)


def evaluation_windows(files: Sequence[Path], steps_per_beat: int, width: int, limit: int,
                       workers: int = 1, skipped: Optional[dict] = None) -> tuple[torch.Tensor, list[str]]:
    """(windows (n, 1, 128, width) float32, readable files): every piece cut by `inference.piece_windows`,
    empty windows dropped, the rest evenly thinned to at most `limit` over the pieces in order. `skipped`, when
    given, is filled with each unreadable file and its one sentence."""
    tasks = [(str(f), steps_per_beat, width) for f in files]
    if workers > 1 and len(tasks) > 8:
        with ProcessPoolExecutor(workers) as ex:
            results = list(ex.map(_kept_windows, tasks, chunksize=4))
    else:
        results = [_kept_windows(t) for t in tasks]
    readable = [str(f) for f, r in zip(files, results) if not isinstance(r, str)]
    if skipped is not None:
        skipped.update({str(f): r for f, r in zip(files, results) if isinstance(r, str)})
    per_piece = [r for r in results if not isinstance(r, str)]
    counts = np.array([len(r) for r in per_piece], dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return torch.zeros(0, 1, PITCHES, width), readable
    pick = np.arange(total) if total <= limit else np.unique(np.linspace(0, total - 1, limit).round().astype(np.int64))
    piece_of = np.searchsorted(np.cumsum(counts), pick, side="right")
    first = np.concatenate([[0], np.cumsum(counts)])[piece_of]
    packed = np.stack([per_piece[p][k] for p, k in zip(piece_of, pick - first)])
    x = np.unpackbits(packed, axis=-1, count=width).astype(np.float32)
    return torch.from_numpy(x[:, None]), readable

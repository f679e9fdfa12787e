"""Write the public-domain corpus that ships with music21 out as MIDI files, for training.

music21 is a training-only dependency (`pip install -e .[train]`); the app never imports this.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Iterable, Optional

from .workers import watch_parent

# roman-numeral analyses (rntxt) are harmony sketches, not performances: left out
MUSIC_SUFFIXES = (".krn", ".abc", ".mxl", ".xml", ".musicxml")
FORMAT_PREFERENCE = (".mxl", ".musicxml", ".xml", ".krn", ".abc")  # one file per work: the first of these it has
MUSIC21_MISSING = "music21 is not installed; install the training extra: pip install 'midi-rae-explorer[train]'."


def corpus_paths(collections: Optional[Iterable[str]] = None) -> list[Path]:
    """Paths of the music21 corpus works, optionally only those in the named collections."""
    try:
        from music21 import corpus
    except ImportError as e:
        raise ModuleNotFoundError(MUSIC21_MISSING, name="music21") from e
    wanted = set(collections or [])
    every = [p for p in sorted(Path(str(p)) for p in corpus.getPaths()) if p.suffix.lower() in MUSIC_SUFFIXES]
    unknown = sorted(wanted - {_collection(p) for p in every})
    if unknown:
        known = sorted({_collection(p) for p in every})
        raise ValueError(f"music21's corpus has no collection {', '.join(unknown)}; it has {', '.join(known)}.")
    return one_format_per_work([p for p in every if not wanted or _collection(p) in wanted])


def one_format_per_work(paths: list[Path]) -> list[Path]:
    """`paths` with one file per work (collection and name): music21 ships some works twice, as Humdrum and as
    MusicXML (beethoven/opus18no1/movement1.krn and .mxl), and both would be written to one MIDI file, the second
    over the first. MusicXML is kept where both are there (FORMAT_PREFERENCE); the order is kept."""
    rank = {s: i for i, s in enumerate(FORMAT_PREFERENCE)}
    best: dict[tuple[str, str], Path] = {}
    for p in paths:
        key = (_collection(p), _stem(p))
        if key not in best or rank.get(p.suffix.lower(), 99) < rank.get(best[key].suffix.lower(), 99):
            best[key] = p
    kept = set(best.values())
    return [p for p in paths if p in kept]


def _collection(p: Path) -> str:
    parts = p.parts
    return parts[parts.index("corpus") + 1] if "corpus" in parts else p.parent.name


def _stem(p: Path) -> str:
    """The work's file name without extension, after the folders between its collection and it.

    Works of a collection can sit in sub-folders with the same file names (beethoven/opus18no1/movement1.mxl,
    beethoven/opus59no1/movement1.mxl): without the folder they would overwrite each other.
    """
    parts = p.parts
    inner = parts[parts.index("corpus") + 2:-1] if "corpus" in parts else ()
    return "_".join([*inner, p.stem])


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):  # pragma: no cover - only fires on pathological scores
    raise _Timeout()


def export_work(path: Path, out_dir: Path, max_per_file: int = 40, timeout_s: int = 60) -> list[str]:
    """Parse one corpus file and write each score in it as MIDI; returns the files written."""
    from music21 import converter, stream

    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(timeout_s)  # a few corpus files take minutes to parse: skip them rather than stall
    written = []
    try:
        parsed = converter.parse(str(path))
        scores = list(parsed.scores)[:max_per_file] if isinstance(parsed, stream.Opus) else [parsed]
        dest = out_dir / _collection(path)
        dest.mkdir(parents=True, exist_ok=True)
        for k, score in enumerate(scores):
            name = _stem(path) if len(scores) == 1 else f"{_stem(path)}_{k:03d}"
            target = dest / f"{name}.mid"
            _write_midi(score, target)
            written.append(str(target))
    except _Timeout:
        print(f"skipped (over {timeout_s} s): {path.name}", file=sys.stderr)
    except Exception as e:  # noqa: BLE001 - a corpus file music21 cannot render is skipped, not fatal
        print(f"skipped ({type(e).__name__}): {path.name}", file=sys.stderr)
    finally:
        signal.alarm(0)
    return written


def _write_midi(score, target: Path) -> None:
    """Write one score as MIDI; a score whose repeats music21 cannot expand is written once through, unrepeated.

    music21 expands repeats only in scores that still have measures; several of the corpus's string quartets
    have repeat marks it calls badly formed and would otherwise be lost.
    """
    from music21 import repeat, stream

    try:
        score.write("midi", fp=str(target))
    except repeat.ExpanderException:
        parts = score.parts if score.parts else [score]
        flat = stream.Score([p.flatten() for p in parts])
        flat.write("midi", fp=str(target))


def _export_one(args: tuple) -> list[str]:
    return export_work(*args)


def _stop_now(ex: ProcessPoolExecutor) -> None:
    """Shut the pool down without waiting for the work in hand: its workers are terminated."""
    stop = getattr(ex, "terminate_workers", None)  # Python 3.14
    if stop is not None:
        stop()
        return
    for proc in list((getattr(ex, "_processes", None) or {}).values()):  # before 3.14: its processes, privately
        proc.terminate()
    ex.shutdown(wait=False, cancel_futures=True)  # its manager thread ends once it sees the processes gone


def export_corpus(out_dir: str | Path, collections: Optional[Iterable[str]] = None, limit: Optional[int] = None,
                  jobs: int = 1, max_per_file: int = 40, timeout_s: int = 60) -> dict:
    """Write (part of) the music21 corpus to out_dir as MIDI; returns a summary that is also saved as JSON."""
    paths = corpus_paths(collections)  # a mistyped collection is refused before anything is written
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file, not a folder to write the corpus into; choose another --out.")
    out.mkdir(parents=True, exist_ok=True)
    if limit:
        # spread a limited export over the collections instead of taking the first one only
        step = max(len(paths) // limit, 1)
        paths = paths[::step][:limit]
    t0 = time.time()
    files: list[str] = []
    tasks = [(p, out, max_per_file, timeout_s) for p in paths]
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        def tqdm(x, **_):
            return x
    if jobs > 1:
        # workers ignore Ctrl-C and end with this process (killed, it cannot stop them); a worker that dies (the
        # out-of-memory killer) breaks the pool, said in one sentence (multiprocessing.Pool waited for it forever)
        ex = ProcessPoolExecutor(jobs, initializer=watch_parent, initargs=(os.getpid(),))
        try:
            for res in tqdm(ex.map(_export_one, tasks, chunksize=4), total=len(tasks), desc="corpus"):
                files += res
        except BrokenProcessPool:
            raise RuntimeError(f"A worker process ended unexpectedly (out of memory?) after {len(files):,} MIDI "
                               f"files; the files written are in {out}.") from None
        finally:
            _stop_now(ex)  # Ctrl-C: the workers' scores in hand (a minute each at most) are not waited for
    else:
        for t in tqdm(tasks, desc="corpus"):
            files += _export_one(t)
    summary = {"source": "music21 corpus", "works": len(paths), "midi_files": len(files),
               "seconds": round(time.time() - t0, 1)}
    (out / "corpus.json").write_text(json.dumps(summary, indent=2))
    return summary

"""The `index` and `search` commands: parsers built without importing torch, numpy or lancedb (hook 1 in
midi_rae.__main__.build_parser), and their runs (hook 2, dispatched lazily). The work is in midi_rae.index.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from .cli_types import MAX_JOBS, int_at_least
from .wording import error_line, printable
from .workers import stop_on_sigterm

PATCH_MAX = 16  # midi_rae.index.PATCH_MAX (repeated here so that building the parser imports nothing heavy)
BATCH = 32      # midi_rae.index.BATCH

__all__ = ["add_index_commands", "run_index_command"]


def _patch_arg(s: str) -> tuple[int, int]:
    try:
        r, c = (int(v) for v in s.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not ROW,COL (two whole numbers)") from None
    if r < 0 or c < 0:
        raise argparse.ArgumentTypeError(f"{s} has a negative row or column")
    return r, c


def _levels_arg(s: str) -> list[int]:
    if s.strip().lower() in ("", "none"):
        return []
    try:
        return sorted({int(v) for v in s.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a comma-separated list of levels") from None


_count = int_at_least(0)
MAX_INDEX_BATCH = 1024  # windows per encoder call: 100,000 took 4 GB on 300 small files, and no more speed past 32
MAX_ENCODERS = 64  # each encoding process holds torch and the model: ~400 MB
_pos_int = int_at_least(1)
MAX_K = 10_000  # results one search lists at most (lancedb refuses a limit past 2^31; no one reads 10,000 rows)


_patch_arg.__name__ = _levels_arg.__name__ = "int"


def add_index_commands(sub) -> None:
    """Register `index` and `search` on the CLI's subparsers (argparse only: nothing heavy is imported)."""
    pi = sub.add_parser("index", help="encode every MIDI/PNG file under some folders into a searchable index",
                        description="Encode every window of every MIDI file (or PNG piano roll) under the sources into "
                                    "a LanceDB index: pooled embeddings per level, coarse patch embeddings, note "
                                    "statistics and reconstruction F1. Re-running updates it incrementally.")
    pi.add_argument("sources", nargs="+", metavar="SOURCE", help="folders (searched recursively), files or globs")
    pi.add_argument("--out", required=True, metavar="DIR", help="the index folder (or s3://... URI) to write")
    pi.add_argument("--checkpoint", default=None, metavar="P", help="checkpoint file (default: the shipped one)")
    pi.add_argument("--decoder", default=None, metavar="P", help="a separate decoder checkpoint")
    pi.add_argument("--patch-levels", type=_levels_arg, default=None, metavar="K,K",
                    help=f"levels whose patch embeddings are stored (default: those of at most {PATCH_MAX} patches)")
    pi.add_argument("--jobs", type=int_at_least(0, MAX_JOBS), default=None, metavar="N",
                    help="parsing processes beside the encoding one (default: cores - 1, at least 1; 0 parses in turn)")
    pi.add_argument("--encoders", type=int_at_least(1, MAX_ENCODERS), default=None, metavar="N",
                    help="processes that run the model, one thread each (default: torch's thread count for a "
                         "compiled run, else 1: this process, with torch's threads)")
    pi.add_argument("--batch-size", type=int_at_least(1, MAX_INDEX_BATCH), default=BATCH, metavar="N",
                    help=f"windows per encoder call, at most {MAX_INDEX_BATCH} (default: %(default)s)")
    comp = pi.add_mutually_exclusive_group()
    comp.add_argument("--compile", dest="compile", action="store_true", default=None,
                      help="compile the model's step ahead of time (AOTInductor, ~2 min once per checkpoint, then "
                           "cached; default: when 20,000+ windows wait or this checkpoint's package is cached)")
    comp.add_argument("--no-compile", dest="compile", action="store_false", help="encode eagerly")
    pi.add_argument("--no-reconstruction", dest="reconstruction", action="store_false",
                    help="store no reconstruction F1 (the decoder is not run: about four times faster)")
    pi.add_argument("--flip-png", action="store_true", help="PNG images store the highest pitch in row 0")
    pi.add_argument("--sustain-pedal", action="store_true",
                    help="a note the sustain pedal holds sounds until the pedal lifts (default: as long as its key)")
    pi.add_argument("--rebuild", action="store_true", help="start the index afresh")
    pi.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                    help="run on a Ray cluster (needs the 'ray' extra): 'auto', an address, or 'local'")
    pi.add_argument("--json", action="store_true", help="print the run's summary as one JSON object")
    pi.add_argument("--quiet", action="store_true", help="no progress bar")

    ps = sub.add_parser("search", help="the passages of an index most similar to a bar of a MIDI file",
                        description="The passages of an index most similar (cosine) to the window starting at a bar of "
                                    "a MIDI file, at one level (pooled over its non-empty patches, or one patch).")
    ps.add_argument("index", metavar="DIR", help="an index folder made by 'midi-rae index'")
    ps.add_argument("--query", required=True, metavar="FILE", help="a .mid file (or a PNG piano roll)")
    ps.add_argument("--bar", type=_pos_int, default=None, metavar="B",
                    help="first bar of the query window (1-based; default: 1, or the first note's bar where the window "
                         "at bar 1 holds none, as the dashboard opens a piece)")
    ps.add_argument("--level", type=int, default=None, metavar="L",
                    help="level to compare at (default: the middle one, 3 of 6; with --patch, the finest level whose "
                         "patches the index stores)")
    ps.add_argument("--patch", type=_patch_arg, default=None, metavar="ROW,COL",
                    help="compare one patch of that level (row 0 = lowest pitches) instead of the whole window")
    ps.add_argument("--transposition-invariant", action="store_true",
                    help="also try the query transposed by -12..+12 semitones and report the interval found")
    ps.add_argument("-k", type=int_at_least(1, MAX_K), default=10,
                    help=f"results, at most {MAX_K:,} (default: %(default)s)")
    ps.add_argument("--exact", action="store_true", help="exact search even where an ANN index exists")
    ps.add_argument("--overlapping", action="store_true",
                    help="list every matching window, not one per passage (windows are cut a bar apart, so a passage "
                         "otherwise fills the list through its neighbouring windows)")
    ps.add_argument("--include-self", action="store_true",
                    help="keep the query's own passage where the query file is in the index (left out by default, "
                         "as the Corpus page leaves it: it would top the list at similarity 1)")
    ps.add_argument("--checkpoint", default=None, metavar="P",
                    help="the checkpoint the index was built with (default: the one it names)")
    ps.add_argument("--any-model", action="store_true",
                    help="search even with a checkpoint other than the index's (its similarities then compare two "
                         "models' embeddings)")
    ps.add_argument("--json", action="store_true", help="print one JSON object")


def _err(msg: str) -> int:
    print(error_line(msg), file=sys.stderr)
    return 1


def run_index_command(args: argparse.Namespace) -> int:
    """Run `index` or `search` (argparse namespace from add_index_commands)."""
    if args.cmd == "index":
        return _run_index(args)
    return _run_search(args)


def _run_index(a) -> int:
    from . import threads
    from .index import (build_index, check_before_load, checkpoint_of, discover, nothing_matched, unlisted,
                        unlisted_folders, unmatched)

    if a.checkpoint is None and a.decoder is None and not a.rebuild:
        # an update goes on with the index's own checkpoint, as `search` reads it (the shipped default was refused)
        a.checkpoint, a.decoder = checkpoint_of(a.out)
        if a.checkpoint is not None:
            print(f"note: updating with the checkpoint the index was built with, {a.checkpoint}.", file=sys.stderr)
    for p in (a.checkpoint, a.decoder):
        if p is not None and not Path(p).is_file():
            return _err(f"{p} does not exist.")
    files, missing = discover(a.sources)
    zips = [f for f in files if f.suffix.lower() == ".zip"]
    if zips:  # named on the command line (a folder's zips are not MIDI files and are passed over)
        return _err(f"{zips[0].name} is a zip archive: unzip it and index its folder (the Corpus page reads a zip "
                    f"dropped on it).")
    try:
        nothing_matched(files, missing)
    except ValueError as e:
        return _err(str(e))
    try:  # refused before torch loads (a Ray run always stores F1 where the checkpoint has a decoder)
        check_before_load(a.out, a.checkpoint, a.decoder, a.rebuild, a.reconstruction or a.ray is not None,
                          a.flip_png, a.patch_levels, a.sustain_pedal)
    except ValueError as e:
        return _err(str(e))
    threads.configure(sample=True)  # a long batch job: go by what is busy now, not a minute ago
    for m in missing:
        print(f"note: {unmatched(m)}.", file=sys.stderr)
    for folder in unlisted_folders(a.sources):
        print(f"note: {unlisted(folder)}.", file=sys.stderr)
    if a.ray is not None:
        from .index_ray import build_index_ray

        try:
            report = build_index_ray(files, a.out, a.checkpoint, a.decoder, address=a.ray, patch_levels=a.patch_levels,
                                     flip_png=a.flip_png, sustain_pedal=a.sustain_pedal, rebuild=a.rebuild,
                                     batch_size=a.batch_size,
                                     log=lambda s: print(s, file=sys.stderr))
        except ModuleNotFoundError as e:
            if e.name == "ray":
                return _err("--ray needs Ray, which is not installed: pip install 'midi-rae-explorer[ray]'.")
            raise
        except ConnectionError as e:
            return _err(f"no Ray cluster answered at {a.ray} ({e}); start one, or use --ray local.")
        except (ValueError, RuntimeError, OSError) as e:
            return _err(_store_error(a.out, e))
    else:
        stop_on_sigterm()
        try:
            report = build_index(a.sources, a.out, a.checkpoint, a.decoder, jobs=a.jobs, batch_size=a.batch_size,
                                 patch_levels=a.patch_levels, flip_png=a.flip_png, sustain_pedal=a.sustain_pedal,
                                 compile=a.compile,
                                 rebuild=a.rebuild, progress=not a.quiet, files=files, reconstruction=a.reconstruction,
                                 log=lambda s: print(s, file=sys.stderr), encoders=a.encoders)
        except (ValueError, RuntimeError, OSError) as e:
            return _err(_store_error(a.out, e))
    return print_report(report, a.json)


def print_report(report, as_json: bool = False) -> int:
    """Print an index run's summary line (or its JSON) and its failures; return the command's exit status."""
    from .wording import counted

    if as_json:
        print(json.dumps(report.as_dict()))
    elif report.unrecorded:
        stored = (f" after every piece of this run was stored ({counted(report.kept, 'piece')}, {report.windows:,} "
                  "windows)," if report.kept else "")
        print(f"{printable(report.out)}: interrupted{stored} before the update was recorded; run the same command "
              "again to finish it.")
    elif report.interrupted:
        print(f"{printable(report.out)}: interrupted; {counted(report.kept, 'piece')} of this run kept "
              f"({report.windows:,} windows); run the same command again to resume.")
    else:
        d = report.as_dict()
        print(f"{printable(report.out)}: {report.added} added, {report.updated} updated, {report.removed} removed, "
              f"{report.unchanged} unchanged, {len(report.failed)} failed; {report.windows:,} windows "
              f"({report.encoded:,} distinct, each encoded once) in {report.encode_seconds:.1f} s "
              f"({d['windows_per_s'] or 0:,} windows/s"
              f"{', compiled' if report.compiled else ''}); {report.seconds:.1f} s in all")
        for path, err in report.failed:
            print(f"  failed: {printable(path)}: {printable(err)}")  # a name's control characters as escapes
    if report.interrupted:
        return 130
    if report.failed and not (report.added or report.updated or report.unchanged):  # an index of nothing
        n = len(report.failed)
        return _err(f"{'its one file could not' if n == 1 else f'none of its {n:,} files could'} be read, so "
                    f"{report.out} holds no windows.")
    return 0


def disk_full(e: BaseException) -> bool:
    """Did `e` (or what it was raised from) come of a full disk?"""
    import errno

    while e is not None:
        if (isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT)) or \
                "no space left on device" in str(e).lower() or "os error 28" in str(e).lower():
            return True
        e = e.__cause__ or e.__context__
    return False


def _store_error(out: str, e: BaseException) -> str:
    """The one sentence for what building into `out` raised: ours as it is, lance's on a damaged folder or on an
    object store it could not reach named as such; anything else (a full disk: the command's own handler names it,
    the code's own errors) is raised again."""
    from .index_view import damaged_store, unreadable

    if disk_full(e):  # lance's writer says so in its own words, inside a RuntimeError or an OSError
        return (f"the disk holding {out} is full: free some space and run the same command again (the pieces "
                f"written so far are kept, and the run goes on from them).")
    lance = "lance" in str(e).lower() and isinstance(e, (RuntimeError, OSError, ValueError))
    if "://" in str(out) and lance:
        reason = str(e).strip().splitlines()[-1]
        reason = re.split(r",\s*/", reason)[0][:200]  # lance's messages end in the path of its Rust source
        return f"the store at {out} could not be opened ({reason.rstrip('.')})."
    if lance or (isinstance(e, ValueError) and damaged_store(e)):
        return str(unreadable(str(out), e))
    if isinstance(e, ValueError):
        return str(e)
    raise e


def _query(a, idx) -> tuple:
    """(the query's roll, the bar searched, a note or None) for `search`: the query read at the index's
    resolution, the level and patch checked against the index, and a bar past the query's last window start moved
    there (one rule with the piece page: no window starts where it would show bars of silence); ValueError or
    MidiError in one sentence."""
    from .index import read_as_indexed, search_level
    from .pianoroll import first_sounding_bar, start_bars

    level = search_level(idx.levels, idx.patch_levels, a.level, a.patch)
    if not 0 <= level < idx.levels:
        raise ValueError(f"--level {level} is outside the index's levels 0..{idx.levels - 1}.")
    rows, cols = idx.meta["grids"][level]
    if a.patch is not None and not (0 <= a.patch[0] < rows and 0 <= a.patch[1] < cols):
        raise ValueError(f"--patch {a.patch[0]},{a.patch[1]} is outside level {level}'s {rows}x{cols} grid.")
    roll = read_as_indexed(idx.meta, a.query)
    width = int(idx.meta.get("window_steps") or 128)
    last = start_bars(roll.steps, max(roll.steps_per_bar, 1), width)
    if a.bar is None:
        bar = first_sounding_bar(roll, width)
        return roll, bar, (None if bar == 1 else f"the window at bar 1 of {Path(a.query).name} holds no note: bar "
                                                 f"{bar}, whose window holds the first note, is searched.")
    if a.bar <= last:
        return roll, a.bar, None
    return roll, last, (f"bar {a.bar} is past the last bar a window of {Path(a.query).name} starts at (a window from "
                        f"there would hold bars of silence): bar {last} is searched.")


def _asked(a, idx) -> tuple | int:
    """`_query`'s (roll, bar, note), or the exit status of its one sentence (the query file named, as `inspect`
    names it)."""
    from .pianoroll import MidiError

    try:
        return _query(a, idx)
    except MidiError as e:
        return _err(f"{Path(a.query).name}: {e}")
    except ValueError as e:
        return _err(str(e))


def _run_search(a) -> int:
    from .index import CorpusIndex, checkpoint_key, content_hash, own_checkpoint, own_passages, search_level, search_passage
    from .index_view import IndexFacts, UnreadableIndex, damaged_store, snapshot_meta, unreadable
    from .wording import counted
    from .pianoroll import MidiError

    if not CorpusIndex.exists(a.index):
        inside = sorted(str(p) for p in Path(a.index).glob("*") if p.is_dir() and CorpusIndex.exists(p)) \
            if Path(a.index).is_dir() else []
        if inside:  # e.g. assets/corpus, which holds the shipped index in assets/corpus/index
            return _err(f"{a.index} is not an index, but {inside[0]} is: search that folder.")
        if not os.path.lexists(a.index):
            return _err(f"{a.index} does not exist.")
        return _err(f"{a.index} is not an index (make one with 'midi-rae index').")
    if not Path(a.query).is_file():
        return _err(f"{a.query} is a folder; --query takes one MIDI or PNG file." if Path(a.query).is_dir()
                    else f"{a.query} is not a regular file; --query takes one MIDI or PNG file."
                    if os.path.lexists(a.query)
                    else f"{a.query} does not exist.")
    asked = None  # (roll, bar, note) of the query
    meta = snapshot_meta(a.index)
    if meta is not None:  # what the query asks of the index, answered before lancedb and torch load (seconds)
        facts = IndexFacts()
        facts.uri, facts.meta = a.index, meta
        asked = _asked(a, facts)
        if isinstance(asked, int):
            return asked
    from . import threads
    from .checkpoint import load_model

    threads.configure(sample=True)  # a batch job: go by what is busy now, not a minute ago
    try:
        idx = CorpusIndex(a.index).check()
    except UnreadableIndex as e:
        return _err(str(e))
    listed = idx.count("pieces")
    if idx.count() == 0:  # a first run stopped before its first commit, or one that found no readable file
        return _err(f"{a.index} holds no windows: the {counted(listed, 'file')} it lists could not be read." if listed
                    else f"{a.index} holds no windows yet: run 'midi-rae index' into it (again) to fill it.")
    if listed == 0:  # windows whose pieces were never committed: a first run stopped (killed, a full disk)
        return _err(f"{a.index} holds only the half-written windows of a first run that did not finish: run the same "
                    f"'midi-rae index' command again to finish it.")
    if asked is None:  # no current snapshot: the index's own tables answer, still before the model loads
        asked = _asked(a, idx)
        if isinstance(asked, int):
            return asked
    roll, bar, note = asked
    if note:
        print(f"note: {note}", file=sys.stderr)
    ckpt, dec = (a.checkpoint, None) if a.checkpoint is not None else own_checkpoint(idx.meta)
    bundle = load_model(ckpt, decoder=dec)
    if idx.meta.get("checkpoint_key") not in (checkpoint_key(bundle, ckpt, dec), checkpoint_key(bundle, ckpt, None)):
        why = (f"{ckpt} is not the checkpoint {a.index} was built with ({idx.meta.get('checkpoint')})"
               if a.checkpoint is not None else
               f"{a.index} was built with {idx.meta.get('checkpoint')}, which is not on this machine" if ckpt is None
               else f"{ckpt} is no longer the file {a.index} was built with (changed since, or its decoder is gone)")
        if not a.any_model:
            return _err(f"{why}: another model's embeddings lie in another space, so its similarities would mean "
                        f"nothing; pass that checkpoint with --checkpoint (or --any-model to search anyway).")
        print(f"note: {why}; the similarities compare two models' embeddings.", file=sys.stderr)
    own = [] if a.include_self else own_passages(idx, content_hash(Path(a.query).read_bytes()),
                                                 (bar - 1) * max(roll.steps_per_bar, 1))
    if own:
        print("note: the query's own passage is in the index and left out (--include-self keeps it).",
              file=sys.stderr)
    try:
        hits = search_passage(idx, roll, bar, a.level, a.patch, a.transposition_invariant, a.k, bundle=bundle,
                              exact=True if a.exact else None, distinct=not a.overlapping, avoid=own)
    except MidiError as e:  # the query file: named, as `inspect` names it
        return _err(f"{Path(a.query).name}: {e}")
    except (ValueError, RuntimeError, OSError) as e:  # lance on a table whose data files are damaged, or ours
        return _err(str(unreadable(a.index, e)) if damaged_store(e) else str(e))
    level = search_level(idx.levels, idx.patch_levels, a.level, a.patch)
    if a.json:
        print(json.dumps({"query": a.query, "bar": bar, "level": level, "patch": a.patch,
                          "transposition_invariant": a.transposition_invariant,
                          "hits": [h.as_dict() for h in hits]}))
        return 0
    from .pianoroll import note_name

    print(f"{len(hits)} most similar passages at level {level}" + (f", patch {a.patch}" if a.patch else "") + ":")
    for i, h in enumerate(hits, 1):
        pr = f"{note_name(h.pitch_lo)}–{note_name(h.pitch_hi)}" if h.pitch_lo >= 0 else "silent"
        iv = f"  transposed {h.interval:+d}" if a.transposition_invariant else ""
        print(f"{i:>3}. {h.similarity:.4f}  {h.collection}/{h.piece}  {h.place()}  {pr}{iv}")
    return 0

"""The command line: python -m midi_rae {inspect, train, corpus, evaluate, bench, report, app, fuzz, ablate, phrases}.

Conventions, the same in every command:
- building the parsers imports no torch, numpy or plotly: `--help` of every command answers at once;
- every argument has help text;
- a usage error (a malformed or out-of-range argument) prints one line `error: ...` on stderr and exits 2;
- a runtime error a person can cause (a missing or unreadable file, a bad checkpoint, a missing extra) prints
  one line `error: ...` on stderr and exits 1; tracebacks are left for bugs;
- a command that finished exits at once (`run`): Python's teardown of torch's modules would add ~1 s to each.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Callable, NoReturn, Optional

from . import __version__
from .cli_types import MAX_BENCH_MINUTES, MAX_JOBS, int_at_least, positive, positive_at_most, ratio, seed
from .inspect import _print_inspect, inspect_file  # noqa: F401 (torch-free module; re-exported for old callers)
from .train_config import EVALUATION_SEED, ConfigError, add_arguments as add_train_arguments
from .wording import counted, error_line, printable

USAGE, RUNTIME = 2, 1

# what `midi-rae app` passes to streamlit unless the command line names the same option (streamlit reads
# .streamlit/config.toml only from the working directory or ~/.streamlit, so an installed package says it here)
STREAMLIT_DEFAULTS = {
    "server.maxUploadSize": "64",
    "server.headless": "true",
    "server.runOnSave": "false",
    "server.fileWatcherType": "none",
    "runner.postScriptGC": "false",
    "global.maxCachedMessageAge": "20",
    "browser.gatherUsageStats": "false",
    "client.toolbarMode": "viewer",
    "client.showErrorDetails": "none",
    "theme.light.primaryColor": "#2c7fb8",
    "theme.dark.primaryColor": "#4f9fd6",
}


def _die(msg: str, code: int = USAGE) -> NoReturn:
    print(error_line(msg), file=sys.stderr)
    raise SystemExit(code)


class _Parser(argparse.ArgumentParser):
    """argparse with the project's error convention: one `error: ...` line on stderr, exit 2."""

    def error(self, message: str) -> NoReturn:
        _die(f"{self.prog}: {message} (see '{self.prog} --help')", USAGE)




# ---------------------------------------------------------------- parsers

def _model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None, metavar="P", help="checkpoint file (default: the shipped one)")
    p.add_argument("--decoder", default=None, metavar="P", help="a separate decoder checkpoint")


def _mask_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mask-ratio", type=ratio, default=0.5, metavar="R",
                   help="share of non-empty patches masked, in [0, 1] (default: %(default)s)")
    p.add_argument("--empty-mask-ratio", type=ratio, default=None, metavar="E",
                   help="empty patches are masked at this times the mask ratio, in [0, 1] (default: the checkpoint's)")
    p.add_argument("--seed", type=int_at_least(0, 2 ** 63 - 1), default=0,
                   help="seed of the random mask (default: %(default)s)")
    p.add_argument("--steps-per-beat", type=int_at_least(1, 48), default=None, metavar="N",
                   help="time resolution (default: the checkpoint's, or 4 for original-format checkpoints)")
    p.add_argument("--sustain-pedal", action="store_true",
                   help="a note the sustain pedal holds sounds until the pedal lifts (default: as long as its key)")
    p.add_argument("--threshold", type=ratio, default=None, metavar="T",
                   help="binarization threshold in [0, 1] (default: the checkpoint's)")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; imports nothing heavy."""
    p = _Parser(prog="midi-rae", description="Look inside hierarchical Swin V2 piano-roll autoencoders.")
    p.add_argument("--version", action="version", version=f"midi-rae {__version__}", help="print the version and exit")
    sub = p.add_subparsers(dest="cmd", required=True, metavar="COMMAND")

    pi = sub.add_parser("inspect", help="per-level statistics and reconstruction scores of a MIDI file",
                        description="Per-level statistics and reconstruction scores of a MIDI file (or a PNG piano "
                                    "roll) under a checkpoint.")
    pi.add_argument("file", help="a .mid/.midi file, or a grayscale PNG piano roll (128 rows, row 0 the lowest pitch)")
    pi.add_argument("--flip-png", action="store_true", help="a PNG stores the highest pitch in row 0")
    _model_arguments(pi)
    _mask_arguments(pi)
    pi.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    pt = sub.add_parser("train", help="train an encoder + decoder on a folder of MIDI files",
                        description="Train an encoder + decoder on a folder of MIDI files (runs on CPU or CUDA, "
                                    "alone or under torchrun).")
    add_train_arguments(pt)

    pc = sub.add_parser("corpus", help="write the music21 corpus as MIDI files (needs the 'train' extra)",
                        description="Write the music21 corpus as MIDI files "
                                    "(needs music21: pip install 'midi-rae-explorer[train]').")
    pc.add_argument("--out", required=True, metavar="DIR", help="folder to write the MIDI files to")
    pc.add_argument("--collections", nargs="*", default=None, metavar="NAME",
                    help="e.g. bach palestrina (default: all)")
    pc.add_argument("--limit", type=int_at_least(1), default=None, metavar="N",
                    help="at most this many corpus files, spread over collections")
    pc.add_argument("--jobs", type=int_at_least(1, MAX_JOBS), default=1, metavar="N",
                    help=f"worker processes, at most {MAX_JOBS} (default: %(default)s)")
    pc.add_argument("--max-per-file", type=int_at_least(1), default=40, metavar="N",
                    help="scores taken from a multi-tune file (default: %(default)s)")
    pc.add_argument("--timeout", type=int_at_least(1), default=60, metavar="S",
                    help="seconds one corpus file may take to parse and write before it is skipped (default: %(default)s)")

    pe = sub.add_parser("evaluate", help="reconstruction F1 (unmasked and masked) over MIDI files or folders",
                        description="Reconstruction F1 (unmasked and masked) over MIDI files or folders.")
    pe.add_argument("paths", nargs="+", metavar="PATH", help="MIDI files or folders (searched recursively)")
    _model_arguments(pe)
    pe.add_argument("--mask-ratio", type=ratio, default=0.5, metavar="R",
                    help="share of non-empty patches masked, in [0, 1] (default: %(default)s)")
    pe.add_argument("--max-windows", type=int_at_least(1), default=2000, metavar="N",
                    help="score at most this many windows (default: %(default)s)")
    pe.add_argument("--only", default=None, metavar="FILE",
                    help="a text file of file names to keep (e.g. a run's held-out list)")
    pe.add_argument("--split", choices=("all", "test", "validation"), default="all",
                    help="keep only the files of the checkpoint's recorded test or validation split "
                         "(default: %(default)s)")
    pe.add_argument("--threshold", type=ratio, default=None, metavar="T",
                    help="binarization threshold (default: the checkpoint's, chosen on validation, else 0.5)")
    pe.add_argument("--seed", type=seed, default=EVALUATION_SEED, metavar="S",
                    help="the masks' random seed, drawn over all scored windows in one stream (default: "
                         "%(default)s, the model cards' figures; inspect, ablate, the report, the index and the "
                         "dashboard draw each window's own mask with seed 0, so their masked F1 differs from this "
                         "by the luck of the masks)")
    pe.add_argument("--json", action="store_true", help="print one JSON object")

    pb = sub.add_parser("bench", help="time the core on a long synthetic piece (speed and memory)",
                        description="Time the core on a long synthetic piece (speed and memory).")
    pb.add_argument("--checkpoint", default=None, metavar="P", help="checkpoint file (default: the shipped one)")
    pb.add_argument("--decoder", default=None, metavar="P", help="a separate decoder checkpoint")
    pb.add_argument("--minutes", type=positive_at_most(MAX_BENCH_MINUTES), default=10.0, metavar="M",
                    help=f"length of the synthetic piece in minutes, above 0 and at most {MAX_BENCH_MINUTES:g} (the "
                         f"longest piece a roll holds at its 120 BPM; a piece has at least one bar) "
                         f"(default: %(default)s)")
    pb.add_argument("--json", action="store_true", help="print one JSON object")

    pr = sub.add_parser("report", help="one self-contained HTML report of a MIDI file under a checkpoint",
                        description="One self-contained HTML report of a MIDI file under a checkpoint.")
    pr.add_argument("file", help="a .mid/.midi file")
    pr.add_argument("-o", "--out", required=True, metavar="HTML", help="the HTML file to write")
    _model_arguments(pr)
    _mask_arguments(pr)
    pr.add_argument("--start-bar", type=int_at_least(1), default=None, metavar="N",
                    help="first bar of the window studied in detail (default: 1, or the first note's bar where the "
                         "window at bar 1 holds none, as the dashboard opens a piece)")

    pa = sub.add_parser("app", help="start the Streamlit dashboard",
                        description="Start the Streamlit dashboard (python -m streamlit run .../dashboard/main.py). "
                                    "Arguments go to streamlit run; those after -- go to the page, e.g. "
                                    "midi-rae app --server.port 8600 -- --checkpoints /path/to/ckpts")
    pa.add_argument("streamlit_args", nargs=argparse.REMAINDER, metavar="ARG",
                    help="options for streamlit run (e.g. --server.port 8600), then -- and the page's own options")

    pf = sub.add_parser("fuzz", help="mutate real MIDI files and report crashes, slow inputs and peak memory",
                        description="Mutate real MIDI files and report crashes, slow inputs and peak memory.")
    pf.add_argument("paths", nargs="*", metavar="PATH", help="MIDI files or folders to mutate (default: the examples)")
    pf.add_argument("--count", type=int_at_least(1), default=10000, metavar="N",
                    help="mutated inputs to try (default: %(default)s)")
    pf.add_argument("--seed", type=int_at_least(0, 2 ** 63 - 1), default=0, help="random seed (default: %(default)s)")
    pf.add_argument("--json", action="store_true", help="print one JSON object")
    pf.add_argument("--checkpoints", action="store_true",
                    help="load 100+ crafted hostile checkpoints instead of mutating MIDI files")
    pf.add_argument("--slow", type=positive, default=2.0, help="seconds past which an input counts as slow (default 2)")
    pf.add_argument("--save", default=None, metavar="DIR", help="a folder to write crashing MIDI inputs to")
    pf.add_argument("--quiet", action="store_true", help="no progress on stderr")

    from .index_cli import add_index_commands  # the corpus index: `index` and `search` (torch-free parsers)

    add_index_commands(sub)

    pab = sub.add_parser("ablate", help="which levels the decoder uses: F1 lost when each level is ablated",
                         description="Replace one level's embeddings at a time (by their mean over the piece's "
                                     "windows, or by the least similar window's), decode the piece again and report "
                                     "the F1 it loses, unmasked and on the masked pixels.")
    pab.add_argument("file", help="a .mid/.midi file")
    _model_arguments(pab)
    _mask_arguments(pab)
    pab.add_argument("--mode", choices=("mean", "other"), default="mean",
                     help="mean: each patch's mean over the piece's windows; other: the level of the window least "
                          "like each window by pooled cosine at that level (default: %(default)s)")
    pab.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    pph = sub.add_parser("phrases", help="phrase probe: per-level novelty boundaries scored against phrase ends",
                         description="Per level, boundaries from the novelty of consecutive frames' self-similarity "
                                     "(Foote's checkerboard kernel), scored against phrase ends. Without FILES: the "
                                     "shipped labelled Bach chorales (phrase ends = fermatas).")
    pph.add_argument("files", nargs="*", metavar="FILE",
                     help="MIDI files to probe (default: score the shipped labelled chorales)")
    pph.add_argument("--checkpoint", default=None, metavar="P", help="checkpoint file (default: the shipped one)")
    pph.add_argument("--tolerance-bars", type=positive, default=1.0, metavar="B",
                     help="a boundary within B bars of a phrase end is a hit (default: %(default)s)")
    pph.add_argument("--frames", choices=("columns", "windows"), default="columns",
                     help="columns: each level's patch columns; windows: whole windows (default: %(default)s)")
    pph.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    return p


# ---------------------------------------------------------------- commands

def _need_file(path: Optional[str], what: str = "") -> None:
    if path is not None and not Path(path).exists():
        from .file_limits import unmatched

        _die(f"{what}{unmatched(path)}.", RUNTIME)


def _need_piece(path: str) -> None:
    """The piece a command reads is a file, said before the model is loaded (4–6 s and ~900 MB for a folder)."""
    _need_file(path)
    p = Path(path)
    if p.is_dir():
        _die(f"{path} is a folder, not a MIDI file or PNG piano roll.", RUNTIME)
    if not p.is_file():
        from .file_limits import unmatched

        _die(f"{unmatched(path)}.", RUNTIME)


def _piece_first(a: argparse.Namespace, flip: bool = False):
    """The piece a command studies, read before torch and the model load (4–6 s and ~900 MB), so that a file that
    cannot be used is told at once; at the resolution the checkpoint's header names (None for an original-format
    .pt, which names it only once loaded: its piece is read after)."""
    _need_piece(a.file)
    _need_file(a.checkpoint, "--checkpoint ")
    _need_file(a.decoder, "--decoder ")
    from .checkpoint_meta import peek_model_config

    cfg, _ = peek_model_config(a.checkpoint)  # a header the loader would refuse: its sentence now, before torch
    spb = a.steps_per_beat or (cfg.steps_per_beat if cfg is not None else None)
    if spb is None:
        return None
    from .png_rolls import read_roll

    return read_roll(a.file, steps_per_beat=spb, flip=flip, sustain_pedal=a.sustain_pedal)


def _cmd_inspect(a: argparse.Namespace) -> int:
    roll = _piece_first(a, flip=a.flip_png)
    if a.flip_png:
        from .png_rolls import holds_png

        if not holds_png(a.file):
            print(f"note: --flip-png turns PNG piano rolls the other way up; {Path(a.file).name} is no PNG image, so "
                  f"it is read as it is.", file=sys.stderr)
    r = inspect_file(a.file, a.checkpoint, a.decoder, a.mask_ratio, a.empty_mask_ratio, a.seed,
                     a.steps_per_beat, a.threshold, flip_png=a.flip_png, sustain_pedal=a.sustain_pedal, roll=roll)
    if a.json:
        print(json.dumps(r))
    else:
        _print_inspect(r)
    return 0


def _cmd_train(a: argparse.Namespace) -> int:
    from .train_config import config_from_args

    try:
        cfg = config_from_args(a)
    except ConfigError as e:
        _die(str(e), USAGE if e.usage else RUNTIME)
    if not Path(cfg.midi_dir).is_dir():
        _die(f"--midi-dir {cfg.midi_dir} is not a folder.", RUNTIME)
    from .train import train
    from .workers import stop_on_sigterm

    started = time.time()
    stop_on_sigterm()  # `kill` is answered as Ctrl-C is, with where the run goes on from
    try:
        train(cfg)
    except KeyboardInterrupt:
        last = Path(cfg.out) / "last.safetensors"
        saved = last.is_file() and last.stat().st_mtime >= started  # this run's, not an earlier run's in the folder
        if saved:
            said = (f"interrupted; the run goes on from its last saved step ({last}, every --ckpt-every steps) with "
                    f"--resume {cfg.out}.")
        elif cfg.resume and last.is_file():  # the resumed run's own checkpoint is as it was
            said = (f"interrupted before this process saved a checkpoint; the run's last one ({last}) is as it was: "
                    f"--resume {cfg.out} goes on from it.")
        else:
            said = "interrupted before this run saved a checkpoint."
        print(f"error: {said}", file=sys.stderr)
        return 130
    return 0


def _cmd_corpus(a: argparse.Namespace) -> int:
    if importlib.util.find_spec("music21") is None:
        _die("the corpus command needs music21, which is not installed: pip install 'midi-rae-explorer[train]'.",
             RUNTIME)
    from .corpus import export_corpus

    try:
        print(json.dumps(export_corpus(a.out, a.collections, a.limit, a.jobs, a.max_per_file, a.timeout)))
    except ValueError as e:
        _die(str(e), USAGE)
    except RuntimeError as e:  # a worker lost
        _die(str(e), RUNTIME)
    except KeyboardInterrupt:
        print(error_line(f"interrupted; the MIDI files written so far are in {a.out} (a run again writes every file "
                         f"anew)."), file=sys.stderr)
        return 130
    return 0


def _check_evaluate(a: argparse.Namespace) -> None:
    for p in a.paths:
        _need_file(p)
    _need_file(a.checkpoint, "--checkpoint ")
    _need_file(a.decoder, "--decoder ")
    if a.only is not None and not Path(a.only).is_file():
        _die(f"--only {a.only} is a folder; it takes a text file of file names, one a line." if Path(a.only).is_dir()
             else f"--only {a.only} does not exist.", RUNTIME)


def _cmd_evaluate(a: argparse.Namespace) -> int:
    """Score a checkpoint on MIDI files at its stored validation threshold (or --threshold); no tuning here."""
    _check_evaluate(a)
    from .checkpoint import load_model
    from .evaluation import evaluate_files, select_files

    bundle = load_model(a.checkpoint, decoder=a.decoder)
    if bundle.decoder is None:
        _die(f"{Path(a.checkpoint).name if a.checkpoint else 'The checkpoint'} has no decoder, so there is nothing "
             "to evaluate (pass --decoder FILE).", RUNTIME)
    try:
        files = select_files(a.paths, a.split, bundle.meta, a.only,
                             Path(a.checkpoint).name if a.checkpoint else "the shipped default")
        if not files:
            where = a.paths[0] if len(a.paths) == 1 else f"the {len(a.paths)} paths given"
            _die(f"no MIDI files to evaluate in {where}"
                 + ("" if a.split == "all" else f" that are in the checkpoint's {a.split} split")
                 + ("" if a.only is None else f"{' and' if a.split != 'all' else ''} that --only {a.only} names")
                 + ".", RUNTIME)
        r = evaluate_files(bundle, files, a.threshold, a.mask_ratio, a.max_windows, seed=a.seed)
    except ValueError as e:
        _die(str(e), RUNTIME)
    r = {"checkpoint": bundle.source, "split": a.split, **r}
    if a.json:
        print(json.dumps(r))
        return 0
    fmt = lambda v: "n/a" if v is None else f"{v:.4f}"  # noqa: E731
    source = {"checkpoint": "the checkpoint's, chosen on validation", "argument": "from --threshold",
              "default": "the default; the checkpoint stores none"}[r["threshold_source"]]
    print(f"{r['readable']} of {counted(r['files'], 'file')} read, {counted(r['windows'], 'window')}; threshold "
          f"{r['threshold']} ({source}); mask seed {r['seed']}")
    for key, label in (("plain", "unmasked"), ("masked", f"masked ({a.mask_ratio})")):
        m = r[key]
        print(f"  {label:<14} F1 {fmt(m['f1'])}  precision {fmt(m['precision'])}  recall {fmt(m['recall'])}")
    print(f"  bridge baseline on the same masked pixels: F1 {fmt(r['bridge_baseline_masked_f1'])}")
    if r["skipped"]:
        print(f"{len(r['skipped'])} file{'s' if len(r['skipped']) > 1 else ''} could not be read:")
        for path, why in r["skipped"].items():
            print(f"  {path}: {why}")
    return 0


def _cmd_bench(a: argparse.Namespace) -> int:
    _need_file(a.checkpoint, "--checkpoint ")
    _need_file(a.decoder, "--decoder ")
    from .bench import main as bench_main

    bench_main(a.checkpoint, a.minutes, a.json, a.decoder)
    return 0


def _cmd_report(a: argparse.Namespace) -> int:
    roll = _piece_first(a)
    out_path = Path(a.out)
    for name, given in (("the MIDI file", a.file), ("--checkpoint", a.checkpoint), ("--decoder", a.decoder)):
        if given is not None and out_path.exists() and Path(given).exists() and os.path.samefile(out_path, given):
            _die(f"-o {a.out} is {name} the report reads; name another file for the HTML.", USAGE)
    from .report import write_report

    made = next((str(d) for d in reversed(Path(a.out).resolve().parents) if not d.exists()), None)
    notes: list[str] = []
    if sys.stderr.isatty():  # a long piece takes ten seconds and more: say what is going on (a person is watching)
        print(f"Writing the report of {a.file}: every window scored, each level ablated and the phrase probe run…",
              file=sys.stderr, flush=True)
    out = write_report(a.out, a.file, checkpoint=a.checkpoint, decoder=a.decoder, mask_ratio=a.mask_ratio,
                       empty_mask_ratio=a.empty_mask_ratio, seed=a.seed, start_bar=a.start_bar,
                       steps_per_beat=a.steps_per_beat, threshold=a.threshold, notes=notes,
                       sustain_pedal=a.sustain_pedal, roll=roll)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {printable(str(out))}" + (f" (the folder {printable(str(made))} did not exist: it was made for it)"
                                            if made else ""))
    return 0


def dashboard_script() -> Path:
    """The Streamlit script of the installed dashboard."""
    return Path(__file__).resolve().parent / "dashboard" / "main.py"


def streamlit_command(args: list[str]) -> list[str]:
    """`python -m streamlit run` of the dashboard with `args` (streamlit options, then -- and the page's options),
    adding STREAMLIT_DEFAULTS for the options `args` does not set."""
    cut = args.index("--") if "--" in args else len(args)
    options, page_args = args[:cut], args[cut + 1:]
    given = {o[2:].split("=", 1)[0] for o in options if o.startswith("--")}
    defaults = [f"--{k}={v}" for k, v in STREAMLIT_DEFAULTS.items() if k not in given]
    return [sys.executable, "-m", "streamlit", "run", *defaults, *options, str(dashboard_script()),
            *(["--", *page_args] if page_args else [])]


def _cmd_app(args: list[str]) -> int:
    import os
    import subprocess

    if importlib.util.find_spec("streamlit") is None:
        _die("the app command needs streamlit, which is not installed: pip install midi-rae-explorer.", RUNTIME)
    if not dashboard_script().is_file():
        _die(f"the dashboard is not installed ({dashboard_script()} is missing).", RUNTIME)
    cmd = streamlit_command(args)
    if os.name == "posix":  # streamlit takes this process's place: signals (Ctrl-C, a service stop) reach it
        sys.stdout.flush()
        os.execv(cmd[0], cmd)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 130


def _cmd_ablate(a: argparse.Namespace) -> int:
    roll = _piece_first(a)
    from .ablation import cli

    return cli(a, roll)


def _cmd_phrases(a: argparse.Namespace) -> int:
    for f in a.files:
        _need_file(f)
    _need_file(a.checkpoint, "--checkpoint ")
    from .phrases import cli

    return cli(a)


def _cmd_fuzz(a: argparse.Namespace) -> int:
    try:
        from .fuzz import main as fuzz_main
    except ModuleNotFoundError as e:
        if e.name != f"{__package__}.fuzz":
            raise
        _die("the fuzz command is not part of this installation.", RUNTIME)
    argv = [*a.paths, "--count", str(a.count), "--seed", str(a.seed), "--slow", str(a.slow)]
    argv += [flag for flag, on in (("--json", a.json), ("--checkpoints", a.checkpoints), ("--quiet", a.quiet)) if on]
    argv += ["--save", a.save] if a.save else []
    return int(fuzz_main(argv) or 0)


def _cmd_index(a: argparse.Namespace) -> int:
    from .index_cli import run_index_command  # `index` and `search`, loaded only when run

    return run_index_command(a)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "inspect": _cmd_inspect, "train": _cmd_train, "corpus": _cmd_corpus, "evaluate": _cmd_evaluate,
    "bench": _cmd_bench, "report": _cmd_report, "fuzz": _cmd_fuzz,
    "ablate": _cmd_ablate, "phrases": _cmd_phrases, "index": _cmd_index, "search": _cmd_index,
}


def _user_error(e: BaseException) -> bool:
    """Is `e` an error a person caused (bad MIDI, bad checkpoint) rather than a bug?"""
    from .checkpoint_meta import CheckpointError

    if isinstance(e, CheckpointError):
        return True
    pianoroll = sys.modules.get(f"{__package__}.pianoroll")  # loaded if it raised
    return pianoroll is not None and isinstance(e, pianoroll.MidiError)


def _joined_negative_values(argv: list[str], options: tuple[str, ...] = ("--patch",)) -> list[str]:
    """`--patch -1,0` as `--patch=-1,0`: argparse takes a value that starts with "-" (and is not a plain number) for
    an option and answers "expected one argument"; joined, the value reaches its own check and sentence."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in options and i + 1 < len(argv) and re.match(r"-\d", argv[i + 1]):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
            continue
        out.append(argv[i])
        i += 1
    return out


def _stdout_gone() -> bool:
    """Has the reader of our standard output gone? (What was left in the buffer may have been written away by the
    failed write itself, so a second flush can succeed: the pipe is asked instead.)"""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        return True
    except (OSError, ValueError):
        return False
    try:
        import select

        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poll.poll(0))
    except (OSError, ValueError, AttributeError):  # no poll (Windows), or no file behind stdout
        return False


def main(argv: Optional[list[str]] = None) -> int:
    """Entry point of the midi-rae command."""
    argv = _joined_negative_values(list(sys.argv[1:] if argv is None else argv))
    p = build_parser()
    if argv[:1] == ["app"]:  # everything after `app` belongs to streamlit, unless it asks for our help
        rest = argv[1:]
        head = rest[:rest.index("--")] if "--" in rest else rest
        if "-h" in head or "--help" in head:
            p.parse_args(["app", "--help"])
        return _cmd_app(rest)
    a = p.parse_args(argv)
    if a.cmd == "app":  # `midi-rae --flag app ...`: not reached with today's top-level flags
        return _cmd_app(a.streamlit_args)
    try:
        return COMMANDS[a.cmd](a)
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError as e:
        if _stdout_gone():  # `midi-rae search ... | head`: the reader has all it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error as Python exits
            return 0
        _die(f"{e.strerror or e}.", RUNTIME)  # another pipe than our output: a real error
    except FileNotFoundError as e:
        _die(f"{e.filename or e} does not exist.", RUNTIME)
    except (IsADirectoryError, PermissionError) as e:
        _die(f"{e.filename or e}: {e.strerror or e}.", RUNTIME)
    except OSError as e:  # a full disk, a file where a folder is wanted, ...: what and where, in one line
        _die(f"{e.filename}: {e.strerror}." if e.filename and e.strerror else f"{e.strerror or e}.", RUNTIME)
    except Exception as e:
        if _user_error(e):
            file = getattr(e, "file", None)  # a MIDI file read from a path: say which
            _die(f"{file}: {e}" if file else str(e), RUNTIME)
        raise


def run() -> NoReturn:
    """The `midi-rae` command: main(), then an exit without the interpreter's teardown of its modules.

    Once torch and timm are imported, Python's own exit spends ~1 s tearing their modules down (measured: 1.1 s
    after an import of both and nothing else, 1.3 s after an index of 40 files), after every result is written and
    printed: a search answers in milliseconds and then waited a second. Exit handlers still run, and the threads
    Python would wait for are waited for the usual way; an error's exit (SystemExit) is left as it was.
    """
    code = main()
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.current_thread()):
        sys.exit(code)  # a thread Python would wait for: the ordinary exit waits for it
    import atexit

    atexit._run_exitfuncs()  # multiprocessing's children, temporary folders: what the ordinary exit runs first
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that left (`| head`), a stream already closed
            pass
        except OSError as e:  # the output's last part not written (a full disk): said, not exit 0
            os.write(2, f"error: {e.strerror or e}.\n".encode())
            os._exit(RUNTIME)
    os._exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    run()

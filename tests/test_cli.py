"""The command line: inspect's report and its JSON; help without torch; one convention for errors
(usage errors exit 2, runtime errors exit 1, each one line `error: ...` on stderr)."""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request

import pytest

from conftest import FIXTURES, ROOT, make_song, needs_fixtures, run_without_torch, to_bytes
from midi_rae.__main__ import STREAMLIT_DEFAULTS, build_parser, dashboard_script, streamlit_command

COMMANDS = ["inspect", "train", "corpus", "evaluate", "bench", "report", "app", "fuzz", "index", "search", "ablate",
            "phrases"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midi_rae", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def cli_without_torch(*args: str, block: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The CLI in a fresh interpreter where importing torch (and the modules in `block`) fails."""
    blocked = "".join(f"sys.modules[{m!r}] = None; " for m in block)
    return run_without_torch(f"{blocked}from midi_rae.__main__ import main; sys.exit(main({list(args)!r}))")


def one_error_line(out: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line of a failed command (nothing on stdout, nothing else on stderr)."""
    lines = out.stderr.strip().splitlines()
    assert out.stdout == "" and len(lines) == 1 and lines[0].startswith("error: "), (out.stdout, out.stderr)
    return lines[0]


@pytest.fixture
def song(tmp_path):
    p = tmp_path / "song.mid"
    p.write_bytes(to_bytes(make_song(bars=40, seed=4)))
    return p


@needs_fixtures()
def test_inspect_json_lists_levels_coarsest_first_and_reconstruction(song):
    out = run_cli("inspect", str(song), "--checkpoint", str(FIXTURES / "six-level" / "SwinEncoder__best.pt"),
                  "--decoder", str(FIXTURES / "six-level" / "SwinDecoder__best.pt"), "--mask-ratio", "0.5",
                  "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert [lv["grid"] for lv in r["levels"]] == [[1, 1], [2, 2], [4, 4], [8, 8], [16, 16], [32, 32]]
    assert [lv["dim"] for lv in r["levels"]] == [256, 128, 64, 32, 16, 8]
    assert r["levels"][0]["non_empty_mean"] == 1.0
    # the dashboard's rule: 40 bars x 16 steps = 640 steps, windows of 128 one bar apart = 33 windows
    assert r["windows"] == 33 and r["window_hop_steps"] == 16
    rec = r["reconstruction"]
    assert set(rec["masked"]) == {"precision", "recall", "f1", "specificity"}
    assert set(rec) >= {"masked", "all", "unmasked", "mask_ratio", "seed"}
    assert 0 < rec["masked_patches"] < rec["patches"] == 33 * 1024


@needs_fixtures()
def test_inspect_is_reproducible_for_a_seed(song):
    args = ("inspect", str(song), "--checkpoint", str(FIXTURES / "six-level" / "SwinEncoder__best.pt"),
            "--decoder", str(FIXTURES / "six-level" / "SwinDecoder__best.pt"), "--seed", "5", "--json")
    a, b = json.loads(run_cli(*args).stdout), json.loads(run_cli(*args).stdout)
    assert a["reconstruction"] == b["reconstruction"]


@needs_fixtures()
def test_inspect_encoder_only_reports_no_reconstruction(song):
    out = run_cli("inspect", str(song), "--checkpoint", str(FIXTURES / "seven-level" / "SwinEncoder__best.pt"),
                  "--json")
    r = json.loads(out.stdout)
    assert len(r["levels"]) == 7 and r["reconstruction"] is None


@needs_fixtures()
def test_the_benchs_piece_has_at_least_one_bar_however_few_minutes_are_asked():
    import io

    import pretty_midi

    from midi_rae.bench import long_piece

    pm = pretty_midi.PrettyMIDI(io.BytesIO(long_piece(0.001)))
    assert pm.get_end_time() == pytest.approx(2.0) and sum(len(i.notes) for i in pm.instruments) > 0


def test_bench_takes_a_separate_decoder_and_says_when_there_is_none():
    six = FIXTURES / "six-level"
    out = json.loads(run_cli("bench", "--minutes", "0.2", "--checkpoint", str(six / "SwinEncoder__best.pt"),
                             "--decoder", str(six / "SwinDecoder__best.pt"), "--json").stdout)
    assert out["analyse_one_window_ms"] > 0 and out["score_all_windows_s"] > 0
    text = run_cli("bench", "--minutes", "0.2", "--checkpoint", str(six / "SwinEncoder__best.pt")).stdout
    assert "analyse_one_window_ms  n/a (no decoder)" in text and "nan" not in text


@needs_fixtures()
def test_inspect_table_is_readable(song):
    out = run_cli("inspect", str(song), "--checkpoint", str(FIXTURES / "six-level" / "SwinEncoder__best.pt"),
                  "--decoder", str(FIXTURES / "six-level" / "SwinDecoder__best.pt"))
    assert out.returncode == 0
    assert "32x32" in out.stdout and "masked patches" in out.stdout
    header = next(line for line in out.stdout.splitlines() if line.split()[:1] == ["level"])
    assert "patch (semis x steps)" in header  # the header names the patch's unit


def test_inspect_reads_a_png_roll_as_the_piece_page_does(song, tmp_path):
    """The PNG of a 4/4 song's roll gives the song's own level statistics and scores, in steps (no bars)."""
    from midi_rae.inspect import inspect_file
    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.png_rolls import roll_to_png

    png = tmp_path / "song_roll.png"
    png.write_bytes(roll_to_png(midi_to_roll(song).array))
    of_midi, of_png = inspect_file(str(song)), inspect_file(str(png))
    assert (of_midi["kind"], of_png["kind"]) == ("midi", "png")
    assert of_png["levels"] == of_midi["levels"] and of_png["reconstruction"] == of_midi["reconstruction"]
    out = run_cli("inspect", str(png))
    assert out.returncode == 0, out.stderr
    assert f"{of_png['roll']['steps']:,} steps (a PNG piano roll: no tempo or bars)" in out.stdout


def test_report_ablate_and_phrases_read_a_png_roll_as_inspect_does(song, tmp_path):
    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.png_rolls import roll_to_png

    png = tmp_path / "song_roll.png"
    png.write_bytes(roll_to_png(midi_to_roll(song).array))
    for args in (("report", str(png), "-o", str(tmp_path / "r.html")), ("ablate", str(png)), ("phrases", str(png))):
        out = run_cli(*args)
        assert out.returncode == 0 and "not a MIDI file" not in out.stderr, (args, out.stderr)
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


def test_bad_midi_is_one_line_on_stderr_and_nonzero_exit(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"this is not a midi file at all")
    out = run_cli("inspect", str(bad))
    assert out.returncode == 1
    assert one_error_line(out).startswith("error: bad.mid: ") and "not a MIDI file" in one_error_line(out)


def test_a_damaged_png_is_named_in_one_line(tmp_path):
    bad = tmp_path / "roll.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    out = run_cli("inspect", str(bad))
    assert out.returncode == 1
    assert one_error_line(out) == "error: roll.png: The PNG image is damaged and could not be read."


def test_bad_checkpoint_is_one_line_on_stderr(song, tmp_path):
    ck = tmp_path / "x.pt"
    ck.write_bytes(b"PK\x03\x04garbage")
    out = run_cli("inspect", str(song), "--checkpoint", str(ck))
    assert out.returncode == 1
    assert "not a readable PyTorch checkpoint" in one_error_line(out)


# ---------------------------------------------------------------- help: fast, torch-free, complete

@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_works_without_torch(command):
    out = cli_without_torch(*([command] if command else []), "--help")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"usage: midi-rae {command or ''}".rstrip()) and out.stderr == ""


def test_building_the_parser_imports_nothing_heavy():
    out = run_without_torch("from midi_rae.__main__ import build_parser; build_parser()\n"
                            "print([m for m in ('numpy', 'pandas', 'plotly', 'streamlit', 'pretty_midi', 'timm') "
                            "if m in sys.modules])")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_top_level_help_lists_every_command():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == COMMANDS


def test_every_argument_of_every_command_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parsers = {"midi-rae": parser, **sub.choices}
    missing = [f"{name} {action.dest}" for name, p in parsers.items() for action in p._actions
               if not isinstance(action, argparse._SubParsersAction)
               and (not action.help or action.help == argparse.SUPPRESS)]
    assert missing == []
    assert all(c.help for c in sub._choices_actions)  # each command's line in the top-level help


# ---------------------------------------------------------------- errors: usage errors exit 2, runtime errors 1

@pytest.mark.parametrize("args, flag", [
    (["inspect", "song.mid", "--mask-ratio", "1.5"], "--mask-ratio"),
    (["report", "song.mid", "-o", "r.html", "--empty-mask-ratio", "-0.1"], "--empty-mask-ratio"),
    (["evaluate", "songs", "--mask-ratio", "nan"], "--mask-ratio"),
    (["evaluate", "songs", "--max-windows", "0"], "--max-windows"),
    (["bench", "--minutes", "-1"], "--minutes"),
    (["bench", "--minutes", "0"], "--minutes"),
    (["bench", "--minutes", "ten"], "--minutes"),
    (["bench", "--minutes", "1e9"], "--minutes"),  # grew by 50 MB a second until killed
    (["train", "--midi-dir", ".", "--mask-ratio", "0.9"], "--mask-ratio"),
    (["train", "--midi-dir", ".", "--batch-size", "100000"], "--batch-size"),  # took all 23 GB
    (["train", "--midi-dir", ".", "--lr", "nan"], "--lr"),
    (["train", "--midi-dir", ".", "--minutes", "-1"], "--minutes"),
    (["train", "--midi-dir", ".", "--device", "foo"], "--device"),
    (["train", "--midi-dir", ".", "--val-every", "0"], "--val-every"),
    (["train", "--midi-dir", ".", "--ckpt-every", "0"], "--ckpt-every"),
    (["train", "--midi-dir", ".", "--workers", "-1"], "--workers"),
    (["train", "--midi-dir", ".", "--threads", "-5"], "--threads"),
    (["train", "--midi-dir", ".", "--max-transpose", "200"], "--max-transpose"),
    (["corpus", "--out", "c", "--jobs", "100"], "--jobs"),  # started 100 processes
    (["index", "songs", "--out", "i", "--batch-size", "100000"], "--batch-size"),  # 4 GB for 300 small files
    (["train", "--midi-dir", ".", "--lr", "0.001", "--min-lr", "0.5"], "--min-lr"),  # the "decay" rose 490-fold
    (["train", "--midi-dir", ".", "--weight-decay", "1e12"], "--weight-decay"),  # weights of nan were saved
    (["fuzz", "--count", "0"], "--count"),
    (["fuzz", "--slow", "nan"], "--slow"),
    (["fuzz", "--slow", "-1"], "--slow"),
])
def test_a_value_out_of_range_is_a_usage_error(args, flag):
    out = cli_without_torch(*args)
    assert out.returncode == 2
    assert flag in one_error_line(out)


def test_evaluate_only_given_a_folder_says_it_takes_a_file_of_names(tmp_path):
    song = tmp_path / "song.mid"
    song.write_bytes(to_bytes(make_song(bars=4, seed=1)))
    out = cli_without_torch("evaluate", str(song), "--only", str(tmp_path))
    assert out.returncode == 1 and one_error_line(out) == (
        f"error: --only {tmp_path} is a folder; it takes a text file of file names, one a line.")


def test_a_report_over_its_own_input_is_refused_and_the_input_kept(tmp_path):
    song = tmp_path / "song.mid"
    song.write_bytes(to_bytes(make_song(bars=4, seed=1)))
    before = song.read_bytes()
    out = cli_without_torch("report", str(song), "-o", str(tmp_path / "." / "song.mid"))
    assert out.returncode == 2 and one_error_line(out) == (
        f"error: -o {tmp_path / '.' / 'song.mid'} is the MIDI file the report reads; name another file for the HTML.")
    assert song.read_bytes() == before


@pytest.mark.parametrize("args", [[], ["nosuch"], ["inspect"], ["report", "song.mid"], ["bench", "--nosuch"]])
def test_a_malformed_command_line_is_a_usage_error_on_one_line(args):
    out = cli_without_torch(*args)
    assert out.returncode == 2
    assert "--help" in one_error_line(out)


@pytest.mark.parametrize("args, named", [
    (["inspect", "missing.mid"], "missing.mid"),
    (["report", "missing.mid", "-o", "r.html"], "missing.mid"),
    (["evaluate", "missing.mid"], "missing.mid"),
    (["bench", "--checkpoint", "missing.safetensors"], "missing.safetensors"),
    (["train", "--midi-dir", "missing-folder"], "missing-folder"),
])
def test_a_missing_file_is_a_runtime_error_on_one_line(args, named):
    out = cli_without_torch(*args)
    assert out.returncode == 1
    assert named in one_error_line(out)


@pytest.mark.parametrize("command", [["inspect"], ["report", "-o", "r.html"], ["ablate"]])
def test_a_midi_file_that_cannot_be_read_is_told_before_torch_and_the_model_load(command, tmp_path):
    bad = tmp_path / "cut.mid"
    bad.write_bytes(to_bytes(make_song(bars=4, seed=1))[:40])  # the header and the start of a track
    out = cli_without_torch(command[0], str(bad), *command[1:])
    assert out.returncode == 1
    assert one_error_line(out) == "error: cut.mid: The MIDI file is cut off: it ends in the middle of a track."


def test_a_files_control_characters_are_printed_as_escapes_not_sent_to_the_terminal(tmp_path):
    bad = tmp_path / "esc\x1b[31mRED\x1b]0;title\x07.mid"  # colours the terminal and sets its title
    bad.write_bytes(b"")
    out = subprocess.run([sys.executable, "-m", "midi_rae", "inspect", str(bad)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert out.returncode == 1
    assert one_error_line(out) == "error: esc\\x1b[31mRED\\x1b]0;title\\x07.mid: The file is empty."


def test_evaluate_with_a_missing_only_list_is_a_runtime_error(song):
    out = cli_without_torch("evaluate", str(song), "--only", "missing.txt")
    assert out.returncode == 1
    assert one_error_line(out) == "error: --only missing.txt does not exist."


def test_corpus_without_music21_says_how_to_install_it(tmp_path):
    out = cli_without_torch("corpus", "--out", str(tmp_path / "corpus"), block=("music21",))
    assert out.returncode == 1
    assert "pip install 'midi-rae-explorer[train]'" in one_error_line(out)
    assert not (tmp_path / "corpus").exists()


# ---------------------------------------------------------------- app

def test_app_passes_the_shipped_streamlit_settings_unless_given():
    cmd = streamlit_command(["--server.port", "8600", "--server.maxUploadSize=10", "--", "--checkpoints", "/ck"])
    assert cmd[1:4] == ["-m", "streamlit", "run"]
    assert "--server.maxUploadSize=10" in cmd and "--server.maxUploadSize=64" not in cmd
    assert "--server.headless=true" in cmd and "--client.showErrorDetails=none" in cmd
    script = cmd.index(str(dashboard_script()))
    assert cmd[script - 3:script] == ["--server.port", "8600", "--server.maxUploadSize=10"]
    assert cmd[script + 1:] == ["--", "--checkpoints", "/ck"]


def test_app_settings_are_those_of_the_checkouts_streamlit_config():
    def flat(table: dict, prefix: str = "") -> dict:  # [theme.light] primaryColor -> theme.light.primaryColor
        out = {}
        for k, v in table.items():
            out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else
                       {f"{prefix}{k}": str(v).lower() if isinstance(v, bool) else str(v)})
        return out

    assert STREAMLIT_DEFAULTS == flat(tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text()))


def test_app_server_skips_the_full_garbage_collection_after_every_run():
    # a gc.collect(2) over torch's objects held the GIL ~0.25 s after every interaction
    assert STREAMLIT_DEFAULTS["runner.postScriptGC"] == "false"


def test_app_starts_the_dashboard_server_from_any_folder(tmp_path):
    assert dashboard_script().is_file()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "midi_rae", "app", f"--server.port={port}",
                             "--server.address=127.0.0.1"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline, health = time.monotonic() + 60, None
        while health is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                health = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
            except OSError:
                time.sleep(0.5)
        assert health == b"ok", proc.poll()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Traceback" not in out and "is not a valid config option" not in out, out


def test_evaluate_names_its_mask_seed_and_takes_another(song_path):
    default, other = run_cli("evaluate", str(song_path)), run_cli("evaluate", str(song_path), "--seed", "7", "--json")
    assert default.returncode == 0 and other.returncode == 0, default.stderr + other.stderr
    assert default.stdout.splitlines()[0].endswith("; mask seed 1234")
    assert json.loads(other.stdout)["seed"] == 7


def test_sigterm_stops_an_index_or_training_run_as_ctrl_c_does():
    """`kill` reaches the run as KeyboardInterrupt, whose handler commits what was encoded (an index) or says
    where the run goes on from (training)."""
    import os
    import signal
    import time

    from midi_rae.workers import stop_on_sigterm

    before = signal.getsignal(signal.SIGTERM)
    try:
        stop_on_sigterm()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1.0)  # the handler runs at once; this only gives it the time
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_negative_patch_reaches_its_own_sentence_rather_than_argparses():
    out = run_cli("search", "assets/corpus/index", "--query", "assets/examples/bach_chorale_bwv253.mid",
                  "--patch", "-1,0")
    assert out.returncode == 2
    assert one_error_line(out) == ("error: midi-rae search: argument --patch: -1,0 has a negative row or column (see "
                                   "'midi-rae search --help')")


@needs_fixtures()
def test_inspect_says_what_the_reader_did_that_the_roll_does_not_show(tmp_path):
    import pretty_midi

    pm = make_song(bars=8, seed=1)
    pm.instruments[0].pitch_bends.append(pretty_midi.PitchBend(pitch=500, time=1.0))
    path = tmp_path / "bent.mid"
    path.write_bytes(to_bytes(pm))
    args = ("inspect", str(path), "--checkpoint", str(FIXTURES / "six-level" / "SwinEncoder__best.pt"))
    out = run_cli(*args)
    assert out.returncode == 0, out.stderr
    said = "Pitch bends are left out (1 pitch-bend message): notes are drawn at their written pitch."
    assert f"note: {said}" in out.stdout.splitlines()
    assert json.loads(run_cli(*args, "--json").stdout)["reading_notes"] == [said]


@needs_fixtures()
def test_inspect_applies_the_sustain_pedal_when_asked(tmp_path):
    import pretty_midi

    pm = make_song(bars=8, seed=1)
    pm.instruments[0].control_changes += [pretty_midi.ControlChange(64, 127, 1.0),
                                          pretty_midi.ControlChange(64, 0, 6.0)]
    path = tmp_path / "pedalled.mid"
    path.write_bytes(to_bytes(pm))
    args = ("inspect", str(path), "--checkpoint", str(FIXTURES / "six-level" / "SwinEncoder__best.pt"), "--json")
    plain, held = (json.loads(run_cli(*args, *more).stdout) for more in ((), ("--sustain-pedal",)))
    assert (plain["pedal_presses"], plain["sustain_pedal"], held["pedal_presses"], held["sustain_pedal"]) == \
        (1, False, 1, True)
    assert held["reading_notes"] == ["The sustain pedal is applied (1 press): a note it holds sounds until the pedal "
                                     "lifts or its key is struck again."]
    assert held["levels"][-1]["non_empty_mean"] > plain["levels"][-1]["non_empty_mean"]  # longer notes fill more


def test_search_read_by_a_reader_that_stops_early_ends_quietly():
    """`midi-rae search ... | head -1`: the reader closes the pipe after one line; the search ends with status 0 and
    says nothing (it had said "error: Broken pipe." when the failed write had already emptied the buffer)."""
    for _ in range(3):
        search = subprocess.Popen([sys.executable, "-m", "midi_rae", "search", "assets/corpus/index", "--query",
                                   "assets/examples/bach_chorale_bwv253.mid", "-k", "50"], cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        search.stdout.readline()
        search.stdout.close()  # as `head -1` exits
        _, err = search.communicate(timeout=300)
        assert (search.returncode, err.decode()) == (0, "")


def test_index_of_a_zip_says_to_unzip_it_and_makes_no_folder(tmp_path):
    import zipfile

    archive = tmp_path / "songs.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.mid", to_bytes(make_song(bars=4, seed=1)))
    out = run_cli("index", str(archive), "--out", str(tmp_path / "idx"))
    assert out.returncode == 1 and out.stderr.strip() == (
        "error: songs.zip is a zip archive: unzip it and index its folder (the Corpus page reads a zip dropped on it).")
    assert not (tmp_path / "idx").exists()


def test_a_pipe_named_on_the_command_line_is_said_to_be_a_pipe_not_a_broken_link(tmp_path):
    import os

    from midi_rae.file_limits import unmatched

    fifo = tmp_path / "song.mid"
    os.mkfifo(fifo)
    assert unmatched(fifo) == f"{fifo} is not a regular file (a pipe or a device)"
    (tmp_path / "gone.mid").symlink_to(tmp_path / "nowhere.mid")
    assert unmatched(tmp_path / "gone.mid") == f"{tmp_path / 'gone.mid'} is not a regular file (a broken link, or a " \
                                                f"link to itself)"


def _run_command(prelude: str, *args: str) -> subprocess.CompletedProcess:
    """The `midi-rae` console command's own entry point (run) with `args`, after `prelude` (Python) has run."""
    code = f"import sys\n{prelude}\nsys.argv = ['midi-rae', *{list(args)!r}]\nfrom midi_rae.__main__ import run\nrun()"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_the_command_ends_without_tearing_its_modules_down_but_with_its_exit_handlers_run():
    prelude = ("import atexit\n"
               "class Sentinel:\n"
               "    def __del__(self): print('torn down', flush=True)\n"
               "kept = Sentinel()\n"
               "atexit.register(lambda: print('exit handler ran', flush=True))")
    out = _run_command(prelude, "search", str(ROOT / "no-such-index"), "--query", "x.mid", "--bar", "1")
    assert out.returncode == 1 and out.stdout.splitlines() == ["exit handler ran"]


def test_the_command_exits_with_the_status_its_command_returned():
    out = _run_command("", "search", str(ROOT / "no-such-index"), "--query", "x.mid", "--bar", "1")
    assert out.returncode == 1 and out.stderr.startswith("error: ")


def test_the_command_waits_for_a_thread_that_python_would_wait_for():
    prelude = ("import threading, time\n"
               "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done', flush=True))).start()")
    out = _run_command(prelude, "search", str(ROOT / "no-such-index"), "--query", "x.mid", "--bar", "1")
    assert out.returncode == 1 and out.stdout.splitlines() == ["thread done"]


def test_output_that_cannot_be_written_at_the_end_is_an_error_not_a_silent_success(tmp_path):
    import os

    song = tmp_path / "song.mid"
    song.write_bytes(to_bytes(make_song(bars=4)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # the last output waits in the buffer
    code = ("import sys\nsys.argv = ['midi-rae', 'inspect', sys.argv[1]]\n"
            "from midi_rae.__main__ import run\nrun()")
    with open("/dev/full", "w") as full:
        out = subprocess.run([sys.executable, "-c", code, str(song)], stdout=full, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 1 and out.stderr == "error: No space left on device.\n"


@pytest.mark.parametrize("command", ["inspect", "ablate", "report"])
def test_a_folder_named_like_a_midi_file_is_refused_before_any_model_is_loaded(tmp_path, command):
    (tmp_path / "x.mid").mkdir()
    done = run_without_torch("from midi_rae.__main__ import run\n"
                             f"sys.argv = ['midi-rae', '{command}', r'{tmp_path / 'x.mid'}']"
                             + (f" + ['-o', r'{tmp_path / 'r.html'}']" if command == "report" else "") + "\nrun()")
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: {tmp_path / 'x.mid'} is a folder, not a MIDI file or PNG piano roll."


def test_flip_png_given_for_a_midi_file_is_said_to_change_nothing(tmp_path):
    song = tmp_path / "song.mid"
    song.write_bytes(to_bytes(make_song(bars=8, seed=1)))
    done = run_cli("inspect", str(song), "--flip-png", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ("note: --flip-png turns PNG piano rolls the other way up; song.mid is no PNG image, "
                                   "so it is read as it is.")


def test_inspect_gives_the_metre_and_tempo_as_the_page_header_does(tmp_path):
    import pretty_midi

    from midi_rae.inspect import inspect_file
    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.wording import timing_text

    pm = make_song(bars=8, seed=2)  # 120 BPM: two bars of 3/4, then 4/4
    pm.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0.0), pretty_midi.TimeSignature(4, 4, 3.0)]
    path = tmp_path / "changes.mid"
    path.write_bytes(to_bytes(pm))
    roll = inspect_file(str(path))["roll"]
    assert (roll["time_signature"], roll["opening_time_signature"], roll["metre_changes"]) == ([4, 4], [3, 4], 1)
    assert roll["timing"] == timing_text(midi_to_roll(path))
    out = run_cli("inspect", str(path))
    assert out.returncode == 0 and f"timing: {roll['timing']}" in out.stdout.splitlines()

"""The corpus command: one clear sentence without music21; with it, a small export that training can read."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pretty_midi
import pytest

from conftest import ROOT
from midi_rae.corpus import MUSIC21_MISSING, _collection, _stem, corpus_paths, one_format_per_work
from midi_rae.pianoroll import MidiError, midi_to_roll

HAS_MUSIC21 = importlib.util.find_spec("music21") is not None


def test_without_music21_the_command_says_so_in_one_line(tmp_path):
    code = ("import sys; sys.modules['music21'] = None\n"
            "from midi_rae.__main__ import main\n"
            f"sys.exit(main(['corpus', '--out', {str(tmp_path / 'c')!r}]))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "music21" in lines[0] and "pip install" in lines[0]
    assert not (tmp_path / "c").exists()


def test_without_music21_the_library_raises_the_same_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "music21", None)
    with pytest.raises(ModuleNotFoundError, match="music21 is not installed") as e:
        corpus_paths()
    assert str(e.value) == MUSIC21_MISSING


def test_a_work_is_filed_under_its_collection(tmp_path):
    assert _collection(tmp_path / "music21" / "corpus" / "bach" / "bwv66.6.mxl") == "bach"
    assert _collection(tmp_path / "elsewhere" / "tune.abc") == "elsewhere"


def test_works_in_sub_folders_of_a_collection_keep_their_folder_in_the_file_name(tmp_path):
    corpus = tmp_path / "music21" / "corpus"
    names = {_stem(corpus / "beethoven" / op / "movement1.mxl") for op in ("opus18no1", "opus59no1")}
    assert names == {"opus18no1_movement1", "opus59no1_movement1"}
    assert _stem(corpus / "bach" / "bwv66.6.mxl") == "bwv66.6"


def test_a_work_shipped_in_two_formats_is_exported_once_from_its_musicxml(tmp_path):
    c = tmp_path / "music21" / "corpus"
    paths = [c / "bach" / "bwv277.krn", c / "bach" / "bwv277.mxl", c / "bach" / "bwv278.krn",
             c / "beethoven" / "opus18no1" / "movement1.krn", c / "beethoven" / "opus18no1" / "movement1.mxl",
             c / "beethoven" / "opus59no1" / "movement1.krn"]
    assert one_format_per_work(paths) == [c / "bach" / "bwv277.mxl", c / "bach" / "bwv278.krn",
                                          c / "beethoven" / "opus18no1" / "movement1.mxl",
                                          c / "beethoven" / "opus59no1" / "movement1.krn"]


@pytest.mark.skipif(not HAS_MUSIC21, reason="music21 is not installed")
def test_limit_3_exports_three_works_from_different_collections_as_readable_midi(tmp_path):
    out = tmp_path / "corpus"
    res = subprocess.run([sys.executable, "-m", "midi_rae", "corpus", "--out", str(out), "--limit", "3",
                          "--max-per-file", "2"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads(res.stdout)
    assert summary["works"] == 3 and summary == json.loads((out / "corpus.json").read_text())
    files = sorted(out.rglob("*.mid"))
    assert len(files) == summary["midi_files"] and 3 <= len(files) <= 6  # at most 2 scores per multi-tune file
    assert len({f.parent.name for f in files}) == 3  # spread over collections, one folder each
    readable = 0
    for f in files:
        try:
            readable += midi_to_roll(f).n_notes > 0
        except MidiError:
            pass
    assert readable == len(files)


@pytest.mark.skipif(not HAS_MUSIC21, reason="music21 is not installed")
def test_a_score_with_badly_formed_repeats_is_written_once_through(tmp_path):
    from music21 import bar, note, stream

    from midi_rae.corpus import _write_midi

    part = stream.Part()
    for k in range(4):
        m = stream.Measure(number=k + 1)
        m.append(note.Note(60 + k, quarterLength=4))
        part.append(m)
    measures = part.getElementsByClass(stream.Measure)
    measures[0].leftBarline = bar.Repeat(direction="start")
    measures[1].leftBarline = bar.Repeat(direction="start")  # two starts, one end: music21 refuses to expand
    measures[2].rightBarline = bar.Repeat(direction="end")
    _write_midi(stream.Score([part]), tmp_path / "x.mid")
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "x.mid"))
    assert [n.pitch for n in pm.instruments[0].notes] == [60, 61, 62, 63]


def test_a_collection_music21_does_not_have_is_refused_and_nothing_written(tmp_path):
    pytest.importorskip("music21")
    res = subprocess.run([sys.executable, "-m", "midi_rae", "corpus", "--out", str(tmp_path / "c"), "--collections",
                          "bach", "nosuchcollection"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.startswith("error: music21's corpus has no collection nosuchcollection; it has ")
    assert " bach, " in res.stderr and not (tmp_path / "c").exists()


SLOW_EXPORT = """
import os, sys, time
from pathlib import Path
import midi_rae.corpus as corpus
from midi_rae.__main__ import main

def slow(args):  # a score that takes minutes: the worker says who it is and parses on
    os.write(1, f"{os.getpid()}\\n".encode())  # one write: the two workers' lines do not interleave
    time.sleep(600)
    return []

corpus.corpus_paths = lambda collections=None: [Path(f"/m21/corpus/c/w{i}.krn") for i in range(8)]
corpus._export_one = slow
sys.exit(main(["corpus", "--out", sys.argv[1], "--jobs", "2"]))
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupted_export_stops_at_once_and_its_workers_end_with_it(tmp_path, sig):
    """Ctrl-C waited for each worker's score in hand (a minute at most); SIGTERM left the workers running."""
    import os
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-c", SLOW_EXPORT, str(tmp_path / "out")], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        workers = [int(proc.stdout.readline()) for _ in range(2)]
        proc.send_signal(getattr(signal, sig))
        _, err = proc.communicate(timeout=20)
    finally:  # a failure leaves no process behind
        proc.kill()
    if sig == "SIGINT":
        assert proc.returncode == 130
        assert err.strip().splitlines()[-1] == (f"error: interrupted; the MIDI files written so far are in "
                                                f"{tmp_path / 'out'} (a run again writes every file anew).")
    t0 = time.time()
    while any(os.path.exists(f"/proc/{w}") for w in workers) and time.time() - t0 < 10:
        time.sleep(0.2)
    assert not [w for w in workers if os.path.exists(f"/proc/{w}")]


DYING_EXPORT = SLOW_EXPORT.replace("    time.sleep(600)\n", "    os.kill(os.getpid(), 9)  # the out-of-memory killer\n")


def test_a_worker_killed_mid_export_ends_the_run_with_one_sentence(tmp_path):
    res = subprocess.run([sys.executable, "-c", DYING_EXPORT, str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines()[-1] == (f"error: A worker process ended unexpectedly (out of memory?) "
                                                   f"after 0 MIDI files; the files written are in {tmp_path / 'out'}.")

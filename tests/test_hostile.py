"""Issue 11: every hostile checkpoint and MIDI file is decided fast, in bounded memory, with one sentence.

The files are built here (small) and written to a folder; one fresh interpreter per kind of reader
imports the package, loads the shipped default (the baseline), then reads each file as an upload,
measuring its time and its peak memory above the baseline (Linux VmHWM, reset before each file).
The bounds are generous because the test machine is shared; the figures are printed (pytest -s).
"""
from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT
from midi_rae.fuzz import vlq

MAX_SECONDS = 10.0
MAX_MB = 500.0

RUNNER = r"""
import json, sys
from pathlib import Path
from midi_rae.fuzz import measure, _baseline

kind, folder = sys.argv[1], Path(sys.argv[2])
index = json.loads((folder / "index.json").read_text())
_baseline()  # import + the shipped default, as the server has before any upload
if kind == "checkpoints":
    from midi_rae.checkpoint import load_model
    from midi_rae.checkpoint_meta import peek_config

    def read(case):
        data = (folder / case["file"]).read_bytes()
        decoder = (folder / case["decoder"]).read_bytes() if case.get("decoder") else None
        try:
            peek_config(data)
        except Exception as e:
            if type(e).__name__ != "CheckpointError":
                raise
        load_model(data, decoder=decoder)
else:
    from midi_rae.pianoroll import midi_to_roll, windows

    def read(case):
        windows(midi_to_roll((folder / case["file"]).read_bytes()))
out = {}
for case in index:
    m = measure(lambda: read(case))
    out[case["name"]] = {"outcome": m.outcome, "message": m.message, "seconds": m.seconds, "peak_mb": m.peak_mb}
print(json.dumps(out))
"""


def _run(kind: str, cases: dict[str, tuple[bytes, bytes | None]], folder) -> dict:
    index = []
    for i, (name, (data, decoder)) in enumerate(cases.items()):
        (folder / f"{i}.bin").write_bytes(data)
        entry = {"name": name, "file": f"{i}.bin"}
        if decoder is not None:
            (folder / f"{i}.decoder").write_bytes(decoder)
            entry["decoder"] = f"{i}.decoder"
        index.append(entry)
    (folder / "index.json").write_text(json.dumps(index))
    out = subprocess.run([sys.executable, "-c", RUNNER, kind, str(folder)], cwd=ROOT, capture_output=True,
                         text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\n{kind}: seconds and MB above import + default load")
    for name, r in results.items():
        print(f"  {r['seconds']:6.2f} s {r['peak_mb']:7.1f} MB  {r['outcome']:<16} {name}")
    return results


def one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and re.search(r"(?<!e\.g)[.!?]\s", message) is None


def check(results: dict, name: str, exception: str, pattern: str) -> None:
    r = results[name]
    assert r["outcome"] == exception, f"{name}: {r['outcome']}: {r['message']}"
    assert re.fullmatch(pattern, r["message"]), f"{name}: {r['message']!r}"
    assert one_sentence(r["message"]), r["message"]
    assert r["seconds"] < MAX_SECONDS, f"{name} took {r['seconds']:.1f} s"
    assert r["peak_mb"] < MAX_MB, f"{name} took {r['peak_mb']:.0f} MB"


# ---------------------------------------------------------------- checkpoints

UP = "The uploaded checkpoint"
UNUSABLE = f"{UP} has an unusable configuration: "
CHECKPOINT_CASES = {  # case name in midi_rae.fuzz.hostile_checkpoints -> (kind of file, expected sentence)
    "config embed_dim=256": ("a config asking for embed_dim 256", rf"{UP} describes a model of [\d,]+ parameters "
                             r"needing about [\d,]+ MB, more than this server's limit of 128 MB \(set "
                             r"MIDI_RAE_MAX_MODEL_MB to change it\)\."),
    "a patch-1 model with the MAE decoder (computation)": ("weights of 12 bytes describing ~140 billion "
                                                            "operations a window", rf"{UP} describes a model "
                                                            r"needing about 141 billion operations for each window "
                                                            r"\(the shipped model: 0\.056 billion\), more than this "
                                                            r"server's limit of 16 billion \(set MIDI_RAE_MAX_GFLOPS "
                                                            r"to change it\)\."),
    "config mlp_ratio=1000000.0": ("mlp_ratio 10^6", UNUSABLE + r"mlp_ratio is 1e\+06, outside the allowed range "
                                   r"\(0, 16\]\."),
    "zip bomb: 64 MB member in a few KB": ("a zip bomb inside a .pt", rf"{UP} holds compressed files in its "
                                           r"archive, which PyTorch never writes, so it was not unpacked\."),
    "zip: compressed members": ("a .pt re-zipped with compression", rf"{UP} holds compressed files .*\."),
    "zip: a 3 MB data.pkl": ("an oversized pickle", rf"{UP} has a 3 MB pickle; a checkpoint's is at most 2 MB\."),
    "original format: a stage of 100,000 blocks": ("one stage of 100,000 blocks", UNUSABLE + r"depths\[1\] is "
                                                   r"100,000, outside the allowed range 0\.\.24\."),
    "forged decoder weight name (block 99999)": ("a forged weight name stages.1.blocks.99999", r"The decoder "
                                                 r"weights in the uploaded checkpoint name block 99,999 of stage 1, "
                                                 r"but a stage has at most 24 blocks\."),
    "original format: decoder file with a forged block 99999": ("the same in a separate decoder file",
                                                                r"The decoder weights in the uploaded decoder name "
                                                                r"block 99,999 of stage 1, but .*\."),
    "header nested 200,000 deep": ("a safetensors header nested 200,000 deep",
                                   rf"{UP} has a header nested too deeply to read\."),
    "config nested 200,000 deep": ("a config nested 200,000 deep",
                                   rf"{UP} has a configuration nested too deeply to read\."),
    "meta nested 200,000 deep": ("metadata nested 200,000 deep",
                                 rf"{UP} has a metadata block nested too deeply to read\."),
    "original format: pickled config nested 100,000 deep": ("a pickled config nested 100,000 deep",
                                                            UNUSABLE + r"it nests deeper than 32 levels\."),
    "original format: a config of 2^30 values by shared reference": ("a billion-laughs config of a few hundred "
                                                                     "bytes", UNUSABLE + r"it holds more than "
                                                                     r"100,000 values\."),
    "config is the number 5 (metadata not text)": ('"config": 5', rf"{UP} has a damaged metadata block "
                                                   r"\(safetensors metadata holds only text\)\."),
    "config is a JSON list": ("a config that decodes to a list", UNUSABLE + r"it is a list, not a set of named "
                              r"fields\."),
    "config is a JSON string": ("a config that decodes to a string", UNUSABLE + r"it is text, not a set of named "
                                r"fields\."),
    "original format: model section is a list": ("an original config whose model is a list", UNUSABLE +
                                                 r"its 'model' section is \[1, 2\], not a set of named fields\."),
    "original format: image_size None": ("image_size None", UNUSABLE + r"data\.image_size must be a whole number "
                                         r"or a \[height, width\] pair, not None\."),
    "original format: image_size text": ("image_size a string", UNUSABLE + r"data\.image_size must be .*, not "
                                         r"'128'\."),
    "config depths=6": ("depths: 6", UNUSABLE + r"depths must be a list of whole numbers, one per level, not 6\."),
    "original format: depths 6": ("depths: 6 in the original format", UNUSABLE + r"depths must be a list .*\."),
    "forged decoder weight name (block 'x')": ("a block index that is not an integer", r"The decoder weights in "
                                               r"the uploaded checkpoint name a block \(stages\.1\.blocks\.x\..*\) "
                                               r"whose stage or block number is not a small whole number\."),
    "config patch_h=0": ("a patch size of 0", UNUSABLE + r"patch_h is 0, outside the allowed range 1\.\.128\."),
    "original format: patch size 0": ("a patch size of 0, original format", UNUSABLE + r"patch_h is 0, .*\."),
    "all weights NaN": ("all-NaN weights", rf"{UP} holds encoder weights that are not finite numbers \(NaN or "
                        r"infinity\) in [\d,]+ tensors, first \S+, so the model's outputs would be "
                        r"meaningless\."),
    "all weights +Inf": ("all-Inf weights", rf"{UP} holds encoder weights that are not finite numbers .*\."),
    "one NaN weight": ("a single NaN", rf"{UP} holds decoder weights that are not finite numbers \(NaN or "
                       r"infinity\) in 1 tensor, .*\."),
    "all weights finite but x1e30": ("finite weights too large for float32", rf"{UP} gives embeddings that are not "
                                     r"finite numbers \(or beyond ±1e\+15\) for a window of four notes: its encoder "
                                     r"weights are too large for 32-bit arithmetic, so the model's outputs would be "
                                     r"meaningless\."),
    "decoder weights finite but x1e30": ("finite decoder weights too large", rf"{UP} gives a reconstruction that is "
                                         r"not finite numbers \(or beyond ±1e\+15\) for a window of four notes: its "
                                         r"decoder weights are too large .*\."),
    "config steps_per_beat=1000000000": ("steps_per_beat 10^9", UNUSABLE + r"steps_per_beat is 1,000,000,000, "
                                         r"outside the allowed range 1\.\.48\."),
    "200,000 tiny tensors (header over 8 MB)": ("hundreds of thousands of tiny tensors", rf"{UP} has a 16 MB "
                                                r"header; the limit is 8 MB\."),
    "25,000 tiny tensors": ("25,000 tiny tensors", rf"{UP} holds 25,000 tensors; the limit is 20,000\."),
    "zip: 25,000 members": ("a .pt of 25,000 members", rf"{UP} holds 25,001 files in its archive; the limit is "
                            r"20,016\."),
    "zip: end record claims 400,000 members": ("a zip claiming 400,000 members", rf"{UP} holds 400,000 files .*\."),
    "tensor entry: shape of 10^12 values": ("a header announcing 4 TB of weights", rf"{UP} looks like a safetensors "
                                            r"file but is damaged or cut off: its header describes more weights than "
                                            r"the file holds\."),
    "pickle payload system": ("a pickle that would run os.system", r"Refused to load the uploaded checkpoint: its "
                              r"pickle asks to run code or build an object \('posix\.system'\) that a checkpoint "
                              r"never needs, so nothing from it was run\."),
    "pickle calls a list": ("a call of a list (torch's refusal writes the list out)", r"Refused to load the "
                            r"uploaded checkpoint: its pickle calls something other than a named function or class, "
                            r"which a checkpoint never does, so nothing from it was run\."),
    "pickle calls a self-sharing list 40 deep": ("a kilobyte pickle whose refusal wrote 2^40 leaves (13 GB at 27 "
                                                 "deep)", r"Refused to load the uploaded checkpoint: its pickle calls "
                                                 r"something other than a named function or class, .*\."),
    "str of lists filled after they were taken in, 40 deep": ("2^40 values that a count made as each list was "
                                                               "filled missed", r"Refused to load the uploaded "
                                                               r"checkpoint: its pickle builds an object of more than "
                                                               r"4,000,000 values by shared reference, .*\."),
    "the key hashed, then bytes that are no pickle": ("a pickle cut short after the hash (torch had run it)",
                                                      r"Refused to load the uploaded checkpoint: its pickle builds an "
                                                      r"object of more than 4,000,000 values .*\."),
    "the key hashed, then appends that tie its levels into loops": ("later appends that made the key's sharing "
                                                                    "look like cycles", r"Refused to load the "
                                                                    r"uploaded checkpoint: its pickle builds an "
                                                                    r"object of more than 4,000,000 values .*\."),
    "str() of lists looped through each other, 24 deep": ("a repr of 2^24 values hidden behind loops (42 s, "
                                                          "2 GB)", r"Refused to load the uploaded checkpoint: its "
                                                          r"pickle builds an object of more than 4,000,000 "
                                                          r"values .*\."),
    "the same, its pickle named DATA.PKL": ("the same pickle under a name in capitals (torch's reader finds it)",
                                            r"Refused to load the uploaded checkpoint: its pickle calls something "
                                            r"other than a named function or class, .*\."),
    "a dict keyed by a self-sharing tuple 40 deep": ("a dict key whose hash is 2^40 values (no call at all)",
                                                     r"Refused to load the uploaded checkpoint: its pickle builds an "
                                                     r"object of more than 4,000,000 values by shared reference, "
                                                     r"which a checkpoint never holds, so nothing from it was run\."),
    "a persistent id holding a self-sharing tuple 40 deep": ("a storage key of 2^40 values", r"Refused to load the "
                                                             r"uploaded checkpoint: its pickle builds an object .*\."),
    "legacy raw pickle": ("a raw (pre-1.6) pickle", rf"{UP} is a plain pickle \(PyTorch.s legacy format .*\."),
    "meta threshold is text": ("a threshold that is text", rf"{UP} has damaged metadata: its threshold must be a "
                               r"number from 0 to 1, not 'abc'\."),
    "an extra 1 MB tensor": ("weights the config does not have", r"The encoder weights in the uploaded checkpoint do "
                             r"not fit the architecture of the encoder's configuration: 1 unexpected key, "
                             r"e\.g\. extra\."),
}
CONTROLS = ["control: the shipped default", "control: a small original-format encoder",
            "control: small original-format encoder and decoder"]


@pytest.fixture(scope="module")
def checkpoint_results(tmp_path_factory):
    from midi_rae.fuzz import hostile_checkpoints

    wanted = set(CHECKPOINT_CASES) | set(CONTROLS)
    cases = {h.name: (h.data, h.decoder) for h in hostile_checkpoints(small=True) if h.name in wanted}
    assert set(cases) == wanted, wanted - set(cases)
    return _run("checkpoints", cases, tmp_path_factory.mktemp("hostile_checkpoints"))


@pytest.mark.parametrize("name", list(CHECKPOINT_CASES), ids=[v[0] for v in CHECKPOINT_CASES.values()])
def test_hostile_checkpoint_is_refused_fast_in_one_sentence(checkpoint_results, name):
    check(checkpoint_results, name, "CheckpointError", CHECKPOINT_CASES[name][1])


@pytest.mark.parametrize("name", CONTROLS)
def test_honest_checkpoints_still_load(checkpoint_results, name):
    r = checkpoint_results[name]
    assert r["outcome"] == "ok", r["message"]
    assert r["seconds"] < MAX_SECONDS and r["peak_mb"] < MAX_MB


# ---------------------------------------------------------------- MIDI


def _smf(tracks: list[bytes], division: int = 480) -> bytes:
    out = b"MThd" + struct.pack(">LHHH", 6, 1, len(tracks), division)
    return out + b"".join(b"MTrk" + struct.pack(">L", len(t)) + t for t in tracks)


def _notes(n: int, dt: int = 10) -> bytes:
    body = bytearray()
    for i in range(n):
        p = 40 + i % 40
        body += (bytes([0, 0x90, p, 90]) if i == 0 else bytes([0, p, 90])) + vlq(dt) + bytes([p, 0])
    return bytes(body) + b"\x00\xff\x2f\x00"


def _with_notes(prefix: bytes) -> bytes:
    return prefix + b"\x00\x90\x3c\x40\x83\x60\x80\x3c\x40\x00\xff\x2f\x00"


TOO_MANY = (r"The MIDI file holds more than 150,000 events \(a note is two; a controller change, pedal or pitch "
            r"bend counts a quarter; a tempo, text or other meta event counts 10\), the most this reader takes\.")
MIDI_CASES = {  # name -> (builder, expected sentence, or None for a file that must be read)
    "300,000 notes": (lambda: _smf([_notes(300_000)]), TOO_MANY),
    "1,000,000 notes (5.7 MB)": (lambda: _smf([_notes(1_000_000)]), TOO_MANY),
    "one track repeated 500 times": (lambda: _smf([_notes(2_000)] * 500), TOO_MANY),
    "100,000 tempo changes": (lambda: _smf([_with_notes(b"\x01\xff\x51\x03\x07\xa1\x20" * 100_000)]), TOO_MANY),
    "a tempo of 59,999 us per quarter": (lambda: _smf([_with_notes(b"\x00\xff\x51\x03" + (59_999).to_bytes(3, "big"))]),
                                         None),
    "a huge delta time": (lambda: _smf([b"\x00\x90\x3c\x40" + vlq(0x0FFFFFFF) + b"\x80\x3c\x40\x00\xff\x2f\x00"]),
                          r"The piece is too long: it spans about 559,241 beats, and the limit is 5,000 beats\."),
    "a varlen of 6 MB": (lambda: _smf([b"\x80" * (6 << 20) + b"\x00\x90\x3c\x40\x00\xff\x2f\x00"]),
                         r"The MIDI file is damaged: one of its tracks contains invalid data\."),
    "3,000 empty tracks": (lambda: _smf([b""] * 3_000), r"The MIDI file has 3,000 tracks; the limit is 2,000\."),
    "a 900 KB text event, seven times": (lambda: _smf([_with_notes((b"\x00\xff\x01" + vlq(900_000) + b"x" * 900_000)
                                                                   * 7)]), None),
    "70,000 notes just under the limit": (lambda: _smf([_notes(70_000)]), None),
    # 1,680 tracks of 20 instruments each and a controller on 15 channels without notes: each track's channels
    # were looked up among all the instruments before it (21 s)
    "1,680 tracks of 20 instruments and 15 controllers": (lambda: _smf(
        [b"".join(bytes([0, 0xC0, i, 0, 0x90, 20 + i, 64, 1, 0x80, 20 + i, 0]) for i in range(20))
         + b"".join(bytes([0, 0xB0 | c, 7, 100]) for c in range(1, 16)) + b"\x00\xff\x2f\x00"] * 1_680), None),
    # unended notes against a channel's All Notes Off: each note's end was a scan of them all (474 s, 1.1 MB)
    "75,000 unended notes after 299,000 All Notes Off": (
        lambda: _smf([b"\x00\xb0\x7b\x00" + b"\x00\x7b\x00" * 298_999 + b"\x01\x90\x3c\x40"
                      + b"\x01\x3c\x40" * 74_999 + b"\x00\xff\x2f\x00"]), None),
    "a note held for 6,000 beats": (lambda: _smf([b"\x00\x90\x3c\x40" + vlq(6000 * 480) + b"\x80\x3c\x40\x00\xff\x2f"
                                                                                        b"\x00"]),
                                    r"The piece is too long: it spans about 6,000 beats, and the limit is 5,000 "
                                    r"beats\."),
}


@pytest.fixture(scope="module")
def midi_results(tmp_path_factory):
    cases = {name: (build(), None) for name, (build, _) in MIDI_CASES.items()}
    assert all(len(data) <= 8 * 2 ** 20 for data, _ in cases.values())
    return _run("midi", cases, tmp_path_factory.mktemp("hostile_midi"))


@pytest.mark.parametrize("name", list(MIDI_CASES))
def test_hostile_midi_is_decided_fast_in_one_sentence(midi_results, name):
    expected = MIDI_CASES[name][1]
    if expected is None:
        r = midi_results[name]
        assert r["outcome"] == "ok", r["message"]
        assert r["seconds"] < MAX_SECONDS and r["peak_mb"] < MAX_MB
    else:
        check(midi_results, name, "MidiError", expected)


# ---------------------------------------------------------------- fuzzing


@pytest.mark.slow
def test_a_small_midi_fuzz_finds_no_crash_slow_input_or_memory_spike(capsys):
    from midi_rae.fuzz import main

    code = main(["--count", "300", "--seed", "11", "--json", "--quiet", "--slow", str(MAX_SECONDS)])
    report = json.loads(capsys.readouterr().out)
    assert report["inputs"] == 300 and not report["crashes"], report["crashes"][:3]
    assert not report["slow"] and report["peak_mb_beyond_baseline"] < MAX_MB
    assert code == 0


def test_the_checkpoint_fuzz_summary_says_what_its_memory_figure_is_beyond():
    from midi_rae.fuzz import _summary

    report = {"inputs": 2, "kind": "checkpoints", "outcomes": {"CheckpointError": 2}, "crashes": [], "slow": [],
              "slow_threshold_s": 2.0, "slowest": {"name": "a", "seconds": 0.2}, "most_memory": {"name": "b"},
              "peak_mb_beyond_baseline": 95.0, "baseline_mb": 730.0, "held_mb": 2100.0, "wall_s": 30.0}
    assert ("most memory one input took beyond what the process held before it: 95 MB (b); the process held 730 MB "
            "after importing and loading the default, 2100 MB with the inputs made (they are made first and kept)"
            in _summary(report).splitlines())


@pytest.mark.parametrize("default_s, slow", [(0.3, ["big config"]), (1.0, [])])
def test_a_checkpoint_is_slow_past_the_limit_and_past_four_times_the_shipped_defaults_own_load(monkeypatch,
                                                                                               default_s, slow):
    from midi_rae import fuzz

    cases = [fuzz.Hostile(fuzz.DEFAULT_CONTROL, "control", b"", expect="ok"), fuzz.Hostile("big config", "config", b"")]
    seconds = iter([default_s, 3.5])  # a loaded machine: the default itself took 1 s, so 3.5 s is the machine's pace
    monkeypatch.setattr(fuzz, "_baseline", lambda: 0.0)
    monkeypatch.setattr(fuzz, "measure", lambda fn: fuzz.Measured("ok", "", next(seconds), 0.0))
    report = fuzz.run_checkpoint_fuzz(cases)
    assert [r["name"] for r in report["slow"]] == slow
    assert report["slow_threshold_s"] == max(2.0, 4 * default_s)


def test_a_pipe_or_a_device_given_as_a_midi_file_is_one_sentence_not_a_wait(tmp_path):
    import os

    from midi_rae.pianoroll import MidiError, midi_to_roll
    from midi_rae.png_rolls import read_roll

    pipe = tmp_path / "song.mid"
    os.mkfifo(pipe)  # no writer: opening it would wait for ever
    for source in (pipe, Path("/dev/zero")):  # /dev/zero: endless, with a size of 0
        with pytest.raises(MidiError, match=r"is not a regular file\.$"):
            read_roll(source)
        with pytest.raises(MidiError, match=r"is not a regular file\.$"):
            midi_to_roll(source)


def test_indexing_does_not_read_a_file_past_the_size_it_may_index(tmp_path):
    from midi_rae.index import _file_hash

    big = tmp_path / "huge.mid"
    with open(big, "wb") as f:  # sparse: 3 GB stated, nothing on disk
        f.truncate(3 * 2 ** 30)
    assert _file_hash(big) is None and _file_hash(tmp_path / "gone.mid") is None


def test_a_data_split_that_is_not_lists_of_names_is_damaged_metadata():
    from midi_rae.checkpoint_meta import CheckpointError, check_meta

    assert check_meta({"data": {"test_names": ["a.mid"], "files": 3}}, "x")["data"]["files"] == 3
    for data in ("x", [1, 2], {"test_names": 5}, {"val_names": [1]}):
        with pytest.raises(CheckpointError, match=r"^The uploaded checkpoint has damaged metadata: its data split "):
            check_meta({"data": data}, "the uploaded checkpoint")


def test_a_checkpoint_for_images_other_than_piano_rolls_is_refused_at_load(tmp_path):
    from midi_rae.checkpoint import CheckpointError, build_models, load_model, save_checkpoint
    from midi_rae.config import DEFAULT

    for change, words in (({"in_chans": 2}, "128 rows and 2 channels"),
                          ({"img_height": 64, "patch_h": 2}, "64 rows and 1 channel")):
        cfg = {**DEFAULT.to_dict(), **change}
        enc, dec = build_models(cfg, "swin")
        save_checkpoint(tmp_path / "odd.safetensors", enc, dec, cfg)
        with pytest.raises(CheckpointError, match=rf"was made for images of {words}; a piano roll has 128 rows"):
            load_model(tmp_path / "odd.safetensors")


def test_a_checkpoint_with_bytes_before_its_archive_is_refused():
    """zipfile shifts every offset by bytes before the archive, torch's reader does not: a harmless archive after a
    hostile one's first bytes had zipfile check one pickle while torch read the other."""
    from midi_rae.checkpoint import CheckpointError, load_model
    from midi_rae.fuzz import _calling_a_shared_list, _pt, _rezip

    base = _pt({"a": 1})
    harmless = zipfile.ZipFile(io.BytesIO(base)).read("archive/data.pkl")
    hostile = _calling_a_shared_list(22)  # 2^22 leaves: a refusal of 29 MB, written in 3 s
    size = max(len(harmless), len(hostile))  # members of one size: the two archives' offsets agree
    hostile = _rezip(base, {"data.pkl": hostile.ljust(size, b"\0")})  # bytes after STOP are never read
    data = hostile[:-22] + _rezip(base, {"data.pkl": harmless.ljust(size, b"\0")})
    assert zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl").startswith(harmless)  # what zipfile sees
    with pytest.raises(CheckpointError, match=r"is not a readable PyTorch checkpoint \(damaged, cut off, or another "
                                              r"kind of file\)\.$"):
        load_model(data)

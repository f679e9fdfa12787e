"""The evaluate command and its parts: windows by the one rule, scores at the checkpoint's validation threshold
(never one chosen on the windows scored), a run's test split, and errors in one line."""
from __future__ import annotations

import json
import shutil
from pathlib import Path
import subprocess
import sys

import numpy as np
import pretty_midi
import pytest
import torch

from conftest import ROOT, make_song, to_bytes
from midi_rae.__main__ import main
from midi_rae.checkpoint import load_model, save_checkpoint
from midi_rae.evaluation import VALIDATION_THRESHOLDS, summarize
from midi_rae.inference import WindowScores, piece_windows, score_windows
from midi_rae.pianoroll import midi_to_roll
from midi_rae.train import TrainConfig, train
from midi_rae.train_data import evaluation_windows, find_roll_files

KEYS = {"checkpoint", "split", "threshold", "threshold_source", "windows", "mask_ratio", "plain", "masked",
        "masked_all", "at_0.5", "bridge_baseline_masked_f1", "seed", "files", "readable", "skipped"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(MIDI folder, a tiny trained run's last checkpoint)."""
    d = tmp_path_factory.mktemp("midi")
    for i in range(8):
        (d / f"piece{i}.mid").write_bytes(to_bytes(make_song(bars=10, seed=10 + i, tempo=100 + 5 * i)))
    out = tmp_path_factory.mktemp("run")
    train(TrainConfig(midi_dir=str(d), out=str(out), batch_size=4, max_steps=12, warmup_steps=2, val_every=12,
                      ckpt_every=12, val_fraction=0.2, val_windows=8, workers=0, threads=1), log=lambda *_: None)
    return d, out / "last.safetensors"


def _with_meta(src, dst, **changes):
    b = load_model(src)
    meta = {**b.meta, **changes}
    for k in [k for k, v in changes.items() if v is None]:
        del meta[k]
    save_checkpoint(dst, b.encoder, b.decoder, b.config, meta)
    return dst


def _evaluate(capsys, *args) -> dict:
    assert main(["evaluate", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_evaluate_command_prints_one_json_object_with_scores_in_range(run):
    d, ck = run
    res = subprocess.run([sys.executable, "-m", "midi_rae", "evaluate", str(d), "--checkpoint", str(ck), "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert set(r) == KEYS
    assert r["files"] == r["readable"] == 8 and r["split"] == "all" and r["skipped"] == {}
    assert r["threshold"] == load_model(ck).meta["threshold"] and r["threshold_source"] == "checkpoint"
    assert r["windows"] == 8 * 3  # 10 bars, one-bar hop: windows at bars 1, 2, 3 of each piece
    for kind in ("plain", "masked", "masked_all"):
        assert set(r[kind]) == {"precision", "recall", "f1", "specificity"}
        assert all(v is None or 0 <= v <= 1 for v in r[kind].values())
    assert 0 <= r["bridge_baseline_masked_f1"] <= 1 and r["mask_ratio"] == 0.5


def test_evaluate_lists_the_files_it_could_not_read_with_their_sentence(run, tmp_path):
    d, ck = run
    folder = tmp_path / "mixed"
    shutil.copytree(d, folder)
    (folder / "empty.mid").write_bytes(b"")
    res = subprocess.run([sys.executable, "-m", "midi_rae", "evaluate", str(folder), "--checkpoint", str(ck)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("8 of 9 files read, ")
    assert lines[-2:] == ["1 file could not be read:", f"  {folder / 'empty.mid'}: The file is empty."]


def test_a_file_named_twice_or_through_a_link_is_scored_once(run, tmp_path, capsys):
    d, ck = run
    (tmp_path / "link.mid").symlink_to(d / "piece0.mid")
    r = _evaluate(capsys, d, d / "piece0.mid", tmp_path / "link.mid", "--checkpoint", ck)
    assert (r["files"], r["windows"]) == (8, 8 * 3)


def test_entries_named_like_midi_files_that_are_none_are_listed_with_their_reason(run, tmp_path, capsys):
    d, ck = run
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy(d / "piece0.mid", folder / "piece0.mid")
    (folder / "folder.mid").mkdir()
    (folder / "loop.mid").symlink_to(folder / "loop.mid")
    r = _evaluate(capsys, folder, "--checkpoint", ck)
    assert r["files"] == 3 and r["readable"] == 1
    assert sorted(Path(p).name for p in r["skipped"]) == ["folder.mid", "loop.mid"]


def test_evaluating_one_unreadable_file_says_why(run, tmp_path):
    _, ck = run
    (tmp_path / "notes.mid").write_text("not music")
    res = subprocess.run([sys.executable, "-m", "midi_rae", "evaluate", str(tmp_path / "notes.mid"), "--checkpoint",
                          str(ck)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode != 0 and res.stderr.startswith("error: notes.mid: ") and "MIDI" in res.stderr


def test_a_folder_without_midi_files_is_named_in_the_error(run, tmp_path):
    _, ck = run
    (tmp_path / "dir.mid").mkdir()
    res = subprocess.run([sys.executable, "-m", "midi_rae", "evaluate", str(tmp_path / "dir.mid"), "--checkpoint",
                          str(ck)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode != 0 and res.stderr.strip() == f"error: no MIDI files to evaluate in {tmp_path / 'dir.mid'}."


def test_evaluating_only_unreadable_files_says_how_many_and_why_the_first(run, tmp_path):
    _, ck = run
    (tmp_path / "a.mid").write_bytes(b"")
    (tmp_path / "b.mid").write_bytes(b"")
    res = subprocess.run([sys.executable, "-m", "midi_rae", "evaluate", str(tmp_path), "--checkpoint", str(ck)],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode != 0
    assert res.stderr.strip() == ("error: none of the 2 files has a readable, non-empty window to score (2 could "
                                  "not be read, the first a.mid: The file is empty).")


def test_evaluate_scores_at_the_stored_threshold_where_another_would_score_better(run, tmp_path, capsys):
    d, ck = run
    b = load_model(ck)
    x, _ = evaluation_windows(find_roll_files(d), 4, 128, 2000)
    ws = score_windows(b.encoder, b.reconstruct, x, 0.5, 0.05, VALIDATION_THRESHOLDS)

    def total(t):
        s = summarize(ws, t)
        return (s["plain"]["f1"] or 0) + (s["masked"]["f1"] or 0)

    best = ws.best_threshold()
    worst = min(VALIDATION_THRESHOLDS, key=total)
    assert total(worst) < total(best)  # on these windows the choice matters
    stored = _with_meta(ck, tmp_path / "stored.safetensors", threshold=worst)
    r = _evaluate(capsys, d, "--checkpoint", stored)
    assert r["threshold"] == worst and r["threshold_source"] == "checkpoint"
    assert r["plain"] == summarize(ws, worst)["plain"] and r["masked"] == summarize(ws, worst)["masked"]


def test_threshold_argument_overrides_the_stored_one(run, capsys):
    d, ck = run
    r = _evaluate(capsys, d, "--checkpoint", ck, "--threshold", "0.35")
    assert r["threshold"] == 0.35 and r["threshold_source"] == "argument"


def test_a_checkpoint_without_a_threshold_is_scored_at_0_5(run, tmp_path, capsys):
    d, ck = run
    bare = _with_meta(ck, tmp_path / "bare.safetensors", threshold=None)
    r = _evaluate(capsys, d, "--checkpoint", bare)
    assert r["threshold"] == 0.5 and r["threshold_source"] == "default"
    assert r["at_0.5"] == {"plain": r["plain"]["f1"], "masked": r["masked"]["f1"]}


def test_split_test_scores_only_the_runs_test_pieces(run, capsys):
    d, ck = run
    test_names = load_model(ck).meta["data"]["test_names"]
    assert test_names
    r = _evaluate(capsys, d, "--checkpoint", ck, "--split", "test")
    assert r["split"] == "test" and r["files"] == r["readable"] == len(test_names)
    assert r["windows"] == 3 * len(test_names)


def test_only_keeps_the_listed_files_by_name_or_path_one_per_line(run, tmp_path, capsys):
    d, ck = run
    spaced = tmp_path / "with space" / "a piece.mid"
    spaced.parent.mkdir()
    shutil.copy(d / "piece3.mid", spaced)
    keep = tmp_path / "keep.txt"
    keep.write_text(f"piece1.mid\n{spaced}\nnot-there.mid\n")
    r = _evaluate(capsys, d, spaced.parent, "--checkpoint", ck, "--only", keep)
    assert r["files"] == 2 and r["windows"] == 6


def test_split_test_of_a_checkpoint_without_a_recorded_split_is_one_error_line(run, tmp_path):
    d, ck = run
    old = _with_meta(ck, tmp_path / "old.safetensors", data=None)
    res = subprocess.run([sys.executable, "-m", "midi_rae", "evaluate", str(d), "--checkpoint", str(old),
                          "--split", "test"], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert lines == ["error: old.safetensors records no test split (only `midi-rae train` records one, since its "
                     "three-way split); pass --only with a list of untouched files instead."]


def test_evaluation_windows_follow_piece_windows_drop_empty_ones_and_thin_evenly(tmp_path):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0)
    for bar in list(range(0, 4)) + list(range(20, 24)):  # notes in bars 1-4 and 21-24, silence between
        inst.notes.append(pretty_midi.Note(90, 60 + bar % 5, bar * 2.0, bar * 2.0 + 1.5))
    pm.instruments.append(inst)
    f = tmp_path / "gap.mid"
    f.write_bytes(to_bytes(pm))
    all_windows, starts, _ = piece_windows(midi_to_roll(f), 128)
    non_empty = all_windows.flatten(1).any(dim=1)
    assert not non_empty.all()  # the gap leaves empty windows
    x, readable = evaluation_windows([f], 4, 128, 1000)
    assert readable == [str(f)] and torch.equal(x, all_windows[non_empty])
    thinned, _ = evaluation_windows([f, f], 4, 128, 5)
    kept = torch.cat([all_windows[non_empty]] * 2)
    assert torch.equal(thinned, kept[np.linspace(0, len(kept) - 1, 5).round().astype(int)])


def test_undefined_scores_become_null():
    zero = {"tp": 0, "fp": 0, "fn": 0, "tn": 10}
    ws = WindowScores((0.5,), {0.5: {"plain": zero, "masked": zero, "masked_all": zero}}, zero, 1, 0.5)
    s = summarize(ws, 0.5)
    assert s["plain"] == {"precision": None, "recall": None, "f1": None, "specificity": 1.0}
    json.dumps(s, allow_nan=False)


def test_an_only_list_that_is_not_text_is_one_sentence(tmp_path):
    from midi_rae.evaluation import select_files

    binary = tmp_path / "list.bin"
    binary.write_bytes(b"\xff\xfe\x00 not utf-8 \x80")
    with pytest.raises(ValueError, match=r"^list\.bin is not a text file of file names \(UTF-8\)\.$"):
        select_files([tmp_path], only=binary)


@pytest.mark.parametrize("seed", [-1, 2 ** 32])
def test_a_seed_outside_0_to_2_to_the_32_is_refused_in_one_sentence(run, seed):
    from midi_rae.evaluation import evaluate_files

    d, ck = run
    with pytest.raises(ValueError) as e:
        evaluate_files(load_model(ck), find_roll_files(d)[:1], seed=seed)
    assert str(e.value) == f"--seed {seed} is not a seed: a seed is a whole number from 0 to 4,294,967,295."


def test_evaluating_a_pipe_says_it_is_not_a_regular_file(run, tmp_path, capsys):
    import os

    _, ck = run
    fifo = tmp_path / "fifo.mid"
    os.mkfifo(fifo)
    with pytest.raises(SystemExit) as e:
        main(["evaluate", str(fifo), "--checkpoint", str(ck)])
    assert e.value.code == 1 and capsys.readouterr().err.splitlines() == [
        f"error: {fifo} is not a regular file (a pipe, a device or a socket), so it was not read; give MIDI or PNG "
        f"files, or folders."]


def test_a_png_piano_roll_is_scored_as_its_midi_is(run, capsys, tmp_path):
    from midi_rae.png_rolls import roll_to_png

    d, ck = run
    (tmp_path / "midi").mkdir()
    (tmp_path / "png").mkdir()
    shutil.copy(d / "piece0.mid", tmp_path / "midi" / "piece0.mid")
    (tmp_path / "png" / "piece0.png").write_bytes(roll_to_png(midi_to_roll(d / "piece0.mid").array))
    from_midi = _evaluate(capsys, tmp_path / "midi", "--checkpoint", ck)
    from_png = _evaluate(capsys, tmp_path / "png", "--checkpoint", ck)
    assert from_png["files"] == 1 and not from_png["skipped"]
    assert (from_png["windows"], from_png["plain"], from_png["masked"]) == \
        (from_midi["windows"], from_midi["plain"], from_midi["masked"])

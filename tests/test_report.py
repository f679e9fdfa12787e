"""The HTML report: one self-contained file with every section, and one-line errors from the command."""
from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, make_song, to_bytes
from midi_rae.checkpoint import DEFAULT_CONFIG, build_models, save_checkpoint
from midi_rae.pianoroll import song_hop
from midi_rae.report import SECTIONS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midi_rae", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    enc, dec = build_models(DEFAULT_CONFIG, "swin")
    return save_checkpoint(tmp_path_factory.mktemp("ckpt") / "fresh.safetensors", enc.eval(), dec.eval(),
                           DEFAULT_CONFIG, {"threshold": 0.5})


@pytest.fixture(scope="module")
def report(checkpoint, tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    song = d / "song.mid"
    song.write_bytes(to_bytes(make_song(bars=12, seed=3, drums=False)))
    out = d / "report.html"
    done = run_cli("report", str(song), "--checkpoint", str(checkpoint), "--start-bar", "2", "-o", str(out))
    return done, out


def test_report_command_exits_zero_and_writes_one_html_file(report):
    done, out = report
    assert done.returncode == 0, done.stderr
    assert out.is_file()
    assert [p.name for p in out.parent.iterdir() if p.suffix == ".html"] == ["report.html"]


def test_report_has_every_section_heading(report):
    text = report[1].read_text()
    for heading in SECTIONS.values():
        assert f"<h2>{heading}</h2>" in text


def test_report_embeds_plotly_once_and_loads_nothing_from_the_network(report):
    text = report[1].read_text()
    assert "plotly.js v" in text  # the library's own banner, inline
    assert text.count("plotly.js v") == 1
    assert not re.search(r"<script[^>]+src=[\"']https?:", text)


def test_report_has_a_metrics_table_when_the_checkpoint_has_a_decoder(report):
    text = report[1].read_text()
    assert "Masked patches" in text and "Specificity" in text


def test_bad_midi_is_one_line_on_stderr_and_exit_one(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not a midi file")
    done = run_cli("report", str(bad), "-o", str(tmp_path / "r.html"))
    assert done.returncode == 1
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error: ")
    assert not (tmp_path / "r.html").exists()


def test_song_hop_is_one_bar_until_the_window_count_would_pass_the_cap():
    assert song_hop(steps=16 * 100, steps_per_bar=16, width=128) == 16
    assert song_hop(steps=16 * 1000, steps_per_bar=16, width=128, max_windows=240) == 16 * 5


def test_report_of_an_encoder_only_checkpoint_says_there_is_no_reconstruction(tmp_path):
    from midi_rae.report import build_report

    torch.manual_seed(0)
    enc, _ = build_models(DEFAULT_CONFIG, None)
    ckpt = save_checkpoint(tmp_path / "enc.safetensors", enc, None, DEFAULT_CONFIG)
    song = tmp_path / "song.mid"
    song.write_bytes(to_bytes(make_song(bars=8, seed=1, drums=False)))
    text = build_report(song, checkpoint=str(ckpt))
    assert "encoder only, so there is no reconstruction" in text
    assert f"<h2>{SECTIONS['recon']}</h2>" in text


def test_report_tables_give_each_column_the_decimals_it_needs_and_no_negative_zero():
    from midi_rae.report import _table

    html = _table([{"Piece mean %": 36.9, "F1 drop": 0.78333}, {"Piece mean %": 100.0, "F1 drop": -0.0004}])
    cells = [c.split(">")[1] for c in html.split("<td")[1:]]
    assert [c.removesuffix("</td") for c in cells] == ["36.9", "0.783", "100.0", "0.000"]


def test_report_tables_write_a_missing_value_as_a_dash_and_scores_that_are_all_0_or_1_with_three_decimals():
    from midi_rae.report import _table

    html = _table([{"Std": None, "F1": 0.0, "Count": 4}, {"Std": 2.5, "F1": 1.0, "Count": 0}])
    cells = [c.split(">")[1].removesuffix("</td") for c in html.split("<td")[1:]]
    assert cells == ["—", "0.000", "4", "2.5", "1.000", "0"]


def test_the_report_of_a_one_window_piece_says_no_level_can_be_ablated(checkpoint, tmp_path):
    from midi_rae.ablation import ONE_WINDOW_NOTE

    song = tmp_path / "short.mid"
    song.write_bytes(to_bytes(make_song(bars=4, seed=2, drums=False)))
    out = tmp_path / "new" / "short.html"  # a folder that is not there yet: made, and said
    done = run_cli("report", str(song), "--checkpoint", str(checkpoint), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out} (the folder {tmp_path / 'new'} did not exist: it was made for it)"
    assert f'<p class="note">{ONE_WINDOW_NOTE}</p>' in out.read_text()


def test_a_start_bar_past_the_last_window_start_is_studied_from_there_with_a_note(checkpoint, tmp_path):
    song = tmp_path / "ten.mid"
    song.write_bytes(to_bytes(make_song(bars=10, seed=2, drums=False)))
    out = tmp_path / "ten.html"
    done = run_cli("report", str(song), "--checkpoint", str(checkpoint), "--start-bar", "99", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ("note: bar 99 is past the last bar a window of ten.mid starts at (a window from "
                                   "there would hold bars of silence): bar 3 is studied.")
    assert "Window: 128 steps from bar 3" in out.read_text()


def test_the_report_states_the_piece_as_the_page_header_does(checkpoint, tmp_path):
    import pretty_midi

    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.report import build_report
    from midi_rae.wording import timing_text

    pm = make_song(bars=12, seed=5, drums=False)
    pm.time_signature_changes = [pretty_midi.TimeSignature(6, 8, 0.0)]  # a beat is a dotted quarter
    song = tmp_path / "jig.mid"
    song.write_bytes(to_bytes(pm))
    text = build_report(song, checkpoint=str(checkpoint))
    words = timing_text(midi_to_roll(str(song)))
    assert "80 beats a minute (quarter note = 120)" in words and html.escape(words) in text


def _late_start(path):
    """Four bars of music after 30 bars of silence (120 BPM, 4/4): its first note is in bar 31."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(80, 60 + i % 5, 60.0 + 0.5 * i, 60.4 + 0.5 * i) for i in range(32)]
    pm.instruments.append(inst)
    path.write_bytes(to_bytes(pm))
    return path


def test_a_piece_that_starts_after_a_long_silence_is_studied_from_its_first_note_as_the_page_opens_it(checkpoint,
                                                                                                      tmp_path):
    from midi_rae.report import build_report

    notes: list = []
    text = build_report(_late_start(tmp_path / "late.mid"), checkpoint=str(checkpoint), notes=notes)
    assert notes == ["the window at bar 1 holds no note: the window studied starts at bar 31 and holds the first "
                     "note (--start-bar chooses another)."]
    assert "bar 31" in text


def test_the_reports_phrase_boundaries_keep_a_bars_quarters_past_bar_99():
    from midi_rae.report import bar_numbers

    assert bar_numbers([99.25, 101.75, 17.875]) == "100.25, 102.75, 18.875"  # 4 significant figures gave 100.2


def test_the_report_counts_the_drums_left_out_and_says_when_the_grid_moves_notes(checkpoint, tmp_path):
    import pretty_midi

    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.report import build_report

    pm = make_song(bars=12, seed=5, drums=True)
    melody = pretty_midi.Instrument(0)  # triplet eighths: a 4-steps-per-beat grid cannot place them
    melody.notes += [pretty_midi.Note(80, 72, i / 3, i / 3 + 0.3) for i in range(60)]
    pm.instruments.append(melody)
    song = tmp_path / "triplets.mid"
    song.write_bytes(to_bytes(pm))
    roll = midi_to_roll(str(song))
    assert roll.drum_notes > 0 and roll.grid_note
    text = build_report(song, checkpoint=str(checkpoint))
    assert f"(and {roll.drum_notes:,} of drums, left out)" in text and html.escape(roll.grid_note) in text


def test_a_file_whose_name_is_not_utf8_gets_its_report_with_the_name_escaped(checkpoint, tmp_path):
    import os

    song = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff\xfe.mid"))
    song.write_bytes(to_bytes(make_song(bars=8, seed=3, drums=False)))
    out = tmp_path / "r.html"
    done = run_cli("report", str(song), "--checkpoint", str(checkpoint), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "<title>midi_rae report: bad\\xff\\xfe</title>" in out.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".mid") == ["r.html"]  # no part left over


def test_a_report_that_cannot_be_written_leaves_no_file_and_a_link_is_written_through(tmp_path, monkeypatch):
    from midi_rae import report

    monkeypatch.setattr(report, "build_report", lambda midi, **kw: "<p>caf\udcff</p>")  # text UTF-8 cannot hold
    with pytest.raises(UnicodeEncodeError):
        report.write_report(tmp_path / "r.html", "x.mid")
    assert list(tmp_path.iterdir()) == []  # neither the report nor its part
    monkeypatch.setattr(report, "build_report", lambda midi, **kw: "<p>ok</p>")
    (tmp_path / "target.html").write_text("old")
    (tmp_path / "link.html").symlink_to(tmp_path / "target.html")
    report.write_report(tmp_path / "link.html", "x.mid")
    assert (tmp_path / "link.html").is_symlink() and (tmp_path / "target.html").read_text() == "<p>ok</p>"


def test_a_report_written_to_standard_output_reaches_a_pipe(checkpoint, tmp_path):
    song = tmp_path / "s.mid"
    song.write_bytes(to_bytes(make_song(bars=8, seed=3, drums=False)))
    done = run_cli("report", str(song), "--checkpoint", str(checkpoint), "-o", "/dev/stdout")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("<!DOCTYPE html>")  # capture_output: standard output is a pipe


def test_a_report_column_of_percentages_under_one_keeps_their_one_decimal_not_a_scores_three():
    from midi_rae.report import _table

    html = _table([{"Std %": 0.0}, {"Std %": 0.7}, {"Std %": 0.3}, {"Std %": 0.1}])
    cells = [c.split(">")[1].removesuffix("</td") for c in html.split("<td")[1:]]
    assert cells == ["0.0", "0.7", "0.3", "0.1"]


def test_a_file_name_with_markup_is_text_in_every_title_of_the_report(checkpoint, tmp_path):
    from midi_rae.report import build_report

    song = tmp_path / '<a href="https:evil.example">CLICK<b>x\u202efdp.mid'
    song.write_bytes(to_bytes(make_song(bars=12, seed=3, drums=False)))
    text = build_report(song, checkpoint=str(checkpoint))
    # plotly draws <a href>, <b> and <br> in a title: the name's are entities, and its direction override an escape
    title = r'"title":{"text":"&lt;a href=&quot;https:evil.example&quot;&gt;CLICK&lt;b&gt;x\\u202efdp: whole piece'
    assert title in text and "\u202e" not in text
    assert "<h1>midi_rae report: &lt;a href=&quot;https:evil.example&quot;&gt;CLICK&lt;b&gt;x\\u202efdp</h1>" in text


def test_report_gives_f1_along_the_piece_as_the_core_scores_it(report, checkpoint):
    from midi_rae import load_model
    from midi_rae.inference import MaskSettings
    from midi_rae.pianoroll import midi_to_roll, place
    from midi_rae.piece_scores import score_piece

    text = report[1].read_text()
    song = report[1].parent / "song.mid"
    s = score_piece(load_model(str(checkpoint)), midi_to_roll(song), MaskSettings(0.5, 0.05, 0, 0.5))
    assert (f"F1 {s.pooled('masked'):.3f} on masked patches, {s.pooled('plain'):.3f} unmasked") in text
    worst = int(np.nanargmin(s.f1("masked")))
    assert f"<td class=\"l\">{place(midi_to_roll(song), int(s.starts[worst]), 128)}</td>" in text.split(
        f"<h2>{SECTIONS['along']}</h2>")[1].split("<h2>")[0]

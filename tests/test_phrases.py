"""Phrase probe: exact values of the novelty, peak picking and boundary scoring; a piece with a known section
boundary; the shipped labelled set."""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys

import numpy as np
import pretty_midi
import pytest

from html_tables import page_tables
from conftest import ROOT, chart_specs, to_bytes
from hierarchy_util import IdentityEncoder
from midi_rae.config import ModelConfig
from midi_rae.inference import encode_piece
from midi_rae.phrases import (MIDI_DIR, ProbeSettings, boundary_scores, checkerboard_kernel, column_frames,
                              grid_boundaries, labels_for_roll, load_labels, match_boundaries, novelty, pick_peaks,
                              piece_tracks, reference_bars, roll_key, score_labelled)
from midi_rae.pianoroll import midi_to_roll

# ---------------------------------------------------------------------------------------------- exact values


def test_checkerboard_kernel_values():
    e4 = math.exp(-4)  # g(±1) = exp(-(1 / 0.5)^2 / 2) = e^-2 at L = 1, taper 0.5
    assert np.allclose(checkerboard_kernel(1), [[e4, 0, -e4], [0, 0, 0], [-e4, 0, e4]], rtol=0, atol=1e-15)


def test_novelty_of_two_blocks_is_within_minus_across():
    sim = np.kron(np.eye(2), np.ones((4, 4)))  # frames 0-3 alike, 4-7 alike, the two blocks orthogonal
    n = novelty(sim, 2)
    g1, g2 = math.exp(-0.5), math.exp(-2)  # the taper at offsets 1 and 2 (L = 2)
    assert n[0] == 0 and n[7] == 0  # no frame on one side
    assert n[3] == pytest.approx(1.0, abs=1e-12) and n[4] == pytest.approx(1.0, abs=1e-12)
    # frame 2: before {0, 1} alike (within 1); after {3 (A), 4 (B)} unlike (within 0); across: frames 0 and 1
    # (weights g2, g1) against 3 (g1, similar) and 4 (g2, orthogonal)
    expected2 = (1 + 0) / 2 - g1 / (g1 + g2)
    assert n[2] == pytest.approx(expected2, abs=1e-12) and n[5] == pytest.approx(expected2, abs=1e-12)
    # frame 1: before {0} alone (no pair: only after's within counts), after {2, 3}: within 1, across 1
    assert n[1] == pytest.approx(0.0, abs=1e-12) and n[6] == pytest.approx(0.0, abs=1e-12)
    # one frame a side: within counts as 1, so novelty is one minus the similarity of the two neighbours
    assert novelty(np.array([[1, 0.2, 0.3], [0.2, 1, 0.4], [0.3, 0.4, 1]]), 1)[1] == pytest.approx(0.7)


def test_pick_peaks_plateau_threshold_and_distance():
    t = np.arange(10, dtype=float)
    v = np.array([0, 1, 0, 0.5, 0.5, 0, 0.05, 0, 0.9, 0.2])
    assert pick_peaks(t, v, threshold=0.1, min_distance=1).tolist() == [1.0, 3.5, 8.0]  # 0.05 < 0.1 of 1
    assert pick_peaks(t, v, threshold=0.0, min_distance=1).tolist() == [1.0, 3.5, 6.0, 8.0]
    assert pick_peaks(t, v, threshold=0.1, min_distance=3).tolist() == [1.0, 8.0]  # 3.5 is 2.5 from 1
    assert pick_peaks(t, np.zeros(10)).size == 0 and pick_peaks(t[:0], v[:0]).size == 0
    # a boundary between two frames makes a two-frame plateau: it is placed between them
    assert pick_peaks(np.array([0.5, 1.5, 2.5, 3.5]), np.array([0, 1, 1 - 1e-13, 0])).tolist() == [2.0]


def test_boundary_scores_exact_values():
    s = boundary_scores([2, 5, 7], [1, 5.5, 9], tolerance=1)  # 2~1 (exactly 1 apart), 5~5.5, 7 missed
    assert (s["hits"], s["precision"], s["recall"]) == (2, 2 / 3, 2 / 3) and s["f1"] == pytest.approx(2 / 3)
    s = boundary_scores([2, 5, 7], [1, 5.5, 9], tolerance=0.5)
    assert (s["hits"], s["precision"], s["recall"], s["f1"]) == (1, 1 / 3, 1 / 3, pytest.approx(1 / 3))
    assert match_boundaries([1, 2], [1.9, 2.9], 1) == 2  # greedy-by-nearest would match 2~1.9 and lose one
    assert match_boundaries([1, 1.2], [1.1], 1) == 1  # one estimate matches one reference only
    assert boundary_scores([], [1, 2])["f1"] == 0 and boundary_scores([1], [])["precision"] == 0
    s = boundary_scores([4, 8], [4, 6, 8, 10], 0.25)
    assert (s["precision"], s["recall"], s["f1"]) == (0.5, 1.0, pytest.approx(2 / 3))
    assert grid_boundaries(160, 16).tolist() == [2, 4, 6, 8]
    assert grid_boundaries(150, 16).tolist() == [2, 4, 6, 8]


def test_matching_equals_mir_eval():
    mir = pytest.importorskip("mir_eval")
    rng = np.random.default_rng(0)
    for _ in range(200):
        ref = np.sort(rng.choice(np.arange(1, 40, 0.25), rng.integers(0, 12), replace=False))
        est = np.sort(rng.choice(np.arange(1, 40, 0.25), rng.integers(0, 12), replace=False))
        tol = float(rng.choice([0.25, 0.5, 1.0, 2.0]))
        assert match_boundaries(ref, est, tol) == len(mir.util.match_events(ref, est, tol))
        if len(ref) and len(est):
            p, r, f = mir.segment.detection(np.stack([np.r_[0, ref], np.r_[ref, 50]], 1),
                                            np.stack([np.r_[0, est], np.r_[est, 50]], 1), window=tol, trim=True)
            s = boundary_scores(ref, est, tol)
            assert (s["precision"], s["recall"], s["f1"]) == pytest.approx((p, r, f))


# ---------------------------------------------------------------------------------------------- a known answer


@pytest.fixture(scope="module")
def aabb(tmp_path_factory):
    """16 bars: A A (held chords, bars 1-8) then B B (staccato notes elsewhere, bars 9-16): a boundary at bar 8.
    A and B bars hold the same number of note pixels, so a window's content fades from A to B symmetrically."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0)
    for b in range(16):
        t = b * 2.0
        if b < 8:
            inst.notes += [pretty_midi.Note(80, p, t, t + 2.0) for p in (48, 55, 64)]
        else:
            inst.notes += [pretty_midi.Note(80, p, t + k * 0.25, t + k * 0.25 + 0.125)
                           for p in (72, 76, 79, 84, 88, 91) for k in range(8)]
    pm.instruments.append(inst)
    p = tmp_path_factory.mktemp("aabb") / "aabb.mid"
    p.write_bytes(to_bytes(pm))
    roll = midi_to_roll(p)
    assert roll.array[:, :16].sum() == roll.array[:, 128:144].sum() == 48
    return roll


def test_the_section_boundary_is_found_at_its_bar_by_the_raw_roll_and_an_identity_encoder(aabb):
    cfg = ModelConfig()
    piece = encode_piece(IdentityEncoder(), aabb)
    tracks = piece_tracks(piece, aabb, cfg.level_grids, cfg.window_steps, ProbeSettings(frames="columns"))
    assert [t.level for t in tracks] == [0, 1, 2, 3, 4, 5, None]
    assert tracks[-1].boundaries.tolist() == [8.0]  # the raw roll, exactly at the bar line
    for t in tracks[2:6]:  # patch columns of 2 bars (level 2) down to one beat (level 5)
        assert t.boundaries.tolist() == [8.0], t.name
    for t in tracks[:2]:  # 8- and 4-bar columns see the change as a fade, but find it within a bar
        assert boundary_scores([8.0], t.boundaries, 1.0)["recall"] == 1.0, t.name


def test_whole_window_frames_see_a_boundary_as_a_fade(aabb):
    cfg = ModelConfig()
    piece = encode_piece(IdentityEncoder(), aabb)
    tracks = piece_tracks(piece, aabb, cfg.level_grids, cfg.window_steps, ProbeSettings(frames="windows"))
    assert tracks[-1].boundaries.tolist() == [8.0]
    for t in tracks[:-1]:
        assert len(t.boundaries) == 1 and 4.0 <= t.boundaries[0] <= 12.0, t.name  # window centres run 4..12
        assert len(t.times) == 9 and t.times[0] == 4.0  # nothing within 4 bars of either end
    assert [t.boundaries[0] for t in tracks[1:5]] == [8.0] * 4


def test_column_frames_average_the_windows_that_hold_a_column():
    # 2 windows one bar (16 steps) apart, level 3's 8x8 grid (16-step columns): columns at steps 0..128 in
    # 16-step strides; the column at step 16 is window 0's column 1 and window 1's column 0
    W, rows, cols, D = 2, 8, 8, 3
    emb = np.zeros((W, rows * cols, D), np.float32)
    emb[0].reshape(rows, cols, D)[:, 1] = [1, 0, 0]
    emb[1].reshape(rows, cols, D)[:, 0] = [0, 1, 0]
    ne = np.ones((W, rows * cols), bool)
    centres, vec, span = column_frames(emb, ne, np.array([0, 16]), (rows, cols), 128, steps=140)
    assert span == 16 and centres.tolist() == [8 + 16 * i for i in range(9)]  # 0..128 (144 is past the end)
    assert vec[1].tolist() == [0.5, 0.5, 0.0]


# ---------------------------------------------------------------------------------------------- the labelled set


def test_the_labelled_set_is_consistent_with_its_midi():
    doc = load_labels()
    pieces = doc["pieces"]
    assert len(pieces) >= 40
    held = [p for p in pieces if p["shipped_model_split"] == "validation"]
    assert len(held) >= 30
    assert sum(f.stat().st_size for f in MIDI_DIR.glob("*.mid")) < 1_000_000
    for p in pieces:
        assert (MIDI_DIR / p["name"]).is_file()
        ends = [e["step"] for e in p["phrase_ends"]]
        assert ends == sorted(ends) and 0 < ends[0] and ends[-1] <= p["steps"]
        assert all(e["bar"] == e["step"] / p["steps_per_bar"] for e in p["phrase_ends"])
        assert len(reference_bars(p)) >= 1
    for p in pieces[::17]:  # a few read back: the roll is the one labelled
        roll = midi_to_roll(MIDI_DIR / p["name"], steps_per_beat=p["steps_per_beat"])
        assert roll.steps == p["steps"] and roll_key(roll.array) == p["roll_sha1"]
        for e in p["phrase_ends"]:  # a fermata chord starts at its onset step
            assert roll.onsets[:, e["onset_step"]].any()


def test_the_shipped_example_chorale_is_recognised_with_its_phrase_ends():
    roll = midi_to_roll(ROOT / "assets" / "examples" / "bach_chorale_bwv253.mid")
    lab = labels_for_roll(roll)
    assert lab is not None and lab["corpus_path"] == "bach/bwv253.mxl"
    assert reference_bars(lab).tolist() == [2.0, 5.0, 7.0]  # fermatas end on quarter 8, 20 and 28 of 40


@pytest.mark.parametrize("spb, semis", [(3, 0), (12, 0), (4, 5)])
def test_the_example_chorale_is_recognised_at_any_resolution_and_transposition(spb, semis):
    from midi_rae.pianoroll import transpose

    roll = midi_to_roll(ROOT / "assets" / "examples" / "bach_chorale_bwv253.mid", steps_per_beat=spb)
    lab = labels_for_roll(transpose(roll, semis) if semis else roll)
    assert lab is not None and lab["corpus_path"] == "bach/bwv253.mxl"
    assert reference_bars(lab).tolist() == [2.0, 5.0, 7.0]


def test_a_piece_that_is_not_labelled_is_not_recognised():
    assert labels_for_roll(midi_to_roll(ROOT / "assets" / "examples" / "oneills_1850_jig_0704.mid")) is None


def test_labels_match_music21_when_it_is_installed(tmp_path):
    pytest.importorskip("music21")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from make_phrase_labels import label_chorale
        from music21 import corpus
    finally:
        sys.path.pop(0)
    shipped = {p["name"]: p for p in load_labels()["pieces"]}
    for stem in ("bwv253", "bwv153.1"):  # bwv153.1 has a repeat, which music21 plays when it writes MIDI
        lab, why = label_chorale(corpus.getWork(f"bach/{stem}"), tmp_path)
        assert lab is not None, why
        ship = shipped[f"{stem}.mid"]
        assert lab["phrase_ends"] == ship["phrase_ends"] and lab["roll_sha1"] == ship["roll_sha1"]


def test_score_labelled_on_two_chorales():
    from hierarchy_util import bundle

    b = bundle(None)
    b.meta = {"data": {"val_names": ["bwv253.mid"]}}
    names = ["bwv253.mid", load_labels()["pieces"][-1]["name"]]
    r = score_labelled(b, ProbeSettings(), names=names)
    assert [p["name"] for p in r["pieces"]] == names
    assert set(r["summary"]) == {"all", "held out", "trained"}
    s = r["summary"]["all"]
    assert list(s)[:6] == [f"level {k} ({2 ** k}×{2 ** k})" for k in range(6)]
    assert {"piano roll, 1-bar frames", "every 2 bars"} <= set(s)
    for v in s.values():
        assert v["references"] == sum(p["phrase_ends"] for p in r["pieces"])


def test_a_run_on_other_music_counts_every_chorale_held_out_and_a_recorded_training_list_decides_exactly():
    from midi_rae.phrases import _held_out

    chorales = ["bwv253.mid", "bwv26.6.mid", "bwv101.7.mid"]
    mozart = {"data": {"val_names": ["k545.mid"], "test_names": ["k331.mid"]}}  # its files held no chorale
    assert _held_out(mozart, chorales) >= set(chorales)
    listed = {"data": {"train_names": ["bwv26.6.mid", "k545.mid"], "val_names": ["bwv253.mid"]}}
    assert _held_out(listed, chorales) == {"bwv253.mid", "bwv101.7.mid"}  # only bwv26.6 was trained on
    shipped = {"data": {"val_names": ["bwv253.mid"], "test_names": []}}  # a corpus that held chorales, unlisted
    assert _held_out(shipped, chorales) == {"bwv253.mid"}
    assert _held_out({}, chorales) is None


def test_phrases_command_on_the_example_chorale():
    done = subprocess.run([sys.executable, "-m", "midi_rae", "phrases", "assets/examples/bach_chorale_bwv253.mid",
                           "--json", "--tolerance-bars", "0.5"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert r["settings"]["tolerance_bars"] == 0.5
    f = r["files"][0]
    assert f["labelled"] == "bach/bwv253.mxl" and len(f["boundary_bar_numbers"]) == 7
    assert f["scores"]["every 2 bars"]["references"] == 3


def test_phrases_text_lists_the_baseline_the_page_scores_beside_the_tracks():
    done = subprocess.run([sys.executable, "-m", "midi_rae", "phrases", "assets/examples/bach_chorale_bwv253.mid"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  every 2 bars +\(a baseline\)  F1 \d\.\d{3} ", done.stdout, re.M), done.stdout


def test_phrases_gives_a_png_rolls_boundaries_in_steps(tmp_path):
    from PIL import Image

    image = np.zeros((128, 256), np.uint8)
    image[60:64, ::8] = 255
    image[70, 128:] = 255  # a second voice enters at step 128
    Image.fromarray(image).save(tmp_path / "roll.png")
    done = subprocess.run([sys.executable, "-m", "midi_rae", "phrases", str(tmp_path / "roll.png")],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "roll.png: boundaries at steps (a PNG roll has steps, not bars)" in done.stdout
    assert re.search(r"^  piano roll, 1-bar frames +128$", done.stdout, re.M), done.stdout


def test_phrases_command_numbers_bars_from_one_as_the_page_does():
    from midi_rae.checkpoint import load_model
    from midi_rae.inference import encode_piece
    from midi_rae.phrases import ProbeSettings, probe_piece
    from midi_rae.pianoroll import midi_to_roll

    path = "assets/examples/bach_chorale_bwv253.mid"
    done = subprocess.run([sys.executable, "-m", "midi_rae", "phrases", path, "--json"], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    bundle = load_model()
    roll = midi_to_roll(ROOT / path)
    probe = probe_piece(encode_piece(bundle.encoder, roll), roll, bundle.model_config, ProbeSettings())
    shown = {t.name: [round(float(b) + 1, 4) for b in t.boundaries] for t in probe.tracks}  # the page's x values
    assert json.loads(done.stdout)["files"][0]["boundary_bar_numbers"] == shown


@pytest.mark.skipif(not (ROOT / "assets" / "default.safetensors").is_file(), reason="no shipped checkpoint")
def test_the_dashboard_tab_shows_novelty_and_scores_a_labelled_chorale(tmp_path, monkeypatch):
    import shutil

    from streamlit.testing.v1 import AppTest

    d = tmp_path / "examples"
    d.mkdir()
    shutil.copy(ROOT / "assets" / "examples" / "bach_chorale_bwv253.mid", d)
    monkeypatch.setenv("MIDI_RAE_EXAMPLES", str(d))
    at = AppTest.from_file(str(ROOT / "midi_rae" / "dashboard" / "script.py"), default_timeout=240)
    at.session_state["analysis_tab"] = "Phrase probe"
    at.run()
    assert not at.exception
    assert any("Novelty per level" in s for s in chart_specs(at))
    assert any("bach/bwv253.mxl" in m.value for m in at.markdown)
    at.radio(key="phrase_tolerance").set_value("±½ bar").run()
    at.toggle(key="phrase_labelled").set_value(True).run()
    assert not at.exception
    assert any("Phrase-boundary F1" in s for s in chart_specs(at))
    assert any("every 2 bars" in list(t.index) for t in page_tables(at))


def test_a_novelty_panel_shows_the_whole_curve_where_it_dips_below_zero():
    from midi_rae.figures_hierarchy import novelty_curves
    from midi_rae.phrases import Track

    curve = np.array([0.0, 1.0, -2.5, 0.4, 0.0])
    fig = novelty_curves([Track("level 1 (2×2)", np.arange(5.0), curve, np.array([1.0]), 2, 1.0, level=1)])
    low, high = fig.layout.yaxis.range
    assert low <= -2.5 and high >= 1.0


def test_a_track_of_fewer_than_three_frames_is_drawn_as_no_curve_and_the_axis_ends_with_the_piece():
    from midi_rae.figures_hierarchy import novelty_curves
    from midi_rae.phrases import Track

    short = Track("level 3 (8×8)", np.array([0.5, 1.5]), np.zeros(2), np.zeros(0), 1, 1.0, level=3)
    window = Track("level 0 (1×1)", np.array([4.0]), np.zeros(1), np.zeros(0), 1, 8.0, level=0)
    fig = novelty_curves([window, short])
    assert [t for t in fig.data if any(x is not None for x in t.x)] == []  # nothing drawn through the frames
    assert [(a.text, a.xref) for a in fig.layout.annotations] == [("no curve: fewer than three frames", "x domain"),
                                                                  ("no curve: fewer than three frames", "x2 domain")]
    assert tuple(fig.layout.xaxis.range) == (1, 3.0)  # the 1-bar frames' end (bar 2) + 1, not the window's bar 8


def test_the_boundary_legend_is_shown_when_the_coarsest_track_has_no_curve():
    from midi_rae.figures_hierarchy import novelty_curves
    from midi_rae.phrases import Track

    short = Track("level 0 (1×1)", np.array([4.0]), np.zeros(1), np.zeros(0), 1, 8.0, level=0)
    curve = Track("level 1 (2×2)", np.arange(5.0), np.array([0.0, 1.0, 0.2, 0.4, 0.0]), np.array([1.0]), 2, 1.0,
                  level=1)
    shown = [t.name for t in novelty_curves([short, curve]).data if t.showlegend]
    assert shown == ["boundary found"]


def test_the_probe_chart_names_the_published_figure_in_its_title_not_on_the_bars():
    from midi_rae.figures_hierarchy import probe_scores

    fig = probe_scores([{"name": "level 0 (1×1)", "f1": 0.58, "precision": 0.9, "recall": 0.4}], published=0.56,
                       published_label="graph novelty")
    assert "published 0.56 (graph novelty)" in fig.layout.title.text and not fig.layout.annotations
    assert list(fig.data[0].x) == ["level 0<br>(1×1)"]


def test_the_labelled_scores_are_summed_up_as_the_best_level_against_the_best_baseline():
    from midi_rae.dashboard.panel_phrases import level_verdict

    rows = [{"Frames": "level 1 (2×2)", "F1": 0.5}, {"Frames": "level 2 (4×4)", "F1": 0.66},
            {"Frames": "piano roll, 1-bar frames", "F1": 0.7}, {"Frames": "every 2 bars", "F1": 0.89}]
    assert level_verdict(rows, 1) == ("**No level beats the baselines at ±1 bar**: the best level, level 2 (4×4), "
                                      "scores 0.660 against 0.890 for every 2 bars; a tighter tolerance tells them "
                                      "apart better.")
    rows[1]["F1"] = 0.95
    assert level_verdict(rows, 0.5).startswith("**level 2 (4×4)** finds the phrase ends best (F1 0.950), above "
                                               "every baseline (the best, every 2 bars: 0.890) at ±0.5 bar.")

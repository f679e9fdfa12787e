"""Level ablation on pieces and models with known answers."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pretty_midi
import pytest
import torch

from conftest import ROOT, chart_specs, make_song, to_bytes
from hierarchy_util import LEVELS, bundle
from html_tables import page_tables
from midi_rae.ablation import (ablate_piece, ablate_window, ablated, ablation_rows, even_sample, farthest_windows,
                                replace_level)
from midi_rae.checkpoint import DEFAULT_CONFIG, ModelBundle, build_models, save_checkpoint
from midi_rae.config import ModelConfig
from midi_rae.inference import MaskSettings, analyse_window, piece_windows, score_windows
from midi_rae.pianoroll import midi_to_roll


@pytest.fixture(scope="module")
def song(tmp_path_factory):
    p = tmp_path_factory.mktemp("ablate") / "song.mid"
    p.write_bytes(to_bytes(make_song(bars=12, seed=4, drums=False)))
    return midi_to_roll(p)


@pytest.fixture(scope="module")
def periodic(tmp_path_factory):
    """16 bars of one repeated bar: every window of the piece (8 bars, one bar apart, none padded) is the same."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    inst = pretty_midi.Instrument(0)
    for b in range(16):
        t = b * 2.0
        for k, p in enumerate((60, 64, 67, 72)):
            inst.notes.append(pretty_midi.Note(90, p, t + k * 0.5, t + k * 0.5 + 0.25))
        inst.notes.append(pretty_midi.Note(90, 48, t, t + 2.0))
    pm.instruments.append(inst)
    p = tmp_path_factory.mktemp("periodic") / "periodic.mid"
    p.write_bytes(to_bytes(pm))
    roll = midi_to_roll(p)
    assert roll.steps == 256
    return roll


SETTINGS = MaskSettings(mask_ratio=0.5, empty_mask_ratio=0.05, seed=3, threshold=0.5)


@pytest.mark.parametrize("mode", ["mean", "other"])
@pytest.mark.parametrize("used", [0, 3, 5])
def test_only_the_level_the_decoder_reads_costs_f1(song, mode, used):
    res = ablate_piece(bundle(used), song, mode, SETTINGS)
    assert res.f1("plain") == 1.0 and res.f1("masked") == 1.0  # the identity model rebuilds every pixel
    for k in range(LEVELS):
        if k == used:
            assert res.drop("plain", k) > 0.05 and res.drop("masked", k) > 0.05
        else:
            assert res.drop("plain", k) == 0.0 and res.drop("masked", k) == 0.0
    rows = ablation_rows(res)
    assert [r["Ablated"] for r in rows] == ["nothing"] + [f"level {k}" for k in range(LEVELS)]


def test_the_table_holds_the_drops_unrounded_so_each_view_rounds_them_once(song):
    res = ablate_piece(bundle(3), song, "mean", SETTINGS)
    rows = {r["Ablated"]: r for r in ablation_rows(res)}
    assert rows["level 3"]["Drop masked"] == res.drop("masked", 3) and rows["level 3"]["Drop unmasked"] == \
        res.drop("plain", 3)


@pytest.mark.parametrize("level", [None, 0, 2, 5])
def test_mean_ablation_of_a_level_identical_across_windows_costs_exactly_nothing(periodic, level):
    res = ablate_piece(bundle(level), periodic, "mean", SETTINGS)
    assert res.windows == 9
    for k in range(LEVELS):
        assert res.plain[f"level {k}"] == res.plain["none"]
        assert res.masked[f"level {k}"] == res.masked["none"]


def test_nothing_ablated_scores_as_score_windows_and_the_window_as_analyse_window(song):
    b = bundle(None)
    res = ablate_piece(b, song, "mean", SETTINGS)
    x, _, _ = piece_windows(song)
    ws = score_windows(b.encoder, b.reconstruct, x, SETTINGS.mask_ratio, SETTINGS.empty_mask_ratio, (0.5,),
                       seed=SETTINGS.seed, batch_size=len(x), each_window=True)
    for k in ("tp", "fp", "fn", "tn"):
        assert res.plain["none"][k] == ws.counts[0.5]["plain"][k]
        assert res.masked["none"][k] == ws.counts[0.5]["masked"][k]
    win = ablate_window(b, song, 16, "mean", SETTINGS)
    ref = analyse_window(b, song, 16, SETTINGS)
    assert np.array_equal(win.probs["none"], ref.probs)
    assert np.array_equal(win.hidden_px, ref.hidden_px)
    assert win.metrics["none"]["masked"]["f1"] == ref.metrics["masked"]["f1"]


def test_each_window_is_ablated_under_the_mask_the_piece_page_draws_for_it(song):
    """Not one stream of masks over the piece: the page's reconstruction row and the ablation tab agree."""
    from midi_rae.ablation import piece_codes

    b = bundle(None)
    _, starts, _ = piece_windows(song)
    _, masks, _, _ = piece_codes(b, song, SETTINGS)
    for i in (0, 1, len(starts) - 1):
        assert np.array_equal(masks[i].cpu().numpy(), analyse_window(b, song, int(starts[i]), SETTINGS).mask)


def test_a_long_piece_can_be_scored_on_windows_evenly_spaced_from_its_first_to_its_last(song):
    b = bundle(None)
    x, _, _ = piece_windows(song)
    assert len(x) == 5 and list(even_sample(5, 3)) == [0, 2, 4] and list(even_sample(5, 9)) == [0, 1, 2, 3, 4]
    res = ablate_piece(b, song, "mean", SETTINGS, max_windows=3)
    assert (res.windows, res.of_windows) == (3, 5)
    ws = score_windows(b.encoder, b.reconstruct, x[[0, 2, 4]], SETTINGS.mask_ratio, SETTINGS.empty_mask_ratio, (0.5,),
                       seed=SETTINGS.seed, batch_size=3)
    assert all(res.plain["none"][k] == ws.counts[0.5]["plain"][k] for k in ("tp", "fp", "fn", "tn"))


def test_the_page_scores_fewer_windows_of_a_costlier_model():
    from midi_rae.checkpoint import SEVEN_LEVEL_CONFIG
    from midi_rae.dashboard.panel_ablation import MAX_SCORED, windows_to_score

    assert windows_to_score(ModelConfig.from_dict(DEFAULT_CONFIG), "swin") == MAX_SCORED == 48
    # the original seven-level model: its MAE decoder attends over all 4,096 finest patches (170x the default's
    # operations a window; 48 of its windows took 164 s), so the page scores two
    assert windows_to_score(ModelConfig.from_dict(SEVEN_LEVEL_CONFIG), "mae") == 2


def test_window_ablation_changes_only_the_level_read(song):
    win = ablate_window(bundle(4), song, 0, "other", SETTINGS)
    for k in range(LEVELS):
        same = np.array_equal(win.probs[f"level {k}"], win.probs["none"])
        assert same == (k != 4)
    assert set(win.partner_starts) == {f"level {k}" for k in range(LEVELS)}
    assert all(s % song.steps_per_bar == 0 for s in win.partner_starts.values())


def test_a_real_decoder_with_one_lateral_path_uses_only_that_level(song):
    torch.manual_seed(0)
    enc, dec = build_models(DEFAULT_CONFIG, "swin")
    enc.eval(), dec.eval()
    with torch.no_grad():
        for i, lat in enumerate(dec.laterals):
            if i != 2:
                lat.weight.zero_()
                lat.bias.zero_()
    b = ModelBundle(enc, dec, config=dict(DEFAULT_CONFIG), meta={}, source="test", model_config=ModelConfig())
    win = ablate_window(b, song, 0, "mean", SETTINGS)
    for k in range(LEVELS):
        assert np.array_equal(win.probs[f"level {k}"], win.probs["none"]) == (k != 2)
    res = ablate_piece(b, song, "mean", SETTINGS, levels=[0])
    assert res.levels == [0] and res.drop("plain", 0) == 0.0 and res.drop("masked", 0) == 0.0


def test_a_piece_of_one_window_is_not_ablated_in_either_mode():
    from midi_rae.pianoroll import midi_to_roll

    roll = midi_to_roll(to_bytes(make_song(bars=4, seed=1)))
    for mode in ("mean", "other"):
        with pytest.raises(ValueError, match="^the piece fits in one window, so no level can be replaced"):
            ablate_piece(bundle(None), roll, mode, SETTINGS)


def test_farthest_windows_and_replacement_leave_the_original_alone():
    emb = np.array([[[1.0, 0.0]], [[0.9, 0.1]], [[0.0, 1.0]], [[-1.0, 0.0]]], dtype=np.float32)
    # window 2 is orthogonal to windows 0 and 3 alike: the tie goes to the earliest
    assert farthest_windows(emb, np.ones((4, 1), bool)).tolist() == [3, 3, 0, 0]
    with pytest.raises(ValueError, match="one window"):
        farthest_windows(emb[:1], np.ones((1, 1), bool))
    b = bundle(None)
    x = torch.rand(3, 1, 128, 128).round()
    out = b.encoder(x)
    before = out.patches.levels[1].emb.clone()
    m = ablated(out, 1, "mean")
    assert torch.equal(out.patches.levels[1].emb, before)
    assert torch.allclose(m.patches.levels[1].emb[0], before.mean(0))
    assert m.patches.levels[0] is out.patches.levels[0]
    o = ablated(out, 1, "other", partner=np.array([2, 0, 1]))
    assert torch.equal(o.patches.levels[1].emb[0], before[2])
    with pytest.raises(ValueError, match="shape"):
        replace_level(out, 1, before[:, :1])


def test_ablate_command_prints_json_for_a_fresh_checkpoint(tmp_path, song):
    torch.manual_seed(0)
    enc, dec = build_models(DEFAULT_CONFIG, "swin")
    ckpt = save_checkpoint(tmp_path / "fresh.safetensors", enc.eval(), dec.eval(), DEFAULT_CONFIG, {"threshold": 0.5})
    midi = tmp_path / "song.mid"
    midi.write_bytes(to_bytes(make_song(bars=10, seed=1, drums=False)))
    done = subprocess.run([sys.executable, "-m", "midi_rae", "ablate", str(midi), "--checkpoint", str(ckpt),
                           "--mode", "other", "--mask-ratio", "0.4", "--seed", "2", "--json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    r = json.loads(done.stdout)
    assert r["mode"] == "other" and r["mask_ratio"] == 0.4 and r["seed"] == 2 and r["windows"] == 3
    assert [lv["level"] for lv in r["levels"]] == list(range(LEVELS))
    for lv in r["levels"]:
        assert lv["drop_masked"] == pytest.approx(r["none"]["masked"]["f1"] - lv["masked"]["f1"], abs=2e-4)


@pytest.mark.skipif(not (ROOT / "assets" / "default.safetensors").is_file(), reason="no shipped checkpoint")
def test_the_dashboard_tab_draws_drops_table_and_error_maps_in_both_modes(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    d = tmp_path / "examples"
    d.mkdir()
    (d / "song.mid").write_bytes(to_bytes(make_song(bars=12, seed=2, drums=False)))
    monkeypatch.setenv("MIDI_RAE_EXAMPLES", str(d))
    at = AppTest.from_file(str(ROOT / "midi_rae" / "dashboard" / "script.py"), default_timeout=240)
    at.session_state["analysis_tab"] = "Level ablation"
    at.run()
    assert not at.exception
    specs = chart_specs(at)
    assert any("F1 lost over the piece" in s for s in specs) and any("each level ablated" in s for s in specs)
    table = [t for t in page_tables(at) if "Drop masked" in t.columns][0]
    assert list(table.index) == ["nothing"] + [f"level {k}" for k in range(LEVELS)]
    at.radio(key="ablation_mode").set_value("the least similar window").run()
    assert not at.exception
    assert any(re.search(r"Swapped in for this window: level 0 from the window at bar \d+(, beat \d)?, ", c.value)
               for c in at.caption), [c.value for c in at.caption]


def test_a_window_is_placed_by_its_bar_and_by_its_beat_only_off_the_bar_line():
    from midi_rae.dashboard.panel_ablation import window_place
    from midi_rae.pianoroll import midi_to_roll

    roll = midi_to_roll(to_bytes(make_song(bars=4, seed=2)))  # 4/4 at 4 steps per beat: 16 steps a bar
    assert [window_place(s, roll) for s in (0, 48, 56)] == ["bar 1", "bar 4", "bar 4, beat 3"]


@pytest.mark.parametrize("mode", ["mean", "other"])
def test_ablations_read_from_the_piece_codes_computed_once_equal_those_computed_alone(song, mode):
    from midi_rae.ablation import piece_codes

    b = bundle(4)
    codes = piece_codes(b, song, SETTINGS)
    for start in (0, song.steps_per_bar):
        alone, shared = ablate_window(b, song, start, mode, SETTINGS), ablate_window(b, song, start, mode, SETTINGS,
                                                                                     codes=codes)
        assert all(np.array_equal(alone.probs[k], shared.probs[k]) for k in alone.probs)
        assert alone.partner_starts == shared.partner_starts
    assert ablate_piece(b, song, mode, SETTINGS).masked == ablate_piece(b, song, mode, SETTINGS, codes=codes).masked


def test_a_drop_that_rounds_to_nothing_is_written_0_not_minus_0_in_json():
    import json

    from midi_rae import ablation

    assert json.dumps([ablation._f(-0.00001), ablation._f(-0.25)]) == "[0.0, -0.25]"

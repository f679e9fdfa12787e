"""The analysis core: one windowing rule, a piece's encoding, a window under a mask, scores, labelled tables."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import make_song, to_bytes
from midi_rae.analysis import level_stats
from midi_rae.checkpoint import DEFAULT_CONFIG, build_models, load_model, save_checkpoint
from midi_rae.inference import (METRIC_LABELS, MaskSettings, WindowAnalysis, analyse_window, each_window_masks,
                                encode_piece, level_rows, metric_rows, patch_places, piece_windows, score_windows,
                                settings_for, spectrum_rows)
from midi_rae.pianoroll import midi_to_roll, window_at
from midi_rae.structure import spectrum


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    enc, dec = build_models(DEFAULT_CONFIG, "swin")
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "m.safetensors", enc, dec, DEFAULT_CONFIG,
                           {"threshold": 0.6})
    return load_model(path)


@pytest.fixture(scope="module")
def roll():
    return midi_to_roll(to_bytes(make_song(bars=40, seed=2)))  # 4/4 at 4 steps per beat: 640 steps


def test_a_piece_becomes_windows_one_bar_apart(roll):
    x, starts, hop = piece_windows(roll)
    assert hop == 16
    assert starts.tolist() == list(range(0, 640 - 128 + 1, 16))
    assert x.shape == (33, 1, 128, 128)


def test_a_long_piece_keeps_at_most_240_windows_a_whole_number_of_bars_apart():
    from dataclasses import replace

    long = midi_to_roll(to_bytes(make_song(bars=4, seed=0)))
    long = replace(long, array=np.zeros((128, 16_000), dtype=np.uint8), onsets=np.zeros((128, 16_000), np.uint8))
    _, starts, hop = piece_windows(long)
    assert hop == 5 * 16  # (16,000 - 128) / 16 + 1 = 993 one-bar windows would be too many
    assert len(starts) <= 240 and starts[-1] + 128 >= 16_000


def test_encode_piece_gives_every_level_for_every_window(bundle, roll):
    piece = encode_piece(bundle.encoder, roll)
    assert piece.n_windows == 33 and piece.hop == 16
    assert [e.shape for e in piece.level_emb] == [(33, 4 ** k, 8 * 2 ** (5 - k)) for k in range(6)]
    assert [n.shape for n in piece.level_non_empty] == [(33, 4 ** k) for k in range(6)]
    assert piece.stats == level_stats(piece.level_non_empty)


def test_settings_take_the_checkpoints_threshold_and_empty_mask_ratio(bundle):
    assert settings_for(bundle) == MaskSettings(0.5, 0.05, 0, 0.6)
    assert settings_for(bundle, 0.3, 0.1, 7, 0.4) == MaskSettings(0.3, 0.1, 7, 0.4)


def test_a_window_under_the_same_seed_gets_the_same_mask(bundle, roll):
    a = analyse_window(bundle, roll, 32, MaskSettings(seed=3))
    b = analyse_window(bundle, roll, 32, MaskSettings(seed=3))
    c = analyse_window(bundle, roll, 32, MaskSettings(seed=4))
    assert (a.mask == b.mask).all() and not (a.mask == c.mask).all()
    assert np.array_equal(a.probs, b.probs)


def test_masks_for_many_windows_at_once_are_each_windows_page_mask(bundle, roll):
    x, starts, _ = piece_windows(roll, bundle.model_config.window_steps)
    settings = MaskSettings(mask_ratio=0.5, empty_mask_ratio=0.1, seed=5)
    together = each_window_masks(bundle.encoder, x, settings)
    assert len(starts) > 3 and len({m.numpy().tobytes() for m in together}) > 1  # windows differ, so masks do
    for i, start in enumerate(starts):
        assert np.array_equal(together[i].numpy(), analyse_window(bundle, roll, int(start), settings).mask)


def test_a_window_with_nothing_masked_has_undefined_masked_scores(bundle, roll):
    res = analyse_window(bundle, roll, 0, MaskSettings(mask_ratio=0.0, empty_mask_ratio=0.0))
    assert res.n_hidden == 0 and not res.hidden_px.any()
    assert math.isnan(res.metrics["masked"]["f1"])
    assert np.array_equal(res.binary(), res.image > 0)  # everything visible is pasted back


def test_a_fully_masked_window_hides_every_patch(bundle, roll):
    res = analyse_window(bundle, roll, 0, MaskSettings(mask_ratio=1.0, empty_mask_ratio=1.0))
    assert res.n_hidden == 1024 and res.hidden_px.all()
    assert res.image.shape == (128, 128) and res.image.dtype == np.uint8


def test_scoring_one_window_agrees_with_analysing_it(bundle, roll):
    settings = MaskSettings(mask_ratio=0.5, empty_mask_ratio=0.05, seed=11, threshold=0.5)
    res = analyse_window(bundle, roll, 0, settings)
    x = torch.from_numpy(res.image.astype(np.float32))[None, None]
    sc = score_windows(bundle.encoder, bundle.reconstruct, x, 0.5, 0.05, (0.5,), seed=11)
    counts = {k: res.metrics["masked"][k] for k in ("tp", "fp", "fn", "tn")}
    assert sc.counts[0.5]["masked"] == counts
    assert sc.hidden_patches == res.n_hidden and sc.patches == 1024


def test_the_best_threshold_maximises_unmasked_plus_masked_f1(bundle, roll):
    x, _, _ = piece_windows(roll)
    sc = score_windows(bundle.encoder, bundle.reconstruct, x[:4], 0.5, 0.05, (0.3, 0.5, 0.7))
    totals = {t: sc.at(t)["plain"]["f1"] + sc.at(t)["masked"]["f1"] for t in (0.3, 0.5, 0.7)}
    assert sc.best_threshold() == max(totals, key=totals.get)


def test_metric_rows_label_the_three_places_a_reconstruction_is_scored(bundle, roll):
    res = analyse_window(bundle, roll, 0, MaskSettings())
    rows = metric_rows(res.metrics)
    assert [r[""] for r in rows] == list(METRIC_LABELS.values()) == [
        "Masked patches", "All patches (visible pasted back)", "All patches (raw decoder output)"]
    assert list(rows[0]) == ["", "Precision", "Recall", "F1", "Specificity", "Note pixels"]


def test_level_rows_name_a_patch_pitch_first_as_its_grid(bundle, roll):
    from midi_rae.config import ModelConfig

    wide = ModelConfig.from_dict({"img_width": 256, "patch_w": 8})  # 32 x 32 patches of 4 pitches x 8 steps
    rows = level_rows(wide, encode_piece(bundle.encoder, roll))
    assert rows[-1]["Grid"] == "32×32" and rows[-1]["Patch (semitones × steps)"] == "4×8"


def test_level_rows_give_grid_and_patch_extent_from_the_config(bundle, roll):
    piece = encode_piece(bundle.encoder, roll)
    rows = level_rows(bundle.model_config, piece)
    assert [r["Grid"] for r in rows] == ["1×1", "2×2", "4×4", "8×8", "16×16", "32×32"]
    assert [r["Patch (semitones × steps)"] for r in rows] == ["128×128", "64×64", "32×32", "16×16", "8×8", "4×4"]
    assert rows[0]["Piece mean %"] == 100.0 and "This window %" not in rows[0]


def test_spectrum_rows_include_the_effective_rank(bundle, roll):
    piece = encode_piece(bundle.encoder, roll)
    specs = [spectrum(e) for e in piece.level_emb]
    rows = spectrum_rows(bundle.model_config, piece.level_emb, specs)
    assert rows[3]["Effective rank"] == round(float(specs[3]["effective_rank"]), 2)
    assert list(rows[3]) == ["Level", "Grid", "Dim", "Points", "PC1 %", "PC2 %", "PC3 %", "Components for 90%",
                             "Effective rank", "Rank cap"]


def test_a_levels_rank_cap_is_its_points_less_one_or_its_dimension(bundle):
    roll = midi_to_roll(to_bytes(make_song(bars=20, seed=3)))  # 13 windows of 128 steps, one bar apart
    piece = encode_piece(bundle.encoder, roll)
    rows = spectrum_rows(bundle.model_config, piece.level_emb, [spectrum(e) for e in piece.level_emb])
    n = len(piece.starts)
    assert [r["Points"] for r in rows[:2]] == [n, 4 * n]
    assert [r["Rank cap"] for r in rows] == [min(r["Points"] - 1, r["Dim"]) for r in rows]
    assert rows[0]["Effective rank"] <= rows[0]["Rank cap"]


def test_a_level_with_one_point_has_no_spectrum_numbers(bundle):
    roll = midi_to_roll(to_bytes(make_song(bars=4, seed=3)))  # one window
    piece = encode_piece(bundle.encoder, roll)
    row = spectrum_rows(bundle.model_config, piece.level_emb, [spectrum(e) for e in piece.level_emb])[0]
    assert row["Points"] == 1 and row["Rank cap"] == 0
    assert [row[c] for c in ("PC1 %", "Components for 90%", "Effective rank")] == [None, None, None]


def test_patch_places_put_each_patch_in_the_piece(bundle):
    places = patch_places(bundle.model_config, 3, np.array([0, 16]))  # 8×8 grid, 16 steps × 16 semitones
    i = 1 * 64 + 2 * 8 + 5  # window 1, row 2, column 5
    assert (places["window"][i], places["patch"][i]) == (1, 21)
    assert places["step"][i] == 16 + 5 * 16 and places["pitch_lo"][i] == 2 * 16
    assert places["steps"][i] == 16 and places["semitones"][i] == 16


def _flat_output(image: np.ndarray, hidden: np.ndarray) -> WindowAnalysis:
    """A window whose reconstruction is 0.4 everywhere, as an untrained decoder's is."""
    return WindowAnalysis(start=0, image=image, mask=np.ones(1024, bool), hidden_px=hidden, level_non_empty=[],
                          masked_emb=[], probs=np.full((128, 128), 0.4, np.float32), metrics=None)


def test_a_flat_reconstruction_of_a_window_full_of_notes_is_blamed_on_the_checkpoint():
    image = np.zeros((128, 128), np.uint8)
    image[60, :] = image[64, :] = 1
    warning = _flat_output(image, np.zeros((128, 128), bool)).output_warning()
    assert warning.startswith(
        "This checkpoint's reconstruction is almost the same everywhere (probabilities 0.40–0.40)")


def test_a_flat_reconstruction_of_a_nearly_empty_window_is_blamed_on_the_window():
    image = np.zeros((128, 128), np.uint8)
    image[60, 0:8] = image[64, 0:8] = image[67, 20:40] = 1   # 36 note pixels, 20 of them hidden
    hidden = np.zeros((128, 128), bool)
    hidden[:, 16:48] = True
    warning = _flat_output(image, hidden).output_warning()
    assert warning == ("The model sees only 16 note pixels in this window, too few to judge its reconstruction "
                       "(probabilities 0.40–0.40 everywhere); move the window or lower the mask ratio.")


def test_a_piece_of_one_window_is_not_told_to_move_it():
    image = np.zeros((128, 128), np.uint8)
    image[60, 0:4] = 1
    hidden = np.zeros((128, 128), bool)
    hidden[:, 0:8] = True
    assert _flat_output(image, hidden).output_warning(movable=False) == (
        "The model sees only 0 note pixels in this window, too few to judge its reconstruction (probabilities "
        "0.40–0.40 everywhere); lower the mask ratio.")


def test_a_flat_reconstruction_of_a_silent_window_does_not_ask_for_a_lower_mask_ratio():
    warning = _flat_output(np.zeros((128, 128), np.uint8), np.zeros((128, 128), bool)).output_warning()
    assert warning == ("This window holds no notes, so there is nothing to judge the reconstruction by "
                       "(probabilities 0.40–0.40 everywhere); move the window to where the piece plays.")


def test_inspect_pools_every_window_under_the_mask_the_page_draws_for_it(tmp_path):
    from midi_rae.checkpoint import load_model
    from midi_rae.inspect import inspect_file
    from midi_rae.inference import analyse_window, piece_windows, settings_for
    from midi_rae.pianoroll import midi_to_roll

    from conftest import make_song, to_bytes

    song = tmp_path / "song.mid"
    song.write_bytes(to_bytes(make_song(bars=12, seed=4)))
    rec = inspect_file(str(song))["reconstruction"]
    bundle = load_model()
    roll = midi_to_roll(str(song))
    _, starts, _ = piece_windows(roll, bundle.model_config.window_steps)
    page = [analyse_window(bundle, roll, int(s), settings_for(bundle, 0.5)) for s in starts]
    assert rec["masked_patches"] == sum(a.n_hidden for a in page)


def test_a_window_of_velocities_is_refused_with_how_to_binarize_it(bundle, roll):
    velocities = window_at(roll, 0, 128) * 100  # what pretty_midi's get_piano_roll holds
    with pytest.raises(ValueError, match=r"must hold only 0 and 1 \(a note or none\), got 100: binarize it first"):
        analyse_window(bundle, velocities, 0, MaskSettings())


def test_an_array_other_than_one_window_is_refused_naming_the_shape_and_the_piece_path(bundle, roll):
    with pytest.raises(ValueError, match=r"an array is one window of shape \(128, 128\), got \(128, 640\); for a "
                                         r"whole piece pass its PianoRoll"):
        analyse_window(bundle, roll.array, 32, MaskSettings())


def test_mask_settings_out_of_their_range_are_refused():
    for kwargs in ({"mask_ratio": 1.5}, {"mask_ratio": -0.5}, {"threshold": 5.0}, {"empty_mask_ratio": float("nan")},
                   {"mask_ratio": None}, {"threshold": "0.5"}):
        with pytest.raises(ValueError, match=r"must be a number in \[0, 1\]"):
            MaskSettings(**kwargs)

"""Reconstruction along a piece: each window scored as the page scores it, the whole as `inspect` pools it."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import make_song, to_bytes
from midi_rae import load_model
from midi_rae.inference import MaskSettings, analyse_window, piece_windows
from midi_rae.pianoroll import midi_to_roll
from midi_rae.piece_scores import f1_per_row, score_piece


@pytest.fixture(scope="module")
def scored():
    bundle = load_model()
    roll = midi_to_roll(to_bytes(make_song(bars=24, seed=5)))
    settings = MaskSettings(mask_ratio=0.5, seed=3, threshold=0.5)
    return bundle, roll, settings, score_piece(bundle, roll, settings)


def test_every_window_of_the_piece_is_scored_from_its_first_step(scored):
    bundle, roll, _, s = scored
    _, starts, _ = piece_windows(roll, bundle.model_config.window_steps)
    assert s.starts.tolist() == starts.tolist() and s.plain.shape == s.masked.shape == (len(starts), 3)


def test_a_windows_scores_are_the_ones_the_page_shows_for_that_window(scored):
    bundle, roll, settings, s = scored
    for w in (0, len(s.starts) // 2, len(s.starts) - 1):
        shown = analyse_window(bundle, roll, int(s.starts[w]), settings).metrics
        assert s.f1("masked")[w] == pytest.approx(shown["masked"]["f1"], abs=1e-9)


def test_the_pooled_figure_is_inspects(scored, tmp_path):
    from midi_rae.inspect import inspect_file

    bundle, roll, settings, s = scored
    path = tmp_path / "song.mid"
    path.write_bytes(to_bytes(make_song(bars=24, seed=5)))
    r = inspect_file(str(path), mask_ratio=0.5, seed=3, threshold=0.5)["reconstruction"]
    assert round(s.pooled("masked"), 4) == r["masked"]["f1"] and round(s.pooled("plain"), 4) == r["unmasked"]["f1"]


def test_a_window_with_nothing_to_score_has_no_f1():
    assert np.isnan(f1_per_row(np.array([[0, 0, 0], [1, 1, 0]]))).tolist() == [True, False]
    assert f1_per_row(np.array([[1, 1, 0]]))[0] == pytest.approx(2 / 3)

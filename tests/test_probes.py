"""Shift and transpose probes: window moves, alignment of patches, and the scores on a real encoder."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import make_song, to_bytes
from midi_rae.checkpoint import DEFAULT_CONFIG, build_models
from midi_rae.pianoroll import midi_to_roll
from midi_rae.probes import probe, shifted_window

GRIDS = [1, 2, 4, 8, 16, 32]


@pytest.fixture(scope="module")
def encoder():
    torch.manual_seed(0)
    enc, _ = build_models(DEFAULT_CONFIG, None)
    return enc.eval()


@pytest.fixture(scope="module")
def roll():
    return midi_to_roll(to_bytes(make_song(bars=24, seed=2, drums=False))).array


class PatchContentEncoder(nn.Module):
    """Each patch's embedding is its own pixels averaged down to 4x4: a function of the patch content alone."""

    grid_size, patch_h, patch_w = (32, 32), 4, 4

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))  # probe() asks the parameters for a device

    def forward(self, x: torch.Tensor):
        levels = []
        for g in GRIDS:
            s = 128 // g
            cells = F.avg_pool2d(x, s // 4 if s >= 4 else 1)  # (B, 1, 4g, 4g)
            emb = cells.view(-1, g, 4, g, 4).permute(0, 1, 3, 2, 4).reshape(-1, g * g, 16)
            levels.append(SimpleNamespace(emb=emb, non_empty=emb.amax(-1) > 0))
        return SimpleNamespace(patches=SimpleNamespace(levels=levels))


def test_time_window_is_the_roll_slice_zero_padded_past_either_end():
    roll = np.zeros((128, 200), dtype=np.uint8)
    roll[60, 0] = roll[61, 199] = 1
    assert shifted_window(roll, 10, 128, -10, "time")[60, 0] == 1
    left = shifted_window(roll, 0, 128, -5, "time")
    assert left[60, 5] == 1 and left[:, :5].sum() == 0
    right = shifted_window(roll, 100, 128, 0, "time")
    assert right[61, 99] == 1 and right[:, 100:].sum() == 0


def test_pitch_window_moves_rows_up_and_drops_notes_off_the_range():
    roll = np.zeros((128, 128), dtype=np.uint8)
    roll[60, 3] = roll[126, 4] = 1
    up = shifted_window(roll, 0, 128, 2, "pitch")
    assert up[62, 3] == 1 and up.sum() == 1  # the note at 126 went past 127
    down = shifted_window(roll, 0, 128, -60, "pitch")
    assert down[0, 3] == 1 and down[66, 4] == 1


def test_probe_returns_shifts_by_levels_arrays(encoder, roll):
    shifts = list(range(-4, 5))
    out = probe(encoder, roll, 16, shifts, axis="time")
    assert out["shifts"] == shifts
    assert out["aligned"].shape == (9, 6) and out["same_position"].shape == (9, 6)


def test_zero_shift_gives_similarity_one_at_every_level(encoder, roll):
    for axis in ("time", "pitch"):
        out = probe(encoder, roll, 16, [0, 3], axis=axis)
        np.testing.assert_allclose(out["aligned"][0], 1.0, atol=1e-5)
        np.testing.assert_allclose(out["same_position"][0], 1.0, atol=1e-5)


def test_aligned_is_undefined_where_the_shift_is_not_a_multiple_of_the_patch_size(encoder, roll):
    out = probe(encoder, roll, 16, [3, 8], axis="time")  # 3 steps is no level's patch size
    assert np.isnan(out["aligned"][0]).all() and not np.isnan(out["same_position"][0]).any()
    # 8 steps: a whole number of patches at the 16×16 (8-step) and 32×32 (4-step) levels only
    assert np.isnan(out["aligned"][1]).tolist() == [True, True, True, True, False, False]


def test_aligned_pairs_content_with_content_for_time_shifts(roll):
    # The moved content sits k/s patches to the left; an encoder that sees only a patch's content
    # must then score exactly 1 wherever k is a multiple of the patch size s.
    out = probe(PatchContentEncoder(), roll, 32, [-16, -8, -4, 4, 8, 16], axis="time")
    finest = out["aligned"][:, 5]
    np.testing.assert_allclose(finest, 1.0, atol=1e-6)
    np.testing.assert_allclose(out["aligned"][[1, 4], 4], 1.0, atol=1e-6)  # 8 steps at the 16x16 level
    assert out["same_position"][:, 5].max() < 0.99  # the same place holds other notes


def test_aligned_pairs_content_with_content_for_transpositions(roll):
    out = probe(PatchContentEncoder(), roll, 0, [-8, -4, 4, 8], axis="pitch")
    np.testing.assert_allclose(out["aligned"][:, 5], 1.0, atol=1e-6)
    np.testing.assert_allclose(out["aligned"][[0, 3], 4], 1.0, atol=1e-6)


def test_empty_window_gives_nan(encoder):
    out = probe(encoder, np.zeros((128, 256), dtype=np.uint8), 0, [0, 4], axis="time")
    assert np.isnan(out["aligned"]).all() and np.isnan(out["same_position"]).all()


def test_probe_leaves_a_training_encoder_in_training_mode(roll):
    torch.manual_seed(0)
    enc, _ = build_models(DEFAULT_CONFIG, None)
    enc.train()
    probe(enc, roll, 0, [0], axis="time")
    assert enc.training


def test_fresh_encoder_is_exactly_equivariant_at_the_finest_level(encoder, roll):
    # SwinEncoder zero-initialises every block's residual post-norm, so a fresh encoder is patch-local:
    # content moved by whole finest patches must keep its embedding exactly.
    out = probe(encoder, roll, 32, [-8, -4, 4, 8], axis="time")
    np.testing.assert_allclose(out["aligned"][:, 5], 1.0, atol=1e-6)

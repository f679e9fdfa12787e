"""Structure in embedding space: pooling, self-similarity, nearest patches, patch families, spectra."""
from __future__ import annotations

import math

import numpy as np
import pytest

from midi_rae.structure import family, nearest_patches, pooled_windows, self_similarity, spectrum


def _emb(W: int = 5, N: int = 4, D: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(W, N, D)).astype(np.float32)


def test_pooled_windows_is_the_mean_over_patches():
    emb = _emb()
    pooled = pooled_windows(emb)
    assert pooled.shape == (5, 6)
    np.testing.assert_allclose(pooled[2], emb[2].mean(axis=0), rtol=1e-6)


def test_pooled_windows_with_non_empty_averages_only_non_empty_patches():
    emb = _emb(W=2, N=3, D=2)
    ne = np.array([[True, False, True], [False, False, False]])
    pooled = pooled_windows(emb, ne)
    np.testing.assert_allclose(pooled[0], (emb[0, 0] + emb[0, 2]) / 2, rtol=1e-6)
    np.testing.assert_allclose(pooled[1], emb[1].mean(axis=0), rtol=1e-6)  # no non-empty patch: all of them


def test_self_similarity_has_unit_diagonal_and_is_symmetric():
    sim = self_similarity(_emb(W=7, N=1, D=5)[:, 0])
    assert sim.shape == (7, 7)
    assert np.all(np.diag(sim) == 1.0)
    assert np.array_equal(sim, sim.T)
    assert sim.min() >= -1.0 and sim.max() <= 1.0


def test_self_similarity_of_scaled_and_opposite_vectors():
    v = np.array([[1.0, 2.0], [3.0, 6.0], [-1.0, -2.0]])
    sim = self_similarity(v)
    assert sim[0, 1] == pytest.approx(1.0)
    assert sim[0, 2] == pytest.approx(-1.0)


def test_self_similarity_gives_zero_vectors_similarity_zero_without_nans():
    sim = self_similarity(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]))
    assert not np.isnan(sim).any()
    assert sim[0, 1] == 0.0 and sim[0, 2] == 0.0 and sim[0, 0] == 1.0


def test_nearest_patches_finds_a_duplicate_windows_patch_first_with_similarity_one():
    emb = _emb(W=6, N=4, D=8)
    emb[4] = emb[1]  # window 4 repeats window 1 exactly
    hits = nearest_patches(emb, window=1, patch=2, k=5)
    assert hits[0][:2] == (4, 2)
    assert hits[0][2] == pytest.approx(1.0)
    assert len(hits) == 5
    assert (1, 2) not in [(w, p) for w, p, _ in hits]  # the query itself is left out
    sims = [s for _, _, s in hits]
    assert sims == sorted(sims, reverse=True)


def test_nearest_patches_can_leave_out_the_query_window():
    emb = _emb(W=3, N=4, D=8)
    emb[0, 3] = emb[0, 1]  # an exact twin inside the same window
    assert nearest_patches(emb, 0, 1, k=1)[0][:2] == (0, 3)
    hits = nearest_patches(emb, 0, 1, k=8, exclude_same_window=True)
    assert len(hits) == 8 and all(w != 0 for w, _, _ in hits)


def test_family_of_a_middle_level_patch():
    assert family(1, 3, [1, 2, 4]) == {0: [0], 1: [3], 2: [10, 11, 14, 15]}


def test_family_of_the_top_patch_is_every_patch_below():
    fam = family(0, 0, [1, 2, 4])
    assert fam == {0: [0], 1: [0, 1, 2, 3], 2: list(range(16))}


def test_family_of_a_finest_patch_is_its_ancestor_chain():
    # 8x8 patch 63 is the bottom-right corner, so its ancestors are the bottom-right corners above it
    assert family(3, 63, [1, 2, 4, 8]) == {0: [0], 1: [3], 2: [15], 3: [63]}


def test_family_refuses_a_patch_outside_the_grid():
    with pytest.raises(IndexError):
        family(1, 4, [1, 2, 4])


def test_spectrum_of_a_rank_two_matrix_needs_at_most_two_components():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 2)) @ rng.normal(size=(2, 10))
    spec = spectrum(x.reshape(20, 10, 10))
    assert spec["n90"] <= 2
    assert spec["singular_values"].shape == (10,)
    assert spec["cumulative"][1] == pytest.approx(1.0)
    assert spec["explained_ratio"].sum() == pytest.approx(1.0)
    assert 1.0 <= spec["effective_rank"] <= 2.0


def test_spectrum_effective_rank_of_equal_variances_is_the_dimension():
    x = np.concatenate([np.eye(4), -np.eye(4)])[None]  # centred, four equal singular values
    spec = spectrum(x)
    assert spec["effective_rank"] == pytest.approx(4.0)
    assert spec["n90"] == 4


def test_spectrum_of_a_constant_matrix_has_no_components():
    spec = spectrum(np.ones((3, 4, 5)))
    assert spec["n90"] == 0 and spec["effective_rank"] == 0.0
    assert not any(math.isnan(v) for v in spec["cumulative"])

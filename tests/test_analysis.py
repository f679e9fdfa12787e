"""Metrics, the bridge baseline and PCA: exact values on hand-made inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from midi_rae.analysis import add_counts, bridge_baseline, confusion, level_stats, patch_mask_to_pixels, scores
from midi_rae.pca import pca_fit


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.bool)


def test_confusion_counts_each_pixel_once():
    pred = t([[1, 1, 0, 0]])
    target = t([[1, 0, 1, 0]])
    assert confusion(pred, target) == {"tp": 1, "fp": 1, "fn": 1, "tn": 1}


def test_confusion_counts_only_inside_the_region():
    pred = t([[1, 1, 0, 0]])
    target = t([[1, 0, 1, 0]])
    assert confusion(pred, target, t([[0, 1, 1, 0]])) == {"tp": 0, "fp": 1, "fn": 1, "tn": 0}


def test_counts_add_key_by_key():
    assert add_counts({}, {"tp": 2, "fp": 1, "fn": 0, "tn": 5}) == {"tp": 2, "fp": 1, "fn": 0, "tn": 5}
    assert add_counts({"tp": 1, "fp": 1, "fn": 1, "tn": 1}, {"tp": 2, "fp": 0, "fn": 3, "tn": 4}) == \
        {"tp": 3, "fp": 1, "fn": 4, "tn": 5}


def test_scores_from_counts():
    s = scores({"tp": 6, "fp": 2, "fn": 4, "tn": 8})
    assert s["precision"] == 6 / 8
    assert s["recall"] == 6 / 10
    assert s["f1"] == 12 / 18
    assert s["specificity"] == 8 / 10


def test_scores_are_nan_where_undefined():
    s = scores({"tp": 0, "fp": 0, "fn": 0, "tn": 3})
    assert math.isnan(s["precision"]) and math.isnan(s["recall"]) and math.isnan(s["f1"])
    assert s["specificity"] == 1.0


def test_bridge_baseline_fills_a_hidden_gap_between_held_notes():
    x = torch.tensor([[[[1, 1, 1, 1, 1, 0, 0, 1]]]], dtype=torch.float32)
    visible = t([[[[1, 0, 0, 1, 1, 0, 0, 1]]]])
    # cells 1-2 lie between visible ons (0 and 3): on; cells 5-6 between visible on (4) and on (7): on
    assert bridge_baseline(x, visible).int().tolist() == [[[[1, 1, 1, 1, 1, 1, 1, 1]]]]


def test_bridge_baseline_leaves_a_gap_next_to_a_visible_off_cell_empty():
    x = torch.tensor([[[[1, 1, 0, 0, 1]]]], dtype=torch.float32)
    visible = t([[[[1, 0, 0, 1, 1]]]])
    assert bridge_baseline(x, visible).int().tolist() == [[[[1, 0, 0, 0, 1]]]]


def test_bridge_baseline_with_no_visible_cell_on_one_side_stays_off():
    x = torch.tensor([[[[1, 1, 1]]]], dtype=torch.float32)
    visible = t([[[[1, 0, 0]]]])
    assert bridge_baseline(x, visible).int().tolist() == [[[[1, 0, 0]]]]


def test_patch_mask_blows_up_to_pixels():
    mask = t([[1, 0, 0, 1]])
    px = patch_mask_to_pixels(mask, (2, 2), (2, 3))
    assert px.shape == (1, 1, 4, 6)
    assert px[0, 0].int().tolist() == [[1, 1, 1, 0, 0, 0], [1, 1, 1, 0, 0, 0],
                                       [0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 1]]


def test_level_stats_are_percentages_over_windows():
    ne = np.array([[1, 1, 0, 0], [1, 0, 0, 0]], dtype=bool)  # 50 % and 25 %
    assert level_stats([ne]) == [{"mean": 37.5, "std": 12.5, "min": 25.0, "max": 50.0}]


def test_pca_of_points_on_a_line_has_one_component():
    x = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    p = pca_fit(x, k=2)
    assert p.explained_ratio.tolist() == pytest.approx([1.0, 0.0])
    assert np.abs(p.components[0]).tolist() == pytest.approx([1 / math.sqrt(5), 2 / math.sqrt(5)])
    assert p.mean.tolist() == pytest.approx([1.5, 3.0])
    coords = p.transform(x)[:, 0]
    assert np.abs(coords).tolist() == pytest.approx([1.5 * math.sqrt(5), 0.5 * math.sqrt(5), 0.5 * math.sqrt(5),
                                                     1.5 * math.sqrt(5)])


def test_pca_of_one_dimensional_embeddings_gives_zero_axes_for_the_components_it_lacks():
    x = np.array([[1.0], [2.0], [4.0]])
    p = pca_fit(x, k=3)
    coords = p.transform(x)
    assert coords.shape == (3, 3) and p.explained_ratio.tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert np.abs(coords[:, 0]).tolist() == pytest.approx([4 / 3, 1 / 3, 5 / 3]) and not coords[:, 1:].any()


def test_pca_orders_components_by_variance():
    x = np.array([[-3.0, 0.0], [3.0, 0.0], [0.0, -1.0], [0.0, 1.0]])
    p = pca_fit(x, k=2)
    assert p.explained_ratio.tolist() == pytest.approx([0.9, 0.1])  # variances 18/3 and 2/3
    assert np.abs(p.components).ravel().tolist() == pytest.approx([1.0, 0.0, 0.0, 1.0])
    assert p.singular_values.tolist() == pytest.approx([math.sqrt(18), math.sqrt(2)])

"""The checkpoint that ships in assets/: it loads with no arguments and reconstructs the bundled examples."""
from __future__ import annotations

from pathlib import Path

import pytest

from midi_rae.checkpoint import DEFAULT_CHECKPOINT, load_model
from midi_rae.evaluation import evaluate_files

EXAMPLES = Path(__file__).resolve().parent.parent / "assets" / "examples"
MARGIN = 0.03

pytestmark = pytest.mark.skipif(not DEFAULT_CHECKPOINT.is_file(), reason="no shipped checkpoint")


@pytest.fixture(scope="module")
def shipped():
    return load_model()


def test_shipped_checkpoint_is_the_default_six_level_model_with_a_decoder(shipped):
    assert shipped.num_levels == 6 and shipped.decoder is not None
    assert shipped.config["steps_per_beat"] == 4
    assert sum(p.numel() for p in shipped.encoder.parameters()) == 1_748_135


def test_shipped_checkpoint_records_its_validation_figures(shipped):
    m = shipped.meta["metrics"]
    assert 0 < m["plain"]["f1"] <= 1 and 0 < m["masked"]["f1"] <= 1
    assert m["masked"]["f1"] > m["bridge_baseline_masked_f1"]


def test_bundled_examples_reconstruct_at_the_reported_unmasked_f1(shipped):
    files = sorted(EXAMPLES.glob("*.mid"))
    assert 3 <= len(files) <= 5
    result = evaluate_files(shipped, files, max_windows=400)  # at the stored validation threshold
    assert result["threshold"] == shipped.meta["threshold"]
    assert result["plain"]["f1"] >= shipped.meta["metrics"]["plain"]["f1"] - MARGIN

"""The command line: inspect's report, its JSON, and one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT, make_song, needs_fixtures, to_bytes


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "midi_rae", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


@pytest.fixture
def song(tmp_path):
    p = tmp_path / "song.mid"
    p.write_bytes(to_bytes(make_song(bars=40, seed=4)))
    return p


@needs_fixtures()
def test_inspect_json_lists_levels_coarsest_first_and_reconstruction(song):
    out = run_cli("inspect", str(song), "--checkpoint", str(FIXTURES / "six-level" / "SwinEncoder__best.pt"),
                  "--decoder", str(FIXTURES / "six-level" / "SwinDecoder__best.pt"), "--mask-ratio", "0.5",
                  "--seed", "3", "--json")
    assert out.returncode == 0, out.stderr
    r = json.loads(out.stdout)
    assert [lv["grid"] for lv in r["levels"]] == [[1, 1], [2, 2], [4, 4], [8, 8], [16, 16], [32, 32]]
    assert [lv["dim"] for lv in r["levels"]] == [256, 128, 64, 32, 16, 8]
    assert r["levels"][0]["non_empty_mean"] == 1.0
    assert r["windows"] == 5  # 40 bars x 16 steps = 640 steps = 5 windows of 128
    rec = r["reconstruction"]
    assert set(rec["masked"]) == {"precision", "recall", "f1", "specificity"}
    assert set(rec) >= {"masked", "all", "unmasked", "mask_ratio", "seed"}
    assert 0 < rec["masked_patches"] < rec["patches"] == 5 * 1024


@needs_fixtures()
def test_inspect_is_reproducible_for_a_seed(song):
    args = ("inspect", str(song), "--checkpoint", str(FIXTURES / "six-level" / "SwinEncoder__best.pt"),
            "--decoder", str(FIXTURES / "six-level" / "SwinDecoder__best.pt"), "--seed", "5", "--json")
    a, b = json.loads(run_cli(*args).stdout), json.loads(run_cli(*args).stdout)
    assert a["reconstruction"] == b["reconstruction"]


@needs_fixtures()
def test_inspect_encoder_only_reports_no_reconstruction(song):
    out = run_cli("inspect", str(song), "--checkpoint", str(FIXTURES / "seven-level" / "SwinEncoder__best.pt"),
                  "--json")
    r = json.loads(out.stdout)
    assert len(r["levels"]) == 7 and r["reconstruction"] is None


@needs_fixtures()
def test_inspect_table_is_readable(song):
    out = run_cli("inspect", str(song), "--checkpoint", str(FIXTURES / "six-level" / "SwinEncoder__best.pt"),
                  "--decoder", str(FIXTURES / "six-level" / "SwinDecoder__best.pt"))
    assert out.returncode == 0
    assert "32x32" in out.stdout and "masked patches" in out.stdout


def test_bad_midi_is_one_line_on_stderr_and_nonzero_exit(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"this is not a midi file at all")
    out = run_cli("inspect", str(bad))
    assert out.returncode == 1
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("error: ")


def test_bad_checkpoint_is_one_line_on_stderr(song, tmp_path):
    ck = tmp_path / "x.pt"
    ck.write_bytes(b"PK\x03\x04garbage")
    out = run_cli("inspect", str(song), "--checkpoint", str(ck))
    assert out.returncode == 1
    assert len(out.stderr.strip().splitlines()) == 1 and "not a readable PyTorch checkpoint" in out.stderr


def test_bad_mask_ratio_is_refused(song):
    out = run_cli("inspect", str(song), "--mask-ratio", "1.5")
    assert out.returncode == 2 and "mask-ratio" in out.stderr

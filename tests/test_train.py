"""Training: a short real run, reload, resume, bad arguments, and two processes under torchrun."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, make_song, to_bytes
from midi_rae.checkpoint import load_model
from midi_rae.train import TrainConfig, evaluate, fixed_windows, load_rolls, find_midi_files, split_by_file, train


@pytest.fixture(scope="module")
def midi_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("midi")
    (d / "nested").mkdir()
    for i in range(6):
        target = d / ("nested" if i % 2 else ".") / f"song{i}.mid"
        target.write_bytes(to_bytes(make_song(bars=12, seed=i, tempo=90 + 10 * i)))
    (d / "broken.mid").write_bytes(b"MThd garbage")
    return d


def short_config(midi_dir, out, **kw) -> TrainConfig:
    base = dict(midi_dir=str(midi_dir), out=str(out), batch_size=8, max_steps=40, warmup_steps=5, lr=2e-3,
                val_every=20, ckpt_every=10, val_fraction=0.3, val_windows=16, workers=1, seed=0, threads=2)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(midi_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    return out, train(short_config(midi_dir, out), log=lambda *_: None)


def test_training_lowers_the_loss(trained):
    _, result = trained
    losses = result["losses"]
    assert len(losses) == 40
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10


def test_checkpoint_reloads_to_the_trained_models_outputs(trained, midi_dir):
    out, result = trained
    b = load_model(out / "last.safetensors")
    assert b.meta["step"] == 40
    assert b.config["steps_per_beat"] == 4
    files = find_midi_files(midi_dir)
    rolls, names = load_rolls(files, 4, 1, show=False)
    _, val = split_by_file(names, 0.3, 0)
    again = evaluate(b.encoder, b.decoder, fixed_windows([rolls[i] for i in val], 16), 0.5, 0.05,
                     torch.device("cpu"))
    assert again["plain"] == result["plain"]
    assert again["masked"] == result["masked"]


def test_checkpoint_records_data_and_metrics(trained):
    out, _ = trained
    meta = load_model(out / "last.safetensors").meta
    assert meta["data"]["files"] == 7 and meta["data"]["readable"] == 6  # broken.mid is skipped
    assert meta["data"]["train_pieces"] + meta["data"]["val_pieces"] == 6
    assert "f1" in meta["metrics"]["plain"] and meta["wall_time_s"] > 0
    assert json.loads((out / "metrics.json").read_text())[-1]["step"] == 40


def test_validation_holds_out_whole_pieces(midi_dir):
    names = [str(p) for p in find_midi_files(midi_dir)]
    train_idx, val_idx = split_by_file(names, 0.3, 0)
    assert set(train_idx).isdisjoint(val_idx) and len(train_idx) + len(val_idx) == len(names)
    assert split_by_file(names, 0.3, 0) == (train_idx, val_idx)


def test_resume_continues_from_the_saved_step(trained, midi_dir, tmp_path):
    out, _ = trained
    import shutil
    run = tmp_path / "resumed"
    shutil.copytree(out, run)
    result = train(short_config(midi_dir, run, max_steps=50, resume=str(run)), log=lambda *_: None)
    assert len(result["losses"]) == 10
    assert load_model(run / "last.safetensors").meta["step"] == 50


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "midi_rae", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def test_empty_data_folder_gets_a_clear_message(tmp_path):
    out = _cli("train", "--midi-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert out.returncode != 0 and "no .mid/.midi files found" in out.stderr


def test_missing_data_folder_gets_a_clear_message(tmp_path):
    out = _cli("train", "--midi-dir", str(tmp_path / "nope"))
    assert out.returncode != 0 and "is not a folder" in out.stderr


def test_bad_arguments_get_a_clear_message(tmp_path, midi_dir):
    out = _cli("train", "--midi-dir", str(midi_dir), "--mask-ratio", "2", "--batch-size", "0")
    assert out.returncode != 0
    assert "--batch-size must be at least 1" in out.stderr and "--mask-ratio must lie in" in out.stderr


def test_two_process_gloo_torchrun_run_completes(midi_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
           "-m", "midi_rae", "train", "--midi-dir", str(midi_dir), "--out", str(out), "--batch-size", "4",
           "--max-steps", "6", "--val-every", "6", "--ckpt-every", "3", "--val-fraction", "0.3",
           "--val-windows", "8", "--warmup-steps", "2", "--workers", "1", "--threads", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    meta = load_model(out / "last.safetensors").meta
    assert meta["world_size"] == 2 and meta["step"] == 6


def test_training_works_when_the_caller_turned_gradients_off(midi_dir, tmp_path):
    torch.set_grad_enabled(False)
    try:
        result = train(short_config(midi_dir, tmp_path / "nograd", max_steps=3, val_every=3), log=lambda *_: None)
    finally:
        torch.set_grad_enabled(True)
    assert len(result["losses"]) == 3


@pytest.mark.slow
def test_a_longer_run_learns_to_reconstruct(midi_dir, tmp_path):
    result = train(short_config(midi_dir, tmp_path / "long", max_steps=400, val_every=400, ckpt_every=400,
                                warmup_steps=20), log=lambda *_: None)
    assert result["plain"]["f1"] > 0.6  # from about 0.06 at initialisation (0.70 seen after 400 steps)


def test_optional_heads_train_and_the_mae_decoder_loads_beside_the_encoder(midi_dir, tmp_path):
    from midi_rae.swin import SwinMAEDecoder

    out = tmp_path / "heads"
    train(short_config(midi_dir, out, max_steps=3, val_every=3, ckpt_every=3, mae_decoder=True, mep=True),
          log=lambda *_: None)
    b = load_model(out / "last.safetensors", decoder=out / "last_mae_decoder.safetensors")
    assert isinstance(b.decoder, SwinMAEDecoder)
    with torch.no_grad():
        assert tuple(b.reconstruct(b.encoder(torch.zeros(1, 1, 128, 128))).shape) == (1, 1, 128, 128)
    assert "mep" in torch.load(out / "train_state.pt", weights_only=True)

"""Training: the helpers (masks, loss, schedule, optimizer groups), the data (batches, split, shards), a short
real run (reload, resume, what it records, what it never reads), bad arguments, and two processes under torchrun."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, make_song, to_bytes
from midi_rae.checkpoint import load_model
from midi_rae.coarse_targets import roll_sketch, spread_loss
from midi_rae.evaluation import VALIDATION_THRESHOLDS, summarize
from midi_rae.inference import score_windows
from midi_rae.train import (TrainConfig, batch_masks, build_model, lr_at, make_optimizer,
                            reconstruction_loss, run_progress, scale_levels, skip_drop_keep, train,
                            decoder_keep, lateral_drop_keep)
from midi_rae.train_data import (WindowDataset, batch_loader, evaluation_windows, find_roll_files, piece_hash, shard,
                                 split_pieces)


# ---------------------------------------------------------------- masks, loss, schedule, optimizer


def test_batch_masks_leave_a_share_of_windows_whole_and_mask_the_rest_at_the_drawn_rates():
    gen = torch.Generator().manual_seed(0)
    non_empty = torch.zeros(4000, 1024, dtype=torch.bool)
    non_empty[:, :512] = True
    cfg = TrainConfig(masked_fraction=0.25, mask_ratio=0.4, empty_mask_ratio=0.1)
    hidden = ~batch_masks(non_empty, cfg, gen)
    masked_windows = hidden.any(dim=1)
    assert abs(masked_windows.float().mean().item() - 0.25) < 0.02
    rate = hidden[masked_windows][:, :512].float().mean(dim=1)  # per window: its drawn ratio in [0.2, 0.6)
    assert rate.min() > 0.2 - 0.07 and rate.max() < 0.6 + 0.07
    assert abs(rate.mean().item() - 0.4) < 0.01                 # the ratios average mask_ratio
    empty_rate = hidden[masked_windows][:, 512:].float().mean().item()
    assert abs(empty_rate - 0.4 * 0.1) < 0.003                  # empty patches at ratio x empty_mask_ratio
    assert not batch_masks(non_empty, TrainConfig(masked_fraction=0.0), gen).logical_not().any()


def test_reconstruction_loss_matches_a_value_computed_by_hand():
    # two pixels, logits 0 (p = 0.5): a note in a hidden patch, silence in a visible one
    logits = torch.zeros(1, 1, 1, 2)
    x = torch.tensor([[[[1.0, 0.0]]]])
    hidden = torch.tensor([[[[True, False]]]])
    cfg = TrainConfig(pos_weight=2.0, masked_weight=2.0, dice_weight=0.5)
    # BCE: note pixel pos_weight 2 x weight 3 x ln 2, silent pixel 1 x ln 2, mean over 2 pixels = 3.5 ln 2;
    # dice on the hidden pixel: 1 - (2 x 0.5 + 1) / (0.5 + 1 + 1) = 0.2, weighted 0.5
    expected = 3.5 * math.log(2) + 0.5 * 0.2
    assert reconstruction_loss(logits, x, hidden, cfg).item() == pytest.approx(expected, rel=1e-6)
    no_dice = TrainConfig(pos_weight=2.0, masked_weight=2.0, dice_weight=0.0)
    assert reconstruction_loss(logits, x, hidden, no_dice).item() == pytest.approx(3.5 * math.log(2), rel=1e-6)


def test_lr_warms_up_linearly_then_decays_on_a_cosine_to_min_lr():
    cfg = TrainConfig(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=100)
    assert [lr_at(s, 0.0, cfg) for s in (0, 4, 9)] == pytest.approx([1e-4, 5e-4, 1e-3])
    assert lr_at(10, 0.0, cfg) == pytest.approx(1e-3)
    assert lr_at(50, 0.5, cfg) == pytest.approx(5.5e-4)
    assert lr_at(75, 0.75, cfg) == pytest.approx(1e-4 + 0.5 * 9e-4 * (1 + math.cos(0.75 * math.pi)))
    assert lr_at(100, 1.0, cfg) == pytest.approx(1e-4)


def test_progress_is_by_steps_or_by_wall_time_whichever_is_further():
    assert run_progress(50, 1e9, TrainConfig(max_steps=100)) == 0.5
    assert run_progress(50, 45.0, TrainConfig(max_steps=100, minutes=1.0)) == 0.75
    assert run_progress(10, 600.0, TrainConfig(max_steps=100, minutes=1.0)) == 1.0


def test_optimizer_uses_timm_weight_decay_groups_with_the_models_exclusions():
    cfg = TrainConfig(weight_decay=0.05)
    model = build_model(cfg)
    opt = make_optimizer(model, cfg)
    by_id = {id(p): n for n, p in model.named_parameters()}
    groups = {g["weight_decay"]: {by_id[id(p)] for p in g["params"]} for g in opt.param_groups}
    skip = model.no_weight_decay()
    expected_plain = {n for n, p in model.named_parameters() if p.ndim <= 1 or n.endswith(".bias") or n in skip}
    assert groups[0.0] == expected_plain
    assert groups[0.05] == {n for n, _ in model.named_parameters()} - expected_plain
    assert {"encoder.mask_token", "encoder.empty_token"} <= groups[0.0]
    assert any("cpb_mlp" in n and n.endswith("weight") for n in groups[0.0])  # 2-d, excluded by name
    assert opt.defaults["betas"] == (0.9, 0.95)


def test_the_model_is_initialised_from_the_seed_without_touching_the_global_generator():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(TrainConfig(seed=5))
    after = torch.rand(1)
    b = build_model(TrainConfig(seed=5))
    assert torch.equal(before, after)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


# ---------------------------------------------------------------- batches


def _roll(notes: list[tuple[int, int, int]], steps: int) -> np.ndarray:
    """A bit-packed (16, steps) roll with (pitch, start, end) notes."""
    a = np.zeros((128, steps), dtype=np.uint8)
    for p, s, e in notes:
        a[p, s:e] = 1
    return np.packbits(a, axis=0)


def _sparse_rolls() -> list[np.ndarray]:
    # mostly silence: one short note in 2,000 steps, one in 300, and a piece shorter than a window
    return [_roll([(60, 1500, 1504)], 2000), _roll([(40, 10, 20), (80, 250, 260)], 300), _roll([(70, 0, 8)], 50)]


def test_every_batch_has_the_right_shape_and_a_note_in_every_window():
    ds = WindowDataset(_sparse_rolls(), batch_size=64, max_transpose=0, seed=0)
    stream = ds.batches(0)
    for _ in range(5):
        x = next(stream)
        assert x.shape == (64, 1, 128, 128) and x.dtype == torch.float32
        assert set(x.unique().tolist()) <= {0.0, 1.0}
        assert (x.flatten(1).sum(dim=1) > 0).all()


def test_a_batch_is_the_seeds_and_differs_by_seed():
    def first(seed: int) -> torch.Tensor:
        return next(WindowDataset(_sparse_rolls(), 32, seed=seed).batches(0))

    assert torch.equal(first(1), first(1))
    assert not torch.equal(first(1), first(2))


def test_each_dataloader_worker_draws_its_own_stream():
    ds = WindowDataset(_sparse_rolls(), 16, seed=0)
    loader = iter(batch_loader(ds, workers=2))
    a, b = next(loader), next(loader)  # the DataLoader takes a batch from each worker in turn
    assert torch.equal(a, next(ds.batches(0))) and torch.equal(b, next(ds.batches(1)))
    assert not torch.equal(a, b)
    del loader


def test_transposition_stays_in_range_and_keeps_every_note():
    one_note = WindowDataset([_roll([(60, 0, 200)], 200)], 400, max_transpose=6, seed=0)
    x = next(one_note.batches(0))
    pitches = x[:, 0].amax(dim=2).argmax(dim=1)
    assert set(pitches.tolist()) == set(range(54, 67))            # every shift in [-6, 6] occurs, no other
    assert (x.flatten(1).sum(dim=1) == 128).all()                 # the note is kept whole
    edges = WindowDataset([_roll([(0, 0, 200), (127, 0, 200)], 200)], 50, max_transpose=6, seed=0)
    y = next(edges.batches(0))
    assert (y[:, 0, 0] == 1).all() and (y[:, 0, 127] == 1).all()  # no room to move: nothing moves


# ---------------------------------------------------------------- split and shards


def test_the_three_way_split_is_disjoint_stable_and_by_whole_pieces():
    names = [f"/data/{c}/piece{i}.mid" for c in ("a", "b") for i in range(1000)]
    s = split_pieces(names, 0.1, 0.1, seed=0)
    assert sorted(s.train + s.validation + s.test) == list(range(len(names)))
    assert not (set(s.train) & set(s.validation) or set(s.train) & set(s.test) or set(s.validation) & set(s.test))
    assert 0.08 < len(s.validation) / len(names) < 0.12 and 0.08 < len(s.test) / len(names) < 0.12
    assert s == split_pieces(names, 0.1, 0.1, seed=0)
    # a piece's side depends on its file name only: the same name in another folder or another order agrees
    side = {names[i]: k for k, part in enumerate(s) for i in part}
    assert all(side[f"/data/a/piece{i}.mid"] == side[f"/data/b/piece{i}.mid"] for i in range(1000))
    rev = names[::-1]
    assert {rev[i]: k for k, part in enumerate(split_pieces(rev, 0.1, 0.1, 0)) for i in part} == side
    # validation is the old two-way rule's held-out set, so earlier runs keep their validation pieces
    assert set(s.validation) == {i for i, n in enumerate(names) if piece_hash(n, 0) < 0.1}


def test_small_sets_still_get_a_validation_and_a_test_piece():
    s = split_pieces([f"p{i}.mid" for i in range(4)], 0.01, 0.01, seed=0)
    assert len(s.validation) == 1 and len(s.test) == 1 and len(s.train) == 2


def test_each_rank_takes_every_world_th_file():
    files = [f"f{i}" for i in range(10)]
    shares = [shard(files, r, 3) for r in range(3)]
    assert shares == [["f0", "f3", "f6", "f9"], ["f1", "f4", "f7"], ["f2", "f5", "f8"]]


# ---------------------------------------------------------------- a short real run


@pytest.fixture(scope="module")
def midi_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("midi")
    (d / "nested").mkdir()
    for i in range(8):
        target = d / ("nested" if i % 2 else ".") / f"song{i}.mid"
        target.write_bytes(to_bytes(make_song(bars=12, seed=i, tempo=90 + 10 * i)))
    (d / "broken.mid").write_bytes(b"MThd garbage")
    return d


def short_config(midi_dir, out, **kw) -> TrainConfig:
    base = dict(midi_dir=str(midi_dir), out=str(out), batch_size=8, max_steps=40, warmup_steps=5, lr=2e-3,
                val_every=20, ckpt_every=10, val_fraction=0.2, val_windows=16, workers=1, seed=0, threads=1)
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(midi_dir, tmp_path_factory):
    """A 40-step run, recording every MIDI file it reads."""
    import midi_rae.train_data as td

    out = tmp_path_factory.mktemp("run")
    read, original = [], td.read_roll
    td.read_roll = lambda path, *a, **kw: (read.append(Path(path).name), original(path, *a, **kw))[1]
    try:
        result = train(short_config(midi_dir, out), log=lambda *_: None)
    finally:
        td.read_roll = original
    return out, result, read


def test_training_lowers_the_loss(trained):
    _, result, _ = trained
    losses = result["losses"]
    assert len(losses) == 40
    assert sum(losses[-10:]) / 10 < sum(losses[:10]) / 10


def test_the_test_split_is_recorded_and_never_read(trained, midi_dir):
    out, _, read = trained
    data = load_model(out / "last.safetensors").meta["data"]
    assert data["test_names"] and data["val_names"]
    assert data["train_files"] + data["val_files"] + data["test_files"] == data["files"] == 9
    assert sorted(data["train_names"] + data["val_names"] + data["test_names"]) == \
        sorted(f.name for f in find_roll_files(midi_dir))  # each file's part, so probes know what it trained on
    assert set(read) == {f.name for f in find_roll_files(midi_dir)} - set(data["test_names"])


def test_threshold_and_best_checkpoint_come_from_the_validation_windows(trained, midi_dir):
    out, result, _ = trained
    best = load_model(out / "best.safetensors")
    val = [f for f in find_roll_files(midi_dir) if f.name in set(best.meta["data"]["val_names"])]
    x, _ = evaluation_windows(val, 4, 128, 16)
    ws = score_windows(best.encoder, best.decoder, x, 0.5, 0.05, VALIDATION_THRESHOLDS)
    assert best.meta["threshold"] == ws.best_threshold()
    assert summarize(ws, ws.best_threshold())["plain"] == best.meta["metrics"]["plain"]
    history = json.loads((out / "metrics.json").read_text())
    scores = [(m["plain"]["f1"] or 0) + (m["masked"]["f1"] or 0) for m in history]
    assert best.meta["step"] == history[int(np.argmax(scores))]["step"]


def test_checkpoint_reloads_and_records_the_run(trained):
    out, result, _ = trained
    b = load_model(out / "last.safetensors")
    assert b.meta["step"] == 40 and b.config["steps_per_beat"] == 4
    assert b.meta["metrics"]["plain"] == result["plain"] and b.meta["threshold"] == result["threshold"]
    d = b.meta["data"]
    broken_in = {k: "broken.mid" in d[f"{k}_names"] for k in ("val", "test")}
    assert d["val_pieces"] == d["val_files"] - broken_in["val"]  # broken.mid is skipped wherever it falls
    assert d["train_pieces"] == d["train_files"] - (not any(broken_in.values()))
    assert b.meta["wall_time_s"] > 0 and json.loads((out / "metrics.json").read_text())[-1]["step"] == 40


def test_resume_continues_from_the_saved_step(trained, midi_dir, tmp_path):
    out, _, _ = trained
    run = tmp_path / "resumed"
    shutil.copytree(out, run)
    result = train(short_config(midi_dir, run, max_steps=45, resume=str(run)), log=lambda *_: None)
    assert len(result["losses"]) == 5
    assert load_model(run / "last.safetensors").meta["step"] == 45


@pytest.mark.parametrize("content, why", [
    (b"junk", "train_state.pt is not a readable PyTorch file (damaged, cut off, or another kind of file)"),
    ("code", "its pickle calls something other than a named function or class"),  # a method: getattr, then a call
    ("no optimizer", "is not the training state this run wrote (KeyError)")])
def test_a_damaged_training_state_stops_a_resume_in_one_sentence_and_runs_nothing(trained, midi_dir, tmp_path,
                                                                                    content, why):
    from midi_rae.config import CheckpointError

    out, _, _ = trained
    run = tmp_path / "resumed"
    shutil.copytree(out, run)
    state = run / "train_state.pt"
    marker = tmp_path / "ran"
    if content == "code":
        class Payload:
            def __reduce__(self):
                return (Path.touch, (marker,))
        torch.save({"optimizer": Payload()}, state)
    elif content == "no optimizer":
        torch.save({"steps": 3}, state)
    else:
        state.write_bytes(content)
    with pytest.raises(CheckpointError) as e:
        train(short_config(midi_dir, run, max_steps=45, resume=str(run)), log=lambda *_: None)
    assert why in str(e.value) and str(e.value).endswith(f"; delete {state} to resume with a fresh optimizer.")
    assert "\n" not in str(e.value) and not marker.exists()


def test_training_works_when_the_caller_turned_gradients_off(midi_dir, tmp_path):
    torch.set_grad_enabled(False)
    try:
        result = train(short_config(midi_dir, tmp_path / "nograd", max_steps=2, val_every=2, workers=0),
                       log=lambda *_: None)
    finally:
        torch.set_grad_enabled(True)
    assert len(result["losses"]) == 2


def test_optional_heads_train_and_the_mae_decoder_loads_beside_the_encoder(midi_dir, tmp_path):
    from midi_rae.swin import SwinMAEDecoder

    out = tmp_path / "heads"
    train(short_config(midi_dir, out, max_steps=2, val_every=2, ckpt_every=2, mae_decoder=True, mep=True, workers=0),
          log=lambda *_: None)
    b = load_model(out / "last.safetensors", decoder=out / "last_mae_decoder.safetensors")
    assert isinstance(b.decoder, SwinMAEDecoder)
    with torch.no_grad():
        assert tuple(b.reconstruct(b.encoder(torch.zeros(1, 1, 128, 128))).shape) == (1, 1, 128, 128)
    assert "mep" in torch.load(out / "train_state.pt", weights_only=True)


def test_skip_drop_zeroes_the_finest_levels_of_a_share_of_the_windows():
    gen = torch.Generator().manual_seed(0)
    assert skip_drop_keep(8, 6, TrainConfig(), gen) is None
    keep = skip_drop_keep(4000, 6, TrainConfig(skip_drop=0.5, skip_drop_levels=3), gen)
    dropped = keep.sum(dim=1) < 6
    assert abs(dropped.float().mean().item() - 0.5) < 0.03
    assert (keep[:, :3] == 1).all()                              # at most the finest 3 go
    k = 6 - keep.sum(dim=1)                                      # each dropped window loses its finest k levels
    assert set(k[dropped].long().tolist()) == {1, 2, 3}
    assert all(keep[i, 6 - int(k[i]):].sum() == 0 for i in range(50))
    keep = skip_drop_keep(500, 6, TrainConfig(skip_drop=1.0, skip_drop_levels=9), gen)
    assert (keep[:, 0] == 1).all() and (keep.sum(dim=1) >= 1).all()   # level 0 always stays


def test_lateral_drop_zeroes_only_the_named_levels_each_on_its_own_draw():
    gen = torch.Generator().manual_seed(0)
    assert lateral_drop_keep(8, 6, TrainConfig(), gen) is None
    keep = lateral_drop_keep(4000, 6, TrainConfig(lateral_drop=0.75, lateral_drop_levels="2,3,9"), gen)
    assert (keep[:, [0, 1, 4, 5]] == 1).all()                    # level 9 does not exist: ignored
    assert abs((keep[:, 2] == 0).float().mean().item() - 0.75) < 0.03
    assert abs((keep[:, 3] == 0).float().mean().item() - 0.75) < 0.03
    both = ((keep[:, 2] == 0) & (keep[:, 3] == 0)).float().mean().item()
    assert abs(both - 0.75 ** 2) < 0.03                          # independent draws


def test_skip_drop_and_lateral_drop_combine_as_a_product():
    cfg = TrainConfig(skip_drop=1.0, skip_drop_levels=1, lateral_drop=1.0, lateral_drop_levels="1")
    keep = decoder_keep(3, 6, cfg, torch.Generator().manual_seed(0))
    assert keep.tolist() == [[1.0, 0.0, 1.0, 1.0, 1.0, 0.0]] * 3
    assert decoder_keep(3, 6, TrainConfig(), torch.Generator()) is None


def test_scale_levels_gives_the_decoder_zeros_for_dropped_levels_without_touching_the_encoder_output():
    model = build_model(TrainConfig())
    with torch.no_grad():
        out = model.encoder(torch.rand(2, 1, 128, 128).round())
        keep = torch.tensor([[1.0] * 6, [1.0] * 4 + [0.0] * 2])
        cut = scale_levels(out, keep)
        assert torch.equal(cut.patches.levels[5].emb[0], out.patches.levels[5].emb[0])
        assert not cut.patches.levels[5].emb[1].any() and not cut.patches.levels[4].emb[1].any()
        assert torch.equal(cut.patches.levels[3].emb, out.patches.levels[3].emb)
        assert out.patches.levels[5].emb[1].any()
        assert tuple(model.decoder(cut).shape) == (2, 1, 128, 128)


def test_a_short_run_with_every_augmentation_trains(midi_dir, tmp_path):
    out = tmp_path / "aug"
    result = train(short_config(midi_dir, out, max_steps=3, val_every=3, ckpt_every=3, workers=0, articulate=0.5,
                                time_compress=0.5, superpose=0.5, octave_double=0.5, max_transpose=12),
                   log=lambda *_: None)
    assert len(result["losses"]) == 3 and all(math.isfinite(v) for v in result["losses"])
    saved = load_model(out / "last.safetensors").meta["train_config"]
    assert saved["articulate"] == 0.5 and saved["superpose"] == 0.5


def test_a_short_run_with_skip_drop_trains(midi_dir, tmp_path):
    out = tmp_path / "skip"
    result = train(short_config(midi_dir, out, max_steps=3, val_every=3, ckpt_every=3, workers=0, skip_drop=1.0,
                                skip_drop_levels=4, lateral_drop=0.5, lateral_drop_levels="2,3"),
                   log=lambda *_: None)
    assert len(result["losses"]) == 3 and all(math.isfinite(v) for v in result["losses"])


def test_a_roll_sketch_marks_the_cell_under_each_token_that_holds_a_note():
    x = torch.zeros(1, 1, 128, 128)
    x[0, 0, 70, 100] = 1.0                       # row 70, column 100: token (1, 1) of a 2x2 grid
    sketch = roll_sketch(x, (2, 2), 8)           # each token covers 64x64 pixels, each cell 8x8
    assert tuple(sketch.shape) == (1, 4, 64)
    assert sketch[0, 3].nonzero().flatten().tolist() == [0 * 8 + 4]   # cell (70-64)//8 = 0, (100-64)//8 = 4
    assert sketch[0, :3].sum() == 0


def test_coarse_target_heads_predict_a_sketch_for_each_of_the_coarsest_levels_only():
    model = build_model(TrainConfig(coarse_targets=0.5, coarse_target_levels=3))
    assert [h.in_features for h in model.coarse.heads] == [256, 128, 64]
    x = torch.rand(2, 1, 128, 128).round()
    out = model.encoder(x)
    loss = model.coarse(out.patches.levels, x)
    loss.backward()
    assert loss.item() > 0 and all(h.weight.grad.abs().sum() > 0 for h in model.coarse.heads)
    assert build_model(TrainConfig()).coarse is None


def test_spread_loss_is_zero_for_independent_unit_dimensions_and_charges_a_collapsed_level():
    h2 = torch.tensor([[1.0, 1.0], [1.0, -1.0]])
    independent = torch.kron(torch.kron(h2, h2), h2)[:, 1:]                 # 8 samples, 7 orthogonal +-1 columns
    assert spread_loss(independent[None]).item() == 0.0
    collapsed = independent[:, :1].repeat(1, 7)                              # every dimension the same column
    assert spread_loss(collapsed[None]).item() == pytest.approx(42 * (8 / 7) ** 2 / 7, rel=1e-5)
    assert spread_loss(torch.zeros(1, 8, 7)).item() == pytest.approx(25 * (1 - 1e-2), rel=1e-5)  # no variance


def test_a_short_run_with_coarse_targets_and_spread_trains_and_resumes_their_heads(midi_dir, tmp_path):
    out = tmp_path / "coarse"
    result = train(short_config(midi_dir, out, max_steps=3, val_every=3, ckpt_every=3, workers=0, coarse_targets=0.5,
                                coarse_spread=0.1), log=lambda *_: None)
    assert len(result["losses"]) == 3 and all(math.isfinite(v) for v in result["losses"])
    saved = torch.load(out / "train_state.pt", weights_only=True)
    assert set(saved["coarse"]) == {f"heads.{k}.{p}" for k in range(3) for p in ("weight", "bias")}
    logs = []
    train(short_config(midi_dir, out, max_steps=4, val_every=4, ckpt_every=4, workers=0, coarse_targets=0.5,
                       coarse_spread=0.1, resume=str(out)), log=logs.append)
    assert any("resumed from" in m and "step 3" in m for m in logs)


def test_a_run_stopped_by_the_clock_shows_its_steps_without_a_total_to_reach(midi_dir, tmp_path):
    from midi_rae.train import TrainState, _progress_bar

    by_clock = _progress_bar(short_config(midi_dir, tmp_path / "c", minutes=1.0), TrainState(), show=False)
    by_steps = _progress_bar(short_config(midi_dir, tmp_path / "s", max_steps=7), TrainState(), show=False)
    assert (by_clock.total, by_steps.total) == (None, 7)


def test_a_run_ends_by_naming_its_best_checkpoint_and_the_step_it_is_from(midi_dir, tmp_path):
    out, logs = tmp_path / "named", []
    train(short_config(midi_dir, out, max_steps=4, val_every=2, ckpt_every=2, workers=0), log=logs.append)
    meta = load_model(out / "best.safetensors").meta
    assert logs[-1] == (f"{out / 'best.safetensors'} is the best on validation (unmasked F1 + masked F1 "
                        f"{meta['best_f1']:.4f}, step {meta['step']:,}): the checkpoint to use")


def test_init_loads_the_weights_but_not_the_step_or_optimizer(trained, midi_dir, tmp_path):
    src, _, _ = trained
    out = tmp_path / "init"
    logs = []
    result = train(short_config(midi_dir, out, max_steps=2, val_every=2, ckpt_every=2, workers=0, lr=1e-12,
                                min_lr=1e-12, init=str(src / "last.safetensors")), log=logs.append)
    assert len(result["losses"]) == 2 and any("initialised the weights" in m for m in logs)
    a, b = load_model(src / "last.safetensors"), load_model(out / "last.safetensors")
    assert b.meta["step"] == 2
    for (n, p), q in zip(a.encoder.state_dict().items(), b.encoder.state_dict().values()):
        assert torch.allclose(p.float(), q.float(), atol=1e-6), n   # a learning rate of 1e-12 moves nothing


@pytest.mark.slow
def test_a_longer_run_learns_to_reconstruct(midi_dir, tmp_path):
    result = train(short_config(midi_dir, tmp_path / "long", max_steps=400, val_every=400, ckpt_every=400,
                                warmup_steps=20), log=lambda *_: None)
    assert result["plain"]["f1"] > 0.6  # from about 0.06 at initialisation (0.70 seen after 400 steps)


# ---------------------------------------------------------------- the command


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "midi_rae", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def test_empty_data_folder_gets_a_clear_message(tmp_path):
    out = _cli("train", "--midi-dir", str(tmp_path), "--out", str(tmp_path / "o"))
    assert out.returncode == 1 and out.stderr.strip().splitlines() == [
        f"error: no .mid/.midi files or .png piano rolls found under {tmp_path}."]


def test_bad_arguments_get_a_clear_message(tmp_path, midi_dir):
    out = _cli("train", "--midi-dir", str(midi_dir), "--mask-ratio", "2", "--batch-size", "0")
    assert out.returncode == 2
    assert "--batch-size must lie in 1..4,096" in out.stderr and "--mask-ratio must lie in" in out.stderr


def test_the_rolls_cache_reads_an_edited_file_again_even_at_the_same_size(tmp_path):
    from midi_rae.train_data import read_pieces

    song = tmp_path / "song.mid"
    song.write_bytes(to_bytes(make_song(bars=4, seed=1)))
    cache = tmp_path / "rolls_cache.npz"
    (before,), _ = read_pieces([song], 4, cache=cache, show=False)
    edited = to_bytes(make_song(bars=4, seed=2))
    assert len(edited) == song.stat().st_size
    song.write_bytes(edited)
    os.utime(song, ns=(song.stat().st_atime_ns, song.stat().st_mtime_ns + 10 ** 9))
    (after,), _ = read_pieces([song], 4, cache=cache, show=False)
    assert not np.array_equal(before, after)


@pytest.mark.parametrize("damage", [b"", b"PK\x03\x04 cut short", b"not a zip at all"])
def test_a_damaged_rolls_cache_is_made_again(tmp_path, damage):
    from midi_rae.train_data import read_pieces

    song = tmp_path / "song.mid"
    song.write_bytes(to_bytes(make_song(bars=4, seed=1)))
    cache = tmp_path / "rolls_cache.npz"
    cache.write_bytes(damage)
    rolls, names = read_pieces([song], 4, cache=cache, show=False)
    assert names == [str(song)] and len(rolls) == 1
    assert read_pieces([song], 4, cache=cache, show=False)[1] == names  # and the new cache reads


def test_a_files_from_list_that_is_not_text_is_one_sentence(tmp_path, midi_dir):
    listing = tmp_path / "list.txt"
    listing.write_bytes(bytes(range(128, 256)))
    out = _cli("train", "--midi-dir", str(midi_dir), "--out", str(tmp_path / "o"), "--files-from", str(listing))
    assert out.returncode == 1 and out.stderr.strip().splitlines() == [
        f"error: --files-from {listing} is not a readable text file of file names."]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine with CUDA")
def test_a_cuda_device_on_a_machine_without_one_is_one_sentence(tmp_path, midi_dir):
    out = _cli("train", "--midi-dir", str(midi_dir), "--out", str(tmp_path / "o"), "--device", "cuda")
    assert out.returncode == 1 and out.stderr.strip().splitlines() == [
        "error: --device cuda: this machine has no CUDA device(s); use --device cpu, or leave it out."]


def test_lateral_drop_levels_that_are_not_level_numbers_get_a_clear_message(midi_dir):
    out = _cli("train", "--midi-dir", str(midi_dir), "--lateral-drop", "0.5", "--lateral-drop-levels", "3,x")
    assert out.returncode == 2
    assert "--lateral-drop-levels must be comma-separated level numbers (0 = coarsest)" in out.stderr


def test_coarse_spread_without_coarse_targets_gets_a_clear_message(midi_dir):
    out = _cli("train", "--midi-dir", str(midi_dir), "--coarse-spread", "0.1")
    assert out.returncode == 2
    assert "--coarse-spread works on the heads of --coarse-targets: give --coarse-targets too" in out.stderr


def test_two_process_gloo_torchrun_run_completes_with_each_rank_reading_its_share(midi_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29531",
           "-m", "midi_rae", "train", "--midi-dir", str(midi_dir), "--out", str(out), "--batch-size", "4",
           "--max-steps", "4", "--val-every", "4", "--ckpt-every", "2", "--val-fraction", "0.2",
           "--val-windows", "8", "--warmup-steps", "2", "--workers", "0", "--threads", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    meta = load_model(out / "last.safetensors").meta
    assert meta["world_size"] == 2 and meta["step"] == 4
    train_files = sorted(str(f) for f in find_roll_files(midi_dir)
                         if f.name not in set(meta["data"]["val_names"]) | set(meta["data"]["test_names"]))
    shares = [[str(n) for n in np.load(out / f"rolls_cache_{r}of2.npz")["names"]] for r in range(2)]
    readable = [f for f in train_files if not f.endswith("broken.mid")]
    assert shares == [[f for f in shard(train_files, r, 2) if f in readable] for r in range(2)]


def test_init_from_a_checkpoint_it_cannot_use_is_one_sentence(tmp_path):
    from midi_rae.checkpoint import build_models, save_checkpoint
    from midi_rae.config import DEFAULT, CheckpointError
    from midi_rae.train import Autoencoder, init_weights

    cfg = {**DEFAULT.to_dict(), "embed_dim": 16}
    enc, dec = build_models(cfg, "swin")
    save_checkpoint(tmp_path / "wide.safetensors", enc, dec, cfg)
    save_checkpoint(tmp_path / "encoder_only.safetensors", enc, None, cfg)
    model = Autoencoder(DEFAULT.to_dict(), mae_decoder=False, mep=False)
    with pytest.raises(CheckpointError, match=r"^wide\.safetensors does not fit this run's model \(Error\(s\) in "
                                              r"loading state_dict for SwinEncoder\); train with the configuration"):
        init_weights(tmp_path / "wide.safetensors", model)
    with pytest.raises(CheckpointError, match=r"^encoder_only\.safetensors has no Swin decoder weights; --init and "
                                              r"--resume need both\.$"):
        init_weights(tmp_path / "encoder_only.safetensors", model)


def test_resuming_a_run_whose_metadata_is_damaged_is_one_sentence(tmp_path):
    import torch

    from midi_rae.checkpoint import save_checkpoint
    from midi_rae.config import DEFAULT, CheckpointError
    from midi_rae.train import Autoencoder, resume

    model = Autoencoder(DEFAULT.to_dict(), mae_decoder=False, mep=False)
    save_checkpoint(tmp_path / "run" / "last.safetensors", model.encoder, model.decoder, DEFAULT,
                    meta={"step": 5, "best_f1": "q"})
    with pytest.raises(CheckpointError, match=r"^last\.safetensors has damaged metadata: its best_f1 must be a "
                                              r"number, not 'q'\.$"):
        resume(tmp_path / "run", model, torch.optim.AdamW(model.parameters()))


def test_a_resumed_run_goes_on_writing_in_its_own_folder(trained, tmp_path):
    run = tmp_path / "runs" / "x"
    shutil.copytree(trained[0], run)
    out = lambda *flags: _parsed(*flags).out  # noqa: E731
    assert out("--resume", str(run), "--max-steps", "50") == str(run)
    assert out("--resume", str(run / "last.safetensors"), "--max-steps", "50") == str(run)
    assert out("--resume", str(run), "--max-steps", "50", "--out", str(tmp_path / "y")) == str(tmp_path / "y")
    assert out("--midi-dir", str(tmp_path)) == "runs/latest"


# ---------------------------------------------------------------- what the command refuses, and what it says


def _parsed(*flags) -> TrainConfig:
    """The TrainConfig the train command's flags give (ConfigError as the command would say it)."""
    import argparse

    from midi_rae.train_config import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args([str(f) for f in flags]))


def _main(capsys, *args) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of `midi-rae ARGS` run in this process, as the shell would see them."""
    from midi_rae.__main__ import main

    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:  # SystemExit("error: ...") prints its text and exits 1
        rc = e.code if isinstance(e.code, int) else 1
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    out, err = capsys.readouterr()
    return rc, out, err


TINY = ["--batch-size", "4", "--warmup-steps", "1", "--val-every", "2", "--ckpt-every", "2", "--val-windows", "4",
        "--val-fraction", "0.2", "--workers", "0", "--threads", "1"]


def _songs(folder: Path, names, broken: dict | None = None) -> Path:
    """A folder of short songs named `names`, and of files named in `broken` holding the bytes given there."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        (folder / name).write_bytes(to_bytes(make_song(bars=10, seed=i)))
    for name, data in (broken or {}).items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def no_reading(monkeypatch):
    """Fails the test if any MIDI file is read."""
    import midi_rae.train_data as td

    def refuse(*_a, **_k):
        raise AssertionError("a MIDI file was read")

    monkeypatch.setattr(td, "read_roll", refuse)


@pytest.mark.parametrize("seed", ["-5", "99999999999999999999999", "4294967296"])
def test_a_seed_outside_0_to_2_to_the_32_is_a_usage_error_before_anything_is_read(capsys, midi_dir, tmp_path, seed):
    rc, _, err = _main(capsys, "train", "--midi-dir", midi_dir, "--out", tmp_path / "o", "--seed", seed)
    assert rc == 2 and err.strip().splitlines() == [
        f"error: midi-rae train: argument --seed: {seed} is not a seed: a seed is a whole number from 0 to "
        f"4,294,967,295 (see 'midi-rae train --help')"]
    assert not (tmp_path / "o").exists()


def test_a_new_run_into_a_folder_that_holds_a_run_is_refused_before_any_file_is_read(capsys, trained, midi_dir,
                                                                                   tmp_path, no_reading):
    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    before = (run / "last.safetensors").read_bytes()
    rc, _, err = _main(capsys, "train", "--midi-dir", midi_dir, "--out", run, *TINY, "--max-steps", "2")
    assert rc == 1 and err.strip().splitlines() == [
        f"error: --out {run} already holds a run (last.safetensors, best.safetensors, train_state.pt); continue it "
        f"with --resume {run}, start it over with --overwrite (which deletes its checkpoints), or give another --out."]
    assert (run / "last.safetensors").read_bytes() == before


def test_overwrite_starts_a_new_run_over_the_old_one(trained, midi_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    logs = []
    train(short_config(midi_dir, run, max_steps=2, val_every=2, ckpt_every=2, workers=0, overwrite=True),
          log=logs.append)
    assert load_model(run / "last.safetensors").meta["step"] == 2
    assert load_model(run / "best.safetensors").meta["step"] == 2  # the old run's best is gone with it
    assert f"started over in {run}: deleted the earlier run's last.safetensors, best.safetensors, train_state.pt, " \
           f"metrics.json" in logs


def test_overwrite_and_resume_of_the_same_run_contradict_each_other(trained, midi_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    with pytest.raises(SystemExit, match=f"^error: --overwrite would start over the run that --resume {run} continues "
                                         f"in {run}; give one of them\\.$"):
        train(short_config(midi_dir, run, max_steps=50, resume=str(run), overwrite=True), log=lambda *_: None)


def test_overwrite_beside_a_resume_of_a_finished_run_is_told_as_the_contradiction_first(trained, midi_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    with pytest.raises(SystemExit, match="^error: --overwrite would start over the run that --resume"):
        train(short_config(midi_dir, run, max_steps=1, resume=str(run), overwrite=True), log=lambda *_: None)


def test_a_resume_takes_the_runs_own_options_and_may_raise_its_step_limit(trained, midi_dir):
    run = trained[0]
    cfg = _parsed("--resume", run, "--max-steps", "60")
    assert (cfg.midi_dir, cfg.out, cfg.max_steps) == (str(midi_dir), str(run), 60)
    assert (cfg.batch_size, cfg.warmup_steps, cfg.val_fraction, cfg.val_windows, cfg.ckpt_every, cfg.workers) == \
        (8, 5, 0.2, 16, 10, 1)                     # the run's own, not the defaults 32, 200, 0.1, 256, 250, 2
    assert cfg.threads == 0 and cfg.resume == str(run)   # where this process runs is this command's


def test_a_relative_midi_dir_is_stored_whole_so_a_resume_from_another_folder_finds_it(midi_dir, monkeypatch):
    monkeypatch.chdir(midi_dir.parent)
    cfg = _parsed("--midi-dir", midi_dir.name, "--max-steps", "1")
    assert cfg.midi_dir == str(midi_dir.resolve())  # what the run's checkpoints store


def test_a_resume_refuses_options_that_would_change_the_runs_split_or_schedule(trained):
    from midi_rae.train_config import ConfigError

    run = trained[0]
    with pytest.raises(ConfigError) as e:
        _parsed("--resume", run, "--max-steps", "60", "--seed", "3", "--batch-size", "16")
    assert str(e.value) == (
        "--batch-size 16 (the run's: 8) and --seed 3 (the run's: 0) differ from the options the resumed run was made "
        "with, which a resume keeps (they fix its model, objective, data split, batches, validation and "
        "learning-rate schedule); leave them out to go on as the run was, or start a new run from its weights with "
        f"--init {run / 'last.safetensors'} and another --out.")
    assert not e.value.usage


@pytest.mark.parametrize("args, clash", [
    (["--mask-ratio", "0.3"], "--mask-ratio 0.3 (the run's: 0.5)"),  # "best" would compare other validations
    (["--weight-decay", "0.1"], "--weight-decay 0.1 (the run's: 0.05)"),
    (["--superpose", "0.5"], "--superpose 0.5 (the run's: 0.0)"),
    (["--val-windows", "8"], "--val-windows 8 (the run's: 16)"),
    (["--mep"], "--mep (the run trains without it)"),
])
def test_a_resume_refuses_a_changed_objective_augmentation_or_validation(trained, args, clash):
    from midi_rae.train_config import ConfigError

    with pytest.raises(ConfigError) as e:
        _parsed("--resume", trained[0], "--max-steps", "60", *args)
    assert str(e.value).startswith(f"{clash} differs from the option the resumed run was made with")


def test_a_second_run_started_into_the_folder_a_run_trains_in_is_refused(midi_dir, tmp_path):
    from midi_rae.train import run_lock

    out = tmp_path / "run"
    out.mkdir()
    with run_lock(out):  # a run training there, in another process or this one
        with pytest.raises(SystemExit, match=f"^error: another training run is writing to {out}; wait for it to "
                                             r"end, or give another --out\.$"):
            train(short_config(midi_dir, out, max_steps=2), log=lambda *_: None)
    assert not (out / "last.safetensors").exists()


def test_weights_that_stopped_being_finite_are_never_written(midi_dir, tmp_path):
    import torch

    from midi_rae.train import Checkpointer, TrainState, build_model

    cfg = short_config(midi_dir, tmp_path)
    model = build_model(cfg)
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    ckpt = Checkpointer(tmp_path, model, torch.optim.AdamW(model.parameters()), cfg.model_config(), {})
    state = TrainState()
    state.step = 3
    with pytest.raises(SystemExit, match=r"^error: the weights stopped being finite numbers by step 3"):
        ckpt.save("last", state)
    assert list(tmp_path.iterdir()) == []


def test_a_resume_with_seven_level_names_the_runs_own_model(trained):
    from midi_rae.train_config import ConfigError

    with pytest.raises(ConfigError, match=r"^--seven-level \(the run trains the 6-level model\) differs from the "
                                          r"option the resumed run was made with, which a resume keeps"):
        _parsed("--resume", trained[0], "--max-steps", "60", "--seven-level")


def test_a_resume_of_a_run_at_its_step_limit_says_there_is_nothing_to_train(trained):
    from midi_rae.train_config import ConfigError

    run = trained[0]
    with pytest.raises(ConfigError, match=f"^the resumed run {run / 'last.safetensors'} is already at step 40, which "
                                          r"reaches --max-steps 40; give a larger --max-steps to train it on\.$"):
        _parsed("--resume", run)


def test_a_resume_from_best_with_the_training_state_of_last_is_refused(midi_dir, tmp_path):
    from midi_rae.config import CheckpointError

    run, still = tmp_path / "run", dict(workers=0, lr=1e-9, min_lr=1e-9)
    train(short_config(midi_dir, run, max_steps=4, val_every=1, ckpt_every=4, **still), log=lambda *_: None)
    best = run / "best.safetensors"
    assert load_model(best).meta["step"] == 1  # a learning rate of 1e-9 never betters step 1
    with pytest.raises(CheckpointError) as e:
        train(short_config(midi_dir, tmp_path / "more", max_steps=6, resume=str(best), **still), log=lambda *_: None)
    assert str(e.value) == (f"{best} is the run at step 1 but the train_state.pt beside it holds the optimizer of "
                            f"step 4, so they cannot resume together; resume from {run} (its last.safetensors) to go "
                            f"on, or start a new run from these weights with --init {best} and another --out.")


def test_a_resume_without_a_training_state_says_the_optimizer_starts_afresh(trained, midi_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained[0], run)
    (run / "train_state.pt").unlink()
    warnings = []
    train(short_config(midi_dir, run, max_steps=41, workers=0, resume=str(run)), log=lambda *_: None,
          warn=warnings.append)
    assert warnings == [f"{run} holds no train_state.pt, so the optimizer (AdamW's moments) starts afresh at step 40."]


def _interrupted_at(monkeypatch, call: int):
    """Make the `call`-th optimizer step from now raise KeyboardInterrupt, as Ctrl-C would."""
    import midi_rae.train as tr

    original, calls = tr.train_step, [0]

    def step(*a, **kw):
        calls[0] += 1
        if calls[0] == call:
            raise KeyboardInterrupt
        return original(*a, **kw)

    monkeypatch.setattr(tr, "train_step", step)
    return lambda: monkeypatch.setattr(tr, "train_step", original)


def test_an_interrupted_and_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(midi_dir, tmp_path,
                                                                                    monkeypatch):
    from safetensors.torch import load_file

    cfg = dict(max_steps=4, batch_size=2, val_every=2, ckpt_every=2, workers=0, val_windows=4, mep=True)
    train(short_config(midi_dir, tmp_path / "whole", **cfg), log=lambda *_: None)
    restore = _interrupted_at(monkeypatch, 4)                    # stopped in step 4: the last save was step 2
    with pytest.raises(KeyboardInterrupt):
        train(short_config(midi_dir, tmp_path / "cut", **cfg), log=lambda *_: None)
    restore()
    assert load_model(tmp_path / "cut" / "last.safetensors").meta["step"] == 2
    train(short_config(midi_dir, tmp_path / "cut", resume=str(tmp_path / "cut"), **cfg), log=lambda *_: None)
    whole, cut = load_file(tmp_path / "whole" / "last.safetensors"), load_file(tmp_path / "cut" / "last.safetensors")
    assert all(torch.equal(whole[k], cut[k]) for k in whole)     # bit for bit
    logged = [[{k: v for k, v in m.items() if k != "wall_time_s"} for m in load_model(p).meta["history"]]
              for p in (tmp_path / "whole" / "last.safetensors", tmp_path / "cut" / "last.safetensors")]
    assert logged[0] == logged[1]                                # the running loss average too


def test_the_interrupt_message_starts_on_a_line_of_its_own(capsys, midi_dir, tmp_path, monkeypatch):
    _interrupted_at(monkeypatch, 1)
    rc, _, err = _main(capsys, "train", "--midi-dir", midi_dir, "--out", tmp_path / "o", *TINY, "--max-steps", "4")
    assert rc == 130 and "%|" in err                                  # the progress bar was drawn
    assert err.endswith("\nerror: interrupted before this run saved a checkpoint.\n")


def test_a_resumed_run_interrupted_before_it_saves_says_its_last_checkpoint_is_as_it_was(capsys, midi_dir, tmp_path,
                                                                                        monkeypatch):
    out = tmp_path / "o"
    rc, _, _ = _main(capsys, "train", "--midi-dir", midi_dir, "--out", out, *TINY, "--max-steps", "2")
    assert rc == 0
    _interrupted_at(monkeypatch, 1)
    rc, _, err = _main(capsys, "train", "--resume", out, "--max-steps", "4")
    assert rc == 130 and err.endswith(
        f"\nerror: interrupted before this process saved a checkpoint; the run's last one "
        f"({out / 'last.safetensors'}) is as it was: --resume {out} goes on from it.\n")


def test_unreadable_files_are_named_on_stderr_and_left_out(tmp_path):
    # at seed 0 and --val-fraction 0.2: song1 validates, song0 and song5 are the test split, the rest train
    folder = _songs(tmp_path / "midi", [f"song{i}.mid" for i in range(6)],
                    {"empty.mid": b"", "junk.mid": b"not a MIDI file"})
    warnings = []
    train(short_config(folder, tmp_path / "o", max_steps=1, val_every=1, workers=0), log=lambda *_: None,
          warn=warnings.append)
    assert warnings == ["2 of the 6 training and validation files could not be read and are left out: empty.mid "
                        "(The file is empty); junk.mid (This file is not a MIDI file (it does not start with an "
                        "'MThd' header))."]


def test_a_validation_split_with_no_readable_file_is_refused_before_the_training_files_are_read(tmp_path):
    folder = _songs(tmp_path / "midi", ["song0.mid", "song2.mid", "song3.mid", "song4.mid"], {"song6.mid": b""})
    with pytest.raises(SystemExit) as e:
        train(short_config(folder, tmp_path / "o", max_steps=1), log=lambda *_: None)
    assert e.value.code == ("error: the validation split has no window with a note to score (its one file could not "
                            "be read: song6.mid (The file is empty)), so the run could choose no best checkpoint and "
                            "no threshold; fix or remove that file, or split the files another way with another "
                            "--seed.")
    assert not (tmp_path / "o" / "rolls_cache.npz").exists()


def test_a_run_whose_every_file_is_unreadable_is_told_so_and_not_sent_to_another_split(tmp_path):
    folder = _songs(tmp_path / "midi", [], {"song2.mid": b"", "song3.mid": b"junk", "song4.mid": b"", "song6.mid": b""})
    with pytest.raises(SystemExit) as e:
        train(short_config(folder, tmp_path / "o", max_steps=1), log=lambda *_: None)
    assert e.value.code == ("error: none of the 3 training and validation files could be read (song6.mid (The file "
                            "is empty); and 2 more); a run needs readable pieces to train and validate on.")


def test_a_single_process_run_whose_training_files_are_all_unreadable_names_no_rank(tmp_path):
    folder = _songs(tmp_path / "midi", ["song0.mid", "song1.mid"], {"empty.mid": b"", "junk.mid": b"not a MIDI file"})
    with pytest.raises(SystemExit) as e:
        train(short_config(folder, tmp_path / "o", max_steps=1), log=lambda *_: None)
    assert e.value.code == ("error: none of the 2 training files could be read: empty.mid (The file is empty); "
                            "junk.mid (This file is not a MIDI file (it does not start with an 'MThd' header)).")


def test_a_split_that_leaves_no_validation_piece_says_how_the_files_were_split(capsys, tmp_path):
    folder = _songs(tmp_path / "four", [f"d{i}.mid" for i in range(4)])  # at seed 0: three of them in the test split
    rc, _, err = _main(capsys, "train", "--midi-dir", folder, "--out", tmp_path / "o", "--max-steps", "1")
    assert rc == 1 and err.strip().splitlines() == [
        "error: the 4 MIDI files split into 1 for training, 0 for validation and 3 for the test split (by a hash of "
        "each file's name with --seed 0; --val-fraction 0.1 for validation and as much again for the test split); a "
        "run needs at least one piece to train on and one to validate on: add files, or try another --seed."]


def test_a_validation_fraction_that_leaves_nothing_to_train_on_is_a_usage_error(capsys, midi_dir, tmp_path):
    rc, _, err = _main(capsys, "train", "--midi-dir", midi_dir, "--out", tmp_path / "o", "--val-fraction", "0.5")
    assert rc == 2 and err.strip().splitlines() == [
        "error: --val-fraction must lie in (0, 0.5): the test split takes as many files again, and the rest trains."]


def test_an_out_that_cannot_be_written_is_refused_before_any_file_is_read(capsys, midi_dir, tmp_path, no_reading):
    (tmp_path / "file").write_text("")
    rc, _, err = _main(capsys, "train", "--midi-dir", midi_dir, "--out", tmp_path / "file" / "run", *TINY)
    assert rc == 1 and err.strip().splitlines() == [
        f"error: --out {tmp_path / 'file' / 'run'} cannot be written ({tmp_path / 'file'} is a file, not a folder); "
        f"give a folder you can write to."]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc")
def test_an_out_in_a_folder_that_takes_no_new_folders_says_so(capsys, midi_dir, no_reading):
    rc, _, err = _main(capsys, "train", "--midi-dir", midi_dir, "--out", "/proc/midi-rae-run", *TINY)
    assert rc == 1 and err.strip().splitlines() == [
        "error: --out /proc/midi-rae-run cannot be written (/proc does not take new folders); give a folder you can "
        "write to."]


@pytest.mark.parametrize("flags, sentence", [
    (["--lateral-drop", "0.5", "--lateral-drop-levels", "2,9"],
     "--lateral-drop-levels names level 9, which the 6-level model lacks (its levels are 0..5)"),
    (["--skip-drop", "0.5", "--skip-drop-levels", "10"],
     "--skip-drop-levels must lie in 1..5 for the 6-level model (it drops up to that many of the finest levels, "
     "and level 0 always stays)"),
    (["--coarse-targets", "1", "--coarse-target-levels", "10"],
     "--coarse-target-levels must lie in 1..5 for the 6-level model (a finer level's tokens cover less of the roll "
     "than the 8x8 sketch a target predicts)")])
def test_levels_the_model_lacks_are_a_usage_error(midi_dir, flags, sentence):
    from midi_rae.train_config import ConfigError

    with pytest.raises(ConfigError) as e:
        _parsed("--midi-dir", midi_dir, *flags)
    assert str(e.value) == sentence + "." and e.value.usage


def test_the_seven_level_model_has_a_level_6(midi_dir):
    assert _parsed("--midi-dir", midi_dir, "--seven-level", "--lateral-drop-levels", "6").lateral_levels() == (6,)


@pytest.mark.parametrize("flags, sentence", [
    (["--init", "{folder}"], "--init {folder} is a folder; it takes a checkpoint file (a .safetensors or .pt file)"),
    (["--init", "{fifo}"], "--init {fifo} is not a regular file (a pipe, a device or a socket); it takes a checkpoint "
                           "file (a .safetensors or .pt file)"),
    (["--files-from", "{fifo}"], "--files-from {fifo} is not a regular file (a pipe, a device or a socket); it takes "
                                 "a text file of file names, one a line"),
    (["--resume", "{song}"], "--resume {song} is a MIDI file; it takes a run folder or one of its .safetensors "
                             "checkpoints"),
    (["--resume", "{folder}"], "--resume {folder} holds no last.safetensors, so there is no run to continue there (a "
                               "run writes one at its first --ckpt-every step)")])
def test_paths_that_are_not_the_file_asked_for_say_what_they_are(midi_dir, tmp_path, flags, sentence):
    from midi_rae.train_config import ConfigError

    places = {"folder": tmp_path / "folder", "fifo": tmp_path / "fifo", "song": midi_dir / "song0.mid"}
    places["folder"].mkdir()
    os.mkfifo(places["fifo"])
    with pytest.raises(ConfigError) as e:
        _parsed("--midi-dir", midi_dir, *[f.format(**places) for f in flags])
    assert str(e.value) == sentence.format(**places) + "." and not e.value.usage


@pytest.mark.parametrize("text, sentence", [
    ("song0\nnested/song9.mid\n", "none of the 2 names in --files-from {listing} is one of the 9 MIDI or PNG files "
                                   "under {midi_dir}; the list names them by their path relative to --midi-dir, one "
                                   "a line (e.g. broken.mid)."),
    ("\n  \n", "--files-from {listing} names no file; it takes the paths of the files to train on, relative to "
               "--midi-dir, one a line."),
])
def test_a_files_from_list_that_names_none_of_the_files_says_how_it_names_them(capsys, midi_dir, tmp_path, text,
                                                                              sentence):
    listing = tmp_path / "list.txt"
    listing.write_text(text)
    rc, _, err = _main(capsys, "train", "--midi-dir", midi_dir, "--out", tmp_path / "o", "--files-from", listing)
    assert rc == 1 and err.strip().splitlines() == ["error: " + sentence.format(listing=listing, midi_dir=midi_dir)]


def test_more_workers_than_cores_are_capped_to_the_cores_in_one_line(midi_dir, tmp_path):
    from midi_rae.train import check_before_reading, usable_cores

    warnings = []
    cfg = check_before_reading(short_config(midi_dir, tmp_path / "o", workers=200), warnings.append)
    assert cfg.workers == usable_cores()
    assert warnings == [f"--workers 200 is more than the {usable_cores()} cores this process may use; using "
                        f"{usable_cores()}."]


def test_init_from_a_checkpoint_of_the_other_level_count_says_which_flag_fits(tmp_path):
    from midi_rae.checkpoint import build_models, save_checkpoint
    from midi_rae.config import DEFAULT, SEVEN_LEVEL, CheckpointError
    from midi_rae.train import Autoencoder, init_weights

    enc, dec = build_models(SEVEN_LEVEL.to_dict(), "swin")
    save_checkpoint(tmp_path / "seven.safetensors", enc, dec, SEVEN_LEVEL.to_dict())
    with pytest.raises(CheckpointError, match=r"^seven\.safetensors holds a 7-level model and this run builds the "
                                              r"6-level one; add --seven-level to train it\.$"):
        init_weights(tmp_path / "seven.safetensors", Autoencoder(DEFAULT.to_dict(), mae_decoder=False, mep=False))


def test_a_folder_of_png_piano_rolls_trains_as_its_midi_would(tmp_path):
    from midi_rae.pianoroll import midi_to_roll
    from midi_rae.png_rolls import roll_to_png
    from midi_rae.train_data import read_pieces

    d = tmp_path / "rolls"
    d.mkdir()
    for i in range(8):
        roll = midi_to_roll(to_bytes(make_song(bars=12, seed=i, tempo=90 + 10 * i)))
        (d / f"roll{i}.png").write_bytes(roll_to_png(roll.array))
    files = find_roll_files(d)
    assert [f.name for f in files] == [f"roll{i}.png" for i in range(8)]
    rolls, _ = read_pieces(files[:1], 4, 1, show=False)
    assert np.array_equal(np.unpackbits(rolls[0], axis=0)[:128, :roll_width(files[0])],
                          midi_to_roll(to_bytes(make_song(bars=12, seed=0, tempo=90))).array)
    out = tmp_path / "run"
    train(TrainConfig(midi_dir=str(d), out=str(out), batch_size=4, max_steps=2, warmup_steps=1, val_every=2,
                      ckpt_every=2, val_fraction=0.2, val_windows=4, workers=0, threads=1), log=lambda *_: None)
    assert (out / "last.safetensors").is_file()


def roll_width(png) -> int:
    """The steps of a PNG piano roll (its width)."""
    from PIL import Image

    with Image.open(png) as im:
        return im.width

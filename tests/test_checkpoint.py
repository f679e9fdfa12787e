"""Checkpoint loading: both formats, one file or two, and the refusals."""
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import FIXTURES, ROOT, needs_fixtures, run_without_torch
from midi_rae.checkpoint import (DEFAULT_CONFIG, CheckpointError, build_models, load_model, read_checkpoint,
                                 save_checkpoint)
from midi_rae.swin import SwinDecoder, SwinMAEDecoder


@pytest.fixture(scope="module")
def small_models():
    torch.manual_seed(0)
    return build_models(DEFAULT_CONFIG, "swin")


def _same_outputs(a, b, x):
    with torch.no_grad():
        return torch.equal(a.reconstruct(a.encoder(x)), b.reconstruct(b.encoder(x)))


def test_project_format_roundtrip_in_one_file(tmp_path, small_models):
    enc, dec = small_models
    p = save_checkpoint(tmp_path / "m.safetensors", enc, dec, {**DEFAULT_CONFIG, "steps_per_beat": 8}, {"step": 7})
    b = load_model(p)
    assert b.config["steps_per_beat"] == 8 and b.meta["step"] == 7
    assert isinstance(b.decoder, SwinDecoder)
    x = (torch.rand(2, 1, 128, 128) > 0.9).float()
    with torch.no_grad():
        assert torch.equal(b.encoder(x).patches.levels[0].emb, enc.eval()(x).patches.levels[0].emb)
        assert torch.equal(b.reconstruct(b.encoder(x)), dec.eval()(enc(x)))


def test_loading_the_project_format_never_unpickles(tmp_path, small_models, monkeypatch):
    import pickle

    enc, dec = small_models
    p = save_checkpoint(tmp_path / "m.safetensors", enc, dec, DEFAULT_CONFIG)

    def refuse(*args, **kwargs):
        raise AssertionError("the project's format must load without unpickling anything")

    for target, attr in ((torch, "load"), (pickle, "loads"), (pickle, "load"), (pickle, "Unpickler")):
        monkeypatch.setattr(target, attr, refuse)
    assert isinstance(load_model(p).decoder, SwinDecoder)


def test_project_format_in_two_files(tmp_path, small_models):
    enc, dec = small_models
    pe = save_checkpoint(tmp_path / "enc.safetensors", enc, None, DEFAULT_CONFIG)
    pd = save_checkpoint(tmp_path / "dec.safetensors", None, dec, DEFAULT_CONFIG)
    both = load_model(pe, decoder=pd)
    one = load_model(save_checkpoint(tmp_path / "both.safetensors", enc, dec, DEFAULT_CONFIG))
    assert _same_outputs(both, one, (torch.rand(1, 1, 128, 128) > 0.8).float())


def test_encoder_only_file_has_no_decoder(tmp_path, small_models):
    b = load_model(save_checkpoint(tmp_path / "enc.safetensors", small_models[0], None, DEFAULT_CONFIG))
    assert b.decoder is None
    with pytest.raises(CheckpointError, match="no decoder"):
        b.reconstruct(b.encoder(torch.zeros(1, 1, 128, 128)))


def test_default_path_without_a_shipped_checkpoint_says_so(monkeypatch, tmp_path):
    import midi_rae.checkpoint as ck
    monkeypatch.setattr(ck, "DEFAULT_CHECKPOINT", tmp_path / "none.safetensors")
    with pytest.raises(CheckpointError, match="No default checkpoint"):
        load_model()


@needs_fixtures()
@pytest.mark.parametrize("family,levels", [("six-level", 6), ("seven-level", 7)])
def test_original_format_loads_with_config_rebuilt(family, levels):
    b = load_model(FIXTURES / family / "SwinEncoder__best.pt", decoder=FIXTURES / family / "SwinDecoder__best.pt")
    assert b.num_levels == levels
    assert b.config["steps_per_beat"] is None  # not recorded by the original code
    assert b.meta["epoch"] == 25


@needs_fixtures()
def test_original_format_mae_decoder_loads():
    b = load_model(FIXTURES / "six-level" / "SwinEncoder__best.pt",
                   decoder=FIXTURES / "six-level" / "SwinMAEDecoder__best.pt")
    assert isinstance(b.decoder, SwinMAEDecoder)
    with torch.no_grad():
        assert tuple(b.reconstruct(b.encoder(torch.zeros(1, 1, 128, 128))).shape) == (1, 1, 128, 128)


@needs_fixtures()
def test_original_format_loads_without_omegaconf_installed(tmp_path):
    code = ("import sys; sys.modules['omegaconf'] = None\n"
            "from midi_rae.checkpoint import load_model\n"
            f"b = load_model(r'{FIXTURES / 'six-level' / 'SwinEncoder__best.pt'}')\n"
            "print(b.config['embed_dim'], b.config['depths'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "8 [1, 2, 2, 6, 2, 1]"


@needs_fixtures()
def test_orig_mod_prefix_is_stripped(tmp_path):
    raw = open(FIXTURES / "six-level" / "SwinEncoder__best.pt", "rb").read()
    parts, cfg, _ = read_checkpoint(raw)
    sd = {"_orig_mod." + k: v for k, v in parts["encoder"].items()}
    p = tmp_path / "compiled.pt"
    torch.save({"model_state_dict": sd, "epoch": 3, "val_loss": 0.1}, p)
    assert load_model(p).num_levels == 6


@needs_fixtures()
@pytest.mark.parametrize("wrap", ["bare", "model"])
def test_weights_saved_as_pytorch_usually_saves_them_load(tmp_path, wrap):
    """torch.save(model.state_dict()) and {'model': state_dict}: the weights alone, at the spec's defaults."""
    parts, _, _ = read_checkpoint(open(FIXTURES / "six-level" / "SwinEncoder__best.pt", "rb").read())
    p = tmp_path / f"{wrap}.pt"
    torch.save(parts["encoder"] if wrap == "bare" else {"model": parts["encoder"]}, p)
    loaded, _, _ = read_checkpoint(p)
    assert list(loaded) == ["encoder"] and all(torch.equal(loaded["encoder"][k], v) for k, v in parts["encoder"].items())


def test_weights_saved_without_their_configuration_for_another_architecture_say_what_was_assumed(tmp_path):
    cfg = {**DEFAULT_CONFIG, "patch_h": 8, "patch_w": 8, "embed_dim": 16, "depths": [1, 2, 2, 2, 1],
           "num_heads": [1, 2, 2, 4, 8], "dec_depths": [1, 1, 1, 1, 1]}
    enc, _ = build_models(cfg, None)
    p = tmp_path / "bare_L5.pt"
    torch.save(enc.state_dict(), p)
    with pytest.raises(CheckpointError) as e:
        load_model(p)
    assert str(e.value) == (
        "bare_L5.pt holds weights without their configuration (as torch.save(model.state_dict()) writes them), so it "
        "was read as the spec's default model (6 levels, patch 4×4, embed_dim 8), which its weights do not fit (they "
        "show 5 levels, patch 8×8, embed_dim 16): save it with its configuration (midi_rae.checkpoint.save_checkpoint, "
        "or a dict with 'model_state_dict' and the original code's 'config').")


def test_weights_saved_without_their_configuration_that_differ_inside_the_blocks_name_the_misfit(tmp_path):
    enc, _ = build_models({**DEFAULT_CONFIG, "mlp_ratio": 2.0}, None)
    p = tmp_path / "bare_mlp2.pt"
    torch.save(enc.state_dict(), p)
    with pytest.raises(CheckpointError) as e:
        load_model(p)
    said = str(e.value)
    assert "which its weights do not fit (" in said and "they show" not in said
    assert "shape mismatches (file vs model), e.g. stages.0.blocks.0.mlp.fc1.weight (16, 8) vs (32, 8)" in said


def test_a_midi_file_given_as_a_checkpoint_is_named_as_one(tmp_path):
    p = tmp_path / "song.safetensors"
    p.write_bytes(b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0" + b"MTrk\x00\x00\x00\x04\x00\xff\x2f\x00")
    with pytest.raises(CheckpointError, match=r"^song\.safetensors is a MIDI file, not a checkpoint: it goes in the "
                                              r"MIDI file's place \(the piece\), not the model's\.$"):
        read_checkpoint(p)


def test_a_pytorch_file_without_weights_says_where_they_are_looked_for(tmp_path):
    p = tmp_path / "notes.pt"
    torch.save({"epoch": 3, "notes": "no weights here"}, p)
    with pytest.raises(CheckpointError, match=r"^notes\.pt holds no weights: neither a 'model_state_dict' \(or "
                                              r"'state_dict', 'model'\) entry nor, as torch\.save\(model\.state_dict\(\)\) "
                                              r"writes, tensors by name\.$"):
        read_checkpoint(p)


@needs_fixtures()
def test_a_weight_stored_as_one_value_shown_many_times_is_checked_without_spreading_it_out(tmp_path):
    """A .pt can hold a view (stride 0) of a few stored bytes as a huge tensor: its values are checked as
    stored (a 100,000 x 100,000 view cost 9.3 GB when checked as shown)."""
    import tracemalloc

    parts, _, _ = read_checkpoint(open(FIXTURES / "six-level" / "SwinEncoder__best.pt", "rb").read())
    sd = {**parts["encoder"], "extra": torch.full((1,), float("nan")).expand(10_000, 10_000)}
    p = tmp_path / "view.pt"
    torch.save({"model_state_dict": sd}, p)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=r"not finite numbers .* first extra"):
            read_checkpoint(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000  # the file's bytes and weights: ~7 MB; the view as shown would add 100 MB of flags


def test_weights_of_no_known_model_are_refused_naming_the_file_and_some_weights(tmp_path):
    p = tmp_path / "other.pt"
    torch.save({"model_state_dict": {"conv1.weight": torch.zeros(2), "fc.bias": torch.zeros(2)}}, p)
    with pytest.raises(CheckpointError) as e:
        load_model(p)
    assert str(e.value) == ("The weights in other.pt belong to no model this app knows: none is named as an "
                            "encoder's (patch_embed.*) or a decoder's (upsamples.*, head.*, blocks.*), e.g. "
                            "conv1.weight, fc.bias.")


@needs_fixtures()
def test_an_original_encoder_missing_one_weight_is_refused_naming_it(tmp_path):
    obj = torch.load(FIXTURES / "six-level" / "SwinEncoder__best.pt", weights_only=False)  # the fixture: trusted
    obj["model_state_dict"].pop("patch_embed.weight")
    torch.save(obj, tmp_path / "enc.pt")
    with pytest.raises(CheckpointError, match=r"^The encoder weights in enc\.pt do not fit .*: 1 missing key, e\.g\. "
                                              r"patch_embed\.weight\.$"):
        load_model(tmp_path / "enc.pt")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_would_run_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "evil.pt"
    torch.save({"model_state_dict": {"patch_embed.weight": torch.zeros(1)}, "config": _Payload(marker)}, p)
    with pytest.raises(CheckpointError, match="Refused to load evil.pt") as e:
        load_model(p)
    assert "system" in str(e.value)
    assert not marker.exists()


def test_state_dict_of_the_wrong_shape_names_keys_and_shapes(tmp_path, small_models):
    enc, _ = small_models
    p = save_checkpoint(tmp_path / "m.safetensors", enc, None, {**DEFAULT_CONFIG, "embed_dim": 16})
    with pytest.raises(CheckpointError) as e:
        load_model(p)
    msg = str(e.value)
    assert "patch_embed.weight (8, 1, 4, 4) vs (16, 1, 4, 4)" in msg
    assert "\n" not in msg


@needs_fixtures()
def test_decoder_from_another_family_is_refused_with_the_mismatch(tmp_path):
    with pytest.raises(CheckpointError) as e:
        load_model(FIXTURES / "six-level" / "SwinEncoder__best.pt",
                   decoder=FIXTURES / "seven-level" / "SwinDecoder__best.pt")
    assert str(e.value).startswith("The decoder weights in SwinDecoder__best.pt are for a model of 7 levels and the "
                                   "encoder has 6: use the decoder saved with this encoder (4 shape mismatches")


@pytest.mark.parametrize("content,expected", [
    (b"", "is empty"),
    (b"hello, this is text and not a checkpoint", "neither a safetensors"),
    (b"PK\x03\x04" + b"\x00" * 100, "not a readable PyTorch checkpoint"),
])
def test_junk_files_get_one_sentence(tmp_path, content, expected):
    p = tmp_path / "junk.pt"
    p.write_bytes(content)
    with pytest.raises(CheckpointError, match=expected) as e:
        load_model(p)
    assert str(e.value).endswith(".") and "\n" not in str(e.value)


def test_truncated_safetensors_is_refused(tmp_path, small_models):
    p = save_checkpoint(tmp_path / "m.safetensors", small_models[0], None, DEFAULT_CONFIG)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(p.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="damaged or cut off"):
        load_model(cut)


def test_missing_file_is_named():
    with pytest.raises(CheckpointError, match="There is no checkpoint file at"):
        load_model("/nonexistent/model.safetensors")


def test_a_training_runs_folder_given_as_the_checkpoint_names_the_checkpoint_in_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.safetensors").write_bytes(b"")
    (run / "last.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError) as e:
        load_model(run)
    assert str(e.value) == f"{run} is a folder, not a checkpoint file (a training run's: give {run / 'best.safetensors'})."


def test_a_folder_or_a_pipe_is_named_for_what_it_is(tmp_path):
    from midi_rae.checkpoint_meta import peek_config

    (tmp_path / "run.pt").mkdir()
    os.mkfifo(tmp_path / "pipe.safetensors")  # would block a reader forever
    for read in (load_model, peek_config):  # the page reads the header first
        with pytest.raises(CheckpointError) as e:
            read(tmp_path / "run.pt")
        assert str(e.value) == f"{tmp_path / 'run.pt'} is a folder, not a checkpoint file."
        with pytest.raises(CheckpointError) as e:
            read(tmp_path / "pipe.safetensors")
        assert str(e.value) == f"{tmp_path / 'pipe.safetensors'} is not a regular file, so it was not read as a checkpoint."


# ---------------------------------------------------------------- reading a header without torch

def test_header_gives_config_and_meta_without_torch(tmp_path, small_models):
    enc, dec = small_models
    p = save_checkpoint(tmp_path / "m.safetensors", enc, dec, {**DEFAULT_CONFIG, "steps_per_beat": 8},
                        {"step": 7, "threshold": 0.4})
    out = run_without_torch("from midi_rae.checkpoint_meta import peek_config\n"
                         f"cfg, meta = peek_config({str(p)!r})\n"
                         "print(cfg['steps_per_beat'], cfg['depths'], meta['step'], meta['threshold'])")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["8", "[1,", "2,", "2,", "6,", "2,", "1]", "7", "0.4"]


def test_header_of_uploaded_bytes_matches_the_loaded_model(tmp_path, small_models):
    from midi_rae.checkpoint_meta import peek_config

    enc, dec = small_models
    p = save_checkpoint(tmp_path / "m.safetensors", enc, dec, {**DEFAULT_CONFIG, "empty_mask_ratio": 0.1})
    cfg, _ = peek_config(p.read_bytes())
    b = load_model(p)
    assert {k: cfg[k] for k in ("depths", "embed_dim", "empty_mask_ratio", "steps_per_beat")} == \
        {k: b.config[k] for k in ("depths", "embed_dim", "empty_mask_ratio", "steps_per_beat")}


def test_damaged_header_is_refused_in_one_sentence():
    from midi_rae.checkpoint_meta import peek_config

    with pytest.raises(CheckpointError, match=r"^The uploaded checkpoint looks like a safetensors file but is "
                                              r"damaged or cut off\.$"):
        peek_config(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")


@needs_fixtures()
def test_original_format_header_is_unknown_until_loaded():
    from midi_rae.checkpoint_meta import peek_config

    assert peek_config(FIXTURES / "six-level" / "SwinEncoder__best.pt") == ({}, {})


# ---------------------------------------------------------------- bounds (issue 11; the hostile files are in test_hostile)

def test_the_memory_limit_is_set_by_whoever_runs_the_server(monkeypatch, tmp_path, small_models):
    from midi_rae.checkpoint import model_footprint
    from midi_rae.config import DEFAULT

    p = save_checkpoint(tmp_path / "m.safetensors", *small_models, DEFAULT_CONFIG)
    params, nbytes = model_footprint(DEFAULT, "swin")
    assert params == sum(t.numel() for m in small_models for t in m.parameters())
    assert 11 * 2 ** 20 < nbytes < 20 * 2 ** 20  # ~10.6 MB of weights, plus buffers and a window's activations
    monkeypatch.setenv("MIDI_RAE_MAX_MODEL_MB", "8")  # less than the weights in the file: refused unread
    with pytest.raises(CheckpointError, match=r"^m\.safetensors holds 11 MB of weights; this server loads models of "
                                              r"up to 8 MB \(set MIDI_RAE_MAX_MODEL_MB to change it\)\.$"):
        load_model(p)
    monkeypatch.setenv("MIDI_RAE_MAX_MODEL_MB", "11.5")  # the weights fit, the model they need does not
    with pytest.raises(CheckpointError, match=r"^m\.safetensors describes a model of [\d,]+ parameters needing "
                                              r"about \d+ MB, more than this server's limit of 11\.5 MB \(set "
                                              r"MIDI_RAE_MAX_MODEL_MB to change it\)\.$"):
        load_model(p)
    monkeypatch.setenv("MIDI_RAE_MAX_MODEL_MB", "64")
    assert load_model(p).decoder is not None


def test_encoder_weights_under_another_prefix_are_named_rather_than_called_decoder_only(tmp_path, small_models):
    import json

    from safetensors.torch import load_file, save_file

    p = save_checkpoint(tmp_path / "m.safetensors", *small_models, DEFAULT_CONFIG)
    tensors = {("enc." + k[len("encoder."):] if k.startswith("encoder.") else k): v for k, v in load_file(p).items()}
    renamed = tmp_path / "renamed.safetensors"
    save_file(tensors, renamed, metadata={"config": json.dumps(DEFAULT_CONFIG)})
    n = sum(k.startswith("enc.") for k in tensors)
    with pytest.raises(CheckpointError, match=rf"^renamed\.safetensors names no encoder weights \(encoder\.\*\): "
                                              rf"beside its decoder\.\* weights it holds {n} tensors named "
                                              rf"otherwise, e\.g\. enc\.empty_token\.$"):
        load_model(renamed)


def test_a_models_computation_per_window_is_estimated_from_its_configuration_alone():
    from torch.utils.flop_counter import FlopCounterMode

    from midi_rae.checkpoint import build_models, window_flops
    from midi_rae.config import DEFAULT

    enc, dec = build_models(DEFAULT, "swin")
    x = (torch.rand(16, 1, 128, 128) > 0.9).float()
    with torch.no_grad(), FlopCounterMode(display=False) as counted:
        dec(enc(x))
    assert window_flops(DEFAULT, "swin") == pytest.approx(counted.get_total_flops() / 16, rel=0.02)


def test_the_computation_limit_is_set_by_whoever_runs_the_server(monkeypatch, tmp_path, small_models):
    p = save_checkpoint(tmp_path / "m.safetensors", *small_models, DEFAULT_CONFIG)
    monkeypatch.setenv("MIDI_RAE_MAX_GFLOPS", "0.05")  # the default model needs 0.056 billion a window
    with pytest.raises(CheckpointError, match=r"^m\.safetensors describes a model needing about 0\.056 billion "
                                              r"operations for each window \(the shipped model: 0\.056 billion\), "
                                              r"more than this server's limit of 0\.05 billion \(set "
                                              r"MIDI_RAE_MAX_GFLOPS to change it\)\.$"):
        load_model(p)
    monkeypatch.setenv("MIDI_RAE_MAX_GFLOPS", "0.06")
    assert load_model(p).decoder is not None


def test_a_file_past_the_size_limit_is_refused_unread(monkeypatch, tmp_path):
    p = tmp_path / "huge.safetensors"
    with open(p, "wb") as f:
        f.truncate(3 * 2 ** 30)  # sparse: 3 GB that take no disk
    with pytest.raises(CheckpointError, match=r"^huge\.safetensors is 3,072 MB; this server takes checkpoints of "
                                              r"up to \d+ MB \(set MIDI_RAE_MAX_MODEL_MB to change it\)\.$"):
        load_model(p)


@pytest.mark.parametrize("kind", ["swin", "mae"])
def test_models_loaded_through_the_meta_device_match_ones_built_and_filled(tmp_path, kind):
    from midi_rae.config import SEVEN_LEVEL

    torch.manual_seed(1)
    enc, dec = build_models(SEVEN_LEVEL, kind)
    b = load_model(save_checkpoint(tmp_path / "m.safetensors", enc, dec, SEVEN_LEVEL))
    assert b.model_config.decoder_type == kind and b.model_config.num_levels == 7
    x = (torch.rand(2, 1, 128, 128) > 0.9).float()
    mask = torch.rand(2, 64 * 64) > 0.5
    enc.eval(), dec.eval()
    with torch.no_grad():
        for got, want in zip(b.encoder(x, mae_mask=mask).patches.levels, enc(x, mae_mask=mask).patches.levels):
            assert torch.equal(got.emb, want.emb)
        assert torch.equal(b.decoder(b.encoder(x, mae_mask=mask)), dec(enc(x, mae_mask=mask)))
    assert all(not t.is_meta for t in list(b.encoder.buffers()) + list(b.decoder.buffers()))


def test_refusals_of_uploads_read_as_sentences(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"model_state_dict": {"patch_embed.weight": torch.zeros(1)}, "config": _Payload(tmp_path / "x")},
               evil)
    with pytest.raises(CheckpointError, match=r"^Refused to load the uploaded checkpoint: its pickle asks"):
        load_model(evil.read_bytes())
    with pytest.raises(CheckpointError, match=r"^The uploaded checkpoint is empty\.$"):
        load_model(b"")


def test_steps_per_beat_out_of_training_s_range_is_refused(tmp_path, small_models):
    p = save_checkpoint(tmp_path / "m.safetensors", small_models[0], None, {**DEFAULT_CONFIG, "steps_per_beat": 10 ** 9})
    with pytest.raises(CheckpointError, match=r"steps_per_beat is 1,000,000,000, outside the allowed range 1\.\.48\.$"):
        load_model(p)
    from midi_rae.checkpoint_meta import peek_config

    with pytest.raises(CheckpointError, match="steps_per_beat"):
        peek_config(p)


# ---------------------------------------------------------------- what the original code may write in its config


def _original_cfg(**model) -> dict:
    return {"data": {"path": "/data/rolls", "image_size": 128, "in_channels": 1},
            "model": {"encoder": "swin", "patch_h": 4, "patch_w": 4, "embed_dim": 8, "depths": [1, 2, 2, 6, 2, 1],
                      "num_heads": [1, 1, 2, 4, 8, 16], "window_size": 8, "mlp_ratio": 4.0, "drop_path_rate": 0.1,
                      "dec_depths": [1, 2, 2, 6, 2, 1], **model},
            "training": {"batch_size": 32, "mask_ratio": 0.5, "empty_mask_ratio": 0.05}}


def _save_original(path, module, cfg: dict, **entries):
    """A checkpoint as the original training code saves one: dict(cfg) of an OmegaConf config, pickled."""
    omegaconf = pytest.importorskip("omegaconf")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 25, "model_state_dict": module.state_dict(), "config": dict(omegaconf.OmegaConf.create(cfg)),
                "val_loss": 0.5, **entries}, path)
    return path


def test_an_original_config_with_interpolations_is_read_as_omegaconf_resolves_it(tmp_path, small_models):
    cfg = _original_cfg(patch_w="${model.patch_h}", window_size="${.patch_h}")
    cfg["training"]["empty_mask_ratio"] = "${training.mask_ratio}"
    b = load_model(_save_original(tmp_path / "SwinEncoder__best.pt", small_models[0], cfg))
    assert (b.config["patch_w"], b.config["window_size"], b.config["empty_mask_ratio"]) == (4, 4, 0.5)


def test_an_original_config_interpolating_through_a_resolver_names_the_text_it_could_not_read(tmp_path,
                                                                                               small_models):
    p = _save_original(tmp_path / "SwinEncoder__best.pt", small_models[0], _original_cfg(patch_w="${oc.env:PW}"))
    with pytest.raises(CheckpointError, match=r"^SwinEncoder__best\.pt has an unusable configuration: patch_w must "
                                              r"be a whole number, not '\$\{oc\.env:PW\}'\.$"):
        load_model(p)


def test_an_original_config_holding_a_long_list_loads(tmp_path, small_models):
    """OmegaConf's nodes point back to their parents: a 10,000-entry list of training files counted as millions of
    values when every reference was followed."""
    cfg = _original_cfg()
    cfg["data"]["files"] = [f"piece_{i:05d}.png" for i in range(10_000)]
    assert load_model(_save_original(tmp_path / "SwinEncoder__best.pt", small_models[0], cfg)).num_levels == 6


def test_an_original_config_nested_deeper_than_any_config_is_refused_for_its_nesting(tmp_path, small_models):
    deep: dict = {"leaf": 1}
    for _ in range(100):
        deep = {"a": deep}
    p = tmp_path / "deep.pt"
    torch.save({"epoch": 1, "model_state_dict": small_models[0].state_dict(), "config": deep}, p)
    with pytest.raises(CheckpointError, match=r"^deep\.pt has an unusable configuration: it nests deeper than 32 "
                                              r"levels\.$"):
        load_model(p)


@pytest.mark.parametrize("epoch, val_loss", [(np.int64(7), np.float64(0.25)), (torch.tensor(7), torch.tensor(0.25))],
                         ids=["numpy scalars", "one-value tensors"])
def test_an_epoch_and_loss_saved_as_numpy_scalars_or_tensors_are_read_as_numbers(tmp_path, small_models, epoch,
                                                                                 val_loss):
    p = _save_original(tmp_path / "SwinEncoder__best.pt", small_models[0], _original_cfg(), epoch=epoch,
                       val_loss=val_loss)
    assert load_model(p).meta == {"epoch": 7, "val_loss": 0.25}


class _ObjectScalar:
    """Pickles as numpy's scalar() of the object dtype, whose bytes numpy would take for an object's address."""

    def __reduce__(self):
        return np.float64(0).__reduce__()[0], (np.dtype("O"), b"\x00" * 8)  # numpy's own scalar()


def test_a_numpy_scalar_of_another_than_a_numeric_type_is_never_built(tmp_path, small_models):
    p = tmp_path / "obj.pt"
    torch.save({"model_state_dict": small_models[0].state_dict(), "epoch": _ObjectScalar()}, p)
    assert load_model(p).meta == {}


def test_a_decoder_from_a_run_with_other_attention_windows_is_refused(tmp_path):
    torch.manual_seed(0)
    enc, _ = build_models({**DEFAULT_CONFIG, "window_size": 8}, None)
    _, dec = build_models({**DEFAULT_CONFIG, "window_size": 4}, "swin")
    e = _save_original(tmp_path / "a" / "SwinEncoder__best.pt", enc, _original_cfg(window_size=8))
    d = _save_original(tmp_path / "b" / "SwinDecoder__best.pt", dec, _original_cfg(window_size=4))
    with pytest.raises(CheckpointError, match=r"^SwinDecoder__best\.pt was trained with attention windows of 4, the "
                                              r"encoder in SwinEncoder__best\.pt with 8: they come from different "
                                              r"runs; load the decoder saved beside this encoder\.$"):
        load_model(e, decoder=d)


def test_a_sparse_weight_is_refused_in_one_sentence_without_torchs_warning(tmp_path, small_models):
    import warnings

    sd = dict(small_models[0].state_dict())
    key = next(iter(sd))
    sd[key] = sd[key].to_sparse()
    p = tmp_path / "sparse.pt"
    torch.save({"model_state_dict": sd}, p)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning left to print would be raised here instead of the refusal
        with pytest.raises(CheckpointError, match=r"^sparse\.pt stores the weight .* in a form a checkpoint never "
                                                  r"uses \(sparse, quantized, complex or on another device\)\.$"):
            load_model(p)

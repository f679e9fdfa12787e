"""The typed model config: defaults, derived geometry, validation, and its place in checkpoints."""
import dataclasses
import re

import pytest

from conftest import FIXTURES, needs_fixtures, run_without_torch
from midi_rae.config import DEFAULT, LIMITS, SEVEN_LEVEL, CheckpointError, ModelConfig, nesting_depth


def one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and re.search(r"(?<!e\.g)[.!?]\s", message) is None


def test_defaults_are_the_spec_s():
    assert DEFAULT == ModelConfig() == ModelConfig.DEFAULT
    assert (DEFAULT.img_height, DEFAULT.img_width, DEFAULT.patch_h, DEFAULT.patch_w, DEFAULT.in_chans) == \
        (128, 128, 4, 4, 1)
    assert (DEFAULT.embed_dim, DEFAULT.depths, DEFAULT.num_heads, DEFAULT.window_size, DEFAULT.mlp_ratio) == \
        (8, (1, 2, 2, 6, 2, 1), (1, 1, 2, 4, 8, 16), 8, 4.0)
    assert (DEFAULT.empty_mask_ratio, DEFAULT.drop_path_rate, DEFAULT.steps_per_beat) == (0.05, 0.1, 4)
    assert SEVEN_LEVEL is ModelConfig.SEVEN_LEVEL and SEVEN_LEVEL.num_levels == 7


def test_every_field_is_documented_once_in_the_class_docstring():
    doc = ModelConfig.__doc__
    for f in dataclasses.fields(ModelConfig):
        assert doc.count(f"        {f.name}:") == 1, f.name


def test_level_grids_patch_extents_and_dims_at_the_default():
    assert DEFAULT.level_grids == [(1, 1), (2, 2), (4, 4), (8, 8), (16, 16), (32, 32)]
    assert DEFAULT.level_dims == [256, 128, 64, 32, 16, 8]
    assert DEFAULT.window_steps == 128
    # level 0 the whole 8-bar window, level 3 one bar x 16 semitones, level 5 one beat x 4 semitones
    assert [DEFAULT.patch_extent(k) for k in (0, 3, 5)] == [(128, 128), (16, 16), (4, 4)]
    assert SEVEN_LEVEL.level_grids[-1] == (64, 64) and SEVEN_LEVEL.patch_extent(6) == (2, 2)


def test_patch_extent_follows_the_image_width_not_128():
    wide = ModelConfig.from_dict({"img_width": 256, "patch_w": 8})  # 32 x 32 patches of 4 pitches x 8 steps
    assert wide.level_grids[-1] == (32, 32)
    assert wide.patch_extent(5) == (8, 4) and wide.patch_extent(0) == (256, 128)
    assert wide.window_steps == 256
    with pytest.raises(IndexError):
        wide.patch_extent(6)


def test_round_trip_through_a_dict_and_defaults_for_missing_fields():
    assert ModelConfig.from_dict(SEVEN_LEVEL.to_dict()) == SEVEN_LEVEL
    d = DEFAULT.to_dict()
    assert d["depths"] == [1, 2, 2, 6, 2, 1] and isinstance(d["num_heads"], list)
    assert ModelConfig.from_dict({}) == DEFAULT
    assert ModelConfig.from_dict({"depths": [1, 2, 2, 6, 2, 1], "dec_depths": None, "unknown": 3}).dec_depths == \
        DEFAULT.depths


def test_the_config_is_frozen_and_hashable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.embed_dim = 16
    assert hash(DEFAULT) == hash(ModelConfig.from_dict(DEFAULT.to_dict()))
    assert DEFAULT.replace(embed_dim=16).embed_dim == 16
    with pytest.raises(CheckpointError):
        DEFAULT.replace(embed_dim=0)


def test_the_old_dict_names_are_views_of_the_typed_configs():
    from midi_rae.checkpoint import DEFAULT_CONFIG, SEVEN_LEVEL_CONFIG
    from midi_rae.checkpoint_meta import DEFAULT_CONFIG as META_DEFAULT

    assert DEFAULT_CONFIG == META_DEFAULT == DEFAULT.to_dict()
    assert SEVEN_LEVEL_CONFIG == SEVEN_LEVEL.to_dict()


def test_kwargs_build_models_with_the_derived_geometry():
    from midi_rae.checkpoint import encoder_kwargs
    from midi_rae.swin import SwinDecoder, SwinEncoder, SwinMAEDecoder

    enc = SwinEncoder(**SEVEN_LEVEL.encoder_kwargs())
    assert enc.num_stages == SEVEN_LEVEL.num_levels and enc.grid_size == SEVEN_LEVEL.level_grids[-1]
    assert encoder_kwargs(SEVEN_LEVEL.to_dict()) == SEVEN_LEVEL.encoder_kwargs()
    assert len(SwinDecoder(**SEVEN_LEVEL.decoder_kwargs()).laterals) == 7
    assert [lat.in_features for lat in SwinMAEDecoder(**DEFAULT.mae_decoder_kwargs()).laterals] == DEFAULT.level_dims


def test_the_config_reads_without_torch():
    out = run_without_torch("from midi_rae.config import ModelConfig, DEFAULT\n"
                            "c = ModelConfig.from_dict({'embed_dim': 16})\n"
                            "print(c.level_grids[2], c.patch_extent(2), c.level_dims[0])")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["(4,", "4)", "(32,", "32)", "512"]


@pytest.mark.parametrize("change, field, why", [
    ({"embed_dim": "8"}, "embed_dim", "must be a whole number, not '8'"),
    ({"embed_dim": True}, "embed_dim", "must be a whole number, not True"),
    ({"embed_dim": 4096}, "embed_dim", "is 4,096, outside the allowed range 1..1,024"),
    ({"depths": 6}, "depths", "must be a list of whole numbers, one per level, not 6"),
    ({"depths": [1, 100_000, 2, 6, 2, 1]}, "depths[1]", "is 100,000, outside the allowed range 0..24"),
    ({"depths": [24, 24, 24, 24, 24, 24]}, "depths", "asks for 144 blocks in all, more than the limit of 64"),
    ({"num_heads": [1, 1, 2]}, "num_heads", "has 3 entries but depths has 6; each needs one per level"),
    ({"num_heads": [3, 1, 2, 4, 8, 16]}, "num_heads[0]", "(3) does not divide that stage's dimension (8)"),
    ({"patch_h": 0}, "patch_h", "is 0, outside the allowed range 1..128"),
    ({"patch_w": 3}, "patch_w", "(3) does not divide img_width (128)"),
    ({"mlp_ratio": float("nan")}, "mlp_ratio", "must be a finite number, not nan"),
    ({"mlp_ratio": 1e6}, "mlp_ratio", "is 1e+06, outside the allowed range (0, 16]"),
    ({"steps_per_beat": 10 ** 9}, "steps_per_beat", "is 1,000,000,000, outside the allowed range 1..48"),
    ({"decoder_type": "evil"}, "decoder_type", "must be 'swin', 'mae' or null, not 'evil'"),
    ({"img_width": 256}, "depths", "has 6 levels, but a 32x64 patch grid needs a square grid of 2^(levels-1) "
                                   "patches a side to halve down to 1x1"),
])
def test_refusals_name_the_file_and_the_field_in_one_sentence(change, field, why):
    with pytest.raises(CheckpointError) as e:
        ModelConfig.from_dict({**DEFAULT.to_dict(), **change}, "m.safetensors")
    assert str(e.value) == f"m.safetensors has an unusable configuration: {field} {why}."
    assert one_sentence(str(e.value))


@pytest.mark.parametrize("value, what", [([1, 2], "a list"), ("hello", "text"), (5, "a number"),
                                         (None, "empty (null)")])
def test_a_config_that_is_not_a_mapping_is_refused(value, what):
    with pytest.raises(CheckpointError, match=rf"^The uploaded checkpoint has an unusable configuration: it is "
                                              rf"{re.escape(what)}, not a set of named fields\.$"):
        ModelConfig.from_dict(value, "the uploaded checkpoint")


def test_nesting_is_counted_without_recursion():
    deep: list = []
    for _ in range(200_000):
        deep = [deep]
    assert nesting_depth(deep, 8) == 9  # stops counting past the limit
    with pytest.raises(CheckpointError, match="nests deeper than 8 levels"):
        ModelConfig.from_dict({"x": deep}, "m.safetensors")


def test_limits_cover_every_bounded_field():
    for k in ("img_height", "img_width", "embed_dim", "depth", "blocks", "num_heads", "window_size", "mlp_ratio",
              "steps_per_beat"):
        assert k in LIMITS


def test_load_model_gives_a_dict_config_and_the_typed_one(tmp_path):
    import torch

    from midi_rae.checkpoint import build_models, load_model, save_checkpoint

    torch.manual_seed(0)
    enc, dec = build_models(SEVEN_LEVEL, "swin")
    b = load_model(save_checkpoint(tmp_path / "m.safetensors", enc, dec, SEVEN_LEVEL.replace(steps_per_beat=8)))
    assert isinstance(b.config, dict) and b.config["steps_per_beat"] == 8
    assert b.model_config == SEVEN_LEVEL.replace(steps_per_beat=8)
    assert b.model_config.to_dict() == b.config


@needs_fixtures()
def test_the_original_format_is_read_into_a_model_config():
    from midi_rae.checkpoint import load_model

    b = load_model(FIXTURES / "six-level" / "SwinEncoder__best.pt", decoder=FIXTURES / "six-level" /
                   "SwinDecoder__best.pt")
    mc = b.model_config
    assert mc.source_format == "original" and mc.steps_per_beat is None
    assert mc.depths == (1, 2, 2, 6, 2, 1) and mc.dec_depths == (2, 3, 3, 6, 2, 1) and mc.decoder_type == "swin"
    assert mc.level_grids[-1] == (32, 32)

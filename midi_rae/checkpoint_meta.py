"""What a checkpoint file says about itself, read without torch: the format's constants, its errors,
and the configuration and metadata in a safetensors header.

The dashboard uses this to lay out its controls (steps per beat, threshold) and draw the piece
while torch and the model are still loading.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Optional

__all__ = ["CheckpointError", "FORMAT", "ASSETS", "DEFAULT_CHECKPOINT", "MAX_CHECKPOINT_BYTES", "DEFAULT_CONFIG",
           "SEVEN_LEVEL_CONFIG", "is_safetensors", "header_config", "peek_config"]

FORMAT = "midi-rae/1"
ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEFAULT_CHECKPOINT = ASSETS / "default.safetensors"
MAX_CHECKPOINT_BYTES = 2 * 1024 ** 3
_MAX_HEADER_BYTES = 100 * 1024 ** 2

# the architecture fields a config must have, with the spec's defaults
DEFAULT_CONFIG: dict[str, Any] = {
    "img_height": 128, "img_width": 128, "patch_h": 4, "patch_w": 4, "in_chans": 1, "embed_dim": 8,
    "depths": [1, 2, 2, 6, 2, 1], "num_heads": [1, 1, 2, 4, 8, 16], "window_size": 8, "mlp_ratio": 4.0,
    "dec_depths": [1, 2, 2, 6, 2, 1], "empty_mask_ratio": 0.05, "steps_per_beat": 4, "decoder_type": "swin",
}
SEVEN_LEVEL_CONFIG: dict[str, Any] = {
    **DEFAULT_CONFIG, "patch_h": 2, "patch_w": 2, "embed_dim": 4, "depths": [1, 1, 2, 2, 6, 2, 1],
    "num_heads": [1, 1, 1, 2, 4, 8, 16], "dec_depths": [1, 1, 2, 2, 6, 2, 1],
}


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with one sentence saying why."""


def is_safetensors(data: bytes) -> bool:
    """Does `data` start like a safetensors file (a cut-off one included)?"""
    if len(data) < 10:
        return False
    n = struct.unpack("<Q", data[:8])[0]
    return 0 < n < _MAX_HEADER_BYTES and data[8:9] == b"{"


def header_config(data: bytes, name: str) -> tuple[dict, dict, dict]:
    """(header, config, meta) of safetensors bytes (at least the whole header); config as stored, not completed."""
    try:
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        raise CheckpointError(f"{name} looks like a safetensors file but is damaged or cut off.") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{name} looks like a safetensors file but is damaged or cut off.")
    meta = header.get("__metadata__") or {}
    try:
        cfg = json.loads(meta.get("config", "{}"))
        info = json.loads(meta.get("meta", "{}"))
    except (json.JSONDecodeError, AttributeError) as e:
        raise CheckpointError(f"{name} has a damaged configuration block.") from e
    return header, cfg, info


def peek_config(src: str | Path | bytes | None, name: Optional[str] = None) -> tuple[dict, dict]:
    """(config, meta) as a checkpoint declares them, reading only its header; src=None is the shipped default.

    Safetensors checkpoints get the spec's defaults for missing fields, like load_model gives them.
    Original-format .pt files hold their configuration inside a pickle that only the torch loader
    may open, so they give ({}, {}): unknown until the model is loaded. Raises CheckpointError for a
    damaged safetensors header.
    """
    src = DEFAULT_CHECKPOINT if src is None else src
    if isinstance(src, (bytes, bytearray)):
        data = bytes(src)
    else:
        p = Path(src)
        if not p.is_file():
            raise CheckpointError(f"There is no checkpoint file at {p}.")
        with open(p, "rb") as f:  # the header only: a checkpoint may be gigabytes
            data = f.read(10)
            if is_safetensors(data):
                data += f.read(struct.unpack("<Q", data[:8])[0] - 2)
    name = name or (Path(src).name if not isinstance(src, (bytes, bytearray)) else "The uploaded checkpoint")
    if not is_safetensors(data):
        return {}, {}
    _, cfg, meta = header_config(data, name)
    return {**DEFAULT_CONFIG, **cfg}, meta

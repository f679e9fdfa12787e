"""What a checkpoint file says about itself, read without torch: the format's constants and limits, its
errors, and the configuration, metadata and tensor table in a safetensors header.

The dashboard uses this to lay out its controls (steps per beat, threshold) and draw the piece
while torch and the model are still loading. Everything read here is checked (types, ranges,
nesting depth, sizes) before it is used, so a hostile header costs little and ends in one
`CheckpointError` sentence.
"""
from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path
from typing import Any, Optional

from .config import (DEFAULT, FORMAT, ORIGINAL_FORMAT, SEVEN_LEVEL, CheckpointError,  # noqa: F401 (re-exported)
                     ModelConfig, nesting_depth, short_repr)

__all__ = ["CheckpointError", "FORMAT", "ASSETS", "DEFAULT_CHECKPOINT", "MAX_CHECKPOINT_BYTES", "DEFAULT_CONFIG",
           "SEVEN_LEVEL_CONFIG", "MAX_TENSORS", "MAX_HEADER_BYTES", "MAX_MODEL_MB_ENV", "max_model_bytes",
           "MAX_GFLOPS_ENV", "max_window_gflops",
           "is_safetensors", "header_config", "tensor_table", "check_meta", "peek_config", "peek_model_config",
           "display_name", "sentence_start", "megabytes"]

# installed: midi_rae/assets (pyproject maps the package midi_rae.assets to the top-level assets/);
# a checkout or an editable install: assets/ beside the package
_PACKAGE = Path(__file__).resolve().parent
ASSETS = _PACKAGE / "assets" if (_PACKAGE / "assets").is_dir() else _PACKAGE.parent / "assets"
DEFAULT_CHECKPOINT = ASSETS / "default.safetensors"
MAX_CHECKPOINT_BYTES = 2 * 1024 ** 3  # no file past this is even opened; the model-memory limit is tighter
_SNIFF_HEADER_BYTES = 100 * 1024 ** 2  # a header length past this means "not safetensors at all"
MAX_HEADER_BYTES = 8 * 1024 ** 2  # a real header is ~50 KB; JSON past this is refused unread
MAX_TENSORS = 20_000  # the largest configuration LIMITS allow has ~3,000 tensors
MAX_META_DEPTH = 16
MAX_MODEL_MB_ENV = "MIDI_RAE_MAX_MODEL_MB"
DEFAULT_MAX_MODEL_MB = 128
MAX_GFLOPS_ENV = "MIDI_RAE_MAX_GFLOPS"
# billions of operations for one window through encoder and decoder: the shipped model needs 0.056, the original
# seven-level encoder with its MAE decoder 9.4 (0.4 s a window on this project's 2-core machine), the heaviest
# model the configuration's ranges allow within the memory limit over a thousand (minutes a window)
DEFAULT_MAX_GFLOPS = 16.0

# the architecture fields of a config, with the spec's defaults (dict views of the typed configs)
DEFAULT_CONFIG: dict[str, Any] = DEFAULT.to_dict()
SEVEN_LEVEL_CONFIG: dict[str, Any] = SEVEN_LEVEL.to_dict()

_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1,
                "BOOL": 1, "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1}


def max_model_bytes() -> int:
    """The most memory one model may take (weights, buffers and one window's activations), in bytes.

    128 MB unless the person running the server sets the environment variable MIDI_RAE_MAX_MODEL_MB
    (in megabytes) before starting it; the shipped default model needs about 15 MB. Loading a model
    at the limit takes about twice the limit at its peak (the file's bytes and the weights).
    """
    raw = os.environ.get(MAX_MODEL_MB_ENV, "")
    try:
        mb = float(raw) if raw.strip() else DEFAULT_MAX_MODEL_MB
    except ValueError:
        mb = DEFAULT_MAX_MODEL_MB
    if not math.isfinite(mb) or mb <= 0:
        mb = DEFAULT_MAX_MODEL_MB
    return int(mb * 1024 ** 2)


def max_window_gflops() -> float:
    """The most computation one window may take through a model's encoder and decoder, in billions of operations:
    16 unless the person running the server sets MIDI_RAE_MAX_GFLOPS before starting it."""
    raw = os.environ.get(MAX_GFLOPS_ENV, "")
    try:
        value = float(raw) if raw.strip() else DEFAULT_MAX_GFLOPS
    except ValueError:
        value = DEFAULT_MAX_GFLOPS
    return value if math.isfinite(value) and value > 0 else DEFAULT_MAX_GFLOPS


def megabytes(value: int, limit: int) -> tuple[str, str]:
    """(value, limit) in MB for a message, each with just enough decimals that a value past the limit
    never reads as equal to it or below it (the check compares bytes)."""
    def text(x: float, decimals: int) -> str:
        return f"{x:,.{decimals}f}".rstrip("0").removesuffix(".") if decimals else f"{x:,.0f}"

    v, lim = value / 1024 ** 2, limit / 1024 ** 2
    lim_text = next((text(lim, d) for d in range(4) if abs(float(text(lim, d).replace(",", "")) - lim) < 1e-9),
                    text(lim, 3))
    for d in range(7):
        v_text = text(v, d)
        shown = float(v_text.replace(",", ""))
        if (value > limit) == (shown > float(lim_text.replace(",", ""))):
            return v_text, lim_text
    return text(v, 6), lim_text


def sentence_start(name: str) -> str:
    """A file name at the start of a sentence ('the uploaded checkpoint' -> 'The uploaded checkpoint')."""
    return name[:1].upper() + name[1:] if name.startswith("the ") else name


def display_name(src: Any, name: Optional[str] = None, what: str = "checkpoint") -> str:
    """How messages name a checkpoint: the given name, the file's name, or 'the uploaded checkpoint'."""
    if name:
        return name
    if isinstance(src, (bytes, bytearray, memoryview)):
        return f"the uploaded {what}"
    return Path(src).name


def is_safetensors(data: bytes) -> bool:
    """Does `data` start like a safetensors file (a cut-off one included)?"""
    if len(data) < 10:
        return False
    n = struct.unpack("<Q", data[:8])[0]
    return 0 < n < _SNIFF_HEADER_BYTES and data[8:9] == b"{"


def _json(text: Any, name: str, what: str) -> Any:
    """json.loads that turns every failure, deep nesting included, into one CheckpointError sentence."""
    try:
        return json.loads(text)
    except RecursionError as e:
        raise CheckpointError(f"{sentence_start(name)} has a {what} nested too deeply to read.") from e
    except (ValueError, TypeError, UnicodeDecodeError) as e:
        if what == "header":
            raise CheckpointError(f"{sentence_start(name)} looks like a safetensors file but is damaged or "
                                  f"cut off.") from e
        raise CheckpointError(f"{sentence_start(name)} has a damaged {what}.") from e


def check_meta(meta: Any, name: str) -> dict:
    """Training metadata, checked: a dict, not deeply nested, with a usable threshold and step if present."""
    if not isinstance(meta, dict):
        raise CheckpointError(f"{sentence_start(name)} has damaged metadata: it is {short_repr(meta)}, not a set "
                              f"of named fields.")
    if nesting_depth(meta, MAX_META_DEPTH) > MAX_META_DEPTH:
        raise CheckpointError(f"{sentence_start(name)} has metadata nested deeper than {MAX_META_DEPTH} levels.")
    thr = meta.get("threshold")
    if thr is not None and (not isinstance(thr, (int, float)) or isinstance(thr, bool) or not 0 <= thr <= 1):
        raise CheckpointError(f"{sentence_start(name)} has damaged metadata: its threshold must be a number "
                              f"from 0 to 1, not {short_repr(thr)}.")
    step = meta.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 0):
        raise CheckpointError(f"{sentence_start(name)} has damaged metadata: its step must be a whole number "
                              f"of at least 0, not {short_repr(step)}.")
    data = meta.get("data")
    if data is not None and not (isinstance(data, dict) and all(
            isinstance(v, list) and all(isinstance(n, str) for n in v)
            for k, v in data.items() if k.endswith("_names"))):
        raise CheckpointError(f"{sentence_start(name)} has damaged metadata: its data split must name its files "
                              f"in lists, not {short_repr(data)}.")
    return meta


def header_config(data: bytes, name: str) -> tuple[dict, Any, dict]:
    """(header, config, meta) of safetensors bytes (at least the whole header).

    The config is returned as stored (any JSON value; ModelConfig.from_dict checks it); the meta is
    checked. Raises CheckpointError for a damaged, oversized or deeply nested header.
    """
    try:
        n = struct.unpack("<Q", data[:8])[0]
    except struct.error as e:
        raise CheckpointError(f"{sentence_start(name)} looks like a safetensors file but is damaged or "
                              f"cut off.") from e
    if n > MAX_HEADER_BYTES:
        size, most = megabytes(n, MAX_HEADER_BYTES)
        raise CheckpointError(f"{sentence_start(name)} has a {size} MB header; the limit is {most} MB.")
    if len(data) < 8 + n:
        raise CheckpointError(f"{sentence_start(name)} looks like a safetensors file but is damaged or cut off.")
    header = _json(data[8:8 + n], name, "header")
    if not isinstance(header, dict):
        raise CheckpointError(f"{sentence_start(name)} looks like a safetensors file but is damaged or cut off.")
    if len(header) > MAX_TENSORS + 1:
        raise CheckpointError(f"{sentence_start(name)} holds {len(header) - 1:,} tensors; the limit is "
                              f"{MAX_TENSORS:,}.")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{sentence_start(name)} has a damaged metadata block (safetensors metadata "
                              f"holds only text).")
    cfg = _json(meta.get("config", "{}"), name, "configuration")
    info = check_meta(_json(meta.get("meta", "{}"), name, "metadata block"), name)
    return header, cfg, info


def _tensor_name(key: str) -> str:
    key = " ".join(str(key).split())
    return key if len(key) <= 80 else key[:79] + "…"


def tensor_table(header: dict, name: str) -> dict[str, tuple[str, tuple[int, ...], int]]:
    """{tensor name: (dtype, shape, bytes)} from a safetensors header, every entry checked."""
    out: dict[str, tuple[str, tuple[int, ...], int]] = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        ok = isinstance(entry, dict) and entry.get("dtype") in _DTYPE_BYTES
        shape = entry.get("shape") if ok else None
        offsets = entry.get("data_offsets") if ok else None
        ok = ok and isinstance(shape, list) and len(shape) <= 8 and all(
            isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2 ** 40 for s in shape)
        ok = ok and isinstance(offsets, list) and len(offsets) == 2 and all(
            isinstance(o, int) and not isinstance(o, bool) and 0 <= o for o in offsets)
        if not ok:
            raise CheckpointError(f"{sentence_start(name)} has a damaged entry for tensor {_tensor_name(key)} "
                                  f"in its header.")
        nbytes = math.prod(shape) * _DTYPE_BYTES[entry["dtype"]]
        if offsets[1] - offsets[0] != nbytes:
            raise CheckpointError(f"{sentence_start(name)} has a damaged entry for tensor {_tensor_name(key)}: "
                                  f"its shape and its size disagree.")
        out[key] = (entry["dtype"], tuple(shape), nbytes)
    return out


def no_file(p: Path) -> str:
    """Why a checkpoint path names no file to read, in one sentence."""
    if p.is_dir():
        inside = next((p / n for n in ("best.safetensors", "last.safetensors") if (p / n).is_file()), None)
        return f"{p} is a folder, not a checkpoint file" + (
            f" (a training run's: give {inside})." if inside is not None else ".")
    if os.path.lexists(p):  # a FIFO, a device, a link to nothing
        return f"{p} is not a regular file, so it was not read as a checkpoint."
    return f"There is no checkpoint file at {p}."


def _read_header_bytes(src: str | Path | bytes | None, name: Optional[str]) -> tuple[bytes, str]:
    src = DEFAULT_CHECKPOINT if src is None else src
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), display_name(src, name)
    p = Path(src)
    if not p.is_file():
        raise CheckpointError(no_file(p))
    with open(p, "rb") as f:  # the header only: a checkpoint may be gigabytes
        data = f.read(10)
        if is_safetensors(data):
            data += f.read(min(struct.unpack("<Q", data[:8])[0], MAX_HEADER_BYTES + 1) - 2)
    return data, display_name(src, name)


def peek_model_config(src: str | Path | bytes | None, name: Optional[str] = None
                      ) -> tuple[Optional[ModelConfig], dict]:
    """(ModelConfig, meta) as a checkpoint declares them, reading only its header; src=None is the default.

    Original-format .pt files hold their configuration inside a pickle that only the torch loader may
    open, so they give (None, {}): unknown until the model is loaded. Raises CheckpointError for a
    damaged or unusable safetensors header.
    """
    data, name = _read_header_bytes(src, name)
    if not is_safetensors(data):
        return None, {}
    _, cfg, meta = header_config(data, name)
    if isinstance(cfg, dict):
        cfg = {**cfg, "source_format": FORMAT}
    return ModelConfig.from_dict(cfg, name), meta


def peek_config(src: str | Path | bytes | None, name: Optional[str] = None) -> tuple[dict, dict]:
    """(config, meta) as a checkpoint declares them, reading only its header; src=None is the shipped default.

    Safetensors checkpoints get the spec's defaults for missing fields, like load_model gives them.
    Original-format .pt files hold their configuration inside a pickle that only the torch loader
    may open, so they give ({}, {}): unknown until the model is loaded. Raises CheckpointError for a
    damaged or unusable safetensors header.
    """
    cfg, meta = peek_model_config(src, name)
    return (cfg.to_dict() if cfg is not None else {}), meta

"""Safe checkpoint loading and saving: the project's safetensors format and the original midi-rae format.

Nothing here ever unpickles freely: safetensors holds no code, and the original format's pickles
go through torch's weights-only unpickler with stand-ins for the OmegaConf classes they name, so
a file that asks to run code is refused before anything runs.

A checkpoint may come from a stranger (the dashboard takes uploads), so everything it costs is
bounded before it is spent, and every refusal is one `CheckpointError` sentence:

- the file's size, a safetensors header's size and nesting, a .pt archive's member count, member
  sizes and compression (read from the zip directory before torch opens it), and the number of tensors;
- the configuration's types, ranges and nesting (`ModelConfig.from_dict`), before anything is built;
- the model's memory, measured on a skeleton built on torch's "meta" device (no memory), against
  `max_model_bytes()`: 128 MB unless whoever runs the server sets MIDI_RAE_MAX_MODEL_MB (megabytes);
- the model's computation per window, estimated from its configuration (`window_flops`), against
  `max_window_gflops()`: 16 billion operations unless whoever runs the server sets MIDI_RAE_MAX_GFLOPS;
- every tensor's name and shape against that skeleton, before the weights are read;
- the weights themselves: NaN or infinite values are refused.

Only then is the model allocated (empty) and filled with the file's weights.
"""
from __future__ import annotations

import collections
import io
import json
import math
import pickle
import pickletools
import re
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np
import torch
import torch.nn as nn

from .checkpoint_meta import (ASSETS, DEFAULT_CHECKPOINT, DEFAULT_CONFIG, FORMAT,  # noqa: F401 (re-exported)
                              MAX_CHECKPOINT_BYTES, MAX_GFLOPS_ENV, MAX_HEADER_BYTES, MAX_MODEL_MB_ENV,
                              MAX_TENSORS, SEVEN_LEVEL_CONFIG, CheckpointError, display_name, header_config,
                              is_safetensors, max_model_bytes, max_window_gflops, megabytes, no_file,
                              sentence_start, tensor_table)
from .config import DEFAULT, LIMITS, ORIGINAL_FORMAT, SEVEN_LEVEL, ModelConfig, short_repr  # noqa: F401
from .core import EncoderOutput
from .wording import counted
from .swin import SwinDecoder, SwinEncoder, SwinMAEDecoder
from .zip_end import zip_end

MAX_PICKLE_BYTES = 2 * 1024 ** 2  # data.pkl of an original-format .pt: ~50 KB for 260 tensors
_MAX_PICKLE_DEPTH = 32  # an OmegaConf config nests ~6 deep (sections, nodes, lists)
_MAX_CONFIG_NODES = 100_000  # the original code's configs hold a few hundred values
_MIB = 1024 ** 2


@dataclass
class ModelBundle:
    """What load_model returns: the encoder, an optional decoder, the config and training metadata.

    `config` is the plain dict (as stored in checkpoints); `model_config` the same as a typed ModelConfig,
    from which the level grids and patch extents come.
    """

    encoder: SwinEncoder
    decoder: Optional[nn.Module]
    config: dict
    meta: dict = field(default_factory=dict)
    source: str = ""
    model_config: ModelConfig = DEFAULT

    @property
    def num_levels(self) -> int:
        """Levels in the encoder's hierarchy."""
        return self.encoder.num_stages

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return next(self.encoder.parameters()).device

    def reconstruct(self, enc_out: EncoderOutput) -> torch.Tensor:
        """(B, 1, H, W) logits from either decoder kind."""
        if self.decoder is None:
            raise CheckpointError("This checkpoint has no decoder, so it cannot reconstruct.")
        out = self.decoder(enc_out)
        if isinstance(self.decoder, SwinMAEDecoder):  # (B, N, p*p) patches -> image
            gh, gw = self.encoder.grid_size
            ph, pw = self.encoder.patch_h, self.encoder.patch_w
            out = out.view(-1, gh, gw, ph, pw).permute(0, 1, 3, 2, 4).reshape(-1, 1, gh * ph, gw * pw)
        return out


# ---------------------------------------------------------------- configs and models


def as_model_config(cfg: dict | ModelConfig, name: str = "this model") -> ModelConfig:
    """A ModelConfig from either a ModelConfig or a (partial) config dict, validated."""
    if isinstance(cfg, ModelConfig):
        return cfg
    if not isinstance(cfg, dict):
        return ModelConfig.from_dict(cfg, name)  # refuses it in one sentence
    return ModelConfig.from_dict({**DEFAULT_CONFIG, **cfg}, name)


def encoder_kwargs(cfg: dict | ModelConfig) -> dict:
    """SwinEncoder keyword arguments from a config (see ModelConfig.encoder_kwargs)."""
    return as_model_config(cfg).encoder_kwargs()


def decoder_kwargs(cfg: dict | ModelConfig) -> dict:
    """SwinDecoder keyword arguments from a config (see ModelConfig.decoder_kwargs)."""
    return as_model_config(cfg).decoder_kwargs()


def mae_decoder_kwargs(cfg: dict | ModelConfig) -> dict:
    """SwinMAEDecoder keyword arguments from a config (see ModelConfig.mae_decoder_kwargs)."""
    return as_model_config(cfg).mae_decoder_kwargs()


def _construct(mc: ModelConfig, decoder_type: Optional[str]) -> tuple[SwinEncoder, Optional[nn.Module]]:
    if decoder_type not in ("swin", "mae", None):
        raise CheckpointError(f"Unknown decoder type {short_repr(decoder_type)}; use 'swin', 'mae' or None.")
    try:
        enc = SwinEncoder(**mc.encoder_kwargs())
        dec = (SwinDecoder(**mc.decoder_kwargs()) if decoder_type == "swin"
               else SwinMAEDecoder(**mc.mae_decoder_kwargs()) if decoder_type == "mae" else None)
    except CheckpointError:
        raise
    except (ValueError, TypeError, KeyError, AssertionError, RuntimeError, IndexError) as e:
        raise CheckpointError(f"The checkpoint's configuration does not describe a buildable model "
                              f"({short_repr(str(e), 120)}).") from e
    return enc, dec


def build_models(cfg: dict | ModelConfig, decoder_type: Optional[str] = "swin"
                 ) -> tuple[SwinEncoder, Optional[nn.Module]]:
    """Fresh, randomly initialised encoder and decoder ('swin', 'mae' or None) for a config."""
    return _construct(as_model_config(cfg), decoder_type)


def _skeletons(mc: ModelConfig, decoder_type: Optional[str]) -> tuple[SwinEncoder, Optional[nn.Module]]:
    """The models on torch's meta device: every parameter's shape, no memory, no initialisation."""
    with torch.device("meta"):
        return _construct(mc, decoder_type)


def _activation_bytes(mc: ModelConfig) -> int:
    """A rough bound on one window's activations in a forward pass (float32), encoder and decoder."""
    total = 0
    heads = list(mc.num_heads)
    for k, ((rows, cols), dim) in enumerate(zip(reversed(mc.level_grids), reversed(mc.level_dims))):
        tokens = rows * cols
        w = min(mc.window_size, rows, cols)
        total += tokens * dim * (12 + 2 * mc.mlp_ratio) + tokens * w * w * heads[k] * 3
    return int(total * 4 * 2)


def _block_flops(tokens: int, dim: int, area: int, mlp_ratio: float) -> float:
    """One transformer block: qkv and output projections, the MLP, and attention over `area` tokens."""
    return tokens * (8 * dim * dim + 4 * mlp_ratio * dim * dim + 4 * area * dim)


def window_flops(mc: ModelConfig, decoder_type: Optional[str] = "swin") -> float:
    """Floating-point operations of one window through the encoder and the decoder, from the config alone: matrix
    products and attention, per window of a batch (the relative-position MLPs, computed once a batch, left out).
    Within 2 % of torch's FlopCounterMode for the spec's six- and seven-level configs and a 32-wide one (which
    does not count the MAE decoder's attention on a CPU). What a checkpoint asks of the CPU, known before it is
    built: weights within the memory limit can still describe a model that takes minutes a window (a finest grid
    of 128x128 patches, wide and deep)."""
    dims = list(reversed(mc.level_dims))  # finest first, as the stages run
    # per level: tokens, and the tokens one attends to (a window, or the whole grid where it is smaller)
    sizes = [(gh * gw, min(mc.window_size, gh) * min(mc.window_size, gw)) for gh, gw in reversed(mc.level_grids)]
    finest, last = sizes[0][0], len(sizes) - 1
    total = 2.0 * finest * mc.patch_h * mc.patch_w * mc.in_chans * dims[0]  # patch embedding
    for i, ((tokens, area), dim) in enumerate(zip(sizes, dims)):
        if i > 0:
            total += 2.0 * tokens * 4 * dims[i - 1] * dim  # patch merging
        if i < last:  # the 1x1 level only merges
            total += mc.depths[i] * _block_flops(tokens, dim, area, mc.mlp_ratio)
    if decoder_type == "swin":
        for i, ((tokens, area), dim) in enumerate(zip(sizes, dims)):
            total += 2.0 * tokens * dim * dim  # lateral
            if i < last:
                total += 2.0 * (tokens // 4) * dims[i + 1] * 4 * dim  # the expansion into this level
            if tokens > 1:
                total += mc.dec_depths[i] * _block_flops(tokens, dim, area, mc.mlp_ratio)
        total += 2.0 * finest * dims[0] * mc.patch_h * mc.patch_w  # head
    elif decoder_type == "mae":
        fpn = 64  # SwinMAEDecoder's defaults: two global-attention blocks of 64 dims over the finest grid
        total += sum(2.0 * tokens * dim * fpn for (tokens, _), dim in zip(sizes, dims))
        total += 2 * _block_flops(finest, fpn, finest, 4.0) + 2.0 * finest * fpn * mc.patch_h * mc.patch_w
    return total


def _check_compute(mc: ModelConfig, decoder_type: Optional[str], name: str) -> None:
    """Refuse a model whose windows would each take more than `max_window_gflops()` (one sentence)."""
    need, most = window_flops(mc, decoder_type) / 1e9, max_window_gflops()
    if need > most:
        shipped = _two_figures(window_flops(DEFAULT, "swin") / 1e9)
        raise CheckpointError(f"{sentence_start(name)} describes a model needing about {_two_figures(need, most)} "
                              f"billion operations for each window (the shipped model: {shipped} billion), more than "
                              f"this server's limit of {most:g} billion (set {MAX_GFLOPS_ENV} to change it).")


def _two_figures(x: float, above: float = -math.inf) -> str:
    """x with two significant figures (no decimals past the point from 10 on), and more where fewer would not read
    as more than `above`."""
    d = max(0, 1 - math.floor(math.log10(x))) if x > 0 else 0
    while True:
        text = f"{x:,.{d}f}"
        if float(text.replace(",", "")) > above or d >= 9:
            return text
        d += 1


def model_footprint(mc: ModelConfig, decoder_type: Optional[str] = "swin") -> tuple[int, int]:
    """(parameters, bytes) the config implies: weights and buffers, plus one window's activations.

    Measured on meta-device skeletons, so it costs no memory and is exact for the weights.
    """
    mods = [m for m in _skeletons(mc, decoder_type) if m is not None]
    return _footprint(mods, mc)


def _footprint(mods: list[nn.Module], mc: ModelConfig) -> tuple[int, int]:
    params = sum(p.numel() for m in mods for p in m.parameters())
    nbytes = sum(t.numel() * t.element_size() for m in mods for t in list(m.parameters()) + list(m.buffers()))
    return params, nbytes + _activation_bytes(mc)


def _fill(skeleton: nn.Module, sd: dict[str, torch.Tensor], device: torch.device) -> nn.Module:
    """Give a meta skeleton the file's weights (no copy when dtype and device match) and real buffers."""
    own = skeleton.state_dict()
    sd = {k: v.to(device=device, dtype=own[k].dtype) for k, v in sd.items()}
    skeleton.load_state_dict(sd, strict=True, assign=True)
    for m in skeleton.modules():
        for b_name, b in list(m._buffers.items()):
            if b is not None and b.is_meta:  # non-persistent buffers: allocated here, computed just below
                m._buffers[b_name] = torch.empty_like(b, device=device)
    for m in skeleton.modules():
        init = getattr(m, "init_non_persistent_buffers", None)
        if callable(init):
            init()
    left = [n for n, t in list(skeleton.named_parameters()) + list(skeleton.named_buffers()) if t.is_meta]
    if left:  # a module with buffers this loader does not know how to compute
        raise RuntimeError(f"the loader left {left[:3]} unallocated")
    return skeleton


# ---------------------------------------------------------------- the project's format


def save_checkpoint(path: str | Path, encoder: Optional[nn.Module], decoder: Optional[nn.Module],
                    config: dict | ModelConfig, meta: Optional[dict] = None) -> Path:
    """Write weights (encoder.*, decoder.*) as safetensors with config and metadata as JSON."""
    from safetensors.torch import save_file

    tensors = {}
    for prefix, mod in (("encoder.", encoder), ("decoder.", decoder)):
        if mod is not None:
            mod = getattr(mod, "module", mod)  # unwrap DistributedDataParallel
            mod = getattr(mod, "_orig_mod", mod)  # and torch.compile
            for k, v in mod.state_dict().items():
                tensors[prefix + k] = v.detach().to("cpu").contiguous()
    cfg = config.to_dict() if isinstance(config, ModelConfig) else {**config}
    cfg["source_format"] = FORMAT
    if decoder is not None:
        cfg["decoder_type"] = "mae" if isinstance(getattr(decoder, "module", decoder), SwinMAEDecoder) else "swin"
    header = {"format": FORMAT, "config": json.dumps(cfg), "meta": json.dumps(meta or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=header)
    tmp.replace(path)  # atomic: an interrupted save never leaves a half-written checkpoint
    return path


# ---------------------------------------------------------------- the original format


class _Standin:
    """Takes the place of an OmegaConf class while unpickling: keeps the pickled state, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any):
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state


class _TypeStandin:
    """Takes the place of typing objects (e.g. typing.Any) named in OmegaConf metadata."""


_OMEGACONF_NAMES = [
    "omegaconf.dictconfig.DictConfig", "omegaconf.listconfig.ListConfig", "omegaconf.base.ContainerMetadata",
    "omegaconf.base.Metadata", "omegaconf.nodes.AnyNode", "omegaconf.nodes.StringNode",
    "omegaconf.nodes.IntegerNode", "omegaconf.nodes.FloatNode", "omegaconf.nodes.BooleanNode",
    "omegaconf.nodes.BytesNode", "omegaconf.nodes.PathNode", "omegaconf.nodes.EnumNode",
    "omegaconf.nodes.ValueNode", "omegaconf.nodes.InterpolationResultNode", "omegaconf.base.UnionNode",
]


class _NumpyDtype:
    """Takes the place of numpy.dtype while unpickling a NumPy scalar (an epoch or a loss from np.mean): keeps its
    type code and byte order, runs nothing."""

    def __init__(self, code: Any = None, *args: Any):
        self.code, self.order = code, "="

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">"):
            self.order = state[1]


_NUMERIC_CODES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"}


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """numpy's scalar() while unpickling: a number of a numeric type as a Python number, anything else None (an
    object scalar's payload is never looked at)."""
    if not (isinstance(dtype, _NumpyDtype) and dtype.code in _NUMERIC_CODES and isinstance(data, bytes)):
        return None
    kind = np.dtype(dtype.code).newbyteorder(dtype.order)
    return np.frombuffer(data, dtype=kind)[0].item() if len(data) == kind.itemsize else None


_SAFE_GLOBALS = ([(_Standin, n) for n in _OMEGACONF_NAMES]
                 + [(_numpy_scalar, f"{m}.multiarray.scalar") for m in ("numpy.core", "numpy._core")]
                 + [(_NumpyDtype, "numpy.dtype"), (_TypeStandin, "typing.Any"), collections.defaultdict,
                    collections.OrderedDict, dict, list, int, float, str, tuple, set, bool])


class _TooDeep(Exception):
    pass


class _TooMany(Exception):
    pass


def _plain(obj: Any, depth: int = 0, budget: Optional[list[int]] = None) -> Any:
    """Turn unpickled OmegaConf stand-ins into plain dicts, lists and values (at most _MAX_PICKLE_DEPTH deep and
    _MAX_CONFIG_NODES values in all: a pickle can share one list many times over, a few KB that copy into
    billions of values)."""
    if budget is None:
        budget = [_MAX_CONFIG_NODES]
    if depth > _MAX_PICKLE_DEPTH:
        raise _TooDeep
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooMany
    if isinstance(obj, _Standin):
        state = obj.__dict__.get("_state", {})
        if isinstance(state, dict) and "_content" in state:
            return _plain(state["_content"], depth + 1, budget)
        if isinstance(state, dict) and "_val" in state:
            return _plain(state["_val"], depth + 1, budget)
        return None
    if isinstance(obj, dict):
        return {str(k): _plain(v, depth + 1, budget) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v, depth + 1, budget) for v in obj]
    return obj


def _check_zip(data: bytes, name: str, limit: int) -> None:
    """Bound what torch.load would read from a .pt archive, from its zip directory, before it reads it."""
    unreadable = CheckpointError(f"{sentence_start(name)} is not a readable PyTorch checkpoint (damaged, cut off, "
                                 f"or another kind of file).")
    end = zip_end(data)
    if end is None or end.prefix != 0:  # bytes before the archive: zipfile and torch would read two archives
        raise unreadable
    entries, cd_size = end.entries, end.directory_bytes
    cap = MAX_TENSORS + 16
    if entries > cap or cd_size > cap * 256:
        raise CheckpointError(f"{sentence_start(name)} holds {entries:,} files in its archive; the limit is {cap:,}.")
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, struct.error, EOFError, KeyError, NotImplementedError) as e:
        raise unreadable from e
    if len(infos) > cap:
        raise CheckpointError(f"{sentence_start(name)} holds {len(infos):,} files in its archive; the limit is "
                              f"{cap:,}.")
    total = 0
    for info in infos:
        pickled = info.filename.lower().endswith("data.pkl")  # torch's reader finds it in any case: DATA.PKL
        if pickled and info.compress_type == zipfile.ZIP_STORED and info.file_size <= MAX_PICKLE_BYTES:
            start = _member_start(data, info)
            _check_pickle(data[start:start + info.file_size], name)
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(f"{sentence_start(name)} holds compressed files in its archive, which PyTorch "
                                  f"never writes, so it was not unpacked.")
        if pickled and info.file_size > MAX_PICKLE_BYTES:
            size, most = megabytes(info.file_size, MAX_PICKLE_BYTES)
            raise CheckpointError(f"{sentence_start(name)} has a {size} MB pickle; a checkpoint's is at most "
                                  f"{most} MB.")
        total += info.file_size
    if total > limit + MAX_PICKLE_BYTES:
        size, most = megabytes(total, limit + MAX_PICKLE_BYTES)
        raise CheckpointError(f"{sentence_start(name)} holds {size} MB of data; this server loads checkpoints of up "
                              f"to {most} MB (set {MAX_MODEL_MB_ENV} to change it).")


def _member_start(data: bytes, info: zipfile.ZipInfo) -> int:
    """Where a stored zip member's bytes begin: after its local header, whose name and extra field lengths are its
    own (they may differ from the central directory's)."""
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26:info.header_offset + 30])
    return info.header_offset + 30 + name_len + extra_len


_GETS = {"GET", "BINGET", "LONG_BINGET"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_CALLS = {"REDUCE": 2, "NEWOBJ": 2, "NEWOBJ_EX": 3}  # opcode -> how deep in the stack its callable sits
_IN_PLACE = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS", "BUILD"}  # they add to the object below
# what hashes its values or hands them to a call: a dict's keys, a set's items, a persistent id, a call's arguments
_HASHING = {"SETITEM", "SETITEMS", "ADDITEMS", "FROZENSET", "BINPERSID", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD"}
MAX_CHECK_STEPS = 8_000_000  # steps of all the counts of one pickle: a state dict of 20,000 tensors takes 1,700,000
MAX_PICKLE_VALUES = 4_000_000  # values an object holds, counted through shared references: a state dict of 20,000
# tensors holds ~400,000; torch hashes a dict key or a persistent id whole, and writes a refused call's repr whole


def _check_pickle(pkl: bytes, name: str) -> None:
    """Refuse, before torch's unpickler sees it, a pickle that calls anything but a global it named, or that builds
    an object holding more than MAX_PICKLE_VALUES values by shared reference: a kilobyte of tuples or lists, each
    holding the one before twice, holds 2**40 values at 40 deep, and torch spent hours hashing such a key or
    writing such a callable into its refusal (13 GB and 110 s at 27 deep)."""
    verdict = _pickle_verdict(pkl)
    if verdict == "call":
        raise CheckpointError(f"Refused to load {name}: its pickle calls something other than a named function or "
                              f"class, which a checkpoint never does, so nothing from it was run.")
    if verdict == "size":
        raise CheckpointError(f"Refused to load {name}: its pickle builds an object of more than "
                              f"{MAX_PICKLE_VALUES:,} values by shared reference, which a checkpoint never holds, "
                              f"so nothing from it was run.")


def _pickle_verdict(pkl: bytes) -> Optional[str]:
    """"call" where the pickle calls (REDUCE, NEWOBJ) something that is not a global it named, "size" where an
    operation that hashes or calls (a dict's key, a set's item, a persistent id, a call's arguments, a BUILD's
    state) takes values that hold more than MAX_PICKLE_VALUES values, counted through shared references, else None.
    The stack is followed slot by slot, each an object (what kind: "g" a global, "m" a mark, "x" anything else),
    and what each object holds is kept as a graph, judged as it stands when each such operation comes (as torch
    meets it: a pickle cut short after one still ran it). Bytes that are no pickle are left to torch's unpickler,
    which refuses them in its own words."""
    stack: list[tuple[str, int]] = []  # (kind, object number)
    holds: list[list[int]] = []  # by object number: the objects it holds (one object on the stack and in the memo)
    memo: dict[Any, tuple[str, int]] = {}
    dicts: set[int] = set()  # the objects that are dicts: their keys were counted as each was set
    work = [MAX_CHECK_STEPS]  # steps left to all the counts together: a pickle that makes them long is refused

    def new(kind: str, members: list[int]) -> tuple[str, int]:
        holds.append(members)
        return kind, len(holds) - 1

    try:
        for op, arg, _ in pickletools.genops(pkl):
            name = op.name
            if name in _CALLS:
                depth = _CALLS[name]
                if len(stack) < depth or stack[-depth][0] != "g":
                    return "call"
            if name in _PUTS or name == "MEMOIZE":
                memo[arg if name in _PUTS else len(memo)] = stack[-1] if stack else new("x", [])
                continue
            if name in _GETS or name == "DUP":
                stack.append(memo.get(arg) or new("x", []) if name in _GETS else stack[-1] if stack else new("x", []))
                continue
            before = op.stack_before
            popped: list[tuple[str, int]] = []
            if pickletools.markobject in before:  # everything down to the topmost mark, then what lies below it
                while stack and stack[-1][0] != "m":
                    popped.append(stack.pop())
                if stack:
                    stack.pop()
                below = before.index(pickletools.markobject)
            else:
                below = len(before)
            in_place = name in _IN_PLACE
            cut = len(stack) - below + (1 if in_place else 0)  # in place: the object under what they add stays
            popped += stack[max(cut, 0):]
            del stack[max(cut, 0):]
            members = [i for _, i in popped if i >= 0]  # a mark (-1) holds nothing
            if name in _HASHING and _expanded(_hashed(name, popped, dicts), holds, work) > MAX_PICKLE_VALUES:
                return "size"
            if in_place:
                if stack and below:
                    holds[stack[-1][1]].extend(members)
                continue
            kind = "g" if name in ("GLOBAL", "STACK_GLOBAL") else "x"
            stack.extend(("m", -1) if s is pickletools.markobject else new(kind, members) for s in op.stack_after)
            if name == "EMPTY_DICT":
                dicts.add(stack[-1][1])
    except (ValueError, KeyError, IndexError, struct.error):
        return None
    return None


def _hashed(op: str, popped: list[tuple[str, int]], dicts: set[int]) -> list[int]:
    """The objects an operation hashes or hands to a call, of those it takes off the stack (`popped`, a mark's
    items last first): a dict's keys, not its values (an OmegaConf config's values point back to their parents, so
    counting them counted a 10,000-entry list many times over); a BUILD's state only where it is no dict, whose keys
    were counted as they were set."""
    if op == "SETITEM":
        chosen = popped[:1]
    elif op == "SETITEMS":
        chosen = popped[1::2]
    elif op == "BUILD":
        chosen = [p for p in popped if p[1] not in dicts]
    else:
        chosen = popped
    return [i for _, i in chosen if i >= 0]


def _expanded(roots: list[int], holds: list[list[int]], work: list[int]) -> int:
    """How many values the objects `roots` hold, expanded as repr and hash expand them: every reference followed
    each time (capped just past MAX_PICKLE_VALUES), a reference back to an object being expanded counted as one
    (repr writes "[...]"). No size is kept from one path for another: a size reached while an object that holds it
    was being expanded depends on that path (lists looped through each other hid 2**n values from a kept size).
    `work[0]`: the steps left to all the counts of one pickle; past them, the count is past the cap too."""
    over = MAX_PICKLE_VALUES + 1
    total = 0
    for root in roots:
        total += 1
        path, on_path = [(root, 0)], {root}
        while path:
            work[0] -= 1
            if work[0] < 0:
                return over
            node, k = path[-1]
            if k < len(holds[node]):
                path[-1] = (node, k + 1)
                child = holds[node][k]
                total += 1
                if total >= over:
                    return over
                if child not in on_path:
                    path.append((child, 0))
                    on_path.add(child)
                continue
            path.pop()
            on_path.discard(node)
    return total


STATE_DICT_KEYS = ("model_state_dict", "state_dict", "model")  # where .pt files keep their weights, most usual first


def _read_torch_pickle(data: bytes, name: str, limit: int) -> dict:
    if data[:2] != b"PK":
        raise CheckpointError(f"{sentence_start(name)} is a plain pickle (PyTorch's legacy format before 1.6, or "
                              f"another program's), which is not read here; save a checkpoint again with a current "
                              f"PyTorch.")
    _check_zip(data, name, limit)
    try:
        # quietly: torch warns in two lines of its own as it checks a sparse tensor, which is then refused in one
        with torch.serialization.safe_globals(_SAFE_GLOBALS), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        culprit = ""
        for marker in ("Unsupported global: GLOBAL ", "unsupported GLOBAL ", "Trying to call reduce for "):
            if marker in msg:
                culprit = msg.split(marker, 1)[1].split()[0].strip(".,'\"")
        if culprit:
            raise CheckpointError(f"Refused to load {name}: its pickle asks to run code or build an object "
                                  f"('{_key(culprit)}') that a checkpoint never needs, so nothing from it was "
                                  f"run.") from e
        reason = msg.split("WeightsUnpickler error:", 1)[1].strip().split("\n")[0] if "WeightsUnpickler error:" in msg \
            else ""
        if reason.startswith("Unsupported operand"):  # the unpickler's own words for bytes that are no pickle
            reason = ""
        reason = _key(reason.rstrip(".")) if reason else "damaged or of a kind a checkpoint never needs"
        raise CheckpointError(f"Refused to load {name}: its pickle could not be read safely ({reason}), so nothing "
                              f"from it was run.") from e
    except Exception as e:  # noqa: BLE001 (RuntimeError, BadZipFile, EOFError, TypeError, ... on bad bytes)
        raise CheckpointError(f"{sentence_start(name)} is not a readable PyTorch checkpoint (damaged, cut off, "
                              f"or another kind of file).") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"{sentence_start(name)} holds a {type(obj).__name__}, not a checkpoint dictionary.")
    return obj


def _section(cfg: dict, key: str, name: str) -> dict:
    sec = cfg.get(key)
    if sec is None:
        return {}
    if not isinstance(sec, dict):
        raise CheckpointError(f"{sentence_start(name)} has an unusable configuration: its '{key}' section is "
                              f"{short_repr(sec)}, not a set of named fields.")
    return sec


_INTERPOLATION = re.compile(r"\$\{([^${}:]*)\}")  # OmegaConf's ${a.b} or ${.sibling}; a resolver's ${x:y} is not read
_MAX_INTERPOLATION_HOPS = 16  # ${a} -> ${b} -> ...: a loop stops here and stays text


def _interpolated(cfg: dict) -> dict:
    """The config with OmegaConf's interpolations resolved as OmegaConf resolves them (`patch_w: ${model.patch_h}`,
    `${.sibling}`, `${..key}`, or within text), a value at a time; a resolver (`${oc.env:X}`), a missing key or a
    loop leaves the text as it is, for the config's checks to name. Runs nothing: paths are only looked up."""

    def lookup(path: str, here: tuple[str, ...]) -> tuple[bool, Any]:
        dots = len(path) - len(path.lstrip("."))
        base = here[:len(here) - dots + 1] if dots else ()
        node: Any = cfg
        for part in base + tuple(p for p in path.lstrip(".").split(".") if p):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return False, None
        return True, node

    def resolve(value: Any, here: tuple[str, ...], hops: int = 0) -> Any:
        if not isinstance(value, str) or "${" not in value or hops > _MAX_INTERPOLATION_HOPS:
            return value
        whole = _INTERPOLATION.fullmatch(value)
        if whole:
            found, target = lookup(whole.group(1), here)
            return resolve(target, here, hops + 1) if found and not isinstance(target, (dict, list)) else value

        def text(m: re.Match) -> str:
            found, target = lookup(m.group(1), here)
            target = resolve(target, here, hops + 1) if found else None
            return str(target) if found and isinstance(target, (str, int, float, bool)) else m.group(0)

        return _INTERPOLATION.sub(text, value)

    def walk(node: Any, here: tuple[str, ...]) -> Any:
        if isinstance(node, dict):
            return {k: walk(v, here + (k,)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, here + (str(i),)) for i, v in enumerate(node)]
        return resolve(node, here[:-1])

    return walk(cfg, ())


def _original_config(raw: Any, name: str = "the checkpoint") -> ModelConfig:
    """Our config from the original code's {data, model, training} OmegaConf sections, validated."""
    try:
        cfg = _plain(raw)
    except _TooDeep as e:
        raise CheckpointError(f"{sentence_start(name)} has an unusable configuration: it nests deeper than "
                              f"{_MAX_PICKLE_DEPTH} levels.") from e
    except _TooMany as e:
        raise CheckpointError(f"{sentence_start(name)} has an unusable configuration: it holds more than "
                              f"{_MAX_CONFIG_NODES:,} values.") from e
    except (ValueError, TypeError, RecursionError) as e:  # e.g. a key whose str() refuses (a huge int)
        raise CheckpointError(f"{sentence_start(name)} has a damaged configuration.") from e
    cfg = {} if cfg is None else cfg
    if not isinstance(cfg, dict):
        return ModelConfig.from_dict(cfg, name)  # refuses it in one sentence
    cfg = _interpolated(cfg)
    model, data, training = (_section(cfg, k, name) for k in ("model", "data", "training"))
    out: dict[str, Any] = {}
    size = data.get("image_size", 128)
    if isinstance(size, int) and not isinstance(size, bool):
        out["img_height"] = out["img_width"] = size
    elif isinstance(size, list) and len(size) == 2:
        out["img_height"], out["img_width"] = size
    else:
        raise CheckpointError(f"{sentence_start(name)} has an unusable configuration: data.image_size must be a "
                              f"whole number or a [height, width] pair, not {short_repr(size)}.")
    if data.get("in_channels") is not None:
        out["in_chans"] = data["in_channels"]
    for k in ("patch_h", "patch_w", "embed_dim", "depths", "num_heads", "window_size", "mlp_ratio",
              "dec_depths", "drop_path_rate"):
        if model.get(k) is not None:
            out[k] = model[k]
    if training.get("empty_mask_ratio") is not None:
        out["empty_mask_ratio"] = training["empty_mask_ratio"]
    out["steps_per_beat"] = None  # the original format does not record its time resolution
    out["decoder_type"] = None
    out["source_format"] = ORIGINAL_FORMAT
    return ModelConfig.from_dict(out, name)


def _strip_prefix(sd: dict) -> dict:
    return {k.removeprefix("_orig_mod.").removeprefix("module."): v for k, v in sd.items()}


def _kind_of(keys: Any, name: str = "the checkpoint") -> str:
    """'encoder', 'swin' (SwinDecoder) or 'mae' (SwinMAEDecoder), from a state dict's keys."""
    keys = set(keys)
    # by the parts only that model has (the MAE decoder shares mask_token with the encoder and laterals with the
    # Swin decoder): a file missing one weight is then refused naming it (_check_fits)
    if any(k.startswith("blocks.") for k in keys) and any(k.startswith("proj.") for k in keys):
        return "mae"
    if any(k.startswith(("patch_embed.", "patch_norm.", "empty_token")) for k in keys):
        return "encoder"
    if any(k.startswith(("upsamples.", "head.", "laterals.")) for k in keys):
        return "swin"
    sample = ", ".join(_key(k) for k in sorted(keys)[:2])
    raise CheckpointError(f"The weights in {name} belong to no model this app knows: none is named as an encoder's "
                          f"(patch_embed.*) or a decoder's (upsamples.*, head.*, blocks.*), e.g. {sample}.")


# ---------------------------------------------------------------- reading a file


@dataclass
class _Opened:
    """A checkpoint file with everything checked that can be checked before its weights are read."""

    name: str
    config: ModelConfig
    meta: dict
    shapes: dict[str, dict[str, tuple[int, ...]]]  # part ('encoder', 'swin', 'mae') -> key -> shape
    load: Callable[[], dict[str, dict[str, torch.Tensor]]]  # part -> key -> tensor
    others: list[str] = field(default_factory=list)  # names of tensors outside encoder.* and decoder.*
    configured: bool = True  # False: the file holds no configuration, so the spec's defaults were assumed


def _file_cap(limit: int) -> int:
    return min(MAX_CHECKPOINT_BYTES, limit + MAX_HEADER_BYTES + MAX_PICKLE_BYTES + _MIB)


def _too_big(name: str, size: int, limit: int) -> CheckpointError:
    size_mb, most = megabytes(size, _file_cap(limit))
    return CheckpointError(f"{sentence_start(name)} is {size_mb} MB; this server takes checkpoints of up to {most} MB "
                           f"(set {MAX_MODEL_MB_ENV} to change it).")


def _read_bytes(src: str | Path | bytes, name: str, limit: int) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
    else:
        p = Path(src)
        if not p.is_file():
            raise CheckpointError(no_file(p))
        size = p.stat().st_size
        if size > _file_cap(limit):
            raise _too_big(name, size, limit)
        data = p.read_bytes()
    if len(data) > _file_cap(limit):
        raise _too_big(name, len(data), limit)
    if not data:
        raise CheckpointError(f"{sentence_start(name)} is empty.")
    return data


def _split_parts(keys: list[str], decoder_type: Optional[str], name: str) -> dict[str, dict[str, str]]:
    """part -> {key within the part: key in the file} for a safetensors file's tensor names."""
    enc = {k[len("encoder."):]: k for k in keys if k.startswith("encoder.")}
    dec = {k[len("decoder."):]: k for k in keys if k.startswith("decoder.")}
    parts: dict[str, dict[str, str]] = {}
    if enc:
        parts["encoder"] = enc
    if dec:
        parts[decoder_type or _kind_of(dec, name)] = dec
    if not parts and keys:
        parts[_kind_of(keys, name)] = {k: k for k in keys}
    return parts


def _open(src: str | Path | bytes, name: str, limit: int) -> _Opened:
    data = _read_bytes(src, name, limit)
    if is_safetensors(data):
        header, cfg, meta = header_config(data, name)
        table = tensor_table(header, name)
        total = sum(nbytes for _, _, nbytes in table.values())
        if total > len(data) - 8 - struct.unpack("<Q", data[:8])[0]:  # before the limit: no limit would help
            raise CheckpointError(f"{sentence_start(name)} looks like a safetensors file but is damaged or cut off: "
                                  f"its header describes more weights than the file holds.")
        if total > limit:
            size, most = megabytes(total, limit)
            raise CheckpointError(f"{sentence_start(name)} holds {size} MB of weights; this server loads models of "
                                  f"up to {most} MB (set {MAX_MODEL_MB_ENV} to change it).")
        mc = ModelConfig.from_dict({**cfg, "source_format": FORMAT} if isinstance(cfg, dict) else cfg, name)
        parts = _split_parts(list(table), mc.decoder_type, name)
        if not parts:
            raise CheckpointError(f"{sentence_start(name)} holds no weights.")
        shapes = {part: {k: table[fk][1] for k, fk in keys.items()} for part, keys in parts.items()}
        placed = {fk for keys in parts.values() for fk in keys.values()}
        others = sorted(k for k in table if k not in placed)

        def load() -> dict[str, dict[str, torch.Tensor]]:
            from safetensors import SafetensorError
            from safetensors.torch import load as st_load

            try:
                tensors = st_load(data)
            except (SafetensorError, ValueError, struct.error, UnicodeDecodeError, RuntimeError) as e:
                raise CheckpointError(f"{sentence_start(name)} looks like a safetensors file but is damaged or "
                                      f"cut off.") from e
            return {part: {k: tensors[fk] for k, fk in keys.items()} for part, keys in parts.items()}

        return _Opened(name, mc, meta, shapes, load, others)
    if data[:2] == b"PK" or data[:1] == b"\x80":
        obj = _read_torch_pickle(data, name, limit)
        sd = next((obj[k] for k in STATE_DICT_KEYS if isinstance(obj.get(k), dict)), None)
        if sd is None and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            sd, obj = obj, {}  # torch.save(model.state_dict()): the weights alone, at the spec's defaults
        if not isinstance(sd, dict) or not sd:
            raise CheckpointError(f"{sentence_start(name)} holds no weights: neither a 'model_state_dict' (or "
                                  f"'state_dict', 'model') entry nor, as torch.save(model.state_dict()) writes, "
                                  f"tensors by name.")
        if len(sd) > MAX_TENSORS:
            raise CheckpointError(f"{sentence_start(name)} holds {len(sd):,} tensors; the limit is {MAX_TENSORS:,}.")
        bad = next((k for k, v in sd.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)), None)
        if bad is not None:
            raise CheckpointError(f"{sentence_start(name)} has a 'model_state_dict' entry "
                                  f"({short_repr(bad)}) that is not a named tensor.")
        odd = next((k for k, v in sd.items() if v.layout != torch.strided or v.device.type != "cpu"
                    or v.is_quantized or v.is_complex() or type(v) not in (torch.Tensor, nn.Parameter)), None)
        if odd is not None:
            raise CheckpointError(f"{sentence_start(name)} stores the weight {_key(odd)} in a form a checkpoint never "
                                  f"uses (sparse, quantized, complex or on another device).")
        sd = _strip_prefix(sd)
        meta = {k: v for k in ("epoch", "val_loss") if (v := _meta_number(obj.get(k))) is not None}
        mc = _original_config(obj.get("config"), name)
        kind = _kind_of(sd, name)
        return _Opened(name, mc, meta, {kind: {k: tuple(v.shape) for k, v in sd.items()}}, lambda: {kind: sd},
                       configured=obj.get("config") is not None)
    if data[:4] == b"MThd":
        raise CheckpointError(f"{sentence_start(name)} is a MIDI file, not a checkpoint: it goes in the MIDI file's "
                              f"place (the piece), not the model's.")
    raise CheckpointError(f"{sentence_start(name)} is neither a safetensors checkpoint nor an original midi-rae "
                          f".pt checkpoint.")


def _meta_number(v: Any) -> Optional[float | int]:
    """An epoch or a loss as the original code may save it (a number, or a one-value tensor), else None."""
    if isinstance(v, torch.Tensor) and v.numel() == 1 and (v.dtype.is_floating_point or v.dtype == torch.int64):
        v = v.item()
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2 ** 53:
        return v
    return v if isinstance(v, float) and math.isfinite(v) else None


def read_checkpoint(src: str | Path | bytes, name: Optional[str] = None) -> tuple[dict[str, dict], dict, dict]:
    """Parts of a checkpoint file: ({'encoder'|'swin'|'mae': state_dict}, config, meta), all checked.

    The config is the validated ModelConfig as a dict; raises CheckpointError in one sentence.
    """
    opened = _open(src, display_name(src, name), max_model_bytes())
    parts = opened.load()
    for part, sd in parts.items():
        _check_finite(sd, part, opened.name)
    return parts, opened.config.to_dict(), opened.meta


def read_train_state(path: str | Path) -> dict:
    """A training run's optimizer and head states (train_state.pt), read as safely as a checkpoint: bounded in size,
    no code run; CheckpointError in one sentence."""
    name = Path(path).name
    limit = 4 * max_model_bytes()  # AdamW keeps two values a weight, beside the heads' weights and their own two
    data = _read_bytes(path, name, limit)
    if data[:2] != b"PK" and data[:1] != b"\x80":  # neither torch.save's archive nor a pickle
        raise CheckpointError(f"{sentence_start(name)} is not a readable PyTorch file (damaged, cut off, or another "
                              f"kind of file).")
    return _read_torch_pickle(data, name, limit)


# ---------------------------------------------------------------- loading


def _key(k: str) -> str:
    """A tensor name for a message: one line, at most 80 characters, not quoted."""
    k = " ".join(str(k).split())
    return k if len(k) <= 80 else k[:79] + "…"


def _check_fits(own: dict[str, tuple[int, ...]], found: dict[str, tuple[int, ...]], what: str, name: str) -> None:
    """Refuse, naming keys and shapes, weights that do not fit the architecture exactly."""
    missing = [k for k in own if k not in found]
    unexpected = [k for k in found if k not in own]
    wrong = [f"{_key(k)} {tuple(found[k])} vs {tuple(own[k])}" for k in own
             if k in found and tuple(found[k]) != tuple(own[k])]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append(f"{counted(len(wrong), 'shape mismatch', 'shape mismatches')} (file vs model), e.g. "
                         f"{'; '.join(wrong[:3])}")
        if missing:
            parts.append(f"{counted(len(missing), 'missing key')}, e.g. "
                         f"{', '.join(_key(k) for k in missing[:3])}")
        if unexpected:
            parts.append(f"{counted(len(unexpected), 'unexpected key')}, e.g. "
                         f"{', '.join(_key(k) for k in unexpected[:3])}")
        n_own, n_found = _levels_in(own), _levels_in(found)
        if n_own and n_found and n_own != n_found:  # the usual cause, said plainly: a decoder of another model
            raise CheckpointError(f"The {what} weights in {name} are for a model of {counted(n_found, 'level')} and "
                                  f"the encoder has {n_own}: use the {what} saved with this encoder "
                                  f"({'; '.join(parts)}).")
        raise CheckpointError(f"The {what} weights in {name} do not fit the architecture of the encoder's "
                              f"configuration: {'; '.join(parts)}.")


def _unconfigured(name: str, found: dict[str, tuple[int, ...]], assumed: ModelConfig, misfit: str) -> str:
    """Why weights saved without their configuration do not load: what the spec's defaults assumed, and what the
    weights themselves show (stages, patch, width), so the person who saved them can add the configuration; where
    those agree with the defaults, the first misfits of `misfit` (_check_fits's sentence) say what differs."""
    stages = {int(k.split(".")[1]) for k in found if k.startswith("stages.") and k.split(".")[1].isdigit()}
    patch = found.get("patch_embed.weight") or found.get("patch_embed.proj.weight")
    seen = [counted(len(stages), "level")] if stages else []
    if patch is not None and len(patch) == 4:
        seen += [f"patch {patch[2]}×{patch[3]}", f"embed_dim {patch[0]}"]
    assumed_words = [counted(assumed.num_levels, "level"), f"patch {assumed.patch_h}×{assumed.patch_w}",
                     f"embed_dim {assumed.embed_dim}"]
    shown = f" (they show {', '.join(seen)})" if seen and seen != assumed_words else \
        f" ({misfit.partition('configuration: ')[2].rstrip('.')})" if "configuration: " in misfit else ""
    return (f"{sentence_start(name)} holds weights without their configuration (as torch.save(model.state_dict()) "
            f"writes them), so it was read as the spec's default model ({', '.join(assumed_words)}), which its "
            f"weights do not fit{shown}: save it with its configuration (midi_rae.checkpoint.save_checkpoint, or a "
            "dict with 'model_state_dict' and the original code's 'config').")


def _levels_in(keys) -> int:
    """Levels of a decoder's weights, from its per-level lateral layers (laterals.K.*); 0 when it has none."""
    found = [int(k.split(".")[1]) for k in keys if k.startswith("laterals.") and k.split(".")[1].isdigit()]
    return max(found) + 1 if found else 0


def _is_finite(t: torch.Tensor) -> bool:
    """All values finite? (numpy: torch's thread pool makes 500 small checks take a second on a busy CPU)"""
    if not t.is_floating_point():
        return True
    if not t.is_contiguous():  # a view (stride 0 shows one stored value 10^10 times): check the values stored
        t = torch.empty(0, dtype=t.dtype).set_(t.untyped_storage(), 0,
                                               (t.untyped_storage().nbytes() // t.element_size(),))
    if t.dtype not in (torch.float16, torch.float32, torch.float64):
        t = t.float()
    return bool(np.isfinite(t.detach().cpu().numpy()).all())


def _check_finite(sd: dict[str, torch.Tensor], what: str, name: str) -> None:
    bad = [k for k, t in sd.items() if not _is_finite(t)]
    if bad:
        what = "encoder" if what == "encoder" else "decoder"
        raise CheckpointError(f"{sentence_start(name)} holds {what} weights that are not finite numbers (NaN or "
                              f"infinity) in {counted(len(bad), 'tensor')}, first {_key(bad[0])}, so the model's "
                              f"outputs would be meaningless.")


def _infer_dec_depths(keys: Any, mc: ModelConfig, name: str) -> list[int]:
    """Decoder depths (finest->coarsest) from its block keys, within the limits a config has."""
    n = mc.num_levels
    most = int(LIMITS["depth"][1])
    counts = [0] * n
    for k in keys:
        parts = k.split(".")
        if parts[0] == "stages" and len(parts) > 3 and parts[2] == "blocks":
            i_s, b_s = parts[1], parts[3]
            if not (i_s.isascii() and i_s.isdigit() and b_s.isascii() and b_s.isdigit()) or max(
                    len(i_s), len(b_s)) > 6:
                raise CheckpointError(f"The decoder weights in {name} name a block ({_key(k)}) whose stage "
                                      f"or block number is not a small whole number.")
            i, b = int(i_s), int(b_s)
            if b >= most:
                raise CheckpointError(f"The decoder weights in {name} name block {b:,} of stage {i}, but a stage "
                                      f"has at most {most} blocks.")
            if i < n:
                counts[i] = max(counts[i], b + 1)
    if not any(counts):
        return list(mc.dec_depths)
    fallback = list(reversed(mc.dec_depths))
    counts[0] = counts[0] or fallback[0]  # the 1x1 stage has no blocks; keep the configured depth
    return list(reversed(counts))


def _with(mc: ModelConfig, name: str, **changes: Any) -> ModelConfig:
    """A validated copy of mc with some fields changed; refusals name the file."""
    return ModelConfig.from_dict({**mc.to_dict(), **changes}, name)


def load_model(path: str | Path | bytes | None = None, decoder: str | Path | bytes | None = None,
               device: str | torch.device | None = None, steps_per_beat: Optional[int] = None,
               names: tuple[Optional[str], Optional[str]] = (None, None)) -> ModelBundle:
    """Load encoder (+ decoder) from one file or two, in eval mode; path=None loads the shipped default.

    `names`: how messages name the two files when they are given as bytes (an upload's file names).

    Every check in this module's docstring runs before the model is allocated; the memory limit is
    `max_model_bytes()` (128 MB, or MIDI_RAE_MAX_MODEL_MB megabytes when the environment sets it).
    Raises CheckpointError with one sentence.
    """
    if path is None:
        if not DEFAULT_CHECKPOINT.is_file():
            raise CheckpointError(f"No default checkpoint is shipped yet (expected {DEFAULT_CHECKPOINT}); "
                                  f"pass a checkpoint path.")
        path = DEFAULT_CHECKPOINT
    limit = max_model_bytes()
    main = _open(path, display_name(path, names[0]), limit)
    name = main.name
    sources = {part: main for part in main.shapes}
    shapes = dict(main.shapes)
    mc = main.config
    dname = name
    if decoder is not None:
        dec = _open(decoder, display_name(decoder, names[1], what="decoder"), limit)
        dname = dec.name
        dkind = next((k for k in ("swin", "mae") if k in dec.shapes), None)
        if dkind is None:
            raise CheckpointError(f"{sentence_start(dname)} holds no decoder weights.")
        for k in ("swin", "mae"):
            shapes.pop(k, None)
            sources.pop(k, None)
        shapes[dkind], sources[dkind] = dec.shapes[dkind], dec
        if dkind == "swin" and dec.configured and dec.config.window_size != mc.window_size:
            # the weights fit either way (Swin V2's position bias is continuous), so only the configs can tell
            raise CheckpointError(f"{sentence_start(dname)} was trained with attention windows of "
                                  f"{dec.config.window_size}, the encoder in {name} with {mc.window_size}: they "
                                  f"come from different runs; load the decoder saved beside this encoder.")
        if dec.config.num_levels == mc.num_levels:  # else the weights will be refused as not fitting, by name
            mc = _with(mc, dname, dec_depths=list(dec.config.dec_depths))
    if "encoder" not in shapes:
        if main.others:  # e.g. enc.* beside decoder.*: say what else is there rather than "only decoder weights"
            raise CheckpointError(f"{sentence_start(name)} names no encoder weights (encoder.*): beside its decoder.* "
                                  f"weights it holds {counted(len(main.others), 'tensor')} named otherwise, e.g. "
                                  f"{_key(main.others[0])}.")
        raise CheckpointError(f"{sentence_start(name)} holds only decoder weights; load it as the decoder beside "
                              f"an encoder checkpoint.")
    dkind = "swin" if "swin" in shapes else "mae" if "mae" in shapes else None
    if dkind == "swin":
        mc = _with(mc, dname, dec_depths=_infer_dec_depths(shapes["swin"], mc, dname))
    changes: dict[str, Any] = {"decoder_type": dkind}
    if steps_per_beat is not None:
        changes["steps_per_beat"] = steps_per_beat
    mc = _with(mc, name, **changes)

    # the architecture on the meta device: exact sizes, no memory
    enc_s, dec_s = _skeletons(mc, dkind)
    params, nbytes = _footprint([m for m in (enc_s, dec_s) if m is not None], mc)
    if nbytes > limit:
        size, most = megabytes(nbytes, limit)
        raise CheckpointError(f"{sentence_start(name)} describes a model of {params:,} parameters needing about "
                              f"{size} MB, more than this server's limit of {most} MB (set {MAX_MODEL_MB_ENV} to "
                              f"change it).")
    _check_compute(mc, dkind, name)
    try:
        _check_fits({k: tuple(v.shape) for k, v in enc_s.state_dict().items()}, shapes["encoder"], "encoder", name)
    except CheckpointError as e:
        if main.configured:
            raise
        raise CheckpointError(_unconfigured(name, shapes["encoder"], mc, str(e))) from e
    if dec_s is not None:
        _check_fits({k: tuple(v.shape) for k, v in dec_s.state_dict().items()}, shapes[dkind], "decoder", dname)

    if (mc.img_height, mc.in_chans) != (128, 1):  # it would load, then fail on the first roll it is given
        raise CheckpointError(f"{sentence_start(name)} was made for images of {mc.img_height} rows and "
                              f"{mc.in_chans} channel{'s' if mc.in_chans != 1 else ''}; a piano roll has 128 rows "
                              f"(one per MIDI pitch) and one channel.")

    # only now read the weights, check them, and allocate the model
    loaded: dict[int, dict] = {}
    weights = {}
    for part, src in sources.items():
        if id(src) not in loaded:
            loaded[id(src)] = src.load()
        weights[part] = loaded[id(src)][part]
        _check_finite(weights[part], part, src.name)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    enc = _fill(enc_s, weights.pop("encoder"), dev).eval()
    dec_m = _fill(dec_s, weights.pop(dkind), dev).eval() if dec_s is not None else None
    bundle = ModelBundle(encoder=enc, decoder=dec_m, config=mc.to_dict(), meta=main.meta,
                         source=str(path) if not isinstance(path, (bytes, bytearray, memoryview)) else name,
                         model_config=mc)
    _check_outputs(bundle, name, dname)
    return bundle


# beyond this size an embedding or a logit comes only from weights far outside anything trained: PCA and the
# similarity search square such values past float32's range
OUTPUT_LIMIT = 1e15


def _check_outputs(bundle: ModelBundle, name: str, dname: str) -> None:
    """One test window (a few notes) through the model: weights that are finite but huge give NaN, infinity or
    absurd values from the first layers on, and every view and the index would fail on them later, each its
    own way."""
    enc = bundle.encoder
    x = torch.zeros(1, 1, enc.grid_size[0] * enc.patch_h, enc.grid_size[1] * enc.patch_w, device=bundle.device)
    width = x.shape[-1]
    for k, pitch in enumerate((60, 64, 67, 72)):  # a chord's notes, one after another
        x[0, 0, pitch, k * width // 8:(k + 1) * width // 8] = 1.0

    def bad(t: torch.Tensor) -> bool:
        return not bool(torch.isfinite(t).all()) or float(t.abs().max()) > OUTPUT_LIMIT

    with torch.inference_mode():
        out = enc(x)
        if any(bad(lv.emb) for lv in out.patches.levels):
            raise CheckpointError(f"{sentence_start(name)} gives embeddings that are not finite numbers (or beyond "
                                  f"±{OUTPUT_LIMIT:.0e}) for a window of four notes: its encoder weights are too large "
                                  f"for 32-bit arithmetic, so the model's outputs would be meaningless.")
        if bundle.decoder is not None and bad(bundle.reconstruct(out)):
            raise CheckpointError(f"{sentence_start(dname)} gives a reconstruction that is not finite numbers (or "
                                  f"beyond ±{OUTPUT_LIMIT:.0e}) for a window of four notes: its decoder weights are "
                                  f"too large for 32-bit arithmetic, so its reconstructions would be meaningless.")

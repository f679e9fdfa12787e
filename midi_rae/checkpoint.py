"""Safe checkpoint loading and saving: the project's safetensors format and the original midi-rae format.

Nothing here ever unpickles freely: safetensors holds no code, and the original format's pickles
go through torch's weights-only unpickler with stand-ins for the OmegaConf classes they name, so
a file that asks to run code is refused before anything runs.
"""
from __future__ import annotations

import collections
import json
import pickle
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn as nn

from .core import EncoderOutput
from .swin import SwinDecoder, SwinEncoder, SwinMAEDecoder

from .checkpoint_meta import (ASSETS, DEFAULT_CHECKPOINT, DEFAULT_CONFIG, FORMAT,  # noqa: F401 (re-exported)
                              MAX_CHECKPOINT_BYTES, SEVEN_LEVEL_CONFIG, CheckpointError, header_config,
                              is_safetensors)


@dataclass
class ModelBundle:
    """What load_model returns: the encoder, an optional decoder, the config and training metadata."""

    encoder: SwinEncoder
    decoder: Optional[nn.Module]
    config: dict
    meta: dict = field(default_factory=dict)
    source: str = ""

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


def encoder_kwargs(cfg: dict) -> dict:
    """SwinEncoder keyword arguments from a config dict."""
    c = {**DEFAULT_CONFIG, **cfg}
    return dict(img_height=c["img_height"], img_width=c["img_width"], patch_h=c["patch_h"], patch_w=c["patch_w"],
                in_chans=c["in_chans"], embed_dim=c["embed_dim"], depths=tuple(c["depths"]),
                num_heads=tuple(c["num_heads"]), window_size=c["window_size"], mlp_ratio=c["mlp_ratio"],
                empty_mask_ratio=c["empty_mask_ratio"], drop_path_rate=c.get("drop_path_rate", 0.1))


def decoder_kwargs(cfg: dict) -> dict:
    """SwinDecoder keyword arguments from a config dict (decoder depths from dec_depths)."""
    c = {**DEFAULT_CONFIG, **cfg}
    return dict(img_height=c["img_height"], img_width=c["img_width"], patch_h=c["patch_h"], patch_w=c["patch_w"],
                embed_dim=c["embed_dim"], depths=tuple(c.get("dec_depths") or c["depths"]),
                num_heads=tuple(c["num_heads"]), window_size=c["window_size"], mlp_ratio=c["mlp_ratio"],
                drop_path_rate=c.get("drop_path_rate", 0.1))


def mae_decoder_kwargs(cfg: dict) -> dict:
    """SwinMAEDecoder keyword arguments from a config dict."""
    c = {**DEFAULT_CONFIG, **cfg}
    n = len(c["depths"])
    return dict(patch_size=c["patch_h"], dims=tuple(c["embed_dim"] * 2 ** (n - 1 - i) for i in range(n)))


def build_models(cfg: dict, decoder_type: Optional[str] = "swin") -> tuple[SwinEncoder, Optional[nn.Module]]:
    """Fresh encoder and decoder ('swin', 'mae' or None) for a config."""
    try:
        enc = SwinEncoder(**encoder_kwargs(cfg))
        dec = {"swin": lambda: SwinDecoder(**decoder_kwargs(cfg)), "mae": lambda: SwinMAEDecoder(**mae_decoder_kwargs(cfg)),
               None: lambda: None}[decoder_type]()
    except (ValueError, TypeError, KeyError, AssertionError, RuntimeError) as e:
        raise CheckpointError(f"The checkpoint's configuration does not describe a buildable model ({e}).") from e
    return enc, dec


# ---------------------------------------------------------------- the project's format


def save_checkpoint(path: str | Path, encoder: Optional[nn.Module], decoder: Optional[nn.Module], config: dict,
                    meta: Optional[dict] = None) -> Path:
    """Write weights (encoder.*, decoder.*) as safetensors with config and metadata as JSON."""
    from safetensors.torch import save_file

    tensors = {}
    for prefix, mod in (("encoder.", encoder), ("decoder.", decoder)):
        if mod is not None:
            mod = getattr(mod, "module", mod)  # unwrap DistributedDataParallel
            mod = getattr(mod, "_orig_mod", mod)  # and torch.compile
            for k, v in mod.state_dict().items():
                tensors[prefix + k] = v.detach().to("cpu").contiguous()
    cfg = {**config}
    if decoder is not None:
        cfg["decoder_type"] = "mae" if isinstance(getattr(decoder, "module", decoder), SwinMAEDecoder) else "swin"
    header = {"format": FORMAT, "config": json.dumps(cfg), "meta": json.dumps(meta or {})}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=header)
    tmp.replace(path)  # atomic: an interrupted save never leaves a half-written checkpoint
    return path


def _read_safetensors(data: bytes, name: str) -> tuple[dict[str, torch.Tensor], dict, dict]:
    from safetensors import SafetensorError
    from safetensors.torch import load as st_load

    _, cfg, info = header_config(data, name)
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, struct.error, UnicodeDecodeError) as e:
        raise CheckpointError(f"{name} looks like a safetensors file but is damaged or cut off.") from e
    return tensors, cfg, info


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
_SAFE_GLOBALS = ([(_Standin, n) for n in _OMEGACONF_NAMES]
                 + [(_TypeStandin, "typing.Any"), collections.defaultdict, collections.OrderedDict, dict, list,
                    int, float, str, tuple, set, bool])


def _plain(obj: Any) -> Any:
    """Turn unpickled OmegaConf stand-ins into plain dicts, lists and values."""
    if isinstance(obj, _Standin):
        state = obj.__dict__.get("_state", {})
        if isinstance(state, dict) and "_content" in state:
            return _plain(state["_content"])
        if isinstance(state, dict) and "_val" in state:
            return _plain(state["_val"])
        return None
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _read_torch_pickle(path_or_buf: Any, name: str) -> dict:
    import io

    try:
        with torch.serialization.safe_globals(_SAFE_GLOBALS):
            obj = torch.load(path_or_buf if not isinstance(path_or_buf, bytes) else io.BytesIO(path_or_buf),
                             map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        msg = str(e)
        culprit = ""
        for marker in ("Unsupported global: GLOBAL ", "unsupported GLOBAL ", "Trying to call reduce for "):
            if marker in msg:
                culprit = msg.split(marker, 1)[1].split()[0].strip(".,'\"")
        what = f" ('{culprit}')" if culprit else ""
        raise CheckpointError(f"Refused to load {name}: its pickle asks to run code or build an object{what} "
                              f"that a checkpoint never needs, so nothing from it was run.") from e
    except (RuntimeError, zipfile.BadZipFile, EOFError, OSError, KeyError, ValueError, struct.error) as e:
        raise CheckpointError(f"{name} is not a readable PyTorch checkpoint (damaged, cut off, or another kind "
                              f"of file).") from e
    if not isinstance(obj, dict):
        raise CheckpointError(f"{name} holds a {type(obj).__name__}, not a checkpoint dictionary.")
    return obj


def _original_config(raw: Any) -> dict:
    """Our flat config from the original code's {data, model, training} OmegaConf sections."""
    cfg = _plain(raw) or {}
    model, data, training = cfg.get("model") or {}, cfg.get("data") or {}, cfg.get("training") or {}
    out = {k: v for k, v in DEFAULT_CONFIG.items()}
    size = data.get("image_size", 128)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    out.update(img_height=h, img_width=w, in_chans=data.get("in_channels", 1))
    for k in ("patch_h", "patch_w", "embed_dim", "depths", "num_heads", "window_size", "mlp_ratio",
              "dec_depths", "drop_path_rate"):
        if model.get(k) is not None:
            out[k] = model[k]
    if model.get("dec_depths") is None:
        out["dec_depths"] = out["depths"]
    if training.get("empty_mask_ratio") is not None:
        out["empty_mask_ratio"] = training["empty_mask_ratio"]
    out["steps_per_beat"] = None  # the original format does not record its time resolution
    out["source_format"] = "original"
    return out


def _strip_prefix(sd: dict) -> dict:
    return {k.removeprefix("_orig_mod.").removeprefix("module."): v for k, v in sd.items()}


def _kind_of(sd: dict) -> str:
    """'encoder', 'swin' (SwinDecoder) or 'mae' (SwinMAEDecoder), from a state dict's keys."""
    keys = set(sd)
    if "patch_embed.weight" in keys:
        return "encoder"
    if any(k.startswith("upsamples.") for k in keys) or "head.weight" in keys:
        return "swin"
    if any(k.startswith("blocks.") for k in keys) and "proj.weight" in keys:
        return "mae"
    raise CheckpointError("The checkpoint's weights belong to no model this app knows (no encoder or decoder keys).")


# ---------------------------------------------------------------- loading


def _load_into(module: nn.Module, sd: dict, what: str, name: str) -> None:
    """Strict load with a message that names mismatched keys and shapes."""
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    wrong = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} shape mismatch(es) (file vs model), e.g. {'; '.join(wrong[:3])}")
        if missing:
            parts.append(f"{len(missing)} missing key(s), e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s), e.g. {', '.join(unexpected[:3])}")
        raise CheckpointError(f"The {what} weights in {name} do not fit the architecture of the encoder's "
                              f"configuration: {'; '.join(parts)}.")
    module.load_state_dict(sd, strict=True)


def _read_bytes(src: str | Path | bytes, name: str) -> bytes:
    if isinstance(src, (bytes, bytearray)):
        data = bytes(src)
    else:
        p = Path(src)
        if not p.is_file():
            raise CheckpointError(f"There is no checkpoint file at {p}.")
        if p.stat().st_size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(f"{name} is larger than the {MAX_CHECKPOINT_BYTES // 1024 ** 3} GB checkpoint limit.")
        data = p.read_bytes()
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{name} is larger than the {MAX_CHECKPOINT_BYTES // 1024 ** 3} GB checkpoint limit.")
    if not data:
        raise CheckpointError(f"{name} is empty.")
    return data


def read_checkpoint(src: str | Path | bytes, name: Optional[str] = None) -> tuple[dict[str, dict], dict, dict]:
    """Parts of a checkpoint file: ({'encoder'|'swin'|'mae': state_dict}, config, meta)."""
    name = name or (Path(src).name if not isinstance(src, (bytes, bytearray)) else "The uploaded checkpoint")
    data = _read_bytes(src, name)
    if is_safetensors(data):
        tensors, cfg, meta = _read_safetensors(data, name)
        parts: dict[str, dict] = {}
        enc = {k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")}
        dec = {k[len("decoder."):]: v for k, v in tensors.items() if k.startswith("decoder.")}
        if enc:
            parts["encoder"] = enc
        if dec:
            parts[cfg.get("decoder_type") or _kind_of(dec)] = dec
        if not parts and tensors:
            parts[_kind_of(tensors)] = tensors
        if not parts:
            raise CheckpointError(f"{name} holds no weights.")
        return parts, {**DEFAULT_CONFIG, **cfg}, meta
    if data[:2] == b"PK" or data[:1] == b"\x80":
        obj = _read_torch_pickle(data, name)
        sd = obj.get("model_state_dict", obj.get("state_dict"))
        if not isinstance(sd, dict) or not sd:
            raise CheckpointError(f"{name} has no 'model_state_dict' of weights.")
        sd = _strip_prefix(sd)
        meta = {k: obj[k] for k in ("epoch", "val_loss") if isinstance(obj.get(k), (int, float))}
        return {_kind_of(sd): sd}, _original_config(obj.get("config")), meta
    raise CheckpointError(f"{name} is neither a safetensors checkpoint nor an original midi-rae .pt checkpoint.")


def load_model(path: str | Path | bytes | None = None, decoder: str | Path | bytes | None = None,
               device: str | torch.device | None = None, steps_per_beat: Optional[int] = None) -> ModelBundle:
    """Load encoder (+ decoder) from one file or two, in eval mode; path=None loads the shipped default."""
    if path is None:
        if not DEFAULT_CHECKPOINT.is_file():
            raise CheckpointError(f"No default checkpoint is shipped yet (expected {DEFAULT_CHECKPOINT}); "
                                  f"pass a checkpoint path.")
        path = DEFAULT_CHECKPOINT
    parts, cfg, meta = read_checkpoint(path)
    name = Path(path).name if not isinstance(path, (bytes, bytearray)) else "the uploaded checkpoint"
    dname = name
    if decoder is not None:
        dname = Path(decoder).name if not isinstance(decoder, (bytes, bytearray)) else "the uploaded decoder"
        dparts, dcfg, _ = read_checkpoint(decoder, None if dname != "the uploaded decoder" else "The uploaded decoder")
        dkind = next((k for k in ("swin", "mae") if k in dparts), None)
        if dkind is None:
            raise CheckpointError("The decoder file holds no decoder weights.")
        parts[dkind] = dparts[dkind]
        parts.pop("swin" if dkind == "mae" else "mae", None)
        cfg["dec_depths"] = dcfg.get("dec_depths", cfg.get("dec_depths"))
    if "encoder" not in parts:
        raise CheckpointError(f"{name} holds only decoder weights; load it as the decoder beside an encoder checkpoint.")
    dkind = "swin" if "swin" in parts else "mae" if "mae" in parts else None
    if dkind == "swin":
        cfg["dec_depths"] = _infer_dec_depths(parts["swin"], cfg)
    if steps_per_beat is not None:
        cfg["steps_per_beat"] = steps_per_beat
    enc, dec = build_models(cfg, dkind)
    _load_into(enc, parts["encoder"], "encoder", name)
    if dec is not None:
        _load_into(dec, parts[dkind], "decoder", dname)
    cfg["decoder_type"] = dkind
    dev = torch.device(device) if device is not None else torch.device("cpu")
    enc.to(dev).eval()
    if dec is not None:
        dec.to(dev).eval()
    return ModelBundle(encoder=enc, decoder=dec, config=cfg, meta=meta,
                       source=str(path) if not isinstance(path, (bytes, bytearray)) else name)


def _infer_dec_depths(sd: dict, cfg: dict) -> list:
    """Decoder depths (finest->coarsest) from its block keys, falling back to the config's."""
    n = len(cfg["depths"])
    counts = [0] * n
    for k in sd:
        parts = k.split(".")
        if parts[0] == "stages" and len(parts) > 3 and parts[2] == "blocks":
            i, b = int(parts[1]), int(parts[3])
            if i < n:
                counts[i] = max(counts[i], b + 1)
    if not any(counts):
        return list(cfg.get("dec_depths") or cfg["depths"])
    fallback = list(reversed(cfg.get("dec_depths") or cfg["depths"]))
    counts[0] = counts[0] or fallback[0]  # the 1x1 stage has no blocks; keep the configured depth
    return list(reversed(counts))

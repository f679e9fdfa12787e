"""The model's whole configuration, typed and documented once, and everything derived from it.

Importable without torch: the dashboard reads a checkpoint's header, and lays out its controls from
the config in it, while torch is still loading. Checkpoints store `ModelConfig.to_dict()` as JSON;
`ModelConfig.from_dict` reads one back and refuses anything out of range before a model is built.
The level grids, each level's patch extent in steps and semitones, and the constructor arguments of
the models are derived here and nowhere else.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Mapping, Optional

__all__ = ["CheckpointError", "ModelConfig", "DEFAULT", "SEVEN_LEVEL", "LIMITS", "FORMAT", "ORIGINAL_FORMAT",
           "nesting_depth", "short_repr"]

FORMAT = "midi-rae/1"  # the project's safetensors format
ORIGINAL_FORMAT = "original"  # the original midi-rae code's pickled .pt files


class CheckpointError(ValueError):
    """A checkpoint that cannot be used, with one sentence saying why."""


# What a configuration may ask for. A checkpoint whose config lies outside these is refused before
# anything is built; together with the memory limit in checkpoint.py they bound what one file can cost.
LIMITS: dict[str, tuple[float, float]] = {
    "img_height": (1, 128),        # one row per MIDI pitch
    "img_width": (1, 1024),        # steps in one window
    "patch_h": (1, 128),
    "patch_w": (1, 1024),
    "in_chans": (1, 4),
    "embed_dim": (1, 1024),
    "levels": (1, 10),             # entries in depths, num_heads and dec_depths
    "depth": (0, 24),              # blocks in one stage
    "blocks": (0, 64),             # blocks in all stages of one model (encoder or decoder)
    "num_heads": (1, 64),
    "window_size": (1, 32),
    "mlp_ratio": (0.0, 16.0),      # exclusive of 0
    "empty_mask_ratio": (0.0, 1.0),
    "drop_path_rate": (0.0, 1.0),  # exclusive of 1
    "steps_per_beat": (1, 48),     # as training allows
}
MAX_CONFIG_DEPTH = 8  # nesting of a config's JSON or pickle: it is flat apart from its lists


def short_repr(value: Any, limit: int = 40) -> str:
    """A value for an error message: one line, at most `limit` characters."""
    if isinstance(value, (dict, list, tuple, set)) and not isinstance(value, str):
        kind = {dict: "a dictionary", list: "a list", tuple: "a list", set: "a set"}.get(type(value))
        if kind and (len(value) > 8 or nesting_depth(value, 3) > 2):
            return f"{kind} of {len(value):,} {'entry' if len(value) == 1 else 'entries'}"
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 (a hostile __repr__ must not escape)
        text = f"a {type(value).__name__}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def nesting_depth(obj: Any, limit: int) -> int:
    """How deeply dicts, lists and tuples nest in obj (a scalar is 0), counted without recursion.

    Stops counting at limit + 1, so a hostile object nested a million deep costs no more than one
    nested `limit` deep.
    """
    deepest = 0
    stack = [(obj, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple)))
    return deepest


def _sentence(name: str) -> str:
    """A file name at the start of a sentence ('the uploaded checkpoint' -> 'The uploaded checkpoint')."""
    return name[:1].upper() + name[1:] if name.startswith("the ") else name


def _bad(name: str, field: str, why: str) -> CheckpointError:
    return CheckpointError(f"{_sentence(name)} has an unusable configuration: {field} {why}.")


def _int(name: str, field: str, value: Any, lo: float, hi: float) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad(name, field, f"must be a whole number, not {short_repr(value)}")
    if not lo <= value <= hi:
        raise _bad(name, field, f"is {value:,}, outside the allowed range {lo:,}..{hi:,}")
    return value


def _float(name: str, field: str, value: Any, lo: float, hi: float, open_lo: bool = False,
           open_hi: bool = False) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _bad(name, field, f"must be a number, not {short_repr(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise _bad(name, field, f"must be a finite number, not {value}")
    if value < lo or value > hi or (open_lo and value == lo) or (open_hi and value == hi):
        lo_s, hi_s = ("(" if open_lo else "["), (")" if open_hi else "]")
        raise _bad(name, field, f"is {value:g}, outside the allowed range {lo_s}{lo:g}, {hi:g}{hi_s}")
    return value


def _ints(name: str, field: str, value: Any, lo: float, hi: float) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise _bad(name, field, f"must be a list of whole numbers, one per level, not {short_repr(value)}")
    n_lo, n_hi = LIMITS["levels"]
    if not n_lo <= len(value) <= n_hi:
        raise _bad(name, field, f"has {len(value):,} entries; a model has {n_lo:g} to {n_hi:g} levels")
    return tuple(_int(name, f"{field}[{i}]", v, lo, hi) for i, v in enumerate(value))


@dataclass(frozen=True)
class ModelConfig:
    """A hierarchical Swin V2 autoencoder's whole configuration (the spec's defaults).

    Args:
        img_height: Input image height in pixels: one row per MIDI pitch (128).
        img_width: Input image width in pixels: the steps in one window (128 = 32 beats at 4 steps per beat).
        patch_h: Patch height of the initial embedding, in pixels (semitones).
        patch_w: Patch width of the initial embedding, in pixels (steps).
        in_chans: Input channels (1 for a piano roll).
        embed_dim: Embedding dimension of the finest level; it doubles at each coarser level.
        depths: Encoder transformer blocks per stage, finest level first.
        num_heads: Attention heads per stage, finest level first (the decoder uses them reversed).
        window_size: Side of the windows that windowed attention attends within.
        mlp_ratio: Hidden width of each block's MLP as a multiple of its embedding dimension.
        dec_depths: SwinDecoder blocks per stage, finest level first like `depths`.
        empty_mask_ratio: Mask rate of empty patches relative to the mask ratio of non-empty ones.
        drop_path_rate: Stochastic depth rate (training only).
        steps_per_beat: Piano-roll steps per beat the model was trained on; None where the file does not say
            (the original format).
        decoder_type: The decoder stored with the encoder: 'swin' (SwinDecoder), 'mae' (SwinMAEDecoder) or None.
        source_format: The file format the config was read from: 'midi-rae/1' (safetensors) or 'original'.
    """

    img_height: int = 128
    img_width: int = 128
    patch_h: int = 4
    patch_w: int = 4
    in_chans: int = 1
    embed_dim: int = 8
    depths: tuple[int, ...] = (1, 2, 2, 6, 2, 1)
    num_heads: tuple[int, ...] = (1, 1, 2, 4, 8, 16)
    window_size: int = 8
    mlp_ratio: float = 4.0
    dec_depths: tuple[int, ...] = (1, 2, 2, 6, 2, 1)
    empty_mask_ratio: float = 0.05
    drop_path_rate: float = 0.1
    steps_per_beat: Optional[int] = 4
    decoder_type: Optional[str] = "swin"
    source_format: str = FORMAT

    DEFAULT: ClassVar["ModelConfig"]
    SEVEN_LEVEL: ClassVar["ModelConfig"]

    def __post_init__(self) -> None:
        for f in ("depths", "num_heads", "dec_depths"):  # lists given by hand become tuples (hashable, frozen)
            object.__setattr__(self, f, tuple(getattr(self, f)))

    # ------------------------------------------------------------ reading and writing

    @classmethod
    def from_dict(cls, d: Any, name: str = "the checkpoint") -> "ModelConfig":
        """A validated config from a checkpoint's config dict; missing fields take the spec's defaults.

        Raises CheckpointError, one sentence naming the file (`name`) and the field, for a wrong type, a
        value out of range (see LIMITS), lists of different lengths, or an architecture that cannot be built
        (a patch grid that does not halve down to 1x1 in `len(depths)` levels, heads that do not divide
        their level's dimension). Unknown fields are ignored.
        """
        if not isinstance(d, Mapping):
            what = ("a list" if isinstance(d, (list, tuple)) else "text" if isinstance(d, str) else
                    "empty (null)" if d is None else "a number" if isinstance(d, (int, float)) else
                    f"a {type(d).__name__}")
            raise CheckpointError(f"{_sentence(name)} has an unusable configuration: it is {what}, "
                                  f"not a set of named fields.")
        if nesting_depth(d, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH:
            raise CheckpointError(f"{_sentence(name)} has an unusable configuration: it nests deeper than "
                                  f"{MAX_CONFIG_DEPTH} levels.")
        base = DEFAULT
        L = LIMITS
        get = lambda k: d.get(k, getattr(base, k))  # noqa: E731 (None is refused where a value is needed)
        v: dict[str, Any] = {}
        for k in ("img_height", "img_width", "patch_h", "patch_w", "in_chans", "embed_dim", "window_size"):
            v[k] = _int(name, k, get(k), *L[k])
        v["depths"] = _ints(name, "depths", get("depths"), *L["depth"])
        n = len(v["depths"])
        v["num_heads"] = _ints(name, "num_heads", get("num_heads"), *L["num_heads"])
        dec = d.get("dec_depths")
        v["dec_depths"] = v["depths"] if dec is None else _ints(name, "dec_depths", dec, *L["depth"])
        v["mlp_ratio"] = _float(name, "mlp_ratio", get("mlp_ratio"), *L["mlp_ratio"], open_lo=True)
        v["empty_mask_ratio"] = _float(name, "empty_mask_ratio", get("empty_mask_ratio"), *L["empty_mask_ratio"])
        v["drop_path_rate"] = _float(name, "drop_path_rate", get("drop_path_rate"), *L["drop_path_rate"],
                                     open_hi=True)
        spb = d.get("steps_per_beat", base.steps_per_beat)
        v["steps_per_beat"] = None if spb is None else _int(name, "steps_per_beat", spb, *L["steps_per_beat"])
        kind = d.get("decoder_type", base.decoder_type)
        if kind not in ("swin", "mae", None):
            raise _bad(name, "decoder_type", f"must be 'swin', 'mae' or null, not {short_repr(kind)}")
        v["decoder_type"] = kind
        fmt = d.get("source_format", base.source_format)
        if fmt not in (FORMAT, ORIGINAL_FORMAT):
            raise _bad(name, "source_format", f"must be '{FORMAT}' or '{ORIGINAL_FORMAT}', not {short_repr(fmt)}")
        v["source_format"] = fmt

        # how the fields fit together
        for k in ("num_heads", "dec_depths"):
            if len(v[k]) != n:
                raise _bad(name, k, f"has {len(v[k])} entries but depths has {n}; each needs one per level")
        for k, total in (("depths", sum(v["depths"])), ("dec_depths", sum(v["dec_depths"]))):
            if total > L["blocks"][1]:
                raise _bad(name, k, f"asks for {total:,} blocks in all, more than the limit of {L['blocks'][1]:g}")
        for side, patch in (("img_height", "patch_h"), ("img_width", "patch_w")):
            if v[side] % v[patch]:
                raise _bad(name, patch, f"({v[patch]}) does not divide {side} ({v[side]})")
        rows, cols = v["img_height"] // v["patch_h"], v["img_width"] // v["patch_w"]
        if rows != cols or rows != 2 ** (n - 1):
            raise _bad(name, "depths", f"has {n} levels, but a {rows}x{cols} patch grid needs a square grid of "
                       f"2^(levels-1) patches a side to halve down to 1x1")
        for i, h in enumerate(v["num_heads"]):
            dim = v["embed_dim"] * 2 ** i
            if dim % h:
                raise _bad(name, f"num_heads[{i}]", f"({h}) does not divide that stage's dimension ({dim})")
        return cls(**v)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON-ready values (lists, not tuples), as checkpoints store it."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for k in ("depths", "num_heads", "dec_depths"):
            out[k] = list(out[k])
        return out

    def replace(self, **changes: Any) -> "ModelConfig":
        """A validated copy with some fields changed."""
        return type(self).from_dict({**self.to_dict(), **changes}, "the configuration")

    # ------------------------------------------------------------ derived, here and nowhere else

    @property
    def num_levels(self) -> int:
        """Levels in the hierarchy (= stages = len(depths))."""
        return len(self.depths)

    @property
    def grid_size(self) -> tuple[int, int]:
        """(rows, cols) of the finest patch grid."""
        return self.img_height // self.patch_h, self.img_width // self.patch_w

    @property
    def level_grids(self) -> list[tuple[int, int]]:
        """(rows, cols) of each level's patch grid, coarsest first (level 0 is 1x1 for a valid config)."""
        rows, cols = self.grid_size
        n = self.num_levels
        return [(max(1, rows >> (n - 1 - k)), max(1, cols >> (n - 1 - k))) for k in range(n)]

    def patch_extent(self, level: int) -> tuple[int, int]:
        """(steps, semitones) that one patch of `level` (0 = coarsest) covers."""
        if not -self.num_levels <= level < self.num_levels:
            raise IndexError(f"level {level} is outside 0..{self.num_levels - 1}")
        rows, cols = self.level_grids[level]
        return self.img_width // cols, self.img_height // rows

    @property
    def level_dims(self) -> list[int]:
        """Embedding dimension of each level, coarsest first."""
        n = self.num_levels
        return [self.embed_dim * 2 ** (n - 1 - k) for k in range(n)]

    @property
    def window_steps(self) -> int:
        """Piano-roll steps in one model window."""
        return self.img_width

    def encoder_kwargs(self) -> dict[str, Any]:
        """SwinEncoder keyword arguments."""
        return dict(img_height=self.img_height, img_width=self.img_width, patch_h=self.patch_h,
                    patch_w=self.patch_w, in_chans=self.in_chans, embed_dim=self.embed_dim,
                    depths=tuple(self.depths), num_heads=tuple(self.num_heads), window_size=self.window_size,
                    mlp_ratio=self.mlp_ratio, empty_mask_ratio=self.empty_mask_ratio,
                    drop_path_rate=self.drop_path_rate)

    def decoder_kwargs(self) -> dict[str, Any]:
        """SwinDecoder keyword arguments (its depths are dec_depths)."""
        return dict(img_height=self.img_height, img_width=self.img_width, patch_h=self.patch_h,
                    patch_w=self.patch_w, embed_dim=self.embed_dim, depths=tuple(self.dec_depths),
                    num_heads=tuple(self.num_heads), window_size=self.window_size, mlp_ratio=self.mlp_ratio,
                    drop_path_rate=self.drop_path_rate)

    def mae_decoder_kwargs(self) -> dict[str, Any]:
        """SwinMAEDecoder keyword arguments (it takes square patches only)."""
        if self.patch_h != self.patch_w:
            raise CheckpointError(f"A SwinMAEDecoder needs square patches, but this configuration has "
                                  f"{self.patch_h}x{self.patch_w} patches.")
        n = self.num_levels
        return dict(patch_size=self.patch_h, dims=tuple(self.embed_dim * 2 ** (n - 1 - i) for i in range(n)))


DEFAULT = ModelConfig()
SEVEN_LEVEL = ModelConfig(patch_h=2, patch_w=2, embed_dim=4, depths=(1, 1, 2, 2, 6, 2, 1),
                          num_heads=(1, 1, 1, 2, 4, 8, 16), dec_depths=(1, 1, 2, 2, 6, 2, 1))
ModelConfig.DEFAULT = DEFAULT
ModelConfig.SEVEN_LEVEL = SEVEN_LEVEL

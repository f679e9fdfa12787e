"""Fuzzing the two readers a stranger can reach: mutated MIDI files and hostile checkpoints.

    python -m midi_rae.fuzz [PATHS ...] [--count 10000] [--seed 0] [--json]
    python -m midi_rae.fuzz --checkpoints [--json]

The MIDI run mutates real files (byte flips, chunk-length lies, truncation, duplicated tracks,
huge delta times, note floods, absurd tempos, ...) and reads each through `midi_to_roll` then
`windows`, as the dashboard does. The checkpoint run builds 100+ crafted checkpoints of every kind
issue 11 lists (oversized configs, zip bombs, forged weight names, deep nesting, non-finite
weights, ...) and loads each through `peek_config` and `load_model`. Both report every exception
other than the documented one (MidiError, CheckpointError) as a crash, every input that takes more
than --slow seconds (a checkpoint: and more than 4 times the shipped default's own load in the same run, the
machine's pace), and the peak memory any one input took beyond the process's memory after
importing the package and loading the shipped default model (measured per input from Linux's
VmHWM, reset before each input). The exit status is 1 when there was a crash or a slow input.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import struct
import sys
import time
import traceback
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from .cli_types import int_at_least, positive

__all__ = ["main", "mutate", "run_midi_fuzz", "hostile_checkpoints", "run_checkpoint_fuzz", "Measured", "measure",
           "Hostile"]



# ---------------------------------------------------------------- measuring one input


def _status_mb(key: str) -> Optional[float]:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def _trim() -> None:
    """Give freed heap memory back to the system, so that the next input's peak shows as growth."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_mb() -> float:
    rss = _status_mb("VmRSS:")
    if rss is not None:
        return rss
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class Measured:
    """What one input did: its outcome (an exception type or 'ok'), message, seconds and peak memory."""

    outcome: str
    message: str
    seconds: float
    peak_mb: float  # peak RSS during the input minus RSS before it (ru_maxrss growth where /proc is missing)
    trace: str = ""


def measure(fn: Callable[[], Any], collect: bool = True) -> Measured:
    """Run fn once, timing it and measuring its peak memory above the memory before it."""
    if collect:
        import gc

        gc.collect()
    _trim()
    exact = _reset_peak()
    before = _rss_mb()
    if not exact:
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    outcome, message, trace = "ok", "", ""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (reporting every kind is the point)
        outcome, message = type(e).__name__, " ".join(str(e).split())
        trace = traceback.format_exc(limit=6)
    seconds = time.perf_counter() - t0
    if exact:
        peak = (_status_mb("VmHWM:") or before) - before
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    return Measured(outcome, message, seconds, max(0.0, peak), trace)


def _baseline() -> float:
    """RSS after importing the package (and torch) and loading the shipped default, the issue's yardstick."""
    from . import pianoroll  # noqa: F401
    from .checkpoint import load_model

    try:
        load_model()
    except Exception:  # noqa: BLE001 (no default shipped: the baseline is the imports alone)
        pass
    return _rss_mb()


# ---------------------------------------------------------------- MIDI mutations


def vlq(n: int) -> bytes:
    """n as a MIDI variable-length quantity (7 bits per byte, high bit set on all but the last)."""
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def _chunks(data: bytes) -> Optional[tuple[bytes, list[bytes]]]:
    """(header chunk, [track chunk bodies]) of a well-formed file, or None."""
    if not data.startswith(b"MThd") or len(data) < 14:
        return None
    hlen = struct.unpack(">L", data[4:8])[0]
    pos, tracks = 8 + hlen, []
    while pos + 8 <= len(data):
        length = struct.unpack(">L", data[pos + 4:pos + 8])[0]
        tracks.append(data[pos + 8:pos + 8 + length])
        pos += 8 + length
    return data[:8 + hlen], tracks


def _assemble(header: bytes, tracks: list[bytes], n_tracks: Optional[int] = None) -> bytes:
    n = len(tracks) if n_tracks is None else n_tracks
    header = header[:10] + struct.pack(">H", n & 0xFFFF) + header[12:]
    return header + b"".join(b"MTrk" + struct.pack(">L", len(t)) + t for t in tracks)


def _notes(n: int, rng: random.Random, dt: int = 10) -> bytes:
    body = bytearray()
    for i in range(n):
        p = rng.randrange(128)
        body += bytes([0, 0x90, p, 90]) if i == 0 else bytes([0, p, 90])
        body += vlq(dt) + bytes([p, 0])
    return bytes(body) + b"\x00\xff\x2f\x00"


def _track_edit(data: bytes, rng: random.Random, edit: Callable[[bytes], bytes]) -> bytes:
    parsed = _chunks(data)
    if not parsed or not parsed[1]:
        return data
    header, tracks = parsed
    i = rng.randrange(len(tracks))
    tracks[i] = edit(tracks[i])
    return _assemble(header, tracks)


def _replace_meta(data: bytes, marker: bytes, rng: random.Random, payload: Callable[[], bytes]) -> bytes:
    spots = [i for i in range(len(data)) if data.startswith(marker, i)]
    if not spots:
        return data
    i = rng.choice(spots) + len(marker)
    new = payload()
    return data[:i] + new + data[i + len(new):]


def _m_flip(d: bytes, r: random.Random) -> bytes:
    b = bytearray(d)
    for _ in range(r.randint(1, 20)):
        b[r.randrange(len(b))] = r.randrange(256)
    return bytes(b)


def _m_bits(d: bytes, r: random.Random) -> bytes:
    b = bytearray(d)
    for _ in range(r.randint(1, 8)):
        b[r.randrange(len(b))] ^= 1 << r.randrange(8)
    return bytes(b)


def _m_truncate(d: bytes, r: random.Random) -> bytes:
    return d[:r.randrange(len(d))]


def _m_chunk_length(d: bytes, r: random.Random) -> bytes:
    spots = [i for i in range(len(d)) if d.startswith(b"MTrk", i)]
    if not spots:
        return d
    i = r.choice(spots) + 4
    old = struct.unpack(">L", d[i:i + 4])[0]
    new = r.choice([0, 1, 3, old - 1, old + 1, old * 2, r.randrange(1 << 32), 0xFFFFFFFF, 0x7FFFFFFF])
    return d[:i] + struct.pack(">L", max(0, min(new, 0xFFFFFFFF))) + d[i + 4:]


def _m_header(d: bytes, r: random.Random) -> bytes:
    if len(d) < 14:
        return d
    field_at = r.choice([4, 8, 10, 12])
    width = 4 if field_at == 4 else 2
    value = r.choice([0, 1, 2, 3, 0x7FFF, 0x8000, 0xFFFF, r.randrange(1 << (8 * width))])
    return d[:field_at] + value.to_bytes(width, "big") + d[field_at + width:]


def _m_duplicate_tracks(d: bytes, r: random.Random) -> bytes:
    parsed = _chunks(d)
    if not parsed or not parsed[1]:
        return d
    header, tracks = parsed
    t = r.choice(tracks)
    k = r.choice([2, 10, 100, 500, 1000, 2500])
    k = max(1, min(k, (7 * 1024 * 1024) // (len(t) + 8)))
    tracks = tracks + [t] * k
    if header[8:10] == b"\x00\x00":
        header = header[:8] + b"\x00\x01" + header[10:]
    return _assemble(header, tracks[:0x7FFF])


def _m_huge_delta(d: bytes, r: random.Random) -> bytes:
    def edit(t: bytes) -> bytes:
        i = r.randrange(len(t) + 1)
        delta = r.choice([0x0FFFFFFF, 0x7FFFFF, 1 << 20, 10_000_000, 1 << 40])
        return t[:i] + vlq(delta) + t[i:]
    return _track_edit(d, r, edit)


def _m_insert(d: bytes, r: random.Random) -> bytes:
    def edit(t: bytes) -> bytes:
        i = r.randrange(len(t) + 1)
        return t[:i] + bytes(r.randrange(256) for _ in range(r.randint(1, 64))) + t[i:]
    return _track_edit(d, r, edit)


def _m_delete(d: bytes, r: random.Random) -> bytes:
    def edit(t: bytes) -> bytes:
        if not t:
            return t
        i = r.randrange(len(t))
        return t[:i] + t[i + r.randint(1, 64):]
    return _track_edit(d, r, edit)


def _m_tempo(d: bytes, r: random.Random) -> bytes:
    return _replace_meta(d, b"\xff\x51\x03", r, lambda: r.choice(
        [0, 1, 59_999, 60_000, 6_000_000, 6_000_001, 0xFFFFFF, r.randrange(1 << 24)]).to_bytes(3, "big"))


def _m_time_signature(d: bytes, r: random.Random) -> bytes:
    return _replace_meta(d, b"\xff\x58\x04", r, lambda: bytes(
        [r.choice([0, 1, 3, 7, 255]), r.choice([0, 1, 2, 3, 7, 31, 64, 255]), r.randrange(256), r.randrange(256)]))


def _m_key_signature(d: bytes, r: random.Random) -> bytes:
    return _replace_meta(d, b"\xff\x59\x02", r, lambda: bytes([r.randrange(256), r.randrange(256)]))


def _m_meta_length(d: bytes, r: random.Random) -> bytes:
    spots = [i for i in range(len(d) - 2) if d[i] == 0xFF and d[i + 1] < 0x80]
    if not spots:
        return d
    i = r.choice(spots) + 2
    return d[:i] + r.choice([b"\x7f", b"\x81\x00", b"\xff\xff\xff\x7f", b"\x8f\xff\xff\xff\xff\x7f"]) + d[i + 1:]


def _m_note_flood(d: bytes, r: random.Random) -> bytes:
    parsed = _chunks(d)
    if not parsed:
        return d
    header, tracks = parsed
    n = r.choice([1_000, 50_000, 74_000, 76_000, 300_000, 1_000_000])
    tracks = tracks + [_notes(n, r, dt=r.choice([0, 1, 10, 1000]))]
    if header[8:10] == b"\x00\x00":
        header = header[:8] + b"\x00\x01" + header[10:]
    return _assemble(header, tracks)


def _m_meta_flood(d: bytes, r: random.Random) -> bytes:
    kind = r.choice([b"\xff\x51\x03\x07\xa1\x20", b"\xff\x58\x04\x03\x02\x18\x08", b"\xff\x05\x03abc",
                     b"\xff\x59\x02\x00\x00", b"\xf0\x03\x7e\x7f\xf7"])
    n = r.choice([1_000, 14_000, 16_000, 100_000])
    dt = vlq(r.choice([0, 1, 480]))
    return _track_edit(d, r, lambda t: (dt + kind) * n + t)


def _m_splice(d: bytes, r: random.Random, others: list[bytes] = ()) -> bytes:
    parsed = _chunks(d)
    donor = _chunks(r.choice(others)) if others else None
    if not parsed or not donor or not donor[1]:
        return d
    header, tracks = parsed
    tracks.insert(r.randrange(len(tracks) + 1), r.choice(donor[1]))
    return _assemble(header, tracks)


def _m_running_status(d: bytes, r: random.Random) -> bytes:
    return _track_edit(d, r, lambda t: bytes([0, r.randrange(128), r.randrange(128)]) + t)


def _m_big_text(d: bytes, r: random.Random) -> bytes:
    size = r.choice([1_000, 100_000, 999_999, 1_000_001])
    return _track_edit(d, r, lambda t: b"\x00\xff\x01" + vlq(size) + b"x" * size + t)


def _m_empty_tracks(d: bytes, r: random.Random) -> bytes:
    parsed = _chunks(d)
    if not parsed:
        return d
    header, tracks = parsed
    k = r.choice([10, 1_000, 1_999, 2_001, 30_000])
    header = header[:8] + b"\x00\x01" + header[10:]
    return _assemble(header, tracks + [b""] * k)


def _m_overlaps(d: bytes, r: random.Random) -> bytes:
    n = r.choice([1_000, 70_000])
    body = b"\x00\x90\x3c\x40" + b"\x00\x3c\x40" * n + b"\x01\x80\x3c\x40\x00\xff\x2f\x00"
    return _track_edit(d, r, lambda t: body + t)


_MUTATIONS: dict[str, Callable[..., bytes]] = {
    "byte flips": _m_flip, "bit flips": _m_bits, "truncation": _m_truncate, "chunk-length lie": _m_chunk_length,
    "header lie": _m_header, "duplicated tracks": _m_duplicate_tracks, "huge delta time": _m_huge_delta,
    "inserted bytes": _m_insert, "deleted bytes": _m_delete, "tempo": _m_tempo,
    "time signature": _m_time_signature, "key signature": _m_key_signature, "meta-length lie": _m_meta_length,
    "note flood": _m_note_flood, "meta flood": _m_meta_flood, "spliced track": _m_splice,
    "running status": _m_running_status, "big text": _m_big_text, "empty tracks": _m_empty_tracks,
    "overlapping notes": _m_overlaps,
}
# the cheap, local ones are drawn more often than the floods
_WEIGHTS = {"byte flips": 6, "bit flips": 4, "truncation": 2, "chunk-length lie": 3, "header lie": 2,
            "inserted bytes": 3, "deleted bytes": 3, "tempo": 2, "time signature": 2, "key signature": 1,
            "meta-length lie": 2, "huge delta time": 2, "running status": 1, "spliced track": 1,
            "duplicated tracks": 1, "note flood": 1, "meta flood": 1, "big text": 1, "empty tracks": 1,
            "overlapping notes": 1}


def mutate(data: bytes, rng: random.Random, others: list[bytes] = ()) -> tuple[bytes, str]:
    """One to three stacked mutations of a MIDI file: (mutated bytes under 8 MB, what was done)."""
    from .pianoroll import MAX_MIDI_BYTES

    names = list(_WEIGHTS)
    done = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        name = rng.choices(names, weights=[_WEIGHTS[n] for n in names])[0]
        fn = _MUTATIONS[name]
        new = fn(data, rng, others) if name == "spliced track" else fn(data, rng)
        if new and len(new) <= MAX_MIDI_BYTES:
            data = new
            done.append(name)
    return data, " + ".join(done) or "none"


def midi_files(paths: Iterable[str | Path]) -> list[Path]:
    """The MIDI files named, or found (recursively) in the folders named."""
    from .pianoroll import MIDI_SUFFIXES

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(q for q in p.rglob("*") if q.suffix.lower() in MIDI_SUFFIXES and q.is_file())
        elif p.is_file():
            out.append(p)
    return out


def _read_midi(data: bytes, steps_per_beat: int) -> None:
    from .pianoroll import midi_to_roll, windows

    roll = midi_to_roll(data, steps_per_beat=steps_per_beat)
    windows(roll)


def run_midi_fuzz(files: list[Path], count: int = 10_000, seed: int = 0, slow_s: float = 2.0,
                  progress: Optional[Callable[[int, Measured], None]] = None, save: Optional[Path] = None) -> dict:
    """Read `count` mutations of `files`; a report of outcomes, crashes, slow inputs and peak memory."""
    import torch  # noqa: F401 (windows() needs it; imported before the baseline is taken)

    baseline = _baseline()
    seeds = [f.read_bytes() for f in files]
    if not seeds:
        raise SystemExit("error: no MIDI files to mutate.")
    rng = random.Random(seed)
    outcomes: dict[str, int] = {}
    crashes, slow = [], []
    slowest = {"seconds": 0.0}
    hungriest = {"peak_mb": 0.0}
    t_start = time.perf_counter()
    for i in range(count):
        k = rng.randrange(len(seeds))
        data, what = mutate(seeds[k], rng, seeds)
        spb = rng.choice([4, 4, 4, 8, 48])
        m = measure(lambda: _read_midi(data, spb), collect=i % 100 == 0)
        outcomes[m.outcome] = outcomes.get(m.outcome, 0) + 1
        info = {"index": i, "file": files[k].name, "mutation": what, "bytes": len(data), "steps_per_beat": spb,
                "outcome": m.outcome, "seconds": round(m.seconds, 3), "peak_mb": round(m.peak_mb, 1)}
        if m.outcome not in ("ok", "MidiError"):
            crashes.append({**info, "message": m.message, "trace": m.trace})
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                (save / f"crash_{i}.mid").write_bytes(data)
        if m.seconds > slow_s:
            slow.append(info)
        if m.seconds > slowest["seconds"]:
            slowest = {**info, "message": m.message[:200]}
        if m.peak_mb > hungriest["peak_mb"]:
            hungriest = {**info, "message": m.message[:200]}
        if progress:
            progress(i, m)
    return {"kind": "midi", "inputs": count, "seed": seed, "seed_files": [f.name for f in files],
            "outcomes": outcomes, "crashes": crashes, "slow": slow, "slow_threshold_s": slow_s,
            "slowest": slowest, "most_memory": hungriest, "peak_mb_beyond_baseline": hungriest["peak_mb"],
            "baseline_mb": round(baseline, 1), "wall_s": round(time.perf_counter() - t_start, 1)}


# ---------------------------------------------------------------- hostile checkpoints


@dataclass
class Hostile:
    """A crafted checkpoint: its name, the kind of attack, its bytes (and an optional decoder file)."""

    name: str
    kind: str
    data: bytes
    decoder: Optional[bytes] = None
    expect: str = "CheckpointError"  # or "ok" for the controls
    path: Optional[Path] = None  # read from disk instead of bytes (for size checks before reading)


def _safetensors(tensors: dict[str, tuple[str, list[int], bytes]], metadata: Any,
                 header_extra: Optional[dict] = None, raw_header: Optional[bytes] = None) -> bytes:
    """Hand-made safetensors bytes, so that anything (wrong types, lies) can be written."""
    header: dict[str, Any] = {}
    chunks, offset = [], 0
    for name, (dtype, shape, blob) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        chunks.append(blob)
        offset += len(blob)
    if metadata is not None:
        header["__metadata__"] = metadata
    header.update(header_extra or {})
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def _default_parts() -> tuple[dict, dict, bytes]:
    """(tensor table, metadata, data) of the shipped default checkpoint, or of a small fresh model."""
    from .checkpoint_meta import DEFAULT_CHECKPOINT

    if DEFAULT_CHECKPOINT.is_file():
        raw = DEFAULT_CHECKPOINT.read_bytes()
    else:
        from .checkpoint import build_models, save_checkpoint
        import tempfile

        enc, dec = build_models(_SMALL, "swin")
        with tempfile.TemporaryDirectory() as tmp:
            raw = save_checkpoint(Path(tmp) / "m.safetensors", enc, dec, _SMALL).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    return header, meta, raw[8 + n:]


def _rebuild(header: dict, meta: Any, data: bytes) -> bytes:
    tensors = {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
               for k, v in header.items()}
    return _safetensors(tensors, meta)


# small and fast, but a piano-roll model: 128 rows (a model for other images is refused when loaded)
_SMALL = {"img_height": 128, "img_width": 16, "patch_h": 32, "patch_w": 4, "embed_dim": 4, "depths": [1, 1, 1],
          "num_heads": [1, 1, 1], "dec_depths": [1, 1, 1], "window_size": 4, "mlp_ratio": 2.0}


def _deep_json(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def _small_state_dicts() -> tuple[dict, dict]:
    """A small encoder and SwinDecoder (3 levels) whose weights a .pt can hold, as plain state dicts."""
    from .checkpoint import build_models

    enc, dec = build_models(_SMALL, "swin")
    return enc.state_dict(), dec.state_dict()


def _pt(obj: Any) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _calling_a_shared_list(depth: int) -> bytes:
    """A pickle of a kilobyte that calls (REDUCE) a list nested `depth` deep, each level holding the one below
    twice: torch's unpickler, refusing the call, wrote the list's repr of 2**depth leaves into its message."""
    ops = b"\x80\x02]K\x01aq\x00"  # memo 0: [1]
    for i in range(1, depth + 1):  # memo i: [memo i-1, memo i-1]
        ops += b"](h" + bytes([i - 1]) + b"h" + bytes([i - 1]) + b"eq" + bytes([i])
    return ops + b")R."  # an empty tuple of arguments, REDUCE, STOP


def _shared_tuple(depth: int) -> bytes:
    """Pickle opcodes leaving on the stack a tuple nested `depth` deep, each level holding the one below twice
    (2**depth values by shared reference: hashing it, as a dict key or a persistent id, takes that long)."""
    ops = b"K\x01\x85q\x00"  # memo 0: (1,)
    for i in range(1, depth + 1):  # memo i: (memo i-1, memo i-1)
        ops += b"h" + bytes([i - 1]) + b"\x86q" + bytes([i])
    return ops


def _filled_late(depth: int) -> bytes:
    """A pickle that makes `depth` + 1 empty lists, then fills the outermost first with the one below twice, while
    that one is still empty, and passes the last to str() (an allowed global): 2**depth values by reference."""
    ops = b"\x80\x02" + b"".join(b"]q" + bytes([i]) for i in range(depth + 1))
    for i in range(depth, 0, -1):
        ops += b"h" + bytes([i]) + b"h" + bytes([i - 1]) + b"ah" + bytes([i - 1]) + b"a"
    return ops + b"cbuiltins\nstr\nh" + bytes([depth]) + b"\x85R."


def _looped_lists(depth: int) -> bytes:
    """A pickle whose lists loop through each other (W = [P], P = [W, R below], R = [W, P], `depth` times) and
    that passes the last R to str(): its repr writes the R below twice at each level, 2**depth in all, while a size
    kept from one path for another counted it 6 a level."""
    def put(i: int) -> bytes:
        return b"r" + struct.pack("<I", i)

    def get(i: int) -> bytes:
        return b"j" + struct.pack("<I", i)

    ops, below = b"\x80\x02", None
    for k in range(depth + 1):
        w, p, r = 3 * k, 3 * k + 1, 3 * k + 2
        ops += b"]" + put(w) + b"]" + put(p) + b"a" + get(p) + get(w) + b"a"  # W = [P]; P = [W
        ops += (get(below) if below is not None else b"K\x01") + b"a"  # , R below]
        ops += b"](" + get(w) + get(p) + b"e" + put(r)  # R = [W, P]
        below = r
    return ops + b"cbuiltins\nstr\n" + get(below) + b"\x85R."


def _renamed(data: bytes, suffix: str, new: str) -> bytes:
    """A .pt archive whose member ending in `suffix` is renamed to end in `new` instead."""
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for info in src.infolist():
            name = info.filename[:-len(suffix)] + new if info.filename.endswith(suffix) else info.filename
            z.writestr(name, src.read(info))
    return out.getvalue()


def _original_config(**model: Any) -> dict:
    return {"data": {"image_size": [128, 16], "in_channels": 1},
            "model": {k: v for k, v in {**{k: _SMALL[k] for k in ("patch_h", "patch_w", "embed_dim", "depths",
                                                                 "num_heads", "window_size", "mlp_ratio",
                                                                 "dec_depths")}, **model}.items()},
            "training": {"empty_mask_ratio": 0.05}}


def _rezip(data: bytes, replace: dict[str, bytes] = None, compress: Optional[int] = None,
           extra: Iterable[tuple[str, bytes]] = ()) -> bytes:
    """A .pt archive rewritten: some members replaced (by name suffix), optionally compressed, members added."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compress or zipfile.ZIP_STORED) as z:
        for info in src.infolist():
            body = src.read(info)
            for suffix, new in (replace or {}).items():
                if info.filename.endswith(suffix):
                    body = new
            z.writestr(info.filename, body)
        for name, body in extra:
            z.writestr(name, body)
    return out.getvalue()


def _patch_pickle(data: bytes, marker: str, opcodes: bytes) -> bytes:
    """Replace the pickled string `marker` (BINUNICODE) in a .pt's data.pkl with raw pickle opcodes."""
    src = zipfile.ZipFile(io.BytesIO(data))
    name = next(n for n in src.namelist() if n.endswith("data.pkl"))
    pkl = src.read(name)
    enc = marker.encode()
    needle = b"X" + struct.pack("<I", len(enc)) + enc
    assert needle in pkl, "marker not found in the pickle"
    return _rezip(data, {"data.pkl": pkl.replace(needle, opcodes, 1)})


def _nested_list_opcodes(depth: int) -> bytes:
    return b"]" * depth + b"a" * (depth - 1)  # EMPTY_LIST x depth, then APPEND each into the one before


def _zip_bomb_member(total: int) -> bytes:
    """A raw deflate stream of `total` zero bytes, built in 1 MB pieces (little memory)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(1 << 20)
    out = [c.compress(zero) for _ in range(total >> 20)]
    out.append(c.flush())
    return b"".join(out)


def _bomb_zip(inflated: int, name: str = "archive/data/0") -> bytes:
    """A zip whose one member inflates from a few MB to `inflated` bytes (its headers honest)."""
    raw = _zip_bomb_member(inflated)
    crc = 0
    zero = bytes(1 << 20)
    for _ in range(inflated >> 20):
        crc = zlib.crc32(zero, crc)
    fname = name.encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 45, 0, 8, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                        len(fname), 20) + fname + struct.pack("<HHQQ", 1, 16, inflated, len(raw))
    cd_off = len(local) + len(raw)
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 45, 45, 0, 8, 0, 0, crc, 0xFFFFFFFF,
                          0xFFFFFFFF, len(fname), 28, 0, 0, 0, 0, 0) + fname + struct.pack(
        "<HHQQQ", 1, 24, inflated, len(raw), 0)
    eocd = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), cd_off, 0)
    return local + raw + central + eocd


def _many_members_zip(n: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        for i in range(n):
            z.writestr(f"archive/data/{i}", b"\x00\x00\x00\x00")
    return out.getvalue()


def _forged_count_zip(entries: int) -> bytes:
    """A small zip whose end record (zip64) claims `entries` members."""
    base = _many_members_zip(1)
    eocd = base.rfind(b"PK\x05\x06")
    cd_size, cd_off = struct.unpack("<II", base[eocd + 12:eocd + 20])
    z64 = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, cd_size, cd_off)
    loc = struct.pack("<4sIQI", b"PK\x06\x07", 0, eocd, 1)
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    return base[:eocd] + z64 + loc + end


class _Payload:
    def __init__(self, fn: Any, arg: Any):
        self.fn, self.arg = fn, arg

    def __reduce__(self) -> tuple:
        return (self.fn, (self.arg,))


def hostile_checkpoints(small: bool = False, workdir: Optional[Path] = None) -> list[Hostile]:
    """The crafted checkpoints of issue 11 (100+; with small=True, the quick ones only, for tests).

    Every one must end in a CheckpointError of one sentence, except the controls (expect='ok').
    `workdir` (a folder) enables the cases that need a file on disk (a sparse 3 GB file).
    """
    import numpy as np
    import os as _os

    out: list[Hostile] = []
    header, meta, data = _default_parts()
    cfg = json.loads(meta.get("config", "{}"))

    def st(name: str, kind: str, config: Any = None, meta_: Any = None, hdr: Optional[dict] = None,
           dat: Optional[bytes] = None, raw_meta: Optional[dict] = None, expect: str = "CheckpointError") -> None:
        m = dict(meta) if raw_meta is None else raw_meta
        if raw_meta is None:
            if config is not None:
                m["config"] = config if isinstance(config, str) else json.dumps(config)
            if meta_ is not None:
                m["meta"] = meta_ if isinstance(meta_, str) else json.dumps(meta_)
        out.append(Hostile(name, kind, _rebuild(hdr if hdr is not None else header, m,
                                                 dat if dat is not None else data), expect=expect))

    # controls: these must load
    st(DEFAULT_CONTROL, "control", expect="ok")

    # -- configs whose values are out of range or of the wrong type
    bad_values = {
        "embed_dim": [256, 64, 4096, 0, -8, 8.5, "8", True, None, [8]],
        "mlp_ratio": [1e6, 1e3, 17, 0, -1, "4", None],
        "depths": [6, "6", [100_000, 2, 2, 6, 2, 1], [1, 2, 2, 6, 2, "x"], [], [1] * 11, [[1]] * 6, None,
                   [1.5, 2, 2, 6, 2, 1], [-1, 2, 2, 6, 2, 1], [24, 24, 24, 24, 24, 24]],
        "dec_depths": [[99_999, 2, 2, 6, 2, 1], 6, [1, 2, 3], "x"],
        "num_heads": [[0, 1, 2, 4, 8, 16], [1, 1, 2], [3, 3, 3, 3, 3, 3], [10 ** 9] * 6, 16],
        "patch_h": [0, -4, 3, 10 ** 9, "4"],
        "patch_w": [0, 5],
        "img_height": [0, 10 ** 6, "128", None, 129],
        "img_width": [10 ** 9, 0, 256],
        "window_size": [0, 10 ** 6, 33],
        "steps_per_beat": [10 ** 9, 0, -4, 4.5, "4", 49],
        "empty_mask_ratio": [2, -1, "x"],
        "drop_path_rate": [1.5, 1.0],
        "decoder_type": ["evil", 5],
        "in_chans": [10 ** 6, 0],
    }
    for key, values in bad_values.items():
        for v in values:
            st(f"config {key}={json.dumps(v)[:40]}", "config value", {**cfg, key: v})
    for v in ("NaN", "Infinity", "-Infinity", "1e999"):
        st(f"config mlp_ratio={v}", "config value", json.dumps({**cfg, "mlp_ratio": 0.5})
           .replace('"mlp_ratio": 0.5', f'"mlp_ratio": {v}'))
    # -- configs that are not a set of fields, or nest deeply
    st("config is the number 5 (metadata not text)", "config type", raw_meta={**meta, "config": 5})
    st("config is a JSON number", "config type", "5")
    st("config is a JSON list", "config type", "[1, 2]")
    st("config is a JSON string", "config type", '"hello"')
    st("config is JSON null", "config type", "null")
    st("config is damaged JSON", "config type", "{")
    st("config nested 200,000 deep", "deep nesting", _deep_json(200_000))
    st("config nested 1,000 deep in a field", "deep nesting", json.dumps({**cfg, "depths": 0})
       .replace('"depths": 0', '"depths": ' + _deep_json(1_000)))
    st("config with a deep extra field", "deep nesting", json.dumps({**cfg, "x": 0}).replace('"x": 0', '"x": '
                                                                                           + _deep_json(50)))
    st("config of a rectangular grid", "config value", {**cfg, "img_width": 256})
    # -- metadata
    st("meta nested 200,000 deep", "deep nesting", meta_=_deep_json(200_000))
    st("meta nested 100 deep", "deep nesting", meta_=_deep_json(100))
    st("meta threshold is text", "meta value", meta_={"threshold": "abc"})
    st("meta threshold is 5", "meta value", meta_={"threshold": 5})
    st("meta threshold is NaN", "meta value", meta_='{"threshold": NaN}')
    st("meta step is -1", "meta value", meta_={"step": -1})
    st("meta step is text", "meta value", meta_={"step": "x"})
    st("meta is a list", "meta value", meta_="[]")
    st("meta is damaged JSON", "meta value", meta_="{")
    # -- the header itself
    out.append(Hostile("header nested 200,000 deep", "deep nesting", _safetensors({}, None, raw_header=(
        b'{"a": ' + _deep_json(200_000).encode() + b"}"))))
    out.append(Hostile("header is a list", "header", _safetensors({}, None, raw_header=b"[1, 2, 3]")))
    out.append(Hostile("header is not JSON", "header", _safetensors({}, None, raw_header=b"{not json")))
    out.append(Hostile("header length lies (50 MB)", "header", struct.pack("<Q", 50 * 2 ** 20) + b"{}" + b" " * 100))
    out.append(Hostile("metadata value not text", "header", _rebuild(header, {**meta, "meta": {"a": 1}}, data)))
    n_big = 400_000 if not small else 200_000
    tiny = {f"encoder.t{i}": ("F32", [1], b"\x00\x00\x80\x3f") for i in range(n_big)}
    out.append(Hostile(f"{n_big:,} tiny tensors (header over 8 MB)", "tensor count",
                       _safetensors(tiny, {"config": json.dumps(cfg)})))
    tiny = {f"encoder.t{i}": ("F32", [1], b"\x00\x00\x80\x3f") for i in range(25_000)}
    out.append(Hostile("25,000 tiny tensors", "tensor count", _safetensors(tiny, {"config": json.dumps(cfg)})))
    # -- computation: weights of a few KB, but every window through a patch-1 grid of 128x128 tokens and the MAE
    # decoder's global attention over all of them (~140 billion operations a window; attention scores of 4 GB)
    heavy = {**cfg, "patch_h": 1, "patch_w": 1, "embed_dim": 4, "depths": [1] * 8, "dec_depths": [1] * 8,
             "num_heads": [1] * 8, "decoder_type": "mae"}
    one = ("F32", [1], b"\x00\x00\x80\x3f")
    out.append(Hostile("a patch-1 model with the MAE decoder (computation)", "computation",
                       _safetensors({"encoder.patch_embed.weight": one, "decoder.blocks.0.norm1.weight": one,
                                     "decoder.proj.weight": one}, {"config": json.dumps(heavy)})))
    some = next(iter(header))
    for label, entry in {
        "unknown dtype": {**header[some], "dtype": "X99"},
        "shape and size disagree": {**header[some], "shape": [10 ** 6]},
        "negative shape": {**header[some], "shape": [-1]},
        "shape of 10^12 values": {"dtype": "F32", "shape": [10 ** 6, 10 ** 6], "data_offsets": [0, 4 * 10 ** 12]},
        "offsets past the end": {"dtype": "F32", "shape": [2 ** 20],
                                 "data_offsets": [len(data), len(data) + 4 * 2 ** 20]},
        "entry is a list": [1, 2, 3],
    }.items():
        h = dict(header)
        h[some] = entry
        hdr_text = json.dumps({**h, "__metadata__": meta}).encode()
        out.append(Hostile(f"tensor entry: {label}", "tensor table", _safetensors({}, None, raw_header=hdr_text)
                           + data))
    # -- weights
    f32 = {k for k, v in header.items() if v["dtype"] == "F32"}
    for label, fill in (("NaN", np.nan), ("+Inf", np.inf), ("-Inf", -np.inf)):
        arr = np.frombuffer(data, dtype=np.float32).copy()
        arr[:] = fill
        st(f"all weights {label}", "non-finite weights", dat=arr.tobytes())
    arr = np.frombuffer(data, dtype=np.float32).copy()
    first = header[sorted(f32)[0]]["data_offsets"][0] // 4
    arr[first] = np.nan
    st("one NaN weight", "non-finite weights", dat=arr.tobytes())
    # finite weights, stored correctly, but so large that the model's arithmetic overflows on any window
    arr = np.frombuffer(data, dtype=np.float32).copy()
    arr *= np.float32(1e30)
    st("all weights finite but x1e30", "overflowing outputs", dat=arr.tobytes())
    arr = np.frombuffer(data, dtype=np.float32).copy()
    for k in sorted(f32):
        if k.startswith("decoder."):
            a, b = (o // 4 for o in header[k]["data_offsets"])
            arr[a:b] *= np.float32(1e30)
    st("decoder weights finite but x1e30", "overflowing outputs", dat=arr.tobytes())
    h = dict(header)
    h["encoder.extra"] = {"dtype": "F32", "shape": [2 ** 18], "data_offsets": [len(data), len(data) + 2 ** 20]}
    st("an extra 1 MB tensor", "weight names", hdr=h, dat=data + bytes(2 ** 20))
    h = {k: v for k, v in header.items() if k != "encoder.patch_embed.weight"}
    st("a missing tensor", "weight names", hdr=h)
    block = next(k for k in header if k.startswith("decoder.stages.1.blocks.0."))
    for label, new in (("block 99999", block.replace("blocks.0.", "blocks.99999.")),
                       ("block 'x'", block.replace("blocks.0.", "blocks.x.")),
                       ("block '1e5'", block.replace("blocks.0.", "blocks.1e5.")),
                       ("block '-1'", block.replace("blocks.0.", "blocks.-1.")),
                       ("non-ASCII block digit", block.replace("blocks.0.", "blocks.\u0661.")),
                       ("stage 10^20", block.replace("stages.1.", "stages.100000000000000000000.")),
                       ("block of 5000 digits", block.replace("blocks.0.", "blocks." + "9" * 5000 + "."))):
        h = dict(header)
        h[new] = h.pop(block)
        st(f"forged decoder weight name ({label})", "weight names", hdr=h)

    # -- the original format (.pt)
    enc_sd, dec_sd = _small_state_dicts()
    good = {"epoch": 1, "model_state_dict": enc_sd, "config": _original_config(), "val_loss": 0.1}
    out.append(Hostile("control: a small original-format encoder", "control", _pt(good), expect="ok"))
    out.append(Hostile("control: small original-format encoder and decoder", "control", _pt(good),
                       decoder=_pt({**good, "model_state_dict": dec_sd}), expect="ok"))
    for label, conf in (
            ("model section is a list", {**_original_config(), "model": [1, 2]}),
            ("model section is text", {**_original_config(), "model": "swin"}),
            ("data section is a list", {**_original_config(), "data": [16]}),
            ("image_size None", {**_original_config(), "data": {"image_size": None}}),
            ("image_size text", {**_original_config(), "data": {"image_size": "128"}}),
            ("image_size of three", {**_original_config(), "data": {"image_size": [16, 16, 16]}}),
            ("image_size 0", {**_original_config(), "data": {"image_size": 0}}),
            ("depths 6", _original_config(depths=6)),
            ("patch size 0", _original_config(patch_h=0, patch_w=0)),
            ("embed_dim 256", _original_config(embed_dim=256)),
            ("mlp_ratio 10^6", _original_config(mlp_ratio=1e6)),
            ("a stage of 100,000 blocks", _original_config(depths=[1, 100_000, 1])),
            ("config is 5", 5), ("config is a list", [1, 2]), ("config is text", "hello")):
        out.append(Hostile(f"original format: {label}", "original config", _pt({**good, "config": conf})))
    marker = "DEEP_CONFIG_MARKER"
    base = _pt({**good, "config": marker})
    for depth in (100_000, 40):
        out.append(Hostile(f"original format: pickled config nested {depth:,} deep", "deep nesting",
                           _patch_pickle(base, marker, _nested_list_opcodes(depth))))
    laughs: list = [1]
    for _ in range(30):  # a few hundred bytes of pickle: each level shares the one below twice
        laughs = [laughs, laughs]
    out.append(Hostile("original format: a config of 2^30 values by shared reference", "config size",
                       _pt({**good, "config": {**_original_config(), "training": laughs}})))
    nan_sd = {k: v.clone().fill_(float("nan")) if v.is_floating_point() else v for k, v in enc_sd.items()}
    out.append(Hostile("original format: all weights NaN", "non-finite weights",
                       _pt({**good, "model_state_dict": nan_sd})))
    import torch

    for label, weight in (("sparse", torch.zeros(enc_sd["patch_embed.weight"].shape).to_sparse()),
                          ("complex", torch.zeros(enc_sd["patch_embed.weight"].shape, dtype=torch.complex64)),
                          ("meta-device", torch.empty(enc_sd["patch_embed.weight"].shape, device="meta"))):
        out.append(Hostile(f"original format: a {label} weight", "weight form",
                           _pt({**good, "model_state_dict": {**enc_sd, "patch_embed.weight": weight}})))
    out.append(Hostile("original format: an epoch of 5,000 digits", "original config",
                       _pt({**good, "epoch": 10 ** 5000})))
    out.append(Hostile("original format: state dict of numbers", "original config",
                       _pt({**good, "model_state_dict": {"patch_embed.weight": 5}})))
    out.append(Hostile("original format: state dict is a list", "original config",
                       _pt({**good, "model_state_dict": [1, 2]})))
    out.append(Hostile("original format: not a dict", "original config", _pt([1, 2, 3])))
    dec_forged = {(k.replace("stages.1.blocks.0.", "stages.1.blocks.99999.") if k.startswith("stages.1.blocks.0.")
                   else k): v for k, v in dec_sd.items()}
    out.append(Hostile("original format: decoder file with a forged block 99999", "weight names", _pt(good),
                       decoder=_pt({**good, "model_state_dict": dec_forged})))
    big = {**enc_sd, "extra": torch.zeros(2 ** 24)}  # 64 MB of unexpected weights
    if not small:
        out.append(Hostile("original format: 64 MB of unexpected weights", "weight names",
                           _pt({**good, "model_state_dict": big})))
    # pickles that ask to run code
    for fn, arg in ((_os.system, "true"), (eval, "1"), (exec, "pass"), (getattr, "x")):
        out.append(Hostile(f"pickle payload {getattr(fn, '__name__', fn)}", "pickle payload",
                           _pt({**good, "config": _Payload(fn, arg)})))
    out.append(Hostile("legacy raw pickle", "pickle payload", b"\x80\x02}q\x00."))
    out.append(Hostile("pickle calls a list", "pickle payload",
                       _rezip(_pt({"a": 1}), {"data.pkl": _calling_a_shared_list(2)})))
    out.append(Hostile("pickle calls a self-sharing list 40 deep", "pickle payload",
                       _rezip(_pt({"a": 1}), {"data.pkl": _calling_a_shared_list(40)})))
    out.append(Hostile("str of lists filled after they were taken in, 40 deep", "pickle payload",
                       _rezip(_pt({"a": 1}), {"data.pkl": _filled_late(40)})))
    key = b"\x80\x02}q\x00" + _shared_tuple(40) + b"K\x00s"  # a dict keyed by 2^40 values, hashed at the SETITEM
    out.append(Hostile("the key hashed, then bytes that are no pickle", "pickle payload",
                       _rezip(_pt({"a": 1}), {"data.pkl": key + b"\xff"})))
    out.append(Hostile("the key hashed, then appends that tie its levels into loops", "pickle payload",
                       _rezip(_pt({"a": 1}), {"data.pkl": key + b"".join(b"h" + bytes([i - 1]) + b"h" + bytes([i])
                                                                         + b"a" for i in range(1, 41)) + b"."})))
    out.append(Hostile("str() of lists looped through each other, 24 deep", "pickle payload",
                       _rezip(_pt({"a": 1}), {"data.pkl": _looped_lists(24)})))
    out.append(Hostile("the same, its pickle named DATA.PKL", "pickle payload",
                       _renamed(_rezip(_pt({"a": 1}), {"data.pkl": _calling_a_shared_list(40)}), "data.pkl",
                                "DATA.PKL")))
    out.append(Hostile("a dict keyed by a self-sharing tuple 40 deep", "pickle payload",
                       _rezip(_pt({"a": 1}), {"data.pkl": b"\x80\x02}" + _shared_tuple(40) + b"K\x01s."})))
    out.append(Hostile("a persistent id holding a self-sharing tuple 40 deep", "pickle payload",
                       _rezip(_pt({"a": 1}), {"data.pkl": b"\x80\x02(X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
                                                          + _shared_tuple(40) + b"X\x03\x00\x00\x00cpuK\x01tQ."})))
    # archives: compression, sizes, counts
    base = _pt(good)
    out.append(Hostile("zip: compressed members", "zip bomb", _rezip(base, compress=zipfile.ZIP_DEFLATED)))
    out.append(Hostile("zip bomb: 64 MB member in a few KB", "zip bomb", _bomb_zip(64 << 20)))
    if not small:
        out.append(Hostile("zip bomb: 4 GB member in 4 MB", "zip bomb", _bomb_zip(4 << 30)))
    out.append(Hostile("zip: a 3 MB data.pkl", "zip sizes", _rezip(base, {"data.pkl": b"\x80\x02]q\x00("
                                                                         + b"K\x01" * (3 << 19) + b"e."})))
    out.append(Hostile("zip: 25,000 members", "tensor count", _many_members_zip(25_000)))
    if not small:
        out.append(Hostile("zip: 100,000 members", "tensor count", _many_members_zip(100_000)))
    out.append(Hostile("zip: end record claims 400,000 members", "tensor count", _forged_count_zip(400_000)))
    out.append(Hostile("zip: end records cut off", "zip sizes", base[:-30]))
    out.append(Hostile("zip: cut in half", "zip sizes", base[:len(base) // 2]))
    if not small:  # honest weights near and past the memory limit (128 MB unless MIDI_RAE_MAX_MODEL_MB says)
        from .checkpoint import build_models, save_checkpoint
        import tempfile

        for dim, expect in ((24, "ok"), (32, "CheckpointError")):
            big_cfg = {**cfg, "embed_dim": dim}
            enc, dec = build_models(big_cfg, "swin")
            with tempfile.TemporaryDirectory() as tmp:
                blob = save_checkpoint(Path(tmp) / "m.safetensors", enc, dec, big_cfg).read_bytes()
            del enc, dec
            out.append(Hostile(f"{'control: ' if expect == 'ok' else ''}honest weights of embed_dim {dim} "
                               f"({len(blob) / 2 ** 20:.0f} MB)", "control" if expect == "ok" else "memory limit",
                               blob, expect=expect))
    if workdir is not None and not small:
        sparse = Path(workdir) / "sparse_3gb.safetensors"
        with open(sparse, "wb") as f:
            f.write(_rebuild(header, meta, data)[:4096])
            f.truncate(3 * 2 ** 30)
        out.append(Hostile("a 3 GB (sparse) file", "file size", b"", path=sparse))
    return out


def _load_hostile(h: Hostile) -> None:
    from .checkpoint import load_model
    from .checkpoint_meta import peek_config

    from .checkpoint_meta import CheckpointError

    src: Any = h.path if h.path is not None else h.data
    peeked: Optional[Exception] = None
    try:
        peek_config(src)  # what the dashboard reads first, without torch
    except CheckpointError:
        pass
    except Exception as e:  # noqa: BLE001 (a crash of the header reader: reported even if loading refuses)
        peeked = e
    try:
        load_model(src, decoder=h.decoder)
    except Exception:
        if peeked is not None:
            raise peeked from None
        raise
    if peeked is not None:
        raise peeked


DEFAULT_CONTROL = "control: the shipped default"
SLOW_OVER_DEFAULT = 4  # an input is slow past --slow seconds and past this many times the shipped default's load


def run_checkpoint_fuzz(cases: Optional[list[Hostile]] = None, slow_s: float = 2.0,
                        progress: Optional[Callable[[Hostile, Measured], None]] = None,
                        workdir: Optional[Path] = None) -> dict:
    """Load every hostile checkpoint; a report of outcomes, crashes, slow inputs and peak memory."""
    baseline = _baseline()
    t_build = time.perf_counter()
    cases = hostile_checkpoints(workdir=workdir) if cases is None else cases
    build_s = time.perf_counter() - t_build
    held = _rss_mb()  # the inputs, made first and kept
    results, crashes = [], []
    t_start = time.perf_counter()
    for h in cases:
        m = measure(lambda: _load_hostile(h))
        expected = m.outcome == h.expect
        one_sentence = h.expect != "CheckpointError" or (m.message.endswith(".") and "\n" not in m.message)
        info = {"name": h.name, "kind": h.kind, "bytes": len(h.data) if h.path is None else h.path.stat().st_size,
                "expect": h.expect, "outcome": m.outcome, "message": m.message[:300],
                "seconds": round(m.seconds, 3), "peak_mb": round(m.peak_mb, 1)}
        results.append(info)
        if not expected or not one_sentence:
            crashes.append({**info, "trace": m.trace})
        if progress:
            progress(h, m)
    # the machine's pace, from the run itself: on a loaded machine the shipped default's own load took 2.3 s, and
    # every input past a fixed 2 s counted as slow
    pace = max((r["seconds"] for r in results if r["name"] == DEFAULT_CONTROL), default=0.0)
    threshold = max(slow_s, SLOW_OVER_DEFAULT * pace)
    slow = [r for r in results if r["seconds"] > threshold]
    slowest = max(results, key=lambda r: r["seconds"], default={})
    hungriest = max(results, key=lambda r: r["peak_mb"], default={})
    kinds: dict[str, int] = {}
    for h in cases:
        kinds[h.kind] = kinds.get(h.kind, 0) + 1
    return {"kind": "checkpoints", "inputs": len(cases), "kinds": kinds,
            "outcomes": {o: sum(r["outcome"] == o for r in results) for o in {r["outcome"] for r in results}},
            "crashes": crashes, "slow": slow, "slow_threshold_s": round(threshold, 3), "slowest": slowest,
            "most_memory": hungriest, "peak_mb_beyond_baseline": hungriest.get("peak_mb", 0.0),
            "baseline_mb": round(baseline, 1), "build_s": round(build_s, 1),
            "held_mb": round(held, 1),
            "wall_s": round(time.perf_counter() - t_start, 1), "results": results}


# ---------------------------------------------------------------- command line


def _summary(report: dict) -> str:
    lines = [f"{report['inputs']:,} {'mutated MIDI files' if report['kind'] == 'midi' else 'hostile checkpoints'}: "
             + ", ".join(f"{k} {v:,}" for k, v in sorted(report["outcomes"].items())),
             f"crashes (exceptions other than the documented one, or not one sentence): {len(report['crashes'])}"]
    for c in report["crashes"][:20]:
        lines.append(f"  {c.get('name') or c.get('mutation')} ({c.get('file', '')}): {c['outcome']}: "
                     f"{c['message'][:160]}")
    s = report["slowest"]
    lines.append(f"slow inputs (> {report['slow_threshold_s']:g} s): {len(report['slow'])}; slowest "
                 f"{s.get('seconds', 0):.2f} s ({s.get('name') or s.get('mutation', '')}"
                 f"{', ' + s['file'] if s.get('file') else ''})")
    h = report["most_memory"]
    lines.append(f"most memory one input took beyond what the process held before it: "
                 f"{report['peak_mb_beyond_baseline']:.0f} MB ({h.get('name') or h.get('mutation', '')}); the "
                 f"process held {report['baseline_mb']:.0f} MB after importing and loading the default"
                 + (f", {report['held_mb']:.0f} MB with the inputs made (they are made first and kept)"
                    if report.get("held_mb") else ""))
    lines.append(f"wall time {report['wall_s']:.0f} s")
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    """midi-rae fuzz: mutate MIDI files (or load hostile checkpoints) and report crashes, slow inputs, memory."""
    from .checkpoint_meta import ASSETS

    p = argparse.ArgumentParser(prog="midi-rae fuzz", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", help="MIDI files or folders to mutate (default: the bundled "
                                            "assets/examples)")
    p.add_argument("--count", type=int_at_least(1), default=10_000,
                   help="how many mutated files to read (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the mutations (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a summary")
    p.add_argument("--checkpoints", action="store_true",
                   help="load the 100+ hostile checkpoints instead of mutating MIDI files")
    p.add_argument("--slow", type=positive, default=2.0,
                   help="seconds past which an input counts as slow (default 2; a checkpoint must also take 4 times "
                        "the shipped default's own load in the run)")
    p.add_argument("--save", type=Path, default=None, help="a folder to write crashing MIDI inputs to")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    a = p.parse_args(argv)
    from .checkpoint import CheckpointError  # noqa: F401 (imports torch before the baseline)

    if a.checkpoints:
        import tempfile

        def tick(h: Hostile, m: Measured) -> None:
            if not a.quiet:
                print(f"{m.outcome:>16} {m.seconds:6.2f} s {m.peak_mb:7.1f} MB  {h.name}", file=sys.stderr)

        with tempfile.TemporaryDirectory() as tmp:
            report = run_checkpoint_fuzz(progress=tick, slow_s=a.slow, workdir=Path(tmp))
    else:
        from .file_limits import unmatched

        missing = [q for q in a.paths if not Path(q).exists()]
        if missing:
            print(f"error: {unmatched(Path(missing[0]))}.", file=sys.stderr)
            return 1
        files = [f for f in midi_files(a.paths or [ASSETS / "examples"]) if f.stat().st_size > 0]
        if not files:  # an empty file has no bytes to mutate
            print(f"error: no non-empty MIDI files found in {', '.join(map(str, a.paths)) or ASSETS / 'examples'}.",
                  file=sys.stderr)
            return 1

        def tick(i: int, m: Measured) -> None:
            if not a.quiet and (i + 1) % 500 == 0:
                print(f"{i + 1:,} / {a.count:,}", file=sys.stderr)

        report = run_midi_fuzz(files, a.count, a.seed, a.slow, progress=tick, save=a.save)
    if a.json:
        print(json.dumps(report, indent=1, default=str))
    else:
        print(_summary(report))
    return 1 if report["crashes"] or report["slow"] else 0


if __name__ == "__main__":
    sys.exit(main())

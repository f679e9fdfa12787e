"""Grayscale PNG piano-roll images (the original midi-rae's training data) as PianoRolls.

The original code trains on folders of PNG images, 128 pitch rows high, one column per step, binarized at
> 0.25 of full scale as its dataset class does. Its plots draw row 0 at the bottom, so row 0 is the lowest
pitch; `flip=True` reads images stored the other way up (row 0 = the highest pitch). An image carries no
tempo, metre or bars: the roll gets a nominal 120 BPM, 4/4 and the caller's steps per beat, and pages say
"steps only" for it (`PNG_NOTE`).
"""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Optional

import numpy as np

from .pianoroll import MAX_MIDI_BYTES, MAX_STEPS, MB, MIDI_SUFFIXES, MidiError, PianoRoll, midi_to_roll
from .wording import printable

__all__ = ["png_to_roll", "read_roll", "read_roll_once", "from_png", "roll_from_array", "holds_png", "PNG_SUFFIXES", "SOURCE_SUFFIXES", "PNG_NOTE",
           "is_png"]

PNG_SUFFIXES = (".png",)
PNG_INSTRUMENT = "PNG roll"  # the one instrument of a roll read from an image
SOURCE_SUFFIXES = MIDI_SUFFIXES + PNG_SUFFIXES  # what read_roll reads: MIDI files and PNG piano rolls
PNG_THRESHOLD = 0.25  # as the original dataset class binarizes
PNG_NOTE = "A PNG piano roll has no tempo or bars: places are named in steps (from 0)."
_MAGIC = b"\x89PNG\r\n\x1a\n"


def is_png(data: bytes) -> bool:
    """Do these bytes start like a PNG file?"""
    return bytes(data[:8]) == _MAGIC


def holds_png(source: bytes | str | Path) -> bool:
    """Are these bytes, or is this file, a PNG image (by the first bytes, not the name)? An unreadable path: no."""
    if not isinstance(source, (str, Path)):
        return is_png(source)
    try:
        if not Path(source).is_file():  # a pipe would block the open; the MIDI reader names what it is
            return False
        with open(source, "rb") as f:
            return is_png(f.read(8))
    except OSError:  # the MIDI reader then says what is wrong with the path, in one sentence
        return False


def read_roll(source: bytes | str | Path, steps_per_beat: int = 4, name: str | None = None,
              flip: bool = False, sustain_pedal: bool = False) -> PianoRoll:
    """A PianoRoll from a MIDI file or a PNG piano roll (bytes or a path), told apart by `holds_png`; a MidiError
    read from a path names its file. `sustain_pedal`: a MIDI file's pedal is applied (`midi_to_roll`)."""
    if not holds_png(source):
        return midi_to_roll(source, steps_per_beat=steps_per_beat, name=name, sustain_pedal=sustain_pedal)
    try:
        return png_to_roll(source, flip=flip, steps_per_beat=steps_per_beat, name=name)
    except MidiError as e:
        if e.file is None and isinstance(source, (str, Path)):
            e.file = Path(source).name
        raise


def from_png(roll: PianoRoll) -> bool:
    """Was `roll` read from a PNG image (whatever its file's name)?"""
    return roll.steps_only


def read_roll_once(early: Optional[PianoRoll], source: str | Path, steps_per_beat: int, flip: bool = False,
                   sustain_pedal: bool = False) -> PianoRoll:
    """`early` (the piece as the command line read it before loading the model) where it was read at
    `steps_per_beat`, else `source` read now."""
    if early is not None and early.steps_per_beat == steps_per_beat:
        return early
    return read_roll(source, steps_per_beat=steps_per_beat, flip=flip, sustain_pedal=sustain_pedal)


def png_to_roll(data: bytes | str | Path, flip: bool = False, steps_per_beat: int = 4,
                name: str | None = None) -> PianoRoll:
    """A (128, T) PianoRoll from a grayscale PNG (bytes or path); raises MidiError (one sentence) if unusable.

    Row 0 of the image is pitch 0 (the original's plots draw it at the bottom); `flip` reads row 0 as pitch 127.
    Pixels above 0.25 of full scale are notes; a note's onset is where a run of lit pixels starts.
    """
    default = "untitled"
    if isinstance(data, (str, Path)):
        p = Path(data)
        default = printable(p.stem)
        try:
            if p.stat().st_size > MAX_MIDI_BYTES:
                raise MidiError(f"The image is over {MAX_MIDI_BYTES // MB} MB, the limit.")
            data = p.read_bytes()
        except OSError as e:
            raise MidiError(f"The image '{p.name}' could not be read.") from e
    data = bytes(data)
    if not is_png(data):
        raise MidiError("This file is not a PNG image.")
    if len(data) > MAX_MIDI_BYTES:
        raise MidiError(f"The image is over {MAX_MIDI_BYTES // MB} MB, the limit.")
    from PIL import Image

    try:
        with warnings.catch_warnings():  # the width check below says it, in one sentence
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
        with image as im:
            w, h = im.size
            if h != 128:
                raise MidiError(f"A piano-roll image must be 128 pixels high (one row per pitch); this one is {h}.")
            if w < 1 or w > MAX_STEPS * steps_per_beat // 4:
                raise MidiError(f"The image is {w:,} pixels wide (one column per step); the limit is "
                                f"{MAX_STEPS * steps_per_beat // 4:,}.")
            if "A" in im.getbands() or "transparency" in im.info:  # a transparent pixel is no note, whatever its colour
                im = Image.alpha_composite(Image.new("RGBA", im.size, (0, 0, 0, 255)), im.convert("RGBA"))
            sixteen = im.mode.startswith("I")  # a 16-bit PNG: its full scale is 65535, however dark the image
            gray = np.asarray(im.convert("F") if im.mode in ("I", "I;16", "F") else im.convert("L"),
                              dtype=np.float32)
            full = 65535.0 if sixteen else 255.0
    except MidiError:
        raise
    except Image.DecompressionBombError as e:  # PIL refuses it before its size can be read
        raise MidiError("The image is far too large to be a piano roll (one is 128 pixels high and at most "
                        f"{MAX_STEPS * steps_per_beat // 4:,} wide).") from e
    except Exception as e:  # noqa: BLE001 (PIL raises many kinds for damaged files)
        raise MidiError("The PNG image is damaged and could not be read.") from e
    array = (gray / full > PNG_THRESHOLD).astype(np.uint8)
    if flip:
        array = array[::-1].copy()
    if not array.any():
        raise MidiError("The image has no lit pixels, so it holds no notes.")
    return roll_from_array(array, steps_per_beat, name or default, instrument=PNG_INSTRUMENT, steps_only=True)


def roll_from_array(array: np.ndarray, steps_per_beat: int, name: str, time_signature: tuple[int, int] = (4, 4),
                    instrument: str = "roll", steps_only: bool = False) -> PianoRoll:
    """A PianoRoll of a bare (128, T) binary array at 120 BPM: a note starts where a run of lit steps starts."""
    array = (np.asarray(array) > 0).astype(np.uint8)
    before = np.concatenate([np.zeros((128, 1), np.uint8), array[:, :-1]], axis=1)
    onsets = (array & (1 - before)).astype(np.uint8)
    T = array.shape[1]
    tempo = 120.0
    step_s = 60.0 / tempo / steps_per_beat
    lit = np.flatnonzero(array.any(axis=0))
    beats = -(-T // steps_per_beat)
    return PianoRoll(array=array, steps_per_beat=steps_per_beat, name=name,
                     duration_s=float((lit[-1] + 1 if len(lit) else 0) * step_s), tempo_bpm=tempo, beats=beats,
                     beat_times=np.arange(beats) * steps_per_beat * step_s, step_times=np.arange(T) * step_s,
                     time_signature=time_signature, onsets=onsets, n_notes=int(onsets.sum()),
                     instruments=[instrument], steps_only=steps_only)


def roll_to_png(array: np.ndarray, flip: bool = False) -> bytes:
    """A (128, T) binary roll as a grayscale PNG in the original's layout (row 0 = pitch 0 unless flip)."""
    from PIL import Image

    a = (np.asarray(array) > 0).astype(np.uint8) * 255
    if flip:
        a = a[::-1]
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a), mode="L").save(buf, format="PNG")
    return buf.getvalue()

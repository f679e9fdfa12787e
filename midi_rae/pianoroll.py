"""MIDI files <-> binary piano rolls on the file's own beat grid, and the model's input windows.

A roll is a (128, T) uint8 {0, 1} image: row = MIDI pitch (row 0 = pitch 0), column = step,
with `steps_per_beat` steps per beat. A parallel `onsets` image marks the step where each note
starts, so that repeated notes at one pitch stay separate. Every kind of unreadable input raises
`MidiError` with one sentence a musician can act on.
"""
from __future__ import annotations

import bisect

import hashlib
import io
import os
import warnings
import math
import struct
from collections import Counter
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Optional, TYPE_CHECKING

import mido
import numpy as np
import pretty_midi
from mido.midifiles.meta import _META_SPECS

from .file_limits import BROKEN_LINK, read_within
from .wording import a_number, counted, printable

if TYPE_CHECKING:
    import torch

__all__ = ["MidiError", "PianoRoll", "MAX_MIDI_BYTES", "MAX_MIDI_EVENTS", "MAX_MIDI_TRACKS", "MAX_STEPS",
           "MIN_BPM", "MAX_BPM", "MIN_TEMPO_US", "MAX_TEMPO_US", "midi_to_roll", "roll_to_midi", "midi_bytes",
           "window_at", "windows", "first_sounding_bar", "transpose", "bar_beat_label", "bar_span", "note_name",
           "MIDI_SUFFIXES"]

# Standard MIDI Files (.kar: with karaoke text; .rmi: one inside a RIFF wrapper), matched lower-case
MIDI_SUFFIXES = (".mid", ".midi", ".kar", ".rmi")
MB = 1_000_000  # a megabyte as browsers and Streamlit's uploader count it, so that the page and the core agree
MAX_MIDI_BYTES = 8 * MB
# Reading costs ~7 us per event (mido, then pretty_midi), so the events are counted in one cheap pass
# first and a file is refused as soon as it passes this: every file under MAX_MIDI_BYTES is decided
# in well under 2 s. A long, dense piano piece has ~50,000 events; a note is two.
MAX_MIDI_EVENTS = 150_000
# A controller change, pedal, pitch bend, aftertouch or program change costs a quarter of a note event: the reader
# only looks at them (0.4-0.9 us each, depending on their delta times), and a recorded piano performance holds ~10
# pedal values per note (a 20-minute one: 14,436 notes and 132,000 pedal values, read in 0.07 s); at a quarter the
# slowest file under MAX_MIDI_BYTES is still read within ~0.5 s.
_CONTROL_SHARE = 4
MAX_MIDI_TRACKS = 2_000  # each track costs like ~30 events however short it is
_TRACK_COST = 30
MAX_STEPS = 20_000  # longest roll at 4 steps per beat, i.e. 5,000 beats; scales with steps_per_beat
MIN_BPM, MAX_BPM = 10.0, 1000.0
# The tempo check is done in the file's own unit, microseconds per quarter note (whole numbers):
# 1000 BPM = 60,000 us and 10 BPM = 6,000,000 us, both allowed.
MIN_TEMPO_US, MAX_TEMPO_US = round(6e7 / MAX_BPM), round(6e7 / MIN_BPM)
_REFERENCE_STEPS_PER_BEAT = 4
_MAX_BEATS = MAX_STEPS // _REFERENCE_STEPS_PER_BEAT
# pretty_midi allocates one float per tick up to the last event and refuses files past this.
_PRETTY_MIDI_MAX_TICK = 10_000_000
_MIN_RESOLUTION = 96  # ticks per quarter note that a file too fine for that limit is coarsened to, at least
_COARSE_TICKS = 1_000_000  # about where such a file's last tick lands after coarsening
_WRITE_RESOLUTION = 480  # ticks per quarter note in files we write
_VELOCITY = 100
_ROUNDING_SLACK = 1e-6  # in steps: exact half steps carry float noise; always send them up


class MidiError(ValueError):
    """A MIDI input that cannot be turned into a piano roll; the message is one plain sentence, and `file` the
    name of the file it came from where it was read from a path (a command line names it)."""

    file: Optional[str] = None


@dataclass
class PianoRoll:
    """A binary piano roll with the timing it was read with.

    `array` is (128, T) uint8 of 0 and 1, row = MIDI pitch (C4 = 60), column = step (`steps_per_beat` to a beat of
    `time_signature`); `onsets` marks where notes start, so that repeated notes stay apart. `n_notes` counts the
    file's pitched notes, so a unison doubling counts twice though the roll holds it once (a round trip through
    roll_to_midi can give fewer). The comments beside each field say the rest."""

    array: np.ndarray  # (128, T) uint8 {0, 1}; row = MIDI pitch
    steps_per_beat: int
    name: str
    duration_s: float  # end of the last note in the roll
    tempo_bpm: float  # initial tempo, in quarter notes per minute as MIDI defines it
    beats: int  # beats the roll spans, ceil(T / steps_per_beat)
    beat_times: np.ndarray  # (beats,) seconds
    step_times: np.ndarray  # (T,) seconds at which each step starts
    time_signature: tuple[int, int]
    onsets: np.ndarray  # (128, T) uint8, 1 where a note starts
    n_notes: int
    instruments: list[str]
    grid_note: Optional[str] = None  # a sentence when the step grid cannot place the piece's notes
    metre_changes: int = 0  # time signatures after the first that differ from the one before (bars: time_signature)
    tempo_changes: int = 0  # tempos after the first that differ from the one before (tempo_bpm is the first)
    drum_notes: int = 0  # notes of drum tracks, left out of the roll
    ignored_metres: tuple[str, ...] = ()  # the file's time signatures the grid cannot count in ("99/4"), left out
    opening_time_signature: Optional[tuple[int, int]] = None  # the metre at step 0, where it is not time_signature
    pickup_steps: int = 0  # the length of an opening pickup (a metre of its own, shorter than a bar) drawn at bar 1's end
    metres: tuple[tuple[int, int], ...] = ()  # every time signature of the file, each once, in order of appearance
    opening_implied: bool = False  # the file's first time signature comes after the start: 4/4 is read before it
    reading_notes: tuple[str, ...] = ()  # what the reader did that the roll does not show, a sentence each
    pedal_presses: int = 0  # sustain pedal presses on the kept (pitched) channels
    sustain_pedal: bool = False  # read with the pedal applied (notes it holds sound until it lifts)
    source_sha1: str = ""  # SHA-1 of the MIDI file's bytes (a labelled chorale is known by it at any resolution)
    steps_only: bool = False  # a PNG roll: no tempo or bars of its own, so places are named in steps (`place`)

    @property
    def steps(self) -> int:
        """Number of steps T."""
        return int(self.array.shape[1])

    @property
    def beats_per_bar(self) -> int:
        """Beats in a bar, counted the way pretty_midi's beat grid counts them (6/8 has 2)."""
        return _beats_per_bar(self.time_signature)

    @property
    def steps_per_bar(self) -> int:
        """Steps in one bar of `time_signature` (the metre of most of the piece)."""
        return self.steps_per_beat * self.beats_per_bar

    @property
    def bars(self) -> float:
        """Length in bars (fractional)."""
        return self.steps / self.steps_per_bar

    def pitch_range(self) -> tuple[int, int]:
        """(lowest, highest) sounding MIDI pitch."""
        rows = np.flatnonzero(self.array.any(axis=1))
        if rows.size == 0:
            raise ValueError("The roll has no notes, so it has no pitch range.")
        return int(rows[0]), int(rows[-1])


# ---------------------------------------------------------------------------------------------
# Time signatures: pretty_midi's get_beats decides what "a beat" is, so we follow its rules.

def _beat_quarters(time_signature: tuple[int, int]) -> Fraction:
    """Length of one beat in quarter notes, as pretty_midi.get_beats counts beats."""
    numerator, denominator = time_signature
    if denominator not in (1, 2, 4, 8, 16, 32):
        return Fraction(1)  # pretty_midi falls back to quarter-note beats
    compound = numerator % 3 == 0 and numerator != 3
    return Fraction(4, denominator) * (3 if compound else 1)


_NOTE_VALUES = {Fraction(4): "whole note", Fraction(2): "half note", Fraction(1): "quarter note",
                Fraction(1, 2): "eighth note", Fraction(1, 4): "sixteenth note", Fraction(1, 8): "32nd note"}


def beat_name(time_signature: tuple[int, int]) -> str:
    """What one beat of the grid is, as pretty_midi counts beats: 4/4 "quarter note", 6/8 "dotted quarter note"."""
    q = _beat_quarters(time_signature)
    if q in _NOTE_VALUES:
        return _NOTE_VALUES[q]
    plain = q * Fraction(2, 3)
    return f"dotted {_NOTE_VALUES[plain]}" if plain in _NOTE_VALUES else f"{q} quarter notes"


def ignored_metres_text(roll: "PianoRoll") -> str:
    """The clause the header adds for time signatures left out ("" where none were)."""
    if not roll.ignored_metres:
        return ""
    which = ", ".join(roll.ignored_metres[:3]) + (" …" if len(roll.ignored_metres) > 3 else "")
    kind = "time signature" if len(roll.ignored_metres) == 1 else "time signatures"
    return f" (the file's {kind} {which} left out: no grid counts bars in it)"


def beat_quarters(time_signature: tuple[int, int]) -> float:
    """Length of one beat of the grid in quarter notes (6/8: 1.5)."""
    return float(_beat_quarters(time_signature))


def _beats_per_bar(time_signature: tuple[int, int]) -> int:
    """Beats per bar under pretty_midi's beat definition."""
    numerator, denominator = time_signature
    bar_quarters = Fraction(4 * numerator, denominator)
    return max(1, round(bar_quarters / _beat_quarters(time_signature)))


# ---------------------------------------------------------------------------------------------
# Reading and validating input

def _megabytes(n_bytes: int) -> str:
    """A size for a refusal: "10.4 MB", or in bytes where one decimal would read as the limit itself."""
    shown = f"{n_bytes / MB:.1f}"
    return f"{n_bytes:,} bytes" if float(shown) * MB <= MAX_MIDI_BYTES else f"{shown} MB"


def size_error(n_bytes: int) -> MidiError:
    """The refusal of a file of n_bytes, over MAX_MIDI_BYTES."""
    return MidiError(f"The file is {_megabytes(n_bytes)}; the limit is {MAX_MIDI_BYTES // MB} MB ({MAX_MIDI_BYTES:,} "
                     "bytes).")


def _read_path(path: Path) -> bytes:
    """Bytes of a file on disk, checking its size before reading it."""
    try:
        if not path.exists():
            raise MidiError(f"The file '{path.name}' is not a regular file ({BROKEN_LINK})."
                            if os.path.lexists(path) else f"The file '{path.name}' does not exist.")
        if path.is_dir():
            raise MidiError(f"'{path.name}' is a folder, not a MIDI file.")
        if not path.is_file():  # a device or a pipe: endless, or waiting for a writer
            raise MidiError(f"'{path.name}' is not a regular file.")
        data = read_within(path, MAX_MIDI_BYTES)
        if data is None:
            raise size_error(path.stat().st_size)
        return data
    except OSError as e:
        raise MidiError(f"The file '{path.name}' could not be read.") from e


def _input_bytes(source: str | Path | bytes) -> tuple[bytes, str]:
    """(data, default name) for a path or raw bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > MAX_MIDI_BYTES:
            raise size_error(len(data))
        return data, "untitled"
    if isinstance(source, (str, Path)):
        path = Path(source)
        return _read_path(path), printable(path.stem)  # a name as the file system gave it may not print
    raise TypeError(f"expected a path or bytes, got {type(source).__name__}")


def _riff_unwrapped(data: bytes) -> bytes:
    """The Standard MIDI File inside an RMID file (RIFF, form 'RMID', the file in its 'data' chunk); other bytes as
    they are."""
    if not (data.startswith(b"RIFF") and data[8:12] == b"RMID"):
        return data
    pos = 12
    while pos + 8 <= len(data):  # each chunk: id, little-endian size, payload padded to an even length
        size = struct.unpack("<L", data[pos + 4:pos + 8])[0]
        if data[pos:pos + 4] == b"data":
            return data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)
    raise MidiError("This RIFF MIDI (RMID) file holds no MIDI data.")


_SMPTE_RATES = {24: 24.0, 25: 25.0, 29: 29.97, 30: 30.0}  # frames per second as a header codes them (29: drop-frame)


def _smpte_as_beats(data: bytes) -> tuple[bytes, Optional[tuple[int, str]]]:
    """A file that counts time in SMPTE frames, as one counting in beats at 120 BPM (half a second a beat): its
    header's division rewritten to ticks per beat, and (the tempo every set_tempo is then read as, in microseconds
    per quarter note; the frame rate in words). Players ignore a SMPTE file's tempo events; this reader does so by
    setting them all to that tempo. Any other file as it is, with None."""
    if len(data) < 14 or not data.startswith(b"MThd") or not data[12] & 0x80:
        return data, None
    fps, per_frame = 256 - data[12], data[13]
    if fps not in _SMPTE_RATES or per_frame == 0:
        raise MidiError("This MIDI file counts time in SMPTE frames at a rate no standard uses, so it cannot be read.")
    per_second = _SMPTE_RATES[fps] * per_frame
    ppq = max(1, round(per_second / 2))
    tempo = round(1e6 * ppq / per_second)
    rate = f"{_SMPTE_RATES[fps]:g} frames a second, {per_frame} ticks each"
    return data[:12] + struct.pack(">H", ppq) + data[14:], (tempo, rate)


# file kinds a stranger may drop in a MIDI file's place, by their first bytes
_OTHER_KINDS = ((b"GIF87a", "a GIF image"), (b"GIF89a", "a GIF image"), (b"\xff\xd8\xff", "a JPEG image"),
                (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"), (b"BM", "a BMP image"),
                (b"PK\x03\x04", "a zip archive"), (b"%PDF", "a PDF document"), (b"fLaC", "a FLAC recording"),
                (b"ID3", "an MP3 recording"), (b"OggS", "an Ogg recording"))


def _other_kind(data: bytes) -> Optional[str]:
    """What a file that is not MIDI is, where its first bytes say so plainly; else None."""
    head = bytes(data[:12])
    if head[:4] == b"RIFF" and head[8:12] in (b"WAVE", b"WEBP"):
        return "a WAV recording" if head[8:12] == b"WAVE" else "a WebP image"
    return next((kind for magic, kind in _OTHER_KINDS if head.startswith(magic)), None)


def _check_header(data: bytes) -> tuple[int, int]:
    """Validate the MThd chunk cheaply; return (number of tracks, offset of the first track)."""
    if not data:
        raise MidiError("The file is empty.")
    if not data.startswith(b"MThd"):
        kind = _other_kind(data)
        if kind is not None:
            raise MidiError(f"This file is {kind}, not a MIDI file (nor a PNG piano roll, the one image this reader "
                            "takes).")
        raise MidiError("This file is not a MIDI file (it does not start with an 'MThd' header).")
    if len(data) < 14:
        raise MidiError("The MIDI file is cut off: it ends inside its header.")
    header_len, fmt, n_tracks, division = struct.unpack(">LHHH", data[4:14])
    if header_len < 6 or 8 + header_len > len(data):
        raise MidiError("The MIDI file's header is damaged.")
    if fmt > 2:
        raise MidiError(f"The MIDI file's header is damaged (it names an unknown format {fmt}).")
    if division & 0x8000:  # _smpte_as_beats turns these into beats first
        raise MidiError("This MIDI file counts time in SMPTE frames, which is not supported.")
    if division == 0:
        raise MidiError("The MIDI file's header is damaged (it sets zero ticks per beat).")
    if n_tracks == 0:
        raise MidiError("The MIDI file's header announces no tracks." if len(data) > 8 + header_len else
                        "The MIDI file has a header but no tracks.")
    if n_tracks > MAX_MIDI_TRACKS:
        raise MidiError(f"The MIDI file has {n_tracks:,} tracks; the limit is {MAX_MIDI_TRACKS:,}.")
    if fmt == 2 and n_tracks > 1:  # pretty_midi would lay the patterns over each other, as if played together
        raise MidiError(f"The MIDI file is in format 2: {n_tracks:,} patterns meant to be played one after another, "
                        "which is not supported (save it as format 0 or 1).")
    return n_tracks, 8 + header_len


MAX_ALIEN_CHUNKS = 1_000  # chunks of other kinds than MTrk a file may hold (each skipped unread)


def _check_chunks(data: bytes) -> list[tuple[int, int]]:
    """Walk the chunk headers (cheap) so that truncation is reported before any parsing; (start, end) per track.

    A chunk of another kind between the tracks (a name of four printable ASCII letters, as vendors add: the
    Standard MIDI File spec says a reader skips what it does not know) is stepped over; the header's track count
    counts only tracks."""
    n_tracks, offset = _check_header(data)
    spans: list[tuple[int, int]] = []
    aliens = 0
    while len(spans) < n_tracks:
        if offset >= len(data):
            if not spans:
                raise MidiError("The MIDI file has a header but no tracks.")
            raise MidiError("The MIDI file is cut off: it has fewer tracks than its header announces.")
        if len(data) - offset < 8:
            raise MidiError("The MIDI file is cut off: it ends in the middle of a track.")
        chunk_id, length = struct.unpack(">4sL", data[offset:offset + 8])
        if chunk_id != b"MTrk" and not all(0x20 < c < 0x7F for c in chunk_id):
            raise MidiError(f"The MIDI file is damaged: track {len(spans) + 1} does not start with an 'MTrk' "
                            f"marker.")
        if offset + 8 + length > len(data):
            raise MidiError("The MIDI file is cut off: it ends in the middle of a track.")
        if chunk_id == b"MTrk":
            spans.append((offset + 8, offset + 8 + length))
        else:
            aliens += 1
            if aliens > MAX_ALIEN_CHUNKS:
                raise MidiError(f"The MIDI file holds more than {MAX_ALIEN_CHUNKS:,} chunks that are not tracks, "
                                "the most this reader steps over.")
        offset += 8 + length
    return spans


# Data bytes after each status byte mido knows (0xF0/0xF7 sysex and 0xFF meta messages carry a length).
_DATA_BYTES = {**{s: 1 if 0xC0 <= s < 0xE0 else 2 for s in range(0x80, 0xF0)},
               0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0, 0xF8: 0, 0xFA: 0, 0xFB: 0, 0xFC: 0, 0xFE: 0}
_MIDO_MAX_MESSAGE = 1_000_000  # mido refuses a sysex or meta message longer than this
_META_COST = 10  # a meta event (tempo, time signature, text, ...) costs pretty_midi about ten notes' work


class _Event:
    """A meta event with mido's attribute names (as mido's own decoder fills them in), for pretty_midi."""


@dataclass
class _Instrument:
    """The notes of one (program, channel, track), paired the way pretty_midi pairs them, in ticks."""

    program: int
    is_drum: bool
    name: str
    pitches: list = field(default_factory=list)
    starts: list = field(default_factory=list)  # ticks
    ends: list = field(default_factory=list)  # ticks


_GM2_DRUMS, _XG_DRUMS = 120, 127  # bank-select MSBs of drum kits: GM2's percussion; XG's kits (after XG System On;
# Roland's GS has melodic MT-32 sounds at 127)
_XG_ON = bytes([0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00])  # XG System On, after F0 (the 0x10 nibble: device 0)
_SUSTAIN, _ALL_SOUND_OFF, _RESET_CONTROLLERS, _ALL_NOTES_OFF = 64, 120, 121, 123  # controller numbers
_ALL_OFF = (_ALL_SOUND_OFF, _ALL_NOTES_OFF)  # they end a channel's sounding notes
_PEDAL_DOWN = 64  # a sustain pedal value from which the pedal is down
# All Sound Off (silence) and Reset All Controllers (every controller to its rest) lift the pedal too


@dataclass
class _Reading:
    """What the reader did that the roll does not show, counted over every track."""

    zero_length: int = 0  # notes that end at the tick they start (left out)
    unended: int = 0      # note-ons no note-off closed, drawn to their key's next note-on, All Notes Off or track end
    pedal: int = 0        # sustain pedal presses (CC64 from up to down) on pitched channels
    sustained: bool = False  # the pedal was applied (`_sustain`)
    bends: int = 0        # pitch-bend messages away from the centre, left out
    clamped: tuple[int, ...] = ()  # tempos outside MIN_TEMPO_US..MAX_TEMPO_US as written (us per quarter note)
    smpte: str = ""       # the frame rate of a file that counts time in SMPTE frames (read at 120 BPM)
    xg: bool = False      # an XG System On message was read (bank 127 is then a drum kit)
    malformed: Optional[dict] = None  # meta events whose data do not fit their kind, left out: {kind: count}

    def notes(self) -> tuple[str, ...]:
        """Each count in one plain sentence, for the page's header and `inspect`."""
        def verb(n: int) -> str:
            return "is" if n == 1 else "are"

        out = []
        if self.smpte:
            out.append(f"The file counts time in SMPTE frames ({self.smpte}), not in beats: it is read at 120 BPM, "
                       "a beat every half second, so its beats and bars are the reader's, not the music's.")
        if self.unended:
            n = self.unended
            out.append(f"{counted(n, 'note')} with no note-off {verb(n)} drawn until {'its' if n == 1 else 'their'} "
                       "key is struck again, an All Notes Off or the end of the track.")
        if self.zero_length:
            n = self.zero_length
            out.append(f"{counted(n, 'note')} of no length (note-on and note-off at one tick) {verb(n)} left out.")
        if self.clamped:
            n = len(self.clamped)
            texts = list(dict.fromkeys("infinite" if t == 0 else f"{_format_bpm(t)} BPM" for t in self.clamped))
            shown = ", ".join(texts[:3]) + (f" and {len(texts) - 3:,} more" if len(texts) > 3 else "")
            out.append(f"{counted(n, 'tempo')} outside {MIN_BPM:g}–{MAX_BPM:,g} BPM ({shown}) {verb(n)} read as "
                       f"{'its' if n == 1 else 'the'} nearest limit.")
        if self.pedal and self.sustained:
            out.append(f"The sustain pedal is applied ({counted(self.pedal, 'press', 'presses')}): a note it holds "
                       "sounds until the pedal lifts or its key is struck again.")
        elif self.pedal:
            out.append(f"The sustain pedal is not applied ({counted(self.pedal, 'press', 'presses')}): notes are "
                       "drawn as long as their keys were held.")
        if self.bends:
            out.append(f"Pitch bends are left out ({counted(self.bends, 'pitch-bend message')}): notes are drawn at "
                       "their written pitch.")
        if self.malformed:
            n = sum(self.malformed.values())
            kinds = ", ".join(k.replace("_", " ") for k in sorted(self.malformed))
            out.append(f"{counted(n, 'meta event')} ({kinds}) whose data do not fit {'its' if n == 1 else 'their'} "
                       f"kind {verb(n)} left out, as players leave {'it' if n == 1 else 'them'}.")
        return tuple(out)


def _damaged() -> MidiError:
    return MidiError("The MIDI file is damaged: one of its tracks contains invalid data.")


def _too_many_events() -> MidiError:
    return MidiError(f"The MIDI file holds more than {MAX_MIDI_EVENTS:,} events (a note is two; a controller change, "
                     f"pedal or pitch bend counts a quarter; a tempo, text or other meta event counts {_META_COST}), "
                     f"the most this reader takes.")


def _varlen(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of a variable-length number; longer than 8 bytes is damage, not music."""
    b = data[pos]
    pos += 1
    value, n = b & 0x7F, 1
    while b & 0x80:
        b = data[pos]
        pos += 1
        value, n = (value << 7) | (b & 0x7F), n + 1
        if n > 8:
            raise _damaged()
    return value, pos


def _read_track(data: bytes, pos: int, end: int, budget: int, track_idx: int,
                instruments: dict, reading: _Reading, pedals: list) -> tuple[list, int, int, dict]:
    """Read one track chunk by mido's rules: (meta events at absolute ticks, budget left, last tick,
    {channel: tick of its last controller or pitch bend}); notes go into `instruments`, counts into `reading`, the
    sustain pedal's values on pitched channels into `pedals` as (tick, channel, down).

    Notes are paired as pretty_midi pairs them (a note-off closes every open note-on of its channel
    and pitch from an earlier tick; instruments are keyed by program, channel and track, created at
    their first closed note and named after the track name seen so far), with two differences. A note-on that
    nothing closes (pretty_midi drops it) sounds until its key's next note-on, its channel's next All Notes (or
    Sound) Off, or the end of its track, unless only the track's end would end it and a note-off of its key came
    just before it at its own tick: that is a note of no length, as writers that sort note-offs first store one
    (music21 writes grace notes so). And a channel whose program change came after a drum kit's bank select (GM2's
    120, or XG's 127 after XG System On) is drums, as channel 10 is. Every event is paid for from `budget` as it is
    read (in quarters: a note event 4, a controller 1, a meta event 4 * _META_COST), and reading stops with a
    MidiError the moment it runs out: a dense file costs no more than MAX_MIDI_EVENTS events.
    """
    metas: list = []
    tick, running = 0, -1
    open_notes: dict[int, list[int]] = {}  # (channel << 7 | pitch) -> start ticks
    program = [0] * 16
    bank = [0] * 16      # the bank each channel's last program change selected (a synth applies a bank select then)
    selected = [0] * 16  # bank-select MSBs sent, waiting for a program change
    name = ""
    controls: dict[int, int] = {}
    last_off: dict[int, int] = {}  # (channel << 7 | pitch) -> tick of its last note-off
    after_off: set[tuple[int, int]] = set()  # (key, tick) of note-ons that came after a note-off of theirs at one tick
    all_off: list[list[int]] = [[] for _ in range(16)]  # ticks of each channel's All Notes / Sound Off
    data_bytes = _DATA_BYTES
    try:
        while pos < end:
            b = data[pos]  # the delta time, inline (the common one-byte case)
            pos += 1
            if b & 0x80:
                delta, pos = _varlen(data, pos - 1)
            else:
                delta = b
            tick += delta
            status = data[pos]
            pos += 1
            if status < 0x80:  # running status: this byte was the first data byte
                if running < 0:
                    raise _damaged()
                d0, status = status, running
                need = data_bytes.get(status, 0) - 1
                if status >= 0xF0 and status != 0xF0 and status != 0xF7 and need < 0:
                    raise _damaged()
            elif status == 0xFF:
                meta_type = data[pos]
                size, pos = _varlen(data, pos + 1)
                if pos + size > end:
                    raise _damaged()
                if size > _MIDO_MAX_MESSAGE:  # the size mido's decoders take; a text that long is no music
                    raise MidiError(f"The MIDI file holds a meta event (text, lyrics, a name…) of {size / 1e6:.1f} "
                                    f"MB; this reader takes them up to {_MIDO_MAX_MESSAGE / 1e6:g} MB.")
                payload = list(data[pos:pos + size])
                pos += size
                budget -= _META_COST * _CONTROL_SHARE
                if budget < 0:
                    raise _too_many_events()
                event = _Event()
                spec = _META_SPECS.get(meta_type)
                if spec is None:
                    event.type, event.type_byte, event.data = "unknown_meta", meta_type, tuple(payload)
                else:
                    event.type = spec.type
                    try:
                        spec.decode(event, payload)  # mido's own decoding
                    except Exception:  # noqa: BLE001 - IndexError, KeySignatureError, ...: data that do not fit
                        reading.malformed = reading.malformed or {}
                        reading.malformed[spec.type] = reading.malformed.get(spec.type, 0) + 1
                        continue  # left out, as players leave a tempo of two bytes or a key of 100 sharps
                    if event.type == "track_name":
                        name = event.name
                event.time = tick
                metas.append(event)
                if meta_type == 0x2F:  # End of Track: what follows in the chunk is no part of it, to a player
                    pos = end
                    break
                continue
            else:
                running = status
                if status == 0xF0 or status == 0xF7:
                    d0 = -1
                else:
                    need = data_bytes.get(status, -1)
                    if need < 0:
                        raise _damaged()
                    if need:
                        d0 = data[pos]
                        pos += 1
                        need -= 1
                        if d0 > 127:
                            raise _damaged()
            budget -= 1 if 0xA0 <= status < 0xF0 else _CONTROL_SHARE  # a controller, bend, ... costs a quarter
            if budget < 0:
                raise _too_many_events()
            if status == 0xF0 or status == 0xF7:  # sysex (mido drops a running-status byte before one)
                size, pos = _varlen(data, pos)
                if pos + size > end:  # stepped over unread, whatever its size, unless it runs past its track
                    raise _damaged()
                if data[pos:pos + len(_XG_ON)] == _XG_ON:
                    reading.xg = True
                pos += size
                continue
            if status >= 0xF0:  # system messages: nothing pretty_midi reads
                if need > 0:
                    if data[pos] > 127 or (need == 2 and data[pos + 1] > 127):
                        raise _damaged()
                    pos += need
                continue
            kind, channel = status & 0xF0, status & 0x0F
            if need:
                d1 = data[pos]
                pos += 1
                if d1 > 127:
                    raise _damaged()
            if kind == 0x90 and d1 > 0:
                key = channel << 7 | d0
                if last_off.get(key) == tick:
                    after_off.add((key, tick))
                starts = open_notes.get(key)
                if starts is None:
                    open_notes[key] = [tick]
                else:
                    starts.append(tick)
            elif kind == 0x80 or kind == 0x90:
                key = channel << 7 | d0
                starts = open_notes.get(key)
                if starts is not None:
                    closed = [t for t in starts if t != tick]
                    if closed:
                        _add_notes(instruments, program[channel], _is_drum(channel, bank[channel], reading),
                                   channel, track_idx, name, d0, closed, [tick] * len(closed))
                    kept = [t for t in starts if t == tick]
                    if closed and kept:
                        open_notes[key] = kept
                    else:
                        del open_notes[key]
                        if kept and not _is_drum(channel, bank[channel], reading):  # on and off at one tick: dropped
                            reading.zero_length += len(kept)
                last_off[key] = tick
            elif kind == 0xC0:
                program[channel] = d0
                bank[channel] = selected[channel]
            elif kind == 0xB0 or kind == 0xE0:
                controls[channel] = tick
                if kind == 0xB0 and d0 == 0:
                    selected[channel] = d1
                elif kind == 0xB0 and d0 in _ALL_OFF:
                    all_off[channel].append(tick)
                    if d0 == _ALL_SOUND_OFF and not _is_drum(channel, bank[channel], reading):
                        pedals.append((tick, channel, False))  # silence: what the pedal held ends there
                elif not _is_drum(channel, bank[channel], reading):  # what the drawn notes do not show
                    if kind == 0xB0 and d0 == _RESET_CONTROLLERS:
                        pedals.append((tick, channel, False))  # the pedal is reset to up
                    elif kind == 0xE0:
                        reading.bends += (d0 | d1 << 7) != 0x2000
                    elif d0 == _SUSTAIN:
                        pedals.append((tick, channel, d1 >= _PEDAL_DOWN))
    except IndexError:
        raise MidiError("The MIDI file is cut off: it ends in the middle of a track.") from None
    except MidiError:
        raise
    except Exception as e:  # mido's meta decoding: KeySignatureError, KeyError, UnicodeDecodeError, ...
        raise _damaged() from e
    if pos > end:  # the last event runs past its track's end
        raise _damaged()
    for key, starts in open_notes.items():  # note-ons nothing closed
        channel = key >> 7
        drum = _is_drum(channel, bank[channel], reading)
        starts = sorted(starts)
        offs = all_off[channel]  # in tick order: found by bisection (a scan per note was minutes on a small file)
        # each sounds until its key's next note-on, the channel's next All Notes Off, or the track's end; one that
        # followed a note-off of its key at its own tick and that nothing else ends is a note of no length
        later = [bisect.bisect_right(offs, s) for s in starts]  # the first All Notes Off after each start
        ends = [min(nxt, offs[i]) if i < len(offs) else nxt for i, nxt in zip(later, starts[1:] + [tick])]
        sound = [(s, e) for s, e, i in zip(starts, ends, later)
                 if e > s and not (e == tick and (key, s) in after_off and i == len(offs))]
        if not drum:
            reading.zero_length += len(starts) - len(sound)
            reading.unended += len(sound)
        if sound:
            _add_notes(instruments, program[channel], drum, channel, track_idx, name, key & 127,
                       [s for s, _ in sound], [e for _, e in sound])
    return metas, budget, tick, controls


def _is_drum(channel: int, bank: int, reading: _Reading) -> bool:
    """Is a channel on this bank a drum kit: channel 10, GM2's percussion bank, or XG's drum bank after XG On?"""
    return channel == 9 or bank == _GM2_DRUMS or (bank == _XG_DRUMS and reading.xg)


def _add_notes(instruments: dict, prog: int, drum: bool, channel: int, track_idx: int, name: str, pitch: int,
               starts: list[int], ends: list[int]) -> None:
    """Notes of one pitch (ticks) into the instrument of (program, channel, track)."""
    inst = instruments.get((prog, channel, track_idx))
    if inst is None:
        inst = instruments[(prog, channel, track_idx)] = _Instrument(prog, drum, name)
    inst.pitches += [pitch] * len(starts)
    inst.starts += starts
    inst.ends += ends


@dataclass
class _Parsed:
    mid: mido.MidiFile  # the meta events only, for pretty_midi's tempo map and time signatures
    instruments: list[_Instrument]
    last_tick: int
    end_tick: int  # the last note end, or controller of a (channel, track) with notes, as pretty_midi counts
    ignored_metres: tuple[str, ...] = ()  # time signatures left out (`_unusable_metre`), each once, as written
    reading: _Reading = field(default_factory=_Reading)  # what the roll will not show (`_Reading.notes`)


_PLACING_EVENTS = ("set_tempo", "time_signature", "key_signature")  # the meta events whose times the roll uses
MAX_METRE = 64  # the largest numerator a time signature is read with
MAX_METRE_DENOMINATOR = 32  # the shortest beat pretty_midi counts: a 32nd note (a 1/64's bar is no beat of its own)


def _unusable_metre(event: _Event) -> bool:
    """A time signature the grid cannot count in: a numerator of 0 or above MAX_METRE, or a denominator above
    MAX_METRE_DENOMINATOR (stored as a power of two: one byte allows 2^255). Left out, bars are counted in the
    metre in force before, or in 4/4, and the header says which were left out."""
    return event.type == "time_signature" and not (1 <= event.numerator <= MAX_METRE
                                                   and 1 <= event.denominator <= MAX_METRE_DENOMINATOR)


def _metre_text(event: _Event) -> str:
    den = event.denominator if event.denominator <= 2 ** 20 else "2^%d" % int(math.log2(event.denominator))
    return f"{event.numerator}/{den}"


def _pedal_spans(events: list[tuple[int, bool]], last_tick: int) -> tuple[np.ndarray, np.ndarray]:
    """(down ticks, up ticks) of one channel's sustain pedal from its (tick, down) values in time order; a pedal
    still down at the end lifts at `last_tick` (the channel's last note end or pedal event)."""
    downs, ups, held = [], [], False
    for tick, down in events:
        if down and not held:
            downs.append(tick)
        elif held and not down:
            ups.append(tick)
        held = down
    if held:
        ups.append(last_tick)
    return np.asarray(downs, dtype=np.int64), np.asarray(ups, dtype=np.int64)


def _sustain(instruments: list[_Instrument], channels: list[int], pedals: list[tuple[int, int, bool]],
             apply: bool) -> int:
    """Sustain pedal presses on pitched channels; with `apply`, each note whose key is let go while its channel's
    pedal is down (pressed before the release: a press at the release's own tick, as a quantised pedal change
    writes it, catches nothing) is lengthened to the pedal's release, or to its key's next onset on that channel
    where that comes first (as a piano's damper falls when the key is struck again). A pedal never lifted lifts at
    the channel's last note end (not at another track's end: a piano part would ring through the strings' coda).
    The pedal is a channel's, whichever track sends it."""
    presses = 0
    by_channel: dict[int, list[tuple[int, bool]]] = {}
    for tick, channel, down in sorted(pedals, key=lambda e: e[0]):  # stable: a track's order within a tick
        by_channel.setdefault(channel, []).append((tick, down))
    for channel, events in by_channel.items():
        mine = [inst for inst, ch in zip(instruments, channels) if ch == channel and not inst.is_drum]
        if not mine:  # a pedal on a channel without notes changes nothing
            continue
        ends = np.concatenate([np.asarray(i.ends, dtype=np.int64) for i in mine])
        downs, ups = _pedal_spans(events, max(int(ends.max()) if len(ends) else 0, events[-1][0]))
        presses += len(downs)
        if not apply or not len(downs):
            continue
        pitches = np.concatenate([np.asarray(i.pitches, dtype=np.int64) for i in mine])
        starts = np.concatenate([np.asarray(i.starts, dtype=np.int64) for i in mine])
        span = np.searchsorted(downs, ends, side="left") - 1
        held = (span >= 0) & (ends < ups[np.maximum(span, 0)])
        longer = np.where(held, ups[np.maximum(span, 0)], ends)
        order = np.lexsort((starts, pitches))  # by key, then onset: each note's next onset of its key follows it
        never = np.iinfo(np.int64).max
        nxt = np.full(len(starts), never)
        nxt[order[:-1]] = np.where(pitches[order][1:] == pitches[order][:-1], starts[order][1:], never)
        # a later onset of the key cuts the sustained note; a note already sounding past that onset keeps its end
        new_ends = np.maximum(np.minimum(longer, np.where(nxt > starts, nxt, longer)), ends)
        at = 0
        for inst in mine:
            n = len(inst.ends)
            inst.ends = new_ends[at:at + n].tolist()
            at += n
    return presses


def _parse(data: bytes, spans: list[tuple[int, int]], sustain: bool = False) -> _Parsed:
    """Read every track, within MAX_MIDI_EVENTS, into notes and a meta-only mido.MidiFile for pretty_midi; with
    `sustain`, notes held by the sustain pedal sound until it lifts (`_sustain`)."""
    budget = (MAX_MIDI_EVENTS - _TRACK_COST * len(spans)) * _CONTROL_SHARE
    if budget < 0:
        raise _too_many_events()
    fmt, ppq = struct.unpack(">HH", data[8:10] + data[12:14])
    mid = mido.MidiFile(ticks_per_beat=ppq)
    instruments: dict = {}
    tracks = []
    last_tick = end_tick = 0
    reading = _Reading()
    ignored: dict[str, None] = {}
    pedals: list[tuple[int, int, bool]] = []
    for track_idx, (pos, end) in enumerate(spans):
        metas, budget, tick, controls = _read_track(data, pos, end, budget, track_idx, instruments, reading, pedals)
        ignored.update((_metre_text(e), None) for e in metas if _unusable_metre(e))
        metas = [e for e in metas if not _unusable_metre(e)]
        sentinel = _Event()  # keeps the track's last tick for pretty_midi's tick-to-time table
        sentinel.type, sentinel.time = "end_of_track", tick
        metas.append(sentinel)
        tracks.append(metas)
        last_tick = max(last_tick, tick)
        if controls:
            # the channels that hold this track's notes: its instruments are the last added (a scan of them all,
            # per track, took 21 s for a file of 1,680 tracks)
            mine = set()
            for key in reversed(instruments):
                if key[2] != track_idx:
                    break
                mine.add(key[1])
            for channel, t in controls.items():
                if channel in mine:
                    end_tick = max(end_tick, t)
    if fmt < 2:
        tracks = _placing_events_first(tracks)
    for metas in tracks:
        previous = 0
        for event in metas:  # absolute ticks -> deltas, as mido gives them
            event.time, previous = event.time - previous, event.time
        mid.tracks.append(mido.MidiTrack(metas))
    reading.pedal = _sustain(list(instruments.values()), [key[1] for key in instruments], pedals, sustain)
    reading.sustained = sustain and reading.pedal > 0
    for inst in instruments.values():
        end_tick = max([end_tick, *inst.ends])
    return _Parsed(mid, list(instruments.values()), last_tick, end_tick, tuple(ignored), reading)


def _placing_events_first(tracks: list[list]) -> list[list]:
    """Tracks of meta events (absolute ticks) with every tempo, metre and key change in the first, where pretty_midi
    reads them (and the standard puts them): real files keep them in other tracks too (music21's test04.mid, 96
    tempo changes in its second track, read as 120 BPM throughout). A change of a kind at a tick that an earlier
    track already has is left out (files often repeat the metre in every track)."""
    first = tracks[0]
    seen = {(e.type, e.time) for e in first if e.type in _PLACING_EVENTS}
    moved = []
    for metas in tracks[1:]:
        kept = []
        for event in metas:
            if event.type not in _PLACING_EVENTS:
                kept.append(event)
            elif (event.type, event.time) not in seen:
                seen.add((event.type, event.time))
                moved.append(event)
        metas[:] = kept
    if moved:  # a stable sort: the first track's own order at a tick stands, its end stays last
        first[:] = sorted(first[:-1] + moved, key=lambda e: e.time) + first[-1:]
        first[-1].time = max(first[-1].time, first[-2].time if len(first) > 1 else 0)
    return tracks


def _format_bpm(tempo_us: int) -> str:
    """A refused tempo in BPM, with just enough decimals that the number shown is outside the allowed range."""
    bpm = 6e7 / max(tempo_us, 1)
    for decimals in range(1, 7):
        text = f"{bpm:,.{decimals}f}"
        shown = float(text.replace(",", ""))
        if not MIN_BPM <= shown <= MAX_BPM:
            return text.rstrip("0").removesuffix(".")
    return f"{bpm:,.6f}"


def _clamp_tempi(mid: mido.MidiFile) -> tuple[int, ...]:
    """Tempos outside MIN_TEMPO_US..MAX_TEMPO_US (as written) set to the nearest limit; pretty_midi only reads tempos
    from the first track. A fermata written as one beat at 8 BPM, or 0xFFFFFF (3.58 BPM, the slowest MIDI can say),
    is music that a tempo check refused whole; the grid is counted in beats, so a clamped tempo moves no note."""
    clamped = []
    for msg in mid.tracks[0]:
        if msg.type == "set_tempo" and not MIN_TEMPO_US <= msg.tempo <= MAX_TEMPO_US:
            clamped.append(msg.tempo)
            msg.tempo = min(max(msg.tempo, MIN_TEMPO_US), MAX_TEMPO_US)
    return tuple(clamped)


def _too_long(beats: float) -> MidiError:
    return MidiError(f"The piece is too long: it spans about {beats:,.0f} beats, "
                     f"and the limit is {_MAX_BEATS:,} beats.")


def _check_length(last_tick: int, ticks_per_beat: int) -> None:
    """Refuse absurd lengths before pretty_midi allocates per-tick arrays and walks every beat."""
    quarters = last_tick / ticks_per_beat
    # Generous: a beat can be up to 6 quarter notes (compound x/2), and the exact check follows.
    if quarters > 8 * _MAX_BEATS:
        raise _too_long(quarters)
    if last_tick >= _PRETTY_MIDI_MAX_TICK and last_tick // _coarsening(last_tick, ticks_per_beat) >= _PRETTY_MIDI_MAX_TICK:
        raise MidiError(f"The MIDI file is too long to read: its last event is at tick {last_tick:,}, "
                        f"past the limit of {_PRETTY_MIDI_MAX_TICK:,}.")


def _coarsening(last_tick: int, ticks_per_beat: int) -> int:
    """The factor that brings a file's ticks to about _COARSE_TICKS (pretty_midi's per-tick tables then take
    ~8 MB, not 80), keeping at least _MIN_RESOLUTION ticks per quarter note."""
    want = -(-(last_tick + 1) // _COARSE_TICKS)
    return max(1, min(want, ticks_per_beat // _MIN_RESOLUTION))


def _coarsen(parsed: "_Parsed") -> "_Parsed":
    """The same file at a coarser tick resolution, when its ticks pass pretty_midi's limit.

    Only files that `_reduced` leaves past it come here (none of music21's corpus, whose longest movements end past
    tick 20,000,000 at 10,080 ticks per quarter note but reduce exactly). Every time is divided by the same factor
    and rounded: at the resolution left (at least _MIN_RESOLUTION ticks per quarter note) an edge moves by half a
    tick at most, which still moves a step where it lay within that of a step's boundary (measured on four
    music21 movements coarsened this way: 0.1-1.1 % of a roll's notes' steps).
    """
    ppq = parsed.mid.ticks_per_beat
    new_ppq = ppq // _coarsening(parsed.last_tick, ppq)
    scale = new_ppq / ppq
    return _rescaled(parsed, new_ppq, lambda tick: int(round(tick * scale)))


def _common_divisor(parsed: "_Parsed") -> int:
    """The largest number of ticks that the resolution and every tick the roll reads (notes, the end, tempo, metre
    and key changes) are multiples of. Other events (a track's end, text) need not be: pretty_midi writes its
    tracks' ends a tick after the last note."""
    g = math.gcd(parsed.mid.ticks_per_beat, parsed.end_tick)
    for track in parsed.mid.tracks:
        absolute = 0
        for event in track:
            absolute += event.time
            if event.type in _PLACING_EVENTS:
                g = math.gcd(g, absolute)
    for inst in parsed.instruments:
        g = math.gcd(g, *inst.starts, *inst.ends)
    return g


def _reduced(parsed: "_Parsed") -> "_Parsed":
    """The same file in the fewest ticks that place every event exactly: every tick and the resolution divided by
    their common divisor. pretty_midi keeps a float per tick, and music21 writes 10,080 ticks per quarter note
    where its events fall on multiples of 840-5,040 (a median music21 piece: 1.3 million ticks, 426 reduced);
    the times in seconds are the same. Any other event moves to the tick before it (a track's end stays at or
    after the last note's)."""
    g = _common_divisor(parsed)
    return parsed if g <= 1 else _rescaled(parsed, parsed.mid.ticks_per_beat // g, lambda tick: tick // g)


def _rescaled(parsed: "_Parsed", new_ppq: int, at: Callable[[int], int]) -> "_Parsed":
    """The file with every tick t moved to at(t) and the resolution set to new_ppq (the tracks changed in place)."""
    mid = parsed.mid
    for track in mid.tracks:  # deltas -> rescaled absolute ticks -> deltas, in place
        absolute = previous = 0
        for event in track:
            absolute += event.time
            tick = at(absolute)
            event.time, previous = tick - previous, tick
    mid.ticks_per_beat = new_ppq
    for inst in parsed.instruments:
        inst.starts = [at(t) for t in inst.starts]
        inst.ends = [at(t) for t in inst.ends]
    return _Parsed(mid, parsed.instruments, at(parsed.last_tick), at(parsed.end_tick), parsed.ignored_metres,
                   parsed.reading)


def _load(data: bytes, smpte: Optional[tuple[int, str]] = None, sustain: bool = False
          ) -> tuple[pretty_midi.PrettyMIDI, list[_Instrument], tuple[str, ...], _Reading]:
    """Validated bytes -> (PrettyMIDI with the file's tempo map and meta events, instruments, time signatures left
    out, what else the roll will not show), or MidiError. `smpte`: (tempo, frame rate) of a file `_smpte_as_beats`
    turned into beats: every tempo event is read as that tempo. `sustain`: apply the sustain pedal (`_sustain`).

    Everything costly is bounded first: the chunk walk, then the event budget as the tracks are read,
    then the length in ticks, before pretty_midi allocates its per-tick table.
    """
    parsed = _parse(data, _check_chunks(data), sustain)
    if smpte is not None:
        for track in parsed.mid.tracks:
            for event in track:
                if event.type == "set_tempo":
                    event.tempo = smpte[0]
        parsed.reading.smpte = smpte[1]
    parsed.reading.clamped = _clamp_tempi(parsed.mid)
    parsed = _reduced(parsed)
    mid = parsed.mid
    _check_length(parsed.last_tick, mid.ticks_per_beat)
    if parsed.last_tick >= _PRETTY_MIDI_MAX_TICK:
        parsed = _coarsen(parsed)
        mid = parsed.mid
    if not any(inst.pitches for inst in parsed.instruments):
        if parsed.reading.zero_length:
            n = parsed.reading.zero_length
            which = "its one note ends at the tick it starts" if n == 1 else \
                f"its {n:,} notes each end at the tick they start"
            raise MidiError(f"The MIDI file contains no notes with a length: {which}.")
        raise MidiError("The MIDI file contains no notes.")
    try:
        with warnings.catch_warnings():
            # tempo events outside track 0 are common in real files and handled as pretty_midi does
            warnings.simplefilter("ignore", RuntimeWarning)
            pm = pretty_midi.PrettyMIDI(mido_object=mid)
    except Exception as e:  # e.g. a tempo map pretty_midi cannot follow
        raise MidiError("The MIDI file is damaged and could not be read.") from e
    if pm.time_signature_changes and min(ts.time for ts in pm.time_signature_changes) > 0:
        # until a file's first time signature the metre is the MIDI standard's 4/4 (pretty_midi's beats would run
        # the first one back to the start, and every bar line before and after it would be off)
        implied = pretty_midi.TimeSignature(4, 4, 0.0)
        implied.implied = True  # written by no one: the header says so (PianoRoll.opening_implied)
        pm.time_signature_changes.insert(0, implied)
    # pretty_midi's end time (and so its beats) counts the notes, which it did not read here
    end = pretty_midi.Instrument(0)
    end.notes.append(pretty_midi.Note(1, 0, 0.0, float(_tick_times(pm)[parsed.end_tick])))
    pm.instruments.append(end)
    return pm, parsed.instruments, parsed.ignored_metres, parsed.reading


def _tick_times(pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """Seconds at every tick of the file, from pretty_midi's tempo map."""
    return np.asarray(pm._PrettyMIDI__tick_to_time)  # the table pretty_midi's own tick_to_time reads


# ---------------------------------------------------------------------------------------------
# Beat grid

def _changes(values: list) -> int:
    """How many of `values` differ from the one before."""
    return sum(1 for a, b in zip(values, values[1:]) if a != b)


def _main_time_signature(pm: pretty_midi.PrettyMIDI, end_s: float) -> tuple[int, int]:
    """The time signature in force for the longest time before end_s (the earliest of equals): the one bars are
    counted in. The opening one is not: a piece that opens with a 1/4 pickup and goes on in 4/4 read "36 bars of
    1/4"."""
    changes = sorted(pm.time_signature_changes, key=lambda ts: ts.time)
    if not changes:
        return (4, 4)
    spans: dict[tuple[int, int], float] = {}
    for ts, nxt in zip(changes, [*changes[1:], None]):
        until = end_s if nxt is None else min(nxt.time, end_s)
        key = (ts.numerator, ts.denominator)
        spans[key] = spans.get(key, 0.0) + max(until - ts.time, 0.0)
    return max(spans, key=lambda k: spans[k])  # max keeps the first of equals, in order of first appearance


def _opening_metre(pm: pretty_midi.PrettyMIDI, main_ts: tuple[int, int]) -> Optional[tuple[int, int]]:
    """The metre in force at the start (the last written at time 0, else the first: get_beats' rule), where it is
    not the metre bars are counted in; None where it is."""
    changes = sorted(pm.time_signature_changes, key=lambda ts: ts.time)
    if not changes:
        return None
    ts = changes[_at_start([c.time for c in changes])]
    return None if (ts.numerator, ts.denominator) == main_ts else (ts.numerator, ts.denominator)


def _at_start(times: list) -> int:
    """The index of the metre in force at the start, of changes at sorted `times` (get_beats' rule: the last of
    those written at time 0, else the first)."""
    k = 0
    while k + 1 < len(times) and times[k + 1] <= 0:
        k += 1
    return k


def _beat_ticks(pm: pretty_midi.PrettyMIDI, seconds: np.ndarray, until_tick: int) -> np.ndarray:
    """Every beat as a tick of the file (a multiple of 1/8 tick: exact in float64), as pretty_midi's get_beats
    places beats, on past until_tick.

    get_beats follows the same rules (one beat per `_beat_quarters` of the metre in force, the first metre before
    the first change, a beat cut short where the metre changes) but counts in seconds, and where a tempo changes
    between two beats its beats drift off the score (Weber's Concertino: a beat at quarter 111.125 instead of 111,
    and every later onset off the grid). Counted in ticks, every beat is exact."""
    changes = sorted(pm.time_signature_changes, key=lambda ts: ts.time)
    at = [int(np.searchsorted(seconds, ts.time - 1e-9)) for ts in changes]  # the ticks they were read at
    metres = [(ts.numerator, ts.denominator) for ts in changes] or [(4, 4)]
    first = _at_start(at)  # the metre in force from tick 0
    # segments of one metre, each from where a beat is cut short (a change; the first keeps its metre) to the next;
    # in eighths of a tick, in which every beat of a denominator up to 32 is a whole number
    bounds, seg_metres = [0], [metres[first]]
    for i in range(first, len(at)):
        if at[i] > bounds[-1]:
            bounds.append(at[i])
            seg_metres.append(metres[i] if i > first else metres[first])
        elif at[i] == bounds[-1] and i > first:
            seg_metres[-1] = metres[i]
    bounds = [8 * b for b in bounds]
    parts = []
    for j, (lo, metre) in enumerate(zip(bounds, seg_metres)):
        length = int(8 * pm.resolution * _beat_quarters(metre))
        hi = bounds[j + 1] if j + 1 < len(bounds) else max(8 * until_tick, lo) + 2 * length
        parts.append(np.arange(lo, hi, length, dtype=np.int64))
    return np.concatenate(parts).astype(np.float64) / 8


def _seconds_at(ticks: np.ndarray, seconds: np.ndarray, pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """The time of (fractional) ticks, from the file's tempo map; past its last tick at the tempo in force there."""
    last = len(seconds) - 1
    per_tick = 60.0 / (float(pm.get_tempo_changes()[1][-1]) * pm.resolution)
    inside = np.interp(np.minimum(ticks, last), np.arange(len(seconds), dtype=np.float64), seconds)
    return inside + np.maximum(ticks - last, 0.0) * per_tick


def _step_grid(b: np.ndarray, steps_per_beat: int, seconds: np.ndarray, pm: pretty_midi.PrettyMIDI) -> np.ndarray:
    """Start time of every step: each beat (ticks, `_beat_ticks`) cut into steps_per_beat equal parts of its
    ticks."""
    fractions = np.arange(steps_per_beat) / steps_per_beat
    inner = b[:-1, None] + np.diff(b)[:, None] * fractions[None, :]
    return _seconds_at(np.concatenate([inner.ravel(), b[-1:]]), seconds, pm)


def _opening_steps(pm: pretty_midi.PrettyMIDI, step_grid: np.ndarray, main_ts: tuple[int, int]) -> int:
    """The steps of an opening in a time signature of its own, before the first change (a pickup: music21 writes a
    1/4 before 4/4); 0 for any other piece. So many empty steps less than a whole number of the main metre's bars
    go first, so that its bar lines fall on multiples of a bar from step 0, where bars are drawn and counted."""
    changes = sorted(pm.time_signature_changes, key=lambda ts: ts.time)
    if len(changes) < 2 or changes[0].time > 0:
        return 0
    first = changes[_at_start([c.time for c in changes])]  # the metre in force at the start, as _opening_metre
    metre = (first.numerator, first.denominator)
    # the opening ends at the first change to another metre (the same metre written again is no change)
    end = next((c.time for c in changes if c.time > first.time and (c.numerator, c.denominator) != metre), None)
    if metre == main_ts or end is None:
        return 0
    return int(_to_step(np.interp(end, step_grid, np.arange(len(step_grid), dtype=np.float64))))


def _before_pickup(step_grid: np.ndarray, pad: int) -> np.ndarray:
    """The step grid with `pad` steps of the first step's length before time 0 (negative start times)."""
    if pad <= 0 or len(step_grid) < 2:
        return step_grid
    return np.concatenate([step_grid[0] - (step_grid[1] - step_grid[0]) * np.arange(pad, 0, -1), step_grid])


def _to_step(fractional: np.ndarray) -> np.ndarray:
    return np.floor(fractional + 0.5 + _ROUNDING_SLACK).astype(np.int64)


def _instrument_label(inst: _Instrument) -> str:
    if inst.name.strip():
        return inst.name.strip()
    return _sound_name(inst)


def _sound_name(inst: _Instrument) -> str:
    return "Drums" if inst.is_drum else pretty_midi.program_to_instrument_name(int(inst.program))


def _instrument_labels(instruments: list[_Instrument]) -> list[str]:
    """Each instrument's track name, else its General MIDI sound; a name several share (a type-0 file's one track,
    its channels' programs told apart) gets its sound in brackets."""
    labels = [_instrument_label(i) for i in instruments]
    shared = {lab for lab, n in Counter(labels).items() if n > 1}  # a file may hold 2,000 tracks
    return [f"{lab} ({_sound_name(i)})" if lab in shared and i.name.strip() else lab
            for lab, i in zip(labels, instruments)]


def _draw(pitches: np.ndarray, first: np.ndarray, last: np.ndarray, T: int) -> np.ndarray:
    """(128, T) uint8 roll: 1 on steps [first, last) of each note's pitch, one vectorised pass per pitch."""
    array = np.zeros((128, T), dtype=np.uint8)
    for pitch in np.unique(pitches):
        sel = pitches == pitch
        depth = np.bincount(first[sel], minlength=T + 1) - np.bincount(last[sel], minlength=T + 1)
        array[pitch] = np.cumsum(depth[:T]) > 0
    return array


# ---------------------------------------------------------------------------------------------
# Public API

def midi_to_roll(path_or_bytes: str | Path | bytes, steps_per_beat: int = 4,
                 include_drums: bool = False, name: str | None = None, sustain_pedal: bool = False) -> PianoRoll:
    """Read a MIDI file (path or bytes) into a PianoRoll on the file's own beat grid; with `sustain_pedal`, a note
    the sustain pedal holds sounds until the pedal lifts (off: as long as its key was held, as pretty_midi reads it).

    Every input is decided quickly and in bounded memory: files past MAX_MIDI_BYTES, MAX_MIDI_TRACKS
    tracks or MAX_MIDI_EVENTS events, or longer than MAX_STEPS are refused with a MidiError of one sentence;
    tempos outside MIN_TEMPO_US..MAX_TEMPO_US are read as the nearest limit (`PianoRoll.reading_notes` says so).
    """
    try:
        return _midi_to_roll(path_or_bytes, steps_per_beat, include_drums, name, sustain_pedal)
    except MidiError as e:
        if e.file is None and isinstance(path_or_bytes, (str, Path)):
            e.file = Path(path_or_bytes).name
        raise


def _midi_to_roll(path_or_bytes: str | Path | bytes, steps_per_beat: int, include_drums: bool,
                  name: str | None, sustain_pedal: bool = False) -> PianoRoll:
    if steps_per_beat < 1:
        raise ValueError("steps_per_beat must be at least 1")
    data, default_name = _input_bytes(path_or_bytes)
    pm, instruments, ignored_metres, reading = _load(*_smpte_as_beats(_riff_unwrapped(data)), sustain=sustain_pedal)
    kept = [inst for inst in instruments if inst.pitches and (include_drums or not inst.is_drum)]
    if not kept:
        raise MidiError("The MIDI file contains only drum notes, and drums are left out.")
    seconds = _tick_times(pm)
    pitches = np.concatenate([np.asarray(inst.pitches, dtype=np.int64) for inst in kept])
    starts_s = seconds[np.concatenate([np.asarray(inst.starts, dtype=np.int64) for inst in kept])]
    ends_s = seconds[np.concatenate([np.asarray(inst.ends, dtype=np.int64) for inst in kept])]

    end_tick = max(max(inst.ends) for inst in kept)
    step_grid = _step_grid(_beat_ticks(pm, seconds, end_tick), steps_per_beat, seconds, pm)
    main_ts = _main_time_signature(pm, float(ends_s.max()))
    opening, bar_steps = _opening_steps(pm, step_grid, main_ts), steps_per_beat * _beats_per_bar(main_ts)
    step_grid = _before_pickup(step_grid, -opening % bar_steps)
    pickup = opening if opening < bar_steps else 0  # a part of a bar; an opening of whole bars is no pickup
    position = np.arange(len(step_grid), dtype=np.float64)
    first = _to_step(np.interp(starts_s, step_grid, position))
    last = np.maximum(_to_step(np.interp(ends_s, step_grid, position)), first + 1)
    T = int(last.max())
    if T > MAX_STEPS * steps_per_beat // _REFERENCE_STEPS_PER_BEAT:
        raise _too_long(T / steps_per_beat)

    array = _draw(pitches, first, last, T)
    onset_steps = np.interp(starts_s, step_grid, position)
    beat_s = (np.interp(onset_steps, position[:-1], np.diff(step_grid)) * steps_per_beat
              if len(step_grid) > 1 else None)
    grid_note = grid_fit_note(onset_steps / steps_per_beat, steps_per_beat, beat_s)
    onsets = np.zeros((128, T), dtype=np.uint8)
    onsets[pitches, first] = 1

    beats = math.ceil(T / steps_per_beat)
    return PianoRoll(
        array=array, steps_per_beat=steps_per_beat,
        name=name if name is not None else default_name,
        duration_s=float(ends_s.max()), tempo_bpm=float(pm.get_tempo_changes()[1][0]),
        beats=beats, beat_times=step_grid[::steps_per_beat][:beats].copy(),
        step_times=step_grid[:T].copy(), time_signature=main_ts,
        onsets=onsets, n_notes=len(pitches), instruments=_instrument_labels(kept), grid_note=grid_note,
        metre_changes=_changes([(ts.numerator, ts.denominator)
                                for ts in sorted(pm.time_signature_changes, key=lambda ts: ts.time)]),
        tempo_changes=_changes([round(float(t), 3) for t in pm.get_tempo_changes()[1]]),
        drum_notes=0 if include_drums else sum(len(inst.pitches) for inst in instruments if inst.is_drum),
        ignored_metres=ignored_metres, opening_time_signature=_opening_metre(pm, main_ts), pickup_steps=pickup,
        metres=tuple(dict.fromkeys((ts.numerator, ts.denominator)
                                   for ts in sorted(pm.time_signature_changes, key=lambda ts: ts.time))),
        opening_implied=any(getattr(ts, "implied", False) for ts in pm.time_signature_changes),
        reading_notes=reading.notes(), pedal_presses=reading.pedal, sustain_pedal=reading.sustained,
        source_sha1=hashlib.sha1(data).hexdigest())


GRID_RESOLUTIONS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 48)
OFF_GRID_STEP = 0.2     # a note starting this far (in steps) from the nearest step is misplaced by the grid
OFF_GRID_SECONDS = 0.015  # ... and this far in time: finer than performers' own onset spread, not heard as timing
OFF_GRID_WARN = 0.10    # warn when more than this share of notes is misplaced


def off_grid_share(onset_beats: np.ndarray, steps_per_beat: int, beat_seconds: Optional[np.ndarray] = None) -> float:
    """Share of note onsets (in beats) that a grid of `steps_per_beat` steps per beat cannot place: moved by more
    than OFF_GRID_STEP of a step and, given each onset's beat length in seconds, by more than OFF_GRID_SECONDS (at
    48 steps per beat a step is ~10 ms: by steps alone the finest grid was judged the harshest)."""
    if len(onset_beats) == 0:
        return 0.0
    pos = np.asarray(onset_beats, dtype=np.float64) * steps_per_beat
    off = np.abs(pos - np.round(pos))
    moved = off > OFF_GRID_STEP
    if beat_seconds is not None:
        moved &= off / steps_per_beat * np.asarray(beat_seconds, dtype=np.float64) > OFF_GRID_SECONDS
    return float(np.mean(moved))


def grid_fit_note(onset_beats: np.ndarray, steps_per_beat: int,
                  beat_seconds: Optional[np.ndarray] = None) -> Optional[str]:
    """A sentence when the grid misplaces many notes (e.g. triplets or 6/8 eighths at 4 steps per beat),
    naming the smallest resolution that places them; None when the grid fits."""
    share = off_grid_share(onset_beats, steps_per_beat, beat_seconds)
    if share <= OFF_GRID_WARN:
        return None
    # the grid to name, by steps alone: by the time floor too, any fine grid "fits" performed (unquantised) timing
    fits = [r for r in GRID_RESOLUTIONS if off_grid_share(onset_beats, r) <= OFF_GRID_WARN / 5]
    better = (f"; {fits[0]} steps per beat places them" if fits else
              "; no resolution up to 48 steps per beat places them all (the timing is not on a metric grid)")
    grid = f"{a_number(steps_per_beat)}-step{'s' if steps_per_beat != 1 else ''}-per-beat grid"
    return f"{share:.0%} of the notes fall between the steps of {grid} and are moved to the nearest step{better}."


def _note_spans(row: np.ndarray, onset_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of notes in one pitch row: runs of 1s, split at marked onsets."""
    on = row.astype(bool)
    before = np.concatenate([[False], on[:-1]])
    after = np.concatenate([on[1:], [False]])
    starts = np.flatnonzero(on & (~before | onset_row.astype(bool)))
    run_ends = np.flatnonzero(on & ~after) + 1
    next_start = np.concatenate([starts[1:], [len(row)]])
    run_end = run_ends[np.searchsorted(run_ends, starts, side="right")]
    return starts, np.minimum(next_start, run_end)


def _write_resolution(time_signature: tuple[int, int], steps_per_beat: int) -> tuple[int, int]:
    """(ticks per quarter, ticks per step): the smallest multiple of 480 that makes steps whole."""
    ticks_per_step = _WRITE_RESOLUTION * _beat_quarters(time_signature) / steps_per_beat
    resolution = _WRITE_RESOLUTION * ticks_per_step.denominator
    if resolution > 0x7FFF:
        raise ValueError(f"steps_per_beat={steps_per_beat} cannot be written exactly to MIDI")
    return resolution, int(ticks_per_step * ticks_per_step.denominator)


def beat_seconds(roll: PianoRoll, start: int = 0, steps: Optional[int] = None) -> np.ndarray:
    """How long each beat of the grid lasts in the piece, over `steps` steps from step `start` (a beat past the
    piece's end lasts as long as its steps there would, at its last step's length)."""
    spb = roll.steps_per_beat
    steps = roll.steps - start if steps is None else int(steps)
    n = max(1, -(-steps // spb))
    t = np.asarray(roll.step_times, dtype=np.float64)
    step = float(t[-1] - t[-2]) if len(t) > 1 else 60.0 / (max(roll.tempo_bpm, 1e-6) * spb)
    idx = start + np.arange(n + 1) * spb
    extra = np.maximum(idx - (len(t) - 1), 0)
    at = np.where(extra > 0, t[-1] + extra * step, t[np.minimum(idx, len(t) - 1)])
    return np.diff(at)


def _with_tempo_map(pm: pretty_midi.PrettyMIDI, seconds: np.ndarray, quarters_per_beat: float,
                    ticks_per_beat: int) -> pretty_midi.PrettyMIDI:
    """pm with a tempo at each grid beat where the piece's beat lengths (`seconds`) change it, so it plays at the
    piece's own timing; its ticks, and so the roll it reads back as, are unchanged. pm itself where one tempo
    holds throughout."""
    first = round(6e7 / pm.get_tempo_changes()[1][0])
    tempi = np.asarray(seconds, dtype=np.float64) / quarters_per_beat * 1e6
    if not len(tempi) or not np.all(np.isfinite(tempi)):
        return pm
    # a beat of no length keeps the tempo before it; every tempo within what the reader accepts, so the file the
    # page writes can be dropped on it again
    good = tempi > 0
    last_good = np.maximum.accumulate(np.where(good, np.arange(len(tempi)), -1))
    tempi = np.where(last_good >= 0, tempi[np.maximum(last_good, 0)], first)
    tempi = np.clip(np.round(tempi), MIN_TEMPO_US, MAX_TEMPO_US)
    if np.all(np.abs(tempi - first) <= 1):  # a constant tempo, give or take rounding
        return pm
    mid = mido.MidiFile(file=io.BytesIO(midi_bytes(pm)))
    events, tick = [], 0
    for msg in mid.tracks[0]:  # pretty_midi's timing track: tempo, metre, end of track
        tick += msg.time
        if msg.type not in ("set_tempo", "end_of_track"):
            events.append((tick, 1, msg))
    last = None
    for b, us in enumerate(tempi.astype(int).tolist()):
        if last is None or abs(us - last) > 1:
            events.append((b * ticks_per_beat, 0, mido.MetaMessage("set_tempo", tempo=us)))
            last = us
    events.sort(key=lambda e: (e[0], e[1]))
    track, now = mido.MidiTrack(), 0
    for t, _, msg in events:
        track.append(msg.copy(time=t - now))
        now = t
    track.append(mido.MetaMessage("end_of_track", time=0))
    mid.tracks[0] = track
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return pretty_midi.PrettyMIDI(io.BytesIO(buffer.getvalue()))


def roll_to_midi(roll: PianoRoll | np.ndarray, steps_per_beat: int = 4, tempo_bpm: float = 120.0,
                 program: int = 0, onsets: np.ndarray | None = None,
                 time_signature: tuple[int, int] = (4, 4),
                 seconds: Optional[np.ndarray] = None) -> pretty_midi.PrettyMIDI:
    """Write a roll as one instrument on the grid; a PianoRoll's own timing wins. A step is 1/steps_per_beat of the
    metre's beat (a dotted quarter in 6/8), at `tempo_bpm` quarter notes a minute, or, where `seconds` gives each
    beat's length in the piece (a PianoRoll's own: `beat_seconds`), at the piece's own tempo beat by beat (its tempo
    changes, and a metre whose beat is another note value, played as they sound)."""
    if isinstance(roll, PianoRoll):
        seconds = beat_seconds(roll) if seconds is None else seconds
        steps_per_beat, tempo_bpm, time_signature = roll.steps_per_beat, roll.tempo_bpm, roll.time_signature
        onsets = roll.onsets if onsets is None else onsets
        array = roll.array
    else:
        array = binary_roll(roll)
    if not (isinstance(steps_per_beat, (int, np.integer)) and steps_per_beat > 0):
        raise ValueError(f"steps_per_beat must be a whole number above 0, got {steps_per_beat!r}")
    if not 0 < tempo_bpm < float("inf") or not 0 <= program <= 127:
        raise ValueError(f"tempo_bpm must be above 0 and program in 0–127, got {tempo_bpm!r} and {program!r}")
    if onsets is None:
        onsets = np.zeros_like(array)

    resolution, ticks_per_step = _write_resolution(time_signature, steps_per_beat)
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=tempo_bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(*time_signature, 0.0))
    # Times are whole ticks times pretty_midi's own tick length, so time_to_tick gives them back.
    seconds_per_tick = 60.0 / (tempo_bpm * resolution)
    instrument = pretty_midi.Instrument(program=program)
    for pitch in np.flatnonzero(array.any(axis=1)):
        starts, ends = _note_spans(array[pitch], onsets[pitch])
        for a, b in zip(starts.tolist(), ends.tolist()):
            instrument.notes.append(pretty_midi.Note(
                velocity=_VELOCITY, pitch=int(pitch),
                start=a * ticks_per_step * seconds_per_tick, end=b * ticks_per_step * seconds_per_tick))
    instrument.notes.sort(key=lambda n: (n.start, n.pitch))
    pm.instruments.append(instrument)
    if seconds is not None:
        pm = _with_tempo_map(pm, seconds, float(_beat_quarters(time_signature)), ticks_per_step * steps_per_beat)
    return pm


def midi_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    """Serialise a PrettyMIDI to the bytes of a .mid file."""
    buffer = io.BytesIO()
    pm.write(buffer)
    return buffer.getvalue()


MAX_SONG_WINDOWS = 240  # whole-piece views (PCA, similarity) step by more than one bar beyond this


def song_hop(steps: int, steps_per_bar: int, width: int = 128, max_windows: int = MAX_SONG_WINDOWS) -> int:
    """Hop between a piece's windows: one bar, or a whole number of bars keeping at most max_windows windows."""
    bar = max(steps_per_bar, 1)
    return bar * max(1, math.ceil((max(steps - width, 0) / bar + 1) / max_windows))


def start_bars(steps: int, steps_per_bar: int, width: int = 128) -> int:
    """How many bars a window may start at: enough that the last window reaches the piece's final step, never one
    past its end (where a bar is longer than the window, the rest of the last bar lies beyond every window)."""
    bar = max(int(steps_per_bar), 1)
    return max(1, min(-(-max(int(steps) - int(width), 0) // bar) + 1, -(-int(steps) // bar)))


def first_sounding_bar(roll: PianoRoll, width: int = 128) -> int:
    """The bar (1-based) a view of `width`-step windows should open at: 1, unless the window there holds no note,
    then the bar of the first note (a piece that starts after a long silence, one part of a larger score), or the
    last bar a window starts at where the first note lies in the final window."""
    sounding = np.flatnonzero(roll.array.any(0))
    if not len(sounding) or sounding[0] < width:
        return 1
    bar = max(roll.steps_per_bar, 1)
    return min(int(sounding[0]) // bar + 1, start_bars(roll.steps, bar, width))


def binary_roll(array, what: str = "the roll") -> np.ndarray:
    """`array` as a uint8 roll of 0 and 1 (a note or none), or ValueError: velocities (pretty_midi's piano rolls) or
    probabilities would silently become other notes."""
    a = np.asarray(array)
    if a.ndim != 2 or a.shape[0] != 128:
        raise ValueError(f"{what} must be a (128, T) array, row = MIDI pitch, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{what} must hold the numbers 0 and 1 (a note or none), not {a.dtype} values")
    bad = (a != 0) & (a != 1) if a.dtype != bool else None  # NaN is one
    if bad is not None and bad.any():
        raise ValueError(f"{what} must hold only 0 and 1 (a note or none), got {a[bad].flat[0]:g}: binarize it "
                         "first (velocities: array > 0; probabilities: probs > threshold)")
    return a.astype(np.uint8)


def window_at(roll: PianoRoll, start: int, width: int) -> np.ndarray:
    """The (128, width) uint8 slice of the roll starting at step `start`, zero-padded past the end."""
    out = np.zeros((128, width), dtype=np.uint8)
    seg = roll.array[:, start:start + width]
    out[:, :seg.shape[1]] = seg
    return out


def restruck_at(roll: PianoRoll, start: int, width: int) -> np.ndarray:
    """(128, width) bool, like window_at: the steps where a note starts while its pitch sounded the step before (a
    repeated note, which the binary roll the model reads joins to the one before it)."""
    out = np.zeros((128, width), dtype=bool)
    n = max(min(width, roll.array.shape[1] - start), 0)
    if n == 0:
        return out
    before = np.zeros((128, n), dtype=bool)
    prev = roll.array[:, max(start - 1, 0):start + n - 1] > 0
    before[:, n - prev.shape[1]:] = prev
    out[:, :n] = (roll.onsets[:, start:start + n] > 0) & before & (roll.array[:, start:start + n] > 0)
    return out


def windows(roll: PianoRoll | np.ndarray, width: int = 128, hop: int | None = None,
            pad: bool = True) -> tuple[torch.Tensor, np.ndarray]:
    """Cut a roll into model inputs (B, 1, 128, width) float32, with each window's start step."""
    array = roll.array if isinstance(roll, PianoRoll) else np.asarray(roll)
    hop = width if hop is None else hop
    if width < 1 or hop < 1:
        raise ValueError("width and hop must be at least 1")
    T = array.shape[1]
    if pad:
        # Just enough windows that the last one reaches the final step, and none that starts after it (a hop
        # longer than the window would otherwise add a silent one)
        count = start_bars(T, hop, width)
    else:
        count = 0 if T < width else 1 + (T - width) // hop
    starts = np.arange(count, dtype=np.int64) * hop
    padded = np.zeros((128, (int(starts[-1]) + width) if count else 0), dtype=np.float32)
    padded[:, :min(T, padded.shape[1])] = array[:, :padded.shape[1]]
    batch = np.stack([padded[:, s:s + width] for s in starts]) if count else np.zeros((0, 128, width), np.float32)
    # torch only here: reading MIDI must not wait for torch to load (the dashboard draws the piece first)
    import torch

    return torch.from_numpy(batch).unsqueeze(1), starts


def _shift_rows(image: np.ndarray, semitones: int) -> np.ndarray:
    shifted = np.zeros_like(image)
    if abs(semitones) < 128:
        if semitones >= 0:
            shifted[semitones:] = image[:128 - semitones]
        else:
            shifted[:semitones] = image[-semitones:]
    return shifted


def transpose(roll: PianoRoll, semitones: int) -> PianoRoll:
    """Shift every note by semitones; notes pushed outside pitches 0..127 are dropped."""
    onsets = _shift_rows(roll.onsets, semitones)
    dropped = int(roll.onsets.sum()) - int(onsets.sum())
    # n_notes counts file notes, the roll only onsets; take the dropped onsets as the dropped notes
    return replace(roll, array=_shift_rows(roll.array, semitones), onsets=onsets,
                   n_notes=max(0, roll.n_notes - dropped))


def bar_beat_label(step: int, roll: PianoRoll) -> str:
    """1-based "bar:beat" of a step, e.g. step 0 -> "1:1"."""
    bar, within = divmod(int(step), roll.steps_per_bar)
    return f"{bar + 1}:{within // roll.steps_per_beat + 1}"


def bar_ticks(start: int, width: int, steps_per_bar: int, most: int = 8, steps: bool = False
              ) -> list[tuple[float, str]]:
    """The bar lines in a window of `width` steps from step `start`, as (fraction of the width, bar number): every
    bar, or every second, third… bar so that at most `most` are labelled (a thumbnail is ~170 px wide); a window
    with no bar line in it is labelled at its start with the bar it lies in. With `steps` (a PNG roll's), each is
    labelled with its step instead (from 0)."""
    bar = max(int(steps_per_bar), 1)
    name = (lambda b: str(b * bar)) if steps else (lambda b: str(b + 1))
    bars = range(-(-int(start) // bar), (int(start) + int(width) - 1) // bar + 1)
    if not bars:  # no bar line inside the window: say which bar it lies in, at its start
        return [(0.0, str(int(start)) if steps else name(int(start) // bar))] if width > 0 else []
    every = max(1, math.ceil(len(bars) / most))
    return [((b * bar - start) / width, name(b)) for b in bars[::every]]


def time_unit(roll: PianoRoll) -> str:
    """What a place in `roll` is counted in: "bar", or a PNG roll's "step"."""
    return "step" if roll.steps_only else "bar"


def time_positions(roll: PianoRoll, steps) -> np.ndarray:
    """Steps of `roll` as charts place them, in `time_unit`: bar positions (1.0 = bar 1's downbeat, 1.5 half-way
    through it), or a PNG roll's steps themselves."""
    steps = np.asarray(steps, dtype=float)
    return steps if roll.steps_only else steps / max(roll.steps_per_bar, 1) + 1


def start_place(roll: PianoRoll, step: int) -> str:
    """Where a window starting at `step` starts: "bar 3", or a PNG roll's "step 32"."""
    return f"step {int(step)}" if roll.steps_only else f"bar {int(step) // max(roll.steps_per_bar, 1) + 1}"


def place(roll: PianoRoll, step: int, steps: int) -> str:
    """Where `steps` steps from `step` of `roll` lie: in bars (`bar_span`), or a PNG roll's "steps 48–175" (from
    0, inclusive, as the Corpus page names its passages)."""
    if roll.steps_only:  # (the last window's patches may run past the roll's end: named up to it)
        first = int(step)
        last = max(first, min(first + max(int(steps), 1) - 1, roll.steps - 1))
        return f"step {first}" if first == last else f"steps {first}–{last}"
    return bar_span(step, steps, roll.steps_per_bar, roll.steps_per_beat)


def bar_span(step: int, steps: int, steps_per_bar: int, steps_per_beat: int) -> str:
    """Where `steps` steps from `step` lie, in bars counted from 1 and inclusive as pitch ranges are:
    "bar 3", "bars 3–4"; within a bar by beats, "bar 7, beats 3–4"; across bars, "bar 7 beat 3 – bar 8 beat 2" (a
    form "7:3–8:2" read as a ratio or a time)."""
    spbar, spb = max(int(steps_per_bar), 1), max(int(steps_per_beat), 1)
    first, last = int(step), int(step) + max(int(steps), 1) - 1
    (b0, o0), (b1, o1) = divmod(first, spbar), divmod(last, spbar)
    if o0 == 0 and o1 == spbar - 1:  # whole bars
        return f"bar {b0 + 1}" if b0 == b1 else f"bars {b0 + 1}–{b1 + 1}"
    beat0, beat1 = o0 // spb + 1, o1 // spb + 1
    if b0 == b1:
        return f"bar {b0 + 1}, beat {beat0}" if beat0 == beat1 else f"bar {b0 + 1}, beats {beat0}–{beat1}"
    return f"bar {b0 + 1} beat {beat0} – bar {b1 + 1} beat {beat1}"


def note_name(pitch: int) -> str:
    """Scientific pitch name: 60 -> "C4", 61 -> "C#4", 21 -> "A0"."""
    if not 0 <= int(pitch) <= 127:
        raise ValueError(f"MIDI pitch must be 0..127, got {pitch}")
    return pretty_midi.note_number_to_name(int(pitch))

"""MIDI files <-> binary piano rolls on the file's own beat grid, and the model's input windows.

A roll is a (128, T) uint8 {0, 1} image: row = MIDI pitch (row 0 = pitch 0), column = step,
with `steps_per_beat` steps per beat. A parallel `onsets` image marks the step where each note
starts, so that repeated notes at one pitch stay separate. Every kind of unreadable input raises
`MidiError` with one sentence a musician can act on.
"""
from __future__ import annotations

import io
import warnings
import math
import struct
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import mido
import numpy as np
import pretty_midi

if TYPE_CHECKING:
    import torch

__all__ = ["MidiError", "PianoRoll", "MAX_MIDI_BYTES", "MAX_STEPS", "MIN_BPM", "MAX_BPM",
           "midi_to_roll", "roll_to_midi", "midi_bytes", "window_at", "windows", "transpose",
           "bar_beat_label", "note_name"]

MAX_MIDI_BYTES = 8 * 1024 * 1024
MAX_STEPS = 20_000  # longest roll at 4 steps per beat, i.e. 5,000 beats; scales with steps_per_beat
MIN_BPM, MAX_BPM = 10.0, 1000.0
_REFERENCE_STEPS_PER_BEAT = 4
_MAX_BEATS = MAX_STEPS // _REFERENCE_STEPS_PER_BEAT
# pretty_midi allocates one float per tick up to the last event and refuses files past this.
_PRETTY_MIDI_MAX_TICK = 10_000_000
_WRITE_RESOLUTION = 480  # ticks per quarter note in files we write
_VELOCITY = 100
_ROUNDING_SLACK = 1e-6  # in steps: exact half steps carry float noise; always send them up


class MidiError(ValueError):
    """A MIDI input that cannot be turned into a piano roll; the message is one plain sentence."""


@dataclass
class PianoRoll:
    """A binary piano roll with the timing it was read with."""

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
        """Steps in one bar of the first time signature."""
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


def _beats_per_bar(time_signature: tuple[int, int]) -> int:
    """Beats per bar under pretty_midi's beat definition."""
    numerator, denominator = time_signature
    bar_quarters = Fraction(4 * numerator, denominator)
    return max(1, round(bar_quarters / _beat_quarters(time_signature)))


# ---------------------------------------------------------------------------------------------
# Reading and validating input

def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.1f}"


def _size_error(n_bytes: int) -> MidiError:
    return MidiError(f"The file is {_megabytes(n_bytes)} MB; the limit is {MAX_MIDI_BYTES // 2**20} MB.")


def _read_path(path: Path) -> bytes:
    """Bytes of a file on disk, checking its size before reading it."""
    try:
        if not path.exists():
            raise MidiError(f"The file '{path.name}' does not exist.")
        if path.is_dir():
            raise MidiError(f"'{path.name}' is a folder, not a MIDI file.")
        size = path.stat().st_size
        if size > MAX_MIDI_BYTES:
            raise _size_error(size)
        return path.read_bytes()
    except OSError as e:
        raise MidiError(f"The file '{path.name}' could not be read.") from e


def _input_bytes(source: str | Path | bytes) -> tuple[bytes, str]:
    """(data, default name) for a path or raw bytes."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > MAX_MIDI_BYTES:
            raise _size_error(len(data))
        return data, "untitled"
    if isinstance(source, (str, Path)):
        path = Path(source)
        return _read_path(path), path.stem
    raise TypeError(f"expected a path or bytes, got {type(source).__name__}")


def _check_header(data: bytes) -> tuple[int, int]:
    """Validate the MThd chunk cheaply; return (number of tracks, offset of the first track)."""
    if not data:
        raise MidiError("The file is empty.")
    if not data.startswith(b"MThd"):
        raise MidiError("This file is not a MIDI file (it does not start with an 'MThd' header).")
    if len(data) < 14:
        raise MidiError("The MIDI file is cut off: it ends inside its header.")
    header_len, fmt, n_tracks, division = struct.unpack(">LHHH", data[4:14])
    if header_len < 6 or 8 + header_len > len(data):
        raise MidiError("The MIDI file's header is damaged.")
    if fmt > 2:
        raise MidiError(f"The MIDI file's header is damaged (it names an unknown format {fmt}).")
    if division & 0x8000:
        raise MidiError("This MIDI file counts time in SMPTE frames, which is not supported.")
    if division == 0:
        raise MidiError("The MIDI file's header is damaged (it sets zero ticks per beat).")
    # mido reads the track count as a signed 16-bit number
    if n_tracks == 0 or n_tracks >= 0x8000:
        raise MidiError("The MIDI file has a header but no tracks.")
    return n_tracks, 8 + header_len


def _check_chunks(data: bytes) -> None:
    """Walk the chunk headers (cheap) so that truncation is reported before any parsing."""
    n_tracks, offset = _check_header(data)
    for index in range(n_tracks):
        if offset >= len(data):
            if index == 0:
                raise MidiError("The MIDI file has a header but no tracks.")
            raise MidiError("The MIDI file is cut off: it has fewer tracks than its header announces.")
        if len(data) - offset < 8:
            raise MidiError("The MIDI file is cut off: it ends in the middle of a track.")
        chunk_id, length = struct.unpack(">4sL", data[offset:offset + 8])
        if chunk_id != b"MTrk":
            raise MidiError(f"The MIDI file is damaged: track {index + 1} does not start with an 'MTrk' marker.")
        if offset + 8 + length > len(data):
            raise MidiError("The MIDI file is cut off: it ends in the middle of a track.")
        offset += 8 + length


def _parse(data: bytes) -> mido.MidiFile:
    """Parse with mido, turning its many exception types into one sentence."""
    try:
        return mido.MidiFile(file=io.BytesIO(data))
    except EOFError as e:
        raise MidiError("The MIDI file is cut off: it ends in the middle of a track.") from e
    except Exception as e:  # mido raises OSError, ValueError, KeyError, IndexError, ... on bad bytes
        raise MidiError("The MIDI file is damaged: one of its tracks contains invalid data.") from e


def _format_bpm(bpm: float) -> str:
    return f"{bpm:,.1f}".removesuffix(".0")


def _check_tempi(mid: mido.MidiFile) -> None:
    """Refuse tempos that no music uses; pretty_midi only reads tempos from the first track."""
    for msg in mid.tracks[0]:
        if msg.type == "set_tempo":
            bpm = 6e7 / max(msg.tempo, 1)
            if not MIN_BPM <= bpm <= MAX_BPM:
                raise MidiError(f"The MIDI file sets an absurd tempo of {_format_bpm(bpm)} BPM; "
                                f"a tempo must lie between {MIN_BPM:g} and {MAX_BPM:g} BPM.")


def _too_long(beats: float) -> MidiError:
    return MidiError(f"The piece is too long: it spans about {beats:,.0f} beats, "
                     f"and the limit is {_MAX_BEATS:,} beats.")


def _check_length(mid: mido.MidiFile) -> None:
    """Refuse absurd lengths before pretty_midi allocates per-tick arrays and walks every beat."""
    last_tick = max((sum(msg.time for msg in track) for track in mid.tracks), default=0)
    if last_tick >= _PRETTY_MIDI_MAX_TICK:
        raise MidiError(f"The MIDI file is too long to read: its last event is at tick {last_tick:,}, "
                        f"past the limit of {_PRETTY_MIDI_MAX_TICK:,}.")
    quarters = last_tick / mid.ticks_per_beat
    # Generous: a beat can be up to 6 quarter notes (compound x/2), and the exact check follows.
    if quarters > 8 * _MAX_BEATS:
        raise _too_long(quarters)


def _load(data: bytes) -> pretty_midi.PrettyMIDI:
    """Validated bytes -> PrettyMIDI, or MidiError."""
    _check_chunks(data)
    mid = _parse(data)
    _check_tempi(mid)
    _check_length(mid)
    for track in mid.tracks:
        if not track:  # pretty_midi crashes on an empty track (max of an empty list)
            track.append(mido.MetaMessage("end_of_track", time=0))
    try:
        with warnings.catch_warnings():
            # tempo events outside track 0 are common in real files and handled as pretty_midi does
            warnings.simplefilter("ignore", RuntimeWarning)
            return pretty_midi.PrettyMIDI(mido_object=mid)
    except Exception as e:  # e.g. a time signature with numerator 0
        raise MidiError("The MIDI file is damaged and could not be read.") from e


# ---------------------------------------------------------------------------------------------
# Beat grid

def _first_time_signature(pm: pretty_midi.PrettyMIDI) -> tuple[int, int]:
    changes = sorted(pm.time_signature_changes, key=lambda ts: ts.time)
    return (changes[0].numerator, changes[0].denominator) if changes else (4, 4)


def _beat_grid(pm: pretty_midi.PrettyMIDI, until_s: float) -> np.ndarray:
    """Beat times from pretty_midi (tempo changes respected), extended past until_s."""
    beats = np.asarray(pm.get_beats(), dtype=np.float64)
    # get_beats can repeat a time where a time-signature change snaps a beat; interp needs increase
    beats = beats[np.concatenate([[True], np.diff(beats) > 1e-9])]
    if len(beats) >= 2:
        last_len = beats[-1] - beats[-2]
    else:
        tempo = pm.get_tempo_changes()[1][-1]
        last_len = 60.0 / tempo * float(_beat_quarters(_first_time_signature(pm)))
    extra = max(0, math.ceil((until_s - beats[-1]) / last_len)) + 1
    return np.concatenate([beats, beats[-1] + last_len * np.arange(1, extra + 1)])


def _step_grid(beats: np.ndarray, steps_per_beat: int) -> np.ndarray:
    """Start time of every step: each beat interval cut into steps_per_beat equal parts."""
    fractions = np.arange(steps_per_beat) / steps_per_beat
    inner = beats[:-1, None] + np.diff(beats)[:, None] * fractions[None, :]
    return np.concatenate([inner.ravel(), beats[-1:]])


def _to_step(fractional: np.ndarray) -> np.ndarray:
    return np.floor(fractional + 0.5 + _ROUNDING_SLACK).astype(np.int64)


def _instrument_label(inst: pretty_midi.Instrument) -> str:
    if inst.name.strip():
        return inst.name.strip()
    return "Drums" if inst.is_drum else pretty_midi.program_to_instrument_name(inst.program)


# ---------------------------------------------------------------------------------------------
# Public API

def midi_to_roll(path_or_bytes: str | Path | bytes, steps_per_beat: int = 4,
                 include_drums: bool = False, name: str | None = None) -> PianoRoll:
    """Read a MIDI file (path or bytes) into a PianoRoll on the file's own beat grid."""
    if steps_per_beat < 1:
        raise ValueError("steps_per_beat must be at least 1")
    data, default_name = _input_bytes(path_or_bytes)
    pm = _load(data)
    kept = [inst for inst in pm.instruments if inst.notes and (include_drums or not inst.is_drum)]
    notes = [note for inst in kept for note in inst.notes]
    if not notes:
        if any(inst.notes for inst in pm.instruments):
            raise MidiError("The MIDI file contains only drum notes, and drums are left out.")
        raise MidiError("The MIDI file contains no notes.")
    pitches = np.array([n.pitch for n in notes], dtype=np.int64)
    starts_s = np.array([n.start for n in notes], dtype=np.float64)
    ends_s = np.array([n.end for n in notes], dtype=np.float64)

    step_grid = _step_grid(_beat_grid(pm, float(ends_s.max())), steps_per_beat)
    position = np.arange(len(step_grid), dtype=np.float64)
    first = _to_step(np.interp(starts_s, step_grid, position))
    last = np.maximum(_to_step(np.interp(ends_s, step_grid, position)), first + 1)
    T = int(last.max())
    if T > MAX_STEPS * steps_per_beat // _REFERENCE_STEPS_PER_BEAT:
        raise _too_long(T / steps_per_beat)

    array = np.zeros((128, T), dtype=np.uint8)
    onsets = np.zeros((128, T), dtype=np.uint8)
    for pitch, a, b in zip(pitches, first, last):
        array[pitch, a:b] = 1
    onsets[pitches, first] = 1

    beats = math.ceil(T / steps_per_beat)
    return PianoRoll(
        array=array, steps_per_beat=steps_per_beat,
        name=name if name is not None else default_name,
        duration_s=float(ends_s.max()), tempo_bpm=float(pm.get_tempo_changes()[1][0]),
        beats=beats, beat_times=step_grid[::steps_per_beat][:beats].copy(),
        step_times=step_grid[:T].copy(), time_signature=_first_time_signature(pm),
        onsets=onsets, n_notes=len(notes), instruments=[_instrument_label(i) for i in kept])


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


def roll_to_midi(roll: PianoRoll | np.ndarray, steps_per_beat: int = 4, tempo_bpm: float = 120.0,
                 program: int = 0, onsets: np.ndarray | None = None) -> pretty_midi.PrettyMIDI:
    """Write a roll as one instrument on a constant-tempo grid; a PianoRoll's own timing wins."""
    time_signature = (4, 4)
    if isinstance(roll, PianoRoll):
        steps_per_beat, tempo_bpm, time_signature = roll.steps_per_beat, roll.tempo_bpm, roll.time_signature
        onsets = roll.onsets if onsets is None else onsets
        array = roll.array
    else:
        array = np.asarray(roll)
    if array.ndim != 2 or array.shape[0] != 128:
        raise ValueError(f"expected a (128, T) roll, got shape {array.shape}")
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


def window_at(roll: PianoRoll, start: int, width: int) -> np.ndarray:
    """The (128, width) uint8 slice of the roll starting at step `start`, zero-padded past the end."""
    out = np.zeros((128, width), dtype=np.uint8)
    seg = roll.array[:, start:start + width]
    out[:, :seg.shape[1]] = seg
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
        # Just enough windows that the last one reaches the final step.
        count = 1 + max(0, math.ceil((T - width) / hop))
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


def note_name(pitch: int) -> str:
    """Scientific pitch name: 60 -> "C4", 61 -> "C#4", 21 -> "A0"."""
    if not 0 <= int(pitch) <= 127:
        raise ValueError(f"MIDI pitch must be 0..127, got {pitch}")
    return pretty_midi.note_number_to_name(int(pitch))

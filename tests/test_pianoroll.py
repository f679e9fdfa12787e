"""Specification of midi_rae.pianoroll: MIDI <-> piano roll, model windows, and refusing bad input."""
from __future__ import annotations

import io
import re
import struct

import mido
import numpy as np
import pretty_midi
import pytest
import torch

from midi_rae.fuzz import vlq
from midi_rae.pianoroll import (MAX_MIDI_BYTES, MidiError, PianoRoll, bar_beat_label, bar_span, beat_seconds,
                                midi_bytes,
                                midi_to_roll, note_name, roll_to_midi, start_bars, transpose, windows)

# At 120 BPM and 4 steps per beat one step lasts 0.125 s.
SONG_STEPS = 24  # the song's last pitched note ends at 3.0 s
SONG_STEPS_WITH_DRUMS = 30  # its drum hit ends at 3.75 s


def song(time_signature: tuple[int, int] | None = None) -> pretty_midi.PrettyMIDI:
    """Piano, bass and drums at 120 BPM, with overlapping and back-to-back repeated notes."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    if time_signature:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(*time_signature, 0.0))
    piano = pretty_midi.Instrument(program=0, name="Piano")
    piano.notes += [
        pretty_midi.Note(velocity=90, pitch=60, start=0.5, end=1.0),
        pretty_midi.Note(velocity=90, pitch=64, start=0.5, end=2.0),  # overlaps 60 and 67
        pretty_midi.Note(velocity=90, pitch=67, start=1.0, end=1.5),
        pretty_midi.Note(velocity=90, pitch=72, start=2.0, end=2.5),  # 72 repeated back to back
        pretty_midi.Note(velocity=90, pitch=72, start=2.5, end=3.0),
    ]
    bass = pretty_midi.Instrument(program=33, name="Bass")
    bass.notes.append(pretty_midi.Note(velocity=90, pitch=40, start=0.0, end=2.0))
    drums = pretty_midi.Instrument(program=0, is_drum=True, name="Drums")
    drums.notes.append(pretty_midi.Note(velocity=100, pitch=38, start=3.5, end=3.75))
    pm.instruments += [piano, bass, drums]
    return pm


def song_bytes(time_signature: tuple[int, int] | None = None) -> bytes:
    return midi_bytes(song(time_signature))


def mido_bytes(events: list[mido.Message | mido.MetaMessage]) -> bytes:
    """A one-track MIDI file at 480 ticks per beat; event times are deltas in ticks."""
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack(events))
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def tempo_change_bytes() -> bytes:
    """4 beats at 120 BPM, then 60 BPM; one C4 on beat 8 (0-based), i.e. at 2 s + 4 s = 6 s."""
    return mido_bytes([
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60), time=4 * 480),
        mido.Message("note_on", note=60, velocity=90, time=4 * 480),
        mido.Message("note_off", note=60, velocity=0, time=480),
    ])


def roll_from_notes(notes: list[tuple[int, int, int]], steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(array, onsets) drawn from (pitch, first step, end step) notes."""
    array = np.zeros((128, steps), dtype=np.uint8)
    onsets = np.zeros((128, steps), dtype=np.uint8)
    for pitch, a, b in notes:
        array[pitch, a:b] = 1
        onsets[pitch, a] = 1
    return array, onsets


def steps_of(row: np.ndarray) -> list[int]:
    return np.flatnonzero(row).tolist()


def refused(source, **kwargs) -> str:
    """The MidiError message for source, checked to be a single plain sentence."""
    with pytest.raises(MidiError) as info:
        midi_to_roll(source, **kwargs)
    message = str(info.value)
    assert message.endswith(".")
    assert "\n" not in message and "Traceback" not in message
    assert re.search(r"[.!?]\s", message) is None, f"more than one sentence: {message!r}"
    return message


# ---------------------------------------------------------------------------------------------
# Reading: shape, placement, timing

def test_roll_is_uint8_binary_with_a_row_per_pitch():
    roll = midi_to_roll(song_bytes())
    assert roll.array.dtype == np.uint8 and roll.onsets.dtype == np.uint8
    assert roll.array.shape == roll.onsets.shape == (128, SONG_STEPS)
    assert set(np.unique(roll.array)) == {0, 1}


def test_note_from_half_a_second_to_a_second_at_120_bpm_covers_steps_4_to_7():
    roll = midi_to_roll(song_bytes())
    assert steps_of(roll.array[60]) == [4, 5, 6, 7]
    assert steps_of(roll.onsets[60]) == [4]


def test_overlapping_notes_each_keep_their_own_steps():
    roll = midi_to_roll(song_bytes())
    assert steps_of(roll.array[64]) == list(range(4, 16))
    assert steps_of(roll.array[67]) == list(range(8, 12))
    assert steps_of(roll.array[40]) == list(range(0, 16))


def test_repeated_notes_fill_the_row_and_are_told_apart_by_onsets():
    roll = midi_to_roll(song_bytes())
    assert steps_of(roll.array[72]) == list(range(16, 24))
    assert steps_of(roll.onsets[72]) == [16, 20]


def test_tempo_change_is_respected_note_on_beat_8_lands_on_step_32():
    roll = midi_to_roll(tempo_change_bytes())
    assert steps_of(roll.onsets[60]) == [32]
    assert steps_of(roll.array[60]) == [32, 33, 34, 35]
    assert roll.step_times[32] == pytest.approx(6.0)
    assert roll.beat_times[4:9] == pytest.approx([2.0, 3.0, 4.0, 5.0, 6.0])
    assert roll.tempo_bpm == pytest.approx(120.0)


def test_eight_steps_per_beat_doubles_the_length_and_positions():
    roll = midi_to_roll(song_bytes(), steps_per_beat=8)
    assert roll.steps == 2 * SONG_STEPS
    assert steps_of(roll.array[60]) == list(range(8, 16))


def test_drums_are_left_out_by_default():
    roll = midi_to_roll(song_bytes())
    assert not roll.array[38].any()
    assert roll.steps == SONG_STEPS
    assert roll.instruments == ["Piano", "Bass"]


def test_drums_are_included_when_asked():
    roll = midi_to_roll(song_bytes(), include_drums=True)
    assert steps_of(roll.array[38]) == [28, 29]
    assert roll.steps == SONG_STEPS_WITH_DRUMS
    assert roll.instruments == ["Piano", "Bass", "Drums"]


def test_timing_metadata_of_a_120_bpm_song():
    roll = midi_to_roll(song_bytes())
    assert roll.tempo_bpm == pytest.approx(120.0)
    assert roll.duration_s == pytest.approx(3.0)
    assert roll.beats == 6
    assert roll.beat_times == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
    assert roll.step_times == pytest.approx(np.arange(SONG_STEPS) * 0.125)
    assert roll.time_signature == (4, 4)
    assert roll.n_notes == 6


def test_name_comes_from_the_file_name_or_the_argument(tmp_path):
    path = tmp_path / "etude.mid"
    path.write_bytes(song_bytes())
    assert midi_to_roll(path).name == "etude"
    assert midi_to_roll(str(path), name="Etude in C").name == "Etude in C"
    assert midi_to_roll(song_bytes()).name == "untitled"


def test_bars_and_steps_per_bar_in_four_four():
    roll = midi_to_roll(song_bytes())
    assert roll.steps_per_bar == 16
    assert roll.bars == 1.5


def test_pitch_range_spans_the_sounding_pitches():
    assert midi_to_roll(song_bytes()).pitch_range() == (40, 72)


# ---------------------------------------------------------------------------------------------
# Bar:beat labels and note names

def test_bar_beat_labels_in_four_four():
    roll = midi_to_roll(song_bytes())
    assert [bar_beat_label(s, roll) for s in (0, 4, 5, 15, 16)] == ["1:1", "1:2", "1:2", "1:4", "2:1"]


def test_bar_beat_labels_in_three_four_use_three_beats_per_bar():
    roll = midi_to_roll(song_bytes((3, 4)))
    assert roll.time_signature == (3, 4)
    assert [bar_beat_label(s, roll) for s in (8, 12)] == ["1:3", "2:1"]


def test_six_eight_counts_two_dotted_quarter_beats_per_bar_like_pretty_midi():
    roll = midi_to_roll(song_bytes((6, 8)))
    # pretty_midi counts 6/8 in dotted-quarter beats (0.75 s at 120 BPM), two to a bar
    assert roll.beat_times[:3] == pytest.approx([0.0, 0.75, 1.5])
    assert roll.steps_per_bar == 8
    assert bar_beat_label(8, roll) == "2:1"


@pytest.mark.parametrize("pitch, name", [(60, "C4"), (61, "C#4"), (21, "A0"), (127, "G9")])
def test_note_names(pitch, name):
    assert note_name(pitch) == name


# ---------------------------------------------------------------------------------------------
# Writing and round trips

def roundtrip(roll: PianoRoll, **kwargs) -> PianoRoll:
    return midi_to_roll(midi_bytes(roll_to_midi(roll)), steps_per_beat=roll.steps_per_beat, **kwargs)


@pytest.mark.parametrize("steps_per_beat", [1, 2, 3, 4, 6, 8, 12])
def test_roundtrip_reproduces_array_and_onsets_exactly(steps_per_beat):
    roll = midi_to_roll(song_bytes(), steps_per_beat=steps_per_beat, include_drums=True)
    back = roundtrip(roll)
    np.testing.assert_array_equal(back.array, roll.array)
    np.testing.assert_array_equal(back.onsets, roll.onsets)


def test_roundtrip_of_a_file_with_a_tempo_change_keeps_every_step():
    roll = midi_to_roll(tempo_change_bytes())
    back = roundtrip(roll)
    np.testing.assert_array_equal(back.array, roll.array)
    np.testing.assert_array_equal(back.onsets, roll.onsets)


def test_a_written_roll_plays_at_the_pieces_own_tempo_beat_by_beat():
    pm = roll_to_midi(midi_to_roll(tempo_change_bytes()))  # before, at 120 BPM throughout: the note at 4 s
    (note,) = pm.instruments[0].notes
    assert (round(note.start, 6), round(note.end, 6)) == (6.0, 7.0)
    assert pm.get_tempo_changes()[1].round(6).tolist() == [120.0, 60.0]


def test_a_window_written_with_its_beats_lengths_plays_as_long_as_it_lasts_in_the_piece():
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)  # 7/8 (eighth-note beats, 0.3 s) for 4 bars, then 5/4 (9 bars)
    pm.time_signature_changes = [pretty_midi.TimeSignature(7, 8, 0.0), pretty_midi.TimeSignature(5, 4, 8.4)]
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(90, 60 + i % 12, 0.3 * i, 0.3 * i + 0.25) for i in range(120)]
    pm.instruments.append(inst)
    roll = midi_to_roll(midi_bytes(pm))
    assert (roll.time_signature, roll.opening_time_signature) == ((5, 4), (7, 8))
    first = roll.array[:, :64]  # 16 eighth-note beats of the 7/8 opening (its padding before it included)
    plain = roll_to_midi(first, steps_per_beat=4, tempo_bpm=100.0, time_signature=roll.time_signature)
    timed = roll_to_midi(first, steps_per_beat=4, tempo_bpm=100.0, time_signature=roll.time_signature,
                         seconds=beat_seconds(roll, 0, 64))
    assert np.round(np.diff([n.start for n in timed.instruments[0].notes[:3]]), 3).tolist() == [0.3, 0.3]
    assert np.round(np.diff([n.start for n in plain.instruments[0].notes[:3]]), 3).tolist() == [0.6, 0.6]
    np.testing.assert_array_equal(midi_to_roll(midi_bytes(timed)).array, midi_to_roll(midi_bytes(plain)).array)


@pytest.mark.parametrize("seconds, bpm", [([0.05] * 8, [1000.0]), ([7.0] * 8, [10.0]),
                                          ([0.5, 0.0] + [0.5] * 6, [120.0])])
def test_beat_lengths_past_what_the_reader_takes_are_written_at_its_limits_and_read_back(seconds, bpm):
    array, onsets = roll_from_notes([(60, 4 * i, 4 * i + 1) for i in range(8)], steps=32)
    pm = roll_to_midi(array, steps_per_beat=4, tempo_bpm=120.0, onsets=onsets, seconds=np.array(seconds))
    assert pm.get_tempo_changes()[1].round(6).tolist() == bpm  # a beat of no length keeps the tempo before it
    back = midi_to_roll(midi_bytes(pm))
    np.testing.assert_array_equal(back.array, array[:, :back.steps])


def test_roundtrip_in_six_eight_keeps_the_time_signature_and_every_step():
    roll = midi_to_roll(song_bytes((6, 8)))
    back = roundtrip(roll)
    assert back.time_signature == (6, 8)
    np.testing.assert_array_equal(back.array, roll.array)
    np.testing.assert_array_equal(back.onsets, roll.onsets)


def test_bare_array_with_onsets_roundtrips_repeated_and_overlapping_notes():
    array, onsets = roll_from_notes([(60, 0, 4), (60, 4, 8), (60, 8, 9), (62, 2, 3), (64, 0, 16)], steps=16)
    pm = roll_to_midi(array, steps_per_beat=4, tempo_bpm=100.0, onsets=onsets)
    back = midi_to_roll(midi_bytes(pm))
    np.testing.assert_array_equal(back.array, array)
    np.testing.assert_array_equal(back.onsets, onsets)


def test_a_run_without_inner_onsets_is_written_as_one_note():
    array, _ = roll_from_notes([(60, 0, 8)], steps=8)
    notes = roll_to_midi(array, steps_per_beat=4, tempo_bpm=120.0).instruments[0].notes
    assert [(n.pitch, n.start, n.end) for n in notes] == [(60, 0.0, 1.0)]


def test_a_roll_is_written_with_its_own_tempo_and_program():
    roll = midi_to_roll(tempo_change_bytes())
    pm = roll_to_midi(roll, program=40)
    assert pm.get_tempo_changes()[1][0] == pytest.approx(120.0)  # then its change (the test above)
    assert pm.instruments[0].program == 40


# ---------------------------------------------------------------------------------------------
# Model windows

def test_windows_cover_every_step_and_pad_the_last_one():
    array, _ = roll_from_notes([(60, 0, 300), (30, 299, 300)], steps=300)
    batch, starts = windows(array, width=128)
    assert batch.dtype == torch.float32 and batch.shape == (3, 1, 128, 128)
    assert starts.tolist() == [0, 128, 256]
    np.testing.assert_array_equal(batch[2, 0, :, :44].numpy(), array[:, 256:300])
    assert not batch[2, 0, :, 44:].any()


def test_a_tempo_change_on_every_beat_keeps_the_last_notes_length():
    """An accelerando written as a tempo change on each beat: 64 one-beat notes are 64 beats, the last one too
    (the grid past the last beat goes on at the tempo set there, not at the beat before's)."""
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    for k in range(64):
        track += [mido.MetaMessage("set_tempo", tempo=int(1_000_000 / (1 + k / 16)), time=0),
                  mido.Message("note_on", note=60 + k % 12, velocity=90, time=0),
                  mido.Message("note_off", note=60 + k % 12, velocity=0, time=480)]
    buf = io.BytesIO()
    mid.save(file=buf)
    roll = midi_to_roll(buf.getvalue(), steps_per_beat=4)
    assert roll.steps == 256 and roll.bars == 16.0
    assert roll.onsets.sum() == 64 and roll.array[:, 252:256].sum() == 4  # the last note: its four steps


def test_a_tempo_change_between_two_beats_moves_no_later_beat():
    """Music21's export of Weber's Concertino: a metre written twice at one tick (2/2, an eighth of a beat after
    the bar line), then a tempo change between two beats. pretty_midi's beats drift from there (112.903 quarter
    notes instead of 113.125) and 83 % of the notes were called off the grid, "no resolution places them"; the
    grid, counted in the file's ticks, keeps every note on a step."""
    tpq = 480
    events = [(0, mido.MetaMessage("time_signature", numerator=3, denominator=4)),
              (0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(72))),
              (6 * tpq, mido.MetaMessage("time_signature", numerator=2, denominator=2)),
              (6 * tpq + 60, mido.MetaMessage("time_signature", numerator=2, denominator=2)),
              (6 * tpq + 60, mido.MetaMessage("time_signature", numerator=2, denominator=2)),
              (8 * tpq + 44, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90)))]
    for k in range(12):  # eighth notes from the second metre event on
        t = 6 * tpq + 60 + k * tpq // 2
        events += [(t, mido.Message("note_on", note=60 + k % 7, velocity=90)),
                   (t + tpq // 2, mido.Message("note_off", note=60 + k % 7, velocity=0))]
    events.sort(key=lambda e: (e[0], e[1].type == "note_on"))
    mid = mido.MidiFile(ticks_per_beat=tpq)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    now = 0
    for t, msg in events:
        track.append(msg.copy(time=t - now))
        now = t
    buf = io.BytesIO()
    mid.save(file=buf)
    roll = midi_to_roll(buf.getvalue(), steps_per_beat=4)
    # 6 beats of 3/4, then the beat that the second 2/2 cuts short (an eighth of a quarter, 4 steps as every
    # beat), then half-note beats of 4 steps: an eighth note a step
    assert roll.grid_note is None
    assert np.flatnonzero(roll.onsets.any(axis=0)).tolist() == list(range(28, 40))


def test_window_rows_are_pitches():
    roll = midi_to_roll(song_bytes())
    batch, _ = windows(roll, width=32)
    np.testing.assert_array_equal(batch[0, 0, :, :SONG_STEPS].numpy(), roll.array)
    assert batch[0, 0, 60, 4] == 1.0


def test_a_roll_shorter_than_the_width_gives_one_padded_window():
    roll = midi_to_roll(song_bytes())
    batch, starts = windows(roll, width=128)
    assert batch.shape == (1, 1, 128, 128) and starts.tolist() == [0]
    assert not batch[0, 0, :, SONG_STEPS:].any()


def test_hop_sets_the_spacing_of_window_starts():
    array = np.ones((128, 300), dtype=np.uint8)
    batch, starts = windows(array, width=128, hop=64)
    assert starts.tolist() == [0, 64, 128, 192]
    assert batch.shape == (4, 1, 128, 128)


def test_a_hop_longer_than_the_window_starts_no_window_after_the_piece_ends():
    """A bar of 4/4 at 48 steps per beat is 192 steps, longer than a 128-step window: ten bars, ten windows."""
    array = np.ones((128, 1920), dtype=np.uint8)
    batch, starts = windows(array, width=128, hop=192)
    assert starts.tolist() == [192 * k for k in range(10)] and bool(batch.all())


def test_a_window_may_start_at_each_bar_until_the_last_window_reaches_the_end():
    assert start_bars(steps=160, steps_per_bar=16, width=128) == 3  # bars 1-3; bar 3's window ends at step 160
    assert start_bars(steps=100, steps_per_bar=16, width=128) == 1
    assert start_bars(steps=1920, steps_per_bar=192, width=128) == 10  # not 11: bar 11 would start at the end


def test_without_padding_only_full_windows_are_returned():
    array = np.ones((128, 300), dtype=np.uint8)
    batch, starts = windows(array, width=128, pad=False)
    assert starts.tolist() == [0, 128]
    assert bool(batch.all())


# ---------------------------------------------------------------------------------------------
# Transposition

def test_transpose_moves_rows_and_onsets_by_semitones():
    roll = midi_to_roll(song_bytes())
    up = transpose(roll, 2)
    np.testing.assert_array_equal(up.array[62], roll.array[60])
    np.testing.assert_array_equal(up.onsets[74], roll.onsets[72])
    assert up.pitch_range() == (42, 74)
    assert up.n_notes == roll.n_notes


def test_transpose_drops_notes_pushed_past_pitch_127():
    roll = midi_to_roll(song_bytes())
    up = transpose(roll, 60)  # 72 -> 132 is dropped, 67 -> 127 survives
    np.testing.assert_array_equal(up.array[127], roll.array[67])
    assert up.pitch_range() == (100, 127)
    assert up.n_notes == roll.n_notes - 2
    assert up.array.sum() == roll.array.sum() - roll.array[72].sum()


def test_transpose_down_drops_notes_below_pitch_0():
    roll = midi_to_roll(song_bytes())
    down = transpose(roll, -60)  # 40 is dropped, 60 -> 0 survives
    assert down.pitch_range() == (0, 12)
    assert not down.array[:, :4].any()  # the bass note filled steps 0..3 alone


# ---------------------------------------------------------------------------------------------
# Bad input: always MidiError, always one plain sentence

def test_text_is_not_midi():
    message = refused(b"Dear diary, today I wrote a song.\n")
    assert message == "This file is not a MIDI file (it does not start with an 'MThd' header)."


def test_empty_bytes():
    assert refused(b"") == "The file is empty."


def test_a_file_cut_in_half_is_reported_as_cut_off():
    data = song_bytes()
    assert refused(data[:len(data) // 2]) == "The MIDI file is cut off: it ends in the middle of a track."


def test_header_only():
    assert refused(song_bytes()[:14]) == "The MIDI file has a header but no tracks."


def test_a_header_cut_short():
    assert refused(song_bytes()[:10]) == "The MIDI file is cut off: it ends inside its header."


def test_a_track_without_its_mtrk_marker():
    data = song_bytes().replace(b"MTrk", b"\x00\x01\x02\x03", 1)
    assert refused(data) == "The MIDI file is damaged: track 1 does not start with an 'MTrk' marker."


def test_a_chunk_of_another_kind_between_the_tracks_is_stepped_over():
    data = song_bytes()
    header_end = 8 + struct.unpack(">L", data[4:8])[0]
    payload = b"\xff\x00junk"
    alien = b"XFIH" + struct.pack(">L", len(payload)) + payload  # a vendor's chunk, as Yamaha's XF files carry
    with_alien = data[:header_end] + alien + data[header_end:]
    a, b = midi_to_roll(data), midi_to_roll(with_alien)
    assert np.array_equal(a.array, b.array) and a.steps_per_bar == b.steps_per_bar


def test_a_track_renamed_to_another_chunk_kind_leaves_fewer_tracks_than_announced():
    data = song_bytes().replace(b"MTrk", b"XXXX", 1)
    assert refused(data) == "The MIDI file is cut off: it has fewer tracks than its header announces."


def test_a_header_announcing_no_tracks_before_a_track_says_so():
    data = song_bytes()
    data = data[:10] + struct.pack(">H", 0) + data[12:]
    assert refused(data) == "The MIDI file's header announces no tracks."


def test_a_header_announcing_65535_tracks_names_the_limit():
    data = song_bytes()
    assert refused(data[:10] + struct.pack(">H", 65535) + data[12:]) == \
        "The MIDI file has 65,535 tracks; the limit is 2,000."


def test_garbage_inside_a_track():
    body = b"\x00\x90\x3c\xff\xff\xff"  # a note-on whose data bytes are out of range
    data = b"MThd" + struct.pack(">LHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">L", len(body)) + body
    assert refused(data) == "The MIDI file is damaged: one of its tracks contains invalid data."


def test_a_file_timed_in_smpte_frames_is_read_in_seconds_at_120_bpm_and_said():
    """25 frames a second of 40 ticks: a note every second lands every two beats (8 steps), whatever tempo events
    the file holds (players ignore them under SMPTE timing)."""
    events = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60), time=0)]
    for i in range(4):
        events += [mido.Message("note_on", note=60 + i, velocity=90, time=0 if i == 0 else 500),
                   mido.Message("note_off", note=60 + i, velocity=0, time=500)]
    data = mido_bytes(events)
    data = data[:12] + struct.pack(">H", 0xE728) + data[14:]  # -25 fps, 40 ticks per frame: 1,000 ticks a second
    roll = midi_to_roll(data)
    assert [int(np.flatnonzero(roll.onsets[60 + i])[0]) for i in range(4)] == [0, 8, 16, 24]
    assert roll.duration_s == pytest.approx(3.5) and roll.tempo_bpm == pytest.approx(120)
    assert roll.reading_notes == ("The file counts time in SMPTE frames (25 frames a second, 40 ticks each), not in "
                                  "beats: it is read at 120 BPM, a beat every half second, so its beats and bars "
                                  "are the reader's, not the music's.",)


def test_a_smpte_frame_rate_no_standard_uses_is_refused():
    data = song_bytes()
    data = data[:12] + struct.pack(">H", 0xEC28) + data[14:]  # -20 fps
    assert refused(data) == ("This MIDI file counts time in SMPTE frames at a rate no standard uses, so it cannot be "
                             "read.")


def test_a_file_without_notes():
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.instruments.append(pretty_midi.Instrument(program=0))
    assert refused(midi_bytes(pm)) == "The MIDI file contains no notes."


def test_a_file_whose_only_note_has_no_length_says_so():
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(velocity=90, pitch=60, start=0.0, end=0.0001))  # the same tick: no length
    pm.instruments.append(piano)
    assert refused(midi_bytes(pm)) == ("The MIDI file contains no notes with a length: its one note ends at the "
                                       "tick it starts.")


def test_a_drums_only_file_has_no_notes_unless_drums_are_included():
    pm = song()
    pm.instruments = [inst for inst in pm.instruments if inst.is_drum]
    data = midi_bytes(pm)
    assert refused(data) == "The MIDI file contains only drum notes, and drums are left out."
    assert midi_to_roll(data, include_drums=True).n_notes == 1


def tempo_bytes(micros_per_beat: int) -> bytes:
    return mido_bytes([
        mido.MetaMessage("set_tempo", tempo=micros_per_beat, time=0),
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_off", note=60, velocity=0, time=480),
    ])


@pytest.mark.parametrize("micros_per_beat, bpm_text, read_as", [
    (0xFFFFFF, "3.6", 10.0),  # the slowest tempo MIDI can store; 1 BPM does not fit in a set_tempo event
    (mido.bpm2tempo(5), "5", 10.0),
    (mido.bpm2tempo(5000), "5,000", 1000.0),
    (59_999, "1,000.02", 1000.0),  # just past 1000 BPM: the number shown is outside the range too
    (6_000_001, "9.999998", 10.0),  # just under 10 BPM
])
def test_a_tempo_outside_the_range_is_read_as_the_nearest_limit_and_said(micros_per_beat, bpm_text, read_as):
    roll = midi_to_roll(tempo_bytes(micros_per_beat))
    assert roll.tempo_bpm == pytest.approx(read_as) and roll.n_notes == 1
    assert roll.reading_notes == (f"1 tempo outside 10–1,000 BPM ({bpm_text} BPM) is read as its nearest limit.",)


def test_a_tempo_of_zero_microseconds_is_called_infinite():
    assert midi_to_roll(tempo_bytes(0)).reading_notes == (
        "1 tempo outside 10–1,000 BPM (infinite) is read as its nearest limit.",)


def test_a_fermata_written_as_one_slow_beat_keeps_the_piece_on_its_grid():
    """A hymn at 120 BPM whose fermata is one beat at 8 BPM: every note stays on its beat; the beat lasts 6 s."""
    events = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0)]
    for beat in range(8):
        if beat == 4:
            events.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(8), time=0))
        if beat == 5:
            events.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0))
        events += [mido.Message("note_on", note=60 + beat, velocity=90, time=0),
                   mido.Message("note_off", note=60 + beat, velocity=0, time=480)]
    roll = midi_to_roll(mido_bytes(events))
    assert [int(np.flatnonzero(roll.onsets[60 + b])[0]) for b in range(8)] == [4 * b for b in range(8)]
    assert roll.duration_s == pytest.approx(7 * 0.5 + 6.0)  # 8 BPM read as 10: 6 s, not 7.5
    assert roll.reading_notes == ("1 tempo outside 10–1,000 BPM (8 BPM) is read as its nearest limit.",)


UNENDED = "with no note-off {} drawn until {} key is struck again, an All Notes Off or the end of the track."


def test_a_note_that_is_never_turned_off_sounds_to_the_end_of_its_track_and_is_said():
    roll = midi_to_roll(mido_bytes([
        mido.Message("note_on", note=36, velocity=90, time=0),  # a drone: no note-off
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_off", note=60, velocity=0, time=480 * 8),
        mido.MetaMessage("end_of_track", time=480 * 2),
    ]))
    assert roll.n_notes == 2 and roll.array[36].sum() == 40 and roll.array[60].sum() == 32  # 10 beats, 8 beats
    assert roll.reading_notes == ("1 note " + UNENDED.format("is", "its"),)


def test_a_key_struck_again_without_note_offs_ends_each_note_at_the_next():
    roll = midi_to_roll(mido_bytes([
        *[mido.Message("note_on", note=64, velocity=90, time=0 if i == 0 else 480) for i in range(4)],
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_off", note=60, velocity=0, time=480 * 4),
    ]))
    assert roll.n_notes == 5 and list(np.flatnonzero(roll.onsets[64])) == [0, 4, 8, 12]
    assert roll.array[64].sum() == 28  # three notes of a beat, the last to the track's end (4 beats)


def test_a_chord_ended_by_all_notes_off_sounds_until_then_even_after_a_note_off_at_its_start():
    chord = [60, 64, 67]
    roll = midi_to_roll(mido_bytes([
        *[mido.Message("note_on", note=n, velocity=90, time=0) for n in chord],
        *[mido.Message("note_off", note=n, velocity=0, time=480 if i == 0 else 0) for i, n in enumerate(chord)],
        *[mido.Message("note_on", note=n, velocity=90, time=0) for n in chord],  # struck again, no note-offs
        mido.Message("control_change", control=123, value=0, time=480 * 4),   # All Notes Off, 4 beats on
        mido.Message("note_on", note=48, velocity=90, time=480 * 2),
        mido.Message("note_off", note=48, velocity=0, time=480),
    ]))
    assert roll.n_notes == 7 and [int(roll.array[n].sum()) for n in chord] == [20, 20, 20]
    assert roll.reading_notes == ("3 notes " + UNENDED.format("are", "their"),)


def test_notes_of_no_length_are_left_out_and_counted_however_their_events_are_ordered():
    roll = midi_to_roll(mido_bytes([
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_on", note=90, velocity=90, time=0),  # on, then off at one tick (dropped on its off)
        mido.Message("note_off", note=90, velocity=0, time=0),
        mido.Message("note_off", note=91, velocity=0, time=240),  # off, then on at one tick (a sorting writer's
        mido.Message("note_on", note=91, velocity=90, time=0),    # way: left open, never closed)
        mido.Message("note_off", note=60, velocity=0, time=240),
    ]))
    assert roll.n_notes == 1 and not roll.array[90:92].any()
    assert roll.reading_notes == ("2 notes of no length (note-on and note-off at one tick) are left out.",)


def test_the_sustain_pedal_and_pitch_bends_are_named_as_not_applied():
    roll = midi_to_roll(mido_bytes([
        mido.Message("control_change", control=64, value=127, time=0),
        mido.Message("pitchwheel", pitch=0, time=0),  # the centre: no bend
        mido.Message("pitchwheel", pitch=600, time=0),
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_off", note=60, velocity=0, time=120),
        mido.Message("control_change", control=64, value=0, time=360),
    ]))
    assert roll.array[60].sum() == 1  # the key's length, not the pedal's
    assert (roll.pedal_presses, roll.sustain_pedal) == (1, False)
    assert roll.reading_notes == ("The sustain pedal is not applied (1 press): notes are drawn as long as their keys "
                                  "were held.", "Pitch bends are left out (1 pitch-bend message): notes are drawn at "
                                  "their written pitch.")


def _pedalled() -> bytes:
    """Eighth notes at 480 ticks a beat (a step is 120 ticks): C4, E4, C4 again, the pedal down from the first C4's
    middle to beat 4, then G4 after it; the pedal sends several values while down, as a real one does."""
    return mido_bytes([
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("control_change", control=64, value=100, time=120),
        mido.Message("note_off", note=60, velocity=0, time=120),     # tick 240, pedal down: held
        mido.Message("note_on", note=64, velocity=90, time=240),     # tick 480
        mido.Message("control_change", control=64, value=127, time=60),
        mido.Message("note_off", note=64, velocity=0, time=180),     # tick 720: held to the pedal's release
        mido.Message("note_on", note=60, velocity=90, time=720),     # tick 1440: C4 again, cuts the first
        mido.Message("note_off", note=60, velocity=0, time=240),     # tick 1680: held to the release
        mido.Message("control_change", control=64, value=0, time=240),  # tick 1920: released (beat 4)
        mido.Message("note_on", note=67, velocity=90, time=0),
        mido.Message("note_off", note=67, velocity=0, time=240),     # pedal up: as long as the key
    ])


def test_the_sustain_pedal_applied_holds_a_note_until_it_lifts_or_its_key_is_struck_again():
    roll = midi_to_roll(_pedalled(), sustain_pedal=True)
    assert list(np.flatnonzero(roll.onsets[60])) == [0, 12]
    assert list(np.flatnonzero(roll.array[60])) == list(range(0, 16))  # to the second C4, which lasts to step 16
    assert list(np.flatnonzero(roll.array[64])) == list(range(4, 16))
    assert list(np.flatnonzero(roll.array[67])) == [16, 17]
    assert (roll.pedal_presses, roll.sustain_pedal) == (1, True)
    assert roll.reading_notes == ("The sustain pedal is applied (1 press): a note it holds sounds until the pedal "
                                  "lifts or its key is struck again.",)


def test_without_the_pedal_applied_the_same_notes_last_as_long_as_their_keys():
    roll = midi_to_roll(_pedalled())
    assert [list(np.flatnonzero(roll.array[p])) for p in (60, 64, 67)] == [[0, 1, 12, 13], [4, 5], [16, 17]]


def test_a_pedal_sent_on_another_track_holds_the_notes_of_its_channel():
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([mido.Message("note_on", note=60, velocity=90, time=0),
                                      mido.Message("note_off", note=60, velocity=0, time=240)]))
    mid.tracks.append(mido.MidiTrack([mido.Message("control_change", control=64, value=127, time=0),
                                      mido.Message("control_change", control=64, value=0, time=960)]))
    buffer = io.BytesIO()
    mid.save(file=buffer)
    roll = midi_to_roll(buffer.getvalue(), sustain_pedal=True)
    assert list(np.flatnonzero(roll.array[60])) == list(range(8))


def test_a_pedal_never_lifted_holds_its_notes_to_its_channels_last_note_end_not_another_tracks():
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([
        mido.Message("control_change", control=64, value=127, time=0),
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_off", note=60, velocity=0, time=120),
        mido.Message("note_on", note=62, velocity=90, time=360),
        mido.Message("note_off", note=62, velocity=0, time=240),    # tick 720, the piano's last note end
        mido.MetaMessage("end_of_track", time=480)]))
    mid.tracks.append(mido.MidiTrack([mido.Message("note_on", channel=1, note=40, velocity=90, time=0),
                                      mido.Message("note_off", channel=1, note=40, velocity=0, time=480 * 16)]))
    buffer = io.BytesIO()
    mid.save(file=buffer)
    roll = midi_to_roll(buffer.getvalue(), sustain_pedal=True)
    assert [list(np.flatnonzero(roll.array[p])) for p in (60, 62)] == [list(range(6)), list(range(4, 6))]


def _changed_at(messages: list) -> np.ndarray:
    """C4 held from tick 0 to 480 under a pedal pressed at 0, `messages` at tick 480, the pedal lifted at 1920."""
    roll = midi_to_roll(mido_bytes([
        mido.Message("control_change", control=64, value=127, time=0),
        mido.Message("note_on", note=60, velocity=90, time=0),
        *[m.copy(time=480 if i == 0 else 0) for i, m in enumerate(messages)],
        mido.Message("note_on", note=72, velocity=90, time=0),
        mido.Message("control_change", control=64, value=0, time=1440),
        mido.Message("note_off", note=72, velocity=0, time=0),
    ]), sustain_pedal=True)
    return np.flatnonzero(roll.array[60])


def test_a_pedal_changed_at_the_ticks_a_chord_is_let_go_does_not_carry_the_chord_on():
    """A quantised pedal change: up and down again at the tick the old chord's keys come up (in either order)."""
    up_down = [mido.Message("control_change", control=64, value=0), mido.Message("control_change", control=64,
                                                                                  value=127)]
    off = mido.Message("note_off", note=60, velocity=0)
    assert list(_changed_at([off, *up_down])) == list(range(4))
    assert list(_changed_at([*up_down, off])) == list(range(4))


def test_all_sound_off_and_reset_all_controllers_end_what_the_pedal_holds():
    off = mido.Message("note_off", note=60, velocity=0)
    assert len(_changed_at([off])) == 16  # held to the pedal's release at beat 4
    for control in (120, 121):  # All Sound Off, Reset All Controllers: two beats later
        roll = midi_to_roll(mido_bytes([
            mido.Message("control_change", control=64, value=127, time=0),
            mido.Message("note_on", note=60, velocity=90, time=0),
            mido.Message("note_off", note=60, velocity=0, time=480),
            mido.Message("control_change", control=control, value=0, time=480),
            mido.Message("note_on", note=72, velocity=90, time=960),
            mido.Message("control_change", control=64, value=0, time=0),
            mido.Message("note_off", note=72, velocity=0, time=480),
        ]), sustain_pedal=True)
        assert list(np.flatnonzero(roll.array[60])) == list(range(8)), control


def test_a_pedal_on_a_channel_without_notes_or_on_drums_is_not_counted():
    roll = midi_to_roll(mido_bytes([
        mido.Message("control_change", channel=9, control=64, value=127, time=0),
        mido.Message("control_change", channel=3, control=64, value=127, time=0),
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_off", note=60, velocity=0, time=120),
    ]), sustain_pedal=True)
    assert (roll.pedal_presses, roll.sustain_pedal, roll.reading_notes) == (0, False, ())
    assert roll.array[60].sum() == 1


def _kit(bank: int, xg_on: bool) -> bytes:
    """A melody on channel 1, and on channel 11 a bank select, a program change and a hit without a note-off."""
    xg = [mido.Message("sysex", data=[0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00], time=0)] if xg_on else []
    return mido_bytes([
        *xg,
        mido.Message("control_change", channel=10, control=0, value=bank, time=0),
        mido.Message("program_change", channel=10, program=0, time=0),
        mido.Message("note_on", channel=10, note=36, velocity=90, time=0),
        mido.Message("pitchwheel", channel=10, pitch=100, time=0),
        mido.Message("note_on", channel=0, note=60, velocity=90, time=0),
        mido.Message("note_off", channel=0, note=60, velocity=0, time=480),
    ])


def test_a_drum_kit_selected_by_bank_on_another_channel_is_drums_and_its_events_go_unsaid():
    for bank, xg_on in ((127, True), (120, False)):  # XG's kits after XG System On; GM2's percussion bank
        roll = midi_to_roll(_kit(bank, xg_on))
        assert (roll.n_notes, roll.drum_notes, bool(roll.array[36].any())) == (1, 1, False), (bank, xg_on)
        assert roll.reading_notes == ()  # the drum hit's missing note-off and its bend are not the drawn notes'


def test_bank_127_without_xg_is_a_melodic_sound():
    roll = midi_to_roll(_kit(127, False))  # Roland GS: bank 127 holds the MT-32 melodic sounds
    assert (roll.n_notes, roll.drum_notes, bool(roll.array[36].any())) == (2, 0, True)


def test_a_clamped_tempo_sentence_names_three_values_at_most():
    events = [mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm), time=0) for bpm in (5, 6, 7, 8, 9.5)]
    roll = midi_to_roll(mido_bytes(events + [mido.Message("note_on", note=60, velocity=90, time=0),
                                             mido.Message("note_off", note=60, velocity=0, time=480)]))
    assert roll.reading_notes == ("5 tempos outside 10–1,000 BPM (5 BPM, 6 BPM, 7 BPM and 2 more) are read as the "
                                  "nearest limit.",)


def test_pedal_data_of_a_recorded_performance_costs_a_quarter_of_a_note():
    """20,000 notes with ten pedal values each (220,000 events) are read; as many notes' events are not."""
    events = []
    for i in range(20_000):
        events += [mido.Message("note_on", note=60 + i % 12, velocity=90, time=0)]
        events += [mido.Message("control_change", control=64, value=v, time=0) for v in range(0, 100, 10)]
        events += [mido.Message("note_off", note=60 + i % 12, velocity=0, time=60)]
    roll = midi_to_roll(mido_bytes(events))
    assert roll.n_notes == 20_000


def test_a_png_decompression_bomb_is_called_too_large_not_damaged():
    import io

    from PIL import Image

    from midi_rae.png_rolls import png_to_roll

    buf = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buf, format="PNG")   # 400 megapixels: PIL refuses to open it
    with pytest.raises(MidiError) as e:
        png_to_roll(buf.getvalue())
    assert str(e.value) == ("The image is far too large to be a piano roll (one is 128 pixels high and at most "
                            "20,000 wide).")


@pytest.mark.parametrize("micros_per_beat", [60_000, 6_000_000])
def test_the_tempo_limits_themselves_are_allowed(micros_per_beat):
    assert midi_to_roll(tempo_bytes(micros_per_beat)).n_notes == 1


def test_an_absurdly_long_piece():
    data = mido_bytes([  # one note held for 6,000 beats = 24,000 steps
        mido.Message("note_on", note=60, velocity=90, time=0),
        mido.Message("note_off", note=60, velocity=0, time=6000 * 480),
    ])
    assert "too long" in refused(data)


def test_ten_megabytes_of_random_bytes_are_refused_by_size():
    data = np.random.default_rng(0).bytes(10 * 1000 * 1000)
    assert refused(data) == "The file is 10.0 MB; the limit is 8 MB (8,000,000 bytes)."


def test_a_ten_megabyte_file_is_refused_by_size(tmp_path):
    path = tmp_path / "huge.mid"
    path.write_bytes(np.random.default_rng(0).bytes(10 * 1000 * 1000))
    assert refused(path) == "The file is 10.0 MB; the limit is 8 MB (8,000,000 bytes)."


def test_seven_megabytes_of_random_bytes_behind_a_midi_header_are_refused():
    data = b"MThd" + np.random.default_rng(0).bytes(7 * 1000 * 1000)
    assert len(data) < MAX_MIDI_BYTES
    refused(data)


def test_seven_megabytes_of_random_bytes_inside_a_valid_track_are_refused():
    body = np.random.default_rng(0).bytes(7 * 1024 * 1024)
    data = b"MThd" + struct.pack(">LHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">L", len(body)) + body
    refused(data)


def test_a_path_that_does_not_exist(tmp_path):
    assert refused(tmp_path / "missing.mid") == "The file 'missing.mid' does not exist."


def test_a_folder_is_not_a_midi_file(tmp_path):
    (tmp_path / "songs").mkdir()
    assert refused(tmp_path / "songs") == "'songs' is a folder, not a MIDI file."


def test_midi_reads_into_a_roll_without_torch(tmp_path):
    """The dashboard draws the piece before torch has loaded."""
    from conftest import make_song, run_without_torch

    path = tmp_path / "song.mid"
    make_song(bars=4, seed=1).write(str(path))
    out = run_without_torch("from midi_rae.pianoroll import midi_to_roll\n"
                            f"r = midi_to_roll(open({str(path)!r}, 'rb').read(), steps_per_beat=4)\n"
                            "print(r.array.shape[1], r.bars)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["64", "4.0"]


# ---------------------------------------------------------------------------------------------
# The reader: notes paired exactly as pretty_midi pairs them; every file decided within bounds

def tricky_bytes() -> bytes:
    """Two named tracks with program changes, repeated and overlapping notes, note-offs as velocity 0,
    a note on and off at one tick, drums, controllers, pitch bends, sysex, text and key signatures,
    and a third, hand-written track in running status."""
    mid = mido.MidiFile(ticks_per_beat=480)
    mid.tracks.append(mido.MidiTrack([
        mido.MetaMessage("track_name", name="Lead", time=0),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(100), time=0),
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=0),
        mido.MetaMessage("key_signature", key="F#m", time=0),
        mido.Message("note_on", note=60, velocity=80, time=0),
        mido.Message("note_on", note=60, velocity=80, time=240),  # a second C4 before the first ends
        mido.Message("note_off", note=60, velocity=0, time=240),  # closes both
        mido.Message("program_change", program=40, time=0),
        mido.Message("note_on", note=62, velocity=80, time=0),
        mido.Message("note_on", note=62, velocity=0, time=480),
        mido.Message("note_on", note=64, velocity=80, time=0),
        mido.Message("note_off", note=64, velocity=0, time=0),  # on and off at one tick: not closed here
        mido.Message("note_off", note=64, velocity=0, time=120),
        mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(140), time=0),
        mido.Message("pitchwheel", pitch=-300, time=0),
        mido.Message("sysex", data=[1, 2, 3], time=0),
        mido.Message("note_on", note=67, velocity=90, time=0),
        mido.MetaMessage("text", text="hello", time=0),
        mido.Message("note_off", note=67, velocity=0, time=960),
        mido.Message("control_change", control=64, value=0, time=480),  # after the last note
    ]))
    mid.tracks.append(mido.MidiTrack([
        mido.MetaMessage("track_name", name="Kit", time=0),
        mido.Message("note_on", channel=9, note=36, velocity=100, time=0),
        mido.Message("note_off", channel=9, note=36, velocity=0, time=60),
        mido.Message("note_on", channel=9, note=38, velocity=100, time=420),
        mido.Message("note_off", channel=9, note=38, velocity=0, time=60),
    ]))
    buffer = io.BytesIO()
    mid.save(file=buffer)
    running = bytes([0x00, 0x91, 48, 70, 0x83, 0x60, 48, 0, 0x00, 52, 70, 0x81, 0x70, 52, 0, 0x00, 0xFF, 0x2F, 0x00])
    data = buffer.getvalue()
    data = data[:10] + struct.pack(">H", 3) + data[12:]
    return data + b"MTrk" + struct.pack(">L", len(running)) + running


def test_notes_are_paired_as_pretty_midi_pairs_them():
    from midi_rae.pianoroll import _load, _tick_times

    data = tricky_bytes()
    reference = pretty_midi.PrettyMIDI(io.BytesIO(data))
    pm, instruments, _, _ = _load(data)
    seconds = _tick_times(pm).round(9)  # read in fewer ticks than pretty_midi: the same times to float noise
    ours = [(int(i.program), i.is_drum, i.name, sorted(zip(i.pitches, seconds[i.starts].tolist(),
                                                           seconds[i.ends].tolist())))
            for i in instruments]
    theirs = [(int(i.program), i.is_drum, i.name, sorted((n.pitch, round(n.start, 9), round(n.end, 9))
                                                          for n in i.notes))
              for i in reference.instruments]
    assert ours == theirs
    assert len(ours) == 4 and sum(len(i[3]) for i in ours) == 8  # the E4 turned on and off at one tick is lost
    assert np.array_equal(pm.get_beats(), reference.get_beats())
    assert [(t.numerator, t.denominator) for t in pm.time_signature_changes] == [(3, 4)]
    roll = midi_to_roll(data, include_drums=True)
    # the two "Lead" instruments of one track told apart by their sound
    assert roll.instruments == ["Lead (Acoustic Grand Piano)", "Lead (Violin)", "Kit", "Acoustic Grand Piano"]
    assert roll.n_notes == 8


def test_a_dense_file_is_refused_as_soon_as_its_events_pass_the_limit():
    from midi_rae.pianoroll import MAX_MIDI_EVENTS

    body = b"\x00\x90\x3c\x40" + b"\x00\x3c\x00\x00\x3c\x40" * MAX_MIDI_EVENTS + b"\x00\xff\x2f\x00"
    data = b"MThd" + struct.pack(">LHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">L", len(body)) + body
    assert refused(data) == (f"The MIDI file holds more than {MAX_MIDI_EVENTS:,} events (a note is two; a "
                             f"controller change, pedal or pitch bend counts a quarter; a tempo, text or other meta "
                             f"event counts 10), the most this reader takes.")


def test_too_many_tracks_are_refused_before_reading_them():
    data = b"MThd" + struct.pack(">LHHH", 6, 1, 5000, 480) + b"MTrk\x00\x00\x00\x00" * 5000
    assert refused(data) == "The MIDI file has 5,000 tracks; the limit is 2,000."


@pytest.mark.parametrize("body", [
    b"\x80" * 100 + b"\x00\x90\x3c\x40",  # a delta time longer than 8 bytes
    b"\x00\xf0" + b"\x8f\xff\xff\x7f" + b"\x00" * 10,  # a sysex announcing 32 MB
    b"\x00\x3c\x40",  # running status before any status byte
    b"\x00\xf4",  # a status byte MIDI does not define
])
def test_damaged_event_encodings_are_refused(body):
    data = b"MThd" + struct.pack(">LHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">L", len(body)) + body
    assert refused(data) == "The MIDI file is damaged: one of its tracks contains invalid data."


def _one_track(body: bytes) -> bytes:
    return b"MThd" + struct.pack(">LHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">L", len(body)) + body


@pytest.mark.parametrize("head, kind", [(b"GIF89a\x01\x00", "a GIF image"), (b"II*\x00\x08\x00", "a TIFF image"),
                                        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "a WAV recording"),
                                        (b"PK\x03\x04\x14\x00", "a zip archive")])
def test_a_file_of_another_known_kind_is_named_for_what_it_is(head, kind):
    assert refused(head + bytes(64)) == (f"This file is {kind}, not a MIDI file (nor a PNG piano roll, the one image "
                                         "this reader takes).")


def test_a_sysex_message_of_several_megabytes_is_stepped_over():
    note = b"\x00\x90\x3c\x40\x83\x60\x80\x3c\x40\x00\xff\x2f\x00"
    sysex = b"\x00\xf0" + vlq(3_000_001) + b"\x00" * 3_000_000 + b"\xf7"
    assert np.array_equal(midi_to_roll(_one_track(sysex + note)).array, midi_to_roll(_one_track(note)).array)


NOTE = b"\x00\x90\x3c\x40\x83\x60\x80\x3c\x40"  # C4 for a beat
END = b"\x00\xff\x2f\x00"


@pytest.mark.parametrize("meta, kind", [(b"\x00\xff\x51\x00", "set tempo"),  # a tempo of no bytes
                                        (b"\x00\xff\x51\x02\x07\xa1", "set tempo"),  # of two
                                        (b"\x00\xff\x58\x03\x04\x02\x18", "time signature"),  # of three
                                        (b"\x00\xff\x59\x02\x64\x00", "key signature")])  # 100 sharps
def test_a_meta_event_whose_data_do_not_fit_its_kind_is_left_out_and_said(meta, kind):
    roll = midi_to_roll(_one_track(meta + NOTE + END))
    assert np.array_equal(roll.array, midi_to_roll(_one_track(NOTE + END)).array)
    assert roll.reading_notes == (f"1 meta event ({kind}) whose data do not fit its kind is left out, as players leave it.",)


def test_a_track_ends_at_its_end_of_track_event_whatever_bytes_follow_in_its_chunk():
    clean = midi_to_roll(_one_track(NOTE + END))
    for after in (bytes(64), b"\xde\xad\xbe\xef" * 8, NOTE + NOTE):  # padding, garbage, and notes no player plays
        assert np.array_equal(midi_to_roll(_one_track(NOTE + END + after)).array, clean.array)


def test_a_meta_event_past_the_limit_is_refused_for_its_size():
    text = b"\x00\xff\x01" + vlq(1_500_000) + b"x" * 1_500_000
    assert refused(_one_track(text + b"\x00\xff\x2f\x00")) == (
        "The MIDI file holds a meta event (text, lyrics, a name…) of 1.5 MB; this reader takes them up to 1 MB.")


def _compound_piece(beats_per_bar_eighths: int = 6, bars: int = 8) -> bytes:
    """A 6/8 tune of running eighth notes (three to the dotted-quarter beat)."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(6, 8, 0.0))
    inst = pretty_midi.Instrument(0)
    eighth = 60 / 120 / 2
    for k in range(bars * beats_per_bar_eighths):
        inst.notes.append(pretty_midi.Note(90, 60 + k % 5, k * eighth, (k + 1) * eighth))
    pm.instruments.append(inst)
    return midi_bytes(pm)


def test_a_grid_that_cannot_place_the_notes_says_so_and_names_one_that_can():
    roll = midi_to_roll(_compound_piece(), steps_per_beat=4)
    assert roll.grid_note is not None
    assert "3 steps per beat places them" in roll.grid_note and "4-steps-per-beat grid" in roll.grid_note


def test_a_grid_that_places_the_notes_says_nothing():
    assert midi_to_roll(_compound_piece(), steps_per_beat=3).grid_note is None
    from conftest import make_song

    assert midi_to_roll(midi_bytes(make_song(bars=4)), steps_per_beat=4).grid_note is None


def test_off_grid_share_counts_onsets_between_steps():
    from midi_rae.pianoroll import off_grid_share

    beats = np.array([0.0, 1 / 3, 2 / 3, 1.0])
    assert off_grid_share(beats, 4) == 0.5  # 1/3 and 2/3 of a beat fall between quarter-beat steps
    assert off_grid_share(beats, 3) == 0.0


def test_a_fine_grid_that_moves_notes_by_a_few_milliseconds_says_nothing():
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)  # a beat is 0.5 s
    inst = pretty_midi.Instrument(0)
    for i in range(200):  # an onset every tenth of a beat: between the steps of every offered grid
        inst.notes.append(pretty_midi.Note(80, 60 + i % 12, i * 0.05, i * 0.05 + 0.04))
    pm.instruments.append(inst)
    data = midi_bytes(pm)
    coarse = midi_to_roll(data, steps_per_beat=4).grid_note  # moved by up to 62 ms
    assert coarse is not None and "no resolution up to 48 steps per beat places them all" in coarse
    assert midi_to_roll(data, steps_per_beat=48).grid_note is None  # moved by at most 5 ms


def test_off_grid_share_ignores_moves_below_the_time_floor():
    from midi_rae.pianoroll import off_grid_share

    beats = np.array([0.0, 0.3])  # 0.3 beat is 0.3 of a step off at 48 steps per beat
    assert off_grid_share(beats, 48) == 0.5
    assert off_grid_share(beats, 48, beat_seconds=np.array([0.5, 0.5])) == 0.0  # 3 ms
    assert off_grid_share(beats, 48, beat_seconds=np.array([4.0, 4.0])) == 0.5  # 25 ms at 15 BPM


def _long_piece(resolution: int) -> bytes:
    """A 1,100-beat melody (about 11 million ticks at music21's 10,080 per quarter note), one note a tick late at
    that resolution (so that no common divisor of its ticks shortens it)."""
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=120.0)
    inst = pretty_midi.Instrument(0)
    for beat in range(0, 1100, 3):
        inst.notes.append(pretty_midi.Note(80, 60 + beat % 12, beat * 0.5, beat * 0.5 + 0.75))
    inst.notes[1].start += 0.5 / 10080
    pm.instruments.append(inst)
    return midi_bytes(pm)


def test_a_file_past_the_tick_limit_is_read_at_a_coarser_resolution_with_the_same_roll():
    fine = midi_to_roll(_long_piece(10080), steps_per_beat=4)  # music21's resolution: ticks past 10,000,000
    plain = midi_to_roll(_long_piece(480), steps_per_beat=4)
    assert fine.array.shape == plain.array.shape == (128, 4398)  # to the last note end, beat 1,099.5
    assert np.array_equal(fine.array, plain.array)


def _sixteenths(resolution: int) -> bytes:
    """Two bars of sixteenth notes and dotted eighths, at 120 BPM."""
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=120.0)
    inst = pretty_midi.Instrument(0)
    for k in range(0, 32, 3):
        inst.notes.append(pretty_midi.Note(80, 60 + k % 12, k * 0.125, k * 0.125 + 0.125 * (1 + k % 2)))
    pm.instruments.append(inst)
    return midi_bytes(pm)


def test_a_file_whose_ticks_share_a_divisor_is_read_at_the_fewest_ticks_with_the_same_roll():
    from midi_rae.pianoroll import _load, _tick_times

    pm, _, _, _ = _load(_sixteenths(10080))  # music21's resolution, every event on a multiple of 2,520 ticks
    assert pm.resolution == 4
    assert len(_tick_times(pm)) == 33  # a time per sixteenth, 4 s in all, where 10,080 a beat took 78,122
    fine, plain = midi_to_roll(_sixteenths(10080)), midi_to_roll(_sixteenths(480))
    assert np.array_equal(fine.array, plain.array) and np.array_equal(fine.onsets, plain.onsets)
    assert np.allclose(fine.step_times, plain.step_times) and fine.duration_s == plain.duration_s == 3.875


@pytest.mark.parametrize("step, steps, text", [
    (32, 16, "bar 3"), (32, 32, "bars 3–4"), (104, 8, "bar 7, beats 3–4"), (104, 4, "bar 7, beat 3"),
    (104, 16, "bar 7 beat 3 – bar 8 beat 2"), (0, 128, "bars 1–8")])
def test_bar_span_counts_bars_from_one_and_inclusive(step, steps, text):
    assert bar_span(step, steps, steps_per_bar=16, steps_per_beat=4) == text


def test_a_piece_that_changes_metre_and_tempo_says_how_often():
    pm = song((6, 8))
    pm.time_signature_changes += [pretty_midi.TimeSignature(6, 8, 1.0), pretty_midi.TimeSignature(3, 4, 2.0),
                                  pretty_midi.TimeSignature(6, 8, 2.5)]  # a repeat of 6/8 is no change
    roll = midi_to_roll(midi_bytes(pm))
    assert (roll.time_signature, roll.metre_changes, roll.tempo_changes) == ((6, 8), 2, 0)


def test_bars_are_counted_in_the_metre_of_most_of_the_piece_not_an_opening_pickup():
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes = [pretty_midi.TimeSignature(1, 4, 0.0), pretty_midi.TimeSignature(4, 4, 0.5)]
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(80, 60 + i % 12, 0.5 * i, 0.5 * i + 0.4) for i in range(41)]  # 1 + 40 beats
    pm.instruments.append(inst)
    roll = midi_to_roll(midi_bytes(pm))
    assert (roll.time_signature, roll.metre_changes, roll.steps_per_bar) == ((4, 4), 1, 16)
    assert roll.bars == (12 + 163) / 16  # the pickup made a whole bar, then to the last note's end at beat 40.8


def test_an_opening_pickup_becomes_a_whole_first_bar_so_bar_lines_fall_where_the_score_has_them():
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes = [pretty_midi.TimeSignature(1, 4, 0.0), pretty_midi.TimeSignature(4, 4, 0.5)]
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(80, 67, 0.0, 0.5), pretty_midi.Note(80, 72, 0.5, 2.5)]  # pickup, a whole bar
    pm.instruments.append(inst)
    roll = midi_to_roll(midi_bytes(pm))
    assert np.flatnonzero(roll.onsets.any(axis=0)).tolist() == [12, 16]
    assert [bar_beat_label(12, roll), bar_beat_label(16, roll)] == ["1:4", "2:1"]
    assert np.flatnonzero(roll.array[72]).tolist() == list(range(16, 32))  # bar 2, whole
    assert roll.bars == 2.0


def test_an_opening_in_another_metre_is_padded_so_the_main_metres_bars_fall_on_bar_lines():
    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0.0), pretty_midi.TimeSignature(4, 4, 3.0)]
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(80, 60, 0.5 * i, 0.5 * i + 0.5) for i in range(6 + 4 * 4)]  # 2 bars of 3/4, 4 of 4/4
    pm.instruments.append(inst)
    roll = midi_to_roll(midi_bytes(pm))
    assert np.flatnonzero(roll.onsets.any(axis=0))[[0, 6]].tolist() == [8, 32]  # the 4/4 part from bar 3, beat 1
    assert bar_beat_label(32, roll) == "3:1"


def test_a_piece_in_one_metre_is_not_padded():
    roll = midi_to_roll(midi_bytes(song((4, 4))))
    assert np.flatnonzero(roll.onsets[60]).tolist() == [4]  # the piano's C4 at 0.5 s


def test_a_piece_in_one_metre_and_tempo_has_no_changes():
    roll = midi_to_roll(midi_bytes(song((4, 4))))
    assert (roll.metre_changes, roll.tempo_changes) == (0, 0)


@pytest.mark.parametrize("numerator, power, written", [(0, 2, "0/4"), (255, 255, "255/2^255"), (1, 7, "1/128"),
                                                      (99, 2, "99/4"), (1, 6, "1/64")])
def test_an_impossible_time_signature_is_left_out_and_every_other_event_keeps_its_time(numerator, power, written):
    def track(events: bytes) -> bytes:
        notes = b"".join(b"\x00\x90" + bytes([60 + i]) + b"\x40\x83\x60\x80" + bytes([60 + i]) + b"\x00"
                         for i in range(8))  # eight beat-long notes (480 ticks each, delta 0x83 0x60)
        body = b"\x00\xff\x58\x04\x03\x02\x18\x08" + events + notes + b"\x00\xff\x2f\x00"  # 3/4, then `events`
        return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(body)) + body

    bad = b"\x83\x60\xff\x58\x04" + bytes([numerator, power]) + b"\x18\x08"  # one beat in: the impossible metre
    plain = b"\x83\x60\xff\x01\x01x"  # one beat in: a text event instead
    roll, reference = midi_to_roll(track(bad)), midi_to_roll(track(plain))
    assert roll.time_signature == (3, 4) and roll.metre_changes == 0
    assert np.array_equal(roll.array, reference.array) and roll.n_notes == reference.n_notes == 8
    assert roll.ignored_metres == (written,) and reference.ignored_metres == ()


def _png(image) -> bytes:
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def test_a_dark_16_bit_roll_is_read_on_its_own_scale():
    from PIL import Image

    from midi_rae.png_rolls import png_to_roll

    a = np.zeros((128, 32), np.uint16)
    a[70, 4:12] = 200  # under 1 % of 16-bit full scale: dark, not a note (it is 78 % on the 8-bit scale)
    with pytest.raises(MidiError, match="no lit pixels"):
        png_to_roll(_png(Image.fromarray(a)))


def test_a_transparent_pixel_of_a_roll_is_no_note():
    from PIL import Image

    from midi_rae.png_rolls import png_to_roll

    la = np.zeros((128, 32, 2), np.uint8)
    la[60, 4:12] = (255, 255)  # white, opaque: a note
    la[70, 4:12] = (255, 0)  # white, fully transparent: nothing
    roll = png_to_roll(_png(Image.fromarray(la, mode="LA")))
    assert roll.array[60, 4:12].all() and not roll.array[70].any() and roll.n_notes == 1


def test_a_window_written_in_six_eight_lasts_its_dotted_quarter_beats():
    array = np.zeros((128, 128), dtype=np.uint8)
    array[60] = 1  # one note through the whole window: 128 steps, 32 beats at 4 steps per beat
    pm = roll_to_midi(array, steps_per_beat=4, tempo_bpm=120.0, time_signature=(6, 8))
    assert pm.get_end_time() == pytest.approx(32 * 0.75)  # a dotted quarter at 120 quarter notes a minute
    assert [(t.numerator, t.denominator) for t in pm.time_signature_changes] == [(6, 8)]


def test_a_roll_counts_the_drum_notes_it_leaves_out(tmp_path):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano, drums = pretty_midi.Instrument(0), pretty_midi.Instrument(0, is_drum=True)
    piano.notes += [pretty_midi.Note(90, 60 + k, k * 0.5, k * 0.5 + 0.4) for k in range(3)]
    drums.notes += [pretty_midi.Note(100, 36, k * 0.25, k * 0.25 + 0.1) for k in range(8)]
    pm.instruments += [piano, drums]
    path = tmp_path / "with_drums.mid"
    pm.write(str(path))
    roll = midi_to_roll(path)
    assert (roll.n_notes, roll.drum_notes) == (3, 8)
    assert midi_to_roll(path, include_drums=True).drum_notes == 0


def _tempo_in_second_track(bpm: float, metre_there: bool = False) -> bytes:
    """A type-1 file whose conductor track is empty and whose tempo (and metre) sit in the notes' track, as in
    many real files: 32 quarter notes."""
    mid = mido.MidiFile(type=1, ticks_per_beat=480)
    conductor, notes = mido.MidiTrack(), mido.MidiTrack()
    if not metre_there:
        conductor.append(mido.MetaMessage("time_signature", numerator=4, denominator=4))
    notes.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    if metre_there:
        notes.append(mido.MetaMessage("time_signature", numerator=3, denominator=4))
    for i in range(32):
        notes.append(mido.Message("note_on", note=60 + i % 12, velocity=80, time=0))
        notes.append(mido.Message("note_off", note=60 + i % 12, time=480))
    mid.tracks += [conductor, notes]
    buffer = io.BytesIO()
    mid.save(file=buffer)
    return buffer.getvalue()


def test_a_tempo_outside_the_first_track_sets_the_pieces_time():
    roll = midi_to_roll(_tempo_in_second_track(60))
    assert (roll.tempo_bpm, roll.duration_s, roll.time_signature) == (60.0, 32.0, (4, 4))
    assert roll.step_times[4] == 1.0  # a beat a second


def test_a_metre_outside_the_first_track_sets_the_bars():
    roll = midi_to_roll(_tempo_in_second_track(75, metre_there=True))
    assert (roll.tempo_bpm, roll.time_signature, roll.metre_changes) == (75.0, (3, 4), 0)


def test_a_type_1_file_whose_tracks_repeat_the_tempo_counts_it_once():
    mid = mido.MidiFile(file=io.BytesIO(_tempo_in_second_track(60)))
    mid.tracks[0].insert(0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(60)))
    buffer = io.BytesIO()
    mid.save(file=buffer)
    roll = midi_to_roll(buffer.getvalue())
    assert (roll.tempo_bpm, roll.duration_s, roll.tempo_changes) == (60.0, 32.0, 0)


def test_a_format_2_file_of_several_patterns_is_refused_in_one_sentence():
    mid = mido.MidiFile(type=2, ticks_per_beat=480)
    for pitch in (60, 67):
        track = mido.MidiTrack([mido.Message("note_on", note=pitch, velocity=80, time=0),
                                mido.Message("note_off", note=pitch, time=480)])
        mid.tracks.append(track)
    buffer = io.BytesIO()
    mid.save(file=buffer)
    with pytest.raises(MidiError, match=r"^The MIDI file is in format 2: 2 patterns meant to be played one after "
                                        r"another, which is not supported \(save it as format 0 or 1\)\.$"):
        midi_to_roll(buffer.getvalue())


def test_a_midi_file_in_a_riff_wrapper_is_read_as_the_file_inside():
    smf = tempo_bytes(mido.bpm2tempo(100))
    chunk = b"data" + struct.pack("<L", len(smf)) + smf + b"\x00" * (len(smf) & 1)
    info = b"LIST" + struct.pack("<L", 5) + b"INFO1\x00"  # an odd-sized chunk before it, padded
    rmid = b"RIFF" + struct.pack("<L", 4 + len(info) + len(chunk)) + b"RMID" + info + chunk
    roll = midi_to_roll(rmid)
    assert np.array_equal(roll.array, midi_to_roll(smf).array) and roll.tempo_bpm == pytest.approx(100)
    assert refused(b"RIFF" + struct.pack("<L", 4) + b"RMID") == "This RIFF MIDI (RMID) file holds no MIDI data."


def test_a_piece_opens_at_bar_1_unless_its_first_window_is_silent():
    from midi_rae.pianoroll import first_sounding_bar

    late = midi_to_roll(mido_bytes([mido.Message("note_on", note=60, velocity=90, time=480 * 4 * 49),  # bar 50
                                    mido.Message("note_off", note=60, velocity=0, time=480 * 4 * 8)]))  # 8 bars
    assert first_sounding_bar(late, 128) == 50
    early = midi_to_roll(mido_bytes([mido.Message("note_on", note=60, velocity=90, time=480 * 4 * 7),  # bar 8
                                     mido.Message("note_off", note=60, velocity=0, time=480 * 4 * 4)]))  # 4 bars
    assert first_sounding_bar(early, 128) == 1  # within the first window of 8 bars: the window at bar 1 shows it
    assert first_sounding_bar(early, 64) == 8


def test_a_piece_whose_only_notes_are_in_its_final_window_opens_at_the_last_bar_a_window_starts_at():
    from midi_rae.pianoroll import first_sounding_bar, start_bars

    # 4/4 at 4 steps per beat: bars of 16 steps; one note at bar 19 (step 288), ending at step 300
    late = midi_to_roll(mido_bytes([mido.Message("note_on", note=60, velocity=90, time=480 * 4 * 18),
                                    mido.Message("note_off", note=60, velocity=0, time=480 * 3)]))
    assert late.steps == 300 and start_bars(late.steps, 16, 128) == 12
    assert first_sounding_bar(late, 128) == 12  # its window (steps 176-303) holds the note; bar 19 starts none


def test_a_roll_of_probabilities_written_as_midi_is_refused_rather_than_every_value_a_note():
    probs = np.full((128, 64), 0.1)
    probs[60, :16] = 0.9
    with pytest.raises(ValueError, match=r"must hold only 0 and 1 .* probabilities: probs > threshold"):
        roll_to_midi(probs)
    assert len(roll_to_midi(probs > 0.5).instruments[0].notes) == 1


@pytest.mark.parametrize("value, shown", [(-1, "-1"), (float("nan"), "nan")])
def test_a_roll_holding_a_value_other_than_0_or_1_is_refused_naming_it(value, shown):
    roll = np.zeros((128, 16))
    roll[60, 3] = value
    with pytest.raises(ValueError, match=f"must hold only 0 and 1 \\(a note or none\\), got {shown}: binarize"):
        roll_to_midi(roll)


def test_before_a_files_first_time_signature_the_metre_is_four_four():
    notes = []  # a quarter note on every beat: two bars with no metre written, then 3/4 from beat 8 for 8 bars
    for b in range(8 + 3 * 8):
        notes.append(mido.Message("note_on", note=60, velocity=90, time=0 if b == 0 else 80))
        if b == 8:
            notes.insert(-1, mido.MetaMessage("time_signature", numerator=3, denominator=4, time=80))
            notes[-1].time = 0
        notes.append(mido.Message("note_off", note=60, velocity=0, time=400))
    roll = midi_to_roll(mido_bytes(notes))
    assert (roll.time_signature, roll.opening_time_signature, roll.metre_changes) == ((3, 4), (4, 4), 1)
    downbeats = np.flatnonzero(roll.onsets[60])[8::3]  # the score's bars 3 to 10 start on these steps
    assert len(downbeats) == 8 and (downbeats % roll.steps_per_bar == 0).all()


def test_a_repeated_notes_first_step_is_marked_restruck_where_the_note_before_it_sounds():
    from midi_rae.pianoroll import restruck_at

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)  # three C4 quarter notes back to back, a rest, one more
    inst = pretty_midi.Instrument(0)
    inst.notes = [pretty_midi.Note(90, 60, s, s + 0.5) for s in (0.0, 0.5, 1.0, 2.0)]
    pm.instruments.append(inst)
    roll = midi_to_roll(midi_bytes(pm))
    assert np.flatnonzero(restruck_at(roll, 0, 32)[60]).tolist() == [4, 8]  # not the first, not the one after a rest
    assert np.flatnonzero(restruck_at(roll, 4, 8)[60]).tolist() == [0, 4]  # the step before a window counts
    assert not restruck_at(roll, 0, 32)[:60].any() and restruck_at(roll, 30, 8).shape == (128, 8)


def test_instruments_of_one_named_track_are_told_apart_by_their_sound():
    notes = []
    for channel, program in ((0, 0), (1, 40)):  # one track named "Ensemble": a piano and a violin
        notes += [mido.Message("program_change", channel=channel, program=program, time=0),
                  mido.Message("note_on", channel=channel, note=60 + channel, velocity=90, time=0),
                  mido.Message("note_off", channel=channel, note=60 + channel, velocity=0, time=480)]
    roll = midi_to_roll(mido_bytes([mido.MetaMessage("track_name", name="Ensemble", time=0), *notes]))
    assert sorted(roll.instruments) == ["Ensemble (Acoustic Grand Piano)", "Ensemble (Violin)"]


def test_a_file_one_byte_over_the_limit_is_refused_in_bytes_not_as_an_8_0_mb_file():
    data = song_bytes()
    data += b"XFIH" + struct.pack(">I", MAX_MIDI_BYTES + 1 - len(data) - 8) + b"\0" * (MAX_MIDI_BYTES + 1 - len(data) - 8)
    assert len(data) == MAX_MIDI_BYTES + 1
    assert refused(data) == "The file is 8,000,001 bytes; the limit is 8 MB (8,000,000 bytes)."

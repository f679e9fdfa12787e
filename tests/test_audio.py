"""Audio: WAV bytes of a piece or a roll, with or without FluidSynth."""
from __future__ import annotations

import io
import wave

import numpy as np
import pretty_midi
import pytest

from conftest import make_song
from midi_rae import audio
from midi_rae.audio import render_audio, roll_audio


def _read(data: bytes) -> tuple[wave.Wave_read, np.ndarray]:
    w = wave.open(io.BytesIO(data), "rb")
    return w, np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")


@pytest.fixture
def no_fluidsynth(monkeypatch):
    """FluidSynth as on a machine without the extra: calling it fails the way pretty_midi fails then."""
    def missing(*args, **kwargs):
        raise ImportError("fluidsynth() was called but pyfluidsynth is not installed.")
    monkeypatch.setattr(pretty_midi.PrettyMIDI, "fluidsynth", missing)


def test_render_audio_is_a_mono_16_bit_wav_of_the_pieces_length(no_fluidsynth):
    pm = make_song(bars=4, tempo=120, drums=False)  # 4 bars of 4/4 at 120 BPM = 8 s
    data, synth = render_audio(pm, fs=8000)
    w, samples = _read(data)
    assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
    assert w.getnframes() / 8000 == pytest.approx(8.0, abs=0.5)
    assert samples.any()
    assert "sine" in synth


def test_render_audio_is_normalised_below_full_scale(no_fluidsynth):
    _, samples = _read(render_audio(make_song(bars=2, drums=False), fs=8000)[0])
    peak = np.abs(samples.astype(np.int32)).max()
    assert 0.8 * 32767 < peak < 32767


def test_render_audio_of_drums_only_is_silence_not_an_error(no_fluidsynth):
    pm = pretty_midi.PrettyMIDI()
    kit = pretty_midi.Instrument(0, is_drum=True)
    kit.notes.append(pretty_midi.Note(100, 36, 0.0, 1.0))
    pm.instruments.append(kit)
    w, samples = _read(render_audio(pm, fs=8000)[0])
    assert w.getnframes() / 8000 == pytest.approx(1.0, abs=0.5)
    assert not samples.any()


def test_render_audio_caps_the_length_and_says_so(no_fluidsynth, monkeypatch):
    monkeypatch.setattr(audio, "MAX_SECONDS", 3.0)
    data, synth = render_audio(make_song(bars=4, drums=False), fs=8000)
    w, _ = _read(data)
    assert w.getnframes() / 8000 == pytest.approx(3.0, abs=0.5)
    assert "first" in synth


def test_soundfont_from_the_environment_wins(tmp_path, monkeypatch):
    sf = tmp_path / "mine.sf2"
    sf.write_bytes(b"RIFF")
    monkeypatch.setenv("MIDI_RAE_SOUNDFONT", str(sf))
    assert audio.find_soundfont() == sf


def test_roll_audio_plays_the_roll_at_its_tempo(no_fluidsynth):
    roll = np.zeros((128, 32), dtype=np.uint8)
    roll[60, :16] = 1
    roll[64, 16:] = 1  # 32 steps at 4 per beat = 8 beats = 4 s at 120 BPM
    w, samples = _read(roll_audio(roll, steps_per_beat=4, tempo_bpm=120))
    assert w.getnframes() / w.getframerate() == pytest.approx(4.0, abs=0.5)
    assert samples.any()


def test_roll_audio_in_six_eight_counts_a_beat_as_a_dotted_quarter(no_fluidsynth):
    roll = np.zeros((128, 32), dtype=np.uint8)
    roll[60, :] = 1  # 8 beats of 6/8 at quarter = 120: 8 dotted quarters, 6 s (a corpus card played it in 4 s)
    w, _ = _read(roll_audio(roll, steps_per_beat=4, tempo_bpm=120, time_signature=(6, 8)))
    assert w.getnframes() / w.getframerate() == pytest.approx(6.0, abs=0.5)


def test_a_corpus_cards_metre_is_read_from_the_index_and_never_trusted():
    from midi_rae.dashboard.corpus_similar import metre_of

    assert [metre_of(m) for m in ("6/8", "3/4", "99/4", "7/3", "x", "")] == [(6, 8), (3, 4), (4, 4), (4, 4), (4, 4),
                                                                             (4, 4)]

"""Listen to a piece or a roll: MIDI -> mono 16-bit WAV bytes, via FluidSynth when it is there, else sine waves."""
from __future__ import annotations

import copy
import io
import os
import wave
from pathlib import Path

import numpy as np
import pretty_midi

from .pianoroll import roll_to_midi

__all__ = ["render_audio", "roll_audio", "find_soundfont", "MAX_SECONDS"]

MAX_SECONDS = 600.0  # ten minutes: longer renders make multi-hundred-MB WAVs nobody listens to
TAIL_S = 0.25        # kept after the last note ends, so the last note is not chopped mid-decay
_FADE_S = 0.05       # fade at the cut so it does not click
_PEAK = 0.89         # about -1 dBFS: headroom against rounding to int16
SOUNDFONT_ENV = "MIDI_RAE_SOUNDFONT"
SOUNDFONT_PLACES = (
    "/usr/share/sounds/sf2/FluidR3_GM.sf2",
    "/usr/share/soundfonts/default.sf2",
    "/usr/share/soundfonts/FluidR3_GM.sf2",
    "/usr/share/sounds/sf2/default-GM.sf2",
    "/usr/share/sounds/sf2/TimGM6mb.sf2",
)


def find_soundfont() -> Path | None:
    """A General MIDI SoundFont: $MIDI_RAE_SOUNDFONT, then common system places, then pretty_midi's own."""
    candidates = [os.environ.get(SOUNDFONT_ENV, ""), *SOUNDFONT_PLACES,
                  str(Path(pretty_midi.__file__).parent / "TimGM6mb.sf2")]
    for c in candidates:
        if c and Path(c).is_file():
            return Path(c)
    return None


def _trimmed(pm: pretty_midi.PrettyMIDI, limit_s: float) -> pretty_midi.PrettyMIDI:
    """A copy without notes past limit_s (ends clipped), so the synth never renders what is cut."""
    pm = copy.deepcopy(pm)
    for inst in pm.instruments:
        inst.notes = [pretty_midi.Note(n.velocity, n.pitch, n.start, min(n.end, limit_s))
                      for n in inst.notes if n.start < limit_s]
    return pm


def _synthesize(pm: pretty_midi.PrettyMIDI, fs: int) -> tuple[np.ndarray, str]:
    """(samples, synth description): FluidSynth with a SoundFont if both work, else pretty_midi's sine waves."""
    sf = find_soundfont()
    if sf is not None:
        try:
            return np.asarray(pm.fluidsynth(fs=fs, synthesizer=str(sf), normalize=False), dtype=np.float64), \
                f"FluidSynth with {sf.name}"
        except Exception:  # pyfluidsynth or libfluidsynth missing or broken: an optional extra, not an error
            pass
    if not any(i.notes and not i.is_drum for i in pm.instruments):
        return np.zeros(0), "sine waves (pretty_midi; FluidSynth not available)"
    return np.asarray(pm.synthesize(fs=fs, normalize=False), dtype=np.float64), \
        "sine waves (pretty_midi; FluidSynth not available)"


def _wav_bytes(samples: np.ndarray, fs: int) -> bytes:
    """Mono 16-bit PCM WAV file bytes."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(fs)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def render_audio(pm: pretty_midi.PrettyMIDI, fs: int = 22050) -> tuple[bytes, str]:
    """WAV bytes of the piece (at most MAX_SECONDS, peak-normalised) and a short note on how it was made."""
    end = float(pm.get_end_time())
    note = ""
    if end > MAX_SECONDS:
        pm = _trimmed(pm, MAX_SECONDS)
        note = f"; only the first {MAX_SECONDS / 60:g} of {end / 60:.1f} minutes"
        end = MAX_SECONDS
    samples, synth = _synthesize(pm, fs)
    # Both synths add their own release tail (up to a second); trim to a fixed one so lengths are predictable.
    n = int(round((end + TAIL_S) * fs)) if end > 0 else 0
    samples = np.concatenate([samples[:n], np.zeros(max(n - len(samples), 0))])
    fade = min(int(_FADE_S * fs), len(samples))
    if fade:
        samples[-fade:] *= np.linspace(1.0, 0.0, fade)
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak > 0:
        samples = samples * (_PEAK / peak)
    return _wav_bytes(samples, fs), synth + note


def roll_audio(roll_array: np.ndarray, steps_per_beat: int, tempo_bpm: float, fs: int = 22050,
               time_signature: tuple[int, int] = (4, 4)) -> bytes:
    """WAV bytes of a (128, T) binary roll played as piano at a constant tempo, a step being 1/steps_per_beat of
    the metre's beat (a dotted quarter in 6/8)."""
    return render_audio(roll_to_midi(np.asarray(roll_array), steps_per_beat=steps_per_beat, tempo_bpm=tempo_bpm,
                                     time_signature=time_signature), fs)[0]

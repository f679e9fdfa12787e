"""Listening and downloads: the window, its reconstruction and the whole piece, as audio and MIDI."""
from __future__ import annotations

import functools

import numpy as np
import streamlit as st


from midi_rae.audio import render_audio
from midi_rae.pianoroll import beat_seconds, midi_bytes, roll_to_midi

from . import activity, session
from .names import file_stem
from .session import K


@st.cache_resource(max_entries=64, show_spinner=False)
def _midi(key: tuple, _roll, spb: int, tempo: float, meter: tuple[int, int] = (4, 4), _onsets=None, _seconds=None):
    """(PrettyMIDI, .mid bytes) of a roll in the piece's metre (a PianoRoll keeps its own tempo, metre, timing and
    repeated-note onsets; a window gets the piece's, its slice of the onsets and its beats' lengths)."""
    pm = roll_to_midi(_roll, steps_per_beat=spb, tempo_bpm=tempo, time_signature=tuple(meter), onsets=_onsets,
                      seconds=_seconds)
    return pm, midi_bytes(pm)


def _midi_file(key: tuple, roll, spb: int, tempo: float) -> bytes:
    return _midi(key, roll, spb, tempo)[1]


# 16 kHz: the sine synthesis makes pure tones, and the piano's range (up to C8, 4.2 kHz) is far below the
# 8 kHz limit (only pitches above MIDI 119 would fold back). The reconstruction's player is rebuilt on
# every mask change, so a quarter fewer bytes to make and send is a measurable part of that redraw.
PLAYER_RATE = 16000


@st.cache_resource(max_entries=32, show_spinner="Rendering audio…")
def _wav(key: tuple, _pm) -> tuple[bytes, str]:
    return render_audio(_pm, fs=PLAYER_RATE)


def download_names(piece_name: str, bar: int, semis: int = 0, pedal: bool = False,
                   view_stem: str | None = None) -> dict[str, str]:
    """File names of the window, reconstruction and piece downloads ("piece.mid" -> "piece_bar3_window.mid"; a
    transposed piece's say so: "piece_transposed+3_bar3_window.mid"; one read with its sustain pedal, "_pedal").
    The reconstruction is the model's: named by `view_stem` (the page's, which names the model) where given."""
    stem = file_stem(piece_name, semis, pedal=pedal)
    return {"window": f"{stem}_bar{bar}_window.mid",
            "reconstruction": f"{view_stem or stem}_bar{bar}_reconstruction.mid", "piece": f"{stem}_quantised.mid"}


def _midi_only(key: tuple, roll, spb: int, tempo: float, meter: tuple[int, int], onsets, seconds) -> bytes:
    return _midi(key, roll, spb, tempo, meter, onsets, seconds)[1]


# (not a button's help: with a tooltip, the page drew the download button twice)
PIECE_NOTE = ("The piece's MIDI is the roll's, on the grid: notes of one pitch that overlap in the file (two voices on "
              "one key) are one note in it, so it can hold fewer notes than the header counts.")


def _player(col, key: tuple, roll, spb: int, tempo: float, label: str, file_name: str, play: bool,
            meter: tuple[int, int] = (4, 4), onsets=None, seconds=None) -> str:
    how = ""
    if play:
        pm, mid = _midi(key, roll, spb, tempo, meter, onsets, seconds)
        wav, how = _wav(key, pm)
        col.audio(wav, format="audio/wav")
    else:  # made when pressed: a window of a piece with tempo changes took ~50 ms of every window step to write
        mid = functools.partial(_midi_only, key, roll, spb, tempo, meter, onsets, seconds)
    col.download_button(label, mid, file_name=file_name, mime="audio/midi", key="dl_" + key[-1], on_click="ignore")
    return how


@st.fragment
@activity.fragment_body
def render(song, res, spb: int, semis: int = 0, stem: str | None = None) -> None:
    """Players for window, reconstruction and (on request) the whole piece, each with its MIDI download.

    A fragment: the players are synthesised only while "Play here" is on (each window or mask change would
    otherwise make and send a second of audio per second of music that nobody asked to hear).
    """
    st.subheader("Listen and download")
    roll = song.roll
    tempo = float(roll.tempo_bpm or 120.0)
    bar = res.start // max(roll.steps_per_bar, 1) + 1
    names = download_names(roll.name, bar, semis, roll.sustain_pedal, stem)
    play = st.toggle("Play here", persist_state="session", key=K.PLAYERS,
                     help="Synthesise the window and its reconstruction as audio players that follow every "
                          "window and mask change. Off, the MIDI downloads stay.")
    cols = st.columns(3)
    cols[0].markdown("**Window** (the model's input)")
    meter = tuple(roll.time_signature)
    width = res.image.shape[1]
    onsets = np.zeros_like(res.image)
    part = roll.onsets[:, res.start:res.start + width]
    onsets[:, :part.shape[1]] = part
    seconds = beat_seconds(roll, res.start, width)  # played at the piece's own timing, beat by beat
    how = _player(cols[0], song.key + (res.start, "window"), res.image, spb, tempo, "Window as MIDI",
                  names["window"], play, meter, onsets, seconds)
    cols[1].markdown("**Reconstruction** (visible patches pasted back)")
    if res.probs is not None:
        binary = res.binary().astype(np.uint8)
        _player(cols[1], res.key + ("recon",), binary, spb, tempo, "Reconstruction as MIDI",
                names["reconstruction"], play, meter, seconds=seconds)
    else:
        cols[1].caption("No decoder, so no reconstruction to play.")
    cols[2].markdown("**Whole piece** (as the model sees it)")
    if roll.tempo_changes or roll.metre_changes:  # the files' ticks are the grid's; their tempi the piece's
        cols[2].caption(f"Played at the piece's own tempo beat by beat, its changes kept; the files count bars in "
                        f"{meter[0]}/{meter[1]} throughout.")
    # a long piece takes seconds to synthesise and tens of megabytes of WAV: only on request
    if session.piece_audio_wanted(song.key) or cols[2].button("Render the whole piece", key="piece_audio"):
        session.want_piece_audio(song.key)
        how = _player(cols[2], song.key + ("piece",), roll, spb, tempo, "Piece as MIDI (quantised)",
                      names["piece"], True)
    else:  # made when pressed: a long piece's MIDI took about half a second of every new piece's run
        piece_file = functools.partial(_midi_file, song.key + ("piece",), roll, spb, tempo)
        cols[2].download_button("Piece as MIDI (quantised)", piece_file, file_name=names["piece"],
                                mime="audio/midi", key="dl_piece", on_click="ignore")
    if how:
        st.caption(f"Audio: {how.rstrip('.')}. {PIECE_NOTE}")
    else:
        st.caption(f"Turn on “Play here” to hear the window and its reconstruction. {PIECE_NOTE}")

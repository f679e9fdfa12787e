"""The piece page's place in its URL: a reload (a new session) or a shared link opens the same shipped model,
example (or piece of the shipped corpus, opened from the Corpus page), window, transposition, and the time
resolution where it is not the model's own.

Only what the server can open again by name goes in: an uploaded file or checkpoint cannot. With a dropped file
shown, the URL names the file (and a shipped model) only so that a reload can say what it could not bring back.
Values that are not valid are ignored, never an error: a URL is typed by anyone.
"""
from __future__ import annotations

from typing import Optional

import streamlit as st

from midi_rae.inference import MaskSettings
from midi_rae.pianoroll import GRID_RESOLUTIONS

from .session import K

READ = "_url_read"  # session state: this session's piece page has read its URL once
SENT = "_url_sent"  # session state: the place this session last sent to the browser
IGNORED = "_url_ignored"  # session state: the sentence naming what the URL asked for that could not be used
LINK_BAR = "_url_bar"  # session state: the bar the URL asked for, until the piece's last window start is known
LINK_SPB = "_url_spb"  # session state: the time resolution the URL asked for, until its slider is drawn
MODEL, EXAMPLE, PASSAGE, BAR, TRANSPOSE, DROPPED = "model", "example", "passage", "bar", "transpose", "dropped"
SPB = "spb"  # the time resolution, named only where it is not the model's own
PEDAL = "pedal"  # "1" where the sustain pedal is applied
B_MODEL = "b"  # the shipped model compared as B, where one is
MASK = "mask"  # the mask ratio, where it is not the default
DEFAULT_MASK = MaskSettings().mask_ratio  # the slider's start, left out of the URL
MAX_BAR = 100_000


def _int(text: Optional[str], lo: int, hi: int) -> Optional[int]:
    try:
        value = int(str(text))
    except ValueError:
        return None
    return value if lo <= value <= hi else None


def restore(models: list[str], examples: list[str]) -> None:
    """On a session's first run of the piece page, set its controls from the URL (before they are drawn); what it
    asked for that could not be used is named by `ignored` until a run has shown that."""
    if st.session_state.get(READ):
        return
    st.session_state[READ] = True
    q = st.query_params
    ignored = []
    named = {m.casefold(): m for m in models}  # the header writes "shipped default"; the picker "Shipped default"
    if str(q.get(MODEL, "")).casefold() in named:
        st.session_state[K.CKPT_SOURCE] = named[str(q[MODEL]).casefold()]
    elif MODEL in q:
        ignored.append("model (not a shipped model's name)")
    if q.get(EXAMPLE) in examples:
        st.session_state[K.EXAMPLE] = q[EXAMPLE]
    elif EXAMPLE in q:
        ignored.append("example (not a bundled example's name)")
    bar, semis = _int(q.get(BAR), 1, MAX_BAR), _int(q.get(TRANSPOSE), -12, 12)
    if bar is not None:
        st.session_state[K.WINDOW_BAR] = st.session_state[LINK_BAR] = bar
    elif BAR in q:
        ignored.append(f"bar (not a whole number from 1 to {MAX_BAR:,})")
    if semis is not None:
        st.session_state[K.TRANSPOSE] = semis
    elif TRANSPOSE in q:
        ignored.append("transpose (not a whole number from −12 to 12)")
    spb = _int(q.get(SPB), 1, max(GRID_RESOLUTIONS))
    if spb in GRID_RESOLUTIONS:
        st.session_state[LINK_SPB] = spb
    elif SPB in q:
        ignored.append(f"spb (not a time resolution the page offers: {', '.join(map(str, GRID_RESOLUTIONS))})")
    if str(q.get(B_MODEL, "")).casefold() in named:
        st.session_state[K.B_SOURCE] = named[str(q[B_MODEL]).casefold()]
    elif B_MODEL in q:
        ignored.append("b (not a shipped model's name)")
    mask = _ratio(q.get(MASK))
    if mask is not None:
        st.session_state[K.MASK_RATIO] = mask
    elif MASK in q:
        ignored.append("mask (not a ratio from 0 to 1 in steps of 0.05)")
    if q.get(PEDAL) in ("0", "1"):
        st.session_state[K.SUSTAIN] = q[PEDAL] == "1"
    elif PEDAL in q:
        ignored.append("pedal (not 0 or 1)")
    if PASSAGE in q and not _open_passage(q[PASSAGE], bar or 1, semis or 0):
        ignored.append("passage (not a piece of the shipped corpus)")
    notes = []
    if ignored:
        notes.append(f"This link's {', '.join(ignored)} could not be used, so the page opened without "
                     f"{'it' if len(ignored) == 1 else 'them'}.")
    if q.get(DROPPED) and EXAMPLE not in q and PASSAGE not in q:
        from .names import display_name

        # a reload, or the link opened in another tab or by someone else: the same words fit each
        notes.append(f"This address was made while a dropped file, {display_name(q[DROPPED])}, was shown: a dropped "
                     "file stays only with the page it was dropped in, not in its address, so drop it again here to "
                     "see it.")
    if notes:
        st.session_state[IGNORED] = " ".join(notes)


def _ratio(text: Optional[str]) -> Optional[float]:
    """A mask ratio as the slider takes it (0 to 1 in steps of 0.05), or None."""
    try:
        value = float(str(text))
    except ValueError:
        return None
    if not 0 <= value <= 1:  # also NaN and infinity, which round() refuses
        return None
    steps = round(value * 20)
    return steps / 20 if abs(value * 20 - steps) < 1e-6 else None


def _open_passage(address: str, bar: int, semis: int) -> bool:
    """Open the shipped-corpus piece a URL names, as the Corpus page would (False: it names none)."""
    from .corpus_similar import shipped_passage, show_passage

    path = shipped_passage(address)
    if path is not None:
        show_passage(path, bar, semis)
    return path is not None


def bar_within(last: int) -> None:
    """Once the piece is known (`last`: its last window start): a link's bar past it is said, with the bar used."""
    bar = st.session_state.pop(LINK_BAR, None)
    if bar is not None and bar > last:
        note = (f"This link's bar {bar:,} lies past the piece's last window, which starts at bar {last}: the window "
                f"starts there.")
        st.session_state[IGNORED] = " ".join(filter(None, (st.session_state.get(IGNORED), note)))


def linked_resolution() -> Optional[int]:
    """The time resolution the URL asked for, once (for the slider about to be drawn)."""
    return st.session_state.pop(LINK_SPB, None)


def ignored() -> Optional[str]:
    """One sentence naming what the URL asked for that could not be used (None when all of it was)."""
    return st.session_state.get(IGNORED)


def ignored_shown() -> None:
    """A whole run has shown `ignored`: later runs do not."""
    st.session_state.pop(IGNORED, None)


def record(model: Optional[str], example: Optional[str], bar: int, semis: int, passage: Optional[str] = None,
           dropped: Optional[str] = None, spb: Optional[int] = None, pedal: bool = False,
           b_model: Optional[str] = None, mask: float = DEFAULT_MASK) -> None:
    """Put the shown place in the URL: a shipped model, and a bundled example or a shipped-corpus piece
    (`passage`); nothing of a place that cannot be reopened by name, but the name of a `dropped` file shown (and
    the shipped model), so that a reload can say what it lost. The shipped model compared as B (`b_model`) and
    a mask ratio other than the default go in either way."""
    piece = {EXAMPLE: example} if example is not None else {PASSAGE: passage} if passage is not None else None
    if piece is not None and model is not None:
        want = {MODEL: model, **piece, BAR: str(int(bar)), TRANSPOSE: str(int(semis)),
                **({SPB: str(int(spb))} if spb is not None else {}), **({PEDAL: "1"} if pedal else {})}
    else:
        want = {} if dropped is None else {**({MODEL: model} if model is not None else {}), DROPPED: dropped}
    if want:
        want.update({**({B_MODEL: b_model} if b_model is not None else {}),
                     **({MASK: f"{mask:g}"} if abs(mask - DEFAULT_MASK) > 1e-9 else {})})
    # a run's query params are those the browser sent with its rerun request: runs that follow each other closely
    # (a dropped file passes through an empty uploader) can be sent before the browser has applied the previous
    # run's URL, so what this session last sent is compared too
    if st.query_params.to_dict() != want or st.session_state.get(SENT) != want:
        st.query_params.from_dict(want)
        st.session_state[SENT] = want

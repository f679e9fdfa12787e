"""The piece page's place in its URL: a reload (a new session) or a shared link opens the same shipped model,
example (or piece of the shipped corpus, opened from the Corpus page), window, transposition, the time
resolution, binarization threshold and empty mask ratio where they are not the model's own, the mask ratio and
seed, the pedal and the shipped model compared as B.

Only what the server can open again by name goes in: an uploaded file or checkpoint cannot. With a dropped file
shown, the URL names the file (and a shipped model) only so that a reload can say what it could not bring back.
Values that are not valid are ignored, never an error: a URL is typed by anyone.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

import streamlit as st

from midi_rae.inference import MaskSettings
from midi_rae.pianoroll import GRID_RESOLUTIONS

from . import session
from .session import K

READ = "_url_read"  # session state: this session's piece page has read its URL once
SENT = "_url_sent"  # session state: the place this session last sent to the browser
IGNORED = "_url_ignored"  # session state: the sentence naming what the URL asked for that could not be used
LINK_BAR = "_url_bar"  # session state: the bar the URL asked for, until the piece's last window start is known
CARRIED = "_url_carried"  # session state: a piece page's address the Corpus page was opened by, for the Piece page
LINK_SPB = "_url_spb"  # session state: the time resolution the URL asked for, until its slider is drawn
MODEL, EXAMPLE, PASSAGE, BAR, TRANSPOSE, DROPPED = "model", "example", "passage", "bar", "transpose", "dropped"
SPB = "spb"  # the time resolution, named only where it is not the model's own
PEDAL = "pedal"  # "1" where the sustain pedal is applied
B_MODEL = "b"  # the shipped model compared as B, where one is
MASK = "mask"  # the mask ratio, where it is not the default
DEFAULT_MASK = MaskSettings().mask_ratio  # the slider's start, left out of the URL
SEED = "seed"  # the mask seed, where it is not 0
THRESHOLD = "threshold"  # the binarization threshold, where it is not the checkpoint's own
EMPTY = "empty"  # the empty mask ratio, where it is not the checkpoint's own
LINK_THRESHOLD = "_url_threshold"  # session state: the threshold the URL asked for, until its slider is drawn
LINK_EMPTY = "_url_empty"  # session state: the empty mask ratio the URL asked for, until its slider is drawn
OWN_VALUE = -1  # linked_value's word for "the checkpoint's own"
# values a URL sets on sliders keyed by the checkpoint: held under LINK_* until the slider is drawn (linked_value)
LINKED = ((SPB, LINK_SPB), (THRESHOLD, LINK_THRESHOLD), (EMPTY, LINK_EMPTY))
MAX_SEED = 1_000_000  # the seed input's upper end
MAX_BAR = 100_000


def _int(text: Optional[str], lo: int, hi: int) -> Optional[int]:
    """A whole number written in ASCII digits (int() also takes "1_0", "٣" and "２"), within lo..hi; else None."""
    text = str(text)
    if not re.fullmatch(r"-?[0-9]{1,9}", text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def restore(models: list[str], examples: list[str]) -> None:
    """On a session's first run of the piece page, set its controls from the URL (before they are drawn); what it
    asked for that could not be used is named by `ignored` until a run has shown that. On a run the browser's Back
    or Forward button started, show the place the address it returned to names (`_return_to`)."""
    returned = bool(st.session_state.get(READ)) and _history_navigation()
    if st.session_state.get(READ) and not returned:
        return
    st.session_state[READ] = True
    q = st.query_params if returned else (st.query_params.to_dict() or st.session_state.pop(CARRIED, {}))
    if returned and not q.to_dict() and examples:  # Back to the app's bare address: the place a page opens at
        q = {EXAMPLE: examples[0]}
    place, ignored = _place(q, models, examples)
    if returned:
        _return_to(place, q.get(DROPPED), models)
        if ignored:  # beside what _return_to said of a dropped file
            st.session_state[IGNORED] = " ".join(filter(None, (_ignored_note(ignored), st.session_state.get(IGNORED))))
        return
    for key, name in ((K.CKPT_SOURCE, MODEL), (K.TRANSPOSE, TRANSPOSE), (K.B_SOURCE, B_MODEL),
                      (K.MASK_RATIO, MASK), (K.SUSTAIN, PEDAL), (K.MASK_SEED, SEED)):
        if name in place:
            st.session_state[key] = place[name]
    if EXAMPLE in place:
        session.set_widget(K.EXAMPLE, place[EXAMPLE])
    if BAR in place:
        st.session_state[K.WINDOW_BAR] = st.session_state[LINK_BAR] = place[BAR]
    for name, link in LINKED:
        if name in place:
            st.session_state[link] = place[name]
    if PASSAGE in place:
        _open_passage(place[PASSAGE], place.get(BAR, 1), place.get(TRANSPOSE, 0))
    notes = [_ignored_note(ignored)] if ignored else []
    if q.get(DROPPED) and EXAMPLE not in q and PASSAGE not in q:
        notes.append(_dropped_note(q[DROPPED]))
    if notes:
        st.session_state[IGNORED] = " ".join(notes)


def carry_over() -> None:
    """On the Corpus page, a session's first visit by an address that names a piece page's place (a link, or Back
    to such an entry, pasted into a new tab): kept for the Piece page's first run, as Streamlit leaves a page's
    query params behind when another page is opened."""
    if not st.session_state.get(READ) and any(k in st.query_params for k in (EXAMPLE, PASSAGE)):
        st.session_state[CARRIED] = st.query_params.to_dict()


def _ignored_note(ignored: list[str]) -> str:
    """The sentence naming what an address asked for that the page could not use."""
    return (f"This link's {', '.join(ignored)} could not be used, so the page opened without "
            f"{'it' if len(ignored) == 1 else 'them'}.")


def _history_navigation() -> bool:
    """Did the browser's Back or Forward button start this run? (Streamlit then reruns the page with the address
    returned to, and the URL this run sends replaces that history entry rather than adding one.)"""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    return bool(getattr(get_script_run_ctx(), "is_history_navigation", False))


def _place(q, models: list[str], examples: list[str]) -> tuple[dict, list[str]]:
    """The values of the address `q` the page can use (by their URL names, as the widgets take them; a passage as
    its file), and the words naming those it cannot."""
    place, ignored = {}, []
    named = {m.casefold(): m for m in models}  # the header writes "shipped default"; the picker "Shipped default"

    def spb(v: str) -> Optional[int]:
        value = _int(v, 1, max(GRID_RESOLUTIONS))
        return value if value in GRID_RESOLUTIONS else None

    def threshold(v: str) -> Optional[float]:
        value = _ratio(v)
        return value if value is not None and 0.05 <= value <= 0.95 else None

    model = (lambda v: named.get(str(v).casefold()), "not a shipped model's name")
    ratio = (_ratio, "not a ratio from 0 to 1 in steps of 0.05")
    readers = ((MODEL, *model), (EXAMPLE, lambda v: v if v in examples else None, "not a bundled example's name"),
               (BAR, lambda v: _int(v, 1, MAX_BAR), f"not a whole number from 1 to {MAX_BAR:,}"),
               (TRANSPOSE, lambda v: _int(v, -12, 12), "not a whole number from −12 to 12"),
               (SPB, spb, f"not a time resolution the page offers: {', '.join(map(str, GRID_RESOLUTIONS))}"),
               (B_MODEL, *model), (MASK, *ratio),
               (SEED, lambda v: _int(v, 0, MAX_SEED), f"not a whole number from 0 to {MAX_SEED:,}"),
               (THRESHOLD, threshold, "not a value from 0.05 to 0.95 in steps of 0.05"), (EMPTY, *ratio),
               (PEDAL, {"0": False, "1": True}.get, "not 0 or 1"))
    for name, read, why in readers:
        value = read(q[name]) if name in q else None
        if value is not None:
            place[name] = value
        elif name in q:
            ignored.append(f"{name} ({why})")
    if PASSAGE in q:
        from .corpus_similar import shipped_passage

        path = shipped_passage(q[PASSAGE])  # the piece's file in the shipped corpus, where it names one
        if path is not None:
            place[PASSAGE] = path
        else:
            ignored.append("passage (not a piece of the shipped corpus)")
    if (EXAMPLE in q or PASSAGE in q) and EXAMPLE not in place and PASSAGE not in place:
        # a window and a transposition of the piece the address named: not of the piece the page opens instead
        lost = [name for name in (BAR, TRANSPOSE) if place.pop(name, None) is not None]
        if lost:
            ignored.append(f"{' and '.join(lost)} (of that piece)")
    return place, ignored


def _dropped_note(name: str) -> str:
    """What the page says of an address made while a dropped file was shown, which it cannot open again."""
    from .names import display_name

    # a reload, the link opened in another tab or by someone else, or Back to it: the same words fit each
    return (f"This address was made while a dropped file, {display_name(name)}, was shown: a dropped file stays only "
            "with the page it was dropped in, not in its address, so drop it again here to see it.")


def _return_to(place: dict, dropped: Optional[str], models: list[str]) -> None:
    """Back or Forward: the piece, window, transposition, resolution, mask ratio and seed, pedal and models the address
    names, as they were when it was recorded; what it leaves out is the default it was left out for (a shipped B
    model named nowhere is off). An address of a dropped file (which names no window) brings that file back while
    the uploader still holds it (an example was picked over it since); a checkpoint or file the address cannot
    name stays as it is."""
    from .sources import digest, example_files

    bar, semis, passage = place.get(BAR, 1), place.get(TRANSPOSE, 0), place.get(PASSAGE)
    if not (EXAMPLE in place or passage is not None or dropped):
        return  # an address naming nothing (an uploaded checkpoint shown): nothing to return to
    if MODEL in place:
        st.session_state[K.CKPT_SOURCE] = place[MODEL]
    shown = st.session_state.get(K.LAST_GOOD_PIECE)
    upload = st.session_state.get(K.MIDI_UPLOAD)
    if passage is not None:  # named with an example too (typed so): the passage, as a first visit shows it
        _open_passage(passage, bar, semis)
    elif EXAMPLE in place:
        path = next(p for p in example_files() if p.name == place[EXAMPLE])
        key = digest(path.read_bytes())
        if shown is None or shown.key != key:
            # as a pick in the picker would (sidebar._example_picked), at the address's bar and transposition
            st.session_state[K.EXAMPLE_OVER_UPLOAD] = getattr(upload, "file_id", None)
            session.forget_upload()
            session.close_opened_piece()
            st.session_state[K.OPENED_AT] = (key, bar)
        session.set_widget(K.EXAMPLE, place[EXAMPLE])
    elif dropped:
        from .names import display_name

        if upload is not None and display_name(upload.name) == display_name(dropped):
            st.session_state.pop(K.EXAMPLE_OVER_UPLOAD, None)
            session.close_opened_piece()
            session.leave_example()
        elif shown is None or not shown.uploaded or display_name(shown.name) != display_name(dropped):
            st.session_state[IGNORED] = _dropped_note(dropped)
    if EXAMPLE in place or passage is not None:  # an address of a dropped file names no window
        session.move_window(bar)
        st.session_state[LINK_BAR] = bar
        st.session_state[K.TRANSPOSE] = semis
        st.session_state[LINK_SPB] = place.get(SPB, OWN_VALUE)
        st.session_state[K.SUSTAIN] = place.get(PEDAL, False)
    st.session_state[K.MASK_RATIO] = place.get(MASK, DEFAULT_MASK)
    st.session_state[K.MASK_SEED] = place.get(SEED, 0)
    st.session_state[LINK_THRESHOLD] = place.get(THRESHOLD, OWN_VALUE)
    st.session_state[LINK_EMPTY] = place.get(EMPTY, OWN_VALUE)
    if B_MODEL in place:
        st.session_state[K.B_SOURCE] = place[B_MODEL]
    elif st.session_state.get(K.B_SOURCE) in models:
        st.session_state[K.B_SOURCE] = "Off"


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


def _open_passage(path: Path, bar: int, semis: int) -> None:
    """Open the shipped-corpus piece a URL names (its file), as the Corpus page would."""
    from .corpus_similar import show_passage

    show_passage(path, bar, semis)


def bar_within(last: int) -> None:
    """Once the piece is known (`last`: its last window start): a link's bar past it is said, with the bar used."""
    bar = st.session_state.pop(LINK_BAR, None)
    if bar is not None and bar > last:
        note = (f"This link's bar {bar:,} lies past the piece's last window, which starts at bar {last}: the window "
                f"starts there.")
        st.session_state[IGNORED] = " ".join(filter(None, (st.session_state.get(IGNORED), note)))
    opened = st.session_state.pop(K.OPENED_BAR, None)
    if opened is not None and opened > last:  # an index's window at another resolution or model's width
        note = (f"The passage opened starts at bar {opened:,}, past this piece's last window here, which starts at "
                f"bar {last}: the window starts there.")
        st.session_state[IGNORED] = " ".join(filter(None, (st.session_state.get(IGNORED), note)))


def linked_value(link: str, own):
    """The value (a `LINKED` one: time resolution, threshold, empty mask ratio) the URL asked for, once, for the
    slider about to be drawn: `own`, the checkpoint's, where the address returned to by Back names none; None where
    the URL asked for nothing."""
    value = st.session_state.pop(link, None)
    return None if value is None else own if value == OWN_VALUE else value


def ignored() -> Optional[str]:
    """One sentence naming what the URL asked for that could not be used (None when all of it was)."""
    return st.session_state.get(IGNORED)


def ignored_shown() -> None:
    """A whole run has shown `ignored`: later runs do not."""
    st.session_state.pop(IGNORED, None)


def record(model: Optional[str], example: Optional[str], bar: int, semis: int, passage: Optional[str] = None,
           dropped: Optional[str] = None, spb: Optional[int] = None, pedal: bool = False,
           b_model: Optional[str] = None, mask: float = DEFAULT_MASK, seed: int = 0,
           first_example: Optional[str] = None, threshold: Optional[float] = None,
           empty: Optional[float] = None) -> None:
    """Put the shown place in the URL: a shipped model, and a bundled example or a shipped-corpus piece
    (`passage`); nothing of a place that cannot be reopened by name, but the name of a `dropped` file shown (and
    the shipped model), so that a reload can say what it lost. The shipped model compared as B (`b_model`), a
    mask ratio other than the default and a mask seed other than 0 go in either way, and so do a `threshold` and
    an `empty` mask ratio (None: the checkpoint's own). A bare address names the place a page opens at
    (`first_example`, the picker's first, at bar 1 of the shipped default)."""
    piece = {EXAMPLE: example} if example is not None else {PASSAGE: passage} if passage is not None else None
    if piece is not None and model is not None:
        want = {MODEL: model, **piece, BAR: str(int(bar)), TRANSPOSE: str(int(semis)),
                **({SPB: str(int(spb))} if spb is not None else {}), **({PEDAL: "1"} if pedal else {})}
    else:
        want = {} if dropped is None else {**({MODEL: model} if model is not None else {}), DROPPED: dropped}
    if want:
        want.update({**({B_MODEL: b_model} if b_model is not None else {}),
                     **({MASK: f"{mask:g}"} if abs(mask - DEFAULT_MASK) > 1e-9 else {}),
                     **({SEED: str(int(seed))} if seed else {}),
                     **({THRESHOLD: f"{threshold:g}"} if threshold is not None else {}),
                     **({EMPTY: f"{empty:g}"} if empty is not None else {})})
    # a run's query params are those the browser sent with its rerun request: runs that follow each other closely
    # (a dropped file passes through an empty uploader) can be sent before the browser has applied the previous
    # run's URL, so what this session last sent is compared too. An address that names the shown place in other
    # words (typed or linked: "?example=x.mid" for bar 1 of the shipped default) is left as it is: rewritten, it
    # was a second history entry, and Back from it returned to the same place
    shown = st.query_params.to_dict()
    if not shown and want and first_example is not None:
        # the app's own address, typed or linked: written out in full on the first run, it was a second history
        # entry, and the first Back returned to the same place
        shown = {EXAMPLE: first_example}
    # (Back or Forward: the address is the browser's own, whatever this session sent before)
    sent = shown if _history_navigation() else st.session_state.get(SENT, shown)
    if _naming(shown) != _naming(want) or _naming(sent) != _naming(want):
        st.query_params.from_dict(want)
        shown = want
    st.session_state[SENT] = shown


KNOWN = (MODEL, EXAMPLE, PASSAGE, BAR, TRANSPOSE, DROPPED, SPB, PEDAL, B_MODEL, MASK, SEED, THRESHOLD, EMPTY)


def _naming(address: dict) -> tuple:
    """The place an address names, whatever its spelling: the order of its values, a default left out, a model's
    case; a value the page could not use, or a name it does not know, keeps it apart from every address the page
    writes."""
    # a place named without a model is the shipped default's; an address naming no place names no model either
    named = any(k in address for k in (EXAMPLE, PASSAGE, DROPPED))
    model = address.get(MODEL, "Shipped default" if named else None)
    return (str(model).casefold(), address.get(EXAMPLE), address.get(PASSAGE),
            address.get(DROPPED), _int(address.get(BAR, "1"), 1, MAX_BAR),
            _int(address.get(TRANSPOSE, "0"), -12, 12), address.get(SPB), address.get(PEDAL, "0"),
            str(address.get(B_MODEL, "")).casefold(), _ratio(address.get(MASK, f"{DEFAULT_MASK:g}")),
            _int(address.get(SEED, "0"), 0, MAX_SEED), _ratio(address.get(THRESHOLD, "")),
            _ratio(address.get(EMPTY, "")), frozenset(k for k in address if k not in KNOWN))

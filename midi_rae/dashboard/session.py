"""Every session-state key of the dashboard, and the only code that reads or writes them.

Widget keys are named here so that the code placing a widget and the code acting on it before the widget
is drawn (a click that moves the window, say) agree on one name. Anything the page remembers between
runs (the selection, failed checkpoints, the last good piece) is read and written through the functions
below, so each has one writer.
"""
from __future__ import annotations

from typing import Any, Optional

import streamlit as st


class K:
    """Session-state keys: widgets first, then what the page remembers."""

    # widgets
    CKPT_SOURCE = "ckpt_source"
    CKPT_UPLOAD = "ckpt_upload"
    DEC_UPLOAD = "dec_upload"
    CKPT_FILE = "ckpt_file"
    CKPT_DECODER_FILE = "ckpt_decoder_file"
    B_SOURCE = "b_source"
    MIDI_UPLOAD = "midi_upload"
    EXAMPLE = "example"  # the example the picker shows (None: another piece shows); its widget's key: widget_key()
    TRANSPOSE = "transpose"
    SUSTAIN = "sustain_pedal"
    WINDOW_BAR = "window_bar"
    WINDOW_PLACE = "_window_place"  # the window's bar as last drawn or moved to
    WINDOW_RANGE = "_window_range"  # the window slider's last range (1..this)
    MASK_RATIO = "mask_ratio"
    EMPTY_MASK_RATIO = "empty_mask_ratio"
    MASK_SEED = "mask_seed"
    SELECT_LEVEL = "select_level"
    PCA_LEVEL = "pca_level"
    PCA_COLOR = "pca_color"
    PCA_SHOW_EMPTY = "pca_show_empty"
    PCA_3D = "pca_3d"
    RECON_INTERACTIVE = "recon_interactive"
    PLAYERS = "players"
    SHOW_UMAP = "show_umap"
    SIM_LEVEL = "sim_level"
    PROBE_READING = "probe_reading"
    PHRASE_FRAMES = "phrase_frames"
    PHRASE_TOLERANCE = "phrase_tolerance"
    PHRASE_LABELLED = "phrase_labelled"
    PHRASE_GROUP = "phrase_group"
    ABLATION_MODE = "ablation_mode"
    ANALYSIS_TAB = "analysis_tab"
    MODEL_CARD = "model_card"
    # charts whose clicks the page acts on
    OVERVIEW_CHART = "overview_chart"
    WINDOW_CHART = "window_chart"
    PCA_CHART = "pca2d"
    HELD_PREFIX = "_click_held::"  # a chart click, held over the whole page's rerun that it starts
    SIM_CHART = "similarity_chart"
    ALONG_CHART = "along_chart"  # the F1 along the piece tab: a click moves the window
    # remembered between runs
    SELECTED = "selected"
    BAD_CHECKPOINTS = "_bad_checkpoints"
    BAD_PIECES = "_bad_pieces"
    LAST_TAB_PREFIX = "_last_tab::"  # + a tabs widget's key: the tab open when its page was last drawn
    UPLOAD_REMOVED = "_upload_removed"  # the dropped MIDI file was taken out of the uploader (×)
    KEPT_CHECKPOINT = "_kept_checkpoint::"  # + "" (A) or "b_": the last dropped checkpoint, until removed
    EXAMPLE_OVER_UPLOAD = "_example_over_upload"  # the upload (its file id) an example was picked over
    LAST_EXAMPLE = "_last_example"  # the example the picker showed before another piece took its place
    SEEN = "_picker_seen"  # (uploader's file id, picker's example) as the last run drew them
    RUN = "_run"  # full runs of the piece page in this session (a fragment's rerun is not one)
    REMOVED_IN = "_removed_in::"  # + "midi", "" (A's checkpoint) or "b_": the run an uploader was emptied in
    SET_ASIDE = "_set_aside"  # (+ prefix) the uploaded model in use when its uploader was emptied, until that holds
    DEC_SET_ASIDE = "_dec_set_aside"  # {run, model, file}: the model in use when A's decoder uploader was emptied
    REFUSED_BACK_TO = "_refused_back_to"  # (example, file, why): left by a refusal's run for the rerun it asks for
    REFUSAL_NOTE = "_refusal_note"  # (file, why): what that rerun says, once
    REFUSED_OVER_KEPT = "_refused_over_kept"  # the uploader's file id of a bad file dropped over a shown upload
    KEEP_AFTER_REMOVAL = "_keep_after_removal"  # that bad file was removed (×): the upload it fell back to stays
    REFUSED_UPLOAD = "_refused_upload"  # (uploader's file id, file name) of the dropped file a refusal went back from
    LAST_GOOD_CHECKPOINT = "last_good_checkpoint"
    LAST_GOOD_NOT_DROPPED = "last_good_not_dropped"
    LAST_GOOD_PIECE = "last_good_piece"
    LAST_GOOD_UPLOAD = "last_good_upload"
    LEFT_PLACE = "_left_place"  # (piece key, window bar, selection) of the piece on screen before the current one
    PIECE_AUDIO_FOR = "piece_audio_for"
    RUN_FIGURES = "_run_figures"
    EXPORT_HTML = "_export_html"
    OPENED_AT = "_opened_at"  # (piece key, bar) of the passage opened from the Corpus page, until it is shown
    OPENED_BAR = "_opened_bar"  # that bar, until the piece's last window start is known (url_state.bar_within)
    PENDING_READING = "_pending_reading"  # widget values a new piece opens with, set before the next run's sidebar
    OPENED_PIECE = "opened_piece"  # a piece opened from the Corpus page (sidebar.Piece) until another is picked
    OPENED_OVER_UPLOAD = "_opened_over_upload"  # the uploader's file (its id) when that piece was opened
    OPENED_FROM = "_opened_from"  # (piece key, the index's name, its model as its meta names it) of an opened passage


def forget(key: str) -> None:
    """Clear a page-internal session key by setting it to None rather than deleting it: Streamlit's widgets list
    the session's keys and then read each, and a run being stopped as the next starts may still be doing so."""
    if st.session_state.get(key) is not None:
        st.session_state[key] = None


def spb_key(stored: Optional[int]) -> str:
    """The time-resolution slider's key: one per stored resolution, so a new checkpoint resets it."""
    return f"spb::{stored}"


def stated_value(key: str, default: Any) -> dict:
    """The `value` argument of a widget whose key follows the checkpoint (`spb_key`, `threshold_key`): the state,
    where it holds one, sets the widget (Streamlit warns of a widget given both), and is set again, so that the
    browser is sent it. A run that stopped before drawing the widget (a checkpoint that failed to load reruns the
    page at once) dropped the browser's own copy, and the slider then showed its first choice (1 step per beat
    under a page drawn at 4) and sent it with the next action."""
    if key in st.session_state:
        st.session_state[key] = st.session_state[key]
        return {}
    return {"value": default}


def threshold_key(stored: float) -> str:
    """The threshold slider's key: one per checkpoint threshold, so a new checkpoint resets it."""
    return f"threshold::{stored}"


# ---------------------------------------------------------------- controls the page sets as well as the reader

_GENERATION = "_generation::"  # + a control's name: how many times the page has set it (set_widget)


def widget_key(name: str, generation: Optional[int] = None) -> str:
    """The widget key of a control with an on_change that the page sets as well as the reader (the example
    picker): a new one each time the page sets it (set_widget)."""
    gen = st.session_state.get(_GENERATION + name, 0) if generation is None else generation
    return f"{name}#{gen}"


def set_widget(name: str, value: Any) -> None:
    """Show `value` in the control `name` from the next time it is drawn, and hold it as the control's value.

    The browser sends every widget's value with each request. One sent before the browser had drawn a value the
    page set carried the value drawn before, which Streamlit took for the reader's own change and called the
    control's on_change for: a window step right after a drop picked the example shown before the drop, and the
    dropped piece gave way to it. Under a new key, that stale value belongs to a widget the page no longer draws and
    is ignored. Keys three generations back are let go: the browser has drawn their successors by then. (A control
    without on_change, the window slider, kept the value the page set in the same test.)"""
    gen = st.session_state.get(_GENERATION + name, 0) + 1
    st.session_state[_GENERATION + name] = gen
    st.session_state[widget_key(name, gen)] = value
    st.session_state[name] = value
    if gen >= 3:
        st.session_state.pop(widget_key(name, gen - 3), None)


def widget_drawn(name: str, value: Any) -> None:
    """The control as this run drew it: what the rest of the page reads (st.session_state[name])."""
    st.session_state[name] = value


# ---------------------------------------------------------------- the window


def window_bar() -> int:
    """The bar the window starts at (1-based)."""
    return int(st.session_state.get(K.WINDOW_BAR, 1))


def move_window(bar: int, max_bar: Optional[int] = None) -> None:
    """Move the window to `bar` (clamped to 1..max_bar): the one writer of the window slider's value."""
    bar = max(int(bar), 1)
    st.session_state[K.WINDOW_BAR] = st.session_state[K.WINDOW_PLACE] = min(bar, max_bar) if max_bar else bar


def keep_window_across_ranges(max_bar: int) -> None:
    """Before the window slider is drawn with the range 1..max_bar: the window's bar, clamped to it.

    The browser takes a slider whose range changed (another time resolution, another piece) for a new slider, which
    started at bar 1, and going back to the old range brought back the bar last set there; so the bar the window
    was last drawn at (or moved to) is set again whenever the range changes."""
    place = st.session_state.get(K.WINDOW_PLACE)
    if st.session_state.get(K.WINDOW_RANGE) not in (None, max_bar) and place is not None:
        move_window(place, max_bar)
    elif window_bar() > max_bar:
        move_window(max_bar)
    st.session_state[K.WINDOW_RANGE] = max_bar


def window_drawn(bar: int) -> None:
    """The window slider was drawn at `bar` (see keep_window_across_ranges)."""
    st.session_state[K.WINDOW_PLACE] = int(bar)


def new_mask() -> None:
    """Next mask seed (the New mask button)."""
    st.session_state[K.MASK_SEED] = int(st.session_state.get(K.MASK_SEED, 0)) + 1


# ---------------------------------------------------------------- the selected patch


def selected() -> Any:
    """The selected patch (clicks.Selected), or None."""
    return st.session_state.get(K.SELECTED)


def select(sel: Any) -> None:
    """Make `sel` the selected patch."""
    st.session_state[K.SELECTED] = sel


def clear_selection() -> None:
    """Select nothing."""
    st.session_state.pop(K.SELECTED, None)


def selection_level(default: int) -> int:
    """The level a click on the window's patch dots selects at."""
    return int(st.session_state.get(K.SELECT_LEVEL, default))


def hold_click(chart: str, click) -> None:
    """Keep a click in `chart` for the page's next run (a component's trigger value lasts the run it started)."""
    st.session_state[K.HELD_PREFIX + chart] = click


def click_held(chart: str) -> bool:
    """Is a click in `chart` held for this run?"""
    return K.HELD_PREFIX + chart in st.session_state


def take_held_click(chart: str):
    """The click in `chart` held for this run, if any (and forget it)."""
    return st.session_state.pop(K.HELD_PREFIX + chart, None)


def fragment_rerun() -> bool:
    """Is this run a fragment's own rerun, not the whole page's? (Streamlit's run context knows.)"""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


# ---------------------------------------------------------------- checkpoints and pieces


def checkpoint_failure(key: str) -> Optional[str]:
    """Why the checkpoint with this key could not be used, if it failed before."""
    return st.session_state.get(K.BAD_CHECKPOINTS, {}).get(key)


def remember_checkpoint_failure(key: str, message: str) -> None:
    """Remember that a checkpoint failed, with its one sentence, so the page stops trying it."""
    st.session_state.setdefault(K.BAD_CHECKPOINTS, {})[key] = message


def _uploaded(choice: Any) -> bool:
    """Is this checkpoint choice a dropped file (sidebar._uploaded_checkpoint keys them "upload:…")?"""
    return str(getattr(choice, "key", "")).startswith("upload:")


def accept_checkpoint(choice: Any) -> None:
    """Remember the checkpoint that loaded, to stay on it if a later one cannot be used."""
    st.session_state[K.LAST_GOOD_CHECKPOINT] = choice
    if not _uploaded(choice):
        st.session_state[K.LAST_GOOD_NOT_DROPPED] = choice
    if _uploaded(choice):
        keep_checkpoint("", choice)  # kept once it has loaded: what an emptied uploader (another page) goes on with
        forget(K.SET_ASIDE)  # and what a drop replaced matters no more


def last_good_checkpoint() -> Any:
    """The last checkpoint choice (A) that loaded, if any."""
    return st.session_state.get(K.LAST_GOOD_CHECKPOINT)


def model_before_upload() -> Any:
    """The last checkpoint choice (A) that loaded and was not a dropped file: what "Upload" shows until a file is
    dropped, or after the dropped one is removed (None: the shipped default)."""
    return st.session_state.get(K.LAST_GOOD_NOT_DROPPED)


def piece_failure(key: str) -> Optional[str]:
    """Why the MIDI file with this content key could not be opened, if it failed before (so it is not re-read)."""
    return st.session_state.get(K.BAD_PIECES, {}).get(key)


def remember_piece_failure(key: str, message: str) -> None:
    """Remember that a MIDI file could not be opened, with its sentence."""
    st.session_state.setdefault(K.BAD_PIECES, {})[key] = message


def accept_piece(piece: Any, first_bar: int = 1) -> bool:
    """Remember the piece on screen, to fall back to if a later file is bad; a new piece drops the selection
    (a patch of the piece before, which the new one does not have) and opens at bar 1, or at `first_bar` (the bar
    of its first note, where the window at bar 1 holds none), or, opened from the Corpus page, at its passage.

    True when this piece replaced another by a pick or a drop (a passage opened from the Corpus page brings its
    own transposition, and is not counted)."""
    last = st.session_state.get(K.LAST_GOOD_PIECE)
    new = False
    if last is not None and last.key != piece.key:
        st.session_state[K.LEFT_PLACE] = (last.key, window_bar(), st.session_state.get(K.SELECTED))
        clear_selection()
        opened = st.session_state.pop(K.OPENED_AT, None)  # a passage opened from the Corpus page: its bar
        passage = opened is not None and opened[0] == piece.key
        move_window(opened[1] if passage else first_bar)
        if passage:  # said where it lies past the piece's last window start (url_state.bar_within)
            st.session_state[K.OPENED_BAR] = opened[1]
        new = not passage
    st.session_state[K.LAST_GOOD_PIECE] = piece
    if piece.uploaded:
        st.session_state[K.LAST_GOOD_UPLOAD] = piece
    return new


def read_afresh_next_run(values: dict) -> None:
    """Widget values (by key) for the next run to start from: a new piece's transposition and resolution, which
    this run's sidebar has drawn already (a widget's state cannot change once it is drawn)."""
    st.session_state[K.PENDING_READING] = dict(values)


def apply_pending_reading() -> None:
    """Put the values read_afresh_next_run kept into their widgets' state; called before the sidebar draws them."""
    for key, value in st.session_state.pop(K.PENDING_READING, {}).items():
        st.session_state[key] = value


def return_to(piece: Any) -> None:
    """Back on `piece` after a bad file: its window and selection as they were when it was left (the run with
    the emptied uploader, between the two files, showed the example and opened that at bar 1)."""
    left = st.session_state.pop(K.LEFT_PLACE, None)
    if left is not None and left[0] == piece.key:
        move_window(left[1])
        if left[2] is not None:
            st.session_state[K.SELECTED] = left[2]


def last_good_piece() -> Any:
    """The piece to keep showing after a bad file: the last good upload, unless an example was picked since.

    Dropping a file onto the uploader first runs the page once with no file in it, which shows the example;
    so the last good piece alone would lose the upload the user was looking at.
    """
    return st.session_state.get(K.LAST_GOOD_UPLOAD) or st.session_state.get(K.LAST_GOOD_PIECE)


def restore_tab(key: str, labels: list[str]) -> None:
    """Reopen the tab of the tabs widget `key` that was open when its page was last drawn (Streamlit forgets a
    widget's value when its page is left, and tabs have no persist_state), and remember the one open now. Set as
    the widget's value, not its `default`: a changed default is a new widget, whose tabs the browser mounts anew."""
    remembered = K.LAST_TAB_PREFIX + key
    if key not in st.session_state and st.session_state.get(remembered) in labels:
        st.session_state[key] = st.session_state[remembered]
    st.session_state[remembered] = st.session_state.get(key)


def kept_checkpoint(prefix: str) -> Any:
    """The checkpoint last dropped on the A ("") or B ("b_") uploader, until it is removed from it."""
    return st.session_state.get(K.KEPT_CHECKPOINT + prefix)


def keep_checkpoint(prefix: str, choice: Any) -> None:
    """Remember (or with None forget) the checkpoint dropped on the A ("") or B ("b_") uploader."""
    if choice is None:
        st.session_state.pop(K.KEPT_CHECKPOINT + prefix, None)
    else:
        st.session_state[K.KEPT_CHECKPOINT + prefix] = choice


def count_run() -> None:
    """A full run of the piece page begins (see emptied and emptying_holds)."""
    st.session_state[K.RUN] = st.session_state.get(K.RUN, 0) + 1


def emptied(what: str, empty: bool) -> None:
    """An uploader ("midi", or a checkpoint uploader's prefix) changed in this request; `empty`: it was emptied.

    Emptied is either the user's × or the browser's first step in dropping a file over the one it held (the new
    file comes in the next request), which only the next run tells apart: see emptying_holds."""
    if empty:
        st.session_state[K.REMOVED_IN + what] = st.session_state.get(K.RUN, 0) + 1  # the run this request starts
        if what == "":  # A's checkpoint: the model in use, if an upload
            last = last_good_checkpoint()
            st.session_state[K.SET_ASIDE] = last if _uploaded(last) else None
        elif what != "midi":  # B's: the upload compared until now
            st.session_state[K.SET_ASIDE + what] = kept_checkpoint(what)
        if what != "midi":
            keep_checkpoint(what, None)
    else:
        forget(K.REMOVED_IN + what)


def emptied_now(what: str) -> bool:
    """Was the uploader emptied by the request this run answers (a drop over its file, or the user's ×: the next
    run tells which)?"""
    return st.session_state.get(K.REMOVED_IN + what) == st.session_state.get(K.RUN, 0)


def emptying_holds(what: str) -> bool:
    """Is the uploader (empty now) still empty a run after it was emptied: the user removed the file, no drop
    replaced it? Once true, forgets that it was emptied."""
    run = st.session_state.get(K.REMOVED_IN + what)
    if run is None or st.session_state.get(K.RUN, 0) <= run:
        return False
    forget(K.REMOVED_IN + what)
    if what != "midi":
        forget(K.SET_ASIDE + what)
    return True


def decoder_emptied(empty: bool) -> None:
    """A's decoder uploader changed in this request; `empty`: emptied, by the user's × or as the browser's first step
    in dropping a file over the decoder it held. The model then in use is set aside for the file such a drop brings
    in the very next request (its uploader file id), as long as that file stays."""
    run = st.session_state.get(K.RUN, 0)  # the last run's count: this request's run is the next
    aside = st.session_state.get(K.DEC_SET_ASIDE)
    if empty:
        st.session_state[K.DEC_SET_ASIDE] = {"run": run + 1, "model": last_good_checkpoint(), "file": None}
    elif aside and aside["run"] == run and aside["file"] is None:  # the drop's second step
        upload = st.session_state.get(K.DEC_UPLOAD)
        st.session_state[K.DEC_SET_ASIDE] = {**aside, "file": getattr(upload, "file_id", None)}
    else:
        forget(K.DEC_SET_ASIDE)


def replaced_decoder() -> Any:
    """The model in use (encoder and decoder) before a decoder file was dropped over the one it used, while the
    dropped file stays in the uploader: where that file is refused, the page stays on it, not on the encoder alone
    that the uploader's empty step in between loaded."""
    aside = st.session_state.get(K.DEC_SET_ASIDE)
    upload = st.session_state.get(K.DEC_UPLOAD)
    if aside and aside["file"] is not None and getattr(upload, "file_id", None) == aside["file"]:
        return aside["model"]
    return None


def replaced_checkpoint(prefix: str = "") -> Any:
    """The uploaded model of A ("") or B ("b_") in use when a file was dropped over it, if any."""
    return st.session_state.get(K.SET_ASIDE + prefix)


def kept_upload() -> Any:
    """The last dropped file that opened, until an example is picked (see also upload_removed)."""
    return st.session_state.get(K.LAST_GOOD_UPLOAD)


def mark_upload_removed(removed: bool) -> None:
    """Note whether the MIDI uploader's last change emptied it (×) rather than dropped a file. Emptied of a bad
    file that was dropped over a shown upload, the shown upload stays: "still showing x.mid; remove the file to
    dismiss this" promised so."""
    seen = st.session_state.get(K.SEEN)
    keep = (removed and seen is not None and seen[0] is not None
            and st.session_state.get(K.REFUSED_OVER_KEPT) == seen[0] and kept_upload() is not None)
    st.session_state[K.KEEP_AFTER_REMOVAL] = keep
    st.session_state[K.UPLOAD_REMOVED] = removed and not keep


def refused_over_kept() -> None:
    """The file in the uploader (as this run drew it) could not be opened, and the upload shown before stays."""
    seen = st.session_state.get(K.SEEN)
    st.session_state[K.REFUSED_OVER_KEPT] = seen[0] if seen is not None else None


def kept_after_removal() -> bool:
    """Is the upload shown a dropped file kept after a bad file dropped over it was removed (×)?"""
    return bool(st.session_state.get(K.KEEP_AFTER_REMOVAL))


def upload_removed() -> bool:
    """Was the dropped MIDI file taken out of the uploader by the user (not emptied by leaving the page)?"""
    return bool(st.session_state.get(K.UPLOAD_REMOVED))


def remember_seen(upload_id: Optional[str], example: Optional[str]) -> None:
    """What the uploader held and the picker showed as this run drew them (see stale_pick)."""
    st.session_state[K.SEEN] = (upload_id, example)


def stale_pick(upload_id: Optional[str]) -> bool:
    """Did the uploader change in the same request as the picker? Then the picker's change is not a pick: a file
    dropped over another first empties the uploader, whose run puts the example back in the picker, and the
    browser, sending the new file straight after, sent a picker value it had not yet updated."""
    seen = st.session_state.get(K.SEEN)
    return seen is not None and seen[0] != upload_id


def leave_example() -> None:
    """Another piece takes the example's place (a drop, a passage from the Corpus page): the picker shows none, so
    that picking any example, the one shown before included, is a change that shows it."""
    seen = st.session_state.get(K.SEEN)
    example = seen[1] if seen is not None and seen[1] is not None else st.session_state.get(K.EXAMPLE)
    if example is not None:
        st.session_state[K.LAST_EXAMPLE] = example
    set_widget(K.EXAMPLE, None)


def return_to_example() -> None:
    """That piece is gone (removed from the uploader, closed): the picker shows the example it showed before, or
    the first where it never showed one (a session that began on the Corpus page), so that the page, its picker
    and its address name the piece shown."""
    if st.session_state.get(K.EXAMPLE) is None:
        from .sources import example_files

        set_widget(K.EXAMPLE, st.session_state.get(K.LAST_EXAMPLE) or next((p.name for p in example_files()), None))


def back_to_example_after_refusal(example: str, name: str, message: str) -> None:
    """A file was refused and the example it took the place of shows again: the picker must show that example
    too, but its widget is drawn already in this run; the page reruns, and the rerun says why the file (`name`)
    was refused, as its own run would have."""
    st.session_state[K.REFUSED_BACK_TO] = (example, name, message)


def restore_example_after_refusal(upload_id: Optional[str]) -> None:
    """Before the picker is drawn: the example a refusal went back to, shown as if picked over the refused file
    (`upload_id`: the uploader's, which keeps the file until it is removed); refusal_to_announce then says why."""
    pending = st.session_state.pop(K.REFUSED_BACK_TO, None)
    if pending is not None:
        set_widget(K.EXAMPLE, pending[0])
        st.session_state[K.EXAMPLE_OVER_UPLOAD] = upload_id
        st.session_state[K.REFUSAL_NOTE] = pending[1:]
        st.session_state[K.REFUSED_UPLOAD] = (upload_id, pending[1])


def refused_upload(upload_id: Optional[str]) -> Optional[str]:
    """The name of the dropped file in the uploader (`upload_id`) where the page went back to an example because it
    could not be opened; None where the example was picked over a file that opened."""
    refused = st.session_state.get(K.REFUSED_UPLOAD)
    return refused[1] if refused is not None and upload_id is not None and refused[0] == upload_id else None


def refusal_to_announce() -> Optional[tuple[str, str]]:
    """(file name, sentence) of the refusal that this run went back to an example for, once."""
    return st.session_state.pop(K.REFUSAL_NOTE, None)


def last_example() -> Optional[str]:
    """The example shown before another piece took its place, if any."""
    return st.session_state.get(K.LAST_EXAMPLE)


def forget_upload() -> None:
    """An example was picked: stop falling back to the last upload."""
    st.session_state.pop(K.LAST_GOOD_UPLOAD, None)


def piece_audio_wanted(song_key: tuple) -> bool:
    """Has the whole piece's audio been asked for (it stays rendered for that piece)?"""
    return st.session_state.get(K.PIECE_AUDIO_FOR) == song_key


def want_piece_audio(song_key: tuple) -> None:
    """Remember that the whole piece's audio was asked for."""
    st.session_state[K.PIECE_AUDIO_FOR] = song_key


# ---------------------------------------------------------------- the HTML export


def run_figures() -> dict:
    """Every chart drawn in this run, by chart name (a fragment's rerun replaces its own charts)."""
    return st.session_state.setdefault(K.RUN_FIGURES, {})


def reset_run_figures() -> None:
    """Forget the previous run's charts."""
    st.session_state[K.RUN_FIGURES] = {}


def export_html() -> Optional[bytes]:
    """The prepared HTML export, if any."""
    return st.session_state.get(K.EXPORT_HTML)


def set_export_html(data: bytes) -> None:
    """Keep the prepared HTML export for its download button."""
    st.session_state[K.EXPORT_HTML] = data


# ---------------------------------------------------------------- a passage opened from the Corpus page


def open_piece(piece: Any, bar: int, semis: int = 0) -> None:
    """Show `piece` (a sidebar.Piece) in the piece view with its window at `bar`, transposed by `semis` (a click on
    the Corpus page)."""
    st.session_state[K.OPENED_PIECE] = piece
    st.session_state[K.OPENED_AT] = (piece.key, bar)
    # opened over the file in the uploader, if any (Find similar on a dropped piece): shown until another is dropped
    st.session_state[K.OPENED_OVER_UPLOAD] = getattr(st.session_state.get(K.MIDI_UPLOAD), "file_id", None)
    leave_example()
    st.session_state[K.TRANSPOSE] = max(-12, min(12, int(semis)))
    move_window(bar)


def note_opened_from(piece_key: str, index_name: str, meta: dict) -> None:
    """The opened piece came from the index `index_name`, whose model `meta` names (its content key and file)."""
    model = {"checkpoint_key": str(meta.get("checkpoint_key") or ""),
             "checkpoint": str(meta.get("checkpoint") or "its model")}
    st.session_state[K.OPENED_FROM] = (piece_key, index_name, model)


def opened_from(piece_key: str) -> Optional[tuple[str, dict]]:
    """(index name, its model as an index meta names it) where this piece was opened from an index."""
    v = st.session_state.get(K.OPENED_FROM)
    return v[1:] if v and v[0] == piece_key else None


def opened_over(upload_id: Optional[str]) -> bool:
    """Was the opened piece opened while the uploader held this file (None: while it was empty)?"""
    return st.session_state.get(K.OPENED_OVER_UPLOAD) == upload_id


def opened_piece() -> Any:
    """The piece opened from the Corpus page, if any (the piece section shows it until another is picked)."""
    return st.session_state.get(K.OPENED_PIECE)


def close_opened_piece() -> None:
    """Stop showing the piece opened from the Corpus page."""
    if st.session_state.pop(K.OPENED_PIECE, None) is not None and (kept_upload() is None or upload_removed()):
        return_to_example()  # unless a file dropped earlier is what shows again

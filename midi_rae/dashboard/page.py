"""The piece page: `main()` lays it out; one module per panel.

The page is drawn in two halves. The first needs no torch: the sidebar, the header and the piano-roll
overview, read from the MIDI file and the checkpoint's header. The second (model_views) imports torch
and timm, loads the model and draws every view of it. A new visitor so sees the piece at once, and the
browser sets up its charting library while the server is still importing.
"""
from __future__ import annotations

import dataclasses
from typing import Optional

import streamlit as st

from midi_rae.config import ModelConfig
from midi_rae.pianoroll import MidiError, first_sounding_bar, start_bars
from midi_rae.wording import counted, semitones, stored_threshold, timing_text

from . import (activity, clicks, export, index_model, panel_roll, prefetch, selection, session, sidebar, url_state,
               warmup)
from .names import file_stem
from .sources import PEDAL_KEY, digest, example_files, load_roll, roll_key


def header(piece, roll, label: str, n_levels: int, label_b: str | None = None, semis: int = 0,
           pedal: bool = False) -> None:
    """Title line and a one-line summary of piece and model (a PNG roll has steps, not seconds or a tempo), and of
    the second model when one is compared (its views follow the reconstruction); `pedal`: the Sustain pedal is on."""
    st.markdown("### midi-rae explorer")
    timing = f"{roll.steps:,} steps (a PNG roll: no tempo)" if _is_png(piece) else timing_text(roll)
    if semis:
        timing += f" · transposed {semitones(semis)}"
    compared = f" · compared with B: {label_b} (under the masked reconstruction)" if label_b else ""
    drums = f" (and {roll.drum_notes:,} of drums, left out)" if roll.drum_notes else ""
    st.caption(f"**{piece.name}** · {counted(roll.n_notes, 'note')}{drums} · {timing} — model: {label} "
               f"({counted(n_levels, 'level')}){compared}")
    said = []
    if roll.reading_notes:  # what the reader did that the roll does not show (pianoroll._Reading)
        pedal = (f" Turn on *{sidebar.SUSTAIN_LABEL}* under Time and pitch in the sidebar to apply it."
                 if roll.pedal_presses and not roll.sustain_pedal else "")
        said.append("Read from the file: " + " ".join(roll.reading_notes) + pedal)
    if pedal and not roll.pedal_presses:  # the toggle on, and nothing on screen says what it did
        said.append(f"*{sidebar.SUSTAIN_LABEL}* is on, but this piece presses no sustain pedal: it reads the same "
                    f"either way.")
    if said:
        st.caption(" ".join(said))


def export_settings(view, spb: int, semis: int, pedal: bool = False, b_meta: Optional[dict] = None) -> str:
    """The view an exported file shows, in words: a colleague can open the same place from it (`b_meta`: the
    metadata of the model compared as B, whose own threshold binarizes its reconstruction)."""
    m = view.mask
    return (f"Window from bar {view.start_bar} · "
            + (f"transposed {semitones(semis)} · " if semis else "")
            + f"{counted(spb, 'step')} per beat · " + ("sustain pedal applied · " if pedal else "")
            + f"mask ratio {m.mask_ratio:g} of the non-empty patches, empty mask "
            f"ratio {m.empty_mask_ratio:g}, seed {m.seed} · threshold {m.threshold:g}"
            + ("" if b_meta is None else f" (A) · B binarized at {stored_threshold(b_meta)}"))


def _is_png(piece) -> bool:
    from midi_rae.png_rolls import is_png  # the loader's own test (sources.load_roll): the bytes, not the name

    return is_png(piece.data)


def _model_views():
    """The torch half of the page (imported only once the piece is on screen: torch and timm take seconds)."""
    warmup.model()  # torch and timm are imported on the warm-up's thread, never beside it
    from . import model_views

    return model_views


def _loaded(choice):
    """The chosen checkpoint's model (a failure reruns the page with its sentence in the sidebar)."""
    return _model_views().loaded(choice)


def _want_model_unless_kept(choice, piece, spb: int, semis: int) -> None:
    """While torch is still to be imported and no view kept on disk shows this piece with this checkpoint and
    reading, its import begins now, not after the piece is read and drawn (warmup.page_requested left it to this
    run, which might draw a kept view without it)."""
    if not warmup.pending("model") or warmup.wanted("model"):
        return
    from . import view_store

    if piece.uploaded or str(choice.key).startswith("upload:") or not view_store.piece_kept(
            choice.key, choice.label, (piece.key, piece.key + PEDAL_KEY), spb, semis):
        warmup.want("model")


def _drawn_from_store(choice, choice_b, ckpt_slot, piece, roll, mcfg: ModelConfig, spb: int, semis: int, view,
                      stem: str) -> bool:
    """While the server is still importing torch (its first page), draw the model's half from a view drawn before
    and kept on disk (view_store), if this very view was: nothing selected, no B, a checkpoint that was not dropped
    (this server has not loaded it yet). False where it was not drawn."""
    if choice_b is not None or clicks.current() is not None or not warmup.pending("model") or piece.uploaded or \
            str(choice.key).startswith("upload:"):
        return False
    from . import piece_views, view_store
    from .song import Song

    rk = roll_key(piece.key, roll)
    start = (view.start_bar - 1) * roll.steps_per_bar
    stored = view_store.find(choice.key, choice.label, rk, spb, semis, start, view.mask)
    if stored is None:
        return False
    if not stored.fits(mcfg):
        view_store.forget(choice.key, choice.label, rk, spb, semis, start, view.mask)
        return False
    session.accept_checkpoint(choice)  # it loaded when this view was drawn, and its file has not changed since
    warmup.hold_model()  # torch's import waits until this page has reached the browser
    warmup.want("model")  # then the analyses that run the model, and the page's next run, will want it
    ckpt_slot.caption(stored.caption)
    song = Song(roll=roll, encoding=stored.encoding, config=mcfg, key=(rk, choice.key, spb, semis))
    res = dataclasses.replace(stored.analysis, key=(rk, choice.key, spb, semis, start, view.mask))
    piece_views.draw(song, res, lambda: _loaded(choice), piece, roll, spb, semis, None, None, stem)
    prefetch.background(lambda: _load_and_encode_once_imported(choice, piece, roll, spb, semis), "shown")
    return True


def _load_and_encode_once_imported(choice, piece, roll, spb: int, semis: int) -> None:
    """After a page drawn from the view store, once the warm-up has imported torch: load the checkpoint and encode
    the piece shown, so that the page's next run (the first action on it) only analyses its window."""
    warmup.wait("model")
    if warmup.pending("model"):  # the import took longer than a warm-up may: the page's next run imports it
        return
    from . import model_views

    try:
        model_views.song_for(model_views.load(choice), piece, roll, spb, semis)
    except Exception:  # noqa: BLE001 - the page's next run loads it itself and says what went wrong
        pass


def _within_range(piece, roll, spb: int, semis: int, slot, pedal: bool = False):
    """(roll, semitones) to show: a transposition that pushes every note out of MIDI's 0..127 is not applied, and
    one that pushes some out says how many (the roll and the model's scores leave them out)."""
    if not semis or _is_png(piece):
        return roll, semis
    plain = load_roll(piece.key, piece.data, spb, 0, piece.name, pedal)
    lost = plain.n_notes - roll.n_notes
    by = f"{semis:+d} semitone{'' if abs(semis) == 1 else 's'}"
    if not roll.array.any():
        slot.error(f"Transposed by {by}, every note of {piece.name} would leave MIDI's pitch range "
                   f"(0–127), so it is shown untransposed; choose a smaller transposition.")
        return plain, 0
    if lost > 0:
        slot.warning(f"Transposed by {by}, {counted(lost, 'note')} of {plain.n_notes:,} leave MIDI's "
                     f"pitch range (0–127) and are left out of the roll and the model's scores.")
    return roll, semis


def _piece_roll(piece, spb: int, semis: int, slot, upload_note=None, width: int = 128, pedal: bool = False,
                fresh: Optional[dict] = None):
    """(piece, roll) to show: the chosen piece, or after a bad file the last good one.

    A bad file's sentence is shown as an error once, on the run it arrives; later actions keep a quiet note
    (the file stays in the uploader until removed, and is not read again). `upload_note`, the sidebar's slot
    for a dropped file, says which of the two it is. When the piece to fall back to is an example, the page
    goes back to it as if it were picked, and says why on that rerun (_back_to_example). The sentences go into
    `slot`, a container drawn on every run, so that the elements after it keep their places. A new piece opens at
    bar 1, or where its first note is when a window of `width` steps from bar 1 holds none, and untransposed at the
    model's own resolution, without the sustain pedal: `fresh` holds those widget values, and where the piece
    before left others, the page runs again from them (a transposition, resolution or pedal chosen for one piece
    misread the next).
    """
    refused = session.refusal_to_announce()
    if refused is not None:
        slot.error(f"{refused[0]} could not be opened. {refused[1]}")
    # the same bytes dropped under another name are told again, loudly; read with the pedal, a file can be too long
    key = f"{piece.key}:{spb}:{piece.name}" + (":pedal" if pedal else "")
    failed = session.piece_failure(key)
    if failed is None:
        try:
            roll = load_roll(piece.key, piece.data, spb, semis, piece.name, pedal)
            if session.accept_piece(piece, first_sounding_bar(roll, width)):
                changed = {k: v for k, v in (fresh or {}).items() if st.session_state.get(k) != v}
                if changed:
                    session.read_afresh_next_run(changed)
                    st.rerun()
            if upload_note is not None:
                upload_note.caption(sidebar.UPLOAD_SHOWN)
            if refused is not None:
                slot.caption(f"Still showing {piece.name}.")
            return piece, roll
        except MidiError as e:
            session.remember_piece_failure(key, str(e))
            _back_to_example(piece, str(e))
            slot.error(f"{piece.name} could not be opened. {e}")
    else:
        _back_to_example(piece, failed)  # a file refused before, chosen again
    fallback = session.last_good_piece()
    if upload_note is not None:
        kept = fallback is not None and fallback.key != piece.key
        if kept and fallback.uploaded:
            session.refused_over_kept()
        upload_note.caption(sidebar.UPLOAD_REFUSED_KEPT.format(name=fallback.name) if kept else sidebar.UPLOAD_REFUSED)
    if fallback is None or fallback.key == piece.key:
        if failed is not None:
            slot.error(f"{piece.name} could not be opened. {failed}")
        st.stop()
    if failed is None:  # the run the bad file arrived in
        session.return_to(fallback)
    note = f"Still showing {fallback.name}."
    if failed is not None:
        note = (f"{piece.name} could not be opened: {failed} Still showing {fallback.name}; remove the file to "
                f"dismiss this.")
    slot.caption(note)
    return fallback, load_roll(fallback.key, fallback.data, spb, semis, fallback.name, pedal)


def _back_to_example(refused, message: str) -> None:
    """After a refused file, when the piece to fall back to is an example (by content, not only by name), rerun
    with that example picked (the picker, drawn already in this run, was emptied by a drop or names the refused
    example); the rerun says why the file was refused."""
    fallback = session.last_good_piece()
    path = None if fallback is None else {p.name: p for p in example_files()}.get(fallback.name)
    if (path is None or fallback.uploaded or fallback.key == refused.key or session.opened_piece() is not None
            or (st.session_state.get(session.K.EXAMPLE) == fallback.name and not refused.uploaded)
            or digest(path.read_bytes()) != fallback.key):
        return
    session.return_to(fallback)
    session.back_to_example_after_refusal(fallback.name, refused.name, message)
    st.rerun()


def _warm_plotly(slot) -> None:
    """On a session's first run, an empty chart in `slot`, which makes the browser load plotly.js; the page's
    next run leaves the slot empty.

    The piano rolls are not plotly charts and the piece page draws none of Streamlit's own (each costs the
    browser 30–60 ms per run), but the live charts (live_chart) draw with the plotly.js that Streamlit's chart
    loads. Sent before the model, it is loaded by the time the model's charts arrive (else 4–5 s more on this
    project's machine). It stays until the next run: emptied at the end of the first, a fast first run (a new
    session on a warm server) could replace it before the browser had mounted it, and plotly.js never loaded.
    The slot itself is made on every run: had it been made on the first run only, every element after it would
    have moved one place on the second, and the browser would have mounted them all anew."""
    if st.session_state.get("_plotly_warm"):
        return
    st.session_state["_plotly_warm"] = True
    import plotly.graph_objects as go

    blank = dict(height=10, margin=dict(l=0, r=0, t=0, b=0), xaxis=dict(visible=False), yaxis=dict(visible=False),
                 paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")  # nothing drawn: no stray rules
    slot.plotly_chart(go.Figure(layout=blank), height=10,
                      config={"displayModeBar": False, "staticPlot": True})


def _unless(value: float, own: float) -> Optional[float]:
    """`value` where it is not the checkpoint's `own` (which an address leaves out), else None."""
    return None if abs(value - own) < 1e-9 else value


def _record_place(piece, start_bar: int, semis: int, spb: Optional[int], pedal: bool = False,
                  mask: float = url_state.DEFAULT_MASK, seed: int = 0, threshold: Optional[float] = None,
                  empty: Optional[float] = None) -> None:
    """The shown shipped model, example or shipped-corpus piece, window and transposition into the URL (for a
    dropped file its name and the shipped model, which a reload names and keeps), with the shipped model
    compared as B, the mask ratio and the mask seed."""
    if session.emptied_now("midi"):
        # most often the browser's first step in dropping a file over another: the example this run shows for a
        # moment became an entry of the browser's history, and Back went there; a × is recorded by the next run
        return
    source = st.session_state.get(session.K.CKPT_SOURCE, "Shipped default")
    b_source = st.session_state.get(session.K.B_SOURCE)
    opened = session.opened_piece()
    example = (piece.name if not piece.uploaded and opened is None
               and piece.name == st.session_state.get(session.K.EXAMPLE) else None)
    passage = piece.address if opened is not None and opened.key == piece.key else None
    dropped = piece.name if piece.uploaded and passage is None else None
    shipped = sidebar.shipped_sources()
    first = next(iter(example_files()), None)
    url_state.record(source if source in shipped else None, example, start_bar, semis, passage, dropped, spb, pedal,
                     b_source if b_source in shipped else None, mask, seed, first.name if first is not None else None,
                     threshold, empty)


def main() -> None:
    """Sidebar first (each section returns its parameters), then the panels top to bottom."""
    session.count_run()
    url_state.restore(sidebar.shipped_sources(), [p.name for p in example_files()])
    session.apply_pending_reading()  # a new piece's transposition and resolution, before the sidebar draws them
    # what the URL could not open, and a refused file's sentence: a slot drawn on every run (see the notes below)
    messages = st.container()
    choice, ckpt_slot = sidebar.checkpoint_section()
    piece, upload_note = sidebar.piece_section()
    if piece is None:
        st.info("Drop a MIDI file in the sidebar to begin.")
        return
    config, meta = choice.config, choice.meta
    if not config:  # an original-format file keeps its settings inside its pickle: load it to read them
        model = _loaded(choice)
        config, meta = model.bundle.config, model.bundle.meta
    mcfg = ModelConfig.from_dict(config)
    spb, semis, pedal = sidebar.time_section(config, png=_is_png(piece))
    clicks.drop_unfit(mcfg, spb)  # before any click of the last run is applied to a selection this model cannot have
    _want_model_unless_kept(choice, piece, spb, semis)
    fresh = {session.spb_key(config.get("steps_per_beat")): sidebar.own_resolution(config), session.K.TRANSPOSE: 0,
             session.K.SUSTAIN: False}
    piece, roll = _piece_roll(piece, spb, semis, messages, upload_note, mcfg.window_steps, pedal, fresh)
    roll, semis = _within_range(piece, roll, spb, semis, messages, pedal)

    bars = roll.steps_per_bar
    n_start_bars = start_bars(roll.steps, bars, mcfg.window_steps)  # a start after the last shows bars of silence
    url_state.bar_within(n_start_bars)
    if url_state.ignored() is not None:
        messages.info(url_state.ignored())
    # clicks from the previous run move the window or select a patch before the widgets are drawn
    clicks.apply_overview_click(n_start_bars)
    clicks.apply_window_click((session.window_bar() - 1) * bars, mcfg.num_levels)
    if clicks.song_clicks_waiting() or selection.neighbour_click_waiting():
        song = _model_views().song_for(_loaded(choice), piece, roll, spb, semis)
        clicks.apply_song_clicks(song.starts, roll, n_start_bars)
        selection.apply_neighbour_click(song, bars, n_start_bars)
    view = sidebar.view_section(n_start_bars, config, meta, bars, roll.steps_only)
    clicks.follow_window((view.start_bar - 1) * bars, mcfg)
    _record_place(piece, view.start_bar, semis, spb if spb != sidebar.own_resolution(config) else None, pedal,
                  view.mask.mask_ratio, view.mask.seed, _unless(view.mask.threshold, sidebar.own_threshold(meta)),
                  _unless(view.mask.empty_mask_ratio, sidebar.own_empty_ratio(config)))
    choice_b = sidebar.compare_section()

    b_is_a = choice_b is not None and sidebar.same_model(choice, choice_b)  # then one sentence at the end
    compared = choice_b is not None and not b_is_a
    header(piece, roll, choice.label, mcfg.num_levels, choice_b.label if compared else None, semis, pedal)
    # A note that only some pieces get goes into a container drawn on every run: an element added or removed at the
    # top level moves every element after it, and the browser then mounts them all anew (every chart redrawn from
    # scratch: 0.25 s more of a switch between a piece with a grid warning and one without, measured).
    notes = st.container()
    if _is_png(piece):
        from midi_rae.png_rolls import PNG_NOTE

        notes.info(f"{PNG_NOTE.rstrip('.')}, and the window moves in blocks of {roll.steps_per_bar} steps.")
    if roll.grid_note:
        notes.warning(f"{roll.grid_note} Change the time resolution in the sidebar to see them where they are.")
    opened = session.opened_from(piece.key)
    other_model = index_model.shown_with_another(*opened, choice) if opened is not None else None
    if other_model:
        notes.info(other_model)
    trained = config.get("steps_per_beat")
    if trained and int(trained) != spb and not _is_png(piece):
        notes.info(f"{choice.label} was trained at {int(trained)} steps per beat and is shown this piece at {spb}: its "
                "notes are drawn longer or shorter than it learned them, so its scores here understate it.")
    export.start_run()
    st.subheader("Piano roll")
    overview, window = st.empty(), st.empty()
    if clicks.current() is None:  # nothing selected, so nothing to outline or mark: draw the piece now
        start, width = (view.start_bar - 1) * bars, mcfg.window_steps
        click_grid = mcfg.level_grids[clicks.select_level(mcfg.num_levels)]
        rkey = (roll_key(piece.key, roll), spb, semis)
        panel_roll.render_overview(overview, rkey, roll, start, width, [])
        panel_roll.render_window(window, rkey, roll, start, width, [], click_grid)
        overview = window = None
    _warm_plotly(st.empty())
    own_spb = spb == sidebar.own_resolution(config)
    stem = file_stem(piece.name, semis, None if own_spb else spb, choice.label, roll.sustain_pedal)
    views = None
    if not _drawn_from_store(choice, choice_b, ckpt_slot, piece, roll, mcfg, spb, semis, view, stem):
        views = _model_views()
        views.render(_loaded(choice), ckpt_slot, choice, choice_b, piece, roll, spb, semis, view, overview, window,
                     stem, b_is_a=b_is_a)
    compared = choice_b is not None and not b_is_a
    export.render(f"{piece.name} — {choice.label}" + (f" (A) and {choice_b.label} (B)" if compared else ""), stem,
                  export_settings(view, spb, semis, roll.sustain_pedal, choice_b.meta if compared else None))
    url_state.ignored_shown()  # a run that ended here showed it (a rerun on the way had not)
    activity.note()
    if views is not None:
        views.warm_corpus_store()

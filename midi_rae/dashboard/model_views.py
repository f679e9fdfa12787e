"""The model's half of the page, computed: loading a checkpoint, encoding the piece and analysing the window need
torch; piece_views draws the result. page.py imports this module only after the piece is on screen, because
importing torch and timm takes seconds (or not at all on a page it draws from the view store)."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import streamlit as st
import torch

from midi_rae import threads
from midi_rae.checkpoint import CheckpointError, ModelBundle
from midi_rae.inference import stored_threshold

from . import activity, panel_compare, piece_views, prefetch, session, sidebar, view_store
from .loaders import Song, analyse, encode_song, load_choice
from .sources import roll_key
from .session import K


@dataclass
class Model:
    """A loaded checkpoint and how the page names it."""

    key: str
    label: str
    bundle: ModelBundle


@functools.cache  # once per process
def _freeze_long_lived_objects() -> None:
    """Move every object alive now (torch, timm, plotly, pandas: millions) out of the collector's reach.

    A full collection walks them all, about 0.25 s on the project's 2-core machine; with them frozen the
    collections that Python still runs between interactions only visit what the page made since. No
    collection first: it found nothing to free (0 objects) and cost the first render 0.38 s on a slow machine;
    whatever garbage is frozen with them is freed never, once.
    """
    import gc

    gc.freeze()


STORE_IDLE_S = 4.0  # seconds without a page run before the corpus store is imported


@functools.cache  # once per process
def warm_corpus_store() -> None:
    """Once no page has run for STORE_IDLE_S seconds, import the corpus store (lancedb) in the background.

    It takes ~1.2 s; the Corpus page and the first "Find similar" would otherwise wait for it. On a timer
    (3 s after the first page) it landed on a new visitor's first interactions: the first mask step took
    2.9 s instead of 0.5 s. An action during the import pauses it between modules (activity.stepping_aside).
    """
    import threading

    from midi_rae.index import import_store

    def when_quiet() -> None:
        activity.wait_until_idle(STORE_IDLE_S)
        activity.stepping_aside(import_store)

    activity.note()
    threading.Thread(target=when_quiet, name="midi-rae-store-import", daemon=True).start()


def load(choice: sidebar.ModelChoice) -> Model:
    """The chosen checkpoint, loaded (once per server process); raises CheckpointError."""
    threads.follow()  # decided again before each run's model work: other processes' load comes and goes
    model = Model(choice.key, choice.label, load_choice(choice))
    _freeze_long_lived_objects()
    return model


def loaded(choice: sidebar.ModelChoice, primary: bool = True) -> Model:
    """The chosen checkpoint's model; one that fails to load is remembered with its sentence and the page
    reruns, so the sidebar says why (and stays on the last model that loaded)."""
    try:
        model = load(choice)
        if primary:
            session.accept_checkpoint(choice)
        return model
    except CheckpointError as e:
        if choice.key == "default":
            raise
        session.remember_checkpoint_failure(choice.key, str(e))
        st.rerun()


def song_for(model: Model, piece, roll, spb: int, semis: int) -> Song:
    """Every window of the piece through the model's encoder (cached), with this session's roll: the cache is keyed
    by the file's content, so the same bytes dropped under another name (by anyone) share the encoding, not the
    name."""
    with torch.no_grad():
        song = encode_song(roll_key(piece.key, roll), model.key, spb, semis, roll, model.bundle)
    return song if song.roll is roll else dataclasses.replace(song, roll=roll)


def render(model: Model, ckpt_slot, choice, choice_b, piece, roll, spb: int, semis: int, view, overview_slot,
           window_slot, stem: str = "piece", b_is_a: bool = False) -> None:
    """Encode the piece, analyse the window and draw every view of it (piece_views.draw); `b_is_a`: B is the
    checkpoint A is (`sidebar.same_model`). What was drawn is kept on disk for a later server's first page."""
    with torch.no_grad():  # inference only; a context, so the setting never leaks out of the script run
        caption = sidebar.describe(choice, model.bundle)
        ckpt_slot.caption(caption)
        song = song_for(model, piece, roll, spb, semis)
        start = (view.start_bar - 1) * roll.steps_per_bar
        rk = roll_key(piece.key, roll)
        res = analyse(rk, model.key, spb, semis, start, view.mask, roll, model.bundle)

        def compare(pitch_range: tuple) -> None:
            if b_is_a:
                panel_compare.same_checkpoint(model)
                return
            model_b = loaded(choice_b, primary=False)
            song_b = song_for(model_b, piece, roll, spb, semis)
            # B binarized at its own validated threshold: A's would score B at a threshold B was not chosen for
            mask_b = dataclasses.replace(view.mask, threshold=stored_threshold(model_b.bundle))
            res_b = analyse(rk, model_b.key, spb, semis, start, mask_b, roll, model_b.bundle)
            panel_compare.render(model, model_b, res, res_b, song, song_b, pitch_range, spb)

        def need_b():  # for the F1 along the piece tab: B scored as the A/B section scores it
            model_b = loaded(choice_b, primary=False)
            same = model_b.bundle.model_config.window_steps == model.bundle.model_config.window_steps
            if model_b.bundle.decoder is None:
                return "B has no decoder, so it has no curve here"
            if not same:
                return "B reads windows of another length, so its curve is not drawn beside A's"
            return model_b, dataclasses.replace(view.mask, threshold=stored_threshold(model_b.bundle))

        piece_views.draw(song, res, lambda: model, piece, roll, spb, semis, overview_slot, window_slot, stem,
                         compare if choice_b is not None else None,
                         need_b if choice_b is not None and not b_is_a else None)
    if not piece.uploaded and not str(choice.key).startswith("upload:"):  # a first page cannot show either
        view_store.keep(caption, choice.label, song, res)
    # the other examples, read and encoded while the page is idle, as the page reads them
    prefetch.request(model, spb, semis, bool(st.session_state.get(K.SUSTAIN)))

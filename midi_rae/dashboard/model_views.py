"""The model's half of the page: everything that needs torch. page.py imports this module only after the
piece is on screen, because importing torch and timm takes seconds."""
from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

import streamlit as st
import torch

from midi_rae import threads
from midi_rae.checkpoint import CheckpointError, ModelBundle
from midi_rae.inference import stored_threshold

from . import (activity, session, clicks, panel_compare, panel_embed, panel_listen, panel_masks, panel_probe,
               panel_recon, panel_roll, panel_structure, prefetch, selection, sidebar)
from .loaders import Song, analyse, encode_song, load_choice
from .sources import roll_key
from .session import K

ANALYSES = ["Spectrum of every level", "Song structure", "Shift and transpose probe", "Level ablation",
            "Phrase probe", "Find similar in the corpus"]


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


def _follow_song_clicks() -> None:
    """A click in the PCA or the similarity matrix moves the window and selects a patch: the whole page reruns
    (called first in the fragments that hold those charts, whose own reruns would otherwise swallow it)."""
    activity.note()
    if clicks.hold_song_clicks():
        st.rerun(scope="app")


@st.fragment
@activity.fragment_body
@torch.no_grad()  # a fragment's own reruns happen outside render()'s no_grad context
def embeddings(song, res, sel, neighbours, stem: str = "piece") -> None:
    """The embeddings panel as a fragment: its level, colour and view controls rerun this section alone."""
    _follow_song_clicks()
    panel_embed.render(song, res, sel, neighbours, stem)


@st.fragment
@activity.fragment_body
@torch.no_grad()
def analyses(song, res, model: Model, sel=None) -> None:
    """The deeper analyses as tabs; only the open one is computed and drawn (each costs charts and seconds).

    A fragment: opening a tab or moving a tab's own controls reruns this section alone.
    """
    _follow_song_clicks()
    st.subheader("Analyses")
    session.restore_tab(K.ANALYSIS_TAB, ANALYSES)
    tabs = st.tabs(ANALYSES, key=K.ANALYSIS_TAB, on_change="rerun")
    with tabs[0]:
        if tabs[0].open:
            panel_embed.render_spectrum(song)
    with tabs[1]:
        if tabs[1].open:
            panel_structure.render(song)
    with tabs[2]:
        if tabs[2].open:
            panel_probe.render(song, res, model)
    with tabs[3]:
        if tabs[3].open:
            from . import panel_ablation

            panel_ablation.render(song, res, model)
    with tabs[4]:
        if tabs[4].open:
            from . import panel_phrases

            panel_phrases.render(song, model)
    with tabs[5]:
        if tabs[5].open:  # the current window, or the selected patch at its level, against the corpus index
            from .corpus_similar import render_find_similar

            render_find_similar(song, res, sel, model)


def render(model: Model, ckpt_slot, choice, choice_b, piece, roll, spb: int, semis: int, view, overview_slot,
           window_slot, stem: str = "piece", b_is_a: bool = False) -> None:
    """Encode the piece and draw every view of it (`b_is_a`: B is the checkpoint A is, `sidebar.same_model`).

    The overview and window slots are None when page.py has drawn them already (nothing selected);
    otherwise they are drawn here, with the selection's neighbours and outlines.
    """
    with torch.no_grad():  # inference only; a context, so the setting never leaks out of the script run
        ckpt_slot.caption(sidebar.describe(choice, model.bundle))
        song = song_for(model, piece, roll, spb, semis)
        cfg = song.config
        start = (view.start_bar - 1) * roll.steps_per_bar
        rk = roll_key(piece.key, roll)
        res = analyse(rk, model.key, spb, semis, start, view.mask, roll, model.bundle)
        sel = selection.current()
        rects, fam = selection.highlights(sel, res.start, cfg)
        neighbours = selection.neighbours(song, sel) if sel is not None else None
        if overview_slot is not None:
            rkey = (rk, spb, semis)
            marks = [(int(r["_start"]), int(r["_size"])) for _, r in neighbours.iterrows()] \
                if neighbours is not None else []
            click_grid = cfg.level_grids[clicks.select_level(cfg.num_levels)]
            panel_roll.render_overview(overview_slot, rkey, roll, res.start, res.image.shape[1], marks)
            panel_roll.render_window(window_slot, rkey, roll, res.start, res.image.shape[1], rects, click_grid)
        # Sections are laid out in reading order but filled most-expensive-to-draw first: the PCA plots
        # (a WebGL scene) then reach the browser while the server still builds the rest.
        # A/B right under A's own reconstruction, which it compares; drawn with or without B (an empty slot), so
        # that turning B on or off leaves every section after it in place
        sel_box, masks_box, recon_box, compare_box, listen_box, embed_box = (st.container() for _ in range(6))
        with embed_box:
            embeddings(song, res, sel, neighbours, stem)
        with sel_box:
            selection.render(song, res, neighbours)
        with masks_box:
            panel_masks.render(song, res, fam)
        pitch_range = panel_roll.pitch_view(roll)
        with recon_box:
            panel_recon.render(res, pitch_range, roll.steps_per_bar, movable=len(song.starts) > 1)
        with listen_box:
            panel_listen.render(song, res, spb, semis)
        analyses(song, res, model, sel)
        with compare_box:
            if choice_b is not None and b_is_a:
                panel_compare.same_checkpoint(model)
            elif choice_b is not None:
                model_b = loaded(choice_b, primary=False)
                song_b = song_for(model_b, piece, roll, spb, semis)
                # B binarized at its own validated threshold: A's would score B at a threshold B was not chosen for
                mask_b = dataclasses.replace(view.mask, threshold=stored_threshold(model_b.bundle))
                res_b = analyse(rk, model_b.key, spb, semis, start, mask_b, roll, model_b.bundle)
                panel_compare.render(model, model_b, res, res_b, song, song_b, pitch_range, spb)
    # the other examples, read and encoded while the page is idle, as the page reads them
    prefetch.request(model, spb, semis, bool(st.session_state.get(K.SUSTAIN)))

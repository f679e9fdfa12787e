"""The model's half of the piece page, drawn from a piece's encoding and a window's analysis: no torch here.

model_views computes those two with the checkpoint and calls `draw`; page.py calls it too with a view kept on disk
(view_store) while the server is still importing torch, so that a server's first page need not wait for it. The
analyses that run the model themselves (probe, ablation, phrases, find similar) ask for it when their tab opens.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Optional

import streamlit as st

from . import activity, clicks, panel_embed, panel_listen, panel_masks, panel_recon, panel_roll, selection, session
from .sources import roll_key
from .session import K

ANALYSES = ["Spectrum of every level", "Song structure", "F1 along the piece", "Shift and transpose probe",
            "Level ablation", "Phrase probe", "Find similar in the corpus"]


def _follow_song_clicks() -> None:
    """A click in the PCA or the similarity matrix moves the window and selects a patch: the whole page reruns
    (called first in the fragments that hold those charts, whose own reruns would otherwise swallow it)."""
    activity.note()
    if clicks.hold_song_clicks():
        st.rerun(scope="app")


@contextmanager
def _inference(need_model: Callable) -> Iterator:
    """The loaded model, with autograd off: a fragment's own reruns happen outside any run's no_grad context, and
    torch is imported only once the model is (on a first page drawn from disk, the warm-up may still be at it)."""
    model = need_model()
    import torch

    with torch.no_grad():
        yield model


@st.fragment
@activity.fragment_body
def embeddings(song, res, sel, neighbours, stem: str = "piece") -> None:
    """The embeddings panel as a fragment: its level, colour and view controls rerun this section alone."""
    _follow_song_clicks()
    panel_embed.render(song, res, sel, neighbours, stem)


@st.fragment
@activity.fragment_body
def analyses(song, res, need_model: Callable, sel=None, need_b: Optional[Callable] = None) -> None:
    """The deeper analyses as tabs; only the open one is computed and drawn (each costs charts and seconds).

    A fragment: opening a tab or moving a tab's own controls reruns this section alone. `need_model()` returns the
    loaded model (model_views.Model) for the tabs that run it; `need_b()`, where B is compared, (model B, the mask
    settings B is scored with), or the reason B is not scored.
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
            from . import panel_structure

            panel_structure.render(song)
    with tabs[2]:
        if tabs[2].open:
            with _inference(need_model) as model:
                from . import panel_along

                panel_along.render(song, res, model, need_b)
    with tabs[3]:
        if tabs[3].open:
            with _inference(need_model) as model:
                from . import panel_probe

                panel_probe.render(song, res, model)
    with tabs[4]:
        if tabs[4].open:
            with _inference(need_model) as model:
                from . import panel_ablation

                panel_ablation.render(song, res, model)
    with tabs[5]:
        if tabs[5].open:
            with _inference(need_model) as model:
                from . import panel_phrases

                panel_phrases.render(song, model)
    with tabs[6]:
        if tabs[6].open:  # the current window, or the selected patch at its level, against the corpus index
            with _inference(need_model) as model:
                from .corpus_similar import render_find_similar

                render_find_similar(song, res, sel, model)

def draw(song, res, need_model: Callable, piece, roll, spb: int, semis: int, overview_slot, window_slot,
         stem: str = "piece", compare: Optional[Callable[[tuple], None]] = None,
         need_b: Optional[Callable] = None) -> None:
    """Every view of the model's half: the selection, level masks, reconstruction, A/B, Listen, embeddings and
    the analyses, for the window analysed in `res` of the piece encoded in `song`.

    The overview and window slots are None when page.py has drawn them already (nothing selected); otherwise they
    are drawn here, with the selection's neighbours and outlines. `compare(pitch_range)` draws the A/B section in
    its place (left empty without it, so that turning B on or off leaves every section after it in place).
    """
    cfg = song.config
    rk = roll_key(piece.key, roll)
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
    # A/B right under A's own reconstruction, which it compares.
    sel_box, masks_box, recon_box, compare_box, listen_box, embed_box = (st.container() for _ in range(6))
    with embed_box:
        embeddings(song, res, sel, neighbours, stem)
    with sel_box:
        selection.render(song, res, neighbours)
    with masks_box:
        panel_masks.render(song, res, fam)
    pitch_range = panel_roll.pitch_view(roll)
    with recon_box:
        panel_recon.render(res, pitch_range, roll.steps_per_bar, movable=len(song.starts) > 1,
                           steps_only=roll.steps_only)
    with listen_box:
        panel_listen.render(song, res, spb, semis, stem)
    analyses(song, res, need_model, sel, need_b)
    if compare is not None:
        with compare_box:
            compare(pitch_range)

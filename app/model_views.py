"""The model's half of the page: everything that needs torch. main.py imports this module only after the
piece is on screen, because importing torch and timm takes seconds."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
import torch

import clicks
import panel_compare
import panel_embed
import panel_listen
import panel_masks
import panel_probe
import panel_recon
import panel_roll
import panel_structure
import selection
import sidebar
from midi_rae.checkpoint import ModelBundle
from models import Song, encode_song, load_choice
from window import compute_window

# one intra-op thread per process: on a busy or shared server, OpenMP threads that outnumber free cores
# spin against each other and a 50 ms window inference became 700 ms in measurements here
torch.set_num_threads(1)

ANALYSES = ["Spectrum of every level", "Song structure", "Shift and transpose probe"]


@dataclass
class Model:
    """A loaded checkpoint and how the page names it."""

    key: str
    label: str
    bundle: ModelBundle


def load(choice: sidebar.ModelChoice) -> Model:
    """The chosen checkpoint, loaded (once per server process)."""
    return Model(choice.key, choice.label, load_choice(choice))


def song_for(model: Model, piece, roll, spb: int, semis: int) -> Song:
    """Every window of the piece through the model's encoder (cached)."""
    return encode_song(piece.key, model.key, spb, semis, roll, model.bundle)


def apply_song_clicks(choice: sidebar.ModelChoice, piece, roll, spb: int, semis: int) -> None:
    """Act on a click in the PCA or the similarity matrix, which needs the piece's embeddings."""
    with torch.no_grad():
        song = song_for(load(choice), piece, roll, spb, semis)
    selection.apply_clicks(song, roll.steps_per_bar, st.session_state.get("_pca_index"))


def analyses(song, res, model: Model) -> None:
    """The deeper analyses as tabs; only the open one is computed and drawn (each costs charts and seconds)."""
    st.subheader("Analyses")
    tabs = st.tabs(ANALYSES, key="analysis_tab", on_change="rerun")
    with tabs[0]:
        if tabs[0].open:
            panel_embed.render_spectrum(song)
    with tabs[1]:
        if tabs[1].open:
            panel_structure.render(song)
    with tabs[2]:
        if tabs[2].open:
            panel_probe.render(song, res, model)


def render(choice, ckpt_slot, choice_b, piece, roll, spb: int, semis: int, view, overview_slot,
           window_slot) -> Model:
    """Load the model, encode the piece and draw every view of it; returns the model.

    The overview and window slots are None when main.py has drawn them already (nothing selected);
    otherwise they are drawn here, with the selection's neighbours and outlines.
    """
    with torch.no_grad():  # inference only; a context, so the setting never leaks out of the script run
        model = load(choice)
        ckpt_slot.caption(sidebar.describe(choice, model.bundle))
        song = song_for(model, piece, roll, spb, semis)
        grids = song.grids
        start = (view.start_bar - 1) * roll.steps_per_bar
        res = compute_window(piece.key, model.key, spb, semis, start, view.mask_ratio, view.empty_mask_ratio,
                             view.seed, view.threshold, roll, model.bundle)
        sel = selection.current()
        rects, fam = selection.highlights(sel, res.start, grids)
        neighbours = selection.neighbours(song, sel) if sel is not None else None
        if overview_slot is not None:
            roll_key = (piece.key, spb, semis)
            marks = [(int(r["_start"]), int(r["_size"])) for _, r in neighbours.iterrows()] \
                if neighbours is not None else []
            click_grid = grids[clicks.select_level(len(grids))]
            panel_roll.render_overview(overview_slot, roll_key, roll, res.start, res.image.shape[1], marks)
            panel_roll.render_window(window_slot, roll_key, roll, res.start, res.image.shape[1], rects, click_grid)
        # Sections are laid out in reading order but filled most-expensive-to-draw first: the PCA plots
        # (a WebGL scene) then reach the browser while the server still builds the rest.
        sel_box, masks_box, recon_box, listen_box, embed_box = (st.container() for _ in range(5))
        with embed_box:
            panel_embed.render(song, res, (piece.key, model.key, spb, semis), sel)
        with sel_box:
            selection.render(song, res, grids, neighbours)
        patch_px = (model.bundle.encoder.patch_h, model.bundle.encoder.patch_w)
        with masks_box:
            panel_masks.render(song, res, patch_px, fam)
        pitch_range = panel_roll.pitch_view(roll)
        with recon_box:
            panel_recon.render(res, model.bundle, view.threshold, view.mask_ratio, pitch_range)
        with listen_box:
            panel_listen.render(song, res, spb, view.threshold)
        analyses(song, res, model)
        if choice_b is not None:
            model_b = load(choice_b)
            song_b = song_for(model_b, piece, roll, spb, semis)
            res_b = compute_window(piece.key, model_b.key, spb, semis, start, view.mask_ratio, view.empty_mask_ratio,
                                   view.seed, view.threshold, roll, model_b.bundle)
            panel_compare.render(model, model_b, res, res_b, song, song_b, view.threshold, pitch_range)
    return model

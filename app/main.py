"""midi-rae explorer: `streamlit run app/main.py` lays out the page; one module per panel."""
from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent
for p in (APP, APP.parent):  # `streamlit run app/main.py` puts only app/ on the path
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="midi-rae explorer", page_icon="🎹", layout="wide")

import torch  # noqa: E402

import export  # noqa: E402
import panel_compare  # noqa: E402
import panel_embed  # noqa: E402
import panel_listen  # noqa: E402
import panel_masks  # noqa: E402
import panel_probe  # noqa: E402
import panel_recon  # noqa: E402
import panel_roll  # noqa: E402
import panel_structure  # noqa: E402
import selection  # noqa: E402
import sidebar  # noqa: E402
from midi_rae.pianoroll import MidiError  # noqa: E402
from state import encode_song, load_roll  # noqa: E402
from window import compute_window  # noqa: E402

# one intra-op thread per process: on a busy or shared server, OpenMP threads that outnumber free cores
# spin against each other and a 50 ms window inference became 700 ms in measurements here
torch.set_num_threads(1)


def header(piece, roll, model) -> None:
    """Title line and a one-line summary of piece and model."""
    st.markdown("### midi-rae explorer")
    st.caption(f"**{piece.name}** · {roll.n_notes:,} notes · {roll.bars:.1f} bars of "
               f"{roll.time_signature[0]}/{roll.time_signature[1]} · {roll.duration_s:.0f} s · "
               f"{roll.tempo_bpm:.0f} BPM · {roll.steps_per_beat} steps per beat — model: {model.label} "
               f"({model.bundle.num_levels} levels)")


ANALYSES = ["Spectrum of every level", "Song structure", "Shift and transpose probe"]


def analyses(song, res, model) -> None:
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


def main() -> None:
    """Sidebar first (each section returns its parameters), then the panels top to bottom."""
    model = sidebar.checkpoint_section()
    piece = sidebar.piece_section()
    if piece is None:
        st.info("Drop a MIDI file in the sidebar to begin.")
        return
    spb, semis = sidebar.time_section(model.bundle)
    try:
        roll = load_roll(piece.key, piece.data, spb, semis, piece.name)
        sidebar.accept_piece(piece)
    except MidiError as e:
        st.error(f"{piece.name} could not be opened. {e}")
        fallback = sidebar.last_good_piece()
        if fallback is None or fallback.key == piece.key:
            st.stop()
        st.caption(f"Still showing {fallback.name}.")
        piece = fallback
        roll = load_roll(piece.key, piece.data, spb, semis, piece.name)

    bars = roll.steps_per_bar
    n_start_bars = max(1, -(-roll.steps // max(bars, 1)))
    song = encode_song(piece.key, model.key, spb, semis, roll, model.bundle)
    grids = [int(round(e.shape[1] ** 0.5)) for e in song.level_emb]
    # clicks from the previous run move the window or select a patch before the widgets are drawn
    panel_roll.apply_overview_click(n_start_bars)
    selection.apply_clicks(song, (st.session_state.get("window_bar", 1) - 1) * bars, bars, grids,
                           st.session_state.get("_pca_index"))
    view = sidebar.view_section(n_start_bars, model.bundle)
    model_b = sidebar.compare_section()
    start = (view.start_bar - 1) * bars
    res = compute_window(piece.key, model.key, spb, semis, start, view.mask_ratio, view.empty_mask_ratio,
                         view.seed, view.threshold, roll, model.bundle)
    sel = selection.current()
    rects, fam = selection.highlights(sel, res.start, grids)

    header(piece, roll, model)
    export.start_run()
    neighbours = selection.neighbours(song, sel) if sel is not None else None
    marks = [(int(r["_start"]), int(r["_size"])) for _, r in neighbours.iterrows()] if neighbours is not None else []
    click_grid = grids[int(st.session_state.get("select_level", min(3, len(grids) - 1)))]
    panel_roll.render(song, res, spb, roll.beats_per_bar, rects, marks, click_grid)
    selection.render(song, res, grids, neighbours)
    patch_px = (model.bundle.encoder.patch_h, model.bundle.encoder.patch_w)
    panel_masks.render(song, res, patch_px, fam)
    panel_recon.render(res, model.bundle, view.threshold, view.mask_ratio, panel_roll.pitch_view(roll))
    panel_listen.render(song, res, spb, view.threshold)
    panel_embed.render(song, res, (piece.key, model.key, spb, semis), sel)
    analyses(song, res, model)
    if model_b is not None:
        song_b = encode_song(piece.key, model_b.key, spb, semis, roll, model_b.bundle)
        res_b = compute_window(piece.key, model_b.key, spb, semis, start, view.mask_ratio, view.empty_mask_ratio,
                               view.seed, view.threshold, roll, model_b.bundle)
        panel_compare.render(model, model_b, res, res_b, song, song_b, view.threshold, panel_roll.pitch_view(roll))
    export.render(f"{piece.name} — {model.label}")

with torch.no_grad():  # inference only; a context, so the setting never leaks out of the script run
    main()

"""midi-rae explorer: `streamlit run app/main.py` lays out the page; one module per panel.

The page is drawn in two halves. The first needs no torch: the sidebar, the header and the piano-roll
overview, read from the MIDI file and the checkpoint's header. The second (model_views) imports torch
and timm, loads the model and draws every view of it. A new visitor so sees the piece at once, and the
browser sets up its charting library while the server is still importing.
"""
from __future__ import annotations

import sys
from pathlib import Path

APP = Path(__file__).resolve().parent
for p in (APP, APP.parent):  # `streamlit run app/main.py` puts only app/ on the path
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

import streamlit as st  # noqa: E402

st.set_page_config(page_title="midi-rae explorer", page_icon="🎹", layout="wide")

import clicks  # noqa: E402
import export  # noqa: E402
import panel_roll  # noqa: E402
import sidebar  # noqa: E402
from midi_rae.pianoroll import MidiError  # noqa: E402
from state import level_grids, load_roll  # noqa: E402


def header(piece, roll, label: str, n_levels: int) -> None:
    """Title line and a one-line summary of piece and model."""
    st.markdown("### midi-rae explorer")
    st.caption(f"**{piece.name}** · {roll.n_notes:,} notes · {roll.bars:.1f} bars of "
               f"{roll.time_signature[0]}/{roll.time_signature[1]} · {roll.duration_s:.0f} s · "
               f"{roll.tempo_bpm:.0f} BPM · {roll.steps_per_beat} steps per beat — model: {label} "
               f"({n_levels} levels)")


def main() -> None:
    """Sidebar first (each section returns its parameters), then the panels top to bottom."""
    choice, ckpt_slot = sidebar.checkpoint_section()
    piece = sidebar.piece_section()
    if piece is None:
        st.info("Drop a MIDI file in the sidebar to begin.")
        return
    config, meta = choice.config, choice.meta
    if not config:  # an original-format file keeps its settings inside its pickle: load it to read them
        import model_views

        bundle = model_views.load(choice).bundle
        config, meta = bundle.config, bundle.meta
    spb, semis = sidebar.time_section(config)
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
    n_levels = len(config["depths"])
    # clicks from the previous run move the window or select a patch before the widgets are drawn
    panel_roll.apply_overview_click(n_start_bars)
    clicks.apply_window_click((st.session_state.get("window_bar", 1) - 1) * bars, n_levels)
    if clicks.song_clicks_waiting():
        import model_views

        model_views.apply_song_clicks(choice, piece, roll, spb, semis)
    view = sidebar.view_section(n_start_bars, config, meta)
    choice_b = sidebar.compare_section()

    header(piece, roll, choice.label, n_levels)
    export.start_run()
    st.subheader("Piano roll")
    overview, window = st.empty(), st.empty()
    if clicks.current() is None:  # nothing selected, so nothing to outline or mark: draw the piece now
        start, width = (view.start_bar - 1) * bars, int(config.get("img_width", 128))
        grids = level_grids(config)
        click_grid = grids[clicks.select_level(len(grids))]
        panel_roll.render_overview(overview, (piece.key, spb, semis), roll, start, width, [])
        panel_roll.render_window(window, (piece.key, spb, semis), roll, start, width, [], click_grid)
        overview = window = None
    import model_views  # torch and timm: seconds to import, so only once the piece is on screen

    model = model_views.render(choice, ckpt_slot, choice_b, piece, roll, spb, semis, view, overview, window)
    export.render(f"{piece.name} — {model.label}")


main()

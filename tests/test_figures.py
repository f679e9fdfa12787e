"""Figure builders: exact expectations on the plotly objects they return."""
from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest

from midi_rae.figures import (HIGHLIGHT, explained_variance, level_masks, note_ticks, pca_scatter,
                              probability_difference, probe_lines, reconstruction_row, roll_overview, similarity_matrix,
                              spectrum_plot, trajectory, window_roll, relayout)


def _trace(fig: go.Figure, name: str):
    return next(t for t in fig.data if t.name == name)


def _shapes(fig: go.Figure, name: str) -> list:
    return [s for s in fig.layout.shapes if s.name == name]


def _long_roll(steps: int = 20_000) -> np.ndarray:
    roll = np.zeros((128, steps), dtype=np.uint8)
    roll[60, ::7] = 1  # single-step notes: downsampling must not lose them
    roll[48, 100:400] = 1
    roll[72, -1] = 1
    return roll


def _levels(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.random((2**k, 2**k)) < 0.5 for k in range(n)]


# ---------------------------------------------------------------------------------------------

def test_note_ticks_are_every_c_with_c4_at_60():
    pos, names = note_ticks()
    assert pos == list(range(0, 128, 12))
    assert names[pos.index(60)] == "C4"
    assert note_ticks(50, 75) == ([60, 72], ["C4", "C5"])


def test_overview_downsamples_long_roll_with_max_pooling():
    fig = roll_overview(_long_roll(), steps_per_bar=16)
    z = np.asarray(_trace(fig, "roll").z)
    assert z.shape[1] <= 3000
    row60 = fig.data[0].y.index("C4")
    assert z[row60].all()  # every pooled column contains one of the 1-step notes


def test_overview_x_axis_is_in_one_based_bars():
    fig = roll_overview(_long_roll(), steps_per_bar=16)
    assert tuple(fig.layout.xaxis.range) == (1, 1 + 20_000 / 16)
    assert fig.layout.xaxis.tickvals[0] == 1
    assert len(fig.layout.xaxis.tickvals) <= 17


def test_overview_shows_only_the_used_pitch_range_plus_two():
    fig = roll_overview(_long_roll(), steps_per_bar=16)
    y = list(_trace(fig, "roll").y)
    assert y[0] == "A#2" and y[-1] == "D5"  # 48-2 .. 72+2
    assert list(fig.layout.yaxis.tickvals) == ["C3", "C4", "C5"]


def test_overview_window_rectangle_spans_window_in_bar_units():
    fig = roll_overview(_long_roll(), steps_per_bar=16, window=(32, 128))
    (rect,) = _shapes(fig, "window")
    assert (rect.x0, rect.x1) == (3.0, 11.0)  # steps 32..160 = bars 3..11 (1-based starts)


def test_overview_bars_trace_has_one_point_per_bar():
    fig = roll_overview(np.ones((128, 100), dtype=np.uint8), steps_per_bar=16)
    bars = _trace(fig, "bars")
    assert list(bars.customdata) == list(range(7))  # 100 / 16 = 6.25 -> 7 bars
    assert list(bars.x) == [1, 2, 3, 4, 5, 6, 7]
    assert list(bars.text) == [str(i) for i in range(1, 8)]
    assert bars.hovertemplate.startswith("bar %{text}")


def test_window_roll_pitch_ticks_and_hover_text():
    w = np.zeros((128, 128), dtype=np.uint8)
    w[60, :4] = 1
    fig = window_roll(w, start_step=0, steps_per_beat=4, beats_per_bar=4)
    assert list(fig.layout.yaxis.tickvals) == [f"C{o}" for o in range(-1, 10)]
    hm = fig.data[0]
    assert hm.y[60] == "C4" and hm.x[0] == "1:1.1" and hm.x[5] == "1:2.2"
    assert hm.hovertemplate.startswith("%{y}  %{x}")


def test_window_roll_pitch_range_limits_the_visible_rows_only():
    fig = window_roll(np.zeros((128, 128), dtype=np.uint8), 0, 4, 4, pitch_range=(48, 72))
    assert tuple(fig.layout.yaxis.range) == (47.5, 72.5)
    assert len(fig.data[0].y) == 128


def test_window_roll_bar_ticks_are_absolute_and_lines_mark_beats_and_bars():
    fig = window_roll(np.zeros((128, 128), dtype=np.uint8), start_step=8, steps_per_beat=4, beats_per_bar=4)
    ticks = dict(zip(fig.layout.xaxis.tickvals, fig.layout.xaxis.ticktext))
    assert ticks["1:3.1"] == "1:3" and ticks["2:1.1"] == "2:1" and ticks["3:1.1"] == "3:1"
    assert len(_shapes(fig, "bar")) == 8  # bars start at window steps 8, 24, ..., 120
    assert len(_shapes(fig, "beat")) == 24
    assert all(s.x0 == s.x1 and s.x0 % 1 == 0.5 for s in fig.layout.shapes)  # on cell boundaries


def test_window_roll_highlight_rectangles_wrap_pixels():
    fig = window_roll(np.zeros((128, 64), dtype=np.uint8), 0, 4, 4, highlight=[(60, 8, 64, 12)])
    (rect,) = _shapes(fig, "highlight")
    assert (rect.x0, rect.x1, rect.y0, rect.y1) == (7.5, 11.5, 59.5, 63.5)
    assert rect.line.color == HIGHLIGHT


@pytest.mark.parametrize("n_levels", [6, 7])
def test_level_masks_one_heatmap_panel_per_level(n_levels):
    grids = _levels(n_levels)
    fig = level_masks(grids, window=np.eye(128, dtype=np.uint8))
    masks = [t for t in fig.data if isinstance(t, go.Heatmap) and t.name.startswith("level")]
    assert len(masks) == n_levels
    assert [np.asarray(t.z).shape for t in masks] == [g.shape for g in grids]
    assert len({t.xaxis for t in masks}) == n_levels
    g = 2 ** (n_levels - 1)
    assert fig.layout.annotations[-1].text == f"Level {n_levels - 1}<br>{g}×{g}"
    assert {t.name for t in fig.data if t.showlegend} == {"non-empty", "empty", "notes"}


def test_level_masks_row_zero_is_lowest_pitch_at_bottom():
    grid = np.zeros((2, 2), dtype=bool)
    grid[0, 1] = True  # low pitches, late steps
    fig = level_masks([grid])
    t = fig.data[0]
    assert (t.y0, t.dy) == (31.5, 64) and (t.x0, t.dx) == (31.5, 64)
    assert np.asarray(t.z)[0, 1] == 1
    assert "C-1" in t.text[0][1] and "non-empty" in t.text[0][1]
    assert fig.layout.yaxis.range[0] < fig.layout.yaxis.range[1]  # not reversed


def test_reconstruction_error_map_classifies_known_pixels():
    original = np.zeros((128, 128), dtype=np.uint8)
    binary = np.zeros((128, 128), dtype=np.uint8)
    original[10, 10] = binary[10, 10] = 1   # true positive
    binary[20, 20] = 1                      # false positive
    original[30, 30] = 1                    # false negative
    probs = np.full((128, 128), 0.25)
    fig = reconstruction_row(original, np.zeros((128, 128), bool), probs, binary, threshold=0.5)
    err = _trace(fig, "Errors")
    z = np.asarray(err.z)
    codes = {z[10, 10], z[20, 20], z[30, 30], z[40, 40]}
    assert len(codes) == 4 and z[40, 40] == 0
    assert (z != 0).sum() == 3
    assert [z[r, r] for r in (10, 20, 30, 40)] == [1, 2, 3, 0]
    assert err.y[60] == "C4" and "%{y}" in err.hovertemplate
    assert "%{z} (0 silent, 1 right, 2 extra, 3 missed)" in err.hovertemplate
    title = fig.layout.annotations[4].text  # counts are over masked pixels: none here
    assert "0 right" in title and "0 extra" in title and "0 missed" in title


def test_reconstruction_row_uses_no_red_green_pair_and_puts_the_colour_bar_under_the_probabilities():
    from midi_rae.figures import FN_COLOUR, FP_COLOUR, NON_EMPTY, EMPTY, TP_COLOUR

    assert {TP_COLOUR, FP_COLOUR, FN_COLOUR, NON_EMPTY, EMPTY}.isdisjoint({"#2ca02c", "#d62728", "#7f2a2a"})
    fig = reconstruction_row(np.zeros((128, 128)), np.zeros((128, 128), bool), np.zeros((128, 128)),
                             np.zeros((128, 128)), threshold=0.5)
    bar = _trace(fig, "Reconstruction probabilities").colorbar
    lo, hi = fig.layout.xaxis3.domain
    assert bar.orientation == "h" and lo < bar.x < hi and bar.y < 0
    assert all(a.yshift > 0 for a in fig.layout.annotations)  # titles clear of the frame lines


def test_reconstruction_masked_input_hides_masked_notes():
    original = np.zeros((128, 128), dtype=np.uint8)
    original[60, :] = 1
    hidden = np.zeros((128, 128), dtype=bool)
    hidden[:, 64:] = True
    fig = reconstruction_row(original, hidden, np.zeros((128, 128)), original, threshold=0.5)
    z = np.asarray(_trace(fig, "Masked input").z)
    assert z[60, 0] == 1 and z[61, 0] == 0      # visible note, visible background
    assert z[60, 100] == z[0, 100] == 2         # masked: note and background look alike
    assert [a.text.split(" (")[0] for a in fig.layout.annotations][:3] == [
        "Original", "Masked input", "Probabilities"]
    probs = _trace(fig, "Reconstruction probabilities")
    assert (probs.zmin, probs.zmax) == (0, 1)


def test_pca_scatter_2d_is_svg_with_index_customdata():
    coords = np.random.default_rng(0).normal(size=(50, 4))
    fig = pca_scatter(coords, np.arange(50.0), "position", hover=[f"w{i}" for i in range(50)])
    (t,) = fig.data
    assert isinstance(t, go.Scatter)  # SVG: WebGL is slow to set up in a browser without a GPU
    assert list(t.customdata) == list(range(50))
    assert t.hovertext[3] == "w3"
    assert t.marker.colorscale is not None and t.marker.colorbar.title.text == "position"
    assert (fig.layout.xaxis.title.text, fig.layout.yaxis.title.text) == ("PC1", "PC2")


def test_pca_scatter_3d_uses_scatter3d():
    coords = np.random.default_rng(0).normal(size=(20, 3))
    fig = pca_scatter(coords, np.zeros(20), "c", dims=3)
    assert isinstance(fig.data[0], go.Scatter3d)
    assert list(fig.data[0].z) == list(coords[:, 2])
    assert fig.layout.scene.zaxis.title.text == "PC3"


def test_pca_scatter_categorical_one_trace_per_category_covering_all_points():
    coords = np.random.default_rng(0).normal(size=(30, 2))
    cat = np.arange(30) % 3 == 0
    hl = np.zeros(30, bool)
    hl[[1, 2]] = True
    fig = pca_scatter(coords, cat, "state", categorical=True, highlight=hl,
                      category_names={True: "non-empty", False: "empty"})
    groups = [t for t in fig.data if t.name != "this window"]
    assert sorted(t.name for t in groups) == ["empty", "non-empty"]
    indices = sorted(i for t in groups for i in t.customdata)
    assert indices == list(range(30))
    selected = fig.data[-1]  # drawn last, on top
    assert selected.name == "this window" and list(selected.customdata) == [1, 2]
    assert selected.marker.line.color == HIGHLIGHT


def test_pca_scatter_rings_highlighted_points_with_shapes_and_keeps_the_traces_unchanged():
    coords = np.random.default_rng(0).normal(size=(30, 2))
    hl = np.zeros(30, bool)
    hl[[4, 7]] = True
    plain = pca_scatter(coords, np.arange(30.0), "bar", highlight_rings=True)
    ringed = pca_scatter(coords, np.arange(30.0), "bar", highlight=hl, highlight_rings=True)
    rings = [s for s in ringed.layout.shapes if s.name == "highlight"]
    assert [(r.xanchor, r.yanchor) for r in rings] == [tuple(coords[4]), tuple(coords[7])]
    assert all(r.xsizemode == "pixel" and r.line.color == HIGHLIGHT for r in rings)
    assert ringed.data[0] == plain.data[0]  # the points themselves do not depend on the highlight
    legend = ringed.data[-1]
    assert legend.name == "this window" and list(legend.x) == [None] and legend.showlegend
    assert not plain.data[-1].showlegend  # nothing ringed: the legend entry is hidden, the trace kept


def test_explained_variance_cumulative_ends_at_sum():
    ratios = np.array([0.4, 0.2, 0.1, 0.05])
    fig = explained_variance(ratios)
    bars, cum = fig.data
    assert np.allclose(bars.y, ratios * 100)
    assert cum.y[-1] == pytest.approx(75.0)
    assert fig.layout.yaxis.ticksuffix == "%"


def test_every_figure_serialises_with_the_dashboard_look():
    rng = np.random.default_rng(1)
    win = (rng.random((128, 128)) < 0.02).astype(np.uint8)
    figs = [
        roll_overview(_long_roll(3000), 16, window=(0, 128)),
        window_roll(win, 0, 4, 4, highlight=[(0, 0, 16, 16)]),
        level_masks(_levels(6), window=win),
        reconstruction_row(win, rng.random((8, 8)) < 0.5, rng.random((128, 128)), win, 0.5),
        pca_scatter(rng.normal(size=(10, 3)), rng.random(10), "x", dims=3),
        explained_variance(np.array([0.5, 0.3])),
    ]
    for fig in figs:
        data = json.loads(fig.to_json())
        assert data["layout"]["height"] in (260, 280, 330, 350, 400, 420)
        assert fig.layout.template.layout.paper_bgcolor == pio.templates["plotly_white"].layout.paper_bgcolor
        # fixed margins: automatic ones make plotly measure every label and draw the figure twice
        assert fig.layout.template.layout.xaxis.automargin is False


# ---------------------------------------------------------------------------------------------
# Structure figures

def test_similarity_matrix_is_square_with_window_positions_on_both_axes():
    from midi_rae.figures import similarity_matrix

    sim = np.array([[1.0, 0.5, 0.2], [0.5, 1.0, 0.1], [0.2, 0.1, 1.0]])
    fig = similarity_matrix(sim, np.array([1.0, 3.0, 5.0]), "Level 3")
    hm = fig.data[0]
    assert list(hm.x) == list(hm.y) == [1.0, 3.0, 5.0]  # a box over a cell reports the windows' start bars
    assert fig.layout.yaxis.scaleanchor == "x"
    assert "bar %{y:.4g} vs bar %{x:.4g}" in hm.hovertemplate and hm.zmax == 1.0 and hm.zmin == pytest.approx(0.1)


def test_similarity_matrix_ticks_whole_bars_and_titles_both_axes():
    from midi_rae.figures import similarity_matrix

    short = similarity_matrix(np.eye(4), np.array([1.0, 2.0, 3.0, 4.0]))
    long = similarity_matrix(np.eye(3), np.array([1.0, 50.0, 95.0]))
    assert (short.layout.xaxis.dtick, short.layout.xaxis.tick0, long.layout.xaxis.dtick) == (1, 1, 10)
    assert short.layout.xaxis.title.text == short.layout.yaxis.title.text == "window start (bar)"


def test_trajectory_marks_start_and_end_in_time_order():
    from midi_rae.figures import trajectory

    coords = np.array([[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]])
    fig = trajectory(coords, np.array([3.0, 1.0, 2.0]), "path")
    ann = {a.text: (a.x, a.y) for a in fig.layout.annotations}
    assert ann == {"start": (0.0, 0.0), "end": (2.0, 2.0)}
    assert list(fig.data[1].customdata) == [1, 2, 0]  # indices back into the caller's arrays


def test_a_path_that_does_not_move_along_pc2_is_drawn_flat_with_start_and_end_apart():
    from midi_rae.figures import trajectory

    coords = np.array([[0.0, 3e-8], [22.0, -3e-8], [0.0, 2e-8]])  # two distinct windows, PC2 rounding noise
    fig = trajectory(coords, np.array([1.0, 2.0, 3.0]))
    assert tuple(fig.layout.yaxis.range) == (-11.0, 11.0) and fig.layout.xaxis.range is None
    assert fig.layout.yaxis.exponentformat == "e"
    start, end = fig.layout.annotations
    assert start.x == end.x == 0.0 and (start.ax, start.ay) == (-end.ax, -end.ay)  # one place, two sides


def test_a_level_whose_windows_are_all_but_the_same_is_said_to_draw_noise():
    from midi_rae.dashboard.panel_structure import still_path

    emb = np.full((4, 128), 1.0)
    assert still_path(np.array([[1e-9, 0.0], [0.0, 2e-9], [0.0, 0.0], [3e-9, 0.0]]), emb) == (
        "Level 0's windows are all but the same here: their path spreads over 3.0e-09, against embeddings of length "
        "11, so its shape is rounding noise.")
    assert still_path(np.array([[0.0, 0.0], [2.0, 0.1]]), emb[:2]) is None


def test_trajectory_colour_bar_counts_whole_bars_in_whole_steps():
    from midi_rae.figures import trajectory

    coords = np.zeros((3, 2))
    bar = trajectory(coords, np.array([1.0, 2.0, 3.0])).data[1].marker.colorbar
    assert (bar.tick0, bar.dtick) == (1.0, 1)
    assert trajectory(coords, np.array([1.0, 12.0, 23.0])).data[1].marker.colorbar.dtick == 5
    assert trajectory(coords, np.array([0.5, 1.0, 1.5])).data[1].marker.colorbar.dtick is None  # plotly's own


def test_hidden_patches_are_not_a_second_blue_beside_the_missed_notes():
    from midi_rae.figures import FN_COLOUR, MASKED

    def hue(hex_colour):
        import colorsys

        r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
        return colorsys.rgb_to_hsv(r, g, b)[0] * 360

    assert abs(hue(MASKED) - hue(FN_COLOUR)) > 90


def test_probe_lines_fit_the_axis_to_lines_that_all_sit_near_one():
    from midi_rae.figures import probe_lines

    fig = probe_lines([-1, 0, 1], np.array([[0.97, 0.99], [1.0, 1.0], [0.98, 0.995]]))
    lo, hi = fig.layout.yaxis.range
    assert 0.96 < lo < 0.97 and hi == 1.0  # no tick past a cosine's largest value
    assert all(t.cliponaxis is False for t in fig.data)  # the points at 1 are drawn whole on the axis's edge


def test_probe_lines_has_one_named_line_per_level():
    from midi_rae.figures import probe_lines

    fig = probe_lines([-1, 0, 1], np.array([[0.5, -0.2], [1.0, 1.0], [0.4, 0.3]]), "probe", "shift")
    assert [t.name for t in fig.data] == ["level 0 (1×1)", "level 1 (2×2)"]
    assert fig.layout.yaxis.range[0] < -1 + 0.05  # a negative value opens the axis to -1


def test_spectrum_plot_has_a_dashed_ninety_percent_line_and_a_log_axis():
    from midi_rae.figures import spectrum_plot
    from midi_rae.structure import spectrum

    rng = np.random.default_rng(0)
    fig = spectrum_plot([spectrum(rng.normal(size=(4, 1, 8))), spectrum(rng.normal(size=(4, 4, 4)))], "s")
    assert fig.layout.yaxis.type == "log"
    assert any(s.line.dash == "dash" and s.y0 == 90 for s in fig.layout.shapes)
    assert len([t for t in fig.data if t.showlegend is not False]) == 2


def test_the_interactive_reconstruction_is_numbered_by_the_window_s_bars_on_every_panel():
    rng = np.random.default_rng(1)
    win = (rng.random((128, 128)) < 0.02).astype(np.uint8)
    fig = reconstruction_row(win, rng.random((8, 8)) < 0.5, rng.random((128, 128)), win, 0.5, bars=(32, 16))
    axes = [fig.layout[f"xaxis{'' if k == 1 else k}"] for k in range(1, 6)]
    # a window from step 32 at 16 steps a bar: bars 3–10, each tick on a bar line (a step's left edge)
    assert all(list(a.ticktext) == [str(b) for b in range(3, 11)] for a in axes)
    assert all(list(a.tickvals) == [16 * k - 0.5 for k in range(8)] and a.showticklabels for a in axes)
    plain = reconstruction_row(win, rng.random((8, 8)) < 0.5, rng.random((128, 128)), win, 0.5)
    assert plain.layout.xaxis.showticklabels is False


def test_the_probability_difference_counts_bars_when_it_knows_them():
    from midi_rae.figures import probability_difference

    a, b = np.zeros((128, 128), np.float32), np.ones((128, 128), np.float32)
    fig = probability_difference(a, b, bars=(0, 32))
    assert fig.layout.xaxis.title.text == "bar" and list(fig.layout.xaxis.ticktext) == ["1", "2", "3", "4"]
    assert probability_difference(a, b).layout.xaxis.title.text == "step in window"


def test_a_pca_coloured_by_pitch_names_the_pitches_on_its_colour_bar():
    coords = np.random.default_rng(0).normal(size=(4, 3))
    fig = pca_scatter(coords, np.array([40.0, 50.0, 62.0, 90.0]), "Pitch", pitch_colours=True)
    bar = fig.data[0].marker.colorbar
    assert (list(bar.tickvals), list(bar.ticktext)) == ([48, 60, 72, 84], ["C3", "C4", "C5", "C6"])
    narrow = pca_scatter(coords, np.array([62.0, 64.0, 65.0, 67.0]), "Pitch", pitch_colours=True)
    assert list(narrow.data[0].marker.colorbar.ticktext) == ["D4", "G4"]  # no C inside: its two ends


def test_the_spectrum_legend_sits_under_the_component_titles_inside_the_chart():
    from midi_rae.figures import spectrum_plot
    from midi_rae.structure import spectrum

    rng = np.random.default_rng(0)
    fig = spectrum_plot([spectrum(rng.normal(size=(4, 1, 8)))], "s")
    m = fig.layout.margin
    plot_h = fig.layout.height - m.t - m.b
    legend_top = -fig.layout.legend.y * plot_h  # pixels below the plot area
    # plotly puts an x title ~30-50 px under its axis (tick labels, then the title): the legend starts below that,
    # and its one row (~20 px) ends inside the chart
    assert fig.layout.legend.yanchor == "top" and legend_top >= 60 and m.b - legend_top >= 20


def test_overview_marks_neighbour_spans_in_bar_units():
    fig = roll_overview(np.ones((128, 64), dtype=np.uint8), steps_per_bar=16, window=(0, 32), marks=[(16, 4)])
    mark = [s for s in fig.layout.shapes if s.name == "mark"]
    assert len(mark) == 1 and (mark[0].x0, mark[0].x1) == (2.0, 2.25)


def test_level_masks_outline_the_highlighted_family():
    ne = [np.ones((1, 1), bool), np.ones((2, 2), bool), np.ones((4, 4), bool)]
    fig = level_masks(ne, highlight={0: [0], 1: [3], 2: [10, 11, 14, 15]})
    boxes = [s for s in fig.layout.shapes if s.name == "highlight"]
    assert len(boxes) == 6
    assert (boxes[1].x0, boxes[1].y0) == (63.5, 63.5)  # level 1 patch 3 = top-right quadrant


def test_reconstruction_error_counts_are_over_masked_pixels_only():
    original = np.zeros((128, 128), dtype=np.uint8)
    original[60, :] = 1
    hidden = np.zeros((128, 128), dtype=bool)
    hidden[:, 124:] = True                    # one column of finest patches hidden: 4 note pixels there
    binary = original.copy()
    binary[60, 126:] = 0                      # two of them missed
    fig = reconstruction_row(original, hidden, np.zeros((128, 128)), binary, threshold=0.5)
    title = fig.layout.annotations[4].text
    assert "2 right" in title and "0 extra" in title and "2 missed" in title


def test_reconstruction_with_a_pitch_range_sends_only_those_rows():
    z = np.zeros((128, 128), dtype=np.uint8)
    fig = reconstruction_row(z, np.zeros((128, 128), bool), np.zeros((128, 128)), z, 0.5, pitch_range=(48, 71))
    assert all(len(t.z) == 24 for t in fig.data if t.type == "heatmap")
    assert fig.data[0].y[0] == "C3" and fig.data[0].y[-1] == "B4"


def test_reconstruction_row_built_without_validation_still_passes_plotly_validation():
    rng = np.random.default_rng(3)
    win = (rng.random((128, 128)) < 0.03).astype(np.uint8)
    fig = reconstruction_row(win, rng.random((32, 32)) < 0.5, rng.random((128, 128)), win, 0.6, (40, 90))
    checked = go.Figure(fig.to_dict())  # raises on any invalid property
    assert [t.name for t in checked.data[:5]] == ["Original", "Masked input", "Reconstruction probabilities",
                                                  "Binarized", "Errors"]
    assert [t.xaxis for t in checked.data[:5]] == ["x", "x2", "x3", "x4", "x5"]
    assert checked.layout.yaxis5.matches == "y" and checked.layout.yaxis.title.text == "pitch"
    assert [a.text for a in checked.layout.annotations][3] == "Binarized (>0.60), pasted"
    assert checked.data[2].showscale and not checked.data[0].showscale


def _every_builder() -> dict:
    rng = np.random.default_rng(5)
    win = (rng.random((128, 128)) < 0.05).astype(np.uint8)
    coords, colour, ringed = rng.random((40, 3)), rng.random(40), np.arange(40) < 8
    spec = [dict(singular_values=rng.random(12), cumulative=np.linspace(0.2, 1, 12)) for _ in range(3)]
    return {
        "window": window_roll(win, 32, 4, 4, highlight=[(0, 0, 16, 16)], click_grid=8),
        "overview": roll_overview(_long_roll(640), 16, window=(32, 128), marks=[(16, 16), (64, 16)]),
        "pca, rings and marks": pca_scatter(coords, colour, "bar", highlight=ringed, highlight_rings=True,
                                            shapes=[dict(type="line", x0=0, x1=1, y0=0, y1=1)]),
        "pca by category": pca_scatter(coords, colour > 0.5, "kind", categorical=True, highlight=ringed),
        "pca 3-D": pca_scatter(coords, colour, "bar", dims=3, highlight=ringed),
        "variance": explained_variance(rng.random(4)),
        "spectrum": spectrum_plot(spec),
        "similarity": similarity_matrix(rng.random((5, 5)), np.arange(5)),
        "path": trajectory(rng.random((5, 2)), np.arange(5)),
        "probe": probe_lines(np.arange(-3, 4), rng.random((7, 2))),
        "masks": level_masks([rng.random((2 ** k, 2 ** k)) > 0.5 for k in range(6)], win),
        "difference": probability_difference(rng.random((128, 128)), rng.random((128, 128))),
    }


@pytest.mark.parametrize("name", list(_every_builder()))
def test_figures_built_without_validation_are_what_plotly_validation_makes(name):
    fig = _every_builder()[name]
    checked = go.Figure(fig.to_dict())  # raises on any invalid property
    assert json.loads(pio.to_json(checked, validate=False)) == json.loads(pio.to_json(fig, validate=False))


def test_up_to_twenty_one_categories_get_distinct_colours_none_pale_and_up_to_eight_the_colour_blind_safe_ones():
    from midi_rae.figures import OKABE_ITO, _luminance

    def colours(k):
        fig = pca_scatter(np.zeros((k, 2)), np.array([f"c{i:02d}" for i in range(k)]), "kind", categorical=True)
        return [t.marker.color for t in fig.data]

    assert colours(8) == OKABE_ITO
    many = colours(21)  # the Corpus map's 20 pieces and "(other pieces)"
    assert len(set(many)) == 21 and max(_luminance(c) for c in many) <= 0.6


def test_categories_are_listed_at_the_right_in_a_fixed_margin_that_holds_their_names():
    coords = np.random.default_rng(0).random((6, 2))
    kinds = np.array(["a", "b", "a", "x" * 40, "b", "a"])
    fig = pca_scatter(coords, kinds, "kind", categorical=True, categories_at_right=True)
    assert [t.name for t in fig.data] == ["a", "b", "x" * 27 + "…"]  # at most 28 characters
    assert fig.layout.legend.orientation == "v" and fig.layout.legend.x == 1.02
    assert fig.layout.margin.autoexpand is False and fig.layout.margin.r == 75 + 7 * 28
    short = pca_scatter(coords, kinds != "a", "kind", categorical=True, categories_at_right=True)
    assert short.layout.margin.r == 75 + 7 * 12  # the shortest margin still holds "this window"


def test_categories_under_a_narrow_chart_wrap_below_it_in_a_margin_that_grows():
    coords = np.random.default_rng(0).random((6, 2))
    fig = pca_scatter(coords, np.array(list("aabbcc")), "kind", categorical=True)
    assert fig.layout.legend.orientation == "h" and fig.layout.margin.autoexpand is not False


def test_relayout_gives_what_update_layout_gives_and_leaves_the_figure_as_it_was():
    base = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]), layout=dict(margin=dict(l=5, t=7), xaxis=dict(range=[0, 3])))
    change = dict(margin=dict(l=50, r=10), xaxis_title_text="bar", title=dict(text="T", font_size=14),
                  hoverlabel=dict(font_size=12), shapes=[dict(type="line", x0=0, x1=1, y0=0, y1=1)])
    fast = relayout(base, **change)
    slow = go.Figure(base)
    slow.update_layout(**change)
    assert json.loads(pio.to_json(fast, validate=False)) == json.loads(pio.to_json(slow, validate=False))
    assert fast.layout.margin.l == 50 and fast.layout.margin.t == 7 and fast.layout.xaxis.range == (0, 3)
    assert base.layout.margin.l == 5 and base.layout.title.text is None


def test_a_named_category_keeps_its_colour_when_another_is_absent():
    from midi_rae.figures import pca_scatter

    names = {0: "other windows", 1: "visible", 2: "partly masked", 3: "masked"}
    coords = np.zeros((4, 3))

    def colours(cats):
        fig = pca_scatter(coords[:len(cats)], np.array(cats), "Visible / masked", categorical=True,
                          category_names=names)
        return {t.name: t.marker.color for t in fig.data if t.name in names.values()}

    assert colours([0, 2])["partly masked"] == colours([0, 1, 2, 3])["partly masked"]


def test_a_continuous_pca_legend_row_fits_in_its_fixed_bottom_margin():
    """Coloured by time, the 2-D PCA's legend ("this window") sits under the axis title, inside the fixed margin."""
    import numpy as np

    from midi_rae.figures import LEGEND_ROW_BOTTOM

    fig = pca_scatter(np.random.default_rng(0).normal(size=(20, 2)), np.arange(20.0), "Time (bar)",
                      hover=[f"w{i}" for i in range(20)])
    m, leg = fig.layout.margin, fig.layout.legend
    plot_h = fig.layout.height - m.t - m.b
    legend_top = -leg.y * plot_h   # pixels under the plot area
    assert m.autoexpand is False and m.b == LEGEND_ROW_BOTTOM and legend_top + 22 <= m.b


def test_a_pca_legend_of_more_than_two_categories_under_the_plot_puts_two_a_row_under_its_title():
    """Beside the entries, plotly left the title out of where the row wraps: four categories ran off the chart."""
    import numpy as np

    names = {0: "other windows (unmasked)", 1: "this window: visible", 2: "this window: partly masked",
             3: "this window: masked"}
    fig = pca_scatter(np.random.default_rng(0).normal(size=(8, 2)), np.arange(8) % 4, "Visible / masked",
                      categorical=True, category_names=names)
    leg = fig.layout.legend
    assert (leg.orientation, leg.entrywidth, leg.entrywidthmode, leg.title.side) == ("h", 0.5, "fraction",
                                                                                   "top left")
    two = pca_scatter(np.zeros((4, 2)), np.arange(4) % 2, "Non-empty / empty", categorical=True,
                      category_names={0: "empty", 1: "non-empty"})
    assert two.layout.legend.entrywidth is None


def test_the_ablation_bars_label_a_change_that_rounds_to_nothing_as_zero_not_minus_zero():
    from midi_rae.figures_hierarchy import ablation_drops

    fig = ablation_drops([0, 1, 2], [-0.0001, 0.0123, -0.004], [0.0, float("nan"), 0.02], 0.5)
    assert list(fig.data[0].text) == ["0.000", "+0.012", "−0.004"] and list(fig.data[1].text) == ["0.000", "", "+0.020"]


def test_ablation_losses_that_print_as_nothing_do_not_fill_the_chart():
    from midi_rae.figures_hierarchy import ablation_drops

    tiny = ablation_drops([0, 1], [-0.0004, 0.0002], [0.0, float("nan")], 0.5)
    assert tuple(tiny.layout.yaxis.range) == (-0.01, 0.01) and tiny.layout.yaxis.tickformat == ".3f"
    assert ablation_drops([0, 1], [0.0, 0.63], [0.07, 0.0], 0.5).layout.yaxis.range is None  # plotly's own


def test_up_to_twenty_categories_get_distinct_hues():
    from plotly.colors import hex_to_rgb

    from midi_rae.figures import category_colours

    for n in range(8, 21):
        colours = list(category_colours([f"c{i}" for i in range(n)]).values())
        rgb = np.array([hex_to_rgb(c) for c in colours], float)
        gaps = [np.abs(a - b).sum() for i, a in enumerate(rgb) for b in rgb[i + 1:]]
        # no near-twins: up to 16 as far apart as the alphabet's first purples were not (66); twenty must share room
        assert len(set(colours)) == n and min(gaps) > (70 if n <= 16 else 60), (n, colours)


def test_the_song_structure_path_follows_the_level_of_the_similarity_matrix():
    from types import SimpleNamespace

    from conftest import make_song, to_bytes
    from midi_rae.checkpoint import load_model
    from midi_rae.dashboard import panel_structure
    from midi_rae.dashboard.model_views import song_for
    from midi_rae.dashboard.sources import digest
    from midi_rae.pianoroll import midi_to_roll

    data = to_bytes(make_song(bars=12, seed=3))
    model = SimpleNamespace(key="default", bundle=load_model())
    song = song_for(model, SimpleNamespace(key=digest(data)), midi_to_roll(data, name="s.mid"), 4, 0)
    _, ftraj, _, _ = panel_structure._structure_figs(song.key, 3, song)
    assert ftraj.layout.title.text.startswith("Level 3 (8×8) through the piece")


def test_the_time_and_pitch_probe_charts_share_one_y_range():
    from midi_rae.figures import probe_lines

    time_chart = probe_lines([-1, 0, 1], np.array([[0.97, 0.99], [1.0, 1.0], [0.98, 0.995]]))
    pitch_chart = probe_lines([-1, 0, 1], np.array([[0.97, 0.99], [1.0, 1.0], [0.98, 0.995]]), floor=0.6)
    assert time_chart.layout.yaxis.range[0] > 0.9 and pitch_chart.layout.yaxis.range[0] < 0.6


def test_the_probe_says_which_levels_have_one_aligned_point():
    from midi_rae.dashboard.panel_probe import _one_point_note, single_point_levels

    grids = [(1, 1), (2, 2), (4, 4), (8, 8), (16, 16), (32, 32)]  # 128, 64, 32, 16, 8 and 4 steps a patch
    assert single_point_levels(grids, 128, 16) == [0, 1, 2]
    assert single_point_levels(grids, 128, 12, axis="pitch") == [0, 1, 2, 3]  # 128, 64, 32 and 16 semitones tall
    assert _one_point_note(grids, 128, "aligned") == (
        " Here levels 0–2 (patches wider than 16 steps) have no aligned time shift but 0, so they show as one point at "
        "1 in the time chart; levels 0–3 (patches taller than 12 semitones) have no aligned transposition but 0, so "
        "they show as one point at 1 in the transposition chart.")
    assert _one_point_note(grids, 128, "same_position") == ""
    assert _one_point_note([(1, 1), (64, 64)], 128, "aligned") == (  # 2 semitones by 2 steps: only the 1×1 level
        " Here level 0 (patches wider than 16 steps) has no aligned time shift but 0, so it shows as one point at 1 in "
        "the time chart; level 0 (patches taller than 12 semitones) has no aligned transposition but 0, so it shows as "
        "one point at 1 in the transposition chart.")


def test_on_a_dark_ground_the_darkest_category_colours_are_lightened_and_the_rest_kept():
    from midi_rae.figures import OKABE_ITO, on_dark

    assert on_dark("#000000") == "#b2b2b2"  # Okabe & Ito's black: its points were lost on a dark theme's map
    assert [on_dark(c) for c in OKABE_ITO[:7]] == OKABE_ITO[:7]


def test_a_png_rolls_similarity_matrix_ticks_window_starts_in_steps_from_zero():
    from midi_rae.figures import similarity_matrix

    fig = similarity_matrix(np.eye(12), np.arange(12) * 16.0, label="step")
    assert (fig.layout.xaxis.tick0, fig.layout.xaxis.dtick) == (0.0, 32.0)  # 0, 32, … 160: starts, every other
    assert fig.layout.xaxis.title.text == "window start (step)"

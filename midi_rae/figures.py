"""Plotly figure builders for the dashboard: numpy arrays in, `go.Figure` out, no Streamlit.

Conventions shared by every figure: pitch is drawn upward (row 0 = MIDI pitch 0 at the bottom,
plotly's default heatmap orientation), time runs to the right, pitch ticks are note names at
every C (C4 = MIDI 60), and hierarchy levels are listed coarsest first.
"""
from __future__ import annotations

import functools
import json
import math

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from midi_rae.pianoroll import bar_ticks, note_name

__all__ = ["note_ticks", "pitch_landmarks", "window_time_grid", "overview_raster", "overview_bar_ticks",
           "roll_overview", "window_roll", "level_masks", "reconstruction_row", "pca_scatter", "explained_variance",
           "similarity_matrix", "trajectory", "probe_lines", "spectrum_plot"]

# One palette for the whole dashboard so colours mean the same thing on every page. It is safe for
# colour-blind readers (Okabe & Ito's colours; no red/green pair carries meaning): blue against grey for
# non-empty/empty; correct notes stay note-coloured, extra notes orange, missed notes sky blue.
NON_EMPTY = "#0072B2"
EMPTY = "#d9d9d9"
NOTE = "#1f2937"
BACKGROUND = "#ffffff"
MASKED = "#E5BCD3"  # Okabe & Ito's reddish purple, lightened: no second blue beside the missed notes' sky blue
MARK_COLOUR = "#0072B2"  # nearest-neighbour marks on the overview
# Okabe & Ito's vermillion: "this window / the selection". Not their orange (the extra notes' colour), nor their
# bluish green, which the Viridis colour scale of the PCA and trajectory passes through (rings vanished there)
HIGHLIGHT = "#D55E00"
HIGHLIGHT_FILL = "rgba(" + ",".join(str(int(HIGHLIGHT[i:i + 2], 16)) for i in (1, 3, 5)) + ",{})"  # at an opacity
TP_COLOUR, FP_COLOUR, FN_COLOUR = "#1f2937", "#E69F00", "#56B4E9"

# Okabe & Ito's eight colours, distinguishable with every common colour-vision deficiency
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

# plotly's mode bar, cut to what these charts use (zoom, pan, reset, save as PNG): its full nine buttons covered
# a narrow chart's title on hover, and box/lasso select do nothing here (a click selects)
CHART_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d",
                                                                  "autoScale2d"]}

MARGIN = dict(l=50, r=10, t=40, b=40)
FIXED_MARGIN = dict(MARGIN, autoexpand=False)  # for charts with nothing outside the plot: never a second draw
SPECTRUM_LEGEND_Y, SPECTRUM_BOTTOM = -0.24, 88  # paper fraction, pixels: see spectrum_plot
TOOLBAR_CLEAR = 64  # pixels of top margin that keep a two-line panel title clear of plotly's toolbar
COLORBAR_ROOM = 85  # pixels at the right for a vertical colour bar with its tick labels and title
LEGEND_CHAR_PX, LEGEND_MAX_CHARS = 7, 28  # a legend name's width per character (12 px font, generous); longest
LEGEND_MIN_CHARS = 12  # room for the legend's title and the rings' entry ("this window")
LEGEND_ITEM_PX = 75  # the rest of a right-hand legend's width: its gap to the plot, the marker, the padding
LEGEND_ROW_BOTTOM = 100  # a fixed bottom margin for an x-axis title and one legend row under it (legend y=-0.2)
# A thin frame shows where a mostly-white image ends.
FRAME = dict(showline=True, mirror=True, linecolor="#bbbbbb", linewidth=1)
MAX_OVERVIEW_COLUMNS = 3000

# Error-map codes; white for true negatives keeps the eye on the mistakes.
_TN, _TP, _FP, _FN = 0, 1, 2, 3
# the words the reconstruction's legend uses (right, extra, missed), in every hover and every chart
_ERROR_NAMES = {_TN: "silent", _TP: "right", _FP: "extra", _FN: "missed"}

_NAMES = [note_name(p) for p in range(128)]


def note_ticks(lo: int = 0, hi: int = 127) -> tuple[list[int], list[str]]:
    """Positions and names of every C between pitches lo and hi inclusive."""
    first = -(-max(lo, 0) // 12) * 12  # round up to the next C
    pos = list(range(first, min(hi, 127) + 1, 12))
    return pos, [_NAMES[p] for p in pos]


# ---------------------------------------------------------------------------------------------
# Shared helpers

def _discrete_colorscale(colours: list[str]) -> list[list]:
    """A stepped colorscale so integer codes 0..n-1 (with zmin=0, zmax=n-1) map to flat colours."""
    n = len(colours)
    if n == 1:
        return [[0.0, colours[0]], [1.0, colours[0]]]
    scale = []
    for i, c in enumerate(colours):
        lo, hi = max(0.0, (i - 0.5) / (n - 1)), min(1.0, (i + 0.5) / (n - 1))
        scale += [[lo, c], [hi, c]]
    return scale


_BINARY = _discrete_colorscale([BACKGROUND, NOTE])


# plotly_white's layout without its per-trace defaults. A figure copies its template when it is made
# and again when the template is replaced: with the full template (or Streamlit's default one, which
# plotly applies first) that copying was a third of the dashboard's figure-building time.
# Axis margins are fixed per figure (MARGIN and friends) rather than automatic: plotly's automargin
# measures every tick label and then draws the whole figure a second time, which cost the browser
# about half a second per page without a GPU.
_TEMPLATE = go.layout.Template(layout=pio.templates["plotly_white"].layout)
_TEMPLATE.layout.xaxis.automargin = False
_TEMPLATE.layout.yaxis.automargin = False


def _figure(data=None) -> go.Figure:
    """A figure born with the dashboard's template, so no default template is copied in first.

    Without plotly's validation: it was half of the time these figures took to build (rebuilt on every window
    step and click). The tests put every builder's figure through validation and compare the result.
    """
    return go.Figure(data=data, layout=dict(template=_TEMPLATE), _validate=False)


def _subplots(**kwargs) -> go.Figure:
    """make_subplots on a figure born with the dashboard's template."""
    return make_subplots(figure=_figure(), **kwargs)


def _nested(layout: dict) -> dict:
    """plotly's magic underscores spelled out, recursively ("title_text" -> {"title": {"text": ...}}): a figure
    made without validation takes its layout as it is given."""
    out: dict = {}
    for key, value in layout.items():
        if isinstance(value, dict):
            value = _nested(value)
        *path, last = key.split("_")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = _merged(node[last], value) if isinstance(value, dict) and isinstance(node.get(last), dict) \
            else value
    return out


def _merged(base: dict, extra: dict) -> dict:
    """base with extra laid over it, dicts merged key by key (as update_layout merges), other values replaced."""
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def relayout(fig: go.Figure, **layout) -> go.Figure:
    """What fig.update_layout(**layout) gives, as a new figure with the same traces, in a twentieth of the time.

    update_layout validates every value and records each key path for the browser's relayout: ~30 ms a call
    here, three or four calls per figure, for every figure rebuilt on a window step or a click. A figure made
    without validation from the merged layout takes ~2 ms; the tests validate every builder's figure and
    compare its JSON."""
    base = fig.layout.to_plotly_json()
    if "template" in base:  # the object itself: as JSON it would be copied and read back
        base["template"] = fig.layout.template
    return go.Figure(data=fig.data, layout=_merged(base, _nested(layout)), _validate=False)


def _style(fig: go.Figure, title: str, height: int, **layout) -> go.Figure:
    """The dashboard's common look, so screenshots from different pages match (a new figure: see `relayout`)."""
    layout.setdefault("margin", dict(MARGIN))
    return relayout(fig, height=height, title=dict(text=title, x=0.01, xanchor="left", font=dict(size=14)),
                    hoverlabel=dict(font_size=12), **layout)


def add_shapes(fig: go.Figure, shapes: list[dict]) -> go.Figure:
    """The figure with shapes appended in one update (a new figure: see `relayout`); fig.add_shape validates and
    copies the layout once per shape (0.9 s for the PCA's rings around a window's 64 patches)."""
    return relayout(fig, shapes=list(fig.layout.to_plotly_json().get("shapes", [])) + list(shapes)) if shapes else fig


def _room_for_colorbar(fig: go.Figure) -> go.Figure:
    """A fixed right margin that holds a vertical colour bar (a new figure: see `relayout`).

    Left to grow (plotly's margin.autoexpand), the margins are measured after each draw and the whole chart
    drawn a second time: twice the browser's work on every update (a window step redrew the PCA twice).
    """
    return relayout(fig, margin=dict(r=COLORBAR_ROOM, autoexpand=False))


def _legend_swatch(name: str, colour: str, row: int | None = None, col: int | None = None,
                   fig: go.Figure | None = None, outline: bool = False) -> go.Scatter:
    """An empty scatter trace whose only job is a legend entry (heatmaps have no per-value legend)."""
    trace = go.Scatter(x=[None], y=[None], mode="markers", name=name, showlegend=True,
                       hoverinfo="skip",
                       marker=dict(symbol="square", size=12, color=colour,
                                   line=dict(color="#888", width=1) if outline else dict(width=0)))
    if fig is not None:
        fig.add_trace(trace, row=row, col=col)
    return trace


def _pitch_axis(lo: int, hi: int) -> dict:
    """Y-axis settings for a numeric pitch axis showing rows lo..hi."""
    pos, names = note_ticks(lo, hi)
    return dict(tickmode="array", tickvals=pos, ticktext=names, range=[lo - 0.5, hi + 0.5],
                title_text="pitch", zeroline=False, showgrid=False)


def _bar_tick_step(n_bars: float, max_ticks: int = 16) -> int:
    """Smallest readable bar interval: powers of two while phrases matter (1, 5, 9...), round numbers after."""
    for step in (1, 2, 4, 8, 16, 32, 64, 100, 200, 500, 1000, 2000, 5000):
        if n_bars / step <= max_ticks:
            return step
    return 10_000


def _max_pool_time(roll: np.ndarray, max_columns: int) -> tuple[np.ndarray, int]:
    """Max-pool the time axis by an integer factor so short notes survive downsampling."""
    T = roll.shape[1]
    factor = max(1, math.ceil(T / max_columns))
    if factor == 1:
        return roll, 1
    cols = math.ceil(T / factor)
    padded = np.zeros((roll.shape[0], cols * factor), dtype=roll.dtype)
    padded[:, :T] = roll
    return padded.reshape(roll.shape[0], cols, factor).max(axis=2), factor


# ---------------------------------------------------------------------------------------------
# Whole piece and window

def pitch_landmarks(lo: int, hi: int) -> tuple[list[int], list[str]]:
    """The labelled pitches of a lo..hi axis: its Cs, or its two ends where the range holds no C."""
    pos, names = note_ticks(lo, hi)
    return (pos, names) if pos else ([lo, hi], [_NAMES[lo], _NAMES[hi]])


def window_time_grid(start_step: int, width: int, steps_per_beat: int, beats_per_bar: int
                     ) -> tuple[list[str], list[int], list[tuple[int, str]]]:
    """A window's time axis: each column's "bar:beat.step", the columns labelled (bar starts, always the first,
    at most ~16) and the (column, "bar" | "beat") lines at column starts (no beat lines where they would merge)."""
    spb = max(steps_per_beat, 1)
    spbar = max(spb * beats_per_bar, 1)
    steps = start_step + np.arange(width)
    cats = [f"{s // spbar + 1}:{s % spbar // spb + 1}.{s % spb + 1}" for s in steps]
    dense = width / spb > 64
    lines = [(k, "bar" if s % spbar == 0 else "beat") for k, s in enumerate(steps)
             if s % spbar == 0 or (s % spb == 0 and not dense)]
    ticks = [k for k, s in enumerate(steps) if s % spbar == 0]
    if not ticks or ticks[0] != 0:
        ticks = [0] + ticks  # always say where the window starts
    return cats, ticks[::max(1, math.ceil(len(ticks) / 16))], lines


def overview_bar_ticks(n_bars: float) -> list[int]:
    """The bar numbers labelled under a whole-piece overview (at most ~16)."""
    return list(range(1, int(n_bars) + 2, _bar_tick_step(n_bars)))


def overview_raster(roll: np.ndarray) -> tuple[np.ndarray, int, int, int]:
    """(pooled, factor, lo, hi): a whole piece's used pitches lo..hi (two spare on each side) as 0/1 rows, lowest
    pitch first, its time max-pooled by `factor` to at most MAX_OVERVIEW_COLUMNS columns."""
    roll = np.asarray(roll)
    if roll.ndim != 2 or roll.shape[0] != 128:
        raise ValueError(f"expected a (128, T) roll, got shape {roll.shape}")
    rows = np.flatnonzero(roll.any(axis=1))
    if rows.size:
        lo, hi = max(0, int(rows[0]) - 2), min(127, int(rows[-1]) + 2)
    else:
        lo, hi = 48, 72  # an empty roll still gets a sensible two-octave frame around C4
    if roll.shape[1] == 0:
        roll = np.zeros((128, 1), dtype=np.uint8)
    pooled, factor = _max_pool_time((roll[lo:hi + 1] > 0).astype(np.uint8), MAX_OVERVIEW_COLUMNS)
    return pooled, factor, lo, hi


def roll_overview(roll: np.ndarray, steps_per_bar: int, window: tuple[int, int] | None = None,
                  title: str = "Whole piece", marks: list[tuple[int, int]] | None = None) -> go.Figure:
    """The whole piece as a heatmap in bar units, with the current window marked and clickable bars.

    `marks` are (start step, width) spans (e.g. a selected patch's nearest neighbours) drawn as outlines.
    """
    roll = np.asarray(roll)
    if steps_per_bar < 1:
        raise ValueError(f"steps_per_bar must be positive, got {steps_per_bar}")
    pooled, factor, lo, hi = overview_raster(roll)
    T = max(roll.shape[1], 1)

    # Note names as y categories make the hover say "C4" without a huge per-cell text array.
    ynames = _NAMES[lo:hi + 1]
    n_bars = T / steps_per_bar
    fig = _figure(go.Heatmap(
        z=pooled, x0=1 + factor / (2 * steps_per_bar), dx=factor / steps_per_bar, y=ynames,
        colorscale=_BINARY, zmin=0, zmax=1, showscale=False, name="roll",
        hovertemplate="%{y} · bar %{x:.1f}<extra></extra>"))

    # One point per bar on a hidden overlay axis pinned to the bottom edge: clicking one
    # comes back through Streamlit's selection with customdata = 0-based bar index.
    bar_idx = np.arange(math.ceil(n_bars))
    fig.add_trace(go.Scatter(
        x=bar_idx + 1, y=np.full(bar_idx.size, 0.04), yaxis="y2", mode="markers", name="bars",
        customdata=bar_idx, text=[str(i + 1) for i in bar_idx], showlegend=False,
        hovertemplate="bar %{text}<extra></extra>",
        # Thousands of bars would merge into a solid line, so shrink and fade them on long pieces.
        marker=dict(size=6 if bar_idx.size <= 200 else 3, color=HIGHLIGHT,
                    opacity=0.35 if bar_idx.size <= 200 else 0.2, symbol="triangle-up")))

    shapes = []
    if window is not None:
        start, width = window
        shapes.append(dict(type="rect", name="window", xref="x", yref="y domain",
                           x0=1 + start / steps_per_bar, x1=1 + (start + width) / steps_per_bar, y0=0, y1=1,
                           fillcolor=HIGHLIGHT_FILL.format(0.18), line=dict(color=HIGHLIGHT, width=2)))
    for k, (m_start, m_width) in enumerate(marks or []):
        shapes.append(dict(type="rect", name="mark", xref="x", yref="y domain", x0=1 + m_start / steps_per_bar,
                           x1=1 + (m_start + m_width) / steps_per_bar, y0=0, y1=1,
                           fillcolor="rgba(31,119,180,0.15)", line=dict(color=MARK_COLOUR, width=1.5, dash="dot"),
                           label=dict(text=str(k + 1), textposition="top center",
                                      font=dict(size=9, color=MARK_COLOUR))))

    pos, names = pitch_landmarks(lo, hi)
    ticks = overview_bar_ticks(n_bars)
    return _style(
        fig, title, 260, shapes=shapes,
        xaxis=dict(title_text="bar", range=[1, 1 + n_bars], tickmode="array", tickvals=ticks,
                   ticktext=[str(t) for t in ticks], showgrid=False, zeroline=False, **FRAME),
        yaxis=dict(type="category", tickmode="array", tickvals=names, title_text="pitch",
                   showgrid=False, **FRAME),
        yaxis2=dict(overlaying="y", range=[0, 1], visible=False, fixedrange=True),
        showlegend=False, margin=dict(FIXED_MARGIN))


def window_roll(window: np.ndarray, start_step: int, steps_per_beat: int, beats_per_bar: int,
                title: str = "Window", highlight: list[tuple[int, int, int, int]] | None = None,
                pitch_range: tuple[int, int] | None = None, click_grid: int | tuple[int, int] | None = None) -> go.Figure:
    """One model-input window (128 x W) on a bar:beat grid, optionally with outlined rectangles.

    `pitch_range` (lo, hi) limits the visible rows (the data keep all 128, so zooming out works).
    `click_grid` g adds a faint dot at the centre of each patch of a g x g grid (customdata = the
    row-major patch index): plotly reports clicks on points, not on heatmap cells.
    """
    window = np.asarray(window)
    if window.ndim != 2 or window.shape[0] != 128:
        raise ValueError(f"expected a (128, W) window, got shape {window.shape}")
    W = window.shape[1]
    # unique "bar:beat.step" categories put the position in the hover without a 128 x W text array
    xcats, ticks, lines = window_time_grid(start_step, W, steps_per_beat, beats_per_bar)
    labels = [c.split(".")[0] for c in xcats]

    fig = _figure(go.Heatmap(
        z=(window > 0).astype(np.uint8), x=xcats, y=_NAMES[:128], name="window",
        colorscale=_BINARY, zmin=0, zmax=1, showscale=False, hovertemplate="%{y}  %{x}<extra></extra>"))

    # Lines sit on cell boundaries; drawn above the opaque heatmap but faint enough not to hide notes.
    style = {"bar": dict(color="rgba(0,0,0,0.40)", width=1.2), "beat": dict(color="rgba(0,0,0,0.13)", width=0.6)}
    shapes = [dict(type="line", name=kind, x0=k - 0.5, x1=k - 0.5, yref="y domain", y0=0, y1=1, line=style[kind])
              for k, kind in lines]
    # Half-open (row0, col0, row1, col1) like array slicing, so patch boxes butt up exactly.
    for r0, c0, r1, c1 in highlight or []:
        shapes.append(dict(type="rect", name="highlight", x0=c0 - 0.5, x1=c1 - 0.5, y0=r0 - 0.5, y1=r1 - 0.5,
                           line=dict(color=HIGHLIGHT, width=2.5), fillcolor=HIGHLIGHT_FILL.format(0.12)))
    if click_grid:
        gr, gc = (click_grid, click_grid) if isinstance(click_grid, (int, np.integer)) else click_grid
        size_r, size_c = 128 // gr, W // gc
        r, c = np.divmod(np.arange(gr * gc), gc)
        fig.add_trace(go.Scatter(
            x=[xcats[min(int(v), W - 1)] for v in c * size_c + size_c // 2],
            y=[_NAMES[min(int(v), 127)] for v in r * size_r + size_r // 2], mode="markers", name="patches",
            customdata=np.arange(gr * gc), showlegend=False,
            marker=dict(size=7, color=HIGHLIGHT, opacity=0.18, symbol="circle-open"),
            hovertemplate=f"patch %{{customdata}} of the {gr}×{gc} grid: click to select<extra></extra>"))

    lo, hi = pitch_range if pitch_range is not None else (0, 127)
    pos, names = note_ticks(lo, hi)
    # the shapes go in with the styling, in one update: plotly's cost per layout update grows with the shapes
    # already there (add_shape per line cost ~10 ms each)
    return _style(
        fig, title, 420 if pitch_range is None else 360, shapes=shapes,
        xaxis=dict(title_text="bar:beat", type="category", range=[-0.5, W - 0.5], tickmode="array",
                   tickvals=[xcats[k] for k in ticks], ticktext=[labels[k] for k in ticks], showgrid=False,
                   zeroline=False, **FRAME),
        yaxis=dict(type="category", range=[lo - 0.5, hi + 0.5], tickmode="array", tickvals=names,
                   title_text="pitch", showgrid=False, zeroline=False, **FRAME),
        margin=dict(FIXED_MARGIN))


# ---------------------------------------------------------------------------------------------
# Hierarchy levels

def level_masks(non_empty: list[np.ndarray], window: np.ndarray | None = None,
                titles: list[str] | None = None, highlight: dict[int, list[int]] | None = None) -> go.Figure:
    """One square panel per level showing which patches are non-empty, optionally over the notes.

    `highlight` maps a level to row-major patch indices to outline (a selected patch and its family).
    """
    grids = [np.asarray(ne).reshape(np.asarray(ne).shape[-2:]).astype(bool) for ne in non_empty]
    L = len(grids)
    if L == 0:
        raise ValueError("level_masks needs at least one level")
    if titles is None:
        titles = [f"Level {k}<br>{g.shape[0]}×{g.shape[1]}" for k, g in enumerate(grids)]
    extent = (window.shape[0], window.shape[1]) if window is not None else (128, 128)
    fig = _subplots(rows=1, cols=L, subplot_titles=titles, horizontal_spacing=0.12 / L)
    shapes = []
    if window is not None:
        # A transparent colour for zeros keeps the payload uint8 (NaN would need float64).
        notes = (np.asarray(window) > 0).astype(np.uint8)

    for k, g in enumerate(grids, start=1):
        gh, gw = g.shape
        ch, cw = extent[0] / gh, extent[1] / gw
        # Grids live in pixel coordinates so the window's notes line up under every level.
        r0 = (np.arange(gh) * ch).astype(int)
        r1 = (np.arange(1, gh + 1) * ch).astype(int) - 1
        c0 = (np.arange(gw) * cw).astype(int)
        c1 = (np.arange(1, gw + 1) * cw).astype(int) - 1
        pitch = extent[0] == 128
        text = [[(f"pitch {_NAMES[r0[i]]}–{_NAMES[r1[i]]}" if pitch else f"rows {r0[i]}–{r1[i]}")
                 + f"<br>steps {c0[j]}–{c1[j]}<br>{'non-empty' if g[i, j] else 'empty'}"
                 for j in range(gw)] for i in range(gh)]
        fig.add_trace(go.Heatmap(
            z=g.astype(np.uint8), x0=cw / 2 - 0.5, dx=cw, y0=ch / 2 - 0.5, dy=ch, name=f"level {k - 1}",
            colorscale=_discrete_colorscale([EMPTY, NON_EMPTY]), zmin=0, zmax=1, showscale=False,
            xgap=0.5 if gw <= 16 else 0, ygap=0.5 if gh <= 16 else 0,  # gaps swamp fine grids
            text=text, hovertemplate="%{text}<extra></extra>"), row=1, col=k)
        if window is not None:
            fig.add_trace(go.Heatmap(
                z=notes, colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0.85)"]], zmin=0, zmax=1, showscale=False,
                name="notes", hoverinfo="skip"), row=1, col=k)
        ax = "x" if k == 1 else f"x{k}"
        for n in (highlight or {}).get(k - 1, []):
            i, j = divmod(int(n), gw)
            shapes.append(dict(type="rect", name="highlight", xref=ax, yref="y" if k == 1 else f"y{k}",
                               x0=j * cw - 0.5, x1=(j + 1) * cw - 0.5, y0=i * ch - 0.5, y1=(i + 1) * ch - 0.5,
                               line=dict(color=HIGHLIGHT, width=2), fillcolor="rgba(0,0,0,0)"))
        fig.update_xaxes(range=[-0.5, extent[1] - 0.5], showticklabels=False, showgrid=False,
                         zeroline=False, constrain="domain", row=1, col=k)
        fig.update_yaxes(range=[-0.5, extent[0] - 0.5], showticklabels=False, showgrid=False,
                         zeroline=False, scaleanchor=ax, scaleratio=1, constrain="domain", row=1, col=k)

    _legend_swatch("non-empty", NON_EMPTY, 1, 1, fig)
    _legend_swatch("empty", EMPTY, 1, 1, fig)
    if window is not None:
        _legend_swatch("notes", NOTE, 1, 1, fig)
    fig.update_annotations(font_size=12)
    # no axis labels here, so no left gutter
    # the top margin keeps the last panel's title clear of plotly's toolbar (in the HTML export and on hover)
    fig = _style(fig, "", 280, legend=dict(orientation="h", x=0.5, xanchor="center", y=-0.02, yanchor="top"),
                 margin=dict(l=10, r=10, t=TOOLBAR_CLEAR, b=35))
    return add_shapes(fig, shapes)


# ---------------------------------------------------------------------------------------------
# Reconstruction

def error_codes(original: np.ndarray, binary: np.ndarray) -> np.ndarray:
    """Per-pixel codes: 0 true negative, 1 true positive, 2 false positive, 3 false negative."""
    o, b = np.asarray(original) > 0, np.asarray(binary) > 0
    err = np.full(o.shape, _TN, dtype=np.uint8)
    err[o & b] = _TP
    err[~o & b] = _FP
    err[o & ~b] = _FN
    return err


def _to_pixels(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Blow a per-patch mask up to pixels when it arrives on the patch grid."""
    mask = np.asarray(mask).astype(bool)
    if mask.shape == shape:
        return mask
    return np.kron(mask, np.ones((shape[0] // mask.shape[0], shape[1] // mask.shape[1]), dtype=bool))


def _bar_axis(width: int, bars: tuple[int, int] | None) -> dict:
    """x-axis settings that number a window's bars under it: `bars` is (the window's first step, steps per bar);
    ticks sit on the bar lines, at the left edge of each bar's first step (as on the images)."""
    if bars is None:
        return {"showticklabels": False}
    ticks = bar_ticks(bars[0], width, bars[1])
    return {"showticklabels": True, "tickmode": "array", "tickvals": [f * width - 0.5 for f, _ in ticks],
            "ticktext": [label for _, label in ticks], "ticks": "outside", "ticklen": 3, "tickfont": {"size": 10}}


def reconstruction_row(original: np.ndarray, hidden: np.ndarray, probs: np.ndarray, binary: np.ndarray,
                       threshold: float, pitch_range: tuple[int, int] | None = None,
                       bars: tuple[int, int] | None = None) -> go.Figure:
    """Original, masked input, probabilities, binarized output and error map side by side.

    The legend's TP/FP/FN counts are over the masked patches' pixels, like the headline scores. With `bars`
    (the window's first step, steps per bar) each panel is numbered by its bars, as the images are.
    """
    original = (np.asarray(original) > 0)
    H, W = original.shape
    if H > 128:
        raise ValueError(f"expected at most 128 pitch rows, got {H}")
    hidden = _to_pixels(hidden, (H, W))
    probs = np.asarray(probs, dtype=np.float32)  # float32 halves the payload; hover shows 2 decimals
    binary = np.asarray(binary) > 0
    err = error_codes(original, binary)
    counts = {c: int(((err == c) & hidden).sum()) for c in _ERROR_NAMES}

    # The model never sees hidden pixels, so their notes are replaced by the mask colour.
    masked = np.where(hidden, 2, original.astype(np.uint8)).astype(np.uint8)
    names_all = _NAMES[:H]
    if pitch_range is not None:  # send only the rows on show: a third of the payload for a typical piece
        lo_r, hi_r = max(0, pitch_range[0]), min(H - 1, pitch_range[1])
        rows = slice(lo_r, hi_r + 1)
        original, masked, probs, binary, err = (a[rows] for a in (original, masked, probs, binary, err))
        names_all = names_all[rows]
        H = hi_r - lo_r + 1

    def swatch(colour: str) -> str:
        return f'<span style="color:{colour}">■</span>'

    # The panels name their colours in their titles (a legend row under five panels crowded the colour bar).
    titles = ["Original", f"Masked input ({swatch(MASKED)} hidden)", "Probabilities",
              f"Binarized (>{threshold:.2f}), pasted",
              # two lines: on one, the counts ran past the figure's right edge
              f"Errors in hidden patches<br>{swatch(TP_COLOUR)} {counts[_TP]:,} right "
              f"{swatch(FP_COLOUR)} {counts[_FP]:,} extra {swatch(FN_COLOUR)} {counts[_FN]:,} missed"]
    # Built as a plain specification: this figure is rebuilt on every mask change, and plotly's
    # validation of five heatmaps took ~70 ms of the ~200 ms a new mask costs the server. The tests
    # check that the result passes plotly's validation.
    layout = _row_layout(5, 0.035)
    for k, t in enumerate(titles):
        layout["annotations"][k].update(text=t, yshift=4)  # clear of the frame line
    frame = dict(showgrid=False, zeroline=False, **FRAME)
    for k in range(1, 6):
        sfx = "" if k == 1 else str(k)
        layout["xaxis" + sfx].update(range=[-0.5, W - 0.5], **_bar_axis(W, bars), **frame,
                                     **({} if k == 1 else {"matches": "x"}))
        layout["yaxis" + sfx].update(type="category", range=[-0.5, H - 0.5], **frame,
                                     **({} if k == 1 else {"matches": "y"}))
    # no square-pixel constraint: a zoomed pitch range would shrink the panels to slivers
    _, tick_names = note_ticks(0, H - 1)
    lo = pitch_range[0] if pitch_range is not None else 0
    layout["yaxis"].update(tickmode="array", tickvals=note_ticks(lo, lo + H - 1)[1] or tick_names,
                           title=dict(text="pitch"))
    # fixed margins (the colour bar fits in the bottom one): growing ones meant a second draw per update; the top
    # one holds the error panel's two title lines under plotly's toolbar, which otherwise covered them
    layout.update(template=_TEMPLATE, height=350, margin=dict(l=50, r=10, t=TOOLBAR_CLEAR, b=50, autoexpand=False),
                  title=dict(text="", x=0.01, xanchor="left", font=dict(size=14)), hoverlabel=dict(font_size=12),
                  showlegend=False)
    x3 = layout["xaxis3"]["domain"]

    # Note names as y categories put "C4" in every hover without per-pixel text. The two categorical
    # panels name their codes in the hover itself: per-pixel labels made this figure, redrawn on every
    # mask change, ~30 ms slower to redraw in the browser.
    x = np.arange(W)
    value = "%{y} · step %{x}<br>%{z}<extra></extra>"

    def coded(names: list[str]) -> str:
        return "%{y} · step %{x}<br>%{z} (" + ", ".join(f"{i} {n}" for i, n in enumerate(names)) + ")<extra></extra>"

    def panel(k: int, **trace) -> dict:
        sfx = "" if k == 1 else str(k)
        return dict(type="heatmap", x=x, y=names_all, showscale=False, xaxis="x" + sfx, yaxis="y" + sfx, **trace)

    data = [
        panel(1, z=original.astype(np.uint8), name="Original", colorscale=_BINARY, zmin=0, zmax=1,
              hovertemplate=value),
        panel(2, z=masked, name="Masked input", colorscale=_discrete_colorscale([BACKGROUND, NOTE, MASKED]),
              zmin=0, zmax=2, hovertemplate=coded(["silent", "note", "masked"])),
        panel(3, z=probs, name="Reconstruction probabilities", colorscale="Viridis", zmin=0, zmax=1,
              hovertemplate="%{y} · step %{x}<br>p = %{z:.2f}<extra></extra>",
              # under its own panel, so the scale reads as the probabilities' and not the error map's
              colorbar=dict(orientation="h", thickness=8, len=x3[1] - x3[0], lenmode="fraction",
                            x=(x3[0] + x3[1]) / 2, xanchor="center", y=-0.04, yanchor="top",
                            tickvals=[0, 0.5, 1], tickfont=dict(size=10), xpad=0, ypad=0)),
        panel(4, z=binary.astype(np.uint8), name="Binarized", colorscale=_BINARY, zmin=0, zmax=1,
              hovertemplate=value),
        panel(5, z=err, name="Errors",
              colorscale=_discrete_colorscale([BACKGROUND, TP_COLOUR, FP_COLOUR, FN_COLOUR]), zmin=0, zmax=3,
              hovertemplate=coded([_ERROR_NAMES[c] for c in (_TN, _TP, _FP, _FN)])),
    ]
    data[2]["showscale"] = True
    return go.Figure(dict(data=data, layout=layout), _validate=False)


@functools.lru_cache(maxsize=8)
def _row_layout_json(cols: int, spacing: float, shared_y: bool = True) -> str:
    """Axes domains and title annotations of a one-row subplot grid, as make_subplots lays them out."""
    fig = make_subplots(rows=1, cols=cols, subplot_titles=[" "] * cols, horizontal_spacing=spacing,
                        shared_yaxes=shared_y)
    fig.update_annotations(font_size=12)
    layout = fig.layout.to_plotly_json()
    layout.pop("template", None)
    return json.dumps(layout)


def _row_layout(cols: int, spacing: float, shared_y: bool = True) -> dict:
    """A fresh copy of the one-row subplot layout, to fill in."""
    return json.loads(_row_layout_json(cols, spacing, shared_y))


# ---------------------------------------------------------------------------------------------
# PCA

def _luminance(hex_colour: str) -> float:
    """Relative luminance (WCAG) of "#RRGGBB": 0 black, 1 white."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(int(hex_colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def on_dark(hex_colour: str, least: float = 0.06) -> str:
    """A category colour as a dark theme's ground shows it: one darker than `least` (Okabe & Ito's black, a navy)
    mixed 70 % with white (black becomes a light grey, apart from DISTINCT_20's mid grey), so that its points are
    not lost on the ground; others as they are."""
    if _luminance(hex_colour) >= least:
        return hex_colour
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(c + 0.7 * (255 - c)):02x}" for c in (r, g, b))


# Green-Armytage's 26 colours of maximal contrast (plotly's Alphabet) without the five too pale to see on white
MANY_CATEGORIES = [c for c in qualitative.Alphabet if _luminance(c) <= 0.6]
# 9 to 20 categories: picked greedily, each the farthest (CIEDE2000) from those before it, from the Alphabet, Kelly's
# 22, Dark24, T10, D3, Bold and Vivid, none paler than MANY_CATEGORIES' limit nor near the map's grey for "other":
# the closest pair of the first 11 is 26.6 apart (T10's ten: 18.1; the Alphabet's first eleven: 11.8, a purple and a
# magenta that an eleven-collection map could not tell apart)
DISTINCT_20 = ["#0072B2", "#F3C300", "#FC0080", "#6C4516", "#008856", "#2ED9FF", "#620042", "#DEA0FD", "#EB663B",
               "#000000", "#AA0DFE", "#0D2A63", "#7F7F7F", "#8DB600", "#FF9DA6", "#2B3D26", "#AF0038", "#B68100",
               "#875692", "#6C7C32"]


def category_colours(values: list) -> dict:
    """Stable colours per category; booleans reuse the non-empty/empty colours used elsewhere."""
    if set(values) <= {True, False}:
        return {True: NON_EMPTY, False: EMPTY}
    # Okabe-Ito (colour-blind-safe) where it suffices; more categories take another palette as a whole, since
    # appending a second palette to the first brought near-twins: DISTINCT_20 up to twenty, then the alphabet's
    # darker colours
    palette = (OKABE_ITO if len(values) <= len(OKABE_ITO) else DISTINCT_20 if len(values) <= len(DISTINCT_20)
               else MANY_CATEGORIES + qualitative.Dark24)
    return {v: palette[i % len(palette)] for i, v in enumerate(values)}


def pca_scatter(coords: np.ndarray, color: np.ndarray, color_label: str, categorical: bool = False,
                hover: list[str] | None = None, title: str = "", dims: int = 2,
                highlight: np.ndarray | None = None, category_names: dict | None = None,
                highlight_name: str = "this window", axis_prefix: str = "PC",
                point_data: np.ndarray | None = None, share: np.ndarray | None = None,
                highlight_rings: bool = False, shapes: list[dict] | None = None,
                categories_at_right: bool = False, pitch_colours: bool = False,
                more_rings: np.ndarray | None = None) -> go.Figure:
    """2-D or 3-D scatter of PCA coordinates coloured by a value or category.

    Each point's customdata is its row of `point_data` (n, k) when given (what a click on it means, e.g.
    window, patch and level), else its index. `share` (each component's share of the variance) goes into
    the axis titles. With `highlight_rings` (2-D) the highlighted points are ringed by layout shapes rather
    than drawn again as a trace, so the traces do not depend on which points are highlighted. `shapes` are more
    layout shapes drawn above the points (e.g. marks of a selection's neighbours). With `pitch_colours` the colour
    values are MIDI pitches, and the colour bar names them as the page does (C3, C4, …). `more_rings` (m, 2) are
    further places to ring with the highlighted points (ones not among the points drawn).
    """
    coords = np.asarray(coords, dtype=float)
    if dims not in (2, 3):
        raise ValueError(f"dims must be 2 or 3, got {dims}")
    if coords.ndim != 2 or coords.shape[1] < dims:
        raise ValueError(f"need coordinates of shape (n, >={dims}), got {coords.shape}")
    n = coords.shape[0]
    color = np.asarray(color)
    if color.shape[0] != n:
        raise ValueError(f"color has {color.shape[0]} values for {n} points")
    hover_arr = np.array(hover if hover is not None else [f"#{i}" for i in range(n)], dtype=object)
    idx_all = np.arange(n)
    # SVG, not WebGL, in 2-D: without a GPU a WebGL plot costs a browser ~0.3 s to set up, and a few
    # thousand SVG markers draw faster than that
    Trace = go.Scatter3d if dims == 3 else go.Scatter
    size = 3 if dims == 3 else 5  # 3-D markers read larger because of perspective

    def points(idx: np.ndarray) -> dict:
        xyz = dict(x=coords[idx, 0], y=coords[idx, 1])
        if dims == 3:
            xyz["z"] = coords[idx, 2]
        return dict(**xyz, customdata=idx if point_data is None else np.asarray(point_data)[idx],
                    hovertext=hover_arr[idx], mode="markers")

    fig = _figure()
    cat_colours: dict = {}
    if categorical:
        values = [v.item() if hasattr(v, "item") else v for v in np.unique(color)]
        # colours by every named category, present or not: a category keeps its colour when another is absent
        cat_colours = category_colours(sorted(set(values) | set(category_names or {})))
        names = category_names or {}
        for v in values:
            idx = idx_all[color == v]
            name = str(names.get(v, v))
            if len(name) > LEGEND_MAX_CHARS:  # the legend's margin is sized to the longest name
                name = name[:LEGEND_MAX_CHARS - 1] + "…"
            fig.add_trace(Trace(**points(idx), name=name,
                                hovertemplate="%{hovertext}<extra>%{fullData.name}</extra>",
                                marker=dict(size=size, color=cat_colours[v], opacity=0.7)))
    else:
        cvals = color.astype(float)
        cmin, cmax = (float(np.nanmin(cvals)), float(np.nanmax(cvals))) if n else (0.0, 1.0)
        pitch_bar: dict = {}
        if pitch_colours:  # every C in range, or both ends where the range holds none
            vals, names = note_ticks(int(np.ceil(cmin)), int(np.floor(cmax)))
            if not vals:
                vals = sorted({int(round(cmin)), int(round(cmax))})
                names = [_NAMES[min(max(v, 0), 127)] for v in vals]
            pitch_bar = dict(tickmode="array", tickvals=vals, ticktext=names)
        fig.add_trace(Trace(**points(idx_all), name=color_label, showlegend=False,
                            hovertemplate=f"%{{hovertext}}<br>{color_label} = %{{marker.color:.3g}}<extra></extra>",
                            marker=dict(size=size, color=cvals, colorscale="Viridis", cmin=cmin, cmax=cmax,
                                        opacity=0.7, colorbar=dict(title=dict(text=color_label, side="right"),
                                                                   thickness=12, **pitch_bar))))

    if highlight_rings and dims == 2:
        idx = idx_all[np.asarray(highlight, dtype=bool)] if highlight is not None else idx_all[:0]
        r = size + 2  # pixels: a ring just outside the point, the same at every zoom
        ring = dict(type="circle", name="highlight", xref="x", yref="y", xsizemode="pixel", ysizemode="pixel",
                    x0=-r, x1=r, y0=-r, y1=r, line=dict(color=HIGHLIGHT, width=2), layer="above")
        places = coords[idx, :2] if more_rings is None else np.concatenate([coords[idx, :2], more_rings[:, :2]])
        shapes = [dict(ring, xanchor=float(x), yanchor=float(y)) for x, y in places] + list(shapes or [])
        # what the rings mean, in the legend: a trace with no points, always there (only its legend entry
        # comes and goes), so the traces stay the same whatever is ringed
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=highlight_name,
                                 showlegend=bool(len(places)), hoverinfo="skip",
                                 marker=dict(size=size * 2, color="rgba(0,0,0,0)",
                                             line=dict(color=HIGHLIGHT, width=2))))
    elif highlight is not None and np.any(highlight):
        idx = idx_all[np.asarray(highlight, dtype=bool)]
        if categorical:
            hcol: object = [cat_colours[v.item() if hasattr(v, "item") else v] for v in color[idx]]
            extra: dict = {}
        else:
            hcol = color[idx].astype(float)
            extra = dict(colorscale="Viridis", cmin=cmin, cmax=cmax)
        # Added last so it draws on top of the ordinary points.
        fig.add_trace(Trace(**points(idx), name=highlight_name, showlegend=True,
                            hovertemplate="%{hovertext}<extra>" + highlight_name + "</extra>",
                            marker=dict(size=size * 2, color=hcol, opacity=1.0,
                                        line=dict(color=HIGHLIGHT, width=2), **extra)))

    names = [f"{axis_prefix}{i + 1}" + (f" ({100 * share[i]:.0f}%)" if share is not None and i < len(share) else "")
             for i in range(dims)]
    if dims == 3:
        # few, small ticks: the scene's default tick labels overlapped and ran out of frame
        ax = dict(nticks=4, tickfont=dict(size=16), title_font=dict(size=16))
        layout = dict(scene=dict(xaxis=dict(ax, title_text=names[0]), yaxis=dict(ax, title_text=names[1]),
                                 zaxis=dict(ax, title_text=names[2])))
    else:
        layout = dict(xaxis=dict(title_text=names[0], zeroline=False),
                      yaxis=dict(title_text=names[1], zeroline=False))
    # The legend sits under the plot, clear of the title above it and of a colour bar at the right; on a wide
    # chart (`categories_at_right`) categories are listed at the right instead, a column that scrolls when long,
    # in a fixed margin sized to their names (an under-the-plot legend of many categories wraps to an unknown
    # number of rows, so its margin can only grow, and plotly then draws the chart twice).
    at_right = categorical and categories_at_right and dims == 2
    legend = dict(orientation="h", x=0, xanchor="left", y=-0.2, yanchor="top", itemsizing="constant",
                  title=dict(text=color_label if categorical else ""))
    if at_right:
        legend.update(orientation="v", x=1.02, y=1, yanchor="top")
    elif categorical and sum(t.showlegend is not False for t in fig.data) > 2:
        # two entries a row, the title on its own above them: plotly wraps a row of entries at the figure's width,
        # not the plot's, and a half-width chart's four categories ran past its right edge ("this window: mask")
        legend.update(entrywidth=0.5, entrywidthmode="fraction", title=dict(text=color_label, side="top left"))
    margin = dict(l=50, r=10, t=40, b=70)
    if dims == 2 and not categorical:
        # as _room_for_colorbar; the fixed bottom margin holds the axis title and, under it, the legend's one row
        margin.update(r=COLORBAR_ROOM, b=LEGEND_ROW_BOTTOM, autoexpand=False)
    elif at_right:
        entries = [str(t.name) for t in fig.data if t.showlegend is not False] + [color_label]
        chars = max(LEGEND_MIN_CHARS, *map(len, entries))
        margin.update(r=LEGEND_ITEM_PX + LEGEND_CHAR_PX * chars, b=50, autoexpand=False)
    if dims == 3:
        # A 3-D scene has no axis gutters to keep; pull the camera back so tick labels stay in frame.
        margin = dict(l=0, r=0, t=40, b=50)
        layout["scene"]["camera"] = dict(eye=dict(x=1.75, y=1.75, z=1.0))
    if shapes:  # last, with everything else in one layout
        layout["shapes"] = list(shapes)
    return _style(fig, title, 420, legend=legend, margin=margin, **layout)


def explained_variance(ratios: np.ndarray, title: str = "Explained variance") -> go.Figure:
    """Per-component explained variance as bars with the cumulative share as a line, in percent."""
    pct = np.asarray(ratios, dtype=float) * 100
    labels = [f"PC{i + 1}" for i in range(pct.size)]
    fig = _figure([
        go.Bar(x=labels, y=pct, name="per component", marker_color="#4c78a8",
               hovertemplate="%{x}: %{y:.1f}%<extra></extra>"),
        go.Scatter(x=labels, y=np.cumsum(pct), name="cumulative", mode="lines+markers",
                   line=dict(color=HIGHLIGHT, width=2), marker=dict(size=5),
                   hovertemplate="up to %{x}: %{y:.1f}%<extra></extra>"),
    ])
    return _style(fig, title, 260,
                  xaxis=dict(title_text="component", type="category"),
                  yaxis=dict(title_text="variance explained", ticksuffix="%", rangemode="tozero"),
                  # Mid-right is empty in a variance plot: bars are short there, the cumulative line high.
                  legend=dict(x=0.99, xanchor="right", y=0.45, yanchor="middle", bgcolor="rgba(255,255,255,0.8)"))


# ---------------------------------------------------------------------------------------------
# Structure: self-similarity, trajectories, probes, spectra

def _grid_text(grid: int | tuple[int, int]) -> str:
    """'rows×cols' of a level's grid, given as a side or as (rows, cols)."""
    rows, cols = (grid, grid) if isinstance(grid, (int, np.integer)) else grid
    return f"{rows}×{cols}"


def _level_name(k: int, grids: list | None) -> str:
    """'level k (rows×cols)'; without grids the usual doubling from a 1×1 top is assumed."""
    return f"level {k} ({_grid_text(grids[k] if grids is not None else 2 ** k)})"


def similarity_matrix(sim: np.ndarray, positions: np.ndarray, title: str = "Self-similarity",
                      label: str = "bar") -> go.Figure:
    """Square heatmap of a (W, W) similarity matrix over windows at numeric `positions` (e.g. start bars).

    Both axes are the positions themselves, so a click on a cell reports the windows' positions.
    """
    sim = np.asarray(sim, dtype=np.float32)  # float32 halves the embedded payload
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {sim.shape}")
    pos = np.asarray(positions, dtype=float)
    if len(pos) != sim.shape[0]:
        raise ValueError(f"{len(pos)} positions for a {sim.shape[0]}×{sim.shape[0]} matrix")
    off = sim[~np.eye(len(sim), dtype=bool)]
    # Trained embeddings often all sit above 0.8; a fixed [-1, 1] scale would paint them one colour.
    zmin = float(off.min()) if off.size else -1.0
    fig = _figure(go.Heatmap(
        z=sim, x=pos, y=pos, name="similarity", colorscale="Viridis", zmin=min(zmin, 0.999), zmax=1.0,
        hovertemplate=f"{label} %{{y:.4g}} vs {label} %{{x:.4g}}<br>cosine %{{z:.3f}}<extra></extra>",
        colorbar=dict(title=dict(text="cosine", side="right"), thickness=10)))
    # window starts as ticks, about ten of them, from the first (bar 1, or a PNG roll's step 0) at whole multiples
    # of the windows' spacing: plotly's own choice gave "0.5, 1.5" on a short piece
    span = float(pos.max() - pos.min()) if len(pos) else 0.0
    gaps = np.diff(pos)
    whole = len(gaps) and np.allclose(gaps, np.round(gaps)) and (gaps > 0).all()
    unit = float(max(np.gcd.reduce(np.round(gaps).astype(int)), 1)) if whole else 1.0
    axis = dict(showgrid=False, zeroline=False, tickmode="linear", tick0=float(pos.min()) if len(pos) else 1,
                dtick=unit * max(1, int(np.ceil(span / 10 / unit))), **FRAME)
    return _room_for_colorbar(_style(
        fig, title, 420, xaxis=dict(axis, title_text=f"window start ({label})", constrain="domain"),
        yaxis=dict(axis, title_text=f"window start ({label})", scaleanchor="x", scaleratio=1, constrain="domain",
                   autorange="reversed"),
        margin=dict(l=60, r=10, t=40, b=50)))


def trajectory(coords: np.ndarray, times: np.ndarray, title: str = "Path through the piece",
               time_label: str = "bar", hover: list[str] | None = None) -> go.Figure:
    """2-D path through PCA space in time order: a faint line and markers coloured by time, start and end marked."""
    coords = np.asarray(coords, dtype=float)
    times = np.asarray(times, dtype=float)
    if coords.ndim != 2 or coords.shape[1] < 2:
        raise ValueError(f"need coordinates of shape (n, >=2), got {coords.shape}")
    if len(times) != len(coords):
        raise ValueError(f"{len(times)} times for {len(coords)} points")
    order = np.argsort(times, kind="stable")
    xy, t = coords[order, :2], times[order]
    text = np.array(hover if hover is not None else [f"{time_label} {v:.4g}" for v in times], dtype=object)[order]
    colorbar = dict(title=dict(text=time_label, side="right"), thickness=10)
    if len(t) and np.all(t == np.round(t)):  # whole bars: whole-numbered ticks (plotly's own step can be 0.5)
        colorbar.update(tick0=t.min(), dtick=max(1, int(np.ceil((t.max() - t.min()) / 5))))
    fig = _figure([
        go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="lines", name="path", showlegend=False, hoverinfo="skip",
                   line=dict(color="rgba(80,80,80,0.45)", width=1)),
        go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", name="windows", showlegend=False,
                   customdata=order, hovertext=text,
                   hovertemplate=f"%{{hovertext}}<br>{time_label} %{{marker.color:.4g}}<extra></extra>",
                   marker=dict(size=7, color=t, colorscale="Viridis", opacity=0.9, colorbar=colorbar)),
    ])
    if len(xy):  # pointing from opposite sides: a path that ends where it began keeps both labels readable
        for name, (x, y), (ax, ay) in (("start", xy[0], (22, -22)), ("end", xy[-1], (-22, 22))):
            fig.add_annotation(x=x, y=y, text=name, name=name, showarrow=True, arrowhead=2, ax=ax, ay=ay,
                               font=dict(size=11, color=HIGHLIGHT), arrowcolor=HIGHLIGHT)
    # "5e-9", not plotly's "5n": a spread that small is a finding, not a unit
    axes = [dict(title_text=f"PC{i + 1}", zeroline=False, exponentformat="e") for i in range(2)]
    spans = np.ptp(xy, axis=0) if len(xy) else np.zeros(2)
    for i in range(2):  # a component along which the windows do not move is drawn flat, not magnified into a shape
        if 0 < spans.max() and spans[i] < 1e-3 * spans.max():
            mid = float(xy[:, i].min() + xy[:, i].max()) / 2
            axes[i]["range"] = [mid - spans.max() / 2, mid + spans.max() / 2]
    return _room_for_colorbar(_style(fig, title, 400, xaxis=axes[0], yaxis=axes[1]))


def probe_lines(shifts, values: np.ndarray, title: str = "Probe", xlabel: str = "shift",
                grids: list[int] | None = None, floor: float | None = None) -> go.Figure:
    """Mean cosine similarity against shift, one line per level (coarsest first). `floor`: the lowest value the
    y-axis must show (charts drawn side by side share one range so that their heights compare)."""
    values = np.asarray(values, dtype=float)
    shifts = list(shifts)
    if values.ndim != 2 or values.shape[0] != len(shifts):
        raise ValueError(f"expected values of shape ({len(shifts)}, levels), got {values.shape}")
    L = values.shape[1]
    palette = OKABE_ITO  # one colour per level, colour-blind-safe
    fig = _figure()
    for k in range(L):
        name = _level_name(k, grids)
        # NaN marks shifts where a measure is undefined (aligned: not a multiple of the patch size); the line
        # joins only the points where it is defined, so no point of another measure stands in for them
        # not clipped at the axis: the axis ends at a cosine's 1, where the lines at 1 would draw half markers
        fig.add_trace(go.Scatter(x=shifts, y=values[:, k], mode="lines+markers", name=name, connectgaps=True,
                                 cliponaxis=False,
                                 line=dict(width=2, color=palette[k % len(palette)]), marker=dict(size=4),
                                 hovertemplate=f"{name}<br>{xlabel} %{{x}}<br>cosine %{{y:.3f}}<extra></extra>"))
    vmin = float(np.nanmin(values)) if np.isfinite(values).any() else 0.0
    vmin = vmin if floor is None else min(vmin, float(floor))
    if vmin < 0:  # a negative value opens the axis to -1
        y_range = [-1.0, 1.0]
    else:  # fitted to the lines (levels all near 1 on a 0-1 axis drew as one line), and no tick past a cosine's 1
        pad = max(0.005, 0.08 * (1.0 - vmin))
        y_range = [vmin - pad, 1.0]
    return _style(fig, title, 340, xaxis=dict(title_text=xlabel, zeroline=True, zerolinecolor="#ccc"),
                  yaxis=dict(title_text="mean cosine similarity", range=y_range),
                  legend=dict(orientation="h", x=0, y=-0.22, yanchor="top"))


def spectrum_plot(spec: list[dict], title: str = "Spectrum", grids: list[int] | None = None) -> go.Figure:
    """Per level: singular values on log axes (left), cumulative explained variance with a dashed 90% line (right)."""
    # A plain specification, like reconstruction_row: make_subplots, update_xaxes and add_hline took ~170 ms
    # of a new piece's run on a loaded machine; the tests check the result against plotly's validation.
    palette = OKABE_ITO  # one colour per level, colour-blind-safe
    data = []
    for k, s in enumerate(spec):
        name, colour = _level_name(k, grids), palette[k % len(palette)]
        sv = np.asarray(s["singular_values"], dtype=float)
        comp = np.arange(1, sv.size + 1)
        # Values at rounding level (e.g. beyond the number of points) are zeros, and on a log axis
        # they would stretch it down to 1e-15 and flatten everything that matters.
        real = sv > (sv.max(initial=0.0) * 1e-6)
        line = dict(color=colour, width=2)
        data.append(dict(type="scatter", x=comp, y=np.where(real, sv, np.nan), mode="lines", name=name,
                         legendgroup=name, line=line, xaxis="x", yaxis="y",
                         hovertemplate=f"{name}<br>component %{{x}}: %{{y:.3g}}<extra></extra>"))
        data.append(dict(type="scatter", x=comp, y=np.asarray(s["cumulative"], dtype=float) * 100, mode="lines",
                         name=name, legendgroup=name, showlegend=False, line=line, xaxis="x2", yaxis="y2",
                         hovertemplate=f"{name}<br>up to component %{{x}}: %{{y:.1f}}%<extra></extra>"))
    layout = _row_layout(2, 0.09, shared_y=False)
    for a, text in zip(layout["annotations"], ["Singular values", "Cumulative explained variance"]):
        a["text"] = text
    layout["annotations"].append(dict(showarrow=False, text="90%", x=1, xanchor="right", y=90, yanchor="top",
                                      yref="y2", xref="x2 domain", font=dict(size=12)))
    layout["shapes"] = [dict(type="line", line=dict(color="#888", dash="dash", width=1), x0=0, x1=1, y0=90, y1=90,
                             xref="x2 domain", yref="y2")]
    # labels at powers of ten only: plotly's own log ticks label 2 and 5 between them ("100, 5, 2, 10, …"), which
    # read as values; small ones as 10⁻⁴, not "100µ"
    decades = dict(dtick=1, exponentformat="power", minor=dict(ticks="inside", ticklen=3, showgrid=False))
    layout["xaxis"].update(type="log", title=dict(text="component"), **decades)
    layout["xaxis2"].update(type="log", title=dict(text="component"), **decades)
    layout["yaxis"].update(type="log", title=dict(text="singular value"), **decades)
    layout["yaxis2"].update(title=dict(text="variance explained"), ticksuffix="%", range=[0, 101])
    layout["template"] = _TEMPLATE
    fig = go.Figure(dict(data=data, layout=layout), _validate=False)
    # the legend under the "component" titles, not on them: a bottom margin that holds ticks, title and legend
    return _style(fig, title, 400, legend=dict(orientation="h", x=0, y=SPECTRUM_LEGEND_Y, yanchor="top"),
                  margin=dict(MARGIN, b=SPECTRUM_BOTTOM))


def probability_difference(a: np.ndarray, b: np.ndarray, pitch_range: tuple[int, int] | None = None,
                           title: str = "Probability difference (B − A)",
                           bars: tuple[int, int] | None = None) -> go.Figure:
    """Heatmap of b − a for two (128, W) probability maps on a diverging scale centred on 0; with `bars` (the
    window's first step, steps per bar) its x axis counts bars, as the reconstruction's panels do."""
    d = np.asarray(b, dtype=np.float32) - np.asarray(a, dtype=np.float32)
    H, W = d.shape
    fig = _figure(go.Heatmap(z=d, x=np.arange(W), y=_NAMES[:H], colorscale="RdBu_r", zmin=-1, zmax=1, zmid=0,
                               name="B − A", hovertemplate="%{y} · step %{x}<br>B − A = %{z:.2f}<extra></extra>",
                               colorbar=dict(thickness=10, title=dict(text="B − A", side="right"))))
    lo, hi = pitch_range if pitch_range is not None else (0, H - 1)
    return _room_for_colorbar(_style(
        fig, title, 330, xaxis=dict(title_text="step in window" if bars is None else "bar", showgrid=False,
                                    zeroline=False, **FRAME, **({} if bars is None else _bar_axis(W, bars))),
        yaxis=dict(type="category", range=[lo - 0.5, hi + 0.5], tickmode="array", tickvals=note_ticks(lo, hi)[1],
                   title_text="pitch", showgrid=False, **FRAME)))


def f1_along_piece(positions: np.ndarray, plain: np.ndarray, masked: np.ndarray, current: float, x_title: str,
                   title: str, masked_b: np.ndarray | None = None, label_b: str = "B") -> go.Figure:
    """Each window's F1 against where it starts: unmasked and on its masked patches (with `masked_b`, B's masked
    F1 too), the window shown marked by a dashed line. A window with nothing to score (nan) leaves a gap."""
    x = np.asarray(positions, dtype=float)
    lines = [("unmasked", plain, OKABE_ITO[4], "solid"), ("masked patches", masked, OKABE_ITO[0], "solid")]
    if masked_b is not None:
        lines.append((f"masked patches, {label_b}", masked_b, OKABE_ITO[5], "dash"))
    data = [go.Scatter(x=x, y=np.asarray(y, dtype=float), mode="lines+markers", name=name,
                       line=dict(color=colour, width=1.6, dash=dash), marker=dict(size=4),
                       hovertemplate=f"{x_title} %{{x}}<br>{name}: F1 %{{y:.3f}}<extra></extra>")
            for name, y, colour, dash in lines]
    fig = _figure(data)
    # a few windows: a tick at each (plotly's own would put ticks at bar 1.5, where no window starts)
    ticks = dict(tickmode="array", tickvals=x.tolist(), ticktext=[f"{v:g}" for v in x]) if len(x) <= 16 else {}
    return _style(fig, title, 320, shapes=[dict(type="line", x0=current, x1=current, yref="y domain", y0=0, y1=1,
                                                line=dict(color="#888", dash="dot", width=1.2))],
                  xaxis=dict(title_text=x_title, showgrid=False, zeroline=False, **ticks, **FRAME),
                  # below 0 and above 1 a little: points at F1 0 or 1 were hidden on the frame
                  yaxis=dict(title_text="F1", range=[-0.04, 1.04], zeroline=False, **FRAME),
                  legend=dict(orientation="h", x=0, y=1.03, yanchor="bottom", xanchor="left"),
                  margin=dict(MARGIN, t=64))

"""The Corpus page's map: PCA (UMAP where installed) of every window's pooled embedding at a level, coloured by
collection, piece, density, F1 or position; hover names the passage, a click opens it in the piece view.

The map is a Vega-Lite chart (`st.vega_lite_chart`), not plotly: it is the first thing the Corpus page draws, and
the browser loads and compiles Streamlit's plotly bundle (4.7 MB) in ~1.1 s here against ~0.4 s for its Vega
bundle (`scripts/bench_floor.py`: a title-and-caption page 2.06 s, with one plotly chart 3.20 s, with one Vega-Lite
chart 2.43 s). The reconstruction tab's charts stay plotly; they load only when that tab is opened.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np
import streamlit as st

from midi_rae.figures import category_colours, on_dark
from midi_rae.index_view import passage_end
from midi_rae.wording import counted, level_name

from . import corpus_sources as src
from .corpus_similar import CK, index_tag, open_passage, trace_key

if TYPE_CHECKING:
    import pyarrow as pa

MAP_POINTS = 4000   # windows drawn in the map at most (an even sample beyond)
COLOURS = {"Collection": "collection", "Piece": "name", "Note density (notes per beat)": "density",
           "Masked F1 (ratio 0.5)": "f1_masked", "F1 (unmasked)": "f1",
           "Position in the piece (0 start, 1 end)": "position"}
TOP_PIECES = 20     # pieces with their own colour when colouring by piece
OTHER = "(other pieces)"
MAP_PADDING_PX = 8  # room around the points: one on the domain's edge was drawn half outside the plot
OTHER_COLOUR = "#c4c4c4"  # neutral grey: no piece's colour is near it
PICK = "pick"       # the Vega-Lite selection parameter a click sets
REGION = "region"   # the Vega-Lite selection parameter a drag sets: a rectangle of the map
ZOOM = "zoom"       # the Vega-Lite selection parameter the wheel and a shift-drag set: the axes' extent
FADED = 0.12        # opacity of the points outside a drawn region
LEGEND_ROWS = 24    # names in a legend column: as many fit the map's height
LEGEND_COLUMNS = 3  # legend columns at most (more would squeeze the map)
TRACE_COLOUR = "#111111"  # a traced piece's path, over the other points faded (black is also a category's colour)
TRACED_FADE = 0.4   # the other points' opacity, times their own, while a piece is traced
REGION_MARK = {"fill": "#888888", "fillOpacity": 0.08, "stroke": "#777777", "strokeDash": [4, 3]}  # seen on either theme
SHAPES = ["circle", "square", "triangle-up", "diamond", "cross", "triangle-down", "triangle-right", "triangle-left"]


def _pca_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, the first two principal axes as columns, their shares of the variance) of rows x (numpy only)."""
    mean = x.mean(0) if len(x) else np.zeros(x.shape[1], x.dtype)
    xc = x - mean
    cov = xc.T.astype(np.float64) @ xc / max(len(x) - 1, 1)
    w, v = np.linalg.eigh(cov)
    order = np.argsort(w)[::-1][:2]
    # rows that are all the same vector leave only rounding noise: no shares (not "0%", nor noise's 60/40)
    scale = float(np.mean(np.square(x, dtype=np.float64).sum(1))) if len(x) else 0.0
    spread = w.sum() > 1e-9 * max(scale, 1e-30)
    share = w[order] / w.sum() if spread else np.zeros(0)
    return mean, v[:, order].astype(np.float32), share


def _project(x: np.ndarray, mean: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Rows x in the plane of `_pca_fit`'s axes (two columns always)."""
    coords = (x - mean) @ axes
    return np.pad(coords, ((0, 0), (0, 2 - coords.shape[1]))) if coords.shape[1] < 2 else coords


def _pca2(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First two principal components of rows x and their shares of the variance."""
    mean, axes, share = _pca_fit(x)
    return _project(x, mean, axes), share


@st.cache_data(max_entries=16, show_spinner=False)
def _map_coords(uri: str, version: str, level: int, umap: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                         Optional[tuple[np.ndarray, np.ndarray]]]:
    """(sampled rows, their 2-D coordinates, PCA shares, the PCA's (mean, axes) or None for a UMAP) of a level's
    pooled embeddings."""
    x = src.level_vectors(uri, version, level)
    rows = map_sample(src.map_columns(uri, version)["collection"], MAP_POINTS)
    mean, axes, share = _pca_fit(x[rows])
    if umap:
        import umap as umap_lib

        return rows, umap_lib.UMAP(n_components=2, random_state=0).fit_transform(x[rows]), share, None
    return rows, _project(x[rows], mean, axes), share, (mean, axes)


@st.cache_data(max_entries=8, show_spinner=False)
def placed(uri: str, version: str, level: int, umap: bool) -> tuple[np.ndarray, np.ndarray, bool]:
    """(rows, their 2-D coordinates, whether only the drawn ones are placed) on the map's plane. The PCA plane is
    the drawn sample's, so every window of the index is placed in it; a UMAP places only the windows it was fitted
    on."""
    rows, coords, _, basis = _map_coords(uri, version, level, umap)
    x = src.level_vectors(uri, version, level)
    if basis is None or len(rows) == len(x):
        return rows, coords, len(rows) < len(x)
    return np.arange(len(x)), _project(x, *basis), False


def _inside(coords: np.ndarray, bounds: tuple[float, float, float, float]) -> np.ndarray:
    """Which of the 2-D points `coords` lie in the rectangle (x0, x1, y0, y1), edges included."""
    x0, x1, y0, y1 = bounds
    return (coords[:, 0] >= x0) & (coords[:, 0] <= x1) & (coords[:, 1] >= y0) & (coords[:, 1] <= y1)


def region_rows(uri: str, stamp: str, level: int, umap: bool, bounds: tuple[float, float, float, float]
                ) -> tuple[np.ndarray, int]:
    """(rows of every window placed inside the map's rectangle `bounds`, how many windows are placed)."""
    rows, coords, _ = placed(uri, stamp, level, umap)
    return np.asarray(rows)[_inside(coords, bounds)], len(rows)


def trace_points(uri: str, stamp: str, level: int, umap: bool, piece_id: int, win: dict[str, np.ndarray]
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(rows, coordinates) of one piece's windows (of `win`, the map's columns) placed on the map's plane, in the
    order they come in the piece."""
    rows, coords, _ = placed(uri, stamp, level, umap)
    mine = np.flatnonzero(win["piece_id"][rows] == piece_id)
    mine = mine[np.argsort(win["start_step"][rows][mine], kind="stable")]
    return np.asarray(rows)[mine], coords[mine]


def map_sample(collections: np.ndarray, k: int) -> np.ndarray:
    """Sorted rows of at most k windows to draw: all of them when they are no more than k, else one window of every
    collection (a collection of few pieces vanished from the map, and its legend, in a plain random sample) and the
    rest at random."""
    n = len(collections)
    if n <= k:
        return np.arange(n)
    rng = np.random.default_rng(0)
    order = rng.permutation(n)
    _, first = np.unique(np.asarray(collections).astype(str)[order], return_index=True)
    each = order[first][:k]
    rest = np.setdiff1d(order, each, assume_unique=True)
    return np.sort(np.concatenate([each, rng.choice(rest, k - len(each), replace=False)]))


def _umap_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("umap") is not None


LEGEND_CHARS = 25  # a legend label's most characters: as many as its 200 px show (28 were cut again)


def legend_labels(names: list[str], most: int = LEGEND_CHARS) -> dict[str, str]:
    """Each name as the map's legend shows it: a long one keeps its start and its end, joined by "…" (cut at its
    end by the legend, four movements of one opus all read "beethoven/opus18no1_movem…"); names that would then
    read alike stay whole."""
    head = most // 2 - 2
    cut = {n: n if len(n) <= most else f"{n[:head]}…{n[len(n) - (most - head - 1):]}" for n in names}
    seen: dict[str, int] = {}
    for c in cut.values():
        seen[c] = seen.get(c, 0) + 1
    return {n: c if seen[c] == 1 else n for n, c in cut.items()}


def map_spec(coords: np.ndarray, values: np.ndarray, colour: str, categorical: bool, hover: list[str],
             rows: np.ndarray, title: str, axis_titles: tuple[str, str], shown: Optional[list[str]] = None,
             region: Optional[tuple[float, float, float, float]] = None, trace: Optional[list[dict]] = None,
             zoom: Optional[dict] = None, dark: bool = False) -> tuple[dict, "pa.Table"]:
    """A Vega-Lite scatter of `coords` and its points as an Arrow table (Streamlit sends that as it is; a list of
    records would go through pandas, 0.5 s to import on a first page): each point's `row` is what a click
    reports; the wheel zooms, a shift-drag pans, a plain drag draws a region. `shown`: each point's value as its
    tooltip gives it (a continuous colour's values formatted, where some have none). `region`: the rectangle
    (x0, x1, y0, y1) drawn before, shown under the points with the points outside it faded. `trace`: one piece's
    windows in order ({"x", "y", "passage"} each), drawn over the points as a line. `zoom`: the axes' extent to
    open at ({"x": [x0, x1], "y": [y0, y1]}, as the chart reports it), else every point. `dark`: the reader's theme
    is dark (the darkest category colours are lightened: `figures.on_dark`)."""
    import pyarrow as pa

    xy = np.asarray(coords, float)[:, :2]
    if categorical:  # named as the legend can show them whole
        short = legend_labels(sorted({str(v) for v in values} - {OTHER}))
        values = [short.get(str(v), str(v)) for v in values]
    columns = {"x": xy[:, 0], "y": xy[:, 1], "row": np.asarray(rows, np.int64),
               "passage": pa.array(hover, pa.string()),
               "value": pa.array([str(v) for v in values], pa.string()) if categorical
               else np.asarray(values, float)}
    if shown is not None:
        columns["shown"] = pa.array(shown, pa.string())
    if region is not None:
        columns["inside"] = _inside(xy, region)
    points = pa.table(columns)
    if categorical:
        present = {str(v) for v in values}
        names = sorted(present - {OTHER}) + ([OTHER] if OTHER in present else [])  # "(other pieces)" last
        palette = {**category_colours(names), OTHER: OTHER_COLOUR}  # the many small pieces: in the background
        if dark:
            palette = {n: on_dark(c) for n, c in palette.items()}
        colour_enc = {"field": "value", "type": "nominal", "title": colour,
                      "scale": {"domain": names, "range": [palette[n] for n in names]},
                      # past 24 names a second column (one was cut off at the chart's height), up to three; Vega
                      # folds what is past its symbolLimit (30 by default) into "…N entries"
                      "legend": {"orient": "right", "labelLimit": 200, "symbolStrokeWidth": 0.5,
                                 "columns": min(-(-len(names) // LEGEND_ROWS), LEGEND_COLUMNS),
                                 "symbolLimit": LEGEND_ROWS * LEGEND_COLUMNS}}
        # a shape per category as well as a colour: Okabe & Ito's orange, vermillion and yellow are hard to
        # tell apart as small dots; the two encodings share one legend (same field, same title)
        extra_enc = {"shape": {"field": "value", "type": "nominal", "title": colour,
                               "scale": {"domain": names, "range": [SHAPES[i % len(SHAPES)]
                                                                    for i in range(len(names))]}}}
        tooltip = [{"field": "passage", "title": "passage"}, {"field": "value", "title": colour}]
    else:
        colour_enc = {"field": "value", "type": "quantitative", "title": colour,
                      "scale": {"scheme": "viridis"},
                      # titles in full; values as the tooltip writes them (one value alone was "4.000000")
                      "legend": {"orient": "right", "gradientLength": 300, "titleLimit": 400, "format": ".3~g"}}
        extra_enc = {}
        tooltip = [{"field": "passage", "title": "passage"},
                   {"field": "shown", "title": colour} if shown is not None else
                   {"field": "value", "title": colour, "format": ".3g"}]
    x_enc = {"field": "x", "type": "quantitative", "title": axis_titles[0],
             "scale": {"zero": False, "padding": MAP_PADDING_PX}, "axis": {"grid": True}}
    y_enc = {"field": "y", "type": "quantitative", "title": axis_titles[1],
             "scale": {"zero": False, "padding": MAP_PADDING_PX}, "axis": {"grid": True}}
    scatter = {
        # clipped: a point the zoom has moved past the axes would otherwise be drawn over them and the legend
        # a thin grey rim: the palettes' darkest colours (Okabe & Ito's black) stay visible on a dark theme's ground
        "mark": {"type": "point", "filled": True, "size": 30, "cursor": "pointer", "clip": True,
                 "stroke": "#8c8c8c", "strokeWidth": 0.5},
        # a drag that starts on a point and ends on it (the point moves with the view) is a click: panning takes
        # the shift key, so a plain drag never opens a passage; it draws a region, which the page keeps and draws
        # under the points (a selection's own rectangle lay over them and took their clicks)
        "params": [{"name": PICK, "select": {"type": "point", "fields": ["row"], "on": "click[!event.shiftKey]",
                                             "clear": False, "toggle": False}},
                   {"name": REGION, "select": {
                       "type": "interval", "encodings": ["x", "y"], "zoom": False, "translate": False,
                       "clear": False, "on": "[pointerdown[!event.shiftKey], window:pointerup] > window:pointermove!",
                       "mark": REGION_MARK}},
                   {"name": ZOOM, "bind": "scales",
                    "select": {"type": "interval", "zoom": "wheel!",
                               "translate": "[pointerdown[event.shiftKey], window:pointerup] > window:pointermove!"},
                    **({"value": zoom} if zoom else {})}],
        "encoding": {"x": x_enc, "y": y_enc, "color": colour_enc, "tooltip": tooltip, **extra_enc,
                     "opacity": _opacity(region is not None, bool(trace))},
    }
    head = {"title": {"text": title, "anchor": "start"}, "height": 520}
    layers = []
    if region is not None:  # under the points: a selection's own rectangle lay over them and took their clicks
        x0, x1, y0, y1 = region
        layers.append({"data": {"values": [{"x": x0, "x2": x1, "y": y0, "y2": y1}]},
                       "mark": {"type": "rect", "clip": True, **REGION_MARK},
                       "encoding": {"x": x_enc, "x2": {"field": "x2"}, "y": y_enc, "y2": {"field": "y2"}}})
    if trace:  # under the points too (faded, they let it show): a click on a traced window opens it
        layers.append({"data": {"values": [{**t, "order": i} for i, t in enumerate(trace)]},
                       "mark": {"type": "line", "color": TRACE_COLOUR, "strokeWidth": 1.2, "clip": True,
                                "point": {"filled": True, "size": 28, "color": TRACE_COLOUR, "stroke": "white",
                                          "strokeWidth": 0.8}},
                       "encoding": {"x": x_enc, "y": y_enc, "order": {"field": "order", "type": "quantitative"},
                                    "tooltip": [{"field": "passage", "title": "traced piece"}]}})
    layers.append(scatter)
    if trace:
        # the higher of the two labelled above its point, the other below: apart where a piece ends near its start
        end_higher = len(trace) > 1 and trace[-1]["y"] > trace[0]["y"]
        ends = [({**trace[0], "label": "start"}, 16 if end_higher else -12)]
        if len(trace) > 1:
            ends.append(({**trace[-1], "label": "end"}, -12 if end_higher else 16))
        for end, dy in ends:
            label = {"type": "text", "dy": dy, "fontWeight": "bold", "clip": True}
            # a white halo under the word: drawn in the trace's colour alone, it was lost on its own path
            layers.append({"data": {"values": [end]}, "encoding": {"x": x_enc, "y": y_enc, "text": {"field": "label"}},
                           "layer": [{"mark": {**label, "color": "white", "stroke": "white", "strokeWidth": 4,
                                               "strokeJoin": "round"}},
                                     {"mark": {**label, "color": TRACE_COLOUR}}]})
    return ({**head, **scatter} if len(layers) == 1 else {**head, "layer": layers}), points


def _passages(w: dict[str, np.ndarray]) -> list[str]:
    """What the map's tooltip says of each window of columns `w`: piece, bars and F1."""
    where = src.spans(w["start_step"], w["end_step"], w["steps_per_bar"], w["steps_per_beat"], w["path"])
    return [f"{c}/{n} · {span}" + (f" · F1 unmasked {f:.2f}, masked {fm:.2f}" if f == f and fm == fm else "")
            for c, n, span, f, fm in zip(w["collection"], w["name"], where, w["f1"], w["f1_masked"])]


def _opacity(region: bool, traced: bool) -> dict:
    """The points' opacity: faded outside a region, and all of them fainter under a traced piece; no fainter than
    FADED, where a region's faded points under a trace (0.05) and a pale colour scale's were lost altogether."""
    f = TRACED_FADE if traced else 1.0
    if region:
        return {"condition": {"test": "datum.inside", "value": 0.75 * f}, "value": FADED}
    return {"value": 0.75 * f}


def picked_row(event, rows: int) -> Optional[int]:
    """The index row (of `rows`) of the point a click on the map selected, if any."""
    selection = getattr(event, "selection", None) if event is not None else None
    points = list((selection or {}).get(PICK) or [])
    if not points or not isinstance(points[0].get("row"), (int, float)):
        return None
    row = int(points[0]["row"])
    return row if 0 <= row < rows else None


def region_bounds(event) -> Optional[tuple[float, float, float, float]]:
    """(x0, x1, y0, y1) of the rectangle a drag drew on the map, if any."""
    selection = getattr(event, "selection", None) if event is not None else None
    box = (selection or {}).get(REGION) or {}
    try:
        (x0, x1), (y0, y1) = box["x"], box["y"]
        bounds = tuple(float(v) for v in (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)))
    except (KeyError, TypeError, ValueError):
        return None
    return bounds if all(np.isfinite(bounds)) else None


def reported_zoom(event) -> Optional[dict]:
    """The axes' extent the chart reported ({"x": [x0, x1], "y": [y0, y1]}); {} where a double-click reset the zoom
    on this chart; None where it said nothing of its zoom (a chart just drawn reports every selection empty)."""
    selection = dict(getattr(event, "selection", None) or {}) if event is not None else {}
    if ZOOM not in selection:
        return None
    zoom = selection[ZOOM] or {}
    if not zoom:  # a fresh chart's state holds every parameter empty; the browser reports only those it changed
        fresh = set(selection) >= {PICK, REGION, ZOOM} and not any(selection.values())
        return None if fresh else {}
    try:
        extent = {axis: [float(zoom[axis][0]), float(zoom[axis][1])] for axis in ("x", "y")}
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return extent if all(np.isfinite(v).all() for v in extent.values()) else None


def _opening_zoom(key: str, plane: tuple, zooms: dict) -> Optional[dict]:
    """The zoom a chart under `key` opens at: the plane's zoom when that chart was first drawn. Fixed for the chart's
    life: a spec that changed with each zoom would make the browser draw the map anew at every turn of the wheel."""
    opened = st.session_state.get(CK.ZOOM_OPENED)
    if opened is None or opened[0] != key:  # one chart at a time: an earlier key's chart is gone
        opened = st.session_state[CK.ZOOM_OPENED] = (key, zooms.get(plane))
    return opened[1]


def render_map(uri: str, stamp: str, index) -> None:
    """PCA (or UMAP) of every window's pooled embedding at a level; a click opens the passage."""
    win = src.map_columns(uri, stamp)  # numpy columns: no pandas before the map is drawn
    n_pieces, _ = src.summary(uri, stamp)
    levels = index.levels
    grids = index.meta["grids"]
    c1, c2, c3 = st.columns([5, 3, 2], vertical_alignment="bottom")  # "UMAP" on one line at 1,100 px
    level = c1.select_slider("Level", list(range(levels)), value=min(3, levels - 1),
                             persist_state="session", key=CK.LEVEL,
                             format_func=lambda k: level_name(k, grids),
                             help="Each window's embedding at this level, averaged over its non-empty patches.")
    options = [k for k, c in COLOURS.items()
               if c in win and (c not in ("f1", "f1_masked") or np.isfinite(win[c].astype(float)).any())]
    # one collection (a built upload, one folder) colours every point alike: by piece then, until a pick
    one = len(np.unique(win["collection"])) == 1 and "Piece" in options
    picked = st.session_state.get(CK.COLOR_PICKED)  # a pick by hand holds wherever the index offers it
    st.session_state[CK.COLOR] = picked if picked in options else "Piece" if one else options[0]
    colour = c2.selectbox("Colour by", options, persist_state="session", key=CK.COLOR,
                          on_change=lambda: st.session_state.__setitem__(CK.COLOR_PICKED, st.session_state[CK.COLOR]))
    use_umap = c3.toggle("UMAP", key="corpus_umap", disabled=not _umap_installed(), persist_state="session",
                         help="UMAP instead of PCA (needs umap-learn: pip install 'midi-rae-explorer[umap]').")
    umap = bool(use_umap and _umap_installed())
    rows, coords, share, _ = _map_coords(uri, stamp, level, umap)
    w = {c: v[rows] for c, v in win.items()}
    col = COLOURS[colour]
    categorical = col in ("collection", "name")
    values = w[col]
    if col == "name":  # by piece, not by name: files of one name in two folders are two pieces ("01.mid" per album)
        labels = _piece_labels(uri, stamp)
        values = np.array([labels[str(int(p))] for p in w["piece_id"]], dtype=object)
        names, first, counts = np.unique(values.astype(str), return_index=True, return_counts=True)
        if len(names) > TOP_PIECES:  # the most windows first, ties in order of appearance
            top = names[np.lexsort((first, -counts))][:TOP_PIECES - 1]
            values = np.where(np.isin(values, top), values, OTHER)
    shown = None
    if not categorical:
        raw = values.astype(float)
        # a window with nothing to score (silent) is coloured as the average, and its tooltip says it has no value
        shown = [f"{v:.3g}" if np.isfinite(v) else "none (nothing to score)" for v in raw]
        values = np.nan_to_num(raw, nan=np.nanmean(raw) if np.isfinite(raw).any() else 0)
    hover = _passages(w)
    axes = (("UMAP 1", "UMAP 2") if umap else
            tuple(f"PC{i + 1}" + (f" ({100 * share[i]:.0f}% of the variance)" if i < len(share) else "")
                  for i in range(2)))
    title = (f"{counted(len(win['piece_id']), 'window')} of {counted(n_pieces, 'piece')} at level {level}"
             + (f" ({len(rows):,} drawn)" if len(rows) < len(win["piece_id"]) else "")
             + (": all with one embedding, so the map has no spread" if not umap and not len(share) else ""))
    plane = (uri, level, umap)
    regions = st.session_state.setdefault(CK.REGION, {})  # one region per index, level and plane
    versions = st.session_state.setdefault(CK.REGION_VERSION, {})
    zooms = st.session_state.setdefault(CK.ZOOM, {})  # the axes' extent per index, level and plane
    if versions.get(uri, stamp) != stamp:  # the index was written to since: its planes (and their regions) moved
        for kept in (regions, zooms):
            for old in [p for p in kept if p[0] == uri]:
                kept.pop(old)
    versions[uri] = stamp
    region = regions.get(plane)
    trace, traced = _trace_picker(uri, stamp, level, umap, win)
    # Streamlit keeps a Vega-Lite chart's selection across reruns and new data under one key: the key names the
    # index and plane and changes once a click or a region is handled, so each acts once and never on another
    # index's rows; a new chart opens at the zoom the last one reported for its plane
    nonce = st.session_state.setdefault(CK.MAP_NONCE, 0)
    key = f"{CK.MAP}:{index_tag(uri)}:{level}:{int(umap)}:{nonce}"
    spec, points = map_spec(coords, values, colour, categorical, hover, rows, title, axes, shown, region, trace,
                            _opening_zoom(key, plane, zooms), dark=getattr(st.context.theme, "type", None) == "dark")
    # above the chart: the chart's hover toolbar sits over the line above it, which was the UMAP help icon
    st.caption("Hover a point for its piece and bars; click one to open that passage in the piece view. "
               "Drag to draw a region (what it holds is listed under the map), scroll to zoom, shift-drag to pan, "
               "double-click to reset the zoom.")
    # the zoom is a selection Streamlit reports too: each change reruns the page (which redraws nothing: the chart's
    # spec and data are the same) so that a region drawn, or a colour changed, keeps the extent the reader chose
    ev = st.vega_lite_chart(points, spec, on_select="rerun", selection_mode=[PICK, REGION, ZOOM], width="stretch",
                            key=key)
    zoom = reported_zoom(ev)
    if zoom:
        zooms[plane] = zoom
    elif zoom == {}:
        zooms.pop(plane, None)
    if traced:
        st.caption(traced)
    row = picked_row(ev, len(win["path"]))
    drawn = region_bounds(ev)
    if row is None and drawn is not None:  # kept by the page and drawn under the points, which stay clickable
        regions[plane] = within(drawn, np.asarray(coords))
        st.session_state[CK.MAP_NONCE] = nonce + 1
        st.rerun()
    if row is not None:
        st.session_state[CK.MAP_NONCE] = nonce + 1
        open_passage(index, index.resolve(win["path"][row], win["rel"][row]), win["name"][row],
                     int(win["start_bar"][row]), pedal=bool(index.meta.get("sustain_pedal")))
    elif region is not None:
        from .corpus_region import render_region

        inside, placed_n = region_rows(uri, stamp, level, umap, region)
        st.button("Clear the region", key="corpus_region_clear", on_click=regions.pop, args=(plane, None))
        render_region(uri, stamp, index, level, inside, placed_n)


def piece_labels(win: dict[str, np.ndarray]) -> dict[str, str]:
    """Each piece's name in the trace picker, by its id as text: "collection/name", and its file where two files of
    a collection share a name (x.mid and x.kar, or one in each of two subfolders)."""
    ids, first = np.unique(win["piece_id"], return_index=True)
    labels = {str(int(p)): f"{win['collection'][i]}/{win['name'][i]}" for p, i in zip(ids, first)}
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    for p, i in zip(ids, first):
        if counts[labels[str(int(p))]] > 1:
            labels[str(int(p))] += f" ({win['rel'][i] or win['path'][i]})"
    return labels


@st.cache_data(max_entries=8, show_spinner=False)
def _piece_labels(uri: str, version: str) -> dict[str, str]:
    """`piece_labels` of an index's windows, once per version (the map and its trace picker ask on every rerun)."""
    return piece_labels(src.map_columns(uri, version))


def within(bounds: tuple[float, float, float, float], coords: np.ndarray) -> tuple[float, float, float, float]:
    """A drawn region cut to the extent of the points `coords` (a wider one would widen the map's axes)."""
    (lx, ly), (hx, hy) = coords.min(0), coords.max(0)
    return (max(bounds[0], float(lx)), min(bounds[1], float(hx)), max(bounds[2], float(ly)), min(bounds[3], float(hy)))


NO_TRACE = "none"  # the trace picker's "(none)" (a piece's option is its id, as digits)


def _trace_picker(uri: str, stamp: str, level: int, umap: bool, win: dict[str, np.ndarray]
                  ) -> tuple[Optional[list[dict]], str]:
    """The "Trace a piece" picker: (the picked piece's windows in order for map_spec, a caption), or (None, "").
    Its first choice after "(none)" is the piece view's piece, where "Show this piece on the corpus map" placed it
    on this index's map (`corpus_similar.Visitor`)."""
    from .corpus_similar import VISITOR_ROW

    # options are piece ids as text: a 64-bit id (hashed) does not survive a trip through the browser as a number
    labels = _piece_labels(uri, stamp)  # a copy (st.cache_data): the placed piece's label is added below
    pieces = sorted(labels, key=lambda p: labels[p].lower())
    guest = st.session_state.get(CK.VISITOR, {}).get(uri)  # one per index: placed on its map from the piece view
    guest = guest if guest is not None and guest.stamp == stamp else None
    if guest is not None:
        labels[VISITOR_ROW] = guest.label
    order = ([VISITOR_ROW] if guest is not None else []) + pieces
    # "(none)" is a value of its own: a picker whose value is None shows Streamlit's "Choose an option" once its
    # page is left and shown again
    pick = st.columns(2)[0].selectbox("Trace a piece", [NO_TRACE] + order, persist_state="session",
                                      key=trace_key(uri),
                                      format_func=lambda p: "(none)" if p == NO_TRACE else labels.get(p, "(gone)"),
                                      help="Draw one piece's windows on the map, joined in the order they come in "
                                           "the piece (type to search the pieces; on the piece page, \"Show this "
                                           "piece on the corpus map\" adds the piece shown there).")
    if pick not in labels:  # NO_TRACE, or a piece no longer in the index
        return None, ""
    name = labels[pick]
    if pick == VISITOR_ROW:
        return _guest_trace(uri, stamp, level, umap, guest, name)
    rows, coords = trace_points(uri, stamp, level, umap, int(pick), win)
    if not len(rows):
        return None, f"{name}: none of its windows is drawn on this UMAP (it places only the windows drawn)."
    w = {c: v[rows] for c, v in win.items()}
    trace = [{"x": float(x), "y": float(y), "passage": p} for (x, y), p in zip(coords, _passages(w))]
    of = int((win["piece_id"] == int(pick)).sum())
    drawn = f" ({len(rows)} of them drawn on this UMAP)" if len(rows) < of else ""
    return trace, (f"Traced: {name}, {_its_windows(of)}{drawn} joined from start to end at level {level}; the "
                   "other points are faded.")


def _its_windows(n: int) -> str:
    return "its one window" if n == 1 else f"its {n:,} windows"


def _guest_trace(uri: str, stamp: str, level: int, umap: bool, guest, name: str
                 ) -> tuple[Optional[list[dict]], str]:
    """The piece view's piece on the PCA plane of this level (a UMAP fitted on the index cannot place it)."""
    if umap:
        return None, f"{name} is placed on the PCA map only: switch UMAP off to see it."
    _, _, _, basis = _map_coords(uri, stamp, level, False)
    coords = _project(guest.vectors[level], *basis)
    meta = src.open_index(uri, stamp).meta
    ends = passage_end(guest.starts, int(meta.get("window_steps", 128)), guest.steps)
    n = len(guest.starts)
    spans = src.spans(guest.starts, ends, [guest.steps_per_bar] * n, [guest.steps_per_beat] * n, [None] * n)
    trace = [{"x": float(x), "y": float(y), "passage": f"{guest.name} · {span}"}
             for (x, y), span in zip(coords, spans)]
    index_spb = int(meta.get("steps_per_beat") or 4)
    other = (f" (read at {guest.steps_per_beat} steps per beat, the index's pieces at {index_spb}: its windows span "
             "other lengths of music)" if guest.steps_per_beat != index_spb else "")
    return trace, (f"Traced: {name}, {_its_windows(n)} encoded by this index's model and placed on its map at level "
                   f"{level}, joined from start to end{other}; the other points are faded.")

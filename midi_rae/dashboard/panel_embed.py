"""Embeddings at every level: PCA of the patch embeddings of all windows of the piece."""
from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from midi_rae.pca import PCA, pca_fit
from midi_rae.figures import MARK_COLOUR, explained_variance, pca_scatter, spectrum_plot
from midi_rae.inference import patch_places, spectrum_rows
from midi_rae.pianoroll import bar_span, note_name, place, time_positions, time_unit
from midi_rae.structure import spectrum
from midi_rae.wording import level_name

from . import export, live_chart, tables
from .session import K

# points drawn in the PCA (a sample beyond): every SVG point is drawn by the browser, and a 3-D WebGL one costs
# more without a GPU; a 10-minute piece was ready 1 s sooner with 1,500 than with 2,500 (one A/B run, 9.0 / 10.0 s)
MAX_POINTS = 1500
COLOR_MODES = ["Time (bar)", "Pitch (patch centre)", "Non-empty / empty", "Visible / masked (this window)"]


@st.cache_resource(max_entries=64, show_spinner=False)
def level_pca(midi_key: str, ckpt_key: str, spb: int, semis: int, level: int, _emb: np.ndarray) -> PCA:
    """PCA of one level's embeddings over all windows (cached per piece, checkpoint and settings)."""
    return pca_fit(_emb.reshape(-1, _emb.shape[-1]), k=3)


def _point_meta(song, level: int) -> dict[str, np.ndarray]:
    places = patch_places(song.config, level, song.starts)
    semis = places["semitones"]
    # "bar": the patch's start in `time_unit` (a bar position, or a PNG roll's step): its time colour
    return {**places, "bar": time_positions(song.roll, places["step"]), "pitch": places["pitch_lo"] + semis / 2,
            "pitch_hi": places["pitch_lo"] + semis - 1, "size": places["steps"],
            "non_empty": song.level_non_empty[level].reshape(-1)}


def _hover(meta: dict, idx: np.ndarray, roll) -> list[str]:
    out = []
    for i in idx:
        out.append(f"window {meta['window'][i] + 1} · {place(roll, meta['step'][i], meta['size'][i])} · "
                   f"{note_name(int(meta['pitch_lo'][i]))}–{note_name(int(min(meta['pitch_hi'][i], 127)))}"
                   f"{'' if meta['non_empty'][i] else ' · empty'}")
    return out


def _subsample(n: int, shown: np.ndarray | None = None) -> np.ndarray:
    """At most MAX_POINTS of the shown indices, the same whichever window is current: a window step then leaves
    the drawn points as they are (the browser redraws only the rings), where a sample that always held the
    current window's points changed, and was drawn anew, at every step of a long piece."""
    pool = np.arange(n) if shown is None else np.flatnonzero(shown)
    if len(pool) <= MAX_POINTS:
        return pool
    return np.sort(np.random.default_rng(0).choice(pool, size=MAX_POINTS, replace=False))


@st.cache_resource(max_entries=16, show_spinner=False)
def _drawn_points(song_key: tuple, level: int, show_empty: bool, _song) -> tuple:
    """(every patch's place (_point_meta), which patches are shown, the indices drawn, their hover texts, their
    (window, patch, level) rows) of a level's PCA: one set per piece, level and empty-patch setting, whatever
    window is current (read-only: shared by every run that draws it)."""
    W, N, _ = _song.level_emb[level].shape
    meta = _point_meta(_song, level)
    shown = np.ones(W * N, dtype=bool) if show_empty else meta["non_empty"]
    idx = _subsample(W * N, shown)
    hover = _hover(meta, idx, _song.roll)
    point_data = np.stack([meta["window"][idx], meta["patch"][idx], np.full(len(idx), level)], axis=1)
    return meta, shown, idx, hover, point_data


@st.cache_resource(max_entries=16, show_spinner=False)
def level_spectra(song_key: tuple, _song) -> list[dict]:
    """The singular-value spectrum of every level (cached per piece, checkpoint and settings)."""
    return [spectrum(e) for e in _song.level_emb]


def spectrum_table(song) -> pd.DataFrame:
    """Per level: explained variance of PC1–3, components reaching 90% and effective rank."""
    return pd.DataFrame(spectrum_rows(song.config, song.level_emb, level_spectra(song.key, song))).set_index("Level")


def _window_visibility(mask: np.ndarray, grid: tuple[int, int], finest: tuple[int, int]) -> np.ndarray:
    """Share of each patch's finest patches that are masked, for a level with (rows, cols) `grid`."""
    (gr, gc), (fr, fc) = grid, finest
    hidden = (~mask).reshape(fr, fc).astype(np.float32)
    return hidden.reshape(gr, fr // gr, gc, fc // gc).mean(axis=(1, 3)).reshape(-1)


@st.cache_resource(max_entries=48, show_spinner=False)
def _pca_figures(song_key: tuple, level: int, mode: str, cur_w: int, mask_key: tuple, selected: tuple,
                 marks: tuple, show_empty: bool, three_d: bool, _song, _res):
    """(2-D figure, 3-D figure or None); each point carries (window, patch, level).

    `selected` is (window, patch) of the selected patch at this level, `marks` its neighbours' flat indices.
    """
    song, res = _song, _res
    grids = song.grids
    emb = song.level_emb[level]
    W, N, D = emb.shape
    pca = level_pca(*song_key, level, emb)
    meta, shown, idx, hover, point_data = _drawn_points(song_key, level, show_empty, song)
    keep = np.arange(cur_w * N, (cur_w + 1) * N)
    keep = keep[shown[keep]]
    coords = pca.transform(emb.reshape(-1, D)[idx])
    emphasised, highlight_name = keep, "this window"
    if selected:  # a selected patch replaces the current window as the emphasised point
        emphasised, highlight_name = np.array([selected[0] * N + selected[1]]), "selected patch"
    highlight = np.isin(idx, emphasised)
    # what is ringed but not among the points drawn (a long piece's sample): ringed where it lies all the same
    unsampled = np.setdiff1d(emphasised, idx)
    more_rings = pca.transform(emb.reshape(-1, D)[unsampled])[:, :2] if len(unsampled) else None
    if mode == "Visible / masked (this window)":
        own = np.flatnonzero(shown[cur_w * N:(cur_w + 1) * N])  # this window's patches, empty ones only if shown
        win = pca.transform(res.masked_emb[level][own])
        share = _window_visibility(res.mask, grids[level], grids[-1])[own]
        cats = np.where(share == 0, 1, np.where(share >= 1, 3, 2))
        coords = np.concatenate([coords, win])
        color = np.concatenate([np.zeros(len(idx), dtype=int), cats])
        names = {0: "other windows (unmasked)", 1: "this window: visible", 2: "this window: partly masked",
                 3: "this window: masked"}
        hover = hover + [f"this window (masked input) · patch {i}" for i in own]
        point_data = np.concatenate([point_data, np.stack([np.full(len(own), cur_w), own,
                                                           np.full(len(own), level)], axis=1)])
        # this window's points are the categories; a selected patch is still ringed
        ringed = np.concatenate([highlight, np.zeros(len(own), dtype=bool)]) if selected else None
        more_rings = more_rings if selected else None
        kw = dict(categorical=True, category_names=names, highlight=ringed)
    elif mode == "Non-empty / empty":
        color = meta["non_empty"][idx]
        kw = dict(categorical=True, category_names={True: "non-empty", False: "empty"}, highlight=highlight)
    elif mode == "Pitch (patch centre)":
        color = meta["pitch"][idx]
        kw = dict(categorical=False, highlight=highlight, pitch_colours=True)
    else:
        color = meta["bar"][idx]
        kw = dict(categorical=False, highlight=highlight)
    kw.update(highlight_name=highlight_name, point_data=point_data, share=pca.explained_ratio)
    label = time_unit(song.roll) if mode == COLOR_MODES[0] else mode.split(" (")[0]  # the colour bar names its unit
    hidden_empty = int((~shown).sum())
    # the counts on a smaller second line: in one, the title ran under plotly's toolbar
    title = f"Level {level} ({grids[level][0]}×{grids[level][1]}, dim {D})<br><span style='font-size:11px'>" + \
        f"{int(shown.sum()):,} patch embeddings" + (f", {len(idx):,} drawn" if len(idx) < shown.sum() else "") + \
        (f" · {hidden_empty:,} empty hidden" if hidden_empty else "") + "</span>"
    # 2-D: the neighbours as diamond shapes (like the rings) and a legend entry that is always a trace, so
    # selecting a patch leaves the traces unchanged
    m = np.asarray(marks, dtype=int)
    mc = pca.transform(emb.reshape(-1, D)[m]) if len(m) else np.zeros((0, 3))
    diamond = dict(type="path", name="neighbour", xref="x", yref="y", xsizemode="pixel", ysizemode="pixel",
                   path="M 0 -7 L 7 0 L 0 7 L -7 0 Z", line=dict(color=MARK_COLOUR, width=2), layer="above")
    f2 = pca_scatter(coords, color, label, hover=hover, title=title, dims=2, highlight_rings=True,
                     shapes=[dict(diamond, xanchor=float(x), yanchor=float(y)) for x, y in mc[:, :2]],
                     more_rings=more_rings, **kw)
    f2.update_layout(margin_t=58)  # room for the title's two lines
    if level == 0 and mode != "Visible / masked (this window)":
        order = np.argsort(meta["bar"][idx])
        f2.add_trace(go.Scatter(x=coords[order, 0], y=coords[order, 1], mode="lines", name="path through the piece",
                                line=dict(width=1, color="rgba(80,80,80,0.5)"), hoverinfo="skip"))
    f3 = pca_scatter(coords, color, label, hover=hover, title=f"Level {level} ({grids[level][0]}×{grids[level][1]}, dim {D}) in 3-D", dims=3, **kw) if D >= 3 and three_d else None
    f2.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name="nearest neighbours", hoverinfo="skip",
                            showlegend=bool(len(m)), marker=dict(size=10, symbol="diamond-open", color=MARK_COLOUR,
                                                                 line=dict(width=2, color=MARK_COLOUR))))
    if len(m) and f3 is not None:
        f3.add_trace(go.Scatter3d(x=mc[:, 0], y=mc[:, 1], z=mc[:, 2], mode="markers", name="nearest neighbours",
                                  hoverinfo="skip", customdata=np.stack([m // N, m % N, np.full(len(m), level)], axis=1),
                                  marker=dict(size=5, symbol="diamond-open", color=MARK_COLOUR,
                                              line=dict(width=2, color=MARK_COLOUR))))
    return f2, f3


def variance_line(ratios: np.ndarray, level: int) -> str:
    """The level's explained variance in one sentence: each component's share, then theirs together."""
    pct = np.asarray(ratios, dtype=float) * 100
    parts = ", ".join(f"PC{i + 1} {v:.0f} %" for i, v in enumerate(pct))
    return (f"Explained variance at level {level} (every patch, empty ones included): {parts} "
            f"({pct.sum():.0f} % together).")


@st.cache_data(max_entries=16, show_spinner=False)
def _embedding_files(song_key: tuple, level: int, _song) -> dict[str, bytes]:
    """A level's embeddings with one metadata row per patch: .npy + CSV, and the Embedding Projector's TSVs."""
    import io

    emb = _song.level_emb[level]
    W, N, D = emb.shape
    meta = _point_meta(_song, level)
    spbar, spb = max(_song.roll.steps_per_bar, 1), max(_song.roll.steps_per_beat, 1)
    # where a patch lies in time, as the hover words it ("bars 3–4", inclusive as pitch ranges are), and as
    # numbers: its start as a bar position (1.0 = bar 1's downbeat, 1.5 = half-way through it) and its length
    # windows counted from 1, as the PCA's hover and the page count them (row i of the .npy is window i // N + 1)
    table = pd.DataFrame({"window": meta["window"] + 1, "patch": meta["patch"],
                          "window_start_bar": _song.starts[meta["window"]] / spbar + 1,
                          "bars": [bar_span(a, n, spbar, spb) for a, n in zip(meta["step"], meta["size"])],
                          "bar_start": meta["bar"], "length_bars": meta["size"] / spbar,
                          "pitch_from": [note_name(int(p)) for p in meta["pitch_lo"]],
                          "pitch_to": [note_name(int(min(p, 127))) for p in meta["pitch_hi"]],
                          "non_empty": meta["non_empty"]})
    flat = emb.reshape(W * N, D).astype(np.float32)
    npy = io.BytesIO()
    np.save(npy, flat)
    vectors = "\n".join("\t".join(f"{v:.6g}" for v in row) for row in flat) + "\n"
    return {"npy": npy.getvalue(), "csv": table.to_csv(index=False).encode(),
            "tsv": vectors.encode(), "meta_tsv": table.to_csv(index=False, sep="\t").encode()}


EXPORTS = (("npy", "Embeddings (.npy)", "embeddings.npy", "application/octet-stream"),
           ("csv", "Metadata (.csv)", "metadata.csv", "text/csv"),
           ("tsv", "Projector vectors (.tsv)", "vectors.tsv", "text/tab-separated-values"),
           ("meta_tsv", "Projector metadata (.tsv)", "metadata.tsv", "text/tab-separated-values"))


def _export_buttons(col, song, level: int, stem: str) -> None:
    """Downloads of this level's embeddings and their metadata (numpy + CSV; TensorBoard Projector TSVs).

    The files are made when a button is pressed (a callable as the data), not on every new piece or level:
    for a ten-minute piece they took about half a second of each such run."""
    stem = f"{stem}_level{level}"  # what the view shows (names.file_stem): two models' files never share a name
    with col.popover("Export this level's embeddings"):
        st.caption("One row per patch of every window, in the same order in every file.")
        for kind, label, suffix, mime in EXPORTS:
            st.download_button(label, functools.partial(_embedding_file, song.key, level, kind, song),
                               f"{stem}_{suffix}", mime, key=f"dl_emb_{kind}", on_click="ignore")
        st.caption("Load the two TSVs at projector.tensorflow.org (Load → vectors, then metadata).")


def _embedding_file(song_key: tuple, level: int, kind: str, song) -> bytes:
    return _embedding_files(song_key, level, song)[kind]


def umap_available() -> bool:
    """Whether the optional umap-learn package is installed."""
    import importlib.util

    return importlib.util.find_spec("umap") is not None


@st.cache_resource(max_entries=16, show_spinner="Fitting UMAP (the first fit also compiles numba code)…")
def _umap_figure(song_key: tuple, level: int, _song):
    import umap

    emb = _song.level_emb[level]
    W, N, D = emb.shape
    idx = _subsample(W * N, np.arange(0))[:2000]
    coords = umap.UMAP(n_components=2, random_state=0, n_neighbors=15).fit_transform(emb.reshape(-1, D)[idx])
    meta = _point_meta(_song, level)
    unit = time_unit(_song.roll)
    return pca_scatter(coords, meta["bar"][idx], unit, hover=_hover(meta, idx, _song.roll),
                       title=f"UMAP of level {level} ({len(idx):,} patches), coloured by {unit}", axis_prefix="UMAP ")


@st.cache_resource(max_entries=16, show_spinner=False)
def _spectrum_figure(song_key: tuple, _song):
    grids = _song.grids
    return spectrum_plot(level_spectra(song_key, _song), title="Singular value spectrum per level", grids=grids)


def render(song, res, sel=None, neighbours=None, stem: str = "piece") -> None:
    """Level picker, colour picker, 2-D and 3-D PCA and explained variance (UMAP on request)."""
    st.subheader("Embeddings (PCA over all windows of the piece)")
    L = len(song.level_emb)
    grids = song.grids
    c1, c2 = st.columns([3, 2])
    level = c1.radio("Level", list(range(L)), format_func=lambda k: level_name(k, grids),
                     horizontal=True, persist_state="session", key=K.PCA_LEVEL, index=min(3, L - 1))
    mode = c2.selectbox("Colour by", COLOR_MODES, persist_state="session", key=K.PCA_COLOR)
    cur_w = int(np.argmin(np.abs(song.starts - res.start)))
    mask_key = res.key if mode == "Visible / masked (this window)" else ()
    show_empty = c2.toggle("Show empty patches", persist_state="session", key=K.PCA_SHOW_EMPTY,
                           help="Empty patches (no note under them) are most of a fine level's points; hidden, the notes' "
                                "patches spread out. The axes are fitted on every patch either way.")
    selected, marks = (), ()
    if sel is not None and sel.level == level:
        selected = (int(np.argmin(np.abs(song.starts - sel.start))), sel.patch)
        if neighbours is not None and len(neighbours):
            N = song.level_emb[level].shape[1]
            marks = tuple(int(np.argmin(np.abs(song.starts - w))) * N + int(n)
                          for w, n in zip(neighbours["_window_start"], neighbours["_patch"]))
    a, b = st.columns(2)
    # the 3-D scene is WebGL, about half a second for a browser without a GPU to set up: on request
    three_d = b.toggle("3-D view",
                       persist_state="session", key=K.PCA_3D, help="PC1–3 in a rotatable scene (slower to draw).")
    f2, f3 = _pca_figures(song.key, level, mode, cur_w, mask_key, selected, marks, show_empty, three_d, song, res)
    ratios = level_pca(*song.key, level, song.level_emb[level]).explained_ratio
    # the points stay while only the rings and diamonds change (a window step, a selection): updated in place
    revision = f"{song.key}|{level}|{mode}|{show_empty}"
    live_chart.draw(a, f2, K.PCA_CHART, revision=revision, clickable=True)
    if f3 is not None:
        live_chart.draw(b, f3, "pca3d", revision=revision)
    elif three_d:
        b.info("This level has fewer than three dimensions; no 3-D view.")
    # the variance as a sentence, not a chart: an st.plotly_chart costs the browser 30–60 ms on every run
    export.figure("pca_var", functools.partial(explained_variance, ratios, title=f"Explained variance, level {level}"))
    d = b
    d.caption("Each point is one patch embedding of one window; the current window's patches (or the selected "
              "patch, with its nearest neighbours as diamonds) are ringed in orange. Click a point in the 2-D plot to "
              f"select its patch. {variance_line(ratios, level)} The spectrum of every level is in the analyses "
              "below.")
    _export_buttons(d, song, level, stem)
    if not umap_available():
        d.caption("UMAP beside PCA is optional: `pip install umap-learn` (or `pip install -e '.[umap]'`) and "
                  "restart the app to enable it.")
    elif d.toggle("Show UMAP of this level (slow the first time)", persist_state="session", key=K.SHOW_UMAP):
        export.chart(st, _umap_figure(song.key, level, song), key="umap_chart")


def render_spectrum(song) -> None:
    """Every level at a glance: explained variance of the first components and the singular-value spectra."""
    st.caption("How concentrated each level's variance is (few components = a low-dimensional or collapsed level), "
               "over every patch of every window, empty ones included (the PCA plot hides those by default). Neither "
               "count can pass the rank cap, points − 1 or the dimension: a short piece's coarse levels reach it "
               "(level 0 has one point per window), so compare those on a longer piece. The effective rank is "
               "exp of the entropy of the shares of the variance (σᵢ² / Σσ²), as in the model cards; Roy and "
               "Vetterli's form, on σᵢ / Σσ, gives larger values for the same spectrum.")
    tables.show(st, spectrum_table(song).reset_index(), index=False)
    export.chart(st, _spectrum_figure(song.key, song), key="spectrum_chart")

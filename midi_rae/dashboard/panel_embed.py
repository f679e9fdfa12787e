"""Embeddings at every level: PCA of the patch embeddings of all windows of the piece."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from midi_rae.analysis import PCA, pca_fit
from midi_rae.figures import explained_variance, pca_scatter, spectrum_plot
from midi_rae.inference import patch_places, spectrum_rows
from midi_rae.pianoroll import note_name
from midi_rae.structure import spectrum

from . import export, tables
from .session import K

MAX_POINTS = 2500  # a 3-D WebGL scatter of more points takes seconds to draw without a GPU
COLOR_MODES = ["Time (bar)", "Pitch (patch centre)", "Non-empty / empty", "Visible / masked (this window)"]


@st.cache_resource(max_entries=64, show_spinner=False)
def level_pca(midi_key: str, ckpt_key: str, spb: int, semis: int, level: int, _emb: np.ndarray) -> PCA:
    """PCA of one level's embeddings over all windows (cached per piece, checkpoint and settings)."""
    return pca_fit(_emb.reshape(-1, _emb.shape[-1]), k=3)


def _point_meta(song, level: int) -> dict[str, np.ndarray]:
    places = patch_places(song.config, level, song.starts)
    spbar = max(song.roll.steps_per_bar, 1)
    semis = places["semitones"]
    return {**places, "bar": places["step"] / spbar + 1, "pitch": places["pitch_lo"] + semis / 2,
            "pitch_hi": places["pitch_lo"] + semis - 1, "size": places["steps"],
            "non_empty": song.level_non_empty[level].reshape(-1)}


def _hover(meta: dict, idx: np.ndarray, spbar: int) -> list[str]:
    out = []
    for i in idx:
        b0 = meta["step"][i] / spbar + 1
        b1 = (meta["step"][i] + meta["size"][i]) / spbar + 1
        out.append(f"window {meta['window'][i] + 1} · bars {b0:.4g}–{b1:.4g} · "
                   f"{note_name(int(meta['pitch_lo'][i]))}–{note_name(int(min(meta['pitch_hi'][i], 127)))}"
                   f"{'' if meta['non_empty'][i] else ' · empty'}")
    return out


def _subsample(n: int, keep: np.ndarray) -> np.ndarray:
    """At most MAX_POINTS indices, always including `keep` (the current window's points)."""
    if n <= MAX_POINTS:
        return np.arange(n)
    rng = np.random.default_rng(0)
    rest = np.setdiff1d(np.arange(n), keep)
    pick = rng.choice(rest, size=max(MAX_POINTS - len(keep), 0), replace=False)
    return np.sort(np.concatenate([keep, pick]))


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
def _pca_figures(song_key: tuple, level: int, mode: str, cur_w: int, mask_key: tuple, selected: tuple, _song, _res):
    """(2-D figure, 3-D figure or None, explained-variance figure); each point carries (window, patch, level)."""
    song, res = _song, _res
    grids = song.grids
    emb = song.level_emb[level]
    W, N, D = emb.shape
    pca = level_pca(*song_key, level, emb)
    meta = _point_meta(song, level)
    spbar = max(song.roll.steps_per_bar, 1)
    keep = np.arange(cur_w * N, (cur_w + 1) * N)
    idx = _subsample(W * N, keep)
    coords = pca.transform(emb.reshape(-1, D)[idx])
    hover = _hover(meta, idx, spbar)
    highlight = np.isin(idx, keep)
    point_data = np.stack([meta["window"][idx], meta["patch"][idx], np.full(len(idx), level)], axis=1)
    if selected:  # a selected patch replaces the current window as the emphasised point
        sel_w, sel_n = selected
        keep_sel = np.flatnonzero(idx == sel_w * N + sel_n)
        if len(keep_sel):
            highlight = np.zeros(len(idx), dtype=bool)
            highlight[keep_sel] = True
    if mode == "Visible / masked (this window)":
        win = pca.transform(res.masked_emb[level])
        share = _window_visibility(res.mask, grids[level], grids[-1])
        cats = np.where(share == 0, 1, np.where(share >= 1, 3, 2))
        coords = np.concatenate([coords, win])
        color = np.concatenate([np.zeros(len(idx), dtype=int), cats])
        names = {0: "other windows (unmasked)", 1: "this window: visible", 2: "this window: partly masked",
                 3: "this window: masked"}
        hover = hover + [f"this window (masked input) · patch {i}" for i in range(len(win))]
        point_data = np.concatenate([point_data, np.stack([np.full(len(win), cur_w), np.arange(len(win)),
                                                           np.full(len(win), level)], axis=1)])
        kw = dict(categorical=True, category_names=names, highlight=None)
    elif mode == "Non-empty / empty":
        color = meta["non_empty"][idx]
        kw = dict(categorical=True, category_names={True: "non-empty", False: "empty"}, highlight=highlight)
    elif mode == "Pitch (patch centre)":
        color = meta["pitch"][idx]
        kw = dict(categorical=False, highlight=highlight)
    else:
        color = meta["bar"][idx]
        kw = dict(categorical=False, highlight=highlight)
    label = mode.split(" (")[0]
    title = f"Level {level} ({grids[level][0]}×{grids[level][1]}, dim {D}): {W * N:,} patch embeddings" + \
            (f", {len(idx):,} drawn" if len(idx) < W * N else "")
    f2 = pca_scatter(coords, color, label, hover=hover, title=title, dims=2, point_data=point_data, **kw)
    if level == 0 and mode != "Visible / masked (this window)":
        order = np.argsort(meta["bar"][idx])
        f2.add_trace(go.Scatter(x=coords[order, 0], y=coords[order, 1], mode="lines", name="path through the piece",
                                  line=dict(width=1, color="rgba(80,80,80,0.5)"), hoverinfo="skip"))
    f3 = pca_scatter(coords, color, label, hover=hover, title="3-D", dims=3, point_data=point_data, **kw) \
        if D >= 3 else None
    fv = explained_variance(pca.explained_ratio, title=f"Explained variance, level {level}")
    return f2, f3, fv


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
    return pca_scatter(coords, meta["bar"][idx], "Time", hover=_hover(meta, idx, max(_song.roll.steps_per_bar, 1)),
                       title=f"UMAP of level {level} ({len(idx):,} patches), coloured by bar", axis_prefix="UMAP ")


@st.cache_resource(max_entries=16, show_spinner=False)
def _spectrum_figure(song_key: tuple, _song):
    grids = _song.grids
    return spectrum_plot(level_spectra(song_key, _song), title="Singular value spectrum per level", grids=grids)


def render(song, res, sel=None) -> None:
    """Level picker, colour picker, 2-D and 3-D PCA and explained variance (UMAP on request)."""
    st.subheader("Embeddings (PCA over all windows of the piece)")
    L = len(song.level_emb)
    grids = song.grids
    c1, c2 = st.columns([3, 2])
    level = c1.radio("Level", list(range(L)), format_func=lambda k: f"{k} · {grids[k][0]}×{grids[k][1]}",
                     horizontal=True, key=K.PCA_LEVEL, index=min(3, L - 1))
    mode = c2.selectbox("Colour by", COLOR_MODES, key=K.PCA_COLOR)
    cur_w = int(np.argmin(np.abs(song.starts - res.start)))
    mask_key = res.key if mode == "Visible / masked (this window)" else ()
    selected = ()
    if sel is not None and sel.level == level:
        selected = (int(np.argmin(np.abs(song.starts - sel.start))), sel.patch)
    f2, f3, fv = _pca_figures(song.key, level, mode, cur_w, mask_key, selected, song, res)
    a, b = st.columns(2)
    export.chart(a, f2, width="stretch", key=K.PCA_CHART, on_select="rerun", selection_mode="points")
    if f3 is not None:
        export.chart(b, f3, width="stretch", key="pca3d")
    else:
        b.info("This level has fewer than three dimensions; no 3-D view.")
    c, d = st.columns([2, 3])
    export.chart(c, fv, width="stretch", key="pca_var")
    d.caption("Each point is one patch embedding of one window; the current window's patches are drawn larger. "
              "Click a point in the 2-D plot to select its patch. The spectrum of every level is in the "
              "analyses below.")
    if not umap_available():
        d.caption("UMAP beside PCA is optional: `pip install umap-learn` (or `pip install -e '.[umap]'`) and "
                  "restart the app to enable it.")
    elif d.toggle("Show UMAP of this level (slow the first time)", key=K.SHOW_UMAP):
        export.chart(st, _umap_figure(song.key, level, song), width="stretch", key="umap_chart")


def render_spectrum(song) -> None:
    """Every level at a glance: explained variance of the first components and the singular-value spectra."""
    st.caption("How concentrated each level's variance is (few components = a low-dimensional or collapsed level).")
    tables.show(st, spectrum_table(song).reset_index(), index=False)
    export.chart(st, _spectrum_figure(song.key, song), width="stretch", key="spectrum_chart")

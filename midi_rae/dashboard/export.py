"""Every chart drawn in a run is also kept here, so the page can offer them all as one HTML file."""
from __future__ import annotations

import html
import re
from datetime import datetime

import streamlit as st

from . import session

# The page fills its sections out of reading order (the costliest to draw first), so the export puts the
# charts back in the order they appear on the page; charts not listed keep their drawing order, after these.
PAGE_ORDER = ["overview_chart", "window_chart", "masks_chart", "recon_chart", "pca2d", "pca3d", "pca_var",
              "umap_chart", "spectrum_chart", "similarity_chart", "trajectory_chart", "along_chart", "probe_time", "probe_pitch"]


# each chart's section heading in the file (its own title, drawn by plotly, says what it shows in detail)
SECTIONS = {"overview_chart": "The piece", "window_chart": "The window", "masks_chart": "Non-empty patches per level",
            "recon_chart": "Masked reconstruction", "pca2d": "Patch embeddings (PCA)",
            "pca3d": "Patch embeddings (PCA, 3-D)", "pca_var": "Explained variance",
            "umap_chart": "Patch embeddings (UMAP)", "spectrum_chart": "Spectrum of every level",
            "similarity_chart": "Song structure: window similarity", "trajectory_chart": "Song structure: trajectory",
            "along_chart": "F1 along the piece",
            "probe_time": "Probe: time shifts", "probe_pitch": "Probe: transpositions",
            "ablation_drops": "Level ablation: F1 lost", "ablation_maps": "Level ablation: error maps",
            "ab_diff": "A/B: where the two models differ", "phrase_novelty": "Phrase probe: novelty per level",
            "phrase_scores": "Phrase probe: boundary F1"}
_HINT = re.compile(r"\s+—\s+click\b.*$", re.IGNORECASE)  # "— click a bar to …": nothing to click in a file
_HOVER_HINT = re.compile(r":?\s*click\b[^<]*", re.IGNORECASE)  # "…: click to select" in a point's hover


def section(key: str) -> str:
    """The export's heading for the chart kept under `key`."""
    if key.startswith("ab_recon_"):
        return f"A/B: reconstruction by model {key.removeprefix('ab_recon_')}"
    return SECTIONS.get(key) or key.removesuffix("_chart").replace("_", " ").capitalize()


def start_run() -> None:
    """Forget the previous run's charts."""
    session.reset_run_figures()


def chart(container, fig, key: str) -> None:
    """`fig` on `container` as a chart updated in place when it changes (live_chart), kept for the HTML export."""
    from . import live_chart

    live_chart.draw(container, fig, key)


def figure(key: str, build) -> None:
    """Keep a view drawn as an image for the export too: `build()` makes its plotly figure when exporting."""
    session.run_figures()[key] = build


def page_html(title: str, settings: str = "") -> str:
    """One self-contained HTML file (plotly.js inlined once) with every chart of this run, and the settings they
    were drawn at."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
             f"<body style='font-family:sans-serif;max-width:1400px;margin:auto'><h1>{html.escape(title)}</h1>"
             + (f"<p>{html.escape(settings)}</p>" if settings else "")
             + f"<p>Exported from midi-rae explorer, {datetime.now():%Y-%m-%d %H:%M}.</p>"]
    figs = session.run_figures()
    rank = {k: i for i, k in enumerate(PAGE_ORDER)}
    figs = sorted(figs.items(), key=lambda kf: rank.get(kf[0], len(PAGE_ORDER)))  # stable: unlisted keep their order
    for i, (key, fig) in enumerate(figs):
        fig = fig() if callable(fig) else fig
        fig = _without_click_hints(fig)
        parts.append(f"<h3>{html.escape(section(key))}</h3>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=i == 0))
    parts.append("</body></html>")
    return "".join(parts)


CLICK_TARGETS = ("bars",)  # traces that are only there to be clicked (the overview's row of bar markers)


def _without_click_hints(fig):
    """`fig` without the page's "click to …" hints in its title and hovers, and without its click targets (a
    new figure when any is found): a file has nothing to click."""
    title = fig.layout.title.text or ""
    hovers = [getattr(t, "hovertemplate", None) or "" for t in fig.data]
    targets = any(t.name in CLICK_TARGETS for t in fig.data)
    if not targets and not _HINT.search(title) and not any(_HOVER_HINT.search(h) for h in hovers):
        return fig
    import plotly.graph_objects as go

    fig = go.Figure(fig)
    fig.update_layout(title_text=_HINT.sub("", title) or None)
    for t, h in zip(fig.data, hovers):
        if h:
            t.hovertemplate = _HOVER_HINT.sub("", h)
    fig.data = [t for t in fig.data if t.name not in CLICK_TARGETS]
    return fig


def render(title: str, stem: str = "midi-rae-explorer", settings: str = "") -> None:
    """A button that prepares the HTML, then the download (named for what it shows: `stem`_charts.html)."""
    st.subheader("Export")
    c1, c2 = st.columns([1, 3])
    if c1.button("Prepare all charts as one HTML file", key="prep_html"):
        session.set_export_html(page_html(title, settings).encode())
    data = session.export_html()
    if data:
        c2.download_button("Download charts (HTML, works offline)", data, file_name=f"{stem}_charts.html",
                           mime="text/html", key="dl_html", on_click="ignore")
    st.caption("Single charts: the camera button at the top right of a chart saves it as PNG (the piano rolls and "
               "the reconstruction's panels are images: save them from the browser's menu). For a shareable "
               "report without the server: `python -m midi_rae report FILE.mid -o report.html`.")

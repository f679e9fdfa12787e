"""Every chart drawn in a run is also kept here, so the page can offer them all as one HTML file."""
from __future__ import annotations

import html
from datetime import datetime

import streamlit as st

from . import session

# The page fills its sections out of reading order (the costliest to draw first), so the export puts the
# charts back in the order they appear on the page; charts not listed keep their drawing order, after these.
PAGE_ORDER = ["overview_chart", "window_chart", "masks_chart", "recon_chart", "pca2d", "pca3d", "pca_var",
              "umap_chart", "spectrum_chart", "similarity_chart", "trajectory_chart", "probe_time", "probe_pitch"]


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


def page_html(title: str) -> str:
    """One self-contained HTML file (plotly.js inlined once) with every chart of this run."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
             f"<body style='font-family:sans-serif;max-width:1400px;margin:auto'><h1>{html.escape(title)}</h1>"
             f"<p>Exported from midi-rae explorer, {datetime.now():%Y-%m-%d %H:%M}.</p>"]
    figs = session.run_figures()
    rank = {k: i for i, k in enumerate(PAGE_ORDER)}
    figs = sorted(figs.items(), key=lambda kf: rank.get(kf[0], len(PAGE_ORDER)))  # stable: unlisted keep their order
    for i, (key, fig) in enumerate(figs):
        fig = fig() if callable(fig) else fig
        heading = fig.layout.title.text or key.replace("_", " ")
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=i == 0))
    parts.append("</body></html>")
    return "".join(parts)


def render(title: str) -> None:
    """A button that prepares the HTML, then the download."""
    st.subheader("Export")
    c1, c2 = st.columns([1, 3])
    if c1.button("Prepare all charts as one HTML file", key="prep_html"):
        session.set_export_html(page_html(title).encode())
    data = session.export_html()
    if data:
        c2.download_button("Download charts (HTML, works offline)", data, file_name="midi-rae-explorer.html",
                           mime="text/html", key="dl_html")
    st.caption("Single charts: the camera button at the top right of each saves it as PNG. For a shareable "
               "report without the server: `python -m midi_rae report FILE.mid -o report.html`.")

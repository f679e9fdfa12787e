"""What Streamlit alone costs on this machine: the first render of a page that holds only a title and a caption, and
of the same page with one 500-point chart (plotly, or Vega-Lite through st.vega_lite_chart), timed as scripts/bench_corpus.py times the Corpus page (numbers
for the README; not a test).

    python scripts/bench_floor.py --repeat 3

Each sample starts a fresh `streamlit run` of a throwaway app in a temporary folder and a fresh browser page, and
runs from the server's start to the page's last DOM change before 1 s of quiet (tests/browser_util.wait_ready).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import browser_util as bu  # noqa: E402

APP = '''
import os
import streamlit as st
st.title("floor")
st.caption("windows · model")
import numpy as np
xy = np.random.default_rng(0).normal(size=(500, 2))
if os.environ.get("FLOOR_PLOT") == "plotly":
    import plotly.graph_objects as go
    st.plotly_chart(go.Figure(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers")))
elif os.environ.get("FLOOR_PLOT") == "vega":
    st.vega_lite_chart({"data": {"values": [{"x": float(a), "y": float(b)} for a, b in xy]}, "mark": "point",
                        "encoding": {"x": {"field": "x", "type": "quantitative"},
                                     "y": {"field": "y", "type": "quantitative"}}})
'''


def first_render(browser, folder: Path, plot: str) -> float:
    """Seconds from `streamlit run` of the throwaway app to its drawn, quiet page."""
    port = bu.free_port()
    t0 = time.time()
    proc = bu.start_server(port, env={"FLOOR_PLOT": plot})
    try:
        page = bu.new_page(browser)
        page.goto(f"http://localhost:{port}/")
        dt = bu.wait_ready(page, 120, min_charts=1 if plot else 0, t0=t0,
                           extra=lambda: bu.caption_with(page, "windows · model") is not None)
        page.close()
        return dt
    finally:
        bu.stop_server(proc)


def main() -> None:
    """Interleave the bare page and the page with a chart, `--repeat` samples each; print the medians."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="also write the samples here")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        folder = Path(tmp)
        (folder / "app").mkdir()
        (folder / "app" / "main.py").write_text(APP)
        bu.ROOT = folder  # start_server runs `streamlit run app/main.py` from ROOT
        browser = bu.launch_browser(pw)
        kinds = {"bare": "", "one plotly chart": "plotly", "one Vega-Lite chart": "vega"}
        samples: dict[str, list[float]] = {name: [] for name in kinds}
        for _ in range(a.repeat):
            for name, plot in kinds.items():
                samples[name].append(round(first_render(browser, folder, plot), 2))
        browser.close()
    for name, xs in samples.items():
        print(f"{name}: median {statistics.median(xs):.2f} s ({min(xs):.2f}–{max(xs):.2f}), samples {xs}")
    if a.json:
        a.json.write_text(json.dumps(samples, indent=1))


if __name__ == "__main__":
    main()

"""A long piece's interactions in headless Chromium (numbers for the README; not a test).

    python scripts/bench_long.py --bars 500 --repeat 4

Starts `streamlit run app/main.py`, drops a `--bars`-bar piece (scripts/bench_app.long_piece, 2 s a bar), then
times, as scripts/bench_app.py does (action to the page's last change before a second of quiet): transposing it
±1 semitone, moving its window ±1 bar, and opening the "Level ablation" tab and going back.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import browser_util as bu  # noqa: E402
from bench_app import TRANSPOSE, long_piece  # noqa: E402

WINDOW = "Window start (bar)"


def timed(page, action, probe, timeout: float = 300.0) -> float:
    """Seconds from `action()` until `probe()` changed and the page is drawn and quiet."""
    before = probe()
    t0 = time.time()
    action()
    changed = [False]

    def cond() -> bool:
        changed[0] = changed[0] or probe() != before
        return changed[0]

    return round(bu.wait_ready(page, timeout, extra=cond, t0=t0), 3)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=4)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    port = bu.free_port()
    proc = bu.start_server(port)
    out: dict[str, list[float]] = {"drop": [], "transpose": [], "window": [], "ablation_tab": [], "tab_back": []}
    try:
        with sync_playwright() as pw:
            browser = bu.launch_browser(pw)
            page = bu.new_page(browser)
            page.goto(f"http://localhost:{port}/")
            bu.wait_ready(page, 300)
            name = f"long_{args.bars}.mid"
            t0 = time.time()
            bu.drop_file(page, name, long_piece(args.bars))
            out["drop"].append(round(bu.wait_ready(page, 300, extra=lambda: name in (bu.header_caption(page) or ""),
                                                   t0=t0), 3))
            sig = lambda: bu.content_signature(page)  # noqa: E731
            for i in range(args.repeat):
                d = 1 if i % 2 == 0 else -1
                out["transpose"].append(timed(page, lambda: bu.move_slider(page, TRANSPOSE, d), sig))
            for i in range(args.repeat):
                d = 1 if i % 2 == 0 else -1
                out["window"].append(timed(page, lambda: bu.move_slider(page, WINDOW, d), sig))
            for _ in range(args.repeat):
                out["ablation_tab"].append(timed(page, lambda: bu.tab(page, "Level ablation").click(),
                                                 lambda: bu.selected_tab(page)))
                out["tab_back"].append(timed(page, lambda: bu.tab(page, "Spectrum of every level").click(),
                                             lambda: bu.selected_tab(page)))
            print("exceptions:", bu.exceptions(page))
            browser.close()
    finally:
        bu.stop_server(proc)
    for k, v in out.items():
        print(f"{k}: median {statistics.median(v):.2f} s, samples {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

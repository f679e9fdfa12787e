"""Speed of the corpus explorer as a person sees it, in headless Chromium (numbers for the README; not a test).

    python scripts/bench_corpus.py                      # 3 repeats each, quiet machine
    python scripts/bench_corpus.py --busy --repeat 3    # one core kept busy by another process

(a) Corpus page first render: seconds from starting `streamlit run app/main.py` until a fresh browser page at
    /corpus shows the shipped index's map (its chart drawn, the index summary shown) and is quiet; each repeat
    starts a fresh server.
(b) Find similar: on the piece page, with the "Find similar in the corpus" tab open, seconds from pressing
    "Find similar" until the result cards are drawn and the page is quiet; the window moves one bar
    (untimed) before each repeat, so every search is a new query.
(c) A region drawn on the map: seconds from the end of a drag over the map (the middle half of its points, or
    the left or right half of those, in turn) until what the region holds is listed and the page is quiet.
(d) Trace a piece: seconds from picking a piece (two in turn) until its path is drawn and the page is quiet.

Times run to the page's last DOM change before 1 s of quiet, as in scripts/bench_app.py.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_util import (button, caption_with, drag, free_port, launch_browser, map_points,  # noqa: E402
                          move_slider, new_page, select_option, selectbox_options, start_server, stop_server, tab,
                          wait_ready)

FIND_TAB, FIND_BUTTON, RESULT_CAPTION = "Find similar in the corpus", "Find similar", "Nearest to"


def first_render(browser, log: Path) -> float:
    """(a) one fresh server, timed from its start to the drawn Corpus page."""
    port = free_port()
    t0 = time.time()
    proc = start_server(port, log=log)
    try:
        page = new_page(browser)
        page.goto(f"http://localhost:{port}/corpus")
        dt = wait_ready(page, 180, min_charts=1, extra=lambda: caption_with(page, "windows · model") is not None,
                        t0=t0)
        page.close()
        return dt
    finally:
        stop_server(proc)


def find_similar(browser, log: Path, n: int) -> list[float]:
    """(b) n searches from the piece view, each for a new window."""
    port = free_port()
    proc = start_server(port, log=log)
    try:
        page = new_page(browser)
        page.goto(f"http://localhost:{port}")
        wait_ready(page, 180, extra=lambda: caption_with(page, "finest patches hidden") is not None)
        tab(page, FIND_TAB).click()
        wait_ready(page, 120, extra=lambda: page.get_by_role("button", name=FIND_BUTTON, exact=True).count() > 0)
        out = []
        for i in range(n):
            if i:
                move_slider(page, "Window start (bar)", 1)
                wait_ready(page, 120, extra=lambda: caption_with(page, RESULT_CAPTION) is None)
            t0 = time.time()
            button(page, FIND_BUTTON).click()
            out.append(wait_ready(page, 120, extra=lambda: caption_with(page, RESULT_CAPTION) is not None, t0=t0))
        return out
    finally:
        stop_server(proc)


def map_actions(browser, log: Path, n: int) -> tuple[list[float], list[float]]:
    """(c) n regions drawn and (d) n pieces traced on the shipped index's map, one server."""
    import re

    port = free_port()
    proc = start_server(port, log=log)
    try:
        page = new_page(browser)
        page.goto(f"http://localhost:{port}/corpus")
        wait_ready(page, 180, min_charts=1, extra=lambda: caption_with(page, "windows · model") is not None)
        boxes = [b for b in (p.bounding_box() for p in map_points(page).all()) if b]
        xs, ys = sorted(b["x"] for b in boxes), sorted(b["y"] for b in boxes)
        x0, xm, x1 = xs[len(xs) // 4], xs[len(xs) // 2], xs[3 * len(xs) // 4]
        y0, y1 = ys[len(ys) // 4], ys[3 * len(ys) // 4]
        rects = [(x0, y0, x1, y1), (x0, y0, xm, y1), (xm, y0, x1, y1)]
        heading = re.compile(r"^The region: [\d,]+ of the")
        regions, traces = [], []
        for i in range(n):
            before = page.get_by_text(heading).first.inner_text() if page.get_by_text(heading).count() else None
            t0 = time.time()
            drag(page, *rects[i % len(rects)])
            regions.append(wait_ready(page, 120, min_charts=1, extra=lambda: page.get_by_text(heading).count() > 0
                                      and page.get_by_text(heading).first.inner_text() != before, t0=t0))
        pieces = selectbox_options(page, "Trace a piece")[1:3]
        for i in range(n):
            t0 = time.time()
            select_option(page, "Trace a piece", pieces[i % 2])
            traces.append(wait_ready(page, 120, min_charts=1,
                                     extra=lambda: caption_with(page, f"Traced: {pieces[i % 2]},") is not None, t0=t0))
        return regions, traces
    finally:
        stop_server(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="repeats of each measurement (default 3)")
    ap.add_argument("--busy", action="store_true", help="keep one core busy (one `while True: pass` process)")
    ap.add_argument("--logs", type=Path, default=Path("/tmp/bench_corpus"), help="server logs go here")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    args.logs.mkdir(parents=True, exist_ok=True)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.busy else None
    try:
        with sync_playwright() as pw:
            browser = launch_browser(pw)
            firsts = [first_render(browser, args.logs / f"first_{i}.log") for i in range(args.repeat)]
            finds = find_similar(browser, args.logs / "find.log", args.repeat)
            regions, traces = map_actions(browser, args.logs / "map.log", args.repeat)
            browser.close()
    finally:
        if hog is not None:
            hog.kill()
    cond = "one core busy" if args.busy else "quiet"
    print(f"| corpus explorer ({cond}, {args.repeat} repeats) | median | max | samples |")
    print("|---|---:|---:|---|")
    for name, xs in (("Corpus page first render", firsts), ("find similar from the piece view", finds),
                     ("a region drawn on the map", regions), ("a piece traced on the map", traces)):
        print(f"| {name} | {statistics.median(xs):.2f} s | {max(xs):.2f} s | {', '.join(f'{x:.2f}' for x in xs)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

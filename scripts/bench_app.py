"""Speed of the dashboard as a person sees it, in headless Chromium (numbers for the README; not a test).

    python scripts/bench_app.py --json bench.json

(a) first render: seconds from starting `streamlit run app/main.py` until a fresh page shows every view
    (≥ 7 charts drawn by plotly) with no script running;
(b) mask-ratio slider: one ArrowRight / ArrowLeft press on "Mask ratio", timed until the
    "finest patches hidden" caption changes and the page is quiet; 10 presses alternating direction
    (after the first two, those values are in the app's window cache), then 10 presses in one direction
    (every value new to the server, so the window is encoded and decoded again);
(c) a 10-minute piece (300 bars of 4/4 at 120 BPM, four voices) dropped on the uploader, timed from the
    drop until the header names it, every chart is drawn and the page is quiet.

A page counts as ready when its condition holds, no script runs and its DOM has not changed for 1 s;
the time reported is that of the last DOM change (a MutationObserver installed before the page's own
scripts records it), i.e. when the browser finished drawing. The benchmark polls with one plain DOM
query every 0.1 s, so the measuring barely slows the page it measures.

Needs /usr/bin/chromium and the playwright package (never downloads a browser).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser_util import (chart_count, chromium_available, drop_file, exceptions, free_port,  # noqa: E402
                          header_caption, hidden_caption, launch_browser, move_slider, new_page, screenshot,
                          slider_value, start_server, stop_server, wait_ready)

TIMEOUT = 300.0


def long_piece(bars: int = 300, tempo: float = 120.0, seed: int = 0) -> bytes:
    """A `bars`-bar 4/4 piece with melody, chords, bass and drums (300 bars at 120 BPM = 600 s)."""
    import pretty_midi

    rng = random.Random(seed)
    beat = 60.0 / tempo
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    melody, chords = pretty_midi.Instrument(0, name="melody"), pretty_midi.Instrument(0, name="chords")
    bass, drums = pretty_midi.Instrument(33, name="bass"), pretty_midi.Instrument(0, is_drum=True, name="drums")
    scale = [0, 2, 4, 5, 7, 9, 11, 12, 14]
    for b in range(bars):
        root = [0, 5, 7, 9, 2, 7, 0, 0][b % 8]
        t0 = b * 4 * beat
        for p in (48 + root, 52 + root, 55 + root):
            chords.notes.append(pretty_midi.Note(70, p, t0, t0 + 2 * beat))
            chords.notes.append(pretty_midi.Note(70, p, t0 + 2 * beat, t0 + 4 * beat))
        t = 0.0
        while t < 4:
            d = rng.choice([0.25, 0.5, 0.5, 1.0])
            melody.notes.append(pretty_midi.Note(90, 67 + scale[rng.randrange(len(scale))] + (root % 5),
                                                 t0 + t * beat, t0 + min(t + d, 4) * beat))
            t += d
        for k in range(4):
            bass.notes.append(pretty_midi.Note(90, 36 + root + (7 if k == 2 else 0), t0 + k * beat,
                                               t0 + (k + 0.9) * beat))
        for k in range(8):
            drums.notes.append(pretty_midi.Note(100, 42, t0 + k * beat / 2, t0 + k * beat / 2 + 0.05))
            if k % 4 == 0:
                drums.notes.append(pretty_midi.Note(100, 36 if k == 0 else 38, t0 + k * beat / 2,
                                                    t0 + k * beat / 2 + 0.1))
    pm.instruments += [melody, chords, bass, drums]
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def slider_series(page, presses: list[str]) -> list[dict]:
    """Press the Mask ratio slider once per entry ('R' or 'L'); time each until the caption follows."""
    out = []
    for d in presses:
        before = hidden_caption(page)
        v0 = slider_value(page, "Mask ratio")
        t0 = time.time()
        move_slider(page, "Mask ratio", 1 if d == "R" else -1)
        dt = wait_ready(page, TIMEOUT, extra=lambda: hidden_caption(page) not in (None, before), t0=t0)
        out.append({"direction": d, "from": float(v0), "to": float(slider_value(page, "Mask ratio")),
                    "seconds": round(dt, 3)})
    return out


def summary(moves: list[dict]) -> dict:
    s = [m["seconds"] for m in moves]
    return {"n": len(s), "median_s": round(statistics.median(s), 3), "max_s": round(max(s), 3),
            "min_s": round(min(s), 3), "moves": moves}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", type=Path, help="write the results here as JSON")
    ap.add_argument("--port", type=int, default=0, help="port for the server (default: a free one)")
    ap.add_argument("--screenshots", type=Path, help="save a full-page screenshot after each part here")
    ap.add_argument("--bars", type=int, default=300, help="length of the long piece in bars (default 300 = 10 min)")
    args = ap.parse_args()
    if not chromium_available():
        print("no Chromium at /usr/bin/chromium", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    port = args.port or free_port()
    log = Path(tempfile.mkdtemp(prefix="bench_app_")) / "server.log"
    res: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
                             "python": platform.python_version()}}
    try:
        import streamlit
        import torch
        res["machine"].update(streamlit=streamlit.__version__, torch=torch.__version__,
                              torch_threads=torch.get_num_threads())
    except ImportError:
        pass

    with sync_playwright() as pw:
        browser = launch_browser(pw)  # started before the clock: the browser's own start is not the app's
        proc = None
        try:
            # (a) first render
            t0 = time.time()
            proc = start_server(port, log=log, timeout=TIMEOUT)
            t_health = time.time() - t0
            page = new_page(browser)
            page.goto(f"http://localhost:{port}")
            t_first = wait_ready(page, TIMEOUT, extra=lambda: hidden_caption(page) is not None, t0=t0)
            res["first_render"] = {"server_health_s": round(t_health, 3), "first_full_render_s": round(t_first, 3),
                                   "charts": chart_count(page), "piece": header_caption(page)}
            screenshot(page, args.screenshots, "bench_a_first_render")

            # (b) slider moves
            alt = slider_series(page, ["R", "L"] * 5)
            fresh = slider_series(page, ["L"] * 10)
            res["mask_ratio_alternating"] = summary(alt)
            res["mask_ratio_new_values"] = summary(fresh)
            screenshot(page, args.screenshots, "bench_b_slider")

            # (c) a 10-minute piece
            data = long_piece(args.bars)
            name = f"long_{args.bars}_bars.mid"
            t0 = time.time()
            drop_file(page, name, data)
            t_long = wait_ready(page, TIMEOUT * 2, extra=lambda: name in (header_caption(page) or ""), t0=t0)
            res["long_piece"] = {"bars": args.bars, "duration_s": args.bars * 2.0, "bytes": len(data),
                                 "drop_to_ready_s": round(t_long, 3), "charts": chart_count(page),
                                 "header": header_caption(page)}
            screenshot(page, args.screenshots, "bench_c_long_piece")
            res["exceptions_on_page"] = exceptions(page)
        finally:
            browser.close()
            if proc is not None:
                stop_server(proc)
    res["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]

    fr, a, f, lp = res["first_render"], res["mask_ratio_alternating"], res["mask_ratio_new_values"], res["long_piece"]
    rows = [("server answers /_stcore/health", f"{fr['server_health_s']:.2f} s"),
            ("first full render (from server start)", f"{fr['first_full_render_s']:.2f} s"),
            ("mask ratio ±1 step, alternating (median / max)", f"{a['median_s']:.2f} s / {a['max_s']:.2f} s"),
            ("mask ratio −1 step, new values (median / max)", f"{f['median_s']:.2f} s / {f['max_s']:.2f} s"),
            (f"drop a {lp['duration_s'] / 60:.0f}-minute piece → all views", f"{lp['drop_to_ready_s']:.2f} s")]
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  time")
    print(f"{'-' * w}  {'-' * 17}")
    for k, v in rows:
        print(f"{k:<{w}}  {v}")
    m = res["machine"]
    print(f"\n{m['cpus']} CPUs, load average {m['load_avg_at_start'][0]} at start, {m['load_avg_at_end'][0]} at end;"
          f" streamlit {m.get('streamlit')}, torch {m.get('torch')}")
    if res["exceptions_on_page"]:
        print("exceptions on the page:", res["exceptions_on_page"], file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))
        print(f"wrote {args.json}")
    return 1 if res["exceptions_on_page"] else 0


if __name__ == "__main__":
    sys.exit(main())

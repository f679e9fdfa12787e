"""The browser's CPU work per interaction, from Chrome's own profiler (numbers for the README; not a test).

    python scripts/profile_browser.py [CHECKOUT...] [--step window_start] [--repeat 8] [--rounds 2]

Wall-clock times on a shared 2-core machine swing by ±40 % from one run to the next; the main thread's CPU time
per interaction, as Chrome's sampling profiler records it, moves far less. For each checkout in turn (default:
this one), each round starts a fresh server (that checkout's `midi_rae` first on its path) and a fresh page, then
repeats the step with the profiler on and reports the milliseconds per step spent in plotly, in React, and in
all (idle excluded), plus the wall-clock median. Rounds alternate the checkouts, so drift hits both alike.
"""
from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import browser_util as bu  # noqa: E402
from bench_ab import checkout_server  # noqa: E402

STEPS = {"window_start": "Window start (bar)", "transpose": "Transpose (semitones)", "mask_ratio": "Mask ratio"}


def _categories(profile: dict) -> dict[str, float]:
    """Milliseconds of samples whose stack holds plotly's or React's code, and of all non-idle samples."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    parent = {c: n["id"] for n in profile["nodes"] for c in n.get("children", [])}
    per_node: collections.Counter = collections.Counter()
    for sample, dt in zip(profile["samples"], profile["timeDeltas"]):
        per_node[sample] += dt
    out = {"plotly": 0.0, "react": 0.0, "busy": 0.0}
    for nid, dt in per_node.items():
        if nodes[nid]["callFrame"]["functionName"] == "(idle)":
            continue
        out["busy"] += dt
        urls, cur = set(), nid
        while cur is not None:
            urls.add(nodes[cur]["callFrame"]["url"].rsplit("/", 1)[-1])
            cur = parent.get(cur)
        out["plotly"] += dt if any(u.startswith("PlotlyChart") for u in urls) else 0
        out["react"] += dt if any(u.startswith("react-dom") for u in urls) else 0
    return {k: v / 1000 for k, v in out.items()}


def profile_step(browser, checkout: Path, label: str, repeat: int) -> dict:
    """One fresh server and page; `repeat` slider steps (alternating direction) under Chrome's profiler."""
    port, proc, _ = checkout_server(checkout)
    try:
        page = bu.new_page(browser, viewport={"width": 1600, "height": 1000})
        page.goto(f"http://localhost:{port}")
        bu.wait_ready(page, 300, extra=lambda: bu.hidden_caption(page) is not None)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 500})
        cdp.send("Profiler.start")
        walls = []
        for i in range(repeat):
            t0 = time.time()
            bu.move_slider(page, label, 1 if i % 2 == 0 else -1)
            walls.append(bu.wait_ready(page, 120, t0=t0))
        ms = _categories(cdp.send("Profiler.stop")["profile"])
        page.close()
        return {**{k: round(v / repeat, 1) for k, v in ms.items()}, "wall_median_s": round(statistics.median(walls), 3)}
    finally:
        bu.stop_server(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkouts", nargs="*", type=Path, default=[ROOT], help="checkouts to compare (default: this)")
    ap.add_argument("--step", choices=sorted(STEPS), default="window_start")
    ap.add_argument("--repeat", type=int, default=8, help="steps per round (default 8)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds over the checkouts (default 2)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    rows: dict = {str(c): [] for c in args.checkouts}
    with sync_playwright() as pw:
        browser = bu.launch_browser(pw)
        for r in range(args.rounds):
            for c in args.checkouts:
                res = profile_step(browser, c.resolve(), STEPS[args.step], args.repeat)
                rows[str(c)].append(res)
                print(f"round {r + 1} {c}: {res}", file=sys.stderr, flush=True)
        browser.close()
    print(f"| {args.step}: browser main thread per step (median of {args.rounds} rounds × {args.repeat}) "
          "| plotly | React | all busy | wall-clock |")
    print("|---|---:|---:|---:|---:|")
    for c, rs in rows.items():
        med = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
        print(f"| {c} | {med['plotly']:.0f} ms | {med['react']:.0f} ms | {med['busy']:.0f} ms "
              f"| {med['wall_median_s']:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Switching the bundled example after a pause, checkouts interleaved (numbers for the README; not a test).

    python scripts/bench_switch.py /tmp/before . --rounds 2 --pause 6

Each round starts a fresh server from each checkout in turn (PYTHONPATH set to it), waits for the first render,
then picks the example picker's next three options, `pause` seconds apart (a researcher reading the page), each
timed from the pick to the page's last DOM change with the new piece in the header (as scripts/bench_app.py times).
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
from bench_ab import checkout_server  # noqa: E402
from bench_app import EXAMPLE_PICKER  # noqa: E402
from browser_util import header_caption, select_option, selectbox_label, selectbox_options  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkouts", nargs="+", type=Path)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--pause", type=float, default=6.0, help="seconds between the page settling and the next pick")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {}
    with sync_playwright() as p:
        browser = bu.launch_browser(p)
        for _ in range(args.rounds):
            for root in args.checkouts:
                port, proc, _ = checkout_server(root.resolve())
                try:
                    page = bu.new_page(browser)
                    page.goto(f"http://localhost:{port}/")
                    bu.wait_ready(page, 120)
                    label = selectbox_label(page, EXAMPLE_PICKER)
                    for name in selectbox_options(page, label)[1:4]:
                        time.sleep(args.pause)
                        t0 = time.time()
                        select_option(page, label, name)
                        dt = bu.wait_ready(page, 60, t0=t0,
                                           extra=lambda: name.split(".")[0] in (header_caption(page) or ""))
                        out.setdefault(str(root), []).append(round(dt, 3))
                    page.close()
                finally:
                    bu.stop_server(proc)
                print(root, out[str(root)], flush=True)
    for root, v in out.items():
        print(f"{root}: median {statistics.median(v):.2f} s of {len(v)} ({min(v):.2f}-{max(v):.2f})")


if __name__ == "__main__":
    main()

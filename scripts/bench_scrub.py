"""Scrubbing the window with the keyboard, checkouts interleaved (numbers for the README; not a test).

    python scripts/bench_scrub.py --checkout /tmp/before --checkout . --repeat 2

Each sample starts a fresh server from a checkout, opens a 32-bar bundled example and presses the window slider's
arrow key `--keys` times, `--gap` seconds apart (a researcher holding or tapping the key), three times (right, left,
right); each is timed from the first key to the page's last DOM change with the last bar shown and in the address.
Every press is a run of the page, and the browser draws each run it is sent; what it can skip, it should.
"""
from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import browser_util as bu  # noqa: E402
from bench_ab import checkout_parser, checkout_server, interleaved  # noqa: E402

EXAMPLE = "cpe_bach_keyboard_h186.mid"  # 32 bars: room for 8 steps either way
SLIDER = "Window start (bar)"


def sample(browser, root: Path, keys: int, gap: float) -> list[float]:
    """Seconds from the first key to the settled page, for three scrubs of `keys` steps."""
    port, proc, _ = checkout_server(root.resolve())
    try:
        page = bu.new_page(browser, viewport={"width": 1400, "height": 1400})
        page.goto(f"http://localhost:{port}/?example={EXAMPLE}")
        bu.wait_ready(page, 180, extra=lambda: bu.hidden_caption(page) is not None)
        out = []
        for key in ("ArrowRight", "ArrowLeft", "ArrowRight"):
            handle = bu.slider(page, SLIDER)
            handle.focus()
            want = str(int(bu.slider_value(page, SLIDER)) + (keys if key == "ArrowRight" else -keys))
            t0 = time.time()
            for _ in range(keys):
                handle.press(key)
                time.sleep(gap)
            out.append(round(bu.wait_ready(page, 120, t0=t0, extra=lambda: bu.slider_value(page, SLIDER) == want
                                           and f"bar={want}&" in page.url), 3))
        page.close()
        return out
    finally:
        bu.stop_server(proc)


def main() -> None:
    ap = checkout_parser(__doc__, repeat=2)
    ap.add_argument("--keys", type=int, default=8)
    ap.add_argument("--gap", type=float, default=0.06, help="seconds between key presses")
    a = ap.parse_args()
    checkouts = a.checkout or [Path(".")]
    samples = interleaved(checkouts, a.repeat, lambda browser, c: sample(browser, c, a.keys, a.gap))
    for c, v in samples.items():
        flat = [x for s in v for x in s]
        print(f"{c}: median {statistics.median(flat):.2f} s of {len(flat)} ({min(flat):.2f}-{max(flat):.2f})")


if __name__ == "__main__":
    main()

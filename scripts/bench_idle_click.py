"""The first action after a pause on the piece page, when the server's background import of the corpus store
(lancedb) begins (numbers for the README; not a test).

    python scripts/bench_idle_click.py --checkout /tmp/before --checkout . --repeat 6

Each sample starts a fresh `streamlit run app/main.py` from a checkout and a fresh browser page at /, waits for
the first render (which ends after 1 s of quiet), waits `--pause` seconds without touching the page (the server
starts importing lancedb once no page has run for 4 s, and takes ~0.6 s: the default pause lands the step just
after the import begins), then moves the mask-ratio slider one step and times it to the page's last DOM change
before 1 s of quiet, as scripts/bench_app.py times a step. A second step follows at once, for comparison.
Checkouts are interleaved sample by sample.
"""
from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import browser_util as bu  # noqa: E402
from bench_ab import checkout_parser, checkout_server, interleaved  # noqa: E402

MASK_RATIO = "Mask ratio"


def step(page, direction: int) -> float:
    """One mask-ratio press, timed until the hidden-patches caption has changed and the page is quiet."""
    before = bu.hidden_caption(page)
    t0 = time.time()
    bu.move_slider(page, MASK_RATIO, direction)
    return bu.wait_ready(page, 60, extra=lambda: bu.hidden_caption(page) not in (None, before), t0=t0)


def sample(browser, checkout: Path, pause: float) -> dict[str, float]:
    """(the step after the pause, the step right after it) on a fresh server from `checkout`."""
    port, proc, t0 = checkout_server(checkout)
    try:
        page = bu.new_page(browser)
        page.goto(f"http://localhost:{port}/")
        bu.wait_ready(page, 120, t0=t0, extra=lambda: bu.hidden_caption(page) is not None)
        time.sleep(pause)
        first = step(page, 1)
        second = step(page, -1)
        page.close()
        return {"after_pause": round(first, 3), "next": round(second, 3)}
    finally:
        bu.stop_server(proc)


def main() -> None:
    """Interleave the checkouts, `--repeat` samples each; print every sample and the medians."""
    ap = checkout_parser(__doc__, repeat=4)
    ap.add_argument("--pause", type=float, default=2.3, help="seconds untouched before the step (default 2.3)")
    a = ap.parse_args()
    checkouts = [c.resolve() for c in (a.checkout or [Path(".")])]
    samples = interleaved(checkouts, a.repeat, lambda browser, c: sample(browser, c, a.pause))
    for c, xs in samples.items():
        print(f"{c}: after the pause {statistics.median(x['after_pause'] for x in xs):.2f} s, "
              f"the next step {statistics.median(x['next'] for x in xs):.2f} s (medians of {len(xs)})")
    if a.json:
        a.json.write_text(json.dumps(samples, indent=1))


if __name__ == "__main__":
    main()

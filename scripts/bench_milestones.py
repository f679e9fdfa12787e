"""Where the piece page's first render goes, in headless Chromium (numbers for the README; not a test).

    python scripts/bench_milestones.py --checkout /tmp/before --checkout . --repeat 3
    python scripts/bench_milestones.py --page corpus --repeat 3

Each sample starts a fresh `streamlit run app/main.py` from a checkout (PYTHONPATH set to it) and a fresh browser
page at /, and polls the page every 50 ms for its milestones, in seconds from the server's start: the HTML parsed
(`html`), the page's script has put an element on the page (`script`), a piano roll drawn (`roll`), the model's
views there (`model`: the masking caption), the PCA drawn (`pca`), and the page quiet (`done`, as
scripts/bench_app.py times a first render). With `--page corpus`, the Corpus page at /corpus: its index summary
(`summary`) and its map's points (`map`) instead. Checkouts are interleaved sample by sample.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import browser_util as bu  # noqa: E402
from bench_ab import checkout_parser, checkout_server, interleaved  # noqa: E402

PROBES = {
    "html": "() => document.readyState !== 'loading'",
    "script": "() => document.querySelector('[data-testid=stSidebarUserContent] [data-testid=stElementContainer]')"
              " !== null",
    "roll": "() => [...document.querySelectorAll('[data-testid=stBidiComponentIsolated]')]"
            ".some(h => h.shadowRoot && h.shadowRoot.querySelector('img.roll'))",
    "model": "() => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
             ".some(e => e.innerText.includes('finest patches hidden'))",
    "pca": "() => [...document.querySelectorAll('.live-plotly')].some(e => e.querySelector('.main-svg'))",
}
CORPUS_PROBES = {
    "html": PROBES["html"],
    "script": PROBES["script"],
    "summary": "() => [...document.querySelectorAll('[data-testid=stCaptionContainer]')]"
               ".some(e => e.innerText.includes('windows · model'))",
    "map": f"() => document.querySelector('{bu.VEGA} svg .mark-symbol.role-mark path') !== null",
}
PAGES = {"piece": ("/", PROBES, {}), "corpus": ("/corpus", CORPUS_PROBES, {"min_charts": 1})}


def sample(browser, checkout: Path, which: str = "piece") -> dict[str, float]:
    """One fresh server from `checkout`: each milestone of page `which`, in seconds from the server's start."""
    path, probes, ready = PAGES[which]
    port, proc, t0 = checkout_server(checkout)
    try:
        out = {"healthy": time.time() - t0}
        page = bu.new_page(browser)
        page.goto(f"http://localhost:{port}{path}", wait_until="commit")
        while len(out) <= len(probes) and time.time() - t0 < 120:
            for name, js in probes.items():
                if name not in out and page.evaluate(js):
                    out[name] = time.time() - t0
            time.sleep(0.05)
        out["done"] = bu.wait_ready(page, 120, t0=t0, **ready)
        page.close()
        return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: kv[1])}
    finally:
        bu.stop_server(proc)


def main() -> None:
    """Interleave the checkouts, `--repeat` samples each; print every sample."""
    ap = checkout_parser(__doc__, repeat=3)
    ap.add_argument("--page", choices=sorted(PAGES), default="piece", help="the page to open (default piece)")
    a = ap.parse_args()
    checkouts = [c.resolve() for c in (a.checkout or [Path(".")])]
    samples = interleaved(checkouts, a.repeat, lambda browser, c: sample(browser, c, a.page))
    if a.json:
        a.json.write_text(json.dumps(samples, indent=1))


if __name__ == "__main__":
    main()

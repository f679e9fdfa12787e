"""Two checkouts of the project side by side, interleaved in one run (numbers for the README; not a test).

    git worktree add /tmp/before <commit>
    python scripts/bench_ab.py /tmp/before . --repeat 3 --json ab.json

Each round starts a fresh server from each checkout in turn (PYTHONPATH set to it, so its own `midi_rae` is
imported; both use this virtual environment) and measures, from the server process's start as in
scripts/bench_app.py: the Corpus page's first render, the piece page's first render, and then on that page the
drop of a 10-minute piece. Interleaving keeps a machine's drift (other jobs, a slower host) out of the comparison.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))

import browser_util as bu  # noqa: E402
from bench_app import long_piece  # noqa: E402

MEASURES = ("corpus_first", "piece_first", "long_piece")


def checkout_server(root: Path, log: Path | None = None):
    """(port, process, start time) of `streamlit run app/main.py` from checkout `root`, its own midi_rae imported."""
    bu.ROOT = root
    port = bu.free_port()
    t0 = time.time()
    proc = bu.start_server(port, env={"PYTHONPATH": str(root)}, log=log)
    return port, proc, t0


def checkout_parser(doc: str, repeat: int) -> argparse.ArgumentParser:
    """The arguments of a script that interleaves checkouts: --checkout (repeatable), --repeat and --json."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--checkout", type=Path, action="append", help="a checkout to measure (repeatable; default .)")
    ap.add_argument("--repeat", type=int, default=repeat)
    ap.add_argument("--json", type=Path, default=None, help="also write the samples here")
    return ap


def interleaved(checkouts: list[Path], repeat: int, sample) -> dict[str, list]:
    """`repeat` samples of each checkout, `sample(browser, checkout)`, in rounds that take each checkout in turn
    (so a machine's drift hits all alike); each sample printed as it comes."""
    from playwright.sync_api import sync_playwright

    samples: dict[str, list] = {str(c): [] for c in checkouts}
    with sync_playwright() as pw:
        browser = bu.launch_browser(pw)
        for _ in range(repeat):
            for c in checkouts:
                samples[str(c)].append(sample(browser, c))
                print(c, samples[str(c)][-1], flush=True)
        browser.close()
    return samples


def corpus_first(browser, root: Path, log: Path) -> float:
    """Seconds from a fresh server's start to the drawn Corpus page."""
    port, proc, t0 = checkout_server(root, log)
    try:
        page = bu.new_page(browser)
        page.goto(f"http://localhost:{port}/corpus")
        return bu.wait_ready(page, 180, min_charts=1, t0=t0,
                             extra=lambda: bu.caption_with(page, "windows · model") is not None)
    finally:
        bu.stop_server(proc)


def piece_first_and_long(browser, root: Path, log: Path, seed: int) -> tuple[float, float]:
    """(first render of the piece page from a fresh server's start, then the drop of a 10-minute piece)."""
    port, proc, t0 = checkout_server(root, log)
    try:
        page = bu.new_page(browser)
        page.goto(f"http://localhost:{port}")
        first = bu.wait_ready(page, 180, t0=t0, extra=lambda: bu.header_caption(page) is not None
                              and bu.hidden_caption(page) is not None)
        time.sleep(4)  # the page's background work after its first render
        name = f"long_{seed}.mid"
        t1 = time.time()
        bu.drop_file(page, name, long_piece(300, seed=seed))
        return first, bu.wait_ready(page, 180, t0=t1, extra=lambda: name in (bu.header_caption(page) or ""))
    finally:
        bu.stop_server(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a", type=Path, help="the first checkout (e.g. a worktree of the old commit)")
    ap.add_argument("b", type=Path, help="the second checkout")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--json", type=Path, help="write every sample here")
    ap.add_argument("--logs", type=Path, default=Path("/tmp/bench_ab"), help="server logs go here")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    args.logs.mkdir(parents=True, exist_ok=True)
    roots = {"a": args.a.resolve(), "b": args.b.resolve()}
    res = {k: {m: [] for m in MEASURES} for k in roots}
    with sync_playwright() as pw:
        browser = bu.launch_browser(pw)
        for i in range(args.repeat):
            for k, root in roots.items():
                r = res[k]
                r["corpus_first"].append(round(corpus_first(browser, root, args.logs / f"{k}_corpus.log"), 2))
                first, long = piece_first_and_long(browser, root, args.logs / f"{k}_piece.log", 100 + i)
                r["piece_first"].append(round(first, 2))
                r["long_piece"].append(round(long, 2))
                print(k, {m: v[-1] for m, v in r.items()}, file=sys.stderr, flush=True)
        browser.close()
    print(f"| measure (median of {args.repeat}) | {args.a} | {args.b} | change |")
    print("|---|---:|---:|---:|")
    for m in MEASURES:
        a, b = statistics.median(res["a"][m]), statistics.median(res["b"][m])
        print(f"| {m} | {a:.2f} s | {b:.2f} s | {100 * (b - a) / a:+.0f} % |")
    if args.json:
        args.json.write_text(json.dumps({"checkouts": {k: str(v) for k, v in roots.items()}, "samples": res},
                                        indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

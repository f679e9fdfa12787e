"""Server-side cost of the piece page's charts, per checkout, interleaved (numbers for the README; not a test).

    git worktree add /tmp/before <commit>
    python scripts/bench_figures.py /tmp/before . --rounds 3

For each checkout in turn (a fresh process with that checkout first on the path; --rounds times), builds the
charts a window step or a patch click rebuilds, on inputs the size of a 10-minute piece's (a 4,800-step roll,
1,500 PCA points), and times each: the builder (median of --repeat calls), and what `st.plotly_chart` then
does with the figure on every rerun (plotly's to_dict and to_json). Prints a table of the medians.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, statistics, sys, time
import numpy as np
import plotly.io as pio
import plotly.tools
from midi_rae import figures as F

rng = np.random.default_rng(0)
roll = (rng.random((128, 4800)) < 0.02).astype(np.uint8)
win = roll[:, :128]
coords, cats = rng.normal(size=(1500, 3)), rng.integers(0, 5, 1500)
builders = {
    "overview (4,800 steps)": lambda: F.roll_overview(roll, 16, (0, 128), marks=[(16, 32)], title="piece"),
    "window": lambda: F.window_roll(win, 0, 4, 4, highlight=[(0, 16, 60, 8)], pitch_range=(40, 90),
                                    click_grid=(16, 16)),
    "PCA, 1,500 points by category": lambda: F.pca_scatter(coords, cats, "c", dims=2, highlight=cats == 1,
                                                           highlight_rings=True, categorical=True),
    "PCA, 1,500 points by time": lambda: F.pca_scatter(coords, cats.astype(float), "bar", dims=2,
                                                       highlight=cats == 1, highlight_rings=True),
    "explained variance": lambda: F.explained_variance(np.array([0.5, 0.2, 0.1]), title="v"),
    "self-similarity 40×40": lambda: F.similarity_matrix(rng.random((40, 40)), np.arange(40), title="s"),
    "spectrum of 6 levels": lambda: F.spectrum_plot(
        [dict(singular_values=np.sort(rng.random(d))[::-1], cumulative=np.linspace(0.2, 1, d))
         for d in (256, 128, 64, 32, 16, 8)]),
}


def median_ms(f, n):
    f()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


n = int(sys.argv[1])
res = {}
for name, build in builders.items():
    fig = build()
    send = lambda: pio.to_json(plotly.tools.return_figure_from_figure_or_data(fig, validate_figure=True),
                               validate=False)
    res[name] = {"build_ms": median_ms(build, n), "send_ms": median_ms(send, n)}
print(json.dumps(res))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkouts", nargs="+", type=Path)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args()
    runs: dict[str, list[dict]] = {str(c): [] for c in a.checkouts}
    for _ in range(a.rounds):
        for c in a.checkouts:
            # run in the checkout: `python -c` puts the working directory first on the path
            out = subprocess.run([sys.executable, "-c", CHILD, str(a.repeat)], capture_output=True, text=True,
                                 cwd=str(c.resolve()), env={"PYTHONPATH": str(c.resolve()), "PATH": "/usr/bin:/bin",
                                                            "OMP_NUM_THREADS": "1"}, check=True)
            runs[str(c)].append(json.loads(out.stdout))
    names = list(next(iter(runs.values()))[0])
    head = " | ".join(f"{c}: build / send (ms)" for c in runs)
    print(f"| chart | {head} |\n|---|" + "---|" * len(runs))
    for name in names:
        cells = []
        for c, rs in runs.items():
            b = statistics.median(r[name]["build_ms"] for r in rs)
            s = statistics.median(r[name]["send_ms"] for r in rs)
            cells.append(f"{b:.1f} / {s:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    if a.json:
        a.json.write_text(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

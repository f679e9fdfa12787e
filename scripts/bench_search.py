"""Search over a million vectors: an index's patch vectors replicated (each copy with a little noise) to at least
`--rows`, the IVF index built as `midi-rae index` builds it, then recall@10 against exact search and both
searches' latency (numbers for the README; not a test).

    python scripts/bench_search.py /tmp/idx --level 2 --rows 1000000 --queries 100

The index folder is copied first (into a temporary folder); the original is not changed.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from midi_rae.index import CorpusIndex, import_store, recall_at_k  # noqa: E402


def replicate(index: CorpusIndex, table: str, rows: int, noise: float, seed: int = 0) -> int:
    """Append noisy copies of `table`'s rows until it holds at least `rows`; returns the row count."""
    import pyarrow as pa

    base = index.table(table).to_arrow()
    vec = np.stack(base.column("vector").to_numpy(zero_copy_only=False)).astype(np.float32)
    scale = noise * float(np.median(np.linalg.norm(vec, axis=1))) / np.sqrt(vec.shape[1])
    rng = np.random.default_rng(seed)
    n, copy = len(base), 1
    while n < rows:
        noisy = vec + rng.normal(0, scale, vec.shape).astype(np.float32)
        col = pa.FixedSizeListArray.from_arrays(pa.array(noisy.ravel()), vec.shape[1])
        out = base.set_column(base.schema.get_field_index("vector"), base.schema.field("vector"),
                              col.cast(base.schema.field("vector").type))
        # a copy is a different window of the same piece: (piece_id, window, patch) stays a distinct key
        shifted = pa.compute.add(out.column("window"), pa.scalar(copy * 1_000_000, out.schema.field("window").type))
        out = out.set_column(out.schema.get_field_index("window"), "window", shifted)
        index.add(table, out)
        n += len(base)
        copy += 1
    return index.count(table)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("index", help="an index folder made by `midi-rae index`")
    ap.add_argument("--level", type=int, default=2, help="the patch level whose vectors are replicated")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--noise", type=float, default=0.05, help="noise per copy, relative to a vector's norm")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--nprobes", type=int, default=32)
    args = ap.parse_args()
    import_store()  # lancedb quiet
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "index"
        shutil.copytree(args.index, copy)
        index = CorpusIndex(copy)
        table = f"patches_{args.level}"
        n = replicate(index, table, args.rows, args.noise)
        t0 = time.time()
        built = index.build_ann(columns=[(table, "vector")], log=print)
        result = {"rows": n, "ann_build_s": round(time.time() - t0, 1), "built": built,
                  **recall_at_k(index, args.level, queries=args.queries, nprobes=args.nprobes, patch=True)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

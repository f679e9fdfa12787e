"""What an index says about its model: per level the mean cosine between windows and where nearest neighbours
fall, masked F1 per collection, and its link with note density (the README's corpus findings).

    python scripts/corpus_facts.py INDEX_DIR
"""
from __future__ import annotations

import sys

import lancedb
import numpy as np
import pandas as pd


def unit_rows(w: pd.DataFrame, level: int) -> np.ndarray:
    """The windows' pooled embeddings at `level`, each scaled to length 1."""
    e = np.stack(w[f"emb_{level}"].to_numpy()).astype(np.float64)
    return e / (np.linalg.norm(e, axis=1, keepdims=True) + 1e-12)


def main(index: str) -> None:
    """Print the findings for the index folder `index`."""
    db = lancedb.connect(index)
    w = db.open_table("windows").to_pandas()
    pieces = db.open_table("pieces").to_pandas()[["piece_id", "collection"]]
    w = w.merge(pieces, on="piece_id")
    levels = sum(c.startswith("emb_") for c in w.columns)
    for lv in range(levels):
        u = unit_rows(w, lv)
        c = u @ u.T
        pairs = c[np.triu_indices(len(c), 1)]
        np.fill_diagonal(c, -2)
        nn = c.argmax(1)
        same_piece = (w.piece_id.to_numpy()[nn] == w.piece_id.to_numpy()).mean()
        same_coll = (w.collection.to_numpy()[nn] == w.collection.to_numpy()).mean()
        print(f"level {lv}: mean cosine between windows {pairs.mean():.3f} (min {pairs.min():.3f}); nearest other "
              f"window in the same piece {same_piece:.2f}, in the same collection {same_coll:.2f}")
    print(w.groupby("collection")[["f1", "f1_masked"]].mean().sort_values("f1_masked").round(3))
    print(f"correlation of masked F1 with note density: {np.corrcoef(w.f1_masked, w.density)[0, 1]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1])

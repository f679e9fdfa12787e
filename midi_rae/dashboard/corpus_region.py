"""A region drawn on the Corpus map: which windows it holds, which collections and pieces they come from against
the whole index, how they reconstruct, the passages most typical of it, and the list as CSV.

The region is a rectangle of the map's plane; in the PCA map every window of the index is placed in that plane
(not only the drawn sample), so the counts are the index's.
"""
from __future__ import annotations

import os

import numpy as np
import streamlit as st

from midi_rae.index_view import png_paths

from . import corpus_sources as src
from . import tables
from .corpus_similar import passage_cards, render_cards

TYPICAL = 8       # passages shown as cards
TOP_ROWS = 12     # collections and pieces listed
MIN_WINDOWS = 30   # a collection with this many windows in a region has its share there compared with the index's
MIN_EXPECTED = 10  # ... as has one that would have this many there at its share of the index (a shortfall shows)
ABSENT_ROWS = 5    # collections with no window in the region listed after the others, the largest first


def composition(in_region: np.ndarray, everywhere: np.ndarray, absent: bool = False) -> list[dict]:
    """Per value (collection or piece) of the windows in a region, most windows first: its windows there, its
    share of the region, its share of all windows, how many times more often it is found in the region, and how many
    windows it would have there at its share of the index ("expected"). With `absent`, the values with no window in
    the region follow, the largest first."""
    values, counts = np.unique(np.asarray(in_region), return_counts=True)
    all_values, all_counts = np.unique(np.asarray(everywhere), return_counts=True)
    total = dict(zip(all_values.tolist(), all_counts.tolist()))
    counts = dict(zip(values.tolist(), (int(c) for c in counts)))
    n, n_all = max(len(in_region), 1), max(len(everywhere), 1)
    rows = [{"value": v, "windows": c, "of its windows": total.get(v, c),
             "share of the region": c / n, "share of the index": total.get(v, c) / n_all,
             "ratio": (c / n) / (total.get(v, c) / n_all), "expected": n * total.get(v, c) / n_all}
            for v, c in counts.items()]
    rows = sorted(rows, key=lambda r: -r["windows"])  # stable: ties keep np.unique's sorted order
    if absent:
        rows += sorted(({"value": v, "windows": 0, "of its windows": t, "share of the region": 0.0,
                         "share of the index": t / n_all, "ratio": 0.0, "expected": n * t / n_all}
                        for v, t in total.items() if v not in counts), key=lambda r: -r["of its windows"])
    return rows


def judged(row: dict) -> bool:
    """Are there enough windows to compare a collection's share of a region with its share of the index: many
    there, or many expected there (its absence, or near absence, from a large region is then a finding too)?"""
    return row["windows"] >= MIN_WINDOWS or row["expected"] >= MIN_EXPECTED


def typical_order(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order of rows, most typical first; each one's cosine to the rows' mean direction): the rows nearest the
    centre of a region in the embedding itself, not in the map's plane."""
    norms = np.linalg.norm(vectors, axis=1)
    unit = vectors / np.maximum(norms, 1e-12)[:, None]
    centre = unit[norms > 0].mean(0) if (norms > 0).any() else np.zeros(vectors.shape[1], vectors.dtype)
    cos = unit @ (centre / max(float(np.linalg.norm(centre)), 1e-12))
    cos[norms == 0] = -np.inf  # a silent window's zero vector typifies nothing
    order = np.argsort(-cos, kind="stable")
    return order, cos[order]


def render_region(uri: str, stamp: str, index, level: int, rows: np.ndarray, placed: int) -> None:
    """What the region's windows (rows of `corpus_sources.tables`' windows) are, under the map; `placed`: how many
    windows the map's plane holds (all of the index's, or in a UMAP those drawn)."""
    _, win = src.tables(uri, stamp)
    rows = np.sort(rows)
    sub = win.iloc[rows]
    drawn_only = placed < len(win)
    of = " drawn" if drawn_only else ""
    if sub.empty:
        st.info(f"The region drawn on the map holds none of the{of} windows: draw another over some points.")
        return
    n_pieces = sub["piece_id"].nunique()
    st.markdown(f"**The region: {len(sub):,} of the {placed:,}{of} windows, from {n_pieces:,} "
                f"{'piece' if n_pieces == 1 else 'pieces'}**" + (" (UMAP places only the windows drawn)"
                                                                   if drawn_only else ""))
    has_f1 = bool(index.meta.get("has_decoder")) and sub["f1"].notna().any()
    means = [("notes per beat", "density", ".2f")] + ([("F1", "f1", ".3f"), ("masked F1", "f1_masked", ".3f")]
                                                       if has_f1 else [])
    st.caption("In the region, against the whole index: " + "; ".join(
        f"{label} {sub[col].mean():{fmt}} ({win[col].mean():{fmt}})" for label, col, fmt in means)
        + f"; position in the piece {sub['position'].mean():.2f} ({win['position'].mean():.2f}; 0 start, 1 end).")
    _composition_tables(sub, win)
    from midi_rae.index import CANDIDATES

    order, cos = typical_order(src.level_vectors(uri, stamp, level)[rows])
    keep = np.isfinite(cos)
    best, scores = order[keep][:TYPICAL * CANDIDATES], cos[keep][:TYPICAL * CANDIDATES]
    cards = passage_cards(uri, stamp, sub.iloc[best], scores, TYPICAL)
    st.markdown(f"**{'The passage' if len(cards) == 1 else f'The {len(cards)} passages'} most typical of the "
                f"region** at level {level}")
    st.caption("The number on each card is its cosine similarity to the region's mean embedding at this level.")
    render_cards(cards, index, "region")
    st.download_button("The region's windows (CSV)", lambda: region_csv(sub, level).encode(),
                       file_name=f"region_level{level}.csv", mime="text/csv", key="dl_region", on_click="ignore")


def region_csv(sub, level: int) -> str:
    """The region's windows as a researcher reads them: where each is (collection, piece, its file relative to the
    index, bars as every corpus view names them, start step) and what the index says of it, at `level`."""
    import pandas as pd

    table = pd.DataFrame({
        "level": level, "collection": sub["collection"].to_numpy(), "piece": sub["name"].to_numpy(),
        # the index stores a file's place relative to the index folder's parent (an index moved with its sources
        # still finds them); from the index folder itself it is one level further up
        "file": [os.path.normpath(os.path.join("..", r)) if isinstance(r, str) and r else p
                 for r, p in zip(sub["rel"], sub["path"])],
        "bars": src.spans(sub["start_step"], sub["end_step"], sub["steps_per_bar"], sub["steps_per_beat"],
                          sub["path"]),
        "start_bar": [None if png else b for png, b in zip(png_paths(sub["path"]), sub["start_bar"])],  # none: PNG
        "start_step": sub["start_step"].to_numpy(),
        "notes_per_beat": sub["density"].to_numpy(), "f1": sub["f1"].to_numpy(),
        "f1_masked": sub["f1_masked"].to_numpy()})
    return table.to_csv(index=False, float_format="%.4g")


def _percent(share: float) -> str:
    return f"{100 * share:.1f}%" if share >= 0.0005 else "<0.1%"


def _composition_tables(sub, win) -> None:
    import pandas as pd

    c1, c2 = st.columns(2)
    every = composition(sub["collection"].to_numpy(), win["collection"].to_numpy(), absent=True)
    coll = [r for r in every if r["windows"]]
    missing = [r for r in every if not r["windows"] and judged(r)][:ABSENT_ROWS]
    shown = coll[:TOP_ROWS] + missing
    # static tables (a dozen rows at most): st.dataframe's grid cost the browser ~0.3 s more per region drawn
    c1.markdown("**Collections** (ratio: its share of the region over its share of the index)")
    tables.show(c1, pd.DataFrame({
        "collection": [r["value"] for r in shown], "windows": [r["windows"] for r in shown],
        "of the region": [_percent(r["share of the region"]) for r in shown],
        "of the index": [_percent(r["share of the index"]) for r in shown],
        "ratio": [f"{r['ratio']:.2f}×" if judged(r) else "—" for r in shown],
    }), index=False)
    notes = []
    if len(coll) > TOP_ROWS:
        rest = coll[TOP_ROWS:]
        notes.append(f"And {len(rest)} more collections with {sum(r['windows'] for r in rest):,} windows here.")
    if any(not judged(r) for r in shown):
        notes.append(f"—: too few windows to compare (a ratio needs {MIN_WINDOWS} in the region, or "
                     f"{MIN_EXPECTED} expected there at the collection's share of the index).")
    if missing:
        notes.append("Collections with no window here are listed where at least "
                     f"{MIN_EXPECTED} were expected.")
    if notes:
        c1.caption(" ".join(notes))
    pid = win["piece_id"].to_numpy()
    top = composition(sub["piece_id"].to_numpy(), pid)[:TOP_ROWS]
    first = {r["value"]: int(np.argmax(pid == r["value"])) for r in top}  # a row of each piece, for its name
    c2.markdown("**Pieces** (" + ("the one piece here)" if len(top) == 1 else f"the {len(top)} with most windows "
                                                                              "here)"))
    tables.show(c2, pd.DataFrame({
        "piece": [f"{win['collection'].iat[first[r['value']]]}/{win['name'].iat[first[r['value']]]}" for r in top],
        "windows": [r["windows"] for r in top], "of its windows": [r["of its windows"] for r in top]}), index=False)

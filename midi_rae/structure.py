"""Structure of a piece in embedding space: pooled windows, self-similarity, neighbours, patch families, spectra.

Pure numpy. Every level is a (W, N, D) array: W windows, N = g*g patches on a row-major g x g grid,
D dimensions; levels are listed coarsest first and each grid side is twice the previous one.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["pooled_windows", "self_similarity", "nearest_patches", "family", "spectrum"]

_TINY = 1e-12  # below this a vector counts as zero and has no direction


def _unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in float64; zero rows stay zero so their cosines come out 0."""
    x = np.asarray(x, dtype=np.float64)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norm, out=np.zeros_like(x), where=norm > _TINY)


def pooled_windows(level_emb: np.ndarray, non_empty: np.ndarray | None = None) -> np.ndarray:
    """(W, N, D) -> (W, D): each window's mean patch embedding (over its non-empty patches when given).

    With `non_empty` (W, N) bool, a window with no non-empty patch falls back to the mean over all
    patches, so it still gets a vector.
    """
    emb = np.asarray(level_emb, dtype=np.float32)
    if emb.ndim != 3:
        raise ValueError(f"expected a (W, N, D) array, got shape {emb.shape}")
    if non_empty is None:
        return emb.mean(axis=1)
    ne = np.asarray(non_empty, dtype=bool).reshape(emb.shape[:2])
    # Fine levels are mostly empty patches that all look alike; averaging them in would hide the music.
    weights = np.where(ne.any(axis=1, keepdims=True), ne, True).astype(np.float32)
    return (emb * weights[..., None]).sum(axis=1) / weights.sum(axis=1, keepdims=True)


def self_similarity(vectors: np.ndarray) -> np.ndarray:
    """(W, D) -> (W, W) cosine similarity; a zero vector has similarity 0 with every other vector.

    The diagonal is exactly 1 (every vector, zero ones included, is identical to itself), and the
    matrix is exactly symmetric.
    """
    u = _unit_rows(vectors)
    if u.ndim != 2:
        raise ValueError(f"expected a (W, D) array, got shape {u.shape}")
    sim = np.clip(u @ u.T, -1.0, 1.0)
    sim = (sim + sim.T) / 2  # float rounding can differ between (i, j) and (j, i)
    np.fill_diagonal(sim, 1.0)
    return sim


def nearest_patches(level_emb: np.ndarray, window: int, patch: int, k: int = 8,
                    exclude_same_window: bool = False,
                    allowed: np.ndarray | None = None) -> list[tuple[int, int, float]]:
    """The k patches of the same level most cosine-similar to (window, patch), best first, the query excluded.

    `allowed` (W, N) bool limits the candidates (e.g. to non-empty patches). Returns (window, patch,
    similarity) triples; ties keep window-major, patch-minor order.
    """
    emb = np.asarray(level_emb)
    if emb.ndim != 3:
        raise ValueError(f"expected a (W, N, D) array, got shape {emb.shape}")
    W, N, D = emb.shape
    if not (0 <= window < W and 0 <= patch < N):
        raise IndexError(f"(window {window}, patch {patch}) is outside {W} windows of {N} patches")
    u = _unit_rows(emb.reshape(W * N, D))
    sims = np.clip(u @ u[window * N + patch], -1.0, 1.0)
    candidates = np.ones(W * N, dtype=bool)
    if allowed is not None:
        candidates &= np.asarray(allowed, dtype=bool).reshape(W * N)
    candidates[window * N + patch] = False
    if exclude_same_window:
        candidates[window * N:(window + 1) * N] = False
    idx = np.flatnonzero(candidates)
    order = idx[np.argsort(-sims[idx], kind="stable")][:max(k, 0)]
    return [(int(i // N), int(i % N), float(sims[i])) for i in order]


def _rows_cols(grid: int | tuple[int, int]) -> tuple[int, int]:
    return (int(grid), int(grid)) if np.isscalar(grid) else (int(grid[0]), int(grid[1]))


def family(level: int, patch: int, grids: list) -> dict[int, list[int]]:
    """Row-major indices of a patch's ancestors (coarser levels) and descendants (finer levels), per level.

    grids[k] is level k's grid, coarsest first: (rows, cols), or the side of a square grid. The patch's own
    level maps to [patch]; each list is sorted ascending.
    """
    if not 0 <= level < len(grids):
        raise IndexError(f"level {level} is outside the {len(grids)} levels")
    gr, gc = _rows_cols(grids[level])
    if not 0 <= patch < gr * gc:
        raise IndexError(f"patch {patch} is outside level {level}'s {gr}x{gc} grid")
    r, c = divmod(patch, gc)
    out: dict[int, list[int]] = {}
    for k, grid in enumerate(grids):
        kr, kc = _rows_cols(grid)
        if kr <= gr and kc <= gc:  # this level and its ancestors: one covering patch each
            out[k] = [(r // (gr // kr)) * kc + c // (gc // kc)]
        else:  # descendants: the block under the patch
            fr, fc = kr // gr, kc // gc
            rows, cols = np.meshgrid(np.arange(r * fr, (r + 1) * fr), np.arange(c * fc, (c + 1) * fc), indexing="ij")
            out[k] = sorted((rows * kc + cols).ravel().tolist())
    return out


def spectrum(level_emb: np.ndarray) -> dict:
    """Singular-value spectrum of a level's centred (W*N, D) embedding matrix.

    Keys: singular_values (descending), explained_ratio (share of variance per component),
    cumulative, n90 (fewest components reaching 90% of the variance; 0 when there is no variance),
    effective_rank (exp of the entropy of the explained ratios, i.e. of the normalised squared
    singular values; 1 for a rank-1 matrix, D for a perfectly isotropic one, 0 without variance).
    """
    emb = np.asarray(level_emb, dtype=np.float64)
    x = emb.reshape(-1, emb.shape[-1])
    x = x - x.mean(axis=0)
    sv = np.linalg.svd(x, compute_uv=False) if x.size else np.zeros(x.shape[-1])
    power = sv ** 2
    total = float(power.sum())
    if total <= _TINY:
        ratio = np.zeros_like(sv)
        return {"singular_values": sv, "explained_ratio": ratio, "cumulative": ratio.copy(), "n90": 0,
                "effective_rank": 0.0}
    ratio = power / total
    cumulative = np.cumsum(ratio)
    n90 = int(min(np.searchsorted(cumulative, 0.9 - 1e-12) + 1, len(sv)))
    p = ratio[ratio > 0]
    entropy = float(-(p * np.log(p)).sum())
    return {"singular_values": sv, "explained_ratio": ratio, "cumulative": cumulative, "n90": n90,
            "effective_rank": math.exp(entropy)}

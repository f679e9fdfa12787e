"""Principal components of embedding rows, in numpy alone: the dashboard draws its PCA before torch has loaded."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PCA:
    """A fitted principal-component projection."""

    mean: np.ndarray          # (D,)
    components: np.ndarray    # (k, D), rows are unit vectors
    explained_ratio: np.ndarray  # (k,) share of total variance per component
    singular_values: np.ndarray  # all of them, descending (the spectrum)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """(n, D) -> (n, k) coordinates."""
        return (x - self.mean) @ self.components.T


def pca_fit(x: np.ndarray, k: int = 3) -> PCA:
    """PCA of (n, D) rows via the D x D covariance (cheap for the small dims of these models)."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=0)
    xc = x - mean
    cov = xc.T @ xc / max(len(x) - 1, 1)
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1]
    evals, evecs = np.clip(evals[order], 0, None), evecs[:, order]
    total = evals.sum()
    have = min(k, x.shape[1])
    ratio = evals[:have] / total if total > 0 else np.zeros(have)
    sv = np.sqrt(evals * max(len(x) - 1, 1))
    comps = evecs[:, :have].T
    if have < k:  # a level of fewer dimensions than components asked for: the rest are zero axes explaining 0%
        comps = np.vstack([comps, np.zeros((k - have, x.shape[1]))])
        ratio = np.concatenate([ratio, np.zeros(k - have)])
    return PCA(mean.astype(np.float32), comps.astype(np.float32), ratio, sv)

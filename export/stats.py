"""What a preset knows about its latent space: per-class centroids and spread, PCA axes (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ClassStats:
    """centroid, std: [D] float64 (mean and per-dimension std of the class's mu); count: clips."""

    name: str
    centroid: np.ndarray
    std: np.ndarray
    count: int


def class_stats(mu: np.ndarray, labels: np.ndarray, class_names: list[str],
                fallback_mu: np.ndarray | None = None, fallback_labels: np.ndarray | None = None
                ) -> list[ClassStats]:
    """Centroid (mean of ``mu``), std and count for every class.

    mu: [N, D] latent means of the training clips; labels: [N] int in [0, C).
    A class with no training clip takes its statistics from ``fallback_mu``/``fallback_labels``
    (the held-out clips); with none there either it is an error (a preset cannot place it).
    """
    mu = np.asarray(mu, np.float64)
    labels = np.asarray(labels)
    out = []
    for i, name in enumerate(class_names):
        rows = mu[labels == i]
        if len(rows) == 0 and fallback_mu is not None and fallback_labels is not None:
            rows = np.asarray(fallback_mu, np.float64)[np.asarray(fallback_labels) == i]
        if len(rows) == 0:
            raise ValueError(f"class {name!r} has no clip to compute its centroid from")
        out.append(ClassStats(name, rows.mean(0), rows.std(0), int((labels == i).sum())))
    return out


@dataclass
class PCAAxes:
    """mean: [D]; components: [k, D] unit rows, strongest first; explained_variance: [k]."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray


def pca(mu: np.ndarray, max_axes: int | None = None) -> PCAAxes:
    """Principal axes of ``mu`` [N, D] (N >= 2) by SVD of the centred data.

    k = min(D, N - 1, max_axes). Each axis's sign is fixed so that its largest-magnitude entry is
    positive, which makes the axes deterministic (SVD signs are arbitrary).
    """
    mu = np.asarray(mu, np.float64)
    n, d = mu.shape
    if n < 2:
        raise ValueError(f"PCA needs at least 2 latent vectors, got {n}")
    mean = mu.mean(0)
    _, s, vt = np.linalg.svd(mu - mean, full_matrices=False)
    k = min(d, n - 1, max_axes or d)
    comps = vt[:k]
    signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(1)])
    signs[signs == 0] = 1.0
    comps = comps * signs[:, None]
    var = (s[:k] ** 2) / (n - 1)
    return PCAAxes(mean, comps, var)

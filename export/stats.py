"""What a preset knows about its latent space: per-class centroids and spread, PCA axes (numpy only)."""

from __future__ import annotations

import numpy as np
from vae_synth.evaluate.metrics import class_centroids
from vae_synth.synth.preset import PCA, PresetClass


def class_stats(mu: np.ndarray, labels: np.ndarray, class_names: list[str],
                fallback_mu: np.ndarray | None = None, fallback_labels: np.ndarray | None = None
                ) -> list[PresetClass]:
    """Centroid (mean of ``mu``), std and count for every class, as the preset holds them
    (computed in float64, stored float32).

    mu: [N, D] latent means of the training clips; labels: [N] int in [0, C).
    A class with no training clip takes its statistics from ``fallback_mu``/``fallback_labels``
    (the held-out clips); with none there either it is an error (a preset cannot place it).
    """
    mu = np.asarray(mu, np.float64)
    labels = np.asarray(labels)
    # the one definition of a class centre (evaluate.metrics); here over the training clips
    centres = class_centroids(mu, labels, len(class_names))
    if fallback_mu is not None and fallback_labels is not None:
        fallback = class_centroids(np.asarray(fallback_mu, np.float64),
                                   np.asarray(fallback_labels), len(class_names))
    out = []
    for i, name in enumerate(class_names):
        rows = mu[labels == i]
        centre = centres[i]
        if len(rows) == 0 and fallback_mu is not None and fallback_labels is not None:
            rows = np.asarray(fallback_mu, np.float64)[np.asarray(fallback_labels) == i]
            centre = fallback[i]
        if len(rows) == 0:
            raise ValueError(f"class {name!r} has no clip to compute its centroid from")
        out.append(PresetClass(name, centre, rows.std(0), int((labels == i).sum())))
    return out


def pca(mu: np.ndarray, max_axes: int | None = None) -> PCA:
    """Principal axes of ``mu`` [N, D] (N >= 2) by SVD of the centred data (computed in float64,
    stored float32 as the preset holds them).

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
    comps = vt[:k].astype(np.float32)  # the sign rule must hold for the values stored
    signs = np.sign(comps[np.arange(k), np.abs(comps).argmax(1)])
    signs[signs == 0] = 1.0
    comps = comps * signs[:, None]
    var = (s[:k] ** 2) / (n - 1)
    return PCA(mean, comps, var)

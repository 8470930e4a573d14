"""Reconstruction quality figures every run reports (numpy only; no TensorFlow here).

- ``recon_snr_db``: median over held-out clips of 10·log10(Σx² / Σ(x − x̂)²).
- ``recon_ratio``: median log-mel distance reconstruction→source divided by the median distance
  between two different real clips of the same class (below 1: reconstructions keep what makes a
  clip itself). Log-mel distance = mean |dB difference| over a 64-band mel spectrogram
  (n_fft = 1024 at 22.05 kHz, scaled with the rate; hop n_fft/4; floor −80 dB re full scale).
- ``centroid_level_db``: per class, RMS level (dBFS) of the decoded class centre (mean latent of
  the class's clips) minus the median RMS level of its real clips.
"""

from __future__ import annotations

import numpy as np


def _mel_matrix(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa.filters

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels)


def logmel_db(x: np.ndarray, sample_rate: int, n_mels: int = 64) -> np.ndarray:
    """x [N, L] -> log-mel spectrogram [N, frames, n_mels] in dB (floor -80 dB)."""
    n_fft = int(2 ** round(np.log2(1024 * sample_rate / 22050)))
    n_fft = max(128, min(n_fft, x.shape[-1]))
    hop = n_fft // 4
    n_frames = 1 + (x.shape[-1] - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
    frames = x[:, idx] * np.hanning(n_fft)  # [N, frames, n_fft]
    power = np.abs(np.fft.rfft(frames, axis=-1)) ** 2 / (n_fft / 4)
    mel = power @ _mel_matrix(sample_rate, n_fft, n_mels).T
    return 10 * np.log10(np.maximum(mel, 1e-8))


def logmel_distance(a_db: np.ndarray, b_db: np.ndarray) -> np.ndarray:
    """Mean |dB difference| between log-mel spectrograms [N, T, M] (or broadcastable) -> [N]."""
    return np.mean(np.abs(a_db - b_db), axis=(-2, -1))


def snr_db(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Per-clip SNR in dB: x, x_hat [N, L] -> [N]."""
    num = np.sum(x.astype(np.float64) ** 2, axis=-1)
    den = np.sum((x.astype(np.float64) - x_hat) ** 2, axis=-1)
    return 10 * np.log10(np.maximum(num, 1e-12) / np.maximum(den, 1e-12))


def level_db(x: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of each clip [N, L] -> [N]."""
    return 20 * np.log10(np.maximum(np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=-1)), 1e-9))


def same_class_distance(db: np.ndarray, y: np.ndarray) -> float:
    """Median log-mel distance over all pairs of different clips of the same class."""
    dists = []
    for c in np.unique(y):
        idx = np.nonzero(y == c)[0]
        for i in range(len(idx)):
            for j in range(i + 1, len(idx)):
                dists.append(logmel_distance(db[idx[i]], db[idx[j]]))
    return float(np.median(dists)) if dists else float("nan")


def reconstruction_report(
    x: np.ndarray, y: np.ndarray, x_hat: np.ndarray, centre_audio: np.ndarray,
    class_names: list[str], sample_rate: int, reference_x: np.ndarray | None = None,
    reference_y: np.ndarray | None = None,
) -> dict:
    """The figures above as a dict.

    x, x_hat: held-out clips and their reconstructions [N, L]; y [N] labels; centre_audio [C, L]:
    the decode of each class's mean latent. reference_x/_y: real clips for the same-class distance
    and the class levels (default x, y; pass train + test when the test set is tiny).
    """
    ref_x = x if reference_x is None else reference_x
    ref_y = y if reference_y is None else reference_y
    db_x = logmel_db(x, sample_rate)
    db_hat = logmel_db(x_hat, sample_rate)
    rec = logmel_distance(db_x, db_hat)
    same = same_class_distance(logmel_db(ref_x, sample_rate), ref_y)
    levels = level_db(ref_x)
    centre_levels = level_db(centre_audio)
    centroid_level = {}
    for c, name in enumerate(class_names):
        if np.any(ref_y == c):
            centroid_level[name] = float(centre_levels[c] - np.median(levels[ref_y == c]))
    snrs = snr_db(x, x_hat)
    return {
        "recon_snr_db": float(np.median(snrs)),
        "recon_snr_db_mean": float(np.mean(snrs)),
        "recon_logmel_distance": float(np.median(rec)),
        "same_class_logmel_distance": same,
        "recon_ratio": float(np.median(rec) / same) if same > 0 else float("nan"),
        "centroid_level_db": centroid_level,
        "centroid_level_db_worst": float(max(np.abs(list(centroid_level.values())), default=0.0)),
        "recon_level_db": float(np.median(level_db(x_hat) - level_db(x))),
    }


def latent_accuracy(train_mu, train_y, test_mu, test_y) -> dict:
    """Nearest-centroid (centres from train) and 1-NN accuracy (leave-one-out on test mu) [N, D]."""
    classes = np.unique(train_y)
    centres = np.stack([train_mu[train_y == c].mean(0) for c in classes])
    d = np.linalg.norm(test_mu[:, None, :] - centres[None], axis=-1)
    nc = float(np.mean(classes[np.argmin(d, axis=1)] == test_y)) if len(test_y) else float("nan")
    if len(test_y) > 1:
        dd = np.linalg.norm(test_mu[:, None, :] - test_mu[None], axis=-1)
        np.fill_diagonal(dd, np.inf)
        nn = float(np.mean(test_y[np.argmin(dd, axis=1)] == test_y))
    else:
        nn = float("nan")
    return {"nearest_centroid_accuracy": nc, "one_nn_accuracy": nn}

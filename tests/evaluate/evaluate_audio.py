"""Speech-like test audio generated here (tests never read the data root): voiced, formant-filtered,
zero-padded clips whose spectra move over time, like spoken digits."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def vowel_clip(
    rng: np.random.Generator,
    sample_rate: int = 8000,
    length: int = 4096,
    f0: float = 120.0,
    formants: tuple[tuple[float, float], ...] = ((700.0, 1100.0), (1200.0, 900.0)),
    voiced: int = 2500,
    noise: float = 0.01,
) -> np.ndarray:
    """One clip [length] float32: a glottal pulse train with a gliding pitch through two resonators
    whose centre frequencies glide between the given (start, end) pairs, then zero padding."""
    t = np.arange(voiced) / sample_rate
    f = f0 * (1.0 + 0.2 * t / t[-1])
    phase = np.cumsum(f) / sample_rate
    pulses = (np.diff(np.floor(phase), prepend=0.0) > 0).astype(np.float64)
    src = pulses + noise * rng.standard_normal(voiced)
    y = np.zeros(voiced)
    # block-wise resonators so the formants move (a crude time-varying filter)
    for start in range(0, voiced, 200):
        blk = slice(start, min(start + 200, voiced))
        frac = start / voiced
        out = src[blk]
        for fa, fb in formants:
            fc = fa + (fb - fa) * frac
            r = 0.97
            a = [1.0, -2 * r * np.cos(2 * np.pi * fc / sample_rate), r * r]
            out = lfilter([1.0 - r], a, out)
        y[blk] = out
    y *= np.hanning(voiced)
    y /= np.max(np.abs(y)) + 1e-12
    clip = np.zeros(length)
    clip[:voiced] = 0.8 * y
    return clip.astype(np.float32)


def digit_like_set(n_classes: int = 3, per_class: int = 6, seed: int = 0):
    """Clips [n_classes * per_class, 4096] and labels: classes differ in formant trajectories."""
    rng = np.random.default_rng(seed)
    trajectories = [
        ((300.0, 800.0), (900.0, 1150.0)),
        ((800.0, 350.0), (1100.0, 600.0)),
        ((500.0, 500.0), (250.0, 1000.0)),
        ((1000.0, 400.0), (400.0, 1000.0)),
    ]
    clips, labels = [], []
    for c in range(n_classes):
        for _ in range(per_class):
            jitter = tuple((a * rng.uniform(0.95, 1.05), b * rng.uniform(0.95, 1.05))
                           for a, b in trajectories[c % len(trajectories)])
            clips.append(vowel_clip(rng, f0=rng.uniform(100, 140), formants=jitter,
                                    voiced=int(rng.uniform(2200, 3000))))
            labels.append(c)
    return np.stack(clips), np.array(labels)

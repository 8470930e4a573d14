"""Synthesised training sets, deterministic from a seed (numpy + scipy only).

- ``drums``: kick, snare, tom and hi-hat one-shots with randomised parameters, for augmenting the
  small real drum set and for tests that must not depend on recordings.
- ``families``: the thesis's §4.2.1 families (one-period sine, two-period sawtooth,
  Gaussian-modulated sine) plus uniform white noise.
- ``fm``: the thesis's §4.1.1 study sets (constant sine, linear chirp f -> 2f, FM sine).

Every generator returns ``(audio [N, L] float32 in [-1, 1], labels [N] int, class_names)``
with the N clips spread evenly over the classes.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

DRUM_CLASSES = ["kick", "snare", "tom", "hihat"]
FAMILY_CLASSES = ["sine", "sawtooth", "gaussian"]
FM_CLASSES = ["sine", "chirp", "fm"]


def _labels(n: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Balanced labels [n] in a seeded random order."""
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    return labels.astype(np.int64)


def _envelope(t: np.ndarray, decay_s: float, attack_s: float = 0.001) -> np.ndarray:
    """Exponential decay with a short linear attack (no click at the onset). Shape of ``t``."""
    attack = np.clip(t / max(attack_s, 1e-6), 0.0, 1.0)
    return attack * np.exp(-t / decay_s)


def _bandpass(x: np.ndarray, lo: float, hi: float, sr: int, order: int = 2) -> np.ndarray:
    nyq = 0.5 * sr
    lo_n = min(max(lo / nyq, 1e-4), 0.98)
    hi_n = min(max(hi / nyq, lo_n + 1e-3), 0.99)
    sos = signal.butter(order, [lo_n, hi_n], btype="bandpass", output="sos")
    return signal.sosfilt(sos, x)


def _highpass(x: np.ndarray, cutoff: float, sr: int, order: int = 2) -> np.ndarray:
    sos = signal.butter(order, min(cutoff / (0.5 * sr), 0.98), btype="highpass", output="sos")
    return signal.sosfilt(sos, x)


def _sweep(t: np.ndarray, f_start: float, f_end: float, tau: float, sr: int) -> np.ndarray:
    """Phase [len(t)] of a sine whose frequency glides exponentially from f_start to f_end."""
    freq = f_end + (f_start - f_end) * np.exp(-t / tau)
    return 2 * np.pi * np.cumsum(freq) / sr


def drum_hit(kind: str, rng: np.random.Generator, sample_rate: int, length: int) -> np.ndarray:
    """One synthetic drum hit [length] float64 (not normalised).

    kind: "kick" (pitch-swept sine + click), "snare" (two tones + band-passed noise),
    "tom" (slower, higher pitch sweep), "hihat" (high-passed noise + metallic square partials,
    closed or open).
    """
    t = np.arange(length) / sample_rate
    sr = sample_rate
    noise = rng.standard_normal(length)
    if kind == "kick":
        f0, f1 = rng.uniform(110, 220), rng.uniform(40, 65)
        body = np.sin(_sweep(t, f0, f1, rng.uniform(0.02, 0.06), sr))
        body *= _envelope(t, rng.uniform(0.15, 0.45))
        click = _highpass(noise, 1500, sample_rate) * _envelope(t, rng.uniform(0.002, 0.006))
        return body + rng.uniform(0.05, 0.3) * click
    if kind == "snare":
        f = rng.uniform(160, 260)
        tone = np.sin(_sweep(t, f * 1.5, f, 0.01, sr)) + 0.5 * np.sin(_sweep(t, f * 2.6, f * 2.3, 0.01, sr))
        tone *= _envelope(t, rng.uniform(0.04, 0.1))
        rattle = _bandpass(noise, rng.uniform(1500, 3000), rng.uniform(6000, 9000), sample_rate)
        rattle *= _envelope(t, rng.uniform(0.08, 0.25))
        mix = rng.uniform(0.4, 0.8)
        return (1 - mix) * tone + mix * 3.0 * rattle
    if kind == "tom":
        f0 = rng.uniform(90, 260)
        body = np.sin(_sweep(t, f0 * 1.6, f0, rng.uniform(0.04, 0.1), sr))
        body *= _envelope(t, rng.uniform(0.2, 0.5))
        skin = _bandpass(noise, 300, 3000, sample_rate) * _envelope(t, 0.02)
        return body + rng.uniform(0.05, 0.2) * skin
    if kind == "hihat":
        ratios = np.array([2.0, 3.0, 4.16, 5.43, 6.79, 8.21])
        base = rng.uniform(300, 450)
        metal = np.sum(signal.square(2 * np.pi * base * ratios[:, None] * t[None, :]), axis=0)
        src = 0.5 * metal / len(ratios) + noise
        src = _highpass(src, rng.uniform(6000, 8000), sample_rate, order=4)
        decay = rng.uniform(0.02, 0.06) if rng.random() < 0.7 else rng.uniform(0.2, 0.5)
        return src * _envelope(t, decay)
    raise ValueError(f"unknown drum kind {kind!r}; expected one of {DRUM_CLASSES}")


def _normalise(x: np.ndarray, peak: float) -> np.ndarray:
    return (peak * x / max(np.max(np.abs(x)), 1e-9)).astype(np.float32)


def synth_drums(
    n: int, sample_rate: int = 22050, length: int = 16384, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """n drum one-shots: audio [n, length] peak-normalised to 1, labels [n] over DRUM_CLASSES."""
    rng = np.random.default_rng(seed)
    labels = _labels(n, len(DRUM_CLASSES), rng)
    audio = np.stack(
        [_normalise(drum_hit(DRUM_CLASSES[k], rng, sample_rate, length), 1.0) for k in labels]
    ) if n else np.zeros((0, length), np.float32)
    return audio, labels, list(DRUM_CLASSES)


def synth_families(
    n: int, length: int = 512, seed: int = 0, noise: float = 0.05
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Thesis §4.2.1 families: audio [n, length] in [-1, 1], labels [n] over FAMILY_CLASSES.

    A one-period sine, a two-period sawtooth and a Gaussian-modulated sinusoid over the frame, with
    random amplitude (0.5-0.95) and phase, plus uniform white noise in [-noise, noise].
    """
    rng = np.random.default_rng(seed)
    labels = _labels(n, len(FAMILY_CLASSES), rng)
    u = np.arange(length) / length
    out = np.zeros((n, length), np.float32)
    for i, k in enumerate(labels):
        amp = rng.uniform(0.5, 0.95)
        phase = rng.uniform(0, 2 * np.pi)
        if k == 0:
            x = np.sin(2 * np.pi * u + phase)
        elif k == 1:
            x = signal.sawtooth(2 * np.pi * 2 * u + phase)
        else:
            centre, width = rng.uniform(0.3, 0.7), rng.uniform(0.05, 0.15)
            cycles = rng.uniform(4, 12)
            x = np.exp(-0.5 * ((u - centre) / width) ** 2) * np.sin(2 * np.pi * cycles * u + phase)
        x = amp * x + rng.uniform(-noise, noise, length)
        out[i] = np.clip(x, -1, 1)
    return out, labels, list(FAMILY_CLASSES)


def synth_fm(
    n: int, sample_rate: int = 16000, length: int = 8192, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Thesis §4.1.1 FM study sets: audio [n, length] (amplitude 0.9), labels over FM_CLASSES.

    sine: constant f in [80, 1200] Hz; chirp: linear f -> 2f; fm: carrier in [100, 800] Hz whose
    modulator frequency (3-100 Hz) and depth (1-200 Hz) change linearly over the clip.
    """
    rng = np.random.default_rng(seed)
    labels = _labels(n, len(FM_CLASSES), rng)
    t = np.arange(length) / sample_rate
    dur = length / sample_rate
    out = np.zeros((n, length), np.float32)
    for i, k in enumerate(labels):
        if k == 0:
            phase = 2 * np.pi * rng.uniform(80, 1200) * t
        elif k == 1:
            f = rng.uniform(80, 1200)
            phase = 2 * np.pi * (f * t + 0.5 * (f / dur) * t**2)
        else:
            fc = rng.uniform(100, 800)
            fm = np.linspace(*rng.uniform(3, 100, 2), length)
            depth = np.linspace(*rng.uniform(1, 200, 2), length)
            inst = fc + depth * np.sin(2 * np.pi * np.cumsum(fm) / sample_rate)
            phase = 2 * np.pi * np.cumsum(inst) / sample_rate
        out[i] = 0.9 * np.sin(phase + rng.uniform(0, 2 * np.pi))
    return out, labels, list(FM_CLASSES)

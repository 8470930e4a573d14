"""How a drum source's clips sound, per class, in four figures: the strongest partial between 30
and 400 Hz (a kick's or tom's pitch), the spectral centroid, the share of energy above 11 kHz
(the hi-hats' and snares' air, as the evaluation measures it) and the time from the envelope's
peak to 20 dB under it (how long a hit rings). Each as the 10th, 50th and 90th percentile over
the class's clips, so a synthesiser's ranges can be set against real kits'.

    python scripts/drum_clip_stats.py "folder:DATA/drums?split=none" \\
        "synthetic:drums?n=120&split=none"

Each argument is a SOURCE (docs/TRAINING.md), loaded as training loads it (mono,
peak-normalised, leading silence trimmed) at --rate and --frame. Prints a Markdown table.
"""

from __future__ import annotations

import argparse

import numpy as np
from vae_synth.evaluate import metrics as M
from vae_synth.train import data as D

PITCH_BAND_HZ = (30.0, 400.0)


def clip_figures(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """x [N, L] -> [N, 4]: pitch (Hz), spectral centroid (Hz), share above 11 kHz, ring (s)."""
    # The whole frame's power spectrum, no window, as the evaluation's band shares take it: a
    # window would fade out the attack, which a one-shot starts with.
    power = np.abs(np.fft.rfft(np.asarray(x, np.float64), axis=1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[1], 1 / sample_rate)
    band = (freqs > PITCH_BAND_HZ[0]) & (freqs < PITCH_BAND_HZ[1])
    pitch = freqs[band][np.argmax(power[:, band], axis=1)]
    centroid = (power * freqs).sum(1) / np.maximum(power.sum(1), 1e-300)
    air = M.high_band_share(x, sample_rate)
    win = max(1, int(0.01 * sample_rate))   # 10 ms RMS envelope
    ring = np.empty(len(x))
    for i, clip in enumerate(x):
        env = np.sqrt(np.convolve(clip.astype(np.float64) ** 2, np.ones(win) / win, "same"))
        peak = int(np.argmax(env))
        below = np.flatnonzero(env[peak:] < 0.1 * env[peak])
        ring[i] = (below[0] if below.size else env.size - peak) / sample_rate
    return np.stack([pitch, centroid, air, ring], axis=1)


def table(sources: list[str], sample_rate: int, frame: int) -> str:
    """One row per source and class: 'p10 / p50 / p90' of each figure."""
    rows = ["| source | class | clips | pitch Hz | centroid Hz | share > 11 kHz | ring s |",
            "|---|---|---|---|---|---|---|"]
    for source in sources:
        data = D.load_sources([source], sample_rate, frame)
        x = np.concatenate([data.train_x, data.test_x])
        y = np.concatenate([data.train_y, data.test_y])
        figures = clip_figures(x, sample_rate)
        for k, name in enumerate(data.class_names):
            f = figures[y == k]
            if not len(f):
                continue
            p = np.percentile(f, [10, 50, 90], axis=0)
            cells = [" / ".join(fmt.format(v) for v in p[:, j])
                     for j, fmt in enumerate(("{:.0f}", "{:.0f}", "{:.3f}", "{:.2f}"))]
            rows.append(f"| `{source}` | {name} | {len(f)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("sources", nargs="+", metavar="SOURCE")
    parser.add_argument("--rate", type=int, default=44100, help="sample rate (default 44100)")
    parser.add_argument("--frame", type=int, default=32768,
                        help="clip length in samples (default 32768)")
    args = parser.parse_args(argv)
    try:
        print(table(args.sources, args.rate, args.frame))
    except D.DataError as err:
        parser.exit(2, f"error: {err}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does a model's reconstruction follow each clip's air (or level)? Per clip of one class, the
share of energy above 11 kHz of the real clip and of its reconstruction (decoder at the clip's
latent mean), training and held-out clips apart, the straight-line fit of the one on the
other and the median offset (reconstruction minus real); with ``--measure level``, the clips'
RMS level in dB instead.

A slope of 1 means a duller (softer) take comes back as dull (soft); a slope near 0 means every
take of the class comes back with the same air (level), whatever it had (the evaluation's
``recon_vs_own_db`` and its class centres' levels then depend on which clips a draw holds out).

    python scripts/air_tracking.py runs/drums "folder:$DATA/drums?split=holdout:0.2" \\
        "folder:$DATA/debian-drums?split=none" --class snare --seed 0 [--measure level]

The seed picks the held-out draw, as the recipe's ``schedule.seed`` does; give the run's. For
a preset, "train" and "held-out" are the source's split, not necessarily what it trained on.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def air_db(clips: np.ndarray, sample_rate: int) -> np.ndarray:
    """Share of energy above 11 kHz in dB: clips [N, L] -> [N]."""
    from vae_synth.evaluate import metrics as M

    return M.share_db(M.high_band_share(clips, sample_rate))


def level_db(clips: np.ndarray, sample_rate: int) -> np.ndarray:
    """RMS level in dB (the evaluation's level figure): clips [N, L] -> [N]."""
    from vae_synth.evaluate import metrics as M

    return M.rms_db(clips)


MEASURES = {"air": (air_db, "share of energy above 11 kHz, dB"), "level": (level_db, "RMS level, dB")}


def pairs(encode, decode, clips: np.ndarray, sample_rate: int,
          measure=air_db) -> tuple[np.ndarray, np.ndarray]:
    """(real, reconstruction) figures: clips [N, L] -> ([N], [N])."""
    mu, _ = encode(clips)
    return measure(clips, sample_rate), measure(decode(mu), sample_rate)


def fit(real: np.ndarray, recon: np.ndarray) -> tuple[float, float]:
    """(slope, correlation) of recon on real, both [N] dB; NaN for fewer than 3 clips."""
    if len(real) < 3 or np.ptp(real) == 0:
        return float("nan"), float("nan")
    return float(np.polyfit(real, recon, 1)[0]), float(np.corrcoef(real, recon)[0, 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a training run's folder or a preset (name or folder)")
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="data as `vae-synth train --data` takes it, split rule included")
    parser.add_argument("--class", dest="name", default="snare", help="class to look at")
    parser.add_argument("--seed", type=int, default=0, help="the held-out draw (the run's seed)")
    parser.add_argument("--checkpoint", default="last", help="a run's checkpoint: last or best")
    parser.add_argument("--measure", choices=tuple(MEASURES), default="air",
                        help="what to follow: the air (default) or the RMS level")
    args = parser.parse_args(argv)

    from vae_synth.evaluate.evaluation import open_model
    from vae_synth.train.data import load_source

    model = open_model(args.model, args.checkpoint)
    rate, frame = model.sample_rate, model.frame_length
    measure, what = MEASURES[args.measure]
    rows = {"train": ([], []), "held-out": ([], [])}
    for text in args.sources:
        data = load_source(text, rate, frame, args.seed)
        if args.name not in data.class_names:
            continue
        c = data.class_names.index(args.name)
        for split, x, y in (("train", data.train_x, data.train_y),
                            ("held-out", data.test_x, data.test_y)):
            if (y == c).any():
                real, recon = pairs(model.encode, model.decode, x[y == c], rate, measure)
                rows[split][0].extend(real)
                rows[split][1].extend(recon)
    if not any(real for real, _ in rows.values()):
        print(f"error: no clips of class {args.name!r} in the sources", file=sys.stderr)
        return 2
    print(f"{args.name}: {what} (real -> reconstruction)")
    for split, (real, recon) in rows.items():
        real, recon = np.asarray(real), np.asarray(recon)
        for i in np.argsort(real):
            print(f"  {split:8} {real[i]:6.1f} -> {recon[i]:6.1f}  ({recon[i] - real[i]:+.1f})")
    for split, (real, recon) in rows.items():
        real, recon = np.asarray(real), np.asarray(recon)
        slope, corr = fit(real, recon)
        offset = float(np.median(recon - real)) if len(real) else float("nan")
        print(f"{split}: {len(real)} clips, slope {slope:.2f}, correlation {corr:.2f}, "
              f"median offset {offset:+.1f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

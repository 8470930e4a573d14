"""Does a model's reconstruction follow each clip's air? Per clip of one class, the share of
energy above 11 kHz of the real clip and of its reconstruction (decoder at the clip's latent
mean), training and held-out clips apart, and the straight-line fit of the one on the other.

A slope of 1 means a duller take comes back as dull; a slope near 0 means every take of the
class comes back with the same air, whatever it had (the evaluation's ``recon_vs_own_db`` then
depends on which clips a draw holds out).

    python scripts/air_tracking.py runs/drums "folder:$DATA/drums?split=holdout:0.2" \\
        "folder:$DATA/debian-drums?split=none" --class snare --seed 0

The seed picks the held-out draw, as the recipe's ``schedule.seed`` does; give the run's. For
a preset, "train" and "held-out" are the source's split, not necessarily what it trained on.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def air_pairs(encode, decode, clips: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """(real, reconstruction) share of energy above 11 kHz in dB: clips [N, L] -> ([N], [N])."""
    from vae_synth.evaluate import metrics as M

    mu, _ = encode(clips)
    recon = decode(mu)
    return (M.share_db(M.high_band_share(clips, sample_rate)),
            M.share_db(M.high_band_share(recon, sample_rate)))


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
    args = parser.parse_args(argv)

    from vae_synth.evaluate.evaluation import open_model
    from vae_synth.train.data import load_source

    model = open_model(args.model, args.checkpoint)
    rate, frame = model.sample_rate, model.frame_length
    rows = {"train": ([], []), "held-out": ([], [])}
    for text in args.sources:
        data = load_source(text, rate, frame, args.seed)
        if args.name not in data.class_names:
            continue
        c = data.class_names.index(args.name)
        for split, x, y in (("train", data.train_x, data.train_y),
                            ("held-out", data.test_x, data.test_y)):
            if (y == c).any():
                real, recon = air_pairs(model.encode, model.decode, x[y == c], rate)
                rows[split][0].extend(real)
                rows[split][1].extend(recon)
    if not any(real for real, _ in rows.values()):
        print(f"error: no clips of class {args.name!r} in the sources", file=sys.stderr)
        return 2
    print(f"{args.name}: share of energy above 11 kHz, dB (real -> reconstruction)")
    for split, (real, recon) in rows.items():
        real, recon = np.asarray(real), np.asarray(recon)
        for i in np.argsort(real):
            print(f"  {split:8} {real[i]:6.1f} -> {recon[i]:6.1f}  ({recon[i] - real[i]:+.1f})")
    for split, (real, recon) in rows.items():
        slope, corr = fit(np.asarray(real), np.asarray(recon))
        print(f"{split}: {len(real)} clips, slope {slope:.2f}, correlation {corr:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

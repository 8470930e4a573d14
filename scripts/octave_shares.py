"""Where a model puts each class's energy: per class, the median share of each clip's energy in
octave bands (0-20 Hz, 20-40, 40-80, ... up to Nyquist), for the real clips and for their
reconstructions (decoder at each clip's latent mean), both read against the real clip's total.
A lump where the clips have nothing, or a band short of theirs, shows as a row apart
(docs/notes/2026-12-05-fullband-sub-bass.md: kicks and toms made of a 20-40 Hz lump).

    python scripts/octave_shares.py runs/drums "folder:$DATA/drums?split=holdout:0.2" \\
        --seed 0 [--split train|held-out]

The seed picks the held-out draw, as the recipe's ``schedule.seed`` does; give the run's. For
a preset, "train" and "held-out" are the source's split, not necessarily what it trained on.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

LOWEST_EDGE_HZ = 20.0


def octave_edges(sample_rate: int) -> list[float]:
    """[0, 20, 40, ..., sample_rate / 2]: octaves from 20 Hz, the last band to Nyquist."""
    from vae_synth.evaluate import metrics as M

    return M.octave_edges(sample_rate, LOWEST_EDGE_HZ)


def octave_shares(clips: np.ndarray, sample_rate: int, reference: np.ndarray | None = None
                  ) -> np.ndarray:
    """Energy per octave band in dB of the total of ``reference`` (default: of each clip
    itself): clips [N, L], reference [N, L] -> [N, K] (K = len(octave_edges) - 1)."""
    from vae_synth.evaluate import metrics as M

    clips = np.atleast_2d(clips)
    reference = clips if reference is None else np.atleast_2d(reference)
    scale = np.sum(clips.astype(np.float64) ** 2, axis=1) / np.maximum(
        np.sum(reference.astype(np.float64) ** 2, axis=1), 1e-300)
    edges = octave_edges(sample_rate)
    shares = np.stack([M.band_share(clips, sample_rate, lo, hi)
                       for lo, hi in zip(edges[:-1], edges[1:], strict=True)], axis=1)
    return M.share_db(shares * scale[:, None])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a training run's folder or a preset (name or folder)")
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="data as `vae-synth train --data` takes it, split rule included")
    parser.add_argument("--seed", type=int, default=0, help="the held-out draw (the run's seed)")
    parser.add_argument("--split", choices=("train", "held-out"), default="train",
                        help="which clips of the sources (default: the training ones)")
    parser.add_argument("--checkpoint", default="last", help="a run's checkpoint: last or best")
    args = parser.parse_args(argv)

    from vae_synth.evaluate.evaluation import open_model
    from vae_synth.train.data import load_source

    model = open_model(args.model, args.checkpoint)
    rate, frame = model.sample_rate, model.frame_length
    real, recon = {}, {}
    for text in args.sources:
        data = load_source(text, rate, frame, args.seed)
        x, y = (data.train_x, data.train_y) if args.split == "train" else (data.test_x,
                                                                            data.test_y)
        for c, name in enumerate(data.class_names):
            if not (y == c).any():
                continue
            clips = x[y == c]
            mu, _ = model.encode(clips)
            real.setdefault(name, []).append(octave_shares(clips, rate))
            recon.setdefault(name, []).append(octave_shares(model.decode(mu), rate, clips))
    if not real:
        print("error: no clips in the sources' chosen split", file=sys.stderr)
        return 2
    edges = octave_edges(rate)
    bands = [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    print(f"median share of the real clip's energy per band, dB ({args.split} clips)\n")
    print("| class | n | " + " | ".join(bands) + " |")
    print("|---" * (len(bands) + 2) + "|")
    for name in sorted(real):
        for what, rows in (("clips", real[name]), ("reconstructions", recon[name])):
            values = np.median(np.concatenate(rows), axis=0)
            n = sum(len(r) for r in rows)
            print(f"| {name}, {what} | {n} | " + " | ".join(f"{v:.1f}" for v in values) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How far a run's held-out clips land from their class, and what the decoder makes there: per
class, the mean distance of the training and the held-out clips' latent means from the class's
training centroid (the pad), each reconstruction's level against its own clip, and the decoded
level along the line from the pad to the held-out clips' centre (where `vae-synth evaluate`
reads a centre's level), at 0, 0.5, 1 and 1.5 of the way, against the held-out clips' median
level as evaluate reads it (docs/notes/2026-12-06-fullband-tom-octave.md: the held-out toms
land 1.5-1.7 from the pad, the training toms 0.65, and the decoder's level falls 2.5 dB over
that distance).

    python scripts/heldout_spread.py RUN [RUN ...] [--checkpoint last]
"""

from __future__ import annotations

import argparse

import numpy as np

FRACTIONS = (0.0, 0.5, 1.0, 1.5)


def spread_rows(run: str, checkpoint: str) -> list[str]:
    from vae_synth.evaluate import metrics as M
    from vae_synth.evaluate.evaluation import load_eval_data, open_model

    model = open_model(run, checkpoint=checkpoint)
    data = load_eval_data(model, None)
    mu_test, logvar_test = model.encode(data.x)
    mu_train, logvar_train = model.encode(data.train_x)
    pads = M.class_centroids(mu_train, data.train_y, len(data.class_names))

    recon_test = M.rms_db(model.decode(mu_test)) - M.rms_db(data.x)
    recon_train = M.rms_db(model.decode(mu_train)) - M.rms_db(data.train_x)
    rows = []
    for c, name in enumerate(data.class_names):
        test, train, pad = data.y == c, data.train_y == c, pads[c]
        heldout_centre = mu_test[test].mean(axis=0)
        line = model.decode(np.stack([pad + f * (heldout_centre - pad) for f in FRACTIONS]))
        # against the held-out clips' median level, as evaluate's centre level reads it
        along = M.rms_db(line) - np.median(M.rms_db(data.x[test]))
        rows.append(
            f"| {name} | {np.linalg.norm(mu_train[train] - pad, axis=1).mean():.2f} | "
            f"{np.linalg.norm(mu_test[test] - pad, axis=1).mean():.2f} | "
            f"{np.linalg.norm(heldout_centre - pad):.2f} | {recon_train[train].mean():+.2f} | "
            f"{recon_test[test].mean():+.2f} | {' / '.join(f'{v:+.2f}' for v in along)} |")
    if logvar_train is not None:
        rows.append(f"posterior std, median: training {np.median(np.exp(0.5 * logvar_train)):.3f}, "
                    f"held-out {np.median(np.exp(0.5 * logvar_test)):.3f}")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="RUN", help="training runs (their own data)")
    parser.add_argument("--checkpoint", default="last")
    args = parser.parse_args(argv)
    for run in args.runs:
        print(f"\n{run}\n")
        print("| class | training clips from the pad | held-out clips | held-out centre | "
              "recon level vs own, training (dB) | held-out | level pad -> held-out centre "
              f"at {' / '.join(str(f) for f in FRACTIONS)} (dB) |")
        print("|---|---|---|---|---|---|---|")
        for row in spread_rows(run, args.checkpoint):
            print(row)


if __name__ == "__main__":
    main()

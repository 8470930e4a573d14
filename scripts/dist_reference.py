"""How low can the thesis's centroid dist (eq. 5.3) go on a data source, before any training?

    python scripts/dist_reference.py "fsdd:$DATA/fsdd?speakers=theo" [SOURCE ...]

For each SOURCE: the most typical real training take of each class (least summed MFCC-DTW to the
class's other training clips) is scored as the class centre on the held-out clips, exactly as
`vae-synth evaluate` scores a decoded centre (its "centroid dist of a real take"). A held-out split
recorded apart from the training takes reads high even for a real take: a model's decoded
centre is unlikely to beat it. Prints one line per source: mean ± std and the per-class means.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help="a data source as in "
                        "`vae-synth train --data` (its own split decides what is held out)")
    parser.add_argument("--sample-rate", type=int, default=8000, help="default 8000 (the digits)")
    parser.add_argument("--frame-length", type=int, default=4096, help="default 4096")
    parser.add_argument("--seed", type=int, default=0, help="the split's seed (default 0)")
    parser.add_argument("--max-per-class", type=int, default=50,
                        help="clips per class for the DTW work (default 50, as evaluate)")
    args = parser.parse_args(argv)

    from vae_synth.evaluate import metrics as M
    from vae_synth.train.data import load_sources

    for source in args.sources:
        data = load_sources([source], args.sample_rate, args.frame_length, args.seed)
        if not len(data.test_x) or not len(data.train_x):
            print(f"{source}: needs both training and held-out clips", file=sys.stderr)
            return 2
        cons = M.real_take_consistency(data.train_x, data.train_y, data.test_x, data.test_y,
                                       args.sample_rate, data.class_names,
                                       max_per_class=args.max_per_class, seed=args.seed)
        if cons is None:
            print(f"{source}: a held-out class has no training clip", file=sys.stderr)
            return 2
        per_class = "  ".join(f"{k} {v.mean:+.2f}" for k, v in cons.per_class.items())
        print(f"{source}: a real take {cons.mean:+.2f} ± {cons.std:.2f}  ({per_class})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

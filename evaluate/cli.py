"""`vae-synth evaluate RUN_DIR_OR_PRESET --data SOURCE --out REPORT_DIR`: arguments and entry point.

Imports nothing heavy until run_evaluate() (``vae-synth --help`` stays fast); the evaluation is in
evaluate/evaluation.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vae_synth.evaluate.evaluation import SPLITS, EvaluateError


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="RUN_DIR_OR_PRESET",
        help="a training run folder (config.json; evaluated with TensorFlow) or a preset folder or "
        "name (preset.json; evaluated with ONNX Runtime only)",
    )
    parser.add_argument(
        "--data", metavar="SOURCE", action="append", default=None,
        help="data to evaluate on (repeatable), e.g. fsdd:PATH, 'fsdd:PATH?speakers=george', "
        "folder:PATH, 'folder:PATH?labels=kmeans:5', synthetic:drums. Default for a run: its own "
        "training sources and split (config.json).",
    )
    parser.add_argument(
        "--split", choices=SPLITS, default="test",
        help="which part of the data: the held-out 'test' clips (default, thesis Table 5.2 protocol), "
        "'train', or 'all' (use with ?split=none for data the model never saw, e.g. other speakers)",
    )
    parser.add_argument("--out", metavar="REPORT_DIR", required=True,
                        help="folder for metrics.json, report.md, PNGs and WAVs (created)")
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best",
                        help="which weights of a RUN_DIR (default: best by validation loss)")
    parser.add_argument(
        "--max-per-class", type=int, default=50, metavar="N",
        help="at most N clips per class for the MFCC+DTW metric (its cost grows as N^2; "
        "default 50, drawn with --seed)",
    )
    parser.add_argument("--morph", nargs=2, metavar=("CLASS_A", "CLASS_B"), default=None,
                        help="the two classes of the 9-step morph strip/WAV (default: first two)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu",
                        help="ONNX Runtime device for a preset (default cpu)")
    parser.add_argument(
        "--probe-sines", metavar="HZ,HZ,...", default=None,
        help="plain autoencoders only: also encode constant sines at these frequencies and draw "
        "the x32 latent read as a signal at 1/32 of the sample rate (thesis Fig. 4.2, aliasing)",
    )
    parser.add_argument("--no-tsne", action="store_true", help="skip the t-SNE picture")
    parser.add_argument("--seed", type=int, default=0, help="seed of subsampling and t-SNE")
    parser.add_argument("--quiet", action="store_true", help="no progress display")


def run_evaluate(args: argparse.Namespace) -> int:
    from vae_synth.evaluate.evaluation import (
        evaluate,
        load_eval_data,
        open_model,
        probe_latent_sines,
    )
    from vae_synth.evaluate.report import summary_line
    from vae_synth.train.data import DataError

    try:
        model = open_model(args.target, checkpoint=args.checkpoint, device=args.device)
        data = load_eval_data(model, args.data, args.split, seed=args.seed)
        probe = _parse_freqs(args.probe_sines) if args.probe_sines else None
        if probe is not None and not model.plain:
            raise EvaluateError("--probe-sines needs a plain autoencoder run (vae-synth train --plain)")
        result = evaluate(
            model, data, Path(args.out), max_per_class=args.max_per_class, morph=args.morph,
            tsne=not args.no_tsne, seed=args.seed, quiet=args.quiet,
        )
        if probe is not None:
            result["latent_sine_probe"] = probe_latent_sines(model, probe, Path(args.out))
    except (EvaluateError, DataError) as exc:
        print(f"vae-synth evaluate: error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(summary_line(result))
        print(f"report: {Path(args.out) / 'report.md'}")
    return 0


def _parse_freqs(text: str) -> list[float]:
    try:
        freqs = [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise EvaluateError(f"--probe-sines: expected HZ,HZ,... got {text!r}") from exc
    if not freqs or any(f <= 0 for f in freqs):
        raise EvaluateError(f"--probe-sines: frequencies must be positive, got {text!r}")
    return freqs




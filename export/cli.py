"""`vae-synth export RUN_DIR --out PRESET_DIR`: a trained run -> a verified ONNX preset bundle.

Nothing heavy is imported at module level: TensorFlow and tf2onnx load inside :func:`run_export`.
"""

from __future__ import annotations

import argparse
import sys

EPILOG = """\
The bundle is PRESET_DIR/preset.json with decoder.onnx (batch 1), decoder_batch.onnx, encoder.onnx,
classifier.onnx and decoder.weights (the weights both decoders read) beside it. The export fails,
writing nothing, when ONNX Runtime and TensorFlow disagree by more than --tolerance on real clips
of the run's data. Over an existing preset, export replaces only the files it writes (preset.json
and the model files), once the new ones are complete and verified; everything else in the folder
(model card, LICENSE, pictures, evaluation.json, your notes) is kept. A folder that is not a preset
is refused unless --force, which replaces the folder whole (the old one stays until the new
preset is complete).

examples:
  vae-synth export runs/drums --out ~/.local/share/vae-synth/presets/mydrums
  vae-synth export runs/digits --out presets/digits --name digits --checkpoint best
"""


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by `vae-synth train`")
    parser.add_argument("--out", "-o", required=True, metavar="PRESET_DIR",
                        help="preset folder to write (created; in an existing preset only the "
                        "files export writes are replaced)")
    parser.add_argument("--name", help="preset name (default: the PRESET_DIR folder name)")
    parser.add_argument("--checkpoint", choices=("last", "best"), default="last",
                        help="which checkpoint to export (default: last)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest ONNX-vs-TensorFlow difference allowed (default: 1e-4)")
    parser.add_argument("--licence", metavar="TEXT",
                        help="licence of the training data (default: the run's config.json)")
    parser.add_argument("--attribution", metavar="TEXT",
                        help="attribution of the training data (default: the run's config.json)")
    parser.add_argument("--force", action="store_true",
                        help="replace PRESET_DIR whole, also a folder that is not a preset "
                        "(its other files are deleted once the new preset is in place)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress lines")


def run_export(args: argparse.Namespace) -> int:
    from vae_synth.export.bundle import ExportError, export_run

    try:
        result = export_run(args.run_dir, args.out, name=args.name, checkpoint=args.checkpoint,
                            tolerance=args.tolerance, show_progress=not args.quiet,
                            licence=args.licence, attribution=args.attribution,
                            force=args.force)
    except ExportError as e:
        print(f"vae-synth export: error: {e}", file=sys.stderr)
        return 2
    p = result.preset
    print(f"exported preset {p.name!r} to {result.path} in {result.seconds:.1f} s: "
          f"{len(p.classes)} classes ({', '.join(p.class_names)}), latent {p.latent_dim}, "
          f"{p.frame_length} samples at {p.sample_rate} Hz; parity max abs err "
          f"{max(result.parity.values()):.2g}")
    if result.kept:
        print(f"kept from the folder: {', '.join(result.kept)} (written for the previous export: "
              f"update the model card and evaluation if they describe it)")
    return 0

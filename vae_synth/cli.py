"""The `vae-synth` command: one entry point, one subcommand per job.

Every subcommand lives beside the code it drives (``synth/cli.py``, ``train/cli.py``, ...).
Those modules import nothing heavy at module level, so ``vae-synth --help`` and the player
never load TensorFlow; the heavy imports happen inside each subcommand's ``run``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from vae_synth import __version__

# subcommand NAME -> (module defining add_NAME_arguments(parser) and run_NAME(args) -> int, help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "play": ("vae_synth.synth.cli", "play a preset live from MIDI, the computer keyboard or --demo (default)"),
    "render": ("vae_synth.synth.cli", "render a MIDI file through a preset to a WAV or FLAC file, offline"),
    "presets": ("vae_synth.synth.cli", "list the installed presets with their Program Change numbers"),
    "midi-map": ("vae_synth.synth.cli", "show a preset's MIDI map in use (pads, controllers, learned bindings), or --reset MIDI learn"),
    "devices": ("vae_synth.synth.devices", "list audio output devices and MIDI input ports"),
    "train": ("vae_synth.train.cli", "train a VAE on spoken digits, a folder of one-shots or synthetic data"),
    "export": ("vae_synth.export.cli", "export a trained run to a verified ONNX preset bundle"),
    "evaluate": ("vae_synth.evaluate.cli", "evaluate a run or preset: cluster, centroid and reconstruction metrics"),
}
DEFAULT_SUBCOMMAND = "play"
PLAYER_SUBCOMMANDS = ("play", "render")

EPILOG = """\
examples:
  vae-synth                              play the bundled drums preset (same as: vae-synth play --preset drums)
  vae-synth --preset digits --demo       play a built-in pattern with a morph sweep, no controller needed
  vae-synth render --preset drums --midi beat.mid --out beat.wav
  vae-synth train --recipe drums --data folder:my_drums --out runs/mine   (a recipe: docs/TRAINING.md)
  vae-synth export runs/mine --out ~/.local/share/vae-synth/presets/mine
  vae-synth evaluate runs/mine --data folder:my_drums --out reports/mine

Run `vae-synth SUBCOMMAND --help` for the options of each subcommand.
"""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s module is imported (keeps --help fast and TF-free)."""
    parser = argparse.ArgumentParser(
        prog="vae-synth",
        description="Real-time neural drum and voice synthesizer: a MIDI controller moves "
        "through the latent space of a variational autoencoder and you hear the decoded sound at once.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vae-synth {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub = subparsers.add_parser(
            name,
            help=help_text,
            description=help_text[0].upper() + help_text[1:] + ".",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == command:
            module = importlib.import_module(module_name)
            function = name.replace("-", "_")
            getattr(module, f"add_{function}_arguments")(sub)
            sub.set_defaults(_run=getattr(module, f"run_{function}"))
    return parser


def _with_default_subcommand(argv: list[str]) -> list[str]:
    """`vae-synth --preset drums` means `vae-synth play --preset drums`."""
    if not argv:
        return [DEFAULT_SUBCOMMAND]
    if argv[0] in SUBCOMMANDS or argv[0] in ("-h", "--help", "--version"):
        return argv
    return [DEFAULT_SUBCOMMAND, *argv]


def pin_blas_threads() -> None:
    """One BLAS thread for the player (call before numpy is imported; no effect after).

    The player's only BLAS call (resampling a decoded frame, ~0.1 ms) must not wake a pool of
    BLAS threads that spin on the cores the audio callback needs.
    """
    if "numpy" not in sys.modules:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")


@contextlib.contextmanager
def warnings_as_lines(command: str):
    """While it is entered, the project's own warnings (e.g. train.data's DataWarning for a
    skipped file) print as one line each, ``vae-synth COMMAND: message``, not Python's
    file:line format with a source line. The previous handler is back on exit (``main`` runs
    inside test processes too)."""
    import warnings

    default = warnings.showwarning

    def one_line(message, category, filename, lineno, file=None, line=None):
        if category.__module__.startswith("vae_synth."):
            print(f"vae-synth {command}: {message}", file=file or sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = one_line
    try:
        yield
    finally:
        warnings.showwarning = default


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    argv = _with_default_subcommand(argv)
    if argv[0] in PLAYER_SUBCOMMANDS:
        pin_blas_threads()
    parser = build_parser(argv[0] if argv[0] in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    try:
        with warnings_as_lines(args.command):
            return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130

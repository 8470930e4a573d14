"""The player never loads TensorFlow: every synth module, the CLI and `vae-synth --help`."""

from __future__ import annotations

import subprocess
import sys

CHECK_IMPORTS = """
import importlib, pkgutil, sys
import vae_synth.cli, vae_synth.synth
names = [m.name for m in pkgutil.iter_modules(vae_synth.synth.__path__, "vae_synth.synth.")]
for name in names:
    importlib.import_module(name)
heavy = sorted(m for m in ("tensorflow", "keras", "tf2onnx", "onnx", "jax") if m in sys.modules)
print(len(names), ",".join(heavy))
"""


def test_importing_every_player_module_leaves_tensorflow_out():
    result = subprocess.run([sys.executable, "-c", CHECK_IMPORTS], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    count, heavy = result.stdout.strip().split(" ", 1) if " " in result.stdout.strip() else (
        result.stdout.strip(), "")
    assert int(count) >= 3  # devices, quiet, preset, runtime, the engine's modules ...
    assert heavy == "", f"the player imported {heavy}"


def test_cli_help_for_player_subcommands_leaves_tensorflow_out():
    script = (
        "import sys, contextlib, io\n"
        "from vae_synth.cli import main\n"
        "for cmd in (['--help'], ['devices', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        try: main(cmd)\n"
        "        except SystemExit: pass\n"
        "print('tensorflow' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

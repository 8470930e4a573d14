"""`vae-synth devices`, `--help` and `--version` as a user runs them (real subprocesses)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import vae_synth


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vae_synth", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_version_and_help():
    version = run_cli("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"vae-synth {vae_synth.__version__}"
    help_text = run_cli("--help")
    assert help_text.returncode == 0
    for subcommand in ("play", "render", "presets", "devices", "train", "export", "evaluate"):
        assert f"    {subcommand}" in help_text.stdout


def test_devices_without_any_audio_or_midi_server_says_so_and_exits_0():
    env = {k: v for k, v in os.environ.items() if not k.startswith("JACK_")}
    env["JACK_DEFAULT_SERVER"] = "no-such-server-for-this-test"
    result = run_cli("devices", env=env)
    assert result.returncode == 0, result.stderr
    assert "Audio outputs:" in result.stdout and "MIDI inputs:" in result.stdout
    assert "jack: unavailable" in result.stdout
    assert "Traceback" not in result.stderr
    # libjack's own complaints are kept off the terminal; we print one line per back end instead.
    assert "Cannot connect to server" not in result.stderr


@pytest.mark.jack
def test_devices_lists_the_jack_output_and_a_jack_midi_port(jack_server, jack_probe):
    jack_probe(name="keys")  # a JACK MIDI source, as a controller bridged into JACK would be
    result = run_cli("devices", env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    audio, midi = result.stdout.split("MIDI inputs:")
    assert "[JACK Audio Connection Kit, 2 ch, 48000 Hz]" in audio
    assert "jack: keys:midi_out" in midi

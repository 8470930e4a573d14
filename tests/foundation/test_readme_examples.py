"""The README's examples as a new user types them: every `vae-synth` line parses with today's
options, the ones that need no audio device, no data and no training run as written (in a folder
outside the checkout, with the command on the PATH the way the README says to put it there), and
what the others need is written beside them."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def _commands() -> list[tuple[str, str]]:
    """(command line, its comment) of every `vae-synth` line in the README's sh blocks."""
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            command, _, comment = line.partition("#")
            if command.strip().startswith("vae-synth"):
                lines.append((command.strip(), comment.strip()))
    return lines


COMMANDS = _commands()
# what each needs besides the installed player, as the README's comment or text says it
RUNS_ANYWHERE = ("presets", "devices", "midi-map")


def test_the_readme_has_examples_of_every_player_command():
    subcommands = {shlex.split(c)[1] if len(shlex.split(c)) > 1 else "play" for c, _ in COMMANDS}
    assert {"presets", "devices", "midi-map", "render", "train", "evaluate", "export"} <= (
        subcommands | {"play"})


@pytest.mark.parametrize("command", [c for c, _ in COMMANDS])
def test_every_example_parses_with_the_current_options(command):
    from vae_synth.cli import _with_default_subcommand, build_parser

    argv = _with_default_subcommand(shlex.split(command)[1:])
    parser = build_parser(argv[0])
    try:
        parser.parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"README example `{command}` does not parse (exit {exc.code})")


def test_examples_that_need_something_say_so():
    for command, comment in COMMANDS:
        argv = shlex.split(command)[1:]
        sub = argv[0] if argv and not argv[0].startswith("-") else "play"
        if sub == "render":
            assert "your MIDI file" in comment, command
        if sub == "play":
            assert "needs audio out" in comment, command
    assert "playing needs an audio output" in README
    assert "(your own sounds)" in README   # the training examples' data
    assert "which a clone does not carry" in README   # the bundled recipe's data


def test_the_readme_says_how_to_get_the_command_on_the_path_and_that_works(tmp_path):
    """After `make play`, the README's `source .venv/bin/activate` puts `vae-synth` on the PATH:
    here the test environment's own activate script, in a shell whose PATH lacks it."""
    assert "source .venv/bin/activate" in README and "pipx install ." in README
    activate = Path(sys.prefix) / "bin" / "activate"
    if not activate.exists():
        pytest.skip(f"the test environment {sys.prefix} is not a virtual environment")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if not Path(p).resolve() == (Path(sys.prefix) / "bin").resolve())
    env = {**os.environ, "PATH": path, "VIRTUAL_ENV": ""}
    env.pop("VIRTUAL_ENV")
    before = subprocess.run(["bash", "-c", "command -v vae-synth"], capture_output=True,
                            text=True, env=env, cwd=tmp_path, timeout=60)
    if before.returncode == 0:
        pytest.skip(f"vae-synth is on the PATH already ({before.stdout.strip()})")
    done = subprocess.run(["bash", "-c", f"source {shlex.quote(str(activate))} && vae-synth "
                           "presets"], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "drums" in done.stdout and "digits" in done.stdout


def _run(command: str, cwd: Path, home: Path):
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_DATA_HOME": str(home / "data"), "JACK_NO_START_SERVER": "1"}
    env.pop("VAE_SYNTH_PRESETS", None)
    argv = [sys.executable, "-m", "vae_synth", *shlex.split(command)[1:]]
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize("command", [c for c, _ in COMMANDS
                                     if shlex.split(c)[1:2] and
                                     shlex.split(c)[1] in RUNS_ANYWHERE])
def test_the_examples_that_need_nothing_run_as_written(command, tmp_path):
    done = _run(command, tmp_path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and "Traceback" not in done.stderr


def test_the_render_example_runs_as_written_with_a_groove_of_ones_own(tmp_path):
    import mido
    import soundfile as sf

    (command,) = [c for c, _ in COMMANDS if shlex.split(c)[1:2] == ["render"]]
    groove = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    groove.tracks.append(track)
    for step in range(16):  # a General MIDI drum groove: hats, kick on 1 and 3, snare on 2 and 4
        notes = [42] + ([36] if step % 8 == 0 else []) + ([38] if step % 8 == 4 else [])
        for i, note in enumerate(notes):
            track.append(mido.Message("note_on", channel=9, note=note, velocity=100,
                                      time=120 if i == 0 and step else 0))
    midi_name = shlex.split(command)[shlex.split(command).index("--midi") + 1]
    out_name = shlex.split(command)[shlex.split(command).index("--out") + 1]
    groove.save(str(tmp_path / midi_name))
    done = _run(command, tmp_path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "WAV 32-bit float" in done.stdout and ", 20 notes," in done.stdout
    audio, rate = sf.read(str(tmp_path / out_name))
    assert rate == 48000 and len(audio) > rate

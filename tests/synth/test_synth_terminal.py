"""The terminal instrument for real: `vae-synth play` in a tmux pane of 80 and of 120 columns on
the JACK test rig, driven by tmux send-keys and by a MIDI controller (an rtmidi JACK output),
read back with capture-pane."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.jack


def _need_tmux() -> None:
    if shutil.which("tmux") is None:
        message = "tmux is not installed (Debian: apt-get install tmux); the terminal test needs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


class Pane:
    """One tmux server of our own (-L socket) with one pane running a command."""

    def __init__(self, socket: str, width: int, command: str, env: dict[str, str]):
        self.socket = socket
        self.width = width
        exports = " ".join(f"{k}={_quote(v)}" for k, v in env.items())
        subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-x",
                        str(width), "-y", "60", f"env {exports} {command}; echo EXIT=$?; "
                        "sleep 600"], check=True, timeout=30)

    def text(self) -> str:
        """The pane with wrapped lines joined (-J): a line the terminal wrapped comes back
        longer than the pane is wide."""
        return subprocess.run(["tmux", "-L", self.socket, "capture-pane", "-p", "-J", "-S",
                               "-200"], capture_output=True, text=True, timeout=30).stdout

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.text().splitlines() if line.strip()]

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.socket, "send-keys", *keys], check=True, timeout=30)

    def wait_for(self, pattern: str, timeout: float = 60.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            text = self.text()
            if re.search(pattern, text):
                return text
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} never appeared in the pane:\n{self.text()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True,
                       timeout=30)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _status(lines: list[str]) -> list[str]:
    return [line for line in lines if re.search(r"morph [.\d]+ var ", line)]


class Controller:
    """A MIDI controller: an rtmidi JACK output connected to the player's virtual input."""

    def __init__(self):
        import rtmidi

        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "fake-controller")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ports = self.out.get_ports()
            named = [i for i, p in enumerate(ports) if "vae-synth" in p and "midi_in" in p]
            if named:
                self.out.open_port(named[0], "out")
                return
            time.sleep(0.2)
        raise AssertionError(f"the player's MIDI input never appeared: {self.out.get_ports()}")

    def cc(self, number: int, value: int) -> None:
        self.out.send_message([0xB0, number, value])

    def close(self) -> None:
        self.out.close_port()
        self.out.delete()


@pytest.mark.parametrize("width", [80, 120])
def test_the_terminal_instrument_explains_itself_and_fits_the_terminal(width, jack_server,
                                                                       tones_preset, tmp_path):
    _need_tmux()
    env = {"JACK_DEFAULT_SERVER": jack_server.name, "JACK_NO_START_SERVER": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONUNBUFFERED": "1"}
    command = (f"{_quote(sys.executable)} -m vae_synth play --preset {_quote(str(tones_preset))} "
               "--audio-api jack --midi-api jack --midi-in virtual")
    pane = Pane(f"vaesynth-test-{os.getpid()}-{width}", width, command, env)
    controller = None
    try:
        pane.wait_for(r"morph [.\d]+ var ")
        lines = pane.lines()
        # the legend: each pad key by class, each knob's keys, MIDI learn's keys
        assert any("pads" in line and "a kick" in line and "s snare" in line for line in lines)
        assert any("d tom" in line for line in lines) and any("f hihat" in line for line in lines)
        assert any("z/x morph" in line and "c/v variation" in line for line in lines)
        assert any("-/= volume" in line for line in lines)
        assert any("1 morph" in line and "4 volume" in line for line in lines)
        assert any("underruns:" in line for line in lines)   # what the number means

        pane.keys("a", "x", "x", "x", "v", "v", "=", "n")
        text = pane.wait_for(r"pad kick")
        time.sleep(1.0)   # five refreshes: none may add a line
        before = pane.lines()
        time.sleep(1.0)
        after = pane.lines()
        assert len(after) == len(before), "a status refresh added a line"
        status = _status(after)
        assert len(status) == 1, after
        line = status[0]
        assert "pad kick" in line and "morph .15" in line and "var .10" in line
        assert "vol .85" in line and "pca1 +.10" in line
        assert "decode " in line and "underruns " in line
        if width >= 120:
            assert "[test-tones]" in line and "voices " in line
        assert all(len(row) <= width for row in after), [r for r in after if len(r) > width]

        # MIDI learn from a real controller: armed by a key, confirmed, saved, shown
        pane.keys("1")
        pane.wait_for(r"LEARN morph")
        controller = Controller()
        controller.cc(74, 127)
        text = pane.wait_for(r"CC 74 → morph, saved")
        pane.wait_for(r"morph 1\.0 var")
        saved = json.loads((tmp_path / "config" / "vae-synth" / "midi_learn.json").read_text())
        assert saved == {"test-tones": {"74": "morph"}}
        controller.cc(74, 0)
        pane.wait_for(r"morph \.00 var")
        pane.keys("m")
        text = pane.wait_for(r"CC  74  morph  learned")
        assert "CC   1  morph" not in text

        pane.keys("q")
        text = pane.wait_for(r"EXIT=\d+")
        assert "EXIT=0" in text and re.search(r"vae-synth: \d+ notes", text)
        assert all(len(row) <= width for row in pane.lines())
    finally:
        if controller is not None:
            controller.close()
        pane.close()


def test_a_midi_port_that_is_not_there_fails_with_the_list_of_ports(jack_server, tones_preset):
    env = {**os.environ, "JACK_DEFAULT_SERVER": jack_server.name, "JACK_NO_START_SERVER": "1"}
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "vae_synth", "play", "--preset",
                           str(tones_preset), "--audio-api", "jack", "--midi-api", "jack",
                           "--midi-in", "nosuchport", "--no-keyboard", "--duration", "20"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert time.monotonic() - t0 < 20, "it played on instead of stopping"
    assert done.returncode == 2, done.stderr
    assert "--midi-in nosuchport: no MIDI input port of that name" in done.stderr
    assert "ports:" in done.stderr and "vae-synth devices" in done.stderr
    assert "Traceback" not in done.stderr


"""Keep native libraries' chatter off the terminal while probing audio and MIDI back ends.

ALSA, JACK and PortAudio print to file descriptor 2 directly when a back end is missing
("open /dev/snd/seq failed", "Cannot connect to server socket"); we report such cases ourselves,
in one clear line, so their raw output only confuses a musician.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def native_stderr_silenced():
    """Redirect fd 2 to /dev/null for the duration. Python's sys.stderr writes to fd 2 too, so
    what must be seen meanwhile (the watchdog's message) goes to a copy of it made before."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. captured by a test runner)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def never_autostart_jack() -> None:
    """Stop libjack from launching a JACK server as a side effect of probing for one."""
    os.environ.setdefault("JACK_NO_START_SERVER", "1")

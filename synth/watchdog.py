"""A watchdog for the player's blocking audio and MIDI calls, and for its exit on a signal.

PortAudio, libjack and python-rtmidi can block forever inside one call: a JACK server that was
killed or stopped answering leaves ``Pa_StopStream`` waiting for a process callback that never
comes, and python-rtmidi even keeps the GIL while it waits on the server. ``watch(label)`` guards
one such call with two timers:

- a Python thread that, ``limit`` seconds into the call, says which call is stuck, prints the
  player's summary line and ends the process with status 1 (it needs the GIL);
- faulthandler's timer, ``limit + 1`` seconds, a C thread that needs no GIL: it prints every
  thread's traceback (the stuck call on top of the main thread's) and ends the process with
  status 1, for when the call holds the GIL.

Signals: Python runs a signal handler only when the main thread is between bytecodes, so a
SIGINT/SIGTERM that arrives during a stuck call would wait for it. The C-level handler also writes
the signal to a wakeup fd that the watchdog thread reads; if the main thread is inside a watched
call ``signal_grace`` seconds after the signal, the watchdog ends the process the same way.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable

CALL_LIMIT_S = 5.0
SIGNAL_GRACE_S = 1.5


class CallWatchdog:
    """One watched call at a time (the player's main thread). ``on_give_up()`` runs on the
    watchdog thread just before the process ends (the player prints its summary there)."""

    def __init__(self, limit: float = CALL_LIMIT_S, signal_grace: float = SIGNAL_GRACE_S,
                 on_give_up: Callable[[], None] | None = None):
        self.limit = limit
        self.signal_grace = signal_grace
        self.on_give_up = on_give_up
        self._label: str | None = None
        self._started = 0.0
        self._signalled: float | None = None
        self._closed = False
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)
        self._previous_wakeup_fd: int | None = None
        # Its own copy of the terminal: a stuck call may be inside native_stderr_silenced
        # (quiet.py), which points fd 2 at /dev/null, and the message must still be seen.
        try:
            self._stderr = os.fdopen(os.dup(sys.stderr.fileno()), "w")
        except (OSError, ValueError, AttributeError):   # no real fd 2 (a test runner's capture)
            self._stderr = sys.stderr
        self._thread = threading.Thread(target=self._run, name="vae-synth-watchdog", daemon=True)
        self._thread.start()

    def catch_signals(self) -> None:
        """From the main thread, after the Python signal handlers are installed: the C handler
        also tells the watchdog thread (set_wakeup_fd)."""
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._write_fd, warn_on_full_buffer=False)

    @contextlib.contextmanager
    def watch(self, label: str):
        """Guard one blocking call; ``label`` says what it is ("stopping the audio stream")."""
        faulthandler.dump_traceback_later(self.limit + 1.0, exit=True, file=self._stderr)
        self._started = time.monotonic()
        self._label = label
        self._poke()
        try:
            yield
        finally:
            self._label = None
            faulthandler.cancel_dump_traceback_later()

    def close(self) -> None:
        self._closed = True
        self._poke()
        self._thread.join(timeout=1.0)
        if self._previous_wakeup_fd is not None:
            signal.set_wakeup_fd(self._previous_wakeup_fd)
            self._previous_wakeup_fd = None
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._stderr is not sys.stderr:
            with contextlib.suppress(OSError):
                self._stderr.close()

    # -- the watchdog thread -----------------------------------------------------------------
    def _poke(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe already wakes the thread
            os.write(self._write_fd, b"\0")

    def _run(self) -> None:
        while not self._closed:
            label, started = self._label, self._started
            now = time.monotonic()
            timeout = 0.5
            if label is not None:
                timeout = min(timeout, max(0.0, started + self.limit - now))
                if self._signalled is not None:
                    timeout = min(timeout, max(0.0, self._signalled + self.signal_grace - now))
            ready, _, _ = select.select([self._read_fd], [], [], timeout)
            if ready:
                data = os.read(self._read_fd, 256)
                if any(data) and self._signalled is None:  # a signal number, not a poke (0)
                    self._signalled = time.monotonic()
            label, started = self._label, self._started
            if label is None or self._closed:
                continue
            now = time.monotonic()
            if now - started >= self.limit:
                self._give_up(f"{label} did not return within {self.limit:.0f} s")
            elif self._signalled is not None and now - self._signalled >= self.signal_grace:
                self._give_up(f"{label} did not return after the signal to quit")

    def _give_up(self, why: str) -> None:
        print(f"\nvae-synth: {why} (the audio or MIDI back end is stuck); exiting without "
              f"closing it", file=self._stderr, flush=True)
        if self.on_give_up is not None:
            with contextlib.suppress(Exception):
                self.on_give_up()
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
            self._stderr.flush()
        os._exit(1)

"""The player's watchdog (synth/watchdog.py) in a child process: a stuck call ends the process
with a message naming it, also when the call holds the GIL, and a signal during a stuck call
ends it within the grace."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

_CHILD = r"""
import ctypes, sys, time
from vae_synth.synth.watchdog import CallWatchdog

mode = sys.argv[1]
dog = CallWatchdog(limit=1.0, signal_grace=0.5,
                   on_give_up=lambda: print("summary line", flush=True))
if mode == "signal":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: None)
    dog.catch_signals()
print("ready", flush=True)
if mode == "gil":
    with dog.watch("a call that keeps the GIL"):
        ctypes.PyDLL(None).sleep(30)   # PyDLL: the GIL stays held during the C call
elif mode == "signal":
    with dog.watch("a stuck call"):
        time.sleep(30)   # resumed after the handler runs (PEP 475), as a native wait would be
else:
    with dog.watch("a stuck call"):
        ctypes.CDLL(None).sleep(30)    # CDLL: the GIL is released, like PortAudio's calls
print("returned", flush=True)
"""


def _run(mode: str, signal_after: float | None = None):
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    start = time.monotonic()
    if signal_after is not None:
        time.sleep(signal_after)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, time.monotonic() - start, out, err


def test_a_stuck_call_is_named_and_ends_the_process():
    code, elapsed, out, err = _run("released")
    assert code == 1
    assert "a stuck call did not return within 1 s" in err
    assert "summary line" in out and "returned" not in out
    assert elapsed < 1.0 + 1.0, elapsed


def test_a_stuck_call_that_holds_the_gil_is_ended_by_the_c_timer():
    code, elapsed, out, err = _run("gil")
    assert code == 1
    assert "Timeout" in err and "<module>" in err  # faulthandler's dump of the stuck thread
    assert "returned" not in out
    assert elapsed < 1.0 + 1.0 + 1.5, elapsed


def test_a_signal_during_a_stuck_call_ends_the_process_within_the_grace():
    code, elapsed, out, err = _run("signal", signal_after=0.2)
    assert code == 1
    assert "a stuck call did not return after the signal to quit" in err
    assert "summary line" in out
    assert elapsed < 0.5 + 0.5, elapsed  # the grace is 0.5 s

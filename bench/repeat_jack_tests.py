"""The JACK tests again and again in one process that holds TensorFlow, as the full suite's does.

The hang this guards against (a wedged JACK server, a client that never closes) showed up only
in long runs of the whole suite, whose process has imported TensorFlow and trained a model
before the JACK tests run. This script builds that process on purpose: it imports TensorFlow,
trains a small Keras model for a few steps, then runs the JACK tests ``--repeat`` times in a row
with ``pytest.main(... --jack-in-process)`` (so they run in this process, not one child each),
each pass under ``--pass-limit`` seconds, and stops early at ``--budget`` seconds. It prints one
line per pass (passed, failed, skipped, seconds) and a closing line; a pass that does not finish
within its limit is reported with every thread's stack (faulthandler) and ends the run.

    nice -n 10 .venv/bin/python bench/repeat_jack_tests.py --repeat 20
    .venv/bin/python bench/repeat_jack_tests.py --repeat 3 -k "not flood and not 50_times"

Run it beside other work (a training run) to load both cores, as a CI machine may be.
"""

from __future__ import annotations

import argparse
import faulthandler
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JACK_TESTS = ["tests/synth/test_synth_jack.py", "tests/synth/test_synth_jack_midi.py",
              "tests/foundation/test_jack_rig.py",
              "tests/synth/test_synth_terminal.py", "tests/synth/test_synth_bundled_drums.py",
              "tests/foundation/test_devices_cli.py"]


class _Counts:
    """A pytest plugin that counts one pass's outcomes."""

    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failures: list[str] = []

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and report.passed:
            self.passed += 1
        elif report.failed:
            self.failed += 1
            self.failures.append(report.nodeid)
        elif report.skipped:
            self.skipped += 1


def _hold_tensorflow() -> str:
    """Import TensorFlow/Keras and train a small model a few steps, as the suite's process has."""
    import keras
    import numpy as np

    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    x = np.random.default_rng(0).standard_normal((256, 64)).astype("float32")
    model.fit(x, x[:, :1], epochs=2, batch_size=32, verbose=0)
    return f"keras {keras.__version__} ({keras.backend.backend()}), a model trained 16 steps"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="passes (default 20)")
    parser.add_argument("--pass-limit", type=float, default=900.0,
                        help="seconds one pass may take before the run is declared hung")
    parser.add_argument("--budget", type=float, default=None,
                        help="stop starting passes after this many seconds")
    parser.add_argument("-k", default=None, help="pytest -k expression (a subset of the tests)")
    args = parser.parse_args(argv)

    import pytest

    print(f"holding TensorFlow: {_hold_tensorflow()}", flush=True)
    started = time.monotonic()
    totals = _Counts()
    done = 0
    for n in range(1, args.repeat + 1):
        if args.budget is not None and time.monotonic() - started > args.budget:
            break
        counts = _Counts()
        faulthandler.dump_traceback_later(args.pass_limit, exit=True)
        t0 = time.monotonic()
        options = ["-q", "-p", "no:cacheprovider", "--jack-in-process", "-o", "addopts=",
                   *(["-k", args.k] if args.k else []), *JACK_TESTS]
        pytest.main(options, plugins=[counts])
        faulthandler.cancel_dump_traceback_later()
        done += 1
        for name in ("passed", "failed", "skipped"):
            setattr(totals, name, getattr(totals, name) + getattr(counts, name))
        totals.failures += [f"pass {n}: {f}" for f in counts.failures]
        print(f"pass {n}: {counts.passed} passed, {counts.failed} failed, {counts.skipped} "
              f"skipped in {time.monotonic() - t0:.0f} s", flush=True)
    print(f"{done} passes in {time.monotonic() - started:.0f} s, no hang; "
          f"{totals.passed} passed, {totals.failed} failed, {totals.skipped} skipped")
    for failure in totals.failures:
        print(f"  failed: {failure}")
    return 1 if totals.failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Progress of the long subcommands (export, evaluate): numbered steps and bars on stderr.

``vae-synth export`` and ``vae-synth evaluate`` share it; standard library only (tqdm is
imported by :meth:`Progress.bar` alone)::

    progress = Progress(3, "export")
    progress.start("converting decoder")     # export [1/3] converting decoder ...
    progress.done("max abs err 1e-7")        #  0.4 s  max abs err 1e-7
    with progress.bar(120, "MFCC-DTW") as bar:
        bar.update(1)
"""

from __future__ import annotations

import sys
import time


class Progress:
    """Numbered step lines ``PREFIX [n/total] label ... 0.4 s`` on ``stream`` (stderr);
    nothing is printed with ``enabled=False``, and the steps' times are kept in ``steps``."""

    def __init__(self, total: int, prefix: str = "", stream=None, enabled: bool = True):
        self.total, self.n, self.enabled = total, 0, enabled
        self.prefix = f"{prefix} " if prefix else ""
        self.stream = stream if stream is not None else sys.stderr
        self.steps: list[tuple[str, float]] = []
        self._t0: float | None = None
        self._label = ""

    def start(self, label: str) -> None:
        """Begin the next step (ending the one in progress)."""
        self.done()
        self.n += 1
        self._label, self._t0 = label, time.perf_counter()
        if self.enabled:
            print(f"{self.prefix}[{self.n}/{self.total}] {label} ...", end="", file=self.stream,
                  flush=True)

    def done(self, note: str = "") -> None:
        """End the step in progress, if any, with its time and an optional note."""
        if self._t0 is None:
            return
        dt = time.perf_counter() - self._t0
        self.steps.append((self._label, dt))
        if self.enabled:
            print(f" {dt:.1f} s{'  ' + note if note else ''}", file=self.stream, flush=True)
        self._t0 = None

    def bar(self, total: int, desc: str, unit: str = "pair"):
        """A tqdm bar for work inside the step in progress (its line is ended first)."""
        from tqdm import tqdm

        if self.enabled and self._t0 is not None:
            print(file=self.stream, flush=True)
        return tqdm(total=total, desc=desc, disable=not self.enabled, file=self.stream,
                    leave=False, unit=unit)

"""The sound bank: one decoded, resampled frame per class, and the thread that keeps it current.

``BankBuilder.build`` turns a controller state into a new ``SoundBank`` (latent points for the
classes -> one ONNX Runtime call -> polyphase resampling -> end fades / loop buffers). The
``BankDecoder`` thread watches the controller snapshot and always builds from the *latest*
state, so a flood of controller messages costs one decode per decode-time, never a backlog. It
publishes each bank by assigning one attribute (a reference swap the audio callback reads).
It decodes one class per call, the class just played first, so a hit after a knob move
waits for a few milliseconds, not for the whole bank.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
from vae_synth.synth.latent import LatentMap
from vae_synth.synth.params import ControlSnapshot, LatentState
from vae_synth.synth.resample import Resampler

END_FADE_MS = 2.0      # one-shots end with a short fade: decoded frames rarely end at zero
LOOP_XFADE_MS = 30.0   # sustained loops: crossfade between the frame's tail and its loop start


class SoundBank:
    """Immutable once published.

    oneshots: list of C arrays [frames] float32 (device rate); loops: list of C loop buffers
    (sustained presets) or None; loop: (start, end) of the repeating region; latents [C, D];
    versions: per class, the controller-state version its sound was decoded at; version: the
    oldest of them (every class is at least that current).
    """

    __slots__ = ("oneshots", "loops", "loop", "latents", "versions", "version", "nonfinite",
                 "decode_s")

    def __init__(self, oneshots, loops, loop, latents, versions, nonfinite, decode_s):
        self.oneshots = oneshots
        self.loops = loops
        self.loop = loop
        self.latents = latents
        self.versions = tuple(versions)
        self.version = min(self.versions)
        self.nonfinite = nonfinite   # class indices whose decoded frame was not finite
        self.decode_s = decode_s


def loop_buffer(frame: np.ndarray, xfade: int, pad: int) -> tuple[np.ndarray, int, int]:
    """A sustain loop from one frame [L]: the first ``L - xfade`` samples as they are, then the
    frame's tail crossfaded into its head ``frame[:xfade]``, so that jumping from ``end = L``
    back to ``start = xfade`` continues the head seamlessly; ``pad`` samples of the repeating
    region are appended for reads across the loop point.

    Returns (buffer [L + pad] float32, start, end)."""
    n = len(frame)
    xfade = max(1, min(xfade, n // 3))
    out = np.empty(n + pad, dtype=np.float32)
    out[: n - xfade] = frame[: n - xfade]
    w = (np.arange(xfade, dtype=np.float32) + 0.5) / xfade
    # At the end of the buffer we have to land on frame[xfade] (the loop start): blend the
    # frame's own tail out while the head region leading to the loop start fades in.
    out[n - xfade: n] = frame[n - xfade:] * (1.0 - w) + frame[:xfade] * w
    start, end = xfade, n
    region = out[start:end]
    reps = -(-pad // len(region)) if pad else 0
    if pad:
        out[n:] = np.tile(region, reps)[:pad]
    return out, start, end


class BankBuilder:
    """Builds sound banks for one preset at one device rate.

    session_one: ONNX session ``z [1, D] -> audio [1, L]``; session_batch: ``z [N, D] -> [N, L]``.
    """

    def __init__(self, latent_map: LatentMap, session_one, session_batch, resampler: Resampler,
                 samplerate: int, sustain: bool, max_frames: int):
        self.latent_map = latent_map
        self.session_one = session_one
        self.session_batch = session_batch
        self.in_one = session_one.get_inputs()[0].name
        self.in_batch = session_batch.get_inputs()[0].name
        self.resampler = resampler
        self.sustain = sustain
        self.end_fade = max(1, int(END_FADE_MS * 1e-3 * samplerate))
        self.loop_xfade = max(1, int(LOOP_XFADE_MS * 1e-3 * samplerate))
        # a block may read up to 4x ahead (+24 semitones) past the loop end
        self.loop_pad = 4 * max_frames + 4
        self.fade = np.linspace(1.0, 0.0, self.end_fade, dtype=np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        """z [N, D] float32 -> audio [N, L] float32 at the preset's rate (one ONNX call)."""
        if z.shape[0] == 1:
            return self.session_one.run(None, {self.in_one: z})[0]
        return self.session_batch.run(None, {self.in_batch: z})[0]

    def build(self, state: LatentState, classes=None, base: SoundBank | None = None) -> SoundBank:
        """A bank whose ``classes`` (default all) are decoded at ``state``; the other classes are
        taken from ``base``."""
        t0 = time.perf_counter()
        n_classes = self.latent_map.n_classes
        idx = list(range(n_classes)) if classes is None else list(classes)
        z = self.latent_map.points(state, idx)
        audio = np.asarray(self.decode(z), dtype=np.float32)
        finite = np.isfinite(audio).all(axis=1)
        audio = np.where(finite[:, None], audio, np.float32(0.0))  # NaN frame -> silence
        frames = self.resampler(audio)
        frames[:, -self.end_fade:] *= self.fade
        oneshots = list(base.oneshots) if base is not None else [None] * n_classes
        loops = list(base.loops) if (base is not None and base.loops) else [None] * n_classes
        latents = base.latents.copy() if base is not None else np.zeros_like(
            self.latent_map.centroids)
        nonfinite = set(base.nonfinite) if base is not None else set()
        loop = base.loop if base is not None else (0, 0)
        versions = list(base.versions) if base is not None else [state.version] * n_classes
        for row, c in enumerate(idx):
            oneshots[c] = frames[row]
            latents[c] = z[row]
            versions[c] = state.version
            if finite[row]:
                nonfinite.discard(c)
            else:
                nonfinite.add(c)
            if self.sustain:
                loops[c], start, end = loop_buffer(frames[row], self.loop_xfade, self.loop_pad)
                loop = (start, end)
        return SoundBank(oneshots, loops if self.sustain else None, loop, latents,
                         versions, frozenset(nonfinite), time.perf_counter() - t0)


class DecodeStats:
    """Decode times (seconds, one class: ONNX call + resampling) in a preallocated ring, plus
    counters."""

    def __init__(self, capacity: int = 8192):
        self.times = np.zeros(capacity)
        self.count = 0       # class decodes
        self.states = 0      # controller states the decoder started on
        self.first = math.nan
        self.skipped = 0     # controller states never started on because a newer one came
        self.keepwarm = 0

    def add(self, seconds: float) -> None:
        if self.count == 0:
            self.first = seconds
        self.times[self.count % len(self.times)] = seconds
        self.count += 1

    def percentiles(self) -> tuple[float, float]:
        """(p50, p99) in milliseconds over the recorded decodes (nan when none)."""
        n = min(self.count, len(self.times))
        if n == 0:
            return math.nan, math.nan
        p50, p99 = np.percentile(self.times[:n], [50, 99])
        return float(p50) * 1e3, float(p99) * 1e3


class BankDecoder(threading.Thread):
    """Keeps ``holder.bank`` decoded at the latest controller state.

    holder: an object with attributes ``bank`` (SoundBank, replaced by reference) and
    ``priority_class`` (int, the class last played, -1 none) — the engine's instrument.

    It decodes one class per ONNX call (the fixed-batch decoder is the fastest call, and a
    single class costs a few ms) and re-reads the controller state between calls, publishing
    the bank after each. So a hit that follows a knob move waits for at most the call in
    progress, one call for another class and its own: the played class goes first, but not
    twice in a row while others are stale (a sweep must not starve the rest of the kit).
    """

    def __init__(self, holder, builder: BankBuilder, snapshot: ControlSnapshot,
                 keepwarm_s: float = 0.25, graveyard=None, on_publish=None):
        super().__init__(name="vae-synth-decode", daemon=True)
        self.graveyard = graveyard   # buffers the audio thread let go of: released here
        self.on_publish = on_publish   # called with the holder after each bank is published
        self.holder = holder
        self.builder = builder
        self.snapshot = snapshot
        self.keepwarm_s = keepwarm_s
        self.wake = threading.Event()
        self.stopping = False
        self.stats = DecodeStats()
        self.error: str | None = None
        self._last_work = time.monotonic()
        self._last_class = -1
        self._seen_version = holder.bank.version

    def stop(self) -> None:
        self.stopping = True
        self.wake.set()

    def run(self) -> None:
        while not self.stopping:
            self.wake.wait(self.keepwarm_s)
            self.wake.clear()
            if self.stopping:
                break
            self._reap()
            try:
                if not self.step():
                    self._keep_warm()
            except Exception as exc:  # report, keep the last good bank playing
                self.error = f"decode failed: {exc}"
                time.sleep(0.1)

    def next_class(self, versions: tuple[int, ...], version: int) -> int:
        """The class to decode next at state ``version`` (-1: the bank is current)."""
        stale = [c for c, v in enumerate(versions) if v != version]
        if not stale:
            return -1
        first = self.holder.priority_class
        if first in stale and (first != self._last_class or len(stale) == 1):
            return first
        others = [c for c in stale if c != first]
        return min(others, key=lambda c: (versions[c], c))  # the stalest, then in order

    def step(self) -> bool:
        """Decode, class by class, until the bank is at the latest controller state; returns
        True if it decoded anything."""
        decoded = False
        while not self.stopping:
            state = self.snapshot.latent_state()
            if state.version != self._seen_version:
                self.stats.states += 1
                self.stats.skipped += max(0, state.version - self._seen_version - 1)
                self._seen_version = state.version
            bank = self.holder.bank
            c = self.next_class(bank.versions, state.version)
            if c < 0:
                break
            bank = self.builder.build(state, [c], base=bank)
            self.holder.bank = bank
            if self.on_publish is not None:
                self.on_publish(self.holder)
            self.stats.add(bank.decode_s)
            self._reap()
            self._last_class = c
            decoded = True
        if decoded:
            self._last_work = time.monotonic()
        return decoded

    def _reap(self) -> None:
        if self.graveyard is not None:
            self.graveyard.reap()

    def _keep_warm(self) -> None:
        """ONNX Runtime gets slower after idling: decode (and discard) when nothing moved."""
        if time.monotonic() - self._last_work < self.keepwarm_s:
            return
        self.builder.decode(self.holder.bank.latents[:1])
        self.stats.keepwarm += 1
        self._last_work = time.monotonic()

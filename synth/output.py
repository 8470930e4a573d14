"""The output stage between the voice mix and the speakers: DC blocker, limiter, soft clip.

Whatever the model outputs (±10, a DC offset, denormals), nothing above -1 dBFS leaves here:
a peak limiter with instant attack and smooth release brings the block under the ceiling, a
soft clip rounds what is left near it, and a final clip is the brick wall. Non-finite voices
never reach this stage (the voice pool silences them), but the stage guards against them too.

All work happens in preallocated buffers (``process`` allocates nothing of block size).
"""

from __future__ import annotations

import math

import numpy as np

CEILING_DB = -1.0
CEILING = 10.0 ** (CEILING_DB / 20.0)  # 0.891 full scale
_CHUNK = 256  # the closed-form DC blocker is evaluated in chunks to stay well conditioned


class OutputStage:
    """DC blocker + limiter + soft clip for ``channels`` channels of up to ``max_frames`` frames.

    ``process(mix)`` works in place on mix [channels, frames] float64 and returns it.
    """

    def __init__(self, samplerate: int, max_frames: int, channels: int = 2,
                 dc_cutoff_hz: float = 5.0, release_ms: float = 80.0, knee: float = 0.6):
        self.channels = channels
        # One-pole DC blocker y[n] = x[n] - x[n-1] + R y[n-1].
        self.r = 1.0 - 2.0 * math.pi * dc_cutoff_hz / samplerate
        # powers with scalar math (numpy's SIMD pow is alignment dependent: renders must repeat)
        self._rpow = np.array([math.pow(self.r, n + 1) for n in range(_CHUNK)])   # R^(n+1)
        self._rinv = np.array([math.pow(self.r, -n) for n in range(_CHUNK)])      # R^-n
        self._x_prev = np.zeros(channels)
        self._y_prev = np.zeros(channels)
        self._d = np.zeros((channels, _CHUNK))
        self._tmp = np.zeros((channels, max_frames))
        self._tmp2 = np.zeros((channels, max_frames))
        self._mask = np.zeros((channels, max_frames), dtype=bool)
        self._peak = np.zeros(channels)
        # Limiter: gain follows the block peak down at once and recovers exponentially.
        self.gain = 1.0
        self.release = math.exp(-1.0 / (release_ms * 1e-3 * samplerate))
        self._relpow = np.array([math.pow(self.release, n + 1) for n in range(max_frames)])
        self._gains = np.ones(max_frames)
        # Soft clip above knee * ceiling: o / (1 + o) rounding toward the ceiling.
        self.knee = knee * CEILING
        self.span = CEILING - self.knee
        self.max_frames = max_frames
        self.nonfinite_blocks = 0
        self.limited_blocks = 0

    def reset(self) -> None:
        self._x_prev[:] = 0.0
        self._y_prev[:] = 0.0
        self.gain = 1.0

    def _dc_block(self, x: np.ndarray) -> None:
        """In place on x [channels, n], n <= _CHUNK, exact one-pole recursion in closed form:
        y[n] = R^(n+1) y[-1] + sum_k R^(n-k) d[k] with d[k] = x[k] - x[k-1]."""
        n = x.shape[1]
        d = self._d[:, :n]
        d[:, 0] = x[:, 0] - self._x_prev
        np.subtract(x[:, 1:], x[:, :-1], out=d[:, 1:])
        self._x_prev[:] = x[:, n - 1]
        np.multiply(d, self._rinv[:n], out=d)
        np.cumsum(d, axis=1, out=d)
        np.divide(d, self._rinv[:n], out=d)  # R^n * cumsum(d R^-k)
        np.multiply(self._rpow[:n], self._y_prev[:, None], out=x)
        np.add(x, d, out=x)
        self._y_prev[:] = x[:, n - 1]

    def process(self, mix: np.ndarray) -> np.ndarray:
        """mix: [channels, frames] float64, modified in place; returns it, |value| <= CEILING."""
        frames = mix.shape[1]
        if not math.isfinite(float(np.sum(mix))):
            # Should not happen (voices are screened); silence the block and the filter state.
            self.nonfinite_blocks += 1
            mix[:] = 0.0
            self.reset()
            return mix
        for start in range(0, frames, _CHUNK):
            self._dc_block(mix[:, start:start + _CHUNK])
        # Peak limiter: target gain for this block, instant attack, exponential release
        # applied sample by sample as g[n] = target + (g0 - target) * rel^n.
        np.abs(mix, out=self._tmp[:, :frames])
        peak = float(self._tmp[:, :frames].max())
        target = CEILING / peak if peak > CEILING else 1.0
        g = self._gains[:frames]
        if target <= self.gain:
            self.gain = target
            self.limited_blocks += target < 1.0
            mix *= target
        else:
            g[:] = self._relpow[:frames]
            g *= self.gain - target
            g += target
            self.gain = float(g[-1])
            mix *= g
        # Soft clip: values beyond the knee are compressed toward the ceiling by the algebraic
        # curve o / (1 + o) (only + - * /: exact and identical in SIMD and scalar code, unlike
        # numpy's tanh, so renders repeat bit for bit).
        a = self._tmp[:, :frames]
        np.abs(mix, out=a)
        if float(a.max()) > self.knee:
            over = a  # reuse: over = max(|x| - knee, 0)
            np.subtract(a, self.knee, out=over)
            np.maximum(over, 0.0, out=over)
            np.divide(over, self.span, out=over)
            den = self._tmp2[:, :frames]
            np.add(over, 1.0, out=den)
            np.divide(over, den, out=over)
            over *= self.span
            over += self.knee
            # where |x| <= knee keep x, else sign(x) * compressed (scratch buffers only: this
            # runs in the audio callback)
            np.copysign(over, mix, out=over)
            mask = self._mask[:, :frames]
            np.abs(mix, out=den)
            np.greater(den, self.knee, out=mask)
            np.putmask(mix, mask, over)
        np.clip(mix, -CEILING, CEILING, out=mix)  # the brick wall
        return mix

"""Polyphase resampling from the preset's sample rate to the audio device's, in numpy only.

The filter and the gather indices are computed once per (input length, rates) so that
resampling a freshly decoded bank is a single gather + multiply-add. The result equals
``scipy.signal.resample_poly(x, up, down, axis=-1)`` (Kaiser window, beta 5, half length
10 * max(up, down)) up to float32 rounding; the tests compare the two.
"""

from __future__ import annotations

import math

import numpy as np


def lowpass_kaiser(numtaps: int, cutoff: float, beta: float = 5.0) -> np.ndarray:
    """Windowed-sinc low-pass FIR, unit gain at DC (scipy's ``firwin(numtaps, cutoff,
    window=("kaiser", beta))`` with cutoff relative to Nyquist).

    Returns: [numtaps] float64.
    """
    m = np.arange(numtaps, dtype=np.float64) - (numtaps - 1) / 2.0
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(numtaps, beta)
    return h / h.sum()


class Resampler:
    """Rational resampler ``rate_in -> rate_out`` for frames of a fixed length.

    ``Resampler(8000, 48000, 4096)(x)`` with ``x`` of shape ``[batch, 4096]`` returns
    ``[batch, 24576]`` float32. When the rates are equal it returns a float32 copy.
    """

    def __init__(self, rate_in: int, rate_out: int, length_in: int, dtype=np.float32):
        if rate_in <= 0 or rate_out <= 0 or length_in <= 0:
            raise ValueError(
                f"resampler needs positive rates and length, got {rate_in} -> {rate_out}, "
                f"length {length_in}"
            )
        g = math.gcd(int(rate_in), int(rate_out))
        self.up, self.down = int(rate_out) // g, int(rate_in) // g
        self.rate_in, self.rate_out, self.length_in = int(rate_in), int(rate_out), int(length_in)
        self.length_out = -(-self.length_in * self.up // self.down)  # ceil, as scipy
        self.dtype = dtype
        if self.up == self.down == 1:
            self._index = self._weight = None
            return
        max_rate = max(self.up, self.down)
        half_len = 10 * max_rate
        h = lowpass_kaiser(2 * half_len + 1, 1.0 / max_rate) * self.up
        # Output m is sum_i x[i] * h[m*down + half_len - i*up] (the filter centred on m*down in
        # the up-sampled grid); only ~2*half_len/up + 1 input samples fall under the filter.
        ntaps = 2 * half_len // self.up + 2
        m = np.arange(self.length_out, dtype=np.int64)[:, None]
        first = -((half_len - m * self.down) // self.up)  # ceil((m*down - half_len) / up)
        index = first + np.arange(ntaps, dtype=np.int64)[None, :]
        tap = m * self.down + half_len - index * self.up
        valid = (tap >= 0) & (tap <= 2 * half_len) & (index >= 0) & (index < self.length_in)
        self._weight = np.where(valid, h[np.clip(tap, 0, 2 * half_len)], 0.0).astype(dtype)
        self._index = np.clip(index, 0, self.length_in - 1).astype(np.intp)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: [batch, length_in] (or [length_in]) -> [batch, length_out] float32."""
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[-1] != self.length_in:
            raise ValueError(f"resampler built for {self.length_in} samples, got {x.shape[-1]}")
        if self._index is None:
            return x.copy()
        gathered = x[..., self._index]  # [batch, length_out, ntaps]
        return np.einsum("...mt,mt->...m", gathered, self._weight).astype(self.dtype, copy=False)

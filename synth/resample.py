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
    # Scalar math, not numpy's SIMD sin/exp: those round differently depending on memory
    # alignment, and renders must be bit-identical from run to run.
    def i0(x: float) -> float:
        total, term, k = 1.0, 1.0, 1
        while term > 1e-17 * total:
            term *= (x / (2.0 * k)) ** 2
            total += term
            k += 1
        return total

    centre = (numtaps - 1) / 2.0
    norm = i0(beta)
    h = []
    for n in range(numtaps):
        m = n - centre
        arg = cutoff * m
        sinc = 1.0 if arg == 0 else math.sin(math.pi * arg) / (math.pi * arg)
        r = 2.0 * n / (numtaps - 1) - 1.0 if numtaps > 1 else 0.0
        window = i0(beta * math.sqrt(max(0.0, 1.0 - r * r))) / norm
        h.append(cutoff * sinc * window)
    h = np.array(h, dtype=np.float64)
    return h / math.fsum(h)


# Beyond this many entries in the polyphase matrix (odd rate pairs such as 22050 -> 47999, whose
# `up` is huge) the resampler falls back to a gather per filter tap.
MAX_MATRIX_ENTRIES = 1 << 22


class Resampler:
    """Rational resampler ``rate_in -> rate_out`` for frames of a fixed length.

    ``Resampler(8000, 48000, 4096)(x)`` with ``x`` of shape ``[batch, 4096]`` returns
    ``[batch, 24576]`` float32. When the rates are equal it returns a float32 copy.

    Outputs ``m = up * k + j`` share the filter phase ``j`` and read the inputs from ``k * down``
    on, so the whole resampling is one matrix product: overlapping input windows
    ``[batch * K, window]`` (a strided view, no copy) times the polyphase matrix
    ``[window, up]``. One BLAS call resamples a 16384-sample drum frame to 48 kHz in well under
    a millisecond, where a gather per tap took ~4 ms. The summation order inside a GEMM does not
    depend on memory alignment (numpy's own SIMD reductions do), so renders stay bit-identical.
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
        self._matrix = self._index = self._weight = None
        if self.up == self.down == 1:
            return
        max_rate = max(self.up, self.down)
        half_len = 10 * max_rate
        h = lowpass_kaiser(2 * half_len + 1, 1.0 / max_rate) * self.up
        # Output m is sum_i x[i] * h[m*down + half_len - i*up] (the filter centred on m*down in
        # the up-sampled grid); only ~2*half_len/up + 1 input samples fall under the filter.
        ntaps = 2 * half_len // self.up + 2
        phases = np.arange(self.up, dtype=np.int64)
        first = -((half_len - phases * self.down) // self.up)  # ceil((j*down - half_len) / up)
        self._lead = int(-first.min())               # zeros before x[0] for the first windows
        window = int(first.max() - first.min()) + ntaps
        if window * self.up <= MAX_MATRIX_ENTRIES:
            # matrix[w, j] = h[tap] for the input at window position w of phase j
            w = np.arange(window, dtype=np.int64)[:, None]
            tap = phases[None, :] * self.down + half_len - (w - self._lead) * self.up
            self._matrix = np.where((tap >= 0) & (tap <= 2 * half_len),
                                    h[np.clip(tap, 0, 2 * half_len)], 0.0).astype(dtype)
            self._blocks = -(-self.length_out // self.up)
            self._window = window
            # padded input: lead zeros, the frame, and zeros up to the last window's end
            self._padded_len = max(self._lead + self.length_in,
                                   (self._blocks - 1) * self.down + window)
            return
        m = np.arange(self.length_out, dtype=np.int64)[:, None]
        first = -((half_len - m * self.down) // self.up)
        index = first + np.arange(ntaps, dtype=np.int64)[None, :]
        tap = m * self.down + half_len - index * self.up
        valid = (tap >= 0) & (tap <= 2 * half_len) & (index >= 0) & (index < self.length_in)
        self._weight = np.ascontiguousarray(
            np.where(valid, h[np.clip(tap, 0, 2 * half_len)], 0.0).astype(dtype))
        self._index = np.clip(index, 0, self.length_in - 1).astype(np.intp)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """x: [batch, length_in] (or [length_in]) -> [batch, length_out] float32."""
        x = np.asarray(x, dtype=self.dtype)
        if x.shape[-1] != self.length_in:
            raise ValueError(f"resampler built for {self.length_in} samples, got {x.shape[-1]}")
        if self._matrix is not None:
            batch = x.shape[:-1]
            rows = x.reshape(-1, self.length_in)
            padded = np.zeros((rows.shape[0], self._padded_len), dtype=self.dtype)
            padded[:, self._lead:self._lead + self.length_in] = rows
            step = padded.strides
            windows = np.lib.stride_tricks.as_strided(
                padded, (rows.shape[0], self._blocks, self._window),
                (step[0], step[1] * self.down, step[1]), writeable=False)
            out = windows @ self._matrix               # [rows, K, up]
            out = out.reshape(rows.shape[0], -1)[:, : self.length_out]
            return np.ascontiguousarray(out).reshape(batch + (self.length_out,))
        if self._index is None:
            return x.copy()
        # Accumulate tap by tap with element-wise operations: the result is then independent of
        # memory alignment (numpy's SIMD reductions, einsum included, are not).
        out = np.zeros(x.shape[:-1] + (self.length_out,), dtype=self.dtype)
        for t in range(self._index.shape[1]):
            out += x[..., self._index[:, t]] * self._weight[:, t]
        return out

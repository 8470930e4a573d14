"""A pseudo-quadrature mirror filterbank (PQMF): N uniform sub-bands of a signal at 1/N of its rate.

A multiband decoder (``multiband.py``) makes its sound as N sub-band signals at 1/N of the sample
rate and recombines them here, so its convolutions never run at the full rate (RAVE's decoder
does the same). The bank is the cosine-modulated kind (Lin & Vaidyanathan, "A Kaiser window
approach for the design of prototype filters of cosine modulated filterbanks", IEEE SPL 1998):
one linear-phase low-pass prototype h of ``taps`` = J * N coefficients (a Kaiser-windowed sinc
whose cutoff is chosen so that |H(w)|^2 + |H(pi/N - w)|^2 is as flat as it can be), modulated to
band k (0 <= k < N, band k covering k/N .. (k+1)/N of Nyquist)::

    analysis  h_k[n] = 2 h[n] cos((2k+1) pi/(2N) (n - (taps-1)/2) + (-1)^k pi/4)
    synthesis g_k[n] = 2 h[n] cos((2k+1) pi/(2N) (n - (taps-1)/2) - (-1)^k pi/4)

The aliasing between neighbouring bands cancels and analysis followed by synthesis gives the
signal back up to a small error (``tests/train/test_train_pqmf.py`` asserts its size).

Synthesis in polyphase form is one convolution over the sub-band steps (J taps, N band channels
in, N phase channels out) followed by a reshape that interleaves the N phases: L * taps
multiply-adds for L output samples, and it exports to ONNX as Conv + Reshape.

Shapes: full-band audio [N, L]; sub-bands [N, L / bands, bands] (time major, band last).
"""

from __future__ import annotations

import functools
import math

import numpy as np

DEFAULT_BANDS = 16
DEFAULT_TAPS_PER_BAND = 16  # J: prototype length = J * bands (256 taps for 16 bands)
KAISER_BETA = 9.0  # stopband about -90 dB at these lengths


def _power_complement_error(h: np.ndarray, bands: int, points: int = 4096) -> float:
    """max over w in [0, pi/N] of | |H(w)|^2 + |H(pi/N - w)|^2 - 1 |, h scaled to H(0) = 1."""
    w = np.linspace(0.0, np.pi / bands, points)
    n = np.arange(h.size)
    hw = np.abs(np.exp(-1j * np.outer(w, n)) @ h) ** 2
    hm = np.abs(np.exp(-1j * np.outer(np.pi / bands - w, n)) @ h) ** 2
    return float(np.max(np.abs(hw + hm - 1.0)))


@functools.lru_cache(maxsize=8)
def prototype(bands: int = DEFAULT_BANDS, taps_per_band: int = DEFAULT_TAPS_PER_BAND,
              beta: float = KAISER_BETA) -> np.ndarray:
    """The low-pass prototype: [taps_per_band * bands] float64, DC gain 1.

    A Kaiser-windowed sinc; its cutoff (near 1 / (2 N) of Nyquist) is searched on a fine grid
    for the flattest power complement (the condition for near-perfect reconstruction).
    """
    from scipy import signal

    if bands < 2 or taps_per_band < 2:
        raise ValueError(f"a PQMF needs >= 2 bands and >= 2 taps per band, got {bands}, "
                         f"{taps_per_band}")
    taps = taps_per_band * bands

    def design(cutoff: float) -> np.ndarray:
        h = signal.firwin(taps, cutoff, window=("kaiser", beta))
        return h / h.sum()

    # a coarse grid, then a fine one around its best point: deterministic, no optimiser state
    centre, width = 0.5 / bands, 0.5 / bands
    for _ in range(3):
        grid = centre + np.linspace(-width, width, 41)
        grid = grid[(grid > 0.0) & (grid < 1.0)]
        errors = [_power_complement_error(design(c), bands, 1024) for c in grid]
        centre, width = float(grid[int(np.argmin(errors))]), width / 10.0
    return design(centre)


def filters(bands: int = DEFAULT_BANDS, taps_per_band: int = DEFAULT_TAPS_PER_BAND
            ) -> tuple[np.ndarray, np.ndarray]:
    """(analysis h_k, synthesis g_k): each [bands, taps] float64 (module docstring)."""
    h = prototype(bands, taps_per_band)
    taps = h.size
    n = np.arange(taps) - (taps - 1) / 2.0
    k = np.arange(bands)[:, None]
    arg = (2 * k + 1) * np.pi / (2 * bands) * n[None, :]
    sign = np.where(k % 2 == 0, 1.0, -1.0) * np.pi / 4
    return 2 * h * np.cos(arg + sign), 2 * h * np.cos(arg - sign)


def _advance(taps_per_band: int) -> int:
    """Sub-band steps by which ``synthesis`` reads ahead: it pads J // 2 - 1 + J % 2 steps on the
    left and J // 2 on the right, so its output is centred on its input."""
    return taps_per_band // 2


def analysis(audio: np.ndarray, bands: int = DEFAULT_BANDS,
             taps_per_band: int = DEFAULT_TAPS_PER_BAND) -> np.ndarray:
    """Audio [N, L] (or [L]) -> sub-bands [N, L / bands, bands] float64 (numpy; tests and
    training targets, not in the exported decoder).

    Aligned with ``synthesis``: ``synthesis(analysis(x))`` is x with no delay. L must be a
    multiple of ``bands``.
    """
    x = np.atleast_2d(np.asarray(audio, dtype=np.float64))
    length = x.shape[-1]
    if length % bands:
        raise ValueError(f"length {length} is not a multiple of {bands} bands")
    h, _ = filters(bands, taps_per_band)
    taps = h.shape[1]
    # the whole chain delays by taps - 1; synthesis reads ahead by advance * bands samples, so
    # the analysis looks ahead by the rest: y_k[i] = sum_n h_k[n] x[i N - n + ahead]
    ahead = taps - 1 - _advance(taps_per_band) * bands
    padded = np.pad(x, ((0, 0), (taps, taps + ahead)))
    out = np.empty((x.shape[0], length // bands, bands))
    for k in range(bands):
        full = np.stack([np.convolve(row, h[k]) for row in padded])  # index m <-> x[m - taps]
        out[:, :, k] = full[:, taps + ahead: taps + ahead + length: bands]
    return out


def synthesis_kernel(bands: int = DEFAULT_BANDS, taps_per_band: int = DEFAULT_TAPS_PER_BAND
                     ) -> np.ndarray:
    """The polyphase synthesis as a Conv1D kernel [J, bands (in), bands (phase out)] float32.

    Output phase p of step n is bands * sum_k sum_j g_k[p + j N] y_k[n + advance - j]; Conv1D
    correlates, so tap t = J - 1 - j. The factor ``bands`` restores the energy that the
    analysis's downsampling removed.
    """
    _, g = filters(bands, taps_per_band)
    j = taps_per_band
    kernel = np.empty((j, bands, bands))
    for t in range(j):
        jj = j - 1 - t
        kernel[t] = bands * g[:, jj * bands:(jj + 1) * bands]  # [k, p]
    return kernel.astype(np.float32)


def synthesis_numpy(subbands: np.ndarray, taps_per_band: int = DEFAULT_TAPS_PER_BAND
                    ) -> np.ndarray:
    """Sub-bands [N, T, bands] -> audio [N, T * bands] float64: what the ``synthesis`` layer
    computes, in numpy (the reference the layer is tested against)."""
    y = np.asarray(subbands, dtype=np.float64)
    n, t, bands = y.shape
    kernel = synthesis_kernel(bands, taps_per_band).astype(np.float64)
    j = taps_per_band
    left, right = j - 1 - _advance(j), _advance(j)
    padded = np.pad(y, ((0, 0), (left, right), (0, 0)))
    out = np.zeros((n, t, bands))
    for tap in range(j):
        out += padded[:, tap:tap + t, :] @ kernel[tap]
    return out.reshape(n, t * bands)


def synthesis(subbands, taps_per_band: int = DEFAULT_TAPS_PER_BAND, name: str = "pqmf"):
    """Keras: sub-bands [N, T, bands] -> audio [N, T * bands] (frozen weights, no bias).

    Explicit zero padding (left J - 1 - advance, right advance steps), a frozen Conv1D with the
    ``synthesis_kernel`` and a reshape that interleaves the phases.
    """
    import keras

    t, bands = subbands.shape[1], subbands.shape[2]
    j = taps_per_band
    left, right = j - 1 - _advance(j), _advance(j)
    x = keras.layers.ZeroPadding1D((left, right), name=f"{name}_pad")(subbands)
    conv = keras.layers.Conv1D(bands, j, padding="valid", use_bias=False, trainable=False,
                               dtype="float32", name=f"{name}_synthesis")
    x = conv(x)
    conv.set_weights([synthesis_kernel(bands, j)])
    return keras.layers.Reshape((t * bands,), name=f"{name}_interleave")(x)


def reconstruction_error_db(bands: int = DEFAULT_BANDS, taps_per_band: int = DEFAULT_TAPS_PER_BAND,
                            length: int = 32768, seed: int = 0) -> float:
    """Error of analysis -> synthesis on white noise, dB relative to the signal (the frame's
    edges, one prototype length at each end, left out)."""
    x = np.random.default_rng(seed).standard_normal((1, length))
    y = synthesis_numpy(analysis(x, bands, taps_per_band), taps_per_band)
    edge = taps_per_band * bands
    err = y[:, edge:-edge] - x[:, edge:-edge]
    return 10.0 * math.log10(np.mean(err ** 2) / np.mean(x[:, edge:-edge] ** 2))

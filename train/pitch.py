"""A pitch tracker written with keras.ops: the f0 target of the harmonic decoder (``--harmonics``).

Autocorrelation as in Boersma (1993), Praat's "To Pitch (ac)": the autocorrelation of a
Hann-windowed frame, interpolated to quarter-sample lags, divided by the window's own
autocorrelation (so a periodic signal reads close to 1 at its period whatever the taper), the
strongest lag between 1 / f0_max and 1 / f0_min
with a small cost for long lags (against picking the octave below), refined by a parabola
through its neighbours. No path search: the decoder's f0 loss only uses frames that are
clearly voiced.

Runs inside the training step on the target clips themselves (augmented copies included, so a
sped-up clip has a higher target), under either Keras backend.
"""

from __future__ import annotations

WINDOW = 512  # samples per analysis frame: >= 2 periods of the lowest f0 at 8 kHz (60 Hz)
UPSAMPLE = 4  # the autocorrelation is read every 1/UPSAMPLE of a sample


def _window_autocorrelation(window: int, up: int):
    """Autocorrelation of the periodic Hann window at lags 0, 1/up, 2/up, ... samples (through
    the same zero-padded FFTs as the frames), normalised to 1 at lag 0: [window * up]."""
    import numpy as np

    w = np.hanning(window + 1)[:-1]  # periodic Hann, as keras.ops.stft's "hann"
    power = np.abs(np.fft.rfft(w, 2 * window)) ** 2
    r = np.fft.irfft(np.pad(power, (0, (up - 1) * window)), 2 * window * up)[: window * up]
    return (r / r[0]).astype("float32")


def pitch_track(x, sample_rate: int, hop: int, f0_min: float = 60.0, f0_max: float = 400.0,
                voicing: float = 0.6, silence_db: float = -30.0, octave_cost: float = 0.02,
                window: int = WINDOW, up: int = UPSAMPLE):
    """f0 of every hop of x: x [N, L] -> (f0 [N, L // hop] in Hz, voiced [N, L // hop] 0/1).

    Frame t is centred on sample t * hop. voiced: the normalised autocorrelation at the period is
    at least ``voicing`` and the frame's RMS is within ``silence_db`` of the clip's loudest
    frame. f0 is defined (clipped to the range) in every frame; only voiced frames mean anything.
    """
    import numpy as np
    from keras import ops

    length = x.shape[-1]
    frames = length // hop
    window = min(window, length)
    lo = max(2, int(np.floor(sample_rate / f0_max))) * up
    hi = min(window // 2, int(np.ceil(sample_rate / f0_min))) * up
    hann = ops.convert_to_tensor(np.hanning(window + 1)[:-1].astype("float32"))
    real, imag = ops.stft(x, window, hop, 2 * window, window=hann, center=True)
    power = (real * real + imag * imag)[:, :frames]  # [N, T, W + 1]
    # the inverse FFT of the power spectrum (zero-padded to 2W: no wrap-around) is the frame's
    # autocorrelation; padding the spectrum with zeros samples it every 1/up of a sample
    # (band-limited interpolation), so a period between two integer lags is not read as the
    # octave below, whose lag happens to fall nearer an integer
    power = ops.pad(power, [(0, 0), (0, 0), (0, (up - 1) * window)])
    ac = ops.irfft((power, ops.zeros_like(power)), fft_length=2 * window * up)[..., : hi + 2]
    energy = ac[..., :1]
    lags = ops.convert_to_tensor(_window_autocorrelation(window, up)[: hi + 2])
    norm = ac / (energy + 1e-9) / lags  # [N, T, hi + 2], ~1 at the period of a periodic frame
    tau = np.arange(lo, hi + 1, dtype="float32") / up  # lags in samples
    strength = norm[..., lo : hi + 1] - octave_cost * np.log2(tau * f0_min / sample_rate)
    best = ops.argmax(strength, axis=-1)  # [N, T] index into lo..hi
    idx = ops.expand_dims(best + lo, -1)
    peak = ops.take_along_axis(norm, idx, axis=-1)[..., 0]
    left = ops.take_along_axis(norm, idx - 1, axis=-1)[..., 0]
    right = ops.take_along_axis(norm, idx + 1, axis=-1)[..., 0]
    curve = left - 2.0 * peak + right
    shift = ops.where(curve < -1e-6, 0.5 * (left - right) / ops.minimum(curve, -1e-6), 0.0)
    period = (ops.cast(best + lo, "float32") + ops.clip(shift, -0.5, 0.5)) / up
    f0 = ops.clip(sample_rate / period, f0_min, f0_max)
    level = energy[..., 0]
    loud = level >= ops.max(level, axis=-1, keepdims=True) * (10.0 ** (silence_db / 10.0))
    voiced = ops.cast(ops.logical_and(peak >= voicing, loud), "float32")
    return f0, voiced

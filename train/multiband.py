"""The multiband output of a decoder: N sub-bands at 1/N of the rate, recombined by a PQMF.

A full-band drum one-shot at 44.1 kHz is 32768 samples; a decoder whose last convolutions ran
at that rate (as ``conv/fast`` does at 22.05 kHz) would spend most of its time there with a few
channels, where ONNX Runtime is least efficient. With ``pqmf_bands`` = N in the model
configuration the decoder's stack stops at L / N steps, a 1x1 convolution makes the N sub-band
signals, and the PQMF synthesis (``pqmf.py``) interleaves them into audio (RAVE's decoder does
the same). With ``subband_noise`` a second 1x1 convolution gives each sub-band a noise gain
per step (sigmoid) that scales a fixed white-noise table: after the synthesis each band's noise
fills its own band, so hi-hats and snare rattles come out as noise with an envelope resolved
to N samples (0.36 ms at 44.1 kHz for N = 16), up to Nyquist, without the buzz a strided
decoder makes of noise (docs/RESULTS.md 4.3).

Model configuration keys (``models.py``)::

    pqmf_bands: N (absent/0: no multiband output)
    pqmf_taps_per_band: J (prototype length J * N; default pqmf.DEFAULT_TAPS_PER_BAND)
    subband_noise: true/false
    subband_dc_block: W (absent/0: off): each waveform sub-band minus its moving average over
        W steps, a notch at the band edges (see ``multiband_output``)
    subband_dc_block_band0: W0 (absent/0: band 0 left alone): band 0 minus its W0-step moving
        average, a high-pass near sr / (N W0) (11 Hz for N 16 and W0 256)
    subband_noise_bias: the noise gains' initial pre-activation (absent: -4, gains near 0.018)
    subband_waveform_bands: K (absent: all N): only sub-bands 0 .. K-1 carry the waveform path,
        the ones above noise only
    subband_waveform_gate: true/false: each waveform sub-band times its own gain per step
        (``mb_waveform_gate``: 1x1 conv, sigmoid, starting near 0.98), so a band can fall silent
    subband_dc_block_passes: P (absent: 1): each moving average above is P moving averages in a
        row. One window's response is a sinc whose side lobes (-13 dB) ripple the blocked band's
        pass band at every sr / (N W) Hz: on band 0, where the kicks and toms are, a comb of
        peaks at multiples of 21.5 Hz for W0 64. Two in a row (a triangle) ripple at -26 dB.

A constant in a sub-band is a steady tone at a band edge (sub-band DC is k / N of Nyquist in
a cosine-modulated bank): the first fullband decoder, 12 epochs into training on the drums,
put 24-40 dB peaks at every multiple of sr / 16 (2756 Hz), a comb the evaluation read as
25.5 dB, because its leaky-ReLU features and the 1x1 convolution's bias give every sub-band
an offset that the spectral losses, which see it in a handful of bins, barely penalise.
"""

from __future__ import annotations

import numpy as np
from vae_synth.train import pqmf


def bands_of(cfg: dict) -> int:
    """The configuration's sub-band count (1 without a multiband output)."""
    return int(cfg.get("pqmf_bands") or 1)


def subband_noise_table(steps: int, bands: int, taps_per_band: int = pqmf.DEFAULT_TAPS_PER_BAND,
                        seed: int = 0) -> np.ndarray:
    """Fixed white noise for the sub-bands: [steps, bands] float32, scaled so that with every
    gain at 1 the synthesised noise has RMS 1 (away from the frame's edges). Rounded to float16
    precision, which export stores at half size (``export.convert.store_exact_float16``)."""
    table = np.random.default_rng(seed).standard_normal((steps, bands))
    audio = pqmf.synthesis_numpy(table[None], taps_per_band)[0]
    edge = taps_per_band * bands
    rms = np.sqrt(np.mean(audio[edge:-edge] ** 2)) if audio.size > 2 * edge else np.sqrt(
        np.mean(audio ** 2))
    return (table / rms).astype(np.float16).astype(np.float32)


def multiband_output(x, cfg: dict, frame_length: int):
    """Decoder features at the sub-band rate [N, L / bands, C] -> audio [N, L] before the
    decoder's output tanh.

    Layers: ``mb_bands`` (1x1 conv to the sub-band signals), ``mb_dc_block`` (with
    ``subband_dc_block`` W: sub-bands 1 .. N-1 minus their W-step moving average, so no
    sub-band holds an offset: a notch about sr / (N W) wide at each band edge above 0 Hz,
    43 Hz for N 16 and W 64; exports as AveragePool, Mul and Sub), ``mb_noise_gain`` (with ``subband_noise``: 1x1 conv,
    sigmoid, starting near 0.02; its noise is zero-mean and needs no blocking), ``pqmf_*`` (the
    frozen synthesis).
    """
    import keras
    from keras import ops

    bands = bands_of(cfg)
    taps = int(cfg.get("pqmf_taps_per_band") or pqmf.DEFAULT_TAPS_PER_BAND)
    steps = x.shape[1]
    if steps * bands != frame_length:
        raise ValueError(f"the decoder's stack ends at {steps} steps; {bands} bands need "
                         f"{frame_length // bands} for {frame_length} samples")
    sub = keras.layers.Conv1D(bands, 1, dtype="float32", name="mb_bands")(x)
    window = int(cfg.get("subband_dc_block") or 0)
    passes = int(cfg.get("subband_dc_block_passes") or 1)

    def moving_average(signal, width: int, name: str):
        for i in range(passes):
            signal = keras.layers.AveragePooling1D(width, strides=1, padding="same",
                                                   name=name if i == 0 else f"{name}_{i}")(signal)
        return signal

    if window:
        mean = moving_average(sub, window, "mb_dc_mean")
        # band 0's offset is the audio's own DC (its band edge is 0 Hz): blocked over its own,
        # longer window (subband_dc_block_band0), or not at all. Left alone, the first full
        # run's decoder met the frame-loudness loss with DC and infrasound instead of the
        # kicks' and toms' fundamentals (0-30 Hz 24-27 dB above the real clips, 30-150 Hz 24-26
        # dB below; their centres 10 dB quiet)
        weight = np.ones((1, 1, bands), np.float32)
        weight[..., 0] = 0.0
        sub_mean = mean * weight
        window0 = int(cfg.get("subband_dc_block_band0") or 0)
        if window0:
            first = np.zeros((1, 1, bands), np.float32)
            first[..., 0] = 1.0
            mean0 = moving_average(sub, window0, "mb_dc_mean0")
            sub_mean = sub_mean + mean0 * first
        sub = keras.layers.Subtract(name="mb_dc_block")([sub, sub_mean])
    waveform_bands = int(cfg.get("subband_waveform_bands") or bands)
    if waveform_bands < bands:
        # the top sub-bands carry noise only: an offset or slow drift in the top band is a tone
        # at the Nyquist frequency, which the spectral and mel losses barely see (one bin; the
        # top mel filter ends there with weight 0) and a full-band decoder put 8 dB under its
        # kicks' level there (docs/notes/2026-12-03-fullband-centre-loss.md)
        keep = np.zeros((1, 1, bands), np.float32)
        keep[..., :waveform_bands] = 1.0
        sub = sub * keep
    if cfg.get("subband_waveform_gate"):
        # a gain per sub-band and step (sigmoid, starting near 1). Without it nothing the
        # fullband decoder made fell below about -40 dB of its energy above 11 kHz, and that
        # air came from the waveform bands (the noise gains were near 0), so kicks, toms and
        # dull snares came back too bright there (docs/notes/2026-12-04-fullband-air-tracking.md)
        gate = keras.layers.Conv1D(bands, 1, activation="sigmoid", dtype="float32",
                                   bias_initializer=keras.initializers.Constant(4.0),
                                   name="mb_waveform_gate")(x)
        sub = keras.layers.Multiply(name="mb_gated")([sub, gate])
    if cfg.get("subband_noise"):
        gains = keras.layers.Conv1D(bands, 1, activation="sigmoid", dtype="float32",
                                    bias_initializer=keras.initializers.Constant(
                                        float(cfg.get("subband_noise_bias", -4.0))),
                                    name="mb_noise_gain")(x)
        table = ops.convert_to_tensor(subband_noise_table(steps, bands, taps))
        sub = keras.layers.Add(name="mb_add_noise")([sub, gains * table[None]])
    return pqmf.synthesis(sub, taps)

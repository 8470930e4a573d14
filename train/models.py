"""The thesis's three autoencoders (Tables 4.1, 4.2) and scaled configurations, keras.layers only.

A model configuration is data (a dict, stored resolved in ``config.json``)::

    encoder:  list of layer specs, applied to audio [N, L, 1]
    decoder:  list of layer specs, applied to the decoder input [N, T0, C0]
    bottleneck_channels: channels of the encoder's last (1x1) layer
    decoder_input: [T0, C0] or null (null: mirror the encoder's last shape)
    dense_hidden: units of the first of the two Dense layers growing z back (null: the target size)
    classifier_hidden: hidden Dense sizes of the classifier on z (null: 3 x max(10, classes))
    norm: "batch" | "none"; activation: keras activation name (thesis: tanh)
    output_gate_db: absent/null, or the threshold of the decoder's output gate (``--output-gate``)
    encoder_dropout: absent/0, or the dropout rate on the encoder's flattened features
        (``--encoder-dropout``; active in training only)
    classifier: absent, or "prior" with prior_spread S: the classifier is the posterior of the
        class-conditional prior (``--prior-classifier``, see ``build_classifier``)
    antialias: absent/false, or true: every strided ``convT`` of the decoder is followed by a
        moving average as long as its stride (``--antialias``, see ``anti_image``), or the
        notch over P periods where its layer spec says ``"antialias_periods": P``
    noise_bands: absent/0, or B: a filtered-noise branch added to the decoder's output
        (``--noise-bands``, see ``noise_branch``)
    harmonics: absent, or {"count": K, "f0_min", "f0_max", "sample_rate"}: a harmonic
        oscillator bank added to the decoder's output (``--harmonics``, see ``harmonic_branch``)
    waveform_branch: absent/true, or false: no transposed-convolution stack; two 3-tap
        convolutions over the grid drive the harmonic and noise branches, which alone make
        the sound (``--no-waveform-branch``, a DDSP-style decoder)
    pqmf_bands, pqmf_taps_per_band, subband_noise, subband_dc_block: absent, or a multiband
        output: the stack ends at 1/N of the rate and a PQMF recombines N sub-bands
        (``multiband.py``; the ``fullband`` configuration)

Layer specs: ``{"type": "conv", "filters", "kernel", "strides"}``, ``{"type": "convT", ...}``,
``{"type": "dilation", "layers": 50, "filters": 32, "kernel": 2, "cycles": [10, 5]}`` and
``{"type": "resblock", "kernel": 3, "dilations": [1, 3, 9]}``, ``{"type": "subpixel", "filters",
"kernel", "strides"}`` (upsampling as a convolution to filters x strides channels and a reshape) (a cheap residual refinement at the
current resolution; used by the real-time ``fast`` decoder) and ``{"type": "logspec", "n_fft",
"hop"}`` (a fixed log-STFT front end for the encoder, ``--encoder logspec``).

Only ``keras.layers`` / ``keras.ops`` are used so the same code runs under KERAS_BACKEND=jax.
"""

from __future__ import annotations

import copy
import math

ARCHS = ("conv", "dilated", "hybrid")


def _c(filters: int, kernel: int, strides: int = 1, kind: str = "conv") -> dict:
    return {"type": kind, "filters": filters, "kernel": kernel, "strides": strides}


def _dil(layers: int = 50, filters: int = 32, kernel: int = 2, cycles=(10, 5)) -> dict:
    return {"type": "dilation", "layers": layers, "filters": filters, "kernel": kernel,
            "cycles": list(cycles)}


# Thesis Table 4.1 (left): convolution based autoencoder.
CONV_THESIS = {
    "encoder": [_c(128, 5, 2), _c(128, 4, 2), _c(256, 4, 2), _c(512, 4, 2), _c(1024, 4, 2)],
    "bottleneck_channels": 1,
    "decoder": [_c(1024, 4, 2, "convT"), _c(512, 4, 2, "convT"), _c(256, 4, 2, "convT"),
                _c(128, 4, 2, "convT"), _c(128, 5, 2, "convT")],
    "decoder_input": None, "dense_hidden": None, "classifier_hidden": None,
    "norm": "batch", "activation": "tanh",
}
# Thesis Table 4.1 (right): dilation based autoencoder (WaveNet-like).
DILATED_THESIS = {
    "encoder": [_c(16, 32, 1), _dil()] + [_c(1, 2, 2) for _ in range(5)],
    "bottleneck_channels": 1,
    "decoder": [_c(1, 2, 2, "convT") for _ in range(5)]
    + [_c(32, 1, 1, "convT"), _dil(), _c(16, 32, 1, "convT")],
    "decoder_input": None, "dense_hidden": None, "classifier_hidden": None,
    "norm": "batch", "activation": "tanh",
}
# Thesis Table 4.2: hybrid. The table lists no dilation stack in the decoder: kept literally.
HYBRID_THESIS = {
    "encoder": [_c(16, 32, 1), _dil(), _c(128, 4, 2), _c(128, 4, 2), _c(256, 4, 2),
                _c(256, 4, 2), _c(512, 4, 2)],
    "bottleneck_channels": 1,
    "decoder": [_c(512, 4, 2, "convT"), _c(256, 4, 2, "convT"), _c(256, 4, 2, "convT"),
                _c(128, 4, 2, "convT"), _c(128, 4, 2, "convT")],
    "decoder_input": None, "dense_hidden": None, "classifier_hidden": None,
    "norm": "batch", "activation": "tanh",
}

# Scaled configurations: same shapes of network, fewer channels and layers (minutes on 2 cores).
# No batch normalisation: with batches of 16 from a few hundred clips its moving statistics
# lagged the weights, and held-out accuracy swung between 0.4 and 0.5 while training accuracy
# was 1.0 (digits, conv/small with BN + tanh, 1100 steps); without BN train and held-out agree.
CONV_SMALL = {
    "encoder": [_c(16, 9, 2), _c(32, 9, 2), _c(32, 9, 2), _c(64, 9, 2), _c(64, 9, 2)],
    "bottleneck_channels": 8,
    "decoder": [_c(64, 8, 2, "convT"), _c(64, 8, 2, "convT"), _c(32, 8, 2, "convT"),
                _c(32, 8, 2, "convT"), _c(16, 8, 2, "convT")],
    "decoder_input": None, "dense_hidden": 256, "classifier_hidden": [64, 64],
    "norm": "none", "activation": "leaky_relu",
}
DILATED_SMALL = {
    "encoder": [_c(8, 16, 1), _dil(10, 8, 2, (10, 5)), _c(8, 4, 4), _c(8, 4, 4), _c(16, 2, 2)],
    "bottleneck_channels": 8,
    "decoder": [_c(16, 2, 2, "convT"), _c(8, 4, 4, "convT"), _c(8, 4, 4, "convT"),
                _dil(10, 8, 2, (10, 5)), _c(8, 16, 1, "convT")],
    "decoder_input": None, "dense_hidden": 256, "classifier_hidden": [64, 64],
    "norm": "none", "activation": "leaky_relu",
}
HYBRID_SMALL = {
    "encoder": [_c(8, 16, 1), _dil(10, 8, 2, (10, 5)), _c(16, 9, 2), _c(32, 9, 2), _c(32, 9, 2),
                _c(64, 9, 2), _c(64, 9, 2)],
    "bottleneck_channels": 8,
    "decoder": [_c(64, 8, 2, "convT"), _c(64, 8, 2, "convT"), _c(32, 8, 2, "convT"),
                _c(32, 8, 2, "convT"), _c(16, 8, 2, "convT")],
    "decoder_input": None, "dense_hidden": 256, "classifier_hidden": [64, 64],
    "norm": "none", "activation": "leaky_relu",
}
# Real-time decoder: channels halve each time the time resolution grows x4 (large early strides,
# 8 channels at the sample rate), so a 16384-sample frame costs ~39 M MACs (thesis conv: 4.4 G).
def _res(kernel: int = 3, dilations=(1, 3)) -> dict:
    return {"type": "resblock", "kernel": kernel, "dilations": list(dilations)}


CONV_FAST = {
    "encoder": [_c(16, 9, 4), _c(32, 9, 4), _c(64, 9, 4), _c(128, 9, 4)],
    "bottleneck_channels": 16,
    "decoder": [_c(64, 8, 4, "convT"), _res(3, (1, 3)), _c(32, 8, 4, "convT"), _res(3, (1, 3)),
                _c(16, 8, 4, "convT"), _res(3, (1, 3)), _c(8, 8, 4, "convT"), _res(3, (1,))],
    "decoder_input": [None, 128], "dense_hidden": 256, "classifier_hidden": [64, 64],
    "norm": "none", "activation": "leaky_relu",
}

# Full-band real-time decoder (44.1 kHz, 32768 samples): the stack of ``fast`` with twice the
# channels ends at 1/16 of the rate, where 16 sub-band signals and their noise gains are made
# and a PQMF recombines them (``multiband.py``): no convolution runs at the sample rate, and
# hi-hat noise reaches Nyquist. No sub-band may hold an offset (a tone at a band edge; band 0's
# is DC, blocked over 64 steps, a high-pass near 43 Hz), each offset block is two moving averages
# in a row (one alone ripples by 1.2 dB, a comb), and the noise gains start near 0.011 (-39 dB):
# at 0.001 the snares' noise was drawn by the strided stack instead, repeating every 2048 samples
# (docs/notes/2026-12-03-fullband-comb-by-class.md); the top band (20.7-22.05 kHz) is noise
# only (an offset there is a tone at Nyquist). Chosen by measurement against conv/fast at
# 44.1 kHz and a learned 16x output stage (docs/notes/2026-12-02-fullband-decoder.md).
CONV_FULLBAND = {
    "encoder": [_c(16, 9, 4), _c(32, 9, 4), _c(64, 9, 4), _c(128, 9, 4)],
    "bottleneck_channels": 16,
    "decoder": [_c(128, 8, 4, "convT"), _res(3, (1, 3)), _c(64, 8, 4, "convT"), _res(3, (1, 3)),
                _c(32, 8, 4, "convT"), _res(3, (1, 3))],
    "decoder_input": [None, 256], "dense_hidden": 256, "classifier_hidden": [64, 64],
    "norm": "none", "activation": "leaky_relu",
    "pqmf_bands": 16, "pqmf_taps_per_band": 16, "subband_noise": True, "subband_dc_block": 64,
    "subband_dc_block_band0": 64, "subband_dc_block_passes": 2, "subband_noise_bias": -4.5,
    "subband_waveform_bands": 15,
}

def _notched(decoder: list[dict], transposed: int) -> list[dict]:
    """``decoder`` with the notch over 7 periods instead of the box after its transposed
    convolution number ``transposed`` (1-based, in order)."""
    out, seen = [], 0
    for spec in decoder:
        if spec["type"] == "convT":
            seen += 1
            if seen == transposed:
                spec = {**spec, "antialias_periods": 7}
        out.append(spec)
    return out


# fullband with a narrower anti-image filter after the second transposed convolution. Its box
# of 4 (at 689 Hz, 512 steps) is -5 dB at 100 Hz and -16 dB at 150 Hz, and the layer before runs
# at 172 Hz, so a tom's fundamental (80-160 Hz) could only be made late: the fullband decoders
# put their toms' energy an octave low (40-80 Hz). Without that box the toms land in their
# octave but the comb at multiples of 172 Hz returns (15.7 dB); a notch over 7 periods removes
# the same images and keeps 30-150 Hz within 1 dB (``anti_image``;
# docs/notes/2026-12-06-fullband-tom-octave.md). A second notch, after the third transposed
# convolution, took the comb down further but made the snares 1.3-3.5 dB brighter and missed
# more bars on three runs (same note), so only the second transposed convolution is notched.
CONV_FULLBAND_NOTCH = {**CONV_FULLBAND, "decoder": _notched(CONV_FULLBAND["decoder"], 2)}

# A spectral front end for the encoder (``--encoder logspec``): a fixed STFT magnitude (a strided
# Conv1D whose kernel is a Hann-windowed DFT, not trained), log-compressed, then three strided
# convolutions over its frames. The thesis encoders read the raw waveform; with a few hundred
# clips they must learn a filterbank first, and their latent means separate the classes of
# held-out clips less well. Only the encoder changes: the decoder (what the player runs) is the
# configuration's own. The frame length must be a multiple of 512 (hop 64 x stride 8).
def _logspec(n_fft: int = 256, hop: int = 64) -> dict:
    return {"type": "logspec", "n_fft": n_fft, "hop": hop}


ENCODERS = {
    "logspec": [_logspec(256, 64), _c(64, 5, 2), _c(128, 5, 2), _c(128, 5, 2)],
    # the same front end with 512-point frames and hop 128 (frames a multiple of 1024): at
    # 44.1 kHz the time-frequency grid ``logspec`` has at 22.05 kHz (86 Hz bins, 2.9 ms hops).
    # With ``logspec`` at 44.1 kHz a bin is 172 Hz wide, so a kick's 50 Hz and a tom's 120 Hz
    # fall into the same first bin.
    "logspec512": [_logspec(512, 128), _c(64, 5, 2), _c(128, 5, 2), _c(128, 5, 2)],
}
# ``--encoder waveform+logspec``: the configuration's own encoder and the logspec stack side by
# side, each with its bottleneck, concatenated before the dense mean and log-variance. On the
# drums the waveform encoder places held-out clips best among each other (1-NN 0.89) but puts an
# electronic snare among the hi-hats; the log spectrum classifies every held-out clip
# (docs/notes/2026-11-25-drums-spectral-encoder-and-cluster-pull.md). Together they reconstructed best but scattered the held-out clips like
# the log spectrum alone (the same note); the drums preset ships logspec with --cluster-weight.
SIDE_ENCODERS = {"waveform+logspec": "logspec"}

CONFIGS = {
    "conv": {"thesis": CONV_THESIS, "small": CONV_SMALL, "fast": CONV_FAST,
             "fullband": CONV_FULLBAND,
             "fullband-gated": {**CONV_FULLBAND, "subband_waveform_gate": True},
             "fullband-notch": CONV_FULLBAND_NOTCH},
    "dilated": {"thesis": DILATED_THESIS, "small": DILATED_SMALL},
    "hybrid": {"thesis": HYBRID_THESIS, "small": HYBRID_SMALL},
}


def resolve_config(arch: str, config: str | dict, encoder: str = "waveform") -> dict:
    """The configuration dict for ``arch``/``config`` (a name from CONFIGS or a dict), copied.

    encoder: "waveform" (the configuration's own encoder) or a name from ENCODERS, which
    replaces the encoder's layers (a dict config is taken as it is).
    """
    if arch not in CONFIGS:
        raise ValueError(f"unknown --arch {arch!r}; expected one of {ARCHS}")
    if isinstance(config, dict):
        return copy.deepcopy(config)
    if config not in CONFIGS[arch]:
        raise ValueError(
            f"unknown --config {config!r} for {arch}; expected one of {sorted(CONFIGS[arch])}"
        )
    cfg = copy.deepcopy(CONFIGS[arch][config])
    if encoder in SIDE_ENCODERS:
        cfg["encoder_side"] = copy.deepcopy(ENCODERS[SIDE_ENCODERS[encoder]])
    elif encoder != "waveform":
        if encoder not in ENCODERS:
            raise ValueError(f"unknown --encoder {encoder!r}; expected one of "
                             f"{['waveform', *sorted(ENCODERS), *sorted(SIDE_ENCODERS)]}")
        cfg["encoder"] = copy.deepcopy(ENCODERS[encoder])
    return cfg


def _stride(spec: dict) -> int:
    if spec["type"] in ("conv", "convT", "subpixel"):
        return spec.get("strides", 1)
    return spec["hop"] if spec["type"] == "logspec" else 1


def total_stride(layers: list[dict]) -> int:
    return math.prod(_stride(spec) for spec in layers)


def check_frame_length(cfg: dict, frame_length: int) -> None:
    from vae_synth.train.multiband import bands_of

    for side in ("encoder", "encoder_side", "decoder"):
        if side not in cfg:
            continue
        s = total_stride(cfg[side]) * (bands_of(cfg) if side == "decoder" else 1)
        if frame_length % s:
            raise ValueError(
                f"frame length {frame_length} is not a multiple of the {side}'s total stride {s}"
            )


def decoder_input_shape(cfg: dict, frame_length: int) -> tuple[int, int]:
    """(T0, C0): the shape the two Dense layers grow z back to."""
    from vae_synth.train.multiband import bands_of

    t0 = frame_length // (total_stride(cfg["decoder"]) * bands_of(cfg))
    spec = cfg.get("decoder_input")
    c0 = spec[1] if spec else cfg["bottleneck_channels"]
    return t0, c0


def _norm_act(x, cfg: dict, name: str):
    import keras

    if cfg["norm"] == "batch":
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation(cfg["activation"], name=f"{name}_act")(x)


def dilation_block(x, spec: dict, cfg: dict, name: str):
    """The thesis's dilation block (Fig. 4.1). x [N, T, C] -> [N, T, filters].

    Layer i (1-based) has two parallel causal sub-layers (``filters`` filters, kernel ``kernel``)
    with dilation 2^((i-1) mod m1) and 2^((i-1) mod m2), each with tanh (bounded: with an unbounded
    activation the products grew through the residual sum and training diverged); their
    product is the skip output; ``input_i = input_{i-1} + product``; the block output is the mean
    of all skip outputs. A 1x1 projection first if C != filters (the residual sum needs it).
    """
    import keras

    f = spec["filters"]
    if x.shape[-1] != f:
        x = keras.layers.Conv1D(f, 1, name=f"{name}_proj")(x)
    skips = []
    m1, m2 = spec["cycles"]
    for i in range(1, spec["layers"] + 1):
        a = keras.layers.Conv1D(f, spec["kernel"], dilation_rate=2 ** ((i - 1) % m1),
                                padding="causal", activation="tanh",
                                name=f"{name}_l{i}_a")(x)
        b = keras.layers.Conv1D(f, spec["kernel"], dilation_rate=2 ** ((i - 1) % m2),
                                padding="causal", activation="tanh",
                                name=f"{name}_l{i}_b")(x)
        skip = keras.layers.Multiply(name=f"{name}_l{i}_mul")([a, b])
        x = keras.layers.Add(name=f"{name}_l{i}_res")([x, skip])
        skips.append(skip)
    out = keras.layers.Average(name=f"{name}_mean")(skips) if len(skips) > 1 else skips[0]
    return _norm_act(out, cfg, name) if cfg["norm"] == "batch" else out


def res_block(x, spec: dict, cfg: dict, name: str):
    """Residual refinement at the current resolution: x [N, T, C] -> [N, T, C]."""
    import keras

    c = x.shape[-1]
    for j, d in enumerate(spec["dilations"]):
        h = keras.layers.Activation(cfg["activation"], name=f"{name}_{j}_act")(x)
        h = keras.layers.Conv1D(c, spec["kernel"], dilation_rate=d, padding="same",
                                name=f"{name}_{j}_conv")(h)
        x = keras.layers.Add(name=f"{name}_{j}_add")([x, h])
    return x


def logspec_frontend(x, spec: dict, name: str):
    """Fixed STFT magnitude, log-compressed: audio [N, L, 1] -> [N, L / hop, n_fft / 2 + 1].

    A Conv1D with the real and imaginary parts of a Hann-windowed DFT as its (frozen) kernel,
    so it exports to ONNX as a plain convolution.
    """
    import keras
    import numpy as np

    n_fft, hop = spec["n_fft"], spec["hop"]
    bins = n_fft // 2 + 1
    t = np.arange(n_fft)[:, None]
    phase = 2.0 * np.pi * t * np.arange(bins)[None, :] / n_fft
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * t / n_fft)  # periodic Hann
    kernel = (np.concatenate([np.cos(phase), -np.sin(phase)], axis=1) * window)[:, None, :]
    conv = keras.layers.Conv1D(2 * bins, n_fft, strides=hop, padding="same", use_bias=False,
                               trainable=False, name=name)
    y = conv(x)
    conv.set_weights([kernel.astype("float32")])
    re, im = y[..., :bins], y[..., bins:]
    magnitude = keras.ops.sqrt(re * re + im * im + 1e-8)
    # log(1 + 10 |X|): near linear for quiet bins, logarithmic for loud ones (a 16-bit-like floor)
    return keras.ops.log(1.0 + 10.0 * magnitude)


def _stack(x, layers: list[dict], cfg: dict, prefix: str):
    import keras

    for i, spec in enumerate(layers):
        name = f"{prefix}{i + 1}_{spec['type']}"
        if spec["type"] == "logspec":
            x = logspec_frontend(x, spec, name)
        elif spec["type"] == "dilation":
            x = dilation_block(x, spec, cfg, name)
        elif spec["type"] == "resblock":
            x = res_block(x, spec, cfg, name)
        elif spec["type"] == "subpixel":
            x = subpixel(x, spec, name)
            if cfg.get("antialias") and spec["strides"] > 1:
                x = anti_image(x, spec["strides"], name)
            x = _norm_act(x, cfg, name)
        else:
            layer = keras.layers.Conv1D if spec["type"] == "conv" else keras.layers.Conv1DTranspose
            x = layer(spec["filters"], spec["kernel"], strides=spec["strides"], padding="same",
                      name=name)(x)
            if spec["type"] == "convT" and cfg.get("antialias") and spec["strides"] > 1:
                x = anti_image(x, spec["strides"], name, spec.get("antialias_periods", 1))
            x = _norm_act(x, cfg, name)
    return x


def subpixel(x, spec: dict, name: str):
    """Upsampling by ``strides`` as a convolution to filters x strides channels whose groups of
    ``filters`` are the output's phases: x [N, T, C] -> [N, T * strides, filters]. Exports as
    Conv + Reshape (a transposed convolution of kernel 2 x stride is the same map with a
    2-step window)."""
    import keras

    s, f = spec["strides"], spec["filters"]
    x = keras.layers.Conv1D(f * s, spec["kernel"], padding="same", name=name)(x)
    return keras.layers.Reshape((x.shape[1] * s, f), name=f"{name}_phases")(x)


def anti_image(x, stride: int, name: str, periods: int = 1):
    """After a strided transposed convolution, remove its images: x [N, T, C] -> [N, T, C], no
    weights; T a multiple of ``stride``.

    A transposed convolution of stride s is zero-stuffing followed by a learned kernel; nothing
    makes that kernel low-pass, so its s polyphase branches differ and the output repeats every
    s samples: images of the input at multiples of the input rate. Through a stack of them the
    decoder input's own rate shows up as a comb of peaks at its multiples (``comb_db`` in
    ``vae-synth evaluate``).

    periods = 1: a moving average of s samples, which has zeros exactly at those multiples: a
    constant input comes out constant whatever the kernel. On trained decoders it halved the
    drums' comb (21.6 -> 11.8 dB) and left the digits' one (the decoder voices speech with it
    and rebuilds it through its nonlinearities; docs/notes/2026-11-24-digits-decoder-comb.md).
    It is also a low-pass: -5 dB at 0.15 of the output rate, -16 dB at 0.22.

    periods = P (odd): a notch instead, x minus the s-periodic pattern of its part above the
    box, averaged over P periods: 1 - P(z^s) (1 - box(z)). The same zeros at multiples of the
    input rate, within 1 dB elsewhere from 0 to 0.22 of the output rate for P = 7, at the cost
    of spreading the pattern's removal over +-(P - 1) / 2 periods.

    Exports as AveragePool (and Reshape, Sub for the notch).
    """
    import keras

    box = keras.layers.AveragePooling1D(stride, strides=1, padding="same",
                                        name=f"{name}_antialias")(x)
    if periods == 1:
        return box
    if periods % 2 == 0:
        raise ValueError(f"antialias_periods must be odd (a centred average), got {periods}")
    steps, channels = x.shape[1], x.shape[2]
    above = keras.layers.Subtract(name=f"{name}_above_box")([x, box])
    # [N, T / s, s * C]: the s phases of each period side by side, so an average over
    # neighbouring rows is an average of one phase over neighbouring periods
    phases = keras.layers.Reshape((steps // stride, stride * channels),
                                  name=f"{name}_periods")(above)
    pattern = keras.layers.AveragePooling1D(periods, strides=1, padding="same",
                                            name=f"{name}_pattern")(phases)
    pattern = keras.layers.Reshape((steps, channels), name=f"{name}_pattern_steps")(pattern)
    return keras.layers.Subtract(name=f"{name}_notch")([x, pattern])


def build_encoder(cfg: dict, frame_length: int, latent_dim: int, plain: bool = False):
    """Encoder keras.Model: audio [N, L] -> (mu [N, D], logvar [N, D]).

    Plain (non-variational) runs: mu is the flattened 1x1 bottleneck signal (D = L/stride x
    bottleneck channels) and logvar is zeros, so the interface stays the same.
    """
    import keras

    check_frame_length(cfg, frame_length)
    audio = keras.Input((frame_length,), name="audio")
    wave = keras.layers.Reshape((frame_length, 1), name="enc_expand")(audio)
    paths = [("enc", cfg["encoder"])]
    if cfg.get("encoder_side"):
        if plain:
            raise ValueError("a plain autoencoder's latent is its bottleneck signal: it takes "
                             "one encoder, not two side by side")
        paths.append(("enc_side", cfg["encoder_side"]))
    flats = []
    for prefix, layers in paths:  # [N, L, 1] -> [N, L / stride * bottleneck channels]
        x = _stack(wave, layers, cfg, prefix)
        x = keras.layers.Conv1D(cfg["bottleneck_channels"], 1, name=f"{prefix}_bottleneck")(x)
        x = _norm_act(x, cfg, f"{prefix}_bottleneck")
        flats.append(keras.layers.Flatten(name=f"{prefix}_flatten")(x))
    flat = flats[0] if len(flats) == 1 else keras.layers.Concatenate(name="enc_paths")(flats)
    if cfg.get("encoder_dropout"):
        flat = keras.layers.Dropout(float(cfg["encoder_dropout"]), name="enc_dropout")(flat)
    if plain:
        mu = keras.layers.Identity(name="mu")(flat)
        logvar = keras.layers.Lambda(lambda t: keras.ops.zeros_like(t), name="logvar")(flat)
    else:
        mu = keras.layers.Dense(latent_dim, name="mu")(flat)
        logvar = keras.layers.Dense(latent_dim, name="logvar")(flat)
    return keras.Model(audio, [mu, logvar], name="encoder")


def plain_latent_dim(cfg: dict, frame_length: int) -> int:
    return frame_length // total_stride(cfg["encoder"]) * cfg["bottleneck_channels"]


def build_decoder(cfg: dict, frame_length: int, latent_dim: int, plain: bool = False):
    """Decoder keras.Model: z [N, D] -> audio [N, L] in [-1, 1] (tanh output).

    Variational: two Dense layers grow z back to the decoder input [T0, C0]; plain: z is reshaped.
    The stack ends in a 1x1 transposed convolution to one channel.
    """
    import keras

    check_frame_length(cfg, frame_length)
    t0, c0 = decoder_input_shape(cfg, frame_length)
    z = keras.Input((latent_dim,), name="z")
    if plain:
        # the plain latent is the encoder's bottleneck signal itself: reshape it back
        t0, c0 = frame_length // total_stride(cfg["decoder"]), cfg["bottleneck_channels"]
        if t0 * c0 != latent_dim:
            raise ValueError("--plain needs a decoder whose total stride equals the encoder's")
        x = keras.layers.Reshape((t0, c0), name="dec_reshape")(z)
    else:
        target = t0 * c0
        hidden = cfg.get("dense_hidden") or target
        x = keras.layers.Dense(hidden, activation=cfg["activation"], name="dec_dense1")(z)
        x = keras.layers.Dense(target, name="dec_dense2")(x)
        x = keras.layers.Activation(cfg["activation"], name="dec_dense2_act")(x)
        x = keras.layers.Reshape((t0, c0), name="dec_reshape")(x)
    grid = x  # [N, T0, C0]: one step per total_stride samples
    waveform = cfg.get("waveform_branch", True)
    if waveform:
        x = _stack(x, cfg["decoder"], cfg, "dec")
    else:
        if not (cfg.get("noise_bands") or cfg.get("harmonics")):
            raise ValueError("a decoder without its waveform branch needs --harmonics and/or "
                             "--noise-bands to make a sound")
        # the synthesisers' controls: two 3-tap convolutions over the grid steps
        for i in (1, 2):
            grid = keras.layers.Conv1D(CONTROL_CHANNELS, 3, padding="same",
                                       activation=cfg["activation"], name=f"dec_control{i}")(grid)
    branches = []
    if cfg.get("noise_bands"):
        branches.append(("noise", noise_branch(grid, int(cfg["noise_bands"]), frame_length)))
    if cfg.get("harmonics"):
        branches.append(("harmonics", harmonic_branch(grid, frame_length, **cfg["harmonics"])))
    if cfg.get("level_head") and not (cfg.get("pqmf_bands") or branches):
        raise ValueError("level_head needs a decoder whose output is a sum before its tanh "
                         "(a multiband decoder, or noise_bands / harmonics)")
    if cfg.get("pqmf_bands"):
        from vae_synth.train.multiband import multiband_output

        x = multiband_output(x, cfg, frame_length)  # [N, L]
        for name, branch in branches:
            x = keras.layers.Add(name=f"dec_add_{name}")([x, branch])
        if cfg.get("level_head"):
            x = level_head(x, z)
        x = keras.layers.Activation("tanh", dtype="float32", name="dec_out_tanh")(x)
        x = keras.layers.Reshape((frame_length, 1), name="dec_out_expand")(x)
    elif branches:
        # added as [N, L]: as [N, L, 1] + [N, L, 1], tf2onnx made the fixed-batch decoder's sum
        # a BiasAdd of the squeezed noise [L] on the last axis, broadcasting to [1, L, L]
        if waveform:
            x = keras.layers.Conv1DTranspose(1, 1, dtype="float32", name="dec_out")(x)
            x = keras.layers.Reshape((frame_length,), name="dec_out_flat")(x)
        else:
            name, x = branches.pop(0)
        for name, branch in branches:
            x = keras.layers.Add(name=f"dec_add_{name}")([x, branch])
        if cfg.get("level_head"):
            x = level_head(x, z)
        x = keras.layers.Activation("tanh", dtype="float32", name="dec_out_tanh")(x)
        x = keras.layers.Reshape((frame_length, 1), name="dec_out_expand")(x)
    else:
        x = keras.layers.Conv1DTranspose(1, 1, activation="tanh", dtype="float32",
                                         name="dec_out")(x)
    if cfg.get("output_gate_db") is not None:
        x = output_gate(x, float(cfg["output_gate_db"]))
    audio = keras.layers.Reshape((frame_length,), dtype="float32", name="audio_out")(x)
    return keras.Model(z, audio, name="decoder")


LEVEL_HEAD_START_DB = -20.0  # the level head's starting level (RMS dBFS), about a drum hit's
LEVEL_HEAD_RANGE_DB = (-100.0, 0.0)  # what it may ask for: never louder than full scale
LEVEL_NORMALISE = "dec_level_normalise"  # the layer whose inputs training reads (level_gap)


def body_log_rms(x):
    """ln RMS of what the stack makes before the level head: x [N, L] -> [N]."""
    from keras import ops

    return 0.5 * ops.log(ops.mean(ops.square(x), axis=-1) + 1e-10)


def level_head(x, z):
    """The decoded sound at a level that is a linear function of z: x [N, L] (before the
    output tanh), z [N, D] -> [N, L].

    ``dec_level`` (Dense D -> 1) gives the level in nepers, ln RMS; x is divided by its own
    RMS and multiplied by exp of it. Without it the level comes out of the whole stack, and
    where the encoder put held-out takes far out (toms 3 latent units from their pad, against
    0.6 for the training takes) it fell 4.8-6.4 dB on the way from the pad to their centre
    (docs/notes/2026-12-06-fullband-level-head.md). With it, any point on a line between two
    latents decodes at a level between theirs, linearly in dB, as a morph would ask. The
    stack still shapes the sound and its envelope; only its overall level is replaced (in
    training ``losses.LEVEL_GAP_WEIGHT`` keeps the stack's own level near the head's). Exports
    as MatMul, ReduceMean, Log, Sub, Clip and Exp.
    """
    import keras
    from keras import ops

    neper = math.log(10.0) / 20.0
    log_rms = keras.layers.Dense(
        1, dtype="float32", kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant(LEVEL_HEAD_START_DB * neper),
        name="dec_level")(z)  # [N, 1]
    lo, hi = LEVEL_HEAD_RANGE_DB
    log_rms = ops.clip(log_rms, lo * neper, hi * neper)

    class LevelNormalise(keras.layers.Layer):
        """[x [N, L], ln RMS [N, 1]] -> x at that RMS. A layer of its own so that training can
        read its inputs: nothing else pins the scale of what the stack makes, and left free
        it grew 50-70 dB over the head's level while the comb rose to 16 dB
        (train/losses.py ``level_gap``)."""

        def call(self, inputs):
            signal, target = inputs
            return signal * ops.exp(target - ops.expand_dims(body_log_rms(signal), -1))

    return LevelNormalise(dtype="float32", name=LEVEL_NORMALISE)([x, log_rms])


def noise_table(frame_length: int, bands: int, seed: int = 0):
    """Fixed band-limited noise: [L, B] float32, band b white Gaussian noise kept between
    nyquist * 2^(8 (b - B) / B) and nyquist * 2^(8 (b + 1 - B) / B) (the lowest band from 0),
    each band scaled to RMS 1 / sqrt(B), so all gains at 1 give RMS 1. The sample rate is not
    needed: the bands are fractions of Nyquist, half-octaves for B = 16. Rounded to float16
    precision (export stores it as float16, ``export.convert.store_exact_float16``)."""
    import numpy as np

    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(frame_length))
    freq = np.linspace(0.0, 1.0, spectrum.size)  # fraction of Nyquist
    edges = 2.0 ** (8.0 * (np.arange(bands + 1) - bands) / bands)
    edges[0] = 0.0
    table = np.zeros((frame_length, bands))
    for b in range(bands):
        keep = (freq >= edges[b]) & (freq < edges[b + 1] if b < bands - 1 else freq <= 1.0)
        band = np.fft.irfft(np.where(keep, spectrum, 0.0), n=frame_length)
        table[:, b] = band / (np.sqrt(np.mean(band ** 2)) + 1e-12) / np.sqrt(bands)
    # values a float16 holds exactly, so export stores the table at half size without loss
    return table.astype(np.float16).astype(np.float32)


def noise_branch(grid, bands: int, frame_length: int):
    """Filtered noise driven by the decoder's input grid: [N, T0, C0] -> [N, L].

    A strided decoder makes noise (hi-hats, snare rattle, fricatives) by repeating what it
    makes for one grid step, so its "noise" is a buzz at multiples of sr / total stride (the
    drums decoder without it: hi-hat reconstructions 18.7 dB above the bins between, every
    344 Hz; 1.2 dB with this branch). Here, as in DDSP's filtered-noise synthesiser: a 1x1
    convolution gives the gain of each of B noise bands per grid step (sigmoid, starting near
    0.02), the gains are interpolated linearly to the sample rate (``upsample_linear``) and
    multiply a fixed noise table (``noise_table``): the same hit decodes the same way every
    time, and ONNX Runtime computes what Keras does.
    """
    import keras
    from keras import ops

    step = frame_length // grid.shape[1]
    gains = keras.layers.Conv1D(bands, 1, activation="sigmoid", dtype="float32",
                                bias_initializer=keras.initializers.Constant(-4.0),
                                name="noise_gain")(grid)  # [N, T0, B]
    table = ops.convert_to_tensor(noise_table(frame_length, bands))
    return ops.sum(upsample_linear(gains, step) * table[None], axis=-1)


def next_step(g):
    """Each grid step's successor, the last step repeated: g [N, T, ...] -> [N, T, ...]. Keeps
    g's dtype (a Concatenate layer would cast a float64 f0 to float32)."""
    from keras import ops

    return ops.concatenate([g[:, 1:], g[:, -1:]], axis=1)


def upsample_linear(g, step: int):
    """Linear interpolation between grid steps: g [N, T, C] -> [N, T * step, C].

    Sample i * step + s is g[i] + (g[i + 1] - g[i]) * s / step (g[i] sits on the first sample of
    its step; the last step holds its value). Two fixed weight rows and a broadcast: exports as
    Mul/Add/Reshape, no convolution.
    """
    import numpy as np
    from keras import ops

    t, c = g.shape[1], g.shape[2]
    nxt = next_step(g)
    w = (np.arange(step, dtype="float32") / step).reshape(1, 1, step, 1)
    out = ops.expand_dims(g, 2) * (1.0 - w) + ops.expand_dims(nxt, 2) * w  # [N, T, step, C]
    return ops.reshape(out, (-1, t * step, c))


def unit_to_hz(unit, f0_min: float, f0_max: float):
    """f0 in Hz from its unit (0..1), log-linear between f0_min and f0_max, in unit's dtype."""
    from keras import ops

    return f0_min * ops.exp(unit * math.log(f0_max / f0_min))


def pitch_scale(f0_min: float, f0_max: float, name: str = "harm_f0"):
    """A layer mapping the f0 unit (0..1) to Hz, log-linearly between f0_min and f0_max. A layer
    of its own (``harm_f0``) so the training model can read the decoded f0 and pull it toward
    the pitch of the target clip (losses.py); no weights."""
    import keras

    class PitchScale(keras.layers.Layer):
        def call(self, unit):
            return unit_to_hz(unit, f0_min, f0_max)

    layer = PitchScale(dtype="float32", name=name)
    layer.f0_min, layer.f0_max = f0_min, f0_max  # read by the f0 loss (losses.py)
    return layer


CONTROL_CHANNELS = 128  # channels of the controls of a decoder without its waveform branch
F0_GAIN = 10.0  # scale of the f0's pre-activation (harmonic_branch)


def harmonic_branch(grid, frame_length: int, count: int, f0_min: float, f0_max: float,
                    sample_rate: int):
    """A harmonic oscillator bank driven by the decoder's input grid: [N, T0, C0] -> [N, L].

    A strided decoder voices speech with its own grid: the digits decoder's vowels came out
    as a buzz at multiples of sr / total stride (250 Hz), not at the speaker's pitch, and the
    thesis's MFCC (20 filters 200-1200 Hz) reads exactly those harmonics (docs/notes/2026-11-24-digits-decoder-comb.md).
    Here, as in DDSP's harmonic synthesiser: per grid step a small convolution decodes an f0
    (sigmoid, log-scaled between f0_min and f0_max Hz: layer ``harm_f0``, trained toward the
    target clip's pitch by the f0 loss) and the amplitudes of ``count`` harmonics (sigmoid,
    starting near 0.02; harmonics above Nyquist are muted). Both are interpolated linearly to
    the sample rate; the phase is the running sum of f0 / sr: per grid step in closed form (f0
    is linear there), across steps a float64 sum of an f0 computed in float64, wrapped to
    [0, 1) before the sines. On the digits the decoded f0 follows the speaker's pitch within
    0.13 octave, but the thesis's centroid dist did not improve (docs/notes/2026-11-24-harmonic-decoder.md).
    """
    import keras
    import numpy as np
    from keras import ops

    t0 = grid.shape[1]
    step = frame_length // t0
    hidden = keras.layers.Conv1D(64, 3, padding="same", activation="leaky_relu",
                                 dtype="float32", name="harm_hidden")(grid)
    # the f0 starts at the middle of its range everywhere (zero kernel) and its pre-activation
    # is scaled by F0_GAIN: under Adam a weight moves about lr per step, and unscaled the f0 of
    # a 100 Hz sawtooth took thousands of steps to come down from 155 Hz
    logit = keras.layers.Conv1D(1, 1, kernel_initializer="zeros", dtype="float32",
                                name="harm_f0_unit")(hidden)
    unit = keras.layers.Activation("sigmoid", dtype="float32", name="harm_f0_sigmoid")(
        logit * F0_GAIN)
    f0 = pitch_scale(float(f0_min), float(f0_max))(unit)  # [N, T0, 1] Hz, read by the f0 loss
    # the f0 learns from the pitch loss alone: through the sines, the spectral losses' gradient
    # with respect to f0 is large and erratic, and under Adam it drowned the pitch term (the
    # decoded f0 of a 100 Hz sawtooth did not move in 120 steps)
    f0 = ops.stop_gradient(f0)
    # the oscillators' f0: the same function of the logit, in float64. Every cycle played
    # multiplies an f0 error (times the harmonic number), and float32's sigmoid, exp and x10
    # rounded 1-2 ulps apart in ONNX Runtime and TensorFlow: 4.4e-5 ... 8.1e-5 of output error
    # on four trained decoders against the export's 1e-4 tolerance; 1.1e-5 ... 2.4e-5 in
    # float64, what remains being the upstream layers' rounding (docs/notes/2026-11-24-harmonic-decoder.md)
    wide = _wide_float()
    f0_osc = unit_to_hz(ops.sigmoid(ops.cast(logit, wide) * F0_GAIN), float(f0_min),
                        float(f0_max))
    f0_osc = ops.stop_gradient(ops.reshape(f0_osc, (-1, t0)))  # [N, T0] Hz
    amps = keras.layers.Conv1D(count, 1, activation="sigmoid", dtype="float32",
                               bias_initializer=keras.initializers.Constant(-4.0),
                               name="harm_amp")(hidden)  # [N, T0, K]
    k = np.arange(1, count + 1, dtype="float32")
    amps = amps * ops.cast(f0 * k < 0.5 * sample_rate, "float32")
    # phase, laid out [N, T0] / [N, T0, step] (with trailing unit axes tf2onnx exported the
    # batch-1 decoder's sum broadcast to [T0, L]): the cycles completed before each step, summed
    # in float64 (in float32 the rounding drifts 3e-3 rad over a 4096-sample frame, and ONNX
    # Runtime rounds differently from TensorFlow), plus the cycles of the linear f0 ramp inside
    # the step, exact in closed form
    next_osc = next_step(f0_osc)  # the ramp upsample_linear draws between steps
    per_step = (0.5 * (step - 1) * (f0_osc + next_osc) + f0_osc) / sample_rate  # cycles in a step
    start = ops.cumsum(per_step, axis=1) - per_step
    start = ops.cast(start - ops.floor(start), "float32")  # [N, T0], wrapped to [0, 1)
    f0, f0_next = ops.cast(f0_osc, "float32"), ops.cast(next_osc, "float32")
    s = np.arange(step, dtype="float32").reshape(1, 1, step)
    inside = (ops.expand_dims(f0, -1) * (s + 1.0)
              + ops.expand_dims(f0_next - f0, -1) * (s * (s + 1.0) / (2.0 * step))) / sample_rate
    cycles = ops.expand_dims(start, -1) + inside  # [N, T0, step]
    phase = 2.0 * math.pi * ops.reshape(cycles - ops.floor(cycles), (-1, frame_length, 1))
    wave = ops.sin(phase * k) * upsample_linear(amps, step)  # [N, L, K]
    return ops.sum(wave, axis=-1)


def _wide_float() -> str:
    """float64 where the backend computes in it; JAX does only with x64 enabled (off by
    default: it would truncate to float32 with a warning on every trace). Training under JAX
    then sums the phase in float32, about 3e-3 rad off over a 4096-sample frame, inaudible;
    the exported decoder is built under TensorFlow and sums in float64 again."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return "float64" if jax.config.jax_enable_x64 else "float32"
    return "float64"


GATE_BLOCK = 64  # samples per envelope block of the output gate (frames are multiples of 512)


def output_gate(x, threshold_db: float, block: int = GATE_BLOCK):
    """Downward expander on the decoder's output: x [N, L, 1] -> [N, L, 1].

    A raw-audio decoder never outputs digital silence: where real clips are silent its output
    hisses at -60..-80 dBFS. The gain is min(1, envelope / threshold)^2, so the output is
    untouched above ``threshold_db`` and falls 3 dB for every dB below it. Envelope: the peak of
    |x| per ``block`` samples, held over the neighbouring blocks, spread back to the samples and
    smoothed by a block-long moving average (no gain steps). No weights; exports to ONNX as
    MaxPool, Mul, Reshape and AveragePool.
    """
    import keras

    threshold = 10.0 ** (threshold_db / 20.0)
    env = keras.layers.MaxPooling1D(block, strides=block, padding="same", name="gate_peak")(
        keras.ops.abs(x))
    env = keras.layers.MaxPooling1D(3, strides=1, padding="same", name="gate_hold")(env)
    # back to one value per sample: broadcast over a block axis and flatten (tf2onnx turned
    # UpSampling1D's repeat into a transposed Resize here, and the gate into a 4096 x 4096 mess)
    env = keras.ops.reshape(env * keras.ops.ones((1, 1, block)), (-1, x.shape[1], 1))
    env = keras.layers.AveragePooling1D(block, strides=1, padding="same", name="gate_smooth")(env)
    ratio = keras.ops.minimum(env * (1.0 / threshold), 1.0)
    # (x * ratio) * ratio: tf2onnx 1.17's transpose optimiser exported ratio * ratio (and
    # square(ratio)) with the result transposed to [N, 1, L], so the gate broadcast to [N, L, L]
    return x * ratio * ratio


def class_prior_means(num_classes: int, latent_dim: int, spread: float, seed: int = 0):
    """Means of the class-conditional prior N(m_c, I): [C, D] float32, each of length ``spread``.

    Up to D classes get orthogonal axes (class c on dimension c), so every two centres are
    spread * sqrt(2) apart; more classes get seeded random directions.
    """
    import numpy as np

    if num_classes <= latent_dim:
        means = np.eye(num_classes, latent_dim)
    else:
        means = np.random.default_rng(seed).standard_normal((num_classes, latent_dim))
        means /= np.linalg.norm(means, axis=1, keepdims=True)
    return (spread * means).astype(np.float32)


def build_classifier(cfg: dict, latent_dim: int, num_classes: int):
    """Classifier keras.Model on z (§5.1.1): z [N, D] -> logits [N, C].

    ``cfg["classifier"] == "prior"`` (``--prior-classifier``): no learned weights; the logits are
    the log posterior of the class-conditional prior N(m_c, I) with equal class weights,
    -|z - m_c|^2 / 2 up to a constant, i.e. one frozen Dense layer with kernel m^T and bias
    -|m_c|^2 / 2 (m from ``class_prior_means`` at ``cfg["prior_spread"]``). The
    cross-entropy then asks for exactly what the player and the 1-NN / nearest-centroid
    measures use: each clip nearer its own class centre than any other, in Euclidean distance.
    """
    import keras

    if cfg.get("classifier") == "prior":
        means = class_prior_means(num_classes, latent_dim, float(cfg["prior_spread"]))
        z = keras.Input((latent_dim,), name="z")
        dense = keras.layers.Dense(num_classes, dtype="float32", trainable=False, name="logits")
        logits = dense(z)
        dense.set_weights([means.T, -0.5 * (means ** 2).sum(axis=1)])
        return keras.Model(z, logits, name="classifier")
    hidden = cfg.get("classifier_hidden") or [max(10, num_classes)] * 3
    z = keras.Input((latent_dim,), name="z")
    x = z
    for i, units in enumerate(hidden):
        x = keras.layers.Dense(units, activation="tanh", name=f"cls_dense{i + 1}")(x)
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(z, logits, name="classifier")


def build_models(cfg: dict, frame_length: int, latent_dim: int, num_classes: int,
                 plain: bool = False):
    """(encoder, decoder, classifier or None, effective latent dim)."""
    if plain:
        latent_dim = plain_latent_dim(cfg, frame_length)
    enc = build_encoder(cfg, frame_length, latent_dim, plain)
    dec = build_decoder(cfg, frame_length, latent_dim, plain)
    cls = None if plain else build_classifier(cfg, latent_dim, num_classes)
    return enc, dec, cls, latent_dim

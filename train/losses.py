"""Losses of the joint VAE, written with keras.ops (both backends) and the training model.

Joint loss (per batch, averaged over examples)::

    mse_weight * MSE(x, x_hat)                       thesis reconstruction loss
  + stft_weight * MRSTFT(x, x_hat)                   spectral convergence + log magnitude, several
                                                     FFT sizes (DDSP / RAVE style)
  + beta * warmup(step) * KL(q(z|x) || N(0, I))      summed over latent dims; free bits optional
  + gamma * CE(classifier(z), label)
  + level_weight * mean |log frame energy(x) - log frame energy(x_hat)|   optional
  + band_level_weight * mean |log band energy(x) - log band energy(x_hat)|   optional; per
                                                     frame and octave band (0-40 Hz, 40-80, ...):
                                                     each moment's loudness where it belongs, so
                                                     no sub-sonic lump stands in for a kick's boom
  + clip_level_weight * |log energy(x) - log energy(x_hat)|   optional; the whole clip's RMS
                                                     level, the evaluation's level figure: each
                                                     take comes back as loud as it went in
  + LEVEL_GAP_WEIGHT * |ln RMS(stack) - ln RMS(head)|   decoders with a level head: the stack's
                                                     own level pinned to the one the head asks for
  + air_share_weight * |log air share(x) - log air share(x_hat)|  optional; air share = a clip's
                                                     energy above 11 kHz over all of it: each
                                                     take's brightness, dull or bright
  + air_axis_weight * mean (mu[:, -1] - air_axis_target(x))^2   optional; the last latent
                                                     dimension becomes the clip's air in dB (a
                                                     brightness axis), free of the cluster pull
  + comb_weight * sum over periods of max(0, comb(x_hat) - comb(x))   optional; comb = how far
                                                     a clip's spectrum peaks at multiples of
                                                     sr / period, in bels: the buzz of a strided
                                                     stack that makes noise by repeating one
                                                     step's shape (periods: comb_periods, or else
                                                     two steps of the decoder's grid)
  + mel_weight * mean |log mel(x) - log mel(x_hat)|  optional; weights low frequencies by the
                                                     ear's scale, where kick and tom energy lives
  + centre_weight * mean over the batch's classes c of
        |log mel(decoder(mean mu of c)) - mean over c's clips of log mel(x)|
      + |log energy(decoder(mean mu of c)) - mean over c's clips of log energy(x)|
      + centre_band_weight * the same per octave band, mean over the bands   optional;
                                                     the sound a pad plays is the decoder at its
                                                     class centre, where no clip sits: this teaches
                                                     it to sound like the class there (level, air,
                                                     decay)
  + centre_mix_weight * the same term at a random mixture of each class's clips (weights drawn
                                                     anew each step, Dirichlet(1)): the centre of
                                                     any few takes of a class, where a kit's or a
                                                     held-out set's centre lands, sounds like the
                                                     mean of those takes
  + f0_weight * mean |log2 f0_hat - log2 f0(x)|      decoders with a harmonic branch: octaves
                                                     off the target's pitch, voiced frames only
  + voiced_noise_weight * mean noise gain            decoders with harmonic and noise branches:
                                                     on the target's voiced frames only

Waveform MSE alone let a raw-audio decoder collapse to near-silence (reconstruction SNR -0.02 dB,
class centres 24 dB too quiet; docs/notes/2026-11-24-first-recipes.md): the spectral
term is what keeps the decoder's level and timbre.

While training, x_hat decodes z = mu + sqrt(exp(logvar) + latent_noise^2) * eps, eps ~ N(0, I):
``latent_noise`` (default 0) puts a floor under the spread the decoder hears around each clip.
"""

from __future__ import annotations

DEFAULT_LOSS = {
    "mse_weight": 1.0,
    "stft_weight": 1.0,
    "stft_sizes": [2048, 1024, 512, 256, 128, 64],
    "stft_log_eps": 1e-4,
    "beta": 1e-3,
    "kl_warmup_steps": 0,
    "free_bits": 0.0,
    "latent_noise": 0.0,  # a floor under the sampled latent's spread while training (RMS)
    "gamma": 0.1,
    "class_prior": 0.0,  # > 0: KL toward N(m_y, I), class means this far apart (0: N(0, I))
    "cluster_weight": 0.0,  # with class_prior: weight of mean |mu - m_y|^2, tightening each class
    "mel_weight": 0.0,
    "centre_weight": 0.0,  # needs mel_weight (its filterbank) and a classifier (the labels)
    "level_weight": 0.0,
    "clip_level_weight": 0.0,
    "band_level_weight": 0.0,  # needs sample_rate (the octave bands' bins)
    "centre_band_weight": 0.0,  # with centre_weight: the centre term's level per octave band
    "centre_mix_weight": 0.0,  # with centre_weight: the centre term at random mixtures of a class
    "air_share_weight": 0.0,  # needs a sample rate above 22050 (a band above 11 kHz)
    "air_axis_weight": 0.0,  # the same, and a latent dimension that is no class's axis
    "comb_weight": 0.0,
    "comb_periods": [],  # the comb term's periods; none: two steps of the decoder's grid
    "mel_fft": 2048,
    "mel_bands": 64,
    "f0_weight": 1.0,  # used only by decoders with a harmonic branch (models.harmonic_branch)
    "voiced_noise_weight": 0.0,  # used only by decoders with harmonic and noise branches
    "sample_rate": None,
}


def stft_magnitude(x, n_fft: int):
    """|STFT| of x [N, L] -> [N, frames, n_fft // 2 + 1] (Hann window, hop n_fft // 4)."""
    from keras import ops

    real, imag = ops.stft(x, n_fft, n_fft // 4, n_fft, window="hann", center=True)
    return ops.sqrt(real * real + imag * imag + 1e-12)


def multi_resolution_stft_loss(x, x_hat, sizes=(2048, 1024, 512, 256, 128, 64), log_eps=1e-4):
    """Mean over FFT sizes of spectral convergence + mean |log(|X| + eps) - log(|X_hat| + eps)|.

    x, x_hat: [N, L] -> per-example loss [N]. Sizes longer than L are skipped.
    """
    from keras import ops

    length = x.shape[-1]
    used = [n for n in sizes if n <= length] or [min(sizes)]
    total = 0.0
    for n_fft in used:
        s = stft_magnitude(x, n_fft)
        s_hat = stft_magnitude(x_hat, n_fft)
        sc = ops.sqrt(ops.sum(ops.square(s - s_hat), axis=(1, 2))) / (
            ops.sqrt(ops.sum(ops.square(s), axis=(1, 2))) + 1e-7
        )
        logmag = ops.mean(ops.abs(ops.log(s + log_eps) - ops.log(s_hat + log_eps)), axis=(1, 2))
        total = total + sc + logmag
    return total / len(used)


def mel_matrix(sample_rate: int, n_fft: int, n_mels: int):
    """Mel filterbank [n_fft // 2 + 1, n_mels] float32 (librosa's Slaney mel), a constant."""
    import librosa.filters
    import numpy as np

    return np.ascontiguousarray(
        librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels).T.astype(np.float32))


def log_mel(x, mel, n_fft: int = 2048, eps: float = 1e-4):
    """log(mel(|X|^2) + eps): x [N, L], mel [n_fft // 2 + 1, M] -> [N, frames, M]."""
    from keras import ops

    n_fft = min(n_fft, x.shape[-1])
    return ops.log(ops.matmul(ops.square(stft_magnitude(x, n_fft)), mel) + eps)


def log_mel_loss(x, x_hat, mel, n_fft: int = 2048, eps: float = 1e-4):
    """Mean |log(mel(|X|^2) + eps) - log(mel(|X_hat|^2) + eps)|: x, x_hat [N, L] -> [N]."""
    from keras import ops

    return ops.mean(ops.abs(log_mel(x, mel, n_fft, eps) - log_mel(x_hat, mel, n_fft, eps)),
                    axis=(1, 2))


def class_centre_loss(x_mel, x_energy, mu, y, num_classes: int, decode, mel, n_fft: int = 2048,
                      eps: float = 1e-8, x_bands=None, bands=None, band_weight: float = 1.0,
                      weights=None):
    """How far the decoded class centres sound from their classes (no gradient to the encoder).

    x_mel [N, T, M] the clips' ``log_mel`` (the mel term's, computed once), x_energy [N] their
    ``log_energy``, mu [N, D] their latent means, y [N] int labels, decode: z [C, D] -> [C, L].
    Each class present in the batch is decoded at the mean of its clips' mu. Two distances, summed:
    its log-mel spectrogram against the mean of its clips' (mean absolute difference: the class's
    typical spectrum and decay), and its log energy against the mean of its clips' (the class's
    level in dB). The mel term alone left kick and tom centres 5-10 dB quiet: a mean of logs per
    mel cell is low wherever the clips' decays differ, and the few bass cells that carry a kick's
    energy weigh little in a mean over all cells. With x_bands [N, K] (the clips'
    ``log_band_power`` over ``bands``), also ``band_weight`` times the mean over the K octave
    bands of the centre's log band power against its clips' mean: the level in the bands that
    carry it, not in a sub-sonic lump. With weights [N] (> 0), each class's point and targets
    are the weighted means of its clips' instead (``random_mix_weights``: a random point among
    them). -> scalar, the mean over the classes present (0 for an empty batch).
    """
    from keras import ops

    onehot = ops.one_hot(ops.cast(y, "int32"), num_classes)               # [N, C]
    if weights is not None:
        onehot = onehot * ops.cast(weights, "float32")[:, None]
    counts = ops.sum(onehot, axis=0)                                      # [C]
    present = ops.cast(counts > 0, "float32")
    share = onehot / ops.maximum(counts, 1e-12)                           # columns sum to 1
    centres = ops.stop_gradient(ops.matmul(ops.transpose(share), mu))    # [C, D]
    target = ops.stop_gradient(ops.einsum("nc,ntm->ctm", share, x_mel))
    target_energy = ops.stop_gradient(ops.matmul(ops.transpose(share), x_energy[:, None]))[:, 0]
    audio = ops.cast(decode(centres), "float32")                          # [C, L]
    per_class = ops.mean(ops.abs(log_mel(audio, mel, n_fft) - target), axis=(1, 2)) \
        + ops.abs(log_energy(audio, eps) - target_energy)
    if x_bands is not None:
        target_bands = ops.stop_gradient(ops.matmul(ops.transpose(share), x_bands))  # [C, K]
        per_class = per_class + band_weight * ops.mean(
            ops.abs(log_band_power(audio, bands, eps=eps) - target_bands), axis=-1)
    return ops.sum(per_class * present) / ops.maximum(ops.sum(present), 1.0)


def random_mix_weights(n: int, seed):
    """[n] weights -log(u), u ~ U(0, 1]: normalised within a class they are Dirichlet(1), a
    point drawn evenly from among the class's clips. ``seed``: a keras SeedGenerator or int."""
    import keras
    from keras import ops

    return -ops.log(keras.random.uniform((n,), minval=1e-6, maxval=1.0, seed=seed))


def log_energy(x, eps: float = 1e-8):
    """log(mean(x^2) + eps), the natural log of a clip's mean power: x [N, L] -> [N]."""
    from keras import ops

    return ops.log(ops.mean(ops.square(x), axis=-1) + eps)


def level_loss(x, x_hat, n_fft: int = 1024, eps: float = 1e-4):
    """Mean |log frame energy(x) - log frame energy(x_hat)| (Parseval: sum of |STFT|^2 per frame,
    Hann 1024, hop 256): x, x_hat [N, L] -> [N]. Keeps each moment's loudness, whatever band
    carries it (a missing kick boom is few bins for a spectral loss but most of the energy)."""
    from keras import ops

    n_fft = min(n_fft, x.shape[-1])
    e = ops.sum(ops.square(stft_magnitude(x, n_fft)), axis=-1)
    e_hat = ops.sum(ops.square(stft_magnitude(x_hat, n_fft)), axis=-1)
    return ops.mean(ops.abs(ops.log(e + eps) - ops.log(e_hat + eps)), axis=-1)


# The band-level term's octave bands (``evaluate.metrics.octave_edges``): 0-40 Hz (below any
# drum's fundamental), then octaves from 40 Hz; the last band runs to Nyquist.
BAND_LEVEL_LOWEST_HZ = 40.0


def band_matrix(sample_rate: int, n_fft: int):
    """[n_fft // 2 + 1, K] float32 of 0 and 1: which FFT bin belongs to which octave band
    (``octave_edges`` from ``BAND_LEVEL_LOWEST_HZ``; a constant)."""
    import numpy as np
    from vae_synth.evaluate.metrics import octave_edges

    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = octave_edges(sample_rate, BAND_LEVEL_LOWEST_HZ)
    bands = [(freqs >= lo) & ((freqs < hi) | (hi == edges[-1]))
             for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return np.stack(bands, axis=1).astype(np.float32)


def band_energies(x, bands, n_fft: int = 4096):
    """Each frame's |STFT|^2 summed per band (Hann ``n_fft``, hop n_fft / 4): x [N, L], bands
    [n_fft // 2 + 1, K] (``band_matrix``) -> [N, T, K]."""
    from keras import ops

    return ops.matmul(ops.square(stft_magnitude(x, n_fft)), bands)


def band_level_loss(x, x_hat, bands, n_fft: int = 4096, floor_db: float = -50.0):
    """Mean over frames and octave bands of |ln E_b(x) - ln E_b(x_hat)|, E_b a frame's |STFT|^2
    summed over band b's bins (Hann ``n_fft``, hop n_fft / 4): x, x_hat [N, L], bands
    [n_fft // 2 + 1, K] (``band_matrix``) -> [N].

    The whole-band :func:`level_loss` is met by energy in any band, and the full-band drums
    met it with a 20-40 Hz lump (kicks' and toms' reconstructions: half their energy there,
    their real boom 7-10 dB short; docs/notes/2026-12-05-fullband-sub-bass.md). Per octave,
    a lump costs in its own band and a missing boom in its. Both energies get a floor
    ``floor_db`` under the clip's loudest frame (all bands), so a band the clip leaves silent
    costs nothing to leave silent, whatever its noise floor; the mean runs over the (frame, band)
    cells over the floor in either signal."""
    from keras import ops

    n_fft = min(n_fft, x.shape[-1])
    e, e_hat = band_energies(x, bands, n_fft), band_energies(x_hat, bands, n_fft)  # [N, T, K]
    loudest = ops.max(ops.sum(e, axis=-1), axis=-1)                       # [N]
    floor = ops.stop_gradient(loudest * 10.0 ** (floor_db / 10.0) + 1e-12)[:, None, None]
    # the mean over the cells either signal sounds in: a drum leaves most (band, frame) cells
    # silent, and a mean over all of them would shrink the term by however many those are
    sounding = ops.stop_gradient(ops.cast((e > floor) | (e_hat > floor), "float32"))
    error = ops.abs(ops.log(e + floor) - ops.log(e_hat + floor))
    return ops.sum(error * sounding, axis=(1, 2)) / ops.maximum(
        ops.sum(sounding, axis=(1, 2)), 1.0)


def log_band_power(x, bands, n_fft: int = 4096, eps: float = 1e-8):
    """ln of a clip's mean power in each band of ``bands`` ([n_fft // 2 + 1, K], ``band_matrix``):
    x [N, L] -> [N, K]. Scaled so that the K bands together read ``log_energy``'s mean power
    (Hann window, hop n_fft / 4: sum of w^2 = 3/8 n_fft, one-sided spectrum)."""
    from keras import ops

    n_fft = min(n_fft, x.shape[-1])
    power = ops.mean(band_energies(x, bands, n_fft), axis=1)
    return ops.log(power / (0.1875 * n_fft * n_fft) + eps)


def clip_level_loss(x, x_hat):
    """|log_energy(x) - log_energy(x_hat)|, the whole clip's RMS level in nepers x 2 (the
    evaluation's level figure): x, x_hat [N, L] -> [N]. The per-frame :func:`level_loss` weighs a
    drum's quiet tail frames as much as the attack that carries most of its energy; with it
    alone, the full-band drums' reconstructions came back 2-7 dB quieter than their clips; at
    weight 5 they follow each training take's level (docs/notes/2026-12-05-fullband-clip-level.md)."""
    from keras import ops

    return ops.abs(log_energy(x) - log_energy(x_hat))


def log_air_share(x, sample_rate: int, n_fft: int = 1024):
    """ln of a clip's share of energy at or above the evaluation's high band
    (``evaluate.metrics.HIGH_BAND_HZ``, 11 kHz) over all its energy (|STFT|^2 summed over every
    frame; Hann 1024, hop 256): x [N, L] -> [N]. Floored 80 dB under the clip's energy, so
    silence and band-limited clips stay finite."""
    import math

    from keras import ops
    from vae_synth.evaluate.metrics import HIGH_BAND_HZ

    n_fft = min(n_fft, x.shape[-1])
    first = min(int(math.ceil(HIGH_BAND_HZ * n_fft / sample_rate)), n_fft // 2)
    power = ops.square(stft_magnitude(x, n_fft))
    total = ops.sum(power, axis=(1, 2))
    return ops.log(ops.sum(power[..., first:], axis=(1, 2)) + 1e-8 * total + 1e-12) \
        - ops.log(total + 1e-12)


def air_share_loss(x, x_hat, sample_rate: int, n_fft: int = 1024):
    """|log_air_share(x) - log_air_share(x_hat)|: x, x_hat [N, L] -> [N].

    The evaluation's air figure, one per clip and independent of level. The spectral, mel and
    level terms weigh a take's top octave by its energy, so a dull snare's (-35 to -55 dB of its
    energy) counts for next to nothing: without this term every snare came back with about its
    class's air whatever its own (docs/notes/2026-12-04-fullband-air-tracking.md)."""
    from keras import ops

    return ops.abs(log_air_share(x, sample_rate, n_fft) - log_air_share(x_hat, sample_rate, n_fft))


def comb_step(length: int, period: int) -> int:
    """Bins between the teeth of a comb at sr / ``period`` in a frame of ``length`` samples;
    ValueError where the frame holds too few periods to read one (fewer than 8 bins apart)."""
    if period < 4 or length % period or length // period < 8:
        raise ValueError(f"comb period {period} does not fit a frame of {length} samples "
                         "(the frame must hold at least 8 periods)")
    return length // period


def _log10_power(x):
    """Hann-windowed power spectrum of each whole clip, log10: x [N, L] -> [N, L/2 + 1]."""
    import numpy as np
    from keras import ops

    window = ops.convert_to_tensor(np.hanning(x.shape[-1]).astype("float32"))
    real, imag = ops.rfft(x * window[None])
    return ops.log(real * real + imag * imag + 1e-10) / np.log(10.0)


def _comb_of_spectrum(log_power, length: int, period: int):
    """``comb_bels`` from a clip's ``_log10_power``: [N, L/2 + 1] -> [N]."""
    import numpy as np
    from keras import ops

    step = comb_step(length, period)
    teeth = period // 2 - 1
    # one row per tooth: the bins from step/2 below it to step/2 - 1 above, the tooth at step/2
    half = step // 2
    rows = ops.reshape(log_power[:, step - half:step - half + teeth * step], (-1, teeth, step))
    between = np.zeros((step, 1), "float32")
    between[:half - 2] = between[half + 3:] = 1.0
    between /= between.sum()
    excess = rows[:, :, half] - ops.matmul(rows, ops.convert_to_tensor(between))[..., 0]
    return ops.mean(excess, axis=-1)


def comb_bels(x, period: int):
    """How far each clip's spectrum peaks at multiples of sr / ``period``: x [N, L] -> [N], bels.

    ``evaluate.metrics.comb_excess_db`` of one clip, over 10: the Hann-windowed power spectrum of
    the whole frame; for each tooth m = 1 .. period/2 - 1 the log10 power of bin m L / period
    minus the mean log10 power of the bins between it and its neighbours (two bins clear);
    the mean over the teeth. About 0 for sound without a comb, noise included.
    """
    return _comb_of_spectrum(_log10_power(x), x.shape[-1], period)


def comb_loss(x, x_hat, periods):
    """Sum over ``periods`` of max(0, comb_bels(x_hat) - comb_bels(x)): x, x_hat [N, L] -> [N].

    A strided decoder can make a hi-hat's or snare's noise by drawing one shape per step of its
    grid, the sign alternating, and the shape repeats every two steps: a buzz at multiples of
    sr / period (2048 samples, 21.5 Hz, at the full-band drums' coarsest grid), the comb the
    evaluation reads. The spectral losses see it only as a fine ripple between bins; this term
    sees it as such. Each of the stack's grids can make its own (the evaluation reports the
    strongest power-of-two period), so the term takes several periods, each counted in full.
    Only what x itself lacks counts: a clip with a real periodicity is not pushed off it."""
    from keras import ops

    length = x.shape[-1]
    real, decoded = _log10_power(x), _log10_power(x_hat)
    total = 0.0
    for period in periods:
        total = total + ops.relu(_comb_of_spectrum(decoded, length, period)
                                 - _comb_of_spectrum(real, length, period))
    return total


# The air axis (loss.air_axis_weight): the last latent dimension holds the clip's air share in
# dB, (air_db - AIR_AXIS_CENTRE_DB) / AIR_AXIS_DB_PER_UNIT: hi-hats near +1.7, snares near 0,
# kicks -2 to -4, so its spread stays well inside the class centres' (class_prior 5: 7 apart).
AIR_AXIS_CENTRE_DB = -20.0
AIR_AXIS_DB_PER_UNIT = 10.0


def air_axis_target(x, sample_rate: int):
    """Where a clip sits on the air axis: x [N, L] -> [N] (see AIR_AXIS_CENTRE_DB)."""
    import math

    air_db = (10.0 / math.log(10.0)) * log_air_share(x, sample_rate)
    return (air_db - AIR_AXIS_CENTRE_DB) / AIR_AXIS_DB_PER_UNIT


# With a level head (models.level_head) the stack's own level is free: the head sets what is
# heard. Left free it grew 50-70 dB over the head's level and the comb rose from 1-6 to 16 dB
# on three trainings (docs/notes/2026-12-06-fullband-level-head.md). |ln RMS(stack) - ln RMS
# asked by the head| per clip, in nepers, the head's side held: the stack stays within 1 dB
# of the head's level at the pads.
LEVEL_GAP_WEIGHT = 1.0


def target_pitch(x, frames: int, sample_rate: int, f0_min: float, f0_max: float):
    """Pitch of the target clips, one value per decoder grid step (no gradient):
    x [N, L] -> (f0 [N, frames] Hz, voiced [N, frames] 0/1), by ``pitch.pitch_track``."""
    from keras import ops
    from vae_synth.train.pitch import pitch_track

    f0, voiced = pitch_track(x, sample_rate, x.shape[-1] // frames, f0_min, f0_max)
    return ops.stop_gradient(f0), ops.stop_gradient(voiced)


def _voiced_mean(values, voiced):
    from keras import ops

    return ops.sum(values * voiced, axis=-1) / (ops.sum(voiced, axis=-1) + 1e-6)


def pitch_loss(f0, voiced, f0_hat):
    """Mean |log2 f0_hat - log2 f0| over the voiced frames, in octaves: f0, voiced (from
    ``target_pitch``), f0_hat [N, T] Hz -> [N] (0 for a clip with no voiced frame)."""
    from keras import ops

    return _voiced_mean(ops.abs(ops.log2(ops.maximum(f0_hat, 1e-3)) - ops.log2(f0)), voiced)


def voiced_noise_loss(voiced, noise_hat):
    """Mean noise-band gain of the decoder over the target's voiced frames: voiced [N, T],
    noise_hat [N, T] (the mean of the B gains per grid step) -> [N]. Vowels made of noise are
    breathy: the harmonic digits decoder voiced its reconstructed fives in about 20 of 128
    frames, real fives 66-88; with this term (weight 1) 34-54 (docs/notes/2026-11-24-harmonic-decoder.md)."""
    return _voiced_mean(noise_hat, voiced)


def kl_per_dim(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension: [N, D] -> [N, D]."""
    from keras import ops

    return 0.5 * (ops.square(mu) + ops.exp(logvar) - 1.0 - logvar)


def _scale_for_replicas(value):
    """Divide by the replica count under tf.distribute (what Keras does for compiled losses)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        n = tf.distribute.get_strategy().num_replicas_in_sync
        if n > 1:
            value = value * (1.0 / n)
    return value


def make_joint_model(encoder, decoder, classifier, loss_cfg: dict, plain: bool = False,
                     seed: int = 0, input_noise: float = 0.0):
    """The training model: a keras.Model subclass whose ``compute_loss`` is the joint loss.

    ``model(x)`` -> (x_hat [N, L], mu [N, D], logvar [N, D], logits [N, C] or mu when plain,
    f0_hat [N, T0] in Hz and noise_hat [N, T0] the mean noise gain per grid step, each [N, 0]
    when the decoder has no such branch, level_gap [N, 1] with a level head, else [N, 0]).
    Trained with ``model.fit(x, y)``, y the int labels [N].

    input_noise: RMS of white noise added, fresh at every training step, to what the *encoder*
    sees; the reconstruction target stays the clean clip. (Noise added to the training clips
    themselves taught the decoder to reproduce it: an audible hiss in every silence.)
    """
    import keras
    from keras import ops
    from vae_synth.train.models import LEVEL_NORMALISE, body_log_rms

    cfg = {**DEFAULT_LOSS, **loss_cfg}

    class JointVAE(keras.Model):
        def __init__(self):
            super().__init__(name="joint_vae")
            self.encoder = encoder
            self.decoder = decoder
            self.classifier = classifier
            self.plain = plain
            self.loss_cfg = cfg
            self.seed_gen = keras.random.SeedGenerator(seed)
            names = ["recon_mse", "recon_stft", "recon_mel", "recon_level", "recon_band_level",
                     "recon_clip_level",
                     "recon_air", "f0",
                     "voiced_noise", "kl", "cluster", "air_axis", "centre", "ce", "acc"]
            self.f0_range = None
            layers = {layer.name: layer for layer in decoder.layers}
            controls = []
            if "harm_f0" in layers:
                # the decoder's f0 and noise gains are more outputs of the same layers
                self.f0_range = (layers["harm_f0"].f0_min, layers["harm_f0"].f0_max)
                controls.append(layers["harm_f0"].output)
                if "noise_gain" in layers:
                    controls.append(layers["noise_gain"].output)
            # with a level head, what its stack makes and the level the head asks for
            # (models.level_head): ``level_gap`` pins the stack's own level to the head's
            self.level_head = LEVEL_NORMALISE in layers
            if self.level_head:
                names.append("level_gap")
                controls.extend(layers[LEVEL_NORMALISE].input)
            if controls:
                self.decoder_controls = keras.Model(decoder.input,
                                                    [decoder.outputs[0], *controls])
            self.comb_periods = ()
            if cfg["comb_weight"]:
                length = int(decoder.output.shape[-1])
                # by default two steps of the coarsest grid: the strided stack's shape repeats
                # there with alternating sign
                steps = int(layers["dec_reshape"].output.shape[1])
                self.comb_periods = tuple(int(p) for p in cfg["comb_periods"]) \
                    or (2 * length // steps,)
                for period in self.comb_periods:
                    comb_step(length, period)  # refuse a period that does not fit now
                names.append("recon_comb")  # logged only when on: history.csv keeps its columns
            self.mel = None
            if cfg["mel_weight"]:
                n_fft = min(int(cfg["mel_fft"]), int(decoder.output.shape[-1]))
                self.mel_fft = n_fft
                self.mel = mel_matrix(int(cfg["sample_rate"]), n_fft, int(cfg["mel_bands"]))
            self.bands = None
            if cfg["band_level_weight"] or cfg["centre_band_weight"]:
                self.bands = band_matrix(int(cfg["sample_rate"]),
                                         min(4096, int(decoder.output.shape[-1])))
            self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
            # Class-conditional prior (``class_prior`` > 0): the KL term pulls each labelled
            # clip's posterior toward its own class's centre instead of the origin, so classes
            # form tight clusters in the latent space the player moves through.
            self.prior_means = None
            if cfg["class_prior"] and classifier is not None and not plain:
                from vae_synth.train.models import class_prior_means

                self.prior_means = class_prior_means(
                    int(classifier.output.shape[-1]), int(encoder.output[0].shape[-1]),
                    float(cfg["class_prior"]))
            if cfg["air_axis_weight"]:
                classes = int(classifier.output.shape[-1]) if classifier is not None else 0
                if int(encoder.output[0].shape[-1]) <= classes:
                    raise ValueError(
                        f"loss.air_axis_weight needs a latent dimension that is no class's axis: "
                        f"latent_dim {int(encoder.output[0].shape[-1])} <= {classes} classes")

        def call(self, x, training=False):
            if training and input_noise:
                x = x + input_noise * keras.random.normal(ops.shape(x), seed=self.seed_gen)
            mu, logvar = self.encoder(x, training=training)
            if self.plain or not training:
                z = mu
            else:
                eps = keras.random.normal(ops.shape(mu), seed=self.seed_gen)
                std = ops.exp(0.5 * logvar)
                if cfg["latent_noise"]:
                    # the posteriors are narrow (the drums': std ~0.05, their classes ~0.6 wide),
                    # so the decoder only ever hears its training clips' own points; a floor
                    # under the spread teaches it their neighbourhood, where held-out clips and
                    # morphs land
                    std = ops.sqrt(ops.square(std) + float(cfg["latent_noise"]) ** 2)
                z = mu + std * eps
            none = ops.zeros((ops.shape(mu)[0], 0))
            f0_hat = noise_hat = level_gap = none
            if self.f0_range is not None or self.level_head:
                x_hat, *controls = self.decoder_controls(z, training=training)
                if self.level_head:
                    *controls, body, target = controls
                    # nepers: the stack's level against the head's, the head left alone
                    level_gap = ops.abs(body_log_rms(body) - ops.stop_gradient(target[:, 0]))
                    level_gap = ops.expand_dims(level_gap, -1)  # [N, 1]
                if self.f0_range is not None:
                    f0_hat = controls[0][..., 0]
                    noise_hat = ops.mean(controls[1], axis=-1) if len(controls) > 1 else none
            else:
                x_hat = self.decoder(z, training=training)
            logits = self.classifier(z, training=training) if self.classifier is not None else mu
            return x_hat, mu, logvar, logits, f0_hat, noise_hat, level_gap

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
            x_hat, mu, logvar, logits, *controls = y_pred  # + (f0_hat, noise_hat, level_gap)
            f0_hat, noise_hat, level_gap = controls or (None, None, None)
            x_hat = ops.cast(x_hat, "float32")
            x = ops.cast(x, "float32")
            c = self.loss_cfg
            mse = ops.mean(ops.square(x - x_hat), axis=-1)
            total = c["mse_weight"] * mse
            stft = ops.zeros_like(mse)
            if c["stft_weight"]:
                stft = multi_resolution_stft_loss(x, x_hat, c["stft_sizes"], c["stft_log_eps"])
                total = total + c["stft_weight"] * stft
            mel = ops.zeros_like(mse)
            x_mel = None
            if self.mel is not None:
                x_mel = log_mel(x, self.mel, self.mel_fft)
                mel = ops.mean(ops.abs(x_mel - log_mel(x_hat, self.mel, self.mel_fft)),
                               axis=(1, 2))
                total = total + c["mel_weight"] * mel
            level = ops.zeros_like(mse)
            if c["level_weight"]:
                level = level_loss(x, x_hat)
                total = total + c["level_weight"] * level
            band_level = ops.zeros_like(mse)
            if c["band_level_weight"]:
                band_level = band_level_loss(x, x_hat, self.bands)
                total = total + c["band_level_weight"] * band_level
            clip_level = ops.zeros_like(mse)
            if c["clip_level_weight"]:
                clip_level = clip_level_loss(x, x_hat)
                total = total + c["clip_level_weight"] * clip_level
            comb = ops.zeros_like(mse)
            if c["comb_weight"]:
                comb = comb_loss(x, x_hat, self.comb_periods)
                total = total + c["comb_weight"] * comb
            air = ops.zeros_like(mse)
            if c["air_share_weight"]:
                air = air_share_loss(x, x_hat, int(c["sample_rate"]))
                total = total + c["air_share_weight"] * air
            f0 = voiced_noise = ops.zeros_like(mse)
            if self.f0_range is not None and f0_hat is not None:
                target_f0, voiced = target_pitch(x, f0_hat.shape[-1], int(c["sample_rate"]),
                                                 *self.f0_range)
                f0 = pitch_loss(target_f0, voiced, f0_hat)
                total = total + c["f0_weight"] * f0
                if noise_hat.shape[-1]:
                    voiced_noise = voiced_noise_loss(voiced, noise_hat)
                    total = total + c["voiced_noise_weight"] * voiced_noise
            if self.level_head and level_gap is not None:
                total = total + LEVEL_GAP_WEIGHT * ops.cast(level_gap[:, 0], "float32")
            total = ops.mean(total)
            kl = cluster = centre = air_axis = ops.zeros(())
            ce = ops.zeros(())
            acc = ops.zeros(())
            if c["air_axis_weight"]:
                target = ops.stop_gradient(air_axis_target(x, int(c["sample_rate"])))
                air_axis = ops.mean(ops.square(ops.cast(mu[:, -1], "float32") - target))
                total = total + c["air_axis_weight"] * air_axis
            if not self.plain:
                mu32 = ops.cast(mu, "float32")
                if self.prior_means is not None and y is not None:
                    mu32 = mu32 - ops.take(ops.convert_to_tensor(self.prior_means),
                                           ops.cast(y, "int32"), axis=0)
                kl_d = ops.mean(kl_per_dim(mu32, ops.cast(logvar, "float32")), axis=0)
                kl = ops.sum(kl_d)
                if c["free_bits"]:
                    kl_d = ops.maximum(kl_d, c["free_bits"])
                weight = c["beta"]
                if c["kl_warmup_steps"] and self.optimizer is not None:
                    step = ops.cast(self.optimizer.iterations, "float32")
                    weight = weight * ops.minimum(1.0, step / float(c["kl_warmup_steps"]))
                total = total + weight * ops.sum(kl_d)
                if c["cluster_weight"] and self.prior_means is not None and y is not None:
                    # pulls the posterior means (not their variances) toward their class's
                    # centre: what the KL's mean term does, without also widening the
                    # posteriors toward unit variance, which blurs what the decoder hears
                    pulled = mu32[:, :-1] if c["air_axis_weight"] else mu32  # the air axis is free
                    cluster = ops.mean(ops.sum(ops.square(pulled), axis=-1))
                    total = total + c["cluster_weight"] * cluster
                if c["centre_weight"] and x_mel is not None and self.classifier is not None \
                        and y is not None:
                    x_bands = None
                    if c["centre_band_weight"]:  # the centres' level per octave band too
                        x_bands = log_band_power(x, self.bands)
                    centre_args = (
                        x_mel, log_energy(x), ops.cast(mu, "float32"), y,
                        int(self.classifier.output.shape[-1]),
                        lambda z: self.decoder(z, training=training), self.mel, self.mel_fft)
                    centre_kwargs = dict(x_bands=x_bands, bands=self.bands,
                                         band_weight=c["centre_band_weight"])
                    centre = class_centre_loss(*centre_args, **centre_kwargs)
                    total = total + c["centre_weight"] * centre
                    if c["centre_mix_weight"]:
                        mix = random_mix_weights(ops.shape(mu)[0], self.seed_gen)
                        total = total + c["centre_weight"] * c["centre_mix_weight"] * \
                            class_centre_loss(*centre_args, **centre_kwargs, weights=mix)
                if self.classifier is not None and y is not None:
                    logits32 = ops.cast(logits, "float32")
                    ce = ops.mean(keras.losses.sparse_categorical_crossentropy(
                        y, logits32, from_logits=True))
                    total = total + c["gamma"] * ce
                    acc = ops.mean(ops.cast(
                        ops.equal(ops.cast(ops.argmax(logits32, axis=-1), "int32"), ops.cast(y, "int32")), "float32"))
            for name, value in (("recon_mse", ops.mean(mse)), ("recon_stft", ops.mean(stft)),
                                ("recon_mel", ops.mean(mel)), ("recon_level", ops.mean(level)),
                                ("recon_band_level", ops.mean(band_level)),
                                ("recon_clip_level", ops.mean(clip_level)),
                                ("recon_air", ops.mean(air)),
                                ("f0", ops.mean(f0)), ("voiced_noise", ops.mean(voiced_noise)),
                                ("kl", kl), ("cluster", cluster), ("air_axis", air_axis),
                                ("centre", centre), ("ce", ce), ("acc", acc)):
                self.trackers[name].update_state(value)
            if self.level_head and level_gap is not None:
                self.trackers["level_gap"].update_state(ops.mean(level_gap))
            if self.comb_periods:
                self.trackers["recon_comb"].update_state(ops.mean(comb))
            return _scale_for_replicas(total)

        if keras.backend.backend() == "tensorflow":
            # Keras 3 under MultiWorkerMirroredStrategy reduces each logged scalar with
            # strategy.reduce("MEAN", v, axis=0), which fails for 0-d values (tensorflow#72388):
            # give it 1-element vectors there; it reduces them back to scalars.
            def _multi_worker(self) -> bool:
                strategy = getattr(self, "_distribute_strategy", None)
                extended = getattr(strategy, "extended", None)
                return bool(extended is not None and getattr(
                    extended, "_in_multi_worker_mode", lambda: False)())

            def train_step(self, data):
                logs = super().train_step(data)
                return {k: ops.reshape(v, (1,)) for k, v in logs.items()} \
                    if self._multi_worker() else logs

            def test_step(self, data):
                logs = super().test_step(data)
                return {k: ops.reshape(v, (1,)) for k, v in logs.items()} \
                    if self._multi_worker() else logs

        def _maybe_symbolic_build(self, iterator=None, data_batch=None):
            # Keras 3.15 (TF backend) reduces the first (x, y) batch with strategy.reduce, which
            # MultiWorkerMirroredStrategy rejects for a tuple. The model and its optimizer are
            # built before fit (trainer.py), so there is nothing left to build symbolically.
            if self.built and self.optimizer is not None and self.optimizer.built:
                return None
            return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

        @property
        def metrics(self):
            return [*super().metrics, *self.trackers.values()]

    return JointVAE()

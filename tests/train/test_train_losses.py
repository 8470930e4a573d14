"""Loss terms (keras.ops): multi-resolution STFT, KL, warm-up and free bits in the joint model."""

from __future__ import annotations

import numpy as np
import pytest
from vae_synth.train import losses


def _np(x):
    return np.asarray(x)


def test_mrstft_zero_for_identical_and_grows_with_difference():
    rng = np.random.default_rng(0)
    x = (0.5 * rng.standard_normal((2, 2048))).astype(np.float32)
    assert np.allclose(_np(losses.multi_resolution_stft_loss(x, x)), 0.0, atol=1e-5)
    near = _np(losses.multi_resolution_stft_loss(x, 0.9 * x))
    far = _np(losses.multi_resolution_stft_loss(x, 0.1 * x))
    assert near.shape == (2,) and np.all(far > 5 * near) and np.all(near > 0)
    # log-magnitude term: a 20 dB quieter copy costs ln(10) ~ 2.3 per resolution (+ convergence 0.9)
    assert np.allclose(far, np.log(10) + 0.9, atol=0.15)


def test_mrstft_ignores_phase_but_not_spectrum():
    sr, n = 8000, 4096
    t = np.arange(n) / sr
    a = np.sin(2 * np.pi * 440 * t).astype(np.float32)[None]
    shifted = np.sin(2 * np.pi * 440 * t + 1.3).astype(np.float32)[None]
    other = np.sin(2 * np.pi * 880 * t).astype(np.float32)[None]
    same_pitch = float(_np(losses.multi_resolution_stft_loss(a, shifted))[0])
    other_pitch = float(_np(losses.multi_resolution_stft_loss(a, other))[0])
    mse_same = float(np.mean((a - shifted) ** 2))
    assert mse_same > 0.3  # waveform MSE sees a big error ...
    assert same_pitch < 0.25 * other_pitch  # ... the spectral loss little (edges, leakage)


def test_kl_per_dim_known_values():
    mu = np.array([[0.0, 1.0, 0.0]], np.float32)
    logvar = np.array([[0.0, 0.0, np.log(4.0)]], np.float32)
    kl = _np(losses.kl_per_dim(mu, logvar))
    assert np.allclose(kl, [[0.0, 0.5, 0.5 * (4 - 1 - np.log(4))]], atol=1e-6)


@pytest.mark.parametrize("free_bits, warmup", [(0.0, 0), (0.5, 0), (0.0, 10)])
def test_joint_loss_terms(free_bits, warmup):
    import keras
    from vae_synth.train import models

    cfg = models.resolve_config("conv", "small")
    enc, dec, cls, _ = models.build_models(cfg, 512, 4, 3)
    model = losses.make_joint_model(enc, dec, cls, {"beta": 1.0, "gamma": 0.0, "mse_weight": 0.0,
                                                   "stft_weight": 0.0, "free_bits": free_bits,
                                                   "kl_warmup_steps": warmup})
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    x = np.zeros((2, 512), np.float32)
    y = np.zeros(2, np.int64)
    model(x)
    model.optimizer.build(model.trainable_variables)
    mu = np.zeros((2, 4), np.float32)
    logvar = np.zeros((2, 4), np.float32)
    mu[:, 0] = 0.5  # KL 0.125 nats in dimension 0, 0 elsewhere
    total = float(_np(model.compute_loss(x, y, (x, mu, logvar, np.zeros((2, 3), np.float32)))))
    if warmup:
        assert total == pytest.approx(0.0, abs=1e-7)  # step 0 of a 10-step warm-up: no KL weight
    elif free_bits:
        assert total == pytest.approx(4 * 0.5, abs=1e-5)  # every dim below 0.5 nats counts 0.5
    else:
        assert total == pytest.approx(0.125, abs=1e-5)


def test_input_noise_reaches_the_encoder_only_while_training():
    """Denoising: the encoder sees fresh noise at each training call, the loss compares the
    decoder's output with the clean clip, and inference is noise-free."""
    import keras
    from vae_synth.train import models

    cfg = models.resolve_config("conv", "small")
    enc, dec, cls, _ = models.build_models(cfg, 512, 4, 3)
    seen = []

    class Spy(keras.Model):
        def call(self, x, training=False):
            seen.append(np.asarray(x))
            return enc(x, training=training)

    model = losses.make_joint_model(Spy(), dec, cls, {}, input_noise=0.01)
    x = np.zeros((64, 512), np.float32)
    model(x, training=True)
    model(x, training=True)
    model(x, training=False)
    assert np.std(seen[0]) == pytest.approx(0.01, rel=0.02)
    assert not np.allclose(seen[0], seen[1])              # fresh noise each step
    assert np.all(seen[2] == 0.0)                          # none at inference
    x_hat, mu, logvar, logits, f0_hat, noise_hat, level_gap = model(x, training=False)
    # the loss's reconstruction term is against the clean x it was given, whatever the noise
    clean = float(_np(model.compute_loss(x, np.zeros(64, np.int64), (x, mu, logvar, logits))))
    noisy_target = x + np.float32(0.01)
    shifted = float(_np(model.compute_loss(noisy_target, np.zeros(64, np.int64),
                                           (x, mu, logvar, logits))))
    assert shifted > clean


@pytest.mark.parametrize("latent_noise", [0.0, 0.3])
def test_latent_noise_is_a_floor_under_the_spread_the_decoder_hears(latent_noise):
    """While training the decoder hears z = mu + sqrt(exp(logvar) + latent_noise^2) * eps: with
    the encoder's logvar at log(0.1^2) its spread is 0.1 alone, sqrt(0.1^2 + 0.3^2) = 0.316 with
    the floor; inference decodes mu itself."""
    import keras
    from vae_synth.train import models

    cfg = models.resolve_config("conv", "small")
    _, dec, cls, _ = models.build_models(cfg, 512, 4, 3)
    heard = []

    class FixedPosterior(keras.Model):  # mu = 1, std = 0.1 for every clip
        def call(self, x, training=False):
            ones = keras.ops.ones((keras.ops.shape(x)[0], 4))
            return ones, ones * np.float32(2 * np.log(0.1))

    class Spy(keras.Model):
        def call(self, z, training=False):
            heard.append(np.asarray(z))
            return dec(z, training=training)

    model = losses.make_joint_model(FixedPosterior(), Spy(), cls, {"latent_noise": latent_noise})
    x = np.zeros((4096, 512), np.float32)
    model(x, training=True)
    model(x[:8], training=False)
    expected = np.sqrt(0.1 ** 2 + latent_noise ** 2)
    assert np.std(heard[0] - 1.0) == pytest.approx(expected, rel=0.03)
    assert np.mean(heard[0]) == pytest.approx(1.0, abs=0.01)
    assert np.all(heard[1] == 1.0)


def test_augmented_copies_are_clean_targets():
    from vae_synth.train import data as D

    aug = D.Augment.parse("gain=6,shift=16,noise=0.01")
    x = np.zeros((8, 256), np.float32)
    x[:, 100] = 1.0
    y = aug(x, np.random.default_rng(0))
    assert np.count_nonzero(y, axis=1).tolist() == [1] * 8  # moved and scaled, no noise added
    assert not D.Augment.parse("noise=0.01").active          # noise alone makes no copies


def test_class_prior_pulls_each_clip_toward_its_own_class_mean():
    from vae_synth.train import models

    means = models.class_prior_means(3, 4, 3.0)
    assert means.shape == (3, 4)
    d = np.linalg.norm(means[:, None] - means[None], axis=-1)
    assert np.allclose(d[~np.eye(3, dtype=bool)], 3.0 * np.sqrt(2))
    many = models.class_prior_means(10, 4, 2.0)
    assert np.allclose(np.linalg.norm(many, axis=1), 2.0)

    cfg = models.resolve_config("conv", "small")
    enc, dec, cls, _ = models.build_models(cfg, 512, 4, 3)
    off = {"beta": 1.0, "gamma": 0.0, "mse_weight": 0.0, "stft_weight": 0.0}
    x = np.zeros((3, 512), np.float32)
    y = np.array([0, 1, 2])
    logvar = np.zeros((3, 4), np.float32)
    logits = np.zeros((3, 3), np.float32)
    prior = losses.make_joint_model(enc, dec, cls, {**off, "class_prior": 3.0})
    standard = losses.make_joint_model(enc, dec, cls, off)
    on_centres = means.copy()                 # every clip exactly at its class mean
    assert float(_np(prior.compute_loss(x, y, (x, on_centres, logvar, logits)))) == \
        pytest.approx(0.0, abs=1e-6)
    # standard prior: KL 0.5 * 3^2 per clip
    assert float(_np(standard.compute_loss(x, y, (x, on_centres, logvar, logits)))) == \
        pytest.approx(4.5, abs=1e-4)
    wrong = means[[1, 2, 0]]                  # each clip at another class's mean
    assert float(_np(prior.compute_loss(x, y, (x, wrong, logvar, logits)))) == \
        pytest.approx(0.5 * 18.0, abs=1e-4)   # |m_a - m_b|^2 = 18


def test_cluster_weight_adds_the_squared_distance_of_each_mean_to_its_class_centre():
    from vae_synth.train import models

    means = models.class_prior_means(3, 4, 3.0)
    cfg = models.resolve_config("conv", "small")
    enc, dec, cls, _ = models.build_models(cfg, 512, 4, 3)
    # beta 0: only the new term counts
    off = {"beta": 0.0, "gamma": 0.0, "mse_weight": 0.0, "stft_weight": 0.0, "class_prior": 3.0}
    x = np.zeros((3, 512), np.float32)
    y = np.array([0, 1, 2])
    logvar = np.full((3, 4), 2.0, np.float32)  # wide posteriors cost nothing here, unlike the KL
    logits = np.zeros((3, 3), np.float32)
    offset = np.array([[1.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 0, 3.0]], np.float32)
    tight = losses.make_joint_model(enc, dec, cls, {**off, "cluster_weight": 0.5})
    plain = losses.make_joint_model(enc, dec, cls, off)
    mu = means + offset
    assert float(_np(plain.compute_loss(x, y, (x, mu, logvar, logits)))) == pytest.approx(0.0)
    # 0.5 * mean(1, 4, 9)
    assert float(_np(tight.compute_loss(x, y, (x, mu, logvar, logits)))) == \
        pytest.approx(0.5 * 14.0 / 3, abs=1e-5)
    assert float(_np(tight.compute_loss(x, y, (x, means, logvar, logits)))) == \
        pytest.approx(0.0, abs=1e-6)


def test_a_level_heads_stack_is_pinned_to_the_level_the_head_asks_for():
    """With ``level_head`` the training model reads the stack's sound before the head: the gap
    is |ln RMS(stack) - ln RMS asked| per clip, it joins the loss at LEVEL_GAP_WEIGHT, and its
    gradient reaches the stack, not the head (which the reconstruction terms train)."""
    import keras
    from vae_synth.train import models

    cfg = {**models.resolve_config("conv", "fullband-notch", "logspec"), "antialias": True,
           "level_head": True}
    enc, dec, cls, _ = models.build_models(cfg, 4096, 4, 3)
    off = {"mse_weight": 0.0, "stft_weight": 0.0, "beta": 0.0, "gamma": 0.0}
    model = losses.make_joint_model(enc, dec, cls, off)
    x = 0.1 * np.random.default_rng(0).standard_normal((2, 4096)).astype(np.float32)
    y = np.zeros(2, np.int64)
    x_hat, mu, logvar, logits, f0_hat, noise_hat, gap = model(x, training=False)
    assert _np(gap).shape == (2, 1) and _np(f0_hat).shape == (2, 0)
    stack, asked = keras.Model(dec.input, dec.get_layer(models.LEVEL_NORMALISE).input)(_np(mu))
    expected = np.abs(np.log(np.sqrt(np.mean(_np(stack) ** 2, -1))) - _np(asked)[:, 0])
    np.testing.assert_allclose(_np(gap)[:, 0], expected, rtol=1e-4)
    assert expected.min() > 0.1  # an untrained stack is nowhere near the head's -20 dB
    pred = model(x, training=False)
    total = float(_np(model.compute_loss(x, y, pred)))
    assert total == pytest.approx(losses.LEVEL_GAP_WEIGHT * expected.mean(), rel=1e-4)
    assert float(_np(model.compute_loss(x, y, pred[:4]))) == pytest.approx(0.0, abs=1e-7)
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the gradient check uses TensorFlow's tape")
    import tensorflow as tf

    head, bands = dec.get_layer("dec_level").kernel, dec.get_layer("mb_bands").kernel
    with tf.GradientTape() as tape:
        gap_mean = tf.reduce_mean(model(x, training=False)[6])
    to_head, to_bands = tape.gradient(gap_mean, [head, bands])
    assert to_head is None or float(tf.reduce_max(tf.abs(to_head))) == 0.0
    assert float(tf.reduce_max(tf.abs(to_bands))) > 0.0


def _buzz_and_noise(length: int = 32768, step: int = 1024):
    """[3, length]: two decaying noises and a decaying buzz, one noise shape of ``step`` samples
    repeated with alternating sign (what a strided decoder draws for a hi-hat)."""
    rng = np.random.default_rng(0)
    decay = np.exp(-np.arange(length) / 6000.0)
    noise = rng.standard_normal((2, length)) * decay
    shape = rng.standard_normal(step)
    buzz = np.concatenate([shape * (-1) ** k for k in range(length // step)]) * decay
    return np.concatenate([noise, buzz[None]]).astype(np.float32)


def test_comb_term_is_the_evaluations_comb_of_each_clip():
    """comb_bels is evaluate.metrics.comb_excess_db of one clip, in bels: about 0 for noise,
    well above 1 for a shape repeated every grid step with its sign alternating."""
    from vae_synth.evaluate import metrics

    x = _buzz_and_noise()
    got = _np(losses.comb_bels(x, 2048))
    want = [metrics.comb_excess_db(clip[None], 2048) / 10 for clip in x]
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.all(np.abs(got[:2]) < 0.1) and got[2] > 1.0
    with pytest.raises(ValueError, match="does not fit"):
        losses.comb_bels(x, 3000)


def test_comb_loss_counts_only_the_comb_the_clip_lacks():
    x = _buzz_and_noise()
    noise, buzz = x[:1], x[2:]
    comb = float(_np(losses.comb_bels(buzz, 2048))[0] - _np(losses.comb_bels(noise, 2048))[0])
    assert float(_np(losses.comb_loss(noise, buzz, (2048,)))[0]) == pytest.approx(comb, rel=1e-5)
    assert float(_np(losses.comb_loss(buzz, buzz, (2048,)))[0]) == 0.0   # a real period stays
    assert float(_np(losses.comb_loss(buzz, noise, (2048,)))[0]) == 0.0   # no reward for less
    # several periods, each counted in full. The buzz's sign alternates every 1024 samples, so
    # its peaks are the odd multiples of sr / 2048: a quarter of the teeth of a period of 4096,
    # none of 1024's
    by_period = {p: float(_np(losses.comb_loss(noise, buzz, (p,)))[0]) for p in (1024, 4096)}
    assert comb / 5 < by_period[4096] < comb / 3 and by_period[1024] < 0.1
    both = float(_np(losses.comb_loss(noise, buzz, (1024, 2048, 4096)))[0])
    assert both == pytest.approx(comb + sum(by_period.values()), rel=1e-5)


def test_the_comb_term_reads_two_steps_of_the_decoders_grid_or_the_periods_given():
    """With ``comb_weight`` the training model takes the period from the decoder's grid (the
    full-band decoder at 16384 samples: 16 steps of 1024, period 2048), adds the term at its
    weight and logs it as recon_comb; without it nothing is logged (history.csv keeps its
    columns). A frame of fewer than 8 periods is refused when the model is made."""
    from vae_synth.train import models

    cfg = {**models.resolve_config("conv", "fullband-notch", "logspec"), "antialias": True}
    enc, dec, cls, _ = models.build_models(cfg, 16384, 4, 3)
    off = {"mse_weight": 0.0, "stft_weight": 0.0, "beta": 0.0, "gamma": 0.0}
    model = losses.make_joint_model(enc, dec, cls, {**off, "comb_weight": 2.0})
    assert model.comb_periods == (2 * 16384 // int(dec.get_layer("dec_reshape").output.shape[1]),)
    assert model.comb_periods == (2048,) and "recon_comb" in model.trackers
    x = _buzz_and_noise(16384)[:1]
    y = np.zeros(1, np.int64)
    pred = model(x, training=False)
    buzz = _buzz_and_noise(16384)[2:]
    total = float(_np(model.compute_loss(x, y, (buzz, *pred[1:]))))
    assert total == pytest.approx(2.0 * float(_np(losses.comb_loss(x, buzz, (2048,)))[0]),
                                  rel=1e-4)
    assert total > 1.0
    # comb_periods, when given, replace the grid's period
    several = losses.make_joint_model(enc, dec, cls, {**off, "comb_weight": 2.0,
                                                      "comb_periods": [512, 2048]})
    assert several.comb_periods == (512, 2048)
    fine_buzz = _buzz_and_noise(16384, step=256)[2:]  # odd multiples of sr / 512
    total = float(_np(several.compute_loss(x, y, (fine_buzz, *pred[1:]))))
    at = {p: float(_np(losses.comb_loss(x, fine_buzz, (p,)))[0]) for p in (512, 2048)}
    assert total == pytest.approx(2.0 * (at[512] + at[2048]), rel=1e-4) and at[512] > 1.0
    plain = losses.make_joint_model(enc, dec, cls, off)
    assert plain.comb_periods == () and "recon_comb" not in plain.trackers
    short = models.build_models(cfg, 4096, 4, 3)
    with pytest.raises(ValueError, match="at least 8 periods"):
        losses.make_joint_model(short[0], short[1], short[2], {**off, "comb_weight": 1.0})
    with pytest.raises(ValueError, match="period 3000 does not fit"):
        losses.make_joint_model(enc, dec, cls, {**off, "comb_weight": 1.0,
                                                "comb_periods": [2048, 3000]})


def test_class_centre_loss_compares_each_decoded_centre_with_its_own_class():
    from keras import ops

    rng = np.random.default_rng(3)
    noise = (0.3 * rng.standard_normal((2, 4096))).astype(np.float32)
    x = np.stack([noise[0], noise[0], noise[1]])   # class 0 twice, class 1 once, class 2 absent
    y = np.array([0, 0, 1])
    mu = np.eye(3, dtype=np.float32)[y]            # each clip at its class's own axis
    mel = losses.mel_matrix(8000, 1024, 32)
    x_mel = losses.log_mel(x, mel, 1024)
    energy = losses.log_energy(x)

    def decoder(table):  # decodes a centre (one axis) to that class's waveform
        return lambda z: ops.matmul(z, ops.convert_to_tensor(table))

    table = np.stack([noise[0], noise[1], np.zeros(4096, np.float32)])
    same = losses.class_centre_loss(x_mel, energy, mu, y, 3, decoder(table), mel, 1024)
    assert float(_np(same)) == pytest.approx(0.0, abs=1e-5)
    # centres 20 dB quiet: ln(100) per mel cell and ln(100) in energy; the absent class is not
    # averaged in
    quiet = losses.class_centre_loss(x_mel, energy, mu, y, 3, decoder(0.1 * table), mel, 1024)
    assert float(_np(quiet)) == pytest.approx(2 * np.log(100.0), abs=0.01)
    # one class right, the other 20 dB quiet: half of it
    mixed = np.stack([noise[0], 0.1 * noise[1], np.zeros(4096, np.float32)])
    assert float(_np(losses.class_centre_loss(x_mel, energy, mu, y, 3, decoder(mixed), mel,
                                              1024))) == pytest.approx(np.log(100.0), abs=0.01)
    # the centre is the mean of the class's latents: class 0's clips at one axis and at the
    # origin decode at half an axis, 6 dB quiet (ln 4 per cell and in energy), class 1 right
    spread = np.array([[1.0, 0, 0], [0, 0, 0], [0, 1, 0]], np.float32)
    assert float(_np(losses.class_centre_loss(x_mel, energy, spread, y, 3, decoder(table), mel,
                                              1024))) == pytest.approx(np.log(4.0), abs=0.01)


def test_class_centre_loss_at_a_mixture_decodes_the_weighted_point_against_the_weighted_clips():
    """loss.centre_mix_weight's term: with weights, each class's point and targets are the
    weighted means of its clips'. Class 0's two takes: noise at its axis and 20 dB quieter noise
    at the origin; a decoder that scales with the distance along the axis is right at both
    takes, right at the weighted point wherever the weights put it only in level (log energy is
    not linear in the amplitude), and exactly right at either take alone."""
    from keras import ops

    rng = np.random.default_rng(4)
    noise = (0.3 * rng.standard_normal((2, 4096))).astype(np.float32)
    x = np.stack([noise[0], 0.1 * noise[0], noise[1]])
    y = np.array([0, 0, 1])
    mu = np.array([[1.0, 0, 0], [0.1, 0, 0], [0, 1, 0]], np.float32)
    mel = losses.mel_matrix(8000, 1024, 32)
    x_mel, energy = losses.log_mel(x, mel, 1024), losses.log_energy(x)
    table = np.stack([noise[0], noise[1], np.zeros(4096, np.float32)])

    def loss(weights=None):
        return float(_np(losses.class_centre_loss(
            x_mel, energy, mu, y, 3, lambda z: ops.matmul(z, ops.convert_to_tensor(table)),
            mel, 1024, weights=weights)))

    for alone in ([1.0, 1e-9, 1.0], [1e-9, 1.0, 1.0]):  # either take alone: exact
        assert loss(np.array(alone, np.float32)) == pytest.approx(0.0, abs=1e-4)
    # evenly: the point decodes at 0.55 of the loud take, the targets' mean of logs is
    # ln(0.1) under it: |ln(0.55^2) - ln(0.1)| per mel cell and in energy, halved over 2 classes
    even = 2 * abs(2 * np.log(0.55) - np.log(0.1)) / 2
    assert loss() == pytest.approx(even, abs=0.02)
    assert loss(np.array([3.0, 3.0, 0.5], np.float32)) == pytest.approx(even, abs=0.02)
    # mixture weights: positive, and a fresh draw each call
    gen = __import__("keras").random.SeedGenerator(0)
    a, b = _np(losses.random_mix_weights(5, gen)), _np(losses.random_mix_weights(5, gen))
    assert (a > 0).all() and not np.allclose(a, b)


def test_the_mixture_term_decodes_a_fresh_random_point_among_each_classs_clips():
    """With loss.centre_mix_weight the step decodes the class centres and then one more point per
    class: a weighted mean of its clips' latents, drawn anew each step; without it, only the
    centres."""
    import keras
    from vae_synth.train import models

    cfg = models.resolve_config("conv", "small")
    _, dec, cls, _ = models.build_models(cfg, 512, 2, 2)
    heard = []

    class Spy(keras.Model):
        output = dec.output  # the joint model reads the decoder's output length

        def call(self, z, training=False):
            heard.append(np.asarray(z))
            return dec(z, training=training)

    x = np.random.default_rng(0).standard_normal((4, 512)).astype(np.float32)
    y = np.array([0, 0, 0, 1])
    mu = np.array([[0, 0], [1, 0], [0, 1], [5, 5]], np.float32)
    logvar, logits = np.zeros_like(mu), np.zeros((4, 2), np.float32)
    base = {"centre_weight": 1.0, "mel_weight": 1.0, "sample_rate": 8000, "mel_fft": 256}
    for mix, calls in ((0.0, 1), (1.0, 2)):
        heard.clear()
        model = losses.make_joint_model(None, Spy(), cls, {**base, "centre_mix_weight": mix})
        model.compute_loss(x, y, (x, mu, logvar, logits))
        model.compute_loss(x, y, (x, mu, logvar, logits))
        assert len(heard) == 2 * calls
        np.testing.assert_allclose(heard[0][:2], [[1 / 3, 1 / 3], [5, 5]], atol=1e-6)
    first, second = heard[1][0], heard[3][0]
    assert first.min() >= 0 and first.sum() <= 1 and not np.allclose(first, [1 / 3, 1 / 3])
    assert not np.allclose(first, second)
    np.testing.assert_allclose(heard[1][1], [5, 5], atol=1e-5)  # a class of one: its clip


def test_class_centre_loss_holds_the_level_where_the_energy_is():
    """A kick's energy sits in a few bass cells: a centre with the right bass but 20 dB too
    little everywhere else is near in the mean over mel cells, and the energy term still says
    whether the level is right."""
    from keras import ops

    sr, n = 8000, 4096
    t = np.arange(n) / sr
    rng = np.random.default_rng(5)
    boom = np.sin(2 * np.pi * 60 * t).astype(np.float32)
    hiss = (0.01 * rng.standard_normal(n)).astype(np.float32)
    x = (boom + hiss)[None]
    y = np.array([0])
    mu = np.ones((1, 1), np.float32)
    mel = losses.mel_matrix(sr, 1024, 32)
    x_mel, energy = losses.log_mel(x, mel, 1024), losses.log_energy(x)

    def loss(audio):
        return float(_np(losses.class_centre_loss(
            x_mel, energy, mu, y, 1, lambda z: ops.matmul(z, ops.convert_to_tensor(audio[None])),
            mel, 1024)))

    assert loss(boom + hiss) == pytest.approx(0.0, abs=1e-5)
    # the boom 20 dB quiet: the energy falls by ln(0.5001 / 0.0051) = 4.59, the mean over the
    # mel cells by much less (the boom is in few of them)
    energy_term = np.log((0.5 + 1e-4) / (0.005 + 1e-4))
    mel_term = loss(0.1 * boom + hiss) - energy_term
    assert energy_term > 4.5 and 0.0 < mel_term < 0.5 * energy_term


def test_log_mel_loss():
    rng = np.random.default_rng(1)
    x = (0.3 * rng.standard_normal((2, 4096))).astype(np.float32)
    mel = losses.mel_matrix(8000, 1024, 32)
    assert mel.shape == (513, 32)
    assert np.allclose(_np(losses.log_mel_loss(x, x, mel, 1024)), 0.0, atol=1e-5)
    # 20 dB quieter = power / 100: ln(100) per mel bin where the signal is far above eps
    quiet = _np(losses.log_mel_loss(x, 0.1 * x, mel, 1024))
    assert np.allclose(quiet, np.log(100.0), rtol=0.05)


def test_level_loss_is_log_energy_ratio():
    x = (0.3 * np.random.default_rng(2).standard_normal((2, 4096))).astype(np.float32)
    assert np.allclose(_np(losses.level_loss(x, x)), 0.0, atol=1e-6)
    # 20 dB quieter everywhere = energy / 100 in every frame
    assert np.allclose(_np(losses.level_loss(x, 0.1 * x)), np.log(100.0), rtol=1e-3)


def test_clip_level_loss_weighs_the_attack_where_the_frame_level_weighs_the_tail():
    """A decaying tone (time constant 40 ms, 0.19 s at 44.1 kHz): at half the amplitude both
    terms read ln 4 (6 dB). Cut after its first 60 ms (95 % of its energy kept) the clip level
    is 0.05 off, the mean over frames 9 (most frames are tail); 6 dB off in the first 60 ms
    only, the clip level reads most of the 6 dB (1.24), the frame level a third of that."""
    sr, n = 44100, 8192
    t = np.arange(n) / sr
    x = (np.sin(2 * np.pi * 110 * t) * np.exp(-t / 0.04))[None].astype(np.float32)
    head = t < 0.06
    energy = float(np.sum(x[0] ** 2))
    kept = float(np.sum(x[0, head] ** 2)) / energy
    assert float(_np(losses.clip_level_loss(x, x))[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(_np(losses.clip_level_loss(x, 0.5 * x))[0]) == pytest.approx(np.log(4), rel=1e-3)
    assert float(_np(losses.level_loss(x, 0.5 * x))[0]) == pytest.approx(np.log(4), rel=1e-2)
    cut = np.where(head, x, 0).astype(np.float32)
    assert float(_np(losses.clip_level_loss(x, cut))[0]) == pytest.approx(-np.log(kept), rel=1e-2)
    assert float(_np(losses.level_loss(x, cut))[0]) > 10 * float(_np(losses.clip_level_loss(x, cut))[0])
    soft_attack = np.where(head, 0.5 * x, x).astype(np.float32)
    clip = float(_np(losses.clip_level_loss(x, soft_attack))[0])
    assert clip == pytest.approx(-np.log(0.25 * kept + (1 - kept)), rel=1e-2) and clip > 1.2
    assert float(_np(losses.level_loss(x, soft_attack))[0]) < 0.7 * clip


def test_air_share_loss_is_the_clip_brightness_not_its_level():
    """Noise below 8 kHz plus noise above 12 kHz, equal parts, at 44.1 kHz: the top part 20 dB
    quieter changes the clip's air share from 1/2 to 1/101 (ln 50.5 = 3.92); the whole clip
    20 dB quieter costs nothing (a level, not a brightness); a louder body dulls the share."""
    sr = 44100
    body, air = _body_and_air(sr=sr)
    x = (body + air)[None].astype(np.float32)
    assert float(_np(losses.air_share_loss(x, x, sr))[0]) == pytest.approx(0.0, abs=1e-6)
    assert float(_np(losses.air_share_loss(x, 0.1 * x, sr))[0]) == pytest.approx(0.0, abs=1e-5)
    dull = (body + 0.1 * air)[None].astype(np.float32)
    assert float(_np(losses.air_share_loss(x, dull, sr))[0]) == pytest.approx(np.log(50.5),
                                                                             rel=0.02)
    # the same dullness from a louder body: share 1/11 against 1/2, ln 5.5
    loud_body = (np.sqrt(10) * body + air)[None].astype(np.float32)
    assert float(_np(losses.air_share_loss(x, loud_body, sr))[0]) == pytest.approx(np.log(5.5),
                                                                                 rel=0.02)
    # silence keeps the term finite (the floor 80 dB under the clip's energy)
    silence = np.zeros_like(x)
    assert np.isfinite(float(_np(losses.air_share_loss(x, silence, sr))[0]))


def _body_and_air(n: int = 8192, sr: int = 44100, seed: int = 3):
    """Noise below 8 kHz and noise above 12 kHz at the same RMS: body, air [n] each."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    body = np.fft.irfft(np.where(f < 8000, spectrum, 0), n)
    air = np.fft.irfft(np.where(f > 12000, spectrum, 0), n)
    return body, air * np.std(body) / np.std(air)


def test_air_axis_is_the_last_latent_dimension_in_tens_of_db_and_free_of_the_cluster_pull():
    """Half the energy above 11 kHz (-3.0 dB) sits at (-3.0 + 20) / 10 = 1.70 on the axis, a
    top part 20 dB quieter (1/101, -20.0 dB) at 0.0. In the joint model the term is the squared
    distance of mu's last dimension to that, and the cluster pull leaves that dimension alone."""
    from vae_synth.train import models

    sr = 44100
    body, air = _body_and_air(sr=sr)
    x = np.stack([body + air, body + 0.1 * air, body + air]).astype(np.float32)
    target = _np(losses.air_axis_target(x, sr))
    assert target == pytest.approx([1.699, -0.004, 1.699], abs=0.02)
    assert float(_np(losses.air_axis_target(0.1 * x[:1], sr))[0]) == pytest.approx(1.699,
                                                                                   abs=0.02)

    means = models.class_prior_means(3, 4, 3.0)  # classes on dimensions 0-2; 3 is free
    cfg = models.resolve_config("conv", "small")
    enc, dec, cls, _ = models.build_models(cfg, 512, 4, 3)
    on = {"beta": 0.0, "gamma": 0.0, "mse_weight": 0.0, "stft_weight": 0.0, "class_prior": 3.0,
          "cluster_weight": 0.5, "air_axis_weight": 2.0, "sample_rate": sr}
    joint = losses.make_joint_model(enc, dec, cls, on)
    y = np.array([0, 1, 2])
    logvar = np.zeros((3, 4), np.float32)
    logits = np.zeros((3, 3), np.float32)
    mu = means.copy()
    mu[:, 3] = target                         # every clip at its class centre and its own air
    assert float(_np(joint.compute_loss(x, y, (x, mu, logvar, logits)))) == \
        pytest.approx(0.0, abs=1e-4)
    mu[:, 3] = target + 1.0                   # 10 dB off on the axis: 2.0 * 1^2
    assert float(_np(joint.compute_loss(x, y, (x, mu, logvar, logits)))) == \
        pytest.approx(2.0, abs=1e-4)
    mu[:, 3] = target
    mu[:, 2] += 1.0                           # off in a class dimension: the pull still counts
    assert float(_np(joint.compute_loss(x, y, (x, mu, logvar, logits)))) == \
        pytest.approx(0.5, abs=1e-4)

    enc3, dec3, cls3, _ = models.build_models(cfg, 512, 3, 3)
    with pytest.raises(ValueError, match="no class's axis"):
        losses.make_joint_model(enc3, dec3, cls3, on)


def test_mel_resolution_options_reach_the_loss():
    """--mel-fft 256 --mel-bands 40: the CLI puts them in the loss config, the joint model builds
    a [129, 40] filterbank, and the term is 0 for a perfect reconstruction, > 0 otherwise."""
    import argparse

    from vae_synth.train import cli, models

    parser = argparse.ArgumentParser()
    cli.add_train_arguments(parser)
    args = parser.parse_args(["--data", "synthetic:drums", "--out", "x", "--mel-weight", "1",
                              "--mel-fft", "256", "--mel-bands", "40"])
    loss_cfg = cli.recipe_from_args(args)[0].loss_config()
    assert (loss_cfg["mel_fft"], loss_cfg["mel_bands"]) == (256, 40)
    enc, dec, cls, _ = models.build_models(models.resolve_config("conv", "small"), 512, 4, 3)
    model = losses.make_joint_model(enc, dec, cls, {**loss_cfg, "sample_rate": 8000})
    assert model.mel.shape == (129, 40) and model.mel_fft == 256
    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal((2, 512))).astype(np.float32)
    same = float(_np(losses.log_mel_loss(x, x, model.mel, 256)).max())
    other = float(_np(losses.log_mel_loss(x, 0.5 * x, model.mel, 256)).min())
    assert same == pytest.approx(0.0, abs=1e-6) and other > 0.5   # |log 0.25| = 1.39 where loud


def test_band_level_loss_tells_a_sub_bass_lump_from_the_boom_the_frame_level_accepts():
    """A 55 Hz kick (decay 80 ms) against a 28 Hz lump of the same envelope: the whole-band
    level term reads them as near equal, the octave-band term (0-40 Hz, 40-80 Hz, ...) as a
    band's whole range apart, several times more. A copy 6 dB quieter costs about ln 4 (a
    little less: cells near the floor, 50 dB under the loudest frame, compress it); hiss
    70 dB under the clip where it has nothing costs next to nothing, at 40 dB under it does."""
    from vae_synth.evaluate.metrics import octave_edges

    sr, n = 44100, 16384
    t = np.arange(n) / sr
    env = np.exp(-t / 0.08)
    boom = (np.sin(2 * np.pi * 55 * t) * env)[None].astype(np.float32)
    lump = (np.sin(2 * np.pi * 28 * t) * env)[None].astype(np.float32)
    bands = losses.band_matrix(sr, 4096)
    edges = octave_edges(sr, losses.BAND_LEVEL_LOWEST_HZ)
    assert edges[:4] == [0.0, 40.0, 80.0, 160.0] and edges[-2:] == [10240.0, 22050.0]
    assert bands.shape[1] == len(edges) - 1 and bands.sum() == 2049  # each bin in one band
    assert float(_np(losses.band_level_loss(boom, boom, bands))[0]) == pytest.approx(0, abs=1e-5)
    frame_level = float(_np(losses.level_loss(boom, lump))[0])
    assert frame_level < 0.5
    assert float(_np(losses.band_level_loss(boom, lump, bands))[0]) > 5 * frame_level
    quieter = float(_np(losses.band_level_loss(boom, 0.5 * boom, bands))[0])
    assert 0.8 * np.log(4) < quieter <= np.log(4)
    hiss = np.random.default_rng(4).standard_normal((1, n)).astype(np.float32)
    assert float(_np(losses.band_level_loss(boom, boom + 10 ** (-70 / 20) * hiss, bands))[0]) \
        < 0.01
    assert float(_np(losses.band_level_loss(boom, boom + 10 ** (-40 / 20) * hiss, bands))[0]) \
        > 0.5


def test_centre_band_term_reads_a_centres_level_in_its_classs_octaves():
    """Two kicks at 55 Hz; their decoded centre a 28 Hz lump of the same power: the whole-band
    centre term sees nothing amiss, the per-octave part does (its two bands a floor apart)."""
    sr, n = 44100, 16384
    t = np.arange(n) / sr
    env = np.exp(-t / 0.08)
    kicks = np.stack([np.sin(2 * np.pi * 55 * t) * env] * 2).astype(np.float32)
    lump = (np.sin(2 * np.pi * 28 * t) * env)[None].astype(np.float32)
    bands = losses.band_matrix(sr, 4096)
    # the bands together read about the clip's mean power (noise: within 0.2 %; a decay a
    # little more, the centred first frame's reflected attack counts twice)
    noise = np.random.default_rng(0).standard_normal((1, n)).astype(np.float32)
    assert np.exp(_np(losses.log_band_power(noise, bands))).sum(1) == pytest.approx(
        np.exp(_np(losses.log_energy(noise))), rel=0.01)
    assert np.exp(_np(losses.log_band_power(kicks, bands))).sum(1) == pytest.approx(
        np.exp(_np(losses.log_energy(kicks))), rel=0.2)
    mel = losses.mel_matrix(sr, 4096, 64)
    x_mel, mu, y = losses.log_mel(kicks, mel, 4096), np.zeros((2, 2), np.float32), np.zeros(2)
    args = (x_mel, losses.log_energy(kicks), mu, y, 1, lambda z: lump, mel, 4096)
    plain = float(_np(losses.class_centre_loss(*args)))
    banded = float(_np(losses.class_centre_loss(
        *args, x_bands=losses.log_band_power(kicks, bands), bands=bands, band_weight=1.0)))
    assert banded - plain > 1.0
    same = float(_np(losses.class_centre_loss(
        x_mel, losses.log_energy(kicks), mu, y, 1, lambda z: kicks[:1], mel, 4096,
        x_bands=losses.log_band_power(kicks, bands), bands=bands)))
    assert same == pytest.approx(0.0, abs=1e-4)

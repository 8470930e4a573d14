"""The pitch tracker that gives the harmonic decoder its f0 target, and the f0 loss."""

from __future__ import annotations

import numpy as np
import pytest
from vae_synth.train.losses import pitch_loss, target_pitch, voiced_noise_loss
from vae_synth.train.pitch import pitch_track

SR, L, HOP = 8000, 4096, 32


def _glide(f_start=100.0, f_end=200.0, voiced=3072):
    """A band-limited sawtooth (harmonics below Nyquist) gliding exponentially from f_start to
    f_end Hz over ``voiced`` samples, then silence: (x [L], true f0 at every sample [L])."""
    t = np.arange(voiced) / SR
    f0 = f_start * (f_end / f_start) ** (t / t[-1])
    phase = 2 * np.pi * np.cumsum(f0 / SR)
    saw = sum(np.sin(k * phase) / k * (k * f0 < SR / 2) for k in range(1, int(SR / 2 / f_start)))
    x = np.zeros(L, np.float32)
    x[:voiced] = 0.5 * saw
    return x, np.concatenate([f0, np.zeros(L - voiced)])


def test_glide_is_tracked_within_a_hundredth_of_an_octave():
    x, truth = _glide()
    f0, voiced = (np.asarray(v) for v in pitch_track(x[None], SR, HOP))
    assert f0.shape == voiced.shape == (1, L // HOP)
    centre = truth[np.arange(L // HOP) * HOP]  # frame t is centred on sample t * HOP
    inside = (np.arange(L // HOP) * HOP >= 256) & (np.arange(L // HOP) * HOP < 3072 - 256)
    assert voiced[0, inside].all()
    err = np.abs(np.log2(f0[0, inside] / centre[inside]))
    assert np.median(err) < 0.005 and err.max() < 0.02
    after = np.arange(L // HOP) * HOP >= 3072 + 256  # silence: no voiced frame
    assert not voiced[0, after].any()


def test_noise_is_unvoiced():
    noise = np.random.default_rng(0).standard_normal((2, L)).astype(np.float32) * 0.3
    _, voiced = pitch_track(noise, SR, HOP)
    assert np.asarray(voiced).mean() < 0.05


def test_pitch_loss_reads_octaves_on_voiced_frames_only():
    x, _ = _glide()
    f0, voiced = target_pitch(x[None], L // HOP, SR, 60.0, 400.0)
    f0, voiced = np.asarray(f0), np.asarray(voiced)
    # on the tracked pitch: 0; an octave up: 1; a clip with no voiced frame: 0
    assert float(np.asarray(pitch_loss(f0, voiced, f0))[0]) == pytest.approx(0, abs=1e-6)
    assert float(np.asarray(pitch_loss(f0, voiced, 2 * f0))[0]) == pytest.approx(1, abs=1e-4)
    silent = np.asarray(target_pitch(np.zeros((1, L), np.float32), L // HOP, SR, 60.0, 400.0)[1])
    assert float(np.asarray(pitch_loss(f0, silent, f0))[0]) == 0.0
    # the noise gains count only where the target is voiced (the glide, not its silence)
    assert 0.7 < voiced.mean() < 0.85
    noise = np.where(voiced > 0, 0.2, 0.9).astype(np.float32)
    assert float(np.asarray(voiced_noise_loss(voiced, noise))[0]) == pytest.approx(0.2, abs=1e-5)


def test_training_pulls_the_decoded_f0_to_each_clips_pitch():
    """A harmonic decoder trained on sawtooth clips at 100 and 180 Hz (two classes): its f0 starts
    at 155 Hz for both and, after 120 steps of the joint loss, decodes each class's pitch from
    the clip's latent to within a tenth of an octave on the voiced frames."""
    import keras
    from vae_synth.train import losses, models

    keras.utils.set_random_seed(0)
    pitches = (100.0, 180.0)
    x = []
    for i in range(8):
        f = pitches[i % 2] * 2 ** (0.02 * (i // 2))  # a little spread inside each class
        x.append(_glide(f, f, voiced=3584)[0])
    x, y = np.stack(x), np.arange(8) % 2
    cfg = {**models.resolve_config("conv", "small"),
           "harmonics": {"count": 16, "f0_min": 60.0, "f0_max": 400.0, "sample_rate": SR}}
    enc, dec, cls, _ = models.build_models(cfg, L, 8, 2)
    model = losses.make_joint_model(enc, dec, cls, {"sample_rate": SR, "beta": 1e-3, "gamma": 0.1,
                                                    "f0_weight": 1.0})
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0))
    f0_before = np.asarray(model(x)[4])
    assert np.asarray(model(x)[5]).shape == (8, 0)  # no noise branch
    history = model.fit(x, y, batch_size=4, epochs=60, verbose=0, shuffle=True)
    f0_after = np.asarray(model(x)[4])
    inside = slice(8, 104)  # voiced frames away from the clip's edges
    for f0 in (f0_before, f0_after):
        assert f0.shape == (8, L // HOP)
    target = np.array([pitches[i % 2] * 2 ** (0.02 * (i // 2)) for i in range(8)])[:, None]
    err_before = np.abs(np.log2(f0_before[:, inside] / target)).mean()
    err_after = np.abs(np.log2(f0_after[:, inside] / target)).mean()
    print(f0_after[:, inside].mean(1), target[:, 0])
    assert err_before > 0.3 and err_after < 0.1, (err_before, err_after)
    assert history.history["f0"][-1] < 0.5 * history.history["f0"][0]

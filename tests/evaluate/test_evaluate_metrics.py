"""Known-answer tests of evaluate/metrics.py (the thesis's §5.2-5.3 metrics and ours)."""

from __future__ import annotations

import numpy as np
import pytest
from dtw import dtw as dtw_python
from evaluate_audio import digit_like_set, vowel_clip
from vae_synth.evaluate import metrics as M

# ---------------------------------------------------------------- latent organisation


def test_one_nn_perfectly_separated_clusters_is_one():
    rng = np.random.default_rng(0)
    centres = np.eye(4, 20) * 100.0
    labels = np.repeat(np.arange(4), 7)
    z = centres[labels] + rng.normal(scale=0.5, size=(28, 20))
    assert M.one_nn_accuracy(z, labels) == 1.0
    assert M.nearest_centroid_accuracy(z, labels) == 1.0
    assert M.nearest_centroid_accuracy(z, labels, centroids=centres) == 1.0


def test_one_nn_leaves_the_point_itself_out():
    # pairs of points at distance 1 of *different* classes, pairs far apart: every nearest other
    # point has the other class. Without leave-one-out the point itself would give 1.0.
    z = np.array([[0.0], [1.0], [100.0], [101.0], [200.0], [201.0]])
    labels = np.array([0, 1, 0, 1, 0, 1])
    assert M.one_nn_accuracy(z, labels) == 0.0
    np.testing.assert_array_equal(M.one_nn_predictions(z, labels), [1, 0, 1, 0, 1, 0])


def test_nearest_centroid_leave_one_out_and_given_centroids():
    # class 1 has a far outlier: leave-one-out moves class 1's centre away from it
    z = np.array([[0.0], [0.2], [10.0], [10.2], [3.0]])
    labels = np.array([0, 0, 1, 1, 1])
    preds = M.nearest_centroid_predictions(z, labels)
    np.testing.assert_array_equal(preds, [0, 0, 1, 1, 0])
    assert M.nearest_centroid_accuracy(z, labels) == pytest.approx(0.8)
    given = np.array([[0.0], [4.0]])
    np.testing.assert_array_equal(M.nearest_centroid_predictions(z, labels, given), [0, 0, 1, 1, 1])


def test_class_centroids_and_bad_shapes():
    z = np.array([[0.0, 2.0], [2.0, 4.0], [10.0, 10.0]])
    c = M.class_centroids(z, np.array([0, 0, 2]), n_classes=3)
    np.testing.assert_allclose(c[0], [1.0, 3.0])
    assert np.isnan(c[1]).all()
    with pytest.raises(ValueError, match=r"latents must be \[N, D\]"):
        M.one_nn_accuracy(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="labels must be"):
        M.one_nn_accuracy(np.zeros((5, 2)), np.zeros(4))


# ---------------------------------------------------------------- DTW


@pytest.mark.parametrize("n,m", [(1, 1), (1, 6), (6, 1), (7, 3), (40, 55), (98, 98)])
def test_dtw_matches_dtw_python_symmetric1(n, m):
    rng = np.random.default_rng(n * 100 + m)
    x, y = rng.normal(size=n), rng.normal(size=m)
    ref = dtw_python(x, y, step_pattern="symmetric1", dist_method="cityblock").distance
    assert M.dtw_distance(x, y) == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_dtw_batch_equals_one_by_one_and_is_warp_invariant():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(9, 30)), rng.normal(size=(9, 30))
    batch = M.dtw_distances(x, y, chunk=4)  # several chunks
    single = [M.dtw_distance(a, b) for a, b in zip(x, y, strict=True)]
    np.testing.assert_allclose(batch, single)
    s = rng.normal(size=25)
    warped = np.repeat(s, rng.integers(1, 4, size=25))  # each sample held 1-3 times
    assert M.dtw_distance(s, warped) == 0.0
    assert M.dtw_distance(s, s + 1.0) > 0.0
    with pytest.raises(ValueError, match="empty"):
        M.dtw_distance(np.zeros(0), np.zeros(3))


# ---------------------------------------------------------------- HTK MFCC


def test_htk_mfcc_shape_and_framing():
    x = np.zeros(4096, np.float32)
    cc = M.htk_mfcc(x, 8000)
    # 25 ms = 200 samples, 5 ms = 40: floor((4096 - 200) / 40) + 1 = 98 frames
    assert cc.shape == (13, 98)
    # digital silence floors at log(1) = 0 in every band: all cepstra 0
    assert np.all(cc == 0.0)
    assert M.mfcc_tracks(np.zeros((3, 4096)), 8000).shape == (3, 12, 98)
    with pytest.raises(ValueError, match="shorter than one MFCC frame"):
        M.htk_mfcc(np.zeros(100), 8000)


def _librosa_reference_mfcc(x: np.ndarray, sr: int) -> np.ndarray:
    """The same MFCC assembled from librosa/scipy parts: stft, mel filters, DCT."""
    import librosa
    import scipy.signal

    nw, ns, nfft = int(round(0.025 * sr)), int(round(0.005 * sr)), 256
    y = scipy.signal.lfilter([1.0, -0.97], [1.0], x.astype(np.float64) * 2.0**15)
    # librosa centres a short window inside the n_fft frame: shift the signal by that offset so
    # frame k covers the same samples as in the MATLAB code (|FFT| ignores the position).
    pad = (nfft - nw) // 2
    spec = np.abs(librosa.stft(np.concatenate([np.zeros(pad), y]), n_fft=nfft, hop_length=ns,
                               win_length=nw, window=scipy.signal.windows.hamming(nw, sym=True),
                               center=False))
    fb = librosa.filters.mel(sr=sr, n_fft=nfft, n_mels=20, fmin=200.0, fmax=1200.0, htk=True,
                             norm=None)
    logmel = np.log(np.maximum(fb @ spec, 1.0))
    cc = librosa.feature.mfcc(S=logmel, n_mfcc=13, dct_type=2, norm="ortho", lifter=0)
    # librosa's lifter counts from 1 (c0 gets a gain); HTK's counts from 0: apply HTK's here
    lift = 1.0 + 11.0 * np.sin(np.pi * np.arange(13) / 22.0)
    return cc * lift[:, None]


def test_htk_mfcc_agrees_with_librosa_assembly_on_speech_like_audio():
    rng = np.random.default_rng(3)
    x = vowel_clip(rng)
    ours = M.htk_mfcc(x, 8000)
    ref = _librosa_reference_mfcc(x, 8000)
    t = min(ours.shape[1], ref.shape[1])
    assert t >= 90
    # c1..c12 (c0 differs only by the DCT-II normalisation and is dropped by the metric)
    np.testing.assert_allclose(ours[1:, :t], ref[1:, :t], rtol=1e-6, atol=1e-6)
    assert np.sqrt(2.0) * ours[0, :t] == pytest.approx(2.0 * ref[0, :t], rel=1e-6, abs=1e-6)
    assert np.abs(ours[1:]).max() > 1.0  # not trivially zero


# ---------------------------------------------------------------- centroid consistency


# thesis Table 5.4 (dilated VAE, digit "1"): pairwise MFCC-DTW, b row (centre), c row (eq. 5.3)
TABLE_5_4 = np.array([
    [0, 384.67, 106.06, 106.74, 114.45, 112.78, 143.42, 117.92, 70.66, 119.71],
    [384.67, 0, 341.84, 366.413, 346.69, 376.20, 433.46, 381.67, 396.40, 377.98],
    [106.06, 341.84, 0, 87.24, 53.98, 98.62, 143.23, 105.83, 100.13, 96.27],
    [106.74, 366.41, 87.24, 0, 93.42, 65.35, 121.32, 87.59, 107.85, 85.10],
    [114.45, 346.69, 53.98, 93.42, 0, 108.88, 134.89, 114.18, 105.49, 106.21],
    [112.78, 376.20, 98.62, 65.35, 108.88, 0, 116.41, 61.66, 110.24, 64.15],
    [143.42, 433.42, 143.23, 121.32, 134.89, 116.41, 0, 139.95, 123.05, 125.13],
    [117.92, 381.66, 105.83, 87.59, 114.18, 61.66, 139.96, 0, 109.19, 85.19],
    [70.66, 396.40, 100.13, 107.85, 105.49, 110.24, 123.05, 109.20, 0, 125.78],
    [119.71, 377.98, 96.27, 85.10, 106.21, 64.15, 125.13, 85.19, 125.78, 0],
])
TABLE_5_4_B = np.array([83.51, 355.91, 91.17, 86.96, 101.85, 85.81, 126.97, 88.14, 87.37, 101.42])
TABLE_5_4_C = np.array([-0.63, -0.83, -0.41, -0.41, -0.35, -0.39, -0.37, -0.47, -0.53, -0.32])


def test_centroid_dist_reproduces_thesis_table_5_4():
    # the table's matrix is printed column-wise (columns are the clips being scored)
    dist = M.centroid_dist(TABLE_5_4.T, TABLE_5_4_B)
    # the printed inputs are rounded to 2 decimals (and not quite symmetric): 0.01 tolerance
    np.testing.assert_allclose(dist, TABLE_5_4_C, atol=0.01)
    # Table 5.5's row "one" for the dilated VAE: mean -0.47, std 0.16
    assert dist.mean() == pytest.approx(-0.47, abs=0.006)
    assert dist.std(ddof=1) == pytest.approx(0.16, abs=0.006)


def test_centroid_equal_to_a_clip_has_dtw_zero_for_it():
    clips, labels = digit_like_set(n_classes=2, per_class=5)
    names = ["a", "b"]
    centres = np.stack([clips[2], clips[7]])  # class a's centre is clip 2, class b's is clip 7
    res = M.centroid_consistency(clips, labels, centres, 8000, names)
    a, b = res.per_class["a"], res.per_class["b"]
    assert a.center[2] == 0.0 and b.center[2] == 0.0
    assert np.all(np.delete(a.center, 2) > 0)
    # the clip that *is* the centre scores -mean/std of its own pairwise row
    others = np.delete(a.pairwise[2], 2)
    assert a.dist[2] == pytest.approx(-others.mean() / others.std(ddof=1))
    # other clips' centre distance equals their pairwise distance to clip 2
    np.testing.assert_allclose(np.delete(a.center, 2), np.delete(a.pairwise[:, 2], 2))
    assert a.pairwise.shape == (5, 5) and np.all(np.diag(a.pairwise) == 0)
    np.testing.assert_allclose(a.pairwise, a.pairwise.T)
    assert res.mean == pytest.approx((a.mean + b.mean) / 2)
    assert res.std == pytest.approx((a.std + b.std) / 2)


def test_centroid_dist_ranks_a_good_centre_below_a_wrong_one():
    clips, labels = digit_like_set(n_classes=2, per_class=6, seed=4)
    names = ["a", "b"]
    good = np.stack([clips[labels == 0].mean(0), clips[labels == 1].mean(0)])
    swapped = good[::-1].copy()
    r_good = M.centroid_consistency(clips, labels, good, 8000, names)
    r_bad = M.centroid_consistency(clips, labels, swapped, 8000, names)
    assert r_bad.mean > r_good.mean + 1.0
    silent = np.zeros_like(good)
    assert M.centroid_consistency(clips, labels, silent, 8000, names).mean > r_good.mean


def test_centroid_consistency_max_per_class_and_errors():
    clips, labels = digit_like_set(n_classes=2, per_class=6)
    res = M.centroid_consistency(clips, labels, clips[[0, 6]], 8000, ["a", "b"], max_per_class=4)
    assert res.per_class["a"].pairwise.shape == (4, 4)
    with pytest.raises(ValueError, match="rows for 3 classes"):
        M.centroid_consistency(clips, labels, clips[[0, 6]], 8000, ["a", "b", "c"])
    assert np.isnan(M.centroid_dist(np.zeros((2, 2)), np.zeros(2))).all()


def test_medoid_clips_picks_the_most_typical_take_and_it_scores_low():
    clips, labels = digit_like_set(n_classes=2, per_class=6, seed=2)
    labels = labels.copy()
    labels[6] = 0  # one take of class b filed under a: an outlier the medoid must not be
    audio, index = M.medoid_clips(clips, labels, 3, 8000)
    assert index[2] == -1 and np.all(audio[2] == 0)  # class 2 has no clips
    members = np.flatnonzero(labels == 0)
    pairwise = M.mfcc_dtw_pairwise(M.mfcc_tracks(clips[members], 8000))
    assert index[0] == members[np.argmin(pairwise.sum(1))] and index[0] != 6
    np.testing.assert_array_equal(audio[0], clips[index[0]])
    assert labels[index[1]] == 1
    # as a centre, the medoid is closer to its class than the outlier is (eq. 5.3 lower)
    typical = M.centroid_consistency(clips, labels, audio[:2], 8000, ["a", "b"])
    outlier = M.centroid_consistency(clips, labels, clips[[6, index[1]]], 8000, ["a", "b"])
    assert typical.per_class["a"].mean < outlier.per_class["a"].mean - 0.5
    # max_per_class bounds the candidates (seeded): the pick is one of the drawn clips
    _, few = M.medoid_clips(clips, labels, 2, 8000, max_per_class=3, seed=1)
    assert labels[few[0]] == 0 and labels[few[1]] == 1


def test_real_take_consistency_never_scores_a_clip_against_itself():
    clips, labels = digit_like_set(n_classes=2, per_class=6, seed=3)
    train, train_y = clips[[0, 1, 2, 6, 7, 8]], labels[[0, 1, 2, 6, 7, 8]]
    held, held_y = clips[[3, 4, 5, 9, 10, 11]], labels[[3, 4, 5, 9, 10, 11]]
    ref = M.real_take_consistency(train, train_y, held, held_y, 8000, ["a", "b"])
    medoids, _ = M.medoid_clips(train, train_y, 2, 8000)
    same = M.centroid_consistency(held, held_y, medoids, 8000, ["a", "b"])
    assert ref.mean == pytest.approx(same.mean)  # disjoint sets: the plain definition
    # the scored clips among the candidates are dropped: the medoid of what is left
    both = M.real_take_consistency(clips, labels, held, held_y, 8000, ["a", "b"])
    assert both.mean == pytest.approx(ref.mean)
    assert np.all(both.per_class["a"].center > 0)
    # nothing left to draw a real take from: no reference rather than a wrong one
    assert M.real_take_consistency(held, held_y, held, held_y, 8000, ["a", "b"]) is None
    np.testing.assert_array_equal(M.rows_not_in(clips, held), ~np.isin(np.arange(12), [3, 4, 5, 9, 10, 11]))
    np.testing.assert_array_equal(M.real_take_candidates(clips, labels, held, held_y),
                                  M.rows_not_in(clips, held))
    assert M.real_take_candidates(held, held_y, held, held_y) is None


# ---------------------------------------------------------------- reconstruction and level


def test_snr_known_answers():
    t = np.arange(4000) / 8000.0
    x = np.sin(2 * np.pi * 440 * t)
    assert M.snr_db(x, x) == np.inf
    assert M.snr_db(x, 0.9 * x) == pytest.approx(20.0)  # error is 0.1 x
    assert M.snr_db(x, np.zeros_like(x)) == pytest.approx(0.0)
    per = M.snr_db_per_clip(np.stack([x, x]), np.stack([0.9 * x, 0.99 * x]))
    np.testing.assert_allclose(per, [20.0, 40.0])
    with pytest.raises(ValueError, match="shapes differ"):
        M.snr_db(x, x[:-1])


def test_levels_and_centroid_level_db():
    t = np.arange(8000) / 8000.0
    sine = np.sin(2 * np.pi * 500 * t)
    assert M.rms_db(sine) == pytest.approx(-3.0103, abs=1e-3)
    assert M.rms_db(np.zeros(10)) == -120.0
    clips = np.stack([sine, 0.5 * sine, 0.1 * sine, 0.2 * sine])
    labels = np.array([0, 0, 1, 1])
    centres = np.stack([0.1 * sine, np.zeros_like(sine)])
    lev = M.centroid_level_db(centres, clips, labels)
    # class 0 median level is that of 0.75 (mean of the dB of 1 and 0.5, i.e. sqrt(0.5))
    assert lev[0] == pytest.approx(20 * np.log10(0.1 / np.sqrt(0.5)), abs=1e-6)
    assert lev[1] < -80  # a silent decoder shows up


def test_log_mel_distance_and_recon_ratio():
    clips, labels = digit_like_set(n_classes=3, per_class=4, seed=2)
    db = M.log_mel_db(clips, 8000)
    assert db.shape[:2] == (12, 64) and db.max() <= 0.5 and db.min() >= -60.0
    t = np.arange(8000) / 8000.0
    # a full-scale sine reads within a few dB of 0 (its power spreads over a mel band)
    assert -4.0 < M.log_mel_db(np.sin(2 * np.pi * 1000 * t), 8000).max() < 0.5
    np.testing.assert_allclose(M.log_mel_distance(clips, clips, 8000), 0.0)
    perfect = M.recon_ratio(clips, clips, labels, 8000)
    assert perfect.ratio == 0.0 and perfect.pair_median_db > 1.0
    # reconstructing every clip as a clip of its own class (but another one) scores about 1
    other = np.roll(clips.reshape(3, 4, -1), 1, axis=1).reshape(12, -1)
    assert M.recon_ratio(clips, other, labels, 8000).ratio == pytest.approx(1.0, abs=0.35)
    assert M.recon_ratio(clips, np.zeros_like(clips), labels, 8000).ratio > 2.0
    rng = np.random.default_rng(0)
    # 10 % multiplicative noise keeps each clip itself; hiss below the -60 dB floor is ignored
    wobbly = clips * (1.0 + 0.1 * rng.standard_normal(clips.shape))
    assert M.recon_ratio(clips, wobbly, labels, 8000).ratio < 0.8
    hiss = clips + 3e-4 * rng.standard_normal(clips.shape)
    assert M.recon_ratio(clips, hiss, labels, 8000).ratio < 0.8
    loud_hiss = clips + 0.03 * rng.standard_normal(clips.shape)
    assert M.recon_ratio(clips, loud_hiss, labels, 8000).ratio > 1.0


# ---------------------------------------------------------------- latent statistics, morphs


def test_kl_per_dim_and_active_dims():
    mu = np.zeros((5, 3))
    mu[:, 1] = 1.0
    logvar = np.zeros((5, 3))
    logvar[:, 2] = np.log(4.0)
    kl = M.kl_per_dim(mu, logvar)
    np.testing.assert_allclose(kl, [0.0, 0.5, 0.5 * (4.0 - 1.0 - np.log(4.0))])
    assert M.active_dims(kl) == 2
    assert M.kl_per_dim(mu, logvar, prior_var=4.0)[2] == pytest.approx(0.0)


def test_morph_path_and_smoothness():
    path = M.morph_path(np.zeros(3), np.ones(3), 5)
    np.testing.assert_allclose(path[:, 0], [0, 0.25, 0.5, 0.75, 1.0])
    assert path.dtype == np.float32
    clips, _ = digit_like_set(n_classes=2, per_class=1)
    a, b = clips
    # all change in one jump between step 15 and 16: max step = 31 x mean step
    jump = np.stack([a] * 16 + [b] * 16)
    assert M.morph_smoothness(jump, 8000) == pytest.approx(31.0)
    assert M.morph_smoothness(np.stack([a] * 32), 8000) == 1.0
    # a fade in equal 0.2 dB steps changes the log-mel spectrum about evenly (bins near the
    # -60 dB floor stop changing once under it)
    fade = np.stack([a * 10 ** (-0.2 * k / 20) for k in range(32)])
    assert M.morph_smoothness(fade, 8000) < 1.2


def test_comb_excess_finds_a_transposed_convolution_buzz():
    """Noise carries no comb (|excess| < 1.5 dB at any period); noise with a quiet pulse every
    64 samples (a decoder's period) reads > 10 dB at period 64, and ``strongest_comb`` picks 64
    (not a coarser period, whose extra teeth fall between the pulse train's lines)."""
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((8, 8192))
    for period in (16, 64, 256):
        assert abs(M.comb_excess_db(noise, period)) < 1.5
    buzz = noise.copy()
    buzz[:, ::64] += 3.0
    assert M.comb_excess_db(buzz, 64) > 10.0
    period, excess = M.strongest_comb(buzz)
    assert period == 64 and excess == pytest.approx(M.comb_excess_db(buzz, 64))
    assert M.comb_excess_db(buzz, 256) < excess - 3.0
    with pytest.raises(ValueError, match="divide"):
        M.comb_excess_db(noise, 100)


def test_high_band_share_reads_the_air_above_11_khz():
    sr, n = 44100, 32768
    rng = np.random.default_rng(0)
    white = rng.standard_normal((8, n))
    share = M.high_band_share(white, sr)
    assert share.shape == (8,) and np.allclose(share, (sr / 2 - 11000) / (sr / 2), atol=0.01)
    t = np.arange(n) / sr
    tones = np.stack([np.sin(2 * np.pi * 12000 * t), np.sin(2 * np.pi * 5000 * t), np.zeros(n)])
    # no window: a tone leaks a little across the cutoff (measured 1.2e-4 and 1.5e-5)
    np.testing.assert_allclose(M.high_band_share(tones, sr), [1.0, 0.0, 0.0], atol=5e-4)
    # at 22.05 kHz Nyquist is 11025 Hz: a sliver of the band at most
    assert M.high_band_share(rng.standard_normal(16384), 22050)[0] < 0.003
    np.testing.assert_allclose(M.share_db(np.array([0.5, 0.005, 0.0])), [-3.01, -23.01, -120.0],
                               atol=0.01)


def test_sub_bass_share_reads_a_lump_under_a_kicks_fundamental():
    """A 28 Hz lump is all below 40 Hz, a 55 Hz kick tone next to none of it, a 50/50 mix
    half; band_share over the whole spectrum is 1."""
    sr, n = 44100, 32768
    t = np.arange(n) / sr
    lump, boom = np.sin(2 * np.pi * 28 * t), np.sin(2 * np.pi * 55 * t)
    share = M.sub_bass_share(np.stack([lump, boom, lump + boom]), sr)
    np.testing.assert_allclose(share, [1.0, 0.0, 0.5], atol=0.01)
    assert M.band_share(boom, sr, 0.0)[0] == pytest.approx(1.0)


def test_high_band_figures_pair_each_reconstruction_with_its_own_clip():
    """A decoder that makes every snare equally bright: against the clips' median it is off by
    3 dB, against each clip's own air by the median of 0 and +17 dB. The pad's centre is read
    against the same median."""
    from vae_synth.evaluate.evaluation import _band_figures

    sr, n = 44100, 8192
    rng = np.random.default_rng(0)
    bright = rng.standard_normal(n)                        # half the energy above 11 kHz
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[np.fft.rfftfreq(n, 1 / sr) >= 11000] *= 0.1   # 1 % of it above 11 kHz
    dull = np.fft.irfft(spectrum, n)
    share = M.high_band_share(np.stack([bright, dull]), sr)
    clips, recon = np.stack([bright, dull]), np.stack([bright, bright])
    hb = _band_figures(clips, recon, bright, sr, pad_centre=dull)
    assert hb["real_db"] == pytest.approx(10 * np.log10(np.median(share)))
    assert hb["recon_vs_real_db"] == pytest.approx(10 * np.log10(share[0] / np.median(share)))
    own = 10 * np.log10(share[0] / share[1])               # about +17 dB for the dull clip
    assert own > 15 and hb["recon_vs_own_db"] == pytest.approx(own / 2)
    assert hb["pad_centre_vs_real_db"] == pytest.approx(10 * np.log10(share[1] / np.median(share)))
    assert "pad_centre_db" not in _band_figures(clips, recon, bright, sr)
    # read against training clips that are all dull: the held-out median sits above them
    vs = _band_figures(clips, recon, bright, sr, training=np.stack([dull, dull, dull]))
    assert vs["training_db"] == pytest.approx(10 * np.log10(share[1]))
    assert vs["real_vs_training_db"] == pytest.approx(10 * np.log10(np.median(share) / share[1]))
    assert vs["centre_vs_training_db"] == pytest.approx(own)
    assert "training_db" not in hb


def test_draw_offsets_read_the_centre_and_the_held_out_clips_against_the_training_clips():
    """Held-out clips 6 dB above training clips of one level: a centre at the training clips'
    level reads 0 dB against them and the draw itself +6 dB."""
    from vae_synth.evaluate.evaluation import _draw_offsets

    rng = np.random.default_rng(1)
    noise = rng.standard_normal((5, 4096))
    noise /= np.sqrt(np.mean(noise**2, axis=-1, keepdims=True))       # each clip 0 dB RMS
    training, held_out = 0.1 * noise[:3], 0.2 * noise[3:]
    offsets = _draw_offsets(held_out, 0.1 * noise[0], training)
    assert offsets["level_vs_training_db"] == pytest.approx(0.0, abs=1e-9)
    assert offsets["heldout_vs_training_level_db"] == pytest.approx(20 * np.log10(2))
    assert "pad_level_db" not in offsets
    # a pad centre 4.6 dB under the training clips (a quiet pad) reads -4.6 and -10.6 dB
    quiet = 0.1 * 10 ** (-4.6 / 20) * noise[1]
    offsets = _draw_offsets(held_out, 0.1 * noise[0], training, pad_centre=quiet)
    assert offsets["pad_level_vs_training_db"] == pytest.approx(-4.6)
    assert offsets["pad_level_db"] == pytest.approx(-4.6 - 20 * np.log10(2))

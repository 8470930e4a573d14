"""A training run's end figures (metrics.json) use the preset's class centres: the mean latent
of each class's training clips, not of the training and held-out clips together."""

from __future__ import annotations

import numpy as np
from vae_synth.evaluate.evaluation import run_figures
from vae_synth.train.data import LabelledAudio

L = 1024


def _clips(positions):
    """One clip per latent position p: a tone whose first sample is p / 10 (what the encoder
    below reads back as its latent)."""
    t = np.arange(L) / 8000
    x = 0.3 * np.sin(2 * np.pi * 440 * t)[None].repeat(len(positions), 0)
    x[:, 0] = np.asarray(positions) / 10
    return x.astype(np.float32)


class Encoder:
    def __call__(self, x, training=False):
        x = np.asarray(x)
        mu = np.stack([10 * x[:, 0], np.zeros(len(x))], axis=1).astype(np.float32)
        return mu, np.zeros_like(mu)


class Decoder:
    def __call__(self, z, training=False):
        return _clips(np.asarray(z)[:, 0])


def test_nearest_centre_is_the_training_clips_mean():
    # class 0 trained at 0, held out at 6; class 1 at 10: the held-out clip at 6 is 6 from its
    # class's training centre and 4 from class 1's (over training + held-out clips, class 0's
    # centre would be 3, and the clip would count as right)
    data = LabelledAudio(
        train_x=_clips([0.0, 10.0]), train_y=np.array([0, 1]),
        test_x=_clips([6.0, 6.0, 10.0, 10.0]), test_y=np.array([0, 0, 1, 1]),
        class_names=["a", "b"], sample_rate=8000, frame_length=L)
    m = run_figures(Encoder(), Decoder(), data)
    assert m["nearest_centroid_accuracy"] == 0.5
    assert m["one_nn_accuracy"] == 1.0  # among the held-out clips their neighbours agree
    assert set(m["centroid_level_db"]) == {"a", "b"} and m["num_test"] == 4

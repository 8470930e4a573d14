"""--ema: validation and each epoch's checkpoints see the moving average of the weights,
training steps and the resume backup the raw weights (train/ema.py), on a real keras fit."""

from __future__ import annotations

import numpy as np
import pytest


def _fit_with_probes(momentum: float):
    """A 2-layer regression fitted 3 epochs; returns (model, history, probes) where the probes
    recorded the first kernel at each epoch's end inside and after the averaged window."""
    import keras
    from vae_synth.train.ema import AveragedWeights

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1))).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="tanh"),
                              keras.layers.Dense(1)])
    model.compile(keras.optimizers.Adam(0.05, use_ema=True, ema_momentum=momentum), "mse")
    probes = {"inside": [], "after": [], "average": []}

    class Probe(keras.callbacks.Callback):
        def __init__(self, key):
            super().__init__()
            self.key = key

        def on_epoch_end(self, epoch, logs=None):
            probes[self.key].append(np.array(self.model.trainable_variables[0].numpy()))
            if self.key == "after":
                avg = self.model.optimizer._model_variables_moving_average[0]
                probes["average"].append(np.array(avg.numpy()))

    averaged = AveragedWeights()
    history = model.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_data=(x, y),
                        callbacks=[averaged.begin, Probe("inside"), averaged.end, Probe("after")])
    return model, history, probes, (x, y)


def test_validation_and_checkpoints_see_the_average_training_the_raw_weights():
    model, history, probes, (x, y) = _fit_with_probes(0.9)
    for inside, after, average in zip(probes["inside"], probes["after"], probes["average"], strict=True):
        np.testing.assert_array_equal(inside, average)  # what checkpoints save
        assert np.abs(after - average).max() > 1e-3  # the raw weights are back for training
    # fit ends by copying the average into the model: its loss is the last epoch's val_loss,
    # which it would not be had validation run on the raw weights
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), history.history["val_loss"][-1],
                               rtol=1e-5)
    np.testing.assert_array_equal(model.trainable_variables[0].numpy(), probes["average"][-1])


def test_ema_momentum_out_of_range_is_a_clear_error(tmp_path):
    from vae_synth.train.trainer import TrainError, TrainOptions, train

    with pytest.raises(TrainError, match="--ema 1.5"):
        train(TrainOptions(sources=["synthetic:drums?n=4"], out=str(tmp_path / "r"), ema=1.5))

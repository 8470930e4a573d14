"""Weight averaging (``--ema``): validate and checkpoint the moving average of the weights.

Keras' optimizers keep an exponential moving average of the trainable weights when built with
``use_ema=True`` and copy it into the model when ``fit`` ends; during training the model holds
the raw weights. Here the average is also what each epoch's validation loss, recon monitor and
``checkpoints/best|last`` see, and the raw weights are put back before the next step and before
the resume backup (which stores raw weights and the optimizer, average included, so ``--resume``
continues the same trajectory).

Callback order in ``fit``: ``begin`` before every callback that reads weights at the end of an
epoch, ``end`` after the checkpoints and before the backup.
"""

from __future__ import annotations

import keras
import numpy as np


class AveragedWeights:
    """Swaps a model's trainable weights with its optimizer's moving average and back.

    ``begin`` / ``end``: the two callbacks to put in ``fit``'s list (see the module docstring).
    """

    def __init__(self):
        self.raw: list[np.ndarray] | None = None  # the raw weights while the average is in
        self.begin = _Hook(on_test_begin=self.swap_in, on_epoch_end=self.swap_in)
        self.end = _Hook(on_epoch_end=self.swap_out)

    def swap_in(self, model) -> None:
        if self.raw is not None:  # already in (validation ran this epoch)
            return
        averages = model.optimizer._model_variables_moving_average
        pairs = list(zip(model.trainable_variables, averages, strict=True))
        self.raw = [np.array(v.numpy()) for v, _ in pairs]
        for variable, average in pairs:
            # a copy: under JAX the variable would otherwise share the average's buffer, and
            # evaluate() frees the model's buffers while it runs
            variable.assign(np.array(average.numpy()))

    def swap_out(self, model) -> None:
        if self.raw is None:
            return
        for variable, raw in zip(model.trainable_variables, self.raw, strict=True):
            variable.assign(raw)
        self.raw = None


class _Hook(keras.callbacks.Callback):
    def __init__(self, on_test_begin=None, on_epoch_end=None):
        super().__init__()
        self._test_begin = on_test_begin
        self._epoch_end = on_epoch_end

    def on_test_begin(self, logs=None):
        if self._test_begin is not None:
            self._test_begin(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if self._epoch_end is not None:
            self._epoch_end(self.model)

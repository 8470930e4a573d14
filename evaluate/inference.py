"""Batched model calls: the one loop every producer uses to run a model over many clips.

Direct calls rather than Keras' ``predict``: under MultiWorkerMirroredStrategy ``predict`` is a
collective every worker must join, while these run on the chief alone; and the same loop serves
ONNX Runtime sessions (``lambda xb: session.run(None, {name: xb})``).
"""

from __future__ import annotations

import numpy as np

BATCH = 64


def batched(fn, x, batch: int = BATCH):
    """``fn`` over x [N, ...] in batches of ``batch``, its outputs concatenated along axis 0.

    fn returns an array, or a list/tuple of arrays (one per model output): then the result is a
    list of [N, ...] arrays in that order.
    """
    if not len(x):
        raise ValueError("no inputs: x is empty")
    outs = [fn(x[i : i + batch]) for i in range(0, len(x), batch)]
    if isinstance(outs[0], (list, tuple)):
        return [np.concatenate([np.asarray(o[k]) for o in outs]) for k in range(len(outs[0]))]
    return np.concatenate([np.asarray(o) for o in outs])


def infer(model, x, batch: int = BATCH):
    """A Keras model in inference mode over x [N, ...] -> numpy (a list for several outputs)."""
    return batched(lambda xb: model(xb, training=False), x, batch)

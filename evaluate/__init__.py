"""Evaluation: the thesis's metrics on a training run (TensorFlow) or a preset (ONNX Runtime only).

``metrics`` (numpy figures), ``report`` (pictures, sounds, report.md, the summary line),
``evaluation`` (one run of every figure on a model and its data), ``inference`` (batched model
calls), ``cli`` (``vae-synth evaluate``), ``bars`` (the quality bars its figures are held to).
Used by ``train`` (the end-of-run figures), ``export`` (parity) and the command line; the player
(``synth``) never imports it.
"""

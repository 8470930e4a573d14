"""vae-synth: play the latent space of a variational autoencoder from a MIDI controller.

Installed layout (the repository keeps the design card's top-level folders):

- ``vae_synth.synth``  <- ``synth/``   the real-time player; never imports TensorFlow
- ``vae_synth.export`` <- ``export/``  trained Keras run -> verified ONNX preset bundle
- ``vae_synth.train``  <- ``train/``   recipes, data, models, training (TensorFlow/Keras)
- ``vae_synth.evaluate`` <- ``evaluate/`` the thesis's metrics on a run or a preset
- ``vae_synth.presets`` <- ``presets/`` bundled, trained presets (package data)
"""

__version__ = "0.1.0"

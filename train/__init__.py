"""Data sources, models, losses, training and evaluation (TensorFlow/Keras)."""

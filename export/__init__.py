"""Trained Keras run -> verified ONNX preset bundle."""

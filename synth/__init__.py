"""The real-time player: preset bundles, ONNX Runtime decoding, MIDI in, audio out. Never imports TensorFlow."""

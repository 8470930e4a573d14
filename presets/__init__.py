"""Bundled trained presets (package data): one folder per preset with preset.json and ONNX files."""

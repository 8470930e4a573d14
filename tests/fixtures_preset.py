"""Preset fixtures (pytest plugin, listed in tests/conftest.py).

- :func:`make_test_preset` writes a valid bundle (the current version) whose four ONNX graphs are built by hand
  with ``onnx.helper``: real ONNX files that run in real ONNX Runtime sessions, in milliseconds, with
  known outputs. The decoder is ``audio = tanh(z @ W)`` with W chosen so that each class centroid
  (``2 * e_i``) decodes to its own decaying tone; ``behaviour="loud"`` decodes to +-10 (a model the
  output limiter must hold), ``behaviour="nan"`` decodes to NaN.
- Fixtures ``tones_preset`` / ``loud_preset`` / ``nan_preset`` (session-scoped, 4 drum classes).
- Fixture ``exported_preset``: a tiny real run trained through ``vae_synth.train`` and exported
  through ``vae_synth.export`` (the real pipeline; needs TensorFlow; takes tens of seconds).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TEST_CLASSES = ("kick", "snare", "tom", "hihat")
CENTROID_SCALE = 2.0  # class i sits at z = CENTROID_SCALE * e_i


def tone_frequencies(n: int) -> np.ndarray:
    """[n] float64: the tone frequency (Hz) of each class in a test preset: 110 Hz * 1.5**i."""
    return 110.0 * 1.5 ** np.arange(n)


def test_tones(n: int, sample_rate: int, frame_length: int) -> np.ndarray:
    """[n, frame_length] float32: what a "tones" test preset decodes class i's centroid to.

    Tone i: sine at ``tone_frequencies(n)[i]`` with an exponential decay (time constant shorter for
    higher classes), peak about 0.76 (``tanh(1)``).
    """
    t = np.arange(frame_length) / sample_rate
    f = tone_frequencies(n)[:, None]
    tau = (0.25 * frame_length / sample_rate) / (1.0 + np.arange(n))[:, None]
    raw = np.sin(2 * np.pi * f * t[None, :]) * np.exp(-t[None, :] / tau)
    return np.tanh(raw).astype(np.float32)


test_tones.__test__ = False  # a helper, not a test, despite its name


def _graphs(classes, sample_rate, frame_length, latent_dim, behaviour):
    """The four onnx.ModelProto of a test preset and the centroid matrix [C, D]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    c, d, length = len(classes), latent_dim, frame_length
    centroids = np.zeros((c, d), np.float32)
    centroids[np.arange(c), np.arange(c)] = CENTROID_SCALE
    t = np.arange(length) / sample_rate
    f = tone_frequencies(c)[:, None]
    tau = (0.25 * length / sample_rate) / (1.0 + np.arange(c))[:, None]
    raw = (np.sin(2 * np.pi * f * t[None, :]) * np.exp(-t[None, :] / tau)).astype(np.float32)
    # z = 2 e_i  ->  z @ W = raw_i  ->  tanh(raw_i) = test_tones(...)[i]
    w = np.zeros((d, length), np.float32)
    w[:c] = raw / CENTROID_SCALE

    def model(name, nodes, inputs, outputs, inits):
        graph = helper.make_graph(nodes, name, inputs, outputs,
                                  [numpy_helper.from_array(v, k) for k, v in inits.items()])
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="vae-synth-tests", ir_version=8)
        onnx.checker.check_model(m)
        return m

    def decoder(batch):
        z = helper.make_tensor_value_info("z", TensorProto.FLOAT, [batch, d])
        audio = helper.make_tensor_value_info("audio", TensorProto.FLOAT, [batch, length])
        nodes = [helper.make_node("MatMul", ["z", "W"], ["proj"])]
        inits = {"W": w}
        if behaviour == "tones":
            nodes.append(helper.make_node("Tanh", ["proj"], ["audio"]))
        elif behaviour == "loud":
            inits["gain"] = np.array(10.0, np.float32)
            nodes += [helper.make_node("Sign", ["proj"], ["s"]),
                      helper.make_node("Mul", ["s", "gain"], ["audio"])]
        elif behaviour == "nan":
            inits["nan"] = np.array(np.nan, np.float32)
            nodes += [helper.make_node("Tanh", ["proj"], ["t"]),
                      helper.make_node("Add", ["t", "nan"], ["audio"])]
        else:
            raise ValueError(f"behaviour must be tones, loud or nan, got {behaviour!r}")
        return model("decoder", nodes, [z], [audio], inits)

    # Encoder: least-squares inverse of the tones decoder on the centroid sounds, so that
    # encoder(decoded centroid i) ~= centroid i.
    decoded = test_tones(c, sample_rate, length).astype(np.float64)  # [C, L]
    p = (np.linalg.pinv(decoded) @ centroids.astype(np.float64)).astype(np.float32)  # [L, D]
    a_in = helper.make_tensor_value_info("audio", TensorProto.FLOAT, ["N", length])
    mu = helper.make_tensor_value_info("mu", TensorProto.FLOAT, ["N", d])
    logvar = helper.make_tensor_value_info("logvar", TensorProto.FLOAT, ["N", d])
    encoder = model("encoder", [
        helper.make_node("MatMul", ["audio", "P"], ["mu"]),
        helper.make_node("MatMul", ["audio", "Zero"], ["zl"]),
        helper.make_node("Add", ["zl", "lv"], ["logvar"]),
    ], [a_in], [mu, logvar], {"P": p, "Zero": np.zeros((length, d), np.float32),
                              "lv": np.full((d,), -4.0, np.float32)})

    # Classifier: nearest centroid as logits = z.c_i - |c_i|^2 / 2.
    z_in = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", d])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", c])
    classifier = model("classifier", [
        helper.make_node("MatMul", ["z", "Ct"], ["dots"]),
        helper.make_node("Add", ["dots", "b"], ["logits"]),
    ], [z_in], [logits], {"Ct": centroids.T.copy(),
                          "b": (-0.5 * (centroids ** 2).sum(1)).astype(np.float32)})
    return {"decoder": decoder(1), "decoder_batch": decoder("N"), "encoder": encoder,
            "classifier": classifier}, centroids


def make_test_preset(tmp_dir, classes=TEST_CLASSES, sample_rate: int = 16000,
                     frame_length: int = 2048, latent_dim: int = 8, behaviour: str = "tones",
                     name: str | None = None, sustain: bool = False) -> Path:
    """Write a valid preset bundle into ``tmp_dir/<name>`` and return its folder.

    classes: class names (at most ``latent_dim``); centroid of class i is ``2 * e_i`` and its std
    0.1 in every dimension. behaviour: ``"tones"`` (centroid i decodes to ``test_tones(...)[i]``),
    ``"loud"`` (+-10 wherever the tone is non-zero) or ``"nan"`` (NaN everywhere).
    The MIDI map is the exporter's default for these class names.
    """
    import onnx
    from vae_synth.export.midimap import default_midi_map
    from vae_synth.synth.preset import (
        PCA,
        Preset,
        PresetClass,
        PresetFile,
        sha256_file,
        write_preset,
    )

    classes = tuple(classes)
    if len(classes) > latent_dim:
        raise ValueError(f"{len(classes)} classes need latent_dim >= {len(classes)}")
    name = name or f"test-{behaviour}"
    folder = Path(tmp_dir) / name
    folder.mkdir(parents=True, exist_ok=False)
    models, centroids = _graphs(classes, sample_rate, frame_length, latent_dim, behaviour)
    files = {}
    for role, m in models.items():
        onnx.save(m, str(folder / f"{role}.onnx"))
        files[role] = PresetFile(f"{role}.onnx", sha256_file(folder / f"{role}.onnx"))
    # PCA of the centroids: the class axes, strongest first (all equal here).
    k = min(len(classes), latent_dim, 4)
    components = np.zeros((k, latent_dim), np.float32)
    components[np.arange(k), np.arange(k)] = 1.0
    preset = Preset(
        name=name,
        description=f"hand-built test preset ({behaviour}): class i decodes to a decaying tone",
        sample_rate=sample_rate, frame_length=frame_length, latent_dim=latent_dim,
        classes=tuple(PresetClass(n, centroids[i], np.full(latent_dim, 0.1), 10)
                      for i, n in enumerate(classes)),
        pca=PCA(centroids.mean(0), components, np.ones(k)),
        midi=default_midi_map(list(classes), pca_axes=k, sustain=sustain),
        training={"arch": "hand-built", "config": {}, "data": "none (tests)",
                  "licence": "CC0-1.0", "attribution": "vae-synth tests", "metrics": {}},
        files=files,
    )
    write_preset(folder, preset)
    return folder


@pytest.fixture(scope="session")
def tones_preset(tmp_path_factory) -> Path:
    """Folder of a hand-built 'tones' preset: kick/snare/tom/hihat, 16 kHz, 2048 samples, D=8."""
    return make_test_preset(tmp_path_factory.mktemp("presets"), behaviour="tones")


@pytest.fixture(scope="session")
def loud_preset(tmp_path_factory) -> Path:
    """Folder of a hand-built preset whose decoder outputs +-10."""
    return make_test_preset(tmp_path_factory.mktemp("presets"), behaviour="loud")


@pytest.fixture(scope="session")
def nan_preset(tmp_path_factory) -> Path:
    """Folder of a hand-built preset whose decoder outputs NaN."""
    return make_test_preset(tmp_path_factory.mktemp("presets"), behaviour="nan")


# ------------------------------------------------------------------------ the real pipeline

# The real-time "fast" decoder (few MACs) and two epochs: the run's cost is mostly Keras compiling.
TINY_RECIPE = {
    "data": {"sources": ["synthetic:drums?n=48"], "sample_rate": 16000, "frame_length": 2048},
    "model": {"arch": "conv", "config": "fast", "latent_dim": 8},
    "schedule": {"steps": 10, "batch_size": 8, "seed": 0},
}


def train_tiny_run(run_dir: Path) -> dict:
    """Train :data:`TINY_RECIPE` into ``run_dir`` (~20 s on 2 cores); returns its metrics."""
    from vae_synth.train.recipe import Recipe
    from vae_synth.train.trainer import RunOptions, train

    return train(Recipe.from_dict(TINY_RECIPE), RunOptions(
        out=str(run_dir), verbose=0, tensorboard=False, monitor_every=0, checkpoint_every=100))


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory) -> Path:
    """RUN_DIR of a tiny real run trained by ``vae_synth.train`` (conv/fast VAE, latent 8,
    synthesised drums kick/snare/tom/hihat, 2048 samples at 16 kHz, 10 steps): ~20 s on 2 cores."""
    run_dir = tmp_path_factory.mktemp("runs") / "tiny-drums"
    train_tiny_run(run_dir)
    return run_dir


@pytest.fixture(scope="session")
def exported_preset(exported_run, tmp_path_factory) -> Path:
    """Folder of a preset exported by `vae_synth.export` from :func:`exported_run` (real
    tf2onnx conversion, parity-checked): what the engine and integration tests play."""
    from vae_synth.export.bundle import export_run

    out = tmp_path_factory.mktemp("exported") / "tiny-drums"
    export_run(exported_run, out, name="tiny-drums", show_progress=False)
    return out

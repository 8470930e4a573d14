"""The plugin core's pieces held against the Python engine's: numpy's variation noise and the latent
points. Its voice pool and output stage are native/mixer.cpp, shared with the player and held
against synth/voices.py and synth/output.py in tests/synth/test_synth_native.py."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from plugin_rig import CORE_CHECK, ROOT, require_build


@pytest.fixture(autouse=True)
def _built():
    require_build()


def _noise(a: int, b: int, n: int) -> np.ndarray:
    out = subprocess.run([str(CORE_CHECK), "noise", str(a), str(b), str(n)], capture_output=True,
                         check=True).stdout
    return np.frombuffer(out, dtype=np.float64)


@pytest.mark.parametrize("seed", [(0, 0), (0, 1), (3, 17), (12345, 2**32 + 5), (2**40, 7)])
def test_variation_noise_is_numpys_default_rng(seed):
    n = 2_000_000 if seed == (0, 1) else 50_000
    ours = _noise(*seed, n)
    numpy = np.random.default_rng(list(seed)).standard_normal(n)
    # the engine uses the draws as float32: identical; as float64 they agree to the last bits
    assert np.array_equal(ours.astype(np.float32), numpy.astype(np.float32))
    assert np.abs(ours - numpy).max() < 1e-13


@pytest.mark.parametrize("state", [
    dict(),
    dict(morph=0.7),
    dict(morph=0.4, x=0.2, y=0.9, xy_touched=True),
    dict(pca=(1.5, -0.75, 0.0, 2.0, 0.0, 0.0, -2.0, 0.3)),
    dict(variation=1.3, variation_seed=5),
    dict(morph=1.0, x=1.0, y=0.0, xy_touched=True, variation=0.25, variation_seed=1,
         pca=(0.5,) * 8),
])
@pytest.mark.parametrize("preset", ["drums", "digits"])
def test_latent_points_are_the_python_engines(preset, state):
    from vae_synth.synth.latent import LatentMap
    from vae_synth.synth.params import LatentState
    from vae_synth.synth.preset import load_preset

    loaded = load_preset(preset, check_onnx=False)
    s = LatentState(**state)
    expected = LatentMap.from_preset(loaded).points(s)
    args = [s.morph, s.x, s.y, s.variation, int(s.xy_touched), s.variation_seed, *s.pca]
    out = subprocess.run([str(CORE_CHECK), "latent", str(ROOT / "presets" / preset),
                          *map(repr, args)], capture_output=True, check=True).stdout
    ours = np.frombuffer(out, dtype=np.float32).reshape(expected.shape)
    assert np.array_equal(ours, expected)

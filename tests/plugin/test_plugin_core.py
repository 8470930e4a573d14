"""The plugin core's pieces held against the Python engine's: numpy's variation noise, the latent
points, and the voice pool + output stage through the mixer library's C ABI (ctypes)."""

from __future__ import annotations

import ctypes
import math
import subprocess

import numpy as np
import pytest
from plugin_rig import CORE_CHECK, MIXER_LIB, ROOT, require_build


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


class Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_float)), ("length", ctypes.c_int64),
                ("owner", ctypes.c_void_p)]


def _mixer_lib():
    lib = ctypes.CDLL(str(MIXER_LIB))
    lib.vs_mixer_new.restype = ctypes.c_void_p
    lib.vs_mixer_new.argtypes = [ctypes.c_int] * 4
    lib.vs_mixer_note_on.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, Buffer,
                                     ctypes.c_double, ctypes.c_double, ctypes.c_double,
                                     ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
                                     ctypes.c_double]
    lib.vs_mixer_note_off.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.vs_mixer_all_off.argtypes = [ctypes.c_void_p]
    dptr = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
    lib.vs_mixer_mix.argtypes = [ctypes.c_void_p, dptr, dptr, ctypes.c_int, ctypes.c_double]
    lib.vs_mixer_released.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_int]
    lib.vs_mixer_free.argtypes = [ctypes.c_void_p]
    lib.vs_output_new.restype = ctypes.c_void_p
    lib.vs_output_new.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.vs_output_process.argtypes = [ctypes.c_void_p, dptr, dptr, ctypes.c_int]
    lib.vs_output_free.argtypes = [ctypes.c_void_p]
    return lib


def test_the_mixer_library_mixes_as_synth_voices_and_output_do():
    from vae_synth.synth.output import OutputStage
    from vae_synth.synth.voices import VoicePool

    rate, max_frames, voices = 48000, 4096, 2
    rng = np.random.default_rng(7)
    # loud one-shots of different lengths (the limiter and the soft clip get work), ids as owners
    buffers = [np.ascontiguousarray(1.5 * rng.standard_normal(n).astype(np.float32))
               for n in (3000, 9000, 20000, 700)]
    lib = _mixer_lib()
    mixer = lib.vs_mixer_new(voices, rate, max_frames, 8)
    output = lib.vs_output_new(rate, max_frames)
    pool = VoicePool(voices, rate, max_frames)
    stage = OutputStage(rate, max_frames)
    # (block, note, class, gain, pan, rate, group, stop_at); group 0 chokes; 7 notes on 2 voices
    notes = {0: [(36, 0, 0.9, -0.3, 1.0, -1, math.inf)], 3: [(38, 1, 0.7, 0.5, 0.84, 0, math.inf)],
             5: [(42, 2, 1.0, 0.0, 1.19, 0, 5000.0)], 6: [(46, 3, 0.5, 0.9, 1.0, 0, math.inf)],
             8: [(36, 0, 1.0, -1.0, 1.5, -1, math.inf), (40, 1, 0.8, 0.2, 0.5, -1, math.inf)],
             9: [(41, 2, 0.6, 0.1, 2.0, -1, 9000.0)]}
    blocks = [128, 1, 4096, 77, 300, 128, 2048, 5, 640, 1024, 333, 4096, 4096]
    ours_l, ours_r, theirs = [], [], []
    for i, n in enumerate(blocks):
        for note, cls, gain, pan, speed, group, stop in notes.get(i, []):
            buf = buffers[cls]
            lib.vs_mixer_note_on(mixer, note, cls, Buffer(buf.ctypes.data_as(ctypes.POINTER(
                ctypes.c_float)), len(buf), cls + 1), gain, pan, speed, group, 0, 0, 0, stop)
            pool.note_on(note, cls, buf, gain, pan, speed, group, False, (0, 0), stop)
        if i == 11:
            lib.vs_mixer_all_off(mixer)
            pool.all_off()
        left, right = np.zeros(n), np.zeros(n)
        lib.vs_mixer_mix(mixer, left, right, n, 1.0 if i < 7 else 1.0594630943592953)
        lib.vs_output_process(output, left, right, n)
        mix = np.zeros((2, n))
        pool.mix(mix[0], mix[1], 0, n, 1.0 if i < 7 else 1.0594630943592953)
        stage.process(mix)
        ours_l.append(left)
        ours_r.append(right)
        theirs.append(mix)
    released = (ctypes.c_void_p * 64)()
    owners = [released[k] for k in range(lib.vs_mixer_released(mixer, released, 64))]
    lib.vs_mixer_free(mixer)
    lib.vs_output_free(output)
    expected = np.concatenate(theirs, axis=1)
    assert np.abs(expected).max() > 0.5 and pool.stolen > 0 and pool.choked > 0
    assert np.array_equal(np.concatenate(ours_l), expected[0])
    assert np.array_equal(np.concatenate(ours_r), expected[1])
    assert set(owners) <= {1, 2, 3, 4} and len(owners) >= 6   # every finished voice let go

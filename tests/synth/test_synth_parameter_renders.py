"""Every engine parameter moved in one render of each bundled preset, against recorded figures.

The knobs' tapers (volume, pitch, bend, decay, macros, variation, morph, XY) act where nobody
listens closely in a unit test: in the engine's mix and the latent map. This render moves each of
them once, between notes, through the same MIDI path as live play, and compares the level of
every 25 ms block (per channel, so pan counts too) with the figures recorded in
``data/parameter_renders.json``. They were recorded before the tapers moved into the parameter
table (synth/params.py), and the renders after the move were bit-identical to those before.

After a deliberate change of the sound (a new taper, a rebuilt bundled preset) record them again:
``python tests/synth/test_synth_parameter_renders.py --write``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REFERENCE = Path(__file__).with_name("data") / "parameter_renders.json"
RATE = 48000
BLOCK = 1200  # 25 ms
SECONDS = 3.0
# CC numbers bound to the parameters the bundled maps leave unbound
EXTRA_CONTROLS = {70: "decay", 71: "pitch"}
PADS = {"drums": (36, 38, 42, 41), "drums-22k": (36, 38, 42, 41), "digits": (60, 61, 62, 63)}


def events(pads: tuple[int, int, int, int]) -> list[tuple[int, list[int]]]:
    """[(sample, MIDI bytes)]: a note every 0.25 s, each after one more parameter moved."""
    def at(t):
        return int(t * RATE)

    out = []

    def hit(t, note, velocity=100, hold=0.2):
        out.append((at(t), [0x90, note, velocity]))
        out.append((at(t + hold), [0x80, note, 0]))

    a, b, c, d = pads
    hit(0.0, a)
    out.append((at(0.25), [0xB0, 7, 127]))                    # volume
    hit(0.25, b)
    out.append((at(0.5), [0xE0, 0x18, 0x58]))                 # pitch bend up
    hit(0.5, c)
    out.append((at(0.75), [0xB0, 71, 100]))                   # pitch (transpose)
    hit(0.75, a)
    out.append((at(1.0), [0xB0, 70, 30]))                     # decay
    hit(1.0, b)
    out.append((at(1.25), [0xB0, 1, 90]))                     # morph
    hit(1.25, d)
    out.append((at(1.5), [0xB0, 20, 110]))                    # macros pca1, pca2
    out.append((at(1.5), [0xB0, 21, 10]))
    hit(1.5, a)
    out.append((at(1.75), [0xB0, 18, 60]))                    # variation
    hit(1.75, b)
    out.append((at(2.0), [0xB0, 16, 127]))                    # XY pad
    out.append((at(2.0), [0xB0, 17, 0]))
    hit(2.0, c)
    out.append((at(2.25), [0xB0, 7, 40]))                     # volume down, softer hit
    hit(2.25, d, velocity=60)
    return sorted(out, key=lambda e: e[0])


def render(name: str) -> np.ndarray:
    """[SECONDS * RATE, 2] float32: the bundled preset ``name`` through the offline renderer."""
    from vae_synth.synth.engine import Engine
    from vae_synth.synth.preset import load_preset
    from vae_synth.synth.render import Renderer

    preset = load_preset(name)
    engine = Engine(preset, RATE, 128, 16, device="cpu", learn=False)
    engine.router.set_controls({**preset.midi.controls, **EXTRA_CONTROLS})
    return Renderer(engine).render(events(PADS[name]), int(SECONDS * RATE))


def block_levels(audio: np.ndarray) -> np.ndarray:
    """[blocks, 2] float64: RMS of each BLOCK-frame block of audio [frames, 2], per channel."""
    blocks = audio[: len(audio) // BLOCK * BLOCK].astype(np.float64).reshape(-1, BLOCK, 2)
    return np.sqrt((blocks ** 2).mean(axis=1))


def _decoder_hash(name: str) -> str:
    from vae_synth.synth.preset import resolve_preset, sha256_file

    return sha256_file(resolve_preset(name) / "decoder.onnx")


@pytest.mark.parametrize("name", sorted(PADS))
def test_every_parameter_renders_as_recorded(name):
    reference = json.loads(REFERENCE.read_text())[name]
    assert _decoder_hash(name) == reference["decoder_sha256"], (
        f"the bundled {name} preset changed since the figures were recorded: record them again "
        f"(python tests/synth/test_synth_parameter_renders.py --write)")
    audio = render(name)
    assert np.all(np.isfinite(audio))
    levels = block_levels(audio)
    expected = np.asarray(reference["block_rms"], np.float64)
    assert levels.shape == expected.shape
    # float tolerance: other CPUs' ONNX Runtime kernels round differently, far below this
    np.testing.assert_allclose(levels, expected, rtol=1e-4, atol=1e-6)


def test_the_render_hears_every_parameter():
    """Each move in the script changes what is heard: with it left out the levels differ."""
    from vae_synth.synth.engine import Engine
    from vae_synth.synth.preset import load_preset
    from vae_synth.synth.render import Renderer

    preset = load_preset("drums")
    base = block_levels(render("drums"))
    moves = [e for e in events(PADS["drums"]) if e[1][0] in (0xB0, 0xE0)]
    for move in moves:
        engine = Engine(preset, RATE, 128, 16, device="cpu", learn=False)
        engine.router.set_controls({**preset.midi.controls, **EXTRA_CONTROLS})
        script = [e for e in events(PADS["drums"]) if e != move]
        levels = block_levels(Renderer(engine).render(script, int(SECONDS * RATE)))
        assert np.max(np.abs(levels - base)) > 1e-3, f"leaving out {move} changes nothing"


def _write() -> None:
    figures = {name: {"decoder_sha256": _decoder_hash(name),
                      "block_rms": [[float(f"{v:.9g}") for v in row]
                                    for row in block_levels(render(name))]}
               for name in sorted(PADS)}
    from vae_synth.synth.atomic import write_text

    write_text(REFERENCE, json.dumps(figures, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {REFERENCE}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: python {sys.argv[0]} --write")
    _write()

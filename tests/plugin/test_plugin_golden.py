"""Golden audio: the same MIDI file through the VST3 (pedalboard), the CLAP and the LV2 (the test
hosts) and `vae-synth render`; then host parameter automation between render chunks.

The three plugin formats run one core and must agree to 1e-6. Against the Python engine the
plugin is held to TOLERANCE (3e-6, about 100 float32 steps at the renders' peaks of 0.3): the
arithmetic is the same step by step (the latent points, the noise and the mixer are equal bit for
bit, test_plugin_core.py); what remains is one summation order: the resampler sums its taps in
float64 where numpy's float32 matrix product (BLAS) rounds as it goes. Measured: 6e-8 to 9e-8
(the drums file 6.0e-8, with automation 8.9e-8; digits 7.5e-8).
"""

from __future__ import annotations

import subprocess
import sys

import mido
import numpy as np
import pytest
import soundfile as sf
from plugin_rig import (
    CEILING,
    host_env,
    preset_numbers,
    python_render,
    render_vst3,
    require_build,
    run_host,
)

RATE = 48000
BLOCK = 128
TOLERANCE = 3e-6
FORMATS_AGREE = 1e-6
TICKS = 480          # per beat; at 120 bpm one tick is 50 samples at 48 kHz
SWEEP_STEP = 64      # ticks between controller steps: 3200 samples, a multiple of the block


def _midi_file(path, preset: str):
    """Notes off the block grid, and a controller sweep on it (a VST3 host turns controllers
    into parameter changes at block starts)."""
    mid = mido.MidiFile(ticks_per_beat=TICKS)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    events = []  # (tick, message)
    if preset == "drums":
        pads = [(1, 36, 100), (97, 38, 110), (193, 42, 90), (241, 46, 80), (289, 44, 70),
                (337, 41, 127), (385, 45, 100), (433, 36, 64), (481, 38, 127), (530, 42, 100)]
        for tick, note, velocity in pads:
            events.append((tick, mido.Message("note_on", note=note, velocity=velocity, channel=9)))
            events.append((tick + 20, mido.Message("note_off", note=note, velocity=0, channel=9)))
        controls = [(1, 0, 127), (16, 200, 40), (17, 300, 90), (18, 400, 50), (20, 450, 100), (7, 500, 90)]
    else:
        for tick, note in [(1, 60), (130, 62), (260, 64), (390, 66)]:
            events.append((tick, mido.Message("note_on", note=note, velocity=100)))
            events.append((tick + 110, mido.Message("note_off", note=note, velocity=0)))
        controls = [(1, 0, 127), (18, 256, 60), (21, 384, 100)]
    for cc, start, top in controls:
        for step in range(8):
            tick = (start // SWEEP_STEP + step) * SWEEP_STEP
            value = int(round(top * step / 7))
            events.append((tick, mido.Message("control_change", control=cc, value=value)))
    events.sort(key=lambda e: e[0])
    last = 0
    for tick, message in events:
        track.append(message.copy(time=tick - last))
        last = tick
    mid.save(path)
    return path


def _host_events(midi_path):
    from vae_synth.synth.render import midi_events

    return [("midi", sample, message) for sample, message in midi_events(midi_path, RATE)]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    require_build()
    return tmp_path_factory.mktemp("home")


def _check_formats(events, frames, tmp, env, preset):
    params = {"preset": preset_numbers(env)[preset]}
    clap, _ = run_host("clap", events, frames, tmp, env, RATE, (BLOCK,), params=params)
    lv2, _ = run_host("lv2", events, frames, tmp, env, RATE, (BLOCK,), params=params)
    vst3, _ = render_vst3(events, frames, tmp, env, RATE, BLOCK, params=params)
    for name, audio in (("clap", clap), ("lv2", lv2), ("vst3", vst3)):
        assert np.isfinite(audio).all(), name
        assert np.abs(audio).max() <= CEILING + 1e-6, name
    for name, audio in (("lv2", lv2), ("vst3", vst3)):
        apart = np.nonzero(np.abs(clap - audio).max(axis=1) > FORMATS_AGREE)[0]
        assert apart.size == 0, f"clap and {name} differ from frame {apart[:1]} on ({apart.size} frames)"
    return clap


@pytest.mark.parametrize("preset", ["drums", "digits"])
def test_midi_file_renders_alike_in_every_format_and_in_vae_synth_render(preset, home, tmp_path):
    env = host_env(home)
    midi = _midi_file(tmp_path / f"{preset}.mid", preset)
    wav = tmp_path / f"{preset}.wav"
    proc = subprocess.run([sys.executable, "-m", "vae_synth", "render", "--preset", preset,
                           "--midi", str(midi), "--out", str(wav), "--samplerate", str(RATE),
                           "--blocksize", str(BLOCK)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    reference, rate = sf.read(wav, dtype="float32")
    assert rate == RATE
    events = _host_events(midi)
    plugin = _check_formats(events, len(reference), tmp_path, env, preset)
    assert np.abs(reference).max() > 0.05  # it plays
    assert np.abs(plugin - reference).max() <= TOLERANCE


@pytest.mark.parametrize("preset", ["drums", "digits"])
def test_host_automation_between_chunks_matches_the_engine(preset, home, tmp_path):
    env = host_env(home)
    events = _host_events(_midi_file(tmp_path / f"{preset}.mid", preset))
    # automation on block boundaries, in the engine's normalised units
    automation = [("param", 2 * 3200, "morph", 0.35), ("param", 4 * 3200, "variation", 0.4),
                  ("param", 6 * 3200, "pca1", 0.8), ("param", 7 * 3200, "decay", 0.5),
                  ("param", 8 * 3200, "pitch", 0.625), ("param", 9 * 3200, "volume", 0.6),
                  ("param", 10 * 3200, "x", 0.9)]
    events = sorted(events + automation, key=lambda e: e[1])
    frames = events[-1][1] + RATE
    plugin = _check_formats(events, frames, tmp_path, env, preset)
    reference = python_render(preset, events, frames, RATE, BLOCK)
    assert np.abs(reference).max() > 0.05
    assert np.abs(plugin - reference).max() <= TOLERANCE

"""The presets shipped in presets/: they load, decode distinct and audible classes, keep their
recorded quality, carry their licences, and play without TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import vae_synth.presets
from vae_synth.evaluate import bars
from vae_synth.evaluate.metrics import strongest_comb
from vae_synth.synth.preset import load_preset, resolve_preset
from vae_synth.synth.runtime import make_session

BUNDLED_DIR = Path(vae_synth.presets.__file__).parent
BUNDLED = ("drums", "drums-22k", "digits")

# The quality each bundled preset must keep (from its own `vae-synth evaluate` report,
# evaluation.json). Where a preset meets the target of issue 7 the bound is that target; where it
# does not yet (its README says by how much) the bound is the figure it reaches now, so that a
# retrained bundle that is worse fails here. Keys with a dot reach into nested objects; "±" bounds
# the size of a figure that should be near 0 (dB against the real clips).
QUALITY = {
    # issue 20's bars (evaluate/bars.py), all met on this draw (seed 0; the other draws' and
    # initialisations' figures are in the model card); and no sub-sonic lump in the kick and tom
    # pads: their share of energy below 40 Hz at most 6 dB over the held-out clips' (the
    # preset before had 78 % there, +10 and +32 dB; this one -3.8 and +2.6 dB)
    "drums": {**bars.FULLBAND_DRUMS,
              **{f"per_class.{c}.sub_bass.pad_centre_vs_real_db": ("<=", 6.0)
                 for c in ("kick", "tom")}},
    "drums-22k": {
        "recon_ratio": ("<=", 0.8),                                     # target 0.8 (goal 0.5): 0.55
        "training_centroids.centroid_level_db": (">=", -6.0),           # the centres it plays: ±6 dB
        "centroid_level_db": (">=", -6.0),
        "centroid_level_db_min": (">=", -6.0),                          # every class: worst -4.9
        # MFCC-DTW of the centres it plays: -4.02 (the same recipe trained on other machines:
        # -3.14 and -4.60; docs/notes/2026-12-03-drums-rebuilt-again.md)
        "training_centroids.centroid_dist_mean": ("<=", -3.0),
        "morph_smoothness": ("<=", 3.0),                                # 2.06
        "comb_db": ("<=", 6.0),                                         # no buzz: 3.3 (was 21.6)
        # target 0.95, met: all 18 held-out clips (the preset before: 16 and 15 of 18)
        "one_nn_accuracy": (">=", 0.95),
        "nearest_centroid_accuracy": (">=", 0.95),
        "training_centroids.nearest_centroid_accuracy": (">=", 0.95),
    },
    "digits": {
        "recon_ratio": ("<=", 0.8),                                     # target 0.8 (goal 0.5): 0.68
        "training_centroids.centroid_level_db": (">=", -6.0),
        "centroid_level_db_min": (">=", -6.0),                          # every class: worst -5.7
        "morph_smoothness": ("<=", 3.0),                                # 1.60
        # target 0.98, met: all 50 held-out clips (speaker theo, docs/notes/2026-11-25-real-take-reference-and-theo.md)
        "one_nn_accuracy": (">=", 0.98),
        "nearest_centroid_accuracy": (">=", 0.98),
        "training_centroids.nearest_centroid_accuracy": (">=", 0.98),
        "centroid_dist_mean": ("<=", -0.45),                            # target -0.33 (goal -0.5): -0.48
    },
}


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_preset_resolves_by_name_from_any_directory(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "no-user-presets"))
    monkeypatch.delenv("VAE_SYNTH_PRESETS", raising=False)
    assert resolve_preset(name) == BUNDLED_DIR / name
    preset = load_preset(name)  # full validation: sha256 of every file, ONNX names and shapes
    assert preset.name == name


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_preset_decodes_audible_distinct_classes(name):
    preset = load_preset(name)
    batch = make_session(preset.file("decoder_batch"), device="cpu")
    single = make_session(preset.file("decoder"), device="cpu")
    audio = batch.run(["audio"], {"z": preset.centroids})[0]
    n_classes = len(preset.classes)
    assert audio.shape == (n_classes, preset.frame_length)
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0
    # The fixed-batch decoder the engine uses for single notes gives the same sound.
    first = single.run(["audio"], {"z": preset.centroids[:1]})[0]
    np.testing.assert_allclose(first[0], audio[0], atol=1e-5)

    rms_db = 20 * np.log10(np.sqrt((audio**2).mean(axis=1)) + 1e-12)
    assert rms_db.min() > -40.0, f"a class centre is near-silent: {dict(zip(preset.class_names, rms_db, strict=True))}"
    # Not one sound for every class: log-spectra of the centres differ clearly pairwise.
    spectra = np.log(np.abs(np.fft.rfft(audio * np.hanning(preset.frame_length), axis=1)) + 1e-6)
    distances = np.abs(spectra[:, None] - spectra[None]).mean(axis=-1)
    off_diagonal = distances[~np.eye(n_classes, dtype=bool)]
    assert off_diagonal.min() > 0.3, distances.round(2)
    if name.startswith("drums"):
        # No buzz: the pads' sounds carry no comb of spectral peaks at multiples of sr / period
        # (a drums decoder without the noise branch: 28 dB; with it about 3 dB). The
        # digits' decoder still voices with one (8 dB, docs/notes/2026-11-24-digits-decoder-comb.md): not asserted.
        period, comb_db = strongest_comb(audio)
        assert comb_db < 6.0, f"drums centres buzz: {comb_db:.1f} dB every {period} samples"


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_preset_keeps_its_recorded_quality(name):
    preset = load_preset(name)
    metrics = json.loads((preset.path / "evaluation.json").read_text())
    assert metrics["model"]["name"] == name
    assert metrics["data"]["split"] == "test"  # figures on held-out clips, never training clips
    missed = bars.failures(metrics, QUALITY[name])
    assert not missed, missed
    card = (preset.path / "README.md").read_text()
    assert "## Reproduce" in card and "vae-synth train" in card
    for picture in ("latent_pca_tsne.png", "centroid_spectrograms.png", "morph_strip.png"):
        assert (preset.path / picture).stat().st_size > 1000
        assert f"]({picture})" in card


def test_bundled_presets_carry_their_data_licences():
    digits = load_preset("digits")
    assert digits.training["licence"] == "CC-BY-SA-4.0"
    assert "Free Spoken Digit Dataset" in digits.training["attribution"]
    assert "CC BY-SA 4.0" in (digits.path / "LICENSE").read_text()
    assert digits.midi.sustain  # spoken digits are held and morphed, not one-shots
    drums_22k = load_preset("drums-22k")
    assert drums_22k.training["licence"] == "CC0-1.0"
    # the full-band drums also learn from a CC-BY 3.0 kit, credited in the bundle
    drums = load_preset("drums")
    assert drums.training["licence"] == "CC-BY-3.0 AND CC0-1.0"
    assert "rumpf_kit_z01 by Emanuel Rumpf, CC BY 3.0" in drums.training["attribution"]
    assert "rumpf_kit_z01 by Emanuel Rumpf" in (drums.path / "LICENSE").read_text()
    assert "Emanuel Rumpf" in (drums.path / "README.md").read_text()
    for kit in (drums, drums_22k):
        assert kit.class_names == ["hihat", "kick", "snare", "tom"]
        assert kit.midi.notes[36] == "kick" and kit.midi.notes[38] == "snare"
    assert (drums.sample_rate, drums_22k.sample_rate) == (44100, 22050)


def test_bundled_presets_are_small_enough_for_git():
    for name in BUNDLED:
        size = sum(p.stat().st_size for p in (BUNDLED_DIR / name).iterdir())
        assert size < 20e6, f"{name}: {size / 1e6:.1f} MB"


RENDER_WITHOUT_TENSORFLOW = """
import sys, mido, numpy as np, soundfile as sf
from vae_synth.cli import main
mid = mido.MidiFile(ticks_per_beat=480); track = mido.MidiTrack(); mid.tracks.append(track)
for i, note in enumerate([36, 42, 38, 45]):
    track.append(mido.Message("note_on", channel=9, note=note, velocity=110, time=0 if i == 0 else 240))
mid.save(sys.argv[1])
code = main(["render", "--preset", "drums", "--midi", sys.argv[1], "--out", sys.argv[2]])
audio, rate = sf.read(sys.argv[2])
heavy = [m for m in ("tensorflow", "keras", "tf2onnx", "onnx") if m in sys.modules]
print(code, rate, audio.shape[0], float(np.sqrt((audio ** 2).mean())), ",".join(heavy) or "-")
"""


def test_playing_the_bundled_drums_never_loads_tensorflow(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", RENDER_WITHOUT_TENSORFLOW, str(tmp_path / "beat.mid"),
         str(tmp_path / "beat.wav")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    code, rate, frames, rms, heavy = result.stdout.split()[-5:]
    assert code == "0" and heavy == "-"
    assert int(frames) > int(rate)  # four hits and their tails: over a second of audio
    assert float(rms) > 0.01  # it really sounds

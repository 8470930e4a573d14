"""The exporter's pure parts: default MIDI map, class statistics, PCA axes (known answers)."""

from __future__ import annotations

import numpy as np
import pytest
from vae_synth.export.midimap import default_midi_map, default_notes, drum_category
from vae_synth.export.stats import class_stats, pca
from vae_synth.synth.preset import PresetError, preset_from_dict


def test_gm_drum_notes_for_the_drum_classes():
    notes = default_notes(["kick", "snare", "tom", "hihat"])
    assert {n: c for n, c in notes.items()} == {
        35: "kick", 36: "kick", 38: "snare", 40: "snare", 42: "hihat", 44: "hihat", 46: "hihat",
        41: "tom", 43: "tom", 45: "tom", 47: "tom", 48: "tom", 50: "tom"}


def test_drum_map_controls_and_groups():
    m = default_midi_map(["kick", "snare", "tom", "hihat"], pca_axes=3)
    assert m.controls == {1: "morph", 7: "volume", 16: "x", 17: "y", 18: "variation",
                          20: "pca1", 21: "pca2", 22: "pca3"}
    assert m.morph_target == "snare"
    assert m.xy_corners == ("kick", "snare", "tom", "hihat")
    assert m.choke_groups == (("hihat",),)
    assert m.sustain is False
    assert m.pitch == {41: -6, 43: -4, 45: -2, 47: 0, 48: 2, 50: 4}
    assert m.pan == {"hihat": -0.25}
    assert m.to_dict()["pitch"] == {"41": -6.0, "43": -4.0, "45": -2.0, "47": 0.0, "48": 2.0,
                                    "50": 4.0}
    two_toms = default_midi_map(["kick", "tom_low", "tom_high"])
    assert two_toms.pitch == {} and two_toms.pan == {}  # each tom class has its own pads


def test_ten_digits_get_ten_keys_from_middle_c_and_sustain():
    digits = [str(i) for i in range(10)]
    m = default_midi_map(digits, pca_axes=20)
    assert m.notes == {60 + i: str(i) for i in range(10)}
    assert m.sustain is True and m.choke_groups == ()
    assert m.morph_target == "1" and m.xy_corners == ("0", "1", "2", "3")
    # At most 8 PCA knobs (CC 20-27).
    assert [m.controls[cc] for cc in range(20, 28)] == [f"pca{i}" for i in range(1, 9)]
    assert 28 not in m.controls


def test_mixed_and_unknown_names():
    assert drum_category("Open_HiHat") == "hihat" and drum_category("Kick 2") == "kick"
    assert drum_category("zero") is None
    notes = default_notes(["kick", "tom_low", "tom_high", "clap", "blip", "bloop"])
    assert notes[36] == "kick" and notes[39] == "clap"
    assert notes[41] == "tom_low" and notes[43] == "tom_high" and notes[45] == "tom_low"
    assert notes[60] == "blip" and notes[61] == "bloop"
    # Every class is playable from some key.
    assert set(notes.values()) == {"kick", "tom_low", "tom_high", "clap", "blip", "bloop"}


def test_one_and_two_class_maps_are_valid_presets(tones_preset):
    import json

    doc = json.loads((tones_preset / "preset.json").read_text())
    for names in (["hit"], ["a", "b"]):
        doc2 = dict(doc, classes=[dict(doc["classes"][0], name=n) for n in names])
        doc2["midi"] = default_midi_map(names, pca_axes=len(doc["pca"]["components"])).to_dict()
        assert len(preset_from_dict(doc2).midi.xy_corners) == 4


def test_default_map_fails_validation_when_pca_axes_overstated(tones_preset):
    import json

    doc = json.loads((tones_preset / "preset.json").read_text())
    doc["midi"] = default_midi_map(["kick", "snare", "tom", "hihat"], pca_axes=6).to_dict()  # 4 axes
    with pytest.raises(PresetError, match="pca5.*4 PCA axes"):
        preset_from_dict(doc)


def test_class_stats_known_answer():
    mu = np.array([[0, 0], [2, 0], [10, 10], [10, 12], [10, 14]], float)
    y = np.array([0, 0, 1, 1, 1])
    s = class_stats(mu, y, ["a", "b"])
    np.testing.assert_allclose(s[0].centroid, [1, 0])
    np.testing.assert_allclose(s[0].std, [1, 0])
    np.testing.assert_allclose(s[1].centroid, [10, 12])
    np.testing.assert_allclose(s[1].std, [0, np.sqrt(8 / 3)])
    assert (s[0].count, s[1].count) == (2, 3)


def test_class_without_training_clips_uses_held_out_or_fails():
    mu, y = np.zeros((3, 2)), np.zeros(3, int)
    s = class_stats(mu, y, ["a", "b"], fallback_mu=np.ones((2, 2)), fallback_labels=np.array([1, 1]))
    np.testing.assert_allclose(s[1].centroid, [1, 1])
    assert s[1].count == 0
    with pytest.raises(ValueError, match="class 'b' has no clip"):
        class_stats(mu, y, ["a", "b"])


def test_pca_axes_strongest_first_and_orthonormal():
    rng = np.random.default_rng(1)
    # Variance 9 along (1, 1, 0)/sqrt2, 1 along (0, 0, 1), ~0 along the rest.
    a = rng.standard_normal((2000, 1)) * 3.0
    b = rng.standard_normal((2000, 1))
    mu = np.hstack([a, a, b]) / np.array([np.sqrt(2), np.sqrt(2), 1.0]) + 5.0
    axes = pca(mu)
    assert axes.components.shape == (3, 3)
    np.testing.assert_allclose(axes.mean, [5, 5, 5], atol=0.2)
    # float32, as the preset stores them
    assert axes.components.dtype == np.float32
    np.testing.assert_allclose(axes.components @ axes.components.T, np.eye(3), atol=1e-6)
    np.testing.assert_allclose(np.abs(axes.components[0]), [2 ** -0.5, 2 ** -0.5, 0], atol=0.02)
    np.testing.assert_allclose(np.abs(axes.components[1]), [0, 0, 1], atol=0.02)
    assert axes.explained_variance[0] == pytest.approx(9.0, rel=0.1)
    assert axes.explained_variance[1] == pytest.approx(1.0, rel=0.1)
    assert axes.explained_variance[2] < 1e-9
    # Deterministic signs: the largest entry of each axis is positive.
    assert all(r[np.abs(r).argmax()] > 0 for r in axes.components)
    assert pca(mu[:3]).components.shape == (2, 3)  # k <= N - 1
    with pytest.raises(ValueError):
        pca(mu[:1])

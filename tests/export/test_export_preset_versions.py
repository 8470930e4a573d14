"""The preset format is one schema with a version: a ``Preset`` written by ``write_preset`` reads
back as the same preset, and bundles of an older version (the bundled presets, and a version-1
preset.json as the exporter wrote it before version 2) load migrated and play alike."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fixtures_preset import make_test_preset
from vae_synth.synth.preset import (
    VERSION,
    PresetError,
    PresetFile,
    load_preset,
    migrate,
    preset_from_dict,
    resolve_preset,
    write_preset,
)

V1_FIXTURE = Path(__file__).with_name("data") / "preset_v1.json"


def _without(doc: dict, *keys: str) -> dict:
    return {k: v for k, v in doc.items() if k not in keys}


def test_a_version_1_document_migrates_to_the_current_version():
    v1 = json.loads(V1_FIXTURE.read_text())
    before = copy.deepcopy(v1)
    doc = migrate(v1)
    assert v1 == before, "migrate must not change the caller's document"
    assert (v1["version"], doc["version"], VERSION) == (1, 2, 2)
    assert doc["midi"]["pitch"] == v1["midi"]["pitch"] and doc["midi"]["pan"] == v1["midi"]["pan"]
    preset = preset_from_dict(v1)
    assert preset.midi.pitch == {41: -6.0, 43: -4.0, 45: -2.0, 47: 0.0, 48: 2.0, 50: 4.0}
    assert preset.midi.pan == {"hihat": -0.25}
    assert preset.export == v1["export"] and preset.extra == {}
    assert preset.to_dict()["version"] == 2
    # version 1 had pitch and pan optional (the digits preset has neither)
    del v1["midi"]["pitch"], v1["midi"]["pan"]
    plain = preset_from_dict(v1)
    assert (plain.midi.pitch, plain.midi.pan) == ({}, {})


def test_a_version_1_bundle_loads_as_the_same_preset_its_exporter_writes_today(tmp_path):
    """The same hand-built bundle, once with the version-1 preset.json the fixture wrote before
    version 2, once as written now: the loaded presets are the same, field for field."""
    today = load_preset(make_test_preset(tmp_path / "v2", name="tones-v1"))
    folder = make_test_preset(tmp_path / "v1", name="tones-v1")
    v1 = json.loads(V1_FIXTURE.read_text())
    v1["files"] = json.loads((folder / "preset.json").read_text())["files"]  # these ONNX files
    (folder / "preset.json").write_text(json.dumps(v1))
    old = load_preset(folder)
    assert _without(old.to_dict(), "export") == _without(today.to_dict(), "export")
    assert old.export["opset"] == 17 and today.export == {}


@pytest.mark.parametrize("name", ["drums", "drums-22k", "digits"])
def test_the_bundled_presets_load_and_write_back_whole(name, tmp_path):
    # digits is a version-1 bundle (migrated on load), the drums were exported as version 2
    raw = json.loads((resolve_preset(name) / "preset.json").read_text())
    assert raw["version"] == {"drums": 2, "drums-22k": 2, "digits": 1}[name]
    preset = load_preset(name)
    assert preset.midi.pitch == {int(k): float(v) for k, v in raw["midi"].get("pitch", {}).items()}
    assert preset.midi.pan == raw["midi"].get("pan", {})
    assert preset.export == raw["export"] and preset.training == raw["training"]
    # written again (current version) and read back: nothing lost, nothing changed
    write_preset(tmp_path, replace(preset, path=None))
    again = preset_from_dict(json.loads((tmp_path / "preset.json").read_text()))
    assert again.to_dict() == preset.to_dict()
    np.testing.assert_array_equal(again.centroids, preset.centroids)
    assert again.to_dict()["version"] == 2


def test_write_preset_refuses_an_invalid_preset_and_writes_nothing(tmp_path):
    preset = load_preset(make_test_preset(tmp_path, name="good"))
    out = tmp_path / "out"
    out.mkdir()
    bad = replace(preset, midi=replace(preset.midi, controls={1: "morf"}), path=None)
    with pytest.raises(PresetError, match="unknown engine parameter 'morf'"):
        write_preset(out, bad)
    assert list(out.iterdir()) == []
    missing = replace(preset, files={"decoder": PresetFile("decoder.onnx", "0" * 64)})
    with pytest.raises(PresetError, match="files.decoder_batch"):
        write_preset(out, missing)
    with pytest.raises(ValueError, match="not loaded from a folder"):
        replace(preset, path=None).file("decoder")


def _doc(tmp_path) -> dict:
    return json.loads((make_test_preset(tmp_path, name="doc") / "preset.json").read_text())


@pytest.mark.parametrize("edit,words", [
    (lambda m: m.pop("pitch"), "missing required field 'midi.pitch'"),
    (lambda m: m.pop("pan"), "missing required field 'midi.pan'"),
    (lambda m: m["pitch"].update({"100": 3}), "midi.pitch[100] tunes note 100"),
    (lambda m: m["pitch"].update({"41": "low"}), "midi.pitch['41'] must be a number"),
    (lambda m: m["pitch"].update({"41": 96}), "beyond +-48"),
    (lambda m: m["pitch"].update({"41": float("nan")}), "not finite"),
    (lambda m: m["pan"].update({"crash": 0.5}), "midi.pan names unknown class 'crash'"),
    (lambda m: m["pan"].update({"kick": 1.5}), "midi.pan['kick'] = 1.5 is outside [-1, 1]"),
])
def test_version_2_validates_pitch_and_pan(tmp_path, edit, words):
    doc = _doc(tmp_path)
    assert doc["version"] == 2
    edit(doc["midi"])
    with pytest.raises(PresetError) as err:
        preset_from_dict(doc)
    assert words in str(err.value)


def test_export_must_be_an_object(tmp_path):
    doc = _doc(tmp_path)
    doc["export"] = "yesterday"
    with pytest.raises(PresetError, match="'export' must be an object"):
        preset_from_dict(doc)
    del doc["export"]  # optional: a hand-built preset need not say how it was exported
    assert preset_from_dict(doc).export == {}

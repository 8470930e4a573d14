"""The preset bundle: loading a valid bundle, and a PresetError naming the file for each bad case.

Every bundle here is real: ONNX files built with onnx.helper (tests/fixtures_preset.py), opened in
ONNX Runtime by the loader.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures_preset import make_test_preset, test_tones
from vae_synth.synth.preset import (
    PresetError,
    list_presets,
    load_preset,
    preset_from_dict,
    resolve_preset,
    sha256_file,
)
from vae_synth.synth.runtime import cuda_unusable_reason, make_session, session_device, warm_up


@pytest.fixture
def preset_dir(tmp_path) -> Path:
    return make_test_preset(tmp_path, name="good")


def _edit_json(folder: Path, edit) -> Path:
    path = folder / "preset.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return path


def _rehash(folder: Path, role: str) -> None:
    """Update preset.json's sha256 for ``role`` so that a later check, not the hash, must fail."""
    _edit_json(folder, lambda d: d["files"][role].update(
        sha256=sha256_file(folder / d["files"][role]["path"])))


def test_valid_preset_loads_with_the_documented_fields(preset_dir):
    p = load_preset(preset_dir)
    assert p.path == preset_dir.resolve()
    assert (p.name, p.sample_rate, p.frame_length, p.latent_dim) == ("good", 16000, 2048, 8)
    assert p.class_names == ["kick", "snare", "tom", "hihat"]
    assert p.centroids.shape == (4, 8) and p.centroids.dtype == np.float32
    np.testing.assert_array_equal(p.centroids[1], 2.0 * np.eye(8, dtype=np.float32)[1])
    assert p.classes[2].std.shape == (8,) and p.classes[2].count == 10
    assert p.pca.components.shape == (4, 8) and p.pca.explained_variance.shape == (4,)
    assert p.midi.notes[36] == "kick" and p.midi.notes[38] == "snare" and p.midi.notes[42] == "hihat"
    assert p.midi.notes[41] == "tom" and 35 in p.midi.notes
    assert p.midi.controls == {1: "morph", 7: "volume", 16: "x", 17: "y", 18: "variation",
                               20: "pca1", 21: "pca2", 22: "pca3", 23: "pca4"}
    assert p.midi.morph_target == "snare" and p.midi.xy_corners == ("kick", "snare", "tom", "hihat")
    assert p.midi.choke_groups == (("hihat",),) and p.midi.sustain is False
    assert p.training["licence"] == "CC0-1.0"
    for role in ("decoder", "decoder_batch", "encoder", "classifier"):
        assert p.file(role) == preset_dir.resolve() / f"{role}.onnx"
    with pytest.raises(KeyError):
        p.file("vocoder")
    # Arrays are read-only: the engine shares them between threads.
    with pytest.raises(ValueError):
        p.classes[0].centroid[0] = 1.0


def test_preset_decodes_in_onnx_runtime(preset_dir):
    p = load_preset(preset_dir)
    dec = make_session(p.file("decoder"), device="cpu")
    assert session_device(dec) == "cpu"
    assert warm_up(dec) >= 0.0
    one = dec.run(None, {"z": p.centroids[2:3]})[0]
    bank = make_session(p.file("decoder_batch")).run(None, {"z": p.centroids})[0]
    tones = test_tones(4, 16000, 2048)
    assert one.shape == (1, 2048) and bank.shape == (4, 2048)
    np.testing.assert_allclose(one[0], tones[2], atol=1e-5)
    np.testing.assert_allclose(bank, tones, atol=1e-5)
    mu, logvar = make_session(p.file("encoder")).run(None, {"audio": tones})
    np.testing.assert_allclose(mu, p.centroids, atol=1e-4)
    logits = make_session(p.file("classifier")).run(None, {"z": mu})[0]
    assert logits.shape == (4, 4) and list(logits.argmax(1)) == [0, 1, 2, 3]


def test_auto_device_falls_back_to_cpu_quietly(preset_dir, capfd):
    s = make_session(preset_dir / "decoder.onnx", device="auto")
    assert s.get_providers()[0] in ("CPUExecutionProvider", "CUDAExecutionProvider")
    if session_device(s) == "cpu":
        assert cuda_unusable_reason()  # says why, e.g. "no NVIDIA GPU visible to the CUDA driver"
        out, err = capfd.readouterr()
        assert "CUDA" not in err and "cublas" not in err.lower(), err
        with pytest.raises(RuntimeError, match="CUDA"):
            make_session(preset_dir / "decoder.onnx", device="cuda")
    with pytest.raises(ValueError, match="device"):
        make_session(preset_dir / "decoder.onnx", device="tpu")


def test_cpu_session_uses_one_thread_without_spinning(preset_dir):
    s = make_session(preset_dir / "decoder.onnx", device="cpu")
    opts = s.get_session_options()
    assert opts.intra_op_num_threads == 1
    assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_loud_and_nan_presets_are_valid_bundles_with_bad_audio(tmp_path):
    loud = load_preset(make_test_preset(tmp_path, behaviour="loud"))
    out = make_session(loud.file("decoder_batch")).run(None, {"z": loud.centroids})[0]
    assert np.abs(out).max() == pytest.approx(10.0)
    nan = load_preset(make_test_preset(tmp_path, behaviour="nan"))
    out = make_session(nan.file("decoder")).run(None, {"z": nan.centroids[:1]})[0]
    assert np.isnan(out).all()


# ---------------------------------------------------------------------------- bad bundles


def _expect(folder_or_name, where: str, *problem_words: str) -> PresetError:
    with pytest.raises(PresetError) as info:
        load_preset(folder_or_name)
    err = info.value
    assert err.where is not None and err.where.endswith(where), (err.where, str(err))
    for word in problem_words:
        assert word.lower() in str(err).lower(), str(err)
    return err


def test_missing_onnx_file(preset_dir):
    (preset_dir / "encoder.onnx").unlink()
    _expect(preset_dir, "encoder.onnx", "missing")


def test_missing_preset_json(preset_dir):
    (preset_dir / "preset.json").unlink()
    _expect(preset_dir, "preset.json", "missing")


def test_hash_mismatch(preset_dir):
    path = preset_dir / "classifier.onnx"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    _expect(preset_dir, "classifier.onnx", "sha256 mismatch")


def test_truncated_onnx_is_caught_by_the_hash(preset_dir):
    path = preset_dir / "decoder.onnx"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _expect(preset_dir, "decoder.onnx", "sha256 mismatch")


def test_truncated_onnx_with_matching_hash_fails_to_parse(preset_dir):
    path = preset_dir / "decoder.onnx"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    _rehash(preset_dir, "decoder")
    _expect(preset_dir, "decoder.onnx", "not a loadable ONNX model")


def test_wrong_shapes(tmp_path):
    # A decoder made for frame_length 1024 placed in a preset that says 2048.
    other = make_test_preset(tmp_path, name="short", frame_length=1024)
    good = make_test_preset(tmp_path, name="good")
    shutil.copy(other / "decoder_batch.onnx", good / "decoder_batch.onnx")
    _rehash(good, "decoder_batch")
    _expect(good, "decoder_batch.onnx", "output 'audio'", "1024", "2048")


def test_wrong_latent_dim(tmp_path):
    other = make_test_preset(tmp_path, name="wide", latent_dim=12)
    good = make_test_preset(tmp_path, name="good")
    shutil.copy(other / "encoder.onnx", good / "encoder.onnx")
    _rehash(good, "encoder")
    _expect(good, "encoder.onnx", "output 'mu'", "12", "8")


def test_fixed_batch_decoder_where_a_batch_decoder_belongs(preset_dir):
    shutil.copy(preset_dir / "decoder.onnx", preset_dir / "decoder_batch.onnx")
    _rehash(preset_dir, "decoder_batch")
    _expect(preset_dir, "decoder_batch.onnx", "fixed batch 1")


def test_swapped_roles_name_the_wrong_inputs(preset_dir):
    shutil.copy(preset_dir / "encoder.onnx", preset_dir / "classifier.onnx")
    _rehash(preset_dir, "classifier")
    _expect(preset_dir, "classifier.onnx", "inputs are ['audio']", "['z']")


def test_nan_centroid(preset_dir):
    _edit_json(preset_dir, lambda d: d["classes"][1]["centroid"].__setitem__(3, float("nan")))
    assert "NaN" in (preset_dir / "preset.json").read_text()
    _expect(preset_dir, "preset.json", "centroid of class 'snare'[3] is not finite")


def test_infinite_pca(preset_dir):
    _edit_json(preset_dir, lambda d: d["pca"]["components"][0].__setitem__(0, float("inf")))
    _expect(preset_dir, "preset.json", "pca.components[0][0] is not finite")


def test_unknown_version(preset_dir):
    _edit_json(preset_dir, lambda d: d.update(version=3))
    _expect(preset_dir, "preset.json", "unknown preset version 3", "versions 1 to 2")


def test_wrong_format(preset_dir):
    _edit_json(preset_dir, lambda d: d.update(format="some-other-thing"))
    _expect(preset_dir, "preset.json", "not a vae-synth preset")


@pytest.mark.parametrize("field,value,words", [
    ("latent_dim", 10**9, ("latent_dim", "sane range")),
    ("frame_length", 10**12, ("frame_length", "sane range")),
    ("sample_rate", 0, ("sample_rate", "sane range")),
    ("latent_dim", 8.5, ("latent_dim", "integer")),
    ("frame_length", True, ("frame_length", "integer")),
])
def test_absurd_dimensions(preset_dir, field, value, words):
    _edit_json(preset_dir, lambda d: d.update({field: value}))
    _expect(preset_dir, "preset.json", *words)


def test_centroid_length_must_match_latent_dim(preset_dir):
    _edit_json(preset_dir, lambda d: d["classes"][0].update(centroid=[0.0] * 7))
    _expect(preset_dir, "preset.json", "centroid of class 'kick'", "length 7", "expected 8")


def test_invalid_json(preset_dir):
    (preset_dir / "preset.json").write_text('{"format": "vae-synth-preset", "version": 1,,}')
    _expect(preset_dir, "preset.json", "invalid JSON", "line 1")


def test_an_unterminated_string_names_where_it_starts_once(preset_dir):
    text = '{"format": "vae-synth-preset", "name": "dru'
    (preset_dir / "preset.json").write_text(text)
    err = _expect(preset_dir, "preset.json", "invalid JSON")
    column = text.index('"dru') + 1
    assert f"Unterminated string starting at: line 1 column {column}" in str(err)
    assert "at at" not in str(err)


def test_binary_garbage_instead_of_json(preset_dir):
    (preset_dir / "preset.json").write_bytes(b"\xff\xfe\x00garbage")
    _expect(preset_dir, "preset.json", "not UTF-8")


def test_file_path_may_not_leave_the_preset_folder(preset_dir):
    _edit_json(preset_dir, lambda d: d["files"]["decoder"].update(path="../elsewhere.onnx"))
    _expect(preset_dir, "preset.json", "files.decoder.path", "file name in the preset folder")


def test_midi_map_names_unknown_class(preset_dir):
    _edit_json(preset_dir, lambda d: d["midi"]["notes"].update({"49": "crash"}))
    _expect(preset_dir, "preset.json", "midi.notes[49]", "unknown class 'crash'")


def test_midi_note_out_of_range(preset_dir):
    _edit_json(preset_dir, lambda d: d["midi"]["notes"].update({"128": "kick"}))
    _expect(preset_dir, "preset.json", "midi.notes key '128'")


def test_missing_required_field(preset_dir):
    _edit_json(preset_dir, lambda d: d.pop("sample_rate"))
    _expect(preset_dir, "preset.json", "missing required field 'sample_rate'")


def test_extra_fields_are_allowed(preset_dir):
    _edit_json(preset_dir, lambda d: d.update(author="someone", future={"x": 1}))
    p = load_preset(preset_dir)
    assert p.extra == {"author": "someone", "future": {"x": 1}}
    # kept when the preset is written again
    assert p.to_dict()["author"] == "someone" and p.to_dict()["future"] == {"x": 1}


def test_preset_from_dict_checks_a_document(preset_dir):
    data = json.loads((preset_dir / "preset.json").read_text())
    preset_from_dict(data)
    data["classes"][0]["std"][0] = -1.0
    with pytest.raises(PresetError, match="std of class 'kick' has negative values"):
        preset_from_dict(data)


# ---------------------------------------------------------------------------- finding presets


def test_resolve_by_name_on_the_search_path(tmp_path, monkeypatch):
    env_dir, user_home = tmp_path / "env", tmp_path / "xdg"
    make_test_preset(env_dir, name="mine")
    make_test_preset(user_home / "vae-synth" / "presets", name="mine", frame_length=1024)
    make_test_preset(user_home / "vae-synth" / "presets", name="theirs")
    monkeypatch.setenv("VAE_SYNTH_PRESETS", str(env_dir))
    monkeypatch.setenv("XDG_DATA_HOME", str(user_home))
    # $VAE_SYNTH_PRESETS comes first, then the user folder.
    assert resolve_preset("mine") == (env_dir / "mine").resolve()
    assert load_preset("mine").frame_length == 2048
    assert load_preset("theirs").path == (user_home / "vae-synth/presets/theirs").resolve()
    # A path wins over a name, also the preset.json file itself.
    assert resolve_preset(env_dir / "mine" / "preset.json") == (env_dir / "mine").resolve()
    infos = {(i.name, i.source): i for i in list_presets()}
    assert infos[("mine", "env")].shadowed is False
    assert infos[("mine", "user")].shadowed is True
    assert infos[("theirs", "user")].class_names == ("kick", "snare", "tom", "hihat")
    with pytest.raises(PresetError, match="no preset named 'nothing'.*installed: .*mine"):
        resolve_preset("nothing")


def test_list_presets_reports_a_broken_preset(tmp_path, monkeypatch):
    folder = make_test_preset(tmp_path / "env", name="broken")
    (folder / "preset.json").write_text("{")
    monkeypatch.setenv("VAE_SYNTH_PRESETS", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "none"))
    broken = [i for i in list_presets() if i.name == "broken"]
    assert len(broken) == 1 and "invalid JSON" in broken[0].error


def test_folder_without_preset_json(tmp_path):
    (tmp_path / "empty").mkdir()
    _expect(tmp_path / "empty", "preset.json", "not a preset")


def test_huge_numbers_are_errors_not_crashes(preset_dir):
    path = preset_dir / "preset.json"
    text = path.read_text()
    data = json.loads(text)
    data["classes"][0]["centroid"][0] = 10 ** 400  # a valid JSON integer, no float holds it
    path.write_text(json.dumps(data))
    _expect(preset_dir, "preset.json", "centroid of class 'kick'[0] is not finite")
    path.write_text(text.replace('"latent_dim": 8', '"latent_dim": ' + "9" * 5000))
    _expect(preset_dir, "preset.json", "invalid JSON")


def test_deeply_nested_json(preset_dir):
    (preset_dir / "preset.json").write_text("[" * 100000 + "]" * 100000)
    _expect(preset_dir, "preset.json", "invalid JSON")

"""Broken bundles: one corpus that the Python validator (synth/preset.py) and the plugin's judge
alike; with a broken preset or without ONNX Runtime the host survives, the plugin says why on
stderr (the host's log) and stays silent."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest
from plugin_rig import CORE_CHECK, ROOT, host_env, render_vst3, require_build, run_host

DRUMS = ROOT / "presets" / "drums"


def _rehash(folder, role):
    data = json.loads((folder / "preset.json").read_text())
    path = folder / data["files"][role]["path"]
    data["files"][role]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "preset.json").write_text(json.dumps(data))


def _edit(change):
    def apply(folder):
        data = json.loads((folder / "preset.json").read_text())
        change(data)
        (folder / "preset.json").write_text(json.dumps(data))
    return apply


def _text(change):
    def apply(folder):
        path = folder / "preset.json"
        path.write_bytes(change(path.read_bytes()))
    return apply


def _truncate(role, rehash):
    def apply(folder):
        path = folder / f"{role}.onnx"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
        if rehash:
            _rehash(folder, role)
    return apply


def _swap_model(folder):
    shutil.copy(folder / "classifier.onnx", folder / "decoder.onnx")
    _rehash(folder, "decoder")


def _nan_centroid(raw: bytes) -> bytes:
    data = json.loads(raw)
    data["classes"][1]["centroid"][3] = "@NAN@"
    return json.dumps(data).replace('"@NAN@"', "NaN").encode()


def _nan_metric(raw: bytes) -> bytes:
    data = json.loads(raw)
    data["training"]["metrics"]["a_number_that_is_not"] = "@NAN@"
    return json.dumps(data).replace('"@NAN@"', "NaN").encode()


def _set(path, value):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return _edit(change)


def _drop(path):
    def change(data):
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return _edit(change)


BROKEN = {
    "truncated onnx": _truncate("decoder", rehash=True),
    "truncated onnx, old hash": _truncate("decoder_batch", rehash=False),
    "bad json": _text(lambda raw: raw[: len(raw) // 2]),
    "nan centroid": _text(_nan_centroid),
    "infinite std": _text(lambda raw: raw.replace(b'"std": [', b'"std": [Infinity, ', 1)),
    "hash mismatch": _set(["files", "encoder", "sha256"], "0" * 64),
    "not a hash": _set(["files", "encoder", "sha256"], "xyz"),
    "wrong interface": _swap_model,
    "missing model": lambda folder: (folder / "classifier.onnx").unlink(),
    "missing weights": lambda folder: (folder / "decoder.weights").unlink(),
    "short centroid": _edit(lambda d: d["classes"][0]["centroid"].pop()),
    "negative std": _edit(lambda d: d["classes"][2]["std"].__setitem__(0, -0.5)),
    "count is a bool": _set(["classes", 0, "count"], True),
    "missing frame_length": _drop(["frame_length"]),
    "frame_length a float": _set(["frame_length"], 16384.0),
    "sample rate too low": _set(["sample_rate"], 500),
    "version 0": _set(["version"], 0),
    "not a preset": _set(["format"], "something-else"),
    "blank name": _set(["name"], "   "),
    "duplicate class": _edit(lambda d: d["classes"][1].__setitem__("name", d["classes"][0]["name"])),
    "note for an unknown class": _set(["midi", "notes", "60"], "cowbell"),
    "note number 128": _set(["midi", "notes", "128"], "kick"),
    "note number with a zero": _set(["midi", "notes", "036"], "kick"),
    "pca axis beyond the preset": _set(["midi", "controls", "30"], "pca99"),
    "three xy corners": _edit(lambda d: d["midi"]["xy_corners"].pop()),
    "sustain a string": _set(["midi", "sustain"], "no"),
    "path leaves the folder": _set(["files", "decoder", "path"], "../drums/decoder.onnx"),
    "more pca rows than dims": _edit(lambda d: d["pca"].__setitem__(
        "components", d["pca"]["components"] * 2)),
    "training licence missing": _drop(["training", "licence"]),
    "utf-8 bom": _text(lambda raw: b"\xef\xbb\xbf" + raw),
    "control of no parameter": _set(["midi", "controls", "30"], "not-a-parameter"),
    "version 3": _set(["version"], 3),
    "version 2 without pan": _edit(lambda d: (d.__setitem__("version", 2), d["midi"].pop("pan"))),
    "pad tuned beyond 4 octaves": _set(["midi", "pitch", "41"], 49),
    "pitch for an unmapped note": _set(["midi", "pitch", "99"], 2),
    "pitch a string": _set(["midi", "pitch", "41"], "-6"),
    "pan beyond the right": _set(["midi", "pan", "kick"], 1.5),
    "pan for an unknown class": _set(["midi", "pan", "cowbell"], 0.1),
    "export a list": _set(["export"], []),
}
VALID = {
    "as exported": lambda folder: None,
    "nan in a training metric": _text(_nan_metric),
    "an extra field": _set(["comment"], "kept, not read"),
    "empty description": _set(["description"], ""),
    "note number with spaces": _set(["midi", "notes", " 60 "], "kick"),
    "decay on a controller": _set(["midi", "controls", "30"], "decay"),
    "version 2 with pitch and pan": _edit(lambda d: (d.__setitem__("version", 2),
                                                     d["midi"].__setitem__("pitch", {"41": -6.5}),
                                                     d["midi"].__setitem__("pan", {"kick": 0.2}))),
    "version 1 without pitch and pan": _edit(lambda d: (d.__setitem__("version", 1),
                                                        d["midi"].pop("pitch", None),
                                                        d["midi"].pop("pan", None))),
}


def _bundle(tmp_path, name, make, folder_name="drums"):
    folder = tmp_path / name.replace(" ", "_") / folder_name
    shutil.copytree(DRUMS, folder, ignore=shutil.ignore_patterns("*.png"))
    make(folder)
    return folder


def _python_verdict(folder):
    from vae_synth.synth.preset import PresetError, load_preset

    try:
        load_preset(folder)
        return "ok", ""
    except PresetError as exc:
        return "error", str(exc)


def _plugin_verdict(folder, env):
    proc = subprocess.run([str(CORE_CHECK), "validate", str(folder)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    verdict, _, message = proc.stdout.strip().partition(" ")
    return verdict, message


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    require_build()
    return host_env(tmp_path_factory.mktemp("home"))


@pytest.mark.parametrize("case", sorted(BROKEN) + sorted(VALID))
def test_both_validators_judge_the_corpus_alike(case, tmp_path, env):
    folder = _bundle(tmp_path, case, {**BROKEN, **VALID}[case])
    python, python_message = _python_verdict(folder)
    plugin, plugin_message = _plugin_verdict(folder, env)
    expected = "error" if case in BROKEN else "ok"
    assert python == expected, python_message
    assert plugin == expected, plugin_message
    if expected == "error":
        # the plugin names the file it refuses, as the Python message does
        where = python_message.split(": ")[0]
        assert where.split("/")[-1] in plugin_message, (python_message, plugin_message)


NOTES = [("midi", 100, [0x99, 36, 110]), ("midi", 9000, [0x99, 38, 100]),
         ("midi", 20000, [0x99, 42, 90])]


@pytest.mark.parametrize("case", ["truncated onnx", "bad json", "nan centroid", "hash mismatch"])
def test_a_broken_default_preset_leaves_the_host_running_and_the_plugin_silent(case, tmp_path, env):
    # a broken bundle named drums first on the search path: the plugin's default
    broken = _bundle(tmp_path, case, BROKEN[case])
    run_env = host_env(tmp_path / "home", presets=[broken.parent])
    for kind in ("clap", "lv2"):
        audio, log = run_host(kind, NOTES, 30000, tmp_path, run_env)
        assert not audio.any(), kind
        assert f"cannot load preset drums: {broken}" in log, log
        assert "silent" in log


@pytest.mark.parametrize("case", ["truncated onnx", "bad json", "nan centroid", "hash mismatch"])
def test_the_vst3_in_a_juce_host_survives_a_broken_preset(case, tmp_path):
    broken = _bundle(tmp_path, case, BROKEN[case])
    audio, log = render_vst3(NOTES, 30000, tmp_path, host_env(tmp_path / "home",
                                                             presets=[broken.parent]))
    assert not audio.any()
    assert f"cannot load preset drums: {broken}" in log, log


def test_without_onnx_runtime_the_plugin_says_so_and_stays_silent(tmp_path, env):
    run_env = dict(env, VAE_SYNTH_ONNXRUNTIME=str(tmp_path / "gone" / "libonnxruntime.so.1"))
    for kind in ("clap", "lv2"):
        audio, log = run_host(kind, NOTES, 30000, tmp_path, run_env)
        assert not audio.any()
        assert "cannot load ONNX Runtime from" in log and "make plugin" in log, log


def test_switching_to_a_broken_preset_keeps_the_playing_one(tmp_path, env):
    broken = _bundle(tmp_path, "hash mismatch", BROKEN["hash mismatch"], folder_name="aaa-broken")
    run_env = host_env(tmp_path / "home", presets=[broken.parent])
    # numbers: aaa-broken 0, digits 1, drums 2; drums plays, then the broken one is asked for
    events = [*NOTES[:1], ("param", 4096, "preset", 0), *NOTES[1:]]
    audio, log = run_host("clap", events, 30000, tmp_path, run_env)
    assert np.abs(audio[9000:20000]).max() > 0.05   # still the drums
    assert "cannot load preset" in log and "keeping drums" in log, log

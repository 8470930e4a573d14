"""`vae-synth export` on a real (tiny) trained run: the bundle loads, parity holds, it decodes in
ONNX Runtime without TensorFlow; plain runs are refused; an interrupted export leaves no half preset.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from vae_synth.synth.preset import list_presets, load_preset, sha256_file
from vae_synth.synth.runtime import make_session

REPO = Path(__file__).resolve().parents[2]


def _tf(model, x):
    y = model(x, training=False)
    return [np.asarray(v) for v in y] if isinstance(y, (list, tuple)) else np.asarray(y)


@pytest.fixture(scope="module")
def run(exported_run):
    from vae_synth.train.run import load_run

    return load_run(exported_run, checkpoint="last")


@pytest.fixture(scope="module")
def run_data(run):
    return run.load_data()


def test_exported_bundle_loads_with_the_run_metadata(exported_preset, exported_run, run_data):
    p = load_preset(exported_preset)
    config = json.loads((exported_run / "config.json").read_text())
    assert p.name == "tiny-drums"
    assert p.class_names == list(run_data.class_names) == config["class_names"]
    assert set(p.class_names) == {"kick", "snare", "tom", "hihat"}
    assert (p.sample_rate, p.frame_length, p.latent_dim) == (16000, 2048, 8)
    assert sum(c.count for c in p.classes) == len(run_data.train_x)
    assert p.training["arch"] == "conv" and p.training["config"]["arch"] == "conv"
    assert p.training["data"] == "synthetic:drums?n=48"
    assert p.training["licence"] == config["licence"]
    assert p.training["attribution"] == config["attribution"]
    assert p.training["metrics"]["checkpoint"] == "last"
    # Drums: GM notes, one-shots, hi-hat choke group.
    assert p.midi.notes[36] == "kick" and p.midi.notes[38] == "snare"
    assert p.midi.sustain is False and p.midi.choke_groups == (("hihat",),)
    # the exporter writes the current format, pad tuning and pan modelled, not extras
    assert json.loads((exported_preset / "preset.json").read_text())["version"] == 2
    assert p.midi.pitch == {41: -6.0, 43: -4.0, 45: -2.0, 47: 0.0, 48: 2.0, 50: 4.0}
    assert p.midi.pan == {"hihat": -0.25} and p.extra == {}
    export = p.export
    assert export["run_dir"] == exported_run.name and export["checkpoint"] == "last"
    assert export["opset"] >= 17 and export["parity_clips"] >= 8
    assert max(export["parity_max_abs_err"].values()) <= 1e-4


def test_onnx_files_have_the_contract_interfaces(exported_preset):
    p = load_preset(exported_preset)
    fixed = make_session(p.file("decoder"))
    assert [(i.name, i.shape) for i in fixed.get_inputs()] == [("z", [1, 8])]
    assert [(o.name, o.shape) for o in fixed.get_outputs()] == [("audio", [1, 2048])]
    batch = make_session(p.file("decoder_batch"))
    assert batch.get_inputs()[0].shape == ["N", 8] and batch.get_outputs()[0].shape == ["N", 2048]
    enc = make_session(p.file("encoder"))
    assert [o.name for o in enc.get_outputs()] == ["mu", "logvar"]
    cls = make_session(p.file("classifier"))
    assert cls.get_outputs()[0].name == "logits" and cls.get_outputs()[0].shape == ["N", 4]


def test_both_decoders_read_one_weights_file(exported_preset, run, tmp_path):
    """The batch-1 and batch-N decoders keep their weights once, in decoder.weights (ONNX
    external data, hash in preset.json): each decoder file is a graph of a few kB; a changed
    weights file is caught by its hash, and one missing is named."""
    import shutil

    from vae_synth.synth.preset import PresetError

    p = load_preset(exported_preset)
    weights = p.file("decoder_weights")
    assert weights.name == "decoder.weights"
    sizes = {role: p.file(role).stat().st_size for role in ("decoder", "decoder_batch")}
    assert max(sizes.values()) < 0.2 * weights.stat().st_size, (sizes, weights.stat().st_size)
    # float32 weights, each once (tensors under 4 kB stay in the graphs): 382,976 of 385,321
    assert 0.95 < weights.stat().st_size / 4 / run.decoder.count_params() <= 1.0
    z = np.zeros((1, 8), np.float32)
    one = make_session(p.file("decoder")).run(["audio"], {"z": z})[0]
    bank = make_session(p.file("decoder_batch")).run(["audio"], {"z": np.repeat(z, 3, 0)})[0]
    np.testing.assert_allclose(bank, np.repeat(one, 3, 0), atol=1e-6)
    assert np.abs(one).max() > 0  # the weights were really read

    copy = tmp_path / "copy"
    shutil.copytree(exported_preset, copy)
    data = bytearray((copy / "decoder.weights").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / "decoder.weights").write_bytes(bytes(data))
    with pytest.raises(PresetError, match="sha256 mismatch") as info:
        load_preset(copy)
    assert info.value.where.endswith("decoder.weights")
    (copy / "decoder.weights").unlink()
    with pytest.raises(PresetError, match="missing") as info:
        load_preset(copy)
    assert info.value.where.endswith("decoder.weights")


def test_centroids_are_class_means_of_the_tf_encoder(exported_preset, run, run_data):
    p = load_preset(exported_preset)
    mu_tf = _tf(run.encoder, run_data.train_x)[0]
    for i, c in enumerate(p.classes):
        rows = mu_tf[run_data.train_y == i]
        assert c.count == len(rows)
        np.testing.assert_allclose(c.centroid, rows.mean(0), atol=1e-4)
        np.testing.assert_allclose(c.std, rows.std(0), atol=1e-4)
    comps = p.pca.components
    assert comps.shape[1] == 8 and 1 <= comps.shape[0] <= 8
    np.testing.assert_allclose(comps @ comps.T, np.eye(len(comps)), atol=1e-5)
    assert np.all(np.diff(p.pca.explained_variance) <= 1e-7)
    np.testing.assert_allclose(p.pca.mean, mu_tf.mean(0), atol=1e-4)


def test_onnx_decodes_like_tensorflow(exported_preset, run):
    p = load_preset(exported_preset)
    rng = np.random.default_rng(3)
    z = np.concatenate([p.centroids, rng.standard_normal((12, 8)).astype(np.float32)])
    audio_tf = _tf(run.decoder, z)
    audio_batch = make_session(p.file("decoder_batch")).run(None, {"z": z})[0]
    fixed = make_session(p.file("decoder"))
    audio_one = np.concatenate([fixed.run(None, {"z": z[i:i + 1]})[0] for i in range(len(z))])
    assert audio_batch.shape == (16, 2048)
    assert np.abs(audio_batch - audio_tf).max() <= 1e-4
    assert np.abs(audio_one - audio_tf).max() <= 1e-4
    assert np.all(np.abs(audio_batch) <= 1.0)
    logits_tf = _tf(run.classifier, z)
    logits = make_session(p.file("classifier")).run(None, {"z": z})[0]
    assert np.abs(logits - logits_tf).max() <= 1e-4 * max(1.0, np.abs(logits_tf).max())


def test_player_loads_and_decodes_without_tensorflow(exported_preset):
    code = textwrap.dedent(f"""
        import sys
        from vae_synth.synth.preset import load_preset
        from vae_synth.synth.runtime import make_session, warm_up
        p = load_preset({str(exported_preset)!r})
        s = make_session(p.file("decoder"))
        warm_up(s)
        audio = s.run(None, {{"z": p.centroids[:1]}})[0]
        bank = make_session(p.file("decoder_batch")).run(None, {{"z": p.centroids}})[0]
        heavy = sorted(m for m in ("tensorflow", "keras", "tf2onnx", "onnx") if m in sys.modules)
        print(audio.shape, bank.shape, heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 2048) (4, 2048) []", out.stdout


def test_parity_failure_says_by_how_much(exported_preset, run, run_data):
    import keras
    from vae_synth.export.bundle import ExportError, check_parity, parity_clips

    # A decoder whose output bias moved: the ONNX files no longer match it.
    moved = keras.models.clone_model(run.decoder)
    weights = run.decoder.get_weights()
    weights[-1] = weights[-1] + 0.05
    moved.set_weights(weights)
    clips = parity_clips(run_data.train_x, run_data.train_y, 8)
    assert check_parity(exported_preset, run.encoder, run.decoder, run.classifier, clips)[
        "decoder.audio"] <= 1e-4
    with pytest.raises(ExportError, match=r"decoder_batch.audio differs by (\d\.\d+e-0[1-3]|0\.\d+)"
                       ) as info:
        check_parity(exported_preset, run.encoder, moved, run.classifier, clips)
    assert "limit 0.0001" in str(info.value) and "encoder.mu" not in str(info.value)
    # A diverged model (NaN weights) is refused as such, not as a parity difference.
    weights[-1] = weights[-1] * np.nan
    moved.set_weights(weights)
    with pytest.raises(ExportError, match="non-finite decoder audio.*diverged"):
        check_parity(exported_preset, run.encoder, moved, run.classifier, clips)


def test_export_cli_writes_a_preset_and_reexport_keeps_what_it_did_not_write(exported_run,
                                                                            tmp_path, capsys):
    from vae_synth.cli import main

    out = tmp_path / "presets" / "mine"
    assert main(["export", str(exported_run), "--out", str(out), "--checkpoint", "best"]) == 0
    captured = capsys.readouterr()
    assert "exported preset 'mine'" in captured.out and "parity max abs err" in captured.out
    assert "kept from the folder" not in captured.out
    assert "export [9/9] installing" in captured.err  # progress lines
    first = load_preset(out)
    assert first.training["metrics"]["checkpoint"] == "best"
    old_hash = sha256_file(out / "preset.json")
    # what a published preset holds beside the models, and a user's own notes and takes
    mine = {"README.md": b"# mine\nthe model card", "LICENSE": b"CC0", "evaluation.json": b"{}",
            "morph_strip.png": b"\x89PNG not really", "notes.txt": b"snare too bright",
            "takes/first.wav": b"RIFF a take"}
    for name, data in mine.items():
        (out / name).parent.mkdir(exist_ok=True)
        (out / name).write_bytes(data)
    assert main(["export", str(exported_run), "--out", str(out), "--name", "renamed", "-q",
                 "--licence", "CC0-1.0", "--attribution", "made by the tests"]) == 0
    captured = capsys.readouterr()
    assert ("kept from the folder: LICENSE, README.md, evaluation.json, morph_strip.png, "
            "notes.txt, takes") in captured.out
    second = load_preset(out)
    assert second.name == "renamed"
    assert (second.training["licence"], second.training["attribution"]) == (
        "CC0-1.0", "made by the tests")
    assert "training_files" not in second.training["config"]  # no local paths in a preset
    assert sha256_file(out / "preset.json") != old_hash
    assert {name: (out / name).read_bytes() for name in mine} == mine
    assert sorted(p.name for p in out.parent.iterdir()) == ["mine"]  # no temp folders left


def test_force_replaces_a_folder_only_once_the_new_preset_is_complete(exported_run, tmp_path,
                                                                      monkeypatch, capsys):
    import vae_synth.export.bundle as bundle

    from vae_synth.cli import main

    out = tmp_path / "notes"
    out.mkdir()
    (out / "thesis.txt").write_text("precious")
    assert main(["export", str(exported_run), "--out", str(out), "-q"]) == 2
    assert "pass --force" in capsys.readouterr().err

    def crash(*a, **k):  # late in the export, after the ONNX files were written and checked
        raise bundle.ExportError("simulated failure before the new preset is complete")

    with monkeypatch.context() as m:
        m.setattr(bundle, "pca", crash)
        assert main(["export", str(exported_run), "--out", str(out), "-q", "--force"]) == 2
    assert [p.name for p in out.iterdir()] == ["thesis.txt"]   # the old folder is still whole
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert main(["export", str(exported_run), "--out", str(out), "-q", "--force"]) == 0
    assert "kept from the folder" not in capsys.readouterr().out
    assert load_preset(out).name == "notes" and not (out / "thesis.txt").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_preset_that_cannot_be_installed_is_an_error_and_the_folder_stays(exported_run,
                                                                           tmp_path,
                                                                           monkeypatch, capsys):
    """A disk that fills while the folder's own files are carried into the new bundle: one
    line that says so (no traceback), the folder as it was, no temporary left."""
    import errno

    import vae_synth.export.bundle as bundle

    from vae_synth.cli import main

    out = tmp_path / "mine"
    assert main(["export", str(exported_run), "--out", str(out), "-q"]) == 0
    (out / "notes.txt").write_text("my notes")
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full_disk(old, new):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(bundle, "_carry_over", full_disk)
    capsys.readouterr()
    assert main(["export", str(exported_run), "--out", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot install the preset into" in err and "No space left on device" in err
    assert "the folder is as it was" in err and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]


def test_plain_runs_are_refused(tmp_path, capsys):
    from vae_synth.export.bundle import ExportError, export_run

    from vae_synth.cli import main

    run_dir = tmp_path / "plain-run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"arch": "conv", "plain": True}))
    with pytest.raises(ExportError, match="plain .*autoencoder.*--plain"):
        export_run(run_dir, tmp_path / "out")
    assert main(["export", str(run_dir), "--out", str(tmp_path / "out")]) == 2
    assert "plain (non-variational) autoencoder" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_run_and_unsafe_out(tmp_path, exported_run):
    from vae_synth.export.bundle import ExportError, export_run

    with pytest.raises(ExportError, match="no such run folder"):
        export_run(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.txt").write_text("precious")
    with pytest.raises(ExportError, match="non-empty folder that is not a preset"):
        export_run(exported_run, tmp_path / "notes")
    assert (tmp_path / "notes" / "thesis.txt").read_text() == "precious"


def test_failure_mid_export_keeps_the_old_preset(exported_run, exported_preset, tmp_path,
                                                 monkeypatch):
    import shutil

    import vae_synth.export.bundle as bundle

    out = tmp_path / "presets" / "drums"
    out.parent.mkdir()
    shutil.copytree(exported_preset, out)
    before = {p.name: sha256_file(p) for p in out.iterdir()}

    def crash(*a, **k):  # after the ONNX files were converted and checked
        raise KeyboardInterrupt

    monkeypatch.setattr(bundle, "pca", crash)
    with pytest.raises(KeyboardInterrupt):
        bundle.export_run(exported_run, out, show_progress=False)
    assert {p.name: sha256_file(p) for p in out.iterdir()} == before
    assert load_preset(out).name == "tiny-drums"
    assert sorted(p.name for p in out.parent.iterdir()) == ["drums"]


def test_kill_9_mid_export_leaves_no_half_preset(exported_run, tmp_path):
    """A real export in a subprocess, killed with SIGKILL while it writes ONNX files."""
    presets = tmp_path / "presets"
    out = presets / "new"
    code = textwrap.dedent(f"""
        from vae_synth.export.bundle import export_run
        export_run({str(exported_run)!r}, {str(out)!r}, show_progress=False)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            tmp = [p for p in presets.glob(".new.export-*") if (p / "decoder.onnx").exists()]
            if tmp:
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the export finished before it could be interrupted"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not out.exists()
    assert [i.name for i in list_presets([("env", presets)])] == []  # hidden leftovers not listed
    # Exporting again works and gives a complete preset.
    from vae_synth.export.bundle import export_run

    assert len(list(presets.glob(".new.export-*"))) == 1
    export_run(exported_run, out, show_progress=False)
    assert load_preset(out).name == "new"
    # The killed export's leftover was cleaned up by the next export to the same name.
    assert sorted(p.name for p in presets.iterdir()) == ["new"]


def test_export_help_does_not_load_tensorflow():
    script = (
        "import sys, contextlib, io\n"
        "from vae_synth.cli import main\n"
        "buf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n"
        "    try: main(['export', '--help'])\n"
        "    except SystemExit: pass\n"
        "print('--checkpoint {last,best}' in buf.getvalue(), 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True False"


@pytest.mark.slow
@pytest.mark.parametrize("root_given", ["relative", "absolute"])
def test_a_run_exports_from_any_folder_and_its_preset_names_no_machine_path(
        tmp_path, monkeypatch, root_given):
    """A run records its data root's path, so export (and evaluate, --resume) find the clips
    from another folder. The preset names its data by the root as it was given when that is
    relative (a place beside every checkout), as ``$DATA`` when it was this machine's absolute
    folder, and an absolute recipe file by its name: never by this machine's path."""
    import soundfile as sf
    from vae_synth.export.bundle import export_run
    from vae_synth.train.recipe import Recipe
    from vae_synth.train.trainer import RunOptions, train

    kit = tmp_path / "data" / "kit"
    t = np.arange(4000) / 16000
    for k, name in enumerate(("kick", "snare")):
        (kit / name).mkdir(parents=True)
        for i in range(4):
            tone = 0.5 * np.sin(2 * np.pi * (120 + 400 * k + 9 * i) * t) * np.exp(-8 * t)
            sf.write(kit / name / f"{i}.wav", tone, 16000)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    recipe = Recipe.from_dict({
        "data": {"sources": ["folder:kit?split=holdout:0.25"], "sample_rate": 16000,
                 "frame_length": 2048},
        "model": {"arch": "conv", "config": "fast", "latent_dim": 4},
        "schedule": {"steps": 4, "batch_size": 4, "seed": 0}})
    data_root = "../data" if root_given == "relative" else str(tmp_path / "data")
    recipe_file = str(tmp_path / "work" / "kit.toml")
    train(recipe, RunOptions(out="run", data_root=data_root, verbose=0, tensorboard=False,
                             monitor_every=0, checkpoint_every=100, recipe_file=recipe_file))
    monkeypatch.chdir(tmp_path)  # elsewhere: ../data means nothing here
    result = export_run(tmp_path / "work" / "run", tmp_path / "preset", name="kit",
                        show_progress=False)
    text = (tmp_path / "preset" / "preset.json").read_text()
    assert str(tmp_path) not in text
    training = json.loads(text)["training"]
    named = "../data" if root_given == "relative" else "$DATA"
    assert training["data"] == f"folder:{named}/kit?split=holdout:0.25"
    assert training["config"]["sources"][0] == f"folder:{named}/kit?split=holdout:0.25"
    assert training["config"]["data_root"] == named
    assert training["config"]["recipe_file"] == "kit.toml"
    assert result.preset.class_names == ["kick", "snare"]

"""`vae-synth evaluate` on real ONNX presets (hand-built `tones` bundle), without TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fixtures_preset import TEST_CLASSES, make_test_preset, test_tones

from vae_synth.cli import main

REQUIRED_KEYS = ("one_nn_accuracy", "nearest_centroid_accuracy", "centroid_dist_mean",
                 "centroid_dist_std", "recon_snr_db", "recon_ratio", "centroid_level_db",
                 "morph_smoothness", "per_class")


def _tone_folder(root: Path, per_class: int = 6, noise: float = 0.02, seed: int = 0) -> Path:
    """ROOT/<class>/*.wav: each class's preset tone at random gain plus white noise, 16 kHz."""
    tones = test_tones(len(TEST_CLASSES), 16000, 2048)
    rng = np.random.default_rng(seed)
    for i, name in enumerate(TEST_CLASSES):
        (root / name).mkdir(parents=True)
        for j in range(per_class):
            x = tones[i] * rng.uniform(0.5, 1.0) + noise * rng.standard_normal(2048)
            sf.write(root / name / f"{j}.wav", x, 16000)
    return root


@pytest.fixture(scope="module")
def tones_report(tmp_path_factory, tones_preset):
    tmp = tmp_path_factory.mktemp("eval")
    data = _tone_folder(tmp / "data")
    out = tmp / "report"
    rc = main(["evaluate", str(tones_preset), "--data", f"folder:{data}?split=none",
               "--split", "all", "--out", str(out), "--morph", "kick", "hihat", "--quiet"])
    assert rc == 0
    return out


def test_metrics_json_has_the_issue_keys_and_known_answers(tones_report):
    m = json.loads((tones_report / "metrics.json").read_text())
    for key in REQUIRED_KEYS:
        assert key in m
    # the encoder maps each class's tone onto its own axis: classes are perfectly separated
    assert m["one_nn_accuracy"] == 1.0
    assert m["nearest_centroid_accuracy"] == 1.0
    assert m["training_centroids"]["nearest_centroid_accuracy"] == 1.0
    assert m["misplaced"] == []
    assert "placed in another class" not in (tones_report / "report.md").read_text()
    assert set(m["per_class"]) == set(TEST_CLASSES)
    for p in m["per_class"].values():
        assert p["count"] == 6 and p["one_nn"] == 1.0
        assert set(p) >= {"one_nn", "dist_mean", "dist_std"}
        assert np.isfinite(p["dist_mean"]) and p["dist_std"] > 0
    # decoded centres are the (clean) class tones at about the clips' level
    assert -3.0 < m["centroid_level_db"] < 1.0
    # linear encoder + tanh decoder reconstruct the tones well above the noise floor
    assert m["recon_snr_db"] > 8.0
    assert m["latent_dim"] == 8 and m["active_dims"] == 8
    assert m["model"]["kind"] == "preset" and m["data"]["clips"] == 24
    assert m["morph_smoothness"] >= 1.0


def test_misplaced_clips_names_each_clip_a_measure_puts_in_another_class():
    from vae_synth.evaluate.evaluation import misplaced_clips

    names = ["kick", "snare", "hihat"]
    y = np.array([0, 1, 2, 2])
    files = ["kit/bd_a.wav", "kit/sn_b.wav", "kit/hat_c.wav", "kit/hat_d.wav"]
    one_nn = np.array([0, 1, 1, 2])   # hat_c's nearest clip is a snare
    nc = np.array([0, 1, 1, 2])       # and so is its nearest centre
    nc_train = np.array([1, 1, 2, 2])  # bd_a lands nearest the preset's snare centre
    assert misplaced_clips(files, y, names, one_nn, nc, nc_train) == [
        {"file": "bd_a.wav", "class": "kick", "nearest_clip": "kick", "nearest_centre": "kick",
         "nearest_training_centre": "snare"},
        {"file": "hat_c.wav", "class": "hihat", "nearest_clip": "snare",
         "nearest_centre": "snare", "nearest_training_centre": "hihat"}]
    # without the preset's centres only the other two measures count; unmatched files: indices
    assert misplaced_clips([], y, names, one_nn, nc) == [
        {"file": "#2", "class": "hihat", "nearest_clip": "snare", "nearest_centre": "snare",
         "nearest_training_centre": None}]


def test_report_pictures_and_sounds_are_written(tones_report):
    for name in ("report.md", "latent_pca_tsne.png", "centroid_spectrograms.png", "morph_strip.png",
                 "centroid_dtw.json"):
        assert (tones_report / name).stat().st_size > 500, name
    text = (tones_report / "report.md").read_text()
    assert "| 1-NN accuracy (leave-one-out) | 1.000 |" in text
    assert "![Latent means" in text and "morph_kick_to_hihat.wav" in text
    # centroid WAVs: the decoded tone of each class, at the preset's rate, 2048 samples
    tones = test_tones(len(TEST_CLASSES), 16000, 2048)
    for i, name in enumerate(TEST_CLASSES):
        audio, sr = sf.read(tones_report / "wav" / f"centroid_{name}.wav")
        assert sr == 16000 and audio.shape == (2048,)
        # the class centre decodes to the class's tone (frequency), not another class's
        corr = [abs(np.corrcoef(audio, t)[0, 1]) for t in tones]
        assert int(np.argmax(corr)) == i
    morph, sr = sf.read(tones_report / "wav" / "morph_kick_to_hihat.wav")
    assert len(morph) == 9 * 2048 + 8 * 1600  # 9 steps with 0.1 s gaps
    dtw = json.loads((tones_report / "centroid_dtw.json").read_text())
    kick = dtw["evaluated_centroids"]["kick"]
    assert np.array(kick["pairwise_dtw"]).shape == (6, 6) and len(kick["center_dtw"]) == 6
    assert "training_centroids" in dtw


def test_errors_are_clear(tmp_path, capsys, tones_preset):
    rc = main(["evaluate", str(tmp_path), "--data", "synthetic:drums", "--out", str(tmp_path / "o")])
    assert rc == 2
    assert "neither a run folder" in capsys.readouterr().err
    nan = make_test_preset(tmp_path, behaviour="nan")
    data = _tone_folder(tmp_path / "d", per_class=3)
    rc = main(["evaluate", str(nan), "--data", f"folder:{data}?split=none", "--split", "all",
               "--out", str(tmp_path / "o2"), "--quiet"])
    assert rc == 2
    assert "non-finite" in capsys.readouterr().err
    rc = main(["evaluate", str(tones_preset), "--data", f"folder:{data}?split=none",
               "--out", str(tmp_path / "o3"), "--quiet"])  # split=none holds nothing out
    assert rc == 2
    assert "try --split all" in capsys.readouterr().err
    rc = main(["evaluate", str(tones_preset), "--out", str(tmp_path / "o4"), "--quiet"])
    assert rc == 2
    assert "give --data SOURCE" in capsys.readouterr().err
    rc = main(["evaluate", str(tones_preset), "--data", f"folder:{data}?split=none", "--split",
               "all", "--morph", "kick", "cowbell", "--out", str(tmp_path / "o5"), "--quiet"])
    assert rc == 2
    assert "unknown class 'cowbell'" in capsys.readouterr().err


def test_evaluating_a_preset_never_imports_tensorflow(tmp_path, tones_preset):
    data = _tone_folder(tmp_path / "data", per_class=3)
    code = (
        "import sys\n"
        "import vae_synth.evaluate.cli as e\n"
        "assert 'numpy' not in sys.modules, 'evaluate imports numpy at module level'\n"
        "from vae_synth.cli import main\n"
        f"rc = main(['evaluate', {str(tones_preset)!r}, '--data', "
        f"'folder:{data}?split=none', '--split', 'all', '--no-tsne', '--quiet', "
        f"'--out', {str(tmp_path / 'out')!r}])\n"
        "assert rc == 0, rc\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'tf2onnx') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]

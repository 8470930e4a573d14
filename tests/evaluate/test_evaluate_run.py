"""`vae-synth evaluate` on a tiny real run (TensorFlow) and on its exported preset (ONNX Runtime)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vae_synth.cli import main

# trains the shared tiny run (session fixture, ~1 min on 2 cores) when run alone
pytestmark = pytest.mark.slow

DATA = "synthetic:drums?n=48&split=none"  # 12 clips per class: eq. 5.3 needs >= 3


@pytest.fixture(scope="module")
def run_report(exported_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval-run") / "report"
    rc = main(["evaluate", str(exported_run), "--data", DATA, "--split", "all", "--out", str(out),
               "--checkpoint", "last", "--quiet", "--no-tsne"])
    assert rc == 0
    return out


def test_run_report_metrics_and_files(run_report, exported_run):
    m = json.loads((run_report / "metrics.json").read_text())
    assert m["model"]["kind"] == "run" and m["model"]["arch"] == "conv"
    assert m["data"]["clips"] == 48 and m["latent_dim"] == 8
    assert set(m["per_class"]) == {"kick", "snare", "tom", "hihat"}
    for key in ("one_nn_accuracy", "nearest_centroid_accuracy"):
        assert 0.0 <= m[key] <= 1.0
    assert np.isfinite(m["centroid_dist_mean"]) and m["centroid_dist_std"] > 0
    assert np.isfinite(m["recon_snr_db"]) and m["recon_ratio"] > 0
    assert len(m["kl_per_dim"]) == 8 and 0 <= m["active_dims"] <= 8
    assert m["morph_smoothness"] >= 1.0
    assert np.isfinite(m["comb_db"]) and np.isfinite(m["comb_db_real"])
    assert m["comb_period"] in (8, 16, 32, 64, 128, 256, 512)  # a power of two up to L / 8
    assert "decoder comb" in (run_report / "report.md").read_text()
    assert np.isfinite(m["comb_db_centres"]) and m["high_band_hz"] == 11000.0
    assert (run_report / "centroid_spectrograms_hz.png").stat().st_size > 1000
    # 16 kHz: nothing above 11 kHz in real clips, centres or reconstructions (the -120 dB floor)
    assert all(p["high_band"]["real_db"] == p["high_band"]["centre_db"] == -120.0
               for p in m["per_class"].values())
    # the training clips' figures sit beside the held-out ones
    assert all(p["high_band"]["training_db"] == -120.0 and np.isfinite(p["level_vs_training_db"])
               and np.isfinite(p["heldout_vs_training_level_db"]) for p in m["per_class"].values())
    # what a pad plays (the training clips' centre), against the held-out and the training clips
    assert all(p["pad_level_db"] - p["pad_level_vs_training_db"]
               == pytest.approx(p["level_db"] - p["level_vs_training_db"])
               for p in m["per_class"].values())
    assert "held-out − training clips level dB" in (run_report / "report.md").read_text()
    # the share below 40 Hz, the same figures as the air's, each a share in dB
    assert m["sub_bass_hz"] == 40.0 and all(
        -120.0 <= p["sub_bass"][k] <= 0.0 for p in m["per_class"].values()
        for k in ("real_db", "centre_db", "recon_db", "training_db"))
    assert "Energy below 40 Hz" in (run_report / "report.md").read_text()
    # the run's own training curves are drawn from its history.csv
    assert (exported_run / "history.csv").is_file()
    assert (run_report / "training_curves.png").stat().st_size > 1000
    assert "Training curves" in (run_report / "report.md").read_text()
    assert len(list((run_report / "wav").glob("centroid_*.wav"))) == 4
    # other data than the run's own: still scored against the run's own training centroids
    assert 0.0 <= m["training_centroids"]["nearest_centroid_accuracy"] <= 1.0
    assert 0.0 <= m["one_nn_vs_training_accuracy"] <= 1.0
    # these clips include the run's own training clips: a real take as the centre would be one
    # of the scored clips (DTW 0 to itself), so the reference is left out, not made up
    assert m["training_medoid_dist_mean"] is None
    assert all("dist_mean_training_medoid" not in p for p in m["per_class"].values())


def test_run_report_reference_of_a_real_take_on_unseen_clips(exported_run, tmp_path):
    # drums the run never saw (another synthesis seed): its training clips are all candidates
    out = tmp_path / "report"
    rc = main(["evaluate", str(exported_run), "--data", "synthetic:drums?n=24&seed=7&split=none",
               "--split", "all", "--out", str(out), "--checkpoint", "last", "--quiet",
               "--no-tsne"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    # the reference centre: a real training take per class, scored like the decoded centres
    assert np.isfinite(m["training_medoid_dist_mean"]) and m["training_medoid_dist_std"] > 0
    assert all(np.isfinite(p["dist_mean_training_medoid"]) for p in m["per_class"].values())
    assert "centroid dist of a real take" in (out / "report.md").read_text()


def test_run_and_its_exported_preset_give_the_same_numbers(run_report, exported_preset,
                                                            tmp_path):
    """TensorFlow and ONNX Runtime paths agree (the export is parity-checked to ~1e-5)."""
    out = tmp_path / "preset-report"
    rc = main(["evaluate", str(exported_preset), "--data", DATA, "--split", "all",
               "--out", str(out), "--quiet", "--no-tsne"])
    assert rc == 0
    a = json.loads((run_report / "metrics.json").read_text())
    b = json.loads((out / "metrics.json").read_text())
    assert b["model"]["kind"] == "preset"
    assert a["one_nn_accuracy"] == b["one_nn_accuracy"]
    assert a["nearest_centroid_accuracy"] == b["nearest_centroid_accuracy"]
    assert b["recon_snr_db"] == pytest.approx(a["recon_snr_db"], abs=0.01)
    assert b["centroid_level_db"] == pytest.approx(a["centroid_level_db"], abs=0.05)
    assert b["centroid_dist_mean"] == pytest.approx(a["centroid_dist_mean"], abs=0.02)
    # a preset also scores its own training centroids (from preset.json)
    assert b["training_centroids"] is not None
    assert 0.0 <= b["training_centroids"]["nearest_centroid_accuracy"] <= 1.0


def test_run_default_data_and_out_guard(exported_run, tmp_path, capsys):
    # without --data a run is evaluated on its own sources and split (held-out clips)
    out = tmp_path / "own"
    rc = main(["evaluate", str(exported_run), "--out", str(out), "--quiet", "--no-tsne",
               "--checkpoint", "last", "--split", "all"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["sources"] == ["synthetic:drums?n=48"]
    assert m["training_centroids"] is not None  # its own training clips are known
    before = (exported_run / "metrics.json").read_bytes()
    rc = main(["evaluate", str(exported_run), "--out", str(exported_run), "--quiet",
               "--checkpoint", "last", "--split", "all"])
    assert rc == 2 and "must not be the run folder" in capsys.readouterr().err
    assert (exported_run / "metrics.json").read_bytes() == before


def test_probe_sines_on_a_plain_autoencoder(tmp_path, exported_run, capsys):
    """--probe-sines reads a plain run's x32 bottleneck as a signal at 1/32 of the rate."""
    from vae_synth.train.recipe import Recipe
    from vae_synth.train.trainer import RunOptions, train

    run_dir = tmp_path / "plain"
    recipe = Recipe.from_dict({
        "data": {"sources": ["synthetic:fm?n=24"], "sample_rate": 16000, "frame_length": 2048},
        "model": {"arch": "conv", "config": "small", "plain": True},
        "schedule": {"steps": 3, "batch_size": 8}})
    train(recipe, RunOptions(out=str(run_dir), verbose=0, tensorboard=False, monitor_every=0))
    out = tmp_path / "report"
    rc = main(["evaluate", str(run_dir), "--data", "synthetic:fm?n=24&split=none", "--split",
               "all", "--out", str(out), "--quiet", "--no-tsne", "--checkpoint", "last",
               "--probe-sines", "80,248,1200"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    probe = m["latent_sine_probe"]
    assert probe["latent_rate_hz"] == 500.0  # 16 kHz / 32
    assert probe["latent_nyquist_hz"] == 250.0
    assert [r["input_hz"] for r in probe["sines"]] == [80.0, 248.0, 1200.0]
    # where a sampled sine would fold to: 1200 Hz at 500 Hz -> 200 Hz; 248 Hz stays
    assert [r["alias_hz"] for r in probe["sines"]] == [80.0, 248.0, 200.0]
    assert all(0.0 <= r["latent_peak_hz"] <= 250.0 for r in probe["sines"])
    assert m["kl_per_dim"] is None and m["active_dims"] is None  # no variational bottleneck
    assert (out / "latent_sines.png").stat().st_size > 1000
    assert "thesis Fig. 4.2" in (out / "report.md").read_text()
    rc = main(["evaluate", str(run_dir), "--out", str(tmp_path / "r2"), "--probe-sines", "x"])
    assert rc == 2 and "expected HZ,HZ" in capsys.readouterr().err
    # a variational run has no latent signal to read
    rc = main(["evaluate", str(exported_run), "--out", str(tmp_path / "r3"), "--probe-sines", "80"])
    assert rc == 2 and "needs a plain autoencoder" in capsys.readouterr().err


def test_one_clip_per_class_is_refused_with_a_reason(exported_preset, tmp_path, capsys):
    out = tmp_path / "tiny"
    rc = main(["evaluate", str(exported_preset), "--data", "synthetic:drums?n=4&split=none",
               "--split", "all", "--out", str(out), "--quiet", "--no-tsne"])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "need at least 2 evaluated clips of one class" in err and "Traceback" not in err
    assert not (out / "metrics.json").exists()

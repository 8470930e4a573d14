"""Real training: overfitting, the RUN_DIR layout and load_run, resume after kill -9, and the
two tf.distribute paths (MirroredStrategy over 2 logical CPUs, MultiWorkerMirroredStrategy with two
worker processes on loopback ports). Data: the project's drum synthesiser (no ../shared)."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

TINY = ["--data", "synthetic:drums?n=16&split=holdout:1", "--arch", "conv", "--config", "small",
        "--sample-rate", "16000", "--frame-length", "2048", "--latent-dim", "8",
        "--batch-size", "4", "--no-tensorboard", "--monitor-every", "1"]


# the decoder's optional branches: anti-imaging, filtered noise, harmonic oscillators
DECODER_BRANCHES = ["--antialias", "--noise-bands", "4", "--harmonics", "3", "--f0-range", "80,500"]


def _cli(*args, env=None, timeout=240, check=True):
    cmd = [sys.executable, "-m", "vae_synth", "train", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def _history(run_dir: Path) -> list[dict]:
    with open(run_dir / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_small_model_overfits_a_handful_of_clips(tmp_path):
    """8 synthetic drum hits, 300 steps, MSE (weight 20) + multi-resolution STFT: the joint loss
    and the waveform MSE both fall by at least 2x (measured 2.5x and 2.7x) and the
    reconstructions keep the clips' level (not the silent collapse of waveform MSE alone)."""
    from vae_synth.evaluate import metrics as M
    from vae_synth.train.recipe import Recipe
    from vae_synth.train.run import load_run
    from vae_synth.train.trainer import RunOptions, infer, train

    recipe = Recipe.from_dict({
        "data": {"sources": ["synthetic:drums?n=8&split=none"], "sample_rate": 16000,
                 "frame_length": 2048},
        "model": {"arch": "conv", "config": "small", "latent_dim": 8},
        "loss": {"beta": 1e-4, "gamma": 0.1, "mse_weight": 20.0},
        "schedule": {"steps": 300, "batch_size": 8, "lr": 2e-3, "seed": 0}})
    metrics = train(recipe, RunOptions(out=str(tmp_path / "run"), verbose=0, tensorboard=False,
                                       monitor_every=0, checkpoint_every=100))
    hist = _history(tmp_path / "run")
    first, last = float(hist[0]["loss"]), float(hist[-1]["loss"])
    mse_first, mse_last = float(hist[0]["recon_mse"]), float(hist[-1]["recon_mse"])
    assert len(hist) == 300 and last < first / 2, (first, last)
    assert mse_last < mse_first / 2, (mse_first, mse_last)
    assert float(hist[-1]["acc"]) == 1.0
    run = load_run(tmp_path / "run")
    data = run.load_data()
    x_hat = infer(run.decoder, infer(run.encoder, data.train_x)[0])
    level_gap = np.median(M.rms_db(x_hat) - M.rms_db(data.train_x))
    assert abs(level_gap) < 6, level_gap
    assert metrics["steps"] == 300 and metrics["recon_snr_db"] > 0.5


def test_cli_writes_run_dir_and_load_run_reads_it(tmp_path):
    from vae_synth.train.run import RunError, load_run

    out = tmp_path / "run"
    with_tensorboard = [arg for arg in TINY if arg != "--no-tensorboard"]
    proc = _cli(*with_tensorboard, "--out", str(out), "--steps", "8", "--seed", "3")
    assert "held-out: 1-NN" in proc.stdout  # the final summary line
    # TensorFlow's start-up noise is filtered (train.backend); on a CPU machine the CUDA probe too
    assert "absl::InitializeLog" not in proc.stderr and "cudart_stub" not in proc.stderr
    from vae_synth.train.backend import has_gpu_device

    assert has_gpu_device() or "cuInit" not in proc.stderr
    assert list((out / "logs" / "train").glob("events.out.tfevents.*"))  # TensorBoard scalars
    config = json.loads((out / "config.json").read_text())
    for key in ("arch", "config", "model", "latent_dim", "sample_rate", "frame_length", "sources",
                "split", "preprocess", "class_names", "seed", "loss", "plain", "licence",
                "attribution"):
        assert key in config, key
    assert config["class_names"] == ["kick", "snare", "tom", "hihat"]
    assert (config["sample_rate"], config["frame_length"], config["seed"]) == (16000, 2048, 3)
    assert config["loss"]["beta"] == 1e-3 and config["licence"] == "CC0-1.0"
    assert "f0_weight" not in config["loss"]  # no harmonic branch: no pitch term listed
    for name in ("last", "best"):
        state = json.loads((out / "checkpoints" / name / "state.json").read_text())
        assert set(state) >= {"step", "epoch", "val_loss"}
    assert json.loads((out / "checkpoints/last/state.json").read_text())["step"] == 9  # 3 x 3
    assert (out / "logs" / "metrics.csv").exists() and len(_history(out)) == 3
    assert "val_snr_db" in _history(out)[0]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"recon_snr_db", "recon_ratio", "centroid_level_db",
                            "one_nn_accuracy", "nearest_centroid_accuracy"}
    assert set(metrics["centroid_level_db"]) == {"kick", "snare", "tom", "hihat"}

    run = load_run(out, "best")
    data = run.load_data()
    assert data.train_x.shape == (12, 2048) and data.test_x.shape == (4, 2048)
    mu, logvar = run.encoder.predict(data.test_x, verbose=0)
    assert mu.shape == (4, 8) and run.decoder.predict(mu, verbose=0).shape == (4, 2048)
    assert run.classifier.predict(mu, verbose=0).shape == (4, 4)

    again = _cli(*TINY, "--out", str(out), "--steps", "8", check=False)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    with pytest.raises(RunError, match="no checkpoint 'nope'"):
        load_run(out, "nope")
    bad = _cli("--data", "folder:/nonexistent", "--out", str(tmp_path / "x"), check=False)
    assert bad.returncode == 2 and "is not a folder" in bad.stderr
    lone = _cli(*TINY, "--prior-classifier", "--out", str(tmp_path / "y"), "--steps", "1",
                check=False)
    assert lone.returncode == 2 and "--prior-classifier needs --class-prior" in lone.stderr
    lone = _cli(*TINY, "--cluster-weight", "0.1", "--out", str(tmp_path / "z"), "--steps", "1",
                check=False)
    assert lone.returncode == 2 and "--cluster-weight needs --class-prior" in lone.stderr


def test_plain_autoencoder_run(tmp_path):
    from vae_synth.train.recipe import Recipe
    from vae_synth.train.run import load_run
    from vae_synth.train.trainer import RunOptions, train

    out = tmp_path / "plain"
    recipe = Recipe.from_dict({
        "data": {"sources": ["synthetic:drums?n=16&split=holdout:1"], "sample_rate": 16000,
                 "frame_length": 2048},
        "model": {"plain": True}, "schedule": {"steps": 3, "batch_size": 4}})
    metrics = train(recipe, RunOptions(out=str(out), verbose=0, tensorboard=False))
    run = load_run(out)
    assert run.plain and run.classifier is None
    assert run.config["latent_dim"] == 2048 // 32 * 8  # bottleneck signal: 64 steps x 8 channels
    assert np.isfinite(metrics["recon_snr_db"]) and metrics["steps"] == 3
    assert float(_history(out)[0]["kl"]) == 0.0  # no KL term in a plain autoencoder
    # --overwrite starts over: no resume from the old backup, no old rows in the logs
    again = train(recipe.replace({"schedule.steps": 6}),
                  RunOptions(out=str(out), verbose=0, tensorboard=False, overwrite=True))
    assert again["steps"] == 6 and [r["epoch"] for r in _history(out)] == ["0", "1"]


@pytest.mark.slow
def test_resume_after_kill_9(tmp_path):
    """kill -9 mid-run: the last checkpoint loads, and --resume finishes the planned steps
    without repeating the epochs already done (at most one epoch of steps lost)."""
    from vae_synth.train.run import load_run

    out = tmp_path / "run"
    # options that live in config.json and must come back on --resume: the stretch
    # augmentation (12 clips + 1 copy each = 6 steps per epoch), dropout, the prior classifier,
    # the decoder's anti-imaging, noise branch and harmonic branch
    options = ["--augment", "gain=3,stretch=0.05", "--augment-copies", "1",
               "--encoder-dropout", "0.2", "--class-prior", "3", "--prior-classifier",
               "--cluster-weight", "0.1", *DECODER_BRANCHES]
    cmd = [sys.executable, "-m", "vae_synth", "train", *TINY, *options, "--out", str(out),
           "--epochs", "400", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        backup_state = out / "checkpoints/backup/current/training_metadata.json"
        while time.time() < deadline:
            # 4 epochs logged and backed up (on a loaded machine the backup trails the log)
            if ((out / "history.csv").exists() and len(_history(out)) >= 4
                    and backup_state.exists()
                    and json.loads(backup_state.read_text() or "{}").get("epoch", 0) >= 4):
                break
            time.sleep(0.2)
        else:
            pytest.fail("training did not reach 4 backed-up epochs in 180 s")
        time.sleep(0.7)  # land somewhere inside an epoch or a checkpoint write
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(_history(out))
    last = json.loads((out / "checkpoints/last/state.json").read_text())
    backup = json.loads((out / "checkpoints/backup/current/training_metadata.json").read_text())
    assert last["epoch"] >= 4 and backup["epoch"] >= 4
    assert done - backup["epoch"] <= 1  # the CSV row of an epoch is written before its backup
    load_run(out, "last")  # loads: not torn
    # leftovers of an interrupted write never carry a real name
    assert all(p.name.startswith(("ckpt-", ".tmp-", "last", "best", "backup"))
               for p in (out / "checkpoints").iterdir())

    total_epochs = backup["epoch"] + 2
    _cli("--out", str(out), "--resume", "--epochs", str(total_epochs), "--no-tensorboard")
    epochs = [int(r["epoch"]) for r in _history(out)]
    assert epochs[-2:] == [total_epochs - 2, total_epochs - 1]
    assert epochs[-3] in (total_epochs - 3, total_epochs - 2)  # the lost epoch, if any, redone
    state = json.loads((out / "checkpoints/last/state.json").read_text())
    assert state["epoch"] == total_epochs and state["step"] == total_epochs * 6
    config = json.loads((out / "config.json").read_text())
    assert config["augment"] == {"gain_db": 3.0, "shift": 0, "stretch": 0.05, "noise": 0.0,
                                 "copies": 1}
    # the recipe read back on --resume, longer by what the resume said, and the flags recorded
    assert config["recipe"]["schedule"]["epochs"] == total_epochs
    assert config["resumes"] == [{"schedule.epochs": total_epochs}]
    assert config["overrides"]["model.harmonics"] == 3 and config["recipe_file"] is None
    assert (config["model"]["encoder_dropout"], config["model"]["classifier"],
            config["model"]["prior_spread"], config["loss"]["class_prior"],
            config["loss"]["f0_weight"], config["loss"]["cluster_weight"]) == (
                0.2, "prior", 3.0, 3.0, 1.0, 0.1)
    run = load_run(out, "last")
    assert len(run.classifier.trainable_weights) == 0
    assert run.encoder.get_layer("enc_dropout").rate == 0.2
    assert (config["model"]["antialias"], config["model"]["noise_bands"]) == (True, 4)
    assert run.decoder.get_layer("noise_gain").filters == 4
    assert config["model"]["harmonics"] == {"count": 3, "f0_min": 80.0, "f0_max": 500.0,
                                            "sample_rate": 16000}
    assert run.decoder.get_layer("harm_amp").filters == 3
    assert float(_history(out)[-1]["f0"]) > 0  # the pitch term was trained
    assert len([layer for layer in run.decoder.layers if layer.name.endswith("_antialias")]) == 5


@pytest.mark.slow
def test_mirrored_strategy_over_two_logical_cpus(tmp_path):
    out = tmp_path / "mirrored"
    proc = _cli(*TINY, "--out", str(out), "--steps", "6", "--cpu-replicas", "2",
                "--distribute", "mirrored")
    assert "MirroredStrategy over 2 devices" in proc.stderr
    hist = _history(out)
    assert len(hist) == 2 and all(np.isfinite(float(r["loss"])) for r in hist)
    from vae_synth.train.run import load_run

    run = load_run(out)
    assert run.decoder.predict(np.zeros((1, 8), np.float32), verbose=0).shape == (1, 2048)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_mirrored_strategy_two_processes(tmp_path):
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "multi"
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}})}
        cmd = [sys.executable, "-m", "vae_synth", "train", *TINY, "--out", str(out),
               "--steps", "6", "--quiet"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=300))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert "MultiWorkerMirroredStrategy, 2 replicas" in outputs[0][1]
    # the chief (worker 0) owns RUN_DIR; the other worker wrote only its own scratch folder
    assert len(_history(out)) == 2
    assert json.loads((out / "checkpoints/last/state.json").read_text())["step"] == 6
    assert "held-out: 1-NN" in outputs[0][0] and outputs[1][0].strip() == ""


# Run as `python -c HIDE_TENSORFLOW train ...`: the GPU machine this path is for has JAX but no
# TensorFlow, so the child process refuses to import it (and tf2onnx) at all.
HIDE_TENSORFLOW = """
import sys
class HideTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf2onnx"):
            raise ImportError(name + " is hidden: a machine without TensorFlow")
sys.meta_path.insert(0, HideTensorFlow())
from vae_synth.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_jax_backend_data_parallel_without_tensorflow(tmp_path):
    """KERAS_BACKEND=jax, keras.distribution.DataParallel over two virtual CPU devices, in a
    process that cannot import TensorFlow; the weights it saves load into the TensorFlow model.
    The decoder has every optional branch, so each trains under JAX too."""
    pytest.importorskip("jax")
    out = tmp_path / "jax"
    env = {**os.environ, "KERAS_BACKEND": "jax",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    proc = subprocess.run(
        [sys.executable, "-c", HIDE_TENSORFLOW, "train", *TINY, "--out", str(out), "--steps", "6",
         "--distribute", "jax", *DECODER_BRANCHES], env=env, capture_output=True, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Warning" not in proc.stderr, proc.stderr[-3000:]
    assert "keras.distribution.DataParallel over 2 jax devices" in proc.stdout + proc.stderr
    hist = _history(out)
    assert len(hist) == 2 and all(np.isfinite(float(r["loss"])) for r in hist)
    assert json.loads((out / "checkpoints/last/state.json").read_text())["step"] == 6
    from vae_synth.train.run import load_run

    run = load_run(out)  # built under TensorFlow here, weights from JAX
    audio = run.decoder.predict(np.zeros((1, 8), np.float32), verbose=0)
    assert audio.shape == (1, 2048) and np.all(np.isfinite(audio))

"""`vae-synth train`: data -> joint VAE -> model.fit with Keras callbacks -> RUN_DIR.

The RUN_DIR layout is in docs/ARCHITECTURE.md. One Keras "epoch" is one pass over the training
array (real clips, synthesised clips and any augmented copies); checkpoints and the resume state
are written at epoch ends, so a kill loses at most one epoch of steps (``--checkpoint-every``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from vae_synth.train import data as data_mod
from vae_synth.train.losses import DEFAULT_LOSS


@dataclass
class TrainOptions:
    """Everything `vae-synth train` accepts (see train/cli.py for the meaning of each)."""

    sources: list[str]
    out: str
    arch: str = "conv"
    config: str = "small"
    encoder: str = "waveform"  # or a name from models.ENCODERS (replaces the config's encoder)
    output_gate_db: float | None = None  # threshold of the decoder's output gate (None: none)
    encoder_dropout: float | None = None  # dropout on the encoder's flat features (None: none)
    prior_classifier: bool = False  # classifier = posterior of the class prior (models.py)
    antialias: bool = False  # a moving average after each strided convT (models.anti_image)
    noise_bands: int = 0  # B > 0: a filtered-noise branch in the decoder (models.noise_branch)
    harmonics: int = 0  # K > 0: a harmonic oscillator bank in the decoder (models.harmonic_branch)
    f0_range: tuple[float, float] = (60.0, 400.0)  # Hz, of the harmonic branch's f0
    waveform_branch: bool = True  # False: only the harmonic/noise branches make sound
    latent_dim: int = 20
    steps: int | None = None
    epochs: int | None = None
    resume: bool = False
    sample_rate: int | None = None
    frame_length: int | None = None
    seed: int = 0
    batch_size: int = 16
    lr: float = 1e-4
    lr_schedule: str = "constant"  # or "cosine": decay to 5 % of lr over the planned steps
    clipnorm: float = 1.0
    plain: bool = False
    loss: dict = field(default_factory=dict)
    augment: str | None = None
    augment_copies: int = 0
    checkpoint_every: int = 1
    monitor_every: int = 5
    distribute: str = "auto"
    cpu_replicas: int = 0
    mixed_precision: str = "auto"
    verbose: int = 1
    tensorboard: bool = True
    overwrite: bool = False
    model: dict | None = None  # resolved model configuration (set when resuming)


class TrainError(RuntimeError):
    """A run that cannot start (bad RUN_DIR, bad options)."""


# ----------------------------------------------------------------------------- distribution


def _configure_cpu_replicas(n: int) -> None:
    """Split the CPU into n logical devices (must run before TensorFlow initialises devices)."""
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(n)]
    )


def make_strategy(mode: str, cpu_replicas: int = 0):
    """(strategy or None, description). mode: auto | none | mirrored | multiworker | jax."""
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        if mode in ("none",):
            return None, "single device (jax)"
        import jax

        devices = jax.devices()
        if mode == "jax" or (mode == "auto" and len(devices) > 1):
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            return None, f"keras.distribution.DataParallel over {len(devices)} jax devices"
        return None, "single device (jax)"
    if mode == "jax":
        raise TrainError(f"--distribute jax needs KERAS_BACKEND=jax (this process runs {backend})")
    if backend != "tensorflow":
        return None, f"single device ({backend})"
    import tensorflow as tf

    if cpu_replicas > 1:
        _configure_cpu_replicas(cpu_replicas)
    if mode == "multiworker" or (mode == "auto" and os.environ.get("TF_CONFIG")):
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return strategy, (f"MultiWorkerMirroredStrategy, {strategy.num_replicas_in_sync} "
                          f"replicas (TF_CONFIG)")
    gpus = tf.config.list_logical_devices("GPU")
    if mode == "mirrored" or (mode == "auto" and len(gpus) > 1):
        if gpus:
            strategy = tf.distribute.MirroredStrategy()
        else:
            cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(devices=cpus)
        return strategy, f"MirroredStrategy over {strategy.num_replicas_in_sync} devices"
    return None, "single device" + (" (GPU)" if gpus else " (CPU)")


def _is_chief() -> bool:
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = tf_config.get("task", {})
    if not task:
        return True
    return task.get("type") in ("chief",) or (
        task.get("type") == "worker" and int(task.get("index", 0)) == 0
        and "chief" not in tf_config.get("cluster", {})
    )


# ----------------------------------------------------------------------------- config


def _build_config(opts: TrainOptions, data: data_mod.LabelledAudio, model_cfg: dict,
                  latent_dim: int, loss_cfg: dict, augment: data_mod.Augment) -> dict:
    from vae_synth import __version__

    return {
        "format": "vae-synth-run",
        "version": 1,
        "vae_synth_version": __version__,
        "arch": opts.arch,
        "config": opts.config,
        "encoder": opts.encoder,
        "model": model_cfg,
        "latent_dim": latent_dim,
        "sample_rate": data.sample_rate,
        "frame_length": data.frame_length,
        "sources": list(opts.sources),
        "split": {s: data_mod.parse_source(s).options.get(
            "split", "official" if s.startswith("fsdd:") else "holdout:0.2") for s in opts.sources},
        "preprocess": dict(data_mod.DEFAULT_PREPROCESS),
        "augment": {**augment.to_dict(), "copies": opts.augment_copies},
        "class_names": list(data.class_names),
        "num_train": int(len(data.train_x)),
        "num_test": int(len(data.test_x)),
        "seed": opts.seed,
        "loss": loss_cfg,
        "optimizer": {"name": "adam", "lr": opts.lr, "clipnorm": opts.clipnorm,
                      "lr_schedule": opts.lr_schedule},
        "batch_size": opts.batch_size,
        "plain": opts.plain,
        "licence": data.licence,
        "attribution": data.attribution,
        "training_files": data.train_files,
        "test_files": data.test_files,
    }


def _augmented_training_set(data: data_mod.LabelledAudio, augment: data_mod.Augment,
                            copies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """train_x plus ``copies`` augmented copies (seeded) -> (x [N*(1+copies), L], y)."""
    xs, ys = [data.train_x], [data.train_y]
    if augment.active and copies > 0:
        rng = np.random.default_rng(seed + 7919)
        for _ in range(copies):
            xs.append(augment(data.train_x, rng))
            ys.append(data.train_y)
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


# ----------------------------------------------------------------------------- callbacks


def infer(model, x: np.ndarray, batch: int = 64):
    """Call a Keras model in batches, inference mode -> numpy (a list for several outputs).

    Direct calls rather than ``predict``: under MultiWorkerMirroredStrategy ``predict`` is a
    collective that every worker must join, while this runs on the chief alone.
    """
    outs = []
    for i in range(0, len(x), batch):
        out = model(x[i : i + batch], training=False)
        outs.append([np.asarray(o) for o in out] if isinstance(out, (list, tuple))
                    else np.asarray(out))
    if isinstance(outs[0], list):
        return [np.concatenate([o[k] for o in outs]) for k in range(len(outs[0]))]
    return np.concatenate(outs)


def _recon_monitor(data: data_mod.LabelledAudio, every: int):
    """Callback: every ``every`` epochs log val_snr_db and val_level_db (decoder vs real level)."""
    import keras
    from vae_synth.train import metrics as M

    class ReconMonitor(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if logs is None or not len(data.test_x):
                return
            if epoch > 0 and (epoch + 1) % every:
                # CSVLogger fixes its columns at the first epoch: keep the keys, mark "not measured"
                logs["val_snr_db"] = logs["val_level_db"] = float("nan")
                return
            mu = infer(self.model.encoder, data.test_x)[0]
            x_hat = infer(self.model.decoder, mu)
            logs["val_snr_db"] = float(np.median(M.snr_db_per_clip(data.test_x, x_hat)))
            logs["val_level_db"] = float(np.median(M.rms_db(x_hat) - M.rms_db(data.test_x)))

    return ReconMonitor()


# ----------------------------------------------------------------------------- evaluation


def evaluate_run(encoder, decoder, data: data_mod.LabelledAudio, plain: bool) -> dict:
    """Held-out figures for the final summary, with the metrics of ``vae-synth evaluate``
    (train/metrics.py): SNR, recon_ratio, level of each decoded class centre against its real
    clips, 1-NN (leave-one-out on the held-out means) and the nearest training centroid."""
    from vae_synth.train import metrics as M

    test_x = data.test_x if len(data.test_x) else data.train_x
    test_y = data.test_y if len(data.test_y) else data.train_y
    n_classes = len(data.class_names)
    mu_tr = infer(encoder, data.train_x)[0]
    mu_te = infer(encoder, test_x)[0]
    x_hat = infer(decoder, mu_te)
    all_mu = np.concatenate([mu_tr, mu_te])
    all_y = np.concatenate([data.train_y, test_y])
    centres = np.nan_to_num(M.class_centroids(all_mu, all_y, n_classes)).astype(np.float32)
    levels = M.centroid_level_db(infer(decoder, centres), test_x, test_y)
    centroid_level = {name: float(levels[c]) for c, name in enumerate(data.class_names)
                      if np.isfinite(levels[c])}
    snrs = M.snr_db_per_clip(test_x, x_hat)
    try:
        ratio = M.recon_ratio(test_x, x_hat, test_y, data.sample_rate)
    except ValueError:  # one held-out clip per class: no same-class pair to compare with
        ratio = M.ReconRatio(float("nan"), float("nan"), float("nan"))
    train_centres = M.class_centroids(mu_tr, data.train_y, n_classes)
    return {
        "recon_snr_db": float(np.median(snrs)),
        "recon_snr_db_mean": float(np.mean(snrs)),
        "recon_logmel_distance": ratio.recon_median_db,
        "same_class_logmel_distance": ratio.pair_median_db,
        "recon_ratio": ratio.ratio,
        "centroid_level_db": centroid_level,
        "centroid_level_db_worst": float(max(np.abs(list(centroid_level.values())), default=0.0)),
        "recon_level_db": float(np.median(M.rms_db(x_hat) - M.rms_db(test_x))),
        "nearest_centroid_accuracy": M.nearest_centroid_accuracy(mu_te, test_y, train_centres),
        "one_nn_accuracy": M.one_nn_accuracy(mu_te, test_y) if len(test_y) > 1 else float("nan"),
        "num_test": int(len(test_x)),
    }


def summary_line(metrics: dict) -> str:
    lv = metrics.get("centroid_level_db", {})
    levels = " ".join(f"{k}:{v:+.1f}" for k, v in lv.items())
    return (
        f"held-out: recon SNR {metrics['recon_snr_db']:.2f} dB, recon_ratio "
        f"{metrics['recon_ratio']:.3f}, 1-NN {metrics['one_nn_accuracy']:.3f}, nearest-centroid "
        f"{metrics['nearest_centroid_accuracy']:.3f}; centroid level vs real (dB) {levels}"
    )


# ----------------------------------------------------------------------------- main entry


def train(opts: TrainOptions) -> dict:
    """Train (or resume) a run; returns the final metrics dict (also in RUN_DIR/metrics.json)."""
    out = Path(opts.out)
    config_path = out / "config.json"
    if opts.resume:
        if not config_path.exists():
            raise TrainError(f"--resume: {config_path} does not exist (nothing to resume)")
        saved = json.loads(config_path.read_text())
        opts = _options_from_config(saved, opts)
    elif config_path.exists() and not opts.overwrite:
        raise TrainError(
            f"{out} already holds a run (config.json); use --resume to continue it, "
            "--overwrite to start over, or another --out"
        )

    # data first: a bad SOURCE fails before TensorFlow loads
    if opts.sample_rate is None or opts.frame_length is None:
        sr, fl = data_mod.default_rate_and_frame(opts.sources)
        opts.sample_rate = opts.sample_rate or sr
        opts.frame_length = opts.frame_length or fl
    t_load = time.time()
    data = data_mod.load_sources(opts.sources, opts.sample_rate, opts.frame_length, opts.seed)
    _say(opts, f"data: {data.summary()} ({time.time() - t_load:.1f} s)")
    augment = data_mod.Augment.parse(opts.augment)
    x, y = _augmented_training_set(data, augment, opts.augment_copies, opts.seed)
    if opts.overwrite and not opts.resume and _is_chief():
        # start over (only once the data loaded): nothing of the old run may be resumed or
        # mixed into the new logs
        for name in ("checkpoints", "logs"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in ("config.json", "history.csv", "metrics.json"):
            (out / name).unlink(missing_ok=True)

    import keras
    from vae_synth.train import checkpoints, models
    from vae_synth.train.losses import make_joint_model

    strategy, strategy_text = make_strategy(opts.distribute, opts.cpu_replicas)
    if opts.mixed_precision == "on" or (opts.mixed_precision == "auto" and _has_gpu()):
        keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(opts.seed)

    model_cfg = models.resolve_config(opts.arch, opts.model or opts.config, opts.encoder)
    if not opts.model:  # when resuming, the saved configuration already holds these
        if opts.output_gate_db is not None:
            model_cfg["output_gate_db"] = float(opts.output_gate_db)
        if opts.encoder_dropout:
            model_cfg["encoder_dropout"] = float(opts.encoder_dropout)
        if opts.antialias:
            model_cfg["antialias"] = True
        if opts.noise_bands:
            model_cfg["noise_bands"] = int(opts.noise_bands)
        if not opts.waveform_branch:
            model_cfg["waveform_branch"] = False
        if opts.harmonics:
            model_cfg["harmonics"] = {"count": int(opts.harmonics), "f0_min": opts.f0_range[0],
                                      "f0_max": opts.f0_range[1], "sample_rate": data.sample_rate}
        if opts.prior_classifier:
            if not opts.loss.get("class_prior"):
                raise TrainError("--prior-classifier needs --class-prior SPREAD (the class centres)")
            model_cfg.update(classifier="prior", prior_spread=float(opts.loss["class_prior"]))
    if opts.loss.get("cluster_weight") and not opts.loss.get("class_prior"):
        raise TrainError("--cluster-weight needs --class-prior SPREAD (the class centres)")
    loss_cfg = {**DEFAULT_LOSS, **opts.loss, "sample_rate": data.sample_rate}
    if not model_cfg.get("harmonics"):  # config.json lists only the weights this run uses
        for key in ("f0_weight", "voiced_noise_weight"):
            loss_cfg.pop(key)
    chief = _is_chief()
    # only the chief writes RUN_DIR; other workers checkpoint into a scratch folder (removed)
    run_dir = out if chief else Path(tempfile.mkdtemp(prefix="vae-synth-worker-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)

    steps_per_epoch = math.ceil(len(x) / opts.batch_size)
    epochs = math.ceil(opts.steps / steps_per_epoch) if opts.steps else (opts.epochs or 100)
    total_steps = epochs * steps_per_epoch
    scope = strategy.scope() if strategy is not None else _null_scope()
    with scope:
        encoder, decoder, classifier, latent_dim = models.build_models(
            model_cfg, data.frame_length, opts.latent_dim, data.num_classes, opts.plain)
        model = make_joint_model(encoder, decoder, classifier, loss_cfg, opts.plain, opts.seed,
                                 input_noise=augment.noise)
        model.compile(optimizer=keras.optimizers.Adam(
            _learning_rate(opts, total_steps), clipnorm=opts.clipnorm))
        model(x[:2])  # build (BackupAndRestore needs a built model)
        model.optimizer.build(model.trainable_variables)
    config = _build_config(opts, data, model_cfg, latent_dim, loss_cfg, augment)
    if chief and not opts.resume:
        checkpoints.write_json_atomic(config_path, config)

    encoder_text = "" if opts.encoder == "waveform" else f" with the {opts.encoder} encoder"
    _say(opts, f"model: {opts.arch}/{opts.config}{encoder_text}{' plain' if opts.plain else ''}, latent "
               f"{latent_dim}, encoder {encoder.count_params():,} params, decoder "
               f"{decoder.count_params():,}; {strategy_text}; {len(x)} training examples, "
               f"{steps_per_epoch} steps/epoch, {epochs} epochs = {epochs * steps_per_epoch} steps")

    ckpt_root = run_dir / "checkpoints"
    sub_models = {"encoder": encoder, "decoder": decoder, "classifier": classifier}
    # Order matters at each epoch's end: the logs (and last/best) are written before the backup
    # that marks the epoch done, so a kill between them never loses an epoch's row.
    callbacks = [
        _recon_monitor(data, opts.monitor_every) if chief and opts.monitor_every else None,
        checkpoints.ResumableCSVLogger(str(run_dir / "logs" / "metrics.csv"), append=True),
        checkpoints.ResumableCSVLogger(str(run_dir / "history.csv"), append=True),
        checkpoints.RunCheckpoint(ckpt_root, sub_models, steps_per_epoch, opts.checkpoint_every),
        checkpoints.AtomicBackupAndRestore(str(ckpt_root / "backup"), save_freq="epoch",
                                           every=opts.checkpoint_every),
        keras.callbacks.TerminateOnNaN(),
    ]
    if opts.tensorboard and keras.backend.backend() == "tensorflow" and _has_tensorboard():
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "logs"), update_freq="epoch",
                                                     write_graph=False))
    callbacks = [c for c in callbacks if c is not None]
    has_test = len(data.test_x) > 0
    t0 = time.time()
    history = model.fit(
        x, y, batch_size=opts.batch_size, epochs=epochs, shuffle=True,
        validation_data=(data.test_x, data.test_y) if has_test else None,
        callbacks=callbacks, verbose=opts.verbose,
    )
    elapsed = time.time() - t0
    if not chief:
        shutil.rmtree(run_dir, ignore_errors=True)
        return {}
    if any(not np.isfinite(v) for v in history.history.get("loss", [0.0])):
        raise TrainError("training diverged (loss is NaN); try a lower --lr (1e-4 with clipnorm 1)")

    metrics = evaluate_run(encoder, decoder, data, opts.plain)
    metrics.update({
        "arch": opts.arch, "config": opts.config, "latent_dim": latent_dim,
        "steps": int(checkpoints.read_state(ckpt_root / "last")["step"]),
        "train_seconds_this_session": round(elapsed, 1),
        "final_loss": _last(history.history, "loss"),
        "final_val_loss": _last(history.history, "val_loss"),
    })
    checkpoints.write_json_atomic(run_dir / "metrics.json", metrics)
    _say(opts, f"done: {metrics['steps']} steps, {elapsed:.0f} s; " + summary_line(metrics), True)
    return metrics


def _learning_rate(opts: TrainOptions, total_steps: int):
    """Adam's learning rate: a float, or a cosine decay to 5 % over the planned steps."""
    if opts.lr_schedule == "constant":
        return opts.lr
    if opts.lr_schedule == "cosine":
        import keras

        return keras.optimizers.schedules.CosineDecay(opts.lr, max(1, total_steps), alpha=0.05)
    raise TrainError(f"unknown learning-rate schedule {opts.lr_schedule!r} (constant, cosine)")


def _has_tensorboard() -> bool:
    import importlib.util

    return importlib.util.find_spec("tensorboard") is not None


def _last(history: dict, key: str):
    values = history.get(key)
    return float(values[-1]) if values else None


def _has_gpu() -> bool:
    try:
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    except ImportError:
        import keras

        if keras.backend.backend() == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        return False


class _null_scope:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _say(opts: TrainOptions, text: str, result: bool = False) -> None:
    """Setup lines go to stderr (also with --quiet, which only drops the progress bar); the
    final summary goes to stdout."""
    print(text, file=sys.stdout if result else sys.stderr, flush=True)


def _options_from_config(saved: dict, opts: TrainOptions) -> TrainOptions:
    """Options of a run being resumed: everything from config.json, except how long to train."""
    keep = {"steps": opts.steps, "epochs": opts.epochs, "out": opts.out, "resume": True,
            "verbose": opts.verbose, "distribute": opts.distribute,
            "cpu_replicas": opts.cpu_replicas, "tensorboard": opts.tensorboard,
            "mixed_precision": opts.mixed_precision, "checkpoint_every": opts.checkpoint_every,
            "monitor_every": opts.monitor_every}
    aug = dict(saved.get("augment") or {})
    copies = int(aug.pop("copies", 0))
    aug_text = data_mod.Augment(**aug).to_text()
    restored = TrainOptions(
        sources=saved["sources"], out=opts.out, arch=saved["arch"], config=saved["config"],
        encoder=saved.get("encoder", "waveform"), latent_dim=saved["latent_dim"] if not saved.get("plain") else opts.latent_dim,
        sample_rate=saved["sample_rate"], frame_length=saved["frame_length"], seed=saved["seed"],
        batch_size=saved.get("batch_size", opts.batch_size),
        lr=saved.get("optimizer", {}).get("lr", opts.lr),
        clipnorm=saved.get("optimizer", {}).get("clipnorm", opts.clipnorm),
        lr_schedule=saved.get("optimizer", {}).get("lr_schedule", "constant"),
        plain=saved.get("plain", False), loss=saved.get("loss", {}),
        augment=aug_text or None, augment_copies=copies, model=saved.get("model"),
    )
    for k, v in keep.items():
        setattr(restored, k, v)
    return restored


def options_dict(opts: TrainOptions) -> dict:
    return asdict(opts)

"""`vae-synth train`: data -> joint VAE -> model.fit with Keras callbacks -> RUN_DIR.

The RUN_DIR layout is in docs/ARCHITECTURE.md. One Keras "epoch" is one pass over the training
array (real clips, synthesised clips and any augmented copies); checkpoints and the resume state
are written at epoch ends, so a kill loses at most one epoch of steps (``--checkpoint-every``).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from vae_synth.evaluate.inference import infer
from vae_synth.synth.atomic import write_json
from vae_synth.train import data as data_mod
from vae_synth.train.recipe import Recipe
from vae_synth.train.run import load_config

RUN_CONFIG_VERSION = 2  # 2: config.json records the recipe, its overrides and the data root


@dataclass
class RunOptions:
    """How a run is carried out; what it learns is its :class:`~vae_synth.train.recipe.Recipe`.

    data_root: the folder the recipe's SOURCE paths are relative to ("." : the current folder);
    overrides / recipe_file: recorded in config.json (which fields flags changed, and the recipe
    file the run started from).
    """

    out: str
    data_root: str = "."
    resume: bool = False
    overwrite: bool = False
    checkpoint_every: int = 1
    monitor_every: int = 5
    distribute: str = "auto"
    cpu_replicas: int = 0
    mixed_precision: str = "auto"
    verbose: int = 1
    tensorboard: bool = True
    overrides: dict = field(default_factory=dict)
    recipe_file: str | None = None


# the only fields a resumed run may change: how long it trains
RESUME_OVERRIDES = ("schedule.epochs", "schedule.steps")


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


def _build_config(recipe: Recipe, options: RunOptions, data: data_mod.LabelledAudio,
                  model_cfg: dict, latent_dim: int) -> dict:
    """config.json: the recipe resolved (its flat keys are what load_run, export and evaluate
    read), the recipe itself, the overrides and the data root, and what the data gave."""
    from vae_synth import __version__

    return {
        "format": "vae-synth-run",
        "version": RUN_CONFIG_VERSION,
        "vae_synth_version": __version__,
        **recipe.run_config(options.data_root),
        "model": model_cfg,
        "latent_dim": latent_dim,
        "preprocess": dict(data_mod.DEFAULT_PREPROCESS),
        "class_names": list(data.class_names),
        "num_train": int(len(data.train_x)),
        "num_test": int(len(data.test_x)),
        "licence": data.licence,
        "attribution": data.attribution,
        "training_files": data.train_files,
        "test_files": data.test_files,
        "recipe": recipe.to_dict(),
        "recipe_file": options.recipe_file,
        "data_root": options.data_root,
        "overrides": dict(options.overrides),
        "resumes": [],
    }


def _augmented_training_set(data: data_mod.LabelledAudio, augment: data_mod.Augment,
                            seed: int) -> tuple[np.ndarray, np.ndarray]:
    """train_x plus ``augment.copies`` augmented copies (seeded), and with ``augment.balance``
    more of the smaller classes -> (x [M, L], y [M]); M = N*(1+copies) without balance."""
    xs, ys = [data.train_x], [data.train_y]
    if augment.active and augment.copies > 0:
        rng = np.random.default_rng(seed + 7919)
        for _ in range(augment.copies):
            xs.append(augment(data.train_x, rng))
            ys.append(data.train_y)
        if augment.balance:
            counts = np.bincount(data.train_y)
            for c in np.flatnonzero(counts):
                short = int(counts.max() - counts[c]) * (1 + augment.copies)
                if short:
                    # each of the class's clips in turn, in a seeded order: no clip twice
                    # before every clip once
                    members = rng.permutation(np.flatnonzero(data.train_y == c))
                    pick = np.resize(members, short)
                    xs.append(augment(data.train_x[pick], rng))
                    ys.append(data.train_y[pick])
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


# ----------------------------------------------------------------------------- callbacks


def _recon_monitor(data: data_mod.LabelledAudio, every: int):
    """Callback: every ``every`` epochs log val_snr_db and val_level_db (decoder vs real level)."""
    import keras
    from vae_synth.evaluate import metrics as M

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


# ----------------------------------------------------------------------------- main entry


def train(recipe: Recipe | None, options: RunOptions) -> dict:
    """Train a run of ``recipe`` into ``options.out``, or resume the run there (``recipe``
    None: the recorded one, with ``options.overrides`` of how long to train); returns the final
    metrics dict (also in RUN_DIR/metrics.json)."""
    out = Path(options.out)
    config_path = out / "config.json"
    saved = None
    if options.resume:
        if recipe is not None:
            raise TrainError("--resume continues the recipe recorded in config.json; give no "
                             "other recipe")
        if not config_path.exists():
            raise TrainError(f"--resume: {config_path} does not exist (nothing to resume)")
        saved = load_config(out)
        changed = sorted(set(options.overrides) - set(RESUME_OVERRIDES))
        if changed:
            raise TrainError(f"--resume continues the recorded recipe; only how long it trains "
                             f"may change (--epochs, --steps), not {', '.join(changed)}")
        recipe = Recipe.from_run_config(saved).replace(options.overrides)
        options = dataclasses.replace(
            options, data_root=saved.get("data_root_path") or saved.get("data_root", "."))
    elif recipe is None:
        raise TrainError("no recipe to train (give --recipe or --data)")
    elif config_path.exists() and not options.overwrite:
        raise TrainError(
            f"{out} already holds a run (config.json); use --resume to continue it, "
            "--overwrite to start over, or another --out"
        )
    if not recipe.data.sources:
        raise TrainError("the recipe names no data: give --data SOURCE or a recipe with "
                         "[data] sources")

    data_root_given = saved.get("data_root", ".") if saved else options.data_root
    # A run folder belongs to this machine: its sources are resolved against the data root's
    # absolute path, so export, evaluate and --resume find the data from any folder. The root
    # as given is recorded too (a preset names its data by it, never by this machine's path).
    options = dataclasses.replace(options, data_root=os.path.abspath(options.data_root))

    # data first: a bad SOURCE fails before TensorFlow loads
    sample_rate, frame_length = recipe.rate_and_frame()
    seed = recipe.schedule.seed
    t_load = time.time()
    data = data_mod.load_sources(recipe.sources(options.data_root), sample_rate, frame_length,
                                 seed)
    _say(f"data: {data.summary()} ({time.time() - t_load:.1f} s)")
    x, y = _augmented_training_set(data, recipe.augment, seed)
    if options.overwrite and not options.resume and _is_chief():
        # start over (only once the data loaded): nothing of the old run may be resumed or
        # mixed into the new logs
        for name in ("checkpoints", "logs"):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in ("config.json", "history.csv", "metrics.json"):
            (out / name).unlink(missing_ok=True)

    import keras
    from vae_synth.train import checkpoints, models
    from vae_synth.train.losses import make_joint_model

    strategy, strategy_text = make_strategy(options.distribute, options.cpu_replicas)
    if options.mixed_precision == "on" or (options.mixed_precision == "auto" and _has_gpu()):
        keras.mixed_precision.set_global_policy("mixed_float16")
    keras.utils.set_random_seed(seed)

    # a resumed run keeps the architecture its checkpoints were written with
    model_cfg = saved["model"] if saved else recipe.model_config()
    loss_cfg = saved["loss"] if saved else recipe.loss_config()
    m, sched = recipe.model, recipe.schedule
    chief = _is_chief()
    # only the chief writes RUN_DIR; other workers checkpoint into a scratch folder (removed)
    run_dir = out if chief else Path(tempfile.mkdtemp(prefix="vae-synth-worker-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)

    steps_per_epoch = math.ceil(len(x) / sched.batch_size)
    epochs = recipe.epochs_for(steps_per_epoch)
    total_steps = epochs * steps_per_epoch
    scope = strategy.scope() if strategy is not None else _null_scope()
    with scope:
        encoder, decoder, classifier, latent_dim = models.build_models(
            model_cfg, data.frame_length, m.latent_dim, data.num_classes, m.plain)
        model = make_joint_model(encoder, decoder, classifier, loss_cfg, m.plain, seed,
                                 input_noise=recipe.augment.noise)
        model.compile(optimizer=keras.optimizers.Adam(
            _learning_rate(sched.lr, sched.lr_schedule, total_steps), clipnorm=sched.clipnorm))
        model(x[:2])  # build (BackupAndRestore needs a built model)
        model.optimizer.build(model.trainable_variables)
    if chief:
        if saved:  # the recipe now trains longer: recorded, with the flags that said so
            config = {**saved, "version": RUN_CONFIG_VERSION, "recipe": recipe.to_dict(),
                      "resumes": [*saved.get("resumes", []), dict(options.overrides)]}
        else:
            config = _build_config(recipe, options, data, model_cfg, latent_dim)
        config["data_root"], config["data_root_path"] = data_root_given, options.data_root
        write_json(config_path, config)

    encoder_text = "" if m.encoder == "waveform" else f" with the {m.encoder} encoder"
    _say(f"model: {m.arch}/{m.config}{encoder_text}{' plain' if m.plain else ''}, latent "
         f"{latent_dim}, encoder {encoder.count_params():,} params, decoder "
         f"{decoder.count_params():,}; {strategy_text}; {len(x)} training examples, "
         f"{steps_per_epoch} steps/epoch, {epochs} epochs = {epochs * steps_per_epoch} steps")

    ckpt_root = run_dir / "checkpoints"
    sub_models = {"encoder": encoder, "decoder": decoder, "classifier": classifier}
    # Order matters at each epoch's end: the logs (and last/best) are written before the backup
    # that marks the epoch done, so a kill between them never loses an epoch's row.
    callbacks = [
        _recon_monitor(data, options.monitor_every) if chief and options.monitor_every else None,
        checkpoints.ResumableCSVLogger(str(run_dir / "logs" / "metrics.csv"), append=True),
        checkpoints.ResumableCSVLogger(str(run_dir / "history.csv"), append=True),
        checkpoints.RunCheckpoint(ckpt_root, sub_models, steps_per_epoch,
                                  options.checkpoint_every),
        checkpoints.AtomicBackupAndRestore(str(ckpt_root / "backup"), save_freq="epoch",
                                           every=options.checkpoint_every),
        keras.callbacks.TerminateOnNaN(),
    ]
    if options.tensorboard and keras.backend.backend() == "tensorflow" and _has_tensorboard():
        callbacks.append(keras.callbacks.TensorBoard(str(run_dir / "logs"), update_freq="epoch",
                                                     write_graph=False))
    callbacks = [c for c in callbacks if c is not None]
    has_test = len(data.test_x) > 0
    t0 = time.time()
    history = model.fit(
        x, y, batch_size=sched.batch_size, epochs=epochs, shuffle=True,
        validation_data=(data.test_x, data.test_y) if has_test else None,
        callbacks=callbacks, verbose=options.verbose,
    )
    elapsed = time.time() - t0
    if not chief:
        shutil.rmtree(run_dir, ignore_errors=True)
        return {}
    if any(not np.isfinite(v) for v in history.history.get("loss", [0.0])):
        raise TrainError("training diverged (loss is NaN); try a lower --lr (1e-4 with clipnorm 1)")

    from vae_synth.evaluate.evaluation import run_figures

    metrics = run_figures(encoder, decoder, data)
    metrics.update({
        "arch": m.arch, "config": m.config, "latent_dim": latent_dim,
        "steps": int(checkpoints.read_state(ckpt_root / "last")["step"]),
        "train_seconds": round(elapsed, 1),  # this process's (a resumed run: since the resume)
        "final_loss": _last(history.history, "loss"),
        "final_val_loss": _last(history.history, "val_loss"),
    })
    write_json(run_dir / "metrics.json", metrics)
    from vae_synth.evaluate.report import summary_line

    _say(f"done: {metrics['steps']} steps, {elapsed:.0f} s; held-out: " + summary_line(metrics),
         True)
    return metrics


def _learning_rate(lr: float, schedule: str, total_steps: int):
    """Adam's learning rate: a float, or a cosine decay to 5 % over the planned steps."""
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        import keras

        return keras.optimizers.schedules.CosineDecay(lr, max(1, total_steps), alpha=0.05)
    raise TrainError(f"unknown learning-rate schedule {schedule!r} (constant, cosine)")


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


def _say(text: str, result: bool = False) -> None:
    """Setup lines go to stderr (also with --quiet, which only drops the progress bar); the
    final summary goes to stdout."""
    print(text, file=sys.stdout if result else sys.stderr, flush=True)

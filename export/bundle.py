"""Trained run -> verified preset bundle, written atomically.

``export_run(run_dir, out)`` loads a run through ``vae_synth.train.run.load_run``; ``export_models``
does the work for any encoder/decoder/classifier triple and its data:

1. convert the decoder twice (fixed batch 1, dynamic batch), the encoder and the classifier
   (tf2onnx, opset 17) into a hidden temporary folder beside ``out``;
2. parity: ONNX Runtime against TensorFlow on real clips of the run's data (max abs error on
   audio, mu, logvar and logits <= tolerance, else ExportError saying by how much);
3. per-class centroids / std / count of the encoder's ``mu`` over the training clips, PCA axes;
4. a ``Preset`` written as preset.json by ``vae_synth.synth.preset.write_preset`` (which
   validates it), then the whole bundle is loaded back with ``load_preset`` (hashes, ONNX
   interfaces) before it is moved into place by a rename.

An interrupted export (exception, Ctrl-C, kill -9) never leaves a half-written preset at ``out``:
until the final rename the work lives in ``.NAME.export-PID-*`` beside it (removed on failure; after
a kill -9 it stays hidden until the next export to NAME removes it, and preset listings skip hidden
folders). Exporting over an existing preset replaces only the files export writes (preset.json and
the model files); its model card, LICENSE, pictures, evaluation.json and anything else a user put
there are kept. ``force`` replaces the folder whole; the old one stays in place until the new one
is complete.
"""

from __future__ import annotations

import csv
import ctypes
import datetime as _dt
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from vae_synth.export.midimap import default_midi_map
from vae_synth.export.stats import class_stats, pca
from vae_synth.synth.atomic import fsync_path
from vae_synth.synth.preset import (
    DATA_FILES,
    DEFAULT_FILE_NAMES,
    PRESET_JSON,
    Preset,
    PresetError,
    PresetFile,
    load_preset,
    sha256_file,
    write_preset,
)

from vae_synth.progress import Progress

PARITY_TOLERANCE = 1e-4
PARITY_CLIPS = 32


class ExportError(RuntimeError):
    """The run cannot be exported (plain autoencoder, parity failure, bad output folder...)."""


@dataclass
class ExportResult:
    path: Path
    preset: Preset
    parity: dict[str, float]  # check name -> max abs error ONNX Runtime vs TensorFlow
    seconds: float
    steps: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds)
    kept: list[str] = field(default_factory=list)  # files of the old folder export did not write


# --------------------------------------------------------------------------------------------
# Output folder handling


def _check_out(out: Path, force: bool = False) -> None:
    """Refuse an ``out`` export must not touch: a file, or a non-empty folder that is not a
    preset (unless ``force``: then that folder is replaced whole)."""
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder; choose another --out")
    if (not force and out.is_dir() and any(out.iterdir())
            and not (out / PRESET_JSON).is_file()):
        raise ExportError(f"{out} is a non-empty folder that is not a preset; refusing to replace "
                          f"it (choose an empty or new --out, an existing preset to update, or "
                          f"pass --force to replace this folder and what it holds)")


def _remove_stale_exports(out: Path) -> None:
    """Remove ``.NAME.export-PID-*`` folders left by exports that were killed (their PID is gone)."""
    for leftover in out.parent.glob(f".{out.name}.export-*-*"):
        try:
            pid = int(leftover.name[len(f".{out.name}.export-"):].split("-", 1)[0])
        except ValueError:
            continue
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
            continue  # that export is still running
        except ProcessLookupError:
            shutil.rmtree(leftover, ignore_errors=True)
        except PermissionError:
            continue  # alive, another user's


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE). False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)   # no second copy of a user's big files; the old folder goes
    except OSError:
        shutil.copy2(source, target)


def _carry_over(old: Path, new: Path) -> list[str]:
    """Put into ``new`` every entry of ``old`` that ``new`` does not have (a model card, LICENSE,
    pictures, evaluation.json, a user's notes and folders): export replaces only the files it
    writes. Returns the names carried over, sorted."""
    kept = []
    for entry in sorted(old.iterdir(), key=lambda p: p.name):
        target = new / entry.name
        if target.exists() or target.is_symlink():
            continue  # a file this export wrote
        if entry.is_symlink():
            os.symlink(os.readlink(entry), target)
        elif entry.is_dir():
            shutil.copytree(entry, target, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(target))
        kept.append(entry.name)
    return kept


def _install(tmp: Path, out: Path, force: bool = False) -> list[str]:
    """Move the finished bundle ``tmp`` to ``out``. An existing folder keeps every file this
    export does not write (returned, sorted), unless ``force``: then it is replaced whole. The old
    folder stays in place, untouched, until the new one is complete; one rename swaps them."""
    kept = [] if force or not out.exists() else _carry_over(out, tmp)
    # Flush the files and their folder first: a power cut after the rename must not leave a preset
    # of empty files.
    for path in [*tmp.iterdir(), tmp]:
        if path.is_file() or path == tmp:
            fsync_path(path)
    if not out.exists():
        os.rename(tmp, out)
    elif _exchange(tmp, out):
        shutil.rmtree(tmp)  # now holds the old folder
    else:
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.rename(out, old)
        try:
            os.rename(tmp, out)
        except OSError:
            os.rename(old, out)   # the user's preset back under its own name
            raise
        shutil.rmtree(old, ignore_errors=True)
    fsync_path(out.parent, best_effort=True)
    return kept


# --------------------------------------------------------------------------------------------
# Parity


def _tf_outputs(model, x: np.ndarray) -> list[np.ndarray]:
    """A Keras model in inference mode on x in batches; always a list of [N, ...] float32 arrays."""
    from vae_synth.evaluate.inference import infer

    out = infer(model, x)
    return [np.asarray(v, np.float32) for v in (out if isinstance(out, list) else [out])]


def _ort_session(path: Path):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _ort_outputs(session, name: str, x: np.ndarray) -> list[np.ndarray]:
    """An ONNX Runtime session on x in batches; a list of [N, ...] arrays, one per output."""
    from vae_synth.evaluate.inference import batched

    return batched(lambda xb: session.run(None, {name: xb}), x)


def parity_clips(x: np.ndarray, y: np.ndarray, n: int = PARITY_CLIPS) -> np.ndarray:
    """Up to ``n`` clips [n, L] taken round-robin over the classes (so every class is checked)."""
    order: list[int] = []
    per_class = [list(np.flatnonzero(y == c)) for c in np.unique(y)]
    while len(order) < n and any(per_class):
        for rows in per_class:
            if rows and len(order) < n:
                order.append(rows.pop(0))
    return np.asarray(x[order], np.float32)


def check_parity(folder: Path, encoder, decoder, classifier, clips: np.ndarray,
                 tolerance: float = PARITY_TOLERANCE) -> dict[str, float]:
    """Compare the ONNX files in ``folder`` with the Keras models on ``clips`` [n, L].

    Returns {check: max abs error}. Raises ExportError naming each check over ``tolerance``
    (logits are compared relative to their scale: tolerance * max(1, max |logit|)).
    """
    mu_tf, logvar_tf = _tf_outputs(encoder, clips)[:2]
    audio_check = _tf_outputs(decoder, mu_tf)[0]
    for what, arr in (("encoder mu", mu_tf), ("encoder logvar", logvar_tf),
                      ("decoder audio", audio_check)):
        if not np.all(np.isfinite(arr)):
            raise ExportError(f"the trained model itself gives non-finite {what} on real clips "
                              f"(diverged training?); nothing to export")
    mu_ort, logvar_ort = _ort_outputs(_ort_session(folder / "encoder.onnx"), "audio", clips)[:2]
    audio_tf = _tf_outputs(decoder, mu_tf)[0]
    audio_ort = _ort_outputs(_ort_session(folder / "decoder_batch.onnx"), "z", mu_tf)[0]
    one = _ort_session(folder / "decoder.onnx")
    k = min(8, len(mu_tf))
    audio1_ort = np.concatenate([one.run(None, {"z": mu_tf[i:i + 1]})[0] for i in range(k)])
    logits_tf = _tf_outputs(classifier, mu_tf)[0]
    logits_ort = _ort_outputs(_ort_session(folder / "classifier.onnx"), "z", mu_tf)[0]

    def err(a, b):
        return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))

    errors = {
        "encoder.mu": err(mu_ort, mu_tf),
        "encoder.logvar": err(logvar_ort, logvar_tf),
        "decoder_batch.audio": err(audio_ort, audio_tf),
        "decoder.audio": err(audio1_ort, audio_tf[:k]),
        "classifier.logits": err(logits_ort, logits_tf),
    }
    limits = {name: tolerance for name in errors}
    limits["classifier.logits"] = tolerance * max(1.0, float(np.abs(logits_tf).max()))
    bad = [f"{name} differs by {e:.3g} (limit {limits[name]:.3g})"
           for name, e in errors.items() if not e <= limits[name]]  # `not <=` also catches NaN
    if bad:
        raise ExportError(f"parity check failed: ONNX Runtime vs TensorFlow on {len(clips)} clips: "
                          + "; ".join(bad))
    return errors


# --------------------------------------------------------------------------------------------
# The export


def export_models(encoder, decoder, classifier, data, out: str | os.PathLike[str], *, name: str,
                  training: dict[str, Any], description: str | None = None,
                  sustain: bool | None = None, tolerance: float = PARITY_TOLERANCE,
                  extra: dict[str, Any] | None = None, progress: Progress | None = None,
                  force: bool = False) -> ExportResult:
    """Write a verified preset bundle for these Keras models to ``out`` (atomically).

    encoder: audio [N, L] -> (mu [N, D], logvar [N, D]); decoder: z [N, D] -> audio [N, L];
    classifier: z [N, D] -> logits [N, C]. data: ``LabelledAudio``-like (train_x [N, L],
    train_y [N], test_x, test_y, class_names, sample_rate, frame_length).
    training: the preset's ``training`` object (arch, config, data, licence, attribution, metrics).
    An existing preset at ``out`` keeps the files export does not write (``ExportResult.kept``);
    ``force`` replaces the folder whole, even one that is not a preset.
    """
    t_start = time.perf_counter()
    out = Path(out).expanduser().absolute()
    _check_out(out, force)
    progress = progress or Progress(8, "export")
    class_names = list(data.class_names)
    frame_length, sample_rate = int(data.frame_length), int(data.sample_rate)
    train_x = np.asarray(data.train_x, np.float32)
    train_y = np.asarray(data.train_y)
    latent_dim = int(encoder.outputs[0].shape[-1])
    if train_x.ndim != 2 or train_x.shape[1] != frame_length:
        raise ExportError(f"training clips have shape {train_x.shape}, expected [N, {frame_length}]")
    if len(train_x) < 2:
        raise ExportError(f"{len(train_x)} training clip(s): centroids and PCA axes need at least 2")

    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_exports(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.export-{os.getpid()}-", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; a preset folder is ordinary data
        from vae_synth.export.convert import OPSET, keras_to_onnx, share_weights

        for role, model, in_name, shape, outs in (
            ("decoder", decoder, "z", (1, latent_dim), ["audio"]),
            ("decoder_batch", decoder, "z", (None, latent_dim), ["audio"]),
            ("encoder", encoder, "audio", (None, frame_length), ["mu", "logvar"]),
            ("classifier", classifier, "z", (None, latent_dim), ["logits"]),
        ):
            progress.start(f"converting {role} (tf2onnx, opset {OPSET})")
            keras_to_onnx(model, in_name, shape, outs, tmp / DEFAULT_FILE_NAMES[role])
        share_weights([tmp / DEFAULT_FILE_NAMES[role] for role in ("decoder", "decoder_batch")],
                      DATA_FILES["decoder_weights"])
        clips = parity_clips(np.concatenate([train_x, np.asarray(data.test_x, np.float32)]),
                             np.concatenate([train_y, np.asarray(data.test_y)]))
        progress.start(f"parity ONNX Runtime vs TensorFlow on {len(clips)} real clips")
        parity = check_parity(tmp, encoder, decoder, classifier, clips, tolerance)
        progress.done(f"max abs err {max(parity.values()):.2g}")

        progress.start(f"latent statistics over {len(train_x)} training clips")
        enc = _ort_session(tmp / "encoder.onnx")
        mu = _ort_outputs(enc, "audio", train_x)[0]
        test_mu = (_ort_outputs(enc, "audio", np.asarray(data.test_x, np.float32))[0]
                   if len(data.test_x) else None)
        stats = class_stats(mu, train_y, class_names, test_mu, np.asarray(data.test_y))
        axes = pca(mu)

        progress.start("writing preset.json and verifying the bundle")
        preset = Preset(
            name=name,
            description=description or _default_description(name, training, class_names,
                                                             latent_dim),
            sample_rate=sample_rate, frame_length=frame_length, latent_dim=latent_dim,
            classes=tuple(stats), pca=axes,
            midi=default_midi_map(class_names, pca_axes=axes.k, sustain=sustain),
            training=_json_safe(training),
            files={role: PresetFile(fname, sha256_file(tmp / fname))
                   for role, fname in {**DEFAULT_FILE_NAMES, **DATA_FILES}.items()},
            export=_json_safe({
                "parity_max_abs_err": parity, "parity_tolerance": tolerance,
                "parity_clips": len(clips), "opset": OPSET,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                **_versions(), **(extra or {})}),
        )
        try:
            write_preset(tmp, preset)
            load_preset(tmp)  # the player's own checks: hashes, ONNX names and shapes
        except PresetError as e:
            raise ExportError(f"the exported bundle does not pass the preset checks: {e}") from e
        progress.start(f"installing {out}")
        try:
            kept = _install(tmp, out, force)
        except OSError as e:   # a full disk while keeping the folder's files, a read-only folder
            raise ExportError(f"cannot install the preset into {out} ({e.strerror or e}); the "
                              f"folder is as it was") from e
        progress.done()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    preset = load_preset(out, check_onnx=False)
    return ExportResult(out, preset, parity, time.perf_counter() - t_start, progress.steps, kept)


def _json_safe(obj: Any) -> Any:
    """A copy of ``obj`` that JSON can hold: non-finite floats become None, numpy scalars and
    arrays plain numbers and lists, tuples lists, other objects their str."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def _versions() -> dict[str, str]:
    out = {}
    for mod in ("tensorflow", "keras", "tf2onnx", "onnx", "onnxruntime"):
        m = sys.modules.get(mod)
        if m is not None and hasattr(m, "__version__"):
            out[mod] = str(m.__version__)
    return out


def _default_description(name: str, training: dict, class_names: list[str], d: int) -> str:
    arch = training.get("arch", "?")
    cfg = training.get("config", {}).get("config", "")
    return (f"{name}: {arch}{'/' + cfg if cfg else ''} VAE, latent {d}, {len(class_names)} classes "
            f"({', '.join(class_names[:12])}{', ...' if len(class_names) > 12 else ''}), "
            f"trained on {training.get('data', '?')}")


# --------------------------------------------------------------------------------------------
# From a run folder


def read_run_config(run_dir: Path) -> dict[str, Any]:
    """The run's config.json (train/run.py reads it), or an ExportError saying what is wrong."""
    from vae_synth.train.run import RunError, load_config

    if not run_dir.is_dir():
        raise ExportError(f"{run_dir}: no such run folder")
    try:
        return load_config(run_dir)
    except RunError as e:
        raise ExportError(str(e)) from None


def run_metrics(run_dir: Path, checkpoint: str) -> dict[str, Any]:
    """The run's metrics.json (final held-out figures), the checkpoint's state.json and the last
    row of history.csv (numbers only)."""
    metrics: dict[str, Any] = {}
    try:
        final = json.loads((run_dir / "metrics.json").read_text())
        if isinstance(final, dict):
            metrics.update(final)
    except (OSError, ValueError):
        pass
    metrics["checkpoint"] = checkpoint
    state = run_dir / "checkpoints" / checkpoint / "state.json"
    try:
        for k, v in json.loads(state.read_text()).items():
            if isinstance(v, (int, float, str)) and not isinstance(v, bool):
                metrics[k] = v
    except (OSError, ValueError):
        pass
    try:
        with open(run_dir / "history.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        for k, v in (rows[-1] if rows else {}).items():
            try:
                val = float(v)
            except (TypeError, ValueError):
                continue
            if np.isfinite(val):
                metrics[f"final_{k}"] = val
    except OSError:
        pass
    return metrics


def portable_data_root(data_root: str) -> str:
    """The data root as a preset records it. A relative root stays as given: it names a place
    beside the checkout (``../shared/data``) that every clone shares. An absolute one is this
    machine's folder: it becomes ``$DATA``, as the published evaluations write it."""
    return "$DATA" if Path(str(data_root)).expanduser().is_absolute() else str(data_root)


def portable_recipe_file(recipe_file: str) -> str:
    """The recipe a run was trained from, as a preset records it: a bundled recipe's name
    (``drums``) or a relative path as given; an absolute path only by its file name."""
    path = Path(recipe_file).expanduser()
    return path.name if path.is_absolute() else recipe_file


def export_run(run_dir: str | os.PathLike[str], out: str | os.PathLike[str], *,
               name: str | None = None, checkpoint: str = "last",
               tolerance: float = PARITY_TOLERANCE, show_progress: bool = True,
               licence: str | None = None, attribution: str | None = None,
               load_run: Callable | None = None, force: bool = False) -> ExportResult:
    """Export the run in ``run_dir`` (written by ``vae-synth train``) to the preset ``out``.

    name: the preset's name (default: ``out``'s folder name). checkpoint: ``last`` or ``best``.
    licence / attribution: of the training data, when the run's config has none (or to correct it).
    force: replace ``out`` whole (see :func:`export_models`).
    Raises ExportError for plain (non-variational) runs, parity failures and unusable folders.
    """
    run_dir = Path(run_dir).expanduser()
    out = Path(out).expanduser()
    if checkpoint not in ("last", "best"):
        raise ExportError(f"--checkpoint must be last or best, got {checkpoint!r}")
    config = read_run_config(run_dir)
    if config.get("plain"):
        raise ExportError(
            f"{run_dir} is a plain (non-variational) autoencoder run (trained with --plain): it has "
            f"no latent distribution and no classifier to play, so it cannot become a preset. "
            f"Train without --plain to export.")
    _check_out(out.absolute(), force)
    progress = Progress(9, "export", enabled=show_progress)
    # TensorFlow starts (and probes CUDA) before the progress display does, its noise filtered
    from vae_synth.train.backend import import_backend_quietly

    import_backend_quietly()

    progress.start(f"loading run {run_dir} ({checkpoint} checkpoint)")
    if load_run is None:
        from vae_synth.train.run import load_run
    try:
        run = load_run(run_dir, checkpoint=checkpoint)
    except (ValueError, OSError) as e:  # RunError is a ValueError: an incomplete run folder
        raise ExportError(f"cannot load the run: {e}") from e
    if getattr(run, "plain", False) or run.classifier is None:
        raise ExportError(f"{run_dir} has no classifier/latent distribution (plain run): "
                          f"cannot export")
    from vae_synth.train.data import DataError

    try:
        data = run.load_data()
    except DataError as e:  # the clips moved or the data root is elsewhere
        raise ExportError(f"cannot load the data the run was trained on: {e}") from e
    cfg = run.config
    # The per-file lists and the data root's path are this machine's; the lists also grow with
    # the data set: counts are kept.
    preset_cfg = {k: v for k, v in cfg.items()
                  if k not in ("training_files", "test_files", "data_root_path")}
    if "data_root_path" in cfg:  # the run resolved its sources here: name them as given
        from vae_synth.train.recipe import Recipe

        preset_cfg["data_root"] = portable_data_root(cfg.get("data_root", "."))
        given = Recipe.from_dict(cfg["recipe"]).run_config(preset_cfg["data_root"])
        preset_cfg["sources"], preset_cfg["split"] = given["sources"], given["split"]
    if preset_cfg.get("recipe_file"):
        preset_cfg["recipe_file"] = portable_recipe_file(str(preset_cfg["recipe_file"]))
    sources = preset_cfg.get("sources") or []
    training = {
        "arch": str(cfg.get("arch", "")),
        "config": preset_cfg,
        "data": " + ".join(str(s) for s in sources),
        "licence": str(licence or cfg.get("licence") or getattr(data, "licence", "") or ""),
        "attribution": str(attribution or cfg.get("attribution")
                           or getattr(data, "attribution", "") or ""),
        "metrics": run_metrics(run_dir, checkpoint),
    }
    if show_progress and not (training["licence"] and training["attribution"]):
        progress.done()
        print("export: warning: the run records no licence/attribution of its training data; "
              "pass --licence and --attribution so the preset carries them", file=sys.stderr)
    # Spoken or sustained material loops while a key is held; one-shots (drums) ring out.
    sustain = True if any(str(s).startswith("fsdd") for s in sources) else None
    return export_models(
        run.encoder, run.decoder, run.classifier, data, out,
        name=name or out.name, training=training, sustain=sustain, tolerance=tolerance,
        # the run folder's name, not its path: a preset is shared, this machine's folders are not
        extra={"run_dir": run_dir.absolute().name, "checkpoint": checkpoint}, progress=progress,
        force=force,
    )

"""Atomic checkpoints and crash-safe resume, on top of Keras' own callbacks.

``RUN_DIR/checkpoints/``::

    ckpt-000500/           encoder/decoder/classifier .weights.h5 + state.json {step, epoch, val_loss}
    last -> ckpt-000500    symlink, swapped atomically (os.replace) after the folder is complete
    best -> ckpt-000300    best by validation loss
    backup/                keras BackupAndRestore state (weights + optimizer + epoch), same scheme

A checkpoint folder is written under a temporary name, fsynced, renamed into place, and only then
does a symlink point at it: ``kill -9`` at any moment leaves the previous checkpoint intact.
(Folders and symlinks are swapped here; single files go through ``vae_synth.synth.atomic``.)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
from vae_synth.synth.atomic import fsync_path, write_text
from vae_synth.train.run import WEIGHT_FILES, read_state


def _publish(folder: Path, link: Path) -> None:
    """Point symlink ``link`` at ``folder`` (a sibling) atomically."""
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(folder.name, tmp)
    os.replace(tmp, link)
    fsync_path(link.parent, best_effort=True)


def save_checkpoint(ckpt_root: Path, models: dict, state: dict, names: tuple[str, ...]) -> Path:
    """Save ``models`` (name -> keras.Model or None) under ckpt-<step>/ and point ``names`` at it."""
    ckpt_root.mkdir(parents=True, exist_ok=True)
    final = ckpt_root / f"ckpt-{int(state['step']):07d}"
    if not final.exists():
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-ckpt-", dir=ckpt_root))
        tmp.chmod(0o755)
        for key, model in models.items():
            if model is not None:
                model.save_weights(str(tmp / WEIGHT_FILES[key]))
        (tmp / "state.json").write_text(json.dumps(state, indent=2))
        for p in tmp.iterdir():
            fsync_path(p)
        os.replace(tmp, final)
        fsync_path(ckpt_root, best_effort=True)
    for name in names:
        _publish(final, ckpt_root / name)
    _prune(ckpt_root)
    return final


def _prune(ckpt_root: Path) -> None:
    """Delete checkpoint folders no symlink points at, and stale temporaries."""
    keep = {os.readlink(p) for p in ckpt_root.iterdir() if p.is_symlink()}
    for p in ckpt_root.iterdir():
        if p.is_symlink() or p.name == "backup":
            continue
        if (p.name.startswith("ckpt-") and p.name not in keep) or p.name.startswith(".tmp-ckpt-"):
            shutil.rmtree(p, ignore_errors=True)


class RunCheckpoint(keras.callbacks.Callback):
    """Saves ``checkpoints/last`` every ``every`` epochs and at the end, ``best`` by val_loss.

    ``steps_per_epoch``: optimizer steps per Keras epoch (step = (epoch + 1) * steps_per_epoch).
    """

    def __init__(self, ckpt_root: Path, models: dict, steps_per_epoch: int, every: int = 1,
                 monitor: str = "val_loss"):
        super().__init__()
        self.root = Path(ckpt_root)
        self.models = models
        self.steps_per_epoch = steps_per_epoch
        self.every = max(1, every)
        self.monitor = monitor
        self.best = float("inf")
        best = self.root / "best"
        if best.exists():
            self.best = read_state(best).get(monitor, float("inf")) or float("inf")
        self.last_epoch = -1

    def _save(self, epoch: int, logs: dict, names: tuple[str, ...]) -> None:
        state = {"step": (epoch + 1) * self.steps_per_epoch, "epoch": epoch + 1,
                 "val_loss": _num(logs.get("val_loss")), "loss": _num(logs.get("loss"))}
        save_checkpoint(self.root, self.models, state, names)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.last_epoch = epoch
        value = _num(logs.get(self.monitor))
        names = []
        if (epoch + 1) % self.every == 0:
            names.append("last")
        if value is not None and value < self.best:
            self.best = value
            names.append("best")
        if names:
            self._save(epoch, logs, tuple(names))
        self._last_logs = logs

    def on_train_end(self, logs=None):
        if self.last_epoch >= 0:
            names = ("last",) if (self.root / "best").exists() else ("last", "best")
            self._save(self.last_epoch, getattr(self, "_last_logs", logs or {}), names)


def _num(v):
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """keras BackupAndRestore whose saves are atomic.

    Keras' own version overwrites ``latest.weights.h5`` and ``training_metadata.json`` in place
    (a kill during the write can leave a torn pair). Here each save goes to a new folder
    ``state-<epoch>/`` (weights with optimizer state, and the metadata), which is complete before
    the symlink ``current`` is swapped to it with os.replace. Resume reads ``current``.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=False, every: int = 1):
        super().__init__(backup_dir, save_freq=save_freq, delete_checkpoint=delete_checkpoint)
        self._root = Path(backup_dir)
        self._every = max(1, every)

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch" and (epoch + 1) % self._every == 0:
            self._save_model()

    def on_train_end(self, logs=None):
        # the final state is always saved, so --resume with more steps continues from the end
        if self.save_freq == "epoch" and self._current_epoch % self._every:
            self._save_model()
        if self.delete_checkpoint and self._root.exists():
            shutil.rmtree(self._root)

    def _current(self) -> Path | None:
        link = self._root / "current"
        return link if link.exists() else None

    def _load_model(self):
        current = self._current()
        if current is None:
            return
        if not self.model.built:
            raise ValueError("BackupAndRestore needs a built model")
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(current / "latest.weights.h5"))
        with open(current / "training_metadata.json") as f:
            self.model._initial_epoch = json.load(f)["epoch"]

    def _save_model(self):
        self._root.mkdir(parents=True, exist_ok=True)
        final = self._root / f"state-{self._current_epoch:07d}"
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-state-", dir=self._root))
        self.model.save_weights(str(tmp / "latest.weights.h5"), overwrite=True)
        (tmp / "training_metadata.json").write_text(
            json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))
        for p in tmp.iterdir():
            fsync_path(p)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        _publish(final, self._root / "current")
        for p in self._root.iterdir():  # keep only the published state
            if p.is_dir() and not p.is_symlink() and p != final:
                shutil.rmtree(p, ignore_errors=True)


class ResumableCSVLogger(keras.callbacks.CSVLogger):
    """CSVLogger that, appending to a file from an earlier run of the process, keeps its columns.

    Keras' logger takes its columns from the first epoch's logs and writes no header when
    appending, so a resumed run whose logs differ (a metric added) would shift every column.
    Here the existing header wins: known columns are filled, new metrics left out, missing "NA".
    The run's loggers come before the backup callback, so an epoch's row is on disk before the
    epoch counts as done; a run killed between the two redoes that epoch on --resume, and the
    first epoch of the resumed process drops the rows it is about to write again.
    """

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._first_epoch_seen = False
        path = Path(self.filename)
        if self.append and path.exists() and path.stat().st_size:
            with open(path, newline="") as f:
                header = f.readline().strip().split(self.sep)
            if header and header[0] == "epoch":
                self.keys = header[1:]

    def on_epoch_begin(self, epoch, logs=None):
        # By now BackupAndRestore has restored the epoch this process starts from.
        if not self._first_epoch_seen:
            self._first_epoch_seen = True
            self._drop_rows_from(epoch)

    def _drop_rows_from(self, epoch: int) -> None:
        path = Path(self.filename)
        if not (self.append and path.exists() and path.stat().st_size):
            return
        self.csv_file.flush()
        lines = path.read_text().splitlines(keepends=True)
        kept = lines[:1] + [row for row in lines[1:]
                            if not row.split(self.sep, 1)[0].strip().isdigit()
                            or int(row.split(self.sep, 1)[0]) < epoch]
        if len(kept) != len(lines):
            self.csv_file.close()
            write_text(path, "".join(kept))
            self.csv_file = open(path, "a", newline="")  # kept open, as Keras keeps its own
            if getattr(self, "writer", None) is not None:
                self.writer = None  # Keras re-creates its csv.DictWriter on the next row

"""Atomic file writes: the one way the project replaces a file a user may own.

A writer fills a temporary file in the target's own folder; only when it finished without an
error is the file flushed to disk and renamed over the target (``os.replace`` is atomic on POSIX
and Windows). On any failure the temporary file is removed and the target is left exactly as it
was, so a full disk, a read-only folder or a crash never leaves a half-written preset, MIDI map,
WAV file or checkpoint behind.

    with atomic_path("beat.wav") as tmp:       # any writer that takes a path
        soundfile.write(tmp, audio, 48000, format="WAV")
    write_json("preset.json", data)            # the common cases in one call
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _check_target(target: Path) -> None:
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a folder; give a file name inside it")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"folder {target.parent} does not exist")


def fsync_path(path: str | os.PathLike, best_effort: bool = False) -> None:
    """Flush a file, or a folder's entries (after a rename into it), to disk. best_effort: an
    error is ignored (some file systems cannot fsync a folder; the rename itself is done)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        if not best_effort:
            raise


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on a clean exit it replaces ``target``.

    The temporary file exists (empty) when yielded, so writers that open by name work. ``mode``:
    permission bits for the new file (default: those of the file it replaces, else 0o644).
    """
    target = Path(target)
    _check_target(target)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        fsync_path(tmp)
        if mode is None:
            mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    """Replace ``target`` with ``data`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    """Replace ``target`` with UTF-8 ``text`` atomically."""
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike, obj, indent: int | None = 2,
               allow_nan: bool = True) -> None:
    """Replace ``target`` with ``obj`` as JSON (a trailing newline) atomically. allow_nan=False:
    ValueError on NaN or infinity (not JSON), before anything is written."""
    write_text(target, json.dumps(obj, indent=indent, allow_nan=allow_nan) + "\n")

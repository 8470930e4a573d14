"""What the drum-kit scripts (debian_drumkits.py, soundfont_drums.py) share: fetching a Debian
package with the archive's own client, and writing a training folder ``OUT/<class>/*.wav`` with
its ``manifest.csv`` (one row per clip: its licence and attribution, which the ``folder:``
source carries into a preset's model card) all at once, so a failed run leaves no half folder.
"""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def fetch_deb(package: str, folder: Path) -> Path:
    """``apt-get download PACKAGE`` into folder; the .deb's path."""
    subprocess.run(["apt-get", "download", package], cwd=folder, check=True)
    return next(Path(folder).glob(f"{package}_*.deb"))


def deb_version(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], check=True,
                          capture_output=True, text=True).stdout.strip()


def write_wav(path: Path, audio, rate: int, subtype: str = "PCM_24") -> None:
    """audio [n] or [n, channels] as a WAV file at path (its folder made)."""
    import soundfile as sf
    from vae_synth.synth.atomic import write_bytes

    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="WAV", subtype=subtype)
    write_bytes(path, buf.getvalue())


@contextlib.contextmanager
def new_folder(out: Path) -> Iterator[Path]:
    """A scratch folder beside out to fill; renamed to out when the block ends without an
    error, removed when it raises. out must not exist (FileExistsError)."""
    if out.exists():
        raise FileExistsError(f"{out} exists; give a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        yield scratch
        scratch.rename(out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def write_manifest(out: Path, rows: list[dict]) -> None:
    """OUT/manifest.csv: one row per clip (path relative to OUT, cls, licence, source, ...)."""
    from vae_synth.synth.atomic import write_text

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "manifest.csv", text.getvalue())


def summary(rows: list[dict], out: Path) -> str:
    """'62 clips into OUT: hihat 5, kick 19, ...'"""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["cls"]] = counts.get(r["cls"], 0) + 1
    return f"{len(rows)} clips into {out}: " + ", ".join(f"{k} {v}" for k, v in
                                                       sorted(counts.items()))

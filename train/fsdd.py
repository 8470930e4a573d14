"""Free Spoken Digit Dataset downloader: pinned commit, user cache, checksums, resumable.

``fetch_fsdd()`` returns a folder of the 3000 recordings ``{digit}_{speaker}_{index}.wav``:

- default: each file from the public repository at the pinned commit
  (``https://raw.githubusercontent.com/Jakobovski/free-spoken-digit-dataset/<commit>/recordings/``);
- ``mirror="https://host/path"``: the same layout under another URL (``<mirror>/recordings/NAME``);
- ``mirror="/local/folder"``: copied from a local copy (the folder or its ``recordings/``).

Every file is checked against the SHA-256 digests of the pinned commit (``fsdd_recordings.sha256``,
package data in the format of ``sha256sum -c``: run that command inside ``recordings/`` to verify a
copy by hand), written to a temporary name and renamed into place, so an interrupted download
resumes and never leaves a half-written file under its real name. The cache folder is
``$VAE_SYNTH_CACHE/fsdd-<commit>`` (default ``$XDG_CACHE_HOME/vae-synth`` or ``~/.cache/vae-synth``).
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

from vae_synth.synth.atomic import write_bytes

FSDD_REPO = "Jakobovski/free-spoken-digit-dataset"
FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"
FSDD_URL = f"https://raw.githubusercontent.com/{FSDD_REPO}/{FSDD_COMMIT}"
MANIFEST = "fsdd_recordings.sha256"  # package data of vae_synth.train


class DownloadError(RuntimeError):
    """A download that failed or did not match its checksum (the message names the file)."""


def cache_root() -> Path:
    env = os.environ.get("VAE_SYNTH_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "vae-synth"


def digest(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 hex digits, as ``sha256sum`` prints it."""
    return hashlib.sha256(data).hexdigest()


def parse_sha256sums(text: str) -> dict[str, str]:
    """``sha256sum`` output (``DIGEST  NAME`` or ``DIGEST *NAME`` per line) -> {NAME: DIGEST}."""
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        hexdigest, _, name = line.partition(" ")
        name = name[1:] if name[:1] in (" ", "*") else name
        if len(hexdigest) != 64 or not name or any(c not in "0123456789abcdef" for c in hexdigest):
            raise ValueError(f"line {number} is not 'SHA256  NAME': {line!r}")
        sums[name] = hexdigest
    return sums


def pinned_manifest() -> dict[str, str]:
    """{file name: SHA-256} of the 3000 recordings at the pinned commit."""
    text = importlib.resources.files("vae_synth.train").joinpath(MANIFEST).read_text("ascii")
    return parse_sha256sums(text)


def _fetch_bytes(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (http/https only)
            return resp.read()
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"{url}: {getattr(exc, 'reason', exc)}") from exc


def fetch_fsdd(
    mirror: str | None = None, cache_dir: str | Path | None = None,
    manifest: dict[str, str] | None = None, timeout: float = 30.0, quiet: bool = False,
) -> Path:
    """Download (or copy) and verify the recordings; returns the folder holding them.

    mirror: None (the public repository), an http(s) URL with ``recordings/NAME`` under it, or a
    local folder. manifest: {name: SHA-256} (default: the pinned commit's 3000 files).
    Files already in the cache with the right digest are not fetched again.
    """
    if manifest is None:
        manifest = pinned_manifest()
    mirror = mirror or os.environ.get("VAE_SYNTH_FSDD_MIRROR") or None
    target = Path(cache_dir) if cache_dir else cache_root() / f"fsdd-{FSDD_COMMIT[:12]}"
    recordings = target / "recordings"
    marker = target / ".verified"
    if marker.exists() and all((recordings / n).exists() for n in manifest):
        return recordings
    recordings.mkdir(parents=True, exist_ok=True)

    local = None
    if mirror and "://" not in mirror:
        local = Path(mirror).expanduser()
        if (local / "recordings").is_dir():
            local = local / "recordings"
        if not local.is_dir():
            raise DownloadError(f"FSDD mirror folder {local} does not exist")
    base = (mirror.rstrip("/") if mirror and local is None else FSDD_URL) + "/recordings/"

    bad: list[str] = []
    names = sorted(manifest)
    for i, name in enumerate(names):
        dest = recordings / name
        if dest.exists() and digest(dest.read_bytes()) == manifest[name]:
            continue
        if local is not None:
            src = local / name
            if not src.exists():
                raise DownloadError(f"FSDD file {name} is missing from the mirror folder {local}")
            data = src.read_bytes()
        else:
            data = _fetch_bytes(base + name, timeout)
        if digest(data) != manifest[name]:
            bad.append(name)
            continue
        write_bytes(dest, data)
        if not quiet and (i + 1) % 100 == 0:
            print(f"fsdd: {i + 1}/{len(names)} files", file=sys.stderr, flush=True)
    if bad:
        shown = ", ".join(bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise DownloadError(
            f"{len(bad)} FSDD file(s) did not match the checksums of commit {FSDD_COMMIT}: {shown}"
        )
    write_bytes(marker, f"{FSDD_COMMIT}\n{len(names)} files\n".encode())
    return recordings


def clear_cache(cache_dir: str | Path | None = None) -> None:
    target = Path(cache_dir) if cache_dir else cache_root() / f"fsdd-{FSDD_COMMIT[:12]}"
    shutil.rmtree(target, ignore_errors=True)

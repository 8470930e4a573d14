"""FSDD downloader against a loopback HTTP server serving files the test creates (no internet)."""

from __future__ import annotations

import functools
import http.server
import importlib.resources
import shutil
import subprocess
import threading

import numpy as np
import pytest
import soundfile as sf
from vae_synth.train import fsdd
from vae_synth.train.data import load_sources


def _make_recordings(root):
    rec = root / "recordings"
    rec.mkdir(parents=True)
    for d in range(2):
        for i in range(6):
            t = np.arange(2500) / 8000
            sf.write(rec / f"{d}_nicolas_{i}.wav", 0.4 * np.sin(2 * np.pi * (300 + 200 * d) * t),
                     8000, subtype="PCM_16")
    return {p.name: fsdd.digest(p.read_bytes()) for p in rec.iterdir()}


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        _Handler.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def served(tmp_path):
    site = tmp_path / "site"
    manifest = _make_recordings(site)
    handler = functools.partial(_Handler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.requests = []
    yield site, manifest, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_verifies_and_caches(served, tmp_path):
    site, manifest, url = served
    cache = tmp_path / "cache"
    rec = fsdd.fetch_fsdd(mirror=url, cache_dir=cache, manifest=manifest, quiet=True)
    assert sorted(p.name for p in rec.iterdir()) == sorted(manifest)
    assert (rec / "0_nicolas_3.wav").read_bytes() == (site / "recordings" / "0_nicolas_3.wav").read_bytes()
    assert len(_Handler.requests) == 12 and all(r.startswith("/recordings/") for r in _Handler.requests)
    # a second call is served from the cache: no request at all
    fsdd.fetch_fsdd(mirror=url, cache_dir=cache, manifest=manifest, quiet=True)
    assert len(_Handler.requests) == 12
    # a file lost from the cache is fetched again, and only that one
    (rec / "1_nicolas_5.wav").unlink()
    fsdd.fetch_fsdd(mirror=url, cache_dir=cache, manifest=manifest, quiet=True)
    assert _Handler.requests[12:] == ["/recordings/1_nicolas_5.wav"]
    assert not list(rec.glob(".*.tmp"))  # atomic writes leave no partial files


def test_download_checksum_mismatch_names_the_file(served, tmp_path):
    site, manifest, url = served
    (site / "recordings" / "1_nicolas_2.wav").write_bytes(b"RIFF tampered")
    with pytest.raises(fsdd.DownloadError, match="1 FSDD file.*did not match.*1_nicolas_2.wav"):
        fsdd.fetch_fsdd(mirror=url, cache_dir=tmp_path / "c", manifest=manifest, quiet=True)
    # the good files were kept, the bad one never written under its name
    assert not (tmp_path / "c" / "recordings" / "1_nicolas_2.wav").exists()
    assert (tmp_path / "c" / "recordings" / "0_nicolas_0.wav").exists()


def test_download_missing_file_and_dead_server(served, tmp_path):
    site, manifest, url = served
    with pytest.raises(fsdd.DownloadError, match="HTTP 404"):
        fsdd.fetch_fsdd(mirror=url, cache_dir=tmp_path / "c", quiet=True,
                        manifest={**manifest, "9_nicolas_0.wav": "0" * 16})
    with pytest.raises(fsdd.DownloadError, match="127.0.0.1:9"):
        fsdd.fetch_fsdd(mirror="http://127.0.0.1:9", cache_dir=tmp_path / "d",
                        manifest=manifest, timeout=2, quiet=True)


def test_local_folder_mirror_and_source_string(served, tmp_path, monkeypatch):
    site, manifest, _ = served
    rec = fsdd.fetch_fsdd(mirror=str(site), cache_dir=tmp_path / "c", manifest=manifest,
                          quiet=True)
    assert len(list(rec.iterdir())) == 12
    # fsdd:download through load_sources, with the user cache redirected and the test manifest
    monkeypatch.setenv("VAE_SYNTH_CACHE", str(tmp_path / "usercache"))
    real = fsdd.fetch_fsdd
    monkeypatch.setattr(fsdd, "fetch_fsdd",
                        lambda mirror=None: real(mirror=mirror, manifest=manifest, quiet=True))
    data = load_sources([f"fsdd:download?mirror={site}&speakers=nicolas"], 8000, 4096)
    assert len(data.test_x) == 10 and len(data.train_x) == 2
    assert (tmp_path / "usercache" / f"fsdd-{fsdd.FSDD_COMMIT[:12]}" / "recordings").is_dir()


def test_pinned_manifest_covers_the_dataset():
    m = fsdd.pinned_manifest()  # package data, read through importlib.resources
    assert len(m) == 3000
    speakers = {name.split("_")[1] for name in m}
    assert speakers == {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"}
    assert {(d, i) for d, _, i in (n[:-4].split("_") for n in m)} == {
        (str(d), str(i)) for d in range(10) for i in range(50)}
    assert all(len(v) == 64 for v in m.values())
    assert fsdd.FSDD_COMMIT == "26eb9aaf76e81b692f806f9140c2d2777410d7a1"


def test_manifest_format_is_sha256sums_own(tmp_path):
    """The manifest reader reads what `sha256sum` writes, and `sha256sum -c` accepts the
    pinned manifest's format: a copy of the dataset can be verified by hand."""
    sha256sum = shutil.which("sha256sum")
    if sha256sum is None:
        pytest.skip("no sha256sum (coreutils) on this machine")
    rec = _make_recordings(tmp_path)
    rec_dir = tmp_path / "recordings"
    names = sorted(rec)
    out = subprocess.run([sha256sum, *names], cwd=rec_dir, capture_output=True, text=True,
                         check=True).stdout
    assert fsdd.parse_sha256sums(out) == rec
    # the pinned file is written the same way: its lines checked by sha256sum itself
    pinned_text = importlib.resources.files("vae_synth.train").joinpath(fsdd.MANIFEST).read_text()
    line = pinned_text.splitlines()[0]
    digest, name = line.split("  ")
    (rec_dir / name).write_bytes(b"not the recording")
    (rec_dir / "check.sha256").write_text(out + line + "\n")
    check = subprocess.run([sha256sum, "-c", "check.sha256"], cwd=rec_dir, capture_output=True,
                           text=True)
    assert check.returncode == 1
    assert f"{name}: FAILED" in check.stdout and check.stdout.count(": OK") == len(names)


def test_manifest_reader_rejects_a_bad_line():
    with pytest.raises(ValueError, match="line 2"):
        fsdd.parse_sha256sums("0" * 64 + "  a.wav\n" + "abc  b.wav\n")

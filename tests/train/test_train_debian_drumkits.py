"""scripts/debian_drumkits.py on a small .deb built here with dpkg-deb (the layout of Debian's
hydrogen-drumkits: usr/share/hydrogen/data/drumkits/<kit>/drumkit.xml + samples)."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fixtures_scripts import load_script

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")


def _kit(folder: Path, instruments: dict[str, str], suffix: str) -> None:
    folder.mkdir(parents=True)
    xml = ['<?xml version="1.0"?>', '<drumkit_info xmlns="http://www.hydrogen-music.org/drumkit">',
           "<name>k</name><instrumentList>"]
    for i, (name, file) in enumerate(instruments.items()):
        xml.append(f"<instrument><id>{i}</id><name>{name}</name><layer><filename>{file}"
                   "</filename></layer></instrument>")
        tone = 0.3 * np.sin(np.arange(4800) * (0.01 + 0.02 * i))
        sf.write(folder / file, np.stack([tone, tone], 1) if i % 2 else tone, 48000,
                 format="FLAC" if suffix == "flac" else "WAV", subtype="PCM_24")
    xml.append("</instrumentList></drumkit_info>")
    (folder / "drumkit.xml").write_text("\n".join(xml))


def _deb(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    kits = root / "usr/share/hydrogen/data/drumkits"
    _kit(kits / "Audiophob", {"Kick": "a.wav", "Hand Clap": "b.wav", "Snare Rock": "c.wav",
                              "Open HH": "d.wav", "Cowbell": "e.wav"}, "wav")
    _kit(kits / "rumpf_kit_z01_h2", {"c3 - bass drum 1": "k.flac", "b3 - low tom": "t.flac",
                                     "f#3 - hi-hat closed": "h.flac", "c#4 - crash": "x.flac",
                                     "Sample: y.flac": "y.flac"}, "flac")
    _kit(kits / "ForzeeStereo", {"Kick": "gpl.wav"}, "wav")  # a GPL kit: never taken
    (root / "DEBIAN").mkdir()
    (root / "DEBIAN/control").write_text(
        "Package: hydrogen-drumkits\nVersion: 2017.09.19~dfsg-1\nArchitecture: all\n"
        "Maintainer: test <t@example.org>\nDescription: test\n")
    deb = tmp_path / "hydrogen-drumkits_test_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)],
                   check=True, capture_output=True)
    return deb


def test_classify_by_instrument_name():
    m = load_script("debian_drumkits")
    assert [m.classify(n) for n in ("Kick", "c3 - bass drum 1", "Snare Jazz", "Tom Low",
                                    "Closed HH", "f#3 - hi-hat closed", "Hand Clap", "Crash",
                                    "Sample: beats_01-10.flac")] == [
        "kick", "kick", "snare", "tom", "hihat", "hihat", None, None, None]


def test_extracts_only_the_cc0_and_cc_by_drums_with_their_licences(tmp_path):
    m = load_script("debian_drumkits")
    out = tmp_path / "drums"
    assert m.main(["--deb", str(_deb(tmp_path)), "--out", str(out)]) == 0
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    got = {(r["kit"], r["cls"], r["licence"]) for r in rows}
    assert got == {("Audiophob", "kick", "CC0-1.0"), ("Audiophob", "snare", "CC0-1.0"),
                   ("Audiophob", "hihat", "CC0-1.0"), ("rumpf_kit_z01_h2", "kick", "CC-BY-3.0"),
                   ("rumpf_kit_z01_h2", "tom", "CC-BY-3.0"),
                   ("rumpf_kit_z01_h2", "hihat", "CC-BY-3.0")}
    assert all(r["package"] == "Debian hydrogen-drumkits 2017.09.19~dfsg-1" for r in rows)
    assert "Emanuel Rumpf" in next(r["source"] for r in rows if r["kit"] == "rumpf_kit_z01_h2")
    wav = out / "tom" / "rumpf_kit_z01_h2__t.wav"
    audio, rate = sf.read(wav)
    assert rate == 48000 and audio.shape == (4800, 2)  # as it was: no resampling or mixing
    # the folder source reads the licences and the attribution from the manifest
    from vae_synth.train.data import load_sources

    data = load_sources([f"folder:{out}?split=none"], 44100, 4096)
    assert data.licence == "CC-BY-3.0 AND CC0-1.0" and "Emanuel Rumpf" in data.attribution
    # never into an existing folder
    assert m.main(["--deb", str(tmp_path / "x.deb"), "--out", str(out)]) == 2

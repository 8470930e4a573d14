"""Drum one-shots with CC0 / CC-BY licences from Debian's `hydrogen-drumkits` package, as a
training folder ``OUT/<class>/*.wav`` with a ``manifest.csv`` (licence and attribution per clip).

Of the package's 14 kits (version 2017.09.19~dfsg-1; licences from its debian/copyright and
each kit's drumkit.xml) two are CC0 or CC-BY; the others are GPL or CC-BY-SA and are not used:

- ``Audiophob`` (by soundcloud.com/audiophobdubstep): CC0 (its drumkit.xml: "This work is
  licensed under the Creative Commons 0 License"); the files carry the names of the sound
  archive they were first shared on.
- ``rumpf_kit_z01_h2`` (Emanuel Rumpf, sf.net/projects/rumpf-kit): CC-BY 3.0 (its README.txt
  and drumkit.xml): a derived preset must credit "rumpf_kit_z01 by Emanuel Rumpf, CC BY 3.0".

Only the instruments the kit names as a kick, snare, tom or hi-hat are taken (its unnamed
extra samples, claps, sticks, cymbals and cowbells are not), one file per instrument,
converted to 16/24-bit WAV as they are (no resampling, trimming or normalisation).

    python scripts/debian_drumkits.py --out data/debian-drums          # fetches the .deb
    python scripts/debian_drumkits.py --deb hydrogen-drumkits_*.deb --out data/debian-drums

The package is fetched with ``apt-get download`` (the registry's own client) into a temporary
folder when ``--deb`` is not given. The output folder must not exist yet; it appears whole or
not at all.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from kit_folder import deb_version, fetch_deb, new_folder, summary, write_manifest, write_wav

PACKAGE = "hydrogen-drumkits"
KITS = {
    "Audiophob": {"licence": "CC0-1.0", "author": "soundcloud.com/audiophobdubstep",
                  "attribution": "Audiophob drumkit (CC0)"},
    "rumpf_kit_z01_h2": {"licence": "CC-BY-3.0", "author": "Emanuel Rumpf",
                         "attribution": "rumpf_kit_z01 by Emanuel Rumpf, CC BY 3.0 "
                                        "(sf.net/projects/rumpf-kit)"},
}
# instrument name -> class; the first rule that matches wins
RULES = [(re.compile(r"\b(kick|bass drum)\b", re.I), "kick"),
         (re.compile(r"\bsnare\b", re.I), "snare"),
         (re.compile(r"\btom\b", re.I), "tom"),
         (re.compile(r"\b(hh|hi-?hat)\b", re.I), "hihat")]


def classify(instrument: str) -> str | None:
    for pattern, cls in RULES:
        if pattern.search(instrument):
            return cls
    return None


def kit_instruments(kit_dir: Path) -> list[tuple[str, str]]:
    """(instrument name, first layer's file name) of a Hydrogen drumkit.xml, in its order."""
    root = ET.parse(kit_dir / "drumkit.xml").getroot()
    ns = re.match(r"\{.*\}", root.tag)
    ns = ns.group(0) if ns else ""
    out = []
    for inst in root.iter(ns + "instrument"):
        files = [e.text for e in inst.iter(ns + "filename") if e.text]
        if files:
            out.append(((inst.findtext(ns + "name") or "").strip(), files[0]))
    return out


def extract(deb: Path, out: Path) -> list[dict]:
    """The kits' kicks, snares, toms and hi-hats from the .deb into the folder out (which
    exists), with their manifest; the manifest's rows."""
    import soundfile as sf

    version = deb_version(deb)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        kits = Path(tmp) / "usr/share/hydrogen/data/drumkits"
        for kit, info in KITS.items():
            for instrument, name in kit_instruments(kits / kit):
                cls = classify(instrument)
                if cls is None:
                    continue
                audio, rate = sf.read(kits / kit / name, always_2d=True)
                target = out / cls / f"{kit}__{Path(name).stem}.wav"
                subtype = sf.info(str(kits / kit / name)).subtype
                write_wav(target, audio, rate, subtype if subtype in ("PCM_16", "PCM_24")
                          else "PCM_24")
                rows.append({"path": str(target.relative_to(out)), "cls": cls,
                             "instrument": instrument, "kit": kit, "author": info["author"],
                             "licence": info["licence"], "source": info["attribution"],
                             "package": f"Debian {PACKAGE} {version}",
                             "source_file": f"usr/share/hydrogen/data/drumkits/{kit}/{name}",
                             "sample_rate": rate, "channels": audio.shape[1],
                             "n_samples": audio.shape[0]})
    write_manifest(out, rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to create")
    parser.add_argument("--deb", type=Path, help=f"a downloaded {PACKAGE} .deb (default: fetch)")
    args = parser.parse_args(argv)
    try:
        with new_folder(args.out) as folder, tempfile.TemporaryDirectory() as tmp:
            rows = extract(args.deb or fetch_deb(PACKAGE, Path(tmp)), folder)
    except FileExistsError as e:
        print(e, file=sys.stderr)
        return 2
    print(summary(rows, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

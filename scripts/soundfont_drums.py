"""Drum one-shots from the General MIDI drum kits of Debian's `fluid-soundfont-gm` package
(FluidR3_GM.sf2, MIT licence), as a training folder ``OUT/<class>/*.wav`` with a
``manifest.csv`` (licence and attribution per clip), like ``scripts/debian_drumkits.py``.

FluidR3_GM (Frank Wen and contributors; version 3.1-5.3 in Debian 12) is released "under the MIT
license" (its README and debian/copyright): permissive, with one condition, that the copyright
and permission notice travel with copies; a preset trained on it credits
"FluidR3_GM by Frank Wen, MIT licence".

Its drum kits are the presets of bank 128. Each sample that a kit plays on a General MIDI key
of a kick (35, 36), snare (38, 40), tom (41, 43, 45, 47, 48, 50) or hi-hat (42, 44, 46) is
taken once, however many kits, keys or velocity layers use it, and rendered as the kit plays it:
one note at full velocity through FluidSynth (the `fluidsynth` command: `apt-get install
fluidsynth`), reverb and chorus off, 44.1 kHz stereo, 24-bit, from its onset. Rendered, not
copied out of the file, because the kits shape their raw samples: FluidR3's kicks are stored
with a median 4 % of their energy above 11 kHz (-13.9 dB; as rendered -48.9, real kicks' -45)
and hiss in their tails, which the kits' low-pass near 5 kHz takes away (snares': near 7 kHz). A sample that one kit plays as a
tom and another as a hi-hat (the orchestra kit's timpani) has no single class and is left out.

    python scripts/soundfont_drums.py --out data/gm-drums               # fetches the .deb
    python scripts/soundfont_drums.py --sf2 FluidR3_GM.sf2 --out data/gm-drums

The package is fetched with ``apt-get download`` (the registry's own client) into a temporary
folder when neither ``--sf2`` nor ``--deb`` is given. The output folder must not exist yet; it
appears whole or not at all.
"""

from __future__ import annotations

import argparse
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
from kit_folder import deb_version, fetch_deb, new_folder, summary, write_manifest, write_wav

PACKAGE = "fluid-soundfont-gm"
SF2_IN_PACKAGE = "usr/share/sounds/sf2/FluidR3_GM.sf2"
LICENCE = "MIT"
AUTHOR = "Frank Wen and contributors"
ATTRIBUTION = "FluidR3_GM by Frank Wen, MIT licence (Debian fluid-soundfont-gm)"
RATE = 44100
SLOT_SECONDS, HOLD_SECONDS = 2.0, 1.0  # each note's time in the render, and till its note-off
DRUM_BANK = 128
GM_DRUM_KEYS = {35: "kick", 36: "kick", 38: "snare", 40: "snare",
                41: "tom", 43: "tom", 45: "tom", 47: "tom", 48: "tom", 50: "tom",
                42: "hihat", 44: "hihat", 46: "hihat"}

# SoundFont 2.04 generator numbers and sample types used here
GEN_INSTRUMENT, GEN_KEY_RANGE, GEN_SAMPLE_ID, GEN_ROOT_KEY = 41, 43, 53, 58
RIGHT_SAMPLE, LEFT_SAMPLE = 2, 4
ROM_SAMPLE = 0x8000


class SoundFontError(ValueError):
    """The file is not a SoundFont 2 this reader understands."""


@dataclass(frozen=True)
class Sample:
    """One stored sample's header: name, rate, where its data lie in the sample chunk (start,
    end), its stereo partner (link) and its type (mono 1, right 2, left 4)."""

    index: int
    name: str
    rate: int
    start: int
    end: int
    link: int
    kind: int


@dataclass
class SoundFont:
    """The parts of a SoundFont 2 file a drum extraction needs: presets as (name, bank,
    program, [(key range, sample index, root key)]) and the sample headers."""

    presets: list[tuple[str, int, int, list[tuple[tuple[int, int], int, int]]]]
    samples: list[Sample]


def _chunks(buf: bytes, start: int, end: int):
    while start + 8 <= end:
        cid = buf[start:start + 4]
        size = struct.unpack_from("<I", buf, start + 4)[0]
        if start + 8 + size > end:
            raise SoundFontError(f"chunk {cid!r} runs past the end of the file")
        yield cid, start + 8, size
        start += 8 + size + (size & 1)


def read_soundfont(data: bytes) -> SoundFont:
    """Parse the RIFF ``sfbk`` structure: the size of ``sdta/smpl`` and the ``pdta`` tables."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise SoundFontError("not a SoundFont 2 file (no RIFF sfbk header)")
    lists = {}
    for cid, off, size in _chunks(data, 12, len(data)):
        if cid == b"LIST":
            lists[data[off:off + 4]] = {c: (o, s) for c, o, s in _chunks(data, off + 4, off + size)}
    try:
        pdta, smpl = lists[b"pdta"], lists[b"sdta"][b"smpl"]
    except KeyError as e:
        raise SoundFontError(f"missing chunk {e.args[0]!r}") from None

    def table(name: bytes, fmt: str) -> list[tuple]:
        if name not in pdta:
            raise SoundFontError(f"missing pdta chunk {name!r}")
        off, size = pdta[name]
        n = struct.calcsize(fmt)
        return [struct.unpack_from(fmt, data, off + i * n) for i in range(size // n)]

    phdr, pbag, pgen = table(b"phdr", "<20sHHHIII"), table(b"pbag", "<HH"), table(b"pgen", "<HH")
    inst, ibag, igen = table(b"inst", "<20sH"), table(b"ibag", "<HH"), table(b"igen", "<HH")
    shdr = table(b"shdr", "<20sIIIIIBbHH")

    def text(raw: bytes) -> str:
        return raw.split(b"\0")[0].decode("latin-1").strip()

    def zones(headers, bags, gens, i, bag_field):
        """Generators of zone after zone of header i: [{operator: amount}]."""
        out = []
        for b in range(headers[i][bag_field], headers[i + 1][bag_field]):
            out.append({op: amount for op, amount in gens[bags[b][0]:bags[b + 1][0]]})
        return out

    def key_range(gens) -> tuple[int, int]:
        amount = gens.get(GEN_KEY_RANGE, 0x7F00)
        return amount & 0xFF, amount >> 8

    presets = []
    for p in range(len(phdr) - 1):  # the last record is the terminal "EOP"
        mapping = []
        for pz in zones(phdr, pbag, pgen, p, 3):
            if GEN_INSTRUMENT not in pz or pz[GEN_INSTRUMENT] >= len(inst) - 1:
                continue
            plo, phi = key_range(pz)
            for iz in zones(inst, ibag, igen, pz[GEN_INSTRUMENT], 1):
                if GEN_SAMPLE_ID in iz and iz[GEN_SAMPLE_ID] < len(shdr) - 1:
                    ilo, ihi = key_range(iz)
                    lo, hi = max(plo, ilo), min(phi, ihi)
                    if lo <= hi:
                        sample = iz[GEN_SAMPLE_ID]
                        root = iz.get(GEN_ROOT_KEY, shdr[sample][6])
                        mapping.append(((lo, hi), sample, root))
        presets.append((text(phdr[p][0]), phdr[p][2], phdr[p][1], mapping))
    n_pcm = smpl[1] // 2
    samples = [Sample(i, text(h[0]), h[5], min(h[1], n_pcm), min(h[2], n_pcm), h[8], h[9])
               for i, h in enumerate(shdr[:-1])]
    return SoundFont(presets, samples)


@dataclass(frozen=True)
class DrumNote:
    """One drum sound to render: the kit (bank 128 program) and key that play the sample."""

    sample: int
    cls: str
    program: int
    key: int
    kit: str
    keys: tuple[int, ...]  # every GM drum key of that class that plays the sample, any kit
    kits: tuple[str, ...]


def drum_notes(font: SoundFont) -> list[DrumNote]:
    """One note per sample that the drum kits (bank 128) play on a key of GM_DRUM_KEYS: a stereo
    pair counts once (by its right channel), and a sample two classes share is left out. The
    note is on the key nearest the sample's root key (so it sounds at its own pitch where a kit
    plays it so), in the kit of the lowest program that plays it there."""
    found: dict[int, dict] = {}
    for name, bank, program, mapping in sorted(font.presets, key=lambda p: (p[1], p[2])):
        if bank != DRUM_BANK:
            continue
        for (lo, hi), i, root in mapping:
            s = font.samples[i]
            if s.kind & ROM_SAMPLE or s.end <= s.start:
                continue
            if s.kind == LEFT_SAMPLE and 0 <= s.link < len(font.samples):
                i = s.link  # one entry per pair
            for key in range(lo, hi + 1):
                if key not in GM_DRUM_KEYS:
                    continue
                entry = found.setdefault(i, {"classes": set(), "keys": set(), "kits": [],
                                             "notes": []})
                entry["classes"].add(GM_DRUM_KEYS[key])
                entry["keys"].add(key)
                if name not in entry["kits"]:
                    entry["kits"].append(name)
                entry["notes"].append((abs(key - root), len(entry["notes"]), program, key, name))
    notes = []
    for i, e in found.items():
        if len(e["classes"]) != 1:
            continue
        _, _, program, key, kit = min(e["notes"])
        notes.append(DrumNote(i, next(iter(e["classes"])), program, key, kit,
                              tuple(sorted(e["keys"])), tuple(e["kits"])))
    return sorted(notes, key=lambda n: font.samples[n.sample].name)


def file_stem(name: str) -> str:
    """A sample name as a file name: '808 Kick 1' -> '808_Kick_1', 'Tom Low(R)' -> 'Tom_Low'."""
    name = re.sub(r"\((L|R)\)?$", "", name).strip()
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "sample"


def _write_midi(path: Path, notes: list[DrumNote]) -> None:
    """A standard MIDI file (mido, as the renderer reads them): on the drum channel (10), each
    note's kit then the note at full velocity, one every SLOT_SECONDS, held HOLD_SECONDS."""
    ticks = 960  # a second at mido's default 120 bpm and 480 ticks a beat
    hold, rest = round(HOLD_SECONDS * ticks), round((SLOT_SECONDS - HOLD_SECONDS) * ticks)
    track = mido.MidiTrack()
    for n, note in enumerate(notes):
        track.append(mido.Message("program_change", channel=9, program=note.program,
                                  time=0 if n == 0 else rest))
        track.append(mido.Message("note_on", channel=9, note=note.key, velocity=127))
        track.append(mido.Message("note_off", channel=9, note=note.key, time=hold))
    track.append(mido.MetaMessage("end_of_track", time=rest))
    mido.MidiFile(type=0, ticks_per_beat=480, tracks=[track]).save(str(path))


def render(sf2: Path, notes: list[DrumNote], rate: int = RATE) -> list[np.ndarray]:
    """Each note as the kit plays it, [n, 2] float, rendered by FluidSynth (every zone's filter,
    envelope, tuning and pan; reverb and chorus off) and cut from its onset (the first point
    within 60 dB of the slot's peak) to the end of its slot."""
    import soundfile as sf

    if shutil.which("fluidsynth") is None:
        raise SoundFontError("needs the fluidsynth command (apt-get install fluidsynth)")
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "notes.mid", Path(tmp) / "notes.wav"
        _write_midi(mid, notes)
        subprocess.run(["fluidsynth", "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", "1.0",
                        "-r", str(rate), "-T", "wav", "-O", "float", "-F", str(wav), str(sf2),
                        str(mid)], check=True, capture_output=True)
        audio, got = sf.read(wav, dtype="float32", always_2d=True)
    if got != rate:
        raise SoundFontError(f"fluidsynth rendered at {got} Hz, not {rate}")
    slot, clips = round(SLOT_SECONDS * rate), []
    for n in range(len(notes)):
        part = audio[n * slot:(n + 1) * slot]
        level = np.abs(part).max(axis=1) if len(part) else np.zeros(0)
        if not len(level) or level.max() <= 0:
            raise SoundFontError(f"{notes[n].kit} key {notes[n].key} rendered silence")
        onset = int(np.argmax(level >= 1e-3 * level.max()))
        clips.append(part[onset:])
    return clips


def extract(sf2: Path, out: Path, package: str) -> list[dict]:
    """Every drum note of the SoundFont, rendered, into the folder out (which exists), with
    their manifest; the manifest's rows."""
    font = read_soundfont(sf2.read_bytes())
    notes = drum_notes(font)
    if not notes:
        raise SoundFontError("no drum kit (bank 128) plays a kick, snare, tom or hi-hat here")
    rows, used = [], set()
    for note, audio in zip(notes, render(sf2, notes), strict=True):
        name = font.samples[note.sample].name
        stem = file_stem(name)
        while (note.cls, stem) in used:
            stem += "_"
        used.add((note.cls, stem))
        target = out / note.cls / f"FluidR3__{stem}.wav"
        peak = float(np.abs(audio).max())
        write_wav(target, audio / peak if peak > 1 else audio, RATE)
        rows.append({"path": str(target.relative_to(out)), "cls": note.cls, "instrument": name,
                     "kit": note.kit, "program": note.program, "key": note.key,
                     "kits": " / ".join(note.kits), "gm_keys": " ".join(map(str, note.keys)),
                     "author": AUTHOR, "licence": LICENCE, "source": ATTRIBUTION,
                     "package": package, "source_file": f"{SF2_IN_PACKAGE}#{name}",
                     "sample_rate": RATE, "channels": audio.shape[1],
                     "n_samples": audio.shape[0]})
    write_manifest(out, rows)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to create")
    given = parser.add_mutually_exclusive_group()
    given.add_argument("--deb", type=Path, help=f"a downloaded {PACKAGE} .deb (default: fetch)")
    given.add_argument("--sf2", type=Path, help="FluidR3_GM.sf2 itself")
    args = parser.parse_args(argv)
    sf2 = args.sf2
    try:
        with new_folder(args.out) as folder, tempfile.TemporaryDirectory() as tmp:
            package = f"{PACKAGE} (FluidR3_GM.sf2)"
            if sf2 is None:
                deb = args.deb or fetch_deb(PACKAGE, Path(tmp))
                package = f"Debian {PACKAGE} {deb_version(deb)}"
                subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
                sf2 = Path(tmp) / SF2_IN_PACKAGE
            rows = extract(sf2, folder, package)
    except FileExistsError as e:
        print(e, file=sys.stderr)
        return 2
    except (OSError, SoundFontError, subprocess.CalledProcessError) as e:
        print(f"{sf2}: {e}", file=sys.stderr)
        return 1
    print(summary(rows, args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

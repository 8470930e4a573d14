"""scripts/soundfont_drums.py on a small SoundFont 2 built here byte by byte (the RIFF layout of
FluidR3_GM.sf2: drum kits as bank-128 presets whose instrument zones map keys to samples),
rendered by the real FluidSynth."""

from __future__ import annotations

import csv
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fixtures_scripts import load_script


def _chunk(cid: bytes, payload: bytes) -> bytes:
    pad = b"\0" if len(payload) % 2 else b""
    return cid + struct.pack("<I", len(payload)) + payload + pad


def _list(kind: bytes, *chunks: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _name(text: str) -> bytes:
    return text.encode("latin-1").ljust(20, b"\0")


def _soundfont(samples, instruments, presets) -> bytes:
    """samples: [(name, int16 array, rate, original key, link, type)]; instruments: [(name,
    [(lo, hi, sample index)])]; presets: [(name, bank, program, instrument index)]."""
    pcm, shdr = b"", b""
    for name, data, rate, key, link, kind in samples:
        start = len(pcm) // 2
        pcm += data.astype("<i2").tobytes() + b"\0" * 92  # 46 zero points after each sample
        shdr += struct.pack("<20sIIIIIBbHH", _name(name), start, start + len(data), start,
                            start + len(data), rate, key, 0, link, kind)
    shdr += struct.pack("<20sIIIIIBbHH", _name("EOS"), 0, 0, 0, 0, 0, 0, 0, 0, 0)
    inst, ibag, igen = b"", b"", b""
    n_bags = n_gens = 0
    for name, zones in instruments:
        inst += struct.pack("<20sH", _name(name), n_bags)
        for lo, hi, sample in zones:
            ibag += struct.pack("<HH", n_gens, 0)
            igen += struct.pack("<HBB", 43, lo, hi) + struct.pack("<HH", 53, sample)
            n_bags, n_gens = n_bags + 1, n_gens + 2
    inst += struct.pack("<20sH", _name("EOI"), n_bags)
    ibag += struct.pack("<HH", n_gens, 0)
    igen += struct.pack("<HH", 0, 0)
    phdr, pbag, pgen = b"", b"", b""
    for i, (name, bank, program, instrument) in enumerate(presets):
        phdr += struct.pack("<20sHHHIII", _name(name), program, bank, i, 0, 0, 0)
        pbag += struct.pack("<HH", i, 0)
        pgen += struct.pack("<HH", 41, instrument)
    phdr += struct.pack("<20sHHHIII", _name("EOP"), 0, 0, len(presets), 0, 0, 0)
    pbag += struct.pack("<HH", len(presets), 0)
    pgen += struct.pack("<HH", 0, 0)
    mods = struct.pack("<HHhHH", 0, 0, 0, 0, 0)
    body = (b"sfbk" + _list(b"INFO", _chunk(b"ifil", struct.pack("<HH", 2, 1)))
            + _list(b"sdta", _chunk(b"smpl", pcm))
            + _list(b"pdta", _chunk(b"phdr", phdr), _chunk(b"pbag", pbag), _chunk(b"pmod", mods),
                    _chunk(b"pgen", pgen), _chunk(b"inst", inst), _chunk(b"ibag", ibag),
                    _chunk(b"imod", mods), _chunk(b"igen", igen), _chunk(b"shdr", shdr)))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _tone(n: int, hz: float, rate: int, amp: float = 0.5) -> np.ndarray:
    decay = np.exp(-np.arange(n) / (0.2 * rate))
    return np.round(amp * 32767 * decay * np.sin(2 * np.pi * hz / rate * np.arange(n))).astype(np.int16)


def _peak_hz(audio: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=1) if audio.ndim == 2 else audio))
    return float(np.fft.rfftfreq(len(audio), 1 / rate)[spectrum.argmax()])


@pytest.fixture
def sf2(tmp_path: Path) -> Path:
    samples = [("Kick(L)", _tone(22050, 60, 44100), 44100, 36, 1, 4),
               ("Kick(R)", _tone(22050, 60, 44100, 0.25), 44100, 36, 0, 2),
               ("Snare", _tone(24000, 1000, 48000), 48000, 38, 0, 1),
               ("Clap", _tone(4410, 3000, 44100), 44100, 39, 0, 1),
               ("Timpani", _tone(16000, 100, 32000), 32000, 41, 0, 1),
               ("Tom", _tone(22050, 150, 44100), 44100, 47, 0, 1),
               ("Piano C", _tone(8820, 262, 44100), 44100, 60, 0, 1)]
    instruments = [("Kit", [(35, 36, 0), (35, 36, 1), (38, 38, 2), (39, 39, 3), (41, 41, 4),
                            (47, 50, 5)]),
                   ("Orchestra", [(42, 46, 4)]),  # the same timpani on the hi-hat keys
                   ("Piano", [(0, 127, 6)])]
    presets = [("Standard", 128, 0, 0), ("Orchestra Kit", 128, 48, 1), ("Grand Piano", 0, 0, 2)]
    path = tmp_path / "FluidR3_GM.sf2"
    path.write_bytes(_soundfont(samples, instruments, presets))
    return path


def test_one_note_per_drum_sample(sf2):
    m = load_script("soundfont_drums")
    notes = m.drum_notes(m.read_soundfont(sf2.read_bytes()))
    # the clap (key 39) is no class, the timpani a tom in one kit and a hi-hat in the other, the
    # piano no drum kit; the stereo kick is one note, the tom is played on its own key (47)
    assert [(n.cls, n.program, n.key, n.keys, n.kits) for n in notes] == [
        ("kick", 0, 36, (35, 36), ("Standard",)), ("snare", 0, 38, (38,), ("Standard",)),
        ("tom", 0, 47, (47, 48, 50), ("Standard",))]


needs_fluidsynth = pytest.mark.skipif(shutil.which("fluidsynth") is None,
                                      reason="needs fluidsynth (scripts/setup.sh test installs it)")


@needs_fluidsynth
def test_renders_each_drum_sample_as_the_kit_plays_it(sf2, tmp_path):
    m = load_script("soundfont_drums")
    out = tmp_path / "gm-drums"
    assert m.main(["--sf2", str(sf2), "--out", str(out)]) == 0
    with open(out / "manifest.csv", newline="") as f:
        rows = {r["path"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"kick/FluidR3__Kick.wav", "snare/FluidR3__Snare.wav",
                         "tom/FluidR3__Tom.wav"}
    kick = rows["kick/FluidR3__Kick.wav"]
    assert (kick["gm_keys"], kick["kit"], kick["key"], kick["licence"]) == ("35 36", "Standard",
                                                                          "36", "MIT")
    assert "Frank Wen" in kick["source"]
    for path, hz in (("kick/FluidR3__Kick.wav", 60), ("snare/FluidR3__Snare.wav", 1000),
                     ("tom/FluidR3__Tom.wav", 150)):
        audio, rate = sf.read(out / path)
        assert rate == 44100 and audio.shape[1] == 2  # the snare's 48 kHz resampled
        assert abs(_peak_hz(audio, rate) - hz) < 3, path  # at its own pitch
        assert np.abs(audio[:64]).max() > 0.05 * np.abs(audio).max(), path  # from its onset
        assert len(audio) == pytest.approx(2 * 44100, rel=0.01)  # the slot's 2 s, its tail silent
    # the folder source reads the licence and the attribution from the manifest
    from vae_synth.train.data import load_sources

    data = load_sources([f"folder:{out}?split=none"], 44100, 4096)
    assert data.licence == "MIT" and "FluidR3_GM by Frank Wen" in data.attribution


def test_refuses_a_file_that_is_not_a_soundfont_and_an_existing_folder(tmp_path, capsys):
    m = load_script("soundfont_drums")
    bad = tmp_path / "bad.sf2"
    bad.write_bytes(b"RIFF\x04\x00\x00\x00WAVE")
    out = tmp_path / "gm-drums"
    assert m.main(["--sf2", str(bad), "--out", str(out)]) == 1
    assert "not a SoundFont 2 file" in capsys.readouterr().err and not out.exists()
    # a SoundFont without a drum kit: an error, and neither the folder nor a scratch one left
    piano = tmp_path / "piano.sf2"
    piano.write_bytes(_soundfont([("Piano C", _tone(8820, 262, 44100), 44100, 60, 0, 1)],
                                 [("Piano", [(0, 127, 0)])], [("Grand Piano", 0, 0, 0)]))
    assert m.main(["--sf2", str(piano), "--out", str(out)]) == 1
    assert "no drum kit" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.sf2", "piano.sf2"]
    out.mkdir()
    assert m.main(["--sf2", str(bad), "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


def test_file_stems():
    m = load_script("soundfont_drums")
    assert [m.file_stem(n) for n in ("808 Kick 1", "Tom Low(R)", "Power Bass Drum 2(R", "??")] == [
        "808_Kick_1", "Tom_Low", "Power_Bass_Drum_2", "sample"]

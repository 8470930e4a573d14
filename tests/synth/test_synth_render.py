"""`vae-synth render` as a new user meets it: nothing of theirs is overwritten or left behind,
bad numbers and broken MIDI files get a reason, notes without a pad are reported, and the file
comes in the format asked for."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from fixtures_preset import make_test_preset
from synth_rig import write_midi
from vae_synth.synth.preset import load_preset
from vae_synth.synth.render import FORMATS, RenderError, render_file

from vae_synth.cli import main

GROOVE = [(0.125 * i, 42, 90, 0.05) for i in range(16)] + [  # 16 hats, 4 kicks, 2 snares, 2 toms
    (0.5 * i, 36, 110, 0.1) for i in range(4)] + [(0.5, 38, 100, 0.1), (1.5, 38, 100, 0.1),
                                                 (1.75, 45, 100, 0.1), (1.875, 45, 100, 0.1)]


@pytest.fixture
def beat(tmp_path):
    return write_midi(tmp_path / "beat.mid", GROOVE)


def _render(capsys, *args):
    code = main(["render", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_output_that_is_an_input_is_refused_and_the_input_kept(tones_preset, beat, capsys):
    before = beat.read_bytes()
    code, out, err = _render(capsys, "--preset", tones_preset, "--midi", beat, "--out", beat)
    assert code == 2 and "is the MIDI file being rendered" in err and "refusing" in err
    assert beat.read_bytes() == before
    # the same file under another name (a hard link) and the preset's own files are inputs too
    os.link(beat, beat.with_name("alias.mid"))
    code, _, err = _render(capsys, "--preset", tones_preset, "--midi", beat, "--out",
                           beat.with_name("alias.mid"))
    assert code == 2 and "is the MIDI file" in err and beat.read_bytes() == before
    decoder = tones_preset / "decoder.onnx"
    onnx_bytes = decoder.read_bytes()
    code, _, err = _render(capsys, "--preset", tones_preset, "--midi", beat, "--out", decoder)
    assert code == 2 and "render writes WAV (.wav) or FLAC (.flac)" in err
    with pytest.raises(RenderError, match="is the preset's decoder file; refusing"):
        render_file(load_preset(tones_preset), beat, decoder)
    assert decoder.read_bytes() == onnx_bytes


def test_a_folder_as_output_says_so_and_leaves_nothing_behind(tones_preset, beat, capsys):
    takes = beat.parent / "takes"
    takes.mkdir()
    listing = sorted(p.name for p in beat.parent.iterdir())
    code, _, err = _render(capsys, "--preset", tones_preset, "--midi", beat, "--out", takes)
    assert code == 2 and "is a folder; give a file name" in err
    assert "Errno" not in err and "Traceback" not in err
    assert sorted(p.name for p in beat.parent.iterdir()) == listing
    assert list(takes.iterdir()) == []


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_a_full_disk_keeps_the_old_take_and_leaves_no_temporary(tones_preset, beat, tmp_path):
    """A real full file system: a 64 KiB tmpfs in a private mount namespace (unshare -rm works
    without root where user namespaces are allowed)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (f'mount -t tmpfs -o size=64k tmpfs "{disk}" || exit 77; '
              f'printf "the user take" > "{disk}/take.wav"; '
              f'"{sys.executable}" -m vae_synth render --preset "{tones_preset}" '
              f'--midi "{beat}" --out "{disk}/take.wav"; echo "rc=$?"; '
              f'ls -A "{disk}"; cat "{disk}/take.wav"')
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True,
                          text=True, timeout=120)
    if done.returncode == 77 or "unshare:" in done.stderr:
        pytest.skip(f"cannot mount a private tmpfs here: {done.stderr.strip()}")
    lines = done.stdout.strip().splitlines()
    assert "rc=2" in lines, done.stdout + done.stderr
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
    assert lines[lines.index("rc=2") + 1:] == ["take.wav", "the user take"]


def test_a_negative_tail_is_refused_and_tail_zero_keeps_every_note(tones_preset, tmp_path,
                                                                   capsys):
    midi = write_midi(tmp_path / "end.mid", [(0.1 * i, 36, 100, 0.05) for i in range(5)]
                      + [(0.6, 38, 100, 0.0)])   # the last event is a note-on (no gap to its off)
    with pytest.raises(SystemExit) as exit_:
        main(["render", "--preset", str(tones_preset), "--midi", str(midi), "--out",
              str(tmp_path / "x.wav"), "--tail", "-1"])
    assert exit_.value.code == 2
    assert "--tail: expected seconds (0 to 60), got -1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:   # a typo that would ask for gigabytes
        main(["render", "--preset", str(tones_preset), "--midi", str(midi), "--out",
              str(tmp_path / "x.wav"), "--tail", "100000"])
    assert exit_.value.code == 2
    assert "--tail: expected seconds (0 to 60), got 100000" in capsys.readouterr().err
    for bad in (-1.0, float("nan"), 1e5):
        with pytest.raises(RenderError, match="--tail must be 0 to 60 seconds"):
            render_file(load_preset(tones_preset), midi, tmp_path / "x.wav", tail_s=bad)
    assert not (tmp_path / "x.wav").exists()
    result = render_file(load_preset(tones_preset), midi, tmp_path / "x.wav", tail_s=0.0)
    assert result["notes"] == 6


def test_notes_without_a_pad_are_reported_once_with_their_count(tmp_path, beat, capsys):
    kit = make_test_preset(tmp_path, classes=("kick", "snare"), name="two-pads")
    code, out, err = _render(capsys, "--preset", kit, "--midi", beat, "--out",
                             tmp_path / "two.wav")
    assert code == 0
    lines = [line for line in err.splitlines() if "no pad" in line]
    assert len(lines) == 1, err
    # 16 hats (42) and 2 toms (45): the default map of a kick/snare kit has neither
    assert "18 notes had no pad in preset 'two-pads'" in lines[0]
    assert "42 (x16)" in lines[0] and "45 (x2)" in lines[0]
    assert ", 6 notes," in out
    code, out, err = _render(capsys, "--preset", make_test_preset(tmp_path / "k"), "--midi", beat,
                             "--out", tmp_path / "four.wav")
    assert code == 0 and "no pad" not in err and ", 24 notes," in out


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_is_written_and_named_in_the_summary(name, tones_preset, beat, tmp_path,
                                                         capsys):
    reference = tmp_path / "ref.wav"
    render_file(load_preset(tones_preset), beat, reference)
    out = tmp_path / f"take{FORMATS[name].suffix}"
    code, stdout, _ = _render(capsys, "--preset", tones_preset, "--midi", beat, "--out", out,
                              "--format", name)
    assert code == 0 and f": {FORMATS[name].label}, 48000 Hz stereo," in stdout
    info = sf.info(str(out))
    assert (info.format, info.subtype) == (FORMATS[name].container, FORMATS[name].subtype)
    ref, _ = sf.read(str(reference), dtype="float64")
    got, _ = sf.read(str(out), dtype="float64")
    quantum = {"FLOAT": 0.0, "PCM_16": 2.0 ** -15, "PCM_24": 2.0 ** -23}[FORMATS[name].subtype]
    assert got.shape == ref.shape and np.abs(got - ref).max() <= quantum
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["beat.mid", "ref.wav", out.name])


def test_the_format_follows_the_name_and_a_mismatch_is_refused(tones_preset, beat, tmp_path,
                                                               capsys):
    code, stdout, _ = _render(capsys, "--preset", tones_preset, "--midi", beat, "--out",
                              tmp_path / "take.flac")
    assert code == 0 and "FLAC 24-bit" in stdout and sf.info(str(tmp_path / "take.flac")).format == "FLAC"
    code, stdout, _ = _render(capsys, "--preset", tones_preset, "--midi", beat, "--out",
                              tmp_path / "take.wav")
    assert code == 0 and "WAV 32-bit float" in stdout
    code, _, err = _render(capsys, "--preset", tones_preset, "--midi", beat, "--out",
                           tmp_path / "x.wav", "--format", "flac")
    assert code == 2 and "name the file *.flac" in err and not (tmp_path / "x.wav").exists()


@pytest.mark.parametrize("name", ["other.mid", "take.mp3", "take"])
def test_a_name_that_is_not_a_sound_file_is_refused_and_the_file_kept(name, tones_preset, beat,
                                                                      capsys):
    """WAV data under another ending would be a file nothing reads as what its name says, and
    --out other.mid would overwrite a second MIDI file (not an input, so not caught as one)."""
    other = beat.with_name(name)
    other.write_bytes(b"MThd the user's other groove")
    listing = sorted(p.name for p in beat.parent.iterdir())
    code, _, err = _render(capsys, "--preset", tones_preset, "--midi", beat, "--out", other)
    assert code == 2 and "render writes WAV (.wav) or FLAC (.flac)" in err
    assert f"e.g. {other.with_suffix('.wav')}" in err
    assert other.read_bytes() == b"MThd the user's other groove"
    assert sorted(p.name for p in beat.parent.iterdir()) == listing


def test_a_folder_name_that_does_not_exist_yet_is_refused(tones_preset, beat, capsys):
    code, _, err = _render(capsys, "--preset", tones_preset, "--midi", beat, "--out",
                           f"{beat.parent / 'takes'}/")
    assert code == 2 and "is a folder; give a file name" in err
    assert not (beat.parent / "takes").exists()


@pytest.mark.parametrize("content, reason", [
    (b"", "it is empty, 0 bytes"),
    (b"kick on one, snare on three\n", "a Standard MIDI File starts with 'MThd'"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x10\x00\x90",
     "truncated: it ends inside a chunk"),
])
def test_a_broken_midi_file_gets_a_reason(content, reason, tones_preset, tmp_path, capsys):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(content)
    code, _, err = _render(capsys, "--preset", tones_preset, "--midi", bad, "--out",
                           tmp_path / "x.wav")
    assert code == 2 and "not a readable MIDI file" in err and reason in err
    assert "()" not in err and not (tmp_path / "x.wav").exists()

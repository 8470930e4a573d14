"""Faults while playing, offline: the preset folder deleted under a loaded bank, MIDI learn saved
on a full or read-only file system, a controller flood against the router's guard. (The JACK
server killed or wedged under `vae-synth play`, and a 100k-message flood through JACK, are in
test_synth_jack.py.)"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time

import numpy as np
import pytest
from vae_synth.synth.preset import load_preset

SR, BLOCK = 48000, 128


def _run(engine, blocks: int) -> np.ndarray:
    out = np.zeros((blocks * BLOCK, 2), np.float32)
    for b in range(blocks):
        engine.process(out[b * BLOCK:(b + 1) * BLOCK])
    return out


def test_the_loaded_bank_keeps_playing_after_its_preset_folder_is_deleted(tmp_path):
    from fixtures_preset import make_test_preset
    from vae_synth.synth.engine import Engine

    folder = make_test_preset(tmp_path, name="doomed")
    engine = Engine(load_preset(folder), SR, BLOCK, learn=False, programs=[folder])
    engine.start()  # the decode thread, as when playing
    try:
        shutil.rmtree(folder)
        engine.router.handle([0xB9, 1, 100])          # a knob move: re-decoded from memory
        deadline = time.monotonic() + 5
        while engine.instrument.bank.version != engine.snapshot.version:
            assert time.monotonic() < deadline, "no re-decode after the folder went"
            time.sleep(0.01)
        engine.router.handle([0x99, 36, 100])
        out = _run(engine, 40)
        assert np.abs(out).max() > 0.05 and np.all(np.isfinite(out))
        assert engine.decoder.error is None
        engine.program(0, wait=True)                  # the same (gone) preset: nothing to do
        engine.programs = [folder.with_name("also-gone")]
        engine.program(0, wait=True)                  # a program change to a missing preset
        assert any("program change failed, keeping doomed" in m for m in engine.messages)
        engine.router.handle([0x99, 38, 100])
        assert np.abs(_run(engine, 40)).max() > 0.05  # still playing the loaded bank
    finally:
        engine.stop()


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs (root can mount one; root ignores chmod, so a mount is the only real
    read-only or full file system); unmounted afterwards."""
    mount = tmp_path / "mnt"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _learn_file_with_one_mapping(folder):
    from vae_synth.synth.midi import LearnStore

    store = LearnStore("drums", folder / "vae-synth" / "midi_learn.json")
    store.bind(74, "variation")
    assert store.error is None
    return store, store.path.read_bytes()


def test_midi_learn_on_a_full_file_system_keeps_the_old_mapping_and_says_why(small_tmpfs):
    store, saved = _learn_file_with_one_mapping(small_tmpfs)
    filler = small_tmpfs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)   # fill the disk to the last byte
    try:
        for size in (4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    store.bind(75, "morph")
    assert store.error is not None and "could not save MIDI learn" in store.error
    assert "No space left on device" in store.error and "unchanged" in store.error
    assert store.path.read_bytes() == saved
    assert json.loads(saved) == {"drums": {"74": "variation"}}
    assert sorted(p.name for p in store.path.parent.iterdir()) == ["midi_learn.json"]  # no temp


def test_midi_learn_on_a_read_only_file_system_keeps_the_old_mapping_and_says_why(small_tmpfs):
    store, saved = _learn_file_with_one_mapping(small_tmpfs)
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    store.bind(75, "morph")
    assert store.error is not None and "Read-only file system" in store.error
    assert store.path.read_bytes() == saved
    assert store.load() == {74: "variation"}


def test_the_flood_guard_sheds_continuous_messages_and_lets_notes_through(monkeypatch):
    from vae_synth.synth import events as ev
    from vae_synth.synth import midi
    from vae_synth.synth.params import ControlSnapshot

    monkeypatch.setattr(midi.time, "monotonic", lambda: 100.0)  # all in one window
    ring = ev.EventRing()
    router = midi.MidiRouter(ring, ControlSnapshot(), {1: "morph"})
    for i in range(3 * midi.FLOOD_LIMIT):
        router.rtmidi_callback(([0xB0, 1, i % 128], 0.0))
    router.rtmidi_callback(([0x90, 36, 100], 0.0))     # a note, over the budget: still played
    router.rtmidi_callback(([0x80, 36, 0], 0.0))
    assert router.stats.controls == midi.FLOOD_LIMIT
    assert router.stats.dropped == 2 * midi.FLOOD_LIMIT
    assert router.stats.notes == 1 and ring.pending() == 2
    monkeypatch.setattr(midi.time, "monotonic", lambda: 100.0 + midi.FLOOD_WINDOW_S)
    router.rtmidi_callback(([0xB0, 1, 5], 0.0))        # the next window: parsed again
    assert router.stats.controls == midi.FLOOD_LIMIT + 1

"""MIDI learn as a musician uses it (confirmed, cancelled, cleared, printed, reset) and Program
Change numbers that mean the same preset in every session."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures_preset import make_test_preset
from synth_rig import write_midi
from vae_synth.synth.engine import Engine
from vae_synth.synth.keyboard import ESC, TerminalKeyboard
from vae_synth.synth.midi import LearnStore, installed_programs, program_list
from vae_synth.synth.preset import load_preset
from vae_synth.synth.render import Renderer, midi_events

from vae_synth.cli import main

SR, BLOCK = 48000, 128


@pytest.fixture
def config(tmp_path, monkeypatch):
    """A private user config folder: the learn file is $XDG_CONFIG_HOME/vae-synth/midi_learn.json."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path / "config" / "vae-synth" / "midi_learn.json"


def _engine(preset_path, **kw) -> Engine:
    return Engine(load_preset(preset_path), SR, BLOCK, **kw)


def _cc(engine, cc, value):
    """A controller move, and the learn file written (on the store's thread) if it bound one."""
    engine.router.handle([0xB0, cc, value])
    if engine.learn_store is not None:
        assert engine.learn_store.wait_saved()


def test_learn_confirms_what_it_bound_and_the_next_session_uses_it(tones_preset, config):
    engine = _engine(tones_preset)
    keys = TerminalKeyboard(engine, on_quit=lambda: None)
    keys.key("1")                                   # arm learn for morph
    assert engine.router.learning == "morph"
    assert "move a controller for morph" in engine.messages[-1]
    _cc(engine, 74, 64)
    assert engine.messages[-1] == "CC 74 → morph, saved"
    assert engine.router.learning is None and engine.snapshot.get("morph") == 64 / 127
    assert json.loads(config.read_text()) == {"test-tones": {"74": "morph"}}
    # a new session: CC 74 moves morph, the preset's own CC 1 no longer does
    again = _engine(tones_preset)
    assert again.router.controls[74] == "morph" and 1 not in again.router.controls
    _cc(again, 1, 127)
    assert again.snapshot.get("morph") == 0.0
    _cc(again, 74, 127)
    assert again.snapshot.get("morph") == 1.0


def test_learn_can_be_cancelled_and_a_binding_cleared(tones_preset, config):
    engine = _engine(tones_preset)
    keys = TerminalKeyboard(engine, on_quit=lambda: None)
    keys.key("2")
    keys.keys(ESC)
    assert engine.router.learning is None and engine.messages[-1] == (
        "MIDI learn for variation cancelled")
    _cc(engine, 75, 100)                            # nothing learned from this
    assert 75 not in engine.router.controls and not config.exists()
    keys.key("2")
    keys.key("2")                                   # the same key again also cancels
    assert engine.router.learning is None and "cancelled" in engine.messages[-1]
    keys.key("2")
    _cc(engine, 75, 100)
    assert engine.router.controls[75] == "variation" and 18 not in engine.router.controls
    keys.key("2")
    keys.key("0")                                   # clear variation's learned binding
    assert engine.messages[-1] == ("variation: learned binding cleared, the preset's CC 18 "
                                   "again, saved")
    assert engine.router.controls[18] == "variation" and 75 not in engine.router.controls
    assert json.loads(config.read_text()) == {}
    keys.key("2")
    keys.key("0")
    assert "has no learned binding to clear" in engine.messages[-1]
    # arrow keys arrive as escape sequences: ignored whole, never read as Esc + letters
    keys.key("1")
    keys.keys("\x1b[A\x1b[Bx")
    assert engine.router.learning == "morph" and engine.snapshot.get("morph") == pytest.approx(0.05)


def test_a_binding_that_cannot_be_saved_says_so_and_holds_for_the_session(tones_preset,
                                                                           tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the config folder would be")
    engine = _engine(tones_preset, learn_path=blocker / "midi_learn.json")
    engine.router.learn("volume")
    _cc(engine, 11, 90)
    assert engine.messages[-1] == "CC 11 → volume, not saved"
    assert "could not save MIDI learn" in engine.learn_store.error   # play prints it
    assert "CC 11 -> volume lasts until you quit" in engine.learn_store.error
    assert engine.router.controls[11] == "volume"


def test_midi_map_prints_the_map_in_use_and_reset_forgets_learning(tones_preset, config,
                                                                     capsys):
    engine = _engine(tones_preset)
    engine.router.learn("morph")
    _cc(engine, 74, 1)
    assert main(["midi-map", "--preset", str(tones_preset)]) == 0
    shown = capsys.readouterr().out
    assert "MIDI map of preset test-tones" in shown
    assert "CC  74  morph  learned" in shown and "CC   1  morph" not in shown
    assert "CC  18  variation" in shown and "kick " in shown and str(config) in shown
    assert main(["midi-map", "--reset"]) == 0
    assert "removed 1 learned binding of every preset" in capsys.readouterr().out
    assert main(["midi-map", "--preset", str(tones_preset)]) == 0
    shown = capsys.readouterr().out
    assert "CC   1  morph" in shown and "learned" not in shown.split("learned bindings")[0]
    store = LearnStore("test-tones")
    store.bind(20, "x")
    LearnStore("other").bind(21, "y")
    assert main(["midi-map", "--preset", str(tones_preset), "--reset"]) == 0
    assert "removed 1 learned binding of preset test-tones" in capsys.readouterr().out
    assert json.loads(config.read_text()) == {"other": {"21": "y"}}


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Three installed presets (names out of order on disk) on $VAE_SYNTH_PRESETS."""
    folder = tmp_path / "presets"
    for name in ("zulu", "alpha", "mike"):
        make_test_preset(folder, name=name)
    monkeypatch.setenv("VAE_SYNTH_PRESETS", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))   # no user presets
    return folder


def test_program_numbers_are_the_same_whatever_preset_the_session_started_with(installed,
                                                                              tmp_path,
                                                                              capsys):
    names = [info.name for info in installed_programs()]   # with the bundled presets
    assert {"alpha", "mike", "zulu"} <= set(names) and names == sorted(names)
    orders = []
    for start in ("zulu", "alpha"):
        current = load_preset(start)
        programs = program_list(current)
        assert programs[names.index(start)] is current
        orders.append([p.name for p in programs])   # a Preset or a folder Path: both named
    assert orders[0] == orders[1] == names
    # a render that selects mike's number plays mike whichever preset it started with
    mike = names.index("mike")
    midi = write_midi(tmp_path / "prog.mid", [(0.2, 36, 100, 0.1)], programs=[(0.0, mike)])
    for start in ("zulu", "alpha"):
        preset = load_preset(start)
        engine = Engine(preset, SR, BLOCK, learn=False, programs=program_list(preset))
        Renderer(engine).render(midi_events(midi, SR), SR // 2)
        assert engine.instrument.name == "mike" and engine.notes == 1
    assert main(["presets"]) == 0
    listing = capsys.readouterr().out.splitlines()
    for number, name in enumerate(names):
        assert any(line.split()[:2] == [str(number), name] for line in listing), listing


def test_a_program_number_with_no_preset_changes_nothing_and_says_so(installed):
    preset = load_preset("alpha")
    engine = Engine(preset, SR, BLOCK, learn=False, programs=program_list(preset))
    engine.sync_programs = True
    count = len(engine.programs)
    engine.router.handle([0xC0, count + 5])
    assert engine.instrument.name == "alpha"
    assert engine.messages[-1].startswith(f"program {count + 5}: no preset has that number")
    out = np.zeros((BLOCK, 2), np.float32)
    engine.process(out)   # still plays


def test_the_learn_file_is_written_off_the_midi_thread(tones_preset, config, monkeypatch):
    """A disk that hangs (here: a save held until the test lets it go) never holds up the MIDI
    callback: the binding holds at once, the file is written on the store's own thread, and
    the confirmation follows the write."""
    import threading

    from vae_synth.synth.midi import LearnStore

    release, writers = threading.Event(), []
    real_bind = LearnStore.bind

    def slow_bind(self, cc, name):
        writers.append(threading.current_thread())
        assert release.wait(10)
        return real_bind(self, cc, name)

    monkeypatch.setattr(LearnStore, "bind", slow_bind)
    engine = _engine(tones_preset)
    engine.router.learn("morph")
    engine.router.handle([0xB0, 74, 64])            # returns while the save still waits
    assert engine.router.controls[74] == "morph" and engine.snapshot.get("morph") == 64 / 127
    assert not config.exists() and "CC 74 → morph, saved" not in engine.messages
    release.set()
    assert engine.learn_store.wait_saved()
    assert writers and writers[0] is not threading.current_thread()
    assert engine.messages[-1] == "CC 74 → morph, saved"
    assert json.loads(config.read_text()) == {"test-tones": {"74": "morph"}}

"""The project's state: it saves the preset's folder and name (not its number) and restores it,
also where the numbering differs or the folder is gone; switching presets while notes ring."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from plugin_rig import (
    CEILING,
    ROOT,
    host_env,
    preset_numbers,
    render_vst3,
    require_build,
    run_host,
)

DIGIT_NOTES = [("midi", 500, [0x90, 60, 100]), ("midi", 9000, [0x80, 60, 0]),
               ("midi", 12000, [0x90, 63, 90]), ("midi", 24000, [0x80, 63, 0])]
FRAMES = 40000


@pytest.fixture(autouse=True)
def _built():
    require_build()


@pytest.mark.parametrize("kind", ["clap", "lv2"])
def test_state_brings_back_the_preset_by_folder_not_number(kind, tmp_path):
    env = host_env(tmp_path / "home")
    digits = preset_numbers(env)["digits"]
    chosen, _ = run_host(kind, DIGIT_NOTES, FRAMES, tmp_path, env, params={"preset": digits},
                         state_out=tmp_path / "project.state")
    assert np.abs(chosen).max() > 0.05
    # another machine: more presets sort before digits, so its number means something else now
    extra = tmp_path / "extra"
    for name in ("aaa", "bbb"):
        shutil.copytree(ROOT / "presets" / "drums", extra / name,
                        ignore=shutil.ignore_patterns("*.png"))
    other = host_env(tmp_path / "home2", presets=[extra])
    assert preset_numbers(other)["digits"] != digits
    restored, log = run_host(kind, DIGIT_NOTES, FRAMES, tmp_path, other,
                             state_in=tmp_path / "project.state")
    assert "playing preset digits" in log
    assert np.abs(restored - chosen).max() <= 1e-6


def test_the_vst3_in_a_juce_host_restores_the_preset_by_folder_not_number(tmp_path):
    """The same through pedalboard (JUCE's VST3 hosting): the project's state chunk brings
    digits back on a machine where its number is another preset's."""
    env = host_env(tmp_path / "home")
    state = tmp_path / "project.vst3state"
    chosen, _ = render_vst3(DIGIT_NOTES, FRAMES, tmp_path, env,
                            params={"preset": preset_numbers(env)["digits"]}, state_out=state)
    assert np.abs(chosen).max() > 0.05 and state.stat().st_size > 0
    extra = tmp_path / "extra"
    for name in ("aaa", "bbb"):
        shutil.copytree(ROOT / "presets" / "drums", extra / name,
                        ignore=shutil.ignore_patterns("*.png"))
    other = host_env(tmp_path / "home2", presets=[extra])
    assert preset_numbers(other)["digits"] != preset_numbers(env)["digits"]
    default, _ = render_vst3(DIGIT_NOTES, FRAMES, tmp_path, other)   # drums: no pad on 60/63
    assert np.abs(default).max() < 1e-4
    restored, _ = render_vst3(DIGIT_NOTES, FRAMES, tmp_path, other, state_in=state)
    assert np.abs(restored - chosen).max() <= 1e-6


@pytest.mark.parametrize("kind", ["clap", "lv2"])
def test_a_program_change_selects_the_preset_of_that_number(kind, tmp_path):
    """MIDI Program Change n plays the n-th preset of `vae-synth presets`, as play does: digits'
    number before its notes sounds as digits chosen by the parameter (offline: the bank is
    decoded before the next note)."""
    env = host_env(tmp_path / "home")
    digits = preset_numbers(env)["digits"]
    by_param, _ = run_host(kind, DIGIT_NOTES, FRAMES, tmp_path, env, params={"preset": digits})
    by_program, log = run_host(kind, [("midi", 100, [0xC0, digits]), *DIGIT_NOTES], FRAMES,
                               tmp_path, env)
    assert np.abs(by_param).max() > 0.05
    assert np.abs(by_program - by_param).max() <= 1e-6, log


def test_a_missing_folder_falls_back_to_the_preset_of_that_name(tmp_path):
    env = host_env(tmp_path / "home")
    moved = tmp_path / "elsewhere" / "digits"
    shutil.copytree(ROOT / "presets" / "digits", moved, ignore=shutil.ignore_patterns("*.png"))
    with_copy = host_env(tmp_path / "home", presets=[moved.parent])
    run_host("clap", DIGIT_NOTES, FRAMES, tmp_path, with_copy,
             params={"preset": preset_numbers(with_copy)["digits"]},
             state_out=tmp_path / "project.state")
    shutil.rmtree(moved.parent)
    restored, log = run_host("clap", DIGIT_NOTES, FRAMES, tmp_path, env,
                             state_in=tmp_path / "project.state")
    assert f"playing preset digits ({ROOT / 'presets' / 'digits'})" in log, log
    assert np.abs(restored).max() > 0.05


@pytest.mark.parametrize("offline", [True, False])
def test_switching_presets_while_notes_ring(offline, tmp_path):
    env = host_env(tmp_path / "home")
    digits = preset_numbers(env)["digits"]
    switch = 8192
    events = [("midi", 100, [0x99, 36, 127]), ("midi", 4000, [0x99, 38, 127]),
              ("param", switch, "preset", digits),
              ("midi", switch + 6000, [0x90, 62, 110]), ("midi", switch + 15000, [0x80, 62, 0])]
    frames = switch + 30000
    audio, log = run_host("clap", events, frames, tmp_path, env, offline=offline,
                          warmup=0 if offline else 2.0, realtime=not offline)
    assert np.isfinite(audio).all() and np.abs(audio).max() <= CEILING + 1e-6
    assert np.abs(audio[:switch]).max() > 0.05              # the drums rang
    if offline:
        assert "playing preset digits" in log
        # the drums' voices fade out in 3 ms at the switch; what follows is the DC blocker
        # settling (a 5 Hz one-pole: a smooth decay, no sound and no click)
        fade = int(0.003 * 48000) + 128
        settling = audio[switch + fade:switch + 6000, 0]
        assert np.abs(np.diff(settling)).max() < 1e-4
        assert abs(settling[-1]) < abs(settling[0])
        assert np.abs(audio[switch + 6000:]).max() > 0.05   # the digits play

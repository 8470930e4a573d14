"""The engine offline (no audio device): what it plays, morphing, limiter, render, programs."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from fixtures_preset import make_test_preset, tone_frequencies
from synth_rig import band_energy, expected_oneshot, spectral_centroid, write_midi
from vae_synth.synth.output import CEILING
from vae_synth.synth.preset import load_preset

SR = 48000
BLOCK = 128


def _engine(preset_path, **kw):
    from vae_synth.synth.engine import Engine

    return Engine(load_preset(preset_path), SR, BLOCK, learn=False, **kw)


def _run(engine, blocks: int) -> np.ndarray:
    out = np.zeros((blocks * BLOCK, 2), np.float32)
    for b in range(blocks):
        engine.process(out[b * BLOCK:(b + 1) * BLOCK])
    return out


def test_a_note_plays_the_decoded_frame_resampled(tones_preset, mixing):
    engine = _engine(tones_preset, mixing=mixing)
    preset = engine.instrument.preset
    engine.router.handle([0x99, 38, 100])          # snare = class 1
    out = _run(engine, 60)
    want = expected_oneshot(preset, 1, 100, engine)
    got = out[: len(want), 0]
    assert np.abs(got).max() < 0.6 * CEILING      # below the soft-clip knee: a clean copy
    np.testing.assert_allclose(got, want, atol=2e-6)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])  # centre pan
    assert engine.notes == 1 and engine.pool.active_count() == 0


def test_velocity_sets_the_gain_and_unmapped_notes_are_ignored(tones_preset):
    engine = _engine(tones_preset)
    engine.router.handle([0x90, 38, 127])
    loud = _run(engine, 50)
    engine.router.handle([0x90, 38, 32])
    engine.router.handle([0x90, 100, 127])         # not in the map
    soft = _run(engine, 50)
    ratio = np.abs(soft).max() / np.abs(loud).max()
    assert ratio == pytest.approx(32 / 127, rel=0.02)
    assert engine.unmapped_notes == 1


def test_tom_pads_are_tuned_and_the_hihat_is_panned_by_the_default_map(tones_preset):
    """The exported drum map tunes one tom class across its six GM pads and pans the hi-hat."""
    f = tone_frequencies(4)                         # tom (class 2) is a 247.5 Hz tone
    peaks = {}
    for note in (41, 47, 50):
        engine = _engine(tones_preset)
        engine.router.handle([0x99, note, 100])
        out = _run(engine, 40)[:, 0].astype(np.float64)
        n_fft = 1 << 18                              # zero-padded: 0.18 Hz bins
        spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out)), n=n_fft))
        peaks[note] = np.argmax(spectrum) * SR / n_fft
    assert peaks[47] == pytest.approx(f[2], rel=0.01)
    assert peaks[41] == pytest.approx(f[2] * 2 ** (-6 / 12), rel=0.01)
    assert peaks[50] == pytest.approx(f[2] * 2 ** (4 / 12), rel=0.01)
    engine = _engine(tones_preset)
    engine.router.handle([0x99, 42, 100])           # hi-hat: pan -0.25, left of centre
    out = _run(engine, 40)
    left, right = np.sqrt(np.mean(out ** 2, axis=0))
    assert left > 1.2 * right > 0


def _bank_after(engine, **params):
    for name, value in params.items():
        engine.snapshot.set(name, value)
    inst = engine.instrument
    return inst.builder.build(engine.snapshot.latent_state())


def test_morph_knob_moves_the_sound_toward_the_target(tones_preset):
    engine = _engine(tones_preset)
    f = tone_frequencies(4)
    kick_f, snare_f = f[0], f[1]   # default morph target of this map: snare
    ratios = []
    for morph in (0.0, 0.5, 1.0):
        bank = _bank_after(engine, morph=morph)
        kick = bank.oneshots[0]
        ratios.append(band_energy(kick, SR, snare_f * 0.9, snare_f * 1.1)
                      / band_energy(kick, SR, kick_f * 0.9, kick_f * 1.1))
    assert ratios[0] < 0.05 and ratios[2] > 20 and ratios[0] < ratios[1] < ratios[2]


def test_variation_and_xy_change_the_bank_reproducibly(tones_preset):
    engine = _engine(tones_preset)
    base = _bank_after(engine)
    varied = _bank_after(engine, variation=0.8)
    again = engine.instrument.builder.build(engine.snapshot.latent_state())
    assert not np.allclose(base.oneshots[0], varied.oneshots[0])
    np.testing.assert_array_equal(varied.oneshots[0], again.oneshots[0])
    engine.snapshot.set("variation", 0.0)
    xy = _bank_after(engine, morph=1.0, x=1.0, y=1.0)  # XY corner (1, 1): hihat
    f = tone_frequencies(4)
    assert spectral_centroid(xy.oneshots[0], SR) > spectral_centroid(base.oneshots[0], SR) * 2
    assert band_energy(xy.oneshots[0], SR, f[3] * 0.9, f[3] * 1.1) > \
        10 * band_energy(xy.oneshots[0], SR, f[0] * 0.9, f[0] * 1.1)


def test_limiter_holds_a_model_that_outputs_ten(loud_preset, mixing):
    engine = _engine(loud_preset, mixing=mixing)
    for note in (36, 38, 41, 42, 45, 36, 38):
        engine.router.handle([0x99, note, 127])
    engine.snapshot.set("volume", 1.0)
    out = _run(engine, 100)
    assert np.all(np.isfinite(out))
    assert np.abs(out).max() <= CEILING + 1e-6
    assert np.abs(out).max() > 0.5 * CEILING   # it still plays, loudly


def test_nan_model_gives_silence_not_noise(nan_preset, mixing):
    engine = _engine(nan_preset, mixing=mixing)
    assert engine.instrument.bank.nonfinite == frozenset(range(4))
    for note in (36, 38, 42):
        engine.router.handle([0x99, note, 127])
    out = _run(engine, 50)
    assert np.all(out == 0.0)
    assert engine.notes == 3


def test_decode_thread_coalesces_a_controller_flood(tones_preset):
    engine = _engine(tones_preset)
    engine.start()
    try:
        t0 = time.monotonic()
        for i in range(3000):                       # 3000 CC messages as fast as possible
            engine.router.handle([0xB0, 1, i % 128])
        flood_s = time.monotonic() - t0
        deadline = time.monotonic() + 5
        while engine.instrument.bank.version != engine.snapshot.version:
            assert time.monotonic() < deadline, "the decoder never caught up"
            time.sleep(0.01)
        stats = engine.decoder.stats
        # one state per decode time, not one per message: no backlog
        assert stats.states < 3000 / 3
        assert stats.skipped > 0 and stats.states + stats.skipped <= 3000
        assert stats.count >= stats.states  # at least one class decoded per state started
        want = engine.instrument.latent_map.points(engine.snapshot.latent_state())
        np.testing.assert_allclose(engine.instrument.bank.latents, want, atol=1e-6)
        assert flood_s < 5
    finally:
        engine.stop()


def test_decoder_updates_the_played_class_first_without_starving_the_others(tones_preset):
    """The decode thread's order, stepped by hand: a sweep of the morph knob while kick (class 0)
    is played decodes kick at every other call and the stalest other class in between."""
    from vae_synth.synth.bank import BankDecoder

    engine = _engine(tones_preset)
    inst = engine.instrument
    decoder = BankDecoder(inst, inst.builder, engine.snapshot)
    order = []
    real_build = inst.builder.build

    def build(state, classes=None, base=None):
        order.append((state.version, *classes))
        return real_build(state, classes, base)

    inst.builder.build = build
    inst.priority_class = 0
    for step in range(1, 6):
        engine.snapshot.set("morph", step / 10)    # each call sees a newer state
        c = decoder.next_class(inst.bank.versions, engine.snapshot.latent_state().version)
        inst.bank = inst.builder.build(engine.snapshot.latent_state(), [c], base=inst.bank)
        decoder._last_class = c
    assert [c for _, c in order] == [0, 1, 0, 2, 0]
    order.clear()
    assert decoder.step()                           # the knob stops: everything catches up
    assert [c for _, c in order] == [3, 1, 2]       # kick is current; the stalest first
    assert set(inst.bank.versions) == {engine.snapshot.version}
    want = inst.latent_map.points(engine.snapshot.latent_state())
    np.testing.assert_allclose(inst.bank.latents, want, atol=1e-6)
    assert not decoder.step() and decoder.stats.count == 3


def test_the_audio_thread_never_frees_a_decoded_frame(tones_preset):
    """A voice outlives the bank its frame came from (the knob moved, kick was re-decoded): when
    the voice ends, the audio thread hands the frame to the graveyard instead of freeing it, and
    it is released only when the graveyard is reaped (by the decode thread). The Python mixer's
    graveyard; the native mixer's buffer tokens: test_synth_native.py."""
    import weakref

    engine = _engine(tones_preset, mixing="python")
    inst = engine.instrument
    engine.router.handle([0x99, 36, 100])
    _run(engine, 2)                                  # kick sounds from the first bank
    old_kick = weakref.ref(inst.bank.oneshots[0])
    engine.snapshot.set("morph", 1.0)
    inst.bank = inst.builder.build(engine.snapshot.latent_state(), [0], base=inst.bank)
    _run(engine, 2 + inst.frame_frames // BLOCK)     # the new bank is read; the kick ends
    assert engine.pool.active_count() == 0
    assert old_kick() is not None                    # nobody but the graveyard holds it now
    assert engine.pool.graveyard.reap() >= 2         # the kick frame and the bank it came from
    assert old_kick() is None                        # released here, not on the audio thread


def test_sustained_voice_loops_while_held_and_follows_the_morph_knob(tmp_path, mixing):
    folder = make_test_preset(tmp_path, name="sus", sustain=True, frame_length=1024)
    engine = _engine(folder, mixing=mixing)
    frame_frames = engine.instrument.frame_frames            # 3072 at 48 kHz
    engine.router.handle([0x90, 36, 100])
    held = _run(engine, 4 * frame_frames // BLOCK)          # four frames' worth
    tail = held[-frame_frames:, 0]
    assert np.sqrt(np.mean(tail ** 2)) > 0.01                # still sounding: it loops
    # turn the morph knob while holding: the loop is re-decoded and cross-faded
    engine.snapshot.set("morph", 1.0)
    inst = engine.instrument
    inst.bank = inst.builder.build(engine.snapshot.latent_state(), base=inst.bank)
    moved = _run(engine, 4 * frame_frames // BLOCK)[-frame_frames:, 0]
    f = tone_frequencies(4)
    assert band_energy(moved, SR, f[1] * 0.9, f[1] * 1.1) > \
        band_energy(tail, SR, f[1] * 0.9, f[1] * 1.1) * 10
    engine.router.handle([0x80, 36, 0])
    after = _run(engine, 20)
    assert engine.pool.active_count() == 0                   # released within a few ms
    # what is left is the DC blocker's own decay (no tone): tiny next to the held level
    assert np.sqrt(np.mean(after[BLOCK * 4:, 0] ** 2)) < 0.05 * np.sqrt(np.mean(moved ** 2))


def test_panic_silences_everything(tones_preset, mixing):
    engine = _engine(tones_preset, mixing=mixing)
    for note in (36, 38, 41, 42):
        engine.router.handle([0x99, note, 127])
    _run(engine, 2)
    before = np.abs(_run(engine, 1)).max()
    engine.router.handle([0xB0, 120, 0])
    out = _run(engine, 40)
    assert engine.pool.active_count() == 0 and engine.pool.stolen == 0
    # voices fade within 3 ms; the DC blocker's decay is all that is left
    assert np.abs(out[BLOCK:]).max() < 0.15 * before
    assert np.abs(out[-BLOCK:]).max() < 0.02 * before


def test_render_is_sample_accurate_and_bit_identical(tones_preset, tmp_path):
    from vae_synth.synth.render import render_file

    notes = [(0.25 * i, (36, 38, 42, 45)[i % 4], 100, 0.1) for i in range(12)]
    ccs = [(0.02 * i, 1, (i * 5) % 128) for i in range(150)]  # morph automation
    midi = write_midi(tmp_path / "beat.mid", notes, ccs)
    a = render_file(load_preset(tones_preset), midi, tmp_path / "a.wav")
    # two runs = two processes of the command, as a user would run it
    for name in ("b.wav", "c.wav"):
        done = subprocess.run([sys.executable, "-m", "vae_synth", "render", "--preset",
                               str(tones_preset), "--midi", str(midi), "--out",
                               str(tmp_path / name)], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    import soundfile as sf

    # The samples are bit-identical; the files' bytes are not quite: libsndfile stamps the write
    # time into the PEAK chunk of a float WAV.
    b_audio, _ = sf.read(tmp_path / "b.wav", dtype="float32")
    c_audio, _ = sf.read(tmp_path / "c.wav", dtype="float32")
    assert b_audio.tobytes() == c_audio.tobytes()
    assert a["notes"] == 12 and a["peak"] <= CEILING

    audio, sr = sf.read(tmp_path / "a.wav", dtype="float32")
    assert sr == SR and audio.shape[1] == 2
    # the first note starts at sample 0 exactly (a sine: first non-zero sample is 1)
    assert abs(audio[0, 0]) < 1e-9 and abs(audio[1, 0]) > 1e-4
    # every note starts exactly at its time: silence right before, sound right after
    second = round(0.25 * SR)
    assert abs(audio[second + 2, 0] - audio[second - 1, 0]) > 1e-3


def test_render_follows_program_changes(tones_preset, tmp_path):
    from vae_synth.synth.engine import Engine
    from vae_synth.synth.render import Renderer, midi_events

    other = make_test_preset(tmp_path, classes=("zero", "one", "two"), name="digits-like",
                             sample_rate=8000, frame_length=1024)
    midi = write_midi(tmp_path / "prog.mid", [(0.0, 36, 100, 0.1), (0.5, 60, 100, 0.1)],
                       programs=[(0.3, 1)])
    engine = Engine(load_preset(tones_preset), SR, BLOCK, learn=False,
                    programs=[tones_preset, other])
    out = Renderer(engine).render(midi_events(midi, SR), SR)
    assert engine.instrument.name == "digits-like"
    assert engine.notes == 2
    second = out[int(0.5 * SR):, 0]
    assert np.abs(second).max() > 0.05   # note 60 is in the new preset's map


def test_cli_render_and_presets(tones_preset, tmp_path):
    midi = write_midi(tmp_path / "x.mid", [(0.0, 36, 100, 0.1), (0.1, 38, 100, 0.1)])
    out = tmp_path / "x.wav"
    env_cmd = [sys.executable, "-m", "vae_synth", "render", "--preset", str(tones_preset),
               "--midi", str(midi), "--out", str(out)]
    done = subprocess.run(env_cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "x real time" in done.stdout and out.stat().st_size > 10000
    bad = subprocess.run([sys.executable, "-m", "vae_synth", "render", "--preset",
                          str(tmp_path / "missing"), "--midi", str(midi), "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "cannot load preset" in bad.stderr
    assert "Traceback" not in bad.stderr
    garbage = tmp_path / "garbage.mid"
    garbage.write_bytes(b"MThd\x00\x00")
    bad = subprocess.run(env_cmd[:7] + [str(garbage), "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a readable MIDI file" in bad.stderr
    import os

    listed = subprocess.run([sys.executable, "-m", "vae_synth", "presets"], capture_output=True,
                            text=True, timeout=60,
                            env={**os.environ, "VAE_SYNTH_PRESETS": str(tones_preset.parent)})
    assert listed.returncode == 0 and tones_preset.name in listed.stdout
    assert "4 classes" in listed.stdout


@pytest.mark.slow
def test_a_preset_exported_by_export_plays_and_renders(exported_preset, tmp_path):
    """The whole chain: a tiny model trained by train/, exported by export/, played here."""
    from vae_synth.synth.engine import Engine
    from vae_synth.synth.render import Renderer, midi_events

    preset = load_preset(exported_preset)
    engine = Engine(preset, SR, BLOCK, learn=False)
    bank = engine.instrument.bank
    frames = -(-preset.frame_length * SR // preset.sample_rate)
    assert len(bank.oneshots) == len(preset.classes)
    assert all(len(b) == frames and np.all(np.isfinite(b)) for b in bank.oneshots)
    notes = sorted(preset.midi.notes)[:4]
    midi = write_midi(tmp_path / "e.mid", [(0.1 * i, n, 110, 0.05) for i, n in enumerate(notes)],
                       ccs=[(0.05, 1, 127)])
    out = Renderer(engine).render(midi_events(midi, SR), SR)
    assert engine.notes == len(notes)
    assert np.all(np.isfinite(out)) and np.abs(out).max() <= CEILING
    assert np.abs(out).max() > 1e-4   # it makes a sound
    # the morph knob moved the latent points of every class toward the target
    target = preset.class_index(preset.midi.morph_target or preset.class_names[1])
    np.testing.assert_allclose(engine.instrument.bank.latents,
                               np.repeat(preset.centroids[[target]], len(preset.classes), axis=0),
                               atol=1e-5)


@pytest.mark.parametrize("jack_installed", [True, False])
def test_play_without_an_audio_device_says_so_and_suggests_render(tones_preset, tmp_path,
                                                                  jack_installed):
    """--audio-api jack with no server: which server is not running and how to start one; on a
    machine without JACK, how to install it. Which of the two is decided by jackd on the PATH,
    so the test lays out the PATH itself (a jackd that is never run, or none)."""
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if jack_installed:
        (bin_dir / "jackd").write_text("#!/bin/sh\nexit 1\n")
        (bin_dir / "jackd").chmod(0o755)
    env = {**os.environ, "JACK_DEFAULT_SERVER": "vae-synth-no-such-server",
           "JACK_NO_START_SERVER": "1", "PATH": str(bin_dir)}
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "vae_synth", "--preset", str(tones_preset),
                           "--audio-api", "jack", "--no-keyboard"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert time.monotonic() - t0 < 60
    assert done.returncode == 1
    if jack_installed:
        assert "no JACK server named 'vae-synth-no-such-server'" in done.stderr
        assert "is running" in done.stderr and "jackd -d dummy" in done.stderr  # how to start
    else:
        assert "JACK is not installed (no jackd on the PATH)" in done.stderr
        assert "apt-get install jackd2" in done.stderr
    assert "vae-synth render" in done.stderr
    assert "no PortAudio host API" not in done.stderr and "pass --audio-api" not in done.stderr
    assert "Traceback" not in done.stderr


def test_computer_keyboard_demo_pattern_and_status_line(tones_preset):
    from vae_synth.synth.keyboard import Demo, TerminalKeyboard, pad_notes, status_line

    engine = _engine(tones_preset)
    assert pad_notes(engine.instrument.preset.midi.notes)[:4] == [35, 38, 41, 42]
    keys = TerminalKeyboard(engine, on_quit=lambda: None)
    for ch in "asdf":
        keys.key(ch)
    for _ in range(3):
        keys.key("x")                      # morph up three steps
    _run(engine, 1)
    assert engine.notes == 4 and engine.snapshot.get("morph") == pytest.approx(0.15)
    keys.key("1")
    assert engine.router.learning == "morph"
    line = status_line(engine, 1.0, width=160)
    assert "morph .15" in line and "voices" in line and "underruns 0" in line
    steps = Demo(engine).pattern()
    assert len(steps) == 16 and {35, 36} & set(steps[0]) and 38 in steps[4]


def test_status_line_fits_each_width_and_drops_the_least_important_first(tones_preset):
    from vae_synth.synth.keyboard import TerminalKeyboard, status_line

    engine = _engine(tones_preset, mixing="python")
    keys = TerminalKeyboard(engine, on_quit=lambda: None)
    keys.key("a")
    _run(engine, 1)
    engine._underruns = 12345   # as the Python callback counts them
    for width in (40, 60, 80, 100, 120, 200):
        line = status_line(engine, 75.0, width=width)
        assert len(line) <= width - 1, (width, line)
        assert "morph .00 var .00 vol .80 pca1 +.00" in line   # the keys' controls, always
    at_80 = status_line(engine, 75.0, width=80)
    assert "pad kick" in at_80 and "decode -" in at_80 and "underruns 12345" in at_80
    assert "[test-tones]" in status_line(engine, 75.0, width=120)
    assert "dropped MIDI" not in status_line(engine, 75.0, width=200)
    engine.router.stats.dropped = 3610   # the flood guard shed messages: shown, also at 80
    assert "dropped MIDI 3610" in status_line(engine, 75.0, width=80)


def test_the_summary_counts_what_was_lost_and_what_had_no_pad(tones_preset):
    """play's closing line says how many MIDI messages the player lost (a full event queue
    counts as well as the flood guard) and which notes no pad played, as render does."""
    engine = _engine(tones_preset, mixing="python")
    assert "dropped" not in engine.summary(1.0) and "no pad" not in engine.summary(1.0)
    unmapped = [n for n in range(128) if engine.instrument.note_class[n] < 0][:2]
    for note in (unmapped[0], unmapped[0], unmapped[1]):
        engine.router.handle([0x99, note, 100])
    # more note-ons than the event ring holds, with no audio block draining it in between
    for _ in range(engine.ring.capacity + 25):
        engine.router.handle([0x99, 36, 100])
    assert engine.dropped_midi == engine.ring.dropped >= 25
    _run(engine, 4)
    summary = engine.summary(1.0)
    assert f"{engine.dropped_midi} MIDI messages dropped" in summary
    assert (f"3 notes had no pad in preset {engine.instrument.name!r} and were not played: "
            f"MIDI notes {unmapped[0]} (x2), {unmapped[1]}") in summary

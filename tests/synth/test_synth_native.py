"""The native mixer (native/, synth/native.py): the same samples as the Python mixer, buffers
handed back, nothing forbidden in its audio callback, and the fallback when it is not built."""

from __future__ import annotations

import ctypes
import json
import math
import os
import re
import shutil
import subprocess
import sys
import weakref
from pathlib import Path

import numpy as np
import pytest
from fixtures_jack import require_native
from fixtures_preset import make_test_preset
from synth_rig import write_midi
from vae_synth.synth.preset import load_preset

ROOT = Path(__file__).resolve().parents[2]
SR = 48000


@pytest.fixture(autouse=True)
def _native():
    require_native()


def _engine(preset, mixing, **kw):
    from vae_synth.synth.engine import Engine

    if not hasattr(preset, "midi"):
        preset = load_preset(preset)
    return Engine(preset, SR, kw.pop("blocksize", 128), kw.pop("voices", 16), learn=False,
                  mixing=mixing, **kw)


# -- the mixer library against voices.py + output.py ---------------------------------------------
class Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_float)), ("length", ctypes.c_int64),
                ("owner", ctypes.c_void_p)]


def _mixer_lib():
    from vae_synth.synth.native import load_library

    lib, why = load_library()
    assert lib is not None, why
    lib.vs_mixer_new.argtypes = [ctypes.c_int] * 4
    lib.vs_mixer_note_on.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int, Buffer,
                                     ctypes.c_double, ctypes.c_double, ctypes.c_double,
                                     ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64,
                                     ctypes.c_double]
    lib.vs_mixer_all_off.argtypes = [ctypes.c_void_p]
    dptr = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
    lib.vs_mixer_mix.argtypes = [ctypes.c_void_p, dptr, dptr, ctypes.c_int, ctypes.c_double]
    lib.vs_mixer_released.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
                                      ctypes.c_int]
    lib.vs_mixer_free.argtypes = [ctypes.c_void_p]
    lib.vs_output_new.argtypes = [ctypes.c_int, ctypes.c_int]
    lib.vs_output_process.argtypes = [ctypes.c_void_p, dptr, dptr, ctypes.c_int]
    lib.vs_output_free.argtypes = [ctypes.c_void_p]
    return lib


def test_the_mixer_library_mixes_as_synth_voices_and_output_do():
    from vae_synth.synth.output import OutputStage
    from vae_synth.synth.voices import VoicePool

    rate, max_frames, voices = 48000, 4096, 2
    rng = np.random.default_rng(7)
    # loud one-shots of different lengths (the limiter and the soft clip get work), ids as owners
    buffers = [np.ascontiguousarray(1.5 * rng.standard_normal(n).astype(np.float32))
               for n in (3000, 9000, 20000, 700)]
    lib = _mixer_lib()
    mixer = lib.vs_mixer_new(voices, rate, max_frames, 8)
    output = lib.vs_output_new(rate, max_frames)
    pool = VoicePool(voices, rate, max_frames)
    stage = OutputStage(rate, max_frames)
    # (block, note, class, gain, pan, rate, group, stop_at); group 0 chokes; 7 notes on 2 voices
    notes = {0: [(36, 0, 0.9, -0.3, 1.0, -1, math.inf)], 3: [(38, 1, 0.7, 0.5, 0.84, 0, math.inf)],
             5: [(42, 2, 1.0, 0.0, 1.19, 0, 5000.0)], 6: [(46, 3, 0.5, 0.9, 1.0, 0, math.inf)],
             8: [(36, 0, 1.0, -1.0, 1.5, -1, math.inf), (40, 1, 0.8, 0.2, 0.5, -1, math.inf)],
             9: [(41, 2, 0.6, 0.1, 2.0, -1, 9000.0)]}
    blocks = [128, 1, 4096, 77, 300, 128, 2048, 5, 640, 1024, 333, 4096, 4096]
    ours_l, ours_r, theirs = [], [], []
    for i, n in enumerate(blocks):
        for note, cls, gain, pan, speed, group, stop in notes.get(i, []):
            buf = buffers[cls]
            lib.vs_mixer_note_on(mixer, note, cls, Buffer(buf.ctypes.data_as(ctypes.POINTER(
                ctypes.c_float)), len(buf), cls + 1), gain, pan, speed, group, 0, 0, 0, stop)
            pool.note_on(note, cls, buf, gain, pan, speed, group, False, (0, 0), stop)
        if i == 11:
            lib.vs_mixer_all_off(mixer)
            pool.all_off()
        left, right = np.zeros(n), np.zeros(n)
        lib.vs_mixer_mix(mixer, left, right, n, 1.0 if i < 7 else 1.0594630943592953)
        lib.vs_output_process(output, left, right, n)
        mix = np.zeros((2, n))
        pool.mix(mix[0], mix[1], 0, n, 1.0 if i < 7 else 1.0594630943592953)
        stage.process(mix)
        ours_l.append(left)
        ours_r.append(right)
        theirs.append(mix)
    released = (ctypes.c_void_p * 64)()
    owners = [released[k] for k in range(lib.vs_mixer_released(mixer, released, 64))]
    lib.vs_mixer_free(mixer)
    lib.vs_output_free(output)
    expected = np.concatenate(theirs, axis=1)
    assert np.abs(expected).max() > 0.5 and pool.stolen > 0 and pool.choked > 0
    assert np.array_equal(np.concatenate(ours_l), expected[0])
    assert np.array_equal(np.concatenate(ours_r), expected[1])
    assert set(owners) <= {1, 2, 3, 4} and len(owners) >= 6   # every finished voice let go


# -- the engine: native and Python mixing give the same samples -----------------------------------
def _parameter_script(name: str):
    import test_synth_parameter_renders as script

    preset = load_preset(name)
    return preset, script.events(script.PADS[name]), {**preset.midi.controls,
                                                      **script.EXTRA_CONTROLS}


def _render_both(preset, events, total, controls=None, **kw):
    from vae_synth.synth.render import Renderer

    out = {}
    for mixing in ("python", "native"):
        engine = _engine(preset, mixing, device="cpu", **kw)
        if controls:
            engine.router.set_controls(controls)
        out[mixing] = (Renderer(engine).render(events, total), engine)
    return out


@pytest.mark.parametrize("name", ["drums", "digits"])
def test_a_render_of_every_parameter_is_the_same_with_either_mixer(name):
    preset, events, controls = _parameter_script(name)
    both = _render_both(preset, events, 3 * SR, controls)
    python, native = both["python"][0], both["native"][0]
    assert np.abs(python).max() > 0.1
    np.testing.assert_array_equal(native, python)       # bit for bit
    assert both["native"][1].notes == both["python"][1].notes > 0


def test_stealing_chokes_sustain_bends_and_panics_are_the_same_with_either_mixer(tmp_path):
    """Two voices for a fast roll (stealing, the hi-hat's choke group), sustained loops that
    crossfade as the morph knob moves under held notes, pitch bend, decay, all sound off and a
    program change, all at odd sample offsets."""
    rng = np.random.default_rng(3)
    sus = load_preset(make_test_preset(tmp_path, name="sus", sustain=True, frame_length=1024))
    drums = load_preset("drums")
    for preset in (drums, sus):
        events = []
        pads = sorted(preset.midi.notes)
        for i in range(160):
            t = int(i * 0.011 * SR) + int(rng.integers(0, 97))
            note = int(rng.choice(pads))
            events.append((t, [0x99, note, int(rng.integers(1, 128))]))
            events.append((t + int(rng.integers(50, 4000)), [0x89, note, 0]))
            if i % 7 == 0:
                events.append((t + 13, [0xB9, 1, int(rng.integers(0, 128))]))      # morph
            if i % 11 == 0:
                events.append((t + 29, [0xE9, int(rng.integers(0, 128)), int(rng.integers(0, 128))]))
            if i % 23 == 0:
                events.append((t + 31, [0xB9, 7, int(rng.integers(0, 128))]))      # volume
            if i == 90:
                events.append((t + 5, [0xB9, 120, 0]))                               # panic
        events.sort(key=lambda e: e[0])
        both = _render_both(preset, events, 2 * SR, voices=2)
        python, native = both["python"][0], both["native"][0]
        engine = both["native"][1]
        print(preset.name, "stolen", engine.pool.stolen, "choked", engine.pool.choked,
              "peak", float(np.abs(python).max()))
        assert engine.pool.stolen > 10 and np.abs(python).max() > 0.1
        np.testing.assert_array_equal(native, python)


def test_program_changes_and_mono_long_blocks_are_the_same_with_either_mixer(tones_preset,
                                                                             tmp_path):
    from vae_synth.synth.render import midi_events

    other = make_test_preset(tmp_path, classes=("zero", "one", "two"), name="other",
                             sample_rate=8000, frame_length=1024, sustain=True)
    midi = write_midi(tmp_path / "prog.mid", [(0.0, 36, 100, 0.4), (0.2, 38, 90, 0.1),
                                               (0.5, 60, 100, 0.3), (0.6, 61, 80, 0.2)],
                      ccs=[(0.55, 1, 100)], programs=[(0.3, 1)])
    events = midi_events(midi, SR)
    both = _render_both(load_preset(tones_preset), events, SR,
                        programs=[tones_preset, other])
    np.testing.assert_array_equal(both["native"][0], both["python"][0])
    assert both["native"][1].instrument.name == "other" and both["native"][1].notes == 4
    # blocks longer than the mixer's 4096 frames are split; one channel gets the mono mix
    outs = []
    for mixing in ("python", "native"):
        engine = _engine(tones_preset, mixing)
        engine.router.handle([0x99, 36, 120])
        engine.router.handle([0x99, 42, 90])
        out = np.zeros((10_000, 1), np.float32)
        engine.process(out)
        outs.append(out)
    assert np.abs(outs[0]).max() > 0.05
    np.testing.assert_array_equal(outs[1], outs[0])


# -- buffers: tokens out, tokens back, freed by the reaper ----------------------------------------
def test_every_buffer_comes_back_to_the_reaper_and_is_freed_there(tones_preset):
    engine = _engine(tones_preset, "native")
    inst = engine.instrument
    engine.router.handle([0x99, 36, 100])
    out = np.zeros((128, 2), np.float32)
    for _ in range(2):
        engine.process(out)
    old_kick = weakref.ref(inst.bank.oneshots[0])
    engine.snapshot.set("morph", 1.0)
    inst.bank = inst.builder.build(engine.snapshot.latent_state(), [0], base=inst.bank)
    for _ in range(2 + inst.frame_frames // 128):      # the kick ends in the new bank's time
        engine.process(out)
    native = engine.native
    assert engine.pool.active_count() == 0 and native.stats().tokens_held == 0
    assert old_kick() is not None                    # only the token holds it now
    assert native.reap() == 1
    assert old_kick() is None                        # freed here, by the reaper
    assert len(native.free_tokens) == len(native.owners)


def test_a_full_event_ring_drops_the_note_counts_it_and_keeps_its_buffer_token(tones_preset):
    from vae_synth.synth import native as native_mixer

    engine = _engine(tones_preset, "native")
    engine.start()        # live: each note is resolved and queued as it arrives
    try:
        for _ in range(native_mixer.EVENTS + 10):   # no audio callback takes them meanwhile
            engine.router.handle([0x99, 36, 100])
        native = engine.native
        assert engine.ring.pending() == native_mixer.EVENTS
        assert engine.ring.dropped == 10 and engine.notes == native_mixer.EVENTS
        engine.process(np.zeros((128, 2), np.float32))
    finally:
        engine.stop()
    assert engine.ring.pending() == 0 and engine.pool.stolen >= native_mixer.EVENTS - 16 - 8
    native.reap()
    held = native.stats().tokens_held          # the voices still sounding
    assert 0 < held <= 16 + 8
    assert len(native.free_tokens) == native_mixer.TOKENS - held   # the dropped notes' too
    assert sum(owner is not None for owner in native.owners) == held


def test_the_stream_callback_counts_underflows_and_plays_what_process_plays(tones_preset):
    """The C callback PortAudio calls, called here by hand on a buffer: the output-underflow
    flag is counted, the frames equal ``process`` on a twin engine, the channels beyond two are
    silent."""
    engines = [_engine(tones_preset, "native") for _ in range(2)]
    for engine in engines:
        engine.start()   # live: notes resolved as they arrive
        engine.router.handle([0x99, 38, 110])
    live, offline = engines
    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong,
                                ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p)(
        ctypes.cast(live.native.lib.vs_player_stream_callback, ctypes.c_void_p).value)
    live.native.set_channels(4)
    try:
        got = np.zeros((40, 128, 4), np.float32)
        want = np.zeros((40, 128, 4), np.float32)
        for i in range(40):
            flags = 4 if i in (3, 7, 8) else 0          # paOutputUnderflow
            assert callback(None, got[i].ctypes.data, 128, None, flags, live.native.ptr) == 0
            offline.native.process(want[i])
    finally:
        for engine in engines:
            engine.stop()
    assert live.underruns == 3 and live.blocks == 40 and live.native.stats().callbacks == 40
    assert np.abs(got).max() > 0.05
    np.testing.assert_array_equal(got, want)
    assert not got[:, :, 2:].any()
    start, duration, end = live.native.timings()
    assert end == 40 and len(duration) == 40 and (start == -1).all() and (duration > 0).all()
    assert live.callback_max > 0 and live.callback_seconds >= live.callback_max


# -- the audio callback's rules, counted by an LD_PRELOAD checker ----------------------------------
DRIVER = r"""
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "vae_synth_player.h"
void vs_rtcheck_begin(void);
void vs_rtcheck_end(void);
void vs_rtcheck_report(FILE*);
enum { N = 6000, TOKENS = 64, FRAMES = 4096 };
static float bufs[4][N];
static float out[FRAMES * 2];
static int free_tokens[TOKENS];
static int nfree = TOKENS;
static int next_token(void) { return nfree > 0 ? free_tokens[--nfree] : -1; }
static void push(vs_player* p, vs_event* e) {
    if (!vs_player_push(p, e) && e->token >= 0) free_tokens[nfree++] = e->token;
}
int main(void) {
    vs_player* p = vs_player_new(2, 48000, FRAMES, 2, TOKENS, 256, 8, 1024);
    for (int b = 0; b < 4; ++b)
        for (int k = 0; k < N; ++k) bufs[b][k] = 1.5f * sinf(0.01f * (b + 1) * k);
    bufs[3][2000] = NAN;   /* a model that outputs NaN: that voice goes silent */
    for (int i = 0; i < TOKENS; ++i) free_tokens[i] = i;
    vs_player_set_channels(p, 2);
    vs_rtcheck_begin();   /* the control: the checker does count what happens in here */
    void* volatile control = malloc(16);
    free(control);
    vs_rtcheck_end();
    double peak = 0.0;
    int nonfinite = 0;
    for (int cycle = 0; cycle < 3000; ++cycle) {
        vs_event e;
        memset(&e, 0, sizeof e);
        if (cycle % 3 == 0 && (e.token = next_token()) >= 0) {
            int b = cycle % 4;
            e.kind = VS_EV_NOTE_ON; e.note = 36 + b; e.cls = b; e.group = cycle % 2 ? 0 : -1;
            e.sustained = cycle % 11 == 0; e.data = bufs[b]; e.length = N;
            e.loop_start = 100; e.loop_end = 3000; e.gain = 0.9; e.pan = (b - 1.5) / 2;
            e.rate = 0.5 + (cycle % 5) * 0.3; e.stop_at = cycle % 7 == 0 ? 1000.0 : INFINITY;
            push(p, &e);
        }
        if (cycle % 50 == 0) {
            for (int c = 0; c < 4; ++c) {
                memset(&e, 0, sizeof e);
                if ((e.token = next_token()) < 0) break;
                e.kind = VS_EV_LOOP; e.cls = c; e.data = bufs[(c + cycle / 50) % 4]; e.length = N;
                push(p, &e);
            }
            memset(&e, 0, sizeof e);
            e.kind = VS_EV_LOOPS_SWAP; e.cls = 4; e.token = -1;
            push(p, &e);
        }
        memset(&e, 0, sizeof e);
        e.token = -1;
        if (cycle % 13 == 0) { e.kind = VS_EV_NOTE_OFF; e.note = 36 + cycle % 4; push(p, &e); }
        if (cycle % 97 == 0) { e.kind = VS_EV_ALL_OFF; push(p, &e); }
        if (cycle % 400 == 0) { e.kind = VS_EV_LOOPS_CLEAR; push(p, &e); }
        vs_player_set_block_controls(p, 0.5 + (cycle % 3) * 0.4, cycle % 2 ? 1.0 : 1.05);
        unsigned long frames = cycle % 50 == 49 ? FRAMES : 128;
        vs_rtcheck_begin();
        vs_player_stream_callback(0, out, frames, 0, cycle % 17 == 0 ? 4 : 0, p);
        vs_rtcheck_end();
        int32_t back[TOKENS];
        int n = vs_player_released(p, back, TOKENS);
        for (int i = 0; i < n; ++i) free_tokens[nfree++] = back[i];
        for (unsigned long k = 0; k < 2 * frames; ++k) {
            if (!isfinite(out[k])) ++nonfinite;
            else if (fabs(out[k]) > peak) peak = fabs(out[k]);
        }
    }
    vs_player_stats s;
    vs_player_get_stats(p, &s);
    printf("stats {\"callbacks\": %lld, \"underflows\": %lld, \"started\": %lld, \"stolen\": %lld, "
           "\"choked\": %lld, \"silenced_nonfinite\": %lld, \"tokens_held\": %lld, "
           "\"free_tokens\": %d, \"peak\": %.6f, \"nonfinite\": %d}\n",
           (long long)s.callbacks, (long long)s.underflows, (long long)s.mixer.started,
           (long long)s.mixer.stolen, (long long)s.mixer.choked,
           (long long)s.mixer.silenced_nonfinite, (long long)s.tokens_held, nfree, peak, nonfinite);
    vs_rtcheck_report(stdout);
    vs_player_free(p);
    return 0;
}
"""


def test_the_audio_callback_never_allocates_locks_sleeps_or_writes(tmp_path):
    """3000 callbacks (128 and 4096 frames) on two voices with note-ons, stealing, chokes, loop swaps, panics
    and a NaN buffer, under plugin/hosts/rtcheck.c (LD_PRELOAD), which counts malloc, free, lock
    and semaphore waits, sleeps, write and open on the calling thread while a callback runs."""
    from vae_synth.synth.native import library_path

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI has a C compiler")
        pytest.skip("no C compiler for the checker")
    lib = library_path()
    rtcheck = tmp_path / "librtcheck.so"
    driver = tmp_path / "driver"
    (tmp_path / "driver.c").write_text(DRIVER)
    subprocess.run([compiler, "-O2", "-fPIC", "-shared", str(ROOT / "plugin" / "hosts" /
                    "rtcheck.c"), "-o", str(rtcheck), "-ldl", "-lpthread"], check=True)
    subprocess.run([compiler, "-O2", str(tmp_path / "driver.c"), f"-I{ROOT / 'native'}",
                    str(rtcheck), str(lib), f"-Wl,-rpath,{lib.parent}:{tmp_path}", "-lm", "-o",
                    str(driver)], check=True)
    env = dict(os.environ, LD_PRELOAD=str(rtcheck), LD_BIND_NOW="1")
    done = subprocess.run([str(driver)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    print(done.stdout)
    stats = json.loads(re.search(r"stats (\{.*\})", done.stdout).group(1))
    counts = json.loads(re.search(r"rtcheck (\{.*\})", done.stdout).group(1))
    assert counts["blocks"] == 3001
    # the control's one malloc and one free, nothing from the 3000 callbacks
    assert {k: v for k, v in counts.items() if k != "blocks"} == {
        "malloc": 1, "free": 1, "mutex_lock": 0, "cond_wait": 0, "sem_wait": 0, "sleep": 0,
        "write": 0, "open": 0, "read": 0}
    assert stats["callbacks"] == 3000 and stats["underflows"] == len(range(0, 3000, 17))
    assert stats["stolen"] > 100 and stats["choked"] > 100 and stats["silenced_nonfinite"] > 0
    assert stats["nonfinite"] == 0 and 0.5 < stats["peak"] <= 10 ** (-1 / 20) + 1e-6
    # every token came back but the loop table's (4) and the voices still sounding
    assert stats["free_tokens"] + stats["tokens_held"] == 64


# -- without the library ----------------------------------------------------------------------------
def test_a_missing_or_stale_library_is_refused_with_the_reason(tmp_path):
    from vae_synth.synth import native as native_mixer

    lib, why = native_mixer.load(tmp_path / "libvae_synth_mixer.so")
    assert lib is None and "is not built" in why and "scripts/setup.sh" in why
    sources = tmp_path / "native"
    sources.mkdir()
    copy = tmp_path / "libvae_synth_mixer.so"
    shutil.copy(native_mixer.library_path(), copy)
    (sources / "player.cpp").write_text("// changed after the build\n")
    os.utime(copy, (0, 0))
    lib, why = native_mixer.load(copy, sources)
    assert lib is None and "older than player.cpp" in why and "rebuild" in why
    lib, why = native_mixer.load(copy)
    assert lib is not None and why is None


def test_without_the_library_render_mixes_in_python_and_native_is_refused(tones_preset,
                                                                          tmp_path):
    midi = write_midi(tmp_path / "x.mid", [(0.0, 36, 100, 0.1), (0.1, 38, 100, 0.1)])
    env = dict(os.environ, VAE_SYNTH_NATIVE_LIB=str(tmp_path / "nowhere.so"))
    outs = {}
    for mixer in ("auto", "native"):
        outs[mixer] = subprocess.run(
            [sys.executable, "-m", "vae_synth", "render", "--preset", str(tones_preset),
             "--midi", str(midi), "--out", str(tmp_path / f"{mixer}.wav"), "--mixer", mixer],
            capture_output=True, text=True, env=env, timeout=60)
    assert outs["auto"].returncode == 0, outs["auto"].stderr
    assert outs["native"].returncode == 2
    assert "native mixer is not available" in outs["native"].stderr
    assert "nowhere.so is not built" in outs["native"].stderr
    assert "Traceback" not in outs["native"].stderr
    assert not (tmp_path / "native.wav").exists()
    import soundfile as sf

    fallback, _ = sf.read(str(tmp_path / "auto.wav"), dtype="float32")
    done = subprocess.run([sys.executable, "-m", "vae_synth", "render", "--preset",
                           str(tones_preset), "--midi", str(midi), "--out",
                           str(tmp_path / "native-built.wav")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    native, _ = sf.read(str(tmp_path / "native-built.wav"), dtype="float32")
    np.testing.assert_array_equal(native, fallback)

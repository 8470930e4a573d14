"""The pure parts of the engine: resampler, morph math, voices, output stage, MIDI parsing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from vae_synth.synth import events as ev
from vae_synth.synth.latent import LatentMap, bilinear, lerp, slerp
from vae_synth.synth.midi import LearnStore, MidiRouter
from vae_synth.synth.output import CEILING, OutputStage
from vae_synth.synth.params import ControlSnapshot, LatentState
from vae_synth.synth.resample import Resampler
from vae_synth.synth.voices import VoicePool


# -- resampler ---------------------------------------------------------------------------------
@pytest.mark.parametrize("rate_in,rate_out,length", [
    (8000, 48000, 4096), (22050, 48000, 2000), (16000, 44100, 1500), (48000, 44100, 999),
    (44100, 22050, 1024), (16000, 16000, 300),
    (2000, 3999, 700),  # an odd pair: too large a polyphase matrix, the per-tap path
])
def test_resampler_matches_scipy_resample_poly(rate_in, rate_out, length):
    from scipy.signal import resample_poly

    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, length)).astype(np.float32)
    r = Resampler(rate_in, rate_out, length)
    assert (r._matrix is None) == (rate_out == 3999 or rate_in == rate_out)
    y = r(x)
    ref = resample_poly(x.astype(np.float64), r.up, r.down, axis=-1)
    assert y.shape == ref.shape == (3, r.length_out)
    assert y.dtype == np.float32
    assert np.abs(y - ref).max() < 1e-5


def test_resampler_keeps_a_tone_and_rejects_bad_lengths():
    sr_in, sr_out, n = 16000, 48000, 1600
    t = np.arange(n) / sr_in
    y = Resampler(sr_in, sr_out, n)(np.sin(2 * np.pi * 1000 * t)[None])[0]
    ts = np.arange(len(y)) / sr_out
    mid = slice(300, len(y) - 300)  # away from the filter's edge transients
    assert np.abs(y[mid] - np.sin(2 * np.pi * 1000 * ts[mid])).max() < 2e-3
    with pytest.raises(ValueError, match="built for 1600"):
        Resampler(sr_in, sr_out, n)(np.zeros((1, 100)))
    with pytest.raises(ValueError):
        Resampler(0, 48000, 10)


# -- latent math ---------------------------------------------------------------------------------
def test_lerp_and_slerp_endpoints_and_midpoints():
    a = np.array([3.0, 0.0, 0.0], np.float32)
    b = np.array([0.0, 1.0, 0.0], np.float32)
    for mix in (lerp, slerp):
        np.testing.assert_allclose(mix(a, b, 0.0), a, atol=1e-6)
        np.testing.assert_allclose(mix(a, b, 1.0), b, atol=1e-6)
    np.testing.assert_allclose(lerp(a, b, 0.5), [1.5, 0.5, 0.0], atol=1e-6)
    mid = slerp(a, b, 0.5)
    # direction at 45 degrees, norm interpolated linearly (3 -> 1 gives 2)
    np.testing.assert_allclose(mid, 2.0 * np.array([1, 1, 0]) / np.sqrt(2), atol=1e-5)
    # parallel vectors fall back to lerp
    np.testing.assert_allclose(slerp(a, 2 * a, 0.5), 1.5 * a, atol=1e-5)


def test_bilinear_corners_and_centre():
    corners = np.eye(4, dtype=np.float32)
    np.testing.assert_allclose(bilinear(corners, 0, 0), corners[0])
    np.testing.assert_allclose(bilinear(corners, 1, 0), corners[1])
    np.testing.assert_allclose(bilinear(corners, 0, 1), corners[2])
    np.testing.assert_allclose(bilinear(corners, 1, 1), corners[3])
    np.testing.assert_allclose(bilinear(corners, 0.5, 0.5), np.full(4, 0.25))
    with pytest.raises(ValueError):
        bilinear(corners[:3], 0.5, 0.5)


def _latent_map(**kw):
    centroids = 2.0 * np.eye(4, 6, dtype=np.float32)
    stds = np.full((4, 6), 0.1, np.float32)
    comps = np.eye(2, 6, k=4, dtype=np.float32)  # PCA axes on dims 4, 5
    return LatentMap(centroids, stds, comps, [4.0, 1.0], target=1, corners=[0, 1, 2, 3], **kw)


def test_latent_map_morph_xy_macros_and_variation():
    m = _latent_map()
    z0 = m.points(LatentState())
    np.testing.assert_allclose(z0, m.centroids)
    z1 = m.points(LatentState(morph=1.0))
    np.testing.assert_allclose(z1, np.repeat(m.centroids[[1]], 4, axis=0))  # all at the target
    zh = m.points(LatentState(morph=0.5))
    np.testing.assert_allclose(zh[0], [1.0, 1.0, 0, 0, 0, 0])
    # once the XY pad is touched, it sets the target: (1, 1) is corner 3
    zxy = m.points(LatentState(morph=1.0, x=1.0, y=1.0, xy_touched=True))
    np.testing.assert_allclose(zxy[0], m.centroids[3])
    # macro pca1 = +2 (axis std, the knob at the top) moves 2 std (sqrt(4) = 2 -> 4) along dim 4
    pca = (2.0,) + (0.0,) * 7
    np.testing.assert_allclose(m.points(LatentState(pca=pca))[:, 4], 4.0)
    # variation: seeded, scaled by each class's std, fresh when the knob moves
    va = m.points(LatentState(variation=0.5, variation_seed=1))
    vb = m.points(LatentState(variation=0.5, variation_seed=1))
    vc = m.points(LatentState(variation=0.5, variation_seed=2))
    np.testing.assert_array_equal(va, vb)
    assert not np.allclose(va, vc)
    spread = np.abs(va - m.centroids).max()
    assert 0 < spread < 0.1 * 5  # about std * a Gaussian draw
    # one class only: the same as its row of the full bank
    np.testing.assert_allclose(m.points(LatentState(morph=0.3), [2])[0],
                               m.points(LatentState(morph=0.3))[2])


def test_snapshot_versions_only_latent_parameters():
    s = ControlSnapshot()
    assert s.set("morph", 0.5) and s.version == 1
    assert not s.set("morph", 0.5)            # unchanged value
    assert not s.set("volume", 0.1) and s.version == 1
    assert s.set("x", 2.0) and s.get("x") == 1.0 and s.xy_touched
    state = s.latent_state()
    assert state.version == 2 and state.morph == 0.5


# -- voices --------------------------------------------------------------------------------------
def _pool(voices=4):
    return VoicePool(voices, 48000, 512, fade_slots=4)


def test_voice_pool_plays_a_buffer_with_gain_and_pan():
    pool = _pool()
    buf = np.linspace(0.0, 1.0, 300, dtype=np.float32)
    pool.note_on(36, 0, buf, gain=0.5, pan=-1.0)  # hard left
    left, right = np.zeros(512), np.zeros(512)
    pool.mix(left, right, 0, 512)
    np.testing.assert_allclose(left[:300], 0.5 * buf, atol=1e-7)
    assert np.all(left[300:] == 0) and np.abs(right).max() < 1e-7
    assert pool.active_count() == 0  # the one-shot ended


def test_voice_pool_pitch_by_resampling():
    pool = _pool()
    buf = np.arange(1000, dtype=np.float32)
    pool.note_on(60, 0, buf, gain=1.0, pan=-1.0, rate=2.0)  # one octave up: twice as fast
    left, right = np.zeros(100), np.zeros(100)
    pool.mix(left, right, 0, 100)
    np.testing.assert_allclose(left, np.arange(0, 200, 2), atol=1e-4)
    left[:] = 0
    pool.mix(left, right, 0, 50, rate_scale=0.5)  # pitch bend down an octave: back to 1x
    np.testing.assert_allclose(left[:50], np.arange(200, 250), atol=1e-4)


def test_voice_stealing_takes_the_oldest_and_fades_it():
    pool = _pool(voices=4)
    bufs = [np.full(10000, i + 1.0, np.float32) for i in range(5)]
    for i in range(4):
        pool.note_on(40 + i, i, bufs[i], 1.0, -1.0)
    assert pool.active_count() == 4
    pool.note_on(44, 4, bufs[4], 1.0, -1.0)
    assert pool.stolen == 1 and pool.active_count() == 4
    assert 40 not in pool.note[:4] and 44 in pool.note[:4]   # the oldest (note 40) went
    left, right = np.zeros(512), np.zeros(512)
    pool.mix(left, right, 0, 512)
    # 2+3+4+5 play on; voice 1's value fades from 1 to 0 within the fade length
    assert left[0] == pytest.approx(14.0 + 1.0, abs=1e-6)
    assert left[pool.fade_len + 5] == pytest.approx(14.0, abs=1e-6)


def test_choke_group_silences_the_previous_hihat():
    pool = _pool()
    hat = np.ones(20000, np.float32)
    pool.note_on(42, 3, hat, 1.0, -1.0, group=0)
    pool.note_on(46, 3, hat, 1.0, -1.0, group=0)
    pool.note_on(36, 0, hat, 1.0, -1.0)  # another group: no choke
    assert pool.choked == 1 and pool.active_count() == 2
    left, right = np.zeros(512), np.zeros(512)
    pool.mix(left, right, 0, 512)
    assert left[-1] == pytest.approx(2.0)  # the choked one faded within the block


def test_sustained_voice_loops_until_note_off_and_crossfades_to_a_new_loop():
    from vae_synth.synth.bank import loop_buffer

    frame = np.sin(np.linspace(0, 40 * np.pi, 4000)).astype(np.float32)
    loop, start, end = loop_buffer(frame, 200, 2048)
    assert (start, end) == (200, 4000)
    # the jump from end back to start is continuous
    assert abs(float(loop[end - 1]) - float(frame[start - 1])) < 0.05
    pool = _pool()
    pool.note_on(60, 0, loop, 1.0, -1.0, sustained=True, loop=(start, end))
    left, right = np.zeros(512), np.zeros(512)
    for _ in range(40):  # 20480 frames: five times round the loop
        left[:] = 0
        pool.mix(left, right, 0, 512)
    assert pool.active_count() == 1 and np.abs(left).max() > 0.5
    pool.swap_loops([0.5 * loop])
    assert pool.xfade_left[0] == pool.xfade_len
    pool.note_off(60)
    assert pool.active_count() == 0  # moved to a fade slot
    for _ in range(4):
        left[:] = 0
        pool.mix(left, right, 0, 512)
    assert np.abs(left).max() == 0.0


def test_nonfinite_voice_is_silenced_and_others_play():
    pool = _pool()
    bad = np.full(1000, np.nan, np.float32)
    good = np.full(1000, 0.25, np.float32)
    pool.note_on(36, 0, bad, 1.0, -1.0)
    pool.note_on(38, 1, good, 1.0, -1.0)
    left, right = np.zeros(256), np.zeros(256)
    pool.mix(left, right, 0, 256)
    assert pool.silenced_nonfinite == 1
    np.testing.assert_allclose(left, 0.25)


# -- output stage --------------------------------------------------------------------------------
def test_output_stage_holds_plus_minus_ten_and_removes_dc():
    stage = OutputStage(48000, 512)
    rng = np.random.default_rng(0)
    peaks = []
    for _ in range(50):
        block = rng.choice([-10.0, 10.0], size=(2, 512))
        peaks.append(np.abs(stage.process(block)).max())
    assert max(peaks) <= CEILING + 1e-12
    # a constant offset decays away (5 Hz one-pole high-pass)
    stage = OutputStage(48000, 512)
    out = [stage.process(np.full((2, 512), 0.3)).copy() for _ in range(200)]
    assert abs(out[0][0, 0]) > 0.29 and np.abs(out[-1]).max() < 1e-3


def test_output_stage_dc_blocker_matches_the_recursion():
    stage = OutputStage(48000, 1024)
    x = np.random.default_rng(3).standard_normal((2, 1000)) * 0.01
    y_ref = np.zeros_like(x)
    xp = yp = np.zeros(2)
    for n in range(1000):
        y_ref[:, n] = x[:, n] - xp + stage.r * yp
        xp, yp = x[:, n], y_ref[:, n]
    y = stage.process(x.copy())  # quiet: limiter and soft clip do nothing
    np.testing.assert_allclose(y, y_ref, atol=1e-12)


def test_output_stage_turns_nan_into_silence():
    stage = OutputStage(48000, 128)
    block = np.full((2, 128), np.nan)
    assert np.all(stage.process(block) == 0.0) and stage.nonfinite_blocks == 1
    ok = stage.process(np.full((2, 128), 0.1))
    assert np.all(np.isfinite(ok))


# -- MIDI parsing --------------------------------------------------------------------------------
def _router(**kw):
    ring = ev.EventRing(64)
    snap = ControlSnapshot()
    moved = []
    router = MidiRouter(ring, snap, {1: "morph", 7: "volume"},
                        on_latent_change=lambda: moved.append(1), **kw)
    return router, ring, snap, moved


def _drain(ring):
    out = []
    while (e := ring.pop()) is not None:
        out.append(e)
    return out


def test_router_notes_controls_running_status_and_panic():
    router, ring, snap, moved = _router()
    router.handle([0x99, 36, 100])
    router.handle([38, 90])                 # running status: another note-on
    router.handle([0x89, 36, 0])
    router.handle([0x90, 40, 0])            # velocity 0 = note off
    router.handle([0xB0, 1, 127])
    router.handle([0xB0, 123, 0])
    assert _drain(ring) == [(ev.NOTE_ON, 36, 100), (ev.NOTE_ON, 38, 90), (ev.NOTE_OFF, 36, 0),
                            (ev.NOTE_OFF, 40, 0), (ev.PANIC, 123, 0)]
    assert snap.get("morph") == 1.0 and moved == [1]
    router.handle([0xE0, 0x7F, 0x7F])       # pitch bend fully up
    assert snap.get("bend") == 1.0


def test_router_survives_malformed_and_foreign_messages():
    router, ring, snap, moved = _router()
    bad = [[12, 13], [], [0x90], [0x90, 60], [0xB0, 1], [0x90, 200, 100],
           [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7], [0xF8], [0xFE], [0xB0, 99, 5],
           [0xA0, 60, 10], "garbage", [0xC0]]
    router2, ring2, _, _ = _router()
    for message in bad:
        router.handle(message)
    assert _drain(ring) == []
    assert router.stats.malformed >= 7 and router.stats.ignored >= 4
    assert snap.version == 0
    router.handle([0x90, 60, 100])          # still works afterwards
    assert _drain(ring) == [(ev.NOTE_ON, 60, 100)]
    router2.rtmidi_callback((None, 0.0))    # rtmidi thread: never raises
    assert router2.stats.malformed == 1


def test_router_channel_filter():
    router, ring, _, _ = _router(channel=10)
    router.handle([0x90, 36, 100])  # channel 1
    router.handle([0x99, 36, 100])  # channel 10
    assert _drain(ring) == [(ev.NOTE_ON, 36, 100)]
    with pytest.raises(ValueError):
        _router(channel=17)


def test_controller_flood_never_fills_the_event_ring():
    router, ring, snap, moved = _router()
    for i in range(5000):
        router.handle([0xB0, 1, i % 128])
    assert ring.pending() == 0 and ring.dropped == 0
    assert snap.get("morph") == (4999 % 128) / 127
    for _ in range(100):  # a note flood beyond capacity drops, never blocks
        router.handle([0x90, 60, 100])
    assert ring.pending() == 64 and ring.dropped == 36


def test_midi_learn_binds_and_persists(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    store = LearnStore("drums")
    router, ring, snap, moved = _router(learn_store=store)
    router.learn("variation")
    router.handle([0xB0, 74, 64])
    assert router.controls[74] == "variation" and snap.get("variation") == 64 / 127
    assert store.wait_saved()   # written on the store's own thread
    saved = json.loads((tmp_path / "vae-synth" / "midi_learn.json").read_text())
    assert saved == {"drums": {"74": "variation"}}
    assert LearnStore("drums").load() == {74: "variation"}
    assert LearnStore("digits").load() == {}
    with pytest.raises(ValueError, match="unknown engine parameter"):
        router.learn("wobble")
    (tmp_path / "vae-synth" / "midi_learn.json").write_text("{not json")
    broken = LearnStore("drums")
    assert broken.load() == {} and "unreadable" in broken.error

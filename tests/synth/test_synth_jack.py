"""The engine through the real JACK rig: MIDI from a probe client, audio recorded on JACK's clock."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from fixtures_jack import Flooder
from fixtures_preset import make_test_preset, tone_frequencies
from synth_rig import band_energy, connect, expected_oneshot, live_engine, onset_latencies
from vae_synth.synth.midi import FLOOD_LIMIT, FLOOD_WINDOW_S
from vae_synth.synth.output import CEILING

pytestmark = pytest.mark.jack



def test_note_onset_is_within_one_block_of_the_note(jack_server, jack_probe, tones_preset,
                                                    mixing):
    block = jack_server.blocksize
    with live_engine(tones_preset, jack_server, mixing=mixing) as engine:
        sender, recorder = connect(jack_probe)
        recorder.start_recording()
        time.sleep(0.05)
        sent = []
        for i in range(8):
            at = sender.frame_time + 2 * block + (i * 37) % block  # anywhere in a block
            sent.append(sender.send([0x99, 36, 127], at_frame=at))
            sender.wait_sent()
            time.sleep(0.3)
        recording = recorder.stop_recording()
    actual = [frame for frame, _ in sender.sent]
    print("scheduled", sent, "written", actual, "recording from", recording.start_frame)
    latencies = []
    for frame in actual:
        start = frame - recording.start_frame
        segment = np.abs(recording.audio[start - block:start + 6 * block]).max(axis=1)
        # recorded blocks are JACK cycles: nothing may sound before the cycle of the note
        in_block = (frame - recording.start_frame) % block
        assert segment[: block - in_block].max() < 1e-2, "sound before the block of the note"
        above = np.flatnonzero(segment > 1e-2)
        assert above.size, f"note at frame {frame} never heard"
        latencies.append(int(above[0]) - block)
    print("onset latencies (frames):", latencies)
    assert engine.notes == 8
    # Live notes start at a block boundary: JACK may run the engine's MIDI client before
    # PortAudio's in the same cycle (the note then starts at that block's first frame, up to a
    # block *before* its exact frame) or after it (the next block). Either way within one block.
    assert min(latencies) >= -block, latencies
    assert max(latencies) <= block + 96, latencies  # one block + 2 ms at 48 kHz


def _wait(predicate, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)


def _hit(sender, message, gap_s: float = 0.0) -> int:
    sender.send(message)
    sender.wait_sent()
    if gap_s:
        time.sleep(gap_s)
    return [f for f, m in sender.sent if m == bytes(message)][-1]


def _play(sender, engine, message, tries: int = 3) -> None:
    """Send a note until the engine has it: JACK loses what arrives in a cycle it skipped for a
    late client (a loaded machine), and these tests are about what the note sounds like."""
    for _ in range(tries):
        notes = engine.notes
        _hit(sender, message)
        _wait(lambda: engine.notes > notes, timeout=1.0)  # noqa: B023 - used at once
        if engine.notes > notes:
            return
    raise AssertionError(f"{message} never reached the engine in {tries} tries")


def test_recorded_one_shot_matches_the_decoded_frame(jack_server, jack_probe, tones_preset,
                                                     mixing):
    """Tolerance: 1e-5 absolute per 128-frame block. An xrun on this shared 2-core machine drops
    or repeats a JACK cycle, shifting the rest of the note by whole blocks, so each expected
    block may be found up to 3 blocks early or late; 90 % of the blocks must be found, less 3 for
    cycle the recorder missed during the note."""
    block = jack_server.blocksize
    with live_engine(tones_preset, jack_server, mixing=mixing) as engine:
        sender, recorder = connect(jack_probe)
        recorder.start_recording()
        time.sleep(0.05)
        xruns = recorder.missed_cycles
        _hit(sender, [0x99, 38, 100], gap_s=0.3)
        recording = recorder.stop_recording()
        xruns = recorder.missed_cycles - xruns
        want = expected_oneshot(engine.instrument.preset, 1, 100, engine)
    left = recording.audio[:, 0].astype(np.float64)
    # voices start at the first frame of a cycle, and the recording starts at a cycle too
    first = int(np.flatnonzero(np.abs(left) > 1e-4)[0])
    onset = first - first % block
    blocks = len(want) // block
    found, worst = 0, 0.0
    for i in range(blocks):
        target = want[i * block:(i + 1) * block]
        errors = []
        for k in range(-3, 4):
            start = onset + (i + k) * block
            if 0 <= start and start + block <= len(left):
                errors.append(np.abs(left[start:start + block] - target).max())
        best = min(errors)
        worst = max(worst, best)
        found += best < 1e-5
    print(f"one-shot blocks found to 1e-5: {found}/{blocks}, worst block {worst:.2e}, "
          f"{xruns} cycles missed while recording")
    # the dummy driver's own xruns (about one a second here) each cost a few blocks
    assert blocks - found <= 0.1 * blocks + 3 * xruns
    np.testing.assert_array_equal(recording.audio[:, 0], recording.audio[:, 1])


def test_morph_knob_changes_the_recorded_spectrum(jack_server, jack_probe, tones_preset,
                                                  mixing):
    f = tone_frequencies(4)    # kick 110 Hz; this map's morph target is snare, 165 Hz
    with live_engine(tones_preset, jack_server, mixing=mixing) as engine:
        sender, recorder = connect(jack_probe)
        recorder.start_recording()
        time.sleep(0.05)
        first = _hit(sender, [0x99, 36, 100], gap_s=0.25)
        _hit(sender, [0xB9, 1, 127], gap_s=0.05)     # morph knob fully toward the target
        # the re-decode is done before the second hit (how soon a hit hears a knob move is the
        # bench's question; under CI's load it once took longer than 50 ms)
        _wait(lambda: engine.snapshot.get("morph") == 1.0
              and engine.instrument.bank.version == engine.snapshot.version, timeout=5)
        second = _hit(sender, [0x99, 36, 100], gap_s=0.25)
        recording = recorder.stop_recording()
        assert engine.snapshot.get("morph") == 1.0
    length = 6000
    ratios = []
    for frame in (first, second):
        start = frame - recording.start_frame
        hit = recording.audio[start:start + length, 0]
        ratios.append(band_energy(hit, jack_server.samplerate, f[1] * 0.9, f[1] * 1.1)
                      / band_energy(hit, jack_server.samplerate, f[0] * 0.9, f[0] * 1.1))
    print("snare/kick band energy before and after the morph:", ratios)
    assert ratios[0] < 0.1 and ratios[1] > 10


def test_limiter_holds_loud_and_nan_models_on_the_real_output(
        jack_server, jack_probe, loud_preset, nan_preset, mixing):
    for preset, loud in ((loud_preset, True), (nan_preset, False)):
        with live_engine(preset, jack_server, mixing=mixing) as engine:
            sender, recorder = connect(jack_probe)
            recorder.start_recording()
            time.sleep(0.05)
            _hit(sender, [0xB9, 7, 127])
            for note in (36, 38, 42, 45, 36, 38):
                _play(sender, engine, [0x99, note, 127])
            time.sleep(0.2)
            recording = recorder.stop_recording()
            assert engine.notes == 6 and engine.callback_errors == 0
        peak = np.abs(recording.audio).max()
        assert np.all(np.isfinite(recording.audio))
        if loud:
            assert 0.5 < peak <= CEILING + 1e-6, peak
        else:
            assert peak == 0.0


def test_malformed_midi_and_floods_leave_the_engine_playing(jack_server, jack_probe,
                                                            tones_preset):
    block = jack_server.blocksize
    with live_engine(tones_preset, jack_server) as engine:
        sender, recorder = connect(jack_probe)
        t = sender.frame_time + 4 * block
        junk = [[0x90, 60], [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7], [0xB9, 99, 5], [0x99],
                [0xF8], [0x99, 36, 200], [0xE9, 0x00]]
        for i, message in enumerate(junk):
            sender.send(message, at_frame=t + i)
        for i, message in enumerate(junk):   # again a cycle later: a missed cycle loses a batch
            sender.send(message, at_frame=t + block + i)
        # a flood: 2400 controller messages in 1 s (2400/s), sweeping morph and variation
        xruns = sender.missed_cycles + recorder.missed_cycles
        for i in range(2400):
            cc = 1 if i % 2 == 0 else 18
            sender.send([0xB9, cc, (i // 2) % 128], at_frame=t + 2 * block + i * 20)
        sender.wait_sent(timeout=10)
        time.sleep(0.2)
        stats = engine.router.stats
        # Each batch holds four malformed messages (counted by the router) and two that are
        # ignored (sysex, clock: counted by the native input); one batch may be lost in a
        # skipped cycle. The parser's handling of each kind is unit-tested. What matters here:
        # the engine counts what arrives and keeps playing.
        _wait(lambda: stats.malformed >= 4 and stats.ignored >= 2)
        assert stats.malformed >= 4 and stats.ignored >= 2, vars(stats)
        # JACK loses the events of a cycle it skipped for a late client (~6.4 messages a cycle
        # here; the cycles the sender and recorder missed stand for them); the state still ends
        # where it should
        xruns = sender.missed_cycles + recorder.missed_cycles - xruns
        print(f"flood: {engine.router.stats.controls} of 2400 controller messages, {xruns} cycles "
              f"missed")
        assert engine.router.stats.controls >= 0.95 * 2400 - 7 * xruns
        decoded = engine.decoder.stats
        print(f"flood: {engine.router.stats.messages} messages -> {decoded.states} states "
              f"decoded ({decoded.count} class decodes), {decoded.skipped} states skipped")
        assert decoded.states < 2400 / 2          # coalesced, no backlog
        assert decoded.skipped > 2400 / 2
        assert engine.instrument.bank.version == engine.snapshot.version
        recorder.start_recording()
        note = _hit(sender, [0x99, 38, 100], gap_s=0.2)
        recording = recorder.stop_recording()
        assert engine.callback_errors == 0
    start = note - recording.start_frame
    assert np.abs(recording.audio[start:start + 3 * block]).max() > 0.05  # still playing


def test_program_change_switches_presets_without_stopping_audio(
        jack_server, jack_probe, tones_preset, tmp_path, mixing):
    """The drum map's kick (36) plays before the change and the new map's pad (60) after it;
    each is silent under the other preset."""
    other = make_test_preset(tmp_path, classes=("zero", "one", "two"), name="other",
                             sample_rate=8000, frame_length=1024)
    block = jack_server.blocksize

    def heard(sender, recorder, note) -> float:
        recorder.start_recording()
        time.sleep(0.05)
        frame = _hit(sender, [0x99, note, 110], gap_s=0.25)
        recording = recorder.stop_recording()
        start = frame - recording.start_frame - block
        return float(np.abs(recording.audio[max(0, start):start + 20 * block]).max())

    with live_engine(tones_preset, jack_server, programs=[tones_preset, other],
                     mixing=mixing) as engine:
        sender, recorder = connect(jack_probe)
        before = {note: heard(sender, recorder, note) for note in (36, 60)}
        blocks = engine.blocks
        _hit(sender, [0xC9, 1])
        deadline = time.monotonic() + 10
        while engine.instrument.name != "other":
            assert time.monotonic() < deadline, engine.messages
            time.sleep(0.01)
        time.sleep(0.1)
        assert engine.blocks > blocks and engine.callback_errors == 0
        assert engine.decoder is not None and engine.decoder.is_alive()
        after = {note: heard(sender, recorder, note) for note in (36, 60)}
    print("peaks before the program change", before, "after", after)
    assert before[36] > 0.05 and before[60] < 1e-3        # the drum map (60 unmapped there)
    assert after[60] > 0.05 and after[36] < 1e-3          # the new map (36 unmapped there)
    assert engine.notes == 2 and engine.unmapped_notes == 2


def test_panic_silences_held_notes_on_the_real_output(jack_server, jack_probe,
                                                      tmp_path, mixing):
    """Four sustained notes held, then CC 120: within a block and the 3 ms fade only the DC
    blocker's decay is left."""
    held = make_test_preset(tmp_path, name="held", sustain=True, frame_length=1024)
    block = jack_server.blocksize
    with live_engine(held, jack_server, mixing=mixing) as engine:
        sender, recorder = connect(jack_probe)
        recorder.start_recording()
        time.sleep(0.05)
        for note in (36, 38, 41, 42):
            _play(sender, engine, [0x99, note, 120])
        time.sleep(0.3)
        panic = _hit(sender, [0xB9, 120, 0], gap_s=0.3)
        recording = recorder.stop_recording()
        assert engine.pool.active_count() == 0
    at = panic - recording.start_frame
    level_before = np.sqrt(np.mean(recording.audio[at - 4800:at] ** 2))
    quiet = recording.audio[at + 2 * block + 144:at + 2 * block + 144 + 4800]
    print(f"RMS before the panic {level_before:.4f}, after {np.sqrt(np.mean(quiet ** 2)):.5f}")
    assert level_before > 0.02
    assert np.sqrt(np.mean(quiet ** 2)) < 0.05 * level_before

def test_play_command_runs_on_jack_and_exits_cleanly_on_sigterm(jack_server, tones_preset):
    proc = subprocess.Popen(
        [sys.executable, "-m", "vae_synth", "--preset", str(tones_preset), "--audio-api", "jack",
         "--midi-in", "virtual", "--no-keyboard", "--demo"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary = out.strip().splitlines()[-1]
    match = re.match(r"vae-synth: (\d+) notes, (\d+) underruns in ([\d.]+) s, ", summary)
    assert match, summary
    assert int(match[1]) > 5 and "decode p50" in summary
    from vae_synth.synth.native import available

    assert ("mixing in native code" if available()[0] else "mixing in the Python callback") in err


def test_play_without_the_native_library_mixes_in_python_and_says_why(jack_server, tones_preset,
                                                                     tmp_path):
    import os

    env = dict(os.environ, VAE_SYNTH_NATIVE_LIB=str(tmp_path / "gone.so"))
    args = [sys.executable, "-m", "vae_synth", "--preset", str(tones_preset), "--audio-api",
            "jack", "--midi-in", "virtual", "--no-keyboard", "--demo", "--duration", "3"]
    refused = subprocess.run([*args, "--mixer", "native"], capture_output=True, text=True,
                             env=env, timeout=60)
    assert refused.returncode == 2
    assert "--mixer native: the native mixer is not available" in refused.stderr
    assert "gone.so is not built" in refused.stderr and "Traceback" not in refused.stderr
    fallback = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    assert fallback.returncode == 0, fallback.stderr
    assert "mixing in the Python callback" in fallback.stderr
    assert "gone.so is not built" in fallback.stderr
    assert _summary(fallback.stdout) and int(_summary(fallback.stdout)[1]) > 3, fallback.stdout


def test_a_midi_port_that_disappears_and_comes_back_is_reconnected(jack_server, tones_preset):
    import jack

    def pad(queue):
        client = jack.Client("padsender", no_start_server=True, servername=jack_server.name)
        port = client.midi_outports.register("out")

        def process(frames):
            port.clear_buffer()
            while queue:
                port.write_midi_event(0, queue.pop(0))

        client.set_process_callback(process)
        client.activate()
        return client

    queue: list[bytes] = []
    client = pad(queue)
    proc = subprocess.Popen(
        [sys.executable, "-m", "vae_synth", "--preset", str(tones_preset), "--audio-api", "jack",
         "--midi-in", "padsender", "--no-keyboard"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4)
        queue.append(bytes([0x99, 36, 100]))
        time.sleep(0.5)
        client.deactivate()
        client.close()              # the controller is unplugged ...
        time.sleep(2.5)
        client = pad(queue)         # ... and plugged in again
        time.sleep(3)
        queue.append(bytes([0x99, 38, 100]))
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
        client.deactivate()
        client.close()
    assert proc.returncode == 0, err
    assert "MIDI port disappeared: padsender:out" in err
    assert "MIDI port back: padsender:out" in err
    assert out.strip().splitlines()[-1].startswith("vae-synth: 2 notes,"), out


def test_a_stream_closes_a_few_jack_cycles_after_it_stops(jack_server, jack_probe,
                                                          tones_preset):
    """close_stream stops, waits at least four JACK cycles (and CLOSE_PAUSE_S), then closes:
    the latency notifications that the stop's disconnections send reach PortAudio's client
    before closing erases its ports (libjack walks that port list unguarded; once in about
    12,000 closes the two met: SIGSEGV). The stream's ports are gone from the graph after."""
    import sounddevice as sd
    from fixtures_jack import jack_output_device
    from vae_synth.synth.engine import CLOSE_PAUSE_S, Engine, close_stream
    from vae_synth.synth.preset import load_preset

    probe = jack_probe(name="watcher", channels=1)
    engine = Engine(load_preset(tones_preset), jack_server.samplerate, jack_server.blocksize,
                    learn=False)
    stream = engine.open_stream(sd, jack_output_device(), 2)
    stream.start()
    time.sleep(0.1)
    assert len(probe.audio_outputs("PortAudio")) == 2
    calls = []

    @contextlib.contextmanager
    def watch(label):
        calls.append((label, "begin", time.monotonic()))
        yield
        calls.append((label, "end", time.monotonic()))

    close_stream(stream, watch)
    assert [(label, edge) for label, edge, _ in calls] == [
        ("stopping the audio stream", "begin"), ("stopping the audio stream", "end"),
        ("closing the audio stream", "begin"), ("closing the audio stream", "end")]
    pause = calls[2][2] - calls[1][2]
    cycle = jack_server.blocksize / jack_server.samplerate
    assert pause >= max(CLOSE_PAUSE_S, 4 * cycle), pause
    assert stream.closed
    time.sleep(0.1)
    assert probe.audio_outputs("PortAudio") == []


def test_an_engine_opens_and_closes_50_times_in_a_process_holding_tensorflow(
        jack_server, jack_probe, tones_preset):
    """As in the full suite's process (TensorFlow imported, a model trained), an engine, its
    PortAudio stream and its JACK MIDI input start and stop 50 times beside a running probe;
    every one plays its note."""
    tf = pytest.importorskip("tensorflow")
    keras = tf.keras
    model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dense(4)])
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(64, 16)), rng.normal(size=(64, 4)), epochs=2, batch_size=16,
              verbose=0)
    sender = jack_probe(name="sender", channels=1)
    started = time.monotonic()
    for cycle in range(50):
        with live_engine(tones_preset, jack_server) as engine:   # its own MIDI input each time
            sender.connect_midi("vae-synth:midi_in")
            _play(sender, engine, [0x99, 36, 100])
            assert engine.notes == 1 and engine.callback_errors == 0, cycle
            _wait(lambda: engine.blocks > 10, timeout=5)
            assert engine.blocks > 10, cycle
    print(f"50 engine open/close cycles in {time.monotonic() - started:.1f} s")


def _start_player(tones_preset, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "vae_synth", "--preset", str(tones_preset), "--audio-api", "jack",
         "--midi-in", "virtual", "--no-keyboard", "--demo", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _summary(out: str):
    lines = out.strip().splitlines()
    return re.match(r"vae-synth: (\d+) notes, (\d+) underruns in ([\d.]+) s, ", lines[-1]) \
        if lines else None


def test_play_ends_with_its_summary_when_the_jack_server_is_killed(jack_server, tones_preset):
    proc = _start_player(tones_preset, "--duration", "60")
    try:
        time.sleep(4)
        assert proc.poll() is None, proc.communicate()
        jack_server.process.kill()            # the server dies mid-play
        killed = time.monotonic()
        out, err = proc.communicate(timeout=15)
        elapsed = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
    print(err[-2000:])
    assert proc.returncode == 1, err
    assert "server gone" in err and "Traceback" not in err
    assert _summary(out) and int(_summary(out)[1]) > 0, out
    assert elapsed < 2.0, elapsed


def _terminate(proc) -> tuple[str, str, float]:
    """SIGTERM to a player a moment after its server stopped answering: (stdout, stderr,
    seconds from the signal to its exit)."""
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=15)
    return out, err, time.monotonic() - sent


def test_play_ends_within_two_seconds_of_sigterm_when_the_server_stops_answering(
        jack_server, tones_preset):
    proc = _start_player(tones_preset)
    try:
        time.sleep(4)
        assert proc.poll() is None, proc.communicate()
        jack_server.process.send_signal(signal.SIGSTOP)   # wedged: alive, answering nobody
        out, err, elapsed = _terminate(proc)
    finally:
        jack_server.process.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    print(err[-2000:])
    assert proc.returncode == 1, err
    assert _summary(out), out
    # the stall is noticed (no callback for 2 s) or the stuck stop is given up after the signal
    assert "did not return after the signal" in err or "no audio callback" in err, err
    assert elapsed < 2.0, elapsed


def _has_socket(pid: int) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return False


def test_sigterm_while_opening_the_audio_on_a_wedged_server_ends_play_within_two_seconds(
        jack_server, tones_preset):
    """The server answers nobody before the player starts: the player connects to it (a socket
    appears) and waits inside PortAudio's start-up, where a Python handler cannot run, with
    the native libraries' stderr silenced. The signal still ends it within 2 s: it interrupts
    libjack's wait (the player then quits, 130), or the watchdog gives the call up and says
    so on the terminal (1)."""
    jack_server.process.send_signal(signal.SIGSTOP)
    proc = None
    try:
        proc = _start_player(tones_preset)
        deadline = time.monotonic() + 20
        while not _has_socket(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None and _has_socket(proc.pid), "the player never reached JACK"
        out, err, elapsed = _terminate(proc)
    finally:
        jack_server.process.send_signal(signal.SIGCONT)
        if proc is not None and proc.poll() is None:
            proc.kill()
    print(err[-2000:])
    assert proc.returncode in (1, 130), err
    if proc.returncode == 1:
        assert "initialising PortAudio (listing the audio devices) did not return after the " \
               "signal to quit" in err, err
    assert "Traceback" not in err
    assert elapsed < 2.0, elapsed


def test_play_on_a_server_that_never_answers_says_which_call_is_stuck(jack_server,
                                                                      tones_preset):
    """No signal: the watchdog gives the stuck start-up up after 5 s and says so, although
    the call runs with the native libraries' stderr silenced (fd 2 on /dev/null)."""
    jack_server.process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "vae_synth", "--preset", str(tones_preset), "--audio-api",
             "jack", "--midi-in", "virtual", "--no-keyboard"], capture_output=True, text=True,
            timeout=30)
        elapsed = time.monotonic() - started
    finally:
        jack_server.process.send_signal(signal.SIGCONT)
    assert done.returncode == 1, done.stderr
    assert "initialising PortAudio (listing the audio devices) did not return within 5 s" \
           in done.stderr, done.stderr
    assert elapsed < 15, elapsed


def test_a_flood_of_100k_midi_messages_a_second_for_10_s_is_shed_and_counted(
        jack_server, jack_probe, tones_preset):
    block, rate = jack_server.blocksize, jack_server.samplerate
    with live_engine(tones_preset, jack_server) as engine:
        sender, recorder = connect(jack_probe)
        before = onset_latencies(sender, recorder, block)
        flooder = Flooder(jack_server, "vae-synth:midi_in", per_second=100_000, seconds=10,
                          note_at=3)          # and a snare note in the middle of the flood
        underruns, blocks, notes = engine.underruns, engine.blocks, engine.notes
        started = time.monotonic()
        flooder.start()
        flooded = flooder.wait()
        flood_s = time.monotonic() - started
        flood_blocks = engine.blocks - blocks
        mid_note = engine.notes - notes
        time.sleep(0.5)
        after = onset_latencies(sender, recorder, block)
        stats = engine.router.stats
        summary = engine.summary(flood_s)
        print(f"flood: {flooded} sent in {flood_s:.1f} s, {stats.controls} parsed, "
              f"{stats.dropped} dropped by the guard; engine blocks {flood_blocks} of "
              f"{flood_s * rate / block:.0f} cycles, {engine.underruns - underruns} underruns; "
              f"onset latency before {before}, after {after} frames, mid-flood note {mid_note}, "
              f"recorder missed {recorder.missed_cycles} cycles\n{summary}")
    # What the input never sees was lost in JACK (cycles the server skipped); what its ring could
    # not take is counted as dropped, and the guard sheds and counts what reaches it.
    assert flooded >= 990_000
    assert stats.dropped > 0                                      # shed, and counted
    assert stats.controls + stats.dropped <= flooded
    assert stats.controls <= 1.2 * FLOOD_LIMIT / FLOOD_WINDOW_S * flood_s  # the guard's budget
    assert engine.dropped_midi >= stats.dropped and "MIDI messages dropped" in summary
    assert flood_blocks > 0.5 * flood_s * rate / block             # the callback kept running
    # back to normal after the flood (the median: one note of four may meet a loaded moment)
    assert np.median(after) <= block + 96, after

"""The JACK rig itself: a real server, a real PortAudio stream, the player's JACK MIDI input."""

from __future__ import annotations

import ctypes
import time

import numpy as np
import pytest
from fixtures_jack import jack_output_device, open_jack_midi, require_native, retry_busy_server

pytestmark = pytest.mark.jack


def test_tone_through_portaudio_is_recorded_with_level_and_pitch(jack_server, jack_probe):
    import sounddevice as sd

    frequency, amplitude = 440.0, 0.5
    phase = np.zeros(1, np.int64)

    def callback(outdata, frames, time_info, status):
        n = np.arange(phase[0], phase[0] + frames)
        outdata[:, 0] = amplitude * np.sin(2 * np.pi * frequency * n / jack_server.samplerate)
        phase[0] += frames

    probe = jack_probe(channels=1)
    with sd.OutputStream(device=jack_output_device(), channels=1, samplerate=jack_server.samplerate,
                         blocksize=jack_server.blocksize, dtype="float32", callback=callback):
        probe.connect_audio("PortAudio")
        time.sleep(0.2)
        recording = probe.record(jack_server.samplerate)

    audio = recording.audio[:, 0]
    assert len(audio) >= jack_server.samplerate
    block = jack_server.blocksize
    # skip anything the connection may have cut, keeping the recording's cycle grid: a cycle the
    # probe missed on a loaded machine is left as zeros at its own place, and a block grid that
    # straddled it would average part of it in
    steady = audio[len(audio) // 10 // block * block:]
    # the level over the cycles the probe recorded (missed ones counted, not averaged in)
    blocks = steady[: len(steady) // block * block].reshape(-1, block)
    recorded = blocks[np.abs(blocks).max(axis=1) > 0]
    assert len(recorded) > 0.5 * len(blocks), f"{len(recorded)} of {len(blocks)} cycles recorded"
    rms = float(np.sqrt(np.mean(recorded**2)))
    assert rms == pytest.approx(amplitude / np.sqrt(2), rel=0.02)
    # the pitch from rising zero crossings inside runs of consecutive recorded cycles: a cycle the
    # probe or the tone's own callback missed is silence, and the phase across it is the tone's
    # (advanced) or not (held), so a spectrum over the whole recording read 436 or 445 Hz for 440
    # on a loaded machine
    alive = np.abs(blocks).max(axis=1) > 0
    cycles = span = 0.0
    start = 0
    for end in range(len(alive) + 1):
        if end == len(alive) or not alive[end]:
            run = blocks[start:end].ravel()
            rising = np.flatnonzero((run[:-1] < 0) & (run[1:] >= 0))
            if len(rising) >= 2:
                at = rising + run[rising] / (run[rising] - run[rising + 1])  # sub-sample
                cycles += len(at) - 1
                span += at[-1] - at[0]
            start = end + 1
    assert span > 0.5 * jack_server.samplerate, "no half second of consecutive recorded cycles"
    pitch_hz = cycles / span * jack_server.samplerate
    assert pitch_hz == pytest.approx(frequency, abs=2.0)


def test_probe_midi_reaches_a_jack_input_in_order_at_its_frames(jack_server, jack_probe):
    """The probe's MIDI reaches a JACK input (the player's native one, read here directly) in
    order, each message stamped with the frame the probe scheduled it for."""
    from vae_synth.synth.native import MidiInStats, MidiMessage, load_library

    require_native()
    lib, _ = load_library()
    def opener():
        error = ctypes.create_string_buffer(256)
        handle = lib.vs_midi_in_open(b"rig-test", b"midi_in", 64, error, len(error))
        if not handle:
            raise RuntimeError(error.value.decode())
        return handle

    handle = retry_busy_server(opener)
    received: list[tuple[int, list[int]]] = []
    messages = [[0x99, 36, 100], [0xB9, 1, 64], [0x89, 36, 0], [0xE0, 0x00, 0x50]]
    try:
        probe = jack_probe()
        probe.connect_midi("rig-test:midi_in")
        # A quarter second ahead, so that all four are queued before the first one's block runs:
        # 4 blocks (11 ms) were once too few on a machine busy with the rest of the suite, and
        # the probe then sent the last message a block late, as it sends any late message.
        start = probe.frame_time + jack_server.samplerate // 4
        frames = [probe.send(m, at_frame=start + i * 37) for i, m in enumerate(messages)]
        probe.wait_sent()
        batch = (MidiMessage * 16)()
        deadline = time.monotonic() + 2.0
        while len(received) < len(messages) and time.monotonic() < deadline:
            count = lib.vs_midi_in_read(handle, batch, 16, 100)
            received += [(batch[i].frame, list(batch[i].bytes[:batch[i].size]))
                         for i in range(count)]
        stats = MidiInStats()
        lib.vs_midi_in_get_stats(handle, ctypes.byref(stats))
        port = lib.vs_midi_in_port_name(handle).decode()
        seen = {name: getattr(stats, name) for name, _ in stats._fields_}
        links = [p.name for p in probe.client.get_all_connections(probe.midi_out)]
    finally:
        lib.vs_midi_in_close(handle)
    assert [message for _, message in received] == messages, (port, links, seen)
    # Each message was written at the exact frame it was scheduled for, and read at it.
    assert [frame for frame, _ in probe.sent] == frames
    assert [frame for frame, _ in received] == frames


def test_onset_latency_of_a_minimal_engine_is_within_two_blocks(jack_server, jack_probe):
    """A note-on must be heard within a block or two: the rig can measure it in frames."""
    import sounddevice as sd
    from vae_synth.synth.midi import MidiStats

    require_native()
    burst = np.full(256, 0.5, np.float32)
    trigger = np.zeros(1, np.int64)  # written by the MIDI input's reader, read by the callback
    position = np.full(1, len(burst), np.int64)

    class NoteTrigger:   # the router's part a JackMidiInputs calls
        stats = MidiStats()

        def receive(self, message):
            if message[0] & 0xF0 == 0x90 and message[2] > 0:
                trigger[0] += 1

    seen = np.zeros(1, np.int64)

    def callback(outdata, frames, time_info, status):
        if trigger[0] != seen[0]:
            seen[0] = trigger[0]
            position[0] = 0
        outdata.fill(0)
        n = min(frames, len(burst) - position[0])
        if n > 0:
            outdata[:n, 0] = burst[position[0]:position[0] + n]
            position[0] += n

    midi_in = open_jack_midi(NoteTrigger(), client_name="mini-engine")
    try:
        with sd.OutputStream(device=jack_output_device(), channels=1,
                             samplerate=jack_server.samplerate, blocksize=jack_server.blocksize,
                             dtype="float32", callback=callback):
            sender, recorder = jack_probe(name="sender"), jack_probe(name="recorder", channels=1)
            recorder.connect_audio("PortAudio")
            sender.connect_midi("mini-engine:midi_in")
            time.sleep(0.2)
            recorder.start_recording()
            time.sleep(0.1)
            note_frame = sender.send([0x90, 60, 100])
            # until the sender's JACK cycle has written it (on a CPU busy with other work a
            # fixed 0.3 s once ended before that), then a few blocks for the engine to play it
            sender.wait_sent()
            time.sleep(0.3)
            recording = recorder.stop_recording()
            sender.close()
            recorder.close()
    finally:
        midi_in.close()
    onset = recording.onset_frame(threshold=0.25)
    assert onset is not None, "the note was never heard"
    latency = onset - note_frame
    # The input hands the note to Python after its JACK cycle; PortAudio plays it in the same
    # cycle when the reader was quicker than PortAudio's callback (from the cycle's first frame,
    # up to a block before the note's own), else in a following one.
    block = jack_server.blocksize
    assert -block <= latency <= 3 * block, f"latency {latency} frames"


_WEDGED_THEN_FINE = '''
import os, signal, time
from fixtures_jack import jack_output_device


def test_wedged(jack_server):
    import sounddevice as sd

    stream = sd.OutputStream(device=jack_output_device(), channels=1, callback=None,
                             samplerate=jack_server.samplerate, blocksize=jack_server.blocksize)
    stream.start()
    os.kill(jack_server.process.pid, signal.SIGKILL)  # the server dies under the stream ...
    time.sleep(0.5)
    stream.stop()  # ... and PortAudio waits for a process callback that never comes


def test_fine_after_it(jack_server, jack_probe):
    probe = jack_probe()
    assert probe.client.samplerate == jack_server.samplerate


def test_skips(jack_server):
    import pytest

    pytest.skip("a reason the summary shows")


def test_passes_but_never_exits(jack_server):
    import atexit

    atexit.register(time.sleep, 1000)  # every phase reported, then stuck at interpreter exit
'''


def test_a_test_stuck_in_a_native_call_fails_alone_within_its_hard_limit(tmp_path):
    """The rig's isolation, end to end: a JACK test that wedges inside PortAudio (its server
    killed under a running stream) is killed from outside after --jack-timeout and reported with
    its stacks; the next test gets a fresh server and passes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["fixtures_jack"]\n')
    (tmp_path / "test_wedge.py").write_text(_WEDGED_THEN_FINE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAE_SYNTH_JACK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA",
                           "--rootdir", str(tmp_path), "--jack-timeout", "15", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    print(done.stdout[-6000:], done.stderr[-2000:])
    assert "FAILED test_wedge.py::test_wedged" in done.stdout
    assert "did not finish within its hard limit of 15 s" in done.stdout
    assert "PASSED test_wedge.py::test_fine_after_it" in done.stdout
    # the report says where it was stuck: py-spy's Python stack of the child (a dev dependency)
    assert "test_wedged (test_wedge.py:" in done.stdout
    # a child that reported all its phases but never exited fails too (its teardown), and the
    # report says that it was stuck after its teardown had passed
    assert "ERROR test_wedge.py::test_passes_but_never_exits" in done.stdout
    assert "the child reported: setup passed, call passed, teardown passed" in done.stdout
    assert "SKIPPED [1] test_wedge.py" in done.stdout and "a reason the summary shows" in done.stdout
    assert "1 failed, 2 passed, 1 skipped, 1 error" in done.stdout
    assert "INTERNALERROR" not in done.stdout + done.stderr
    assert elapsed < 90, elapsed


_CRASHES = '''
import time


def test_crashes_in_jacks_thread(jack_server):
    import sounddevice as sd
    from fixtures_jack import jack_output_device

    nowhere = sd._ffi.cast("PaStreamCallback *", 8)  # JACK's process thread jumps to address 8
    stream = sd._StreamBase(kind="output", callback=nowhere, userdata=sd._ffi.NULL,
                            wrap_callback=None, device=jack_output_device(), channels=1,
                            dtype="float32", samplerate=jack_server.samplerate,
                            blocksize=jack_server.blocksize)
    stream.start()
    time.sleep(10)


def test_crashes_in_python(jack_server):
    import ctypes

    ctypes.string_at(0)


def test_fine_after_them(jack_server, jack_probe):
    assert jack_probe().client.samplerate == jack_server.samplerate
'''


def _cores_go_to_files() -> bool:
    import resource
    from pathlib import Path

    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    return bool(pattern) and not pattern.startswith("|") \
        and resource.getrlimit(resource.RLIMIT_CORE)[1] != 0


def test_a_crash_in_a_native_thread_is_reported_with_every_threads_stack(tmp_path):
    """A JACK test whose process dies of SIGSEGV fails alone, and its report names the signal,
    shows faulthandler's dump (the crashed thread marked when it runs Python) and, where the
    system writes core files, gdb's native stacks of every thread; the core is then gone."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).resolve().parents[1]
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["fixtures_jack"]\n')
    (tmp_path / "test_crash.py").write_text(_CRASHES)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VAE_SYNTH_JACK_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tests), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA",
                           "--rootdir", str(tmp_path), "--jack-timeout", "40", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    print(done.stdout[-12000:], done.stderr[-2000:])
    out = done.stdout
    assert "2 failed, 1 passed" in out
    native, python = out.split("test_crashes_in_jacks_thread", 1)[1].split(
        "test_crashes_in_python", 1)[:2]
    for report in (native, python):
        assert "the child process running the JACK test crashed (SIGSEGV)" in report
        assert "--- faulthandler's dump of the crashed child ---" in report
        assert "Fatal Python error: Segmentation fault" in report
    # a native thread has no Python frame to mark; Python's own crash is the current thread's
    assert "Current thread" not in native.split("--- gdb")[0]
    assert "Current thread" in python and "in test_crashes_in_python" in python
    if _cores_go_to_files() and shutil.which("gdb"):
        assert "--- gdb: native stacks of every thread" in native
        crashed = native.split("--- gdb: the thread that crashed ---", 1)[1]
        assert "libjack" in crashed  # JACK's process thread, jumping to address 8
        assert "string_at" in python.split("--- gdb: the thread that crashed ---", 1)[1]
    else:
        assert "(no core file" in native or "gdb is not installed" in native
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("core")]

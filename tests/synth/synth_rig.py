"""Helpers for the synth tests: an engine playing live on the JACK test rig, spectra."""

from __future__ import annotations

import contextlib
import time

import numpy as np
from fixtures_jack import open_jack_midi, require_native

MIXINGS = ("native", "python")


@contextlib.contextmanager
def live_engine(preset_path, jack_server, voices: int = 16, **engine_kwargs):
    """A running Engine playing through a PortAudio stream on the rig's JACK server, fed by the
    player's own JACK MIDI input (``vae-synth:midi_in``, native: synth/jack_midi.py). Yields the
    engine; on exit closes the stream, the input and the decode thread."""
    import sounddevice as sd
    from fixtures_jack import jack_output_device
    from vae_synth.synth.engine import Engine, close_stream, freeze_collector, thaw_collector
    from vae_synth.synth.preset import load_preset

    require_native()   # the MIDI input is native code, whichever mixer plays
    preset = load_preset(preset_path)
    engine = Engine(preset, jack_server.samplerate, jack_server.blocksize, voices, learn=False,
                    **engine_kwargs)
    engine.start()
    freeze_collector()  # as `vae-synth play` does: the suite's process holds TensorFlow's objects
    stream = engine.open_stream(sd, jack_output_device(), 2)
    stream.start()
    inputs = open_jack_midi(engine.router)
    try:
        yield engine
    finally:
        close_stream(stream)   # before the MIDI input, as `vae-synth play` does
        inputs.close()
        engine.stop()
        thaw_collector()


def engine_midi_input(client) -> str:
    """The name of the player's virtual MIDI input port (``vae-synth...:midi_in``) on the JACK
    graph, as seen by ``client`` (a jack.Client); fails clearly when it is not there."""
    ports = client.get_ports(r"vae-synth.*:midi_in", is_midi=True, is_input=True)
    assert ports, "the engine's virtual MIDI input is not on the JACK graph"
    return ports[0].name


def connect(jack_probe):
    """Two probe clients: ``sender`` MIDI out -> the engine's virtual input, engine audio ->
    ``recorder``. Returns (sender, recorder).

    One probe doing both would close a loop in the JACK graph (probe -> engine -> probe); JACK
    then runs one edge a cycle late and the recorded frame stamps are off by a block, one way or
    the other depending on the order it picks. Two clients keep the graph acyclic: the sender runs
    before the engine's MIDI client and the recorder after PortAudio, in the same cycle, so both
    stamp frames on the same clock exactly."""
    sender = jack_probe(name="sender", channels=1)
    recorder = jack_probe(name="recorder", channels=2)
    sender.connect_midi(engine_midi_input(sender.client))
    print("PortAudio outputs:", recorder.audio_outputs("PortAudio"))
    recorder.connect_audio("PortAudio")
    time.sleep(0.1)
    return sender, recorder


def onset_latencies(sender, recorder, block: int, count: int = 4) -> list[int]:
    """Send ``count`` kick notes a quarter second apart; returns each one's onset in frames after
    its MIDI frame (-block: the first frame of the note's own cycle; 10**6: never heard)."""
    note = bytes([0x99, 36, 127])
    recorder.start_recording()
    time.sleep(0.05)
    for _ in range(count):
        sender.send(note)
        sender.wait_sent()
        time.sleep(0.25)
    recording = recorder.stop_recording()
    latencies = []
    for frame in [f for f, m in sender.sent if m == note][-count:]:
        start = frame - recording.start_frame - block
        above = np.flatnonzero(np.abs(recording.audio[max(0, start):start + 40 * block]).max(
            axis=1) > 1e-2)
        latencies.append(int(above[0]) - block if above.size else 10**6)
    return latencies


def band_energy(x: np.ndarray, samplerate: int, lo: float, hi: float) -> float:
    """Energy of x [n] between lo and hi Hz (Hann-windowed FFT)."""
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1.0 / samplerate)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


def spectral_centroid(x: np.ndarray, samplerate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    freqs = np.fft.rfftfreq(len(x), 1.0 / samplerate)
    return float((spectrum * freqs).sum() / max(spectrum.sum(), 1e-12))


def dc_block(x: np.ndarray, r: float) -> np.ndarray:
    """The output stage's one-pole DC blocker as a plain loop (the reference). x: [n]."""
    y = np.zeros(len(x), dtype=np.float64)
    xp = yp = 0.0
    for n, v in enumerate(x.astype(np.float64)):
        yp = v - xp + r * yp
        xp = v
        y[n] = yp
    return y


def expected_oneshot(preset, cls: int, velocity: int, engine) -> np.ndarray:
    """What one channel carries for one note of a "tones" test preset on a fresh engine: the
    class's decoded frame, resampled to the engine's rate, end-faded, times velocity, centre pan
    and volume, through the DC blocker. Returns [frames] float64."""
    from fixtures_preset import test_tones
    from vae_synth.synth.resample import Resampler

    tone = test_tones(len(preset.classes), preset.sample_rate, preset.frame_length)[cls]
    frame = Resampler(preset.sample_rate, engine.samplerate, preset.frame_length)(tone[None])[0]
    fade = engine.instrument.builder.fade
    frame[-len(fade):] *= fade
    gain = velocity / 127 * np.cos(np.pi / 4) * engine.snapshot.get("volume") ** 2
    return dc_block(frame * gain, engine.output.r)


def write_midi(path, notes, ccs=(), programs=(), ticks_per_beat=480, bpm=120):
    """notes: [(seconds, note, velocity, duration)], ccs: [(seconds, cc, value)]."""
    import mido

    spt = 60.0 / bpm / ticks_per_beat  # seconds per tick
    events = []
    for t, note, vel, dur in notes:
        events.append((t, mido.Message("note_on", note=note, velocity=vel, channel=9)))
        events.append((t + dur, mido.Message("note_off", note=note, channel=9)))
    for t, cc, value in ccs:
        events.append((t, mido.Message("control_change", control=cc, value=value, channel=9)))
    for t, program in programs:
        events.append((t, mido.Message("program_change", program=program, channel=9)))
    events.sort(key=lambda e: e[0])
    mid = mido.MidiFile(ticks_per_beat=ticks_per_beat)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))
    last = 0
    for t, msg in events:
        tick = round(t / spt)
        track.append(msg.copy(time=tick - last))
        last = tick
    mid.save(str(path))
    return path

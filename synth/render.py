"""Offline render: a MIDI file through the same engine code, sample-accurately, to a WAV file.

Events are applied at their exact sample (the engine renders up to the event, hands the raw
bytes to the same ``MidiRouter`` live play uses, then goes on). Controller moves are decoded
synchronously before the next note that needs them (or, while sustained voices sound, at the
move), so the result does not depend on timing: two renders are bit-identical.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from vae_synth.synth.engine import Engine


def midi_events(path, samplerate: int) -> list[tuple[int, list[int]]]:
    """[(sample, message bytes)] of a MIDI file in time order (tempo changes honoured)."""
    import mido

    try:
        midi_file = mido.MidiFile(str(path))
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"{path}: not a readable MIDI file ({exc})") from exc
    events = []
    seconds = 0.0
    for message in midi_file:  # merged tracks, .time = delta in seconds
        seconds += message.time
        if message.is_meta:
            continue
        events.append((int(round(seconds * samplerate)), list(message.bytes())))
    return events


class Renderer:
    """Drives an ``Engine`` offline. ``render(events, total)`` -> audio [total, 2] float32."""

    def __init__(self, engine: Engine):
        self.engine = engine
        engine.sync_programs = True

    def _decode_if_needed(self) -> None:
        engine = self.engine
        engine.pool.graveyard.reap()   # offline: no decode thread releases what voices dropped
        inst = engine.instrument
        state = engine.snapshot.latent_state()
        if state.version == inst.bank.version:
            return
        sustaining = inst.sustain and bool(engine.pool.active[: engine.pool.n].any())
        if engine.ring.pending() or sustaining:
            inst.bank = inst.builder.build(state, base=inst.bank)

    def render(self, events: list[tuple[int, list[int]]], total: int) -> np.ndarray:
        engine = self.engine
        out = np.zeros((total, 2), dtype=np.float32)
        block = engine.blocksize
        pos = 0
        for sample, message in events:
            sample = min(max(sample, 0), total)
            while pos < sample:
                self._decode_if_needed()
                n = min(block - (pos % block), sample - pos)  # keep the block grid
                engine.process(out[pos:pos + n])
                pos += n
            engine.router.handle(message)
        while pos < total:
            self._decode_if_needed()
            n = min(block - (pos % block), total - pos)
            engine.process(out[pos:pos + n])
            pos += n
        return out


def render_file(preset, midi_path, out_path, samplerate: int = 48000, blocksize: int = 128,
                voices: int = 16, tail_s: float | None = None, interpolation: str = "lerp",
                seed: int = 0, programs: list | None = None, device: str = "cpu") -> dict:
    """Render ``midi_path`` with ``preset`` into a float32 stereo WAV at ``out_path`` (written
    atomically). Returns {"frames", "seconds", "notes", "peak"}."""
    import soundfile as sf

    events = midi_events(midi_path, samplerate)
    engine = Engine(preset, samplerate, blocksize, voices, device=device,
                    interpolation=interpolation, seed=seed, programs=programs, learn=False)
    if tail_s is None:  # let the last one-shot ring out
        tail = engine.instrument.frame_frames + samplerate // 10
    else:
        tail = int(tail_s * samplerate)
    last = events[-1][0] if events else 0
    audio = Renderer(engine).render(events, last + tail)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.tmp")
    sf.write(str(tmp), audio, samplerate, subtype="FLOAT", format="WAV")
    os.replace(tmp, out_path)
    return {"frames": len(audio), "seconds": len(audio) / samplerate, "notes": engine.notes,
            "peak": float(np.abs(audio).max()) if len(audio) else 0.0}

"""The engine: ties MIDI router, decode thread, voice pool and output stage together.

``Engine.process(out)`` is the whole audio-thread job, shared by the sounddevice callback and
the offline renderer: it drains the event ring, starts voices from the current bank, mixes,
runs the output stage and copies into ``out``. It allocates no block-sized arrays, takes no lock,
does no I/O and never calls the model; a note therefore sounds in the block after it arrives.

Program Change loads another installed preset on a loader thread and swaps the ``Instrument``
reference when it is ready; voices already sounding keep their buffers and ring out.
"""

from __future__ import annotations

import gc
import math
import sys
import threading
import time

import numpy as np
from vae_synth.synth import events as ev
from vae_synth.synth.bank import BankBuilder, BankDecoder, SoundBank
from vae_synth.synth.latent import LatentMap
from vae_synth.synth.midi import LearnStore, MidiRouter
from vae_synth.synth.output import OutputStage
from vae_synth.synth.params import PARAM_INDEX, PARAMETER, ControlSnapshot
from vae_synth.synth.resample import Resampler
from vae_synth.synth.voices import VoicePool

MAX_FRAMES = 4096  # longest block processed at once; longer callbacks are split
_VOLUME = PARAM_INDEX["volume"]
_DECAY = PARAM_INDEX["decay"]
_PITCH = PARAM_INDEX["pitch"]
_BEND = PARAM_INDEX["bend"]
# the knobs' tapers, from the one parameter table (bound once: the audio thread calls them)
_volume_gain = PARAMETER["volume"].value
_pitch_semitones = PARAMETER["pitch"].value
_bend_semitones = PARAMETER["bend"].value
_decay_fraction = PARAMETER["decay"].value
_decay_off = PARAMETER["decay"].is_off


def freeze_collector() -> None:
    """Before the audio stream starts: freeze everything built so far (never scanned again) and
    disable the cyclic collector, so that no collector pause lands in the audio callback while
    playing. Only the young generations are collected first: a full pass in a process that also
    holds TensorFlow's objects (the test suite) takes 0.4-0.8 s, and what is frozen uncollected
    is collected after ``thaw_collector``."""
    gc.collect(1)
    gc.freeze()
    gc.disable()


def thaw_collector() -> None:
    """After the stream stopped: the collector back as it was."""
    gc.enable()
    gc.unfreeze()


class Instrument:
    """One preset made playable at the device rate: sessions, latent map, note tables, bank.

    note_class / note_rate: [128] class index (-1 unmapped) and playback rate per MIDI note;
    class_group: [C] choke group (-1 none); class_pan: [C] pan in [-1, 1].
    """

    def __init__(self, preset, samplerate: int, snapshot: ControlSnapshot, device: str = "auto",
                 interpolation: str = "lerp", seed: int = 0, max_frames: int = MAX_FRAMES):
        from vae_synth.synth.runtime import make_session, session_device, warm_up

        self.preset = preset
        self.latent_map = LatentMap.from_preset(preset, interpolation, seed)
        n = self.latent_map.n_classes
        self.session_one = make_session(preset.file("decoder"), device)
        self.session_batch = make_session(preset.file("decoder_batch"), device)
        self.device = session_device(self.session_one)
        # first-call costs (allocation, kernel choice, cuDNN search) are paid here, not on a note
        warm_up(self.session_one, runs=5, batch=1)
        warm_up(self.session_batch, runs=5, batch=n)
        warm_up(self.session_batch, runs=2, batch=max(1, n - 1))
        self.resampler = Resampler(preset.sample_rate, samplerate, preset.frame_length)
        midi = preset.midi
        self.sustain = bool(midi.sustain)
        self.builder = BankBuilder(self.latent_map, self.session_one, self.session_batch,
                                   self.resampler, samplerate, self.sustain, max_frames)
        self.note_class = np.full(128, -1, dtype=np.int64)
        self.note_rate = np.ones(128, dtype=np.float64)
        for note, name in midi.notes.items():
            self.note_class[note] = preset.class_index(name)
        for note, semitones in midi.pitch.items():  # a pad's tuning
            self.note_rate[note] = 2.0 ** (semitones / 12.0)
        self.class_group = np.full(n, -1, dtype=np.int64)
        for g, group in enumerate(midi.choke_groups):
            for name in group:
                self.class_group[preset.class_index(name)] = g
        self.class_pan = np.zeros(n, dtype=np.float64)
        for name, pan in midi.pan.items():
            self.class_pan[preset.class_index(name)] = pan
        self.priority_class = -1
        self.bank: SoundBank = self.builder.build(snapshot.latent_state())
        self.frame_frames = len(self.bank.oneshots[0])
        self.decoder: BankDecoder | None = None

    @property
    def name(self) -> str:
        return self.preset.name

    def start_decoder(self, snapshot: ControlSnapshot, graveyard=None) -> BankDecoder:
        """graveyard: the voice pool's (synth.voices.Graveyard), reaped by the decode thread."""
        self.decoder = BankDecoder(self, self.builder, snapshot, graveyard=graveyard)
        self.decoder.start()
        return self.decoder

    def stop_decoder(self) -> None:
        if self.decoder is not None:
            self.decoder.stop()
            self.decoder.join(timeout=5)


class Engine:
    """A playable instrument: ``process(out)`` renders the next block into out [frames, ch].

    preset: a loaded ``Preset``; samplerate: the device rate; voices: polyphony;
    channel: 1-16 or None (all); programs: presets (names or paths) Program Change selects.
    """

    def __init__(self, preset, samplerate: int, blocksize: int = 128, voices: int = 16,
                 channel: int | None = None, device: str = "auto", interpolation: str = "lerp",
                 seed: int = 0, programs: list | None = None, learn: bool = True,
                 learn_path=None):
        if samplerate <= 0 or blocksize <= 0:
            raise ValueError(f"need a positive sample rate and block size, got {samplerate}, "
                             f"{blocksize}")
        self.samplerate = int(samplerate)
        self.blocksize = int(blocksize)
        self.max_frames = max(MAX_FRAMES, self.blocksize)
        self.device = device
        self.interpolation = interpolation
        self.seed = seed
        self.snapshot = ControlSnapshot()
        self.ring = ev.EventRing()
        self.instrument = Instrument(preset, self.samplerate, self.snapshot, device,
                                     interpolation, seed, self.max_frames)
        self.learn_store = LearnStore(preset.name, learn_path) if learn else None
        self.router = MidiRouter(self.ring, self.snapshot, self._controls_for(preset), channel,
                                 on_latent_change=self._wake_decoder, on_program=self.program,
                                 learn_store=self.learn_store, on_learned=self._learned)
        self.pool = VoicePool(voices, self.samplerate, self.max_frames)
        self.output = OutputStage(self.samplerate, self.max_frames)
        self._mix = np.zeros((2, self.max_frames), dtype=np.float64)
        self._loops_bank = None
        self._held_bank = None       # the bank the audio thread last read (see _block)
        self._retired = None         # the instrument a program change replaced (see _load_program)
        self.programs = list(programs or [])
        self.messages: list[str] = []   # for the status line / log, appended off the audio thread
        self._loading = False
        self.sync_programs = False   # render: load programs synchronously (deterministic)
        # statistics (written by the audio thread only)
        self.frames = 0
        self.blocks = 0
        self.notes = 0
        self.unmapped_notes = 0
        self.unmapped_by_note = np.zeros(128, dtype=np.int64)  # [128] note-ons with no pad
        self.underruns = 0
        self.callback_errors = 0
        self.callback_error: str | None = None
        self.callback_seconds = 0.0
        self.callback_max = 0.0

    # -- set-up ----------------------------------------------------------------------------
    def _controls_for(self, preset) -> dict[int, str]:
        controls = dict(preset.midi.controls)
        if self.learn_store is not None:
            controls = self.learn_store.apply(controls)
        return controls

    def _learned(self, cc: int, name: str, error: str | None) -> None:
        """MIDI learn bound a controller (MIDI thread): say so on the status display (a binding
        that could not be saved is reported by the learn store's ``error``, which play prints)."""
        self.messages.append(f"CC {cc} → {name}, saved" if error is None
                             else f"CC {cc} → {name}, not saved")

    def start(self) -> None:
        """Start the decode thread (live play). ``render`` decodes synchronously instead.

        Also shortens Python's thread switch interval (5 ms -> 0.5 ms): the audio callback waits
        at most that long for the GIL while another thread runs Python code."""
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(5e-4)
        self.instrument.start_decoder(self.snapshot, self.pool.graveyard)

    def stop(self) -> None:
        self.instrument.stop_decoder()
        if getattr(self, "_switch_interval", None):
            sys.setswitchinterval(self._switch_interval)

    def _wake_decoder(self) -> None:
        decoder = self.instrument.decoder
        if decoder is not None:
            decoder.wake.set()

    @property
    def decoder(self) -> BankDecoder | None:
        return self.instrument.decoder

    # -- program change --------------------------------------------------------------------
    def program(self, number: int, wait: bool = False) -> None:
        """Switch to ``programs[number]`` on a loader thread (audio keeps running); a number
        with no preset is reported and changes nothing."""
        if not self.programs or self._loading:
            return
        if not 0 <= number < len(self.programs):
            self.messages.append(f"program {number}: no preset has that number (0-"
                                 f"{len(self.programs) - 1}; `vae-synth presets` lists them)")
            return
        target = self.programs[number]
        self._loading = True
        thread = threading.Thread(target=self._load_program, args=(target,), daemon=True,
                                  name="vae-synth-program")
        thread.start()
        if wait or self.sync_programs:
            thread.join()

    def _load_program(self, target) -> None:
        from vae_synth.synth.preset import PresetError, load_preset

        try:
            preset = target if hasattr(target, "midi") else load_preset(target)
            if preset.path == self.instrument.preset.path:
                return
            live = self.instrument.decoder is not None
            new = Instrument(preset, self.samplerate, self.snapshot, self.device,
                             self.interpolation, self.seed, self.max_frames)
            if live:
                new.start_decoder(self.snapshot, self.pool.graveyard)
            old = self.instrument
            self.router.set_controls(self._controls_for(preset))
            if self.learn_store is not None:
                self.learn_store.preset_name = preset.name
            self.instrument = new        # the swap; the callback sees it at its next block
            self.ring.push(ev.SWAP)
            old.stop_decoder()
            # kept until the next program change: the audio thread may still hold the last
            # reference for a block, and must not free sessions and banks itself
            self._retired = old
            self.messages.append(f"program: {preset.name}")
        except (PresetError, OSError, RuntimeError, ValueError) as exc:
            self.messages.append(f"program change failed, keeping {self.instrument.name}: {exc}")
        finally:
            self._loading = False

    # -- the audio thread ------------------------------------------------------------------
    def callback(self, outdata, frames, time_info, status) -> None:
        """sounddevice OutputStream callback."""
        t0 = time.perf_counter()
        if status.output_underflow:
            self.underruns += 1
        try:
            self.process(outdata)
        except Exception as exc:  # keep the stream alive; report once from the main thread
            outdata.fill(0.0)
            self.callback_errors += 1
            if self.callback_error is None:
                self.callback_error = f"{type(exc).__name__}: {exc}"
        dt = time.perf_counter() - t0
        self.callback_seconds += dt
        if dt > self.callback_max:
            self.callback_max = dt

    def process(self, out: np.ndarray) -> None:
        """Render the next ``len(out)`` frames into out [frames, channels] float32."""
        frames = out.shape[0]
        start = 0
        while start < frames:
            n = min(frames - start, self.max_frames)
            self._block(out[start:start + n])
            start += n

    def _block(self, out: np.ndarray) -> None:
        inst = self.instrument
        ring = self.ring
        pool = self.pool
        bank = inst.bank
        if bank is not self._held_bank:
            # hold the bank read here until the next one, then hand it to the reaper: the
            # decode thread may have dropped its own reference already (no frees on this thread)
            pool.graveyard.bury(self._held_bank)
            self._held_bank = bank
        while ring.read != ring.write:
            kind, a, b = ring.pop()
            if kind == ev.NOTE_ON:
                self._note_on(inst, bank, a, b)
            elif kind == ev.NOTE_OFF:
                pool.note_off(a)
            elif kind == ev.PANIC:
                pool.all_off()
            elif kind == ev.SWAP:
                pool.all_off()   # loops and classes of the old preset end here
                pool.graveyard.bury(self._loops_bank)
                self._loops_bank = None
        if inst.sustain and bank is not self._loops_bank:
            pool.swap_loops(bank.loops)
            pool.graveyard.bury(self._loops_bank)
            self._loops_bank = bank
        n = out.shape[0]
        mix = self._mix[:, :n]
        mix.fill(0.0)
        values = self.snapshot.values
        semitones = _pitch_semitones(values[_PITCH]) + _bend_semitones(values[_BEND])
        rate_scale = 1.0 if semitones == 0.0 else math.pow(2.0, semitones / 12.0)
        pool.mix(mix[0], mix[1], 0, n, rate_scale)
        mix *= _volume_gain(values[_VOLUME])
        self.output.process(mix)
        channels = out.shape[1]
        if channels >= 2:
            out[:, 0] = mix[0]
            out[:, 1] = mix[1]
            if channels > 2:
                out[:, 2:] = 0.0
        else:
            np.add(mix[0], mix[1], out=mix[0])
            mix[0] *= 0.5
            out[:, 0] = mix[0]
        self.frames += n
        self.blocks += 1

    def _note_on(self, inst: Instrument, bank: SoundBank, note: int, velocity: int) -> None:
        c = int(inst.note_class[note])
        if c < 0:
            self.unmapped_notes += 1
            self.unmapped_by_note[note] += 1
            return
        values = self.snapshot.values
        decay = values[_DECAY]
        length = inst.frame_frames
        stop_at = math.inf if _decay_off(decay) else length * _decay_fraction(decay)
        if inst.sustain:
            buf, loop = bank.loops[c], bank.loop
        else:
            buf, loop = bank.oneshots[c], (0, 0)
        self.pool.note_on(note, c, buf, velocity / 127.0, inst.class_pan[c],
                          inst.note_rate[note], int(inst.class_group[c]), inst.sustain, loop,
                          stop_at)
        inst.priority_class = c
        self.notes += 1

    # -- reporting -------------------------------------------------------------------------
    def decode_summary(self) -> str:
        decoder = self.instrument.decoder
        if decoder is None or decoder.stats.count == 0:
            return "no re-decodes"
        p50, p99 = decoder.stats.percentiles()
        return (f"decode p50 {p50:.1f} ms p99 {p99:.1f} ms per class ({decoder.stats.count} class "
                f"decodes for {decoder.stats.states} controller states)")

    @property
    def dropped_midi(self) -> int:
        """MIDI messages shed by the router's flood guard (for the status line and summary)."""
        return self.router.stats.dropped

    def summary(self, seconds: float) -> str:
        dropped = self.dropped_midi
        flood = f", {dropped} MIDI messages dropped in floods" if dropped else ""
        return (f"vae-synth: {self.notes} notes, {self.underruns} underruns in {seconds:.1f} s, "
                f"{self.decode_summary()}, preset {self.instrument.name} on "
                f"{self.instrument.device}{flood}")

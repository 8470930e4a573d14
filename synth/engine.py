"""The engine: ties MIDI router, decode thread, voice pool and output stage together.

``Engine.process(out)`` is the whole audio-thread job, shared by the live stream and the offline
renderer: it drains the event ring, starts voices from the current bank, mixes, runs the output
stage and copies into ``out``. It allocates no block-sized arrays, takes no lock, does no I/O and
never calls the model; a note therefore sounds in the block after it arrives.

Two mixers do that job with the same arithmetic (``mixing``): the native one (``synth/native.py``,
``native/``), whose PortAudio callback is C and never waits for the GIL, and the pure-Python one
(``voices.py``, ``output.py``, the sounddevice callback ``Engine.callback``), the fallback where
the library is not built. With the native mixer Python still decides what plays: each note is
resolved here (``_note_params``: buffer, gain, pan, rate, group, decay point) and queued for the
audio side, live as soon as it arrives (``_NativeEvents``), offline at the block where the
Python callback would have taken it, so that a render is the same sample for sample either way.

Program Change loads another installed preset on a loader thread and swaps the ``Instrument``
reference when it is ready; voices already sounding keep their buffers and ring out.
"""

from __future__ import annotations

import contextlib
import gc
import math
import sys
import threading
import time

import numpy as np
from vae_synth.synth import events as ev
from vae_synth.synth import native as native_mixer
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


def block_controls(values: np.ndarray) -> tuple[float, float]:
    """(master gain, playback-rate scale) for the next block from the snapshot's values
    [len(PARAM_NAMES)]: the volume, pitch and bend tapers of the parameter table."""
    semitones = _pitch_semitones(values[_PITCH]) + _bend_semitones(values[_BEND])
    rate_scale = 1.0 if semitones == 0.0 else math.pow(2.0, semitones / 12.0)
    return _volume_gain(values[_VOLUME]), rate_scale


MIXINGS = ("auto", "native", "python")


def choose_mixing(mixing: str = "auto") -> tuple[str, str | None]:
    """("native" | "python", why not native or None) for a requested ``mixing`` of MIXINGS;
    raises native.NativeUnavailable when "native" was asked for and cannot be had."""
    if mixing not in MIXINGS:
        raise ValueError(f"unknown mixing {mixing!r}; choose from {', '.join(MIXINGS)}")
    if mixing == "python":
        return "python", "asked for"
    ok, why = native_mixer.available()
    if ok:
        return "native", None
    if mixing == "native":
        raise native_mixer.NativeUnavailable(f"the native mixer is not available: {why}")
    return "python", why


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


# The pause between stopping and closing a stream: a few audio server cycles, at least this.
CLOSE_PAUSE_S = 0.05


def close_stream(stream, watch=None) -> None:
    """Stop and close a PortAudio stream of ``Engine.open_stream``, with a pause between the two.

    Why the pause: on JACK, stopping disconnects the stream's ports (and a MIDI client closed just
    before changes the graph too); the server applies that at its next cycle and then sends every
    client a latency notification, which libjack handles in the client's notification thread by
    walking the client's port list unguarded (JACK2 1.9.21 ``JackClient::HandleLatencyCallback``,
    jack2 issue 216). ``Pa_CloseStream`` waits for that same cycle and then unregisters the ports,
    erasing them from that list in this thread: the two met about once in 12,000 closes here,
    a SIGSEGV in libjack's notification thread (docs/notes/2026-12-08-jack-close-crash.md). After
    a few cycles the notifications are handled. ``watch(label)``: a context manager around each
    PortAudio call (the player's watchdog), or None."""
    watch = watch or (lambda label: contextlib.nullcontext())
    with watch("stopping the audio stream"):
        stream.stop()
    cycle = (stream.blocksize or 1024) / stream.samplerate
    time.sleep(max(CLOSE_PAUSE_S, 4 * cycle))
    with watch("closing the audio stream"):
        stream.close()


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

    def start_decoder(self, snapshot: ControlSnapshot, graveyard=None,
                      on_publish=None) -> BankDecoder:
        """graveyard: what the mixer let go of (synth.voices.Graveyard, or the native player),
        reaped by the decode thread; on_publish(instrument): called after each new bank."""
        self.decoder = BankDecoder(self, self.builder, snapshot, graveyard=graveyard,
                                   on_publish=on_publish)
        self.decoder.start()
        return self.decoder

    def stop_decoder(self) -> None:
        if self.decoder is not None:
            self.decoder.stop()
            self.decoder.join(timeout=5)


class Engine:
    """A playable instrument: ``process(out)`` renders the next block into out [frames, ch].

    preset: a loaded ``Preset``; samplerate: the device rate; voices: polyphony;
    channel: 1-16 or None (all); programs: presets (names or paths) Program Change selects;
    mixing: one of MIXINGS ("auto": native where the library is built, else Python).
    """

    def __init__(self, preset, samplerate: int, blocksize: int = 128, voices: int = 16,
                 channel: int | None = None, device: str = "auto", interpolation: str = "lerp",
                 seed: int = 0, programs: list | None = None, learn: bool = True,
                 learn_path=None, mixing: str = "auto"):
        if samplerate <= 0 or blocksize <= 0:
            raise ValueError(f"need a positive sample rate and block size, got {samplerate}, "
                             f"{blocksize}")
        self.samplerate = int(samplerate)
        self.blocksize = int(blocksize)
        self.max_frames = max(MAX_FRAMES, self.blocksize)
        self.device = device
        self.interpolation = interpolation
        self.seed = seed
        self.mixing, self.mixing_note = choose_mixing(mixing)
        self.snapshot = ControlSnapshot()
        self._queue = ev.EventRing()   # what the Python callback (or an offline block) drains
        self.ring = self._queue        # where the router puts events (see start)
        self.instrument = Instrument(preset, self.samplerate, self.snapshot, device,
                                     interpolation, seed, self.max_frames)
        self.learn_store = LearnStore(preset.name, learn_path) if learn else None
        self.router = MidiRouter(self.ring, self.snapshot, self._controls_for(preset), channel,
                                 on_latent_change=self._wake_decoder, on_program=self.program,
                                 learn_store=self.learn_store, on_learned=self._learned)
        self.native = None
        if self.mixing == "native":
            self.native = native_mixer.NativePlayer(voices, self.samplerate, self.max_frames)
            self.pool = native_mixer.NativePool(self.native)
            self.snapshot.on_engine_change = self._engine_controls_changed
            self._engine_controls_changed()
        else:
            self.pool = VoicePool(voices, self.samplerate, self.max_frames)
        # the Python mixer's output stage (its constants are the native one's too)
        self.output = OutputStage(self.samplerate, self.max_frames)
        self._mix = np.zeros((2, self.max_frames), dtype=np.float64)
        self._loops_bank = None
        self._held_bank = None       # the bank the audio thread last read (see _block)
        self._retired = None         # the instrument a program change replaced (see _load_program)
        self._on_publish = None      # the decode threads' hook (see start)
        self.programs = list(programs or [])
        self.messages: list[str] = []   # for the status line / log, appended off the audio thread
        self._loading = False
        self.sync_programs = False   # render: load programs synchronously (deterministic)
        # statistics (the Python callback's written by the audio thread only; the native
        # mixer counts its own, read through the properties below)
        self._frames = 0
        self._blocks = 0
        self.notes = 0
        self.unmapped_notes = 0
        self.unmapped_by_note = np.zeros(128, dtype=np.int64)  # [128] note-ons with no pad
        self._underruns = 0
        self.callback_errors = 0
        self.callback_error: str | None = None
        self._callback_seconds = 0.0
        self._callback_max = 0.0

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

    @property
    def mixing_description(self) -> str:
        """Which mixer plays, for the start-up line of ``play``."""
        if self.native is not None:
            return "mixing in native code (C audio callback, no GIL)"
        return f"mixing in the Python callback ({self.mixing_note})"

    def _engine_controls_changed(self) -> None:
        """The native mixer's block controls follow the snapshot (any thread that sets it)."""
        self.native.set_block_controls(*block_controls(self.snapshot.values))

    def start(self) -> None:
        """Start the decode thread (live play). ``render`` decodes synchronously instead.

        Also shortens Python's thread switch interval (5 ms -> 0.5 ms): a Python callback (the
        Python mixer's audio callback, rtmidi's MIDI callback) waits at most that long for the
        GIL while another thread runs Python code. With the native mixer, notes are resolved
        from now on as they arrive."""
        on_publish = None
        if self.native is not None:
            with self.native.lock:
                self._dispatch_pending()   # whatever came before
                self._sync_loops()
                self.ring = self.router.ring = _NativeEvents(self)
            on_publish = self._bank_published
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(5e-4)
        self._on_publish = on_publish
        self.instrument.start_decoder(self.snapshot, self.pool.graveyard, on_publish)

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
                new.start_decoder(self.snapshot, self.pool.graveyard, self._on_publish)
            old = self.instrument
            self.router.set_controls(self._controls_for(preset))
            if self.learn_store is not None:
                self.learn_store.preset_name = preset.name
            with self.native.lock if self.native is not None else contextlib.nullcontext():
                self.instrument = new    # the swap; the callback sees it at its next block
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

    # -- the stream ------------------------------------------------------------------------
    def open_stream(self, sd, device, channels: int, finished_callback=None):
        """A PortAudio output stream (not started) on ``device`` that plays this engine: the
        native mixer's C callback, or ``callback`` through sounddevice. sd: the sounddevice
        module. Close it with ``close_stream``."""
        kwargs = dict(samplerate=self.samplerate, blocksize=self.blocksize, device=device,
                      channels=channels, dtype="float32", latency="low",
                      finished_callback=finished_callback)
        if self.native is None:
            return sd.OutputStream(callback=self.callback, **kwargs)
        self.native.set_channels(channels)
        callback, userdata = self.native.stream_callback(sd)
        # sounddevice hands a cffi function pointer and userdata to Pa_OpenStream unwrapped
        stream = sd._StreamBase(kind="output", callback=callback, userdata=userdata,
                                wrap_callback=None, **kwargs)
        stream.vae_synth_player = self.native   # the callback's userdata lives with the stream
        return stream

    # -- statistics ------------------------------------------------------------------------
    @property
    def underruns(self) -> int:
        """Callbacks whose status carried PortAudio's output-underflow flag."""
        return int(self.native.stats().underflows) if self.native is not None \
            else self._underruns

    @property
    def blocks(self) -> int:
        return int(self.native.stats().blocks) if self.native is not None else self._blocks

    @property
    def frames(self) -> int:
        return int(self.native.stats().frames) if self.native is not None else self._frames

    @property
    def callback_seconds(self) -> float:
        """Time spent in audio callbacks so far."""
        return self.native.stats().callback_ns * 1e-9 if self.native is not None \
            else self._callback_seconds

    @property
    def callback_max(self) -> float:
        """The longest audio callback so far (seconds)."""
        return self.native.stats().callback_max_ns * 1e-9 if self.native is not None \
            else self._callback_max

    # -- native mixing: Python resolves, the audio side plays --------------------------------
    def _dispatch(self, inst: Instrument, bank: SoundBank, kind: int, a: int, b: int) -> None:
        """One event for the native mixer, resolved with ``inst`` and ``bank`` (the caller
        holds ``native.lock``)."""
        native = self.native
        if kind == ev.NOTE_ON:
            params = self._note_params(inst, bank, a, b)
            if params is not None and native.note_on(*params):
                inst.priority_class = params[1]
                self.notes += 1
        elif kind == ev.NOTE_OFF:
            native.note_off(a)
        elif kind == ev.PANIC:
            native.all_off()
        elif kind == ev.SWAP:
            native.all_off()        # loops and classes of the old preset end here
            native.clear_loops()
            self._loops_bank = None
            self._sync_loops()

    def _dispatch_pending(self) -> None:
        """The events queued for a block, resolved as the Python callback would at that block."""
        queue = self._queue
        inst = self.instrument
        bank = inst.bank
        while queue.read != queue.write:
            self._dispatch(inst, bank, *queue.pop())

    def _sync_loops(self) -> None:
        """Sustained presets: the native loop table follows the current bank."""
        inst = self.instrument
        bank = inst.bank
        if inst.sustain and bank is not self._loops_bank:
            self.native.set_loops(bank.loops)
            self._loops_bank = bank

    def _bank_published(self, inst: Instrument) -> None:
        """The decode thread published a bank (live, native mixing)."""
        with self.native.lock:
            if inst is self.instrument:
                self._sync_loops()

    # -- the audio thread ------------------------------------------------------------------
    def callback(self, outdata, frames, time_info, status) -> None:
        """sounddevice OutputStream callback (the Python mixer)."""
        t0 = time.perf_counter()
        if status.output_underflow:
            self._underruns += 1
        try:
            self.process(outdata)
        except Exception as exc:  # keep the stream alive; report once from the main thread
            outdata.fill(0.0)
            self.callback_errors += 1
            if self.callback_error is None:
                self.callback_error = f"{type(exc).__name__}: {exc}"
        dt = time.perf_counter() - t0
        self._callback_seconds += dt
        if dt > self._callback_max:
            self._callback_max = dt

    def process(self, out: np.ndarray) -> None:
        """Render the next ``len(out)`` frames into out [frames, channels] float32."""
        native = self.native
        if native is not None:
            with native.lock:
                self._dispatch_pending()
                self._sync_loops()
            native.process(out)
            return
        frames = out.shape[0]
        start = 0
        while start < frames:
            n = min(frames - start, self.max_frames)
            self._block(out[start:start + n])
            start += n

    def _block(self, out: np.ndarray) -> None:
        inst = self.instrument
        ring = self._queue
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
                params = self._note_params(inst, bank, a, b)
                if params is not None:
                    pool.note_on(*params)
                    inst.priority_class = params[1]
                    self.notes += 1
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
        gain, rate_scale = block_controls(self.snapshot.values)
        pool.mix(mix[0], mix[1], 0, n, rate_scale)
        mix *= gain
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
        self._frames += n
        self._blocks += 1

    def _note_params(self, inst: Instrument, bank: SoundBank, note: int, velocity: int):
        """What a note-on plays: (note, class, buffer, gain, pan, rate, group, sustained, loop,
        stop_at), the arguments of ``VoicePool.note_on``; None (counted) for a note no pad
        plays."""
        c = int(inst.note_class[note])
        if c < 0:
            self.unmapped_notes += 1
            self.unmapped_by_note[note] += 1
            return None
        decay = self.snapshot.values[_DECAY]
        length = inst.frame_frames
        stop_at = math.inf if _decay_off(decay) else length * _decay_fraction(decay)
        if inst.sustain:
            buf, loop = bank.loops[c], bank.loop
        else:
            buf, loop = bank.oneshots[c], (0, 0)
        return (note, c, buf, velocity / 127.0, inst.class_pan[c], inst.note_rate[note],
                int(inst.class_group[c]), inst.sustain, loop, stop_at)

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
        """MIDI messages lost to the player (for the status line and summary): shed by the
        router's flood guard, or events its queue (the event ring, or the native mixer's) could
        not take."""
        return self.router.stats.dropped + self.router.ring.dropped

    def unmapped_summary(self) -> str | None:
        """One sentence on the note-ons no pad of the preset plays, or None when every one had a
        pad (render prints it, and play's summary carries it)."""
        if not self.unmapped_notes:
            return None
        counts = self.unmapped_by_note
        notes = ", ".join(f"{n} (x{int(counts[n])})" if counts[n] > 1 else str(n)
                          for n in np.flatnonzero(counts))
        name = self.instrument.name
        plural = "s" if self.unmapped_notes != 1 else ""
        return (f"{self.unmapped_notes} note{plural} had no pad in preset {name!r} and "
                f"{'were' if plural else 'was'} not played: MIDI note{'s' if ',' in notes else ''}"
                f" {notes} (`vae-synth midi-map --preset {name}` shows its pads)")

    def summary(self, seconds: float) -> str:
        dropped = self.dropped_midi
        flood = f", {dropped} MIDI messages dropped in floods" if dropped else ""
        unmapped = self.unmapped_summary()
        return (f"vae-synth: {self.notes} notes, {self.underruns} underruns in {seconds:.1f} s, "
                f"{self.decode_summary()}, preset {self.instrument.name} on "
                f"{self.instrument.device}{flood}" + (f"; {unmapped}" if unmapped else ""))


class _NativeEvents:
    """The router's ring with the native mixer, live: each event is resolved when it arrives
    (the audio side never calls back into Python) and queued for the audio side. pending():
    events queued there; dropped: events its ring or its buffer tokens could not take."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.native = engine.native

    def push(self, kind: int, a: int = 0, b: int = 0) -> bool:
        engine = self.engine
        with self.native.lock:
            inst = engine.instrument
            dropped = self.native.dropped
            engine._dispatch(inst, inst.bank, kind, a, b)
            return self.native.dropped == dropped

    def pending(self) -> int:
        return self.native.pending()

    @property
    def dropped(self) -> int:
        return self.native.dropped

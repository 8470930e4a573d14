"""The native library (native/) through ctypes: the mixer, i.e. the audio thread in C, and the
prototypes of the JACK MIDI input that ``jack_midi.py`` drives.

``native/vae_synth_player.h`` is the contract. Python keeps every decision (which buffer a note
plays, its gain, pan, rate, choke group and decay point, the tapers of the block controls); the
library's PortAudio callback drains a lock-free event ring, mixes with the voice pool and output
stage of ``native/mixer.cpp`` (the same arithmetic as ``voices.py`` and ``output.py``) and never
takes the GIL. ``vae-synth render`` calls the same block function through ctypes, so offline and
live mix through one piece of code.

The library is built by ``scripts/setup.sh`` (one ``g++`` call) into ``native/build/``; where it
is missing or stale the engine falls back to the pure-Python callback and says why.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections import deque
from pathlib import Path

import numpy as np

ABI = 2   # VS_PLAYER_ABI of the header this module speaks
LIBRARY_NAME = "libvae_synth_mixer.so"
ROOT = Path(__file__).resolve().parents[1]   # the repository, in a source checkout
SOURCES = ROOT / "native"
ENV_LIBRARY = "VAE_SYNTH_NATIVE_LIB"   # a library elsewhere (tests, packagers)

NOTE_ON, NOTE_OFF, ALL_OFF, LOOP, LOOPS_SWAP, LOOPS_CLEAR = 1, 2, 3, 4, 5, 6
TOKENS = 16384      # buffers Python may have out at once (voices, loop table, queued notes)
EVENTS = 4096       # event ring capacity
CLASSES = 256       # the loop table's size (a preset's classes)
TIMINGS = 1 << 16   # callback timing ring (~170 s of 128-frame callbacks at 48 kHz)


class _Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("length", ctypes.c_int64), ("owner", ctypes.c_void_p)]


class _Event(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int32), ("note", ctypes.c_int32), ("cls", ctypes.c_int32),
                ("group", ctypes.c_int32), ("sustained", ctypes.c_int32),
                ("token", ctypes.c_int32), ("data", ctypes.c_void_p), ("length", ctypes.c_int64),
                ("loop_start", ctypes.c_int64), ("loop_end", ctypes.c_int64),
                ("gain", ctypes.c_double), ("pan", ctypes.c_double), ("rate", ctypes.c_double),
                ("stop_at", ctypes.c_double)]


class _MixerStats(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int64) for name in
                ("started", "stolen", "choked", "silenced_nonfinite", "active", "released_lost")]


class _Stats(ctypes.Structure):
    _fields_ = [*((name, ctypes.c_int64) for name in
                  ("callbacks", "underflows", "blocks", "frames", "events", "callback_ns",
                   "callback_max_ns", "tokens_held", "released_lost", "timings")),
                ("mixer", _MixerStats)]


class MidiMessage(ctypes.Structure):
    """vs_midi_message of vae_synth_jack_midi.h."""
    _fields_ = [("frame", ctypes.c_uint32), ("size", ctypes.c_uint8),
                ("bytes", ctypes.c_uint8 * 3)]


class MidiInStats(ctypes.Structure):
    """vs_midi_in_stats of vae_synth_jack_midi.h."""
    _fields_ = [(name, ctypes.c_int64) for name in
                ("received", "dropped", "ignored", "malformed", "unreadable", "cycles",
                 "server_gone")]


def library_path() -> Path:
    """Where the library is looked for: $VAE_SYNTH_NATIVE_LIB, else native/build/ of the source
    checkout this package runs from."""
    env = os.environ.get(ENV_LIBRARY)
    return Path(env) if env else SOURCES / "build" / LIBRARY_NAME


_loaded: dict = {}
_load_lock = threading.Lock()


def load_library():
    """(ctypes library, None) or (None, why it cannot be used); loaded once per process."""
    with _load_lock:
        if "result" not in _loaded:
            env = os.environ.get(ENV_LIBRARY)
            _loaded["result"] = load(library_path(), None if env else SOURCES)
        return _loaded["result"]


def load(path: Path, sources: Path | None = None):
    """(ctypes library at ``path``, None) or (None, why not): refused when it is missing, older
    than a source in ``sources`` (a checkout whose native/ changed since the build), or of
    another ABI."""
    if not path.is_file():
        return None, (f"{path} is not built (scripts/setup.sh builds it with a C++ compiler; "
                      f"without one the Python callback mixes)")
    if sources is not None and sources.is_dir():
        built = path.stat().st_mtime
        newer = [p.name for p in sorted(sources.iterdir())
                 if p.suffix in (".cpp", ".h") and p.stat().st_mtime > built]
        if newer:
            return None, (f"{path} is older than {', '.join(newer)}: rebuild it "
                          f"(scripts/setup.sh play or test)")
    try:
        lib = ctypes.CDLL(str(path))
        abi = lib.vs_player_abi()
    except (OSError, AttributeError) as exc:
        return None, f"cannot load {path}: {exc}"
    if abi != ABI:
        return None, f"{path} speaks ABI {abi}, this vae-synth {ABI}: rebuild it"
    p, i32, i64, dbl = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64, ctypes.c_double
    fptr = ctypes.POINTER(ctypes.c_float)
    lib.vs_player_new.restype = p
    lib.vs_player_new.argtypes = [i32] * 8
    lib.vs_player_free.argtypes = [p]
    lib.vs_player_push.argtypes = [p, ctypes.POINTER(_Event)]
    lib.vs_player_pending.argtypes = [p]
    lib.vs_player_set_block_controls.argtypes = [p, dbl, dbl]
    lib.vs_player_set_channels.argtypes = [p, i32]
    lib.vs_player_process.argtypes = [p, p, i64, i32]
    lib.vs_player_released.argtypes = [p, ctypes.POINTER(ctypes.c_int32), i32]
    lib.vs_player_get_stats.argtypes = [p, ctypes.POINTER(_Stats)]
    lib.vs_player_set_cycle_clock.argtypes = [p, p, p]
    lib.vs_player_timings.restype = i64
    lib.vs_player_timings.argtypes = [p, i64, fptr, fptr, i32, ctypes.POINTER(ctypes.c_int64)]
    for name in ("vs_mixer_new", "vs_output_new"):
        getattr(lib, name).restype = p
    # the JACK MIDI input (vae_synth_jack_midi.h; synth/jack_midi.py)
    lib.vs_midi_in_open.restype = p
    lib.vs_midi_in_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p, i32, ctypes.c_char_p, i32]
    lib.vs_midi_in_close.argtypes = [p]
    lib.vs_midi_in_read.argtypes = [p, ctypes.POINTER(MidiMessage), i32, i32]
    lib.vs_midi_in_wake.argtypes = [p]
    lib.vs_midi_in_port_name.restype = ctypes.c_char_p
    lib.vs_midi_in_port_name.argtypes = [p]
    lib.vs_midi_in_sources.restype = i64
    lib.vs_midi_in_sources.argtypes = [p, ctypes.c_char_p, i64]
    lib.vs_midi_in_connect.argtypes = [p, ctypes.c_char_p]
    lib.vs_midi_in_get_stats.argtypes = [p, ctypes.POINTER(MidiInStats)]
    return lib, None


def available() -> tuple[bool, str | None]:
    lib, why = load_library()
    return lib is not None, why


class NativeUnavailable(RuntimeError):
    """``--mixer native`` where the library cannot be loaded; the message says why."""


class NativePlayer:
    """One native player context: voices, output stage, event ring, block controls, tokens.

    Producers (any Python thread) call ``note_on`` / ``note_off`` / ``all_off`` / ``set_loops``
    / ``clear_loops`` under ``lock``; ``reap`` (the decode thread) drops the buffers the audio
    side handed back. ``process`` renders offline; ``stream_callback`` + ``userdata`` open a
    PortAudio stream whose callback never enters Python.
    """

    def __init__(self, voices: int, samplerate: int, max_frames: int, fade_slots: int = 8):
        lib, why = load_library()
        if lib is None:
            raise NativeUnavailable(why)
        self.lib = lib
        self.voices = voices
        self.ptr = lib.vs_player_new(voices, samplerate, max_frames, fade_slots, TOKENS, EVENTS,
                                     CLASSES, TIMINGS)
        if not self.ptr:
            raise NativeUnavailable(f"vs_player_new({voices}, {samplerate}, {max_frames}) failed")
        self.lock = threading.RLock()   # producers: MIDI, keyboard, demo, decode, program loader
        self.owners: list = [None] * TOKENS   # token -> the buffer it keeps alive
        self.free_tokens = deque(range(TOKENS - 1, -1, -1))
        self.dropped = 0                # events the ring or the token pool could not take
        self.sent_loops: list = [None] * CLASSES   # what the loop table holds, by class
        self._event = _Event()
        self._released = (ctypes.c_int32 * 1024)()
        self._stats = _Stats()
        self.graveyard = self   # what the decode thread reaps (synth.voices.Graveyard's place)

    def __del__(self):
        ptr, self.ptr = getattr(self, "ptr", None), None
        if ptr:
            self.lib.vs_player_free(ptr)

    # -- producers ---------------------------------------------------------------------------
    def _token(self, buffer: np.ndarray) -> int:
        if not self.free_tokens:
            self.reap()             # the reaper fell behind (a note flood): catch up here
        if not self.free_tokens:
            return -1
        token = self.free_tokens.pop()
        self.owners[token] = buffer
        return token

    def _push(self, token: int = -1) -> bool:
        if self.lib.vs_player_push(self.ptr, ctypes.byref(self._event)):
            return True
        self.dropped += 1
        if token >= 0:              # never reached the audio side: the token is still ours
            self.owners[token] = None
            self.free_tokens.append(token)
        return False

    def note_on(self, note: int, cls: int, buffer: np.ndarray, gain: float, pan: float,
                rate: float, group: int, sustained: bool, loop: tuple[int, int],
                stop_at: float) -> bool:
        """Queue a voice start (as ``VoicePool.note_on``); buffer: [frames] float32."""
        buffer = np.ascontiguousarray(buffer, np.float32)   # the bank's own array: no copy
        token = self._token(buffer)
        if token < 0:
            self.dropped += 1
            return False
        e = self._event
        e.kind, e.note, e.cls, e.group, e.sustained, e.token = (
            NOTE_ON, note, cls, group, int(sustained), token)
        e.data, e.length = buffer.ctypes.data, len(buffer)
        e.loop_start, e.loop_end = loop
        e.gain, e.pan, e.rate, e.stop_at = gain, pan, rate, stop_at
        return self._push(token)

    def _simple(self, kind: int, note: int = 0, cls: int = 0) -> bool:
        e = self._event
        e.kind, e.note, e.cls, e.token, e.data, e.length = kind, note, cls, -1, None, 0
        return self._push()

    def note_off(self, note: int) -> bool:
        return self._simple(NOTE_OFF, note)

    def all_off(self) -> bool:
        return self._simple(ALL_OFF)

    def set_loops(self, loops: list) -> None:
        """The loops of a new bank ([C] loop buffers): the table takes the classes that changed,
        then sustained voices crossfade to theirs (as ``VoicePool.swap_loops``)."""
        for c, loop in enumerate(loops[:CLASSES]):
            if loop is None or loop is self.sent_loops[c]:
                continue
            loop = np.ascontiguousarray(loop, np.float32)
            token = self._token(loop)
            e = self._event
            e.kind, e.cls, e.token, e.data, e.length = LOOP, c, token, loop.ctypes.data, len(loop)
            self.sent_loops[c] = loop if token >= 0 and self._push(token) else None
        self._simple(LOOPS_SWAP, cls=min(len(loops), CLASSES))

    def clear_loops(self) -> None:
        self.sent_loops = [None] * CLASSES
        self._simple(LOOPS_CLEAR)

    def set_block_controls(self, gain: float, rate_scale: float) -> None:
        self.lib.vs_player_set_block_controls(self.ptr, gain, rate_scale)

    def pending(self) -> int:
        return self.lib.vs_player_pending(self.ptr)

    # -- the reaper --------------------------------------------------------------------------
    def reap(self) -> int:
        """Drop the buffers the audio side let go of (never on the audio thread); returns how
        many tokens came back."""
        total = 0
        while True:
            n = self.lib.vs_player_released(self.ptr, self._released, len(self._released))
            for i in range(n):
                token = self._released[i]
                self.owners[token] = None
                self.free_tokens.append(token)
            total += n
            if n < len(self._released):
                return total

    # -- audio -------------------------------------------------------------------------------
    def process(self, out: np.ndarray) -> None:
        """Take the queued events and mix into out [frames, channels] float32 (C order)."""
        if out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError("out must be C-contiguous float32 [frames, channels]")
        self.lib.vs_player_process(self.ptr, out.ctypes.data, out.shape[0], out.shape[1])

    def stream_callback(self, sd):
        """The PortAudio callback and its userdata as the cffi objects sounddevice takes."""
        address = ctypes.cast(self.lib.vs_player_stream_callback, ctypes.c_void_p).value
        return (sd._ffi.cast("PaStreamCallback *", address),
                sd._ffi.cast("void *", self.ptr))

    def set_channels(self, channels: int) -> None:
        self.lib.vs_player_set_channels(self.ptr, channels)

    # -- statistics --------------------------------------------------------------------------
    def stats(self) -> _Stats:
        """A fresh copy of the audio side's counters (``_Stats`` fields)."""
        self.lib.vs_player_get_stats(self.ptr, ctypes.byref(self._stats))
        return self._stats

    def set_cycle_clock(self, function_address: int | None, arg_address: int | None) -> None:
        """Measurements: a C function ``uint32_t f(void*)`` giving the frames since the current
        cycle began (libjack's ``jack_frames_since_cycle_start``) and its argument."""
        self.lib.vs_player_set_cycle_clock(self.ptr, function_address, arg_address)

    def timings(self, since: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
        """(start_us [n], duration_us [n], next index): the callbacks recorded from ``since`` on
        that the ring still holds; start_us is -1 without a cycle clock."""
        start = np.zeros(TIMINGS, np.float32)
        duration = np.zeros(TIMINGS, np.float32)
        first = ctypes.c_int64()
        fptr = ctypes.POINTER(ctypes.c_float)
        end = self.lib.vs_player_timings(self.ptr, since, start.ctypes.data_as(fptr),
                                         duration.ctypes.data_as(fptr), TIMINGS,
                                         ctypes.byref(first))
        n = end - first.value
        return start[:n], duration[:n], end


class NativePool:
    """What the engine and the status line ask of a voice pool, answered by the native one."""

    def __init__(self, player: NativePlayer):
        self.player = player
        self.n = player.voices
        self.graveyard = player

    def active_count(self) -> int:
        return int(self.player.stats().mixer.active)

    def __getattr__(self, name):   # started, stolen, choked, silenced_nonfinite
        if name in ("started", "stolen", "choked", "silenced_nonfinite"):
            return int(getattr(self.player.stats().mixer, name))
        raise AttributeError(name)

"""The player's JACK MIDI input: native code in JACK's thread, the router in a Python thread.

``native/jack_midi.cpp`` (in the native library, ``vae_synth_jack_midi.h``) owns the JACK
client ``vae-synth`` with the input port ``midi_in``. Its process callback reads each event with
the result checked, copies channel messages onto a lock-free ring and wakes the reader thread
here, which hands them to ``MidiRouter.receive`` (the flood guard, then the router). JACK's
thread never runs Python, so the MIDI client is never late for the GIL; a reader that falls
behind loses messages off a full ring, counted as dropped. ``MidiInputs`` (rtmidi) stays the
input of every other MIDI API, and of JACK where the native library is not built.

Named ports (``--midi-in NAME``) are connections to the one input port, so a controller that
disappears and comes back is simply connected again, with the audio running on.
"""

from __future__ import annotations

import ctypes
import os
import threading

from vae_synth.synth.midi import CLIENT_NAME, VIRTUAL_PORT, MidiRouter, PortPresence, ports_to_open
from vae_synth.synth.native import MidiInStats, MidiMessage, NativeUnavailable, load_library

RING = 4096        # messages JACK's thread may queue ahead of the reader (~40 ms of a flood)
# The reader's real-time priority where the system allows it (SCHED_FIFO; JACK's own threads run
# at 60-90): above every ordinary thread, so that a busy machine does not delay a note past the
# next cycle. rtmidi's callback ran in JACK's real-time thread itself.
READER_PRIORITY = 10
BATCH = 256        # messages taken off the ring per read
WAIT_MS = 200      # the reader's longest sleep without a message (it checks for close)


class JackMidiInputs:
    """The native JACK MIDI input feeding one router; the interface of ``midi.MidiInputs``."""

    def __init__(self, router: MidiRouter, port: str | None = None,
                 client_name: str = CLIENT_NAME):
        self.router = router
        self.spec = port
        self.client_name = client_name
        self.messages: list[str] = []
        self.presence: PortPresence | None = None   # the named ports, when not virtual
        self.server_gone_said = False
        self._lib = None
        self._handle = None
        self._names: list[str] = []
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._counted = MidiInStats()   # what was already added to the router's counts
        self.reader_realtime: bool | None = None   # set once the reader runs

    def open(self) -> None:
        lib, why = load_library()
        if lib is None:
            raise NativeUnavailable(why)
        error = ctypes.create_string_buffer(512)
        handle = lib.vs_midi_in_open(self.client_name.encode(), VIRTUAL_PORT.encode(), RING, error,
                                     len(error))
        if not handle:
            raise RuntimeError(f"cannot open MIDI API jack: {error.value.decode(errors='replace')}")
        self._lib, self._handle = lib, handle
        self._reader = threading.Thread(target=self._read, name="jack-midi-in", daemon=True)
        self._reader.start()
        wanted = ports_to_open(self.spec, self.sources())   # RuntimeError: the caller closes
        if not wanted:
            self._names = [f"{self.port_name()} (virtual)"]
            return
        for name in wanted:
            self._connect(name)
        self._names = wanted
        self.presence = PortPresence(wanted, self.messages)

    def port_name(self) -> str:
        return self._lib.vs_midi_in_port_name(self._handle).decode()

    def sources(self) -> list[str] | None:
        """The graph's MIDI output ports other than ours; None when the server is gone."""
        size = 4096
        while True:
            buffer = ctypes.create_string_buffer(size)
            needed = self._lib.vs_midi_in_sources(self._handle, buffer, size)
            if needed < 0:
                return None
            if needed < size:
                text = buffer.value.decode(errors="replace")
                return text.split("\n") if text else []
            size = needed + 1

    def _connect(self, name: str) -> bool:
        result = self._lib.vs_midi_in_connect(self._handle, name.encode())
        if result != 0:
            self.messages.append(f"cannot connect MIDI port {name} (JACK error {result})")
        return result == 0

    def poll(self, pause=None) -> None:
        """Say when a named port disappears; connect it again when it is back (call ~1/s).
        ``pause`` is not needed (connecting does not stop the audio) and is ignored."""
        if self._handle is None:
            return
        present = self.sources()
        if present is None:
            if not self.server_gone_said:
                self.server_gone_said = True
                self.messages.append("the JACK server stopped: no more MIDI in")
            return
        if self.presence is None:
            return
        for name in self.presence.update(present):
            if self._connect(name):
                self.presence.back(name)

    def names(self) -> list[str]:
        return list(self._names)

    def stats(self) -> MidiInStats:
        stats = MidiInStats()
        if self._handle is not None:
            self._lib.vs_midi_in_get_stats(self._handle, ctypes.byref(stats))
        return stats

    def close(self) -> None:
        if self._handle is None:
            return
        self._stop.set()
        self._lib.vs_midi_in_wake(self._handle)
        if self._reader is not None:
            self._reader.join(timeout=5.0)
        if self._reader is not None and self._reader.is_alive():
            return  # a reader stuck in the router: leave the client open rather than free it
        self._lib.vs_midi_in_close(self._handle)
        self._handle = None

    # -- the reader thread -------------------------------------------------------------------
    def _read(self) -> None:
        self.reader_realtime = _realtime_thread(READER_PRIORITY)
        lib, handle, router = self._lib, self._handle, self.router
        batch = (MidiMessage * BATCH)()
        while not self._stop.is_set():
            count = lib.vs_midi_in_read(handle, batch, BATCH, WAIT_MS)  # without the GIL
            for i in range(count):
                message = batch[i]
                router.receive(list(message.bytes[:message.size]))
            self._count_losses()

    def _count_losses(self) -> None:
        """Adds what the native side dropped (full ring) or could not parse to the router's
        counts, so that the status line and the summary show it."""
        stats = self.stats()
        dropped = stats.dropped - self._counted.dropped
        malformed = stats.malformed + stats.unreadable - (self._counted.malformed
                                                          + self._counted.unreadable)
        ignored = stats.ignored - self._counted.ignored
        if dropped or malformed or ignored:
            router_stats = self.router.stats
            router_stats.dropped += dropped
            router_stats.malformed += malformed
            router_stats.ignored += ignored
            self._counted = stats


def _realtime_thread(priority: int) -> bool:
    """Gives the calling thread SCHED_FIFO at ``priority`` (Linux: pid 0 is the calling thread);
    False where the system does not allow it (no rtprio limit, another OS)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
        return True
    except (AttributeError, OSError):
        return False

"""The native JACK MIDI input (synth/jack_midi.py, native/jack_midi.cpp) on the real JACK rig."""

from __future__ import annotations

import ctypes
import sys
import time

import pytest
from fixtures_jack import Flooder, open_jack_midi, require_native
from vae_synth.synth import events as ev
from vae_synth.synth.midi import MidiRouter, wait_for
from vae_synth.synth.params import ControlSnapshot

pytestmark = pytest.mark.jack


@pytest.fixture
def router():
    return MidiRouter(ev.EventRing(), ControlSnapshot(), {1: "morph"})


@pytest.fixture
def jack_midi_in(jack_server, router):
    require_native()
    inputs = open_jack_midi(router)
    yield inputs
    inputs.close()


def _ring_events(ring) -> list[tuple]:
    found = []
    while (event := ring.pop()) is not None:
        found.append(tuple(event))
    return found


def test_notes_and_controllers_reach_the_router_and_the_rest_is_counted(
        jack_server, jack_probe, router, jack_midi_in):
    assert jack_midi_in.port_name() == "vae-synth:midi_in"
    assert jack_midi_in.names() == ["vae-synth:midi_in (virtual)"]
    sender = jack_probe(name="sender", channels=1)
    sender.connect_midi(jack_midi_in.port_name())
    time.sleep(0.05)
    for message in ([0x99, 36, 100],            # note on, channel 10
                    [0xB0, 1, 64],              # CC 1 -> morph
                    [0xF0, 0x7E, 1, 2, 0xF7],   # sysex: ignored in JACK's thread
                    [0xF8], [0xFE],             # clock, active sensing: ignored there too
                    [0xB0, 1, 2, 3],            # four bytes, not sysex: malformed there
                    [0x40, 1],                  # running status: CC 64 (unmapped)
                    [0x89, 36, 0]):             # note off
        sender.send(message)
        sender.wait_sent()
    assert wait_for(lambda: router.stats.messages >= 4, timeout=3.0), vars(router.stats)
    time.sleep(0.1)
    stats = jack_midi_in.stats()
    assert (stats.received, stats.ignored, stats.malformed, stats.dropped) == (4, 3, 1, 0)
    assert stats.unreadable == 0 and stats.cycles > 0
    assert vars(router.stats) == {"messages": 4, "notes": 1, "controls": 2, "ignored": 4,
                                  "malformed": 1, "dropped": 0}
    assert router.snapshot.get("morph") == pytest.approx(64 / 127)
    assert _ring_events(router.ring) == [(ev.NOTE_ON, 36, 100), (ev.NOTE_OFF, 36, 0)]


def vars_of(stats) -> dict:
    return {name: getattr(stats, name) for name, _ in stats._fields_}


def _stats_holding_the_gil(lib, handle):
    """The input's counters read through a ctypes call that keeps the GIL (PyDLL)."""
    from vae_synth.synth.native import MidiInStats

    stats = MidiInStats()
    lib.vs_midi_in_get_stats(handle, ctypes.byref(stats))
    return stats


def test_jack_keeps_calling_the_input_while_python_holds_the_gil_and_every_message_is_counted(
        jack_server, router, jack_midi_in):
    """RtMidi's input ran Python in JACK's thread: with the GIL taken the MIDI client was late.
    The native one goes on queueing; what a full ring cannot take is dropped and counted."""
    from vae_synth.synth.jack_midi import RING
    from vae_synth.synth.native import MidiInStats, library_path

    gil_keeping = ctypes.PyDLL(str(library_path()))
    gil_keeping.vs_midi_in_get_stats.argtypes = [ctypes.c_void_p, ctypes.POINTER(MidiInStats)]
    rate, block = jack_server.samplerate, jack_server.blocksize
    per_second, hold_s = 10_000, 0.8
    flooder = Flooder(jack_server, jack_midi_in.port_name(), per_second=per_second, seconds=2.0,
                      note_at=1.8)
    flooder.start()
    time.sleep(0.3)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(30.0)     # no other Python thread runs while this one spins
    try:
        before = _stats_holding_the_gil(gil_keeping, jack_midi_in._handle)
        started = time.monotonic()
        while time.monotonic() - started < hold_s:
            pass
        after = _stats_holding_the_gil(gil_keeping, jack_midi_in._handle)
        held = time.monotonic() - started
    finally:
        sys.setswitchinterval(interval)
    sent = flooder.wait()
    time.sleep(0.1)
    final = jack_midi_in.stats()                     # the flood is over: nothing more comes
    arrived = final.received + final.dropped         # what JACK delivered to the input
    assert wait_for(lambda: router.stats.controls + router.stats.notes + router.stats.dropped
                    >= arrived, timeout=5.0), (arrived, str(vars(router.stats)))
    cycles = after.cycles - before.cycles
    queued = after.received - before.received
    print(f"GIL held {held:.2f} s: {cycles} JACK cycles of the input ({held * rate / block:.0f} "
          f"expected), {queued} messages queued, {after.dropped - before.dropped} dropped; flood "
          f"{sent} sent, {arrived} arrived; router {vars(router.stats)}")
    assert cycles >= 0.5 * held * rate / block       # JACK's thread never waited for Python
    assert queued >= min(RING, 0.5 * held * per_second) - 64   # and queued what came meanwhile
    assert final.dropped > 0                         # 8,000 messages do not fit 4,096 slots ...
    assert router.stats.dropped >= final.dropped     # ... and the router counts them
    # Every message that reached the input is counted once, as played or as dropped. On a loaded
    # machine JACK itself may skip a cycle of the input (the server's loss, not ours): a few.
    assert router.stats.controls + router.stats.notes + router.stats.dropped == arrived
    assert arrived >= 0.99 * (sent + 1)
    assert router.stats.notes == 1


def test_a_dead_server_is_said_once_and_the_input_closes_at_once(jack_server, router,
                                                                 jack_midi_in):
    jack_server.process.kill()
    jack_server.process.wait(timeout=5)
    assert wait_for(lambda: jack_midi_in.stats().server_gone == 1, timeout=5.0)
    jack_midi_in.poll()
    jack_midi_in.poll()
    assert jack_midi_in.messages == ["the JACK server stopped: no more MIDI in"]
    started = time.monotonic()
    jack_midi_in.close()
    assert time.monotonic() - started < 2.0


def test_no_server_is_a_clear_error(tmp_path, monkeypatch, router):
    from vae_synth.synth.jack_midi import JackMidiInputs

    require_native()
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "vae-synth-no-such-server")
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    inputs = JackMidiInputs(router, "virtual")
    with pytest.raises(RuntimeError, match="cannot open MIDI API jack: no JACK server is running"):
        inputs.open()
    inputs.close()


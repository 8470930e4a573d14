"""Fixtures of the engine's JACK tests."""

import pytest
from synth_rig import SharedMidiPort


@pytest.fixture(scope="module")
def midi_port(jack_server):
    """The engine's virtual MIDI input, opened before any probe exists (see SharedMidiPort)."""
    port = SharedMidiPort()
    yield port
    port.close()

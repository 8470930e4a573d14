"""Fixtures of the engine's tests: the mixers, the JACK tests' MIDI port."""

import pytest
from synth_rig import MIXINGS, SharedMidiPort, require_native


@pytest.fixture(params=MIXINGS)
def mixing(request) -> str:
    """Each mixer in turn: the native one (C audio callback) and the pure-Python one."""
    if request.param == "native":
        require_native()
    return request.param


@pytest.fixture(scope="module")
def midi_port(jack_server):
    """The engine's virtual MIDI input, opened before any probe exists (see SharedMidiPort)."""
    port = SharedMidiPort()
    yield port
    port.close()

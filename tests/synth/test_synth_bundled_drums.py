"""The bundled drums preset played live through the JACK rig: pads sound, each its own class."""

from __future__ import annotations

import time

import numpy as np
import pytest
from synth_rig import connect, live_engine, spectral_centroid
from vae_synth.synth.preset import resolve_preset

pytestmark = pytest.mark.jack



def test_bundled_drums_pads_sound_and_differ(jack_server, jack_probe):
    """Kick (36) then hi-hat (42), 0.4 s apart: both are heard within two blocks of their notes,
    at a musical level, and the hi-hat is brighter than the kick."""
    rate, block = jack_server.samplerate, jack_server.blocksize
    with live_engine(resolve_preset("drums"), jack_server) as engine:
        sender, recorder = connect(jack_probe)
        recorder.start_recording()
        time.sleep(0.05)
        hits = {}
        for note in (36, 42):
            sender.send([0x99, note, 120])
            sender.wait_sent()
            hits[note] = sender.sent[-1][0]
            time.sleep(0.4)
        recording = recorder.stop_recording()
        assert engine.notes == 2
    left = recording.audio[:, 0]
    segments = {}
    for note, frame in hits.items():
        start = frame - recording.start_frame
        window = left[start - block:start + int(0.3 * rate)]
        above = np.flatnonzero(np.abs(window) > 1e-3)
        assert above.size, f"note {note} was never heard"
        assert above[0] - block <= 2 * block, f"note {note} heard {above[0] - block} frames late"
        segments[note] = window[above[0]:]
    for note, segment in segments.items():
        level_db = 20 * np.log10(np.sqrt(np.mean(segment[: rate // 10] ** 2)))
        assert -40 < level_db < 0, f"note {note}: {level_db:.1f} dBFS"
    assert spectral_centroid(segments[42], rate) > 2 * spectral_centroid(segments[36], rate)

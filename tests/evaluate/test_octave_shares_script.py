"""scripts/octave_shares.py: each class's energy per octave band, clips against reconstructions."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from fixtures_scripts import SCRIPTS, load_script

SCRIPT = SCRIPTS / "octave_shares.py"


def test_a_lump_shows_in_its_own_band_against_the_clips_total():
    """A 55 Hz tone sits in 40-80 Hz; a 'reconstruction' of it as a 28 Hz tone at half the
    amplitude puts its energy in 20-40 Hz, 6 dB under the clip's total."""
    script = load_script("octave_shares")
    sr, n = 44100, 32768
    t = np.arange(n) / sr
    boom, lump = np.sin(2 * np.pi * 55 * t)[None], 0.5 * np.sin(2 * np.pi * 28 * t)[None]
    edges = script.octave_edges(sr)
    assert edges[:4] == [0.0, 20.0, 40.0, 80.0] and edges[-1] == 22050.0
    own = script.octave_shares(boom, sr)[0]
    assert own[2] == pytest.approx(0.0, abs=0.05) and own[1] < -25 and own[3] < -25
    against = script.octave_shares(lump, sr, boom)[0]
    assert against[1] == pytest.approx(-6.02, abs=0.05) and against[2] < -25


def test_prints_clips_and_reconstructions_per_class():
    out = subprocess.run([sys.executable, str(SCRIPT), "drums",
                          "synthetic:drums?n=24&split=holdout:0.25"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = re.findall(r"^\| (\w+), (clips|reconstructions) \| (\d+) \| (.*) \|$", out.stdout, re.M)
    assert len(rows) == 8 and {r[0] for r in rows} == {"hihat", "kick", "snare", "tom"}
    for _, _, n, cells in rows:
        values = [float(v) for v in cells.split(" | ")]
        assert n == "4" and len(values) == 11 and all(-120 <= v <= 1 for v in values)

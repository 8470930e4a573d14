"""scripts/drum_clip_stats.py: a drum source's pitch, brightness, air and ring per class."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from fixtures_scripts import SCRIPTS, load_script


def test_figures_of_known_clips():
    """A 60 Hz sine decaying with tau 50 ms rings 2.3 tau to -20 dB and has no air; noise
    above 12 kHz is nearly all air, with its centroid above 12 kHz."""
    script = load_script("drum_clip_stats")
    sr, n = 44100, 32768
    t = np.arange(n) / sr
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-t / 0.05)
    hiss = np.fft.irfft(np.where(np.fft.rfftfreq(n, 1 / sr) > 12000, 1.0, 0.0)
                        * np.exp(2j * np.pi * np.random.default_rng(0).random(n // 2 + 1)), n)
    pitch, centroid, air, ring = script.clip_figures(np.stack([kick, hiss]), sr).T
    assert pitch[0] == pytest.approx(60, abs=2)
    assert ring[0] == pytest.approx(0.05 * np.log(10), abs=0.01)
    assert air[0] < 1e-4 and air[1] > 0.95 and centroid[1] > 12000


def test_table_over_a_synthetic_source_and_a_bad_one(tmp_path):
    script = load_script("drum_clip_stats")
    rows = script.table(["synthetic:drums?n=8&split=none"], 22050, 4096).splitlines()
    assert len(rows) == 2 + 4 and rows[2].startswith("| `synthetic:drums?n=8&split=none` | ")
    assert [r.split(" | ")[1] for r in rows[2:]] == ["kick", "snare", "tom", "hihat"]
    run = subprocess.run([sys.executable, str(SCRIPTS / "drum_clip_stats.py"),
                          f"folder:{tmp_path / 'none'}"], capture_output=True, text=True)
    assert run.returncode == 2 and "is not a folder" in run.stderr

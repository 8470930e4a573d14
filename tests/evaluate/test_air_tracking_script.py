"""scripts/air_tracking.py: per-clip air of real clips and their reconstructions, and the fit."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from fixtures_scripts import SCRIPTS, load_script

SCRIPT = SCRIPTS / "air_tracking.py"


def test_fit_reads_a_decoder_that_follows_the_air_and_one_that_does_not():
    fit = load_script("air_tracking").fit
    real = np.array([-54.0, -34.0, -23.0, -19.0, -12.0])
    assert fit(real, real - 2.0) == pytest.approx((1.0, 1.0))
    slope, _ = fit(real, -20.0 + 0.1 * (real + 23.0))
    assert slope == pytest.approx(0.1)
    assert np.isnan(fit(real[:2], real[:2])[0])


def test_prints_every_clip_of_the_class_with_its_reconstruction():
    out = subprocess.run([sys.executable, str(SCRIPT), "drums",
                          "synthetic:drums?n=24&split=holdout:0.25", "--class", "snare"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = re.findall(r"^  (train|held-out) +(-?\d+\.\d) -> +(-?\d+\.\d)  \(([+-]\d+\.\d)\)$",
                      out.stdout, re.M)
    assert len(rows) == 6 and {r[0] for r in rows} == {"train", "held-out"}  # 24 clips / 4 classes
    for _, real, recon, diff in rows:
        assert -120 < float(real) < 0 and -120 < float(recon) < 0
        assert float(diff) == pytest.approx(float(recon) - float(real), abs=0.11)
    summary = re.search(r"^train: 4 clips, slope -?\d+\.\d\d, correlation -?\d\.\d\d, "
                        r"median offset ([+-]\d+\.\d) dB$", out.stdout, re.M)
    assert summary, out.stdout
    train_diffs = [float(r[2]) - float(r[1]) for r in rows if r[0] == "train"]
    assert float(summary[1]) == pytest.approx(np.median(train_diffs), abs=0.11)


def test_level_measure_reads_the_rms_level_of_clip_and_reconstruction():
    """--measure level: the header says so, and each row's real figure is the clip's RMS dB."""
    script = load_script("air_tracking")
    clip = (0.1 * np.sin(np.linspace(0, 200, 4096)))[None].astype(np.float32)   # -23.0 dB RMS
    real, recon = script.pairs(lambda x: (x[:, :2], None), lambda mu: 0.5 * clip, clip, 44100,
                               script.level_db)
    assert real == pytest.approx([-23.0], abs=0.05) and recon - real == pytest.approx([-6.02],
                                                                                        abs=0.01)
    out = subprocess.run([sys.executable, str(SCRIPT), "drums",
                          "synthetic:drums?n=24&split=holdout:0.25", "--class", "kick",
                          "--measure", "level"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("kick: RMS level, dB (real -> reconstruction)")
    levels = [float(v) for v in re.findall(r"^  (?:train|held-out) +(-?\d+\.\d) ->", out.stdout, re.M)]
    assert len(levels) == 6 and all(-40 < v < 0 for v in levels)


def test_an_unknown_class_is_a_clear_error():
    out = subprocess.run([sys.executable, str(SCRIPT), "drums", "synthetic:drums?n=8&split=none",
                          "--class", "cowbell"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "no clips of class 'cowbell'" in out.stderr

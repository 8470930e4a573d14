"""scripts/dist_reference.py: the centroid dist of a real take, on synthesised drums."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dist_reference.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=300)


def test_prints_the_reference_per_source_and_class():
    out = _run("synthetic:drums?n=40&split=holdout:4", "--sample-rate", "22050",
               "--frame-length", "4096")
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    m = re.search(r"a real take ([+-]\d+\.\d\d) ± (\d+\.\d\d)", line)
    assert m, line
    per_class = re.findall(r"(kick|snare|tom|hihat) ([+-]\d+\.\d\d)", line)
    assert [name for name, _ in per_class] == ["kick", "snare", "tom", "hihat"]
    # the headline is the mean of the per-class means (thesis Table 5.5's average row)
    mean = sum(float(v) for _, v in per_class) / 4
    assert abs(mean - float(m.group(1))) < 0.01
    # a typical take of the class is nearer its held-out clips than they are to each other
    assert float(m.group(1)) < 0


def test_a_source_without_held_out_clips_is_a_clear_error():
    out = _run("synthetic:drums?n=12&split=none", "--sample-rate", "22050", "--frame-length", "4096")
    assert out.returncode == 2
    assert "needs both training and held-out clips" in out.stderr

"""The soak's verdicts are computed from its figures: the native mixer against the trivial
client (underrun flags, late cycles, the MIDI clients' late cycles), the memory bound and the output."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import bench_soak  # noqa: E402


def _soak(native_underruns: int, native_late: int, python_end_mb: float) -> dict:
    return {
        "clients": {"native": {"late": native_late, "underruns": native_underruns,
                               "midi_late": 3293},
                    "python": {"late": 20, "underruns": 300, "midi_late": 4000},
                    "trivial": {"late": 12, "underruns": 236, "midi_late": 2530}},
        "engines": {"native": {"rss": {"1_min_mb": 100.0, "end_mb": 101.2}, "peak": 0.67,
                               "nonfinite_samples": 0},
                    "python": {"rss": {"1_min_mb": 100.0, "end_mb": python_end_mb},
                               "peak": 0.5, "nonfinite_samples": 0}}}


def test_the_goal_is_met_or_missed_by_how_much():
    lines = bench_soak.goal_lines(_soak(237, 10, 101.0))
    assert ("(a) PortAudio underrun flags misses it by 1 (0.4%; 237 against 236; within counting "
            "noise, 2√n = 31)") in lines[0]
    assert "(b) late audio cycles meets it (10 against 12)" in lines[0]
    assert "MIDI client's late cycles misses it by 763 (30.2%; 3293 against 2530; beyond" in lines[0]
    assert lines[1].startswith("native engine: RSS +1.2 MB from the first minute to the end, "
                               "within the bound of 8 MB; output peak 0.67 (≤ 1), 0 NaN")
    lines = bench_soak.goal_lines(_soak(200, 12, 120.0))
    assert "(a) PortAudio underrun flags meets it (200 against 236)" in lines[0]
    assert "python engine: RSS +20.0 MB from the first minute to the end, beyond the bound" \
        in lines[2]

"""scripts/bars_over_runs.py: several evaluations against issue 20's bars (evaluate/bars.py)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import vae_synth.presets
from fixtures_scripts import SCRIPTS
from vae_synth.evaluate import bars

SCRIPT = SCRIPTS / "bars_over_runs.py"
PRESETS = Path(vae_synth.presets.__file__).parent


def _run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def _row(out: str, key: str) -> list[str]:
    line = next(ln for ln in out.splitlines() if ln.startswith(f"| `{key}`"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_the_bundled_drums_meet_every_bar():
    metrics = json.loads((PRESETS / "drums" / "evaluation.json").read_text())
    assert bars.failures(metrics, bars.FULLBAND_DRUMS) == []
    out = _run(PRESETS / "drums" / "evaluation.json")
    assert out.returncode == 0, out.stdout + out.stderr
    assert len(re.findall(r"\| 1 / 1 \|", out.stdout)) == len(bars.FULLBAND_DRUMS)
    assert "Every bar met by 1 of 1 runs: drums." in out.stdout


def test_a_run_that_misses_is_marked_counted_and_read_in_the_median(tmp_path):
    good = json.loads((PRESETS / "drums" / "evaluation.json").read_text())
    bad = copy.deepcopy(good)
    bad["per_class"]["snare"]["high_band"]["centre_vs_real_db"] = 5.3
    bad["per_class"]["tom"]["level_db"] = -4.9
    for name, metrics in (("d0", good), ("d1", bad)):
        (tmp_path / name / "eval").mkdir(parents=True)
        (tmp_path / name / "eval" / "metrics.json").write_text(json.dumps(metrics))
    assert bars.failures(bad, bars.FULLBAND_DRUMS) == [
        "per_class.tom.level_db = -4.900, must be ± 3.0",
        "per_class.snare.high_band.centre_vs_real_db = 5.300, must be ± 3.0"]
    out = _run(tmp_path / "d0" / "eval", tmp_path / "d1" / "eval" / "metrics.json")
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.splitlines()[0].startswith("| bar | d0 | d1 |")
    snare = _row(out.stdout, "per_class.snare.high_band.centre_vs_real_db")
    good_air = good["per_class"]["snare"]["high_band"]["centre_vs_real_db"]
    assert snare[1:] == [f"{good_air:.2f}", "5.30 ✗", "1 / 2",
                         f"{(good_air + 5.3) / 2:.2f}" + (" ✗" if (good_air + 5.3) / 2 > 3 else "")]
    assert _row(out.stdout, "recon_ratio")[3] == "2 / 2"
    assert "Every bar met by 1 of 2 runs: d0." in out.stdout


def test_a_figure_a_run_lacks_is_a_miss_and_bad_input_is_a_clear_error(tmp_path):
    out = _run(PRESETS / "drums-22k" / "evaluation.json")  # 22.05 kHz: no pads' air above 11 kHz
    assert out.returncode == 1
    assert _row(out.stdout, "per_class.snare.high_band.pad_centre_vs_real_db")[1:3] == ["–", "0 / 1"]
    out = _run(tmp_path / "nothing")
    assert out.returncode == 2 and "nothing not found" in out.stderr
    (tmp_path / "empty").mkdir()
    out = _run(tmp_path / "empty")
    assert out.returncode == 2 and "empty/metrics.json not found" in out.stderr
    (tmp_path / "broken.json").write_text("{")
    out = _run(tmp_path / "broken.json")
    assert out.returncode == 2 and "is not JSON" in out.stderr

"""BENCHMARKS.md is generated from bench/results/*.json by bench/report.py, and the records carry
their command, date and machine (bench/README.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import record  # noqa: E402
import report  # noqa: E402


def test_benchmarks_md_is_what_the_records_give():
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "report.py"), "--check"],
                          capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    records = report.load_records()
    assert [r["benchmark"] for r in records][:4] == ["train", "decode", "engine", "presets"]
    text = (REPO / "BENCHMARKS.md").read_text()
    for r in records:
        assert f"## {r['title']}" in text and f"Command: `{r['command']}`, {r['date']}" in text


def test_a_recorded_benchmark_lands_in_the_file(tmp_path):
    results, target = tmp_path / "results", tmp_path / "BENCHMARKS.md"
    path = record.write_record("speed", title="Speed of a thing", about="What is timed.",
                               body="| case | ms |\n|---|---|\n| one | 1.50 |",
                               packages=("numpy", "no-such-package"), load_start=0.5,
                               command=record.command_line(["bench/bench_speed.py", "--runs",
                                                            "9"]),
                               folder=results)
    saved = json.loads(path.read_text())
    assert saved["command"] == "python bench/bench_speed.py --runs 9"
    machine = saved["machine"]
    assert machine["cores"] >= 1 and machine["packages"]["no-such-package"] is None
    assert machine["packages"]["numpy"] and machine["load_average"][0] == 0.5
    args = ["--results", str(results), "--target", str(target)]
    assert report.main(["--check", *args]) == 1  # not written yet
    assert report.main(args) == 0 and report.main(["--check", *args]) == 0
    text = target.read_text()
    assert "## Speed of a thing\n\nWhat is timed.\n\nCommand: `python bench/bench_speed.py " in text
    assert f"{machine['cores']} cores" in text and "load average 0.5 at the start" in text
    assert text.endswith("| one | 1.50 |\n")


def test_a_record_without_its_command_is_refused(tmp_path, capsys):
    (tmp_path / "bad.json").write_text(json.dumps(
        {"benchmark": "bad", "title": "t", "date": "2026-12-02 10:00 UTC",
         "machine": {"description": "here"}, "body": "x"}))
    assert report.main(["--results", str(tmp_path), "--target", str(tmp_path / "B.md")]) == 2
    assert "bad.json: missing command" in capsys.readouterr().err
    assert not (tmp_path / "B.md").exists()

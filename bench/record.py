"""Benchmark records: what a bench script measured, with its command, date and machine.

A script that measures figures for BENCHMARKS.md ends with::

    from record import write_record            # bench/ is on sys.path when a script runs
    write_record("presets", title="...", about="...", body=markdown_of_the_figures,
                 packages=("onnxruntime",), load_start=load_at_start)

which writes ``bench/results/presets.json``; ``python bench/report.py`` then rebuilds
BENCHMARKS.md from every record (bench/README.md). A record is plain JSON:

    {"benchmark": "presets", "title": "...", "order": 40,
     "command": "python bench/bench_presets.py --runs 60 --record",
     "date": "2026-12-02 16:40 UTC",
     "machine": {"arch": "x86_64", "cpu": "...", "cores": 2, "memory_gb": 23.4, "gpu": null,
                 "os": "Linux 6.8.0", "python": "3.11.7", "packages": {"onnxruntime": "1.31.1"},
                 "load_average": [1.2, 3.4]},
     "about": "what is measured and how (Markdown)",
     "body": "the figures (Markdown tables and the readings computed from them)"}

``machine`` may instead hold a ``description`` string for figures entered by hand.
Standard library and the project's atomic write only (the bench scripts import it before their
heavy modules).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from vae_synth.synth.atomic import write_text

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
REPO = BENCH.parent

# where each benchmark's section goes in BENCHMARKS.md (smaller first); others append after 100
ORDER = {"train": 10, "decode": 20, "engine": 30, "presets": 40, "fullband": 45, "plugin": 50}


def command_line(argv: list[str] | None = None) -> str:
    """The command that ran, as typed from the repository root: ``python bench/x.py ARGS``."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        script_text = script.relative_to(REPO).as_posix()
    except ValueError:
        script_text = script.name
    return shlex.join(["python", script_text, *argv[1:]])


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError):
        pass
    return None


def _gpu() -> str | None:
    """The NVIDIA GPU's name where nvidia-smi answers, else None."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    names = [n.strip() for n in out.stdout.splitlines() if n.strip()]
    return ", ".join(names) if out.returncode == 0 and names else None


def load_average() -> float:
    """The 1-minute load average (0 where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return 0.0


def machine(packages: tuple[str, ...] = (), load_start: float | None = None) -> dict:
    """The machine a benchmark ran on; ``load_start``: the load average when it began."""
    versions = {}
    for name in packages:
        versions[name] = None
        for distribution in (name, f"{name}-gpu"):  # onnxruntime is installed as either
            try:
                versions[name] = metadata.version(distribution)
                break
            except metadata.PackageNotFoundError:
                continue
    return {
        "arch": platform.machine(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "gpu": _gpu(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "packages": versions,
        "load_average": [load_start if load_start is not None else load_average(),
                         load_average()],
    }


def write_record(name: str, *, title: str, about: str, body: str,
                 packages: tuple[str, ...] = (), load_start: float | None = None,
                 command: str | None = None, folder: Path = RESULTS) -> Path:
    """Write bench/results/NAME.json (atomically) and return its path."""
    record = {
        "benchmark": name,
        "title": title,
        "order": ORDER.get(name, 100),
        "command": command or command_line(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(packages, load_start),
        "about": about.strip(),
        "body": body.strip(),
    }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    write_text(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    return path

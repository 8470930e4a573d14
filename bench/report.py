"""BENCHMARKS.md from the benchmark records in bench/results/ (see bench/README.md).

    python bench/report.py            # rewrite BENCHMARKS.md
    python bench/report.py --check    # exit 1 when BENCHMARKS.md is not what the records give

One section per record, in the records' ``order``: title, what is measured, the command, the
date and the machine, then the figures. Nothing in BENCHMARKS.md is written by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
TARGET = BENCH.parent / "BENCHMARKS.md"
REQUIRED = ("benchmark", "title", "command", "date", "machine", "body")

HEADER = """\
# Benchmarks

Speed and memory, measured by the scripts in `bench/`: each section says what was measured, the
command that measured it, when, and on which machine. Timings are compared side by side within
one run (ratios), never asserted in timed tests; the load average at the start and end of a run
says how much else shared the cores. This file is generated from `bench/results/*.json` by
`python bench/report.py`; to update a section, run its command (bench/README.md).
"""


class RecordError(ValueError):
    """A record in bench/results/ that cannot be rendered (the message names the file)."""


def load_records(folder: Path = RESULTS) -> list[dict]:
    records = []
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise RecordError(f"{path.name}: not readable JSON ({exc})") from None
        missing = [key for key in REQUIRED if not record.get(key)]
        if missing:
            raise RecordError(f"{path.name}: missing {', '.join(missing)}")
        if record["benchmark"] != path.stem:
            raise RecordError(f"{path.name}: benchmark is {record['benchmark']!r}, expected "
                              f"{path.stem!r} (the file's name)")
        records.append(record)
    return sorted(records, key=lambda r: (r.get("order", 100), r["benchmark"]))


def describe_machine(m: dict) -> str:
    """One line for a record's machine: hand-entered text, or the fields a script recorded."""
    if m.get("description"):
        return m["description"]
    parts = [f"{m.get('arch', '?')}, {m.get('cores', '?')} cores ({m.get('cpu', '?')})"]
    if m.get("memory_gb"):
        parts.append(f"{m['memory_gb']:g} GB")
    parts.append(m.get("gpu") or "no GPU")
    if m.get("os"):
        parts.append(m["os"])
    if m.get("python"):
        parts.append(f"Python {m['python']}")
    parts += [f"{name} {version}" for name, version in (m.get("packages") or {}).items()
              if version]
    text = ", ".join(parts)
    load = m.get("load_average")
    if load:
        text += f"; load average {load[0]:g} at the start, {load[-1]:g} at the end"
    return text


def render(records: list[dict]) -> str:
    out = [HEADER]
    for r in records:
        out += [f"## {r['title']}", ""]
        if r.get("about"):
            out += [r["about"].strip(), ""]
        out += [f"Command: `{r['command']}`, {r['date']}, {describe_machine(r['machine'])}.", ""]
        out += [r["body"].strip(), ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that BENCHMARKS.md is what the records give")
    parser.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=Path, default=TARGET, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        text = render(load_records(args.results))
    except RecordError as exc:
        print(f"bench/report.py: {exc}", file=sys.stderr)
        return 2
    current = args.target.read_text(encoding="utf-8") if args.target.exists() else ""
    if args.check:
        if current != text:
            print(f"{args.target.name} is not what bench/results/ gives: run "
                  "`python bench/report.py`", file=sys.stderr)
            return 1
        return 0
    if current != text:
        from vae_synth.synth.atomic import write_text

        write_text(args.target, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

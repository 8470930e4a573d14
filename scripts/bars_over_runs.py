"""Several evaluations against one set of quality bars (``evaluate/bars.py``): one column per
run, each figure marked where it misses, how many runs meet each bar, and the median over the
runs. For one recipe on several held-out draws or initialisations, the count and the median
say more about the recipe than any one draw does (docs/notes/2026-12-05-fullband-four-draws.md).

    python scripts/bars_over_runs.py runs/d0/eval runs/d1/eval runs/d2/eval [--bars fullband-drums]

Each argument is a report folder of `vae-synth evaluate` (its metrics.json), the metrics.json
itself, or a preset's evaluation.json. Prints a Markdown table; exit status 0 when every run
meets every bar, 1 when any misses, 2 for unreadable input.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from vae_synth.evaluate import bars as B


def load_metrics(path: Path) -> dict:
    """metrics.json of a report folder, or the JSON file given."""
    file = path / "metrics.json" if path.is_dir() else path
    try:
        return json.loads(file.read_text())
    except FileNotFoundError:
        raise SystemExit(f"error: {file} not found (give a `vae-synth evaluate` report folder, "
                         "its metrics.json or a preset's evaluation.json)") from None
    except json.JSONDecodeError as e:
        raise SystemExit(f"error: {file} is not JSON: {e}") from None


def run_name(path: Path) -> str:
    """runs/d2/eval -> d2, runs/d2/eval/metrics.json -> d2, presets/drums/evaluation.json -> drums."""
    folder = path.parent if path.suffix == ".json" else path
    return folder.parent.name if folder.name == "eval" else folder.name


def table(runs: dict[str, dict], bars: dict) -> tuple[list[str], bool]:
    """Markdown lines (bars as rows, runs as columns) and whether every run met every bar."""
    names = list(runs)
    lines = ["| bar | " + " | ".join(names) + " | runs meeting it | median |",
             "|---" * (len(names) + 3) + "|"]
    run_met = [True] * len(names)
    for key, (op, bound) in bars.items():
        values = []
        for metrics in runs.values():
            try:
                values.append(float(B.lookup(metrics, key)))
            except (KeyError, TypeError):
                values.append(None)
        ok = [v is not None and B.meets(v, op, bound) for v in values]
        run_met = [a and b for a, b in zip(run_met, ok, strict=True)]
        cells = ["–" if v is None else f"{v:.2f}" + ("" if good else " ✗")
                 for v, good in zip(values, ok, strict=True)]
        present = [v for v in values if v is not None]
        median = statistics.median(present) if present else None
        median_cell = "–" if median is None else \
            f"{median:.2f}" + ("" if B.meets(median, op, bound) else " ✗")
        lines.append(f"| `{key}` {op} {bound:.3g} | " + " | ".join(cells)
                     + f" | {sum(ok)} / {len(ok)} | {median_cell} |")
    lines.append(f"\nEvery bar met by {sum(run_met)} of {len(names)} runs"
                 + (f": {', '.join(n for n, m in zip(names, run_met, strict=True) if m)}."
                    if any(run_met) else "."))
    return lines, all(run_met)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", nargs="+", type=Path, metavar="REPORT",
                        help="report folder of `vae-synth evaluate`, or a metrics / evaluation JSON")
    parser.add_argument("--bars", default="fullband-drums", choices=sorted(B.BARS),
                        help="which bars (evaluate/bars.py; default %(default)s)")
    args = parser.parse_args(argv)
    try:
        runs = {}
        for path in args.reports:
            name = run_name(path)
            runs[name if name not in runs else str(path)] = load_metrics(path)
    except SystemExit as e:
        print(e, file=sys.stderr)
        return 2
    lines, all_met = table(runs, B.BARS[args.bars])
    print("\n".join(lines))
    return 0 if all_met else 1


if __name__ == "__main__":
    raise SystemExit(main())

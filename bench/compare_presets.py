"""Decode time of two or more preset bundles side by side: one class and the whole bank per call.

Use it when a retrained bundle should replace a shipped one (same frame length, same bank):

    .venv/bin/python bench/compare_presets.py drums /path/to/new/drums [--runs 100]

Cases run interleaved in one process (ratios are what to compare); ONNX Runtime on the CPU with
1 intra-op thread and spinning off, as the engine runs it. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_presets import measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="+", help="bundled preset names or preset folders")
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()

    from vae_synth.synth.preset import load_preset
    from vae_synth.synth.runtime import make_session

    cases = {}
    for name in args.presets:
        preset = load_preset(name)
        bank = preset.centroids  # [C, D]: one point per class, as the engine decodes it
        fixed = make_session(preset.file("decoder"), device="cpu")
        cases[f"{name}: one class"] = lambda f=fixed, z=bank: f.run(None, {"z": z[:1]})
        cases[f"{name}: bank of {len(bank)}, single calls"] = lambda f=fixed, z=bank: [
            f.run(None, {"z": z[i:i + 1]}) for i in range(len(z))]
    results = measure(cases, args.runs)
    first = list(results.values())
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"ORT 1 thread, {args.runs} interleaved runs per case\n")
    print("| case | p50 ms | p99 ms | p50 / the first preset's same case |")
    print("|---|---|---|---|")
    for i, (case, t) in enumerate(results.items()):
        ref = np.median(first[i % 2])
        print(f"| {case} | {np.median(t):.2f} | {np.percentile(t, 99):.2f} | "
              f"{np.median(t) / ref:.2f}x |")


if __name__ == "__main__":
    main()

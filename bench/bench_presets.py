"""Real-time budget of the bundled presets: how long re-decoding a preset's whole bank takes.

A knob twist must reach the next hit even in a fast roll: the engine re-decodes every class the
preset's MIDI map uses, one fixed-batch call per class (the class just played first), on one CPU
core; the one-batch-call row is there for comparison. Issue 7's budget is 20 ms per bank
(4 drum classes of 16384 samples, or the 10 digits of 4096); a full-band (44.1 kHz) preset's is
issue 20's: one class <= 5 ms p50, the bank <= 15 ms p50 and <= 20 ms p99, >= 100x real time. Beside each shipped preset, the same
bank through the thesis-size conv decoder (Table 4.1, untrained weights: the cost does not depend on
the weights) shows the trade between quality and speed.

    python bench/bench_presets.py [--runs 200] [--no-thesis] [--record]

Every preset's cases run interleaved in one process (ratios are what to compare); ONNX Runtime on the CPU with
1 intra-op thread and spinning off, as the engine runs it. Prints a markdown table; ``--record``
also writes bench/results/presets.json for BENCHMARKS.md (bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from record import load_average, write_record  # noqa: E402

ABOUT = """How long re-decoding a preset's whole bank takes (the budget: 20 ms per bank on one core,
so a knob twist reaches the next hit even in a fast roll), one fixed-batch call per class as the
engine does, one batch call for comparison; beside each bundled preset the same bank through the
thesis-size conv decoder (Table 4.1, untrained weights: the cost does not depend on the weights).
Cases interleaved in one process; ONNX Runtime on the CPU, 1 intra-op thread, spinning off."""


def thesis_decoder(frame_length: int, latent_dim: int, workdir: Path) -> tuple[Path, Path, int]:
    """Export the thesis conv decoder (fixed and dynamic batch) for this frame; returns the paths."""
    from vae_synth.export.convert import keras_to_onnx
    from vae_synth.train.models import build_models, resolve_config

    _, decoder, _, d = build_models(resolve_config("conv", "thesis"), frame_length, latent_dim, 4)
    fixed, batch = workdir / f"thesis-{frame_length}-1.onnx", workdir / f"thesis-{frame_length}-n.onnx"
    keras_to_onnx(decoder, "z", (1, d), ["audio"], fixed)
    keras_to_onnx(decoder, "z", (None, d), ["audio"], batch)
    return fixed, batch, int(decoder.count_params())


def measure(cases: dict, runs: int) -> dict[str, np.ndarray]:
    """Interleave the cases round-robin (so load on the machine hits all alike); ms per call."""
    times: dict[str, list[float]] = {name: [] for name in cases}
    for fn in cases.values():
        for _ in range(5):
            fn()
    for _ in range(runs):
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: np.asarray(t) for name, t in times.items()}


def bundled_presets() -> list[str]:
    """The bundled presets' names (presets/<name>/preset.json), sorted."""
    import vae_synth.presets

    root = Path(vae_synth.presets.__file__).parent
    return sorted(p.parent.name for p in root.glob("*/preset.json"))


def budget_lines(rows: list[dict]) -> list[str]:
    """Readings of the figures against the budgets: issue 7's 20 ms per bank at p99 for every
    preset, and issue 20's for a full-band (44.1 kHz) preset: one class <= 5 ms p50, its bank of
    single calls <= 15 ms p50 and <= 20 ms p99, >= 100x real time. rows: ``main``'s, one per case."""
    by_case = {r["case"]: r for r in rows}
    lines = []
    for r in rows:
        if r["case"] != f"{r['name']}: one class":
            continue
        n = r["classes"]
        bank = by_case[f"{r['name']}: bank of {n}, {n} single calls"]
        verdict = "within" if bank["p99"] <= 20 else "over"
        line = (f"- {r['name']} ({r['rate']} Hz): one class p50 {r['p50']:.1f} ms "
                f"({r['real_time']:.0f}x real time), bank of {n} in single calls p50 "
                f"{bank['p50']:.1f} / p99 {bank['p99']:.1f} ms: {verdict} the 20 ms budget at p99")
        if r["rate"] >= 44100:
            met = (r["p50"] <= 5 and bank["p50"] <= 15 and bank["p99"] <= 20
                   and r["real_time"] >= 100)
            line += (f"; the full-band budget (one class <= 5 ms p50, bank <= 15 / 20 ms p50 / p99, "
                     f">= 100x real time) {'met' if met else 'missed'}")
        lines.append(line + ".")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--no-thesis", action="store_true", help="skip the thesis-size decoders")
    parser.add_argument("--record", action="store_true",
                        help="write bench/results/presets.json (then: python bench/report.py)")
    args = parser.parse_args()
    load_start = load_average()

    from vae_synth.synth.preset import load_preset
    from vae_synth.synth.runtime import make_session

    cases, about = {}, {}  # case -> call; case -> (preset name, rate, samples, classes)
    with tempfile.TemporaryDirectory() as tmp:
        for name in bundled_presets():
            preset = load_preset(name)
            bank = preset.centroids  # [C, D]: one point per class, as the engine decodes it
            n = len(bank)
            fixed = make_session(preset.file("decoder"), device="cpu")
            batch = make_session(preset.file("decoder_batch"), device="cpu")
            mine = {
                f"{name}: bank of {n}, one batch call": lambda b=batch, z=bank: b.run(None, {"z": z}),
                f"{name}: bank of {n}, {n} single calls": lambda f=fixed, z=bank: [
                    f.run(None, {"z": z[i:i + 1]}) for i in range(len(z))],
                f"{name}: one class": lambda f=fixed, z=bank: f.run(None, {"z": z[:1]}),
            }
            if not args.no_thesis:
                t_fixed, t_batch, _ = thesis_decoder(preset.frame_length, preset.latent_dim,
                                                     Path(tmp))
                tf_, tb = make_session(t_fixed, device="cpu"), make_session(t_batch, device="cpu")
                mine[f"{name} with the thesis conv decoder: bank of {n}, one batch call"] = (
                    lambda b=tb, z=bank: b.run(None, {"z": z}))
                mine[f"{name} with the thesis conv decoder: one class"] = (
                    lambda f=tf_, z=bank: f.run(None, {"z": z[:1]}))
            cases.update(mine)
            about.update({case: (name, preset.sample_rate, preset.frame_length, n) for case in mine})
        # every preset's cases interleaved in one run: load on the machine hits all alike
        results = measure(cases, args.runs)
    rows = []
    for case, t in results.items():
        name, rate, length, n = about[case]
        p50 = float(np.median(t))
        rows.append({"case": case, "name": name, "rate": rate, "length": length, "classes": n,
                     "p50": p50, "p99": float(np.percentile(t, 99)),
                     "ratio": p50 / np.median(results[f"{name}: bank of {n}, one batch call"]),
                     "real_time": length / rate * 1e3 / p50})
    lines = [f"{args.runs} interleaved runs per case, every preset's cases in one run.", "",
             "| case | sample rate | samples per class | p50 ms | p99 ms | p50 / the preset's bank "
             "call | x real time (one class) |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        real_time = f"{r['real_time']:.0f}x" if r["case"].endswith("one class") else ""
        lines.append(f"| {r['case']} | {r['rate']} | {r['length']} | {r['p50']:.2f} | "
                     f"{r['p99']:.2f} | {r['ratio']:.2f}x | {real_time} |")
    lines += ["", *budget_lines(rows)]
    body = "\n".join(lines)
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), body, sep="\n")
    if args.record:
        print(write_record("presets", title="Decoding the bundled presets: the real-time budget",
                           about=ABOUT, body=body, packages=("onnxruntime",),
                           load_start=load_start))


if __name__ == "__main__":
    main()

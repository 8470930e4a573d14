"""Real-time budget of the bundled presets: how long re-decoding a preset's whole bank takes.

A knob twist must reach the next hit even in a fast roll: the engine re-decodes every class the
preset's MIDI map uses, one fixed-batch call per class (the class just played first), on one CPU
core; the one-batch-call row is there for comparison. Issue 7's budget is 20 ms per bank
(4 drum classes of 16384 samples, or the 10 digits of 4096). Beside each shipped preset, the same
bank through the thesis-size conv decoder (Table 4.1, untrained weights: the cost does not depend on
the weights) shows the trade between quality and speed.

    python bench/bench_presets.py [--runs 200] [--no-thesis] [--record]

Cases run interleaved in one process (ratios are what to compare); ONNX Runtime on the CPU with
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

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("drums", "digits"):
            preset = load_preset(name)
            bank = preset.centroids  # [C, D]: one point per class, as the engine decodes it
            n = len(bank)
            fixed = make_session(preset.file("decoder"), device="cpu")
            batch = make_session(preset.file("decoder_batch"), device="cpu")
            cases = {
                f"{name}: bank of {n}, one batch call": lambda b=batch, z=bank: b.run(None, {"z": z}),
                f"{name}: bank of {n}, {n} single calls": lambda f=fixed, z=bank: [
                    f.run(None, {"z": z[i:i + 1]}) for i in range(len(z))],
                f"{name}: one class": lambda f=fixed, z=bank: f.run(None, {"z": z[:1]}),
            }
            params = {}
            if not args.no_thesis:
                t_fixed, t_batch, params["thesis"] = thesis_decoder(
                    preset.frame_length, preset.latent_dim, Path(tmp))
                tf_, tb = make_session(t_fixed, device="cpu"), make_session(t_batch, device="cpu")
                cases[f"{name} with the thesis conv decoder: bank of {n}, one batch call"] = (
                    lambda b=tb, z=bank: b.run(None, {"z": z}))
                cases[f"{name} with the thesis conv decoder: one class"] = (
                    lambda f=tf_, z=bank: f.run(None, {"z": z[:1]}))
            results = measure(cases, args.runs)
            reference = np.median(results[f"{name}: bank of {n}, one batch call"])
            for case, t in results.items():
                rows.append((case, preset.frame_length, np.median(t), np.percentile(t, 99),
                             np.median(t) / reference))
    lines = [f"{args.runs} interleaved runs per case.", "",
             "| case | samples per class | p50 ms | p99 ms | p50 / the preset's bank call |",
             "|---|---|---|---|---|"]
    lines += [f"| {case} | {length} | {p50:.2f} | {p99:.2f} | {ratio:.2f}x |"
              for case, length, p50, p99, ratio in rows]
    banks = {case: (p50, p99) for case, _, p50, p99, _ in rows
             if ": bank of" in case and "thesis" not in case}
    worst = max(banks, key=lambda case: banks[case][1])
    lines += ["", f"The slowest bank of a bundled preset: {worst}, p50 {banks[worst][0]:.1f} ms, "
                  f"p99 {banks[worst][1]:.1f} ms, "
                  f"{'within' if banks[worst][1] <= 20 else 'over'} the 20 ms budget at p99."]
    body = "\n".join(lines)
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), body, sep="\n")
    if args.record:
        print(write_record("presets", title="Decoding the bundled presets: the real-time budget",
                           about=ABOUT, body=body, packages=("onnxruntime",),
                           load_start=load_start))


if __name__ == "__main__":
    main()

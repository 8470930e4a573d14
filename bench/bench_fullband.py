"""Full-band drum decoders (44.1 kHz, 32768 samples) side by side with the shipped drums decoder.

Each design is built untrained by ``vae_synth.train.models`` (the cost does not depend on the
weights), exported by ``vae_synth.export.convert`` as ``vae-synth export`` does (fixed batch 1,
what the engine calls once per class, and dynamic batch), checked for export parity against
Keras, and timed in ONNX Runtime on one core (1 intra-op thread, spinning off, as the engine
runs it) interleaved round by round with the bundled ``drums`` preset's own decoder. The
budget of issue 20: one class <= 5 ms p50, a bank of 4 classes (4 single calls, as the engine
decodes) <= 15 ms p50 and <= 20 ms p99, >= 100x real time.

    nice -n 10 .venv/bin/python bench/bench_fullband.py [--runs 100] [--designs a,b,...]
        [--preset NAME_OR_DIR ...]

``--preset`` (repeatable) times exported preset bundles, trained decoders, in the same
interleaved rounds instead of the bundled ``drums`` alone (``--designs none``: no untrained
design), e.g. a 44.1 kHz candidate beside the 22.05 kHz preset:
``--designs none --preset drums-22k --preset runs/fullband-preset``.

Prints a markdown table; ``--json PATH`` writes the figures; ``--record`` writes
bench/results/fullband.json (then ``python bench/report.py`` regenerates BENCHMARKS.md; the
record's readings below the table are replaced by the table alone).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from bench_presets import measure  # noqa: E402
from bench_train import decoder_macs  # noqa: E402

SAMPLE_RATE, FRAME, LATENT, CLASSES = 44100, 32768, 10, 4


def _c(filters, kernel, strides=1, kind="conv"):
    return {"type": kind, "filters": filters, "kernel": kernel, "strides": strides}


def _res(dilations=(1, 3)):
    return {"type": "resblock", "kernel": 3, "dilations": list(dilations)}


def designs() -> dict[str, tuple[str, dict]]:
    """name -> (what it is, model configuration), every one with the shipped output gate."""
    from vae_synth.train import models

    fast = models.resolve_config("conv", "fast")
    full = models.resolve_config("conv", "fullband")
    gate = {"output_gate_db": -60.0}
    subpixel = [dict(s, type="subpixel", kernel=3) if s["type"] == "convT" else s
                for s in full["decoder"]]
    learned_head = {k: v for k, v in full.items()
                    if k not in ("pqmf_bands", "pqmf_taps_per_band", "subband_noise")}
    learned_head["decoder"] = full["decoder"] + [_c(8, 32, 16, "convT")]
    return {
        "fast44": ("A: conv/fast at 44.1 kHz (4 x4 transposed convs to the sample rate), "
                   "anti-imaging, 16 noise bands (full band)",
                   {**fast, **gate, "antialias": True, "noise_bands": 16}),
        "pqmf16": ("B: conv/fullband: 3 x4 transposed convs to 1/16 of the rate, anti-imaging, "
                   "16 sub-bands (offsets blocked) + sub-band noise, PQMF (256 taps)",
                   {**full, **gate, "antialias": True}),
        "pqmf16-first": ("B as first measured: no anti-imaging, no sub-band offset block",
                         {**full, **gate, "subband_dc_block": 0}),
        "pqmf16-subpixel": ("B': B with sub-pixel convolutions (kernel 3) for the upsampling",
                            {**full, **gate, "decoder": subpixel}),
        "pqmf16-j8": ("B'': B with a 128-tap PQMF", {**full, **gate, "pqmf_taps_per_band": 8}),
        "pqmf16-gated": ("B-gated: conv/fullband-gated, B with a sigmoid gain per waveform "
                         "sub-band and step", {**models.resolve_config("conv", "fullband-gated"),
                                               **gate, "antialias": True}),
        "pqmf16-notch": ("B-notch: conv/fullband-notch, B with a notch instead of the moving "
                         "average after its second transposed conv",
                         {**models.resolve_config("conv", "fullband-notch"), **gate,
                          "antialias": True}),
        "learned16": ("C: B's stack, then one learned x16 transposed conv (kernel 32) to the "
                      "sample rate, anti-imaging, 16 noise bands",
                      {**learned_head, **gate, "antialias": True, "noise_bands": 16}),
    }


def export_design(cfg: dict, folder: Path) -> dict:
    from vae_synth.export.convert import keras_to_onnx
    from vae_synth.synth.runtime import make_session
    from vae_synth.train.models import build_models

    _, dec, _, d = build_models(cfg, FRAME, LATENT, CLASSES)
    folder.mkdir()
    keras_to_onnx(dec, "z", (1, d), ["audio"], folder / "decoder.onnx")
    keras_to_onnx(dec, "z", (None, d), ["audio"], folder / "decoder_batch.onnx")
    fixed = make_session(folder / "decoder.onnx", device="cpu")
    batch = make_session(folder / "decoder_batch.onnx", device="cpu")
    z = (3.0 * np.random.default_rng(0).standard_normal((CLASSES, d))).astype(np.float32)
    keras_out = np.asarray(dec(z, training=False))
    err_fixed = max(float(np.max(np.abs(fixed.run(None, {"z": z[i:i + 1]})[0] - keras_out[i])))
                    for i in range(CLASSES))
    err_batch = float(np.max(np.abs(batch.run(None, {"z": z})[0] - keras_out)))
    return {"fixed": fixed, "batch": batch, "z": z, "params": int(dec.count_params()),
            "macs": float(decoder_macs(dec)), "parity": max(err_fixed, err_batch),
            "peak": float(np.max(np.abs(keras_out)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--designs", help="comma-separated subset of: " + ",".join(designs())
                        + " (or none)")
    parser.add_argument("--preset", action="append", metavar="NAME_OR_DIR",
                        help="a preset bundle to time (repeatable; default: the bundled drums)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--record", action="store_true", help="write bench/results/fullband.json")
    args = parser.parse_args()
    from record import load_average, write_record

    load_start = load_average()

    from vae_synth.synth.preset import load_preset
    from vae_synth.synth.runtime import make_session

    chosen = designs()
    if args.designs:
        names = [] if args.designs == "none" else args.designs.split(",")
        unknown = sorted(set(names) - set(chosen))
        if unknown:
            parser.error(f"unknown design(s) {unknown}; expected some of {sorted(chosen)}")
        chosen = {k: chosen[k] for k in names}
    rows, sessions = {}, {}
    for source in args.preset or ["drums"]:
        preset = load_preset(source)
        name = preset.name if preset.name not in rows else str(source)
        sessions[name] = {"fixed": make_session(preset.file("decoder"), device="cpu"),
                          "batch": make_session(preset.file("decoder_batch"), device="cpu"),
                          "z": preset.centroids}
        rows[name] = {"what": f"preset {preset.name} decoder, trained ({preset.sample_rate} "
                              f"Hz, {preset.frame_length} samples)",
                      "sample_rate": preset.sample_rate, "frame": preset.frame_length,
                      "params": None, "macs": None, "parity": None}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (what, cfg) in chosen.items():
            print(f"... {name}", flush=True)
            res = export_design(cfg, Path(tmp) / name)
            sessions[name] = res
            rows[name] = {"what": what, "sample_rate": SAMPLE_RATE, "frame": FRAME,
                          "params": res["params"], "macs": res["macs"], "parity": res["parity"]}
        cases = {}
        for name, s in sessions.items():
            cases[f"{name}/one"] = lambda f=s["fixed"], z=s["z"]: f.run(None, {"z": z[:1]})
            cases[f"{name}/bank"] = lambda f=s["fixed"], z=s["z"]: [
                f.run(None, {"z": z[i:i + 1]}) for i in range(len(z))]
            cases[f"{name}/batch"] = lambda b=s["batch"], z=s["z"]: b.run(None, {"z": z})
        times = measure(cases, args.runs)
    for name, row in rows.items():
        for case in ("one", "bank", "batch"):
            t = times[f"{name}/{case}"]
            row[f"{case}_p50"] = float(np.median(t))
            row[f"{case}_p99"] = float(np.percentile(t, 99))
        seconds = row["frame"] / row["sample_rate"]
        row["realtime_one"] = seconds / (row["one_p50"] / 1e3)
        row["realtime_bank"] = 4 * seconds / (row["bank_p50"] / 1e3)
    header = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
              f"{os.cpu_count()} cores, ORT 1 intra-op thread (spinning off), {args.runs} "
              f"interleaved runs per case")
    lines = []
    lines.append("| design | rate / samples | decoder params | M MACs per class | one class p50 / p99 ms | "
          "bank of 4 (single calls) p50 / p99 ms | bank as one batch call p50 ms | "
          "x real time (one class) | export parity (max abs) |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        params = f"{r['params']:,}" if r["params"] else "–"
        macs = f"{r['macs'] / 1e6:.0f}" if r["macs"] else "–"
        parity = f"{r['parity']:.1e}" if r["parity"] is not None else "–"
        lines.append(f"| `{name}`: {r['what']} | {r['sample_rate']} / {r['frame']} | {params} | {macs} | "
              f"{r['one_p50']:.2f} / {r['one_p99']:.2f} | {r['bank_p50']:.2f} / "
              f"{r['bank_p99']:.2f} | {r['batch_p50']:.2f} | {r['realtime_one']:.0f}x | {parity} |")
    print(header + "\n")
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps({"header": header, "rows": rows}, indent=1))
    if args.record:
        write_record("fullband", title="Full-band drums decoder (44.1 kHz)", about=__doc__,
                     body="\n".join(lines), packages=("onnxruntime", "tensorflow", "tf2onnx"),
                     load_start=load_start)


if __name__ == "__main__":
    main()

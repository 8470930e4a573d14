"""Decode latency of exported decoders: ONNX Runtime (CPU, 1 thread; fixed vs dynamic batch) vs
TensorFlow eager vs tf.function, side by side in one process, as ratios.

For each model (architecture/configuration @ frame length; untrained weights: latency does not
depend on the weights' values) the script builds the Keras models with ``vae_synth.train.models``,
exports them with ``vae_synth.export.convert`` exactly as ``vae-synth export`` does, and measures:

- p50 / p99 latency at batch 1 and batch 16 for ORT decoder.onnx (fixed batch 1),
  ORT decoder_batch.onnx (dynamic batch), TF eager ``decoder(z, training=False)``, ``tf.function``,
  interleaved round by round so that every case sees the same background load;
- first-call latency (session creation + first run; TF first call, tf.function trace + first run);
- latency of one call after the process has idled 10 s (no warm-up in between);
- ONNX file sizes of all four bundle files.

Usage:  nice -n 10 python bench/bench_decode.py [--models conv/small@4096,...] [--record]
Prints Markdown tables, writes the raw figures as JSON with --json PATH, and with --record
bench/results/decode.json for BENCHMARKS.md (bench/README.md).
On a machine where the CUDA provider really runs, ``--cuda`` adds ORT CUDA at batch 1 and 64.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from record import load_average, write_record  # noqa: E402

DEFAULT_MODELS = "conv/small@4096,conv/small@16384,conv/fast@16384"


def percentiles(times: list[float]) -> tuple[float, float]:
    a = np.asarray(times) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


def interleaved(cases: dict, rounds: int, reps: dict, warm: int = 5) -> dict[str, list[float]]:
    """Time every case in turn, round after round (``reps[case]`` calls per round), so that all
    cases see the same background load: on a shared machine, ratios from back-to-back blocks
    would compare different neighbours as much as different runtimes."""
    for fn in cases.values():
        for _ in range(warm):
            fn()
    out: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            for _ in range(reps.get(name, 1)):
                t0 = time.perf_counter()
                fn()
                out[name].append(time.perf_counter() - t0)
    return out


def timed(fn, runs: int, warm: int = 5) -> list[float]:
    for _ in range(warm):
        fn()
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def bench_model(arch: str, config: str, frame_length: int, latent_dim: int, runs: int,
                tf_runs: int, idle_s: float, cuda: bool, workdir: Path, idle_rounds: int = 3
                ) -> dict:
    import tensorflow as tf
    from vae_synth.export.convert import keras_to_onnx
    from vae_synth.synth.runtime import make_session, session_device
    from vae_synth.train.models import build_models, resolve_config

    cfg = resolve_config(arch, config)
    enc, dec, cls, d = build_models(cfg, frame_length, latent_dim, 4)
    folder = workdir / f"{arch}-{config}-{frame_length}"
    folder.mkdir()
    keras_to_onnx(dec, "z", (1, d), ["audio"], folder / "decoder.onnx")
    keras_to_onnx(dec, "z", (None, d), ["audio"], folder / "decoder_batch.onnx")
    keras_to_onnx(enc, "audio", (None, frame_length), ["mu", "logvar"], folder / "encoder.onnx")
    keras_to_onnx(cls, "z", (None, d), ["logits"], folder / "classifier.onnx")
    sizes = {p.stem: p.stat().st_size for p in sorted(folder.glob("*.onnx"))}

    rng = np.random.default_rng(0)
    z1 = rng.standard_normal((1, d)).astype(np.float32)
    z16 = rng.standard_normal((16, d)).astype(np.float32)
    res: dict = {"model": f"{arch}/{config}@{frame_length}", "latent_dim": d,
                 "decoder_params": int(dec.count_params()), "onnx_bytes": sizes}

    # First call: a fresh session and its first run (what a player pays at start without warm-up).
    t0 = time.perf_counter()
    fixed = make_session(folder / "decoder.onnx", device="cpu")
    t1 = time.perf_counter()
    fixed.run(None, {"z": z1})
    t2 = time.perf_counter()
    res["ort_fixed_session_ms"] = (t1 - t0) * 1e3
    res["ort_fixed_first_run_ms"] = (t2 - t1) * 1e3
    dyn = make_session(folder / "decoder_batch.onnx", device="cpu")

    t0 = time.perf_counter()
    dec(z1, training=False)
    res["tf_eager_first_call_ms"] = (time.perf_counter() - t0) * 1e3
    fn = tf.function(lambda z: dec(z, training=False), reduce_retracing=True)
    t0 = time.perf_counter()
    fn(tf.constant(z1))
    res["tf_function_first_call_ms"] = (time.perf_counter() - t0) * 1e3
    fn(tf.constant(z16))

    cases = {
        "ort_fixed_b1": lambda: fixed.run(None, {"z": z1}),
        "ort_dynamic_b1": lambda: dyn.run(None, {"z": z1}),
        "tf_function_b1": lambda: fn(tf.constant(z1)),
        "tf_eager_b1": lambda: dec(z1, training=False),
        "ort_dynamic_b16": lambda: dyn.run(None, {"z": z16}),
        "tf_function_b16": lambda: fn(tf.constant(z16)),
        "tf_eager_b16": lambda: dec(z16, training=False),
    }
    k = max(1, runs // tf_runs)  # fast batch-1 cases get more samples per round
    times = interleaved(cases, tf_runs, {"ort_fixed_b1": k, "ort_dynamic_b1": k,
                                         "tf_function_b1": k})
    lat = {name: percentiles(t) for name, t in times.items()}

    # After idling: the first call after `idle_s` seconds of nothing, then the next one; a few
    # rounds, since one probe on a shared machine says more about the neighbours than about ORT.
    firsts, seconds = [], []
    for _ in range(idle_rounds):
        time.sleep(idle_s)
        t0 = time.perf_counter()
        fixed.run(None, {"z": z1})
        t1 = time.perf_counter()
        fixed.run(None, {"z": z1})
        t2 = time.perf_counter()
        firsts.append((t1 - t0) * 1e3)
        seconds.append((t2 - t1) * 1e3)
    res["ort_fixed_after_idle_ms"] = float(np.median(firsts))
    res["ort_fixed_after_idle_max_ms"] = float(np.max(firsts))
    res["ort_fixed_after_idle_second_ms"] = float(np.median(seconds))
    time.sleep(idle_s)
    t0 = time.perf_counter()
    fn(tf.constant(z1))
    res["tf_function_after_idle_ms"] = (time.perf_counter() - t0) * 1e3

    if cuda:
        try:
            gpu = make_session(folder / "decoder_batch.onnx", device="cuda")
            z64 = rng.standard_normal((64, d)).astype(np.float32)
            lat["ort_cuda_b1"] = percentiles(timed(lambda: gpu.run(None, {"z": z1}), runs, 20))
            lat["ort_cuda_b64"] = percentiles(timed(lambda: gpu.run(None, {"z": z64}), runs, 20))
            res["cuda_providers"] = gpu.get_providers()
        except RuntimeError as e:
            res["cuda"] = f"not run: {e}"
    res["idle_s"] = idle_s
    res["idle_rounds"] = idle_rounds
    res["cpu_device"] = session_device(fixed)
    res["latency_ms"] = {k: {"p50": v[0], "p99": v[1]} for k, v in lat.items()}
    return res


def markdown(results: list[dict]) -> str:
    lines = []
    rows = [("ort_fixed_b1", "ORT fixed batch 1"), ("ort_dynamic_b1", "ORT dynamic, batch 1"),
            ("tf_function_b1", "tf.function, batch 1"), ("tf_eager_b1", "TF eager, batch 1"),
            ("ort_dynamic_b16", "ORT dynamic, batch 16"), ("tf_function_b16", "tf.function, batch 16"),
            ("tf_eager_b16", "TF eager, batch 16"), ("ort_cuda_b1", "ORT CUDA, batch 1"),
            ("ort_cuda_b64", "ORT CUDA, batch 64")]
    for r in results:
        lat = r["latency_ms"]
        base = lat["ort_fixed_b1"]["p50"]
        base16 = lat["ort_dynamic_b16"]["p50"]
        lines.append(f"**{r['model']}** (latent {r['latent_dim']}, decoder "
                     f"{r['decoder_params']:,} parameters)")
        lines.append("")
        lines.append("| decoder | p50 ms | p99 ms | p50 / ORT (same batch) |")
        lines.append("|---|---|---|---|")
        for key, label in rows:
            if key not in lat:
                continue
            ref = base16 if key.endswith("b16") else base
            lines.append(f"| {label} | {lat[key]['p50']:.2f} | {lat[key]['p99']:.2f} | "
                         f"{lat[key]['p50'] / ref:.2f}x |")
        lines.append("")
        sizes = ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in r["onnx_bytes"].items())
        lines.append(
            f"First call: ORT session {r['ort_fixed_session_ms']:.0f} ms + first run "
            f"{r['ort_fixed_first_run_ms']:.2f} ms; TF eager {r['tf_eager_first_call_ms']:.0f} ms; "
            f"tf.function (trace) {r['tf_function_first_call_ms']:.0f} ms. After {r['idle_s']:g} s "
            f"idle: ORT {r['ort_fixed_after_idle_ms']:.2f} ms (median of {r['idle_rounds']}, max "
            f"{r['ort_fixed_after_idle_max_ms']:.2f}; next call "
            f"{r['ort_fixed_after_idle_second_ms']:.2f} ms), tf.function "
            f"{r['tf_function_after_idle_ms']:.2f} ms. ONNX sizes: {sizes}.")
        if "cuda" in r:
            lines.append(f"CUDA: {r['cuda']}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=DEFAULT_MODELS,
                    help=f"comma-separated ARCH/CONFIG@FRAME_LENGTH (default {DEFAULT_MODELS})")
    ap.add_argument("--latent-dim", type=int, default=20)
    ap.add_argument("--runs", type=int, default=300, help="timed ORT runs per case")
    ap.add_argument("--tf-runs", type=int, default=60, help="timed TensorFlow runs per case")
    ap.add_argument("--idle", type=float, default=10.0, help="idle seconds before the idle probe")
    ap.add_argument("--idle-rounds", type=int, default=3, help="idle probes per model")
    ap.add_argument("--cuda", action="store_true", help="also ORT CUDA at batch 1 and 64")
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    ap.add_argument("--record", action="store_true",
                    help="write bench/results/decode.json (then: python bench/report.py)")
    args = ap.parse_args(argv)
    load_start = load_average()

    import onnxruntime as ort
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(1)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.models.split(","):
            name, frame = spec.strip().split("@")
            arch, config = name.split("/")
            print(f"... {spec}", flush=True)
            results.append(bench_model(arch, config, int(frame), args.latent_dim, args.runs,
                                       args.tf_runs, args.idle, args.cuda, Path(tmp),
                                       args.idle_rounds))
    header = (f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, "
              f"{os.cpu_count()} cores, onnxruntime {ort.__version__}, tensorflow {tf.__version__} "
              f"(TF on all cores; ORT 1 intra-op thread, spinning off)")
    print(header + "\n")
    body = markdown(results)
    print(body)
    if args.json:
        args.json.write_text(json.dumps({"header": header, "results": results}, indent=1))
    if args.record:
        about = (f"{__doc__.split(chr(10) + chr(10))[0]} Untrained weights (latency does not "
                 f"depend on their values), latent {args.latent_dim}; cases interleaved round by "
                 f"round, {args.runs} timed ORT runs and {args.tf_runs} TensorFlow runs per case; "
                 "TF on all cores, ORT 1 intra-op thread, spinning off. Read the ratios within a "
                 "table.")
        print(write_record("decode", title="Export and decode latency (export/)", about=about,
                           body=body, packages=("onnxruntime", "tensorflow"),
                           load_start=load_start))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

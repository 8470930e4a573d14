"""Training benchmarks: throughput (examples/s) and peak memory per architecture/configuration,
time per epoch of one FSDD speaker, and the decode cost of each decoder through
Keras -> tf2onnx -> ONNX Runtime (1 thread, batch 1), the real-time path of the player.

    .venv/bin/python bench/bench_train.py                 # everything (several minutes)
    .venv/bin/python bench/bench_train.py --only decode   # decode latency only
    .venv/bin/python bench/bench_train.py --only train --configs conv/small conv/fast

Each training measurement runs in its own subprocess so that its peak RSS (ru_maxrss) is its own.
Results print as Markdown tables, as JSON with --json PATH, and with --record into
bench/results/train.json for BENCHMARKS.md (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import load_average, write_record

DEFAULT_CONFIGS = ["conv/fast", "conv/small", "dilated/small", "hybrid/small", "conv/thesis",
                   "hybrid/thesis", "dilated/thesis"]


def _train_worker(arch: str, config: str, frame: int, batch: int, steps: int) -> dict:
    """In a subprocess: build the joint model, time `steps` train steps after 2 warm-up steps."""
    import keras
    import numpy as np
    from vae_synth.train import models
    from vae_synth.train.losses import make_joint_model
    from vae_synth.train.synthetic import synth_drums

    x, y, _ = synth_drums(batch * 4, 22050, frame, seed=0)
    cfg = models.resolve_config(arch, config)
    enc, dec, cls, _ = models.build_models(cfg, frame, 20, 4)
    model = make_joint_model(enc, dec, cls, {})
    model.compile(optimizer=keras.optimizers.Adam(1e-4, clipnorm=1.0))
    xb, yb = x[:batch], y[:batch]
    for _ in range(2):
        model.train_on_batch(xb, yb)
    t0 = time.perf_counter()
    for i in range(steps):
        j = (i % 4) * batch
        model.train_on_batch(x[j : j + batch], y[j : j + batch])
    dt = (time.perf_counter() - t0) / steps
    return {"arch": arch, "config": config, "frame": frame, "batch": batch,
            "s_per_step": dt, "examples_per_s": batch / dt,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "encoder_params": enc.count_params(), "decoder_params": dec.count_params(),
            "decoder_macs": int(np.round(decoder_macs(dec)))}


def decoder_macs(decoder) -> float:
    """Multiply-accumulates of one decode (batch 1), from the layer shapes."""
    total = 0.0
    for layer in decoder.layers:
        name = type(layer).__name__
        if name in ("Conv1D", "Conv1DTranspose"):
            w = layer.kernel.shape  # [k, in, out] (Conv1D) or [k, out, in] (transpose)
            k = w[0]
            cin = layer.input.shape[-1]
            cout = layer.filters
            steps_in = layer.input.shape[1]
            steps_out = layer.output.shape[1]
            total += (steps_in if name == "Conv1DTranspose" else steps_out) * k * cin * cout
        elif name == "Dense":
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


def bench_decode(configs: list[str], frame: int, runs: int) -> list[dict]:
    """Median/p99 ms of one decode z [1, 20] -> audio [1, frame] in ONNX Runtime, 1 thread."""
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    from vae_synth.train import models

    rows = []
    for item in configs:
        arch, config = item.split("/")
        cfg = models.resolve_config(arch, config)
        _, dec, _, _ = models.build_models(cfg, frame, 20, 4)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "decoder.onnx")
            tf2onnx.convert.from_keras(
                dec, input_signature=(tf.TensorSpec((1, 20), tf.float32, name="z"),),
                opset=17, output_path=path)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            opts.inter_op_num_threads = 1
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
            z = np.random.default_rng(0).standard_normal((1, 20)).astype(np.float32)
            name = sess.get_inputs()[0].name
            for _ in range(10):
                sess.run(None, {name: z})
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                sess.run(None, {name: z})
                times.append((time.perf_counter() - t0) * 1e3)
            keras_out = np.asarray(dec(z, training=False))
            ort_out = sess.run(None, {name: z})[0]
        rows.append({"arch": arch, "config": config, "frame": frame,
                     "median_ms": float(np.median(times)), "p99_ms": float(np.percentile(times, 99)),
                     "decoder_params": dec.count_params(), "decoder_macs": decoder_macs(dec),
                     "max_abs_err_vs_keras": float(np.max(np.abs(keras_out - ort_out)))})
        print(f"decode {item} {frame}: {rows[-1]['median_ms']:.2f} ms median "
              f"(p99 {rows[-1]['p99_ms']:.2f}), {rows[-1]['decoder_macs'] / 1e6:.0f} M MACs",
              file=sys.stderr, flush=True)
    return rows


def bench_epoch(speaker: str, fsdd: str, arch: str, config: str) -> dict:
    """Seconds per epoch (one pass over one speaker's 450 training clips, batch 16) via fit."""
    import keras
    from vae_synth.train import models
    from vae_synth.train.data import load_sources
    from vae_synth.train.losses import make_joint_model

    data = load_sources([f"fsdd:{fsdd}?speakers={speaker}"], 8000, 4096, 0)
    cfg = models.resolve_config(arch, config)
    enc, dec, cls, _ = models.build_models(cfg, 4096, 20, 10)
    model = make_joint_model(enc, dec, cls, {})
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0))
    model.fit(data.train_x[:32], data.train_y[:32], batch_size=16, epochs=1, verbose=0)
    t0 = time.perf_counter()
    model.fit(data.train_x, data.train_y, batch_size=16, epochs=1, verbose=0)
    return {"arch": arch, "config": config, "speaker": speaker, "clips": len(data.train_x),
            "epoch_s": time.perf_counter() - t0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["train", "decode", "epoch"], default=None)
    p.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS)
    p.add_argument("--frame", type=int, default=4096, help="training frame length (default 4096)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--decode-frames", type=int, nargs="+", default=[16384, 4096])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--fsdd", default=None,
                   help="the FSDD folder (default: fsdd/ under the data root, docs/TRAINING.md)")
    p.add_argument("--speaker", default="nicolas")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--record", action="store_true",
                   help="write bench/results/train.json (then: python bench/report.py)")
    p.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.worker:
        arch, config, frame, batch, steps = args.worker
        print(json.dumps(_train_worker(arch, config, int(frame), int(batch), int(steps))))
        return 0

    load_start = load_average()
    if args.fsdd is None:
        from vae_synth.train.recipe import default_data_root

        args.fsdd = str(Path(default_data_root()) / "fsdd")
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "cpus": os.cpu_count()}
    tables: list[str] = []
    if args.only in (None, "train"):
        rows = []
        for item in args.configs:
            arch, config = item.split("/")
            steps = 2 if config == "thesis" else args.steps
            out = subprocess.run(
                [sys.executable, __file__, "--worker", arch, config, str(args.frame),
                 str(args.batch), str(steps)], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{item}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            r = rows[-1]
            print(f"train {item}: {r['examples_per_s']:.1f} examples/s, {r['s_per_step']:.2f} "
                  f"s/step, peak {r['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)
        results["train"] = rows
        tables.append("\n".join([
            "| arch/config | frame | batch | s/step | examples/s | peak RSS MB | enc params | "
            "dec params | dec MACs/frame |", "|---|---|---|---|---|---|---|---|---|"] + [
            f"| {r['arch']}/{r['config']} | {r['frame']} | {r['batch']} | "
            f"{r['s_per_step']:.3f} | {r['examples_per_s']:.1f} | {r['peak_rss_mb']:.0f} | "
            f"{r['encoder_params']:,} | {r['decoder_params']:,} | "
            f"{r['decoder_macs'] / 1e6:.0f} M |" for r in rows]))
    if args.only in (None, "epoch"):
        rows = [bench_epoch(args.speaker, args.fsdd, "conv", c) for c in ("fast", "small")]
        results["epoch"] = rows
        tables.append("\n".join(["| one FSDD speaker epoch | clips | seconds |", "|---|---|---|"]
                                + [f"| {r['arch']}/{r['config']} ({r['speaker']}) | {r['clips']} | "
                                   f"{r['epoch_s']:.1f} |" for r in rows]))
    if args.only in (None, "decode"):
        rows = []
        for frame in args.decode_frames:
            rows += bench_decode(args.configs, frame, args.runs)
        results["decode"] = rows
        tables.append("\n".join([
            "| decoder | frame | ORT 1 thread median ms | p99 ms | M MACs | params | "
            "max abs err vs Keras |", "|---|---|---|---|---|---|---|"] + [
            f"| {r['arch']}/{r['config']} | {r['frame']} | {r['median_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['decoder_macs'] / 1e6:.0f} | {r['decoder_params']:,} | "
            f"{r['max_abs_err_vs_keras']:.1e} |" for r in rows]))
    body = "\n\n".join(tables)
    print(body)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if args.record:
        print(write_record("train", title="Training speed and memory (train/)",
                           about=__doc__.split("\n\n")[0].replace("\n", " "), body=body,
                           packages=("tensorflow", "keras", "onnxruntime"),
                           load_start=load_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())

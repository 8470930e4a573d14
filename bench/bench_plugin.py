"""Benchmark of the DAW plugin (plugin/build), in one run on one machine:

  - CPU time of process() per 128-frame block (p50 / p99 / max, the host thread's CPU clock) while
    every knob moves, in the CLAP test host at the audio rate (real-time mode: the worker decodes
    beside it, as in a DAW);
  - time from a parameter change (morph) to the re-decoded bank, all classes, on the engine;
  - offline render speed of the VST3 in pedalboard beside `vae-synth render` (the Python engine)
    on the same pattern, each a command of its own, as multiples of real time.

    .venv/bin/python bench/bench_plugin.py [--preset drums] [--seconds 20] [--trials 40] [--record]

Needs the plugin built (make -C plugin, or scripts/setup.sh test).
"""

from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vae_synth.cli import pin_blas_threads

pin_blas_threads()  # as `vae-synth render` does

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "plugin"))
sys.path.insert(0, str(ROOT / "tests" / "synth"))

from plugin_rig import BIN, host_env, preset_numbers, render_vst3, require_build, run_host  # noqa: E402
from synth_rig import write_midi  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from record import load_average, write_record  # noqa: E402

RATE = 48000


def _pattern(seconds: float, knobs: bool):
    """A drum pattern (8 hits per second), and with knobs every parameter moving every block."""
    events = []
    pads = [36, 42, 38, 42, 36, 46, 38, 44]
    frames = int(seconds * RATE)
    for i, frame in enumerate(range(0, frames, RATE // 8)):
        events.append(("midi", frame + 11, [0x99, pads[i % len(pads)], 90 + (i * 7) % 37]))
    if knobs:
        names = ["morph", "x", "y", "variation", "pca1", "pca2", "pca3", "decay", "pitch", "volume"]
        for i, frame in enumerate(range(0, frames, 128)):
            name = names[i % len(names)]
            events.append(("param", frame, name, round(0.5 + 0.45 * np.sin(i / 50.0), 4)))
    return sorted(events, key=lambda e: e[1]), frames


def block_cpu(tmp: Path, env: dict, seconds: float, preset: int) -> dict:
    events, frames = _pattern(seconds, knobs=True)
    timing = tmp / "timing.f64"
    cmd_env = dict(env)
    run_host("clap", events, frames, tmp, cmd_env, RATE, (128,), offline=False, realtime=True,
             warmup=2.0, params={"preset": preset}, timeout=seconds * 4 + 120)
    # the run above warms the page cache; the measured one writes its per-block CPU times
    script = tmp / "timed.events"
    from plugin_rig import write_events

    write_events(script, events)
    out = subprocess.run([str(BIN / "vae-synth-clap-host"), str(BIN / "vae-synth.clap"),
                          "--rate", str(RATE), "--frames", str(frames), "--blocks", "128",
                          "--events", str(script), "--realtime", "--warmup", "2",
                          "--param", f"preset={preset}", "--timing", str(timing)],
                         env=env, capture_output=True, text=True, timeout=seconds * 4 + 120)
    assert out.returncode == 0, out.stderr
    t = np.fromfile(timing, dtype=np.float64) * 1e6
    budget = 128 / RATE * 1e6
    return {"blocks": len(t), "p50_us": float(np.percentile(t, 50)),
            "p99_us": float(np.percentile(t, 99)), "max_us": float(t.max()), "budget_us": budget}


def redecode(tmp: Path, env: dict, preset: int, trials: int) -> dict:
    out = tmp / "redecode.f64"
    subprocess.run([str(BIN / "vae-synth-bench-core"), str(preset), str(RATE), str(trials),
                    str(out)], env=env, check=True, timeout=600)
    t = np.fromfile(out, dtype=np.float64) * 1e3
    return {"trials": len(t), "p50_ms": float(np.percentile(t, 50)),
            "p99_ms": float(np.percentile(t, 99)), "max_ms": float(t.max())}


def render_speed(tmp: Path, env: dict, name: str, preset: int, seconds: float) -> dict:
    """The same pattern rendered offline by the VST3 in pedalboard and by `vae-synth render`,
    each a command of its own (start-up, plugin or preset load and the render included)."""
    events, frames = _pattern(seconds, knobs=False)
    t0 = time.perf_counter()
    render_vst3(events, frames, tmp, env, RATE, 128, params={"preset": preset})
    vst3 = time.perf_counter() - t0
    # the same hits as a MIDI file (tests/synth/synth_rig.py's writer; the drums ignore note-offs)
    midi = write_midi(tmp / "pattern.mid", [(e[1] / RATE, e[2][1], e[2][2], 0.05)
                                             for e in events if e[0] == "midi"],
                      ticks_per_beat=9600)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "vae_synth", "render", "--preset", name, "--midi",
                    str(midi), "--out", str(tmp / "pattern.wav"), "--samplerate", str(RATE),
                    "--tail", "0"], env=env, check=True, capture_output=True, timeout=600)
    python = time.perf_counter() - t0
    return {"seconds": seconds, "vst3_pedalboard_x": seconds / vst3,
            "vae_synth_render_x": seconds / python, "vst3_wall_s": vst3, "python_wall_s": python}


ABOUT = """\
The DAW plugin (plugin/build) on one machine in one run: the CPU time of `process()` per
128-frame block (the host thread's CPU clock) in the CLAP test host at 48 kHz in real-time mode
(the worker decodes beside it, as in a DAW) while a drum pattern plays (8 hits/s) and one
parameter moves every block; the time from a morph change to the whole re-decoded bank in the
audio thread's hands, on the engine at the audio rate (`vae-synth-bench-core`); and the offline
render of the same pattern by the VST3 in pedalboard beside `vae-synth render`, each a command
of its own, start-up and loading included."""


def body(cpu: dict, re: dict, speed: dict) -> str:
    return "\n".join([
        "| what | figure |", "|---|---|",
        f"| `process()` CPU time per 128-frame block while knobs move ({cpu['blocks']} blocks) | "
        f"p50 {cpu['p50_us']:.1f} µs, p99 {cpu['p99_us']:.1f} µs, max {cpu['max_us']:.0f} µs "
        f"(budget {cpu['budget_us']:.0f} µs: {cpu['p99_us'] / cpu['budget_us']:.1%} at p99) |",
        f"| morph change → the whole bank re-decoded ({re['trials']} changes) | p50 "
        f"{re['p50_ms']:.1f} ms, p99 {re['p99_ms']:.1f} ms, max {re['max_ms']:.1f} ms |",
        f"| offline render of {speed['seconds']:.0f} s of the pattern | VST3 in pedalboard "
        f"{speed['vst3_pedalboard_x']:.1f}x real time ({speed['vst3_wall_s']:.2f} s), "
        f"`vae-synth render` {speed['vae_synth_render_x']:.1f}x ({speed['python_wall_s']:.2f} s); "
        f"the plugin {speed['python_wall_s'] / speed['vst3_wall_s']:.2f}x "
        f"the speed of the Python engine |"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="drums")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--record", action="store_true", help="write bench/results/plugin.json")
    args = parser.parse_args()
    require_build()
    load_start = load_average()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        env = host_env(tmp / "home")
        number = preset_numbers(env)[args.preset]
        print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, "
              f"{len(__import__('os').sched_getaffinity(0))} cores; preset {args.preset}, {RATE} Hz")
        cpu = block_cpu(tmp, env, args.seconds, number)
        print(f"process() CPU per 128-frame block while knobs move ({cpu['blocks']} blocks): "
              f"p50 {cpu['p50_us']:.1f} us, p99 {cpu['p99_us']:.1f} us, max {cpu['max_us']:.0f} us "
              f"(budget {cpu['budget_us']:.0f} us)")
        re = redecode(tmp, env, number, args.trials)
        print(f"morph change -> whole bank re-decoded ({re['trials']} changes): p50 {re['p50_ms']:.1f} ms, "
              f"p99 {re['p99_ms']:.1f} ms, max {re['max_ms']:.1f} ms")
        speed = render_speed(tmp, env, args.preset, number, args.seconds)
        print(f"offline render of {speed['seconds']:.0f} s: VST3 in pedalboard {speed['vst3_pedalboard_x']:.1f}x "
              f"real time ({speed['vst3_wall_s']:.2f} s, plugin load included), vae-synth render "
              f"{speed['vae_synth_render_x']:.1f}x ({speed['python_wall_s']:.2f} s, preset load included)")
    if args.record:
        print(write_record("plugin", title="DAW plugin (plugin/)", about=ABOUT,
                           body=body(cpu, re, speed), packages=("onnxruntime", "pedalboard"),
                           load_start=load_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real soak of the live engine beside a trivial client, and how much the GIL costs the callback.

One private JACK server (dummy backend, 48 kHz, 128 frames), the engine in this process (PortAudio
JACK stream, rtmidi JACK input, decode thread), a trivial sounddevice client in another process (a
prepared burst on note-on), a MIDI sender and a recorder client: bench_engine.py's rig. Phases, all
on the same server in one run:

1. callback start delay: how far into its JACK cycle each Python callback starts
   (``jack_frames_since_cycle_start``), engine and trivial client side by side, with the
   engine idle, with its decode thread busy (knob sweeps), and with a Python thread busy in the
   engine's process (the GIL held by plain Python code);
2. the soak: a drum pattern (16ths at 120 bpm) and continuous sweeps of morph, variation and the
   XY pad (100 controller messages/s) for ``--soak`` seconds: engine underruns (measure (a)) vs the
   trivial client's, server xruns, decode p50/p99, RSS after 1 minute and at the end, the recorded
   output's peak and any NaN (recorded in 20 s chunks);
3. note-on latency (60 notes, p95) after the soak;
4. the trivial client alone (the engine's stream stopped) for ``--alone`` seconds with the same
   notes: server xruns without the engine (measure (b)).

    .venv/bin/python bench/bench_soak.py --preset presets/drums --soak 300 [--realtime] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine  # noqa: E402  (pins BLAS threads before numpy, as `vae-synth play` does)
import numpy as np  # noqa: E402

SR, BLOCK = bench_engine.SR, bench_engine.BLOCK
DELAYS = np.zeros(1 << 20, np.float32)   # engine callback start after its cycle start (us)
_count = [0]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_engine_callback() -> None:
    """Wrap Engine.callback: note when each callback starts, against its JACK cycle."""
    import jack
    from vae_synth.synth import engine as engine_module

    clock = jack.Client("engine-clock", no_start_server=True)  # never activated: a clock only
    original = engine_module.Engine.callback

    def callback(self, outdata, frames, time_info, status):
        DELAYS[_count[0] % len(DELAYS)] = clock.frames_since_cycle_start * (1e6 / SR)
        _count[0] += 1
        original(self, outdata, frames, time_info, status)

    engine_module.Engine.callback = callback
    measure_engine_callback.clock = clock


class Phase:
    """Counters of one phase: engine and trivial underruns and callback delays, server xruns."""

    def __init__(self, rig, name: str):
        self.rig, self.name = rig, name
        self.tu0 = rig.trivial_stats()[0]  # (also starts the trivial client's delay window)
        self.u0, self.x0, self.c0 = rig.engine.underruns, rig.recorder.xruns, _count[0]
        self.b0, self.t0 = rig.engine.blocks, time.monotonic()

    def end(self, **extra) -> dict:
        rig = self.rig
        trivial = rig.trivial_stats()
        seconds = time.monotonic() - self.t0
        n0, n1 = self.c0, _count[0]
        d = DELAYS[n0 % len(DELAYS):n1 % len(DELAYS)] if n1 > n0 else DELAYS[:0]
        q = np.percentile(d, [50, 99, 100]) if len(d) else [0, 0, 0]
        blocks = rig.engine.blocks - self.b0
        return {"phase": self.name, "seconds": round(seconds, 1),
                "engine_underruns": rig.engine.underruns - self.u0, "engine_blocks": blocks,
                "trivial_underruns": trivial[0] - self.tu0, "server_xruns": rig.recorder.xruns - self.x0,
                "engine_delay_us_p50_p99_max": [round(float(v)) for v in q],
                "trivial_delay_us_p50_p99_max": trivial[2:5], **extra}


def drive(rig, seconds: float, notes: bool = True, sweeps: bool = True, chunks=None) -> None:
    """Send a drum pattern (16ths at 120 bpm: kick, hat, snare, hat) and controller sweeps
    (morph, variation, x, y in turn, 100 messages/s) for ``seconds`` of JACK time. ``chunks``:
    called every 20 s (the soak's recording chunks)."""
    sender = rig.sender
    pad = rig.engine.instrument.preset.midi.notes
    by_class = {}
    for note, name in sorted(pad.items()):
        by_class.setdefault(name, note)
    kit = list(by_class.values())
    pattern = [kit[0], kit[-1], kit[min(1, len(kit) - 1)], kit[-1]]
    t = sender.frame_time + 4 * BLOCK
    end = t + int(seconds * SR)
    step = SR // 100
    i, next_chunk = 0, time.monotonic() + 20
    while t < end:
        if sweeps:
            cc = (1, 18, 16, 17)[i % 4]
            sender.send([0xB9, cc, int(64 + 63 * np.sin(i / (40 + 7 * (i % 4))))], at_frame=t)
        if notes and i % 12 == 0:  # 8.3 notes/s
            sender.send([0x99, pattern[(i // 12) % 4], 100 + (i // 12) % 27], at_frame=t + 1)
        t += step
        i += 1
        if i % 50 == 0:
            while t > sender.frame_time + SR:   # schedule at most a second ahead
                time.sleep(0.02)
            if chunks is not None and time.monotonic() >= next_chunk:
                chunks()
                next_chunk = time.monotonic() + 20
    sender.wait_sent(timeout=seconds + 30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=str(Path(__file__).resolve().parents[1] / "presets"
                                                / "drums"))
    parser.add_argument("--soak", type=float, default=300.0)
    parser.add_argument("--phase", type=float, default=20.0, help="seconds of each delay phase")
    parser.add_argument("--alone", type=float, default=60.0)
    parser.add_argument("--realtime", action="store_true", help="jackd -R")
    parser.add_argument("--json", help="write results here too")
    args = parser.parse_args()
    jack_proc = bench_engine.start_jack(f"bench-soak-{os.getpid()}", args.realtime)
    results = {"preset": args.preset, "realtime": args.realtime,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "load_avg_at_start": os.getloadavg(), "phases": []}
    rig = None
    try:
        measure_engine_callback()
        rig = bench_engine.Rig(Path(args.preset))
        time.sleep(3)
        phase = Phase(rig, "idle (no MIDI)")
        time.sleep(args.phase)
        results["phases"].append(phase.end())
        phase = Phase(rig, "decode busy (pattern + sweeps)")
        drive(rig, args.phase)
        results["phases"].append(phase.end())
        stop = threading.Event()

        def busy():   # plain Python holding the GIL between switch intervals
            x = 0
            while not stop.is_set():
                for k in range(1000):
                    x += k * k

        spinner = threading.Thread(target=busy, daemon=True)
        phase = Phase(rig, "a Python thread busy (pattern, no sweeps)")
        spinner.start()
        drive(rig, args.phase, sweeps=False)
        stop.set()
        spinner.join()
        results["phases"].append(phase.end())

        # the soak
        peaks, nonfinite, recorded = [], 0, 0
        rss = {"start_mb": round(_rss_mb(), 1)}
        soak_start = time.monotonic()

        def chunk():
            nonlocal nonfinite, recorded
            rec = rig.recorder.stop_recording()
            if len(rec.audio):
                finite = np.isfinite(rec.audio)
                nonfinite += int((~finite).sum())
                peaks.append(float(np.abs(np.where(finite, rec.audio, 0)).max()))
                recorded += len(rec.audio)
            if "1_min_mb" not in rss and time.monotonic() - soak_start >= 60:
                rss["1_min_mb"] = round(_rss_mb(), 1)
            rig.recorder.start_recording()

        d0 = rig.engine.decoder.stats.count
        phase = Phase(rig, f"soak {args.soak:.0f} s")
        rig.recorder.start_recording()
        drive(rig, args.soak, chunks=chunk)
        chunk()
        rig.recorder.stop_recording()
        rss["end_mb"] = round(_rss_mb(), 1)
        stats = rig.engine.decoder.stats
        p50, p99 = stats.percentiles()
        results["phases"].append(phase.end(
            rss=rss, recorded_s=round(recorded / SR, 1), peak=round(max(peaks), 4),
            nonfinite_samples=nonfinite, decode_ms_p50_p99=[round(p50, 2), round(p99, 2)],
            class_decodes=stats.count - d0, notes=rig.engine.notes,
            callback_max_ms=round(rig.engine.callback_max * 1e3, 2),
            dropped_midi=rig.engine.dropped_midi))
        results["latency_after_soak"] = bench_engine.bench_latency(rig)

        # the trivial client alone: the engine's stream stopped
        rig.stream.stop()
        phase = Phase(rig, "trivial client alone (engine stream stopped)")
        drive(rig, args.alone)
        results["phases"].append(phase.end())
        rig.stream.start()
    finally:
        if rig is not None:
            rig.close()
        import sounddevice as sd

        sd._terminate()
        jack_proc.terminate()
        jack_proc.wait(timeout=10)
    results["load_avg_at_end"] = os.getloadavg()
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real soak of the live engine beside a trivial client, and how much the GIL costs the callback.

One private JACK server (dummy backend, 48 kHz, 128 frames), the engine in this process (PortAudio
JACK stream, rtmidi JACK input, decode thread), a trivial sounddevice client in another process (a
prepared burst on note-on), a MIDI sender and a recorder client: bench_engine.py's rig. Phases, all
on the same server in one run:

1. callback start delay: how far into its JACK cycle each Python callback starts
   (``jack_frames_since_cycle_start``), engine and trivial client side by side, with the
   engine idle, with its decode thread busy (knob sweeps), and with a Python thread busy in the
   engine's process (the GIL held by plain Python code);
2. the soak: a drum pattern (16ths at 120 bpm, 8.3 notes/s) and continuous sweeps of morph, variation and the
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
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine  # noqa: E402  (pins BLAS threads before numpy, as `vae-synth play` does)
import numpy as np  # noqa: E402

SR, BLOCK = bench_engine.SR, bench_engine.BLOCK

# The pattern's sender, in a process of its own. A MIDI writer in the engine's process waits for
# the GIL, falls behind, and JACK then runs rtmidi's input while the writer still clears and fills
# the same buffer: rtmidi reads an event that is gone (jack_midi_event_get fails, RtMidi 5.0 does
# not check) and crashed the soak twice (SIGSEGV in _rtmidi). "go SECONDS SWEEPS NOTES NOTE..."
# starts the pattern at the next cycle; it prints "done" when it has written all of it.
SENDER = r"""
import math, sys, threading, jack
client = jack.Client("soak-sender", no_start_server=True)
out = client.midi_outports.register("midi_out")
state = {"start": -1, "end": -1, "sweeps": True, "notes": True, "kit": [36], "done": None}
STEP = 480  # frames between controller messages: 100 a second at 48 kHz
@client.set_process_callback
def process(frames):
    out.clear_buffer()
    start, end = state["start"], state["end"]
    f0 = client.last_frame_time
    if start < 0 or f0 + frames <= start:
        return
    if f0 >= end:
        if state["done"] is not None:
            state["done"].set()
        return
    first = max(0, -(-(f0 - start) // STEP))
    i = first
    while start + i * STEP < min(f0 + frames, end):
        offset = start + i * STEP - f0
        if state["sweeps"]:
            cc = (1, 18, 16, 17)[i % 4]
            out.write_midi_event(offset, bytes((0xB9, cc, int(64 + 63 * math.sin(i / (40 + 7 * (i % 4)))))))
        if state["notes"] and i % 12 == 0:
            kit = state["kit"]
            out.write_midi_event(offset, bytes((0x99, kit[(i // 12) % len(kit)], 100 + (i // 12) % 27)))
        i += 1
client.activate()
print("ready", flush=True)
for line in sys.stdin:
    words = line.split()
    if not words or words[0] != "go":
        break
    seconds, sweeps, notes, kit = float(words[1]), words[2] == "1", words[3] == "1", words[4:]
    start = client.frame_time + 2 * client.blocksize
    state.update(sweeps=sweeps, notes=notes, kit=[int(k) for k in kit], start=start,
                 end=start + int(seconds * client.samplerate))
    done = state["done"] = threading.Event()  # after the new end: the old one is long past
    done.wait()
    print("done", flush=True)
client.deactivate(); client.close()
"""


class Sender:
    """The soak-sender process, connected to the engine's and the trivial client's inputs."""

    def __init__(self, rig):
        import subprocess

        self.proc = subprocess.Popen([sys.executable, "-c", SENDER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        for target in ("vae-synth:midi_in", "trivial:midi_in"):
            rig.sender.client.connect("soak-sender:midi_out", target)
        by_class = {}
        for note, name in sorted(rig.engine.instrument.preset.midi.notes.items()):
            by_class.setdefault(name, note)
        kit = list(by_class.values())   # 16ths: kick, hat, snare, hat (the classes in order)
        self.kit = [kit[0], kit[-1], kit[min(1, len(kit) - 1)], kit[-1]]

    def play(self, seconds: float, sweeps: bool = True, notes: bool = True, every=None) -> None:
        """The pattern for ``seconds`` of JACK time; ``every()`` is called every 20 s meanwhile."""
        import selectors

        self.proc.stdin.write(f"go {seconds} {int(sweeps)} {int(notes)} "
                              f"{' '.join(map(str, self.kit))}\n")
        self.proc.stdin.flush()
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        while not selector.select(timeout=20):
            if every is not None:
                every()
        assert self.proc.stdout.readline().strip() == "done"

    def close(self) -> None:
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=10)
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


def server_log_counts(log_path: Path, offset: int) -> tuple[dict, int]:
    """Counts of jackd's log lines from ``offset`` on: server xruns (a cycle whose graph did not
    finish, or the driver woke late) and, per client, cycles it did not finish in time."""
    with open(log_path, "rb") as log:
        log.seek(offset)
        text = log.read()
    counts = {"server_xruns": 0, "late_clients": {}}
    for line in text.decode(errors="replace").splitlines():
        if "ProcessGraphAsyncMaster: Process error" in line or "Process XRun" in line:
            counts["server_xruns"] += 1
        elif "was not finished" in line:
            client = line.split("client = ", 1)[1].split(" was not", 1)[0]
            counts["late_clients"][client] = counts["late_clients"].get(client, 0) + 1
    return counts, offset + len(text)


class Phase:
    """Counters of one phase: engine and trivial underruns and callback delays, server xruns
    and late clients (jackd's log)."""

    log_path: Path = Path()

    def __init__(self, rig, name: str):
        self.rig, self.name = rig, name
        self.log0 = self.log_path.stat().st_size
        self.tu0 = rig.trivial_stats()[0]  # (also starts the trivial client's delay window)
        self.u0, self.c0 = rig.engine.underruns, _count[0]
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
                "trivial_underruns": trivial[0] - self.tu0,
                **server_log_counts(self.log_path, self.log0)[0],
                "engine_delay_us_p50_p99_max": [round(float(v)) for v in q],
                "trivial_delay_us_p50_p99_max": trivial[2:5], **extra}


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
    Phase.log_path = Path(tempfile.mkdtemp(prefix="bench-soak-")) / "jackd.log"
    jack_proc = bench_engine.start_jack(f"bench-soak-{os.getpid()}", args.realtime,
                                        Phase.log_path)
    results = {"preset": args.preset, "realtime": args.realtime,
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "load_avg_at_start": os.getloadavg(), "phases": []}
    rig = None
    try:
        measure_engine_callback()
        rig = bench_engine.Rig(Path(args.preset))
        for target in ("vae-synth:midi_in", "trivial:midi_in"):   # see SENDER
            rig.sender.client.disconnect(rig.sender.midi_out, target)
        sender = Sender(rig)
        time.sleep(3)
        phase = Phase(rig, "idle (no MIDI)")
        time.sleep(args.phase)
        results["phases"].append(phase.end())
        phase = Phase(rig, "decode busy (pattern + sweeps)")
        sender.play(args.phase)
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
        sender.play(args.phase, sweeps=False)
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
        sender.play(args.soak, every=chunk)
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
        rig.sender.connect_midi("vae-synth:midi_in")   # frame-stamped notes, nothing else
        results["latency_after_soak"] = bench_engine.bench_latency(rig)
        rig.sender.client.disconnect(rig.sender.midi_out, "vae-synth:midi_in")

        # the trivial client alone: the engine's stream stopped
        rig.stream.stop()
        phase = Phase(rig, "trivial client alone (engine stream stopped)")
        sender.play(args.alone)
        results["phases"].append(phase.end())
        rig.stream.start()
        sender.close()
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

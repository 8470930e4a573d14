"""A soak of the live engine, native mixer and Python mixer side by side with a trivial client.

One private JACK server (dummy backend, 48 kHz, 128 frames) and, each in a process of its own:
the engine with the native mixer (its PortAudio callback is C), the same engine with the Python
mixer (the sounddevice callback), a trivial sounddevice client (a prepared burst on note-on,
rtmidi's JACK input), and a MIDI sender. Each engine process is what `vae-synth play` runs
(PortAudio JACK stream, the native JACK MIDI input, decode thread) and nothing else; the recorder and the latency probe live in
this process. Phases, all on the same server in one run:

1. idle (no MIDI); 2. decode busy (a drum pattern and knob sweeps); 3. a Python thread busy in
each engine's process (the pattern, no sweeps); 4. the soak: the pattern (16ths at 120 bpm) and
sweeps of morph, variation and the XY pad (100 controller messages/s) for ``--soak`` seconds,
the engines' outputs recorded (peak, NaN) and their RSS read after 1 minute and at the end;
5. note-on latency of each engine (60 notes); 6. the trivial client alone (both engine streams
stopped).

For every phase: the cycles jackd counted each client late in (its log's "client = X was not
finished"), PortAudio's underflow flags, and where in its JACK cycle each audio callback
started (``jack_frames_since_cycle_start``; the native callback reads it in C).

    nice -n 10 .venv/bin/python bench/bench_soak.py --soak 300 [--jackd realtime,no-realtime]
        [--context TEXT] [--json F] [--record]
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_engine  # noqa: E402  (pins BLAS threads before numpy, as `vae-synth play` does)
import numpy as np  # noqa: E402
from record import load_average, write_record  # noqa: E402

SR, BLOCK = bench_engine.SR, bench_engine.BLOCK
ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("native", "python")

# The pattern's sender, in a process of its own (a MIDI writer that falls behind can crash
# RtMidi 5.0's JACK input: docs/ARCHITECTURE.md). "go SECONDS SWEEPS NOTES NOTE..." starts the
# pattern at the next cycle; it prints "done" when it has written all of it.
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

# One engine as `vae-synth play --audio-api jack --midi-in virtual` runs it, with its callback
# timed against JACK's cycle. argv: mixing, preset, MIDI client name. Commands on stdin, one
# JSON line back: "stats" (counters, and percentiles since the previous "stats"), "busy 1|0" (a
# Python thread spinning in this process), "stop" / "start" (the stream), "quit".
ENGINE = r"""
import ctypes, json, os, sys, threading, time
from vae_synth.cli import pin_blas_threads
pin_blas_threads()
import numpy as np, jack, sounddevice as sd
from vae_synth.synth.engine import Engine, close_stream, freeze_collector, thaw_collector
from vae_synth.synth.jack_midi import JackMidiInputs
from vae_synth.synth.preset import load_preset
mixing, preset, name = sys.argv[1:4]
engine = Engine(load_preset(preset), 48000, 128, 16, learn=False, mixing=mixing)
midi = JackMidiInputs(engine.router, "virtual", client_name=name)   # as `vae-synth play`
midi.open()
clock = jack.Client(name + "-clock", no_start_server=True)   # never activated: the cycle clock
RING = 1 << 20
starts, durations, count = np.zeros(RING, np.float32), np.zeros(RING, np.float32), [0]
if engine.native is not None:
    libjack = ctypes.CDLL("libjack.so.0")
    engine.native.set_cycle_clock(
        ctypes.cast(libjack.jack_frames_since_cycle_start, ctypes.c_void_p).value,
        int(jack._ffi.cast("uintptr_t", clock._ptr)))
else:
    python_callback = engine.callback
    def callback(outdata, frames, time_info, status):
        t0 = time.perf_counter()
        starts[count[0] % RING] = clock.frames_since_cycle_start * (1e6 / 48000)
        python_callback(outdata, frames, time_info, status)
        durations[count[0] % RING] = (time.perf_counter() - t0) * 1e6
        count[0] += 1
    engine.callback = callback
engine.start()
freeze_collector()
device = [i for i, d in enumerate(sd.query_devices())
          if "JACK" in sd.query_hostapis(d["hostapi"])["name"] and d["max_output_channels"] > 0][0]
stream = engine.open_stream(sd, device, 2)
stream.start()
busy = {"on": False}
def spin():
    x = 0
    while True:
        if busy["on"]:
            for k in range(1000):
                x += k * k
        else:
            time.sleep(0.01)
threading.Thread(target=spin, daemon=True).start()
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
mark = [0]
print(json.dumps({"ready": True, "mixing": engine.mixing}), flush=True)
for line in sys.stdin:
    words = line.split()
    if words[0] == "stats":
        if engine.native is not None:
            s, d, end = engine.native.timings(mark[0])
        else:
            end = count[0]
            lo = max(mark[0], end - RING)
            idx = np.arange(lo, end) % RING
            s, d = starts[idx], durations[idx]
        mark[0] = end
        q = lambda a: [round(float(v), 1) for v in np.percentile(a, [50, 99, 100])] if len(a) else [0, 0, 0]
        decoder = engine.decoder.stats
        p50, p99 = decoder.percentiles()
        print(json.dumps({"underruns": engine.underruns, "blocks": engine.blocks,
                          "notes": engine.notes, "dropped_midi": engine.dropped_midi,
                          "callbacks": len(s), "start_us": q(s), "duration_us": q(d),
                          "callback_max_ms": round(engine.callback_max * 1e3, 2),
                          "decode_ms": [round(p50, 2), round(p99, 2)],
                          "class_decodes": decoder.count, "rss_mb": round(rss_mb(), 1)}),
              flush=True)
    elif words[0] == "rss":
        print(json.dumps({"rss_mb": round(rss_mb(), 1)}), flush=True)
    elif words[0] == "busy":
        busy["on"] = words[1] == "1"
        print("{}", flush=True)
    elif words[0] == "stop":
        stream.stop()
        print("{}", flush=True)
    elif words[0] == "start":
        stream.start()
        print("{}", flush=True)
    else:
        break
close_stream(stream)
midi.close()
engine.stop()
print("{}", flush=True)
"""


def _signal_name(code: int | None) -> str:
    if code is None:
        return "running"
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"exit {code}"


# Each client's Python with faulthandler on: a client that dies of a signal (SIGSEGV) prints
# every thread's Python stack, which says whose thread crashed (the audio callback, rtmidi's).
CHILD_PYTHON = [sys.executable, "-X", "faulthandler"]


class Child:
    """A JACK client in a process of its own, asked for its figures on stdin."""

    def __init__(self, label: str, args: list[str], audio_ports_before: set[str], jack_client):
        self.label = label
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        first = self.proc.stdout.readline().strip()
        if not first.startswith(("{", "ready")):
            raise RuntimeError(f"{label} did not start: {first!r}")
        self.start_line = first
        time.sleep(0.3)
        ports = {p.name for p in jack_client.get_ports(is_audio=True, is_output=True)}
        new = sorted(ports - audio_ports_before)
        self.audio_client = new[0].split(":")[0] if new else "?"
        self.audio_ports = [p for p in new if p.startswith(self.audio_client + ":")]

    @property
    def died(self) -> str | None:
        code = self.proc.poll()
        return None if code is None else _signal_name(code)

    def ask(self, command: str) -> dict | None:
        """The answer to ``command``, or None when the process has died."""
        if self.died:
            return None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError):
            return None
        if not line:
            return None
        return self.parse(line)

    def parse(self, line: str) -> dict:
        return json.loads(line)

    def close(self) -> None:
        if not self.died:
            self.ask("quit")
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class Trivial(Child):
    """bench_engine's trivial client: "stats" gives underruns, callbacks, start p50 p99 max."""

    def parse(self, line: str) -> dict:
        under, calls, p50, p99, top = (int(v) for v in line.split())
        return {"underruns": under, "callbacks_total": calls, "start_us": [p50, p99, top]}


def start_jack(name: str, realtime: bool, log_path: Path):
    import sounddevice as sd

    if not sd._initialized:   # the previous run terminated PortAudio before stopping its jackd
        sd._initialize()
    try:
        return bench_engine.start_jack(name, realtime, log_path)
    except subprocess.CalledProcessError:
        return None


def server_log_counts(log_path: Path, offset: int) -> tuple[dict, int]:
    """Counts of jackd's log lines from ``offset`` on: server xruns (a cycle whose graph did not
    finish, or the driver woke late) and, per client, cycles it did not finish in time."""
    with open(log_path, "rb") as log:
        log.seek(offset)
        text = log.read()
    counts = {"server_xruns": 0, "late": {}}
    for line in text.decode(errors="replace").splitlines():
        if "ProcessGraphAsyncMaster: Process error" in line or "Process XRun" in line:
            counts["server_xruns"] += 1
        elif "was not finished" in line:
            client = line.split("client = ", 1)[1].split(" was not", 1)[0]
            counts["late"][client] = counts["late"].get(client, 0) + 1
    return counts, offset + len(text)


class Run:
    """One jackd with the three clients, the sender, the recorder and the latency probe."""

    def __init__(self, preset: Path, realtime: bool, folder: Path):
        import jack
        from fixtures_jack import JackProbe

        self.log_path = folder / f"jackd-{'rt' if realtime else 'nort'}.log"
        self.realtime = realtime
        self.jackd = start_jack(f"bench-soak-{os.getpid()}-{int(realtime)}", realtime,
                                self.log_path)
        if self.jackd is None:
            raise RuntimeError(f"jackd {'-R' if realtime else '--no-realtime'} did not start")
        self.server = types.SimpleNamespace(name=os.environ["JACK_DEFAULT_SERVER"],
                                            samplerate=SR, blocksize=BLOCK)
        self.jack = jack.Client("soak-bench", no_start_server=True)  # port listing, connections
        self.children: dict[str, Child] = {}

        def ports():
            return {p.name for p in self.jack.get_ports(is_audio=True, is_output=True)}

        self.children["trivial"] = Trivial(
            "trivial", [*CHILD_PYTHON, "-c", bench_engine.TRIVIAL_CLIENT], ports(), self.jack)
        self.midi_clients = {"trivial": "trivial"}
        for mixing in ENGINES:
            name = f"{mixing}-engine"
            self.children[mixing] = Child(mixing, [*CHILD_PYTHON, "-c", ENGINE, mixing,
                                                   str(preset), name], ports(), self.jack)
            self.midi_clients[mixing] = name
            started = json.loads(self.children[mixing].start_line)
            assert started["mixing"] == mixing, started
        self.sender = subprocess.Popen([sys.executable, "-c", SENDER], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        assert self.sender.stdout.readline().strip() == "ready"
        for name in self.midi_clients.values():
            self.jack.connect("soak-sender:midi_out", f"{name}:midi_in")
        from vae_synth.synth.preset import load_preset

        by_class = {}
        for note, cls in sorted(load_preset(preset).midi.notes.items()):
            by_class.setdefault(cls, note)
        kit = list(by_class.values())   # 16ths: kick, hat, snare, hat (the classes in order)
        self.kit = [kit[0], kit[-1], kit[min(1, len(kit) - 1)], kit[-1]]
        self.recorder = JackProbe(self.server, name="recorder", channels=2, capacity_seconds=30)
        self.recorder.connect_audio([self.children[m].audio_ports[0] for m in ENGINES])
        self.probe = JackProbe(self.server, name="latency-sender", channels=1)
        time.sleep(1)

    def play(self, seconds: float, sweeps: bool = True, notes: bool = True, every=None) -> None:
        """The pattern for ``seconds`` of JACK time; ``every()`` every 20 s meanwhile."""
        self.sender.stdin.write(f"go {seconds} {int(sweeps)} {int(notes)} "
                                f"{' '.join(map(str, self.kit))}\n")
        self.sender.stdin.flush()
        selector = selectors.DefaultSelector()
        selector.register(self.sender.stdout, selectors.EVENT_READ)
        while not selector.select(timeout=20):
            if every is not None:
                every()
        assert self.sender.stdout.readline().strip() == "done"

    def ask_all(self, command: str, labels=None) -> dict:
        """``command`` to every client (``labels``: those only)."""
        return {label: child.ask(command) for label, child in self.children.items()
                if labels is None or label in labels}

    def phase(self, name: str, action, **extra_of) -> dict:
        """Run ``action()`` and return the phase's figures per client."""
        offset = self.log_path.stat().st_size
        before = self.ask_all("stats")
        t0 = time.monotonic()
        extra = action() or {}
        seconds = time.monotonic() - t0
        after = self.ask_all("stats")
        log = server_log_counts(self.log_path, offset)[0]
        clients = {}
        for label, child in self.children.items():
            a, b = after[label], before[label]
            if a is None or b is None:
                clients[label] = {"died": child.died}
                continue
            figures = {"underruns": a["underruns"] - b["underruns"], "start_us": a["start_us"],
                       "late": log["late"].get(child.audio_client, 0),
                       "midi_late": log["late"].get(self.midi_clients[label], 0)}
            if label != "trivial":
                figures.update(blocks=a["blocks"] - b["blocks"], duration_us=a["duration_us"],
                               notes=a["notes"] - b["notes"], decode_ms=a["decode_ms"],
                               class_decodes=a["class_decodes"] - b["class_decodes"],
                               callback_max_ms=a["callback_max_ms"],
                               dropped_midi=a["dropped_midi"] - b["dropped_midi"])
            clients[label] = figures
        return {"phase": name, "seconds": round(seconds, 1), "server_xruns": log["server_xruns"],
                "clients": clients, **extra}

    def latency(self, mixing: str, n: int = 60) -> dict:
        """Note-on latency of one engine: frame-stamped notes from the probe, its output
        recorded, on JACK's clock."""
        target = f"{self.midi_clients[mixing]}:midi_in"
        self.jack.connect("latency-sender:midi_out", target)
        for inport in ("recorder:in_1", "recorder:in_2"):   # only this engine is heard
            for port in self.jack.get_all_connections(inport):
                self.jack.disconnect(port, inport)
        self.jack.connect(self.children[mixing].audio_ports[0], "recorder:in_1")
        rig = types.SimpleNamespace(sender=self.probe, recorder=self.recorder)
        try:
            return bench_engine.bench_latency(rig, n)
        finally:
            self.jack.disconnect("latency-sender:midi_out", target)

    def close(self) -> None:
        for probe in (self.probe, self.recorder):
            probe.close()
        if self.sender.poll() is None:
            self.sender.stdin.write("quit\n")
            self.sender.stdin.flush()
            self.sender.wait(timeout=10)
        for child in self.children.values():
            child.close()
        self.jack.close()
        import sounddevice as sd

        sd._terminate()
        self.jackd.terminate()
        self.jackd.wait(timeout=10)


def soak_run(preset: Path, realtime: bool, args, folder: Path) -> dict:
    """Every phase on one server; returns the run's figures."""
    result = {"realtime": realtime, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_start": load_average(), "phases": []}
    try:
        run = Run(preset, realtime, folder)
    except RuntimeError as exc:
        result["error"] = str(exc)
        return result
    try:
        time.sleep(3)
        result["phases"].append(run.phase("idle (no MIDI)", lambda: time.sleep(args.phase)))
        result["phases"].append(run.phase("decode busy (pattern + sweeps)",
                                          lambda: run.play(args.phase)))

        def busy():
            run.ask_all("busy 1", ENGINES)
            try:
                run.play(args.phase, sweeps=False)
            finally:
                run.ask_all("busy 0", ENGINES)

        result["phases"].append(run.phase("a Python thread busy in each engine's process "
                                          "(pattern, no sweeps)", busy))
        rss = {m: {} for m in ENGINES}
        peaks = {m: 0.0 for m in ENGINES}
        nonfinite = {m: 0 for m in ENGINES}
        recorded = [0]
        t0 = [0.0]

        def chunk():
            rec = run.recorder.stop_recording()
            for k, m in enumerate(ENGINES):
                audio = rec.audio[:, k]
                finite = np.isfinite(audio)
                nonfinite[m] += int((~finite).sum())
                if len(audio):
                    peaks[m] = max(peaks[m], float(np.abs(np.where(finite, audio, 0)).max()))
            recorded[0] += len(rec.audio)
            if time.monotonic() - t0[0] >= 60 and not rss["native"].get("1_min_mb"):
                for m in ENGINES:
                    answer = run.children[m].ask("rss")
                    rss[m]["1_min_mb"] = answer["rss_mb"] if answer else None
            run.recorder.start_recording()

        def soak():
            for m in ENGINES:
                answer = run.children[m].ask("rss")
                rss[m]["start_mb"] = answer["rss_mb"] if answer else None
            t0[0] = time.monotonic()
            run.recorder.start_recording()
            run.play(args.soak, every=chunk)
            chunk()
            run.recorder.stop_recording()
            for m in ENGINES:
                answer = run.children[m].ask("rss")
                rss[m]["end_mb"] = answer["rss_mb"] if answer else None
            return {"recorded_s": round(recorded[0] / SR, 1),
                    "engines": {m: {"rss": rss[m], "peak": round(peaks[m], 4),
                                    "nonfinite_samples": nonfinite[m]} for m in ENGINES}}

        result["phases"].append(run.phase(f"soak {args.soak:.0f} s", soak))
        result["latency"] = {m: run.latency(m) for m in ENGINES
                             if not run.children[m].died}

        def alone():
            for m in ENGINES:
                run.children[m].ask("stop")
            run.play(args.alone)
            for m in ENGINES:
                run.children[m].ask("start")

        result["phases"].append(run.phase("trivial client alone (engine streams stopped)",
                                          alone))
    except Exception as exc:  # noqa: BLE001 - a crashed client ends the run; keep what we have
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        result["died"] = {label: child.died for label, child in run.children.items()
                          if child.died}
        run.close()
        result["load_end"] = load_average()
    return result


# -- the record ---------------------------------------------------------------------------------
def _triple(clients: dict, key: str, fmt=str) -> str:
    cells = []
    for label in (*ENGINES, "trivial"):
        c = clients.get(label, {})
        cells.append("died" if "died" in c else fmt(c[key]) if key in c else "-")
    return " / ".join(cells)


def _p(values) -> str:
    return f"{values[0]:.0f}/{values[1]:.0f}"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else ("0 / 0" if not a else f"{a} vs 0")


# The soak's memory bound: the engine allocates its voices, banks and buffers at start, so
# after the first minute its resident size may move only by what the allocator and ONNX
# Runtime's arenas settle to (measured: +1.2 MB over 4 minutes).
RSS_GROWTH_BOUND_MB = 8.0


def _versus(mine: float, trivial: float) -> str:
    """How an engine's count stands against the trivial client's, for the goal's sentence."""
    if mine <= trivial:
        return f"meets it ({mine} against {trivial})"
    # Counts of rare events scatter like Poisson counts from run to run: a difference below two
    # standard deviations of the trivial client's count says nothing either way.
    noise = 2 * trivial ** 0.5
    within = "within" if mine - trivial <= noise else "beyond"
    return (f"misses it by {mine - trivial} ({(mine - trivial) / max(trivial, 1):.1%}; {mine} "
            f"against {trivial}; {within} counting noise, 2√n = {noise:.0f})")


def goal_lines(soak: dict) -> list[str]:
    """The soak against the live-reliability goal (underruns and late cycles no higher than the
    trivial client's, same server, same run), the memory bound and the output's safety, as
    sentences computed from the figures."""
    c, e = soak["clients"], soak.get("engines", {})
    if not all(k in c and "late" in c[k] for k in ("native", "trivial")):
        return []
    n, t = c["native"], c["trivial"]
    lines = [f"Against the goal, the native mixer: (a) PortAudio underrun flags "
             f"{_versus(n['underruns'], t['underruns'])}; (b) late audio cycles "
             f"{_versus(n['late'], t['late'])}; its MIDI client's late cycles "
             f"{_versus(n['midi_late'], t['midi_late'])} (the engine's JACK MIDI input is native "
             f"code that never waits for Python; the trivial client's rtmidi runs its Python "
             f"callback in JACK's thread)."]
    for m in ENGINES:
        rss = e.get(m, {}).get("rss", {})
        if rss.get("1_min_mb") is not None and rss.get("end_mb") is not None:
            growth = rss["end_mb"] - rss["1_min_mb"]
            verdict = "within" if growth <= RSS_GROWTH_BOUND_MB else "beyond"
            lines.append(f"{m} engine: RSS {growth:+.1f} MB from the first minute to the end, "
                         f"{verdict} the bound of {RSS_GROWTH_BOUND_MB:g} MB; output peak "
                         f"{e[m]['peak']} ({'≤' if e[m]['peak'] <= 1 else 'above'} 1), "
                         f"{e[m]['nonfinite_samples']} NaN or infinite samples.")
    return lines


def run_markdown(result: dict) -> str:
    mode = "realtime jackd (`-R`)" if result["realtime"] else "jackd without realtime " \
        "(`--no-realtime`)"
    lines = [f"**{mode}**, {result['date']}, load average {result['load_start']} at the start, "
             f"{result.get('load_end', '?')} at the end."]
    if result.get("error") and not result["phases"]:
        return "\n".join(lines + ["", f"Did not run: {result['error']}."])
    lines += ["", "| phase | late cycles: native / Python / trivial | underrun flags: native / "
              "Python / trivial | callback start p50/p99 µs: native / Python / trivial | "
              "MIDI client late: native / Python / trivial | server xruns |",
              "|---|---|---|---|---|---|"]
    for ph in result["phases"]:
        c = ph["clients"]
        lines.append(f"| {ph['phase']}, {ph['seconds']:.0f} s | {_triple(c, 'late')} | "
                     f"{_triple(c, 'underruns')} | {_triple(c, 'start_us', _p)} | "
                     f"{_triple(c, 'midi_late')} | {ph['server_xruns']} |")
    soak = next((ph for ph in result["phases"] if ph["phase"].startswith("soak")), None)
    if soak and "engines" in soak:
        lines += ["", "The soak per engine:", "",
                  "| engine | late / trivial late | blocks | notes | callback duration "
                  "p50/p99/max µs | decode p50/p99 ms (class decodes) | RSS start / 1 min / "
                  "end MB | output peak, NaN samples |", "|---|---|---|---|---|---|---|---|"]
        trivial_late = soak["clients"].get("trivial", {}).get("late", 0)
        for m in ENGINES:
            c, e = soak["clients"].get(m, {}), soak["engines"][m]
            if "died" in c:
                lines.append(f"| {m} | died ({c['died']}) | | | | | | |")
                continue
            d = c["duration_us"]
            rss = e["rss"]
            lines.append(
                f"| {m} | {_ratio(c['late'], trivial_late)} | {c['blocks']} | {c['notes']} | "
                f"{d[0]:.0f}/{d[1]:.0f}/{d[2]:.0f} | {c['decode_ms'][0]}/{c['decode_ms'][1]} "
                f"({c['class_decodes']}) | "
                f"{rss.get('start_mb')} / {rss.get('1_min_mb')} / {rss.get('end_mb')} | "
                f"{e['peak']}, {e['nonfinite_samples']} |")
        lines.append(f"\nRecorded: {soak['recorded_s']} s of each engine's output.")
        c = soak["clients"]
        if all("late" in c.get(k, {}) for k in (*ENGINES, "trivial")):
            n, p, t = (c[k] for k in (*ENGINES, "trivial"))
            lines.append(
                f"In the soak the native mixer's audio client was late in {n['late']} cycles, "
                f"{_ratio(n['late'], t['late'])} the trivial client's {t['late']} (the Python "
                f"mixer's: {p['late']}, {_ratio(p['late'], t['late'])}); its callbacks started "
                f"{n['start_us'][1]:.0f} µs into the cycle at p99 (trivial {t['start_us'][1]:.0f},"
                f" Python {p['start_us'][1]:.0f}). The engines' MIDI clients (the native JACK MIDI "
                f"input, no Python in JACK's thread) were late in {n['midi_late']} (native "
                f"engine) and {p['midi_late']} (Python engine) cycles against the trivial "
                f"client's rtmidi's {t['midi_late']}.")
        lines += goal_lines(soak)
    if result.get("latency"):
        parts = [f"{m}: {v['heard']}/{v['notes']} heard, p50 {v['p50_frames']:.0f}, p95 "
                 f"{v['p95_frames']:.0f}, max {v['max_frames']} frames"
                 for m, v in result["latency"].items()]
        lines.append("Note-on latency after the soak (frames from the MIDI event's frame to the "
                     "first sound; -128 means the first frame of the note's own cycle): "
                     + "; ".join(parts) + ".")
    if result.get("died"):
        lines.append("Died during the run: " + ", ".join(f"{k} ({v})" for k, v in
                                                         result["died"].items()) + ".")
    if result.get("error"):
        lines.append(f"The run ended early: {result['error']}.")
    return "\n".join(lines)


ABOUT = """\
One private `jackd` (dummy backend, 48 kHz, 128-frame blocks) per run and, each in a process of
its own, on that server at the same time: the engine with the **native** mixer (its PortAudio
callback is C: `native/player.cpp`), the same engine with the **Python** mixer (the sounddevice
callback), a **trivial** sounddevice client (a prepared burst on note-on) and a MIDI sender. Each
engine process holds what `vae-synth play` holds (PortAudio JACK stream, the native JACK MIDI
input, decode thread, the bundled drums) plus an idle JACK client it reads the cycle clock from; the
recorder and the latency probe are in the bench's own process. The pattern: 16ths at 120 bpm
(kick, hat, snare, hat; 8.3 notes/s) and sweeps of morph, variation and the XY pad (100
controller messages/s), sent to all three clients. "Late" is jackd's own count of cycles in which
a client had not finished (`JackEngine::XRun: client = X was not finished`, from its log), per
audio client and per MIDI client (the engines' native input, the trivial client's rtmidi);
underrun flags are PortAudio's output-underflow status; callback start is how far into its
JACK cycle (2.67 ms) each callback began (`jack_frames_since_cycle_start`, read in C by the
native callback, in Python by the others). Read the figures side by side: other work shared
the machine."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default=str(ROOT / "presets" / "drums"))
    parser.add_argument("--soak", type=float, default=300.0)
    parser.add_argument("--phase", type=float, default=20.0, help="seconds of each short phase")
    parser.add_argument("--alone", type=float, default=60.0)
    parser.add_argument("--jackd", default="realtime,no-realtime",
                        help="the runs, in order: realtime, no-realtime or both (default)")
    parser.add_argument("--context", default="",
                        help="what else shared the machine, written into the record")
    parser.add_argument("--json", help="write the raw figures here too")
    parser.add_argument("--record", action="store_true", help="write bench/results/soak.json")
    args = parser.parse_args()
    load_start = load_average()
    sys.path.insert(0, str(ROOT / "tests"))
    folder = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    results = []
    for mode in args.jackd.split(","):
        results.append(soak_run(Path(args.preset), mode == "realtime", args, folder))
        print(run_markdown(results[-1]), flush=True)
    text = json.dumps(results, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    if args.record:
        about = ABOUT + (f"\n\nWhile it ran: {args.context}" if args.context else "")
        body = "\n\n".join(run_markdown(r) for r in results)
        print(write_record("soak", title="Real-time engine: native mixer, Python mixer and a "
                           "trivial client side by side (bench/bench_soak.py)", about=about,
                           body=body, packages=("onnxruntime", "sounddevice"),
                           load_start=load_start))
    return 0


if __name__ == "__main__":
    sys.exit(main())

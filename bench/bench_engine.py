"""Benchmark of the real-time engine through a real JACK server (dummy backend, 48 kHz, 128 frames).

Measures, in one run:
  - note-on -> first output sample latency (frames on JACK's clock, from a sender client's MIDI
    event to the recorder client's first non-silent sample);
  - whether a hit that comes D ms after a controller move already sounds at the new position;
  - underruns of the engine in a soak (16 voices, notes + controller sweeps at 100 msg/s) side by
    side with a trivial JACK client (a separate process that plays a buffer on a note) on the same
    server; CPU load of the engine process and of its audio callback;
  - decode p50/p99 (all re-decodes in the soak), first decode, decode after an idle pause;
  - offline render speed as a multiple of real time.

    .venv/bin/python bench/bench_engine.py [--preset PATH] [--soak 300] [--idle 30]

Without --preset it trains and exports the tiny test model of tests/fixtures_preset.py
(needs TensorFlow, ~1 min); with --tones it uses the hand-built tones preset instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from vae_synth.cli import pin_blas_threads

pin_blas_threads()  # before numpy, as `vae-synth play` does

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "synth"))

SR, BLOCK = 48000, 128

TRIVIAL_CLIENT = r"""
import sys, time, numpy as np, jack, rtmidi, sounddevice as sd
burst = (0.2 * np.sin(np.arange(4800) * 0.05)).astype(np.float32)
state = {"pos": len(burst), "trig": 0, "seen": 0, "under": 0, "calls": 0}
clock = jack.Client("trivial-clock", no_start_server=True)  # not activated: reads JACK's clock
delays = np.zeros(1 << 20, np.float32)  # callback start after its cycle's start, microseconds
def on_midi(event, data=None):
    if event[0][0] & 0xF0 == 0x90 and len(event[0]) > 2 and event[0][2] > 0:
        state["trig"] += 1
def cb(out, frames, t, status):
    delays[state["calls"] % len(delays)] = clock.frames_since_cycle_start * (1e6 / 48000)
    state["calls"] += 1
    if status.output_underflow:
        state["under"] += 1
    if state["trig"] != state["seen"]:
        state["seen"] = state["trig"]; state["pos"] = 0
    out.fill(0)
    n = min(frames, len(burst) - state["pos"])
    if n > 0:
        out[:n, 0] = burst[state["pos"]:state["pos"] + n]; state["pos"] += n
midi = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "trivial")
midi.set_callback(on_midi)
midi.open_virtual_port("midi_in")
dev = [i for i, d in enumerate(sd.query_devices())
       if "JACK" in sd.query_hostapis(d["hostapi"])["name"] and d["max_output_channels"] > 0][0]
with sd.OutputStream(samplerate=48000, blocksize=128, device=dev, channels=2, callback=cb,
                     latency="low"):
    print("ready", flush=True)
    mark = 0
    for line in sys.stdin:   # "stats": underruns, callbacks, delay p50 p99 max since last stats
        calls = state["calls"]
        d = delays[mark % len(delays):calls % len(delays)] if calls > mark else delays[:0]
        q = np.percentile(d, [50, 99, 100]) if len(d) else [0, 0, 0]
        print(state["under"], calls, *(f"{v:.0f}" for v in q), flush=True)
        mark = calls
        if line.strip() != "stats":
            break
midi.close_port(); midi.delete()
"""


def start_jack(name: str, realtime: bool, log_path: Path | None = None) -> subprocess.Popen:
    """jackd (dummy backend) writing to ``log_path`` (a file, never a pipe: see
    tests/fixtures_jack.py); it dies with this process."""
    from fixtures_jack import _die_with_parent

    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    args = ["jackd", "-n", name] + (["-R"] if realtime else ["--no-realtime"]) + [
        "-d", "dummy", "-r", str(SR), "-p", str(BLOCK)]
    with open(log_path or os.devnull, "ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                preexec_fn=_die_with_parent)
    subprocess.run(["jack_wait", "-w", "-t", "10"], check=True, capture_output=True)
    import sounddevice as sd

    sd._terminate()
    sd._initialize()
    return proc


def build_preset(args, tmp: Path) -> Path:
    if args.preset:
        return Path(args.preset)
    from fixtures_preset import make_test_preset

    if args.tones:
        return make_test_preset(tmp, name="tones")
    from fixtures_preset import train_tiny_run
    from vae_synth.export.bundle import export_run

    run = tmp / "run"
    train_tiny_run(run)
    out = tmp / "tiny-drums"
    export_run(run, out, name="tiny-drums", show_progress=False)
    return out


class Rig:
    """Engine + sender + recorder on one JACK server (see tests/synth/synth_rig.py)."""

    def __init__(self, preset_path: Path, mixing: str = "auto"):
        import sounddevice as sd
        from fixtures_jack import JackProbe, jack_output_device, open_jack_midi
        from synth_rig import engine_midi_input
        from vae_synth.synth.engine import Engine, freeze_collector
        from vae_synth.synth.preset import load_preset

        server = types.SimpleNamespace(name=os.environ["JACK_DEFAULT_SERVER"], samplerate=SR,
                                       blocksize=BLOCK)
        self.trivial = subprocess.Popen([sys.executable, "-c", TRIVIAL_CLIENT],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.trivial.stdout.readline().strip() == "ready"
        t0 = time.perf_counter()
        self.engine = Engine(load_preset(preset_path), SR, BLOCK, 16, learn=False, mixing=mixing)
        self.init_s = time.perf_counter() - t0
        self.first_decode_s = self.engine.instrument.bank.decode_s
        self.engine.start()
        freeze_collector()  # as `vae-synth play` does
        self.stream = self.engine.open_stream(sd, jack_output_device(), 2)
        self.stream.start()
        self.midi_in = open_jack_midi(self.engine.router)  # the player's native JACK MIDI input

        self.sender = JackProbe(server, name="sender", channels=1)
        self.recorder = JackProbe(server, name="recorder", channels=2, capacity_seconds=30)
        self.sender.connect_midi(engine_midi_input(self.sender.client))
        self.sender.connect_midi("trivial:midi_in")
        self.recorder.connect_audio(self.recorder.audio_outputs("PortAudio")[-2:])
        time.sleep(0.2)

    def trivial_stats(self, final: bool = False) -> list[int]:
        """The trivial client's [underruns, callbacks, callback-start delay p50, p99, max (us)
        since the previous call]; ``final`` also ends it."""
        self.trivial.stdin.write("quit\n" if final else "stats\n")
        self.trivial.stdin.flush()
        return [int(v) for v in self.trivial.stdout.readline().split()]

    def close(self) -> tuple[int, int]:
        from vae_synth.synth.engine import close_stream, thaw_collector

        self.sender.close()
        self.recorder.close()
        close_stream(self.stream)
        self.midi_in.close()
        self.engine.stop()
        thaw_collector()
        try:
            under, calls = self.trivial_stats(final=True)[:2]
            self.trivial.wait(timeout=10)
        except (OSError, ValueError):  # it died: report that instead of losing the run
            under, calls = -1, self.trivial.wait(timeout=10)
        return under, calls


def bench_latency(rig: Rig, n: int = 60) -> dict:
    rng = np.random.default_rng(0)
    sender, recorder = rig.sender, rig.recorder
    recorder.start_recording()
    time.sleep(0.05)
    frames = []
    for _ in range(n):
        at = sender.frame_time + 2 * BLOCK + int(rng.integers(0, BLOCK))
        sender.send([0x99, 36, 110], at_frame=at)
        sender.wait_sent()
        frames.append(sender.sent[-1][0])
        time.sleep(0.2)
    rec = recorder.stop_recording()
    lat = []
    for f in frames:
        start = f - rec.start_frame
        if start < BLOCK:
            continue
        seg = np.abs(rec.audio[start - BLOCK:start + 8 * BLOCK]).max(axis=1)
        above = np.flatnonzero(seg > 1e-3)
        if above.size:
            lat.append(int(above[0]) - BLOCK)
    lat = np.array(lat)
    return {"notes": n, "heard": len(lat), "p50_frames": float(np.median(lat)),
            "p95_frames": float(np.percentile(lat, 95)), "max_frames": int(lat.max()),
            "min_frames": int(lat.min()),
            "within_block_plus_2ms": float(np.mean(np.abs(lat) <= BLOCK + 96))}


def bench_hit_after_move(rig: Rig, delays_ms=(5, 10, 20, 30, 50), reps: int = 6) -> dict:
    """A hit D ms after the morph knob jumps 0 <-> 1: does it sound like the new position?"""
    from vae_synth.synth.params import LatentState

    inst = rig.engine.instrument
    kick = int(inst.note_class[36])
    new = {m: inst.builder.build(LatentState(morph=m)).oneshots[kick] for m in (0.0, 1.0)}
    sender, recorder = rig.sender, rig.recorder
    trials = []  # (actual delay between the two MIDI events in ms, sounded at the new position)
    for d in delays_ms:
        for r in range(reps):
            morph_cc = 127 if r % 2 == 0 else 0
            recorder.start_recording()
            time.sleep(0.02)
            t = sender.frame_time + 2 * BLOCK
            sender.send([0xB9, 1, morph_cc], at_frame=t)
            sender.send([0x99, 36, 110], at_frame=t + int(d * SR / 1000))
            sender.wait_sent()
            time.sleep(0.25)
            rec = recorder.stop_recording()
            cc_frame, note = sender.sent[-2][0], sender.sent[-1][0]  # as written (late if loaded)
            start = note - rec.start_frame
            seg = rec.audio[max(0, start - BLOCK):start + 3 * BLOCK + 2048, 0]
            if len(seg) < 2048:
                continue
            target, other = new[morph_cc / 127], new[1.0 - morph_cc / 127]

            def corr(ref, seg=seg):
                ref = ref[:2048]
                c = np.correlate(seg, ref, mode="valid")
                return float(np.max(np.abs(c)) / (np.linalg.norm(ref) * np.linalg.norm(seg) + 1e-12))

            trials.append(((note - cc_frame) * 1000 / SR, corr(target) > corr(other)))
    out = {}
    edges = [0, 5, 10, 20, 30, 1000]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        got = [ok for ms, ok in trials if lo <= ms < hi]
        if got:
            out[f"{lo}-{hi}ms"] = f"{sum(got)}/{len(got)}"
    return out


def bench_soak(rig: Rig, seconds: float) -> dict:
    engine = rig.engine
    sender = rig.sender
    u0, c0 = engine.underruns, engine.callback_seconds
    d0 = engine.decoder.stats.count
    cpu0, wall0 = time.process_time(), time.monotonic()
    rng = np.random.default_rng(1)
    notes = sorted(engine.instrument.preset.midi.notes)
    t = sender.frame_time + 4 * BLOCK
    end = t + int(seconds * SR)
    step = SR // 100  # controller messages at 100/s
    i = 0
    while t < end:
        sender.send([0xB9, 1, int(64 + 63 * np.sin(i / 50))], at_frame=t)
        if i % 5 == 0:  # 20 notes/s: keeps the 16-voice pool full and stealing
            sender.send([0x99, int(rng.choice(notes)), int(rng.integers(60, 127))], at_frame=t + 1)
        t += step
        i += 1
        if i % 100 == 0:  # schedule ahead one second at a time
            while sender._pending and sender._pending[0][0] < sender.frame_time + SR // 2:
                time.sleep(0.05)
    sender.wait_sent(timeout=seconds + 30)
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    return {"seconds": round(wall, 1), "engine_underruns": engine.underruns - u0,
            "notes": engine.notes, "stolen": engine.pool.stolen,
            "cpu_percent_of_one_core": round(100 * cpu / wall, 1),
            "callback_percent": round(100 * (engine.callback_seconds - c0) / wall, 1),
            "callback_max_ms": round(engine.callback_max * 1e3, 2),
            "decodes": engine.decoder.stats.count - d0,
            "skipped_states": engine.decoder.stats.skipped}


def bench_idle_decode(rig: Rig, idle_s: float) -> float:
    engine = rig.engine
    time.sleep(idle_s)
    n = engine.decoder.stats.count
    engine.router.handle([0xB9, 1, 5])
    while engine.decoder.stats.count == n:
        time.sleep(0.001)
    s = engine.decoder.stats
    return float(s.times[(s.count - 1) % len(s.times)] * 1e3)


def bench_render(preset_path: Path, tmp: Path, seconds: float = 30.0) -> dict:
    import mido
    from vae_synth.synth.preset import load_preset
    from vae_synth.synth.render import render_file

    preset = load_preset(preset_path)
    notes = sorted(preset.midi.notes)
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    rng = np.random.default_rng(2)
    for i in range(int(seconds * 8)):  # 8 notes/s, a controller move every 8th note
        track.append(mido.Message("note_on", note=int(rng.choice(notes)), velocity=100,
                                  channel=9, time=0 if i == 0 else 120))
        if i % 8 == 0:
            track.append(mido.Message("control_change", control=1, value=(i * 3) % 128,
                                      channel=9, time=0))
    path = tmp / "render.mid"
    mid.save(str(path))
    t0 = time.perf_counter()
    result = render_file(preset, path, tmp / "render.wav")
    took = time.perf_counter() - t0
    return {"audio_s": round(result["seconds"], 1), "wall_s": round(took, 2),
            "x_real_time": round(result["seconds"] / took, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset")
    parser.add_argument("--tones", action="store_true")
    parser.add_argument("--soak", type=float, default=60.0)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--realtime", action="store_true", help="jackd -R")
    parser.add_argument("--mixer", choices=("auto", "native", "python"), default="auto")
    parser.add_argument("--json", help="write results here too")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-engine-"))
    preset_path = build_preset(args, tmp)
    jack = start_jack(f"bench-engine-{os.getpid()}", args.realtime)
    results = {"preset": str(preset_path), "date": time.strftime("%Y-%m-%d %H:%M UTC",
                                                                 time.gmtime()),
               "load_avg_at_start": os.getloadavg()}
    rig = None
    try:
        rig = Rig(preset_path, args.mixer)
        results["mixing"] = rig.engine.mixing
        results["engine_start_s"] = round(rig.init_s, 2)
        results["first_bank_decode_ms"] = round(rig.first_decode_s * 1e3, 2)
        results["latency"] = bench_latency(rig)
        results["hit_after_controller_move"] = bench_hit_after_move(rig)
        results["idle_decode_ms"] = round(bench_idle_decode(rig, args.idle), 2)
        results["soak"] = bench_soak(rig, args.soak)
        p50, p99 = rig.engine.decoder.stats.percentiles()
        results["decode_ms"] = {"p50": round(p50, 2), "p99": round(p99, 2),
                                "class_decodes": rig.engine.decoder.stats.count,
                                "controller_states": rig.engine.decoder.stats.states}
    finally:
        if rig is not None:
            under, calls = rig.close()
            results["trivial_client"] = {"underruns": under, "callbacks": calls}
        import sounddevice as sd

        sd._terminate()
        jack.terminate()
        jack.wait(timeout=10)
    results["render"] = bench_render(preset_path, tmp)
    results["load_avg_at_end"] = os.getloadavg()
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

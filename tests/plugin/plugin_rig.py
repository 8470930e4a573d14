"""The plugin tests' rig: the built plugin, the headless hosts that render it, the references.

Every host runs in its own process (a crashing plugin must not take pytest with it). Audio comes
back as [frames, 2] float32. Events are ``("midi", frame, [bytes])`` and ``("param", frame, name,
x)``; a parameter is set between blocks, before the block that holds its frame (a host's
automation between render chunks).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "plugin" / "build"
BIN = BUILD / "bin"
VST3 = BIN / "vae-synth.vst3"
CLAP = BIN / "vae-synth.clap"
LV2 = BIN / "vae-synth.lv2"
CLAP_HOST = BIN / "vae-synth-clap-host"
LV2_HOST = BIN / "vae-synth-lv2-host"
CORE_CHECK = BIN / "vae-synth-core-check"
RTCHECK = BUILD / "lib" / "libvae_synth_rtcheck.so"
ARTIFACTS = (VST3, CLAP, LV2, CLAP_HOST, LV2_HOST, CORE_CHECK, RTCHECK)
CEILING = 10.0 ** (-1.0 / 20.0)


def require_build() -> None:
    """Skip (outside CI) or fail (CI=true) when the plugin was not built."""
    missing = [str(p.relative_to(ROOT)) for p in ARTIFACTS if not p.exists()]
    if not missing:
        return
    why_file = BUILD / "unavailable.txt"
    why = why_file.read_text().strip() if why_file.is_file() else (
        "the plugin is not built (scripts/setup.sh test builds it; or make -C plugin)")
    message = f"{why}; missing {', '.join(missing)}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must build the plugin: {message}")
    pytest.skip(message)


def host_env(home: Path, presets: list[Path] | None = None, **extra: str) -> dict:
    """An environment with a private home: no user presets or MIDI-learn file of the machine;
    ``presets`` go first on the search path (as $VAE_SYNTH_PRESETS)."""
    env = {k: v for k, v in os.environ.items() if k != "VAE_SYNTH_PRESETS"}
    env["HOME"] = str(home)
    env["XDG_DATA_HOME"] = str(home / "data")
    env["XDG_CONFIG_HOME"] = str(home / "config")
    if presets:
        env["VAE_SYNTH_PRESETS"] = os.pathsep.join(str(p) for p in presets)
    env.update(extra)
    return env


def preset_numbers(env: dict) -> dict[str, int]:
    """{name: number} of the installed presets as the plugin's `preset` parameter and Program
    Change count them."""
    out = subprocess.run([str(CORE_CHECK), "presets"], env=env, capture_output=True, text=True,
                         check=True).stdout
    return {line.split("\t")[2]: int(line.split("\t")[1]) for line in out.splitlines()
            if line.startswith("program\t")}


def write_events(path: Path, events) -> Path:
    lines = []
    for e in events:
        if e[0] == "midi":
            lines.append(f"midi {e[1]} {' '.join(str(b) for b in e[2])}")
        else:
            lines.append(f"param {e[1]} {e[2]} {e[3]!r}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run_host(kind: str, events, frames: int, tmp: Path, env: dict, rate: int = 48000,
             blocks=(128,), offline: bool = True, params: dict | None = None,
             state_in: Path | None = None, state_out: Path | None = None, rtcheck: bool = False,
             realtime: bool = False, warmup: float = 0.0, timeout: float = 300):
    """Render with the CLAP or LV2 test host. Returns (audio [frames, 2], stderr text)."""
    tag = f"{kind}-{rate}-{'-'.join(map(str, blocks))}-{os.getpid()}-{len(list(tmp.iterdir()))}"
    script = write_events(tmp / f"{tag}.events", events)
    out = tmp / f"{tag}.f32"
    host, plugin = (CLAP_HOST, CLAP) if kind == "clap" else (LV2_HOST, LV2)
    cmd = [str(host), str(plugin), "--rate", str(rate), "--frames", str(frames),
           "--blocks", ",".join(map(str, blocks)), "--events", str(script), "--out", str(out)]
    if offline:
        cmd.append("--offline")
    for name, value in (params or {}).items():
        cmd += ["--param", f"{name}={value}"]
    if state_in:
        cmd += ["--state-in", str(state_in)]
    if state_out:
        cmd += ["--state-out", str(state_out)]
    if realtime:
        cmd.append("--realtime")
    if warmup:
        cmd += ["--warmup", str(warmup)]
    run_env = dict(env)
    if rtcheck:
        run_env["LD_PRELOAD"] = str(RTCHECK)
    proc = subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{kind} host failed ({proc.returncode}): {proc.stderr[-2000:]}"
    audio = np.fromfile(out, dtype=np.float32).reshape(-1, 2)
    assert audio.shape == (frames, 2)
    return audio, proc.stderr


VST3_SCRIPT = r"""
import json, sys
import mido, numpy as np, pedalboard
args = json.load(open(sys.argv[1]))
sr, block, frames = args["rate"], args["block"], args["frames"]
# pedalboard's Python wrapper reads the text of every parameter at 1001 points when a plugin
# loads, and DPF's VST3 carries 2080 MIDI-controller parameters (how VST3 delivers controllers):
# minutes. Skip that scan and set parameters on pedalboard's C++ objects (raw value = the
# normalised value). initialization_timeout=0: no 10 s wait for note 60 to sound (the drums
# have no pad on note 60).
pedalboard.VST3Plugin.__set_initial_parameter_values__ = lambda self, values=None: None
plugin = pedalboard.VST3Plugin(args["plugin"], initialization_timeout=0)
assert plugin.is_instrument
RANGES = {"preset": (-1.0, 127.0)}  # the others are 0..1


def set_param(name, value):
    low, high = RANGES.get(name, (0.0, 1.0))
    plugin._get_parameter(name).raw_value = (float(value) - low) / (high - low)


if args["state_in"]:   # the host reopens a project: the plugin's state before anything else
    plugin.raw_state = open(args["state_in"], "rb").read()
set_param("offline", 1.0 if args["offline"] else 0.0)
for name, value in args["params"].items():
    set_param(name, value)
# chunks end where a parameter changes: the host's automation between render chunks
cuts = sorted({0, frames, *[e[1] for e in args["events"] if e[0] == "param"]})
chunks = []
for start, end in zip(cuts[:-1], cuts[1:]):
    for e in args["events"]:
        if e[0] == "param" and e[1] == start:
            set_param(e[2], e[3])
    messages = []
    for e in args["events"]:
        if e[0] == "midi" and start <= e[1] < end:
            # a quarter sample past the event's frame: the same frame whether the host rounds or floors
            messages.append(mido.Message.from_bytes(e[2], time=(e[1] - start + 0.25) / sr))
    audio = plugin(messages, duration=(end - start) / sr, sample_rate=sr, num_channels=2,
                   buffer_size=block, reset=False)
    chunks.append(np.asarray(audio, dtype=np.float32).T[: end - start])
np.concatenate(chunks).astype(np.float32).tofile(args["out"])
if args["state_out"]:  # the host saves the project
    open(args["state_out"], "wb").write(plugin.raw_state)
"""


def render_vst3(events, frames: int, tmp: Path, env: dict, rate: int = 48000, block: int = 128,
                offline: bool = True, params: dict | None = None,
                state_in: Path | None = None, state_out: Path | None = None):
    """Render the VST3 through pedalboard (a JUCE host) in a subprocess. Parameter events must
    fall on block boundaries. state_in: a saved plugin state to restore first (a project
    reopened); state_out: where to save the state after the render. Returns (audio
    [frames, 2], stderr text)."""
    tag = f"vst3-{rate}-{block}-{len(list(tmp.iterdir()))}"
    script = tmp / "vst3_render.py"
    script.write_text(VST3_SCRIPT)
    args = tmp / f"{tag}.json"
    out = tmp / f"{tag}.f32"
    args.write_text(json.dumps({"plugin": str(VST3), "rate": rate, "block": block,
                                "frames": frames, "offline": offline, "params": params or {},
                                "events": [list(e) for e in events], "out": str(out),
                                "state_in": str(state_in) if state_in else None,
                                "state_out": str(state_out) if state_out else None}))
    proc = subprocess.run([sys.executable, str(script), str(args)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, f"pedalboard failed ({proc.returncode}): {proc.stderr[-2000:]}"
    audio = np.fromfile(out, dtype=np.float32).reshape(-1, 2)
    assert audio.shape == (frames, 2)
    return audio, proc.stderr


def python_render(preset, events, frames: int, rate: int = 48000, block: int = 128):
    """The Python engine on the same events, as `vae-synth render` drives it: MIDI at its exact
    sample, parameters between blocks, a decode before any block that needs it."""
    from vae_synth.synth.engine import Engine
    from vae_synth.synth.preset import load_preset
    from vae_synth.synth.render import Renderer

    engine = Engine(load_preset(preset), rate, block, 16, device="cpu", learn=False)
    renderer = Renderer(engine)
    out = np.zeros((frames, 2), dtype=np.float32)
    pos = 0
    while pos < frames:
        n = min(block, frames - pos)
        for e in events:
            if e[0] == "param" and pos <= e[1] < pos + n:
                engine.snapshot.set(e[2], e[3])
        sub = pos
        for e in events:
            if e[0] == "midi" and pos <= e[1] < pos + n:
                if sub < e[1]:
                    renderer._decode_if_needed()
                    engine.process(out[sub:e[1]])
                    sub = e[1]
                engine.router.handle(e[2])
        if sub < pos + n:
            renderer._decode_if_needed()
            engine.process(out[sub:pos + n])
        pos += n
    return out

"""The headless real-time test rig: a real JACK server (dummy backend) and a probe client.

Fixtures
--------
``jack_server`` (session)
    Starts ``jackd -n <private name> -d dummy -r 48000 -p 128`` and points every JACK client of this
    process at it (``JACK_DEFAULT_SERVER``, ``JACK_NO_START_SERVER``), so sounddevice's JACK host
    API, the player's JACK MIDI input and python-rtmidi's ``API_UNIX_JACK`` join it. PortAudio is
    re-initialised so that it sees the JACK host API even if sounddevice was imported before the
    server started.
``jack_probe`` (function)
    A factory ``jack_probe(name="probe", channels=2) -> JackProbe``: one JACK client that sends MIDI
    at exact frame times and records audio, both on JACK's own frame clock, so latencies are measured
    in frames. Every probe is closed at the end of the test.

MIDI into an engine goes through the player's own JACK MIDI input (native code,
``synth/jack_midi.py``), which never holds the GIL in a JACK call: it opens and closes at any
time. python-rtmidi, left to the terminal tests' fake controller, does hold the GIL while it
waits on the JACK server (opening or closing a port), and a JACK cycle cannot finish while a
Python process callback in this process (a probe, a sounddevice stream) waits for that GIL: the
two deadlock. So open rtmidi ports before any probe or stream is running, close them only after
probes are closed and streams stopped, and delete the ``MidiIn``/``MidiOut`` (JACK renames the
next client of a name still held to ``name-01``).

Teardown order matters (docs/ARCHITECTURE.md, pitfalls): MIDI ports and probes close first (function scope), then
PortAudio is terminated, then jackd stops; stopping jackd first aborts Python inside PortAudio.

Without a ``jackd`` binary the rig's tests are skipped, except under CI (``CI=true``) where a
missing server is an error: CI installs jackd2 and must run them.

Isolation: every JACK test runs in a child pytest process of its own, with its own server, under a
hard timeout (``--jack-timeout``, 60 s) that the parent enforces from outside: a child stuck in a
native call (PortAudio, libjack) is killed with its server, and only that test fails. The
test process cannot simply replace a dead server itself: once a JACK server dies under an open
PortAudio client, every PortAudio call that follows (stop, abort, close, Pa_Terminate, and so
interpreter exit) waits forever for a process callback that never comes. ``--jack-in-process``
runs them in the calling process instead (debugging, repeated runs).

jackd's output goes to a log file, never to a pipe: jackd prints a line for every xrun, and a
pipe nobody reads fills after 64 KiB; jackd then blocks in write(2) inside the server thread that
answers clients, and every client of that server hangs (the suite's hangs in CI were this).
"""

from __future__ import annotations

import argparse
import atexit
import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

SAMPLE_RATE = 48000
BLOCK_SIZE = 128


@dataclass
class JackServer:
    """A running private JACK server."""

    name: str
    samplerate: int
    blocksize: int
    process: subprocess.Popen
    realtime: bool
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        """The last lines jackd printed (xruns, client errors)."""
        return _tail(self.log_path, lines)


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 200 * lines))
            return b"\n".join(log.read().splitlines()[-lines:]).decode(errors="replace")
    except OSError:
        return ""


def _die_with_parent() -> None:
    """In the child before exec: jackd gets SIGTERM if the test process dies (Linux), so a killed
    or crashed pytest never leaves a server behind."""
    try:
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


JACK_REGISTRY = "/dev/shm/jack-shm-registry"
TEST_SERVER_PREFIX = "vaesynth-test-"


def _process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"  # a zombie is dead
    except (FileNotFoundError, IndexError):
        return False


def _forget_dead_test_servers() -> int:
    """Free JACK registry slots held by our own test servers that died without unregistering.

    JACK2 keeps at most 8 servers in its shared registry and reclaims a dead server's slot only when
    a server of the *same name* starts; our servers have private names, so every killed test run
    would leak a slot until "Too many servers already active". Only entries named
    ``vaesynth-test-*`` whose process is gone are cleared; anything else (a user's JACK) is left
    alone. Layout (JACK2 shm.h): a 24-byte header, then 8 entries of {pid_t pid; char name[260]}.
    Returns the number of slots freed.
    """
    import struct

    try:
        with open(JACK_REGISTRY, "r+b") as registry:
            header = registry.read(24)
            if len(header) < 24 or struct.unpack("<6i", header)[4] != 24 + 8 * 264:
                return 0  # not the layout we know: leave it to JACK
            freed = 0
            for slot in range(8):
                offset = 24 + 264 * slot
                registry.seek(offset)
                entry = registry.read(264)
                pid = struct.unpack("<i", entry[:4])[0]
                name = entry[4:].split(b"\0", 1)[0].decode("latin-1")
                if pid and f":{TEST_SERVER_PREFIX}" in name and not _process_alive(pid):
                    registry.seek(offset)
                    registry.write(bytes(264))
                    freed += 1
            return freed
    except OSError:
        return 0


def _reinit_portaudio() -> None:
    """Make PortAudio rescan host APIs (it only sees JACK if the server ran at its initialisation)."""
    import sounddevice as sd

    sd._terminate()
    sd._initialize()


def jack_output_device() -> int:
    """Index of sounddevice's JACK output device (the PortAudio JACK host API's default)."""
    import sounddevice as sd

    for api in sd.query_hostapis():
        if "JACK" in api["name"] and api["default_output_device"] >= 0:
            return api["default_output_device"]
    raise RuntimeError(f"PortAudio sees no JACK output device; host APIs: {sd.query_hostapis()}")


def _start_jackd(name: str, log_path: Path) -> tuple[subprocess.Popen, bool]:
    """Start jackd with realtime scheduling where the system allows it, else without.

    Realtime (SCHED_FIFO) keeps the dummy driver's clock, and the clients' process threads that JACK
    promotes with it, steady while other work loads the cores; as root in a container it is usually
    allowed. jackd writes to ``log_path`` (a file: see the module docstring on pipes). Returns the
    process and whether it runs realtime.
    """
    problems = []
    for realtime in (True, False):
        args = ["jackd", "-n", name, *(["-R", "-P", "70"] if realtime else ["--no-realtime"]),
                "-d", "dummy", "-r", str(SAMPLE_RATE), "-p", str(BLOCK_SIZE)]
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        waited = subprocess.run(["jack_wait", "-w", "-t", "10"], capture_output=True, text=True)
        if waited.returncode == 0 and process.poll() is None:
            return process, realtime
        process.kill()
        process.wait(timeout=5)
        problems.append(f"{' '.join(args)}: {waited.stdout}{waited.stderr}{_tail(log_path, 20)}")
    pytest.fail("jackd did not start:\n" + "\n".join(problems))


@pytest.fixture(scope="session")
def jack_server():
    if shutil.which("jackd") is None:
        message = "jackd is not installed (Debian: apt-get install jackd2); the JACK rig needs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    name = f"{TEST_SERVER_PREFIX}{os.getpid()}"
    _forget_dead_test_servers()
    saved_env = {key: os.environ.get(key) for key in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
    os.environ["JACK_DEFAULT_SERVER"] = name
    os.environ["JACK_NO_START_SERVER"] = "1"
    log_dir = Path(os.environ.get(_LOG_DIR_ENV) or tempfile.mkdtemp(prefix="vaesynth-jack-"))
    log_path = log_dir / "jackd.log"
    process, realtime = _start_jackd(name, log_path)
    try:
        _reinit_portaudio()
        yield JackServer(name, SAMPLE_RATE, BLOCK_SIZE, process, realtime, log_path)
    finally:
        killed = process.poll() is not None
        try:
            import sounddevice as sd

            if not killed:
                sd._terminate()  # before jackd goes away, or PortAudio asserts in its teardown
            else:
                # a test killed the server: PortAudio would wait forever in Pa_Terminate, here
                # or at exit (sounddevice's atexit handler); this process leaves it as it is
                atexit.unregister(sd._exit_handler)
        except Exception:  # noqa: BLE001 - teardown must reach jackd whatever PortAudio says
            pass
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if not os.environ.get(_LOG_DIR_ENV):
            shutil.rmtree(log_dir, ignore_errors=True)
        try:
            import sounddevice as sd

            if not killed:
                sd._initialize()  # the pytest run's later tests see the machine's own host APIs
        except Exception:  # noqa: BLE001
            pass


@dataclass
class Recording:
    """Audio captured by a probe.

    audio: [frames, channels] float32; start_frame: JACK frame time of audio[0].
    """

    audio: np.ndarray
    start_frame: int

    def onset_frame(self, threshold: float = 1e-3, channel: int | None = None) -> int | None:
        """Absolute JACK frame of the first sample whose magnitude exceeds ``threshold``."""
        signal = np.abs(self.audio if channel is None else self.audio[:, [channel]]).max(axis=1)
        above = np.flatnonzero(signal > threshold)
        return None if above.size == 0 else self.start_frame + int(above[0])


class JackProbe:
    """A JACK client that plays MIDI into the engine and records what the engine plays.

    MIDI events are scheduled at absolute JACK frame times and written at the exact offset inside
    the block that contains them; recorded audio is stamped with the frame time of its first sample.
    Port names: ``<name>:midi_out`` and ``<name>:in_1`` … ``<name>:in_<channels>``.

    Use one probe to send and another to record when measuring an engine's latency: a single probe
    that feeds the engine and records it closes a loop in the JACK graph (probe -> engine -> probe),
    and JACK then runs one edge of it a cycle late.
    """

    def __init__(self, server: JackServer, name: str = "probe", channels: int = 2,
                 capacity_seconds: float = 60.0):
        import jack

        self.server = server
        self.client = jack.Client(name, no_start_server=True, servername=server.name)
        self.blocksize = self.client.blocksize
        self.samplerate = self.client.samplerate
        self.midi_out = self.client.midi_outports.register("midi_out")
        self.inputs = [self.client.inports.register(f"in_{i + 1}") for i in range(channels)]
        self._buffer = np.zeros((int(capacity_seconds * self.samplerate), channels), np.float32)
        self._recording = False
        self._write_pos = 0
        self._start_frame = -1
        self._pending: collections.deque[tuple[int, bytes]] = collections.deque()
        self.sent: list[tuple[int, bytes]] = []  # (frame actually written, message), in order
        # cycles this client missed (its frame time jumped): counted in the process callback,
        # not with a Python xrun callback, whose notification thread would wait for the GIL
        # while jackd writes xrun notifications to it (a full notification socket blocks the
        # server's notifier and so every client: seen in a 40-minute in-process run)
        self.missed_cycles = 0
        self._last_block = -1
        self._closed = False
        self.client.set_process_callback(self._process)
        self.client.activate()

    # -- JACK callbacks (JACK's thread) -------------------------------------------------------
    def _process(self, frames: int) -> None:
        block_start = self.client.last_frame_time
        if self._last_block >= 0 and block_start - self._last_block > frames:
            self.missed_cycles += (block_start - self._last_block) // frames - 1
        self._last_block = block_start
        self.midi_out.clear_buffer()
        last_offset = 0
        while self._pending and self._pending[0][0] < block_start + frames:
            frame, message = self._pending[0]
            offset = max(frame - block_start, last_offset)  # late events go out as soon as possible
            self.midi_out.write_midi_event(offset, message)
            self.sent.append((block_start + offset, message))
            # Dequeue only after recording it in `sent`: wait_sent() returns once `_pending` is
            # empty, and a test then reads `sent` (it once raced between popleft and append).
            self._pending.popleft()
            last_offset = offset
        if self._recording:
            if self._start_frame < 0:
                self._start_frame = block_start
            # Each block goes to the offset of its own frame time: a cycle this client missed
            # (an xrun on a loaded machine) leaves zeros in place instead of shifting later audio.
            begin = block_start - self._start_frame
            end = min(begin + frames, len(self._buffer))
            if 0 <= begin < end:
                for channel, port in enumerate(self.inputs):
                    self._buffer[begin:end, channel] = port.get_array()[: end - begin]
                self._write_pos = max(self._write_pos, end)

    # -- control (test thread) -----------------------------------------------------------------
    @property
    def frame_time(self) -> int:
        """JACK's current frame time (an estimate between cycles)."""
        return self.client.frame_time

    def connect_midi(self, destination: str) -> None:
        """Connect ``<probe>:midi_out`` to a MIDI input port, e.g. ``vae-synth:midi_in``."""
        self.client.connect(self.midi_out, destination)

    def audio_outputs(self, client: str = "PortAudio") -> list[str]:
        """Names of the audio output ports a JACK client has now, e.g. ``["PortAudio:out_0"]``.

        PortAudio numbers its ports on across the streams of one process (``out_0`` for the first
        stream, ``out_1`` for the next, ...), so tests look them up rather than guess.
        """
        return [port.name for port in self.client.get_ports(f"^{client}:", is_audio=True,
                                                            is_output=True)]

    def connect_audio(self, sources: list[str] | str = "PortAudio") -> None:
        """Connect audio outputs to the probe's inputs in order.

        ``sources`` is a list of port names, or a client name whose current audio outputs are used.
        """
        if isinstance(sources, str):
            sources = self.audio_outputs(sources)
            if not sources:
                raise RuntimeError("that JACK client has no audio outputs (is its stream running?)")
        for source, port in zip(sources, self.inputs, strict=False):
            self.client.connect(source, port)

    def send(self, message, at_frame: int | None = None) -> int:
        """Schedule one MIDI message; returns the JACK frame it is scheduled at.

        By default it goes out two blocks from now, so that it lands at a known frame. Messages must
        be scheduled in non-decreasing frame order.
        """
        if at_frame is None:
            at_frame = self.frame_time + 2 * self.blocksize
        self._pending.append((int(at_frame), bytes(message)))
        return int(at_frame)

    def start_recording(self) -> None:
        self._buffer[:] = 0.0
        self._write_pos = 0
        self._start_frame = -1
        self._recording = True

    def stop_recording(self) -> Recording:
        self._recording = False
        time.sleep(2 * self.blocksize / self.samplerate)  # let a running cycle finish writing
        return Recording(self._buffer[: self._write_pos].copy(), self._start_frame)

    def record(self, frames: int, timeout: float = 30.0) -> Recording:
        """Record ``frames`` frames of JACK time (however long the server takes for them)."""
        self.start_recording()
        deadline = time.monotonic() + timeout
        while self._write_pos < frames:
            if time.monotonic() > deadline:
                raise TimeoutError(f"recorded {self._write_pos} of {frames} frames in {timeout} s")
            time.sleep(0.01)
        return self.stop_recording()

    def wait_frames(self, frames: int) -> None:
        time.sleep(frames / self.samplerate)

    def wait_sent(self, timeout: float = 5.0) -> None:
        """Block until every scheduled MIDI message has been written to the port."""
        deadline = time.monotonic() + timeout
        while self._pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self._pending)} MIDI messages not sent in {timeout} s")
            time.sleep(0.005)

    def close(self) -> None:
        """Deactivate and close the client (idempotent: the fixture closes it again at the end)."""
        if self._closed:
            return
        self._closed = True
        self.client.deactivate()
        self.client.close()


_FLOODER = r"""
import sys, threading, jack
per_cycle, cycles, note_cycle, target = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
client = jack.Client("flooder", no_start_server=True)
out = client.midi_outports.register("midi_out")
messages = [bytes([0xB9, 1 + 17 * (i % 2), i % 128]) for i in range(256)]
state = {"cycle": -1, "sent": 0}
done = threading.Event()
@client.set_process_callback
def process(frames):
    out.clear_buffer()
    cycle = state["cycle"]
    if cycle < 0 or cycle >= cycles:
        return
    if cycle == note_cycle:
        out.write_midi_event(0, bytes([0x99, 38, 100]))
    for k in range(per_cycle):
        out.write_midi_event(k * frames // per_cycle, messages[(state["sent"] + k) % 256])
    state["sent"] += per_cycle
    state["cycle"] = cycle + 1
    if cycle + 1 == cycles:
        done.set()
client.activate()
client.connect(out, target)
print("ready", flush=True)
sys.stdin.readline()
state["cycle"] = 0
done.wait()
print(state["sent"], flush=True)
sys.stdin.readline()
client.deactivate(); client.close()
"""


class Flooder:
    """A MIDI flood from a JACK client in a process of its own: ``per_second`` controller
    messages (CC 1 and 18 alternating, sweeping), spread over each block, for ``seconds`` of JACK
    time, and one snare note ``note_at`` seconds in. Its own process, because a Python writer in
    the engine's process falls behind under the GIL, and RtMidi 5.0 then reads events the writer
    is clearing (jack_midi_event_get fails unchecked: SIGSEGV in _rtmidi, seen here)."""

    def __init__(self, server: JackServer, target: str, per_second: int, seconds: float,
                 note_at: float):
        blocksize, rate = server.blocksize, server.samplerate
        per_cycle = max(1, round(per_second * blocksize / rate))
        cycles = int(seconds * rate / blocksize)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _FLOODER, str(per_cycle), str(cycles),
             str(int(note_at * rate / blocksize)), target],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"
        self.sent = 0

    def start(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait(self) -> int:
        """Until the flood is written; returns how many controller messages it wrote."""
        self.sent = int(self.proc.stdout.readline())
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=10)
        return self.sent


def require_native() -> None:
    """Skip (outside CI) or fail (CI=true: CI builds it) when the native library (the mixer and
    the JACK MIDI input) cannot load."""
    from vae_synth.synth.native import available

    ok, why = available()
    if ok:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must build the native library (scripts/setup.sh test): {why}")
    pytest.skip(why)


# A server busy under load can answer a new client with a communication error (JACK status
# 0x21: JackFailure | JackServerError; seen once in a full suite run beside other work). The rig
# opens its MIDI inputs again after a moment: what the tests check comes after the open, and the
# player itself reports the error to the user.
BUSY_SERVER = "JACK status 0x21"


def retry_busy_server(opener, tries: int = 3):
    """``opener()`` again after 0.5 s while it raises a RuntimeError saying the server is busy
    (``BUSY_SERVER``), up to ``tries`` times; its result, or its last error."""
    for attempt in range(tries):
        try:
            return opener()
        except RuntimeError as exc:
            if BUSY_SERVER not in str(exc) or attempt == tries - 1:
                raise
            print(f"{exc}: opening again", file=sys.stderr)
            time.sleep(0.5)
    raise AssertionError("unreachable")


def open_jack_midi(router, client_name: str = "vae-synth"):
    """The player's JACK MIDI input (``synth/jack_midi.py``) on the rig's server, a virtual port
    feeding ``router``; opened again when the server answers busy."""
    from vae_synth.synth.jack_midi import JackMidiInputs

    def opener():
        inputs = JackMidiInputs(router, "virtual", client_name=client_name)
        try:
            inputs.open()
        except RuntimeError:
            inputs.close()
            raise
        return inputs

    return retry_busy_server(opener)


@pytest.fixture
def jack_probe(jack_server):
    probes: list[JackProbe] = []

    def make(name: str = "probe", channels: int = 2) -> JackProbe:
        probe = JackProbe(jack_server, name=name, channels=channels)
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        probe.close()


# ------------------------------------------------------------------ one child process per test
_CHILD_ENV = "VAE_SYNTH_JACK_CHILD"       # set in a child: run the test here, report to the file
_LOG_DIR_ENV = "VAE_SYNTH_JACK_LOG_DIR"   # the child's jackd writes its log there
DEFAULT_TIMEOUT_S = 60.0


def pytest_addoption(parser):
    group = parser.getgroup("jack", "the JACK test rig")
    group.addoption("--jack-in-process", action="store_true",
                    help="run JACK tests in this process, not one child process each")
    group.addoption("--jack-timeout", type=float, default=DEFAULT_TIMEOUT_S,
                    help="hard limit in seconds for one JACK test in its child process "
                         "(default %(default)s)")
    group.addoption("--jack-report", default=None, help=argparse.SUPPRESS)  # set in a child


def _needs_isolation(item) -> bool:
    return ("jack_server" in getattr(item, "fixturenames", ())
            or item.get_closest_marker("jack") is not None)


def pytest_configure(config):
    report = config.getoption("--jack-report")
    if report:
        config.pluginmanager.register(_ChildReporter(config, report), "jack-child-reporter")


class _ChildReporter:
    """In a child: every test report as one JSON line for the parent (pytest's own
    serialisation, as pytest-xdist uses)."""

    def __init__(self, config, path: str):
        self.config = config
        self.path = path

    def pytest_runtest_logreport(self, report):
        data = self.config.hook.pytest_report_to_serializable(config=self.config, report=report)
        with open(self.path, "a") as out:
            out.write(json.dumps(data) + "\n")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    config = item.config
    if (os.environ.get(_CHILD_ENV) or config.getoption("--jack-in-process")
            or not _needs_isolation(item)):
        return None
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    for report in _run_in_child(item, config.getoption("--jack-timeout")):
        item.ihook.pytest_runtest_logreport(report=report)
    # what this process set up for earlier tests (module fixtures) and the next one does not need
    # is torn down here, as pytest's own protocol does after each test
    item.session._setupstate.teardown_exact(nextitem)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True


def _stacks(pid: int) -> str:
    """Python and native stacks of a stuck process, for the report: py-spy's Python stacks (its
    merged native mode fails on some libjack frames, "UNW_EBADREG", and then shows nothing) and
    gdb's native backtrace of every thread (its innermost 16 frames), each where installed."""
    commands = []
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if os.path.exists(spy):
        commands.append([spy, "dump", "--pid", str(pid)])
    if shutil.which("gdb"):
        commands.append(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", "thread apply all bt 16"])
    if not commands:
        return "(neither py-spy nor gdb here to show the stacks)"
    parts = []
    for command in commands:
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=60)
            parts.append(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}")
        except (OSError, subprocess.TimeoutExpired) as exc:
            parts.append(f"$ {' '.join(command)}\n(failed: {exc})")
    return "\n".join(parts)


_CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE)


def _allow_core_file() -> None:
    """In the child before exec: a crash leaves a core file (up to the system's hard limit), so
    the report can show the native stack of the thread that crashed (PortAudio, libjack)."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_CORE)
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))


def _core_files(pid: int | None, cwd: Path, since: float) -> list[Path]:
    """Core files a crash of process ``pid`` (None: of any process; working directory ``cwd``)
    wrote after ``since`` (time.time()), found through the kernel's core_pattern; [] where cores
    go to a program (``|...``: systemd-coredump, apport) or nowhere."""
    try:
        pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
        uses_pid = Path("/proc/sys/kernel/core_uses_pid").read_text().strip() == "1"
    except OSError:
        return []
    if not pattern or pattern.startswith("|"):
        return []
    if "%p" not in pattern and uses_pid:
        pattern += ".%p"
    glob, i = "", 0
    while i < len(pattern):  # %p is the pid, %% a percent sign, any other specifier: anything
        if pattern[i] == "%" and i + 1 < len(pattern):
            glob += {"p": "*" if pid is None else str(pid), "%": "%"}.get(pattern[i + 1], "*")
            i += 2
        else:
            glob += pattern[i]
            i += 1
    folder = Path(glob).parent if glob.startswith("/") else (cwd / glob).parent
    found = []
    for path in folder.glob(Path(glob).name):
        try:
            if path.is_file() and path.stat().st_mtime >= since:
                found.append(path)
        except OSError:
            pass
    return found


def _crash_report(output_path: Path, pid: int, cwd: Path, since: float) -> str:
    """What a crashed child left: faulthandler's dump of every Python thread (the one that crashed
    is "Current thread"; none is when a native thread crashed: JACK's, PortAudio's), then gdb's
    native stacks of every thread from the core file and, last, the crashed thread's own. The
    core is then removed where it is surely the child's (it can take gigabytes): in the child's
    working directory or named with its pid."""
    try:
        output = output_path.read_text(errors="replace")
    except OSError:
        output = ""
    start = output.rfind("Fatal Python error")
    dump = "\n".join(output[start:].splitlines()[:160]) if start >= 0 else "(no faulthandler dump)"
    parts = [f"--- faulthandler's dump of the crashed child ---\n{dump}"]
    cores = _core_files(pid, cwd, since)
    if not cores:
        parts.append("(no core file: core_pattern sends it elsewhere or the core limit is 0)")
    for core in cores:
        if shutil.which("gdb"):
            # on a core, gdb's current thread is the one that took the signal
            command = ["gdb", "-batch", "-nx", "-iex", "set auto-load off",
                       "-ex", "thread apply all bt 12", "-ex", "echo \\n--- CRASHED ---\\n",
                       "-ex", "bt 30", sys.executable, str(core)]
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=180)
                lines = [line for line in done.stdout.splitlines()
                         if not line.startswith(("[New LWP", "warning:"))]
                every, _, crashed = "\n".join(lines).partition("--- CRASHED ---")
                parts.append(f"--- gdb: native stacks of every thread ({core.name}) ---\n{every}")
                parts.append(f"--- gdb: the thread that crashed ---{crashed}")
            except (OSError, subprocess.TimeoutExpired) as exc:
                parts.append(f"(gdb failed on {core.name}: {exc})")
        else:
            parts.append(f"(core file {core.name} left unread: gdb is not installed)")
        if core.parent == Path(cwd) or str(pid) in core.name:
            core.unlink(missing_ok=True)
    return "\n\n".join(parts)


def _run_in_child(item, timeout: float) -> list:
    """Run one test in a child pytest (its own JACK server); returns its reports. A child still
    running after ``timeout`` seconds is killed with everything it started (its own process
    group: jackd, `vae-synth play`), and the test fails with the child's stacks and jackd's log."""
    from _pytest.reports import TestReport

    config = item.config
    with tempfile.TemporaryDirectory(prefix="vaesynth-jacktest-") as tmp:
        tmp_path = Path(tmp)
        report_path, output_path = tmp_path / "reports.jsonl", tmp_path / "output.txt"
        env = dict(os.environ, **{_CHILD_ENV: "1", _LOG_DIR_ENV: tmp})
        # pytest-timeout inside the child turns a hang in Python code into a traceback first
        args = [sys.executable, "-m", "pytest", item.nodeid, "-p", "no:cacheprovider", "-q",
                "--rootdir", str(config.rootpath), "-o", f"timeout={max(1, int(timeout - 10))}",
                "--jack-report", str(report_path)]
        if config.inipath:
            args += ["-c", str(config.inipath)]
        started, started_at = time.monotonic(), time.time()
        with open(output_path, "wb") as output:  # a file: a pipe nobody reads can fill and block
            child = subprocess.Popen(args, cwd=config.rootpath, env=env, stdin=subprocess.DEVNULL,
                                     stdout=output, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=_allow_core_file)
        problem = crash = None
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            stacks = _stacks(child.pid)
            problem = (f"the JACK test did not finish within its hard limit of {timeout:.0f} s; "
                       f"its process was killed with its JACK server.\n\n"
                       f"--- stacks of the stuck test process ---\n{stacks}")
        finally:
            try:
                os.killpg(child.pid, signal.SIGKILL)  # the child, its jackd, any player
            except ProcessLookupError:
                pass
            child.wait()
        elapsed = time.monotonic() - started
        reports = []
        if report_path.exists():
            for line in report_path.read_text().splitlines():
                report = config.hook.pytest_report_from_serializable(
                    config=config, data=json.loads(line))
                if report.skipped and isinstance(report.longrepr, list):
                    report.longrepr = tuple(report.longrepr)  # JSON made the (path, line, reason) a list
                reports.append(report)
        if problem is None and not any(r.when == "teardown" for r in reports):
            if -child.returncode in _CRASH_SIGNALS:
                crash = _crash_report(output_path, child.pid, config.rootpath, started_at - 1)
                problem = f"the child process running the JACK test crashed " \
                          f"({signal.Signals(-child.returncode).name})"
            else:
                problem = f"the child process running the JACK test ended early (exit status " \
                          f"{child.returncode})"
        # the raised core limit is inherited (jackd, a player): no core of this test's processes
        # left in its working directory; cores a system pattern sends elsewhere may be anyone's
        for core in _core_files(None, config.rootpath, started_at - 1):
            if core.parent == Path(config.rootpath):
                core.unlink(missing_ok=True)
        if problem is not None:
            seen = {r.when for r in reports}
            reported = ", ".join(f"{r.when} {r.outcome}" for r in reports) or "nothing"
            text = (f"{problem}\n\nthe child reported: {reported}"
                    f"\n\n--- the child's output (tail) ---\n{_tail(output_path, 40)}"
                    f"\n\n--- jackd's log (tail) ---\n{_tail(tmp_path / 'jackd.log', 20)}"
                    + (f"\n\n{crash}" if crash else ""))  # last: a long log shows its tail
            set_up = any(r.when == "setup" and r.passed for r in reports) or "setup" not in seen
            phases = ("setup", "call", "teardown") if set_up else ("setup", "teardown")
            missing = [w for w in phases if w not in seen]
            # every phase reported but the child never exited (stuck at interpreter exit, e.g. in
            # PortAudio after its server died): the hang is the teardown's failure
            when = missing[0] if missing else "teardown"
            reports = [r for r in reports if r.when != when]
            keywords = {k: 1 for k in item.keywords}
            reports.append(TestReport(item.nodeid, item.location, keywords, "failed", text, when,
                                      duration=elapsed))
            if when != "teardown":
                reports.append(TestReport(item.nodeid, item.location, keywords, "passed", None,
                                          "teardown"))
        return reports

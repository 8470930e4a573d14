"""MIDI in: raw bytes from a port's thread -> note events on the ring + controller snapshot.

``MidiRouter.handle(bytes)`` is the one entry point (port inputs through the flood guard of
``receive``: rtmidi's callback, the native JACK input of ``jack_midi.py``; terminal keyboard,
``--demo`` and the offline renderer all go through it), so live play and ``render`` share the
same code. It never blocks on the audio thread and never raises: malformed input (truncated
messages, stray data bytes, SysEx, unknown controllers, real-time bytes) is counted and dropped.
Controller floods only overwrite the snapshot, so they cannot build a backlog.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from vae_synth.synth import events as ev
from vae_synth.synth.atomic import write_text
from vae_synth.synth.params import PARAM_INDEX, ControlSnapshot, unknown_parameter

# data bytes that follow each channel-voice status (high nibble)
_DATA_LEN = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}
CC_ALL_SOUND_OFF = 120
CC_ALL_NOTES_OFF = 123
API_NAMES = {"alsa": "LINUX_ALSA", "jack": "UNIX_JACK", "coreaudio": "MACOSX_CORE",
             "winmm": "WINDOWS_MM"}
CLIENT_NAME = "vae-synth"
VIRTUAL_PORT = "midi_in"


class MidiStats:
    def __init__(self) -> None:
        self.messages = 0
        self.notes = 0
        self.controls = 0
        self.malformed = 0
        self.ignored = 0     # SysEx, real-time, unmapped controllers, other channels
        self.dropped = 0     # continuous messages shed during a flood (see MidiRouter)


# A flood guard: beyond FLOOD_LIMIT messages in one FLOOD_WINDOW_S window, continuous messages
# (controllers, pitch bend, aftertouch) are dropped and counted before they are parsed; notes,
# program changes and panics always pass. 20,000 a second is six times what a MIDI cable carries;
# each parsed message costs ~7 us of GIL time that the audio callback then waits for.
FLOOD_WINDOW_S = 0.01
FLOOD_LIMIT = 200
_CONTINUOUS = frozenset((0xA0, 0xB0, 0xD0, 0xE0))


class MidiRouter:
    """Turns MIDI bytes into engine events and parameter values.

    controls: {cc number: parameter name} (the preset's map, overridden by MIDI learn).
    channel: 1..16 to listen on one channel, None for all.
    on_latent_change: called (from the MIDI thread) when a latent parameter moved.
    on_program: called with the program number (0..127) on Program Change.
    on_learned: called (from the MIDI thread) with (cc, parameter, error) when MIDI learn bound a
    controller; error is None when the binding was saved, else why it was not.
    """

    def __init__(self, ring: ev.EventRing, snapshot: ControlSnapshot,
                 controls: dict[int, str], channel: int | None = None,
                 on_latent_change: Callable[[], None] | None = None,
                 on_program: Callable[[int], None] | None = None,
                 learn_store: LearnStore | None = None,
                 on_learned: Callable[[int, str, str | None], None] | None = None):
        if channel is not None and not 1 <= channel <= 16:
            raise ValueError(f"MIDI channel must be 1-16, got {channel}")
        self.ring = ring
        self.snapshot = snapshot
        self.controls: dict[int, str] = {}
        self.set_controls(controls)
        self.channel = None if channel is None else channel - 1
        self.on_latent_change = on_latent_change
        self.on_program = on_program
        self.learn_store = learn_store
        self.on_learned = on_learned
        self.learning: str | None = None   # parameter waiting for a controller to move
        self.last_learned: tuple[int, str] | None = None
        self.stats = MidiStats()
        self._running_status = 0
        self.last_cc: tuple[int, int] | None = None
        self._lock = threading.Lock()   # several producers (rtmidi, keyboard, demo)
        self._window_start = 0.0         # flood guard (rtmidi's thread only)
        self._window_count = 0

    def set_controls(self, controls: dict[int, str]) -> None:
        """Replace the map; raises ValueError for a CC outside 0-127 or an unknown parameter."""
        checked = {}
        for cc, name in controls.items():
            if not 0 <= int(cc) <= 127:
                raise ValueError(f"controller number {cc} is not a number 0-127")
            problem = unknown_parameter(name)
            if problem:
                raise ValueError(f"CC {cc}: {problem}")
            checked[int(cc)] = name
        self.controls = checked

    # -- parameter access (keyboard, demo) --------------------------------------------------
    def set_param(self, name: str, value: float) -> None:
        with self._lock:
            if self.snapshot.set(name, value) and self.on_latent_change is not None:
                self.on_latent_change()

    def learn(self, name: str | None) -> None:
        """Arm MIDI learn: the next controller that moves is bound to parameter ``name``
        (None cancels an armed learn)."""
        if name is not None and unknown_parameter(name):
            raise ValueError(unknown_parameter(name))
        self.learning = name

    def forget(self, name: str, preset_controls: dict[int, str]) -> str | None:
        """Clear the learned binding of parameter ``name``: the preset's own mapping
        (``preset_controls``) applies to it again. Returns None when saved, else why not."""
        error = self.learn_store.clear(name) if self.learn_store is not None else None
        with self._lock:
            if self.learning == name:
                self.learning = None
            kept = {cc: n for cc, n in self.controls.items() if n != name}
            kept.update({cc: n for cc, n in preset_controls.items() if n == name})
            self.set_controls(kept)
        return error

    # -- the entry point ---------------------------------------------------------------------
    def rtmidi_callback(self, event, data=None) -> None:
        """rtmidi's callback signature: ((message bytes, delta seconds), data)."""
        self.receive(event[0])

    def receive(self, message) -> None:
        """A message from a MIDI port (a sequence of ints): the flood guard, then ``handle``.
        Called by one port thread at a time (rtmidi's, or the JACK MIDI input's reader)."""
        try:
            now = time.monotonic()
            if now - self._window_start >= FLOOD_WINDOW_S:
                self._window_start = now
                self._window_count = 0
            self._window_count += 1
            if self._window_count > FLOOD_LIMIT and message[0] & 0xF0 in _CONTINUOUS:
                self.stats.dropped += 1
                return
            self.handle(message)
        except Exception:  # never let a bad message kill the port's thread
            self.stats.malformed += 1

    def handle(self, message) -> None:
        """Process one MIDI message given as a sequence of ints (bytes)."""
        with self._lock:
            self._handle(message)

    def _handle(self, message) -> None:
        st = self.stats
        st.messages += 1
        if not message:
            st.malformed += 1
            return
        try:
            data = [int(b) for b in message]
        except (TypeError, ValueError):
            st.malformed += 1
            return
        status = data[0]
        if status >= 0xF0:  # SysEx, system common, real-time: not ours
            st.ignored += 1
            return
        if status < 0x80:  # running status: data bytes reuse the previous status
            if not self._running_status:
                st.malformed += 1
                return
            status = self._running_status
            body = data
        else:
            self._running_status = status
            body = data[1:]
        kind = status & 0xF0
        need = _DATA_LEN[kind]
        if len(body) < need or any(b > 0x7F for b in body[:need]):
            st.malformed += 1
            return
        if self.channel is not None and (status & 0x0F) != self.channel:
            st.ignored += 1
            return
        if kind == 0x90 and body[1] > 0:
            st.notes += 1
            self.ring.push(ev.NOTE_ON, body[0], body[1])
        elif kind == 0x80 or kind == 0x90:
            self.ring.push(ev.NOTE_OFF, body[0], 0)
        elif kind == 0xB0:
            self._control(body[0], body[1])
        elif kind == 0xE0:
            bend = ((body[1] << 7) | body[0]) / 16383.0
            self.snapshot.set("bend", bend)
        elif kind == 0xC0:
            if self.on_program is not None:
                self.on_program(body[0])
        else:  # aftertouch: accepted, unused
            st.ignored += 1

    def _control(self, cc: int, value: int) -> None:
        st = self.stats
        st.controls += 1
        self.last_cc = (cc, value)
        if cc in (CC_ALL_SOUND_OFF, CC_ALL_NOTES_OFF):
            self.ring.push(ev.PANIC, cc, 0)
            return
        if self.learning is not None:
            name = self.learning
            self.learning = None
            self.controls = {k: v for k, v in self.controls.items() if v != name}
            self.controls[cc] = name
            self.last_learned = (cc, name)
            # The binding holds from now on; the file is written on the store's own thread,
            # never here (under JACK this is RtMidi's process thread: no disk waits there).
            if self.learn_store is not None:
                self.learn_store.bind_later(cc, name, self.on_learned)
            elif self.on_learned is not None:
                self.on_learned(cc, name, None)
        name = self.controls.get(cc)
        if name is None:
            st.ignored += 1
            return
        if self.snapshot.set(name, value / 127.0) and self.on_latent_change is not None:
            self.on_latent_change()


class LearnStore:
    """MIDI-learn bindings per preset, saved to ``$XDG_CONFIG_HOME/vae-synth/midi_learn.json``
    (default ``~/.config``) as {preset name: {cc: parameter}}; written atomically.

    A learned binding replaces the preset's own controllers for that parameter (``apply``);
    ``clear`` gives a parameter back to the preset's map and ``reset`` forgets whole presets.
    Methods that write return None when the file was saved, else the reason it was not (also
    kept in ``error``); a binding that could not be saved still holds for the session.
    """

    def __init__(self, preset_name: str, path: Path | None = None):
        self.preset_name = preset_name
        self.path = Path(path) if path is not None else self.default_path()
        self.error: str | None = None
        # the writer thread starts here, never on the MIDI thread that hands it a job
        self._jobs: queue.Queue = queue.Queue()
        threading.Thread(target=self._write_jobs, daemon=True, name="vae-synth-midi-learn").start()

    def bind_later(self, cc: int, name: str,
                   done: Callable[[int, str, str | None], None] | None = None) -> None:
        """``bind`` on the store's writer thread, then ``done(cc, name, error)`` there: for the
        MIDI thread, which must not wait for a disk."""
        self._jobs.put((cc, name, done))

    def wait_saved(self, timeout: float = 5.0) -> bool:
        """Block until every ``bind_later`` so far is written (or failed); False on time-out."""
        deadline = time.monotonic() + timeout
        while self._jobs.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def _write_jobs(self) -> None:
        while True:
            cc, name, done = self._jobs.get()
            try:
                error = self.bind(cc, name)
                if done is not None:
                    done(cc, name, error)
            except Exception as exc:  # noqa: BLE001 - a writer thread must outlive one bad job
                self.error = f"could not save MIDI learn to {self.path} ({exc})"
            finally:
                self._jobs.task_done()

    @staticmethod
    def default_path() -> Path:
        base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(Path.home(), ".config")
        return Path(base) / "vae-synth" / "midi_learn.json"

    def _read_all(self) -> dict:
        try:
            data = json.loads(self.path.read_text())
            return data if isinstance(data, dict) else {}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            self.error = f"ignoring unreadable MIDI-learn file {self.path}: {exc}"
            return {}

    def _save(self, data: dict, change: str) -> str | None:
        """Write ``data`` (presets left with no binding dropped); ``change`` says what holds
        for the session when it cannot be saved."""
        kept = {k: v for k, v in data.items() if v}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text(self.path, json.dumps(kept, indent=1, sort_keys=True))
        except OSError as exc:  # a full or read-only disk: the file on disk is left as it was
            reason = exc.strerror or str(exc)
            self.error = (f"could not save MIDI learn to {self.path} ({reason}); {change} lasts "
                          f"until you quit, the saved mappings are unchanged")
            return self.error
        return None

    def load(self) -> dict[int, str]:
        """This preset's learned bindings {cc: parameter}."""
        entry = self._read_all().get(self.preset_name, {})
        out = {}
        if isinstance(entry, dict):
            for cc, name in entry.items():
                try:
                    if name in PARAM_INDEX and 0 <= int(cc) <= 127:
                        out[int(cc)] = name
                except ValueError:
                    continue
        return out

    def apply(self, controls: dict[int, str]) -> dict[int, str]:
        """The map in use: the preset's ``controls`` {cc: parameter} with the learned bindings
        in place of the preset's controllers for the same parameters."""
        learned = self.load()
        merged = {cc: name for cc, name in controls.items() if name not in learned.values()}
        merged.update(learned)
        return merged

    def bind(self, cc: int, name: str) -> str | None:
        """Save ``cc`` -> parameter ``name`` (replacing the parameter's earlier binding)."""
        data = self._read_all()
        entry = data.get(self.preset_name)
        entry = {k: v for k, v in entry.items() if v != name} if isinstance(entry, dict) else {}
        entry[str(cc)] = name
        data[self.preset_name] = entry
        return self._save(data, f"CC {cc} -> {name}")

    def clear(self, name: str) -> str | None:
        """Forget the learned binding of parameter ``name`` for this preset."""
        data = self._read_all()
        entry = data.get(self.preset_name)
        if not isinstance(entry, dict) or name not in entry.values():
            return None
        data[self.preset_name] = {k: v for k, v in entry.items() if v != name}
        return self._save(data, f"clearing {name}'s learned binding")

    def reset(self, every_preset: bool = False) -> tuple[int, str | None]:
        """Forget this preset's learned bindings (or every preset's). Returns (bindings removed,
        None or why the file could not be saved)."""
        data = self._read_all()
        names = list(data) if every_preset else [self.preset_name]
        removed = sum(len(data[n]) for n in names if isinstance(data.get(n), dict))
        if not any(n in data for n in names):
            return 0, None
        for n in names:
            data.pop(n, None)
        return removed, self._save(data, "the reset")


# -- the map in use, Program Change numbers ----------------------------------------------
def installed_programs() -> list:
    """The installed presets in Program Change order: sorted by name, the first of each name on
    the search path (what ``--preset NAME`` loads). [PresetInfo]"""
    from vae_synth.synth.preset import list_presets

    return sorted((i for i in list_presets() if not i.shadowed), key=lambda i: i.name)


def program_list(current) -> list:
    """What Program Change n selects: the n-th of :func:`installed_programs`, whatever preset
    the session started with. ``current`` (the loaded Preset) stands in for its own entry, or
    comes last when it is not installed (a preset given by path). [Preset | Path]"""
    from vae_synth.synth.preset import PresetError

    try:
        paths = [info.path for info in installed_programs()]
    except (PresetError, OSError):
        paths = []
    programs: list = []
    found = False
    for path in paths:
        try:
            same = path.resolve() == current.path.resolve()
        except OSError:
            same = False
        programs.append(current if same else path)
        found = found or same
    return programs if found else [*programs, current]


def describe_midi_map(preset, store=None) -> list[str]:
    """Lines describing the MIDI map in use for ``preset``: its pads, every controller binding
    (marked where MIDI learn replaced the preset's own) and the Program Change numbers."""
    midi = preset.midi
    learned = store.load() if store is not None else {}
    controls = store.apply(midi.controls) if store is not None else dict(midi.controls)
    lines = [f"MIDI map of preset {preset.name} ({preset.path / 'preset.json'})"]
    by_class: dict[str, list[int]] = {}
    for note in sorted(midi.notes):
        by_class.setdefault(midi.notes[note], []).append(note)
    lines.append("pads (class: notes), any channel:")
    lines += [f"  {name:12s} {', '.join(map(str, notes))}" for name, notes in by_class.items()]
    lines.append("controllers (CC -> control):")
    for cc in sorted(controls):
        mark = "  learned" if cc in learned else ""
        lines.append(f"  CC {cc:3d}  {controls[cc]}{mark}")
    lines.append(f"  CC {CC_ALL_SOUND_OFF:3d}  all sound off   CC {CC_ALL_NOTES_OFF:3d}  all notes off")
    if store is not None:
        lines.append(f"learned bindings: {store.path}"
                     f"{'' if store.path.exists() else ' (none yet)'}")
    try:
        programs = [f"{n} {info.name}" for n, info in enumerate(installed_programs())]
    except OSError:
        programs = []
    if programs:
        lines.append("program change: " + ", ".join(programs))
    return lines


# -- ports ---------------------------------------------------------------------------------
def rtmidi_api(name: str | None):
    """rtmidi API constant for 'alsa' | 'jack' | 'coreaudio' | 'winmm' | None (platform's)."""
    import rtmidi

    if name is None:
        return rtmidi.API_UNSPECIFIED
    key = API_NAMES.get(name.lower())
    if key is None:
        raise ValueError(f"unknown MIDI API {name!r}; choose from {', '.join(API_NAMES)}")
    return getattr(rtmidi, f"API_{key}")


class MidiInputs:
    """The open rtmidi inputs feeding one router; re-opens a named port that comes back."""

    def __init__(self, router: MidiRouter, api: str | None = None, port: str | None = None):
        self.router = router
        self.api_name = api
        self.spec = port
        self.inputs: list = []        # (MidiIn, port name)
        self.messages: list[str] = []
        self.presence: PortPresence | None = None   # the named ports, when not virtual
        self._watcher = None

    def open(self) -> None:
        import rtmidi

        api = rtmidi_api(self.api_name)
        try:
            probe = rtmidi.MidiIn(api, CLIENT_NAME)
        except rtmidi.SystemError as exc:
            raise RuntimeError(
                f"cannot open MIDI API {self.api_name or 'default'}: {exc}. "
                "Try --midi-api jack (with a JACK server running)."
            ) from exc
        try:
            wanted = ports_to_open(self.spec, probe.get_ports())
        except RuntimeError:
            probe.delete()
            raise
        if not wanted:
            probe.open_virtual_port(VIRTUAL_PORT)
            self._attach(probe, f"{CLIENT_NAME}:{VIRTUAL_PORT} (virtual)")
            return
        self._watcher = probe   # kept: lists ports later without creating clients
        for name in wanted:
            self._open_named(name)
        self.presence = PortPresence(wanted, self.messages)

    def _attach(self, midi_in, name: str) -> None:
        midi_in.ignore_types(sysex=True, timing=True, active_sense=True)
        midi_in.set_callback(self.router.rtmidi_callback)
        self.inputs.append((midi_in, name))

    def _open_named(self, name: str) -> bool:
        import rtmidi

        midi_in = rtmidi.MidiIn(rtmidi_api(self.api_name), CLIENT_NAME)
        ports = midi_in.get_ports()
        if name not in ports:
            midi_in.delete()
            return False
        midi_in.open_port(ports.index(name), VIRTUAL_PORT)
        self._attach(midi_in, name)
        return True

    def poll(self, pause=None) -> None:
        """Notice ports that disappeared and re-open them when they come back (call ~1/s).

        Only reads the port list through a watcher client made at ``open`` (creating or closing
        an rtmidi JACK client while the audio callback runs can deadlock: rtmidi holds the GIL
        while JACK waits for the callback). ``pause``: a context manager that stops the audio
        stream around the rare re-open.
        """
        if self.presence is None or self._watcher is None:
            return
        try:
            present = self._watcher.get_ports()
        except Exception:  # noqa: BLE001 - a vanished back end reads as no ports
            present = []
        back = self.presence.update(present)
        if not back:
            return
        import contextlib

        with pause if pause is not None else contextlib.nullcontext():
            for midi_in, name in list(self.inputs):
                if name in back:
                    self.inputs.remove((midi_in, name))
                    midi_in.close_port()
                    midi_in.delete()
            for name in back:
                if self._open_named(name):
                    self.presence.back(name)

    def names(self) -> list[str]:
        return [name for _, name in self.inputs]

    def close(self) -> None:
        for midi_in, _ in self.inputs:
            try:
                # close_port + delete, no cancel_callback: rtmidi's JACK client must be able to
                # finish a callback in flight while the port closes
                midi_in.close_port()
                midi_in.delete()
            except Exception:  # closing is best effort
                pass
        self.inputs.clear()
        if self._watcher is not None:
            try:
                self._watcher.delete()
            except Exception:  # noqa: BLE001
                pass
            self._watcher = None


def _hardware(names: list[str]) -> list[str]:
    """Input ports worth opening by default: not our own, not ALSA's 'Midi Through'."""
    return [n for n in names if CLIENT_NAME not in n and "through" not in n.lower()]


def ports_to_open(spec: str | None, names: list[str]) -> list[str]:
    """The source ports ``--midi-in spec`` selects among ``names``; [] means a virtual port
    ("virtual", or no spec and no hardware port). RuntimeError when a named spec matches none."""
    if spec == "virtual" or (spec is None and not _hardware(names)):
        return []
    if spec is None:
        return _hardware(names)
    wanted = [n for n in names if spec.lower() in n.lower()]
    if not wanted:
        listing = ", ".join(names) or "none"
        raise RuntimeError(f"no MIDI input port matches {spec!r} (ports: {listing})")
    return wanted


class PortPresence:
    """Which of the named source ports are present; says when one disappears or comes back
    (appending lines to ``messages``, which the player prints)."""

    def __init__(self, wanted: list[str], messages: list[str]):
        self.wanted = sorted(wanted)
        self.messages = messages
        self.gone: set[str] = set()

    def update(self, present: list[str]) -> list[str]:
        """Notes the ports missing from ``present``; returns the gone ones that are back (the
        caller reconnects them and calls ``back``)."""
        present = set(present)
        for name in self.wanted:
            if name not in present and name not in self.gone:
                self.gone.add(name)
                self.messages.append(f"MIDI port disappeared: {name} (waiting for it)")
        return [n for n in sorted(self.gone) if n in present]

    def back(self, name: str) -> None:
        self.gone.discard(name)
        self.messages.append(f"MIDI port back: {name}")


def wait_for(predicate, timeout: float, interval: float = 0.005) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass (used by tests and demo)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())

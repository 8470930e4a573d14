"""Playing without hardware: the computer keyboard in the terminal, its legend, the status line,
``--demo``.

Keys ``a s d f g h j k l ;`` play the preset's pads (one per class, in note order, then the
remaining mapped notes); ``z``/``x`` move the morph knob, ``c``/``v`` variation, ``b``/``n``
the first timbre macro (pca1), ``-``/``=`` volume. ``1``-``4`` arm MIDI learn for those four
controls (then move a controller; Esc cancels, ``0`` clears the control's learned binding);
``m`` shows the MIDI map in use, ``?`` the legend; space is panic; ``q`` quits. Everything goes
through ``MidiRouter`` like MIDI.

The legend and the status line fit the terminal's width (read at every refresh, so they follow
a resize) and never wrap: a wrapped status line would add a line at every refresh.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time

PAD_KEYS = "asdfghjkl;"
KNOB_STEP = 0.05
KNOB_KEYS = {"z": ("morph", -KNOB_STEP), "x": ("morph", KNOB_STEP),
             "c": ("variation", -KNOB_STEP), "v": ("variation", KNOB_STEP),
             "b": ("pca1", -KNOB_STEP), "n": ("pca1", KNOB_STEP),
             "-": ("volume", -KNOB_STEP), "=": ("volume", KNOB_STEP)}
LEARN_KEYS = {"1": "morph", "2": "variation", "3": "pca1", "4": "volume"}
CLEAR_KEY = "0"
ESC = "\x1b"
HELP = ("keys: asdfghjkl; pads | z/x morph | c/v variation | b/n pca1 | -/= volume | "
        "1-4 MIDI learn for those (Esc cancels, 0 clears) | m map | ? legend | space panic | "
        "q quit")
MESSAGE_PREFIX = "vae-synth: "


def terminal_width(default: int = 80) -> int:
    """Columns of the terminal on stderr (where the player draws), else ``default``."""
    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError):
        return shutil.get_terminal_size((default, 24)).columns


def wrap_message(text: str, width: int | None = None) -> str:
    """``vae-synth: text`` broken into lines no wider than ``width`` (default: the terminal's),
    continued under the text, so that a terminal never wraps it."""
    import textwrap

    width = max((width or terminal_width()) - 1, len(MESSAGE_PREFIX) + 20)
    return textwrap.fill(text, width, initial_indent=MESSAGE_PREFIX,
                         subsequent_indent=" " * len(MESSAGE_PREFIX), break_on_hyphens=False)


def pad_notes(notes: dict[int, str]) -> list[int]:
    """Notes for the pad keys: the lowest note of each class first, then the other notes."""
    first, seen = [], set()
    for note in sorted(notes):
        if notes[note] not in seen:
            seen.add(notes[note])
            first.append(note)
    rest = [n for n in sorted(notes) if n not in first]
    return (first + rest)[: len(PAD_KEYS)]


def _wrap(label: str, items: list[str], width: int) -> list[str]:
    """``label`` then the items, two spaces apart, continued under the first item so that no
    line is wider than ``width`` (an item wider than a line is cut)."""
    indent = " " * len(label)
    lines, line, empty = [], label, True
    for item in items:
        candidate = f"{line}  {item}"
        if len(candidate) > width and not empty:
            lines.append(line)
            line = f"{indent}  {item}"
        else:
            line = candidate
        empty = False
    lines.append(line)
    return [text[:width] for text in lines]


def legend(engine, width: int | None = None) -> list[str]:
    """The key legend as lines no wider than ``width`` (default: the terminal's, less the
    message prefix): which key plays which pad (by class) and which keys turn which control."""
    width = (width or terminal_width()) - len(MESSAGE_PREFIX) - 1
    width = max(width, 20)
    notes = engine.instrument.preset.midi.notes
    pads = pad_notes(notes)
    classes = [notes[n] for n in pads]
    pad_items = [f"{key} {name}" + (f" ({note})" if classes.count(name) > 1 else "")
                 for key, note, name in zip(PAD_KEYS, pads, classes, strict=False)]
    knob_items = ["z/x morph", "c/v variation", "b/n pca1 (timbre 1)", "-/= volume"]
    learn_items = ["1 morph", "2 variation", "3 pca1", "4 volume:", "then move a controller",
                   "Esc cancels", "0 clears the learned binding"]
    other_items = ["m MIDI map", "? this legend", "space panic", "q quit"]
    shown_items = ["last pad", "the controls", "decode: last re-decode time",
                   "underruns: audio blocks late", "to the device (a click if sounding)",
                   "dropped MIDI: messages shed in a flood"]
    lines = _wrap("pads ", pad_items, width) + _wrap("knobs", knob_items, width)
    lines += _wrap("learn", learn_items, width) + _wrap("keys ", other_items, width)
    lines += _wrap("shown", shown_items, width)
    return [MESSAGE_PREFIX + line for line in lines]


def split_keys(text: str) -> list[str]:
    """The keys in ``text``: escape sequences (arrow and function keys: ESC [ or ESC O, then
    parameters up to a final byte 0x40-0x7E) are dropped whole; ESC on its own is a key."""
    keys, i = [], 0
    while i < len(text):
        if text[i] == ESC and text[i + 1:i + 2] in ("[", "O"):
            i += 2
            while i < len(text) and not "\x40" <= text[i] <= "\x7e":
                i += 1
            i += 1
            continue
        keys.append(text[i])
        i += 1
    return keys


class TerminalKeyboard(threading.Thread):
    """Reads keys from a TTY (cbreak mode, restored on exit) and plays them."""

    def __init__(self, engine, on_quit):
        super().__init__(name="vae-synth-keys", daemon=True)
        self.engine = engine
        self.on_quit = on_quit
        self.stopping = False
        self._saved = None
        self._instrument = engine.instrument

    @staticmethod
    def available() -> bool:
        return sys.stdin.isatty() and os.name == "posix"

    def run(self) -> None:
        import select
        import termios
        import tty

        fd = sys.stdin.fileno()
        try:
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        except termios.error:
            return
        try:
            while not self.stopping:
                ready, _, _ = select.select([fd], [], [], 0.1)
                if ready:
                    self.keys(os.read(fd, 64).decode(errors="ignore"))
                if self.engine.instrument is not self._instrument:  # program change: new pads
                    self._instrument = self.engine.instrument
                    self.show_legend()
        finally:
            self.restore()

    def restore(self) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

    def keys(self, text: str) -> None:
        """What one read of the terminal gave (several keys when typed fast)."""
        for ch in split_keys(text):
            self.key(ch)

    def say(self, text: str) -> None:
        self.engine.messages.append(text)

    def show_legend(self) -> None:
        for line in legend(self.engine):
            self.say(line.removeprefix(MESSAGE_PREFIX))

    def key(self, ch: str) -> None:
        engine = self.engine
        router = engine.router
        notes = pad_notes(engine.instrument.preset.midi.notes)
        if ch in PAD_KEYS and PAD_KEYS.index(ch) < len(notes):
            note = notes[PAD_KEYS.index(ch)]
            router.handle([0x90, note, 100])
            router.handle([0x80, note, 0])
        elif ch in KNOB_KEYS:
            name, step = KNOB_KEYS[ch]
            router.set_param(name, engine.snapshot.get(name) + step)
        elif ch in LEARN_KEYS:
            name = LEARN_KEYS[ch]
            if router.learning == name:
                router.learn(None)
                self.say(f"MIDI learn for {name} cancelled")
            else:
                router.learn(name)
                self.say(f"MIDI learn: move a controller for {name} (Esc cancels, 0 clears)")
        elif ch == ESC:
            if router.learning is not None:
                self.say(f"MIDI learn for {router.learning} cancelled")
                router.learn(None)
        elif ch == CLEAR_KEY:
            self.clear_learned()
        elif ch == "m":
            from vae_synth.synth.midi import describe_midi_map

            for line in describe_midi_map(engine.instrument.preset, engine.learn_store):
                self.say(line)
        elif ch == "?":
            self.show_legend()
        elif ch == " ":
            router.handle([0xB0, 120, 0])
        elif ch == "q":
            self.on_quit()

    def clear_learned(self) -> None:
        """``0`` while a learn is armed: that control goes back to the preset's own map."""
        engine, router = self.engine, self.engine.router
        name = router.learning
        if name is None:
            self.say("press 1-4 first to pick a control, then 0 clears its learned binding")
            return
        preset_controls = engine.instrument.preset.midi.controls
        store = engine.learn_store
        if store is None or name not in store.load().values():
            self.say(f"{name} has no learned binding to clear (MIDI learn: press 1-4, then "
                     f"move a controller)")
            router.learn(None)
            return
        error = router.forget(name, preset_controls)
        own = ", ".join(f"CC {cc}" for cc, n in sorted(preset_controls.items()) if n == name)
        back = f"the preset's {own}" if own else "no controller (the preset maps none)"
        self.say(f"{name}: learned binding cleared, {back} again"
                 + (", saved" if error is None else ", not saved"))


def _fit(fields: list[tuple[float, str]], width: int, sep: str = "  ") -> str:
    """Join the (priority, text) fields, leaving out the least important (highest number) until
    the line fits ``width``; as a last resort the line is cut."""
    kept = list(fields)
    while len(kept) > 1 and len(sep.join(t for _, t in kept)) > width:
        drop = max(range(len(kept)), key=lambda i: (kept[i][0], i))
        kept.pop(drop)
    return sep.join(t for _, t in kept)[:width]


def _knob(value: float, signed: bool = False) -> str:
    """A knob position in 3 (4 signed) characters that keep their width: .15, 1.0, +.50, -1.0."""
    text = "1.0" if abs(value) >= 0.995 else f"{abs(value):.2f}"[1:]
    return (("-" if value < 0 else "+") + text) if signed else text


def status_line(engine, elapsed: float, width: int | None = None) -> str:
    """One line no wider than ``width - 1`` (default: the terminal's): the last pad, every
    control the keys move (morph, variation, volume, pca1 from -1 to +1), decode time,
    underruns, then preset, voices, counters; the least important go first when the terminal
    is narrow (80 columns show the first five).

    underruns: ``engine.underruns``, the blocks PortAudio reported it could not hand to the
    device in time (output underflow); one is a click when sound was playing. dropped MIDI
    (shown once there are any): messages the router's flood guard shed plus notes a full event
    ring could not take."""
    width = (width or terminal_width()) - 1
    snap = engine.snapshot
    decoder = engine.decoder
    decode = "-"
    if decoder is not None and decoder.stats.count:
        last = decoder.stats.times[(decoder.stats.count - 1) % len(decoder.stats.times)]
        decode = f"{last * 1e3:.1f}ms"
    inst = engine.instrument
    pad = inst.preset.class_names[inst.priority_class][:10] if inst.priority_class >= 0 else "-"
    controls = (f"morph {_knob(snap.get('morph'))} var {_knob(snap.get('variation'))} "
                f"vol {_knob(snap.get('volume'))} pca1 {_knob(snap.get('pca1') * 2 - 1, True)}")
    fields: list[tuple[float, str]] = []
    learning = engine.router.learning
    if learning is not None:
        fields.append((0, f"LEARN {learning}: move a controller"))
    fields += [(5, f"[{inst.name}]"), (3, f"pad {pad}"), (0, controls), (2, f"decode {decode}"),
               (1, f"underruns {engine.underruns}"),
               (6, f"voices {engine.pool.active_count()}/{engine.pool.n}")]
    dropped = engine.dropped_midi  # shed in a flood, or a full event queue
    if dropped:
        fields.append((1.5, f"dropped MIDI {dropped}"))  # an alarm: before decode and pad
    if engine.unmapped_notes:
        fields.append((7, f"no pad {engine.unmapped_notes}"))
    fields += [(8, f"notes {engine.notes}"), (9, f"{elapsed:.0f}s")]
    return _fit(fields, width)


class Demo(threading.Thread):
    """``--demo``: a 16-step pattern over the preset's pads at 120 BPM while the morph knob
    sweeps 0 -> 1 -> 0 every 8 s. Runs until stopped (or for ``bars`` bars)."""

    def __init__(self, engine, bpm: float = 120.0, bars: int | None = None):
        super().__init__(name="vae-synth-demo", daemon=True)
        self.engine = engine
        self.step_s = 60.0 / bpm / 4.0
        self.bars = bars
        self.stopping = False

    def pattern(self) -> list[list[int]]:
        """16 steps, each a list of notes: kick-snare-hat for drum maps, arpeggio otherwise."""
        notes = self.engine.instrument.preset.midi.notes
        pads = pad_notes(notes)
        by_class = {}
        for note in sorted(notes):
            by_class.setdefault(notes[note], note)
        if {"kick", "snare"} <= set(by_class):
            kick, snare = by_class["kick"], by_class["snare"]
            hat = by_class.get("hihat", by_class.get("hat", kick))
            tom = by_class.get("tom", snare)
            steps = [[] for _ in range(16)]
            for i in range(0, 16, 2):
                steps[i].append(hat)
            for i in (0, 6, 8, 11):
                steps[i].append(kick)
            for i in (4, 12):
                steps[i].append(snare)
            steps[14].append(tom)
            return steps
        return [[pads[i % len(pads)]] if i % 2 == 0 else [] for i in range(16)]

    def run(self) -> None:
        router = self.engine.router
        steps = self.pattern()
        start = time.monotonic()
        step = 0
        while not self.stopping:
            if self.bars is not None and step >= 16 * self.bars:
                break
            elapsed = time.monotonic() - start
            phase = (elapsed / 8.0) % 2.0
            router.set_param("morph", phase if phase <= 1.0 else 2.0 - phase)
            for note in steps[step % 16]:
                router.handle([0x99, note, 100 if step % 4 == 0 else 80])
            step += 1
            delay = start + step * self.step_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)

"""Playing without hardware: the computer keyboard in the terminal, the status line, ``--demo``.

Keys ``a s d f g h j k l ;`` play the preset's pads (one per class, in note order, then the
remaining mapped notes); ``z``/``x`` move the morph knob, ``c``/``v`` variation, ``b``/``n``
the first PCA macro, ``-``/``=`` volume; ``1`` arms MIDI learn for the morph knob (then move
a controller); space is panic; ``q`` quits. Everything goes through ``MidiRouter`` like MIDI.
"""

from __future__ import annotations

import os
import sys
import threading
import time

PAD_KEYS = "asdfghjkl;"
KNOB_KEYS = {"z": ("morph", -0.05), "x": ("morph", 0.05), "c": ("variation", -0.05),
             "v": ("variation", 0.05), "b": ("pca1", -0.05), "n": ("pca1", 0.05),
             "-": ("volume", -0.05), "=": ("volume", 0.05)}
HELP = ("keys: asdfghjkl; pads | z/x morph | c/v variation | b/n pca1 | -/= volume | "
        "1 learn morph | space panic | q quit")


def pad_notes(notes: dict[int, str]) -> list[int]:
    """Notes for the pad keys: the lowest note of each class first, then the other notes."""
    first, seen = [], set()
    for note in sorted(notes):
        if notes[note] not in seen:
            seen.add(notes[note])
            first.append(note)
    rest = [n for n in sorted(notes) if n not in first]
    return (first + rest)[: len(PAD_KEYS)]


class TerminalKeyboard(threading.Thread):
    """Reads single keys from a TTY (cbreak mode, restored on exit) and plays them."""

    def __init__(self, engine, on_quit):
        super().__init__(name="vae-synth-keys", daemon=True)
        self.engine = engine
        self.on_quit = on_quit
        self.stopping = False
        self._saved = None

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
                    self.key(os.read(fd, 1).decode(errors="ignore"))
        finally:
            self.restore()

    def restore(self) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, self._saved)
            self._saved = None

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
        elif ch == "1":
            router.learn("morph")
            engine.messages.append("MIDI learn: move a controller to bind it to morph")
        elif ch == " ":
            router.handle([0xB0, 120, 0])
        elif ch in ("q", "\x1b"):
            self.on_quit()


def status_line(engine, elapsed: float) -> str:
    """One line: preset, morph/x/y/variation, voices, decode time, underruns."""
    snap = engine.snapshot
    decoder = engine.decoder
    decode = "-"
    if decoder is not None and decoder.stats.count:
        decode = f"{decoder.stats.times[(decoder.stats.count - 1) % len(decoder.stats.times)] * 1e3:.1f}ms"
    return (f"{engine.instrument.name} | morph {snap.get('morph'):.2f} x {snap.get('x'):.2f} "
            f"y {snap.get('y'):.2f} var {snap.get('variation'):.2f} | voices "
            f"{engine.pool.active_count():2d}/{engine.pool.n} | decode {decode} | "
            f"underruns {engine.underruns} | notes {engine.notes} | {elapsed:6.1f}s")


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

"""Offline render: a MIDI file through the same engine code, sample-accurately, to a sound file.

Events are applied at their exact sample (the engine renders up to the event, hands the raw
bytes to the same ``MidiRouter`` live play uses, then goes on). Controller moves are decoded
synchronously before the next note that needs them (or, while sustained voices sound, at the
move), so the result does not depend on timing: two renders are bit-identical.

The output is checked before any work is done (never one of the inputs, never a folder, a name
that fits the format) and written through ``vae_synth.synth.atomic``: a failure leaves neither a
partial file nor a temporary one, and an existing file is replaced only by a complete one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from vae_synth.synth.atomic import atomic_path
from vae_synth.synth.engine import Engine


@dataclass(frozen=True)
class OutputFormat:
    """One ``--format``: libsndfile's container and sample type, and how the summary names it."""

    container: str   # soundfile ``format``
    subtype: str     # soundfile ``subtype``
    label: str
    suffix: str      # the file name ending this format belongs to


FORMATS: dict[str, OutputFormat] = {
    "float": OutputFormat("WAV", "FLOAT", "WAV 32-bit float", ".wav"),
    "pcm16": OutputFormat("WAV", "PCM_16", "WAV 16-bit PCM", ".wav"),
    "pcm24": OutputFormat("WAV", "PCM_24", "WAV 24-bit PCM", ".wav"),
    "flac": OutputFormat("FLAC", "PCM_24", "FLAC 24-bit", ".flac"),
}
DEFAULT_FORMAT = "float"
# The longest --tail: a minute of ringing after the last event is more than any one-shot holds,
# and a mistyped 100000 would otherwise ask for gigabytes before failing.
MAX_TAIL_S = 60.0
_SUFFIXES = {".wav": ".wav", ".wave": ".wav", ".flac": ".flac"}


class RenderError(ValueError):
    """The render cannot start or its output cannot be written; the message says why."""


def output_format(out_path, name: str | None = None) -> OutputFormat:
    """The format for ``out_path``: ``name`` when given, else from its ending (``.flac`` -> flac,
    ``.wav`` -> float WAV). Raises RenderError when the name and the ending disagree, or when
    the name does not end in ``.wav`` or ``.flac``: WAV data under another ending (``beat.mid``,
    ``take.mp3``) would be a file no program reads as what its name says, and may overwrite a
    file of that kind."""
    text = os.fspath(out_path)
    if text.endswith(("/", os.sep)) or Path(text).expanduser().is_dir():
        raise RenderError(f"--out {text} is a folder; give a file name, e.g. "
                          f"{Path(text) / 'render.wav'}")
    ending = Path(text).suffix
    suffix = _SUFFIXES.get(ending.lower())
    if suffix is None:
        wanted = FORMATS[name].suffix if name in FORMATS else ".wav"
        raise RenderError(f"--out {text}: render writes WAV (.wav) or FLAC (.flac), and "
                          f"{'this name has no ending' if not ending else f'not {ending}'}; "
                          f"name the file *{wanted}, e.g. {Path(text).with_suffix(wanted)}")
    if name is None:
        return FORMATS["flac"] if suffix == ".flac" else FORMATS[DEFAULT_FORMAT]
    if name not in FORMATS:
        raise RenderError(f"unknown format {name!r}; choose from {', '.join(FORMATS)}")
    fmt = FORMATS[name]
    if suffix != fmt.suffix:
        raise RenderError(f"--format {name} writes {fmt.label}, but {out_path} ends in "
                          f"{Path(out_path).suffix}; name the file *{fmt.suffix}")
    return fmt


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_output(out_path, inputs: dict[str, Path]) -> Path:
    """``out_path`` as a Path, or RenderError: it is one of ``inputs`` ({what: path}, e.g.
    {"the MIDI file": beat.mid}), which the render would overwrite. (A folder, or a name that
    is not a sound file's, is refused by ``output_format``, asked next.)"""
    out = Path(out_path).expanduser()
    for what, path in inputs.items():
        if _same_file(out, Path(path)):
            raise RenderError(f"--out {out_path} is {what}; refusing to overwrite an input "
                              f"(choose another output name)")
    return out


def midi_events(path, samplerate: int) -> list[tuple[int, list[int]]]:
    """[(sample, message bytes)] of a MIDI file in time order (tempo changes honoured).

    Raises RenderError with the reason a file cannot be read (missing, empty, not a Standard
    MIDI File, truncated, bad data)."""
    import mido

    path = Path(path)
    if path.is_dir():
        raise RenderError(f"{path}: is a folder, not a MIDI file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise RenderError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if size == 0:
        raise RenderError(f"{path}: not a readable MIDI file (it is empty, 0 bytes)")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as exc:
        raise RenderError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not head.startswith(b"MThd"):
        raise RenderError(f"{path}: not a readable MIDI file (a Standard MIDI File starts with "
                          f"'MThd'; this one starts with {head!r})")
    try:
        midi_file = mido.MidiFile(str(path))
        messages = list(midi_file)   # merged tracks, .time = delta in seconds
    except EOFError:
        raise RenderError(f"{path}: not a readable MIDI file (truncated: it ends inside a "
                          f"chunk)") from None
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        reason = str(exc) or type(exc).__name__
        raise RenderError(f"{path}: not a readable MIDI file ({reason})") from None
    events = []
    seconds = 0.0
    for message in messages:
        seconds += message.time
        if message.is_meta:
            continue
        events.append((int(round(seconds * samplerate)), list(message.bytes())))
    return events


class Renderer:
    """Drives an ``Engine`` offline. ``render(events, total)`` -> audio [total, 2] float32."""

    def __init__(self, engine: Engine):
        self.engine = engine
        engine.sync_programs = True

    def _decode_if_needed(self) -> None:
        engine = self.engine
        engine.pool.graveyard.reap()   # offline: no decode thread releases what voices dropped
        inst = engine.instrument
        state = engine.snapshot.latent_state()
        if state.version == inst.bank.version:
            return
        sustaining = inst.sustain and engine.pool.active_count() > 0
        if engine.ring.pending() or sustaining:
            inst.bank = inst.builder.build(state, base=inst.bank)

    def render(self, events: list[tuple[int, list[int]]], total: int) -> np.ndarray:
        engine = self.engine
        out = np.zeros((total, 2), dtype=np.float32)
        block = engine.blocksize
        pos = 0
        for sample, message in events:
            sample = min(max(sample, 0), total)
            while pos < sample:
                self._decode_if_needed()
                n = min(block - (pos % block), sample - pos)  # keep the block grid
                engine.process(out[pos:pos + n])
                pos += n
            engine.router.handle(message)
        while pos < total:
            self._decode_if_needed()
            n = min(block - (pos % block), total - pos)
            engine.process(out[pos:pos + n])
            pos += n
        return out


def _write_failure(out: Path, audio: np.ndarray, fmt: OutputFormat, exc: Exception) -> str:
    """Why libsndfile could not write ``audio``: most often a full disk, which it does not say."""
    needed = audio.size * {"PCM_16": 2, "PCM_24": 3}.get(fmt.subtype, 4)
    try:
        stat = os.statvfs(out.parent)
        free = stat.f_bavail * stat.f_frsize
    except (OSError, AttributeError):  # no statvfs on Windows
        return str(exc)
    if free < needed:
        return (f"No space left on device ({free / 1e6:.1f} MB free in {out.parent}, the file "
                f"needs up to {needed / 1e6:.1f} MB)")
    return str(exc)


def render_file(preset, midi_path, out_path, samplerate: int = 48000, blocksize: int = 128,
                voices: int = 16, tail_s: float | None = None, interpolation: str = "lerp",
                seed: int = 0, programs: list | None = None, device: str = "cpu",
                format: str | None = None, mixing: str = "auto") -> dict:
    """Render ``midi_path`` with ``preset`` into a stereo sound file at ``out_path``.

    format: a key of FORMATS (default: from the file name, float WAV unless it ends in .flac).
    tail_s: seconds after the last event (0 to MAX_TAIL_S; default one decoded frame + 0.1 s); the file
    always holds at least one sample after the last event, so no event is cut.
    mixing: the engine's mixer (engine.MIXINGS): native and Python render the same samples.
    Nothing is written, and RenderError says why, when the output is a folder or one of the
    inputs. Returns {"frames", "seconds", "notes", "mixing", "peak", "format", "unmapped"}.
    """
    import soundfile as sf

    if tail_s is not None and not (0 <= tail_s <= MAX_TAIL_S):
        raise RenderError(f"--tail must be 0 to {MAX_TAIL_S:g} seconds, got {tail_s}")
    inputs = {"the MIDI file being rendered": Path(midi_path),
              "the preset's preset.json": Path(preset.path) / "preset.json"}
    inputs.update({f"the preset's {role} file": preset.file(role) for role in preset.files})
    out = check_output(out_path, inputs)
    fmt = output_format(out_path, format)
    events = midi_events(midi_path, samplerate)
    engine = Engine(preset, samplerate, blocksize, voices, device=device,
                    interpolation=interpolation, seed=seed, programs=programs, learn=False,
                    mixing=mixing)
    if tail_s is None:  # let the last one-shot ring out
        tail = engine.instrument.frame_frames + samplerate // 10
    else:
        tail = max(1, int(round(tail_s * samplerate)))
    last = events[-1][0] if events else 0
    audio = Renderer(engine).render(events, last + tail)
    if fmt.subtype != "FLOAT":  # integer PCM: the limiter keeps |x| <= 1; clip rounding strays
        np.clip(audio, -1.0, 1.0, out=audio)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(out) as tmp:
            sf.write(str(tmp), audio, samplerate, subtype=fmt.subtype, format=fmt.container)
    except RuntimeError as exc:  # libsndfile's errors carry no errno ("System error.")
        raise RenderError(f"cannot write {out}: {_write_failure(out, audio, fmt, exc)}") from None
    return {"frames": len(audio), "seconds": len(audio) / samplerate, "notes": engine.notes,
            "mixing": engine.mixing,
            "peak": float(np.abs(audio).max()) if len(audio) else 0.0, "format": fmt.label,
            "unmapped": engine.unmapped_summary()}

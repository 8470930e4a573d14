"""`vae-synth devices`: the audio outputs and MIDI inputs this machine offers.

Prints every audio output device with its PortAudio host API (the names ``--audio-api`` and
``--device`` accept) and the MIDI input ports of every MIDI API python-rtmidi was built with (the
names ``--midi-api`` and ``--midi-in`` accept). A machine with none of them says so and exits 0.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

from vae_synth.synth.quiet import native_stderr_silenced, never_autostart_jack

# rtmidi API constants -> the names --midi-api takes
MIDI_API_NAMES = {
    "API_LINUX_ALSA": "alsa",
    "API_UNIX_JACK": "jack",
    "API_MACOSX_CORE": "coreaudio",
    "API_WINDOWS_MM": "winmm",
    "API_WEB_MIDI_API": "web",
}


@dataclass(frozen=True)
class AudioOutput:
    index: int
    name: str
    host_api: str
    channels: int
    default_samplerate: float
    is_default: bool


@dataclass(frozen=True)
class MidiInputs:
    api: str
    ports: tuple[str, ...]
    error: str | None = None  # why this API could not be opened (e.g. no ALSA sequencer)


def audio_outputs() -> tuple[list[AudioOutput], str | None]:
    """Audio output devices, and an error message if PortAudio itself is unavailable."""
    try:
        import sounddevice as sd
    except OSError as error:  # the PortAudio library is missing
        return [], f"PortAudio is not available ({error}); install it (Debian: libportaudio2)"
    host_apis = sd.query_hostapis()
    try:
        default_output = sd.default.device[1]
    except Exception:  # noqa: BLE001 - no default device is a normal situation here
        default_output = -1
    outputs = []
    for device in sd.query_devices():
        if device["max_output_channels"] > 0:
            outputs.append(AudioOutput(
                index=device["index"],
                name=device["name"],
                host_api=host_apis[device["hostapi"]]["name"],
                channels=device["max_output_channels"],
                default_samplerate=device["default_samplerate"],
                is_default=device["index"] == default_output,
            ))
    return outputs, None


def midi_inputs() -> list[MidiInputs]:
    """MIDI input ports per compiled rtmidi API; an API that cannot open reports why."""
    import rtmidi

    result = []
    constant_names = {getattr(rtmidi, name): name for name in MIDI_API_NAMES if hasattr(rtmidi, name)}
    for api in rtmidi.get_compiled_api():
        label = MIDI_API_NAMES.get(constant_names.get(api, ""), rtmidi.get_api_name(api))
        try:
            midi_in = rtmidi.MidiIn(api, name="vae-synth-devices")
        except Exception as error:  # noqa: BLE001 - e.g. "error creating ALSA sequencer client"
            result.append(MidiInputs(label, (), str(error).strip() or type(error).__name__))
            continue
        try:
            result.append(MidiInputs(label, tuple(midi_in.get_ports())))
        finally:
            midi_in.delete()
    return result


def add_devices_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = (
        "Use the printed names with `vae-synth play --audio-api API --device DEV` and "
        "`--midi-api API --midi-in PORT` (PORT matches by substring)."
    )


def run_devices(args: argparse.Namespace) -> int:
    out = sys.stdout
    never_autostart_jack()
    with native_stderr_silenced():
        outputs, error = audio_outputs()
        apis = midi_inputs()
    print("Audio outputs:", file=out)
    if error:
        print(f"  none: {error}", file=out)
    elif not outputs:
        print("  none found (no sound card or audio server; `vae-synth render` works without one)",
              file=out)
    for device in outputs:
        mark = "*" if device.is_default else " "
        print(f" {mark}{device.index:3d}  {device.name}  [{device.host_api}, "
              f"{device.channels} ch, {device.default_samplerate:g} Hz]", file=out)
    print("MIDI inputs:", file=out)
    if not apis:
        print("  none: python-rtmidi was built without any MIDI API", file=out)
    for api in apis:
        if api.error:
            print(f"  {api.api}: unavailable ({api.error})", file=out)
        elif not api.ports:
            print(f"  {api.api}: no input ports", file=out)
        else:
            for port in api.ports:
                print(f"  {api.api}: {port}", file=out)
    return 0

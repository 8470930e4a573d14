"""``vae-synth play`` / ``render`` / ``presets`` / ``midi-map``: argument definitions and entry points.

Nothing heavy is imported at module level (``vae-synth --help`` stays instant); ``run_*``
import what they need.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from vae_synth.synth.keyboard import HELP as KEYBOARD_HELP

AUDIO_APIS = ("jack", "alsa", "pulse", "oss", "coreaudio", "wasapi", "asio", "directsound", "mme")
MIDI_APIS = ("alsa", "jack", "coreaudio", "winmm")


def _channel(value: str) -> int:
    try:
        channel = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"MIDI channel must be 1-16, got {value!r}") from None
    if not 1 <= channel <= 16:
        raise argparse.ArgumentTypeError(f"MIDI channel must be 1-16, got {channel}")
    return channel


def _positive(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def _tail_seconds(value: str) -> float:
    from vae_synth.synth.render import MAX_TAIL_S

    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected seconds (0 to {MAX_TAIL_S:g}), got {value!r}") from None
    if not 0 <= seconds <= MAX_TAIL_S:
        raise argparse.ArgumentTypeError(f"expected seconds (0 to {MAX_TAIL_S:g}), got {value}")
    return seconds


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="drums", metavar="NAME_OR_PATH",
                        help="bundled or user preset name, or a preset folder (default: drums)")
    parser.add_argument("--voices", type=_positive, default=16, help="polyphony (default 16)")
    parser.add_argument("--blocksize", type=_positive, default=128,
                        help="audio block in frames (default 128)")
    parser.add_argument("--interpolation", choices=("lerp", "slerp"), default="lerp",
                        help="morph path: linear or spherical (default lerp)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the variation knob")
    parser.add_argument("--mixer", choices=("auto", "native", "python"), default="auto",
                        help="the audio mixer: native (C, the audio callback never waits for "
                        "Python), python (the fallback), auto (default: native where it is "
                        "built); both give the same samples")


PLAY_EPILOG = f"""\
playing:
  pads      the preset's MIDI map assigns notes to classes (drums: GM notes 35/36 kick, 38/40 snare,
            42/44/46 hi-hat, 41-50 toms; digits: ten keys from middle C); every channel by default
  knobs     CC 1 morph toward the target class, CC 16/17 XY pad over four corner classes,
            CC 18 variation, CC 20.. timbre macros (PCA axes), CC 7 volume, CC 120/123 panic;
            Program Change switches presets; MIDI learn re-binds a control (saved per user)
  keyboard  {textwrap.fill(KEYBOARD_HELP.removeprefix("keys: "), 100, initial_indent=" " * 12,
                           subsequent_indent=" " * 12).lstrip()}

examples:
  vae-synth play --preset drums                      all hardware MIDI inputs, default audio device
  vae-synth play --preset digits --demo              built-in pattern and morph sweep, no controller
  vae-synth play --audio-api jack --midi-in virtual  on a JACK server; connect to vae-synth:midi_in
  vae-synth devices                                  the names --device and --midi-in accept
"""


def add_play_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = PLAY_EPILOG
    _common(parser)
    parser.add_argument("--audio-api", metavar="API",
                        help=f"PortAudio host API ({', '.join(AUDIO_APIS)}, ...); "
                        "default: the system default")
    parser.add_argument("--device", metavar="DEV",
                        help="audio output device: index or part of its name")
    parser.add_argument("--samplerate", type=_positive, metavar="SR",
                        help="sample rate (default: the device's)")
    parser.add_argument("--midi-api", choices=MIDI_APIS,
                        help="rtmidi API (default: the platform's; JACK with --audio-api jack)")
    parser.add_argument("--midi-in", metavar="PORT|virtual",
                        help="input ports whose name contains PORT, or 'virtual' for a virtual "
                        "port vae-synth:midi_in (default: every hardware port, else virtual)")
    parser.add_argument("--midi-channel", type=_channel, metavar="1-16",
                        help="listen on one channel only (default: all)")
    parser.add_argument("--demo", action="store_true",
                        help="play a built-in pattern with an automated morph sweep")
    parser.add_argument("--decode-device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="ONNX Runtime device (default auto: CUDA where it really runs)")
    parser.add_argument("--duration", type=float, metavar="SECONDS",
                        help="stop after this many seconds (default: run until interrupted)")
    parser.add_argument("--no-keyboard", action="store_true",
                        help="do not read the computer keyboard")


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    from vae_synth.synth.render import FORMATS

    _common(parser)
    parser.add_argument("--midi", required=True, metavar="FILE.mid", help="MIDI file to render")
    parser.add_argument("--out", required=True, metavar="OUT.wav",
                        help="sound file to write (.wav, or .flac); never one of the inputs")
    parser.add_argument("--format", choices=tuple(FORMATS), metavar="FORMAT",
                        help="; ".join(f"{k}: {v.label}" for k, v in FORMATS.items())
                        + " (default: flac for a .flac name, else float)")
    parser.add_argument("--samplerate", type=_positive, default=48000, metavar="SR",
                        help="output sample rate (default 48000)")
    parser.add_argument("--tail", type=_tail_seconds, metavar="SECONDS",
                        help="audio after the last event (default: one frame + 0.1 s)")


def add_presets_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("The number before each preset is its Program Change number: the same "
                     "number always selects the same preset, whichever preset a session "
                     "started with (the presets sorted by name; devices that count programs "
                     "from 1 show it one higher).")
    parser.add_argument("--paths", action="store_true", help="show each preset's folder")


def add_midi_map_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("MIDI learn (key 1-4 in `vae-synth play`, then move a controller) saves "
                     "its bindings per preset in ~/.config/vae-synth/midi_learn.json "
                     "($XDG_CONFIG_HOME); a learned controller replaces the preset's own for "
                     "that control.")
    parser.add_argument("--preset", metavar="NAME_OR_PATH",
                        help="the preset whose map to show or reset (default: drums; with "
                        "--reset and no --preset, every preset)")
    parser.add_argument("--reset", action="store_true",
                        help="forget the learned bindings (the presets' own maps apply again)")


def _load(name: str):
    from vae_synth.synth.preset import PresetError, load_preset

    try:
        return load_preset(name)
    except PresetError as exc:
        print(f"vae-synth: cannot load preset {name!r}: {exc}", file=sys.stderr)
        print("vae-synth: `vae-synth presets` lists the installed presets.", file=sys.stderr)
        return None


def run_play(args: argparse.Namespace) -> int:
    preset = _load(args.preset)
    if preset is None:
        return 2
    from vae_synth.synth.live import play

    return play(args, preset)


def run_render(args: argparse.Namespace) -> int:
    import time

    from vae_synth.synth.render import RenderError, check_output, midi_events, output_format

    try:  # the cheap checks first: a bad output name or MIDI file needs no preset loaded
        check_output(args.out, {"the MIDI file being rendered": args.midi})
        output_format(args.out, args.format)
        midi_events(args.midi, args.samplerate)
    except RenderError as exc:
        print(f"vae-synth render: {exc}", file=sys.stderr)
        return 2
    preset = _load(args.preset)
    if preset is None:
        return 2
    from vae_synth.synth.midi import program_list
    from vae_synth.synth.native import NativeUnavailable
    from vae_synth.synth.render import render_file

    t0 = time.perf_counter()
    try:
        result = render_file(preset, args.midi, args.out, samplerate=args.samplerate,
                             blocksize=args.blocksize, voices=args.voices, tail_s=args.tail,
                             interpolation=args.interpolation, seed=args.seed,
                             programs=program_list(preset), format=args.format,
                             mixing=args.mixer)
    except (ValueError, OSError, NativeUnavailable) as exc:
        print(f"vae-synth render: {exc}", file=sys.stderr)
        return 2
    took = time.perf_counter() - t0
    speed = result["seconds"] / took if took > 0 else float("inf")
    if result["unmapped"]:
        print(f"vae-synth render: {result['unmapped']}", file=sys.stderr)
    print(f"vae-synth render: {args.out}: {result['format']}, {args.samplerate} Hz stereo, "
          f"{result['seconds']:.2f} s, {result['notes']} notes, peak {result['peak']:.3f}, "
          f"{speed:.1f}x real time")
    return 0


def run_presets(args: argparse.Namespace) -> int:
    from vae_synth.synth.preset import PresetError, list_presets, load_preset

    infos = list_presets()
    if not infos:
        print("no presets installed (bundled presets/ is empty; user folder: "
              "~/.local/share/vae-synth/presets; or set VAE_SYNTH_PRESETS)")
        return 0
    from vae_synth.synth.midi import installed_programs

    numbers = {info.path: n for n, info in enumerate(installed_programs())}
    for info in sorted(infos, key=lambda i: (i.name, i.shadowed)):
        number = f"{numbers[info.path]:3d}" if info.path in numbers else "  -"
        try:
            p = load_preset(info.path, check_onnx=False)
            text = (f"{number}  {info.name:16s} {info.source:8s} {len(p.classes):3d} classes "
                    f"({', '.join(p.class_names[:6])}{', ...' if len(p.classes) > 6 else ''}), "
                    f"{p.sample_rate} Hz, {p.frame_length} samples"
                    f"{', sustained' if p.midi.sustain else ''}")
        except PresetError as exc:
            text = f"{number}  {info.name:16s} {info.source:8s} BROKEN: {exc}"
        if info.shadowed:
            text += "  (hidden by the preset of that name listed above it)"
        print(text + (f"  {info.path}" if args.paths else ""))
    print("(the number is the preset's Program Change number)")
    return 0


def run_midi_map(args: argparse.Namespace) -> int:
    from vae_synth.synth.midi import LearnStore, describe_midi_map

    if args.reset:
        if args.preset is None:
            removed, error = LearnStore("").reset(every_preset=True)
            what = "every preset"
        else:
            preset = _load(args.preset)
            if preset is None:
                return 2
            removed, error = LearnStore(preset.name).reset()
            what = f"preset {preset.name}"
        if error:
            print(f"vae-synth midi-map: {error}", file=sys.stderr)
            return 1
        print(f"vae-synth midi-map: removed {removed} learned binding"
              f"{'' if removed == 1 else 's'} of {what}; the presets' own maps apply")
        return 0
    preset = _load(args.preset or "drums")
    if preset is None:
        return 2
    store = LearnStore(preset.name)
    print("\n".join(describe_midi_map(preset, store)))
    if store.error:
        print(f"vae-synth midi-map: {store.error}", file=sys.stderr)
    return 0

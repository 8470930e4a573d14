"""Live play: audio device, MIDI inputs, keyboard, signals, the main loop and a clean exit.

Order matters on the way out (docs/ARCHITECTURE.md, pitfalls): MIDI ports close first, then
the audio stream, then the decode thread; the garbage collector, frozen while playing, is
re-enabled.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

NO_AUDIO_HINT = (
    "render to a file instead (vae-synth render --preset NAME --midi FILE.mid --out OUT.wav), "
    "or start a JACK server (e.g. `jackd -d dummy -r 48000 -p 128` or `jackd -d alsa`) and "
    "pass --audio-api jack"
)


STALL_S = 2.0  # an active stream without a callback this long: the audio server stopped answering


class AudioUnavailable(RuntimeError):
    """No usable audio output; the message says what was tried, ``hint`` what to do instead."""

    def __init__(self, message: str, hint: str = NO_AUDIO_HINT):
        super().__init__(message)
        self.hint = hint


def _no_jack_server() -> AudioUnavailable:
    """--audio-api jack, but PortAudio lists no JACK host API: it does so only while a JACK
    server runs (and never starts one: JACK_NO_START_SERVER)."""
    import shutil

    server = os.environ.get("JACK_DEFAULT_SERVER")
    named = f" named {server!r} (JACK_DEFAULT_SERVER)" if server else ""
    if shutil.which("jackd") is None and shutil.which("pw-jack") is None:
        return AudioUnavailable(
            "--audio-api jack: JACK is not installed (no jackd on the PATH)",
            "install it (Debian/Ubuntu: apt-get install jackd2) and start a server, or play on "
            "the default audio device (leave out --audio-api), or render to a file (vae-synth "
            "render --preset NAME --midi FILE.mid --out OUT.wav)")
    return AudioUnavailable(
        f"--audio-api jack: no JACK server{named} is running",
        "start one first, e.g. `jackd -d alsa -r 48000 -p 128` on your sound card, "
        "`jackd -d dummy -r 48000 -p 128` without one, or QjackCtl; with PipeWire run "
        "`pw-jack vae-synth ...`. Or leave out --audio-api to play on the default device, or "
        "render to a file (vae-synth render --preset NAME --midi FILE.mid --out OUT.wav)")


def _sounddevice():
    # Never let PortAudio's JACK host API start a server on its own (it could hang or spawn
    # jackd on a sound card we were not asked to use).
    os.environ.setdefault("JACK_NO_START_SERVER", "1")
    from vae_synth.synth.quiet import native_stderr_silenced

    with native_stderr_silenced():
        import sounddevice as sd
    return sd


def resolve_output(audio_api: str | None, device: str | None) -> tuple[int, dict, str]:
    """(device index, device info, host API name) for the requested output, or AudioUnavailable."""
    sd = _sounddevice()
    try:
        apis = sd.query_hostapis()
        devices = sd.query_devices()
    except Exception as exc:  # PortAudio failed to initialise
        raise AudioUnavailable(f"PortAudio cannot list audio devices ({exc})") from exc
    outputs = [i for i, d in enumerate(devices) if d["max_output_channels"] > 0]
    if audio_api:
        matches = [k for k, a in enumerate(apis) if audio_api.lower() in a["name"].lower()]
        if not matches:
            if audio_api.lower() == "jack":
                raise _no_jack_server()
            names = ", ".join(a["name"] for a in apis) or "none"
            raise AudioUnavailable(f"no PortAudio host API matches {audio_api!r} "
                                   f"(available: {names})",
                                   "choose one of those, or leave out --audio-api")
        api_index = matches[0]
        outputs = [i for i in outputs if devices[i]["hostapi"] == api_index]
        default = apis[api_index]["default_output_device"]
    else:
        try:
            default = sd.default.device[1]
            if default is None or default < 0:
                default = sd.query_hostapis(sd.default.hostapi)["default_output_device"]
        except Exception:  # noqa: BLE001 - no default is a normal situation here
            default = -1
    if not outputs:
        where = f" on host API {audio_api!r}" if audio_api else ""
        raise AudioUnavailable(f"no audio output device found{where}")
    if device is not None:
        if device.isdigit():
            index = int(device)
            if index not in outputs:
                raise AudioUnavailable(f"audio device {index} is not an output device here "
                                       f"(outputs: {outputs})")
        else:
            named = [i for i in outputs if device.lower() in devices[i]["name"].lower()]
            if not named:
                listing = "; ".join(f"{i}: {devices[i]['name']}" for i in outputs)
                raise AudioUnavailable(f"no output device matches {device!r} ({listing})")
            index = named[0]
    else:
        index = default if default in outputs else outputs[0]
    info = devices[index]
    return index, info, apis[info["hostapi"]]["name"]


def open_midi(engine, api: str | None, port: str | None, audio_api_name: str):
    """Open MIDI inputs; falls back to JACK MIDI when the platform's API is unusable (no ALSA
    sequencer in containers). Returns (inputs or None, message), inputs a ``MidiInputs`` or a
    ``JackMidiInputs``. A named ``port`` that no API has is None with a message listing the
    ports there are: the caller stops there."""
    from vae_synth.synth.jack_midi import JackMidiInputs
    from vae_synth.synth.midi import MidiInputs
    from vae_synth.synth.native import available
    from vae_synth.synth.quiet import native_stderr_silenced

    tries = [api] if api else (["jack"] if "JACK" in audio_api_name else [None, "jack"])
    errors = []
    for name in tries:
        # JACK MIDI is read by native code where the library is built (jack_midi.py says why)
        native, why_not = available() if name == "jack" else (False, None)
        inputs = JackMidiInputs(engine.router, port) if native else MidiInputs(engine.router, name,
                                                                               port)
        kind = (" native" if native else f" through rtmidi: {why_not}") if name == "jack" else ""
        try:
            with native_stderr_silenced():
                inputs.open()
            return inputs, (f"MIDI in ({name or 'default API'}{kind}): "
                            f"{', '.join(inputs.names())}")
        except Exception as exc:  # noqa: BLE001 - rtmidi raises its own types for missing back ends
            inputs.close()
            errors.append(f"{name or 'default API'}: {exc}")
    if port not in (None, "virtual"):
        return None, (f"--midi-in {port}: no MIDI input port of that name ("
                      + "; ".join(errors) + "). `vae-synth devices` lists the ports; "
                      "--midi-in virtual opens a port other programs connect to")
    return None, "no MIDI input (" + "; ".join(errors) + "); use the computer keyboard or --demo"


class _paused:
    """Context manager: the audio stream stopped for the duration (rtmidi reconnects); ``flag``
    is set meanwhile so that the stream's finished callback is not taken for a failure."""

    def __init__(self, stream, flag: threading.Event):
        self.stream = stream
        self.flag = flag

    def __enter__(self):
        self.flag.set()
        self.stream.stop()

    def __exit__(self, *exc):
        self.stream.start()
        time.sleep(0.05)
        self.flag.clear()


def play(args, preset) -> int:
    """``vae-synth play`` with ``preset`` (loaded by the caller) and the parsed ``args``.

    Every blocking audio and MIDI call runs under a watchdog (synth/watchdog.py): a call stuck
    for 5 s, or still running 1.5 s after SIGINT/SIGTERM, ends the process with a message that
    names it. When the audio back end dies under the stream (a JACK server killed), the player
    prints its summary and leaves with ``os._exit``: PortAudio cannot be shut down then (every
    call, and interpreter exit, would wait forever for the dead server)."""
    from vae_synth.synth.watchdog import CallWatchdog

    watchdog = CallWatchdog()
    # Until the player plays, SIGINT/SIGTERM end it where the main thread is (a KeyboardInterrupt,
    # main returns 130); during a stuck open the watchdog, told through the wakeup fd, ends it
    # after its grace. From the first sound on, _play's handlers stop the loop and summarise.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    watchdog.catch_signals()
    try:
        return _play(args, preset, watchdog)
    finally:
        watchdog.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _play(args, preset, watchdog) -> int:
    try:
        with watchdog.watch("initialising PortAudio (listing the audio devices)"):
            index, info, api_name = resolve_output(args.audio_api, args.device)
    except AudioUnavailable as exc:
        print(f"vae-synth: {exc}.\nvae-synth: {exc.hint}.", file=sys.stderr)
        return 1
    samplerate = int(args.samplerate or info["default_samplerate"])
    channels = min(2, int(info["max_output_channels"]))

    from vae_synth.synth.engine import Engine, close_stream, freeze_collector, thaw_collector
    from vae_synth.synth.keyboard import (
        Demo,
        TerminalKeyboard,
        legend,
        status_line,
        wrap_message,
    )
    from vae_synth.synth.midi import program_list
    from vae_synth.synth.native import NativeUnavailable

    try:
        engine = Engine(preset, samplerate, args.blocksize, args.voices, args.midi_channel,
                        device=args.decode_device, interpolation=args.interpolation,
                        seed=args.seed, programs=program_list(preset), mixing=args.mixer)
    except NativeUnavailable as exc:
        print(f"vae-synth: --mixer native: {exc}; --mixer python (or auto) mixes in Python",
              file=sys.stderr)
        return 2
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"vae-synth: cannot start preset {preset.name}: {exc}", file=sys.stderr)
        return 2
    sd = _sounddevice()
    stop = threading.Event()
    pausing = threading.Event()
    gone = threading.Event()   # the back end died under the stream: never call PortAudio again
    failed: list[str] = []

    def finished() -> None:  # the stream ended without us asking: device gone / server died
        if not stop.is_set() and not pausing.is_set():
            failed.append("the audio stream stopped (device disconnected or server gone)")
            gone.set()
            stop.set()

    try:
        with watchdog.watch("opening the audio output"):
            stream = engine.open_stream(sd, index, channels, finished_callback=finished)
    except Exception as exc:  # PortAudioError and friends
        print(f"vae-synth: cannot open audio output {info['name']!r} ({api_name}): {exc}.\n"
              f"vae-synth: {NO_AUDIO_HINT}.", file=sys.stderr)
        return 1
    with watchdog.watch("opening the MIDI inputs"):
        inputs, midi_message = open_midi(engine, args.midi_api, args.midi_in, api_name)
    if inputs is None and args.midi_in not in (None, "virtual"):
        print(f"vae-synth: {midi_message}.", file=sys.stderr)
        close_stream(stream, watchdog.watch)  # not started, but its JACK ports exist
        return 2
    tty = sys.stderr.isatty()

    def say(text: str) -> None:  # on a terminal, wrapped to its width (it never wraps itself)
        print(("\r\x1b[K" + wrap_message(text)) if tty else f"vae-synth: {text}", file=sys.stderr)

    say(f"{preset.name} ({len(preset.classes)} classes) on {info['name']} ({api_name}), "
        f"{samplerate} Hz, {args.blocksize}-frame blocks, decode on {engine.instrument.device}")
    say(engine.mixing_description)
    say(midi_message)

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: stop.set())
    keyboard = None
    demo = None
    engine.start()
    freeze_collector()  # no collector pauses inside the audio callback while playing
    t0 = time.monotonic()

    def give_up() -> None:  # the watchdog ends the process: leave the terminal and a summary
        if keyboard is not None:
            keyboard.restore()
        print(engine.summary(time.monotonic() - t0), flush=True)

    watchdog.on_give_up = give_up
    try:
        with watchdog.watch("starting the audio stream"):
            stream.start()
        if not args.no_keyboard and TerminalKeyboard.available():
            keyboard = TerminalKeyboard(engine, stop.set)
            keyboard.start()
            print("\n".join(legend(engine)), file=sys.stderr)
        if args.demo:
            demo = Demo(engine)
            demo.start()
        last_poll = last_status = 0.0
        last_blocks, last_progress = engine.blocks, time.monotonic()
        while not stop.wait(0.05):
            now = time.monotonic()
            if args.duration is not None and now - t0 >= args.duration:
                break
            while engine.messages:
                say(engine.messages.pop(0))
            if engine.callback_error and not failed:
                failed.append(f"audio callback error: {engine.callback_error}")
            learn_store = engine.learn_store
            if learn_store is not None and learn_store.error:
                print(("\r\x1b[K" if tty else "") + f"vae-synth: {learn_store.error}",
                      file=sys.stderr)
                learn_store.error = None
            decoder = engine.decoder
            if decoder is not None and decoder.error:
                print(f"vae-synth: {decoder.error}", file=sys.stderr)
                decoder.error = None
            if inputs is not None and now - last_poll > 1.0:
                with watchdog.watch("checking the MIDI ports"):
                    inputs.poll(pause=_paused(stream, pausing))
                last_progress = time.monotonic()  # a re-open paused the stream meanwhile
                while inputs.messages:
                    print(f"vae-synth: {inputs.messages.pop(0)}", file=sys.stderr)
                last_poll = now
            if tty and now - last_status > 0.2:
                print("\r\x1b[K" + status_line(engine, now - t0), end="", file=sys.stderr,
                      flush=True)
                last_status = now
            if pausing.is_set() or engine.blocks != last_blocks:
                last_blocks, last_progress = engine.blocks, now
            if not stream.active and not stop.is_set() and not pausing.is_set():
                failed.append("the audio stream stopped (device disconnected or server gone)")
                gone.set()
                break
            if now - last_progress > STALL_S:
                failed.append(f"no audio callback for {STALL_S:.0f} s (the audio server stopped "
                              f"answering)")
                gone.set()
                break
    finally:
        stop.set()
        if demo is not None:
            demo.stopping = True
        if keyboard is not None:
            keyboard.stopping = True
            keyboard.join(timeout=1)
            keyboard.restore()
        if not gone.is_set():
            try:
                close_stream(stream, watchdog.watch)
            except Exception:  # noqa: BLE001 - a dead device cannot be stopped twice
                pass
            # MIDI after the stream: closing an rtmidi JACK port holds the GIL while JACK waits
            # for the cycle in progress, whose PortAudio callback needs the GIL (a deadlock
            # otherwise)
            if inputs is not None:
                with watchdog.watch("closing the MIDI inputs"):
                    inputs.close()
        engine.stop()
        thaw_collector()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    elapsed = time.monotonic() - t0
    if tty:
        print("\r\x1b[K", end="", file=sys.stderr)
    for text in failed:
        print(f"vae-synth: {text}", file=sys.stderr)
    summary = engine.summary(elapsed)
    print(wrap_message(summary.removeprefix("vae-synth: ")) if sys.stdout.isatty() else summary)
    if gone.is_set():
        # PortAudio and rtmidi cannot be closed on a dead server, nor can the interpreter exit
        # normally (sounddevice's atexit handler would call Pa_Terminate and wait forever)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)
    return 1 if failed and "callback" not in failed[0] else 0

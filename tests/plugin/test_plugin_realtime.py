"""Any host rate and block size, variable blocks, sample-accurate onsets, and nothing on the audio
thread that may wait: an LD_PRELOAD counter records every allocation, free, lock, semaphore wait,
sleep, open, read and write made from inside process()/run() while knobs move; there must be
none. The counter itself is tested to see each kind."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from plugin_rig import CEILING, RTCHECK, host_env, require_build, run_host

NOTES = [("midi", 1000, [0x99, 36, 120]), ("midi", 5555, [0x99, 38, 100]),
         ("midi", 9001, [0x99, 42, 90]), ("midi", 12345, [0x99, 46, 110]),
         ("midi", 15007, [0x99, 44, 80]), ("midi", 20011, [0x99, 41, 127])]
FRAMES = 40000


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    require_build()
    return host_env(tmp_path_factory.mktemp("home"))


def _onset(audio, reference):
    """The first frame where two renders part."""
    apart = np.nonzero(np.abs(audio - reference).max(axis=1) > 0)[0]
    return int(apart[0]) if apart.size else None


@pytest.mark.parametrize("rate", [44100, 48000, 96000])
def test_every_block_size_renders_the_same_with_notes_on_their_samples(rate, env, tmp_path):
    reference, _ = run_host("clap", NOTES, FRAMES, tmp_path, env, rate, (128,))
    assert np.abs(reference).max() > 0.05
    # the first note starts on its sample from silence; each later one where a render without it
    # parts from the full one
    assert int(np.nonzero(np.abs(reference).max(axis=1) > 0)[0][0]) == NOTES[0][1]
    without_last, _ = run_host("clap", NOTES[:-1], FRAMES, tmp_path, env, rate, (128,))
    assert _onset(reference, without_last) == NOTES[-1][1]
    for block in (32, 64, 256, 512, 1024, 2048):
        audio, _ = run_host("clap", NOTES, FRAMES, tmp_path, env, rate, (block,))
        assert np.isfinite(audio).all() and np.abs(audio).max() <= CEILING + 1e-6
        # the same sound: the output stage's chunking and the limiter's block peaks differ
        # with the block, by float rounding only while nothing reaches the ceiling
        assert np.abs(audio - reference).max() < 1e-5, block
        short, _ = run_host("clap", NOTES[:-1], FRAMES, tmp_path, env, rate, (block,))
        assert _onset(audio, short) == NOTES[-1][1], block


@pytest.mark.parametrize("kind", ["clap", "lv2"])
def test_variable_blocks_from_1_to_4096_frames(kind, env, tmp_path):
    blocks = (1, 4096, 7, 300, 2048, 13, 1024, 129, 3, 511)
    reference, _ = run_host(kind, NOTES, FRAMES, tmp_path, env, 48000, (128,))
    audio, _ = run_host(kind, NOTES, FRAMES, tmp_path, env, 48000, blocks)
    assert np.isfinite(audio).all() and np.abs(audio).max() <= CEILING + 1e-6
    assert np.abs(audio - reference).max() < 1e-5


def test_192_khz(env, tmp_path):
    audio, _ = run_host("clap", NOTES, 4 * FRAMES, tmp_path, env, 192000, (512,))
    assert np.isfinite(audio).all() and 0.05 < np.abs(audio).max() <= CEILING + 1e-6
    assert int(np.nonzero(np.abs(audio).max(axis=1) > 0)[0][0]) == NOTES[0][1]


def _knob_storm(frames, step=256):
    """Notes, and every knob and controller moving every `step` frames."""
    events = list(NOTES)
    names = ["morph", "x", "y", "variation", "pca1", "pca2", "volume", "decay", "pitch"]
    for i, frame in enumerate(range(0, frames, step)):
        name = names[i % len(names)]
        value = 0.5 + 0.45 * np.sin(i / 7.0)
        events.append(("param", frame, name, round(float(value), 4)))
        events.append(("midi", frame + 17, [0xB0, 1, (i * 5) % 128]))     # CC 1: morph
        if i % 5 == 0:
            events.append(("midi", frame + 33, [0x99, [36, 38, 42, 46][i % 4], 100]))
    return sorted(events, key=lambda e: e[1])


@pytest.mark.parametrize("kind", ["clap", "lv2"])
def test_nothing_waits_allocates_or_writes_on_the_audio_thread(kind, env, tmp_path):
    frames = 3 * 48000
    audio, log = run_host(kind, _knob_storm(frames), frames, tmp_path, env, 48000, (128,),
                          offline=False, rtcheck=True, realtime=True, warmup=2.0)
    counts = json.loads(re.search(r"rtcheck (\{.*\})", log).group(1))
    assert counts.pop("blocks") == frames // 128
    assert counts == dict.fromkeys(counts, 0), counts
    assert np.isfinite(audio).all() and np.abs(audio).max() > 0.05   # it played meanwhile


def test_the_checker_counts(env, tmp_path):
    """The same counter sees the offline mode's waits: the test above can fail."""
    audio, log = run_host("clap", _knob_storm(48000), 48000, tmp_path, env, 48000, (128,),
                          offline=True, rtcheck=True)
    counts = json.loads(re.search(r"rtcheck (\{.*\})", log).group(1))
    assert counts["sem_wait"] > 0


# Each kind of call the counter must see, made through the C library by ctypes between begin()
# and end(): Python's own open() goes through open64/openat, time.sleep through clock_nanosleep.
_EVERY_KIND = textwrap.dedent("""
    import ctypes, os, sys, tempfile, time
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.fopen.restype = libc.fopen64.restype = libc.fdopen.restype = ctypes.c_void_p
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.vs_rtcheck_report.argtypes = [ctypes.c_void_p]
    path = tempfile.mktemp()
    mutex, sem = ctypes.create_string_buffer(64), ctypes.create_string_buffer(64)
    libc.sem_init(sem, 0, 1)
    libc.vs_rtcheck_begin()
    libc.free(libc.malloc(64))
    libc.pthread_mutex_lock(mutex); libc.pthread_mutex_unlock(mutex)
    libc.sem_wait(sem)
    time.sleep(0.001)
    with open(path, "wb") as f:
        f.write(b"x")
    with open(path, "rb") as f:
        f.read()
    libc.fclose(libc.fopen(path.encode(), b"r"))
    libc.vs_rtcheck_end()
    libc.vs_rtcheck_report(libc.fdopen(1, b"w"))
    os.unlink(path)
""")


def test_the_checker_sees_every_kind_of_call_it_counts(tmp_path):
    """The counter itself: allocation, free, a lock, a semaphore wait, a sleep, a file opened,
    written and read, each made between begin() and end(), each counted (so the zero above
    means none was made, not that the hook missed it)."""
    require_build()
    done = subprocess.run([sys.executable, "-c", _EVERY_KIND], capture_output=True, text=True,
                          timeout=60, env={"LD_PRELOAD": str(RTCHECK), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    counts = json.loads(re.search(r"rtcheck (\{.*\})", done.stdout).group(1))
    assert counts.pop("blocks") == 1
    missed = {kind: n for kind, n in counts.items() if kind != "cond_wait" and n == 0}
    assert not missed, counts

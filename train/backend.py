"""Start Keras (TensorFlow, or JAX with KERAS_BACKEND=jax) without its native start-up chatter.

TensorFlow's C++ side writes straight to file descriptor 2 while it loads, before its logging
can be configured (``TF_CPP_MIN_LOG_LEVEL`` is not honoured that early): a banner about absl,
oneDNN and CPU-instruction notes, "Could not find cuda drivers", and on a machine with no GPU
``failed call to cuInit: ... UNKNOWN ERROR (303)``, an error line about nothing that went wrong.
``import_backend_quietly`` imports Keras and probes its devices with fd 2 captured, then passes on
every line that is not that noise (a real warning or error still shows). Later messages are
left alone; ``TF_CPP_MIN_LOG_LEVEL`` (default 1 here) keeps TensorFlow's INFO lines out.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import sys
import tempfile

_ALWAYS_NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    re.compile(r"^I\d{4} [\d:.]+\s+\d+ \S+:\d+\] "),    # absl INFO lines
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow"),
)
# An error only where there is no GPU to find: TensorFlow's CUDA probe failing on a CPU machine.
_CPU_MACHINE_NOISE = (
    re.compile(r"^E\d{4} [\d:.]+\s+\d+ \S+:\d+\] failed call to cuInit"),
    re.compile(r"^W\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*(Cannot dlopen some GPU libraries|"
               r"Skipping registering GPU devices)"),
)


def has_gpu_device() -> bool:
    """Whether this machine shows an NVIDIA device node (Linux) or WSL's GPU (/dev/dxg)."""
    if not sys.platform.startswith("linux"):
        return True  # no cheap check: keep every line
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/dxg")


def is_noise(line: str, gpu: bool) -> bool:
    """Whether ``line`` of the native start-up output says nothing a user needs."""
    patterns = _ALWAYS_NOISE if gpu else _ALWAYS_NOISE + _CPU_MACHINE_NOISE
    return any(p.search(line) for p in patterns)


@contextlib.contextmanager
def filtered_native_stderr(gpu: bool | None = None):
    """Capture fd 2 for the duration; afterwards write what is not noise to ``sys.stderr``."""
    gpu = has_gpu_device() if gpu is None else gpu
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. captured by a test runner)
        yield
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines() if line and not is_noise(line, gpu)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def import_backend_quietly() -> None:
    """Import Keras and its backend and list the devices (where TensorFlow probes CUDA), with
    the start-up noise filtered. Call before anything else imports TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    with filtered_native_stderr():
        import keras

        if keras.config.backend() == "tensorflow":
            import tensorflow as tf

            # physical, not logical: listing logical devices initialises the runtime, after
            # which --cpu-replicas and MultiWorkerMirroredStrategy can no longer configure it
            tf.config.list_physical_devices()

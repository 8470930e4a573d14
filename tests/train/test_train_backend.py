"""Keras/TensorFlow start quietly on a CPU machine: their native start-up noise (absl banner,
INFO lines, the CUDA probe's cuInit error where no GPU exists) is filtered; real warnings and
errors still show."""

from __future__ import annotations

import subprocess
import sys

from vae_synth.train.backend import has_gpu_device, is_noise

START_UP = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796226987.229695   15494 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1796226987.230176   15494 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796226987.627201   15494 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796226993.644514   15494 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
"""


def test_the_start_up_noise_is_recognised_and_real_messages_are_not():
    lines = START_UP.splitlines()
    assert all(is_noise(line, gpu=False) for line in lines)
    # with a GPU in the machine, a failing cuInit is news
    assert not is_noise(lines[-1], gpu=True) and all(is_noise(x, gpu=True) for x in lines[:-1])
    for real in ("E0000 00:00:1.5   1 op_kernel.cc:1] OOM when allocating tensor",
                 "W0000 00:00:1.5   1 loader.cc:9] could not read checkpoint",
                 "Traceback (most recent call last):", "UserWarning: something"):
        assert not is_noise(real, gpu=False)


def test_importing_the_backend_prints_only_what_matters():
    script = ("from vae_synth.train.backend import import_backend_quietly\n"
              "import_backend_quietly()\n"
              "import sys; print('after start-up', file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "absl::InitializeLog" not in done.stderr and "cudart_stub" not in done.stderr
    assert "cpu_feature_guard" not in done.stderr and "To enable the following" not in done.stderr
    if not has_gpu_device():
        assert "cuInit" not in done.stderr
    assert done.stderr.strip().endswith("after start-up")

"""ONNX Runtime sessions for real-time decoding (standard library, numpy and onnxruntime only).

The rules come from measurements on the target machines (docs/ARCHITECTURE.md, pitfalls):
- CPU: one intra-op thread and no spinning. Two threads on two cores gave p99 spikes of 8-27 ms,
  and a spinning thread steals the core the audio callback needs.
- CUDA: only where it really runs. ``onnxruntime.get_available_providers()`` lists CUDA for every
  onnxruntime-gpu install, GPU or not, so the session's own ``get_providers()`` decides. cuDNN's
  exhaustive convolution search makes the first CUDA run very slow: use the heuristic search.
- Sessions slow down after the process idles for seconds: warm them (:func:`warm_up`) at start
  and keep them busy.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
CUDA_PROVIDER = "CUDAExecutionProvider"
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_OPTIONS = {"cudnn_conv_algo_search": "HEURISTIC", "do_copy_in_default_stream": "1"}

# Why CUDA was not used, once known; None until a CUDA session was tried (or ruled out).
_cuda_unusable_reason: str | None = None


def _nvidia_gpu_count() -> int:
    """Number of CUDA devices the driver sees (0 when there is no driver), without onnxruntime.

    Asking the driver through ctypes is quiet and cheap; trying a CUDA session on a machine without
    the CUDA libraries makes onnxruntime print an error to stderr.
    """
    for name in ("libcuda.so.1", ctypes.util.find_library("cuda"), "nvcuda.dll"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        try:
            if lib.cuInit(0) != 0:
                return 0
            count = ctypes.c_int(0)
            if lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
                return 0
            return int(count.value)
        except AttributeError:
            return 0
    return 0


def cuda_unusable_reason() -> str | None:
    """Why the CUDA execution provider is not used, or None if it may be (not yet tried)."""
    global _cuda_unusable_reason
    if _cuda_unusable_reason is None:
        if CUDA_PROVIDER not in ort.get_available_providers():
            _cuda_unusable_reason = f"this onnxruntime ({ort.__version__}) has no CUDA provider"
        elif _nvidia_gpu_count() == 0:
            _cuda_unusable_reason = "no NVIDIA GPU visible to the CUDA driver"
    return _cuda_unusable_reason


def session_options(threads: int = 1) -> ort.SessionOptions:
    """Options for a real-time session: ``threads`` intra-op threads, no spinning, full graph
    optimisation, one inter-op thread (the graphs are sequential)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.log_severity_level = 3
    return so


def _try_cuda(path: str, threads: int) -> tuple[ort.InferenceSession | None, str | None]:
    """A session that really runs on CUDA, or (None, why not). Keeps onnxruntime's own
    provider-loading errors off stderr: a missing CUDA library is an expected situation here."""
    so = session_options(threads)
    # The provider library is loaded through the default logger, not the session's: silence it
    # for this one attempt (ORT's default severity is 2, warning).
    ort.set_default_logger_severity(4)
    try:
        session = ort.InferenceSession(
            path, so, providers=[(CUDA_PROVIDER, CUDA_OPTIONS), CPU_PROVIDER])
    except Exception as e:  # a model the CUDA provider cannot place, a broken CUDA install
        return None, f"CUDA session failed: {str(e).strip()[:200]}"
    finally:
        ort.set_default_logger_severity(2)
    if CUDA_PROVIDER not in session.get_providers():
        return None, "onnxruntime could not start its CUDA provider (CUDA 13 / cuDNN 9 libraries " \
                     "missing?)"
    return session, None


def make_session(path: str | os.PathLike[str], device: str = "auto", *, threads: int = 1
                 ) -> ort.InferenceSession:
    """An ``onnxruntime.InferenceSession`` for real-time use.

    device: ``"cpu"`` (``threads`` intra-op threads, default 1, spinning off); ``"cuda"`` (the CUDA
    provider with heuristic cuDNN search; RuntimeError if it does not really run); ``"auto"``
    (CUDA when a session really runs on it, otherwise the CPU, quietly). What ran:
    ``session.get_providers()[0]`` or :func:`session_device`.
    """
    global _cuda_unusable_reason
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    path = str(Path(path))
    if device in ("auto", "cuda"):
        reason = cuda_unusable_reason()
        if reason is None:
            session, reason = _try_cuda(path, threads)
            if session is not None:
                return session
            _cuda_unusable_reason = reason
        if device == "cuda":
            raise RuntimeError(f"cannot decode on CUDA: {reason}")
        log.debug("ONNX Runtime on the CPU: %s", reason)
    return ort.InferenceSession(path, session_options(threads), providers=[CPU_PROVIDER])


def session_device(session: ort.InferenceSession) -> str:
    """``"cuda"`` or ``"cpu"``: where the session's nodes actually run."""
    return "cuda" if session.get_providers()[0] == CUDA_PROVIDER else "cpu"


def _input_feed(session: ort.InferenceSession, batch: int, rng: np.random.Generator
                ) -> dict[str, np.ndarray]:
    feed = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) and d > 0 else batch for d in arg.shape]
        # Small random values rather than zeros: some kernels take faster paths on zeros.
        feed[arg.name] = (0.1 * rng.standard_normal(shape)).astype(np.float32)
    return feed


def warm_up(session: ort.InferenceSession, runs: int = 5, batch: int = 1) -> float:
    """Run the session ``runs`` times on small random inputs (dynamic dimensions = ``batch``) so
    that first-call costs (allocation, kernel selection, cuDNN search) are paid now.

    Returns the seconds the last run took.
    """
    rng = np.random.default_rng(0)
    feed = _input_feed(session, batch, rng)
    last = 0.0
    for _ in range(max(1, runs)):
        t0 = time.perf_counter()
        session.run(None, feed)
        last = time.perf_counter() - t0
    return last

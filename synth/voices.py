"""A fixed pool of voices mixed into a stereo block: one-shots, sustained loops, stealing, chokes.

All voice state lives in preallocated numpy arrays and lists of buffer references; starting a
voice assigns a reference to a buffer of the current bank (no copy), mixing works in scratch
buffers with ``out=`` arguments. Voices that are stolen or choked are moved to extra *fade*
slots and faded out over a few milliseconds instead of being cut (a cut clicks).

Buffers: one-shots are ``[frames]`` float32 at the device rate. Sustained voices read a loop
buffer (see ``bank.loop_buffer``): the attack plays once from 0, the region
``[loop_start, loop_end)`` repeats, and ``pad`` samples after ``loop_end`` repeat the start of
the region so that a block reads across the loop point without wrapping.
"""

from __future__ import annotations

import math

import numpy as np

FADE_MS = 3.0       # steal / choke / release fade
XFADE_MS = 20.0     # sustained voice: crossfade to a re-decoded loop


class Graveyard:
    """References the audio thread lets go of, released later on another thread.

    Dropping the last reference to a decoded frame frees it, and a 16384-sample drum frame at
    48 kHz (140 kB) is returned to the system with munmap: a system call the audio callback must
    not make. With one class re-decoded per knob move, voices keep outliving the banks their
    buffers came from. So the audio thread ``bury``s whatever it lets go of (one store into a
    preallocated ring) and the decode thread ``reap``s (single producer, single consumer). If
    the reaper falls a whole ring behind, the oldest reference is dropped in place, as before.
    """

    def __init__(self, size: int = 1024):
        self.slots: list = [None] * size
        self.write = 0   # advanced by the audio thread only
        self.read = 0    # advanced by the reaper only

    def bury(self, obj) -> None:
        if obj is not None:
            self.slots[self.write % len(self.slots)] = obj
            self.write += 1

    def reap(self) -> int:
        """Release everything buried so far (not on the audio thread); returns how many."""
        end, start = self.write, self.read
        for i in range(start, end):
            self.slots[i % len(self.slots)] = None
        self.read = end
        return end - start


class VoicePool:
    """``voices`` voices (plus ``fade_slots`` for fading out stolen/choked ones).

    ``mix(out_l, out_r, start, n, rate_scale)`` adds ``n`` frames of every active voice into
    out_l/out_r [>= start + n] float64 at offset ``start``. Buffers the voices let go of go to
    ``graveyard`` (reaped by the decode thread), never freed here.
    """

    def __init__(self, voices: int, samplerate: int, max_frames: int, fade_slots: int = 8):
        if voices < 1:
            raise ValueError(f"need at least one voice, got {voices}")
        self.n = voices
        total = voices + fade_slots
        self.total = total
        self.samplerate = samplerate
        self.max_frames = max_frames
        self.fade_len = max(1, int(FADE_MS * 1e-3 * samplerate))
        self.xfade_len = max(1, int(XFADE_MS * 1e-3 * samplerate))
        self.active = np.zeros(total, dtype=bool)
        self.cls = np.full(total, -1, dtype=np.int64)
        self.note = np.full(total, -1, dtype=np.int64)
        self.group = np.full(total, -1, dtype=np.int64)    # choke group, -1 none
        self.pos = np.zeros(total, dtype=np.float64)
        self.rate = np.ones(total, dtype=np.float64)        # pad pitch (resampling ratio)
        self.gain_l = np.zeros(total, dtype=np.float64)
        self.gain_r = np.zeros(total, dtype=np.float64)
        self.env = np.ones(total, dtype=np.float64)        # current fade gain
        self.env_step = np.zeros(total, dtype=np.float64)  # > 0 while fading out
        self.stop_at = np.zeros(total, dtype=np.float64)   # start fading at this position
        self.sustained = np.zeros(total, dtype=bool)
        self.held = np.zeros(total, dtype=bool)
        self.loop_start = np.zeros(total, dtype=np.int64)
        self.loop_end = np.zeros(total, dtype=np.int64)
        self.start_order = np.zeros(total, dtype=np.int64)
        self.bufs: list = [None] * total
        self.prev_bufs: list = [None] * total     # sustained: loop being crossfaded away
        self.xfade_left = np.zeros(total, dtype=np.int64)
        self._counter = 0
        self.graveyard = Graveyard()
        # scratch
        self._ramp = np.arange(max_frames, dtype=np.float64)
        self._p = np.zeros(max_frames)
        self._fl = np.zeros(max_frames)
        self._i = np.zeros(max_frames, dtype=np.intp)
        self._a = np.zeros(max_frames)
        self._b = np.zeros(max_frames)
        self._s = np.zeros(max_frames)
        self._a32 = np.zeros(max_frames, dtype=np.float32)
        self._b32 = np.zeros(max_frames, dtype=np.float32)
        self._e = np.zeros(max_frames)
        # statistics
        self.started = 0
        self.stolen = 0
        self.choked = 0
        self.silenced_nonfinite = 0

    # -- control (called from the audio thread between blocks) -----------------------------
    def _set_buf(self, v: int, buf) -> None:
        self.graveyard.bury(self.bufs[v])
        self.bufs[v] = buf

    def _set_prev(self, v: int, buf) -> None:
        self.graveyard.bury(self.prev_bufs[v])
        self.prev_bufs[v] = buf

    def active_count(self) -> int:
        return int(self.active[: self.n].sum())

    def _fade_out(self, v: int, length: int) -> None:
        """Move voice v to a fade slot (or fade it in place when none is free)."""
        free = -1
        for f in range(self.n, self.total):
            if not self.active[f]:
                free = f
                break
        if free < 0:  # every fade slot busy: cut the oldest fading voice
            free = self.n + int(np.argmin(self.start_order[self.n:]))
        for arr in (self.cls, self.note, self.group, self.pos, self.rate, self.gain_l,
                    self.gain_r, self.env, self.stop_at, self.sustained, self.loop_start, self.loop_end,
                    self.start_order, self.xfade_left):
            arr[free] = arr[v]
        self._set_buf(free, self.bufs[v])
        self._set_prev(free, self.prev_bufs[v])
        self.held[free] = False
        self.env_step[free] = max(self.env[v], 1e-9) / max(1, length)
        self.active[free] = True
        self.active[v] = False
        self.bufs[v] = None        # moved to the fade slot, not dropped
        self.prev_bufs[v] = None

    def note_on(self, note: int, cls: int, buf: np.ndarray, gain: float, pan: float,
                rate: float = 1.0, group: int = -1, sustained: bool = False,
                loop: tuple[int, int] = (0, 0), stop_at: float = math.inf) -> int:
        """Start a voice; returns its index. ``buf`` is a one-shot [frames] or, when
        ``sustained``, a loop buffer whose region ``loop`` = (start, end) repeats.
        gain: linear; pan in [-1, 1] (constant power); rate: playback speed (pitch)."""
        if group >= 0:  # choke: a retriggered hi-hat silences the previous one
            for v in range(self.n):
                if self.active[v] and self.group[v] == group:
                    self._fade_out(v, self.fade_len)
                    self.choked += 1
        voice = -1
        for v in range(self.n):
            if not self.active[v]:
                voice = v
                break
        if voice < 0:  # steal the oldest voice
            voice = int(np.argmin(self.start_order[: self.n]))
            self._fade_out(voice, self.fade_len)
            self.stolen += 1
        angle = (min(1.0, max(-1.0, pan)) + 1.0) * math.pi / 4.0
        self._counter += 1
        self.cls[voice] = cls
        self.note[voice] = note
        self.group[voice] = group
        self.pos[voice] = 0.0
        self.rate[voice] = rate
        self.gain_l[voice] = gain * math.cos(angle)
        self.gain_r[voice] = gain * math.sin(angle)
        self.env[voice] = 1.0
        self.env_step[voice] = 0.0
        self.stop_at[voice] = stop_at
        self.sustained[voice] = sustained
        self.held[voice] = sustained
        self.loop_start[voice], self.loop_end[voice] = loop
        self.start_order[voice] = self._counter
        self._set_buf(voice, buf)
        self._set_prev(voice, None)
        self.xfade_left[voice] = 0
        self.active[voice] = True
        self.started += 1
        return voice

    def note_off(self, note: int) -> None:
        """Sustained voices of ``note`` fade out; one-shots ring out."""
        for v in range(self.n):
            if self.active[v] and self.held[v] and self.note[v] == note:
                self._fade_out(v, 4 * self.fade_len)

    def all_off(self) -> None:
        """Panic (CC 120 / 123): fade every voice out within FADE_MS."""
        for v in range(self.n):
            if self.active[v]:
                self._fade_out(v, self.fade_len)

    def swap_loops(self, loops: list) -> None:
        """Re-decoded loop buffers (one per class, same loop points): sustained voices
        crossfade to theirs."""
        for v in range(self.n):
            if self.active[v] and self.sustained[v]:
                loop = loops[self.cls[v]]
                if self.bufs[v] is not loop:
                    self._set_prev(v, self.bufs[v])
                    self.bufs[v] = loop        # the old loop moved to prev_bufs
                    self.xfade_left[v] = self.xfade_len

    # -- mixing ----------------------------------------------------------------------------
    def _read(self, buf: np.ndarray, pos: float, rate: float, n: int, out: np.ndarray) -> None:
        """out[:n] = buf at positions pos + rate * k (linear interpolation)."""
        if rate == 1.0 and pos == int(pos):
            p = int(pos)
            out[:n] = buf[p:p + n]
            return
        p = self._p[:n]
        np.multiply(self._ramp[:n], rate, out=p)
        p += pos
        fl = self._fl[:n]
        np.floor(p, out=fl)
        i = self._i[:n]
        i[:] = fl
        a, b = self._a32[:n], self._b32[:n]
        np.take(buf, i, out=a, mode="clip")
        i += 1
        np.take(buf, i, out=b, mode="clip")
        np.subtract(p, fl, out=p)      # fraction
        np.subtract(b, a, out=b)
        np.multiply(b, p, out=p)
        np.add(p, a, out=out[:n])

    def mix(self, out_l: np.ndarray, out_r: np.ndarray, start: int, n: int,
            rate_scale: float = 1.0) -> None:
        s = self._s
        for v in range(self.total):
            if not self.active[v]:
                continue
            buf = self.bufs[v]
            rate = self.rate[v] * rate_scale
            pos = self.pos[v]
            if self.sustained[v]:
                m = n
            else:
                # frames until the end of the one-shot (last readable index len-1)
                remaining = (len(buf) - 1 - pos) / rate
                m = min(n, int(remaining) + 1) if remaining >= 0 else 0
                if m <= 0:
                    self.active[v] = False
                    self._set_buf(v, None)
                    continue
            self._read(buf, pos, rate, m, s)
            if self.xfade_left[v] > 0 and self.prev_bufs[v] is not None:
                # sustained: fade from the previous loop to the new one
                e = self._e[:m]
                self._read(self.prev_bufs[v], pos, rate, m, self._b)
                np.multiply(self._ramp[:m], -1.0 / self.xfade_len, out=e)
                e += self.xfade_left[v] / self.xfade_len   # weight of the old loop
                np.clip(e, 0.0, 1.0, out=e)
                np.subtract(self._b[:m], s[:m], out=self._b[:m])
                np.multiply(self._b[:m], e, out=self._b[:m])
                s[:m] += self._b[:m]
                self.xfade_left[v] = max(0, self.xfade_left[v] - m)
                if self.xfade_left[v] == 0:
                    self._set_prev(v, None)
            if self.env_step[v] == 0.0 and pos >= self.stop_at[v]:
                # decay control: fade the rest of the one-shot out
                self.env_step[v] = 1.0 / self.fade_len / 4.0
            if self.env_step[v] > 0.0:
                e = self._e[:m]
                np.multiply(self._ramp[:m], -self.env_step[v], out=e)
                e += self.env[v]
                np.maximum(e, 0.0, out=e)
                s[:m] *= e
                self.env[v] = self.env[v] - self.env_step[v] * m
                if self.env[v] <= 0.0:
                    self.active[v] = False
            total = float(np.sum(s[:m]))
            if not math.isfinite(total):
                # NaN/inf from the model: this voice goes silent, the others play on
                self.active[v] = False
                self.silenced_nonfinite += 1
                self._set_buf(v, None)
                continue
            gl, gr = self.gain_l[v], self.gain_r[v]
            np.multiply(s[:m], gl, out=self._a[:m])
            out_l[start:start + m] += self._a[:m]
            np.multiply(s[:m], gr, out=self._a[:m])
            out_r[start:start + m] += self._a[:m]
            pos += rate * m
            if self.sustained[v] and pos >= self.loop_end[v]:
                start_, end_ = self.loop_start[v], self.loop_end[v]
                pos = start_ + math.fmod(pos - start_, end_ - start_)
            elif not self.sustained[v] and pos > len(buf) - 1:
                self.active[v] = False   # the one-shot has ended
            self.pos[v] = pos
            if not self.active[v]:
                self._set_buf(v, None)
                self._set_prev(v, None)

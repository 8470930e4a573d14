"""A preallocated event ring from the MIDI/keyboard/demo threads to the audio callback.

Producers serialise among themselves with a lock; the single consumer (the audio callback)
never takes it: it reads the rows between its read index and the published write index.
Under the GIL an int attribute store is atomic, and the write index is published only after
the row is filled, so the consumer never sees a half-written event. A full ring drops the new
event and counts it (the callback never waits).
"""

from __future__ import annotations

import threading

import numpy as np

NOTE_ON = 1      # a = note, b = velocity
NOTE_OFF = 2     # a = note
PANIC = 3        # all sound off / all notes off
SWAP = 4         # a new instrument was installed (program change)


class EventRing:
    """Fixed-capacity queue of (kind, a, b) int32 triples."""

    def __init__(self, capacity: int = 1024):
        self.capacity = capacity
        self.rows = np.zeros((capacity, 3), dtype=np.int32)
        self.write = 0   # total events published (producer side)
        self.read = 0    # total events consumed (consumer side)
        self.dropped = 0
        self._lock = threading.Lock()

    def push(self, kind: int, a: int = 0, b: int = 0) -> bool:
        with self._lock:
            w = self.write
            if w - self.read >= self.capacity:
                self.dropped += 1
                return False
            row = self.rows[w % self.capacity]
            row[0] = kind
            row[1] = a
            row[2] = b
            self.write = w + 1   # publish
            return True

    def pending(self) -> int:
        return self.write - self.read

    def pop(self):
        """Consumer: next (kind, a, b) or None."""
        r = self.read
        if r == self.write:
            return None
        row = self.rows[r % self.capacity]
        event = (int(row[0]), int(row[1]), int(row[2]))
        self.read = r + 1
        return event

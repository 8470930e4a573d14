"""Engine parameters: the names a MIDI map binds controllers to, and their shared snapshot.

Every parameter is stored normalised to [0, 1] (a 7-bit controller value / 127) in one float64
array, so that the MIDI thread writes single elements, the decode thread and the audio callback
read them, and nobody takes a lock. ``version`` grows whenever a latent-space parameter
changes; the decode thread compares it with the version of the bank it last built.
"""

from __future__ import annotations

import numpy as np

# name -> default (normalised). pca1..pca8 sit at the centre (0.5 = no offset along the axis).
ENGINE_PARAMS: dict[str, float] = {
    "morph": 0.0,      # 0 = each class's own centre, 1 = the morph target (or the XY point)
    "x": 0.5,          # XY pad: bilinear blend of the four corner classes
    "y": 0.5,
    "variation": 0.0,  # spread around the point, in units of the class's own std (0..2)
    "volume": 0.8,     # master gain (squared law)
    "decay": 1.0,      # one-shot length: 1 = the whole decoded frame, 0 = 5 % of it
    "pitch": 0.5,      # global transpose, 0.5 = none, 0..1 = -12..+12 semitones
    "bend": 0.5,       # pitch bend wheel, 0.5 = centre, +-2 semitones
    **{f"pca{i}": 0.5 for i in range(1, 9)},
}
PARAM_NAMES: tuple[str, ...] = tuple(ENGINE_PARAMS)
PARAM_INDEX: dict[str, int] = {name: i for i, name in enumerate(PARAM_NAMES)}
# Parameters that change the decoded sound (the others act in the audio callback).
LATENT_PARAMS: frozenset[str] = frozenset(
    ["morph", "x", "y", "variation", *[f"pca{i}" for i in range(1, 9)]]
)
BEND_SEMITONES = 2.0
PITCH_SEMITONES = 12.0


class ControlSnapshot:
    """Current controller values, written by the MIDI side, read by decode thread and callback.

    values: [len(PARAM_NAMES)] float64 in [0, 1].
    """

    def __init__(self) -> None:
        self.values = np.array([ENGINE_PARAMS[n] for n in PARAM_NAMES], dtype=np.float64)
        self.version = 0          # bumped on every latent-parameter change
        self.xy_touched = False   # the XY pad replaces the morph target once it has been moved
        self.variation_seed = 0   # bumped when the variation knob moves: a fresh sample

    def set(self, name: str, value: float) -> bool:
        """Set parameter ``name`` to ``value`` in [0, 1]; returns True if it changed the latents."""
        i = PARAM_INDEX[name]
        value = min(1.0, max(0.0, float(value)))
        if self.values[i] == value:
            return False
        self.values[i] = value
        if name not in LATENT_PARAMS:
            return False
        if name in ("x", "y"):
            self.xy_touched = True
        elif name == "variation":
            self.variation_seed += 1
        self.version += 1
        return True

    def get(self, name: str) -> float:
        return float(self.values[PARAM_INDEX[name]])

    def latent_state(self) -> LatentState:
        """A consistent copy of what the decoder needs (read without locks: a torn read only
        means one more re-decode, because ``version`` is read first)."""
        version = self.version
        v = self.values
        return LatentState(
            version=version,
            morph=float(v[PARAM_INDEX["morph"]]),
            x=float(v[PARAM_INDEX["x"]]),
            y=float(v[PARAM_INDEX["y"]]),
            variation=float(v[PARAM_INDEX["variation"]]),
            pca=tuple(float(v[PARAM_INDEX[f"pca{i}"]]) * 2.0 - 1.0 for i in range(1, 9)),
            xy_touched=self.xy_touched,
            variation_seed=self.variation_seed,
        )


class LatentState:
    """The latent-space controls at one moment: morph, x, y, variation in [0, 1]; pca in [-1, 1]."""

    __slots__ = ("version", "morph", "x", "y", "variation", "pca", "xy_touched", "variation_seed")

    def __init__(self, version=0, morph=0.0, x=0.5, y=0.5, variation=0.0, pca=(0.0,) * 8,
                 xy_touched=False, variation_seed=0):
        self.version, self.morph, self.x, self.y = version, morph, x, y
        self.variation, self.pca, self.xy_touched = variation, tuple(pca), xy_touched
        self.variation_seed = variation_seed

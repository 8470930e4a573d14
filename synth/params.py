"""Engine parameters: the one table of what a controller can move, and the shared snapshot.

``PARAMETERS`` is the single definition of every parameter: its name (what a preset's MIDI map,
MIDI learn and the DAW plugin bind controls to), whether it changes the decoded sound
(``latent``: a re-decode) or acts in the audio callback (``engine``), its default, and its taper:
how a normalised position ``x`` in [0, 1] (a 7-bit controller value / 127, the 14-bit pitch
bend / 16383) becomes a value in the parameter's unit. The MIDI router, the engine, the latent
map and the preset validator read it; ``synth/parameters.json`` is the same table as data for
tools outside Python (written by ``scripts/write_parameters_json.py``, checked by a test).

Every value is stored normalised in one float64 array, so that the MIDI thread writes single
elements, the decode thread and the audio callback read them, and nobody takes a lock.
``version`` grows whenever a latent parameter changes; the decode thread compares it with the
version of the bank it last built.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

FORMAT = "vae-synth-parameters"
VERSION = 1
PCA_MACROS = 8  # timbre macros pca1..pca8: the preset's strongest principal axes

# value(x) for a normalised position x in [0, 1], from the parameter's low and high values.
TAPERS = {
    "linear": "low + (high - low) * x",
    "square": "low + (high - low) * x * x",
}


@dataclass(frozen=True)
class Parameter:
    """One controllable parameter.

    default: normalised position at start-up; low / high: the value at x = 0 / x = 1, in
    ``unit``; taper: a key of ``TAPERS``; off_from: where set, a normalised position at and above
    which the parameter does nothing (decay: the one-shot rings out uncut).
    """

    name: str
    kind: str  # "latent" | "engine"
    default: float
    low: float
    high: float
    taper: str
    unit: str
    description: str
    off_from: float | None = None

    def value(self, x: float) -> float:
        """The value in ``unit`` at normalised position ``x`` in [0, 1]."""
        if self.taper == "square":
            return self.low + (self.high - self.low) * (x * x)
        return self.low + (self.high - self.low) * x

    def is_off(self, x: float) -> bool:
        return self.off_from is not None and x >= self.off_from

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "default": self.default, "low": self.low,
                "high": self.high, "taper": self.taper, "unit": self.unit,
                "description": self.description, "off_from": self.off_from}


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("morph", "latent", 0.0, 0.0, 1.0, "linear", "fraction",
              "every class moves from its own centre toward the morph target (or the XY point "
              "once the XY pad has moved)"),
    Parameter("x", "latent", 0.5, 0.0, 1.0, "linear", "fraction",
              "XY pad, left to right: bilinear blend of the four corner classes"),
    Parameter("y", "latent", 0.5, 0.0, 1.0, "linear", "fraction",
              "XY pad, bottom to top: bilinear blend of the four corner classes"),
    Parameter("variation", "latent", 0.0, 0.0, 2.0, "linear", "class std",
              "random offset around each point, in units of the class's own spread; a fresh "
              "draw each time the knob moves"),
    Parameter("volume", "engine", 0.8, 0.0, 1.0, "square", "gain",
              "master gain"),
    Parameter("decay", "engine", 1.0, 0.05, 1.0, "linear", "fraction of the frame",
              "one-shot length: the voice fades out after this part of the decoded frame; "
              "at the top it rings out uncut", off_from=0.999),
    Parameter("pitch", "engine", 0.5, -12.0, 12.0, "linear", "semitones",
              "global transpose (by resampling)"),
    Parameter("bend", "engine", 0.5, -2.0, 2.0, "linear", "semitones",
              "pitch bend wheel (by resampling)"),
    *(Parameter(f"pca{i}", "latent", 0.5, -2.0, 2.0, "linear", "axis std",
                f"timbre macro {i}: offset along the preset's principal axis {i} of the latent "
                f"means, in standard deviations along it") for i in range(1, PCA_MACROS + 1)),
)
PARAMETER: dict[str, Parameter] = {p.name: p for p in PARAMETERS}
PARAM_NAMES: tuple[str, ...] = tuple(PARAMETER)
PARAM_INDEX: dict[str, int] = {name: i for i, name in enumerate(PARAM_NAMES)}
# Parameters that change the decoded sound (the others act in the audio callback).
LATENT_PARAMS: frozenset[str] = frozenset(p.name for p in PARAMETERS if p.kind == "latent")


def unknown_parameter(name: object) -> str | None:
    """None for a parameter in the table, else the message that says so and lists the names."""
    if isinstance(name, str) and name in PARAMETER:
        return None
    return f"unknown engine parameter {name!r} (parameters: {', '.join(PARAM_NAMES)})"


def parameters_json() -> str:
    """The table as the text of ``synth/parameters.json`` (what the checked-in file must equal)."""
    return json.dumps(_parameters_document(), indent=1) + "\n"


def _parameters_document() -> dict:
    return {
        "format": FORMAT,
        "version": VERSION,
        "normalised": "x in [0, 1]: a 7-bit controller value / 127, the 14-bit pitch bend "
                      "/ 16383; 'default' is an x",
        "kinds": {"latent": "changes the decoded sound (the bank is decoded again)",
                  "engine": "acts on the voices and the mix, no decoding"},
        "tapers": dict(TAPERS),
        "off_from": "where not null: at and above this x the parameter does nothing",
        "parameters": [p.to_dict() for p in PARAMETERS],
    }


_MORPH, _X, _Y, _VARIATION = (PARAMETER[n] for n in ("morph", "x", "y", "variation"))
_PCA = tuple(PARAMETER[f"pca{i}"] for i in range(1, PCA_MACROS + 1))
_PCA_INDEX = tuple(PARAM_INDEX[p.name] for p in _PCA)


class ControlSnapshot:
    """Current controller values, written by the MIDI side, read by decode thread and callback.

    values: [len(PARAM_NAMES)] float64 in [0, 1] (normalised positions).
    """

    def __init__(self) -> None:
        self.values = np.array([p.default for p in PARAMETERS], dtype=np.float64)
        self.version = 0          # bumped on every latent-parameter change
        self.xy_touched = False   # the XY pad replaces the morph target once it has been moved
        self.variation_seed = 0   # bumped when the variation knob moves: a fresh sample
        # called (by the thread that set it) after an engine parameter changed: the native
        # mixer's block controls follow the snapshot this way
        self.on_engine_change = None

    def set(self, name: str, value: float) -> bool:
        """Set parameter ``name`` to ``value`` in [0, 1]; returns True if it changed the latents."""
        i = PARAM_INDEX[name]
        value = min(1.0, max(0.0, float(value)))
        if self.values[i] == value:
            return False
        self.values[i] = value
        if name not in LATENT_PARAMS:
            if self.on_engine_change is not None:
                self.on_engine_change()
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
        """A consistent copy of what the decoder needs, tapered into the parameters' units (read
        without locks: a torn read only means one more re-decode, because ``version`` is read
        first)."""
        version = self.version
        v = self.values
        return LatentState(
            version=version,
            morph=_MORPH.value(float(v[PARAM_INDEX["morph"]])),
            x=_X.value(float(v[PARAM_INDEX["x"]])),
            y=_Y.value(float(v[PARAM_INDEX["y"]])),
            variation=_VARIATION.value(float(v[PARAM_INDEX["variation"]])),
            pca=tuple(p.value(float(v[i])) for p, i in zip(_PCA, _PCA_INDEX, strict=True)),
            xy_touched=self.xy_touched,
            variation_seed=self.variation_seed,
        )


class LatentState:
    """The latent-space controls at one moment, in the units of ``PARAMETERS``: morph, x, y in
    [0, 1]; variation in class standard deviations (0..2); pca: 8 offsets in standard deviations
    along the principal axes (-2..2)."""

    __slots__ = ("version", "morph", "x", "y", "variation", "pca", "xy_touched", "variation_seed")

    def __init__(self, version=0, morph=0.0, x=0.5, y=0.5, variation=0.0, pca=(0.0,) * 8,
                 xy_touched=False, variation_seed=0):
        self.version, self.morph, self.x, self.y = version, morph, x, y
        self.variation, self.pca, self.xy_touched = variation, tuple(pca), xy_touched
        self.variation_seed = variation_seed

"""Quality bars: bounds on the figures of `vae-synth evaluate` (its metrics.json), one place for
what the tests hold the bundled presets to and what ``scripts/bars_over_runs.py`` reads several
runs against (for instance one recipe on several held-out draws).

A bar is ``"dotted.key": (op, bound)``: the dotted key reaches into metrics.json's nested objects,
op is ``">="``, ``"<="`` or ``"±"`` (the size of a figure that should be near 0, dB against the
real clips).
"""

from __future__ import annotations

from collections.abc import Mapping

DRUM_CLASSES = ("hihat", "kick", "snare", "tom")

# Issue 20, full-band drums: 17 of 18 held-out clips placed (1-NN, nearest centroid, and the
# pads' centres), recon_ratio 0.6, every decoded centre within 3 dB of its class's level, morphs
# no rougher than the 22.05 kHz drums', no comb, and the hats' and snares' air (share above
# 11 kHz) within 3 dB of the real clips' for the centres, the pads' centres and the
# reconstructions.
FULLBAND_DRUMS: dict[str, tuple[str, float]] = {
    "one_nn_accuracy": (">=", 17 / 18),
    "nearest_centroid_accuracy": (">=", 17 / 18),
    "training_centroids.nearest_centroid_accuracy": (">=", 17 / 18),
    "recon_ratio": ("<=", 0.6),
    **{f"per_class.{c}.level_db": ("±", 3.0) for c in DRUM_CLASSES},
    "morph_smoothness": ("<=", 2.06),
    "comb_db": ("<=", 6.0),
    "comb_db_centres": ("<=", 6.0),
    **{f"per_class.{c}.high_band.{k}": ("±", 3.0) for c in ("hihat", "snare")
       for k in ("centre_vs_real_db", "pad_centre_vs_real_db", "recon_vs_real_db")},
}

BARS = {"fullband-drums": FULLBAND_DRUMS}


def lookup(metrics: Mapping, dotted: str):
    """metrics["a"]["b"] for "a.b"; KeyError names the missing key."""
    value = metrics
    for key in dotted.split("."):
        value = value[key]
    return value


def meets(value: float, op: str, bound: float) -> bool:
    """Whether one figure meets its bar."""
    return {"<=": value <= bound, ">=": value >= bound, "±": abs(value) <= bound}[op]


def failures(metrics: Mapping, bars: Mapping[str, tuple[str, float]]) -> list[str]:
    """``"key = value, must be op bound"`` for every bar the metrics miss (empty: all met)."""
    out = []
    for key, (op, bound) in bars.items():
        value = lookup(metrics, key)
        if not meets(value, op, bound):
            out.append(f"{key} = {value:.3f}, must be {op} {bound}")
    return out

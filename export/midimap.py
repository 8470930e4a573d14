"""The default MIDI map an exported preset carries (pure Python: no TensorFlow).

Drum-like class names get their General MIDI drum notes (35/36 kick, 38/40 snare, 42/44/46 hi-hat,
41/43/45/47/48/50 toms, ...); any other classes get a row of keys from middle C (60, 61, ...), so
ten spoken digits sit on 60-69. Controllers follow the engine's parameter names: CC 1 morph,
16/17 the XY pad, 18 variation, 7 volume, 20, 21, ... the PCA macro axes. ``pitch``
(note -> semitones: one tom class is tuned across its six pads) and ``pan`` (class -> -1..1:
the hi-hat left of centre).
"""

from __future__ import annotations

import re

from vae_synth.synth.params import PCA_MACROS
from vae_synth.synth.preset import MidiMap

MIDDLE_C = 60

# (category, pattern matched against the lower-case class name, General MIDI notes)
GM_DRUMS: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("kick", r"kick|bass ?drum|\bbd\b", (36, 35)),
    ("snare", r"snare|\bsd\b", (38, 40)),
    ("hihat", r"hi-?hat|\bhh\b|hat", (42, 44, 46)),
    ("tom", r"tom", (41, 43, 45, 47, 48, 50)),
    ("clap", r"clap", (39,)),
    ("rim", r"rim|stick", (37,)),
    ("crash", r"crash|cymbal", (49, 57)),
    ("ride", r"ride", (51, 59)),
    ("cowbell", r"cowbell", (56,)),
    ("tambourine", r"tamb", (54,)),
    ("shaker", r"shak|maraca", (70,)),
    ("clave", r"clave", (75,)),
    ("conga", r"conga|bongo|perc", (62, 63, 64)),
)


def drum_category(class_name: str) -> str | None:
    """The GM drum category a class name looks like (``"kick"``, ``"hihat"``...), or None."""
    lower = class_name.lower().replace("_", " ")
    for category, pattern, _ in GM_DRUMS:
        if re.search(pattern, lower):
            return category
    return None


def default_notes(class_names: list[str]) -> dict[int, str]:
    """MIDI note -> class name. GM drum notes for drum-like names; a row of keys from middle C for
    the rest (skipping notes already used)."""
    notes: dict[int, str] = {}
    by_category: dict[str, list[str]] = {}
    others: list[str] = []
    for name in class_names:
        cat = drum_category(name)
        if cat is None:
            others.append(name)
        else:
            by_category.setdefault(cat, []).append(name)
    for category, _, gm_notes in GM_DRUMS:
        members = by_category.get(category, [])
        if not members:
            continue
        # Several classes of one kind (tom_low, tom_high): share the kind's notes in order, and
        # give every member at least one note.
        for j, note in enumerate(gm_notes):
            notes[note] = members[j % len(members)]
        for j in range(len(gm_notes), len(members)):
            others.append(members[j])
    key = MIDDLE_C
    for name in others:
        while key in notes:
            key += 1
        if key > 127:
            break  # more classes than keys: the rest are reachable by morphing only
        notes[key] = name
        key += 1
    return notes


# One tom class spread over the six GM tom notes (41 low floor ... 50 high tom) is tuned like a kit:
# semitones relative to the class's own sound, which sits on 47 (low-mid tom).
TOM_TUNING = {41: -6, 43: -4, 45: -2, 47: 0, 48: 2, 50: 4}
# Stereo placement per drum category (-1 left .. 1 right, drummer's perspective): the hi-hat sits
# left of centre as on a right-handed kit; the rest stays centred.
DRUM_PAN = {"hihat": -0.25}


def default_midi_map(class_names: list[str], pca_axes: int = 0, sustain: bool | None = None
                     ) -> MidiMap:
    """The preset's MIDI map for these classes.

    pca_axes: how many PCA axes the preset has (CC 20, 21, ... map to pca1, pca2, ..., at most
    ``PCA_MACROS``).
    sustain: True for looping voices; None decides from the names (drum-like names: one-shots).
    """
    if not class_names:
        raise ValueError("a preset needs at least one class")
    categories = [drum_category(n) for n in class_names]
    drum_like = any(c is not None for c in categories)
    controls = {1: "morph", 7: "volume", 16: "x", 17: "y", 18: "variation"}
    for i in range(min(pca_axes, PCA_MACROS)):  # CC 20-27
        controls[20 + i] = f"pca{i + 1}"
    if "snare" in class_names:
        morph_target = "snare"
    else:
        morph_target = class_names[1] if len(class_names) > 1 else class_names[0]
    corners = tuple(class_names[i % len(class_names)] for i in range(4))
    hats = tuple(n for n, c in zip(class_names, categories, strict=True) if c == "hihat")
    notes = default_notes(class_names)
    toms = [n for n, c in zip(class_names, categories, strict=True) if c == "tom"]
    # one tom sound on six pads: tune the pads (the engine resamples)
    pitch = ({k: float(v) for k, v in TOM_TUNING.items() if notes.get(k) == toms[0]}
             if len(toms) == 1 else {})
    pan = {n: DRUM_PAN[c] for n, c in zip(class_names, categories, strict=True) if c in DRUM_PAN}
    return MidiMap(notes=dict(sorted(notes.items())), controls=controls, morph_target=morph_target,
                   xy_corners=corners, choke_groups=(hats,) if hats else (),
                   sustain=(not drum_like) if sustain is None else bool(sustain),
                   pitch=pitch, pan=pan)

"""The preset bundle (format ``vae-synth-preset``, version 2): its definition, validation and lookup.

A preset is a folder ``PRESET_DIR`` holding ``preset.json`` and four ONNX files beside it::

    decoder.onnx        z [1, D]  -> audio [1, L]        (fixed batch: the fastest single decode)
    decoder_batch.onnx  z [N, D]  -> audio [N, L]        (a bank of points in one call)
    encoder.onnx        audio [N, L] -> mu [N, D], logvar [N, D]
    classifier.onnx     z [N, D]  -> logits [N, C]
    decoder.weights     optional: the weights both decoder files read (ONNX external data), once

This module is the one definition of the bundle: the ``Preset`` dataclass and its parts are the
schema, :meth:`Preset.to_dict` writes it and :func:`preset_from_dict` reads and validates it.
``export/`` builds a ``Preset`` and writes it with :func:`write_preset`; the player reads bundles
through :func:`load_preset`. Bundles of an older version are migrated on load (:func:`migrate`),
so every bundle ever exported stays playable. It uses only the standard library, numpy and
onnxruntime (never TensorFlow or the ``onnx`` package: the player does not have them). A preset is
data: loading one parses JSON and opens ONNX graphs in ONNX Runtime, never imports or executes
code shipped with the preset.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from vae_synth.synth.atomic import write_text
from vae_synth.synth.params import unknown_parameter

FORMAT = "vae-synth-preset"
# Version 2 (2026-12): midi.pitch and midi.pan are part of the schema (always written, validated);
# a CC target must be a parameter of synth.params. Version 1 documents are migrated on load.
VERSION = 2
PRESET_JSON = "preset.json"
ROLES = ("decoder", "decoder_batch", "encoder", "classifier")
DEFAULT_FILE_NAMES = {role: f"{role}.onnx" for role in ROLES}
# Optional: the weights the two decoder files share, as ONNX external data (``files`` lists it
# with its sha256 like the models; ONNX Runtime reads it from beside the model that names it).
DATA_FILES = {"decoder_weights": "decoder.weights"}

# Sanity limits: generous for any model this project can train, small enough that a corrupt or
# hostile preset.json cannot make the player allocate gigabytes before anything else is checked.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 384_000
MIN_FRAME_LENGTH, MAX_FRAME_LENGTH = 16, 1 << 20
MAX_LATENT_DIM = 4096
MAX_CLASSES = 1024
MAX_JSON_BYTES = 64 << 20
MAX_ONNX_BYTES = 2 << 30
MAX_PAD_SEMITONES = 48  # a pad's tuning: 4 octaves either way is resampling by 16


class PresetError(ValueError):
    """A preset that cannot be found or is not a valid bundle.

    The message names the file (``where``) and the problem, e.g.
    ``presets/drums/decoder.onnx: sha256 mismatch (file 3f2a..., preset.json says 9b1c...)``.
    """

    def __init__(self, where: str | os.PathLike[str] | None, problem: str):
        self.where = None if where is None else str(where)
        self.problem = problem
        super().__init__(problem if where is None else f"{where}: {problem}")


@dataclass(frozen=True, eq=False)
class PresetClass:
    """One sound class: its training label and where it sits in the latent space.

    centroid: [latent_dim] float32, mean encoder ``mu`` over the class's training clips.
    std:      [latent_dim] float32, per-dimension standard deviation of those ``mu`` (>= 0).
    count:    number of training clips the statistics come from.
    """

    name: str
    centroid: np.ndarray
    std: np.ndarray
    count: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "centroid", _frozen(self.centroid))
        object.__setattr__(self, "std", _frozen(self.std))
        object.__setattr__(self, "count", int(self.count))


@dataclass(frozen=True, eq=False)
class PCA:
    """Principal axes of the training clips' latent means (the timbre macro controls).

    mean:               [latent_dim] float32
    components:         [k, latent_dim] float32, one axis per row, strongest first (0 <= k <= D)
    explained_variance: [k] float32, variance of the latent means along each axis
    """

    mean: np.ndarray
    components: np.ndarray
    explained_variance: np.ndarray

    def __post_init__(self) -> None:
        for name in ("mean", "components", "explained_variance"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    @property
    def k(self) -> int:
        return int(self.components.shape[0])


@dataclass(frozen=True)
class MidiMap:
    """The preset's default MIDI mapping.

    notes:        MIDI note number (0-127) -> class name
    controls:     CC number (0-127) -> a parameter of ``synth.params.PARAMETERS`` (``morph``,
                  ``x``, ``y``, ``variation``, ``volume``, ``decay``, ``pitch``, ``bend``,
                  ``pca1`` .. ``pca8``; a macro only up to the preset's number of PCA axes)
    morph_target: class the morph knob moves toward (None: the engine chooses)
    xy_corners:   four class names for the XY pad corners (x0y0, x1y0, x0y1, x1y1)
    choke_groups: groups of class names; a new note in a group silences the others
    sustain:      True when voices loop while the note is held (spoken digits), False for one-shots
    pitch:        mapped note -> semitones its pad is transposed by (resampling; e.g. one tom
                  class tuned across six pads); notes not listed play at their class's pitch
    pan:          class name -> stereo position in [-1, 1] (-1 left); classes not listed: centre
    """

    notes: dict[int, str]
    controls: dict[int, str]
    morph_target: str | None
    xy_corners: tuple[str, ...]
    choke_groups: tuple[tuple[str, ...], ...]
    sustain: bool
    pitch: dict[int, float] = field(default_factory=dict)
    pan: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "notes": {str(k): v for k, v in sorted(self.notes.items())},
            "controls": {str(k): v for k, v in sorted(self.controls.items())},
            "morph_target": self.morph_target,
            "xy_corners": list(self.xy_corners),
            "choke_groups": [list(g) for g in self.choke_groups],
            "sustain": self.sustain,
            "pitch": {str(k): float(v) for k, v in sorted(self.pitch.items())},
            "pan": {k: float(v) for k, v in self.pan.items()},
        }


@dataclass(frozen=True)
class PresetFile:
    """One file of the bundle: its name in the preset folder and the sha256 of its bytes."""

    path: str
    sha256: str


@dataclass(frozen=True, eq=False)
class Preset:
    """A preset: what ``preset.json`` holds, field for field. Arrays are float32 and read-only.

    training: how the models were trained (``arch``, ``data``, ``licence``, ``attribution``
    strings; ``config``, ``metrics`` objects). export: how the bundle was exported (parity
    errors, tool versions, date; free-form). files: role -> file (``ROLES``, and
    ``decoder_weights`` where the decoders share external weights). extra: top-level fields this
    version does not know, kept as they were. path: the folder the preset was loaded from (None
    for a preset built in memory, e.g. by the exporter before it is written).
    """

    name: str
    description: str
    sample_rate: int
    frame_length: int
    latent_dim: int
    classes: tuple[PresetClass, ...]
    pca: PCA
    midi: MidiMap
    training: dict[str, Any]
    files: dict[str, PresetFile]
    export: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``preset.json`` document (current version) of this preset."""
        def floats(a: np.ndarray) -> list:
            return np.asarray(a, np.float64).tolist()  # float32 values, exactly, as JSON numbers

        return {
            "format": FORMAT, "version": VERSION, "name": self.name,
            "description": self.description, "sample_rate": self.sample_rate,
            "frame_length": self.frame_length, "latent_dim": self.latent_dim,
            "classes": [{"name": c.name, "centroid": floats(c.centroid), "std": floats(c.std),
                         "count": c.count} for c in self.classes],
            "pca": {"mean": floats(self.pca.mean), "components": floats(self.pca.components),
                    "explained_variance": floats(self.pca.explained_variance)},
            "files": {role: {"path": f.path, "sha256": f.sha256} for role, f in self.files.items()},
            "midi": self.midi.to_dict(),
            "training": self.training,
            "export": self.export,
            **self.extra,
        }

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def centroids(self) -> np.ndarray:
        """[C, latent_dim] float32, one row per class in ``classes`` order."""
        return np.stack([c.centroid for c in self.classes]).astype(np.float32)

    @property
    def stds(self) -> np.ndarray:
        """[C, latent_dim] float32."""
        return np.stack([c.std for c in self.classes]).astype(np.float32)

    def class_index(self, name: str) -> int:
        try:
            return self.class_names.index(name)
        except ValueError:
            raise KeyError(f"preset {self.name!r} has no class {name!r} "
                           f"(classes: {', '.join(self.class_names)})") from None

    def file(self, role: str) -> Path:
        """Path of the file for ``role``: decoder | decoder_batch | encoder | classifier (ONNX),
        or decoder_weights where the bundle has one."""
        if role not in self.files:
            raise KeyError(f"unknown preset file role {role!r}; this preset's roles are "
                           f"{', '.join(self.files)}")
        if self.path is None:
            raise ValueError(f"preset {self.name!r} was not loaded from a folder: its files "
                             f"have no location yet")
        return self.path / self.files[role].path


@dataclass(frozen=True)
class PresetInfo:
    """One installed preset as listed by :func:`list_presets` (read from preset.json only)."""

    name: str  # the folder name, which is what --preset NAME resolves
    path: Path
    source: str  # "env" ($VAE_SYNTH_PRESETS), "user" or "bundled"
    description: str = ""
    class_names: tuple[str, ...] = ()
    sample_rate: int | None = None
    frame_length: int | None = None
    shadowed: bool = False  # an earlier folder in the search order has a preset of that name
    error: str | None = None  # why preset.json could not be read, if it could not


# --------------------------------------------------------------------------------------------
# Validation of the JSON document


def _frozen(value: Any) -> np.ndarray:
    """A read-only float32 copy (the engine shares preset arrays between threads)."""
    arr = np.array(value, dtype=np.float32)
    arr.setflags(write=False)
    return arr


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _finite_number(v: Any, what: str, where: str) -> float:
    if not (isinstance(v, (int, float)) and not isinstance(v, bool)):
        raise PresetError(where, f"{what} must be a number, got {v!r}")
    try:
        finite = math.isfinite(v)
    except OverflowError:  # an integer literal too large for a float
        finite = False
    if not finite:
        raise PresetError(where, f"{what} is not finite ({str(v)[:20]})")
    return float(v)


def _int_field(data: Mapping, key: str, lo: int, hi: int, where: str) -> int:
    if key not in data:
        raise PresetError(where, f"missing required field {key!r}")
    v = data[key]
    if not _is_int(v):
        raise PresetError(where, f"{key!r} must be an integer, got {v!r}")
    if not lo <= v <= hi:
        raise PresetError(where, f"{key!r} = {v} is outside the sane range [{lo}, {hi}]")
    return v


def _str_field(data: Mapping, key: str, where: str, *, nonempty: bool = True) -> str:
    if key not in data:
        raise PresetError(where, f"missing required field {key!r}")
    v = data[key]
    if not isinstance(v, str) or (nonempty and not v.strip()):
        raise PresetError(where, f"{key!r} must be a{' non-empty' if nonempty else ''} string, "
                                 f"got {v!r}")
    return v


def _float_array(value: Any, shape: tuple[int, ...], what: str, where: str) -> np.ndarray:
    """Parse a (nested) list of numbers into a read-only float32 array of exactly ``shape``."""
    # Check the nesting without numpy first so a ragged or absurd list gives a clear message.
    def _check(v: Any, dims: tuple[int, ...], label: str) -> None:
        if not dims:
            _finite_number(v, label, where)
            return
        if not isinstance(v, list):
            raise PresetError(where, f"{label} must be a list of {dims[0]}, got {type(v).__name__}")
        if len(v) != dims[0]:
            raise PresetError(where, f"{label} has length {len(v)}, expected {dims[0]}")
        for i, item in enumerate(v):
            _check(item, dims[1:], f"{label}[{i}]")

    _check(value, shape, what)
    arr = np.asarray(value, dtype=np.float64).reshape(shape)
    if np.any(np.abs(arr) > np.finfo(np.float32).max):
        raise PresetError(where, f"{what} has values beyond float32 range")
    out = arr.astype(np.float32)
    out.setflags(write=False)
    return out


def _class_name_list(value: Any, names: set[str], what: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise PresetError(where, f"{what} must be a list of class names, got {value!r}")
    for v in value:
        if v not in names:
            raise PresetError(where, f"{what} names unknown class {v!r} "
                                     f"(classes: {', '.join(sorted(names))})")
    return tuple(value)


def _names(v: Any, what: str, where: str) -> str:
    if not isinstance(v, str) or not v:
        raise PresetError(where, f"{what} must be a non-empty string, got {v!r}")
    return v


def _midi_number_map(value: Any, what: str, where: str,
                     item: Callable[[Any, str, str], Any] = _names) -> dict[int, Any]:
    """{MIDI number 0-127: item(value)} from a JSON object with number keys."""
    if not isinstance(value, dict):
        raise PresetError(where, f"{what} must be an object, got {type(value).__name__}")
    out: dict[int, Any] = {}
    for k, v in value.items():
        try:
            n = int(k)
        except (TypeError, ValueError):
            raise PresetError(where, f"{what} key {k!r} is not a number 0-127") from None
        if str(n) != str(k).strip() or not 0 <= n <= 127:
            raise PresetError(where, f"{what} key {k!r} is not a number 0-127")
        out[n] = item(v, f"{what}[{k!r}]", where)
    return out


def _parse_midi(value: Any, class_names: list[str], pca_k: int, where: str) -> MidiMap:
    if not isinstance(value, dict):
        raise PresetError(where, f"'midi' must be an object, got {type(value).__name__}")
    names = set(class_names)
    for key in ("notes", "controls", "morph_target", "xy_corners", "choke_groups", "sustain",
                "pitch", "pan"):
        if key not in value:
            raise PresetError(where, f"missing required field 'midi.{key}'")
    notes = _midi_number_map(value["notes"], "midi.notes", where)
    for n, cls in notes.items():
        if cls not in names:
            raise PresetError(where, f"midi.notes[{n}] names unknown class {cls!r} "
                                     f"(classes: {', '.join(class_names)})")
    controls = _midi_number_map(value["controls"], "midi.controls", where)
    for cc, param in controls.items():
        problem = unknown_parameter(param)
        if problem:
            raise PresetError(where, f"midi.controls[{cc}]: {problem}")
        if param.startswith("pca"):
            if int(param[3:]) > pca_k:
                raise PresetError(where, f"midi.controls[{cc}] = {param!r} but the preset has "
                                         f"{pca_k} PCA axes")
    morph_target = value["morph_target"]
    if morph_target is not None and morph_target not in names:
        raise PresetError(where, f"midi.morph_target names unknown class {morph_target!r}")
    corners = _class_name_list(value["xy_corners"], names, "midi.xy_corners", where)
    if len(corners) != 4:
        raise PresetError(where, f"midi.xy_corners must name 4 classes, got {len(corners)}")
    groups_raw = value["choke_groups"]
    if not isinstance(groups_raw, list):
        raise PresetError(where, "midi.choke_groups must be a list of lists of class names")
    groups = tuple(_class_name_list(g, names, f"midi.choke_groups[{i}]", where)
                   for i, g in enumerate(groups_raw))
    sustain = value["sustain"]
    if not isinstance(sustain, bool):
        raise PresetError(where, f"midi.sustain must be true or false, got {sustain!r}")

    def semitones(v: Any, what: str, where: str) -> float:
        v = _finite_number(v, what, where)
        if abs(v) > MAX_PAD_SEMITONES:
            raise PresetError(where, f"{what} = {v} semitones is beyond +-{MAX_PAD_SEMITONES}")
        return v

    pitch = _midi_number_map(value["pitch"], "midi.pitch", where, semitones)
    for n in pitch:
        if n not in notes:
            raise PresetError(where, f"midi.pitch[{n}] tunes note {n}, which midi.notes does not "
                                     f"map to a class")
    pan_raw = value["pan"]
    if not isinstance(pan_raw, dict):
        raise PresetError(where, f"midi.pan must be an object, got {type(pan_raw).__name__}")
    pan: dict[str, float] = {}
    for cls, v in pan_raw.items():
        if cls not in names:
            raise PresetError(where, f"midi.pan names unknown class {cls!r} "
                                     f"(classes: {', '.join(class_names)})")
        pan[cls] = _finite_number(v, f"midi.pan[{cls!r}]", where)
        if not -1.0 <= pan[cls] <= 1.0:
            raise PresetError(where, f"midi.pan[{cls!r}] = {v} is outside [-1, 1]")
    return MidiMap(notes=notes, controls=controls, morph_target=morph_target, xy_corners=corners,
                   choke_groups=groups, sustain=sustain, pitch=pitch, pan=pan)


def _migrate_v1(data: dict) -> dict:
    """Version 1 -> 2: midi.pitch and midi.pan, optional before, are always there."""
    midi = data.get("midi")
    if isinstance(midi, dict):
        data["midi"] = {**midi, "pitch": midi.get("pitch", {}), "pan": midi.get("pan", {})}
    return data


# version -> the step that turns a document of that version into one of the next
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _migrate_v1}
# the fields of the current version's document; any other top-level field is kept as ``extra``
FIELDS = ("format", "version", "name", "description", "sample_rate", "frame_length",
          "latent_dim", "classes", "pca", "files", "midi", "training", "export")


def migrate(data: Any, where: str = PRESET_JSON) -> dict:
    """A ``preset.json`` document of any version this vae-synth reads, as the current version
    (a new dict; ``data`` is left as it was). Raises PresetError for another format or an
    unknown version."""
    if not isinstance(data, dict):
        raise PresetError(where, f"the document must be a JSON object, got {type(data).__name__}")
    fmt = data.get("format")
    if fmt != FORMAT:
        raise PresetError(where, f"'format' is {fmt!r}, expected {FORMAT!r} (not a vae-synth preset)")
    version = data.get("version")
    if not _is_int(version):
        raise PresetError(where, f"'version' must be an integer, got {version!r}")
    if version != VERSION and version not in MIGRATIONS:
        raise PresetError(where, f"unknown preset version {version}; this vae-synth reads versions "
                                 f"{min(MIGRATIONS, default=VERSION)} to {VERSION} (a newer "
                                 f"vae-synth may read it)")
    doc = dict(data)
    while doc["version"] != VERSION:
        doc = MIGRATIONS[doc["version"]](doc)
        doc["version"] += 1
    return doc


def preset_from_dict(data: Any, where: str = PRESET_JSON) -> Preset:
    """Read and validate a ``preset.json`` document (already parsed from JSON; any version
    :func:`migrate` knows) into a ``Preset`` (``path`` None).

    Checks everything that needs no files: format, version, required fields and types, sane sizes,
    vector lengths against ``latent_dim``, finite numbers, class names and parameters used by the
    MIDI map. Raises PresetError naming ``where`` and the problem.
    """
    data = migrate(data, where)
    name = _str_field(data, "name", where)
    description = _str_field(data, "description", where, nonempty=False)
    sample_rate = _int_field(data, "sample_rate", MIN_SAMPLE_RATE, MAX_SAMPLE_RATE, where)
    frame_length = _int_field(data, "frame_length", MIN_FRAME_LENGTH, MAX_FRAME_LENGTH, where)
    latent_dim = _int_field(data, "latent_dim", 1, MAX_LATENT_DIM, where)
    d = latent_dim

    raw_classes = data.get("classes")
    if not isinstance(raw_classes, list) or not raw_classes:
        raise PresetError(where, "'classes' must be a non-empty list")
    if len(raw_classes) > MAX_CLASSES:
        raise PresetError(where, f"{len(raw_classes)} classes is beyond the sane limit {MAX_CLASSES}")
    classes = []
    seen: set[str] = set()
    for i, c in enumerate(raw_classes):
        if not isinstance(c, dict):
            raise PresetError(where, f"classes[{i}] must be an object")
        cname = _str_field(c, "name", where)
        if cname in seen:
            raise PresetError(where, f"class name {cname!r} appears twice")
        seen.add(cname)
        for key in ("centroid", "std", "count"):
            if key not in c:
                raise PresetError(where, f"missing required field 'classes[{i}].{key}' ({cname})")
        centroid = _float_array(c["centroid"], (d,), f"centroid of class {cname!r}", where)
        std = _float_array(c["std"], (d,), f"std of class {cname!r}", where)
        if np.any(std < 0):
            raise PresetError(where, f"std of class {cname!r} has negative values")
        count = c["count"]
        if not _is_int(count) or count < 0:
            raise PresetError(where, f"count of class {cname!r} must be an integer >= 0, got {count!r}")
        classes.append(PresetClass(cname, centroid, std, count))
    class_names = [c.name for c in classes]

    pca_raw = data.get("pca")
    if not isinstance(pca_raw, dict):
        raise PresetError(where, "missing required object 'pca'")
    for key in ("mean", "components", "explained_variance"):
        if key not in pca_raw:
            raise PresetError(where, f"missing required field 'pca.{key}'")
    comps_raw = pca_raw["components"]
    if not isinstance(comps_raw, list):
        raise PresetError(where, "pca.components must be a list of rows")
    k = len(comps_raw)
    if k > d:
        raise PresetError(where, f"pca.components has {k} rows, more than latent_dim {d}")
    pca = PCA(
        mean=_float_array(pca_raw["mean"], (d,), "pca.mean", where),
        components=_float_array(comps_raw, (k, d), "pca.components", where),
        explained_variance=_float_array(pca_raw["explained_variance"], (k,),
                                        "pca.explained_variance", where),
    )

    files_raw = data.get("files")
    if not isinstance(files_raw, dict):
        raise PresetError(where, "missing required object 'files'")
    entries: dict[str, PresetFile] = {}
    for role in (*ROLES, *DATA_FILES):
        entry = files_raw.get(role)
        if entry is None and role in DATA_FILES:
            continue
        if not isinstance(entry, dict):
            raise PresetError(where, f"missing required entry files.{role}")
        rel = _str_field(entry, "path", where)
        digest = _str_field(entry, "sha256", where)
        # Files live beside preset.json: a bare file name, never a path that leaves the folder.
        if rel != os.path.basename(rel) or rel in (".", "..") or "\\" in rel:
            raise PresetError(where, f"files.{role}.path {rel!r} must be a file name in the "
                                     f"preset folder")
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest.lower()):
            raise PresetError(where, f"files.{role}.sha256 is not a sha256 hex digest: {digest!r}")
        entries[role] = PresetFile(rel, digest.lower())

    midi = _parse_midi(data.get("midi"), class_names, k, where)

    training = data.get("training")
    if not isinstance(training, dict):
        raise PresetError(where, "missing required object 'training'")
    for key in ("arch", "data", "licence", "attribution"):
        if not isinstance(training.get(key), str):
            raise PresetError(where, f"training.{key} must be a string")
    for key in ("config", "metrics"):
        if not isinstance(training.get(key), dict):
            raise PresetError(where, f"training.{key} must be an object")
    export = data.get("export", {})
    if not isinstance(export, dict):
        raise PresetError(where, f"'export' must be an object, got {type(export).__name__}")

    return Preset(name=name, description=description, sample_rate=sample_rate,
                  frame_length=frame_length, latent_dim=latent_dim, classes=tuple(classes),
                  pca=pca, midi=midi, training=training, files=entries, export=export,
                  extra={k: v for k, v in data.items() if k not in FIELDS})


# --------------------------------------------------------------------------------------------
# Files: hashes and ONNX interfaces


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def expected_io(role: str, latent_dim: int, frame_length: int, n_classes: int
                ) -> tuple[dict[str, list], dict[str, list]]:
    """The ONNX interface a role must have: ({input: shape}, {output: shape}).

    A shape entry is an int (that exact size), ``"N"`` (the batch: any size, or symbolic) or 1 for
    the fixed-batch decoder.
    """
    d, length, c = latent_dim, frame_length, n_classes
    if role == "decoder":
        return {"z": [1, d]}, {"audio": [1, length]}
    if role == "decoder_batch":
        return {"z": ["N", d]}, {"audio": ["N", length]}
    if role == "encoder":
        return {"audio": ["N", length]}, {"mu": ["N", d], "logvar": ["N", d]}
    if role == "classifier":
        return {"z": ["N", d]}, {"logits": ["N", c]}
    raise KeyError(role)


def _shape_problem(actual: list, expected: list) -> str | None:
    if actual is None or len(actual) != len(expected):
        return f"shape {actual} (expected rank {len(expected)}: {expected})"
    for a, e in zip(actual, expected, strict=True):
        if e == "N":
            # The batch dimension: symbolic (str/None) in the dynamic exports; a fixed size
            # would still work for batch 1 only, which is not what a batch model promises.
            if _is_int(a) and a > 0:
                return f"shape {actual} has a fixed batch {a}, expected a dynamic batch {expected}"
        elif a != e:
            return f"shape {actual}, expected {expected}"
    return None


def check_onnx_file(path: Path, role: str, latent_dim: int, frame_length: int, n_classes: int,
                    session: Any = None) -> None:
    """Open ``path`` in ONNX Runtime (CPU) and compare its inputs/outputs with the role's contract.

    Raises PresetError naming the file when it cannot be parsed or its interface differs.
    """
    import onnxruntime as ort

    if session is None:
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.log_severity_level = 3
        # Graph optimisation is not needed to read the interface; skipping it loads faster.
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # ORT raises several exception types for a broken model
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise PresetError(path, f"not a loadable ONNX model ({msg[:300]})") from None
    exp_in, exp_out = expected_io(role, latent_dim, frame_length, n_classes)
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if set(inputs) != set(exp_in):
        raise PresetError(path, f"{role} inputs are {sorted(inputs)}, expected {sorted(exp_in)}")
    for name in exp_out:
        if name not in outputs:
            raise PresetError(path, f"{role} has no output {name!r} (outputs: {sorted(outputs)})")
    for kind, table, exp in (("input", inputs, exp_in), ("output", outputs, exp_out)):
        for name, shape in exp.items():
            arg = table[name]
            if arg.type != "tensor(float)":
                raise PresetError(path, f"{role} {kind} {name!r} has type {arg.type}, "
                                        f"expected tensor(float) (float32)")
            problem = _shape_problem(list(arg.shape) if arg.shape is not None else None, shape)
            if problem:
                raise PresetError(path, f"{role} {kind} {name!r}: {problem}")


# --------------------------------------------------------------------------------------------
# Loading


def _read_json(json_path: Path) -> Any:
    try:
        size = json_path.stat().st_size
    except FileNotFoundError:
        raise PresetError(json_path, "missing (a preset folder holds preset.json)") from None
    if size > MAX_JSON_BYTES:
        raise PresetError(json_path, f"{size} bytes is beyond the sane limit {MAX_JSON_BYTES}")

    try:
        # Python's json reads NaN/Infinity tokens; they are kept so that the field checks can say
        # which number is not finite (e.g. "centroid of class 'kick'[3] is not finite (nan)").
        return json.loads(json_path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise PresetError(json_path, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        # e.msg may end in "at" ("Unterminated string starting at"): the position follows a colon
        raise PresetError(json_path, f"invalid JSON: {e.msg}: line {e.lineno} column {e.colno}"
                          ) from None
    except RecursionError:
        raise PresetError(json_path, "invalid JSON: nested too deeply") from None
    except ValueError as e:  # e.g. an integer literal beyond Python's digit limit
        raise PresetError(json_path, f"invalid JSON: {str(e)[:200]}") from None
    except OSError as e:
        raise PresetError(json_path, f"cannot read: {e.strerror}") from None


def load_preset(name_or_path: str | os.PathLike[str], *, check_onnx: bool = True) -> Preset:
    """Find, read and verify a preset bundle.

    ``name_or_path``: a preset folder, its preset.json, or a NAME found by :func:`resolve_preset`.
    Checks the JSON (see :func:`preset_from_dict`), that every file exists with the sha256 the
    JSON gives, and (``check_onnx``) that each ONNX graph loads in ONNX Runtime with the input and
    output names and shapes of its role. Raises PresetError naming the file and the problem.
    """
    folder = resolve_preset(name_or_path)
    json_path = folder / PRESET_JSON
    preset = replace(preset_from_dict(_read_json(json_path), str(json_path)), path=folder)
    for role, entry in preset.files.items():
        path, digest = folder / entry.path, entry.sha256
        if not path.is_file():
            raise PresetError(path, f"missing ({role} file named in {json_path})")
        size = path.stat().st_size
        if size > MAX_ONNX_BYTES:
            raise PresetError(path, f"{size} bytes is beyond the sane limit {MAX_ONNX_BYTES}")
        actual = sha256_file(path)
        if actual != digest:
            raise PresetError(path, f"sha256 mismatch: the file hashes to {actual[:12]}..., "
                                    f"preset.json says {digest[:12]}... (changed, truncated or "
                                    f"replaced after export)")
    if check_onnx:
        for role in ROLES:
            check_onnx_file(preset.file(role), role, preset.latent_dim, preset.frame_length,
                            len(preset.classes))
    return preset


def _dumps(obj: Any, indent: int = 0) -> str:
    """JSON with one item per line, except lists of numbers, which stay on one line (a centroid
    reads as one row). Raises ValueError on NaN/Infinity, which are not JSON."""
    pad, inner = " " * indent, " " * (indent + 1)
    if isinstance(obj, Mapping) and obj:
        items = [f"{inner}{json.dumps(str(k), ensure_ascii=False)}: {_dumps(v, indent + 1)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)) and obj and not all(
            isinstance(v, (int, float, str, bool)) or v is None for v in obj):
        return "[\n" + ",\n".join(inner + _dumps(v, indent + 1) for v in obj) + "\n" + pad + "]"
    return json.dumps(obj, allow_nan=False, ensure_ascii=False)


def write_preset(folder: str | os.PathLike[str], preset: Preset) -> Path:
    """Write ``preset`` as ``folder/preset.json`` (current version), atomically.

    The document is validated first, as a reader will see it. Returns the path written. Raises
    PresetError (nothing written) when the preset is invalid.
    """
    target = Path(folder) / PRESET_JSON
    data = preset.to_dict()
    preset_from_dict(data, str(target))
    write_text(target, _dumps(data) + "\n")
    return target


# --------------------------------------------------------------------------------------------
# Lookup


def bundled_presets_dir() -> Path:
    """The ``presets/`` package folder shipped with vae-synth."""
    import vae_synth.presets

    return Path(vae_synth.presets.__file__).resolve().parent


def user_presets_dir() -> Path:
    """``$XDG_DATA_HOME/vae-synth/presets`` (default ``~/.local/share/vae-synth/presets``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "vae-synth" / "presets"


def search_path() -> list[tuple[str, Path]]:
    """Folders searched for a preset NAME, in order: ($VAE_SYNTH_PRESETS..., user, bundled)."""
    dirs: list[tuple[str, Path]] = []
    for entry in os.environ.get("VAE_SYNTH_PRESETS", "").split(os.pathsep):
        if entry.strip():
            dirs.append(("env", Path(entry).expanduser()))
    dirs.append(("user", user_presets_dir()))
    dirs.append(("bundled", bundled_presets_dir()))
    return dirs


def resolve_preset(name_or_path: str | os.PathLike[str]) -> Path:
    """The preset folder for a path (folder or its preset.json) or a NAME on the search path.

    Search order: a path that exists, ``$VAE_SYNTH_PRESETS`` folders (``os.pathsep``-separated),
    the user folder, the bundled ``presets/``. Raises PresetError listing what was searched.
    """
    p = Path(name_or_path).expanduser()
    if p.exists():
        if p.is_file() and p.name == PRESET_JSON:
            return p.parent.resolve()
        if p.is_dir():
            if not (p / PRESET_JSON).is_file():
                raise PresetError(p / PRESET_JSON, "missing: this folder is not a preset "
                                                   "(a preset folder holds preset.json)")
            return p.resolve()
        raise PresetError(p, "is not a preset folder (expected a folder holding preset.json)")
    name = str(name_or_path)
    if os.sep in name or (os.altsep and os.altsep in name) or name in ("", ".", ".."):
        raise PresetError(p, "no such preset folder")
    for _, folder in search_path():
        candidate = folder / name
        if (candidate / PRESET_JSON).is_file():
            return candidate.resolve()
    searched = ", ".join(str(f) for _, f in search_path())
    available = sorted({i.name for i in list_presets()})
    raise PresetError(None, f"no preset named {name!r} (searched {searched}); installed: "
                            f"{', '.join(available) if available else 'none'}")


def list_presets(dirs: Iterable[tuple[str, Path]] | None = None) -> list[PresetInfo]:
    """Every preset folder on the search path, in search order, read from preset.json only.

    A preset whose JSON cannot be read is listed with ``error`` set rather than hidden, so
    ``vae-synth presets`` can say what is wrong with it. Hashes and ONNX files are not checked here
    (that is :func:`load_preset`'s job), which keeps listing fast.
    """
    infos: list[PresetInfo] = []
    seen: set[str] = set()
    for source, folder in (search_path() if dirs is None else dirs):
        if not folder.is_dir():
            continue
        for sub in sorted(folder.iterdir()):
            if sub.name.startswith("."):
                continue  # hidden: e.g. an export in progress (.NAME.export-*)
            json_path = sub / PRESET_JSON
            if not json_path.is_file():
                continue
            shadowed = sub.name in seen
            seen.add(sub.name)
            try:
                parsed = preset_from_dict(_read_json(json_path), str(json_path))
            except PresetError as e:
                infos.append(PresetInfo(sub.name, sub, source, shadowed=shadowed, error=str(e)))
                continue
            infos.append(PresetInfo(
                name=sub.name, path=sub, source=source, description=parsed.description,
                class_names=tuple(c.name for c in parsed.classes),
                sample_rate=parsed.sample_rate, frame_length=parsed.frame_length,
                shadowed=shadowed,
            ))
    return infos

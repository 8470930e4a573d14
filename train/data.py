"""Training data: SOURCE strings -> preprocessed, labelled frames split into train and test.

SOURCE syntax (``vae-synth train --data SOURCE``, several allowed)::

    fsdd:PATH | fsdd:download | folder:PATH | synthetic:families | synthetic:fm | synthetic:drums
    [?option=value[&option=value...]]

options: ``speakers=a,b`` (fsdd), ``split=official|holdout:N|holdout:F|none`` (official: the
FSDD test split, indices 0-4; holdout:N: N clips per class, seeded; holdout:0.2: that fraction of
each class; none: everything trains), ``labels=folders|kmeans:K`` (folder), ``n=COUNT``
(synthetic), ``seed=S`` (the source's own seed, default the run's: which clips a holdout split
draws, the KMeans labelling, the synthesis; so one held-out draw can be trained from several
initialisations), ``mirror=URL`` (fsdd:download).

Every clip goes through the thesis preprocessing (:func:`preprocess`): mono, resample to the model
rate, remove DC, peak-normalise, trim leading silence (blocks of 128 samples with mean energy below
5e-5), crop or zero-pad to the frame, short fade-out where a clip was cropped.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

import numpy as np
from vae_synth.train import synthetic

KINDS = ("fsdd", "folder", "synthetic")
SYNTHETIC_SETS = ("families", "fm", "drums")
OPTIONS = {
    "fsdd": {"speakers", "split", "mirror", "seed"},
    "folder": {"split", "labels", "seed"},
    "synthetic": {"split", "n", "seed"},
}
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3")
FSDD_NAME = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.wav$")

FSDD_LICENCE = "CC-BY-SA-4.0"
FSDD_ATTRIBUTION = (
    "Free Spoken Digit Dataset (Jakobovski et al.), "
    "github.com/Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0"
)

DEFAULT_PREPROCESS = {
    "remove_dc": True,
    "peak": 1.0,
    "trim_block": 128,
    "trim_energy": 5e-5,
    "fade_out": 256,
}


class DataError(ValueError):
    """A SOURCE string or a data folder that cannot give any training data."""


class DataWarning(UserWarning):
    """A file that was skipped (unreadable, empty, silent)."""


@dataclass
class SourceSpec:
    """A parsed SOURCE string: ``kind:target?options``."""

    kind: str
    target: str
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def default_rate_and_frame(self) -> tuple[int, int]:
        """(sample_rate, frame_length) this source is usually trained at."""
        if self.kind == "fsdd":
            return 8000, 4096
        if self.kind == "synthetic" and self.target == "families":
            return 8000, 512
        if self.kind == "synthetic" and self.target == "fm":
            return 16000, 8192
        return 22050, 16384


@dataclass
class LabelledAudio:
    """Preprocessed frames with integer labels into ``class_names``.

    train_x [N, L] float32 in [-1, 1], train_y [N] int64, test_x [M, L], test_y [M];
    train_files / test_files: where each clip came from (a path, or "synthetic:drums#12").
    """

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    class_names: list[str]
    sample_rate: int
    frame_length: int
    licence: str = ""
    attribution: str = ""
    train_files: list[str] = field(default_factory=list)
    test_files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> str:
        counts = np.bincount(self.train_y, minlength=self.num_classes)
        tcounts = np.bincount(self.test_y, minlength=self.num_classes)
        per = ", ".join(
            f"{n} {a}/{b}" for n, a, b in zip(self.class_names, counts, tcounts, strict=True)
        )
        return (
            f"{len(self.train_x)} train / {len(self.test_x)} test clips of {self.frame_length} "
            f"samples at {self.sample_rate} Hz; classes (train/test): {per}"
        )


# ----------------------------------------------------------------------------- SOURCE parsing


def parse_source(text: str) -> SourceSpec:
    """Parse ``kind:target?opt=v&opt=v``; raises DataError with the allowed forms on bad input."""
    if ":" not in text:
        raise DataError(
            f"bad SOURCE {text!r}: expected fsdd:PATH, fsdd:download, folder:PATH, "
            "synthetic:families, synthetic:fm or synthetic:drums"
        )
    kind, rest = text.split(":", 1)
    target, _, query = rest.partition("?")
    if kind not in KINDS:
        raise DataError(f"bad SOURCE {text!r}: unknown kind {kind!r} (expected one of {KINDS})")
    if not target:
        raise DataError(f"bad SOURCE {text!r}: missing path or set name after '{kind}:'")
    if kind == "synthetic" and target not in SYNTHETIC_SETS:
        raise DataError(
            f"bad SOURCE {text!r}: unknown synthetic set {target!r} (expected {SYNTHETIC_SETS})"
        )
    options: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, eq, value = part.partition("=")
        if not eq or not value:
            raise DataError(f"bad SOURCE {text!r}: option {part!r} is not key=value")
        if key not in OPTIONS[kind]:
            raise DataError(
                f"bad SOURCE {text!r}: option {key!r} does not apply to {kind} "
                f"(allowed: {sorted(OPTIONS[kind])})"
            )
        options[key] = unquote(value)
    spec = SourceSpec(kind, target, options, text)
    _split_rule(spec)  # validate early
    if "n" in options and (not options["n"].isdigit() or int(options["n"]) < 1):
        raise DataError(f"bad SOURCE {text!r}: n must be a positive integer")
    if "seed" in options and not options["seed"].lstrip("-").isdigit():
        raise DataError(f"bad SOURCE {text!r}: seed must be an integer")
    labels = options.get("labels", "folders")
    if labels != "folders" and not re.fullmatch(r"kmeans:[1-9]\d*", labels):
        raise DataError(f"bad SOURCE {text!r}: labels must be 'folders' or 'kmeans:K'")
    return spec


def _split_rule(spec: SourceSpec) -> tuple[str, float]:
    """("official"|"holdout"|"fraction"|"none", value) from the split option or the default."""
    default = "official" if spec.kind == "fsdd" else "holdout:0.2"
    text = spec.options.get("split", default)
    if text == "official":
        if spec.kind != "fsdd":
            raise DataError(f"bad SOURCE {spec.text!r}: split=official only applies to fsdd")
        return "official", 0
    if text == "none":
        return "none", 0
    m = re.fullmatch(r"holdout:(\d+(?:\.\d+)?)", text)
    if m:
        value = float(m.group(1))
        if "." in m.group(1):
            if not 0 < value < 1:
                raise DataError(f"bad SOURCE {spec.text!r}: a holdout fraction must be in (0, 1)")
            return "fraction", value
        return "holdout", int(value)
    raise DataError(
        f"bad SOURCE {spec.text!r}: split must be official, holdout:N, holdout:FRACTION or none"
    )


# ----------------------------------------------------------------------------- preprocessing


def preprocess(
    audio: np.ndarray, sr_in: int, sample_rate: int, frame_length: int, settings: dict | None = None
) -> np.ndarray | None:
    """One clip [samples] or [samples, channels] -> frame [frame_length] float32, or None if silent.

    Steps (thesis code): mono (channel mean), remove DC, resample to ``sample_rate`` (polyphase),
    peak-normalise to ``settings['peak']``, trim leading blocks of ``trim_block`` samples whose mean
    energy is below ``trim_energy``, crop (with a ``fade_out``-sample fade) or zero-pad.
    """
    from scipy.signal import resample_poly

    s = {**DEFAULT_PREPROCESS, **(settings or {})}
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.size == 0 or not np.all(np.isfinite(x)):
        return None
    if s["remove_dc"]:  # before resampling: a DC step at the clip's edge would ring
        x = x - x.mean()
    if sr_in != sample_rate:
        g = math.gcd(int(sr_in), int(sample_rate))
        x = resample_poly(x, sample_rate // g, sr_in // g)
    peak = np.max(np.abs(x)) if x.size else 0.0
    if peak < 1e-5:
        return None
    x = x / peak
    block = int(s["trim_block"])
    if block > 0:
        n_blocks = len(x) // block
        energy = (x[: n_blocks * block].reshape(n_blocks, block) ** 2).mean(axis=1)
        loud = np.nonzero(energy >= s["trim_energy"])[0]
        if len(loud) == 0:
            return None
        x = x[loud[0] * block :]
    if len(x) > frame_length:
        x = x[:frame_length].copy()
        fade = min(int(s["fade_out"]), frame_length)
        if fade > 0:
            x[-fade:] *= np.linspace(1.0, 0.0, fade)
    out = np.zeros(frame_length, np.float32)
    out[: len(x)] = x
    peak = np.max(np.abs(out))
    if peak < 1e-5:
        return None
    return (out * (s["peak"] / peak)).astype(np.float32)


def read_audio(path: Path) -> tuple[np.ndarray, int]:
    """(audio [samples] or [samples, channels] float64, sample_rate); raises on unreadable files."""
    import soundfile as sf

    data, sr = sf.read(str(path), dtype="float64", always_2d=False)
    return data, int(sr)


def _load_files(
    files: list[Path], sample_rate: int, frame_length: int, settings: dict, skipped: list[str]
) -> tuple[list[np.ndarray], list[int]]:
    """Load and preprocess; returns (frames, indices of the files that were kept)."""
    frames, kept = [], []
    for i, path in enumerate(files):
        try:
            if path.stat().st_size == 0:
                _skip(skipped, path, "empty file (0 bytes)")
                continue
            audio, sr = read_audio(path)
        except Exception as exc:  # any decoder error means "skip this file", never crash halfway
            # libsndfile's own words ("Format not recognised."), without the path said again
            reason = str(getattr(exc, "error_string", "") or exc).rstrip(".")
            _skip(skipped, path, f"unreadable: {reason}")
            continue
        if np.asarray(audio).size == 0:
            _skip(skipped, path, "empty (no samples)")
            continue
        frame = preprocess(audio, sr, sample_rate, frame_length, settings)
        if frame is None:
            _skip(skipped, path, "silent (or not finite)")
            continue
        frames.append(frame)
        kept.append(i)
    return frames, kept


def _skip(skipped: list[str], path: Path, why: str) -> None:
    skipped.append(f"{path}: {why}")
    warnings.warn(f"skipping {path}: {why}", DataWarning, stacklevel=3)


# ----------------------------------------------------------------------------- MFCC + KMeans labels


def mfcc_features(x: np.ndarray, sample_rate: int, n_mfcc: int = 20) -> np.ndarray:
    """Thesis §6 drum features: mean of ``n_mfcc`` MFCCs over 10 ms windows of the first 70 ms.

    x [N, L] -> [N, n_mfcc]. Hann windows of 10 ms, hop 10 ms, 40 mel bands, log, DCT-II.
    """
    import librosa.filters
    from scipy.fft import dct

    win = max(16, int(round(0.010 * sample_rate)))
    n_frames = max(1, int(round(0.070 * sample_rate)) // win)
    n_fft = 1 << (win - 1).bit_length()
    seg = x[:, : n_frames * win].reshape(len(x), n_frames, win) * np.hanning(win)
    spec = np.abs(np.fft.rfft(seg, n=n_fft, axis=-1)) ** 2  # [N, frames, bins]
    mel = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=40)
    logmel = np.log(spec @ mel.T + 1e-10)
    cep = dct(logmel, type=2, norm="ortho", axis=-1)[..., :n_mfcc]
    return cep.mean(axis=1)


def kmeans_labels(x: np.ndarray, sample_rate: int, k: int, seed: int) -> np.ndarray:
    """KMeans (k clusters, seeded) on :func:`mfcc_features`; labels [N] ordered by cluster size."""
    from sklearn.cluster import KMeans

    if len(x) < k:
        raise DataError(f"labels=kmeans:{k} needs at least {k} clips, got {len(x)}")
    feats = mfcc_features(x, sample_rate)
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-8)
    raw = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(feats)
    order = np.argsort(-np.bincount(raw, minlength=k), kind="stable")
    remap = np.empty(k, np.int64)
    remap[order] = np.arange(k)
    return remap[raw]


# ----------------------------------------------------------------------------- sources


@dataclass
class _Part:
    """One source's clips before splitting. ``test_mask`` is set where the source decides it."""

    x: np.ndarray
    y: np.ndarray
    class_names: list[str]
    files: list[str]
    test_mask: np.ndarray | None = None
    licence: str = ""
    attribution: str = ""


def _split_mask(spec: SourceSpec, y: np.ndarray, seed: int) -> np.ndarray:
    """Boolean test mask [N] by the spec's split rule (holdout per class, seeded)."""
    rule, value = _split_rule(spec)
    mask = np.zeros(len(y), bool)
    if rule == "none":
        return mask
    rng = np.random.default_rng(seed)
    for c in np.unique(y):
        idx = np.nonzero(y == c)[0]
        idx = idx[rng.permutation(len(idx))]
        n_test = int(value) if rule == "holdout" else int(round(value * len(idx)))
        if n_test >= len(idx) and len(idx) > 0:
            raise DataError(
                f"{spec.text!r}: split holds out {n_test} clips of a class that has only "
                f"{len(idx)}; nothing would be left to train on"
            )
        mask[idx[:n_test]] = True
    return mask


def _load_fsdd(
    spec: SourceSpec, sample_rate: int, frame_length: int, settings: dict, skipped: list[str]
) -> _Part:
    if spec.target == "download":
        from vae_synth.train.fsdd import fetch_fsdd

        root = fetch_fsdd(mirror=spec.options.get("mirror"))
    else:
        root = Path(spec.target).expanduser()
    if (root / "recordings").is_dir():
        root = root / "recordings"
    if not root.is_dir():
        raise DataError(f"{spec.text!r}: {root} is not a folder")
    speakers = [s for s in spec.options.get("speakers", "").split(",") if s]
    files, meta = [], []
    for path in sorted(root.iterdir()):
        m = FSDD_NAME.match(path.name)
        if not m:
            continue
        digit, speaker, index = int(m.group(1)), m.group(2), int(m.group(3))
        if speakers and speaker not in speakers:
            continue
        files.append(path)
        meta.append((digit, index))
    if not files:
        which = f" for speakers {speakers}" if speakers else ""
        raise DataError(
            f"{spec.text!r}: no FSDD files ({{digit}}_{{speaker}}_{{index}}.wav){which} in {root}"
        )
    frames, kept = _load_files(files, sample_rate, frame_length, settings, skipped)
    if not frames:
        raise DataError(f"{spec.text!r}: none of the {len(files)} files in {root} is usable")
    y = np.array([meta[i][0] for i in kept], np.int64)
    part = _Part(
        np.stack(frames), y, [str(d) for d in range(10)], [str(files[i]) for i in kept],
        licence=FSDD_LICENCE, attribution=FSDD_ATTRIBUTION,
    )
    if _split_rule(spec)[0] == "official":
        part.test_mask = np.array([meta[i][1] <= 4 for i in kept], bool)
    return part


def _load_folder(
    spec: SourceSpec, sample_rate: int, frame_length: int, settings: dict, skipped: list[str],
    seed: int,
) -> _Part:
    root = Path(spec.target).expanduser()
    if not root.is_dir():
        raise DataError(f"{spec.text!r}: {root} is not a folder")
    labels = spec.options.get("labels", "folders")
    if labels == "folders":
        classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not classes:
            raise DataError(f"{spec.text!r}: no class folders ROOT/<class>/*.wav in {root}")
        files, ys = [], []
        for k, name in enumerate(classes):
            found = sorted(
                p for p in (root / name).rglob("*") if p.is_file() and not p.name.startswith(".")
            )
            files += found
            ys += [k] * len(found)
    else:
        files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))
        classes, ys = [], [0] * len(files)
    files_kept = [(f, y) for f, y in zip(files, ys, strict=True)
                  if f.suffix.lower() in AUDIO_SUFFIXES or _warn_suffix(skipped, f)]
    if not files_kept:
        raise DataError(f"{spec.text!r}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in {root}")
    files = [f for f, _ in files_kept]
    frames, kept = _load_files(files, sample_rate, frame_length, settings, skipped)
    if not frames:
        raise DataError(f"{spec.text!r}: none of the {len(files)} audio files in {root} is usable")
    x = np.stack(frames)
    if labels == "folders":
        y = np.array([files_kept[i][1] for i in kept], np.int64)
        used = sorted(set(y.tolist()))
        if len(used) < len(classes):  # a class folder whose files were all skipped
            empty = [c for k, c in enumerate(classes) if k not in used]
            warnings.warn(f"{spec.text!r}: no usable clip in {empty}", DataWarning, stacklevel=2)
            remap = {k: i for i, k in enumerate(used)}
            y = np.array([remap[v] for v in y], np.int64)
            classes = [classes[k] for k in used]
    else:
        k = int(labels.split(":")[1])
        y = kmeans_labels(x, sample_rate, k, seed)
        classes = [f"cluster{i}" for i in range(k)]
    licence, attribution = _folder_licence(root)
    return _Part(x, y, classes, [str(files[i]) for i in kept], licence=licence,
                 attribution=attribution)


def _folder_licence(root: Path) -> tuple[str, str]:
    """(licence, attribution) from ROOT/manifest.csv (columns licence, repo or source) if present."""
    import csv

    manifest = root / "manifest.csv"
    if not manifest.is_file():
        return "", ""
    try:
        with open(manifest, newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return "", ""
    licences = sorted({r.get("licence", "").strip() for r in rows} - {""})
    origins = [o for o in dict.fromkeys((r.get("repo") or r.get("source") or "").strip()
                                        for r in rows) if o]
    attribution = f"{root.name}: {len(rows)} clips from {', '.join(origins)}" if origins else ""
    if licences and attribution:
        attribution += f" ({' AND '.join(licences)})"
    return " AND ".join(licences), attribution


def _warn_suffix(skipped: list[str], path: Path) -> bool:
    if path.suffix.lower() not in (".txt", ".md", ".csv", ".json"):
        _skip(skipped, path, "not an audio file")
    return False


def _load_synthetic(spec: SourceSpec, sample_rate: int, frame_length: int, seed: int) -> _Part:
    name = spec.target
    n = int(spec.options.get("n", {"families": 2000, "fm": 3000, "drums": 400}[name]))
    if name == "drums":
        x, y, classes = synthetic.synth_drums(n, sample_rate, frame_length, seed)
    elif name == "families":
        x, y, classes = synthetic.synth_families(n, frame_length, seed)
    else:
        x, y, classes = synthetic.synth_fm(n, sample_rate, frame_length, seed)
    return _Part(
        x, y, classes, [f"synthetic:{name}#{i}" for i in range(n)],
        licence="CC0-1.0", attribution=f"synthesised by vae-synth (synthetic:{name}, seed {seed})",
    )


def load_source(
    spec: SourceSpec | str, sample_rate: int, frame_length: int, seed: int = 0,
    preprocess_settings: dict | None = None, skipped: list[str] | None = None,
) -> LabelledAudio:
    """Load one source and split it by its rule (see module docstring); ``seed`` is the run's,
    which the source's own ``seed=`` option replaces."""
    spec = parse_source(spec) if isinstance(spec, str) else spec
    seed = int(spec.options.get("seed", seed))
    settings = {**DEFAULT_PREPROCESS, **(preprocess_settings or {})}
    skipped = [] if skipped is None else skipped
    if spec.kind == "fsdd":
        part = _load_fsdd(spec, sample_rate, frame_length, settings, skipped)
    elif spec.kind == "folder":
        part = _load_folder(spec, sample_rate, frame_length, settings, skipped, seed)
    else:
        part = _load_synthetic(spec, sample_rate, frame_length, seed)
    mask = part.test_mask if part.test_mask is not None else _split_mask(spec, part.y, seed)
    files = np.array(part.files, dtype=object)
    return LabelledAudio(
        part.x[~mask], part.y[~mask], part.x[mask], part.y[mask], part.class_names,
        sample_rate, frame_length, part.licence, part.attribution,
        list(files[~mask]), list(files[mask]), skipped,
    )


def load_sources(
    specs: list[str], sample_rate: int, frame_length: int, seed: int = 0,
    preprocess_settings: dict | None = None,
) -> LabelledAudio:
    """Load and mix several SOURCE strings into one LabelledAudio.

    Classes with the same name merge (``folder:drums`` + ``synthetic:drums`` share kick/snare/
    tom/hihat); class order is first appearance. Skipped files are warned about one by one
    (DataWarning) and counted at the end.
    """
    if not specs:
        raise DataError("no --data SOURCE given")
    parts = []
    skipped: list[str] = []
    for text in specs:
        parts.append(load_source(text, sample_rate, frame_length, seed, preprocess_settings, skipped))
    if skipped:
        warnings.warn(f"skipped {len(skipped)} unusable file(s) in total", DataWarning, stacklevel=2)
    names: list[str] = []
    for p in parts:
        names += [c for c in p.class_names if c not in names]
    def remap(p: LabelledAudio, y: np.ndarray) -> np.ndarray:
        table = np.array([names.index(c) for c in p.class_names], np.int64)
        return table[y] if len(y) else y.astype(np.int64)
    # one SPDX term each: "CC-BY-3.0 AND CC0-1.0" and "CC0-1.0" make "CC-BY-3.0 AND CC0-1.0"
    licences = sorted({term for p in parts if p.licence for term in p.licence.split(" AND ")})
    attributions = [p.attribution for p in parts if p.attribution]
    return LabelledAudio(
        np.concatenate([p.train_x for p in parts]).astype(np.float32),
        np.concatenate([remap(p, p.train_y) for p in parts]),
        np.concatenate([p.test_x for p in parts]).astype(np.float32),
        np.concatenate([remap(p, p.test_y) for p in parts]),
        names, sample_rate, frame_length,
        " AND ".join(licences), "; ".join(dict.fromkeys(attributions)),
        sum((p.train_files for p in parts), []), sum((p.test_files for p in parts), []),
        skipped,
    )


def default_rate_and_frame(specs: list[str]) -> tuple[int, int]:
    """(sample_rate, frame_length) implied by the first SOURCE (fsdd 8000/4096, drums 22050/16384)."""
    return parse_source(specs[0]).default_rate_and_frame


# ----------------------------------------------------------------------------- augmentation


@dataclass
class Augment:
    """Random, per-example augmentation of the training clips (never of test data); the
    ``[augment]`` section of a recipe (train/recipe.py).

    gain_db: uniform gain in [-gain_db, 0] dB (clips are peak-normalised, so never louder).
    The copies are also the decoder's targets, so the cut lowers the level it learns: by
    gain_db / 2 * copies / (copies + 1) dB on average (1.25 dB for 3 dB and 5 copies), which
    its decoded class centres (the pads) then lack against the real clips; the encoder
    meets only peak-normalised clips outside training;
    shift: delay by 0..shift samples (zeros in front);
    stretch: play back at a speed drawn uniformly from [1 - stretch, 1 + stretch] (pitch and
    duration together, as a tape or a sampler does; speakers and drums vary this way);
    noise: RMS of white noise for the encoder's input only, drawn afresh at every training step
    by the training model (``losses.make_joint_model(input_noise=...)``); the copies made here
    stay clean, because they are also the decoder's targets;
    interp: how the stretch reads between samples: "linear" (the default, as every preset up
    to the 22.05 kHz drums was trained) or "fft" (band-limited: the clip resampled through its
    spectrum). Linear interpolation is a low-pass: on the 44.1 kHz drums it halved the
    hi-hats' share of energy above 11 kHz (0.51 -> 0.32) and the snares' (0.0047 -> 0.0024),
    and the copies are the decoder's targets too;
    copies: augmented copies of each training clip (when gain, shift or stretch is set);
    balance: further augmented copies of the smaller classes' clips, each clip in turn, until
    every class holds as many examples as the largest: each class weighs alike in training.
    ``--augment gain=3,shift=64,stretch=0.1,noise=0.001,interp=fft`` sets the first five at once.
    """

    gain_db: float = field(default=0.0, metadata={
        "doc": "random cut of up to this many dB (the decoder's targets too: its pads come out "
               "about half as many dB quiet)", "minimum": 0.0})
    shift: int = field(default=0, metadata={
        "doc": "random delay of up to this many samples", "minimum": 0})
    stretch: float = field(default=0.0, metadata={
        "doc": "playback speed within 1 +- this fraction (pitch and length together)",
        "minimum": 0.0})
    noise: float = field(default=0.0, metadata={
        "doc": "RMS of white noise on the encoder's input only, fresh each step", "minimum": 0.0})
    interp: str = field(default="linear", metadata={
        "doc": "how the stretch reads between samples: linear (a low-pass) or fft "
               "(band-limited)", "choices": ("linear", "fft")})
    copies: int = field(default=4, metadata={
        "doc": "augmented copies of each training clip (when gain, shift or stretch is set)",
        "flag": "--augment-copies", "minimum": 0})
    balance: bool = field(default=False, metadata={
        "doc": "further copies of the smaller classes' clips, until every class holds as many "
               "examples as the largest"})

    _KEYS = {"gain": "gain_db", "shift": "shift", "stretch": "stretch", "noise": "noise",
             "interp": "interp"}
    INTERPS = ("linear", "fft")

    @classmethod
    def parse(cls, text: str | None) -> Augment:
        if not text or text == "none":
            return cls()
        values = {}
        for part in text.split(","):
            key, _, val = part.partition("=")
            try:
                values[cls._KEYS[key]] = (int(val) if key == "shift" else val if key == "interp"
                                          else float(val))
            except (KeyError, ValueError):
                raise DataError(f"bad --augment {text!r}: use gain=DB,shift=SAMPLES,"
                                "stretch=FRACTION,noise=RMS,interp=linear|fft") from None
        if values.get("interp", "linear") not in cls.INTERPS:
            raise DataError(f"bad --augment {text!r}: interp is one of {', '.join(cls.INTERPS)}")
        if not 0 <= values.get("stretch", 0) < 0.5:
            raise DataError(f"bad --augment {text!r}: stretch is a fraction in [0, 0.5)")
        return cls(**values)

    @property
    def active(self) -> bool:
        """Whether augmented copies differ from the clips (noise is applied by the model)."""
        return bool(self.gain_db or self.shift or self.stretch)

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """x [B, L] -> augmented copy [B, L] clipped to [-1, 1]."""
        if not self.active:
            return x
        out = x.copy()
        if self.stretch:
            # Speed f: out[t] = x[f t]; past the clip's end is silence.
            t = np.arange(x.shape[1], dtype=np.float64)
            for i, f in enumerate(rng.uniform(1 - self.stretch, 1 + self.stretch, len(x))):
                out[i] = (_resample_speed(x[i], f) if self.interp == "fft"
                          else np.interp(t * f, t, x[i], right=0.0))
        if self.shift:
            src = out.copy() if self.stretch else x   # shift what the stretch made
            for i, d in enumerate(rng.integers(0, self.shift + 1, len(x))):
                if d:
                    out[i, d:] = src[i, :-d]
                    out[i, :d] = 0
        if self.gain_db:
            out *= (10 ** (rng.uniform(-self.gain_db, 0.0, (len(x), 1)) / 20)).astype(
                np.float32
            )
        return np.clip(out, -1, 1)


def _resample_speed(x: np.ndarray, speed: float) -> np.ndarray:
    """x [L] played at ``speed`` through its spectrum (band-limited; a faster playback drops
    what would fold above Nyquist): [L], cut or padded with silence. The clip is zero-padded to
    twice its length first, so the spectrum's periodic wrap cannot bring its tail to its
    start."""
    from scipy.signal import resample

    length = x.shape[-1]
    padded = np.concatenate([x, np.zeros_like(x)]).astype(np.float64)
    y = resample(padded, max(1, int(round(2 * length / speed))))
    out = np.zeros(length, np.float64)
    n = min(length, y.size)
    out[:n] = y[:n]
    return out.astype(x.dtype)

"""A recipe: everything that decides what a training run learns, as one typed, versioned file.

A recipe names the data, the model, the losses, the augmentation and the schedule; how a run is
carried out (its folder, checkpoints, devices, logging) is not part of it (``RunOptions`` in
``trainer.py``). ``presets/<name>/recipe.toml`` is the recipe of a bundled preset::

    vae-synth train --recipe presets/drums/recipe.toml --out runs/drums   # or --recipe drums
    vae-synth train --recipe drums --set schedule.epochs=10 --lr 3e-4 --out runs/quick

A recipe file is TOML (``tomllib``) or JSON with the sections below; every key is optional and
takes the default of its field. Flags of ``vae-synth train`` override single fields (each field's
``flag``; ``--set SECTION.FIELD=VALUE`` reaches every field). The run's ``config.json`` records
the resolved recipe, the overrides and the data root, and ``--resume`` reads that same recipe.

The SOURCE strings of ``[data] sources`` name their files relative to a *data root*
(``--data-root``; :data:`DEFAULT_DATA_ROOT`), never by an absolute path, so a recipe means the
same on every machine. Sources given with ``--data`` are relative to the current folder.

Imports no TensorFlow: the CLI, the tests and ``--print-recipe`` resolve recipes without it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from vae_synth.train.data import Augment, DataError, parse_source

FORMAT = "vae-synth-recipe"
VERSION = 1
# The development layout: the data folder beside the repository (run from the repository root).
# VAE_SYNTH_DATA_ROOT, when set, replaces it; --data-root replaces both.
DEFAULT_DATA_ROOT = "../shared/data"
DATA_ROOT_ENV = "VAE_SYNTH_DATA_ROOT"


class RecipeError(ValueError):
    """A recipe file or an override that does not fit the schema (the message names the key)."""


def _field(default, doc: str, flag: str | None = None, **meta):
    """A schema field: its default, what it means (the CLI's help text), the CLI flag that
    overrides it, and optionally ``choices``, ``const`` (a flag without a value) or ``minimum``."""
    factory = isinstance(default, list)
    return field(default_factory=(lambda: list(default)) if factory else dataclasses.MISSING,
                 default=dataclasses.MISSING if factory else default,
                 metadata={"doc": doc, "flag": flag, **meta})


@dataclass
class DataSection:
    sources: list[str] = _field(
        [], "training data: SOURCE strings (see SOURCE below), paths relative to the data root; "
            "several mix, classes with the same name merge", None)
    sample_rate: int | None = _field(
        None, "model sample rate in Hz (default by the first source)", "--sample-rate", minimum=1)
    frame_length: int | None = _field(
        None, "samples per frame, e.g. 512, 4096, 16384 (default by the first source)",
        "--frame-length", minimum=1)


@dataclass
class ModelSection:
    arch: str = _field("conv", "thesis architecture (Tables 4.1, 4.2)", "--arch",
                       choices=("conv", "dilated", "hybrid"))
    config: str = _field(
        "small", "configuration: thesis (Tables 4.1/4.2 exactly), small (scaled for a CPU), "
                 "fast (conv only: real-time decoder, ~5 ms per 16384 samples), fullband (conv "
                 "only: real-time multiband decoder for 44.1 kHz, 16 sub-bands recombined by a "
                 "PQMF, ~2.5 ms per 32768 samples; frames a multiple of 1024), fullband-gated "
                 "(fullband with a gain per sub-band and step, so its top bands can fall "
                 "silent), fullband-notch (fullband with a notch instead of a box against the "
                 "images of its second transposed convolution, which lets toms keep their "
                 "octave)", "--config")
    encoder: str = _field(
        "waveform", "encoder input: waveform (the configuration's own, as the thesis), logspec "
                    "(a fixed log-STFT front end and three convolutions) or waveform+logspec "
                    "(both side by side, concatenated before the latent); the decoder, which is "
                    "what the player runs, is the same", "--encoder",
        choices=("waveform", "logspec", "logspec512", "waveform+logspec"))
    latent_dim: int = _field(20, "latent size D", "--latent-dim", minimum=1)
    plain: bool = _field(
        False, "plain (non-variational) autoencoder: the latent is the 1x1 bottleneck signal, "
               "no KL, no classifier", "--plain", const=True)
    classifier: str = _field(
        "learned", "learned: the thesis's dense classifier on z; prior (needs loss.class_prior): "
                   "the class prior's own posterior (logit of class c = -|z - m_c|^2 / 2, no "
                   "weights), so the cross-entropy pulls each clip nearer its own class centre "
                   "than any other, the distance the player and the 1-NN measure use",
        "--prior-classifier", const="prior", choices=("learned", "prior"))
    output_gate_db: float | None = _field(
        None, "gate the decoder's output below this level in dBFS (e.g. -50): a downward "
              "expander inside the model, so decoded silence is silent instead of hissing at "
              "-60..-80 dBFS (none: as the thesis)", "--output-gate", metavar="DBFS")
    encoder_dropout: float = _field(
        0.0, "dropout rate on the encoder's flattened features while training (e.g. 0.3): "
             "held-out clips land nearer their class; exported models are unchanged",
        "--encoder-dropout", metavar="RATE", minimum=0.0)
    antialias: bool = _field(
        False, "a moving average as long as the stride after each strided transposed "
               "convolution of the decoder, against the comb of peaks at multiples of the decoder "
               "input's rate that they leave (evaluate's comb_db); no weights. Pair it with "
               "noise_bands", "--antialias", const=True)
    level_head: bool = _field(
        False, "the decoded level (RMS) is a linear function of the latent (in dB), the rest "
               "of the decoder shaping the sound only: between takes, and on the way from one "
               "pad to another, the level stays between theirs instead of falling; needs a "
               "multiband decoder or noise_bands", None)
    noise_bands: int = _field(
        0, "B bands of a filtered-noise branch in the decoder: a fixed noise table on a log "
           "scale over the top 8 octaves, their gains decoded per grid step (DDSP's noise "
           "synthesiser); hi-hats and snares come out as noise instead of a buzz at multiples of "
           "sr / stride; 16 for drums (0: none)", "--noise-bands", metavar="B", minimum=0)
    harmonics: int = _field(
        0, "K harmonics of an oscillator bank in the decoder (DDSP's harmonic synthesiser): per "
           "grid step it decodes an f0 and K amplitudes, trained toward the target's pitch "
           "(loss.f0_weight) (0: none)", "--harmonics", metavar="K", minimum=0)
    f0_range: list[float] = _field(
        [60.0, 400.0], "with harmonics: the f0 range in Hz, of the decoder and of the pitch "
                       "tracker that gives its target (adult speech)", "--f0-range",
        metavar="LO,HI")
    waveform_branch: bool = _field(
        True, "false (with harmonics and/or noise_bands): no transposed-convolution stack; two "
              "3-tap convolutions over the grid steps drive the oscillators and the noise, which "
              "alone make the sound (a DDSP-style decoder)", "--no-waveform-branch", const=False)


@dataclass
class LossSection:
    """The joint loss's weights (train/losses.py). ``--recon mse|stft|mse+stft`` sets the first
    two at once."""

    mse_weight: float = _field(1.0, "weight of the thesis's waveform MSE", "--mse-weight",
                               minimum=0.0)
    stft_weight: float = _field(1.0, "weight of the multi-resolution STFT term", "--stft-weight",
                                minimum=0.0)
    stft_sizes: list[int] = _field([2048, 1024, 512, 256, 128, 64],
                                   "FFT sizes of the multi-resolution STFT term")
    stft_log_eps: float = _field(1e-4, "epsilon inside the STFT term's log magnitude",
                                 minimum=0.0)
    beta: float = _field(1e-3, "KL weight", "--beta", minimum=0.0)
    kl_warmup_steps: int = _field(0, "ramp the KL weight from 0 to beta over this many steps",
                                  "--kl-warmup", metavar="STEPS", minimum=0)
    free_bits: float = _field(0.0, "no KL pressure on a latent dimension below this many nats",
                              "--free-bits", metavar="NATS", minimum=0.0)
    latent_noise: float = _field(
        0.0, "RMS of noise added to each sampled latent while training, over the posterior's own "
             "spread: the decoder learns the neighbourhood of its training clips' points, where "
             "held-out clips, class centres and morphs land (0: the posterior's spread only)",
        "--latent-noise", metavar="RMS", minimum=0.0)
    gamma: float = _field(0.1, "classifier cross-entropy weight", "--gamma", minimum=0.0)
    class_prior: float = _field(
        0.0, "KL toward a prior of each clip's own class, N(m_c, I), the class means this far "
             "apart on their own axes, instead of N(0, I): classes form tight clusters (0: the "
             "thesis's standard prior)", "--class-prior", metavar="SPREAD", minimum=0.0)
    cluster_weight: float = _field(
        0.0, "with class_prior: weight of the mean squared distance of each clip's latent mean to "
             "its class centre, drawing every class into a tighter cluster than the KL alone",
        "--cluster-weight", metavar="W", minimum=0.0)
    mel_weight: float = _field(
        0.0, "weight of a log-mel L1 term; it weights low frequencies as the ear does and keeps "
             "kicks and toms at their level", "--mel-weight", minimum=0.0)
    centre_weight: float = _field(
        0.0, "with mel_weight and a classifier: weight of a term on each class centre (the mean "
             "latent of the batch's clips of a class, decoded): its log-mel against the mean "
             "log-mel of those clips, plus its log energy against theirs: the pads' sounds keep "
             "their class's level and air",
        "--centre-weight", metavar="W", minimum=0.0)
    level_weight: float = _field(
        0.0, "weight of a frame-loudness term (log energy per 1024-sample frame)",
        "--level-weight", minimum=0.0)
    centre_band_weight: float = _field(
        0.0, "with centre_weight: weight of the centre term's level per octave band (each "
             "decoded class centre's mean power per band against its clips'), so a pad's "
             "level sits in its class's bands", "--centre-band-weight", metavar="W", minimum=0.0)
    centre_mix_weight: float = _field(
        0.0, "with centre_weight: weight, relative to the centre's, of the same term at a random "
             "point among each class's clips (drawn anew each step): the centre of any few takes "
             "of a class, such as a held-out set's, keeps their level and spectrum",
        minimum=0.0)
    band_level_weight: float = _field(
        0.0, "weight of a loudness term per frame and octave band (0-40 Hz, 40-80, ...), so "
             "each moment's energy comes back in its own band: no sub-sonic lump in place of "
             "a kick's boom", "--band-level-weight", metavar="W", minimum=0.0)
    clip_level_weight: float = _field(
        0.0, "weight of a clip-level term, the log of each clip's mean power against its "
             "reconstruction's (the RMS level the evaluation reads), so a loud take comes back "
             "loud and a soft one soft", "--clip-level-weight", metavar="W", minimum=0.0)
    air_share_weight: float = _field(
        0.0, "at 44.1 kHz: weight of an air term, the log of each clip's share of energy above "
             "11 kHz against its reconstruction's, so a dull take comes back dull and a bright "
             "one bright", "--air-share-weight", metavar="W", minimum=0.0)
    air_axis_weight: float = _field(
        0.0, "at 44.1 kHz: weight of a term that makes the last latent dimension each clip's "
             "air in dB ((dB above 11 kHz + 20) / 10), exempt from the cluster pull: the "
             "latent carries each take's brightness on an axis of its own",
        "--air-axis-weight", metavar="W", minimum=0.0)
    comb_weight: float = _field(
        0.0, "weight of a comb term, how far each reconstruction's spectrum peaks at multiples "
             "of sr / period beyond its clip's: the buzz a strided decoder makes when it draws "
             "noise as one repeated shape per step", minimum=0.0)
    comb_periods: list[int] = _field(
        [], "with comb_weight: the periods (samples) whose combs it reads, each counted in full, "
            "e.g. [64, 128, 256, 512, 1024, 2048] for every grid of a strided stack; none: two "
            "steps of the decoder's coarsest grid")
    mel_fft: int = _field(
        2048, "FFT size of the log-mel term (93 ms at 22.05 kHz, but 256 ms at 8 kHz; 256 "
              "follows speech's formants at 32 ms)", "--mel-fft", metavar="N", minimum=2)
    mel_bands: int = _field(64, "mel bands of the log-mel term", "--mel-bands", metavar="M",
                            minimum=1)
    f0_weight: float = _field(
        1.0, "with harmonics: weight of the pitch term (octaves between the decoded f0 and the "
             "target's pitch over its voiced frames)", "--f0-weight", minimum=0.0)
    voiced_noise_weight: float = _field(
        0.0, "with harmonics and noise_bands: weight of a penalty on the noise gains where the "
             "target is voiced, so vowels come from the oscillators", "--voiced-noise-weight",
        minimum=0.0)


@dataclass
class ScheduleSection:
    epochs: int = _field(100, "passes over the training set (unless steps is set)", "--epochs",
                         minimum=1)
    steps: int | None = _field(None, "optimizer steps, rounded up to whole epochs; replaces epochs",
                               "--steps", minimum=1)
    batch_size: int = _field(16, "global batch size", "--batch-size", minimum=1)
    lr: float = _field(1e-4, "Adam learning rate", "--lr", exclusive_minimum=0.0)
    lr_schedule: str = _field("constant", "constant, or cosine decay to 5 % of lr over the "
                                          "planned steps", "--lr-schedule",
                              choices=("constant", "cosine"))
    clipnorm: float = _field(1.0, "gradient clipping norm", "--clipnorm", exclusive_minimum=0.0)
    seed: int = _field(0, "seed for the data split, initialisation and sampling", "--seed")


SECTIONS: dict[str, type] = {"data": DataSection, "augment": Augment, "model": ModelSection,
                             "loss": LossSection, "schedule": ScheduleSection}
# loss weights that only mean something with a harmonic branch (config.json leaves them out else)
HARMONIC_LOSS_KEYS = ("f0_weight", "voiced_noise_weight")
# loss settings added after presets were shipped: config.json records them only when they are on,
# so a shipped preset's recorded configuration stays what its recipe resolves to
LATER_LOSS_KEYS = ("centre_weight", "air_share_weight", "air_axis_weight", "clip_level_weight",
                   "band_level_weight", "centre_band_weight", "latent_noise", "centre_mix_weight",
                   "comb_weight", "comb_periods")


@dataclass
class Recipe:
    """A training recipe (see the module docstring). Build one with :meth:`from_dict`,
    :func:`load_recipe` or :meth:`replace`; every constructor validates."""

    name: str = ""
    description: str = ""
    data: DataSection = field(default_factory=DataSection)
    augment: Augment = field(default_factory=Augment)
    model: ModelSection = field(default_factory=ModelSection)
    loss: LossSection = field(default_factory=LossSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)

    # ------------------------------------------------------------------ (de)serialisation

    def to_dict(self) -> dict:
        """{format, version, name, description, <section>: {field: value}}; None fields left out
        (TOML has no null: a missing key means the field's default)."""
        out: dict = {"format": FORMAT, "version": VERSION}
        if self.name:
            out["name"] = self.name
        if self.description:
            out["description"] = self.description
        for section in SECTIONS:
            values = dataclasses.asdict(getattr(self, section))
            out[section] = {k: v for k, v in values.items() if v is not None}
        return out

    @classmethod
    def from_dict(cls, values: dict, where: str = "recipe") -> Recipe:
        if not isinstance(values, dict):
            raise RecipeError(f"{where}: expected a table of sections, got {type(values).__name__}")
        values = dict(values)
        fmt = values.pop("format", FORMAT)
        version = values.pop("version", VERSION)
        if fmt != FORMAT:
            raise RecipeError(f"{where}: format is {fmt!r}, expected {FORMAT!r}")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise RecipeError(f"{where}: version must be a positive integer, got {version!r}")
        if version > VERSION:
            raise RecipeError(f"{where}: recipe version {version} is newer than this vae-synth "
                              f"reads ({VERSION}); update vae-synth")
        top = {"name", "description", *SECTIONS}
        unknown = sorted(set(values) - top)
        if unknown:
            raise RecipeError(f"{where}: unknown key(s) {unknown}; a recipe has "
                              f"{sorted(top)}")
        kwargs = {}
        for key in ("name", "description"):
            if key in values:
                if not isinstance(values[key], str):
                    raise RecipeError(f"{where}: {key} must be a string")
                kwargs[key] = values[key]
        for section, section_cls in SECTIONS.items():
            table = values.get(section, {})
            if not isinstance(table, dict):
                raise RecipeError(f"{where}: [{section}] must be a table of fields")
            kwargs[section] = _section_from_dict(section_cls, table, f"{where}: {section}")
        recipe = cls(**kwargs)
        recipe.validate(where)
        return recipe

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "recipe") -> Recipe:
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecipeError(f"{where}: not valid JSON ({exc})") from None
        return cls.from_dict(values, where)

    def to_toml(self) -> str:
        """The recipe as TOML (what each field means: ``vae-synth train --help``)."""
        values = self.to_dict()
        lines = ["# a vae-synth training recipe; fields: `vae-synth train --help`, docs/TRAINING.md",
                 f"format = {_toml_value(FORMAT)}", f"version = {VERSION}"]
        for key in ("name", "description"):
            if key in values:
                lines.append(f"{key} = {_toml_value(values[key])}")
        for section in SECTIONS:
            lines += ["", f"[{section}]"]
            lines += [f"{key} = {_toml_value(value)}" for key, value in values[section].items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_toml(cls, text: str, where: str = "recipe") -> Recipe:
        try:
            values = _tomllib().loads(text)
        except _tomllib().TOMLDecodeError as exc:
            raise RecipeError(f"{where}: not valid TOML ({exc})") from None
        return cls.from_dict(values, where)

    # ------------------------------------------------------------------ overrides

    def replace(self, overrides: dict[str, object], where: str = "override") -> Recipe:
        """A copy with ``{"section.field": value}`` applied, validated; the recipe's own
        fields are ``name`` and ``description``. Setting ``schedule.epochs`` clears
        ``schedule.steps`` (the later word on how long to train wins)."""
        values = self.to_dict()
        for path, value in overrides.items():
            section, dot, name = path.partition(".")
            if not dot:
                if path not in ("name", "description"):
                    raise RecipeError(f"{where}: {path!r} is not SECTION.FIELD (sections: "
                                      f"{', '.join(SECTIONS)})")
                values[path] = value
                continue
            if section not in SECTIONS:
                raise RecipeError(f"{where}: unknown section {section!r} in {path!r} "
                                  f"(sections: {', '.join(SECTIONS)})")
            known = [f.name for f in dataclasses.fields(SECTIONS[section])]
            if name not in known:
                raise RecipeError(f"{where}: {section} has no field {name!r} (fields: "
                                  f"{', '.join(known)})")
            if value is None:
                values[section].pop(name, None)
            else:
                values[section][name] = value
            if path == "schedule.epochs":
                values["schedule"].pop("steps", None)
        return Recipe.from_dict(values, where)

    # ------------------------------------------------------------------ validation

    def validate(self, where: str = "recipe") -> None:
        """Cross-field rules (single fields are checked as they are read)."""
        from vae_synth.train import models

        try:
            models.resolve_config(self.model.arch, self.model.config, self.model.encoder)
        except ValueError as exc:
            raise RecipeError(f"{where}: model: {exc}") from None
        if self.model.classifier == "prior" and not self.loss.class_prior:
            raise RecipeError(f"{where}: --prior-classifier needs --class-prior SPREAD "
                              "(model.classifier = 'prior' needs loss.class_prior, the class "
                              "centres)")
        if self.loss.centre_weight and self.model.plain:
            raise RecipeError(f"{where}: --centre-weight needs a variational model with class "
                              "labels (a plain autoencoder has no classifier)")
        if self.loss.centre_weight and not self.loss.mel_weight:
            raise RecipeError(f"{where}: --centre-weight needs --mel-weight (loss.centre_weight "
                              "compares log-mel spectrograms with the mel term's filterbank)")
        if self.loss.centre_band_weight and not self.loss.centre_weight:
            raise RecipeError(f"{where}: --centre-band-weight needs --centre-weight (it reads "
                              "the centre term's decoded class centres per octave band)")
        if self.loss.comb_periods and not self.loss.comb_weight:
            raise RecipeError(f"{where}: loss.comb_periods needs loss.comb_weight (the weight of "
                              "the comb term that reads them)")
        if self.loss.centre_mix_weight and not self.loss.centre_weight:
            raise RecipeError(f"{where}: loss.centre_mix_weight needs loss.centre_weight (it is "
                              "the centre term at random mixtures of a class's clips)")
        if self.augment.balance and not (self.augment.active and self.augment.copies):
            raise RecipeError(f"{where}: augment.balance needs augmented copies (augment.copies "
                              "above 0 and gain_db, shift or stretch set): the smaller classes "
                              "are filled up with copies, never with the same clip again")
        if self.loss.cluster_weight and not self.loss.class_prior:
            raise RecipeError(f"{where}: --cluster-weight needs --class-prior SPREAD "
                              "(loss.cluster_weight needs loss.class_prior, the class centres)")
        for key, flag in (("air_share_weight", "--air-share-weight"),
                          ("air_axis_weight", "--air-axis-weight")):
            if not getattr(self.loss, key):
                continue
            rate = self.data.sample_rate
            if rate is None and self.data.sources:
                rate = self.rate_and_frame()[0]  # the first source's rate
            # at 22.05 kHz the band above 11 kHz is the last bin or two below Nyquist
            if rate is not None and rate <= 22050:
                raise RecipeError(f"{where}: {flag} needs a sample rate above "
                                  f"22050 Hz (no band above 11 kHz at {rate})")
        lo_hi = self.model.f0_range
        if len(lo_hi) != 2 or not 0 < lo_hi[0] < lo_hi[1]:
            raise RecipeError(f"{where}: model.f0_range must be [LO, HI] with 0 < LO < HI, got "
                              f"{lo_hi}")
        if not 0 <= self.augment.stretch < 0.5:
            raise RecipeError(f"{where}: augment.stretch is a fraction in [0, 0.5)")
        if self.model.encoder_dropout >= 1:
            raise RecipeError(f"{where}: model.encoder_dropout is a rate in [0, 1)")
        if self.model.level_head and not (
                self.model.noise_bands or self.model.harmonics
                or self.model.config.startswith("fullband")):
            raise RecipeError(f"{where}: model.level_head needs a decoder whose output is a "
                              "sum before its tanh: a fullband configuration, noise_bands or "
                              "harmonics")
        for text in self.data.sources:
            try:
                parse_source(text)
            except DataError as exc:
                raise RecipeError(f"{where}: data.sources: {exc}") from None

    def check_portable(self, where: str) -> None:
        """A recipe *file* names its data relative to the data root, never absolutely."""
        for text in self.data.sources:
            spec = parse_source(text)
            if spec.kind in ("fsdd", "folder") and spec.target != "download" and (
                    PurePath(spec.target).is_absolute() or spec.target.startswith("~")):
                raise RecipeError(
                    f"{where}: data.sources: {text!r} names an absolute path; a recipe names "
                    "its data relative to the data root (give the root with --data-root)")

    # ------------------------------------------------------------------ resolution

    def sources(self, data_root: str | os.PathLike = ".") -> list[str]:
        """The SOURCE strings with their paths joined to ``data_root`` (what load_sources reads)."""
        return [resolve_source(text, data_root) for text in self.data.sources]

    def rate_and_frame(self) -> tuple[int, int]:
        """(sample_rate, frame_length): the recipe's, else the first source's defaults."""
        sr, fl = self.data.sample_rate, self.data.frame_length
        if sr is None or fl is None:
            if not self.data.sources:
                raise RecipeError("the recipe names no data (data.sources, or --data SOURCE)")
            dsr, dfl = parse_source(self.data.sources[0]).default_rate_and_frame
            sr, fl = sr or dsr, fl or dfl
        return sr, fl

    def model_config(self) -> dict:
        """The resolved model configuration (train/models.py's dict, stored in config.json)."""
        from vae_synth.train import models

        m = self.model
        cfg = models.resolve_config(m.arch, m.config, m.encoder)
        if m.output_gate_db is not None:
            cfg["output_gate_db"] = float(m.output_gate_db)
        if m.encoder_dropout:
            cfg["encoder_dropout"] = float(m.encoder_dropout)
        if m.antialias:
            cfg["antialias"] = True
        if m.level_head:
            cfg["level_head"] = True
        if m.noise_bands:
            cfg["noise_bands"] = int(m.noise_bands)
        if not m.waveform_branch:
            cfg["waveform_branch"] = False
        if m.harmonics:
            cfg["harmonics"] = {"count": int(m.harmonics), "f0_min": float(m.f0_range[0]),
                                "f0_max": float(m.f0_range[1]),
                                "sample_rate": self.rate_and_frame()[0]}
        if m.classifier == "prior":
            cfg.update(classifier="prior", prior_spread=float(self.loss.class_prior))
        return cfg

    def augment_config(self) -> dict:
        """The augmentation's settings for config.json; ``interp`` and ``balance`` only when
        they are not what every run did before the options existed (linear interpolation, no
        balancing), so earlier runs' configurations read back as their recipes."""
        cfg = dataclasses.asdict(self.augment)
        if cfg["interp"] == "linear":
            cfg.pop("interp")
        if not cfg["balance"]:
            cfg.pop("balance")
        return cfg

    def loss_config(self) -> dict:
        """The joint loss's settings (train/losses.py), with the sample rate; the weights of the
        harmonic branch only when the decoder has one, later terms only when they are on."""
        cfg = {**dataclasses.asdict(self.loss), "sample_rate": self.rate_and_frame()[0]}
        if not self.model.harmonics:
            for key in HARMONIC_LOSS_KEYS:
                cfg.pop(key)
        for key in LATER_LOSS_KEYS:
            if not cfg[key]:
                cfg.pop(key)
        return cfg

    def run_config(self, data_root: str | os.PathLike = ".") -> dict:
        """The recipe's part of a run's config.json: everything a run is rebuilt from except
        what the data gives (class names, file lists, licence) and the resolved latent size of a
        plain run."""
        sr, fl = self.rate_and_frame()
        sources = self.sources(data_root)
        return {
            "arch": self.model.arch,
            "config": self.model.config,
            "encoder": self.model.encoder,
            "model": self.model_config(),
            "latent_dim": self.model.latent_dim,
            "sample_rate": sr,
            "frame_length": fl,
            "sources": sources,
            "split": {s: parse_source(s).options.get(
                "split", "official" if s.startswith("fsdd:") else "holdout:0.2") for s in sources},
            "augment": self.augment_config(),
            "seed": self.schedule.seed,
            "loss": self.loss_config(),
            "optimizer": {"name": "adam", "lr": self.schedule.lr,
                          "clipnorm": self.schedule.clipnorm,
                          "lr_schedule": self.schedule.lr_schedule},
            "batch_size": self.schedule.batch_size,
            "plain": self.model.plain,
        }

    def epochs_for(self, steps_per_epoch: int) -> int:
        """Whole epochs the schedule asks for (steps rounded up to whole epochs)."""
        s = self.schedule
        return math.ceil(s.steps / steps_per_epoch) if s.steps else s.epochs

    # ------------------------------------------------------------------ runs written before recipes

    @classmethod
    def from_run_config(cls, config: dict) -> Recipe:
        """The recipe of a run's config.json: its own record, or, for a run written before
        recipes (config.json version 1), rebuilt from the flat keys (sources as recorded)."""
        if "recipe" in config:
            return cls.from_dict(config["recipe"], "config.json: recipe")
        model = config.get("model") or {}
        loss = dict(config.get("loss") or {})
        loss.pop("sample_rate", None)
        harm = model.get("harmonics") or {}
        optimizer = config.get("optimizer") or {}
        values = {
            "data": {"sources": list(config["sources"]), "sample_rate": config["sample_rate"],
                     "frame_length": config["frame_length"]},
            "augment": dict(config.get("augment") or {}),
            "model": {
                "arch": config["arch"], "config": config["config"],
                "encoder": config.get("encoder", "waveform"), "plain": config.get("plain", False),
                **({} if config.get("plain") else {"latent_dim": config["latent_dim"]}),
                "classifier": "prior" if model.get("classifier") == "prior" else "learned",
                "output_gate_db": model.get("output_gate_db"),
                "encoder_dropout": model.get("encoder_dropout", 0.0),
                "antialias": model.get("antialias", False),
                "noise_bands": model.get("noise_bands", 0),
                "harmonics": harm.get("count", 0),
                "f0_range": [harm.get("f0_min", 60.0), harm.get("f0_max", 400.0)],
                "waveform_branch": model.get("waveform_branch", True),
            },
            "loss": loss,
            "schedule": {"batch_size": config.get("batch_size", 16),
                         "lr": optimizer.get("lr", 1e-4),
                         "clipnorm": optimizer.get("clipnorm", 1.0),
                         "lr_schedule": optimizer.get("lr_schedule", "constant"),
                         "seed": config.get("seed", 0)},
        }
        values["model"] = {k: v for k, v in values["model"].items() if v is not None}
        return cls.from_dict(values, "config.json")


# --------------------------------------------------------------------------------- files


def bundled_recipes() -> dict[str, Path]:
    """{preset name: its recipe.toml} of the bundled presets that ship one."""
    import importlib.resources

    root = importlib.resources.files("vae_synth.presets")
    found = {}
    for entry in root.iterdir():
        candidate = entry / "recipe.toml"
        if entry.is_dir() and candidate.is_file():
            found[entry.name] = Path(str(candidate))
    return dict(sorted(found.items()))


def find_recipe(name_or_path: str) -> Path:
    """A recipe file: a path (.toml/.json, or a folder holding recipe.toml) or the name of a
    bundled preset with a recipe."""
    path = Path(name_or_path).expanduser()
    if path.is_dir() and (path / "recipe.toml").is_file():
        return path / "recipe.toml"
    if path.is_file():
        return path
    bundled = bundled_recipes()
    if name_or_path in bundled:
        return bundled[name_or_path]
    raise RecipeError(f"--recipe {name_or_path!r}: no such file, and no bundled preset of that "
                      f"name has a recipe (bundled: {', '.join(bundled) or 'none'})")


def load_recipe(name_or_path: str) -> tuple[Recipe, Path]:
    """Read and validate a recipe file (TOML, or JSON by its .json suffix) -> (recipe, path)."""
    path = find_recipe(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(f"{path}: cannot read ({exc})") from None
    where = str(path)
    recipe = (Recipe.from_json(text, where) if path.suffix == ".json"
              else Recipe.from_toml(text, where))
    recipe.check_portable(where)
    return recipe, path


def default_data_root() -> str:
    return os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT


def resolve_source(text: str, data_root: str | os.PathLike) -> str:
    """``folder:drums?split=none`` with root ``../data`` -> ``folder:../data/drums?split=none``;
    absolute paths, ``fsdd:download`` and synthetic sets are left as they are."""
    spec = parse_source(text)
    root = str(data_root)
    if spec.kind not in ("fsdd", "folder") or spec.target == "download" or root in ("", "."):
        return text
    target = spec.target
    if PurePath(target).is_absolute() or target.startswith("~"):
        return text
    kind, _, rest = text.partition(":")
    _, query_mark, query = rest.partition("?")
    return f"{kind}:{PurePath(root) / target}{query_mark}{query}"


# --------------------------------------------------------------------------------- helpers


def field_of(path: str) -> dataclasses.Field:
    """The schema field ``"section.field"``."""
    section, _, name = path.partition(".")
    for f in dataclasses.fields(SECTIONS[section]):
        if f.name == name:
            return f
    raise KeyError(path)


def default_of(path: str):
    f = field_of(path)
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


def field_type(path: str):
    section, _, name = path.partition(".")
    return typing.get_type_hints(SECTIONS[section])[name]


def _section_from_dict(section_cls: type, values: dict, where: str):
    hints = typing.get_type_hints(section_cls)
    fields = {f.name: f for f in dataclasses.fields(section_cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise RecipeError(f"{where}: unknown field(s) {unknown}; fields: {', '.join(fields)}")
    kwargs = {}
    for name, value in values.items():
        f = fields[name]
        value = _coerce(value, hints[name], f"{where}.{name}")
        choices = f.metadata.get("choices")
        if choices and value not in choices:
            raise RecipeError(f"{where}.{name}: {value!r} is not one of {', '.join(choices)}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low = f.metadata.get("minimum")
            if low is not None and value < low:
                raise RecipeError(f"{where}.{name}: {value!r} is below {low}")
            above = f.metadata.get("exclusive_minimum")
            if above is not None and not value > above:
                raise RecipeError(f"{where}.{name}: {value!r} must be above {above}")
        kwargs[name] = value
    return section_cls(**kwargs)


def _coerce(value, hint, where: str):
    """Check ``value`` against the field's type; ints are accepted where floats are asked for."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        args = typing.get_args(hint)
    if typing.get_origin(hint) is list:
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{where}: expected a list, got {value!r}")
        return [_coerce(v, args[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise RecipeError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise RecipeError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise RecipeError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise RecipeError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"{where}: unsupported schema type {hint!r}")  # a schema defect


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON's escapes are TOML's basic string's
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser from PyPI
        import tomli as tomllib
    return tomllib

"""`vae-synth train`: arguments and entry point. Imports nothing heavy until run_train()."""

from __future__ import annotations

import argparse
import dataclasses
import sys

EPILOG = """\
SOURCE (repeat --data to mix sources; classes with the same name merge):
  fsdd:PATH            Free Spoken Digit Dataset folder ({digit}_{speaker}_{index}.wav, 8 kHz)
  fsdd:download        the same, fetched once into the user cache (pinned commit, checksums);
                       add mirror=URL for a mirror, or VAE_SYNTH_FSDD_MIRROR
  folder:PATH          one-shots in PATH/<class>/*.wav (any rate/channels -> mono, resampled)
  synthetic:drums      kick/snare/tom/hihat from the project's drum synthesiser
  synthetic:families   thesis families: sine, sawtooth, Gaussian-modulated sine (+ noise)
  synthetic:fm         thesis FM study set: sine, chirp, FM sine
options after '?', joined by '&':
  speakers=nicolas,jackson   (fsdd) speakers to use
  split=official             (fsdd default) the dataset's test split, indices 0-4
  split=holdout:N            N clips per class held out (seeded); holdout:0.2 = 20 % per class
  split=none                 everything trains (e.g. synthesised augmentation data)
  labels=folders|kmeans:K    (folder) class from the folder name, or KMeans on MFCCs (thesis §6)
  n=COUNT, seed=S            (synthetic) how many clips, and their seed (default --seed)

Defaults by the first source: fsdd 8000 Hz / 4096 samples, folder and synthetic:drums
22050 Hz / 16384, synthetic:families 8000 / 512, synthetic:fm 16000 / 8192.

RECIPES: a recipe file (TOML) holds everything a run learns: [data], [augment], [model], [loss]
and [schedule], one key per option below (docs/TRAINING.md). Its SOURCE paths are relative to
the data root (--data-root); SOURCE paths given with --data are relative to the current folder.
Flags override single fields of the recipe; --set SECTION.FIELD=VALUE reaches every field.

examples:
  vae-synth train --recipe drums --out runs/drums              # the bundled drums preset's recipe
  vae-synth train --recipe presets/digits/recipe.toml --data-root ~/data --out runs/digits
  vae-synth train --recipe drums --epochs 5 --set augment.copies=1 --out runs/quick
  vae-synth train --data "fsdd:data/fsdd?speakers=nicolas" --arch conv --config small \\
      --out runs/digits --steps 3000
  vae-synth train --data folder:data/drums --arch conv --config fast --print-recipe > mine.toml
  vae-synth train --out runs/digits --resume --steps 6000     # continue a killed run

RUN_DIR gets config.json, checkpoints/{last,best,backup}, logs/ (TensorBoard, metrics.csv),
history.csv and metrics.json (held-out recon SNR, recon_ratio, class-centre levels, accuracy).
"""




def _f0_range(text: str) -> list[float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give LO,HI in Hz") from None
    if not 0 < lo < hi:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 < LO < HI")
    return [lo, hi]


def _recipe_flag(group, path: str) -> None:
    """The flag of recipe field ``path`` ("section.field"), its help from the schema; it is
    None unless given, so only given flags override the recipe."""
    from vae_synth.train import recipe as R

    f = R.field_of(path)
    meta = f.metadata
    default = R.default_of(path)
    shown = "none" if default is None else ",".join(map(str, default)) if isinstance(
        default, list) else default
    said = "default" in meta["doc"] or "none)" in meta["doc"]  # the doc tells it already
    text = f"{meta['doc']} ({path}{'' if said else f'; default {shown}'})".replace("%", "%%")
    if "const" in meta:
        group.add_argument(meta["flag"], dest=path, action="store_const", const=meta["const"],
                           default=None, help=text)
        return
    kind = R.field_type(path)
    parse = _f0_range if path == "model.f0_range" else (
        int if int in (kind, *getattr(kind, "__args__", ())) else
        float if float in (kind, *getattr(kind, "__args__", ())) else str)
    group.add_argument(meta["flag"], dest=path, type=parse, default=None,
                       choices=meta.get("choices"), metavar=meta.get("metavar", f.name.upper()),
                       help=text)


def _flagged(section: str) -> list[str]:
    """The recipe fields of ``section`` that have a flag of their own, as "section.field"."""
    from vae_synth.train.recipe import SECTIONS

    return [f"{section}.{f.name}" for f in dataclasses.fields(SECTIONS[section])
            if f.metadata.get("flag")]


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    # the recipe schema (and with it numpy and scipy) loads only for `vae-synth train`
    from vae_synth.train import recipe as R

    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    r = parser.add_argument_group("recipe")
    r.add_argument("--recipe", metavar="FILE|NAME",
                   help="a recipe file (.toml or .json, or a folder holding recipe.toml), or the "
                        "name of a bundled preset (drums, digits): its recipe, which rebuilds it "
                        f"(bundled: {', '.join(R.bundled_recipes()) or 'none'})")
    r.add_argument("--data-root", metavar="DIR",
                   help="the folder SOURCE paths are relative to (default: the current folder "
                        f"for --data, ${R.DATA_ROOT_ENV} or {R.DEFAULT_DATA_ROOT} for a "
                        "recipe's own sources: the data folder beside the repository)")
    r.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   dest="set_fields",
                   help="override any recipe field, VALUE in TOML (e.g. --set "
                        "loss.stft_sizes=[1024,256] --set model.config=fast); repeat")
    r.add_argument("--print-recipe", action="store_true",
                   help="print the resolved recipe (the file and every override) as TOML and "
                        "exit: turns a command line into a recipe file")
    g = parser.add_argument_group("data")
    g.add_argument("--data", action="append", metavar="SOURCE", dest="sources",
                   help="training data (see SOURCE below); repeat to mix sources; replaces the "
                        "recipe's data.sources")
    for path in _flagged("data"):
        _recipe_flag(g, path)
    g.add_argument("--augment", metavar="SPEC",
                   help="augmentation of the training clips: "
                        "gain=DB,shift=SAMPLES,stretch=FRACTION,noise=RMS,interp=linear|fft "
                        "(random cut of up to DB, delay of up to SAMPLES, playback speed within "
                        "1 +- FRACTION, which moves pitch and length together, read between "
                        "samples linearly (default; a low-pass) or band-limited through the "
                        "spectrum (fft: keeps the top octave); white noise of RMS on the "
                        "encoder's input only, fresh each step: the decoder learns the clean "
                        "clip); sets all five of augment.gain_db, shift, stretch, noise, interp "
                        "(one left out takes its default: 0, linear)")
    for path in _flagged("augment"):
        _recipe_flag(g, path)
    m = parser.add_argument_group("model")
    for path in _flagged("model"):
        _recipe_flag(m, path)
    t = parser.add_argument_group("training")
    t.add_argument("--out", required=False, metavar="RUN_DIR", help="run folder to write")
    how_long = t.add_mutually_exclusive_group()
    _recipe_flag(how_long, "schedule.steps")
    _recipe_flag(how_long, "schedule.epochs")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in RUN_DIR where it stopped (its recipe from "
                        "config.json; only --epochs or --steps may change)")
    t.add_argument("--overwrite", action="store_true", help="start over in an existing RUN_DIR")
    for path in _flagged("schedule"):
        if path not in ("schedule.steps", "schedule.epochs"):
            _recipe_flag(t, path)
    lo = parser.add_argument_group("loss")
    lo.add_argument("--recon", choices=["mse", "stft", "mse+stft"],
                    help="reconstruction loss: thesis waveform MSE, multi-resolution STFT, or "
                         "both (sets loss.mse_weight and loss.stft_weight to 0 or 1; default "
                         "both: MSE alone collapses to near-silence)")
    for path in _flagged("loss"):
        _recipe_flag(lo, path)
    r = parser.add_argument_group("checkpoints, logs, devices")
    r.add_argument("--checkpoint-every", type=int, default=1, metavar="EPOCHS",
                   help="write checkpoints/last every EPOCHS epochs (and at the end)")
    r.add_argument("--monitor-every", type=int, default=5, metavar="EPOCHS",
                   help="log held-out reconstruction SNR and level every EPOCHS epochs (0: off)")
    r.add_argument("--distribute", choices=["auto", "none", "mirrored", "multiworker", "jax"],
                   default="auto",
                   help="auto: MultiWorkerMirroredStrategy if TF_CONFIG is set, MirroredStrategy "
                        "with several GPUs, keras.distribution.DataParallel on several JAX devices")
    r.add_argument("--cpu-replicas", type=int, default=0,
                   help="split the CPU into N logical devices (testing MirroredStrategy)")
    r.add_argument("--mixed-precision", choices=["auto", "on", "off"], default="auto",
                   help="mixed_float16 (auto: on when a GPU is present)")
    r.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard event files")
    r.add_argument("--quiet", action="store_true", help="no progress bar")


def _set_value(text: str) -> tuple[str, object]:
    """``--set SECTION.FIELD=VALUE``: VALUE read as TOML, else taken as a string."""
    from vae_synth.train import recipe as R

    path, eq, value = text.partition("=")
    if not eq or not path:
        raise R.RecipeError(f"--set {text!r}: expected SECTION.FIELD=VALUE")
    try:
        return path.strip(), R._tomllib().loads(f"v = {value}")["v"]
    except R._tomllib().TOMLDecodeError:
        return path.strip(), value


def overrides_from_args(args: argparse.Namespace) -> dict[str, object]:
    """{"section.field": value} of every recipe field the command line sets: --set first, then
    the named flags (so a named flag wins)."""
    from vae_synth.train.data import Augment
    from vae_synth.train.recipe import SECTIONS

    overrides: dict[str, object] = dict(_set_value(text) for text in args.set_fields)
    if args.sources:
        overrides["data.sources"] = list(args.sources)
    if args.augment is not None:
        augment = Augment.parse(args.augment)
        for name in ("gain_db", "shift", "stretch", "noise", "interp"):
            overrides[f"augment.{name}"] = getattr(augment, name)
    if args.recon is not None:
        overrides["loss.mse_weight"] = 0.0 if args.recon == "stft" else 1.0
        overrides["loss.stft_weight"] = 0.0 if args.recon == "mse" else 1.0
    for path in (path for section in SECTIONS for path in _flagged(section)):
        value = vars(args).get(path)
        if value is not None:
            overrides[path] = value
    return overrides


def recipe_from_args(args: argparse.Namespace) -> tuple:
    """(the resolved recipe, the data root) of a new run: the recipe file (or the defaults)
    with the command line's overrides."""
    from vae_synth.train import recipe as R

    overrides = overrides_from_args(args)
    base = R.load_recipe(args.recipe)[0] if args.recipe else R.Recipe()
    recipe = base.replace(overrides, "command line")
    if args.data_root:
        data_root = args.data_root
    elif args.sources or not args.recipe:
        data_root = "."
    else:
        data_root = R.default_data_root()
    return recipe, data_root


def run_options(args: argparse.Namespace, data_root: str, overrides: dict):
    from vae_synth.train.trainer import RunOptions

    return RunOptions(
        out=args.out, data_root=data_root, resume=args.resume, overwrite=args.overwrite,
        checkpoint_every=args.checkpoint_every, monitor_every=args.monitor_every,
        distribute=args.distribute, cpu_replicas=args.cpu_replicas,
        mixed_precision=args.mixed_precision, verbose=0 if args.quiet else 1,
        tensorboard=not args.no_tensorboard, overrides=overrides, recipe_file=args.recipe,
    )


def run_train(args: argparse.Namespace) -> int:
    from vae_synth.train import recipe as R
    from vae_synth.train.data import DataError

    try:
        if args.resume and (args.recipe or args.print_recipe):
            raise R.RecipeError("--resume continues the recipe recorded in RUN_DIR/config.json; "
                                "give no --recipe")
        if not args.resume and not args.recipe and not args.sources:
            raise R.RecipeError("give --recipe FILE|NAME or at least one --data SOURCE")
        overrides = overrides_from_args(args)
        recipe, data_root = (None, ".") if args.resume else recipe_from_args(args)
        if args.print_recipe:
            print(recipe.to_toml(), end="")
            return 0
        if not args.out:
            raise R.RecipeError("--out RUN_DIR is required")
        from vae_synth.train.backend import import_backend_quietly
        from vae_synth.train.trainer import TrainError, train

        import_backend_quietly()
        try:
            train(recipe, run_options(args, data_root, overrides))
        except TrainError as exc:
            raise R.RecipeError(str(exc)) from None
    except (DataError, ValueError) as exc:
        print(f"vae-synth train: error: {exc}", file=sys.stderr)
        return 2
    return 0

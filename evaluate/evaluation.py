"""The evaluation behind ``vae-synth evaluate`` (evaluate/cli.py): the thesis's tables.

A RUN_DIR (``config.json``) is evaluated through TensorFlow (``load_run``); a PRESET_DIR
(``preset.json``) or installed preset name through ONNX Runtime only, without TensorFlow.
Writes ``metrics.json``, ``centroid_dtw.json`` (Table 5.4 matrices), ``report.md`` with PNG
pictures and WAV sounds. Metrics are in :mod:`vae_synth.evaluate.metrics`, pictures in
:mod:`vae_synth.evaluate.report`.

This module imports nothing heavy at module level (``vae-synth --help`` must stay fast);
numpy, TensorFlow, ONNX Runtime, scikit-learn and matplotlib are imported inside the functions.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MORPH_STEPS = 32  # morph_smoothness: 32 decoded steps between two class centres
STRIP_STEPS = 9  # the morph strip and morph WAV: 9 steps, as the thesis's Fig. 4.5
SPLITS = ("test", "train", "all")

# How each figure in metrics.json is computed, written into its "protocol" entry so that a
# report read months later still says what its numbers mean.
PROTOCOL = {
    "one_nn": "leave-one-out 1-NN on encoder means, Euclidean (thesis Table 5.2)",
    "nearest_centroid": "leave-one-out class means of the evaluated clips",
    "one_nn_vs_training": "each evaluated clip's nearest latent among the model's own "
    "training clips (where known)",
    "centroid_dist": "eq. 5.3; centre = mean latent of the evaluated clips of the class; "
    "HTK MFCC 25 ms/5 ms, pre-emphasis 0.97, Hamming, 20 filters 200-1200 Hz, c1..c12, "
    "lifter 22; 1-D DTW per coefficient (|a-b|, symmetric1), mean of 12; std ddof=1",
    "training_medoid_dist": "eq. 5.3 with each class's most typical real training "
    "clip (least summed MFCC-DTW to the class's other training clips; training clips "
    "that are also evaluated are not candidates) as the centre: a reference for the "
    "centroid dist, not a model figure; absent when a class has no candidate",
    "recon_snr_db": "pooled 10 log10(sum x^2 / sum (x - decode(mu))^2)",
    "recon_ratio": "median log-mel L1 (dB, 64 mels, floor -60 dBFS) recon vs source / "
    "median between two real clips of one class",
    "centroid_level_db": "RMS dB of the decoded class centre minus median RMS dB of the "
    "class's clips; mean over classes",
    "comb_db": "mean excess (dB) of the reconstructions' average spectrum at multiples "
    "of sr / comb_period over the bins between, for the power-of-two period where it is "
    "largest (a transposed-convolution buzz); comb_db_real: the real clips, same period",
    "comb_db_centres": "comb_db of the decoded class centres (the sounds the pads play), at "
    "the reconstructions' comb_period",
    "high_band": "per class: share of energy above high_band_hz (power spectrum of the whole "
    "frame), in dB: the real clips' median, the decoded centre's, the reconstructions' median; "
    "and the centre's and the reconstructions' difference to the real clips' (0 dB = as much "
    "air as the real clips; meaningless where Nyquist is below high_band_hz); with training "
    "clips also their median (training_db) and the real clips' and the centre's difference to it",
    "sub_bass": "per class, the same figures as high_band for the share of energy below "
    "sub_bass_hz (a sub-sonic lump in a decoded drum; the real kicks of a draw hold 1-7 % "
    "there, snares and toms under 0.3 %)",
    "level_vs_training_db": "per class, with training clips: RMS dB of the decoded centre minus "
    "the training clips' median; heldout_vs_training_level_db: the evaluated clips' median minus "
    "the training clips' (how far the draw itself sits from what the model learnt from); "
    "pad_level_db, pad_level_vs_training_db: the same for the centre of the model's own "
    "training clips (what a preset's pad plays) against the evaluated and the training clips",
    "morph_smoothness": f"max/mean adjacent log-mel distance of a {MORPH_STEPS}-step "
    "morph between class centres; mean over consecutive class pairs",
    "active_dims": "latent dimensions with mean KL > 0.01 nats (N(0, 1) prior)",
}


class EvaluateError(RuntimeError):
    """Bad input for an evaluation (wrong target, data that does not fit the model)."""


def probe_latent_sines(model: EvalModel, freqs: list[float], out_dir: Path,
                       amplitude: float = 0.9) -> dict:
    """Thesis Fig. 4.2: encode constant sines [len(freqs), L] with a plain autoencoder and draw
    its bottleneck [T, C] as signals at sample_rate * T / L (1/32 of the rate for x32 models).

    Writes latent_sines.png and adds to metrics.json: per frequency the dominant frequency of the
    latent signal (channel of most variance) and the latent Nyquist frequency.
    """
    import numpy as np
    from vae_synth.evaluate import report as R

    sr, length = model.sample_rate, model.frame_length
    t = np.arange(length) / sr
    x = (amplitude * np.sin(2 * np.pi * np.asarray(freqs)[:, None] * t[None, :])).astype(np.float32)
    mu, _ = model.encode(x)
    channels = int(model.info.get("bottleneck_channels") or 1)
    steps = mu.shape[1] // channels
    lat = mu.reshape(len(freqs), steps, channels)  # Keras Flatten of [T, C] is row-major
    latent_rate = sr * steps / length
    rows = []
    for i, f in enumerate(freqs):
        ch = int(np.argmax(lat[i].var(0)))
        sig = lat[i, :, ch] - lat[i, :, ch].mean()
        spec = np.abs(np.fft.rfft(sig * np.hanning(steps)))
        peak = float(np.fft.rfftfreq(steps, 1.0 / latent_rate)[int(np.argmax(spec))])
        rows.append({"input_hz": f, "channel": ch, "latent_peak_hz": peak,
                     "alias_hz": float(abs(((f + latent_rate / 2) % latent_rate) - latent_rate / 2))})
    R.plot_latent_sines(lat, freqs, latent_rate, [r["channel"] for r in rows],
                        out_dir / "latent_sines.png")
    info = {"latent_rate_hz": latent_rate, "latent_nyquist_hz": latent_rate / 2, "sines": rows}
    m = json.loads((out_dir / "metrics.json").read_text())
    m["latent_sine_probe"] = info
    R.write_json(out_dir / "metrics.json", m)
    with open(out_dir / "report.md", "a") as f:
        f.write("\n## Latent of constant sines (thesis Fig. 4.2)\n\n"
                f"Latent rate {latent_rate:g} Hz (Nyquist {latent_rate / 2:g} Hz).\n\n"
                "| input Hz | latent peak Hz | plain alias Hz | channel |\n|---|---|---|---|\n")
        for r in rows:
            f.write(f"| {r['input_hz']:g} | {r['latent_peak_hz']:.1f} | {r['alias_hz']:.1f} | "
                    f"{r['channel']} |\n")
        f.write("\n![latent of constant sines](latent_sines.png)\n")
    return info


# ---------------------------------------------------------------------------------------------
# the end of a training run


def run_figures(encoder, decoder, data) -> dict:
    """The figures a training run ends with (its metrics.json), the cheap part of the
    evaluation: no MFCC-DTW, no pictures. Keras encoder and decoder; data a LabelledAudio.

    On the held-out clips (the training clips when nothing is held out): reconstruction SNR and
    recon_ratio; the level of each decoded class centre against its real clips; leave-one-out
    1-NN; nearest class centre. The class centres are the preset's: the mean latent of each
    class's training clips (:func:`~vae_synth.evaluate.metrics.class_centroids`), which is what
    an exported preset's pads play.
    """
    import numpy as np
    from vae_synth.evaluate import metrics as M
    from vae_synth.evaluate.inference import infer

    test_x = data.test_x if len(data.test_x) else data.train_x
    test_y = data.test_y if len(data.test_y) else data.train_y
    names = list(data.class_names)
    mu_tr = infer(encoder, data.train_x)[0]
    mu_te = infer(encoder, test_x)[0]
    x_hat = infer(decoder, mu_te)
    centres = M.class_centroids(mu_tr, data.train_y, len(names))
    known = np.isfinite(centres).all(axis=1)  # a class without training clips has no centre
    levels = np.full(len(names), np.nan)
    if known.any():
        centre_audio = np.zeros((len(names), x_hat.shape[1]), np.float32)
        centre_audio[known] = infer(decoder, centres[known].astype(np.float32))
        levels = M.centroid_level_db(centre_audio, test_x, test_y)
    centroid_level = {name: float(levels[c]) for c, name in enumerate(names)
                      if known[c] and np.isfinite(levels[c])}
    snrs = M.snr_db_per_clip(test_x, x_hat)
    try:
        ratio = M.recon_ratio(test_x, x_hat, test_y, data.sample_rate)
    except ValueError:  # one held-out clip per class: no same-class pair to compare with
        ratio = M.ReconRatio(float("nan"), float("nan"), float("nan"))
    return {
        "recon_snr_db": float(np.median(snrs)),
        "recon_snr_db_mean": float(np.mean(snrs)),
        "recon_logmel_distance": ratio.recon_median_db,
        "same_class_logmel_distance": ratio.pair_median_db,
        "recon_ratio": ratio.ratio,
        "centroid_level_db": centroid_level,
        "centroid_level_db_worst": float(max(np.abs(list(centroid_level.values())), default=0.0)),
        "recon_level_db": float(np.median(M.rms_db(x_hat) - M.rms_db(test_x))),
        "nearest_centroid_accuracy": M.nearest_centroid_accuracy(mu_te, test_y, centres),
        "one_nn_accuracy": M.one_nn_accuracy(mu_te, test_y) if len(test_y) > 1 else float("nan"),
        "num_test": int(len(test_x)),
    }


# ---------------------------------------------------------------------------------------------
# models: one interface over a TensorFlow run and an ONNX preset


@dataclass
class EvalModel:
    """What the evaluation needs of a model, whichever way it is run.

    encode(x [N, L]) -> (mu [N, D], logvar [N, D] or None); decode(z [N, D]) -> audio [N, L].
    """

    kind: str  # "run" | "preset"
    path: Path
    name: str
    class_names: list[str]
    sample_rate: int
    frame_length: int
    encode: Any
    decode: Any
    plain: bool = False
    # class name -> centroid [D] of the model's own training clips (preset: from preset.json)
    training_centroids: dict[str, Any] | None = None
    history_csv: Path | None = None
    sources: list[str] | None = None
    preprocess: dict | None = None
    seed: int = 0
    info: dict = field(default_factory=dict)
    run: Any = None  # the loaded run (for its own data)


def _is_run_dir(path: Path) -> bool:
    return (path / "config.json").is_file()


def open_model(target: str | os.PathLike, checkpoint: str = "best", device: str = "cpu") -> EvalModel:
    """A RUN_DIR (config.json) through TensorFlow, or a preset (preset.json, or name) through ORT."""
    path = Path(target).expanduser()
    if path.is_dir() and (path / "preset.json").is_file():
        return _open_preset(str(path), device)
    if path.is_dir() and _is_run_dir(path):
        return _open_run(path, checkpoint)
    if path.is_dir():
        raise EvaluateError(
            f"{path} is neither a run folder (no config.json) nor a preset folder (no preset.json)"
        )
    if os.sep in str(target) or str(target).startswith("."):
        raise EvaluateError(f"{path}: no such folder")
    return _open_preset(str(target), device)  # an installed preset's name


def _open_run(path: Path, checkpoint: str) -> EvalModel:
    import numpy as np
    from vae_synth.evaluate.inference import batched
    from vae_synth.train.backend import import_backend_quietly
    from vae_synth.train.run import load_run

    import_backend_quietly()

    run = load_run(path, checkpoint=checkpoint)
    cfg = run.config

    def encode_batch(x):
        out = run.encoder(np.asarray(x, np.float32), training=False)
        if isinstance(out, (list, tuple)):
            mu = np.asarray(out[0])
            logvar = np.asarray(out[1]) if len(out) > 1 else None
        else:  # a plain autoencoder: the latent itself (a x32 signal)
            mu, logvar = np.asarray(out), None
        mu = mu.reshape(len(x), -1)
        return (mu, logvar.reshape(len(x), -1)) if logvar is not None else (mu,)

    plain = bool(getattr(run, "plain", cfg.get("plain", False)))

    def encode(x):
        out = batched(encode_batch, x)
        # a plain autoencoder's "logvar" is a placeholder (zeros): no KL to report
        return out[0], (out[1] if len(out) > 1 and not plain else None)

    def decode(z):
        def one(zb):
            zb = np.asarray(zb, np.float32)
            shape = run.decoder.inputs[0].shape
            if len(shape) > 2:  # plain autoencoder: latent signal [N, T, C]
                zb = zb.reshape((len(zb), *[int(s) for s in shape[1:]]))
            return np.asarray(run.decoder(zb, training=False)).reshape(len(zb), -1)

        return batched(one, z)

    history = path / "history.csv"
    return EvalModel(
        kind="run", path=path, name=path.name, class_names=list(run.class_names),
        sample_rate=int(cfg["sample_rate"]), frame_length=int(cfg["frame_length"]),
        encode=encode, decode=decode, plain=plain,
        history_csv=history if history.is_file() else None,
        sources=list(cfg.get("sources") or []), preprocess=cfg.get("preprocess"),
        seed=int(cfg.get("seed", 0)),
        info={"arch": cfg.get("arch"), "config": cfg.get("config"), "checkpoint": checkpoint,
              "latent_dim": cfg.get("latent_dim"),
              "bottleneck_channels": (cfg.get("model") or {}).get("bottleneck_channels")},
        run=run,
    )


def _is_source(text) -> bool:
    """Whether ``text`` is a SOURCE string (a preset's training.data may be free text)."""
    from vae_synth.train.data import DataError, parse_source

    if not isinstance(text, str):
        return False
    try:
        parse_source(text)
    except DataError:
        return False
    return True


def _open_preset(name_or_path: str, device: str) -> EvalModel:
    import numpy as np
    from vae_synth.evaluate.inference import batched
    from vae_synth.synth.preset import PresetError, load_preset
    from vae_synth.synth.runtime import make_session

    try:
        preset = load_preset(name_or_path)
    except PresetError as exc:
        raise EvaluateError(str(exc)) from exc
    threads = max(1, min(4, os.cpu_count() or 1))
    enc = make_session(preset.file("encoder"), device, threads=threads)
    dec = make_session(preset.file("decoder_batch"), device, threads=threads)
    enc_in = enc.get_inputs()[0].name
    enc_out = [o.name for o in enc.get_outputs()]
    order = sorted(range(len(enc_out)), key=lambda i: 0 if "mu" in enc_out[i] else 1)
    dec_in = dec.get_inputs()[0].name

    def encode(x):
        def one(xb):
            outs = enc.run(None, {enc_in: np.ascontiguousarray(xb, np.float32)})
            return tuple(outs[i] for i in order)

        mu, logvar = batched(one, x)
        return mu, logvar

    def decode(z):
        return batched(lambda zb: dec.run(None, {dec_in: np.ascontiguousarray(zb, np.float32)})[0], z)

    training = preset.training or {}
    sources = training.get("sources")
    if not isinstance(sources, list):
        sources = [training["data"]] if isinstance(training.get("data"), str) else []
    folder = Path(preset.path)
    history = folder / "history.csv"
    return EvalModel(
        kind="preset", path=folder, name=preset.name, class_names=list(preset.class_names),
        sample_rate=int(preset.sample_rate), frame_length=int(preset.frame_length),
        encode=encode, decode=decode,
        training_centroids={c.name: np.asarray(c.centroid, np.float64) for c in preset.classes},
        history_csv=history if history.is_file() else None,
        sources=[s for s in sources if _is_source(s)],
        preprocess=training.get("preprocess") if isinstance(training.get("preprocess"), dict) else None,
        seed=int(training.get("seed", 0)) if isinstance(training.get("seed", 0), int) else 0,
        info={"arch": training.get("arch"), "device": enc.get_providers()[0]},
    )


# ---------------------------------------------------------------------------------------------
# data


@dataclass
class EvalData:
    """Clips to evaluate on. x [N, L] float32, y [N] int into class_names; train_x/train_y: the
    model's own training clips where known (for its training centroids), else None."""

    x: Any
    y: Any
    class_names: list[str]
    sources: list[str]
    split: str
    files: list[str] = field(default_factory=list)
    train_x: Any = None
    train_y: Any = None
    licence: str = ""
    attribution: str = ""


def load_eval_data(model: EvalModel, sources: list[str] | None, split: str = "test",
                   seed: int = 0) -> EvalData:
    """Load ``sources`` (default: the run's own) at the model's rate and frame, pick ``split``.

    Sources are split with the model's own seed (so a run's held-out clips stay held out);
    ``seed`` is accepted for symmetry with :func:`evaluate` and not used here.
    """
    import numpy as np
    from vae_synth.train.data import load_sources

    if split not in SPLITS:
        raise EvaluateError(f"split must be one of {SPLITS}, got {split!r}")
    own = not sources
    if own:
        if model.run is not None:
            data = model.run.load_data()
            sources = model.sources or []
        elif model.sources:
            sources = model.sources
            data = load_sources(sources, model.sample_rate, model.frame_length, model.seed,
                                model.preprocess)
        else:
            raise EvaluateError(
                f"{model.path}: the preset does not say what it was trained on; give --data SOURCE"
            )
    else:
        # the run's seed, so that a source the run trained on is split exactly as in training
        # (held-out clips stay held out); ``seed`` only draws subsamples and t-SNE
        data = load_sources(list(sources), model.sample_rate, model.frame_length, model.seed,
                            model.preprocess)
    parts = {"test": [(data.test_x, data.test_y, data.test_files)],
             "train": [(data.train_x, data.train_y, data.train_files)]}
    parts["all"] = parts["train"] + parts["test"]
    xs = [p[0] for p in parts[split] if len(p[0])]
    if not xs:
        hint = " (the source's split holds nothing out: try --split all)" if split == "test" else ""
        raise EvaluateError(f"no clips in the {split!r} part of {', '.join(sources)}{hint}")
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate([p[1] for p in parts[split] if len(p[0])]).astype(int)
    files = sum((list(p[2] or []) for p in parts[split] if len(p[0])), [])
    # the model's own training clips give its "training centroids": from this data when it is the
    # run's own, else rebuilt from the run's config (e.g. other speakers scored against them)
    train_x = train_y = None
    same_sources = own or list(sources) == list(model.sources or [])
    if same_sources and len(data.train_x):
        train_x, train_y, train_names = data.train_x, data.train_y, data.class_names
    elif model.run is not None:
        own_data = model.run.load_data()
        train_x, train_y, train_names = own_data.train_x, own_data.train_y, own_data.class_names
    if train_x is not None and list(train_names) != list(data.class_names):
        # align the run's labels with the evaluated data's class order (by name)
        order = {n: i for i, n in enumerate(data.class_names)}
        if not all(n in order for n in train_names):
            train_x = train_y = None
        else:
            train_y = np.array([order[train_names[k]] for k in train_y], int)
    return EvalData(
        x=x, y=y, class_names=list(data.class_names), sources=list(sources), split=split,
        files=files, train_x=train_x, train_y=train_y,
        licence=getattr(data, "licence", ""), attribution=getattr(data, "attribution", ""),
    )


# ---------------------------------------------------------------------------------------------
# the evaluation


def _finite(v):
    """JSON-safe float: None for NaN/inf."""
    import math

    v = float(v)
    return v if math.isfinite(v) else None


def _check_audio(audio, what: str) -> None:
    import numpy as np

    if not np.all(np.isfinite(audio)):
        raise EvaluateError(f"the decoder produced non-finite audio (NaN/inf) for {what}")


def evaluate(
    model: EvalModel, data: EvalData, out_dir: Path, *, max_per_class: int = 50,
    morph: list[str] | tuple[str, str] | None = None, tsne: bool = True, seed: int = 0,
    quiet: bool = False,
) -> dict:
    """Run every metric, write metrics.json, centroid_dtw.json, report.md, PNGs, WAVs.

    Returns the metrics dict (as in metrics.json).
    """
    import numpy as np
    from vae_synth.evaluate import metrics as M
    from vae_synth.evaluate import report as R

    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    if out_dir.resolve() == Path(model.path).resolve():
        # a run folder has its own metrics.json (written by training): never overwrite it
        raise EvaluateError(f"--out must not be the {model.kind} folder itself ({model.path})")
    out_dir.mkdir(parents=True, exist_ok=True)
    from vae_synth.progress import Progress

    prog = Progress(8, "evaluate", enabled=not quiet)
    sr, names = model.sample_rate, data.class_names
    x, y = data.x, data.y
    if x.shape[1] != model.frame_length:
        raise EvaluateError(f"clips have {x.shape[1]} samples, the model wants {model.frame_length}")
    present = [c for c in range(len(names)) if np.any(y == c)]
    if len(present) < 2:
        raise EvaluateError(f"need clips of at least 2 classes, got {[names[c] for c in present]}")
    counts = {names[c]: int(np.sum(y == c)) for c in present}
    if max(counts.values()) < 2:
        # recon_ratio and eq. 5.3 compare a clip with other clips of its class
        raise EvaluateError(f"need at least 2 evaluated clips of one class, got {counts}: "
                            "evaluate on more clips (a larger split=holdout:FRACTION, or "
                            "split=none to score every clip)")
    if max_per_class < 3:
        raise EvaluateError("--max-per-class must be at least 3 (eq. 5.3 needs a std of 2 others)")

    prog.start(f"encoding {len(x)} clips ({model.kind} {model.name})")
    mu, logvar = model.encode(x)
    if not np.all(np.isfinite(mu)):
        raise EvaluateError("the encoder produced non-finite latents (NaN/inf)")

    prog.start("latent organisation: leave-one-out 1-NN and nearest centroid")
    one_nn_pred = M.one_nn_predictions(mu, y)
    nc_pred = M.nearest_centroid_predictions(mu, y)
    centres = M.class_centroids(mu, y, len(names))  # mu(Z^i) over the evaluated clips
    train_centres, mu_train = _training_centres(model, data, names)
    nc_train = nc_train_pred = None
    if train_centres is not None:
        nc_train_pred = M.nearest_centroid_predictions(mu, y, train_centres)
        nc_train = float(np.mean(nc_train_pred == y))
    nn_train = None
    if mu_train is not None:  # the other reading of Table 5.2: neighbours from the training set
        d = M.pairwise_sq_distances(mu, mu_train)
        nn_train = float(np.mean(data.train_y[np.argmin(d, axis=1)] == y))

    prog.start("decoding class centres and reconstructions")
    centre_audio = np.zeros((len(names), model.frame_length), np.float32)
    centre_audio[present] = model.decode(centres[present].astype(np.float32))
    _check_audio(centre_audio, "the class centres")
    recon = model.decode(mu.astype(np.float32))
    _check_audio(recon, "the reconstructions")
    train_centre_audio = None
    if train_centres is not None:
        train_centre_audio = np.zeros_like(centre_audio)
        train_centre_audio[present] = model.decode(train_centres[present].astype(np.float32))

    prog.start("centroid consistency: HTK MFCC + DTW (eq. 5.1-5.3)")
    sizes = [min(int(np.sum(y == c)), max_per_class) for c in present]
    n_pairs = sum(m * (m + 1) // 2 for m in sizes)  # pairwise + centre, as counted by the metric
    # the reference (a real training take as the centre) is drawn from training clips that are
    # not themselves scored; counted here only for the progress bar's total
    keep = None if data.train_x is None else M.real_take_candidates(data.train_x, data.train_y, x, y)
    medoid_pairs = 0 if keep is None else n_pairs + sum(
        m * (m - 1) // 2 for m in (min(int(np.sum(data.train_y[keep] == c)), max_per_class)
                                   for c in present))
    n_scored = 1 + (train_centre_audio is not None)
    with prog.bar(n_pairs * n_scored + medoid_pairs, "MFCC-DTW") as bar:
        cons = M.centroid_consistency(x, y, centre_audio, sr, names, max_per_class=max_per_class,
                                      seed=seed, progress=bar.update)
        cons_train = None
        if train_centre_audio is not None:
            cons_train = M.centroid_consistency(x, y, train_centre_audio, sr, names,
                                                max_per_class=max_per_class, seed=seed,
                                                progress=bar.update)
        cons_medoid = None
        if keep is not None:
            cons_medoid = M.real_take_consistency(data.train_x, data.train_y, x, y, sr, names,
                                                  max_per_class=max_per_class, seed=seed,
                                                  progress=bar.update)

    prog.start("reconstruction: SNR, log-mel recon_ratio, levels, KL")
    snr = M.snr_db(x, recon)
    snr_clip = M.snr_db_per_clip(x, recon)
    rr = M.recon_ratio(x, recon, y, sr, seed=seed)
    level = M.centroid_level_db(centre_audio, x, y)
    comb_period, comb_db = M.strongest_comb(recon)
    comb_db_real = M.comb_excess_db(x, comb_period)
    comb_db_centres = M.comb_excess_db(centre_audio[present], comb_period)
    kl = M.kl_per_dim(mu, logvar) if logvar is not None else None

    prog.start(f"morphs: {MORPH_STEPS} steps between class centres")
    pairs = [(present[i], present[(i + 1) % len(present)]) for i in range(len(present))]
    if len(present) == 2:
        pairs = pairs[:1]
    morph_scores = {}
    for a, b in pairs:
        frames = model.decode(M.morph_path(centres[a], centres[b], MORPH_STEPS))
        _check_audio(frames, f"the morph {names[a]} -> {names[b]}")
        morph_scores[f"{names[a]}->{names[b]}"] = M.morph_smoothness(frames, sr)
    ma, mb = _morph_classes(morph, names, present)
    strip = model.decode(M.morph_path(centres[ma], centres[mb], STRIP_STEPS))

    per_class = _per_class_metrics(names, present, y, one_nn_pred, nc_pred, level, x, recon,
                                   cons, cons_train, cons_medoid)
    for c in present:
        training = None  # this class's training clips, where the evaluation has them
        if data.train_x is not None and np.any(data.train_y == c):
            training = data.train_x[data.train_y == c]
        pad = None if train_centre_audio is None else train_centre_audio[c]  # what a pad plays
        clips, recon_c = x[y == c], recon[y == c]
        per_class[names[c]]["high_band"] = _band_figures(
            clips, recon_c, centre_audio[c], sr, pad, training)
        per_class[names[c]]["sub_bass"] = _band_figures(
            clips, recon_c, centre_audio[c], sr, pad, training, share=M.sub_bass_share)
        if training is not None:
            per_class[names[c]].update(_draw_offsets(clips, centre_audio[c], training, pad))

    metrics: dict[str, Any] = {
        "one_nn_accuracy": M.one_nn_accuracy(mu, y),
        "nearest_centroid_accuracy": M.nearest_centroid_accuracy(mu, y),
        "one_nn_vs_training_accuracy": nn_train,
        "centroid_dist_mean": _finite(cons.mean),
        "centroid_dist_std": _finite(cons.std),
        "recon_snr_db": _finite(snr),
        "recon_snr_db_median_clip": _finite(np.median(snr_clip)),
        "recon_ratio": _finite(rr.ratio),
        "recon_logmel_median_db": _finite(rr.recon_median_db),
        "pair_logmel_median_db": _finite(rr.pair_median_db),
        "centroid_level_db": _finite(np.nanmean(level[present])),
        "centroid_level_db_min": _finite(np.nanmin(level[present])),
        "comb_db": _finite(comb_db),
        "comb_db_real": _finite(comb_db_real),
        "comb_period": int(comb_period),
        "comb_db_centres": _finite(comb_db_centres),
        "high_band_hz": M.HIGH_BAND_HZ,
        "sub_bass_hz": M.SUB_BASS_HZ,
        "morph_smoothness": _finite(np.mean(list(morph_scores.values()))),
        "morph_smoothness_max": _finite(np.max(list(morph_scores.values()))),
        "morph_smoothness_pairs": {k: _finite(v) for k, v in morph_scores.items()},
        "kl_per_dim": [float(v) for v in kl] if kl is not None else None,
        "kl_total": float(np.sum(kl)) if kl is not None else None,
        "active_dims": M.active_dims(kl) if kl is not None else None,
        "latent_dim": int(mu.shape[1]),
        "per_class": per_class,
        "misplaced": misplaced_clips(data.files, y, names, one_nn_pred, nc_pred, nc_train_pred),
        "training_centroids": None,
        "training_medoid_dist_mean": _finite(cons_medoid.mean) if cons_medoid else None,
        "training_medoid_dist_std": _finite(cons_medoid.std) if cons_medoid else None,
        "model": {"kind": model.kind, "path": str(model.path), "name": model.name,
                  "sample_rate": sr, "frame_length": model.frame_length, "plain": model.plain,
                  **model.info},
        "data": {"sources": data.sources, "split": data.split, "clips": int(len(x)),
                 "classes": [names[c] for c in present], "licence": data.licence,
                 "attribution": data.attribution},
        "protocol": {**PROTOCOL, "max_per_class_dtw": max_per_class},
        "seed": seed,
    }
    if nc_train is not None:
        metrics["training_centroids"] = {
            "nearest_centroid_accuracy": nc_train,
            "centroid_dist_mean": _finite(cons_train.mean) if cons_train else None,
            "centroid_dist_std": _finite(cons_train.std) if cons_train else None,
            "centroid_level_db": _finite(np.nanmean(
                M.centroid_level_db(train_centre_audio, x, y)[present])),
        }

    prog.start("pictures and sounds")
    images = {}
    images["latent"] = R.plot_latents(mu, y, names, out_dir / "latent_pca_tsne.png", tsne=tsne,
                                      seed=seed)
    examples = {c: x[np.flatnonzero(y == c)[0]] for c in present}  # the first clip of each class
    images["centroids"] = R.plot_centroid_spectrograms(
        {names[c]: centre_audio[c] for c in present}, {names[c]: examples[c] for c in present}, sr,
        out_dir / "centroid_spectrograms.png")
    images["centroids_hz"] = R.plot_centroid_spectrograms_hz(
        {names[c]: centre_audio[c] for c in present}, {names[c]: examples[c] for c in present}, sr,
        out_dir / "centroid_spectrograms_hz.png")
    first = {c: int(np.flatnonzero(y == c)[0]) for c in present}
    images["waveforms"] = R.plot_waveforms(
        {names[c]: x[i] for c, i in first.items()}, {names[c]: recon[i] for c, i in first.items()},
        {names[c]: centre_audio[c] for c in present}, sr, out_dir / "waveforms.png")
    images["morph"] = R.plot_morph_strip(strip, sr, names[ma], names[mb], out_dir / "morph_strip.png")
    if model.history_csv is not None:
        images["curves"] = R.plot_training_curves(model.history_csv, out_dir / "training_curves.png")
    wavs = []
    for c in present:
        wavs.append(R.write_wav(out_dir / "wav" / f"centroid_{R.safe_name(names[c])}.wav",
                                centre_audio[c], sr))
    wavs.append(R.write_wav(
        out_dir / "wav" / f"morph_{R.safe_name(names[ma])}_to_{R.safe_name(names[mb])}.wav",
        R.concatenate_with_gaps(strip, sr), sr))

    prog.start("writing metrics.json, centroid_dtw.json, report.md")
    metrics["seconds"] = round(time.perf_counter() - t_start, 1)
    R.write_json(out_dir / "metrics.json", metrics)
    R.write_json(out_dir / "centroid_dtw.json", R.consistency_to_json(cons, cons_train))
    R.write_report_md(out_dir / "report.md", metrics, cons, images, wavs, out_dir)
    prog.done()
    return metrics


def misplaced_clips(files, y, names, one_nn_pred, nc_pred, nc_train_pred=None) -> list[dict]:
    """metrics.json's ``misplaced``: every evaluated clip that one of the placement measures puts
    in another class, with what each measure said, so a miss can be traced to its clip.

    files [N] where each clip came from (may be empty: then "#i"); y, one_nn_pred, nc_pred,
    nc_train_pred [N] class indices (nc_train_pred None without the preset's own centres).
    Returns [{"file", "class", "nearest_clip", "nearest_centre", "nearest_training_centre"}]
    (the last None without training centres), in the order of the clips.
    """
    named = len(files) == len(y)  # else the files cannot be matched to the clips
    out = []
    for i, c in enumerate(y):
        said = [one_nn_pred[i], nc_pred[i]] + ([] if nc_train_pred is None else [nc_train_pred[i]])
        if all(p == c for p in said):
            continue
        out.append({"file": Path(files[i]).name if named else f"#{i}",
                    "class": names[c], "nearest_clip": names[one_nn_pred[i]],
                    "nearest_centre": names[nc_pred[i]],
                    "nearest_training_centre": None if nc_train_pred is None
                    else names[nc_train_pred[i]]})
    return out


def _per_class_metrics(names, present, y, one_nn_pred, nc_pred, level, x, recon, cons,
                       cons_train, cons_medoid) -> dict:
    """metrics.json's per_class entry: {class name: its figures} for each class with clips.

    y [N], one_nn_pred [N], nc_pred [N] class indices; level [C] dB; x, recon [N, L] audio;
    cons* CentroidConsistency results (cons_train / cons_medoid may be None).
    """
    import numpy as np
    from vae_synth.evaluate import metrics as M

    per_class = {}
    for c in present:
        sel = y == c
        cc = cons.per_class.get(names[c])
        per_class[names[c]] = {
            "count": int(sel.sum()),
            "one_nn": float(np.mean(one_nn_pred[sel] == c)),
            "nearest_centroid": float(np.mean(nc_pred[sel] == c)),
            "dist_mean": _finite(cc.mean) if cc else None,
            "dist_std": _finite(cc.std) if cc else None,
            "level_db": _finite(level[c]),
            "recon_snr_db": _finite(M.snr_db(x[sel], recon[sel])),
        }
        if cons_train is not None and names[c] in cons_train.per_class:
            ct = cons_train.per_class[names[c]]
            per_class[names[c]]["dist_mean_training_centroid"] = _finite(ct.mean)
            per_class[names[c]]["dist_std_training_centroid"] = _finite(ct.std)
        if cons_medoid is not None and names[c] in cons_medoid.per_class:
            per_class[names[c]]["dist_mean_training_medoid"] = _finite(
                cons_medoid.per_class[names[c]].mean)
    return per_class


def _draw_offsets(clips, centre, training, pad_centre=None) -> dict:
    """How far the evaluated clips' level sits from the training clips' and the decoded centre's
    from either: clips [n, L], centre [L], training [m, L] (this class's training clips),
    pad_centre [L] or None (the preset's own centre, from its training clips: what a pad plays) ->
    {"level_vs_training_db": centre RMS dB minus the training clips' median,
     "heldout_vs_training_level_db": the evaluated clips' median minus the training clips'}
    and, with a pad centre, "pad_level_db" and "pad_level_vs_training_db": its RMS dB minus the
    evaluated clips' and the training clips' median.
    With three to six held-out clips a class, the held-out median can sit several dB from the
    training clips': a centre that sounds like its training clips then misses a bar read
    against the held-out median (docs/notes/2026-12-05-fullband-draw-offsets.md)."""
    import numpy as np
    from vae_synth.evaluate import metrics as M

    trained = float(np.median(M.rms_db(training)))
    held_out = float(np.median(M.rms_db(clips)))
    offsets = {"level_vs_training_db": float(M.rms_db(centre)) - trained,
               "heldout_vs_training_level_db": held_out - trained}
    if pad_centre is not None:
        pad = float(M.rms_db(pad_centre))
        offsets.update(pad_level_db=pad - held_out, pad_level_vs_training_db=pad - trained)
    return offsets


def _band_figures(clips, recon, centre, sample_rate: int, pad_centre=None, training=None,
                  share=None) -> dict:
    """metrics.json's per-class ``high_band`` (or, with ``share=metrics.sub_bass_share``,
    ``sub_bass``): clips, recon [n, L], centre [L] (the evaluated
    clips' centre), pad_centre [L] or None (the preset's own, from its training clips: what a
    pad plays), training [m, L] or None (this class's training clips) -> dB figures.
    ``recon_vs_own_db`` pairs each reconstruction with its own clip (median of the differences):
    a draw of dull clips does not read as a bright decoder. With training clips, also their
    median (``training_db``) and the real clips' and centre's difference to it. ``share``: the
    band's share function, audio [n, L] -> [n] (default ``metrics.high_band_share``)."""
    import numpy as np
    from vae_synth.evaluate import metrics as M

    share = share or M.high_band_share
    clip_share = share(clips, sample_rate)
    recon_share = share(recon, sample_rate)
    real = float(M.share_db(np.median(clip_share)))
    centre_db = float(M.share_db(share(centre, sample_rate)[0]))
    recon_db = float(M.share_db(np.median(recon_share)))
    own = np.median(M.share_db(recon_share) - M.share_db(clip_share))
    figures = {"real_db": real, "centre_db": centre_db, "recon_db": recon_db,
               "centre_vs_real_db": centre_db - real, "recon_vs_real_db": recon_db - real,
               "recon_vs_own_db": float(own)}
    if pad_centre is not None:
        pad_db = float(M.share_db(share(pad_centre, sample_rate)[0]))
        figures.update(pad_centre_db=pad_db, pad_centre_vs_real_db=pad_db - real)
    if training is not None:
        trained = float(M.share_db(np.median(share(training, sample_rate))))
        figures.update(training_db=trained, real_vs_training_db=real - trained,
                       centre_vs_training_db=centre_db - trained)
    return figures


def _training_centres(model: EvalModel, data: EvalData, names: list[str]):
    """([C, D] training centroids aligned with the data's class names or None,
    latent means of the model's own training clips [N_train, D] or None)."""
    import numpy as np
    from vae_synth.evaluate import metrics as M

    mu_train = None
    if data.train_x is not None and len(data.train_x):
        mu_train, _ = model.encode(data.train_x)
    if model.training_centroids is not None:
        if not all(n in model.training_centroids for n in names):
            return None, mu_train
        return np.stack([model.training_centroids[n] for n in names]), mu_train
    if mu_train is None:
        return None, None
    cent = M.class_centroids(mu_train, data.train_y, len(names))
    return (None if np.isnan(cent).any() else cent), mu_train


def _morph_classes(morph, names: list[str], present: list[int]) -> tuple[int, int]:
    if morph is None:
        return present[0], present[1]
    idx = []
    for m in morph:
        if m not in names:
            raise EvaluateError(f"--morph: unknown class {m!r} (classes: {', '.join(names)})")
        if names.index(m) not in present:
            raise EvaluateError(f"--morph: no clips of class {m!r} in the evaluated data")
        idx.append(names.index(m))
    return idx[0], idx[1]

"""`vae-synth train`: arguments and entry point. Imports nothing heavy until run_train()."""

from __future__ import annotations

import argparse
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

examples:
  vae-synth train --data "fsdd:data/fsdd?speakers=nicolas" --arch conv --config small \\
      --out runs/digits --steps 3000
  vae-synth train --data folder:data/drums --data "synthetic:drums?n=400&split=none" \\
      --arch conv --config fast --latent-dim 10 --augment gain=6,shift=32 --augment-copies 4 \\
      --out runs/drums --epochs 200
  vae-synth train --out runs/digits --resume --steps 6000     # continue a killed run

RUN_DIR gets config.json, checkpoints/{last,best,backup}, logs/ (TensorBoard, metrics.csv),
history.csv and metrics.json (held-out recon SNR, recon_ratio, class-centre levels, accuracy).
"""


def _f0_range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give LO,HI in Hz") from None
    if not 0 < lo < hi:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 < LO < HI")
    return lo, hi


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    g = parser.add_argument_group("data")
    g.add_argument("--data", action="append", metavar="SOURCE", dest="sources",
                   help="training data (see SOURCE below); repeat to mix sources")
    g.add_argument("--sample-rate", type=int, help="model sample rate in Hz (default by source)")
    g.add_argument("--frame-length", type=int,
                   help="samples per frame, e.g. 512, 4096, 16384 (default by source)")
    g.add_argument("--augment", metavar="SPEC",
                   help="augmentation of the training clips: "
                        "gain=DB,shift=SAMPLES,stretch=FRACTION,noise=RMS,interp=linear|fft "
                        "(random cut of up to DB, delay of up to SAMPLES, playback speed within "
                        "1 +- FRACTION, which moves pitch and length together, read between "
                        "samples linearly (default; a low-pass) or band-limited through the "
                        "spectrum (fft: keeps the top octave); white noise of RMS on the "
                        "encoder's input only, fresh each step: the decoder learns the clean "
                        "clip)")
    g.add_argument("--augment-copies", type=int, default=4,
                   help="augmented copies of each training clip when --augment is set "
                        "(default 4)")
    m = parser.add_argument_group("model")
    m.add_argument("--arch", choices=["conv", "dilated", "hybrid"], default="conv",
                   help="thesis architecture (Tables 4.1, 4.2); default conv")
    m.add_argument("--config", default="small",
                   help="configuration: thesis (Tables 4.1/4.2 exactly), small (scaled for a "
                        "CPU), fast (conv only: real-time decoder, ~5 ms per 16384 samples), "
                        "fullband (conv only: real-time multiband decoder for 44.1 kHz, 16 "
                        "sub-bands recombined by a PQMF, ~2.5 ms per 32768 samples; frames a "
                        "multiple of 1024); default small")
    m.add_argument("--encoder", choices=["waveform", "logspec", "waveform+logspec"],
                   default="waveform",
                   help="encoder input: waveform (the configuration's own, as the thesis), "
                        "logspec (a fixed log-STFT front end and three convolutions) or "
                        "waveform+logspec (both side by side, concatenated before the latent); "
                        "the decoder, which is what the player runs, is the same; default "
                        "waveform")
    m.add_argument("--output-gate", type=float, default=None, metavar="DBFS",
                   help="gate the decoder's output below DBFS (e.g. -50): a downward expander "
                        "inside the model, so decoded silence is silent instead of hissing at "
                        "-60..-80 dBFS (default: none, as the thesis)")
    m.add_argument("--encoder-dropout", type=float, default=None, metavar="RATE",
                   help="dropout of RATE on the encoder's flattened features while training "
                        "(e.g. 0.3): held-out clips land nearer their class; exported models "
                        "are unchanged (default: none)")
    m.add_argument("--antialias", action="store_true",
                   help="a moving average as long as the stride after each strided transposed "
                        "convolution of the decoder, against the comb of peaks at multiples of "
                        "the decoder input's rate that they leave (evaluate's comb_db); no "
                        "weights. It halved the drums' comb and left the digits' (the decoder "
                        "voices speech with it); pair it with --noise-bands (default: off, as "
                        "the thesis)")
    m.add_argument("--noise-bands", type=int, default=0, metavar="B",
                   help="add a filtered-noise branch to the decoder: B bands of a fixed noise "
                        "table on a log scale over the top 8 octaves (half-octaves for B = 16), "
                        "their gains decoded per grid step (DDSP's noise "
                        "synthesiser). Hi-hats and snares come out as noise instead of a buzz at "
                        "multiples of sr / stride; try 16 for drums (default: 0, none)")
    m.add_argument("--harmonics", type=int, default=0, metavar="K",
                   help="add a harmonic oscillator bank to the decoder (DDSP's harmonic "
                        "synthesiser): per grid step it decodes an f0 and the amplitudes of K "
                        "harmonics, so voiced sound comes out at the speaker's pitch instead of "
                        "a buzz at multiples of sr / stride. The f0 is trained toward the pitch "
                        "of each target clip (--f0-weight). On the digits (K = 32) it plays "
                        "the speaker's pitch within 0.13 octave, but the thesis's centroid dist "
                        "did not improve (docs/RESULTS.md 2.5) (default: 0, none)")
    m.add_argument("--f0-range", type=_f0_range, default="60,400", metavar="LO,HI",
                   help="with --harmonics: the f0 range in Hz, of the decoder and of the pitch "
                        "tracker that gives its target (default 60,400: adult speech)")
    m.add_argument("--no-waveform-branch", action="store_true",
                   help="with --harmonics and/or --noise-bands: drop the decoder's transposed "
                        "convolutions; two 3-tap convolutions over the grid steps drive the "
                        "oscillators and the noise, which alone make the sound (a DDSP-style "
                        "decoder: no buzz at multiples of sr / stride, and cheap to decode)")
    m.add_argument("--prior-classifier", action="store_true",
                   help="with --class-prior: the classifier is the class prior's own posterior "
                        "(logit of class c = -|z - m_c|^2 / 2, no weights), so the cross-entropy "
                        "pulls each clip nearer its own class centre than any other, the "
                        "distance the player and the 1-NN measure use (default: the thesis's "
                        "learned dense classifier)")
    m.add_argument("--latent-dim", type=int, default=20, help="latent size D (default 20)")
    m.add_argument("--plain", action="store_true",
                   help="plain (non-variational) autoencoder: the latent is the 1x1 bottleneck "
                        "signal, no KL, no classifier")
    t = parser.add_argument_group("training")
    t.add_argument("--out", required=False, metavar="RUN_DIR", help="run folder to write")
    how_long = t.add_mutually_exclusive_group()
    how_long.add_argument("--steps", type=int, help="optimizer steps (rounded up to whole epochs)")
    how_long.add_argument("--epochs", type=int, help="passes over the training set (default 100)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in RUN_DIR where it stopped (settings from config.json)")
    t.add_argument("--overwrite", action="store_true", help="start over in an existing RUN_DIR")
    t.add_argument("--seed", type=int, default=0, help="seed for data split, init, sampling")
    t.add_argument("--batch-size", type=int, default=16, help="global batch size (default 16)")
    t.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
    t.add_argument("--lr-schedule", choices=["constant", "cosine"], default="constant",
                   help="constant, or cosine decay to 5 %% of --lr over the planned steps")
    t.add_argument("--clipnorm", type=float, default=1.0, help="gradient clipping norm (1.0)")
    lo = parser.add_argument_group("loss")
    lo.add_argument("--beta", type=float, default=None, help="KL weight (default 1e-3)")
    lo.add_argument("--gamma", type=float, default=None,
                    help="classifier cross-entropy weight (default 0.1)")
    lo.add_argument("--recon", choices=["mse", "stft", "mse+stft"], default="mse+stft",
                    help="reconstruction loss: thesis waveform MSE, multi-resolution STFT, or "
                         "both (default; MSE alone collapses to near-silence)")
    lo.add_argument("--mse-weight", type=float, default=None, help="weight of the MSE term")
    lo.add_argument("--stft-weight", type=float, default=None, help="weight of the STFT term")
    lo.add_argument("--mel-weight", type=float, default=None,
                    help="weight of a log-mel L1 term (--mel-fft point FFT, --mel-bands mels); "
                         "it weights low frequencies as the ear does and keeps kicks and toms at "
                         "their level")
    lo.add_argument("--mel-fft", type=int, default=None, metavar="N",
                    help="FFT size of the log-mel term (default 2048: 93 ms at 22.05 kHz, but "
                         "256 ms at 8 kHz; 256 follows speech's formants at 32 ms)")
    lo.add_argument("--mel-bands", type=int, default=None, metavar="M",
                    help="mel bands of the log-mel term (default 64)")
    lo.add_argument("--level-weight", type=float, default=None,
                    help="weight of a frame-loudness term (log energy per 1024-sample frame)")
    lo.add_argument("--f0-weight", type=float, default=None,
                    help="with --harmonics: weight of the pitch term, the mean distance in "
                         "octaves between the decoded f0 and the target clip's pitch over its "
                         "voiced frames (default 1.0)")
    lo.add_argument("--voiced-noise-weight", type=float, default=None,
                    help="with --harmonics and --noise-bands: weight of a penalty on the noise "
                         "gains in the frames where the target clip is voiced, so vowels come "
                         "from the oscillators and not from breathy noise; on the digits it "
                         "voiced them, the thesis's dist did not improve (default 0)")
    lo.add_argument("--kl-warmup", type=int, default=None, metavar="STEPS",
                    help="ramp the KL weight from 0 to --beta over STEPS steps")
    lo.add_argument("--free-bits", type=float, default=None, metavar="NATS",
                    help="no KL pressure on a latent dimension below NATS")
    lo.add_argument("--class-prior", type=float, default=None, metavar="SPREAD",
                    help="KL toward a prior of each clip's own class, N(m_c, I), with the class "
                         "means SPREAD apart on their own axes, instead of N(0, I): classes "
                         "form tight clusters (default 0: the thesis's standard prior)")
    lo.add_argument("--cluster-weight", type=float, default=None, metavar="W",
                    help="with --class-prior: weight of the mean squared distance of each "
                         "clip's latent mean to its class centre, drawing every class into a "
                         "tighter cluster than the KL alone (which also widens the posteriors); "
                         "held-out clips' nearest neighbour is then of their own class when "
                         "the classifier is right (default 0)")
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


def options_from_args(args: argparse.Namespace):
    from vae_synth.train.trainer import TrainOptions

    loss = {}
    loss["mse_weight"] = 0.0 if args.recon == "stft" else 1.0
    loss["stft_weight"] = 0.0 if args.recon == "mse" else 1.0
    # explicit options override the defaults above (loss key <- option)
    for key, option in (("beta", "beta"), ("gamma", "gamma"), ("mse_weight", "mse_weight"),
                        ("stft_weight", "stft_weight"), ("mel_weight", "mel_weight"),
                        ("mel_fft", "mel_fft"), ("mel_bands", "mel_bands"),
                        ("level_weight", "level_weight"), ("kl_warmup_steps", "kl_warmup"),
                        ("free_bits", "free_bits"), ("class_prior", "class_prior"),
                        ("cluster_weight", "cluster_weight"),
                        ("f0_weight", "f0_weight"), ("voiced_noise_weight", "voiced_noise_weight")):
        if getattr(args, option) is not None:
            loss[key] = getattr(args, option)
    return TrainOptions(
        sources=args.sources or [], out=args.out, arch=args.arch, config=args.config,
        encoder=args.encoder, output_gate_db=args.output_gate, encoder_dropout=args.encoder_dropout,
        prior_classifier=args.prior_classifier, antialias=args.antialias,
        noise_bands=args.noise_bands, harmonics=args.harmonics, f0_range=args.f0_range,
        waveform_branch=not args.no_waveform_branch,
        latent_dim=args.latent_dim, steps=args.steps, epochs=args.epochs, resume=args.resume,
        sample_rate=args.sample_rate, frame_length=args.frame_length, seed=args.seed,
        batch_size=args.batch_size, lr=args.lr, lr_schedule=args.lr_schedule,
        clipnorm=args.clipnorm, plain=args.plain,
        loss=loss, augment=args.augment, augment_copies=args.augment_copies,
        checkpoint_every=args.checkpoint_every, monitor_every=args.monitor_every,
        distribute=args.distribute, cpu_replicas=args.cpu_replicas,
        mixed_precision=args.mixed_precision, verbose=0 if args.quiet else 1,
        tensorboard=not args.no_tensorboard, overwrite=args.overwrite,
    )


def run_train(args: argparse.Namespace) -> int:
    if not args.out:
        print("vae-synth train: --out RUN_DIR is required", file=sys.stderr)
        return 2
    if not args.sources and not args.resume:
        print("vae-synth train: give at least one --data SOURCE", file=sys.stderr)
        return 2
    from vae_synth.train.backend import import_backend_quietly
    from vae_synth.train.data import DataError
    from vae_synth.train.trainer import TrainError, train

    import_backend_quietly()
    try:
        train(options_from_args(args))
    except (DataError, TrainError, ValueError) as exc:
        print(f"vae-synth train: error: {exc}", file=sys.stderr)
        return 2
    return 0

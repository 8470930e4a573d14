"""Pictures (matplotlib, Agg), sounds (WAV) and the Markdown report of ``vae-synth evaluate``.

Every file is written through ``vae_synth.synth.atomic`` (a temporary file beside it, renamed
into place), so a crash never leaves a half-written report behind.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np
from vae_synth.evaluate import metrics as M
from vae_synth.synth import atomic
from vae_synth.synth.atomic import atomic_path

THESIS = {  # thesis Tables 5.2 and 5.5 (spoken digits, one speaker, latent 20)
    "conv": {"one_nn": 0.94, "dist_mean": 0.20, "dist_std": 1.26},
    "dilated": {"one_nn": 0.96, "dist_mean": -0.33, "dist_std": 0.58},
    "hybrid": {"one_nn": 0.09, "dist_mean": 5.47, "dist_std": 1.89},
}
# thesis Table 5.5 per digit: centroid dist (mean, std) of each architecture
THESIS_PER_DIGIT = {
    "conv": [(0.79, 1.65), (0.79, 1.72), (0.03, 1.13), (0.69, 1.71), (0.38, 1.43),
             (0.02, 1.14), (-0.24, 0.93), (-0.21, 0.90), (-0.05, 1.19), (-0.23, 0.83)],
    "dilated": [(-0.29, 0.96), (-0.47, 0.16), (-0.38, 0.51), (0.00, 1.19), (-0.25, 0.71),
                (-0.46, 0.14), (-0.32, 0.73), (-0.37, 0.27), (-0.42, 0.47), (-0.32, 0.68)],
    "hybrid": [(6.89, 2.47), (4.22, 0.64), (4.27, 0.86), (5.36, 1.67), (5.73, 4.46),
               (7.58, 1.63), (5.71, 1.38), (7.13, 1.78), (4.96, 1.81), (2.83, 0.56)],
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # headless: never open a window
    import matplotlib.pyplot as plt

    return plt


def _atomic_write(path: Path, write) -> Path:
    """Call write(tmp_path), then move the finished file onto ``path`` (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        write(tmp)
    return path


def _save_figure(fig, path: Path, dpi: int = 80) -> Path:
    plt = _pyplot()
    try:
        return _atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png",
                                                            bbox_inches="tight"))
    finally:
        plt.close(fig)


def summary_line(m: dict) -> str:
    """One line of the figures in a metrics dict: `vae-synth evaluate`'s metrics.json, or a
    training run's (whose centre levels are per class: {class: dB})."""

    def f(key, fmt):
        v = m.get(key)
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    parts = [f"1-NN {f('one_nn_accuracy', '.3f')}",
             f"nearest-centroid {f('nearest_centroid_accuracy', '.3f')}"]
    if "centroid_dist_mean" in m:
        parts.append(f"centroid dist {f('centroid_dist_mean', '+.2f')} ± "
                     f"{f('centroid_dist_std', '.2f')} (a real take "
                     f"{f('training_medoid_dist_mean', '+.2f')})")
    parts += [f"SNR {f('recon_snr_db', '.2f')} dB", f"recon_ratio {f('recon_ratio', '.3f')}"]
    levels = m.get("centroid_level_db")
    if isinstance(levels, dict):
        parts.append("centre level vs real (dB) "
                     + " ".join(f"{k}:{v:+.1f}" for k, v in levels.items()))
    else:
        parts.append(f"centroid level {f('centroid_level_db', '+.1f')} dB")
    if "morph_smoothness" in m:
        parts.append(f"morph {f('morph_smoothness', '.2f')}")
    if "comb_db" in m:
        parts.append(f"comb {f('comb_db', '.1f')} dB")
    return "  ".join(parts) + _high_band_summary(m)


def _high_band_summary(m: dict) -> str:
    """``  above 11 kHz vs real (centre/recon): hihat -1.2/-0.4 ...`` where Nyquist allows
    (evaluate's metrics; a training run's have no high band)."""
    if "high_band_hz" not in m or m["model"]["sample_rate"] / 2 <= m["high_band_hz"]:
        return ""
    parts = [f"{name} {p['high_band']['centre_vs_real_db']:+.1f}/"
             f"{p['high_band']['recon_vs_real_db']:+.1f}"
             for name, p in m["per_class"].items() if "high_band" in p]
    return f"  above {m['high_band_hz'] / 1e3:g} kHz vs real, dB (centre/recon): " + " ".join(parts)


def safe_name(name: str) -> str:
    """A class name usable in a file name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)) or "class"


def write_json(path: Path, data) -> Path:
    """JSON with no NaN or infinity in it (they are not JSON): a figure that is not a number is
    written as null by the caller."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, data, allow_nan=False)
    return path


def portable_metrics(metrics: dict, data_roots: list[str | None] | None = None) -> dict:
    """A report's metrics.json as the repository records it (presets' evaluation.json,
    docs/results/), without this machine's paths: no model path, and data sources under a data
    root in ``data_roots`` (the run's, as given or resolved) written as ``$DATA/...``, as the
    model cards' and RESULTS' commands write them. Without ``data_roots``, the roots that the
    evaluated run's config.json records (read before the model path is dropped). Changes and
    returns ``metrics``."""
    from vae_synth.train.run import RunError, load_config

    path = (metrics.get("model") or {}).pop("path", None)
    if data_roots is None:
        try:  # a preset, or a run folder no longer here: no roots to name
            run = load_config(path) if path else {}
        except RunError:
            run = {}
        data_roots = [run.get("data_root"), run.get("data_root_path")]
    data = metrics.get("data") or {}
    for root in filter(None, data_roots):
        if str(root) == ".":
            continue
        prefix = ":" + str(root).rstrip("/") + "/"
        data["sources"] = [source.replace(prefix, ":$DATA/", 1)
                           for source in data.get("sources", [])]
    return metrics


def write_wav(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write mono float audio [L] as 16-bit PCM WAV, clipped to [-1, 1]."""
    import soundfile as sf

    data = np.clip(np.asarray(audio, np.float32), -1.0, 1.0)
    return _atomic_write(path, lambda tmp: sf.write(tmp, data, int(sample_rate), subtype="PCM_16",
                                                     format="WAV"))


def concatenate_with_gaps(frames: np.ndarray, sample_rate: int, gap_s: float = 0.1) -> np.ndarray:
    """[S, L] -> [S * L + (S - 1) * gap] one after another with short silences between."""
    gap = np.zeros(int(gap_s * sample_rate), np.float32)
    parts = []
    for i, f in enumerate(frames):
        if i:
            parts.append(gap)
        parts.append(np.asarray(f, np.float32))
    return np.concatenate(parts)


# ---------------------------------------------------------------------------------------------
# pictures


def _colours(n: int):
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def plot_latents(mu: np.ndarray, labels: np.ndarray, class_names: list[str], path: Path,
                 tsne: bool = True, seed: int = 0) -> Path:
    """PCA (and t-SNE) of latent means mu [N, D], coloured by labels [N] -> one PNG."""
    from sklearn.decomposition import PCA

    plt = _pyplot()
    mu = np.asarray(mu, np.float64)
    if mu.shape[1] == 2:  # a 2-D latent is shown as it is (thesis Table 4.3)
        panels = [("latent (z1, z2)", mu)]
    elif mu.shape[1] > 2:
        panels = [("PCA", PCA(n_components=2).fit_transform(mu))]
    else:
        panels = [("latent", np.c_[mu[:, 0], np.zeros(len(mu))])]
    if tsne and len(mu) > 5:
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (len(mu) - 1) / 3.0)))
        emb = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed
                   ).fit_transform(mu)
        panels.append((f"t-SNE (perplexity {perplexity:.0f})", emb))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4))
    axes = np.atleast_1d(axes)
    colours = _colours(len(class_names))
    for ax, (title, pts) in zip(axes, panels, strict=True):
        raw = title.startswith("latent")
        for c, name in enumerate(class_names):
            sel = labels == c
            if np.any(sel):
                ax.scatter(pts[sel, 0], pts[sel, 1], s=14, color=colours[c], label=name)
                cx, cy = pts[sel].mean(0)
                ax.annotate(name, (cx, cy), fontsize=9, weight="bold", ha="center")
        ax.set_title(title)
        if not raw:  # projection axes have no meaning of their own
            ax.set_xticks([])
            ax.set_yticks([])
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return _save_figure(fig, path)


def _spec_image(ax, audio: np.ndarray, sr: int, title: str, vmin: float = -60.0) -> None:
    db = M.log_mel_db(np.asarray(audio)[None], sr)[0]  # [mels, T]
    dur = len(audio) / sr
    ax.imshow(db, origin="lower", aspect="auto", vmin=vmin, vmax=0.0, cmap="magma",
              extent=(0.0, dur, 0.0, db.shape[0]))
    ax.set_title(title, fontsize=8)
    ax.set_yticks([])
    ax.tick_params(labelsize=6)


def plot_centroid_spectrograms(centres: dict[str, np.ndarray], examples: dict[str, np.ndarray],
                               sr: int, path: Path) -> Path:
    """Log-mel spectrogram of each decoded class centre [L] beside a real clip [L] of its class."""
    plt = _pyplot()
    names = list(centres)
    fig, axes = plt.subplots(len(names), 2, figsize=(6, 1.3 * len(names) + 0.4), squeeze=False)
    for r, name in enumerate(names):
        _spec_image(axes[r, 0], centres[name], sr, f"{name}: decoded centre")
        _spec_image(axes[r, 1], examples[name], sr, f"{name}: real clip")
    fig.tight_layout()
    return _save_figure(fig, path)


def plot_centroid_spectrograms_hz(centres: dict[str, np.ndarray], examples: dict[str, np.ndarray],
                                  sr: int, path: Path, mark_hz: float = M.HIGH_BAND_HZ) -> Path:
    """Linear-frequency spectrogram (0 .. sr / 2, kHz axis) of each decoded class centre [L]
    beside a real clip [L] of its class, a dashed line at ``mark_hz``: where the air of a
    hi-hat is, which the log-mel picture squeezes into its top rows."""
    plt = _pyplot()
    names = list(centres)
    fig, axes = plt.subplots(len(names), 2, figsize=(6.5, 1.5 * len(names) + 0.4), squeeze=False)
    n_fft, hop = 1024, 256
    for r, name in enumerate(names):
        for col, (audio, what) in enumerate(((centres[name], "decoded centre"),
                                              (examples[name], "real clip"))):
            a = np.asarray(audio, dtype=np.float64)
            frames = np.lib.stride_tricks.sliding_window_view(
                np.pad(a, (n_fft // 2, n_fft // 2)), n_fft)[::hop]
            power = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=1)) ** 2
            db = 10 * np.log10(power / (np.sum(np.hanning(n_fft)) ** 2 / 4) + 1e-12).T
            ax = axes[r, col]
            ax.imshow(db, origin="lower", aspect="auto", vmin=-90.0, vmax=-10.0, cmap="magma",
                      extent=(0.0, len(a) / sr, 0.0, sr / 2000.0))
            if mark_hz < sr / 2:
                ax.axhline(mark_hz / 1000.0, color="w", lw=0.6, ls="--")
            ax.set_title(f"{name}: {what}", fontsize=8)
            ax.tick_params(labelsize=6)
            ax.set_ylabel("kHz", fontsize=6)
    fig.tight_layout()
    return _save_figure(fig, path)


def plot_waveforms(clips: dict[str, np.ndarray], recons: dict[str, np.ndarray],
                   centres: dict[str, np.ndarray], sr: int, path: Path) -> Path:
    """Per class: a real clip [L] with its reconstruction, and the decoded class centre [L].

    The thesis's Table 4.3 (input/output pairs) and Table 4.4 (centre = denoised) as waveforms.
    """
    plt = _pyplot()
    names = list(clips)
    fig, axes = plt.subplots(len(names), 2, figsize=(7, 1.2 * len(names) + 0.4), squeeze=False,
                             sharex=True)
    for r, name in enumerate(names):
        t = np.arange(len(clips[name])) / sr * 1000.0
        axes[r, 0].plot(t, clips[name], color="0.6", lw=0.8, label="input")
        axes[r, 0].plot(t, recons[name], color="C3", lw=0.8, label="reconstruction")
        axes[r, 1].plot(t, centres[name], color="C0", lw=0.8)
        axes[r, 0].set_title(f"{name}: clip and reconstruction", fontsize=8)
        axes[r, 1].set_title(f"{name}: decoded class centre", fontsize=8)
        for ax in axes[r]:
            ax.set_ylim(-1.05, 1.05)
            ax.tick_params(labelsize=6)
    axes[0, 0].legend(fontsize=6, loc="upper right")
    axes[-1, 0].set_xlabel("ms", fontsize=7)
    axes[-1, 1].set_xlabel("ms", fontsize=7)
    fig.tight_layout()
    return _save_figure(fig, path)


def plot_latent_sines(latents: np.ndarray, freqs: list[float], latent_rate: float,
                      channels: list[int], path: Path) -> Path:
    """Thesis Fig. 4.2: the bottleneck of each constant sine read as a signal.

    latents: [S, T, C] bottleneck signals; one row per input frequency (channel ``channels[i]``):
    the latent waveform over time and its magnitude spectrum up to the latent Nyquist frequency.
    """
    plt = _pyplot()
    s, steps, _ = latents.shape
    fig, axes = plt.subplots(s, 2, figsize=(7, 0.9 * s + 0.6), squeeze=False)
    t = np.arange(steps) / latent_rate * 1000.0
    for i, f in enumerate(freqs):
        sig = latents[i, :, channels[i]]
        axes[i, 0].plot(t, sig, lw=0.7)
        axes[i, 0].set_ylabel(f"{f:g} Hz", fontsize=7)
        spec = np.abs(np.fft.rfft((sig - sig.mean()) * np.hanning(steps)))
        axes[i, 1].plot(np.fft.rfftfreq(steps, 1.0 / latent_rate), spec, lw=0.7)
        axes[i, 1].axvline(f % latent_rate if f % latent_rate <= latent_rate / 2
                           else latent_rate - f % latent_rate, color="C3", lw=0.6, ls=":")
        for ax in axes[i]:
            ax.tick_params(labelsize=6)
    axes[0, 0].set_title("latent signal (ms)", fontsize=8)
    axes[0, 1].set_title(f"its spectrum (Hz); dotted: alias of the input at {latent_rate:g} Hz",
                         fontsize=8)
    fig.tight_layout()
    return _save_figure(fig, path)


def plot_morph_strip(frames: np.ndarray, sr: int, a: str, b: str, path: Path) -> Path:
    """Spectrograms of the S decoded steps [S, L] of a morph from class a to class b in a row."""
    plt = _pyplot()
    s = len(frames)
    fig, axes = plt.subplots(1, s, figsize=(1.2 * s, 2.0), squeeze=False)
    for i, f in enumerate(frames):
        t = i / (s - 1) if s > 1 else 0.0
        _spec_image(axes[0, i], f, sr, f"t={t:.2f}")
        if i:
            axes[0, i].set_xticks([])
    fig.suptitle(f"morph {a} -> {b} (log-mel)", fontsize=9)
    fig.tight_layout()
    return _save_figure(fig, path)


def read_history(path: Path) -> dict[str, list[float]]:
    """history.csv -> {column: values} for the numeric columns."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols: dict[str, list[float]] = {}
    for key in rows[0].keys() if rows else []:
        try:
            cols[key] = [float(r[key]) for r in rows]
        except (TypeError, ValueError):
            continue
    return cols


def plot_training_curves(history_csv: Path, path: Path) -> Path | None:
    """One small panel per logged quantity of the run's history.csv (train and val together)."""
    cols = read_history(history_csv)
    x_key = next((k for k in ("epoch", "step") if k in cols), None)
    keys = [k for k in cols if k != x_key and not k.startswith("val_") and k not in ("lr", "time")]
    if not keys:
        return None
    plt = _pyplot()
    keys = keys[:12]
    ncol = min(4, len(keys))
    nrow = math.ceil(len(keys) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.0 * ncol, 2.2 * nrow), squeeze=False)
    xs = cols[x_key] if x_key else list(range(len(cols[keys[0]])))
    for ax, k in zip(axes.flat, keys, strict=False):
        ax.plot(xs, cols[k], label="train", lw=1)
        if f"val_{k}" in cols:
            ax.plot(xs, cols[f"val_{k}"], label="val", lw=1)
        vals = np.array(cols[k] + cols.get(f"val_{k}", []))
        if np.all(vals > 0) and vals.max() / max(vals.min(), 1e-30) > 30:
            ax.set_yscale("log")
        ax.set_title(k, fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    return _save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# JSON of the DTW matrices and the Markdown report


def consistency_to_json(cons: M.CentroidConsistency, cons_train: M.CentroidConsistency | None):
    def one(c: M.CentroidConsistency):
        return {
            name: {
                "pairwise_dtw": np.round(v.pairwise, 4).tolist(),
                "center_dtw": np.round(v.center, 4).tolist(),
                "dist": [None if not np.isfinite(d) else round(float(d), 4) for d in v.dist],
                "mean": v.mean if np.isfinite(v.mean) else None,
                "std": v.std if np.isfinite(v.std) else None,
            }
            for name, v in c.per_class.items()
        }

    out = {"evaluated_centroids": one(cons)}
    if cons_train is not None:
        out["training_centroids"] = one(cons_train)
    return out


def _fmt(v, spec: str = ".3f") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def _db(v) -> str:
    """A signed dB figure, or "–" where a report has none (older metrics.json)."""
    text = _fmt(v, "+.1f")
    return text if text == "–" else f"{text} dB"


def _band_table(m: dict, key: str, title: str) -> list[str]:
    """Report lines for one band's per-class share figures (``high_band``, ``sub_bass``):
    none where the metrics have none."""
    rows = [(name, p[key]) for name, p in m["per_class"].items() if p.get(key)]
    if not rows:
        return []
    lines = ["", f"## {title}", "",
             "| class | real clips (median) | decoded centre | reconstructions (median) | "
             "centre − real | reconstructions − real | reconstruction − its own clip "
             "(median) | the pad's centre − real | training clips (median) | centre − training "
             "clips |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, b in rows:
        lines.append(f"| {name} | {_fmt(b['real_db'], '.1f')} dB | "
                     f"{_fmt(b['centre_db'], '.1f')} dB | {_fmt(b['recon_db'], '.1f')} dB | "
                     f"{_fmt(b['centre_vs_real_db'], '+.1f')} dB | "
                     f"{_fmt(b['recon_vs_real_db'], '+.1f')} dB | "
                     f"{_db(b.get('recon_vs_own_db'))} | "
                     f"{_db(b.get('pad_centre_vs_real_db'))} | "
                     f"{_fmt(b['training_db'], '.1f') + ' dB' if 'training_db' in b else '–'} | "
                     f"{_db(b.get('centre_vs_training_db'))} |")
    return lines


def _table_5_4(name: str, cc: M.ClassConsistency, max_n: int = 12) -> list[str]:
    """Thesis Table 5.4 layout: pairwise matrix, a = column means (without self), b = centre, c."""
    n = len(cc.center)
    if n > max_n:
        return [f"(class {name}: {n} clips, matrix in centroid_dtw.json)", ""]
    head = "| | " + " | ".join(f"x{j}" for j in range(n)) + " |"
    lines = [f"**Class {name}** (MFCC-DTW)", "", head, "|---" * (n + 1) + "|"]
    for i in range(n):
        lines.append(f"| x{i} | " + " | ".join(f"{cc.pairwise[i, j]:.2f}" for j in range(n)) + " |")
    off = ~np.eye(n, dtype=bool)
    a = [cc.pairwise[j][off[j]].mean() if n > 1 else float("nan") for j in range(n)]
    lines.append("| a | " + " | ".join(_fmt(float(v), ".2f") for v in a) + " |")
    lines.append("| b | " + " | ".join(f"{v:.2f}" for v in cc.center) + " |")
    lines.append("| c | " + " | ".join(_fmt(float(v), ".2f") for v in cc.dist) + " |")
    lines.append("")
    return lines


def write_report_md(path: Path, m: dict, cons: M.CentroidConsistency, images: dict, wavs: list,
                    out_dir: Path) -> Path:
    """report.md: summary table, per-class table (thesis Table 5.5 layout), Table 5.4 matrices,
    reconstruction, KL, morphs, pictures and sounds (relative links)."""
    out_dir = Path(out_dir)
    model, data = m["model"], m["data"]
    tc = m.get("training_centroids")
    L = [
        f"# Evaluation of {model['name']} ({model['kind']})",
        "",
        f"- model: `{model['path']}`" + (f", arch {model.get('arch')}" if model.get("arch") else ""),
        f"- data: {', '.join(f'`{s}`' for s in data['sources'])}, split **{data['split']}**, "
        f"{data['clips']} clips, {len(data['classes'])} classes",
        f"- sample rate {model['sample_rate']} Hz, frame {model['frame_length']} samples, "
        f"latent {m['latent_dim']}; evaluated in {m.get('seconds', 0)} s",
        "",
        "## Summary",
        "",
        "| metric | value | meaning |",
        "|---|---|---|",
        f"| 1-NN accuracy (leave-one-out) | {_fmt(m['one_nn_accuracy'])} | thesis Table 5.2 |",
        f"| nearest-centroid accuracy | {_fmt(m['nearest_centroid_accuracy'])} | "
        "class means of these clips, leave-one-out |",
    ]
    if m.get("one_nn_vs_training_accuracy") is not None:
        L.append(f"| 1-NN among the training clips | {_fmt(m['one_nn_vs_training_accuracy'])} | "
                 "nearest training latent of each clip |")
    if tc:
        L.append(f"| nearest training centroid | {_fmt(tc['nearest_centroid_accuracy'])} | "
                 "the model's own training centroids |")
    L += [
        f"| centroid dist mean ± std | {_fmt(m['centroid_dist_mean'], '+.2f')} ± "
        f"{_fmt(m['centroid_dist_std'], '.2f')} | eq. 5.3, Table 5.5 average; lower is better |",
    ]
    if tc:
        L.append(f"| centroid dist, training centroids | {_fmt(tc['centroid_dist_mean'], '+.2f')} ± "
                 f"{_fmt(tc['centroid_dist_std'], '.2f')} | the same with the training centroids |")
    if m.get("training_medoid_dist_mean") is not None:
        L.append(f"| centroid dist of a real take | {_fmt(m['training_medoid_dist_mean'], '+.2f')} ± "
                 f"{_fmt(m['training_medoid_dist_std'], '.2f')} | reference: the most typical "
                 "training clip of each class as the centre |")
    L += [
        f"| reconstruction SNR | {_fmt(m['recon_snr_db'], '.2f')} dB (median clip "
        f"{_fmt(m['recon_snr_db_median_clip'], '.2f')} dB) | decode(mu) vs source |",
        f"| recon_ratio | {_fmt(m['recon_ratio'], '.2f')} ({_fmt(m['recon_logmel_median_db'], '.1f')}"
        f" / {_fmt(m['pair_logmel_median_db'], '.1f')} dB) | < 1: keeps what makes a clip itself |",
        f"| centroid level | {_fmt(m['centroid_level_db'], '+.1f')} dB (lowest "
        f"{_fmt(m['centroid_level_db_min'], '+.1f')} dB) | decoded centre vs median real clip |",
        f"| decoder comb | {_fmt(m.get('comb_db'), '.1f')} dB every "
        f"{_fmt(m['model']['sample_rate'] / m['comb_period'] if m.get('comb_period') else None, '.0f')}"
        f" Hz (real clips {_fmt(m.get('comb_db_real'), '.1f')} dB) | spectral peaks a decoder "
        f"adds at multiples of sr / period: a buzz; 0 = none |",
        f"| comb of the decoded centres | {_fmt(m.get('comb_db_centres'), '.1f')} dB | the "
        f"sounds the pads play, same period |",
        f"| morph smoothness | {_fmt(m['morph_smoothness'], '.2f')} (worst "
        f"{_fmt(m['morph_smoothness_max'], '.2f')}) | largest / mean step, 1 = even |",
    ]
    if m.get("active_dims") is not None:
        L.append(f"| active latent dims | {m['active_dims']} of {m['latent_dim']} | "
                 f"KL > 0.01 nats; total KL {_fmt(m['kl_total'], '.2f')} nats |")
    L += ["", "## Per class (thesis Table 5.5 layout)", "",
          "| class | clips | 1-NN | nearest centroid | dist mean | dist std | dist of a real take "
          "| level dB | level − training clips dB | pad level dB | held-out − training clips "
          "level dB | SNR dB |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, p in m["per_class"].items():
        L.append(f"| {name} | {p['count']} | {_fmt(p['one_nn'], '.2f')} | "
                 f"{_fmt(p['nearest_centroid'], '.2f')} | {_fmt(p['dist_mean'], '+.2f')} | "
                 f"{_fmt(p['dist_std'], '.2f')} | {_fmt(p.get('dist_mean_training_medoid'), '+.2f')} | "
                 f"{_fmt(p['level_db'], '+.1f')} | {_db(p.get('level_vs_training_db'))} | "
                 f"{_db(p.get('pad_level_db'))} | {_db(p.get('heldout_vs_training_level_db'))} | "
                 f"{_fmt(p['recon_snr_db'], '.1f')} |")
    if m.get("misplaced"):
        L += ["", "## Clips placed in another class", "",
              "| clip | class | nearest other clip | nearest centre | nearest training centre |",
              "|---|---|---|---|---|"]
        for r in m["misplaced"]:
            L.append(f"| {r['file']} | {r['class']} | {r['nearest_clip']} | "
                     f"{r['nearest_centre']} | {r['nearest_training_centre'] or 'n/a'} |")
    L += _band_table(m, "high_band", f"Energy above "
                     f"{_fmt(m.get('high_band_hz', 11000) / 1e3, '.0f')} kHz (the air of hi-hats "
                     "and snares)")
    L += _band_table(m, "sub_bass", f"Energy below {_fmt(m.get('sub_bass_hz', 40), '.0f')} Hz "
                     "(under a kick's fundamental: a sub-sonic lump here adds level that few "
                     "speakers play)")
    L += ["", "## MFCC-DTW matrices (thesis Table 5.4 layout)", "",
          "Columns are clips; rows a: mean DTW to the other clips, b: DTW to the decoded centre, "
          "c: eq. 5.3. All matrices: `centroid_dtw.json`.", ""]
    for name, cc in cons.per_class.items():
        L += _table_5_4(name, cc)
    if m.get("kl_per_dim") is not None:
        L += ["## KL per latent dimension (nats)", "",
              " ".join(f"{v:.2f}" for v in m["kl_per_dim"]), ""]
    L += ["## Morph smoothness per pair", "",
          "| pair | max / mean step |", "|---|---|"]
    L += [f"| {k} | {_fmt(v, '.2f')} |" for k, v in m["morph_smoothness_pairs"].items()]
    L += ["", "## Pictures", ""]
    captions = {"latent": "Latent means (PCA, t-SNE), coloured by class",
                "centroids": "Decoded class centres beside a real clip of the class",
                "centroids_hz": "The same on a linear frequency axis up to Nyquist (dashed: "
                                "11 kHz)",
                "waveforms": "Waveforms: a clip with its reconstruction; the decoded class centre",
                "morph": "9-step morph between two class centres",
                "curves": "Training curves (history.csv)"}
    for key, caption in captions.items():
        if images.get(key):
            rel = Path(images[key]).relative_to(out_dir)
            L += [f"**{caption}**", "", f"![{caption}]({rel.as_posix()})", ""]
    L += ["## Sounds", ""]
    L += [f"- [{Path(w).name}]({Path(w).relative_to(out_dir).as_posix()})" for w in wavs]
    L += ["", "## Protocol", ""]
    L += [f"- {k}: {v}" for k, v in m["protocol"].items()]
    if data.get("attribution"):
        L += ["", f"Data: {data['attribution']} ({data.get('licence', '')})."]
    text = "\n".join(L) + "\n"
    return _atomic_write(path, lambda tmp: Path(tmp).write_text(text))

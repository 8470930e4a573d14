"""Finish a bundled preset: copy its evaluation into the bundle and write its model card.

    python scripts/publish_preset.py PRESET_DIR REPORT_DIR --run RUN_DIR [--commands FILE]
        [--notes TEXT] [--notes-md FILE]

PRESET_DIR is what `vae-synth export` wrote, REPORT_DIR what `vae-synth evaluate PRESET_DIR ...`
wrote, RUN_DIR the training run (its recipe, time and history), FILE the exact shell commands
that reproduce the preset (default: train from the preset's recipe, export, evaluate). Writes
into PRESET_DIR: ``evaluation.json`` (the report's metrics, without machine-specific paths), the
three pictures a musician looks at first, ``recipe.toml`` (the run's recipe, unless the folder
has one) and ``README.md``, which quotes the recipe. ONNX files and preset.json are left
untouched.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
from pathlib import Path

from vae_synth.evaluate.metrics import HIGH_BAND_HZ
from vae_synth.evaluate.report import portable_metrics
from vae_synth.synth.atomic import write_json, write_text

PICTURES = {
    "latent_pca_tsne.png": "The latent map: encoder means of the held-out clips, PCA and t-SNE, by class",
    "centroid_spectrograms.png": "Each class centre decoded, beside a real clip of the class",
    "morph_strip.png": "A 9-step morph between two class centres",
}
# shown where the preset reaches above 11 kHz: the log-mel picture squeezes a hi-hat's air into
# its top rows, this one draws it in linear kHz up to the Nyquist frequency
FULLBAND_PICTURES = {
    "centroid_spectrograms_hz.png": "Each class centre decoded beside a real clip, 0 to "
                                    "{nyquist:.1f} kHz (dashed: 11 kHz, the top of a 22.05 kHz preset)",
}


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.{digits}f}" if value < 0 else f"{value:.{digits}f}"
    return str(value)


def _extras(config: dict) -> str:
    """What the run changed beyond its named configuration (encoder, gate, classifier, augmentation)."""
    parts = []
    model = config.get("model") or {}
    augment = config.get("augment") or {}
    if config.get("encoder", "waveform") != "waveform":
        parts.append(f"`{config['encoder']}` encoder")
    if model.get("output_gate_db") is not None:
        parts.append(f"output gate at {model['output_gate_db']:g} dBFS")
    if model.get("classifier") == "prior":
        parts.append("prior classifier (class centres on their own axes, "
                     f"{model['prior_spread']:g} from the origin)")
    if model.get("antialias"):
        transposed = [layer for layer in model.get("decoder") or [] if layer.get("type") == "convT"]
        notched = [(i, layer["antialias_periods"]) for i, layer in enumerate(transposed, 1)
                   if layer.get("antialias_periods")]
        if notched:
            where = ", ".join(f"a notch over {periods} periods after transposed convolution {i}"
                              for i, periods in notched)
            parts.append(f"anti-imaging: {where}, a moving average after the others")
        else:
            parts.append("anti-imaging moving average after each transposed convolution")
    if model.get("noise_bands"):
        parts.append(f"filtered-noise branch of {model['noise_bands']} bands in the decoder")
    if model.get("encoder_dropout"):
        parts.append(f"encoder dropout {model['encoder_dropout']:g}")
    if augment.get("copies"):
        described = {"gain_db": "gain −{:g} dB", "shift": "shift {:d} samples",
                     "stretch": "speed 1 ± {:g}"}
        kinds = [text.format(augment[key]) for key, text in described.items() if augment.get(key)]
        if kinds:
            parts.append(f"{augment['copies']} augmented copies ({', '.join(kinds)})")
            if augment.get("balance"):
                parts.append("more copies of the smaller classes' clips, until every class "
                             "holds as many as the largest")
    if augment.get("noise"):
        parts.append(f"encoder-input noise RMS {augment['noise']:g}")
    return ", " + ", ".join(parts) if parts else ""


def _run_summary(run_dir: Path) -> dict:
    from vae_synth.train.run import load_config

    config = load_config(run_dir)
    metrics_path = run_dir / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
    return {"config": config, "metrics": metrics}


def _recipe_file(preset_dir: Path, config: dict) -> Path:
    """PRESET_DIR/recipe.toml: the folder's own (kept: it may carry comments), else the run's."""
    from vae_synth.train.recipe import Recipe

    path = preset_dir / "recipe.toml"
    if not path.exists():
        write_text(path, Recipe.from_run_config(config).to_toml())
    return path


def _default_commands(name: str, evaluation: dict) -> str:
    data = " ".join(f'--data "{s}"' for s in (evaluation.get("data") or {}).get("sources", []))
    return (f"vae-synth train --recipe {name} --out runs/{name}\n"
            f"vae-synth export runs/{name} --out presets/{name} --name {name}\n"
            f"vae-synth evaluate presets/{name} {data} --out reports/{name}\n"
            f"python scripts/publish_preset.py presets/{name} reports/{name} --run runs/{name}\n")


def _air_table(evaluation: dict) -> str:
    """Markdown: per class, the share of energy above 11 kHz of the real clips, the decoded
    centres and the reconstructions (where the preset reaches above 11 kHz), else ""."""
    rows = [(name, stats["high_band"]) for name, stats in evaluation.get("per_class", {}).items()
            if "high_band" in stats]
    if not rows:
        return ""
    def db(value) -> str:
        return "–" if value is None else f"{value:+.1f}"

    lines = [f"| {name} | {_fmt(hb.get('real_db'), 1)} | {db(hb.get('centre_vs_real_db'))} | "
             f"{db(hb.get('pad_centre_vs_real_db'))} | {db(hb.get('recon_vs_real_db'))} | "
             f"{db(hb.get('recon_vs_own_db'))} |" for name, hb in rows]
    hz = evaluation.get("high_band_hz", HIGH_BAND_HZ) / 1000
    return f"""
Air: the share of each sound's energy above {hz:g} kHz, in dB; the real clips' median, then each
decoded sound against it (0 = as bright as the real clips; the pad's centre is the one the player
decodes, from the training clips; "vs own" pairs each reconstruction with its own clip):

| class | real clips (dB) | centre | pad's centre | reconstructions | reconstructions vs own |
|---|---|---|---|---|---|
""" + "\n".join(lines) + "\n"


def write_card(preset_dir: Path, report_dir: Path, run_dir: Path, commands: str | None,
               notes: str, notes_md: str = "") -> None:
    preset = json.loads((preset_dir / "preset.json").read_text())
    run = _run_summary(run_dir)
    config, run_metrics = run["config"], run["metrics"]
    evaluation = portable_metrics(json.loads((report_dir / "metrics.json").read_text()),
                                  [config.get("data_root"), config.get("data_root_path")])
    write_json(preset_dir / "evaluation.json", evaluation, indent=1)
    shown = dict(PICTURES)
    if preset["sample_rate"] / 2 > HIGH_BAND_HZ:
        shown.update({name: caption.format(nyquist=preset["sample_rate"] / 2000)
                      for name, caption in FULLBAND_PICTURES.items()})
    for picture in shown:
        shutil.copyfile(report_dir / picture, preset_dir / picture)
        (preset_dir / picture).chmod(0o644)

    recipe = _recipe_file(preset_dir, config)
    commands = commands or _default_commands(preset["name"], evaluation)
    sources = ((config.get("recipe") or {}).get("data") or {}).get("sources") or config.get(
        "sources", [])
    seconds = run_metrics.get("train_seconds", run_metrics.get("train_seconds_this_session", 0))
    notes_section = f"\n## Notes\n\n{notes_md.strip()}\n" if notes_md.strip() else ""
    training = preset["training"]
    size_mb = sum(p.stat().st_size for p in preset_dir.iterdir() if p.is_file()) / 1e6
    per_class = evaluation.get("per_class", {})
    rows = "\n".join(
        f"| {name} | {stats.get('count', '–')} | {_fmt(stats.get('one_nn'))} | "
        f"{_fmt(stats.get('nearest_centroid'))} | {_fmt(stats.get('level_db'), 1)} | "
        f"{_fmt(stats.get('dist_mean'))} | {_fmt(stats.get('dist_mean_training_medoid'))} |"
        for name, stats in per_class.items()
    )
    training_centroids = evaluation.get("training_centroids", {})
    pictures = "\n\n".join(f"![{caption}]({name})\n\n*{caption}.*" for name, caption in shown.items())
    card = f"""# Preset `{preset['name']}`

{preset.get('description', '')}

- **Classes**: {', '.join(c['name'] for c in preset['classes'])}
- **Sound**: {preset['frame_length']} samples at {preset['sample_rate']} Hz
  ({preset['frame_length'] / preset['sample_rate']:.2f} s per one-shot), latent size {preset['latent_dim']}
- **Bundle size**: {size_mb:.1f} MB (the decoder's weights once, its graphs at batch 1 and dynamic batch, encoder, classifier)

## Data and licence

- Training data: {', '.join(f'`{s}`' for s in sources)}{' (paths relative to the data root)' if config.get('recipe') else ''}
- Licence of the data: **{training.get('licence', '–')}**
- Attribution: {training.get('attribution', '–')}

## Model

- The recipe: [`{recipe.name}`]({recipe.name}) (`vae-synth train --recipe {preset['name']}`). Architecture `{config.get('arch')}`, configuration `{config.get('config')}`{_extras(config)}
  (see `docs/TRAINING.md`); loss weights: `{json.dumps(config.get('loss', {}))}`
- Trained for {run_metrics.get('steps', '–')} steps in {seconds / 60:.0f} min
  on {notes or platform.machine() + ' CPU'}.

## Quality (held-out clips, `vae-synth evaluate` on this bundle)

| metric | value |
|---|---|
| 1-NN accuracy (leave-one-out, latent means) | {_fmt(evaluation.get('one_nn_accuracy'))} |
| nearest-centroid accuracy (centres of the evaluated clips) | {_fmt(evaluation.get('nearest_centroid_accuracy'))} |
| nearest-centroid accuracy (the bundle's own training centroids) | {_fmt(training_centroids.get('nearest_centroid_accuracy'))} |
| MFCC-DTW centroid dist, mean ± std (lower is better) | {_fmt(evaluation.get('centroid_dist_mean'))} ± {_fmt(evaluation.get('centroid_dist_std'))} |
| the same dist with a real take as the centre (each class's most typical training clip: a reference) | {_fmt(evaluation.get('training_medoid_dist_mean'))} |
| reconstruction SNR (dB) | {_fmt(evaluation.get('recon_snr_db'), 1)} |
| recon_ratio (below 1: a reconstruction is closer to its source than clips of a class to each other) | {_fmt(evaluation.get('recon_ratio'))} |
| decoded centre level vs real clips (dB, mean / lowest class) | {_fmt(evaluation.get('centroid_level_db'), 1)} / {_fmt(evaluation.get('centroid_level_db_min'), 1)} |
| morph smoothness (largest step / mean step of a 32-step morph) | {_fmt(evaluation.get('morph_smoothness'))} |
| decoder comb (dB of the reconstructions' spectral peaks at multiples of sr / {evaluation.get('comb_period', '–')}; real clips {_fmt(evaluation.get('comb_db_real'), 1)}; 0 = no buzz) | {_fmt(evaluation.get('comb_db'), 1)} |

| class | held-out clips | 1-NN | nearest centroid | centre level (dB) | centroid dist | a real take's dist |
|---|---|---|---|---|---|---|
{rows}
{_air_table(evaluation)}
The full figures are in `evaluation.json`.
{notes_section}
## Pictures

{pictures}

## Reproduce

```sh
{commands.strip()}
```
"""
    write_text(preset_dir / "README.md", card)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("preset_dir", type=Path)
    parser.add_argument("report_dir", type=Path)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--commands", type=Path, default=None,
                        help="the shell commands that reproduce the preset (default: from its "
                             "recipe)")
    parser.add_argument("--notes", default="", help="where it was trained, e.g. '2-core x86_64 CPU'")
    parser.add_argument("--notes-md", type=Path, default=None,
                        help="Markdown for the card's Notes section")
    args = parser.parse_args()
    write_card(args.preset_dir, args.report_dir, args.run,
               args.commands.read_text() if args.commands else None, args.notes,
               args.notes_md.read_text() if args.notes_md else "")


if __name__ == "__main__":
    main()

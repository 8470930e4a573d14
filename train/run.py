"""Load a trained run (RUN_DIR) back: config, Keras encoder/decoder/classifier, its data.

```python
run = load_run(run_dir, checkpoint="last")   # or "best"
run.encoder     # audio [N, L] -> (mu [N, D], logvar [N, D])
run.decoder     # z [N, D] -> audio [N, L] in [-1, 1]
run.classifier  # z [N, D] -> logits [N, C]  (None for plain runs)
data = run.load_data()   # LabelledAudio rebuilt from config.json, no augmentation
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WEIGHT_FILES = {"encoder": "encoder.weights.h5", "decoder": "decoder.weights.h5",
                "classifier": "classifier.weights.h5"}


def read_state(folder: str | Path) -> dict:
    """state.json of a checkpoint folder: {step, epoch, val_loss, loss}."""
    with open(Path(folder) / "state.json") as f:
        return json.load(f)


class RunError(ValueError):
    """A RUN_DIR that is missing, incomplete or inconsistent."""


@dataclass
class Run:
    path: Path
    config: dict
    checkpoint: Path
    state: dict
    encoder: Any
    decoder: Any
    classifier: Any = None
    _data: Any = field(default=None, repr=False)

    @property
    def class_names(self) -> list[str]:
        return list(self.config["class_names"])

    @property
    def plain(self) -> bool:
        return bool(self.config.get("plain", False))

    @property
    def latent_dim(self) -> int:
        return int(self.config["latent_dim"])

    @property
    def sample_rate(self) -> int:
        return int(self.config["sample_rate"])

    @property
    def frame_length(self) -> int:
        return int(self.config["frame_length"])

    def load_data(self):
        """LabelledAudio exactly as training saw it (same sources, rate, frame, seed, split)."""
        from vae_synth.train.data import load_sources

        if self._data is None:
            c = self.config
            data = load_sources(c["sources"], c["sample_rate"], c["frame_length"], c["seed"],
                                c.get("preprocess"))
            if list(data.class_names) != self.class_names:
                raise RunError(
                    f"{self.path}: the data now gives classes {data.class_names}, the run was "
                    f"trained on {self.class_names}"
                )
            self._data = data
        return self._data


def load_config(run_dir: str | Path) -> dict:
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise RunError(f"{run_dir} is not a training run: {path} is missing")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RunError(f"{path} is not valid JSON: {exc}") from exc


def load_run(run_dir: str | Path, checkpoint: str = "last") -> Run:
    """Rebuild the models from config.json and load weights from checkpoints/<checkpoint>/."""
    from vae_synth.train import models

    run_dir = Path(run_dir)
    config = load_config(run_dir)
    ckpt = run_dir / "checkpoints" / checkpoint
    if not (ckpt / "state.json").exists():
        raise RunError(f"{run_dir}: no checkpoint {checkpoint!r} ({ckpt}/state.json is missing)")
    cfg = models.resolve_config(config["arch"], config["model"])
    plain = bool(config.get("plain", False))
    enc, dec, cls, _ = models.build_models(
        cfg, config["frame_length"], config["latent_dim"], len(config["class_names"]), plain)
    for key, model in (("encoder", enc), ("decoder", dec), ("classifier", cls)):
        if model is None:
            continue
        path = ckpt / WEIGHT_FILES[key]
        if not path.exists():
            raise RunError(f"{run_dir}: {path} is missing")
        model.load_weights(str(path))
    return Run(run_dir, config, ckpt.resolve(), read_state(ckpt), enc, dec, cls)

"""The engine's parameter table: one definition, read by router, engine, latent map, validator,
and written as data (synth/parameters.json) for tools outside Python."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from vae_synth.synth import events as ev
from vae_synth.synth.midi import MidiRouter
from vae_synth.synth.params import (
    LATENT_PARAMS,
    PARAM_NAMES,
    PARAMETER,
    PARAMETERS,
    TAPERS,
    ControlSnapshot,
    parameters_json,
)
from vae_synth.synth.preset import PresetError, preset_from_dict

REPO = Path(__file__).resolve().parents[2]


def test_the_checked_in_json_is_the_python_table():
    text = (REPO / "synth" / "parameters.json").read_text(encoding="utf-8")
    assert text == parameters_json(), "run python scripts/write_parameters_json.py"
    doc = json.loads(text)
    assert doc["format"] == "vae-synth-parameters" and doc["version"] == 1
    assert [p["name"] for p in doc["parameters"]] == list(PARAM_NAMES)
    drums = json.loads((REPO / "presets" / "drums" / "preset.json").read_text())
    assert set(drums["midi"]["controls"].values()) <= {p["name"] for p in doc["parameters"]}
    check = subprocess.run([sys.executable, str(REPO / "scripts" / "write_parameters_json.py"),
                            "--check"], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr


def test_the_table_is_well_formed():
    assert len(set(PARAM_NAMES)) == len(PARAMETERS)
    for p in PARAMETERS:
        assert p.kind in ("latent", "engine") and p.taper in TAPERS, p
        assert 0.0 <= p.default <= 1.0 and p.low < p.high and p.unit and p.description, p
    assert LATENT_PARAMS == {"morph", "x", "y", "variation", *(f"pca{i}" for i in range(1, 9))}
    assert [p.name for p in PARAMETERS if p.off_from is not None] == ["decay"]


@pytest.mark.parametrize("name,x,value", [
    # the numbers the engine and the latent map computed before the tapers moved into the table
    ("volume", 0.8, 0.8 * 0.8), ("volume", 1.0, 1.0), ("volume", 0.0, 0.0),
    ("pitch", 0.0, -12.0), ("pitch", 0.5, 0.0), ("pitch", 1.0, 12.0),
    ("pitch", 100 / 127, (100 / 127 - 0.5) * 2.0 * 12.0),
    ("bend", 0.0, -2.0), ("bend", 1.0, 2.0), ("bend", 8192 / 16383, (8192 / 16383 - 0.5) * 4.0),
    ("decay", 0.0, 0.05), ("decay", 30 / 127, 0.05 + 0.95 * (30 / 127)),
    ("variation", 0.5, 1.0), ("variation", 1.0, 2.0),   # class std
    ("pca1", 0.5, 0.0), ("pca3", 1.0, 2.0), ("pca8", 0.0, -2.0),  # axis std
    ("morph", 90 / 127, 90 / 127), ("x", 1.0, 1.0),
])
def test_tapers_known_answers(name, x, value):
    assert PARAMETER[name].value(x) == pytest.approx(value, rel=1e-15, abs=1e-15)


def test_decay_at_the_top_never_cuts():
    decay = PARAMETER["decay"]
    assert decay.is_off(1.0) and decay.is_off(0.999) and not decay.is_off(126 / 127)
    assert not PARAMETER["volume"].is_off(1.0)


def test_snapshot_starts_at_the_defaults_and_hands_tapered_latents():
    snap = ControlSnapshot()
    assert [snap.get(p.name) for p in PARAMETERS] == [p.default for p in PARAMETERS]
    state = snap.latent_state()
    assert (state.morph, state.variation, state.pca) == (0.0, 0.0, (0.0,) * 8)
    snap.set("pca2", 1.0)
    snap.set("variation", 0.25)
    snap.set("morph", 0.5)
    state = snap.latent_state()
    assert state.pca[1] == 2.0 and state.pca[0] == 0.0
    assert (state.variation, state.morph) == (0.5, 0.5)


def test_a_misspelled_cc_target_is_refused_naming_it_and_the_names(tones_preset):
    doc = json.loads((tones_preset / "preset.json").read_text())
    doc["midi"]["controls"]["74"] = "morf"
    with pytest.raises(PresetError) as err:
        preset_from_dict(doc)
    message = str(err.value)
    assert "midi.controls[74]" in message and "'morf'" in message
    assert all(name in message for name in PARAM_NAMES)
    # a macro beyond the table (the drums preset has 10 PCA axes, the table 8 macros)
    doc["midi"]["controls"]["74"] = "pca9"
    with pytest.raises(PresetError, match=r"unknown engine parameter 'pca9'"):
        preset_from_dict(doc)
    # every name of the table is a valid target (within the preset's 4 axes)
    doc["midi"]["controls"] = {str(20 + i): p for i, p in enumerate(
        n for n in PARAM_NAMES if not n.startswith("pca") or int(n[3:]) <= 4)}
    preset_from_dict(doc)


def test_the_router_refuses_unknown_targets_instead_of_dropping_them():
    router = MidiRouter(ev.EventRing(), ControlSnapshot(), {1: "morph"})
    with pytest.raises(ValueError, match=r"CC 74: unknown engine parameter 'morf'.*volume"):
        router.set_controls({1: "morph", 74: "morf"})
    with pytest.raises(ValueError, match="0-127"):
        router.set_controls({128: "morph"})
    assert router.controls == {1: "morph"}  # unchanged by the refused maps
    with pytest.raises(ValueError, match="unknown engine parameter 'morf'"):
        router.learn("morf")


def test_macros_and_variation_move_the_latents_by_the_tables_units():
    """A macro at the top (2 axis std) and variation 1 class std, through the latent map."""
    from vae_synth.synth.latent import LatentMap

    centroids = np.zeros((2, 3), np.float32)
    centroids[1, 0] = 1.0
    stds = np.full((2, 3), 0.5, np.float32)
    m = LatentMap(centroids, stds, np.eye(3, dtype=np.float32)[:1], [9.0], target=1,
                  corners=[0, 1, 0, 1])
    snap = ControlSnapshot()
    snap.set("pca1", 1.0)
    z = m.points(snap.latent_state())
    np.testing.assert_allclose(z[:, 0], centroids[:, 0] + 2.0 * math.sqrt(9.0))
    snap.set("pca1", 0.5)
    snap.set("variation", 0.5)  # 1 class std
    offsets = m.points(snap.latent_state()) - centroids
    rng = np.random.default_rng([0, snap.variation_seed])
    np.testing.assert_allclose(offsets, 1.0 * 0.5 * rng.standard_normal((2, 3)), rtol=1e-6)

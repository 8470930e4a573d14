"""Recipes: the checked-in recipe files resolve to the configurations the bundled presets were
trained with; the schema validates, round-trips through TOML and JSON, and the command line's
flags override single fields. No TensorFlow: a recipe resolves without it."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

import pytest
from vae_synth.train import cli
from vae_synth.train.recipe import (
    DEFAULT_DATA_ROOT,
    Recipe,
    RecipeError,
    bundled_recipes,
    load_recipe,
    resolve_source,
)

REPO = Path(__file__).resolve().parents[2]
# where the bundled presets' data lay when they were trained: their config.json names
# ../shared/data/... relative to the repository root, the default data root
TRAINED_DATA_ROOT = "../shared/data"


def _recorded(preset: str) -> dict:
    return json.loads((REPO / "presets" / preset / "preset.json").read_text())["training"]["config"]


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli.add_train_arguments(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("preset", ["digits", "drums", "drums-22k"])
def test_recipe_file_resolves_to_the_shipped_configuration(preset):
    """presets/<name>/recipe.toml resolves to exactly the configuration recorded in the shipped
    bundle's preset.json: the model's layers, losses, augmentation, optimiser, data and split."""
    recipe, path = load_recipe(preset)
    assert path == bundled_recipes()[preset] and path.name == "recipe.toml"
    resolved = recipe.run_config(TRAINED_DATA_ROOT)
    recorded = _recorded(preset)
    assert {k: recorded[k] for k in resolved} == resolved
    assert DEFAULT_DATA_ROOT == TRAINED_DATA_ROOT


def test_shipped_flat_configuration_reads_back_as_the_recipe():
    """A run's configuration, flat (config.json version 1, as in the digits bundle) or with its
    recipe and data root (version 2, as in the drums bundle), is read as the same recipe, so
    --resume and export see one object either way."""
    for preset in ("digits", "drums", "drums-22k"):
        recipe = load_recipe(preset)[0]
        recorded = _recorded(preset)
        old = Recipe.from_run_config(recorded)
        assert old.replace({"name": recipe.name, "description": recipe.description,
                            "schedule.epochs": recipe.schedule.epochs,
                            "schedule.steps": recipe.schedule.steps,
                            "data.sources": recipe.data.sources}) == recipe
        assert old.sources(recorded.get("data_root", ".")) == recorded["sources"]


def test_the_old_drums_command_line_is_the_recipe():
    """The 22.05 kHz drums preset's 20-flag command line gives the same recipe as its file: every flag
    lands on its field."""
    line = (
        '--data "folder:drums?split=holdout:0.2" --data "synthetic:drums?n=40&split=none" '
        "--sample-rate 22050 --frame-length 16384 "
        "--arch conv --config fast --encoder logspec --latent-dim 10 "
        "--augment gain=3,shift=32,stretch=0.15,noise=0.0003 --augment-copies 5 "
        "--lr 1e-3 --lr-schedule cosine --gamma 3.0 --beta 1e-2 --class-prior 5 "
        "--prior-classifier --cluster-weight 0.6 --recon stft --mel-weight 1.0 "
        "--level-weight 1.0 --epochs 40 --output-gate -60 --antialias --noise-bands 16 "
        "--out runs/drums")
    recipe, data_root = cli.recipe_from_args(_parse(shlex.split(line)))
    shipped = load_recipe("drums-22k")[0]
    assert data_root == "."  # --data paths are relative to the current folder, as always
    assert recipe.replace({"name": "drums-22k", "description": shipped.description}) == shipped


def test_flags_override_single_fields_of_a_recipe():
    args = _parse(["--recipe", "drums-22k", "--lr", "3e-4", "--steps", "100", "--set",
                   "augment.copies=1", "--set", "loss.stft_sizes=[1024, 256]", "--set",
                   "model.config=small", "--no-waveform-branch", "--noise-bands", "8",
                   "--out", "x"])
    recipe, data_root = cli.recipe_from_args(args)
    shipped = load_recipe("drums-22k")[0]
    assert data_root == DEFAULT_DATA_ROOT
    assert (recipe.schedule.lr, recipe.schedule.steps, recipe.augment.copies) == (3e-4, 100, 1)
    assert recipe.loss.stft_sizes == [1024, 256] and recipe.model.config == "small"
    assert recipe.model.waveform_branch is False and recipe.model.noise_bands == 8
    # everything else is the file's
    assert recipe.replace({"schedule.lr": shipped.schedule.lr, "schedule.epochs": 40,
                           "augment.copies": 5, "loss.stft_sizes": shipped.loss.stft_sizes,
                           "model.config": "fast", "model.waveform_branch": True,
                           "model.noise_bands": 16}) == shipped
    assert cli.overrides_from_args(args) == {
        "augment.copies": 1, "loss.stft_sizes": [1024, 256], "model.config": "small",
        "model.noise_bands": 8, "model.waveform_branch": False, "schedule.steps": 100,
        "schedule.lr": 3e-4}
    # a loss term added after the presets shipped reaches the run's config only when it is on
    assert "clip_level_weight" not in recipe.loss_config()
    levelled = cli.recipe_from_args(_parse(["--recipe", "drums", "--clip-level-weight", "2"]))[0]
    assert levelled.loss_config()["clip_level_weight"] == 2.0
    assert "latent_noise" not in recipe.loss_config()
    jittered = cli.recipe_from_args(_parse(["--recipe", "drums", "--latent-noise", "0.3"]))[0]
    assert jittered.loss_config()["latent_noise"] == 0.3
    assert "centre_mix_weight" not in recipe.loss_config()
    mixed = recipe.replace({"loss.mel_weight": 1.0, "loss.centre_weight": 1.0,
                            "loss.centre_mix_weight": 0.5})
    assert mixed.loss_config()["centre_mix_weight"] == 0.5
    assert "comb_periods" not in recipe.loss_config()
    combed = recipe.replace({"loss.comb_weight": 1.0, "loss.comb_periods": [64, 2048]})
    assert combed.loss_config()["comb_periods"] == [64, 2048]
    # so does a model option: the bundled presets' configurations stay as they were trained
    assert "level_head" not in recipe.model_config()
    assert recipe.replace({"model.level_head": True}).model_config()["level_head"] is True
    # --epochs after a recipe's steps: the later word on how long wins
    assert recipe.replace({"schedule.epochs": 7}).schedule.steps is None
    # --data replaces the sources, relative to the current folder unless --data-root is given
    here = cli.recipe_from_args(_parse(["--recipe", "drums", "--data", "folder:kit"]))
    assert here[0].data.sources == ["folder:kit"] and here[1] == "."
    rooted = cli.recipe_from_args(_parse(["--recipe", "drums", "--data-root", "/mnt/d"]))
    assert rooted[0].sources(rooted[1])[0] == "folder:/mnt/d/drums?split=holdout:0.2&seed=0"


def test_defaults_are_the_old_flag_defaults():
    """No recipe: the defaults `vae-synth train --data ...` always had."""
    recipe, _ = cli.recipe_from_args(_parse(["--data", "synthetic:drums", "--out", "x"]))
    r = recipe.run_config()
    assert (r["arch"], r["config"], r["encoder"], r["latent_dim"], r["batch_size"]) == (
        "conv", "small", "waveform", 20, 16)
    assert r["optimizer"] == {"name": "adam", "lr": 1e-4, "clipnorm": 1.0,
                              "lr_schedule": "constant"}
    assert (r["loss"]["mse_weight"], r["loss"]["stft_weight"], r["loss"]["beta"],
            r["loss"]["gamma"]) == (1.0, 1.0, 1e-3, 0.1)
    assert (r["sample_rate"], r["frame_length"]) == (22050, 16384)
    assert recipe.epochs_for(10) == 100 and recipe.augment.copies == 4
    assert "harmonics" not in r["model"] and "f0_weight" not in r["loss"]


@pytest.mark.parametrize("preset", ["digits", "drums", "drums-22k"])
def test_toml_and_json_round_trip(preset, tmp_path):
    recipe = load_recipe(preset)[0]
    assert Recipe.from_toml(recipe.to_toml()) == recipe
    assert Recipe.from_json(recipe.to_json()) == recipe
    (tmp_path / "r.json").write_text(recipe.to_json())
    assert load_recipe(str(tmp_path / "r.json"))[0] == recipe
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "recipe.toml").write_text(recipe.to_toml())
    assert load_recipe(str(tmp_path / "kit"))[0] == recipe  # a folder holding recipe.toml


def test_print_recipe_turns_a_command_line_into_a_file(tmp_path, capsys):
    argv = ["--data", "synthetic:drums?n=40", "--arch", "conv", "--config", "fast",
            "--harmonics", "4", "--f0-range", "80,500", "--output-gate", "-55",
            "--print-recipe"]
    assert cli.run_train(_parse(argv)) == 0
    text = capsys.readouterr().out
    (tmp_path / "mine.toml").write_text(text)
    recipe = load_recipe(str(tmp_path / "mine.toml"))[0]
    assert recipe == cli.recipe_from_args(_parse(argv))[0]
    model = recipe.model_config()
    assert model["harmonics"] == {"count": 4, "f0_min": 80.0, "f0_max": 500.0,
                                  "sample_rate": 22050}
    assert model["output_gate_db"] == -55.0 and "f0_weight" in recipe.loss_config()


@pytest.mark.parametrize(("text", "message"), [
    ('[model]\narch = "conv"\nwidth = 3\n', "model: unknown field(s) ['width']"),
    ('[modle]\narch = "conv"\n', "unknown key(s) ['modle']"),
    ("[model]\nlatent_dim = 2.5\n", "model.latent_dim: expected an integer"),
    ('[model]\nlatent_dim = "10"\n', "model.latent_dim: expected an integer"),
    ("[model]\nlatent_dim = 0\n", "model.latent_dim: 0 is below 1"),
    ('[model]\narch = "rnn"\n', "model.arch: 'rnn' is not one of conv, dilated, hybrid"),
    ('[model]\narch = "dilated"\nconfig = "fast"\n', "unknown --config 'fast' for dilated"),
    ("[model]\nantialias = 1\n", "model.antialias: expected true or false"),
    ("[schedule]\nlr = 0\n", "schedule.lr: 0.0 must be above 0.0"),
    ("[augment]\nstretch = 0.6\n", "augment.stretch is a fraction in [0, 0.5)"),
    ('[model]\nclassifier = "prior"\n', "--prior-classifier needs --class-prior"),
    ("[loss]\ncluster_weight = 0.1\n", "--cluster-weight needs --class-prior"),
    ("[loss]\ncentre_weight = 1.0\nmel_weight = 0.0\n", "--centre-weight needs --mel-weight"),
    ("[loss]\ncentre_mix_weight = 1.0\n", "centre_mix_weight needs loss.centre_weight"),
    ("[loss]\ncomb_periods = [64]\n", "comb_periods needs loss.comb_weight"),
    ("[augment]\nbalance = true\n", "augment.balance needs augmented copies"),
    ("[augment]\nbalance = true\nshift = 32\ncopies = 0\n", "augment.balance needs augmented"),
    ("[loss]\ncomb_weight = 1.0\ncomb_periods = 64\n", "comb_periods: expected a list"),
    ("[model]\nplain = true\n[loss]\ncentre_weight = 1.0\nmel_weight = 1.0\n",
     "--centre-weight needs a variational model"),
    ("[data]\nsample_rate = 22050\n[loss]\nair_share_weight = 1.0\n",
     "--air-share-weight needs a sample rate above 22050 Hz"),
    ("[data]\nsample_rate = 22050\n[loss]\nair_axis_weight = 1.0\n",
     "--air-axis-weight needs a sample rate above 22050 Hz"),
    ("[model]\nf0_range = [400.0, 60.0]\n", "model.f0_range must be [LO, HI]"),
    ('[model]\nconfig = "fast"\nlevel_head = true\n', "model.level_head needs a decoder whose"),
    ('[data]\nsources = ["tape:drums"]\n', "unknown kind 'tape'"),
    ('[data]\nsources = ["folder:/home/me/drums"]\n', "names an absolute path"),
    ('format = "vae-synth-preset"\n', "format is 'vae-synth-preset'"),
    ("version = 9\n", "recipe version 9 is newer"),
    ("[model\n", "not valid TOML"),
])
def test_bad_recipe_files_are_refused_with_the_key_named(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(RecipeError, match=re.escape(message)):
        load_recipe(str(path))


def test_bad_overrides_and_names():
    recipe = Recipe()
    with pytest.raises(RecipeError, match="schedule has no field 'epoch'"):
        recipe.replace({"schedule.epoch": 3})
    with pytest.raises(RecipeError, match="unknown section 'train'"):
        recipe.replace({"train.lr": 3})
    with pytest.raises(RecipeError, match="no bundled preset of that name has a recipe"):
        load_recipe("no-such-preset")
    with pytest.raises(RecipeError, match="expected SECTION.FIELD=VALUE"):
        cli.overrides_from_args(_parse(["--set", "lr"]))


def test_sources_resolve_against_the_data_root():
    assert resolve_source("folder:drums?split=none", "../data") == "folder:../data/drums?split=none"
    assert resolve_source("fsdd:fsdd?speakers=theo", ".") == "fsdd:fsdd?speakers=theo"
    assert resolve_source("fsdd:download?speakers=theo", "/d") == "fsdd:download?speakers=theo"
    assert resolve_source("synthetic:drums?n=4", "/d") == "synthetic:drums?n=4"
    assert resolve_source("folder:/abs/kit", "/d") == "folder:/abs/kit"


def test_resume_may_change_only_how_long_it_trains(tmp_path):
    """--resume reads the recipe from config.json; a flag that would change what the run
    learns is refused before anything loads (no TensorFlow)."""
    from vae_synth.train.trainer import RunOptions, TrainError, train

    (tmp_path / "config.json").write_text(json.dumps(_recorded("digits")))
    with pytest.raises(TrainError, match="not schedule.lr"):
        train(None, RunOptions(out=str(tmp_path), resume=True, overrides={"schedule.lr": 1e-3}))
    with pytest.raises(TrainError, match="give no other recipe"):
        train(Recipe(), RunOptions(out=str(tmp_path), resume=True))

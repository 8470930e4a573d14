"""scripts/publish_preset.py: the model card's air table, for presets that reach above 11 kHz."""

from __future__ import annotations

from fixtures_scripts import load_script


def test_the_card_tabulates_each_class_air_against_the_real_clips():
    evaluation = {"high_band_hz": 11025.0, "per_class": {
        "hihat": {"high_band": {"real_db": -3.69, "centre_vs_real_db": 0.97,
                                "pad_centre_vs_real_db": -0.04, "recon_vs_real_db": 1.0,
                                "recon_vs_own_db": 1.04}},
        "snare": {"high_band": {"real_db": -22.88, "centre_vs_real_db": 1.07,
                                "recon_vs_real_db": -1.27, "recon_vs_own_db": 1.29}},
    }}
    table = load_script("publish_preset")._air_table(evaluation)
    assert "above 11.025 kHz" in table
    assert "| hihat | -3.7 | +1.0 | -0.0 | +1.0 | +1.0 |" in table
    # a figure evaluate did not report (an older report without the pad's centre) reads '–'
    assert "| snare | -22.9 | +1.1 | – | -1.3 | +1.3 |" in table
    # a 22.05 kHz preset's report has no high band: no table
    assert load_script("publish_preset")._air_table({"per_class": {"kick": {"level_db": -1.0}}}) == ""


def test_the_card_says_where_the_decoder_has_a_notch_instead_of_a_moving_average():
    extras = load_script("publish_preset")._extras

    def config(second: dict) -> dict:
        convt = {"type": "convT", "filters": 64, "kernel": 8, "strides": 4}
        return {"model": {"antialias": True, "decoder": [
            convt, {"type": "resblock"}, {**convt, **second}, convt]}}

    assert extras(config({})) == ", anti-imaging moving average after each transposed convolution"
    assert extras(config({"antialias_periods": 7})) == (
        ", anti-imaging: a notch over 7 periods after transposed convolution 2, a moving average "
        "after the others")


def test_the_card_says_when_every_class_was_trained_alike():
    extras = load_script("publish_preset")._extras
    augment = {"copies": 5, "shift": 32, "stretch": 0.15}
    plain = extras({"augment": augment})
    assert plain == ", 5 augmented copies (shift 32 samples, speed 1 ± 0.15)"
    assert extras({"augment": {**augment, "balance": True}}) == plain + (
        ", more copies of the smaller classes' clips, until every class holds as many as the largest")


def test_the_published_evaluation_names_data_under_the_run_data_root_as_DATA():
    from vae_synth.evaluate.report import portable_metrics as portable

    evaluation = {"model": {"name": "drums", "path": "/home/me/runs/drums"},
                  "data": {"sources": ["folder:/mnt/sounds/drums?split=holdout:0.2",
                                       "folder:/elsewhere/kit", "synthetic:drums?n=40"]}}
    out = portable(evaluation, [None, "/mnt/sounds/"])
    assert out["model"] == {"name": "drums"}
    assert out["data"]["sources"] == ["folder:$DATA/drums?split=holdout:0.2",
                                      "folder:/elsewhere/kit", "synthetic:drums?n=40"]

"""scripts/heldout_spread.py: where a run's held-out clips land against its pads, and the decoded
level from each pad toward the held-out clips' centre."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fixtures_scripts import load_script


def test_rows_give_distances_from_the_pads_and_the_level_along_the_line(exported_run):
    from vae_synth.evaluate import metrics as M
    from vae_synth.evaluate.evaluation import load_eval_data, open_model

    rows = load_script("heldout_spread").spread_rows(str(exported_run), "last")
    model = open_model(str(exported_run), checkpoint="last")
    data = load_eval_data(model, None)
    assert len(rows) == len(data.class_names) + 1
    assert re.fullmatch(r"posterior std, median: training \d\.\d{3}, held-out \d\.\d{3}", rows[-1])

    mu_train, _ = model.encode(data.train_x)
    mu_test, _ = model.encode(data.x)
    pads = M.class_centroids(mu_train, data.train_y, len(data.class_names))
    for c, (name, row) in enumerate(zip(data.class_names, rows, strict=False)):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[0] == name
        train_dist, test_dist, centre_dist = (float(v) for v in cells[1:4])
        assert train_dist >= 0 and test_dist >= 0 and centre_dist >= 0
        held_out = data.y == c
        assert centre_dist == pytest.approx(
            np.linalg.norm(mu_test[held_out].mean(axis=0) - pads[c]), abs=0.006)
        along = [float(v) for v in cells[6].split(" / ")]
        assert len(along) == 4 and np.isfinite(along).all()
        # the line starts at the pad: its level against the held-out clips' median, as evaluate
        pad_level = (M.rms_db(model.decode(pads[c][None]))[0]
                     - np.median(M.rms_db(data.x[held_out])))
        assert along[0] == pytest.approx(pad_level, abs=0.006)

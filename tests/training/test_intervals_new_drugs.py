"""Intervals calibrated at the unit the split holds out (drugs on drug-blind runs), marked where
a cell is outside the run's data, and on screens; a crashed screen leaves no finished file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drp.prediction.predictor import PredictionError
from drp.prediction.screen import screen
from drp.training.intervals import (
    FILE,
    add_interval,
    conformal_quantiles,
    drug_level_scores,
    write_calibration,
)
from tests.prediction.test_screen import LIBRARY, _csv, predictor, run  # noqa: F401 (module fixtures)


def test_drug_level_scores_cross_every_level_error_with_every_within_drug_residual():
    val = pd.DataFrame(
        {"drug_id": ["a", "a", "b", "b"], "y_pred": [1.0, 3.0, 0.0, 0.0], "y_true": [0, 0, 1, 3.0]}
    )
    # residuals 1, 3 (drug a, mean 2) and -1, -3 (drug b, mean -2): within -1, 1, 1, -1
    scores = drug_level_scores(np.array([0.5, -2.0]), val)
    expected = np.abs(np.array([0.5, -2.0])[:, None] + np.array([-1.0, -1, 1, 1])[None, :])
    np.testing.assert_allclose(np.sort(scores), np.sort(expected.ravel()))


def _simulated_fold(rng, n_val_drugs: int, n_test_drugs: int, cells: int = 60):
    """Pairs of new drugs: a level error per drug (sd 2) plus a cell-to-cell part (sd 1)."""

    def pairs(n_drugs: int, tag: str) -> pd.DataFrame:
        level = rng.normal(0, 2.0, n_drugs)
        drug = np.repeat(np.arange(n_drugs), cells)
        err = level[drug] + rng.normal(0, 1.0, len(drug))
        return pd.DataFrame(
            {"drug_id": [f"{tag}{d}" for d in drug], "cell_id": "c", "y_true": 0.0, "y_pred": err}
        )

    return pairs(n_val_drugs, "v"), pairs(n_test_drugs, "t"), rng.normal(0, 2.0, 180)


def test_drug_level_calibration_covers_new_drugs_where_18_validation_drugs_do_not(tmp_path):
    """Over many simulated drug-blind folds, intervals from ~180 level errors cover 90% of new
    pairs with a narrow spread between folds; pair-level conformal on 18 validation drugs
    scatters widely around it (the unit held out is the drug, not the pair)."""
    rng = np.random.default_rng(0)
    drug_level, pair_level = [], []
    for i in range(60):
        val, test, level_errors = _simulated_fold(rng, 18, 45)
        (tmp_path / str(i)).mkdir()
        q = write_calibration(tmp_path / str(i), val, "drug_blind", level_errors)["quantiles"]
        plain = conformal_quantiles((val.y_pred - val.y_true).abs().to_numpy())
        err = (test.y_pred - test.y_true).abs().to_numpy()
        drug_level.append(np.mean(err <= q["0.90"]))
        pair_level.append(np.mean(err <= plain["0.90"]))
    assert abs(np.mean(drug_level) - 0.90) < 0.02
    assert np.std(drug_level) < 0.75 * np.std(pair_level)
    # the record says how it was calibrated
    record = json.loads((tmp_path / "0" / FILE).read_text())
    assert record["unit"] == "drug" and record["n_level_drugs"] == 180
    assert "180 training drugs" in record["method"]
    # without level errors (prior off) the validation drugs' own mean errors stand in
    (tmp_path / "own").mkdir()
    (tmp_path / "mixed").mkdir()
    own = write_calibration(tmp_path / "own", val, "drug_blind")
    assert own["n_level_drugs"] == 18 and own["unit"] == "drug"
    known = write_calibration(tmp_path / "mixed", val, "mixed")
    assert known["unit"] == "pair"


def test_cells_outside_the_runs_dataset_are_marked_not_calibrated(run):  # noqa: F811
    config = json.loads((run / "config.json").read_text())
    cells = pd.read_parquet(Path(config["dataset"]) / "cells.parquet").cell_id.tolist()
    frame = pd.DataFrame(
        {"cell_id": [cells[0], "ELSEWHERE1"], "drug_id": "x", "ln_ic50_pred": [1.0, 2.0]}
    )
    with pytest.warns(UserWarning, match="1 prediction"):
        out = add_interval(frame, run, 0.9, new_drugs=True)
    assert list(out.interval_calibrated) == [True, False]
    np.testing.assert_allclose(out.hi - out.lo, out.hi.iloc[0] - out.lo.iloc[0])


def test_screen_interval_adds_lo_hi_and_a_crash_leaves_no_finished_file(
    predictor,  # noqa: F811
    run,  # noqa: F811
    tmp_path,
    monkeypatch,
):
    lib = _csv(tmp_path / "lib.csv", LIBRARY)
    result = screen(predictor, lib, tmp_path / "ok", run_dir=run, interval=0.8)
    got = pd.read_parquet(tmp_path / "ok" / "predictions.parquet")
    q = json.loads((run / FILE).read_text())["quantiles"]["0.80"]
    np.testing.assert_allclose(got.hi - got.ln_ic50_pred, q, atol=1e-4)
    np.testing.assert_allclose(got.ln_ic50_pred - got.lo, q, atol=1e-4)
    assert result.meta["interval"] == {"level": 0.8, "half_width": q}
    # a prior-aware screen says where each compound's level came from
    assert {"prior_applied", "prior_nearest", "prior_similarity"} <= set(result.compounds)
    with pytest.raises(PredictionError, match="0.50, 0.51"):
        screen(predictor, lib, tmp_path / "bad", run_dir=run, interval=0.925)

    # a screen that dies after its first chunk, in the folder of a finished one, leaves neither
    # a predictions.parquet nor the earlier screen's tables behind
    calls = {"n": 0}

    def die(done: int, total: int) -> None:
        calls["n"] += 1
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        screen(predictor, lib, tmp_path / "ok", chunk_size=2, on_chunk=die)
    assert calls["n"] == 1
    crash = tmp_path / "ok"
    assert not (crash / "predictions.parquet").exists()
    assert not (crash / "compounds.csv").exists() and not (crash / "screen.json").exists()
    assert not any(p.name.endswith(".partial") for p in crash.glob(".*"))


def test_pairs_of_known_drugs_on_a_new_drug_run_are_marked_not_calibrated(run):  # noqa: F811
    import drp

    loaded = drp.load_run(run)
    prior = loaded.predictor.estimator.prior_
    drugs = list(loaded.predictor.ds.drugs.drug_id)
    new = loaded.predictor.new_drug_rows(pd.DataFrame({"drug_id": drugs}))
    assert new.any() and not new.all()  # the fold's held-out drugs, and its training drugs
    with pytest.warns(UserWarning, match="not of the kind"):
        out = loaded.predict(cells=["CELL-00"], drugs=drugs, interval=0.9)
    # calibrated on new drugs: exactly the held-out drugs' rows are calibrated
    expected = dict(zip(drugs, new, strict=True))
    assert list(out.interval_calibrated) == [expected[d] for d in out.drug_id]
    assert prior is not None

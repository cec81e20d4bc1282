import json
import math

import numpy as np
import pandas as pd
import pytest

from drp.training.intervals import add_interval, conformal_quantiles, write_calibration
from tests.test_api import run, store  # noqa: F401 (module fixtures: a 1-epoch mixed run)


def test_conformal_quantile_is_the_ceil_n_plus_one_order_statistic():
    res = np.arange(1.0, 19.0)  # n = 18: level 0.9 -> ceil(19 * 0.9) = 18th smallest
    q = conformal_quantiles(res)
    assert q["0.90"] == 18.0 and q["0.50"] == 10.0 and q["0.80"] == 16.0
    # where (n + 1) * (1 - level) is a whole number crepes rounds it down in floating point
    # and takes the next order statistic: conservative by one (n = 19: 19th, not 18th)
    assert conformal_quantiles(np.arange(1.0, 20.0))["0.90"] == 19.0
    assert math.isinf(conformal_quantiles(np.array([1.0, 2.0]))["0.90"])  # too few pairs
    with pytest.raises(ValueError, match="at least one"):
        conformal_quantiles(np.array([]))


def test_intervals_cover_exchangeable_pairs_at_their_level(tmp_path):
    rng = np.random.default_rng(0)
    val = pd.DataFrame({"y_true": rng.normal(size=2000), "y_pred": 0.0, "drug_id": "d"})
    write_calibration(tmp_path, val.assign(cell_id="c"), "mixed")
    test = pd.DataFrame({"ln_ic50_pred": np.zeros(20000)})
    truth = rng.normal(size=20000)
    for level in (0.8, 0.9):
        out = add_interval(test, tmp_path, level)
        covered = ((out.lo <= truth) & (truth <= out.hi)).mean()
        assert abs(covered - level) < 0.02
    assert (out.interval_from == "mixed").all()


def test_interval_errors_are_clear(tmp_path):
    frame = pd.DataFrame({"ln_ic50_pred": [1.0]})
    with pytest.raises(ValueError, match="no calibration.json"):
        add_interval(frame, tmp_path, 0.9)
    val = pd.DataFrame({"y_true": [0.0, 1.0], "y_pred": 0.0, "drug_id": "d", "cell_id": "c"})
    write_calibration(tmp_path, val, "mixed")
    with pytest.raises(ValueError, match="0.50, 0.51"):
        add_interval(frame, tmp_path, 0.925)
    with pytest.raises(ValueError, match="need a run trained with --split drug_blind"):
        add_interval(frame, tmp_path, 0.9, new_drugs=True)


def test_a_trained_run_is_calibrated_on_its_validation_pairs(run):  # noqa: F811
    record = json.loads((run.path / "calibration.json").read_text())
    val = pd.read_parquet(run.path / "predictions_val.parquet")
    assert record["n_pairs"] == len(val) and record["split"] == "mixed"
    got = run.predict(cells=list(val.cell_id[:2]), drugs=list(val.drug_id[:1]), interval=0.9)
    q = record["quantiles"]["0.90"]
    np.testing.assert_allclose(got.hi - got.ln_ic50_pred, q)
    np.testing.assert_allclose(got.ln_ic50_pred - got.lo, q)


def test_evaluate_reports_coverage_and_width_of_a_calibrated_run(run):  # noqa: F811
    from drp.evaluation.runs import evaluate_runs
    from drp.evaluation.tables import summarise
    from drp.training.intervals import interval_metrics

    rows = evaluate_runs([run.path])
    record = json.loads((run.path / "calibration.json").read_text())
    test = pd.read_parquet(run.path / "predictions_test.parquet")
    error = (test.y_pred - test.y_true).abs()
    for level in (80, 90):
        q = record["quantiles"][f"0.{level}"]
        assert (rows[f"coverage_{level}"] == (error <= q).mean()).all()
        assert (rows[f"width_{level}"] == 2 * q).all()
    assert "coverage_90_mean" in summarise(rows)
    assert interval_metrics(run.path.parent / "no-such-run", test) == {}


def test_an_ensemble_averages_members_and_widens_to_their_mean_quantile(run, tmp_path):  # noqa: F811
    import shutil

    from typer.testing import CliRunner

    from drp.api import combine_members, load_ensemble
    from drp.cli import app

    # a second member: the same run with a shifted calibration, in a folder of runs
    folder = tmp_path / "runs"
    shutil.copytree(run.path, folder / "a")
    shutil.copytree(run.path, folder / "b")
    record = json.loads((folder / "b" / "calibration.json").read_text())
    record["quantiles"] = {k: v + 1.0 for k, v in record["quantiles"].items()}
    (folder / "b" / "calibration.json").write_text(json.dumps(record))
    ensemble = load_ensemble([folder])
    assert len(ensemble.runs) == 2
    cells = list(pd.read_parquet(run.path / "predictions_val.parquet").cell_id[:2])
    single = run.predict(cells=cells, drugs=None, interval=0.9)
    both = ensemble.predict(cells=cells, interval=0.9)
    np.testing.assert_allclose(both.ln_ic50_pred, single.ln_ic50_pred, rtol=1e-6)
    assert (both.ensemble_sd.abs() < 1e-6).all() and (both.n_models == 2).all()
    np.testing.assert_allclose(both.hi - both.lo, (single.hi - single.lo) + 1.0, rtol=1e-6)
    # members are averaged, and their sd reported
    a = single[["cell_id", "drug_id"]].assign(ln_ic50_pred=1.0)
    mixed = combine_members([a, a.assign(ln_ic50_pred=3.0)])
    assert (mixed.ln_ic50_pred == 2.0).all() and np.allclose(mixed.ensemble_sd, np.sqrt(2))
    with pytest.raises(ValueError, match="different pairs"):
        combine_members([a, a.iloc[::-1]])
    # the CLI: a folder of runs predicts as an ensemble
    out = tmp_path / "pred.csv"
    pairs = tmp_path / "pairs.csv"
    single[["cell_id", "drug_id"]].to_csv(pairs, index=False)
    result = CliRunner().invoke(
        app, ["predict", str(folder), "--pairs", str(pairs), "--out", str(out), "--interval", "0.9"]
    )
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out)
    assert {"ensemble_sd", "n_models", "lo", "hi"} <= set(got.columns) and len(got) == len(single)


def test_coverage_of_an_ensemble_is_counted_at_its_members_mean_quantile(tmp_path):
    """The value of the coverage ``drp evaluate --ensemble`` reports, not only its range."""
    from drp.training.intervals import interval_metrics

    rng = np.random.default_rng(0)
    members = []
    for name, spread in (("a", 0.5), ("b", 1.5)):  # one tight member, one wide
        (tmp_path / name).mkdir()
        val = pd.DataFrame({"y_true": rng.normal(scale=spread, size=200), "y_pred": 0.0})
        members.append(
            write_calibration(tmp_path / name, val.assign(drug_id="d", cell_id="c"), "mixed")
        )
    test = pd.DataFrame({"y_true": rng.normal(size=500), "y_pred": 0.0})
    got = interval_metrics([tmp_path / "a", tmp_path / "b"], test)
    error = test.y_true.abs()
    for level in ("80", "90"):
        qa, qb = (m["quantiles"][f"0.{level}"] for m in members)
        q = (qa + qb) / 2
        assert got[f"coverage_{level}"] == (error <= q).mean()
        assert got[f"width_{level}"] == 2 * q
        # neither member's own coverage: the check tells the mean quantile from either
        assert (error <= qa).mean() < got[f"coverage_{level}"] < (error <= qb).mean()
    assert interval_metrics([tmp_path / "a", tmp_path / "none"], test) == {}

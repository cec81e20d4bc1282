import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from typer.testing import CliRunner

from drp.cli import app
from drp.evaluation.baseline_runs import run_baselines
from drp.evaluation.metrics import (
    aggregate_folds,
    bootstrap_ci,
    evaluate_predictions,
    group_pearson,
    metrics,
    noise_ceiling,
)
from drp.evaluation.runs import evaluate_runs
from drp.evaluation.tables import write_metrics
from drp.featurize.store import FeaturizedDataset
from drp.splits.cache import load_or_make_folds


def _frame(seed=0, n_cells=6, n_drugs=5):
    rng = np.random.default_rng(seed)
    cells, drugs = np.meshgrid([f"C{i}" for i in range(n_cells)], [f"D{j}" for j in range(n_drugs)])
    y = rng.normal(size=cells.size)
    return pd.DataFrame(
        {
            "cell_id": cells.ravel(),
            "drug_id": drugs.ravel(),
            "y_true": y,
            "y_pred": y + rng.normal(scale=0.7, size=y.size),
        }
    )


def test_global_metrics_match_scipy_and_sklearn():
    f = _frame()
    m = metrics(f)
    t, p = f["y_true"], f["y_pred"]
    assert m["n"] == len(f)
    assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(t, p)))
    assert m["mae"] == pytest.approx(mean_absolute_error(t, p))
    assert m["r2"] == pytest.approx(r2_score(t, p))
    assert m["pearson"] == pytest.approx(stats.pearsonr(t, p)[0])
    assert m["spearman"] == pytest.approx(stats.spearmanr(t, p)[0])


def test_known_vectors():
    f = pd.DataFrame({"cell_id": list("abcd"), "drug_id": list("wxyz"), "y_true": [1.0, 2, 3, 4]})
    m = metrics(f.assign(y_pred=[2.0, 4, 6, 8]))
    assert m["pearson"] == pytest.approx(1.0) and m["spearman"] == pytest.approx(1.0)
    assert m["rmse"] == pytest.approx(np.sqrt((1 + 4 + 9 + 16) / 4))
    assert m["mae"] == pytest.approx(2.5)
    m = metrics(f.assign(y_pred=[4.0, 3, 2, 1]))
    assert m["pearson"] == pytest.approx(-1.0) and m["r2"] == pytest.approx(-3.0)


def test_per_group_r_matches_scipy_per_group():
    f = _frame(1)
    m = metrics(f)
    expected_drug = np.mean(
        [stats.pearsonr(g.y_true, g.y_pred)[0] for _, g in f.groupby("drug_id")]
    )
    expected_cell = np.mean(
        [stats.pearsonr(g.y_true, g.y_pred)[0] for _, g in f.groupby("cell_id")]
    )
    assert m["per_drug_r"] == pytest.approx(expected_drug)
    assert m["per_cell_r"] == pytest.approx(expected_cell)
    assert m["per_drug_r_groups"] == 5 and m["per_cell_r_groups"] == 6


def test_drug_mean_predictor_has_per_drug_r_zero_and_says_so():
    f = _frame(2)
    f["y_pred"] = f.groupby("drug_id")["y_true"].transform("mean")
    m = metrics(f)
    assert m["per_drug_r"] == 0.0
    assert m["per_drug_r_constant_pred"] == m["per_drug_r_groups"] == 5
    assert m["pearson"] > 0  # the between-drug spread still correlates over all pairs
    const = metrics(f.assign(y_pred=1.0))
    assert const["pearson"] == 0.0 and const["spearman"] == 0.0


def test_small_and_constant_target_groups_are_skipped_and_counted():
    codes = np.array([0, 0, 1, 1, 1, 2, 2, 2])
    y_true = np.array([1.0, 2, 3, 3, 3, 1, 2, 3])
    y_pred = np.array([1.0, 2, 1, 2, 3, 1, 2, 4])
    g = group_pearson(codes, y_true, y_pred, min_group=3)
    assert g["skipped_small"] == 1 and g["skipped_constant_target"] == 1 and g["groups"] == 1
    assert g["r"] == pytest.approx(stats.pearsonr([1, 2, 3], [1, 2, 4])[0])


def test_bootstrap_ci_brackets_the_estimate_and_is_reproducible():
    f = _frame(3, n_cells=20, n_drugs=10)
    lo, hi = bootstrap_ci(f, "pearson", n_boot=300, seed=0)
    assert lo < metrics(f)["pearson"] < hi
    assert (lo, hi) == bootstrap_ci(f, "pearson", n_boot=300, seed=0)
    lo2, hi2 = bootstrap_ci(f, lambda t, p: float(np.mean(t - p)), n_boot=100)
    assert lo2 < hi2


def test_noise_ceiling_uses_first_and_second_replicate():
    reps = pd.DataFrame(
        {
            "cell_id": ["a", "a", "b", "b", "c", "d", "d", "d"],
            "drug_id": ["x"] * 8,
            "ln_ic50": [1.0, 1.5, 2.0, 2.0, 9.0, 3.0, 4.0, 100.0],
        }
    )
    nc = noise_ceiling(reps)
    first, second = np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 4.0])
    assert nc["n_pairs"] == 3
    assert nc["pearson"] == pytest.approx(stats.pearsonr(first, second)[0])
    assert nc["rmse"] == pytest.approx(np.sqrt(np.mean((first - second) ** 2)))


def test_noise_ceiling_separates_each_drugs_offset_from_the_noise():
    """Drug x's second screen reads 2 ln units higher on every cell; drug y agrees up to noise.
    The offset is part of the raw difference, not of the noise within a drug."""
    cells = ["a", "b", "c", "d"]
    noise = np.array([0.1, -0.1, 0.2, -0.2])
    x1, y1 = np.array([1.0, 2.0, 3.0, 4.0]), np.array([0.0, 1.0, -1.0, 2.0])
    x2, y2 = x1 + 2.0 + noise, y1 + noise
    reps = pd.DataFrame(
        {
            "cell_id": cells * 4,
            "drug_id": ["x"] * 4 + ["y"] * 4 + ["x"] * 4 + ["y"] * 4,
            "ln_ic50": np.concatenate([x1, y1, x2, y2]),
        }
    )
    nc = noise_ceiling(reps)
    gap = np.concatenate([x1 - x2, y1 - y2])
    centred = np.concatenate([x1 - x2 + 2.0, y1 - y2])
    assert nc["n_pairs"] == 8 and nc["n_drugs"] == 2
    assert nc["rmse"] == pytest.approx(np.sqrt(np.mean(gap**2)))
    assert nc["rmse_within"] == pytest.approx(np.sqrt(np.mean(centred**2)))
    assert nc["offset_share"] == pytest.approx(
        np.mean(np.r_[[-2.0] * 4, [0.0] * 4] ** 2) / np.mean(gap**2)
    )
    first, second = np.concatenate([x1 + 2.0, y1]), np.concatenate([x2, y2])
    assert nc["pearson_within"] == pytest.approx(stats.pearsonr(first, second)[0])


def test_censored_subset_and_aggregation(tmp_path):
    f = _frame(4).assign(censored=lambda d: d.y_true > 1.0)
    rows = pd.concat(
        [
            evaluate_predictions(f, {"model": "m", "kind": "model", "split": "s", "fold": i})
            for i in range(2)
        ]
    )
    assert set(rows.subset) == {"all", "uncensored"}
    assert rows.loc[rows.subset == "uncensored", "n"].iloc[0] == (~f.censored).sum()
    summary = aggregate_folds(rows)
    assert set(summary.n_folds) == {2} and (summary.rmse_sd == 0).all()
    write_metrics(rows, tmp_path)
    payload = json.loads((tmp_path / "metrics.json").read_text())
    assert len(payload["metrics"]) == 4 and len(payload["summary"]) == 2
    assert (tmp_path / "metrics.csv").exists()


def test_run_baselines_and_runs_dirs(tiny_dataset, tmp_path):
    table = run_baselines(
        tiny_dataset, "cell_blind", k=3, fold_seed=0, cache_dir=tmp_path / "folds",
        names=["drug_mean", "mean_effects"], runs_dir=tmp_path / "runs",
    )  # fmt: skip
    assert len(table) == 6 and set(table.model) == {"drug_mean", "mean_effects"}
    assert (table.loc[table.model == "drug_mean", "per_drug_r"] == 0).all()
    runs = sorted((tmp_path / "runs" / "drug_mean").iterdir())
    again = evaluate_runs(runs)
    drug_rows = table[table.model == "drug_mean"].reset_index(drop=True)
    np.testing.assert_allclose(again["rmse"], drug_rows["rmse"])
    assert list(again["fold"]) == [0, 1, 2]
    with pytest.raises(FileNotFoundError, match="not a finished run"):
        evaluate_runs([tmp_path])


def _fake_run(run, ds, data, split="drug_blind", k=3, seed=0, fold=0, name="gat"):
    """A run directory whose test pairs are exactly fold ``fold`` of the cached folds."""
    folds = load_or_make_folds(ds, split, k, seed, data / "folds")
    test = ds.pairs.iloc[folds[fold].test]
    run.mkdir(parents=True)
    preds = test.rename(columns={"ln_ic50": "y_true"})[["cell_id", "drug_id", "y_true"]]
    # errors that vary, so a bootstrap interval has width
    error = np.random.default_rng(seed + fold).normal(0.1, 0.3, len(preds))
    preds.assign(y_pred=preds.y_true + error).to_parquet(run / "predictions_test.parquet")
    config = {"dataset": str(data), "split": split, "fold": fold, "seed": seed, "k": k}
    (run / "config.json").write_text(json.dumps(config | {"model": {"name": name}}))
    return run


def test_cli_evaluate_baselines_on_the_runs_setting(tiny_dataset, tmp_path):
    data = tmp_path / "feat"
    tiny_dataset.save(data)
    ds = FeaturizedDataset.load(data)
    run = _fake_run(tmp_path / "run0", ds, data)
    out = tmp_path / "report"
    # split, k, seed and dataset come from the run: none given here
    args = ["evaluate", str(run), "--baselines", "--n-boot", "50", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "metrics.csv")
    assert {"gat", "mean_effects", "ridge"} <= set(table.model)
    assert set(table.split) == {"drug_blind"} and set(table.fold) == {0}
    # drug-blind CIs resample the held-out drug structures, and the output says so
    assert set(table.ci_unit) == {"drug structure"}
    assert (table.rmse_lo < table.rmse).all() and (table.rmse < table.rmse_hi).all()
    assert "drug structure" in result.output and "mean_effects" in result.output
    assert (data / "folds" / "fixture_drug_blind_k3_s0.parquet").exists()
    # the same test pairs as the run: mean_effects scored on the run's fold 0 only
    n_test = len(pd.read_parquet(run / "predictions_test.parquet"))
    assert (table.n == n_test).all()


def test_ci_unit_is_the_splits_unit_even_without_bootstrap(tiny_dataset, tmp_path):
    data = tmp_path / "feat"
    tiny_dataset.save(data)
    ds = FeaturizedDataset.load(data)
    runs = [
        _fake_run(tmp_path / split, ds, data, split=split)
        for split in ("drug_blind", "cluster_blind", "cell_blind", "mixed")
    ]
    table = evaluate_runs(runs)  # n_boot=0: no CIs, but the unit a CI would resample
    assert table.ci_unit.tolist() == ["drug structure", "drug cluster", "cell", "pair"]
    assert "rmse_lo" not in table
    assert (
        table.ci_units.iloc[2]
        == pd.read_parquet(runs[2] / "predictions_test.parquet")["cell_id"].nunique()
    )
    table = run_baselines(ds, "tissue_blind", k=3, names=["drug_mean"], cache_dir=data / "folds")
    assert set(table.ci_unit) == {"tissue"} and (table.ci_units == 1).all()


def test_cross_dataset_new_drugs_resample_structures_not_ids():
    from types import SimpleNamespace

    from drp.evaluation.scoring import score_predictions

    frame = _frame(n_cells=6, n_drugs=4).assign(subset="new_drug")
    # D0/D1 are one structure under two ids (renamed into the training id space), D2/D3 others
    drugs = pd.DataFrame({"drug_id": ["D0", "D1", "D2", "D3"], "structure_key": list("KKLM")})
    labels = {"model": "m"}
    rows = score_predictions(
        frame, labels, split="cross_dataset:x", n_boot=20, test_ds=SimpleNamespace(drugs=drugs)
    ).set_index("subset")
    assert rows.loc["all", "ci_unit"] == "pair" and rows.loc["all", "ci_units"] == len(frame)
    assert rows.loc["new_drug", "ci_unit"] == "drug structure"
    assert rows.loc["new_drug", "ci_units"] == 3
    assert rows.loc["new_drug", "rmse_lo"] < rows.loc["new_drug", "rmse_hi"]


def test_cli_evaluate_refuses_mixed_settings(tiny_dataset, tmp_path):
    data = tmp_path / "feat"
    tiny_dataset.save(data)
    ds = FeaturizedDataset.load(data)
    a = _fake_run(tmp_path / "a", ds, data, split="drug_blind")
    b = _fake_run(tmp_path / "b", ds, data, split="cell_blind")
    c = _fake_run(tmp_path / "c", ds, data, split="drug_blind", seed=1)
    cases = [
        ([str(a), str(b), "--baselines"], "the runs disagree on split"),
        ([str(a), str(c), "--baselines"], "the runs disagree on fold_seed"),
        ([str(a), "--baselines", "--fold-seed", "3"], "--fold-seed 3 contradicts"),
        ([str(a), "--baselines", "--seed", "3"], "--fold-seed 3 contradicts"),
        ([str(a), "--baselines", "--split", "mixed"], "--split mixed contradicts"),
        ([str(a), "--baselines", "--k", "5"], "--k 5 contradicts"),
        ([str(a), "--split", "cell_blind"], "--split cell_blind contradicts"),
        (["--baselines", "--dataset", str(data)], "--split is required without runs"),
        (["--baselines", "--split", "nope"], "--split: unknown ['nope']"),
        (["--baselines", "--split", "mixed", "--baseline", "nope"], "unknown baseline(s)"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, ["evaluate", *args])
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    # a run whose test pairs are not its fold's (the folds changed since) is refused
    preds = pd.read_parquet(a / "predictions_test.parquet")
    preds.iloc[:-1].to_parquet(a / "predictions_test.parquet")
    result = CliRunner().invoke(app, ["evaluate", str(a), "--baselines"])
    assert result.exit_code == 1 and "are not the" in result.output


def test_cli_evaluate_errors_are_clear(tmp_path):
    args = ["evaluate", "--baselines", "--split", "mixed", "--dataset", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "featurized dataset" in result.output
    result = CliRunner().invoke(app, ["evaluate"])
    assert result.exit_code == 1 and "nothing to evaluate" in result.output
    result = CliRunner().invoke(app, ["evaluate", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "config.json missing" in result.output


def _target_tables(tmp_path):
    """A CCLE-like target: two new cell lines, erlotinib under another id (same structure),
    one new drug (caffeine), responses shifted by noise, every fourth pair censored."""
    from tests.conftest import write_fixture_tables

    paths = write_fixture_tables(tmp_path / "target_tables", seed=0)
    rng = np.random.default_rng(1)
    responses = pd.read_csv(paths["responses"])
    responses["ln_ic50"] += rng.normal(scale=0.3, size=len(responses))
    new_cells = {"CELL-10": "NEW-10", "CELL-11": "NEW-11"}
    responses["cell_id"] = responses["cell_id"].replace(new_cells)
    responses["drug_id"] = responses["drug_id"].replace({"erlotinib": "tarceva"})
    caffeine = pd.DataFrame(
        {
            "cell_id": responses["cell_id"].unique(),
            "drug_id": "caffeine",
            "ln_ic50": rng.normal(size=responses["cell_id"].nunique()),
        }
    )
    pd.concat([responses, caffeine]).to_csv(paths["responses"], index=False)
    for key in ("omics", "tissues"):
        table = pd.read_csv(paths[key])
        table["cell_id"] = table["cell_id"].replace(new_cells)
        table.to_csv(paths[key], index=False)
    drugs = pd.read_csv(paths["drugs"])
    drugs["drug_id"] = drugs["drug_id"].replace({"erlotinib": "tarceva"})
    drugs = pd.concat(
        [drugs, pd.DataFrame({"drug_id": ["caffeine"], "smiles": ["Cn1cnc2c1c(=O)n(C)c(=O)n2C"]})]
    )
    drugs.to_csv(paths["drugs"], index=False)
    return paths


def _cross_fixture(tiny_dataset, tmp_path):
    from tests.conftest import make_dataset

    data, target_dir = tmp_path / "feat", tmp_path / "target"
    train = tiny_dataset
    train.pairs = train.pairs.iloc[1::2].reset_index(drop=True)  # the other half is "new_pair"
    train.save(data)
    target = make_dataset(_target_tables(tmp_path))
    target.pairs = target.pairs.assign(censored=np.arange(len(target.pairs)) % 4 == 0)
    target.save(target_dir)
    return data, target_dir


def _expected_subsets(train_dir, target_dir):
    train, target = FeaturizedDataset.load(train_dir), FeaturizedDataset.load(target_dir)
    pairs = target.pairs.assign(drug_id=target.pairs.drug_id.replace({"tarceva": "erlotinib"}))
    # seen means measured with the same structure (aspirin and its sodium salt are one)
    structure = train.drugs.set_index("drug_id")["structure_key"]
    measured = set(zip(train.pairs.cell_id, train.pairs.drug_id.map(structure), strict=True))
    new_drug = pairs.drug_id == "caffeine"
    new_cell = ~new_drug & pairs.cell_id.str.startswith("NEW")
    keys = zip(pairs.cell_id, pairs.drug_id.map(structure), strict=True)
    seen = pd.Series([p in measured for p in keys])
    return {
        "new_drug": int(new_drug.sum()),
        "new_cell": int(new_cell.sum()),
        "seen_pair": int((~new_drug & ~new_cell & seen).sum()),
        "new_pair": int((~new_drug & ~new_cell & ~seen).sum()),
        "all": len(pairs),
    }


def test_cli_evaluate_cross_dataset_reports_subsets(tiny_dataset, tmp_path):
    data, target_dir = _cross_fixture(tiny_dataset, tmp_path)
    expected = _expected_subsets(data, target_dir)
    assert min(expected.values()) > 0
    out = tmp_path / "report"
    args = ["evaluate", "--baselines", "--split", "cross_dataset", "--target", str(target_dir)]
    args += ["--baseline", "drug_mean", "--baseline", "ridge", "--baseline", "hist_gbm"]
    result = CliRunner().invoke(app, [*args, "--dataset", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "metrics.csv")
    assert (table.split == "cross_dataset:fixture").all()
    ridge = table[table.model == "ridge"].set_index("subset")
    for subset, n in expected.items():
        assert ridge.loc[subset, "n"] == n, subset
    assert ridge.loc["uncensored", "n"] < expected["all"]
    # new drugs get the global mean from drug_mean but a fingerprint prediction from ridge
    drug_mean = table[table.model == "drug_mean"].set_index("subset")
    assert drug_mean.loc["new_drug", "pearson"] == 0.0
    assert np.isfinite(ridge.loc["new_drug", "rmse"])
    assert np.isfinite(table.rmse).all()


def test_cli_evaluate_trained_run_cross_dataset_and_on_its_own_fold(tiny_dataset, tmp_path):
    from drp.core.config import ModelConfig, RunConfig, TrainConfig
    from drp.evaluation.runs import train_run

    data, target_dir = _cross_fixture(tiny_dataset, tmp_path)
    expected = _expected_subsets(data, target_dir)
    cfg = RunConfig(
        model=ModelConfig(hidden=16),
        train=TrainConfig(
            dataset=str(data), split="drug_blind", k=3, seed=1, epochs=1, batch_size=16
        ),
    )
    run = tmp_path / "run"
    train_run(cfg, run, name="gat_edge")
    out = tmp_path / "cross"
    args = ["evaluate", str(run), "--split", "cross_dataset", "--target", str(target_dir)]
    result = CliRunner().invoke(
        app, [*args, "--baselines", "--baseline", "mean_effects", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "metrics.csv")
    assert set(table.model) == {"gat_edge", "mean_effects"}
    # the seed comes from the run (no --seed given)
    assert set(table.seed) == {1}
    # baselines trained on all training pairs, with subsets relative to all of them
    base = table[table.model == "mean_effects"].set_index("subset")
    for subset, n in expected.items():
        assert base.loc[subset, "n"] == n, subset
    assert set(base.train_split) == {"all"}
    # the run trained on train + val of drug-blind fold 0 only: its held-out drugs are new
    ds, target = FeaturizedDataset.load(data), FeaturizedDataset.load(target_dir)
    fold = load_or_make_folds(ds, "drug_blind", 3, 1, data / "folds")[0]
    trained = ds.pairs.iloc[np.concatenate([fold.train, fold.val])]
    structure = ds.drugs.set_index("drug_id")["structure_key"]
    known = set(trained.drug_id.map(structure))
    target_drug = target.pairs.drug_id.replace({"tarceva": "erlotinib"})
    n_new_drug = int((~target_drug.map(structure).isin(known)).sum())
    model = table[table.model == "gat_edge"].set_index("subset")
    assert model.loc["all", "n"] == expected["all"]
    assert model.loc["new_drug", "n"] == n_new_drug > expected["new_drug"]
    assert set(model.train_split) == {"drug_blind"} and set(model.train_fold) == {0}
    assert set(model.n_train_pairs) == {len(trained)}
    assert np.isfinite(model.rmse).all()
    # the cross-dataset drops are counted in the log and in metrics.json
    payload = json.loads((out / "metrics.json").read_text())
    assert payload["cross_dataset"]["dropped"] == {
        "cell without omics in the target dataset": 0,
        "drug without a graph in the target dataset": 0,
    }
    assert payload["cross_dataset"]["counts"]["new_drug"] == expected["new_drug"]
    assert "pairs dropped: 0" in " ".join(result.output.split())
    # beside baselines, on the run's own fold only (split, k, seed from the run)
    out = tmp_path / "own"
    args = ["evaluate", str(run), "--baselines", "--baseline", "mean_effects", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "metrics.csv")
    assert set(table.model) == {"gat_edge", "mean_effects"} and set(table.fold) == {0}
    assert table.n.nunique() == 1


def test_cli_evaluate_table_survives_a_narrow_log(tiny_dataset, tmp_path, monkeypatch):
    """Not a terminal and 40 columns: every number whole, and metrics.csv written by default."""
    data = tmp_path / "feat"
    tiny_dataset.save(data)
    ds = FeaturizedDataset.load(data)
    runs = [_fake_run(tmp_path / f"run{f}", ds, data, fold=f) for f in (0, 1)]
    monkeypatch.chdir(tmp_path)
    args = ["evaluate", *map(str, runs), "--baselines", "--baseline", "drug_mean"]
    result = CliRunner().invoke(app, [*args, "--n-boot", "20"], env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    out = tmp_path / "reports" / "evaluate" / "feat_drug_blind"  # the default, no --out
    summary = pd.read_csv(out / "metrics_summary.csv")
    assert len(pd.read_csv(out / "metrics.csv")) == 2 * 2  # 2 models x 2 folds
    assert set(summary.model) == {"gat", "drug_mean"}
    for _, row in summary.iterrows():
        cell = f"{row.rmse_mean:.3f} ±{row.rmse_sd:.3f} [{row.rmse_lo_mean:.3f}, "
        cell += f"{row.rmse_hi_mean:.3f}]"
        assert cell in result.output, (cell, result.output)
        assert f"{row.pearson_mean:.3f} ±{row.pearson_sd:.3f}" in result.output
    assert "…" not in result.output
    # the closing line says where the tables went, on one line
    done = [line for line in result.output.splitlines() if line.startswith("evaluated")]
    assert len(done) == 1
    assert str(Path("reports/evaluate/feat_drug_blind/metrics.csv")) in done[0]
    assert str(Path("reports/evaluate/feat_drug_blind/metrics_summary.csv")) in done[0]


def _summary(n_models: int = 4) -> pd.DataFrame:
    """A metrics summary with long cells (mean ±sd [lo, hi]) for the table printer."""
    rows = []
    for i in range(n_models):
        row = {"model": f"model_{i}", "kind": "model", "split": "drug_blind", "subset": "all"}
        row |= {"ci_unit": "drug structure", "n_folds": 5}
        for j, m in enumerate(("rmse", "pearson", "spearman", "r2", "per_drug_r")):
            mean = 2.354 + 0.1111 * i + j
            row |= {f"{m}_mean": mean, f"{m}_sd": 0.235, f"{m}_lo_mean": mean - 0.5}
            row[f"{m}_hi_mean"] = mean + 0.5
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("width", [40, 80, 200])
def test_metrics_table_in_a_file_keeps_every_digit(width):
    import io

    from rich.console import Console

    from drp.report.console import print_metrics_table

    buffer = io.StringIO()
    print_metrics_table(_summary(), Console(file=buffer, width=width))
    text = buffer.getvalue()
    assert "2.354 ±0.235 [1.854, 2.854]" in text and "5.687 ±0.235 [5.187, 6.187]" in text
    assert "…" not in text and "\x1b" not in text
    # one table row per model, each on one line
    assert sum(line.startswith("│ model_") for line in text.splitlines()) == 4


def test_metrics_table_in_a_narrow_terminal_folds_instead_of_cutting():
    import io

    from rich.console import Console

    from drp.report.console import print_metrics_table

    buffer = io.StringIO()
    terminal = Console(file=buffer, width=60, force_terminal=True, color_system=None)
    print_metrics_table(_summary(1), terminal)
    text = buffer.getvalue()
    assert "…" not in text and max(map(len, text.splitlines())) <= 60
    cells = " ".join(text.replace("│", " ").replace("┃", " ").split())
    for value in ("2.354", "±0.235", "1.854,", "2.854]"):
        assert value in cells, (value, text)

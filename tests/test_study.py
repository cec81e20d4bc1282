import json
import shutil

import pandas as pd
from typer.testing import CliRunner

from drp.cli import app
from drp.config import ModelConfig, RunConfig, TrainConfig
from drp.study import Preset, run_study

runner = CliRunner()


def test_study_dir_knows_every_registered_baseline(tmp_path):
    from drp.models.baselines import BASELINES
    from drp.report.study_dir import load_study

    (tmp_path / "study.json").write_text(json.dumps({"name": "s"}))  # no grid recorded
    variants = ["gat_edge", "hist_gbm", "drug_mean"]
    rows = [{"variant": v, "split": "mixed", "fold": 0, "seed": 0, "rmse": 1.0} for v in variants]
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    study = load_study(tmp_path)
    assert "hist_gbm" in BASELINES
    assert set(study.baselines) == {"hist_gbm", "drug_mean"} and study.models == ["gat_edge"]
    assert study.default_variant == "gat_edge"


def test_study_runs_resumes_and_reports(tiny_dataset, tmp_path, monkeypatch):
    import drp.evaluation

    def no_scoring(*args, **kwargs):
        raise AssertionError("the study scores run directories in collect(), not while fitting")

    monkeypatch.setattr(drp.evaluation, "score_predictions", no_scoring)
    ds_dir = tmp_path / "ds"
    tiny_dataset.save(ds_dir)
    preset = Preset(
        "tiny",
        ("gat_edge", "gat", "fingerprint"),
        ("mixed", "drug_blind"),
        (0, 1),
        (0,),
        2,
        2,
        ("drug_mean", "mean_effects"),
        k=3,
    )
    base = RunConfig(
        model=ModelConfig(hidden=16),
        train=TrainConfig(batch_size=16, folds_dir=str(tmp_path / "folds")),
    )
    study = run_study("s", preset, ds_dir, tmp_path / "studies", base, log=lambda m: None)
    results = pd.read_csv(study / "results.csv")
    # 3 variants + 2 baselines, x 2 splits x 2 folds x 1 seed
    assert len(results) == 5 * 2 * 2
    answers = pd.read_csv(study / "answers.csv")
    questions = answers[answers.role != "baseline"]
    assert set(questions.twin) == {"gat", "fingerprint"}
    assert set(answers.verdict) <= {"helps", "equivalent", "hurts", "inconclusive"}
    primary = questions[questions.role == "primary"]
    assert set(primary.split) == {"drug_blind"} and (primary.n_pairs == 2).all()
    assert set(answers[answers.role == "baseline"].twin) <= {"drug_mean", "mean_effects"}
    design = json.loads((study / "design.json").read_text())
    # the study compares the encoders' own predictions: no similarity prior on new drugs
    meta = json.loads((study / "study.json").read_text())
    assert meta["config"]["train"]["drug_prior"] == "none"
    assert not list((study / "runs").glob("*/drug_prior.npz"))
    assert design["n_train"]["drug_blind"] > 0 and design["margins"]["rmse"]["drug_blind"] == 0.05
    # faithfulness comes from the drug-blind models only, every fold, three deleted fractions
    faith = pd.read_csv(study / "faithfulness.csv")
    assert set(faith.split) == {"drug_blind"} and set(faith.fold) == {0, 1}
    assert sorted(set(faith.fraction)) == [0.1, 0.2, 0.3]
    assert (faith.top_k_delta >= 0).all() and faith.uniform_delta.notna().all()
    # every drug-blind test drug is scored by the model of the fold that held it out
    scored = faith.groupby("fold").drug_id.nunique()
    assert (scored >= 1).all()
    json.loads((study / "attention.json").read_text())
    val = pd.read_parquet(
        study / "runs" / "gat_edge__drug_blind__f1__s0" / "predictions_val.parquet"
    )
    assert list(val.columns) == ["cell_id", "drug_id", "y_true", "y_pred"] and len(val)
    # every cell, baselines included, leaves a compact record with per-drug and per-cell rows
    record = json.loads((study / "cells" / "mean_effects__drug_blind__f1__s0.json").read_text())
    assert record["kind"] == "baseline" and record["n"] > 0 and record["rmse"] > 0
    gat = json.loads((study / "cells" / "gat__mixed__f0__s0.json").read_text())
    groups = pd.read_parquet(study / "cells" / "gat__mixed__f0__s0.groups.parquet")
    assert set(groups.kind) == {"drug", "cell"}
    assert (
        groups[groups.kind == "drug"].n.sum() == groups[groups.kind == "cell"].n.sum() == gat["n"]
    )
    assert (study / "cells" / "gat_edge__mixed__f0__s0.sample.parquet").exists()
    assert not (study / "cells" / "gat__mixed__f0__s0.sample.parquet").exists()
    # a second call, even without the checkpoints, resumes from the records and trains nothing
    stamp = (study / "cells" / "gat__mixed__f0__s0.json").stat().st_mtime
    shutil.rmtree(study / "runs")
    run_study("s", preset, ds_dir, tmp_path / "studies", base, log=lambda m: None)
    assert (study / "cells" / "gat__mixed__f0__s0.json").stat().st_mtime == stamp
    assert not (study / "runs" / "gat__mixed__f0__s0").exists()
    assert len(pd.read_csv(study / "results.csv")) == 5 * 2 * 2
    result = runner.invoke(app, ["report", str(study), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "data:image/png;base64" in html and "bond-aware attention" in html
    # the committed evidence (no runs/, no per-cell parquet files) regenerates the same report
    evidence = tmp_path / "evidence"
    shutil.copytree(
        study,
        evidence,
        ignore=shutil.ignore_patterns("runs", "*.groups.parquet", "*.sample.parquet"),
    )
    again = runner.invoke(app, ["report", str(evidence), "--out", str(tmp_path / "rep2")])
    assert again.exit_code == 0, again.output
    first, second = (tmp_path / d / "report.md" for d in ("rep", "rep2"))
    assert first.read_text() == second.read_text()

import json

import pandas as pd
from typer.testing import CliRunner

from drp.cli import app
from drp.config import ModelConfig, RunConfig, TrainConfig
from drp.study import Preset, run_study

runner = CliRunner()



def test_study_runs_resumes_and_reports(tiny_dataset, tmp_path):
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
    comparisons = pd.read_csv(study / "comparisons.csv")
    assert set(comparisons.twin) == {"gat", "fingerprint"}
    assert set(comparisons.verdict) <= {"helps", "no evidence", "hurts"}
    faith = pd.read_csv(study / "faithfulness.csv")
    assert {"top_k_delta", "random_k_delta", "saliency_spearman"} <= set(faith.columns)
    assert (faith.top_k_delta >= 0).all()
    # drug-blind test drugs are unseen in training: every test drug of fold 0 is scored
    assert faith[faith.split == "drug_blind"].drug_id.nunique() >= 2
    json.loads((study / "attention.json").read_text())
    # a second call finds every cell done and trains nothing new
    stamp = (study / "runs" / "gat__mixed__f0__s0" / "best.pt").stat().st_mtime
    run_study("s", preset, ds_dir, tmp_path / "studies", base, log=lambda m: None)
    assert (study / "runs" / "gat__mixed__f0__s0" / "best.pt").stat().st_mtime == stamp
    result = runner.invoke(app, ["report", str(study), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "rep" / "report.html").read_text()
    assert "data:image/png;base64" in html and "bond-aware attention" in html

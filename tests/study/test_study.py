import copy
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from drp.cli import app
from drp.core.config import ModelConfig, RunConfig, TrainConfig
from drp.featurize.store import FeaturizedDataset
from drp.study.presets import Preset
from drp.study.runner import run_study

runner = CliRunner()


def expected_top_k_delta(run_dir: Path, ds: FeaturizedDataset, drug_id: str, k: int) -> float:
    """``top_k_delta`` by hand: the run's model, through its public ``predict``, scores the drug
    intact and with its ``k`` most attended atoms deleted on the drug's test pairs of the run
    (``predictions_test.parquet``); the mean |difference| in ln IC50."""
    from drp.study.interpretation import atom_attention, delete_atoms
    from drp.training.estimator import NeuralEstimator

    est = NeuralEstimator.from_run(run_dir, "cpu")
    d = ds.drug_index[drug_id]
    weight = atom_attention(est.model_, ds.graphs[d], est.entity_tensors(ds).fingerprints[d])
    top = np.argsort(-weight, kind="stable")[:k]
    deleted = copy.copy(ds)
    deleted.graphs = list(ds.graphs)
    deleted.graphs[d] = delete_atoms(ds.graphs[d], top)
    test = pd.read_parquet(run_dir / "predictions_test.parquet")
    pairs = test.loc[test.drug_id == drug_id, ["cell_id", "drug_id"]]
    return float(np.abs(est.predict(deleted, pairs) - est.predict(ds, pairs)).mean())


def check_faithfulness_values(
    study: Path, ds: FeaturizedDataset, variant: str, atol: float = 1e-6
) -> None:
    """Every row's ``k`` is ceil(fraction x atoms) (within 1 .. atoms - 1) and the rows of one
    drug per fold carry the ``top_k_delta`` that :func:`expected_top_k_delta` recomputes on the
    CPU (``atol``: ln IC50, for a study whose models ran on another device)."""
    from drp.study.cells import run_name

    faith = pd.read_csv(study / "faithfulness.csv")
    n_atoms = faith.drug_id.map(lambda d: ds.graphs[ds.drug_index[d]].num_nodes)
    assert (faith.n_atoms == n_atoms).all()
    k = [
        min(max(1, math.ceil(f * n)), max(1, n - 1))
        for f, n in zip(faith.fraction, n_atoms, strict=True)
    ]
    assert faith.k.tolist() == k
    for _, row in faith.groupby("fold").head(len(set(faith.fraction))).iterrows():
        run = study / "runs" / run_name(variant, row.split, row.fold, 0)
        expected = expected_top_k_delta(run, ds, row.drug_id, int(row.k))
        assert expected > 0, row  # deleting atoms changes the prediction
        assert np.isclose(row.top_k_delta, expected, rtol=1e-4, atol=atol), (row, expected)


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
    import drp.evaluation.scoring

    def no_scoring(*args, **kwargs):
        raise AssertionError("the study scores run directories in collect(), not while fitting")

    monkeypatch.setattr(drp.evaluation.scoring, "score_predictions", no_scoring)
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
    primary = questions[questions.role == "primary"]
    assert set(primary.split) == {"drug_blind"} and (primary.n_pairs == 2).all()
    design = json.loads((study / "design.json").read_text())
    # each primary interval and verdict by hand from results.csv: the corrected t interval of
    # the paired RMSE differences, against the drug-blind margin of 0.05
    for _, row in primary.iterrows():
        by = ["fold", "seed"]
        a = results[(results.variant == row.attention) & (results.split == "drug_blind")]
        b = results[(results.variant == row.twin) & (results.split == "drug_blind")]
        diffs = (a.set_index(by).rmse - b.set_index(by).rmse).to_numpy()
        n_train, n_test = design["n_train"]["drug_blind"], design["n_test"]["drug_blind"]
        se = math.sqrt((1 / len(diffs) + n_test / n_train) * diffs.var(ddof=1))
        half = sps.t.ppf((1 + row.ci_level) / 2, len(diffs) - 1) * se
        assert np.isclose(row.ci_low, diffs.mean() - half)
        assert np.isclose(row.ci_high, diffs.mean() + half)
        if row.ci_low > -0.05 and row.ci_high < 0.05:
            verdict = "equivalent"
        else:
            verdict = {(True, False): "helps", (False, True): "hurts"}.get(
                (row.ci_high < 0, row.ci_low > 0), "inconclusive"
            )
        assert row.verdict == verdict, row
    # every model is compared with the best baseline of each split (lowest mean RMSE)
    vs_base = answers[answers.role == "baseline"]
    for split in ("mixed", "drug_blind"):
        scored = results[results.variant.isin(["drug_mean", "mean_effects"])]
        best = scored[scored.split == split].groupby("variant").rmse.mean().idxmin()
        rows = vs_base[vs_base.split == split]
        assert set(rows.twin) == {best}
        assert set(rows.attention) == {"gat_edge", "gat", "fingerprint"}
    # the study compares the encoders' own predictions: no similarity prior on new drugs
    meta = json.loads((study / "study.json").read_text())
    assert meta["config"]["train"]["drug_prior"] == "none"
    assert not list((study / "runs").glob("*/drug_prior.npz"))
    assert design["n_train"]["drug_blind"] > 0 and design["margins"]["rmse"]["drug_blind"] == 0.05
    # faithfulness comes from the drug-blind models only, every fold, three deleted fractions
    faith = pd.read_csv(study / "faithfulness.csv")
    assert set(faith.split) == {"drug_blind"} and set(faith.fold) == {0, 1}
    assert sorted(set(faith.fraction)) == [0.1, 0.2, 0.3]
    assert faith.uniform_delta.notna().all()
    check_faithfulness_values(study, FeaturizedDataset.load(ds_dir), "gat_edge")
    # every drug-blind test drug is scored by the model of the fold that held it out
    for fold in (0, 1):
        test = pd.read_parquet(
            study / "runs" / f"gat_edge__drug_blind__f{fold}__s0" / "predictions_test.parquet"
        )
        assert set(faith[faith.fold == fold].drug_id) == set(test.drug_id)
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
    # a second call, even without the checkpoints, resumes from the records: it trains again
    # only the default's first-seed drug-blind runs that the attention analyses read, leaves
    # their records as they are, and the analyses come out as before
    stamp = (study / "cells" / "gat__mixed__f0__s0.json").stat().st_mtime
    edge = study / "cells" / "gat_edge__drug_blind__f0__s0.json"
    edge_record = edge.read_text()
    before = pd.read_csv(study / "faithfulness.csv")
    assert not (study / "restored_runs.csv").exists()
    shutil.rmtree(study / "runs")
    run_study("s", preset, ds_dir, tmp_path / "studies", base, log=lambda m: None)
    assert (study / "cells" / "gat__mixed__f0__s0.json").stat().st_mtime == stamp
    assert not (study / "runs" / "gat__mixed__f0__s0").exists()
    assert sorted(p.name for p in (study / "runs").iterdir()) == [
        "gat_edge__drug_blind__f0__s0",
        "gat_edge__drug_blind__f1__s0",
    ]
    assert edge.read_text() == edge_record
    restored = pd.read_csv(study / "restored_runs.csv")
    assert len(restored) == 2
    assert np.allclose(restored.restored_rmse, restored.committed_rmse, atol=1e-4)
    pd.testing.assert_frame_equal(pd.read_csv(study / "faithfulness.csv"), before, atol=1e-4)
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


def test_study_answers_on_the_external_new_drugs(tiny_dataset, tmp_path):
    """The external split trains every seed on the same pairs, tests another screen's new
    drugs moved by the assay offset, and answers with the seed + drug-bootstrap interval."""
    from dataclasses import replace

    from drp.splits.external import external_new_drugs
    from drp.study.cells import run_name
    from drp.study.presets import EXTERNAL
    from drp.study.statistics import external_paired_test

    ds = tiny_dataset
    new = ["erlotinib", "imatinib"]  # structures the training screen does not hold
    drugs = ds.drugs.copy()
    renamed = drugs.drug_id.isin(new)
    drugs.loc[renamed, "structure_key"] = "NEWSKELETON" + drugs.loc[renamed, "drug_id"] + "-X-N"
    drugs["drug_id"] = "aux:" + drugs.drug_id
    pairs = ds.pairs.assign(drug_id="aux:" + ds.pairs.drug_id, ln_ic50=ds.pairs.ln_ic50 - 0.8)
    replace(ds, name="aux", drugs=drugs, pairs=pairs).save(tmp_path / "aux")
    ds.save(tmp_path / "ds")
    question = "graph + fingerprint vs fingerprint alone"
    preset = Preset(
        "external", ("gat_edge", "fingerprint"), (EXTERNAL, "drug_blind"), (0, 1), (0, 1, 2), 2, 2,
        ("mean_effects",), k=3, questions=(question,), external="aux",
    )  # fmt: skip
    base = RunConfig(
        model=ModelConfig(hidden=16),
        train=TrainConfig(batch_size=16, folds_dir=str(tmp_path / "folds")),
    )
    study = run_study("x", preset, tmp_path / "ds", tmp_path / "studies", base, log=lambda m: None)
    results = pd.read_csv(study / "results.csv")
    external = results[results.split == EXTERNAL]
    # 3 seeds x (2 variants + 1 baseline), all on fold 0; drug-blind: the first seed only
    assert len(external) == 9 and set(external.fold) == {0}
    assert len(results[results.split == "drug_blind"]) == 3 * 2
    # the test pairs are the new structures on the training cells, on the training scale
    test = pd.read_parquet(
        study / "runs" / run_name("gat_edge", EXTERNAL, 0, 1) / "predictions_test.parquet"
    )
    expected = external_new_drugs(ds, FeaturizedDataset.load(tmp_path / "aux")).test_pairs
    assert set(test.drug_id) == {"aux:erlotinib", "aux:imatinib"}
    assert len(test) == len(expected)
    merged = test.merge(expected, on=["cell_id", "drug_id"])
    np.testing.assert_allclose(merged.y_true, merged.ln_ic50_raw + 0.8, atol=1e-5)
    # the primary rows (RMSE and per-drug r) are the external test's interval, Bonferroni over 2
    answers = pd.read_csv(study / "answers.csv")
    primary = answers[answers.role == "primary"].set_index("metric")
    assert set(primary.index) == {"rmse", "per_drug_r"} and (primary.split == EXTERNAL).all()
    assert (primary.n_pairs == 3).all() and np.allclose(primary.ci_level, 1 - 0.05 / 2)
    groups = pd.read_parquet(study / "groups.parquet")
    drug_rows = groups[(groups.kind == "drug") & (groups.split == EXTERNAL)]
    by_hand = external_paired_test(
        drug_rows[drug_rows.variant == "gat_edge"], drug_rows[drug_rows.variant == "fingerprint"],
        "rmse", confidence=1 - 0.05 / 2,
    )  # fmt: skip
    assert primary.loc["rmse", "ci_low"] == pytest.approx(by_hand["ci_low"])
    assert primary.loc["rmse", "ci_high"] == pytest.approx(by_hand["ci_high"])
    secondary = answers[(answers.role == "secondary") & (answers.split == "drug_blind")]
    assert len(secondary) == 2  # RMSE and per-drug r on the CV split, unadjusted
    design = json.loads((study / "design.json").read_text())
    assert design["external"]["offset"] == pytest.approx(0.8, abs=0.05)
    assert design["external"]["test_drugs"] == 2


def test_analysis_runs_cover_the_new_drug_and_biomarker_folds(tmp_path):
    """A study resumed from its committed records trains again exactly the runs its analyses
    read: the default's first seed on the first new-drug split (attention, faithfulness) and,
    when biomarkers can be computed, on every cell-blind fold; a run whose checkpoint and test
    predictions are on disk is not trained again."""
    from drp.study.cells import study_cells
    from drp.study.presets import preset_by_name
    from drp.study.runner import analysis_runs

    preset = preset_by_name("definitive")
    specs = study_cells(tmp_path / "s", preset, tmp_path / "ds", RunConfig())
    new_drug_only = analysis_runs(specs, preset, biomarkers=False)
    both = analysis_runs(specs, preset, biomarkers=True)
    assert all(s.restore and s.variant == "gat_edge" and s.seed == 0 for s in both)
    assert {(s.split, s.fold) for s in new_drug_only} == {("drug_blind", f) for f in range(10)}
    assert {(s.split, s.fold) for s in both} == {
        (split, f) for split in ("drug_blind", "cell_blind") for f in range(10)
    }
    done = tmp_path / "s" / "runs" / both[-1].run
    done.mkdir(parents=True)
    for name in ("best.pt", "predictions_test.parquet"):
        (done / name).write_bytes(b"")
    assert [s.run for s in analysis_runs(specs, preset, biomarkers=True)] == [
        s.run for s in both[:-1]
    ]

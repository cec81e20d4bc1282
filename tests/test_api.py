"""The Python API (drp.api): the README snippet runs as written, and Run.predict agrees with
the Predictor it wraps."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drp
from drp.api import Run, load_run, training_config
from drp.models.registry import DEFAULT_VARIANT
from drp.prediction.predictor import PredictionError, Predictor
from drp.prediction.runs import COLUMNS
from tests.conftest import make_dataset, write_fixture_tables

README = Path(__file__).resolve().parents[1] / "README.md"
PLACEHOLDER = 'DATASET = "data/featurized/gdsc2"'
ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"


def readme_snippet() -> str:
    """The ```python block after ``<!-- api-example -->`` in README.md."""
    match = re.search(r"<!-- api-example -->\s*```python\n(.*?)```", README.read_text(), re.S)
    assert match, "README.md lacks the <!-- api-example --> python block"
    return match.group(1)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """The tiny fixture dataset featurized on disk."""
    root = tmp_path_factory.mktemp("api")
    make_dataset(write_fixture_tables(root / "tables")).save(root / "ds")
    return root / "ds"


@pytest.fixture(scope="module")
def run(store: Path) -> Run:
    """A 1-epoch run trained through drp.train."""
    config = {"model": {"hidden": 16}, "train": {"dataset": str(store), "k": 3}}
    return drp.train(config, store.parent / "run", epochs=1, device="cpu")


def test_readme_snippet_runs_on_the_fixture(store, tmp_path, monkeypatch):
    code = readme_snippet()
    assert PLACEHOLDER in code
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code.replace(PLACEHOLDER, f"DATASET = {str(store)!r}"), "README", "exec"), ns)
    assert (tmp_path / "runs" / "api_example" / "best.pt").exists()
    known, new, metrics = ns["known"], ns["new"], ns["metrics"]
    assert list(known.columns) == COLUMNS and len(known) == 6
    assert known[["cell_id", "drug_id"]].drop_duplicates().shape == (6, 2)
    assert list(new.columns[:3]) == COLUMNS and list(new.drug_id) == ["aspirin"] * 3
    # a new drug's rows say where the prior took its level from
    prior_columns = ["new_drug", "prior_applied", "prior_auxiliary", "prior_nearest"]
    assert list(new.columns[3:7]) == prior_columns and not new.new_drug.any()
    # aspirin is one of the fixture's training drugs: no prior, the network's own level, and
    # its nearest drug is itself
    assert not new.prior_applied.any() and (new.prior_nearest == "aspirin").all()
    assert np.isfinite(known.ln_ic50_pred).all() and np.isfinite(new.ln_ic50_pred).all()
    assert set(metrics.model) == {"custom", "drug_mean", "cell_mean"}
    assert ns["run"].config["split"] == "mixed"


def test_run_config_and_summary_come_from_the_run_directory(run):
    assert run.config["model"]["hidden"] == 16 and run.config["k"] == 3
    assert run.summary["epochs_run"] == 1
    assert run.summary == load_run(run.path).summary


def test_predict_cells_only_gives_every_drug(run):
    cells = list(run.predictor.ds.cells.cell_id[:2])
    out = run.predict(cells=cells)
    n_drugs = len(run.predictor.ds.drugs)
    assert list(out.columns) == COLUMNS and len(out) == 2 * n_drugs
    assert set(out.cell_id) == set(cells)
    assert set(out.drug_id) == set(run.predictor.ds.drugs.drug_id)


def test_predict_drugs_only_gives_every_cell(run):
    drug = run.predictor.ds.drugs.drug_id.iloc[1]
    out = run.predict(drugs=[drug])
    assert len(out) == len(run.predictor.ds.cells) and set(out.drug_id) == {drug}


def test_predict_without_arguments_is_the_whole_matrix(run):
    out = run.predict()
    ds = run.predictor.ds
    assert list(out.columns) == COLUMNS and len(out) == len(ds.cells) * len(ds.drugs)


def test_predict_smiles_names_the_new_drugs(run):
    out = run.predict(smiles={"asp": ASPIRIN, "fu": "O=c1[nH]cc(F)c(=O)[nH]1"})
    assert list(out.columns[:3]) == COLUMNS and "prior_similarity" in out
    assert len(out) == 2 * len(run.predictor.ds.cells) and set(out.drug_id) == {"asp", "fu"}
    with pytest.raises(PredictionError, match="invalid SMILES"):
        run.predict(smiles={"bad": "C1CC("})


def test_predict_unknown_ids_are_errors(run):
    with pytest.raises(PredictionError, match="unknown cell"):
        run.predict(cells=["NO-SUCH-CELL"])
    with pytest.raises(PredictionError, match="unknown drug"):
        run.predict(drugs=["no_such_drug"])


def test_drugs_and_smiles_together_are_refused(run):
    with pytest.raises(ValueError, match="not both"):
        run.predict(drugs=["aspirin"], smiles={"x": ASPIRIN})


def test_load_run_without_best_pt_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(PredictionError, match="has no best.pt"):
        load_run(tmp_path)
    with pytest.raises(ValueError, match="device 'tpu'"):
        load_run(tmp_path, device="tpu")


def test_run_predict_equals_the_predictor(run):
    predictor = Predictor.from_run(run.path)
    ds = predictor.ds
    cells, drugs = list(ds.cells.cell_id[:4]), list(ds.drugs.drug_id[:3])
    ours = run.predict(cells=cells, drugs=drugs)
    pairs = pd.DataFrame([(c, d) for c in cells for d in drugs], columns=["cell_id", "drug_id"])
    theirs = predictor.predict_pairs(pairs)
    np.testing.assert_allclose(ours.ln_ic50_pred, theirs.ln_ic50_pred, rtol=1e-6)
    np.testing.assert_allclose(
        run.predict().ln_ic50_pred, predictor.predict_matrix().ln_ic50_pred, rtol=1e-6
    )
    new = {"asp": ASPIRIN}
    np.testing.assert_allclose(
        run.predict(cells=cells, smiles=new).ln_ic50_pred,
        predictor.predict_smiles(new, cells).ln_ic50_pred,
        rtol=1e-6,
    )


def test_evaluate_without_baselines_scores_the_run_only(run):
    metrics = drp.evaluate([run.path], baselines=[])
    assert set(metrics.model) == {"custom"}
    assert (metrics.rmse_mean > 0).all()
    per_fold = drp.evaluate([run.path], baselines=[], per_fold=True)
    assert "fold" in per_fold.columns and len(per_fold) == len(metrics)


def test_training_config_names_and_checks(store):
    cfg, name = training_config({"train": {"dataset": str(store)}}, variant="gin", epochs=2)
    assert name == "gin" and cfg.train.epochs == 2
    _, name = training_config({"train": {"dataset": str(store)}}, overrides=["model.hidden=64"])
    assert name == "custom"
    _, name = training_config({"train": {"dataset": str(store)}})
    assert name == DEFAULT_VARIANT
    with pytest.raises(ValueError, match="unknown variant"):
        training_config({"train": {"dataset": str(store)}}, variant="nope")
    with pytest.raises(FileNotFoundError, match="no featurized dataset"):
        training_config({"train": {"dataset": str(store.parent / "missing")}})
    with pytest.raises(ValueError, match="unknown config section"):
        training_config({"optim": {}})


def test_import_drp_stays_light_and_names_stay_callable():
    code = (
        "import sys, drp\n"
        "heavy = {'torch', 'rdkit', 'torch_geometric'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
        "assert callable(drp.load_run) and not heavy & set(sys.modules)\n"
        "import drp.api, drp.training.loop, drp.evaluation.scoring\n"
        "assert drp.train is drp.api.train and drp.evaluate is drp.api.evaluate\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cli_train_and_predict_go_through_the_api(store, run, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from drp.cli import app

    monkeypatch.chdir(tmp_path)
    cli = CliRunner()
    args = ["train", "--dataset", str(store), "--epochs", "1", "--set", "model.hidden=16"]
    result = cli.invoke(app, [*args, "--set", "train.k=3", "--device", "cpu", "--out", "r"])
    assert result.exit_code == 0, result.output
    assert "best val RMSE" in result.output and load_run("r").config["model"]["name"] == "custom"
    cells = list(run.predictor.ds.cells.cell_id[:2])
    args = ["predict", str(run.path), "--smiles", f"asp={ASPIRIN}", "--cells", ",".join(cells)]
    result = cli.invoke(app, [*args, "--out", "p.csv"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv("p.csv")
    expected = run.predict(cells=cells, smiles={"asp": ASPIRIN})
    np.testing.assert_allclose(written.ln_ic50_pred, expected.ln_ic50_pred, rtol=1e-5)
    result = cli.invoke(app, ["train", "--dataset", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no featurized dataset at" in result.output


@pytest.fixture(scope="module")
def seed_ensemble(store: Path, run: Run) -> list[Run]:
    """Two more 1-epoch runs on the run's folds (fold seed 0), trained with seeds 1 and 2."""
    config = {"model": {"hidden": 16}, "train": {"dataset": str(store), "k": 3}}
    return [
        drp.train(config, store.parent / f"seed{s}", epochs=1, device="cpu", seed=s, fold_seed=0)
        for s in (1, 2)
    ]


def test_fold_seed_fixes_the_folds_and_the_run_records_it(run, seed_ensemble):
    first = pd.read_parquet(run.path / "predictions_test.parquet")
    for member in seed_ensemble:
        assert member.config["seed"] != 0 and member.config["fold_seed"] == 0
        test = pd.read_parquet(member.path / "predictions_test.parquet")
        assert test[["cell_id", "drug_id"]].equals(first[["cell_id", "drug_id"]])
        assert not np.allclose(test.y_pred, first.y_pred)  # another initialisation
    cfg, name = training_config({"train": {"dataset": str(run.config["dataset"])}}, seed=1)
    assert drp.api.default_run_dir(cfg, name).name.endswith("_s1")
    cfg, name = training_config(cfg, seed=1, fold_seed=0)
    assert drp.api.default_run_dir(cfg, name).name.endswith("_s1_fs0")


def test_an_ensemble_is_scored_as_a_model_beside_its_members(run, seed_ensemble):
    runs = [run.path] + [m.path for m in seed_ensemble]
    table = drp.evaluate(runs, baselines=[], ensemble=True, per_fold=True)
    whole = table[table.subset == "all"]
    ensemble = whole[whole.kind == "ensemble"]
    assert len(ensemble) == 1 and ensemble.n_models.iloc[0] == 3
    assert ensemble.model.iloc[0] == "custom ensemble"
    frames = [pd.read_parquet(r / "predictions_test.parquet") for r in runs]
    mean = np.mean([f.y_pred.to_numpy() for f in frames], axis=0)
    expected = float(np.sqrt(np.mean((frames[0].y_true.to_numpy() - mean) ** 2)))
    assert ensemble.rmse.iloc[0] == pytest.approx(expected, rel=1e-6)
    members = whole[whole.kind == "model"]
    assert len(members) == 3 and set(members.run_dir) == {str(r) for r in runs}
    # its coverage is the ensemble mean's, at the members' mean 90% quantile
    q = np.mean(
        [json.loads((r / "calibration.json").read_text())["quantiles"]["0.90"] for r in runs]
    )
    covered = np.mean(np.abs(mean - frames[0].y_true.to_numpy()) <= q)
    assert ensemble.coverage_90.iloc[0] == pytest.approx(covered)
    # beside baselines fitted on the same fold (the members share the fold seed)
    summary = drp.evaluate(runs, baselines=["mean_effects"], ensemble=True)
    assert {"custom", "custom ensemble", "mean_effects"} <= set(summary.model)

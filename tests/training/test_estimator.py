"""The neural model behind the shared contract: fit/predict, from_run, features by id."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from drp.core.config import ModelConfig, RunConfig, TrainConfig
from drp.evaluation.runs import train_run
from drp.evaluation.scoring import score_model
from drp.splits.folds import make_folds
from drp.training.estimator import NeuralEstimator
from drp.training.loop import FoldIndices


def _config(tmp_path, **train) -> RunConfig:
    base = TrainConfig(dataset="unused", epochs=2, batch_size=16, folds_dir=str(tmp_path / "f"))
    return RunConfig(model=ModelConfig(hidden=16, dropout=0.0), train=replace(base, **train))


def shuffled_copy(ds, seed=0):
    """The same cells and drugs in another row order, omics columns permuted: a model that
    looks features up by id and by feature name predicts exactly the same."""
    rng = np.random.default_rng(seed)
    cells = rng.permutation(len(ds.cells))
    drugs = rng.permutation(len(ds.drugs))
    omics = {
        name: frame.iloc[cells, rng.permutation(frame.shape[1])] for name, frame in ds.omics.items()
    }
    return replace(
        ds,
        cells=ds.cells.iloc[cells].reset_index(drop=True),
        drugs=ds.drugs.iloc[drugs].reset_index(drop=True),
        omics=omics,
        graphs=[ds.graphs[i] for i in drugs],
        fingerprints=ds.fingerprints[drugs],
        descriptors=ds.descriptors[drugs],
    )


def test_estimator_reproduces_drp_train_and_loads_from_run(tiny_dataset, tmp_path):
    fold = make_folds(tiny_dataset.pairs, "mixed", k=3, fold_seed=0)[0]
    train, val, test = fold.frames(tiny_dataset.pairs)
    cfg = _config(tmp_path)
    summary = train_run(cfg, tmp_path / "run", ds=tiny_dataset, fold=fold, name="gat_edge")
    saved = pd.read_parquet(tmp_path / "run" / "predictions_test.parquet")
    # the estimator contract without a run directory trains the same model
    est = NeuralEstimator(cfg, "gat_edge").fit(tiny_dataset, train, val)
    assert est.summary_["best_val_rmse"] == pytest.approx(summary["best_val_rmse"], abs=1e-6)
    np.testing.assert_allclose(est.predict(tiny_dataset, test), saved.y_pred, atol=1e-5)
    loaded = NeuralEstimator.from_run(tmp_path / "run")
    assert loaded.name == "gat_edge"
    np.testing.assert_allclose(loaded.predict(tiny_dataset, test), saved.y_pred, atol=1e-5)
    # another dataset object holding the same entities in another order: same predictions
    np.testing.assert_allclose(
        loaded.predict(shuffled_copy(tiny_dataset), test), saved.y_pred, atol=1e-5
    )


def test_estimator_predicts_new_cells_with_missing_features(tiny_dataset, tmp_path):
    rows = np.arange(len(tiny_dataset.pairs))
    est = NeuralEstimator(_config(tmp_path, epochs=1)).fit(tiny_dataset, tiny_dataset.pairs)
    # without val, a seeded 10% of train was the early-stopping set
    assert est.summary_["epochs_run"] == 1
    other = shuffled_copy(tiny_dataset, seed=1)
    expr = other.omics["expression"].copy()
    expr.index = [f"NEW{i}" for i in range(len(expr))]
    expr = expr.drop(columns=expr.columns[:3])  # features the target dataset lacks
    other = replace(
        other,
        cells=other.cells.assign(cell_id=list(expr.index)),
        omics={"expression": expr},
    )
    pairs = pd.DataFrame({"cell_id": ["NEW0", "NEW1"], "drug_id": ["aspirin", "imatinib"]})
    pred = est.predict(other, pairs)
    assert pred.shape == (2,) and np.isfinite(pred).all()
    with pytest.raises(KeyError, match="CELL00"):
        est.predict(other, tiny_dataset.pairs.iloc[rows[:1]])


def test_score_model_writes_a_run_directory(tiny_dataset, tmp_path):
    fold = FoldIndices(np.arange(60), np.arange(60, 70), np.arange(70, len(tiny_dataset.pairs)))
    train, val, test = fold.frames(tiny_dataset.pairs)
    est = NeuralEstimator(_config(tmp_path), "gat", tmp_path / "run")
    predicted = []
    predict = est.predict
    est.predict = lambda ds, pairs: predicted.append(len(pairs)) or predict(ds, pairs)
    labels = {"model": "gat", "kind": "model", "split": "mixed", "fold": 0}
    rows, preds = score_model(
        est, tiny_dataset, train, val, test, labels, split="mixed", run_dir=tmp_path / "run"
    )
    assert rows.iloc[0]["n"] == len(test) and rows.iloc[0]["ci_unit"] == "pair"
    for name in ("config.json", "best.pt", "history.csv", "predictions_val.parquet"):
        assert (tmp_path / "run" / name).exists(), name
    # the trainer wrote the validation predictions: only the test pairs are predicted here
    assert predicted == [len(test)]
    val_preds = pd.read_parquet(tmp_path / "run" / "predictions_val.parquet")
    assert len(val_preds) == len(val)
    np.testing.assert_allclose(val_preds.y_pred, predict(tiny_dataset, val), rtol=1e-5)
    # one rescaling of the model's standardised output, shared by predict and drp predict
    np.testing.assert_allclose(
        est.unscale(np.array([0.0, 1.0])),
        [est.target_mean_, est.target_mean_ + est.target_std_],
    )
    with pytest.raises(FileExistsError):
        NeuralEstimator(_config(tmp_path), "gat", tmp_path / "run").fit(tiny_dataset, train, val)

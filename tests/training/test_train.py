from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from drp.cli import app
from drp.core.config import ModelConfig, RunConfig, TrainConfig, load_config
from drp.core.device import native_bf16
from drp.evaluation.runs import train_run
from drp.prediction.predictor import Predictor, load_model
from drp.training.batching import predict_indices
from drp.training.loop import FoldIndices, Trainer

runner = CliRunner()


def _config(tmp_path, **train) -> RunConfig:
    base = TrainConfig(
        dataset="unused", epochs=3, batch_size=16, patience=10, folds_dir=str(tmp_path / "folds")
    )
    return RunConfig(model=ModelConfig(hidden=32, dropout=0.0), train=replace(base, **train))


def _fold(n: int) -> FoldIndices:
    p = np.random.default_rng(0).permutation(n)
    return FoldIndices(p[:56], p[56:66], p[66:])


def test_seeded_runs_repeat(tiny_dataset, tmp_path):
    fold = _fold(len(tiny_dataset.pairs))
    cfg = _config(tmp_path)
    a = train_run(cfg, tmp_path / "a", ds=tiny_dataset, fold=fold)
    b = train_run(cfg, tmp_path / "b", ds=tiny_dataset, fold=fold)
    a.pop("train_seconds"), b.pop("train_seconds")
    # the first run may have probed the precision and the second read its verdict
    a["precision_choice"].pop("cached", None), b["precision_choice"].pop("cached", None)
    assert a == b
    pa = pd.read_parquet(tmp_path / "a" / "predictions_test.parquet")
    pb = pd.read_parquet(tmp_path / "b" / "predictions_test.parquet")
    pd.testing.assert_frame_equal(pa, pb)
    c = train_run(_config(tmp_path, seed=1), tmp_path / "c", ds=tiny_dataset, fold=fold)
    assert c["best_val_rmse"] != a["best_val_rmse"]


def test_scaler_and_target_use_training_pairs_only(tiny_dataset, tmp_path):
    ds = tiny_dataset
    cell_idx, _ = ds.pair_indices(ds.pairs)
    # cell-blind: cells 0-7 train, 8-9 validation, 10-11 test
    train, val, test = (np.flatnonzero(np.isin(cell_idx, c)) for c in (range(8), [8, 9], [10, 11]))
    fold = FoldIndices(train, val, test)

    def fitted(run: str) -> tuple[np.ndarray, np.ndarray, float, float]:
        trainer = Trainer(_config(tmp_path), ds, fold, tmp_path / run)
        scaler = trainer.scaler
        return scaler.mean.numpy(), scaler.scale.numpy(), trainer.target_mean, trainer.target_std

    mean, scale, y_mean, y_std = fitted("a")
    # by hand: population mean and sd of the training cells' omics and training responses
    omics = ds.omics["expression"].to_numpy(np.float64)[:8]
    np.testing.assert_allclose(mean, omics.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scale, omics.std(0), rtol=1e-5)
    y = ds.pairs.ln_ic50.to_numpy(np.float64)[fold.train]
    assert np.isclose(y_mean, y.mean(), atol=1e-5) and np.isclose(y_std, y.std(), rtol=1e-5)
    # validation and test values (omics of their cells, their responses) change nothing
    ds.omics["expression"].iloc[8:] += 100.0
    ds.pairs.loc[np.concatenate([fold.val, fold.test]), "ln_ic50"] -= 50.0
    again = fitted("b")
    for before, after in zip((mean, scale, y_mean, y_std), again, strict=True):
        np.testing.assert_array_equal(before, after)
    # a training cell's omics and a training response do: the check can fail
    ds.omics["expression"].iloc[0] += 1.0
    ds.pairs.loc[fold.train[0], "ln_ic50"] += 1.0
    moved = fitted("c")
    assert not np.allclose(moved[0], mean) and moved[2] != y_mean


def test_checkpoint_round_trip_and_resume(tiny_dataset, tmp_path):
    fold = _fold(len(tiny_dataset.pairs))
    run = tmp_path / "run"
    train_run(_config(tmp_path, epochs=2), run, ds=tiny_dataset, fold=fold)
    trainer = Trainer(_config(tmp_path, epochs=2), tiny_dataset, fold, tmp_path / "x")
    model, state = load_model(run / "best.pt", device=trainer.device)
    trainer.model.load_state_dict(state["state_dict"])
    rows = fold.test
    a = predict_indices(model, trainer.tensors, trainer.cell_idx[rows], trainer.drug_idx[rows])
    saved = pd.read_parquet(run / "predictions_test.parquet")
    restored = a * state["target_std"] + state["target_mean"]
    assert np.allclose(restored, saved.y_pred, atol=1e-5)
    # resume continues to the new epoch budget from the saved epoch
    with pytest.raises(FileExistsError):
        train_run(_config(tmp_path, epochs=4), run, ds=tiny_dataset, fold=fold)
    summary = train_run(_config(tmp_path, epochs=4), run, ds=tiny_dataset, fold=fold, resume=True)
    history = pd.read_csv(run / "history.csv")
    assert list(history.epoch) == [1, 2, 3, 4] and summary["epochs_run"] == 4


def test_resumed_run_equals_uninterrupted_run(tiny_dataset, tmp_path):
    fold = _fold(len(tiny_dataset.pairs))
    full = train_run(_config(tmp_path, epochs=4), tmp_path / "full", ds=tiny_dataset, fold=fold)
    train_run(_config(tmp_path, epochs=2), tmp_path / "part", ds=tiny_dataset, fold=fold)
    cfg4 = _config(tmp_path, epochs=4)
    # the LR schedule depends on the epoch budget, so an interrupted run is simulated by
    # cutting a 4-epoch run short rather than by extending a 2-epoch one
    trainer = Trainer(cfg4, tiny_dataset, fold, tmp_path / "cut")
    trainer.config = replace(cfg4, train=replace(cfg4.train, epochs=2))
    trainer.fit()
    resumed = train_run(cfg4, tmp_path / "cut", ds=tiny_dataset, fold=fold, resume=True)
    assert np.isclose(resumed["best_val_rmse"], full["best_val_rmse"], atol=1e-6)


def test_model_overfits_32_pairs(tiny_dataset, tmp_path):
    rows = np.arange(32)
    fold = FoldIndices(rows, rows, rows)
    cfg = _config(tmp_path, epochs=60, batch_size=8, lr=3e-3, weight_decay=0.0, patience=100)
    summary = train_run(cfg, tmp_path / "fit", ds=tiny_dataset, fold=fold)
    spread = tiny_dataset.pairs.ln_ic50.iloc[rows].std()
    assert summary["best_val_rmse"] < 0.15 * spread


def test_config_overrides_and_errors(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[model]\nconv = "gcn"\n[train]\nepochs = 7\nomics = ["expression"]\n')
    cfg = load_config(path, ["model.hidden=64", "train.lr=0.01"])
    assert (cfg.model.conv, cfg.model.hidden, cfg.train.epochs, cfg.train.lr) == (
        "gcn",
        64,
        7,
        0.01,
    )
    with pytest.raises(ValueError, match="unknown \\[model\\] key"):
        load_config(None, ["model.depth=3"])


def test_cli_train_and_predict_end_to_end(tiny_dataset, tmp_path):
    ds_dir = tmp_path / "ds"
    tiny_dataset.save(ds_dir)
    run = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            str(ds_dir),
            "--epochs",
            "2",
            "--set",
            "train.batch_size=16",
            "--set",
            "model.hidden=32",
            "--set",
            f"train.folds_dir={tmp_path / 'folds'}",
            "--split",
            "cell_blind",
            "--out",
            str(run),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (run / "best.pt").exists() and (run / "predictions_test.parquet").exists()
    # (a) given pairs
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"cell_id": ["CELL-01", "cell_02"], "drug_id": ["aspirin", "imatinib"]}).to_csv(
        pairs, index=False
    )
    out = tmp_path / "p.csv"
    result = runner.invoke(app, ["predict", str(run), "--pairs", str(pairs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    given = pd.read_csv(out)
    # (b) the whole matrix
    out = tmp_path / "m.parquet"
    result = runner.invoke(app, ["predict", str(run), "--matrix", "--out", str(out)])
    assert result.exit_code == 0, result.output
    matrix = pd.read_parquet(out)
    assert len(matrix) == len(tiny_dataset.cells) * len(tiny_dataset.drugs)
    # the given pairs (names normalised: cell_02 is CELL02) are their rows of the matrix
    rows = matrix.set_index(["cell_id", "drug_id"]).ln_ic50_pred
    expected = rows.loc[[("CELL01", "aspirin"), ("CELL02", "imatinib")]].to_numpy()
    np.testing.assert_allclose(given.ln_ic50_pred, expected, rtol=1e-6, atol=1e-6)
    # (c) new drugs as SMILES; the known drug's SMILES reproduces its matrix prediction
    out = tmp_path / "s.csv"
    result = runner.invoke(
        app,
        [
            "predict",
            str(run),
            "--smiles",
            "aspirin_again=CC(=O)Oc1ccccc1C(=O)O",
            "--cells",
            "CELL-01,CELL-02",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    new = pd.read_csv(out)
    known = matrix[(matrix.drug_id == "aspirin") & matrix.cell_id.isin(["CELL01", "CELL02"])]
    assert np.allclose(np.sort(new.ln_ic50_pred), np.sort(known.ln_ic50_pred), atol=1e-4)
    # errors are clear, never tracebacks
    result = runner.invoke(app, ["predict", str(run), "--smiles", "bad=C1CC(", "--out", str(out)])
    assert result.exit_code == 1 and "invalid SMILES" in result.output
    pd.DataFrame({"cell_id": ["NOPE"], "drug_id": ["aspirin"]}).to_csv(pairs, index=False)
    result = runner.invoke(app, ["predict", str(run), "--pairs", str(pairs), "--out", str(out)])
    assert result.exit_code == 1 and "unknown cell id(s) ['NOPE']" in result.output


def test_predictor_uses_run_scaler_from_any_directory(tiny_dataset, tmp_path, monkeypatch):
    tiny_dataset.save(tmp_path / "ds")
    monkeypatch.chdir(tmp_path)
    cfg = _config(tmp_path, dataset="ds", epochs=1)  # relative, as `drp train` users type it
    train_run(cfg, tmp_path / "r", fold=_fold(len(tiny_dataset.pairs)))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    predictor = Predictor.from_run(tmp_path / "r")
    saved = pd.read_parquet(tmp_path / "r" / "predictions_test.parquet")
    again = predictor.predict_pairs(saved[["cell_id", "drug_id"]])
    assert np.allclose(again.ln_ic50_pred, saved.y_pred, atol=1e-5)
    assert torch.is_tensor(predictor.tensors.omics)


def test_seeding_asks_for_deterministic_kernels():
    from drp.training.loop import seed_everything

    torch.use_deterministic_algorithms(False)
    seed_everything(0)
    assert torch.are_deterministic_algorithms_enabled()


def test_bf16_precision_is_applied_to_training_steps(tiny_dataset, tmp_path):
    fold = _fold(len(tiny_dataset.pairs))
    cpu = {"device": "cpu"}  # what "auto" precision means depends on the device
    fp32 = train_run(
        _config(tmp_path, precision="fp32", **cpu), tmp_path / "a", ds=tiny_dataset, fold=fold
    )
    auto = train_run(_config(tmp_path, **cpu), tmp_path / "b", ds=tiny_dataset, fold=fold)
    bf16 = train_run(
        _config(tmp_path, precision="bf16", **cpu), tmp_path / "c", ds=tiny_dataset, fold=fold
    )
    # auto is float32 on CPUs without bf16 instructions; with them, what the probe measured
    # faster (tests/core/test_precision_probe.py) and exactly that precision's run
    if not native_bf16("cpu"):
        assert auto["precision"] == "fp32"
        assert auto["precision_choice"]["chosen_by"] == "no bf16 instructions"
    same_as = bf16 if auto["precision"] == "bf16" else fp32
    assert auto["best_val_rmse"] == same_as["best_val_rmse"]
    assert bf16["best_val_rmse"] != fp32["best_val_rmse"]
    assert abs(bf16["best_val_rmse"] - fp32["best_val_rmse"]) < 0.1 * fp32["best_val_rmse"]


def test_prediction_encodes_each_drug_once_and_matches_pair_by_pair(tiny_dataset, tmp_path):
    fold = _fold(len(tiny_dataset.pairs))
    trainer = Trainer(_config(tmp_path, device="cpu"), tiny_dataset, fold, tmp_path / "x")
    graphs_encoded = []
    trainer.model.drug.register_forward_hook(
        lambda module, inputs, output: graphs_encoded.append(inputs[0].num_graphs)
    )
    rows = np.arange(len(tiny_dataset.pairs))
    cells, drugs = trainer.cell_idx[rows], trainer.drug_idx[rows]
    together = predict_indices(trainer.model, trainer.tensors, cells, drugs, batch_size=5)
    assert graphs_encoded == [len(np.unique(drugs))]  # once, though scored 5 pairs at a time
    alone = [
        predict_indices(trainer.model, trainer.tensors, cells[i : i + 1], drugs[i : i + 1])
        for i in range(12)
    ]
    assert np.allclose(together[:12], np.concatenate(alone), atol=1e-5)


def test_within_drug_error_ignores_each_drugs_level():
    from drp.training.loop import within_drug_mse, within_drug_rmse

    drug = np.array([0, 0, 1, 1, 1])
    level_only = np.array([2.0, 2.0, -1.0, -1.0, -1.0])  # every drug missed by its level alone
    pattern = np.array([1.0, -1.0, 0.5, 0.0, -0.5])
    assert within_drug_rmse(level_only, drug) == pytest.approx(0.0)
    assert within_drug_rmse(level_only + pattern, drug) == pytest.approx(
        np.sqrt(np.mean(pattern**2))
    )
    torch_mse = within_drug_mse(
        torch.tensor(level_only + pattern, dtype=torch.float32), torch.from_numpy(drug), 3
    )
    assert float(torch_mse) == pytest.approx(np.mean(pattern**2), rel=1e-6)


def test_within_drug_loss_and_stopping_criterion_are_used(tiny_dataset, tmp_path):
    fold = _fold(len(tiny_dataset.pairs))
    train_run(_config(tmp_path), tmp_path / "plain", ds=tiny_dataset, fold=fold)
    ranked = train_run(
        _config(tmp_path, within_drug_weight=2.0, stop_on="within_drug_rmse"),
        tmp_path / "ranked",
        ds=tiny_dataset,
        fold=fold,
    )
    history = pd.read_csv(tmp_path / "ranked" / "history.csv")
    assert ranked["stop_on"] == "within_drug_rmse"
    assert ranked["best_epoch"] == int(history.loc[history.val_within_drug_rmse.idxmin(), "epoch"])
    assert ranked["best_val_rmse"] == pytest.approx(
        float(history.set_index("epoch").loc[ranked["best_epoch"], "val_rmse"])
    )
    plain_loss = pd.read_csv(tmp_path / "plain" / "history.csv").train_loss.iloc[0]
    assert history.train_loss.iloc[0] != pytest.approx(plain_loss)  # the extra term counts
    with pytest.raises(ValueError, match="stop_on"):
        load_config(None, ["train.stop_on=spearman"])
    with pytest.raises(ValueError, match="within_drug_weight"):
        load_config(None, ["train.within_drug_weight=-1"])


def test_auto_stops_on_the_pattern_only_where_the_prior_sets_the_level():
    auto = TrainConfig(stop_on="auto")
    assert replace(auto, split="drug_blind").stop_criterion == "within_drug_rmse"
    assert replace(auto, split="cluster_blind").stop_criterion == "within_drug_rmse"
    for split in ("mixed", "cell_blind", "tissue_blind"):
        assert replace(auto, split=split).stop_criterion == "rmse"
    # without the prior the network sets a new drug's level, so its RMSE decides
    assert replace(auto, split="drug_blind", drug_prior="none").stop_criterion == "rmse"
    assert replace(auto, stop_on="within_drug_rmse").stop_criterion == "within_drug_rmse"

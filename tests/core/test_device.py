"""Device correctness: every command on CPU and (when present) CUDA, and the tensors that the
interpretation and prediction code creates live on the model's device."""

from __future__ import annotations

import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.overrides import TorchFunctionMode
from typer.testing import CliRunner

import drp
from drp.cli import app
from drp.core.config import ModelConfig, RunConfig, TrainConfig
from drp.core.device import autocast, model_device, resolve_device, same_device
from drp.evaluation.runs import train_run
from drp.models.graphs import GraphBank
from drp.models.registry import VARIANTS, build_model, variant_config
from drp.prediction.predictor import Predictor
from drp.study.attention import write_attention
from drp.study.cells import StudyFolds, run_name
from drp.study.interpretation import atom_attention, faithfulness, saliency
from drp.study.presets import Preset
from drp.study.runner import run_study
from drp.training.batching import EntityTensors, OmicsScaler, predict_indices
from drp.training.estimator import NeuralEstimator
from drp.training.loop import FoldIndices
from tests.study.test_study import check_faithfulness_values

runner = CliRunner()
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]
FACTORIES = {
    "tensor",
    "as_tensor",
    "zeros",
    "ones",
    "full",
    "empty",
    "arange",
    "rand",
    "randn",
    "randint",
    "randperm",
    "linspace",
    "eye",
}
DRP_ROOT = Path(drp.__file__).parent
# (file, function or None for every function): the code that runs a model it was given
AUDITED = {
    (DRP_ROOT / "interpret.py", None),
    (DRP_ROOT / "predict.py", None),
    (DRP_ROOT / "models" / "estimator.py", None),
    (DRP_ROOT / "batching.py", "predict_indices"),
    (DRP_ROOT / "study.py", "write_attention"),
}


class DeviceAudit(TorchFunctionMode):
    """Records every tensor factory (``torch.tensor``, ``torch.arange``, ...) called without a
    ``device`` from audited code: such a tensor lands on the default device (the CPU) even
    when the model is on CUDA, the bug class behind `drp study` crashing on GPUs."""

    def __init__(self, audited: set[tuple[Path, str | None]]) -> None:
        super().__init__()
        self.audited = audited
        self.violations: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in FACTORIES and "device" not in kwargs:
            frame = self._caller()
            if frame is not None:
                self.violations.append(f"{frame.filename}:{frame.lineno} torch.{func.__name__}")
        return func(*args, **kwargs)

    def _caller(self) -> traceback.FrameSummary | None:
        """The innermost project frame of the call (drp, this file or an audited file), if it
        is audited code; library frames (torch, torch_geometric) are looked through."""
        audited_files = {path for path, _ in self.audited}
        for frame in reversed(traceback.extract_stack()):
            if frame.name in ("_caller", "__torch_function__"):
                continue
            path = Path(frame.filename)
            if path.is_relative_to(DRP_ROOT) or path in audited_files or path == Path(__file__):
                hit = (path, None) in self.audited or (path, frame.name) in self.audited
                return frame if hit else None
        return None


def _run_config(tmp_path: Path, device: str = "cpu", epochs: int = 2) -> RunConfig:
    return RunConfig(
        model=ModelConfig(hidden=16, dropout=0.0),
        train=TrainConfig(
            dataset=str(tmp_path / "ds"),
            epochs=epochs,
            batch_size=16,
            device=device,
            k=3,
            folds_dir=str(tmp_path / "folds"),
        ),
    )


# ---- drp.core.device ------------------------------------------------------------------------------
def test_resolve_device_names_and_missing_cuda(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="no CUDA device is available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="no CUDA device is available"):
        resolve_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_same_device_and_model_device():
    assert same_device("cpu", torch.device("cpu"))
    assert not same_device("cpu", "meta")
    assert same_device("cuda:1", "cuda:1") and not same_device("cuda:0", "cuda:1")
    assert model_device(torch.nn.Linear(2, 2)) == torch.device("cpu")
    assert model_device(torch.nn.Linear(2, 2, device="meta")) == torch.device("meta")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")


def test_autocast_is_a_no_op_on_cpu():
    torch.manual_seed(0)
    layer, x = torch.nn.Linear(8, 4), torch.randn(5, 8)
    expected = layer(x)
    with autocast("cpu"):
        assert not torch.is_autocast_enabled("cpu")
        got = layer(x)
    assert got.dtype == torch.float32
    assert torch.equal(got, expected)
    with autocast(torch.device("cpu"), enabled=True):  # forced, as on CUDA
        assert layer(x).dtype == torch.bfloat16


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_runs_forward_and_backward_under_bf16_autocast(tiny_dataset, variant):
    """CPU bf16 autocast stands in for CUDA's: no dtype clash in any variant (scatter, index_add
    and softmax mix bf16 and float32), and predictions stay within bf16 rounding of float32."""
    torch.manual_seed(0)
    ds = tiny_dataset
    omics = ["expression"]
    scaler = OmicsScaler.fit(torch.from_numpy(ds.omics_matrix(omics)))
    tensors = EntityTensors.from_dataset(ds, omics, scaler, "cpu")
    config = variant_config(variant, ModelConfig(hidden=16, dropout=0.0))
    model = build_model(
        config,
        [ds.omics["expression"].shape[1]],
        ds.graphs[0].x.shape[1],
        ds.graphs[0].edge_attr.shape[1],
        ds.fingerprints.shape[1],
    ).eval()
    c, d = ds.pair_indices(ds.pairs)
    batch = tensors.batch(torch.tensor(c), torch.tensor(d), config.drug)
    with torch.no_grad():
        full = model(batch).y
        with autocast("cpu", enabled=True):
            half = model(batch).y.float()
    assert half.shape == full.shape and torch.isfinite(half).all()
    assert (half - full).abs().max() < 0.01  # normalised units; measured <= 0.0015
    model.train()
    with autocast("cpu", enabled=True):
        out = model(batch).y
    loss = torch.nn.functional.mse_loss(out.float(), torch.zeros_like(out, dtype=torch.float32))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)


# ---- tensors on the model's device -----------------------------------------------------------
def test_device_audit_catches_a_tensor_made_on_the_default_device(tiny_dataset):
    """The audit below can fail: the old ``atom_attention`` selected its graph this way."""
    audit = DeviceAudit({(Path(__file__), None)})
    with audit:
        GraphBank([tiny_dataset.graphs[0]], "cpu").select(torch.tensor([0]))
    assert len(audit.violations) == 1 and audit.violations[0].endswith("torch.tensor")
    audit = DeviceAudit({(Path(__file__), None)})
    with audit:
        torch.arange(3, device="cpu")
        torch.zeros(1, dtype=torch.long)
    assert len(audit.violations) == 1 and audit.violations[0].endswith("torch.zeros")


def test_interpret_predict_and_attention_make_tensors_on_the_model_device(tiny_dataset, tmp_path):
    ds = tiny_dataset
    ds.save(tmp_path / "ds")
    folds = StudyFolds(ds, 3, tmp_path / "folds")
    study = tmp_path / "study"
    run = study / "runs" / run_name("gat_edge", "mixed", 0, 0)
    train_run(_run_config(tmp_path, epochs=1), run, ds=ds, fold=folds("mixed", 0, 0))
    audit = DeviceAudit(AUDITED)
    with audit:
        predictor = Predictor.from_run(run, "cpu")
        model, tensors = predictor.model, predictor.tensors
        pairs = ds.pairs[["cell_id", "drug_id"]].head(7)
        assert np.isfinite(predictor.predict_pairs(pairs).ln_ic50_pred).all()
        assert len(predictor.predict_matrix()) == len(ds.cells) * len(ds.drugs)
        smiles = predictor.predict_smiles({"aspirin_again": "CC(=O)Oc1ccccc1C(=O)O"})
        assert len(smiles) == len(ds.cells)
        fp = tensors.fingerprints[0]
        weight = atom_attention(model, ds.graphs[0], fp)
        sal = saliency(model, ds.graphs[0], tensors.omics[:4], fp)
        score = faithfulness(
            model, ds.graphs[0], tensors, np.arange(4), 1.0, n_random=2, fingerprint=fp
        )
        preset = Preset("t", ("gat_edge",), ("mixed",), (0,), (0,), 1, 1, (), k=3)
        write_attention(study, preset, ds, folds, max_cells=4, device="cpu")
    assert audit.violations == []
    assert weight.shape == (ds.graphs[0].num_nodes,) and np.isclose(weight.sum(), 1.0, atol=1e-5)
    assert sal.shape == weight.shape and [r["k"] for r in score] == [2, 3, 4]  # 13 atoms
    assert len(pd.read_csv(study / "faithfulness.csv")) > 0


def test_predict_indices_refuses_tensors_on_another_device(tiny_dataset, tmp_path):
    ds = tiny_dataset
    run = tmp_path / "run"
    order = np.random.default_rng(0).permutation(len(ds.pairs))
    fold = FoldIndices(order[:50], order[50:60], order[60:])
    train_run(_run_config(tmp_path, epochs=1), run, ds=ds, fold=fold)
    est = NeuralEstimator.from_run(run, "cpu")
    elsewhere = replace(est.entity_tensors(ds), device=torch.device("meta"))
    with pytest.raises(ValueError, match="model is on cpu but the entity tensors are on meta"):
        predict_indices(est.model_, elsewhere, np.array([0]), np.array([0]))


# ---- end to end, per device ------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_train_study_report_and_predict_on_device(device, tiny_dataset, tmp_path, monkeypatch):
    ds_dir = tmp_path / "ds"
    tiny_dataset.save(ds_dir)
    expected = resolve_device(device)
    # train
    run = tmp_path / "run"
    args = ["train", "--dataset", str(ds_dir), "--epochs", "2", "--device", device]
    args += ["--set", "train.batch_size=16", "--set", "model.hidden=16"]
    args += ["--set", f"train.folds_dir={tmp_path / 'folds'}", "--out", str(run)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    # predict on the device: pairs, matrix, new SMILES
    pairs = tmp_path / "pairs.csv"
    pd.DataFrame({"cell_id": ["CELL-01", "CELL-02"], "drug_id": ["aspirin", "imatinib"]}).to_csv(
        pairs, index=False
    )
    for how in (["--pairs", str(pairs)], ["--matrix"], ["--smiles", "x=CC(=O)Oc1ccccc1C(=O)O"]):
        out = tmp_path / "p.csv"
        args = ["predict", str(run), *how, "--device", device, "--out", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert len(pd.read_csv(out)) > 0 and np.isfinite(pd.read_csv(out).ln_ic50_pred).all()
    # the same run on the CPU and on the device agree: predictions are float32 everywhere
    on_cpu = NeuralEstimator.from_run(run, "cpu")
    on_dev = NeuralEstimator.from_run(run, device)
    assert model_device(on_dev.model_).type == expected.type
    test = pd.read_parquet(run / "predictions_test.parquet")
    cpu_pred, dev_pred = on_cpu.predict(tiny_dataset, test), on_dev.predict(tiny_dataset, test)
    if expected.type == "cpu":
        assert np.array_equal(cpu_pred, dev_pred)
    else:
        assert np.allclose(cpu_pred, dev_pred, rtol=1e-4, atol=1e-4)
    # a tiny study with attention and faithfulness, its models loaded on the device
    loaded_on = []
    from_run = NeuralEstimator.from_run.__func__

    def spy(cls, run_dir, device="cpu"):
        est = from_run(cls, run_dir, device)
        loaded_on.append(model_device(est.model_).type)
        return est

    monkeypatch.setattr(NeuralEstimator, "from_run", classmethod(spy))
    preset = Preset("t", ("gat_edge", "gat"), ("mixed",), (0,), (0,), 2, 2, ("mean_effects",), k=3)
    base = _run_config(tmp_path, device)
    study = run_study("s", preset, ds_dir, tmp_path / "studies", base, log=lambda m: None)
    assert loaded_on == [expected.type]
    faith = pd.read_csv(study / "faithfulness.csv")
    assert len(faith) > 0 and faith.random_k_delta.notna().all()
    # the deltas computed on the device are those the CPU model gives through predict()
    atol = 1e-6 if expected.type == "cpu" else 1e-4
    check_faithfulness_values(study, drp.load_dataset(ds_dir), "gat_edge", atol)
    # report
    result = runner.invoke(app, ["report", str(study), "--out", str(tmp_path / "rep")])
    assert result.exit_code == 0, result.output
    assert "data:image/png;base64" in (tmp_path / "rep" / "report.html").read_text()

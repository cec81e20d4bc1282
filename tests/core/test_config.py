"""Config validation: every bad value is one clear ValueError naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from drp.core.config import ModelConfig, RunConfig, TrainConfig, load_config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.conv=bad", "model.conv='bad' is not one of ['gat_edge', 'gat', 'gcn', 'gin']"),
        ("model.pool=median", "model.pool='median' is not one of"),
        ("model.fusion=sum", "model.fusion='sum' is not one of"),
        (
            "model.drug=smiles",
            "model.drug='smiles' is not one of ['graph', 'fingerprint', 'hybrid']",
        ),
        ("model.hidden=130", "model.hidden=130 must be divisible by model.heads=4"),
        ("model.dropout=1.5", "model.dropout=1.5 must be in [0, 1)"),
        ("model.layers=0", "model.layers=0 must be >= 1"),
        ("train.split=random", "train.split='random' is not one of"),
        ("train.device=tpu", "train.device='tpu' is not one of ['auto', 'cpu', 'cuda']"),
        ("train.precision=fp16", "train.precision='fp16' is not one of ['auto', 'bf16', 'fp32']"),
        ("train.fold=5", "train.fold=5 must be in 0..4"),
        ("train.lr=0", "train.lr=0.0 must be > 0"),
        ("train.epochs=abc", "[train] epochs='abc' is not a valid int"),
        ("model.depth=3", "unknown [model] key(s) ['depth']"),
        ("optim.lr=1", "unknown section 'optim'"),
        ("lr=1", "must look like section.key=value"),
    ],
)
def test_bad_values_raise_one_clear_error(override: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        load_config(None, [override])
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ValueError, match=r"model.conv='x'.*; train.k=1 must be >= 2"):
        load_config(None, ["model.conv=x", "train.k=1", "train.fold=0"])


def test_fingerprint_cannot_use_cross_attention() -> None:
    with pytest.raises(ValueError, match="needs model.drug='graph'"):
        RunConfig(ModelConfig(drug="fingerprint", fusion="cross_attention")).validate()


def test_default_config_is_valid() -> None:
    cfg = RunConfig(ModelConfig(), TrainConfig())
    assert cfg.validate() is cfg


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\nconv = 'gin'")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ValueError, match="not found"):
        load_config(tmp_path / "missing.toml")

"""CLI boundary: choices from the registries, help texts intact, one-line errors."""

import pytest
from typer.testing import CliRunner

from drp.cli import app
from drp.config import DEVICES
from drp.data.splits import SPLITS
from drp.models.baselines import BASELINES
from drp.models.registry import VARIANTS
from drp.presets import PRESETS

runner = CliRunner()


def _help(command: str) -> str:
    """``drp COMMAND --help`` on one line, box-drawing borders removed."""
    output = runner.invoke(app, [command, "--help"], env={"COLUMNS": "250"}).output
    return " ".join(output.replace("│", " ").split())


def test_help_texts_list_the_registries_and_keep_their_words():
    text = _help("train")
    assert "TOML config with the sections model and train" in text
    for name in (*VARIANTS, *SPLITS, *DEVICES):
        assert name in text, name
    text = _help("evaluate")
    for name in (*BASELINES, *SPLITS, "cross_dataset"):
        assert name in text, name
    text = _help("study")
    for name in PRESETS:
        assert f"{name}:" in text, name


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["study", "--set", "model.conv=bad"], "model.conv='bad' is not one of"),
        (["study", "--preset", "nope"], "unknown preset 'nope'"),
        (["train", "--set", "model.hidden=130"], "must be divisible by model.heads=4"),
        (["train", "--set", "model.depth=3"], "unknown [model] key(s) ['depth']"),
        (["train", "--set", "train.lr"], "must look like section.key=value"),
        (["train", "--set", "train.epochs=many"], "many"),
        (["train", "--variant", "nope"], "--variant: unknown ['nope']"),
        (["train", "--split", "nope"], "train.split='nope' is not one of"),
        (["train", "--device", "tpu"], "train.device='tpu' is not one of"),
        (["train", "--config", "missing.toml"], "missing.toml"),
        (["featurize", "--omics", "proteome"], "--omics: unknown ['proteome']"),
        (["predict", "nowhere", "--matrix"], "nowhere has no best.pt"),
        (["predict", "nowhere", "--matrix", "--device", "tpu"], "--device: unknown ['tpu']"),
        (
            ["evaluate", "--baselines", "--split", "mixed", "--n-boot", "-5"],
            "--n-boot must be >= 0",
        ),
        (["evaluate", "--baselines", "--split", "mixed", "--k", "1"], "--k must be >= 2"),
        (
            ["evaluate", "--baselines", "--split", "mixed", "--baseline", "nope"],
            "unknown baseline(s) ['nope']",
        ),
        (["study", "--executor", "slurm"], "--executor: unknown ['slurm']"),
        (["study", "--address", "auto"], "need --executor ray"),
        (["study", "--executor", "ray", "--cpus-per-run", "0"], "--cpus-per-run must be > 0"),
        (["tune", "--split", "nope"], "--split: unknown ['nope']"),
        (["tune", "--samples", "0"], "--samples must be >= 1"),
        (["tune", "--space", "missing.toml"], "missing.toml"),
    ],
)
def test_bad_values_are_one_line_errors(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert message in lines[0]
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bad_toml_is_a_one_line_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("[model]\nconv = \n")
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 1 and result.output.startswith("error: ")
    config.write_text("[optim]\nlr = 1\n")
    result = runner.invoke(app, ["train", "--config", str(config)])
    assert result.exit_code == 1 and "unknown section [optim]" in result.output

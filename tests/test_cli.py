"""CLI boundary: choices from the registries, help texts intact, one-line errors."""

import pytest
from typer.testing import CliRunner

from drp.cli import app
from drp.core.choices import SPLITS
from drp.core.config import DEVICES
from drp.models.baselines import BASELINES
from drp.models.registry import VARIANTS
from drp.study.presets import PRESETS

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


@pytest.mark.parametrize("decimal", [".", ","])
def test_featurize_reads_semicolon_omics_with_either_decimal_mark(
    decimal, fixture_tables, tmp_path
):
    import numpy as np
    import pandas as pd

    from drp.featurize.store import FeaturizedDataset

    omics = pd.read_csv(fixture_tables["omics"])
    path = tmp_path / "expression_semicolon.csv"
    omics.to_csv(path, sep=";", decimal=decimal, index=False)
    assert decimal in path.read_text().splitlines()[1]
    out = tmp_path / "feat"
    args = ["featurize", "--dataset", "custom", "--responses", str(fixture_tables["responses"])]
    args += ["--omics-file", f"expression={path}", "--drugs", str(fixture_tables["drugs"])]
    result = runner.invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    got = FeaturizedDataset.load(out).omics["expression"]
    expected = omics.set_index(omics.cell_id.str.replace("-", "")).drop(columns="cell_id")
    np.testing.assert_array_equal(
        got.to_numpy(), expected.loc[got.index, got.columns].to_numpy(np.float32)
    )


def test_progress_outside_a_terminal_is_plain_lines():
    import io

    from rich.console import Console

    from drp.core.progress import PlainProgress, make_progress

    buffer = io.StringIO()
    out = Console(file=buffer, width=30)  # a file: not a terminal, and narrow
    progress = make_progress(out=out)
    assert isinstance(progress, PlainProgress)
    with progress:
        task = progress.add_task("training gat_edge (mixed, fold 0)", total=20, info="")
        for epoch in range(1, 21):
            progress.update(task, completed=epoch, info=f"loss {1 / epoch:.4f}  val RMSE 2.354")
    lines = buffer.getvalue().splitlines()
    # one line at the start and one at each tenth: never wrapped, never an escape code
    assert len(lines) == 11
    assert lines[0].startswith("training gat_edge (mixed, fold 0): 0/20 (0%)")
    assert lines[1].startswith("training gat_edge (mixed, fold 0): 2/20 (10%)")
    assert lines[-1].startswith("training gat_edge (mixed, fold 0): 20/20 (100%)")
    assert lines[-1].endswith("loss 0.0500  val RMSE 2.354")
    assert "\x1b" not in buffer.getvalue()


def test_train_progress_in_a_log_has_every_tenth_and_the_full_numbers(tiny_dataset, tmp_path):
    ds_dir = tmp_path / "ds"
    tiny_dataset.save(ds_dir)
    args = ["train", "--dataset", str(ds_dir), "--epochs", "2", "--set", "model.hidden=16"]
    args += ["--set", "train.batch_size=16", "--set", f"train.folds_dir={tmp_path / 'f'}"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "run")], env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    import pandas as pd

    history = pd.read_csv(tmp_path / "run" / "history.csv")
    lines = result.output.splitlines()
    epochs = [line for line in lines if line.startswith("training ")]
    assert [line.split(": ")[1].split()[0] for line in epochs] == ["0/2", "1/2", "2/2"]
    last = history.iloc[-1]
    assert epochs[-1].endswith(f"loss {last.train_loss:.3f}  val RMSE {last.val_rmse:.3f}")
    # the closing line is one line however narrow the log, with the run directory whole
    done = [line for line in lines if line.startswith("done")]
    assert len(done) == 1 and done[0].endswith(f"run in {tmp_path / 'run'}")

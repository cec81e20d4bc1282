"""`drp featurize --dataset gdsc2` also prepares GDSC1, the default prior's auxiliary screen, so
the README's commands give new-drug runs the data the README's figures used."""

from typer.testing import CliRunner

import drp.featurize.make
import drp.featurize.pipeline
from drp.cli import app
from drp.featurize.store import FeaturizedDataset

runner = CliRunner()


def _fake_builtin(monkeypatch, fixture_tables, tmp_path):
    """Built-in datasets served from the fixture tables (no network, no archive)."""

    def tables(processed, dataset, omics, drug_structures=None):
        return drp.featurize.pipeline.custom_tables(
            dataset,
            fixture_tables["responses"],
            {"expression": fixture_tables["omics"]},
            fixture_tables["drugs"],
        )

    monkeypatch.setattr(drp.featurize.make, "ensure_gdsc", lambda data_dir, log=None: tmp_path)
    monkeypatch.setattr(drp.featurize.make, "gdsc_tables", tables)


def test_builtin_dataset_also_featurizes_the_auxiliary_screen(
    monkeypatch, fixture_tables, tmp_path
):
    _fake_builtin(monkeypatch, fixture_tables, tmp_path)
    result = runner.invoke(app, ["featurize", "--dataset", "gdsc2", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "auxiliary screen" in result.output
    for name in ("gdsc2", "gdsc1"):
        assert FeaturizedDataset.load(tmp_path / "featurized" / name).name == name
    # gdsc1 itself needs no auxiliary screen, and --no-auxiliary skips it
    other = tmp_path / "other"
    result = runner.invoke(
        app, ["featurize", "--dataset", "ccle", "--data-dir", str(other), "--no-auxiliary"]
    )
    assert result.exit_code == 0, result.output
    assert not (other / "featurized" / "gdsc1").exists()
    assert (other / "featurized" / "ccle" / "manifest.json").exists()

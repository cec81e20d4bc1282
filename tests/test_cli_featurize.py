import numpy as np
import pandas as pd
from typer.testing import CliRunner

from drp.cli import app
from drp.featurize.store import FeaturizedDataset

runner = CliRunner()


def test_featurize_custom_end_to_end(fixture_tables, tmp_path):
    out = tmp_path / "feat"
    result = runner.invoke(
        app,
        [
            "featurize",
            "--dataset",
            "custom",
            "--responses",
            str(fixture_tables["responses"]),
            "--omics-file",
            f"expression={fixture_tables['omics']}",
            "--drugs",
            str(fixture_tables["drugs"]),
            "--tissues",
            str(fixture_tables["tissues"]),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    ds = FeaturizedDataset.load(out)
    assert len(ds.drugs) == 7
    assert "invalid SMILES" in (out / "featurization_report.md").read_text()


def test_featurize_missing_column_is_a_clear_error(fixture_tables, tmp_path):
    result = runner.invoke(
        app,
        [
            "featurize",
            "--dataset",
            "custom",
            "--responses",
            str(fixture_tables["responses"]),
            "--omics-file",
            f"expression={fixture_tables['omics']}",
            "--drugs",
            str(fixture_tables["drugs"]),
            "--response-col",
            "IC50",
            "--out",
            str(tmp_path / "f"),
        ],
    )
    assert result.exit_code == 1
    assert "missing column(s) ['IC50']" in result.output
    assert "Traceback" not in result.output


def test_featurize_semicolon_tables_and_rdkit_reasons(fixture_tables, tmp_path):
    for key in ("responses", "omics", "drugs"):
        frame = pd.read_csv(fixture_tables[key])
        if key == "drugs":
            frame.loc[len(frame)] = ["pentavalent", "CN(C)(C)C"]
        frame.to_csv(fixture_tables[key], sep=";", decimal=",", index=False)
    out = tmp_path / "feat"
    result = runner.invoke(
        app,
        [
            "featurize",
            "--dataset",
            "custom",
            "--responses",
            str(fixture_tables["responses"]),
            "--omics-file",
            f"expression={fixture_tables['omics']}",
            "--drugs",
            str(fixture_tables["drugs"]),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    ds = FeaturizedDataset.load(out)
    assert len(ds.drugs) == 7 and len(ds.pairs) == 12 * 7
    original = pd.read_csv(fixture_tables["responses"], sep=";", decimal=",")
    assert np.isclose(ds.pairs.ln_ic50.sum(), original[original.drug_id != "broken"].ln_ic50.sum())
    reasons = ds.drops.set_index("item")["reason"]
    assert reasons["pentavalent"] == (
        "invalid SMILES: Explicit valence for atom # 1 N, 4, is greater than permitted"
    )

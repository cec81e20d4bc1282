import numpy as np
import pandas as pd
from typer.testing import CliRunner

from drp.cli import app
from drp.featurize.store import FeaturizedDataset

runner = CliRunner()


def featurize_custom(tables: dict, out, *extra: str):
    """``drp featurize --dataset custom`` on the fixture's responses, omics and drugs."""
    args = ["featurize", "--dataset", "custom", "--responses", str(tables["responses"])]
    args += ["--omics-file", f"expression={tables['omics']}", "--drugs", str(tables["drugs"])]
    return runner.invoke(app, [*args, *extra, "--out", str(out)])


def test_featurize_custom_end_to_end(fixture_tables, tmp_path):
    out = tmp_path / "feat"
    result = featurize_custom(fixture_tables, str(out), "--tissues", str(fixture_tables["tissues"]))
    assert result.exit_code == 0, result.output
    ds = FeaturizedDataset.load(out)
    assert len(ds.drugs) == 7
    assert "invalid SMILES" in (out / "featurization_report.md").read_text()


def test_featurize_missing_column_is_a_clear_error(fixture_tables, tmp_path):
    result = featurize_custom(fixture_tables, str(tmp_path / "f"), "--response-col", "IC50")
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
    result = featurize_custom(fixture_tables, str(out))
    assert result.exit_code == 0, result.output
    ds = FeaturizedDataset.load(out)
    assert len(ds.drugs) == 7 and len(ds.pairs) == 12 * 7
    original = pd.read_csv(fixture_tables["responses"], sep=";", decimal=",")
    assert np.isclose(ds.pairs.ln_ic50.sum(), original[original.drug_id != "broken"].ln_ic50.sum())
    reasons = ds.drops.set_index("item")["reason"]
    assert reasons["pentavalent"] == (
        "invalid SMILES: Explicit valence for atom # 1 N, 4, is greater than permitted"
    )


def test_featurizing_again_clears_the_old_fold_cache(fixture_tables, tmp_path):
    from drp.splits.cache import load_or_make_folds

    out = tmp_path / "feat"
    assert featurize_custom(fixture_tables, str(out)).exit_code == 0
    first = load_or_make_folds(FeaturizedDataset.load(out), "drug_blind", 3, 0, out / "folds")
    assert list((out / "folds").glob("*.parquet"))
    responses = pd.read_csv(fixture_tables["responses"])
    responses.iloc[:-3].to_csv(fixture_tables["responses"], index=False)  # other pairs now
    assert featurize_custom(fixture_tables, str(out)).exit_code == 0
    assert not (out / "folds").exists()  # the stale cache is gone, not a FoldCacheError later
    again = load_or_make_folds(FeaturizedDataset.load(out), "drug_blind", 3, 0, out / "folds")
    assert sum(len(f.test) for f in again) < sum(len(f.test) for f in first)

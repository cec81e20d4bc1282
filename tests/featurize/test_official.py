"""official_tables on tiny files in the official layouts: GDSC release + DepMap, PRISM + DepMap,
CTRP + DepMap -> build_dataset; the GDSC one is trained for an epoch and evaluated."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drp
from drp.data.readers import NO_STRUCTURE
from drp.data.tables import TableError
from drp.featurize.official import official_tables
from drp.featurize.pipeline import build_dataset
from tests.data.test_readers import (
    GDSC_DRUGS,
    GENES,
    LINES,
    MAX_CONC,
    MIN_CONC,
    PRISM_DRUGS,
    expression,
    write_ctrp,
    write_depmap,
    write_gdsc_release,
    write_prism,
    write_structures,
)

N_LINES = len(LINES)
STRUCTURED = len(GDSC_DRUGS) - 1  # Mystery-1 has no structure


@pytest.fixture(scope="module")
def gdsc_files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("official")
    return {
        "gdsc_release": write_gdsc_release(root / "gdsc"),
        "depmap": write_depmap(root / "depmap"),
        "drug_structures": write_structures(root / "structures.csv"),
    }


@pytest.fixture(scope="module")
def gdsc_raw(gdsc_files):
    return official_tables("gdsc2_official", **gdsc_files, omics=("expression", "mutation"))


@pytest.fixture(scope="module")
def gdsc_ds(gdsc_files):
    # its own RawTables: build_dataset extends the DropLog it is given
    return build_dataset(official_tables("gdsc2_official", **gdsc_files))


def test_gdsc_raw_tables_keyed_by_official_ids(gdsc_raw, gdsc_files):
    r = gdsc_raw.responses
    assert list(r.columns) == [
        "cell_id",
        "cell_name",
        "drug_id",
        "drug_name",
        "ln_ic50",
        "min_conc_um",
        "max_conc_um",
    ]
    # 11 lines x 7 drugs, less the NaN LN_IC50 and the 10 curves of the drug without structure
    assert len(r) == (N_LINES + 1) * len(GDSC_DRUGS) - 1 - N_LINES
    names = r.groupby("cell_id").cell_name.first()
    assert names["SIDM00484"] == "TT" and names["SIDM00322"] == "T-T"
    assert names["SIDM01018"] == "KM-H2" and names["SIDM00619"] == "KMH-2"
    assert r.min_conc_um.eq(MIN_CONC).all() and r.max_conc_um.eq(MAX_CONC).all()
    # omics re-keyed from ModelIDs: PC-14 reaches its Sanger id through its COSMIC id
    expr = gdsc_raw.omics["expression"]
    np.testing.assert_allclose(expr.loc["SIDM01149"].to_numpy(), expression()[7], rtol=1e-6)
    assert "ACH-000099" in expr.index  # DepMap-only, keyed by its ModelID
    assert gdsc_raw.omics["mutation"].loc["SIDM00903", "KRAS"] == 1
    drugs = gdsc_raw.drugs.set_index("drug_id")
    assert len(drugs) == STRUCTURED and "GDSC2:9999" not in drugs.index
    assert drugs.loc["GDSC2:1135", "smiles"] == drugs.loc["GDSC2:1497", "smiles"]
    tissues = gdsc_raw.tissues.set_index("cell_id")
    assert tissues.loc["SIDM01018", "tissue"] == "blood"
    assert tissues.loc["SIDM00322", "cosmic_id"] == 1299064


def test_gdsc_sources_and_drops(gdsc_raw, gdsc_files):
    s = gdsc_raw.sources
    assert s["response"]["column"] == "LN_IC50" and s["response"]["measure"].startswith("ln IC50")
    release = next((gdsc_files["gdsc_release"]).glob("GDSC2_fitted_dose_response*.csv"))
    assert s["files"][str(release)] == hashlib.sha256(release.read_bytes()).hexdigest()
    assert str(gdsc_files["depmap"] / "Model.csv") in s["files"]
    assert s["cell_name_collisions"]["TT"] == ["T-T (SIDM00322)", "TT (SIDM00484)"]
    assert s["drug_structures"]["matched_by_synonym"] == 1  # 5-FU
    drops = gdsc_raw.drops.frame()
    mystery = drops[drops["item"] == "GDSC2:9999"]
    assert set(mystery.reason) == {NO_STRUCTURE}
    assert mystery.set_index("stage").loc["responses", "rows"] == N_LINES


def test_gdsc_dataset_trains_and_evaluates(gdsc_ds, tmp_path):
    ds = gdsc_ds
    assert len(ds.pairs) == N_LINES * STRUCTURED and len(ds.cells) == N_LINES
    assert len(ds.drugs) == STRUCTURED
    cells = ds.cells.set_index("cell_id")
    assert cells.loc["SIDM00484", "cell_name"] == "TT"
    assert cells.loc["SIDM00322", "cell_name"] == "T-T"
    assert cells.loc["SIDM00903", "tissue"] == "lung_NSCLC"
    assert ds.omics["expression"].shape == (N_LINES, len(GENES))
    extrapolated = ds.pairs.set_index(["cell_id", "drug_id"]).loc[("SIDM00903", "GDSC2:1168")]
    assert extrapolated.ln_ic50 == pytest.approx(np.log(MAX_CONC) + 2.0)
    no_omics = ds.drops[ds.drops["item"] == "SIDM09999"]
    assert no_omics["reason"].tolist() == ["cell id has no (complete) omics"]
    assert int(no_omics["rows"].iloc[0]) == STRUCTURED
    assert ds.manifest["sources"]["official"] is True

    ds.save(tmp_path / "ds")
    config = {"model": {"hidden": 16}, "train": {"dataset": str(tmp_path / "ds"), "k": 3}}
    run = drp.train(config, tmp_path / "run", epochs=1, device="cpu")
    assert run.summary["epochs_run"] == 1
    pred = run.predict(cells=["SIDM00484", "SIDM00322"])
    assert len(pred) == 2 * STRUCTURED and np.isfinite(pred.ln_ic50_pred).all()
    metrics = drp.evaluate([run.path], baselines=["drug_mean"])
    assert set(metrics.model) == {"custom", "drug_mean"}
    assert np.isfinite(metrics.rmse_mean).all() and (metrics.rmse_mean > 0).all()


def trains_and_evaluates(ds, tmp_path: Path) -> None:
    """One epoch of the default model on a 3-fold mixed split, then scored beside a baseline."""
    ds.save(tmp_path / "ds")
    config = {"model": {"hidden": 16}, "train": {"dataset": str(tmp_path / "ds"), "k": 3}}
    run = drp.train(config, tmp_path / "run", epochs=1, device="cpu")
    metrics = drp.evaluate([run.path], baselines=["drug_mean"])
    assert set(metrics.model) == {"custom", "drug_mean"}
    assert np.isfinite(metrics.rmse_mean).all() and (metrics.rmse_mean > 0).all()


def test_prism_with_depmap(tmp_path):
    raw = official_tables(
        "prism", prism=write_prism(tmp_path / "prism"), depmap=write_depmap(tmp_path / "d")
    )
    assert raw.sources["response"]["column"] == "ic50"
    r = raw.responses
    assert r.drug_id.str.startswith("PRISM:BRD-").all()
    assert r.max_conc_um.isin([10.0, 2.5]).all() and r.min_conc_um.notna().all()
    # no SangerModelID for PC-14 in Model.csv and no GDSC release: its COSMIC id keys it
    assert {"SIDM00484", "COSMIC:908173"} <= set(r.cell_id)
    ds = build_dataset(raw)
    n_rows = N_LINES * len(PRISM_DRUGS) - 2  # never crosses 50%, failed STR
    assert len(ds.pairs) == n_rows - N_LINES  # the drug without structure
    assert len(ds.drugs) == len(PRISM_DRUGS) - 1
    assert ds.cells.set_index("cell_id").loc["SIDM00903", "tissue"] == "Lung"
    lost = ds.drops[ds.drops["item"] == "PRISM:BRD-K00000000-001-01-1"]
    assert set(lost.reason) == {NO_STRUCTURE}
    trains_and_evaluates(ds, tmp_path)


@pytest.mark.parametrize("layout", ["24Q4", "25Q3"])
def test_ctrp_with_depmap(tmp_path, layout):
    raw = official_tables(
        "ctrp",
        ctrp=write_ctrp(tmp_path / "ctrp"),
        depmap=write_depmap(tmp_path / "d", layout=layout),
        omics=["expression", "cnv"],
    )
    assert raw.sources["response"]["column"] == "apparent_ec50_umol"
    assert "ln EC50" in raw.sources["response"]["measure"]
    ds = build_dataset(raw)
    # TT / T-T and KM-H2 / KMH-2 are written TT and KMH2 by CTRP: ambiguous, dropped
    assert len(ds.cells) == N_LINES - 4 and len(ds.drugs) == 4
    assert len(ds.pairs) == (N_LINES - 4) * 4
    ambiguous = ds.drops[ds.drops.reason.str.startswith("ambiguous cell name")]
    assert ambiguous["rows"].sum() == 4 * 4 - 1  # one TT curve had a non-positive EC50
    assert raw.responses.min_conc_um.isna().all()
    assert set(raw.responses.max_conc_um) == {10.0, 33.0, 66.0}
    expr = ds.omics["expression"]  # the 25Q3 non-default profile of ACH-000001 is not used
    assert float(expr.to_numpy().max()) < 99.0
    trains_and_evaluates(ds, tmp_path)


def test_exactly_one_response_source_and_depmap_required(gdsc_files, tmp_path):
    prism = write_prism(tmp_path / "prism")
    with pytest.raises(TableError, match="exactly one response source"):
        official_tables("x", **gdsc_files, prism=prism)
    with pytest.raises(TableError, match="exactly one response source.*none"):
        official_tables("x", depmap=gdsc_files["depmap"])
    with pytest.raises(TableError, match="omics come from DepMap"):
        official_tables("x", prism=prism)
    with pytest.raises(TableError, match="no drug structures"):
        official_tables("x", gdsc_release=gdsc_files["gdsc_release"], depmap=gdsc_files["depmap"])
    with pytest.raises(TableError, match="not available from DepMap"):
        official_tables("x", prism=prism, depmap=gdsc_files["depmap"], omics=["pathway"])
    no_models = write_depmap(tmp_path / "d", models=False)
    with pytest.raises(TableError, match="no Model.csv"):
        official_tables("x", **{**gdsc_files, "depmap": no_models})


def test_prism_without_model_csv_keys_by_modelid(tmp_path):
    raw = official_tables(
        "prism",
        prism=write_prism(tmp_path / "prism"),
        depmap=write_depmap(tmp_path / "d", models=False),
    )
    assert raw.responses.cell_id.str.startswith("ACH-").all()
    assert raw.tissues is None
    ds = build_dataset(raw)
    assert len(ds.cells) == N_LINES
    assert pd.Index(ds.omics["expression"].index).str.startswith("ACH-").all()


def test_cli_featurizes_official_files_with_a_range_policy(gdsc_files, tmp_path):
    from typer.testing import CliRunner

    from drp.cli import app

    out = tmp_path / "gdsc2_release"
    args = ["featurize", "--gdsc-release", str(gdsc_files["gdsc_release"]), "--depmap"]
    args += [str(gdsc_files["depmap"]), "--drug-structures", str(gdsc_files["drug_structures"])]
    result = CliRunner().invoke(app, [*args, "--name", "gdsc2_release", "--out", str(out)])
    assert result.exit_code == 0, result.output
    kept = drp.load_dataset(out)
    assert kept.manifest["screened_range"]["policy"] == "keep"
    assert kept.manifest["screened_range"]["above"] >= 1  # the extrapolated IC50
    assert "Screened range" in (out / "featurization_report.md").read_text()
    dropped_out = tmp_path / "dropped"
    result = CliRunner().invoke(app, [*args, "--outside-range", "drop", "--out", str(dropped_out)])
    assert result.exit_code == 0, result.output
    dropped = drp.load_dataset(dropped_out)
    outside = kept.manifest["screened_range"]["pairs_outside"]
    assert len(dropped.pairs) == len(kept.pairs) - outside > 0
    result = CliRunner().invoke(app, [*args, "--outside-range", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 1 and "--outside-range: unknown 'nope'" in result.output

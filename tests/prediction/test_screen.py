"""drp screen: library reading, chunked scoring, top-K tables, applicability domain, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem
from typer.testing import CliRunner

from benchmarks.applicability import (
    applicability_curve,
    heldout_drug_applicability,
    pick_ad_threshold,
)
from drp.cli import app
from drp.core.config import ModelConfig, RunConfig, TrainConfig
from drp.evaluation.runs import train_run
from drp.featurize.molecules import morgan_fingerprint, standardise
from drp.featurize.similarity import tanimoto_cross
from drp.prediction.domain import AD_THRESHOLD, training_drugs
from drp.prediction.library import read_library
from drp.prediction.predictor import PredictionError, Predictor
from drp.prediction.ranking import RunningTopK
from drp.prediction.screen import screen
from drp.report.screen import write_screen_report
from tests.conftest import make_dataset, write_fixture_tables

runner = CliRunner()
LIBRARY = {
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "gefitinib": "COc1cc2ncnc(Nc3ccc(F)c(Cl)c3)c2cc1OCCCN1CCOCC1",
    "aspirin_copy": "CC(=O)Oc1ccccc1C(=O)O",
    "caffeine": "Cn1c(=O)c2c(ncn2C)n(C)c1=O",
    "ibuprofen": "CC(C)Cc1ccc(C(C)C(=O)O)cc1",
}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """A 1-epoch drug-blind run on the tiny fixture dataset (fold cache in the tmp folder)."""
    root = tmp_path_factory.mktemp("screen")
    ds = make_dataset(write_fixture_tables(root / "tables"))
    ds.save(root / "ds")
    config = RunConfig(
        model=ModelConfig(hidden=16, dropout=0.0),
        train=TrainConfig(
            dataset=str(root / "ds"),
            epochs=1,
            batch_size=16,
            device="cpu",
            split="drug_blind",
            k=3,
            folds_dir=str(root / "folds"),
        ),
    )
    train_run(config, root / "run", ds=ds)
    return root / "run"


@pytest.fixture(scope="module")
def predictor(run) -> Predictor:
    return Predictor.from_run(run, "cpu")


def _csv(path: Path, library: dict[str, str]) -> Path:
    pd.DataFrame({"drug_id": list(library), "smiles": list(library.values())}).to_csv(
        path, index=False
    )
    return path


# ---- reading --------------------------------------------------------------------------------
def test_smi_csv_and_sdf_libraries_read_the_same_molecules(tmp_path):
    smi = tmp_path / "lib.smi"
    smi.write_text(
        "SMILES Name\n# a comment\n" + "\n".join(f"{s} {n}" for n, s in LIBRARY.items()) + "\nCCO\n"
    )
    from_smi = read_library(smi)
    assert [r[0] for r in from_smi] == [*LIBRARY, "mol_8"]
    assert from_smi[0][1] == LIBRARY["paracetamol"]
    from_csv = read_library(_csv(tmp_path / "lib.csv", LIBRARY))
    assert [(n, s) for n, s, _ in from_csv] == list(LIBRARY.items())

    sdf = tmp_path / "lib.sdf"
    writer = Chem.SDWriter(str(sdf))
    for i, (name, smiles) in enumerate(LIBRARY.items()):
        mol = Chem.MolFromSmiles(smiles)
        mol.SetProp("_Name", name if i else "")  # the first record has no title
        writer.write(mol)
    writer.close()
    from_sdf = read_library(sdf)
    assert [r[0] for r in from_sdf] == ["mol_1", *list(LIBRARY)[1:]]
    for (_, smiles, _), expected in zip(from_sdf, LIBRARY.values(), strict=True):
        assert standardise(smiles).smiles == standardise(expected).smiles


def test_unreadable_sdf_record_keeps_rdkit_reason(tmp_path):
    block = Chem.MolToMolBlock(Chem.MolFromSmiles("C[N+](C)(C)C"))
    block = "\n".join(line for line in block.splitlines() if not line.startswith("M  CHG"))
    sdf = tmp_path / "bad.sdf"
    sdf.write_text("badone" + block[block.index("\n") :] + "\n$$$$\n")
    [(name, smiles, reason)] = read_library(sdf)
    assert name == "badone" and smiles is None
    assert "valence" in reason.lower()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.csv", None, "library file not found"),
        ("lib.mol2", "x", "unknown library format '.mol2'"),
        ("lib.csv", "name,smi\na,CCO\n", "needs columns drug_id, smiles"),
        ("lib.smi", "CCO a\nCCC a\n", "duplicate compound names ['a']"),
        ("lib.smi", "# nothing\n", "holds no molecules"),
    ],
)
def test_bad_libraries_are_clear_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(PredictionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_library(path)


# ---- scoring --------------------------------------------------------------------------------
def test_screen_matches_predict_smiles_and_chunking_changes_nothing(predictor, tmp_path):
    lib = _csv(tmp_path / "lib.csv", LIBRARY)
    big = screen(predictor, lib, tmp_path / "big", chunk_size=1000, top_k=3)
    one = screen(predictor, lib, tmp_path / "one", chunk_size=1, top_k=3)
    expected = predictor.predict_smiles(LIBRARY)
    got = pd.read_parquet(tmp_path / "big" / "predictions.parquet")
    assert len(got) == len(LIBRARY) * len(predictor.ds.cells)
    merged = expected.merge(got, on=["cell_id", "drug_id"], suffixes=("", "_screen"))
    assert len(merged) == len(expected)
    np.testing.assert_allclose(merged.ln_ic50_pred_screen, merged.ln_ic50_pred, atol=1e-5)
    chunked = pd.read_parquet(tmp_path / "one" / "predictions.parquet")
    assert chunked.drug_id.nunique() == len(LIBRARY)
    key = ["cell_id", "drug_id"]
    a = got.sort_values(key).reset_index(drop=True)
    b = chunked.sort_values(key).reset_index(drop=True)
    assert (a[key] == b[key]).all().all()
    np.testing.assert_allclose(a.ln_ic50_pred, b.ln_ic50_pred, atol=1e-5)
    pd.testing.assert_frame_equal(
        big.top_per_cell.drop(columns="ln_ic50_pred"), one.top_per_cell.drop(columns="ln_ic50_pred")
    )
    pd.testing.assert_frame_equal(big.compounds, one.compounds, atol=1e-5)


def test_top_k_tables_hold_k_lowest_rows_per_cell_and_tissue(predictor, tmp_path):
    lib = _csv(tmp_path / "lib.csv", LIBRARY)
    result = screen(predictor, lib, tmp_path / "out", chunk_size=2, top_k=3)
    per_cell = pd.read_csv(tmp_path / "out" / "top_per_cell.csv")
    assert per_cell.groupby("cell_id").size().eq(3).all()
    assert set(per_cell.cell_id) == set(predictor.ds.cells.cell_id)
    preds = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    for cell, rows in per_cell.groupby("cell_id"):
        lowest = preds[preds.cell_id == cell].nsmallest(3, "ln_ic50_pred")
        assert list(rows.sort_values("rank").drug_id) == list(lowest.drug_id)
    per_tissue = pd.read_csv(tmp_path / "out" / "top_per_tissue.csv")
    tissues = predictor.ds.cells.set_index("cell_id").tissue
    assert (
        set(per_tissue.tissue) == set(tissues) and per_tissue.groupby("tissue").size().eq(3).all()
    )
    preds["tissue"] = preds.cell_id.map(tissues)
    means = preds.groupby(["tissue", "drug_id"]).ln_ic50_pred.mean()
    for tissue, rows in per_tissue.groupby("tissue"):
        best = means[tissue].nsmallest(3)
        assert list(rows.sort_values("rank").drug_id) == list(best.index)
        np.testing.assert_allclose(rows.sort_values("rank").mean_ln_ic50_pred, best, atol=1e-5)
    assert result.top_per_cell["rank"].max() == 3


def test_selective_compounds_are_ranked_against_their_own_mean_over_all_cells(predictor, tmp_path):
    result = screen(predictor, _csv(tmp_path / "lib.csv", LIBRARY), tmp_path / "out", top_k=2)
    preds = pd.read_parquet(tmp_path / "out" / "predictions.parquet")
    preds["tissue"] = preds.cell_id.map(predictor.ds.cells.set_index("cell_id").tissue)
    overall = preds.groupby("drug_id").ln_ic50_pred.mean()
    tissue_mean = preds.groupby(["tissue", "drug_id"]).ln_ic50_pred.mean()
    selectivity = tissue_mean - overall.reindex(tissue_mean.index, level="drug_id")
    table = pd.read_csv(tmp_path / "out" / "top_selective_per_tissue.csv")
    assert len(table) == 2 * preds.tissue.nunique() == len(result.top_selective_per_tissue)
    for tissue, rows in table.groupby("tissue"):
        best = selectivity[tissue].nsmallest(2)
        assert list(rows.sort_values("rank").drug_id) == list(best.index)
        np.testing.assert_allclose(rows.sort_values("rank").selectivity, best, atol=1e-5)
    # each compound names the tissue it is most selective for, and by how much
    compounds = result.compounds.set_index("drug_id")
    for drug, row in compounds.iterrows():
        assert row.selectivity == pytest.approx(
            selectivity.xs(drug, level="drug_id").min(), abs=1e-5
        )
        assert row.most_selective_tissue == selectivity.xs(drug, level="drug_id").idxmin()
    # the run is drug-blind: its validation drugs were new to it, and their per-drug r is the
    # evidence stated beside the selectivity ranking
    evidence = result.meta["selectivity_ranking"]
    assert evidence["drugs"] > 0 and -1.0 <= evidence["per_drug_r"] <= 1.0
    assert "drug_blind validation drugs" in evidence["source"]


def test_cells_without_a_tissue_are_ranked_per_cell_only(predictor, tmp_path, monkeypatch):
    """Real GDSC cells can lack a tissue (NaN); they must not break the tissue tables."""
    cells = predictor.ds.cells.copy()
    cells.loc[cells.index[0], "tissue"] = np.nan
    monkeypatch.setattr(predictor.ds, "cells", cells)
    lib = _csv(tmp_path / "lib.csv", LIBRARY)
    result = screen(predictor, lib, tmp_path / "out", top_k=2)
    assert result.meta["cells_without_tissue"] == 1
    assert set(result.top_per_cell.cell_id) == set(cells.cell_id)
    assert set(result.top_per_tissue.tissue) == set(cells.tissue.dropna())
    lost = cells.cell_id.iloc[0]
    counts = result.top_per_tissue.drop_duplicates("tissue").set_index("tissue").n_cells
    assert counts.sum() == len(cells) - 1, lost


def test_invalid_smiles_are_counted_with_reason_and_the_rest_scored(predictor, tmp_path):
    lib = _csv(
        tmp_path / "lib.csv", {**LIBRARY, "broken": "C1CC(", "bad_valence": "C(C)(C)(C)(C)C"}
    )
    result = screen(predictor, lib, tmp_path / "out", chunk_size=3)
    assert result.n_read == len(LIBRARY) + 2 and result.n_scored == len(LIBRARY)
    invalid = pd.read_csv(tmp_path / "out" / "invalid.csv").set_index("drug_id")
    assert set(invalid.index) == {"broken", "bad_valence"}
    assert "valence" in invalid.loc["bad_valence", "reason"].lower()
    assert invalid.loc["broken", "reason"]
    assert set(pd.read_parquet(tmp_path / "out" / "predictions.parquet").drug_id) == set(LIBRARY)


def test_only_invalid_molecules_is_an_error(predictor, tmp_path):
    lib = _csv(tmp_path / "lib.csv", {"broken": "C1CC(", "empty": ""})
    with pytest.raises(PredictionError, match="no valid molecule among 2 records"):
        screen(predictor, lib, tmp_path / "out")


def test_cells_and_tissue_select_and_unknown_ones_fail(predictor, tmp_path):
    lib = _csv(tmp_path / "lib.csv", LIBRARY)
    result = screen(predictor, lib, tmp_path / "a", cells=["CELL-01", "CELL-03"])
    ids = list(predictor.ds.cells.cell_id)
    assert result.cell_ids == [ids[1], ids[3]]  # ids as the dataset spells them
    assert set(pd.read_parquet(tmp_path / "a" / "predictions.parquet").cell_id) == set(
        result.cell_ids
    )
    twice = screen(predictor, lib, tmp_path / "t", cells=["CELL-01", "CELL01"])
    assert twice.cell_ids == [ids[1]] and len(twice.top_per_cell) == len(LIBRARY)
    result = screen(predictor, lib, tmp_path / "b", tissue="LUNG")
    lung = predictor.ds.cells[predictor.ds.cells.tissue == "lung"].cell_id
    assert result.cell_ids == list(lung) and set(result.top_per_tissue.tissue) == {"lung"}
    with pytest.raises(PredictionError, match="unknown tissue 'liver'"):
        screen(predictor, lib, tmp_path / "c", tissue="liver")
    with pytest.raises(PredictionError, match="unknown cell id"):
        screen(predictor, lib, tmp_path / "d", cells=["NOPE-1"])


# ---- applicability domain -------------------------------------------------------------------
def test_nearest_training_drug_and_out_of_domain_flag(predictor, run, tmp_path):
    ds = predictor.ds
    trained = training_drugs(run, ds)
    assert trained.recovered and "fold cache" in trained.source
    # drug-blind: the fold's test drugs are not training drugs
    test_drugs = set(pd.read_parquet(run / "predictions_test.parquet").drug_id)
    assert test_drugs and not test_drugs & set(trained.ids)
    lib = _csv(tmp_path / "lib.csv", LIBRARY)
    result = screen(predictor, lib, tmp_path / "out", ad_threshold=0.3)
    compounds = pd.read_csv(tmp_path / "out" / "compounds.csv").set_index("drug_id")
    train_fps = ds.fingerprints[[ds.drug_index[d] for d in trained.ids]]
    for name, smiles in LIBRARY.items():
        fp = morgan_fingerprint(standardise(smiles).mol)[None]
        sim = tanimoto_cross(fp, train_fps)[0]
        assert compounds.loc[name, "max_tanimoto"] == pytest.approx(sim.max())
        assert compounds.loc[name, "nearest_train_drug"] == trained.ids[int(sim.argmax())]
    assert (compounds.out_of_domain == (compounds.max_tanimoto < 0.3)).all()
    assert compounds.out_of_domain.any() and not compounds.out_of_domain.all()
    assert result.n_out_of_domain == int(compounds.out_of_domain.sum())


def test_training_drugs_fall_back_to_all_drugs_and_say_so(predictor, tmp_path):
    trained = training_drugs(tmp_path, predictor.ds)  # no config.json here
    assert not trained.recovered and trained.ids == list(predictor.ds.drugs.drug_id)
    assert trained.source.startswith("all ") and "no config.json" in trained.source


def test_heldout_drug_applicability_reads_the_runs_test_drugs(run):
    table = heldout_drug_applicability(run)
    preds = pd.read_parquet(run / "predictions_test.parquet")
    assert set(table.drug_id) == set(preds.drug_id)
    row = table.iloc[0]
    part = preds[preds.drug_id == row.drug_id]
    assert row.rmse == pytest.approx(np.sqrt(np.mean((part.y_pred - part.y_true) ** 2)))
    assert ((table.max_tanimoto >= 0) & (table.max_tanimoto < 1)).all()


def test_applicability_curve_and_threshold_on_synthetic_drugs():
    rng = np.random.default_rng(0)
    sim = rng.uniform(0, 1, 400)
    rmse = np.where(sim >= 0.4, 0.8, 2.0) + rng.normal(0, 0.05, 400)
    curve = applicability_curve(sim, rmse, np.linspace(0, 1, 11))
    assert len(curve) == 10 and curve.n_drugs.sum() == 400
    assert curve.set_index("sim_lo").rmse.loc[0.5] == pytest.approx(0.8, abs=0.05)
    assert pick_ad_threshold(curve, reference_rmse=1.0) == pytest.approx(0.4)
    assert pick_ad_threshold(curve, reference_rmse=0.5) is None
    assert pick_ad_threshold(curve, reference_rmse=3.0) == pytest.approx(0.0)
    # pairs pooled per drug: two drugs, errors 1 and 3 -> RMSE sqrt(5) in one bin
    pooled = applicability_curve(
        np.array([0.9, 0.9, 0.1]),
        np.array([1.0, 3.0, 0.5]),
        [0, 0.5, 1],
        drug_ids=np.array(["a", "a", "b"]),
    )
    assert list(pooled.n_drugs) == [1, 1]
    assert pooled.rmse.iloc[1] == pytest.approx(np.sqrt(5)) and pooled.rmse.iloc[0] == 0.5
    with pytest.raises(ValueError, match="more than one similarity"):
        applicability_curve(np.array([0.1, 0.2]), np.ones(2), [0, 1], drug_ids=np.array(["a", "a"]))


def test_running_top_k_ties_keep_the_earlier_compound():
    top = RunningTopK(1, 2)
    top.update(np.array([[1.0, 0.5]]), np.array([0, 1]))
    top.update(np.array([[0.5, 0.2]]), np.array([2, 3]))
    assert top.index.tolist() == [[3, 1]] and top.values.tolist() == [[0.2, 0.5]]


# ---- report and CLI -------------------------------------------------------------------------
def test_cli_screen_writes_files_and_report(run, tmp_path):
    lib = _csv(tmp_path / "lib.csv", {**LIBRARY, "broken": "C1CC("})
    out = tmp_path / "screen"
    args = ["screen", str(run), "--library", str(lib), "--top", "2", "--out", str(out)]
    result = runner.invoke(app, [*args, "--ad-threshold", "0.3"])
    assert result.exit_code == 0, result.output
    assert "screened 5 of 6 molecules (1 invalid" in " ".join(result.output.split())
    for name in (
        "predictions.parquet",
        "compounds.csv",
        "invalid.csv",
        "top_per_cell.csv",
        "top_per_tissue.csv",
        "screen.json",
        "screen.md",
        "fig_similarity.png",
    ):
        assert (out / name).exists(), name
    html = (out / "screen.html").read_text()
    assert "data:image/png;base64," in html and "Provenance" in html and "0.30" in html
    md = (out / "screen.md").read_text()
    assert "| invalid (not scored) | 1 |" in md and "broken" in md
    assert "Most selective compounds per tissue" in md and "per-drug Pearson r" in md
    assert (out / "top_selective_per_tissue.csv").exists()
    meta = json.loads((out / "screen.json").read_text())
    assert meta["drug_prior"]["training_drugs"] > 0  # the run's prior placed the new compounds
    assert "Top compounds per tissue" in md and "weak warning" not in md


def test_cli_bad_library_is_a_one_line_error(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for library, message in (("nowhere.csv", "library file not found"), ("x.mol2", "unknown")):
        if library.endswith(".mol2"):
            (tmp_path / library).write_text("x")
        result = runner.invoke(app, ["screen", str(run), "--library", library])
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.output
        assert message in lines[0]
        assert result.exception is None or isinstance(result.exception, SystemExit)


def test_default_threshold_is_reported_with_its_caveat(predictor, tmp_path):
    lib = _csv(tmp_path / "lib.csv", LIBRARY)
    result = screen(predictor, lib, tmp_path / "out", top_k=2)
    write_screen_report(result)  # compute never draws: the caller asks for the summary
    assert result.ad_threshold == AD_THRESHOLD and result.meta["ad_threshold_default"]
    md = (tmp_path / "out" / "screen.md").read_text()
    assert "weak warning" in md and f"below {AD_THRESHOLD:.2f}" in md
    assert md.count("![") == min(len(LIBRARY), 8) + 1  # histogram + drawn molecules

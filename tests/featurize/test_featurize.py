import numpy as np
import pandas as pd
import pytest
import torch

from drp.data.ids import normalize_cell_id
from drp.data.tables import TableError, read_table
from drp.data.validation import (
    MAX_MISSING_OMICS_FRACTION,
    DropLog,
    average_replicates,
    omics_from_frame,
    responses_from_frame,
)
from drp.featurize.pipeline import build_dataset, custom_tables
from drp.featurize.store import FeaturizedDataset, StoreError
from drp.models.expression import cell_features
from drp.training.batching import OmicsScaler
from tests.conftest import N_CELLS, N_GENES, SMILES, make_dataset


def test_cell_ids_are_normalised():
    assert normalize_cell_id("CAL-120") == normalize_cell_id("Cal120") == "CAL120"
    assert normalize_cell_id("NCI-H2141") == "NCIH2141"


def test_tiny_dataset_counts(tiny_dataset):
    ds = tiny_dataset
    valid_drugs = len(SMILES) - 1  # "broken" is dropped
    assert len(ds.drugs) == valid_drugs
    assert len(ds.cells) == N_CELLS
    assert len(ds.pairs) == N_CELLS * valid_drugs
    assert ds.omics["expression"].shape == (N_CELLS, N_GENES)
    assert ds.fingerprints.shape == (valid_drugs, 2048)
    assert all(g.edge_attr is not None for g in ds.graphs)
    broken = ds.drops[ds.drops["item"] == "broken"]
    assert broken["reason"].str.contains("invalid SMILES").all() and len(broken) == 2
    # the 12 measurements of the broken drug are counted, not silently lost
    assert int(broken[broken.stage == "responses"]["rows"].iloc[0]) == N_CELLS
    assert set(ds.cells["cell_id"]) == {f"CELL{i:02d}" for i in range(N_CELLS)}


def test_round_trip(tiny_dataset, tmp_path):
    tiny_dataset.save(tmp_path / "ds")
    loaded = FeaturizedDataset.load(tmp_path / "ds")
    pd.testing.assert_frame_equal(loaded.pairs, tiny_dataset.pairs)
    assert len(loaded.graphs) == len(tiny_dataset.graphs)
    for a, b in zip(loaded.graphs, tiny_dataset.graphs, strict=True):
        assert (a.x == b.x).all() and (a.edge_index == b.edge_index).all()
        assert (a.edge_attr == b.edge_attr).all()
    assert np.array_equal(loaded.fingerprints, tiny_dataset.fingerprints)
    assert "pairs.parquet" in loaded.manifest["files"]


def test_torn_or_changed_store_is_refused_and_rewriting_keeps_the_fold_cache(
    tiny_dataset, tmp_path
):
    root = tmp_path / "ds"
    tiny_dataset.save(root)
    (root / "folds").mkdir()
    (root / "folds" / "cache.parquet").write_text("kept")
    tiny_dataset.save(root)  # a second write replaces the files, not the folder
    assert (root / "folds" / "cache.parquet").read_text() == "kept"
    assert not [p for p in root.iterdir() if p.name.startswith(".tmp-")]
    FeaturizedDataset.load(root)
    pairs = pd.read_parquet(root / "pairs.parquet")
    pairs.iloc[:-1].to_parquet(root / "pairs.parquet", index=False)  # as if a write tore
    with pytest.raises(StoreError, match="pairs.parquet missing or not matching manifest.json"):
        FeaturizedDataset.load(root)
    (root / "graphs.pt").unlink()
    with pytest.raises(StoreError, match="graphs.pt"):
        FeaturizedDataset.load(root)


def test_nan_inf_and_nonpositive_responses_are_counted():
    drops = DropLog()
    frame = pd.DataFrame(
        {
            "cell": ["A", "B", "C", "D", None],
            "drug": ["x", "x", "x", "x", "x"],
            "ic50": [1.0, np.nan, np.inf, -2.0, 3.0],
        }
    )
    out = responses_from_frame(frame, "r.csv", drops, "cell", "drug", "ic50", "ic50_nm")
    assert list(out.cell_id) == ["A"]
    assert np.isclose(out.ln_ic50.iloc[0], np.log(1e-3))  # 1 nM = 1e-3 µM
    reasons = drops.frame()["reason"].value_counts().to_dict()
    assert reasons == {
        "non-finite ic50": 2,
        "IC50 <= 0 cannot be logged": 1,
        "missing cell or drug id": 1,
    }


def test_missing_column_names_file_and_columns():
    frame = pd.DataFrame({"cell": ["A"], "drug": ["x"]})
    with pytest.raises(TableError, match=r"r\.csv: missing column\(s\) \['ln_ic50'\]"):
        responses_from_frame(frame, "r.csv", DropLog(), "cell", "drug", "ln_ic50")


def test_replicates_are_averaged_and_counted():
    frame = pd.DataFrame(
        {"cell_id": ["A", "A", "B"], "drug_id": ["x", "x", "x"], "ln_ic50": [1.0, 3.0, 5.0]}
    )
    pairs = average_replicates(frame)
    row = pairs[pairs.cell_id == "A"].iloc[0]
    assert row.ln_ic50 == 2.0 and row.n_replicates == 2 and np.isclose(row.ln_ic50_sd, np.sqrt(2))


def test_repeated_cells_in_omics_raise():
    frame = pd.DataFrame({"cell": ["CAL-120", "cal-120 "], "g": [1.0, 2.0]})
    with pytest.raises(TableError, match=r"listed more than once: \['CAL-120'\]"):
        omics_from_frame(frame, "o.csv", DropLog())


def test_empty_file_raises(tmp_path, fixture_tables):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(TableError, match="empty"):
        custom_tables("x", empty, {"expression": fixture_tables["omics"]}, fixture_tables["drugs"])


def test_ids_missing_from_other_tables_are_dropped_and_counted(fixture_tables):
    responses = pd.read_csv(fixture_tables["responses"])
    extra = pd.DataFrame(
        {
            "cell_id": ["UNKNOWN-CELL", "CELL-00"],
            "drug_id": ["aspirin", "unknown_drug"],
            "ln_ic50": [1.0, 2.0],
        }
    )
    pd.concat([responses, extra]).to_csv(fixture_tables["responses"], index=False)
    raw = custom_tables(
        "x",
        fixture_tables["responses"],
        {"expression": fixture_tables["omics"]},
        fixture_tables["drugs"],
    )
    ds = build_dataset(raw)
    reasons = dict(zip(ds.drops["item"], ds.drops["reason"], strict=True))
    assert reasons["UNKNOWN-CELL".replace("-", "")] == "cell id has no (complete) omics"
    assert reasons["unknown_drug"] == "drug id not in the drug table"


def test_no_matching_ids_is_a_clear_error(fixture_tables, tmp_path):
    drugs = pd.DataFrame({"drug_id": ["other"], "smiles": ["CCO"]})
    drugs.to_csv(tmp_path / "d.csv", index=False)
    raw = custom_tables(
        "x",
        fixture_tables["responses"],
        {"expression": fixture_tables["omics"]},
        tmp_path / "d.csv",
    )
    with pytest.raises(TableError, match="no \\(cell, drug\\) pair"):
        build_dataset(raw)


# ---- bring-your-own tables: delimiters, missing omics ------------------------------------
@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("cell_id;drug_id;ln_ic50\nA-1;x;1,5\nB-2;y;-2,25\n", "r.csv"),
        ("cell_id\tdrug_id\tln_ic50\nA-1\tx\t1.5\nB-2\ty\t-2.25\n", "r.csv"),
        ("cell_id,drug_id,ln_ic50\nA-1,x,1.5\nB-2,y,-2.25\n", "r.txt"),
    ],
)
def test_read_table_sniffs_the_delimiter(tmp_path, text, name):
    path = tmp_path / name
    path.write_text(text)
    frame = read_table(path)
    assert list(frame.columns) == ["cell_id", "drug_id", "ln_ic50"]
    assert frame["ln_ic50"].tolist() == [1.5, -2.25]  # decimal commas of a ; table read too


def test_read_table_refuses_other_delimiters_naming_them(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("cell_id|drug_id|ln_ic50\nA|x|1.5\nB|y|2.5\n")
    with pytest.raises(TableError, match=r"r\.csv: columns seem to be separated by pipe \('\|'\)"):
        read_table(path)


def test_omics_with_few_missing_values_is_kept_and_many_dropped():
    n_features = 20
    values = np.arange(3 * n_features, dtype=float).reshape(3, n_features)
    values[0, :2] = np.nan  # 10%: kept
    values[1, :3] = np.nan  # 15%: dropped
    values[2, 5] = np.inf  # one non-finite value counts as missing
    frame = pd.DataFrame(values, columns=[f"g{i}" for i in range(n_features)])
    frame.insert(0, "cell", ["A", "B", "C"])
    drops = DropLog()
    out = omics_from_frame(frame, "o.csv", drops)
    assert list(out.index) == ["A", "C"]
    assert int(out.isna().sum().sum()) == 3 and np.isnan(out.loc["C", "g5"])
    assert drops.frame()[["item", "reason"]].values.tolist() == [
        ["B", f"more than {MAX_MISSING_OMICS_FRACTION:.0%} of omics values missing (15%)"]
    ]


def test_missing_omics_are_imputed_from_training_cells_only():
    omics = torch.tensor([[1.0, 10.0], [3.0, float("nan")], [5.0, 30.0], [100.0, 1000.0]])
    scaler = OmicsScaler.fit(omics[:3])  # the 4th cell is a test cell
    assert torch.allclose(scaler.mean, torch.tensor([3.0, 20.0]))
    assert torch.allclose(scaler.scale, torch.tensor([np.sqrt(8 / 3), 10.0], dtype=torch.float32))
    out = scaler.transform(omics)
    assert out[1, 1] == 0.0 and not torch.isnan(out).any()  # filled with the training mean


def test_baseline_cell_features_impute_with_training_means(tiny_dataset):
    ds = tiny_dataset
    frame = ds.omics["expression"].copy()
    frame.iloc[0, 0] = np.nan
    ds.omics = {"expression": frame}
    train = np.arange(1, len(frame))  # cell 0 is not a training cell
    x, genes = cell_features(ds, train, n_genes=N_GENES)
    assert not np.isnan(x).any() and len(genes) == N_GENES
    assert x[0, 0] == 0.0  # imputed: training mean, 0 after standardisation
    assert np.allclose(x[train].mean(axis=0), 0.0, atol=1e-12)


def test_cells_with_missing_omics_are_kept_in_the_store(fixture_tables, tmp_path):
    omics = pd.read_csv(fixture_tables["omics"])
    omics.loc[0, "G3"] = np.nan  # 1 of 20 values
    omics.loc[1, ["G1", "G2", "G3", "G4", "G5"]] = np.nan  # 25%: dropped
    omics.to_csv(fixture_tables["omics"], index=False)
    ds = make_dataset(fixture_tables)
    assert len(ds.cells) == N_CELLS - 1 and "CELL01" not in set(ds.cells.cell_id)
    assert np.isnan(ds.omics["expression"].loc["CELL00", "G3"])
    assert ds.manifest["counts"]["cells_with_missing_omics"] == 1
    ds.save(tmp_path / "ds")
    assert np.isnan(FeaturizedDataset.load(tmp_path / "ds").omics["expression"].loc["CELL00", "G3"])


def test_report_says_so_when_every_cluster_is_a_singleton(tiny_dataset, tmp_path):
    from drp.featurize.report import write_featurization_report

    drugs = tiny_dataset.drugs
    tiny_dataset.drugs = drugs.assign(structure_cluster=np.arange(len(drugs), dtype=np.int64))
    report = write_featurization_report(tiny_dataset, tmp_path).read_text()
    assert "Every cluster is a single drug" in report
    assert "| cluster | drugs | members |" not in report
    # with a shared cluster (aspirin and its salt) the table is there, without the sentence
    tiny_dataset.drugs = drugs
    report = write_featurization_report(tiny_dataset, tmp_path).read_text()
    assert "| cluster | drugs | members |" in report
    assert "Every cluster is a single drug" not in report


def test_a_store_whose_parts_do_not_line_up_is_refused(tiny_dataset, tmp_path):
    from dataclasses import replace

    # consistent checksums (written by save), but one drug's graph and fingerprint missing
    broken = replace(
        tiny_dataset, graphs=tiny_dataset.graphs[:-1], fingerprints=tiny_dataset.fingerprints[:-1]
    )
    broken.save(tmp_path / "ds")
    with pytest.raises(StoreError, match="graphs for .* drugs; .*fingerprint rows"):
        FeaturizedDataset.load(tmp_path / "ds")

"""Cell and drug identity: real GDSC name collisions, structure keys and clusters."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drp.data.ids import find_cell_collisions, match_cell_ids, resolve_cell_names
from drp.data.tables import TableError
from drp.data.validation import DropLog, omics_from_frame, tissues_from_frame
from drp.featurize.molecules import cluster_structures, standardise
from drp.featurize.molecules import structure_key as key_of
from drp.featurize.pipeline import build_dataset, custom_tables, featurize_drugs
from drp.featurize.report import write_featurization_report
from drp.featurize.store import FeaturizedDataset
from tests.conftest import SMILES

# The real collisions in GDSC2's responses: KM-H2 is a Hodgkin lymphoma line, KMH-2 a thyroid
# one; TT is a medullary thyroid line, T-T an oesophageal one. GDSC's omics pickles write every
# name normalised ("KMH2", "TT"), and gdsctools' tissue table knows only KM-H2 and TT.
COLLIDING = ["KM-H2", "KMH-2", "TT", "T-T"]
OTHERS = ["CAL-120", "A549", "MCF7"]
DRUGS = {"aspirin": SMILES["aspirin"], "erlotinib": SMILES["erlotinib"]}


def _write_tables(root: Path, omics_names: list[str]) -> dict[str, Path]:
    """Responses for the 4 colliding lines + 3 others; omics under ``omics_names``."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    rows = [
        (cell, drug, float(i + 10 * k))
        for i, cell in enumerate(COLLIDING + OTHERS)
        for k, drug in enumerate(DRUGS)
    ]
    responses = pd.DataFrame(rows, columns=["cell_id", "drug_id", "ln_ic50"])
    omics = pd.DataFrame(rng.normal(size=(len(omics_names), 4)), columns=list("abcd"))
    omics.insert(0, "cell_id", omics_names)
    tissues = pd.DataFrame(
        {
            "cell_id": ["KM-H2", "TT", "CAL-120", "A549", "MCF7"],
            "tissue": ["blood", "thyroid", "breast", "lung", "breast"],
            "cosmic_id": [909976, 930299, 906826, 905949, 905946],
        }
    )
    drugs = pd.DataFrame({"drug_id": list(DRUGS), "smiles": list(DRUGS.values())})
    paths = {k: root / f"{k}.csv" for k in ("responses", "omics", "tissues", "drugs")}
    for frame, key in ((responses, "responses"), (omics, "omics"), (tissues, "tissues")):
        frame.to_csv(paths[key], index=False)
    drugs.to_csv(paths["drugs"], index=False)
    return paths


def _build(paths: dict[str, Path]) -> FeaturizedDataset:
    raw = custom_tables(
        "collide",
        paths["responses"],
        {"expression": paths["omics"]},
        paths["drugs"],
        tissues_path=paths["tissues"],
    )
    return build_dataset(raw)


def test_collisions_are_found_within_one_source_only():
    collisions = find_cell_collisions(
        {"responses": COLLIDING + ["CAL-120"], "omics": ["KMH2", "TT", "Cal120"]}
    )
    # CAL-120 / Cal120 differ only between sources: that is what normalisation is for
    assert collisions == {"KMH2": ["KM-H2", "KMH-2"], "TT": ["T-T", "TT"]}


def test_names_resolve_to_distinct_lines_or_an_ambiguity_reason():
    collisions = {"KMH2": ["KM-H2", "KMH-2"], "TT": ["T-T", "TT"]}
    ids, reasons = resolve_cell_names(["km-h2", "KMH-2", "TT", "CAL-120"], collisions)
    assert ids == ["KM-H2", "KMH-2", "TT", "CAL120"] and reasons == [None] * 4
    # a table that writes no punctuation at all cannot tell TT from T-T
    ids, reasons = resolve_cell_names(["KMH2", "TT", "CAL120"], collisions)
    assert ids == [None, None, "CAL120"]
    assert reasons[1] == "ambiguous cell name: matches distinct lines T-T / TT after normalisation"


def test_gdsc_like_collisions_are_dropped_with_reason_never_merged(tmp_path):
    # omics written like GDSC's pickles: normalised names, one profile per normalised id
    paths = _write_tables(tmp_path, ["KMH2", "TT", "CAL120", "A549", "MCF7"])
    ds = _build(paths)
    assert sorted(ds.cells.cell_id) == ["A549", "CAL120", "MCF7"]
    assert len(ds.pairs) == 3 * len(DRUGS) and (ds.pairs.n_replicates == 1).all()
    drops = ds.drops.set_index(["stage", "item"])
    assert drops.loc[("omics", "KMH2"), "reason"] == (
        "ambiguous cell name: matches distinct lines KM-H2 / KMH-2 after normalisation"
    )
    for cell in COLLIDING:
        row = drops.loc[("responses", cell)]
        assert row["rows"] == len(DRUGS)
        assert row["reason"].startswith("cell name collides with a distinct line")
    assert ds.manifest["cell_identity"]["collisions"] == {
        "KMH2": ["KM-H2", "KMH-2"],
        "TT": ["T-T", "TT"],
    }
    report = write_featurization_report(ds, tmp_path).read_text()
    assert "| KMH2 | KM-H2, KMH-2 | - | KM-H2, KMH-2 |" in report


def test_collisions_stay_apart_when_every_table_spells_them(tmp_path):
    names = ["kmh-2", "KM-H2", "T-T", "TT", "Cal120", "A549", "MCF7"]
    paths = _write_tables(tmp_path, names)
    ds = _build(paths)
    cells = ds.cells.set_index("cell_id")
    assert sorted(cells.index) == ["A549", "CAL120", "KM-H2", "KMH-2", "MCF7", "T-T", "TT"]
    assert cells.loc["KM-H2", "tissue"] == "blood" and cells.loc["TT", "tissue"] == "thyroid"
    assert cells.loc["KM-H2", "cosmic_id"] == 909976 and pd.isna(cells.loc["T-T", "cosmic_id"])
    assert cells.loc["KMH-2", "tissue"] is None  # no tissue row spells KMH-2
    assert cells.loc["CAL120", "cell_name"] == "CAL-120"  # display name kept
    # no fake replicates: every pair is one measurement with its own value
    assert (ds.pairs.n_replicates == 1).all() and len(ds.pairs) == 7 * len(DRUGS)
    omics = pd.read_csv(paths["omics"]).set_index("cell_id")
    assert np.allclose(ds.omics["expression"].loc["KMH-2"], omics.loc["kmh-2"])
    assert np.allclose(ds.omics["expression"].loc["KM-H2"], omics.loc["KM-H2"])


def test_user_names_match_kept_spellings_then_normalised_ids():
    known = ["KM-H2", "KMH-2", "CAL120"]
    assert match_cell_ids(["km-h2", "KMH-2", "Cal-120", "KMH2"], known) == [
        "KM-H2",
        "KMH-2",
        "CAL120",
        None,  # ambiguous: neither spelling
    ]


def test_tissue_table_with_conflicting_rows_raises():
    frame = pd.DataFrame({"cell_id": ["TT", "tt"], "tissue": ["thyroid", "oesophagus"]})
    with pytest.raises(TableError, match=r"different tissues: \['TT'\]"):
        tissues_from_frame(frame, "t.csv")


def test_omics_index_keeps_spelling_for_resolution():
    frame = pd.DataFrame({"cell": ["KM-H2", "KMH-2"], "g": [1.0, 2.0]})
    out = omics_from_frame(frame, "o.csv", DropLog())
    assert list(out.index) == ["KM-H2", "KMH-2"]


# ---- drug identity ---------------------------------------------------------------------
GDSC_SMILES = {
    "Afuresertib": "CN1C(=C(C=N1)Cl)C2=C(SC(=C2)C(=O)N[C@@H](CC3=CC(=CC=C3)F)CN)Cl",
    "GSK2110183B": "CN1C(=C(C=N1)Cl)C2=C(SC(=C2)C(=O)N[C@@H](CC3=CC(=CC=C3)F)CN)Cl.Cl",
    "Gefitinib": "COC1=C(C=C2C(=C1)N=CN=C2NC3=CC(=C(C=C3)F)Cl)OCCCN4CCOCC4",
    "Erlotinib": "COCCOC1=C(C=C2C(=C1)C(=NC=N2)NC3=CC=CC(=C3)C#C)OCCOC",
    "Afatinib": "CN(C)C/C=C/C(=O)NC1=C(C=C2C(=C1)C(=NC=N2)NC3=CC(=C(C=C3)F)Cl)O[C@H]4CCOC4",
    "Cytarabine": "C1=CN(C(=O)N=C1N)[C@H]2[C@H]([C@@H]([C@H](O2)CO)O)O",
    "Gemcitabine": "C1=CN(C(=O)N=C1N)[C@H]2C([C@@H]([C@H](O2)CO)O)(F)F",
    "Aspirin": SMILES["aspirin"],
}


def test_salt_forms_share_a_structure_key():
    afuresertib = key_of(standardise(GDSC_SMILES["Afuresertib"]).mol)
    assert afuresertib == key_of(standardise(GDSC_SMILES["GSK2110183B"]).mol)
    assert len(afuresertib) == 27 and afuresertib.count("-") == 2  # an InChIKey
    assert afuresertib != key_of(standardise(GDSC_SMILES["Gefitinib"]).mol)


def test_clusters_group_analogues_and_identical_structures():
    frame = pd.DataFrame({"drug_id": list(GDSC_SMILES), "smiles": list(GDSC_SMILES.values())})
    table, _, fps, _ = featurize_drugs(frame, DropLog(), "drugs")
    labels = dict(
        zip(
            table.drug_id,
            cluster_structures(fps, table.structure_key.tolist()),
            strict=True,
        )
    )
    assert labels["Afuresertib"] == labels["GSK2110183B"]
    assert labels["Gefitinib"] == labels["Erlotinib"] == labels["Afatinib"] == 0  # largest
    assert labels["Cytarabine"] == labels["Gemcitabine"] != labels["Gefitinib"]
    assert len(set(labels.values())) == 4  # EGFR, nucleosides, AKT, aspirin


def test_identical_keys_share_a_cluster_even_with_different_fingerprints():
    fps = np.array([[1, 0, 0, 0], [0, 1, 1, 1], [1, 1, 0, 0]], dtype=np.uint8)
    labels = cluster_structures(fps, ["k1", "k2", "k1"])
    assert labels[0] == labels[2]
    assert labels.dtype == np.int64


def test_dataset_and_report_carry_structure_columns(tiny_dataset, tmp_path):
    drugs = tiny_dataset.drugs.set_index("drug_id")
    assert drugs.loc["aspirin", "structure_key"] == drugs.loc["aspirin_sodium", "structure_key"]
    assert (
        drugs.loc["aspirin", "structure_cluster"]
        == drugs.loc["aspirin_sodium", "structure_cluster"]
    )
    assert drugs["structure_cluster"].dtype == np.int64
    assert tiny_dataset.manifest["clustering"]["threshold"] == 0.4
    assert tiny_dataset.manifest["counts"]["drug_structures"] == len(drugs) - 1
    tiny_dataset.save(tmp_path / "ds")
    report = write_featurization_report(tiny_dataset, tmp_path / "ds").read_text()
    assert "- aspirin, aspirin_sodium (`BSYNRYMUTXBXSQ-UHFFFAOYSA-N`)" in report
    assert "butina on Morgan radius 2, 2048 bits fingerprints" in report


def test_old_store_without_structure_columns_loads(tiny_dataset, tmp_path):
    tiny_dataset.drugs = tiny_dataset.drugs.drop(columns=["structure_key", "structure_cluster"])
    tiny_dataset.save(tmp_path / "old")
    loaded = FeaturizedDataset.load(tmp_path / "old")
    assert "structure_key" not in loaded.drugs.columns and len(loaded.drugs) == 7
    assert "Drug structures" not in write_featurization_report(loaded, tmp_path).read_text()


def test_predict_looks_cell_names_up_by_spelling_first():
    from types import SimpleNamespace

    from drp.prediction.predictor import Predictor

    stub = SimpleNamespace(ds=SimpleNamespace(cell_index={"KM-H2": 0, "KMH-2": 1, "CAL120": 2}))
    ids = Predictor._cell_ids(stub, ["km-h2", "KMH-2", "Cal-120", "no-such"])
    assert ids == ["KM-H2", "KMH-2", "CAL120", "NOSUCH"]


def test_a_new_spelling_of_lines_kept_apart_is_ambiguous_not_merged():
    from drp.data.ids import match_cell_ids

    assert match_cell_ids(["T.T", "tt", "t-t", "cal 120"], ["TT", "T-T", "CAL120"]) == [
        None,
        "TT",
        "T-T",
        "CAL120",
    ]

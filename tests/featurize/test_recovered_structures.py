"""Response drugs without a structure: recovered ones are featurized, the rest are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from drp.data.gdsc import PROCESSED_FORMAT
from drp.featurize.pipeline import build_dataset, custom_tables, gdsc_tables
from drp.featurize.report import write_featurization_report
from drp.featurize.store import FeaturizedDataset
from tests.conftest import N_CELLS

GSK_LSD1 = "C1CNCCC1N[C@@H]2C[C@H]2C3=CC=CC=C3"
# drug names measured on every fixture cell; all but GSK-LSD1 are absent from the drug table
EXTRA_DRUGS = [
    "GSK-LSD1",
    "GSK-LSD1-2HCl ",
    "Picolinici-acid",
    "KRAS (G12C) Inhibitor-12",
    "MYSTERY-1",
    "NEW-1",
]


def add_unstructured_drugs(paths: dict[str, Path]) -> Path:
    """Measure EXTRA_DRUGS on every cell, add GSK-LSD1 to the drugs; return a user table."""
    responses = pd.read_csv(paths["responses"])
    cells = responses.cell_id.unique()
    extra = pd.DataFrame(
        [(c, d, 0.1 * i) for i, c in enumerate(cells) for d in EXTRA_DRUGS],
        columns=["cell_id", "drug_id", "ln_ic50"],
    )
    pd.concat([responses, extra]).to_csv(paths["responses"], index=False)
    drugs = pd.read_csv(paths["drugs"])
    drugs.loc[len(drugs)] = ["GSK-LSD1", GSK_LSD1]
    drugs.to_csv(paths["drugs"], index=False)
    user = paths["drugs"].with_name("structures.csv")
    pd.DataFrame({"drug_name": ["NEW-1"], "smiles": ["CCN(CC)CC"]}).to_csv(user, index=False)
    return user


def check_recovered(ds: FeaturizedDataset, user: Path) -> None:
    # the built-in responses keep the release's trailing space; custom ones are stripped
    drugs = ds.drugs.set_index(ds.drugs.drug_id.str.strip())
    assert {"GSK-LSD1-2HCl", "Picolinici-acid", "NEW-1"} <= set(drugs.index)
    assert drugs.structure_key["GSK-LSD1-2HCl"] == drugs.structure_key["GSK-LSD1"]
    assert drugs.structure_key["Picolinici-acid"] == "SIOXPEMLGUPBBT-UHFFFAOYSA-N"
    recovered = {r["drug_id"].strip(): r for r in ds.manifest["sources"]["recovered_structures"]}
    assert {k: r["how"] for k, r in recovered.items()} == {
        "GSK-LSD1-2HCl": "alias",
        "NEW-1": "user",
        "Picolinici-acid": "structure",
    }
    assert recovered["NEW-1"]["source"] == str(user)


def test_custom_tables_recover_structures_and_report_the_rest(fixture_tables, tmp_path: Path):
    user = add_unstructured_drugs(fixture_tables)
    raw = custom_tables(
        "fixture",
        fixture_tables["responses"],
        {"expression": fixture_tables["omics"]},
        fixture_tables["drugs"],
        drug_structures=user,
    )
    assert str(user) in raw.sources["files"]
    ds = build_dataset(raw)
    check_recovered(ds, user)
    ds.save(tmp_path / "ds")
    report = write_featurization_report(
        FeaturizedDataset.load(tmp_path / "ds"), tmp_path
    ).read_text()
    section = report.split("## Drugs missing from the drug table")[1].split("## ")[0]
    assert "| GSK-LSD1-2HCl | alias of GSK-LSD1 | GDSC2 drug name" in section
    assert "| Picolinici-acid | shipped structure | PubChem CID 1018 (picolinic acid) |" in section
    assert f"| NEW-1 | user table | {user} |" in section
    assert f"3 drug(s) still have no structure; their {3 * N_CELLS} response rows" in section
    assert (
        f"| KRAS (G12C) Inhibitor-12 | {N_CELLS} | drug id not in the drug table. No structure "
        "shipped: the annotation gives only a PubChem CID" in section
    )
    assert f"| MYSTERY-1 | {N_CELLS} | drug id not in the drug table |" in section


def test_fixture_without_gaps_reports_no_such_section(tiny_dataset, tmp_path: Path):
    assert tiny_dataset.manifest["sources"]["recovered_structures"] == []
    text = write_featurization_report(tiny_dataset, tmp_path).read_text()
    # the fixture's broken SMILES is the one drug without a usable structure
    section = text.split("## Drugs missing from the drug table")[1].split("## ")[0]
    assert f"| broken | {N_CELLS} | invalid SMILES (drug dropped) |" in section


def write_processed(paths: dict[str, Path], root: Path) -> Path:
    """The fixture tables in the processed built-in layout read by :func:`gdsc_tables`."""
    root.mkdir()
    responses = pd.read_csv(paths["responses"]).rename(columns={"cell_id": "cell_name"})
    responses.assign(censored=False).to_parquet(root / "responses_gdsc2.parquet")
    omics = pd.read_csv(paths["omics"]).rename(columns={"cell_id": "cell_name"})
    omics.set_index("cell_name").to_parquet(root / "omics_expression.parquet")
    pd.read_csv(paths["drugs"]).to_csv(root / "drugs.csv", index=False)
    tissues = pd.read_csv(paths["tissues"]).rename(columns={"cell_id": "cell_name"})
    tissues.assign(cosmic_id=range(len(tissues))).to_csv(root / "tissues.csv", index=False)
    manifest = {"format": PROCESSED_FORMAT, "sources": [], "files": {}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root


def test_gdsc_tables_recover_structures(fixture_tables, tmp_path: Path):
    user = add_unstructured_drugs(fixture_tables)
    processed = write_processed(fixture_tables, tmp_path / "processed")
    raw = gdsc_tables(processed, "gdsc2", ["expression"], drug_structures=user)
    assert list(raw.sources["drug_structures_file"]) == [str(user)]
    check_recovered(build_dataset(raw), user)
    without = gdsc_tables(processed, "gdsc2", ["expression"])
    assert [r["drug_id"] for r in without.sources["recovered_structures"]] == [
        "GSK-LSD1-2HCl ",
        "Picolinici-acid",
    ]

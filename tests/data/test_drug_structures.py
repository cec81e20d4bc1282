"""The shipped table of drug structures and :func:`recover_structures` (no network)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from rdkit import Chem

from drp.data.drug_structures import (
    SHIPPED_STRUCTURES,
    read_user_structures,
    recover_structures,
    recovered_records,
    shipped_structures,
    unresolved_notes,
)
from drp.data.tables import TableError

# InChIKeys checked with RDKit and against PubChem's records of the cited CIDs
EXPECTED_KEYS = {
    "Picolinici-acid": "SIOXPEMLGUPBBT-UHFFFAOYSA-N",  # CID 1018, pyridine-2-carboxylic acid
    "ascorbate (vitamin C)": "CIWBSHSKHKDKBQ-JLAZNSOCSA-N",  # CID 54670067, L-ascorbic acid
}
BUNDLED_DRUGS = Path(__file__).parents[2] / "data" / "processed" / "gdsc" / "drugs.csv"


def drug_table(**smiles: str) -> pd.DataFrame:
    return pd.DataFrame({"drug_id": list(smiles), "smiles": list(smiles.values())})


def test_shipped_table_rows_are_alias_structure_or_explained_gap():
    table = shipped_structures()
    assert not table.drug_name.duplicated().any()
    alias, structure = table.alias_of.ne(""), table.smiles.ne("")
    assert not (alias & structure).any()
    assert (table.source.ne("") & table.note.ne("")).all()
    assert set(table.drug_name[~alias & ~structure]) == set(unresolved_notes())
    assert set(unresolved_notes()) == {
        "BDOCA000347a",
        "BDILV000379a",
        "KRAS (G12C) Inhibitor-12",
    }
    assert dict(zip(table.drug_name[alias], table.alias_of[alias], strict=True)) == {
        "Bleomycin (50 uM)": "Bleomycin",
        "Nutlin-3a (-)": "Nutlin-3",
        "GSK-LSD1-2HCl": "GSK-LSD1",
        "GSK2830371A": "GSK2830371",
    }


def test_shipped_smiles_parse_to_the_claimed_inchikeys():
    table = shipped_structures()
    rows = table[table.smiles.ne("")]
    assert dict(zip(rows.drug_name, rows.inchikey, strict=True)) == EXPECTED_KEYS
    for row in rows.itertuples():
        mol = Chem.MolFromSmiles(row.smiles)
        assert mol is not None, row.drug_name
        assert Chem.MolToInchiKey(mol) == row.inchikey
    assert "CID 1018" in table.set_index("drug_name").source["Picolinici-acid"]
    assert "CID 54670067" in table.set_index("drug_name").source["ascorbate (vitamin C)"]


@pytest.mark.skipif(not BUNDLED_DRUGS.exists(), reason="built-in GDSC data not processed here")
def test_aliases_name_bundled_drugs_and_nutlin_note_matches_its_stereo():
    bundled = pd.read_csv(BUNDLED_DRUGS).set_index("drug_id").smiles
    table = shipped_structures().set_index("drug_name")
    assert set(table.alias_of[table.alias_of.ne("")]) <= set(bundled.index)
    nutlin = Chem.MolFromSmiles(bundled["Nutlin-3"])
    centres = Chem.FindMolChiralCenters(
        nutlin, includeUnassigned=True, useLegacyImplementation=False
    )
    assert len(centres) == 2 and all(label == "?" for _, label in centres)
    assert "racemic/unspecified" in table.note["Nutlin-3a (-)"]


def test_alias_copies_target_smiles_and_structure_rows_cite_pubchem():
    drugs = drug_table(Bleomycin="CCO", aspirin="CC(=O)Oc1ccccc1C(=O)O")
    names = ["Bleomycin (50 uM)", "Picolinici-acid", "aspirin", "Bleomycin", "unknown"]
    out, recovered = recover_structures(drugs, names)
    smiles = out.set_index("drug_id").smiles
    assert smiles["Bleomycin (50 uM)"] == "CCO"
    assert smiles["Picolinici-acid"] == "OC(=O)c1ccccn1"
    assert len(out) == 4 and "unknown" not in smiles
    record = recovered.set_index("drug_id")
    assert record.loc["Bleomycin (50 uM)", ["how", "alias_of"]].tolist() == ["alias", "Bleomycin"]
    assert record.loc["Picolinici-acid", "how"] == "structure"
    assert "PubChem CID 1018" in record.loc["Picolinici-acid", "source"]
    assert recovered_records(recovered)[1]["alias_of"] is None


def test_names_match_after_stripping_and_keep_the_response_spelling():
    drugs = drug_table(**{"GSK-LSD1 ": "C1CNCCC1N[C@@H]2C[C@H]2C3=CC=CC=C3"})
    out, recovered = recover_structures(drugs, ["GSK-LSD1-2HCl "])
    assert out.drug_id.tolist() == ["GSK-LSD1 ", "GSK-LSD1-2HCl "]
    assert out.smiles.iloc[1] == drugs.smiles.iloc[0]
    assert recovered.alias_of.tolist() == ["GSK-LSD1"]


def test_alias_without_its_target_and_unresolved_names_stay_missing():
    drugs = drug_table(aspirin="CC(=O)Oc1ccccc1C(=O)O")
    out, recovered = recover_structures(drugs, ["Nutlin-3a (-)", "KRAS (G12C) Inhibitor-12"])
    assert out is drugs and recovered.empty
    assert list(recovered.columns) == ["drug_id", "how", "alias_of", "source"]


def test_blank_smiles_row_is_filled_not_duplicated():
    drugs = pd.DataFrame({"drug_id": ["Picolinici-acid", "x"], "smiles": [None, "C"]})
    out, _ = recover_structures(drugs, ["Picolinici-acid", "x"])
    assert sorted(out.drug_id) == ["Picolinici-acid", "x"]
    assert out.set_index("drug_id").smiles["Picolinici-acid"] == "OC(=O)c1ccccn1"


def test_user_table_overrides_shipped_rows_and_adds_names(tmp_path: Path):
    path = tmp_path / "mine.csv"
    pd.DataFrame(
        {
            "drug_name": ["Picolinici-acid", " NEW-1 ", "aspirin"],
            "smiles": ["c1ccncc1C(=O)O", "CCN", "C"],
            "source": ["my lab", None, None],
        }
    ).to_csv(path, index=False)
    drugs = drug_table(aspirin="CC(=O)Oc1ccccc1C(=O)O")
    out, recovered = recover_structures(drugs, ["Picolinici-acid", "NEW-1", "aspirin"], path)
    smiles = out.set_index("drug_id").smiles
    assert smiles.to_dict() == {
        "aspirin": "CC(=O)Oc1ccccc1C(=O)O",  # a structure the drug table has is never replaced
        "Picolinici-acid": "c1ccncc1C(=O)O",
        "NEW-1": "CCN",
    }
    record = recovered.set_index("drug_id")
    assert set(record.how) == {"user"}
    assert record.source.to_dict() == {"NEW-1": str(path), "Picolinici-acid": f"{path} (my lab)"}


def test_user_table_may_name_its_id_column_drug_id(tmp_path: Path):
    path = tmp_path / "mine.tsv"
    path.write_text("drug_id\tsmiles\nNEW-1\tCCN\n")
    assert read_user_structures(path).to_dict(orient="records") == [
        {"drug_name": "NEW-1", "smiles": "CCN", "source": str(path)}
    ]


def test_user_row_answers_to_its_id_and_its_name(tmp_path: Path):
    path = tmp_path / "mine.csv"
    path.write_text("drug_id,drug_name,smiles\n1378.0,Picolinici-acid,CCO\n,NEW-1,CCN\n")
    table = read_user_structures(path)
    assert dict(zip(table.drug_name, table.smiles, strict=True)) == {
        "1378": "CCO",
        "Picolinici-acid": "CCO",
        "NEW-1": "CCN",
    }
    out, _ = recover_structures(drug_table(x="C"), ["1378", "Picolinici-acid"], path)
    assert out.smiles.tolist() == ["C", "CCO", "CCO"]


def test_user_table_with_both_id_columns_blank_names_both(tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text("drug_id,drug_name,smiles\n,,CCO\n")
    with pytest.raises(
        TableError, match=r"columns 'drug_id' and 'drug_name' blank in row\(s\) \[0\]"
    ):
        read_user_structures(path)


@pytest.mark.parametrize(
    "text, match",
    [
        (
            "name,smiles\nA,C\n",
            r"needs columns \['drug_id or drug_name', 'smiles'\]; columns present",
        ),
        ("drug_id,structure\nA,C\n", r"columns present: \['drug_id', 'structure'\]"),
        ("drug_name,smiles\nA,C\nB,\n", r"column 'smiles' blank in row\(s\) \[1\]"),
        ("drug_name,smiles\n,C\n", r"column 'drug_name' blank in row\(s\) \[0\]"),
        (
            "drug_id,smiles\nA,C\nA ,CC\n",
            r"column 'drug_id' give\(s\) drug\(s\) two structures: \['A'\]",
        ),
    ],
)
def test_bad_user_table_raises_naming_file_and_column(tmp_path: Path, text: str, match: str):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(TableError, match=match) as info:
        recover_structures(drug_table(x="C"), ["A"], path)
    assert str(info.value).startswith(str(path))


def test_missing_user_table_is_a_table_error(tmp_path: Path):
    with pytest.raises(TableError, match="file not found"):
        recover_structures(drug_table(x="C"), ["A"], tmp_path / "none.csv")


def test_shipped_table_is_package_data():
    assert SHIPPED_STRUCTURES.name == "drug_structures.csv"
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"data/*.csv"' in pyproject

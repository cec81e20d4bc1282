"""Readers of the official files (drp.data.readers) on tiny files written here in each official
layout: headers verbatim, the TOTAL: row, line breaks in header cells, both DepMap expression
layouts, PRISM and CTRP. The writers are reused by tests/featurize/test_official.py."""

from __future__ import annotations

import builtins
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drp.data.readers import (
    CellCrosswalk,
    assign_cell_ids,
    key_ctrp_cells,
    match_structures,
    read_ctrp,
    read_depmap,
    read_gdsc_release,
    read_prism,
)
from drp.data.readers.cells import DEPMAP
from drp.data.readers.depmap import read_models
from drp.data.readers.files import find_file, read_official
from drp.data.readers.gdsc_release import read_cell_lines_details, read_screened_compounds
from drp.data.tables import TableError
from drp.data.validation import DropLog
from tests.conftest import SMILES

# name, COSMIC id, Sanger model id, DepMap ModelID, lineage, GDSC tissue descriptor 1 / 2
LINES = [
    ("TT", 930299, "SIDM00484", "ACH-000001", "Thyroid", "thyroid", "thyroid"),
    (
        "T-T",
        1299064,
        "SIDM00322",
        "ACH-000002",
        "Esophagus/Stomach",
        "aero_dig_tract",
        "oesophagus",
    ),
    ("KM-H2", 909976, "SIDM01018", "ACH-000003", "Lymphoid", "blood", "hodgkin_lymphoma"),
    ("KMH-2", 1298167, "SIDM00619", "ACH-000004", "Thyroid", "thyroid", "thyroid"),
    ("A549", 905949, "SIDM00903", "ACH-000005", "Lung", "lung_NSCLC", "lung_NSCLC_adeno"),
    ("MCF7", 905946, "SIDM00148", "ACH-000006", "Breast", "breast", "breast"),
    ("HT-29", 905939, "SIDM00136", "ACH-000007", "Bowel", "digestive_system", "large_intestine"),
    ("PC-14", 908173, "SIDM01149", "ACH-000008", "Lung", "lung_NSCLC", "lung_NSCLC_adeno"),
    ("SK-MEL-2", 908180, "SIDM00200", "ACH-000009", "Skin", "skin", "melanoma"),
    ("CAL-120", 906826, "SIDM00150", "ACH-000010", "Breast", "breast", "breast"),
]
NO_SANGER_IN_MODEL = "ACH-000008"  # PC-14: Model.csv lacks its SangerModelID (COSMIC links it)
DEPMAP_ONLY = ("ACH-000099", "DEPONLY", "Kidney")
GDSC_ONLY = ("NOOMICS", 999999, "SIDM09999")  # screened, but no DepMap profile
GENES = ["TP53 (7157)", "EGFR (1956)", "KRAS (3845)", "BRAF (673)", "PTEN (5728)", "MYC (4609)"]

# DRUG_ID, DRUG_NAME as released (AZD4547 with a trailing space, under two ids)
GDSC_DRUGS = [
    (1168, "Erlotinib"),
    (1079, "Imatinib"),
    (1073, "5-Fluorouracil"),
    (1005, "Cisplatin"),
    (1135, "AZD4547 "),
    (1497, "AZD4547 "),
    (9999, "Mystery-1"),
]
AZD4547 = "COc1cc(CCc2cc(NC(=O)c3ccc(N4CC(C)NC(C)C4)cc3)n[nH]2)cc(OC)c1"
MAX_CONC, MIN_CONC = 10.0, 0.0025
EXTRAPOLATED = ("A549", 1168)  # its LN_IC50 lies 2 above ln(MAX_CONC)
GDSC_COLUMNS = [
    "DATASET",
    "NLME_RESULT_ID",
    "NLME_CURVE_ID",
    "COSMIC_ID",
    "CELL_LINE_NAME",
    "SANGER_MODEL_ID",
    "TCGA_DESC",
    "DRUG_ID",
    "DRUG_NAME",
    "PUTATIVE_TARGET",
    "PATHWAY_NAME",
    "COMPANY_ID",
    "WEBRELEASE",
    "MIN_CONC",
    "MAX_CONC",
    "LN_IC50",
    "AUC",
    "RMSE",
    "Z_SCORE",
]
CELL_DETAILS_COLUMNS = [
    "Sample Name",
    "COSMIC identifier",
    "Whole Exome\r\nSequencing (WES)",
    "Copy\r\nNumber\r\nAlterations (CNA)",
    "Gene Expression",
    "Methylation",
    "Drug\r\nResponse",
    "GDSC\r\nTissue descriptor 1",
    "GDSC\r\nTissue\r\ndescriptor 2",
    "Cancer Type\r\n(matching TCGA label)",
    "Microsatellite \r\ninstability Status (MSI)",
    "Screen Medium",
    "Growth Properties",
]


def expression(seed: int = 0) -> np.ndarray:
    """[n_lines + 1, n_genes] expression of LINES and the DepMap-only model."""
    return np.random.default_rng(seed).normal(size=(len(LINES) + 1, len(GENES))).round(4)


def ln_ic50(line: int, drug: int) -> float:
    """A response with a drug level and a gene effect, so a model has something to learn."""
    expr = expression()
    return float(np.round(0.4 * drug - 1.0 + expr[line, 0] + 0.3 * expr[line, drug % 6], 4))


def write_gdsc_release(root: Path, *, xlsx: bool = False, dataset: str = "GDSC2") -> Path:
    """A GDSC release directory: fitted dose response, screened compounds, Cell_Lines_Details."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    lines = [(*line[:3],) for line in LINES] + [GDSC_ONLY]
    for i, (name, cosmic, sidm) in enumerate(lines):
        for k, (drug_id, drug_name) in enumerate(GDSC_DRUGS):
            value = ln_ic50(i % len(LINES), k)
            if (name, drug_id) == EXTRAPOLATED:
                value = float(np.log(MAX_CONC) + 2.0)
            rows.append(
                [dataset, 1000 + len(rows), 5000 + len(rows), cosmic, name, sidm, "LUAD"]
                + [drug_id, drug_name, "EGFR", "EGFR signaling", 1045, "Y"]
                + [MIN_CONC, MAX_CONC, value, 0.9, 0.05, 0.1]
            )
    rows[-1][15] = np.nan  # NOOMICS x Mystery-1: no fitted IC50
    frame = pd.DataFrame(rows, columns=GDSC_COLUMNS)
    stem = f"{dataset}_fitted_dose_response_27Oct23"
    if xlsx:
        frame.to_excel(root / f"{stem}.xlsx", index=False)
    else:
        frame.to_csv(root / f"{stem}.csv", index=False)
    (root / "screened_compounds_rel_8.5.csv").write_text(
        "DRUG_ID,SCREENING_SITE,DRUG_NAME,SYNONYMS,TARGET,TARGET_PATHWAY\n"
        '1168,SANGER,Erlotinib,"Tarceva, RG-1415, CP-358774, OSI-774",EGFR,EGFR signaling\n'
        '1073,SANGER,5-Fluorouracil,"5-FU, Fluorouracil",Antimetabolite,DNA replication\n'
        '1005,MGH,Cisplatin,"CDDP",DNA crosslinker,DNA replication\n'
    )
    write_cell_lines_details(root / "Cell_Lines_Details.csv")
    return root


def cell_details_frame() -> pd.DataFrame:
    rows = [
        [
            name,
            cosmic,
            "Y",
            "Y",
            "Y",
            "Y",
            "Y",
            t1,
            t2,
            "UNCLASSIFIED",
            "MSS/MSI-L",
            "R",
            "Adherent",
        ]
        for name, cosmic, _, _, _, t1, t2 in LINES
    ]
    rows.append(
        ["TOTAL:", np.nan, 10, 10, 10, 10, 10, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan]
    )
    return pd.DataFrame(rows, columns=CELL_DETAILS_COLUMNS)


def write_cell_lines_details(path: Path) -> Path:
    frame = cell_details_frame()
    if path.suffix == ".xlsx":
        frame.to_excel(path, index=False, sheet_name="Cell line details")
    else:
        frame.to_csv(path, index=False)
    return path


def write_depmap(root: Path, *, layout: str = "24Q4", models: bool = True) -> Path:
    """A DepMap directory: Model.csv, expression (24Q4 or 25Q3 layout), mutations, CN."""
    root.mkdir(parents=True, exist_ok=True)
    ach = [line[3] for line in LINES] + [DEPMAP_ONLY[0]]
    if models:
        rows = [
            {
                "ModelID": d,
                "PatientID": f"PT-{i:04d}",
                "CellLineName": name,
                "StrippedCellLineName": name.replace("-", "").upper(),
                "DepmapModelType": "X",
                "OncotreeLineage": lineage,
                "OncotreePrimaryDisease": f"{lineage} cancer",
                "OncotreeSubtype": "",
                "SangerModelID": "" if d == NO_SANGER_IN_MODEL else sidm,
                "COSMICID": cosmic,
                "CCLEName": f"{name.replace('-', '').upper()}_TISSUE",
            }
            for i, (name, cosmic, sidm, d, lineage, _, _) in enumerate(LINES)
        ]
        rows.append(
            {"ModelID": DEPMAP_ONLY[0], "CellLineName": DEPMAP_ONLY[1], "OncotreeLineage": "Kidney"}
        )
        # column order differs between releases: read by name
        pd.DataFrame(rows).iloc[:, ::-1].to_csv(root / "Model.csv", index=False)
    expr = expression()
    if layout == "24Q4":
        frame = pd.DataFrame(expr, columns=GENES)
        frame.insert(0, "", ach)
        frame.to_csv(root / "OmicsExpressionProteinCodingGenesTPMLogp1.csv", index=False)
    else:
        frame = pd.DataFrame(expr, columns=GENES)
        frame.insert(0, "SequencingID", [f"CDS-{i:06d}" for i in range(len(ach))])
        frame.insert(1, "ModelID", ach)
        frame.insert(2, "IsDefaultEntryForModel", "Yes")
        frame.insert(3, "ModelConditionID", [f"MC-{i:06d}" for i in range(len(ach))])
        frame.insert(4, "IsDefaultEntryForMC", "Yes")
        extra = frame.iloc[[0]].copy()  # a second, non-default profile of ACH-000001
        extra["SequencingID"], extra["IsDefaultEntryForModel"] = "CDS-999999", "No"
        extra[GENES] = 99.0
        frame = pd.concat([frame, extra], ignore_index=True)
        frame.to_csv(root / "OmicsExpressionTPMLogp1HumanProteinCodingGenes.csv")
    mutations = pd.DataFrame(
        {
            "Chrom": ["chr17", "chr12", "chr12", "chr7", "chr1"],
            "Pos": [7675088, 25245350, 25245351, 140753336, 1000],
            "Ref": ["C", "C", "C", "A", "G"],
            "Alt": ["T", "A", "T", "T", "A"],
            "VariantType": ["SNV"] * 5,
            "VariantInfo": ["MISSENSE"] * 5,
            "HugoSymbol": ["TP53", "KRAS", "KRAS", "BRAF", ""],
            "ModelID": ["ACH-000005", "ACH-000005", "ACH-000005", "ACH-000009", "ACH-000006"],
        }
    )
    for d in ach:  # every model has at least one variant row
        mutations.loc[len(mutations)] = ["chr2", 5, "A", "G", "SNV", "SILENT", "TTN", d]
    mutations.to_csv(root / "OmicsSomaticMutations.csv", index=False)
    cn = pd.DataFrame(np.round(expr / 4 + 1, 3), columns=GENES)
    cn.insert(0, "", ach)
    cn.to_csv(root / "OmicsCNGene.csv", index=False)
    return root


PRISM_COLUMNS = [
    "broad_id",
    "depmap_id",
    "ccle_name",
    "screen_id",
    "upper_limit",
    "lower_limit",
    "slope",
    "r2",
    "auc",
    "ec50",
    "ic50",
    "name",
    "moa",
    "target",
    "disease.area",
    "indication",
    "smiles",
    "phase",
    "passed_str_profiling",
    "row_name",
]
PRISM_DRUGS = [  # broad_id, name, smiles (imatinib lists two structures)
    ("BRD-K70401845-003-09-6", "erlotinib", SMILES["erlotinib"]),
    ("BRD-K92723993-001-05-4", "imatinib", f"{SMILES['imatinib']}, {SMILES['imatinib']}.Cl"),
    ("BRD-K24844714-001-24-5", "fluorouracil", SMILES["fluorouracil"]),
    ("BRD-K69726342-001-02-6", "cisplatin", SMILES["cisplatin"]),
    ("BRD-K00000000-001-01-1", "no-structure", ""),
]


def write_prism(root: Path) -> Path:
    """PRISM secondary-screen curves (two screens) and treatment info."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (name, _, _, ach, *_rest) in enumerate(LINES):
        for k, (broad, drug, smiles) in enumerate(PRISM_DRUGS):
            screen = "HTS002" if k % 2 == 0 else "MTS005"
            ic50 = float(np.exp(ln_ic50(i, k)))
            rows.append(
                [broad, ach, f"{name.replace('-', '')}_TISSUE", screen, 1.0, 0.1, -1.2, 0.9]
                + [0.7, ic50 * 0.9, ic50, drug, "kinase inhibitor", "X", "oncology", "cancer"]
                + [smiles, "Launched", True, f"{ach}::{broad}"]
            )
    rows[0][10] = np.nan  # TT x erlotinib: never crosses 50%
    rows[1][18] = False  # TT x imatinib: failed STR profiling
    pd.DataFrame(rows, columns=PRISM_COLUMNS).to_csv(
        root / "secondary-screen-dose-response-curve-parameters.csv", index=False
    )
    doses = []
    for broad, *_ in PRISM_DRUGS:
        for screen, top in (("HTS002", 10.0), ("MTS005", 2.5)):
            for step in range(8):
                dose = top / 4**step
                doses.append([f"{broad}::{dose}::{screen}", broad, dose, screen, "x"])
    pd.DataFrame(
        doses, columns=["column_name", "broad_id", "dose", "screen_id", "compound_plate"]
    ).to_csv(root / "secondary-screen-replicate-collapsed-treatment-info.csv", index=False)
    return root


CTRP_COMPOUNDS = [  # master_cpd_id, cpd_name, smiles, top_test_conc_umol
    (1788, "erlotinib", SMILES["erlotinib"], 10.0),
    (3588, "imatinib", SMILES["imatinib"], 33.0),
    (12877, "fluorouracil", SMILES["fluorouracil"], 66.0),
    (26979, "cisplatin", SMILES["cisplatin"], 66.0),
    (60000, "navitoclax:gemcitabine (1:1 mol/mol)", "CC.CC", 20.0),
]


def write_ctrp(root: Path) -> Path:
    """CTRPv2 tab files; cell names written CTRP's way (no punctuation)."""
    root.mkdir(parents=True, exist_ok=True)
    cell_rows, exp_rows, curve_rows = [], [], []
    for i, (name, *_rest) in enumerate(LINES):
        ccl = 900 + i
        cell_rows.append([ccl, name.replace("-", ""), "yes", "lung", "carcinoma", "NA"])
        exp = 100 + i
        for run in (1, 2):  # several runs per experiment
            exp_rows.append([exp, run, "20140101", "RPMI", 1000, 500, "adherent", "ok", ccl])
        for k, (cpd, *_c) in enumerate(CTRP_COMPOUNDS):
            ec50 = float(np.exp(ln_ic50(i, k)))
            curve_rows.append([exp, 16, 4, 1.0, 0.5, "", "", ec50, 0.2, 12.5, cpd])
    curve_rows[2][7] = -1.0  # non-positive EC50
    _tsv(
        root / "v20.meta.per_cell_line.txt",
        [
            "master_ccl_id",
            "ccl_name",
            "ccl_availability",
            "ccle_primary_site",
            "ccle_primary_hist",
            "ccle_hist_subtype_1",
        ],
        cell_rows,
    )
    _tsv(
        root / "v20.meta.per_experiment.txt",
        [
            "experiment_id",
            "run_id",
            "experiment_date",
            "culture_media",
            "baseline_signal",
            "cells_per_well",
            "growth_mode",
            "snp_fp_status",
            "master_ccl_id",
        ],
        exp_rows,
    )
    _tsv(
        root / "v20.data.curves_post_qc.txt",
        [
            "experiment_id",
            "conc_pts_fit",
            "fit_num_param",
            "p1_conf_int_high",
            "p1_conf_int_low",
            "p2_conf_int_high",
            "p2_conf_int_low",
            "apparent_ec50_umol",
            "pred_pv_high_conc",
            "area_under_curve",
            "master_cpd_id",
        ],
        curve_rows,
    )
    _tsv(
        root / "v20.meta.per_compound.txt",
        [
            "master_cpd_id",
            "cpd_name",
            "broad_cpd_id",
            "top_test_conc_umol",
            "cpd_status",
            "inclusion_rationale",
            "gene_symbol_of_protein_target",
            "target_or_activity_of_compound",
            "cpd_smiles",
        ],
        [
            [cpd, name, f"BRD-K{cpd:08d}", top, "FDA", 'clinical;"pilot-set', "EGFR", "x", smi]
            for cpd, name, smi, top in CTRP_COMPOUNDS
        ],
    )
    return root


def _tsv(path: Path, header: list[str], rows: list[list]) -> None:
    lines = ["\t".join(header)] + ["\t".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def write_structures(path: Path) -> Path:
    """A user's structure table: by name (any case), by synonym, by bare id, and unused rows."""
    pd.DataFrame(
        {
            "drug_id": ["", "", "", "1005", "", ""],
            "drug_name": ["Erlotinib", "imatinib", "5-FU", "", "AZD4547", "Aspirin"],
            "smiles": [
                SMILES["erlotinib"],
                SMILES["imatinib"],
                SMILES["fluorouracil"],
                SMILES["cisplatin"],
                AZD4547,
                SMILES["aspirin"],
            ],
        }
    ).to_csv(path, index=False)
    return path


# ---------------------------------------------------------------------------------------------


def test_find_file_lists_what_it_looked_for(tmp_path):
    with pytest.raises(TableError, match=r"GDSC2_fitted_dose_response\*\{\.csv"):
        read_gdsc_release(tmp_path, DropLog(), "GDSC2")
    (tmp_path / "OmicsCNGene.csv").write_text("a\n")
    (tmp_path / "OmicsCNGene.tsv").write_text("a\n")
    with pytest.raises(TableError, match="several files could be the CN"):
        find_file(tmp_path, ("OmicsCNGene",), "CN")


def test_gdsc_release_keeps_ids_ranges_and_extrapolated_values(tmp_path):
    drops = DropLog()
    release = read_gdsc_release(write_gdsc_release(tmp_path / "gdsc"), drops)
    r = release.responses
    n_lines = len(LINES) + 1
    assert len(r) == n_lines * len(GDSC_DRUGS) - 1  # the NaN LN_IC50 is dropped ...
    nan_drop = drops.frame().query("reason == 'non-finite LN_IC50'")
    assert nan_drop["item"].tolist() == ["NOOMICS / 9999"] and nan_drop["rows"].sum() == 1
    assert set(r.drug_id) == {f"GDSC2:{d}" for d, _ in GDSC_DRUGS}
    # names are stripped; one name keeps its two DRUG_IDs apart
    azd = r[r.drug_name == "AZD4547"]
    assert set(azd.drug_id) == {"GDSC2:1135", "GDSC2:1497"}
    assert (r.min_conc_um == MIN_CONC).all() and (r.max_conc_um == MAX_CONC).all()
    a549 = r[(r.cell_name == "A549") & (r.drug_id == "GDSC2:1168")]
    assert a549.ln_ic50.iloc[0] == pytest.approx(np.log(MAX_CONC) + 2.0)  # kept as is
    tt = r[r.cell_name == "TT"].iloc[0]
    assert (tt.sanger_model_id, tt.cosmic_id) == ("SIDM00484", 930299)
    # the compounds file adds synonyms; Cell_Lines_Details its tissues
    fu = release.drugs.set_index("drug_id").loc["GDSC2:1073"]
    assert "5-FU" in fu.synonyms and fu.target == "Antimetabolite"
    assert set(release.files) == {"responses", "compounds", "cell_lines"}
    assert len(release.cells) == len(LINES)


def test_both_datasets_in_one_directory_must_be_chosen(tmp_path):
    root = write_gdsc_release(tmp_path / "gdsc", dataset="GDSC2")
    write_gdsc_release(root, dataset="GDSC1")
    with pytest.raises(TableError, match="both GDSC1 and GDSC2"):
        read_gdsc_release(root, DropLog())
    release = read_gdsc_release(root, DropLog(), dataset="GDSC1")
    assert release.responses.drug_id.str.startswith("GDSC1:").all()


def test_cell_lines_details_header_breaks_and_total_row(tmp_path):
    drops = DropLog()
    cells = read_cell_lines_details(write_cell_lines_details(tmp_path / "cld.csv"), drops)
    assert len(cells) == len(LINES) and "TOTAL:" not in set(cells.cell_name)
    total = drops.frame()
    assert total[["item", "reason"]].values.tolist() == [["TOTAL:", "summary row, not a cell line"]]
    row = cells.set_index("cell_name").loc["KM-H2"]
    assert (row.cosmic_id, row.tissue, row.tissue_sub_type) == (909976, "blood", "hodgkin_lymphoma")


def test_cell_lines_details_xlsx(tmp_path):
    pytest.importorskip("openpyxl")
    path = write_cell_lines_details(tmp_path / "Cell_Lines_Details.xlsx")
    raw = read_official(path)
    assert "GDSC Tissue descriptor 2" in raw.columns and "Drug Response" in raw.columns
    drops = DropLog()
    cells = read_cell_lines_details(path, drops)
    assert len(cells) == len(LINES) and drops.frame()["item"].tolist() == ["TOTAL:"]
    assert cells.set_index("cell_name").loc["T-T"].cosmic_id == 1299064


def test_gdsc_release_xlsx(tmp_path):
    pytest.importorskip("openpyxl")
    release = read_gdsc_release(write_gdsc_release(tmp_path / "gdsc", xlsx=True), DropLog())
    assert len(release.responses) == (len(LINES) + 1) * len(GDSC_DRUGS) - 1
    assert release.files["responses"].suffix == ".xlsx"
    assert release.responses.drug_id.iloc[0] == "GDSC2:1168"


def test_xlsx_without_openpyxl_says_how_to_install(tmp_path, monkeypatch):
    path = tmp_path / "Cell_Lines_Details.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a workbook")
    real_import = builtins.__import__

    def no_openpyxl(name, *args, **kwargs):
        if name == "openpyxl":
            raise ImportError("No module named 'openpyxl'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openpyxl)
    with pytest.raises(TableError, match=r"pip install -e '\.\[xlsx\]'") as err:
        read_official(path)
    assert str(path) in str(err.value)


def test_screened_compounds_split_quoted_synonyms(tmp_path):
    root = write_gdsc_release(tmp_path / "gdsc")
    compounds = read_screened_compounds(root / "screened_compounds_rel_8.5.csv")
    erlotinib = compounds.set_index("drug_key").loc["1168"]
    assert erlotinib.synonyms == ["Tarceva", "RG-1415", "CP-358774", "OSI-774"]
    assert compounds.set_index("drug_key").loc["1005"].synonyms == ["CDDP"]


def test_crosswalk_keeps_name_twins_apart_and_links_through_cosmic(tmp_path):
    root = write_gdsc_release(tmp_path / "gdsc")
    dep = write_depmap(tmp_path / "depmap")
    release = read_gdsc_release(root, DropLog())
    crosswalk = CellCrosswalk()
    crosswalk.add_frame(read_models(dep / "Model.csv"), name_cols=("cell_name", "stripped_name"))
    crosswalk.add_frame(release.responses)
    keyed = assign_cell_ids(release.responses, crosswalk, DropLog(), "responses", "r")
    ids = keyed.groupby("cell_name").cell_id.first()
    assert ids["TT"] == "SIDM00484" and ids["T-T"] == "SIDM00322"
    assert ids["KM-H2"] == "SIDM01018" and ids["KMH-2"] == "SIDM00619"
    # DepMap ModelIDs reach the same keys; PC-14 (no SangerModelID in Model.csv) via COSMIC
    assert crosswalk.resolve(depmap="ACH-000001") == ("SIDM00484", None)
    assert crosswalk.resolve(depmap=NO_SANGER_IN_MODEL) == ("SIDM01149", None)
    assert crosswalk.resolve(depmap=DEPMAP_ONLY[0]) == (DEPMAP_ONLY[0], None)
    assert crosswalk.resolve(cosmic=909976) == ("SIDM01018", None)
    assert crosswalk.cosmic_of("SIDM00322") == 1299064
    collisions = crosswalk.name_collisions(keyed.cell_id)
    assert collisions["TT"] == ["T-T (SIDM00322)", "TT (SIDM00484)"]
    assert collisions["KMH2"] == ["KM-H2 (SIDM01018)", "KMH-2 (SIDM00619)"]
    # by name, the twins are ambiguous, never merged
    cell, reason = crosswalk.by_name("KMH2")
    assert cell is None and "SIDM00619 / SIDM01018" in reason
    assert crosswalk.by_name("a549") == ("SIDM00903", None)


def test_crosswalk_refuses_ids_that_link_two_lines():
    crosswalk = CellCrosswalk()
    crosswalk.add(sanger="SIDM00001", cosmic=1)
    crosswalk.add(sanger="SIDM00002", depmap="ACH-000001")
    crosswalk.add(cosmic=1, depmap="ACH-000001")  # a bad link joining the two
    assert crosswalk.resolve(sanger="SIDM00001") == ("SIDM00001", None)
    cell, reason = crosswalk.resolve(depmap="ACH-000001")
    assert cell is None and "SIDM00001 / SIDM00002" in reason
    drops = DropLog()
    frame = pd.DataFrame({DEPMAP: ["ACH-000001", None], "cell_name": ["X", "Y"]})
    assert assign_cell_ids(frame, crosswalk, drops, "omics", "f").empty
    assert sorted(drops.frame().item) == ["(no id) (Y)", "ACH-000001 (X)"]


@pytest.mark.parametrize("layout", ["24Q4", "25Q3"])
def test_depmap_expression_layouts(tmp_path, layout):
    drops = DropLog()
    dep = read_depmap(write_depmap(tmp_path / "d", layout=layout), ["expression"], drops)
    expr = dep.omics["expression"]
    assert expr.shape == (len(LINES) + 1, len(GENES))
    assert list(expr.columns) == ["TP53", "EGFR", "KRAS", "BRAF", "PTEN", "MYC"]
    assert expr.index.name == "depmap_id" and expr.dtypes.eq(np.float32).all()
    np.testing.assert_allclose(expr.loc["ACH-000001"].to_numpy(), expression()[0], rtol=1e-6)
    if layout == "25Q3":  # the non-default profile is dropped, counted
        row = drops.frame().iloc[0]
        assert (row["item"], row["rows"]) == ("ACH-000001", 1)
        assert "IsDefaultEntryForModel" in row["reason"]
    else:
        assert drops.frame().empty
    assert dep.models.set_index("depmap_id").loc["ACH-000003", "sanger_model_id"] == "SIDM01018"


def test_depmap_mutations_and_copy_number(tmp_path):
    drops = DropLog()
    dep = read_depmap(write_depmap(tmp_path / "d"), ["mutation", "cnv"], drops)
    mut = dep.omics["mutation"]
    assert set(mut.columns) == {"TP53", "KRAS", "BRAF", "TTN"}
    assert mut.loc["ACH-000005"].to_dict() == {"BRAF": 0, "KRAS": 1, "TP53": 1, "TTN": 1}
    assert mut["TTN"].eq(1).all() and len(mut) == len(LINES) + 1
    gene_less = drops.frame().query("item == '(no gene)'")
    assert gene_less["rows"].tolist() == [1]
    assert dep.omics["cnv"].shape == (len(LINES) + 1, len(GENES))


def test_depmap_unknown_omics_and_missing_file(tmp_path):
    root = write_depmap(tmp_path / "d")
    with pytest.raises(TableError, match="pathway"):
        read_depmap(root, ["pathway"], DropLog())
    (root / "OmicsCNGene.csv").unlink()
    with pytest.raises(TableError, match=r"no DepMap cnv file found; looked for \['OmicsCNGene"):
        read_depmap(root, ["cnv"], DropLog())


def test_prism_responses_doses_and_drops(tmp_path):
    drops = DropLog()
    release = read_prism(write_prism(tmp_path / "prism"), drops)
    r = release.responses
    assert len(r) == len(LINES) * len(PRISM_DRUGS) - 2
    reasons = drops.frame().set_index("item")["reason"]
    assert "never crosses 50%" in reasons["TT_TISSUE / BRD-K70401845-003-09-6"]
    assert "STR profiling" in reasons["TT_TISSUE / BRD-K92723993-001-05-4"]
    first = r[(r.depmap_id == "ACH-000002") & (r.drug_id == "PRISM:BRD-K70401845-003-09-6")]
    assert first.ln_ic50.iloc[0] == pytest.approx(ln_ic50(1, 0), abs=1e-6)
    # per compound and screen: HTS doses 10 .. 10/4^7, MTS 2.5 .. 2.5/4^7 (µM)
    hts = r[r.screen_id == "HTS002"]
    mts = r[r.screen_id == "MTS005"]
    assert (hts.max_conc_um == 10.0).all() and (mts.max_conc_um == 2.5).all()
    np.testing.assert_allclose(hts.min_conc_um, 10.0 / 4**7)
    drugs = release.drugs.set_index("drug_id")
    assert drugs.loc["PRISM:BRD-K92723993-001-05-4", "smiles"] == SMILES["imatinib"]
    assert release.several_smiles == ["PRISM:BRD-K92723993-001-05-4"]
    assert pd.isna(drugs.loc["PRISM:BRD-K00000000-001-01-1", "smiles"])


def test_prism_without_treatment_info_has_no_range(tmp_path):
    root = write_prism(tmp_path / "prism")
    (root / "secondary-screen-replicate-collapsed-treatment-info.csv").unlink()
    release = read_prism(root, DropLog())
    assert release.responses.max_conc_um.isna().all() and "treatment_info" not in release.files


def test_ctrp_joins_experiments_and_keys_by_unambiguous_name(tmp_path):
    drops = DropLog()
    release = read_ctrp(write_ctrp(tmp_path / "ctrp"), drops)
    r = release.responses
    # the mixture (one compound x 10 lines) and one non-positive EC50 are dropped, counted
    assert len(r) == len(LINES) * (len(CTRP_COMPOUNDS) - 1) - 1
    frame = drops.frame()
    mixture = frame[frame.reason.str.contains("mixture") & (frame.stage == "responses")]
    assert mixture["rows"].sum() == len(LINES)
    assert "CTRP:60000" not in set(release.drugs.drug_id)
    assert frame.reason.str.contains("apparent_ec50_umol missing or <= 0").sum() == 1
    erl = r[r.drug_id == "CTRP:1788"]
    assert (erl.max_conc_um == 10.0).all() and erl.min_conc_um.isna().all()
    a549 = erl[erl.cell_name == "A549"]
    assert a549.ln_ec50.iloc[0] == pytest.approx(ln_ic50(4, 0), abs=1e-6)
    # CTRP names lose punctuation: TT and KMH2 could each be two lines, so they are dropped
    crosswalk = CellCrosswalk()
    models = read_models(write_depmap(tmp_path / "d") / "Model.csv")
    crosswalk.add_frame(models, name_cols=("cell_name", "stripped_name"))
    keyed_drops = DropLog()
    keyed = key_ctrp_cells(r, crosswalk, keyed_drops, "responses", "ctrp")
    lost = keyed_drops.frame()
    assert sorted(lost["item"]) == [
        "KMH2 (CTRP 902)",
        "KMH2 (CTRP 903)",
        "TT (CTRP 900)",
        "TT (CTRP 901)",
    ]
    assert lost.reason.str.startswith("ambiguous cell name").all()
    # PC-14 has no SangerModelID in Model.csv (nor a GDSC release here to link it): COSMIC
    assert set(keyed.cell_id) == {
        "SIDM00903",
        "SIDM00148",
        "SIDM00136",
        "COSMIC:908173",
        "SIDM00200",
        "SIDM00150",
    }


def test_structures_match_by_id_name_and_synonym(tmp_path):
    release = read_gdsc_release(write_gdsc_release(tmp_path / "gdsc"), DropLog())
    match = match_structures(release.drugs, write_structures(tmp_path / "s.csv"))
    assert match.matched_by == {
        "GDSC2:1168": "drug_name",
        "GDSC2:1079": "drug_name",
        "GDSC2:1073": "synonym",
        "GDSC2:1005": "drug_id",
        "GDSC2:1135": "drug_name",
        "GDSC2:1497": "drug_name",
    }
    assert match.smiles["GDSC2:1135"] == match.smiles["GDSC2:1497"] == AZD4547
    assert match.unused == 1  # aspirin: screened by no one here
    conflict = tmp_path / "conflict.csv"
    conflict.write_text(f"drug_name,smiles\nErlotinib,{SMILES['erlotinib']}\nerlotinib,CCO\n")
    with pytest.raises(TableError, match="GDSC2:1168 is given two different SMILES"):
        match_structures(release.drugs, conflict)


@pytest.mark.parametrize("sep,decimal", [("\t", "."), (";", ",")])
def test_gdsc_release_resaved_as_tsv_or_european_csv(tmp_path, sep, decimal):
    root = write_gdsc_release(tmp_path / "gdsc")
    path = next(root.glob("GDSC2_fitted_dose_response*.csv"))
    frame = pd.read_csv(path)
    path.unlink()
    frame.to_csv(root / "GDSC2_fitted_dose_response_27Oct23.tsv", sep=sep, decimal=decimal)
    r = read_gdsc_release(root, DropLog()).responses
    assert len(r) == (len(LINES) + 1) * len(GDSC_DRUGS) - 1
    assert r.max_conc_um.eq(MAX_CONC).all() and r.min_conc_um.eq(MIN_CONC).all()


def test_a_header_longer_than_the_sniffed_sample_reads(tmp_path):
    genes = [f"GENE{i} ({1000 + i})" for i in range(8000)]  # ~130 kB of header
    frame = pd.DataFrame(np.arange(16000.0).reshape(2, 8000) / 7, columns=genes)
    frame.insert(0, "", ["ACH-000001", "ACH-000002"])
    (tmp_path / "OmicsCNGene.csv").write_text(frame.to_csv(index=False))
    matrix = read_depmap(tmp_path, ["cnv"], DropLog()).omics["cnv"]
    assert matrix.shape == (2, 8000) and matrix.columns[-1] == "GENE7999"
    assert matrix.loc["ACH-000002", "GENE0"] == pytest.approx(8000 / 7, rel=1e-6)


def test_readers_load_no_torch_and_no_rdkit():
    code = (
        "import sys, drp.data.readers\n"
        "heavy = sorted(m for m in ('torch', 'rdkit') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)

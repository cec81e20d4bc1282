"""Readers of the official GDSC release files, keyed by official ids.

Files (CSV, TSV or XLSX; found in a directory by name, or given directly):

- ``GDSC1_fitted_dose_response_<date>`` / ``GDSC2_...``: one fitted curve per row; columns
  ``DATASET, COSMIC_ID, CELL_LINE_NAME, SANGER_MODEL_ID, DRUG_ID, DRUG_NAME, MIN_CONC,
  MAX_CONC, LN_IC50, ...``. ``LN_IC50`` is the natural log of the IC50 in µM and may be
  extrapolated beyond ``MAX_CONC``: it is kept as it is (flagging it is not a reader's job).
- ``screened_compounds_rel_8.x.csv`` (optional): ``DRUG_ID, SCREENING_SITE, DRUG_NAME, SYNONYMS,
  TARGET, TARGET_PATHWAY``; names and synonyms help match user-given structures.
- ``Cell_Lines_Details`` (optional): header cells hold line breaks (``GDSC\\r\\nTissue
  descriptor 1``), which are read as single spaces; the last row is a ``TOTAL:`` summary.

Decisions on ambiguous points:

- ``drug_id`` is ``<DATASET>:<DRUG_ID>`` (``GDSC2:1003``), the dataset taken per row from
  ``DATASET``, else from the file name. Names are stripped of surrounding spaces; one name may
  carry several DRUG_IDs (AZD4547: 1135, 1497, 1786): they stay distinct drugs.
- Cells are keyed later through :mod:`drp.data.readers.cells` from ``SANGER_MODEL_ID`` and
  ``COSMIC_ID``; ``CELL_LINE_NAME`` is a label.
- Tissue is ``GDSC Tissue descriptor 1``, its sub-type ``GDSC Tissue descriptor 2`` (the
  vocabulary of the built-in data). Cell_Lines_Details rows without a COSMIC identifier (the
  ``TOTAL:`` row) are dropped and counted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from drp.data.readers.cells import COSMIC, NAME, SANGER
from drp.data.readers.files import (
    cosmic_id,
    find_file,
    find_optional,
    id_text,
    pick_column,
    read_official,
    require,
    sanger_id,
    text,
)
from drp.data.tables import TableError
from drp.data.validation import DropLog

DATASETS = ("GDSC1", "GDSC2")
RESPONSE_COLUMN = "LN_IC50"
COMPOUNDS_STEMS = ("screened_compounds_rel_*", "screened_compounds*")
CELL_DETAILS_STEMS = ("Cell_Lines_Details*",)


def dose_response_stems(dataset: str | None) -> tuple[str, ...]:
    """Name patterns of the fitted dose-response file of ``dataset`` (either when None)."""
    names = [dataset] if dataset else list(DATASETS)
    return tuple(f"{name}_fitted_dose_response*" for name in names)


@dataclass
class GdscRelease:
    """The GDSC files of one directory as plain frames.

    Attributes:
        responses: ``sanger_model_id, cosmic_id, cell_name, drug_id, drug_name, ln_ic50,
            min_conc_um, max_conc_um, tcga_desc`` (one row per fitted curve).
        drugs: ``drug_id, drug_name, synonyms, target, pathway`` (synonyms: list of names).
        cells: Cell_Lines_Details as ``cosmic_id, cell_name, tissue, tissue_sub_type,
            tcga_label``, or None without that file.
        files: role -> path of every file read.
    """

    responses: pd.DataFrame
    drugs: pd.DataFrame
    cells: pd.DataFrame | None
    files: dict[str, Path] = field(default_factory=dict)


def read_gdsc_release(
    source: Path | str, drops: DropLog, dataset: str | None = None
) -> GdscRelease:
    """Read a GDSC release directory (or a fitted dose-response file).

    Args:
        source: directory holding ``GDSC<n>_fitted_dose_response*`` and optionally
            ``screened_compounds_rel_*`` and ``Cell_Lines_Details*``; or that response file.
        drops: receives every removed row with its reason.
        dataset: ``GDSC1`` or ``GDSC2`` when the directory holds both.
    """
    if dataset is not None and dataset not in DATASETS:
        raise TableError(f"unknown GDSC dataset {dataset!r}; choose from {list(DATASETS)}")
    source = Path(source)
    if source.is_dir() and dataset is None:
        found = [find_optional(source, dose_response_stems(d), f"{d} responses") for d in DATASETS]
        if all(found):
            raise TableError(
                f"{source}: holds both GDSC1 and GDSC2 fitted dose responses "
                f"({found[0].name}, {found[1].name}); choose one (gdsc_dataset='GDSC2')"
            )
    path = find_file(source, dose_response_stems(dataset), "GDSC fitted dose-response file")
    files = {"responses": path}
    responses = read_fitted_dose_response(path, drops)
    directory = source if source.is_dir() else source.parent
    compounds = None
    if (
        compounds_path := find_optional(directory, COMPOUNDS_STEMS, "screened compounds")
    ) is not None:
        files["compounds"] = compounds_path
        compounds = read_screened_compounds(compounds_path)
    cells = None
    if (
        cells_path := find_optional(directory, CELL_DETAILS_STEMS, "cell line details")
    ) is not None:
        files["cell_lines"] = cells_path
        cells = read_cell_lines_details(cells_path, drops)
    return GdscRelease(responses, _drug_table(responses, compounds), cells, files)


def _dataset_of(path: Path) -> str:
    match = re.match(r"(GDSC\d)", path.name, re.I)
    return match.group(1).upper() if match else "GDSC"


def read_fitted_dose_response(path: Path, drops: DropLog) -> pd.DataFrame:
    """One GDSC fitted dose-response file as ``sanger_model_id, cosmic_id, cell_name, drug_id,
    drug_name, ln_ic50, min_conc_um, max_conc_um, tcga_desc``.

    Rows without a drug id or with a non-finite ``LN_IC50`` are dropped and counted.
    """
    frame = read_official(path)
    frame.columns = [c.upper() for c in frame.columns]
    require(frame, ["DRUG_ID", RESPONSE_COLUMN], path)
    if "SANGER_MODEL_ID" not in frame.columns and "COSMIC_ID" not in frame.columns:
        raise TableError(
            f"{path}: needs SANGER_MODEL_ID or COSMIC_ID to identify cell lines; columns "
            f"present: {list(frame.columns)[:30]}"
        )
    n = len(frame)

    def column(name: str) -> pd.Series:
        return frame[name] if name in frame.columns else pd.Series([None] * n, index=frame.index)

    dataset = (
        column("DATASET").map(text).fillna(_dataset_of(path))
        if "DATASET" in frame.columns
        else pd.Series([_dataset_of(path)] * n, index=frame.index)
    )
    keys = frame["DRUG_ID"].map(id_text)
    out = pd.DataFrame(
        {
            SANGER: column("SANGER_MODEL_ID").map(sanger_id),
            COSMIC: pd.array(column("COSMIC_ID").map(cosmic_id), dtype="Int64"),
            NAME: column("CELL_LINE_NAME").map(text),
            "drug_id": dataset.str.upper() + ":" + keys.fillna(""),
            "drug_name": column("DRUG_NAME").map(text),
            "ln_ic50": pd.to_numeric(frame[RESPONSE_COLUMN], errors="coerce").astype(float),
            "min_conc_um": pd.to_numeric(column("MIN_CONC"), errors="coerce").astype(float),
            "max_conc_um": pd.to_numeric(column("MAX_CONC"), errors="coerce").astype(float),
            "tcga_desc": column("TCGA_DESC").map(text),
        }
    )
    label = out[NAME].fillna("?") + " / " + frame["DRUG_ID"].astype(str)
    no_drug = keys.isna().to_numpy()
    bad_value = ~np.isfinite(out["ln_ic50"].to_numpy()) & ~no_drug
    _count(drops, str(path), label[no_drug], "missing DRUG_ID")
    _count(drops, str(path), label[bad_value], f"non-finite {RESPONSE_COLUMN}")
    return out[~no_drug & ~bad_value].reset_index(drop=True)


def _count(drops: DropLog, source: str, labels: pd.Series, reason: str) -> None:
    """One DropLog row per distinct label, with its number of table rows."""
    for label, n in labels.value_counts(sort=False).sort_index().items():
        drops.add("responses", source, str(label), reason, int(n))


def read_screened_compounds(path: Path) -> pd.DataFrame:
    """``screened_compounds_rel_8.x.csv`` as ``drug_key, drug_name, synonyms, target, pathway``
    (``drug_key``: the bare DRUG_ID; ``synonyms``: list of names, split on commas)."""
    frame = read_official(path)
    frame.columns = [c.upper() for c in frame.columns]
    require(frame, ["DRUG_ID", "DRUG_NAME"], path)
    synonyms = frame["SYNONYMS"] if "SYNONYMS" in frame.columns else pd.Series([None] * len(frame))
    out = pd.DataFrame(
        {
            "drug_key": frame["DRUG_ID"].map(id_text),
            "drug_name": frame["DRUG_NAME"].map(text),
            "synonyms": [
                [s for s in (text(p) for p in str(v).split(",")) if s] if text(v) else []
                for v in synonyms
            ],
            "target": frame.get("TARGET", pd.Series([None] * len(frame))).map(text),
            "pathway": frame.get("TARGET_PATHWAY", pd.Series([None] * len(frame))).map(text),
        }
    )
    return out.dropna(subset=["drug_key"]).reset_index(drop=True)


def _drug_table(responses: pd.DataFrame, compounds: pd.DataFrame | None) -> pd.DataFrame:
    """One row per drug id of the responses, with the names a structure may be given by."""
    first = responses.groupby("drug_id", sort=True)["drug_name"].first()
    drugs = pd.DataFrame({"drug_id": first.index, "drug_name": first.to_numpy()})
    drugs["synonyms"] = [[] for _ in range(len(drugs))]
    drugs["target"] = None
    drugs["pathway"] = None
    if compounds is None:
        return drugs
    info = compounds.groupby("drug_key").agg(
        names=("drug_name", lambda s: [v for v in s if v]),
        synonyms=("synonyms", lambda s: [v for lst in s for v in lst]),
        target=("target", "first"),
        pathway=("pathway", "first"),
    )
    keys = drugs.drug_id.str.split(":", n=1).str[1]
    for i, key in enumerate(keys):
        if key not in info.index:
            continue
        row = info.loc[key]
        names = [*row["names"], *row["synonyms"]]
        if drugs.at[i, "drug_name"] is None and row["names"]:
            drugs.at[i, "drug_name"] = row["names"][0]
        drugs.at[i, "synonyms"] = [n for n in dict.fromkeys(names) if n != drugs.at[i, "drug_name"]]
        drugs.at[i, "target"] = row["target"]
        drugs.at[i, "pathway"] = row["pathway"]
    return drugs


def read_cell_lines_details(path: Path, drops: DropLog) -> pd.DataFrame:
    """``Cell_Lines_Details`` as ``cosmic_id, cell_name, tissue, tissue_sub_type, tcga_label``.

    Rows without a COSMIC identifier (the ``TOTAL:`` summary row) are dropped and counted; a
    COSMIC id listed twice with different annotations is dropped and counted.
    """
    frame = read_official(path)
    cosmic_col = pick_column(frame, ["COSMIC identifier", "COSMIC_ID", "COSMIC ID"], path)
    name_col = pick_column(frame, ["Sample Name", "CELL_LINE_NAME", "Cell line name"], path)
    tissue_col = pick_column(
        frame, ["GDSC Tissue descriptor 1", "GDSC Tissue descriptor1", "Tissue"], path
    )
    sub_col = _optional_column(frame, ["GDSC Tissue descriptor 2", "GDSC Tissue descriptor2"])
    tcga_col = _optional_column(
        frame, ["Cancer Type (matching TCGA label)", "Cancer Type", "TCGA_DESC"]
    )
    out = pd.DataFrame(
        {
            COSMIC: pd.array(frame[cosmic_col].map(cosmic_id), dtype="Int64"),
            NAME: frame[name_col].map(text),
            "tissue": frame[tissue_col].map(text),
            "tissue_sub_type": frame[sub_col].map(text) if sub_col else None,
            "tcga_label": frame[tcga_col].map(text) if tcga_col else None,
        }
    )
    no_id = out[COSMIC].isna().to_numpy()
    for name in out[NAME][no_id].fillna("(blank row)"):
        reason = (
            "summary row, not a cell line"
            if str(name).upper().startswith("TOTAL")
            else "no COSMIC identifier"
        )
        drops.add("tissues", str(path), str(name), reason)
    out = out[~no_id].drop_duplicates()
    dup = out[COSMIC][out[COSMIC].duplicated()].unique().tolist()
    for value in dup:
        drops.add("tissues", str(path), f"COSMIC:{value}", "listed twice with different details")
    return out[~out[COSMIC].isin(dup)].reset_index(drop=True)


def _optional_column(frame: pd.DataFrame, candidates: list[str]) -> str | None:
    by_lower = {c.lower(): c for c in frame.columns}
    return next((by_lower[c.lower()] for c in candidates if c.lower() in by_lower), None)

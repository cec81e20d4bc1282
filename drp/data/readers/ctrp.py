"""Reader of the CTRPv2 release (CTD² portal), keyed by official ids where CTRP allows.

Files (tab-separated; found in a directory by name, or given directly as the curves file):

- ``v20.data.curves_post_qc.txt``: ``experiment_id, master_cpd_id, apparent_ec50_umol,
  area_under_curve, ...`` (one fitted curve per experiment and compound).
- ``v20.meta.per_experiment.txt``: ``experiment_id, master_ccl_id, ...`` (several rows per
  experiment: one per run).
- ``v20.meta.per_compound.txt``: ``master_cpd_id, cpd_name, cpd_smiles, top_test_conc_umol, ...``.
- ``v20.meta.per_cell_line.txt``: ``master_ccl_id, ccl_name, ccle_primary_site, ...``.

Decisions on ambiguous points:

- CTRP reports potency as an EC50: the response is ln(``apparent_ec50_umol``), and the
  dataset's ``sources`` say so. A non-positive or missing EC50 is dropped and counted.
- ``drug_id`` is ``CTRP:<master_cpd_id>``. Compound mixtures (``cpd_name`` like
  ``navitoclax:gemcitabine (1:1 mol/mol)``) are not one structure: dropped and counted.
- ``max_conc_um`` is ``top_test_conc_umol``, from the curves file where it has the column,
  else from the compound table; ``min_conc_um`` is NaN (the files give no lowest dose).
- CTRP lines carry no official id (``master_ccl_id`` is CTRP's own): the caller keys them by
  name through ``Model.csv`` (:meth:`drp.data.readers.cells.CellCrosswalk.by_name`) and drops
  a name that matches no line, or several, with that reason.
- Files are read without quote handling: CTRP text fields hold stray quote marks.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from drp.data.readers.cells import CellCrosswalk
from drp.data.readers.files import (
    clean_name,
    find_file,
    id_text,
    positive_log,
    read_official,
    require,
    text,
)
from drp.data.tables import TableError
from drp.data.validation import DropLog

CURVES_STEMS = ("v20.data.curves_post_qc", "*curves_post_qc*")
EXPERIMENT_STEMS = ("v20.meta.per_experiment", "*per_experiment*")
COMPOUND_STEMS = ("v20.meta.per_compound", "*per_compound*")
CELL_LINE_STEMS = ("v20.meta.per_cell_line", "*per_cell_line*")
RESPONSE_COLUMN = "apparent_ec50_umol"
MIXTURE = re.compile(r"\(\s*\d+(?:\.\d+)?\s*:\s*\d+(?:\.\d+)?\s*mol/mol\s*\)", re.I)


@dataclass
class CtrpRelease:
    """The CTRP files as plain frames.

    Attributes:
        responses: ``ctrp_cell_id, cell_name, drug_id, drug_name, ln_ec50, min_conc_um,
            max_conc_um``.
        drugs: ``drug_id, drug_name, smiles`` (smiles may be missing).
        cells: ``ctrp_cell_id, cell_name, tissue`` (CTRP's own primary site).
        files: role -> path of every file read.
    """

    responses: pd.DataFrame
    drugs: pd.DataFrame
    cells: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)


def _read(path: Path) -> pd.DataFrame:
    """A CTRP table: tab files without quote handling, anything else as sniffed."""
    if path.name.lower().endswith((".txt", ".tsv", ".txt.gz", ".tsv.gz")):
        try:
            frame = pd.read_csv(path, sep="\t", quoting=csv.QUOTE_NONE, low_memory=False)
        except Exception as exc:  # pandas raises many types; report them uniformly
            raise TableError(f"{path}: could not be read ({type(exc).__name__}: {exc})") from exc
        frame.columns = [clean_name(c) for c in frame.columns]
        if frame.empty:
            raise TableError(f"{path}: table has no rows")
        return frame
    return read_official(path)


def read_ctrp(source: Path | str, drops: DropLog) -> CtrpRelease:
    """Read CTRPv2 curves with their experiment, compound and cell-line tables."""
    source = Path(source)
    directory = source if source.is_dir() else source.parent
    paths = {
        "responses": find_file(source, CURVES_STEMS, "CTRP curves (v20.data.curves_post_qc)"),
        "experiments": find_file(directory, EXPERIMENT_STEMS, "CTRP per-experiment table"),
        "compounds": find_file(directory, COMPOUND_STEMS, "CTRP per-compound table"),
        "cell_lines": find_file(directory, CELL_LINE_STEMS, "CTRP per-cell-line table"),
    }
    curves = _read(paths["responses"])
    require(curves, ["experiment_id", "master_cpd_id", RESPONSE_COLUMN], paths["responses"])
    compounds = _read(paths["compounds"])
    require(compounds, ["master_cpd_id", "cpd_name"], paths["compounds"])
    cell_lines = _read(paths["cell_lines"])
    require(cell_lines, ["master_ccl_id", "ccl_name"], paths["cell_lines"])

    cells = pd.DataFrame(
        {
            "ctrp_cell_id": cell_lines["master_ccl_id"].map(id_text),
            "cell_name": cell_lines["ccl_name"].map(text),
            "tissue": (
                cell_lines["ccle_primary_site"].map(text)
                if "ccle_primary_site" in cell_lines
                else None
            ),
        }
    ).drop_duplicates(subset="ctrp_cell_id")
    drugs = pd.DataFrame(
        {
            "drug_id": "CTRP:" + compounds["master_cpd_id"].map(id_text).fillna(""),
            "drug_name": compounds["cpd_name"].map(text),
            "smiles": compounds["cpd_smiles"].map(text) if "cpd_smiles" in compounds else None,
            "top_conc": (
                pd.to_numeric(compounds["top_test_conc_umol"], errors="coerce")
                if "top_test_conc_umol" in compounds
                else np.nan
            ),
        }
    ).drop_duplicates(subset="drug_id")

    experiments = _experiment_cells(curves, paths["experiments"])
    responses = pd.DataFrame(
        {
            "experiment_id": curves["experiment_id"].map(id_text),
            "drug_id": "CTRP:" + curves["master_cpd_id"].map(id_text).fillna(""),
            "ln_ec50": positive_log(curves[RESPONSE_COLUMN]),
            "top_curve": (
                pd.to_numeric(curves["top_test_conc_umol"], errors="coerce")
                if "top_test_conc_umol" in curves
                else np.nan
            ),
        }
    )
    if "master_ccl_id" in curves.columns:
        responses["ctrp_cell_id"] = curves["master_ccl_id"].map(id_text)
    else:
        responses = responses.merge(experiments, on="experiment_id", how="left")
    responses = responses.merge(
        drugs[["drug_id", "drug_name", "top_conc"]], on="drug_id", how="left"
    ).merge(cells[["ctrp_cell_id", "cell_name"]], on="ctrp_cell_id", how="left")
    responses["max_conc_um"] = responses["top_curve"].fillna(responses["top_conc"]).astype(float)
    responses["min_conc_um"] = np.nan

    src = str(paths["responses"])
    label = responses["cell_name"].fillna(responses["ctrp_cell_id"].astype(str)) + " / "
    label += responses["drug_id"]
    no_cell = responses["ctrp_cell_id"].isna().to_numpy()
    mixture_ids = set(drugs.drug_id[drugs.drug_name.fillna("").str.contains(MIXTURE)])
    mixture = responses["drug_id"].isin(mixture_ids).to_numpy() & ~no_cell
    bad_value = ~np.isfinite(responses["ln_ec50"].to_numpy()) & ~no_cell & ~mixture
    for mask, reason in (
        (no_cell, "experiment_id has no master_ccl_id in the per-experiment table"),
        (mixture, "compound mixture (X:Y mol/mol), not one structure"),
        (bad_value, f"{RESPONSE_COLUMN} missing or <= 0"),
    ):
        for item, n in label[mask].value_counts(sort=False).sort_index().items():
            drops.add("responses", src, str(item), reason, int(n))
    for drug in sorted(mixture_ids):
        drops.add("drugs", str(paths["compounds"]), drug, "compound mixture, not one structure")
    keep = ~(no_cell | mixture | bad_value)
    responses = responses[keep].reset_index(drop=True)
    columns = ["ctrp_cell_id", "cell_name", "drug_id", "drug_name", "ln_ec50"]
    responses = responses[[*columns, "min_conc_um", "max_conc_um"]]
    drugs = drugs[~drugs.drug_id.isin(mixture_ids)][["drug_id", "drug_name", "smiles"]]
    return CtrpRelease(responses, drugs.reset_index(drop=True), cells, paths)


def _experiment_cells(curves: pd.DataFrame, path: Path) -> pd.DataFrame:
    """``experiment_id -> ctrp_cell_id``; an experiment listed with two cell lines raises."""
    if "master_ccl_id" in curves.columns:
        return pd.DataFrame(columns=["experiment_id", "ctrp_cell_id"])
    table = _read(path)
    require(table, ["experiment_id", "master_ccl_id"], path)
    pairs = pd.DataFrame(
        {
            "experiment_id": table["experiment_id"].map(id_text),
            "ctrp_cell_id": table["master_ccl_id"].map(id_text),
        }
    ).drop_duplicates()
    dup = pairs.experiment_id[pairs.experiment_id.duplicated()].unique().tolist()
    if dup:
        raise TableError(f"{path}: experiment(s) listed with several cell lines: {dup[:10]}")
    return pairs


def key_ctrp_cells(
    frame: pd.DataFrame, crosswalk: CellCrosswalk, drops: DropLog, stage: str, source: str
) -> pd.DataFrame:
    """``frame`` (with ``ctrp_cell_id, cell_name``) with the ``cell_id`` of the one known line
    whose name normalises alike; lines matching none, or several, are dropped and counted."""
    answers = {
        name: crosswalk.by_name(name) for name in frame["cell_name"].dropna().unique().tolist()
    }
    ids = frame["cell_name"].map(lambda n: answers.get(n, (None, None))[0])
    reasons = frame["cell_name"].map(
        lambda n: answers.get(n, (None, "cell line has no name in the per-cell-line table"))[1]
    )
    bad = ids.isna()
    label = frame["cell_name"].fillna("?") + " (CTRP " + frame["ctrp_cell_id"].astype(str) + ")"
    counts = pd.DataFrame({"label": label[bad], "reason": reasons[bad]}).value_counts(sort=False)
    for (item, reason), n in counts.sort_index().items():
        drops.add(stage, source, str(item), str(reason), int(n))
    return frame[~bad].assign(cell_id=ids[~bad].astype(str)).reset_index(drop=True)

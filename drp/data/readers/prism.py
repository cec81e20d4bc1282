"""Reader of the PRISM Repurposing secondary screen, keyed by official ids.

Files (found in a directory by name, or given directly):

- dose-response curve parameters (``secondary-screen-dose-response-curve-parameters.csv``):
  ``broad_id, depmap_id, ccle_name, screen_id, upper_limit, lower_limit, slope, r2, auc, ec50,
  ic50, name, moa, target, disease.area, indication, smiles, phase, passed_str_profiling,
  row_name``; ``ic50`` in µM, NaN when the fitted curve never crosses 50 %.
- treatment info (``secondary-screen-replicate-collapsed-treatment-info.csv``, optional):
  ``broad_id, dose, screen_id, ...`` with doses in µM.

Decisions on ambiguous points:

- The response is ln(``ic50``). A curve without an IC50 (NaN: it never crosses 50 %) is
  dropped and counted, never imputed; so is a row with ``passed_str_profiling`` False (its
  cell line's identity was not confirmed).
- ``drug_id`` is ``PRISM:<broad_id>`` as written. One compound measured in several screens
  (HTS, MTS) gives replicates of one pair, averaged later.
- The screened range of a row is the min/max ``dose`` of its compound in its screen when both
  files carry ``screen_id``, else of its compound over all screens; NaN without the file.
- ``smiles`` sometimes lists several structures separated by commas: the first is used (a
  comma is never part of a SMILES), and the drug counts in ``several_smiles``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from drp.data.readers.cells import DEPMAP, NAME
from drp.data.readers.files import (
    depmap_id,
    find_file,
    find_optional,
    positive_log,
    read_official,
    require,
    text,
)
from drp.data.validation import DropLog

CURVE_STEMS = (
    "secondary-screen-dose-response-curve-parameters",
    "*dose-response-curve-parameters*",
    "*dose_response_curve_parameters*",
)
TREATMENT_STEMS = (
    "secondary-screen-replicate-collapsed-treatment-info",
    "*treatment-info*",
    "*treatment_info*",
)
RESPONSE_COLUMN = "ic50"


@dataclass
class PrismRelease:
    """The PRISM files as plain frames.

    Attributes:
        responses: ``depmap_id, cell_name, drug_id, drug_name, ln_ic50, min_conc_um,
            max_conc_um, screen_id``.
        drugs: ``drug_id, drug_name, smiles, moa, target`` (smiles may be missing).
        files: role -> path of every file read.
        several_smiles: drug ids whose ``smiles`` field listed several structures.
    """

    responses: pd.DataFrame
    drugs: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    several_smiles: list[str] = field(default_factory=list)


def read_prism(source: Path | str, drops: DropLog) -> PrismRelease:
    """Read the PRISM secondary-screen curves (and doses, when present) in ``source``."""
    source = Path(source)
    path = find_file(source, CURVE_STEMS, "PRISM dose-response curve parameters")
    files = {"responses": path}
    frame = read_official(path)
    require(frame, ["broad_id", "depmap_id", RESPONSE_COLUMN], path)
    n = len(frame)

    def column(name: str) -> pd.Series:
        return frame[name] if name in frame.columns else pd.Series([None] * n, index=frame.index)

    broad = frame["broad_id"].map(text)
    out = pd.DataFrame(
        {
            DEPMAP: frame["depmap_id"].map(depmap_id),
            NAME: column("ccle_name").map(text),
            "drug_id": "PRISM:" + broad.fillna(""),
            "drug_name": column("name").map(text),
            "ln_ic50": positive_log(frame[RESPONSE_COLUMN]),
            "screen_id": column("screen_id").map(text),
        }
    )
    label = out[NAME].fillna(frame["depmap_id"].astype(str)) + " / " + broad.fillna("?")
    raw = pd.to_numeric(frame[RESPONSE_COLUMN], errors="coerce").to_numpy(dtype=float)
    no_drug = broad.isna().to_numpy()
    str_failed = _false(column("passed_str_profiling")) & ~no_drug
    not_reached = np.isnan(raw) & ~no_drug & ~str_failed
    bad_value = ~np.isfinite(out["ln_ic50"].to_numpy()) & ~no_drug & ~str_failed & ~not_reached
    for mask, reason in (
        (no_drug, "missing broad_id"),
        (str_failed, "cell line failed STR profiling (passed_str_profiling is False)"),
        (not_reached, "IC50 not reached (the curve never crosses 50%)"),
        (bad_value, "IC50 <= 0 or not a number"),
    ):
        for item, count in label[mask].value_counts(sort=False).sort_index().items():
            drops.add("responses", str(path), str(item), reason, int(count))
    keep = ~(no_drug | str_failed | not_reached | bad_value)
    out = out[keep].reset_index(drop=True)
    drug_rows = frame[keep].reset_index(drop=True)

    treatment = find_optional(
        source if source.is_dir() else source.parent, TREATMENT_STEMS, "treatment info"
    )
    out["min_conc_um"] = np.nan
    out["max_conc_um"] = np.nan
    if treatment is not None:
        files["treatment_info"] = treatment
        out = _with_doses(out, treatment)
    drugs, several = _drug_table(out, drug_rows)
    return PrismRelease(out, drugs, files, several)


def _false(values: pd.Series) -> np.ndarray:
    """True where a flag is explicitly false (``False``, ``FALSE``, ``0``, ``no``)."""
    return values.astype(str).str.strip().str.lower().isin({"false", "0", "no", "f"}).to_numpy()


def _with_doses(responses: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Add ``min_conc_um, max_conc_um`` from the treatment info's doses (µM)."""
    doses = read_official(path)
    require(doses, ["broad_id", "dose"], path)
    doses = pd.DataFrame(
        {
            "drug_id": "PRISM:" + doses["broad_id"].map(text).fillna(""),
            "dose": pd.to_numeric(doses["dose"], errors="coerce"),
            "screen_id": doses["screen_id"].map(text) if "screen_id" in doses else None,
        }
    ).dropna(subset=["dose"])
    columns = ["min_conc_um", "max_conc_um"]
    overall = doses.groupby("drug_id").dose.agg(min_conc_um="min", max_conc_um="max")
    out = responses.drop(columns=columns).merge(overall.reset_index(), on="drug_id", how="left")
    if doses["screen_id"].notna().any() and responses["screen_id"].notna().any():
        keys = ["drug_id", "screen_id"]
        per_screen = doses.groupby(keys).dose.agg(min_conc_um="min", max_conc_um="max")
        found = out[keys].merge(per_screen.reset_index(), on=keys, how="left")
        has = found["max_conc_um"].notna().to_numpy()  # else the compound's range over screens
        out.loc[has, columns] = found.loc[has, columns].to_numpy()
    return out


def _drug_table(responses: pd.DataFrame, rows: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """One row per drug: its name, its first listed structure, mechanism and target."""
    n = len(rows)

    def column(name: str) -> pd.Series:
        return rows[name].map(text) if name in rows.columns else pd.Series([None] * n)

    table = pd.DataFrame(
        {
            "drug_id": responses["drug_id"].to_numpy(),
            "drug_name": responses["drug_name"].to_numpy(),
            "smiles_field": column("smiles").to_numpy(),
            "moa": column("moa").to_numpy(),
            "target": column("target").to_numpy(),
        }
    )
    first = table.groupby("drug_id", sort=True).agg(
        {c: "first" for c in ("drug_name", "smiles_field", "moa", "target")}
    )
    several = sorted(i for i, s in first.smiles_field.items() if isinstance(s, str) and "," in s)
    first["smiles"] = [
        text(s.split(",")[0]) if isinstance(s, str) else None for s in first.smiles_field
    ]
    drugs = first.drop(columns="smiles_field").reset_index()
    return drugs[["drug_id", "drug_name", "smiles", "moa", "target"]], several

"""Response, omics and drug tables: reading, id normalisation, validation and counted drops.

Every row that is removed is recorded in a :class:`DropLog` with the file, the id and the reason,
so a featurization report can say exactly what was lost and why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


class TableError(ValueError):
    """A user table is unusable; the message names the file and the column or ids."""


def normalize_cell_id(name: object) -> str:
    """Cell-line id without case or punctuation: ``'CAL-120'`` and ``'Cal120'`` -> ``'CAL120'``."""
    return re.sub(r"[^A-Z0-9]", "", str(name).upper())


def normalize_drug_id(name: object) -> str:
    """Drug id with surrounding whitespace removed (names differ only in real chemistry)."""
    return str(name).strip()


@dataclass
class DropLog:
    """Counted drops: one row per removed item with the stage, source and reason."""

    rows: list[dict[str, object]] = field(default_factory=list)

    def add(self, stage: str, source: str, item: str, reason: str, rows: int = 1) -> None:
        """Record one dropped item; ``rows`` is how many table rows went with it."""
        self.rows.append(
            {"stage": stage, "source": source, "item": item, "reason": reason, "rows": rows}
        )

    def add_many(self, stage: str, source: str, items: list[str], reason: str) -> None:
        for item in items:
            self.add(stage, source, item, reason)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["stage", "source", "item", "reason", "rows"])

    def summary(self) -> pd.DataFrame:
        """Items and rows dropped per (stage, source, reason)."""
        return summarise_drops(self.frame())


def summarise_drops(frame: pd.DataFrame) -> pd.DataFrame:
    """Group a drop table into ``stage, source, reason, items, rows``."""
    if frame.empty:
        return pd.DataFrame(columns=["stage", "source", "reason", "items", "rows"])
    grouped = frame.groupby(["stage", "source", "reason"])
    return grouped.agg(items=("item", "size"), rows=("rows", "sum")).reset_index()


def read_table(path: Path) -> pd.DataFrame:
    """Read CSV, TSV or parquet by extension; empty or unreadable files raise TableError."""
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise TableError(f"{path}: file is empty")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith(".parquet"):
            frame = pd.read_parquet(path)
        elif suffixes.endswith((".tsv", ".tsv.gz", ".txt")):
            frame = pd.read_csv(path, sep="\t")
        else:
            frame = pd.read_csv(path)
    except Exception as exc:  # pandas raises many types; report them uniformly
        raise TableError(f"{path}: could not be read ({type(exc).__name__}: {exc})") from exc
    if frame.empty:
        raise TableError(f"{path}: table has no rows")
    return frame


def require_columns(frame: pd.DataFrame, columns: list[str], source: str) -> None:
    """Raise TableError naming the missing columns and those that are present."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TableError(
            f"{source}: missing column(s) {missing}; columns present: {list(frame.columns)}"
        )


IC50_UNITS = {"ln_ic50": None, "ic50_m": 1e6, "ic50_mm": 1e3, "ic50_um": 1.0, "ic50_nm": 1e-3}


def responses_from_frame(
    frame: pd.DataFrame,
    source: str,
    drops: DropLog,
    cell_col: str = "cell_id",
    drug_col: str = "drug_id",
    response_col: str = "ln_ic50",
    unit: str = "ln_ic50",
) -> pd.DataFrame:
    """Validate a response table and return ``cell_id, drug_id, ln_ic50`` (natural log of µM).

    Rows with missing ids or a NaN/inf/non-positive response are dropped and counted.
    Replicates are kept: see :func:`average_replicates`.
    """
    require_columns(frame, [cell_col, drug_col, response_col], source)
    if unit not in IC50_UNITS:
        raise TableError(
            f"{source}: unknown response unit {unit!r}; choose from {list(IC50_UNITS)}"
        )
    values = pd.to_numeric(frame[response_col], errors="coerce").to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "cell_id": frame[cell_col].map(normalize_cell_id),
            "drug_id": frame[drug_col].map(normalize_drug_id),
            "cell_name": frame[cell_col].astype(str),
        }
    )
    label = frame[cell_col].astype(str) + " / " + frame[drug_col].astype(str)
    bad_id = (
        frame[cell_col].isna() | frame[drug_col].isna() | (out.cell_id == "") | (out.drug_id == "")
    )
    drops.add_many("responses", source, label[bad_id].tolist(), "missing cell or drug id")
    bad_value = ~np.isfinite(values) & ~bad_id.to_numpy()
    drops.add_many("responses", source, label[bad_value].tolist(), f"non-finite {response_col}")
    keep = ~bad_id.to_numpy() & ~bad_value
    scale = IC50_UNITS[unit]
    if scale is not None:
        nonpositive = keep & (values <= 0)
        drops.add_many(
            "responses", source, label[nonpositive].tolist(), "IC50 <= 0 cannot be logged"
        )
        keep &= ~nonpositive
        values = np.log(np.where(keep, values, 1.0) * scale)
    out["ln_ic50"] = values
    return out[keep].reset_index(drop=True)


def average_replicates(responses: pd.DataFrame) -> pd.DataFrame:
    """Average repeated (cell, drug) measurements.

    Returns one row per pair: ``cell_id, drug_id, ln_ic50, n_replicates, ln_ic50_sd``.
    """
    grouped = responses.groupby(["cell_id", "drug_id"], sort=True)["ln_ic50"]
    pairs = grouped.agg(ln_ic50="mean", n_replicates="size", ln_ic50_sd="std").reset_index()
    pairs["ln_ic50_sd"] = pairs["ln_ic50_sd"].fillna(0.0)
    return pairs


def omics_from_frame(
    frame: pd.DataFrame, source: str, drops: DropLog, id_col: str | None = None
) -> pd.DataFrame:
    """Validate a cells x features matrix; returns a float32 frame indexed by normalised cell id.

    The id column is ``id_col`` or the first column. Non-numeric feature columns raise; cells
    with any NaN/inf are dropped and counted; duplicate cell ids raise.
    """
    id_col = id_col or frame.columns[0]
    require_columns(frame, [id_col], source)
    features = frame.drop(columns=[id_col])
    if features.shape[1] == 0:
        raise TableError(f"{source}: no feature columns besides the id column {id_col!r}")
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise TableError(f"{source}: non-numeric feature column(s) {non_numeric[:5]}")
    ids = frame[id_col].map(normalize_cell_id)
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise TableError(f"{source}: duplicate cell id(s) after normalisation: {dup[:10]}")
    matrix = features.to_numpy(dtype=np.float32)
    finite = np.isfinite(matrix).all(axis=1)
    drops.add_many("omics", source, ids[~finite].tolist(), "non-finite omics value")
    out = pd.DataFrame(
        matrix[finite],
        index=pd.Index(ids[finite], name="cell_id"),
        columns=[str(c) for c in features.columns],
    )
    return out


def drugs_from_frame(
    frame: pd.DataFrame, source: str, id_col: str = "drug_id", smiles_col: str = "smiles"
) -> pd.DataFrame:
    """Validate a drug table; returns ``drug_id, smiles``. Duplicate ids raise TableError."""
    require_columns(frame, [id_col, smiles_col], source)
    out = pd.DataFrame(
        {
            "drug_id": frame[id_col].map(normalize_drug_id),
            "smiles": frame[smiles_col].astype("string"),
        }
    )
    dup = out.drug_id[out.drug_id.duplicated()].unique().tolist()
    if dup:
        raise TableError(f"{source}: duplicate drug id(s): {dup[:10]}")
    return out

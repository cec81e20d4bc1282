"""Response, omics, tissue and drug tables validated, their cells given stable ids, and counted
drops.

Every row that is removed is recorded in a :class:`DropLog` with the file, the id and the reason,
so a featurization report can say exactly what was lost and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from drp.data.ids import (
    find_cell_collisions,
    normalize_cell_id,
    normalize_drug_id,
    resolve_cell_names,
    spelling_key,
)
from drp.data.screened_range import RANGE_COLUMNS
from drp.data.tables import TableError


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
    """Validate a response table: ``cell_id, drug_id, cell_name, ln_ic50`` (natural log of µM).

    ``cell_name`` is the name as written; ``cell_id`` is its normalised form until
    :func:`resolve_cell_tables` replaces it by the stable id. Rows with missing ids or a
    NaN/inf/non-positive response are dropped and counted. Replicates are kept: see
    :func:`average_replicates`.

    The screened range, ``min_conc_um`` and ``max_conc_um`` (µM, whatever ``unit`` the IC50 is
    in), is passed through when the table has it: both columns or neither, blank where unknown.
    A bad value (text, inf, <= 0, or a minimum above the maximum) raises TableError naming the
    file, the column and the rows, rather than being dropped: a range is written by a reader
    or an export, so one bad value means a misread column or unit, not one failed measurement.
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
            "cell_name": frame[cell_col].astype(str).str.strip(),
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
    if any(c in frame.columns for c in RANGE_COLUMNS):
        require_columns(frame, list(RANGE_COLUMNS), source)
        for column in RANGE_COLUMNS:
            out[column] = _concentrations(frame[column], keep, source, column)
        reversed_ = (out["min_conc_um"] > out["max_conc_um"]).to_numpy() & keep
        if reversed_.any():
            rows = np.flatnonzero(reversed_)[:5].tolist()
            raise TableError(
                f"{source}: min_conc_um above max_conc_um in row(s) {rows} (0-based data rows)"
            )
    return out[keep].reset_index(drop=True)


def _concentrations(raw: pd.Series, keep: np.ndarray, source: str, column: str) -> np.ndarray:
    """[n] positive finite concentrations (NaN where blank); bad kept rows raise TableError."""
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    blank = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    bad = keep & ~blank & ~(np.isfinite(values) & (values > 0))
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        examples = raw.iloc[rows].tolist()
        raise TableError(
            f"{source}: column {column!r} must hold positive concentrations in µM (blank where "
            f"unknown); bad value(s) {examples} in row(s) {rows} (0-based data rows)"
        )
    return np.where(blank, np.nan, values)


def average_replicates(responses: pd.DataFrame) -> pd.DataFrame:
    """Average repeated (cell, drug) measurements.

    Returns one row per pair: ``cell_id, drug_id, ln_ic50, n_replicates, ln_ic50_sd``, plus,
    when the measurements carry them:

    * ``min_conc_um``, ``max_conc_um``: the union of the replicates' screened ranges (min of
      minima, max of maxima; NaN where no replicate has that bound), i.e. every concentration
      the pair was screened at. Each measurement was already judged against its own range.
    * ``outside_range`` (nullable bool): True if any replicate lies outside its own range (the
      pair's mean then rests on an extrapolation), False if every replicate is known to lie
      inside, NA otherwise (no range, or unknown replicates and none outside).
    """
    keys = ["cell_id", "drug_id"]
    grouped = responses.groupby(keys, sort=True)
    pairs = (
        grouped["ln_ic50"].agg(ln_ic50="mean", n_replicates="size", ln_ic50_sd="std").reset_index()
    )
    pairs["ln_ic50_sd"] = pairs["ln_ic50_sd"].fillna(0.0)
    if set(RANGE_COLUMNS) <= set(responses.columns):
        pairs["min_conc_um"] = grouped["min_conc_um"].min().to_numpy(np.float64)
        pairs["max_conc_um"] = grouped["max_conc_um"].max().to_numpy(np.float64)
    if "outside_range" in responses.columns:
        flag = responses["outside_range"].astype("boolean")
        frame = responses[keys].assign(
            out=flag.eq(True).fillna(False).to_numpy(bool),
            inside=flag.eq(False).fillna(False).to_numpy(bool),
        )
        by_pair = frame.groupby(keys, sort=True)
        any_out = by_pair["out"].any().to_numpy(bool)
        all_in = by_pair["inside"].all().to_numpy(bool)
        pairs["outside_range"] = pd.array(
            np.where(any_out, True, np.where(all_in, False, pd.NA)), dtype="boolean"
        )
    return pairs


MAX_MISSING_OMICS_FRACTION = 0.10
"""A cell keeps its omics profile when at most this fraction of its values is missing (NaN);
the gaps are imputed at train time from the training cells (see ``drp.training.batching.OmicsScaler``)."""


def omics_from_frame(
    frame: pd.DataFrame, source: str, drops: DropLog, id_col: str | None = None
) -> pd.DataFrame:
    """Validate a cells x features matrix; returns a float32 frame indexed by cell name.

    The id column is ``id_col`` or the first column; the index holds each name's spelling
    (:func:`spelling_key`), resolved to cell ids later by :func:`resolve_cell_tables`.
    Non-numeric feature columns and repeated names raise. Missing or infinite values become
    NaN: a cell with at most :data:`MAX_MISSING_OMICS_FRACTION` of them is kept (imputed at
    train time), one with more is dropped and counted.
    """
    id_col = id_col or frame.columns[0]
    require_columns(frame, [id_col], source)
    features = frame.drop(columns=[id_col])
    if features.shape[1] == 0:
        raise TableError(f"{source}: no feature columns besides the id column {id_col!r}")
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise TableError(f"{source}: non-numeric feature column(s) {non_numeric[:5]}")
    names = frame[id_col].map(spelling_key)
    dup = names[names.duplicated()].unique().tolist()
    if dup:
        raise TableError(f"{source}: cell(s) listed more than once: {dup[:10]}")
    matrix = features.to_numpy(dtype=np.float32, copy=True)
    matrix[~np.isfinite(matrix)] = np.nan
    missing = np.isnan(matrix).mean(axis=1)
    keep = missing <= MAX_MISSING_OMICS_FRACTION
    for name, fraction in zip(names[~keep], missing[~keep], strict=True):
        drops.add(
            "omics",
            source,
            name,
            f"more than {MAX_MISSING_OMICS_FRACTION:.0%} of omics values missing ({fraction:.0%})",
        )
    return pd.DataFrame(
        matrix[keep],
        index=pd.Index(names[keep], name="cell_name"),
        columns=[str(c) for c in features.columns],
    )


def tissues_from_frame(
    frame: pd.DataFrame, source: str, id_col: str = "cell_id", tissue_col: str = "tissue"
) -> pd.DataFrame:
    """Validate a tissue table; returns ``cell_name, tissue[, cosmic_id]`` (one row per name).

    A name listed twice with different tissues raises TableError.
    """
    require_columns(frame, [id_col, tissue_col], source)
    out = pd.DataFrame({"cell_name": frame[id_col].map(spelling_key), "tissue": frame[tissue_col]})
    if "cosmic_id" in frame.columns:
        out["cosmic_id"] = pd.to_numeric(frame["cosmic_id"], errors="coerce").astype("Int64")
    out = out.drop_duplicates()
    dup = out.cell_name[out.cell_name.duplicated()].unique().tolist()
    if dup:
        raise TableError(f"{source}: cell(s) listed with different tissues: {dup[:10]}")
    return out.reset_index(drop=True)


def resolve_cell_tables(
    responses: pd.DataFrame,
    omics: dict[str, pd.DataFrame],
    tissues: pd.DataFrame | None,
    drops: DropLog,
    responses_source: str = "responses",
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], pd.DataFrame | None, dict[str, list[str]]]:
    """Give every table's cells a stable ``cell_id`` (see :data:`~drp.data.ids.CELL_ID_RULE`).

    Args:
        responses: rows with ``cell_name`` (as written).
        omics: name -> cells x features indexed by cell name.
        tissues: ``cell_name, tissue[, ...]`` or None.

    Returns (responses with ``cell_id``, omics indexed by ``cell_id``, tissues with ``cell_id``,
    collisions). Names that cannot be resolved are dropped and counted with the lines they
    could be.
    """
    sources: dict[str, Iterable[object]] = {responses_source: responses["cell_name"]}
    sources.update({f"omics_{k}": frame.index for k, frame in omics.items()})
    if tissues is not None:
        sources["tissues"] = tissues["cell_name"]
    collisions = find_cell_collisions(sources)

    ids, reasons = resolve_cell_names(responses["cell_name"], collisions)
    responses = responses.assign(cell_id=ids)
    bad = responses.cell_id.isna().to_numpy()
    lost = pd.Series(reasons, dtype=object)[bad]
    for (name, reason), n in (
        pd.DataFrame({"name": responses.cell_name[bad].to_numpy(), "reason": lost.to_numpy()})
        .value_counts(sort=False)
        .sort_index()
        .items()
    ):
        drops.add("responses", responses_source, str(name), str(reason), int(n))
    responses = responses[~bad].reset_index(drop=True)

    resolved_omics = {}
    for key, frame in omics.items():
        ids, reasons = resolve_cell_names(frame.index, collisions)
        for name, cell_id, reason in zip(frame.index, ids, reasons, strict=True):
            if cell_id is None:
                drops.add("omics", f"omics_{key}", str(name), str(reason))
        keep = np.array([i is not None for i in ids], dtype=bool)
        frame = frame[keep].copy()
        frame.index = pd.Index([i for i in ids if i is not None], name="cell_id")
        dup = frame.index[frame.index.duplicated()].unique().tolist()
        if dup:  # two spellings of one line in a table that writes no punctuation elsewhere
            raise TableError(f"omics_{key}: cell(s) listed more than once: {dup[:10]}")
        resolved_omics[key] = frame

    if tissues is not None:
        ids, reasons = resolve_cell_names(tissues["cell_name"], collisions)
        for name, cell_id, reason in zip(tissues["cell_name"], ids, reasons, strict=True):
            if cell_id is None:
                drops.add("tissues", "tissues", str(name), str(reason))
        tissues = tissues.assign(cell_id=ids).dropna(subset=["cell_id"])
        dup = tissues.cell_id[tissues.cell_id.duplicated()].unique().tolist()
        for cell in dup:
            drops.add("tissues", "tissues", cell, "cell listed twice with different annotations")
        tissues = tissues[~tissues.cell_id.isin(dup)].reset_index(drop=True)
    return responses, resolved_omics, tissues, collisions


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

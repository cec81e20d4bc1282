"""Read a compound library: CSV/TSV/parquet with ``drug_id, smiles``, ``.smi`` or ``.sdf``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from drp.data.tables import read_table
from drp.featurize.molecules import read_sdf
from drp.prediction.predictor import PredictionError

LIBRARY_FORMATS = (".csv", ".tsv", ".txt", ".parquet", ".smi", ".sdf")

Record = tuple[str, str | None, str]
"""(name, SMILES or None when unreadable, reason it is unreadable)."""


def read_library(path: Path) -> list[Record]:
    """Records of a compound library, in file order.

    CSV/TSV/parquet need columns ``drug_id, smiles`` (as ``drp predict --smiles-file``); a
    ``.smi`` line is ``SMILES [name]`` (blank lines and ``#`` comments skipped, a first line
    ``smiles ...`` taken as a header, a missing name becomes ``mol_<line>``); an ``.sdf``
    record is named by its title line, else ``mol_<i>``.

    Raises:
        PredictionError: missing file, unknown format, missing columns, no records, or
            duplicate names (a name must identify one compound in the outputs).
    """
    path = Path(path)
    if not path.is_file():
        raise PredictionError(f"{path}: library file not found")
    suffix = path.suffix.lower()
    if suffix not in LIBRARY_FORMATS:
        raise PredictionError(
            f"{path}: unknown library format {suffix or '(no suffix)'!r}; "
            f"use one of {', '.join(LIBRARY_FORMATS)}"
        )
    if suffix == ".sdf":
        records = read_sdf(str(path))
    elif suffix == ".smi":
        records = _read_smi(path)
    else:
        table = read_table(path)
        if not {"drug_id", "smiles"} <= set(table.columns):
            raise PredictionError(
                f"{path} needs columns drug_id, smiles; has {list(table.columns)}"
            )
        records = [
            (str(name), "" if pd.isna(smi) else str(smi), "")
            for name, smi in zip(table.drug_id, table.smiles, strict=True)
        ]
    if not records:
        raise PredictionError(f"{path}: the library holds no molecules")
    names = pd.Series([r[0] for r in records])
    dup = sorted(set(names[names.duplicated()]))
    if dup:
        raise PredictionError(
            f"{path}: duplicate compound names {dup[:10]} ({len(dup)} in all); "
            "give each compound its own name"
        )
    return records


def _read_smi(path: Path) -> list[Record]:
    records = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines, start=1):
        parts = line.split(maxsplit=1)
        if not parts or parts[0].startswith("#"):
            continue
        if not records and parts[0].lower() == "smiles":
            continue  # header
        name = parts[1].strip() if len(parts) > 1 else f"mol_{i}"
        records.append((name, parts[0], ""))
    return records

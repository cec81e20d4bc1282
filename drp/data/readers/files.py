"""Finding and reading the official release files: globs over a directory, CSV/TSV/XLSX by
extension, header cells with line breaks made readable, and the official ids parsed.

Every problem raises :class:`~drp.data.tables.TableError` naming the file and the column.
"""

from __future__ import annotations

import csv
import gzip
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from drp.data.tables import TableError, sniff_decimal, sniff_delimiter

#: Suffixes a "table" may have, tried in this order for every name pattern.
TABLE_SUFFIXES = (".csv", ".csv.gz", ".tsv", ".tsv.gz", ".txt", ".txt.gz", ".xlsx", ".parquet")
XLSX_HINT = "reading .xlsx files needs openpyxl: pip install -e '.[xlsx]' (or save it as CSV)"


def find_file(source: Path | str, stems: Sequence[str], what: str) -> Path:
    """The one file in ``source`` whose name matches a stem (glob, without suffix).

    ``source`` may be the file itself. Stems are tried in order, each with every suffix of
    :data:`TABLE_SUFFIXES`; the first stem that matches wins. Several files matching one stem,
    or none matching any, raise TableError listing what was looked for.
    """
    found = find_optional(source, stems, what)
    if found is None:
        patterns = [f"{stem}{{{','.join(TABLE_SUFFIXES)}}}" for stem in stems]
        raise TableError(f"{source}: no {what} found; looked for {patterns}")
    return found


def find_optional(source: Path | str, stems: Sequence[str], what: str) -> Path | None:
    """Like :func:`find_file` but None when nothing matches."""
    source = Path(source)
    if source.is_file():
        return source
    if not source.is_dir():
        raise TableError(f"{source}: no such directory (looked for the {what} there)")
    for stem in stems:
        hits = sorted({p for suffix in TABLE_SUFFIXES for p in source.glob(f"{stem}{suffix}")})
        if len(hits) > 1:
            raise TableError(
                f"{source}: several files could be the {what}: {[p.name for p in hits]}; "
                "keep one in the directory or pass the file itself"
            )
        if hits:
            return hits[0]
    return None


def clean_name(name: object) -> str:
    """A header cell with line breaks and whitespace runs made one space, ends stripped."""
    return re.sub(r"\s+", " ", str(name).replace("\ufeff", "")).strip()


def read_official(
    path: Path, usecols: Sequence[str] | None = None, *, quoting: bool = True
) -> pd.DataFrame:
    """Read a CSV/TSV/TXT (delimiter sniffed), XLSX (first sheet) or parquet table.

    Column names are cleaned with :func:`clean_name`. ``usecols`` (cleaned names) keeps only
    those columns that exist, which saves memory on the large DepMap files. ``quoting=False``
    reads text without quote handling (the CTRP files hold stray quote marks).
    """
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise TableError(f"{path}: file is empty")
    name = path.name.lower()
    wanted = None if usecols is None else set(usecols)

    def keep(column: object) -> bool:
        return wanted is None or clean_name(column) in wanted

    try:
        if name.endswith(".xlsx"):
            frame = _read_xlsx(path)
            frame = frame[[c for c in frame.columns if keep(c)]]
        elif name.endswith(".parquet"):
            frame = pd.read_parquet(path)
            frame = frame[[c for c in frame.columns if keep(c)]]
        else:
            sep = _delimiter(path)
            frame = pd.read_csv(
                path,
                sep=sep,
                decimal=sniff_decimal(path, sep),
                usecols=keep if wanted is not None else None,
                quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
                low_memory=False,
            )
    except TableError:
        raise
    except Exception as exc:  # pandas and openpyxl raise many types; report them uniformly
        raise TableError(f"{path}: could not be read ({type(exc).__name__}: {exc})") from exc
    frame.columns = [clean_name(c) for c in frame.columns]
    if frame.empty:
        raise TableError(f"{path}: table has no rows")
    return frame


def _delimiter(path: Path) -> str:
    """Comma, semicolon or tab: the one the whole header line holds most of (a DepMap header
    is longer than any sample a sniffer reads), else :func:`~drp.data.tables.sniff_delimiter`."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        header = handle.readline()
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] > 0 else sniff_delimiter(path)


def _read_xlsx(path: Path) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401  (pandas needs it; checked here for a clear message)
    except ImportError:
        raise TableError(f"{path}: {XLSX_HINT}") from None
    return pd.read_excel(path, sheet_name=0, engine="openpyxl")


def require(frame: pd.DataFrame, columns: Sequence[str], path: Path | str) -> None:
    """Raise TableError naming the missing columns of an official file and those present."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TableError(
            f"{path}: missing column(s) {missing}; columns present: {list(frame.columns)[:30]}"
        )


def pick_column(frame: pd.DataFrame, candidates: Sequence[str], path: Path | str) -> str:
    """The first of ``candidates`` present in ``frame`` (case-insensitive), else TableError."""
    by_lower = {c.lower(): c for c in frame.columns}
    for candidate in candidates:
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    raise TableError(
        f"{path}: none of the column(s) {list(candidates)} found; columns present: "
        f"{list(frame.columns)[:30]}"
    )


_SIDM = re.compile(r"^SIDM\d+$")
_ACH = re.compile(r"^ACH-\d+$")


def sanger_id(value: object) -> str | None:
    """``'SIDM00484'`` as written (upper case), None when missing or not a Sanger model id."""
    text = "" if _missing(value) else str(value).strip().upper()
    return text if _SIDM.match(text) else None


def depmap_id(value: object) -> str | None:
    """``'ACH-000001'``, None when missing or not a DepMap model id."""
    text = "" if _missing(value) else str(value).strip().upper()
    return text if _ACH.match(text) else None


def cosmic_id(value: object) -> int | None:
    """A COSMIC id as an integer (``'930299'``, ``930299.0``), None when missing or not one."""
    if _missing(value):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    if not np.isfinite(number) or number <= 0 or number != int(number):
        return None
    return int(number)


def id_text(value: object) -> str | None:
    """An id as text: integer-valued numbers without decimals (``1005.0`` -> ``'1005'``, as
    spreadsheets and NaN-holding columns write them), anything else stripped."""
    number = cosmic_id(value)
    return str(number) if number is not None else text(value)


def _missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))


def text(value: object) -> str | None:
    """A label stripped of surrounding whitespace, None when missing or empty."""
    if _missing(value):
        return None
    out = str(value).strip()
    return out or None


def positive_log(values: pd.Series) -> np.ndarray:
    """Natural log of positive values; NaN where a value is missing, non-numeric or <= 0."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(numbers > 0, np.log(np.where(numbers > 0, numbers, 1.0)), np.nan)

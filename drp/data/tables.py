"""Reading user tables: parquet, or text whose delimiter (comma, semicolon, tab) and decimal
mark are sniffed; an unusable table raises :class:`TableError` naming the file."""

from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import pandas as pd


class TableError(ValueError):
    """A user table is unusable; the message names the file and the column or ids."""


DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
_SNIFF_CANDIDATES = ",;\t|: "
_DELIMITER_NAMES = {**DELIMITERS, "|": "pipe", ":": "colon", " ": "space"}


def _sample(path: Path, sample_bytes: int = 65536) -> str:
    """The first whole lines of a (possibly gzipped) text table, up to ``sample_bytes``."""
    opener = gzip.open if str(path).lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as handle:
        sample = handle.read(sample_bytes)
    if "\n" in sample.rstrip("\r\n"):  # whole lines only: a cut last line confuses the sniffer
        sample = sample[: sample.rstrip("\r\n").rfind("\n") + 1]
    return sample


def sniff_delimiter(path: Path, sample_bytes: int = 65536) -> str:
    """The delimiter of a text table: ``,``, ``;`` or tab; anything else raises TableError.

    Uses :class:`csv.Sniffer` on the first lines; a file with a single column (no candidate
    delimiter anywhere in its header) reads as comma-separated.
    """
    sample = _sample(path, sample_bytes)
    header = sample.splitlines()[0] if sample.strip() else ""
    try:
        found = csv.Sniffer().sniff(sample, delimiters=_SNIFF_CANDIDATES).delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        if counts[best] > 0:
            return best
        others = [d for d in "|:" if d in header]
        if others:
            found = others[0]
        else:
            return ","  # one column
    if found not in DELIMITERS:
        raise TableError(
            f"{path}: columns seem to be separated by {_DELIMITER_NAMES.get(found, repr(found))} "
            f"({found!r}); use comma, semicolon or tab"
        )
    return found


#: A number written with a decimal comma (``-1,5``, ``,25``, ``1,5e-3``) or a decimal point.
_DECIMAL_COMMA = re.compile(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")
_DECIMAL_POINT = re.compile(r"[+-]?\d*\.\d+(?:[eE][+-]?\d+)?")


def sniff_decimal(path: Path, sep: str, sample_bytes: int = 65536) -> str:
    """The decimal mark of a table separated by ``sep``: ``,`` or ``.``.

    Only a table whose separator is not a comma can use decimal commas. Its fields in the first
    lines are counted: more numbers written like ``1,5`` than like ``1.5`` means decimal commas
    (a semicolon table from a European spreadsheet), otherwise decimal points.
    """
    if sep == ",":
        return "."
    lines = _sample(path, sample_bytes).splitlines()[1:]  # the header holds no numbers
    fields = [f.strip().strip('"') for line in lines for f in line.split(sep)]
    commas = sum(bool(_DECIMAL_COMMA.fullmatch(f)) for f in fields)
    points = sum(bool(_DECIMAL_POINT.fullmatch(f)) for f in fields)
    return "," if commas > points else "."


def read_table(path: Path) -> pd.DataFrame:
    """Read parquet (by extension) or a CSV/TSV/TXT table whose delimiter is sniffed.

    Comma, semicolon and tab are accepted; a semicolon or tab table may use decimal commas or
    decimal points (:func:`sniff_decimal`). Any other separator, and empty or unreadable files,
    raise TableError naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise TableError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise TableError(f"{path}: file is empty")
    suffixes = "".join(path.suffixes).lower()
    try:
        if suffixes.endswith(".parquet"):
            frame = pd.read_parquet(path)
        else:
            sep = sniff_delimiter(path)
            frame = pd.read_csv(path, sep=sep, decimal=sniff_decimal(path, sep))
    except TableError:
        raise
    except Exception as exc:  # pandas raises many types; report them uniformly
        raise TableError(f"{path}: could not be read ({type(exc).__name__}: {exc})") from exc
    if frame.empty:
        raise TableError(f"{path}: table has no rows")
    return frame


def write_table(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write a prediction table as ``.parquet``, ``.tsv`` or (any other suffix) ``.csv``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False, sep="\t" if out.suffix == ".tsv" else ",")
    return out

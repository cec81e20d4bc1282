"""Structures for response drug names the drug table lacks: a small cited table shipped with drp
(``drug_structures.csv``) and an optional user table.

The shipped table has one row per response drug name: ``alias_of`` names a drug of the bundled
table whose structure it shares (another name of the same compound), ``smiles`` gives a public
structure cited in ``source`` (its InChIKey in ``inchikey``), and a row with neither records why
no structure is shipped. Names are matched after stripping surrounding whitespace. Nothing here
parses SMILES: an invalid one is dropped, with RDKit's reason, at featurization.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from drp.data.ids import normalize_drug_id
from drp.data.tables import TableError, read_table

SHIPPED_STRUCTURES = Path(__file__).with_name("drug_structures.csv")
SHIPPED_COLUMNS = ["drug_name", "alias_of", "smiles", "inchikey", "source", "note"]
RECOVERED_COLUMNS = ["drug_id", "how", "alias_of", "source"]
USER_ID_COLUMNS = ("drug_id", "drug_name")


def shipped_structures(path: Path = SHIPPED_STRUCTURES) -> pd.DataFrame:
    """The shipped table (:data:`SHIPPED_COLUMNS`, blank cells as ``""``), names stripped."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in SHIPPED_COLUMNS if c not in table.columns]
    if missing:
        raise TableError(f"{path}: missing column(s) {missing}")
    table = table[SHIPPED_COLUMNS].apply(lambda column: column.str.strip())
    return table


def unresolved_notes(path: Path = SHIPPED_STRUCTURES) -> dict[str, str]:
    """``drug name -> note`` for shipped rows that give no structure (why none is shipped)."""
    table = shipped_structures(path)
    gaps = table[(table.alias_of == "") & (table.smiles == "")]
    return dict(zip(gaps.drug_name, gaps.note, strict=True))


def _name_text(value: object) -> str:
    """A name or id cell as text (``""`` when blank; ``1378.0`` read as a number is ``1378``)."""
    if pd.isna(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return normalize_drug_id(value)


def read_user_structures(path: Path) -> pd.DataFrame:
    """A user's structure table as ``drug_name, smiles, source``, one row per name.

    The table needs ``smiles`` and ``drug_id`` and/or ``drug_name``; with both, a row answers
    to either. A ``source`` column, when present, is kept as each row's citation. Missing
    columns, blank names or SMILES and a name given two structures raise TableError naming the
    file and the column.
    """
    frame = read_table(path)
    id_cols = [c for c in USER_ID_COLUMNS if c in frame.columns]
    if not id_cols or "smiles" not in frame.columns:
        needed = ["drug_id or drug_name", "smiles"]
        raise TableError(
            f"{path}: a drug structure table needs columns {needed}; "
            f"columns present: {list(frame.columns)}"
        )
    ids = pd.DataFrame({c: frame[c].map(_name_text) for c in id_cols})
    smiles = frame["smiles"].map(lambda v: "" if pd.isna(v) else str(v).strip())
    named = ("columns " if len(id_cols) > 1 else "column ") + " and ".join(map(repr, id_cols))
    for column, blank in ((named, ids.eq("").all(axis=1)), ("column 'smiles'", smiles.eq(""))):
        rows = blank.to_numpy().nonzero()[0]
        if len(rows):
            raise TableError(
                f"{path}: {column} blank in row(s) {rows[:5].tolist()} (0-based data rows)"
            )
    cited = frame["source"] if "source" in frame.columns else pd.Series("", index=frame.index)
    source = [
        f"{path} ({str(c).strip()})" if pd.notna(c) and str(c).strip() else str(path) for c in cited
    ]
    table = pd.concat(
        [pd.DataFrame({"drug_name": ids[c], "smiles": smiles, "source": source}) for c in id_cols]
    )
    table = table[table.drug_name.ne("")].drop_duplicates().reset_index(drop=True)
    dup = table.drug_name[table.drug_name.duplicated()].unique().tolist()
    if dup:
        raise TableError(f"{path}: {named} give(s) drug(s) two structures: {dup[:10]}")
    return table


def recover_structures(
    drugs: pd.DataFrame,
    names: Iterable[str],
    extra: Path | None = None,
    shipped: Path = SHIPPED_STRUCTURES,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Add structures for response drug ``names`` the drug table lacks.

    A name lacks a structure when the table (``drug_id, smiles``) has no row for it, or a
    blank SMILES. It is recovered from the user table ``extra`` (see
    :func:`read_user_structures`) first, else from the shipped table: an alias copies the
    SMILES of the drug it names in ``drugs``, a structure row gives its own. A structure the
    drug table already has is never replaced. Names match after stripping whitespace; an added
    row keeps the response's spelling, so it matches the responses.

    Returns:
        drugs: the table with a row per recovered name.
        recovered: one row per recovered name: ``drug_id, how`` (``alias`` | ``structure`` |
            ``user``), ``alias_of`` (None unless an alias) and ``source`` (a citation, or the
            user file).
    """
    user = read_user_structures(extra) if extra is not None else None
    table = shipped_structures(shipped)
    smiles = drugs["smiles"]
    has_structure = smiles.notna() & smiles.astype(str).str.strip().ne("")
    known = dict(
        zip(drugs.drug_id[has_structure].map(normalize_drug_id), smiles[has_structure], strict=True)
    )
    user_rows = {} if user is None else {r.drug_name: r for r in user.itertuples()}
    shipped_rows = {r.drug_name: r for r in table.itertuples()}
    added, recovered = [], []
    wanted = {}
    for name in names:
        wanted.setdefault(normalize_drug_id(name), str(name))
    for key, name in sorted(wanted.items()):
        found = None if key in known else _lookup(key, known, user_rows, shipped_rows)
        if found is not None:
            added.append({"drug_id": name, "smiles": found[0]})
            recovered.append(dict(zip(RECOVERED_COLUMNS, (name, *found[1:]), strict=True)))
    record = pd.DataFrame(recovered, columns=RECOVERED_COLUMNS)
    if not added:
        return drugs, record
    # a row with a blank SMILES gives way to the recovered one, so ids stay unique
    recovered_keys = {normalize_drug_id(r["drug_id"]) for r in added}
    blank = drugs.drug_id.map(normalize_drug_id).isin(recovered_keys)
    rows = pd.DataFrame(added).astype({"smiles": drugs["smiles"].dtype})
    return pd.concat([drugs[~blank], rows], ignore_index=True), record


def _lookup(
    key: str, known: dict[str, str], user: dict, shipped: dict
) -> tuple[str, str, str | None, str] | None:
    """``(smiles, how, alias_of, source)`` for one name, or None: the user's row first."""
    if key in user:
        return user[key].smiles, "user", None, user[key].source
    row = shipped.get(key)
    if row is not None and row.alias_of and row.alias_of in known:
        return known[row.alias_of], "alias", row.alias_of, row.source
    if row is not None and row.smiles:
        return row.smiles, "structure", None, row.source
    return None


def recovered_records(recovered: pd.DataFrame) -> list[dict]:
    """The record of :func:`recover_structures` as JSON-ready dicts (a manifest's sources)."""
    return recovered.astype(object).where(recovered.notna(), None).to_dict(orient="records")

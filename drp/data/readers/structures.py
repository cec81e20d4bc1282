"""Drug structures a user gives for official drug ids: a table with ``smiles`` and
``drug_id`` and/or ``drug_name``, matched by id first, then by name, then by synonym.

The GDSC release holds no structures, so a GDSC user brings them. Ids match as written
(``GDSC2:1003``) or bare (``1003`` matches ``GDSC1:1003`` and ``GDSC2:1003``, the same Sanger
compound). Names match case-insensitively after stripping spaces, so one name gives its
structure to every DRUG_ID it carries (AZD4547: 1135, 1497, 1786). A drug given two different
SMILES at the same level of matching raises TableError naming both rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from drp.data.readers.files import id_text, pick_column, read_official, text
from drp.data.tables import TableError

NO_STRUCTURE = "no structure (give it with --drug-structures)"


@dataclass
class StructureMatch:
    """SMILES per matched drug id, and how each was matched (``drug_id``, ``drug_name`` or
    ``synonym``); ``unused`` counts table rows that matched no drug."""

    smiles: dict[str, str] = field(default_factory=dict)
    matched_by: dict[str, str] = field(default_factory=dict)
    unused: int = 0


def _name_key(value: object) -> str | None:
    label = text(value)
    return " ".join(label.split()).casefold() if label else None


def match_structures(drugs: pd.DataFrame, path: Path | str) -> StructureMatch:
    """Match the structure table at ``path`` to ``drugs`` (``drug_id, drug_name[,
    synonyms]``)."""
    path = Path(path)
    table = read_official(path)
    smiles_col = pick_column(table, ["smiles", "canonical_smiles", "cpd_smiles"], path)
    id_col = next((c for c in table.columns if c.lower() == "drug_id"), None)
    name_col = next((c for c in table.columns if c.lower() in ("drug_name", "name")), None)
    if id_col is None and name_col is None:
        raise TableError(
            f"{path}: needs a drug_id or drug_name column beside {smiles_col!r}; columns "
            f"present: {list(table.columns)}"
        )
    ids = table[id_col].map(id_text) if id_col else pd.Series([None] * len(table))
    names = table[name_col].map(_name_key) if name_col else pd.Series([None] * len(table))
    smiles = table[smiles_col].map(text)

    by_id: dict[str, list[str]] = {}
    by_bare: dict[str, list[str]] = {}
    by_name: dict[str, list[str]] = {}
    by_synonym: dict[str, list[str]] = {}
    for drug_id, name, synonyms in zip(
        drugs.drug_id,
        drugs.get("drug_name", pd.Series([None] * len(drugs))),
        drugs.get("synonyms", pd.Series([[]] * len(drugs))),
        strict=True,
    ):
        by_id.setdefault(str(drug_id), []).append(drug_id)
        by_bare.setdefault(str(drug_id).split(":", 1)[-1], []).append(drug_id)
        if (key := _name_key(name)) is not None:
            by_name.setdefault(key, []).append(drug_id)
        for synonym in synonyms if isinstance(synonyms, list) else []:
            if (key := _name_key(synonym)) is not None:
                by_synonym.setdefault(key, []).append(drug_id)

    levels: dict[str, dict[str, tuple[str, int]]] = {"drug_id": {}, "drug_name": {}, "synonym": {}}
    match = StructureMatch()
    for row, (drug_id, name, smi) in enumerate(zip(ids, names, smiles, strict=True)):
        if smi is None:
            continue
        hits = {
            "drug_id": by_id.get(drug_id, by_bare.get(drug_id, [])) if drug_id else [],
            "drug_name": by_name.get(name, []) if name else [],
            "synonym": by_synonym.get(name, []) if name else [],
        }
        if not any(hits.values()):
            match.unused += 1
            continue
        for level, found in hits.items():
            for target in found:
                earlier = levels[level].get(target)
                if earlier is not None and earlier[0] != smi:
                    raise TableError(
                        f"{path}: drug {target} is given two different SMILES (rows "
                        f"{earlier[1] + 2} and {row + 2}, matched by {level})"
                    )
                levels[level][target] = (smi, row)
    for level in ("synonym", "drug_name", "drug_id"):  # later levels win
        for target, (smi, _) in levels[level].items():
            match.smiles[target] = smi
            match.matched_by[target] = level
    return match

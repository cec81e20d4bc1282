"""Cell and drug ids: normalisation, cell names that collide after it (distinct lines), and
user-given names matched to a dataset's ids."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import pandas as pd


def normalize_cell_id(name: object) -> str:
    """Cell-line id without case or punctuation: ``'CAL-120'`` and ``'Cal120'`` -> ``'CAL120'``."""
    return re.sub(r"[^A-Z0-9]", "", str(name).upper())


def spelling_key(name: object) -> str:
    """A cell name as written, up to case and surrounding/inner whitespace runs:
    ``'KM-H2'`` and ``'km-h2'`` -> ``'KM-H2'`` (punctuation kept, unlike :func:`normalize_cell_id`)."""
    return re.sub(r"\s+", " ", str(name).strip().upper())


CELL_ID_RULE = (
    "cell names are matched across tables after normalisation (upper case, punctuation "
    "removed) unless one table lists several spellings that normalise alike (e.g. KM-H2 and "
    "KMH-2): those are distinct lines, keyed by their spelling (upper case, punctuation kept); "
    "a name in another table that does not match exactly one of those spellings is ambiguous "
    "and dropped, never merged"
)


def find_cell_collisions(names_by_source: dict[str, Iterable[object]]) -> dict[str, list[str]]:
    """Normalised ids that one source lists under several spellings (distinct lines).

    Returns ``{normalised id: sorted distinct spellings}`` pooled over the sources. Spellings that
    differ only *between* sources (``'CAL-120'`` here, ``'Cal120'`` there) are not collisions:
    matching those is what normalisation is for.
    """
    collisions: dict[str, set[str]] = {}
    for names in names_by_source.values():
        spellings = pd.Series(sorted({spelling_key(n) for n in names}), dtype=object)
        if spellings.empty:
            continue
        keys = spellings.map(normalize_cell_id)
        for key, group in spellings.groupby(keys):
            if len(group) > 1:
                collisions.setdefault(str(key), set()).update(group)
    return {key: sorted(spellings) for key, spellings in sorted(collisions.items())}


def resolve_cell_names(
    names: Iterable[object], collisions: dict[str, list[str]]
) -> tuple[list[str | None], list[str | None]]:
    """Stable cell ids for the names of ONE source, and why a name could not be resolved.

    A name whose normalised id does not collide gets that id. A colliding one gets its spelling
    (see :func:`spelling_key`) when that spelling is one of the distinct lines and the source
    writes punctuation at all (a source whose every name is already normalised, like the GDSC
    omics pickles, cannot tell ``TT`` from ``T-T``). Otherwise the id is None and the reason
    names the lines it could be.
    """
    names = list(names)
    spellings = [spelling_key(n) for n in names]
    writes_punctuation = any(re.search(r"[^A-Z0-9]", s) for s in spellings)
    ids: list[str | None] = []
    reasons: list[str | None] = []
    for spelling in spellings:
        key = normalize_cell_id(spelling)
        lines = collisions.get(key)
        if lines is None:
            ids.append(key)
            reasons.append(None)
        elif writes_punctuation and spelling in lines:
            ids.append(spelling)
            reasons.append(None)
        else:
            ids.append(None)
            reasons.append(
                f"ambiguous cell name: matches distinct lines {' / '.join(lines)} after "
                "normalisation"
            )
    return ids, reasons


def match_cell_ids(names: Iterable[object], known_ids: Iterable[str]) -> list[str | None]:
    """Look user-given cell names up among a dataset's ``cell_id`` values.

    A name matches the id spelled like it (``'KM-H2'`` -> ``'KM-H2'`` where colliding lines are
    kept apart), else its normalised id (``'Cal-120'`` -> ``'CAL120'``); None when neither is
    known; None too when the normalised id is shared by lines kept apart (``'T.T'`` could be
    ``TT`` or ``T-T``).
    """
    known = set(known_ids)
    lines_by_key = Counter(normalize_cell_id(cell) for cell in known)
    out: list[str | None] = []
    for name in names:
        spelling, key = spelling_key(name), normalize_cell_id(name)
        if spelling in known:
            out.append(spelling)
        elif key in known and lines_by_key[key] == 1:
            out.append(key)
        else:  # unknown, or ambiguous between lines kept apart (T.T: TT or T-T?)
            out.append(None)
    return out


def normalize_drug_id(name: object) -> str:
    """Drug id with surrounding whitespace removed (names differ only in real chemistry)."""
    return str(name).strip()

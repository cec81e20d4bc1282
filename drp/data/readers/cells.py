"""The cell-id crosswalk: Sanger model ids (SIDM…), COSMIC ids and DepMap ModelIDs (ACH-…)
linked across every official file that lists them, and each line given one key.

The key (``cell_id``) of a line is its Sanger model id, else ``COSMIC:<id>``, else its DepMap
ModelID (:data:`OFFICIAL_CELL_ID_RULE`). Ids are linked transitively: a GDSC row gives
SIDM + COSMIC, a ``Model.csv`` row ACH + SIDM + COSMIC, so DepMap omics (keyed by ACH) and GDSC
responses (keyed by SIDM/COSMIC) meet on one key. Names are labels only: two lines whose names
normalise alike (KM-H2 / KMH-2, TT / T-T) stay apart because their ids differ. Only CTRP, which
gives no official id, is matched by name (:meth:`CellCrosswalk.by_name`), and a name that
could be several lines is refused, never merged.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import pandas as pd

from drp.data.ids import normalize_cell_id
from drp.data.readers.files import cosmic_id, depmap_id, sanger_id, text
from drp.data.validation import DropLog

OFFICIAL_CELL_ID_RULE = (
    "cells are keyed by official ids: the Sanger model id (SIDM...), else 'COSMIC:<id>', else "
    "the DepMap ModelID (ACH-...); ids are linked through every file that lists several of "
    "them (GDSC release, Cell_Lines_Details, Model.csv), so each line has one key; names are "
    "labels only (lines whose names normalise alike, such as KM-H2 / KMH-2, stay apart), except "
    "for CTRP, whose lines are matched to Model.csv by name only when the name is unambiguous"
)

#: The id columns the readers write (any may be absent or NaN).
SANGER, COSMIC, DEPMAP, NAME = "sanger_model_id", "cosmic_id", "depmap_id", "cell_name"


def cosmic_node(value: int) -> str:
    """The key of a line known only by its COSMIC id."""
    return f"COSMIC:{int(value)}"


def _nodes(sanger: object = None, cosmic: object = None, depmap: object = None) -> list[str]:
    """The official ids of one record as crosswalk nodes (most preferred first)."""
    nodes = []
    if (s := sanger_id(sanger)) is not None:
        nodes.append(s)
    if (c := cosmic_id(cosmic)) is not None:
        nodes.append(cosmic_node(c))
    if (d := depmap_id(depmap)) is not None:
        nodes.append(d)
    return nodes


def _rank(node: str) -> int:
    return 0 if node.startswith("SIDM") else 1 if node.startswith("COSMIC:") else 2


class CellCrosswalk:
    """Links between official cell ids, and the key each line gets.

    Add every table that lists ids (:meth:`add_frame`) before resolving any
    (:meth:`resolve_frame`): a link seen later can change a line's key.
    """

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._names: dict[str, set[str]] = defaultdict(set)
        self._members: dict[str, list[str]] | None = None
        self._by_name: dict[str, list[str]] | None = None

    def _find(self, node: str) -> str:
        self._parent.setdefault(node, node)
        root = node
        while self._parent[root] != root:
            root = self._parent[root]
        while self._parent[node] != root:  # path compression
            self._parent[node], node = root, self._parent[node]
        return root

    def add(
        self,
        sanger: object = None,
        cosmic: object = None,
        depmap: object = None,
        name: object = None,
    ) -> None:
        """Link the ids of one record (and remember its name as a label)."""
        nodes = _nodes(sanger, cosmic, depmap)
        if not nodes:
            return
        self._members = self._by_name = None
        first = self._find(nodes[0])
        for node in nodes[1:]:
            root = self._find(node)
            if root != first:
                self._parent[root] = first
        if (label := text(name)) is not None:
            self._names[nodes[0]].add(label)
            self._by_name = None

    def add_frame(self, frame: pd.DataFrame, name_cols: Iterable[str] = (NAME,)) -> None:
        """Link the ids of every row of a frame with (some of) the columns
        ``sanger_model_id, cosmic_id, depmap_id``; ``name_cols`` hold its names (labels)."""
        ids = [c for c in (SANGER, COSMIC, DEPMAP) if c in frame.columns]
        names = [c for c in name_cols if c in frame.columns] or [None]
        for name_col in names:
            cols = ids + ([name_col] if name_col else [])
            for row in frame[cols].drop_duplicates().itertuples(index=False):
                values = dict(zip(cols, row, strict=True))
                self.add(
                    values.get(SANGER),
                    values.get(COSMIC),
                    values.get(DEPMAP),
                    values.get(name_col) if name_col else None,
                )

    def _component(self, node: str) -> list[str]:
        if self._members is None:
            members: dict[str, list[str]] = defaultdict(list)
            for each in list(self._parent):
                members[self._find(each)].append(each)
            self._members = dict(members)
        return self._members.get(self._find(node), [node])

    def resolve(
        self, sanger: object = None, cosmic: object = None, depmap: object = None
    ) -> tuple[str | None, str | None]:
        """The key of the line with these ids, or None and why.

        A line linked to several Sanger models (or, lacking one, several COSMIC ids) is keyed
        by its own id of that kind when it has one, otherwise it is ambiguous.
        """
        own = _nodes(sanger, cosmic, depmap)
        if not own:
            return None, "no official cell id (Sanger model id, COSMIC id or DepMap ModelID)"
        members = {m for n in own for m in (self._component(n) if n in self._parent else [n])}
        for rank in (0, 1, 2):
            candidates = sorted(m for m in members if _rank(m) == rank)
            if len(candidates) == 1:
                return candidates[0], None
            if len(candidates) > 1:
                mine = [n for n in own if _rank(n) == rank]
                if mine:
                    return mine[0], None
                return None, (
                    f"ids link to several distinct lines ({' / '.join(candidates)}): not merged"
                )
        return None, "no official cell id"  # unreachable: own ids are members

    def resolve_frame(self, frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        """Keys and reasons (None where resolved) for each row of a frame with id columns."""
        cols = [c for c in (SANGER, COSMIC, DEPMAP) if c in frame.columns]
        if not cols:
            none = pd.Series([None] * len(frame), index=frame.index, dtype=object)
            return none, none.fillna("no official cell id column")
        keys = frame[cols].astype(object).where(frame[cols].notna(), None)
        unique = keys.drop_duplicates()
        answers = {}
        for row in unique.itertuples(index=False):
            values = dict(zip(cols, row, strict=True))
            answers[tuple(row)] = self.resolve(
                values.get(SANGER), values.get(COSMIC), values.get(DEPMAP)
            )
        pairs = [answers[tuple(row)] for row in keys.itertuples(index=False)]
        ids = pd.Series([p[0] for p in pairs], index=frame.index, dtype=object)
        reasons = pd.Series([p[1] for p in pairs], index=frame.index, dtype=object)
        return ids, reasons

    def by_name(self, name: object) -> tuple[str | None, str | None]:
        """The key of the one known line whose name normalises like ``name``, or None and why."""
        matches = self.name_index().get(normalize_cell_id(name), [])
        if len(matches) == 1:
            return matches[0], None
        if not matches:
            return None, "cell name not found among the named lines (no official id to key it by)"
        return None, f"ambiguous cell name: matches distinct lines {' / '.join(matches)}"

    def name_index(self) -> dict[str, list[str]]:
        """Normalised name -> the keys of the lines with that name."""
        if self._by_name is None:
            index: dict[str, set[str]] = defaultdict(set)
            for node, labels in self._names.items():
                cell = self.resolve(*_split(node))[0]
                if cell is None:
                    continue
                for label in labels:
                    index[normalize_cell_id(label)].add(cell)
            self._by_name = {key: sorted(cells) for key, cells in index.items()}
        return self._by_name

    def cosmic_of(self, cell_id: str) -> int | None:
        """The COSMIC id of a keyed line, when exactly one is linked to it."""
        if cell_id not in self._parent:
            return None
        found = [m for m in self._component(cell_id) if _rank(m) == 1]
        return int(found[0].split(":", 1)[1]) if len(found) == 1 else None

    def name_collisions(self, cell_ids: Iterable[str]) -> dict[str, list[str]]:
        """Normalised name -> ``'<name> (<cell_id>)'`` for names that several of ``cell_ids``
        carry: lines a name-keyed table would have merged, kept apart here by their ids.

        Each line shows its fullest spelling of the name (``T-T`` rather than ``TT``)."""
        wanted = set(cell_ids)
        by_key: dict[str, dict[str, str]] = defaultdict(dict)
        for node, labels in self._names.items():
            cell = self.resolve(*_split(node))[0]
            if cell not in wanted:
                continue
            for label in labels:
                spelled = by_key[normalize_cell_id(label)]
                if len(label) > len(spelled.get(cell, "")):
                    spelled[cell] = label
        return {
            key: sorted(f"{label} ({cell})" for cell, label in cells.items())
            for key, cells in sorted(by_key.items())
            if len(cells) > 1
        }


def _split(node: str) -> tuple[str | None, int | None, str | None]:
    rank = _rank(node)
    if rank == 0:
        return node, None, None
    if rank == 1:
        return None, int(node.split(":", 1)[1]), None
    return None, None, node


def assign_cell_ids(
    frame: pd.DataFrame, crosswalk: CellCrosswalk, drops: DropLog, stage: str, source: str
) -> pd.DataFrame:
    """``frame`` with a ``cell_id`` column; rows whose line cannot be keyed are dropped and
    counted (one DropLog row per line and reason, with its number of table rows)."""
    ids, reasons = crosswalk.resolve_frame(frame)
    bad = ids.isna()
    if bad.any():
        labels = _labels(frame[bad])
        for (label, reason), n in (
            pd.DataFrame({"label": labels, "reason": reasons[bad].to_numpy()})
            .value_counts(sort=False)
            .sort_index()
            .items()
        ):
            drops.add(stage, source, str(label), str(reason), int(n))
    return frame[~bad].assign(cell_id=ids[~bad].astype(str)).reset_index(drop=True)


def _labels(frame: pd.DataFrame) -> list[str]:
    """How a dropped line is named in the DropLog: its ids and its name, as written."""
    out = []
    for _, row in frame.iterrows():
        parts = [
            str(row[c]) for c in (SANGER, COSMIC, DEPMAP) if c in row.index and pd.notna(row[c])
        ]
        name = row.get(NAME)
        label = " / ".join(parts) if parts else "(no id)"
        out.append(f"{label} ({name})" if isinstance(name, str) and name else label)
    return out

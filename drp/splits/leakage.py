"""Leakage checks: a fold's train, val and test parts share no pair and no held-out entity.

Leakage is checked when a fold is built (:func:`drp.splits.folds.make_folds`) and again when it
is read from the cache (:func:`drp.splits.cache.load_or_make_folds`), on the keys of
:data:`LEAKAGE_KEYS`, so a fold that exists is a fold that is disjoint.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from drp.splits.entities import Entities
from drp.splits.fold import Fold

LEAKAGE_KEYS = {
    "cell_blind": ("cell_id",),
    "drug_blind": ("structure_key",),
    "cluster_blind": ("structure_cluster", "structure_key"),
    "tissue_blind": ("tissue",),
}
"""Keys that :func:`check_fold` asserts disjoint between train, val and test, per split."""


class LeakageError(AssertionError):
    """A fold shares pairs or held-out entities between its train, val and test parts."""


def check_fold(pairs: pd.DataFrame, fold: Fold, entities: Entities | None = None) -> None:
    """Assert that ``fold`` is leak-free.

    Train, val, test and excluded indices are pairwise disjoint for every split; for blind
    splits, every key of :data:`LEAKAGE_KEYS` (drug-blind: the structure, not the id;
    cluster-blind: the cluster and the structure) of test and of val is absent from train, and
    val and test share none.

    Raises:
        LeakageError: naming the split, fold, key and offending parts.
        ValueError: a lookup the split needs is missing from ``entities``.
    """
    parts = {"train": fold.train, "val": fold.val, "test": fold.test, "excluded": fold.excluded}
    names = list(parts)
    for a_i, a in enumerate(names):
        for b in names[a_i + 1 :]:
            shared = np.intersect1d(parts[a], parts[b])
            if len(shared):
                raise LeakageError(
                    f"{fold.split} fold {fold.index}: {len(shared)} pair rows in both {a} and {b}"
                )
    entities = entities or Entities()
    for key in LEAKAGE_KEYS.get(fold.split, ()):
        values = entities.pair_keys(pairs, key).to_numpy()
        ents = {p: set(values[parts[p]]) for p in ("train", "val", "test")}
        for a, b in (("test", "train"), ("val", "train"), ("val", "test")):
            shared = ents[a] & ents[b]
            if shared:
                raise LeakageError(
                    f"{fold.split} fold {fold.index}: {key} values in both {a} and {b}: "
                    f"{sorted(map(str, shared))[:5]}"
                )

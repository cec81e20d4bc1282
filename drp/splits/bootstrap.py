"""Bootstrap units: what a confidence interval resamples on each split's test pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from drp.core.choices import SPLITS
from drp.splits.entities import BLIND_KEY, Entities

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset

BOOTSTRAP_UNIT = {
    "cell_blind": "cell",
    "drug_blind": "drug structure",
    "cluster_blind": "drug cluster",
    "tissue_blind": "tissue",
}
"""Name of the resampling unit of each blind split's bootstrap (:func:`bootstrap_groups`)."""


def bootstrap_unit(split: str) -> str:
    """Name of the unit a bootstrap CI resamples on ``split`` (see :func:`bootstrap_groups`):
    ``cell``, ``drug structure``, ``drug cluster``, ``tissue``, or ``pair`` for mixed and
    cross-dataset tests.

    Raises:
        ValueError: unknown split.
    """
    if split == "mixed" or split.startswith("cross_dataset"):
        return "pair"
    if split not in BOOTSTRAP_UNIT:
        raise ValueError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    return BOOTSTRAP_UNIT[split]


def bootstrap_groups(
    ds: FeaturizedDataset, split: str, pairs: pd.DataFrame
) -> tuple[np.ndarray | None, str]:
    """The unit a bootstrap CI should resample for pairs tested on ``split``.

    Blind splits hold out whole entities, so their test pairs cluster by them and only a
    bootstrap over those entities is honest: cells (cell-blind), drug structures (drug-blind),
    drug clusters (cluster-blind), tissues (tissue-blind). Mixed and cross-dataset tests keep a
    **pair** bootstrap (pairs resampled as if independent), returned as ``(None, "pair")``.

    Args:
        ds: the dataset whose folds ``pairs`` come from (for the structure/cluster lookups).
        split: a name from :data:`SPLITS` or one starting with ``cross_dataset``.
        pairs: [n] test pairs (``cell_id, drug_id``).

    Returns:
        ``(groups, unit)``: [n] group label of each pair (or ``None``) and the unit's name
        (``cell``, ``drug structure``, ``drug cluster``, ``tissue`` or ``pair``).
    """
    unit = bootstrap_unit(split)
    if unit == "pair":
        return None, unit
    keys = Entities.of(ds).pair_keys(pairs, BLIND_KEY[split])
    return keys.to_numpy(), unit

"""One outer fold: the row indices of its train, val and test parts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class Fold:
    """One outer fold.

    Attributes:
        index: fold number in ``0..k-1``.
        train, val, test: [n_*] int64 row indices into the pairs table the folds were built
            from; pairwise disjoint.
        split: split name (one of :data:`SPLITS` or ``"cross_dataset"``).
        fold_seed: seed the folds were drawn with.
        excluded: [n_excluded] row indices in no part (tissue-blind: cells without tissue).
    """

    index: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    split: str
    fold_seed: int
    excluded: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def n_excluded(self) -> int:
        return len(self.excluded)

    def frames(self, pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """``(train, val, test)`` rows of ``pairs`` (the table the fold was built from)."""
        return (
            pairs.iloc[self.train].reset_index(drop=True),
            pairs.iloc[self.val].reset_index(drop=True),
            pairs.iloc[self.test].reset_index(drop=True),
        )

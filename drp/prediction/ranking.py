"""Top-K tables of a screen: the compounds with the lowest predictions per cell or tissue."""

from __future__ import annotations

import numpy as np
import pandas as pd


class RunningTopK:
    """The ``k`` lowest values seen so far in each of ``groups`` rows, with their column ids.

    Shapes: values [groups, <=k] float64, index [groups, <=k] int64, lowest first. Ties keep
    the earlier id, so the result does not depend on how the columns were chunked.
    """

    def __init__(self, groups: int, k: int) -> None:
        self.k = k
        self.values = np.zeros((groups, 0), np.float64)
        self.index = np.zeros((groups, 0), np.int64)

    def update(self, values: np.ndarray, index: np.ndarray) -> None:
        """Fold in ``values`` [groups, n] of columns ``index`` [n] (ids above those seen)."""
        vals = np.concatenate([self.values, values], axis=1)
        idx = np.concatenate([self.index, np.broadcast_to(index, values.shape)], axis=1)
        order = np.argsort(vals, axis=1, kind="stable")[:, : self.k]
        self.values = np.take_along_axis(vals, order, axis=1)
        self.index = np.take_along_axis(idx, order, axis=1)


def top_table(
    top: RunningTopK, compounds: pd.DataFrame, group: str, labels: list[str], value: str
) -> pd.DataFrame:
    """Long table ``group, rank, drug_id, value, max_tanimoto, out_of_domain`` from ``top``."""
    kept = top.index.shape[1]
    idx = top.index.ravel()
    return pd.DataFrame(
        {
            group: np.repeat(np.asarray(labels, dtype=object), kept),
            "rank": np.tile(np.arange(1, kept + 1), len(labels)),
            "drug_id": compounds["drug_id"].to_numpy()[idx],
            value: top.values.ravel(),
            "max_tanimoto": compounds["max_tanimoto"].to_numpy()[idx],
            "out_of_domain": compounds["out_of_domain"].to_numpy()[idx],
        }
    )

"""Cell features of the classic baselines: standardised top-variance expression fitted on the
training cells of one dataset and applied to the cells of any dataset (aligned by feature name)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset


def cell_features(
    ds: FeaturizedDataset, train_cells: np.ndarray, n_genes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Standardised top-variance expression: ([n_cells, n_genes] float64, gene indices).

    Gene selection, mean and sd come from the training cells only (``train_cells`` are row
    indices into ``ds.cells``), ignoring missing values; a missing value (NaN) is imputed with
    the training cells' mean, i.e. 0 after standardisation.
    """
    x = ds.omics_matrix().astype(np.float64)
    xt = x[train_cells]
    observed = ~np.isnan(xt)
    counts = observed.sum(axis=0)
    mean_all = np.where(observed, xt, 0.0).sum(axis=0) / np.maximum(counts, 1)
    var = np.where(observed, (xt - mean_all) ** 2, 0.0).sum(axis=0) / np.maximum(counts, 1)
    var[counts == 0] = -np.inf  # a feature no training cell measured is chosen last
    genes = np.sort(np.argsort(-var, kind="stable")[: min(n_genes, x.shape[1])])
    mean, sd = mean_all[genes], np.sqrt(np.maximum(var[genes], 0.0))
    sd[sd == 0] = 1.0
    return np.nan_to_num((x[:, genes] - mean) / sd, nan=0.0), genes


def feature_names(ds: FeaturizedDataset) -> list[str]:
    """``<omics>:<feature>`` of every column of ``ds.omics_matrix()``, in its order."""
    return [f"{name}:{col}" for name, frame in ds.omics.items() for col in frame.columns]


class ExpressionFeatures:
    """Cell features fitted on the training cells of one dataset, applied to any dataset.

    :func:`cell_features` (gene selection, standardisation, imputation) is fitted on the
    training cells; :meth:`transform` gives the same features for the cells of another dataset,
    whose omics columns are aligned to the training ones by name (absent features are NaN and
    end at the training mean, 0). Shapes: ``transform(ds)`` -> [len(ds.cells), n_genes].
    """

    def __init__(self, ds: FeaturizedDataset, train_cells: np.ndarray, n_genes: int) -> None:
        self.n_genes = n_genes
        self.features_ = feature_names(ds)
        self.reference_ = ds.omics_matrix()[np.unique(train_cells)]  # raw training rows
        self.x_, self.genes_ = cell_features(ds, np.unique(train_cells), n_genes)
        self.fit_ds_ = ds

    def transform(self, ds: FeaturizedDataset) -> np.ndarray:
        if ds is self.fit_ds_:
            return self.x_
        raw = pd.DataFrame(ds.omics_matrix(), columns=feature_names(ds))
        shared = len(set(raw.columns) & set(self.features_))
        if shared == 0:
            raise ValueError(
                f"dataset {ds.name!r} shares no omics feature with the training dataset"
            )
        aligned = raw.loc[:, ~raw.columns.duplicated()].reindex(columns=self.features_)
        # The training rows first: cell_features refits exactly the same genes and scaling
        # on them and applies it to the new dataset's rows.
        n_ref = len(self.reference_)
        combined = np.vstack([self.reference_, aligned.to_numpy(np.float32)])
        ids = [f"__train_{i}" for i in range(n_ref)] + list(ds.cells["cell_id"])
        view = replace(
            ds,
            cells=pd.DataFrame({"cell_id": ids, "tissue": np.nan}),
            omics={"combined": pd.DataFrame(combined, columns=self.features_)},
        )
        x, _ = cell_features(view, np.arange(n_ref), self.n_genes)
        return np.nan_to_num(x[n_ref:], nan=0.0)

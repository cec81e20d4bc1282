"""The external new-drug test: train on all of one screen, test on the drugs of another screen
whose structure the first lacks, on cells the first measured.

Cross-validation on one screen cannot settle a drug-encoder question: its corrected intervals on
new drugs stay wider than any useful margin however the folds are cut (issue 26). An external
set of new drugs removes the correction: every seed of every variant is trained on the same
pairs (all of the training screen but a fixed random validation part) and tested on the same
new drugs. The estimand is conditional on that one training set.

Two screens of one lab (GDSC1 beside GDSC2) differ by an assay offset: GDSC1's ln IC50 is about
0.8–0.9 lower on the pairs both measured. The declared rule: the target's ln IC50 is moved by
the mean difference (training minus target) over the (cell, structure) pairs both screens
measured, all of them training structures, so nothing about a test drug sets it. Per-drug r does
not depend on it; RMSE does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from drp.featurize.similarity import drug_identity
from drp.splits.cross_dataset import CrossDatasetSplit, cross_dataset_split

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset


@dataclass
class ExternalTest:
    """A training screen's fold (``cross.fold``: every pair but a random validation part) and
    the target screen's new drugs.

    Attributes:
        cross: the cross-dataset split (training fold, target ``test_ds`` to predict from).
        test_pairs: [n] ``cell_id, drug_id, ln_ic50, ln_ic50_raw``: the target's pairs of
            drugs whose structure the training screen lacks, on cells it measured; ``ln_ic50``
            is on the training screen's scale (``ln_ic50_raw + offset``).
        offset: added to the target's ln IC50 (:func:`assay_offset`).
        offset_median: the median difference over the same pairs (reported beside the rule).
        offset_pairs: how many shared (cell, structure) pairs set the offset.
        dropped_new_cells: new-drug pairs left out because the training screen never measured
            their cell (a new drug on a new cell asks another question).
    """

    cross: CrossDatasetSplit
    test_pairs: pd.DataFrame
    offset: float
    offset_median: float
    offset_pairs: int
    dropped_new_cells: int

    def summary(self) -> dict:
        """What a study records about its external test."""
        return {
            "source": self.cross.source,
            "target": self.cross.target,
            "test_pairs": len(self.test_pairs),
            "test_drugs": int(self.test_pairs["drug_id"].nunique()),
            "test_cells": int(self.test_pairs["cell_id"].nunique()),
            "offset": self.offset,
            "offset_median": self.offset_median,
            "offset_pairs": self.offset_pairs,
            "offset_rule": "mean of training minus target ln IC50 over the (cell, structure) "
            "pairs both screens measured",
            "dropped_new_cells": self.dropped_new_cells,
            "validation_pairs": len(self.cross.fold.val),
        }


def assay_offset(train: FeaturizedDataset, cross: CrossDatasetSplit) -> tuple[float, float, int]:
    """(mean, median, count) of training minus target ln IC50 over the (cell, structure) pairs
    both screens measured (the target's ``seen_pair`` subset; several training ids of one
    structure are averaged).

    Raises:
        ValueError: the screens share no (cell, structure) pair, so no offset can be fitted.
    """
    structure = drug_identity(train.drugs.set_index("drug_id")["structure_key"])
    measured = (
        train.pairs.assign(key=train.pairs["drug_id"].map(structure))
        .groupby(["cell_id", "key"])["ln_ic50"]
        .mean()
    )
    shared = cross.test_pairs[cross.test_pairs["subset"] == "seen_pair"]
    keys = pd.MultiIndex.from_arrays([shared["cell_id"], shared["drug_id"].map(structure)])
    diff = measured.reindex(keys).to_numpy() - shared["ln_ic50"].to_numpy()
    diff = diff[np.isfinite(diff)]
    if not len(diff):
        raise ValueError(
            f"{cross.source} and {cross.target} share no (cell, structure) pair: the assay "
            "offset between them cannot be fitted"
        )
    return float(diff.mean()), float(np.median(diff)), len(diff)


def external_new_drugs(
    train: FeaturizedDataset,
    target: FeaturizedDataset,
    val_seed: int = 0,
    val_fraction: float = 0.1,
) -> ExternalTest:
    """Train on all of ``train`` (a random ``val_fraction`` held for early stopping, drawn with
    ``val_seed``, the same for every seed and variant), test on ``target``'s drugs whose
    structure ``train`` lacks, on ``train``'s cells, moved onto ``train``'s scale."""
    cross = cross_dataset_split(train, target, val_seed, val_fraction)
    offset, median, n_shared = assay_offset(train, cross)
    new = cross.test_pairs[cross.test_pairs["subset"] == "new_drug"]
    known_cell = new["cell_id"].isin(set(train.pairs["cell_id"]))
    kept = new[known_cell]
    test = pd.DataFrame(
        {
            "cell_id": kept["cell_id"].to_numpy(),
            "drug_id": kept["drug_id"].to_numpy(),
            "ln_ic50": kept["ln_ic50"].to_numpy(float) + offset,
            "ln_ic50_raw": kept["ln_ic50"].to_numpy(float),
        }
    )
    return ExternalTest(cross, test, offset, median, n_shared, int((~known_cell).sum()))

"""The fold a run's config names: its fold cache directory and the fold read from it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from drp.core.config import RunConfig
from drp.splits.cache import load_or_make_folds
from drp.splits.fold import Fold

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset


def folds_dir(config: RunConfig) -> Path:
    """The fold cache: ``train.folds_dir`` or ``<dataset>/folds`` (where `drp evaluate` looks)."""
    return Path(config.train.folds_dir or Path(config.train.dataset) / "folds")


def fold_for(ds: FeaturizedDataset, config: RunConfig) -> Fold:
    """The configured fold, from the on-disk fold cache shared by every model and baseline."""
    tc = config.train
    folds = load_or_make_folds(ds, tc.split, tc.k, tc.effective_fold_seed, folds_dir(config))
    if not 0 <= tc.fold < len(folds):
        raise ValueError(f"fold {tc.fold} out of range for k={len(folds)}")
    return folds[tc.fold]

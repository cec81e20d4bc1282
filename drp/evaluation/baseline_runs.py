"""Baselines fitted and scored on (cached) folds, optionally written as run directories.

The baseline models themselves live in :mod:`drp.models.baselines`; each is scored with
:func:`drp.evaluation.scoring.score_model`, like every other model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from drp.core.files import atomic_write_text
from drp.evaluation.metrics import MIN_GROUP
from drp.evaluation.scoring import score_model

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset


def _save_baseline_config(run_dir: Path, config: dict) -> None:
    """``config.json`` of a baseline in the training run-directory layout."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.json", json.dumps(config, indent=2, default=str))


def check_baselines(names: Iterable[str] | None) -> list[str]:
    """The baseline names to run (default :data:`~drp.models.baselines.DEFAULT_BASELINES`).

    Raises:
        ValueError: naming the unknown names and the known ones.
    """
    from drp.models.baselines import BASELINES, DEFAULT_BASELINES

    names = list(names or DEFAULT_BASELINES)
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {list(BASELINES)}")
    return names


def run_baselines(
    ds: FeaturizedDataset,
    split: str,
    k: int = 5,
    fold_seed: int = 0,
    cache_dir: Path | None = None,
    names: Iterable[str] | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    runs_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    dataset_path: Path | None = None,
    only_folds: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Fit and score every baseline on the same (cached) folds (all, or ``only_folds``).

    Returns one row per baseline x fold x subset: ``model, kind, split, fold, seed, subset, n``,
    the metrics and ``ci_unit`` (CIs resample the split's held-out unit). With ``runs_dir``,
    each baseline fold is also written as a run directory ``<runs_dir>/<model>/fold<i>``
    (config.json, predictions_test/val.parquet).
    """
    from drp.models.baselines import BASELINES
    from drp.splits.cache import load_or_make_folds

    names = check_baselines(names)
    folds = load_or_make_folds(ds, split, k, fold_seed, cache_dir)
    wanted = None if only_folds is None else set(only_folds)
    tables = []
    for fold in folds:
        if wanted is not None and fold.index not in wanted:
            continue
        train, val, test = fold.frames(ds.pairs)
        for name in names:
            labels = {"model": name, "kind": "baseline", "split": split, "fold": fold.index}
            run_dir = None
            if runs_dir is not None:
                run_dir = Path(runs_dir) / name / f"fold{fold.index}"
                _save_baseline_config(
                    run_dir,
                    {
                        "dataset": str(dataset_path or ds.name),
                        "split": split,
                        "fold": fold.index,
                        "seed": fold_seed,
                        "k": k,
                        "model": {"name": name, "kind": "baseline"},
                    },
                )
            rows, _ = score_model(
                BASELINES[name](),
                ds,
                train,
                val,
                test,
                labels | {"seed": fold_seed},
                split=split,
                run_dir=run_dir,
                min_group=min_group,
                n_boot=n_boot,
                seed=fold_seed,
            )
            tables.append(rows)
            if log:
                row = rows.iloc[0]
                log(f"{split} fold {fold.index} {name}: rmse {row.rmse:.3f} r {row.pearson:.3f}")
    return pd.concat(tables, ignore_index=True)

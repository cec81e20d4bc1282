"""Cross-dataset scoring: baselines and trained runs of one dataset tested on another's pairs.

The test pairs and their subsets (``seen_pair``, ``new_pair``, ``new_cell``, ``new_drug``)
come from :func:`drp.splits.cross_dataset.cross_dataset_split`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from drp.evaluation.baseline_runs import check_baselines
from drp.evaluation.metrics import MIN_GROUP
from drp.evaluation.run_dirs import (
    check_runs_on_folds,
    read_run_config,
    run_fold_seed,
    run_labels,
    runs_setting,
)
from drp.evaluation.scoring import score_model, score_predictions
from drp.evaluation.tables import prediction_frame

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.cross_dataset import CrossDatasetSplit


def run_training_pairs(
    run_dir: Path, ds: FeaturizedDataset, dataset: Path | None = None
) -> tuple[pd.DataFrame, dict[str, object]]:
    """The pairs of ``ds`` a training run was fitted on (train + val of its fold, read from the
    fold cache its ``config.json`` names) and a description of them.

    Args:
        run_dir: a finished ``drp train`` (or study) run of ``ds``.
        ds: its training dataset.
        dataset: where ``ds`` lives now, if the run's recorded dataset moved.

    Returns:
        ``(pairs, info)``: [m] rows of ``ds.pairs``, and ``train_split``, ``train_fold``,
        ``train_k``, ``train_seed``, ``n_train_pairs`` for the output rows.

    Raises:
        ValueError: the run records no split/k/seed, or its test pairs are not its fold's test
            pairs (the folds or the dataset changed since), so what it trained on is unknown.
    """
    from drp.core.choices import SPLITS
    from drp.splits.cache import load_or_make_folds

    setting = runs_setting([run_dir], dataset=dataset)
    if setting.split not in SPLITS:
        raise ValueError(
            f"{run_dir}: trained on split {setting.split!r}; cross-dataset evaluation needs runs "
            f"trained on one of {list(SPLITS)} (their fold says what they trained on)"
        )
    folds = load_or_make_folds(ds, setting.split, setting.k, setting.fold_seed, setting.folds_dir)
    check_runs_on_folds([run_dir], folds, ds)
    fold = next(f for f in folds if f.index == setting.folds[0])
    rows = np.concatenate([fold.train, fold.val])
    info = {
        "train_split": setting.split,
        "train_fold": fold.index,
        "train_k": setting.k,
        "train_seed": setting.fold_seed,
        "n_train_pairs": len(rows),
    }
    return ds.pairs.iloc[rows].reset_index(drop=True), info


def evaluate_cross_dataset(
    ds: FeaturizedDataset,
    target: FeaturizedDataset,
    run_dirs: Sequence[Path] = (),
    names: Iterable[str] = (),
    seed: int | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    log: Callable[[str], None] | None = None,
    device: str = "cpu",
    dataset: Path | None = None,
) -> tuple[pd.DataFrame, CrossDatasetSplit]:
    """Baselines (trained on all of ``ds``) and trained runs scored on ``target``'s pairs.

    Test pairs come from :func:`drp.splits.cross_dataset.cross_dataset_split`: every target pair, drug
    ids in ``ds``'s id space, labelled ``seen_pair`` / ``new_pair`` / ``new_cell`` /
    ``new_drug``; every model predicts them from the target's own omics, graphs and
    fingerprints. Baselines are fitted on the cross-dataset fold (all of ``ds``'s pairs, a
    random 10% for validation) and the subsets are relative to all of ``ds``. A run was trained
    on one fold of a within-dataset split: its subsets are relabelled relative to the pairs it
    trained on (train + val of that fold, :func:`run_training_pairs`), so a drug-blind run's
    held-out drugs count as new drugs. Rows: subset ``all`` (+ ``uncensored``) and one per
    subset; split label ``cross_dataset:<target>``; ``train_split``/``train_fold``/
    ``n_train_pairs`` say what each model was trained on.

    Args:
        seed: seed of the baselines' validation draw and of the bootstraps; default: the runs'
            seed (when they agree), else 0. Each run's rows carry its own seed.
        dataset: where ``ds`` lives, when the runs' recorded dataset moved.

    Returns:
        ``(rows, cross)``: the metric rows and the split (its counts and ``dropped``).

    Raises:
        ValueError: the target has no testable pair, lacks structure keys, or a run's training
            pairs cannot be recovered from its fold.
    """
    from drp.models.baselines import BASELINES
    from drp.splits.cross_dataset import cross_dataset_split
    from drp.training.estimator import NeuralEstimator

    names = check_baselines(names) if names else []
    run_dirs = [Path(r) for r in run_dirs]
    configs = {r: read_run_config(r) for r in run_dirs}
    if seed is None:
        seeds = {c.get("seed") for c in configs.values()} - {None}
        seed = int(seeds.pop()) if len(seeds) == 1 else 0
    cross = cross_dataset_split(ds, target, seed)
    if log:
        counts = ", ".join(f"{k} {v:,}" for k, v in cross.counts().items())
        log(f"{ds.name} -> {target.name}: {len(cross.test_pairs):,} test pairs ({counts})")
        drops = ", ".join(f"{reason}: {n:,}" for reason, n in cross.dropped.items())
        log(f"{target.name} pairs dropped: {sum(cross.dropped.values()):,} ({drops})")
    if cross.test_pairs.empty:
        raise ValueError(f"no pairs of {target.name} are testable with a model of {ds.name}")
    split = f"cross_dataset:{target.name}"
    test = cross.test_pairs
    tables = []
    if names:
        train, val, _ = cross.fold.frames(ds.pairs)
        trained_on = {
            "train_split": "all",
            "train_fold": np.nan,
            "n_train_pairs": len(train) + len(val),
        }
        for name in names:
            labels = {"model": name, "kind": "baseline", "split": split, "fold": 0, "seed": seed}
            rows, _ = score_model(
                BASELINES[name](),
                ds,
                train,
                val,
                test,
                labels | trained_on,
                split=split,
                test_ds=cross.test_ds,
                min_group=min_group,
                n_boot=n_boot,
                seed=seed,
            )
            tables.append(rows)
    for run_dir, config in configs.items():
        trained, info = run_training_pairs(run_dir, ds, dataset)
        run_test = cross.relabel(ds, trained)
        if log:
            counts = ", ".join(f"{k} {v:,}" for k, v in cross.counts(run_test).items())
            log(
                f"{run_dir} ({info['train_split']} fold {info['train_fold']}, "
                f"{info['n_train_pairs']:,} training pairs): {counts}"
            )
        estimator = NeuralEstimator.from_run(run_dir, device)
        frame = prediction_frame(run_test, estimator.predict(cross.test_ds, run_test))
        labels = run_labels(run_dir, config) | {"split": split}
        labels |= {k: info[k] for k in ("train_split", "train_fold", "n_train_pairs")}
        run_seed = run_fold_seed(config) or 0
        tables.append(
            score_predictions(
                frame, labels, ds, split, min_group, n_boot, run_seed, test_ds=cross.test_ds
            )
        )
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    return table, cross

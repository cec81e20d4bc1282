"""Training runs: one trained and its test part scored (:func:`train_run`), runs' directories
scored (:func:`evaluate_runs`, seed ensembles included) and beside baselines on their own folds
(:func:`evaluate_with_baselines`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from drp.evaluation.baseline_runs import check_baselines, run_baselines
from drp.evaluation.ensembles import combine_members, member_setting
from drp.evaluation.metrics import MIN_GROUP
from drp.evaluation.run_dirs import (
    RunsSetting,
    check_runs_on_folds,
    read_run_config,
    run_fold_seed,
    run_labels,
    runs_setting,
)
from drp.evaluation.scoring import fit_predict, score_predictions
from drp.training.intervals import interval_metrics

if TYPE_CHECKING:
    from drp.core.config import RunConfig
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.fold import Fold
    from drp.training.loop import FoldIndices


def evaluate_runs(
    run_dirs: Iterable[Path],
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    ds: FeaturizedDataset | None = None,
    ensemble: bool = False,
) -> pd.DataFrame:
    """Metric rows of training run directories.

    Each ``run_dir`` holds ``config.json`` (``dataset, split, fold, seed, k, model``) and
    ``predictions_test.parquet`` (``cell_id, drug_id, y_true, y_pred``). The model label is
    ``config["model"]["name"]`` when present, else the directory name. ``ci_unit`` is the
    split's unit (CIs with ``n_boot`` resample it), looked up in ``ds`` (default: the run's
    dataset, when it still exists; otherwise ``pair``).

    With ``ensemble``, every group of two or more runs that share model, dataset, split, k, fold
    seed and fold (a seed ensemble) is also scored as one model, ``<model> ensemble`` (kind ``ensemble``): the mean
    of their predictions, with ``n_models`` members and the mean of their conformal quantiles.

    Raises:
        FileNotFoundError: a run directory lacks one of the two files.
        ValueError: members of one ensemble predicted different test pairs.
    """
    from drp.featurize.store import FeaturizedDataset

    tables = []
    loaded: dict[str, FeaturizedDataset] = {}
    members: dict[tuple, list[tuple[Path, pd.DataFrame]]] = {}

    def dataset_of(config: dict) -> FeaturizedDataset | None:
        if ds is not None or not config.get("dataset") or not Path(config["dataset"]).exists():
            return ds
        path = str(config["dataset"])
        if path not in loaded:
            loaded[path] = FeaturizedDataset.load(Path(path))
        return loaded[path]

    def score(preds: pd.DataFrame, labels: dict, config: dict, runs: list[Path]) -> None:
        rows = score_predictions(
            preds, labels, dataset_of(config), config.get("split"), min_group, n_boot,
            run_fold_seed(config) or 0,
        )  # fmt: skip
        # conformal coverage on all of the fold's test pairs (same value on every subset row)
        tables.append(rows.assign(**interval_metrics(runs, preds)))

    configs: dict[Path, dict] = {}
    for run_dir in map(Path, run_dirs):
        pred_path = run_dir / "predictions_test.parquet"
        configs[run_dir] = config = read_run_config(run_dir)
        if not pred_path.exists():
            raise FileNotFoundError(f"{run_dir} is not a finished run: {pred_path.name} missing")
        preds = pd.read_parquet(pred_path)
        labels = run_labels(run_dir, config)
        score(preds, labels, config, [run_dir])
        if ensemble:
            key = (labels["model"], str(config.get("dataset")), config.get("split"))
            key += (config.get("k"), run_fold_seed(config), config.get("fold"))
            # members must also share the model settings and the prior (member_setting)
            key += tuple(v[0] for v in member_setting(config).values())
            members.setdefault(key, []).append((run_dir, preds))
    for (model, *_), group in members.items():
        if len(group) < 2:
            continue  # one run is not an ensemble: its rows are already there
        pairs = ["cell_id", "drug_id"]
        frames = [p.sort_values(pairs, ignore_index=True) for _, p in group]
        try:
            mean = combine_members(frames, column="y_pred")
        except ValueError:
            raise ValueError(
                f"ensemble {model}: its runs {[str(r) for r, _ in group]} share a fold but "
                "scored different test pairs (the dataset or folds changed between them)"
            ) from None
        first, config = group[0][0], configs[group[0][0]]
        labels = run_labels(first, config) | {
            "model": f"{model} ensemble",
            "kind": "ensemble",
            "seed": run_fold_seed(config),
            "run_dir": ";".join(str(r) for r, _ in group),
            "n_models": len(group),
        }
        score(mean.drop(columns=["ensemble_sd", "n_models"]), labels, config, [r for r, _ in group])
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def evaluate_with_baselines(
    run_dirs: Sequence[Path],
    names: Iterable[str] | None = None,
    *,
    split: str | None = None,
    k: int | None = None,
    fold_seed: int | None = None,
    dataset: Path | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    ensemble: bool = False,
    log: Callable[[str], None] | None = None,
) -> tuple[pd.DataFrame, RunsSetting]:
    """Runs beside baselines fitted on exactly the runs' folds (split, k, fold seed, dataset and
    fold cache read from the runs; see :func:`~drp.evaluation.run_dirs.runs_setting`);
    ``ensemble`` as in :func:`evaluate_runs`.

    Returns:
        ``(rows, setting)``: metric rows of runs and baselines, and the setting used.
    """
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.cache import load_or_make_folds

    names = check_baselines(names)
    setting = runs_setting(run_dirs, split=split, k=k, fold_seed=fold_seed, dataset=dataset)
    ds = FeaturizedDataset.load(setting.dataset)
    folds = load_or_make_folds(ds, setting.split, setting.k, setting.fold_seed, setting.folds_dir)
    check_runs_on_folds(run_dirs, folds, ds)
    runs = evaluate_runs(run_dirs, min_group, n_boot, ds=ds, ensemble=ensemble)
    base = run_baselines(
        ds,
        setting.split,
        setting.k,
        setting.fold_seed,
        setting.folds_dir,
        names,
        min_group,
        n_boot,
        log=log,
        only_folds=setting.folds,
    )
    return pd.concat([runs, base], ignore_index=True), setting


def train_run(
    config: RunConfig,
    run_dir: Path,
    *,
    ds: FeaturizedDataset | None = None,
    fold: FoldIndices | Fold | None = None,
    resume: bool = False,
    on_epoch: Callable[[dict], None] | None = None,
    command: str = "",
    name: str = "model",
) -> dict:
    """Train one configured model on one fold (``drp train``); returns the summary (best
    epoch, best val RMSE). The run directory gets ``predictions_test.parquet`` last, so its
    presence marks a finished run.

    Raises:
        FileExistsError: ``run_dir`` holds a run and ``resume`` is False.
    """
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.run_folds import fold_for
    from drp.training.estimator import NeuralEstimator

    config.validate()
    ds = ds or FeaturizedDataset.load(Path(config.train.dataset))
    fold = fold or fold_for(ds, config)
    train, val, test = fold.frames(ds.pairs)
    run_dir = Path(run_dir)
    estimator = NeuralEstimator(
        config,
        name,
        run_dir,
        resume=resume,
        on_epoch=on_epoch,
        command=command,
        run_info={"counts": {"test": len(test)}},
    )
    fit_predict(estimator, ds, train, val, test, run_dir=run_dir)
    return estimator.summary_

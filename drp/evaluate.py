"""Scoring models on folds: baselines and training runs on identical folds, metric tables.

Metric definitions live in :mod:`drp.metrics`; this module runs models and writes/prints tables.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from drp.metrics import (
    LOWER_IS_BETTER,
    MIN_GROUP,
    TABLE_METRICS,
    aggregate_folds,
    evaluate_predictions,
)

if TYPE_CHECKING:
    from rich.console import Console

    from drp.featurize.store import FeaturizedDataset

def write_metrics(table: pd.DataFrame, out_dir: Path, extra: dict | None = None) -> pd.DataFrame:
    """Write ``metrics.csv`` (one row per model x fold x subset), ``metrics_summary.csv``
    (mean/sd over folds) and ``metrics.json`` (both, plus ``extra``); returns the summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = aggregate_folds(table)
    table.to_csv(out_dir / "metrics.csv", index=False)
    summary.to_csv(out_dir / "metrics_summary.csv", index=False)
    payload = {
        "metrics": json.loads(table.to_json(orient="records")),
        "summary": json.loads(summary.to_json(orient="records")),
        "lower_is_better": sorted(LOWER_IS_BETTER),
    } | (extra or {})
    (out_dir / "metrics.json").write_text(json.dumps(payload, indent=2, default=str))
    return summary


def print_metrics_table(
    summary: pd.DataFrame,
    console: Console | None = None,
    title: str = "mean ± sd over folds",
    ceiling: dict[str, float] | None = None,
) -> None:
    """Rich table: baselines (dim) beside models, ``mean±sd`` per metric; best value in bold.

    ``split`` and ``subset`` get a column only when they vary; otherwise they go in the title.
    """
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    varying = [c for c in ("split", "subset") if summary[c].nunique() > 1]
    fixed = [f"{c} {summary[c].iloc[0]}" for c in ("split", "subset") if c not in varying]
    folds = sorted(summary["n_folds"].unique())
    table = Table(title=", ".join([*fixed, f"{'/'.join(map(str, folds))} fold(s)", title]))
    table.add_column("model", no_wrap=True)
    for col in varying:
        table.add_column(col, no_wrap=True)
    shown = [m for m in TABLE_METRICS if f"{m}_mean" in summary]
    for m in shown:
        table.add_column(m + (" ↓" if m in LOWER_IS_BETTER else " ↑"), justify="right")
    summary = summary.sort_values(["split", "subset", "kind", "model"], kind="stable")
    for _, block in summary.groupby(["split", "subset"], sort=False):
        best = {
            m: (block[f"{m}_mean"].min() if m in LOWER_IS_BETTER else block[f"{m}_mean"].max())
            for m in shown
        }
        for _, row in block.iterrows():
            cells = []
            for m in shown:
                mean, sd = row[f"{m}_mean"], row[f"{m}_sd"]
                text = "–" if pd.isna(mean) else f"{mean:.3f}"
                if not pd.isna(sd) and not pd.isna(mean):
                    text += f"±{sd:.3f}"
                cells.append(f"[bold]{text}[/]" if mean == best[m] else text)
            model = str(row["model"])
            if row.get("kind") == "baseline":
                model = f"[dim]{model}[/]"
            table.add_row(model, *(str(row[c]) for c in varying), *cells)
    if ceiling and ceiling.get("n_pairs"):
        table.caption = (
            f"replicate noise ceiling ({ceiling['n_pairs']:,} pairs measured twice): "
            f"rmse {ceiling['rmse']:.3f}, pearson {ceiling['pearson']:.3f}"
        )
    console.print(table)


# ---- runs and baselines -----------------------------------------------------------------------
def evaluate_runs(
    run_dirs: Iterable[Path], min_group: int = MIN_GROUP, n_boot: int = 0
) -> pd.DataFrame:
    """Metric rows of training run directories.

    Each ``run_dir`` holds ``config.json`` (``dataset, split, fold, seed, k, model``) and
    ``predictions_test.parquet`` (``cell_id, drug_id, y_true, y_pred``). The model label is
    ``config["model"]["name"]`` when present, else the directory name.

    Raises:
        FileNotFoundError: a run directory lacks one of the two files.
    """
    tables = []
    for run_dir in map(Path, run_dirs):
        config_path, pred_path = run_dir / "config.json", run_dir / "predictions_test.parquet"
        for path in (config_path, pred_path):
            if not path.exists():
                raise FileNotFoundError(f"{run_dir} is not a finished run: {path.name} missing")
        config = json.loads(config_path.read_text())
        model = config.get("model")
        name = model.get("name") if isinstance(model, dict) else model
        labels = {
            "model": name or run_dir.name,
            "kind": "model",
            "split": config.get("split"),
            "fold": config.get("fold"),
            "seed": config.get("seed"),
            "run_dir": str(run_dir),
        }
        preds = pd.read_parquet(pred_path)
        tables.append(evaluate_predictions(preds, labels, min_group, n_boot))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def prediction_frame(pairs: pd.DataFrame, y_pred: np.ndarray) -> pd.DataFrame:
    """``cell_id, drug_id, y_true, y_pred[, censored]`` from pairs with ``ln_ic50``."""
    cols = ["cell_id", "drug_id"] + (["censored"] if "censored" in pairs else [])
    out = pairs[cols].reset_index(drop=True).copy()
    out.insert(2, "y_true", pairs["ln_ic50"].to_numpy(np.float64))
    out.insert(3, "y_pred", np.asarray(y_pred, np.float64))
    return out


def _save_baseline_run(
    run_dir: Path, config: dict, preds: pd.DataFrame, val_preds: pd.DataFrame | None
) -> None:
    """Write a baseline in the training run-directory layout, so studies can read it alike."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(config, indent=2, default=str))
    preds.to_parquet(run_dir / "predictions_test.parquet", index=False)
    if val_preds is not None:
        val_preds.to_parquet(run_dir / "predictions_val.parquet", index=False)


def run_baselines(
    ds: FeaturizedDataset,
    split: str,
    k: int = 5,
    seed: int = 0,
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

    Returns one row per baseline x fold x subset: ``model, kind, split, fold, seed, subset, n``
    and the metrics. With ``runs_dir``, each baseline fold is also written as a run directory
    ``<runs_dir>/<model>/fold<i>`` (config.json, predictions_test/val.parquet).
    """
    from drp.data.splits import load_or_make_folds
    from drp.models.baselines import BASELINES, DEFAULT_BASELINES

    names = list(names or DEFAULT_BASELINES)
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {list(BASELINES)}")
    folds = load_or_make_folds(ds, split, k, seed, cache_dir)
    tables = []
    wanted = None if only_folds is None else set(only_folds)
    for fold in folds:
        if wanted is not None and fold.index not in wanted:
            continue
        train, val, test = fold.frames(ds.pairs)
        for name in names:
            model = BASELINES[name]().fit(ds, train, val)
            preds = prediction_frame(test, model.predict(ds, test))
            labels = {"model": name, "kind": "baseline", "split": split, "fold": fold.index}
            tables.append(evaluate_predictions(preds, labels | {"seed": seed}, min_group, n_boot))
            if log:
                row = tables[-1].iloc[0]
                log(f"{split} fold {fold.index} {name}: rmse {row.rmse:.3f} r {row.pearson:.3f}")
            if runs_dir is not None:
                config = {
                    "dataset": str(dataset_path or ds.name),
                    "split": split,
                    "fold": fold.index,
                    "seed": seed,
                    "k": k,
                    "model": {"name": name, "kind": "baseline"},
                }
                val_preds = prediction_frame(val, model.predict(ds, val))
                _save_baseline_run(
                    Path(runs_dir) / name / f"fold{fold.index}", config, preds, val_preds
                )
    return pd.concat(tables, ignore_index=True)


def run_baselines_cross(
    ds: FeaturizedDataset,
    other: FeaturizedDataset,
    seed: int = 0,
    names: Iterable[str] | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    log: Callable[[str], None] | None = None,
    exclude_seen: bool = True,
) -> pd.DataFrame:
    """Baselines trained on all of ``ds`` and tested on ``other`` (see
    :func:`drp.data.splits.cross_dataset_split`); split label ``cross_dataset:<other.name>``
    (``+seen`` appended when pairs measured in ``ds`` are kept).

    Returns rows as :func:`run_baselines` (fold 0; subsets ``all`` and, for censored targets
    such as CCLE, ``uncensored``).
    """
    from drp.data.splits import cross_dataset_split, match_drugs
    from drp.models.baselines import BASELINES, DEFAULT_BASELINES

    names = list(names or DEFAULT_BASELINES)
    cross = cross_dataset_split(
        ds.pairs,
        other.pairs,
        ds.cells["cell_id"],
        ds.drugs["drug_id"],
        ds.name,
        other.name,
        seed,
        drug_map=match_drugs(ds.drugs, other.drugs),
        exclude_seen=exclude_seen,
    )
    if log:
        log(f"{ds.name} -> {other.name}: {len(cross.test_pairs):,} test pairs; {cross.dropped}")
    if cross.test_pairs.empty:
        raise ValueError(f"no pairs of {other.name} are testable with {ds.name} features")
    train, val, _ = cross.fold.frames(ds.pairs)
    split = f"cross_dataset:{other.name}" + ("" if exclude_seen else "+seen")
    tables = []
    for name in names:
        model = BASELINES[name]().fit(ds, train, val)
        preds = prediction_frame(cross.test_pairs, model.predict(ds, cross.test_pairs))
        labels = {"model": name, "kind": "baseline", "split": split, "fold": 0, "seed": seed}
        tables.append(evaluate_predictions(preds, labels, min_group, n_boot))
    return pd.concat(tables, ignore_index=True)


def evaluate_runs_cross(
    run_dirs: Iterable[Path],
    ds: FeaturizedDataset,
    other: FeaturizedDataset,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    exclude_seen: bool = True,
) -> pd.DataFrame:
    """Trained runs (on ``ds``) scored on ``other``'s pairs: the same test pairs as
    :func:`run_baselines_cross`. No test pair was seen in training, whichever fold of ``ds`` the
    run was trained on, since with ``exclude_seen`` they are pairs ``ds`` never measured."""
    from drp.data.splits import cross_dataset_split, match_drugs
    from drp.predict import Predictor

    cross = cross_dataset_split(
        ds.pairs,
        other.pairs,
        ds.cells["cell_id"],
        ds.drugs["drug_id"],
        ds.name,
        other.name,
        0,
        drug_map=match_drugs(ds.drugs, other.drugs),
        exclude_seen=exclude_seen,
    )
    split = f"cross_dataset:{other.name}" + ("" if exclude_seen else "+seen")
    tables = []
    for run_dir in map(Path, run_dirs):
        config = json.loads((run_dir / "config.json").read_text())
        predictor = Predictor.from_run(run_dir)
        pred = predictor.predict_pairs(cross.test_pairs[["cell_id", "drug_id"]])
        frame = prediction_frame(cross.test_pairs, pred["ln_ic50_pred"].to_numpy())
        model = config.get("model", {})
        labels = {
            "model": (model.get("name") if isinstance(model, dict) else None) or run_dir.name,
            "kind": "model",
            "split": split,
            "fold": config.get("fold"),
            "seed": config.get("seed"),
            "run_dir": str(run_dir),
        }
        tables.append(evaluate_predictions(frame, labels, min_group, n_boot))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()

"""Metric tables and prediction frames: what scoring writes and reads back.

``metrics.csv`` / ``metrics_summary.csv`` / ``metrics.json`` of an evaluation
(:func:`summarise`, :func:`write_metrics`) and a run's ``predictions_<part>.parquet``
(:func:`prediction_frame`, :func:`write_predictions`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from drp.evaluation.metrics import LOWER_IS_BETTER, aggregate_folds


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`drp.evaluation.metrics.aggregate_folds` plus the bootstrap unit (``ci_unit``) and the mean
    CI bounds (``<metric>_lo_mean``, ``<metric>_hi_mean``) where the table has them."""
    by = ("model", "kind", "split", "subset", "ci_unit")
    summary = aggregate_folds(table, by=by)
    bounds = [c for c in table if c.endswith(("_lo", "_hi"))]
    if bounds:
        keys = [c for c in by if c in table]
        means = table.groupby(keys, sort=False, dropna=False)[bounds].mean().add_suffix("_mean")
        summary = summary.merge(means.reset_index(), on=keys, how="left")
    return summary


def write_metrics(table: pd.DataFrame, out_dir: Path, extra: dict | None = None) -> pd.DataFrame:
    """Write ``metrics.csv`` (one row per model x fold x subset), ``metrics_summary.csv``
    (mean/sd over folds) and ``metrics.json`` (both, plus ``extra``); returns the summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarise(table)
    table.to_csv(out_dir / "metrics.csv", index=False)
    summary.to_csv(out_dir / "metrics_summary.csv", index=False)
    payload = {
        "metrics": json.loads(table.to_json(orient="records")),
        "summary": json.loads(summary.to_json(orient="records")),
        "lower_is_better": sorted(LOWER_IS_BETTER),
    } | (extra or {})
    (out_dir / "metrics.json").write_text(json.dumps(payload, indent=2, default=str))
    return summary


def prediction_frame(pairs: pd.DataFrame, y_pred: np.ndarray) -> pd.DataFrame:
    """``cell_id, drug_id, y_true, y_pred`` from pairs with ``ln_ic50``, plus ``censored``
    (CCLE's cap), ``outside_range`` (the IC50 lies outside the screened range; NA where the
    range is unknown), ``subset`` and ``drug_id_other`` where ``pairs`` has them (the last two:
    cross-dataset tests)."""
    extra = [c for c in ("censored", "outside_range", "subset", "drug_id_other") if c in pairs]
    out = pairs[["cell_id", "drug_id", *extra]].reset_index(drop=True).copy()
    out.insert(2, "y_true", pairs["ln_ic50"].to_numpy(np.float64))
    out.insert(3, "y_pred", np.asarray(y_pred, np.float64))
    return out


def write_predictions(frame: pd.DataFrame, path: Path) -> None:
    """Write a prediction frame atomically (a finished run is one whose test file exists)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)

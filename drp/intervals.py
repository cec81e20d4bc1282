"""Split-conformal prediction intervals from a run's validation pairs.

The validation pairs are drawn with the split's own blindness (new drugs on drug-blind, new
cells on cell-blind), are never training or test pairs of the fold, and are scored by the final
model after training. Their absolute residuals give, for each coverage level, the conformal
quantile ``q = |r|_(ceil((n + 1) * level))``; an interval is ``prediction ± q``. It covers a new
pair of the same kind as the validation pairs with probability ``level`` when pairs are
exchangeable; on drug-blind folds pairs of one drug are not, so coverage varies by fold
(measured in benchmarks/RESULTS.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

LEVELS = tuple(round(x, 2) for x in np.arange(0.50, 0.995, 0.01))
"""Coverage levels stored per run: 0.50, 0.51, ..., 0.99."""
FILE = "calibration.json"


def conformal_quantiles(abs_residuals: np.ndarray) -> dict[str, float]:
    """``{level: q}`` for every level in :data:`LEVELS` from [n] absolute residuals (n >= 1)."""
    res = np.sort(np.asarray(abs_residuals, dtype=float))
    n = len(res)
    if n == 0:
        raise ValueError("conformal calibration needs at least one validation pair")
    out = {}
    for level in LEVELS:
        k = math.ceil((n + 1) * level)
        out[f"{level:.2f}"] = float(res[min(k, n) - 1]) if k <= n else math.inf
    return out


def write_calibration(run_dir: Path, val: pd.DataFrame, split: str) -> dict:
    """Write ``calibration.json`` from validation predictions (``y_true``, ``y_pred``,
    ``drug_id``, ``cell_id``) of the run's split; returns what was written."""
    record = {
        "method": "split conformal, absolute residuals of the validation pairs",
        "split": split,
        "n_pairs": len(val),
        "n_drugs": int(val["drug_id"].nunique()),
        "n_cells": int(val["cell_id"].nunique()),
        "quantiles": conformal_quantiles((val["y_pred"] - val["y_true"]).abs().to_numpy()),
    }
    (Path(run_dir) / FILE).write_text(json.dumps(record, indent=2))
    return record


def conformal_quantile(run_dir: Path, level: float, new_drugs: bool = False) -> tuple[float, str]:
    """The run's conformal quantile at ``level`` and the split whose validation pairs gave it.

    Raises:
        ValueError: no calibration in the run, a level outside 0.50-0.99 in steps of 0.01, or
            new drugs (SMILES) with a run not calibrated on new drugs (its intervals would be
            too narrow: train the run with ``--split drug_blind``).
    """
    path = Path(run_dir) / FILE
    if not path.exists():
        raise ValueError(f"{run_dir} has no {FILE}: train it again with this drp for intervals")
    record = json.loads(path.read_text())
    key = f"{round(level, 2):.2f}"
    if key not in record["quantiles"] or abs(level - round(level, 2)) > 1e-9:
        raise ValueError(f"--interval must be one of 0.50, 0.51, ..., 0.99; got {level}")
    if new_drugs and record["split"] not in ("drug_blind", "cluster_blind"):
        raise ValueError(
            f"{run_dir} was calibrated on {record['split']} pairs (known drugs); intervals for "
            "new drugs need a run trained with --split drug_blind"
        )
    return float(record["quantiles"][key]), str(record["split"])


def add_interval(
    frame: pd.DataFrame,
    run_dir: Path | list[Path],
    level: float,
    new_drugs: bool = False,
) -> pd.DataFrame:
    """``frame`` with ``lo``, ``hi`` (ln IC50) around ``ln_ic50_pred`` at ``level`` and
    ``interval_from`` (the split whose validation pairs calibrated it). For several runs (an
    ensemble) the half-width is the mean of their quantiles. Errors as
    :func:`conformal_quantile`."""
    runs = run_dir if isinstance(run_dir, list) else [run_dir]
    found = [conformal_quantile(r, level, new_drugs) for r in runs]
    q = float(np.mean([q for q, _ in found]))
    out = frame.copy()
    out["lo"] = out["ln_ic50_pred"] - q
    out["hi"] = out["ln_ic50_pred"] + q
    out["interval_from"] = "/".join(dict.fromkeys(split for _, split in found))
    return out


EVALUATED_LEVELS = (0.80, 0.90)
INTERVAL_METRICS = tuple(
    f"{m}_{round(100 * lv)}" for lv in EVALUATED_LEVELS for m in ("coverage", "width")
)
"""Columns `drp evaluate` adds for a calibrated run: coverage_80, width_80, coverage_90, width_90."""


def interval_metrics(run_dirs: Path | Sequence[Path], pred: pd.DataFrame) -> dict[str, float]:
    """Empirical coverage and width (ln IC50) of the conformal intervals of a run (or of an
    ensemble: the mean of its members' quantiles) on ``pred`` (``y_true``, ``y_pred``) at
    :data:`EVALUATED_LEVELS`; empty when a run has no ``calibration.json``."""
    runs = [Path(run_dirs)] if isinstance(run_dirs, str | Path) else [Path(r) for r in run_dirs]
    if not runs or not all((r / FILE).exists() for r in runs):
        return {}
    records = [json.loads((r / FILE).read_text())["quantiles"] for r in runs]
    error = (pred["y_pred"] - pred["y_true"]).abs().to_numpy()
    out = {}
    for level in EVALUATED_LEVELS:
        q = float(np.mean([quantiles[f"{level:.2f}"] for quantiles in records]))
        out[f"coverage_{round(100 * level)}"] = float(np.mean(error <= q))
        out[f"width_{round(100 * level)}"] = 2 * q
    return out

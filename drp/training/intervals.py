"""Conformal prediction intervals, calibrated at the unit the run's split holds out.

**Known drugs** (mixed, cell- and tissue-blind runs): split conformal on the validation pairs,
which are drawn with the split's own blindness, are never training or test pairs of the fold,
and are scored by the final model. Their absolute residuals give, per coverage level, the
conformal quantile ``q = |r|_(ceil((n + 1) * level))`` (``crepes.ConformalRegressor``); an
interval is ``prediction ± q``.

**New drugs** (drug- and cluster-blind runs): pairs of one drug are not exchangeable, the drug
is, and the ~18 validation drugs are too few to calibrate on (coverage ranged 0.80-0.99 by fold
at 90%). A new drug's error is its level error (the prior's main effect against the measured
one) plus a cell-to-cell part, so the score of a new pair is built as their sum over *drugs*:
the level errors of every training drug predicted by the prior without its own structure (or
cluster, on cluster-blind runs; :meth:`DrugEffectPrior.loo_residuals`, ~160 drugs on GDSC2
folds), each added to every within-drug residual of the validation pairs (residual minus its
drug's mean residual). Each drug weighs the same, as a new drug would. Without a prior the
validation drugs' own mean errors stand in for the level errors.

This is a plug-in approximation, not split conformal with its finite-sample guarantee: it
assumes the level and cell-to-cell parts independent, its effective sample is the ~160 drugs
(not the millions of crossed scores ``crepes`` ranks, so its (n + 1) correction is nominal),
the cell-to-cell part comes from the ~18 validation drugs that also chose the epoch, and the
leave-out errors share the prior's penalty and offset with the drugs left out (about 1/n).
Coverage is therefore measured, not promised: marginal over new pairs of new drugs, not per
drug (a drug whose level is far off has few of its cells covered), in
``benchmarks/RESULTS.md`` ("Prediction intervals"), per fold and per drug.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from drp.core.choices import NEW_DRUG_SPLITS
from drp.core.files import atomic_write_text

LEVELS = tuple(round(x, 2) for x in np.arange(0.50, 0.995, 0.01))
"""Coverage levels stored per run: 0.50, 0.51, ..., 0.99."""
FILE = "calibration.json"
#: within-drug residuals kept (evenly spaced order statistics) when they are crossed with the
#: level errors: bounds memory at ~4M scores for ~200 drugs
MAX_WITHIN = 20_000


def conformal_quantiles(scores: np.ndarray) -> dict[str, float]:
    """``{level: q}`` for every level in :data:`LEVELS` from [n] nonconformity scores (absolute
    residuals, n >= 1), by ``crepes``' conformal regressor (inf where n is too small)."""
    from crepes import ConformalRegressor

    res = np.asarray(scores, dtype=float)
    if len(res) == 0:
        raise ValueError("conformal calibration needs at least one validation pair")
    regressor = ConformalRegressor().fit(res)
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # crepes warns where (n + 1) * level > n: inf
        for level in LEVELS:
            hi = regressor.predict_int(np.zeros(1), confidence=level)[0, 1]
            out[f"{level:.2f}"] = float(hi) if np.isfinite(hi) else math.inf
    return out


def drug_level_scores(
    level_errors: np.ndarray, val: pd.DataFrame, max_within: int = MAX_WITHIN
) -> np.ndarray:
    """Scores [n_drugs * n_within] ``|level error + within-drug residual|`` of new pairs.

    Args:
        level_errors: [n_drugs] a new drug's main-effect error (prediction minus truth), one
            per drug (exchangeable drugs).
        val: validation pairs (``drug_id``, ``y_pred``, ``y_true``) of new drugs; their
            residuals minus each drug's mean residual are the cell-to-cell part.
        max_within: at most this many within-drug residuals (evenly spaced quantiles).
    """
    residual = (val["y_pred"] - val["y_true"]).to_numpy(np.float64)
    within = residual - pd.Series(residual).groupby(val["drug_id"].to_numpy()).transform("mean")
    within = np.sort(within.to_numpy())
    if len(within) > max_within:
        within = within[np.linspace(0, len(within) - 1, max_within).round().astype(int)]
    return np.abs(np.asarray(level_errors, np.float64)[:, None] + within[None, :]).ravel()


def write_calibration(
    run_dir: Path, val: pd.DataFrame, split: str, level_errors: np.ndarray | None = None
) -> dict:
    """Write ``calibration.json`` from validation predictions (``y_true``, ``y_pred``,
    ``drug_id``, ``cell_id``) of the run's split; returns what was written.

    On drug- and cluster-blind runs the scores are drug-level (:func:`drug_level_scores`) with
    ``level_errors`` [n_drugs] (the prior's leave-one-structure-out errors), or without them the
    validation drugs' mean errors.
    """
    record = {
        "split": split,
        "n_pairs": len(val),
        "n_drugs": int(val["drug_id"].nunique()),
        "n_cells": int(val["cell_id"].nunique()),
    }
    if split in NEW_DRUG_SPLITS:
        residual = (val["y_pred"] - val["y_true"]).groupby(val["drug_id"]).mean()
        own = level_errors is None
        errors = residual.to_numpy() if own else np.asarray(level_errors, np.float64)
        scores = drug_level_scores(errors, val)
        record |= {
            "method": "drug-level conformal: level errors of "
            + (
                f"the {len(errors)} validation drugs"
                if own
                else f"{len(errors)} training drugs predicted by the prior without their own "
                + ("cluster" if split == "cluster_blind" else "structure")
            )
            + " crossed with the validation pairs' within-drug residuals",
            "unit": "drug",
            "n_level_drugs": len(errors),
        }
    else:
        scores = (val["y_pred"] - val["y_true"]).abs().to_numpy()
        record |= {
            "method": "split conformal, absolute residuals of the validation pairs",
            "unit": "pair",
        }
    record["quantiles"] = conformal_quantiles(scores)
    atomic_write_text(Path(run_dir) / FILE, json.dumps(record, indent=2))
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
    if new_drugs and record["split"] not in NEW_DRUG_SPLITS:
        raise ValueError(
            f"{run_dir} was calibrated on {record['split']} pairs (known drugs); intervals for "
            "new drugs need a run trained with --split drug_blind"
        )
    return float(record["quantiles"][key]), str(record["split"])


def interval_half_width(
    run_dir: Path | Sequence[Path], level: float, new_drugs: bool = False
) -> float:
    """Half-width (ln IC50) of the run's interval at ``level``; for several runs (an ensemble)
    the mean of their quantiles. Errors as :func:`conformal_quantile`."""
    runs = [run_dir] if isinstance(run_dir, str | Path) else list(run_dir)
    return float(np.mean([conformal_quantile(r, level, new_drugs)[0] for r in runs]))


def add_interval(
    frame: pd.DataFrame,
    run_dir: Path | list[Path],
    level: float,
    new_drugs: bool = False,
    new_drug: np.ndarray | None = None,
) -> pd.DataFrame:
    """``frame`` with ``lo``, ``hi`` (ln IC50) around ``ln_ic50_pred`` at ``level``,
    ``interval_from`` (the split whose validation pairs calibrated it) and
    ``interval_calibrated``: False where the pair is not of the kind the run was calibrated on,
    a cell the run's dataset does not hold (a cell line of another dataset) or, with
    ``new_drug`` [n_rows] (the drug is new to the run), a new drug on a run calibrated on
    known drugs or a known drug on one calibrated on new drugs (there the interval is wider
    than needed); NA where the run's dataset cannot be found. A warning counts the rows that
    are not calibrated. For several runs (an ensemble) the half-width is the mean of their
    quantiles. Errors as :func:`conformal_quantile`."""
    runs = run_dir if isinstance(run_dir, list) else [run_dir]
    found = [conformal_quantile(r, level, new_drugs) for r in runs]
    q = float(np.mean([q for q, _ in found]))
    out = frame.copy()
    out["lo"] = out["ln_ic50_pred"] - q
    out["hi"] = out["ln_ic50_pred"] + q
    splits = list(dict.fromkeys(split for _, split in found))
    out["interval_from"] = "/".join(splits)
    known = _run_cells(Path(runs[0]))
    calibrated = pd.Series(pd.NA if known is None else True, index=out.index, dtype="boolean")
    if known is not None:
        calibrated &= out["cell_id"].isin(known).to_numpy()
    if new_drug is not None:
        on_new = splits[0] in NEW_DRUG_SPLITS
        calibrated &= np.asarray(new_drug, bool) == on_new
    out["interval_calibrated"] = calibrated
    outside = int((~calibrated).fillna(False).sum())
    if outside:
        warnings.warn(
            f"{outside:,} prediction(s) are not of the kind the run's intervals were calibrated "
            "on (a cell outside its dataset, or a new drug on a run of known drugs, or the "
            "reverse): interval_calibrated = False",
            stacklevel=2,
        )
    return out


def _run_cells(run_dir: Path) -> set[str] | None:
    """Cell ids of the dataset a run was trained on (None when it cannot be found)."""
    config = run_dir / "config.json"
    if not config.exists():
        return None
    dataset = json.loads(config.read_text()).get("dataset")
    cells = Path(str(dataset)) / "cells.parquet" if dataset else None
    if cells is None or not cells.exists():
        return None
    return set(pd.read_parquet(cells, columns=["cell_id"])["cell_id"].astype(str))


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

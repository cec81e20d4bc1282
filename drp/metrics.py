"""Predictions -> metrics: global, per drug, per cell; bootstrap CIs; noise ceiling; tables.

Metric definitions and edge cases (each is counted in the output, never silent):

* ``rmse``, ``mae``, ``r2`` (sklearn), ``pearson`` and ``spearman`` (scipy) over all pairs.
  A constant prediction has Pearson and Spearman **0** (it ranks nothing), not NaN.
* ``per_drug_r`` / ``per_cell_r``: mean over drugs (cells) of the Pearson r between truth and
  prediction within the group. Groups with fewer than ``min_group`` pairs are skipped
  (``*_skipped_small``); groups whose truth is constant are skipped (``*_skipped_constant_target``,
  r undefined and nothing to rank); groups whose prediction is constant get r = 0 and are kept
  (``*_constant_pred``). Hence a drug-mean predictor has ``per_drug_r == 0`` exactly, and the
  table shows it. ``*_groups`` is the number of groups averaged.

Higher is better for every metric except ``rmse`` and ``mae`` (:data:`LOWER_IS_BETTER`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

MIN_GROUP = 3
METRICS = ("rmse", "mae", "r2", "pearson", "spearman", "per_drug_r", "per_cell_r")
LOWER_IS_BETTER = frozenset({"rmse", "mae"})
TABLE_METRICS = ("rmse", "pearson", "spearman", "r2", "per_drug_r", "per_cell_r")


# ---- metrics ----------------------------------------------------------------------------------
def is_constant(x: np.ndarray) -> bool:
    """True for an empty or numerically constant vector (float noise is not variation)."""
    return len(x) == 0 or float(np.ptp(x)) <= 1e-12 * max(1.0, float(np.abs(x).max()))


def _correlation(y_true: np.ndarray, y_pred: np.ndarray, method) -> float:
    if len(y_true) < 2 or is_constant(y_true):
        return float("nan")
    if is_constant(y_pred):
        return 0.0
    return float(method(y_true, y_pred)[0])


def pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson r; 0 for a constant prediction, NaN for a constant truth or < 2 pairs."""
    return _correlation(y_true, y_pred, stats.pearsonr)


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Spearman rho with the same edge cases as :func:`pearson`."""
    return _correlation(y_true, y_pred, stats.spearmanr)


def group_pearson(
    codes: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, min_group: int = MIN_GROUP
) -> dict[str, float]:
    """Mean within-group Pearson r (vectorised with bincount).

    Args:
        codes: [n] group code of each pair in ``0..G-1``.
        y_true, y_pred: [n] values.

    Returns:
        ``r`` (mean over kept groups, NaN if none), ``groups`` (kept), ``skipped_small``,
        ``skipped_constant_target``, ``constant_pred`` (kept with r = 0).
    """
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    n = np.bincount(codes, minlength=n_groups).astype(np.float64)
    safe_n = np.maximum(n, 1)
    t = y_true - (np.bincount(codes, y_true, n_groups) / safe_n)[codes]
    p = y_pred - (np.bincount(codes, y_pred, n_groups) / safe_n)[codes]
    stt = np.bincount(codes, t * t, n_groups)
    spp = np.bincount(codes, p * p, n_groups)
    stp = np.bincount(codes, t * p, n_groups)
    # A group is constant when its centred sum of squares is float noise.
    scale_t = np.bincount(codes, y_true * y_true, n_groups)
    scale_p = np.bincount(codes, y_pred * y_pred, n_groups)
    const_t = stt <= 1e-20 * np.maximum(scale_t, n)
    const_p = spp <= 1e-20 * np.maximum(scale_p, n)
    present = n > 0
    small = present & (n < min_group)
    skip_t = present & ~small & const_t
    keep = present & ~small & ~const_t
    zero = keep & const_p
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(zero, 0.0, stp / np.sqrt(stt * spp))
    r = np.clip(r[keep], -1.0, 1.0)
    return {
        "r": float(r.mean()) if len(r) else float("nan"),
        "groups": int(keep.sum()),
        "skipped_small": int(small.sum()),
        "skipped_constant_target": int(skip_t.sum()),
        "constant_pred": int(zero.sum()),
    }


def _arrays(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    missing = [c for c in ("cell_id", "drug_id", "y_true", "y_pred") if c not in frame]
    if missing:
        raise ValueError(f"prediction frame lacks column(s) {missing}; has {list(frame.columns)}")
    out = {
        "y_true": frame["y_true"].to_numpy(np.float64),
        "y_pred": frame["y_pred"].to_numpy(np.float64),
        "drug": pd.factorize(frame["drug_id"])[0],
        "cell": pd.factorize(frame["cell_id"])[0],
    }
    if not (np.isfinite(out["y_true"]).all() and np.isfinite(out["y_pred"]).all()):
        raise ValueError("prediction frame has non-finite y_true or y_pred")
    return out


def _metric(name: str, a: dict[str, np.ndarray], min_group: int) -> float:
    t, p = a["y_true"], a["y_pred"]
    if name == "rmse":
        return float(np.sqrt(mean_squared_error(t, p)))
    if name == "mae":
        return float(mean_absolute_error(t, p))
    if name == "r2":
        return float(r2_score(t, p))
    if name == "pearson":
        return pearson(t, p)
    if name == "spearman":
        return spearman(t, p)
    if name in ("per_drug_r", "per_cell_r"):
        codes = a["drug"] if name == "per_drug_r" else a["cell"]
        return group_pearson(codes, t, p, min_group)["r"]
    raise ValueError(f"unknown metric {name!r}; choose from {list(METRICS)}")


def metrics(frame: pd.DataFrame, min_group: int = MIN_GROUP) -> dict[str, float]:
    """All metrics of a prediction frame with ``cell_id, drug_id, y_true, y_pred``.

    Returns ``n`` plus every name in :data:`METRICS` and the per-group counts
    (``per_drug_r_groups``, ``per_drug_r_skipped_small``, ``per_drug_r_skipped_constant_target``,
    ``per_drug_r_constant_pred`` and the same for cells).
    """
    a = _arrays(frame)
    out: dict[str, float] = {"n": len(frame)}
    if len(frame) == 0:
        return out | {m: float("nan") for m in METRICS}
    for name in ("rmse", "mae", "r2", "pearson", "spearman"):
        out[name] = _metric(name, a, min_group)
    for name, key in (("per_drug_r", "drug"), ("per_cell_r", "cell")):
        g = group_pearson(a[key], a["y_true"], a["y_pred"], min_group)
        out[name] = g.pop("r")
        out |= {f"{name}_{k}": v for k, v in g.items()}
    return out


def bootstrap_ci(
    frame: pd.DataFrame,
    metric: str | Callable[[np.ndarray, np.ndarray], float],
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    min_group: int = MIN_GROUP,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``metric`` resampling pairs with replacement.

    ``metric`` is a name from :data:`METRICS` or ``f(y_true, y_pred) -> float``.
    Returns ``(low, high)``; NaN replicates (e.g. no group left) are ignored.
    """
    a = _arrays(frame)
    rng = np.random.default_rng(seed)
    n = len(frame)
    values = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, n)
        sub = {k: v[idx] for k, v in a.items()}
        if callable(metric):
            values[b] = metric(sub["y_true"], sub["y_pred"])
        else:
            values[b] = _metric(metric, sub, min_group)
    tail = (1 - level) / 2 * 100
    lo, hi = np.nanpercentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def noise_ceiling(replicates: pd.DataFrame) -> dict[str, float]:
    """Agreement of repeated measurements: the best any model could do on those pairs.

    Takes, for every (cell, drug) measured more than once, its first and second measurement
    (in table order) and returns their ``pearson``, ``spearman``, ``rmse``, ``mae`` and
    ``n_pairs``. The RMSE between two replicates is sqrt(2) x the measurement sd.
    """
    if replicates.empty:
        return {"n_pairs": 0} | {k: float("nan") for k in ("pearson", "spearman", "rmse", "mae")}
    rank = replicates.groupby(["cell_id", "drug_id"], sort=False).cumcount()
    first = replicates[rank == 0].set_index(["cell_id", "drug_id"])["ln_ic50"]
    second = replicates[rank == 1].set_index(["cell_id", "drug_id"])["ln_ic50"]
    first = first.loc[second.index].to_numpy(np.float64)
    second = second.to_numpy(np.float64)
    if len(second) < 2:
        return {"n_pairs": len(second)} | {
            k: float("nan") for k in ("pearson", "spearman", "rmse", "mae")
        }
    return {
        "n_pairs": len(second),
        "pearson": pearson(first, second),
        "spearman": spearman(first, second),
        "rmse": float(np.sqrt(np.mean((first - second) ** 2))),
        "mae": float(np.mean(np.abs(first - second))),
    }


# ---- tables -----------------------------------------------------------------------------------
def evaluate_predictions(
    frame: pd.DataFrame,
    labels: dict[str, object] | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    seed: int = 0,
    ci_metrics: Iterable[str] = ("rmse", "pearson"),
) -> pd.DataFrame:
    """Metric rows of one prediction frame: subset ``all``, plus ``uncensored`` when the frame
    has a ``censored`` column with any True (CCLE's 8 µM cap).

    Args:
        frame: ``cell_id, drug_id, y_true, y_pred[, censored]``.
        labels: columns prepended to every row (model, kind, split, fold, ...).
        n_boot: if > 0, add ``<metric>_lo`` / ``<metric>_hi`` bootstrap 95% CIs for
            ``ci_metrics``.
    """
    subsets = {"all": frame}
    if "censored" in frame and frame["censored"].astype(bool).any():
        subsets["uncensored"] = frame[~frame["censored"].astype(bool)]
    rows = []
    for subset, sub in subsets.items():
        row: dict[str, object] = dict(labels or {}) | {"subset": subset}
        row |= metrics(sub, min_group)
        for m in ci_metrics if n_boot > 0 and len(sub) > 1 else ():
            row[f"{m}_lo"], row[f"{m}_hi"] = bootstrap_ci(sub, m, n_boot, seed, min_group=min_group)
        rows.append(row)
    return pd.DataFrame(rows)


def aggregate_folds(
    table: pd.DataFrame, by: Iterable[str] = ("model", "kind", "split", "subset")
) -> pd.DataFrame:
    """Mean and sd over folds: ``<metric>_mean``, ``<metric>_sd`` and ``n_folds`` per group.

    Fold-level metrics are averaged (Pearson is computed over all test pairs of a fold, then
    averaged over folds).
    """
    by = [c for c in by if c in table]
    cols = [m for m in (*METRICS, "n") if m in table]
    grouped = table.groupby(by, sort=False, dropna=False)
    mean = grouped[cols].mean().add_suffix("_mean")
    sd = grouped[cols].std(ddof=1).add_suffix("_sd")
    out = pd.concat([mean, sd], axis=1)
    out.insert(0, "n_folds", grouped.size())
    return out.reset_index()



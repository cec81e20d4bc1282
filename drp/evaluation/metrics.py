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
* Bootstrap CIs (:func:`bootstrap_ci`) resample pairs, or whole groups when given (the held-out
  cells, drug structures, drug clusters or tissues of a blind split); each row names its
  resampling unit in ``ci_unit``.

Higher is better for every metric except ``rmse`` and ``mae`` (:data:`LOWER_IS_BETTER`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from drp.training.intervals import INTERVAL_METRICS

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
    groups: np.ndarray | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``metric``.

    Without ``groups`` pairs are resampled with replacement, as if independent. With ``groups``
    ([n] label per row, e.g. the held-out cell or drug structure of each pair) whole groups are
    resampled with replacement, each drawn group bringing all its pairs: the cluster bootstrap
    blind splits need, since their test pairs share the held-out entity's error. ``groups`` with
    one label per row gives the same interval as the pair bootstrap.

    ``metric`` is a name from :data:`METRICS` or ``f(y_true, y_pred) -> float``; ``rmse``,
    ``mae``, ``r2`` and ``pearson`` are computed for all resamples at once from resampling
    weights, the others resample by resample. Returns ``(low, high)``; NaN replicates (e.g. no
    group left) are ignored, and fewer than 2 units give ``(nan, nan)``.
    """
    a = _arrays(frame)
    n = len(frame)
    if groups is None:
        codes, n_units = np.arange(n), n
    else:
        if len(groups) != n:
            raise ValueError(f"groups has {len(groups)} labels for {n} prediction rows")
        codes, uniques = pd.factorize(pd.Series(np.asarray(groups)), use_na_sentinel=False)
        n_units = len(uniques)
    if n_units < 2 or n_boot < 1:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    # Resample in chunks of about 4M weights so memory stays small at any n.
    chunk = max(1, min(n_boot, 4_000_000 // max(n, n_units)))
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        draws = rng.integers(0, n_units, (rows, n_units))
        offsets = n_units * np.arange(rows)[:, None]
        counts = np.bincount((draws + offsets).ravel(), minlength=rows * n_units)
        weights = counts.reshape(rows, n_units)[:, codes]  # [rows, n] copies of each pair
        if isinstance(metric, str) and metric in _WEIGHTED:
            values[start : start + rows] = _weighted_metric(metric, weights, a)
            continue
        for r, w in enumerate(weights):
            idx = np.repeat(np.arange(n), w)
            sub = {k: v[idx] for k, v in a.items()}
            if callable(metric):
                values[start + r] = metric(sub["y_true"], sub["y_pred"])
            else:
                values[start + r] = _metric(metric, sub, min_group)
    if np.isnan(values).all():
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    lo, hi = np.nanpercentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


_WEIGHTED = frozenset({"rmse", "mae", "r2", "pearson"})


def _weighted_metric(name: str, weights: np.ndarray, a: dict[str, np.ndarray]) -> np.ndarray:
    """``name`` of many resamples at once.

    Args:
        weights: [B, n] how often each pair is in each resample (every row sums to > 0).
        a: arrays from :func:`_arrays`.

    Returns:
        [B] metric per resample, with :func:`pearson`'s edge cases (constant truth NaN,
        constant prediction 0).
    """
    w = weights.astype(np.float64)
    total = w.sum(axis=1)
    t, p = a["y_true"], a["y_pred"]
    if name == "rmse":
        return np.sqrt(w @ (t - p) ** 2 / total)
    if name == "mae":
        return w @ np.abs(t - p) / total
    # Centre once so the weighted moments do not cancel catastrophically.
    tc, pc = t - t.mean(), p - p.mean()
    mean_t, mean_p = w @ tc / total, w @ pc / total
    var_t = np.maximum(w @ tc**2 / total - mean_t**2, 0.0)
    var_p = np.maximum(w @ pc**2 / total - mean_p**2, 0.0)
    const_t = var_t <= 1e-14 * max(1.0, float(np.max(tc**2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "r2":
            return np.where(const_t, np.nan, 1 - (w @ (t - p) ** 2 / total) / var_t)
        const_p = var_p <= 1e-14 * max(1.0, float(np.max(pc**2)))
        cov = w @ (tc * pc) / total - mean_t * mean_p
        r = np.clip(cov / np.sqrt(var_t * var_p), -1.0, 1.0)
    return np.where(const_t, np.nan, np.where(const_p, 0.0, r))


def noise_ceiling(replicates: pd.DataFrame) -> dict[str, float]:
    """Agreement of repeated measurements: the best any model could do on those pairs.

    Takes, for every (cell, drug) measured more than once, its first and second measurement
    (in table order) and returns their ``pearson``, ``spearman``, ``rmse``, ``mae``,
    ``n_pairs`` and ``n_drugs``. The RMSE between two replicates is sqrt(2) x the measurement
    sd only if they differ by noise alone; in GDSC they are one drug screened under two ids, so
    part of their difference is a per-drug offset between the screens. ``offset_share`` is that
    part of the mean squared difference, and ``rmse_within``/``pearson_within`` the agreement
    once each drug's offset (its mean difference) is removed: the replicate noise proper.
    """
    if replicates.empty:
        return {"n_pairs": 0} | {k: float("nan") for k in ("pearson", "spearman", "rmse", "mae")}
    rank = replicates.groupby(["cell_id", "drug_id"], sort=False).cumcount()
    first = replicates[rank == 0].set_index(["cell_id", "drug_id"])["ln_ic50"]
    second = replicates[rank == 1].set_index(["cell_id", "drug_id"])["ln_ic50"]
    drugs = second.index.get_level_values("drug_id")
    first = first.loc[second.index].to_numpy(np.float64)
    second = second.to_numpy(np.float64)
    if len(second) < 2:
        return {"n_pairs": len(second)} | {
            k: float("nan") for k in ("pearson", "spearman", "rmse", "mae")
        }
    gap = first - second
    offset = pd.Series(gap).groupby(np.asarray(drugs)).transform("mean").to_numpy()
    squared = float(np.mean(gap**2))
    return {
        "n_pairs": len(second),
        "n_drugs": int(drugs.nunique()),
        "pearson": pearson(first, second),
        "spearman": spearman(first, second),
        "rmse": float(np.sqrt(squared)),
        "mae": float(np.mean(np.abs(gap))),
        "offset_share": float(np.mean(offset**2) / squared) if squared > 0 else float("nan"),
        "rmse_within": float(np.sqrt(np.mean((gap - offset) ** 2))),
        "pearson_within": pearson(first - offset, second),
    }


# ---- tables -----------------------------------------------------------------------------------
def evaluate_predictions(
    frame: pd.DataFrame,
    labels: dict[str, object] | None = None,
    min_group: int = MIN_GROUP,
    n_boot: int = 0,
    seed: int = 0,
    ci_metrics: Iterable[str] = ("rmse", "pearson"),
    groups: np.ndarray | None = None,
    ci_unit: str = "pair",
) -> pd.DataFrame:
    """Metric rows of one prediction frame: subset ``all``, plus ``uncensored`` when the frame
    has a ``censored`` column with any True (CCLE's 8 µM cap), plus ``in_range`` when it has an
    ``outside_range`` column that knows some pair's range (:func:`subset_masks`).

    Args:
        frame: ``cell_id, drug_id, y_true, y_pred[, censored, outside_range]``.
        labels: columns prepended to every row (model, kind, split, fold, ...).
        n_boot: if > 0, add ``<metric>_lo`` / ``<metric>_hi`` bootstrap 95% CIs for
            ``ci_metrics``.
        groups: [n] resampling unit of each row (:func:`drp.splits.bootstrap.bootstrap_groups`):
            the CIs resample whole groups; ``None`` resamples pairs.
        ci_unit: name of that unit (``cell``, ``drug structure``, ...; ``pair`` without groups).

    Every row records ``ci_unit`` and ``ci_units`` (how many units the subset has), with or
    without CIs, so tables keep one schema.
    """
    if groups is None and ci_unit != "pair":
        raise ValueError(f"ci_unit={ci_unit!r} needs groups (one label per row); got None")
    if groups is not None:
        groups = np.asarray(groups, dtype=object)
        if len(groups) != len(frame):
            raise ValueError(f"groups has {len(groups)} labels for {len(frame)} prediction rows")
    rows = []
    for subset, mask in subset_masks(frame).items():
        sub = frame[mask]
        sub_groups = None if groups is None else groups[mask]
        n_units = len(sub) if sub_groups is None else pd.Series(sub_groups).nunique(dropna=False)
        row: dict[str, object] = dict(labels or {}) | {"subset": subset}
        row |= metrics(sub, min_group)
        row |= {"ci_unit": ci_unit, "ci_units": int(n_units)}
        for m in ci_metrics if n_boot > 0 and len(sub) > 1 else ():
            row[f"{m}_lo"], row[f"{m}_hi"] = bootstrap_ci(
                sub, m, n_boot, seed, min_group=min_group, groups=sub_groups
            )
        rows.append(row)
    return pd.DataFrame(rows)


def subset_masks(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """[n] bool masks of the subsets a prediction frame is scored on.

    * ``all``: every pair.
    * ``uncensored``: pairs not at CCLE's 8 µM cap, when some are (``censored``).
    * ``in_range``: pairs whose IC50 is known to lie within the screened range
      (``outside_range`` False; unknown ranges are left out), whenever the frame knows the
      range of any pair, even if every pair is inside: so every fold of a dataset with ranges
      has the row and its mean over folds covers them all. A subset of its own rather than
      folded into ``uncensored``: a cap and a measured range are different evidence, and a
      table row should say which it rests on.
    """
    masks = {"all": np.ones(len(frame), bool)}
    if "censored" in frame and frame["censored"].astype(bool).any():
        masks["uncensored"] = ~frame["censored"].astype(bool).to_numpy()
    if "outside_range" in frame:
        flag = frame["outside_range"].astype("boolean")
        if flag.notna().any():
            masks["in_range"] = flag.eq(False).fillna(False).to_numpy(bool)
    return masks


def aggregate_folds(
    table: pd.DataFrame, by: Iterable[str] = ("model", "kind", "split", "subset")
) -> pd.DataFrame:
    """Mean and sd over folds: ``<metric>_mean``, ``<metric>_sd`` and ``n_folds`` per group.

    Fold-level metrics are averaged (Pearson is computed over all test pairs of a fold, then
    averaged over folds).
    """
    by = [c for c in by if c in table]
    cols = [m for m in (*METRICS, *INTERVAL_METRICS, "n") if m in table]
    grouped = table.groupby(by, sort=False, dropna=False)
    mean = grouped[cols].mean().add_suffix("_mean")
    sd = grouped[cols].std(ddof=1).add_suffix("_sd")
    out = pd.concat([mean, sd], axis=1)
    out.insert(0, "n_folds", grouped.size())
    return out.reset_index()

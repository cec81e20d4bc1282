"""Paired statistics for comparing a model variant with its non-attention twin.

A study trains each variant on the same CV folds with the same seeds, so every (split, fold,
seed) gives one paired difference ``d = metric(attention) - metric(twin)``. The folds share
training data, which makes the plain paired t-test over-confident; the Nadeau & Bengio (2003)
corrected resampled t-test inflates the variance of the mean by ``1/J + n_test/n_train``
instead of ``1/J``. p-values are Holm-adjusted across a documented family; the verdicts
against equivalence margins are in :mod:`drp.study.answers`.

Edge-case rules (used everywhere below):

* Non-finite differences are dropped (``nan_policy="omit"``); ``J`` counts the rest.
* ``J < 2``: the variance cannot be estimated, so ``t``, ``p`` and the CI are ``nan``.
* All differences equal to zero: ``t = 0``, ``p = 1``, CI ``(0, 0)`` (the twins agree exactly).
* All differences equal but non-zero (zero variance): the test is undefined; ``t = ±inf``,
  ``p = nan`` and the CI collapses to the mean (a constant non-zero difference over folds
  points to a bug, e.g. the same model twice, rather than to evidence).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from drp.evaluation.metrics import is_constant

Better = Literal["lower", "higher"]

PAIR_KEYS = ["split", "fold", "seed"]


def _finite(diffs: np.ndarray | Sequence[float]) -> np.ndarray:
    d = np.asarray(diffs, dtype=float).ravel()
    return d[np.isfinite(d)]


def corrected_resampled_ttest(
    diffs: np.ndarray | Sequence[float],
    n_train: int,
    n_test: int,
    confidence: float = 0.95,
) -> tuple[float, float, float, float]:
    """Nadeau-Bengio corrected resampled paired t-test, two-sided.

    Args:
        diffs: [J] paired differences, one per (fold, seed).
        n_train: training-set size of one resample (pairs used to fit the model).
        n_test: test-set size of one resample. ``n_test = 0`` gives the ordinary paired t-test.
        confidence: level of the returned confidence interval of the mean difference.

    Returns:
        ``(t, p, ci_low, ci_high)`` with ``t = mean / sqrt((1/J + n_test/n_train) * s^2)``,
        ``df = J - 1``, and the CI ``mean ± t_{(1+confidence)/2, J-1} * se``. Edge cases follow
        the module docstring.
    """
    if n_train <= 0:
        raise ValueError(f"n_train must be positive, got {n_train}")
    if n_test < 0:
        raise ValueError(f"n_test must be non-negative, got {n_test}")
    d = _finite(diffs)
    j = d.size
    nan = float("nan")
    if j < 2:
        return nan, nan, nan, nan
    mean = float(d.mean())
    if is_constant(d):
        if mean == 0.0:
            return 0.0, 1.0, 0.0, 0.0
        return float(np.sign(mean) * np.inf), nan, mean, mean
    var = float(d.var(ddof=1))
    se = float(np.sqrt((1.0 / j + n_test / n_train) * var))
    t = mean / se
    df = j - 1
    p = float(2.0 * sps.t.sf(abs(t), df))
    half = float(sps.t.ppf(0.5 + confidence / 2.0, df)) * se
    return float(t), p, mean - half, mean + half


def holm(pvalues: np.ndarray | Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni step-down adjusted p-values (statsmodels ``multipletests``).

    ``nan`` inputs stay ``nan`` and do not count towards the family size. Output order matches
    the input.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def external_paired_test(
    drugs_a: pd.DataFrame,
    drugs_b: pd.DataFrame,
    metric: str,
    confidence: float = 0.95,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, float]:
    """Paired comparison of two variants on one external test set, J seeds each.

    Every seed of both variants is trained on the same pairs and tested on the same drugs, so
    no fold overlap needs correcting. The difference ``d_s = metric_a(s) - metric_b(s)`` per
    seed varies with the initialisation (sd ``s_seed``); the seed-averaged difference also
    depends on which drugs happen to be in the external set, estimated by a bootstrap over drugs
    (sd ``s_drug``, ``n_boot`` draws). The interval is
    ``mean ± t_{J-1} * sqrt(s_seed^2 / J + s_drug^2)``.

    Args:
        drugs_a, drugs_b: per-drug rows ``seed, id, n, rmse, pearson`` of each variant.
        metric: ``rmse`` (pooled over the drugs' pairs) or ``per_drug_r`` (mean over drugs).

    Returns:
        ``mean``, ``mean_a``, ``mean_b``, ``sd_seed``, ``sd_drug``, ``se``, ``ci_low``,
        ``ci_high``, ``p``, ``j`` (seeds paired), ``n_drugs``; nan statistics below 2 seeds.
    """
    if metric not in ("rmse", "per_drug_r"):
        raise ValueError(f"external_paired_test: unknown metric {metric!r}")
    keys = ["seed", "id"]
    both = drugs_a[[*keys, "n", "rmse", "pearson"]].merge(
        drugs_b[[*keys, "rmse", "pearson"]], on=keys, suffixes=("_a", "_b"), validate="one_to_one"
    )
    seeds, ids = np.sort(both["seed"].unique()), np.sort(both["id"].unique())
    grid = both.set_index(keys).reindex(pd.MultiIndex.from_product([seeds, ids], names=keys))

    def matrix(column: str) -> np.ndarray:  # [J, D]
        return grid[column].to_numpy(float).reshape(len(seeds), len(ids))

    if metric == "rmse":  # pooled: sqrt(sum n rmse^2 / sum n) over the drawn drugs
        weight = np.nan_to_num(matrix("n"))
        value = {v: np.nan_to_num(matrix(f"rmse_{v}")) ** 2 for v in ("a", "b")}
    else:  # the mean over the drawn drugs of each drug's r (drugs with both r finite)
        weight = (np.isfinite(matrix("pearson_a")) & np.isfinite(matrix("pearson_b"))) * 1.0
        value = {v: np.nan_to_num(matrix(f"pearson_{v}")) for v in ("a", "b")}

    def per_seed(draws: np.ndarray, v: str) -> np.ndarray:
        """[B, J] metric of variant ``v`` with drugs counted ``draws`` [B, D] times."""
        mean = (draws @ (weight * value[v]).T) / (draws @ weight.T)
        return np.sqrt(mean) if metric == "rmse" else mean

    every = np.ones((1, len(ids)))
    a, b = per_seed(every, "a")[0], per_seed(every, "b")[0]
    diffs = a - b  # [J]
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=n_boot) * 1.0
    boot = (per_seed(draws, "a") - per_seed(draws, "b")).mean(axis=1)  # [B]
    j, mean = len(seeds), float(diffs.mean())
    out = {"mean": mean, "mean_a": float(a.mean()), "mean_b": float(b.mean())}
    out |= {"j": j, "n_drugs": len(ids)}
    if j < 2:
        nan = float("nan")
        return out | dict.fromkeys(("sd_seed", "sd_drug", "se", "ci_low", "ci_high", "p"), nan)
    sd_seed, sd_drug = float(diffs.std(ddof=1)), float(boot.std(ddof=1))
    se = float(np.sqrt(sd_seed**2 / j + sd_drug**2))
    half = float(sps.t.ppf(0.5 + confidence / 2.0, j - 1)) * se
    p = float(2.0 * sps.t.sf(abs(mean) / se, j - 1)) if se > 0 else float("nan")
    return out | {
        "sd_seed": sd_seed, "sd_drug": sd_drug, "se": se,
        "ci_low": mean - half, "ci_high": mean + half, "p": p,
    }  # fmt: skip

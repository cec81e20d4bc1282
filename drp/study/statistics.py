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

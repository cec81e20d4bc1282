"""Paired statistics for comparing a model variant with its non-attention twin.

A study trains each variant on the same CV folds with the same seeds, so every (split, fold,
seed) gives one paired difference ``d = metric(attention) - metric(twin)``. The folds share
training data, which makes the plain paired t-test over-confident; the Nadeau & Bengio (2003)
corrected resampled t-test inflates the variance of the mean by ``1/J + n_test/n_train``
instead of ``1/J``. A Wilcoxon signed-rank p-value is reported beside it as a
distribution-free check, and p-values are Holm-adjusted across a documented family before a
verdict is given.

Edge-case rules (used everywhere below):

* Non-finite differences are dropped (``nan_policy="omit"``); ``J`` counts the rest.
* ``J < 2``: the variance cannot be estimated, so ``t``, ``p`` and the CI are ``nan``.
* All differences equal to zero: ``t = 0``, ``p = 1``, CI ``(0, 0)`` (the twins agree exactly).
* All differences equal but non-zero (zero variance): the test is undefined; ``t = ±inf``,
  ``p = nan`` and the CI collapses to the mean. A ``nan`` p-value never yields a verdict other
  than ``"no evidence"``, because a constant non-zero difference over folds points to a bug
  (e.g. the same model twice) rather than to evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

from drp.metrics import is_constant

Better = Literal["lower", "higher"]
Verdict = Literal["helps", "no evidence", "hurts"]

PAIR_KEYS = ["split", "fold", "seed"]
COMPARE_COLUMNS = [
    "comparison",
    "attention",
    "twin",
    "split",
    "metric",
    "n_pairs",
    "mean_attention",
    "mean_twin",
    "mean_diff",
    "ci_low",
    "ci_high",
    "t",
    "p",
    "p_wilcoxon",
    "p_holm",
    "verdict",
]


@dataclass(frozen=True)
class Comparison:
    """A named pair of variants: ``attention`` is the attention variant, ``twin`` its twin."""

    name: str
    attention: str
    twin: str


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


def wilcoxon_check(diffs: np.ndarray | Sequence[float]) -> tuple[float, float]:
    """Wilcoxon signed-rank test of the paired differences (two-sided).

    Zero differences are dropped (``zero_method="wilcox"``). Returns ``(statistic, p)``:
    ``(nan, nan)`` when no finite difference is left, ``(0, 1)`` when every difference is zero,
    and ``(nan, nan)`` if SciPy cannot compute the test.
    """
    d = _finite(diffs)
    if d.size == 0:
        return float("nan"), float("nan")
    if np.all(d == 0):
        return 0.0, 1.0
    try:
        res = sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    except ValueError:
        return float("nan"), float("nan")
    return float(res.statistic), float(res.pvalue)


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


def verdict(
    mean_diff: float,
    ci_low: float,
    ci_high: float,
    p_adj: float,
    better: Better,
    alpha: float = 0.05,
) -> Verdict:
    """Turn a paired difference ``attention - twin`` into a verdict.

    ``"helps"`` when the adjusted p-value is below ``alpha``, the CI excludes zero, and the
    difference points in the better direction (negative for ``better="lower"``, e.g. RMSE;
    positive for ``better="higher"``, e.g. correlations); ``"hurts"`` when it is significant in
    the other direction; ``"no evidence"`` otherwise, including any ``nan`` input.
    """
    if better not in ("lower", "higher"):
        raise ValueError(f"better must be 'lower' or 'higher', got {better!r}")
    values = (mean_diff, ci_low, ci_high, p_adj)
    if not all(np.isfinite(v) for v in values) or p_adj >= alpha:
        return "no evidence"
    sign = -1.0 if better == "lower" else 1.0
    if ci_low > 0 or ci_high < 0:
        return "helps" if sign * mean_diff > 0 else "hurts"
    return "no evidence"


def compare(
    results: pd.DataFrame,
    comparisons: Sequence[Comparison],
    metrics: Mapping[str, Better],
    n_train: Mapping[str, int],
    n_test: Mapping[str, int],
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Paired comparison of each attention variant with its twin, per split and metric.

    Args:
        results: one row per (variant, split, fold, seed) with metric columns.
        comparisons: the pairs to test.
        metrics: metric column -> ``"lower"`` or ``"higher"`` (which direction is better).
        n_train: split -> training-set size of one fold (for the variance correction).
        n_test: split -> test-set size of one fold.
        alpha: significance level for the verdict.

    Returns:
        One row per (comparison, split, metric) with the columns in ``COMPARE_COLUMNS``. Rows are
        paired on (split, fold, seed); splits keep their order of first appearance in ``results``,
        and splits where either variant is missing are skipped.
        ``p_holm`` adjusts ``p`` across the family *all comparisons x all splits of one metric*:
        each metric answers its own question, so metrics are not pooled into one family.
    """
    missing = [c for c in ["variant", *PAIR_KEYS, *metrics] if c not in results.columns]
    if missing:
        raise ValueError(f"results lacks column(s): {', '.join(missing)}")
    rows: list[dict[str, object]] = []
    for comp in comparisons:
        a = results[results["variant"] == comp.attention]
        b = results[results["variant"] == comp.twin]
        in_b = set(b["split"])
        for split in [s for s in dict.fromkeys(a["split"]) if s in in_b]:
            if split not in n_train or split not in n_test:
                raise ValueError(f"n_train/n_test lack split {split!r}")
            paired = a[a["split"] == split].merge(
                b[b["split"] == split], on=PAIR_KEYS, suffixes=("_a", "_b"), validate="one_to_one"
            )
            for metric in metrics:
                xa = paired[f"{metric}_a"].to_numpy(dtype=float)
                xb = paired[f"{metric}_b"].to_numpy(dtype=float)
                keep = np.isfinite(xa) & np.isfinite(xb)
                diffs = xa[keep] - xb[keep]
                t, p, lo, hi = corrected_resampled_ttest(diffs, n_train[split], n_test[split])
                _, p_w = wilcoxon_check(diffs)
                rows.append(
                    {
                        "comparison": comp.name,
                        "attention": comp.attention,
                        "twin": comp.twin,
                        "split": split,
                        "metric": metric,
                        "n_pairs": int(keep.sum()),
                        "mean_attention": float(xa[keep].mean()) if keep.any() else np.nan,
                        "mean_twin": float(xb[keep].mean()) if keep.any() else np.nan,
                        "mean_diff": float(diffs.mean()) if keep.any() else np.nan,
                        "ci_low": lo,
                        "ci_high": hi,
                        "t": t,
                        "p": p,
                        "p_wilcoxon": p_w,
                    }
                )
    out = pd.DataFrame(rows, columns=COMPARE_COLUMNS[:-2])
    out["p_holm"] = np.nan
    for idx in out.groupby("metric").groups.values():
        out.loc[idx, "p_holm"] = holm(out.loc[idx, "p"].to_numpy())
    out["verdict"] = [
        verdict(r.mean_diff, r.ci_low, r.ci_high, r.p_holm, metrics[r.metric], alpha)
        for r in out.itertuples()
    ]
    return out[COMPARE_COLUMNS]

"""Is the attention faithful? A paired test of top-k against random-k atom masking.

For each test drug the study masks the ``k`` atoms with the highest attention weight and, as a
control, ``k`` random atoms, and records how much the predictions move (``top_k_delta`` and
``random_k_delta``, larger = more change). If attention points at the atoms the model relies on,
masking them should move predictions more than masking random atoms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

FAITHFULNESS_COLUMNS = [
    "drug_id",
    "split",
    "k",
    "top_k_delta",
    "random_k_delta",
    "saliency_spearman",
]


def faithfulness_verdict(frame: pd.DataFrame, alpha: float = 0.05) -> dict[str, object]:
    """Paired one-sided Wilcoxon over drugs: does top-k masking change predictions more?

    Args:
        frame: one row per drug with ``top_k_delta``, ``random_k_delta`` and optionally
            ``saliency_spearman`` (rows with a missing delta are dropped).
        alpha: significance level.

    Returns:
        ``verdict`` is ``"faithful"`` when ``top_k_delta > random_k_delta`` with one-sided
        Wilcoxon ``p < alpha``; ``"insufficient data"`` when there are so few drugs with a
        non-zero difference that even a perfect result could not reach ``alpha``
        (``0.5**n > alpha``, i.e. fewer than 5 at 0.05); ``"decorative"`` otherwise. Also
        ``n_drugs``, ``median_top_k_delta``, ``median_random_k_delta``, ``median_ratio``
        (median of top/random), ``mean_saliency_spearman``, ``statistic``, ``p`` and ``alpha``.
    """
    for col in ("top_k_delta", "random_k_delta"):
        if col not in frame.columns:
            raise ValueError(f"faithfulness frame lacks column {col!r}")
    f = frame.dropna(subset=["top_k_delta", "random_k_delta"])
    top = f["top_k_delta"].to_numpy(dtype=float)
    rnd = f["random_k_delta"].to_numpy(dtype=float)
    diffs = top - rnd
    n_nonzero = int(np.count_nonzero(diffs))
    stat, p = float("nan"), float("nan")
    if n_nonzero > 0:
        res = sps.wilcoxon(diffs, zero_method="wilcox", alternative="greater")
        stat, p = float(res.statistic), float(res.pvalue)
    if 0.5**n_nonzero > alpha:
        label = "insufficient data"
    elif np.isfinite(p) and p < alpha:
        label = "faithful"
    else:
        label = "decorative"
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(rnd > 0, top / rnd, np.nan)
    sal = (
        f["saliency_spearman"].to_numpy(dtype=float)
        if "saliency_spearman" in f.columns
        else np.array([np.nan])
    )
    return {
        "verdict": label,
        "n_drugs": len(f),
        "median_top_k_delta": float(np.median(top)) if len(f) else float("nan"),
        "median_random_k_delta": float(np.median(rnd)) if len(f) else float("nan"),
        "median_ratio": float(np.nanmedian(ratio)) if np.isfinite(ratio).any() else float("nan"),
        "mean_saliency_spearman": float(np.nanmean(sal))
        if np.isfinite(sal).any()
        else float("nan"),
        "statistic": stat,
        "p": p,
        "alpha": alpha,
    }

"""Is the attention faithful? Effect sizes of deleting the top attended atoms against
element-matched random atoms, per deleted fraction.

For each test drug the study deletes the top-k attended atoms and, as the control, k random atoms
of the same elements, and records how much the predictions move (``top_k_delta`` and
``random_k_delta``, |Δ ln IC50|). The effect size is the ratio top / random: its geometric mean
over drugs with a 95% t interval on the log ratios. A ratio above 1 means the attended atoms
matter more than matched random ones; drugs below 1 are anti-faithful.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

FAITHFULNESS_COLUMNS = ["drug_id", "split", "fraction", "k", "top_k_delta", "random_k_delta"]


def faithfulness_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per deleted fraction.

    Args:
        frame: one row per (drug, fraction) with the columns in :data:`FAITHFULNESS_COLUMNS`
            (and optionally ``uniform_delta``, ``saliency_spearman``).

    Returns:
        ``fraction, n_drugs, ratio`` (geometric mean of top/random), ``ratio_low``,
        ``ratio_high`` (95% t interval), ``share_below_1`` (anti-faithful drugs),
        ``median_top``, ``median_random``, ``median_uniform`` (prediction change when the pooling
        weights are replaced by 1/n), ``p_wilcoxon`` (one-sided: top > random), ``verdict``:
        ``faithful`` (interval above 1), ``anti-faithful`` (below 1) or ``unclear``.
    """
    missing = [c for c in FAITHFULNESS_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"faithfulness frame lacks column(s) {missing}")
    rows = []
    for fraction, g in frame.groupby("fraction", sort=True):
        g = g[(g["top_k_delta"] > 0) & (g["random_k_delta"] > 0)]
        log_ratio = np.log(g["top_k_delta"].to_numpy(float) / g["random_k_delta"].to_numpy(float))
        n = log_ratio.size
        mean = float(log_ratio.mean()) if n else float("nan")
        if n > 1:
            half = float(sps.t.ppf(0.975, n - 1) * log_ratio.std(ddof=1) / np.sqrt(n))
            p = float(sps.wilcoxon(log_ratio, alternative="greater").pvalue)
        else:
            half, p = float("nan"), float("nan")
        low, high = np.exp(mean - half), np.exp(mean + half)
        verdict = "faithful" if low > 1 else "anti-faithful" if high < 1 else "unclear"
        uniform = g["uniform_delta"] if "uniform_delta" in g else pd.Series(dtype=float)
        rows.append(
            {
                "fraction": float(fraction),
                "n_drugs": n,
                "ratio": float(np.exp(mean)),
                "ratio_low": float(low),
                "ratio_high": float(high),
                "share_below_1": float(np.mean(log_ratio < 0)) if n else float("nan"),
                "median_top": float(g["top_k_delta"].median()),
                "median_random": float(g["random_k_delta"].median()),
                "median_uniform": float(uniform.median()) if len(uniform) else float("nan"),
                "p_wilcoxon": p,
                "verdict": verdict if n > 1 else "unclear",
            }
        )
    return pd.DataFrame(rows)

"""Biomarker recovery: does the model reproduce known pharmacogenomics on cells it never saw?

For every drug x binary omics feature with enough positive test cells, the *observed* effect is
the difference in mean ln IC50 between positive and negative cells, and the *predicted* effect
the same difference of the model's predictions on those cells. A model that learned real
biology predicts effects that correlate with the observed ones, and recovers the classics:
EGFR-mutant lines sensitive to erlotinib, gefitinib and afatinib, ERBB2-amplified or
ERBB2-high lines to lapatinib. Run on cell-blind test predictions, where every test cell was
unseen in training.

The correlation over associations with a significant observed effect is inflated: selecting on
the observed effect keeps the large ones. :func:`split_half_recovery` selects on one half of the
test cells and measures on the other.

A feature common in one lineage can mark the tissue rather than the target; with the cells'
tissues, each effect is also estimated within lineage (a fixed effect per tissue).

Features: every gene's mutation (``<gene> mut``), and for the named genes, copy-number gain
(``<gene> gain``, CNV = +1) and high expression (``<gene> high``, top 10% of the cells).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

CLASSICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("EGFR mut", ("Erlotinib", "Gefitinib", "Afatinib")),
    ("EGFR gain", ("Erlotinib", "Gefitinib", "Afatinib")),
    ("ERBB2 gain", ("Lapatinib",)),
    ("ERBB2 high", ("Lapatinib",)),
    ("ERBB2 mut", ("Lapatinib",)),
)
NAMED_GENES = ("EGFR", "ERBB2")
HIGH_QUANTILE = 0.9


def binary_features(omics: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Cells x features (bool) from cell-indexed omics frames (``mutation`` 0/1, ``cnv``
    -1/0/+1, ``expression`` continuous); absent omics are skipped."""
    parts = []
    if "mutation" in omics:
        parts.append((omics["mutation"] > 0).add_suffix(" mut"))
    genes = list(NAMED_GENES)
    if "cnv" in omics:
        cnv = omics["cnv"][[g for g in genes if g in omics["cnv"]]]
        parts.append((cnv > 0).add_suffix(" gain"))
    if "expression" in omics:
        expr = omics["expression"][[g for g in genes if g in omics["expression"]]]
        parts.append((expr >= expr.quantile(HIGH_QUANTILE)).add_suffix(" high"))
    if not parts:
        raise ValueError("biomarker recovery needs mutation, cnv or expression tables")
    return pd.concat(parts, axis=1, join="inner")


def _welch(sum_p, sq_p, n_p, sum_n, sq_n, n_n):
    """Difference of means (pos - neg) and two-sided Welch p-value from sums (arrays)."""
    mean_p, mean_n = sum_p / n_p, sum_n / n_n
    var_p = np.maximum(sq_p / n_p - mean_p**2, 0) * n_p / np.maximum(n_p - 1, 1)
    var_n = np.maximum(sq_n / n_n - mean_n**2, 0) * n_n / np.maximum(n_n - 1, 1)
    se2 = var_p / n_p + var_n / n_n
    diff = mean_p - mean_n
    with np.errstate(divide="ignore", invalid="ignore"):
        t = diff / np.sqrt(se2)
        df = se2**2 / (
            (var_p / n_p) ** 2 / np.maximum(n_p - 1, 1)
            + (var_n / n_n) ** 2 / np.maximum(n_n - 1, 1)
        )
    p = 2 * sps.t.sf(np.abs(t), df)
    return diff, p


def _within(y: np.ndarray, f: np.ndarray, lineage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Effect of each feature within lineage and its two-sided p: the slope of ``y`` [n] on
    each column of ``f`` [n, m] with a fixed effect per lineage (``lineage`` [n] int codes),
    so a feature common in one tissue is compared with the other cells of that tissue only.
    NaN where no lineage holds both positive and negative cells."""
    k = int(lineage.max()) + 1
    counts = np.bincount(lineage, minlength=k).astype(float)
    y_c = y - (np.bincount(lineage, y, minlength=k) / counts)[lineage]
    sums = np.zeros((k, f.shape[1]))
    np.add.at(sums, lineage, f)
    f_c = f - (sums / counts[:, None])[lineage]
    sxx = (f_c**2).sum(0)
    df = len(y) - k - 1
    if df < 1:
        nan = np.full(f.shape[1], np.nan)
        return nan, nan.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        slope = np.where(sxx > 1e-9, (f_c * y_c[:, None]).sum(0) / sxx, np.nan)
        residual = np.maximum((y_c**2).sum() - slope**2 * sxx, 0.0) / df
        t = slope / np.sqrt(residual / sxx)
    p = 2 * sps.t.sf(np.abs(t), df)
    return slope, p


def associations(
    pred: pd.DataFrame,
    features: pd.DataFrame,
    min_pos: int = 10,
    lineage: pd.Series | None = None,
) -> pd.DataFrame:
    """Observed and predicted effect of every drug x feature with ``min_pos`` positive and
    negative test cells.

    Args:
        pred: test pairs ``cell_id, drug_id, y_true, y_pred`` (ln IC50).
        features: cells x features (bool), indexed by ``cell_id``.
        lineage: cell_id -> tissue; with it, the effects within lineage as well, fitted on
            the cells whose tissue is known (the pooled effects keep every cell).

    Returns:
        ``drug_id, feature, n_pos, n_neg, observed, predicted`` (mean positive - mean negative,
        ln IC50), ``p_observed``, ``p_predicted`` (Welch) and ``q_observed`` (Benjamini-
        Hochberg over all rows); with ``lineage``, ``observed_within``, ``predicted_within``
        and their ``p_*_within`` (:func:`_within`).
    """
    pred = pred[pred["cell_id"].isin(features.index)]
    codes = None
    if lineage is not None:
        known = lineage.dropna()
        codes = pd.Series(pd.factorize(known)[0], index=known.index)
    rows = []
    for drug, g in pred.groupby("drug_id", sort=True):
        f = features.loc[g["cell_id"]].to_numpy(dtype=float)  # [n_cells, n_features]
        n_pos = f.sum(0)
        n_neg = len(g) - n_pos
        keep = (n_pos >= min_pos) & (n_neg >= min_pos)
        if not keep.any():
            continue
        f = f[:, keep]
        out = {"n_pos": n_pos[keep], "n_neg": n_neg[keep]}
        for name, column in (("observed", "y_true"), ("predicted", "y_pred")):
            y = g[column].to_numpy(float)
            total, total_sq = y.sum(), (y**2).sum()
            s_p, q_p = y @ f, (y**2) @ f
            out[name], out[f"p_{name}"] = _welch(
                s_p, q_p, out["n_pos"], total - s_p, total_sq - q_p, out["n_neg"]
            )
            if codes is not None:
                typed = g["cell_id"].isin(codes.index).to_numpy()
                at = pd.factorize(codes[g["cell_id"][typed]].to_numpy())[0]
                out[f"{name}_within"], out[f"p_{name}_within"] = _within(y[typed], f[typed], at)
        rows.append(pd.DataFrame({"drug_id": drug, "feature": features.columns[keep], **out}))
    if not rows:
        return pd.DataFrame(
            columns=["drug_id", "feature", "n_pos", "n_neg", "observed", "predicted",
                     "p_observed", "p_predicted", "q_observed"]
        )  # fmt: skip
    table = pd.concat(rows, ignore_index=True)
    table["q_observed"] = multipletests(table["p_observed"].fillna(1.0), method="fdr_bh")[1]
    return table


def _r(frame: pd.DataFrame) -> float:
    """Pearson r of observed vs predicted effects (nan under 3 rows)."""
    if len(frame) < 3:
        return float("nan")
    return float(np.corrcoef(frame["observed"], frame["predicted"])[0, 1])


def _same_sign(frame: pd.DataFrame) -> int:
    return int((np.sign(frame["observed"]) == np.sign(frame["predicted"])).sum())


def recovery_summary(table: pd.DataFrame, fdr: float = 0.05) -> dict[str, float]:
    """Pearson r of observed vs predicted effects over all associations and over those with
    observed FDR < ``fdr``, with their counts, and how many of the latter (count and share)
    have a predicted effect of the observed sign.

    The r over the significant ones is inflated: selecting on the observed effect keeps the large
    ones, which any predictor of the right sign correlates with; see :func:`split_half_recovery`.
    """
    sig = table[table["q_observed"] < fdr]
    agree = _same_sign(sig)
    out = {
        "n_associations": len(table),
        "r_all": _r(table),
        "n_significant": len(sig),
        "r_significant": _r(sig),
        "n_sign_agree_significant": agree,
        "sign_agreement_significant": agree / len(sig) if len(sig) else float("nan"),
        "fdr": fdr,
    }
    if "observed_within" in table:
        within = table[["observed_within", "predicted_within"]].dropna()
        within = within.set_axis(["observed", "predicted"], axis=1)
        out |= {
            "n_associations_within": len(within),
            "r_all_within": _r(within),
            # the significant pooled associations that hold within lineage (p < 0.05 there)
            "n_significant_within_kept": int((sig["p_observed_within"] < 0.05).sum()),
        }
    return out


SPLIT_HALF_SEED = 0


def split_half_recovery(
    pred: pd.DataFrame,
    features: pd.DataFrame,
    fdr: float = 0.05,
    seed: int = SPLIT_HALF_SEED,
    min_pos: int = 10,
) -> dict[str, float]:
    """r over significant associations without the selection bias: the test cells are split
    into two random halves (``seed``), associations with observed FDR < ``fdr`` are selected on
    the first half, and their observed and predicted effects are measured on the second.

    Returns:
        ``split_half_seed``, ``n_split_half_selected`` (significant on the first half),
        ``n_split_half`` (of those, testable on the second half), ``r_split_half``,
        ``n_sign_agree_split_half`` and ``sign_agreement_split_half`` (second-half effects).
    """
    cells = np.array(sorted(set(pred["cell_id"]) & set(features.index)), dtype=object)
    first = set(np.random.default_rng(seed).permutation(cells)[: len(cells) // 2])
    in_first = pred["cell_id"].isin(first)
    select = associations(pred[in_first], features, min_pos)
    chosen = select.loc[select["q_observed"] < fdr, ["drug_id", "feature"]]
    scored = associations(pred[~in_first], features, min_pos).merge(
        chosen, on=["drug_id", "feature"]
    )
    agree = _same_sign(scored)
    return {
        "split_half_seed": seed,
        "n_split_half_selected": len(chosen),
        "n_split_half": len(scored),
        "r_split_half": _r(scored),
        "n_sign_agree_split_half": agree,
        "sign_agreement_split_half": agree / len(scored) if len(scored) else float("nan"),
    }


def classics(table: pd.DataFrame) -> pd.DataFrame:
    """The named pharmacogenomic classics found in ``table`` (missing ones are left out)."""
    wanted = [(feature, drug) for feature, drugs in CLASSICS for drug in drugs]
    index = table.set_index(["feature", "drug_id"])
    present = [k for k in wanted if k in index.index]
    return index.loc[present].reset_index() if present else table.iloc[:0]


FIGURE_SAMPLE = 5000


def write_biomarkers(
    study: Path,
    pred: pd.DataFrame,
    omics: dict[str, pd.DataFrame],
    lineage: pd.Series | None = None,
) -> None:
    """``biomarkers.json`` (the summary, with the split-half r) and ``biomarkers.csv`` (the
    associations with observed FDR < 0.05, the classics, and a fixed random sample of the rest
    for the figure; a ``subset`` column says which) in the study directory; with ``lineage``
    (cell_id -> tissue), every effect within lineage as well."""
    features = binary_features(omics)
    table = associations(pred, features, lineage=lineage)
    summary = recovery_summary(table) | split_half_recovery(pred, features)
    significant = table["q_observed"] < summary["fdr"]
    named = classics(table).assign(subset="classic")
    rest = table[~significant]
    sample = rest.sample(min(FIGURE_SAMPLE, len(rest)), random_state=0)
    out = pd.concat(
        [named, table[significant].assign(subset="significant"), sample.assign(subset="sample")],
        ignore_index=True,
    )
    out.to_csv(Path(study) / "biomarkers.csv", index=False, float_format="%.5g")
    summary |= {"n_cells": int(pred["cell_id"].nunique()), "n_pairs": len(pred)}
    (Path(study) / "biomarkers.json").write_text(json.dumps(summary, indent=1) + "\n")

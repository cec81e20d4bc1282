"""Biomarker recovery: effects and Welch p-values per drug x binary feature."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from drp.evaluation.biomarkers import (
    associations,
    binary_features,
    classics,
    recovery_summary,
    split_half_recovery,
    write_biomarkers,
)


def _omics(n: int = 60) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    cells = [f"C{i}" for i in range(n)]
    mutation = pd.DataFrame(
        {"EGFR": (np.arange(n) < 15).astype(float), "TP53": rng.integers(0, 2, n)}, index=cells
    )
    cnv = pd.DataFrame(
        {"ERBB2": np.where(np.arange(n) % 4 == 0, 1.0, 0.0), "EGFR": 0.0}, index=cells
    )
    expression = pd.DataFrame(
        {"ERBB2": rng.normal(size=n), "EGFR": rng.normal(size=n)}, index=cells
    )
    return {"mutation": mutation, "cnv": cnv, "expression": expression}


def test_binary_features():
    f = binary_features(_omics())
    assert {"EGFR mut", "TP53 mut", "ERBB2 gain", "ERBB2 high", "EGFR high"} <= set(f.columns)
    assert f["EGFR mut"].sum() == 15 and f["ERBB2 gain"].sum() == 15
    assert f["ERBB2 high"].sum() == 6  # top 10% of 60 cells
    with pytest.raises(ValueError, match="mutation, cnv or expression"):
        binary_features({})


def test_associations_match_welch_and_recover_a_planted_effect():
    omics = _omics()
    features = binary_features(omics)
    rng = np.random.default_rng(1)
    egfr = features["EGFR mut"].to_numpy()
    rows = []
    for drug, shift in (("Erlotinib", -2.0), ("Other", 0.0)):
        y = rng.normal(0, 1, len(egfr)) + shift * egfr
        y_pred = 0.5 * y + rng.normal(0, 0.3, len(y))
        rows.append(
            pd.DataFrame(
                {"cell_id": features.index, "drug_id": drug, "y_true": y, "y_pred": y_pred}
            )
        )
    pred = pd.concat(rows, ignore_index=True)
    table = associations(pred, features, min_pos=8)
    row = table[(table.drug_id == "Erlotinib") & (table.feature == "EGFR mut")].iloc[0]
    y = pred[pred.drug_id == "Erlotinib"].y_true.to_numpy()
    assert row.observed == pytest.approx(y[egfr].mean() - y[~egfr].mean())
    assert row.p_observed == pytest.approx(sps.ttest_ind(y[egfr], y[~egfr], equal_var=False).pvalue)
    assert row.observed < -1.5 and row.predicted < -0.5 and row.q_observed < 0.01
    # features with fewer than min_pos positive cells are not tested
    assert "ERBB2 high" not in set(table.feature) and len(classics(table)) == 1
    summary = recovery_summary(table)
    assert summary["n_associations"] == len(table) and summary["n_significant"] >= 1
    assert summary["sign_agreement_significant"] == 1.0


def _planted() -> tuple[pd.DataFrame, pd.DataFrame]:
    features = binary_features(_omics(120))
    rng = np.random.default_rng(2)
    egfr = features["EGFR mut"].to_numpy()
    rows = []
    shifts = {"Erlotinib": -2.0, "Gefitinib": -1.5, "Afatinib": -1.2, "A": 1.2, "B": 1.6, "C": 0.0}
    for drug, shift in shifts.items():
        y = rng.normal(0, 1, len(egfr)) + shift * egfr
        rows.append(
            pd.DataFrame(
                {"cell_id": features.index, "drug_id": drug, "y_true": y,
                 "y_pred": 0.5 * shift * egfr + rng.normal(0, 0.3, len(y))}
            )
        )  # fmt: skip
    return pd.concat(rows, ignore_index=True), features


def test_recovery_summary_counts_sign_agreement():
    table = pd.DataFrame(
        {"observed": [-1.0, -0.8, 0.9, 0.1], "predicted": [-0.5, 0.2, 0.4, 0.3],
         "q_observed": [0.01, 0.02, 0.03, 0.5]}
    )  # fmt: skip
    summary = recovery_summary(table)
    assert summary["n_significant"] == 3 and summary["n_sign_agree_significant"] == 2
    assert summary["sign_agreement_significant"] == pytest.approx(2 / 3)


def test_split_half_selects_on_one_half_and_scores_the_other():
    pred, features = _planted()
    out = split_half_recovery(pred, features, min_pos=5)
    assert np.isfinite(out["r_split_half"]) and out["r_split_half"] > 0.9
    assert out == split_half_recovery(pred, features, min_pos=5)  # deterministic seed
    assert out["split_half_seed"] == 0 and 2 <= out["n_split_half"] <= out["n_split_half_selected"]
    assert out["n_sign_agree_split_half"] == out["n_split_half"]
    # the second half's effects are computed on its cells only
    cells = np.array(sorted(set(pred["cell_id"])), dtype=object)
    first = set(np.random.default_rng(0).permutation(cells)[: len(cells) // 2])
    second = pred[~pred["cell_id"].isin(first)]
    y = second[second.drug_id == "Erlotinib"].set_index("cell_id")["y_true"]
    pos = features.loc[y.index, "EGFR mut"].to_numpy()
    table = associations(second, features, min_pos=5)
    row = table[(table.drug_id == "Erlotinib") & (table.feature == "EGFR mut")].iloc[0]
    assert row.observed == pytest.approx(y[pos].mean() - y[~pos].mean())
    assert (
        split_half_recovery(pred, features, seed=1, min_pos=5)["r_split_half"]
        != out["r_split_half"]
    )


def test_write_biomarkers_records_the_split_half(tmp_path):
    pred, _ = _planted()
    write_biomarkers(tmp_path, pred, _omics(120))
    summary = json.loads((tmp_path / "biomarkers.json").read_text())
    assert {"r_all", "r_split_half", "n_split_half", "n_sign_agree_split_half"} <= set(summary)
    assert summary["n_sign_agree_significant"] <= summary["n_significant"]


def test_effects_within_lineage_separate_a_tissue_marker_from_a_target():
    """A mutation common in one tissue looks like a biomarker of a drug that only tells the
    tissues apart; within lineage its effect vanishes, while a real target effect stays. The
    within-lineage slope and p are those of OLS with a dummy per tissue."""
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(3)
    n = 200
    cells = [f"C{i}" for i in range(n)]
    tissue = np.where(np.arange(n) < 80, "lung", np.where(np.arange(n) < 150, "skin", None))
    in_lung = tissue == "lung"
    marker = np.where(in_lung, rng.random(n) < 0.7, rng.random(n) < 0.1)  # mostly lung
    target = rng.random(n) < 0.3
    features = pd.DataFrame({"M mut": marker, "T mut": target}, index=cells)
    y_tissue = rng.normal(0, 0.5, n) - 2.0 * in_lung  # lung lines more sensitive
    y_target = rng.normal(0, 0.5, n) - 1.5 * target
    pred = pd.concat(
        [
            pd.DataFrame({"cell_id": cells, "drug_id": d, "y_true": y, "y_pred": y})
            for d, y in (("TissueDrug", y_tissue), ("TargetDrug", y_target))
        ],
        ignore_index=True,
    )
    lineage = pd.Series(tissue, index=cells)  # None: unknown, left out of the within fit
    table = associations(pred, features, min_pos=10, lineage=lineage).set_index(
        ["drug_id", "feature"]
    )
    tissue_marker = table.loc[("TissueDrug", "M mut")]
    assert tissue_marker.observed < -1.0 and tissue_marker.p_observed < 1e-6
    assert abs(tissue_marker.observed_within) < 0.3 and tissue_marker.p_observed_within > 0.01
    real = table.loc[("TargetDrug", "T mut")]
    assert real.observed_within == pytest.approx(-1.5, abs=0.3) and real.p_observed_within < 1e-6
    frame = pd.DataFrame({"y": y_tissue, "x": marker.astype(float), "t": tissue}).dropna()
    fit = smf.ols("y ~ x + C(t)", frame).fit()  # cells of unknown tissue: pooled only
    assert tissue_marker.observed_within == pytest.approx(fit.params["x"])
    assert tissue_marker.p_observed_within == pytest.approx(fit.pvalues["x"])
    # the pooled effects keep the 50 cells of unknown tissue
    y = y_tissue
    assert tissue_marker.observed == pytest.approx(y[marker].mean() - y[~marker].mean())
    summary = recovery_summary(table.reset_index())
    assert summary["n_associations_within"] == 4 and summary["r_all_within"] > 0.99
    # significant pooled: the tissue marker and the target; only the target holds within
    significant = table[table.q_observed < 0.05]
    assert summary["n_significant_within_kept"] == int((significant.p_observed_within < 0.05).sum())
    assert summary["n_significant_within_kept"] == summary["n_significant"] - 1

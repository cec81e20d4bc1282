"""The study's verdicts against equivalence margins, its power terms and the per-drug model."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from drp.study.answers import (
    answer_table,
    equivalence_verdict,
    per_drug_mixed_model,
    power_terms,
)
from drp.study.presets import PRESETS, Question


@pytest.mark.parametrize(
    ("lo", "hi", "better", "expected"),
    [
        (-0.03, 0.04, "lower", "equivalent"),
        (-0.03, -0.01, "lower", "equivalent"),  # real but inside the margin
        (-0.30, -0.01, "lower", "helps"),
        (0.01, 0.30, "lower", "hurts"),
        (0.01, 0.30, "higher", "helps"),
        (-0.30, 0.20, "lower", "inconclusive"),
        (float("nan"), 0.1, "lower", "inconclusive"),
    ],
)
def test_equivalence_verdict(lo, hi, better, expected):
    assert equivalence_verdict(lo, hi, 0.05, better) == expected


def test_power_terms_match_the_corrected_t_formulas():
    terms = power_terms(sd=0.2, j=10, n_train=1000, n_test=250, level=0.95)
    c = np.sqrt(1 / 10 + 0.25)
    assert np.isclose(terms["c"], c)
    assert np.isclose(terms["t"], sps.t.ppf(0.975, 9))
    assert np.isclose(terms["mde"], (sps.t.ppf(0.975, 9) + sps.t.ppf(0.8, 9)) * c * 0.2)
    # the floor: the half-width as J grows, z * sqrt(n_test / n_train) * sd
    assert np.isclose(terms["floor"], 1.959964 * 0.5 * 0.2, rtol=1e-5)
    assert terms["floor"] < terms["t"] * c * 0.2
    assert np.isnan(power_terms(sd=0.2, j=1, n_train=10, n_test=2, level=0.95)["mde"])


def _results(diff_a: np.ndarray, split: str = "drug_blind") -> pd.DataFrame:
    rows = []
    for i, d in enumerate(diff_a):
        fold, seed = i % 5, i // 5
        base = 2.5 + 0.1 * fold
        for variant, rmse in (("gat_edge", base + d), ("gat", base), ("cell_mean", base + 0.3)):
            rows.append(
                {"variant": variant, "split": split, "fold": fold, "seed": seed, "rmse": rmse,
                 "per_drug_r": 0.5 - rmse / 10}
            )  # fmt: skip
    return pd.DataFrame(rows)


def test_answer_table_verdicts_family_and_baselines():
    q = Question("edges", "gat_edge", "gat", "drug_blind")
    n_train, n_test = {"drug_blind": 1000}, {"drug_blind": 100}
    rng = np.random.default_rng(0)
    tight = _results(rng.normal(0.0, 0.005, 10))
    table = answer_table(tight, [q], n_train, n_test, baselines=["cell_mean"])
    primary = table[table.role == "primary"].iloc[0]
    assert primary.verdict == "equivalent" and primary.adjusted and primary.n_pairs == 10
    assert np.isclose(primary.ci_level, 0.95)  # a family of one question: no adjustment needed
    # the sd of differences at which the interval would just fit inside the margin
    c = np.sqrt(1 / 10 + 100 / 1000)
    t = sps.t.ppf(1 - 0.05 / 2, 9)
    assert primary.margin == 0.05
    assert np.isclose(primary.sd_needed, (0.05 - abs(primary.mean_diff)) / (t * c))
    vs_base = table[table.role == "baseline"]
    assert set(vs_base.twin) == {"cell_mean"} and set(vs_base.verdict) == {"helps"}
    # a clear harm, and an uncertain one
    hurts = answer_table(_results(rng.normal(0.2, 0.01, 10)), [q], n_train, n_test)
    assert hurts[hurts.role == "primary"].verdict.item() == "hurts"
    noisy = _results(rng.normal(0.0, 0.3, 10))
    wide = answer_table(noisy, [q], n_train, n_test)
    row = wide[wide.role == "primary"].iloc[0]
    assert row.verdict == "inconclusive" and row.sd_needed < row.sd_diff
    # two questions: the primary intervals are Bonferroni-adjusted and p Holm-adjusted
    q2 = Question("again", "gat", "gat_edge", "drug_blind")
    two = answer_table(noisy, [q, q2], n_train, n_test)
    prim = two[two.role == "primary"]
    assert np.allclose(prim.ci_level, 0.975)
    # Holm by hand: the smaller p times 2, the larger times 1 but never below the first
    low, high = sorted(prim.p)
    expected = {low: min(1, 2 * low), high: min(1, max(2 * low, high))}
    assert np.allclose(prim.p_holm, [expected[p] for p in prim.p])


def test_standard_preset_gives_every_question_ten_pairs_on_its_primary_split():
    preset = PRESETS["standard"]
    cells = preset.cells()
    for q in preset.declared():
        for variant in (q.attention, q.twin):
            runs = [c for c in cells if c[0] == variant and c[1] == q.primary]
            assert len(runs) >= 10
    assert len(preset.declared()) == 5


def test_per_drug_mixed_model_recovers_a_shift():
    rng = np.random.default_rng(1)
    rows = []
    for seed in (0, 1):
        for fold in range(5):
            run_effect = rng.normal(0, 0.05)
            for d in range(20):
                drug = f"D{fold}_{d}"
                base = rng.normal(2.5, 0.5)
                for variant, shift in (("a", -0.1 + run_effect), ("b", 0.0)):
                    rows.append(
                        {"variant": variant, "split": "drug_blind", "fold": fold, "seed": seed,
                         "id": drug, "rmse": base + shift + rng.normal(0, 0.05)}
                    )  # fmt: skip
    out = per_drug_mixed_model(pd.DataFrame(rows), "a", "b", "drug_blind")
    assert out["n_runs"] == 10 and out["n_drugs"] == 100 and out["n_rows"] == 200
    assert out["ci_low"] < -0.1 < out["ci_high"] and out["ci_high"] < 0 and out["p"] < 0.01


def test_mixed_model_fit_keeps_the_best_likelihood_across_optimisers():
    """L-BFGS may stop at a worse optimum than Powell: the higher likelihood wins, and a fit
    with an absurd standard error is refused whatever its likelihood."""
    from types import SimpleNamespace

    from drp.study.answers import _fit_mixed

    def fitted(llf, se):
        return SimpleNamespace(llf=llf, converged=True, bse={"Intercept": se})

    fits = {"lbfgs": fitted(-10.0, 0.1), "powell": fitted(-8.0, 0.1), "nm": fitted(-1.0, 1e6)}
    model = SimpleNamespace(fit=lambda reml, method: fits[method])
    assert _fit_mixed(model, sd=1.0) is fits["powell"]

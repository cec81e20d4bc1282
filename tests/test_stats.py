"""Paired statistics: corrected t-test, Wilcoxon, Holm, verdicts and the compare table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from drp.stats import (
    COMPARE_COLUMNS,
    Comparison,
    compare,
    corrected_resampled_ttest,
    holm,
    verdict,
    wilcoxon_check,
)


def test_ttest_matches_hand_computation() -> None:
    # mean 3, s^2 = 2.5, J = 5, n_test/n_train = 0.25 -> se = sqrt(0.45 * 2.5) = sqrt(1.125)
    t, p, lo, hi = corrected_resampled_ttest(np.array([1.0, 2, 3, 4, 5]), n_train=80, n_test=20)
    se = math.sqrt(1.125)
    assert t == pytest.approx(2 * math.sqrt(2))
    assert p == pytest.approx(2 * sps.t.sf(2 * math.sqrt(2), df=4))
    assert 0.04 < p < 0.05
    t_crit = 2.7764451051977987  # t_{0.975, 4} from tables
    assert lo == pytest.approx(3 - t_crit * se)
    assert hi == pytest.approx(3 + t_crit * se)


def test_ttest_without_correction_equals_paired_ttest() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=10)
    b = a + rng.normal(0.3, 0.5, size=10)
    t, p, lo, hi = corrected_resampled_ttest(b - a, n_train=100, n_test=0)
    ref = sps.ttest_rel(b, a)
    assert t == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert (lo, hi) == pytest.approx((ci.low, ci.high))


def test_correction_widens_the_interval() -> None:
    d = np.array([0.1, 0.3, 0.2, 0.4, 0.25])
    _, p0, lo0, hi0 = corrected_resampled_ttest(d, 100, 0)
    _, p1, lo1, hi1 = corrected_resampled_ttest(d, 100, 25)
    assert p1 > p0
    assert hi1 - lo1 > hi0 - lo0


def test_ttest_edge_cases() -> None:
    assert all(math.isnan(v) for v in corrected_resampled_ttest([0.5], 10, 2))
    assert all(math.isnan(v) for v in corrected_resampled_ttest([], 10, 2))
    assert corrected_resampled_ttest([0.0, 0.0, 0.0], 10, 2) == (0.0, 1.0, 0.0, 0.0)
    t, p, lo, hi = corrected_resampled_ttest([0.2, 0.2, 0.2], 10, 2)
    assert t == math.inf and math.isnan(p) and lo == hi == pytest.approx(0.2)
    # nan differences are dropped
    t_nan = corrected_resampled_ttest([1.0, np.nan, 2, 3, 4, 5], 80, 20)
    assert t_nan == pytest.approx(corrected_resampled_ttest([1.0, 2, 3, 4, 5], 80, 20))
    with pytest.raises(ValueError):
        corrected_resampled_ttest([1.0, 2.0], 0, 2)


def test_wilcoxon_check() -> None:
    d = np.array([0.5, 1.2, 0.8, 1.5, 0.3, 0.9])
    stat, p = wilcoxon_check(d)
    assert stat == 0.0
    assert p == pytest.approx(2 / 2**6)  # exact: all positive ranks, two-sided
    assert wilcoxon_check([0.0, 0.0, 0.0]) == (0.0, 1.0)
    assert all(math.isnan(v) for v in wilcoxon_check([np.nan]))


def test_holm_known_values() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    adj = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    assert holm([]).size == 0
    assert np.isnan(holm([np.nan])).all()


@pytest.mark.parametrize(
    ("better", "diff", "expected"),
    [
        ("lower", -0.2, "helps"),
        ("lower", 0.2, "hurts"),
        ("higher", 0.2, "helps"),
        ("higher", -0.2, "hurts"),
    ],
)
def test_verdict_directions(better: str, diff: float, expected: str) -> None:
    assert verdict(diff, diff - 0.05, diff + 0.05, 0.001, better) == expected  # type: ignore[arg-type]


def test_verdict_no_evidence() -> None:
    assert verdict(-0.2, -0.3, 0.1, 0.001, "lower") == "no evidence"  # CI crosses zero
    assert verdict(-0.2, -0.3, -0.1, 0.2, "lower") == "no evidence"  # not significant
    assert verdict(-0.2, -0.3, -0.1, float("nan"), "lower") == "no evidence"
    with pytest.raises(ValueError):
        verdict(0.1, 0.0, 0.2, 0.01, "up")  # type: ignore[arg-type]


def _synthetic_results(effect: dict[str, float], noise: float = 0.002) -> pd.DataFrame:
    """Twin rows with fold-level variation; each attention variant = twin + effect + noise."""
    rng = np.random.default_rng(1)
    rows = []
    for split in ["mixed", "drug_blind"]:
        for fold in range(5):
            for seed in range(3):
                base = {"rmse": 1.2 + 0.1 * fold, "per_drug_r": 0.4 + 0.02 * fold}
                rows.append({"variant": "twin", "split": split, "fold": fold, "seed": seed, **base})
                for name, e in effect.items():
                    rows.append(
                        {
                            "variant": name,
                            "split": split,
                            "fold": fold,
                            "seed": seed,
                            "rmse": base["rmse"] + e + rng.normal(0, noise),
                            "per_drug_r": base["per_drug_r"] - e + rng.normal(0, noise),
                        }
                    )
    return pd.DataFrame(rows)


def test_compare_gives_helps_hurts_no_evidence() -> None:
    results = _synthetic_results({"win": -0.05, "loss": 0.05})
    rng = np.random.default_rng(2)
    noisy = results[results.variant == "twin"].copy()
    noisy["variant"] = "noise"
    noisy["rmse"] += rng.normal(0, 0.05, len(noisy))
    noisy["per_drug_r"] += rng.normal(0, 0.05, len(noisy))
    results = pd.concat([results, noisy], ignore_index=True)
    comps = [Comparison("win", "win", "twin"), Comparison("loss", "loss", "twin")]
    comps.append(Comparison("noise", "noise", "twin"))
    out = compare(
        results,
        comps,
        {"rmse": "lower", "per_drug_r": "higher"},
        n_train={"mixed": 800, "drug_blind": 800},
        n_test={"mixed": 200, "drug_blind": 200},
    )
    assert list(out.columns) == COMPARE_COLUMNS
    assert len(out) == 3 * 2 * 2
    assert (out.n_pairs == 15).all()
    got = out.groupby("comparison").verdict.agg(set).to_dict()
    assert got == {"win": {"helps"}, "loss": {"hurts"}, "noise": {"no evidence"}}
    win = out[(out.comparison == "win") & (out.metric == "rmse")]
    assert np.allclose(win.mean_diff, -0.05, atol=0.005)
    assert np.allclose(win.mean_diff, win.mean_attention - win.mean_twin)
    # Holm family = all comparisons x splits of one metric (6 tests each)
    for _, grp in out.groupby("metric"):
        np.testing.assert_allclose(grp.p_holm, holm(grp.p))
    assert (out.p_holm >= out.p).all()


def test_compare_pairs_on_fold_and_seed_only() -> None:
    results = _synthetic_results({"win": -0.05})
    # the twin misses seed 2: only 5 folds x 2 seeds pair up
    results = results[~((results.variant == "twin") & (results.seed == 2))]
    out = compare(
        results,
        [Comparison("w", "win", "twin")],
        {"rmse": "lower"},
        {"mixed": 8, "drug_blind": 8},
        {"mixed": 2, "drug_blind": 2},
    )
    assert (out.n_pairs == 10).all()
    with pytest.raises(ValueError, match="split"):
        compare(
            results, [Comparison("w", "win", "twin")], {"rmse": "lower"}, {"mixed": 8}, {"mixed": 2}
        )
    with pytest.raises(ValueError, match="per_cell_r"):
        compare(results, [], {"per_cell_r": "higher"}, {}, {})

"""Paired statistics: corrected t-test, Wilcoxon, Holm, verdicts and the compare table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from drp.study.statistics import corrected_resampled_ttest, holm


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


def test_holm_known_values() -> None:
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    adj = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(adj, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])
    np.testing.assert_allclose(holm([0.5, 0.6]), [1.0, 1.0])
    assert holm([]).size == 0
    assert np.isnan(holm([np.nan])).all()

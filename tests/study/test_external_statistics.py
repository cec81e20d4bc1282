"""The external-test statistics: seed-level paired differences with a drug bootstrap."""

import numpy as np
import pandas as pd


def _external_drugs(rng, j: int, d: int, shift: float, seed_sd: float, drug_sd: float = 0.2):
    """Per-drug rows of two variants on one external set: variant a is b plus ``shift`` in
    every drug's RMSE and r, plus a per-seed initialisation effect of sd ``seed_sd`` and a
    per-drug difference of sd ``drug_sd`` (the same in every seed: which drugs the set holds)."""
    base_rmse, base_r = rng.uniform(1.0, 3.0, d), rng.uniform(0.3, 0.8, d)
    drug_effect = rng.normal(0, drug_sd, d)
    drug_effect -= drug_effect.mean()  # the population difference is ``shift``
    rows_a, rows_b = [], []
    for s in range(j):
        noise = rng.normal(0, 0.05, d)  # the drug-level scatter of one seed
        seed_effect = rng.normal(0, seed_sd)
        common = {"seed": s, "id": [f"D{i}" for i in range(d)], "n": rng.integers(400, 900, d)}
        rows_b.append(pd.DataFrame(common | {"rmse": base_rmse + noise, "pearson": base_r}))
        rows_a.append(pd.DataFrame(common | {
            "rmse": base_rmse + noise + shift + seed_effect + drug_effect,
            "pearson": base_r + shift + seed_effect + drug_effect / 10,
        }))  # fmt: skip
    return pd.concat(rows_a), pd.concat(rows_b)


def test_external_paired_test_recovers_a_shift_and_covers_zero_without_one():
    from drp.study.statistics import external_paired_test

    rng = np.random.default_rng(0)
    a, b = _external_drugs(rng, j=10, d=150, shift=0.1, seed_sd=0.01)
    out = external_paired_test(a, b, "rmse", confidence=0.99)
    assert out["j"] == 10 and out["n_drugs"] == 150
    assert out["ci_low"] < 0.1 < out["ci_high"] and out["p"] < 0.01
    assert out["sd_seed"] > 0 and out["sd_drug"] > 0
    # per-drug r moves by exactly the shift plus the seed effects: the mean recovers it
    r = external_paired_test(a, b, "per_drug_r")
    assert r["ci_low"] < 0.1 < r["ci_high"] and r["mean_a"] > r["mean_b"]
    # no shift: the 95% interval covers zero (a fixed draw, so the test is deterministic)
    a0, b0 = _external_drugs(rng, j=10, d=150, shift=0.0, seed_sd=0.01)
    null = external_paired_test(a0, b0, "rmse")
    assert null["ci_low"] < 0 < null["ci_high"]
    # the drug bootstrap is what keeps the interval honest with many seeds: 50 seeds shrink
    # the seed term, not the drug term
    many = external_paired_test(*_external_drugs(rng, 50, 150, 0.0, 0.01), "rmse")
    assert many["sd_drug"] ** 2 > many["sd_seed"] ** 2 / 50
    one = external_paired_test(a[a.seed == 0], b[b.seed == 0], "rmse")
    assert np.isnan(one["ci_low"]) and one["j"] == 1

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


def test_the_median_offset_check_rescores_the_external_rmse_exactly():
    """Shifting the per-drug rows by the difference of the two offsets gives the RMSE of the
    predictions against observations moved by that difference, drug by drug and pooled; the
    sensitivity rows are the RMSE questions asked on those rows, at unadjusted 95%."""
    from drp.study.answers import offset_sensitivity, shifted_external_groups
    from drp.study.evidence import group_table
    from drp.study.presets import DEFINITIVE_QUESTIONS
    from drp.study.statistics import external_paired_test

    rng = np.random.default_rng(4)
    frames = []
    for variant, bias in (("gat_edge", 0.3), ("gat", -0.1)):
        for seed in range(3):
            pred = pd.DataFrame(
                {
                    "cell_id": np.tile([f"C{i}" for i in range(30)], 5),
                    "drug_id": np.repeat([f"D{i}" for i in range(5)], 30),
                    "y_true": rng.normal(0, 2, 150),
                }
            )
            pred["y_pred"] = pred.y_true + bias + rng.normal(0, 1, 150)
            groups = group_table(pred).assign(variant=variant, split="external", seed=seed)
            frames.append((variant, seed, pred, groups))
    groups = pd.concat([g for *_, g in frames], ignore_index=True)
    shift = 0.875 - 0.819
    moved = shifted_external_groups(groups, shift)
    for variant, seed, pred, _ in frames:
        rows = moved[(moved.variant == variant) & (moved.seed == seed)].set_index("id")
        for drug, part in pred.groupby("drug_id"):
            expected = np.sqrt(np.mean((part.y_pred - (part.y_true - shift)) ** 2))
            assert np.isclose(rows.loc[drug, "rmse"], expected)
    question = next(q for q in DEFINITIVE_QUESTIONS if (q.attention, q.twin) == ("gat_edge", "gat"))
    table = offset_sensitivity(groups, [question], 0.875, 0.819)
    assert len(table) == 1 and table.role.iloc[0] == "sensitivity"
    assert table.ci_level.iloc[0] == 0.95 and table.metric.iloc[0] == "rmse"
    left, right = (moved[moved.variant == v] for v in ("gat_edge", "gat"))
    direct = external_paired_test(left, right, "rmse", confidence=0.95)
    assert np.isclose(table.mean_diff.iloc[0], direct["mean"])
    assert np.isclose(table.ci_low.iloc[0], direct["ci_low"])

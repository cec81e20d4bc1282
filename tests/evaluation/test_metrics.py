import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import mean_absolute_error, r2_score

from drp.evaluation.metrics import bootstrap_ci, evaluate_predictions, pearson


def _clustered(n_groups=30, per_group=40, offset_sd=1.0, noise_sd=0.3, seed=0):
    """Predictions whose error is a per-group offset plus small pair noise: pairs of one group
    are far from independent, as test pairs of one held-out cell are on a cell-blind split."""
    rng = np.random.default_rng(seed)
    group = np.repeat(np.arange(n_groups), per_group)
    y_true = rng.normal(size=group.size)
    offset = rng.normal(scale=offset_sd, size=n_groups)[group]
    y_pred = y_true + offset + rng.normal(scale=noise_sd, size=group.size)
    frame = pd.DataFrame(
        {
            "cell_id": [f"C{g}" for g in group],
            "drug_id": [f"D{i % 7}" for i in range(group.size)],
            "y_true": y_true,
            "y_pred": y_pred,
        }
    )
    return frame, group


@pytest.mark.parametrize("metric", ["rmse", "pearson", "spearman"])
def test_cluster_interval_is_wider_than_pair_interval(metric):
    frame, group = _clustered()
    lo_p, hi_p = bootstrap_ci(frame, metric, n_boot=400, seed=0)
    lo_g, hi_g = bootstrap_ci(frame, metric, n_boot=400, seed=0, groups=group)
    # 30 shared offsets carry most of the error: resampling them moves the metric far more than
    # resampling 1,200 pairs does.
    assert hi_g - lo_g > 2 * (hi_p - lo_p) > 0
    # Both bracket the estimate.
    estimate = {"rmse": np.sqrt(np.mean((frame.y_true - frame.y_pred) ** 2))}.get(metric)
    if estimate is not None:
        assert lo_g < estimate < hi_g and lo_p < estimate < hi_p


def test_one_group_per_row_is_the_pair_bootstrap():
    frame, _ = _clustered(n_groups=10, per_group=20)
    pair = bootstrap_ci(frame, "pearson", n_boot=200, seed=3)
    assert bootstrap_ci(frame, "pearson", n_boot=200, seed=3, groups=np.arange(200)) == pair
    assert bootstrap_ci(frame, "pearson", n_boot=200, seed=4) != pair


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("rmse", lambda t, p: float(np.sqrt(np.mean((t - p) ** 2)))),
        ("mae", mean_absolute_error),
        ("r2", r2_score),
        ("pearson", pearson),
    ],
)
@pytest.mark.parametrize("grouped", [False, True])
def test_vectorised_bootstrap_matches_resample_by_resample(name, reference, grouped):
    frame, group = _clustered(n_groups=12, per_group=15, seed=1)
    groups = group if grouped else None
    fast = bootstrap_ci(frame, name, n_boot=150, seed=5, groups=groups, level=0.8)
    slow = bootstrap_ci(frame, reference, n_boot=150, seed=5, groups=groups, level=0.8)
    np.testing.assert_allclose(fast, slow, rtol=1e-9)


def test_bootstrap_edge_cases():
    frame, group = _clustered(n_groups=3, per_group=5)
    assert np.isnan(bootstrap_ci(frame, "rmse", 50, groups=np.zeros(15))).all()  # one unit
    with pytest.raises(ValueError, match="groups has 3 labels for 15"):
        bootstrap_ci(frame, "rmse", 50, groups=group[:3])
    constant = frame.assign(y_pred=1.0)
    assert bootstrap_ci(constant, "pearson", 50, groups=group) == (0.0, 0.0)


def test_evaluate_predictions_records_ci_unit_per_subset():
    frame, group = _clustered(n_groups=6, per_group=10)
    frame["censored"] = group == 0  # one whole group censored
    pair = evaluate_predictions(frame, {"model": "m"}, n_boot=50)
    assert pair["ci_unit"].tolist() == ["pair", "pair"]
    assert pair["ci_units"].tolist() == [60, 50]
    cells = evaluate_predictions(frame, n_boot=50, groups=group, ci_unit="cell")
    assert cells["subset"].tolist() == ["all", "uncensored"]
    assert cells["ci_unit"].tolist() == ["cell", "cell"]
    assert cells["ci_units"].tolist() == [6, 5]
    uncensored = frame[~frame["censored"]]
    expected = bootstrap_ci(uncensored, "rmse", 50, groups=group[group != 0])
    assert tuple(cells.loc[1, ["rmse_lo", "rmse_hi"]]) == expected
    assert (cells["pearson_hi"] - cells["pearson_lo"] > 0).all()
    with pytest.raises(ValueError, match="needs groups"):
        evaluate_predictions(frame, n_boot=10, ci_unit="cell")
    with pytest.raises(ValueError, match="groups has 5 labels for 60"):
        evaluate_predictions(frame, groups=group[:5], ci_unit="cell")

"""The screened-range flag in prediction frames and the ``in_range`` subset of the metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from drp.evaluation.metrics import evaluate_predictions, subset_masks
from drp.evaluation.tables import prediction_frame


def _pairs(flags: list[object], censored: list[bool] | None = None) -> pd.DataFrame:
    n = len(flags)
    pairs = pd.DataFrame(
        {
            "cell_id": [f"c{i % 4}" for i in range(n)],
            "drug_id": [f"d{i % 3}" for i in range(n)],
            "ln_ic50": np.linspace(-2, 3, n),
            "outside_range": pd.array(flags, dtype="boolean"),
        }
    )
    return pairs if censored is None else pairs.assign(censored=censored)


def test_prediction_frame_carries_the_flag_with_its_unknowns() -> None:
    pairs = _pairs([True, False, None, False])
    frame = prediction_frame(pairs, np.zeros(4))
    assert list(frame.columns) == ["cell_id", "drug_id", "y_true", "y_pred", "outside_range"]
    assert frame["outside_range"].dtype == "boolean"
    assert frame["outside_range"].isna().tolist() == [False, False, True, False]


def test_in_range_subset_keeps_pairs_known_inside() -> None:
    flags = [True, False, None, False, False, True, False, False, None, False, False, False]
    frame = prediction_frame(_pairs(flags), np.linspace(-1, 2, 12))
    rows = evaluate_predictions(frame).set_index("subset")
    assert list(rows.index) == ["all", "in_range"]
    assert rows.loc["in_range", "n"] == 8 and rows.loc["all", "n"] == 12
    inside = frame[frame["outside_range"].eq(False).fillna(False)]
    expected = float(np.sqrt(((inside.y_true - inside.y_pred) ** 2).mean()))
    assert rows.loc["in_range", "rmse"] == expected


def test_in_range_appears_beside_uncensored_whenever_a_range_is_known() -> None:
    both = _pairs([True, False, False, False], censored=[False, False, True, False])
    assert list(subset_masks(both)) == ["all", "uncensored", "in_range"]
    # every pair known inside: the row is still there, so every fold of the dataset has it
    assert subset_masks(_pairs([False] * 4))["in_range"].all()
    assert list(subset_masks(_pairs([None] * 4))) == ["all"]  # nothing known: no row
    mask = subset_masks(_pairs([None, False, None, False]))["in_range"]
    assert mask.tolist() == [False, True, False, True]  # unknown ranges are left out


def test_every_fold_of_a_ranged_dataset_is_scored_in_range(tmp_path) -> None:
    from drp.evaluation.baseline_runs import run_baselines
    from drp.evaluation.runs import evaluate_runs
    from tests.featurize.test_screened_range import _build, _ranged_tables

    ds = _build(_ranged_tables(tmp_path / "tables"), "keep")
    table = run_baselines(
        ds, "mixed", k=3, fold_seed=0, cache_dir=tmp_path / "folds", names=["drug_mean"],
        runs_dir=tmp_path / "runs",
    )  # fmt: skip
    assert (
        table["subset"].tolist() == ["all", "in_range"] * 3
    )  # every fold, all pairs inside or not
    n = table.pivot(index="fold", columns="subset", values="n").sum()
    assert n["all"] == len(ds.pairs)
    assert n["in_range"] == int(ds.pairs["outside_range"].eq(False).sum()) == len(ds.pairs) - 3
    again = evaluate_runs(sorted((tmp_path / "runs" / "drug_mean").iterdir()))
    assert again["subset"].tolist() == table["subset"].tolist()

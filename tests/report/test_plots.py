"""Figures whose drawing carries a rule: where a curve stops, where labels stand."""

from __future__ import annotations

import numpy as np
import pandas as pd

from drp.report import plots


def test_learning_curve_stops_where_fewer_than_half_the_runs_still_train() -> None:
    # 4 runs: all train 3 epochs, two reach epoch 4, one reaches epochs 5-6 (early stopping)
    lengths = [3, 3, 4, 6]
    history = pd.DataFrame(
        [
            {"split": "drug_blind", "variant": "gat_edge", "run": i, "epoch": e, "val_rmse": 2.0}
            for i, n in enumerate(lengths)
            for e in range(1, n + 1)
        ]
    )
    fig = plots.learning_curves(history, ["gat_edge"], ["drug_blind"])
    line = fig.axes[0].get_lines()[0]
    assert list(line.get_xdata()) == [1, 2, 3, 4]  # epoch 5-6: 1 of 4 runs left


def test_biomarker_classic_labels_do_not_share_a_position() -> None:
    rng = np.random.default_rng(0)
    classic = pd.DataFrame(
        {
            "subset": "classic",
            "feature": ["EGFR mut", "EGFR mut", "EGFR gain"],
            "drug_id": ["Erlotinib", "Gefitinib", "Afatinib"],
            "observed": [-0.37, -0.36, -0.39],
            "predicted": [-0.02, -0.05, -0.05],
        }
    )
    sample = pd.DataFrame(
        {
            "subset": "sample",
            "feature": "x",
            "drug_id": "y",
            "observed": rng.normal(size=50),
            "predicted": rng.normal(size=50),
        }  # fmt: skip
    )
    fig = plots.biomarker_plot(pd.concat([sample, classic], ignore_index=True))
    texts = [t for t in fig.axes[0].texts if "·" in t.get_text()]
    assert len(texts) == 3
    positions = {tuple(np.round(t.get_position(), 3)) for t in texts}
    assert len(positions) == 3

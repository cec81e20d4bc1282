"""Golden test: a tiny committed checkpoint must keep giving its committed predictions.

The run in ``tests/golden/run`` was trained on the fixture of ``tests/conftest.py``; a change
that moves any prediction by more than 1e-6 (featurization, model code, checkpoint loading,
scaling) fails here. If the change is meant, regenerate with
``python -m tests.golden.make_golden`` and commit ``tests/golden/`` with it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drp
from drp.training.estimator import NeuralEstimator
from tests.golden.make_golden import PREDICTIONS, RUN, golden_predictions

ATOL = 1e-6
REGENERATE = "intended? regenerate with `python -m tests.golden.make_golden`"


@pytest.fixture(scope="module")
def golden() -> pd.DataFrame:
    return pd.read_csv(PREDICTIONS)


def test_the_golden_run_is_small_and_self_describing(golden):
    files = sorted(p.name for p in RUN.iterdir())
    assert files == ["best.pt", "config.json"]  # no prior, no calibration: nothing else acts
    assert sum(p.stat().st_size for p in RUN.iterdir()) < 1_000_000
    config = json.loads((RUN / "config.json").read_text())
    assert config["train"]["drug_prior"] == "none" and config["train"]["precision"] == "fp32"
    assert (golden.how == "matrix").sum() == 12 * 7 and (golden.how == "smiles").sum() == 12


def test_the_estimator_reproduces_the_golden_predictions(golden, tiny_dataset):
    est = NeuralEstimator.from_run(RUN, "cpu")
    known = golden[golden.how == "matrix"]
    got = est.predict(tiny_dataset, known[["cell_id", "drug_id"]])
    np.testing.assert_allclose(got, known.ln_ic50_pred, rtol=0, atol=ATOL, err_msg=REGENERATE)


def test_the_public_facade_reproduces_the_golden_predictions(golden, tiny_dataset, tmp_path):
    tiny_dataset.save(tmp_path / "ds")
    run = drp.load_run(RUN, dataset=tmp_path / "ds")
    for how in ("matrix", "smiles"):
        got = golden_predictions(run, how)
        expected = golden[golden.how == how].reset_index(drop=True)
        pd.testing.assert_frame_equal(got[["cell_id", "drug_id"]], expected[["cell_id", "drug_id"]])
        np.testing.assert_allclose(
            got.ln_ic50_pred, expected.ln_ic50_pred, rtol=0, atol=ATOL, err_msg=REGENERATE
        )


def test_a_fresh_process_reproduces_the_golden_predictions(golden, tiny_dataset, tmp_path):
    """Nothing the test session set up (seeds, threads, caches) is needed to reproduce them."""
    tiny_dataset.save(tmp_path / "ds")
    out = tmp_path / "again.csv"
    script = (
        "import sys, drp; from tests.golden.make_golden import RUN, golden_predictions; "
        f"run = drp.load_run(RUN, dataset={str(tmp_path / 'ds')!r}); "
        f"golden_predictions(run).to_csv({str(out)!r}, index=False, float_format='%.17g')"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", script], cwd=root, check=True, timeout=300)
    again = pd.read_csv(out)
    known = golden[golden.how == "matrix"].reset_index(drop=True)
    np.testing.assert_allclose(again.ln_ic50_pred, known.ln_ic50_pred, rtol=0, atol=ATOL)


def test_the_golden_check_can_fail(golden, tiny_dataset):
    """A model whose weights moved by 1e-3 no longer matches: the tolerance is not vacuous."""
    import torch

    est = NeuralEstimator.from_run(RUN, "cpu")
    with torch.no_grad():
        for p in est.model_.parameters():
            p.add_(1e-3)
    known = golden[golden.how == "matrix"]
    got = est.predict(tiny_dataset, known[["cell_id", "drug_id"]])
    assert np.abs(got - known.ln_ic50_pred.to_numpy()).max() > 100 * ATOL

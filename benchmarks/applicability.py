"""New-drug error against similarity to the training drugs, for ``bench_applicability.py``.

Per-drug RMSE binned by max Tanimoto similarity, and the threshold it suggests: how
:data:`drp.prediction.domain.AD_THRESHOLD` was measured. Research code, not part of ``drp``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from drp.featurize.similarity import tanimoto_cross
from drp.featurize.store import FeaturizedDataset
from drp.prediction.domain import training_drugs
from drp.prediction.predictor import PredictionError


def applicability_curve(
    similarity: np.ndarray,
    abs_error: np.ndarray,
    bins: Sequence[float] | np.ndarray,
    drug_ids: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-drug RMSE binned by similarity to the training drugs.

    Args:
        similarity: [n] max Tanimoto of each test drug (or each pair's drug) to the training
            drugs of its fold.
        abs_error: [n] |prediction - measurement| of each pair, or each drug's RMSE.
        bins: [b + 1] increasing bin edges over [0, 1]; the last bin includes its upper edge.
        drug_ids: [n] the drug of each pair; pairs are first pooled into per-drug RMSE
            (``sqrt(mean(abs_error**2))``). Without it every element is one drug.

    Returns:
        One row per bin: ``sim_lo, sim_hi, n_drugs, rmse`` (mean of the per-drug RMSEs in
        the bin, NaN when empty) and ``rmse_sd``.

    Raises:
        ValueError: mismatched lengths, unsorted bins, or a drug with several similarities.
    """
    sim = np.asarray(similarity, dtype=float)
    err = np.asarray(abs_error, dtype=float)
    edges = np.asarray(bins, dtype=float)
    if sim.shape != err.shape or sim.ndim != 1:
        raise ValueError(f"similarity {sim.shape} and abs_error {err.shape} must be equal 1-D")
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins must be at least two increasing edges, got {edges}")
    if drug_ids is not None:
        frame = pd.DataFrame({"drug": np.asarray(drug_ids), "sim": sim, "sq": err**2})
        per = frame.groupby("drug", sort=False).agg(
            sim=("sim", "first"), spread=("sim", "std"), mse=("sq", "mean")
        )
        if (per["spread"].fillna(0) > 1e-9).any():
            raise ValueError("a drug has more than one similarity value")
        sim, rmse = per["sim"].to_numpy(), np.sqrt(per["mse"].to_numpy())
    else:
        rmse = np.abs(err)
    which = np.digitize(sim, edges[1:-1], right=False)  # bin of each drug, 0 .. b-1
    inside = (sim >= edges[0]) & (sim <= edges[-1])
    rows = []
    for b in range(len(edges) - 1):
        part = rmse[inside & (which == b)]
        rows.append(
            {
                "sim_lo": edges[b],
                "sim_hi": edges[b + 1],
                "n_drugs": len(part),
                "rmse": float(part.mean()) if len(part) else np.nan,
                "rmse_sd": float(part.std(ddof=1)) if len(part) > 1 else np.nan,
            }
        )
    return pd.DataFrame(rows)


def pick_ad_threshold(
    curve: pd.DataFrame, reference_rmse: float, min_drugs: int = 1
) -> float | None:
    """The lowest bin edge ``sim_lo`` above which every bin's per-drug RMSE is below
    ``reference_rmse`` (e.g. the mixed-split RMSE, or the drug-mean baseline's).

    Bins with fewer than ``min_drugs`` drugs are skipped. Returns None when even the most
    similar bin is not below the reference (no similarity makes predictions trustworthy).
    """
    threshold = None
    for row in curve.sort_values("sim_lo", ascending=False).itertuples():
        if row.n_drugs < min_drugs or not np.isfinite(row.rmse):
            continue
        if row.rmse >= reference_rmse:
            break
        threshold = float(row.sim_lo)
    return threshold


def heldout_drug_applicability(run_dir: Path) -> pd.DataFrame:
    """Per test drug of a finished run: ``drug_id, max_tanimoto`` (to the run's training
    drugs), ``nearest_train_drug, n_pairs, rmse`` (over its test pairs). With a drug-blind run
    this feeds :func:`applicability_curve` (``similarity=max_tanimoto, abs_error=rmse``).

    Raises:
        PredictionError: no ``predictions_test.parquet`` or ``config.json``, or the run's
            training drugs cannot be recovered (the similarities would be meaningless).
    """
    run_dir = Path(run_dir)
    if (
        not (run_dir / "predictions_test.parquet").exists()
        or not (run_dir / "config.json").exists()
    ):
        raise PredictionError(f"{run_dir} lacks predictions_test.parquet or config.json")
    config = json.loads((run_dir / "config.json").read_text())
    ds = FeaturizedDataset.load(Path(config["dataset"]))
    trained = training_drugs(run_dir, ds)
    if not trained.recovered:
        raise PredictionError(f"{run_dir}: training drugs not recovered: {trained.source}")
    preds = pd.read_parquet(run_dir / "predictions_test.parquet")
    preds["sq"] = (preds["y_pred"] - preds["y_true"]) ** 2
    per = preds.groupby("drug_id", sort=True).agg(n_pairs=("sq", "size"), mse=("sq", "mean"))
    test_fps = ds.fingerprints[[ds.drug_index[d] for d in per.index]]
    train_fps = ds.fingerprints[[ds.drug_index[d] for d in trained.ids]]
    sim = tanimoto_cross(test_fps, train_fps)
    nearest = sim.argmax(axis=1)
    return pd.DataFrame(
        {
            "drug_id": per.index.to_numpy(),
            "max_tanimoto": sim[np.arange(len(per)), nearest],
            "nearest_train_drug": np.asarray(trained.ids, dtype=object)[nearest],
            "n_pairs": per["n_pairs"].to_numpy(),
            "rmse": np.sqrt(per["mse"].to_numpy()),
        }
    )

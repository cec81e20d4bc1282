"""Tissue selectivity of screened compounds, and how far a run's within-drug ranking holds.

Ranking a library by predicted ln IC50 puts the same few potent compounds at the top of every
tissue. A compound's *selectivity* for a tissue is its mean predicted ln IC50 over the tissue's
screened cells minus its mean over all screened cells (negative: the tissue is more sensitive
than the compound's average cell). It rests on the model's cell-to-cell pattern within one
drug, whose accuracy on compounds new to a run is the per-drug r on drug-blind folds.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from drp.core.choices import NEW_DRUG_SPLITS
from drp.evaluation.metrics import metrics

#: where the benchmark of the within-drug ranking on new drugs is written
BENCHMARK = "benchmarks/RESULTS.md, 'New drugs: ranking cells within a drug'"


def tissue_selectivity(matrix: np.ndarray, tissue_rows: list[np.ndarray]) -> np.ndarray:
    """[n_tissues, n_compounds] mean prediction over each tissue's rows of ``matrix`` [cells,
    compounds] minus the compound's mean over all cells."""
    means = np.stack([matrix[rows].mean(axis=0) for rows in tissue_rows])
    return means - matrix.mean(axis=0)


def ranking_evidence(run_dir: Path) -> dict:
    """How well the run ranks cells within a new drug: per-drug r over its validation drugs
    when they were new to it (a drug- or cluster-blind run), with their count; otherwise no
    figure and where the benchmark's stands."""
    run_dir = Path(run_dir)
    split = ""
    if (run_dir / "config.json").exists():
        split = json.loads((run_dir / "config.json").read_text()).get("train", {}).get("split", "")
    val = run_dir / "predictions_val.parquet"
    if split in NEW_DRUG_SPLITS and val.exists():
        frame = pd.read_parquet(val)
        scored = metrics(frame)
        return {
            "per_drug_r": round(float(scored["per_drug_r"]), 3),
            "drugs": int(scored["per_drug_r_groups"]),
            "source": f"the run's {split} validation drugs (new to it)",
        }
    return {
        "per_drug_r": None,
        "drugs": 0,
        "source": f"the run's validation drugs were seen in training ({split or 'unknown'} "
        f"split); new-drug figures: {BENCHMARK}",
    }

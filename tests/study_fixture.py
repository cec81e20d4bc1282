"""Write a small synthetic study directory that follows the contract in ``drp.report.study_dir``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem

from drp.stats import Comparison, compare

DRUGS = {
    "Lapatinib": "CS(=O)(=O)CCNCc1ccc(-c2ccc3ncnc(Nc4ccc(OCc5cccc(F)c5)c(Cl)c4)c3c2)o1",
    "Erlotinib": "COCCOc1cc2ncnc(Nc3cccc(C#C)c3)c2cc1OCCOC",
    "Paclitaxel": (
        "CC(=O)OC1C(=O)C2(C)C(O)CC3OCC3(OC(C)=O)C2C(OC(=O)c2ccccc2)C2(O)CC(OC(=O)C(O)"
        "C(NC(=O)c3ccccc3)c3ccccc3)C(C)=C1C2(C)C"
    ),
    "Cisplatin": "N.N.Cl[Pt]Cl",
    "Fluorouracil": "O=c1[nH]cc(F)c(=O)[nH]1",
    "Imatinib": "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
    "Gemcitabine": "Nc1ccn(C2OC(CO)C(O)C2(F)F)c(=O)n1",
    "Vorinostat": "O=C(CCCCCCC(=O)Nc1ccccc1)NO",
}
MODELS = {"gat_edge": 0.0, "gat": 0.03, "gcn": 0.06, "pool_mean": 0.01, "fingerprint": 0.05}
BASELINES = {"mean_effects": 0.12, "drug_mean": 0.35, "global_mean": 0.9}
SPLITS = ["mixed", "drug_blind"]
FOLDS = [0, 1, 2]
SEEDS = [0, 1]
COMPARISONS = [
    Comparison("edge features", "gat_edge", "gat"),
    Comparison("attention conv", "gat", "gcn"),
    Comparison("attention pooling", "gat_edge", "pool_mean"),
    Comparison("graph vs fingerprint", "gat_edge", "fingerprint"),
]
METRIC_DIRECTIONS = {"rmse": "lower", "per_drug_r": "higher", "per_cell_r": "higher"}


def _predictions(rng: np.random.Generator, variant: str, penalty: float) -> pd.DataFrame:
    cells = [f"CELL-{i:02d}" for i in range(30)]
    drug_eff = {d: rng.normal(0, 2) for d in DRUGS}
    cell_eff = {c: rng.normal(0, 1) for c in cells}
    rows = []
    for i, c in enumerate(cells):
        for d in DRUGS:
            y = drug_eff[d] + cell_eff[c] + rng.normal(0, 0.6)
            if variant == "drug_mean":
                yhat = drug_eff[d]
            elif variant == "global_mean":
                yhat = 0.0
            else:
                yhat = y + rng.normal(0, 0.5 + 2 * penalty)
            rows.append((c, d, y, yhat, i % len(FOLDS)))
    return pd.DataFrame(rows, columns=["cell_id", "drug_id", "y_true", "y_pred", "fold"])


def write_synthetic_study(root: Path, seed: int = 0) -> Path:
    """Write study.json, results.csv, comparisons.csv, predictions/, history/, attention.json and
    faithfulness.csv under ``root`` (a tiny study: 5 models, 3 baselines, 2 splits, 3 folds,
    2 seeds) and return ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for split_i, split in enumerate(SPLITS):
        for fold in FOLDS:
            fold_eff = rng.normal(0, 0.05)
            for variant, pen in {**MODELS, **BASELINES}.items():
                for s in SEEDS if variant in MODELS else [0]:
                    rmse = 1.0 + 0.3 * split_i + pen + fold_eff + rng.normal(0, 0.01)
                    r = 0.85 - 0.3 * split_i - pen + rng.normal(0, 0.01)
                    rows.append(
                        {
                            "variant": variant,
                            "split": split,
                            "fold": fold,
                            "seed": s,
                            "rmse": rmse,
                            "mae": 0.8 * rmse,
                            "r2": 1 - rmse**2 / 4,
                            "pearson": r,
                            "spearman": r - 0.02,
                            "per_drug_r": 0.0 if variant == "drug_mean" else r - 0.4,
                            "per_cell_r": r - 0.1,
                            "n_test": 80,
                            "epochs": 5 if variant in MODELS else 0,
                            "train_seconds": 12.5 if variant in MODELS else 0.1,
                        }
                    )
    results = pd.DataFrame(rows)
    results.to_csv(root / "results.csv", index=False)
    comps = compare(
        results,
        COMPARISONS,
        METRIC_DIRECTIONS,
        n_train=dict.fromkeys(SPLITS, 160),
        n_test=dict.fromkeys(SPLITS, 80),
    )
    comps.to_csv(root / "comparisons.csv", index=False)

    (root / "predictions").mkdir(exist_ok=True)
    for variant, pen in {**MODELS, **BASELINES}.items():
        for split in SPLITS:
            pred = _predictions(rng, variant, pen)
            pred.to_parquet(root / "predictions" / f"{variant}__{split}.parquet", index=False)

    (root / "history").mkdir(exist_ok=True)
    for variant, pen in MODELS.items():
        for split in SPLITS:
            for fold in FOLDS:
                for s in SEEDS:
                    epoch = np.arange(1, 6)
                    val = 1.0 + pen + 1.5 * np.exp(-epoch / 2) + rng.normal(0, 0.02, 5)
                    hist = pd.DataFrame(
                        {"epoch": epoch, "train_loss": val**2 * 0.8, "val_rmse": val}
                    )
                    hist.to_csv(
                        root / "history" / f"{variant}__{split}__f{fold}__s{s}.csv", index=False
                    )

    attention = []
    faith_rows = []
    for split in SPLITS:
        for drug, smi in DRUGS.items():
            top, rnd = abs(rng.normal(0.3, 0.1)), abs(rng.normal(0.15, 0.08))
            sal = float(rng.uniform(-0.1, 0.6))
            faith_rows.append((drug, split, 3, top, rnd, sal))
            if split == "drug_blind" and drug in (
                "Lapatinib",
                "Erlotinib",
                "Paclitaxel",
                "Cisplatin",
            ):
                n = Chem.MolFromSmiles(smi).GetNumAtoms()
                w = rng.dirichlet(np.full(n, 0.5))
                attention.append(
                    {
                        "drug_id": drug,
                        "smiles": smi,
                        "atom_weights": [float(x) for x in w],
                        "split": split,
                        "variant": "gat_edge",
                        "faithfulness": {
                            "top_k_delta": top,
                            "random_k_delta": rnd,
                            "k": 3,
                            "saliency_spearman": sal,
                        },
                    }
                )
    (root / "attention.json").write_text(json.dumps(attention, indent=1))
    pd.DataFrame(
        faith_rows,
        columns=["drug_id", "split", "k", "top_k_delta", "random_k_delta", "saliency_spearman"],
    ).to_csv(root / "faithfulness.csv", index=False)

    meta = {
        "name": "synthetic-study",
        "preset": "tiny",
        "preset_description": "synthetic fixture for report tests",
        "dataset": {
            "name": "GDSC2 (synthetic)",
            "manifest_files": {"responses.csv": "ab" * 32, "expression.csv": "cd" * 32},
            "counts": {"raw_pairs": 300},
        },
        "grid": {
            "variants": [*MODELS, *BASELINES],
            "splits": SPLITS,
            "folds": FOLDS,
            "seeds": SEEDS,
            "epochs": 5,
        },
        "provenance": {
            "commit": "0123abc",
            "date": "2026-01-01T00:00:00Z",
            "hardware": "CPU (test)",
            "python": "3.11",
            "torch": "2.x",
            "command": "drp study --preset tiny",
        },
        "config": {"conv": "gat_edge", "pool": "attention", "fusion": "concat", "hidden": 64},
        "data_summary": {
            "counts": {"pairs": 240, "cells": 30, "drugs": 8},
            "drops": [
                {
                    "stage": "drugs",
                    "source": "drugs.csv",
                    "reason": "SMILES did not parse",
                    "items": ["BROKEN-1", "BROKEN-2"],
                    "rows": 60,
                },
                {
                    "stage": "omics",
                    "source": "expression.csv",
                    "reason": "cell line without expression",
                    "items": [f"CELL-X{i}" for i in range(9)],
                    "rows": 72,
                },
            ],
            "noise_ceiling": {"pearson": 0.91, "rmse": 0.62, "n_pairs": 45},
        },
    }
    (root / "study.json").write_text(json.dumps(meta, indent=2))
    return root

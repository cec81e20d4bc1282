"""Write a small synthetic study directory that follows the contract in ``drp.report.study_dir``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from rdkit import Chem

from drp.study.answers import answer_table, per_drug_mixed_model
from drp.study.presets import MARGINS, Question

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
MODELS = {"gat_edge": 0.0, "gat": 0.03, "gcn": 0.10, "pool_mean": 0.01, "fingerprint": 0.05}
BASELINES = {"mean_effects": 0.12, "drug_mean": 0.35, "global_mean": 0.9}
SPLITS = ["mixed", "drug_blind"]
FOLDS = [0, 1, 2]
SEEDS = [0, 1]
QUESTIONS = [
    Question("edge features", "gat_edge", "gat", "drug_blind", ("mixed",)),
    Question("attention conv", "gat", "gcn", "drug_blind"),
    Question("attention pooling", "gat_edge", "pool_mean", "drug_blind"),
    Question("graph vs fingerprint", "gat_edge", "fingerprint", "drug_blind"),
]
N_TRAIN, N_TEST = dict.fromkeys(SPLITS, 800), dict.fromkeys(SPLITS, 80)


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
    """Write the evidence of a tiny study under ``root`` (5 models, 3 baselines, 2 splits, 3
    folds, 2 seeds): study.json, design.json, results.csv, answers.csv, per_drug_tests.csv,
    groups.parquet, predictions.parquet, cells/*.json, attention.json and faithfulness.csv."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "cells").mkdir(exist_ok=True)
    rows, groups, samples = [], [], []
    for split_i, split in enumerate(SPLITS):
        for fold in FOLDS:
            fold_eff = rng.normal(0, 0.05)
            for variant, pen in {**MODELS, **BASELINES}.items():
                for s in SEEDS:
                    rmse = 1.0 + 0.3 * split_i + pen + fold_eff + rng.normal(0, 0.01)
                    r = 0.85 - 0.3 * split_i - pen + rng.normal(0, 0.01)
                    row = {
                        "variant": variant,
                        "split": split,
                        "fold": fold,
                        "seed": s,
                        "kind": "model" if variant in MODELS else "baseline",
                        "rmse": rmse,
                        "mae": 0.8 * rmse,
                        "r2": 1 - rmse**2 / 4,
                        "pearson": r,
                        "spearman": r - 0.02,
                        "per_drug_r": 0.0 if variant == "drug_mean" else r - 0.4,
                        "per_cell_r": r - 0.1,
                        "n_test": 80,
                        "epochs": 5 if variant in MODELS else 0,
                        "best_epoch": 4 if variant in MODELS else 0,
                        "train_seconds": 12.5 if variant in MODELS else 0.1,
                    }
                    rows.append(row)
                    pred = _predictions(rng, variant, pen)
                    for kind, key in (("drug", "drug_id"), ("cell", "cell_id")):
                        for name, g in pred.groupby(key):
                            err = g.y_true - g.y_pred
                            groups.append(
                                {"kind": kind, "id": name, "n": len(g),
                                 "rmse": float(np.sqrt((err**2).mean())),
                                 "mean_true": g.y_true.mean(), "mean_pred": g.y_pred.mean(),
                                 "censored": int(len(g) // 10),
                                 "pearson": float(np.corrcoef(g.y_true, g.y_pred)[0, 1])
                                 if g.y_pred.std() > 0 else 0.0,
                                 "variant": variant, "split": split, "fold": fold, "seed": s}
                            )  # fmt: skip
                    if variant == "gat_edge":
                        samples.append(
                            pred.assign(
                                variant=variant,
                                split=split,
                                fold=fold,
                                seed=s,
                                censored=pred.y_true > 3,
                            )  # fmt: skip
                        )
                    if variant in MODELS:
                        epoch = np.arange(1, 6)
                        val = 1.0 + pen + 1.5 * np.exp(-epoch / 2) + rng.normal(0, 0.02, 5)
                        history = [
                            {"epoch": int(e), "train_loss": float(v**2 * 0.8), "val_rmse": float(v)}
                            for e, v in zip(epoch, val, strict=True)
                        ]
                        record = {**row, "n": 80, "history": history}
                        name = f"{variant}__{split}__f{fold}__s{s}.json"
                        (root / "cells" / name).write_text(json.dumps(record))
    results = pd.DataFrame(rows)
    results.to_csv(root / "results.csv", index=False)
    answers = answer_table(results, QUESTIONS, N_TRAIN, N_TEST, list(BASELINES))
    answers.to_csv(root / "answers.csv", index=False)
    groups = pd.DataFrame(groups)
    groups.to_parquet(root / "groups.parquet", index=False)
    drugs = groups[groups.kind == "drug"]
    tests = [
        {"question": q.name, "split": "drug_blind",
         **per_drug_mixed_model(drugs, q.attention, q.twin, "drug_blind")}
        for q in QUESTIONS
    ]  # fmt: skip
    pd.DataFrame(tests).to_csv(root / "per_drug_tests.csv", index=False)
    pd.concat(samples).drop(columns="fold").assign(fold=0).to_parquet(
        root / "predictions.parquet", index=False
    )
    design = {
        "questions": [
            {"name": q.name, "attention": q.attention, "twin": q.twin, "primary_split": q.primary,
             "secondary_splits": list(q.secondary), "primary_metric": "rmse"}
            for q in QUESTIONS
        ],
        "margins": MARGINS,
        "family": {"primary": f"the {len(QUESTIONS)} primary endpoints"},
        "n_train": N_TRAIN,
        "n_test": N_TEST,
    }  # fmt: skip
    (root / "design.json").write_text(json.dumps(design))

    attention = []
    faith_rows = []
    for fold, (drug, smi) in enumerate(DRUGS.items()):
        uniform = abs(rng.normal(0.1, 0.05))
        sal = float(rng.uniform(-0.1, 0.6))
        n = Chem.MolFromSmiles(smi).GetNumAtoms()
        scores = []
        for fraction in (0.1, 0.2, 0.3):
            # attended atoms matter more than random ones, except for Paclitaxel
            top, rnd = abs(rng.normal(0.3, 0.1)), abs(rng.normal(0.15, 0.05))
            if drug == "Paclitaxel":
                top, rnd = rnd, top
            score = {"fraction": fraction, "k": max(1, int(np.ceil(fraction * n))),
                     "n_atoms": n, "top_k_delta": top, "random_k_delta": rnd, "matched": 1.0,
                     "uniform_delta": uniform, "saliency_spearman": sal}  # fmt: skip
            scores.append(score)
            faith_rows.append({"drug_id": drug, "split": "drug_blind", "fold": fold, **score})
        if drug in ("Lapatinib", "Erlotinib", "Paclitaxel", "Cisplatin"):
            w = rng.dirichlet(np.full(n, 0.5))
            attention.append(
                {
                    "drug_id": drug,
                    "smiles": smi,
                    "atom_weights": [float(x) for x in w],
                    "split": "drug_blind",
                    "fold": fold,
                    "variant": "gat_edge",
                    "faithfulness": scores,
                }  # fmt: skip
            )
    (root / "attention.json").write_text(json.dumps(attention, indent=1))
    observed = rng.normal(0, 0.5, 40)
    biomarkers = pd.DataFrame(
        {
            "drug_id": ["Lapatinib", "Erlotinib"] + [f"D{i}" for i in range(38)],
            "feature": ["ERBB2 high", "EGFR mut"] + [f"G{i} mut" for i in range(38)],
            "n_pos": 12,
            "n_neg": 18,
            "observed": observed,
            "predicted": 0.6 * observed,
            "p_observed": 0.01,
            "p_predicted": 0.02,
            "q_observed": 0.04,
            "subset": ["classic", "classic"] + ["significant"] * 10 + ["sample"] * 28,
        }
    )
    biomarkers.to_csv(root / "biomarkers.csv", index=False)
    summary = {"n_associations": 400, "r_all": 0.5, "n_significant": 10, "r_significant": 0.9,
               "sign_agreement_significant": 0.9, "fdr": 0.05, "n_cells": 30, "n_pairs": 240}  # fmt: skip
    (root / "biomarkers.json").write_text(json.dumps(summary))
    pd.DataFrame(faith_rows).to_csv(root / "faithfulness.csv", index=False)

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
            "patience": 2,
            "default_variant": "gat_edge",
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

"""Faithfulness and atom weights of a study's default model, from models that never saw the drug."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from drp.featurize.molecules import smiles_in_graph_order
from drp.featurize.store import FeaturizedDataset
from drp.models.registry import DEFAULT_VARIANT
from drp.study.cells import StudyFolds, run_name
from drp.study.interpretation import atom_attention, faithfulness
from drp.study.presets import Preset
from drp.training.estimator import NeuralEstimator

SHOWCASE_DRUGS = ("Lapatinib", "Erlotinib", "Paclitaxel", "Cisplatin", "Gefitinib", "Docetaxel")

FAITHFULNESS_SPLITS = ("drug_blind", "cluster_blind")


def write_attention(
    study: Path,
    preset: Preset,
    ds: FeaturizedDataset,
    folds: StudyFolds,
    max_cells: int = 200,
    device: str | None = None,
) -> None:
    """Faithfulness and atom weights of the default model, from models that never saw the drug.

    For the first drug-blind split of the grid (cluster-blind if there is no drug-blind one;
    any split as a last resort), every fold of the first seed: each test drug is scored by its
    fold's model over up to ``max_cells`` of its test cells (``faithfulness.csv``, one row per
    drug x deleted fraction), and the showcase drugs' atom weights come from the fold where they
    were held out (``attention.json``).

    The models run on ``device``; by default the study's ``train.device`` (``study.json``),
    where ``cuda`` falls back to the CPU when no GPU is present now.
    """
    from drp.core.device import resolve_device

    if device is None:
        info = study / "study.json"
        config = json.loads(info.read_text()).get("config", {}) if info.exists() else {}
        device = (config.get("train") or {}).get("device", "auto")
        device = "auto" if device == "cuda" else device
    run_device = resolve_device(device)
    seed = preset.seeds[0]
    trained = [
        s for s in preset.splits if any(c[:2] == (DEFAULT_VARIANT, s) for c in preset.cells())
    ]
    blind = [s for s in FAITHFULNESS_SPLITS if s in trained]
    if not trained:
        return
    split = (blind or trained)[0]
    rows, showcase = [], []
    for fold in preset.folds:
        run_dir = study / "runs" / run_name(DEFAULT_VARIANT, split, fold, seed)
        if not (run_dir / "best.pt").exists():
            continue
        fi = folds(split, seed, fold)
        estimator = NeuralEstimator.from_run(run_dir, run_device)
        model, tensors = estimator.model_, estimator.entity_tensors(ds)
        model.eval()
        test = ds.pairs.iloc[fi.test]
        rng = np.random.default_rng(seed)
        scores: dict[str, list[dict]] = {}
        for drug_id, group in test.groupby("drug_id"):
            cells = group.cell_id.map(ds.cell_index).to_numpy()
            if len(cells) > max_cells:
                cells = rng.choice(cells, max_cells, replace=False)
            d = ds.drug_index[drug_id]
            scores[drug_id] = faithfulness(
                model,
                ds.graphs[d],
                tensors,
                cells,
                estimator.target_std_,
                seed=seed,
                fingerprint=tensors.fingerprints[d],
            )
            rows += [
                {"drug_id": drug_id, "split": split, "fold": fold, **r} for r in scores[drug_id]
            ]
        for drug_id in SHOWCASE_DRUGS:
            if drug_id not in scores:
                continue
            d = ds.drug_index[drug_id]
            weights = atom_attention(model, ds.graphs[d], tensors.fingerprints[d])
            smiles, ordered = smiles_in_graph_order(ds.drugs.smiles.iloc[d], weights)
            showcase.append(
                {
                    "drug_id": drug_id,
                    "smiles": smiles,
                    "atom_weights": ordered,
                    "split": split,
                    "fold": fold,
                    "variant": DEFAULT_VARIANT,
                    "faithfulness": scores[drug_id],
                }
            )
    if not rows:  # no checkpoint here: keep the tables committed with the evidence
        return
    pd.DataFrame(rows).to_csv(study / "faithfulness.csv", index=False)
    order = {name: i for i, name in enumerate(SHOWCASE_DRUGS)}
    showcase.sort(key=lambda e: order[e["drug_id"]])
    (study / "attention.json").write_text(json.dumps(showcase, indent=1) + "\n")

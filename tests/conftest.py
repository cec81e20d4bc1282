"""Tiny, network-free fixtures: a few real SMILES, synthetic omics and responses."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from drp.featurize.pipeline import build_dataset, custom_tables
from drp.featurize.store import FeaturizedDataset

SMILES = {
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "cisplatin": "N.N.Cl[Pt]Cl",
    "aspirin_sodium": "CC(=O)Oc1ccccc1C(=O)[O-].[Na+]",
    "tetramethylammonium": "C[N+](C)(C)C",
    "erlotinib": "COCCOc1cc2ncnc(Nc3cccc(C#C)c3)c2cc1OCCOC",
    "fluorouracil": "O=c1[nH]cc(F)c(=O)[nH]1",
    "imatinib": "Cc1ccc(NC(=O)c2ccc(CN3CCN(C)CC3)cc2)cc1Nc1nccc(-c2cccnc2)n1",
    "broken": "C1CC(",
}
# Tiny tensors: one thread avoids OpenMP spin-wait slowdowns when other processes share the cores.
torch.set_num_threads(1)
# The precision probe's per-machine verdict goes to a folder of this test session, never ~/.cache
os.environ.setdefault("DRP_CACHE_DIR", tempfile.mkdtemp(prefix="drp-test-cache-"))

N_CELLS = 12
N_GENES = 20


def write_fixture_tables(root: Path, seed: int = 0) -> dict[str, Path]:
    """Write responses/omics/drugs/tissues CSVs; responses are additive + a gene x drug term."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    cells = [f"CELL-{i:02d}" for i in range(N_CELLS)]
    expr = rng.normal(size=(N_CELLS, N_GENES)).astype(np.float32)
    omics = pd.DataFrame(expr, columns=[f"G{j}" for j in range(N_GENES)])
    omics.insert(0, "cell_id", cells)
    drugs = pd.DataFrame({"drug_id": list(SMILES), "smiles": list(SMILES.values())})
    rows = []
    drug_effect = {d: rng.normal(scale=2) for d in SMILES}
    for i, cell in enumerate(cells):
        for k, drug in enumerate(SMILES):
            y = drug_effect[drug] + expr[i, 0] + 0.5 * expr[i, k % N_GENES] * (k % 3 - 1)
            rows.append((cell, drug, float(y)))
    responses = pd.DataFrame(rows, columns=["cell_id", "drug_id", "ln_ic50"])
    tissues = pd.DataFrame(
        {"cell_id": cells, "tissue": [["lung", "blood", "skin"][i % 3] for i in range(N_CELLS)]}
    )
    paths = {
        "responses": root / "responses.csv",
        "omics": root / "expression.csv",
        "drugs": root / "drugs.csv",
        "tissues": root / "tissues.csv",
    }
    responses.to_csv(paths["responses"], index=False)
    omics.to_csv(paths["omics"], index=False)
    drugs.to_csv(paths["drugs"], index=False)
    tissues.to_csv(paths["tissues"], index=False)
    return paths


@pytest.fixture
def fixture_tables(tmp_path: Path) -> dict[str, Path]:
    return write_fixture_tables(tmp_path / "tables")


def make_dataset(paths: dict[str, Path]) -> FeaturizedDataset:
    raw = custom_tables(
        "fixture",
        paths["responses"],
        {"expression": paths["omics"]},
        paths["drugs"],
        tissues_path=paths["tissues"],
    )
    return build_dataset(raw)


@pytest.fixture
def tiny_dataset(fixture_tables: dict[str, Path]) -> FeaturizedDataset:
    return make_dataset(fixture_tables)

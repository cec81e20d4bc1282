"""Turn validated tables into a :class:`FeaturizedDataset`: molecules, omics, pairs, drops."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from drp.data.gdsc import DATASETS
from drp.data.sources import sha256_file
from drp.data.tables import (
    DropLog,
    TableError,
    average_replicates,
    drugs_from_frame,
    normalize_cell_id,
    omics_from_frame,
    read_table,
    require_columns,
    responses_from_frame,
)
from drp.featurize.molecules import (
    ATOM_DIM,
    BOND_DIM,
    InvalidSmilesError,
    mol_to_graph,
    morgan_fingerprint,
    standardise,
)
from drp.featurize.store import FeaturizedDataset

OMICS_CHOICES = ("expression", "mutation", "cnv", "pathway")
Progress = Callable[[Iterable, str], Iterable]


def _no_progress(items: Iterable, description: str) -> Iterable:
    return items


@dataclass
class RawTables:
    """Validated inputs before featurization (all ids already normalised)."""

    name: str
    responses: pd.DataFrame  # cell_id, drug_id, ln_ic50[, censored]
    omics: dict[str, pd.DataFrame]  # name -> cells x features
    drugs: pd.DataFrame  # drug_id, smiles
    tissues: pd.DataFrame | None = None  # cell_id, tissue
    sources: dict = field(default_factory=dict)
    drops: DropLog = field(default_factory=DropLog)


def featurize_drugs(
    drugs: pd.DataFrame, drops: DropLog, source: str, progress: Progress = _no_progress
):
    """Standardise and featurize every drug; invalid SMILES are dropped with their reason.

    Returns (drug table, list of graphs, fingerprints [n_valid, 2048]).
    """
    rows, graphs, fps = [], [], []
    for drug_id, smiles in progress(
        list(zip(drugs.drug_id, drugs.smiles, strict=True)), "featurizing molecules"
    ):
        try:
            std = standardise(smiles if isinstance(smiles, str) else "")
        except InvalidSmilesError as exc:
            drops.add("drugs", source, str(drug_id), f"invalid SMILES: {exc}")
            continue
        graph = mol_to_graph(std.mol)
        rows.append(
            {
                "drug_id": drug_id,
                "smiles": smiles,
                "smiles_standardised": std.smiles,
                "n_atoms": graph.num_nodes,
                "n_bonds": graph.edge_index.shape[1] // 2,
                "removed_fragments": std.removed_fragments,
            }
        )
        graphs.append(graph)
        fps.append(morgan_fingerprint(std.mol))
    table = pd.DataFrame(
        rows,
        columns=[
            "drug_id",
            "smiles",
            "smiles_standardised",
            "n_atoms",
            "n_bonds",
            "removed_fragments",
        ],
    )
    matrix = np.stack(fps) if fps else np.zeros((0, 2048), np.uint8)
    return table, graphs, matrix


def build_dataset(raw: RawTables, progress: Progress = _no_progress) -> FeaturizedDataset:
    """Align responses, omics and drugs; every unmatched id is dropped and counted."""
    drops = raw.drops
    if not raw.omics:
        raise TableError("no omics selected")
    drug_table, graphs, fps = featurize_drugs(raw.drugs, drops, "drugs", progress)

    # cells need every selected omics
    cell_sets = [set(frame.index) for frame in raw.omics.values()]
    cells_with_omics = set.intersection(*cell_sets)
    for name, frame in raw.omics.items():
        lacking = sorted(set(frame.index) - cells_with_omics)
        drops.add_many("cells", f"omics_{name}", lacking, "cell lacks another selected omics")

    responses = raw.responses
    source = raw.sources.get("responses_name", "responses")
    valid_drugs = set(drug_table.drug_id)
    unknown_cell = ~responses.cell_id.isin(cells_with_omics)
    unknown_drug = ~responses.drug_id.isin(valid_drugs)
    for cell, n in responses.cell_id[unknown_cell].value_counts().sort_index().items():
        drops.add("responses", source, cell, "cell id has no (complete) omics", int(n))
    in_drug_table = set(raw.drugs.drug_id)
    lost_drugs = responses.drug_id[unknown_drug & ~unknown_cell].value_counts().sort_index()
    for drug, n in lost_drugs.items():
        reason = (
            "invalid SMILES (drug dropped)"
            if drug in in_drug_table
            else "drug id not in the drug table"
        )
        drops.add("responses", source, drug, reason, int(n))
    kept = responses[~unknown_cell & ~unknown_drug].reset_index(drop=True)
    if kept.empty:
        raise TableError(
            "no (cell, drug) pair has both omics and a valid SMILES: check that "
            "the id columns of the response, omics and drug tables match"
        )
    pairs = average_replicates(kept)
    if "censored" in kept.columns:
        censored = kept.groupby(["cell_id", "drug_id"], sort=True)["censored"].all()
        pairs["censored"] = censored.to_numpy()

    used_cells = sorted(set(pairs.cell_id))
    used_drugs = set(pairs.drug_id)
    drug_mask = drug_table.drug_id.isin(used_drugs).to_numpy()
    unused = drug_table.drug_id[~drug_mask].tolist()
    drops.add_many("drugs", "drugs", unused, "drug not measured in this dataset")
    drug_table = drug_table[drug_mask].reset_index(drop=True)
    graphs = [g for g, keep in zip(graphs, drug_mask, strict=True) if keep]
    fps = fps[drug_mask]

    tissue = (
        raw.tissues.set_index("cell_id")["tissue"]
        if raw.tissues is not None
        else pd.Series(dtype=object)
    )
    cells = pd.DataFrame(
        {"cell_id": used_cells, "tissue": [tissue.get(c, None) for c in used_cells]}
    )
    omics = {name: frame.loc[used_cells].astype(np.float32) for name, frame in raw.omics.items()}
    counts = {
        "pairs": len(pairs),
        "measurements": len(kept),
        "pairs_with_replicates": int((pairs.n_replicates > 1).sum()),
        "cells": len(cells),
        "cells_with_tissue": int(cells.tissue.notna().sum()),
        "drugs": len(drug_table),
        "omics_widths": {n: int(f.shape[1]) for n, f in omics.items()},
        "dropped": len(drops.rows),
    }
    manifest = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "sources": raw.sources,
        "counts": counts,
        "atom_dim": ATOM_DIM,
        "bond_dim": BOND_DIM,
        "standardisation": "largest organic fragment; metal-containing molecules keep all "
        "fragments",
        "drops_summary": drops.summary().to_dict(orient="records"),
    }
    return FeaturizedDataset(
        name=raw.name,
        pairs=pairs,
        cells=cells,
        drugs=drug_table,
        omics=omics,
        graphs=graphs,
        fingerprints=fps,
        replicates=kept[["cell_id", "drug_id", "ln_ic50"]],
        drops=drops.frame(),
        manifest=manifest,
    )


def gdsc_tables(processed: Path, dataset: str, omics: list[str]) -> RawTables:
    """Read the processed built-in release (see :mod:`drp.data.gdsc`) as RawTables."""
    if dataset not in DATASETS:
        raise TableError(f"unknown built-in dataset {dataset!r}; choose from {list(DATASETS)}")
    manifest = json.loads((processed / "manifest.json").read_text())
    responses = pd.read_parquet(processed / f"responses_{dataset}.parquet")
    frames = {name: pd.read_parquet(processed / f"omics_{name}.parquet") for name in omics}
    drugs = pd.read_csv(processed / "drugs.csv")
    tissues = pd.read_csv(processed / "tissues.csv")
    sources = {
        "built_in": dataset,
        "responses_name": f"responses_{dataset}",
        "archives": manifest["sources"],
        "processed_files": {k: v["sha256"] for k, v in manifest["files"].items()},
    }
    return RawTables(dataset, responses, frames, drugs, tissues, sources)


def custom_tables(
    name: str,
    responses_path: Path,
    omics_paths: dict[str, Path],
    drugs_path: Path,
    *,
    cell_col: str = "cell_id",
    drug_col: str = "drug_id",
    response_col: str = "ln_ic50",
    unit: str = "ln_ic50",
    smiles_col: str = "smiles",
    drug_table_id_col: str = "drug_id",
    tissues_path: Path | None = None,
) -> RawTables:
    """Read and validate user tables; problems raise TableError naming file and column."""
    drops = DropLog()
    responses = responses_from_frame(
        read_table(responses_path),
        str(responses_path),
        drops,
        cell_col,
        drug_col,
        response_col,
        unit,
    )
    if responses.empty:
        raise TableError(f"{responses_path}: no usable response rows (all were dropped)")
    omics = {
        key: omics_from_frame(read_table(path), str(path), drops)
        for key, path in omics_paths.items()
    }
    drugs = drugs_from_frame(read_table(drugs_path), str(drugs_path), drug_table_id_col, smiles_col)
    tissues = None
    if tissues_path is not None:
        frame = read_table(tissues_path)
        require_columns(frame, ["cell_id", "tissue"], str(tissues_path))
        tissues = pd.DataFrame(
            {"cell_id": frame.cell_id.map(normalize_cell_id), "tissue": frame.tissue}
        )
    files = [responses_path, drugs_path, *omics_paths.values()]
    sources = {
        "custom": True,
        "responses_name": str(responses_path),
        "files": {str(p): sha256_file(Path(p)) for p in files},
    }
    return RawTables(name, responses, omics, drugs, tissues, sources, drops)

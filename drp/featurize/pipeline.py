"""Turn validated tables into a :class:`FeaturizedDataset`: molecules, omics, pairs, drops."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from drp.data.drug_structures import recover_structures, recovered_records
from drp.data.gdsc import DATASETS, PROCESSED_FORMAT
from drp.data.ids import CELL_ID_RULE
from drp.data.screened_range import (
    DEFAULT_OUTSIDE_RANGE,
    apply_outside_range,
    check_outside_range_policy,
)
from drp.data.sources import sha256_file
from drp.data.tables import TableError, read_table
from drp.data.validation import (
    MAX_MISSING_OMICS_FRACTION,
    DropLog,
    average_replicates,
    drugs_from_frame,
    omics_from_frame,
    resolve_cell_tables,
    responses_from_frame,
    tissues_from_frame,
)
from drp.featurize.molecules import (
    ATOM_DIM,
    BOND_DIM,
    CLUSTER_METHOD,
    CLUSTER_SIMILARITY,
    FINGERPRINT_BITS,
    PHYSCHEM,
    InvalidSmilesError,
    cluster_structures,
    mol_to_graph,
    morgan_fingerprint,
    physchem_descriptors,
    standardise,
    structure_key,
)
from drp.featurize.similarity import drug_identity
from drp.featurize.store import FeaturizedDataset

OMICS_CHOICES = ("expression", "mutation", "cnv", "pathway")
Progress = Callable[[Iterable, str], Iterable]


def _no_progress(items: Iterable, description: str) -> Iterable:
    return items


@dataclass
class RawTables:
    """Validated inputs before featurization, keyed by stable cell ids.

    Build it with :func:`gdsc_tables` or :func:`custom_tables`, which resolve cell names with
    :func:`drp.data.validation.resolve_cell_tables`.
    """

    name: str
    responses: pd.DataFrame  # cell_id, drug_id, ln_ic50[, cell_name, censored]
    omics: dict[str, pd.DataFrame]  # name -> cells x features (NaN = missing), index cell_id
    drugs: pd.DataFrame  # drug_id, smiles
    tissues: pd.DataFrame | None = None  # cell_id, tissue[, cosmic_id, cell_name]
    sources: dict = field(default_factory=dict)
    drops: DropLog = field(default_factory=DropLog)
    # normalised id -> distinct spellings of lines that normalise alike (kept apart or dropped)
    cell_collisions: dict[str, list[str]] = field(default_factory=dict)


def featurize_drugs(
    drugs: pd.DataFrame, drops: DropLog, source: str, progress: Progress = _no_progress
):
    """Standardise and featurize every drug; invalid SMILES are dropped with RDKit's reason.

    Returns (drug table with ``structure_key``, list of graphs, fingerprints [n_valid, 2048],
    physicochemical descriptors [n_valid, k]).
    """
    rows, graphs, fps, descriptors = [], [], [], []
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
                "structure_key": structure_key(std.mol),
            }
        )
        graphs.append(graph)
        fps.append(morgan_fingerprint(std.mol))
        descriptors.append(physchem_descriptors(std.mol))
    table = pd.DataFrame(
        rows,
        columns=[
            "drug_id",
            "smiles",
            "smiles_standardised",
            "n_atoms",
            "n_bonds",
            "removed_fragments",
            "structure_key",
        ],
    )
    matrix = np.stack(fps) if fps else np.zeros((0, FINGERPRINT_BITS), np.uint8)
    described = np.stack(descriptors) if descriptors else np.zeros((0, len(PHYSCHEM)))
    return table, graphs, matrix, described


def build_dataset(
    raw: RawTables,
    progress: Progress = _no_progress,
    outside_range: str = DEFAULT_OUTSIDE_RANGE,
) -> FeaturizedDataset:
    """Align responses, omics and drugs; every unmatched id is dropped and counted.

    When the responses carry a screened range (``min_conc_um``, ``max_conc_um``), each aligned
    measurement is flagged against it and ``outside_range`` (``keep`` | ``clip`` | ``drop``,
    :func:`drp.data.validation.apply_outside_range`) says what happens to those outside; pairs
    then carry the range and the flag (:func:`drp.data.validation.average_replicates`) and
    ``manifest["screened_range"]`` records the policy and counts. The default ``keep`` trains
    and scores on the extrapolated value as measured: it is what GDSC's published ln IC50
    values are used as in the literature, and it changes no number of a dataset featurized
    before ranges were read.
    """
    check_outside_range_policy(outside_range)
    drops = raw.drops
    if not raw.omics:
        raise TableError("no omics selected")
    drug_table, graphs, fps, descriptors = featurize_drugs(raw.drugs, drops, "drugs", progress)

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
    collided = {line: lines for lines in raw.cell_collisions.values() for line in lines}
    for cell, n in responses.cell_id[unknown_cell].value_counts().sort_index().items():
        reason = (
            "cell name collides with a distinct line after normalisation "
            f"({' / '.join(collided[cell])}) and no omics profile matches it unambiguously"
            if cell in collided
            else "cell id has no (complete) omics"
        )
        drops.add("responses", source, cell, reason, int(n))
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
    kept, screened_range = apply_outside_range(kept, outside_range, drops, source)
    if kept.empty:
        raise TableError(f"{source}: every measurement lies outside its screened range (drop)")
    pairs = average_replicates(kept)
    flagged = pairs["outside_range"].eq(True).sum() if "outside_range" in pairs else 0
    screened_range["pairs_outside"] = int(flagged)
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
    fps, descriptors = fps[drug_mask], descriptors[drug_mask]

    # over drug identities, so stereo and charge variants of one skeleton share a cluster
    identity = drug_identity(drug_table["structure_key"]).fillna(drug_table["drug_id"])
    drug_table["structure_cluster"] = cluster_structures(fps, identity.tolist(), CLUSTER_SIMILARITY)
    cells = _cell_table(used_cells, kept, raw.tissues)
    omics = {name: frame.loc[used_cells].astype(np.float32) for name, frame in raw.omics.items()}
    cluster_sizes = drug_table["structure_cluster"].value_counts()
    counts = {
        "pairs": len(pairs),
        "measurements": len(kept),
        "pairs_with_replicates": int((pairs.n_replicates > 1).sum()),
        "cells": len(cells),
        "cells_with_tissue": int(cells.tissue.notna().sum()),
        "cells_with_missing_omics": int(
            np.any([f.isna().any(axis=1).to_numpy() for f in omics.values()], axis=0).sum()
        ),
        "drugs": len(drug_table),
        "drug_structures": int(drug_table["structure_key"].nunique()),
        "drug_clusters": int(len(cluster_sizes)),
        "largest_drug_cluster": int(cluster_sizes.max()) if len(cluster_sizes) else 0,
        "omics_widths": {n: int(f.shape[1]) for n, f in omics.items()},
        "dropped": len(drops.rows),
    }
    manifest = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "sources": raw.sources,
        "counts": counts,
        "atom_dim": ATOM_DIM,
        "bond_dim": BOND_DIM,
        "standardisation": "largest organic fragment; metal-containing molecules keep all "
        "fragments",
        "structure_key": "InChIKey of the standardised molecule (canonical SMILES where InChI "
        "fails)",
        "clustering": {
            "method": CLUSTER_METHOD,
            "fingerprint": f"Morgan radius 2, {FINGERPRINT_BITS} bits",
            "similarity": "Tanimoto",
            "threshold": CLUSTER_SIMILARITY,
            "unit": "distinct drug identity (InChIKey connectivity: one skeleton, one cluster)",
        },
        "cell_identity": {
            "rule": raw.sources.get("cell_id_rule", CELL_ID_RULE),
            "collisions": raw.cell_collisions,
        },
        "omics_missing": {
            "max_fraction_per_cell": MAX_MISSING_OMICS_FRACTION,
            "imputation": "training-cell mean of each feature, at fit time",
        },
        "screened_range": screened_range,
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
        descriptors=descriptors,
        replicates=kept[["cell_id", "drug_id", "ln_ic50"]],
        drops=drops.frame(),
        manifest=manifest,
    )


def _cell_table(
    cell_ids: list[str], responses: pd.DataFrame, tissues: pd.DataFrame | None
) -> pd.DataFrame:
    """``cell_id, cell_name, tissue[, cosmic_id, tissue_sub_type]`` in ``cell_ids`` order.

    ``cell_name`` is the display name: the responses' most frequent spelling of the line.
    """
    cells = pd.DataFrame({"cell_id": cell_ids})
    if "cell_name" in responses.columns:
        names = responses.groupby("cell_id")["cell_name"].agg(lambda s: s.value_counts().index[0])
        cells["cell_name"] = cells.cell_id.map(names)
    else:
        cells["cell_name"] = cells.cell_id
    extra = ["tissue", "cosmic_id", "tissue_sub_type"]
    if tissues is None:
        cells["tissue"] = None
        return cells
    info = tissues.set_index("cell_id")
    for column in [c for c in extra if c in info.columns]:
        cells[column] = cells.cell_id.map(info[column])
    cells["tissue"] = cells["tissue"].astype(object).where(cells["tissue"].notna(), None)
    return cells


def gdsc_tables(
    processed: Path, dataset: str, omics: list[str], drug_structures: Path | None = None
) -> RawTables:
    """Read the processed built-in release (see :mod:`drp.data.gdsc`) as RawTables.

    Response drugs without a structure get one from ``drug_structures`` (a user table) or the
    shipped table (:func:`drp.data.drug_structures.recover_structures`); what was recovered is
    in ``sources["recovered_structures"]``.
    """
    if dataset not in DATASETS:
        raise TableError(f"unknown built-in dataset {dataset!r}; choose from {list(DATASETS)}")
    manifest = json.loads((processed / "manifest.json").read_text())
    if manifest.get("format", 1) != PROCESSED_FORMAT:
        raise TableError(
            f"{processed} holds an older processed format; rebuild it with "
            "drp.data.gdsc.ensure_gdsc (`drp featurize` does this)"
        )
    responses = pd.read_parquet(processed / f"responses_{dataset}.parquet")
    frames = {name: pd.read_parquet(processed / f"omics_{name}.parquet") for name in omics}
    drugs = pd.read_csv(processed / "drugs.csv")
    tissues = pd.read_csv(processed / "tissues.csv", dtype={"cell_name": str})
    tissues["cosmic_id"] = tissues["cosmic_id"].astype("Int64")
    drops = DropLog()
    responses, frames, tissues, collisions = resolve_cell_tables(
        responses, frames, tissues, drops, f"responses_{dataset}"
    )
    drugs, recovered = recover_structures(drugs, responses.drug_id.unique(), drug_structures)
    sources = {
        "built_in": dataset,
        "responses_name": f"responses_{dataset}",
        "archives": manifest["sources"],
        "processed_files": {k: v["sha256"] for k, v in manifest["files"].items()},
        "recovered_structures": recovered_records(recovered),
    }
    if drug_structures is not None:
        sources["drug_structures_file"] = {str(drug_structures): sha256_file(drug_structures)}
    return RawTables(dataset, responses, frames, drugs, tissues, sources, drops, collisions)


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
    drug_structures: Path | None = None,
) -> RawTables:
    """Read and validate user tables; problems raise TableError naming file and column.

    Response drugs the drug table lacks get a structure from ``drug_structures`` or the
    shipped table, as in :func:`gdsc_tables`.
    """
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
        tissues = tissues_from_frame(read_table(tissues_path), str(tissues_path))
    responses, omics, tissues, collisions = resolve_cell_tables(
        responses, omics, tissues, drops, str(responses_path)
    )
    drugs, recovered = recover_structures(drugs, responses.drug_id.unique(), drug_structures)
    files = [responses_path, drugs_path, *omics_paths.values()]
    files += [drug_structures] if drug_structures is not None else []
    sources = {
        "custom": True,
        "responses_name": str(responses_path),
        "files": {str(p): sha256_file(Path(p)) for p in files},
        "recovered_structures": recovered_records(recovered),
    }
    return RawTables(name, responses, omics, drugs, tissues, sources, drops, collisions)

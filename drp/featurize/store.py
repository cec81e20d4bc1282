"""Write and read a featurized dataset directory.

Layout::

    manifest.json        name, omics, counts, source checksums, drops summary, file checksums
    pairs.parquet        cell_id, drug_id, ln_ic50, n_replicates, ln_ic50_sd[, censored]
    replicates.parquet   the raw measurements behind each pair (for the noise ceiling)
    cells.parquet        cell_id, cell_name, tissue[, cosmic_id, tissue_sub_type]
                         (row order = omics row order)
    omics_<name>.parquet cells x features, float32 (NaN = missing, imputed at fit time)
    drugs.parquet        drug_id, smiles, smiles_standardised, n_atoms, n_bonds, removed_fragments,
                         structure_key, structure_cluster (stores written before these two
                         columns existed still load; code that needs them says to re-featurize)
    graphs.pt            concatenated graph tensors (loaded with weights_only=True)
    fingerprints.npy     [n_drugs, 2048] uint8 Morgan bits (row order = drugs.parquet)
    descriptors.npy      [n_drugs, k] float64 physicochemical descriptors (PHYSCHEM of
                         drp.featurize.molecules; stores written before it existed compute them
                         on load where RDKit is installed, NaN elsewhere)
    drops.csv            every dropped item with stage, source and reason

Writes are atomic per file and ordered: everything is written to a temporary folder inside the
store, the old manifest is removed, each file is moved in with ``os.replace``, and the manifest
comes last. :meth:`FeaturizedDataset.load` checks every file against the manifest's SHA-256, so a
store torn by a crash, or read while another process rewrites it, is refused with a clear error
instead of being half-read. Sub-folders (the fold cache) are left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch_geometric.data import Batch, Data

from drp.data.sources import sha256_file


@dataclass
class FeaturizedDataset:
    """Everything a model or baseline needs, aligned by integer index.

    ``cells`` / ``drugs`` fix the row order of ``omics[name]`` ([n_cells, n_features]) and of
    ``graphs`` / ``fingerprints`` ([n_drugs, 2048]) / ``descriptors`` ([n_drugs, k]).
    """

    name: str
    pairs: pd.DataFrame
    cells: pd.DataFrame
    drugs: pd.DataFrame
    omics: dict[str, pd.DataFrame]
    graphs: list[Data]
    fingerprints: np.ndarray
    replicates: pd.DataFrame = field(default_factory=pd.DataFrame)
    drops: pd.DataFrame = field(default_factory=pd.DataFrame)
    manifest: dict = field(default_factory=dict)
    descriptors: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.descriptors is None:
            self.descriptors = _descriptors_of(self.drugs)

    @cached_property
    def cell_index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.cells["cell_id"])}

    @cached_property
    def drug_index(self) -> dict[str, int]:
        return {d: i for i, d in enumerate(self.drugs["drug_id"])}

    def pair_indices(self, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Integer (cell, drug) indices of ``pairs``; unknown ids raise KeyError naming them."""
        missing_c = sorted(set(pairs["cell_id"]) - set(self.cell_index))
        missing_d = sorted(set(pairs["drug_id"]) - set(self.drug_index))
        if missing_c or missing_d:
            raise KeyError(f"unknown cell ids {missing_c[:10]} / drug ids {missing_d[:10]}")
        return (
            pairs["cell_id"].map(self.cell_index).to_numpy(np.int64),
            pairs["drug_id"].map(self.drug_index).to_numpy(np.int64),
        )

    def omics_matrix(self, names: list[str] | None = None) -> np.ndarray:
        """Concatenated omics, [n_cells, sum of widths], float32, in ``cells`` order."""
        names = names or list(self.omics)
        return np.concatenate([self.omics[n].to_numpy(np.float32) for n in names], axis=1)

    @property
    def tissues(self) -> pd.Series:
        """cell_id -> tissue (NaN where unknown)."""
        return self.cells.set_index("cell_id")["tissue"]

    def drug_batch(self, drug_idx: torch.Tensor | np.ndarray | None = None) -> Batch:
        """PyG batch of the given drugs (all drugs when None)."""
        idx = range(len(self.graphs)) if drug_idx is None else [int(i) for i in drug_idx]
        return Batch.from_data_list([self.graphs[i] for i in idx])

    # ---- persistence -------------------------------------------------------------------
    def save(self, root: Path) -> None:
        """Write the store to ``root`` (see the module docstring for the atomic order)."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        tmp = root / f".tmp-{uuid.uuid4().hex}"
        tmp.mkdir()
        try:
            self._write_files(tmp)
            manifest = dict(self.manifest, name=self.name, omics=list(self.omics))
            manifest["files"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str))
            (root / "manifest.json").unlink(missing_ok=True)  # readers now see no dataset
            for name in manifest["files"]:
                os.replace(tmp / name, root / name)
            os.replace(tmp / "manifest.json", root / "manifest.json")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        self.manifest = manifest

    def _write_files(self, folder: Path) -> None:
        self.pairs.to_parquet(folder / "pairs.parquet", index=False)
        self.replicates.to_parquet(folder / "replicates.parquet", index=False)
        self.cells.to_parquet(folder / "cells.parquet", index=False)
        for name, frame in self.omics.items():
            frame.to_parquet(folder / f"omics_{name}.parquet")
        self.drugs.to_parquet(folder / "drugs.parquet", index=False)
        torch.save(_pack_graphs(self.graphs), folder / "graphs.pt")
        np.save(folder / "fingerprints.npy", self.fingerprints)
        np.save(folder / "descriptors.npy", self.descriptors)
        self.drops.to_csv(folder / "drops.csv", index=False)

    @classmethod
    def load(cls, root: Path) -> FeaturizedDataset:
        root = Path(root)
        if not (root / "manifest.json").exists():
            raise FileNotFoundError(
                f"{root} is not a featurized dataset (no manifest.json); run `drp featurize` first"
            )
        manifest = json.loads((root / "manifest.json").read_text())
        _verify_files(root, manifest.get("files", {}))
        omics = {n: pd.read_parquet(root / f"omics_{n}.parquet") for n in manifest["omics"]}
        packed = torch.load(root / "graphs.pt", weights_only=True)
        ds = cls(
            name=manifest["name"],
            pairs=pd.read_parquet(root / "pairs.parquet"),
            cells=pd.read_parquet(root / "cells.parquet"),
            drugs=pd.read_parquet(root / "drugs.parquet"),
            omics=omics,
            graphs=_unpack_graphs(packed),
            fingerprints=np.load(root / "fingerprints.npy"),
            replicates=pd.read_parquet(root / "replicates.parquet"),
            drops=pd.read_csv(root / "drops.csv"),
            manifest=manifest,
            descriptors=(
                np.load(root / "descriptors.npy")
                if "descriptors.npy" in manifest["files"]
                else None
            ),
        )
        _check_shapes(root, ds)
        return ds


def _descriptors_of(drugs: pd.DataFrame) -> np.ndarray:
    """Descriptors [n_drugs, k] of a store written before they were stored: from the
    standardised SMILES where RDKit is installed, else NaN (the new-drug prior then weighs
    fingerprints alone)."""
    try:
        from drp.featurize.molecules import PHYSCHEM, smiles_descriptors
    except ImportError:
        return np.full((len(drugs), 0), np.nan)
    if "smiles_standardised" not in drugs:
        return np.full((len(drugs), len(PHYSCHEM)), np.nan)
    return smiles_descriptors(drugs["smiles_standardised"].tolist())


class StoreError(ValueError):
    """A featurized store whose files do not match its manifest (torn or modified)."""


def _check_shapes(root: Path, ds: FeaturizedDataset) -> None:
    """Refuse a store whose parts do not line up: one graph and one fingerprint row per drug,
    one omics row per cell, pairs naming only known cells and drugs."""
    problems = []
    if len(ds.graphs) != len(ds.drugs):
        problems.append(f"{len(ds.graphs)} graphs for {len(ds.drugs)} drugs")
    if ds.fingerprints.shape[0] != len(ds.drugs):
        problems.append(f"{ds.fingerprints.shape[0]} fingerprint rows for {len(ds.drugs)} drugs")
    if len(ds.descriptors) != len(ds.drugs):
        problems.append(f"{len(ds.descriptors)} descriptor rows for {len(ds.drugs)} drugs")
    for name, frame in ds.omics.items():
        if len(frame) != len(ds.cells):
            problems.append(f"omics {name} has {len(frame)} rows for {len(ds.cells)} cells")
    unknown_cells = ~ds.pairs["cell_id"].isin(ds.cells["cell_id"])
    unknown_drugs = ~ds.pairs["drug_id"].isin(ds.drugs["drug_id"])
    if unknown_cells.any() or unknown_drugs.any():
        problems.append(
            f"{int(unknown_cells.sum())} pairs with unknown cells, "
            f"{int(unknown_drugs.sum())} with unknown drugs"
        )
    if problems:
        raise StoreError(
            f"{root}: the store's parts do not match ({'; '.join(problems)}); run "
            "`drp featurize` for this dataset again"
        )


def _verify_files(root: Path, checksums: dict[str, str]) -> None:
    """Refuse a store whose files are missing or differ from the manifest's SHA-256."""
    bad = [
        name
        for name, digest in checksums.items()
        if not (root / name).is_file() or sha256_file(root / name) != digest
    ]
    if bad:
        raise StoreError(
            f"{root}: {', '.join(bad)} missing or not matching manifest.json (the store was "
            "torn by an interrupted write, or changed after featurizing); run `drp featurize` "
            "for this dataset again"
        )


def _pack_graphs(graphs: list[Data]) -> dict[str, torch.Tensor]:
    atoms = torch.tensor([0] + [g.num_nodes for g in graphs]).cumsum(0)
    edges = torch.tensor([0] + [g.edge_index.shape[1] for g in graphs]).cumsum(0)
    return {
        "x": torch.cat([g.x for g in graphs]),
        "edge_index": torch.cat([g.edge_index for g in graphs], dim=1),
        "edge_attr": torch.cat([g.edge_attr for g in graphs]),
        "atom_ptr": atoms,
        "edge_ptr": edges,
    }


def _unpack_graphs(packed: dict[str, torch.Tensor]) -> list[Data]:
    a, e = packed["atom_ptr"].tolist(), packed["edge_ptr"].tolist()
    return [
        Data(
            x=packed["x"][a[i] : a[i + 1]],
            edge_index=packed["edge_index"][:, e[i] : e[i + 1]],
            edge_attr=packed["edge_attr"][e[i] : e[i + 1]],
            num_nodes=a[i + 1] - a[i],
        )
        for i in range(len(a) - 1)
    ]

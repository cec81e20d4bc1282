"""Unique-entity batching: a batch of pairs encodes each distinct drug and cell line once.

GDSC2 has ~184k pairs but 228 drugs and ~920 cell lines; re-encoding a drug graph per pair (the
"naive" batching that per-pair graph loaders do) repeats the same work hundreds of times.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from drp.featurize.store import FeaturizedDataset
from drp.models.graphs import GraphBank
from drp.models.model import DRPModel, PairBatch


@dataclass
class OmicsScaler:
    """Per-feature standardisation fitted on training cells only, imputing missing values.

    Missing values (NaN) are ignored when fitting and replaced by the training mean when
    transforming (0 after scaling), so a cell with a few gaps borrows nothing from test cells.

    Shapes: mean, scale: [G].
    """

    mean: Tensor
    scale: Tensor

    @classmethod
    def fit(cls, omics: Tensor) -> OmicsScaler:
        """Fit on ``omics`` [n_train_cells, G] (NaN = missing); constant features keep scale 1.

        A feature that no training cell measured gets mean 0 and scale 1.
        """
        observed = ~torch.isnan(omics)
        counts = observed.sum(0).clamp(min=1)
        mean = torch.where(observed, omics, 0.0).sum(0) / counts
        var = torch.where(observed, (omics - mean) ** 2, 0.0).sum(0) / counts
        std = var.sqrt()
        return cls(mean, torch.where(std > 1e-8, std, torch.ones_like(std)))

    def transform(self, omics: Tensor) -> Tensor:
        """Scale ``omics`` [n_cells, G]; missing values become 0 (the training mean)."""
        return torch.nan_to_num((omics - self.mean) / self.scale, nan=0.0)


@dataclass
class EntityTensors:
    """Model-ready tensors for every drug and cell of a dataset, on one device.

    Shapes: omics [n_cells, G] (already scaled), fingerprints [n_drugs, bits], descriptors
    [n_drugs, k] (numpy, the drugs' physicochemical descriptors, for the new-drug prior).
    """

    omics: Tensor
    fingerprints: Tensor
    graphs: GraphBank
    device: torch.device
    descriptors: np.ndarray

    @classmethod
    def from_dataset(
        cls,
        ds: FeaturizedDataset,
        omics_names: list[str],
        scaler: OmicsScaler,
        device: torch.device | str = "cpu",
    ) -> EntityTensors:
        raw = torch.from_numpy(ds.omics_matrix(list(omics_names)))
        fingerprints = torch.from_numpy(ds.fingerprints.astype(np.float32)).to(device)
        return cls(
            scaler.transform(raw).to(device),
            fingerprints,
            GraphBank(ds.graphs, device, fingerprints),
            torch.device(device),
            ds.descriptors,
        )

    def with_drugs(
        self, graphs: list[Data], fingerprints: np.ndarray, descriptors: np.ndarray
    ) -> EntityTensors:
        """The same cells with another set of drugs (e.g. new SMILES)."""
        fps = torch.from_numpy(fingerprints.astype(np.float32)).to(self.device)
        return replace(
            self, graphs=GraphBank(graphs, self.device, fps), fingerprints=fps,
            descriptors=np.asarray(descriptors, np.float64),
        )  # fmt: skip

    def batch(self, cell_idx: Tensor, drug_idx: Tensor, drug_kind: str = "graph") -> PairBatch:
        """Pairs [B] of (cell, drug) dataset indices -> a PairBatch over unique entities."""
        cells, pair_cell = torch.unique(cell_idx, return_inverse=True)
        drugs, pair_drug = torch.unique(drug_idx, return_inverse=True)
        drug_input = (
            self.fingerprints[drugs] if drug_kind == "fingerprint" else self.graphs.select(drugs)
        )
        return PairBatch(drug_input, self.omics[cells], pair_drug, pair_cell)


@torch.no_grad()
def predict_indices(
    model: DRPModel,
    tensors: EntityTensors,
    cell_idx: np.ndarray,
    drug_idx: np.ndarray,
    batch_size: int = 65536,
) -> np.ndarray:
    """Predictions in the model's (normalised) units for pairs of dataset indices: [B] float32.

    Each distinct drug and cell of the request is encoded once; the head then scores the pairs
    ``batch_size`` at a time, so the cost grows as (drugs + cells) for the encoders plus pairs
    for the head. Before, every 8,192-pair batch re-encoded its drugs.

    Always float32, also on CUDA where training may run under bf16 autocast: a bf16 forward
    pass rounds differently for each batch composition (on an H200 the same pair moved by up to
    3e-3 ln IC50 between batchings), and a prediction must not depend on its neighbours.

    Raises:
        ValueError: the model and ``tensors`` are on different devices.
    """
    from drp.core.device import model_device, same_device

    device = model_device(model)
    if not same_device(device, tensors.device):
        raise ValueError(
            f"model is on {device} but the entity tensors are on {tensors.device}; "
            "build them with the model's device"
        )
    model.eval()
    if len(cell_idx) == 0:
        return np.zeros(0, np.float32)
    # torch.tensor copies: index arrays from parquet-backed frames can be read-only
    c = torch.tensor(np.asarray(cell_idx), dtype=torch.long, device=device)
    d = torch.tensor(np.asarray(drug_idx), dtype=torch.long, device=device)
    entities = tensors.batch(c, d, model.config.drug)
    encoded = model.encode(entities.drugs, entities.cells)
    out = [
        model.score(
            encoded,
            entities.pair_drug[start : start + batch_size],
            entities.pair_cell[start : start + batch_size],
        )
        .y.float()
        .cpu()
        for start in range(0, len(c), batch_size)
    ]
    return torch.cat(out).numpy()

"""The drug-response model: drug encoder + cell encoder + fusion head, on unique entities."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import Tensor, nn

from drp.config import ModelConfig
from drp.models.cell import CellEncoder, CellTokens
from drp.models.drug import FingerprintDrugEncoder, GraphDrugEncoder
from drp.models.fusion import ConcatFusion, CrossAttentionFusion
from drp.models.graphs import GraphSelection

ARCHITECTURE = 2
"""Checkpoint layout version: 2 = head with the drug x cell product term (:class:`PairHead`)."""

DRUG_ENCODERS = ("graph", "fingerprint")
"""``ModelConfig.drug``: molecular graph (message passing) or Morgan fingerprint MLP."""


@dataclass
class PairBatch:
    """A batch of (cell, drug) pairs over the batch's unique entities.

    Shapes:
        drugs: GraphSelection of B_d graphs, or fingerprints [B_d, bits]
        cells: scaled omics [B_c, G]
        pair_drug, pair_cell: [B] indices into the unique drugs / cells
    """

    drugs: GraphSelection | Tensor
    cells: Tensor
    pair_drug: Tensor
    pair_cell: Tensor


@dataclass
class ModelOutput:
    """y: [B] prediction (normalised units); atom_weight: [N] pooling weights or None;
    cross_weight: [B, T] weight of each cell token in the drug's cross-attention, or None."""

    y: Tensor
    atom_weight: Tensor | None = None
    cross_weight: Tensor | None = None


class DRPModel(nn.Module):
    """Predict ln IC50 for pairs, encoding each distinct drug and cell once per batch."""

    def __init__(
        self,
        config: ModelConfig,
        omics_widths: list[int],
        atom_dim: int,
        bond_dim: int,
        fp_bits: int,
    ) -> None:
        super().__init__()
        self.config = config
        self.hyper_parameters = {
            "architecture": ARCHITECTURE,
            "config": asdict(config),
            "omics_widths": list(omics_widths),
            "atom_dim": atom_dim,
            "bond_dim": bond_dim,
            "fp_bits": fp_bits,
        }
        h = config.hidden
        if config.drug == "graph":
            self.drug = GraphDrugEncoder(
                atom_dim,
                bond_dim,
                h,
                config.layers,
                config.heads,
                config.conv,
                config.pool,
                config.graph_dropout,
            )
        elif config.drug == "fingerprint":
            if config.fusion != "concat":
                raise ValueError("cross-attention fusion needs atoms: use drug = 'graph'")
            self.drug = FingerprintDrugEncoder(fp_bits, h, config.dropout)
        else:
            raise ValueError(f"unknown drug encoder {config.drug!r}; use graph or fingerprint")
        self.cell = CellEncoder(omics_widths, h, config.cell_block_hidden, config.dropout)
        if config.fusion == "concat":
            self.fusion = ConcatFusion(h, config.dropout)
        elif config.fusion == "cross_attention":
            self.tokens = CellTokens(sum(omics_widths), config.cell_tokens, h)
            self.fusion = CrossAttentionFusion(h, config.dropout)
        else:
            raise ValueError(f"unknown fusion {config.fusion!r}; use concat or cross_attention")

    def forward(self, batch: PairBatch) -> ModelOutput:
        z_cell = self.cell(batch.cells)  # [B_c, D], once per unique cell
        pairs = (batch.pair_drug, batch.pair_cell)
        if self.config.drug == "fingerprint":
            return ModelOutput(self.fusion(self.drug(batch.drugs), z_cell, *pairs))
        z_drug, atom_h, atom_weight = self.drug(batch.drugs)  # [B_d, D], once per unique drug
        if self.config.fusion == "concat":
            return ModelOutput(self.fusion(z_drug, z_cell, *pairs), atom_weight)
        tokens = self.tokens(batch.cells)  # once per unique cell
        y, cross = self.fusion(
            atom_h, batch.drugs.batch, atom_weight, *pairs, tokens, z_drug, z_cell
        )
        return ModelOutput(y, atom_weight, cross)


def check_architecture(hyper_parameters: dict, source: object) -> None:
    """Refuse a checkpoint whose layout this version cannot load.

    Raises:
        ValueError: ``source`` was written by an older drp (e.g. a head without the
            interaction term); it names the fix (train again).
    """
    found = hyper_parameters.get("architecture", 1)
    if found != ARCHITECTURE:
        raise ValueError(
            f"{source}: checkpoint of model architecture {found}, this drp builds "
            f"{ARCHITECTURE} (head with the drug x cell product term); train the run again"
        )

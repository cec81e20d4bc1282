"""The drug-response model: drug encoder + cell encoder + fusion head, on unique entities."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from torch import Tensor, nn

from drp.core.choices import DRUG_ENCODERS
from drp.core.config import ModelConfig
from drp.models.cell import CellEncoder, CellTokens, CellTokenSet
from drp.models.drug import FingerprintDrugEncoder, GraphDrugEncoder
from drp.models.fusion import ConcatFusion, CrossAttentionFusion
from drp.models.graphs import GraphSelection

ARCHITECTURE = 3
"""Checkpoint layout version: 2 = head with the drug x cell product term (:class:`PairHead`);
3 = GAT layers (:class:`BondGATConv`) and the head's linear main-effects path."""

"""``ModelConfig.drug``: molecular graph (message passing), Morgan fingerprint MLP, or hybrid
(the graph encoder's vector plus a fingerprint MLP's; the graph twins keep the fingerprint part)."""


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


@dataclass
class Encoded:
    """Drugs and cells encoded once, ready to score any pairs of them.

    Shapes: z_drug [B_d, D], z_cell [B_c, D]; for the attention readout atom_weight [N]; for
    cross-attention also atom_h [N, D], atom_batch [N] and the cells' tokens.
    """

    z_drug: Tensor
    z_cell: Tensor
    atom_h: Tensor | None = None
    atom_batch: Tensor | None = None
    atom_weight: Tensor | None = None
    tokens: CellTokenSet | None = None


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
        if config.drug in ("graph", "hybrid"):
            self.drug = GraphDrugEncoder(
                atom_dim,
                bond_dim,
                h,
                config.layers,
                config.heads,
                config.conv,
                config.pool,
                config.graph_dropout,
                fingerprint_bits=fp_bits if config.drug == "hybrid" else 0,
                fingerprint_dropout=config.dropout,
            )
        elif config.drug == "fingerprint":
            if config.fusion != "concat":
                raise ValueError("cross-attention fusion needs atoms: use drug = 'graph'")
            self.drug = FingerprintDrugEncoder(fp_bits, h, config.dropout)
        else:
            raise ValueError(f"unknown drug encoder {config.drug!r}; choose from {DRUG_ENCODERS}")
        self.cell = CellEncoder(omics_widths, h, config.cell_block_hidden, config.dropout)
        if config.fusion == "concat":
            self.fusion = ConcatFusion(h, config.dropout)
        elif config.fusion == "cross_attention":
            self.tokens = CellTokens(sum(omics_widths), config.cell_tokens, h)
            self.fusion = CrossAttentionFusion(h, config.dropout)
        else:
            raise ValueError(f"unknown fusion {config.fusion!r}; use concat or cross_attention")

    def encode(self, drugs: GraphSelection | Tensor, cells: Tensor) -> Encoded:
        """Encode each drug and each cell once: B_d graphs (or fingerprints) and [B_c, G] omics."""
        z_cell = self.cell(cells)
        if self.config.drug == "fingerprint":
            return Encoded(self.drug(drugs), z_cell)
        z_drug, atom_h, atom_weight = self.drug(drugs)
        if self.config.fusion == "concat":
            return Encoded(z_drug, z_cell, atom_weight=atom_weight)
        return Encoded(z_drug, z_cell, atom_h, drugs.batch, atom_weight, self.tokens(cells))

    def score(self, enc: Encoded, pair_drug: Tensor, pair_cell: Tensor) -> ModelOutput:
        """Predictions for pairs [B] indexing the encoded drugs and cells."""
        if enc.tokens is None:
            y = self.fusion(enc.z_drug, enc.z_cell, pair_drug, pair_cell)
            return ModelOutput(y, enc.atom_weight)
        y, cross = self.fusion(
            enc.atom_h,
            enc.atom_batch,
            enc.atom_weight,
            pair_drug,
            pair_cell,
            enc.tokens,
            enc.z_drug,
            enc.z_cell,
        )
        return ModelOutput(y, enc.atom_weight, cross)

    def forward(self, batch: PairBatch) -> ModelOutput:
        return self.score(self.encode(batch.drugs, batch.cells), batch.pair_drug, batch.pair_cell)


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
            f"{ARCHITECTURE} (GAT layers, head with product term and main effects); train the run again"
        )

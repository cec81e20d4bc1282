"""Fusion of drug and cell representations and the regression head."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.utils import to_dense_batch

FUSIONS = ("concat", "cross_attention")


def mlp_head(in_dim: int, hidden: int, dropout: float) -> nn.Module:
    """[B, in_dim] -> [B] ln IC50 (in normalised units)."""
    return nn.Sequential(
        nn.Linear(in_dim, 2 * hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(2 * hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 1),
    )


class ConcatFusion(nn.Module):
    """Concatenate drug and cell vectors. Shapes: [B, D], [B, D] -> [B]."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.head = mlp_head(2 * hidden, hidden, dropout)

    def forward(self, z_drug: Tensor, z_cell: Tensor) -> Tensor:
        return self.head(torch.cat([z_drug, z_cell], dim=1)).squeeze(-1)


class CrossAttentionFusion(nn.Module):
    """Cell tokens attend to the atoms of the paired drug; the attended summary joins the concat.

    Shapes:
        atom_h [N, D], atom_batch [N] (graph of each atom among B_d drugs), pair_drug [B],
        cell_tokens [B, T, D], z_drug [B, D], z_cell [B, D] -> y [B], weights [B, T, N_max]
    """

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(hidden, heads, dropout=dropout, batch_first=True)
        self.norm = nn.LayerNorm(hidden)
        self.head = mlp_head(3 * hidden, hidden, dropout)

    def forward(
        self,
        atom_h: Tensor,
        atom_batch: Tensor,
        pair_drug: Tensor,
        cell_tokens: Tensor,
        z_drug: Tensor,
        z_cell: Tensor,
    ) -> tuple[Tensor, Tensor]:
        dense, mask = to_dense_batch(atom_h, atom_batch)  # [B_d, N_max, D], [B_d, N_max]
        keys, key_mask = dense[pair_drug], mask[pair_drug]
        out, weights = self.attn(
            cell_tokens, keys, keys, key_padding_mask=~key_mask, need_weights=True
        )
        attended = self.norm(out.mean(dim=1))
        y = self.head(torch.cat([z_drug, z_cell, attended], dim=1)).squeeze(-1)
        return y, weights

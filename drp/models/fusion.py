"""Fusion of drug and cell representations and the regression head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from drp.models.cell import CellTokenSet
from drp.models.graphs import GraphBank


class PairHead(nn.Module):
    """Regression head over ``[z_drug, z_cell, z_drug * z_cell, *extra]`` -> [B] ln IC50
    (normalised units).

    The elementwise product hands the MLP the drug x cell interaction that a concatenation
    alone makes it learn from scratch: on GDSC2 mixed fold 0 the default model reached
    validation RMSE 1.05 in 11 epochs instead of 13 (benchmarks/RESULTS.md). A linear path from
    each representation straight to the output (``main_effects``) learns the additive drug and
    cell effects, which dominate ln IC50, in fewer steps than the MLP does (target reached at
    epoch 10 instead of 13, same seed). The first layer is applied factorised: its drug and cell blocks run once per unique entity and are gathered
    per pair, which is the same arithmetic as on the concatenation, with fewer operations.

    Shapes: z_drug [B_d, D], z_cell [B_c, D], pair_drug / pair_cell [B], extra [B, D_x]
    -> [B].
    """

    def __init__(self, hidden: int, dropout: float, extra_dim: int = 0) -> None:
        super().__init__()
        self.hidden = hidden
        self.first = nn.Linear(3 * hidden + extra_dim, 2 * hidden)
        self.rest = nn.Sequential(
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )
        self.main_effects = nn.Linear(2 * hidden, 1, bias=False)

    def forward(
        self,
        z_drug: Tensor,
        z_cell: Tensor,
        pair_drug: Tensor,
        pair_cell: Tensor,
        extra: Tensor | None = None,
    ) -> Tensor:
        h, w = self.hidden, self.first.weight
        x = F.linear(z_drug, w[:, :h])[pair_drug] + F.linear(z_cell, w[:, h : 2 * h])[pair_cell]
        pair = z_drug[pair_drug] * z_cell[pair_cell]
        if extra is not None:
            pair = torch.cat([pair, extra], dim=1)
        x = x + F.linear(pair, w[:, 2 * h :], self.first.bias)
        m = self.main_effects.weight
        main = F.linear(z_drug, m[:, :h])[pair_drug] + F.linear(z_cell, m[:, h:])[pair_cell]
        return (self.rest(x) + main).squeeze(-1)


class ConcatFusion(nn.Module):
    """Drug and cell vectors side by side (with their product) into the head.

    Shapes: z_drug [B_d, D], z_cell [B_c, D], pair_drug / pair_cell [B] -> [B].
    """

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.head = PairHead(hidden, dropout)

    def forward(
        self, z_drug: Tensor, z_cell: Tensor, pair_drug: Tensor, pair_cell: Tensor
    ) -> Tensor:
        return self.head(z_drug, z_cell, pair_drug, pair_cell)


class CrossAttentionFusion(nn.Module):
    """Drug atoms attend to the paired cell line's tokens (learned gene-module embeddings).

    For a pair (drug d, cell c), atom n of d attends over c's T tokens:
    ``alpha[n, :] = softmax_t(q_n . k_{c,t} / sqrt(key_dim))``. The atoms' attention is pooled
    with the drug's atom-pooling weights ``w_n`` (uniform when the readout has none) into token
    weights ``beta = sum_n w_n alpha[n, :]``, and the attended cell summary is ``beta @ V_c``.
    Work is linear in the (pair, atom) entries of the batch; keys and values are projected once
    per unique atom and cell, and nothing is padded.

    Shapes:
        atom_h [N, D], atom_batch [N], atom_weight [N] or None, pair_drug / pair_cell [B],
        tokens: CellTokenSet of the B_c unique cells, z_drug [B_d, D], z_cell [B_c, D]
        -> y [B], token_weight [B, T] (rows sum to 1)
    """

    def __init__(self, hidden: int, dropout: float, key_dim: int = 32) -> None:
        super().__init__()
        self.key_dim = key_dim
        self.query = nn.Linear(hidden, key_dim)
        self.key = nn.Linear(hidden, key_dim)
        self.value = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.head = PairHead(hidden, dropout, extra_dim=hidden)

    def forward(
        self,
        atom_h: Tensor,
        atom_batch: Tensor,
        atom_weight: Tensor | None,
        pair_drug: Tensor,
        pair_cell: Tensor,
        tokens: CellTokenSet,
        z_drug: Tensor,
        z_cell: Tensor,
    ) -> tuple[Tensor, Tensor]:
        num_graphs = int(atom_batch.max()) + 1
        counts = torch.bincount(atom_batch, minlength=num_graphs)
        starts = torch.cumsum(counts, 0) - counts
        per_pair = counts[pair_drug]
        atom_of = GraphBank.ranges(starts[pair_drug], per_pair)  # [E] atom of each entry
        pair_of = torch.repeat_interleave(
            torch.arange(len(pair_drug), device=atom_h.device), per_pair
        )  # [E]
        # keys are linear in the token activity: k(c, t) = key(emb_t) + act[c, t] * W_k scale_t,
        # so scores split into two per-atom [N, T] products and never need [E, T, key_dim]
        q = self.query(atom_h)  # [N, key_dim]
        base = q @ self.key(tokens.embedding).T  # [N, T]
        slope = q @ (tokens.scale @ self.key.weight.T).T  # [N, T]
        act = tokens.activity[pair_cell][pair_of]  # [E, T]
        scores = (base[atom_of] + act * slope[atom_of]) / self.key_dim**0.5
        alpha = torch.softmax(scores, dim=1)  # [E, T] over the cell's tokens
        w = atom_weight[atom_of] if atom_weight is not None else 1.0 / per_pair[pair_of]
        beta = torch.zeros(len(pair_drug), scores.shape[1], device=atom_h.device)
        # float32 sums also under bf16 autocast (index_add needs matching dtypes)
        beta = beta.index_add(0, pair_of, (alpha * w.unsqueeze(1)).float())  # [B, T]
        # values likewise: v(c, t) = value(emb_t) + act[c, t] * W_v scale_t
        act_pair = tokens.activity[pair_cell]  # [B, T]
        attended = beta @ self.value(tokens.embedding) + (beta * act_pair) @ (
            tokens.scale @ self.value.weight.T
        )  # [B, D]
        y = self.head(z_drug, z_cell, pair_drug, pair_cell, extra=self.norm(attended))
        return y, beta

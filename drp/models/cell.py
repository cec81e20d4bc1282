"""Cell-line encoder: one MLP block per omics type, concatenated and projected."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


class CellEncoder(nn.Module):
    """Encode scaled omics.

    Shapes:
        omics: [B_c, sum(widths)] (blocks concatenated in ``widths`` order) -> z [B_c, hidden]
    """

    def __init__(
        self, widths: list[int], hidden: int = 128, block_hidden: int = 256, dropout: float = 0.1
    ) -> None:
        super().__init__()
        self.widths = list(widths)
        self.blocks = nn.ModuleList(
            # no dropout on the raw omics: a mask over thousands of genes per step costs ~15%
            # of a training step and the hidden-layer dropout regularises enough
            nn.Sequential(
                nn.Linear(w, block_hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(block_hidden, hidden),
                nn.ReLU(),
            )
            for w in widths
        )
        self.project = nn.Linear(hidden * len(widths), hidden)

    def forward(self, omics: Tensor) -> Tensor:
        parts = torch.split(omics, self.widths, dim=1)
        return self.project(torch.cat([b(p) for b, p in zip(self.blocks, parts, strict=True)], 1))


@dataclass
class CellTokenSet:
    """Tokens ``embedding[t] + activity[c, t] * scale[t]`` kept factorised, so attention can be
    computed per unique atom and cell without materialising [pairs, atoms, T, D] tensors.

    Shapes: activity [B_c, T]; embedding, scale [T, D].
    """

    activity: Tensor
    embedding: Tensor
    scale: Tensor

    def dense(self) -> Tensor:
        """[B_c, T, D]."""
        return self.embedding + self.activity.unsqueeze(-1) * self.scale


class CellTokens(nn.Module):
    """Cell-side tokens for cross-attention: T learned gene modules.

    Module t has loadings over all features (a row of ``activity``) and an embedding; a cell's
    token t is ``embedding_t + activity_t(omics) * scale_t``.

    Shapes: omics [B_c, G] -> CellTokenSet (dense: [B_c, T, hidden])
    """

    def __init__(self, in_dim: int, tokens: int = 8, hidden: int = 128) -> None:
        super().__init__()
        self.activity = nn.Linear(in_dim, tokens)
        self.embedding = nn.Parameter(torch.randn(tokens, hidden) * 0.1)
        self.scale = nn.Parameter(torch.randn(tokens, hidden) * 0.1)

    def forward(self, omics: Tensor) -> CellTokenSet:
        return CellTokenSet(self.activity(omics), self.embedding, self.scale)

"""Cell-line encoder: one MLP block per omics type, concatenated and projected."""

from __future__ import annotations

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


class CellTokens(nn.Module):
    """Cell-side tokens for cross-attention: ``tokens`` learned gene-module embeddings.

    Shapes: omics [B_c, G] -> tokens [B_c, T, hidden]
    """

    def __init__(self, in_dim: int, tokens: int = 8, hidden: int = 128) -> None:
        super().__init__()
        self.tokens, self.hidden = tokens, hidden
        self.proj = nn.Linear(in_dim, tokens * hidden)
        self.token_embedding = nn.Parameter(torch.randn(tokens, hidden) * 0.02)

    def forward(self, omics: Tensor) -> Tensor:
        out = self.proj(omics).view(-1, self.tokens, self.hidden)
        return torch.relu(out) + self.token_embedding

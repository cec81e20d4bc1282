"""Drug encoders: one configurable GNN stack (gat_edge | gat | gcn | gin) with a pooling readout
(attention | mean | max | sum), and a fingerprint MLP twin.

``gat_edge`` is GATv2 attention whose scores see the bond features (``edge_dim``); ``gat`` is the
same layer blind to bonds; ``gin`` is GINE (bond-aware sum aggregation, no attention); ``gcn`` is
degree-normalised convolution. The attention readout is PyG's ``AttentionalAggregation``; its
per-atom softmax weights are returned for interpretation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import (
    GATv2Conv,
    GCNConv,
    GINEConv,
    global_add_pool,
    global_max_pool,
    global_mean_pool,
)
from torch_geometric.nn.aggr import AttentionalAggregation
from torch_geometric.utils import softmax

from drp.models.graphs import GraphSelection

CONVS = ("gat_edge", "gat", "gcn", "gin")
POOLS = ("attention", "mean", "max", "sum")


def _make_conv(kind: str, hidden: int, heads: int, bond_dim: int, dropout: float) -> nn.Module:
    if kind == "gat_edge":
        return GATv2Conv(
            hidden,
            hidden // heads,
            heads=heads,
            edge_dim=bond_dim,
            dropout=dropout,
            add_self_loops=True,
        )
    if kind == "gat":
        return GATv2Conv(hidden, hidden // heads, heads=heads, dropout=dropout)
    if kind == "gcn":
        return GCNConv(hidden, hidden)
    if kind == "gin":
        mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        return GINEConv(mlp, edge_dim=bond_dim, train_eps=True)
    raise ValueError(f"unknown conv {kind!r}; choose from {CONVS}")


class GraphDrugEncoder(nn.Module):
    """L message-passing layers with residuals and LayerNorm, then a readout.

    Shapes:
        input: GraphSelection with x [N, atom_dim], edge_attr [E, bond_dim], batch [N]
        output: z [num_graphs, hidden], atom_h [N, hidden], atom_weight [N] (None unless
        pool == "attention"; sums to 1 within each graph)
    """

    def __init__(
        self,
        atom_dim: int,
        bond_dim: int,
        hidden: int = 128,
        layers: int = 3,
        heads: int = 4,
        conv: str = "gat_edge",
        pool: str = "attention",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; choose from {POOLS}")
        self.conv_kind, self.pool_kind = conv, pool
        self.input = nn.Linear(atom_dim, hidden)
        self.convs = nn.ModuleList(
            _make_conv(conv, hidden, heads, bond_dim, dropout) for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        if pool == "attention":
            gate = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
            self.pool = AttentionalAggregation(gate_nn=gate, nn=nn.Linear(hidden, hidden))

    def forward(self, g: GraphSelection) -> tuple[Tensor, Tensor, Tensor | None]:
        h = self.input(g.x)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            if self.conv_kind in ("gat_edge", "gin"):
                m = conv(h, g.edge_index, g.edge_attr)
            else:
                m = conv(h, g.edge_index)
            h = norm(h + self.dropout(torch.relu(m)))
        weight = None
        if self.pool_kind == "attention":
            z = self.pool(h, g.batch, dim_size=g.num_graphs)
            weight = softmax(self.pool.gate_nn(h).squeeze(-1), g.batch, num_nodes=h.shape[0])
        elif self.pool_kind == "mean":
            z = global_mean_pool(h, g.batch, g.num_graphs)
        elif self.pool_kind == "max":
            z = global_max_pool(h, g.batch, g.num_graphs)
        else:
            z = global_add_pool(h, g.batch, g.num_graphs)
        return z, h, weight


class FingerprintDrugEncoder(nn.Module):
    """MLP over Morgan bits. Shapes: fp [B_d, bits] -> z [B_d, hidden]."""

    def __init__(self, bits: int, hidden: int = 128, dropout: float = 0.1) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(bits, 2 * hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(2 * hidden, hidden),
        )

    def forward(self, fp: Tensor) -> Tensor:
        return self.net(fp)

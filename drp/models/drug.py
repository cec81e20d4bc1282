"""Drug encoders: one configurable GNN stack (gat_edge | gat | gcn | gin) with a pooling readout
(attention | mean | max | sum), and a fingerprint MLP twin.

``gat_edge`` is graph attention (GAT) whose scores see the bond features; ``gat`` is the same
layer blind to bonds; ``gin`` is GINE (bond-aware sum aggregation, no attention); ``gcn`` is
degree-normalised convolution. The attention readout is PyG's ``AttentionalAggregation``; its
per-atom softmax weights are returned for interpretation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import (
    GATConv,
    GCNConv,
    GINEConv,
    global_add_pool,
    global_max_pool,
    global_mean_pool,
)
from torch_geometric.nn.aggr import AttentionalAggregation
from torch_geometric.utils import degree, softmax

from drp.core.choices import CONVS, POOLS
from drp.models.graphs import GraphSelection


class BondGATConv(GATConv):
    """PyG's ``GATConv`` (same parameters, same scores) with a cheaper bond term.

    GAT scores are ``a_src . W x_j + a_dst . W x_i + a_edge . W_e e_ij``. PyG computes the bond
    term by projecting every edge to [E, heads, channels] first; here ``W_e`` and ``a_edge`` are
    contracted to [bond_dim, heads] once, so the bond term costs one [E, bond_dim] @ [bond_dim,
    heads] product. Softmax runs in float32, and the coefficients are cast to the messages'
    dtype, so that under bf16 no [E, heads, channels] tensor mixes dtypes (mixed-dtype
    elementwise kernels are ~4x slower on the CPU). With the GATv2 layer this replaced, a
    training step's drug encoder took 1.4-1.5x longer (benchmarks/RESULTS.md).

    Shapes: x [N, hidden], edge_index [2, E], edge_attr [E, bond_dim] -> [N, hidden].
    """

    def edge_update(
        self,
        alpha_j: Tensor,
        alpha_i: Tensor | None,
        edge_attr: Tensor | None,
        index: Tensor,
        ptr: Tensor | None,
        dim_size: int | None,
    ) -> Tensor:
        score = alpha_j if alpha_i is None else alpha_j + alpha_i  # [E, heads]
        if edge_attr is not None and self.lin_edge is not None:
            weight = self.lin_edge.weight.view(self.heads, self.out_channels, -1)
            per_bond = (weight * self.att_edge.view(self.heads, self.out_channels, 1)).sum(1)
            score = score + edge_attr.to(per_bond.dtype) @ per_bond.t()
        score = F.leaky_relu(score.float(), self.negative_slope)
        alpha = softmax(score, index, ptr, dim_size)
        return F.dropout(alpha, p=self.dropout, training=self.training)

    def message(self, x_j: Tensor, alpha: Tensor) -> Tensor:
        return alpha.to(x_j.dtype).unsqueeze(-1) * x_j


def _make_conv(kind: str, hidden: int, heads: int, bond_dim: int, dropout: float) -> nn.Module:
    if kind in ("gat_edge", "gat"):
        return BondGATConv(
            hidden,
            hidden // heads,
            heads=heads,
            edge_dim=bond_dim if kind == "gat_edge" else None,
            dropout=dropout,
            add_self_loops=True,
            fill_value="mean",
        )
    if kind == "gcn":
        return GCNConv(hidden, hidden)
    if kind == "gin":
        mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        return GINEConv(mlp, edge_dim=bond_dim, train_eps=True)
    raise ValueError(f"unknown conv {kind!r}; choose from {CONVS}")


class GraphDrugEncoder(nn.Module):
    """L message-passing layers with residuals and LayerNorm, then a readout.

    With ``fingerprint_bits`` (the hybrid drug input) a fingerprint MLP's output is added to
    the pooled graph vector; the atom states and pooling weights remain the graph's.

    Shapes:
        input: GraphSelection with x [N, atom_dim], edge_attr [E, bond_dim], batch [N]
        (and fingerprint [num_graphs, bits] for the hybrid input)
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
        fingerprint_bits: int = 0,
        fingerprint_dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"unknown pool {pool!r}; choose from {POOLS}")
        self.conv_kind, self.pool_kind = conv, pool
        self.uniform_pool = False  # set by drp.study.interpretation.uniform_pooling (a control)
        self.input = nn.Linear(atom_dim, hidden)
        self.convs = nn.ModuleList(
            _make_conv(conv, hidden, heads, bond_dim, dropout) for _ in range(layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(layers))
        self.dropout = nn.Dropout(dropout)
        if pool == "attention":
            gate = nn.Sequential(nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
            self.pool = AttentionalAggregation(gate_nn=gate, nn=nn.Linear(hidden, hidden))
        self.fingerprint = (
            FingerprintDrugEncoder(fingerprint_bits, hidden, fingerprint_dropout)
            if fingerprint_bits
            else None
        )

    def forward(self, g: GraphSelection) -> tuple[Tensor, Tensor, Tensor | None]:
        h = self.input(g.x)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            if self.conv_kind in ("gat_edge", "gin"):
                m = conv(h, g.edge_index, g.edge_attr)
            else:
                m = conv(h, g.edge_index)
            h = norm(h + self.dropout(torch.relu(m)))
        weight = None
        if self.pool_kind == "attention" and self.uniform_pool:
            # the interpretation control: the learned weights replaced by 1/n atoms
            z = global_mean_pool(self.pool.nn(h), g.batch, g.num_graphs)
            weight = torch.ones_like(h[:, 0]) / degree(g.batch, g.num_graphs, h.dtype)[g.batch]
        elif self.pool_kind == "attention":
            z = self.pool(h, g.batch, dim_size=g.num_graphs)
            weight = softmax(self.pool.gate_nn(h).squeeze(-1), g.batch, num_nodes=h.shape[0])
        elif self.pool_kind == "mean":
            z = global_mean_pool(h, g.batch, g.num_graphs)
        elif self.pool_kind == "max":
            z = global_max_pool(h, g.batch, g.num_graphs)
        else:
            z = global_add_pool(h, g.batch, g.num_graphs)
        if self.fingerprint is not None:
            if g.fingerprint is None:
                raise ValueError(
                    "the hybrid drug encoder reads each graph's fingerprint too: build the "
                    "GraphBank with fingerprints=, or pass fingerprint= to drp.study.interpretation"
                )
            z = z + self.fingerprint(g.fingerprint)
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

"""A bank of drug graphs held as concatenated tensors, sliced per batch without Python loops."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data


@dataclass
class GraphSelection:
    """A disjoint union of selected graphs.

    Shapes:
        x: [N, F_atom]; edge_index: [2, E]; edge_attr: [E, F_bond]; batch: [N] graph of each atom;
        fingerprint: [num_graphs, bits] when the bank holds fingerprints (hybrid drug input).
    """

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor
    batch: Tensor
    num_graphs: int
    fingerprint: Tensor | None = None


class GraphBank:
    """All drug graphs of a dataset, concatenated; :meth:`select` gathers any subset.

    ``fingerprints`` ([num_graphs, bits], optional) travel with the graphs for the hybrid drug
    encoder, which reads both.
    """

    def __init__(
        self,
        graphs: list[Data],
        device: torch.device | str = "cpu",
        fingerprints: Tensor | None = None,
    ) -> None:
        if fingerprints is not None and len(fingerprints) != len(graphs):
            raise ValueError(f"{len(fingerprints)} fingerprints for {len(graphs)} graphs")
        self.fingerprint = None if fingerprints is None else fingerprints.float().to(device)
        atoms = torch.tensor([g.num_nodes for g in graphs], dtype=torch.long)
        edges = torch.tensor([g.edge_index.shape[1] for g in graphs], dtype=torch.long)
        self.atom_count = atoms.to(device)
        self.edge_count = edges.to(device)
        self.atom_ptr = torch.cat([atoms.new_zeros(1), atoms.cumsum(0)[:-1]]).to(device)
        self.edge_ptr = torch.cat([edges.new_zeros(1), edges.cumsum(0)[:-1]]).to(device)
        self.x = torch.cat([g.x for g in graphs]).to(device)
        self.edge_index = torch.cat([g.edge_index for g in graphs], dim=1).to(device)
        self.edge_attr = torch.cat([g.edge_attr for g in graphs]).to(device)
        self.num_graphs = len(graphs)

    def to(self, device: torch.device | str) -> GraphBank:
        for name in (
            "atom_count",
            "edge_count",
            "atom_ptr",
            "edge_ptr",
            "x",
            "edge_index",
            "edge_attr",
        ):
            setattr(self, name, getattr(self, name).to(device))
        if self.fingerprint is not None:
            self.fingerprint = self.fingerprint.to(device)
        return self

    @staticmethod
    def ranges(starts: Tensor, counts: Tensor) -> Tensor:
        """Concatenate ``arange(s, s + c)`` for each (s, c): [counts.sum()]."""
        total = int(counts.sum())
        offsets = torch.cumsum(counts, 0) - counts
        return torch.arange(total, device=counts.device) + torch.repeat_interleave(
            starts - offsets, counts, output_size=total
        )

    def select(self, idx: Tensor) -> GraphSelection:
        """Graphs ``idx`` ([G] long) as one disjoint union, in the order given."""
        n_atoms, n_edges = self.atom_count[idx], self.edge_count[idx]
        node_ids = self.ranges(self.atom_ptr[idx], n_atoms)
        edge_ids = self.ranges(self.edge_ptr[idx], n_edges)
        graph_of_edge = torch.repeat_interleave(torch.arange(len(idx), device=idx.device), n_edges)
        new_ptr = torch.cumsum(n_atoms, 0) - n_atoms
        # stored edge indices are local to each graph; offset them into the union
        edge_index = self.edge_index[:, edge_ids] + new_ptr[graph_of_edge]
        batch = torch.repeat_interleave(torch.arange(len(idx), device=idx.device), n_atoms)
        fingerprint = None if self.fingerprint is None else self.fingerprint[idx]
        return GraphSelection(
            self.x[node_ids], edge_index, self.edge_attr[edge_ids], batch, len(idx), fingerprint
        )

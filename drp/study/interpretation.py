"""Is attention an explanation? Atom attention, deletion faithfulness and gradient saliency.

Faithfulness, for one drug and a fraction of its atoms: delete (atoms and their bonds, the graph
rebuilt) the top-k atoms by attention-pooling weight and, as the control, k random atoms matched
by element; compare the mean absolute change of the predictions across cell lines. A second
control replaces the learned pooling weights by 1/n: if that moves predictions little, the model
does not rely on where its attention points. Attention whose top atoms move predictions no more
than matched random atoms is decorative.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from scipy.stats import spearmanr
from torch_geometric.data import Data
from torch_geometric.utils import subgraph

from drp.core.device import model_device
from drp.featurize.molecules import ELEMENTS
from drp.models.graphs import GraphBank
from drp.models.model import DRPModel, PairBatch
from drp.training.batching import EntityTensors

# Every tensor below is made on the model's device (graphs and cells may come from the CPU);
# interpretation runs in float32 even on CUDA (no autocast): weights and deltas are the result.
# ``fingerprint`` ([bits], the drug's Morgan bits) is needed by hybrid models only; edited
# copies of a graph keep the intact molecule's fingerprint, so for a hybrid model deletion
# measures what the graph part reads.


def _bank(graphs: list[Data], device: torch.device, fingerprint: torch.Tensor | None) -> GraphBank:
    fps = None if fingerprint is None else fingerprint.reshape(1, -1).expand(len(graphs), -1)
    return GraphBank(graphs, device, fps)


def _predict_graphs(
    model: DRPModel,
    graphs: list[Data],
    omics: torch.Tensor,
    fingerprint: torch.Tensor | None = None,
) -> torch.Tensor:
    """Predictions for every (graph, cell): [n_graphs, n_cells] (normalised units)."""
    device = model_device(model)
    omics = omics.to(device)
    bank = _bank(graphs, device, fingerprint)
    n_g, n_c = len(graphs), omics.shape[0]
    pair_drug = torch.arange(n_g, device=device).repeat_interleave(n_c)
    pair_cell = torch.arange(n_c, device=device).repeat(n_g)
    sel = bank.select(torch.arange(n_g, device=device))
    return model(PairBatch(sel, omics, pair_drug, pair_cell)).y.float().view(n_g, n_c)


@torch.no_grad()
def atom_attention(
    model: DRPModel, graph: Data, fingerprint: torch.Tensor | None = None
) -> np.ndarray:
    """Attention-pooling weight of each atom: [num_atoms] float32, sums to 1."""
    model.eval()
    device = model_device(model)
    sel = _bank([graph], device, fingerprint).select(
        torch.zeros(1, dtype=torch.long, device=device)
    )
    _, _, weight = model.drug(sel)
    if weight is None:
        raise ValueError("this model has no attention pooling")
    return weight.float().cpu().numpy()


def delete_atoms(graph: Data, atoms: np.ndarray) -> Data:
    """A copy of ``graph`` without ``atoms`` and their bonds, nodes renumbered (PyG
    ``subgraph``); the remaining atoms keep their features."""
    keep = torch.ones(graph.num_nodes, dtype=torch.bool, device=graph.x.device)
    keep[torch.as_tensor(atoms, dtype=torch.long, device=keep.device)] = False
    edge_index, edge_attr = subgraph(
        keep, graph.edge_index, graph.edge_attr, relabel_nodes=True, num_nodes=graph.num_nodes
    )
    return Data(
        x=graph.x[keep], edge_index=edge_index, edge_attr=edge_attr, num_nodes=int(keep.sum())
    )


def atom_elements(graph: Data) -> np.ndarray:
    """[num_atoms] element code of each atom (its one-hot slot in the atom features)."""
    return graph.x[:, : len(ELEMENTS) + 1].argmax(1).cpu().numpy()


def matched_random_atoms(
    elements: np.ndarray, top: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """``len(top)`` atoms outside ``top``, each drawn among the atoms of the same element as
    one top atom when any is left, else among the rest. Returns (atoms, number matched)."""
    free = np.setdiff1d(np.arange(elements.size), top)
    rng.shuffle(free)
    chosen: list[int] = []
    matched = 0
    for atom in top:
        same = [a for a in free if elements[a] == elements[atom] and a not in chosen]
        if same:
            chosen.append(int(same[0]))
            matched += 1
    rest = [int(a) for a in free if a not in chosen]
    chosen += rest[: len(top) - len(chosen)]
    return np.asarray(chosen, dtype=np.int64), matched


@contextmanager
def uniform_pooling(model: DRPModel) -> Iterator[None]:
    """Within the block, attention pooling uses weights 1/n instead of the learned ones."""
    encoder = model.drug
    if getattr(encoder, "pool_kind", None) != "attention":
        raise ValueError("this model has no attention pooling")
    encoder.uniform_pool = True
    try:
        yield
    finally:
        encoder.uniform_pool = False


def saliency(
    model: DRPModel, graph: Data, omics: torch.Tensor, fingerprint: torch.Tensor | None = None
) -> np.ndarray:
    """Gradient x input of the mean prediction over ``omics`` cells, per atom: [num_atoms]."""
    model.eval()
    device = model_device(model)
    omics = omics.to(device)
    # the leaf lives on the model's device, so its gradient is computed there
    x = graph.x.detach().to(device, copy=True).requires_grad_(True)
    leaf = Data(
        x=x, edge_index=graph.edge_index, edge_attr=graph.edge_attr, num_nodes=graph.num_nodes
    )
    bank = _bank([leaf], device, fingerprint)
    n_c = omics.shape[0]
    sel = bank.select(torch.zeros(1, dtype=torch.long, device=device))
    pair_drug = torch.zeros(n_c, dtype=torch.long, device=device)
    pair_cell = torch.arange(n_c, device=device)
    out = model(PairBatch(sel, omics, pair_drug, pair_cell)).y.float().mean()
    (grad,) = torch.autograd.grad(out, x)
    return (grad * x).sum(1).abs().detach().float().cpu().numpy()


FRACTIONS = (0.1, 0.2, 0.3)


@torch.no_grad()
def faithfulness(
    model: DRPModel,
    graph: Data,
    tensors: EntityTensors,
    cell_idx: np.ndarray,
    target_std: float,
    fractions: tuple[float, ...] = FRACTIONS,
    n_random: int = 5,
    seed: int = 0,
    fingerprint: torch.Tensor | None = None,
) -> list[dict[str, float]]:
    """Deletion faithfulness of attention pooling for one drug over cells ``cell_idx``.

    Returns one row per fraction: ``fraction``, ``k`` (atoms deleted, at least 1 and at most
    n - 1), ``n_atoms``, ``top_k_delta`` and ``random_k_delta`` (mean |change| of ln IC50 over
    the cells; random averaged over ``n_random`` element-matched draws), ``matched`` (share of
    random atoms matched by element), and, the same in every row, ``uniform_delta`` (change when
    the pooling weights are replaced by 1/n) and ``saliency_spearman`` (attention vs gradient x
    input). A hybrid model's fingerprint stays the intact molecule's: deletion probes the graph.
    """
    model.eval()
    n_atoms = graph.num_nodes
    weight = atom_attention(model, graph, fingerprint)
    elements = atom_elements(graph)
    rng = np.random.default_rng(seed)
    cells = torch.tensor(np.asarray(cell_idx), dtype=torch.long, device=tensors.omics.device)
    omics = tensors.omics[cells].to(model_device(model))
    base = _predict_graphs(model, [graph], omics, fingerprint) * target_std
    with uniform_pooling(model):
        uniform = _predict_graphs(model, [graph], omics, fingerprint) * target_std
    uniform_delta = float((uniform - base).abs().mean())
    with torch.enable_grad():
        sal = saliency(model, graph, omics, fingerprint)
    rho = spearmanr(weight, sal).statistic if n_atoms > 2 and np.ptp(sal) > 0 else float("nan")
    rows = []
    for fraction in fractions:
        k = min(max(1, math.ceil(fraction * n_atoms)), max(1, n_atoms - 1))
        top = np.argsort(-weight, kind="stable")[:k]
        draws = [matched_random_atoms(elements, top, rng) for _ in range(n_random)]
        graphs = [delete_atoms(graph, top), *[delete_atoms(graph, atoms) for atoms, _ in draws]]
        pred = _predict_graphs(model, graphs, omics, fingerprint) * target_std
        delta = (pred - base).abs().mean(1).cpu().numpy()
        rows.append(
            {
                "fraction": fraction,
                "k": k,
                "n_atoms": n_atoms,
                "top_k_delta": float(delta[0]),
                "random_k_delta": float(delta[1:].mean()),
                "matched": float(np.mean([m for _, m in draws]) / k),
                "uniform_delta": uniform_delta,
                "saliency_spearman": float(rho),
            }
        )
    return rows

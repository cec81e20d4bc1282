"""Is attention an explanation? Atom attention, occlusion faithfulness and gradient saliency.

Faithfulness: for one drug, occlude (zero the input features of) its top-k atoms by attention-pooling
weight and, separately, k random atoms; compare the mean absolute change of the predictions
across cell lines. Attention that moves predictions no more than random occlusion is decorative.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.stats import spearmanr
from torch_geometric.data import Data

from drp.batching import EntityTensors
from drp.device import model_device
from drp.models.graphs import GraphBank
from drp.models.model import DRPModel, PairBatch

# Every tensor below is made on the model's device (graphs and cells may come from the CPU);
# interpretation runs in float32 even on CUDA (no autocast): weights and deltas are the result.
# ``fingerprint`` ([bits], the drug's Morgan bits) is needed by hybrid models only; occluded
# copies of a graph keep the intact molecule's fingerprint, so for a hybrid model occlusion
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


def occlude(graph: Data, atoms: np.ndarray) -> Data:
    """A copy of ``graph`` with the input features of ``atoms`` set to zero."""
    x = graph.x.clone()
    x[torch.as_tensor(atoms, dtype=torch.long, device=x.device)] = 0.0
    return Data(
        x=x, edge_index=graph.edge_index, edge_attr=graph.edge_attr, num_nodes=graph.num_nodes
    )


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


@torch.no_grad()
def faithfulness(
    model: DRPModel,
    graph: Data,
    tensors: EntityTensors,
    cell_idx: np.ndarray,
    target_std: float,
    fraction: float = 0.2,
    n_random: int = 5,
    seed: int = 0,
    fingerprint: torch.Tensor | None = None,
) -> dict[str, float]:
    """Occlusion faithfulness of attention pooling for one drug over cells ``cell_idx``.

    Returns k, top_k_delta and random_k_delta (mean |change| of ln IC50 over cells; random is
    averaged over ``n_random`` draws) and the Spearman correlation of attention with saliency.
    """
    model.eval()
    n_atoms = graph.num_nodes
    k = max(1, math.ceil(fraction * n_atoms))
    weight = atom_attention(model, graph, fingerprint)
    top = np.argsort(-weight)[:k]
    rng = np.random.default_rng(seed)
    randoms = [rng.choice(n_atoms, size=k, replace=False) for _ in range(n_random)]
    graphs = [graph, occlude(graph, top), *[occlude(graph, r) for r in randoms]]
    cells = torch.tensor(np.asarray(cell_idx), dtype=torch.long, device=tensors.omics.device)
    omics = tensors.omics[cells].to(model_device(model))
    pred = _predict_graphs(model, graphs, omics, fingerprint) * target_std
    delta = (pred[1:] - pred[0]).abs().mean(1).cpu().numpy()
    with torch.enable_grad():
        sal = saliency(model, graph, omics, fingerprint)
    rho = spearmanr(weight, sal).statistic if n_atoms > 2 and np.ptp(sal) > 0 else float("nan")
    return {
        "k": k,
        "n_atoms": n_atoms,
        "top_k_delta": float(delta[0]),
        "random_k_delta": float(delta[1:].mean()),
        "saliency_spearman": float(rho),
    }

"""Deletion faithfulness: graphs rebuilt without atoms, element-matched controls, uniform pooling."""

import numpy as np
import pytest
import torch

from drp.featurize.molecules import ELEMENTS, smiles_to_graph
from drp.models.graphs import GraphBank
from drp.study.interpretation import (
    atom_attention,
    atom_elements,
    delete_atoms,
    faithfulness,
    matched_random_atoms,
    uniform_pooling,
)
from drp.training.batching import EntityTensors, OmicsScaler
from tests.models.test_models import FPS, GRAPHS, SMILES, _model

ASPIRIN = smiles_to_graph(SMILES["aspirin"])  # CC(=O)Oc1ccccc1C(=O)O: 9 C, 4 O


def test_delete_atoms_removes_their_bonds_and_renumbers():
    g = ASPIRIN
    gone = np.array([0, 1])  # the methyl C and the carbonyl C of the ester
    out = delete_atoms(g, gone)
    assert out.num_nodes == g.num_nodes - 2 and torch.equal(out.x, g.x[2:])
    # bonds touching atom 0 or 1 are gone; the others survive, renumbered by -2
    keep = ~((g.edge_index == 0) | (g.edge_index == 1)).any(0)
    assert torch.equal(out.edge_index, g.edge_index[:, keep] - 2)
    assert torch.equal(out.edge_attr, g.edge_attr[keep])


def test_matched_random_atoms_match_elements_and_avoid_top():
    elements = atom_elements(ASPIRIN)
    symbols = [ELEMENTS[e] if e < len(ELEMENTS) else "other" for e in elements]
    assert symbols.count("C") == 9 and symbols.count("O") == 4
    top = np.array([2, 3])  # the two oxygens of the ester
    rng = np.random.default_rng(0)
    for _ in range(20):
        atoms, matched = matched_random_atoms(elements, top, rng)
        assert matched == 2 and not set(atoms) & set(top)
        assert sorted(elements[atoms]) == sorted(elements[top])
    # more top atoms of one element than are left elsewhere: the rest is drawn unmatched
    oxygens = np.flatnonzero(elements == elements[2])
    atoms, matched = matched_random_atoms(elements, oxygens[:3], rng)
    assert matched == 1 and len(atoms) == 3 and not set(atoms) & set(oxygens[:3])


def test_uniform_pooling_uses_equal_weights_and_restores():
    model = _model("gat_edge").eval()
    sel = GraphBank(GRAPHS, fingerprints=FPS).select(torch.tensor([0, 2]))
    with torch.no_grad():
        _, h, learned = model.drug(sel)
        with uniform_pooling(model):
            z_uniform, _, weight = model.drug(sel)
        n0 = GRAPHS[0].num_nodes
        assert torch.allclose(weight[:n0], torch.full((n0,), 1.0 / n0))
        expected = model.drug.pool.nn(h[:n0]).mean(0) + model.drug.fingerprint(sel.fingerprint)[0]
        assert torch.allclose(z_uniform[0], expected, atol=1e-5)
        assert torch.equal(model.drug(sel)[2], learned)  # restored after the block


def test_faithfulness_rows_per_fraction(tiny_dataset):
    model = _model("gat_edge", widths=(tiny_dataset.omics_matrix().shape[1],)).eval()
    scaler = OmicsScaler.fit(torch.from_numpy(tiny_dataset.omics_matrix()))
    tensors = EntityTensors.from_dataset(tiny_dataset, ["expression"], scaler)
    d = int(np.argmax([g.num_nodes for g in tiny_dataset.graphs]))
    graph = tiny_dataset.graphs[d]
    rows = faithfulness(
        model, graph, tensors, np.arange(4), 2.0, fingerprint=tensors.fingerprints[d]
    )
    assert [r["fraction"] for r in rows] == [0.1, 0.2, 0.3]
    n = graph.num_nodes
    assert [r["k"] for r in rows] == [int(np.ceil(f * n)) for f in (0.1, 0.2, 0.3)]
    # element matching is greedy but its count is not random: per element, the top atoms that
    # find a free atom of their element, min(top of element, free of element)
    weight = atom_attention(model, graph, tensors.fingerprints[d])
    elements = atom_elements(graph)
    for r in rows:
        assert r["top_k_delta"] > 0 and r["random_k_delta"] > 0
        top = np.argsort(-weight, kind="stable")[: r["k"]]
        free = np.delete(elements, top)
        expected = sum(min((elements[top] == e).sum(), (free == e).sum()) for e in set(elements))
        assert r["matched"] == pytest.approx(expected / r["k"])
    assert len({r["uniform_delta"] for r in rows}) == 1 and rows[0]["uniform_delta"] > 0
    # the deltas are in ln IC50 units: scaling the target's sd scales them
    again = faithfulness(
        model, graph, tensors, np.arange(4), 4.0, fingerprint=tensors.fingerprints[d]
    )
    assert np.isclose(again[0]["top_k_delta"], 2 * rows[0]["top_k_delta"], rtol=1e-4)

from dataclasses import replace

import numpy as np
import pytest
import torch
from torch_geometric.nn import GATConv
from torch_geometric.utils import scatter

from drp.core.config import ModelConfig
from drp.featurize.molecules import ATOM_DIM, BOND_DIM, smiles_to_graph
from drp.models.drug import BondGATConv
from drp.models.fusion import PairHead
from drp.models.graphs import GraphBank
from drp.models.model import PairBatch
from drp.models.registry import VARIANTS, build_model, variant_config
from drp.study.interpretation import atom_attention, saliency
from drp.training.batching import EntityTensors, OmicsScaler
from drp.training.checkpoint import load_model
from tests.conftest import SMILES

GRAPHS = [smiles_to_graph(SMILES[n]) for n in ("aspirin", "cisplatin", "erlotinib", "imatinib")]
FPS = torch.rand(4, 2048, generator=torch.Generator().manual_seed(2)).round()


def _bank() -> GraphBank:
    """The four drugs with their fingerprints (the default, hybrid, encoder reads both)."""
    return GraphBank(GRAPHS, fingerprints=FPS)


def _model(variant: str, widths=(20,), **overrides):
    torch.manual_seed(0)
    config = replace(variant_config(variant), hidden=32, heads=4, dropout=0.0, **overrides)
    return build_model(config, list(widths), ATOM_DIM, BOND_DIM, 2048).eval()


def _batch(bank: GraphBank, n_pairs: int = 6) -> PairBatch:
    g = torch.Generator().manual_seed(1)
    cells = torch.randn(3, 20, generator=g)
    pair_drug = torch.tensor([0, 1, 2, 3, 0, 2])[:n_pairs]
    pair_cell = torch.tensor([0, 0, 1, 2, 2, 1])[:n_pairs]
    return bank, cells, pair_drug, pair_cell, FPS


def test_graph_bank_select_matches_pyg_batch():
    bank = _bank()
    sel = bank.select(torch.tensor([2, 0]))
    assert sel.num_graphs == 2
    assert sel.x.shape[0] == GRAPHS[2].num_nodes + GRAPHS[0].num_nodes
    assert torch.equal(sel.edge_index[:, : GRAPHS[2].edge_index.shape[1]], GRAPHS[2].edge_index)
    tail = sel.edge_index[:, GRAPHS[2].edge_index.shape[1] :]
    assert torch.equal(tail, GRAPHS[0].edge_index + GRAPHS[2].num_nodes)
    assert torch.equal(sel.edge_attr[-GRAPHS[0].edge_attr.shape[0] :], GRAPHS[0].edge_attr)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_variant_has_shapes_and_gradients(variant):
    model = _model(variant).train()
    bank, cells, pd_, pc, fps = _batch(_bank())
    drugs = fps if model.config.drug == "fingerprint" else bank.select(torch.arange(4))
    out = model(PairBatch(drugs, cells, pd_, pc))
    assert out.y.shape == (6,)
    out.y.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) or variant == "pool_max"
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_attention_pooling_weights_sum_to_one_per_graph():
    model = _model("gat_edge")
    sel = _bank().select(torch.arange(4))
    _, _, weight = model.drug(sel)
    assert weight.shape == (sel.x.shape[0],)
    sums = scatter(weight, sel.batch, reduce="sum")
    assert torch.allclose(sums, torch.ones(4), atol=1e-5)
    assert (weight > 0).all()


def test_bond_features_change_gat_edge_but_not_gat():
    bank = _bank()
    sel = bank.select(torch.arange(4))
    perturbed = replace(sel, edge_attr=torch.rand_like(sel.edge_attr))
    for variant, should_change in (("gat_edge", True), ("gat", False), ("gin", True)):
        model = _model(variant)
        with torch.no_grad():
            a, b = model.drug(sel)[0], model.drug(perturbed)[0]
        assert (not torch.allclose(a, b, atol=1e-6)) == should_change, variant


@pytest.mark.parametrize("edge_dim", [BOND_DIM, None])
def test_bond_gat_conv_equals_pyg_gat_conv(edge_dim):
    """The contracted bond term and dtype casts change the cost, not the layer's output."""
    sel = _bank().select(torch.arange(4))
    torch.manual_seed(0)
    kwargs = dict(heads=4, edge_dim=edge_dim, add_self_loops=True, fill_value="mean")
    fast, reference = BondGATConv(32, 8, **kwargs), GATConv(32, 8, **kwargs)
    reference.load_state_dict(fast.state_dict())
    x = torch.randn(sel.x.shape[0], 32)
    edge_attr = sel.edge_attr if edge_dim else None
    with torch.no_grad():
        got = fast(x, sel.edge_index, edge_attr)
        want = reference(x, sel.edge_index, edge_attr)
        assert torch.allclose(got, want, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            half = fast(x, sel.edge_index, edge_attr)
    assert (half.float() - want).abs().max() < 0.1 * want.abs().max()


def test_hybrid_drug_vector_reads_graph_and_fingerprint():
    _, _, _, _, fps = _batch(_bank())
    sel = GraphBank(GRAPHS, fingerprints=fps).select(torch.tensor([2, 0]))
    model = _model("gat_edge")
    with torch.no_grad():
        z, _, weight = model.drug(sel)
        other_bits = replace(sel, fingerprint=1.0 - sel.fingerprint)
        other_bonds = replace(sel, edge_attr=torch.rand_like(sel.edge_attr))
        assert not torch.allclose(z, model.drug(other_bits)[0], atol=1e-6)
        assert not torch.allclose(z, model.drug(other_bonds)[0], atol=1e-6)
        # the pooling weights stay the graph's: the fingerprint does not move them
        assert torch.equal(weight, model.drug(other_bits)[2])
    with pytest.raises(ValueError, match="fingerprints="):
        model.drug(GraphBank(GRAPHS).select(torch.tensor([0])))  # no fingerprints
    # interpretation hands the drug's fingerprint to the graph it occludes or differentiates
    weight = atom_attention(model, GRAPHS[2], fps[2])
    assert np.allclose(
        weight, model.drug(sel)[2][: GRAPHS[2].num_nodes].detach().numpy(), atol=1e-6
    )
    assert saliency(model, GRAPHS[2], torch.randn(3, 20), fps[2]).shape == weight.shape


def test_unique_entity_batching_equals_per_pair_encoding(tiny_dataset):
    scaler = OmicsScaler.fit(torch.from_numpy(tiny_dataset.omics_matrix()))
    tensors = EntityTensors.from_dataset(tiny_dataset, ["expression"], scaler)
    for variant in ("gat_edge", "cross_attention", "fingerprint"):
        model = _model(variant)
        cells = torch.tensor([0, 3, 3, 5, 0, 7])
        drugs = torch.tensor([1, 1, 4, 0, 6, 1])
        with torch.no_grad():
            together = model(tensors.batch(cells, drugs, model.config.drug)).y
            single = torch.cat(
                [
                    model(tensors.batch(cells[i : i + 1], drugs[i : i + 1], model.config.drug)).y
                    for i in range(6)
                ]
            )
        assert torch.allclose(together, single, atol=1e-5), variant


def test_cross_attention_token_weights_are_distributions():
    model = _model("cross_attention")
    bank, cells, pd_, pc, _ = _batch(_bank())
    sel = bank.select(torch.arange(4))
    out = model(PairBatch(sel, cells, pd_, pc))
    tokens = ModelConfig().cell_tokens
    assert out.cross_weight.shape == (6, tokens)
    assert torch.allclose(out.cross_weight.sum(1), torch.ones(6), atol=1e-5)
    assert (out.cross_weight > 0).all()


def test_unknown_options_are_clear_errors():
    with pytest.raises(ValueError, match="unknown conv"):
        _model("gat_edge", conv="transformer")
    with pytest.raises(ValueError, match="unknown variant"):
        variant_config("resnet")


def test_factorised_cross_attention_equals_dense_reference():
    """The per-atom factorisation gives the same attention as keys/values on dense tokens."""
    model = _model("cross_attention")
    bank, cells, pd_, pc, _ = _batch(_bank())
    sel = bank.select(torch.arange(4))
    with torch.no_grad():
        out = model(PairBatch(sel, cells, pd_, pc))
        _, atom_h, atom_w = model.drug(sel)
        tokens = model.tokens(cells)
        dense = tokens.dense()  # [B_c, T, D]
        fusion = model.fusion
        for p in range(len(pd_)):
            atoms = sel.batch == pd_[p]
            keys = fusion.key(dense[pc[p]])  # [T, key_dim]
            alpha = torch.softmax(fusion.query(atom_h[atoms]) @ keys.T / fusion.key_dim**0.5, 1)
            beta = (atom_w[atoms].unsqueeze(1) * alpha).sum(0)
            assert torch.allclose(out.cross_weight[p], beta, atol=1e-5)


def test_pair_head_factorised_first_layer_equals_the_concatenation():
    torch.manual_seed(0)
    head = PairHead(hidden=8, dropout=0.0, extra_dim=3).eval()
    z_drug, z_cell, extra = torch.randn(4, 8), torch.randn(5, 8), torch.randn(6, 3)
    pair_drug, pair_cell = torch.tensor([0, 1, 3, 3, 2, 0]), torch.tensor([4, 0, 0, 2, 1, 4])
    d, c = z_drug[pair_drug], z_cell[pair_cell]
    reference = head.rest(head.first(torch.cat([d, c, d * c, extra], dim=1))).squeeze(-1)
    reference = reference + head.main_effects(torch.cat([d, c], dim=1)).squeeze(-1)
    got = head(z_drug, z_cell, pair_drug, pair_cell, extra)
    assert got.shape == (6,)
    assert torch.allclose(got, reference, atol=1e-6)


def test_checkpoint_of_an_older_architecture_is_refused_by_name(tmp_path):
    model = _model("gat_edge")
    hp = dict(model.hyper_parameters)
    hp.pop("architecture")  # as written before the product term
    torch.save({"hyper_parameters": hp, "state_dict": model.state_dict()}, tmp_path / "best.pt")
    with pytest.raises(ValueError, match="architecture 1.*train the run again"):
        load_model(tmp_path / "best.pt")

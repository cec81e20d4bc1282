import pytest
import torch
from rdkit import Chem

from drp.featurize.molecules import (
    ATOM_DIM,
    BOND_DIM,
    ELEMENTS,
    FINGERPRINT_BITS,
    InvalidSmilesError,
    atom_features,
    morgan_fingerprint,
    smiles_in_graph_order,
    smiles_to_graph,
    standardise,
)
from tests.conftest import SMILES


def test_aspirin_graph_counts_and_widths():
    g = smiles_to_graph(SMILES["aspirin"])
    assert g.num_nodes == 13
    assert g.edge_index.shape == (2, 26)  # 13 bonds, both directions
    assert g.x.shape == (13, ATOM_DIM) and ATOM_DIM == 48
    assert g.edge_attr.shape == (26, BOND_DIM) and BOND_DIM == 14
    # each undirected bond appears once per direction with identical features
    assert torch.equal(g.edge_index[0, ::2], g.edge_index[1, 1::2])
    assert torch.equal(g.edge_attr[::2], g.edge_attr[1::2])
    # six aromatic bonds, encoded in the aromatic slot of bond type
    assert int(g.edge_attr[::2, 3].sum()) == 6


def test_salt_is_stripped_to_the_drug():
    std = standardise(SMILES["aspirin_sodium"])
    assert std.removed_fragments == 1
    assert std.mol.GetNumAtoms() == 13
    assert "Na" not in std.smiles


def test_cisplatin_keeps_its_ligands():
    std = standardise(SMILES["cisplatin"])
    assert std.removed_fragments == 0
    assert sorted(a.GetSymbol() for a in std.mol.GetAtoms()) == ["Cl", "Cl", "N", "N", "Pt"]
    g = smiles_to_graph(SMILES["cisplatin"])
    assert g.num_nodes == 5 and g.edge_index.shape == (2, 4)
    pt_slot = ELEMENTS.index("Pt")
    assert g.x[:, pt_slot].sum() == 1


def test_single_atom_molecule_has_empty_edges():
    g = smiles_to_graph("[Li+]")
    assert g.num_nodes == 1
    assert g.edge_index.shape == (2, 0)
    assert g.edge_attr.shape == (0, BOND_DIM)
    assert g.x[0, len(ELEMENTS)] == 1  # lithium falls in the "other element" slot


def test_formal_charge_is_encoded():
    mol = Chem.MolFromSmiles(SMILES["tetramethylammonium"])
    nitrogen = next(a for a in mol.GetAtoms() if a.GetSymbol() == "N")
    feats = atom_features(nitrogen)
    charge_offset = len(ELEMENTS) + 1 + 8  # element one-hot + other, degree one-hot + other
    assert feats[charge_offset : charge_offset + 6] == [0, 0, 0, 1, 0, 0]  # charge +1


@pytest.mark.parametrize("bad", ["C1CC(", "", "not a smiles", None])
def test_invalid_smiles_raise_with_reason(bad):
    with pytest.raises(InvalidSmilesError):
        standardise(bad)


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("CN(C)(C)C", "Explicit valence for atom # 1 N, 4, is greater than permitted"),
        ("c1cccc1", "Can't kekulize mol.  Unkekulized atoms: 0 1 2 3 4"),
        ("C1CC(", "SMILES Parse Error: syntax error while parsing: C1CC("),
    ],
)
def test_invalid_smiles_carry_rdkit_reason(smiles, reason):
    with pytest.raises(InvalidSmilesError) as info:
        standardise(smiles)
    assert str(info.value).startswith(reason)


def test_morgan_fingerprint():
    fp = morgan_fingerprint(standardise(SMILES["aspirin"]).mol)
    assert fp.shape == (FINGERPRINT_BITS,)
    assert 10 < fp.sum() < 60


def test_smiles_in_graph_order_keeps_values_on_their_atoms():
    smiles = "OC(=O)c1ccccc1OC(C)=O"  # aspirin, written out of canonical order
    graph_atoms = [a.GetAtomicNum() for a in standardise(smiles).mol.GetAtoms()]
    out, reordered = smiles_in_graph_order(smiles, graph_atoms)
    assert [a.GetAtomicNum() for a in Chem.MolFromSmiles(out).GetAtoms()] == reordered
    assert sorted(reordered) == sorted(graph_atoms) and reordered != graph_atoms

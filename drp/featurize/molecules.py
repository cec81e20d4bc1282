"""SMILES -> standardised RDKit molecule -> PyG graph with atom and bond features.

Standardisation: parse, then drop counter-ions and solvents by keeping the largest organic
fragment (RDKit ``LargestFragmentChooser(preferOrganic=True)``). The exception is a molecule with
a coordination metal (Pt, Ru, As, ...): platinum drugs such as cisplatin are written as disconnected ligands
(``N.N.Cl[Pt]Cl``), and dropping fragments would remove the ammine ligands, so metal-containing
molecules keep all their fragments. Charges are left as written (a quaternary ammonium is part of
the drug, not a salt).

Only this package (``drp.featurize``) imports RDKit.
"""

from __future__ import annotations

import contextlib
import io
import re
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem import Descriptors, rdFingerprintGenerator
from rdkit.Chem.MolStandardize import rdMolStandardize
from rdkit.ML.Cluster import Butina
from torch_geometric.data import Data

from drp.featurize.similarity import (  # noqa: F401  (re-exported)
    CLUSTER_SIMILARITY,
    tanimoto_cross,
    tanimoto_matrix,
)

RDLogger.DisableLog("rdApp.*")

ELEMENTS = ["C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "Si", "Se", "Pt", "As", "Fe"]
DEGREES = [0, 1, 2, 3, 4, 5, 6]
FORMAL_CHARGES = [-2, -1, 0, 1, 2]
TOTAL_HS = [0, 1, 2, 3, 4]
HYBRIDISATIONS = [
    Chem.HybridizationType.SP,
    Chem.HybridizationType.SP2,
    Chem.HybridizationType.SP3,
    Chem.HybridizationType.SP3D,
    Chem.HybridizationType.SP3D2,
]
CHIRALITIES = [
    Chem.ChiralType.CHI_UNSPECIFIED,
    Chem.ChiralType.CHI_TETRAHEDRAL_CW,
    Chem.ChiralType.CHI_TETRAHEDRAL_CCW,
]
BOND_TYPES = [
    Chem.BondType.SINGLE,
    Chem.BondType.DOUBLE,
    Chem.BondType.TRIPLE,
    Chem.BondType.AROMATIC,
]
BOND_STEREOS = [
    Chem.BondStereo.STEREONONE,
    Chem.BondStereo.STEREOANY,
    Chem.BondStereo.STEREOZ,
    Chem.BondStereo.STEREOE,
    Chem.BondStereo.STEREOCIS,
    Chem.BondStereo.STEREOTRANS,
]
# Metals that form coordination complexes (not alkali/alkaline-earth counter-ions such as Na+).
COORDINATION_METALS = {
    "Ti",
    "V",
    "Cr",
    "Mn",
    "Fe",
    "Co",
    "Ni",
    "Cu",
    "Zn",
    "Ga",
    "Ru",
    "Rh",
    "Pd",
    "Ag",
    "Cd",
    "Sn",
    "Pt",
    "Au",
    "Hg",
    "Os",
    "Ir",
    "Gd",
    "Bi",
    "Sb",
    "As",
}


def _one_hot(value: object, choices: list, other: bool = True) -> list[float]:
    """One-hot over ``choices`` with a trailing "other" slot when ``other`` is True."""
    vec = [float(value == c) for c in choices]
    if other:
        vec.append(float(value not in choices))
    return vec


def atom_features(atom: Chem.Atom) -> list[float]:
    """Atom feature vector of length :data:`ATOM_DIM`."""
    return (
        _one_hot(atom.GetSymbol(), ELEMENTS)
        + _one_hot(atom.GetDegree(), DEGREES)
        + _one_hot(atom.GetFormalCharge(), FORMAL_CHARGES)
        + _one_hot(atom.GetTotalNumHs(), TOTAL_HS)
        + _one_hot(atom.GetHybridization(), HYBRIDISATIONS)
        + [float(atom.GetIsAromatic()), float(atom.IsInRing())]
        + _one_hot(atom.GetChiralTag(), CHIRALITIES)
    )


def bond_features(bond: Chem.Bond) -> list[float]:
    """Bond feature vector of length :data:`BOND_DIM`."""
    return (
        _one_hot(bond.GetBondType(), BOND_TYPES)
        + [float(bond.GetIsConjugated()), float(bond.IsInRing())]
        + _one_hot(bond.GetStereo(), BOND_STEREOS)
    )


ATOM_DIM = (
    len(ELEMENTS)
    + len(DEGREES)
    + len(FORMAL_CHARGES)
    + len(TOTAL_HS)
    + len(HYBRIDISATIONS)
    + 2
    + len(CHIRALITIES)
    + 6
)
BOND_DIM = len(BOND_TYPES) + 1 + 2 + len(BOND_STEREOS) + 1
FINGERPRINT_BITS = 2048


class InvalidSmilesError(ValueError):
    """A SMILES string could not be turned into a molecule; the message gives the reason."""


@dataclass(frozen=True)
class StandardisedMolecule:
    """A parsed, standardised molecule and what standardisation did to it."""

    mol: Chem.Mol
    smiles: str
    removed_fragments: int


_FRAGMENT_CHOOSER = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)


def parse_smiles(smiles: str) -> Chem.Mol:
    """RDKit molecule of ``smiles``; raises InvalidSmilesError with RDKit's own reason.

    RDKit reports why a SMILES fails (syntax error position, "Explicit valence for atom # 1 N,
    4, is greater than permitted", ...) only in its error log, so the log is captured while
    parsing.
    """
    if not isinstance(smiles, str) or not smiles.strip():
        raise InvalidSmilesError("empty SMILES")
    text = smiles.strip()
    captured = io.StringIO()
    rdBase.LogToPythonStderr()
    RDLogger.EnableLog("rdApp.error")
    try:
        with contextlib.redirect_stderr(captured):
            mol = Chem.MolFromSmiles(text)
    finally:
        RDLogger.DisableLog("rdApp.*")
    if mol is None:
        raise InvalidSmilesError(_rdkit_reason(captured.getvalue(), text))
    return mol


def _rdkit_reason(log: str, smiles: str) -> str:
    """RDKit's log lines without timestamps, caret markers or echoes of the input."""
    lines = []
    for line in log.splitlines():
        line = re.sub(r"^\[\d\d:\d\d:\d\d\]\s*", "", line).strip()
        if line and line != smiles and not re.fullmatch(r"~*\^", line) and line not in lines:
            lines.append(line)
    return "; ".join(lines) or f"RDKit could not parse {smiles!r}"


def standardise(smiles: str) -> StandardisedMolecule:
    """Parse ``smiles`` and keep the drug-bearing fragment(s); raises InvalidSmilesError."""
    mol = parse_smiles(smiles)
    if mol.GetNumAtoms() == 0:
        raise InvalidSmilesError("SMILES has no atoms")
    fragments = Chem.GetMolFrags(mol, asMols=True)
    has_metal = any(a.GetSymbol() in COORDINATION_METALS for a in mol.GetAtoms())
    kept = mol if has_metal or len(fragments) == 1 else _FRAGMENT_CHOOSER.choose(mol)
    removed = 0 if kept is mol else len(fragments) - 1
    return StandardisedMolecule(kept, Chem.MolToSmiles(kept), removed)


def mol_to_graph(mol: Chem.Mol) -> Data:
    """Build a PyG graph with both edge directions.

    Shapes:
        x: [num_atoms, ATOM_DIM]; edge_index: [2, 2 * num_bonds]; edge_attr: [2 * num_bonds, BOND_DIM]
    """
    x = torch.tensor([atom_features(a) for a in mol.GetAtoms()], dtype=torch.float32)
    src, dst, attrs = [], [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        feats = bond_features(bond)
        src += [i, j]
        dst += [j, i]
        attrs += [feats, feats]
    edge_index = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    edge_attr = torch.tensor(attrs, dtype=torch.float32).reshape(-1, BOND_DIM)
    return Data(x=x, edge_index=edge_index, edge_attr=edge_attr, num_nodes=x.shape[0])


def smiles_to_graph(smiles: str) -> Data:
    """Standardise ``smiles`` and return its graph; raises InvalidSmilesError."""
    return mol_to_graph(standardise(smiles).mol)


_MORGAN = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FINGERPRINT_BITS)


def morgan_fingerprint(mol: Chem.Mol) -> np.ndarray:
    """Morgan (ECFP4-like, radius 2) bit vector. Shape: [FINGERPRINT_BITS] uint8."""
    return _MORGAN.GetFingerprintAsNumPy(mol).astype(np.uint8)


#: physicochemical descriptors of a drug (RDKit names; ``FormalCharge`` is the net charge): size,
#: polarity, lipophilicity, flexibility and ring make-up, which tell the new-drug prior a large
#: cytotoxic natural product from a small kinase inhibitor where fingerprints share no bits
PHYSCHEM = (
    "MolWt", "HeavyAtomCount", "NumValenceElectrons", "MolLogP", "MolMR", "TPSA", "LabuteASA",
    "NumHDonors", "NumHAcceptors", "NHOHCount", "NOCount", "NumHeteroatoms", "NumRotatableBonds",
    "RingCount", "NumAromaticRings", "NumAliphaticRings", "NumSaturatedRings", "FractionCSP3",
    "BertzCT", "qed", "FormalCharge",
)  # fmt: skip
_DESCRIPTORS = dict(Descriptors.descList) | {"FormalCharge": Chem.GetFormalCharge}


def physchem_descriptors(mol: Chem.Mol) -> np.ndarray:
    """The :data:`PHYSCHEM` descriptors of ``mol``. Shape: [len(PHYSCHEM)] float64."""
    return np.array([_DESCRIPTORS[name](mol) for name in PHYSCHEM], np.float64)


def smiles_descriptors(smiles: list[str]) -> np.ndarray:
    """:func:`physchem_descriptors` of standardised SMILES; a row of NaN where one does not
    parse. Shape: [len(smiles), len(PHYSCHEM)] float64."""
    out = np.full((len(smiles), len(PHYSCHEM)), np.nan)
    for i, text in enumerate(smiles):
        mol = Chem.MolFromSmiles(text) if isinstance(text, str) and text else None
        if mol is not None:
            out[i] = physchem_descriptors(mol)
    return out


_UNCHARGER = rdMolStandardize.Uncharger()


def structure_key(mol: Chem.Mol) -> str:
    """InChIKey of a standardised molecule, neutralised; its canonical SMILES where InChI fails.

    Two drug ids with the same key are the same compound (e.g. GDSC's Afuresertib and its salt
    GSK2110183B, or an acid and its sodium salt), so splits must keep them on one side.
    Neutralising (RDKit ``Uncharger``) applies to the key only: the graph keeps charges as
    written.
    """
    neutral = _UNCHARGER.uncharge(mol)
    try:
        key = Chem.MolToInchiKey(neutral)
    except Exception:  # InChI rejects some organometallics; RDKit raises several types
        key = ""
    return key or Chem.MolToSmiles(neutral)


CLUSTER_METHOD = "butina"


def read_sdf(path: str) -> list[tuple[str, str | None, str]]:
    """Records of an SD file as ``(name, smiles or None, reason)``, in file order.

    The name is the record's title line (RDKit ``_Name``), else ``mol_<i>`` (``i`` counts
    records from 1). A record RDKit cannot read gets ``None`` and RDKit's logged reason; a
    read record gets its SMILES (to be standardised like any other) and an empty reason.
    """
    supplier = Chem.SDMolSupplier(str(path), sanitize=True, removeHs=True)
    records = []
    for i in range(len(supplier)):
        captured = io.StringIO()
        rdBase.LogToPythonStderr()
        RDLogger.EnableLog("rdApp.error")
        try:
            with contextlib.redirect_stderr(captured):
                mol = supplier[i]
        finally:
            RDLogger.DisableLog("rdApp.*")
        title = (supplier.GetItemText(i).splitlines() or [""])[0].strip()
        if mol is None:
            log = captured.getvalue()
            reason = _rdkit_reason(log, "") if log.strip() else "RDKit could not read the record"
            records.append((title or f"mol_{i + 1}", None, reason))
            continue
        name = mol.GetProp("_Name").strip() if mol.HasProp("_Name") else ""
        smiles = Chem.MolToSmiles(mol)
        if not smiles:
            records.append((name or f"mol_{i + 1}", None, "record has no atoms"))
            continue
        records.append((name or f"mol_{i + 1}", smiles, ""))
    return records


def cluster_structures(
    fingerprints: np.ndarray, keys: list[str], similarity: float = CLUSTER_SIMILARITY
) -> np.ndarray:
    """Butina clusters of drugs, computed over distinct structures.

    Args:
        fingerprints: [n_drugs, bits] Morgan bits.
        keys: [n_drugs] structure keys; drugs with the same key always share a cluster.
        similarity: Tanimoto similarity to a cluster centroid needed to join its cluster.

    Returns:
        [n_drugs] int64 cluster ids, 0 for the largest cluster, numbered by decreasing size.
    """
    unique_keys = list(dict.fromkeys(keys))
    if not unique_keys:
        return np.zeros(0, dtype=np.int64)
    first = [keys.index(k) for k in unique_keys]
    sim = tanimoto_matrix(fingerprints[first])
    n = len(first)
    rows, cols = np.tril_indices(n, k=-1)  # Butina wants the lower triangle, row by row
    clusters = Butina.ClusterData(
        list(1.0 - sim[rows, cols]), n, 1.0 - similarity, isDistData=True, reordering=True
    )
    # Butina returns clusters largest first; ties broken by first member for a stable order
    clusters = sorted(clusters, key=lambda c: (-len(c), min(c)))
    label_of_key = {}
    for label, members in enumerate(clusters):
        for member in members:
            label_of_key[unique_keys[member]] = label
    return np.array([label_of_key[k] for k in keys], dtype=np.int64)


def smiles_in_graph_order(smiles: str, weights: np.ndarray) -> tuple[str, list[float]]:
    """Canonical SMILES of the standardised molecule with ``weights`` reordered to its atoms.

    The graph's atoms follow the standardised molecule's atom order; writing SMILES can reorder
    atoms, so the weights are permuted by RDKit's ``_smilesAtomOutputOrder``.
    """
    mol = standardise(smiles).mol
    out = Chem.MolToSmiles(mol)
    order = list(
        mol.GetPropsAsDict(includePrivate=True, includeComputed=True)["_smilesAtomOutputOrder"]
    )
    return out, [float(weights[i]) for i in order]

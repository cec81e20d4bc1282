"""Molecule drawings (RDKit ``rdMolDraw2D``): atoms coloured by attention weight, or plain.

The design keeps RDKit inside ``drp.featurize``; drawing is the one exception, because a
picture of the molecule is the point of this section. Only drawing functions are used here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from rdkit import Chem, RDLogger
from rdkit.Chem import rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D

RDLogger.DisableLog("rdApp.*")


def attention_colours(
    weights: Sequence[float], cmap: str = "OrRd"
) -> dict[int, tuple[float, float, float]]:
    """Atom index -> RGB, scaled so the most attended atom gets the darkest colour."""
    w = np.asarray(weights, dtype=float)
    top = float(np.nanmax(w)) if w.size and np.nanmax(w) > 0 else 1.0
    scaled = np.clip(np.nan_to_num(w / top), 0.0, 1.0)
    cm = colormaps[cmap]
    # skip the near-white bottom of the colour map so weak atoms stay visible but pale
    return {i: tuple(float(c) for c in cm(0.08 + 0.85 * s)[:3]) for i, s in enumerate(scaled)}


def draw_attention(
    smiles: str,
    weights: Sequence[float],
    legend: str = "",
    size: tuple[int, int] = (420, 320),
) -> bytes:
    """PNG of ``smiles`` with atom ``i`` highlighted by ``weights[i]``.

    Args:
        smiles: standardised SMILES whose atom order matches ``weights``.
        weights: [num_atoms] attention weight of each atom.
        legend: caption drawn under the molecule.
        size: (width, height) in pixels.

    Raises:
        ValueError: the SMILES does not parse or its atom count differs from ``len(weights)``.
    """
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"cannot parse SMILES {smiles!r}")
    if mol.GetNumAtoms() != len(weights):
        raise ValueError(
            f"{smiles!r} has {mol.GetNumAtoms()} atoms but {len(weights)} attention weights"
        )
    rdDepictor.SetPreferCoordGen(True)
    rdDepictor.Compute2DCoords(mol)
    colours = attention_colours(weights)
    w = np.asarray(weights, dtype=float)
    top = float(np.nanmax(w)) if w.size and np.nanmax(w) > 0 else 1.0
    radii = {i: 0.25 + 0.25 * float(np.nan_to_num(v / top)) for i, v in enumerate(w)}
    drawer = rdMolDraw2D.MolDraw2DCairo(*size)
    opts = drawer.drawOptions()
    opts.legendFontSize = 16
    opts.clearBackground = True
    opts.fillHighlights = True
    opts.fixedBondLength = 32  # keeps small molecules (cisplatin) from being blown up
    rdMolDraw2D.PrepareAndDrawMolecule(
        drawer,
        mol,
        legend=legend,
        highlightAtoms=list(colours),
        highlightAtomColors=colours,
        highlightAtomRadii=radii,
        highlightBonds=[],
    )
    drawer.FinishDrawing()
    return drawer.GetDrawingText()


def draw_molecule(smiles: str, legend: str = "", size: tuple[int, int] = (300, 240)) -> bytes:
    """PNG of ``smiles`` with ``legend`` under it (no highlighting).

    Raises:
        ValueError: the SMILES does not parse.
    """
    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise ValueError(f"cannot parse SMILES {smiles!r}")
    rdDepictor.SetPreferCoordGen(True)
    rdDepictor.Compute2DCoords(mol)
    drawer = rdMolDraw2D.MolDraw2DCairo(*size)
    opts = drawer.drawOptions()
    opts.legendFontSize = 14
    opts.clearBackground = True
    opts.fixedBondLength = 28
    rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, legend=legend)
    drawer.FinishDrawing()
    return drawer.GetDrawingText()

"""Molecule drawings (RDKit ``rdMolDraw2D``): atoms coloured by attention weight, or plain.

RDKit stays inside ``drp.featurize``: the report asks this module for pictures and never
imports RDKit itself. The colour scale lives here too, so a figure's colour bar and its
molecules agree.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import Colormap
from rdkit import Chem, RDLogger
from rdkit.Chem import rdDepictor
from rdkit.Chem.Draw import rdMolDraw2D

RDLogger.DisableLog("rdApp.*")


RELATIVE_RANGE = (0.25, 4.0)
"""Colour-scale ends of an atom's weight relative to uniform (weight x number of atoms)."""


def attention_cmap() -> Colormap:
    """Diverging map: blue below the uniform weight, white at it, red above."""
    return colormaps["RdBu_r"]


def relative_position(weights: Sequence[float]) -> np.ndarray:
    """[n] position on the colour scale (0..1) of each atom's weight x n on a log scale that
    spans :data:`RELATIVE_RANGE`; 0.5 is the uniform weight 1/n, whatever the molecule's size."""
    w = np.nan_to_num(np.asarray(weights, dtype=float))
    relative = np.clip(w * w.size, *RELATIVE_RANGE)
    lo, hi = np.log(RELATIVE_RANGE)
    return (np.log(relative) - lo) / (hi - lo)


def attention_colours(weights: Sequence[float]) -> dict[int, tuple[float, float, float]]:
    """Atom index -> RGB on the absolute scale of :func:`relative_position`."""
    cm = attention_cmap()
    return {i: tuple(float(c) for c in cm(x)[:3]) for i, x in enumerate(relative_position(weights))}


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
    # larger discs for atoms far from uniform, either way
    spread = np.abs(relative_position(weights) - 0.5) * 2
    radii = {i: 0.25 + 0.25 * float(v) for i, v in enumerate(spread)}
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

"""What "the same drug" means, and how alike two drugs are, from stored keys and bit vectors.

RDKit-free: the keys and fingerprints come from :mod:`drp.featurize.molecules` at featurisation
time, so splits, the new-drug prior and prediction can use them without importing RDKit.

**One drug identity.** :func:`drug_identity` is the single rule every part of drp uses to decide
whether two drug ids are one drug: drug-blind and cluster-blind folds (held out together),
the new-drug subset of cross-dataset scoring (target drugs are renamed to a training id only
when their full ``structure_key`` matches), clusters (built over identities), the new-drug prior (which drugs it may learn from, which
ones it calls new, which ones it leaves out together when it chooses its penalty) and
prediction (a drug is *new* when its identity is not among the training drugs'). The identity
is the InChIKey's first block (the connectivity of the neutralised, standardised molecule), so
stereoisomers (doxorubicin and epirubicin), charge states and salts of one skeleton are one
drug. A key that is not an InChIKey (the canonical-SMILES fallback for molecules InChI rejects)
is its own identity.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

_INCHIKEY = r"[A-Z]{14}-[A-Z]{10}-[A-Z]"

CLUSTER_SIMILARITY = 0.4
"""Butina clustering of Morgan fingerprints (radius 2, 2048 bits): a drug joins a centroid's
cluster when their Tanimoto similarity is >= 0.4. On GDSC2 this puts the quinazoline kinase
inhibitors (gefitinib, erlotinib, afatinib, sapitinib, ...) together, and the nucleoside analogues,
and the camptothecins, while ~170 drugs stay singletons."""


def drug_identity(structure_keys: pd.Series | np.ndarray | list[str]) -> pd.Series:
    """[n] identity of each drug from its ``structure_key`` (same index as a Series input).

    InChIKeys keep their connectivity block (14 letters); other keys are kept whole; missing
    keys stay missing.
    """
    keys = (
        pd.Series(structure_keys) if not isinstance(structure_keys, pd.Series) else structure_keys
    )
    text = keys.astype("string")
    inchikey = text.str.fullmatch(_INCHIKEY).fillna(False).astype(bool)
    return text.where(~inchikey, text.str[:14]).astype(object).where(keys.notna(), None)


def tanimoto_cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Tanimoto similarity of every bit vector of ``a`` [n, bits] to every one of ``b``
    [m, bits] -> [n, m] float64 (0 where both are empty)."""
    x, y = a.astype(np.float64), b.astype(np.float64)
    common = x @ y.T
    union = x.sum(axis=1)[:, None] + y.sum(axis=1)[None, :] - common
    return np.divide(common, union, out=np.zeros_like(common), where=union > 0)


def tanimoto_matrix(fingerprints: np.ndarray) -> np.ndarray:
    """Pairwise Tanimoto similarity of bit vectors [n, bits] -> [n, n] float64 (empty = 0)."""
    return tanimoto_cross(fingerprints, fingerprints)

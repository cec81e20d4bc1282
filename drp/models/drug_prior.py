"""The similarity prior on a new drug's main effect (how potent it is on the average cell line).

On drug-blind folds nearly all of a model's error is the main effect it gives a new drug: with
the true main effect in its place, RMSE falls from ~2.4 to ~1.2 (RESULTS.md, "New drugs"). The
network assigns new structures confident main effects; a Tanimoto kernel ridge over the training
drugs' measured main effects shrinks towards the average where a new drug resembles no training
drug, and can learn from more drugs than were screened in the training dataset: drugs of an
auxiliary screen (GDSC1 beside GDSC2) whose structure matches no drug of the dataset.

For a new drug (a fingerprint equal to no training drug's), the prediction keeps the network's
cell-to-cell pattern and takes its level from the prior::

    y(c, d) = net(c, d) - mean_r [net(r, d) - cell_mean(r)] + prior(d)

over the reference cells r (the training cells present). Known drugs keep the network's
prediction unchanged, so the mixed and cell-blind splits are untouched.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from drp.featurize.molecules import tanimoto_cross
from drp.featurize.store import FeaturizedDataset

#: ridge penalties tried; the one with the lowest leave-one-drug-out error is kept
ALPHAS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
FILE = "drug_prior.npz"
#: fewer of the prior's training cells than this (or than it has) among the cells predicted
#: on: the prior is not applied (its level would rest on too few cells)
MIN_REFERENCE_CELLS = 30


def main_effects(pairs: pd.DataFrame) -> pd.Series:
    """drug_id -> mean over its pairs of ln IC50 minus the cell's mean over ``pairs``."""
    centred = pairs["ln_ic50"] - pairs.groupby("cell_id")["ln_ic50"].transform("mean")
    return centred.groupby(pairs["drug_id"]).mean()


def _connectivity(keys: pd.Series) -> pd.Series:
    """InChIKey connectivity block (stereo and charge variants of one skeleton share it); a key
    that is not an InChIKey (the canonical-SMILES fallback) is kept whole."""
    keys = keys.astype(str)
    inchikey = keys.str.fullmatch(r"[A-Z]{14}-[A-Z]{10}-[A-Z]")
    return keys.where(~inchikey, keys.str[:14])


def auxiliary_effects(
    ds: FeaturizedDataset,
    aux: FeaturizedDataset,
    train: pd.DataFrame,
    held_out_similarity: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints [m, bits] and main effects [m] of ``aux`` drugs unlike every ``ds`` drug.

    A drug of ``aux`` becomes a row of the prior only when its structure's connectivity matches
    no drug of ``ds`` (training, validation or test alike) and, with ``held_out_similarity``
    (cluster-blind splits), when its Tanimoto similarity to every held-out drug of ``ds`` is
    below it. Effects are taken on the training cells against the cell means of the ``aux``
    drugs that match no held-out drug, then moved onto the scale of ``ds``: by the mean
    difference of the two screens' effects over the training drugs both hold. No response of a
    held-out drug or cell, in either screen, enters the prior.
    """
    keys = _connectivity(ds.drugs.set_index("drug_id")["structure_key"])
    held = ~keys.index.isin(train.drug_id)
    aux_keys = _connectivity(aux.drugs["structure_key"])
    allowed = ~aux_keys.isin(set(keys[held]))
    kept = ~aux_keys.isin(set(keys))
    if held_out_similarity is not None and held.any():
        held_fps = ds.fingerprints[[ds.drug_index[d] for d in keys.index[held]]]
        near = tanimoto_cross(aux.fingerprints, held_fps).max(axis=1) >= held_out_similarity
        allowed, kept = allowed & ~near, kept & ~near
    pairs = aux.pairs[
        aux.pairs.drug_id.isin(aux.drugs.drug_id[allowed]) & aux.pairs.cell_id.isin(train.cell_id)
    ]
    effects = main_effects(pairs)
    # training structures screened in both: their mean difference aligns the assays' scales
    ds_effects = main_effects(train)
    ds_level = ds_effects.groupby(keys[ds_effects.index].to_numpy()).mean()
    aux_level = effects.groupby(
        aux_keys.set_axis(aux.drugs.drug_id.to_numpy())[effects.index].to_numpy()
    ).mean()
    gaps = (ds_level - aux_level).dropna()
    if not len(gaps):
        warnings.warn(
            f"the auxiliary screen {aux.name!r} shares no training structure with "
            f"{ds.name!r}: its effects stay on their own scale",
            stacklevel=2,
        )
    scale = float(gaps.mean()) if len(gaps) else 0.0
    drugs = aux.drugs[kept]
    drugs = drugs[drugs.drug_id.isin(effects.index)]
    rows = [aux.drug_index[d] for d in drugs.drug_id]
    return aux.fingerprints[rows], effects[drugs.drug_id].to_numpy(np.float64) + scale


@dataclass
class DrugEffectPrior:
    """Kernel ridge on Tanimoto similarity: fingerprint -> main effect (ln IC50 units).

    ``fingerprints`` [n, bits] are the drugs it was fitted on, the first ``n_known`` of them the
    network's training drugs; ``coef`` [n] the dual coefficients; ``cell_ids``/``cell_means``
    [n_cells] the training cells and their mean ln IC50 over the training pairs.
    """

    fingerprints: np.ndarray
    coef: np.ndarray
    offset: float
    alpha: float
    n_known: int
    cell_ids: np.ndarray
    cell_means: np.ndarray

    @classmethod
    def fit(
        cls,
        ds: FeaturizedDataset,
        train: pd.DataFrame,
        aux: FeaturizedDataset | None = None,
        held_out_similarity: float | None = None,
    ) -> DrugEffectPrior:
        """Fit on the training pairs of ``ds`` (plus ``aux`` drugs, see
        :func:`auxiliary_effects`); the penalty minimises the leave-one-drug-out error on the
        training drugs of ``ds``."""
        effects = main_effects(train)
        fps = ds.fingerprints[[ds.drug_index[d] for d in effects.index]]
        y = effects.to_numpy(np.float64)
        n_known = len(y)
        if aux is not None:
            aux_fps, aux_y = auxiliary_effects(ds, aux, train, held_out_similarity)
            fps, y = np.vstack([fps, aux_fps]), np.concatenate([y, aux_y])
        offset = float(y.mean())
        kernel = tanimoto_cross(fps, fps)
        alpha = min(ALPHAS, key=lambda a: _loo_error(kernel, y - offset, a, n_known))
        coef = np.linalg.solve(kernel + alpha * np.eye(len(y)), y - offset)
        means = train.groupby("cell_id")["ln_ic50"].mean()
        return cls(
            fps.astype(np.uint8), coef, offset, alpha, n_known,
            means.index.to_numpy(str), means.to_numpy(np.float64),
        )  # fmt: skip

    def predict(self, fingerprints: np.ndarray) -> np.ndarray:
        """Main effects [m] of drugs with fingerprints [m, bits]."""
        return tanimoto_cross(fingerprints, self.fingerprints) @ self.coef + self.offset

    def is_new(self, fingerprints: np.ndarray) -> np.ndarray:
        """[m] bool: the fingerprint equals no training drug's (the network never saw it)."""
        known = {row.tobytes() for row in self.fingerprints[: self.n_known].astype(np.uint8)}
        return np.array([row.tobytes() not in known for row in fingerprints.astype(np.uint8)])

    def reference(self, cell_ids: np.ndarray) -> np.ndarray | None:
        """Positions [n_ref] of the prior's training cells among ``cell_ids``, the cells its
        level is placed on; None when there are too few (:data:`MIN_REFERENCE_CELLS`)."""
        ref = np.flatnonzero(np.isin(cell_ids, self.cell_ids))
        return ref if len(ref) >= min(MIN_REFERENCE_CELLS, len(self.cell_ids)) else None

    def shift(self, fingerprints: np.ndarray, net: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Per-drug shift [m] that gives drugs the prior's main effect.

        ``net`` [n_ref, m] are the network's predictions on reference cells ``cells`` [n_ref]
        (ids among the prior's training cells).
        """
        means = pd.Series(self.cell_means, index=self.cell_ids)[cells].to_numpy()
        return self.predict(fingerprints) - (net - means[:, None]).mean(0)

    def summary(self) -> dict:
        """What ``summary.json`` records: the penalty and the drugs behind the prior."""
        n = len(self.coef)
        return {
            "alpha": self.alpha,
            "training_drugs": self.n_known,
            "auxiliary_drugs": n - self.n_known,
        }

    # ---- persistence (plain arrays: no pickle) ----------------------------------------------
    def save(self, path: Path) -> None:
        from drp.files import atomic_write

        arrays = {k: np.asarray(v) for k, v in vars(self).items()}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)

        atomic_write(Path(path), write)

    @classmethod
    def load(cls, path: Path) -> DrugEffectPrior:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        scalars = {k: arrays[k].item() for k in ("offset", "alpha", "n_known")}
        return cls(**(arrays | scalars))


def _loo_error(kernel: np.ndarray, y: np.ndarray, alpha: float, n_scored: int) -> float:
    """Leave-one-out squared error of kernel ridge (closed form) over the first ``n_scored``."""
    hat = kernel @ np.linalg.inv(kernel + alpha * np.eye(len(y)))
    residual = (y - hat @ y) / (1.0 - np.diag(hat))
    return float(np.mean(residual[:n_scored] ** 2))

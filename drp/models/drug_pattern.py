"""A new drug's cell-to-cell pattern, transferred from its structural analogues.

Ranking the cell lines for a drug never seen in training is, across the field, no better than
ranking them by their average sensitivity to every training drug (the cell mean). The prior
(:mod:`drp.models.drug_prior`) already transfers an analogue's *level*; this transfers its
*pattern*: each training drug's residual profile over the training cells (its ln IC50 minus the
cell's mean and minus the drug's main effect) is averaged with weights ``sim ** power``
(Tanimoto similarity to the new drug, normalised to sum to one) and scaled by ``scale``::

    pattern(c, d) = cell_mean(c) + scale * sum_k w_k(d) residual_k(c)

Where no training drug is similar the weights spread over many drugs whose residuals cancel, and
the pattern falls back to the cell mean. ``power`` and ``scale`` are chosen on the training drugs
alone: each is predicted without its own structure (its whole group), and the pair with the
least squared error over the observed residuals is kept (``scale`` in closed form).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: powers of the similarity tried; a higher power listens to the nearest analogues only
POWERS = (2.0, 3.0, 4.0, 6.0, 8.0, 10.0)
#: added to every weight so a drug similar to no training drug averages them all
_FLOOR = 1e-9


def residual_profiles(
    train: pd.DataFrame, drug_ids: np.ndarray, cell_ids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Residual profiles [n_drugs, n_cells] float32 of ``drug_ids`` over ``cell_ids`` (ln IC50
    minus the cell's mean over ``train`` minus the drug's mean of that; 0 where unmeasured) and
    the mask [n_drugs, n_cells] bool of the measured entries."""
    centred = train["ln_ic50"] - train.groupby("cell_id")["ln_ic50"].transform("mean")
    frame = pd.DataFrame({"drug_id": train["drug_id"], "cell_id": train["cell_id"], "r": centred})
    grid = frame.pivot_table(index="drug_id", columns="cell_id", values="r", aggfunc="mean")
    grid = grid.reindex(index=drug_ids, columns=cell_ids)
    grid = grid.sub(grid.mean(axis=1), axis=0)
    observed = grid.notna().to_numpy()
    return grid.fillna(0.0).to_numpy(np.float32), observed


def weights(similarity: np.ndarray, power: float) -> np.ndarray:
    """Row-normalised analogue weights [m, n] from Tanimoto similarities [m, n]."""
    w = similarity**power + _FLOOR
    return w / w.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class PatternFit:
    """The chosen ``power`` and ``scale`` and their leave-one-structure-out mean squared error
    over the observed residuals (``loo_mse``; ``baseline_mse`` is the cell mean's, scale 0)."""

    power: float
    scale: float
    loo_mse: float
    baseline_mse: float


def fit_pattern(
    kernel: np.ndarray, profiles: np.ndarray, observed: np.ndarray, groups: np.ndarray
) -> PatternFit:
    """Choose ``power`` and ``scale`` on the training drugs: ``kernel`` [n, n] their Tanimoto
    similarities, ``profiles``/``observed`` [n, n_cells] (:func:`residual_profiles`), ``groups``
    [n] what is left out together (a drug's identity, or its structure cluster)."""
    same = np.asarray(groups)[:, None] == np.asarray(groups)[None, :]
    target = profiles.astype(np.float64)
    mask = observed.astype(np.float64)
    baseline = float((target**2 * mask).sum() / max(mask.sum(), 1.0))
    best = PatternFit(POWERS[0], 0.0, baseline, baseline)
    for power in POWERS:
        w = np.where(same, 0.0, kernel**power + _FLOOR)
        w /= np.maximum(w.sum(axis=1, keepdims=True), _FLOOR)  # a lone group: no guess
        guess = w @ target
        denominator = float((guess**2 * mask).sum())
        if denominator <= 0:
            continue
        scale = max(0.0, float((guess * target * mask).sum()) / denominator)
        mse = float(((target - scale * guess) ** 2 * mask).sum() / max(mask.sum(), 1.0))
        if mse < best.loo_mse:
            best = PatternFit(power, scale, mse, baseline)
    return best

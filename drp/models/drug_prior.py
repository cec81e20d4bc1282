"""The similarity prior on a new drug's main effect (how potent it is on the average cell line).

On drug-blind folds nearly all of a model's error is the main effect it gives a new drug: with
the true main effect in its place, RMSE falls from ~2.4 to ~1.2 (RESULTS.md, "New drugs"). The
network assigns new structures confident main effects; a Tanimoto kernel ridge over the training
drugs' measured main effects shrinks towards the average where a new drug resembles no training
drug, and can learn from more drugs than were screened in the training dataset: drugs of an
auxiliary screen (GDSC1 beside GDSC2) whose structure matches no drug of the dataset. Its kernel
adds to the Tanimoto similarity a Gaussian similarity of physicochemical descriptors
(:data:`~drp.featurize.molecules.PHYSCHEM`), with a weight chosen with the penalty: very potent
cytotoxic compounds (large natural products, proteasome and HDAC inhibitors) share few
fingerprint bits with anything but resemble each other in size, polarity and ring make-up.

For a new drug (a fingerprint equal to no training drug's), the prediction takes its level from
the prior::

    y(c, d) = net(c, d) - mean_r [net(r, d) - cell_mean(r)] + prior(d)

over the reference cells r (the training cells present), and its cell-to-cell pattern from the
network blended (weight ``pattern_blend``) with the pattern of its structural analogues
(:mod:`drp.models.drug_pattern`) on the prior's training cells::

    y(c, d) += blend * ([p(c, d) - mean_r p(r, d)] - [net(c, d) - mean_r net(r, d)])

with ``p`` the analogues' pattern. Known drugs keep the network's prediction unchanged, so the
mixed and cell-blind splits are untouched.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from drp.featurize.similarity import drug_identity, tanimoto_cross
from drp.models.drug_pattern import fit_pattern, residual_profiles, weights

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset

#: ridge penalties tried; the one with the lowest leave-one-structure-out error is kept
ALPHAS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
FILE = "drug_prior.npz"
#: fewer of the prior's training cells than this (or than it has) among the cells predicted
#: on: the prior is not applied (its level would rest on too few cells)
MIN_REFERENCE_CELLS = 30
#: weights of the descriptor similarity beside the Tanimoto similarity in the kernel; the one
#: with the lowest leave-one-structure-out error is kept (with the penalty)
DESCRIPTOR_WEIGHTS = (0.0, 0.5, 1.0, 2.0)
#: the descriptor similarity is exp(-gamma * mean squared difference of standardised descriptors)
DESCRIPTOR_GAMMA = 0.5
#: version of ``drug_prior.npz``: 2 adds each row's drug id, identity and effect (so the
#: prior can leave out the drugs of a dataset it scores) and a leave-one-structure-out penalty;
#: 3 adds the training drugs' residual profiles (the analogue pattern); 4 the rows'
#: physicochemical descriptors in the kernel; 5 the identities of the drugs the network trained
#: on (``network_keys``: the validation drugs join the prior, not the network). Older files
#: load as they were trained (no pattern, blend 0; no descriptors, weight 0; the network's
#: drugs are the prior's own).
FORMAT = 5


def main_effects(pairs: pd.DataFrame) -> pd.Series:
    """drug_id -> mean over its pairs of ln IC50 minus the cell's mean over ``pairs``."""
    centred = pairs["ln_ic50"] - pairs.groupby("cell_id")["ln_ic50"].transform("mean")
    return centred.groupby(pairs["drug_id"]).mean()


@dataclass
class AuxiliaryRows:
    """Drugs of an auxiliary screen as rows of the prior: fingerprints [m, bits], main
    effects [m] on the dataset's scale, drug ids [m] (the screen's), identities [m] and
    physicochemical descriptors [m, k]."""

    fingerprints: np.ndarray
    effects: np.ndarray
    drug_ids: np.ndarray
    keys: np.ndarray
    descriptors: np.ndarray


def auxiliary_effects(
    ds: FeaturizedDataset,
    aux: FeaturizedDataset,
    train: pd.DataFrame,
    held_out_similarity: float | None = None,
) -> AuxiliaryRows:
    """The drugs of ``aux`` unlike every ``ds`` drug, as rows of the prior.

    A drug of ``aux`` becomes a row of the prior only when its identity
    (:func:`~drp.featurize.similarity.drug_identity`) matches no drug of ``ds`` (training,
    validation or test alike) and, with ``held_out_similarity`` (cluster-blind splits), when its
    Tanimoto similarity to every held-out drug of ``ds`` is below it. Effects are taken on the
    training cells against the cell means of the ``aux`` drugs that match no held-out drug, then
    moved onto the scale of ``ds``: by the mean difference of the two screens' effects over the
    training drugs both hold. No response of a held-out drug or cell, in either screen, enters
    the prior.
    """
    keys = drug_identity(ds.drugs.set_index("drug_id")["structure_key"])
    held = ~keys.index.isin(train.drug_id)
    aux_keys = drug_identity(aux.drugs["structure_key"])
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
    chosen = kept & aux.drugs.drug_id.isin(effects.index).to_numpy()
    drugs = aux.drugs[chosen.to_numpy()]
    rows = [aux.drug_index[d] for d in drugs.drug_id]
    return AuxiliaryRows(
        aux.fingerprints[rows],
        effects[drugs.drug_id].to_numpy(np.float64) + scale,
        drugs.drug_id.to_numpy(str),
        aux_keys[chosen.to_numpy()].to_numpy(str),
        aux.descriptors[rows],
    )


@dataclass
class DrugEffectPrior:
    """Kernel ridge on Tanimoto (plus weighted descriptor) similarity: structure -> main effect
    (ln IC50 units).

    One row per drug it learned from, the first ``n_known`` the network's training drugs, the
    rest drugs of an auxiliary screen: ``fingerprints`` [n, bits], ``effects`` [n] (measured
    main effects, on the dataset's scale), ``drug_ids`` [n] (ids in their own screen) and
    ``keys`` [n] (drug identities, :func:`~drp.featurize.similarity.drug_identity`).
    ``groups`` [n_known] are what the penalty's cross-validation leaves out together (the
    identity, or the structure cluster on cluster-blind folds, where auxiliary drugs at least
    ``near`` similar to a left-out drug go with it; ``near`` is NaN elsewhere). ``coef`` [n]
    are the dual coefficients, ``offset`` the mean effect; ``cell_ids``/``cell_means``
    [n_cells] the training cells and their mean ln IC50 over the training pairs.
    ``profiles`` [n_known, n_cells] float32 are the training drugs' residual profiles over those
    cells (:func:`~drp.models.drug_pattern.residual_profiles`), transferred to a new drug with
    ``pattern_power``/``pattern_scale`` (chosen leave-one-structure-out) and blended into the
    network's pattern with weight ``pattern_blend`` (0: the network's pattern alone).
    ``descriptors`` [n, k] are the rows' physicochemical descriptors, standardised with
    ``descriptor_center``/``descriptor_spread`` [k] (of the training drugs, after a signed
    log) and weighted ``descriptor_weight`` in the kernel (0: Tanimoto alone).
    ``network_keys`` are the identities of the drugs the network trained on (empty: the
    first ``n_known`` rows'): any other drug is new to the run and takes the prior's level.
    """

    fingerprints: np.ndarray
    effects: np.ndarray
    drug_ids: np.ndarray
    keys: np.ndarray
    groups: np.ndarray
    near: float
    coef: np.ndarray
    offset: float
    alpha: float
    n_known: int
    cell_ids: np.ndarray
    cell_means: np.ndarray
    profiles: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    pattern_power: float = 6.0
    pattern_scale: float = 0.0
    pattern_blend: float = 0.0
    descriptors: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    descriptor_center: np.ndarray = field(default_factory=lambda: np.zeros(0))
    descriptor_spread: np.ndarray = field(default_factory=lambda: np.zeros(0))
    descriptor_weight: float = 0.0
    network_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, str))

    @classmethod
    def fit(
        cls,
        ds: FeaturizedDataset,
        train: pd.DataFrame,
        aux: FeaturizedDataset | None = None,
        held_out_similarity: float | None = None,
        pattern_blend: float = 0.0,
    ) -> DrugEffectPrior:
        """Fit on the training pairs of ``ds`` (plus ``aux`` drugs, see
        :func:`auxiliary_effects`); ``pattern_blend`` is the analogue pattern's weight in a new
        drug's cell-to-cell pattern (0: the network's alone).

        The penalty minimises the error on the training drugs of ``ds`` when each is predicted
        without its whole structure: the drugs of its identity, or with
        ``held_out_similarity`` (cluster-blind) its whole ``structure_cluster`` and every
        auxiliary drug at least that similar to one of them, as the split holds them out.
        """
        effects = main_effects(train)
        table = ds.drugs.set_index("drug_id")
        ids = effects.index.to_numpy(str)
        rows = [ds.drug_index[d] for d in ids]
        fps, descriptors = ds.fingerprints[rows], ds.descriptors[rows]
        y = effects.to_numpy(np.float64)
        keys = drug_identity(table.loc[ids, "structure_key"]).to_numpy(str)
        n_known = len(y)
        if held_out_similarity is not None and "structure_cluster" in table:
            groups = table.loc[ids, "structure_cluster"].astype(str).to_numpy()
        else:
            groups = keys
        if aux is not None:
            aux_rows = auxiliary_effects(ds, aux, train, held_out_similarity)
            fps = np.vstack([fps, aux_rows.fingerprints])
            descriptors = np.vstack([descriptors, aux_rows.descriptors])
            y = np.concatenate([y, aux_rows.effects])
            ids = np.concatenate([ids, aux_rows.drug_ids])
            keys = np.concatenate([keys, aux_rows.keys])
        means = train.groupby("cell_id")["ln_ic50"].mean()
        near = np.nan if held_out_similarity is None else float(held_out_similarity)
        cells = means.index.to_numpy(str)
        profiles, observed = residual_profiles(train, ids[:n_known], cells)
        known = fps[:n_known]
        pattern = fit_pattern(tanimoto_cross(known, known), profiles, observed, groups)
        signed = _signed_log(descriptors[:n_known])
        center = np.nan_to_num(np.nanmean(signed, axis=0)) if len(signed) else np.zeros(0)
        spread = np.nan_to_num(np.nanstd(signed, axis=0)) if len(signed) else np.zeros(0)
        prior = cls(
            fps.astype(np.uint8), y, ids.astype(str), keys.astype(str), groups.astype(str), near,
            np.zeros(len(y)), 0.0, ALPHAS[0], n_known, cells, means.to_numpy(np.float64),
            profiles, pattern.power, pattern.scale, float(pattern_blend),
            descriptors.astype(np.float64), center, np.where(spread > 0, spread, 1.0),
        )  # fmt: skip
        return prior._refit()

    def _refit(self) -> DrugEffectPrior:
        """This prior with its penalty and descriptor weight chosen again (leave-one-structure-
        out error on the training drugs) and its coefficients solved on its rows."""
        tanimoto = tanimoto_cross(self.fingerprints, self.fingerprints)
        removals = _removal_sets(self.groups, tanimoto, self.n_known, self._near)
        offset = float(self.effects.mean())
        y = self.effects - offset
        z = self._standardise(self.descriptors)
        close = _descriptor_similarity(z, z)
        weights = DESCRIPTOR_WEIGHTS if close is not None else (0.0,)
        grid = [(w, a) for w in weights for a in ALPHAS]
        errors = [_group_loo_error(self._mix(tanimoto, close, w), y, a, removals) for w, a in grid]
        weight, alpha = grid[int(np.argmin(errors))]
        kernel = self._mix(tanimoto, close, weight)
        coef = np.linalg.solve(kernel + alpha * np.eye(len(y)), y)
        return replace(self, coef=coef, offset=offset, alpha=alpha, descriptor_weight=weight)

    @staticmethod
    def _mix(tanimoto: np.ndarray, close: np.ndarray | None, weight: float) -> np.ndarray:
        return tanimoto if close is None or weight == 0 else tanimoto + weight * close

    def _standardise(self, descriptors: np.ndarray) -> np.ndarray:
        """Signed-log descriptors [m, k] on the training drugs' scale; 0 where missing."""
        if not self.descriptor_center.size:
            return np.zeros((len(descriptors), 0))
        z = (_signed_log(descriptors) - self.descriptor_center) / self.descriptor_spread
        return np.nan_to_num(z)

    def kernel(self, fingerprints: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
        """[m, n] similarity of drugs (fingerprints [m, bits], descriptors [m, k]) to the rows."""
        close = _descriptor_similarity(
            self._standardise(descriptors), self._standardise(self.descriptors)
        )
        return self._mix(
            tanimoto_cross(fingerprints, self.fingerprints), close, self.descriptor_weight
        )

    @property
    def _near(self) -> float | None:
        return None if np.isnan(self.near) else float(self.near)

    def without(self, keys: set[str] | np.ndarray | pd.Series) -> DrugEffectPrior:
        """This prior refitted, penalty chosen again, without its auxiliary drugs whose identity
        is in ``keys``: the drugs measured in a dataset the run is scored on, so no prediction
        of that dataset rests on its own responses. ``self`` when none is."""
        drop = np.zeros(len(self.keys), bool)
        drop[self.n_known :] = np.isin(self.keys[self.n_known :], np.asarray(list(keys), str))
        if not drop.any():
            return self
        keep = ~drop
        descriptors = self.descriptors[keep] if len(self.descriptors) else self.descriptors
        return replace(
            self, fingerprints=self.fingerprints[keep], effects=self.effects[keep],
            drug_ids=self.drug_ids[keep], keys=self.keys[keep], descriptors=descriptors,
        )._refit()  # fmt: skip

    @property
    def n_auxiliary(self) -> int:
        return len(self.keys) - self.n_known

    def predict(self, fingerprints: np.ndarray, descriptors: np.ndarray) -> np.ndarray:
        """Main effects [m] of drugs with fingerprints [m, bits] and descriptors [m, k]."""
        return self.kernel(fingerprints, descriptors) @ self.coef + self.offset

    def pattern(self, fingerprints: np.ndarray, cell_ids: np.ndarray) -> np.ndarray:
        """The analogues' ln IC50 pattern [n_cells, m] of drugs with fingerprints [m, bits] on
        ``cell_ids`` [n_cells]: the cell mean plus the transferred residual profile; NaN on
        cells the prior was not trained on (its pattern is unknown there)."""
        pos = pd.Series(np.arange(len(self.cell_ids)), index=self.cell_ids)
        at = pos.reindex(np.asarray(cell_ids, str)).to_numpy()
        out = np.full((len(at), len(fingerprints)), np.nan)
        known = ~np.isnan(at)
        if not known.any():
            return out
        cols = at[known].astype(np.int64)
        sim = tanimoto_cross(fingerprints, self.fingerprints[: self.n_known])
        residual = weights(sim, self.pattern_power) @ self.profiles[:, cols].astype(np.float64)
        out[known] = self.cell_means[cols][:, None] + self.pattern_scale * residual.T
        return out

    def is_new(self, keys: np.ndarray | pd.Series) -> np.ndarray:
        """[m] bool: the drug identity is none of the drugs the network trained on
        (``network_keys``; files without them: the prior's own training drugs)."""
        trained = self.network_keys if self.network_keys.size else self.keys[: self.n_known]
        return ~np.isin(np.asarray(keys, str), trained)

    def provenance(self, keys: np.ndarray, fingerprints: np.ndarray) -> pd.DataFrame:
        """Where a drug's prior level comes from, one row per drug (``keys`` [m] identities,
        ``fingerprints`` [m, bits]): ``prior_auxiliary`` (True: the drug itself is one of the
        auxiliary drugs, so its level is its own measured effect in that screen, shrunk),
        ``prior_nearest`` (the most similar drug the prior learned from, by its id in its own
        screen), ``prior_nearest_from`` (``training`` or ``auxiliary``) and
        ``prior_similarity`` (their Tanimoto similarity)."""
        sim = tanimoto_cross(fingerprints, self.fingerprints)
        best = sim.argmax(axis=1)
        source = np.where(np.arange(len(self.keys)) < self.n_known, "training", "auxiliary")
        return pd.DataFrame(
            {
                "prior_auxiliary": np.isin(np.asarray(keys, str), self.keys[self.n_known :]),
                "prior_nearest": self.drug_ids[best],
                "prior_nearest_from": source[best],
                "prior_similarity": sim[np.arange(len(keys)), best],
            }
        )

    def reference(self, cell_ids: np.ndarray) -> np.ndarray | None:
        """Positions [n_ref] of the prior's training cells among ``cell_ids``, the cells its
        level is placed on; None when there are too few (:data:`MIN_REFERENCE_CELLS`)."""
        ref = np.flatnonzero(np.isin(cell_ids, self.cell_ids))
        return ref if len(ref) >= min(MIN_REFERENCE_CELLS, len(self.cell_ids)) else None

    def shift(
        self, fingerprints: np.ndarray, descriptors: np.ndarray, net: np.ndarray, cells: np.ndarray
    ) -> np.ndarray:
        """Per-drug shift [m] that gives drugs (fingerprints [m, bits], descriptors [m, k]) the
        prior's main effect.

        ``net`` [n_ref, m] are the network's predictions on reference cells ``cells`` [n_ref]
        (ids among the prior's training cells).
        """
        means = pd.Series(self.cell_means, index=self.cell_ids)[cells].to_numpy()
        return self.predict(fingerprints, descriptors) - (net - means[:, None]).mean(0)

    def loo_residuals(self) -> np.ndarray:
        """[n_known] error of the prior on each training drug predicted without its whole
        structure (its cluster on cluster-blind folds, see ``groups``): prediction minus
        measured main effect, as for a new drug of the split."""
        tanimoto = tanimoto_cross(self.fingerprints, self.fingerprints)
        removals = _removal_sets(self.groups, tanimoto, self.n_known, self._near)
        y = self.effects - self.offset
        kernel = self.kernel(self.fingerprints, self.descriptors)
        return -_group_loo_residuals(kernel, y, self.alpha, removals)

    def summary(self) -> dict:
        """What ``summary.json`` records: the penalty and the drugs behind the prior."""
        return {
            "alpha": self.alpha,
            "training_drugs": self.n_known,
            "auxiliary_drugs": self.n_auxiliary,
            "penalty_chosen_by": "leave-one-structure-out",
            "pattern_power": self.pattern_power,
            "pattern_scale": self.pattern_scale,
            "pattern_blend": self.pattern_blend,
            "descriptor_weight": self.descriptor_weight,
        }

    # ---- persistence (plain arrays: no pickle) ----------------------------------------------
    def save(self, path: Path) -> None:
        from drp.core.files import atomic_write

        arrays = {k: np.asarray(v) for k, v in vars(self).items()} | {"format": np.asarray(FORMAT)}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, **arrays)

        atomic_write(Path(path), write)

    @classmethod
    def load(cls, path: Path) -> DrugEffectPrior:
        """Raises:
        ValueError: the file was written by an older drp (no drug identities)."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        if int(arrays.pop("format", 1)) < 2:
            raise ValueError(
                f"{path} was written by an older drp: its prior does not record which drugs it "
                "learned from, so it could leak a scored dataset's responses; train the run "
                "again (or delete the file to predict new drugs with the network's own level)"
            )
        names = ("offset", "alpha", "n_known", "near", "pattern_power", "pattern_scale")
        optional = ("pattern_blend", "descriptor_weight")
        scalars = {k: arrays[k].item() for k in (*names, *optional) if k in arrays}
        return cls(**(arrays | scalars))


def _signed_log(x: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): tames the heavy tails of sizes and complexity indices."""
    return np.sign(x) * np.log1p(np.abs(x))


def _descriptor_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """[m, n] exp(-gamma * mean squared difference) of standardised descriptors a [m, k] and
    b [n, k]; None without descriptors."""
    if a.shape[1] == 0:
        return None
    squared = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
    return np.exp(-DESCRIPTOR_GAMMA * np.maximum(squared, 0.0) / a.shape[1])


def _removal_sets(
    groups: np.ndarray,
    kernel: np.ndarray,
    n_scored: int,
    near: float | None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """For each group of the first ``n_scored`` rows: (rows left out [s], which of them are
    scored [s] bool). With ``near``, auxiliary rows (index >= n_scored) at least that similar
    to a drug of the group are left out with it."""
    out = []
    codes, _ = pd.factorize(pd.Series(groups[:n_scored]))
    for g in range(codes.max() + 1 if len(codes) else 0):
        rows = np.flatnonzero(codes == g)
        extra = np.empty(0, np.int64)
        if near is not None and kernel.shape[0] > n_scored:
            close = (kernel[rows][:, n_scored:] >= near).any(axis=0)
            extra = n_scored + np.flatnonzero(close)
        out.append((np.concatenate([rows, extra]), np.arange(len(rows) + len(extra)) < len(rows)))
    return out


def _group_loo_residuals(
    kernel: np.ndarray, y: np.ndarray, alpha: float, removals: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Closed-form residuals ``y - prediction`` [n_scored] of kernel ridge on each scored row
    when its whole removal set is left out: ``r_S = (A^-1)_SS^-1 (A^-1 y)_S`` with
    ``A = K + alpha I``."""
    inverse = np.linalg.inv(kernel + alpha * np.eye(len(y)))
    dual = inverse @ y
    n_scored = sum(int(scored.sum()) for _, scored in removals)
    out = np.empty(n_scored)
    for rows, scored in removals:
        r = np.linalg.solve(inverse[np.ix_(rows, rows)], dual[rows])
        out[rows[scored]] = r[scored]
    return out


def _group_loo_error(
    kernel: np.ndarray, y: np.ndarray, alpha: float, removals: list[tuple[np.ndarray, np.ndarray]]
) -> float:
    """Mean squared leave-group-out error over the scored rows (:func:`_group_loo_residuals`)."""
    return float(np.mean(_group_loo_residuals(kernel, y, alpha, removals) ** 2))

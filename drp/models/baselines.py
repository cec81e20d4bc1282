"""Naive and classic-ML baselines with the model contract shared by the neural models.

Contract: ``fit(ds, train, val=None) -> self`` and ``predict(ds, pairs) -> [n_pairs]`` where
``train``, ``val`` and ``pairs`` are DataFrames with ``cell_id, drug_id`` (and ``ln_ic50`` for
fitting) and ``ds`` is the :class:`~drp.featurize.store.FeaturizedDataset` holding features.
Features are looked up **by id** in the ``ds`` given to ``predict``, which may be another
dataset than the one fitted on (CCLE after GDSC2), with cells and drugs never seen at fit:
what was learned at fit (means per id, gene selection, scalers, PCA, coefficients) is applied
to that dataset's own omics and fingerprints.
Everything learned from data (means, gene selection, scalers, PCA) is fitted on the training
pairs / training cells only; ``val`` is used only to pick a hyper-parameter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Self

import numpy as np
import pandas as pd

from drp.models.expression import ExpressionFeatures

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset


class Baseline:
    """Base class: subclasses set ``name`` and implement :meth:`fit` and :meth:`predict`."""

    name: ClassVar[str] = "baseline"

    def fit(
        self, ds: FeaturizedDataset, train: pd.DataFrame, val: pd.DataFrame | None = None
    ) -> Self:
        raise NotImplementedError

    def predict(self, ds: FeaturizedDataset, pairs: pd.DataFrame) -> np.ndarray:
        """[n_pairs] float64 predicted ln IC50."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GlobalMean(Baseline):
    """The training mean for every pair."""

    name = "global_mean"

    def fit(
        self, ds: FeaturizedDataset, train: pd.DataFrame, val: pd.DataFrame | None = None
    ) -> Self:
        self.mean_ = float(train["ln_ic50"].mean())
        return self

    def predict(self, ds: FeaturizedDataset, pairs: pd.DataFrame) -> np.ndarray:
        return np.full(len(pairs), self.mean_)


class _GroupMean(Baseline):
    """Mean of the training pairs of the same ``key``; unseen keys get the global mean."""

    key: ClassVar[str]

    def fit(
        self, ds: FeaturizedDataset, train: pd.DataFrame, val: pd.DataFrame | None = None
    ) -> Self:
        self.mean_ = float(train["ln_ic50"].mean())
        self.means_ = train.groupby(self.key)["ln_ic50"].mean()
        return self

    def predict(self, ds: FeaturizedDataset, pairs: pd.DataFrame) -> np.ndarray:
        return pairs[self.key].map(self.means_).fillna(self.mean_).to_numpy(np.float64)


class DrugMean(_GroupMean):
    """Per-drug training mean (the bar a cell-blind model must clear)."""

    name = "drug_mean"
    key = "drug_id"


class CellMean(_GroupMean):
    """Per-cell training mean (the bar a drug-blind model must clear)."""

    name = "cell_mean"
    key = "cell_id"


class MeanEffects(Baseline):
    """Additive model ``mu + drug effect + cell effect`` fitted by backfitting.

    Alternating group means of the residual converge to the least-squares additive fit even
    when the cell x drug matrix is incomplete. Unseen drugs or cells get effect 0.
    """

    name = "mean_effects"

    def __init__(self, n_iter: int = 50, tol: float = 1e-8) -> None:
        self.n_iter = n_iter
        self.tol = tol

    def fit(
        self, ds: FeaturizedDataset, train: pd.DataFrame, val: pd.DataFrame | None = None
    ) -> Self:
        y = train["ln_ic50"].to_numpy(np.float64)
        c_code, cells = pd.factorize(train["cell_id"])
        d_code, drugs = pd.factorize(train["drug_id"])
        n_c, n_d = np.bincount(c_code), np.bincount(d_code)
        self.mu_ = float(y.mean())
        cell_eff, drug_eff = np.zeros(len(cells)), np.zeros(len(drugs))
        for _ in range(self.n_iter):
            new_drug = np.bincount(d_code, y - self.mu_ - cell_eff[c_code]) / n_d
            new_cell = np.bincount(c_code, y - self.mu_ - new_drug[d_code]) / n_c
            # Centre the cell effects into mu so the decomposition stays identified.
            shift = np.average(new_cell, weights=n_c)
            new_cell -= shift
            self.mu_ += shift
            delta = max(np.abs(new_drug - drug_eff).max(), np.abs(new_cell - cell_eff).max())
            drug_eff, cell_eff = new_drug, new_cell
            if delta < self.tol:
                break
        self.drug_effect_ = pd.Series(drug_eff, index=drugs)
        self.cell_effect_ = pd.Series(cell_eff, index=cells)
        return self

    def predict(self, ds: FeaturizedDataset, pairs: pd.DataFrame) -> np.ndarray:
        d = pairs["drug_id"].map(self.drug_effect_).fillna(0.0).to_numpy(np.float64)
        c = pairs["cell_id"].map(self.cell_effect_).fillna(0.0).to_numpy(np.float64)
        return self.mu_ + d + c


def _one_hot(ids: pd.Series, known: pd.Index) -> np.ndarray:
    """[len(ids), len(known)] indicator of each id among the fit-time ids (unknown: all 0)."""
    out = np.zeros((len(ids), len(known)))
    pos = known.get_indexer(pd.Index(ids))
    rows = np.flatnonzero(pos >= 0)
    out[rows, pos[rows]] = 1.0
    return out


class RidgeFingerprintExpression(Baseline):
    """Ridge regression on ``[Morgan fingerprint (2048 bits) | standardised expression]``.

    A linear model on a concatenation is ``f(drug) + g(cell)``: a mean-effects model that can
    extrapolate to unseen drugs (by fingerprint) and unseen cells (by expression). With
    ``one_hot`` (default) drug and cell indicator columns are appended, so seen drugs and cells
    can keep their own mean effect (unseen ones get indicator weight 0 and fall back on their
    features): the model then nests ``mean_effects`` rather than losing to it. The Gram
    matrix is assembled from per-drug and per-cell blocks in the row space of the training
    drugs and cells, so fitting never builds the [n_pairs, 3000] design and costs
    O((drugs + cells)^3); it equals sklearn ``Ridge`` on the explicit design. ``alpha`` is
    chosen on ``val`` from ``alphas`` when ``val`` is given (else the middle of the grid).
    """

    name = "ridge"

    def __init__(
        self,
        n_genes: int = 1000,
        alphas: tuple[float, ...] = tuple(10.0 ** np.arange(-1, 8)),
        one_hot: bool = True,
    ) -> None:
        self.n_genes = n_genes
        self.alphas = alphas
        self.one_hot = one_hot

    def fit(
        self, ds: FeaturizedDataset, train: pd.DataFrame, val: pd.DataFrame | None = None
    ) -> Self:
        c, d = ds.pair_indices(train)
        y = train["ln_ic50"].to_numpy(np.float64)
        self.cells_ = ExpressionFeatures(ds, c, self.n_genes)
        self.genes_ = self.cells_.genes_
        self.drug_ids_ = pd.Index(ds.drugs["drug_id"])
        self.cell_ids_ = pd.Index(ds.cells["cell_id"])
        self._last = None
        # [n_drugs, 2048 (+ n_drugs)], [n_cells, n_genes (+ n_cells)] rows of ``ds``
        self.drug_x_, self.cell_x_ = self._designs(ds)
        # The ridge solution lies in the row space of the training features, so each block is
        # projected onto an orthonormal basis of its training drugs' (cells') rows: an exact
        # reparametrisation with <= n_train_drugs (+ n_train_cells) unknowns instead of 3,000+.
        v_d = _row_space(self.drug_x_[np.unique(d)])
        v_c = _row_space(self.cell_x_[np.unique(c)])
        a, b = self.drug_x_ @ v_d, self.cell_x_ @ v_c  # [n_drugs, r_d], [n_cells, r_c]
        n = len(y)
        n_d = np.bincount(d, minlength=len(a)).astype(np.float64)
        n_c = np.bincount(c, minlength=len(b)).astype(np.float64)
        counts = np.zeros((len(a), len(b)))
        np.add.at(counts, (d, c), 1.0)
        # Pair-weighted feature means, and the centred Gram matrix X^T X - n m m^T.
        m = np.concatenate([n_d @ a, n_c @ b]) / n
        ab = a.T @ counts @ b
        gram = np.block([[a.T @ (a * n_d[:, None]), ab], [ab.T, b.T @ (b * n_c[:, None])]])
        gram -= n * np.outer(m, m)
        self.y_mean_ = float(y.mean())
        xty = np.concatenate([a.T @ np.bincount(d, y, len(a)), b.T @ np.bincount(c, y, len(b))])
        xty -= n * m * self.y_mean_
        from scipy import linalg

        evals, evecs = linalg.eigh(gram)  # one decomposition serves every alpha
        proj = evecs.T @ xty
        use_val = val is not None and len(val) > 0
        alphas = self.alphas if use_val else (self.alphas[len(self.alphas) // 2],)
        best = np.inf
        for alpha in alphas:
            z = evecs @ (proj / (np.maximum(evals, 0) + alpha))
            self.drug_coef_ = v_d @ z[: a.shape[1]]  # [drug features]
            self.cell_coef_ = v_c @ z[a.shape[1] :]  # [cell features]
            self.offset_ = self.y_mean_ - m @ z
            self.alpha_ = alpha
            if not use_val:
                break
            rmse = float(np.sqrt(np.mean((self.predict(ds, val) - val["ln_ic50"]) ** 2)))
            if rmse < best:
                best, chosen = rmse, (self.drug_coef_, self.cell_coef_, self.offset_, alpha)
        if use_val:
            self.drug_coef_, self.cell_coef_, self.offset_, self.alpha_ = chosen
        return self

    def _designs(self, ds: FeaturizedDataset) -> tuple[np.ndarray, np.ndarray]:
        """Drug and cell feature rows of ``ds``'s drugs and cells (indicators by fit-time id)."""
        if self._last is not None and self._last[0] is ds:
            return self._last[1]
        drug_x = ds.fingerprints.astype(np.float64)
        cell_x = self.cells_.transform(ds)
        if self.one_hot:
            drug_x = np.hstack([drug_x, _one_hot(ds.drugs["drug_id"], self.drug_ids_)])
            cell_x = np.hstack([cell_x, _one_hot(ds.cells["cell_id"], self.cell_ids_)])
        self._last = (ds, (drug_x, cell_x))
        return drug_x, cell_x

    def predict(self, ds: FeaturizedDataset, pairs: pd.DataFrame) -> np.ndarray:
        """Features by id in ``ds`` (fingerprints and expression of that dataset)."""
        c, d = ds.pair_indices(pairs)
        drug_x, cell_x = self._designs(ds)
        drug_part = drug_x @ self.drug_coef_  # [n_drugs of ds]
        cell_part = cell_x @ self.cell_coef_  # [n_cells of ds]
        return self.offset_ + drug_part[d] + cell_part[c]


def _row_space(x: np.ndarray) -> np.ndarray:
    """[n_features, min(n_rows, n_features)] orthonormal basis containing the row space of ``x``.

    QR rather than SVD (several times faster here); extra directions outside the row space,
    if ``x`` is rank-deficient, get coefficient 0 from the ridge penalty and change nothing.
    """
    return np.linalg.qr(x.T, mode="reduced")[0]


class GradientBoosting(Baseline):
    """HistGradientBoostingRegressor on ``[fingerprint PCs | expression PCs]`` (interactions).

    PCA of fingerprints is fitted on training drugs and PCA of standardised top-variance
    expression on training cells; ``val`` is the early-stopping set when given.
    """

    name = "hist_gbm"

    def __init__(
        self,
        n_genes: int = 1000,
        n_drug_pcs: int = 32,
        n_cell_pcs: int = 64,
        max_iter: int = 300,
        learning_rate: float = 0.1,
        seed: int = 0,
    ) -> None:
        self.n_genes = n_genes
        self.n_drug_pcs = n_drug_pcs
        self.n_cell_pcs = n_cell_pcs
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.seed = seed

    def _design(self, ds: FeaturizedDataset, pairs: pd.DataFrame) -> np.ndarray:
        """[n_pairs, drug PCs + cell PCs] from the features of ``ds`` (looked up by id)."""
        c, d = ds.pair_indices(pairs)
        if self._last is None or self._last[0] is not ds:
            drug_z = self.drug_pca_.transform(ds.fingerprints.astype(np.float64))
            cell_z = self.cell_pca_.transform(self.cells_.transform(ds))
            self._last = (ds, drug_z, cell_z)
        _, drug_z, cell_z = self._last
        return np.concatenate([drug_z[d], cell_z[c]], axis=1).astype(np.float32)

    def fit(
        self, ds: FeaturizedDataset, train: pd.DataFrame, val: pd.DataFrame | None = None
    ) -> Self:
        from sklearn.decomposition import PCA
        from sklearn.ensemble import HistGradientBoostingRegressor

        c, d = ds.pair_indices(train)
        train_cells, train_drugs = np.unique(c), np.unique(d)
        self.cells_ = ExpressionFeatures(ds, train_cells, self.n_genes)
        cell_x = self.cells_.transform(ds)
        fp = ds.fingerprints.astype(np.float64)
        n_dpc = min(self.n_drug_pcs, len(train_drugs) - 1)
        n_cpc = min(self.n_cell_pcs, len(train_cells) - 1)
        self.drug_pca_ = PCA(n_dpc, random_state=self.seed).fit(fp[train_drugs])
        self.cell_pca_ = PCA(n_cpc, random_state=self.seed).fit(cell_x[train_cells])
        self._last = None
        early = val is not None and len(val) > 0
        self.model_ = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            early_stopping=early,
            n_iter_no_change=20,
            random_state=self.seed,
        )
        x, y = self._design(ds, train), train["ln_ic50"].to_numpy()
        if early:
            self.model_.set_params(validation_fraction=None)
            self.model_.fit(x, y, X_val=self._design(ds, val), y_val=val["ln_ic50"].to_numpy())
        else:
            self.model_.fit(x, y)
        return self

    def predict(self, ds: FeaturizedDataset, pairs: pd.DataFrame) -> np.ndarray:
        return self.model_.predict(self._design(ds, pairs)).astype(np.float64)


BASELINES: dict[str, type[Baseline]] = {
    cls.name: cls
    for cls in (
        GlobalMean,
        DrugMean,
        CellMean,
        MeanEffects,
        RidgeFingerprintExpression,
        GradientBoosting,
    )
}
"""Baseline name -> class (construct with no arguments for the defaults)."""

DEFAULT_BASELINES = ("global_mean", "drug_mean", "cell_mean", "mean_effects", "ridge")
"""Run by default: ``hist_gbm`` takes ~70 s per GDSC2 fold on 2 cores, so it is opt-in."""

import numpy as np
import pandas as pd
import pytest

from drp.models.baselines import BASELINES, MeanEffects
from drp.splits.folds import make_folds


def _additive_pairs(ds, seed=0, drop=0.3):
    """Exactly additive ln IC50 on a random 70% of the cell x drug grid."""
    rng = np.random.default_rng(seed)
    cells, drugs = ds.cells["cell_id"].to_numpy(), ds.drugs["drug_id"].to_numpy()
    cell_eff = dict(zip(cells, rng.normal(size=len(cells)), strict=True))
    drug_eff = dict(zip(drugs, rng.normal(scale=2, size=len(drugs)), strict=True))
    grid = pd.MultiIndex.from_product([cells, drugs], names=["cell_id", "drug_id"]).to_frame(
        index=False
    )
    grid = grid[rng.random(len(grid)) > drop].reset_index(drop=True)
    grid["ln_ic50"] = 1.5 + grid["cell_id"].map(cell_eff) + grid["drug_id"].map(drug_eff)
    return grid


def test_mean_effects_recovers_an_additive_matrix(tiny_dataset):
    pairs = _additive_pairs(tiny_dataset)
    train, test = pairs.iloc[::2], pairs.iloc[1::2]  # every cell and drug seen in train
    assert set(test.cell_id) <= set(train.cell_id) and set(test.drug_id) <= set(train.drug_id)
    model = MeanEffects().fit(tiny_dataset, train)
    rmse = np.sqrt(np.mean((model.predict(tiny_dataset, test) - test["ln_ic50"]) ** 2))
    assert rmse < 1e-6


def test_mean_effects_unseen_entities_fall_back_to_zero_effect(tiny_dataset):
    pairs = _additive_pairs(tiny_dataset, drop=0.0)
    train = pairs[pairs.cell_id != "CELL00"]
    model = MeanEffects().fit(tiny_dataset, train)
    test = pairs[pairs.cell_id == "CELL00"]
    expected = model.mu_ + test["drug_id"].map(model.drug_effect_).to_numpy()
    np.testing.assert_allclose(model.predict(tiny_dataset, test), expected)


def test_group_means(tiny_dataset):
    pairs = tiny_dataset.pairs
    train, test = pairs.iloc[:50], pairs.iloc[50:]
    pred = BASELINES["drug_mean"]().fit(tiny_dataset, train).predict(tiny_dataset, test)
    expected = test["drug_id"].map(train.groupby("drug_id")["ln_ic50"].mean())
    expected = expected.fillna(train["ln_ic50"].mean())
    np.testing.assert_allclose(pred, expected)
    pred = BASELINES["global_mean"]().fit(tiny_dataset, train).predict(tiny_dataset, test)
    np.testing.assert_allclose(pred, train["ln_ic50"].mean())


@pytest.mark.parametrize("name", list(BASELINES))
def test_every_baseline_fits_blind_folds(tiny_dataset, name):
    fold = make_folds(tiny_dataset.pairs, "cell_blind", k=3, fold_seed=0)[0]
    train, val, test = fold.frames(tiny_dataset.pairs)
    model = BASELINES[name]().fit(tiny_dataset, train, val)
    pred = model.predict(tiny_dataset, test)
    assert pred.shape == (len(test),) and np.isfinite(pred).all()


def test_ridge_block_gram_matches_sklearn_on_the_explicit_design(tiny_dataset):
    from sklearn.linear_model import Ridge

    from drp.models.baselines import RidgeFingerprintExpression

    fold = make_folds(tiny_dataset.pairs, "mixed", k=3, fold_seed=0)[0]
    train, _, test = fold.frames(tiny_dataset.pairs)
    c, d = tiny_dataset.pair_indices(train)
    ct, dt = tiny_dataset.pair_indices(test)
    for one_hot in (False, True):
        model = RidgeFingerprintExpression(n_genes=10, alphas=(3.0,), one_hot=one_hot)
        model.fit(tiny_dataset, train)
        design = np.hstack([model.drug_x_[d], model.cell_x_[c]])
        reference = Ridge(alpha=3.0).fit(design, train["ln_ic50"])
        expected = reference.predict(np.hstack([model.drug_x_[dt], model.cell_x_[ct]]))
        np.testing.assert_allclose(model.predict(tiny_dataset, test), expected, atol=1e-6)
    # Gene selection and scaling use training cells only: standardised there.
    train_cells = np.unique(c)
    np.testing.assert_allclose(model.cell_x_[train_cells, :10].mean(axis=0), 0, atol=1e-9)
    assert model.drug_x_.shape == (7, 2048 + 7) and model.cell_x_.shape == (12, 10 + 12)


@pytest.mark.parametrize("name", list(BASELINES))
def test_baselines_look_features_up_by_id(tiny_dataset, name):
    """Predicting from another dataset object holding the same cells and drugs in another row
    order (omics columns permuted) gives the same predictions."""
    from tests.training.test_estimator import shuffled_copy

    fold = make_folds(tiny_dataset.pairs, "mixed", k=3, fold_seed=0)[0]
    train, val, test = fold.frames(tiny_dataset.pairs)
    model = BASELINES[name]().fit(tiny_dataset, train, val)
    expected = model.predict(tiny_dataset, test)
    np.testing.assert_allclose(
        model.predict(shuffled_copy(tiny_dataset), test), expected, atol=1e-8
    )


def test_ridge_predicts_new_cells_and_drugs_from_their_features(tiny_dataset):
    from dataclasses import replace

    from drp.models.baselines import RidgeFingerprintExpression

    pairs = tiny_dataset.pairs
    train = pairs[(pairs.cell_id != "CELL00") & (pairs.drug_id != "imatinib")]
    model = RidgeFingerprintExpression(n_genes=10).fit(tiny_dataset, train)
    test = pairs[(pairs.cell_id == "CELL00") | (pairs.drug_id == "imatinib")]
    pred = model.predict(tiny_dataset, test)
    # an unseen drug's indicator column is outside the training rows: coefficient 0
    unseen = 2048 + tiny_dataset.drug_index["imatinib"]
    assert model.drug_coef_[unseen] == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(pred).all() and np.unique(pred.round(6)).size > 1
    # the same cell under a new id in another dataset gets the same feature part
    renamed = replace(tiny_dataset, cells=tiny_dataset.cells.replace({"CELL00": "OTHER"}))
    moved = test[test.cell_id == "CELL00"].assign(cell_id="OTHER")
    np.testing.assert_allclose(
        model.predict(renamed, moved), pred[(test.cell_id == "CELL00").to_numpy()]
    )

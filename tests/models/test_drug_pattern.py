"""A new drug's cell-to-cell pattern transferred from its structural analogues: the residual
profiles, the leave-one-structure-out choice of power and scale, and how a run applies it."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from drp.core.config import ModelConfig, RunConfig, TrainConfig
from drp.models.drug_pattern import fit_pattern, residual_profiles, weights
from drp.models.drug_prior import FILE, DrugEffectPrior
from drp.splits.cache import load_or_make_folds
from drp.training.estimator import NeuralEstimator


def test_residual_profiles_remove_cell_and_drug_means_and_mark_the_unmeasured():
    train = pd.DataFrame(
        {
            "drug_id": ["a", "a", "a", "b", "b"],
            "cell_id": ["x", "y", "z", "x", "y"],
            "ln_ic50": [1.0, 2.0, 6.0, 3.0, 0.0],
        }
    )
    profiles, observed = residual_profiles(train, np.array(["a", "b"]), np.array(["x", "y", "z"]))
    # cell means: x 2, y 1, z 6; a: (-1, 1, 0) -> drug mean 0; b: (1, -1) -> drug mean 0
    np.testing.assert_allclose(profiles, [[-1.0, 1.0, 0.0], [1.0, -1.0, 0.0]])
    assert observed.tolist() == [[True, True, True], [True, True, False]]


def _planted(n_families: int = 4, per_family: int = 3, n_cells: int = 40, noise: float = 0.3):
    """Drug families: members share a fingerprint core (similarity ~0.8) and a residual
    profile; families share neither."""
    rng = np.random.default_rng(0)
    fps, profiles, groups = [], [], []
    for f in range(n_families):
        core = np.zeros(64, np.uint8)
        core[f * 16 : f * 16 + 12] = 1
        signal = rng.normal(size=n_cells)
        for m in range(per_family):
            fp = core.copy()
            fp[f * 16 + 12 + m] = 1
            fps.append(fp)
            profiles.append(signal + noise * rng.normal(size=n_cells))
            groups.append(f"{f}-{m}")
    profiles = np.asarray(profiles)
    profiles -= profiles.mean(axis=1, keepdims=True)
    fps = np.asarray(fps)
    inter = fps @ fps.T
    union = fps.sum(1)[:, None] + fps.sum(1)[None] - inter
    return inter / union, profiles.astype(np.float32), np.asarray(groups)


def test_analogues_with_a_shared_pattern_get_a_positive_scale_and_a_lower_error():
    kernel, profiles, groups = _planted()
    fit = fit_pattern(kernel, profiles, np.ones_like(profiles, bool), groups)
    assert fit.scale > 0.5
    assert fit.loo_mse < 0.5 * fit.baseline_mse
    # leaving out a whole family (its cluster) leaves no analogue: nothing to transfer
    families = np.array([g.split("-")[0] for g in groups])
    alone = fit_pattern(kernel, profiles, np.ones_like(profiles, bool), families)
    assert alone.scale < 0.1
    assert alone.loo_mse == pytest.approx(alone.baseline_mse, rel=0.05)


def test_weights_sum_to_one_and_a_drug_like_nothing_averages_everything():
    sim = np.array([[0.9, 0.1, 0.0], [0.0, 0.0, 0.0]])
    w = weights(sim, 6.0)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    assert w[0, 0] > 0.99
    np.testing.assert_allclose(w[1], 1 / 3)


def _config(tmp_path, **train) -> RunConfig:
    base = TrainConfig(
        dataset=str(tmp_path / "ds"), split="drug_blind", epochs=2, batch_size=16,
        prior_auxiliary="",
    )  # fmt: skip
    return RunConfig(model=ModelConfig(hidden=16, dropout=0.0), train=replace(base, **train))


def test_a_full_blend_gives_new_drugs_their_analogues_pattern_and_keeps_the_level(
    tiny_dataset, tmp_path
):
    ds = tiny_dataset
    fold = load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path / "folds")[0]
    train, val, test = fold.frames(ds.pairs)
    est = NeuralEstimator(_config(tmp_path, prior_pattern=1.0), "gat_edge", tmp_path / "run")
    est.fit(ds, train, val)
    prior = est.prior_
    assert prior.pattern_blend == 1.0 and prior.profiles.shape == (
        prior.n_known,
        len(prior.cell_ids),
    )
    drug = test.drug_id.iloc[0]
    grid = pd.DataFrame({"cell_id": prior.cell_ids, "drug_id": drug})
    pred = est.predict(ds, grid)
    fp, descriptors = ds.fingerprints[[ds.drug_index[drug]]], ds.descriptors[[ds.drug_index[drug]]]
    analogue = prior.pattern(fp, prior.cell_ids)[:, 0]
    # on the prior's cells the prediction is the analogues' pattern, centred on the prior level
    np.testing.assert_allclose(pred - pred.mean(), analogue - analogue.mean(), atol=1e-6)
    assert (pred - prior.cell_means).mean() == pytest.approx(prior.predict(fp, descriptors)[0])
    # a blend of 0 is the network's pattern: the same level, another ranking
    off = replace(prior, pattern_blend=0.0)
    est.prior_, est._prior_cache = off, None
    network = est.predict(ds, grid)
    assert (network - prior.cell_means).mean() == pytest.approx(prior.predict(fp, descriptors)[0])
    assert not np.allclose(network - network.mean(), pred - pred.mean())
    # the run's file carries the pattern: a reloaded run predicts the same
    loaded = NeuralEstimator.from_run(tmp_path / "run")
    np.testing.assert_allclose(loaded.predict(ds, grid), pred, atol=1e-6)
    # a prior file written before the pattern existed loads without one (blend 0)
    with np.load(tmp_path / "run" / FILE) as data:
        older = {k: data[k] for k in data.files if k not in ("profiles", "pattern_blend")}
    older["format"] = np.asarray(2)
    np.savez(tmp_path / "older.npz", **older)
    assert DrugEffectPrior.load(tmp_path / "older.npz").pattern_blend == 0.0
    with pytest.raises(ValueError, match="prior_pattern"):
        _config(tmp_path, prior_pattern=1.5).validate()

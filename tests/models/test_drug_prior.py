"""The similarity prior on a new drug's main effect: its kernel ridge, what it may learn from
an auxiliary screen, and how the estimator applies it (new drugs only)."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from drp.core.config import ModelConfig, RunConfig, TrainConfig
from drp.featurize.similarity import tanimoto_cross
from drp.models.drug_prior import (
    FILE,
    DrugEffectPrior,
    _group_loo_residuals,
    _removal_sets,
    auxiliary_effects,
    main_effects,
)
from drp.splits.cache import load_or_make_folds
from drp.training.estimator import NeuralEstimator
from drp.training.prior_inputs import drug_keys


def test_closed_form_leave_group_out_equals_refitting_without_each_group():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(9, 4))
    kernel = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1))
    y = rng.normal(size=9)
    # 6 scored rows in 4 groups (two ids of one structure, a pair of analogues), 3 auxiliary
    groups = np.array(["a", "a", "b", "c", "c", "d"])

    def refit(left_out: np.ndarray, scored: np.ndarray) -> np.ndarray:
        keep = np.setdiff1d(np.arange(9), left_out)
        coef = np.linalg.solve(kernel[np.ix_(keep, keep)] + 0.3 * np.eye(len(keep)), y[keep])
        return y[scored] - kernel[np.ix_(scored, keep)] @ coef

    expected = np.concatenate([refit(rows, rows) for rows in ([0, 1], [2], [3, 4], [5])])
    removals = _removal_sets(groups, kernel, 6, None)
    np.testing.assert_allclose(_group_loo_residuals(kernel, y, 0.3, removals), expected)
    # with a similarity threshold, auxiliary rows that close to a left-out drug go with it
    near = float(np.sort(kernel[:6, 6:].ravel())[-2])  # two (row, aux) pairs reach it
    removals = _removal_sets(groups, kernel, 6, near)
    assert sum(len(rows) for rows, _ in removals) > 6
    expected = []
    for rows, scored in removals:
        expected.append(refit(rows, rows[scored]))
    np.testing.assert_allclose(
        _group_loo_residuals(kernel, y, 0.3, removals), np.concatenate(expected)
    )


def _auxiliary_screen(ds, new_drugs: list[str]):
    """``ds`` as another screen in which ``new_drugs`` are structures ``ds`` does not hold."""
    drugs = ds.drugs.copy()
    renamed = drugs.drug_id.isin(new_drugs)
    drugs.loc[renamed, "structure_key"] = "NEWSKELETON" + drugs.loc[renamed, "drug_id"] + "-X-N"
    drugs["drug_id"] = "aux:" + drugs.drug_id
    pairs = ds.pairs.assign(drug_id="aux:" + ds.pairs.drug_id)
    return replace(ds, name="aux", drugs=drugs, pairs=pairs)


def test_auxiliary_drugs_exclude_every_dataset_structure_and_held_out_responses(tiny_dataset):
    ds = tiny_dataset
    new = ["erlotinib", "imatinib"]
    aux = _auxiliary_screen(ds, new)
    cells = sorted(ds.pairs.cell_id.unique())
    held_drug = "fluorouracil"  # a validation/test drug of ds: its structure is also in aux
    train = ds.pairs[(ds.pairs.drug_id != held_drug) & ds.pairs.cell_id.isin(cells[:8])]
    rows = auxiliary_effects(ds, aux, train)
    fps, effects = rows.fingerprints, rows.effects
    # only the two structures ds lacks become rows, with their own fingerprints, ids and keys
    index = ds.drug_index
    np.testing.assert_array_equal(fps, ds.fingerprints[[index[d] for d in new]])
    assert list(rows.drug_ids) == [f"aux:{d}" for d in new]
    assert all(k.startswith("NEWSKELETON") for k in rows.keys)
    # a held-out drug's responses in the other screen, and held-out cells, change nothing
    noisy = aux.pairs.copy()
    held = (noisy.drug_id == f"aux:{held_drug}") | ~noisy.cell_id.isin(cells[:8])
    noisy.loc[held, "ln_ic50"] += 50.0
    again = auxiliary_effects(ds, replace(aux, pairs=noisy), train).effects
    np.testing.assert_allclose(again, effects)
    # the other screen is put on this one's scale through the training structures both hold:
    # a screen whose panel lacks a potent training drug centres its cells elsewhere, and the
    # shift brings its effects back onto ds's
    panel = aux.pairs[aux.pairs.drug_id != "aux:cisplatin"]
    raw = main_effects(panel[panel.cell_id.isin(cells[:8]) & (panel.drug_id != f"aux:{held_drug}")])
    expected = main_effects(train)[new].to_numpy()
    assert not np.allclose(raw[[f"aux:{d}" for d in new]].to_numpy(), expected)
    aligned = auxiliary_effects(ds, replace(aux, pairs=panel), train).effects
    np.testing.assert_allclose(aligned, expected)
    # on cluster-blind folds, analogues of a held-out drug are left out of the rows too
    sims = tanimoto_cross(fps, ds.fingerprints[[index[held_drug]]])[:, 0]
    assert sims[0] != sims[1]
    near_fps = auxiliary_effects(ds, aux, train, held_out_similarity=float(sims.max())).fingerprints
    np.testing.assert_array_equal(near_fps, fps[sims < sims.max()])


def _config(tmp_path, **train) -> RunConfig:
    base = TrainConfig(
        dataset=str(tmp_path / "ds"), split="drug_blind", epochs=2, batch_size=16,
        prior_auxiliary="",
    )  # fmt: skip
    return RunConfig(model=ModelConfig(hidden=16, dropout=0.0), train=replace(base, **train))


def test_new_drugs_take_the_prior_main_effect_and_known_drugs_keep_the_network(
    tiny_dataset, tmp_path
):
    ds = tiny_dataset
    fold = load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path / "folds")[0]
    train, val, test = fold.frames(ds.pairs)
    est = NeuralEstimator(_config(tmp_path), "gat_edge", tmp_path / "run").fit(ds, train, val)
    prior = est.prior_
    assert prior is not None and (tmp_path / "run" / FILE).exists()
    # the prior learns from the validation drugs as well: they are no test drug
    both = pd.concat([train, val])
    assert est.summary_["drug_prior"]["training_drugs"] == both.drug_id.nunique()
    assert set(prior.drug_ids[: prior.n_known]) == set(both.drug_id)
    # ... but they stay new to the run (the network never trained on them), and the saved file
    # keeps that
    assert prior.is_new(drug_keys(ds, val.drug_id.unique())).all()
    assert not prior.is_new(drug_keys(ds, train.drug_id.unique())).any()
    loaded_prior = DrugEffectPrior.load(tmp_path / "run" / FILE)
    np.testing.assert_array_equal(loaded_prior.network_keys, prior.network_keys)
    assert est.summary_["drug_prior"]["val_rmse"] > 0  # validation drugs are new here
    with_prior = est.predict(ds, test)
    seen = train.drop_duplicates("drug_id").head(3)
    known = pd.DataFrame({"cell_id": seen.cell_id.to_numpy(), "drug_id": seen.drug_id.to_numpy()})
    known_pred = est.predict(ds, known)
    est.prior_ = None
    network = est.predict(ds, test)
    np.testing.assert_array_equal(est.predict(ds, known), known_pred)  # untouched
    assert not np.allclose(with_prior, network)
    # on the reference cells, a new drug's mean level over the cell means is the prior's
    est.prior_ = prior
    drug = test.drug_id.iloc[0]
    grid = pd.DataFrame({"cell_id": prior.cell_ids, "drug_id": drug})
    level = est.predict(ds, grid) - prior.cell_means
    row = [ds.drug_index[drug]]
    assert level.mean() == pytest.approx(
        prior.predict(ds.fingerprints[row], ds.descriptors[row])[0]
    )
    # with too few of the run's training cells to place its level, a new drug keeps the
    # network's prediction, with a warning
    tensors = est.entity_tensors(ds)
    c, d = ds.pair_indices(test)
    elsewhere = np.array([f"other-{i}" for i in range(len(ds.cells))])
    with pytest.warns(UserWarning, match="training cells"):
        np.testing.assert_allclose(
            est.predict_at(tensors, elsewhere, c, d, drug_keys(ds), prior), network, atol=1e-9
        )
    # the saved run predicts the same, and its validation file and calibration use the prior
    loaded = NeuralEstimator.from_run(tmp_path / "run")
    np.testing.assert_allclose(loaded.predict(ds, test), with_prior, atol=1e-6)
    # the validation file predicts each validation drug as new: with the prior of the
    # training pairs alone, not the saved one (which knows them)
    saved_val = pd.read_parquet(tmp_path / "run" / "predictions_val.parquet")
    est.prior_ = DrugEffectPrior.fit(ds, train, pattern_blend=prior.pattern_blend)
    np.testing.assert_allclose(saved_val.y_pred, est.predict(ds, val), atol=1e-6)
    est.prior_ = prior
    assert not np.allclose(saved_val.y_pred, est.predict(ds, val), atol=1e-3)
    # a request holding every reference cell (a screen) and a single pair agree
    one = grid.iloc[[3]]
    np.testing.assert_allclose(est.predict(ds, one), est.predict(ds, grid)[[3]], atol=1e-6)


def test_prior_round_trips_and_can_be_switched_off(tiny_dataset, tmp_path):
    ds = tiny_dataset
    prior = DrugEffectPrior.fit(ds, ds.pairs[ds.pairs.drug_id != "imatinib"])
    prior.save(tmp_path / FILE)
    loaded = DrugEffectPrior.load(tmp_path / FILE)
    np.testing.assert_allclose(
        loaded.predict(ds.fingerprints, ds.descriptors),
        prior.predict(ds.fingerprints, ds.descriptors),
    )
    assert loaded.n_known == prior.n_known == ds.pairs.drug_id.nunique() - 1
    assert list(loaded.is_new(drug_keys(ds, ["imatinib", "erlotinib"]))) == [True, False]
    # a prior file of an older drp (no drug identities) is refused, not half-used
    np.savez(tmp_path / "old.npz", coef=prior.coef, offset=prior.offset)
    with pytest.raises(ValueError, match="older drp"):
        DrugEffectPrior.load(tmp_path / "old.npz")
    effects = main_effects(ds.pairs)
    assert effects.mean() == pytest.approx(0.0, abs=1e-9)
    fold = load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path / "folds")[0]
    train, val, _ = fold.frames(ds.pairs)
    off = _config(tmp_path, drug_prior="none")
    (tmp_path / "off").mkdir()
    prior.save(tmp_path / "off" / FILE)  # left by an earlier config: removed by this fit
    est = NeuralEstimator(off, "gat_edge", tmp_path / "off").fit(ds, train, val)
    assert est.prior_ is None and not (tmp_path / "off" / FILE).exists()
    # at prediction time the sidecar file, not the training config, applies the prior: a
    # checkpoint and its files describe themselves
    assert NeuralEstimator.from_run(tmp_path / "off").prior_ is None
    prior.save(tmp_path / "off" / FILE)
    assert NeuralEstimator.from_run(tmp_path / "off").prior_.n_known == prior.n_known
    with pytest.raises(ValueError, match="drug_prior"):
        replace(off, train=replace(off.train, drug_prior="kernel")).validate()


def test_missing_auxiliary_screen_is_reported_not_silent(tiny_dataset, tmp_path):
    ds = tiny_dataset
    fold = load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path / "folds")[0]
    train, val, _ = fold.frames(ds.pairs)
    cfg = _config(tmp_path, prior_auxiliary="gdsc1")
    with pytest.warns(UserWarning, match="not featurized"):
        est = NeuralEstimator(cfg, "gat_edge").fit(ds, train, val)
    assert "not featurized" in est.summary_["drug_prior"]["auxiliary"]
    assert est.summary_["drug_prior"]["auxiliary_drugs"] == 0


def test_auxiliary_screen_given_by_path_adds_its_new_structures(tiny_dataset, tmp_path):
    ds = tiny_dataset
    _auxiliary_screen(ds, ["erlotinib", "imatinib"]).save(tmp_path / "aux")
    fold = load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path / "folds")[0]
    train, val, _ = fold.frames(ds.pairs)
    cfg = _config(tmp_path, prior_auxiliary=str(tmp_path / "aux"))
    est = NeuralEstimator(cfg, "gat_edge").fit(ds, train, val)
    assert est.summary_["drug_prior"]["auxiliary_drugs"] == 2
    assert est.summary_["drug_prior"]["auxiliary"] == str(tmp_path / "aux")
    # a cluster-blind config also leaves out auxiliary analogues of the held-out drugs
    held = [ds.drug_index[d] for d in set(ds.drugs.drug_id) - set(train.drug_id)]
    new_fps = ds.fingerprints[[ds.drug_index[d] for d in ("erlotinib", "imatinib")]]
    far = int((tanimoto_cross(new_fps, ds.fingerprints[held]).max(axis=1) < 0.4).sum())
    clustered = replace(cfg, train=replace(cfg.train, split="cluster_blind"))
    est = NeuralEstimator(clustered, "gat_edge").fit(ds, train, val)
    assert far == 1 and est.summary_["drug_prior"]["auxiliary_drugs"] == far


def test_auxiliary_screen_from_an_older_drp_is_refused_before_training(tiny_dataset, tmp_path):
    ds = tiny_dataset
    old = _auxiliary_screen(ds, ["imatinib"])
    replace(old, drugs=old.drugs.drop(columns="structure_key")).save(tmp_path / "old")
    fold = load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path / "folds")[0]
    train, val, _ = fold.frames(ds.pairs)
    cfg = _config(tmp_path, prior_auxiliary=str(tmp_path / "old"))
    with pytest.raises(ValueError, match="older drp"):
        NeuralEstimator(cfg, "gat_edge", tmp_path / "run").fit(ds, train, val)
    assert not (tmp_path / "run" / "best.pt").exists()  # no training was spent on it


def _stereo_variant(ds, drug: str, new_id: str):
    """``ds`` plus ``new_id``: a stereoisomer of ``drug`` (same skeleton, other InChIKey)."""
    row = ds.drugs[ds.drugs.drug_id == drug].copy()
    key = row.structure_key.iloc[0]
    row["drug_id"] = new_id
    row["structure_key"] = key[:15] + "ZZZZZZZZSA" + key[25:]
    pairs = ds.pairs[ds.pairs.drug_id == drug].assign(drug_id=new_id)
    graphs = list(ds.graphs) + [ds.graphs[ds.drug_index[drug]]]
    fps = np.vstack([ds.fingerprints, ds.fingerprints[[ds.drug_index[drug]]]])
    descriptors = np.vstack([ds.descriptors, ds.descriptors[[ds.drug_index[drug]]]])
    return replace(
        ds, drugs=pd.concat([ds.drugs, row], ignore_index=True),
        pairs=pd.concat([ds.pairs, pairs], ignore_index=True), graphs=graphs, fingerprints=fps,
        descriptors=descriptors,
    )  # fmt: skip


def test_one_identity_holds_stereoisomers_together_in_folds_and_the_prior(tiny_dataset, tmp_path):
    ds = _stereo_variant(tiny_dataset, "erlotinib", "erlotinib_epimer")
    keys = drug_keys(ds, ["erlotinib", "erlotinib_epimer"])
    assert keys[0] == keys[1]
    for fold in load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=None):
        train, val, test = fold.frames(ds.pairs)
        parts = [
            {"erlotinib", "erlotinib_epimer"} & set(part.drug_id) for part in (train, val, test)
        ]
        assert sum(bool(p) for p in parts) == 1  # both ids on one side
        assert all(len(p) in (0, 2) for p in parts)
    # the prior calls the epimer of a training drug known, and its penalty leaves both out
    train = ds.pairs[ds.pairs.drug_id != "imatinib"]
    prior = DrugEffectPrior.fit(ds, train)
    assert list(prior.is_new(keys)) == [False, False]
    both = np.flatnonzero(np.isin(prior.drug_ids, ["erlotinib", "erlotinib_epimer"]))
    assert len(set(prior.groups[both])) == 1


def test_prior_never_scores_a_dataset_with_its_own_responses(tiny_dataset, tmp_path):
    """The +50 test: shifting the scored dataset's responses moves no prediction."""
    ds = tiny_dataset
    new = ["erlotinib", "imatinib"]
    target = _auxiliary_screen(ds, new)  # the auxiliary screen is also the dataset scored
    fold = load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path / "folds")[0]
    train, val, _ = fold.frames(ds.pairs)
    target.save(tmp_path / "aux")
    cfg = _config(tmp_path, prior_auxiliary=str(tmp_path / "aux"))
    est = NeuralEstimator(cfg, "gat_edge").fit(ds, train, val)
    assert est.prior_.n_auxiliary == 2
    shifted = target.pairs.copy()
    moved = shifted.drug_id.isin([f"aux:{d}" for d in new])
    shifted.loc[moved, "ln_ic50"] += 50.0
    leaky = replace(  # on what the run's prior learned from: training + validation
        DrugEffectPrior.fit(
            ds, pd.concat([train, val]), replace(target, pairs=shifted),
            pattern_blend=est.prior_.pattern_blend,
        ),
        network_keys=est.prior_.network_keys,
    )  # fmt: skip
    scored = target.pairs[["cell_id", "drug_id"]]
    # the prior fitted on the shifted screen differs where it learned from it ...
    rows = [target.drug_index[f"aux:{d}"] for d in new]
    aux_drugs = target.fingerprints[rows], target.descriptors[rows]
    assert not np.allclose(leaky.predict(*aux_drugs), est.prior_.predict(*aux_drugs))
    before = est.predict(target, scored)
    est.prior_, est._prior_cache = leaky, None
    after = est.predict(target, scored)
    # ... but scoring the screen leaves its drugs out: not one prediction moves
    np.testing.assert_array_equal(after, before)
    assert est.prior_for(target).n_auxiliary == 0
    # on its own dataset (which measured neither) the run still uses both auxiliary drugs
    assert est.prior_for(ds).n_auxiliary == 2


def test_new_compounds_say_where_their_level_comes_from(tiny_dataset, tmp_path):
    ds = tiny_dataset
    aux = _auxiliary_screen(ds, ["erlotinib", "imatinib"])
    train = ds.pairs[~ds.pairs.drug_id.isin(["erlotinib", "imatinib"])]
    prior = DrugEffectPrior.fit(ds, train, aux)
    keys = np.array([drug_keys(aux, ["aux:imatinib"])[0], "OTHER"])
    fps = ds.fingerprints[[ds.drug_index["imatinib"], ds.drug_index["cisplatin"]]]
    table = prior.provenance(keys, fps)
    assert list(table.prior_auxiliary) == [True, False]
    assert table.prior_nearest.iloc[0] == "aux:imatinib"
    assert list(table.prior_nearest_from) == ["auxiliary", "training"]
    assert table.prior_similarity.iloc[0] == pytest.approx(1.0)
    assert table.prior_nearest.iloc[1] == "cisplatin"


def _synthetic_prior(rng: np.random.Generator, effects: np.ndarray, descriptors: np.ndarray):
    """A prior over drugs with random (uninformative) fingerprints and the given descriptors."""
    n = len(effects)
    fps = (rng.random((n, 256)) < 0.1).astype(np.uint8)
    signed = np.sign(descriptors) * np.log1p(np.abs(descriptors))
    ids = np.array([f"d{i}" for i in range(n)])
    return DrugEffectPrior(
        fps, effects, ids, ids, ids, np.nan, np.zeros(n), 0.0, 0.1, n,
        np.array(["c0"]), np.zeros(1), descriptors=descriptors,
        descriptor_center=signed.mean(0), descriptor_spread=signed.std(0),
    )._refit()  # fmt: skip


def test_descriptor_similarity_enters_the_kernel_only_when_it_predicts_the_level():
    rng = np.random.default_rng(0)
    descriptors = rng.normal(size=(80, 5)) * [100, 1, 1, 1, 1] + [400, 0, 0, 0, 0]
    size = np.log1p(descriptors[:, 0])
    by_size = _synthetic_prior(rng, 4 * (size - size.mean()), descriptors)
    assert by_size.descriptor_weight > 0  # chosen leave-one-out, with the penalty
    tanimoto_only = replace(by_size, descriptor_weight=0.0)._refit()
    assert by_size.descriptor_weight == tanimoto_only.descriptor_weight  # the choice is refitted
    # the kernel's descriptor part predicts new drugs' levels from their size
    new = rng.normal(size=(20, 5)) * [100, 1, 1, 1, 1] + [400, 0, 0, 0, 0]
    truth = 4 * (np.log1p(new[:, 0]) - size.mean())
    fps = (rng.random((20, 256)) < 0.1).astype(np.uint8)
    assert np.corrcoef(by_size.predict(fps, new), truth)[0, 1] > 0.8
    # levels unrelated to the descriptors: the weight stays 0 (Tanimoto alone)
    noise = _synthetic_prior(rng, rng.normal(size=80), descriptors)
    assert noise.descriptor_weight == 0.0


def test_a_prior_saved_without_descriptors_loads_as_tanimoto_alone(tiny_dataset, tmp_path):
    ds = tiny_dataset
    prior = DrugEffectPrior.fit(ds, ds.pairs[ds.pairs.drug_id != "imatinib"])
    older = replace(
        prior, descriptors=np.zeros((0, 0)), descriptor_center=np.zeros(0),
        descriptor_spread=np.zeros(0), descriptor_weight=0.0,
    )._refit()  # fmt: skip
    older.save(tmp_path / FILE)
    with np.load(tmp_path / FILE) as data:  # a format-3 file: no descriptor arrays at all
        arrays = {k: data[k] for k in data.files if not k.startswith("descriptor")}
    np.savez(tmp_path / FILE, **arrays)
    loaded = DrugEffectPrior.load(tmp_path / FILE)
    assert loaded.descriptor_weight == 0.0
    kernel = tanimoto_cross(ds.fingerprints, loaded.fingerprints)
    np.testing.assert_allclose(
        loaded.predict(ds.fingerprints, ds.descriptors), kernel @ loaded.coef + loaded.offset
    )

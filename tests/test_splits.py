import numpy as np
import pandas as pd
import pytest

from drp.data.splits import (
    SPLITS,
    Fold,
    FoldCacheError,
    LeakageError,
    check_fold,
    cross_dataset_split,
    load_or_make_folds,
    make_folds,
    match_drugs,
)


def _entities(pairs, fold, part, key, tissues=None):
    rows = pairs.iloc[getattr(fold, part)]
    if key == "tissue":
        return set(rows["cell_id"].map(tissues))
    return set(rows[key])


@pytest.mark.parametrize("split", SPLITS)
def test_parts_are_disjoint_and_cover_pairs(tiny_dataset, split):
    pairs = tiny_dataset.pairs
    folds = make_folds(pairs, split, k=3, seed=0, tissues=tiny_dataset.tissues)
    assert len(folds) == 3
    tests = np.concatenate([f.test for f in folds])
    assert len(tests) == len(set(tests)) == len(pairs)  # each pair tested exactly once
    for f in folds:
        parts = [f.train, f.val, f.test]
        assert sum(map(len, parts)) == len(pairs)
        assert len(np.unique(np.concatenate(parts))) == len(pairs)
        assert min(map(len, parts)) > 0


@pytest.mark.parametrize(
    ("split", "key"),
    [("cell_blind", "cell_id"), ("drug_blind", "drug_id"), ("tissue_blind", "tissue")],
)
def test_blind_splits_share_no_entity(tiny_dataset, split, key):
    pairs, tissues = tiny_dataset.pairs, tiny_dataset.tissues
    folds = make_folds(pairs, split, k=3, seed=1, tissues=tissues)
    tested = set()
    for f in folds:
        train = _entities(pairs, f, "train", key, tissues)
        val = _entities(pairs, f, "val", key, tissues)
        test = _entities(pairs, f, "test", key, tissues)
        assert not train & test
        assert not train & val
        assert not val & test
        assert val  # the validation part is blind too, and not empty
        assert not tested & test  # a held-out entity is tested in one fold only
        tested |= test


def test_tissue_blind_excludes_cells_without_tissue(tiny_dataset):
    tissues = tiny_dataset.tissues.copy()
    tissues.iloc[0] = np.nan
    folds = make_folds(tiny_dataset.pairs, "tissue_blind", k=3, seed=0, tissues=tissues)
    n_missing = int((tiny_dataset.pairs["cell_id"] == tissues.index[0]).sum())
    assert folds[0].n_excluded == n_missing > 0
    for f in folds:
        assert not set(f.excluded) & set(np.concatenate([f.train, f.val, f.test]))


def test_too_few_entities_is_a_clear_error(tiny_dataset):
    with pytest.raises(ValueError, match="needs at least 5 tissue"):
        make_folds(tiny_dataset.pairs, "tissue_blind", k=5, tissues=tiny_dataset.tissues)
    with pytest.raises(ValueError, match="unknown split"):
        make_folds(tiny_dataset.pairs, "random")


def test_same_seed_same_folds_other_seed_other_folds(tiny_dataset):
    pairs = tiny_dataset.pairs
    for split in ("mixed", "cell_blind"):
        a = make_folds(pairs, split, k=3, seed=0)
        b = make_folds(pairs, split, k=3, seed=0)
        c = make_folds(pairs, split, k=3, seed=7)
        for fa, fb in zip(a, b, strict=True):
            for part in ("train", "val", "test"):
                np.testing.assert_array_equal(getattr(fa, part), getattr(fb, part))
        assert any(not np.array_equal(fa.test, fc.test) for fa, fc in zip(a, c, strict=True))


def test_leakage_is_detected(tiny_dataset):
    pairs = tiny_dataset.pairs
    fold = make_folds(pairs, "cell_blind", k=3, seed=0)[0]
    # Move one training pair of a test cell into train: same cell on both sides.
    test_cell = pairs.iloc[fold.test[0]]["cell_id"]
    other_rows = np.flatnonzero(pairs["cell_id"] == test_cell)
    leaky = Fold(0, np.append(fold.train, other_rows[:1]), fold.val, fold.test, "cell_blind", 0)
    with pytest.raises(LeakageError):
        check_fold(pairs, leaky)
    mixed = Fold(0, np.array([0, 1]), np.array([1]), np.array([2]), "mixed", 0)
    with pytest.raises(LeakageError, match="train and val"):
        check_fold(pairs, mixed)


def test_fold_cache_round_trip(tiny_dataset, tmp_path):
    folds = load_or_make_folds(tiny_dataset, "drug_blind", k=3, seed=2, cache_dir=tmp_path)
    path = tmp_path / "fixture_drug_blind_k3_s2.parquet"
    assert path.exists() and path.with_suffix(".json").exists()
    cached = pd.read_parquet(path)
    assert list(cached.columns) == ["cell_id", "drug_id", "fold_0", "fold_1", "fold_2"]
    # Reading back maps by (cell_id, drug_id), so a shuffled pairs table gets the same pairs.
    tiny_dataset.pairs = tiny_dataset.pairs.sample(frac=1, random_state=0).reset_index(drop=True)
    again = load_or_make_folds(tiny_dataset, "drug_blind", k=3, seed=2, cache_dir=tmp_path)
    original = pd.read_parquet(path)
    for f in again:
        test = tiny_dataset.pairs.iloc[f.test][["cell_id", "drug_id"]]
        expected = original.loc[original[f"fold_{f.index}"] == "test", ["cell_id", "drug_id"]]
        assert set(map(tuple, test.to_numpy())) == set(map(tuple, expected.to_numpy()))
    assert len(folds) == len(again) == 3


def test_fold_cache_rejects_other_pairs(tiny_dataset, tmp_path):
    load_or_make_folds(tiny_dataset, "mixed", k=3, seed=0, cache_dir=tmp_path)
    tiny_dataset.pairs = tiny_dataset.pairs.iloc[1:].reset_index(drop=True)
    with pytest.raises(FoldCacheError, match="delete the file"):
        load_or_make_folds(tiny_dataset, "mixed", k=3, seed=0, cache_dir=tmp_path)


def test_cross_dataset_keeps_unseen_pairs_with_features(tiny_dataset):
    train = tiny_dataset.pairs.iloc[:40].reset_index(drop=True)
    other = pd.concat(
        [
            tiny_dataset.pairs.iloc[30:],  # 10 pairs seen in training, the rest unseen
            pd.DataFrame({"cell_id": ["NEWCELL"], "drug_id": ["aspirin"], "ln_ic50": [1.0]}),
        ],
        ignore_index=True,
    )
    other["censored"] = other["ln_ic50"] > other["ln_ic50"].quantile(0.8)
    cross = cross_dataset_split(
        train, other, tiny_dataset.cells["cell_id"], tiny_dataset.drugs["drug_id"], seed=0
    )
    assert len(cross.test_pairs) == len(tiny_dataset.pairs) - 40
    assert cross.dropped == {
        "cell without features": 1,
        "drug without features": 0,
        "pair in training dataset": 10,
    }
    assert "censored" in cross.test_pairs and not cross.test_pairs.seen.any()
    assert len(cross.fold.train) + len(cross.fold.val) == 40


def test_match_drugs_by_id_then_smiles():
    train = pd.DataFrame(
        {"drug_id": ["PLX-4720", "A", "B"], "smiles_standardised": ["CCO", "CCN", "CCC"]}
    )
    other = pd.DataFrame(
        {"drug_id": ["PLX4720", "A", "Z", "B"], "smiles_standardised": ["CCO", "xx", "CCCl", None]}
    )
    assert match_drugs(train, other) == {"PLX4720": "PLX-4720", "A": "A", "B": "B"}

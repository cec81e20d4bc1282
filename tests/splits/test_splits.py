import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drp.core.choices import SPLITS
from drp.splits.bootstrap import bootstrap_groups
from drp.splits.cache import FOLD_FORMAT, FoldCacheError, load_or_make_folds
from drp.splits.cross_dataset import CROSS_SUBSETS, cross_dataset_split, match_drugs
from drp.splits.entities import Entities
from drp.splits.fold import Fold
from drp.splits.folds import make_folds
from drp.splits.leakage import LeakageError, check_fold
from tests.conftest import make_dataset, write_fixture_tables

# Hand-assigned, so these tests test the splits and not the featurizer's keys: aspirin and its
# sodium salt are one structure; erlotinib and imatinib (both kinase inhibitors) one cluster.
STRUCTURES = {
    "aspirin": "ASPIRIN",
    "aspirin_sodium": "ASPIRIN",
    "cisplatin": "CISPLATIN",
    "tetramethylammonium": "TMA",
    "erlotinib": "ERLOTINIB",
    "fluorouracil": "FLUOROURACIL",
    "imatinib": "IMATINIB",
    "caffeine": "CAFFEINE",
}
CLUSTERS = {
    "ASPIRIN": 0,
    "CISPLATIN": 1,
    "TMA": 2,
    "ERLOTINIB": 3,
    "IMATINIB": 3,
    "FLUOROURACIL": 4,
    "CAFFEINE": 5,
}


def with_structures(ds):
    """Set ``structure_key`` / ``structure_cluster`` of the fixture from the hand-made maps."""
    key = ds.drugs["drug_id"].map(STRUCTURES)
    ds.drugs = ds.drugs.assign(structure_key=key, structure_cluster=key.map(CLUSTERS))
    ds.manifest["clustering"] = {"method": "hand-made", "threshold": None}
    return ds


@pytest.fixture
def ds(tiny_dataset):
    return with_structures(tiny_dataset)


def _entities(pairs, fold, part, key, ds):
    rows = pairs.iloc[getattr(fold, part)]
    return set(Entities.of(ds).pair_keys(rows, key))


@pytest.mark.parametrize("split", SPLITS)
def test_parts_are_disjoint_and_cover_pairs(ds, split):
    pairs = ds.pairs
    folds = make_folds(pairs, split, k=3, fold_seed=0, entities=Entities.of(ds))
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
    [
        ("cell_blind", "cell_id"),
        ("drug_blind", "structure_key"),
        ("cluster_blind", "structure_cluster"),
        ("tissue_blind", "tissue"),
    ],
)
def test_blind_splits_share_no_entity(ds, split, key):
    pairs = ds.pairs
    folds = make_folds(pairs, split, k=3, fold_seed=1, entities=Entities.of(ds))
    tested = set()
    for f in folds:
        train = _entities(pairs, f, "train", key, ds)
        val = _entities(pairs, f, "val", key, ds)
        test = _entities(pairs, f, "test", key, ds)
        assert not train & test
        assert not train & val
        assert not val & test
        assert val  # the validation part is blind too, and not empty
        assert not tested & test  # a held-out entity is tested in one fold only
        tested |= test


@pytest.mark.parametrize(
    ("split", "together"),
    [("drug_blind", {"aspirin", "aspirin_sodium"}), ("cluster_blind", {"erlotinib", "imatinib"})],
)
def test_one_structure_or_cluster_never_straddles_parts(ds, split, together):
    for seed in range(6):
        for f in make_folds(ds.pairs, split, k=3, fold_seed=seed, entities=Entities.of(ds)):
            parts = {
                part: set(ds.pairs.iloc[getattr(f, part)]["drug_id"]) & together
                for part in ("train", "val", "test")
            }
            assert sum(bool(v) for v in parts.values()) == 1, (seed, parts)
            assert together in parts.values()


def test_check_fold_asserts_structure_and_cluster_not_id(ds):
    pairs = ds.pairs
    drug = pairs["drug_id"].to_numpy()
    # Grouped by id, aspirin in train and its salt in test: no drug id is shared...
    test = np.flatnonzero(drug == "aspirin_sodium")
    val = np.flatnonzero(drug == "cisplatin")
    train = np.setdiff1d(np.arange(len(pairs)), np.concatenate([test, val]))
    by_id = Fold(0, train, val, test, "drug_blind", 0)
    with pytest.raises(LeakageError, match="structure_key values in both test and train"):
        check_fold(pairs, by_id, Entities.of(ds))
    # ...and erlotinib vs imatinib: distinct structures, one cluster.
    test = np.flatnonzero(drug == "imatinib")
    train = np.setdiff1d(np.arange(len(pairs)), np.concatenate([test, val]))
    check_fold(pairs, Fold(0, train, val, test, "drug_blind", 0), Entities.of(ds))
    with pytest.raises(LeakageError, match="structure_cluster values in both test and train"):
        check_fold(pairs, Fold(0, train, val, test, "cluster_blind", 0), Entities.of(ds))


@pytest.mark.parametrize("split", ["drug_blind", "cluster_blind"])
def test_missing_structure_columns_ask_to_refeaturize(tiny_dataset, split):
    # a store featurized before structure keys existed
    tiny_dataset.drugs = tiny_dataset.drugs.drop(columns=["structure_key", "structure_cluster"])
    with pytest.raises(ValueError, match="re-run `drp featurize`"):
        make_folds(tiny_dataset.pairs, split, k=3, entities=Entities.of(tiny_dataset))
    with pytest.raises(ValueError, match="re-run `drp featurize`"):
        load_or_make_folds(tiny_dataset, split, k=3)
    with_structures(tiny_dataset)
    tiny_dataset.drugs.loc[tiny_dataset.drugs["drug_id"] == "imatinib", "structure_key"] = None
    tiny_dataset.drugs.loc[tiny_dataset.drugs["drug_id"] == "imatinib", "structure_cluster"] = None
    with pytest.raises(ValueError, match=r"drug id\(s\) \['imatinib'\]"):
        load_or_make_folds(tiny_dataset, split, k=3)


def test_tissue_blind_excludes_cells_without_tissue(ds):
    ds.cells.loc[0, "tissue"] = np.nan
    folds = make_folds(ds.pairs, "tissue_blind", k=3, fold_seed=0, entities=Entities.of(ds))
    n_missing = int((ds.pairs["cell_id"] == ds.cells.loc[0, "cell_id"]).sum())
    assert folds[0].n_excluded == n_missing > 0
    for f in folds:
        assert not set(f.excluded) & set(np.concatenate([f.train, f.val, f.test]))


def test_too_few_entities_is_a_clear_error(ds):
    with pytest.raises(ValueError, match="needs at least 5 tissue"):
        make_folds(ds.pairs, "tissue_blind", k=5, entities=Entities.of(ds))
    with pytest.raises(ValueError, match="needs at least 6 structure_cluster"):
        make_folds(ds.pairs, "cluster_blind", k=6, entities=Entities.of(ds))
    with pytest.raises(ValueError, match="unknown split"):
        make_folds(ds.pairs, "random")
    with pytest.raises(ValueError, match="tissue_blind needs tissues"):
        make_folds(ds.pairs, "tissue_blind", k=3)


def test_same_seed_same_folds_other_seed_other_folds(ds):
    pairs = ds.pairs
    for split in ("mixed", "cell_blind", "drug_blind"):
        a = make_folds(pairs, split, k=3, fold_seed=0, entities=Entities.of(ds))
        b = make_folds(pairs, split, k=3, fold_seed=0, entities=Entities.of(ds))
        c = make_folds(pairs, split, k=3, fold_seed=7, entities=Entities.of(ds))
        for fa, fb in zip(a, b, strict=True):
            for part in ("train", "val", "test"):
                np.testing.assert_array_equal(getattr(fa, part), getattr(fb, part))
        assert any(not np.array_equal(fa.test, fc.test) for fa, fc in zip(a, c, strict=True))


def test_leakage_is_detected(ds):
    pairs = ds.pairs
    fold = make_folds(pairs, "cell_blind", k=3, fold_seed=0)[0]
    # Move one test pair into train: its cell is then on both sides.
    moved = fold.test[0]
    leaky = Fold(0, np.append(fold.train, moved), fold.val, fold.test[1:], "cell_blind", 0)
    with pytest.raises(LeakageError, match="cell_id values"):
        check_fold(pairs, leaky)
    mixed = Fold(0, np.array([0, 1]), np.array([1]), np.array([2]), "mixed", 0)
    with pytest.raises(LeakageError, match="train and val"):
        check_fold(pairs, mixed)


def test_bootstrap_groups_are_the_held_out_units(ds):
    pairs = ds.pairs.iloc[[0, 1, 2, 3, 4, 5, 6, 7]]
    assert bootstrap_groups(ds, "mixed", pairs) == (None, "pair")
    assert bootstrap_groups(ds, "cross_dataset:ccle", pairs) == (None, "pair")
    cells, unit = bootstrap_groups(ds, "cell_blind", pairs)
    assert unit == "cell" and list(cells) == list(pairs["cell_id"])
    structures, unit = bootstrap_groups(ds, "drug_blind", pairs)
    assert unit == "drug structure"
    assert list(structures) == [STRUCTURES[d] for d in pairs["drug_id"]]
    clusters, unit = bootstrap_groups(ds, "cluster_blind", pairs)
    assert unit == "drug cluster"
    assert list(clusters) == [CLUSTERS[STRUCTURES[d]] for d in pairs["drug_id"]]
    tissues, unit = bootstrap_groups(ds, "tissue_blind", pairs)
    assert unit == "tissue" and list(tissues) == list(pairs["cell_id"].map(ds.tissues))
    with pytest.raises(ValueError, match="unknown split"):
        bootstrap_groups(ds, "random", pairs)


# ---- fold cache -------------------------------------------------------------------------------
def test_fold_cache_round_trip(ds, tmp_path):
    tmp_path = tmp_path / "folds"  # only the cache files in it (no temporary file left)
    folds = load_or_make_folds(ds, "drug_blind", k=3, fold_seed=2, cache_dir=tmp_path)
    path = tmp_path / "fixture_drug_blind_k3_s2.parquet"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["format"] == FOLD_FORMAT == 3
    assert meta["grouping"] == "structure_key"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.with_suffix(".json").name, path.name]
    cached = pd.read_parquet(path)
    assert list(cached.columns) == ["cell_id", "drug_id", "fold_0", "fold_1", "fold_2"]
    # Reading back maps by (cell_id, drug_id), so a shuffled pairs table gets the same pairs.
    ds.pairs = ds.pairs.sample(frac=1, random_state=0).reset_index(drop=True)
    again = load_or_make_folds(ds, "drug_blind", k=3, fold_seed=2, cache_dir=tmp_path)
    for f in again:
        test = ds.pairs.iloc[f.test][["cell_id", "drug_id"]]
        expected = cached.loc[cached[f"fold_{f.index}"] == "test", ["cell_id", "drug_id"]]
        assert set(map(tuple, test.to_numpy())) == set(map(tuple, expected.to_numpy()))
    assert len(folds) == len(again) == 3


def test_fold_cache_rejects_other_pairs(ds, tmp_path):
    load_or_make_folds(ds, "mixed", k=3, fold_seed=0, cache_dir=tmp_path)
    ds.pairs = ds.pairs.iloc[1:].reset_index(drop=True)
    with pytest.raises(FoldCacheError, match="delete"):
        load_or_make_folds(ds, "mixed", k=3, fold_seed=0, cache_dir=tmp_path)


def _old_id_keyed_cache(ds, cache_dir: Path) -> Path:
    """Write drug-blind folds as drp wrote them before fold format 2: grouped by drug id, with
    aspirin in train and its salt in test, and a sidecar without ``format``."""
    from drp.splits.cache import folds_to_frame

    drug = ds.pairs["drug_id"].to_numpy()
    test = np.flatnonzero(np.isin(drug, ["aspirin_sodium", "imatinib"]))
    val = np.flatnonzero(drug == "cisplatin")
    train = np.setdiff1d(np.arange(len(drug)), np.concatenate([test, val]))
    folds = [Fold(i, train, val, test, "drug_blind", 0) for i in range(3)]
    path = cache_dir / "fixture_drug_blind_k3_s0.parquet"
    folds_to_frame(ds.pairs, folds).to_parquet(path, index=False)
    path.with_suffix(".json").write_text(json.dumps({"split": "drug_blind", "val_fraction": 0.1}))
    return path


def test_fold_cache_refuses_old_id_keyed_folds(ds, tmp_path):
    path = _old_id_keyed_cache(ds, tmp_path)
    with pytest.raises(FoldCacheError, match="format 1 grouped drug-blind folds by drug id"):
        load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path)
    # Even with a forged current sidecar the leakage check on load catches the shared structure.
    meta = {"format": FOLD_FORMAT, "grouping": "structure_key", "val_fraction": 0.1}
    meta["sha256"] = __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    path.with_suffix(".json").write_text(json.dumps(meta))
    with pytest.raises(LeakageError, match="structure_key"):
        load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path)
    path.with_suffix(".json").unlink()
    with pytest.raises(FoldCacheError, match="no sidecar"):
        load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path)


def test_fold_cache_checks_checksum_and_clustering(ds, tmp_path):
    load_or_make_folds(ds, "cluster_blind", k=3, fold_seed=0, cache_dir=tmp_path)
    path = tmp_path / "fixture_cluster_blind_k3_s0.parquet"
    assert json.loads(path.with_suffix(".json").read_text())["clustering"]["method"] == "hand-made"
    ds.manifest["clustering"] = {"method": "butina", "threshold": 0.6}
    with pytest.raises(FoldCacheError, match="clustering"):
        load_or_make_folds(ds, "cluster_blind", k=3, fold_seed=0, cache_dir=tmp_path)
    ds.manifest["clustering"] = {"method": "hand-made", "threshold": None}
    frame = pd.read_parquet(path)
    frame.iloc[::-1].to_parquet(path, index=False)  # same folds, other bytes
    with pytest.raises(FoldCacheError, match="checksum"):
        load_or_make_folds(ds, "cluster_blind", k=3, fold_seed=0, cache_dir=tmp_path)


# ---- cross-dataset ----------------------------------------------------------------------------
@pytest.fixture
def cross_pair(tmp_path):
    """Training = the fixture without CELL-00, (CELL-01, cisplatin) and (CELL-02,
    aspirin_sodium); target = the fixture with aspirin renamed ASA and caffeine added."""
    train_tables = write_fixture_tables(tmp_path / "train")
    train = with_structures(make_dataset(train_tables))
    p = train.pairs
    c0, c1, c2 = sorted(p["cell_id"].unique())[:3]  # CELL-00.. as the dataset spells them
    drop = (
        (p["cell_id"] == c0)
        | ((p["cell_id"] == c1) & (p["drug_id"] == "cisplatin"))
        | ((p["cell_id"] == c2) & (p["drug_id"] == "aspirin_sodium"))
    )
    train.pairs = p[~drop].reset_index(drop=True)

    tables = write_fixture_tables(tmp_path / "target")
    drugs = pd.read_csv(tables["drugs"]).replace({"drug_id": {"aspirin": "ASA"}})
    caffeine = {"drug_id": "caffeine", "smiles": "Cn1c(=O)c2c(ncn2C)n(C)c1=O"}
    pd.concat([drugs, pd.DataFrame([caffeine])]).to_csv(tables["drugs"], index=False)
    responses = pd.read_csv(tables["responses"]).replace({"drug_id": {"aspirin": "ASA"}})
    cells = responses["cell_id"].unique()
    new = pd.DataFrame({"cell_id": cells, "drug_id": "caffeine", "ln_ic50": np.arange(12.0)})
    pd.concat([responses, new]).to_csv(tables["responses"], index=False)
    target = make_dataset(tables)
    target.name = "target"
    target.drugs = target.drugs.assign(
        structure_key=target.drugs["drug_id"].replace({"ASA": "aspirin"}).map(STRUCTURES)
    )
    return train, target


def test_cross_dataset_labels_every_target_pair(cross_pair):
    train, target = cross_pair
    c0, c1, c2 = sorted(target.pairs["cell_id"].unique())[:3]
    cross = cross_dataset_split(train, target, fold_seed=0)
    test = cross.test_pairs
    assert len(test) == len(target.pairs) == 12 * 8  # nothing dropped, nothing for being seen
    assert cross.dropped == {
        "cell without omics in the target dataset": 0,
        "drug without a graph in the target dataset": 0,
    }
    assert cross.counts() == {"seen_pair": 76, "new_pair": 1, "new_cell": 7, "new_drug": 12}
    assert list(cross.counts()) == list(CROSS_SUBSETS)
    assert cross.drug_map["ASA"] == "aspirin" and "caffeine" not in cross.drug_map
    # Pairs are in the training id space; the target's id is kept.
    asa = test[test["drug_id_other"] == "ASA"]
    assert len(asa) == 12 and set(asa["drug_id"]) == {"aspirin"}
    assert set(test.loc[test["subset"] == "new_drug", "drug_id"]) == {"caffeine"}
    assert set(test.loc[test["subset"] == "new_cell", "cell_id"]) == {c0}
    new_pair = test[test["subset"] == "new_pair"]
    assert list(zip(new_pair.cell_id, new_pair.drug_id, strict=True)) == [(c1, "cisplatin")]
    # (CELL-02, aspirin_sodium) was not measured under that id, but its structure was.
    row = test[(test.cell_id == c2) & (test.drug_id == "aspirin_sodium")]
    assert row["subset"].tolist() == ["seen_pair"] and row["seen"].all()
    assert (test["seen"] == (test["subset"] == "seen_pair")).all()
    # The renamed target predicts every test pair from its own features.
    cell_idx, drug_idx = cross.test_ds.pair_indices(test)
    assert len(cell_idx) == len(drug_idx) == len(test)
    aspirin = cross.test_ds.drug_index["aspirin"]
    np.testing.assert_array_equal(
        cross.test_ds.fingerprints[aspirin], target.fingerprints[target.drug_index["ASA"]]
    )
    assert len(cross.test_ds.graphs) == len(cross.test_ds.drugs) == len(target.drugs)
    assert len(cross.fold.train) + len(cross.fold.val) == len(train.pairs)


def test_cross_dataset_relabels_subsets_by_what_a_model_trained_on(cross_pair):
    train, target = cross_pair
    cross = cross_dataset_split(train, target, fold_seed=0)
    p = train.pairs
    c3 = sorted(p["cell_id"].unique())[2]  # CELL-03 (CELL-00 is not in training)
    # a model trained without cisplatin (held out, say drug-blind) and without CELL-03
    trained = p[(p["drug_id"] != "cisplatin") & (p["cell_id"] != c3)]
    relabelled = cross.relabel(train, trained)
    test = relabelled.set_index(["cell_id", "drug_id"])
    assert (test.xs("cisplatin", level="drug_id")["subset"] == "new_drug").all()
    assert set(test.xs(c3, level="cell_id")["subset"]) == {"new_cell", "new_drug"}
    counts = cross.counts(relabelled)
    assert counts["new_drug"] == 12 + 12  # caffeine and cisplatin, every target cell
    assert counts["new_cell"] == 6 + 6  # CELL-00 and CELL-03, each with its 6 known drugs
    assert sum(counts.values()) == len(cross.test_pairs)
    assert (relabelled["seen"] == (relabelled["subset"] == "seen_pair")).all()
    # with every training pair, the labels are the split's own; the split is unchanged
    pd.testing.assert_frame_equal(cross.relabel(train, train.pairs), cross.test_pairs)
    assert cross.counts() == {"seen_pair": 76, "new_pair": 1, "new_cell": 7, "new_drug": 12}


def test_cross_dataset_needs_structure_keys(cross_pair):
    train, target = cross_pair
    target.drugs = target.drugs.drop(columns="structure_key")
    with pytest.raises(ValueError, match="re-run `drp featurize`"):
        cross_dataset_split(train, target)


def test_match_drugs_by_id_then_structure():
    train = pd.DataFrame(
        {"drug_id": ["PLX-4720", "A", "B", "B2"], "structure_key": ["K1", "K2", "K3", "K3"]}
    )
    other = pd.DataFrame(
        {
            "drug_id": ["PLX4720", "A", "Z", "B", "B3"],
            "structure_key": ["K1", "xx", "K9", None, "K3"],
        }
    )
    # Same id wins even where the keys differ; a structure listed twice maps to its first id.
    assert match_drugs(train, other) == {"PLX4720": "PLX-4720", "A": "A", "B": "B", "B3": "B"}


def test_format_2_caches_serve_splits_that_do_not_group_drugs(ds, tmp_path):
    """Format 3 changed drug grouping only: a format-2 mixed cache is still served, a format-2
    drug-blind cache is refused."""
    for split in ("mixed", "drug_blind"):
        load_or_make_folds(ds, split, k=3, fold_seed=0, cache_dir=tmp_path)
        meta_path = tmp_path / f"fixture_{split}_k3_s0.json"
        meta = json.loads(meta_path.read_text()) | {"format": 2}
        meta_path.write_text(json.dumps(meta))
    assert len(load_or_make_folds(ds, "mixed", k=3, fold_seed=0, cache_dir=tmp_path)) == 3
    with pytest.raises(FoldCacheError, match="format"):
        load_or_make_folds(ds, "drug_blind", k=3, fold_seed=0, cache_dir=tmp_path)


def test_external_new_drugs_are_the_targets_new_structures_on_training_cells(cross_pair):
    """The external test keeps the target's new drugs on cells the training screen measured,
    and moves them by the mean gap over the (cell, structure) pairs both screens measured."""
    from drp.splits.external import external_new_drugs

    train, target = cross_pair
    c0 = sorted(target.pairs["cell_id"].unique())[0]  # measured by the target only
    target.pairs = target.pairs.assign(ln_ic50=target.pairs["ln_ic50"] - 0.85)  # assay offset
    external = external_new_drugs(train, target, val_seed=0)
    test = external.test_pairs
    assert set(test["drug_id"]) == {"caffeine"}  # the one structure training lacks
    assert c0 not in set(test["cell_id"]) and external.dropped_new_cells == 1
    assert len(test) == 11
    # the shared pairs were shifted by -0.85; the fixture's two ids of aspirin's structure
    # (aspirin, aspirin_sodium) are averaged on the training side, so the mean moves off 0.85
    # a little and the median (most pairs are one id) does not
    structure = {"aspirin_sodium": "aspirin"}
    train_mean = (
        train.pairs.assign(d=train.pairs["drug_id"].replace(structure))
        .groupby(["cell_id", "d"])["ln_ic50"]
        .mean()
    )
    shared = external.cross.test_pairs.query("subset == 'seen_pair'")
    gaps = [
        train_mean[(c, structure.get(d, d))] - y
        for c, d, y in zip(shared.cell_id, shared.drug_id, shared.ln_ic50, strict=True)
    ]
    assert external.offset == pytest.approx(np.mean(gaps)) and external.offset_pairs == 76
    assert external.offset_median == pytest.approx(0.85)
    np.testing.assert_allclose(test["ln_ic50"], test["ln_ic50_raw"] + external.offset)
    # every training pair is in the fold (train or validation), none in its test part
    fold = external.cross.fold
    assert len(fold.train) + len(fold.val) == len(train.pairs) and len(fold.test) == 0
    assert external.summary()["test_drugs"] == 1


def test_external_test_refuses_screens_without_a_shared_pair(cross_pair):
    from drp.splits.external import external_new_drugs

    train, target = cross_pair
    target.pairs = target.pairs[target.pairs["drug_id"] == "caffeine"].reset_index(drop=True)
    with pytest.raises(ValueError, match="share no"):
        external_new_drugs(train, target)

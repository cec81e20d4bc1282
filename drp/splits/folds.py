"""Leak-free folds: mixed, cell-, drug-, cluster-, tissue-blind and cross-dataset.

A :class:`Fold` holds integer row indices into the pairs table it was built from. Every blind
split holds out whole entities for the test part **and** for the inner validation part, which is
drawn from the training part only and is the one set a model may use for early stopping or model
selection. What a split holds out is what a model could otherwise recognise:

* ``cell_blind``: cell lines (``cell_id``);
* ``drug_blind``: drug **identities** (:func:`drp.featurize.similarity.drug_identity` of
  ``drugs.structure_key``: the InChIKey connectivity block), so two ids of one molecule (GDSC2's
  ``Afuresertib`` and ``GSK2110183B``), or stereo and charge variants of one skeleton
  (doxorubicin and epirubicin), never straddle train and test;
* ``cluster_blind``: clusters of similar structures (``drugs.structure_cluster``), so close
  analogues never straddle train and test either;
* ``tissue_blind``: tissues of origin.

Leakage is checked when a fold is built and again when it is read from the cache
(:func:`check_fold`), on those same keys, so a fold that exists is a fold that is disjoint.

Folds are cached as parquet keyed by ``cell_id, drug_id`` with a JSON sidecar recording the fold
format and grouping (:func:`load_or_make_folds`) so every model of a study sees identical folds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from drp.core.choices import SPLITS
from drp.core.files import temp_write
from drp.featurize.similarity import drug_identity

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset

CROSS = "cross_dataset"
"""Train on one dataset, test on another (``drp evaluate --split cross_dataset --target``)."""

BLIND_KEY = {
    "cell_blind": "cell_id",
    "drug_blind": "structure_key",
    "cluster_blind": "structure_cluster",
    "tissue_blind": "tissue",
}
"""The entity a blind split holds out (a pair's key, see :meth:`Entities.pair_keys`)."""

LEAKAGE_KEYS = {
    "cell_blind": ("cell_id",),
    "drug_blind": ("structure_key",),
    "cluster_blind": ("structure_cluster", "structure_key"),
    "tissue_blind": ("tissue",),
}
"""Keys that :func:`check_fold` asserts disjoint between train, val and test, per split."""

BOOTSTRAP_UNIT = {
    "cell_blind": "cell",
    "drug_blind": "drug structure",
    "cluster_blind": "drug cluster",
    "tissue_blind": "tissue",
}
"""Name of the resampling unit of each blind split's bootstrap (:func:`bootstrap_groups`)."""

FOLD_FORMAT = 3
"""Version of the cached folds. 1 (no ``format`` in the sidecar): drug-blind folds grouped by
``drug_id``, which let two ids of one structure straddle train and test. 2: grouped by
``structure_key``; ``cluster_blind`` added. 3: grouped by drug identity (the InChIKey
connectivity block), so stereo and charge variants of one skeleton are held out together (on
GDSC1, GDSC2 and CCLE no two structures share a skeleton: their folds are those of format 2)."""

ROLES = ("train", "val", "test", "excluded")
CROSS_SUBSETS = ("seen_pair", "new_pair", "new_cell", "new_drug")
"""Subsets of a cross-dataset test (see :func:`cross_dataset_split`)."""

_REFEATURIZE = "re-run `drp featurize` to add it"


class LeakageError(AssertionError):
    """A fold shares pairs or held-out entities between its train, val and test parts."""


class FoldCacheError(ValueError):
    """A cached fold file does not match the dataset (or the fold format) it is loaded for."""


@dataclass
class Fold:
    """One outer fold.

    Attributes:
        index: fold number in ``0..k-1``.
        train, val, test: [n_*] int64 row indices into the pairs table the folds were built
            from; pairwise disjoint.
        split: split name (one of :data:`SPLITS` or ``"cross_dataset"``).
        seed: seed the folds were drawn with.
        excluded: [n_excluded] row indices in no part (tissue-blind: cells without tissue).
    """

    index: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    split: str
    seed: int
    excluded: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def n_excluded(self) -> int:
        return len(self.excluded)

    def frames(self, pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """``(train, val, test)`` rows of ``pairs`` (the table the fold was built from)."""
        return (
            pairs.iloc[self.train].reset_index(drop=True),
            pairs.iloc[self.val].reset_index(drop=True),
            pairs.iloc[self.test].reset_index(drop=True),
        )


# ---- what a split holds out -------------------------------------------------------------------
@dataclass(frozen=True)
class Entities:
    """Lookups from a pair's ids to the entities blind splits hold out.

    Attributes:
        tissue: ``cell_id -> tissue`` (NaN where unknown; those pairs are excluded from
            tissue-blind folds).
        structure: ``drug_id -> drug identity`` (:func:`~drp.featurize.similarity.drug_identity`
            of the ``structure_key``, the InChIKey connectivity block).
        cluster: ``drug_id -> structure_cluster`` (fingerprint-similarity cluster id).
        source: dataset name used in error messages.
    """

    tissue: pd.Series | None = None
    structure: pd.Series | None = None
    cluster: pd.Series | None = None
    source: str = "dataset"

    @classmethod
    def of(cls, ds: FeaturizedDataset) -> Entities:
        """The lookups of a featurized dataset (``None`` for a column it lacks)."""
        drugs = ds.drugs.set_index("drug_id")
        keys = drugs.get("structure_key")
        return cls(
            tissue=ds.tissues,
            structure=None if keys is None else drug_identity(keys),
            cluster=drugs.get("structure_cluster"),
            source=ds.name,
        )

    def pair_keys(self, pairs: pd.DataFrame, key: str) -> pd.Series:
        """[n_pairs] value of ``key`` for each pair (NaN: no tissue, so excluded).

        ``key`` is ``cell_id``, ``drug_id``, ``tissue``, ``structure_key`` or
        ``structure_cluster``.

        Raises:
            ValueError: the lookup ``key`` needs is missing (a dataset featurized before
                structure keys existed), or some pair's drug is not in it.
        """
        if key in ("cell_id", "drug_id"):
            return pairs[key]
        if key == "tissue":
            if self.tissue is None:
                raise ValueError("tissue_blind needs tissues (cell_id -> tissue)")
            return pairs["cell_id"].map(self.tissue)
        lookup = {"structure_key": self.structure, "structure_cluster": self.cluster}.get(key)
        if key not in ("structure_key", "structure_cluster"):
            raise ValueError(f"unknown entity key {key!r}")
        if lookup is None:
            raise ValueError(
                f"{self.source}: drugs.parquet has no {key} column (featurized by an older "
                f"drp); {_REFEATURIZE}"
            )
        out = pairs["drug_id"].map(lookup)
        if out.isna().any():
            missing = sorted(set(pairs.loc[out.isna().to_numpy(), "drug_id"]))
            raise ValueError(
                f"{self.source}: no {key} for drug id(s) {missing[:10]}; {_REFEATURIZE}"
            )
        return out


def split_key(split: str) -> str:
    """The grouping a split uses, as recorded in the fold cache (``pair`` for mixed)."""
    return BLIND_KEY.get(split, "pair")


# ---- building folds ---------------------------------------------------------------------------
def make_folds(
    pairs: pd.DataFrame,
    split: str,
    k: int = 5,
    seed: int = 0,
    entities: Entities | None = None,
    val_fraction: float = 0.1,
) -> list[Fold]:
    """Build ``k`` outer folds with an inner validation part each.

    Args:
        pairs: [n_pairs] table with ``cell_id, drug_id`` (row order defines the indices).
        split: one of :data:`SPLITS`.
        k: number of outer folds; each row (or entity) is in exactly one test part.
        seed: the folds are a deterministic function of ``(pairs, entities, split, k, seed)``.
        entities: lookups for the held-out entity (:meth:`Entities.of`); required for
            ``drug_blind`` (structures), ``cluster_blind`` (clusters) and ``tissue_blind``.
            Tissue-blind pairs whose cell has no tissue are excluded from every part and listed
            in ``Fold.excluded``.
        val_fraction: share of the training part (in pairs) moved to validation, following the
            same blindness as the split (cell-blind validation cells are unseen in training).

    Raises:
        ValueError: unknown split, a lookup the split needs is missing, or too few entities for
            ``k`` folds plus a validation part.
        LeakageError: a built fold is not disjoint (a bug, never expected).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    entities = entities or Entities()
    rng = np.random.default_rng(seed)
    if split == "mixed":
        keys = pd.Series(np.arange(len(pairs)), index=pairs.index)
    else:
        keys = entities.pair_keys(pairs, BLIND_KEY[split])
    usable = np.flatnonzero(keys.notna().to_numpy())
    excluded = np.flatnonzero(keys.isna().to_numpy())

    folds = []
    if split == "mixed":
        order = rng.permutation(usable)
        for i, test in enumerate(np.array_split(order, k)):
            rest = np.setdiff1d(order, test)
            n_val = max(1, round(val_fraction * len(rest)))
            val = rng.choice(rest, size=n_val, replace=False)
            folds.append((i, np.setdiff1d(rest, val), val, test))
    else:
        codes, groups_ = pd.factorize(keys.iloc[usable], sort=True)
        sizes = np.bincount(codes, minlength=len(groups_))
        if len(groups_) < max(k, 3):
            raise ValueError(
                f"{split} with k={k} needs at least {max(k, 3)} {BLIND_KEY[split]} values "
                f"(k test groups, and train and validation in each fold); found {len(groups_)}"
            )
        groups = _balanced_groups(sizes, k, rng)
        for i in range(k):
            test_ent = np.flatnonzero(groups == i)
            train_ent = rng.permutation(np.flatnonzero(groups != i))
            if len(train_ent) < 2:
                raise ValueError(
                    f"{split} fold {i} leaves {len(train_ent)} {BLIND_KEY[split]} value(s) for "
                    "training and validation; use a smaller k"
                )
            # Move whole entities to validation until it holds val_fraction of the pairs,
            # keeping at least one entity on each side.
            cum = np.cumsum(sizes[train_ent])
            n_val = int(np.searchsorted(cum, val_fraction * cum[-1]) + 1)
            n_val = min(max(n_val, 1), len(train_ent) - 1)
            role = np.zeros(len(groups_), np.int8)  # 0 train, 1 val, 2 test
            role[train_ent[:n_val]] = 1
            role[test_ent] = 2
            pair_role = role[codes]
            folds.append(
                (i, usable[pair_role == 0], usable[pair_role == 1], usable[pair_role == 2])
            )
    out = [
        Fold(
            index=i,
            train=np.sort(tr).astype(np.int64),
            val=np.sort(va).astype(np.int64),
            test=np.sort(te).astype(np.int64),
            split=split,
            seed=seed,
            excluded=excluded.astype(np.int64),
        )
        for i, tr, va, te in folds
    ]
    for fold in out:
        check_fold(pairs, fold, entities)
    return out


def _balanced_groups(sizes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Assign entities (in random order) to the group with the fewest pairs so far.

    Returns [n_entities] group ids in ``0..k-1``; every group gets at least one entity.
    The random order keeps folds seed-dependent; the greedy choice keeps them balanced even
    when entity sizes differ a lot (tissues, clusters).
    """
    order = rng.permutation(len(sizes))
    groups = np.empty(len(sizes), np.int64)
    load = np.zeros(k)
    count = np.zeros(k, np.int64)
    for j, e in enumerate(order):
        remaining = len(order) - j
        empty = np.flatnonzero(count == 0)
        # Once the remaining entities are just enough to fill the empty groups, fill them.
        g = empty[0] if len(empty) >= remaining else int(np.argmin(load))
        groups[e] = g
        load[g] += sizes[e]
        count[g] += 1
    return groups


def check_fold(pairs: pd.DataFrame, fold: Fold, entities: Entities | None = None) -> None:
    """Assert that ``fold`` is leak-free.

    Train, val, test and excluded indices are pairwise disjoint for every split; for blind
    splits, every key of :data:`LEAKAGE_KEYS` (drug-blind: the structure, not the id;
    cluster-blind: the cluster and the structure) of test and of val is absent from train, and
    val and test share none.

    Raises:
        LeakageError: naming the split, fold, key and offending parts.
        ValueError: a lookup the split needs is missing from ``entities``.
    """
    parts = {"train": fold.train, "val": fold.val, "test": fold.test, "excluded": fold.excluded}
    names = list(parts)
    for a_i, a in enumerate(names):
        for b in names[a_i + 1 :]:
            shared = np.intersect1d(parts[a], parts[b])
            if len(shared):
                raise LeakageError(
                    f"{fold.split} fold {fold.index}: {len(shared)} pair rows in both {a} and {b}"
                )
    entities = entities or Entities()
    for key in LEAKAGE_KEYS.get(fold.split, ()):
        values = entities.pair_keys(pairs, key).to_numpy()
        ents = {p: set(values[parts[p]]) for p in ("train", "val", "test")}
        for a, b in (("test", "train"), ("val", "train"), ("val", "test")):
            shared = ents[a] & ents[b]
            if shared:
                raise LeakageError(
                    f"{fold.split} fold {fold.index}: {key} values in both {a} and {b}: "
                    f"{sorted(map(str, shared))[:5]}"
                )


def bootstrap_unit(split: str) -> str:
    """Name of the unit a bootstrap CI resamples on ``split`` (see :func:`bootstrap_groups`):
    ``cell``, ``drug structure``, ``drug cluster``, ``tissue``, or ``pair`` for mixed and
    cross-dataset tests.

    Raises:
        ValueError: unknown split.
    """
    if split == "mixed" or split.startswith("cross_dataset"):
        return "pair"
    if split not in BOOTSTRAP_UNIT:
        raise ValueError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    return BOOTSTRAP_UNIT[split]


def bootstrap_groups(
    ds: FeaturizedDataset, split: str, pairs: pd.DataFrame
) -> tuple[np.ndarray | None, str]:
    """The unit a bootstrap CI should resample for pairs tested on ``split``.

    Blind splits hold out whole entities, so their test pairs cluster by them and only a
    bootstrap over those entities is honest: cells (cell-blind), drug structures (drug-blind),
    drug clusters (cluster-blind), tissues (tissue-blind). Mixed and cross-dataset tests keep a
    **pair** bootstrap (pairs resampled as if independent), returned as ``(None, "pair")``.

    Args:
        ds: the dataset whose folds ``pairs`` come from (for the structure/cluster lookups).
        split: a name from :data:`SPLITS` or one starting with ``cross_dataset``.
        pairs: [n] test pairs (``cell_id, drug_id``).

    Returns:
        ``(groups, unit)``: [n] group label of each pair (or ``None``) and the unit's name
        (``cell``, ``drug structure``, ``drug cluster``, ``tissue`` or ``pair``).
    """
    unit = bootstrap_unit(split)
    if unit == "pair":
        return None, unit
    keys = Entities.of(ds).pair_keys(pairs, BLIND_KEY[split])
    return keys.to_numpy(), unit


# ---- cross-dataset ----------------------------------------------------------------------------
@dataclass
class CrossDatasetSplit:
    """Train on one dataset, test on another dataset's pairs.

    Attributes:
        fold: ``train``/``val`` are row indices into the training dataset's pairs (a random
            ``val_fraction`` of pairs held out for early stopping); ``test`` is empty because the
            test pairs live in another table.
        test_pairs: [n_test] ``cell_id, drug_id, drug_id_other, ln_ic50, censored, subset, seen``:
            the target's pairs with drug ids in the **training** id space (matched drugs renamed
            to the training id, ``drug_id_other`` the target's id; unmatched drugs keep theirs)
            and ``subset`` one of :data:`CROSS_SUBSETS`; ``seen`` is ``subset == "seen_pair"``.
        test_ds: the target dataset with its drugs renamed the same way: models predict
            ``test_pairs`` with ``predict(test_ds, test_pairs)`` (the target's own omics and
            graphs, so new cells and new drugs are predictable).
        source, target: dataset names.
        drug_map: target drug id -> training drug id, for every matched drug.
        dropped: target pairs dropped, by reason (normally none: a featurized target has
            features for all of its pairs).
    """

    fold: Fold
    test_pairs: pd.DataFrame
    test_ds: FeaturizedDataset
    source: str
    target: str
    drug_map: dict[str, str]
    dropped: dict[str, int]

    def counts(self, test_pairs: pd.DataFrame | None = None) -> dict[str, int]:
        """Test pairs per subset (all of :data:`CROSS_SUBSETS`, zeros included) of
        ``test_pairs`` (default :attr:`test_pairs`; e.g. those of :meth:`relabel`)."""
        pairs = self.test_pairs if test_pairs is None else test_pairs
        sizes = pairs["subset"].value_counts()
        return {s: int(sizes.get(s, 0)) for s in CROSS_SUBSETS}

    def relabel(self, train: FeaturizedDataset, trained: pd.DataFrame) -> pd.DataFrame:
        """:attr:`test_pairs` with ``subset`` and ``seen`` relative to the pairs a model was
        actually trained on (``trained``, e.g. the train + val part of one fold of ``train``),
        not to all of ``train``'s pairs: a drug-blind model's held-out drugs are new drugs to
        it, a cell-blind model's held-out cells new cells.
        """
        out = self.test_pairs.copy()
        out["subset"], out["seen"] = cross_subsets(train, trained, out)
        return out


def cross_subsets(
    train: FeaturizedDataset, trained: pd.DataFrame, test_pairs: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Subset of each test pair relative to the pairs a model was trained on.

    Args:
        train: the training dataset (the :func:`drug_identity` of its ``drugs.structure_key``
            tells which test drugs are new).
        trained: [m] pairs (``cell_id, drug_id``) of ``train`` the model was fitted on.
        test_pairs: [n] pairs in ``train``'s drug-id space (target drugs matched to a training
            drug renamed to its id; unmatched ones keep an id ``train`` does not have).

    Returns:
        ``(subset, seen)``: [n] labels from :data:`CROSS_SUBSETS` (``new_drug`` when the
        structure is absent from ``trained``, else ``new_cell`` when the cell is, else
        ``seen_pair`` when ``trained`` measured this cell with this structure, else
        ``new_pair``) and [n] bool ``subset == "seen_pair"``.
    """
    structure = drug_identity(train.drugs.set_index("drug_id")["structure_key"])
    trained_structure = trained["drug_id"].map(structure)
    measured = pd.MultiIndex.from_arrays([trained["cell_id"], trained_structure])
    # A matched drug is the training id's structure (an id match counts as the same drug).
    key = test_pairs["drug_id"].map(structure)
    known_drug = (key.notna() & key.isin(set(trained_structure.dropna()))).to_numpy()
    seen = known_drug & pd.MultiIndex.from_arrays([test_pairs["cell_id"], key]).isin(measured)
    known_cell = test_pairs["cell_id"].isin(set(trained["cell_id"])).to_numpy()
    subset = np.select(
        [~known_drug, ~known_cell, seen], ["new_drug", "new_cell", "seen_pair"], "new_pair"
    )
    return subset, seen


def match_drugs(train_drugs: pd.DataFrame, other_drugs: pd.DataFrame) -> dict[str, str]:
    """Map the other dataset's drug ids to training drug ids: same id first, else same
    ``structure_key`` (CCLE's ``PLX4720`` is GDSC2's ``PLX-4720``, ``AZD6244`` is
    ``Selumetinib``). A structure listed under several training ids maps to the first of them
    in table order.

    Args:
        train_drugs, other_drugs: tables with ``drug_id`` and ``structure_key``.

    Returns:
        ``{other drug_id: training drug_id}`` for every drug that matches.

    Raises:
        ValueError: a table lacks ``structure_key`` (featurized by an older drp).
    """
    for label, table in (("training", train_drugs), ("target", other_drugs)):
        if "structure_key" not in table:
            raise ValueError(f"{label} drugs have no structure_key column; {_REFEATURIZE}")
    train_ids = set(train_drugs["drug_id"])
    by_structure = (
        train_drugs.dropna(subset=["structure_key"])
        .drop_duplicates("structure_key")
        .set_index("structure_key")["drug_id"]
    )
    out = {}
    for d, key in zip(other_drugs["drug_id"], other_drugs["structure_key"], strict=True):
        if d in train_ids:
            out[d] = d
        elif key in by_structure.index:
            out[d] = by_structure[key]
    return out


def cross_dataset_split(
    train: FeaturizedDataset,
    target: FeaturizedDataset,
    seed: int = 0,
    val_fraction: float = 0.1,
) -> CrossDatasetSplit:
    """Train on all of ``train``'s pairs, test on all of ``target``'s pairs, by subset.

    Target drugs are matched to training drugs by :func:`match_drugs` (id, then structure).
    Every target pair is tested (nothing is dropped for having been seen) and labelled:

    * ``seen_pair``: the training dataset measured this cell with this structure: inter-lab
      transfer (CCLE) or a near-replicate from the same lab (GDSC1 -> GDSC2);
    * ``new_pair``: known cell and known drug, pair not measured in training;
    * ``new_cell``: cell absent from the training pairs, known drug;
    * ``new_drug``: drug structure absent from training (any cell), predicted from the target's
      own SMILES by graph or fingerprint models.

    CCLE caps IC50 at 8 µM; ``censored`` (IC50 at the cap) is kept so metrics can be reported
    on all pairs and on uncensored pairs (:func:`drp.evaluation.metrics.evaluate_predictions` does both).

    Raises:
        ValueError: either dataset lacks ``structure_key`` (re-run ``drp featurize``).
    """
    rng = np.random.default_rng(seed)
    n = len(train.pairs)
    val = np.sort(rng.choice(n, size=max(1, round(val_fraction * n)), replace=False))
    fold = Fold(
        0, np.setdiff1d(np.arange(n), val), val, np.empty(0, np.int64), "cross_dataset", seed
    )
    check_fold(train.pairs, fold)

    drug_map = match_drugs(train.drugs, target.drugs)
    Entities.of(train).pair_keys(train.pairs, "structure_key")  # every pair has a structure

    other = target.pairs.copy()
    has_cell = other["cell_id"].isin(set(target.cells["cell_id"]))
    has_drug = other["drug_id"].isin(set(target.drugs["drug_id"]))
    dropped = {
        "cell without omics in the target dataset": int((~has_cell).sum()),
        "drug without a graph in the target dataset": int((has_cell & ~has_drug).sum()),
    }
    other = other[has_cell & has_drug].reset_index(drop=True)
    other["drug_id_other"] = other["drug_id"]
    other["drug_id"] = other["drug_id"].map(lambda d: drug_map.get(d, d))
    other["subset"], other["seen"] = cross_subsets(train, train.pairs, other)
    if "censored" not in other:
        other["censored"] = False
    cols = ["cell_id", "drug_id", "drug_id_other", "ln_ic50", "censored", "subset", "seen"]
    return CrossDatasetSplit(
        fold=fold,
        test_pairs=other[cols],
        test_ds=rename_drugs(target, drug_map),
        source=train.name,
        target=target.name,
        drug_map=drug_map,
        dropped=dropped,
    )


def rename_drugs(ds: FeaturizedDataset, drug_map: dict[str, str]) -> FeaturizedDataset:
    """A copy of ``ds`` whose drug ids (drugs, pairs) are renamed by ``drug_map``.

    Two ids renamed to one keep the first drug's row (same structure, same features); graphs and
    fingerprints follow the kept rows, so ``drug_index`` stays aligned with them.
    """
    renamed = ds.drugs["drug_id"].map(lambda d: drug_map.get(d, d))
    keep = ~renamed.duplicated().to_numpy()
    drugs = ds.drugs.assign(drug_id=renamed)[keep].reset_index(drop=True)
    pairs = ds.pairs.assign(drug_id=ds.pairs["drug_id"].map(lambda d: drug_map.get(d, d)))
    return dataclasses.replace(
        ds,
        drugs=drugs,
        pairs=pairs,
        graphs=[g for g, k in zip(ds.graphs, keep, strict=True) if k],
        fingerprints=ds.fingerprints[keep],
    )


# ---- persistence ------------------------------------------------------------------------------
def fold_cache_path(cache_dir: Path, name: str, split: str, k: int, seed: int) -> Path:
    return Path(cache_dir) / f"{name}_{split}_k{k}_s{seed}.parquet"


def folds_to_frame(pairs: pd.DataFrame, folds: list[Fold]) -> pd.DataFrame:
    """Tidy role table: ``cell_id, drug_id, fold_0 .. fold_{k-1}`` with a role per fold."""
    out = pairs[["cell_id", "drug_id"]].reset_index(drop=True).copy()
    for fold in folds:
        role = np.full(len(pairs), "excluded", dtype=object)
        role[fold.train] = "train"
        role[fold.val] = "val"
        role[fold.test] = "test"
        out[f"fold_{fold.index}"] = pd.Categorical(role, categories=ROLES)
    return out


def folds_from_frame(
    pairs: pd.DataFrame, frame: pd.DataFrame, split: str, seed: int, source: str = "fold cache"
) -> list[Fold]:
    """Inverse of :func:`folds_to_frame`, re-indexed onto ``pairs`` by ``(cell_id, drug_id)``.

    Raises:
        FoldCacheError: the cached pairs are not exactly the pairs of ``pairs``.
    """
    keys = pd.MultiIndex.from_frame(pairs[["cell_id", "drug_id"]])
    cached = pd.MultiIndex.from_frame(frame[["cell_id", "drug_id"]])
    if len(cached) != len(keys) or not cached.isin(keys).all() or not keys.isin(cached).all():
        raise FoldCacheError(
            f"{source}: cached folds cover {len(cached):,} pairs that differ from the dataset's "
            f"{len(keys):,}; delete the file to rebuild the folds"
        )
    pos = cached.get_indexer(keys)  # dataset row i -> cache row pos[i]
    folds = []
    fold_cols = sorted((c for c in frame if c.startswith("fold_")), key=lambda c: int(c[5:]))
    for col in fold_cols:
        role = frame[col].astype(str).to_numpy()[pos]
        folds.append(
            Fold(
                index=int(col[5:]),
                train=np.flatnonzero(role == "train"),
                val=np.flatnonzero(role == "val"),
                test=np.flatnonzero(role == "test"),
                split=split,
                seed=seed,
                excluded=np.flatnonzero(role == "excluded"),
            )
        )
    return folds


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _cache_meta_expected(ds: FeaturizedDataset, split: str) -> dict:
    """Sidecar fields a cached fold file must match to be served for ``(ds, split)``."""
    expected = {"format": FOLD_FORMAT, "grouping": split_key(split)}
    if split == "cluster_blind":
        expected["clustering"] = ds.manifest.get("clustering")
    return expected


def load_or_make_folds(
    ds: FeaturizedDataset,
    split: str,
    k: int = 5,
    seed: int = 0,
    cache_dir: Path | None = None,
    val_fraction: float = 0.1,
) -> list[Fold]:
    """Folds of ``ds.pairs``, read from ``<cache_dir>/<name>_<split>_k<k>_s<seed>.parquet``.

    The first call builds and writes them with a JSON sidecar of the settings, the fold format
    (:data:`FOLD_FORMAT`), the grouping (``split_key``), for cluster-blind the clustering of
    ``ds.manifest`` and the parquet's checksum. Both files are written atomically (temporary
    file + ``os.replace``), the sidecar first, so a crash leaves either no parquet (rebuilt next
    time) or a matching pair. Later calls check the sidecar, read the folds back by
    ``(cell_id, drug_id)`` and re-run the leakage checks.

    Raises:
        FoldCacheError: the cache has no sidecar, another fold format or grouping (folds cached
            by an older drp grouped drug-blind folds by drug id), another clustering, a checksum
            that does not match, other pairs, or another ``val_fraction``. The message names
            the file to delete; runs trained on the old folds should be retrained.
        ValueError: the split needs a drug column the dataset lacks (re-run ``drp featurize``).
    """
    entities = Entities.of(ds)
    if cache_dir is None:
        return make_folds(ds.pairs, split, k, seed, entities, val_fraction)
    path = fold_cache_path(cache_dir, ds.name, split, k, seed)
    meta_path = path.with_suffix(".json")
    rebuild = "delete it (and retrain runs that used it) to rebuild the folds"
    if path.exists():
        if not meta_path.exists():
            raise FoldCacheError(f"{path}: no sidecar {meta_path.name} to verify it; {rebuild}")
        meta = json.loads(meta_path.read_text())
        got = {"format": meta.get("format", 1), "grouping": meta.get("grouping")}
        if got["format"] == 2 and split not in ("drug_blind", "cluster_blind"):
            got["format"] = FOLD_FORMAT  # format 3 changed only the drug-grouped splits
        if split == "cluster_blind":
            got["clustering"] = meta.get("clustering")
        expected = _cache_meta_expected(ds, split)
        if got != expected:
            raise FoldCacheError(
                f"{path}: cached folds have {got}, this drp builds {expected} (format 1 grouped "
                f"drug-blind folds by drug id, so one structure could straddle train and test); "
                f"{rebuild}"
            )
        if meta.get("val_fraction", val_fraction) != val_fraction:
            raise FoldCacheError(
                f"{path}: cached with val_fraction={meta['val_fraction']}, asked {val_fraction}; "
                f"{rebuild}"
            )
        if meta.get("sha256") != _sha256(path):
            raise FoldCacheError(f"{path}: checksum differs from its sidecar's; {rebuild}")
        folds = folds_from_frame(ds.pairs, pd.read_parquet(path), split, seed, str(path))
        if len(folds) != k:
            raise FoldCacheError(f"{path}: holds {len(folds)} folds, expected {k}")
        for fold in folds:
            check_fold(ds.pairs, fold, entities)
        return folds
    folds = make_folds(ds.pairs, split, k, seed, entities, val_fraction)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = folds_to_frame(ds.pairs, folds)
    tmp_parquet = temp_write(path, lambda p: frame.to_parquet(p, index=False))
    meta = _cache_meta_expected(ds, split) | {
        "dataset": ds.name,
        "split": split,
        "k": k,
        "seed": seed,
        "val_fraction": val_fraction,
        "n_pairs": len(ds.pairs),
        "n_excluded": folds[0].n_excluded,
        "sha256": _sha256(tmp_parquet),
        "sizes": [
            {"fold": f.index, "train": len(f.train), "val": len(f.val), "test": len(f.test)}
            for f in folds
        ],
    }
    try:
        tmp_meta = temp_write(meta_path, lambda p: p.write_text(json.dumps(meta, indent=2)))
        os.replace(tmp_meta, meta_path)
        os.replace(tmp_parquet, path)
    finally:
        tmp_parquet.unlink(missing_ok=True)
    return folds

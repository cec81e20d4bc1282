"""Leak-free folds: mixed, cell-, drug-, cluster- and tissue-blind.

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
(:func:`drp.splits.leakage.check_fold`), so a fold that exists is a fold that is disjoint.
Folds are cached by :func:`drp.splits.cache.load_or_make_folds`; cross-dataset splits are built
by :mod:`drp.splits.cross_dataset`, bootstrap units by :mod:`drp.splits.bootstrap`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from drp.core.choices import SPLITS
from drp.splits.entities import BLIND_KEY, Entities
from drp.splits.fold import Fold
from drp.splits.leakage import check_fold


def make_folds(
    pairs: pd.DataFrame,
    split: str,
    k: int = 5,
    fold_seed: int = 0,
    entities: Entities | None = None,
    val_fraction: float = 0.1,
) -> list[Fold]:
    """Build ``k`` outer folds with an inner validation part each.

    Args:
        pairs: [n_pairs] table with ``cell_id, drug_id`` (row order defines the indices).
        split: one of :data:`SPLITS`.
        k: number of outer folds; each row (or entity) is in exactly one test part.
        fold_seed: the folds are a deterministic function of
            ``(pairs, entities, split, k, fold_seed)``.
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
    rng = np.random.default_rng(fold_seed)
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
            fold_seed=fold_seed,
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

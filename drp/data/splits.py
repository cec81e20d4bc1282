"""Leak-free folds: mixed, cell-blind, drug-blind, tissue-blind and cross-dataset.

A :class:`Fold` holds integer row indices into the pairs table it was built from. Every blind
split holds out whole entities (cells, drugs or tissues) for the test part **and** for the inner
validation part, which is drawn from the training part only and is the one set a model may use
for early stopping or model selection. Leakage is checked when a fold is built
(:func:`check_fold`), so a fold that exists is a fold that is disjoint.

Folds are cached as parquet keyed by ``cell_id, drug_id`` (:func:`load_or_make_folds`) so every
model of a study sees identical folds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset

SPLITS = ("mixed", "cell_blind", "drug_blind", "tissue_blind")
"""Within-dataset splits accepted by :func:`make_folds`."""

BLIND_KEY = {"cell_blind": "cell_id", "drug_blind": "drug_id", "tissue_blind": "tissue"}
"""The entity a blind split holds out."""

ROLES = ("train", "val", "test", "excluded")


class LeakageError(AssertionError):
    """A fold shares pairs or held-out entities between its train, val and test parts."""


class FoldCacheError(ValueError):
    """A cached fold file does not match the dataset it is loaded for."""


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


# ---- building folds ---------------------------------------------------------------------------
def make_folds(
    pairs: pd.DataFrame,
    split: str,
    k: int = 5,
    seed: int = 0,
    tissues: pd.Series | None = None,
    val_fraction: float = 0.1,
) -> list[Fold]:
    """Build ``k`` outer folds with an inner validation part each.

    Args:
        pairs: [n_pairs] table with ``cell_id, drug_id`` (row order defines the indices).
        split: ``mixed`` (random pairs), ``cell_blind``, ``drug_blind`` or ``tissue_blind``.
        k: number of outer folds; each row (or entity) is in exactly one test part.
        seed: the folds are a deterministic function of ``(pairs, split, k, seed)``.
        tissues: ``cell_id -> tissue`` (required for ``tissue_blind``); pairs whose cell has no
            tissue are excluded from every part and listed in ``Fold.excluded``.
        val_fraction: share of the training part (in pairs) moved to validation, following the
            same blindness as the split (cell-blind validation cells are unseen in training).

    Raises:
        ValueError: unknown split, or too few entities for ``k`` folds plus a validation part.
        LeakageError: a built fold is not disjoint (a bug, never expected).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {list(SPLITS)}")
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    keys = _entity_keys(pairs, split, tissues)
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
        codes, entities = pd.factorize(keys.iloc[usable], sort=True)
        sizes = np.bincount(codes, minlength=len(entities))
        if len(entities) < max(k, 3):
            raise ValueError(
                f"{split} with k={k} needs at least {max(k, 3)} {BLIND_KEY[split]} values "
                f"(k test groups, and train and validation in each fold); found {len(entities)}"
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
            val_ent = train_ent[:n_val]
            role = np.zeros(len(entities), np.int8)  # 0 train, 1 val, 2 test
            role[val_ent] = 1
            role[test_ent] = 2
            pair_role = role[codes]
            folds.append(
                (
                    i,
                    usable[pair_role == 0],
                    np.sort(usable[pair_role == 1]),
                    usable[pair_role == 2],
                )
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
        check_fold(pairs, fold, tissues)
    return out


def _entity_keys(pairs: pd.DataFrame, split: str, tissues: pd.Series | None) -> pd.Series:
    """Per-pair key of the held-out entity ([n_pairs], NaN = excluded)."""
    if split == "mixed":
        return pd.Series(np.arange(len(pairs)), index=pairs.index)
    if split == "tissue_blind":
        if tissues is None:
            raise ValueError("tissue_blind needs tissues (cell_id -> tissue)")
        return pairs["cell_id"].map(tissues)
    return pairs[BLIND_KEY[split]]


def _balanced_groups(sizes: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Assign entities (in random order) to the group with the fewest pairs so far.

    Returns [n_entities] group ids in ``0..k-1``; every group gets at least one entity.
    The random order keeps folds seed-dependent; the greedy choice keeps them balanced even
    when entity sizes differ a lot (tissues).
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


def check_fold(pairs: pd.DataFrame, fold: Fold, tissues: pd.Series | None = None) -> None:
    """Assert that ``fold`` is leak-free.

    Train, val, test and excluded indices are pairwise disjoint for every split; for blind
    splits the held-out entities of test and of val are absent from train (and from each other).

    Raises:
        LeakageError: naming the split, fold and offending parts.
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
    if fold.split in BLIND_KEY:
        keys = _entity_keys(pairs, fold.split, tissues).to_numpy()
        ents = {p: set(keys[parts[p]]) for p in ("train", "val", "test")}
        for a, b in (("test", "train"), ("val", "train"), ("val", "test")):
            shared = ents[a] & ents[b]
            if shared:
                raise LeakageError(
                    f"{fold.split} fold {fold.index}: {BLIND_KEY[fold.split]} values in both "
                    f"{a} and {b}: {sorted(map(str, shared))[:5]}"
                )


# ---- cross-dataset ----------------------------------------------------------------------------
@dataclass
class CrossDatasetSplit:
    """Train on one dataset, test on another dataset's pairs.

    Attributes:
        fold: ``train``/``val`` are row indices into the training dataset's pairs (a random
            ``val_fraction`` of pairs held out for early stopping); ``test`` is empty because the
            test pairs live in another table.
        test_pairs: [n_test] ``cell_id, drug_id, ln_ic50, censored`` from the other dataset,
            restricted to cells and drugs of the training dataset (so omics and graphs exist) and
            to pairs the training dataset does not contain.
        source, target: dataset names.
        dropped: pairs of the other dataset dropped, by reason.
    """

    fold: Fold
    test_pairs: pd.DataFrame
    source: str
    target: str
    dropped: dict[str, int]


def match_drugs(train_drugs: pd.DataFrame, other_drugs: pd.DataFrame) -> dict[str, str]:
    """Map the other dataset's drug ids to training drug ids: same id, else same standardised
    SMILES (CCLE's ``PLX4720`` is GDSC2's ``PLX-4720``, ``AZD6244`` is ``Selumetinib``).

    Args:
        train_drugs, other_drugs: tables with ``drug_id`` and ``smiles_standardised``.

    Returns:
        ``{other drug_id: training drug_id}`` for every drug that matches.
    """
    out = {d: d for d in other_drugs["drug_id"] if d in set(train_drugs["drug_id"])}
    by_smiles = train_drugs.dropna(subset=["smiles_standardised"]).drop_duplicates(
        "smiles_standardised"
    )
    by_smiles = by_smiles.set_index("smiles_standardised")["drug_id"]
    for d, smi in zip(other_drugs["drug_id"], other_drugs["smiles_standardised"], strict=True):
        if d not in out and smi in by_smiles.index:
            out[d] = by_smiles[smi]
    return out


def cross_dataset_split(
    train_pairs: pd.DataFrame,
    other_pairs: pd.DataFrame,
    cells: pd.Series | list[str],
    drugs: pd.Series | list[str],
    source: str = "train",
    target: str = "other",
    seed: int = 0,
    val_fraction: float = 0.1,
    drug_map: dict[str, str] | None = None,
    exclude_seen: bool = True,
) -> CrossDatasetSplit:
    """Train on all of ``train_pairs``, test on unseen pairs of ``other_pairs``.

    GDSC2 -> GDSC1: the GDSC1 pairs whose (cell, drug) is not measured in GDSC2, restricted to
    cells and drugs that the GDSC2 featurization has (ids match across GDSC releases, so a drug
    screened in both is tested on new cell lines). GDSC2 -> CCLE: the same restriction; CCLE caps
    IC50 at 8 µM, and ``censored`` (IC50 at the cap) is kept so metrics can be reported on all
    pairs and on uncensored pairs (:func:`drp.metrics.evaluate_predictions` does both).

    Args:
        train_pairs: [n_train] pairs of the training dataset (indices of the returned fold).
        other_pairs: [n_other] pairs of the target dataset (``censored`` optional).
        cells, drugs: ids that have features in the training dataset.
        drug_map: other drug id -> training drug id (:func:`match_drugs`); applied first, so a
            renamed drug counts as the same drug (and its pairs as seen where GDSC2 has them).
            Unmapped ids are kept as they are. ``test_pairs`` carries the original id in
            ``drug_id_other``.
        exclude_seen: drop pairs the training dataset measured (default). For GDSC1 these are
            near-replicates from the same lab; for CCLE almost every testable pair was measured
            in GDSC2 too, so ``False`` tests inter-lab transfer on them instead (a model has seen
            GDSC2's measurement, never CCLE's). ``test_pairs.seen`` marks them either way.
    """
    rng = np.random.default_rng(seed)
    n = len(train_pairs)
    val = np.sort(rng.choice(n, size=max(1, round(val_fraction * n)), replace=False))
    train = np.setdiff1d(np.arange(n), val)
    fold = Fold(0, train, val, np.empty(0, np.int64), "cross_dataset", seed)
    check_fold(train_pairs, fold)

    other = other_pairs.copy()
    other["drug_id_other"] = other["drug_id"]
    if drug_map:
        other["drug_id"] = other["drug_id"].map(lambda d: drug_map.get(d, d))
    if "censored" not in other:
        other["censored"] = False
    known_cell = other["cell_id"].isin(set(cells))
    known_drug = other["drug_id"].isin(set(drugs))
    seen = pd.MultiIndex.from_frame(other[["cell_id", "drug_id"]]).isin(
        pd.MultiIndex.from_frame(train_pairs[["cell_id", "drug_id"]])
    )
    dropped = {
        "cell without features": int((~known_cell).sum()),
        "drug without features": int((known_cell & ~known_drug).sum()),
        "pair in training dataset": int((known_cell & known_drug & seen).sum())
        if exclude_seen
        else 0,
    }
    keep = known_cell & known_drug & (~seen if exclude_seen else True)
    other["seen"] = seen
    cols = ["cell_id", "drug_id", "ln_ic50", "censored", "seen", "drug_id_other"]
    test = other.loc[keep, cols].reset_index(drop=True)
    return CrossDatasetSplit(fold, test, source, target, dropped)


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


def load_or_make_folds(
    ds: FeaturizedDataset,
    split: str,
    k: int = 5,
    seed: int = 0,
    cache_dir: Path | None = None,
    val_fraction: float = 0.1,
) -> list[Fold]:
    """Folds of ``ds.pairs``, read from ``<cache_dir>/<name>_<split>_k<k>_s<seed>.parquet``.

    The first call builds and writes them (with a JSON sidecar of the settings); later calls
    read them back, check them against ``ds.pairs`` and re-run the leakage checks.

    Raises:
        FoldCacheError: the cache was written for other pairs or another ``val_fraction``.
    """
    tissues = ds.tissues if split == "tissue_blind" else None
    if cache_dir is None:
        return make_folds(ds.pairs, split, k, seed, tissues, val_fraction)
    path = fold_cache_path(cache_dir, ds.name, split, k, seed)
    meta_path = path.with_suffix(".json")
    if path.exists():
        meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        if meta.get("val_fraction", val_fraction) != val_fraction:
            raise FoldCacheError(
                f"{path}: cached with val_fraction={meta['val_fraction']}, asked {val_fraction}; "
                "delete the file to rebuild the folds"
            )
        folds = folds_from_frame(ds.pairs, pd.read_parquet(path), split, seed, str(path))
        if len(folds) != k:
            raise FoldCacheError(f"{path}: holds {len(folds)} folds, expected {k}")
        for fold in folds:
            check_fold(ds.pairs, fold, tissues)
        return folds
    folds = make_folds(ds.pairs, split, k, seed, tissues, val_fraction)
    path.parent.mkdir(parents=True, exist_ok=True)
    folds_to_frame(ds.pairs, folds).to_parquet(path, index=False)
    meta = {
        "dataset": ds.name,
        "split": split,
        "k": k,
        "seed": seed,
        "val_fraction": val_fraction,
        "n_pairs": len(ds.pairs),
        "n_excluded": folds[0].n_excluded,
        "sizes": [
            {"fold": f.index, "train": len(f.train), "val": len(f.val), "test": len(f.test)}
            for f in folds
        ],
    }
    meta_path.write_text(json.dumps(meta, indent=2))
    return folds
